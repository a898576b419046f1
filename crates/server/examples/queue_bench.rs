//! Job-queue throughput: no-op jobs through the real queue and worker, against the queue's own ceiling.
//!
//! Usage: `queue_bench DATABASE_URL [JOBS] [ROUNDS]` (a release build: `cargo run --release -p tlink-server
//! --example queue_bench -- sqlite:///tmp/q.db 50000`). Each round, on a fresh `jobs` table:
//!
//! - (a) **store loop**: one task claims 256 jobs and finishes them in one call, until the queue is empty —
//!   what the store allows with no runner around it;
//! - (b) **worker**: the same jobs enqueued again, run by [`tlink_server::jobs::worker::Worker::run`] (spawned job
//!   tasks, per-kind dispatch, batched finishing), timed until the queue is empty.
//!
//! Prints jobs/s of both and the ratio (b)/(a); the median over rounds when ROUNDS > 1. Planner statistics
//! are refreshed after each backlog is enqueued (see `enqueue`).

use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tlink_server::jobs::worker::{Wake, Worker, WorkerConfig};
use tlink_store::{Finish, JobKind, JobOutcome, NewJob, ReportUpdate, Store};

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(url) = args.first() else { bail!("usage: queue_bench DATABASE_URL [JOBS] [ROUNDS]") };
    let jobs: usize = args.get(1).map_or(Ok(50_000), |s| s.parse()).context("JOBS must be a number")?;
    let rounds: usize = args.get(2).map_or(Ok(3), |s| s.parse()).context("ROUNDS must be a number")?;
    let store = Store::connect(url, 8).await.with_context(|| format!("opening {}", tlink_server::redact_url(url)))?;
    store.migrate().await.context("applying migrations")?;
    store.db().execute("DELETE FROM jobs", &[]).await?;

    let mut store_rates = Vec::new();
    let mut worker_rates = Vec::new();
    for round in 1..=rounds {
        enqueue(&store, jobs, round, "a").await?;
        let started = Instant::now();
        let (mut claiming, mut finishing) = (Duration::ZERO, Duration::ZERO);
        loop {
            let t = Instant::now();
            let batch = store.claim_jobs("bench", 256, 60_000).await?;
            claiming += t.elapsed();
            if batch.is_empty() {
                break;
            }
            let t = Instant::now();
            let finishes: Vec<Finish> =
                batch.into_iter().map(|j| Finish::new(j.id, JobOutcome::Done, ReportUpdate::None)).collect();
            store.finish_jobs("bench", &finishes).await?;
            finishing += t.elapsed();
        }
        let a = jobs as f64 / started.elapsed().as_secs_f64();
        eprintln!("round {round}: store loop spent {claiming:?} claiming, {finishing:?} finishing");

        enqueue(&store, jobs, round, "b").await?;
        let config = WorkerConfig { concurrency: 512, batch_size: 256, poll_interval_ms: 5, ..WorkerConfig::default() };
        let toolbox = tlink_tools::Toolbox::new(tlink_tools::ToolsConfig::default())?;
        let worker = Worker::new(store.clone(), toolbox, config, Wake::default(), None);
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let started = Instant::now();
        let handle = tokio::spawn(worker.run(async move {
            let _ = stop_rx.await;
        }));
        // A cheap probe (finished jobs are deleted), so measuring does not steal the CPU being measured.
        while store.db().query_opt("SELECT id FROM jobs LIMIT 1", &[]).await?.is_some() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        let b = jobs as f64 / started.elapsed().as_secs_f64();
        let _ = stop_tx.send(());
        handle.await?;
        eprintln!("round {round}: store loop {a:.0} jobs/s, worker {b:.0} jobs/s");
        store_rates.push(a);
        worker_rates.push(b);
    }
    let (a, b) = (median(&mut store_rates), median(&mut worker_rates));
    println!("| backend | jobs | (a) store loop jobs/s | (b) worker jobs/s | (b)/(a) |");
    println!("|---|---|---|---|---|");
    let backend = if url.starts_with("postgres") { "PostgreSQL" } else { "SQLite" };
    println!("| {backend} | {jobs} | {a:.0} | {b:.0} | {:.2} |", b / a);
    Ok(())
}

async fn enqueue(store: &Store, n: usize, round: usize, tag: &str) -> anyhow::Result<()> {
    let all: Vec<NewJob> = (0..n)
        .map(|i| NewJob {
            id: format!("bench-{round}-{tag}-{i}"),
            kind: JobKind::Noop,
            payload: "{}".into(),
            priority: 0,
            run_at: 0,
            max_attempts: 3,
        })
        .collect();
    for chunk in all.chunks(5_000) {
        store.enqueue(chunk).await?;
    }
    // Fresh planner statistics for the backlog, as autovacuum keeps them on a live queue (the migration makes
    // it eager for `jobs`); without them PostgreSQL may sort the whole backlog on every claim.
    store.db().execute("ANALYZE jobs", &[]).await?;
    Ok(())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
