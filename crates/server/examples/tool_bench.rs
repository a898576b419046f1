//! Tool round trip: `POST /tools/run` (dns) → report COMPLETED, with 50 concurrent clients, against the
//! dns tool called directly with the same concurrency (the baseline: the tool's own cost).
//!
//! Usage: `tool_bench [DATABASE_URL] [SECONDS] [CLIENTS]` in a release build. Starts, in this process, an
//! authoritative DNS server on loopback for a wildcard zone (every run asks a fresh name), the API on a
//! loopback socket with its in-process worker, a user, an organization and an API key.
//!
//! The DNS server stands in for the resolver a deployment would use, and shares the two cores with what is
//! measured. By default it is [`lean_dns`]: one thread answering from the fixed zone below, as cheaply as a
//! production resolver answers from its cache. `TOOL_BENCH_DNS=hickory` uses the test suite's hickory-server
//! catalog instead, which spends about as much CPU per query as the dns tool itself. Each client loops: POST a run for `a<n>.bench.test`, then `GET` its report with `?wait=10`
//! (answered as soon as the run finishes) until it is COMPLETED. Prints p50/p95/p99 of both and the ratio of the medians.

#[path = "../../tools/tests/it/dnsserver.rs"]
#[allow(dead_code)]
mod dnsserver;

mod support {
    pub fn loopback_config() -> tlink_tools::ToolsConfig {
        tlink_tools::ToolsConfig { allow_private_targets: true, ..tlink_tools::ToolsConfig::default() }
    }
}

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::json;
use tlink_server::{AppState, Config};
use tlink_store::{NewApiKey, Store};
use tlink_tools::{NoProgress, RunOptions, Target, ToolKey, Toolbox};

/// The `tlink` binary's allocator, so that what is measured is what runs.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

