//! Authentication on the HTTP side: the extractors that authenticate a request (Bearer access token,
//! `X-API-Key`, or Hawk verified by [`hawk::verify`]) and scope it to an organization, and the login
//! throttle ([`throttle`]). The credentials themselves are made and checked in [`crate::credentials`].
//!
//! [`Caller`] authenticates (Bearer token or `X-API-Key`). [`OrgCaller`] also reads `{orgId}` from the
//! path and requires membership: a non-member gets the same 404 as for an organization that does not
//! exist, so ids of other tenants cannot be probed. With an API key both checks take one query.

pub mod hawk;
mod headers;
pub mod throttle;

use axum::extract::{FromRequestParts, RawPathParams};
use axum::http::request::Parts;
use subtle::ConstantTimeEq;
use tlink_domain::{ApiKeyId, OrgId, PlanLimits, Role, UserId};

use crate::AppState;
use crate::credentials::{API_KEY_VISIBLE_LEN, sha256_hex, well_formed_key};
use crate::http::error::ApiError;
pub(crate) use headers::{MIXED_CREDENTIALS, credential_headers, record_key_use};
pub use throttle::LoginThrottle;

/// How a request authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMethod {
    Session,
    ApiKey(ApiKeyId),
}

/// An authenticated user.
#[derive(Debug, Clone)]
pub struct Caller {
    pub user_id: UserId,
    pub method: AuthMethod,
    /// Where the request came from, for the audit log.
    pub origin: crate::ops::audit::Origin,
}

/// An authenticated member of the organization named by the path's `{orgId}`.
#[derive(Debug, Clone)]
pub struct OrgCaller {
    pub user_id: UserId,
    pub org_id: OrgId,
    pub role: Role,
    /// The organization's plan (rate limit, monthly quota).
    pub limits: PlanLimits,
    /// Where the request came from, for the audit log.
    pub origin: crate::ops::audit::Origin,
}

/// The request's origin as the audit log records it: the API, the key it used, the client's address.
fn origin(parts: &Parts, state: &AppState, method: &AuthMethod) -> crate::ops::audit::Origin {
    let peer = parts
        .extensions
        .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
        .map(|axum::extract::ConnectInfo(addr)| state.limiter.client_ip(addr.ip(), &parts.headers));
    let key = match method {
        AuthMethod::ApiKey(id) => Some(id.clone()),
        AuthMethod::Session => None,
    };
    crate::ops::audit::Origin { source: crate::ops::audit::Source::Api, key, client_ip: peer }
}

impl OrgCaller {
    /// The caller as the operations see it.
    pub fn member(&self) -> crate::ops::Member {
        crate::ops::Member {
            user_id: self.user_id.clone(),
            org_id: self.org_id.clone(),
            role: self.role,
            limits: self.limits,
            origin: self.origin.clone(),
        }
    }

    /// 403 unless the role may change the organization's resources (not a viewer).
    pub fn require_write(&self) -> Result<(), ApiError> {
        Ok(crate::ops::require_write(self.role)?)
    }

    /// 403 unless the role may manage members (owner or admin).
    pub fn require_admin(&self) -> Result<(), ApiError> {
        if self.role.can_manage_members() {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!("role {} may not manage this organization", self.role.as_str())))
        }
    }
}

enum Credential {
    Bearer(String),
    ApiKey(String),
    /// Already verified by [`hawk::verify`].
    Hawk(hawk::HawkAuth),
}

/// The request's one credential. A request carrying both `X-API-Key` and `Authorization` is refused
/// (401) whatever either holds: which of two credentials acts is never guessed, and an invalid one is
/// never ignored because the other is valid.
fn credential(parts: &Parts) -> Result<Credential, ApiError> {
    if credential_headers(&parts.headers) > 1 {
        return Err(ApiError::Unauthorized(MIXED_CREDENTIALS.into()));
    }
    if let Some(h) = parts.extensions.get::<hawk::HawkAuth>() {
        return Ok(Credential::Hawk(h.clone()));
    }
    if let Some(v) = parts.headers.get("x-api-key") {
        let key = v.to_str().map_err(|_| ApiError::Unauthorized("invalid API key".into()))?;
        return Ok(Credential::ApiKey(key.trim().to_string()));
    }
    if let Some(v) = parts.headers.get(axum::http::header::AUTHORIZATION) {
        let v = v.to_str().map_err(|_| ApiError::Unauthorized("invalid Authorization header".into()))?;
        let mut it = v.splitn(2, ' ');
        let scheme = it.next().unwrap_or_default();
        let token = it.next().unwrap_or_default().trim();
        if scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() {
            return Ok(Credential::Bearer(token.to_string()));
        }
        return Err(ApiError::Unauthorized("unsupported Authorization scheme; use Bearer, Hawk or X-API-Key".into()));
    }
    Err(ApiError::Unauthorized("authentication required: send a Bearer token, X-API-Key or Hawk".into()))
}

