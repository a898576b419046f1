//! The `ssl` tool against real TLS servers (rustls, aws-lc-rs) on 127.0.0.1, with certificates made by rcgen and,
//! for the SHA-1 / RSA-1024 chain that rcgen cannot make, by OpenSSL (`tests/fixtures/ssl/README.md`).
//!
//! Legacy protocol versions, which rustls cannot serve, are served by `openssl s_server` (TLS 1.1 only, or every
//! version from TLS 1.0 up, at security level 0). Without an `openssl` binary those tests are skipped with a note,
//! unless `REQUIRE_TEST_PEERS` is set. A hand-written loopback server answering a ClientHello with a TLS 1.0
//! ServerHello and Certificate covers the same path on every machine.
//!
//! Host names: the resolver answers names under `localhost.` itself (RFC 6761) with 127.0.0.1 and ::1, sending no
//! query, so `tls.localhost:<port>` targets exercise SNI and DNS-name checks with no DNS server (the resolver is
//! pointed at the closed `127.0.0.1:1` as in every tool test). Other names appear only in certificates, as the
//! wrong host.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::{Datelike, Utc};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
    SerialNumber,
};
use rustls::SupportedProtocolVersion;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tlink_tools::ssl::{ProbeStatus, Severity, SslResult};
use tlink_tools::{ResultSchema, RunOptions, Target, ToolError, ToolKey, ToolsConfig};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::support::{loopback_config, toolbox};

// ---------------------------------------------------------------------------------------------------------------
// Certificates

/// A test CA (EC P-256) whose PEM is written to a temporary file usable as `tools.ssl.extra_roots`.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    der: CertificateDer<'static>,
    pem: String,
    roots_file: tempfile::NamedTempFile,
}

impl Ca {
    fn new() -> Ca {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(DnType::OrganizationName, "tlink test");
        params.distinguished_name.push(DnType::CommonName, "tlink test CA");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).expect("CA certificate");
        let mut roots_file = tempfile::NamedTempFile::new().expect("roots file");
        std::io::Write::write_all(&mut roots_file, cert.pem().as_bytes()).expect("write roots file");
        Ca { issuer: Issuer::new(params, key), der: cert.der().clone(), pem: cert.pem(), roots_file }
    }

    fn roots_path(&self) -> String {
        self.roots_file.path().to_string_lossy().into_owned()
    }

    /// A leaf for `sans`, signed by this CA, valid from `not_before` to `not_after` (y, m, d).
    fn leaf(&self, sans: &[&str], not_before: (i32, u8, u8), not_after: (i32, u8, u8)) -> Identity {
        let key = KeyPair::generate().expect("leaf key");
        let params = leaf_params(sans, not_before, not_after);
        let cert = params.signed_by(&key, &self.issuer).expect("leaf certificate");
        Identity { chain: vec![cert.der().clone(), self.der.clone()], key: private_key(&key) }
    }

    /// Like [`Ca::leaf`], as PEM files for OpenSSL: (leaf certificate, leaf key, CA certificate).
    fn leaf_pem(&self, sans: &[&str], not_before: (i32, u8, u8), not_after: (i32, u8, u8)) -> (String, String, String) {
        let key = KeyPair::generate().expect("leaf key");
        let cert = leaf_params(sans, not_before, not_after).signed_by(&key, &self.issuer).expect("leaf certificate");
        (cert.pem(), key.serialize_pem(), self.pem.clone())
    }
}

fn leaf_params(sans: &[&str], not_before: (i32, u8, u8), not_after: (i32, u8, u8)) -> CertificateParams {
    let mut params =
        CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("leaf params");
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(DnType::CommonName, sans[0]);
    params.serial_number = Some(SerialNumber::from_slice(&[0x0a, 0xbc, 0xde]));
    params.not_before = rcgen::date_time_ymd(not_before.0, not_before.1, not_before.2);
    params.not_after = rcgen::date_time_ymd(not_after.0, not_after.1, not_after.2);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params
}

fn private_key(key: &KeyPair) -> PrivateKeyDer<'static> {
    PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()))
}

/// A certificate chain (leaf first) and the leaf's private key.
struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
}

/// A self-signed leaf (no CA) for `sans`.
fn self_signed(sans: &[&str]) -> Identity {
    let key = KeyPair::generate().expect("key");
    let (y, m, d) = in_days(365);
    let cert = leaf_params(sans, (2020, 1, 1), (y, m, d)).self_signed(&key).expect("self-signed certificate");
    Identity { chain: vec![cert.der().clone()], key: private_key(&key) }
}

/// The committed SHA-1 / RSA-1024 chain: leaf (EC P-256, signed sha1WithRSAEncryption) + intermediate (RSA-1024).
fn weak_chain() -> Identity {
    let dir = fixtures();
    let chain = ["leaf.pem", "intermediate.pem"]
        .iter()
        .map(|f| CertificateDer::from_pem_file(dir.join(f)).expect("fixture certificate"))
        .collect();
    let key = PrivateKeyDer::from_pem_file(dir.join("leaf.key")).expect("fixture key");
    Identity { chain, key }
}

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ssl")
}

/// The date `days` from today (UTC), as rcgen wants it.
fn in_days(days: i64) -> (i32, u8, u8) {
    let d = (Utc::now() + chrono::Duration::days(days)).date_naive();
    (d.year(), u8::try_from(d.month()).expect("month"), u8::try_from(d.day()).expect("day"))
}

// ---------------------------------------------------------------------------------------------------------------
// Servers

