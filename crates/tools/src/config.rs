//! The `[tools]` section of the configuration. Every field has a default; `config.default.toml` documents them.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::ToolKey;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ToolsConfig {
    /// Allow targets (and WHOIS referrals) on loopback, private, link-local, multicast and other non-global
    /// addresses. Off by default: a user could otherwise probe the server's own network.
    pub allow_private_targets: bool,
    /// Networks (CIDR) exempt from the egress policy even when `allow_private_targets` is off.
    pub egress_allow: Vec<String>,
    /// DNS resolvers, `ip` or `ip:port` (UDP and TCP). Empty: the system's (`/etc/resolv.conf`).
    pub resolvers: Vec<String>,
    /// Timeout of one DNS query, milliseconds.
    pub dns_timeout_ms: u64,
    /// Timeout of one TCP connect to a target or WHOIS server, milliseconds.
    pub connect_timeout_ms: u64,
    /// Timeout of one HTTP request to a provider, milliseconds.
    pub http_timeout_ms: u64,
    /// User-Agent sent to providers (Have I Been Pwned refuses requests without one).
    pub user_agent: String,
    pub whois: WhoisConfig,
    pub exposure: ExposureConfig,
    pub ssl: SslConfig,
    pub abuseipdb: ProviderConfig,
    pub virustotal: ProviderConfig,
    pub otx: ProviderConfig,
    pub greynoise: ProviderConfig,
    pub hibp: ProviderConfig,
    /// Local IP blocklists, by name: files of IPs or CIDRs, one per line, `#` comments.
    pub blocklists: BTreeMap<String, PathBuf>,
    /// Local threat feeds, by name: plain files (one indicator per line) or CSV (indicator in the first column).
    pub feeds: BTreeMap<String, PathBuf>,
    /// Per-tool concurrency (per process) and run deadline.
    pub limits: BTreeMap<ToolKey, ToolLimits>,
}

impl Default for ToolsConfig {
    fn default() -> Self {
        ToolsConfig {
            allow_private_targets: false,
            egress_allow: Vec::new(),
            resolvers: Vec::new(),
            dns_timeout_ms: 3_000,
            connect_timeout_ms: 3_000,
            http_timeout_ms: 15_000,
            user_agent: concat!("tlink/", env!("CARGO_PKG_VERSION")).to_string(),
            whois: WhoisConfig::default(),
            exposure: ExposureConfig::default(),
            ssl: SslConfig::default(),
            abuseipdb: ProviderConfig::new("https://api.abuseipdb.com/api/v2"),
            virustotal: ProviderConfig::new("https://www.virustotal.com/api/v3"),
            otx: ProviderConfig::new("https://otx.alienvault.com/api/v1"),
            greynoise: ProviderConfig::new("https://api.greynoise.io/v3"),
            hibp: ProviderConfig::new("https://haveibeenpwned.com/api/v3"),
            blocklists: BTreeMap::new(),
            feeds: BTreeMap::new(),
            limits: ToolKey::ALL.iter().map(|&k| (k, ToolLimits::default_for(k))).collect(),
        }
    }
}

