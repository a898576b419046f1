//! Rate limits: per client IP (with a lock-out), per credential (by the organization's plan) and per
//! organization, in process or shared through Redis; and the rate-limit headers.
//!
//! Which limits apply depends on the API family, because each follows its own vendor's promise:
//!
//! | family | limits |
//! |---|---|
//! | TLINK (`/api`, and everything outside `/v2` and `/help`) | the client IP's; each credential's by the organization's plan (FREE 30, PRO 120, BUSINESS 300 a minute, ENTERPRISE custom), or `limits.account_per_minute` outside an organization; the organization's only with `limits.org_per_minute_api` |
//! | Threat Stack (`/v2`, `/help`) | the client IP's; the organization's, `limits.org_per_minute` (200 a minute) across all its credentials. The plan's per-credential limit does not apply: Threat Stack promises its clients 200 a minute per organization, and a FREE plan's 30 would refuse them long before the `x-rate-limit-limit` they are shown |
//!
//! Order of work for a request: [`counted`] finds the client IP and checks its bucket before anything else
//! (a locked-out IP never reaches authentication); on the TLINK routes the auth extractors then check the
//! credential's bucket ([`Limiter::credential`]); on the Threat Stack routes the Hawk middleware checks the
//! organization's as soon as the request is verified ([`Limiter::organization`]), so every verified request
//! of that family counts, unknown routes and refused input included. Each writes its verdicts into the
//! request's [`RateSlot`]; on the way out [`counted`] turns the verdicts into headers.
//!
//! With Redis, a request that carries credentials has its IP counted in the same script as its
//! credential, so an authenticated request costs at most one round trip, not two: the layer refuses at
//! once the lock-outs this process knows of (its own refusals, and every lock-out any process publishes on
//! the lock-out channel). While a bucket is far from its limit, Redis lets a process reserve a few units
//! at once (a lease), so most requests then need no round trip at all (see `redis::Shared::check`). Requests
//! without credentials (login included) are checked before anything else, and a request whose credential
//! was never checked is counted on the way out.
//!
//! Headers, on every response while limits are enabled, errors included. They describe one bucket: the one
//! that refused the request, else the credential's (TLINK) or the organization's (Threat Stack), else —
//! for a request not authenticated — the client IP's.
//!
//! | header | meaning |
//! |---|---|
//! | `X-RateLimit-Limit` | requests per minute of the bucket |
//! | `X-RateLimit-Remaining` | requests left now |
//! | `X-RateLimit-Reset` | Unix epoch seconds when the bucket is full again |
//! | `RateLimit-Policy` | IETF draft: `"<bucket>";q=<limit>;w=60` |
//! | `RateLimit` | IETF draft: `"<bucket>";r=<remaining>;t=<seconds until full>` |
//! | `Retry-After` | TLINK family: on every response, seconds before the bucket takes another request (0 while it has room); Threat Stack family: on a 429 only |
//! | `x-rate-limit-limit` / `-remaining` / `-reset` | Threat Stack family only: reset is the milliseconds to wait when limited, 0 otherwise |
//!
//! Buckets are GCRA ([`gcra`]): a full bucket allows its whole limit at once, then refills evenly over
//! the minute.
//!
//! Refusals are counted in `tlink_ratelimit_refused_total{bucket}` by the bucket that refused (`ip`,
//! `credential`, `organization`); Redis failures in `tlink_ratelimit_backend_errors_total`.

mod config;
pub mod gcra;
mod local;
pub mod openapi;
pub(crate) mod redis;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::extract::{ConnectInfo, Request};
use axum::http::{HeaderMap, HeaderName, HeaderValue};
use axum::response::{IntoResponse, Response};
use ipnet::IpNet;
use parking_lot::Mutex;

use crate::AppState;
use crate::http::error::ApiError;
pub use config::LimitsConfig;
pub use gcra::Decision;
use gcra::{TRIM_AT, now_us};
use local::Local;

