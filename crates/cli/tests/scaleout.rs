//! The scale-out proof: two API processes (`tlink serve --no-worker`) and two worker processes (`tlink
//! worker`) on one PostgreSQL schema and one Redis, driven over HTTP by clients that alternate between the
//! API processes, do every piece of work exactly once:
//!
//! 1. every queued tool run runs once;
//! 2. every monitored asset is scanned once per interval, although both workers run the scheduler;
//! 3. a credential's per-minute limit holds across the API processes (shared through Redis);
//! 4. a worker stopped with SIGTERM while runs are in flight hands them back, and each completes once;
//! 5. a worker killed with SIGKILL mid-run loses nothing: its leases expire, another worker completes the
//!    runs, each once;
//! 6. an alert is raised once per asset, and its webhook is delivered once.
//!
//! What the workers did is observed where they cannot fake it. Each worker process resolves through its own
//! port of a relay in front of a loopback DNS server; the relay records every question (name, type, the
//! asking socket's port, the question's id) and can withhold one worker's answers for some names, so that
//! its runs stay in flight. A dns run asks its eight questions over one socket, each with its own random id,
//! and a retransmission reuses both; so the distinct (port, id) pairs among a name's A questions count how
//! many times a run for that name was executed, and the relay port says by which worker. A claim counts an
//! attempt (`attempts` on the report), a graceful hand-back takes it off again, a lease expiry does not.
//! Worker processes serve no HTTP, so their own counters (`tlink_tool_runs_total`) cannot be read; the API
//! processes' `/metrics` must show that they ran nothing.
//!
//! Needs PostgreSQL (`TLINK_TEST_DATABASE_URL`; the test creates a schema of its own, passes it to every
//! process as `?options=-c search_path=…` in the URL, and drops it at the end) and Redis
//! (`TLINK_TEST_REDIS_URL`, else `TLINK_REDIS_URL`, else redis://127.0.0.1:6379/0, with a key prefix of the
//! run's own). Skipped without them unless `REQUIRE_TEST_PEERS` is set.

mod common;

#[allow(dead_code)] // shared with the tools tests, which use all of it
#[path = "../../tools/tests/it/dnsserver.rs"]
mod dnsserver;

/// What `dnsserver.rs` expects of the test crate that includes it.
#[allow(dead_code)]
mod support {
    pub fn loopback_config() -> tlink_tools::ToolsConfig {
        tlink_tools::ToolsConfig { allow_private_targets: true, ..tlink_tools::ToolsConfig::default() }
    }
}

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{Server, free_port, http};
use hickory_server::proto::op::Message;
use hickory_server::proto::rr::RecordType;
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";

/// Every name under `scale.test.` resolves to [`ANSWER`].
const ZONE: &str = r#"
$TTL 300
@    IN SOA ns1.scale.test. hostmaster.scale.test. 1 7200 900 1209600 300
@    IN NS  ns1.scale.test.
ns1  IN A   192.0.2.53
*    IN A   192.0.2.10
"#;
const ANSWER: &str = "192.0.2.10";

/// Manual runs in phase 1, monitored assets, and the FREE plan's requests a minute per credential.
const RUNS: usize = 200;
const ASSETS: usize = 100;
const FREE_LIMIT: usize = 30;
/// Requests sent with the FREE key, alternating between the API processes.
const FREE_BURST: usize = 40;

/// The relay's ports, one per worker process: worker A (stopped with SIGTERM), worker B (runs throughout),
/// A2 (started after A stopped, killed with SIGKILL), A3 (started after A2 died).
const A: usize = 0;
const B: usize = 1;
const A2: usize = 2;
const A3: usize = 3;
const FRONTS: usize = 4;

/// A monitored asset's interval (the smallest the configuration below allows), in milliseconds.
const INTERVAL_MS: i64 = 60_000;

