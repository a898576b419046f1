//! Scheduler cost with many monitored assets.
//!
//! Usage: `scheduler_bench DATABASE_URL [ASSETS]` (a release build: `cargo run --release -p tlink-server
//! --example scheduler_bench -- sqlite:///tmp/s.db 100000`). On a fresh database:
//!
//! - (a) an **idle tick** on an empty asset table, then with ASSETS monitored assets none of which is due:
//!   the two should cost the same, since a tick reads only the due end of the `assets_due` index;
//! - (b) a **full tick** when all ASSETS are due: every asset gets its scan queued (one report and job per
//!   tool; IPs here, so one tool each with the matrix below) and its next scan moved on — assets/s.

use std::time::Instant;

use anyhow::{Context, bail};
use tlink_domain::{AssetType, OrgId, parse};
use tlink_server::jobs::scheduler::Scheduler;
use tlink_server::jobs::worker::Wake;
use tlink_server::monitoring::MonitoringConfig;
use tlink_store::{NewAsset, Store, params};
use tlink_tools::ToolKey;

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(url) = args.first() else { bail!("usage: scheduler_bench DATABASE_URL [ASSETS]") };
    let n: usize = args.get(1).map_or(Ok(100_000), |s| s.parse()).context("ASSETS must be a number")?;
    let store = Store::connect(url, 8).await.with_context(|| format!("opening {}", tlink_server::redact_url(url)))?;
    store.migrate().await.context("applying migrations")?;
    let mut config = MonitoringConfig::default();
    config.tools.insert(AssetType::Ip, vec![ToolKey::IpReputation]);
    let scheduler = Scheduler::new(store.clone(), config, 3, Wake::default());

    let idle = |label: &'static str| {
        let scheduler = scheduler.clone();
        async move {
            let rounds = 200;
            let t = Instant::now();
            for _ in 0..rounds {
                anyhow::ensure!(scheduler.tick(tlink_store::now_millis()).await? == 0, "nothing should be due");
            }
            let per = t.elapsed().as_secs_f64() * 1e6 / f64::from(rounds);
            eprintln!("idle tick, {label}: {per:.0} µs");
            Ok::<f64, anyhow::Error>(per)
        }
    };
    let empty = idle("empty table").await?;

    let org = OrgId::new();
    let now = tlink_store::now_millis();
    store
        .db()
        .execute(
            "INSERT INTO orgs (id, name, plan, created_at) VALUES ($1, 'bench', 'FREE', $2)",
            &params![org.as_str(), now],
        )
        .await?;
    let t = Instant::now();
    let assets: Vec<NewAsset> = (0..n)
        .map(|i| NewAsset {
            value: parse(AssetType::Ip, &format!("10.{}.{}.{}", i >> 16 & 255, i >> 8 & 255, i & 255)).expect("an IP"),
            label: None,
            is_monitored: true,
            monitor_interval_minutes: None,
            // Spread over the next day: none due yet.
            next_scan_at: Some(now + 3_600_000 + (i as i64 % 86_400) * 1000),
        })
        .collect();
    store.create_assets_bulk(&org, assets).await?;
    store.db().execute("ANALYZE", &[]).await?;
    eprintln!("seeded {n} monitored assets in {:.1?}", t.elapsed());
    let loaded = idle("monitored assets, none due").await?;

    store.db().execute("UPDATE assets SET next_scan_at = 1 WHERE next_scan_at IS NOT NULL", &[]).await?;
    let t = Instant::now();
    let scanned = scheduler.tick(tlink_store::now_millis()).await?;
    let secs = t.elapsed().as_secs_f64();
    anyhow::ensure!(scanned == n, "{scanned} of {n} assets scanned");
    let again = scheduler.tick(tlink_store::now_millis()).await?;
    anyhow::ensure!(again == 0, "a second tick found {again} assets due");

    let backend = if url.starts_with("postgres") { "PostgreSQL" } else { "SQLite" };
    println!(
        "| backend | assets | idle tick, empty (µs) | idle tick, {n} monitored (µs) | ratio | full tick | assets/s |"
    );
    println!("|---|---|---|---|---|---|---|");
    println!(
        "| {backend} | {n} | {empty:.0} | {loaded:.0} | {:.2} | {secs:.2} s | {:.0} |",
        loaded / empty,
        n as f64 / secs
    );
    Ok(())
}
