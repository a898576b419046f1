//! The durable job queue, shared by every `tlink` process on one database.
//!
//! A job row is `queued` until a worker claims it: the claim sets `running`, the worker's id and a lease
//! (`lease_until`), and counts the attempt, in one statement — `FOR UPDATE SKIP LOCKED` on PostgreSQL so
//! concurrent claimers never take the same row, and the single writer connection on SQLite. Workers
//! extend their leases while they run; a job whose lease expires (its worker died) is put back by
//! [`Store::requeue_expired`] and runs again. Finishing deletes the job (its outcome lives in the row it
//! worked for, e.g. the report), puts it back with a later `run_at` to retry, or marks it `failed` for
//! good — and every finishing statement is guarded by "still locked by me" (`locked_by` is set only while a
//! job runs), so a worker that lost its lease cannot overwrite the outcome of the worker that took over.
//! The guards name only `id` and `locked_by`: adding `status = 'running'` would let PostgreSQL's generic plan
//! pick the partial `jobs_worker` index and scan every running job of the worker for each row.
//!
//! Claims and finishes work in batches (one transaction, pipelined on PostgreSQL): batching, not the
//! engine, is what makes thousands of jobs per second possible.
//!
//! On PostgreSQL, triggers announce what other processes may wait for ([`Store::queue_events`]): every
//! statement that inserts jobs notifies `tlink_jobs`, and a report reaching COMPLETED or FAILED notifies
//! `tlink_reports` with its id. Delayed retries and re-queued jobs are not announced; workers still poll.
//!
//! What a job is lives in `jobs.rs`. The statements a claim or a finish writes to other tables (the job's
//! report, its alerts, a delivery's attempt) are built by the modules that own those tables and only run
//! here, in the queue's transactions.

use crate::alerts::{self, AlertFire};
use crate::db::{Dialect, Stmt, now_millis};
use crate::deliveries::{self, DeliveryUpdate};
use crate::jobs::{self, Job, JobRow, NewJob};
use crate::reports::{self, ReportRow, ReportStatus};
use crate::{Result, Store, params};

/// What happens to a finished job.
#[derive(Debug, Clone)]
pub enum JobOutcome {
    /// Done: the job is deleted.
    Done,
    /// Failed but may succeed later: queued again at `run_at`.
    Retry { run_at: i64, error: String },
    /// Failed for good: kept with status `failed` and the error.
    Dead { error: String },
}

/// What a finished tool job writes to its report.
#[derive(Debug, Clone)]
pub enum ReportUpdate {
    /// Nothing (not a tool job).
    None,
    /// COMPLETED with the result (JSON text).
    Completed { result: String },
    /// Back to QUEUED, keeping the last error for the user to see.
    Retrying { error: String },
    /// FAILED with the error.
    Failed { error: String },
}

#[derive(Debug, Clone)]
pub struct Finish {
    pub id: String,
    pub job: JobOutcome,
    pub report: ReportUpdate,
    /// What else the outcome writes, in the same transaction and under the same lease guard.
    pub effects: Effects,
}

impl Finish {
    pub fn new(id: impl Into<String>, job: JobOutcome, report: ReportUpdate) -> Finish {
        Finish { id: id.into(), job, report, effects: Effects::default() }
    }
}

/// Side effects of a finished job beyond its own row and report.
#[derive(Debug, Clone, Default)]
pub struct Effects {
    /// A completed scan of this asset: its `last_scanned_at` becomes now.
    pub scanned_asset: Option<tlink_domain::AssetId>,
    /// Alert rules that matched the report.
    pub alerts: Vec<AlertFire>,
    /// A delivery job's attempt.
    pub delivery: Option<DeliveryUpdate>,
    /// A tool run that failed before it reached the network (refused or invalid target): it is taken off
    /// its organization's monthly count, in the month its report was created.
    pub uncount_run: bool,
}

/// What [`Store::finish_jobs`] recorded.
#[derive(Debug, Default)]
pub struct Finished {
    /// Outcomes applied: their job was still running under the worker's lease.
    pub applied: u64,
    /// The reports that became COMPLETED or FAILED, as committed (a report whose job had lost its lease
    /// is not among them).
    pub reports: Vec<ReportRow>,
}

/// Job counts by status, for metrics and health.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueueCounts {
    pub queued: i64,
    pub running: i64,
    pub failed: i64,
}

/// The notification channels of migration 8 (PostgreSQL).
const JOBS_CHANNEL: &str = "tlink_jobs";
const REPORTS_CHANNEL: &str = "tlink_reports";

/// Something another process did that this one may be waiting for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueEvent {
    /// Jobs were queued.
    JobsQueued,
    /// The report with this id reached COMPLETED or FAILED.
    ReportFinished(String),
}