/// A rustls server on 127.0.0.1 that completes handshakes and records the SNI of each.
struct TlsServer {
    addr: SocketAddr,
    sni_seen: Arc<Mutex<Vec<Option<String>>>>,
}

impl TlsServer {
    /// The SNI of the handshakes completed so far, once there are `n` (the server records them after the client
    /// has returned, so this waits a little, boundedly).
    async fn seen(&self, n: usize) -> Vec<Option<String>> {
        for _ in 0..200 {
            let seen = self.sni_seen.lock().expect("sni lock").clone();
            if seen.len() >= n {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.sni_seen.lock().expect("sni lock").clone()
    }
}

async fn tls_server(identity: Identity, versions: &[&'static SupportedProtocolVersion], alpn: &[&[u8]]) -> TlsServer {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .expect("protocol versions")
        .with_no_client_auth()
        .with_single_cert(identity.chain, identity.key)
        .expect("server certificate");
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let sni_seen = Arc::new(Mutex::new(Vec::new()));
    let seen = sni_seen.clone();
    tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let acceptor = acceptor.clone();
            let seen = seen.clone();
            tokio::spawn(async move {
                if let Ok(Ok(mut tls)) = tokio::time::timeout(Duration::from_secs(5), acceptor.accept(tcp)).await {
                    let sni = tls.get_ref().1.server_name().map(str::to_string);
                    seen.lock().expect("sni lock").push(sni);
                    let mut buf = [0u8; 256];
                    let _ = tokio::time::timeout(Duration::from_secs(5), tls.read(&mut buf)).await;
                }
            });
        }
    });
    TlsServer { addr, sni_seen }
}

async fn modern_server(identity: Identity) -> TlsServer {
    tls_server(identity, &[&rustls::version::TLS13, &rustls::version::TLS12], &[]).await
}

/// A TCP server that reads what the client sends once, then writes `answer` (if any), keeps the connection open
/// for `hold`, and closes it.
async fn raw_server(answer: &'static [u8], hold: Duration) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut buf = [0u8; 4096];
                let _ = tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf)).await;
                if !answer.is_empty() {
                    let _ = tcp.write_all(answer).await;
                }
                tokio::time::sleep(hold).await;
                let _ = tcp.shutdown().await;
                // Drain what is left of the ClientHello until the client closes, so that closing this socket
                // does not reset the connection before the client has read the answer.
                let _ = tokio::time::timeout(Duration::from_secs(2), async {
                    while matches!(tcp.read(&mut buf).await, Ok(n) if n > 0) {}
                })
                .await;
            });
        }
    });
    addr
}

/// `openssl s_server` on a free loopback port, with the given protocol and cipher options; killed when dropped.
struct OpensslServer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl OpensslServer {
    /// `None` (after a note) when no `openssl` binary can serve here, unless `REQUIRE_TEST_PEERS` is set.
    fn start(options: &[&str], (cert, key, chain): (String, String, String)) -> Option<OpensslServer> {
        let unavailable = |why: String| {
            assert!(std::env::var_os("REQUIRE_TEST_PEERS").is_none(), "openssl s_server is required: {why}");
            eprintln!("SKIPPED: openssl s_server is not usable here: {why}");
            None
        };
        let dir = tempfile::tempdir().expect("a temporary directory");
        for (name, text) in
            [("cert.pem", &cert), ("key.pem", &key), ("chain.pem", &chain), ("empty.cnf", &String::new())]
        {
            std::fs::write(dir.path().join(name), text).expect("writing a PEM file");
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port();
        let spawned = Command::new("openssl")
            .arg("s_server")
            .args(["-accept", &format!("127.0.0.1:{port}"), "-quiet"])
            .args(["-cert", "cert.pem", "-key", "key.pem", "-cert_chain", "chain.pem"])
            .args(options)
            .current_dir(dir.path())
            // The distribution's configuration may raise the minimum protocol; the options say what is wanted.
            .env("OPENSSL_CONF", dir.path().join("empty.cnf"))
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match spawned {
            Ok(child) => child,
            Err(e) => return unavailable(format!("starting openssl: {e}")),
        };
        let mut server = OpensslServer { child, port, _dir: dir };
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                return unavailable(format!("openssl s_server {options:?} exited with {status}"));
            }
            assert!(Instant::now() < deadline, "openssl s_server did not start listening on {port}");
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(server)
    }
}

impl Drop for OpensslServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A server of the TLS 1.0 era, written by hand: to a ClientHello of TLS 1.0 or newer it answers with a TLS 1.0
/// ServerHello (TLS_RSA_WITH_AES_128_CBC_SHA), its Certificate and ServerHelloDone, spread over small records
/// and two writes; an SSL 3.0 ClientHello gets a handshake_failure alert. Nothing more: the handshake is never
/// completed. Counts the ClientHellos it answered, by the version they offered.
async fn tls10_server(chain: Vec<CertificateDer<'static>>) -> (SocketAddr, Arc<Mutex<Vec<u16>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    let seen = Arc::new(Mutex::new(Vec::new()));
    let offered = seen.clone();
    tokio::spawn(async move {
        while let Ok((mut tcp, _)) = listener.accept().await {
            let chain = chain.clone();
            let offered = offered.clone();
            tokio::spawn(async move {
                // Record header (5 bytes), handshake header (4), then client_version.
                let mut hello = Vec::new();
                let mut buf = [0u8; 4096];
                while hello.len() < 11 {
                    match tokio::time::timeout(Duration::from_secs(5), tcp.read(&mut buf)).await {
                        Ok(Ok(n)) if n > 0 => hello.extend_from_slice(&buf[..n]),
                        _ => return,
                    }
                }
                let version = u16::from_be_bytes([hello[9], hello[10]]);
                offered.lock().expect("lock").push(version);
                if version < 0x0301 {
                    let _ = tcp.write_all(&[0x15, 0x03, 0x00, 0x00, 0x02, 0x02, 0x28]).await;
                } else {
                    let flight = tls10_flight(&chain);
                    let (first, second) = flight.split_at(flight.len() / 2);
                    let _ = tcp.write_all(first).await;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    let _ = tcp.write_all(second).await;
                }
                // Wait for the client to go away.
                let _ = tokio::time::timeout(Duration::from_secs(5), async {
                    while matches!(tcp.read(&mut buf).await, Ok(n) if n > 0) {}
                })
                .await;
            });
        }
    });
    (addr, seen)
}

