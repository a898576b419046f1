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
//! Failure modes (all [`ToolError::Failed`] unless said otherwise):
//! - the egress policy refuses the address: [`ToolError::Refused`]; an invalid server name:
//!   [`ToolError::InvalidInput`];
//! - connection refused or connect timeout (`tools.connect_timeout_ms`);
//! - a handshake that does not finish within `tools.ssl.handshake_timeout_ms`;
//! - a peer that does not speak TLS (the message quotes what it sent, e.g. an HTTP status line) or closes the
//!   connection;
//! - a TLS alert or an incompatible server. **Limitation:** rustls speaks only TLS 1.2 and 1.3, so a server that
//!   offers only SSL 3.0, TLS 1.0 or TLS 1.1 fails the handshake ("the server offers no TLS 1.2 or 1.3 (alert:
//!   protocol_version)"); such servers cannot be analysed by this tool, and legacy protocol or cipher support of a
//!   modern server is not probed.
//!
//! If the server rejects the offered ALPN protocols (`h2`, `http/1.1`) with `no_application_protocol`, the
//! handshake is retried once without ALPN.

use std::fmt::Write as _;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use parking_lot::Mutex;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{WebPkiServerVerifier, verify_server_cert_signed_by_trust_anchor, verify_server_name};
use rustls::crypto::CryptoProvider;
use rustls::server::ParsedCertificate;
use rustls::{
    AlertDescription, CertificateError, DigitallySignedStruct, ProtocolVersion, RootCertStore, SignatureScheme,
};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use serde::Serialize;
use tlink_domain::AssetType;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use x509_parser::prelude::{FromDer, GeneralName, ParsedExtension, X509Certificate};

use crate::{RunOptions, Target, ToolError, Toolbox};

/// Certificates of a chain that are analysed; further ones are ignored (a real chain has 2 to 4).
const MAX_CHAIN: usize = 16;
/// Bytes kept from the start of what the peer sent, to quote a non-TLS answer.
const PEEK_BYTES: usize = 256;
/// ALPN protocols offered on the first attempt.
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

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
    /// Negotiated protocol: `TLSv1.3` or `TLSv1.2`.
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
    /// Whole days until the leaf certificate expires (negative once expired).
    pub days_to_expiry: i64,
    /// When the leaf certificate expires (RFC 3339).
    pub expires_at: String,
    /// The chain as presented by the server, leaf first.
    pub certificates: Vec<CertificateInfo>,
    /// Problems found, most severe first.
    pub findings: Vec<Finding>,
}

/// One certificate of the presented chain.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CertificateInfo {
    /// Subject distinguished name (`O=Example, CN=example.com`).
    pub subject: String,
    /// Issuer distinguished name.
    pub issuer: String,
    /// The subject's first common name, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub common_name: Option<String>,
    /// DNS names and IP addresses (textual form) of the subjectAltName extension.
    pub subject_alt_names: Vec<String>,
    /// Serial number, lowercase hexadecimal without separators.
    pub serial_number: String,
    /// Start of validity (RFC 3339).
    pub not_before: String,
    /// End of validity (RFC 3339).
    pub not_after: String,
    /// Whole days until `notAfter` (negative once expired).
    pub days_to_expiry: i64,
    /// `notAfter` is in the past.
    pub expired: bool,
    /// `notBefore` is in the future.
    pub not_yet_valid: bool,
    /// Public key type: `RSA`, `EC`, `Ed25519`, `Ed448`, `DSA`, or the algorithm OID.
    pub key_type: String,
    /// Public key size in bits (modulus bits for RSA, curve bits for EC), when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_size: Option<u32>,
    /// Named curve of an EC key (`P-256`, `P-384`, `P-521`, or the curve OID).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub curve: Option<String>,
    /// Signature algorithm (`sha256WithRSAEncryption`, `ecdsa-with-SHA256`, `sha1WithRSAEncryption`, `Ed25519`,
    /// or the OID).
    pub signature_algorithm: String,
    /// Subject and issuer are the same name (and the key identifiers, when present, agree).
    pub self_signed: bool,
    /// basicConstraints marks the certificate as a CA.
    pub is_ca: bool,
    /// SHA-256 of the DER encoding, lowercase hexadecimal without separators.
    pub sha256_fingerprint: String,
}

