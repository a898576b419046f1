//! Notifications against real receivers on loopback: webhooks to an HTTP receiver (signatures checked with the
//! `standardwebhooks` crate, an independent HMAC and the documented Python recipes), the egress policy, and
//! mail to an aiosmtpd server and to a hand-written SMTP responder.

#![allow(clippy::unwrap_used)]

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use hmac::{Hmac, Mac};
use parking_lot::Mutex;
use serde_json::json;
use sha2::Sha256;
use tlink_tools::notify::{
    Attempt, MailError, Mailer, SmtpConfig, SmtpSecurity, Verdict, WebhookRequest, WebhookSecret, Webhooks, check_url,
};
use tlink_tools::{Toolbox, ToolsConfig};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::dnsserver;
use crate::smtpsink::{END_MESSAGE, SmtpSink};
use crate::support::{loopback_config, toolbox};

// ---------------------------------------------------------------------------------------------------------------
// Webhooks

/// A request the receiver got.
#[derive(Debug, Clone)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Received {
    fn header(&self, name: &str) -> &str {
        self.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_else(|| panic!("header {name} missing"))
    }
}

/// A loopback HTTP receiver that records every request; the path selects the answer.
struct Receiver {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Received>>>,
}

impl Receiver {
    async fn start() -> Receiver {
        let seen: Arc<Mutex<Vec<Received>>> = Arc::default();
        let app = Router::new().fallback(answer).with_state(Arc::clone(&seen));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Receiver { addr, seen }
    }

    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn received(&self) -> Vec<Received> {
        self.seen.lock().clone()
    }
}

async fn answer(State(seen): State<Arc<Mutex<Vec<Received>>>>, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    seen.lock().push(Received { path: uri.path().to_string(), headers, body: body.to_vec() });
    match uri.path() {
        "/hook" | "/target" => (StatusCode::OK, "thanks").into_response(),
        "/fail" => (StatusCode::INTERNAL_SERVER_ERROR, "receiver exploded").into_response(),
        "/limited" => (StatusCode::TOO_MANY_REQUESTS, [(header::RETRY_AFTER, "7")], "slow down").into_response(),
        "/gone" => (StatusCode::GONE, "this endpoint is gone").into_response(),
        "/redirect" => (StatusCode::FOUND, [(header::LOCATION, "/target")], "").into_response(),
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(2)).await;
            (StatusCode::OK, "late").into_response()
        }
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

fn request(url: String, body: &[u8]) -> WebhookRequest {
    WebhookRequest { url, msg_id: "msg_2YxKq1bW9N7cQ4tZ8rL3mP".into(), body: body.to_vec() }
}

fn alert_body() -> Vec<u8> {
    json!({
        "event": "alert.fired",
        "alertId": "alt_01",
        "ruleId": "rul_01",
        "ruleName": "AbuseIPDB score over 80",
        "severity": "high",
        "asset": {"id": "ast_01", "type": "ip", "value": "203.0.113.7"},
        "triggeredAt": "2026-11-20T08:59:02Z",
        "message": "abuseipdb.abuseConfidenceScore = 100 > 80 — ünïcödé too",
    })
    .to_string()
    .into_bytes()
}

fn strict_config() -> ToolsConfig {
    ToolsConfig { resolvers: vec!["127.0.0.1:1".into()], ..ToolsConfig::default() }
}

fn hooks(tb: &Toolbox) -> Webhooks {
    Webhooks::new(tb).unwrap()
}

fn unix_now() -> i64 {
    i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()).unwrap()
}

