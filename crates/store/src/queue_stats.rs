//! What the job queue holds, by kind, for monitoring: how many jobs are ready, how many wait for a later
//! `run_at`, and since when the oldest ready one has been due.
//!
//! One grouped read of the queued rows only (the rows of the partial index `jobs_ready`), so its cost
//! follows the backlog, not the history of failed jobs kept in the table; nothing here writes. Workers run it
//! on a timer (every 15 s per process), never once per scrape.

use crate::{Result, Store, params};

/// The queued jobs of one kind at a moment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueStat {
    /// The kind as stored (see [`crate::JobKind::parse`]).
    pub kind: String,
    /// Queued jobs due now: the next free worker slot may claim them.
    pub ready: i64,
    /// Queued jobs whose `run_at` is still ahead (retries in their backoff, delayed deliveries).
    pub delayed: i64,
    /// The `run_at` of the ready job that has been due longest, unix ms; `None` when none is ready.
    pub oldest_ready_at: Option<i64>,
}

impl Store {
    /// The queued jobs at `now` (unix ms), by kind, in kind order; kinds with no queued job are absent.
    pub async fn queue_stats(&self, now: i64) -> Result<Vec<QueueStat>> {
        const SQL: &str = "SELECT kind, COUNT(CASE WHEN run_at <= $1 THEN 1 END), \
            COUNT(CASE WHEN run_at > $1 THEN 1 END), MIN(CASE WHEN run_at <= $1 THEN run_at END) \
            FROM jobs WHERE status = 'queued' GROUP BY kind ORDER BY kind";
        self.db
            .query(SQL, &params![now])
            .await?
            .iter()
            .map(|r| -> Result<QueueStat> {
                Ok(QueueStat { kind: r.text(0)?, ready: r.i64(1)?, delayed: r.i64(2)?, oldest_ready_at: r.opt_i64(3)? })
            })
            .collect()
    }
}
