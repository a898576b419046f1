//! A loopback authoritative DNS server for tests, serving zones given as zone-file text.
//!
//! ```ignore
//! let dns = dnsserver::start("example.test.", ZONE).await;
//! let tb = support::toolbox(dns.config());          // tools.resolvers = ["127.0.0.1:<port>"]
//! ```
//!
//! The server listens on `127.0.0.1:<random port>` over UDP and TCP (same port) in the test's runtime and stops
//! when the [`TestDns`] is dropped. It answers authoritatively for its zones (NXDOMAIN and NODATA with the SOA,
//! CNAMEs in answers) and REFUSED for names outside them. Zone text is standard master-file syntax; relative
//! names are relative to the origin, and `$TTL` sets the default TTL.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hickory_server::Server;
use hickory_server::net::runtime::TokioRuntimeProvider;
use hickory_server::proto::op::{Message, ResponseCode};
use hickory_server::proto::rr::{LowerName, Name, Record};
use hickory_server::proto::serialize::txt::Parser;
use hickory_server::store::in_memory::InMemoryZoneHandler;
use hickory_server::zone_handler::{AxfrPolicy, Catalog, ZoneType};
use tlink_tools::ToolsConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};

/// A running test DNS server; stops when dropped.
pub struct TestDns {
    addr: SocketAddr,
    _server: Server<Catalog>,
}

impl TestDns {
    /// Where the server listens (UDP and TCP).
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The `tools.resolvers` entry for this server: `127.0.0.1:<port>`.
    pub fn resolver(&self) -> String {
        self.addr.to_string()
    }

    /// [`crate::support::loopback_config`] resolving through this server.
    pub fn config(&self) -> ToolsConfig {
        ToolsConfig { resolvers: vec![self.resolver()], ..crate::support::loopback_config() }
    }
}

/// Starts a server for one zone. `origin` is the zone's name (`example.test.`; the trailing dot is optional);
/// `zone` its records in zone-file syntax, which must include the SOA.
///
/// Panics (failing the test) when the zone does not parse or no port can be bound.
pub async fn start(origin: &str, zone: &str) -> TestDns {
    start_zones(&[(origin, zone)]).await
}

/// Starts a server for several zones at once.
pub async fn start_zones(zones: &[(&str, &str)]) -> TestDns {
    let mut catalog = Catalog::new();
    for (origin, zone) in zones {
        let origin = Name::from_ascii(origin.trim_end_matches('.').to_string() + ".").expect("zone origin");
        let (origin, records) = Parser::new(*zone, None, Some(origin.clone()))
            .parse()
            .unwrap_or_else(|e| panic!("zone {origin} parses: {e}"));
        let records: BTreeMap<_, _> = records;
        let handler = InMemoryZoneHandler::<TokioRuntimeProvider>::new(
            origin.clone(),
            records,
            ZoneType::Primary,
            AxfrPolicy::Deny,
        )
        .unwrap_or_else(|e| panic!("zone {origin} loads: {e}"));
        catalog.upsert(LowerName::new(&origin), vec![Arc::new(handler)]);
    }

    let (udp, tcp) = bind_pair().await;
    let addr = udp.local_addr().expect("udp address");
    let mut server = Server::new(catalog);
    server.register_socket(udp);
    server.register_listener(tcp, Duration::from_secs(5), 64 * 1024);
    TestDns { addr, _server: server }
}

/// A UDP socket and a TCP listener on the same random loopback port.
async fn bind_pair() -> (UdpSocket, TcpListener) {
    for _ in 0..20 {
        let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind udp");
        let addr = udp.local_addr().expect("udp address");
        if let Ok(tcp) = TcpListener::bind(addr).await {
            return (udp, tcp);
        }
    }
    panic!("no loopback port free for both UDP and TCP");
}

/// A UDP socket that receives queries and never answers: a resolver that times out. Keep it alive for the test.
pub async fn silent_resolver() -> UdpSocket {
    UdpSocket::bind("127.0.0.1:0").await.expect("bind udp")
}

/// A resolver whose answers the test writes: for every query received over UDP, `udp` gives the messages
/// sent back, in order; over TCP (same port), `tcp` gives the one answer. Stops when dropped.
pub struct Scripted {
    addr: SocketAddr,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Scripted {
    /// The `tools.resolvers` entry for this resolver.
    pub fn resolver(&self) -> String {
        self.addr.to_string()
    }
}

impl Drop for Scripted {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Starts a [`Scripted`] resolver on loopback.
pub async fn scripted(
    udp: impl Fn(&Message) -> Vec<Message> + Send + 'static,
    tcp: impl Fn(&Message) -> Message + Send + Sync + 'static,
) -> Scripted {
    let (socket, listener) = bind_pair().await;
    let addr = socket.local_addr().expect("udp address");
    let udp_task = tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((len, peer)) = socket.recv_from(&mut buf).await {
            let Ok(query) = Message::from_vec(&buf[..len]) else { continue };
            for answer in udp(&query) {
                let _ = socket.send_to(&answer.to_vec().expect("encode"), peer).await;
            }
        }
    });
    let tcp = Arc::new(tcp);
    let tcp_task = tokio::spawn(async move {
        while let Ok((mut stream, _)) = listener.accept().await {
            let tcp = tcp.clone();
            tokio::spawn(async move {
                let mut head = [0u8; 2];
                if stream.read_exact(&mut head).await.is_err() {
                    return;
                }
                let mut body = vec![0u8; usize::from(u16::from_be_bytes(head))];
                if stream.read_exact(&mut body).await.is_err() {
                    return;
                }
                let Ok(query) = Message::from_vec(&body) else { return };
                let bytes = tcp(&query).to_vec().expect("encode");
                let mut out = u16::try_from(bytes.len()).expect("fits").to_be_bytes().to_vec();
                out.extend_from_slice(&bytes);
                let _ = stream.write_all(&out).await;
            });
        }
    });
    Scripted { addr, tasks: vec![udp_task, tcp_task] }
}

/// The response to `query` (same ID and question) with `code` and `answers`.
pub fn reply(query: &Message, code: ResponseCode, answers: Vec<Record>) -> Message {
    let mut msg = Message::response(query.metadata.id, query.metadata.op_code);
    msg.metadata.response_code = code;
    msg.add_queries(query.queries.clone());
    msg.add_answers(answers);
    msg
}
