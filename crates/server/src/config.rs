//! Configuration: built-in defaults, then a TOML file, then `TLINK_*` environment variables.
//!
//! Nested keys are set from the environment with `__` between levels: `TLINK_TOOLS__ALLOW_PRIVATE_TARGETS=true`,
//! `TLINK_TOOLS__ABUSEIPDB__API_KEY=…`, `TLINK_WORKER__CONCURRENCY=16`.
//!
//! `config.default.toml` at the repository root is the documented default; `tlink config default` prints
//! it, and a test checks that it parses to exactly [`Config::default`].

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::Context;
use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};

/// The documented default configuration file.
pub const DEFAULT_TOML: &str = include_str!("../../../config.default.toml");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// Address the HTTP API listens on.
    pub listen: SocketAddr,
    /// Directory for the embedded database and generated secrets.
    pub data_dir: PathBuf,
    /// `sqlite://path` or `postgres://user@host/db`; empty means `<data_dir>/tlink.db`.
    pub database_url: String,
    /// PostgreSQL pool size, or the number of SQLite reader connections.
    pub database_pool_size: usize,
    /// When both are set, this user (and a first organization) is created at start if missing.
    pub admin_email: String,
    pub admin_password: String,
    /// Name of the organization created with the admin user.
    pub admin_org: String,
    /// Whether any signed-in user may create organizations (each with its own FREE quota); when false only
    /// instance operators may.
    pub self_service_orgs: bool,
    /// HMAC secret for access tokens and list cursors; empty means generated once and kept in
    /// `<data_dir>/jwt_secret`.
    pub jwt_secret: String,
    /// Key (at least 32 characters) that encrypts stored webhook signing secrets; empty means generated once
    /// and kept in `<data_dir>/secrets_key`.
    pub secrets_key: String,
    /// Lifetime of access tokens, seconds.
    pub access_token_ttl_secs: u64,
    /// Lifetime of refresh tokens, days.
    pub refresh_token_ttl_days: u64,
    /// Failed logins allowed per account and per client IP within `login_window_secs` (counted in Redis,
    /// for every process together, when `limits.redis_url` is set).
    pub login_max_failures: u32,
    pub login_window_secs: u64,
    /// Largest request body accepted, bytes.
    pub max_body_bytes: usize,
    /// Connection limits and timeouts.
    pub http: crate::http::connections::HttpConfig,
    /// `text` or `json`.
    pub log_format: String,
    /// Log filter, in `RUST_LOG` syntax (`RUST_LOG` wins when set).
    pub log_level: String,
    /// Background workers (tool runs and other jobs).
    pub worker: crate::jobs::worker::WorkerConfig,
    /// The tools: egress policy, resolvers, providers, limits.
    pub tools: tlink_tools::ToolsConfig,
    /// Continuous monitoring of assets.
    pub monitoring: crate::monitoring::MonitoringConfig,
    /// How long a webhook receiver has to answer, seconds.
    pub webhook_timeout_secs: u64,
    /// The SMTP server for alert e-mail (`TLINK_SMTP_HOST`, …); no host means e-mail is not sent.
    pub smtp: tlink_tools::notify::SmtpConfig,
    /// Request rate limits (per IP, credential and organization), optionally shared through Redis
    /// (`TLINK_REDIS_URL`).
    pub limits: crate::http::limits::LimitsConfig,
    /// Hawk request authentication (Threat Stack's scheme).
    pub hawk: crate::http::auth::hawk::HawkConfig,
    /// An agent that has not reported for this long is `offline`, seconds.
    pub agent_offline_after_secs: u64,
    /// The dashboard.
    pub web: crate::web::session::WebConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data_dir: PathBuf::from("./tlink-data"),
            database_url: String::new(),
            database_pool_size: 8,
            admin_email: String::new(),
            admin_password: String::new(),
            admin_org: "Default".to_string(),
            self_service_orgs: true,
            jwt_secret: String::new(),
            secrets_key: String::new(),
            access_token_ttl_secs: 15 * 60,
            refresh_token_ttl_days: 30,
            login_max_failures: 10,
            login_window_secs: 15 * 60,
            max_body_bytes: 1024 * 1024,
            http: crate::http::connections::HttpConfig::default(),
            log_format: "text".to_string(),
            log_level: "info".to_string(),
            worker: crate::jobs::worker::WorkerConfig::default(),
            tools: tlink_tools::ToolsConfig::default(),
            monitoring: crate::monitoring::MonitoringConfig::default(),
            webhook_timeout_secs: 15,
            smtp: tlink_tools::notify::SmtpConfig::default(),
            limits: crate::http::limits::LimitsConfig::default(),
            hawk: crate::http::auth::hawk::HawkConfig::default(),
            agent_offline_after_secs: 300,
            web: crate::web::session::WebConfig::default(),
        }
    }
}

/// Variables that share the `TLINK_` prefix but are not configuration keys: the command line's own
/// (`TLINK_CONFIG`, `TLINK_NEW_USER_PASSWORD`, `TLINK_AGENT_*`, `TLINK_COPY_FROM`/`TLINK_COPY_TO` of
/// `tlink db copy`), the build's (`TLINK_GIT_REV`, which Cargo also sets when it runs the tests) and the
/// test suite's.
/// `TLINK_REDIS_URL` is read as `limits.redis_url`.
const NOT_CONFIG: &[&str] = &[
    "CONFIG",
    "NEW_USER_PASSWORD",
    "AGENT_SERVER",
    "AGENT_TOKEN",
    "COPY_FROM",
    "COPY_TO",
    "GIT_REV",
    "TEST_DATABASE_URL",
    "TEST_REDIS_URL",
    "REDIS_URL",
];