/// ServerHello (TLS 1.0, TLS_RSA_WITH_AES_128_CBC_SHA), Certificate, ServerHelloDone, in records of at most
/// 200 bytes.
fn tls10_flight(chain: &[CertificateDer<'static>]) -> Vec<u8> {
    fn u24(n: usize) -> [u8; 3] {
        let n = u32::try_from(n).expect("length");
        [(n >> 16) as u8, (n >> 8) as u8, n as u8]
    }
    let mut handshake = vec![0x02, 0, 0, 38, 0x03, 0x01];
    handshake.extend_from_slice(&[7u8; 32]); // random
    handshake.extend_from_slice(&[0, 0x00, 0x2f, 0]); // no session id, the suite, null compression
    let mut list = Vec::new();
    for der in chain {
        list.extend_from_slice(&u24(der.len()));
        list.extend_from_slice(der);
    }
    handshake.push(11);
    handshake.extend_from_slice(&u24(list.len() + 3));
    handshake.extend_from_slice(&u24(list.len()));
    handshake.extend_from_slice(&list);
    handshake.extend_from_slice(&[14, 0, 0, 0]);
    let mut out = Vec::new();
    for record in handshake.chunks(200) {
        out.extend_from_slice(&[0x16, 0x03, 0x01]);
        out.extend_from_slice(&u16::try_from(record.len()).expect("record").to_be_bytes());
        out.extend_from_slice(record);
    }
    out
}

// ---------------------------------------------------------------------------------------------------------------
// Helpers

fn config_with_roots(roots: &str) -> ToolsConfig {
    let mut config = loopback_config();
    config.ssl.extra_roots = roots.to_string();
    config
}

fn probe_statuses(result: &SslResult) -> Vec<(&str, ProbeStatus)> {
    result.legacy_probes.iter().map(|p| (p.version.as_str(), p.status)).collect()
}

async fn run(config: ToolsConfig, target: &str) -> Result<SslResult, ToolError> {
    let target = Target::parse(ToolKey::Ssl, target).expect("target");
    tlink_tools::ssl::run(&toolbox(config), &target, &RunOptions::default()).await
}

fn codes(result: &SslResult) -> Vec<&str> {
    result.findings.iter().map(|f| f.code.as_str()).collect()
}

fn failed(result: Result<SslResult, ToolError>) -> String {
    match result {
        Err(ToolError::Failed(message)) => message,
        other => panic!("expected a FAILED run, got {other:?}"),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Tests

#[tokio::test]
async fn valid_chain_is_trusted_and_described() {
    let ca = Ca::new();
    let server = modern_server(ca.leaf(&["localhost", "127.0.0.1"], (2020, 1, 1), in_days(400))).await;
    let port = server.addr.port();

    let r = run(config_with_roots(&ca.roots_path()), &format!("127.0.0.1:{port}")).await.expect("run");
    assert_eq!((r.host.as_str(), r.port, r.address.clone()), ("127.0.0.1", port, format!("127.0.0.1:{port}")));
    assert_eq!(r.protocol, "TLSv1.3");
    assert!(
        ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"]
            .contains(&r.cipher_suite.as_str()),
        "{}",
        r.cipher_suite
    );
    assert!(r.key_exchange.is_some());
    assert_eq!(r.alpn, None, "the server offers no ALPN");
    assert!(r.valid && r.chain_valid && r.trusted && r.hostname_matches, "{r:#?}");
    assert_eq!(r.validation_error, None);
    assert!(r.findings.is_empty(), "{:?}", r.findings);
    // rustls refuses every legacy version: probed, none accepted.
    assert!(r.legacy_protocols.is_empty(), "{:?}", r.legacy_probes);
    assert_eq!(
        probe_statuses(&r),
        [("SSLv3", ProbeStatus::Refused), ("TLSv1.0", ProbeStatus::Refused), ("TLSv1.1", ProbeStatus::Refused)]
    );
    // IP target: no SNI sent.
    assert_eq!(r.sni, None);
    assert_eq!(server.seen(1).await, [None]);

    assert_eq!(r.certificates.len(), 2);
    let leaf = &r.certificates[0];
    assert_eq!(leaf.subject, "CN=localhost");
    assert_eq!(leaf.issuer, "O=tlink test, CN=tlink test CA");
    assert_eq!(leaf.common_name.as_deref(), Some("localhost"));
    assert_eq!(leaf.subject_alt_names, ["localhost", "127.0.0.1"]);
    assert_eq!(leaf.serial_number, "0abcde");
    assert_eq!(leaf.not_before, "2020-01-01T00:00:00Z");
    let (y, m, d) = in_days(400);
    assert_eq!(leaf.not_after, format!("{y:04}-{m:02}-{d:02}T00:00:00Z"));
    assert!((398..=400).contains(&leaf.days_to_expiry), "{}", leaf.days_to_expiry);
    assert_eq!((r.days_to_expiry, r.expires_at.as_deref()), (Some(leaf.days_to_expiry), Some(leaf.not_after.as_str())));
    assert!(!leaf.expired && !leaf.not_yet_valid && !leaf.self_signed && !leaf.is_ca);
    assert_eq!((leaf.key_type.as_str(), leaf.key_size, leaf.curve.as_deref()), ("EC", Some(256), Some("P-256")));
    assert_eq!(leaf.signature_algorithm, "ecdsa-with-SHA256");
    assert_eq!(leaf.sha256_fingerprint.len(), 64);
    let ca_cert = &r.certificates[1];
    assert!(ca_cert.self_signed && ca_cert.is_ca);
    assert_eq!(ca_cert.subject, ca_cert.issuer);
    assert_ne!(ca_cert.sha256_fingerprint, leaf.sha256_fingerprint);

    // The JSON contract alert rules address.
    let json = serde_json::to_value(&r).expect("json");
    assert_eq!(json["certificates"][0]["daysToExpiry"], serde_json::json!(leaf.days_to_expiry));
    assert_eq!(json["hostnameMatches"], serde_json::json!(true));
    assert_eq!(json["cipherSuite"], serde_json::json!(r.cipher_suite));
    assert!(json.get("sni").is_none());

    // The same server without the test CA among the roots: untrusted, but the hostname still matches.
    let r = run(loopback_config(), &format!("127.0.0.1:{port}")).await.expect("run without roots");
    assert!(!r.valid && !r.trusted && !r.chain_valid && r.hostname_matches, "{r:#?}");
    assert_eq!(codes(&r), ["untrusted"]);
    assert!(r.findings[0].message.contains("unknown issuer"), "{}", r.findings[0].message);
    assert!(r.validation_error.as_deref().is_some_and(|e| e.contains("unknown issuer")), "{r:#?}");
}

#[tokio::test]
async fn host_names_are_sent_in_sni_and_checked() {
    let ca = Ca::new();
    let server = modern_server(ca.leaf(&["tls.localhost"], (2020, 1, 1), in_days(400))).await;
    let port = server.addr.port();

    let r = run(config_with_roots(&ca.roots_path()), &format!("tls.localhost:{port}")).await.expect("run");
    assert_eq!(r.sni.as_deref(), Some("tls.localhost"));
    assert_eq!(server.seen(1).await, [Some("tls.localhost".to_string())]);
    assert!(r.valid && r.hostname_matches, "{r:#?}");

    // A URL target takes its host and explicit port.
    let r =
        run(config_with_roots(&ca.roots_path()), &format!("https://tls.localhost:{port}/login")).await.expect("url");
    assert_eq!((r.host.as_str(), r.port, r.valid), ("tls.localhost", port, true));

    // The IP address is not among the SANs: trusted CA, wrong host.
    let r = run(config_with_roots(&ca.roots_path()), &format!("127.0.0.1:{port}")).await.expect("ip run");
    assert!(r.trusted && r.chain_valid && !r.hostname_matches && !r.valid, "{r:#?}");
    assert_eq!(codes(&r), ["hostname_mismatch"]);
    assert_eq!(r.findings[0].severity, Severity::High);
    assert!(
        r.findings[0].message.contains("not valid for 127.0.0.1; it names tls.localhost"),
        "{}",
        r.findings[0].message
    );
    assert_eq!(r.validation_error.as_deref(), Some("the leaf certificate is not valid for 127.0.0.1"));
}

#[tokio::test]
async fn certificate_for_another_host_is_a_mismatch() {
    let ca = Ca::new();
    let server = modern_server(ca.leaf(&["www.example.test", "10.1.2.3"], (2020, 1, 1), in_days(400))).await;
    let port = server.addr.port();
    for target in [format!("tls.localhost:{port}"), format!("127.0.0.1:{port}")] {
        let r = run(config_with_roots(&ca.roots_path()), &target).await.expect("run");
        assert!(r.trusted && r.chain_valid && !r.hostname_matches && !r.valid, "{target}: {r:#?}");
        assert_eq!(codes(&r), ["hostname_mismatch"], "{target}");
        assert!(r.findings[0].message.contains("www.example.test, 10.1.2.3"), "{}", r.findings[0].message);
    }
}

#[tokio::test]
async fn expired_and_not_yet_valid_certificates() {
    let ca = Ca::new();
    let server = modern_server(ca.leaf(&["127.0.0.1"], (2020, 1, 1), (2021, 1, 1))).await;
    let r = run(config_with_roots(&ca.roots_path()), &format!("127.0.0.1:{}", server.addr.port())).await.expect("run");
    let leaf = &r.certificates[0];
    assert!(leaf.expired && leaf.days_to_expiry < -365, "{leaf:#?}");
    assert_eq!(r.days_to_expiry, Some(leaf.days_to_expiry));
    assert_eq!(r.expires_at.as_deref(), Some("2021-01-01T00:00:00Z"));
    // Issued by a trusted CA: trusted, but the chain is not valid now.
    assert!(r.trusted && !r.chain_valid && !r.valid && r.hostname_matches, "{r:#?}");
    assert_eq!(r.validation_error.as_deref(), Some("a certificate of the chain expired on 2021-01-01T00:00:00Z"));
    assert_eq!(codes(&r), ["expired"]);
    assert_eq!(r.findings[0].severity, Severity::Critical);
    assert!(r.findings[0].message.contains("expired on 2021-01-01T00:00:00Z"), "{}", r.findings[0].message);

    let server = modern_server(ca.leaf(&["127.0.0.1"], (2100, 1, 1), (2101, 1, 1))).await;
    let r = run(config_with_roots(&ca.roots_path()), &format!("127.0.0.1:{}", server.addr.port())).await.expect("run");
    assert!(r.certificates[0].not_yet_valid && !r.certificates[0].expired);
    assert!(r.trusted && !r.chain_valid && !r.valid, "{r:#?}");
    assert_eq!(codes(&r), ["not_yet_valid"]);
    assert_eq!(
        r.validation_error.as_deref(),
        Some("a certificate of the chain is not valid before 2100-01-01T00:00:00Z")
    );
}

#[tokio::test]
async fn certificate_expiring_soon_is_reported() {
    let ca = Ca::new();
    let server = modern_server(ca.leaf(&["127.0.0.1"], (2020, 1, 1), in_days(11))).await;
    let target = format!("127.0.0.1:{}", server.addr.port());
    let r = run(config_with_roots(&ca.roots_path()), &target).await.expect("run");
    assert!(r.valid, "{r:#?}");
    let days = r.days_to_expiry.expect("days to expiry");
    assert!((10..=11).contains(&days), "{days}");
    assert_eq!(codes(&r), ["expiring_soon"]);
    assert_eq!(r.findings[0].severity, Severity::Medium);
    assert!(r.findings[0].message.contains(&format!("expires in {days} day(s)")));

    // The threshold is configuration.
    let mut config = config_with_roots(&ca.roots_path());
    config.ssl.expiry_warning_days = 5;
    let r = run(config, &target).await.expect("run");
    assert!(r.findings.is_empty(), "{:?}", r.findings);
}

#[tokio::test]
async fn self_signed_leaf_is_untrusted() {
    let server = modern_server(self_signed(&["localhost", "127.0.0.1"])).await;
    let r = run(loopback_config(), &format!("127.0.0.1:{}", server.addr.port())).await.expect("run");
    assert!(r.certificates[0].self_signed && !r.certificates[0].is_ca);
    assert_eq!(r.certificates.len(), 1);
    assert!(!r.trusted && !r.chain_valid && !r.valid && r.hostname_matches, "{r:#?}");
    let mut found = codes(&r);
    found.sort_unstable();
    assert_eq!(found, ["self_signed", "untrusted"]);
    // Sorted by severity: untrusted (high) before self_signed (medium).
    assert_eq!(r.findings[0].code, "untrusted");
}

#[tokio::test]
async fn sha1_signature_and_rsa_1024_key_in_the_chain() {
    // Even with its root trusted, the chain fails verification because of the SHA-1 signature.
    let roots = fixtures().join("root.pem").to_string_lossy().into_owned();
    let server = modern_server(weak_chain()).await;
    let r = run(config_with_roots(&roots), &format!("127.0.0.1:{}", server.addr.port())).await.expect("run");

    let leaf = &r.certificates[0];
    assert_eq!(leaf.signature_algorithm, "sha1WithRSAEncryption");
    assert_eq!((leaf.key_type.as_str(), leaf.key_size), ("EC", Some(256)));
    assert_eq!(leaf.serial_number, "2002");
    assert_eq!(leaf.sha256_fingerprint, "db6d65c3bc5b9b0e0fa47e998a5c1f5ec963cb5dea34ae0be16625cf15bdde1d");
    assert_eq!(leaf.not_after, "2126-10-30T08:51:05Z");
    assert_eq!(leaf.issuer, "O=tlink test, CN=tlink weak intermediate (RSA-1024)");
    let intermediate = &r.certificates[1];
    assert_eq!((intermediate.key_type.as_str(), intermediate.key_size), ("RSA", Some(1024)));
    assert_eq!(intermediate.signature_algorithm, "sha256WithRSAEncryption");
    assert!(intermediate.is_ca && !intermediate.self_signed);
    assert_eq!(intermediate.sha256_fingerprint, "303548620ca7305532f032cb7f54ab1b5a9b8fad3eb6e1e79da19229b4f488de");

    assert!(r.hostname_matches && !r.trusted && !r.valid, "{r:#?}");
    let mut found = codes(&r);
    found.sort_unstable();
    assert_eq!(found, ["sha1_signature", "untrusted", "weak_rsa_key"]);
    let by_code = |c: &str| r.findings.iter().find(|f| f.code == c).expect("finding");
    assert!(by_code("sha1_signature").message.contains("the leaf certificate (CN=localhost)"));
    assert!(by_code("weak_rsa_key").message.contains("certificate #1 of the chain"));
    assert!(by_code("weak_rsa_key").message.contains("1024-bit RSA key"));
    assert!(by_code("untrusted").message.contains("not accepted"), "{}", by_code("untrusted").message);
}

#[tokio::test]
async fn tls12_and_alpn_are_reported() {
    let ca = Ca::new();
    let server =
        tls_server(ca.leaf(&["127.0.0.1"], (2020, 1, 1), in_days(400)), &[&rustls::version::TLS12], &[b"h2"]).await;
    let r = run(config_with_roots(&ca.roots_path()), &format!("127.0.0.1:{}", server.addr.port())).await.expect("run");
    assert_eq!(r.protocol, "TLSv1.2");
    assert!(r.cipher_suite.starts_with("TLS_ECDHE_ECDSA_WITH_"), "{}", r.cipher_suite);
    assert_eq!(r.alpn.as_deref(), Some("h2"));
    assert!(r.valid, "{r:#?}");

    // A server that refuses both offered protocols (no_application_protocol): retried without ALPN.
    let server =
        tls_server(ca.leaf(&["127.0.0.1"], (2020, 1, 1), in_days(400)), &[&rustls::version::TLS13], &[b"imap"]).await;
    let r = run(config_with_roots(&ca.roots_path()), &format!("127.0.0.1:{}", server.addr.port())).await.expect("run");
    assert_eq!((r.protocol.as_str(), r.alpn.as_deref(), r.valid), ("TLSv1.3", None, true));
    assert_eq!(server.seen(1).await.len(), 1, "only the retry completes a handshake");
}

#[tokio::test]
async fn port_comes_from_the_options_when_the_target_has_none() {
    let ca = Ca::new();
    let server = modern_server(ca.leaf(&["127.0.0.1"], (2020, 1, 1), in_days(400))).await;
    let target = Target::parse(ToolKey::Ssl, "127.0.0.1").expect("target");
    let options = RunOptions { port: Some(server.addr.port()), ..RunOptions::default() };
    let tb = toolbox(config_with_roots(&ca.roots_path()));
    let r = tlink_tools::ssl::run(&tb, &target, &options).await.expect("run");
    assert_eq!(r.port, server.addr.port());

    // Without the option, the configured default port.
    let mut config = config_with_roots(&ca.roots_path());
    config.ssl.default_port = server.addr.port();
    let r = tlink_tools::ssl::run(&toolbox(config), &target, &RunOptions::default()).await.expect("run");
    assert!(r.valid);
}

#[tokio::test]
async fn servers_without_tls_12_or_13_fail_clearly() {
    // What an OpenSSL server limited to TLS 1.1 answers a ClientHello it refuses: a fatal protocol_version alert.
    // Answered to every ClientHello, legacy probes included: nothing is accepted, the run fails.
    const ALERT: &[u8] = &[0x15, 0x03, 0x01, 0x00, 0x02, 0x02, 0x46];
    let addr = raw_server(ALERT, Duration::ZERO).await;
    let message = failed(run(loopback_config(), &addr.to_string()).await);
    assert!(message.contains("offers no TLS 1.2 or 1.3 (alert: protocol_version)"), "{message}");
}

#[tokio::test]
async fn a_legacy_server_hello_without_certificate_is_still_reported() {
    // An older server choosing TLS 1.0 in its ServerHello (TLS_RSA_WITH_AES_128_CBC_SHA) to every ClientHello,
    // then sending nothing more: TLS 1.0 is accepted, the certificate cannot be read.
    const SERVER_HELLO_TLS10: &[u8] = &[
        0x16, 0x03, 0x01, 0x00, 0x2a, // handshake record, 42 bytes
        0x02, 0x00, 0x00, 0x26, // ServerHello, 38 bytes
        0x03, 0x01, // TLS 1.0
        1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30,
        31, 32,   // random
        0x00, // no session id
        0x00, 0x2f, // cipher suite
        0x00, // null compression
    ];
    let addr = raw_server(SERVER_HELLO_TLS10, Duration::from_millis(300)).await;
    let r = run(loopback_config(), &addr.to_string()).await.expect("a COMPLETED result");
    assert_eq!((r.protocol.as_str(), r.cipher_suite.as_str()), ("TLSv1.0", "TLS_RSA_WITH_AES_128_CBC_SHA"));
    assert_eq!(r.legacy_protocols, ["TLSv1.0"]);
    assert_eq!(
        probe_statuses(&r),
        [("SSLv3", ProbeStatus::Refused), ("TLSv1.0", ProbeStatus::Accepted), ("TLSv1.1", ProbeStatus::Refused)]
    );
    let detail = |i: usize| r.legacy_probes[i].detail.clone().unwrap_or_default();
    assert!(detail(0).contains("answered with TLSv1.0, above the version offered"), "{}", detail(0));
    assert!(detail(2).contains("answered with TLSv1.0, a lower version"), "{}", detail(2));
    assert!(r.certificates.is_empty());
    assert!(!r.valid && !r.trusted && !r.hostname_matches);
    assert_eq!((r.days_to_expiry, r.expires_at.as_deref()), (None, None));
    assert_eq!(codes(&r), ["legacy_tls_only", "tls1_0_enabled"]);
    let json = serde_json::to_value(&r).expect("json");
    assert!(json.get("daysToExpiry").is_none() && json.get("expiresAt").is_none(), "{json}");
    assert_eq!(json["legacyProtocols"], serde_json::json!(["TLSv1.0"]));
}

#[tokio::test]
async fn a_tls_1_0_only_server_is_analysed_from_its_clear_text_certificate() {
    let ca = Ca::new();
    let identity = ca.leaf(&["tls.localhost"], (2020, 1, 1), in_days(400));
    let (addr, offered) = tls10_server(identity.chain).await;
    let target = format!("tls.localhost:{}", addr.port());

    let r = run(config_with_roots(&ca.roots_path()), &target).await.expect("a COMPLETED result");
    assert_eq!(r.protocol, "TLSv1.0");
    assert_eq!(r.cipher_suite, "TLS_RSA_WITH_AES_128_CBC_SHA");
    assert_eq!((r.key_exchange.as_deref(), r.alpn.as_deref()), (None, None));
    assert_eq!(r.sni.as_deref(), Some("tls.localhost"));
    assert_eq!(r.legacy_protocols, ["TLSv1.0"]);
    assert_eq!(
        probe_statuses(&r),
        [("SSLv3", ProbeStatus::Refused), ("TLSv1.0", ProbeStatus::Accepted), ("TLSv1.1", ProbeStatus::Refused)]
    );
    assert!(r.legacy_probes[0].detail.as_deref().is_some_and(|d| d.contains("alert: handshake_failure")), "{r:#?}");

    // The chain came in clear after the ServerHello, over several records: described and judged as usual.
    assert_eq!(r.certificates.len(), 2);
    assert_eq!(r.certificates[0].subject, "CN=tls.localhost");
    assert_eq!(r.certificates[1].subject, "O=tlink test, CN=tlink test CA");
    assert!(r.trusted && r.chain_valid && r.hostname_matches, "{r:#?}");
    assert_eq!(r.expires_at.as_deref(), Some(r.certificates[0].not_after.as_str()));
    // But no current client connects.
    assert!(!r.valid);
    assert_eq!(
        r.validation_error.as_deref(),
        Some("the server offers no TLS 1.2 or 1.3, only TLSv1.0, which current clients refuse")
    );
    assert_eq!(codes(&r), ["legacy_tls_only", "tls1_0_enabled"]);
    assert_eq!((r.findings[0].severity, r.findings[1].severity), (Severity::High, Severity::Medium));

    // The modern ClientHello offered TLS 1.2 (with 1.3 in an extension), then one probe per legacy version.
    let mut seen = offered.lock().expect("lock").clone();
    seen.sort_unstable();
    assert_eq!(seen, [0x0300, 0x0301, 0x0302, 0x0303]);

    // With the probes of modern servers switched off, a failed handshake is still followed by them.
    let mut config = config_with_roots(&ca.roots_path());
    config.ssl.probe_legacy = false;
    let r = run(config, &target).await.expect("a COMPLETED result");
    assert_eq!((r.protocol.as_str(), r.legacy_protocols.clone()), ("TLSv1.0", vec!["TLSv1.0".to_string()]));
}

#[tokio::test]
async fn a_tls_1_1_only_openssl_server_is_reported_not_failed() {
    let ca = Ca::new();
    let pem = ca.leaf_pem(&["localhost", "127.0.0.1"], (2020, 1, 1), in_days(400));
    let Some(server) = OpensslServer::start(&["-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"], pem) else { return };

    let r = run(config_with_roots(&ca.roots_path()), &format!("127.0.0.1:{}", server.port)).await.expect("run");
    assert_eq!(r.protocol, "TLSv1.1");
    assert!(r.cipher_suite.starts_with("TLS_ECDHE_ECDSA_WITH_AES_"), "{}", r.cipher_suite);
    assert_eq!(r.legacy_protocols, ["TLSv1.1"]);
    assert_eq!(
        probe_statuses(&r),
        [("SSLv3", ProbeStatus::Refused), ("TLSv1.0", ProbeStatus::Refused), ("TLSv1.1", ProbeStatus::Accepted)]
    );
    assert_eq!(codes(&r), ["legacy_tls_only", "tls1_1_enabled"]);
    assert!(r.findings[0].message.contains("only TLSv1.1"), "{}", r.findings[0].message);
    assert_eq!(r.certificates.len(), 2);
    assert_eq!(r.certificates[0].subject_alt_names, ["localhost", "127.0.0.1"]);
    assert!(r.trusted && r.chain_valid && r.hostname_matches && !r.valid, "{r:#?}");
    assert!(r.days_to_expiry.is_some_and(|d| (398..=400).contains(&d)), "{:?}", r.days_to_expiry);
}

#[tokio::test]
async fn a_modern_server_that_still_accepts_tls_1_0_and_1_1_is_flagged() {
    let ca = Ca::new();
    let pem = ca.leaf_pem(&["127.0.0.1"], (2020, 1, 1), in_days(400));
    let options = ["-min_protocol", "TLSv1", "-cipher", "DEFAULT:@SECLEVEL=0"];
    let Some(server) = OpensslServer::start(&options, pem) else { return };
    let target = format!("127.0.0.1:{}", server.port);

    let r = run(config_with_roots(&ca.roots_path()), &target).await.expect("run");
    assert_eq!(r.protocol, "TLSv1.3");
    assert!(r.valid, "{r:#?}");
    assert_eq!(r.legacy_protocols, ["TLSv1.0", "TLSv1.1"]);
    assert_eq!(r.legacy_probes[0].status, ProbeStatus::Refused, "this OpenSSL has no SSL 3.0");
    assert_eq!(codes(&r), ["tls1_0_enabled", "tls1_1_enabled"]);
    assert!(r.findings.iter().all(|f| f.severity == Severity::Medium), "{:?}", r.findings);
    assert!(r.findings[0].message.contains("RFC 8996"), "{}", r.findings[0].message);

    // Probing can be left to failed handshakes.
    let mut config = config_with_roots(&ca.roots_path());
    config.ssl.probe_legacy = false;
    let r = run(config, &target).await.expect("run");
    assert!(r.legacy_probes.is_empty() && r.legacy_protocols.is_empty() && r.findings.is_empty(), "{r:#?}");
}

#[tokio::test]
async fn plain_http_server_is_not_tls() {
    const ANSWER: &[u8] = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
    let addr = raw_server(ANSWER, Duration::ZERO).await;
    let message = failed(run(loopback_config(), &addr.to_string()).await);
    assert!(message.contains("does not speak TLS"), "{message}");
    assert!(message.contains("\"HTTP/1.1 400 Bad Request\""), "{message}");

    // A server that accepts and closes without a word.
    let addr = raw_server(b"", Duration::ZERO).await;
    let message = failed(run(loopback_config(), &addr.to_string()).await);
    assert!(message.contains("closed the connection without answering the TLS ClientHello"), "{message}");
}

#[tokio::test]
async fn silent_server_hits_the_handshake_timeout() {
    let addr = raw_server(b"", Duration::from_secs(3)).await;
    let mut config = loopback_config();
    config.ssl.handshake_timeout_ms = 200;
    let message = failed(run(config, &addr.to_string()).await);
    assert!(message.contains("did not finish within 200ms (the server sent nothing)"), "{message}");
}

#[tokio::test]
async fn port_zero_is_refused_wherever_it_comes_from() {
    let invalid = |result: Result<SslResult, ToolError>| match result {
        Err(ToolError::InvalidInput(message)) => message,
        other => panic!("expected invalid input, got {other:?}"),
    };
    // A typed target with port 0 is refused when it is read, with the message the tool would give.
    for target in ["127.0.0.1:0", "tls.localhost:0", "[::1]:0", "https://127.0.0.1:0/"] {
        let refused = Target::parse(ToolKey::Ssl, target).expect_err("port 0 is refused");
        assert_eq!(ToolError::from(refused).to_string(), format!("`{target}`: the port must be 1-65535"));
    }

    let tb = toolbox(loopback_config());
    let target = Target::parse(ToolKey::Ssl, "127.0.0.1").expect("target");
    let options = RunOptions { port: Some(0), ..RunOptions::default() };
    assert_eq!(invalid(tlink_tools::ssl::run(&tb, &target, &options).await), "options.port must be 1-65535");
    // The same through the entry point the CLI and the worker use.
    match tb.run(ToolKey::Ssl, &target, &options, &tlink_tools::NoProgress).await {
        Err(ToolError::InvalidInput(message)) => assert_eq!(message, "options.port must be 1-65535"),
        other => panic!("expected invalid input, got {other:?}"),
    }

    let mut config = loopback_config();
    config.ssl.default_port = 0;
    let message = invalid(tlink_tools::ssl::run(&toolbox(config), &target, &RunOptions::default()).await);
    assert_eq!(message, "tools.ssl.default_port must be 1-65535");

    // Below the tools: a connection to port 0 is never attempted.
    match tb.connect_tcp("127.0.0.1", 0, Duration::from_secs(1)).await {
        Err(ToolError::InvalidInput(message)) => assert_eq!(message, "127.0.0.1:0: the port must be 1-65535"),
        other => panic!("expected invalid input, got {:?}", other.map(|(_, addr)| addr)),
    }
}

#[tokio::test]
async fn closed_port_fails() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let message = failed(run(loopback_config(), &addr.to_string()).await);
    assert!(message.contains(&format!("connecting to {addr}")), "{message}");
}

#[tokio::test]
async fn loopback_target_is_refused_by_the_egress_policy() {
    let server = modern_server(self_signed(&["127.0.0.1"])).await;
    let port = server.addr.port();
    for (target, sentence) in [
        (format!("127.0.0.1:{port}"), "127.0.0.1 is a loopback address; "),
        // The name resolves to 127.0.0.1 and ::1 (in either order), both refused.
        (format!("tls.localhost:{port}"), "every address of tls.localhost is refused, e.g. "),
    ] {
        let config = ToolsConfig { allow_private_targets: false, ..loopback_config() };
        match run(config, &target).await {
            Err(ToolError::Refused(message)) => {
                assert!(message.starts_with(sentence), "{message}");
                assert!(message.contains(", a loopback address; ") || message.contains(" is a loopback address; "));
                assert!(
                    message.ends_with(
                        "only when tools.allow_private_targets is set or the network is listed in tools.egress_allow"
                    ),
                    "{message}"
                );
            }
            other => panic!("expected a refusal of {target}, got {other:?}"),
        }
    }
    assert!(server.sni_seen.lock().expect("sni").is_empty(), "no connection was made");
}

#[tokio::test]
async fn unreadable_extra_roots_is_invalid_input() {
    let server = modern_server(self_signed(&["127.0.0.1"])).await;
    let missing = fixtures().join("no-such-file.pem").to_string_lossy().into_owned();
    match run(config_with_roots(&missing), &format!("127.0.0.1:{}", server.addr.port())).await {
        Err(ToolError::InvalidInput(message)) => assert!(message.contains("tools.ssl.extra_roots"), "{message}"),
        other => panic!("expected invalid input, got {other:?}"),
    }
}

#[test]
fn result_schema_names_the_rule_fields() {
    let schema = ToolKey::Ssl.result_schema().to_string();
    for field in [
        "daysToExpiry",
        "expiresAt",
        "hostnameMatches",
        "certificates",
        "sha256Fingerprint",
        "findings",
        "legacyProtocols",
        "legacyProbes",
    ] {
        assert!(schema.contains(&format!("\"{field}\"")), "{field} missing from {schema}");
    }
}
