//! Crash safety, on real processes killed with SIGKILL (`Child::kill`) and real peers taken away:
//!
//! 1. `tlink serve` killed while writers create assets and queue tool runs as fast as they can: after a
//!    restart on the same database every write answered 201/202 is there with every field as sent, nothing
//!    is half-written (each report has its job, the month's run count equals the reports, no row the
//!    writers did not send; on SQLite `PRAGMA integrity_check` and `foreign_key_check` are clean);
//! 2. a `tlink worker` killed while its tool run is in flight (the run's WHOIS server, on loopback, holds
//!    the query): a new worker runs the job again once the lease expires, the report completes once, and
//!    the rule it matches raises one alert;
//! 3. a worker killed while its webhook delivery is in flight (the receiver holds the first request): a new
//!    worker delivers again, the receiver sees the delivery at most twice, always with the same
//!    `webhook-id`, and the delivery is recorded as delivered once;
//! 4. PostgreSQL stopped and started again under load: requests answer 503 meanwhile (never 500, never a
//!    hang), succeed again afterwards without restarting tlink, and a run in flight across the outage still
//!    completes;
//! 5. Redis (a private `redis-server`) frozen, killed and started again: requests keep being answered
//!    promptly as `docs/limits.md` documents (let through; 503 with `limits.fail_closed`), the failed-login
//!    throttle keeps counting in the process, and the limits are enforced in Redis again once it is back.
//!
//! 1 to 3 run on SQLite (the worker a second process on the same file) and on PostgreSQL when
//! `TLINK_TEST_DATABASE_URL` is set (each test in a schema of its own, dropped at the end); 4 needs that
//! PostgreSQL on this machine, restarted with `pg_ctlcluster` (so the tests run as root or as its owner); 5
//! needs `redis-server`. Without them those tests are skipped, unless `REQUIRE_TEST_PEERS` is set. Leases
//! (3 s) and polling (100 ms) are short, so that a killed worker's job comes back within seconds.

mod common;

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock, RwLockReadGuard};
use std::time::{Duration, Instant};

use common::{Reply, Server, free_port, http, unchunk};
use serde_json::{Value, json};

const PASSWORD: &str = "correct horse battery staple";

/// Worker settings shared by the tests that kill workers: a killed worker's lease ends within 3 s, any
/// worker puts its job back within a second after that, and polls for it every 100 ms.
const FAST_WORKERS: &str = r#"
webhook_timeout_secs = 10

[worker]
lease_secs = 3
reap_interval_secs = 1
poll_interval_ms = 100
shutdown_grace_secs = 1
"#;

/// The stopped-PostgreSQL test stops the server every other PostgreSQL test here uses: it takes this
/// lock for writing, they take it for reading (tests of one binary run in parallel threads).
static POSTGRES: RwLock<()> = RwLock::new(());

fn postgres_shared() -> RwLockReadGuard<'static, ()> {
    POSTGRES.read().unwrap_or_else(std::sync::PoisonError::into_inner)
}

// ============================================================================================= 1. serve

/// Writer threads, and rounds of writing until the server is killed and restarted.
const WRITERS: usize = 8;
const ROUNDS: usize = 3;

#[test]
fn a_killed_server_keeps_every_acknowledged_write_on_sqlite() {
    serve_killed_mid_write(Engine::Sqlite);
}

#[test]
fn a_killed_server_keeps_every_acknowledged_write_on_postgres() {
    let _shared = postgres_shared();
    let Some(base) = postgres_url("the killed-server test") else { return };
    serve_killed_mid_write(Engine::Postgres(base));
}

/// What one write asked for, and what became of it.
struct Written {
    /// `asset` or `run`.
    kind: &'static str,
    /// The unique value (asset) or target (run).
    marker: String,
    sent: Value,
    outcome: Outcome,
}

#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    /// Answered 201/202: committed; the id the answer gave.
    Acked(String),
    /// Sent, but the connection broke before an answer: written or not, never half.
    InDoubt,
    /// The connection was refused: never sent.
    NotSent,
    /// Any other answer: a failure of the test.
    Other(u16, String),
}

fn serve_killed_mid_write(engine: Engine) {
    let db = Database::create(&engine);
    let node = Node::new(&format!("writes-{}", engine.name()), &db.url, "[limits]\nenabled = false\n");
    node.cli(&["migrate"]);
    let org = org_of(&node.cli(&["user", "create", "--email", "writer@example.com", "--org", "Writes"]));
    // Unlimited runs a month, and no request limit in the way.
    node.cli(&["org", "set-plan", &org, "ENTERPRISE", "--requests-per-minute", "1000000"]);

    let mut addr = free_port();
    let mut server = node.api("serve-0", addr);
    let key = api_key(addr, "writer@example.com");
    let mut writes: Vec<Written> = Vec::new();
    for round in 0..ROUNDS {
        let stop = Arc::new(AtomicBool::new(false));
        let threads: Vec<_> = (0..WRITERS)
            .map(|t| {
                let (stop, key, org) = (stop.clone(), key.clone(), org.clone());
                std::thread::spawn(move || write_until(&stop, addr, &org, &key, round, t))
            })
            .collect();
        // Killed at a different moment each round, mid-stream.
        std::thread::sleep(Duration::from_millis(800 + 300 * round as u64));
        server.0.kill().expect("SIGKILL tlink serve");
        let _ = server.0.wait();
        stop.store(true, Ordering::SeqCst);
        for t in threads {
            writes.extend(t.join().expect("a writer thread"));
        }
        let acked = writes.iter().filter(|w| matches!(w.outcome, Outcome::Acked(_))).count();
        assert!(acked > 0, "round {round}: no write was acknowledged before the kill\n{}", node.tail());

        // The database as the crash left it, before anything else opens it.
        db.check_consistency(&node, &org);
        addr = free_port();
        server = node.api(&format!("serve-{}", round + 1), addr);
        check_writes(addr, &org, &key, &writes, &node);
    }
    drop(server);
    db.check_consistency(&node, &org);

    let count = |f: &dyn Fn(&Outcome) -> bool| writes.iter().filter(|w| f(&w.outcome)).count();
    let others: Vec<String> = writes
        .iter()
        .filter_map(|w| match &w.outcome {
            Outcome::Other(status, body) => Some(format!("{} {}: {status} {body}", w.kind, w.marker)),
            _ => None,
        })
        .collect();
    assert!(others.is_empty(), "writes answered with neither success nor a broken connection: {others:#?}");
    eprintln!(
        "crash/serve ({}): {ROUNDS} rounds of SIGKILL under {WRITERS} writers; {} writes acknowledged, 0 lost, \
         {} in doubt (connection cut mid-request), {} refused after the kill",
        engine.name(),
        count(&|o| matches!(o, Outcome::Acked(_))),
        count(&|o| *o == Outcome::InDoubt),
        count(&|o| *o == Outcome::NotSent),
    );
}

