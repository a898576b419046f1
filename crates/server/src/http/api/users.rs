//! The signed-in user and their API keys.

use axum::extract::{Path, State};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tlink_domain::{ApiKeyId, format_millis};
use tlink_store::{ApiKeyRow, UserRow};
use utoipa::ToSchema;

use crate::AppState;
use crate::http::api::orgs::OrgOut;
use crate::http::auth::Caller;
use crate::http::error::{ApiError, ApiResult, Envelope, ErrorBody, created, list, ok};
use crate::http::extract::{ApiJson, QueryMap, path_id};
use crate::http::pagination;

/// Orgs listed inline in `/api/users/me`; `/api/orgs` pages through all of them.
const ME_ORGS_MAX: u32 = 100;

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UserOut {
    pub id: String,
    pub email: String,
    pub name: Option<String>,
    /// RFC 3339, UTC.
    pub created_at: String,
}

impl UserOut {
    pub fn from_row(u: &UserRow) -> Self {
        UserOut {
            id: u.id.to_string(),
            email: u.email.clone(),
            name: u.name.clone(),
            created_at: format_millis(u.created_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeOut {
    #[serde(flatten)]
    pub user: UserOut,
    /// The organizations the user belongs to, with the user's role in each (up to 100; see `/api/orgs`).
    pub organizations: Vec<OrgOut>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ApiKeyOut {
    pub id: String,
    pub name: String,
    /// The first characters of the key, to recognise it.
    pub prefix: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    /// When the key stops working: set on a key replaced by a rotation with a grace period.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
}

impl From<ApiKeyRow> for ApiKeyOut {
    fn from(k: ApiKeyRow) -> Self {
        ApiKeyOut {
            id: k.id.to_string(),
            name: k.name,
            prefix: k.prefix,
            created_at: format_millis(k.created_at),
            last_used_at: k.last_used_at.map(format_millis),
            expires_at: k.expires_at.map(format_millis),
        }
    }
}

#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RotateApiKey {
    /// How long the old key keeps working, 0–86400 seconds (default 0: it stops at once).
    #[serde(default)]
    pub grace_seconds: u64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub meta: ApiKeyOut,
    /// The full key. Shown only in this response; store it now.
    pub key: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateApiKey {
    /// What the key is for (1–200 characters).
    pub name: String,
}

#[derive(Serialize, ToSchema)]
pub struct Revoked {
    pub id: String,
    pub revoked: bool,
}

/// The signed-in user and their organizations.
#[utoipa::path(get, path = "/api/users/me", tag = "users",
    security(("bearer" = []), ("apiKey" = []), ("hawk" = [])),
    responses((status = 200, body = Envelope<MeOut>), (status = 401, body = ErrorBody)))]
pub async fn me(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    let user = state
        .store
        .user_by_id(&caller.user_id)
        .await?
        .ok_or_else(|| ApiError::Unauthorized("user no longer exists".into()))?;
    let orgs = state.store.all_orgs_for_user(&caller.user_id, ME_ORGS_MAX).await?;
    Ok(ok(MeOut { user: UserOut::from_row(&user), organizations: orgs.into_iter().map(OrgOut::from).collect() }))
}

/// List your API keys (never the keys themselves).
#[utoipa::path(get, path = "/api/users/me/api-keys", tag = "users",
    security(("bearer" = []), ("apiKey" = []), ("hawk" = [])),
    params(crate::http::pagination::ListQueryDoc),
    responses((status = 200, body = Envelope<Vec<ApiKeyOut>>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
pub async fn list_api_keys(State(state): State<AppState>, caller: Caller, q: QueryMap) -> ApiResult<Response> {
    let params = pagination::parse(&q, &state.keys.cursor_key, &format!("api-keys:{}", caller.user_id), &[])?;
    let page = state.store.list_api_keys(&caller.user_id, &params.page).await?;
    let token = params.token(page.next);
    Ok(list(page.items.into_iter().map(ApiKeyOut::from).collect(), params.page.limit, token))
}

/// Create an API key. The full key is in this response only.
#[utoipa::path(post, path = "/api/users/me/api-keys", tag = "users", request_body = CreateApiKey,
    security(("bearer" = []), ("apiKey" = []), ("hawk" = [])),
    responses((status = 201, body = Envelope<CreatedApiKey>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 409, body = ErrorBody, description = "The user already holds the most live keys one user may (100)")))]
pub async fn create_api_key(
    State(state): State<AppState>,
    caller: Caller,
    ApiJson(req): ApiJson<CreateApiKey>,
) -> ApiResult<Response> {
    let issued = crate::ops::keys::create_key(&state, &caller.user_id, &caller.origin, &req.name).await?;
    Ok(created(CreatedApiKey { meta: issued.row.into(), key: issued.key }))
}

/// Revoke an API key; it stops working at once.
#[utoipa::path(delete, path = "/api/users/me/api-keys/{keyId}", tag = "users",
    security(("bearer" = []), ("apiKey" = []), ("hawk" = [])),
    params(("keyId" = String, Path, description = "API key id")),
    responses((status = 200, body = Envelope<Revoked>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke_api_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(key_id): Path<String>,
) -> ApiResult<Response> {
    let id = path_id("keyId", &key_id, ApiKeyId::parse)?;
    crate::ops::keys::revoke_key(&state, &caller.user_id, &caller.origin, &id).await?;
    Ok(ok(Revoked { id: id.to_string(), revoked: true }))
}

/// Rotate an API key: a new key with the same name, in this response only. The old key stops working at
/// once, or after `graceSeconds` (at most 24 hours) so clients can switch without downtime.
#[utoipa::path(post, path = "/api/users/me/api-keys/{keyId}/rotate", tag = "users",
    request_body(content = RotateApiKey, description = "Optional; an empty body rotates at once"),
    security(("bearer" = []), ("apiKey" = []), ("hawk" = [])),
    params(("keyId" = String, Path, description = "API key id")),
    responses((status = 201, body = Envelope<CreatedApiKey>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
        (status = 404, body = ErrorBody)))]
pub async fn rotate_api_key(
    State(state): State<AppState>,
    caller: Caller,
    Path(key_id): Path<String>,
    body: axum::body::Bytes,
) -> ApiResult<Response> {
    let id = path_id("keyId", &key_id, ApiKeyId::parse)?;
    let req: RotateApiKey = if body.iter().all(u8::is_ascii_whitespace) {
        RotateApiKey::default()
    } else {
        crate::http::extract::parse_json(&body)?
    };
    let issued = crate::ops::keys::rotate_key(&state, &caller.user_id, &caller.origin, &id, req.grace_seconds).await?;
    Ok(created(CreatedApiKey { meta: issued.row.into(), key: issued.key }))
}