const MINUTE_US: u64 = 60_000_000;

enum Backend {
    Local(Local),
    Redis(redis::Shared),
}

/// The limiter: buckets in process or in Redis.
pub struct Limiter {
    config: LimitsConfig,
    trusted: Vec<IpNet>,
    backend: Backend,
    /// With Redis: lock-outs this process has learnt of, so it refuses them before any other work.
    lock_mirror: Mutex<HashMap<IpAddr, u64>>,
}

/// Why a check could not be made (Redis down with `fail_closed`).
#[derive(Debug)]
pub struct Unavailable;

impl Limiter {
    /// # Errors
    /// A malformed trusted proxy or Redis URL.
    pub fn new(config: LimitsConfig) -> anyhow::Result<Limiter> {
        let trusted = config
            .trusted_proxies
            .iter()
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| anyhow::anyhow!("limits.trusted_proxies: `{s}` is not an IP address or CIDR"))
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        let backend = if config.redis_url.is_empty() {
            Backend::Local(Local::default())
        } else {
            let timeout = Duration::from_millis(config.redis_timeout_ms.max(1));
            Backend::Redis(redis::Shared::connect(
                &config.redis_url,
                timeout,
                &config.redis_prefix,
                config.redis_lease_max,
            )?)
        };
        Ok(Limiter { config, trusted, backend, lock_mirror: Mutex::new(HashMap::new()) })
    }

    pub fn config(&self) -> &LimitsConfig {
        &self.config
    }

    /// Whether limits are shared through Redis.
    pub fn shared(&self) -> bool {
        matches!(self.backend, Backend::Redis(_))
    }

    /// The Redis connection, when limits are shared through Redis.
    pub(crate) fn redis(&self) -> Option<&redis::Shared> {
        match &self.backend {
            Backend::Redis(r) => Some(r),
            Backend::Local(_) => None,
        }
    }

    /// Waits up to `within` for Redis; true at once for the in-process backend.
    pub async fn wait_connected(&self, within: Duration) -> bool {
        match &self.backend {
            Backend::Local(_) => true,
            Backend::Redis(r) => r.wait_connected(within).await,
        }
    }

    /// Checks buckets `(key, limit, lockout_us)` in order as one atomic step, stopping at the first
    /// refusal (later buckets are not counted); returns the decisions made.
    async fn check_all(&self, buckets: &[(String, u32, u64)]) -> Result<Vec<Decision>, Unavailable> {
        match &self.backend {
            Backend::Local(l) => {
                let mut out = Vec::with_capacity(buckets.len());
                for (key, limit, lockout) in buckets {
                    let d = l.check(key, *limit, MINUTE_US, *lockout);
                    out.push(d);
                    if !d.allowed {
                        break;
                    }
                }
                Ok(out)
            }
            Backend::Redis(r) => match r.check(buckets, MINUTE_US).await {
                Ok(d) => Ok(d),
                Err(e) => self.backend_failed(&e).map(|()| buckets.iter().map(|b| Decision::open(b.1)).collect()),
            },
        }
    }

    fn ip_bucket(&self, ip: IpAddr) -> (String, u32, u64) {
        (ip_key(ip), self.config.ip_per_minute, self.config.ip_lockout_secs.saturating_mul(1_000_000))
    }

    fn ip_limited(&self) -> bool {
        self.config.enabled && self.config.ip_per_minute > 0
    }

    /// Whether the IP check of a request carrying credentials waits to run with the credential's check, as
    /// one Redis round trip: with Redis only (in process it costs nothing to do it first).
    fn defers_ip(&self, headers: &HeaderMap) -> bool {
        self.shared()
            && self.ip_limited()
            && (headers.contains_key("x-api-key") || headers.contains_key(axum::http::header::AUTHORIZATION))
    }

    /// A lock-out of `ip` this process has seen, still running: microseconds left.
    fn mirrored_lock(&self, ip: IpAddr) -> Option<u64> {
        let now = now_us();
        let own = self.lock_mirror.lock().get(&ip).copied().filter(|&until| until > now).map(|until| until - now);
        own.or_else(|| match &self.backend {
            Backend::Redis(r) => r.known_lock(&self.ip_bucket(ip).0),
            Backend::Local(_) => None,
        })
    }

    fn mirror(&self, ip: IpAddr, d: &Decision) {
        if !d.allowed && self.shared() {
            let now = now_us();
            let mut m = self.lock_mirror.lock();
            if m.len() >= TRIM_AT {
                m.retain(|_, until| *until > now);
            }
            m.insert(ip, now + d.retry_after_us);
        }
    }

    fn backend_failed(&self, e: &dyn std::fmt::Display) -> Result<(), Unavailable> {
        metrics::counter!("tlink_ratelimit_backend_errors_total").increment(1);
        tracing::warn!(error = %e, fail_closed = self.config.fail_closed, "rate-limit backend unavailable");
        if self.config.fail_closed { Err(Unavailable) } else { Ok(()) }
    }

    /// The client IP's bucket, with the lock-out.
    pub async fn ip(&self, ip: IpAddr) -> Result<Option<Decision>, Unavailable> {
        if !self.ip_limited() {
            return Ok(None);
        }
        let d = self.check_all(&[self.ip_bucket(ip)]).await?.first().copied();
        if let Some(d) = &d {
            self.mirror(ip, d);
        }
        Ok(d)
    }

    /// Records a Hawk nonce; false if it was seen within `ttl` (a replay).
    pub async fn first_use(&self, key: &str, ttl: Duration) -> Result<bool, Unavailable> {
        match &self.backend {
            Backend::Local(l) => Ok(l.first_use(key, ttl)),
            Backend::Redis(r) => match r.first_use(key, ttl).await {
                Ok(fresh) => Ok(fresh),
                // Failing open here would let replays through: only with fail_closed off, and logged.
                Err(e) => self.backend_failed(&e).map(|()| true),
            },
        }
    }

    /// The client's address: the socket peer, or — only when the peer is a trusted proxy — the last
    /// address in `X-Forwarded-For` that is not itself a trusted proxy.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        if !self.is_trusted(peer) {
            return peer;
        }
        let hops: Vec<IpAddr> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .filter_map(|s| s.trim().parse::<IpAddr>().ok())
            .collect();
        hops.into_iter().rev().find(|ip| !self.is_trusted(*ip)).unwrap_or(peer)
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.trusted.iter().any(|n| n.contains(&ip))
    }

    /// Checks the credential's bucket (and, with `limits.org_per_minute_api`, the organization's) after
    /// authentication on the TLINK routes, recording the verdicts for the headers. `credential` names the
    /// bucket (an API key, a user's sessions); `per_minute` is its plan's limit. On the Threat Stack family
    /// (`path` under `/v2` or `/help`) the plan does not apply: only the organization's bucket is checked,
    /// as by [`Limiter::organization`].
    pub async fn credential(
        &self,
        slot: Option<&RateSlot>,
        path: &str,
        credential: &str,
        per_minute: u32,
        org: Option<&str>,
    ) -> Result<(), ApiError> {
        if is_threat_stack_path(path) {
            return match org {
                Some(o) => self.organization(slot, o).await,
                None => Ok(()),
            };
        }
        if !self.config.enabled {
            return Ok(());
        }
        // The limit is part of the bucket's name, so a plan change starts a fresh bucket at the new rate
        // instead of inheriting time owed at the old one.
        let key = match org {
            Some(o) => bucket_name(&["cred:", credential, ":", o], per_minute),
            None => bucket_name(&["cred:", credential], per_minute),
        };
        let org_limit = self.config.org_per_minute_api;
        let mut buckets = vec![(key, per_minute, 0)];
        if let Some(o) = org.filter(|_| org_limit > 0) {
            buckets.push((bucket_name(&["org:", o], org_limit), org_limit, 0));
        }
        let decisions = self.after_authentication(slot, buckets).await?;
        let (cred, org_decision) = (decisions.first().copied(), decisions.get(1).copied());
        if let Some(s) = slot {
            let mut v = s.0.lock();
            v.credential = cred;
            v.org = org_decision;
        }
        if let Some(d) = cred.filter(|d| !d.allowed) {
            return Err(refusal("this credential", per_minute, d));
        }
        if let Some(d) = org_decision.filter(|d| !d.allowed) {
            return Err(refusal("this organization", org_limit, d));
        }
        Ok(())
    }

    /// Checks the organization's bucket of the Threat Stack family (`limits.org_per_minute`, 200 a minute
    /// by default, shared by every credential acting in the organization), recording the verdict for the
    /// headers. There, as on Threat Stack, the organization's and the client IP's are the only request
    /// limits: the TLINK plan's per-credential limit governs `/api` only.
    pub async fn organization(&self, slot: Option<&RateSlot>, org: &str) -> Result<(), ApiError> {
        if !self.config.enabled {
            return Ok(());
        }
        let limit = self.config.org_per_minute;
        let buckets = if limit > 0 { vec![(bucket_name(&["ts-org:", org], limit), limit, 0)] } else { Vec::new() };
        let decision = self.after_authentication(slot, buckets).await?.first().copied();
        if let Some(s) = slot {
            s.0.lock().org = decision;
        }
        match decision.filter(|d| !d.allowed) {
            Some(d) => Err(refusal("this organization", limit, d)),
            None => Ok(()),
        }
    }

    /// Checks `buckets` after authentication, preceded by the client IP's when its check was deferred to
    /// share this round trip (see [`Limiter::defers_ip`]). The IP's verdict is recorded in `slot` and its
    /// refusal returned as the error; the decisions on `buckets` are returned, stopping at the first
    /// refusal.
    async fn after_authentication(
        &self,
        slot: Option<&RateSlot>,
        buckets: Vec<(String, u32, u64)>,
    ) -> Result<Vec<Decision>, ApiError> {
        let deferred_ip = slot.and_then(|s| s.0.lock().deferred_ip.take());
        let mut all = Vec::with_capacity(buckets.len() + 1);
        all.extend(deferred_ip.map(|ip| self.ip_bucket(ip)));
        all.extend(buckets);
        if all.is_empty() {
            return Ok(Vec::new());
        }
        let mut decisions = self.check_all(&all).await.map_err(|_| unavailable())?;
        if let Some(addr) = deferred_ip
            && !decisions.is_empty()
        {
            let d = decisions.remove(0);
            self.mirror(addr, &d);
            if let Some(s) = slot {
                s.0.lock().ip = Some(d);
            }
            if !d.allowed {
                return Err(ip_refusal(self.config.ip_per_minute, d));
            }
        }
        Ok(decisions)
    }
}

