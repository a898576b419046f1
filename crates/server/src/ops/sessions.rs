//! Sessions: signing in with e-mail and password (under the failed-login throttle), the login's refresh
//! token, and signing out. The JSON API hands the refresh token to the client; the dashboard keeps it in
//! an HttpOnly cookie as the browser's session, so both share one expiry (the refresh-token lifetime), one
//! throttle and one way to end a login.

use tlink_domain::{FamilyId, UserId};
use tlink_store::{UserRow, now_millis};

use super::{OpError, OpResult};
use crate::AppState;
use crate::credentials::{random_token, sha256_hex, verify_password};
use crate::ops::users::normalize_email;

/// A started login.
#[derive(Debug)]
pub struct SignedIn {
    pub user: UserRow,
    /// The login's refresh token (shown once; stored hashed).
    pub refresh_token: String,
    /// When the token expires, unix ms.
    pub expires_at: i64,
}

/// Why a sign-in did not happen.
#[derive(Debug)]
pub enum SignInError {
    /// Too many failed attempts for the account or the client address: wait this many seconds.
    Throttled(u64),
    /// Unknown e-mail or wrong password (never told apart).
    Invalid,
    Op(OpError),
}

impl From<OpError> for SignInError {
    fn from(e: OpError) -> Self {
        SignInError::Op(e)
    }
}

/// The refresh-token lifetime, in milliseconds.
pub fn session_ttl_ms(state: &AppState) -> i64 {
    i64::try_from(state.config.refresh_token_ttl_days).unwrap_or(30) * 86_400_000
}

/// A fresh refresh token and its expiry (unix ms).
pub fn new_refresh_token(state: &AppState) -> (String, i64) {
    (random_token(48), now_millis() + session_ttl_ms(state))
}

/// Checks `email` and `password` under the failed-login throttle (per account and per `client` address)
/// and starts a login. Counted in `tlink_logins_total` by outcome: `succeeded`, `failed`, `throttled`.
pub async fn sign_in(state: &AppState, email: &str, password: String, client: &str) -> Result<SignedIn, SignInError> {
    let email = normalize_email(email).unwrap_or_else(|_| email.trim().to_lowercase());
    let keys = [format!("account:{email}"), format!("ip:{client}")];
    if let Some(wait) = state.throttle.blocked(&keys).await {
        metrics::counter!("tlink_logins_total", "outcome" => "throttled").increment(1);
        return Err(SignInError::Throttled(wait));
    }
    let user = state.store.user_by_email(&email).await.map_err(OpError::from)?;
    let valid =
        verify_password(password, user.as_ref().map(|u| u.password_hash.clone())).await.map_err(OpError::from)?;
    let Some(user) = user.filter(|_| valid) else {
        state.throttle.record_failure(&keys).await;
        metrics::counter!("tlink_logins_total", "outcome" => "failed").increment(1);
        tracing::info!(ip = %client, "failed login");
        return Err(SignInError::Invalid);
    };
    state.throttle.clear(&keys[0]).await;
    let (refresh_token, expires_at) = new_refresh_token(state);
    state.store.start_refresh_family(&user.id, &sha256_hex(&refresh_token), expires_at).await.map_err(OpError::from)?;
    metrics::counter!("tlink_logins_total", "outcome" => "succeeded").increment(1);
    Ok(SignedIn { user, refresh_token, expires_at })
}

/// The live login a browser session token belongs to: not revoked, not expired, and never exchanged at
/// `/api/auth/refresh` (a session token that was exchanged has left the browser).
pub async fn session(state: &AppState, token: &str) -> OpResult<Option<(UserId, FamilyId)>> {
    let Some(row) = state.store.refresh_by_hash(&sha256_hex(token)).await? else { return Ok(None) };
    let live = row.revoked_at.is_none() && row.used_at.is_none() && row.expires_at > now_millis();
    Ok(live.then_some((row.user_id, row.family_id)))
}

/// Ends the login `token` belongs to, every token of it included. `false` when there was none live.
pub async fn sign_out(state: &AppState, token: &str) -> OpResult<bool> {
    match state.store.refresh_by_hash(&sha256_hex(token)).await? {
        Some(r) if r.revoked_at.is_none() => {
            state.store.revoke_family(&r.family_id).await?;
            Ok(true)
        }
        _ => Ok(false),
    }
}
