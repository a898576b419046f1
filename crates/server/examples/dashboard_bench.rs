//! What a dashboard page costs to render next to the JSON it shows: the alerts page and the assets page
//! of an organization with 10,000 alerts and 10,000 assets, against `GET /api/orgs/{orgId}/alerts` and
//! `…/assets` for the same page of 50, in one process, interleaved.
//!
//! Usage: `dashboard_bench DATABASE_URL [ROUNDS] [REQUESTS]` (a release build: `cargo run --release -p
//! tlink-server --example dashboard_bench -- sqlite:///tmp/dash.db 5 200`). On a fresh database it seeds
//! one organization, signs a browser session in and makes an API key, then sends each request REQUESTS
//! times per round through the whole router (middleware, sessions, templates, compression off), and
//! prints each one's p50 and p99 and the page/JSON ratios of the p50s (medians over the rounds).

use std::time::Instant;

use anyhow::{Context, bail};
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use http_body_util::BodyExt as _;
use tlink_domain::{AssetType, OrgId, parse};
use tlink_server::{AppState, Config};
use tlink_store::{NewAsset, Store, params};
use tower::ServiceExt as _;

const N: usize = 10_000;

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(url) = args.first() else { bail!("usage: dashboard_bench DATABASE_URL [ROUNDS] [REQUESTS]") };
    let rounds: usize = args.get(1).map_or(Ok(5), |s| s.parse()).context("ROUNDS must be a number")?;
    let requests: usize = args.get(2).map_or(Ok(200), |s| s.parse()).context("REQUESTS must be a number")?;
    let store = Store::connect(url, 8).await.with_context(|| format!("opening {}", tlink_server::redact_url(url)))?;
    store.migrate().await.context("applying migrations")?;
    let mut config = Config::default();
    config.limits.enabled = false;
    let state = AppState::new(store.clone(), config, &[7u8; 32])?;

    let email = format!("bench-{}@example.com", uuid::Uuid::now_v7().simple());
    let account = tlink_server::ops::users::NewAccount {
        email: &email,
        password: "bench-password",
        name: None,
        org: Some("Bench"),
        operator: false,
    };
    let (user, org) = tlink_server::ops::users::create_user(&state, account).await?;
    let org: OrgId = org.context("the organization")?;
    let key = tlink_server::ops::keys::create_key(&state, &user.id, &Default::default(), "bench").await?.key;
    let signed = tlink_server::ops::sessions::sign_in(&state, &email, "bench-password".into(), "bench")
        .await
        .map_err(|e| anyhow::anyhow!("signing in: {e:?}"))?;
    let cookie = format!("tlink_session={}", signed.refresh_token);
    seed(&store, &org).await?;

    let router = tlink_server::router(state);
    let cases: [(&str, String, bool); 4] = [
        ("alerts page (HTML)", format!("/orgs/{org}/alerts"), true),
        ("GET /api/…/alerts (JSON)", format!("/api/orgs/{org}/alerts"), false),
        ("assets page (HTML)", format!("/orgs/{org}/assets"), true),
        ("GET /api/…/assets (JSON)", format!("/api/orgs/{org}/assets"), false),
    ];
    let mut p50s: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    let mut p99s: Vec<Vec<f64>> = vec![Vec::new(); cases.len()];
    for round in 0..rounds {
        for (i, (_, path, page)) in cases.iter().enumerate() {
            let mut times = Vec::with_capacity(requests);
            for _ in 0..requests {
                let mut req = Request::get(path.as_str());
                req = if *page { req.header(header::COOKIE, &cookie) } else { req.header("x-api-key", &key) };
                let t = Instant::now();
                let resp = router.clone().oneshot(req.body(Body::empty())?).await?;
                let status = resp.status();
                let body = resp.into_body().collect().await?.to_bytes();
                times.push(t.elapsed().as_secs_f64() * 1e3);
                anyhow::ensure!(status == StatusCode::OK, "{path}: {status}: {}", String::from_utf8_lossy(&body));
            }
            times.sort_by(f64::total_cmp);
            p50s[i].push(times[times.len() / 2]);
            p99s[i].push(times[times.len() * 99 / 100]);
        }
        eprintln!("round {} of {rounds} done", round + 1);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let p50: Vec<f64> = p50s.iter_mut().map(median).collect();
    let p99: Vec<f64> = p99s.iter_mut().map(median).collect();
    println!("| request | p50 ms | p99 ms |");
    println!("|---|---|---|");
    for (i, (name, ..)) in cases.iter().enumerate() {
        println!("| {name} | {:.2} | {:.2} |", p50[i], p99[i]);
    }
    println!("alerts page / alerts JSON (p50): {:.2}×", p50[0] / p50[1]);
    println!("assets page / assets JSON (p50): {:.2}×", p50[2] / p50[3]);
    Ok(())
}

/// 10,000 assets and 10,000 alerts (one per asset) in `org`.
async fn seed(store: &Store, org: &OrgId) -> anyhow::Result<()> {
    let t = Instant::now();
    let assets: Vec<NewAsset> = (0..N)
        .map(|i| NewAsset {
            value: parse(AssetType::Domain, &format!("host{i}.bench.example")).expect("a domain"),
            label: Some(format!("asset {i}")),
            is_monitored: i % 2 == 0,
            monitor_interval_minutes: None,
            next_scan_at: None,
        })
        .collect();
    store.create_assets_bulk(org, assets).await?;
    let ids = store.db().query("SELECT id FROM assets WHERE org_id = $1", &params![org.as_str()]).await?;
    let now = tlink_store::now_millis();
    let rule = r#"{"name":"Score","condition":{"tool":"ip-reputation","field":"abuseipdb.abuseConfidenceScore","operator":"gte","value":75}}"#;
    for (i, row) in ids.iter().enumerate() {
        let asset = row.text(0)?;
        let severity = ["LOW", "MEDIUM", "HIGH", "CRITICAL"][i % 4];
        let at = now - i64::try_from(i).unwrap_or(0) * 1000;
        store
            .db()
            .execute(
                "INSERT INTO alerts (id, org_id, rule_id, asset_id, report_id, last_report_id, severity, status, message, \
                 actual, rule, occurrences, triggered_at, last_seen_at, created_at, updated_at) \
                 VALUES ($1, $2, $3, $4, $5, $5, $6, 'OPEN', $7, '92', $8, 1, $9, $9, $9, $9)",
                &params![
                    uuid::Uuid::now_v7().to_string(),
                    org.as_str(),
                    uuid::Uuid::now_v7().to_string(),
                    asset,
                    uuid::Uuid::now_v7().to_string(),
                    severity,
                    format!("abuseipdb.abuseConfidenceScore ≥ 75 (actual: 92) on host{i}.bench.example"),
                    rule,
                    at
                ],
            )
            .await?;
    }
    eprintln!("seeded {N} assets and {N} alerts in {:.1} s", t.elapsed().as_secs_f64());
    Ok(())
}
