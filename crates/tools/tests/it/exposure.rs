//! The exposure tool against real TCP services on loopback: SSH, SMTP and FTP greetings, an HTTP server
//! answering `HEAD`, a Redis-like server answering `PING`/`INFO`, and a listener that says nothing.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tlink_tools::exposure::{self, ExposureResult, RiskLevel, VulnRules, compare_versions, parse_port_spec};
use tlink_tools::{NoProgress, Progress, ResultSchema, RunOptions, Target, ToolError, ToolKey, ToolsConfig};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use crate::support::{loopback_config, toolbox};

/// Keeps a connection open until the peer closes it (bounded).
async fn hold(mut stream: TcpStream) {
    let mut buf = [0u8; 256];
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while let Ok(n) = stream.read(&mut buf).await {
            if n == 0 {
                break;
            }
        }
    })
    .await;
}

/// A listener on a random loopback port whose connections are served by `handler`.
async fn serve<F, Fut>(handler: F) -> u16
where
    F: Fn(TcpStream) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("local addr").port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(handler(stream));
        }
    });
    port
}

/// A service that greets with `banner` and then waits.
async fn greeter(banner: &'static str) -> u16 {
    serve(move |mut s| async move {
        if s.write_all(banner.as_bytes()).await.is_ok() {
            hold(s).await;
        }
    })
    .await
}

/// An HTTP server answering `HEAD`/`GET` with an Apache `Server:` header.
async fn http_server() -> u16 {
    serve(|mut s| async move {
        let mut request = Vec::new();
        let mut buf = [0u8; 512];
        while !request.windows(4).any(|w| w == b"\r\n\r\n") && request.len() < 8192 {
            match tokio::time::timeout(Duration::from_secs(5), s.read(&mut buf)).await {
                Ok(Ok(n)) if n > 0 => request.extend_from_slice(&buf[..n]),
                _ => return,
            }
        }
        if request.starts_with(b"HEAD ") || request.starts_with(b"GET ") {
            let reply = "HTTP/1.1 200 OK\r\nDate: Mon, 01 Jan 2024 00:00:00 GMT\r\nServer: Apache/2.4.49 (Unix)\r\n\
                         Content-Type: text/html\r\nContent-Length: 45\r\nConnection: close\r\n\r\n";
            let _ = s.write_all(reply.as_bytes()).await;
        }
    })
    .await
}

/// A server speaking the Redis inline protocol: `PING`, `INFO [section]`, errors for anything else.
async fn redis_server() -> u16 {
    serve(|s| async move {
        let (read, mut write) = s.into_split();
        let mut lines = BufReader::new(read).lines();
        while let Ok(Ok(Some(line))) = tokio::time::timeout(Duration::from_secs(5), lines.next_line()).await {
            let mut words = line.split_whitespace();
            let reply = match words.next().map(str::to_ascii_uppercase).as_deref() {
                None => continue,
                Some("PING") => "+PONG\r\n".to_string(),
                Some("INFO") => {
                    let body = "# Server\r\nredis_version:5.0.7\r\nredis_mode:standalone\r\nos:Linux\r\n";
                    format!("${}\r\n{body}\r\n", body.len())
                }
                Some(_) => {
                    let cmd = line.split_whitespace().next().unwrap_or_default();
                    format!("-ERR unknown command `{cmd}`, with args beginning with: \r\n")
                }
            };
            if write.write_all(reply.as_bytes()).await.is_err() {
                break;
            }
        }
    })
    .await
}

/// A port with nothing listening (bound, then released).
async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("local addr").port()
}

fn fast_config() -> ToolsConfig {
    let mut config = loopback_config();
    config.exposure.connect_timeout_ms = 500;
    config.exposure.banner_timeout_ms = 300;
    config
}

async fn scan(config: ToolsConfig, target: &str, ports: &str) -> Result<ExposureResult, ToolError> {
    let tb = toolbox(config);
    let target = Target::parse(ToolKey::Exposure, target).expect("target");
    let options = RunOptions { ports: Some(ports.to_string()), ..RunOptions::default() };
    exposure::run(&tb, &target, &options, &NoProgress).await
}

fn port_of(result: &ExposureResult, port: u16) -> &exposure::OpenPort {
    result.ports.iter().find(|p| p.port == port).unwrap_or_else(|| panic!("port {port} not reported: {result:#?}"))
}

