//! Hawk request authentication (Threat Stack's scheme): `Authorization: Hawk id="<user id>", …,
//! ext="<organization id>", mac="…"`, signed with one of the user's API keys.
//!
//! [`verify`] does the whole check before routing, because the payload hash needs the body: parse the
//! header, find the user's key whose MAC matches (keys are kept sealed for this; see the `api_keys`
//! migration), verify the payload hash when a body was sent, refuse a replayed nonce (remembered for twice
//! the allowed skew, in Redis when limits are shared) and a stale timestamp (answered with the server's
//! time in `WWW-Authenticate`), and check that `ext` names one of the user's organizations. The verified
//! identity travels to the auth extractors as a [`HawkAuth`] extension. On the Threat Stack family (`/v2`,
//! `/help`) the organization's request limit is checked here, right after verification (the organization
//! is known only once `ext` is verified; see [`crate::http::limits`]). Every response to a verified
//! request is signed, a refusal by the rate limit included: `Server-Authorization: Hawk mac="…", hash="…"`
//! over the exact body and content type.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use tlink_domain::hawk::{self, Artifacts, Kind};
use tlink_domain::{ApiKeyId, OrgId, PlanLimits, Role, UserId};

use crate::AppState;
use crate::http::error::ApiError;
use crate::http::limits::{RateSlot, is_threat_stack_path};

/// `[hawk]` in the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HawkConfig {
    /// Accept `Authorization: Hawk …` on every route.
    pub enabled: bool,
    /// Allowed difference between the client's clock and ours, seconds.
    pub skew_secs: i64,
    /// The host clients sign, when a proxy in front rewrites `Host`; empty: the request's `Host`.
    pub host: String,
    /// The port clients sign (e.g. 443 behind a TLS-terminating proxy); 0: from the request's `Host`
    /// (80 when it names none).
    pub port: u16,
}

impl Default for HawkConfig {
    fn default() -> Self {
        Self { enabled: true, skew_secs: hawk::DEFAULT_TIMESTAMP_SKEW_SECS, host: String::new(), port: 0 }
    }
}

/// A verified Hawk request.
#[derive(Debug, Clone)]
pub struct HawkAuth {
    pub user_id: UserId,
    pub key_id: ApiKeyId,
    /// The organization named by `ext`, with the user's role and its plan.
    pub org: Option<(OrgId, Role, PlanLimits)>,
}

fn is_hawk(value: &HeaderValue) -> bool {
    value.as_bytes().get(..5).is_some_and(|s| s.eq_ignore_ascii_case(b"hawk "))
}

/// A Hawk refusal: 401 (or 400 for a malformed header) with `WWW-Authenticate: Hawk …`.
fn refuse(status: StatusCode, message: &str, www: String, threat_stack: bool) -> Response {
    let err = if status == StatusCode::BAD_REQUEST {
        ApiError::BadRequest(message.to_string())
    } else {
        ApiError::Unauthorized(message.to_string())
    };
    let mut resp = crate::http::error::respond(err, threat_stack);
    if let Ok(v) = HeaderValue::from_str(&www) {
        resp.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    resp
}

fn unauthorized(message: &str, threat_stack: bool) -> Response {
    refuse(StatusCode::UNAUTHORIZED, message, hawk::www_authenticate(message), threat_stack)
}

/// Host and port as the client signed them.
fn host_port(cfg: &HawkConfig, req: &Request) -> (String, u16) {
    let raw = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.as_str().to_string()))
        .unwrap_or_default();
    let (host, port) = split_host(&raw);
    let host = if cfg.host.is_empty() { host } else { cfg.host.clone() };
    let port = if cfg.port != 0 { cfg.port } else { port.unwrap_or(80) };
    (host, port)
}