#[test]
fn api_and_worker_processes_on_one_database_do_every_piece_of_work_once() {
    let Some(peers) = find_peers() else { return };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime for the test's DNS server and relay");
    let run = format!("{}-{}", std::process::id(), tlink_store::now_millis());
    // Declared before the processes, so it is dropped (the schema with it) after they are killed.
    let schema = Schema::create(&rt, &peers.database);
    let dns = rt.block_on(dnsserver::start("scale.test.", ZONE));
    let relay = Relay::start(&rt, dns.addr());
    let hooks = Hooks::start();
    let dir = std::env::temp_dir().join(format!("tlink-scaleout-{run}"));
    std::fs::create_dir_all(&dir).expect("a data directory");
    let cluster = Cluster::new(dir.clone(), &schema.url, &peers.redis, &format!("tlink-scaleout-{run}:"), dns.addr());

    // The schema is migrated once, then three users, each owning an organization, are made on the command
    // line: bulk runs and monitoring on ENTERPRISE (no request limit in the way), the limit test on FREE.
    cluster.cli(&["migrate"]);
    let runs_org = org_of(&cluster.cli(&["user", "create", "--email", "runs@example.com", "--org", "Runs"]));
    let watch_org = org_of(&cluster.cli(&["user", "create", "--email", "watch@example.com", "--org", "Watch"]));
    let free_org = org_of(&cluster.cli(&["user", "create", "--email", "free@example.com", "--org", "Free"]));
    for org in [runs_org.as_str(), watch_org.as_str()] {
        cluster.cli(&["org", "set-plan", org, "ENTERPRISE", "--requests-per-minute", "1000000"]);
    }

    let apis = [free_port(), free_port()];
    let _api0 = cluster.api("api-0", apis[0]);
    let _api1 = cluster.api("api-1", apis[1]);
    let worker_metrics = [common::free_port(), common::free_port()];
    let mut worker_a = cluster.worker_with("worker-a", relay.front(A), Some(worker_metrics[0]));
    let _worker_b = cluster.worker_with("worker-b", relay.front(B), Some(worker_metrics[1]));

    // Signed in on one process, the key made on the other: sessions and keys are the database's.
    let runs_key = api_key(apis, "runs@example.com");
    let watch_key = api_key(apis, "watch@example.com");
    let free_key = api_key(apis, "free@example.com");

    // ---- 3. The FREE plan's limit holds across both API processes, counted once in Redis. -------------------
    let path = format!("/api/orgs/{free_org}/assets");
    let started = Instant::now();
    let (mut allowed, mut refused) = (0usize, 0usize);
    for i in 0..FREE_BURST {
        let r = http(apis[i % 2], "GET", &path, &[("X-API-Key", &free_key)], None);
        match r.status {
            200 => {
                allowed += 1;
                assert_eq!(r.header("x-ratelimit-limit").as_deref(), Some("30"), "{}", r.head);
            }
            429 => {
                refused += 1;
                let wait: u64 = r.header("retry-after").and_then(|v| v.parse().ok()).expect("a 429 says Retry-After");
                assert!(wait >= 1, "a refusal asks to wait: {}", r.head);
            }
            other => panic!("unexpected {other} from {}: {:?}", apis[i % 2], r.body),
        }
    }
    // GCRA at 30 a minute: the full bucket, then one more every 2 s. The burst normally takes well under 2 s,
    // and then exactly 30 pass; a slower machine may earn back one per 2 s elapsed, never more.
    let refills = usize::try_from(started.elapsed().as_millis() / 2000).unwrap_or(usize::MAX);
    assert!(
        allowed >= FREE_LIMIT && allowed <= FREE_LIMIT + refills,
        "two processes together allowed {allowed} of {FREE_BURST} (limit {FREE_LIMIT}, {refills} refills in {:?})",
        started.elapsed()
    );
    assert_eq!(refused, FREE_BURST - allowed);

    // Both workers are up and claiming before anything is counted: a few throwaway runs until each worker's
    // relay port has seen one.
    let mut canaries = 0usize;
    wait_for("both workers to claim runs", Duration::from_secs(60), &cluster, || {
        for _ in 0..2 {
            queue_run(apis[canaries % 2], &runs_org, &runs_key, &format!("c{canaries}.scale.test"));
            canaries += 1;
        }
        let asked = relay.fronts_asking("c");
        (asked.contains(&A) && asked.contains(&B)).then_some(())
    });

    // ---- 2 and 6, first window: 100 monitored assets, one rule with a webhook. --------------------------------
    let rule = http(
        apis[0],
        "POST",
        &format!("/api/orgs/{watch_org}/alert-rules"),
        &[("X-API-Key", &watch_key)],
        Some(&json!({
            "name": "resolves to the test address",
            "condition": {"tool": "dns", "field": "a", "operator": "contains", "value": ANSWER},
            "severity": "HIGH", "notifyWebhook": true, "webhookUrl": hooks.url()
        })),
    );
    assert_eq!(rule.status, 201, "{:?}", rule.body);
    let rule_id = rule.body["data"]["id"].as_str().expect("rule id").to_string();
    let mut assets: HashMap<String, String> = HashMap::new(); // id → value
    for i in 0..ASSETS {
        let value = format!("m{i}.scale.test");
        let r = http(
            apis[i % 2],
            "POST",
            &format!("/api/orgs/{watch_org}/assets"),
            &[("X-API-Key", &watch_key)],
            Some(&json!({"type": "DOMAIN", "value": value, "isMonitored": true, "monitorIntervalMinutes": 1})),
        );
        assert_eq!(r.status, 201, "{:?}", r.body);
        assets.insert(r.body["data"]["id"].as_str().expect("asset id").to_string(), value);
    }
    let reports_path = format!("/api/orgs/{watch_org}/tools/reports");
    let first =
        wait_for("the first scheduled scan of every monitored asset", Duration::from_secs(60), &cluster, || {
            let all = list_all(apis, &watch_key, &reports_path);
            (all.iter().filter(|r| r["status"] == "COMPLETED").count() >= ASSETS).then_some(all)
        });
    let per_asset = by_asset(&first);
    let executed = relay.executions();
    for (id, value) in &assets {
        let reports = per_asset.get(id).map(Vec::as_slice).unwrap_or_default();
        assert!(!reports.is_empty(), "{value} was not scanned");
        for r in reports {
            assert_eq!((r["origin"].as_str(), r["toolKey"].as_str()), (Some("SCHEDULED"), Some("dns")), "{r}");
            assert_eq!(r["target"].as_str(), Some(value.as_str()), "{r}");
        }
        // Two schedulers tick every second; no asset is scanned twice within its interval.
        assert_one_per_interval(value, reports);
        // ... and each scan ran once at the resolver.
        let ran: usize = executed.get(value).map_or(0, |e| e.iter().sum());
        assert_eq!(ran, reports.len(), "{value}: {} scheduled report(s), executed {ran} time(s)", reports.len());
    }
    assert!(per_asset.keys().all(|id| assets.contains_key(id)), "a report for an unknown asset: {per_asset:?}");
    let latest_first = first.iter().map(|r| millis(&r["createdAt"])).max().expect("at least one scheduled report");

    // Each asset's A record matched the rule once: one alert each, and one webhook each.
    wait_for("a webhook for every alert", Duration::from_secs(60), &cluster, || {
        (hooks.seen().len() >= ASSETS).then_some(())
    });
    let alerts = list_all(apis, &watch_key, &format!("/api/orgs/{watch_org}/alerts"));
    check_alerts(&alerts, &assets, &rule_id, 1);
    check_deliveries(apis, &watch_org, &watch_key, &alerts, &hooks, &cluster);

    // ---- 1. Every tool run runs once. ------------------------------------------------------------------------
    let runs: Vec<(String, String)> = (0..RUNS)
        .map(|i| {
            let target = format!("r{i}.scale.test");
            (queue_run(apis[i % 2], &runs_org, &runs_key, &target), target)
        })
        .collect();
    for (n, (id, target)) in runs.iter().enumerate() {
        let r = finished(apis[(n + 1) % 2], &runs_org, &runs_key, id, &cluster);
        assert_eq!(r["status"], "COMPLETED", "{r}");
        assert_eq!(r["attempts"], 1, "claimed once: {r}");
        assert_eq!((r["origin"].as_str(), r["target"].as_str()), (Some("MANUAL"), Some(target.as_str())), "{r}");
        assert_eq!(r["result"]["a"], json!([ANSWER]), "answered by the test's DNS server: {r}");
    }
    let executed = relay.executions();
    let mut by_worker = [0usize; FRONTS];
    for (_, target) in &runs {
        let e = executed.get(target).copied().unwrap_or_default();
        assert_eq!(e.iter().sum::<usize>(), 1, "{target} was executed {e:?} times (by relay port)");
        for (total, n) in by_worker.iter_mut().zip(e) {
            *total += n;
        }
    }
    assert!(by_worker[A] > 0 && by_worker[B] > 0, "both workers ran some of the {RUNS} runs: {by_worker:?}");
    // Each worker's own `/metrics` (`worker.metrics_listen`) counts exactly the dns runs the relay saw it
    // execute — canaries, scheduled scans and manual runs together (polled: a scan may be finishing).
    for (front, addr) in [(A, worker_metrics[0]), (B, worker_metrics[1])] {
        wait_for(
            &format!("worker {front}'s tool-run counter to match its executions"),
            Duration::from_secs(20),
            &cluster,
            || {
                let executed: usize = relay.executions().values().map(|e| e[front]).sum();
                let counted = metric_sum(&get_text(addr, "/metrics"), "tlink_tool_runs_total");
                (executed > 0 && counted == executed as f64).then_some(())
            },
        );
    }
    // The API-only processes served requests and ran no tool.
    for addr in apis {
        let metrics = get_text(addr, "/metrics");
        assert_eq!(metric_sum(&metrics, "tlink_tool_runs_total"), 0.0, "{addr} ran tools:\n{metrics}");
        assert!(metric_sum(&metrics, "http_requests_total") > 0.0, "{addr} served no request:\n{metrics}");
    }

    // ---- 4. SIGTERM while runs are in flight: they are handed back, and complete once. -----------------------
    // Worker A's answers for these names never come, so its runs cannot finish by themselves.
    relay.hold(A, "g");
    let stopped = queue_until_in_flight(&relay, A, "g", apis, &runs_org, &runs_key, &cluster);
    let pid = worker_a.0.id().to_string();
    let term = Command::new("kill").args(["-TERM", &pid]).status().expect("running kill");
    assert!(term.success(), "kill -TERM {pid}");
    let exit = wait_for("worker A to stop after SIGTERM", Duration::from_secs(30), &cluster, || {
        worker_a.0.try_wait().expect("waiting for worker A")
    });
    assert!(exit.success(), "a SIGTERM stops a worker cleanly: {exit:?}\n{}", cluster.tail());
    for (n, (id, _)) in stopped.iter().enumerate() {
        let r = finished(apis[n % 2], &runs_org, &runs_key, id, &cluster);
        assert_eq!(r["status"], "COMPLETED", "{r}");
        assert_eq!(r["result"]["a"], json!([ANSWER]), "{r}");
        // A hand-back takes the attempt off again; a lease that ran out would have left it counted.
        assert_eq!(r["attempts"], 1, "handed back, not expired: {r}");
    }
    let executed = relay.executions();
    let mut handed_back = 0;
    for (_, target) in &stopped {
        let e = executed.get(target).copied().unwrap_or_default();
        let others: usize = e.iter().enumerate().filter(|(f, _)| *f != A).map(|(_, n)| n).sum();
        assert!(e[A] <= 1, "{target}: executed {e:?}");
        assert_eq!(others, 1, "{target}: completed by exactly one other worker: {e:?}");
        handed_back += e[A];
    }
    assert!(handed_back > 0, "worker A had runs in flight when it was stopped");

    // ---- 5. SIGKILL mid-run: the leases expire, another worker completes each run once. ----------------------
    let mut worker_a2 = cluster.worker("worker-a2", relay.front(A2));
    relay.hold(A2, "k");
    let killed = queue_until_in_flight(&relay, A2, "k", apis, &runs_org, &runs_key, &cluster);
    worker_a2.0.kill().expect("SIGKILL worker A2");
    let _ = worker_a2.0.wait();
    // Two schedulers again for the second window.
    let _worker_a3 = cluster.worker("worker-a3", relay.front(A3));
    let mut results = HashMap::new();
    for (n, (id, target)) in killed.iter().enumerate() {
        let r = finished(apis[n % 2], &runs_org, &runs_key, id, &cluster);
        assert_eq!(r["status"], "COMPLETED", "{r}");
        assert_eq!(r["result"]["a"], json!([ANSWER]), "{r}");
        results.insert(target.clone(), r["attempts"].as_i64().expect("attempts"));
    }
    let executed = relay.executions();
    let mut lost_mid_run = 0;
    for (_, target) in &killed {
        let e = executed.get(target).copied().unwrap_or_default();
        let others: usize = e.iter().enumerate().filter(|(f, _)| *f != A2).map(|(_, n)| n).sum();
        let attempts = results[target];
        assert!(e[A2] <= 1, "{target}: executed {e:?}");
        assert_eq!(others, 1, "{target}: completed by exactly one surviving worker: {e:?}");
        // The killed worker's attempt stays counted; a run it never started may have been claimed by it too.
        if e[A2] == 1 {
            assert_eq!(attempts, 2, "{target}: the killed attempt and the one that completed");
        } else {
            assert!((1..=2).contains(&attempts), "{target}: {attempts} attempts");
        }
        lost_mid_run += e[A2];
    }
    assert!(lost_mid_run > 0, "worker A2 had runs in flight when it was killed");

    // ---- 2 and 6, second window: one more scan per asset, the open alerts count it, no new webhook. -----------
    let left = latest_first + INTERVAL_MS + 45_000 - tlink_store::now_millis();
    let budget = Duration::from_millis(u64::try_from(left).unwrap_or(0).max(10_000));
    let all = wait_for("the second scheduled scan of every monitored asset", budget, &cluster, || {
        let all = list_all(apis, &watch_key, &reports_path);
        (all.iter().filter(|r| r["status"] == "COMPLETED").count() >= 2 * ASSETS).then_some(all)
    });
    assert_eq!(all.len(), 2 * ASSETS, "two scheduled reports per asset, no more");
    let per_asset = by_asset(&all);
    let executed = relay.executions();
    for (id, value) in &assets {
        let reports = per_asset.get(id).map(Vec::as_slice).unwrap_or_default();
        assert_eq!(reports.len(), 2, "{value}: {reports:?}");
        assert_one_per_interval(value, reports);
        let ran: usize = executed.get(value).map_or(0, |e| e.iter().sum());
        assert!(ran >= 2, "{value}: the second scan reached the resolver ({ran})");
    }
    let alerts = list_all(apis, &watch_key, &format!("/api/orgs/{watch_org}/alerts"));
    check_alerts(&alerts, &assets, &rule_id, 2);
    for alert in &alerts {
        let asset = alert["assetId"].as_str().expect("assetId");
        let mut reports: Vec<&Value> = per_asset[asset].clone();
        reports.sort_by_key(|r| millis(&r["createdAt"]));
        assert_eq!(alert["reportId"], reports[0]["id"], "raised by the first scan: {alert}");
        assert_eq!(alert["lastReportId"], reports[1]["id"], "counted by the second: {alert}");
    }
    check_deliveries(apis, &watch_org, &watch_key, &alerts, &hooks, &cluster);
    let _ = std::fs::remove_dir_all(&dir);
}

