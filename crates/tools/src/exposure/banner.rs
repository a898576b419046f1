//! Banner grabbing and product/version identification on an open port.
//!
//! 1. Listen: many services speak first (SSH, SMTP, FTP, POP3, IMAP, the MySQL handshake, VNC). The
//!    greeting is read for up to the banner timeout (a quarter of it on ports whose usual service waits
//!    for the client: HTTP, Redis, memcached, …).
//! 2. Probe, when nothing was said: `HEAD / HTTP/1.0` (status line and `Server:` header); on port 6379,
//!    or when the HTTP probe is answered in the Redis protocol (`-ERR unknown command`), `PING` then
//!    `INFO server` (`redis_version`, and whether authentication is required); on port 11211, or when the
//!    HTTP probe is answered `ERROR`, memcached's `version`. Each probe waits up to the banner timeout.
//!
//! Reading stops at [`MAX_READ`] bytes, at end of stream, once a reply looks complete (a full line that is
//! not a `NNN-` continuation, an HTTP header block, a whole Redis bulk reply or MySQL packet), or after
//! a quiet gap once data has started to arrive. Nothing here fails: a port that says nothing yields an
//! empty [`Grab`].
//!
//! Product and version come from [`PATTERNS`], matched in order against the printable text of the reply
//! (the first capture group, when there is one, is the version), and from the MySQL/MariaDB handshake
//! packet, whose server version is a NUL-terminated string after the protocol byte 10.

use std::net::SocketAddr;
use std::sync::LazyLock;
use std::time::Duration;

use regex::Regex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout};

use super::ports;

/// Most bytes read from one reply.
pub const MAX_READ: usize = 4096;
/// Longest banner kept in the result, in characters.
pub const MAX_BANNER_CHARS: usize = 512;
/// Once a reply has started, how long a pause ends it (when it does not already look complete).
const QUIET_GAP: Duration = Duration::from_millis(250);

const HTTP_PROBE: &[u8] = b"HEAD / HTTP/1.0\r\n\r\n";

/// `(service, product, pattern)`, tried in order against the reply text; capture group 1 is the version.
pub const PATTERNS: &[(&str, &str, &str)] = &[
    ("ssh", "openssh", r"^SSH-[0-9.]+-OpenSSH_([0-9][0-9A-Za-z.]*)"),
    ("ssh", "dropbear", r"^SSH-[0-9.]+-dropbear_([0-9][0-9.]*)"),
    ("ftp", "vsftpd", r"\(vsFTPd ([0-9][0-9.]*)\)"),
    ("ftp", "proftpd", r"ProFTPD ([0-9][0-9A-Za-z.]*)"),
    ("ftp", "pure-ftpd", r"Pure-FTPd"),
    ("ftp", "filezilla-server", r"FileZilla Server(?: version)? ([0-9][0-9.]*)"),
    ("smtp", "exim", r"(?m)^220[ -].*\bExim ([0-9][0-9.]*)"),
    ("smtp", "postfix", r"(?m)^220[ -].*\bESMTP Postfix"),
    ("smtp", "sendmail", r"(?m)^220[ -].*\bSendmail ([0-9][0-9.]*)"),
    ("pop3", "dovecot", r"^\+OK.*\bDovecot"),
    ("imap", "dovecot", r"^\* OK.*\bDovecot"),
    ("http", "apache-httpd", r"(?mi)^server:[ \t]*Apache/([0-9][0-9.]*)"),
    ("http", "apache-httpd", r"(?mi)^server:[ \t]*Apache\b"),
    ("http", "nginx", r"(?mi)^server:[ \t]*nginx/([0-9][0-9.]*)"),
    ("http", "nginx", r"(?mi)^server:[ \t]*nginx\b"),
    ("http", "openresty", r"(?mi)^server:[ \t]*openresty/([0-9][0-9.]*)"),
    ("http", "iis", r"(?mi)^server:[ \t]*Microsoft-IIS/([0-9][0-9.]*)"),
    ("http", "lighttpd", r"(?mi)^server:[ \t]*lighttpd/([0-9][0-9.]*)"),
    ("redis", "redis", r"(?m)^redis_version:([0-9][0-9.]*)"),
    ("memcached", "memcached", r"^VERSION ([0-9][0-9.]*)"),
    ("nats", "nats-server", r#"^INFO \{.*"version":"([0-9][0-9.]*)""#),
];

static COMPILED: LazyLock<Vec<(&'static str, &'static str, Regex)>> = LazyLock::new(|| {
    // The patterns are constants checked by a test; one that failed to compile would only be skipped.
    PATTERNS.iter().filter_map(|&(service, product, re)| Regex::new(re).ok().map(|re| (service, product, re))).collect()
});

/// Timeouts of one grab.
#[derive(Debug, Clone, Copy)]
pub(crate) struct BannerSettings {
    /// Connect timeout when a new connection is needed.
    pub connect_timeout: Duration,
    /// Wait for a greeting, and for the reply to each probe.
    pub timeout: Duration,
}

/// What an open port revealed.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Grab {
    /// The service as identified from what it said (`ssh`, `http`, `redis`, …).
    pub service: Option<&'static str>,
    /// Printable, trimmed text of the reply (for HTTP the status line and `Server:` header).
    pub banner: Option<String>,
    pub product: Option<&'static str>,
    pub version: Option<String>,
    /// Whether the service demanded authentication before answering (known for Redis and memcached).
    pub auth_required: Option<bool>,
}