/// A problem found in the handshake or the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Finding {
    /// Stable code: `expired`, `not_yet_valid`, `expiring_soon`, `sha1_signature`, `md5_signature`,
    /// `weak_rsa_key`, `hostname_mismatch`, `untrusted`, `self_signed`, `malformed_certificate`.
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
    /// Clients refuse the server, or its security is weak (untrusted chain, wrong host, SHA-1, short RSA key).
    High,
    /// Worth acting on soon (expiry within the warning window, a self-signed leaf).
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
    let port = port_for(target, options, config.ssl.default_port);
    let server_name = server_name(&host)?;
    let sni = match &server_name {
        ServerName::DnsName(name) => Some(name.as_ref().to_string()),
        _ => None,
    };
    let roots = Arc::new(root_store(&config.ssl.extra_roots).await?);
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let connect_timeout = Duration::from_millis(config.connect_timeout_ms);
    let handshake_timeout = Duration::from_millis(config.ssl.handshake_timeout_ms);

    let mut attempt =
        handshake(tb, &host, port, &server_name, &provider, connect_timeout, handshake_timeout, true).await;
    if matches!(&attempt, Err(HandshakeError::NoApplicationProtocol)) {
        attempt = handshake(tb, &host, port, &server_name, &provider, connect_timeout, handshake_timeout, false).await;
    }
    let session = match attempt {
        Ok(session) => session,
        Err(HandshakeError::Tool(e)) => return Err(e),
        Err(HandshakeError::NoApplicationProtocol) => {
            return Err(ToolError::Failed(format!(
                "{host}:{port} aborted the handshake even without ALPN (alert: no_application_protocol)"
            )));
        }
    };

    let now = Utc::now();
    let verdict = verdict(&session, &server_name, &roots, &provider, now);
    let (certificates, malformed) = describe_chain(&session.chain, now)?;
    let leaf =
        certificates.first().ok_or_else(|| ToolError::Failed(format!("{host}:{port} presented no certificate")))?;
    let findings = findings(&certificates, malformed, &verdict, &host, config.ssl.expiry_warning_days);

    Ok(SslResult {
        host: host.clone(),
        port,
        address: session.address.to_string(),
        sni,
        protocol: session.protocol,
        cipher_suite: session.cipher_suite,
        key_exchange: session.key_exchange,
        alpn: session.alpn,
        valid: verdict.error.is_none(),
        chain_valid: verdict.chain_valid,
        trusted: verdict.trusted,
        hostname_matches: verdict.hostname_matches,
        validation_error: verdict.error.clone(),
        days_to_expiry: leaf.days_to_expiry,
        expires_at: leaf.not_after.clone(),
        certificates,
        findings,
    })
}