fn cve_ids(port: &exposure::OpenPort) -> Vec<&str> {
    port.cves.iter().map(|c| c.id.as_str()).collect()
}

#[tokio::test]
async fn identifies_services_versions_and_cves_on_real_listeners() {
    let ssh = greeter("SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.1\r\n").await;
    let smtp = greeter("220 mail.test ESMTP Exim 4.87 Mon, 01 Jan 2024 00:00:00 +0000\r\n").await;
    let ftp = greeter("220 (vsFTPd 2.3.4)\r\n").await;
    let http = http_server().await;
    let redis = redis_server().await;
    let silent = serve(hold).await;
    let closed = closed_port().await;
    let spec = format!("{ssh},{smtp},{ftp},{http},{redis},{silent},{closed}");

    let r = scan(fast_config(), "127.0.0.1", &spec).await.expect("scan");

    let mut open = vec![ssh, smtp, ftp, http, redis, silent];
    open.sort_unstable();
    assert_eq!(r.open_ports, open, "the closed port is not reported");
    assert_eq!((r.scanned, r.closed, r.filtered), (7, 1, 0));
    assert_eq!(r.address, "127.0.0.1");

    let p = port_of(&r, ssh);
    assert_eq!(
        (p.service.as_str(), p.product.as_deref(), p.version.as_deref()),
        ("ssh", Some("openssh"), Some("8.9p1"))
    );
    assert_eq!(p.banner.as_deref(), Some("SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.1"));
    assert_eq!(p.protocol, "tcp");
    let ids = cve_ids(p);
    assert_eq!(ids.first(), Some(&"CVE-2024-6387"), "highest CVSS first: {ids:?}");
    assert!(ids.contains(&"CVE-2023-48795"), "{ids:?}");
    assert!(!ids.contains(&"CVE-2021-41617"), "fixed in 8.8: {ids:?}");

    let p = port_of(&r, smtp);
    assert_eq!((p.service.as_str(), p.product.as_deref(), p.version.as_deref()), ("smtp", Some("exim"), Some("4.87")));
    assert!(cve_ids(p).contains(&"CVE-2019-10149"), "{:?}", cve_ids(p));
    assert!(p.cves.iter().any(|c| c.id == "CVE-2019-10149" && c.kev && c.cvss == 9.8));

    let p = port_of(&r, ftp);
    assert_eq!(
        (p.service.as_str(), p.product.as_deref(), p.version.as_deref()),
        ("ftp", Some("vsftpd"), Some("2.3.4"))
    );
    assert_eq!(cve_ids(p), vec!["CVE-2011-2523"]);

    let p = port_of(&r, http);
    assert_eq!(
        (p.service.as_str(), p.product.as_deref(), p.version.as_deref()),
        ("http", Some("apache-httpd"), Some("2.4.49"))
    );
    assert_eq!(p.banner.as_deref(), Some("HTTP/1.1 200 OK\nServer: Apache/2.4.49 (Unix)"));
    let ids = cve_ids(p);
    assert!(ids.contains(&"CVE-2021-41773") && ids.contains(&"CVE-2021-42013"), "{ids:?}");
    assert!(!ids.contains(&"CVE-2021-40438"), "fixed in 2.4.49: {ids:?}");

    let p = port_of(&r, redis);
    assert_eq!(
        (p.service.as_str(), p.product.as_deref(), p.version.as_deref()),
        ("redis", Some("redis"), Some("5.0.7"))
    );
    assert_eq!(p.auth_required, Some(false));
    assert_eq!(p.banner.as_deref(), Some("redis_version:5.0.7"));
    let ids = cve_ids(p);
    assert_eq!(ids.first(), Some(&"CVE-2022-0543"), "{ids:?}");
    assert!(p.cves[0].note.as_deref().is_some_and(|n| n.contains("Debian")));

    let p = port_of(&r, silent);
    assert_eq!((p.service.as_str(), p.banner.as_deref(), p.product.as_deref()), ("unknown", None, None));
    assert!(p.cves.is_empty());

    assert_eq!(r.max_cvss, 10.0);
    assert!(r.known_exploited);
    assert_eq!(r.cve_count as usize, r.ports.iter().map(|p| p.cves.len()).sum::<usize>());
    assert!(r.cve_count >= 10, "{}", r.cve_count);
    assert_eq!((r.risk_score, r.risk_level), (100, RiskLevel::Critical));
    let codes: Vec<(&str, Option<u16>)> = r.findings.iter().map(|f| (f.code.as_str(), f.port)).collect();
    assert!(codes.contains(&("redis_no_auth", Some(redis))), "{codes:?}");
    assert!(codes.contains(&("ftp_exposed", Some(ftp))), "{codes:?}");
    assert!(codes.contains(&("known_exploited", Some(http))), "{codes:?}");
    assert!(codes.contains(&("vulnerable_version", Some(ssh))), "{codes:?}");
    assert!(r.findings.windows(2).all(|w| w[0].severity >= w[1].severity), "most severe first");

    // The JSON keys alert rules address.
    let json = serde_json::to_value(&r).expect("json");
    for key in ["openPorts", "ports", "riskScore", "riskLevel", "cveCount", "maxCvss", "scanned", "closed", "filtered"]
    {
        assert!(json.get(key).is_some(), "missing {key}");
    }
    assert_eq!(json["riskLevel"], "critical");
    assert!(json["elapsedMs"].is_u64() && json["portsPerSecond"].as_f64().is_some_and(|v| v > 0.0));
    let first = &json["ports"][0];
    for key in ["port", "protocol", "service", "banner", "product", "version", "cves"] {
        assert!(first.get(key).is_some(), "ports[0] lacks {key}: {first}");
    }
}

