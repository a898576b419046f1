//! Monitoring, alert rules, alerts and notifications, end to end: a monitored IP scanned by the scheduler, an
//! AbuseIPDB stand-in, a rule that fires, a webhook received and verified by an independent Standard Webhooks
//! implementation, and an e-mail received by a real SMTP server on loopback.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use hmac::{Hmac, Mac};
use parking_lot::Mutex;
use serde_json::{Value, json};
use sha2::Sha256;
use tlink_server::jobs::alerting::Alerting;
use tlink_server::jobs::worker::{Worker, WorkerConfig};
use tlink_tools::{ToolKey, Toolbox};

use crate::support::{TestApp, loopback_config, s};

pub(crate) const ABUSEIPDB_KEY: &str = "abuseipdb-key-for-tests";
pub(crate) const IP: &str = "192.0.2.77";

/// An AbuseIPDB `check` stand-in whose score the test sets.
pub(crate) struct AbuseIpdb {
    pub(crate) base_url: String,
    score: Arc<AtomicI64>,
}

/// Started on loopback with a score of 92 (also used by the browser journeys).
pub(crate) async fn abuseipdb() -> AbuseIpdb {
    let score = Arc::new(AtomicI64::new(92));
    let app = Router::new()
        .route(
            "/api/v2/check",
            get(|State(score): State<Arc<AtomicI64>>, headers: HeaderMap| async move {
                if headers.get("key").and_then(|v| v.to_str().ok()) != Some(ABUSEIPDB_KEY) {
                    return (StatusCode::UNAUTHORIZED, axum::Json(json!({"errors": [{"detail": "bad key"}]})))
                        .into_response();
                }
                axum::Json(json!({"data": {
                    "ipAddress": IP, "isPublic": true, "ipVersion": 4, "isWhitelisted": false,
                    "abuseConfidenceScore": score.load(Ordering::SeqCst), "countryCode": "NL",
                    "usageType": "Data Center/Web Hosting/Transit", "isp": "Example Hosting", "domain": "hosting.example",
                    "hostnames": [], "isTor": false, "totalReports": 12, "numDistinctUsers": 3,
                    "lastReportedAt": "2026-11-20T10:00:00+00:00"
                }}))
                .into_response()
            }),
        )
        .with_state(score.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    AbuseIpdb { base_url: format!("http://{addr}/api/v2"), score }
}

/// A scripted answer: status, `Retry-After`, and how long to wait before answering (ms).
type Answer = (u16, Option<&'static str>, u64);

/// A webhook receiver that records every request and answers with the scripted statuses (then 200).
#[derive(Clone, Default)]
struct Receiver {
    seen: Arc<Mutex<Vec<(HeaderMap, Bytes)>>>,
    script: Arc<Mutex<Vec<Answer>>>,
    hits: Arc<AtomicUsize>,
}

impl Receiver {
    async fn start(&self) -> String {
        let me = self.clone();
        let app = Router::new().route(
            "/hook",
            post(|State(me): State<Receiver>, headers: HeaderMap, body: Bytes| async move {
                me.hits.fetch_add(1, Ordering::SeqCst);
                let next = {
                    let mut script = me.script.lock();
                    if script.is_empty() { (200, None, 0) } else { script.remove(0) }
                };
                if next.2 > 0 {
                    tokio::time::sleep(Duration::from_millis(next.2)).await;
                }
                me.seen.lock().push((headers, body));
                let mut resp = (StatusCode::from_u16(next.0).expect("status"), "receiver says hi").into_response();
                if let Some(ra) = next.1 {
                    resp.headers_mut().insert("retry-after", ra.parse().expect("header"));
                }
                resp
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app.with_state(me)).await;
        });
        format!("http://{addr}/hook")
    }
}

/// A worker whose tools reach the stand-in, and whose alerting sends through `smtp_port` (if any).
pub(crate) fn worker_for(
    app: &TestApp,
    provider: &AbuseIpdb,
    smtp_port: Option<u16>,
    webhook_timeout: Duration,
) -> Worker {
    let mut tools = loopback_config();
    tools.abuseipdb.base_url = provider.base_url.clone();
    tools.abuseipdb.api_key = ABUSEIPDB_KEY.into();
    let toolbox = Toolbox::new(tools).expect("toolbox");
    let mailer = smtp_port.map(|port| {
        let cfg = tlink_tools::notify::SmtpConfig {
            host: "127.0.0.1".into(),
            port,
            security: tlink_tools::notify::SmtpSecurity::None,
            from: "tlink <alerts@example.com>".into(),
            timeout_secs: 5,
            ..Default::default()
        };
        tlink_tools::notify::Mailer::from_config(&cfg).expect("mailer").expect("configured")
    });
    let sealer = app.state.alerting.sealer().clone();
    let alerting = Alerting::new(app.state.store.clone(), &toolbox, sealer, mailer, webhook_timeout).expect("alerting");
    let cfg = WorkerConfig { poll_interval_ms: 20, ..WorkerConfig::default() };
    Worker::new(app.state.store.clone(), toolbox, cfg, app.state.wake.clone(), Some(Arc::new(alerting)))
}

/// Test apps scan IPs with ip-reputation only (no port scan, no WHOIS to the internet), first scan at once.
fn monitoring(c: &mut tlink_server::Config) {
    c.tools = loopback_config();
    c.monitoring.first_scan_within_secs = 0;
    c.monitoring.min_interval_minutes = 1;
    c.monitoring.tools.insert(tlink_domain::AssetType::Ip, vec![ToolKey::IpReputation]);
}

fn hmac_hex(key: &[u8], body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key).expect("key");
    mac.update(body);
    mac.finalize().into_bytes().iter().map(|b| format!("{b:02x}")).collect()
}

/// Makes every queued job due now (retries are scheduled minutes ahead).
async fn make_due(app: &TestApp) {
    app.state.store.db().execute("UPDATE jobs SET run_at = 0 WHERE status = 'queued'", &[]).await.expect("due");
}

/// Makes every monitored asset due, then runs one scheduler tick.
async fn scan(app: &TestApp) -> usize {
    let sql = "UPDATE assets SET next_scan_at = 1 WHERE next_scan_at IS NOT NULL";
    app.state.store.db().execute(sql, &[]).await.expect("due");
    app.state.scheduler().tick(tlink_store::now_millis()).await.expect("tick")
}

both!(a_monitored_ip_fires_one_alert_with_a_signed_webhook_and_an_email, fire_case, monitoring);
async fn fire_case(app: TestApp) {
    let provider = abuseipdb().await;
    let receiver = Receiver::default();
    let url = receiver.start().await;
    let smtp = crate::smtpsink::SmtpSink::start();
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let org = alice.org().to_string();
    let worker = worker_for(&app, &provider, smtp.as_ref().map(|s| s.port), Duration::from_secs(5));

    let asset = app
        .post(
            &format!("/api/orgs/{org}/assets"),
            &alice.auth(),
            json!({"type": "IP", "value": IP, "isMonitored": true, "monitorIntervalMinutes": 60}),
        )
        .await;
    let asset = asset.ok(StatusCode::CREATED).clone();
    let asset_id = s(&asset, "id").to_string();
    assert!(asset["nextScanAt"].is_string() && asset["lastScannedAt"].is_null(), "{asset}");

    let rule = app
        .post(
            &format!("/api/orgs/{org}/alert-rules"),
            &alice.auth(),
            json!({
                "name": "High abuse score",
                "condition": {"tool": "ip-reputation", "field": "abuseipdb.abuseConfidenceScore", "operator": "gte", "value": 75},
                "severity": "HIGH", "notifyEmail": true, "notifyWebhook": true, "webhookUrl": url
            }),
        )
        .await;
    let rule = rule.ok(StatusCode::CREATED).clone();
    let secret = s(&rule, "webhookSecret").to_string();
    assert!(secret.starts_with("whsec_"), "{rule}");
    let rule_id = s(&rule, "id").to_string();
    // The secret is shown once.
    let again = app.get(&format!("/api/orgs/{org}/alert-rules/{rule_id}"), &alice.auth()).await;
    assert!(again.ok(StatusCode::OK).get("webhookSecret").is_none());
    let changed = app
        .post(
            &format!("/api/orgs/{org}/alert-rules"),
            &alice.auth(),
            json!({"name": "Score moved", "condition": {"tool": "ip-reputation", "field": "abuseipdb.abuseConfidenceScore", "operator": "changed"}, "severity": "LOW"}),
        )
        .await;
    let changed_id = s(changed.ok(StatusCode::CREATED), "id").to_string();

    // The scheduler queues the scan once; a second tick finds nothing due.
    assert_eq!(scan(&app).await, 1);
    assert_eq!(app.state.scheduler().tick(tlink_store::now_millis()).await.expect("tick"), 0);
    // The scan, the alert's webhook and its e-mail.
    assert_eq!(worker.run_until_idle().await, 3);

    let alerts = app.get(&format!("/api/orgs/{org}/alerts?status=OPEN&severity=HIGH"), &alice.auth()).await;
    let items = alerts.items().clone();
    assert_eq!(items.len(), 1, "{items:?}");
    let alert = &items[0];
    assert_eq!(s(alert, "message"), "abuseipdb.abuseConfidenceScore ≥ 75 (actual: 92)");
    assert_eq!((s(alert, "ruleId"), s(alert, "assetId")), (rule_id.as_str(), asset_id.as_str()));
    assert_eq!((alert["actual"].clone(), alert["occurrences"].clone()), (json!(92), json!(1)));
    let alert_id = s(alert, "id").to_string();

    // One webhook, with the seed's payload, verifiable both ways.
    let seen = receiver.seen.lock().clone();
    assert_eq!(seen.len(), 1);
    let (headers, body) = &seen[0];
    let payload: Value = serde_json::from_slice(body).expect("JSON body");
    assert_eq!(payload["event"], "alert.fired");
    assert_eq!((s(&payload, "alertId"), s(&payload, "ruleId")), (alert_id.as_str(), rule_id.as_str()));
    assert_eq!((s(&payload, "ruleName"), s(&payload, "severity")), ("High abuse score", "HIGH"));
    assert_eq!(payload["asset"], json!({"id": asset_id, "type": "IP", "value": IP}));
    assert_eq!(s(&payload, "message"), "abuseipdb.abuseConfidenceScore ≥ 75 (actual: 92)");
    assert!(s(&payload, "triggeredAt").ends_with('Z'));
    let header = |n: &str| headers.get(n).and_then(|v| v.to_str().ok()).unwrap_or_default().to_string();
    assert_eq!(header("x-tlink-signature"), hmac_hex(secret.as_bytes(), body));
    let wh = standardwebhooks::Webhook::new(&secret).expect("secret");
    wh.verify(body, headers).expect("Standard Webhooks signature verifies");
    let mut tampered = body.to_vec();
    tampered[10] ^= 1;
    assert!(wh.verify(&tampered, headers).is_err());

    // One e-mail, with both parts.
    if let Some(smtp) = &smtp {
        let out = smtp.wait_for_messages(1).await;
        assert!(out.contains("ENVELOPE TO: alice@example.com"), "{out}");
        assert!(out.contains("[tlink] HIGH alert: High abuse score on 192.0.2.77"), "{out}");
        assert!(out.contains("text/plain") && out.contains("text/html"), "{out}");
    }
    let deliveries = app.get(&format!("/api/orgs/{org}/alerts/{alert_id}/deliveries"), &alice.auth()).await;
    let deliveries = deliveries.items().clone();
    assert_eq!(deliveries.len(), 2, "{deliveries:?}");
    // The rule's page lists the same deliveries (of all its alerts), newest first; another org sees none.
    let org_id = tlink_domain::OrgId::parse(&org).expect("org id");
    let rule = tlink_domain::RuleId::parse(&rule_id).expect("rule id");
    let by_rule = app.state.store.rule_deliveries(&org_id, &rule, 10).await.expect("rule deliveries");
    let mut ids: Vec<String> = by_rule.iter().map(|d| d.id.to_string()).collect();
    let mut expected: Vec<String> = deliveries.iter().map(|d| s(d, "id").to_string()).collect();
    ids.sort();
    expected.sort();
    assert_eq!(ids, expected);
    let other = tlink_domain::OrgId::new();
    assert!(app.state.store.rule_deliveries(&other, &rule, 10).await.expect("none").is_empty());
    let webhook = deliveries.iter().find(|d| d["channel"] == "WEBHOOK").expect("webhook delivery");
    assert_eq!((s(webhook, "status"), webhook["attempts"].clone()), ("DELIVERED", json!(1)));
    assert_eq!(s(webhook, "id"), header("webhook-id"));
    assert_eq!(webhook["attemptLog"][0]["statusCode"], 200);
    assert_eq!(webhook["attemptLog"][0]["responseExcerpt"], "receiver says hi");
    let email = deliveries.iter().find(|d| d["channel"] == "EMAIL").expect("email delivery");
    assert_eq!(email["target"], json!(["alice@example.com"]));
    let want = if smtp.is_some() { "DELIVERED" } else { "NOT_SENT" };
    assert_eq!(s(email, "status"), want, "{email}");

    // The asset shows the result and its schedule.
    let detail = app.get(&format!("/api/orgs/{org}/assets/{asset_id}"), &alice.auth()).await;
    let detail = detail.ok(StatusCode::OK).clone();
    assert_eq!(detail["latestResults"]["ip-reputation"]["result"]["abuseipdb"]["abuseConfidenceScore"], 92);
    assert!(detail["lastScannedAt"].is_string() && detail["nextScanAt"].is_string(), "{detail}");

    // Scan 2, same score: the open alert counts it, no second alert or webhook; `changed` stays quiet.
    assert_eq!(scan(&app).await, 1);
    assert_eq!(worker.run_until_idle().await, 1);
    let alerts = app.get(&format!("/api/orgs/{org}/alerts"), &alice.auth()).await;
    assert_eq!(alerts.items().len(), 1);
    assert_eq!(alerts.items()[0]["occurrences"], 2);
    assert_eq!(receiver.hits.load(Ordering::SeqCst), 1);

    // Scan 3, score 40: below the threshold, but changed.
    provider.score.store(40, Ordering::SeqCst);
    let now = app.post(&format!("/api/orgs/{org}/assets/{asset_id}/monitor-now"), &alice.auth(), json!({})).await;
    let now = now.ok(StatusCode::ACCEPTED).clone();
    assert_eq!(now["tools"], json!(["ip-reputation"]));
    assert_eq!(worker.run_until_idle().await, 1);
    let moved = app.get(&format!("/api/orgs/{org}/alerts?ruleId={changed_id}"), &alice.auth()).await;
    let moved = moved.items().clone();
    assert_eq!(moved.len(), 1, "{moved:?}");
    assert_eq!(s(&moved[0], "message"), "abuseipdb.abuseConfidenceScore changed (was: 92, now: 40)");
    assert_eq!(s(&moved[0], "severity"), "LOW");

    // The lifecycle.
    let path = format!("/api/orgs/{org}/alerts/{alert_id}");
    let r = app.patch(&path, &alice.auth(), json!({"status": "ACKNOWLEDGED", "note": "looking"})).await;
    assert_eq!(s(r.ok(StatusCode::OK), "status"), "ACKNOWLEDGED");
    let r = app.patch(&path, &alice.auth(), json!({"status": "ACKNOWLEDGED"})).await;
    r.err(StatusCode::CONFLICT);
    assert!(r.message().contains("from ACKNOWLEDGED it can go to RESOLVED"), "{}", r.message());
    let r = app.patch(&path, &alice.auth(), json!({"status": "RESOLVED"})).await;
    let resolved = r.ok(StatusCode::OK).clone();
    assert_eq!(s(&resolved, "statusChangedBy"), alice.id);
    assert_eq!(resolved["history"].as_array().map(Vec::len), Some(2));
    assert_eq!(resolved["history"][0]["note"], "looking");
    assert_eq!(resolved["report"]["result"]["abuseipdb"]["abuseConfidenceScore"], 92);
    assert_eq!(resolved["rule"]["condition"]["operator"], "gte");
    app.patch(&path, &alice.auth(), json!({"status": "ACKNOWLEDGED"})).await.err(StatusCode::CONFLICT);
    app.patch(&path, &alice.auth(), json!({"status": "CLOSED"})).await.invalid("status");
    let r = app.patch(&path, &alice.auth(), json!({"status": "OPEN"})).await;
    assert_eq!(s(r.ok(StatusCode::OK), "status"), "OPEN");

    // Another tenant sees none of it.
    let bob = app.user("bob@example.com", Some("Org B")).await;
    app.get(&format!("/api/orgs/{org}/alerts/{alert_id}"), &bob.auth()).await.err(StatusCode::NOT_FOUND);
    let bob_org = bob.org();
    app.get(&format!("/api/orgs/{bob_org}/alerts/{alert_id}"), &bob.auth()).await.err(StatusCode::NOT_FOUND);
    app.get(&format!("/api/orgs/{bob_org}/alert-rules/{rule_id}"), &bob.auth()).await.err(StatusCode::NOT_FOUND);
    let r = app
        .post(&format!("/api/orgs/{bob_org}/deliveries/{}/redeliver", s(webhook, "id")), &bob.auth(), json!({}))
        .await;
    r.err(StatusCode::NOT_FOUND);
}

both!(webhooks_are_retried_recorded_disabled_on_410_and_redelivered, retry_case, monitoring);
async fn retry_case(app: TestApp) {
    let provider = abuseipdb().await;
    let receiver = Receiver::default();
    let url = receiver.start().await;
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let org = alice.org().to_string();
    let worker = worker_for(&app, &provider, None, Duration::from_millis(300));
    app.post(
        &format!("/api/orgs/{org}/assets"),
        &alice.auth(),
        json!({"type": "IP", "value": IP, "isMonitored": true}),
    )
    .await
    .ok(StatusCode::CREATED);
    let rule = app
        .post(
            &format!("/api/orgs/{org}/alert-rules"),
            &alice.auth(),
            json!({"name": "abuse", "condition": {"tool": "ip-reputation", "field": "abuseipdb.abuseConfidenceScore", "operator": "gt", "value": 50},
                   "severity": "CRITICAL", "notifyWebhook": true, "webhookUrl": url}),
        )
        .await;
    let rule_id = s(rule.ok(StatusCode::CREATED), "id").to_string();

    // 500, then a timeout, then 429 with Retry-After, then 200.
    *receiver.script.lock() = vec![(500, None, 0), (200, None, 1_000), (429, Some("7"), 0)];
    assert_eq!(scan(&app).await, 1);
    assert_eq!(worker.run_until_idle().await, 2);
    for _ in 0..3 {
        make_due(&app).await;
        assert_eq!(worker.run_until_idle().await, 1);
    }
    let alerts = app.get(&format!("/api/orgs/{org}/alerts"), &alice.auth()).await;
    let alert_id = s(&alerts.items()[0], "id").to_string();
    let d = app.get(&format!("/api/orgs/{org}/alerts/{alert_id}/deliveries"), &alice.auth()).await;
    let d = d.items()[0].clone();
    assert_eq!((s(&d, "status"), d["attempts"].clone()), ("DELIVERED", json!(4)), "{d}");
    let log = d["attemptLog"].as_array().expect("attempts").clone();
    let outcomes: Vec<&str> = log.iter().map(|a| s(a, "outcome")).collect();
    assert_eq!(outcomes, ["RETRY", "RETRY", "RETRY", "DELIVERED"], "{log:?}");
    assert_eq!(
        (log[0]["statusCode"].clone(), log[0]["responseExcerpt"].clone()),
        (json!(500), json!("receiver says hi"))
    );
    assert!(log[1]["statusCode"].is_null() && s(&log[1], "error").contains("no answer within 300ms"), "{}", log[1]);
    assert_eq!(log[2]["statusCode"], 429);
    assert_eq!(log.iter().map(|a| a["attempt"].as_i64().unwrap_or(0)).collect::<Vec<_>>(), [1, 2, 3, 4]);
    // Every attempt carried the same webhook-id.
    let ids: Vec<String> = receiver
        .seen
        .lock()
        .iter()
        .map(|(h, _)| h.get("webhook-id").and_then(|v| v.to_str().ok()).unwrap_or_default().to_string())
        .collect();
    assert!(ids.len() >= 3 && ids.iter().all(|i| i == s(&d, "id")), "{ids:?}");

    // Manual redelivery: one more attempt, marked MANUAL.
    let delivery_id = s(&d, "id").to_string();
    let r = app.post(&format!("/api/orgs/{org}/deliveries/{delivery_id}/redeliver"), &alice.auth(), json!({})).await;
    assert_eq!(s(r.ok(StatusCode::ACCEPTED), "status"), "PENDING");
    assert_eq!(worker.run_until_idle().await, 1);
    let d = app.get(&format!("/api/orgs/{org}/alerts/{alert_id}/deliveries"), &alice.auth()).await;
    let last = d.items()[0]["attemptLog"].as_array().expect("log").last().cloned().expect("an attempt");
    assert_eq!((s(&last, "trigger"), s(&last, "outcome")), ("MANUAL", "DELIVERED"));

    // 410 Gone disables the rule's webhook; later alerts send nothing.
    app.patch(&format!("/api/orgs/{org}/alerts/{alert_id}"), &alice.auth(), json!({"status": "RESOLVED"}))
        .await
        .ok(StatusCode::OK);
    *receiver.script.lock() = vec![(410, None, 0)];
    assert_eq!(scan(&app).await, 1);
    assert_eq!(worker.run_until_idle().await, 2);
    let rule = app.get(&format!("/api/orgs/{org}/alert-rules/{rule_id}"), &alice.auth()).await;
    let rule = rule.ok(StatusCode::OK).clone();
    assert!(rule["webhookDisabledAt"].is_string(), "{rule}");
    assert!(s(&rule, "webhookDisabledReason").contains("410"), "{rule}");
    let hits = receiver.hits.load(Ordering::SeqCst);
    let open = app.get(&format!("/api/orgs/{org}/alerts?status=OPEN"), &alice.auth()).await;
    let open_id = s(&open.items()[0], "id").to_string();
    app.patch(&format!("/api/orgs/{org}/alerts/{open_id}"), &alice.auth(), json!({"status": "RESOLVED"}))
        .await
        .ok(StatusCode::OK);
    assert_eq!(scan(&app).await, 1);
    assert_eq!(worker.run_until_idle().await, 1, "only the scan: no webhook job");
    assert_eq!(receiver.hits.load(Ordering::SeqCst), hits);
    // Setting the URL again turns it back on.
    let r =
        app.patch(&format!("/api/orgs/{org}/alert-rules/{rule_id}"), &alice.auth(), json!({"webhookUrl": url})).await;
    assert!(r.ok(StatusCode::OK)["webhookDisabledAt"].is_null());
}

both!(invalid_rules_are_refused_with_the_field_named, invalid_rules_case);
async fn invalid_rules_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let org = alice.org().to_string();
    let path = format!("/api/orgs/{org}/alert-rules");
    let base = || json!({"name": "r", "condition": {"tool": "ip-reputation", "field": "abuseipdb.abuseConfidenceScore", "operator": "gte", "value": 75}, "severity": "HIGH"});
    let with = |f: &dyn Fn(&mut Value)| {
        let mut b = base();
        f(&mut b);
        b
    };
    let cases: Vec<(Value, &str, &str)> = vec![
        (with(&|b| b["condition"]["tool"] = json!("nmap")), "condition.tool", "unknown tool"),
        (with(&|b| b["condition"]["field"] = json!("ports[x]")), "condition.field", "valid field path"),
        (with(&|b| b["condition"]["field"] = json!("")), "condition.field", ""),
        (with(&|b| b["condition"]["value"] = json!("75")), "condition.value", "number"),
        (with(&|b| b["condition"]["operator"] = json!("exists")), "condition.value", "no value"),
        (with(&|b| b["condition"]["operator"] = json!("changed")), "condition.value", "no value"),
        (with(&|b| b["condition"]["operator"] = json!("matches")), "condition.operator", ""),
        (with(&|b| b["severity"] = json!("URGENT")), "severity", "LOW, MEDIUM, HIGH or CRITICAL"),
        (with(&|b| b["name"] = json!("  ")), "name", "required"),
        (with(&|b| b["notifyWebhook"] = json!(true)), "webhookUrl", "required when notifyWebhook"),
        (with(&|b| b["webhookUrl"] = json!("ftp://example.com/x")), "webhookUrl", ""),
        (with(&|b| b["webhookUrl"] = json!("http://127.0.0.1:9/hook")), "webhookUrl", "loopback"),
        (with(&|b| b["assetIds"] = json!(["not-a-uuid"])), "assetIds[0]", "UUID"),
        (with(&|b| b["emailRecipients"] = json!(["nobody"])), "emailRecipients[0]", ""),
    ];
    for (body, field, words) in cases {
        let r = app.post(&path, &alice.auth(), body.clone()).await;
        r.invalid(field);
        let text = serde_json::to_string(&r.body).unwrap_or_default();
        assert!(text.contains(words), "{body} → {text}");
    }
    // Nothing was written.
    assert!(app.get(&path, &alice.auth()).await.items().is_empty());
    // A viewer may read but not write.
    let viewer = app.member(&org, &alice, "viewer@example.com", "VIEWER").await;
    app.post(&path, &viewer.auth(), base()).await.err(StatusCode::FORBIDDEN);
    app.get(&path, &viewer.auth()).await.ok(StatusCode::OK);
    // Valid, then patched, then deleted.
    let r = app.post(&path, &alice.auth(), base()).await;
    let id = s(r.ok(StatusCode::CREATED), "id").to_string();
    let r = app
        .patch(
            &format!("{path}/{id}"),
            &alice.auth(),
            json!({"condition": {"tool": "ip-reputation", "field": "x", "operator": "lt", "value": "a"}}),
        )
        .await;
    r.invalid("condition.value");
    let r = app.patch(&format!("{path}/{id}"), &alice.auth(), json!({"enabled": false, "severity": "low"})).await;
    let patched = r.ok(StatusCode::OK).clone();
    assert_eq!((patched["enabled"].clone(), s(&patched, "severity")), (json!(false), "LOW"));
    app.post(&format!("{path}/{id}/rotate-secret"), &alice.auth(), json!({})).await.invalid("webhookUrl");
    app.delete(&format!("{path}/{id}"), &alice.auth()).await.ok(StatusCode::OK);
    app.get(&format!("{path}/{id}"), &alice.auth()).await.err(StatusCode::NOT_FOUND);
}

