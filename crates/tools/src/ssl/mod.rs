//! The `ssl` tool: a TLS handshake with the target, and an analysis of what the server presented.
//!
//! The target is a domain, an IP address, a URL, or `host:port`. The port is the target's own (`host:port`, a URL's
//! explicit port), else the run's `port` option, else 443 for an `https` URL, else `tools.ssl.default_port`. The
//! connection goes through [`Toolbox::connect_tcp`], so the egress policy applies. SNI carries the host when it is
//! a name; IP literals are sent without SNI.
//!
//! The handshake is rustls (TLS 1.3 and 1.2, aws-lc-rs) with a certificate verifier that *records* the presented
//! chain and accepts it, so that bad certificates can be analysed rather than merely refused. The verdict is then
//! computed separately on the recorded chain with the webpki verifier of rustls, against the Mozilla roots
//! (`webpki-roots`) plus the PEM file `tools.ssl.extra_roots`:
//!
//! - `valid`: what a standard client would decide: trusted chain in date, host name matching, and a handshake
//!   signature that verifies; `validationError` says why not.
//! - `chainValid`: the chain leads to a trusted root and every certificate on the path is in date.
//! - `trusted`: the chain leads to a trusted root, dates aside (an expired certificate of a known CA is trusted but
//!   not `chainValid`).
//! - `hostnameMatches`: the leaf's subjectAltNames cover the host name (or IP address), whoever issued it.
//!
//! The result also gives the protocol, cipher suite (IANA name), key exchange group and ALPN protocol, every
//! certificate of the chain (leaf first) with its names, dates, key and signature algorithm, fingerprints, and
//! findings with stable codes: `expired`, `not_yet_valid`, `expiring_soon` (within
//! `tools.ssl.expiry_warning_days`), `sha1_signature`, `md5_signature`, `weak_rsa_key` (RSA under 2048 bits),
//! `hostname_mismatch`, `untrusted`, `self_signed` and `malformed_certificate`. Self-signed CA certificates sent by
//! the server (trust anchors) are exempt from the date and signature-hash checks: clients do not rely on them.
//!
//! Legacy protocol versions (SSL 3.0, TLS 1.0, TLS 1.1), which rustls does not speak, are probed with one
//! hand-built ClientHello each (`legacy.rs`): the server's ServerHello (or its alert) says whether it accepts the
//! version, and the Certificate message that follows a TLS ≤ 1.2 ServerHello is read in clear. The probes run
//! beside the main handshake, three more connections per run, so that a modern server still accepting old
//! versions is reported (`legacyProtocols`, findings `ssl3_enabled`, `tls1_0_enabled`, `tls1_1_enabled`). With
//! `tools.ssl.probe_legacy = false` they run only when the main handshake fails. A server that completes no
//! TLS 1.2/1.3 handshake but accepts a legacy version gives a COMPLETED result rather than a failure:
//! `protocol` and `cipherSuite` are those of the newest legacy version it accepts, the chain is the one it
//! presented in that handshake (analysed like any other; no handshake signature is checked), `valid` is false,
//! and the finding `legacy_tls_only` says current clients cannot connect. When no certificate could be read,
//! `certificates` is empty and `daysToExpiry` / `expiresAt` are absent.
//!
//! The port must be 1-65535: port 0, whether from the target (`host:0`, a URL), `options.port` or
//! `tools.ssl.default_port`, is invalid input, refused before any connection.
//!
//! Failure modes (all [`ToolError::Failed`] unless said otherwise):
//! - the egress policy refuses the address: [`ToolError::Refused`]; an invalid server name or port:
//!   [`ToolError::InvalidInput`];
//! - connection refused or connect timeout (`tools.connect_timeout_ms`);
//! - a handshake that does not finish within `tools.ssl.handshake_timeout_ms`;
//! - a peer that does not speak TLS (the message quotes what it sent, e.g. an HTTP status line) or closes the
//!   connection;
//! - a TLS alert or an incompatible server that accepts no legacy version either ("the server offers no TLS 1.2
//!   or 1.3 (alert: protocol_version)").
//!
//! If the server rejects the offered ALPN protocols (`h2`, `http/1.1`) with `no_application_protocol`, the
//! handshake is retried once without ALPN.
//!
//! The handshake and what it records are in `handshake.rs`, the legacy probes in `legacy.rs`, the trust verdict
//! on the recorded chain in `verdict.rs`, and the reading of each certificate in `certificate.rs`; this file
//! holds the result, the run and the findings drawn from the others.