/// The port: the target's own, the run's option, 443 for an `https` URL, else the configured default.
fn port_for(target: &Target, options: &RunOptions, default_port: u16) -> u16 {
    if target.kind() == AssetType::Url {
        let url = url::Url::parse(target.value()).ok();
        if let Some(port) = url.as_ref().and_then(url::Url::port) {
            return port;
        }
        if let Some(port) = options.port {
            return port;
        }
        if url.as_ref().is_some_and(|u| u.scheme() == "https" || u.scheme() == "wss") {
            return 443;
        }
        return default_port;
    }
    target.port().or(options.port).unwrap_or(default_port)
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

/// What the handshake gave.
struct Session {
    address: SocketAddr,
    protocol: String,
    cipher_suite: String,
    key_exchange: Option<String>,
    alpn: Option<String>,
    chain: Vec<CertificateDer<'static>>,
    /// Why the server's handshake signature did not verify, if it did not.
    signature_error: Option<String>,
}

enum HandshakeError {
    Tool(ToolError),
    /// The server refused every offered ALPN protocol; worth one more try without ALPN.
    NoApplicationProtocol,
}

impl From<ToolError> for HandshakeError {
    fn from(e: ToolError) -> Self {
        HandshakeError::Tool(e)
    }
}

#[allow(clippy::too_many_arguments)]
async fn handshake(
    tb: &Toolbox,
    host: &str,
    port: u16,
    server_name: &ServerName<'static>,
    provider: &Arc<CryptoProvider>,
    connect_timeout: Duration,
    handshake_timeout: Duration,
    offer_alpn: bool,
) -> Result<Session, HandshakeError> {
    let recorder = Arc::new(Recorder::new(provider.clone()));
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
        .map_err(|e| ToolError::Failed(format!("TLS client configuration: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(recorder.clone())
        .with_no_client_auth();
    config.resumption = rustls::client::Resumption::disabled();
    if offer_alpn {
        config.alpn_protocols = ALPN.iter().map(|p| p.to_vec()).collect();
    }
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));

    let (tcp, address) = tb.connect_tcp(host, port, connect_timeout).await?;
    let peek = Arc::new(Mutex::new(Vec::new()));
    let stream = Peeking { inner: tcp, peek: peek.clone() };
    let outcome = tokio::time::timeout(handshake_timeout, connector.connect(server_name.clone(), stream)).await;
    let tls = match outcome {
        Err(_) => {
            let received = peek.lock().clone();
            let tail = if received.is_empty() {
                "the server sent nothing".to_string()
            } else {
                format!("the server sent {}", quote(&received))
            };
            return Err(ToolError::Failed(format!(
                "the TLS handshake with {address} did not finish within {handshake_timeout:?} ({tail})"
            ))
            .into());
        }
        Ok(Err(e)) => return Err(handshake_failure(&e, address, &peek.lock())),
        Ok(Ok(tls)) => tls,
    };
    let conn = tls.get_ref().1;
    let protocol = match conn.protocol_version() {
        Some(ProtocolVersion::TLSv1_3) => "TLSv1.3".to_string(),
        Some(ProtocolVersion::TLSv1_2) => "TLSv1.2".to_string(),
        Some(v) => format!("{v:?}"),
        None => "unknown".to_string(),
    };
    let cipher_suite = conn.negotiated_cipher_suite().map_or_else(|| "unknown".to_string(), |s| suite_name(s.suite()));
    let key_exchange = conn
        .negotiated_key_exchange_group()
        .map(|g| g.name().as_str().map_or_else(|| format!("{:?}", g.name()), str::to_string));
    let alpn = conn.alpn_protocol().map(|p| String::from_utf8_lossy(p).into_owned());
    let (chain, signature_error) = recorder.take();
    if chain.is_empty() {
        return Err(ToolError::Failed(format!("{address} presented no certificate")).into());
    }
    // The connection is dropped without sending anything: only the handshake was wanted.
    drop(tls);
    Ok(Session { address, protocol, cipher_suite, key_exchange, alpn, chain, signature_error })
}

/// The IANA name of a cipher suite (rustls names TLS 1.3 suites `TLS13_…`).
fn suite_name(suite: rustls::CipherSuite) -> String {
    match suite.as_str() {
        Some(name) => match name.strip_prefix("TLS13_") {
            Some(rest) => format!("TLS_{rest}"),
            None => name.to_string(),
        },
        None => format!("0x{:04x}", u16::from(suite)),
    }
}

/// A clear message for a failed handshake.
fn handshake_failure(e: &io::Error, address: SocketAddr, received: &[u8]) -> HandshakeError {
    let tls_error = e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>());
    let message = match tls_error {
        Some(rustls::Error::AlertReceived(AlertDescription::NoApplicationProtocol)) => {
            return HandshakeError::NoApplicationProtocol;
        }
        Some(rustls::Error::AlertReceived(AlertDescription::ProtocolVersion))
        | Some(rustls::Error::PeerIncompatible(rustls::PeerIncompatible::ServerDoesNotSupportTls12Or13)) => {
            format!("{address}: the server offers no TLS 1.2 or 1.3 (alert: protocol_version)")
        }
        Some(rustls::Error::AlertReceived(alert @ AlertDescription::HandshakeFailure))
        | Some(rustls::Error::AlertReceived(alert @ AlertDescription::InsufficientSecurity)) => format!(
            "{address}: the server refused the handshake; it shares no TLS 1.2/1.3 cipher suite, key exchange \
             group or signature scheme with this client (alert: {})",
            alert_name(*alert)
        ),
        Some(rustls::Error::AlertReceived(AlertDescription::UnrecognisedName)) => {
            format!("{address}: the server does not serve this name (alert: unrecognized_name)")
        }
        Some(rustls::Error::AlertReceived(alert)) => {
            format!("{address}: the server aborted the TLS handshake (alert: {})", alert_name(*alert))
        }
        Some(rustls::Error::PeerIncompatible(p)) => {
            format!("{address}: the server is incompatible with TLS 1.2/1.3 as spoken by this client ({p:?})")
        }
        Some(rustls::Error::InvalidMessage(_)) if !received.is_empty() && !looks_like_tls(received) => {
            format!("{address} does not speak TLS: it answered the ClientHello with {}", quote(received))
        }
        Some(other) => format!("{address}: TLS handshake failed: {other}"),
        None if e.kind() == io::ErrorKind::UnexpectedEof || e.kind() == io::ErrorKind::ConnectionReset => {
            if received.is_empty() {
                format!(
                    "{address} closed the connection without answering the TLS ClientHello (not a TLS service, \
                     or it refused this client)"
                )
            } else if looks_like_tls(received) {
                format!("{address} closed the connection during the TLS handshake")
            } else {
                format!("{address} does not speak TLS: it answered the ClientHello with {}", quote(received))
            }
        }
        None => format!("{address}: TLS handshake failed: {e}"),
    };
    HandshakeError::Tool(ToolError::Failed(message))
}

/// A TLS record starts with a content type (20 to 24) and major version 3.
fn looks_like_tls(bytes: &[u8]) -> bool {
    matches!(bytes, [20..=24, 3, ..] | [20..=24])
}

/// `protocol_version` from `ProtocolVersion`.
fn alert_name(alert: AlertDescription) -> String {
    let name = alert.as_str().map_or_else(|| format!("{alert:?}"), str::to_string);
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() {
            if i > 0 {
                out.push('_');
            }
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// The start of a peer's answer, printable: its first line, at most 80 characters, quoted.
fn quote(bytes: &[u8]) -> String {
    let line = bytes.split(|&b| b == b'\n').next().unwrap_or(bytes);
    let mut out = String::new();
    for &b in line.iter().take(80) {
        match b {
            b'\r' => {}
            b'"' => out.push_str("\\\""),
            0x20..=0x7e => out.push(char::from(b)),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    format!("\"{out}\"")
}

/// The certificate verifier of the handshake: keeps the chain and the handshake signature's verdict, and accepts
/// whatever is presented so that the chain can be analysed. Nothing is sent over the connection afterwards.
#[derive(Debug)]
struct Recorder {
    provider: Arc<CryptoProvider>,
    state: Mutex<(Vec<CertificateDer<'static>>, Option<String>)>,
}

impl Recorder {
    fn new(provider: Arc<CryptoProvider>) -> Recorder {
        Recorder { provider, state: Mutex::new((Vec::new(), None)) }
    }

    fn take(&self) -> (Vec<CertificateDer<'static>>, Option<String>) {
        std::mem::take(&mut *self.state.lock())
    }

    fn record_signature(&self, result: Result<HandshakeSignatureValid, rustls::Error>) {
        if let Err(e) = result {
            self.state.lock().1 = Some(format!("the server's handshake signature does not verify: {e}"));
        }
    }
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let chain =
            std::iter::once(end_entity).chain(intermediates).take(MAX_CHAIN).map(|c| c.clone().into_owned()).collect();
        self.state.lock().0 = chain;
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let result = rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        );
        self.record_signature(result);
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let result = rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        );
        self.record_signature(result);
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}

/// A TCP stream that keeps the first bytes it reads, to describe a peer that does not speak TLS.
struct Peeking {
    inner: TcpStream,
    peek: Arc<Mutex<Vec<u8>>>,
}

impl AsyncRead for Peeking {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let this = &mut *self;
        let poll = Pin::new(&mut this.inner).poll_read(cx, buf);
        if let Poll::Ready(Ok(())) = &poll {
            let mut peek = this.peek.lock();
            let room = PEEK_BYTES.saturating_sub(peek.len());
            if room > 0 {
                let new = &buf.filled()[before..];
                peek.extend_from_slice(&new[..new.len().min(room)]);
            }
        }
        poll
    }
}

impl AsyncWrite for Peeking {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// The trust verdict on a recorded chain.
struct Verdict {
    chain_valid: bool,
    trusted: bool,
    /// Why the chain is not trusted (dates aside).
    trust_error: Option<String>,
    hostname_matches: bool,
    /// Why a standard client would refuse the server.
    error: Option<String>,
}

fn verdict(
    session: &Session,
    server_name: &ServerName<'static>,
    roots: &Arc<RootCertStore>,
    provider: &Arc<CryptoProvider>,
    now: DateTime<Utc>,
) -> Verdict {
    let Some((leaf, intermediates)) = session.chain.split_first() else {
        let error = Some("no certificate presented".to_string());
        return Verdict {
            chain_valid: false,
            trusted: false,
            trust_error: error.clone(),
            hostname_matches: false,
            error,
        };
    };
    let unix_now = unix_time(now.timestamp());
    let algorithms = provider.signature_verification_algorithms.all;

    // What a standard rustls client with these roots would decide (chain, dates and name together).
    let full = WebPkiServerVerifier::builder_with_provider(roots.clone(), provider.clone())
        .build()
        .map_err(|e| format!("building the verifier: {e:?}"))
        .and_then(|v| {
            v.verify_server_cert(leaf, intermediates, server_name, &[], unix_now).map_err(|e| describe_error(&e))
        });

    let parsed = match ParsedCertificate::try_from(leaf) {
        Ok(parsed) => parsed,
        Err(e) => {
            let error = Some(format!("the leaf certificate cannot be used: {}", describe_error(&e)));
            return Verdict {
                chain_valid: false,
                trusted: false,
                trust_error: error.clone(),
                hostname_matches: false,
                error,
            };
        }
    };
    let hostname_matches = verify_server_name(&parsed, server_name).is_ok();
    let at_now = verify_server_cert_signed_by_trust_anchor(&parsed, roots, intermediates, unix_now, algorithms);
    let chain_valid = at_now.is_ok();
    let (trusted, trust_error) = match at_now {
        Ok(()) => (true, None),
        Err(e) if is_date_error(&e) => {
            // Out of date: would the chain be trusted at a moment when every certificate is in date?
            match common_validity_moment(&session.chain) {
                Some(moment) => {
                    match verify_server_cert_signed_by_trust_anchor(&parsed, roots, intermediates, moment, algorithms) {
                        Ok(()) => (true, None),
                        Err(e) => (false, Some(describe_error(&e))),
                    }
                }
                None => (false, Some(describe_error(&e))),
            }
        }
        Err(e) => (false, Some(describe_error(&e))),
    };
    let error = match full {
        Err(e) => Some(e),
        Ok(_) => session.signature_error.clone(),
    };
    Verdict { chain_valid, trusted, trust_error, hostname_matches, error }
}

fn unix_time(secs: i64) -> UnixTime {
    UnixTime::since_unix_epoch(Duration::from_secs(u64::try_from(secs).unwrap_or(0)))
}

fn unix_secs(t: UnixTime) -> i64 {
    i64::try_from(t.as_secs()).unwrap_or(i64::MAX)
}

fn is_date_error(e: &rustls::Error) -> bool {
    matches!(
        e,
        rustls::Error::InvalidCertificate(
            CertificateError::Expired
                | CertificateError::ExpiredContext { .. }
                | CertificateError::NotValidYet
                | CertificateError::NotValidYetContext { .. }
        )
    )
}

/// The latest `notBefore` of the chain, if it is not after the earliest `notAfter`.
fn common_validity_moment(chain: &[CertificateDer<'_>]) -> Option<UnixTime> {
    let mut start = i64::MIN;
    let mut end = i64::MAX;
    for der in chain {
        let (_, cert) = X509Certificate::from_der(der.as_ref()).ok()?;
        start = start.max(cert.validity().not_before.timestamp());
        end = end.min(cert.validity().not_after.timestamp());
    }
    (start <= end).then(|| unix_time(start))
}

/// A verifier error in words.
fn describe_error(e: &rustls::Error) -> String {
    match e {
        rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer) => {
            "the chain does not lead to a trusted root (unknown issuer)".to_string()
        }
        rustls::Error::InvalidCertificate(CertificateError::BadSignature) => {
            "a certificate's signature does not verify with its issuer's key".to_string()
        }
        rustls::Error::InvalidCertificate(CertificateError::UnsupportedSignatureAlgorithmContext { .. }) => {
            "a certificate is signed with an algorithm that is not accepted (e.g. SHA-1 or MD5)".to_string()
        }
        rustls::Error::InvalidCertificate(CertificateError::UnsupportedSignatureAlgorithmForPublicKeyContext {
            ..
        }) => "a certificate is signed with an algorithm not accepted for its issuer's key (e.g. an RSA key \
               under 2048 bits)"
            .to_string(),
        rustls::Error::InvalidCertificate(CertificateError::ExpiredContext { not_after, .. }) => {
            format!("a certificate of the chain expired on {}", rfc3339(unix_secs(*not_after)))
        }
        rustls::Error::InvalidCertificate(CertificateError::NotValidYetContext { not_before, .. }) => {
            format!("a certificate of the chain is not valid before {}", rfc3339(unix_secs(*not_before)))
        }
        rustls::Error::InvalidCertificate(CertificateError::NotValidForNameContext { expected, .. }) => {
            format!("the leaf certificate is not valid for {}", expected.to_str())
        }
        rustls::Error::InvalidCertificate(inner) => inner.to_string(),
        other => other.to_string(),
    }
}

/// Describes each certificate; stops at the first that cannot be parsed (the leaf must parse).
fn describe_chain(
    chain: &[CertificateDer<'_>],
    now: DateTime<Utc>,
) -> Result<(Vec<CertificateInfo>, Option<Finding>), ToolError> {
    let mut out = Vec::with_capacity(chain.len());
    for (i, der) in chain.iter().enumerate() {
        match describe_certificate(der.as_ref(), now) {
            Ok(info) => out.push(info),
            Err(e) if i == 0 => {
                return Err(ToolError::Failed(format!("the server's certificate cannot be parsed: {e}")));
            }
            Err(e) => {
                let finding = Finding {
                    code: "malformed_certificate".into(),
                    severity: Severity::Medium,
                    message: format!(
                        "certificate #{i} of the chain cannot be parsed ({e}); it and the following ones are not \
                         described"
                    ),
                };
                return Ok((out, Some(finding)));
            }
        }
    }
    Ok((out, None))
}

fn describe_certificate(der: &[u8], now: DateTime<Utc>) -> Result<CertificateInfo, String> {
    let (_, cert) = X509Certificate::from_der(der).map_err(|e| e.to_string())?;
    let not_before = cert.validity().not_before.timestamp();
    let not_after = cert.validity().not_after.timestamp();
    let now_secs = now.timestamp();

    let mut subject_alt_names = Vec::new();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(dns) => subject_alt_names.push((*dns).to_string()),
                GeneralName::IPAddress(bytes) => {
                    if let Some(ip) = ip_from_bytes(bytes) {
                        subject_alt_names.push(ip.to_string());
                    }
                }
                _ => {}
            }
        }
    }
    let common_name = cert.subject().iter_common_name().next().and_then(|cn| cn.as_str().ok()).map(str::to_string);
    let (key_type, key_size, curve) = key_description(&cert);
    let is_ca = matches!(cert.basic_constraints(), Ok(Some(bc)) if bc.value.ca);

    Ok(CertificateInfo {
        subject: cert.subject().to_string(),
        issuer: cert.issuer().to_string(),
        common_name,
        subject_alt_names,
        serial_number: hex(cert.raw_serial()),
        not_before: rfc3339(not_before),
        not_after: rfc3339(not_after),
        days_to_expiry: (not_after - now_secs).div_euclid(86_400),
        expired: now_secs > not_after,
        not_yet_valid: now_secs < not_before,
        key_type,
        key_size,
        curve,
        signature_algorithm: signature_name(&cert.signature_algorithm.algorithm.to_id_string()),
        self_signed: is_self_signed(&cert),
        is_ca,
        sha256_fingerprint: sha256_hex(der),
    })
}

fn ip_from_bytes(bytes: &[u8]) -> Option<IpAddr> {
    match bytes.len() {
        4 => <[u8; 4]>::try_from(bytes).ok().map(IpAddr::from),
        16 => <[u8; 16]>::try_from(bytes).ok().map(IpAddr::from),
        _ => None,
    }
}

fn rfc3339(secs: i64) -> String {
    DateTime::<Utc>::from_timestamp(secs, 0)
        .map_or_else(|| secs.to_string(), |t| t.to_rfc3339_opts(SecondsFormat::Secs, true))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

fn sha256_hex(data: &[u8]) -> String {
    match rustls::crypto::aws_lc_rs::cipher_suite::TLS13_AES_128_GCM_SHA256.tls13() {
        Some(suite) => hex(suite.common.hash_provider.hash(data).as_ref()),
        None => String::new(),
    }
}

/// Key type, size in bits and EC curve.
fn key_description(cert: &X509Certificate<'_>) -> (String, Option<u32>, Option<String>) {
    let spki = cert.public_key();
    let oid = spki.algorithm.algorithm.to_id_string();
    match oid.as_str() {
        "1.2.840.113549.1.1.1" | "1.2.840.113549.1.1.10" => {
            let bits = match spki.parsed() {
                Ok(x509_parser::public_key::PublicKey::RSA(rsa)) => Some(bit_length(rsa.modulus)),
                _ => None,
            };
            ("RSA".into(), bits, None)
        }
        "1.2.840.10045.2.1" => {
            let curve_oid = spki.algorithm.parameters.as_ref().and_then(|p| p.as_oid().ok()).map(|o| o.to_id_string());
            let (name, bits) = match curve_oid.as_deref() {
                Some("1.2.840.10045.3.1.7") => (Some("P-256".to_string()), Some(256)),
                Some("1.3.132.0.34") => (Some("P-384".to_string()), Some(384)),
                Some("1.3.132.0.35") => (Some("P-521".to_string()), Some(521)),
                Some("1.3.132.0.10") => (Some("secp256k1".to_string()), Some(256)),
                Some(other) => (Some(other.to_string()), ec_point_bits(&spki.subject_public_key.data)),
                None => (None, ec_point_bits(&spki.subject_public_key.data)),
            };
            ("EC".into(), bits, name)
        }
        "1.3.101.112" => ("Ed25519".into(), Some(256), None),
        "1.3.101.113" => ("Ed448".into(), Some(456), None),
        "1.2.840.10040.4.1" => {
            let bits = match spki.parsed() {
                Ok(x509_parser::public_key::PublicKey::DSA(y)) => Some(bit_length(y)),
                _ => None,
            };
            ("DSA".into(), bits, None)
        }
        _ => (oid, None, None),
    }
}

/// Bits of a big-endian unsigned integer, ignoring leading zero bytes.
fn bit_length(bytes: &[u8]) -> u32 {
    let trimmed: &[u8] = match bytes.iter().position(|&b| b != 0) {
        Some(start) => &bytes[start..],
        None => return 0,
    };
    let lead = trimmed.first().map_or(0, |b| 8 - b.leading_zeros());
    u32::try_from(trimmed.len().saturating_sub(1)).unwrap_or(u32::MAX / 16).saturating_mul(8).saturating_add(lead)
}

/// Field size of an uncompressed or compressed EC point.
fn ec_point_bits(point: &[u8]) -> Option<u32> {
    let bytes = match point.first()? {
        4 => (point.len() - 1) / 2,
        2 | 3 => point.len() - 1,
        _ => return None,
    };
    u32::try_from(bytes * 8).ok()
}

/// Conventional (OpenSSL) names of signature algorithms; unknown ones keep their OID.
fn signature_name(oid: &str) -> String {
    match oid {
        "1.2.840.113549.1.1.2" => "md2WithRSAEncryption",
        "1.2.840.113549.1.1.4" => "md5WithRSAEncryption",
        "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption",
        "1.2.840.113549.1.1.10" => "rsassaPss",
        "1.2.840.113549.1.1.11" => "sha256WithRSAEncryption",
        "1.2.840.113549.1.1.12" => "sha384WithRSAEncryption",
        "1.2.840.113549.1.1.13" => "sha512WithRSAEncryption",
        "1.2.840.113549.1.1.14" => "sha224WithRSAEncryption",
        "1.2.840.10045.4.1" => "ecdsa-with-SHA1",
        "1.2.840.10045.4.3.1" => "ecdsa-with-SHA224",
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256",
        "1.2.840.10045.4.3.3" => "ecdsa-with-SHA384",
        "1.2.840.10045.4.3.4" => "ecdsa-with-SHA512",
        "1.3.101.112" => "Ed25519",
        "1.3.101.113" => "Ed448",
        "1.2.840.10040.4.3" => "dsa-with-SHA1",
        "2.16.840.1.101.3.4.3.2" => "dsa-with-SHA256",
        other => other,
    }
    .to_string()
}

fn is_sha1(signature_algorithm: &str) -> bool {
    matches!(signature_algorithm, "sha1WithRSAEncryption" | "ecdsa-with-SHA1" | "dsa-with-SHA1")
}

fn is_md(signature_algorithm: &str) -> bool {
    matches!(signature_algorithm, "md2WithRSAEncryption" | "md5WithRSAEncryption")
}

/// Same subject and issuer, and matching key identifiers when both are present.
fn is_self_signed(cert: &X509Certificate<'_>) -> bool {
    if cert.subject().as_raw() != cert.issuer().as_raw() {
        return false;
    }
    let mut ski = None;
    let mut aki = None;
    for ext in cert.extensions() {
        match ext.parsed_extension() {
            ParsedExtension::SubjectKeyIdentifier(id) => ski = Some(id.0),
            ParsedExtension::AuthorityKeyIdentifier(a) => aki = a.key_identifier.as_ref().map(|id| id.0),
            _ => {}
        }
    }
    match (ski, aki) {
        (Some(s), Some(a)) => s == a,
        _ => true,
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_suites_alerts_and_algorithms() {
        assert_eq!(suite_name(rustls::CipherSuite::TLS13_AES_256_GCM_SHA384), "TLS_AES_256_GCM_SHA384");
        assert_eq!(
            suite_name(rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256),
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
        );
        assert_eq!(alert_name(AlertDescription::ProtocolVersion), "protocol_version");
        assert_eq!(alert_name(AlertDescription::HandshakeFailure), "handshake_failure");
        assert_eq!(signature_name("1.2.840.113549.1.1.5"), "sha1WithRSAEncryption");
        assert_eq!(signature_name("1.2.3.4"), "1.2.3.4");
    }

    #[test]
    fn measures_keys_and_quotes_peers() {
        assert_eq!(bit_length(&[0x00, 0x80, 0, 0]), 24);
        assert_eq!(bit_length(&[0x01, 0xff]), 9);
        assert_eq!(bit_length(&[0, 0]), 0);
        assert_eq!(ec_point_bits(&[4; 65]), Some(256));
        assert_eq!(quote(b"HTTP/1.1 400 Bad Request\r\nServer: x\r\n"), "\"HTTP/1.1 400 Bad Request\"");
        assert_eq!(quote(b"\x00\"a"), "\"\\x00\\\"a\"");
        assert!(looks_like_tls(&[22, 3, 3, 0, 5]));
        assert!(!looks_like_tls(b"HTTP/1.1"));
    }
}