enum Probe {
    Http,
    Redis,
    Memcached,
}

/// Grabs the banner of `addr`, reusing `stream` (the scan's connection) when given.
pub(crate) async fn grab(addr: SocketAddr, stream: Option<TcpStream>, settings: BannerSettings) -> Grab {
    let port = addr.port();
    let listen = if ports::client_speaks_first(port) { settings.timeout / 4 } else { settings.timeout };
    let mut conn = match stream {
        Some(s) => Some(s),
        None => connect(addr, settings.connect_timeout).await,
    };
    if let Some(s) = conn.as_mut() {
        let reply = read_reply(s, listen).await;
        if !reply.data.is_empty() {
            return identify(&reply.data);
        }
        if reply.closed {
            conn = None;
        }
    }
    let mut probe = match ports::service_for_port(port) {
        Some("redis") => Probe::Redis,
        Some("memcached") => Probe::Memcached,
        _ => Probe::Http,
    };
    loop {
        match probe {
            Probe::Http => {
                let reply = exchange(conn.take(), addr, HTTP_PROBE, settings).await;
                if is_resp(&reply) {
                    probe = Probe::Redis;
                } else if reply.starts_with(b"ERROR") {
                    probe = Probe::Memcached;
                } else if reply.is_empty() {
                    return Grab::default();
                } else {
                    return identify(&reply);
                }
            }
            Probe::Redis => return redis(conn.take(), addr, settings).await,
            Probe::Memcached => {
                let reply = exchange(conn.take(), addr, b"version\r\n", settings).await;
                let mut grab = identify(&reply);
                if grab.product == Some("memcached") {
                    grab.auth_required = Some(false);
                }
                return grab;
            }
        }
    }
}

async fn connect(addr: SocketAddr, limit: Duration) -> Option<TcpStream> {
    timeout(limit, TcpStream::connect(addr)).await.ok()?.ok()
}

/// Sends `request` (on `conn`, or a new connection) and reads the reply; empty when anything fails.
async fn exchange(conn: Option<TcpStream>, addr: SocketAddr, request: &[u8], s: BannerSettings) -> Vec<u8> {
    let conn = match conn {
        Some(c) => Some(c),
        None => connect(addr, s.connect_timeout).await,
    };
    let Some(mut conn) = conn else {
        return Vec::new();
    };
    match timeout(s.timeout, conn.write_all(request)).await {
        Ok(Ok(())) => read_reply(&mut conn, s.timeout).await.data,
        _ => Vec::new(),
    }
}

