//! The tool runner through the API: the catalogue, queueing (202, never run in the handler), reports,
//! validation, tenancy, and the worker taking a queued run to its end.

use axum::http::StatusCode;
use serde_json::{Value, json};

use tlink_server::jobs::worker::{Worker, WorkerConfig};
use tlink_tools::Toolbox;

use crate::support::{Auth, TestApp, loopback_config, random_id, s};

fn run(org: &str) -> String {
    format!("/api/orgs/{org}/tools/run")
}

fn reports(org: &str) -> String {
    format!("/api/orgs/{org}/tools/reports")
}

both!(the_catalogue_lists_every_tool_with_its_schema, catalogue_case);
async fn catalogue_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    app.get("/api/tools", &Auth::None).await.err(StatusCode::UNAUTHORIZED);
    let r = app.get("/api/tools", &alice.auth()).await;
    let tools = r.ok(StatusCode::OK).as_array().expect("a list").clone();
    let keys: Vec<&str> = tools.iter().map(|t| s(t, "key")).collect();
    assert_eq!(keys, ["dns", "whois", "ip-reputation", "email", "exposure", "ssl", "threat-feed"]);
    for t in &tools {
        assert!(!t["targetTypes"].as_array().expect("types").is_empty(), "{t}");
        let schema = &t["resultSchema"];
        assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema", "{t}");
        assert!(schema["title"].as_str().is_some_and(|s| s.ends_with("Result")), "{t}");
    }
    let dns = &tools[0];
    assert_eq!(dns["targetTypes"], json!(["DOMAIN", "URL", "EMAIL"]));
    // The OpenAPI document describes the same routes.
    let doc = app.get("/api/openapi.json", &Auth::None).await;
    for path in ["/api/tools", "/api/orgs/{orgId}/tools/run", "/api/orgs/{orgId}/tools/reports/{reportId}"] {
        assert!(doc.body["paths"].get(path).is_some(), "{path} missing from OpenAPI");
    }
    assert!(doc.body["paths"]["/api/orgs/{orgId}/tools/run"]["post"]["responses"].get("202").is_some());
}

both!(a_run_is_queued_and_reported, queued_case);
async fn queued_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let org = alice.org();
    let r = app.post(&run(org), &alice.auth(), json!({ "toolKey": "dns", "target": " Example.COM " })).await;
    let queued = r.ok(StatusCode::ACCEPTED);
    assert_eq!(queued["status"], "QUEUED");
    let id = s(queued, "reportId").to_string();

    // The handler did not run the tool: the report waits for a worker.
    let report = app.get(&format!("{}/{id}", reports(org)), &alice.auth()).await;
    let rep = report.ok(StatusCode::OK);
    assert_eq!((s(rep, "status"), s(rep, "toolKey"), s(rep, "target")), ("QUEUED", "dns", "example.com"));
    assert_eq!((s(rep, "targetType"), s(rep, "origin")), ("DOMAIN", "MANUAL"));
    assert_eq!(rep["requestedBy"], json!(alice.id));
    assert!(rep["startedAt"].is_null() && rep["result"].is_null(), "{rep}");

    // With an API key, linked to an asset (target taken from the asset).
    let key = app.api_key(&alice.auth(), "ci").await;
    let asset = app.asset(org, &alice.auth(), "IP", "8.8.8.8").await;
    let asset_id = s(&asset, "id");
    let r = app.post(&run(org), &Auth::key(&key), json!({ "toolKey": "whois", "assetId": asset_id })).await;
    let whois_id = s(r.ok(StatusCode::ACCEPTED), "reportId").to_string();
    let rep = app.get(&format!("{}/{whois_id}", reports(org)), &alice.auth()).await;
    assert_eq!(rep.ok(StatusCode::OK)["assetId"], json!(asset_id));
    assert_eq!(s(rep.data(), "target"), "8.8.8.8");

    // Lists, newest first, with filters.
    let all = app.get(&reports(org), &alice.auth()).await;
    all.ok(StatusCode::OK);
    assert_eq!(all.ids(), vec![whois_id.clone(), id.clone()]);
    assert!(all.items().iter().all(|i| i.get("result").is_none()), "lists carry no results");
    let dns_only = app.get(&format!("{}?toolKey=dns", reports(org)), &alice.auth()).await;
    assert_eq!(dns_only.ids(), vec![id.clone()]);
    let by_asset = app.get(&format!("{}?assetId={asset_id}", reports(org)), &alice.auth()).await;
    assert_eq!(by_asset.ids(), vec![whois_id.clone()]);
    let queued = app.get(&format!("{}?status=QUEUED&limit=1", reports(org)), &alice.auth()).await;
    assert_eq!(queued.ids(), vec![whois_id.clone()]);
    let token = queued.next_token().expect("a second page");
    let next = app.get(&format!("{}?status=QUEUED&limit=1&token={token}", reports(org)), &alice.auth()).await;
    assert_eq!(next.ids(), vec![id.clone()]);
    assert!(next.next_token().is_none());
    let done = app.get(&format!("{}?status=COMPLETED", reports(org)), &alice.auth()).await;
    assert!(done.ids().is_empty());
}