/// One writer: assets (even threads) or tool runs (odd ones) with unique markers, until `stop`.
fn write_until(stop: &AtomicBool, addr: SocketAddr, org: &str, key: &str, round: usize, t: usize) -> Vec<Written> {
    let mut out = Vec::new();
    for n in 0.. {
        if stop.load(Ordering::SeqCst) {
            break;
        }
        let (kind, marker, path, sent) = if t.is_multiple_of(2) {
            let value = format!("a{round}-{t}-{n}.crash.test");
            let monitored = n % 2 == 0;
            let mut body = json!({"type": "DOMAIN", "value": value, "label": format!("round {round} writer {t} #{n}"),
                "isMonitored": monitored});
            if monitored {
                body["monitorIntervalMinutes"] = json!(60 + n % 7);
            }
            ("asset", value, format!("/api/orgs/{org}/assets"), body)
        } else {
            let target = format!("r{round}-{t}-{n}.crash.test");
            ("run", target.clone(), format!("/api/orgs/{org}/tools/run"), json!({"toolKey": "dns", "target": target}))
        };
        let outcome = match request(addr, "POST", &path, &[("X-API-Key", key)], Some(&sent), Duration::from_secs(10)) {
            Ok(r) if r.status == 201 || r.status == 202 => {
                let id = r.body["data"]["id"].as_str().or_else(|| r.body["data"]["reportId"].as_str());
                Outcome::Acked(id.unwrap_or_default().to_string())
            }
            Ok(r) if r.status == 0 => Outcome::InDoubt,
            Ok(r) => Outcome::Other(r.status, r.body.to_string()),
            Err(Failure::Refused) => Outcome::NotSent,
            Err(_) => Outcome::InDoubt,
        };
        let refused = outcome == Outcome::NotSent;
        out.push(Written { kind, marker, sent, outcome });
        if refused {
            // The server is gone; wait for the main thread to notice.
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    out
}

/// Every acknowledged write is there with every field as sent; every row there is one the writers sent.
fn check_writes(addr: SocketAddr, org: &str, key: &str, writes: &[Written], node: &Node) {
    let assets = list_all(addr, key, &format!("/api/orgs/{org}/assets"));
    let reports = list_all(addr, key, &format!("/api/orgs/{org}/tools/reports"));
    let by_value: HashMap<&str, &Value> = assets.iter().filter_map(|a| Some((a["value"].as_str()?, a))).collect();
    let by_target: HashMap<&str, &Value> = reports.iter().filter_map(|r| Some((r["target"].as_str()?, r))).collect();
    assert_eq!(by_value.len(), assets.len(), "one asset per value");
    assert_eq!(by_target.len(), reports.len(), "one report per target");
    let sent: HashMap<&str, &Written> = writes.iter().map(|w| (w.marker.as_str(), w)).collect();
    let mut lost = Vec::new();
    for w in writes {
        let found = if w.kind == "asset" { by_value.get(w.marker.as_str()) } else { by_target.get(w.marker.as_str()) };
        match (&w.outcome, found) {
            (Outcome::Acked(_), None) => lost.push(format!("{} {}", w.kind, w.marker)),
            (Outcome::Acked(id), Some(row)) if !id.is_empty() => {
                assert_eq!(
                    row["id"].as_str(),
                    Some(id.as_str()),
                    "{} {} has the id it was answered with",
                    w.kind,
                    w.marker
                );
            }
            (Outcome::NotSent, Some(row)) => panic!("a write never sent is there: {row}"),
            _ => {}
        }
    }
    assert!(lost.is_empty(), "{} acknowledged write(s) lost after SIGKILL: {lost:?}\n{}", lost.len(), node.tail());
    // Whatever is there (acknowledged or in doubt) is whole.
    for a in &assets {
        let value = a["value"].as_str().unwrap_or_default();
        let w = sent.get(value).unwrap_or_else(|| panic!("an asset no writer sent: {a}"));
        assert_eq!(w.kind, "asset", "{a}");
        for field in ["type", "value", "label", "isMonitored"] {
            assert_eq!(a[field], w.sent[field], "{field} of {a}");
        }
        assert_eq!(
            a["monitorIntervalMinutes"],
            w.sent.get("monitorIntervalMinutes").cloned().unwrap_or(Value::Null),
            "{a}"
        );
        assert_eq!(a["nextScanAt"].is_string(), a["isMonitored"] == true, "a monitored asset has its next scan: {a}");
        assert_eq!(a["lastScannedAt"], Value::Null, "{a}");
        assert_eq!(a["createdAt"], a["updatedAt"], "{a}");
    }
    for r in &reports {
        let target = r["target"].as_str().unwrap_or_default();
        let w = sent.get(target).unwrap_or_else(|| panic!("a report no writer queued: {r}"));
        assert_eq!(w.kind, "run", "{r}");
        assert_eq!(
            (r["toolKey"].as_str(), r["status"].as_str(), r["origin"].as_str(), r["attempts"].as_i64()),
            (Some("dns"), Some("QUEUED"), Some("MANUAL"), Some(0)),
            "{r}"
        );
        assert_eq!(r["targetType"], "DOMAIN", "{r}");
    }
}

// ============================================================================================= 2. tool run

#[test]
fn a_worker_killed_mid_run_leaves_the_run_to_another_on_sqlite() {
    worker_killed_mid_run(Engine::Sqlite);
}

#[test]
fn a_worker_killed_mid_run_leaves_the_run_to_another_on_postgres() {
    let _shared = postgres_shared();
    let Some(base) = postgres_url("the killed-worker (tool run) test") else { return };
    worker_killed_mid_run(Engine::Postgres(base));
}

fn worker_killed_mid_run(engine: Engine) {
    let whois = Whois::start();
    // The first query is held until the test lets it go: the first attempt is in flight until then.
    whois.hold_next(1);
    let db = Database::create(&engine);
    let node = Node::new(&format!("run-{}", engine.name()), &db.url, &loopback_tools(&whois));
    let (org, addr, key, _api) = api_node(&node, "runs@example.com");
    let rule = post(addr, &key, &format!("/api/orgs/{org}/alert-rules"), &stall_rule(None), 201);
    let rule_id = rule["id"].as_str().expect("rule id").to_string();
    let asset =
        post(addr, &key, &format!("/api/orgs/{org}/assets"), &json!({"type": "DOMAIN", "value": "held-run.com"}), 201);
    let asset_id = asset["id"].as_str().expect("asset id").to_string();

    let mut first = node.worker("worker-1");
    let started = Instant::now();
    let run = json!({"toolKey": "whois", "assetId": asset_id});
    let report_id = post(addr, &key, &format!("/api/orgs/{org}/tools/run"), &run, 202)["reportId"]
        .as_str()
        .expect("reportId")
        .to_string();
    let report_path = format!("/api/orgs/{org}/tools/reports/{report_id}");
    node.wait_for("the first worker's WHOIS query", Duration::from_secs(30), || (whois.queries() == 1).then_some(()));
    let running = get(addr, &key, &report_path);
    assert_eq!((running["status"].as_str(), running["attempts"].as_i64()), (Some("RUNNING"), Some(1)), "{running}");

    first.0.kill().expect("SIGKILL worker 1");
    let _ = first.0.wait();
    let killed_at = Instant::now();
    whois.release();
    let _second = node.worker("worker-2");
    let report = finished(addr, &key, &report_path, &node);
    let recovered = killed_at.elapsed();
    assert_eq!(report["status"], "COMPLETED", "{report}");
    assert_eq!(report["result"]["registrar"], "Stall Registrar, Inc.", "{report}");
    assert_eq!(report["attempts"], 2, "the killed attempt and the one that completed: {report}");

    // Another lease and reaper period: nothing runs again, nothing more is raised.
    std::thread::sleep(Duration::from_secs(5));
    assert_eq!(whois.queries(), 2, "the run was executed by the killed worker and once more");
    let reports = list_all(addr, &key, &format!("/api/orgs/{org}/tools/reports"));
    assert_eq!(reports.len(), 1, "{reports:?}");
    assert_eq!(get(addr, &key, &report_path), report, "the report finished once and stays as it finished");
    let alerts = list_all(addr, &key, &format!("/api/orgs/{org}/alerts"));
    assert_eq!(alerts.len(), 1, "one alert: {alerts:?}");
    let alert = &alerts[0];
    assert_eq!(
        (alert["ruleId"].as_str(), alert["assetId"].as_str()),
        (Some(rule_id.as_str()), Some(asset_id.as_str()))
    );
    assert_eq!(
        (alert["reportId"].as_str(), alert["occurrences"].as_i64()),
        (Some(report_id.as_str()), Some(1)),
        "{alert}"
    );
    eprintln!(
        "crash/worker mid-run ({}): report COMPLETED once after {} attempts, tool executed {} times, {} alert; \
         completed {:.1} s after the kill ({:.1} s in all)",
        engine.name(),
        report["attempts"],
        whois.queries(),
        alerts.len(),
        recovered.as_secs_f64(),
        started.elapsed().as_secs_f64()
    );
}

// ============================================================================================= 3. webhook

#[test]
fn a_worker_killed_mid_delivery_delivers_again_with_the_same_id_on_sqlite() {
    worker_killed_mid_delivery(Engine::Sqlite);
}

#[test]
fn a_worker_killed_mid_delivery_delivers_again_with_the_same_id_on_postgres() {
    let _shared = postgres_shared();
    let Some(base) = postgres_url("the killed-worker (webhook) test") else { return };
    worker_killed_mid_delivery(Engine::Postgres(base));
}

fn worker_killed_mid_delivery(engine: Engine) {
    let whois = Whois::start();
    let hooks = Hooks::start();
    // The first request is held until the test lets it go (and then the connection is closed unanswered).
    hooks.hold_next(1);
    let db = Database::create(&engine);
    let node = Node::new(&format!("hook-{}", engine.name()), &db.url, &loopback_tools(&whois));
    let (org, addr, key, _api) = api_node(&node, "hooks@example.com");
    post(addr, &key, &format!("/api/orgs/{org}/alert-rules"), &stall_rule(Some(&hooks.url())), 201);
    let asset =
        post(addr, &key, &format!("/api/orgs/{org}/assets"), &json!({"type": "DOMAIN", "value": "held-hook.com"}), 201);
    let asset_id = asset["id"].as_str().expect("asset id").to_string();

    let mut first = node.worker("worker-1");
    let run = json!({"toolKey": "whois", "assetId": asset_id});
    post(addr, &key, &format!("/api/orgs/{org}/tools/run"), &run, 202);
    node.wait_for("the first webhook request", Duration::from_secs(30), || (!hooks.seen().is_empty()).then_some(()));
    first.0.kill().expect("SIGKILL worker 1");
    let _ = first.0.wait();
    let killed_at = Instant::now();
    hooks.release();

    let alerts = list_all(addr, &key, &format!("/api/orgs/{org}/alerts"));
    assert_eq!(alerts.len(), 1, "one alert: {alerts:?}");
    let alert_id = alerts[0]["id"].as_str().expect("alert id").to_string();
    let deliveries_path = format!("/api/orgs/{org}/alerts/{alert_id}/deliveries");
    let _second = node.worker("worker-2");
    let delivery = node.wait_for("the delivery to be recorded as delivered", Duration::from_secs(40), || {
        let items = list_all(addr, &key, &deliveries_path);
        assert_eq!(items.len(), 1, "one delivery: {items:?}");
        (items[0]["status"] == "DELIVERED").then(|| items[0].clone())
    });
    let recovered = killed_at.elapsed();
    // Another lease and reaper period: no further attempt.
    std::thread::sleep(Duration::from_secs(5));
    let seen = hooks.seen();
    let delivery_id = delivery["id"].as_str().expect("delivery id");
    assert!((1..=2).contains(&seen.len()), "the receiver got the delivery {} times", seen.len());
    for hook in &seen {
        assert_eq!(hook.id, delivery_id, "every copy carries the delivery's webhook-id");
        assert_eq!(hook.body["alertId"].as_str(), Some(alert_id.as_str()), "{}", hook.body);
    }
    let after = list_all(addr, &key, &deliveries_path);
    assert_eq!(after, vec![delivery.clone()], "the delivery stays as it was delivered");
    let log = delivery["attemptLog"].as_array().cloned().unwrap_or_default();
    let delivered: Vec<&Value> = log.iter().filter(|a| a["outcome"] == "DELIVERED").collect();
    assert_eq!(delivered.len(), 1, "recorded as delivered once: {delivery}");
    assert_eq!(delivered[0]["statusCode"], 200, "{delivery}");
    assert_eq!(list_all(addr, &key, &format!("/api/orgs/{org}/alerts")).len(), 1, "still one alert");
    eprintln!(
        "crash/worker mid-delivery ({}): receiver saw {} copies, all with webhook-id {delivery_id}; delivery \
         DELIVERED once ({} attempt(s) recorded, {} delivered); delivered {:.1} s after the kill",
        engine.name(),
        seen.len(),
        log.len(),
        delivered.len(),
        recovered.as_secs_f64()
    );
}

// ============================================================================================= 4. PostgreSQL

#[test]
fn postgres_stopped_under_load_means_503_then_recovery() {
    let required = std::env::var_os("REQUIRE_TEST_PEERS").is_some();
    let Some(base) = postgres_url("the PostgreSQL restart test") else { return };
    let Some(cluster) = Cluster::find(&base) else {
        assert!(!required, "the PostgreSQL of TLINK_TEST_DATABASE_URL must be a local cluster pg_ctlcluster manages");
        eprintln!("crash/postgres: no local pg_ctlcluster cluster serves {base}: skipping");
        return;
    };
    let _exclusive = POSTGRES.write().unwrap_or_else(std::sync::PoisonError::into_inner);

    let whois = Whois::start();
    whois.hold_next(1);
    let db = Database::create(&Engine::Postgres(base));
    let node = Node::new("pg-restart", &db.url, &loopback_tools(&whois));
    let (org, addr, key, _api) = api_node(&node, "restart@example.com");
    let _worker = node.worker("worker");

    // A run in flight across the outage: its WHOIS answer comes while the database is down.
    let run = json!({"toolKey": "whois", "target": "outage.com"});
    let report_id = post(addr, &key, &format!("/api/orgs/{org}/tools/run"), &run, 202)["reportId"]
        .as_str()
        .expect("reportId")
        .to_string();
    node.wait_for("the worker's WHOIS query", Duration::from_secs(30), || (whois.queries() == 1).then_some(()));

    let load = Load::start(addr, &org, &key);
    node.wait_for("requests to succeed before the outage", Duration::from_secs(10), || {
        (load.samples().iter().filter(|s| s.status == Some(200) || s.status == Some(201)).count() >= 10).then_some(())
    });
    let down_at = load.elapsed();
    let stopped = cluster.stop();
    std::thread::sleep(Duration::from_millis(1000));
    whois.release();
    std::thread::sleep(Duration::from_millis(1500));
    drop(stopped); // started again
    let up_at = load.elapsed();
    // Back without restarting tlink: twenty successes in a row.
    node.wait_for("requests to succeed again after the restart", Duration::from_secs(30), || {
        let samples = load.samples();
        let tail: Vec<&Sample> = samples.iter().filter(|s| s.at > up_at).collect();
        (tail.len() >= 20 && tail[tail.len() - 20..].iter().all(|s| s.ok())).then_some(())
    });
    let samples = load.stop();

    let bad: Vec<String> = samples
        .iter()
        .filter(|s| !s.ok() && s.status != Some(503))
        .map(|s| {
            format!("{} at {:.2} s: {} after {} ms", s.what, s.at.as_secs_f64(), s.describe(), s.latency.as_millis())
        })
        .collect();
    let unavailable = samples.iter().filter(|s| s.status == Some(503)).count();
    let slowest = samples.iter().map(|s| s.latency).max().unwrap_or_default();
    assert!(
        bad.is_empty(),
        "while PostgreSQL was down ({:.2}–{:.2} s) some requests were answered neither with success nor 503: \
         {bad:#?}\n{}",
        down_at.as_secs_f64(),
        up_at.as_secs_f64(),
        node.tail()
    );
    assert!(unavailable > 0, "no request was refused with 503 while the database was down");
    // Every asset acknowledged around the outage is there.
    let acked: Vec<&str> =
        samples.iter().filter(|s| s.status == Some(201)).filter_map(|s| s.value.as_deref()).collect();
    let assets = list_all(addr, &key, &format!("/api/orgs/{org}/assets"));
    let values: HashSet<&str> = assets.iter().filter_map(|a| a["value"].as_str()).collect();
    let lost: Vec<&&str> = acked.iter().filter(|v| !values.contains(**v)).collect();
    assert!(lost.is_empty(), "acknowledged assets lost across the restart: {lost:?}");
    let report = finished(addr, &key, &format!("/api/orgs/{org}/tools/reports/{report_id}"), &node);
    assert_eq!(report["status"], "COMPLETED", "the run queued before the outage completes: {report}");
    assert_eq!(report["result"]["registrar"], "Stall Registrar, Inc.", "{report}");
    eprintln!(
        "crash/postgres restart: {} requests ({} before, {} while down or reconnecting, {} 503s, slowest {} ms), \
         {} assets acknowledged and 0 lost; the run queued before the outage COMPLETED after {} attempt(s), {} \
         WHOIS queries",
        samples.len(),
        samples.iter().filter(|s| s.at < down_at).count(),
        samples.iter().filter(|s| s.at >= down_at && !s.ok()).count(),
        unavailable,
        slowest.as_millis(),
        acked.len(),
        report["attempts"],
        whois.queries()
    );
}

/// A local PostgreSQL cluster that `pg_ctlcluster` can stop and start.
struct Cluster {
    version: String,
}

impl Cluster {
    /// The `main` cluster under `/etc/postgresql`, when the URL names this machine.
    fn find(url: &str) -> Option<Cluster> {
        let rest = url.split_once("://").map_or(url, |(_, r)| r);
        let host = rest.rsplit_once('@').map_or(rest, |(_, h)| h).split(['/', ':', '?']).next().unwrap_or_default();
        let local = ["127.0.0.1", "localhost", "[::1]", ""].contains(&host);
        if !local {
            return None;
        }
        let mut versions: Vec<String> = std::fs::read_dir("/etc/postgresql")
            .ok()?
            .filter_map(|e| e.ok())
            .filter(|e| e.path().join("main").is_dir())
            .filter_map(|e| e.file_name().into_string().ok())
            .collect();
        versions.sort();
        let version = versions.pop()?;
        let status = Command::new("pg_ctlcluster")
            .args(["--skip-systemctl-redirect", &version, "main", "status"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .ok()?;
        status.success().then_some(Cluster { version })
    }

    fn ctl(&self, action: &str) {
        let out = Command::new("pg_ctlcluster")
            .args(["--skip-systemctl-redirect", &self.version, "main", action])
            .output()
            .expect("running pg_ctlcluster");
        assert!(
            out.status.success(),
            "pg_ctlcluster {} main {action}: {}{}",
            self.version,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Stops the cluster (fast shutdown: every connection is cut); it starts again when the guard is dropped,
    /// also when the test fails.
    fn stop(&self) -> Stopped<'_> {
        self.ctl("stop");
        Stopped(self)
    }
}

struct Stopped<'a>(&'a Cluster);

impl Drop for Stopped<'_> {
    fn drop(&mut self) {
        self.0.ctl("start");
    }
}

/// One request of the load, as the client saw it.
struct Sample {
    what: &'static str,
    /// Since the load started.
    at: Duration,
    latency: Duration,
    /// The status, or `None` when no answer came (a hang, a broken connection).
    status: Option<u16>,
    error: Option<String>,
    /// The asset's value, for creations.
    value: Option<String>,
}

impl Sample {
    fn ok(&self) -> bool {
        matches!(self.status, Some(200 | 201))
    }

    fn describe(&self) -> String {
        match (self.status, &self.error) {
            (Some(s), _) => format!("status {s}"),
            (None, Some(e)) => e.clone(),
            (None, None) => "no answer".into(),
        }
    }
}

/// Two client threads reading and writing in a loop, each request bounded by [`PROMPT`].
struct Load {
    started: Instant,
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<Sample>>>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

/// How long any answer may take while a peer is down: longer is a hang.
const PROMPT: Duration = Duration::from_secs(5);

impl Load {
    fn start(addr: SocketAddr, org: &str, key: &str) -> Load {
        let started = Instant::now();
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let threads = (0..2)
            .map(|t| {
                let (stop, samples, org, key) = (stop.clone(), samples.clone(), org.to_string(), key.to_string());
                std::thread::spawn(move || {
                    for n in 0.. {
                        if stop.load(Ordering::SeqCst) {
                            break;
                        }
                        let (what, method, path, body, value) = if n % 2 == 0 {
                            ("GET assets", "GET", format!("/api/orgs/{org}/assets?limit=5"), None, None)
                        } else {
                            let value = format!("load-{t}-{n}.crash.test");
                            let body = json!({"type": "DOMAIN", "value": value});
                            ("POST asset", "POST", format!("/api/orgs/{org}/assets"), Some(body), Some(value))
                        };
                        let sent = Instant::now();
                        let r = request(addr, method, &path, &[("X-API-Key", &key)], body.as_ref(), PROMPT);
                        let latency = sent.elapsed();
                        let (status, error) = match r {
                            Ok(r) if r.status != 0 => (Some(r.status), None),
                            Ok(_) => (None, Some("connection closed without an answer".into())),
                            Err(e) => (None, Some(e.to_string())),
                        };
                        let at = sent.duration_since(started);
                        samples.lock().expect("samples").push(Sample { what, at, latency, status, error, value });
                        std::thread::sleep(Duration::from_millis(40));
                    }
                })
            })
            .collect();
        Load { started, stop, samples, threads }
    }

    fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// What the clients saw so far (status, time and latency; not the values).
    fn samples(&self) -> Vec<Sample> {
        self.samples
            .lock()
            .expect("samples")
            .iter()
            .map(|s| Sample { what: s.what, at: s.at, latency: s.latency, status: s.status, error: None, value: None })
            .collect()
    }

    fn stop(self) -> Vec<Sample> {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            t.join().expect("a load thread");
        }
        std::mem::take(&mut *self.samples.lock().expect("samples"))
    }
}

// ============================================================================================= 5. Redis

#[test]
fn redis_down_never_stalls_requests_and_is_used_again_when_back() {
    let required = std::env::var_os("REQUIRE_TEST_PEERS").is_some();
    let port = free_port().port();
    let Some(mut redis) = Redis::start(port) else {
        assert!(!required, "redis-server must be installed");
        eprintln!("crash/redis: redis-server is not installed: skipping");
        return;
    };
    let limits = |fail_closed: bool| {
        format!(
            "login_max_failures = 3\n\n[limits]\nredis_url = \"redis://127.0.0.1:{port}/0\"\nredis_prefix = \
             \"crash-{}:\"\nfail_closed = {fail_closed}\n",
            std::process::id()
        )
    };
    // Fails open (the default), on its own database; and one that fails closed, with none of its own data.
    let open = Node::new("redis-open", "", &limits(false));
    let closed = Node::new("redis-closed", "", &limits(true));
    let org = org_of(&open.cli(&["user", "create", "--email", "free@example.com", "--org", "Free"]));
    let (addr, closed_addr) = (free_port(), free_port());
    let _open_server = open.api("serve", addr);
    let _closed_server = closed.api("serve", closed_addr);
    // The session and key are made before Redis goes away (logins are throttled through it too).
    let key = api_key(addr, "free@example.com");
    let path = format!("/api/orgs/{org}/assets");
    // How long each answer took, by node, since the last `drain`.
    let latencies: std::cell::RefCell<Vec<(SocketAddr, Duration)>> = Default::default();
    let slowest = |of: SocketAddr| {
        latencies.borrow_mut().iter().filter(|(a, _)| *a == of).map(|(_, d)| *d).max().unwrap_or_default().as_millis()
    };
    let ask = |addr: SocketAddr, path: &str, key: Option<&str>| -> u16 {
        let headers: Vec<(&str, &str)> = key.map(|k| ("X-API-Key", k)).into_iter().collect();
        let sent = Instant::now();
        let r = request(addr, "GET", path, &headers, None, PROMPT)
            .unwrap_or_else(|e| panic!("GET {path} on {addr}: no answer within {PROMPT:?}: {e}"));
        latencies.borrow_mut().push((addr, sent.elapsed()));
        assert_ne!(r.status, 0, "GET {path}: the connection closed without an answer");
        r.status
    };

    // Up: the FREE plan's 30 a minute, counted in Redis.
    let burst = Instant::now();
    let statuses: Vec<u16> = (0..34).map(|_| ask(addr, &path, Some(&key))).collect();
    // One more request is earned back every 2 s.
    let refills = usize::try_from(burst.elapsed().as_millis() / 2000).unwrap_or(usize::MAX);
    let allowed_up = statuses.iter().filter(|s| **s == 200).count();
    assert!((30..=30 + refills).contains(&allowed_up), "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 429).count(), 34 - allowed_up, "{statuses:?}");
    assert_eq!(ask(closed_addr, "/api/users/me", None), 401, "the fail-closed node answers while Redis is up");

    let up = format!("Redis up: slowest answer {} ms", slowest(addr).max(slowest(closed_addr)));

    // Frozen (SIGSTOP: connections open, no answers), then dead (SIGKILL): requests are let through on the
    // node that fails open, refused with 503 on the one that fails closed, each within the bound.
    let mut phases = vec![up];
    for phase in ["frozen", "killed"] {
        match phase {
            "frozen" => redis.signal("STOP"),
            _ => {
                redis.signal("CONT");
                // Back from the freeze, the bucket used up above is Redis's again: refused.
                open.wait_for("Redis to decide again after the freeze", Duration::from_secs(20), || {
                    (ask(addr, &path, Some(&key)) == 429).then_some(())
                });
                redis.kill();
            }
        }
        latencies.borrow_mut().clear();
        // More than the bucket had left (nothing): the limit is not applied while Redis cannot decide.
        let passed: Vec<u16> = (0..12).map(|_| ask(addr, &path, Some(&key))).collect();
        assert!(passed.iter().all(|s| *s == 200), "Redis {phase}: requests are let through: {passed:?}");
        let refused: Vec<u16> = (0..4).map(|_| ask(closed_addr, "/api/users/me", None)).collect();
        assert!(refused.iter().all(|s| *s == 503), "Redis {phase}: fail_closed answers 503: {refused:?}");
        phases.push(format!(
            "Redis {phase}: 12 requests let through (slowest {} ms), 4 refused with 503 by fail_closed (slowest {} ms)",
            slowest(addr),
            slowest(closed_addr)
        ));
    }

    // Dead: the failed-login throttle still counts in this process (three failures, then 429).
    let wrong = json!({"email": "free@example.com", "password": "not the password"});
    let logins: Vec<u16> = (0..4)
        .map(|_| {
            let r = request(addr, "POST", "/api/auth/login", &[], Some(&wrong), PROMPT).expect("a login answer");
            r.status
        })
        .collect();
    assert_eq!(logins, [401, 401, 401, 429], "failed logins are throttled in the process while Redis is down");

    // Back (a fresh Redis on the same port): limits are Redis's again — a fresh bucket of 30, then 429.
    redis = Redis::start(port).expect("redis-server again");
    let back = Instant::now();
    latencies.borrow_mut().clear();
    let mut allowed = 0usize;
    open.wait_for("the limit to apply through Redis again", Duration::from_secs(30), || {
        match ask(addr, &path, Some(&key)) {
            429 => Some(()),
            _ => {
                allowed += 1;
                None
            }
        }
    });
    assert!(allowed >= 30, "a fresh bucket in the new Redis allows its 30 ({allowed} passed)");
    closed.wait_for("the fail-closed node to answer again", Duration::from_secs(30), || {
        (ask(closed_addr, "/api/users/me", None) == 401).then_some(())
    });
    eprintln!(
        "crash/redis: {}; failed logins throttled in process while down; limits enforced in Redis again {:.1} s \
         after it came back ({allowed} requests passed first; slowest answer meanwhile {} ms)",
        phases.join("; "),
        back.elapsed().as_secs_f64(),
        slowest(addr)
    );
    drop(redis);
}

/// A private `redis-server` without persistence on a port of the test's own.
struct Redis(Child);

impl Redis {
    /// `None` when redis-server is not installed.
    fn start(port: u16) -> Option<Redis> {
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let redis = Redis(child);
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(10), "redis-server did not start on {port}");
            std::thread::sleep(Duration::from_millis(20));
        }
        Some(redis)
    }

    fn signal(&self, name: &str) {
        let ok = Command::new("kill").args([&format!("-{name}"), &self.0.id().to_string()]).status();
        assert!(ok.is_ok_and(|s| s.success()), "kill -{name} redis-server");
    }

    fn kill(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        // A frozen process would not die of SIGTERM; SIGKILL works either way.
        self.kill();
    }
}

// ============================================================================================= databases

enum Engine {
    Sqlite,
    /// The base URL of TLINK_TEST_DATABASE_URL.
    Postgres(String),
}

impl Engine {
    fn name(&self) -> &'static str {
        match self {
            Engine::Sqlite => "sqlite",
            Engine::Postgres(_) => "postgres",
        }
    }
}

/// TLINK_TEST_DATABASE_URL, or `None` (after saying why) when it is unset and REQUIRE_TEST_PEERS is not.
fn postgres_url(what: &str) -> Option<String> {
    match std::env::var("TLINK_TEST_DATABASE_URL") {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ => {
            assert!(
                std::env::var_os("REQUIRE_TEST_PEERS").is_none(),
                "TLINK_TEST_DATABASE_URL must name a PostgreSQL database"
            );
            eprintln!("TLINK_TEST_DATABASE_URL is not set: skipping {what}");
            None
        }
    }
}

/// The database a test's processes share: SQLite in the data directory (empty URL), or a PostgreSQL schema
/// of the test's own, dropped at the end.
struct Database {
    url: String,
    schema: Option<(String, String)>,
}

impl Database {
    fn create(engine: &Engine) -> Database {
        let Engine::Postgres(base) = engine else { return Database { url: String::new(), schema: None } };
        let name = format!("crash_{}", uuid::Uuid::now_v7().simple());
        let create = format!("CREATE SCHEMA {name}");
        pg(base, |client| async move {
            client.batch_execute(&create).await.expect("creating the test schema");
        });
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options=-c%20search_path%3D{name}");
        Database { url, schema: Some((base.clone(), name)) }
    }

    /// Nothing half-written: each report has its job and each tool job its report, the month's run count is
    /// the number of reports (a run is counted exactly when its report is written); on SQLite the file is
    /// intact and every foreign key holds.
    fn check_consistency(&self, node: &Node, org: &str) {
        const CHECKS: [(&str, &str); 3] = [
            (
                "reports without their job",
                "SELECT COUNT(*) FROM reports r WHERE r.org_id = $1 AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = r.id)",
            ),
            (
                "tool jobs without their report",
                "SELECT COUNT(*) FROM jobs j WHERE j.kind = 'tool' AND NOT EXISTS (SELECT 1 FROM reports r WHERE r.id = j.id)",
            ),
            (
                "runs counted minus reports written",
                "SELECT (SELECT CAST(COALESCE(SUM(runs), 0) AS BIGINT) FROM tool_usage WHERE org_id = $1) \
                 - (SELECT COUNT(*) FROM reports WHERE org_id = $1)",
            ),
        ];
        let counts: Vec<i64> = match &self.schema {
            None => {
                let conn = rusqlite::Connection::open(node.dir.join("tlink.db")).expect("opening the SQLite file");
                let integrity: String =
                    conn.query_row("PRAGMA integrity_check", [], |r| r.get(0)).expect("integrity_check");
                assert_eq!(integrity, "ok", "PRAGMA integrity_check after SIGKILL");
                let mut fk = conn.prepare("PRAGMA foreign_key_check").expect("foreign_key_check");
                let broken = fk.query_map([], |r| r.get::<_, String>(0)).expect("foreign_key_check").count();
                assert_eq!(broken, 0, "rows whose foreign key points nowhere after SIGKILL");
                CHECKS
                    .iter()
                    .map(|(_, sql)| {
                        let params: &[&dyn rusqlite::ToSql] = if sql.contains("$1") { &[&org] } else { &[] };
                        conn.query_row(sql, params, |r| r.get(0)).expect(sql)
                    })
                    .collect()
            }
            Some(_) => {
                let org = org.to_string();
                pg(&self.url, |client| async move {
                    let mut out = Vec::new();
                    for (_, sql) in CHECKS {
                        let params: &[&(dyn tokio_postgres::types::ToSql + Sync)] =
                            if sql.contains("$1") { &[&org] } else { &[] };
                        out.push(client.query_one(sql, params).await.expect(sql).get::<_, i64>(0));
                    }
                    out
                })
            }
        };
        for ((what, _), n) in CHECKS.iter().zip(counts) {
            assert_eq!(n, 0, "{what}: {n}");
        }
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        if let Some((base, name)) = self.schema.take() {
            let _ = std::panic::catch_unwind(|| {
                pg(&base, |client| async move {
                    let _ = client.batch_execute(&format!("DROP SCHEMA IF EXISTS {name} CASCADE")).await;
                });
            });
        }
    }
}

/// Runs `work` with a fresh connection to `url` (each call its own, so a restart of the server in between
/// does not matter).
fn pg<T, F, Fut>(url: &str, work: F) -> T
where
    F: FnOnce(tokio_postgres::Client) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    rt.block_on(async {
        let (client, conn) =
            tokio_postgres::connect(url, tokio_postgres::NoTls).await.expect("connecting to PostgreSQL");
        let driver = tokio::spawn(conn);
        let out =
            tokio::time::timeout(Duration::from_secs(30), work(client)).await.expect("PostgreSQL answered in time");
        driver.abort();
        out
    })
}

