//! Fills a database for `bench/copy.sh`: a user owning one organization, COUNT assets, and COUNT completed
//! reports (each with a result of about a kilobyte), all through the store's own methods.
//!
//! Usage: `copy_seed DATABASE_URL COUNT`. Applies migrations first. Prints the organization id on stdout;
//! progress goes to stderr.

use std::time::Instant;

use anyhow::{Context, anyhow, bail};
use tlink_domain::{AssetType, ToolKey};
use tlink_store::{Finish, JobOutcome, NewAsset, NewReport, NewUser, Quota, ReportOrigin, ReportUpdate, Store};

/// Rows written per round.
const BATCH: usize = 1000;

/// A DNS result of about a kilobyte, as a tool run leaves it.
fn result(i: usize) -> String {
    let addresses: Vec<String> = (0..8).map(|n| format!("192.0.2.{}", (i + n) % 250 + 1)).collect();
    serde_json::json!({
        "target": format!("a{i}.copy.bench.example"),
        "records": {
            "A": addresses,
            "AAAA": ["2001:db8::1", "2001:db8::2"],
            "MX": [
                {"priority": 10, "exchange": "mx1.bench.example"},
                {"priority": 20, "exchange": "mx2.bench.example"},
            ],
            "NS": ["ns1.bench.example", "ns2.bench.example", "ns3.bench.example"],
            "TXT": [
                "v=spf1 include:_spf.bench.example -all",
                "site-verification=0123456789abcdef0123456789abcdef",
            ],
            "SOA": {"mname": "ns1.bench.example", "rname": "hostmaster.bench.example", "serial": 2024010101},
        },
        "dnssec": {"signed": true, "valid": true},
        "resolver": "192.0.2.53",
        "durationMs": 12 + i % 40,
    })
    .to_string()
}

fn report(i: usize) -> NewReport {
    NewReport {
        tool: ToolKey::Dns,
        target: format!("a{i}.copy.bench.example"),
        target_type: AssetType::Domain,
        asset_id: None,
        options: None,
        origin: ReportOrigin::Manual,
        requested_by: None,
        payload: format!(r#"{{"tool":"dns","target":"a{i}.copy.bench.example"}}"#),
        max_attempts: 3,
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(url), Some(count)) = (args.first(), args.get(1)) else {
        bail!("usage: copy_seed DATABASE_URL COUNT");
    };
    let count: usize = count.parse().context("COUNT must be a non-negative integer")?;
    let store = Store::connect(url, 4).await.context("opening the database")?;
    store.migrate().await.context("applying migrations")?;
    let user = NewUser { email: "bench@example.com".into(), name: None, password_hash: "x".into(), is_operator: false };
    let (_, org) = store.create_user(user, Some("Bench")).await.context("creating the user")?;
    let org = org.context("the user has no organization")?;

    let started = Instant::now();
    let mut done = 0;
    while done < count {
        let n = BATCH.min(count - done);
        let assets = (done..done + n)
            .map(|i| -> anyhow::Result<NewAsset> {
                Ok(NewAsset {
                    value: tlink_domain::parse(AssetType::Domain, &format!("a{i}.copy.bench.example"))?,
                    label: Some(format!("bench asset {i}")),
                    is_monitored: i % 2 == 0,
                    monitor_interval_minutes: None,
                    next_scan_at: None,
                })
            })
            .collect::<anyhow::Result<Vec<NewAsset>>>()?;
        store.create_assets_bulk(&org, assets).await.context("adding assets")?;
        done += n;
    }
    eprintln!("{count} assets in {:.1} s", started.elapsed().as_secs_f64());

    let started = Instant::now();
    let quota = Quota { month: tlink_domain::usage_month(tlink_store::now_millis()).0, limit: None };
    let mut done = 0;
    while done < count {
        let n = BATCH.min(count - done);
        // Created concurrently (SQLite commits them in groups), then claimed and completed as a worker would.
        let mut tasks = tokio::task::JoinSet::new();
        for i in done..done + n {
            let (store, org, quota) = (store.clone(), org.clone(), quota.clone());
            tasks.spawn(async move { store.create_report(&org, report(i), &quota).await });
        }
        while let Some(joined) = tasks.join_next().await {
            joined.context("a report task")?.context("creating a report")?.map_err(|r| anyhow!("refused: {r:?}"))?;
        }
        let jobs = store.claim_jobs("copy-seed", n as u32, 600_000).await.context("claiming")?;
        let finishes: Vec<Finish> = jobs
            .iter()
            .enumerate()
            .map(|(k, j)| {
                Finish::new(j.id.clone(), JobOutcome::Done, ReportUpdate::Completed { result: result(done + k) })
            })
            .collect();
        store.finish_jobs("copy-seed", &finishes).await.context("completing reports")?;
        done += n;
        if done % 10_000 == 0 {
            eprintln!("{done} reports");
        }
    }
    eprintln!("{count} reports in {:.1} s", started.elapsed().as_secs_f64());
    println!("{org}");
    Ok(())
}