both!(bad_runs_are_refused_with_the_field_named, validation_case);
async fn validation_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let bob = app.user("bob@example.com", Some("Org B")).await;
    let org = alice.org();
    let (path, auth) = (run(org), alice.auth());
    let post = |body: Value| app.post(&path, &auth, body);
    post(json!({ "toolKey": "nmap", "target": "example.com" })).await.invalid("toolKey");
    post(json!({ "toolKey": "dns" })).await.invalid("target");
    let r = post(json!({ "toolKey": "dns", "target": "1.2.3.4" })).await;
    r.invalid("target");
    assert!(r.body["errors"][0]["message"].as_str().expect("message").contains("DOMAIN"), "{}", r.text);
    post(json!({ "toolKey": "ip-reputation", "target": "not a target" })).await.invalid("target");
    post(json!({ "toolKey": "dns", "target": "example.com", "assetId": "nope" })).await.invalid("assetId");
    post(json!({ "toolKey": "dns", "target": "example.com", "extra": 1 })).await.rejects("extra");
    post(json!({ "toolKey": "dns", "target": "example.com", "options": { "ports": "22" } }))
        .await
        .invalid("options.ports");
    post(json!({ "toolKey": "exposure", "target": "1.1.1.1", "options": { "ports": "22-x" } }))
        .await
        .invalid("options.ports");
    post(json!({ "toolKey": "ssl", "target": "example.com", "options": { "port": 0 } })).await.invalid("options.port");
    post(json!({ "toolKey": "ssl", "target": "example.com:0" })).await.invalid("target");

    // Another org's asset is unknown here; an asset of the wrong type for the tool is refused.
    let bobs = app.asset(bob.org(), &bob.auth(), "DOMAIN", "bob.example").await;
    post(json!({ "toolKey": "dns", "assetId": s(&bobs, "id") })).await.invalid("assetId");
    post(json!({ "toolKey": "dns", "assetId": random_id() })).await.invalid("assetId");
    let hash = app.asset(org, &alice.auth(), "HASH", &"a".repeat(64)).await;
    post(json!({ "toolKey": "ssl", "assetId": s(&hash, "id") })).await.invalid("assetId");
    let domain = app.asset(org, &alice.auth(), "DOMAIN", "example.com").await;
    post(json!({ "toolKey": "dns", "assetId": s(&domain, "id"), "target": "other.example" })).await.invalid("target");

    // Nothing was queued by any of these.
    let list = app.get(&reports(org), &alice.auth()).await;
    assert!(list.ids().is_empty(), "{}", list.text);
    assert_eq!(app.state.store.queue_counts().await.expect("counts").queued, 0);

    // Viewers read but cannot run.
    let viewer = app.member(org, &alice, "viewer@example.com", "VIEWER").await;
    app.post(&run(org), &viewer.auth(), json!({ "toolKey": "dns", "target": "example.com" }))
        .await
        .err(StatusCode::FORBIDDEN);
    app.get(&reports(org), &viewer.auth()).await.ok(StatusCode::OK);
}

both!(reports_of_another_org_are_invisible, tenancy_case);
async fn tenancy_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let bob = app.user("bob@example.com", Some("Org B")).await;
    let r = app.post(&run(alice.org()), &alice.auth(), json!({ "toolKey": "dns", "target": "example.com" })).await;
    let id = s(r.ok(StatusCode::ACCEPTED), "reportId").to_string();
    app.get(&format!("{}/{id}", reports(bob.org())), &bob.auth()).await.err(StatusCode::NOT_FOUND);
    app.get(&format!("{}/{id}", reports(alice.org())), &bob.auth()).await.err(StatusCode::NOT_FOUND);
    assert!(app.get(&reports(bob.org()), &bob.auth()).await.ids().is_empty());
    app.get(&format!("{}/not-a-uuid", reports(alice.org())), &alice.auth()).await.invalid("reportId");
}