// ============================================================================================= processes

/// A data directory, the configuration file its processes read, and how each kind of process is started.
struct Node {
    dir: PathBuf,
    config: PathBuf,
}

impl Node {
    /// `extra` is appended to the configuration: top-level keys first, then its own sections.
    fn new(name: &str, database_url: &str, extra: &str) -> Node {
        let dir = std::env::temp_dir().join(format!("tlink-crash-{name}-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).expect("a data directory");
        let text = format!(
            "database_url = \"{database_url}\"\njwt_secret = \"crash-test-secret-0123456789-abcdefghijkl\"\n\
             secrets_key = \"crash-sealing-key-0123456789-abcdefghijkl\"\nlog_level = \"warn\"\n{extra}"
        );
        let config = dir.join("tlink.toml");
        std::fs::write(&config, text).expect("writing tlink.toml");
        Node { dir, config }
    }

    /// `tlink --config <file>` with none of the test's own `TLINK_*` variables (each would be read as
    /// configuration, or refused).
    fn command(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_tlink"));
        for (k, _) in std::env::vars_os() {
            if k.to_string_lossy().starts_with("TLINK_") {
                c.env_remove(k);
            }
        }
        c.env_remove("RUST_LOG")
            .current_dir(&self.dir)
            .arg("--config")
            .arg(&self.config)
            .env("TLINK_DATA_DIR", &self.dir)
            .env("TLINK_MONITORING__ENABLED", "false");
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
    fn spawn(&self, name: &str, args: &[&str]) -> Server {
        let log = File::create(self.dir.join(format!("{name}.log"))).expect("a log file");
        let mut c = self.command();
        c.args(args).stdout(Stdio::from(log.try_clone().expect("the log file again"))).stderr(Stdio::from(log));
        Server(c.spawn().unwrap_or_else(|e| panic!("starting {name}: {e}")))
    }

    /// `tlink serve --no-worker` on `addr`, once it answers.
    fn api(&self, name: &str, addr: SocketAddr) -> Server {
        let server = self.spawn(name, &["serve", "--no-worker", "--listen", &addr.to_string()]);
        self.wait_for(&format!("{name} to answer on {addr}"), Duration::from_secs(60), || {
            request(addr, "GET", "/healthz", &[], None, Duration::from_secs(2)).ok().filter(|r| r.status == 200)
        });
        server
    }

    /// `tlink worker`, logging at `info`.
    fn worker(&self, name: &str) -> Server {
        let log = File::create(self.dir.join(format!("{name}.log"))).expect("a log file");
        let mut c = self.command();
        c.arg("worker")
            .env("TLINK_LOG_LEVEL", "info")
            .stdout(Stdio::from(log.try_clone().expect("the log file again")))
            .stderr(Stdio::from(log));
        Server(c.spawn().unwrap_or_else(|e| panic!("starting {name}: {e}")))
    }

    /// Polls `probe` every 50 ms until it gives a value; fails after `limit` with the processes' logs.
    fn wait_for<T>(&self, what: &str, limit: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
        let started = Instant::now();
        loop {
            if let Some(v) = probe() {
                return v;
            }
            assert!(started.elapsed() < limit, "timed out after {limit:?} waiting for {what}\n{}", self.tail());
            std::thread::sleep(Duration::from_millis(50));
        }
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

impl Drop for Node {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// The fast workers, the `[tools]` settings of a test whose runs and webhooks reach peers on loopback, and no
/// request limits (the tests poll).
fn loopback_tools(whois: &Whois) -> String {
    format!(
        "{FAST_WORKERS}\n[tools]\nallow_private_targets = true\n\n[tools.whois]\nroot_server = \"{}\"\n\
         read_timeout_ms = 20000\n\n[tools.limits]\nwhois = {{ concurrency = 8, timeout_secs = 30 }}\n\n\
         [limits]\nenabled = false\n",
        whois.addr
    )
}

/// Migrates, makes a user owning an ENTERPRISE organization, starts an API process and makes a key: the
/// organization, the API's address, the key and the process.
fn api_node(node: &Node, email: &str) -> (String, SocketAddr, String, Server) {
    node.cli(&["migrate"]);
    let org = org_of(&node.cli(&["user", "create", "--email", email, "--org", "Crash"]));
    node.cli(&["org", "set-plan", &org, "ENTERPRISE", "--requests-per-minute", "1000000"]);
    let addr = free_port();
    let server = node.api("api", addr);
    let key = api_key(addr, email);
    (org, addr, key, server)
}

/// The rule every run against the WHOIS stand-in matches, with a webhook when `webhook` is given.
fn stall_rule(webhook: Option<&str>) -> Value {
    let mut rule = json!({
        "name": "held registrar",
        "condition": {"tool": "whois", "field": "registrar", "operator": "contains", "value": "Stall"},
        "severity": "HIGH"
    });
    if let Some(url) = webhook {
        rule["notifyWebhook"] = json!(true);
        rule["webhookUrl"] = json!(url);
    }
    rule
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

// ============================================================================================= HTTP

/// Signs in and creates an API key.
fn api_key(addr: SocketAddr, email: &str) -> String {
    let login = http(addr, "POST", "/api/auth/login", &[], Some(&json!({"email": email, "password": PASSWORD})));
    assert_eq!(login.status, 200, "{:?}", login.body);
    let bearer = format!("Bearer {}", login.body["data"]["accessToken"].as_str().expect("access token"));
    let r =
        http(addr, "POST", "/api/users/me/api-keys", &[("Authorization", &bearer)], Some(&json!({"name": "crash"})));
    assert_eq!(r.status, 201, "{:?}", r.body);
    r.body["data"]["key"].as_str().expect("key").to_string()
}

fn post(addr: SocketAddr, key: &str, path: &str, body: &Value, status: u16) -> Value {
    let r = http(addr, "POST", path, &[("X-API-Key", key)], Some(body));
    assert_eq!(r.status, status, "POST {path}: {:?}", r.body);
    r.body["data"].clone()
}

fn get(addr: SocketAddr, key: &str, path: &str) -> Value {
    let r = http(addr, "GET", path, &[("X-API-Key", key)], None);
    assert_eq!(r.status, 200, "GET {path}: {:?}", r.body);
    r.body["data"].clone()
}

/// The report once it is COMPLETED or FAILED.
fn finished(addr: SocketAddr, key: &str, path: &str, node: &Node) -> Value {
    node.wait_for(&format!("{path} to finish"), Duration::from_secs(60), || {
        let data = get(addr, key, &format!("{path}?wait=5"));
        matches!(data["status"].as_str(), Some("COMPLETED" | "FAILED")).then_some(data)
    })
}

/// Every item of a list, following `nextToken`.
fn list_all(addr: SocketAddr, key: &str, path: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let url = match &token {
            Some(t) => format!("{path}?limit=100&token={t}"),
            None => format!("{path}?limit=100"),
        };
        let r = http(addr, "GET", &url, &[("X-API-Key", key)], None);
        assert_eq!(r.status, 200, "{url}: {:?}", r.body);
        items.extend(r.body["data"].as_array().cloned().unwrap_or_default());
        match r.body["meta"]["nextToken"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => return items,
        }
    }
}

/// Why [`request`] got no answer.
#[derive(Debug)]
enum Failure {
    /// Nothing listens: the request was never sent.
    Refused,
    /// No complete answer within the bound.
    TimedOut,
    /// The connection broke after the request was sent.
    Broken(std::io::Error),
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Refused => f.write_str("connection refused"),
            Failure::TimedOut => f.write_str("no complete answer in time"),
            Failure::Broken(e) => write!(f, "connection broken: {e}"),
        }
    }
}

/// One request over its own connection, never waiting longer than `limit` in all; never panics. A reply
/// whose status line did not arrive has status 0.
fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
    limit: Duration,
) -> Result<Reply, Failure> {
    let deadline = Instant::now() + limit;
    let mut s = TcpStream::connect_timeout(&addr, limit).map_err(|e| match e.kind() {
        std::io::ErrorKind::ConnectionRefused => Failure::Refused,
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock => Failure::TimedOut,
        _ => Failure::Broken(e),
    })?;
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
    s.set_write_timeout(Some(limit)).map_err(Failure::Broken)?;
    s.write_all(req.as_bytes()).map_err(Failure::Broken)?;
    let mut raw = Vec::new();
    let mut buf = [0u8; 16 * 1024];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(Failure::TimedOut);
        }
        s.set_read_timeout(Some(left)).map_err(Failure::Broken)?;
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                return Err(Failure::TimedOut);
            }
            Err(e) if raw.is_empty() => return Err(Failure::Broken(e)),
            Err(_) => break,
        }
    }
    let text = String::from_utf8_lossy(&raw).into_owned();
    let (head, rest) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let chunked = head.to_ascii_lowercase().contains("transfer-encoding: chunked");
    let body_text = if chunked { unchunk(rest) } else { rest.to_string() };
    Ok(Reply { status, head: head.to_string(), body: serde_json::from_str(&body_text).unwrap_or(Value::Null) })
}

