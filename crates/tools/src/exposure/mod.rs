//! The `exposure` tool: what a host exposes on TCP and how risky that is.
//!
//! A run resolves the target (an IP, a domain, or a URL's host) once through the egress policy and scans
//! the first allowed address:
//! 1. **Ports**: the `ports` option, else `tools.exposure.ports` ([`ports`] documents the syntax:
//!    `22,80,8000-8100`, `top100`, `all`).
//! 2. **Connect scan** (`scan`): a fixed number of connects in flight (`tools.exposure.concurrency`),
//!    each bounded by `tools.exposure.connect_timeout_ms`. Only open ports are listed; closed (refused)
//!    and filtered (no answer) ports are counted.
//! 3. **Banners** ([`banner`]): on each open port, alongside the scan, the greeting or the reply to a short
//!    probe, read within `tools.exposure.banner_timeout_ms` and at most 4 KiB, gives the service, product
//!    and version.
//! 4. **CVEs** ([`vulns`]): the product and version are matched against the vulnerability rules (the
//!    built-in set, `tools.exposure.vuln_rules` replacing it, `tools.exposure.extra_vuln_rules` adding to it).
//! 5. **Risk**: a 0–100 score, a level and findings.
//!
//! # Risk score
//! `riskScore = min(100, C + S + P)`, where
//! - `C` (known vulnerabilities) = 10 × `maxCvss`, plus 10 when a matched CVE is flagged as known exploited
//!   (CISA KEV);
//! - `S` (risky services) = the highest weight among the risky services found, plus 5 for each further
//!   risky service, capped at 80. Weights: docker API 90; unauthenticated Redis 70; telnet, rlogin, rsh 60;
//!   SMB, MongoDB, Elasticsearch, CouchDB, X11 50; RDP, VNC, memcached 40; MySQL/MariaDB, PostgreSQL,
//!   MS SQL, Oracle, Cassandra, NetBIOS, MS RPC, WinRM, NFS 30; Redis requiring authentication, FTP 20;
//!   rpcbind 10;
//! - `P` (attack surface) = the number of open ports, capped at 10.
//!
//! `riskLevel`: `none` (0), `low` (1–29), `medium` (30–59), `high` (60–84), `critical` (85–100).
//! Each vulnerable version, known-exploited CVE and risky service is also a finding with a severity:
//! from the CVSS score for CVEs (critical ≥ 9, high ≥ 7, medium ≥ 4, else low), from the weight for
//! services (critical ≥ 70, high ≥ 50, medium ≥ 30, else low).
//!
//! # Failures
//! [`ToolError::InvalidInput`]: a bad port list, a bad configuration value, a vulnerability rules file that
//! cannot be read or does not validate. [`ToolError::Refused`]: the egress policy refuses every address.
//! [`ToolError::Failed`]: the name does not resolve, the network is unreachable, or the machine stays out
//! of sockets. A port that says nothing or something unexpected is only reported without a banner.

pub mod banner;
pub mod ports;
mod scan;
pub mod vulns;

use std::time::{Duration, Instant};

use serde::Serialize;

pub use ports::{TOP100, parse_port_spec};
pub use vulns::{Affected, VulnRule, VulnRules, compare_versions};

use crate::{Progress, RunOptions, Target, ToolError, Toolbox};

/// The result of an exposure scan.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ExposureResult {
    /// The host that was scanned (the target's domain, IP or URL host).
    pub host: String,
    /// The address scanned: the first address of the host that the egress policy allows.
    pub address: String,
    /// The port list that was scanned, as given (`top100`, `22,80`, …).
    pub port_spec: String,
    /// Number of ports scanned.
    pub scanned: u32,
    /// Open ports, ascending.
    pub open_ports: Vec<u16>,
    /// Ports that refused the connection.
    pub closed: u32,
    /// Ports that did not answer within the connect timeout (or were reported unreachable).
    pub filtered: u32,
    /// Each open port, ascending, with what it revealed.
    pub ports: Vec<OpenPort>,
    /// 0–100; see the tool's documentation for the formula.
    pub risk_score: u8,
    pub risk_level: RiskLevel,
    /// Number of CVE matches over all ports.
    pub cve_count: u32,
    /// Highest CVSS score among the matched CVEs (0 when none).
    pub max_cvss: f64,
    /// Whether a matched CVE is known to be exploited (CISA KEV).
    pub known_exploited: bool,
    /// What raised the score, most severe first.
    pub findings: Vec<Finding>,
    /// Wall time of the whole run (scan and banners), milliseconds.
    pub elapsed_ms: u64,
    /// Connect-scan rate: ports scanned per second until the last connect finished.
    pub ports_per_second: f64,
}