/// Checks an API key; with `org`, also returns the owner's role in it. Records use at most once a minute.
async fn check_api_key(
    state: &AppState,
    key: &str,
    org: Option<&OrgId>,
) -> Result<(UserId, ApiKeyId, Option<(Role, PlanLimits)>), ApiError> {
    let invalid = || ApiError::Unauthorized("invalid or revoked API key".into());
    if !well_formed_key(key) {
        return Err(invalid());
    }
    let hash = sha256_hex(key);
    let candidates = state.store.api_key_candidates(&key[..API_KEY_VISIBLE_LEN], org).await?;
    let found = candidates.into_iter().find(|c| bool::from(c.key_hash.as_bytes().ct_eq(hash.as_bytes())));
    let Some(c) = found else { return Err(invalid()) };
    record_key_use(state, &c.id, c.last_used_at);
    let membership = c.role.zip(c.limits);
    Ok((c.user_id, c.id, membership))
}

/// The bucket a credential's requests count against.
fn bucket(user: &UserId, method: &AuthMethod) -> String {
    match method {
        // All of a user's sessions share one bucket: signing in again does not buy a fresh minute.
        AuthMethod::Session => ["user:", user.as_str()].concat(),
        AuthMethod::ApiKey(id) => ["key:", id.as_str()].concat(),
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let caller = match credential(parts)? {
            Credential::Bearer(token) => {
                let user_id = state
                    .keys
                    .verify_access(&token)
                    .ok_or_else(|| ApiError::Unauthorized("invalid or expired access token".into()))?;
                Caller { user_id, method: AuthMethod::Session, origin: Default::default() }
            }
            Credential::ApiKey(key) => {
                let (user_id, key_id, _) = check_api_key(state, &key, None).await?;
                Caller { user_id, method: AuthMethod::ApiKey(key_id), origin: Default::default() }
            }
            Credential::Hawk(h) => {
                Caller { user_id: h.user_id, method: AuthMethod::ApiKey(h.key_id), origin: Default::default() }
            }
        };
        let caller = Caller { origin: origin(parts, state, &caller.method), ..caller };
        let per_minute = state.limiter.config().account_per_minute;
        limit(parts, state, &bucket(&caller.user_id, &caller.method), per_minute, None).await?;
        Ok(caller)
    }
}

/// Counts the request against the credential's bucket (and the organization's, where one applies).
async fn limit(
    parts: &Parts,
    state: &AppState,
    bucket: &str,
    per_minute: u32,
    org: Option<&OrgId>,
) -> Result<(), ApiError> {
    let slot = parts.extensions.get::<crate::http::limits::RateSlot>();
    state.limiter.credential(slot, parts.uri.path(), bucket, per_minute, org.map(OrgId::as_str)).await
}

/// A Hawk-authenticated member acting in the organization named by `ext` (the Threat Stack routes, whose
/// request limit the Hawk middleware has already applied).
#[derive(Debug, Clone)]
pub struct HawkCaller {
    pub user_id: UserId,
    pub key_id: ApiKeyId,
    pub org_id: OrgId,
    pub role: Role,
}

impl FromRequestParts<AppState> for HawkCaller {
    type Rejection = ThreatStackError;

    async fn from_request_parts(parts: &mut Parts, _state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(h) = parts.extensions.get::<hawk::HawkAuth>().cloned() else {
            return Err(ThreatStackError(ApiError::Unauthorized(
                "Hawk authentication required: id = user id, key = API key, ext = organization id".into(),
            )));
        };
        let Some((org_id, role, _plan)) = h.org else {
            return Err(ThreatStackError(ApiError::Unauthorized(
                "Missing organization: send the organization id as Hawk ext".into(),
            )));
        };
        // The organization's request limit (the only one of this family besides the client IP's) was
        // checked by the Hawk middleware; the plan's limits govern `/api`, not these routes.
        Ok(HawkCaller { user_id: h.user_id, key_id: h.key_id, org_id, role })
    }
}

