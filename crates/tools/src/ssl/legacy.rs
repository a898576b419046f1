//! Probing the legacy protocol versions a server accepts: SSL 3.0, TLS 1.0 and TLS 1.1.
//!
//! This file exists because rustls speaks only TLS 1.2 and 1.3, so a server that offers nothing newer than
//! TLS 1.1 cannot be analysed by the main handshake, and a modern server's leftover support for old versions
//! cannot be seen by it. A legacy handshake does not need to be completed to learn what is wanted: one
//! hand-built ClientHello per version, and the server's first answer says it all. A ServerHello carrying the
//! version offered means the version is accepted (with the cipher suite it chose); a lower version, an alert or a
//! closed connection means it is refused. The Certificate message that follows a TLS ≤ 1.2 ServerHello is sent
//! in clear, so the chain is read from it too. Nothing is sent after the ClientHello: the connection is dropped
//! once the answer is read. Each probe is its own connection through [`Toolbox::connect_tcp`], so the egress
//! policy applies.

use std::net::SocketAddr;
use std::time::Duration;

use rustls::{AlertDescription, CipherSuite};
use rustls_pki_types::CertificateDer;
use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use super::handshake::{MAX_CHAIN, alert_name, suite_name};
use crate::Toolbox;

/// Most bytes read from the server in one probe (a ServerHello and a long certificate chain fit easily).
const MAX_READ: usize = 128 * 1024;

/// Largest TLS record body (2^14 plus the expansion allowed for protected records).
const MAX_RECORD: usize = 16_384 + 2_048;

/// Cipher suites offered by the probes: what servers of the SSL 3.0 to TLS 1.1 era chose from, strongest first,
/// then the renegotiation SCSV (RFC 5746) that many servers expect. No fallback SCSV (RFC 7507): a server
/// supporting newer versions would refuse the probe for that reason alone.
const SUITES: [u16; 19] = [
    0xc00a, // TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA
    0xc014, // TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA
    0xc009, // TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA
    0xc013, // TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA
    0x0039, // TLS_DHE_RSA_WITH_AES_256_CBC_SHA
    0x0033, // TLS_DHE_RSA_WITH_AES_128_CBC_SHA
    0x0035, // TLS_RSA_WITH_AES_256_CBC_SHA
    0x002f, // TLS_RSA_WITH_AES_128_CBC_SHA
    0x0088, // TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA
    0x0084, // TLS_RSA_WITH_CAMELLIA_256_CBC_SHA
    0x0045, // TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA
    0x0041, // TLS_RSA_WITH_CAMELLIA_128_CBC_SHA
    0xc012, // TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA
    0x0016, // TLS_DHE_RSA_WITH_3DES_EDE_CBC_SHA
    0x000a, // TLS_RSA_WITH_3DES_EDE_CBC_SHA
    0xc011, // TLS_ECDHE_RSA_WITH_RC4_128_SHA
    0x0005, // TLS_RSA_WITH_RC4_128_SHA
    0x0004, // TLS_RSA_WITH_RC4_128_MD5
    0x00ff, // TLS_EMPTY_RENEGOTIATION_INFO_SCSV
];

/// The versions probed, oldest first, with their wire values.
pub(super) const VERSIONS: [u16; 3] = [0x0300, 0x0301, 0x0302];

/// What one probe found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LegacyProbe {
    /// The version offered: `SSLv3`, `TLSv1.0` or `TLSv1.1`.
    pub version: String,
    /// `accepted`: the server answered with this version; `refused`: with an alert, a lower version or by
    /// closing the connection; `unknown`: the probe could not tell (no answer in time, connection failed).
    pub status: ProbeStatus,
    /// The cipher suite the server chose (IANA name), when accepted.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cipher_suite: Option<String>,
    /// How the server refused, or why the probe could not tell.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
}

/// The outcome of one probe.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ProbeStatus {
    Accepted,
    Refused,
    Unknown,
}

/// A probe's public summary and what it read for the result: the address answered from and the chain.
pub(super) struct Probe {
    pub(super) wire_version: u16,
    pub(super) summary: LegacyProbe,
    pub(super) address: Option<SocketAddr>,
    pub(super) chain: Vec<CertificateDer<'static>>,
}

impl Probe {
    pub(super) fn accepted(&self) -> bool {
        self.summary.status == ProbeStatus::Accepted
    }
}