/// The queue's notifications, from a connection of their own ([`Store::queue_events`]).
pub struct QueueEvents(crate::db::Listener);

impl QueueEvents {
    /// The next event; `None` once the connection is lost (listen again).
    pub async fn next(&mut self) -> Option<QueueEvent> {
        loop {
            let (channel, payload) = self.0.next().await?;
            match channel.as_str() {
                JOBS_CHANNEL => return Some(QueueEvent::JobsQueued),
                REPORTS_CHANNEL => return Some(QueueEvent::ReportFinished(payload)),
                _ => {}
            }
        }
    }
}

impl Store {
    /// Follows the queue's notifications from every process on this database (PostgreSQL); `None` on
    /// SQLite (there, work queued by another process is found by polling).
    pub async fn queue_events(&self) -> Result<Option<QueueEvents>> {
        Ok(self.db.listen(&[JOBS_CHANNEL, REPORTS_CHANNEL]).await?.map(QueueEvents))
    }

    /// Enqueues jobs in one transaction.
    pub async fn enqueue(&self, jobs: &[NewJob]) -> Result<()> {
        self.db.transaction(jobs.iter().map(jobs::insert_stmt).collect()).await.map(|_| ())
    }

    /// Claims up to `limit` due jobs for `worker`, leased until `now + lease_ms`, highest priority and
    /// oldest `run_at` first. Tool jobs' reports become RUNNING in the same transaction.
    pub async fn claim_jobs(&self, worker: &str, limit: u32, lease_ms: i64) -> Result<Vec<Job>> {
        const PG: &str = concat!(
            "UPDATE jobs SET status = 'running', locked_by = $1, lease_until = $2, \
             attempts = attempts + 1, updated_at = $3 \
             WHERE id IN (SELECT id FROM jobs WHERE status = 'queued' AND run_at <= $3 \
                 ORDER BY priority DESC, run_at LIMIT $4 FOR UPDATE SKIP LOCKED) \
             RETURNING ",
            jobs::job_columns!()
        );
        const SQLITE: &str = concat!(
            "UPDATE jobs SET status = 'running', locked_by = $1, lease_until = $2, \
             attempts = attempts + 1, updated_at = $3 \
             WHERE id IN (SELECT id FROM jobs WHERE status = 'queued' AND run_at <= $3 \
                 ORDER BY priority DESC, run_at LIMIT $4) \
             RETURNING ",
            jobs::job_columns!()
        );
        let now = now_millis();
        let lease_until = now + lease_ms;
        let claim = match self.db.dialect() {
            Dialect::Postgres => PG,
            Dialect::Sqlite => SQLITE,
        };
        let stmts = vec![
            Stmt::returning(claim, params![worker, lease_until, now, i64::from(limit)]),
            reports::claimed_stmt(worker, lease_until, now),
        ];
        let mut results = self.db.transaction_returning(stmts).await?;
        results.swap_remove(0).rows.iter().map(Job::from_row).collect()
    }

