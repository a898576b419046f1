//! Authentication: passwords (Argon2id), access tokens (HS256 JWT), refresh tokens and API keys (random,
//! stored as SHA-256), the login throttle, and the extractors that authenticate a request and scope it to
//! an organization.
//!
//! [`Caller`] authenticates (Bearer token or `X-API-Key`). [`OrgCaller`] also reads `{orgId}` from the
//! path and requires membership: a non-member gets the same 404 as for an organization that does not
//! exist, so ids of other tenants cannot be probed. With an API key both checks take one query.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use argon2::Argon2;
use argon2::password_hash::rand_core::OsRng;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::{FromRequestParts, Path};
use axum::http::request::Parts;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use parking_lot::Mutex;
use rand::Rng;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use tlink_domain::{ApiKeyId, OrgId, PlanLimits, Role, UserId};
use tlink_store::now_millis;

use crate::AppState;
use crate::error::ApiError;

const BASE62: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// API keys: `tlpro_` followed by this many base62 characters (≈ 238 bits).
pub const API_KEY_RANDOM_LEN: usize = 40;
pub const API_KEY_PREFIX: &str = "tlpro_";
/// Characters of the key kept visible (and indexed) to find it: `tlpro_` plus six.
pub const API_KEY_VISIBLE_LEN: usize = 12;
/// How stale `lastUsedAt` may get before a request writes it again.
const LAST_USED_GRANULARITY_MS: i64 = 60_000;

/// A random base62 string from the thread-local CSPRNG (ChaCha, seeded from the OS), which avoids a
/// system call per character.
pub fn random_token(len: usize) -> String {
    let mut rng = rand::thread_rng();
    (0..len).map(|_| BASE62[rng.gen_range(0..BASE62.len())] as char).collect()
}

/// Hex SHA-256, for high-entropy secrets (refresh tokens, API keys), where a slow hash buys nothing.
pub fn sha256_hex(s: &str) -> String {
    let digest = Sha256::digest(s.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hashes a password with Argon2id (default parameters), off the async threads.
pub async fn hash_password(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("hashing password: {e}"))
    })
    .await?
}

/// Verifies a password against a stored hash, off the async threads. With no stored hash (unknown
/// user) it verifies against a fixed dummy hash so both paths cost the same.
pub async fn verify_password(password: String, stored: Option<String>) -> anyhow::Result<bool> {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    tokio::task::spawn_blocking(move || {
        let known = stored.is_some();
        let hash = match stored {
            Some(h) => h,
            None => DUMMY
                .get_or_init(|| {
                    let salt = SaltString::generate(&mut OsRng);
                    Argon2::default()
                        .hash_password(b"not a real password", &salt)
                        .map(|h| h.to_string())
                        .unwrap_or_default()
                })
                .clone(),
        };
        let ok = PasswordHash::new(&hash)
            .map(|parsed| Argon2::default().verify_password(password.as_bytes(), &parsed).is_ok())
            .unwrap_or(false);
        Ok(ok && known)
    })
    .await?
}

/// A new API key: the full key (shown once) and what is stored.
pub struct GeneratedKey {
    pub key: String,
    pub prefix: String,
    pub hash: String,
}

pub fn generate_api_key() -> GeneratedKey {
    let key = format!("{API_KEY_PREFIX}{}", random_token(API_KEY_RANDOM_LEN));
    GeneratedKey { prefix: key[..API_KEY_VISIBLE_LEN].to_string(), hash: sha256_hex(&key), key }
}

/// Whether `key` has the shape of one of our API keys (checked before any database work).
fn well_formed_key(key: &str) -> bool {
    key.len() == API_KEY_PREFIX.len() + API_KEY_RANDOM_LEN
        && key.starts_with(API_KEY_PREFIX)
        && key[API_KEY_PREFIX.len()..].bytes().all(|b| b.is_ascii_alphanumeric())
}

/// Signing keys for access tokens and list cursors, derived from the configured secret.
pub struct Keys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
    pub access_ttl_secs: u64,
    /// Key for cursor HMACs (distinct from the token key).
    pub cursor_key: Vec<u8>,
}

#[derive(Debug, Serialize, Deserialize)]
struct Claims {
    sub: String,
    iat: i64,
    exp: i64,
    typ: String,
}