pub(crate) mod certificate;
mod handshake;
pub(crate) mod legacy;
mod verdict;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use rustls::RootCertStore;
use rustls::crypto::CryptoProvider;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use serde::Serialize;
use tlink_domain::AssetType;

use crate::{RunOptions, Target, ToolError, Toolbox};

pub use certificate::CertificateInfo;
pub use legacy::{LegacyProbe, ProbeStatus};

use certificate::{describe_chain, is_md, is_sha1};
use handshake::{HandshakeError, Session, handshake};
use legacy::{Probe, probe_all, version_name};
use verdict::{Verdict, verdict};

/// Result of the `ssl` tool.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SslResult {
    /// The host connected to: a domain name or an IP address.
    pub host: String,
    /// The TCP port connected to.
    pub port: u16,
    /// The address the connection went to, `ip:port`.
    pub address: String,
    /// The server name sent in SNI; absent for an IP address target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sni: Option<String>,
    /// Negotiated protocol: `TLSv1.3` or `TLSv1.2`; for a server that offers only legacy versions, the newest
    /// it accepts (`TLSv1.1`, `TLSv1.0`, `SSLv3`).
    pub protocol: String,
    /// Negotiated cipher suite, IANA name (`TLS_AES_128_GCM_SHA256`, `TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`).
    pub cipher_suite: String,
    /// Key exchange group (`X25519`, `secp256r1`, `X25519MLKEM768`), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_exchange: Option<String>,
    /// ALPN protocol the server selected (`h2`, `http/1.1`), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alpn: Option<String>,
    /// A standard client would accept the server: trusted chain in date, host name matching, and a handshake
    /// signature that verifies.
    pub valid: bool,
    /// The chain leads to a trusted root and every certificate on the path is within its validity dates.
    pub chain_valid: bool,
    /// The chain leads to a trusted root (Mozilla roots plus the configured extra roots), validity dates aside.
    pub trusted: bool,
    /// The leaf certificate is valid for the host name (or IP address), regardless of who issued it.
    pub hostname_matches: bool,
    /// Why a standard client would refuse the server (absent when `valid`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub validation_error: Option<String>,
    /// Whole days until the leaf certificate expires (negative once expired); absent when no certificate could
    /// be read (a legacy-only server whose certificate did not come with its ServerHello).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub days_to_expiry: Option<i64>,
    /// When the leaf certificate expires (RFC 3339); absent when no certificate could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<String>,
    /// The chain as presented by the server, leaf first.
    pub certificates: Vec<CertificateInfo>,
    /// The legacy versions the server accepts (`SSLv3`, `TLSv1.0`, `TLSv1.1`), oldest first; empty when it
    /// accepts none, or when they were not probed (`tools.ssl.probe_legacy` off and TLS 1.2/1.3 worked).
    pub legacy_protocols: Vec<String>,
    /// What each legacy probe found, oldest version first; empty when they were not probed.
    pub legacy_probes: Vec<LegacyProbe>,
    /// Problems found, most severe first.
    pub findings: Vec<Finding>,
}

/// A problem found in the handshake or the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Finding {
    /// Stable code: `expired`, `not_yet_valid`, `expiring_soon`, `sha1_signature`, `md5_signature`,
    /// `weak_rsa_key`, `hostname_mismatch`, `untrusted`, `self_signed`, `malformed_certificate`,
    /// `legacy_tls_only`, `ssl3_enabled`, `tls1_0_enabled`, `tls1_1_enabled`.
    pub code: String,
    /// How serious it is: `critical`, `high`, `medium`, `low` or `info`.
    pub severity: Severity,
    /// Human-readable explanation naming the certificate concerned.
    pub message: String,
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Clients refuse the server now (an expired certificate, an MD5 signature).
    Critical,
    /// Clients refuse the server, or its security is weak (untrusted chain, wrong host, SHA-1, short RSA key, only
    /// legacy protocol versions, SSL 3.0 accepted).
    High,
    /// Worth acting on soon (expiry within the warning window, a self-signed leaf, TLS 1.0 or 1.1 accepted).
    Medium,
    Low,
    Info,
}

