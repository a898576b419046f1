//! Browser sessions. Signing in starts a login (as `/api/auth/login` does) whose refresh token the browser
//! keeps in an HttpOnly, SameSite=Lax cookie — `Secure`, and named `__Host-tlink_session`, when
//! `web.secure_cookies` is on (serve the dashboard over TLS, e.g. behind a proxy, and turn it on). The
//! cookie lives as long as the refresh token; signing out revokes the login.
//!
//! Every state-changing request carries the session's CSRF token (a form field `csrf` or the
//! `X-CSRF-Token` header): an HMAC of the login's id, compared in constant time. Its `Origin`, when the
//! browser sends one, must be this server's.

use axum::extract::{FromRequestParts, Path};
use axum::http::header;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use tlink_domain::{FamilyId, OrgId, PlanLimits, Role, UserId};
use tlink_store::{OrgRow, UserRow};

use super::error::WebError;
use crate::AppState;
use crate::ops::Member;

/// `[web]`: the dashboard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebConfig {
    /// Serve the dashboard at `/` (the JSON API is served either way).
    pub enabled: bool,
    /// Mark the session cookie `Secure` (and name it `__Host-tlink_session`): turn on when users reach
    /// tlink over HTTPS.
    pub secure_cookies: bool,
}

impl Default for WebConfig {
    fn default() -> Self {
        Self { enabled: true, secure_cookies: false }
    }
}

/// The session cookie's name.
pub fn cookie_name(state: &AppState) -> &'static str {
    if state.config.web.secure_cookies { "__Host-tlink_session" } else { "tlink_session" }
}

/// The `Set-Cookie` value that stores `token` for `max_age_secs` (0 deletes it).
pub fn set_cookie(state: &AppState, name: &str, token: &str, max_age_secs: i64) -> String {
    let secure = if state.config.web.secure_cookies { "; Secure" } else { "" };
    format!("{name}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age_secs}{secure}")
}

/// The value of cookie `name` in the request.
pub fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// A signed-in person. Its `Debug` leaves out the cookie's token, the CSRF token and the password hash.
#[derive(Clone)]
pub struct Session {
    pub user: UserRow,
    /// The login (refresh-token family) the cookie belongs to.
    pub login: FamilyId,
    /// The session's CSRF token, for forms.
    pub csrf: String,
    /// The cookie's token (to sign out).
    pub token: String,
}

impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").field("user", &self.user.id).field("login", &self.login).finish_non_exhaustive()
    }
}

impl FromRequestParts<AppState> for Session {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(s) = parts.extensions.get::<Session>() {
            return Ok(s.clone());
        }
        let back = || WebError::SignIn(parts.uri.path_and_query().map(ToString::to_string).unwrap_or_default());
        let Some(token) = cookie(parts, cookie_name(state)).map(str::to_string) else { return Err(back()) };
        let Some((user_id, login)) = crate::ops::sessions::session(state, &token).await? else { return Err(back()) };
        let Some(user) = state.store.user_by_id(&user_id).await? else { return Err(back()) };
        let csrf = state.keys.csrf_token(login.as_str());
        let session = Session { user, login, csrf, token };
        parts.extensions.insert(session.clone());
        Ok(session)
    }
}

impl axum::extract::OptionalFromRequestParts<AppState> for Session {
    type Rejection = WebError;

    /// `None` when not signed in; other failures (storage) stay errors.
    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Option<Self>, Self::Rejection> {
        match <Session as FromRequestParts<AppState>>::from_request_parts(parts, state).await {
            Ok(s) => Ok(Some(s)),
            Err(WebError::SignIn(_)) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A signed-in member of the organization named by the path's `{org}`. A non-member sees the same
/// not-found page as for an organization that does not exist.
#[derive(Debug, Clone)]
pub struct OrgSession {
    pub session: Session,
    pub org: OrgRow,
    pub limits: PlanLimits,
    /// The user's organizations, for the switcher.
    pub orgs: Vec<OrgRow>,
    /// The client's address, for the audit log.
    pub client_ip: Option<std::net::IpAddr>,
}

impl OrgSession {
    /// The member as the operations see them.
    pub fn member(&self) -> Member {
        Member {
            user_id: self.session.user.id.clone(),
            org_id: self.org.id.clone(),
            role: self.org.role,
            limits: self.limits,
            origin: crate::ops::audit::Origin {
                source: crate::ops::audit::Source::Dashboard,
                key: None,
                client_ip: self.client_ip,
            },
        }
    }

    pub fn org_id(&self) -> &OrgId {
        &self.org.id
    }

    pub fn user_id(&self) -> &UserId {
        &self.session.user.id
    }

    pub fn role(&self) -> Role {
        self.org.role
    }

    /// Whether the role may change the organization's resources (write controls are shown).
    pub fn can_write(&self) -> bool {
        self.org.role.can_write()
    }

    /// `/orgs/<id><rest>`.
    pub fn url(&self, rest: &str) -> String {
        format!("/orgs/{}{rest}", self.org.id)
    }
}

impl FromRequestParts<AppState> for OrgSession {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let session = Session::from_request_parts(parts, state).await?;
        let Path(params) =
            Path::<HashMap<String, String>>::from_request_parts(parts, state).await.map_err(|_| WebError::NotFound)?;
        let org_id = params.get("org").and_then(|raw| OrgId::parse(raw).ok()).ok_or(WebError::NotFound)?;
        let Some((_, limits)) = state.store.membership(&org_id, &session.user.id).await? else {
            return Err(WebError::NotFound);
        };
        let orgs = state.store.all_orgs_for_user(&session.user.id, 100).await?;
        let crate::http::extract::ClientIp(client_ip) =
            crate::http::extract::ClientIp::from_request_parts(parts, state)
                .await
                .unwrap_or(crate::http::extract::ClientIp(None));
        let org = match orgs.iter().find(|o| o.id == org_id).cloned() {
            Some(org) => org,
            None => state.store.org_for_member(&org_id, &session.user.id).await?.ok_or(WebError::NotFound)?,
        };
        Ok(OrgSession { session, org, limits, orgs, client_ip })
    }
}