both!(two_schedulers_queue_each_due_scan_once, scheduler_case, monitoring);
async fn scheduler_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let org = alice.org().to_string();
    for i in 0..40 {
        let body = json!({"type": "IP", "value": format!("192.0.2.{}", i + 1), "isMonitored": true});
        app.post(&format!("/api/orgs/{org}/assets"), &alice.auth(), body).await.ok(StatusCode::CREATED);
    }
    let body = json!({"type": "IP", "value": "198.51.100.1", "isMonitored": false});
    app.post(&format!("/api/orgs/{org}/assets"), &alice.auth(), body).await.ok(StatusCode::CREATED);
    let later = tlink_store::now_millis() + 1000;
    let a = app.state.scheduler();
    let b = app.state.scheduler();
    let (x, y) = tokio::join!(a.tick(later), b.tick(later));
    assert_eq!(x.expect("tick") + y.expect("tick"), 40);
    let reports = app.state.store.db().query("SELECT asset_id FROM reports", &[]).await.expect("reports");
    let mut assets: Vec<String> = reports.iter().map(|r| r.text(0).expect("asset")).collect();
    assert_eq!(assets.len(), 40);
    assets.sort();
    assets.dedup();
    assert_eq!(assets.len(), 40, "each asset once");
    // The next scan is an interval (24 h by default, ±5 %) on.
    let next = app.state.store.due_assets(later + 22 * 3_600_000, 100).await.expect("due");
    assert!(next.is_empty(), "{next:?}");
    assert_eq!(app.state.store.due_assets(later + 26 * 3_600_000, 100).await.expect("due").len(), 40);
}