impl ToolsConfig {
    /// The limits of `key` (the defaults when the map lacks it).
    pub fn limits(&self, key: ToolKey) -> ToolLimits {
        self.limits.get(&key).cloned().unwrap_or_else(|| ToolLimits::default_for(key))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ToolLimits {
    /// Runs of this tool at once in one process.
    pub concurrency: usize,
    /// Deadline of one run, seconds; a run past it fails with a timeout and is retried.
    pub timeout_secs: u64,
}

impl ToolLimits {
    pub fn default_for(key: ToolKey) -> ToolLimits {
        match key {
            ToolKey::Exposure => ToolLimits { concurrency: 2, timeout_secs: 300 },
            ToolKey::Whois => ToolLimits { concurrency: 8, timeout_secs: 60 },
            _ => ToolLimits { concurrency: 32, timeout_secs: 60 },
        }
    }
}

impl Default for ToolLimits {
    fn default() -> Self {
        ToolLimits { concurrency: 32, timeout_secs: 60 }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WhoisConfig {
    /// Where every query starts unless `servers` names one, `host` or `host:port` (port 43 when omitted).
    /// Operator configuration: the egress policy does not apply to it.
    pub root_server: String,
    /// Servers to ask first instead of the root, by domain suffix, usually a TLD (`"com" = "whois.verisign-grs.com"`;
    /// the longest matching suffix wins), or for `"ip"` and `"asn"`; `host` or `host:port`. Like `root_server`,
    /// these are operator configuration and the egress policy does not apply to them.
    pub servers: BTreeMap<String, String>,
    /// WHOIS server names pinned to an address, `ip:port` (`"whois.verisign-grs.com" = "10.1.2.3:43"`): a local
    /// mirror, or tests. Applies wherever the name appears (root, `servers`, referrals); other names are resolved
    /// with `tools.resolvers`. A pin does not exempt a referral from the egress policy (see `tools.egress_allow`).
    pub addresses: BTreeMap<String, String>,
    /// Referrals followed after the first answer (each server is asked at most once).
    pub max_referrals: usize,
    /// Largest answer read from one server, bytes.
    pub max_response_bytes: usize,
    /// Timeout of one server's whole answer, milliseconds.
    pub read_timeout_ms: u64,
}

impl Default for WhoisConfig {
    fn default() -> Self {
        WhoisConfig {
            root_server: "whois.iana.org:43".to_string(),
            servers: BTreeMap::new(),
            addresses: BTreeMap::new(),
            max_referrals: 3,
            max_response_bytes: 256 * 1024,
            read_timeout_ms: 10_000,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ExposureConfig {
    /// Ports scanned when a run names none: comma-separated ports (`22`), ranges (`8000-8100`), `top100`
    /// (the 100 most common TCP ports) and `all` (1-65535), which may be mixed (`top100,6379,27017`).
    pub ports: String,
    /// Connection attempts in flight at once within one scan. Each holds a socket, so keep it well below
    /// the process's open-file limit (running short only slows the scan down).
    pub concurrency: usize,
    /// Timeout of one connect, milliseconds (a filtered port costs this much).
    pub connect_timeout_ms: u64,
    /// How long to wait for a banner after connecting, and for the reply to each probe, milliseconds.
    pub banner_timeout_ms: u64,
    /// Vulnerability rules file (TOML, the format of the built-in set) replacing the built-in set; empty:
    /// the built-in set. Read once per process.
    pub vuln_rules: String,
    /// Extra vulnerability rules files (TOML) added to the active set. Read once per process.
    pub extra_vuln_rules: Vec<String>,
}

impl Default for ExposureConfig {
    fn default() -> Self {
        ExposureConfig {
            ports: "top100".to_string(),
            concurrency: 512,
            connect_timeout_ms: 1_500,
            banner_timeout_ms: 2_000,
            vuln_rules: String::new(),
            extra_vuln_rules: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SslConfig {
    /// Port used when the target names none.
    pub default_port: u16,
    /// PEM file of extra trusted CA certificates, added to the built-in Mozilla roots.
    pub extra_roots: String,
    /// A certificate expiring within this many days is reported (`expiring_soon`).
    pub expiry_warning_days: i64,
    /// Timeout of the TLS handshake after the TCP connection is open, milliseconds; also how long each legacy
    /// protocol probe waits for the server's answer.
    pub handshake_timeout_ms: u64,
    /// Probe SSL 3.0, TLS 1.0 and TLS 1.1 on every run (three more connections), so that a modern server that
    /// still accepts them is reported. Off: they are probed only when no TLS 1.2/1.3 handshake succeeds.
    pub probe_legacy: bool,
}

impl Default for SslConfig {
    fn default() -> Self {
        SslConfig {
            default_port: 443,
            extra_roots: String::new(),
            expiry_warning_days: 30,
            handshake_timeout_ms: 10_000,
            probe_legacy: true,
        }
    }
}

/// An HTTP provider: where it is and the key to use. No key: its section reports `not_configured`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderConfig {
    pub base_url: String,
    pub api_key: String,
}

impl ProviderConfig {
    fn new(base_url: &str) -> ProviderConfig {
        ProviderConfig { base_url: base_url.to_string(), api_key: String::new() }
    }

    pub fn is_configured(&self) -> bool {
        !self.api_key.is_empty()
    }
}
