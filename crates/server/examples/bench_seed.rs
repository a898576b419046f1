//! Seeds a database for `bench/run.sh`: a user owning one organization, and many assets in it.
//!
//! Usage: `bench_seed DATABASE_URL COUNT [EMAIL] [PASSWORD]`. Opens the store, applies migrations,
//! creates the user (default `bench@example.com` / `bench-password`) with an organization named
//! `Bench` — or reuses the user and its first organization when it already exists — and inserts
//! COUNT DOMAIN assets (`a<i>.<run>.bench.example`, so a second run adds new ones). Start
//! `tlink serve` with `TLINK_ADMIN_EMAIL` set to the same address and it keeps this user. Prints the
//! organization id on stdout; progress goes to stderr.

use std::time::Instant;

use anyhow::{Context, bail};
use tlink_domain::AssetType;
use tlink_server::{AppState, Config};
use tlink_store::{NewAsset, Store};

/// Assets handed to the store per call (it commits them 1,000 per transaction).
const BATCH: usize = 10_000;

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(url), Some(count)) = (args.first(), args.get(1)) else {
        bail!("usage: bench_seed DATABASE_URL COUNT [EMAIL] [PASSWORD]");
    };
    let count: usize = count.parse().context("COUNT must be a non-negative integer")?;
    let email = args.get(2).map_or("bench@example.com", String::as_str);
    let password = args.get(3).map_or("bench-password", String::as_str);

    let store = Store::connect(url, 4).await.with_context(|| format!("opening {}", tlink_server::redact_url(url)))?;
    store.migrate().await.context("applying migrations")?;

    // create_user only needs the store; the secret signs nothing here.
    let state = AppState::new(store.clone(), Config::default(), &[0u8; 32])?;
    let email = tlink_server::ops::users::normalize_email(email).map_err(|m| anyhow::anyhow!("EMAIL: {m}"))?;
    let org = match store.user_by_email(&email).await? {
        Some(user) => {
            let orgs = store.all_orgs_for_user(&user.id, 1).await?;
            let Some(first) = orgs.into_iter().next() else {
                bail!("user {email} exists but belongs to no organization");
            };
            eprintln!("reusing user {email} and organization {}", first.id);
            first.id
        }
        None => {
            let (user, org) = tlink_server::ops::users::create_user(
                &state,
                tlink_server::ops::users::NewAccount {
                    email: &email,
                    password,
                    name: None,
                    org: Some("Bench"),
                    operator: false,
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("creating user: {e}"))?;
            let org = org.context("create_user returned no organization")?;
            eprintln!("created user {} and organization {org}", user.email);
            org
        }
    };

    let run = format!("r{}", tlink_store::now_millis());
    let started = Instant::now();
    let mut inserted = 0u64;
    for start in (0..count).step_by(BATCH) {
        let batch = (start..count.min(start + BATCH))
            .map(|i| {
                let value = tlink_domain::parse(AssetType::Domain, &format!("a{i}.{run}.bench.example"))
                    .map_err(|e| anyhow::anyhow!("asset {i}: {e}"))?;
                Ok(NewAsset {
                    value,
                    label: Some(format!("bench asset {i}")),
                    is_monitored: i % 10 == 0,
                    monitor_interval_minutes: None,
                    next_scan_at: None,
                })
            })
            .collect::<anyhow::Result<Vec<_>>>()?;
        inserted += store.create_assets_bulk(&org, batch).await.context("inserting assets")?;
        eprintln!("  {inserted}/{count} assets");
    }
    eprintln!("inserted {inserted} assets in {:.1}s", started.elapsed().as_secs_f64());
    println!("{org}");
    Ok(())
}
