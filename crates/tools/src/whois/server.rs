//! The WHOIS servers of a run: reading a server address or a referral, the first server to ask, and one query
//! exchanged with one server.
//!
//! This file exists to keep the transport apart from the walk between servers: a configured server (the root or a
//! `tools.whois.servers` entry) is operator configuration and is connected to directly, while a server named by a
//! referral comes from remote data and goes through the egress policy; both are pinned by `tools.whois.addresses`.

use std::collections::BTreeMap;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use super::{Subject, WhoisVia};
use crate::config::WhoisConfig;
use crate::{ToolError, Toolbox};

/// A WHOIS server: a host name or IP address, and a port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Server {
    pub(super) host: String,
    pub(super) port: u16,
}

impl Server {
    /// Reads `host`, `host:port`, `[v6]:port`, a bare IP address, or `whois://host[:port][/]`.
    fn parse(raw: &str) -> Option<Server> {
        let s = raw.trim();
        let s = match s.get(..8) {
            Some(scheme) if scheme.eq_ignore_ascii_case("whois://") => s.get(8..)?,
            _ => s,
        };
        let s = s.split('/').next()?;
        let (host, port) = if let Some(rest) = s.strip_prefix('[') {
            let (host, tail) = rest.split_once(']')?;
            match tail.strip_prefix(':') {
                Some(port) => (host, port.parse().ok()?),
                None if tail.is_empty() => (host, 43),
                None => return None,
            }
        } else if s.parse::<IpAddr>().is_ok() {
            (s, 43)
        } else if let Some((host, port)) = s.rsplit_once(':') {
            (host, port.parse().ok()?)
        } else {
            (s, 43)
        };
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        let valid = host.parse::<IpAddr>().is_ok()
            || (!host.is_empty()
                && host.len() <= 253
                && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_'));
        (valid && port != 0).then_some(Server { host, port })
    }
}

impl fmt::Display for Server {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host.contains(':') {
            write!(f, "[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{}:{}", self.host, self.port)
        }
    }
}

/// The server a referral names, or why it is not followed.
pub(crate) fn follow(raw: &str) -> Result<Server, String> {
    let lower = raw.trim().to_ascii_lowercase();
    if lower.starts_with("rwhois://") {
        return Err("RWhois referrals are not followed".into());
    }
    if lower.contains("://") && !lower.starts_with("whois://") {
        return Err("not a WHOIS server (a web address)".into());
    }
    Server::parse(raw).ok_or_else(|| "not a WHOIS server address".into())
}

/// `tools.whois.addresses`, keys lower-case.
pub(super) fn pins(cfg: &WhoisConfig) -> Result<BTreeMap<String, SocketAddr>, ToolError> {
    cfg.addresses
        .iter()
        .map(|(name, addr)| {
            let parsed = addr.trim().parse::<SocketAddr>().map_err(|_| {
                ToolError::InvalidInput(format!("tools.whois.addresses.\"{name}\": `{addr}` is not an `ip:port`"))
            })?;
            if parsed.port() == 0 {
                return Err(ToolError::InvalidInput(format!(
                    "tools.whois.addresses.\"{name}\": `{addr}`: the port must be 1-65535"
                )));
            }
            Ok((name.trim().trim_end_matches('.').to_ascii_lowercase(), parsed))
        })
        .collect()
}