fn ip_refusal(per_minute: u32, d: Decision) -> ApiError {
    let secs = retry_secs(d);
    ApiError::TooManyRequests {
        message: format!(
            "too many requests from this address ({per_minute} per minute); locked out, retry in {secs} s"
        ),
        retry_after_secs: secs,
    }
}

fn unavailable() -> ApiError {
    ApiError::Unavailable("rate limiting is unavailable; try again shortly".into())
}

fn refusal(who: &str, limit: u32, d: Decision) -> ApiError {
    let secs = retry_secs(d);
    ApiError::TooManyRequests {
        message: format!("rate limit of {limit} requests per minute for {who} exceeded; retry in {secs} s"),
        retry_after_secs: secs,
    }
}

/// A bucket's name: `parts`, then `:` and the limit (`cred:key:…:120`). Written without the formatting
/// machinery, which cost more than the check itself.
fn bucket_name(parts: &[&str], limit: u32) -> String {
    let mut itoa = itoa::Buffer::new();
    let limit = itoa.format(limit);
    let mut name = String::with_capacity(parts.iter().map(|p| p.len()).sum::<usize>() + 1 + limit.len());
    parts.iter().for_each(|p| name.push_str(p));
    name.push(':');
    name.push_str(limit);
    name
}

/// The client IP's bucket: `ip:` and the address as it displays (`ip:192.0.2.1`).
fn ip_key(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let mut itoa = itoa::Buffer::new();
            let mut name = String::with_capacity(18);
            name.push_str("ip:");
            for (i, octet) in v4.octets().into_iter().enumerate() {
                if i > 0 {
                    name.push('.');
                }
                name.push_str(itoa.format(octet));
            }
            name
        }
        IpAddr::V6(_) => format!("ip:{ip}"),
    }
}