/// `PING`, then `INFO server` when the server answers without authentication.
async fn redis(conn: Option<TcpStream>, addr: SocketAddr, s: BannerSettings) -> Grab {
    let conn = match conn {
        Some(c) => Some(c),
        None => connect(addr, s.connect_timeout).await,
    };
    let Some(mut conn) = conn else {
        return Grab::default();
    };
    let pong = match timeout(s.timeout, conn.write_all(b"PING\r\n")).await {
        Ok(Ok(())) => read_reply(&mut conn, s.timeout).await,
        _ => return Grab::default(),
    };
    let text = printable(&pong.data);
    let first = text.lines().next().unwrap_or_default().to_string();
    let mut grab = Grab { service: Some("redis"), product: Some("redis"), ..Grab::default() };
    if first.starts_with("+PONG") {
        grab.auth_required = Some(false);
        let info = match timeout(s.timeout, conn.write_all(b"INFO server\r\n")).await {
            Ok(Ok(())) => read_reply(&mut conn, s.timeout).await.data,
            _ => Vec::new(),
        };
        let info = printable(&info);
        let line = info.lines().find(|l| l.starts_with("redis_version:"));
        grab.version = line.and_then(|l| l.strip_prefix("redis_version:")).map(clean_version).filter(|v| !v.is_empty());
        grab.banner = Some(cap_chars(line.unwrap_or(&first)));
    } else if first.contains("NOAUTH") || first.starts_with("-DENIED") || first.starts_with("-WRONGPASS") {
        grab.auth_required = Some(true);
        grab.banner = Some(cap_chars(&first));
    } else if is_resp(&pong.data) {
        grab.banner = Some(cap_chars(&first));
    } else if pong.data.is_empty() {
        return Grab::default();
    } else {
        // Not Redis after all: report what it said.
        return identify(&pong.data);
    }
    grab
}

struct Reply {
    data: Vec<u8>,
    /// The peer closed the connection (or it failed).
    closed: bool,
}

/// Reads one reply within `wait`: see the module documentation for when it stops.
async fn read_reply(stream: &mut TcpStream, wait: Duration) -> Reply {
    let deadline = Instant::now() + wait;
    let mut data = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let now = Instant::now();
        if now >= deadline {
            return Reply { data, closed: false };
        }
        let left = deadline - now;
        let limit = if data.is_empty() { left } else { left.min(QUIET_GAP) };
        match timeout(limit, stream.read(&mut chunk)).await {
            Err(_) => return Reply { data, closed: false },
            Ok(Ok(0)) | Ok(Err(_)) => return Reply { data, closed: true },
            Ok(Ok(n)) => {
                let room = MAX_READ - data.len();
                data.extend_from_slice(&chunk[..n.min(room)]);
                if data.len() >= MAX_READ || looks_complete(&data) {
                    return Reply { data, closed: false };
                }
            }
        }
    }
}