/// The first server to ask: a `servers` entry for the subject, else the root.
pub(super) fn first_server(cfg: &WhoisConfig, subject: &Subject) -> Result<(Server, WhoisVia), ToolError> {
    let candidates: Vec<String> = match subject {
        Subject::Domain(name) => {
            // Longest suffix first: `a.example.co.uk`, `example.co.uk`, `co.uk`, `uk`.
            let mut out = vec![name.clone()];
            out.extend(name.match_indices('.').filter_map(|(i, _)| name.get(i + 1..)).map(str::to_string));
            out
        }
        Subject::Ip(_) => vec!["ip".into()],
        Subject::Asn(_) => vec!["asn".into()],
    };
    for candidate in &candidates {
        let entry = cfg.servers.iter().find(|(k, _)| k.trim().trim_matches('.').eq_ignore_ascii_case(candidate));
        if let Some((key, value)) = entry {
            let server = Server::parse(value).ok_or_else(|| {
                ToolError::InvalidInput(format!(
                    "tools.whois.servers.\"{key}\": `{value}` is not a `host` or `host:port`"
                ))
            })?;
            return Ok((server, WhoisVia::Configured));
        }
    }
    let root = Server::parse(&cfg.root_server).ok_or_else(|| {
        ToolError::InvalidInput(format!(
            "tools.whois.root_server: `{}` is not a `host` or `host:port`",
            cfg.root_server
        ))
    })?;
    Ok((root, WhoisVia::Root))
}

/// Connection settings of a run.
pub(super) struct Io {
    pub(super) pins: BTreeMap<String, SocketAddr>,
    pub(super) connect_timeout: Duration,
    pub(super) read_timeout: Duration,
    pub(super) max_bytes: usize,
}

/// What one server gave.
pub(super) struct Reply {
    pub(super) address: Option<SocketAddr>,
    pub(super) text: Option<String>,
    pub(super) truncated: bool,
    pub(super) error: Option<String>,
}

impl Reply {
    fn failed(error: String) -> Reply {
        Reply { address: None, text: None, truncated: false, error: Some(error) }
    }
}

/// Asks `server` one query. `operator`: the server comes from configuration, not from a referral.
pub(super) async fn ask(tb: &Toolbox, io: &Io, server: &Server, query: &str, operator: bool) -> Reply {
    let connected =
        if operator { connect_operator(tb, io, server).await } else { connect_referral(tb, io, server).await };
    let (mut stream, address) = match connected {
        Ok(c) => c,
        Err(e) => return Reply::failed(e),
    };
    let mut buf = Vec::new();
    let mut truncated = false;
    let exchange = exchange(&mut stream, query, io.max_bytes, &mut buf, &mut truncated);
    let error = match tokio::time::timeout(io.read_timeout, exchange).await {
        Ok(Ok(())) if buf.is_empty() => Some("the server closed the connection without answering".to_string()),
        Ok(Ok(())) => None,
        Ok(Err(e)) => Some(format!("reading the answer: {e}")),
        Err(_) => {
            Some(format!("no complete answer within {} ms ({} bytes received)", io.read_timeout.as_millis(), buf.len()))
        }
    };
    let text = (!buf.is_empty()).then(|| String::from_utf8_lossy(&buf).into_owned());
    Reply { address: Some(address), text, truncated, error }
}

/// Sends `query` and reads the answer to end of file, keeping at most `max` bytes.
async fn exchange(
    stream: &mut TcpStream,
    query: &str,
    max: usize,
    buf: &mut Vec<u8>,
    truncated: &mut bool,
) -> std::io::Result<()> {
    stream.write_all(format!("{query}\r\n").as_bytes()).await?;
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let n = match stream.read(&mut chunk).await {
            Ok(n) => n,
            // Some servers reset the connection right after their answer.
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset && !buf.is_empty() => 0,
            Err(e) => return Err(e),
        };
        if n == 0 {
            return Ok(());
        }
        let room = max.saturating_sub(buf.len());
        if n > room {
            buf.extend_from_slice(chunk.get(..room).unwrap_or_default());
            *truncated = true;
            return Ok(());
        }
        buf.extend_from_slice(chunk.get(..n).unwrap_or_default());
    }
}