// ---------------------------------------------------------------------------------------------- the peers

struct Peers {
    database: String,
    redis: String,
}

/// PostgreSQL and Redis, or `None` (after saying why) when either is missing and `REQUIRE_TEST_PEERS` is unset.
fn find_peers() -> Option<Peers> {
    let required = std::env::var_os("REQUIRE_TEST_PEERS").is_some();
    let database = match std::env::var("TLINK_TEST_DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => url,
        _ => {
            assert!(!required, "TLINK_TEST_DATABASE_URL must name a PostgreSQL database");
            eprintln!("TLINK_TEST_DATABASE_URL is not set: skipping the scale-out test");
            return None;
        }
    };
    let redis = ["TLINK_TEST_REDIS_URL", "TLINK_REDIS_URL"]
        .iter()
        .find_map(|k| std::env::var(k).ok().filter(|v| !v.trim().is_empty()))
        .unwrap_or_else(|| "redis://127.0.0.1:6379/0".to_string());
    let addr = redis_addr(&redis);
    let up = addr
        .to_socket_addrs()
        .ok()
        .and_then(|mut a| a.next())
        .is_some_and(|a| TcpStream::connect_timeout(&a, Duration::from_secs(1)).is_ok());
    if !up {
        assert!(!required, "Redis must be reachable at {addr}");
        eprintln!("Redis is not reachable at {addr}: skipping the scale-out test");
        return None;
    }
    Some(Peers { database, redis })
}