both!(org_settings_set_the_default_interval_and_who_gets_email, settings_case, monitoring);
async fn settings_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let org = alice.org().to_string();
    let path = format!("/api/orgs/{org}/settings");
    let r = app.get(&path, &alice.auth()).await;
    assert_eq!(r.ok(StatusCode::OK).clone(), json!({"monitorIntervalMinutes": 1440, "notifyEmail": true}));
    let viewer = app.member(&org, &alice, "viewer@example.com", "VIEWER").await;
    app.patch(&path, &viewer.auth(), json!({"monitorIntervalMinutes": 30})).await.err(StatusCode::FORBIDDEN);
    app.patch(&path, &alice.auth(), json!({"monitorIntervalMinutes": 0})).await.invalid("monitorIntervalMinutes");
    let r = app.patch(&path, &alice.auth(), json!({"monitorIntervalMinutes": 30})).await;
    assert_eq!(r.ok(StatusCode::OK)["monitorIntervalMinutes"], 30);

    // Each member decides for themselves.
    let org_id = tlink_domain::OrgId::from_trusted(org.clone());
    let mut all = app.state.store.notification_recipients(&org_id).await.expect("recipients");
    all.sort();
    assert_eq!(all, ["alice@example.com", "viewer@example.com"]);
    let r = app.patch(&path, &viewer.auth(), json!({"notifyEmail": false})).await;
    assert_eq!(r.ok(StatusCode::OK)["notifyEmail"], false);
    let now = app.state.store.notification_recipients(&org_id).await.expect("recipients");
    assert_eq!(now, ["alice@example.com"]);

    // An asset without its own interval is rescheduled at the org's default.
    let body = json!({"type": "IP", "value": IP, "isMonitored": true});
    let asset = app.post(&format!("/api/orgs/{org}/assets"), &alice.auth(), body).await;
    let asset_id = s(asset.ok(StatusCode::CREATED), "id").to_string();
    assert_eq!(scan(&app).await, 1);
    let got = app.get(&format!("/api/orgs/{org}/assets/{asset_id}"), &alice.auth()).await;
    let next = chrono::DateTime::parse_from_rfc3339(s(got.ok(StatusCode::OK), "nextScanAt")).expect("a time");
    let minutes = (next.timestamp_millis() - tlink_store::now_millis()) as f64 / 60_000.0;
    assert!((27.0..=32.0).contains(&minutes), "next scan in {minutes} minutes");
}

