//! The job queue's gauges: how many jobs wait, by kind, and how long the oldest ready one has waited.
//!
//! They come from one grouped read of the queued rows ([`Store::queue_stats`]), which every worker process
//! runs every [`SAMPLE_EVERY`] from a task of its own, never per scrape: the database then sees a fixed,
//! small rate of these reads however many Prometheus servers (or people with curl) scrape how often, and a
//! slow or unreachable database never slows `/metrics`, which keeps the last values meanwhile. Fifteen
//! seconds matches a usual scrape interval and is far finer than the alerts need (minutes).
//!
//! The queue is shared by every process on the database, so every worker process reports the same
//! numbers: aggregate them with `max by (kind)`, never `sum`.

use std::time::Duration;

use tlink_store::{DbError, JobKind, QueueStat, Store, now_millis};

/// How often each worker process samples the queue.
pub const SAMPLE_EVERY: Duration = Duration::from_secs(15);

/// Samples the queue every [`SAMPLE_EVERY`], the first time at once, until the task is aborted.
pub async fn run(store: Store) {
    let mut every = tokio::time::interval(SAMPLE_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        if let Err(e) = sample_queue(&store, now_millis()).await {
            tracing::warn!(error = %e, "sampling the job queue failed; its gauges keep their last values");
        }
    }
}

/// Reads the queue as it is at `now` (unix ms) into `tlink_queue_depth{kind, state}` and
/// `tlink_queue_oldest_ready_age_seconds{kind}`, every known kind included (an empty queue is zeros, not a
/// stale value), and returns what was read.
///
/// # Errors
/// The store's, when the queue cannot be read; the gauges are then left as they were.
pub async fn sample_queue(store: &Store, now: i64) -> Result<Vec<QueueStat>, DbError> {
    let stats = store.queue_stats(now).await?;
    for kind in JobKind::ALL {
        let name = kind.as_str();
        let stat = stats.iter().find(|s| s.kind == name);
        let (ready, delayed) = stat.map_or((0, 0), |s| (s.ready, s.delayed));
        let age_ms = stat.and_then(|s| s.oldest_ready_at).map_or(0, |at| now.saturating_sub(at).max(0));
        metrics::gauge!("tlink_queue_depth", "kind" => name, "state" => "ready").set(ready as f64);
        metrics::gauge!("tlink_queue_depth", "kind" => name, "state" => "delayed").set(delayed as f64);
        metrics::gauge!("tlink_queue_oldest_ready_age_seconds", "kind" => name).set(age_ms as f64 / 1000.0);
    }
    Ok(stats)
}