/// The name of a protocol version as the result gives it (`TLSv1.0`).
pub(super) fn version_name(version: u16) -> String {
    match version {
        0x0002 => "SSLv2".to_string(),
        0x0300 => "SSLv3".to_string(),
        0x0301 => "TLSv1.0".to_string(),
        0x0302 => "TLSv1.1".to_string(),
        0x0303 => "TLSv1.2".to_string(),
        0x0304 => "TLSv1.3".to_string(),
        other => format!("0x{other:04x}"),
    }
}

/// Probes every legacy version of `host:port`, concurrently, one connection each.
pub(super) async fn probe_all(
    tb: &Toolbox,
    host: &str,
    port: u16,
    sni: Option<&str>,
    connect_timeout: Duration,
    answer_timeout: Duration,
) -> Vec<Probe> {
    let [ssl3, tls10, tls11] = VERSIONS;
    let (a, b, c) = tokio::join!(
        probe(tb, host, port, sni, ssl3, connect_timeout, answer_timeout),
        probe(tb, host, port, sni, tls10, connect_timeout, answer_timeout),
        probe(tb, host, port, sni, tls11, connect_timeout, answer_timeout),
    );
    vec![a, b, c]
}

/// Offers `version` alone and reads the server's answer.
async fn probe(
    tb: &Toolbox,
    host: &str,
    port: u16,
    sni: Option<&str>,
    version: u16,
    connect_timeout: Duration,
    answer_timeout: Duration,
) -> Probe {
    let name = version_name(version);
    let unknown = |detail: String| Probe {
        wire_version: version,
        summary: LegacyProbe {
            version: name.clone(),
            status: ProbeStatus::Unknown,
            cipher_suite: None,
            detail: Some(detail),
        },
        address: None,
        chain: Vec::new(),
    };
    let (mut tcp, address) = match tb.connect_tcp(host, port, connect_timeout).await {
        Ok(connected) => connected,
        Err(e) => return unknown(e.to_string()),
    };
    let hello = client_hello(version, sni, rand::random());
    let deadline = Instant::now() + answer_timeout;
    match tokio::time::timeout_at(deadline, tcp.write_all(&hello)).await {
        Ok(Ok(())) => {}
        Ok(Err(e)) => return unknown(format!("sending the {name} ClientHello to {address}: {e}")),
        Err(_) => return unknown(format!("sending the {name} ClientHello to {address} took over {answer_timeout:?}")),
    }
    let mut answer = Answer::new(version);
    let mut buf = vec![0u8; 16 * 1024];
    let end = loop {
        if let Some(end) = answer.finished() {
            break end;
        }
        match tokio::time::timeout_at(deadline, tcp.read(&mut buf)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break End::Closed,
            Ok(Ok(n)) => answer.feed(buf.get(..n).unwrap_or_default()),
            Err(_) => break End::TimedOut,
        }
    };
    // The connection is dropped without a word more: only the server's first answer was wanted.
    drop(tcp);
    let summary = answer.summary(&name, end, answer_timeout);
    Probe { wire_version: version, summary, address: Some(address), chain: answer.chain.unwrap_or_default() }
}

/// Reads a server's answer to a probe offering `offered` as [`probe`] reads it, from `chunks` as they would
/// arrive, then the connection closing: the verdict and the chain read. For the fuzz targets and property
/// tests (`crate::fuzzing`).
pub(crate) fn read_answer<'a>(
    offered: u16,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> (LegacyProbe, Vec<CertificateDer<'static>>) {
    let mut answer = Answer::new(offered);
    let mut end = End::Closed;
    for chunk in chunks {
        if let Some(done) = answer.finished() {
            end = done;
            break;
        }
        answer.feed(chunk);
    }
    if let Some(done) = answer.finished() {
        end = done;
    }
    let summary = answer.summary(&version_name(offered), end, Duration::from_secs(1));
    (summary, answer.chain.unwrap_or_default())
}

/// Why reading stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// Everything wanted was read.
    Done,
    Closed,
    TimedOut,
}

/// The server's ServerHello, as far as the probe needs it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ServerHello {
    version: u16,
    cipher_suite: u16,
}

/// The server's answer, read record by record.
#[derive(Debug)]
struct Answer {
    /// The version the ClientHello offered.
    offered: u16,
    received: usize,
    /// Bytes not yet forming a whole record.
    pending: Vec<u8>,
    /// Handshake bytes not yet forming a whole message.
    handshake: Vec<u8>,
    hello: Option<ServerHello>,
    /// The Certificate message's chain, once read.
    chain: Option<Vec<CertificateDer<'static>>>,
    /// What ends the answer: an alert, something that is not TLS, a malformed message.
    problem: Option<Problem>,
    /// A handshake message other than a Certificate followed the ServerHello: there is no chain to read.
    no_certificate: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Problem {
    Alert(u8),
    NotTls,
    Malformed(String),
}

impl Answer {
    fn new(offered: u16) -> Answer {
        Answer {
            offered,
            received: 0,
            pending: Vec::new(),
            handshake: Vec::new(),
            hello: None,
            chain: None,
            problem: None,
            no_certificate: false,
        }
    }

