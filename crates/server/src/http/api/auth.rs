//! Sessions: login, refresh-token rotation, logout.

use axum::extract::State;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tlink_store::RotateOutcome;
use utoipa::ToSchema;

use crate::AppState;
use crate::credentials::sha256_hex;
use crate::http::api::users::UserOut;
use crate::http::error::{ApiError, ApiResult, Envelope, ErrorBody, ok, too_many};
use crate::http::extract::{ApiJson, ClientIp};
use crate::ops::sessions::{self, SignInError};

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RefreshRequest {
    pub refresh_token: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TokenPair {
    /// JWT for `Authorization: Bearer`; expires after `expiresIn` seconds (15 minutes by default).
    pub access_token: String,
    /// Opaque; exchange at `/api/auth/refresh` for a new pair. Valid 30 days, single use.
    pub refresh_token: String,
    /// Always `Bearer`.
    pub token_type: &'static str,
    /// Seconds until the access token expires.
    pub expires_in: u64,
    /// The signed-in user (login only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<UserOut>,
}

#[derive(Serialize, ToSchema)]
pub struct LoggedOut {
    /// `true` when the token's session was found and ended.
    pub revoked: bool,
}

/// Log in with email and password.
///
/// Failed attempts are limited per account and per client address (10 per 15 minutes by default); over
/// the limit the answer is 429 with `Retry-After`.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest, responses(
    (status = 200, body = Envelope<TokenPair>),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 429, body = ErrorBody),
))]
pub async fn login(
    State(state): State<AppState>,
    ClientIp(peer): ClientIp,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    let ip = peer.map_or_else(|| "local".to_string(), |a| a.to_string());
    let signed = match sessions::sign_in(&state, &req.email, req.password, &ip).await {
        Ok(s) => s,
        Err(SignInError::Throttled(wait)) => return Ok(too_many("too many failed logins; try again later", wait)),
        Err(SignInError::Invalid) => return Err(ApiError::Unauthorized("invalid email or password".into())),
        Err(SignInError::Op(e)) => return Err(e.into()),
    };
    Ok(ok(TokenPair {
        access_token: state.keys.issue_access(&signed.user.id)?,
        refresh_token: signed.refresh_token,
        token_type: "Bearer",
        expires_in: state.keys.access_ttl_secs,
        user: Some(UserOut::from_row(&signed.user)),
    }))
}

/// Exchange a refresh token for a new pair.
///
/// The presented token stops working. Presenting a token that was already exchanged revokes every token
/// of that login (it was probably stolen) and answers 401.
#[utoipa::path(post, path = "/api/auth/refresh", tag = "auth", request_body = RefreshRequest, responses(
    (status = 200, body = Envelope<TokenPair>),
    (status = 400, body = ErrorBody), (status = 401, body = ErrorBody),
))]
pub async fn refresh(State(state): State<AppState>, ApiJson(req): ApiJson<RefreshRequest>) -> ApiResult<Response> {
    let (new_refresh, expires_at) = sessions::new_refresh_token(&state);
    let outcome =
        state.store.rotate_refresh(&sha256_hex(&req.refresh_token), &sha256_hex(&new_refresh), expires_at).await?;
    match outcome {
        RotateOutcome::Rotated { user_id, .. } => Ok(ok(TokenPair {
            access_token: state.keys.issue_access(&user_id)?,
            refresh_token: new_refresh,
            token_type: "Bearer",
            expires_in: state.keys.access_ttl_secs,
            user: None,
        })),
        RotateOutcome::Reused => {
            tracing::warn!("refresh token reused; session family revoked");
            Err(ApiError::Unauthorized("refresh token was already used; the session has been revoked".into()))
        }
        RotateOutcome::Invalid => Err(ApiError::Unauthorized("invalid or expired refresh token".into())),
    }
}

/// End a session: revokes the refresh token and every token of its login.
///
/// Access tokens already issued stay valid until they expire (at most 15 minutes by default).
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", request_body = RefreshRequest, responses(
    (status = 200, body = Envelope<LoggedOut>), (status = 400, body = ErrorBody),
))]
pub async fn logout(State(state): State<AppState>, ApiJson(req): ApiJson<RefreshRequest>) -> ApiResult<Response> {
    let revoked = sessions::sign_out(&state, &req.refresh_token).await?;
    Ok(ok(LoggedOut { revoked }))
}