both!(a_rule_can_be_tried_on_the_latest_reports_before_it_is_saved, dry_run_case, monitoring);
async fn dry_run_case(app: TestApp) {
    let provider = abuseipdb().await;
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let org = alice.org().to_string();
    let bob = app.user("bob@example.com", Some("Org B")).await;
    let worker = worker_for(&app, &provider, None, Duration::from_secs(5));
    let asset = app
        .post(
            &format!("/api/orgs/{org}/assets"),
            &alice.auth(),
            json!({"type": "IP", "value": IP, "isMonitored": true}),
        )
        .await;
    let asset_id = s(asset.ok(StatusCode::CREATED), "id").to_string();
    let test = format!("/api/orgs/{org}/alert-rules/test");
    let gte = |v: i64| json!({"condition": {"tool": "ip-reputation", "field": "abuseipdb.abuseConfidenceScore", "operator": "gte", "value": v}});

    // Before any scan: nothing to evaluate, and the asset is named as having no report.
    let r = app.post(&test, &alice.auth(), gte(75)).await;
    let out = r.ok(StatusCode::OK).clone();
    assert_eq!((out["evaluated"].as_i64(), out["wouldFire"].as_i64()), (Some(0), Some(0)), "{out}");
    assert_eq!(out["withoutReport"], json!([asset_id]), "{out}");

    assert_eq!(scan(&app).await, 1);
    worker.run_until_idle().await;
    let r = app.post(&test, &alice.auth(), gte(75)).await;
    let out = r.ok(StatusCode::OK).clone();
    assert_eq!((out["evaluated"].as_i64(), out["wouldFire"].as_i64()), (Some(1), Some(1)), "{out}");
    let first = &out["results"][0];
    assert_eq!(first["assetId"], json!(asset_id));
    assert_eq!(first["actual"], json!(92));
    assert!(s(first, "message").contains("≥ 75 (actual: 92)"), "{out}");
    let report_id = s(first, "reportId").to_string();
    // A condition that does not hold shows what the field holds.
    let r = app.post(&test, &alice.auth(), gte(95)).await;
    let out = r.ok(StatusCode::OK).clone();
    assert_eq!(
        (out["results"][0]["wouldFire"].as_bool(), &out["results"][0]["actual"]),
        (Some(false), &json!(92)),
        "{out}"
    );
    // A dry run writes nothing: no alert.
    let alerts = app.get(&format!("/api/orgs/{org}/alerts"), &alice.auth()).await;
    assert!(alerts.ok(StatusCode::OK).as_array().is_some_and(Vec::is_empty), "a dry run raised an alert");

    // `changed` compares with the report before, as monitoring does.
    provider.score.store(40, Ordering::SeqCst);
    assert_eq!(scan(&app).await, 1);
    worker.run_until_idle().await;
    let changed = json!({"condition": {"tool": "ip-reputation", "field": "abuseipdb.abuseConfidenceScore", "operator": "changed"}});
    let out = app.post(&test, &alice.auth(), changed).await.ok(StatusCode::OK).clone();
    assert_eq!(out["results"][0]["wouldFire"], true, "{out}");
    assert_eq!(out["results"][0]["actual"], json!(40), "{out}");
    // One chosen report: the first scan's.
    let mut one = gte(75);
    one["reportId"] = json!(report_id);
    let out = app.post(&test, &alice.auth(), one.clone()).await.ok(StatusCode::OK).clone();
    assert_eq!((out["evaluated"].as_i64(), out["results"][0]["actual"].as_i64()), (Some(1), Some(92)), "{out}");
    // Another organization's report is not found; its own scope is empty.
    app.post(&format!("/api/orgs/{}/alert-rules/test", bob.org()), &bob.auth(), one).await.err(StatusCode::NOT_FOUND);
    // Bad conditions are refused by field.
    let bad = json!({"condition": {"tool": "ip-reputation", "field": "a..b", "operator": "exists"}});
    app.post(&test, &alice.auth(), bad).await.invalid("condition.field");
    let bad = json!({"condition": {"tool": "nope", "field": "a", "operator": "exists"}});
    app.post(&test, &alice.auth(), bad).await.invalid("condition.tool");
    let bad = json!({"condition": {"tool": "dns", "field": "a", "operator": "exists"}, "reportId": report_id});
    app.post(&test, &alice.auth(), bad).await.invalid("reportId");
}

