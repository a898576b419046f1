//! Storage for tlink.
//!
//! [`Store`] is the one storage interface; it runs on SQLite (embedded default) or PostgreSQL, chosen by
//! the database URL's scheme. This is the only crate that writes SQL. Every statement is written once in
//! the common subset of both dialects (see [`db`]); DDL lives in one migration tree per engine.
//!
//! Tenant scoping: every method on an org-scoped resource takes the [`OrgId`] and filters on it, so a
//! handler cannot fetch another organization's row by id without saying which organization it acts for.

#![forbid(unsafe_code)]

pub mod db;
mod json;
mod migrations;
mod writer;

mod agents;
mod alerts;
mod assets;
mod keys;
mod monitoring;
mod orgs;
mod queue;
mod reports;
mod rules;
mod sessions;
mod usage;
mod users;
mod vulns;

pub use agents::{AgentReport, AgentRow, EnrollmentCandidate, EnrollmentRow, Inventory, NewEnrollment};
pub use alerts::{
    AlertEvent, AlertFilter, AlertFire, AlertRow, AlertSubject, AttemptRecord, DELIVERY_JOB, DeliveryRow,
    DeliveryUpdate, Dismissal, NewDelivery, Redeliver, StatusChange, Transition,
};
pub use assets::{AssetFilter, AssetPatch, AssetRow, NewAsset};
pub use db::{Changed, Db, DbError, Dialect, Row, Stmt, Value, now_millis};
pub use json::{decode_json, decode_json_opt};
pub use keys::{ApiKeyCandidate, ApiKeyRow, HawkKey, MAX_LIVE_KEYS, NewApiKey};
pub use monitoring::{DueAsset, QUOTA_SKIP_ERROR, ScanOutcome, ScheduledScan};
pub use orgs::{MemberChange, MemberRow, OrgRow};
pub use queue::{
    Effects, Finish, Finished, Job, JobOutcome, JobRow, NewJob, QueueCounts, QueueEvent, QueueEvents, ReportUpdate,
};
pub use reports::{NewReport, ReportFilter, ReportRow, ReportStatus, TOOL_JOB};
pub use rules::{RuleFields, RuleRow};
pub use sessions::{RefreshRow, RotateOutcome};
pub use usage::{Quota, Refused, Usage};
pub use users::{NewUser, UserRow};
pub use vulns::{AdvisoryImport, AffectedRow, Finding, FindingRow, ImportOutcome, SuppressionRow, VulnFilter};

pub use tlink_domain::{OrgId, UserId};

/// Shorthand for store results.
pub type Result<T, E = DbError> = std::result::Result<T, E>;

/// One page of a keyset-paginated list, newest first.
#[derive(Debug, Clone)]
pub struct PageQuery {
    /// Rows to return (the store fetches one more to know whether another page follows).
    pub limit: u32,
    /// Continue after this `(created_at, id)` key, exclusive.
    pub after: Option<(i64, String)>,
    /// Only rows with `created_at >= from`.
    pub from: Option<i64>,
    /// Only rows with `created_at < until`.
    pub until: Option<i64>,
}

impl PageQuery {
    pub fn first(limit: u32) -> Self {
        Self { limit, after: None, from: None, until: None }
    }

    /// The keyset and time-window parameters, in the order every list query expects them:
    /// after-created_at, after-id, from, until, limit+1.
    fn bounds(&self) -> [Value; 5] {
        let (after_ts, after_id) = match &self.after {
            Some((ts, id)) => (*ts, id.clone()),
            // (MAX, "") sorts after every real key, so the first page needs no special query.
            None => (i64::MAX, String::new()),
        };
        [
            Value::Int(after_ts),
            Value::Text(after_id),
            Value::Int(self.from.unwrap_or(i64::MIN)),
            Value::Int(self.until.unwrap_or(i64::MAX)),
            Value::Int(i64::from(self.limit) + 1),
        ]
    }
}

/// A page of rows and the key to continue after, when another page follows.
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<(i64, String)>,
}

impl<T> Page<T> {
    /// Trims the extra look-ahead row and derives the continuation key.
    fn from_rows(mut items: Vec<T>, limit: u32, key: impl Fn(&T) -> (i64, String)) -> Self {
        let limit = limit as usize;
        let next = if items.len() > limit {
            items.truncate(limit);
            items.last().map(&key)
        } else {
            None
        };
        Page { items, next }
    }
}

/// The storage interface. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    db: Db,
    keys: std::sync::Arc<keys::KeyCache>,
    /// PostgreSQL: concurrent report creations share a transaction.
    creates: std::sync::Arc<reports::CreateGroup>,
}

impl Store {
    /// Connects to `url` (`sqlite://path` or `postgres://…`). Does not migrate.
    pub async fn connect(url: &str, pool_size: usize) -> Result<Store> {
        Ok(Store::from_db(Db::connect(url, pool_size).await?))
    }

    pub fn from_db(db: Db) -> Store {
        Store { db, keys: std::sync::Arc::default(), creates: std::sync::Arc::default() }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Applies pending migrations for this engine; returns the versions applied.
    pub async fn migrate(&self) -> Result<Vec<i64>> {
        let list = match self.db.dialect() {
            Dialect::Sqlite => migrations::SQLITE,
            Dialect::Postgres => migrations::POSTGRES,
        };
        self.db.migrate(list).await
    }

    /// Checks that the database answers.
    pub async fn ping(&self) -> Result<()> {
        self.db.query("SELECT 1", &[]).await.map(|_| ())
    }
}