/// An open TCP port.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OpenPort {
    pub port: u16,
    /// Always `tcp`.
    pub protocol: String,
    /// The service, as identified from its reply (`ssh`, `smtp`, `http`, `redis`, `mysql`, `tls`, …), else
    /// the one conventionally found on the port, else `unknown`.
    pub service: String,
    /// Printable, trimmed reply (greeting, or for HTTP the status line and `Server:` header); null when the
    /// port said nothing.
    pub banner: Option<String>,
    /// Product id (`openssh`, `apache-httpd`, `nginx`, `exim`, `vsftpd`, `redis`, `mysql`, …), null when
    /// not recognised.
    pub product: Option<String>,
    /// Version as announced (`8.9p1`, `2.4.49`), null when not announced.
    pub version: Option<String>,
    /// Whether the service required authentication before answering (known for Redis and memcached).
    pub auth_required: Option<bool>,
    /// Known vulnerabilities of this product version, highest CVSS first.
    pub cves: Vec<CveMatch>,
}

/// A known vulnerability matched by product and version.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CveMatch {
    /// `CVE-YYYY-NNNN`.
    pub id: String,
    /// CVSS base score, 0–10.
    pub cvss: f64,
    /// Listed in CISA's Known Exploited Vulnerabilities catalog.
    pub kev: bool,
    pub summary: String,
    /// A caveat about the match, when the rule has one.
    pub note: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum RiskLevel {
    None,
    Low,
    Medium,
    High,
    Critical,
}