/// `host:port` of a `redis://[user:password@]host[:port][/db]` URL.
fn redis_addr(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let rest = rest.split(['/', '?']).next().unwrap_or(rest);
    let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h);
    if host.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok()) {
        host.to_string()
    } else {
        format!("{host}:6379")
    }
}

/// A schema of the test's own in the database, dropped at the end; `url` points every process at it.
struct Schema {
    name: String,
    url: String,
    admin: tokio_postgres::Client,
    rt: tokio::runtime::Handle,
}

impl Schema {
    fn create(rt: &tokio::runtime::Runtime, base: &str) -> Schema {
        let name = format!("s_{}", uuid::Uuid::now_v7().simple());
        let (admin, conn) =
            rt.block_on(tokio_postgres::connect(base, tokio_postgres::NoTls)).expect("connecting to PostgreSQL");
        rt.spawn(async move {
            let _ = conn.await;
        });
        rt.block_on(admin.batch_execute(&format!("CREATE SCHEMA {name}"))).expect("creating the test schema");
        // `tlink` reads the URL with tokio-postgres, which takes `options` from the query string.
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-c%20search_path%3D{name}");
        Schema { name, url, admin, rt: rt.handle().clone() }
    }
}

impl Drop for Schema {
    fn drop(&mut self) {
        let sql = format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name);
        // The timer is made inside the runtime (a `Sleep` needs one when it is created).
        let drop_it = async { tokio::time::timeout(Duration::from_secs(20), self.admin.batch_execute(&sql)).await };
        let _ = self.rt.block_on(drop_it);
    }
}