fn retry_secs(d: Decision) -> u64 {
    d.retry_after_us.div_ceil(1_000_000).max(1)
}

/// Whether `path` follows Threat Stack's conventions (organization limit, `x-rate-limit-*`, `{"errors"}`).
pub fn is_threat_stack_path(path: &str) -> bool {
    path == "/v2" || path.starts_with("/v2/") || path.starts_with("/help/")
}

/// IPv4-mapped IPv6 addresses count as their IPv4 address.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The verdicts on one request, filled in as it is checked.
#[derive(Debug, Default)]
pub struct Verdicts {
    /// With Redis, the IP of a request with credentials, checked together with the credential.
    pub deferred_ip: Option<IpAddr>,
    pub ip: Option<Decision>,
    pub credential: Option<Decision>,
    pub org: Option<Decision>,
}

/// The request's [`Verdicts`], shared between the layer and the extractors.
#[derive(Debug, Clone, Default)]
pub struct RateSlot(pub Arc<Mutex<Verdicts>>);

/// The IP check before anything else, then `inner`, then the headers on the way out: a step of
/// [`crate::http::gate`].
pub async fn counted<F, Fut>(state: &AppState, mut req: Request, inner: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    let limiter = &state.limiter;
    let threat_stack = is_threat_stack_path(req.uri().path());
    let slot = RateSlot::default();
    let peer = req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip());
    if let Some(peer) = peer {
        let ip = canonical(limiter.client_ip(peer, req.headers()));
        let refused = if limiter.defers_ip(req.headers()) {
            // Counted with the credential after authentication (one Redis round trip); a lock-out this
            // process already knows of is refused now.
            slot.0.lock().deferred_ip = Some(ip);
            limiter.mirrored_lock(ip).map(|left| Decision::locked(limiter.config.ip_per_minute, left))
        } else {
            match limiter.ip(ip).await {
                Ok(d) => {
                    slot.0.lock().ip = d;
                    d.filter(|d| !d.allowed)
                }
                Err(Unavailable) => return crate::http::error::respond(unavailable(), threat_stack),
            }
        };
        if let Some(d) = refused {
            metrics::counter!("tlink_ratelimit_refused_total", "bucket" => "ip").increment(1);
            let mut resp = crate::http::error::respond(ip_refusal(limiter.config.ip_per_minute, d), threat_stack);
            let mut v = slot.0.lock();
            v.ip = Some(d);
            headers(resp.headers_mut(), &v, threat_stack);
            return resp;
        }
    }
    req.extensions_mut().insert(slot.clone());
    let mut resp = inner(req).await;
    // A request whose credentials were never checked (refused before, or on a route without them) still
    // counts against its IP.
    // (The answer is already made; a backend failure here was logged and counted.)
    let pending = slot.0.lock().deferred_ip.take();
    if let Some(ip) = pending
        && let Ok(d) = limiter.ip(ip).await
    {
        slot.0.lock().ip = d;
    }
    let verdicts = slot.0.lock();
    // Counted by the bucket that refused: a 429 no bucket made (the failed-login throttle, a monthly quota)
    // is not a rate-limit refusal.
    if resp.status() == axum::http::StatusCode::TOO_MANY_REQUESTS
        && let Some((bucket, d)) = governing(&verdicts)
        && !d.allowed
    {
        metrics::counter!("tlink_ratelimit_refused_total", "bucket" => bucket).increment(1);
    }
    headers(resp.headers_mut(), &verdicts, threat_stack);
    drop(verdicts);
    resp.into_response()
}