// ============================================================================================= loopback peers

/// Holds the next connections of a peer until [`Hold::release`]: how many are still to be held, and
/// whether the held ones may go.
#[derive(Clone, Default)]
struct Hold {
    next: Arc<AtomicUsize>,
    released: Arc<AtomicBool>,
}

impl Hold {
    /// Whether this connection is to be held (counts it).
    fn take(&self) -> bool {
        self.next.fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1)).is_ok()
    }

    /// Waits until released (at most 60 s).
    fn wait(&self) {
        let started = Instant::now();
        while !self.released.load(Ordering::SeqCst) && started.elapsed() < Duration::from_secs(60) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

/// A WHOIS server on loopback (the configured root) that answers every query with a registration by
/// "Stall Registrar, Inc." — after holding the first [`Whois::hold_next`] queries until released.
struct Whois {
    addr: SocketAddr,
    queries: Arc<AtomicUsize>,
    hold: Hold,
}

impl Whois {
    fn start() -> Whois {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the WHOIS stand-in");
        let addr = listener.local_addr().expect("its address");
        let queries = Arc::new(AtomicUsize::new(0));
        let hold = Hold::default();
        let (count, h) = (queries.clone(), hold.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let (count, hold) = (count.clone(), h.clone());
                std::thread::spawn(move || {
                    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
                    let mut line = Vec::new();
                    let mut byte = [0u8; 1];
                    while !line.ends_with(b"\n") && line.len() < 1024 {
                        match stream.read(&mut byte) {
                            Ok(1) => line.push(byte[0]),
                            _ => return,
                        }
                    }
                    let query = String::from_utf8_lossy(&line).trim().to_ascii_uppercase();
                    count.fetch_add(1, Ordering::SeqCst);
                    if hold.take() {
                        hold.wait();
                    }
                    let answer = format!(
                        "   Domain Name: {query}\r\n   Registry Domain ID: 1_DOMAIN_COM-VRSN\r\n\
                         \x20  Creation Date: 2001-02-03T04:05:06Z\r\n   Registry Expiry Date: 2031-02-03T04:05:06Z\r\n\
                         \x20  Registrar: Stall Registrar, Inc.\r\n   Registrar IANA ID: 9999\r\n\
                         \x20  Name Server: NS1.EXAMPLE.NET\r\n   DNSSEC: unsigned\r\n\
                         >>> Last update of whois database: 2024-01-01T00:00:00Z <<<\r\n"
                    );
                    let _ = stream.write_all(answer.as_bytes());
                });
            }
        });
        Whois { addr, queries, hold }
    }

    fn hold_next(&self, n: usize) {
        self.hold.next.store(n, Ordering::SeqCst);
    }

    fn release(&self) {
        self.hold.released.store(true, Ordering::SeqCst);
    }

    /// Queries received so far (each one an execution of a run).
    fn queries(&self) -> usize {
        self.queries.load(Ordering::SeqCst)
    }
}