/// Runs the tool against `target`.
///
/// # Errors
/// See the module documentation.
pub async fn run(tb: &Toolbox, target: &Target, options: &RunOptions) -> Result<SslResult, ToolError> {
    let config = tb.config();
    let host = target
        .host()
        .ok_or_else(|| ToolError::InvalidInput(format!("`{}` names no host to connect to", target.value())))?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = port_for(target, options, config.ssl.default_port)?;
    let server_name = server_name(&host)?;
    let sni = match &server_name {
        ServerName::DnsName(name) => Some(name.as_ref().to_string()),
        _ => None,
    };
    let roots = Arc::new(root_store(&config.ssl.extra_roots).await?);
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let connect_timeout = Duration::from_millis(config.connect_timeout_ms);
    let handshake_timeout = Duration::from_millis(config.ssl.handshake_timeout_ms);

    let modern = async {
        let attempt =
            handshake(tb, &host, port, &server_name, &provider, connect_timeout, handshake_timeout, true).await;
        if matches!(&attempt, Err(HandshakeError::NoApplicationProtocol)) {
            return handshake(tb, &host, port, &server_name, &provider, connect_timeout, handshake_timeout, false)
                .await;
        }
        attempt
    };
    let probe = || probe_all(tb, &host, port, sni.as_deref(), connect_timeout, handshake_timeout);
    let (attempt, probes) = if config.ssl.probe_legacy {
        let (attempt, probes) = tokio::join!(modern, probe());
        (attempt, Some(probes))
    } else {
        (modern.await, None)
    };

    let analysis =
        Analysis { host: &host, port, sni: sni.clone(), server_name: &server_name, roots: &roots, provider: &provider };
    match attempt {
        Ok(session) => analysis.modern(session, probes.unwrap_or_default(), config.ssl.expiry_warning_days),
        Err(HandshakeError::Tool(e)) => Err(e),
        Err(HandshakeError::NoApplicationProtocol) => Err(ToolError::Failed(format!(
            "{host}:{port} aborted the handshake even without ALPN (alert: no_application_protocol)"
        ))),
        Err(HandshakeError::Incompatible(e)) => {
            let probes = match probes {
                Some(probes) => probes,
                None => probe().await,
            };
            if probes.iter().any(Probe::accepted) {
                analysis.legacy_only(probes, config.ssl.expiry_warning_days)
            } else {
                Err(e)
            }
        }
    }
}

/// What the analysis of a server needs besides the handshake or the probes.
struct Analysis<'a> {
    host: &'a str,
    port: u16,
    sni: Option<String>,
    server_name: &'a ServerName<'static>,
    roots: &'a Arc<RootCertStore>,
    provider: &'a Arc<CryptoProvider>,
}

impl Analysis<'_> {
    /// The result of a completed TLS 1.2/1.3 handshake, with what the legacy probes found (if they ran).
    fn modern(self, session: Session, probes: Vec<Probe>, expiry_warning_days: i64) -> Result<SslResult, ToolError> {
        let now = Utc::now();
        let verdict = verdict(
            &session.chain,
            session.signature_error.as_deref(),
            self.server_name,
            self.roots,
            self.provider,
            now,
        );
        let (certificates, malformed) = describe_chain(&session.chain, now)?;
        let leaf = certificates
            .first()
            .ok_or_else(|| ToolError::Failed(format!("{}:{} presented no certificate", self.host, self.port)))?;
        let (days_to_expiry, expires_at) = (Some(leaf.days_to_expiry), Some(leaf.not_after.clone()));
        let mut findings = findings(&certificates, malformed, &verdict, self.host, expiry_warning_days);
        findings.extend(protocol_findings(&probes));
        findings.sort_by_key(|f| f.severity);
        Ok(SslResult {
            host: self.host.to_string(),
            port: self.port,
            address: session.address.to_string(),
            sni: self.sni,
            protocol: session.protocol,
            cipher_suite: session.cipher_suite,
            key_exchange: session.key_exchange,
            alpn: session.alpn,
            valid: verdict.error.is_none(),
            chain_valid: verdict.chain_valid,
            trusted: verdict.trusted,
            hostname_matches: verdict.hostname_matches,
            validation_error: verdict.error,
            days_to_expiry,
            expires_at,
            certificates,
            legacy_protocols: accepted_versions(&probes),
            legacy_probes: probes.into_iter().map(|p| p.summary).collect(),
            findings,
        })
    }

    /// The result for a server that completes no TLS 1.2/1.3 handshake but accepts a legacy version: the newest
    /// version it accepts, and the chain it presented (from that probe, else from another that read one).
    fn legacy_only(self, probes: Vec<Probe>, expiry_warning_days: i64) -> Result<SslResult, ToolError> {
        let best = probes
            .iter()
            .filter(|p| p.accepted())
            .max_by_key(|p| p.wire_version)
            .ok_or_else(|| ToolError::Failed(format!("{}:{} accepts no protocol version", self.host, self.port)))?;
        let chain = if best.chain.is_empty() {
            probes.iter().filter(|p| p.accepted()).map(|p| &p.chain).find(|c| !c.is_empty()).unwrap_or(&best.chain)
        } else {
            &best.chain
        };
        let versions = accepted_versions(&probes);
        let refusal =
            format!("the server offers no TLS 1.2 or 1.3, only {}, which current clients refuse", in_words(&versions));
        let deprecated = if versions.iter().any(|v| v == "SSLv3") { "RFC 7568, RFC 8996" } else { "RFC 8996" };
        let now = Utc::now();
        let (certificates, mut findings, verdict) = if chain.is_empty() {
            (Vec::new(), Vec::new(), Verdict::refused(format!("{refusal}; no certificate could be read")))
        } else {
            let verdict = verdict(chain, None, self.server_name, self.roots, self.provider, now);
            let (certificates, malformed) = describe_chain(chain, now)?;
            let findings = findings(&certificates, malformed, &verdict, self.host, expiry_warning_days);
            (certificates, findings, verdict)
        };
        findings.push(Finding {
            code: "legacy_tls_only".to_string(),
            severity: Severity::High,
            message: format!(
                "{refusal}: browsers and current TLS libraries cannot connect, and the versions it offers are \
                 deprecated ({deprecated})"
            ),
        });
        findings.extend(protocol_findings(&probes));
        findings.sort_by_key(|f| f.severity);
        let leaf = certificates.first();
        Ok(SslResult {
            host: self.host.to_string(),
            port: self.port,
            address: best.address.map_or_else(|| format!("{}:{}", self.host, self.port), |a| a.to_string()),
            sni: self.sni,
            protocol: best.summary.version.clone(),
            cipher_suite: best.summary.cipher_suite.clone().unwrap_or_else(|| "unknown".to_string()),
            key_exchange: None,
            alpn: None,
            valid: false,
            chain_valid: verdict.chain_valid,
            trusted: verdict.trusted,
            hostname_matches: verdict.hostname_matches,
            validation_error: Some(refusal),
            days_to_expiry: leaf.map(|c| c.days_to_expiry),
            expires_at: leaf.map(|c| c.not_after.clone()),
            certificates,
            legacy_protocols: versions,
            legacy_probes: probes.into_iter().map(|p| p.summary).collect(),
            findings,
        })
    }
}