/// Whether `data` already holds a whole reply, so that waiting for more would only cost time.
pub(crate) fn looks_complete(data: &[u8]) -> bool {
    if let Some(len) = mysql_packet_len(data) {
        return data.len() >= 4 + len;
    }
    if data.starts_with(b"HTTP/") {
        return find(data, b"\r\n\r\n").is_some() || find(data, b"\n\n").is_some();
    }
    if let Some(rest) = data.strip_prefix(b"$") {
        // A Redis bulk reply: `$<len>\r\n<len bytes>\r\n`, or `$-1\r\n`.
        let Some(end) = find(rest, b"\r\n") else {
            return false;
        };
        return match std::str::from_utf8(&rest[..end]).ok().and_then(|s| s.parse::<i64>().ok()) {
            Some(n) if n < 0 => true,
            Some(n) => usize::try_from(n).is_ok_and(|n| rest.len() >= end + 2 + n + 2),
            None => true,
        };
    }
    if !data.ends_with(b"\n") {
        return false;
    }
    // A multi-line SMTP/FTP reply continues while its lines read `NNN-`.
    let body = &data[..data.len() - 1];
    let last = match body.iter().rposition(|&b| b == b'\n') {
        Some(i) => &body[i + 1..],
        None => body,
    };
    !(last.len() >= 4 && last[..3].iter().all(u8::is_ascii_digit) && last[3] == b'-')
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// The payload length of a MySQL protocol packet starting `data` (sequence 0, a handshake or error).
fn mysql_packet_len(data: &[u8]) -> Option<usize> {
    if data.len() < 5 || data[3] != 0 || !matches!(data[4], 10 | 0xff) {
        return None;
    }
    let len = usize::from(data[0]) | usize::from(data[1]) << 8 | usize::from(data[2]) << 16;
    (1..=MAX_READ).contains(&len).then_some(len)
}

/// A reply in the Redis protocol (RESP) to a command it did not expect.
fn is_resp(data: &[u8]) -> bool {
    [&b"-ERR"[..], b"-NOAUTH", b"-DENIED", b"-WRONGTYPE", b"+PONG", b"+OK\r\n"].iter().any(|p| data.starts_with(p))
}

/// Identifies a service, product and version in what a port said.
pub fn identify(data: &[u8]) -> Grab {
    if data.is_empty() {
        return Grab::default();
    }
    if let Some(grab) = mysql(data) {
        return grab;
    }
    if data.len() >= 3 && matches!(data[0], 0x15 | 0x16) && data[1] == 3 {
        // A TLS record (usually an alert answering the plain-text probe).
        return Grab { service: Some("tls"), ..Grab::default() };
    }
    let text = printable(data);
    let mut grab = Grab::default();
    for (service, product, re) in COMPILED.iter() {
        if let Some(caps) = re.captures(&text) {
            grab.service = Some(service);
            grab.product = Some(product);
            grab.version = caps.get(1).map(|m| clean_version(m.as_str())).filter(|v| !v.is_empty());
            break;
        }
    }
    if grab.service.is_none() {
        grab.service = generic_service(&text);
    }
    grab.banner = Some(match grab.service {
        Some("http") => http_summary(&text),
        Some("redis") => {
            text.lines().find(|l| l.starts_with("redis_version:")).or(text.lines().next()).unwrap_or_default().into()
        }
        _ => text,
    })
    .map(|b| cap_chars(b.trim()))
    .filter(|b| !b.is_empty());
    grab
}

/// The service a reply reveals without naming its product.
fn generic_service(text: &str) -> Option<&'static str> {
    let upper = text.to_ascii_uppercase();
    let greeting = upper.starts_with("220") || upper.starts_with("421");
    Some(if upper.starts_with("SSH-") {
        "ssh"
    } else if upper.starts_with("HTTP/") {
        "http"
    } else if upper.starts_with("+OK") {
        "pop3"
    } else if upper.starts_with("* OK") || upper.starts_with("* PREAUTH") {
        "imap"
    } else if greeting && upper.contains("FTP") {
        "ftp"
    } else if greeting && (upper.contains("SMTP") || upper.contains("MAIL")) {
        "smtp"
    } else if upper.starts_with("RFB ") {
        "vnc"
    } else if is_resp(text.as_bytes()) {
        "redis"
    } else if upper.starts_with("VERSION ") {
        "memcached"
    } else if upper.starts_with("AMQP") {
        "amqp"
    } else {
        return None;
    })
}

/// The status line and `Server:` header of an HTTP response.
fn http_summary(text: &str) -> String {
    let mut lines = text.lines();
    let mut out = lines.next().unwrap_or_default().trim().to_string();
    // Compared as bytes: the reply is outside text, and a multi-byte character may straddle byte 7.
    if let Some(server) = lines.find(|l| l.len() > 7 && l.as_bytes()[..7].eq_ignore_ascii_case(b"server:")) {
        out.push('\n');
        out.push_str(server.trim());
    }
    out
}