/// Connects to a configured server (root or `servers`): pinned, literal or resolved, no egress policy.
async fn connect_operator(tb: &Toolbox, io: &Io, server: &Server) -> Result<(TcpStream, SocketAddr), String> {
    let addrs: Vec<SocketAddr> = if let Some(pin) = io.pins.get(&server.host) {
        vec![*pin]
    } else if let Ok(ip) = server.host.parse::<IpAddr>() {
        vec![SocketAddr::new(ip, server.port)]
    } else {
        let lookup = tb
            .resolver()
            .lookup_ip(server.host.as_str())
            .await
            .map_err(|e| format!("resolving {}: {e}", server.host))?;
        lookup.iter().map(|ip| SocketAddr::new(ip, server.port)).collect()
    };
    let mut last = None;
    for addr in addrs {
        match tokio::time::timeout(io.connect_timeout, TcpStream::connect(addr)).await {
            Ok(Ok(stream)) => return Ok((stream, addr)),
            Ok(Err(e)) => last = Some(format!("connecting to {addr}: {e}")),
            Err(_) => {
                last = Some(format!("connecting to {addr}: timed out after {} ms", io.connect_timeout.as_millis()))
            }
        }
    }
    Err(last.unwrap_or_else(|| format!("{} has no address", server.host)))
}

/// Connects to a server named by a referral, through the egress policy.
async fn connect_referral(tb: &Toolbox, io: &Io, server: &Server) -> Result<(TcpStream, SocketAddr), String> {
    let pin = io.pins.get(&server.host);
    let (host, port) = match pin {
        Some(pin) => (pin.ip().to_string(), pin.port()),
        None => (server.host.clone(), server.port),
    };
    tb.connect_tcp(&host, port, io.connect_timeout).await.map_err(|e| {
        let message = match e {
            ToolError::Refused(m) => format!("refused by the egress policy: {m}"),
            other => other.to_string(),
        };
        match pin {
            Some(pin) => format!("{} (pinned to {pin}): {message}", server.host),
            None => message,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_server_addresses() {
        let s = |raw: &str| Server::parse(raw).map(|s| s.to_string());
        assert_eq!(s("whois.iana.org").as_deref(), Some("whois.iana.org:43"));
        assert_eq!(s("WHOIS.Example.NET.:4343").as_deref(), Some("whois.example.net:4343"));
        assert_eq!(s("whois://whois.ripe.net").as_deref(), Some("whois.ripe.net:43"));
        assert_eq!(s("whois://whois.ripe.net:43/").as_deref(), Some("whois.ripe.net:43"));
        assert_eq!(s("127.0.0.1:4301").as_deref(), Some("127.0.0.1:4301"));
        assert_eq!(s("2001:db8::43").as_deref(), Some("[2001:db8::43]:43"));
        assert_eq!(s("[2001:db8::43]:4343").as_deref(), Some("[2001:db8::43]:4343"));
        for bad in ["", "host:0", "host:port", "who is.example", "a\"b", "[::1]x"] {
            assert_eq!(s(bad), None, "{bad}");
        }
        assert!(follow("rwhois://rwhois.example.net:4321/").is_err());
        assert!(follow("https://www.example-registrar.test/whois").is_err());
        assert_eq!(follow("whois://whois.apnic.net").map(|s| s.to_string()), Ok("whois.apnic.net:43".into()));
    }

    #[test]
    fn pins_need_a_port() {
        let cfg = |addr: &str| WhoisConfig {
            addresses: [("whois.example.test".to_string(), addr.to_string())].into(),
            ..WhoisConfig::default()
        };
        let pinned = pins(&cfg("127.0.0.1:4343")).unwrap();
        assert_eq!(pinned.get("whois.example.test"), Some(&"127.0.0.1:4343".parse().unwrap()));
        match pins(&cfg("127.0.0.1:0")) {
            Err(ToolError::InvalidInput(m)) => {
                assert_eq!(m, "tools.whois.addresses.\"whois.example.test\": `127.0.0.1:0`: the port must be 1-65535")
            }
            other => panic!("expected invalid input, got {other:?}"),
        }
    }
}