#[tokio::test]
async fn a_delivery_carries_both_signatures_and_the_exact_body() {
    let rx = Receiver::start().await;
    let tb = toolbox(loopback_config());
    let secret = WebhookSecret::generate();
    let body = alert_body();
    let req = request(rx.url("/hook"), &body);

    let attempt = hooks(&tb).deliver(&secret, &req).await;
    assert_eq!(attempt.verdict, Verdict::Delivered, "{attempt:?}");
    assert_eq!(attempt.status, Some(200));
    assert_eq!(attempt.response_excerpt.as_deref(), Some("thanks"));
    assert_eq!((attempt.error.as_deref(), attempt.retry_after, attempt.timed_out), (None, None, false));
    assert_eq!(attempt.next_delay(1), None);

    let got = rx.received();
    assert_eq!(got.len(), 1);
    let got = &got[0];
    assert_eq!(got.path, "/hook");
    assert_eq!(got.body, body, "the exact bytes");
    assert_eq!(got.header("content-type"), "application/json");
    assert_eq!(got.header("user-agent"), tb.config().user_agent);
    assert_eq!(got.header("webhook-id"), req.msg_id);
    let ts: i64 = got.header("webhook-timestamp").parse().unwrap();
    assert!((unix_now() - ts).abs() <= 5, "timestamp {ts} is now");

    // Standard Webhooks, verified by the reference implementation.
    standardwebhooks::Webhook::new(secret.as_str()).unwrap().verify(&got.body, &got.headers).unwrap();
    let wrong = WebhookSecret::generate();
    assert!(standardwebhooks::Webhook::new(wrong.as_str()).unwrap().verify(&got.body, &got.headers).is_err());

    // X-TLINK-Signature: hex HMAC-SHA256 of the body keyed with the secret's text.
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_str().as_bytes()).unwrap();
    mac.update(&got.body);
    assert_eq!(got.header("x-tlink-signature"), hex::encode(mac.finalize().into_bytes()));

    // The recipes in the module documentation, run as written (when Python is here).
    python_recipes_agree(&secret, got);
}

/// Runs the documented Python recipes and compares with the headers sent.
fn python_recipes_agree(secret: &WebhookSecret, got: &Received) {
    let dir = tempfile::tempdir().unwrap();
    let body_path = dir.path().join("body.json");
    std::fs::write(&body_path, &got.body).unwrap();
    let script = r#"
import base64, hashlib, hmac, sys
secret, msg_id, ts, path = sys.argv[1:5]
body = open(path, "rb").read()
key = base64.b64decode(secret.removeprefix("whsec_"))
signed = f"{msg_id}.{ts}.".encode() + body
print("v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode())
print(hmac.new(secret.encode(), body, hashlib.sha256).hexdigest())
"#;
    let out = match Command::new("python3")
        .arg("-c")
        .arg(script)
        .args([secret.as_str(), got.header("webhook-id"), got.header("webhook-timestamp")])
        .arg(&body_path)
        .output()
    {
        Ok(out) if out.status.success() => out,
        other => {
            eprintln!("python3 is not usable here; the documented recipes were not run: {other:?}");
            return;
        }
    };
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines, [got.header("webhook-signature"), got.header("x-tlink-signature")]);
}

#[tokio::test]
async fn failures_are_retried_with_status_excerpt_and_retry_after() {
    let rx = Receiver::start().await;
    let tb = toolbox(loopback_config());
    let hooks = hooks(&tb);
    let secret = WebhookSecret::generate();
    let deliver = |path: &str| {
        let req = request(rx.url(path), b"{}");
        let (hooks, secret) = (&hooks, &secret);
        async move { hooks.deliver(secret, &req).await }
    };

    let a = deliver("/fail").await;
    assert_eq!((a.verdict, a.status), (Verdict::Retry, Some(500)), "{a:?}");
    assert_eq!(a.response_excerpt.as_deref(), Some("receiver exploded"));
    assert_eq!(a.error.as_deref(), Some("HTTP 500 Internal Server Error"));
    assert!(!a.is_slow());
    assert!(a.next_delay(1).is_some_and(|d| d >= Duration::from_secs(4) && d <= Duration::from_secs(6)));

    let a = deliver("/limited").await;
    assert_eq!((a.verdict, a.status), (Verdict::Retry, Some(429)), "{a:?}");
    assert_eq!(a.retry_after, Some(Duration::from_secs(7)));
    assert_eq!(a.response_excerpt.as_deref(), Some("slow down"));
    assert!(a.is_slow() && a.next_delay(1).is_some_and(|d| d >= Duration::from_secs(60)), "{a:?}");

    let a = deliver("/gone").await;
    assert_eq!((a.verdict, a.status), (Verdict::Gone, Some(410)), "{a:?}");
    assert!(a.error.as_deref().is_some_and(|e| e.contains("410") && e.contains("disable")), "{a:?}");
    assert_eq!(a.next_delay(1), None);

    let a = deliver("/redirect").await;
    assert_eq!((a.verdict, a.status), (Verdict::Retry, Some(302)), "{a:?}");
    assert!(
        a.error.as_deref().is_some_and(|e| e.contains("302") && e.contains("/target") && e.contains("not followed"))
    );

    let paths: Vec<String> = rx.received().into_iter().map(|r| r.path).collect();
    assert_eq!(paths, ["/fail", "/limited", "/gone", "/redirect"], "the redirect target was never requested");
}

