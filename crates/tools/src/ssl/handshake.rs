//! The TLS handshake of the `ssl` tool, and what it records.
//!
//! This file exists because the connection side is the only part of the tool that talks to the network: rustls
//! with a certificate verifier that records the presented chain and the handshake signature's verdict instead of
//! refusing, a stream that keeps the first bytes a peer sent (to quote a peer that does not speak TLS), and the
//! wording of every way a handshake fails. What the recorded chain is worth is decided afterwards, without the
//! connection (`verdict.rs`).

use std::fmt::Write as _;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use parking_lot::Mutex;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::{AlertDescription, DigitallySignedStruct, ProtocolVersion, SignatureScheme};
use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::{ToolError, Toolbox};

/// Certificates of a chain that are analysed; further ones are ignored (a real chain has 2 to 4).
pub(super) const MAX_CHAIN: usize = 16;
/// Bytes kept from the start of what the peer sent, to quote a non-TLS answer.
const PEEK_BYTES: usize = 256;
/// ALPN protocols offered on the first attempt.
const ALPN: [&[u8]; 2] = [b"h2", b"http/1.1"];

/// What the handshake gave.
pub(super) struct Session {
    pub(super) address: SocketAddr,
    pub(super) protocol: String,
    pub(super) cipher_suite: String,
    pub(super) key_exchange: Option<String>,
    pub(super) alpn: Option<String>,
    pub(super) chain: Vec<CertificateDer<'static>>,
    /// Why the server's handshake signature did not verify, if it did not.
    pub(super) signature_error: Option<String>,
}

pub(super) enum HandshakeError {
    Tool(ToolError),
    /// The server refused every offered ALPN protocol; worth one more try without ALPN.
    NoApplicationProtocol,
    /// The server speaks TLS but would not finish a TLS 1.2/1.3 handshake (an alert, a version or parameters
    /// rustls refuses, a connection closed mid-handshake): a server that offers only legacy versions looks like
    /// this, so the legacy probes may still describe it.
    Incompatible(ToolError),
}

impl From<ToolError> for HandshakeError {
    fn from(e: ToolError) -> Self {
        HandshakeError::Tool(e)
    }
}

#[allow(clippy::too_many_arguments)]
pub(super) async fn handshake(
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
pub(super) fn suite_name(suite: rustls::CipherSuite) -> String {
    match suite.as_str() {
        Some(name) => match name.strip_prefix("TLS13_") {
            Some(rest) => format!("TLS_{rest}"),
            None => name.to_string(),
        },
        None => format!("0x{:04x}", u16::from(suite)),
    }
}

/// A clear message for a failed handshake, and whether the legacy probes may explain it (see
/// [`HandshakeError::Incompatible`]).
fn handshake_failure(e: &io::Error, address: SocketAddr, received: &[u8]) -> HandshakeError {
    let tls_error = e.get_ref().and_then(|inner| inner.downcast_ref::<rustls::Error>());
    let not_tls = !received.is_empty() && !looks_like_tls(received);
    let incompatible = |message: String| HandshakeError::Incompatible(ToolError::Failed(message));
    let failed = |message: String| HandshakeError::Tool(ToolError::Failed(message));
    match tls_error {
        Some(rustls::Error::AlertReceived(AlertDescription::NoApplicationProtocol)) => {
            HandshakeError::NoApplicationProtocol
        }
        Some(rustls::Error::AlertReceived(AlertDescription::ProtocolVersion))
        | Some(rustls::Error::PeerIncompatible(rustls::PeerIncompatible::ServerDoesNotSupportTls12Or13)) => {
            incompatible(format!("{address}: the server offers no TLS 1.2 or 1.3 (alert: protocol_version)"))
        }
        Some(rustls::Error::AlertReceived(alert @ AlertDescription::HandshakeFailure))
        | Some(rustls::Error::AlertReceived(alert @ AlertDescription::InsufficientSecurity)) => incompatible(format!(
            "{address}: the server refused the handshake; it shares no TLS 1.2/1.3 cipher suite, key exchange \
             group or signature scheme with this client (alert: {})",
            alert_name(*alert)
        )),
        Some(rustls::Error::AlertReceived(AlertDescription::UnrecognisedName)) => {
            failed(format!("{address}: the server does not serve this name (alert: unrecognized_name)"))
        }
        Some(rustls::Error::AlertReceived(alert)) => {
            incompatible(format!("{address}: the server aborted the TLS handshake (alert: {})", alert_name(*alert)))
        }
        Some(rustls::Error::PeerIncompatible(p)) => incompatible(format!(
            "{address}: the server is incompatible with TLS 1.2/1.3 as spoken by this client ({p:?})"
        )),
        Some(rustls::Error::InvalidMessage(_)) if not_tls => {
            failed(format!("{address} does not speak TLS: it answered the ClientHello with {}", quote(received)))
        }
        Some(other) => incompatible(format!("{address}: TLS handshake failed: {other}")),
        None if e.kind() == io::ErrorKind::UnexpectedEof || e.kind() == io::ErrorKind::ConnectionReset => {
            if not_tls {
                failed(format!("{address} does not speak TLS: it answered the ClientHello with {}", quote(received)))
            } else if received.is_empty() {
                incompatible(format!(
                    "{address} closed the connection without answering the TLS ClientHello (not a TLS service, \
                     or it refused this client)"
                ))
            } else {
                incompatible(format!("{address} closed the connection during the TLS handshake"))
            }
        }
        None => failed(format!("{address}: TLS handshake failed: {e}")),
    }
}

/// A TLS record starts with a content type (20 to 24) and major version 3.
fn looks_like_tls(bytes: &[u8]) -> bool {
    matches!(bytes, [20..=24, 3, ..] | [20..=24])
}

/// `protocol_version` from `ProtocolVersion`.
pub(super) fn alert_name(alert: AlertDescription) -> String {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_suites_and_alerts() {
        assert_eq!(suite_name(rustls::CipherSuite::TLS13_AES_256_GCM_SHA384), "TLS_AES_256_GCM_SHA384");
        assert_eq!(
            suite_name(rustls::CipherSuite::TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256),
            "TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"
        );
        assert_eq!(alert_name(AlertDescription::ProtocolVersion), "protocol_version");
        assert_eq!(alert_name(AlertDescription::HandshakeFailure), "handshake_failure");
    }

    #[test]
    fn quotes_peers() {
        assert_eq!(quote(b"HTTP/1.1 400 Bad Request\r\nServer: x\r\n"), "\"HTTP/1.1 400 Bad Request\"");
        assert_eq!(quote(b"\x00\"a"), "\"\\x00\\\"a\"");
        assert!(looks_like_tls(&[22, 3, 3, 0, 5]));
        assert!(!looks_like_tls(b"HTTP/1.1"));
    }
}