/// The MySQL/MariaDB greeting (or the error packet of a server refusing this client).
fn mysql(data: &[u8]) -> Option<Grab> {
    let len = mysql_packet_len(data)?;
    let body = &data[4..data.len().min(4 + len)];
    match body.first() {
        Some(10) => {
            let end = body[1..].iter().position(|&b| b == 0)?;
            let version = std::str::from_utf8(&body[1..1 + end]).ok()?;
            if !version.starts_with(|c: char| c.is_ascii_digit()) || !version.bytes().all(|b| b.is_ascii_graphic()) {
                return None;
            }
            let (product, bare) = if version.contains("MariaDB") {
                // MariaDB 10+ prefixes its version with `5.5.5-` for old clients.
                ("mariadb", version.strip_prefix("5.5.5-").unwrap_or(version))
            } else {
                ("mysql", version)
            };
            let bare = bare.split('-').next().unwrap_or(bare);
            Some(Grab {
                service: Some("mysql"),
                banner: Some(cap_chars(version)),
                product: Some(product),
                version: Some(clean_version(bare)).filter(|v| !v.is_empty()),
                auth_required: None,
            })
        }
        Some(0xff) => {
            // Error code (2 bytes), then an optional `#` and 5-character SQL state, then the message.
            let rest = body.get(3..)?;
            let rest = if rest.first() == Some(&b'#') { rest.get(6..).unwrap_or_default() } else { rest };
            let message = printable(rest);
            (message.contains("MySQL") || message.contains("MariaDB")).then(|| Grab {
                service: Some("mysql"),
                banner: Some(cap_chars(message.trim())),
                ..Grab::default()
            })
        }
        _ => None,
    }
}