// ---------------------------------------------------------------------------------------------- the processes

/// The data directory, the configuration every process shares, and how each kind of process is started.
struct Cluster {
    dir: PathBuf,
    config: PathBuf,
}

impl Cluster {
    fn new(dir: PathBuf, database_url: &str, redis_url: &str, prefix: &str, dns: SocketAddr) -> Cluster {
        let q = |s: &str| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""));
        // Lists and maps (`monitoring.tools`) cannot come from the environment (keys are lower-cased there),
        // so the shared settings are a file; what differs per process comes from the environment.
        let text = format!(
            r#"database_url = {database}
jwt_secret = "scaleout-test-secret-0123456789-abcdefghij"
secrets_key = "scaleout-sealing-key-0123456789-abcdefghij"
log_level = "warn"
webhook_timeout_secs = 5

[worker]
# Short leases so a killed worker's runs come back within seconds (heartbeat every 2 s).
lease_secs = 6
reap_interval_secs = 1
poll_interval_ms = 200
shutdown_grace_secs = 1

[tools]
# The webhook receiver is on loopback.
allow_private_targets = true
resolvers = [{dns}]
# Longer than a stopped worker takes to exit, so its withheld runs are still in flight then.
dns_timeout_ms = 10000

[tools.limits]
dns = {{ concurrency = 16, timeout_secs = 60 }}

[monitoring]
tick_secs = 1
jitter_percent = 0
first_scan_within_secs = 2
min_interval_minutes = 1

[monitoring.tools]
DOMAIN = ["dns"]

[limits]
redis_url = {redis}
redis_prefix = {prefix}
ip_per_minute = 1000000
account_per_minute = 100000
"#,
            database = q(database_url),
            dns = q(&dns.to_string()),
            redis = q(redis_url),
            prefix = q(prefix),
        );
        let config = dir.join("tlink.toml");
        std::fs::write(&config, text).expect("writing tlink.toml");
        Cluster { dir, config }
    }

    fn command(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tlink"));
        c.current_dir(&self.dir)
            .arg("--config")
            .arg(&self.config)
            .env("TLINK_DATA_DIR", &self.dir)
            .env("TLINK_LOG_LEVEL", "warn")
            .env("TLINK_MONITORING__ENABLED", "false")
            .env_remove("TLINK_REDIS_URL")
            .env_remove("TLINK_CONFIG")
            .env_remove("RUST_LOG");
        c
    }

    /// Runs a command-line subcommand to completion; its standard output.
    fn cli(&self, args: &[&str]) -> String {
        let out = self.command().args(args).env("TLINK_NEW_USER_PASSWORD", PASSWORD).output().expect("running tlink");
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(out.status.success(), "tlink {args:?}: {stdout}{}", String::from_utf8_lossy(&out.stderr));
        stdout
    }

    /// A long-running process, its output in `<name>.log`.
    fn spawn(&self, name: &str, args: &[&str], env: &[(&str, String)]) -> Server {
        let log = File::create(self.dir.join(format!("{name}.log"))).expect("a log file");
        let mut c = self.command();
        c.args(args).stdout(Stdio::from(log.try_clone().expect("the log file again"))).stderr(Stdio::from(log));
        for (k, v) in env {
            c.env(k, v);
        }
        Server(c.spawn().unwrap_or_else(|e| panic!("starting {name}: {e}")))
    }

    /// `tlink serve --no-worker` on `addr`, once it accepts connections.
    fn api(&self, name: &str, addr: SocketAddr) -> Server {
        let server = self.spawn(name, &["serve", "--no-worker", "--listen", &addr.to_string()], &[]);
        wait_for(&format!("{name} to listen on {addr}"), Duration::from_secs(60), self, || {
            TcpStream::connect(addr).ok().map(drop)
        });
        server
    }

    /// `tlink worker` with the scheduler on, resolving through `resolver` (its own relay port).
    fn worker(&self, name: &str, resolver: SocketAddr) -> Server {
        self.worker_with(name, resolver, None)
    }

    /// A worker that also serves `/metrics` on `metrics` (`worker.metrics_listen`), once it answers there.
    fn worker_with(&self, name: &str, resolver: SocketAddr, metrics: Option<SocketAddr>) -> Server {
        let mut env = vec![
            ("TLINK_MONITORING__ENABLED", "true".to_string()),
            ("TLINK_TOOLS__RESOLVERS", format!("[\"{resolver}\"]")),
            ("TLINK_LOG_LEVEL", "info".to_string()),
        ];
        if let Some(addr) = metrics {
            env.push(("TLINK_WORKER__METRICS_LISTEN", addr.to_string()));
        }
        let server = self.spawn(name, &["worker"], &env);
        if let Some(addr) = metrics {
            wait_for(&format!("{name}'s metrics on {addr}"), Duration::from_secs(60), self, || {
                TcpStream::connect(addr).ok().map(drop)
            });
        }
        server
    }

    /// The end of every process's log, for failure messages.
    fn tail(&self) -> String {
        let mut out = String::new();
        let Ok(entries) = std::fs::read_dir(&self.dir) else { return out };
        let mut logs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "log"))
            .collect();
        logs.sort();
        for path in logs {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            out.push_str(&format!("--- {}\n", path.display()));
            for line in &lines[lines.len().saturating_sub(20)..] {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }
}