/// `a`, `a and b`, `a, b and c`.
fn in_words(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} and {last}", rest.join(", ")),
    }
}

/// The names of the versions the probes found accepted, oldest first.
fn accepted_versions(probes: &[Probe]) -> Vec<String> {
    let mut accepted: Vec<&Probe> = probes.iter().filter(|p| p.accepted()).collect();
    accepted.sort_by_key(|p| p.wire_version);
    accepted.into_iter().map(|p| version_name(p.wire_version)).collect()
}

/// One finding per legacy version accepted.
fn protocol_findings(probes: &[Probe]) -> Vec<Finding> {
    probes
        .iter()
        .filter(|p| p.accepted())
        .filter_map(|p| {
            let suite = p.summary.cipher_suite.as_deref().unwrap_or("unknown");
            let (code, severity, why) = match p.wire_version {
                0x0300 => ("ssl3_enabled", Severity::High, "SSL 3.0 is broken (POODLE) and prohibited by RFC 7568"),
                0x0301 => ("tls1_0_enabled", Severity::Medium, "TLS 1.0 is deprecated by RFC 8996"),
                0x0302 => ("tls1_1_enabled", Severity::Medium, "TLS 1.1 is deprecated by RFC 8996"),
                _ => return None,
            };
            let message = format!("the server accepts {} (it chose {suite}); {why}", p.summary.version);
            Some(Finding { code: code.to_string(), severity, message })
        })
        .collect()
}

/// The port: the target's own, the run's option, 443 for an `https` URL, else the configured default. Port 0
/// cannot be connected to and is refused, whichever of these it comes from.
fn port_for(target: &Target, options: &RunOptions, default_port: u16) -> Result<u16, ToolError> {
    let (port, from) = if target.kind() == AssetType::Url {
        let url = url::Url::parse(target.value()).ok();
        if let Some(port) = url.as_ref().and_then(url::Url::port) {
            (port, PortSource::Target)
        } else if let Some(port) = options.port {
            (port, PortSource::Option)
        } else if url.as_ref().is_some_and(|u| u.scheme() == "https" || u.scheme() == "wss") {
            (443, PortSource::Target)
        } else {
            (default_port, PortSource::Config)
        }
    } else {
        match (target.port(), options.port) {
            (Some(port), _) => (port, PortSource::Target),
            (None, Some(port)) => (port, PortSource::Option),
            (None, None) => (default_port, PortSource::Config),
        }
    };
    if port != 0 {
        return Ok(port);
    }
    Err(ToolError::InvalidInput(match from {
        PortSource::Target if target.kind() == AssetType::Url => {
            format!("`{}`: the port must be 1-65535", target.value())
        }
        PortSource::Target if target.value().contains(':') => {
            format!("`[{}]:0`: the port must be 1-65535", target.value())
        }
        PortSource::Target => format!("`{}:0`: the port must be 1-65535", target.value()),
        PortSource::Option => "options.port must be 1-65535".to_string(),
        PortSource::Config => "tools.ssl.default_port must be 1-65535".to_string(),
    }))
}