/// `data` as text: invalid UTF-8 and control characters become `.`, line ends become `\n`, trailing
/// spaces are trimmed per line and surrounding blank space overall.
fn printable(data: &[u8]) -> String {
    let text = String::from_utf8_lossy(data);
    let mut out = String::with_capacity(text.len());
    for line in text.split('\n') {
        let line: String = line
            .chars()
            .filter(|&c| c != '\r')
            .map(|c| {
                if c == '\t' {
                    ' '
                } else if c.is_control() || c == '\u{fffd}' {
                    '.'
                } else {
                    c
                }
            })
            .collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out.trim().to_string()
}

fn cap_chars(s: &str) -> String {
    match s.char_indices().nth(MAX_BANNER_CHARS) {
        Some((i, _)) => s[..i].to_string(),
        None => s.to_string(),
    }
}

/// A captured version without trailing separators (`4.87.` → `4.87`).
fn clean_version(v: &str) -> String {
    v.trim().trim_end_matches(['.', '-', '_']).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pattern_compiles() {
        assert_eq!(COMPILED.len(), PATTERNS.len());
    }

    #[test]
    fn reads_mysql_and_mariadb_greetings() {
        let packet = |version: &str| {
            let mut body = vec![10u8];
            body.extend_from_slice(version.as_bytes());
            body.push(0);
            body.extend_from_slice(&[1, 0, 0, 0, 0x41, 0x42, 0x43, 0x44, 0x45, 0x46, 0x47, 0x48, 0]);
            let mut p = vec![body.len() as u8, 0, 0, 0];
            p.extend(body);
            p
        };
        let g = identify(&packet("8.0.36-0ubuntu0.22.04.1"));
        assert_eq!((g.service, g.product, g.version.as_deref()), (Some("mysql"), Some("mysql"), Some("8.0.36")));
        assert_eq!(g.banner.as_deref(), Some("8.0.36-0ubuntu0.22.04.1"));
        let g = identify(&packet("5.5.5-10.6.16-MariaDB-0+deb12u1"));
        assert_eq!((g.product, g.version.as_deref()), (Some("mariadb"), Some("10.6.16")));
        assert!(looks_complete(&packet("8.0.36")));
        let mut err = vec![0u8, 0, 0, 0, 0xff, 0x6a, 0x04];
        err.extend_from_slice(b"Host '10.0.0.9' is not allowed to connect to this MySQL server");
        err[0] = (err.len() - 4) as u8;
        let g = identify(&err);
        assert_eq!(g.service, Some("mysql"));
        assert!(g.banner.as_deref().is_some_and(|b| b.contains("not allowed")), "{g:?}");
    }

    #[test]
    fn identifies_text_banners() {
        for (reply, service, product, version) in [
            ("SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5\r\n", "ssh", Some("openssh"), Some("9.6p1")),
            ("SSH-2.0-dropbear_2022.83\r\n", "ssh", Some("dropbear"), Some("2022.83")),
            ("220 ProFTPD 1.3.5a Server (Debian) [::ffff:10.0.0.1]\r\n", "ftp", Some("proftpd"), Some("1.3.5a")),
            ("220-FileZilla Server 0.9.60 beta\r\n220 ready\r\n", "ftp", Some("filezilla-server"), Some("0.9.60")),
            ("220 mx.example ESMTP Postfix (Debian/GNU)\r\n", "smtp", Some("postfix"), None),
            ("220 mx.example ESMTP Sendmail 8.15.2/8.15.2; Mon\r\n", "smtp", Some("sendmail"), Some("8.15.2")),
            ("+OK Dovecot (Ubuntu) ready.\r\n", "pop3", Some("dovecot"), None),
            ("* OK [CAPABILITY IMAP4rev1] Dovecot ready.\r\n", "imap", Some("dovecot"), None),
            ("HTTP/1.1 200 OK\r\nServer: nginx/1.18.0 (Ubuntu)\r\n\r\n", "http", Some("nginx"), Some("1.18.0")),
            ("HTTP/1.1 403 Forbidden\r\nserver: Microsoft-IIS/10.0\r\n\r\n", "http", Some("iis"), Some("10.0")),
            ("HTTP/1.0 200 OK\r\nServer: Apache\r\n\r\n", "http", Some("apache-httpd"), None),
            ("HTTP/1.0 404 Not Found\r\n\r\n", "http", None, None),
            ("220 ftp.example FTP server ready\r\n", "ftp", None, None),
            ("RFB 003.008\n", "vnc", None, None),
            ("VERSION 1.6.21\r\n", "memcached", Some("memcached"), Some("1.6.21")),
            (
                "INFO {\"server_id\":\"N\",\"version\":\"2.9.10\",\"proto\":1}\r\n",
                "nats",
                Some("nats-server"),
                Some("2.9.10"),
            ),
            ("AMQP\x00\x00\x09\x01", "amqp", None, None),
        ] {
            let g = identify(reply.as_bytes());
            assert_eq!((g.service, g.product, g.version.as_deref()), (Some(service), product, version), "{reply}");
        }
        let g = identify(b"HTTP/1.1 200 OK\r\nDate: x\r\nServer: Apache/2.4.52 (Ubuntu)\r\nX: y\r\n\r\n");
        assert_eq!(g.banner.as_deref(), Some("HTTP/1.1 200 OK\nServer: Apache/2.4.52 (Ubuntu)"));
        let g = identify(b"\x15\x03\x01\x00\x02\x02\x32");
        assert_eq!(g.service, Some("tls"));
        let g = identify(b"hello\x00\x01world \r\n\r\n");
        assert_eq!((g.service, g.banner.as_deref()), (None, Some("hello..world")));
    }

    /// Found by the `service_banner` fuzz target: a header line with a multi-byte character across byte 7
    /// panicked when its first seven bytes were compared with `server:`.
    #[test]
    fn http_headers_with_multibyte_characters_are_read() {
        let g = identify("HTTP/1.1 200 OK\r\nServer\u{e9}: x\r\nServer: Apache/2.4.52\r\n\r\n".as_bytes());
        assert_eq!(g.banner.as_deref(), Some("HTTP/1.1 200 OK\nServer: Apache/2.4.52"));
        let g = identify("HTTP/1.1 200 OK\r\nDate9.\u{7c7}x\r\n\r\n".as_bytes());
        assert_eq!(g.banner.as_deref(), Some("HTTP/1.1 200 OK"));
    }

    #[test]
    fn knows_when_a_reply_is_complete() {
        assert!(looks_complete(b"SSH-2.0-OpenSSH_9.6\r\n"));
        assert!(!looks_complete(b"SSH-2.0-Open"));
        assert!(!looks_complete(b"220-first line\r\n"));
        assert!(looks_complete(b"220-first line\r\n220 last line\r\n"));
        assert!(!looks_complete(b"HTTP/1.1 200 OK\r\nServer: x\r\n"));
        assert!(looks_complete(b"HTTP/1.1 200 OK\r\nServer: x\r\n\r\n"));
        assert!(!looks_complete(b"$10\r\nabc"));
        assert!(looks_complete(b"$3\r\nabc\r\n"));
        assert!(looks_complete(b"$-1\r\n"));
    }
}