#[derive(Clone)]
struct Hook {
    /// The `webhook-id` header.
    id: String,
    body: Value,
}

/// A webhook receiver on loopback that records every request and answers 200 — except the first
/// [`Hooks::hold_next`] ones, held until released and then closed unanswered.
struct Hooks {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Hook>>>,
    hold: Hold,
}

impl Hooks {
    fn start() -> Hooks {
        let listener = TcpListener::bind("127.0.0.1:0").expect("binding the webhook receiver");
        let addr = listener.local_addr().expect("receiver address");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let hold = Hold::default();
        let (record, h) = (seen.clone(), hold.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (record, hold) = (record.clone(), h.clone());
                std::thread::spawn(move || receive(stream, &record, &hold));
            }
        });
        Hooks { addr, seen, hold }
    }

    fn url(&self) -> String {
        format!("http://{}/hook", self.addr)
    }

    fn hold_next(&self, n: usize) {
        self.hold.next.store(n, Ordering::SeqCst);
    }

    fn release(&self) {
        self.hold.released.store(true, Ordering::SeqCst);
    }

    fn seen(&self) -> Vec<Hook> {
        self.seen.lock().expect("webhooks").clone()
    }
}

/// Reads one request (headers and a Content-Length body), records it, and answers 200 (or holds it).
fn receive(mut stream: TcpStream, record: &Mutex<Vec<Hook>>, hold: &Hold) {
    let Some((head, body)) = common::read_request(&mut stream) else { return };
    let body = serde_json::from_slice(&body).unwrap_or(Value::Null);
    record
        .lock()
        .expect("webhooks")
        .push(Hook { id: common::header_in(&head, "webhook-id").unwrap_or_default(), body });
    if hold.take() {
        hold.wait();
        return;
    }
    let _ = stream
        .write_all(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok");
}