    fn feed(&mut self, bytes: &[u8]) {
        self.received += bytes.len();
        self.pending.extend_from_slice(bytes);
        if self.received > MAX_READ {
            // Whatever was read so far stands (a ServerHello keeps its verdict); the rest is not read.
            self.problem =
                Some(Problem::Malformed(format!("more than {MAX_READ} bytes without a complete ServerHello")));
            return;
        }
        while self.problem.is_none() && self.finished().is_none() {
            let [content_type, major, _, len_hi, len_lo, ..] = self.pending[..] else { return };
            if !(20..=24).contains(&content_type) || major != 3 {
                self.problem = Some(Problem::NotTls);
                return;
            }
            let len = usize::from(u16::from_be_bytes([len_hi, len_lo]));
            if len > MAX_RECORD {
                self.problem = Some(Problem::Malformed(format!("a TLS record of {len} bytes")));
                return;
            }
            let Some(body) = self.pending.get(5..5 + len) else { return };
            let body = body.to_vec();
            self.pending.drain(..5 + len);
            match content_type {
                21 => {
                    // An alert: level, description. Only the first one matters.
                    if let Some(&description) = body.get(1) {
                        self.problem = Some(Problem::Alert(description));
                    }
                }
                22 => {
                    self.handshake.extend_from_slice(&body);
                    self.read_handshake();
                }
                // Anything else after the ServerHello ends the part of the handshake sent in clear.
                _ if self.hello.is_some() => self.no_certificate = true,
                // ChangeCipherSpec, application data or heartbeat before the handshake: not a legacy answer.
                _ => self.problem = Some(Problem::Malformed(format!("a record of type {content_type} first"))),
            }
        }
    }

    /// Takes every whole handshake message from the buffer.
    fn read_handshake(&mut self) {
        while self.problem.is_none() && self.finished().is_none() {
            let [kind, a, b, c, ..] = self.handshake[..] else { return };
            let len = usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c);
            if len > MAX_READ {
                self.problem = Some(Problem::Malformed(format!("a handshake message of {len} bytes")));
                return;
            }
            let Some(body) = self.handshake.get(4..4 + len) else { return };
            let body = body.to_vec();
            self.handshake.drain(..4 + len);
            match (kind, self.hello) {
                (2, None) => match parse_server_hello(&body) {
                    Some(hello) => self.hello = Some(hello),
                    None => self.problem = Some(Problem::Malformed("a ServerHello that cannot be read".into())),
                },
                (11, Some(_)) => self.chain = Some(parse_certificates(&body)),
                (_, Some(_)) => self.no_certificate = true,
                (kind, None) => {
                    self.problem =
                        Some(Problem::Malformed(format!("handshake message type {kind} before a ServerHello")))
                }
            }
        }
    }

    /// Whether the answer says all the probe needs.
    fn finished(&self) -> Option<End> {
        if self.problem.is_some() || self.chain.is_some() || self.no_certificate {
            return Some(End::Done);
        }
        // A server that answers with another version has refused this one; its certificate is not needed.
        match self.hello {
            Some(hello) if hello.version != self.offered => Some(End::Done),
            _ => None,
        }
    }

    fn summary(&self, name: &str, end: End, timeout: Duration) -> LegacyProbe {
        let offered = self.offered;
        let refused = |detail: String| LegacyProbe {
            version: name.to_string(),
            status: ProbeStatus::Refused,
            cipher_suite: None,
            detail: Some(detail),
        };
        if let Some(hello) = self.hello {
            return match hello.version {
                v if v == offered => LegacyProbe {
                    version: name.to_string(),
                    status: ProbeStatus::Accepted,
                    cipher_suite: Some(suite_name(CipherSuite::from(hello.cipher_suite))),
                    detail: None,
                },
                v if v < offered => refused(format!("the server answered with {}, a lower version", version_name(v))),
                v => refused(format!("the server answered with {}, above the version offered", version_name(v))),
            };
        }
        match &self.problem {
            Some(Problem::Alert(alert)) => {
                refused(format!("the server refused it (alert: {})", alert_name(AlertDescription::from(*alert))))
            }
            Some(Problem::NotTls) => refused("the server does not answer in TLS".to_string()),
            Some(Problem::Malformed(what)) => refused(format!("the server answered with {what}")),
            None if end == End::TimedOut => LegacyProbe {
                version: name.to_string(),
                status: ProbeStatus::Unknown,
                cipher_suite: None,
                detail: Some(format!("no answer within {timeout:?}")),
            },
            None if self.received == 0 => refused("the server closed the connection without answering".to_string()),
            None => refused("the server closed the connection in the middle of its answer".to_string()),
        }
    }
}

