//! The server on a real socket, spoken to in plain HTTP/1.1.

use std::net::SocketAddr;
use std::time::Duration;

use axum::http::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::support::{PASSWORD, TestApp};

struct Served {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(app: &TestApp) -> Served {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("binding a port");
    let addr = listener.local_addr().expect("local address");
    let router = app.router();
    let http = app.state.config.http.clone();
    let task = tokio::spawn(async move {
        let _ = tlink_server::http::connections::serve(listener, router, &http, std::future::pending()).await;
    });
    Served { addr, task }
}

struct RawReply {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl RawReply {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&self.body)))
    }
}

/// Decodes a chunked body.
fn unchunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|w| w == b"\r\n").expect("chunk size line");
        let size_text = String::from_utf8_lossy(&raw[..line_end]);
        let size = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16).expect("hex chunk size");
        raw = &raw[line_end + 2..];
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}

/// Sends `head` (request line and headers, without the blank line) and `body`, reads the whole answer.
async fn exchange(addr: SocketAddr, head: &str, body: &[u8]) -> RawReply {
    let mut stream = TcpStream::connect(addr).await.expect("connecting");
    let mut request = format!("{head}\r\nHost: {addr}\r\nConnection: close\r\n\r\n").into_bytes();
    request.extend_from_slice(body);
    stream.write_all(&request).await.expect("writing the request");
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).await.expect("reading the response");

    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").expect("end of the response head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status_line = lines.next().expect("status line");
    assert!(status_line.starts_with("HTTP/1.1 "), "{status_line}");
    let status = status_line[9..12].parse().expect("status code");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let rest = &raw[split + 4..];
    let chunked = headers.iter().any(|(k, v)| k == "transfer-encoding" && v.eq_ignore_ascii_case("chunked"));
    let body = if chunked { unchunk(rest) } else { rest.to_vec() };
    if let Some(len) = headers.iter().find(|(k, _)| k == "content-length") {
        assert_eq!(len.1.parse::<usize>().expect("content-length"), body.len(), "body length");
    }
    RawReply { status, headers, body }
}

async fn get(addr: SocketAddr, path: &str, extra: &str) -> RawReply {
    let head =
        if extra.is_empty() { format!("GET {path} HTTP/1.1") } else { format!("GET {path} HTTP/1.1\r\n{extra}") };
    exchange(addr, &head, b"").await
}

async fn post_json(addr: SocketAddr, path: &str, body: &Value) -> RawReply {
    let bytes = serde_json::to_vec(body).expect("json");
    let head = format!("POST {path} HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: {}", bytes.len());
    exchange(addr, &head, &bytes).await
}