#[tokio::test]
async fn a_slow_receiver_times_out_and_is_retried_later() {
    let rx = Receiver::start().await;
    let tb = toolbox(loopback_config());
    let hooks = hooks(&tb).with_timeout(Duration::from_millis(300));
    assert_eq!(hooks.timeout(), Duration::from_millis(300));

    let started = Instant::now();
    let a = hooks.deliver(&WebhookSecret::generate(), &request(rx.url("/slow"), b"{}")).await;
    assert!(started.elapsed() < Duration::from_millis(1500), "gave up at the timeout");
    assert_eq!((a.verdict, a.status, a.timed_out), (Verdict::Retry, None, true), "{a:?}");
    assert!(a.error.as_deref().is_some_and(|e| e.contains("no answer within 300ms")), "{a:?}");
    assert!((250..1500).contains(&a.duration_ms), "{a:?}");
    assert!(a.next_delay(1).is_some_and(|d| d >= Duration::from_secs(60)), "a timeout waits at least a minute");
}

#[tokio::test]
async fn a_refused_connection_is_retried() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let tb = toolbox(loopback_config());
    let a = hooks(&tb).deliver(&WebhookSecret::generate(), &request(format!("http://{addr}/hook"), b"{}")).await;
    assert_eq!((a.verdict, a.status, a.timed_out), (Verdict::Retry, None, false), "{a:?}");
    let error = a.error.unwrap_or_default().to_lowercase();
    assert!(error.starts_with("connecting failed") && error.contains("refused"), "{error}");
}

#[tokio::test]
async fn a_huge_answer_is_cut_to_the_excerpt_without_reading_it_all() {
    // A raw HTTP server announcing 1 GiB and writing until the client hangs up.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let written = Arc::new(Mutex::new(0usize));
    let counter = Arc::clone(&written);
    tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.unwrap();
        let mut buf = vec![0u8; 64 * 1024];
        let _ = stream.read(&mut buf).await;
        let head =
            "HTTP/1.1 500 Internal Server Error\r\ncontent-type: text/plain\r\ncontent-length: 1073741824\r\n\r\n";
        if stream.write_all(head.as_bytes()).await.is_err() {
            return;
        }
        let chunk = vec![b'x'; 64 * 1024];
        while stream.write_all(&chunk).await.is_ok() {
            *counter.lock() += chunk.len();
        }
    });

    let tb = toolbox(loopback_config());
    let hooks = hooks(&tb).with_timeout(Duration::from_secs(10));
    let a = hooks.deliver(&WebhookSecret::generate(), &request(format!("http://{addr}/"), b"{}")).await;
    assert_eq!((a.verdict, a.status, a.timed_out), (Verdict::Retry, Some(500), false), "{a:?}");
    assert_eq!(a.response_excerpt.as_deref(), Some("x".repeat(1024).as_str()));
    assert_eq!(a.error.as_deref(), Some("HTTP 500 Internal Server Error"));
    assert!(a.duration_ms < 5_000, "{a:?}");
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(*written.lock() < 64 * 1024 * 1024, "the client stopped reading: {} bytes written", *written.lock());
}

const ZONE: &str = r#"
$TTL 300
@        IN SOA ns.hooks.test. hostmaster.hooks.test. 1 7200 900 1209600 300
@        IN NS  ns.hooks.test.
ns       IN A   127.0.0.1
loop     IN A   127.0.0.1
internal IN A   10.0.0.5
public   IN A   8.8.8.8
mixed    IN A   8.8.8.8
mixed    IN A   10.0.0.5
"#;