const ZONE: &str = r#"
$TTL 300
@    IN SOA ns1.bench.test. hostmaster.bench.test. 1 7200 900 1209600 300
@    IN NS  ns1.bench.test.
ns1  IN A   192.0.2.53
*    IN A   192.0.2.10
*    IN MX  10 mx.bench.test.
*    IN TXT "v=spf1 -all"
"#;

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let dir = std::env::temp_dir().join(format!("tlink-tool-bench-{}", std::process::id()));
    let url = args
        .first()
        .filter(|u| !u.is_empty())
        .cloned()
        .unwrap_or_else(|| format!("sqlite://{}", dir.join("bench.db").display()));
    let seconds: u64 = args.get(1).map_or(Ok(10), |s| s.parse()).context("SECONDS")?;
    let clients: usize = args.get(2).map_or(Ok(50), |s| s.parse()).context("CLIENTS")?;

    let hickory = std::env::var("TOOL_BENCH_DNS").is_ok_and(|v| v == "hickory");
    let (_dns, resolver) = if hickory {
        let dns = dnsserver::start("bench.test.", ZONE).await;
        let resolver = dns.resolver();
        (Some(dns), resolver)
    } else {
        (None, lean_dns::start()?.to_string())
    };
    let tools = tlink_tools::ToolsConfig { resolvers: vec![resolver], ..support::loopback_config() };
    println!("DNS server: {}", if hickory { "hickory-server catalog" } else { "lean responder" });

    // Baseline: the tool alone.
    let toolbox = Toolbox::new(tools.clone())?;
    let counter = Arc::new(AtomicU64::new(0));
    let direct = drive(clients, seconds, {
        let counter = counter.clone();
        move || {
            let toolbox = toolbox.clone();
            let n = counter.fetch_add(1, Ordering::Relaxed);
            async move {
                let target = Target::parse(ToolKey::Dns, &format!("d{n}.bench.test")).expect("target");
                let started = Instant::now();
                toolbox.run(ToolKey::Dns, &target, &RunOptions::default(), &NoProgress).await.expect("dns run");
                started.elapsed()
            }
        }
    })
    .await;

    // Through the API, the queue and the worker.
    let store = Store::connect(&url, 8).await?;
    store.migrate().await?;
    let mut config = Config { tools, ..Config::default() };
    config.worker.poll_interval_ms = 50;
    config.log_level = "warn".into();
    // What is measured is the run path, not the request limits or the monthly quota (issue 5 measures those).
    config.limits.enabled = false;
    let state = AppState::new(store.clone(), config, &[7u8; 32])?;
    let email = format!("bench-{}@example.com", std::process::id());
    let (user, org) = tlink_server::ops::users::create_user(
        &state,
        tlink_server::ops::users::NewAccount {
            email: &email,
            password: "bench-password-123",
            name: None,
            org: Some("Bench"),
            operator: false,
        },
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let org = org.context("org created")?;
    store.set_org_plan(&org, tlink_domain::Plan::Enterprise).await?;
    let key = tlink_server::credentials::generate_api_key();
    store
        .create_api_key(
            &user.id,
            NewApiKey { name: "bench".into(), prefix: key.prefix, key_hash: key.hash, sealed_key: None },
        )
        .await?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let listener = tlink_server::no_delay(listener);
    let app = tlink_server::router(state.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>();
    tokio::spawn(async move { axum::serve(listener, app).await });
    tokio::spawn(state.worker().run(std::future::pending::<()>()));

    let http = reqwest::Client::builder().pool_max_idle_per_host(clients * 2).build()?;
    let base = format!("http://{addr}/api/orgs/{org}/tools");
    let marks = Arc::new(parking_lot::Mutex::new(Vec::<Marks>::new()));
    let api = drive(clients, seconds, {
        let counter = counter.clone();
        let key = key.key.clone();
        let marks = marks.clone();
        move || {
            let http = http.clone();
            let base = base.clone();
            let key = key.clone();
            let marks = marks.clone();
            let n = counter.fetch_add(1, Ordering::Relaxed);
            async move {
                let started = Instant::now();
                let sent_at = tlink_store::now_millis();
                let r: Reply = http
                    .post(format!("{base}/run"))
                    .header("X-API-Key", &key)
                    .json(&json!({ "toolKey": "dns", "target": format!("a{n}.bench.test") }))
                    .send()
                    .await
                    .expect("POST run")
                    .json()
                    .await
                    .expect("JSON");
                let id = r.data.report_id.expect("reportId");
                let accepted_at = tlink_store::now_millis();
                loop {
                    let rep: Reply = http
                        .get(format!("{base}/reports/{id}?wait=10"))
                        .header("X-API-Key", &key)
                        .send()
                        .await
                        .expect("GET report")
                        .json()
                        .await
                        .expect("JSON");
                    match rep.data.status.as_deref() {
                        Some("COMPLETED") => break,
                        Some("FAILED") => panic!("run {id} failed"),
                        _ => {}
                    }
                }
                marks.lock().push(Marks { id, sent_at, accepted_at, seen_at: tlink_store::now_millis() });
                started.elapsed()
            }
        }
    })
    .await;

    let (d50, d95, d99, dn) = stats(direct);
    let (a50, a95, a99, an) = stats(api);
    println!("| dns round trip, {clients} clients | runs | p50 ms | p95 ms | p99 ms |");
    println!("|---|---|---|---|---|");
    println!("| tool called directly (baseline) | {dn} | {d50:.1} | {d95:.1} | {d99:.1} |");
    println!("| POST run → report COMPLETED ({}) | {an} | {a50:.1} | {a95:.1} | {a99:.1} |", backend(&url));
    println!("\np50 ratio (API / direct): {:.2}", a50 / d50);
    let marks = std::mem::take(&mut *marks.lock());
    stages(&store, &org, &marks).await?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The default DNS stand-in: a blocking UDP responder on its own thread for the wildcard zone `bench.test.`
/// (the same records as [`ZONE`]): every name below it has an A, an MX and a TXT record, other types are
/// answered NODATA with the SOA, and names outside the zone are REFUSED.
mod lean_dns {
    use std::net::{Ipv4Addr, SocketAddr, UdpSocket};

    use hickory_server::proto::op::{Message, MessageType, OpCode, ResponseCode};
    use hickory_server::proto::rr::rdata::{A, MX, NS, SOA, TXT};
    use hickory_server::proto::rr::{Name, RData, Record, RecordType};

    pub fn start() -> std::io::Result<SocketAddr> {
        let socket = UdpSocket::bind("127.0.0.1:0")?;
        // 50 clients put up to 400 queries in flight; the default receive buffer (about 200 KiB) overflows
        // and drops some of them, which then wait out the client's timeout. Ask for 4 MiB (the kernel caps it
        // at net.core.rmem_max).
        socket2::SockRef::from(&socket).set_recv_buffer_size(4 << 20)?;
        let addr = socket.local_addr()?;
        std::thread::Builder::new().name("bench-dns".into()).spawn(move || serve(&socket))?;
        Ok(addr)
    }

    fn serve(socket: &UdpSocket) {
        let origin = Name::from_ascii("bench.test.").expect("origin");
        let mut buf = [0u8; 1500];
        while let Ok((len, peer)) = socket.recv_from(&mut buf) {
            let Ok(query) = Message::from_vec(&buf[..len]) else { continue };
            if let Some(answer) = answer(&origin, &query).and_then(|m| m.to_vec().ok()) {
                let _ = socket.send_to(&answer, peer);
            }
        }
    }

    fn answer(origin: &Name, query: &Message) -> Option<Message> {
        let q = query.queries.first()?;
        let mut msg = Message::new(query.metadata.id, MessageType::Response, OpCode::Query);
        msg.metadata.authoritative = true;
        msg.metadata.recursion_desired = query.metadata.recursion_desired;
        msg.add_query(q.clone());
        let name = q.name().clone();
        if !origin.zone_of(&name) {
            msg.metadata.response_code = ResponseCode::Refused;
            return Some(msg);
        }
        let apex = &name == origin;
        let child = |label: &str| Name::from_ascii(label).ok().and_then(|n| n.append_domain(origin).ok());
        let data = match q.query_type() {
            RecordType::SOA if apex => Some(soa(origin)),
            RecordType::NS if apex => child("ns1").map(|n| RData::NS(NS(n))),
            RecordType::A if apex => None,
            RecordType::A => Some(RData::A(A(Ipv4Addr::new(192, 0, 2, 10)))),
            RecordType::MX if !apex => child("mx").map(|n| RData::MX(MX::new(10, n))),
            RecordType::TXT if !apex => Some(RData::TXT(TXT::new(vec!["v=spf1 -all".into()]))),
            _ => None,
        };
        match data {
            Some(data) => msg.add_answer(Record::from_rdata(name, 300, data)),
            None => msg.add_authority(Record::from_rdata(origin.clone(), 300, soa(origin))),
        };
        Some(msg)
    }

    fn soa(origin: &Name) -> RData {
        let at = |label: &str| Name::from_ascii(label).expect("label").append_domain(origin).expect("name");
        RData::SOA(SOA::new(at("ns1"), at("hostmaster"), 1, 7200, 900, 1_209_600, 300))
    }
}

/// What the load generator reads of an answer (the rest of the report is skipped, not built).
#[derive(serde::Deserialize)]
struct Reply {
    data: ReplyData,
}

#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct ReplyData {
    report_id: Option<String>,
    status: Option<String>,
}

/// One API round trip's client-side times (unix ms).
struct Marks {
    id: String,
    sent_at: i64,
    accepted_at: i64,
    seen_at: i64,
}

/// Where an API round trip's time goes, from the client's marks and the report's own timestamps (ms
/// resolution, one clock): the POST, the wait in the queue, the run, then recording the outcome and
/// answering the waiting GET.
async fn stages(store: &Store, org: &tlink_domain::OrgId, marks: &[Marks]) -> anyhow::Result<()> {
    let mut cols: [Vec<f64>; 4] = Default::default();
    for m in marks.iter().step_by((marks.len() / 2000).max(1)) {
        let id = tlink_domain::ReportId::from_trusted(m.id.clone());
        let Some(r) = store.get_report(org, &id).await? else { continue };
        let (Some(started), Some(finished)) = (r.started_at, r.finished_at) else { continue };
        cols[0].push((m.accepted_at - m.sent_at) as f64);
        cols[1].push((started - r.created_at) as f64);
        cols[2].push((finished - started) as f64);
        cols[3].push((m.seen_at - finished) as f64);
    }
    println!("\n| stage (ms, {} samples) | p50 | p95 |", cols[0].len());
    println!("|---|---|---|");
    let names = ["POST → 202", "queued → claimed", "claimed → outcome recorded", "recorded → GET answered"];
    for (name, col) in names.iter().zip(cols.iter_mut()) {
        col.sort_by(f64::total_cmp);
        let at = |q: f64| col.get(((col.len() as f64 * q) as usize).min(col.len().saturating_sub(1))).copied();
        println!("| {name} | {:.0} | {:.0} |", at(0.5).unwrap_or(0.0), at(0.95).unwrap_or(0.0));
    }
    Ok(())
}

fn backend(url: &str) -> &'static str {
    if url.starts_with("postgres") { "PostgreSQL" } else { "SQLite" }
}

/// Runs `clients` loops of `op` for `seconds`; returns every latency.
async fn drive<F, Fut>(clients: usize, seconds: u64, op: F) -> Vec<Duration>
where
    F: Fn() -> Fut + Clone + Send + 'static,
    Fut: std::future::Future<Output = Duration> + Send,
{
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for _ in 0..clients {
        let op = op.clone();
        tasks.push(tokio::spawn(async move {
            let mut out = Vec::new();
            while Instant::now() < end {
                out.push(op().await);
            }
            out
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.unwrap_or_default());
    }
    all
}

fn stats(mut v: Vec<Duration>) -> (f64, f64, f64, usize) {
    v.sort();
    let n = v.len().max(1);
    let at = |q: f64| v.get(((n as f64 * q) as usize).min(n - 1)).map_or(0.0, |d| d.as_secs_f64() * 1000.0);
    (at(0.50), at(0.95), at(0.99), v.len())
}