both!(a_refused_target_fails_at_once_without_retries, refused_case);
async fn refused_case(app: TestApp) {
    // The default egress policy refuses loopback targets: the run FAILS with the reason, not retried.
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let org = alice.org();
    let used = |v: &serde_json::Value| v["toolRunsUsed"].as_u64().expect("toolRunsUsed");
    let usage = format!("/api/orgs/{org}/usage");
    let before = used(app.get(&usage, &alice.auth()).await.ok(StatusCode::OK));
    let r = app.post(&run(org), &alice.auth(), json!({ "toolKey": "ssl", "target": "127.0.0.1:9" })).await;
    let id = s(r.ok(StatusCode::ACCEPTED), "reportId").to_string();
    // Counted when queued (the quota is reserved with the report) ...
    assert_eq!(used(app.get(&usage, &alice.auth()).await.ok(StatusCode::OK)), before + 1);
    assert_eq!(app.state.worker().run_until_idle().await, 1);
    // ... and taken off again: a run the egress policy refused never reached the network.
    assert_eq!(used(app.get(&usage, &alice.auth()).await.ok(StatusCode::OK)), before);
    let rep = app.get(&format!("{}/{id}", reports(org)), &alice.auth()).await;
    let rep = rep.ok(StatusCode::OK);
    assert_eq!(s(rep, "status"), "FAILED", "{rep}");
    assert_eq!(rep["attempts"], 1);
    assert!(s(rep, "error").contains("127.0.0.1 is a loopback address"), "{rep}");
    assert!(rep["startedAt"].is_string() && rep["finishedAt"].is_string() && rep["durationMs"].is_number());
    assert_eq!(app.state.store.queue_counts().await.expect("counts").failed, 1);
}

const ZONE: &str = r#"
$TTL 300
@    IN SOA ns1.example.test. hostmaster.example.test. 1 7200 900 1209600 300
@    IN NS  ns1.example.test.
@    IN A   192.0.2.10
@    IN MX  10 mx1.example.test.
@    IN TXT "v=spf1 -all"
ns1  IN A   192.0.2.53
"#;

/// A worker of `app` whose tools resolve through `dns`, with the given tweaks.
fn worker_for(app: &TestApp, dns: &crate::dnsserver::TestDns, tweak: impl FnOnce(&mut WorkerConfig)) -> Worker {
    let mut cfg = WorkerConfig { poll_interval_ms: 20, reap_interval_secs: 1, ..WorkerConfig::default() };
    tweak(&mut cfg);
    let toolbox = Toolbox::new(dns.config()).expect("toolbox");
    Worker::new(app.state.store.clone(), toolbox, cfg, app.state.wake.clone(), Some(app.state.alerting.clone()))
}