#[tokio::test]
async fn a_host_with_nothing_open_scores_zero() {
    let a = closed_port().await;
    let b = closed_port().await;
    let r = scan(fast_config(), "127.0.0.1", &format!("{a},{b}")).await.expect("scan");
    assert!(r.open_ports.is_empty() && r.ports.is_empty() && r.findings.is_empty());
    assert_eq!((r.scanned, r.closed, r.risk_score, r.risk_level), (2, 2, 0, RiskLevel::None));
}

#[tokio::test]
async fn takes_a_url_target_and_the_configured_port_list() {
    let ssh = greeter("SSH-2.0-OpenSSH_9.9\r\n").await;
    let mut config = fast_config();
    config.exposure.ports = ssh.to_string();
    let tb = toolbox(config);
    let target = Target::parse(ToolKey::Exposure, "http://127.0.0.1:8080/admin").expect("target");
    let r = exposure::run(&tb, &target, &RunOptions::default(), &NoProgress).await.expect("scan");
    assert_eq!((r.host.as_str(), r.port_spec.as_str()), ("127.0.0.1", ssh.to_string().as_str()));
    assert_eq!(r.open_ports, vec![ssh]);
    let p = &r.ports[0];
    assert_eq!((p.product.as_deref(), p.version.as_deref()), (Some("openssh"), Some("9.9")));
    assert!(p.cves.is_empty(), "9.9 is past every built-in OpenSSH rule: {:?}", p.cves);
    // One open port, no CVE, no risky service: only the attack-surface point.
    assert_eq!((r.risk_score, r.risk_level), (1, RiskLevel::Low));
}

#[derive(Default)]
struct Counter {
    total: AtomicU64,
    done: AtomicU64,
}