both!(serves_over_tcp, serves_over_tcp_case, |c: &mut tlink_server::Config| {
    c.max_body_bytes = 1024;
});
async fn serves_over_tcp_case(app: TestApp) {
    let (_, org) = app.create_user("alice@example.com", Some("Org A")).await;
    let org = org.expect("org");
    let server = serve(&app).await;
    let addr = server.addr;

    let health = get(addr, "/healthz", "").await;
    assert_eq!(health.status, 200);
    assert!(health.header("content-type").unwrap_or("").starts_with("application/json"));
    assert!(health.header("x-request-id").is_some());
    assert_eq!(health.json(), json!({ "success": true, "data": { "status": "ok" } }));

    let login =
        post_json(addr, "/api/auth/login", &json!({ "email": "alice@example.com", "password": PASSWORD })).await;
    assert_eq!(login.status, 200, "{}", String::from_utf8_lossy(&login.body));
    let body = login.json();
    assert_eq!(body["success"], true);
    assert_eq!(body["data"]["expiresIn"], 900);
    let token = body["data"]["accessToken"].as_str().expect("accessToken").to_string();

    let me = get(addr, "/api/users/me", &format!("Authorization: Bearer {token}")).await;
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["data"]["email"], "alice@example.com");

    let anonymous = get(addr, "/api/users/me", "").await;
    assert_eq!(anonymous.status, 401);
    assert!(anonymous.header("www-authenticate").is_some());
    assert_eq!(anonymous.json()["success"], false);

    // A chunked body (no length given up front) over the limit.
    let mut chunked = Vec::new();
    for part in
        [r#"{"type":"DOMAIN","value":"example.com","label":""#.to_string(), "l".repeat(1500), r#""}"#.to_string()]
    {
        chunked.extend_from_slice(format!("{:x}\r\n{part}\r\n", part.len()).as_bytes());
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    let head = format!(
        "POST /api/orgs/{org}/assets HTTP/1.1\r\nAuthorization: Bearer {token}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked"
    );
    let big = exchange(addr, &head, &chunked).await;
    assert_eq!(big.status, StatusCode::PAYLOAD_TOO_LARGE.as_u16(), "{}", String::from_utf8_lossy(&big.body));
    assert_eq!(big.json()["success"], false);
}

both!(
    login_throttle_keys_on_the_peer_address,
    login_throttle_keys_on_the_peer_address_case,
    |c: &mut tlink_server::Config| {
        c.login_max_failures = 2;
    }
);
async fn login_throttle_keys_on_the_peer_address_case(app: TestApp) {
    app.create_user("alice@example.com", Some("Org A")).await;
    let server = serve(&app).await;
    for i in 0..2 {
        let r = post_json(
            server.addr,
            "/api/auth/login",
            &json!({ "email": format!("x{i}@example.com"), "password": "whatever1" }),
        )
        .await;
        assert_eq!(r.status, 401);
    }
    let good = json!({ "email": "alice@example.com", "password": PASSWORD });
    let blocked = post_json(server.addr, "/api/auth/login", &good).await;
    assert_eq!(blocked.status, 429, "127.0.0.1 is over its budget");
    let wait: u64 = blocked.header("retry-after").and_then(|v| v.parse().ok()).expect("Retry-After");
    assert!(wait >= 1);
    // Another client (the in-process one) is not, and the account itself had no failures.
    app.login("alice@example.com", PASSWORD).await.ok(StatusCode::OK);
}

/// Reads one response from a kept-alive connection: the head, then `Content-Length` bytes.
async fn read_response(stream: &mut TcpStream) -> (u16, String) {
    let mut raw = Vec::new();
    let mut byte = [0u8; 1];
    while !raw.ends_with(b"\r\n\r\n") {
        let n = stream.read(&mut byte).await.expect("reading the response head");
        assert_eq!(n, 1, "connection closed inside a response head: {}", String::from_utf8_lossy(&raw));
        raw.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&raw).into_owned();
    let status = head[9..12].parse().expect("status code");
    let len: usize = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().parse().expect("length")))
        .unwrap_or(0);
    let mut body = vec![0u8; len];
    stream.read_exact(&mut body).await.expect("reading the response body");
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Whether the server closes `stream` within `within` (reading and discarding what it sends first).
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

fn timeouts(header: u64, body: u64, idle: u64) -> impl FnOnce(&mut tlink_server::Config) {
    move |c: &mut tlink_server::Config| {
        c.http.header_timeout_secs = header;
        c.http.body_timeout_secs = body;
        c.http.idle_timeout_secs = idle;
    }
}

/// Clients that never finish their headers are disconnected at the header deadline, every one of them.
#[tokio::test]
async fn half_sent_headers_are_cut_off() {
    let app = TestApp::sqlite(timeouts(1, 30, 60)).await;
    let server = serve(&app).await;
    let mut streams = Vec::new();
    for _ in 0..200 {
        let mut s = TcpStream::connect(server.addr).await.expect("connecting");
        s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ").await.expect("writing");
        streams.push(s);
    }
    // A connection that sends nothing at all is under the same deadline.
    streams.push(TcpStream::connect(server.addr).await.expect("connecting"));
    for s in &mut streams {
        assert!(closed_within(s, Duration::from_secs(10)).await, "a half-sent request was still held");
    }
}