/// Polls the report until `done` says so, for at most 20 seconds.
async fn wait_for(app: &TestApp, org: &str, id: &str, auth: &Auth, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let r = app.get(&format!("{}/{id}", reports(org)), auth).await;
        let rep = r.ok(StatusCode::OK).clone();
        if done(&rep) {
            return rep;
        }
        assert!(tokio::time::Instant::now() < deadline, "report never reached the expected state: {rep}");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

both!(a_worker_runs_the_dns_tool_to_completion, dns_e2e_case);
async fn dns_e2e_case(app: TestApp) {
    let dns = crate::dnsserver::start("example.test.", ZONE).await;
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let org = alice.org();
    let bob = app.user("bob@example.com", Some("Org B")).await;
    let worker = worker_for(&app, &dns, |_| {});

    let r = app.post(&run(org), &alice.auth(), json!({ "toolKey": "dns", "target": "example.test" })).await;
    let id = s(r.ok(StatusCode::ACCEPTED), "reportId").to_string();
    // `wait` holds the request until the run has finished (20 s at most here). It waits before any worker
    // runs, so the worker hands it the report it records.
    app.get(&format!("{}/{id}?wait=31", reports(org)), &alice.auth()).await.invalid("wait");
    let (wait_url, alice_auth) = (format!("{}/{id}?wait=20", reports(org)), alice.auth());
    let (waited, (stop, running)) = tokio::join!(app.get(&wait_url, &alice_auth), async {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        // Another org waiting on the same id learns nothing, at once.
        app.get(&format!("{}/{id}?wait=20", reports(bob.org())), &bob.auth()).await.err(StatusCode::NOT_FOUND);
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let running = tokio::spawn(worker.run(async move {
            let _ = stopped.await;
        }));
        (stop, running)
    });
    let rep = waited.ok(StatusCode::OK).clone();
    assert_eq!(s(&rep, "status"), "COMPLETED", "{rep}");
    // The report handed to the waiting request is the one stored, field for field.
    let stored = app.get(&format!("{}/{id}", reports(org)), &alice.auth()).await.ok(StatusCode::OK).clone();
    assert_eq!(rep, stored);
    assert_eq!(rep["result"]["a"], json!(["192.0.2.10"]), "{rep}");
    assert_eq!(rep["result"]["mx"], json!(["mx1.example.test"]), "{rep}");
    assert_eq!(rep["result"]["records"]["mx"][0]["preference"], 10, "{rep}");
    assert_eq!(rep["result"]["records"]["a"][0]["ttl"], 300, "{rep}");
    assert!(rep["error"].is_null() && rep["durationMs"].as_i64().is_some_and(|d| d >= 0), "{rep}");
    assert!(app.state.store.get_job(&id).await.expect("job").is_none(), "the finished job is gone");

    let _ = stop.send(());
    running.await.expect("worker stops cleanly");
}

both!(a_failing_run_is_retried_then_fails_with_the_reason, retry_case);
async fn retry_case(app: TestApp) {
    let silent = crate::dnsserver::silent_resolver().await;
    let mut cfg = loopback_config();
    cfg.resolvers = vec![silent.local_addr().expect("addr").to_string()];
    cfg.dns_timeout_ms = 100;
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let org = alice.org();
    let toolbox = Toolbox::new(cfg).expect("toolbox");
    let wcfg = WorkerConfig { max_attempts: 2, ..WorkerConfig::default() };
    let worker =
        Worker::new(app.state.store.clone(), toolbox, wcfg, app.state.wake.clone(), Some(app.state.alerting.clone()));

    // The API's own max_attempts applies to the report's job; use 2 here.
    let r = app.post(&run(org), &alice.auth(), json!({ "toolKey": "dns", "target": "example.test" })).await;
    let id = s(r.ok(StatusCode::ACCEPTED), "reportId").to_string();
    app.state.store.db().execute("UPDATE jobs SET max_attempts = 2", &[]).await.expect("max attempts");
    assert_eq!(worker.run_until_idle().await, 1);
    let rep = app.get(&format!("{}/{id}", reports(org)), &alice.auth()).await;
    let rep = rep.ok(StatusCode::OK);
    assert_eq!((s(rep, "status"), &rep["attempts"]), ("QUEUED", &json!(1)), "{rep}");
    assert!(s(rep, "error").contains("did not answer"), "the last error is shown while retrying: {rep}");
    let job = app.state.store.get_job(&id).await.expect("job").expect("kept for the retry");
    assert!(job.run_at > tlink_store::now_millis(), "the retry waits for its backoff");
    assert_eq!(worker.run_until_idle().await, 0, "not due yet");

    app.state.store.db().execute("UPDATE jobs SET run_at = 0", &[]).await.expect("due now");
    assert_eq!(worker.run_until_idle().await, 1);
    let rep = app.get(&format!("{}/{id}", reports(org)), &alice.auth()).await;
    let rep = rep.ok(StatusCode::OK);
    assert_eq!((s(rep, "status"), &rep["attempts"]), ("FAILED", &json!(2)), "{rep}");
    assert!(s(rep, "error").contains("gave up after 2 attempts"), "{rep}");
}

both!(a_job_whose_worker_died_runs_again, crash_case);
async fn crash_case(app: TestApp) {
    let dns = crate::dnsserver::start("example.test.", ZONE).await;
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let org = alice.org();
    let r = app.post(&run(org), &alice.auth(), json!({ "toolKey": "dns", "target": "example.test" })).await;
    let id = s(r.ok(StatusCode::ACCEPTED), "reportId").to_string();
    // A worker claims the job and dies at once: its lease is already over and it never finishes.
    let claimed = app.state.store.claim_jobs("dead-worker", 10, -1).await.expect("claim");
    assert_eq!(claimed.len(), 1);

    let worker = worker_for(&app, &dns, |_| {});
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(worker.run(async move {
        let _ = stopped.await;
    }));
    let rep = wait_for(&app, org, &id, &alice.auth(), |r| r["status"] == "COMPLETED").await;
    assert_eq!(rep["attempts"], 2, "the dead worker's attempt counts: {rep}");
    assert_eq!(rep["result"]["a"], json!(["192.0.2.10"]));
    let _ = stop.send(());
    running.await.expect("worker stops cleanly");
}

both!(shutdown_gives_unfinished_jobs_back, shutdown_case);
async fn shutdown_case(app: TestApp) {
    // A resolver that never answers keeps the run busy past the shutdown grace period.
    let silent = crate::dnsserver::silent_resolver().await;
    let mut cfg = loopback_config();
    cfg.resolvers = vec![silent.local_addr().expect("addr").to_string()];
    cfg.dns_timeout_ms = 5_000;
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let org = alice.org();
    let wcfg = WorkerConfig { shutdown_grace_secs: 0, poll_interval_ms: 20, ..WorkerConfig::default() };
    let worker = Worker::new(
        app.state.store.clone(),
        Toolbox::new(cfg).expect("toolbox"),
        wcfg,
        app.state.wake.clone(),
        Some(app.state.alerting.clone()),
    );
    let r = app.post(&run(org), &alice.auth(), json!({ "toolKey": "dns", "target": "example.test" })).await;
    let id = s(r.ok(StatusCode::ACCEPTED), "reportId").to_string();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(worker.run(async move {
        let _ = stopped.await;
    }));
    wait_for(&app, org, &id, &alice.auth(), |r| r["status"] == "RUNNING").await;
    let _ = stop.send(());
    running.await.expect("worker stops");
    let rep = app.get(&format!("{}/{id}", reports(org)), &alice.auth()).await;
    assert_eq!(s(rep.ok(StatusCode::OK), "status"), "QUEUED", "{}", rep.text);
    let job = app.state.store.get_job(&id).await.expect("job").expect("back in the queue");
    assert_eq!((job.status.as_str(), job.attempts, job.locked_by), ("queued", 0, None));
}

/// Two processes on one PostgreSQL database. The API of one queues a run; the worker of the other, which
/// would poll only once an hour, starts it at once because the queue announces new jobs, and the finished
/// report is announced with its id (what wakes a waiting request in the API process).
#[tokio::test]
async fn a_worker_in_another_process_is_woken_by_the_queue() {
    let Some(app) = TestApp::postgres(|_| {}).await else { return };
    let dns = crate::dnsserver::start("example.test.", ZONE).await;
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let org = alice.org();
    let mut events = app.state.store.queue_events().await.expect("listening").expect("PostgreSQL listens");

    // The other process: the same database, its own wake-ups, no polling to speak of.
    let wake = tlink_server::jobs::worker::Wake::default();
    let cfg = WorkerConfig { poll_interval_ms: 3_600_000, ..WorkerConfig::default() };
    let toolbox = Toolbox::new(dns.config()).expect("toolbox");
    let worker = Worker::new(app.state.store.clone(), toolbox, cfg, wake.clone(), Some(app.state.alerting.clone()));
    let following = tokio::spawn(wake.follow(app.state.store.clone()));
    let api_following = tokio::spawn(app.state.wake.clone().follow(app.state.store.clone()));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(worker.run(async move {
        let _ = stopped.await;
    }));
    // Let the worker make its first (empty) claim and go to sleep; only a notification wakes it now.
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;

    let r = app.post(&run(org), &alice.auth(), json!({ "toolKey": "dns", "target": "example.test" })).await;
    let id = s(r.ok(StatusCode::ACCEPTED), "reportId").to_string();
    let rep = app.get(&format!("{}/{id}?wait=20", reports(org)), &alice.auth()).await.ok(StatusCode::OK).clone();
    assert_eq!(s(&rep, "status"), "COMPLETED", "{rep}");

    // Notification channels span the database, so other tests' (in other schemas) may come in between:
    // what matters is that jobs were announced before this report's end.
    let mut seen = Vec::new();
    loop {
        let next = tokio::time::timeout(std::time::Duration::from_secs(10), events.next()).await;
        match next.expect("a notification").expect("the listener is open") {
            tlink_store::QueueEvent::ReportFinished(done) if done == id => break,
            event => seen.push(event),
        }
    }
    assert!(seen.contains(&tlink_store::QueueEvent::JobsQueued), "{seen:?}");

    let _ = stop.send(());
    running.await.expect("worker stops cleanly");
    following.abort();
    api_following.abort();
}