impl Progress for Counter {
    fn set_total(&self, total: u64) {
        self.total.store(total, Ordering::SeqCst);
    }
    fn inc(&self, n: u64) {
        self.done.fetch_add(n, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scans_a_range_counting_closed_ports_and_reporting_progress() {
    let open = greeter("SSH-2.0-OpenSSH_9.9\r\n").await;
    let lo = open.saturating_sub(1000).max(1);
    let hi = lo + 1999;
    let tb = toolbox(fast_config());
    let target = Target::parse(ToolKey::Exposure, "127.0.0.1").expect("target");
    let options = RunOptions { ports: Some(format!("{lo}-{hi}")), ..RunOptions::default() };
    let progress = Counter::default();
    let r = tokio::time::timeout(Duration::from_secs(20), exposure::run(&tb, &target, &options, &progress))
        .await
        .expect("bounded")
        .expect("scan");
    assert_eq!(r.scanned, 2000);
    assert!(r.open_ports.contains(&open), "{:?}", r.open_ports);
    assert_eq!(r.open_ports.len() as u32 + r.closed + r.filtered, 2000);
    // Other processes may listen in the range, but loopback refuses almost everything at once.
    assert!(r.closed >= 1900, "closed {}", r.closed);
    assert_eq!(r.filtered, 0);
    assert_eq!(progress.total.load(Ordering::SeqCst), 2000);
    assert_eq!(progress.done.load(Ordering::SeqCst), 2000);
}

#[tokio::test]
async fn counts_a_port_that_never_answers_as_filtered() {
    // A listener whose accept queue is full drops further SYNs, like a firewall: connects time out.
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.bind("127.0.0.1:0".parse().expect("addr")).expect("bind");
    let listener = socket.listen(0).expect("listen");
    let addr = listener.local_addr().expect("local addr");
    let mut fillers = Vec::new();
    for _ in 0..3 {
        if let Ok(Ok(s)) = tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr)).await {
            fillers.push(s);
        }
    }
    let closed = closed_port().await;
    let mut config = fast_config();
    config.exposure.connect_timeout_ms = 300;
    let r = scan(config, "127.0.0.1", &format!("{},{closed}", addr.port())).await.expect("scan");
    assert_eq!((r.scanned, r.filtered, r.closed), (2, 1, 1), "{r:#?}");
    assert!(r.open_ports.is_empty());
    drop((listener, fillers));
}

#[tokio::test]
async fn refuses_loopback_when_private_targets_are_not_allowed() {
    let ssh = greeter("SSH-2.0-OpenSSH_8.9p1\r\n").await;
    let config = ToolsConfig { allow_private_targets: false, ..fast_config() };
    let err = scan(config, "127.0.0.1", &ssh.to_string()).await.expect_err("refused");
    assert!(matches!(&err, ToolError::Refused(m) if m.contains("127.0.0.1") && m.contains("loopback")), "{err:?}");
    assert!(!err.is_retryable());
}

#[tokio::test]
async fn rejects_bad_port_lists_before_connecting() {
    let err = scan(fast_config(), "127.0.0.1", "22,http").await.expect_err("bad list");
    assert!(matches!(&err, ToolError::InvalidInput(m) if m.contains("`http`")), "{err:?}");
    let config = ToolsConfig {
        exposure: tlink_tools::config::ExposureConfig { concurrency: 0, ..fast_config().exposure },
        ..fast_config()
    };
    let err = scan(config, "127.0.0.1", "22").await.expect_err("no concurrency");
    assert!(matches!(&err, ToolError::InvalidInput(m) if m.contains("concurrency")), "{err:?}");
}

#[test]
fn parses_port_lists() {
    let ok: &[(&str, &[u16])] = &[
        ("22", &[22]),
        ("80,22,80", &[22, 80]),
        (" 22 , 8000-8002 ,8001", &[22, 8000, 8001, 8002]),
        ("65535", &[65535]),
        ("1-3", &[1, 2, 3]),
        ("5-5", &[5]),
    ];
    for (spec, want) in ok {
        assert_eq!(parse_port_spec(spec).expect(spec), *want, "{spec}");
    }
    let top = parse_port_spec("TOP100").expect("top100");
    assert_eq!(top.len(), 100);
    assert!(top.windows(2).all(|w| w[0] < w[1]));
    assert!([21, 22, 23, 25, 80, 443, 445, 3306, 3389, 8080].iter().all(|p| top.contains(p)));
    assert_eq!(parse_port_spec("top100,6379,22").expect("mixed").len(), 101);
    let all = parse_port_spec("all").expect("all");
    assert_eq!((all.len(), all[0], all[65534]), (65535, 1, 65535));
    assert_eq!(parse_port_spec("all,22,top100").expect("all").len(), 65535);

    let bad: &[(&str, &str)] = &[
        ("", "empty"),
        ("   ", "empty"),
        ("22,,80", "entry 2 is empty"),
        ("22,abc", "invalid port list `22,abc`: `abc` is not a port number"),
        ("8000-x", "`8000-x` ends with `x`, which is not a port number"),
        ("0", "port 0"),
        ("65536", "above 65535"),
        ("99999999999", "above 65535"),
        ("8100-8000", "`8100-8000` is a descending range"),
        ("1-70000", "`1-70000` ends with port 70000, above 65535"),
        ("-5", "`-5` starts with an empty port"),
        ("10-", "ends with an empty port"),
        ("22;80", "`22;80`"),
        ("top1000", "`top1000`"),
        ("-22", "starts with an empty port"),
    ];
    for (spec, want) in bad {
        match parse_port_spec(spec) {
            Err(ToolError::InvalidInput(m)) => assert!(m.contains(want), "{spec}: {m}"),
            other => panic!("{spec}: {other:?}"),
        }
    }
}

#[test]
fn compares_versions() {
    use std::cmp::Ordering::{Equal, Greater, Less};
    for (a, b, want) in [
        ("8.9p1", "9.8p1", Less),
        ("9.8p1", "9.8p1", Equal),
        ("9.8p2", "9.8p1", Greater),
        ("8.5p1", "8.9p1", Less),
        ("9.8", "9.8p1", Less),
        ("7.3p1", "7.3", Greater),
        ("1.18.0", "1.20.1", Less),
        ("1.20.1", "1.20.1", Equal),
        ("1.9", "1.10", Less),
        ("2.4.49", "2.4.50", Less),
        ("2.4.049", "2.4.49", Equal),
        ("2.4.49", "2.4", Greater),
        ("1.3.5", "1.3.5a", Less),
        ("1.3.5a", "1.3.5b", Less),
        ("1.0rc1", "1.0.1", Less),
        ("4.92", "4.92.2", Less),
        ("4.87", "4.92", Less),
        ("10.0", "9.99", Greater),
        ("18446744073709551616", "18446744073709551615", Greater),
        ("1.0-A", "1.0.a", Equal),
    ] {
        assert_eq!(compare_versions(a, b), want, "{a} vs {b}");
        assert_eq!(compare_versions(b, a), want.reverse(), "{b} vs {a}");
    }
}

#[test]
fn the_built_in_rules_validate_and_match_by_range() {
    let rules = VulnRules::builtin().expect("built-in rules");
    assert!((15..=40).contains(&rules.len()), "{}", rules.len());
    let ids = |product: &str, version: &str| -> Vec<String> {
        rules.matches(product, version).iter().map(|r| r.cve.clone()).collect()
    };
    // regreSSHion: 8.5p1 <= v < 9.8p1.
    assert!(ids("openssh", "8.5p1").contains(&"CVE-2024-6387".to_string()));
    assert!(ids("openssh", "9.7p1").contains(&"CVE-2024-6387".to_string()));
    assert!(!ids("openssh", "9.8p1").contains(&"CVE-2024-6387".to_string()));
    assert!(!ids("openssh", "8.4p1").contains(&"CVE-2024-6387".to_string()));
    assert_eq!(ids("apache-httpd", "2.4.50").first().map(String::as_str), Some("CVE-2021-42013"));
    assert!(!ids("apache-httpd", "2.4.50").contains(&"CVE-2021-41773".to_string()));
    assert!(ids("nginx", "1.18.0").contains(&"CVE-2021-23017".to_string()));
    assert!(ids("nginx", "1.20.1").is_empty());
    assert!(ids("Exim", "4.91").contains(&"CVE-2019-10149".to_string()), "product is case-insensitive");
    assert!(!ids("exim", "4.92").contains(&"CVE-2019-10149".to_string()));
    assert_eq!(ids("proftpd", "1.3.5"), vec!["CVE-2015-3306"]);
    assert!(ids("proftpd", "1.3.5a").is_empty());
    // One rule per release line, one match per CVE.
    assert_eq!(ids("redis", "6.2.7"), vec!["CVE-2022-24834"]);
    assert!(ids("redis", "7.0.12").is_empty());
    assert!(ids("unknown-product", "1.0").is_empty());
}

fn rules_file(text: &str) -> tempfile::NamedTempFile {
    let mut f = tempfile::NamedTempFile::new().expect("temp file");
    f.write_all(text.as_bytes()).expect("write");
    f
}

const GOOD_RULES: &str = r#"
[[rule]]
product = "openssh"
versions = ["8.9p1", "9.0p1"]
cve = "CVE-2099-0001"
cvss = 6
summary = "Made-up flaw of the test suite"

[[rule]]
product = "openssh"
introduced = "8.0"
fixed = "9.0"
cve = "CVE-2099-0002"
cvss = 3.1
kev = true
summary = "Another one"
note = "test"
"#;

#[test]
fn parses_rules_files_and_names_what_is_wrong() {
    let rules = VulnRules::parse("test", GOOD_RULES).expect("good rules");
    assert_eq!(rules.len(), 2);
    let r = &rules.rules()[1];
    assert_eq!(r.affected, exposure::Affected::Range { introduced: Some("8.0".into()), fixed: Some("9.0".into()) });
    assert!(r.kev && r.cvss == 3.1 && r.note.as_deref() == Some("test"));
    assert_eq!(rules.rules()[0].cvss, 6.0, "an integer CVSS is accepted");
    let ids: Vec<&str> = rules.matches("openssh", "8.9p1").iter().map(|r| r.cve.as_str()).collect();
    assert_eq!(ids, vec!["CVE-2099-0001", "CVE-2099-0002"], "highest CVSS first");
    assert!(VulnRules::parse("empty", "").expect("empty file").is_empty());

    let base = "product = \"nginx\"\ncve = \"CVE-2099-0003\"\ncvss = 5.0\nsummary = \"x\"\n";
    let first =
        "[[rule]]\nproduct = \"nginx\"\nfixed = \"1.0\"\ncve = \"CVE-2099-0009\"\ncvss = 1.0\nsummary = \"ok\"\n";
    for (rule, want) in [
        ("fixed = \"1.0\"\ncvss2 = 1", "rule 2 (CVE-2099-0003): unknown field `cvss2`"),
        ("fixed = \"1.0\"\nkev = \"yes\"", "rule 2 (CVE-2099-0003): field `kev`: expected true or false"),
        (
            "introduced = \"1.20.1\"\nfixed = \"1.18.0\"",
            "rule 2 (CVE-2099-0003): fields `introduced`/`fixed`: empty version range",
        ),
        ("introduced = \"1.2.0\"\nfixed = \"1.2.0\"", "empty version range"),
        ("versions = [\"1.0\"]\nfixed = \"2.0\"", "either `versions` or `introduced`/`fixed`"),
        ("versions = []", "field `versions`: the list is empty"),
        ("versions = [1]", "field `versions`: expected strings"),
        ("fixed = \"latest\"", "field `fixed`: `latest` is not a version"),
        ("", "rule 2 (CVE-2099-0003): needs `versions`"),
    ] {
        let text = format!("{first}\n[[rule]]\n{base}{rule}\n");
        match VulnRules::parse("`my-rules.toml`", &text) {
            Err(ToolError::InvalidInput(m)) => {
                assert!(m.starts_with("vulnerability rules `my-rules.toml`: "), "{m}");
                assert!(m.contains(want), "{rule}: {m}");
            }
            other => panic!("{rule}: {other:?}"),
        }
    }
    for (text, want) in [
        (
            "[[rule]]\nproduct = \"nginx\"\nfixed = \"1.0\"\ncve = \"CVE-2099-0003\"\ncvss = 11\nsummary = \"x\"",
            "rule 1 (CVE-2099-0003): field `cvss`: 11 is not between 0 and 10",
        ),
        (
            "[[rule]]\nproduct = \"nginx\"\nfixed = \"1.0\"\ncve = \"CVE-99\"\ncvss = 1\nsummary = \"x\"",
            "rule 1 (CVE-99): field `cve`: `CVE-99` is not a CVE id",
        ),
        (
            "[[rule]]\nproduct = \"Nginx\"\nfixed = \"1.0\"\ncve = \"CVE-2099-0003\"\ncvss = 1\nsummary = \"x\"",
            "field `product`: `Nginx` must be a lowercase id",
        ),
        (
            "[[rule]]\nproduct = \"nginx\"\nfixed = \"1.0\"\ncve = \"CVE-2099-0003\"\ncvss = 1",
            "rule 1 (CVE-2099-0003): field `summary` is missing",
        ),
        (
            "[[rule]]\nproduct = \"nginx\"\nfixed = \"1.0\"\ncve = \"CVE-2099-0003\"\ncvss = \"high\"\nsummary = \"x\"",
            "field `cvss`: expected a number, found string",
        ),
        ("[rule]\nproduct = \"nginx\"", "`rule` must be an array"),
        ("rules = []", "unknown top-level key `rules`"),
        ("[[rule]\n", "invalid TOML"),
    ] {
        match VulnRules::parse("`x.toml`", text) {
            Err(ToolError::InvalidInput(m)) => assert!(m.contains(want), "{text}: {m}"),
            other => panic!("{text}: {other:?}"),
        }
    }
}

#[tokio::test]
async fn rules_files_replace_or_extend_the_built_in_set() {
    let ssh = greeter("SSH-2.0-OpenSSH_8.9p1 Debian-5\r\n").await;
    let custom = rules_file(GOOD_RULES);
    let path = custom.path().to_string_lossy().into_owned();

    let mut config = fast_config();
    config.exposure.vuln_rules = path.clone();
    let r = scan(config, "127.0.0.1", &ssh.to_string()).await.expect("replace");
    assert_eq!(cve_ids(&r.ports[0]), vec!["CVE-2099-0001", "CVE-2099-0002"], "built-in rules replaced");
    assert!(r.known_exploited && r.max_cvss == 6.0);

    let mut config = fast_config();
    config.exposure.extra_vuln_rules = vec![path.clone()];
    let r = scan(config, "127.0.0.1", &ssh.to_string()).await.expect("extend");
    let ids = cve_ids(&r.ports[0]);
    assert!(ids.contains(&"CVE-2024-6387") && ids.contains(&"CVE-2099-0001"), "built-in rules extended: {ids:?}");

    let broken = rules_file(
        "[[rule]]\nproduct = \"openssh\"\nfixed = \"1.0\"\ncve = \"CVE-2099-0001\"\ncvss = 42\nsummary = \"x\"\n",
    );
    let broken_path = broken.path().to_string_lossy().into_owned();
    let mut config = fast_config();
    config.exposure.extra_vuln_rules = vec![path, broken_path.clone()];
    let err = scan(config, "127.0.0.1", &ssh.to_string()).await.expect_err("bad rules");
    match &err {
        ToolError::InvalidInput(m) => {
            assert!(m.contains(&broken_path) && m.contains("rule 1") && m.contains("`cvss`"), "{m}")
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.is_retryable());

    let mut config = fast_config();
    config.exposure.vuln_rules = "/nonexistent/rules.toml".into();
    let err = scan(config, "127.0.0.1", &ssh.to_string()).await.expect_err("missing file");
    assert!(
        matches!(&err, ToolError::InvalidInput(m) if m.contains("tools.exposure.vuln_rules") && m.contains("/nonexistent/rules.toml")),
        "{err:?}"
    );
}

#[test]
fn scores_risk_by_the_documented_formula() {
    use exposure::risk_score;
    assert_eq!(risk_score(0.0, false, &[], 0), 0);
    assert_eq!(risk_score(0.0, false, &[], 3), 3);
    assert_eq!(risk_score(0.0, false, &[], 40), 10);
    assert_eq!(risk_score(5.3, false, &[], 1), 54);
    assert_eq!(risk_score(7.5, true, &[], 1), 86);
    assert_eq!(risk_score(0.0, false, &[60], 1), 61);
    assert_eq!(risk_score(0.0, false, &[20, 70, 30], 3), 83);
    assert_eq!(risk_score(0.0, false, &[90, 90, 90], 3), 83, "services capped at 80");
    assert_eq!(risk_score(9.8, true, &[70], 5), 100);
    for (score, level) in [
        (0, RiskLevel::None),
        (1, RiskLevel::Low),
        (29, RiskLevel::Low),
        (30, RiskLevel::Medium),
        (59, RiskLevel::Medium),
        (60, RiskLevel::High),
        (84, RiskLevel::High),
        (85, RiskLevel::Critical),
        (100, RiskLevel::Critical),
    ] {
        assert_eq!(RiskLevel::of(score), level, "{score}");
    }
}

#[test]
fn the_result_schema_describes_the_fields() {
    let schema = ToolKey::Exposure.result_schema();
    let props = &schema["properties"];
    for key in ["openPorts", "ports", "riskScore", "riskLevel", "cveCount", "maxCvss", "findings", "portsPerSecond"] {
        assert!(props.get(key).is_some(), "schema lacks {key}: {schema}");
    }
    assert!(schema["$defs"].get("OpenPort").is_some(), "{schema}");
}