/// Polls `probe` every 100 ms until it gives a value; fails after `limit` with the processes' logs.
fn wait_for<T>(what: &str, limit: Duration, cluster: &Cluster, mut probe: impl FnMut() -> Option<T>) -> T {
    let started = Instant::now();
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(started.elapsed() < limit, "timed out after {limit:?} waiting for {what}\n{}", cluster.tail());
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The organization id `tlink user create --org` printed.
fn org_of(stdout: &str) -> String {
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("created organization "))
        .unwrap_or_else(|| panic!("no organization in {stdout:?}"))
        .trim()
        .to_string()
}

// ---------------------------------------------------------------------------------------------- HTTP

/// Signs in on one API process and creates an API key on the other.
fn api_key(apis: [SocketAddr; 2], email: &str) -> String {
    let login = http(apis[0], "POST", "/api/auth/login", &[], Some(&json!({"email": email, "password": PASSWORD})));
    assert_eq!(login.status, 200, "{:?}", login.body);
    let bearer = format!("Bearer {}", login.body["data"]["accessToken"].as_str().expect("access token"));
    let body = json!({"name": "scaleout"});
    let r = http(apis[1], "POST", "/api/users/me/api-keys", &[("Authorization", &bearer)], Some(&body));
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["data"]["key"].as_str().expect("key").to_string()
}

/// Queues a dns run; its report id.
fn queue_run(addr: SocketAddr, org: &str, key: &str, target: &str) -> String {
    let body = json!({"toolKey": "dns", "target": target});
    let r = http(addr, "POST", &format!("/api/orgs/{org}/tools/run"), &[("X-API-Key", key)], Some(&body));
    assert_eq!(r.status, 202, "{target}: {:?}", r.body);
    r.body["data"]["reportId"].as_str().expect("reportId").to_string()
}

/// The report once it is COMPLETED or FAILED (`?wait=` answers as soon as any worker finishes it).
fn finished(addr: SocketAddr, org: &str, key: &str, id: &str, cluster: &Cluster) -> Value {
    let path = format!("/api/orgs/{org}/tools/reports/{id}?wait=15");
    wait_for(&format!("report {id} to finish"), Duration::from_secs(90), cluster, || {
        let r = http(addr, "GET", &path, &[("X-API-Key", key)], None);
        assert_eq!(r.status, 200, "{:?}", r.body);
        let data = r.body["data"].clone();
        matches!(data["status"].as_str(), Some("COMPLETED" | "FAILED")).then_some(data)
    })
}

/// Every item of a list, following `nextToken`, the pages read from both API processes in turn.
fn list_all(apis: [SocketAddr; 2], key: &str, path: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut token: Option<String> = None;
    for page in 0.. {
        let url = match &token {
            Some(t) => format!("{path}?limit=100&token={t}"),
            None => format!("{path}?limit=100"),
        };
        let r = http(apis[page % 2], "GET", &url, &[("X-API-Key", key)], None);
        assert_eq!(r.status, 200, "{url}: {:?}", r.body);
        items.extend(r.body["data"].as_array().cloned().unwrap_or_default());
        match r.body["meta"]["nextToken"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => break,
        }
    }
    items
}