both!(a_test_delivery_is_signed_sent_and_answered_but_not_recorded, test_delivery_case, monitoring);
async fn test_delivery_case(app: TestApp) {
    let receiver = Receiver::default();
    let url = receiver.start().await;
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let org = alice.org().to_string();
    let rule = app
        .post(
            &format!("/api/orgs/{org}/alert-rules"),
            &alice.auth(),
            json!({"name": "Hooked", "condition": {"tool": "dns", "field": "a", "operator": "exists"},
                   "severity": "LOW", "notifyWebhook": true, "webhookUrl": url}),
        )
        .await;
    let rule = rule.ok(StatusCode::CREATED).clone();
    let (rule_id, secret) = (s(&rule, "id").to_string(), s(&rule, "webhookSecret").to_string());
    let r = app.post(&format!("/api/orgs/{org}/alert-rules/{rule_id}/test-delivery"), &alice.auth(), json!({})).await;
    let out = r.ok(StatusCode::OK).clone();
    assert_eq!((out["delivered"].as_bool(), out["statusCode"].as_i64()), (Some(true), Some(200)), "{out}");
    assert_eq!(out["responseExcerpt"], "receiver says hi");
    let seen = receiver.seen.lock().clone();
    assert_eq!(seen.len(), 1);
    let (headers, body) = &seen[0];
    let msg: Value = serde_json::from_slice(body).expect("JSON");
    assert_eq!((msg["event"].as_str(), msg["test"].as_bool()), (Some("alert.fired"), Some(true)), "{msg}");
    // Signed as every delivery is (Standard Webhooks), with the rule's secret.
    let id = headers["webhook-id"].to_str().expect("id");
    assert_eq!(id, s(&out, "webhookId"));
    let ts: i64 = headers["webhook-timestamp"].to_str().expect("ts").parse().expect("number");
    let secret = tlink_tools::notify::WebhookSecret::parse(&secret).expect("secret");
    assert!(tlink_tools::notify::verify_standard(
        &secret,
        id,
        ts,
        body,
        headers["webhook-signature"].to_str().expect("sig")
    ));
    // Nothing recorded: no alert, no delivery.
    let alerts = app.get(&format!("/api/orgs/{org}/alerts"), &alice.auth()).await;
    assert!(alerts.ok(StatusCode::OK).as_array().is_some_and(Vec::is_empty));
    // A rule without a webhook has nothing to test; a viewer may not send.
    let plain = app
        .post(
            &format!("/api/orgs/{org}/alert-rules"),
            &alice.auth(),
            json!({"name": "Plain", "condition": {"tool": "dns", "field": "a", "operator": "exists"}, "severity": "LOW"}),
        )
        .await;
    let plain = s(plain.ok(StatusCode::CREATED), "id").to_string();
    app.post(&format!("/api/orgs/{org}/alert-rules/{plain}/test-delivery"), &alice.auth(), json!({}))
        .await
        .invalid("webhookUrl");
    let viewer = app.member(&org, &alice, "viewer@example.com", "VIEWER").await;
    let r = app.post(&format!("/api/orgs/{org}/alert-rules/{rule_id}/test-delivery"), &viewer.auth(), json!({})).await;
    r.err(StatusCode::FORBIDDEN);
}
