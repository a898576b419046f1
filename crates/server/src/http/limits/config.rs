//! `[limits]`: the request rate limits' settings.

use serde::{Deserialize, Serialize};

/// `[limits]` in the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitsConfig {
    /// Master switch for request rate limits (monthly tool-run quotas apply regardless).
    pub enabled: bool,
    /// `redis://host:port/db`: share every limit, the IP lock-out and Hawk nonces across processes
    /// (`TLINK_REDIS_URL`). Empty: in-process, per node.
    pub redis_url: String,
    /// Prefix of every Redis key, so deployments (or tests) can share one Redis.
    pub redis_prefix: String,
    /// Milliseconds to wait for Redis before a check counts as failed.
    pub redis_timeout_ms: u64,
    /// With Redis: the most units of a bucket one check may reserve for this process's next requests
    /// (see `redis::Shared::check`); 0 makes every check one script in Redis.
    pub redis_lease_max: u32,
    /// When Redis cannot answer: `false` lets the request through (logged and counted in
    /// `tlink_ratelimit_backend_errors_total`), `true` answers 503.
    pub fail_closed: bool,
    /// Requests per minute per client IP, on every route; 0 turns the IP limit off.
    pub ip_per_minute: u32,
    /// How long an IP that went over its limit is refused, seconds.
    pub ip_lockout_secs: u64,
    /// Requests per minute per organization on the Threat Stack routes (`/v2`, `/help`), across all its
    /// credentials and whatever its plan: there it is the limit instead of the plan's per-credential one.
    /// 0 leaves only the IP limit on those routes.
    pub org_per_minute: u32,
    /// Requests per minute per organization on `/api` routes; 0 means no organization-wide limit there.
    pub org_per_minute_api: u32,
    /// Requests per minute per credential on routes outside an organization (`/api/users/me`, …).
    pub account_per_minute: u32,
    /// Requests per minute per credential for ENTERPRISE organizations without a custom figure.
    pub enterprise_default_per_minute: u32,
    /// Proxies (IPs or CIDRs) whose `X-Forwarded-For` is believed; from anyone else it is ignored.
    pub trusted_proxies: Vec<String>,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            redis_url: String::new(),
            redis_prefix: "tlink:".into(),
            redis_timeout_ms: 250,
            redis_lease_max: 32,
            fail_closed: false,
            ip_per_minute: 1000,
            ip_lockout_secs: 15 * 60,
            org_per_minute: 200,
            org_per_minute_api: 0,
            account_per_minute: 120,
            enterprise_default_per_minute: 1000,
            trusted_proxies: Vec::new(),
        }
    }
}
