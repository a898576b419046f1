//! The threat-intelligence tools.
//!
//! Each tool is a real client of its protocol (DNS, WHOIS over TCP 43, TLS, TCP banners, HTTPS to providers)
//! and returns a JSON document whose shape is documented by a schema ([`ResultSchema::result_schema`]); alert
//! rules address its fields with dotted paths, so field names are part of the public contract.
//!
//! This crate is the only code that opens connections to targets and providers. Every connection to a
//! target goes through [`Toolbox::connect_tcp`] or [`Toolbox::resolve_host`], which apply the [`Egress`]
//! policy to the *resolved* address (a name that resolves to 127.0.0.1 is refused like 127.0.0.1 itself).
//!
//! A run never panics on bad remote data: failures of the whole run are a [`ToolError`]; failures of one
//! provider inside a run are recorded in that provider's section (see [`provider`]).

#![forbid(unsafe_code)]

pub mod config;
pub mod dns;
pub mod egress;
pub mod email;
pub mod exposure;
pub mod feed;
#[doc(hidden)]
pub mod fuzzing;
mod lists;
pub mod notify;
pub mod provider;
pub mod reputation;
mod schema;
pub mod ssl;
pub mod whois;

/// What a tool runs against; the type lives in the domain crate and is re-exported here.
pub mod target {
    pub use tlink_domain::{InvalidTarget, Target};
}

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;

pub use config::ToolsConfig;
pub use egress::Egress;
pub use tlink_domain::{InvalidTarget, Target, ToolKey};

/// The JSON Schema of each tool's result.
///
/// [`ToolKey`] lives in the domain crate, which knows nothing of the result types, so the schema is given here.
pub trait ResultSchema {
    /// The JSON Schema (draft 2020-12, self-contained with `$defs`) of this tool's result.
    fn result_schema(self) -> serde_json::Value;
}

impl ResultSchema for ToolKey {
    fn result_schema(self) -> serde_json::Value {
        match self {
            ToolKey::Dns => schema::of::<dns::DnsResult>(),
            ToolKey::Whois => schema::of::<whois::WhoisResult>(),
            ToolKey::IpReputation => schema::of::<reputation::ReputationResult>(),
            ToolKey::Email => schema::of::<email::EmailResult>(),
            ToolKey::Exposure => schema::of::<exposure::ExposureResult>(),
            ToolKey::Ssl => schema::of::<ssl::SslResult>(),
            ToolKey::ThreatFeed => schema::of::<feed::ThreatFeedResult>(),
        }
    }
}

/// Why a run failed as a whole.
#[derive(Debug, thiserror::Error)]
pub enum ToolError {
    /// The target does not fit the tool, or an option is invalid. Not retried.
    #[error("{0}")]
    InvalidInput(String),
    /// The egress policy refused the address. Not retried.
    #[error("{0}")]
    Refused(String),
    /// The run did not finish within its deadline. Retried.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
    /// A network or protocol failure. Retried.
    #[error("{0}")]
    Failed(String),
}

/// A target that does not fit the tool is invalid input, with the same message.
impl From<InvalidTarget> for ToolError {
    fn from(e: InvalidTarget) -> Self {
        ToolError::InvalidInput(e.0)
    }
}

impl ToolError {
    /// Whether running the same job again could succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ToolError::Timeout(_) | ToolError::Failed(_))
    }
}

/// Per-run options beyond the target (`options` in the API, flags in the CLI).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
pub struct RunOptions {
    /// `exposure`: ports to scan, e.g. `"22,80,443"`, `"1-1024"`, `"top100"` or `"all"`; default from configuration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ports: Option<String>,
    /// `ssl`: port to connect to when the target carries none (default 443).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

/// Progress of a long run (the exposure scan); the CLI draws a bar, workers ignore it.
pub trait Progress: Send + Sync {
    fn set_total(&self, total: u64);
    fn inc(&self, n: u64);
}

/// A [`Progress`] that ignores updates.
pub struct NoProgress;

impl Progress for NoProgress {
    fn set_total(&self, _total: u64) {}
    fn inc(&self, _n: u64) {}
}

/// Everything a tool run needs: configuration, the resolver, the HTTP client and the egress policy.
/// Cheap to clone; build one per process.
#[derive(Clone)]
pub struct Toolbox {
    inner: Arc<Inner>,
}

struct Inner {
    config: ToolsConfig,
    egress: Egress,
    resolver: TokioResolver,
    stub: dns::client::Resolvers,
    http: reqwest::Client,
}

impl Toolbox {
    /// Builds the resolver and HTTP client from `config`.
    ///
    /// # Errors
    /// A message naming the configuration key that is invalid.
    pub fn new(config: ToolsConfig) -> Result<Toolbox, ToolError> {
        let egress = Egress::from_config(&config)?;
        let resolver = dns::build_resolver(&config)?;
        let stub = dns::stub_resolvers(&config)?;
        let http = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
            .timeout(Duration::from_millis(config.http_timeout_ms))
            .build()
            .map_err(|e| ToolError::InvalidInput(format!("building the HTTP client: {e}")))?;
        Ok(Toolbox { inner: Arc::new(Inner { config, egress, resolver, stub, http }) })
    }

