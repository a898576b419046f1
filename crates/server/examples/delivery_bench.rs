//! Webhook delivery throughput: signed deliveries through the real queue and worker, with every attempt
//! recorded, against the same signed POSTs sent straight from a loop.
//!
//! Usage: `delivery_bench DATABASE_URL [DELIVERIES] [ROUNDS] [CONCURRENCY]` (a release build: `cargo run --release -p
//! tlink-server --example delivery_bench -- sqlite:///tmp/d.db 20000`). Each round:
//!
//! - (a) **direct**: 64 tasks sign and POST the deliveries' bodies to a loopback receiver (HTTP keep-alive),
//!   nothing stored — the ceiling set by signing and HTTP on this machine;
//! - (b) **worker**: the same number of deliveries queued as alerts' webhook deliveries, run by
//!   [`tlink_server::jobs::worker::Worker::run`] (CONCURRENCY at once, default 512): read the delivery and its rule, open the sealed
//!   secret, sign, POST, record the attempt and the outcome in batches — timed until the queue is empty.
//!
//! Prints deliveries/s of both and the ratio (b)/(a); the median over rounds.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use axum::Router;
use axum::routing::post;
use tlink_domain::{AssetId, OrgId, RuleId};
use tlink_server::jobs::alerting::Alerting;
use tlink_server::jobs::background::BackgroundJob;
use tlink_server::jobs::delivery::{DeliveryJob, Outgoing};
use tlink_server::jobs::worker::{Wake, Worker, WorkerConfig};
use tlink_server::sealed::Sealer;
use tlink_store::{RuleFields, Stmt, Store, params};
use tlink_tools::notify::{WebhookRequest, WebhookSecret, Webhooks};
use tlink_tools::{Toolbox, ToolsConfig};

