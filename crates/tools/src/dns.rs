//! UNFINISHED: placeholder until the tool is written.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;

use crate::{Target, ToolError, Toolbox, ToolsConfig};

#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct DnsResult {}

pub async fn run(_tb: &Toolbox, _target: &Target) -> Result<DnsResult, ToolError> {
    Err(ToolError::Failed("not implemented yet".into()))
}

/// The resolver of `tools.resolvers` (`ip` or `ip:port`, UDP then TCP), or the system's when empty.
pub(crate) fn build_resolver(config: &ToolsConfig) -> Result<TokioResolver, ToolError> {
    let mut builder = if config.resolvers.is_empty() {
        TokioResolver::builder_tokio()
            .map_err(|e| ToolError::InvalidInput(format!("reading the system's DNS configuration: {e}")))?
    } else {
        let mut servers = Vec::new();
        for s in &config.resolvers {
            let addr: SocketAddr = s
                .parse()
                .or_else(|_| s.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
                .map_err(|_| ToolError::InvalidInput(format!("tools.resolvers: `{s}` is not an `ip` or `ip:port`")))?;
            let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
            for c in &mut ns.connections {
                c.port = addr.port();
            }
            servers.push(ns);
        }
        TokioResolver::builder_with_config(ResolverConfig::from_name_servers(servers), TokioRuntimeProvider::default())
    };
    let opts = builder.options_mut();
    opts.timeout = Duration::from_millis(config.dns_timeout_ms);
    opts.attempts = 2;
    builder.build().map_err(|e| ToolError::InvalidInput(format!("building the DNS resolver: {e}")))
}

/// A and AAAA addresses of `host` from the configured resolvers.
pub(crate) async fn resolve_addresses(tb: &Toolbox, host: &str) -> Result<Vec<IpAddr>, ToolError> {
    match tb.resolver().lookup_ip(host).await {
        Ok(lookup) => Ok(lookup.iter().collect()),
        Err(e) => Err(ToolError::Failed(format!("resolving {host}: {e}"))),
    }
}