impl RiskLevel {
    /// The level of a 0–100 score.
    pub fn of(score: u8) -> RiskLevel {
        match score {
            0 => RiskLevel::None,
            1..=29 => RiskLevel::Low,
            30..=59 => RiskLevel::Medium,
            60..=84 => RiskLevel::High,
            _ => RiskLevel::Critical,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

/// Something that raised the risk.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    /// Stable code: `vulnerable_version`, `known_exploited`, `docker_api_exposed`, `redis_no_auth`,
    /// `telnet_exposed`, `database_exposed`, `smb_exposed`, `rdp_exposed`, `ftp_exposed`, …,
    /// `banner_limit_reached`.
    pub code: String,
    pub severity: Severity,
    pub message: String,
    /// The port concerned, null for the host as a whole.
    pub port: Option<u16>,
}

/// `(service, weight, finding code, why)`: services that are risky to expose (Redis is weighed by whether
/// it asked for authentication, see [`service_risk`]).
const RISKY_SERVICES: &[(&str, u8, &str, &str)] = &[
    ("docker", 90, "docker_api_exposed", "an unauthenticated Docker API gives control of the host"),
    ("telnet", 60, "telnet_exposed", "Telnet carries logins in clear text"),
    ("rlogin", 60, "rlogin_exposed", "rlogin carries logins in clear text and trusts host names"),
    ("rsh", 60, "rsh_exposed", "rsh runs commands on the strength of host names"),
    ("smb", 50, "smb_exposed", "SMB file sharing exposed to the network"),
    ("mongodb", 50, "database_exposed", "a MongoDB server reachable from the network"),
    ("elasticsearch", 50, "database_exposed", "an Elasticsearch node reachable from the network"),
    ("couchdb", 50, "database_exposed", "a CouchDB server reachable from the network"),
    ("x11", 50, "x11_exposed", "an X11 display server reachable from the network"),
    ("rdp", 40, "rdp_exposed", "Remote Desktop exposed to the network"),
    ("vnc", 40, "vnc_exposed", "VNC remote desktop exposed to the network"),
    ("memcached", 40, "database_exposed", "memcached has no authentication and amplifies reflected traffic"),
    ("mysql", 30, "database_exposed", "a MySQL/MariaDB server reachable from the network"),
    ("postgresql", 30, "database_exposed", "a PostgreSQL server reachable from the network"),
    ("mssql", 30, "database_exposed", "a Microsoft SQL Server reachable from the network"),
    ("oracle", 30, "database_exposed", "an Oracle database listener reachable from the network"),
    ("cassandra", 30, "database_exposed", "a Cassandra node reachable from the network"),
    ("netbios-ssn", 30, "netbios_exposed", "NetBIOS session service exposed to the network"),
    ("msrpc", 30, "msrpc_exposed", "Microsoft RPC endpoint mapper exposed to the network"),
    ("winrm", 30, "winrm_exposed", "Windows Remote Management exposed to the network"),
    ("nfs", 30, "nfs_exposed", "NFS file sharing exposed to the network"),
    ("ftp", 20, "ftp_exposed", "FTP carries logins and files in clear text"),
    ("rpcbind", 10, "rpcbind_exposed", "rpcbind reveals RPC services and amplifies reflected traffic"),
];

/// The weight, finding code and reason of exposing `service` (with what is known of its authentication).
pub fn service_risk(service: &str, auth_required: Option<bool>) -> Option<(u8, &'static str, &'static str)> {
    if service == "redis" {
        return Some(if auth_required == Some(false) {
            (70, "redis_no_auth", "Redis answers without authentication: data can be read and the host taken over")
        } else {
            (20, "database_exposed", "a Redis server reachable from the network")
        });
    }
    RISKY_SERVICES.iter().find(|(s, ..)| *s == service).map(|&(_, w, code, why)| (w, code, why))
}

/// Runs the tool against `target`.
///
/// # Errors
/// See the module documentation.
pub async fn run(
    tb: &Toolbox,
    target: &Target,
    options: &RunOptions,
    progress: &dyn Progress,
) -> Result<ExposureResult, ToolError> {
    let started = Instant::now();
    let config = &tb.config().exposure;
    let host =
        target.host().ok_or_else(|| ToolError::InvalidInput(format!("`{}` names no host to scan", target.value())))?;
    let spec = options.ports.as_deref().unwrap_or(&config.ports).trim().to_string();
    let port_list = parse_port_spec(&spec)?;
    if config.concurrency == 0 {
        return Err(ToolError::InvalidInput("tools.exposure.concurrency must be at least 1".into()));
    }
    if config.connect_timeout_ms == 0 || config.banner_timeout_ms == 0 {
        return Err(ToolError::InvalidInput(
            "tools.exposure.connect_timeout_ms and banner_timeout_ms must be at least 1".into(),
        ));
    }
    let rules = VulnRules::for_config(config)?;
    let ip =
        *tb.resolve_host(host).await?.first().ok_or_else(|| ToolError::Failed(format!("{host} has no address")))?;

    let scanned = u32::try_from(port_list.len()).unwrap_or(u32::MAX);
    progress.set_total(u64::from(scanned));
    let settings = scan::ScanSettings {
        concurrency: config.concurrency,
        connect_timeout: Duration::from_millis(config.connect_timeout_ms),
        banner: banner::BannerSettings {
            connect_timeout: Duration::from_millis(config.connect_timeout_ms),
            timeout: Duration::from_millis(config.banner_timeout_ms),
        },
    };
    let outcome = scan::scan(ip, port_list, settings, progress).await?;

    let mut ports = Vec::with_capacity(outcome.open.len());
    let mut findings = Vec::new();
    let mut max_cvss = 0.0f64;
    let mut known_exploited = false;
    let mut cve_count = 0u32;
    let mut service_weights = Vec::new();
    let banner_limited = outcome.open.values().any(Option::is_none);
    for (&port, grab) in &outcome.open {
        let grab = grab.clone().unwrap_or_default();
        let service = grab.service.or_else(|| ports::service_for_port(port)).unwrap_or("unknown");
        let mut cves = Vec::new();
        if let (Some(product), Some(version)) = (grab.product, grab.version.as_deref()) {
            for rule in rules.matches(product, version) {
                cves.push(CveMatch {
                    id: rule.cve.clone(),
                    cvss: rule.cvss,
                    kev: rule.kev,
                    summary: rule.summary.clone(),
                    note: rule.note.clone(),
                });
            }
            if let Some(top) = cves.first() {
                let listed: Vec<String> = cves.iter().map(|c| format!("{} (CVSS {:.1})", c.id, c.cvss)).collect();
                findings.push(Finding {
                    code: "vulnerable_version".into(),
                    severity: cvss_severity(top.cvss),
                    message: format!(
                        "{product} {version} on port {port}/tcp has {} known vulnerabilit{}: {}",
                        cves.len(),
                        if cves.len() == 1 { "y" } else { "ies" },
                        listed.join(", ")
                    ),
                    port: Some(port),
                });
            }
            for cve in cves.iter().filter(|c| c.kev) {
                known_exploited = true;
                findings.push(Finding {
                    code: "known_exploited".into(),
                    severity: Severity::Critical,
                    message: format!(
                        "{} ({product} {version} on port {port}/tcp) is known to be exploited in the wild (CISA KEV)",
                        cve.id
                    ),
                    port: Some(port),
                });
            }
        }
        for cve in &cves {
            max_cvss = max_cvss.max(cve.cvss);
        }
        cve_count += u32::try_from(cves.len()).unwrap_or(u32::MAX);
        if let Some((weight, code, why)) = service_risk(service, grab.auth_required) {
            service_weights.push(weight);
            findings.push(Finding {
                code: code.into(),
                severity: weight_severity(weight),
                message: format!("{service} on port {port}/tcp: {why}"),
                port: Some(port),
            });
        }
        ports.push(OpenPort {
            port,
            protocol: "tcp".into(),
            service: service.to_string(),
            banner: grab.banner,
            product: grab.product.map(str::to_string),
            version: grab.version,
            auth_required: grab.auth_required,
            cves,
        });
    }
    if banner_limited {
        findings.push(Finding {
            code: "banner_limit_reached".into(),
            severity: Severity::Info,
            message: format!(
                "{} ports are open; banners were grabbed on the first {} only (a device answering on every \
                 port can cause this)",
                ports.len(),
                scan::MAX_BANNERS
            ),
            port: None,
        });
    }
    findings.sort_by(|a, b| b.severity.cmp(&a.severity).then(a.port.cmp(&b.port)));

    let risk_score = risk_score(max_cvss, known_exploited, &service_weights, ports.len());
    let scan_secs = outcome.scan_time.as_secs_f64().max(1e-6);
    Ok(ExposureResult {
        host: host.to_string(),
        address: ip.to_string(),
        port_spec: spec,
        scanned,
        open_ports: ports.iter().map(|p| p.port).collect(),
        closed: outcome.closed,
        filtered: outcome.filtered,
        ports,
        risk_score,
        risk_level: RiskLevel::of(risk_score),
        cve_count,
        max_cvss,
        known_exploited,
        findings,
        elapsed_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        ports_per_second: (f64::from(scanned) / scan_secs * 10.0).round() / 10.0,
    })
}

/// The score of the module documentation's formula.
pub fn risk_score(max_cvss: f64, known_exploited: bool, service_weights: &[u8], open_ports: usize) -> u8 {
    let cves = (max_cvss.clamp(0.0, 10.0) * 10.0).round() as u32 + if known_exploited { 10 } else { 0 };
    let services = match service_weights.iter().max() {
        Some(&top) => (u32::from(top) + 5 * (service_weights.len() as u32 - 1)).min(80),
        None => 0,
    };
    let surface = open_ports.min(10) as u32;
    u8::try_from((cves + services + surface).min(100)).unwrap_or(100)
}

fn cvss_severity(cvss: f64) -> Severity {
    if cvss >= 9.0 {
        Severity::Critical
    } else if cvss >= 7.0 {
        Severity::High
    } else if cvss >= 4.0 {
        Severity::Medium
    } else {
        Severity::Low
    }
}

fn weight_severity(weight: u8) -> Severity {
    match weight {
        70.. => Severity::Critical,
        50..=69 => Severity::High,
        30..=49 => Severity::Medium,
        _ => Severity::Low,
    }
}