fn now_secs() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The bucket the headers describe, and its name: the one that refused the request if any did; else the
/// credential's (TLINK routes), the organization's (Threat Stack routes), or the client IP's when the
/// request was counted against no other (not authenticated).
fn governing(v: &Verdicts) -> Option<(&'static str, Decision)> {
    let named = [("ip", v.ip), ("credential", v.credential), ("organization", v.org)];
    let refused = named.iter().find_map(|&(n, d)| d.filter(|d| !d.allowed).map(|d| (n, d)));
    refused
        .or_else(|| v.credential.map(|d| ("credential", d)))
        .or_else(|| v.org.map(|d| ("organization", d)))
        .or_else(|| v.ip.map(|d| ("ip", d)))
}

/// Microseconds until the bucket would allow another request: the refusal's wait, or for an allowed
/// request the time until one more unit has refilled when this one took the last (0 while some remain).
fn next_allowed_us(d: Decision) -> u64 {
    if !d.allowed {
        return d.retry_after_us;
    }
    let t = gcra::interval_us(d.limit, MINUTE_US);
    (d.reset_us + t).saturating_sub(t * u64::from(d.limit.max(1)))
}

const X_RATELIMIT_LIMIT: HeaderName = HeaderName::from_static("x-ratelimit-limit");
const X_RATELIMIT_REMAINING: HeaderName = HeaderName::from_static("x-ratelimit-remaining");
const X_RATELIMIT_RESET: HeaderName = HeaderName::from_static("x-ratelimit-reset");
const RATELIMIT_POLICY: HeaderName = HeaderName::from_static("ratelimit-policy");
const RATELIMIT: HeaderName = HeaderName::from_static("ratelimit");
const X_RATE_LIMIT_LIMIT: HeaderName = HeaderName::from_static("x-rate-limit-limit");
const X_RATE_LIMIT_REMAINING: HeaderName = HeaderName::from_static("x-rate-limit-remaining");
const X_RATE_LIMIT_RESET: HeaderName = HeaderName::from_static("x-rate-limit-reset");