impl HawkCaller {
    /// Where the request came from, as the audit log records it: the API, through the caller's key.
    pub fn origin(&self) -> crate::ops::Origin {
        crate::ops::Origin { source: crate::ops::Source::Api, key: Some(self.key_id.clone()), client_ip: None }
    }

    /// The caller as the operations see a member (Threat Stack callers carry no plan); `origin` is
    /// [`HawkCaller::origin`].
    pub fn acting<'a>(&'a self, origin: &'a crate::ops::Origin) -> crate::ops::MemberRef<'a> {
        crate::ops::MemberRef { org_id: &self.org_id, user_id: &self.user_id, role: self.role, origin }
    }

    /// Records a change this caller made in the audit log.
    pub async fn audit(&self, state: &AppState, change: crate::ops::audit::Change<'_>) {
        crate::ops::audit::record_as(state, &self.org_id, &self.user_id, &self.origin(), change).await;
    }
}

/// An error answered in Threat Stack's shape, `{"errors": ["…"]}` (same status and headers).
#[derive(Debug)]
pub struct ThreatStackError(pub ApiError);

impl From<ApiError> for ThreatStackError {
    fn from(e: ApiError) -> Self {
        ThreatStackError(e)
    }
}

impl axum::response::IntoResponse for ThreatStackError {
    fn into_response(self) -> axum::response::Response {
        crate::http::error::respond(self.0, true)
    }
}

/// Reads and validates `{orgId}` from the path.
pub(crate) async fn org_id_from_path(parts: &mut Parts, state: &AppState) -> Result<OrgId, ApiError> {
    // The raw (percent-decoded) parameters: no map is built to read one of them.
    let params =
        RawPathParams::from_request_parts(parts, state).await.map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let raw = params
        .iter()
        .find_map(|(name, value)| (name == "orgId").then_some(value))
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("route has no {{orgId}}")))?;
    OrgId::parse(raw).map_err(|e| ApiError::field("orgId", e.to_string()))
}

impl FromRequestParts<AppState> for OrgCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        // Authenticate before looking at the path, so an anonymous caller learns nothing about ids.
        let cred = credential(parts)?;
        let (user_id, membership, org_id, method) = match cred {
            Credential::Bearer(token) => {
                let user_id = state
                    .keys
                    .verify_access(&token)
                    .ok_or_else(|| ApiError::Unauthorized("invalid or expired access token".into()))?;
                let org_id = org_id_from_path(parts, state).await?;
                let membership = state.store.membership(&org_id, &user_id).await?;
                (user_id, membership, org_id, AuthMethod::Session)
            }
            Credential::ApiKey(key) => {
                let org_id = match org_id_from_path(parts, state).await {
                    Ok(org_id) => org_id,
                    Err(bad_path) => {
                        // The key is checked on its own only on this error path, so that a bad key is
                        // still a 401 rather than a 400 about the path.
                        check_api_key(state, &key, None).await?;
                        return Err(bad_path);
                    }
                };
                let (user_id, key_id, membership) = check_api_key(state, &key, Some(&org_id)).await?;
                (user_id, membership, org_id, AuthMethod::ApiKey(key_id))
            }
            Credential::Hawk(h) => {
                let org_id = org_id_from_path(parts, state).await?;
                let membership = match h.org {
                    // The organization in `ext` is the one the request acts in: it must be the path's.
                    Some((ext, ..)) if ext != org_id => {
                        return Err(ApiError::Unauthorized(
                            "the organization in Hawk ext is not the organization in the path".into(),
                        ));
                    }
                    Some((_, role, limits)) => Some((role, limits)),
                    None => state.store.membership(&org_id, &h.user_id).await?,
                };
                (h.user_id, membership, org_id, AuthMethod::ApiKey(h.key_id))
            }
        };
        let Some((role, limits)) = membership else { return Err(ApiError::not_found("organization")) };
        let per_minute = limits.requests_per_minute(state.limiter.config().enterprise_default_per_minute);
        limit(parts, state, &bucket(&user_id, &method), per_minute, Some(&org_id)).await?;
        let origin = origin(parts, state, &method);
        Ok(OrgCaller { user_id, org_id, role, limits, origin })
    }
}