#[tokio::test]
async fn the_egress_policy_refuses_private_receivers_before_connecting() {
    let rx = Receiver::start().await;
    let secret = WebhookSecret::generate();

    // An IP literal.
    let strict = toolbox(strict_config());
    let a = hooks(&strict).deliver(&secret, &request(rx.url("/hook"), b"{}")).await;
    assert_eq!((a.verdict, a.status), (Verdict::Refused, None), "{a:?}");
    assert_eq!(
        a.error.as_deref(),
        Some("the webhook URL points to 127.0.0.1, a loopback address; refused by the egress policy")
    );
    assert_eq!(a.next_delay(1), None);

    // A name resolving to loopback: refused by the client's resolver, so nothing is connected either.
    let dns = dnsserver::start("hooks.test.", ZONE).await;
    let strict = toolbox(ToolsConfig { resolvers: vec![dns.resolver()], ..ToolsConfig::default() });
    let url = format!("http://loop.hooks.test:{}/hook", rx.addr.port());
    let a = hooks(&strict).deliver(&secret, &request(url.clone(), b"{}")).await;
    assert_eq!((a.verdict, a.status), (Verdict::Refused, None), "{a:?}");
    assert_eq!(
        a.error.as_deref(),
        Some(
            "the webhook URL's host loop.hooks.test resolves to 127.0.0.1, a loopback address; refused by the egress policy"
        )
    );
    assert!(rx.received().is_empty(), "no request reached the receiver");

    // The same name with private targets allowed: resolved by the toolbox's resolver and delivered.
    let open = toolbox(dns.config());
    let a = hooks(&open).deliver(&secret, &request(url, b"{}")).await;
    assert_eq!((a.verdict, a.status), (Verdict::Delivered, Some(200)), "{a:?}");
    assert_eq!(rx.received().len(), 1);

    // Invalid URLs are refused outright.
    for (url, want) in [
        ("ftp://example.com/hook", "must be an http or https URL, not ftp"),
        ("http://", "has no host"),
        ("hooks", "is not a valid URL"),
    ] {
        let a = hooks(&open).deliver(&secret, &request(url.into(), b"{}")).await;
        assert_eq!(a.verdict, Verdict::Refused, "{url}");
        assert!(a.error.as_deref().is_some_and(|e| e.contains(want)), "{url}: {a:?}");
    }
}

#[tokio::test]
async fn check_url_explains_what_is_wrong() {
    let dns = dnsserver::start("hooks.test.", ZONE).await;
    let strict = toolbox(ToolsConfig { resolvers: vec![dns.resolver()], ..ToolsConfig::default() });
    let check = |url: &'static str| {
        let tb = strict.clone();
        async move { check_url(&tb, url).await }
    };

    assert_eq!(
        check("ftp://files.example.com/x").await,
        Err("webhookUrl must be an http or https URL, not ftp".into())
    );
    assert_eq!(check("https://").await, Err("webhookUrl has no host".into()));
    assert!(check("not a url").await.unwrap_err().starts_with("webhookUrl is not a valid URL"));
    assert_eq!(
        check("http://127.0.0.1:8080/hook").await,
        Err("webhookUrl points to 127.0.0.1, a loopback address; refused by the egress policy".into())
    );
    assert_eq!(
        check("https://[::1]/hook").await,
        Err("webhookUrl points to ::1, a loopback address; refused by the egress policy".into())
    );
    assert_eq!(
        check("https://internal.hooks.test/hook").await,
        Err("webhookUrl resolves to 10.0.0.5, a private address; refused by the egress policy".into())
    );
    assert_eq!(
        check("https://mixed.hooks.test/hook").await,
        Err("webhookUrl resolves to 10.0.0.5, a private address; refused by the egress policy".into()),
        "every address must be allowed"
    );
    let missing = check("https://missing.hooks.test/hook").await.unwrap_err();
    assert!(missing.starts_with("webhookUrl: ") && missing.contains("does not exist"), "{missing}");
    assert_eq!(check("https://public.hooks.test/hook").await, Ok(()), "checked without connecting");
    assert_eq!(check("https://8.8.8.8/hook").await, Ok(()));

    // With private targets allowed, loopback passes.
    let open = toolbox(dns.config());
    assert_eq!(check_url(&open, "http://127.0.0.1:8080/hook").await, Ok(()));
    assert_eq!(check_url(&open, "http://loop.hooks.test/hook").await, Ok(()));
}

