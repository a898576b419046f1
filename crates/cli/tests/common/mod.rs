//! Helpers shared by the tests that run `tlink serve` processes: a child killed on drop, and a minimal
//! HTTP/1.1 client.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct Server(pub Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub struct Reply {
    pub status: u16,
    pub head: String,
    pub body: serde_json::Value,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
        })
    }
}

pub fn http(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&serde_json::Value>,
) -> Reply {
    let mut s = TcpStream::connect(addr).expect("connecting");
    s.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    let payload = body.map(|b| b.to_string()).unwrap_or_default();
    let mut req = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    if body.is_some() {
        req.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", payload.len()));
    }
    req.push_str("\r\n");
    req.push_str(&payload);
    s.write_all(req.as_bytes()).expect("writing");
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).expect("reading");
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
    let body_text = if chunked { unchunk(rest) } else { rest.to_string() };
    Reply { status, head: head.to_string(), body: serde_json::from_str(&body_text).unwrap_or(serde_json::Value::Null) }
}

/// The body of a `Transfer-Encoding: chunked` answer.
pub fn unchunk(mut raw: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = raw.split_once("\r\n") {
        let n = usize::from_str_radix(size.trim(), 16).unwrap_or(0);
        if n == 0 || rest.len() < n {
            break;
        }
        out.push_str(&rest[..n]);
        raw = rest[n..].trim_start_matches("\r\n");
    }
    out
}

pub fn free_port() -> SocketAddr {
    TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port")
}

/// A data directory and the `tlink` commands that use it.
pub struct Env {
    pub dir: std::path::PathBuf,
}

impl Env {
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tlink"));
        c.current_dir(&self.dir)
            .env("TLINK_DATA_DIR", &self.dir)
            .env("TLINK_JWT_SECRET", "agent-test-secret-0123456789-abcdefghijkl")
            .env("TLINK_SECRETS_KEY", "agent-sealing-key-0123456789-abcdefghijkl")
            .env("TLINK_AGENT_OFFLINE_AFTER_SECS", "2")
            .env("TLINK_MONITORING__ENABLED", "false")
            .env("TLINK_LOG_LEVEL", "warn")
            .env_remove("TLINK_REDIS_URL");
        c
    }

    pub fn serve(&self, addr: SocketAddr) -> Server {
        let mut c = self.cmd();
        c.args(["serve", "--no-worker", "--listen", &addr.to_string()]).stdout(Stdio::null()).stderr(Stdio::null());
        let server = Server(c.spawn().expect("tlink serve"));
        let started = Instant::now();
        while TcpStream::connect(addr).is_err() {
            assert!(started.elapsed() < Duration::from_secs(30), "server did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }
}

/// One request read from `stream`: its head (request line and headers) and its `Content-Length` body; `None`
/// when the peer goes away first. The loopback receivers of the tests that run `tlink` processes use it.
pub fn read_request(stream: &mut TcpStream) -> Option<(String, Vec<u8>)> {
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let mut raw = Vec::new();
    let mut chunk = [0u8; 4096];
    let head_end = loop {
        if let Some(at) = raw.windows(4).position(|w| w == b"\r\n\r\n") {
            break at + 4;
        }
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => raw.extend_from_slice(&chunk[..n]),
        }
    };
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let length: usize = header_in(&head, "content-length").and_then(|v| v.parse().ok()).unwrap_or(0);
    while raw.len() < head_end + length {
        match stream.read(&mut chunk) {
            Ok(0) | Err(_) => return None,
            Ok(n) => raw.extend_from_slice(&chunk[..n]),
        }
    }
    Some((head, raw[head_end..head_end + length].to_vec()))
}

/// A header's value in a message head, by case-insensitive name.
pub fn header_in(head: &str, name: &str) -> Option<String> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        k.trim().eq_ignore_ascii_case(name).then(|| v.trim().to_string())
    })
}
