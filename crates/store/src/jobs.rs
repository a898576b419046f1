//! What a job is: its kind, a job to enqueue, a claimed job and a stored one.
//!
//! These types sit below every module that queues work inside its own transaction (reports, monitoring,
//! deliveries) and below the queue that runs the jobs (`queue.rs`), so that none of them has to depend on
//! another to name a job.

use crate::db::{Row, Stmt, now_millis};
use crate::{Result, params};

/// What a job does; workers dispatch on it. Stored as [`JobKind::as_str`] in `jobs.kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum JobKind {
    /// Runs one tool report; the job's id is the report's id.
    Tool,
    /// Sends one delivery of an alert; the job's id is the delivery's id.
    Delivery,
    /// Does nothing: exercises the queue itself (tests, benchmarks).
    Noop,
}

impl JobKind {
    pub const ALL: &'static [JobKind] = &[JobKind::Tool, JobKind::Delivery, JobKind::Noop];

    pub const fn as_str(self) -> &'static str {
        match self {
            JobKind::Tool => "tool",
            JobKind::Delivery => "delivery",
            JobKind::Noop => "noop",
        }
    }

    /// The kind stored as `s`; `None` for a kind this build does not know.
    pub fn parse(s: &str) -> Option<JobKind> {
        JobKind::ALL.iter().copied().find(|k| k.as_str() == s)
    }
}

impl std::fmt::Display for JobKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The stored name of [`JobKind::Tool`].
pub const TOOL_JOB: &str = JobKind::Tool.as_str();

/// The stored name of [`JobKind::Delivery`].
pub const DELIVERY_JOB: &str = JobKind::Delivery.as_str();

/// A job to enqueue.
#[derive(Debug, Clone)]
pub struct NewJob {
    pub id: String,
    pub kind: JobKind,
    pub payload: String,
    /// Higher runs first among due jobs.
    pub priority: i64,
    /// Unix ms before which the job is not claimed.
    pub run_at: i64,
    pub max_attempts: i64,
}

/// A claimed job.
#[derive(Debug, Clone, PartialEq)]
pub struct Job {
    pub id: String,
    /// The kind as stored: a row may carry a kind this build does not know (see [`Job::kind`]).
    pub kind: String,
    pub payload: String,
    /// Attempts so far, this one included.
    pub attempts: i64,
    pub max_attempts: i64,
}

/// The columns [`Job::from_row`] reads, in its order.
macro_rules! job_columns {
    () => {
        "id, kind, payload, attempts, max_attempts"
    };
}
pub(crate) use job_columns;

impl Job {
    /// The job's kind; `None` when the stored kind is unknown to this build.
    pub fn kind(&self) -> Option<JobKind> {
        JobKind::parse(&self.kind)
    }

    pub(crate) fn from_row(r: &Row) -> Result<Job> {
        Ok(Job { id: r.text(0)?, kind: r.text(1)?, payload: r.text(2)?, attempts: r.i64(3)?, max_attempts: r.i64(4)? })
    }
}

/// A stored job, for inspection.
#[derive(Debug, Clone)]
pub struct JobRow {
    pub id: String,
    pub kind: String,
    pub status: String,
    pub attempts: i64,
    pub max_attempts: i64,
    pub run_at: i64,
    pub locked_by: Option<String>,
    pub lease_until: Option<i64>,
    pub last_error: Option<String>,
}

/// The columns [`JobRow::from_row`] reads, in its order.
macro_rules! job_row_columns {
    () => {
        "id, kind, status, attempts, max_attempts, run_at, locked_by, lease_until, last_error"
    };
}
pub(crate) use job_row_columns;

impl JobRow {
    pub(crate) fn from_row(r: &Row) -> Result<JobRow> {
        Ok(JobRow {
            id: r.text(0)?,
            kind: r.text(1)?,
            status: r.text(2)?,
            attempts: r.i64(3)?,
            max_attempts: r.i64(4)?,
            run_at: r.i64(5)?,
            locked_by: r.opt_text(6)?,
            lease_until: r.opt_i64(7)?,
            last_error: r.opt_text(8)?,
        })
    }
}

/// Inserts a job unconditionally.
pub(crate) fn insert_stmt(job: &NewJob) -> Stmt {
    const SQL: &str = "INSERT INTO jobs (id, kind, payload, status, priority, run_at, attempts, max_attempts, \
        created_at, updated_at) VALUES ($1, $2, $3, 'queued', $4, $5, 0, $6, $7, $7)";
    Stmt::new(
        SQL,
        params![
            job.id.as_str(),
            job.kind.as_str(),
            job.payload.as_str(),
            job.priority,
            job.run_at,
            job.max_attempts,
            now_millis()
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_are_stored_by_their_names() {
        for (kind, name) in [(JobKind::Tool, "tool"), (JobKind::Delivery, "delivery"), (JobKind::Noop, "noop")] {
            assert_eq!(kind.as_str(), name);
            assert_eq!(kind.to_string(), name);
            assert_eq!(JobKind::parse(name), Some(kind));
        }
        assert_eq!(JobKind::parse("Tool"), None, "names are exact");
        assert_eq!(JobKind::parse(""), None);
        assert_eq!((TOOL_JOB, DELIVERY_JOB), ("tool", "delivery"));
        assert_eq!(JobKind::ALL.len(), 3);
    }
}