impl Keys {
    pub fn new(secret: &[u8], access_ttl_secs: u64) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = 5;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let cursor_key = Sha256::new().chain_update(b"tlink cursor key\0").chain_update(secret).finalize().to_vec();
        Keys {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
            access_ttl_secs,
            cursor_key,
        }
    }

    /// Issues a 15-minute (configurable) access token for `user`.
    pub fn issue_access(&self, user: &UserId) -> anyhow::Result<String> {
        let now = now_millis() / 1000;
        let claims = Claims {
            sub: user.as_str().to_string(),
            iat: now,
            exp: now + i64::try_from(self.access_ttl_secs).unwrap_or(900),
            typ: "access".into(),
        };
        Ok(jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)?)
    }

    fn verify_access(&self, token: &str) -> Option<UserId> {
        let data = jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation).ok()?;
        if data.claims.typ != "access" {
            return None;
        }
        UserId::parse(&data.claims.sub).ok()
    }
}

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
}

/// An authenticated member of the organization named by the path's `{orgId}`.
#[derive(Debug, Clone)]
pub struct OrgCaller {
    pub user_id: UserId,
    pub org_id: OrgId,
    pub role: Role,
    /// The organization's plan (rate limit, monthly quota).
    pub limits: PlanLimits,
}

impl OrgCaller {
    /// The caller as the operations see it.
    pub fn member(&self) -> crate::ops::Member {
        crate::ops::Member {
            user_id: self.user_id.clone(),
            org_id: self.org_id.clone(),
            role: self.role,
            limits: self.limits,
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
    /// Already verified by [`crate::hawk::layer`].
    Hawk(crate::hawk::HawkAuth),
}

/// The refusal of a request with more than one credential.
pub(crate) const MIXED_CREDENTIALS: &str =
    "send one credential: X-API-Key or one Authorization header (Bearer or Hawk), not several";

/// How many credential headers (`X-API-Key`, `Authorization`) a request carries.
pub(crate) fn credential_headers(headers: &axum::http::HeaderMap) -> usize {
    headers.get_all("x-api-key").iter().count() + headers.get_all(axum::http::header::AUTHORIZATION).iter().count()
}

/// The request's one credential. A request carrying both `X-API-Key` and `Authorization` is refused
/// (401) whatever either holds: which of two credentials acts is never guessed, and an invalid one is
/// never ignored because the other is valid.
fn credential(parts: &Parts) -> Result<Credential, ApiError> {
    if credential_headers(&parts.headers) > 1 {
        return Err(ApiError::Unauthorized(MIXED_CREDENTIALS.into()));
    }
    if let Some(h) = parts.extensions.get::<crate::hawk::HawkAuth>() {
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

/// Records that a key was used (`lastUsedAt`), by a spawned task, at most once a minute per key.
pub(crate) fn record_key_use(state: &AppState, id: &ApiKeyId, last_used_at: Option<i64>) {
    let now = now_millis();
    if last_used_at.is_none_or(|t| now - t >= LAST_USED_GRANULARITY_MS) {
        let store = state.store.clone();
        let id = id.clone();
        tokio::spawn(async move {
            if let Err(e) = store.touch_api_key(&id, now).await {
                tracing::warn!(error = %e, "recording API key use failed");
            }
        });
    }
}

/// The bucket a credential's requests count against.
fn bucket(user: &UserId, method: &AuthMethod) -> String {
    match method {
        // All of a user's sessions share one bucket: signing in again does not buy a fresh minute.
        AuthMethod::Session => format!("user:{user}"),
        AuthMethod::ApiKey(id) => format!("key:{id}"),
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
                Caller { user_id, method: AuthMethod::Session }
            }
            Credential::ApiKey(key) => {
                let (user_id, key_id, _) = check_api_key(state, &key, None).await?;
                Caller { user_id, method: AuthMethod::ApiKey(key_id) }
            }
            Credential::Hawk(h) => Caller { user_id: h.user_id, method: AuthMethod::ApiKey(h.key_id) },
        };
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
    let slot = parts.extensions.get::<crate::limits::RateSlot>();
    state.limiter.credential(slot, parts.uri.path(), bucket, per_minute, org.map(OrgId::as_str)).await
}

/// A Hawk-authenticated member acting in the organization named by `ext` (the Threat Stack routes).
#[derive(Debug, Clone)]
pub struct HawkCaller {
    pub user_id: UserId,
    pub key_id: ApiKeyId,
    pub org_id: OrgId,
    pub role: Role,
}

impl FromRequestParts<AppState> for HawkCaller {
    type Rejection = ThreatStackError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let Some(h) = parts.extensions.get::<crate::hawk::HawkAuth>().cloned() else {
            return Err(ThreatStackError(ApiError::Unauthorized(
                "Hawk authentication required: id = user id, key = API key, ext = organization id".into(),
            )));
        };
        let Some((org_id, role, limits)) = h.org else {
            return Err(ThreatStackError(ApiError::Unauthorized(
                "Missing organization: send the organization id as Hawk ext".into(),
            )));
        };
        let per_minute = limits.requests_per_minute(state.limiter.config().enterprise_default_per_minute);
        limit(parts, state, &format!("key:{}", h.key_id), per_minute, Some(&org_id)).await.map_err(ThreatStackError)?;
        Ok(HawkCaller { user_id: h.user_id, key_id: h.key_id, org_id, role })
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
        crate::error::respond(self.0, true)
    }
}

/// Reads and validates `{orgId}` from the path.
pub(crate) async fn org_id_from_path(parts: &mut Parts, state: &AppState) -> Result<OrgId, ApiError> {
    let Path(params) = Path::<HashMap<String, String>>::from_request_parts(parts, state)
        .await
        .map_err(|e| ApiError::BadRequest(e.body_text()))?;
    let raw = params.get("orgId").ok_or_else(|| ApiError::Internal(anyhow::anyhow!("route has no {{orgId}}")))?;
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
        Ok(OrgCaller { user_id, org_id, role, limits })
    }
}

/// Counts failed logins per key (account, client IP) in a sliding window. Each process counts the failures
/// it sees; with Redis (`limits.redis_url`) they are also counted there, for every process together, and the
/// longer wait applies. When Redis cannot be reached each process still throttles on its own count.
pub struct LoginThrottle {
    max: u32,
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
    shared: Option<crate::limits::redis::Shared>,
}

impl LoginThrottle {
    /// `max` failures per key within `window`; shared through the limiter's Redis when it has one.
    pub fn new(max: u32, window: Duration, limiter: &crate::limits::Limiter) -> Self {
        Self { max, window, failures: Mutex::new(HashMap::new()), shared: limiter.redis().cloned() }
    }