/// `server_version`, random, session id, cipher suite, compression method, extensions (RFC 5246 §7.4.1.3).
fn parse_server_hello(body: &[u8]) -> Option<ServerHello> {
    let version = u16::from_be_bytes([*body.first()?, *body.get(1)?]);
    let session_len = usize::from(*body.get(34)?);
    let at = 35 + session_len;
    let cipher_suite = u16::from_be_bytes([*body.get(at)?, *body.get(at + 1)?]);
    body.get(at + 2)?; // compression method
    Some(ServerHello { version, cipher_suite })
}

/// The certificates of a TLS ≤ 1.2 Certificate message: a 24-bit length, then each certificate with its own
/// 24-bit length. Reading stops at the first that does not fit.
fn parse_certificates(body: &[u8]) -> Vec<CertificateDer<'static>> {
    let mut out = Vec::new();
    let mut rest = body.get(3..).unwrap_or_default();
    while out.len() < MAX_CHAIN {
        let [a, b, c, ..] = rest[..] else { break };
        let len = usize::from(a) << 16 | usize::from(b) << 8 | usize::from(c);
        let Some(der) = rest.get(3..3 + len) else { break };
        out.push(CertificateDer::from(der.to_vec()));
        rest = rest.get(3 + len..).unwrap_or_default();
    }
    out
}

/// A ClientHello offering only `version`, in one record.
fn client_hello(version: u16, sni: Option<&str>, random: [u8; 32]) -> Vec<u8> {
    let mut body = Vec::with_capacity(256);
    body.extend_from_slice(&version.to_be_bytes());
    body.extend_from_slice(&random);
    body.push(0); // no session id
    put_u16(&mut body, SUITES.len() * 2);
    for suite in SUITES {
        body.extend_from_slice(&suite.to_be_bytes());
    }
    body.extend_from_slice(&[1, 0]); // compression: null only

    let mut extensions = Vec::new();
    if let Some(name) = sni {
        // server_name (RFC 6066): a list holding one host_name.
        let name = name.as_bytes();
        extensions.extend_from_slice(&[0x00, 0x00]);
        put_u16(&mut extensions, name.len() + 5);
        put_u16(&mut extensions, name.len() + 3);
        extensions.push(0);
        put_u16(&mut extensions, name.len());
        extensions.extend_from_slice(name);
    }
    // supported_groups (RFC 8422): x25519, secp256r1, secp384r1, secp521r1; ec_point_formats: uncompressed.
    extensions.extend_from_slice(&[0x00, 0x0a, 0x00, 0x0a, 0x00, 0x08, 0x00, 0x1d, 0x00, 0x17, 0x00, 0x18, 0x00, 0x19]);
    extensions.extend_from_slice(&[0x00, 0x0b, 0x00, 0x02, 0x01, 0x00]);
    put_u16(&mut body, extensions.len());
    body.extend_from_slice(&extensions);

    let mut handshake = Vec::with_capacity(body.len() + 4);
    handshake.push(1); // ClientHello
    let len = u32::try_from(body.len()).unwrap_or(u32::MAX).to_be_bytes();
    handshake.extend_from_slice(&len[1..]);
    handshake.extend_from_slice(&body);

    // The record layer says TLS 1.0 (SSL 3.0 for an SSL 3.0 probe), as clients of that era did.
    let record_version: u16 = if version == 0x0300 { 0x0300 } else { 0x0301 };
    let mut record = Vec::with_capacity(handshake.len() + 5);
    record.push(22);
    record.extend_from_slice(&record_version.to_be_bytes());
    put_u16(&mut record, handshake.len());
    record.extend_from_slice(&handshake);
    record
}