#[tokio::test]
async fn many_deliveries_reuse_one_client() {
    let rx = Receiver::start().await;
    let tb = toolbox(loopback_config());
    let hooks = hooks(&tb);
    let secret = WebhookSecret::generate();
    let mut tasks = Vec::new();
    for i in 0..50 {
        let (hooks, secret) = (hooks.clone(), secret.clone());
        let req = WebhookRequest { url: rx.url("/hook"), msg_id: format!("msg_{i}"), body: b"{}".to_vec() };
        tasks.push(tokio::spawn(async move { hooks.deliver(&secret, &req).await }));
    }
    for task in tasks {
        let a: Attempt = task.await.unwrap();
        assert_eq!(a.verdict, Verdict::Delivered, "{a:?}");
    }
    let mut ids: Vec<String> = rx.received().iter().map(|r| r.header("webhook-id").to_string()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 50);
}

// ---------------------------------------------------------------------------------------------------------------
// Mail

fn plain_config(port: u16) -> SmtpConfig {
    SmtpConfig {
        host: "127.0.0.1".into(),
        port,
        security: SmtpSecurity::None,
        from: "tlink <alerts@example.com>".into(),
        timeout_secs: 5,
        ..SmtpConfig::default()
    }
}

/// The message `n` (0-based) in the sink's output, headers and body.
fn message(out: &str, n: usize) -> &str {
    let part = out.split(MESSAGE_FOLLOWS).nth(n + 1).unwrap_or_else(|| panic!("message {n} in:\n{out}"));
    part.split(END_MESSAGE).next().unwrap_or_default()
}

/// The envelope lines printed for message `n` (just before it).
fn envelope(out: &str, n: usize) -> &str {
    let part = out.split(MESSAGE_FOLLOWS).nth(n).unwrap_or_else(|| panic!("envelope {n} in:\n{out}"));
    part.rsplit(END_MESSAGE).next().unwrap_or_default()
}

const MESSAGE_FOLLOWS: &str = "---------- MESSAGE FOLLOWS ----------";

#[tokio::test]
async fn mail_is_multipart_alternative_and_recipients_stay_private() {
    let Some(sink) = SmtpSink::start() else { return };
    let mailer = Mailer::from_config(&plain_config(sink.port)).unwrap().unwrap();
    let subject = "[tlink] high: AbuseIPDB score over 80 on 203.0.113.7";
    let text = "Rule AbuseIPDB score over 80 fired for 203.0.113.7.";
    let html = "<p>Rule <b>AbuseIPDB score over 80</b> fired for 203.0.113.7.</p>";

    mailer.send(&["Ops Team <ops@example.com>".into()], subject, text, html).await.unwrap();
    let out = sink.wait_for_messages(1).await;
    assert_eq!(envelope(&out, 0).trim(), "ENVELOPE FROM: alerts@example.com\nENVELOPE TO: ops@example.com");
    let first = message(&out, 0);
    for want in [
        &format!("Subject: {subject}"),
        "From: tlink <alerts@example.com>",
        "To: \"Ops Team\" <ops@example.com>",
        "Content-Type: multipart/alternative",
        "Content-Type: text/plain; charset=utf-8",
        "Content-Type: text/html; charset=utf-8",
        text,
        html,
    ] {
        assert!(first.contains(want), "{want:?} missing in:\n{first}");
    }

    // Several recipients: the same pooled mailer; blind copies (envelope only), `To` is the sender.
    mailer
        .send(&["a@example.com".into(), "b@example.org".into(), "a@example.com".into()], subject, text, html)
        .await
        .unwrap();
    let out = sink.wait_for_messages(2).await;
    assert_eq!(
        envelope(&out, 1).trim(),
        "ENVELOPE FROM: alerts@example.com\nENVELOPE TO: a@example.com\nENVELOPE TO: b@example.org",
        "each recipient once, and no copy to the sender"
    );
    let second = message(&out, 1);
    assert!(second.contains("To: tlink <alerts@example.com>"), "{second}");
    // The Message-ID is random hex `@example.com`, which may end in `a`: it is not a recipient.
    let shown: String = second.lines().filter(|l| !l.starts_with("Message-ID:")).collect::<Vec<_>>().join("\n");
    assert!(!shown.contains("a@example.com") && !shown.contains("b@example.org"), "{second}");
    assert!(!second.to_lowercase().contains("bcc:"), "{second}");
}