    pub fn config(&self) -> &ToolsConfig {
        &self.inner.config
    }

    pub fn egress(&self) -> &Egress {
        &self.inner.egress
    }

    /// The resolver built from `tools.resolvers` (the system's when empty).
    pub fn resolver(&self) -> &TokioResolver {
        &self.inner.resolver
    }

    /// The resolvers record inspection asks, without a cache ([`dns::client`]).
    pub(crate) fn stub(&self) -> &dns::client::Resolvers {
        &self.inner.stub
    }

    /// The HTTP client for providers: no redirects, configured timeouts and user agent.
    pub fn http(&self) -> &reqwest::Client {
        &self.inner.http
    }

    /// Runs `key` against `target`. The caller (worker or CLI) applies the overall deadline.
    ///
    /// # Errors
    /// [`ToolError`] when the run fails as a whole; provider failures are recorded inside the result.
    pub async fn run(
        &self,
        key: ToolKey,
        target: &Target,
        options: &RunOptions,
        progress: &dyn Progress,
    ) -> Result<serde_json::Value, ToolError> {
        match key {
            ToolKey::Dns => to_json(dns::run(self, target).await?),
            ToolKey::Whois => to_json(whois::run(self, target).await?),
            ToolKey::IpReputation => to_json(reputation::run(self, target).await?),
            ToolKey::Email => to_json(email::run(self, target).await?),
            ToolKey::Exposure => to_json(exposure::run(self, target, options, progress).await?),
            ToolKey::Ssl => to_json(ssl::run(self, target, options).await?),
            ToolKey::ThreatFeed => to_json(feed::run(self, target).await?),
        }
    }

    /// Resolves `host` (a name or an IP literal) and returns the addresses the egress policy allows.
    ///
    /// # Errors
    /// [`ToolError::Refused`] when every address is refused, [`ToolError::Failed`] when the name does not resolve.
    pub async fn resolve_host(&self, host: &str) -> Result<Vec<IpAddr>, ToolError> {
        let addrs = match host.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => dns::resolve_addresses(self, host).await?,
        };
        self.inner.egress.filter(host, addrs)
    }

    /// Opens a TCP connection to `host:port` after applying the egress policy to the resolved addresses,
    /// trying each allowed address in turn within `timeout`.
    ///
    /// # Errors
    /// [`ToolError::InvalidInput`] for port 0, which no connection can reach; as [`Toolbox::resolve_host`]; and
    /// [`ToolError::Failed`] when no address accepts the connection.
    pub async fn connect_tcp(
        &self,
        host: &str,
        port: u16,
        timeout: Duration,
    ) -> Result<(TcpStream, SocketAddr), ToolError> {
        if port == 0 {
            let host =
                if host.contains(':') && !host.starts_with('[') { format!("[{host}]") } else { host.to_string() };
            return Err(ToolError::InvalidInput(format!("{host}:0: the port must be 1-65535")));
        }
        let addrs = self.resolve_host(host).await?;
        let mut last = None;
        for ip in addrs {
            let addr = SocketAddr::new(ip, port);
            match tokio::time::timeout(timeout, TcpStream::connect(addr)).await {
                Ok(Ok(stream)) => return Ok((stream, addr)),
                Ok(Err(e)) => last = Some(format!("connecting to {addr}: {e}")),
                Err(_) => last = Some(format!("connecting to {addr}: timed out after {timeout:?}")),
            }
        }
        Err(ToolError::Failed(last.unwrap_or_else(|| format!("{host} has no address"))))
    }
}

fn to_json<T: Serialize>(value: T) -> Result<serde_json::Value, ToolError> {
    serde_json::to_value(value).map_err(|e| ToolError::Failed(format!("encoding the result: {e}")))
}