fn put_u16(buf: &mut Vec<u8>, n: usize) {
    buf.extend_from_slice(&u16::try_from(n).unwrap_or(u16::MAX).to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(content_type: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![content_type, 3, 1];
        out.extend_from_slice(&u16::try_from(body.len()).expect("length").to_be_bytes());
        out.extend_from_slice(body);
        out
    }

    fn server_hello(version: u16) -> Vec<u8> {
        let mut body = vec![2, 0, 0, 38];
        body.extend_from_slice(&version.to_be_bytes());
        body.extend_from_slice(&[0; 32]);
        body.extend_from_slice(&[0, 0xc0, 0x13, 0]);
        body
    }

    #[test]
    fn client_hellos_are_well_formed() {
        let hello = client_hello(0x0302, Some("tls.example.test"), [9; 32]);
        assert_eq!(hello[..3], [22, 3, 1]);
        assert_eq!(usize::from(u16::from_be_bytes([hello[3], hello[4]])), hello.len() - 5);
        assert_eq!(hello[5], 1, "ClientHello");
        let handshake_len = usize::from(hello[6]) << 16 | usize::from(hello[7]) << 8 | usize::from(hello[8]);
        assert_eq!(handshake_len, hello.len() - 9);
        assert_eq!(hello[9..11], [3, 2], "the version offered");
        assert!(hello.windows(16).any(|w| w == b"tls.example.test"), "SNI");
        // SSL 3.0 on an SSL 3.0 record, no SNI for an address.
        let hello = client_hello(0x0300, None, [9; 32]);
        assert_eq!((hello[1..3].to_vec(), hello[9..11].to_vec()), (vec![3, 0], vec![3, 0]));
    }

    #[test]
    fn answers_are_read_whatever_their_cutting() {
        // Certificate: 10 bytes; a list of 7 bytes; one certificate of 4.
        let certificate = [11, 0, 0, 10, 0, 0, 7, 0, 0, 4, 0xde, 0xad, 0xbe, 0xef];
        let mut handshake = server_hello(0x0301);
        handshake.extend_from_slice(&certificate);
        let (first, second) = handshake.split_at(20);
        let mut wire = record(22, first);
        wire.extend(record(22, second));
        let mut answer = Answer::new(0x0301);
        for byte in &wire {
            answer.feed(std::slice::from_ref(byte));
        }
        assert_eq!(answer.finished(), Some(End::Done));
        let summary = answer.summary("TLSv1.0", End::Done, Duration::from_secs(1));
        assert_eq!(summary.status, ProbeStatus::Accepted);
        assert_eq!(summary.cipher_suite.as_deref(), Some("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA"));
        assert_eq!(answer.chain, Some(vec![CertificateDer::from(vec![0xde, 0xad, 0xbe, 0xef])]));
    }

    #[test]
    fn refusals_are_told_apart() {
        let summary = |offered: u16, wire: &[u8], end: End| {
            let mut answer = Answer::new(offered);
            answer.feed(wire);
            let s = answer.summary(&version_name(offered), end, Duration::from_secs(1));
            (s.status, s.detail.unwrap_or_default())
        };
        let alert = record(21, &[2, 70]);
        assert_eq!(
            summary(0x0302, &alert, End::Done),
            (ProbeStatus::Refused, "the server refused it (alert: protocol_version)".into())
        );
        assert_eq!(
            summary(0x0302, &record(22, &server_hello(0x0301)), End::Done),
            (ProbeStatus::Refused, "the server answered with TLSv1.0, a lower version".into())
        );
        assert_eq!(
            summary(0x0301, b"HTTP/1.1 400 Bad Request", End::Done),
            (ProbeStatus::Refused, "the server does not answer in TLS".into())
        );
        assert_eq!(
            summary(0x0301, b"", End::Closed),
            (ProbeStatus::Refused, "the server closed the connection without answering".into())
        );
        assert_eq!(summary(0x0301, b"", End::TimedOut), (ProbeStatus::Unknown, "no answer within 1s".into()));
    }

    mod robustness {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn any_answer_is_read_without_panicking(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..300), 0..8)) {
                let mut answer = Answer::new(0x0301);
                for chunk in &chunks {
                    answer.feed(chunk);
                }
                let _ = answer.summary("TLSv1.0", End::Closed, Duration::from_secs(1));
            }

            #[test]
            fn handshake_records_of_any_content_are_read_without_panicking(body in proptest::collection::vec(any::<u8>(), 0..600)) {
                let mut wire = vec![22, 3, 1];
                wire.extend_from_slice(&u16::try_from(body.len()).unwrap_or(0).to_be_bytes());
                wire.extend_from_slice(&body);
                let mut answer = Answer::new(0x0301);
                answer.feed(&wire);
                let _ = answer.summary("TLSv1.0", End::Closed, Duration::from_secs(1));
                let _ = parse_certificates(&body);
                let _ = parse_server_hello(&body);
            }
        }
    }
}