#[tokio::test]
async fn mail_carries_a_message_id_and_a_date() {
    let Some(sink) = SmtpSink::start() else { return };
    let mailer = Mailer::from_config(&plain_config(sink.port)).unwrap().unwrap();
    for _ in 0..2 {
        mailer.send(&["ops@example.com".into()], "[tlink] alert", "text", "<p>html</p>").await.unwrap();
    }
    let out = sink.wait_for_messages(2).await;
    let header = |n: usize, name: &str| -> String {
        let prefix = format!("{name}: ");
        let line = message(&out, n).lines().find(|l| l.starts_with(&prefix));
        line.unwrap_or_else(|| panic!("no {name} header in:\n{}", message(&out, n)))[prefix.len()..].to_string()
    };
    let ids = [header(0, "Message-ID"), header(1, "Message-ID")];
    for id in &ids {
        let inner = id.strip_prefix('<').and_then(|i| i.strip_suffix("@example.com>"));
        assert!(inner.is_some_and(|i| i.len() == 32 && i.bytes().all(|b| b.is_ascii_hexdigit())), "{id}");
    }
    assert_ne!(ids[0], ids[1], "each message has its own identifier");
    for n in 0..2 {
        let date = header(n, "Date");
        let sent = chrono::DateTime::parse_from_rfc2822(&date).unwrap_or_else(|e| panic!("Date `{date}`: {e}"));
        let age = chrono::Utc::now().signed_duration_since(sent);
        assert!(age >= chrono::Duration::seconds(-5) && age < chrono::Duration::minutes(1), "Date `{date}`");
    }
}

#[tokio::test]
async fn an_unreachable_relay_is_retryable() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let mailer = Mailer::from_config(&plain_config(port)).unwrap().unwrap();
    let err: MailError = mailer.send(&["ops@example.com".into()], "s", "t", "<p>t</p>").await.unwrap_err();
    assert!(err.retryable, "{err:?}");
    assert!(err.message.to_lowercase().contains("refused"), "{err:?}");
}

#[tokio::test]
async fn a_silent_relay_times_out_and_is_retryable() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            held.push(stream); // never greets
        }
    });
    let cfg = SmtpConfig { timeout_secs: 1, ..plain_config(port) };
    let started = Instant::now();
    let err = Mailer::from_config(&cfg).unwrap().unwrap().send(&["ops@example.com".into()], "s", "t", "h").await;
    let err = err.unwrap_err();
    assert!(err.retryable, "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(6), "{:?}", started.elapsed());
}

/// A minimal SMTP responder answering every RCPT with `rcpt_reply`.
async fn smtp_responder(rcpt_reply: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                if write.write_all(b"220 responder.test ESMTP\r\n").await.is_err() {
                    return;
                }
                while let Ok(Some(line)) = lines.next_line().await {
                    let verb = line.split_whitespace().next().unwrap_or_default().to_ascii_uppercase();
                    let reply = match verb.as_str() {
                        "EHLO" | "HELO" => "250 responder.test\r\n",
                        "MAIL" | "RSET" | "NOOP" => "250 2.0.0 OK\r\n",
                        "RCPT" => rcpt_reply,
                        "QUIT" => "221 2.0.0 Bye\r\n",
                        _ => "502 5.5.2 not implemented\r\n",
                    };
                    if write.write_all(reply.as_bytes()).await.is_err() || verb == "QUIT" {
                        return;
                    }
                }
            });
        }
    });
    port
}

#[tokio::test]
async fn a_rejected_recipient_is_permanent_and_a_busy_one_is_retryable() {
    let port = smtp_responder("550 5.1.1 <nobody@example.com>: Recipient address rejected: User unknown\r\n").await;
    let mailer = Mailer::from_config(&plain_config(port)).unwrap().unwrap();
    let err = mailer.send(&["nobody@example.com".into()], "s", "t", "<p>t</p>").await.unwrap_err();
    assert!(!err.retryable, "{err:?}");
    assert!(err.message.contains("550") && err.message.contains("User unknown"), "{err:?}");

    let port = smtp_responder("450 4.2.1 mailbox busy, try again later\r\n").await;
    let mailer = Mailer::from_config(&plain_config(port)).unwrap().unwrap();
    let err = mailer.send(&["busy@example.com".into()], "s", "t", "<p>t</p>").await.unwrap_err();
    assert!(err.retryable, "{err:?}");
    assert!(err.message.contains("450"), "{err:?}");
}