/// Writes the rate-limit headers for the verdicts (see the module documentation).
fn headers(h: &mut HeaderMap, v: &Verdicts, threat_stack: bool) {
    let Some((name, main)) = governing(v) else { return };
    let reset_secs = main.reset_us.div_ceil(1_000_000);
    h.reserve(if threat_stack { 8 } else { 6 });
    h.insert(X_RATELIMIT_LIMIT, HeaderValue::from(main.limit));
    h.insert(X_RATELIMIT_REMAINING, HeaderValue::from(main.remaining));
    h.insert(X_RATELIMIT_RESET, HeaderValue::from(now_secs() + reset_secs));
    // `"<bucket>";q=<limit>;w=60` and `"<bucket>";r=<remaining>;t=<seconds>`.
    let (mut n, mut t) = (itoa::Buffer::new(), itoa::Buffer::new());
    let draft = |fields: &[&str]| HeaderValue::try_from(fields.concat()).ok();
    if let Some(policy) = draft(&["\"", name, "\";q=", n.format(main.limit), ";w=60"]) {
        h.insert(RATELIMIT_POLICY, policy);
    }
    if let Some(state) = draft(&["\"", name, "\";r=", n.format(main.remaining), ";t=", t.format(reset_secs)]) {
        h.insert(RATELIMIT, state);
    }
    if threat_stack {
        let wait_ms = if main.allowed { 0 } else { main.retry_after_us.div_ceil(1000) };
        h.insert(X_RATE_LIMIT_LIMIT, HeaderValue::from(main.limit));
        h.insert(X_RATE_LIMIT_REMAINING, HeaderValue::from(main.remaining));
        h.insert(X_RATE_LIMIT_RESET, HeaderValue::from(wait_ms));
    } else if !h.contains_key(axum::http::header::RETRY_AFTER) {
        // TLINK PRO promises `Retry-After` on every response: the seconds before this bucket takes another
        // request, 0 while it has room. A 429 already carries its own (a monthly quota's may be longer).
        h.insert(axum::http::header::RETRY_AFTER, HeaderValue::from(next_allowed_us(main).div_ceil(1_000_000)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(trusted: &[&str]) -> Limiter {
        let config = LimitsConfig {
            trusted_proxies: trusted.iter().map(|s| s.to_string()).collect(),
            ..LimitsConfig::default()
        };
        Limiter::new(config).expect("limiter")
    }

    fn xff(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_str(v).expect("header"));
        h
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let peer: IpAddr = "10.0.0.5".parse().expect("ip");
        let client: IpAddr = "203.0.113.9".parse().expect("ip");
        assert_eq!(limiter(&[]).client_ip(peer, &xff("203.0.113.9")), peer);
        let l = limiter(&["10.0.0.0/8"]);
        assert_eq!(l.client_ip(peer, &xff("203.0.113.9")), client);
        // A client cannot hide behind an address it prepends itself: the last untrusted hop wins.
        assert_eq!(l.client_ip(peer, &xff("198.51.100.1, 203.0.113.9, 10.0.0.7")), client);
        assert_eq!(l.client_ip(peer, &HeaderMap::new()), peer);
        assert_eq!(l.client_ip(peer, &xff("garbage")), peer);
        let mapped: IpAddr = "::ffff:10.0.0.5".parse().expect("ip");
        assert_eq!(l.client_ip(mapped, &xff("203.0.113.9")), client);
    }

    #[test]
    fn the_ip_lock_out_outlasts_the_window() {
        let local = Local::default();
        for _ in 0..3 {
            assert!(local.check("ip:x", 3, MINUTE_US, 900_000_000).allowed);
        }
        let d = local.check("ip:x", 3, MINUTE_US, 900_000_000);
        assert!(!d.allowed);
        assert_eq!(d.retry_after_us, 900_000_000);
        let again = local.check("ip:x", 3, MINUTE_US, 900_000_000);
        assert!(!again.allowed && again.retry_after_us > MINUTE_US, "still locked: {again:?}");
        assert!(local.check("ip:y", 3, MINUTE_US, 900_000_000).allowed, "other addresses are not affected");
    }

    /// The names are Redis keys too: written by hand, they must read exactly as formatted ones.
    #[test]
    fn bucket_names_read_as_formatted() {
        for ip in ["0.0.0.0", "10.0.0.1", "192.168.100.255", "255.255.255.255", "2001:db8::1", "::1"] {
            let ip: IpAddr = ip.parse().expect("ip");
            assert_eq!(ip_key(ip), format!("ip:{ip}"));
        }
        assert_eq!(bucket_name(&["cred:", "key:k1", ":", "org1"], 120), "cred:key:k1:org1:120");
        assert_eq!(bucket_name(&["ts-org:", "o"], 0), "ts-org:o:0");
    }

    #[test]
    fn nonces_are_accepted_once() {
        let local = Local::default();
        assert!(local.first_use("k:n1", Duration::from_secs(60)));
        assert!(!local.first_use("k:n1", Duration::from_secs(60)));
        assert!(local.first_use("k:n2", Duration::from_secs(60)));
    }
}