/// `host[:port]` or `[v6][:port]`, the way the reference reads `Host`.
fn split_host(raw: &str) -> (String, Option<u16>) {
    if let Some(rest) = raw.strip_prefix('[') {
        let (h, after) = rest.split_once(']').unwrap_or((rest, ""));
        return (h.to_string(), after.strip_prefix(':').and_then(|p| p.parse().ok()));
    }
    match raw.rsplit_once(':') {
        Some((h, p)) => (h.to_string(), p.parse().ok()),
        None => (raw.to_string(), None),
    }
}

/// The verification (see the module documentation), a step of [`crate::http::gate`]: `inner` answers
/// the request when it carries no Hawk header, or once its header is verified (its response is then signed).
pub async fn verify<F, Fut>(state: &AppState, req: Request, inner: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    let cfg = &state.config.hawk;
    let Some(auth) = req.headers().get(header::AUTHORIZATION).filter(|v| is_hawk(v)).cloned() else {
        return inner(req).await;
    };
    let threat_stack = is_threat_stack_path(req.uri().path());
    if !cfg.enabled {
        return unauthorized("Hawk authentication is disabled on this server", threat_stack);
    }
    if super::headers::credential_headers(req.headers()) > 1 {
        return unauthorized(super::headers::MIXED_CREDENTIALS, threat_stack);
    }
    let parsed = match auth.to_str().map_err(|_| hawk::ParseError::InvalidSyntax).and_then(hawk::parse_authorization) {
        Ok(h) => h,
        Err(e) if e.is_bad_request() => {
            return refuse(
                StatusCode::BAD_REQUEST,
                &e.to_string(),
                hawk::www_authenticate(&e.to_string()),
                threat_stack,
            );
        }
        Err(e) => return unauthorized(&e.to_string(), threat_stack),
    };
    let (host, port) = host_port(cfg, &req);
    let method = req.method().as_str().to_string();
    let resource = req.uri().path_and_query().map_or_else(|| req.uri().path().to_string(), |p| p.as_str().to_string());
    let artifacts = parsed.artifacts(&method, &resource, &host, port);

    // Credentials: the user's keys, the one whose MAC matches.
    let Ok(user_id) = UserId::parse(&parsed.id) else { return unauthorized("Unknown credentials", threat_stack) };
    // Every live key of the user is tried (a user has at most `MAX_LIVE_KEYS`); a MAC costs about a
    // microsecond.
    let keys = match state.store.hawk_keys(&user_id).await {
        Ok(k) => k,
        Err(e) => return ApiError::from(e).into_response_for(threat_stack),
    };
    if keys.is_empty() {
        return unauthorized("Unknown credentials", threat_stack);
    }
    let mut matched = None;
    for k in keys {
        let Some(secret) = state.sealer.open(&k.sealed_key) else { continue };
        let expected = hawk::mac(secret.as_bytes(), Kind::Header, &artifacts);
        if hawk::constant_time_eq(&expected, &parsed.mac) {
            matched = Some((k.id, k.last_used_at, secret));
            break;
        }
    }
    let Some((key_id, last_used_at, secret)) = matched else { return unauthorized("Bad mac", threat_stack) };

    // The body, for the payload hash (bounded like every body).
    let (parts, body) = req.into_parts();
    let content_type =
        parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let bytes: Bytes = match axum::body::to_bytes(body, state.config.max_body_bytes).await {
        Ok(b) => b,
        Err(_) => {
            let err = ApiError::PayloadTooLarge(format!("request body over {} bytes", state.config.max_body_bytes));
            return err.into_response_for(threat_stack);
        }
    };
    match parsed.hash.as_deref() {
        None if !bytes.is_empty() => return unauthorized("Missing required payload hash", threat_stack),
        Some(claimed) => {
            let actual = hawk::payload_hash(&content_type, &bytes);
            if !hawk::constant_time_eq(&actual, claimed) {
                return unauthorized("Bad payload hash", threat_stack);
            }
        }
        None => {}
    }

    // Replay and clock.
    let skew = cfg.skew_secs.max(1);
    let window = Duration::from_secs(u64::try_from(skew).unwrap_or(60) * 2);
    let nonce_key = format!("{key_id}:{}:{}", parsed.ts, parsed.nonce);
    match state.limiter.first_use(&nonce_key, window).await {
        Ok(true) => {}
        Ok(false) => return unauthorized("Invalid nonce", threat_stack),
        Err(_) => {
            return ApiError::Unavailable("replay protection is unavailable; try again shortly".into())
                .into_response_for(threat_stack);
        }
    }
    let now_ms = tlink_store::now_millis();
    if !hawk::timestamp_is_fresh(&parsed.ts, now_ms, skew) {
        let now = now_ms / 1000;
        let www = hawk::www_authenticate_stale(now, &hawk::ts_mac(secret.as_bytes(), now));
        return refuse(StatusCode::UNAUTHORIZED, "Stale timestamp", www, threat_stack);
    }

    // The organization the request acts in.
    let org = match parsed.ext.as_deref() {
        None if threat_stack => {
            return unauthorized("Missing organization: send the organization id as Hawk ext", threat_stack);
        }
        None => None,
        Some(ext) => {
            let Ok(org_id) = OrgId::parse(ext) else {
                return unauthorized("Unknown organization in ext", threat_stack);
            };
            match state.store.membership(&org_id, &user_id).await {
                Ok(Some((role, limits))) => Some((org_id, role, limits)),
                Ok(None) => return unauthorized("Unknown organization in ext", threat_stack),
                Err(e) => return ApiError::from(e).into_response_for(threat_stack),
            }
        }
    };

    super::headers::record_key_use(state, &key_id, last_used_at);
    let answered = Artifacts { hash: None, ext: None, ..artifacts };

    // The Threat Stack family's request limit is the organization's, counted here for every verified
    // request of the family, whatever route it asks for.
    if threat_stack && let Some((org_id, ..)) = &org {
        let slot = parts.extensions.get::<RateSlot>();
        if let Err(e) = state.limiter.organization(slot, org_id.as_str()).await {
            return sign(e.into_response_for(true), secret.as_bytes(), &answered).await;
        }
    }

    let mut req = Request::from_parts(parts, Body::from(bytes));
    req.extensions_mut().insert(HawkAuth { user_id, key_id, org });
    let resp = inner(req).await;
    sign(resp, secret.as_bytes(), &answered).await
}

