//! Why a page is not shown, as a page: not signed in (to the sign-in page), not found (also another
//! organization's), forbidden, a failed CSRF check, bad input, the database out of reach (503), or an internal error
//! (logged once, here).

use askama::Template;
use axum::http::{StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::ops::OpError;

/// Why a page is not shown.
#[derive(Debug, thiserror::Error)]
pub enum WebError {
    /// Not signed in: to the sign-in page, then back to this path.
    #[error("sign in required")]
    SignIn(String),
    /// Unknown, or another organization's: the same page.
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Forbidden(String),
    /// A state-changing request without this session's CSRF token, or from another origin.
    #[error("the form's security token is missing or invalid")]
    Csrf,
    #[error("{0}")]
    BadRequest(String),
    /// The database cannot be reached (down, restarting): the same request may work shortly.
    #[error("the database is unavailable")]
    Unavailable,
    #[error(transparent)]
    Internal(anyhow::Error),
}

impl From<OpError> for WebError {
    fn from(e: OpError) -> Self {
        match e {
            OpError::NotFound(_) => WebError::NotFound,
            OpError::Forbidden(m) => WebError::Forbidden(m),
            OpError::Internal(e)
                if e.downcast_ref::<tlink_store::DbError>().is_some_and(tlink_store::DbError::is_unavailable) =>
            {
                tracing::warn!(error = %format!("{e:#}"), "database unavailable");
                WebError::Unavailable
            }
            OpError::Internal(e) => WebError::Internal(e),
            other => WebError::BadRequest(other.to_string()),
        }
    }
}

impl From<tlink_store::DbError> for WebError {
    fn from(e: tlink_store::DbError) -> Self {
        if e.is_unavailable() {
            tracing::warn!(error = %e, "database unavailable");
            return WebError::Unavailable;
        }
        WebError::Internal(anyhow::Error::new(e).context("database"))
    }
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    message: &'a str,
    v: &'static str,
}

impl IntoResponse for WebError {
    fn into_response(self) -> Response {
        let (status, title, message) = match &self {
            WebError::SignIn(next) => {
                let to = if next.is_empty() || next == "/" {
                    "/login".to_string()
                } else {
                    format!(
                        "/login?next={}",
                        percent_encoding::utf8_percent_encode(next, percent_encoding::NON_ALPHANUMERIC)
                    )
                };
                return Redirect::to(&to).into_response();
            }
            WebError::NotFound => (
                StatusCode::NOT_FOUND,
                "Not found",
                "There is nothing here, or it belongs to an organization you are not a member of.".to_string(),
            ),
            WebError::Forbidden(m) => (StatusCode::FORBIDDEN, "Not allowed", m.clone()),
            WebError::Csrf => (
                StatusCode::FORBIDDEN,
                "Form expired",
                "This form's security token is missing or invalid. Go back, reload the page and try again.".to_string(),
            ),
            WebError::BadRequest(m) => (StatusCode::BAD_REQUEST, "Cannot do that", m.clone()),
            WebError::Unavailable => (
                StatusCode::SERVICE_UNAVAILABLE,
                "Temporarily unavailable",
                "The database cannot be reached just now. Try again in a moment.".into(),
            ),
            WebError::Internal(e) => {
                tracing::error!(error = %crate::telemetry::error_chain(e.as_ref()), "dashboard request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "Something went wrong",
                    "The error was logged. Try again later.".into(),
                )
            }
        };
        let page = ErrorPage { title, message: &message, v: super::assets::VERSION.as_str() };
        let html = page.render().unwrap_or_else(|_| message.clone());
        let mut r = (status, Html(html)).into_response();
        for (name, value) in super::headers::security_headers() {
            r.headers_mut().insert(name, value);
        }
        r.headers_mut().insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
        r
    }
}

/// The not-found page (unknown dashboard paths).
pub fn not_found() -> Response {
    WebError::NotFound.into_response()
}