impl Config {
    /// Loads defaults, then `file` (or `./tlink.toml` if it exists), then `TLINK_*` variables.
    pub fn load(file: Option<&Path>) -> anyhow::Result<Config> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(path) => {
                anyhow::ensure!(path.exists(), "config file {} does not exist", path.display());
                fig = fig.merge(Toml::file(path));
            }
            None if Path::new("tlink.toml").exists() => fig = fig.merge(Toml::file("tlink.toml")),
            None => {}
        }
        fig = fig.merge(
            Env::prefixed("TLINK_")
                .filter(|k| {
                    let k = k.as_str().to_ascii_uppercase();
                    // `TLINK_SMTP_HOST` and friends are read below as `smtp.host`.
                    let smtp_flat = k.starts_with("SMTP_") && !k.starts_with("SMTP__");
                    !smtp_flat && !NOT_CONFIG.contains(&k.as_str())
                })
                .split("__"),
        );
        fig = fig.merge(
            Env::prefixed("TLINK_SMTP_")
                .filter(|k| !k.as_str().starts_with('_'))
                .map(|k| format!("smtp.{}", k.as_str().to_ascii_lowercase()).into()),
        );
        fig = fig.merge(Env::raw().only(&["TLINK_REDIS_URL"]).map(|_| "limits.redis_url".into()));
        fig.extract().context("invalid configuration")
    }

    /// The database URL to use: the configured one, or SQLite in the data directory.
    pub fn database_url(&self) -> String {
        if self.database_url.is_empty() {
            format!("sqlite://{}", self.data_dir.join("tlink.db").display())
        } else {
            self.database_url.clone()
        }
    }

    /// The token secret: configured, or read from (or generated into) `<data_dir>/jwt_secret`.
    pub fn resolve_jwt_secret(&self) -> anyhow::Result<Vec<u8>> {
        self.resolve_secret("jwt_secret", &self.jwt_secret)
    }

    /// The key sealing stored secrets: configured, or read from (or generated into) `<data_dir>/secrets_key`.
    pub fn resolve_secrets_key(&self) -> anyhow::Result<Vec<u8>> {
        self.resolve_secret("secrets_key", &self.secrets_key)
    }

    fn resolve_secret(&self, name: &str, configured: &str) -> anyhow::Result<Vec<u8>> {
        if !configured.is_empty() {
            anyhow::ensure!(configured.len() >= 32, "{name} must be at least 32 characters");
            return Ok(configured.as_bytes().to_vec());
        }
        let path = self.data_dir.join(name);
        if let Ok(existing) = std::fs::read_to_string(&path) {
            let s = existing.trim();
            anyhow::ensure!(s.len() >= 32, "{} is too short; delete it to regenerate", path.display());
            return Ok(s.as_bytes().to_vec());
        }
        std::fs::create_dir_all(&self.data_dir)
            .with_context(|| format!("creating data directory {}", self.data_dir.display()))?;
        let secret = crate::credentials::random_token(48);
        write_private(&path, &secret).with_context(|| format!("writing {}", path.display()))?;
        tracing::info!(path = %path.display(), "generated a new {name}");
        Ok(secret.into_bytes())
    }
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(path)?;
    f.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    #[allow(clippy::result_large_err)] // the closure's error type is figment's
    fn command_line_variables_are_not_configuration_keys() {
        figment::Jail::expect_with(|jail| {
            jail.set_env("TLINK_CONFIG", "/nonexistent.toml");
            jail.set_env("TLINK_NEW_USER_PASSWORD", "secret-password");
            jail.set_env("TLINK_AGENT_TOKEN", "tlagent_x");
            jail.set_env("TLINK_AGENT_SERVER", "http://127.0.0.1:1");
            jail.set_env("TLINK_LISTEN", "127.0.0.1:9999");
            let cfg = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(cfg.listen.port(), 9999);
            jail.set_env("TLINK_TOOLS__ALLOW_PRIVATE_TARGETS", "true");
            jail.set_env("TLINK_TOOLS__ABUSEIPDB__API_KEY", "k");
            let cfg = Config::load(None).map_err(|e| e.to_string())?;
            assert!(cfg.tools.allow_private_targets);
            assert_eq!(cfg.tools.abuseipdb.api_key, "k");
            jail.set_env("TLINK_REDIS_URL", "redis://127.0.0.1:6379/0");
            let cfg = Config::load(None).map_err(|e| e.to_string())?;
            assert_eq!(cfg.limits.redis_url, "redis://127.0.0.1:6379/0");
            jail.set_env("TLINK_LISTN", "127.0.0.1:9999");
            assert!(Config::load(None).is_err(), "a misspelt key is an error");
            Ok(())
        });
    }

    #[test]
    fn documented_default_matches_built_in_default() {
        let parsed: Config = toml::from_str(DEFAULT_TOML).expect("config.default.toml parses");
        assert_eq!(parsed, Config::default());
    }
}