/// Where the port came from, to name it when it is invalid.
enum PortSource {
    Target,
    Option,
    Config,
}

fn server_name(host: &str) -> Result<ServerName<'static>, ToolError> {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return Ok(ServerName::IpAddress(ip.into()));
    }
    ServerName::try_from(host.to_string())
        .map_err(|_| ToolError::InvalidInput(format!("`{host}` is not a valid TLS server name")))
}

/// Mozilla's roots plus the certificates of the `extra_roots` PEM file.
async fn root_store(extra_roots: &str) -> Result<RootCertStore, ToolError> {
    let mut store = RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    if extra_roots.is_empty() {
        return Ok(store);
    }
    let bad =
        |e: &dyn std::fmt::Display| ToolError::InvalidInput(format!("tools.ssl.extra_roots `{extra_roots}`: {e}"));
    let pem = tokio::fs::read(extra_roots).await.map_err(|e| bad(&e))?;
    let certs = CertificateDer::pem_slice_iter(&pem).collect::<Result<Vec<_>, _>>().map_err(|e| bad(&e))?;
    if certs.is_empty() {
        return Err(bad(&"the file holds no PEM certificate"));
    }
    let (_, rejected) = store.add_parsable_certificates(certs);
    if rejected > 0 {
        return Err(bad(&format!("{rejected} certificate(s) could not be used as trust anchors")));
    }
    Ok(store)
}

fn findings(
    certificates: &[CertificateInfo],
    malformed: Option<Finding>,
    verdict: &Verdict,
    host: &str,
    expiry_warning_days: i64,
) -> Vec<Finding> {
    let mut out = Vec::new();
    let mut add = |code: &str, severity: Severity, message: String| {
        out.push(Finding { code: code.to_string(), severity, message });
    };
    for (i, cert) in certificates.iter().enumerate() {
        let which = if i == 0 {
            format!("the leaf certificate ({})", cert.subject)
        } else {
            format!("certificate #{i} of the chain ({})", cert.subject)
        };
        let anchor = i > 0 && cert.self_signed && cert.is_ca;
        if !anchor {
            if cert.expired {
                add("expired", Severity::Critical, format!("{which} expired on {}", cert.not_after));
            } else if cert.not_yet_valid {
                add("not_yet_valid", Severity::High, format!("{which} is not valid before {}", cert.not_before));
            } else if cert.days_to_expiry < expiry_warning_days {
                add(
                    "expiring_soon",
                    Severity::Medium,
                    format!("{which} expires in {} day(s), on {}", cert.days_to_expiry, cert.not_after),
                );
            }
            if is_sha1(&cert.signature_algorithm) {
                add("sha1_signature", Severity::High, format!("{which} is signed with {}", cert.signature_algorithm));
            }
            if is_md(&cert.signature_algorithm) {
                add(
                    "md5_signature",
                    Severity::Critical,
                    format!("{which} is signed with {}", cert.signature_algorithm),
                );
            }
        }
        if cert.key_type == "RSA"
            && let Some(bits) = cert.key_size.filter(|&b| b < 2048)
        {
            add("weak_rsa_key", Severity::High, format!("{which} has a {bits}-bit RSA key (under 2048 bits)"));
        }
    }
    if !verdict.hostname_matches {
        let names = certificates.first().map(|c| c.subject_alt_names.join(", ")).unwrap_or_default();
        let names = if names.is_empty() { "no DNS name or IP address".to_string() } else { names };
        add(
            "hostname_mismatch",
            Severity::High,
            format!("the leaf certificate is not valid for {host}; it names {names}"),
        );
    }
    if !verdict.trusted {
        let reason = verdict.trust_error.as_deref().unwrap_or("unknown reason");
        add("untrusted", Severity::High, format!("the chain is not trusted: {reason}"));
    }
    if certificates.first().is_some_and(|c| c.self_signed) {
        add("self_signed", Severity::Medium, "the leaf certificate is self-signed".to_string());
    }
    if let Some(f) = malformed {
        out.push(f);
    }
    out.sort_by_key(|f| f.severity);
    out
}