/// Adds `Server-Authorization` over the exact response body.
async fn sign(resp: Response, key: &[u8], request: &Artifacts<'_>) -> Response {
    let (mut parts, body) = resp.into_parts();
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return ApiError::Internal(anyhow::anyhow!("reading the response body to sign it")).into_response_for(false);
    };
    let content_type =
        parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    let hash = hawk::payload_hash(&content_type, &bytes);
    let artifacts = Artifacts { hash: Some(&hash), ext: None, ..*request };
    let mac = hawk::mac(key, Kind::Response, &artifacts);
    if let Ok(value) = hawk::server_authorization(&mac, Some(&hash), None)
        && let Ok(v) = HeaderValue::from_str(&value)
    {
        parts.headers.insert(HeaderName::from_static("server-authorization"), v);
    }
    Response::from_parts(parts, Body::from(bytes))
}

impl ApiError {
    /// This error as the route's convention wants it (see [`crate::http::error::respond`]).
    pub fn into_response_for(self, threat_stack: bool) -> Response {
        crate::http::error::respond(self, threat_stack)
    }
}

#[cfg(test)]
mod tests {
    use super::split_host;

    #[test]
    fn host_headers_split_like_the_reference() {
        assert_eq!(split_host("example.com:8000"), ("example.com".into(), Some(8000)));
        assert_eq!(split_host("example.com"), ("example.com".into(), None));
        assert_eq!(split_host("[::1]:8080"), ("::1".into(), Some(8080)));
        assert_eq!(split_host("[::1]"), ("::1".into(), None));
        assert_eq!(split_host("127.0.0.1:38211"), ("127.0.0.1".into(), Some(38211)));
    }
}