/// Queues runs named `<prefix><n>.scale.test`, ten at a time, until the worker behind relay port `front`
/// has asked about one of them (its answers are withheld, so that run is in flight); the runs queued.
fn queue_until_in_flight(
    relay: &Relay,
    front: usize,
    prefix: &str,
    apis: [SocketAddr; 2],
    org: &str,
    key: &str,
    cluster: &Cluster,
) -> Vec<(String, String)> {
    let started = Instant::now();
    let mut runs = Vec::new();
    loop {
        for _ in 0..10 {
            let n = runs.len();
            let target = format!("{prefix}{n}.scale.test");
            runs.push((queue_run(apis[n % 2], org, key, &target), target));
        }
        let batch = Instant::now();
        while batch.elapsed() < Duration::from_millis(1500) {
            if relay.fronts_asking(prefix).contains(&front) {
                return runs;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the worker on relay port {front} took none of {} `{prefix}` runs\n{}",
            runs.len(),
            cluster.tail()
        );
    }
}

/// The body of a plain-text GET (HTTP/1.0, so never chunked).
fn get_text(addr: SocketAddr, path: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("connecting");
    s.set_read_timeout(Some(Duration::from_secs(20))).expect("timeout");
    s.write_all(format!("GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").as_bytes()).expect("writing");
    let mut raw = String::new();
    s.read_to_string(&mut raw).expect("reading");
    let (head, body) = raw.split_once("\r\n\r\n").unwrap_or((&raw, ""));
    assert!(head.starts_with("HTTP/1.") && head.split(' ').nth(1) == Some("200"), "{path}: {head}");
    body.to_string()
}

/// The sum of every series of a metric in the Prometheus text format (0 when absent).
fn metric_sum(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.strip_prefix(name).is_some_and(|rest| rest.starts_with('{') || rest.starts_with(' ')))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// An RFC 3339 time of the API in milliseconds.
fn millis(v: &Value) -> i64 {
    let s = v.as_str().unwrap_or_else(|| panic!("a time, not {v}"));
    tlink_domain::to_millis(tlink_domain::from_bound(s).unwrap_or_else(|e| panic!("{s}: {e}")))
}

fn by_asset(reports: &[Value]) -> HashMap<String, Vec<&Value>> {
    let mut out: HashMap<String, Vec<&Value>> = HashMap::new();
    for r in reports {
        let asset = r["assetId"].as_str().unwrap_or_else(|| panic!("a scheduled report names its asset: {r}"));
        out.entry(asset.to_string()).or_default().push(r);
    }
    out
}

/// Consecutive scheduled scans of one asset are one interval apart (jitter is off): never two in one window.
fn assert_one_per_interval(value: &str, reports: &[&Value]) {
    let mut times: Vec<i64> = reports.iter().map(|r| millis(&r["createdAt"])).collect();
    times.sort_unstable();
    for pair in times.windows(2) {
        let gap = pair[1] - pair[0];
        // The next scan counts from the tick that queued this one; the report is written a moment later.
        assert!(
            (INTERVAL_MS - 1000..=INTERVAL_MS + 30_000).contains(&gap),
            "{value}: scheduled scans {gap} ms apart, the interval is {INTERVAL_MS} ms"
        );
    }
}

/// One open alert per asset, all from the rule, each counted `occurrences` times.
fn check_alerts(alerts: &[Value], assets: &HashMap<String, String>, rule_id: &str, occurrences: i64) {
    let about: BTreeSet<&str> = alerts.iter().filter_map(|a| a["assetId"].as_str()).collect();
    assert_eq!(alerts.len(), assets.len(), "one alert per asset: {alerts:?}");
    assert_eq!(about, assets.keys().map(String::as_str).collect::<BTreeSet<_>>(), "every asset has its alert");
    for a in alerts {
        assert_eq!(a["ruleId"].as_str(), Some(rule_id), "{a}");
        assert_eq!(a["status"], "OPEN", "{a}");
        assert_eq!(a["occurrences"], occurrences, "{a}");
    }
}

/// Each alert has exactly one delivery, a webhook delivered at the first attempt, and the receiver got
/// exactly one request per alert: distinct `webhook-id`s (each the delivery's id), none repeated.
fn check_deliveries(apis: [SocketAddr; 2], org: &str, key: &str, alerts: &[Value], hooks: &Hooks, cluster: &Cluster) {
    let mut delivery_ids = HashSet::new();
    for (n, alert) in alerts.iter().enumerate() {
        let id = alert["id"].as_str().expect("alert id");
        let path = format!("/api/orgs/{org}/alerts/{id}/deliveries");
        // The receiver's answer is recorded just after it was received.
        let delivery =
            wait_for(&format!("alert {id}'s webhook to be recorded"), Duration::from_secs(30), cluster, || {
                let r = http(apis[n % 2], "GET", &path, &[("X-API-Key", key)], None);
                assert_eq!(r.status, 200, "{:?}", r.body);
                let items = r.body["data"].as_array().cloned().unwrap_or_default();
                assert_eq!(items.len(), 1, "one delivery for alert {id}: {items:?}");
                (items[0]["status"] == "DELIVERED").then(|| items[0].clone())
            });
        assert_eq!(
            (delivery["channel"].as_str(), delivery["attempts"].as_i64()),
            (Some("WEBHOOK"), Some(1)),
            "{delivery}"
        );
        delivery_ids.insert(delivery["id"].as_str().expect("delivery id").to_string());
    }
    let seen = hooks.seen();
    let received: HashSet<String> = seen.iter().map(|h| h.id.clone()).collect();
    assert_eq!(seen.len(), alerts.len(), "one request per alert: {:?}", seen.iter().map(|h| &h.id).collect::<Vec<_>>());
    assert_eq!(received, delivery_ids, "each request is one delivery, none repeated");
    let fired: HashSet<&str> = seen.iter().filter_map(|h| h.body["alertId"].as_str()).collect();
    let alert_ids: HashSet<&str> = alerts.iter().filter_map(|a| a["id"].as_str()).collect();
    assert_eq!(fired, alert_ids, "each alert's webhook names it");
    assert!(seen.iter().all(|h| h.body["event"] == "alert.fired"), "{:?}", seen.first().map(|h| &h.body));
}

// ---------------------------------------------------------------------------------------------- DNS relay

/// One DNS question as the relay received it.
struct Question {
    front: usize,
    name: String,
    is_a: bool,
    port: u16,
    id: u16,
}

/// UDP ports in front of the test's DNS server, one per worker process: records every question and
/// forwards it, except those withheld (`hold`), which are never answered.
struct Relay {
    fronts: Vec<SocketAddr>,
    log: Arc<Mutex<Vec<Question>>>,
    held: Arc<Mutex<Vec<(usize, String)>>>,
}

impl Relay {
    fn start(rt: &tokio::runtime::Runtime, upstream: SocketAddr) -> Relay {
        let log = Arc::new(Mutex::new(Vec::new()));
        let held: Arc<Mutex<Vec<(usize, String)>>> = Arc::new(Mutex::new(Vec::new()));
        let mut fronts = Vec::with_capacity(FRONTS);
        for front in 0..FRONTS {
            let socket =
                Arc::new(rt.block_on(tokio::net::UdpSocket::bind("127.0.0.1:0")).expect("binding a relay port"));
            fronts.push(socket.local_addr().expect("relay address"));
            let (log, held) = (log.clone(), held.clone());
            rt.spawn(async move {
                let mut buf = vec![0u8; 4096];
                while let Ok((n, client)) = socket.recv_from(&mut buf).await {
                    let query = buf[..n].to_vec();
                    if let Some((name, is_a, id)) = question(&query) {
                        let withheld = held
                            .lock()
                            .expect("relay holds")
                            .iter()
                            .any(|(f, prefix)| *f == front && name.starts_with(prefix.as_str()));
                        log.lock().expect("relay log").push(Question { front, name, is_a, port: client.port(), id });
                        if withheld {
                            continue;
                        }
                    }
                    let socket = socket.clone();
                    tokio::spawn(async move {
                        let Ok(back) = tokio::net::UdpSocket::bind("127.0.0.1:0").await else { return };
                        if back.send_to(&query, upstream).await.is_err() {
                            return;
                        }
                        let mut answer = vec![0u8; 4096];
                        let got = tokio::time::timeout(Duration::from_secs(5), back.recv_from(&mut answer)).await;
                        if let Ok(Ok((m, _))) = got {
                            let _ = socket.send_to(&answer[..m], client).await;
                        }
                    });
                }
            });
        }
        Relay { fronts, log, held }
    }

    /// The resolver address to give the worker process of relay port `front`.
    fn front(&self, front: usize) -> SocketAddr {
        self.fronts[front]
    }

    /// From now on, questions about names starting with `prefix` from relay port `front` go unanswered.
    fn hold(&self, front: usize, prefix: &str) {
        self.held.lock().expect("relay holds").push((front, prefix.to_string()));
    }

    /// The relay ports that asked about names starting with `prefix`.
    fn fronts_asking(&self, prefix: &str) -> HashSet<usize> {
        self.log.lock().expect("relay log").iter().filter(|q| q.name.starts_with(prefix)).map(|q| q.front).collect()
    }

    /// Per name, how many times a run asked about it, by relay port: distinct (socket port, id) pairs among
    /// its A questions (one per run; a retransmission repeats both).
    fn executions(&self) -> HashMap<String, [usize; FRONTS]> {
        let log = self.log.lock().expect("relay log");
        let distinct: HashSet<(&str, usize, u16, u16)> =
            log.iter().filter(|q| q.is_a).map(|q| (q.name.as_str(), q.front, q.port, q.id)).collect();
        let mut out: HashMap<String, [usize; FRONTS]> = HashMap::new();
        for (name, front, _, _) in distinct {
            out.entry(name.to_string()).or_default()[front] += 1;
        }
        out
    }
}

/// The name (lower case, no trailing dot), whether it is an A question, and the message id.
fn question(datagram: &[u8]) -> Option<(String, bool, u16)> {
    let msg = Message::from_vec(datagram).ok()?;
    let q = msg.queries.first()?;
    let name = q.name.to_ascii().trim_end_matches('.').to_ascii_lowercase();
    Some((name, q.query_type == RecordType::A, msg.metadata.id))
}

// ---------------------------------------------------------------------------------------------- webhooks

#[derive(Clone)]
struct Hook {
    /// The `webhook-id` header.
    id: String,
    body: Value,
}

/// A loopback HTTP receiver that records every request and answers 200.
struct Hooks {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Hook>>>,
}

impl Hooks {
    fn start() -> Hooks {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the webhook receiver");
        let addr = listener.local_addr().expect("receiver address");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let record = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let record = record.clone();
                std::thread::spawn(move || receive(stream, &record));
            }
        });
        Hooks { addr, seen }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn seen(&self) -> Vec<Hook> {
        self.seen.lock().expect("webhooks").clone()
    }
}

/// Reads one request (headers and a Content-Length body), records it, answers 200 and closes.
fn receive(mut stream: TcpStream, record: &Mutex<Vec<Hook>>) {
    let Some((head, body)) = common::read_request(&mut stream) else { return };
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    record
        .lock()
        .expect("webhooks")
        .push(Hook { id: common::header_in(&head, "webhook-id").unwrap_or_default(), body });
    let _ = stream
        .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
}