    fn window_us(&self) -> u64 {
        u64::try_from(self.window.as_micros()).unwrap_or(u64::MAX)
    }

    /// Seconds to wait if any key is over its budget.
    pub async fn blocked(&self, keys: &[String]) -> Option<u64> {
        let local = self.blocked_here(keys);
        let shared = match &self.shared {
            Some(redis) => match redis.login_wait(keys, self.max, self.window_us()).await {
                Ok(0) => None,
                Ok(us) => Some(us / 1_000_000 + 1),
                Err(e) => {
                    tracing::warn!(error = %e, "checking failed logins in Redis failed; this process's count applies");
                    None
                }
            },
            None => None,
        };
        local.max(shared)
    }

    fn blocked_here(&self, keys: &[String]) -> Option<u64> {
        let now = Instant::now();
        let mut map = self.failures.lock();
        let mut wait = None;
        for k in keys {
            if let Some(q) = map.get_mut(k) {
                while q.front().is_some_and(|t| now.duration_since(*t) >= self.window) {
                    q.pop_front();
                }
                if q.len() >= self.max as usize {
                    let oldest = q.front().copied().unwrap_or(now);
                    let secs = self.window.saturating_sub(now.duration_since(oldest)).as_secs() + 1;
                    wait = Some(wait.map_or(secs, |w: u64| w.max(secs)));
                }
            }
        }
        wait
    }

    pub async fn record_failure(&self, keys: &[String]) {
        self.record_here(keys);
        if let Some(redis) = &self.shared
            && let Err(e) = redis.login_failed(keys, self.max, self.window_us()).await
        {
            tracing::warn!(error = %e, "counting a failed login in Redis failed; this process's count applies");
        }
    }

    fn record_here(&self, keys: &[String]) {
        let now = Instant::now();
        let mut map = self.failures.lock();
        if map.len() > 100_000 {
            let window = self.window;
            map.retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < window));
        }
        for k in keys {
            let q = map.entry(k.clone()).or_default();
            q.push_back(now);
            while q.len() > self.max as usize {
                q.pop_front();
            }
        }
    }

    /// Forgets the failures of `key` (a successful login clears its account).
    pub async fn clear(&self, key: &str) {
        self.failures.lock().remove(key);
        if let Some(redis) = &self.shared
            && let Err(e) = redis.login_clear(key).await
        {
            tracing::warn!(error = %e, "clearing failed logins in Redis failed");
        }
    }
}
