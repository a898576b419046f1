//! The one API error type and the response envelope.
//!
//! Every response body is an envelope: `{"success": true, "data": …, "meta": …}` or
//! `{"success": false, "message": "…", "errors": [{"field", "message"}]}`. Each [`ApiError`] variant has
//! one status code. Internal errors are logged here, once, inside the request's span, and reach the
//! client only as an opaque message.

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use tlink_store::DbError;
use utoipa::ToSchema;

pub use crate::ops::FieldError;
use crate::ops::OpError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// 400 with the invalid fields named.
    #[error("{message}")]
    Validation { message: String, errors: Vec<FieldError> },
    /// 400 without a field (e.g. malformed JSON).
    #[error("{0}")]
    BadRequest(String),
    /// 401: missing or invalid credentials.
    #[error("{0}")]
    Unauthorized(String),
    /// 403: authenticated but not allowed.
    #[error("{0}")]
    Forbidden(String),
    /// 404: unknown, or another tenant's.
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    /// 409: duplicate or conflicting state.
    #[error("{0}")]
    Conflict(String),
    /// 408: the request body did not arrive within `http.body_timeout_secs`.
    #[error("{0}")]
    RequestTimeout(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    /// 429 with the seconds to wait.
    #[error("{message}")]
    TooManyRequests { message: String, retry_after_secs: u64 },
    #[error("{0}")]
    NotImplemented(String),
    #[error("{0}")]
    Unavailable(String),
    /// 500: details only in the log.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let e = FieldError::new(field, message);
        ApiError::Validation { message: format!("invalid `{}`: {}", e.field, e.message), errors: vec![e] }
    }

    pub fn fields(errors: Vec<FieldError>) -> Self {
        let message = match errors.as_slice() {
            [one] => format!("invalid `{}`: {}", one.field, one.message),
            _ => format!("invalid fields: {}", errors.iter().map(|e| e.field.as_str()).collect::<Vec<_>>().join(", ")),
        };
        ApiError::Validation { message, errors }
    }

    pub fn not_found(what: &str) -> Self {
        ApiError::NotFound(format!("{what} not found"))
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Validation { .. } | ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            ApiError::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            ApiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The one place an operation's refusal becomes a status.
impl From<OpError> for ApiError {
    fn from(e: OpError) -> Self {
        match e {
            OpError::Invalid(errors) => ApiError::fields(errors),
            OpError::Rejected(m) => ApiError::BadRequest(m),
            OpError::Forbidden(m) => ApiError::Forbidden(m),
            OpError::NotFound(what) => ApiError::not_found(what),
            OpError::Conflict(m) => ApiError::Conflict(m),
            e @ OpError::QuotaExhausted { resets_at, .. } => {
                let now = tlink_store::now_millis();
                let secs = u64::try_from((resets_at - now).max(1000) / 1000).unwrap_or(1);
                ApiError::TooManyRequests { message: e.to_string(), retry_after_secs: secs }
            }
            OpError::Internal(e) if e.downcast_ref::<DbError>().is_some_and(DbError::is_unavailable) => unavailable(&e),
            OpError::Internal(e) => ApiError::Internal(e),
        }
    }
}

impl From<DbError> for ApiError {
    fn from(e: DbError) -> Self {
        match e {
            DbError::Unique(_) => ApiError::Conflict("already exists".into()),
            e if e.is_unavailable() => unavailable(&e),
            other => ApiError::Internal(anyhow::Error::new(other).context("database")),
        }
    }
}

/// The database cannot be reached (down, restarting): a 503 the client may retry, logged here once.
fn unavailable(e: &dyn std::fmt::Display) -> ApiError {
    tracing::warn!(error = %format!("{e:#}"), "database unavailable");
    ApiError::Unavailable("the database is unavailable; try again shortly".into())
}

/// The error envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    /// Always `false`.
    pub success: bool,
    pub message: String,
    /// Present on validation failures: each invalid field and why.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let retry_after = match &self {
            ApiError::TooManyRequests { retry_after_secs, .. } => Some(*retry_after_secs),
            _ => None,
        };
        let (message, errors) = match self {
            ApiError::Internal(e) => {
                tracing::error!(error = %format!("{e:#}"), "internal error");
                ("internal server error".to_string(), Vec::new())
            }
            ApiError::Validation { message, errors } => (message, errors),
            ref other => (other.to_string(), Vec::new()),
        };
        let mut resp = (status, Json(ErrorBody { success: false, message, errors })).into_response();
        let headers = resp.headers_mut();
        if status == StatusCode::UNAUTHORIZED {
            headers.insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"tlink\""));
        }
        if let Some(secs) = retry_after {
            headers.insert(header::RETRY_AFTER, HeaderValue::from(secs.max(1)));
        }
        resp
    }
}

/// Threat Stack's error body: `{"errors": ["…"]}`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorsBody {
    pub errors: Vec<String>,
}

/// The error as the route's convention wants it: the envelope, or Threat Stack's `{"errors": […]}` on
/// `/v2` and `/help` routes. Status and headers (`WWW-Authenticate`, `Retry-After`) are the same.
pub fn respond(err: ApiError, threat_stack: bool) -> Response {
    if !threat_stack {
        return err.into_response();
    }
    let mut messages = match &err {
        ApiError::Validation { errors, .. } if !errors.is_empty() => {
            errors.iter().map(|e| format!("{}: {}", e.field, e.message)).collect()
        }
        ApiError::Internal(_) => Vec::new(),
        other => vec![other.to_string()],
    };
    let mut resp = err.into_response();
    if messages.is_empty() {
        messages.push("internal server error".into());
    }
    let (parts, _) = resp.into_parts();
    resp = Response::from_parts(
        parts,
        axum::body::Body::from(serde_json::to_vec(&ErrorsBody { errors: messages }).unwrap_or_default()),
    );
    resp.headers_mut().remove(header::CONTENT_LENGTH);
    resp
}

/// A 429 response with `Retry-After`.
pub fn too_many(message: impl Into<String>, retry_after_secs: u64) -> Response {
    let secs = retry_after_secs.max(1);
    let mut resp = ApiError::TooManyRequests { message: message.into(), retry_after_secs: secs }.into_response();
    resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(secs));
    resp
}

/// The success envelope.
#[derive(Debug, Serialize, ToSchema)]
pub struct Envelope<T> {
    /// Always `true`.
    pub success: bool,
    pub data: T,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meta: Option<ListMeta>,
}

/// Pagination facts of a list response.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ListMeta {
    /// Items on this page.
    pub count: usize,
    /// The page size asked for.
    pub limit: u32,
    /// Pass as `token` to get the next page; `null` at the end.
    pub next_token: Option<String>,
}

pub type ApiResult<T> = Result<T, ApiError>;

/// 200 with `data`.
pub fn ok<T: Serialize>(data: T) -> Response {
    Json(Envelope { success: true, data, meta: None }).into_response()
}

/// 201 with `data`.
pub fn created<T: Serialize>(data: T) -> Response {
    (StatusCode::CREATED, Json(Envelope { success: true, data, meta: None })).into_response()
}

/// 200 with a page of `data` and its `meta`.
pub fn list<T: Serialize>(data: Vec<T>, limit: u32, next_token: Option<String>) -> Response {
    let meta = ListMeta { count: data.len(), limit, next_token };
    Json(Envelope { success: true, data, meta: Some(meta) }).into_response()
}