const CONCURRENCY: usize = 64;

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(url) = args.first() else {
        bail!("usage: delivery_bench DATABASE_URL [DELIVERIES] [ROUNDS] [CONCURRENCY]")
    };
    let n: usize = args.get(1).map_or(Ok(20_000), |s| s.parse()).context("DELIVERIES must be a number")?;
    let rounds: usize = args.get(2).map_or(Ok(3), |s| s.parse()).context("ROUNDS must be a number")?;
    // The worker's `worker.concurrency` (deliveries in flight); the direct loop always uses 64 connections.
    let workers: usize = args.get(3).map_or(Ok(512), |s| s.parse()).context("CONCURRENCY must be a number")?;
    let store = Store::connect(url, 8).await.with_context(|| format!("opening {}", tlink_server::redact_url(url)))?;
    store.migrate().await.context("applying migrations")?;

    let hits = Arc::new(AtomicUsize::new(0));
    let counter = hits.clone();
    let app = Router::new().route(
        "/hook",
        post(move || {
            let c = counter.clone();
            async move {
                c.fetch_add(1, Ordering::Relaxed);
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let hook = format!("http://{}/hook", listener.local_addr()?);
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });

    let toolbox = Toolbox::new(ToolsConfig { allow_private_targets: true, ..ToolsConfig::default() })?;
    let sealer = Sealer::new(b"delivery-bench-secrets-key-0123456789");
    let secret = WebhookSecret::generate();
    let (org, rule) = seed_rule(&store, &sealer, &secret, &hook).await?;
    let body = serde_json::json!({
        "event": "alert.fired", "alertId": "x", "ruleId": rule.as_str(), "ruleName": "bench", "severity": "HIGH",
        "asset": {"id": "a", "type": "IP", "value": "192.0.2.1"}, "triggeredAt": "2026-11-23T10:00:00Z",
        "message": "abuseipdb.abuseConfidenceScore ≥ 75 (actual: 92)"
    })
    .to_string();

    let (mut direct, mut worker_rates) = (Vec::new(), Vec::new());
    for round in 1..=rounds {
        // (a) direct
        let webhooks = Arc::new(Webhooks::new(&toolbox).map_err(|e| anyhow::anyhow!("{e}"))?);
        let next = Arc::new(AtomicUsize::new(0));
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..CONCURRENCY {
            let (webhooks, next, secret, hook, body) =
                (webhooks.clone(), next.clone(), secret.clone(), hook.clone(), body.clone());
            tasks.push(tokio::spawn(async move {
                while next.fetch_add(1, Ordering::Relaxed) < n {
                    let req = WebhookRequest {
                        url: hook.clone(),
                        msg_id: uuid::Uuid::now_v7().to_string(),
                        body: body.clone().into_bytes(),
                    };
                    let a = webhooks.deliver(&secret, &req).await;
                    assert_eq!(a.status, Some(200), "{a:?}");
                }
            }));
        }
        for t in tasks {
            t.await?;
        }
        let a = n as f64 / started.elapsed().as_secs_f64();

        // (b) worker
        seed_deliveries(&store, &org, &rule, &hook, &body, n, round).await?;
        let before = hits.load(Ordering::Relaxed);
        let alerting = Alerting::new(store.clone(), &toolbox, sealer.clone(), None, Duration::from_secs(15))?;
        let config =
            WorkerConfig { concurrency: workers, batch_size: 256, poll_interval_ms: 5, ..WorkerConfig::default() };
        let worker = Worker::new(store.clone(), toolbox.clone(), config, Wake::default(), Some(Arc::new(alerting)));
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let started = Instant::now();
        let handle = tokio::spawn(worker.run(async move {
            let _ = stop_rx.await;
        }));
        while store.db().query_opt("SELECT id FROM jobs LIMIT 1", &[]).await?.is_some() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let b = n as f64 / started.elapsed().as_secs_f64();
        let _ = stop_tx.send(());
        handle.await?;
        let delivered = store
            .db()
            .query_opt("SELECT COUNT(*) FROM deliveries WHERE status = 'DELIVERED'", &[])
            .await?
            .map_or(Ok(0), |r| r.i64(0))?;
        let recorded =
            store.db().query_opt("SELECT COUNT(*) FROM delivery_attempts", &[]).await?.map_or(Ok(0), |r| r.i64(0))?;
        anyhow::ensure!(delivered as usize == n * round, "{delivered} delivered, expected {}", n * round);
        anyhow::ensure!(recorded as usize == n * round, "{recorded} attempts recorded");
        anyhow::ensure!(hits.load(Ordering::Relaxed) - before == n, "the receiver saw a different count");
        eprintln!("round {round}: direct {a:.0}/s, worker {b:.0}/s");
        direct.push(a);
        worker_rates.push(b);
    }
    let (a, b) = (median(&mut direct), median(&mut worker_rates));
    println!("| backend | deliveries | (a) direct signed POSTs/s | (b) queued deliveries/s | (b)/(a) |");
    println!("|---|---|---|---|---|");
    let backend = if url.starts_with("postgres") { "PostgreSQL" } else { "SQLite" };
    println!("| {backend} | {n} | {a:.0} | {b:.0} | {:.2} |", b / a);
    Ok(())
}

async fn seed_rule(
    store: &Store,
    sealer: &Sealer,
    secret: &WebhookSecret,
    hook: &str,
) -> anyhow::Result<(OrgId, RuleId)> {
    let org = OrgId::new();
    let now = tlink_store::now_millis();
    store
        .db()
        .execute(
            "INSERT INTO orgs (id, name, plan, created_at) VALUES ($1, 'bench', 'FREE', $2)",
            &params![org.as_str(), now],
        )
        .await?;
    let rule = store
        .create_rule(
            &org,
            None,
            RuleFields {
                name: "bench".into(),
                tool: "ip-reputation".into(),
                field: "abuseipdb.abuseConfidenceScore".into(),
                operator: "gte".into(),
                value: Some("75".into()),
                severity: "HIGH".into(),
                enabled: true,
                notify_email: false,
                notify_webhook: true,
                webhook_url: Some(hook.to_string()),
                webhook_secret: Some(sealer.seal(secret.as_str())),
                webhook_disabled_at: None,
                webhook_disabled_reason: None,
                asset_ids: None,
                asset_types: None,
                email_recipients: None,
            },
        )
        .await?;
    Ok((org, rule.id))
}

/// `n` resolved alerts, each with one queued webhook delivery.
async fn seed_deliveries(
    store: &Store,
    org: &OrgId,
    rule: &RuleId,
    hook: &str,
    body: &str,
    n: usize,
    round: usize,
) -> anyhow::Result<()> {
    let now = tlink_store::now_millis();
    let asset = AssetId::new();
    store
        .db()
        .execute(
            "INSERT INTO assets (id, org_id, type, value, is_monitored, created_at, updated_at) \
             VALUES ($1, $2, 'IP', $3, $4, $5, $5)",
            &params![asset.as_str(), org.as_str(), format!("192.0.2.{round}"), false, now],
        )
        .await?;
    for chunk in (0..n).collect::<Vec<_>>().chunks(1000) {
        let mut stmts = Vec::with_capacity(chunk.len() * 3);
        for _ in chunk {
            let alert = uuid::Uuid::now_v7().to_string();
            let delivery = uuid::Uuid::now_v7().to_string();
            stmts.push(Stmt::new(
                "INSERT INTO alerts (id, org_id, rule_id, asset_id, report_id, last_report_id, severity, status, \
                 message, actual, rule, occurrences, triggered_at, last_seen_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, 'r', 'r', 'HIGH', 'RESOLVED', 'm', '92', '{}', 1, $5, $5, $5, $5)",
                params![alert.as_str(), org.as_str(), rule.as_str(), asset.as_str(), now],
            ));
            stmts.push(Stmt::new(
                "INSERT INTO deliveries (id, org_id, alert_id, rule_id, channel, target, body, status, attempts, \
                 created_at, updated_at) VALUES ($1, $2, $3, $4, 'WEBHOOK', $5, $6, 'PENDING', 0, $7, $7)",
                params![delivery.as_str(), org.as_str(), alert.as_str(), rule.as_str(), hook, body, now],
            ));
            // The payload the alerting code queues (see `Alerting::evaluate`).
            let payload = DeliveryJob {
                manual: false,
                request: None,
                send: Some(Outgoing {
                    org_id: org.to_string(),
                    rule_id: rule.to_string(),
                    channel: "WEBHOOK".into(),
                    target: hook.to_string(),
                    body: body.to_string(),
                }),
            };
            stmts.push(Stmt::new(
                "INSERT INTO jobs (id, kind, payload, status, priority, run_at, attempts, max_attempts, created_at, \
                 updated_at) VALUES ($1, 'delivery', $2, 'queued', 1, 0, 0, 8, $3, $3)",
                params![delivery.as_str(), payload.encode(), now],
            ));
        }
        store.db().transaction(stmts).await?;
    }
    store.db().execute("ANALYZE", &[]).await?;
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