/// A body that does not arrive in time is answered 408 and the connection closed.
#[tokio::test]
async fn a_trickling_body_is_answered_408() {
    let app = TestApp::sqlite(timeouts(10, 1, 60)).await;
    let server = serve(&app).await;
    let mut s = TcpStream::connect(server.addr).await.expect("connecting");
    s.write_all(b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"email\"")
        .await
        .expect("writing");
    let (status, body) = tokio::time::timeout(Duration::from_secs(10), read_response(&mut s)).await.expect("an answer");
    assert_eq!(status, 408, "{body}");
    let json: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(json["success"], false);
    assert!(closed_within(&mut s, Duration::from_secs(5)).await, "the connection is closed after a 408");
}

/// A kept-alive connection with nothing to do is closed at the idle deadline; one whose request is being
/// handled is not cut off, however long the handler takes.
#[tokio::test]
async fn idle_connections_close_and_busy_ones_do_not() {
    let app = TestApp::sqlite(timeouts(30, 1, 1)).await;
    let user = app.user("alice@example.com", Some("Org A")).await;
    let org = user.org().to_string();
    let report = app
        .post(&format!("/api/orgs/{org}/tools/run"), &user.auth(), json!({ "toolKey": "dns", "target": "example.com" }))
        .await;
    let report_id = report.ok(StatusCode::ACCEPTED)["reportId"].as_str().expect("reportId").to_string();
    let server = serve(&app).await;

    let mut s = TcpStream::connect(server.addr).await.expect("connecting");
    s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n").await.expect("writing");
    assert_eq!(read_response(&mut s).await.0, 200);
    assert!(closed_within(&mut s, Duration::from_secs(10)).await, "an idle kept-alive connection was held");

    // No worker runs here: the report stays queued, and the request waits its full 3 s (past the header,
    // body and idle deadlines) before answering.
    let mut s = TcpStream::connect(server.addr).await.expect("connecting");
    let head = format!(
        "GET /api/orgs/{org}/tools/reports/{report_id}?wait=3 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\n\r\n",
        user.access
    );
    s.write_all(head.as_bytes()).await.expect("writing");
    let (status, body) = read_response(&mut s).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("QUEUED"), "{body}");
}

/// A `Content-Length` over the limit is refused before any of the body is sent.
#[tokio::test]
async fn an_oversized_content_length_is_refused_up_front() {
    let app = TestApp::sqlite(|c: &mut tlink_server::Config| c.max_body_bytes = 1024).await;
    let server = serve(&app).await;
    let mut s = TcpStream::connect(server.addr).await.expect("connecting");
    s.write_all(b"POST /api/auth/login HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 10000000\r\n\r\n")
        .await
        .expect("writing");
    let (status, body) = tokio::time::timeout(Duration::from_secs(5), read_response(&mut s)).await.expect("an answer");
    assert_eq!(status, 413, "{body}");
}

/// At the connection cap, a new client is not served until a connection closes.
#[tokio::test]
async fn connections_beyond_the_cap_wait() {
    let app = TestApp::sqlite(|c: &mut tlink_server::Config| c.http.max_connections = 2).await;
    let server = serve(&app).await;
    let request = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n";
    let mut held = Vec::new();
    for _ in 0..2 {
        let mut s = TcpStream::connect(server.addr).await.expect("connecting");
        s.write_all(request).await.expect("writing");
        assert_eq!(read_response(&mut s).await.0, 200);
        held.push(s);
    }
    let mut third = TcpStream::connect(server.addr).await.expect("the kernel queues the connection");
    third.write_all(request).await.expect("writing");
    let mut byte = [0u8; 1];
    let early = tokio::time::timeout(Duration::from_millis(500), third.peek(&mut byte)).await;
    assert!(early.is_err(), "a third connection was served beyond the cap of 2");
    drop(held.pop());
    let (status, _) = tokio::time::timeout(Duration::from_secs(5), read_response(&mut third)).await.expect("served");
    assert_eq!(status, 200);
}