    /// Applies the outcomes of finished jobs in one transaction. Each is applied only if the job is
    /// still running under `worker`'s lease. Returns how many were, with the reports that became
    /// COMPLETED or FAILED as they were recorded.
    pub async fn finish_jobs(&self, worker: &str, finishes: &[Finish]) -> Result<Finished> {
        const DELETE: &str = "DELETE FROM jobs WHERE id = $1 AND locked_by = $2";
        const SCANNED: &str = "UPDATE assets SET last_scanned_at = $2 WHERE id = $1 \
            AND EXISTS (SELECT 1 FROM jobs WHERE id = $3 AND locked_by = $4)";
        const REQUEUE: &str = "UPDATE jobs SET status = 'queued', run_at = $3, last_error = $4, locked_by = NULL, \
            lease_until = NULL, updated_at = $5 WHERE id = $1 AND locked_by = $2";
        const DEAD: &str = "UPDATE jobs SET status = 'failed', last_error = $3, locked_by = NULL, lease_until = NULL, \
            updated_at = $4 WHERE id = $1 AND locked_by = $2";
        if finishes.is_empty() {
            return Ok(Finished::default());
        }
        let now = now_millis();
        // Rare (a refused or invalid target): the month a run was counted in is its report's.
        let mut counted_in = std::collections::HashMap::new();
        for f in finishes.iter().filter(|f| f.effects.uncount_run) {
            if let Some((org, created_at)) = self.report_org_and_creation(&f.id).await? {
                counted_in.insert(f.id.as_str(), (org, tlink_domain::usage_month(created_at).0));
            }
        }
        let mut stmts = Vec::with_capacity(finishes.len() * 2);
        let mut job_stmt_index = Vec::with_capacity(finishes.len());
        let mut done_stmt_index = Vec::new();
        for f in finishes {
            let id = f.id.as_str();
            match &f.report {
                ReportUpdate::None => {}
                ReportUpdate::Completed { result } => {
                    done_stmt_index.push((stmts.len(), Some(result.as_str())));
                    let status = ReportStatus::Completed;
                    stmts.push(reports::finished_stmt(id, worker, status, Some(result.as_str()), None, now));
                }
                ReportUpdate::Failed { error } => {
                    done_stmt_index.push((stmts.len(), None));
                    let status = ReportStatus::Failed;
                    stmts.push(reports::finished_stmt(id, worker, status, None, Some(error.as_str()), now));
                }
                ReportUpdate::Retrying { error } => {
                    stmts.push(reports::retrying_stmt(id, worker, error, now));
                }
            }
            if let Some(asset) = &f.effects.scanned_asset {
                stmts.push(Stmt::new(SCANNED, params![asset.as_str(), now, id, worker]));
            }
            for fire in &f.effects.alerts {
                alerts::fire_stmts(id, worker, fire, now, &mut stmts);
            }
            if let Some(d) = &f.effects.delivery {
                deliveries::attempt_stmts(id, worker, d, now, &mut stmts);
            }
            if let Some((org, month)) = counted_in.get(id) {
                stmts.push(crate::usage::uncount_stmt(org, month, id, worker));
            }
            job_stmt_index.push(stmts.len());
            stmts.push(match &f.job {
                JobOutcome::Done => Stmt::new(DELETE, params![id, worker]),
                JobOutcome::Retry { run_at, error } => {
                    Stmt::new(REQUEUE, params![id, worker, *run_at, error.as_str(), now])
                }
                JobOutcome::Dead { error } => Stmt::new(DEAD, params![id, worker, error.as_str(), now]),
            });
        }
        let changed = self.db.transaction_returning(stmts).await?;
        let applied = job_stmt_index.iter().map(|&i| changed[i].count).sum();
        let reports = done_stmt_index
            .iter()
            .filter_map(|&(i, result)| Some((changed[i].rows.first()?, result)))
            .map(|(row, result)| {
                let mut report = ReportRow::from_row(row)?;
                report.result = result.map(str::to_string);
                Ok(report)
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Finished { applied, reports })
    }

    /// Extends the leases of every job `worker` is running; returns how many it holds.
    pub async fn extend_leases(&self, worker: &str, lease_ms: i64) -> Result<u64> {
        const SQL: &str = "UPDATE jobs SET lease_until = $2 WHERE locked_by = $1 AND status = 'running'";
        self.db.execute(SQL, &params![worker, now_millis() + lease_ms]).await
    }

    /// Puts back every running job whose lease has expired (its worker stopped without finishing it), and
    /// its report. The attempt stays counted, so a job that keeps killing its worker gives up after its
    /// `max_attempts`. Returns how many jobs were put back.
    pub async fn requeue_expired(&self) -> Result<u64> {
        const JOBS: &str = "UPDATE jobs SET status = 'queued', locked_by = NULL, lease_until = NULL, \
            last_error = 'lease expired: the worker running it stopped before finishing', updated_at = $1 \
            WHERE status = 'running' AND lease_until < $1";
        let now = now_millis();
        let counts =
            self.db.transaction(vec![reports::requeue_expired_stmt(now), Stmt::new(JOBS, params![now])]).await?;
        Ok(counts[1])
    }

    /// Gives back the jobs `worker` still holds (graceful shutdown): queued again at once, the attempt not
    /// counted. Returns how many.
    pub async fn release_jobs(&self, worker: &str) -> Result<u64> {
        const JOBS: &str = "UPDATE jobs SET status = 'queued', attempts = attempts - 1, locked_by = NULL, \
            lease_until = NULL, run_at = $2, updated_at = $2 WHERE locked_by = $1 AND status = 'running'";
        let now = now_millis();
        let counts = self
            .db
            .transaction(vec![reports::released_stmt(worker, now), Stmt::new(JOBS, params![worker, now])])
            .await?;
        Ok(counts[1])
    }

    pub async fn queue_counts(&self) -> Result<QueueCounts> {
        const SQL: &str = "SELECT status, COUNT(*) FROM jobs GROUP BY status";
        let mut counts = QueueCounts::default();
        for r in self.db.query(SQL, &[]).await? {
            let n = r.i64(1)?;
            match r.text(0)?.as_str() {
                "queued" => counts.queued = n,
                "running" => counts.running = n,
                "failed" => counts.failed = n,
                _ => {}
            }
        }
        Ok(counts)
    }

    pub async fn get_job(&self, id: &str) -> Result<Option<JobRow>> {
        const SQL: &str = concat!("SELECT ", jobs::job_row_columns!(), " FROM jobs WHERE id = $1");
        self.db.query_opt(SQL, &params![id]).await?.as_ref().map(JobRow::from_row).transpose()
    }
}
