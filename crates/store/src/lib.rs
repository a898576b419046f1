//! Storage for tlink.
//!
//! [`Store`] is the one storage interface; it runs on SQLite (embedded default) or PostgreSQL, chosen by
//! the database URL's scheme. This is the only crate that writes SQL. Every statement is written once in
//! the common subset of both dialects (see [`db`]); DDL lives in one migration tree per engine.
//!
//! Tenant scoping: every method on an org-scoped resource takes the [`OrgId`] and filters on it, so a
//! handler cannot fetch another organization's row by id without saying which organization it acts for.
//!
//! # The storage API, by resource
//!
//! Each resource's methods are implemented in a module of their own; this is the one list of all of them.
//!
//! **The store itself**
//! - [`Store::connect`]: opens `sqlite://…` or `postgres://…` (does not migrate).
//! - [`Store::from_db`]: wraps an open [`Db`] (tests pin a PostgreSQL schema this way).
//! - [`Store::db`]: the database handle, for statements no method covers (benchmarks, tests).
//! - [`Store::migrate`]: applies this engine's pending migrations.
//! - [`Store::ping`]: checks that the database answers.
//!
//! **Users** ([`UserRow`])
//! - [`Store::create_user`]: a user, and optionally the first organization they own, atomically.
//! - [`Store::user_by_email`]: the user with this normalised e-mail address.
//! - [`Store::user_by_id`]: the user with this id.
//! - [`Store::set_operator`]: makes a user an instance operator, or not.
//!
//! **Sessions** (refresh tokens, [`RefreshRow`])
//! - [`Store::start_refresh_family`]: a login's first refresh token.
//! - [`Store::refresh_by_hash`]: the token with this hash.
//! - [`Store::rotate_refresh`]: trades a live token for a new one; reuse of a rotated one revokes the family.
//! - [`Store::revoke_family`]: revokes every token of a login (logout).
//!
//! **Organizations and members** ([`OrgRow`], [`MemberRow`])
//! - [`Store::create_org`]: an organization owned by a user.
//! - [`Store::org_for_member`]: the organization, if the user belongs to it, with the user's role.
//! - [`Store::orgs_for_user`]: one page of the user's organizations.
//! - [`Store::all_orgs_for_user`]: all of them, capped.
//! - [`Store::set_org_plan`]: changes the plan.
//! - [`Store::member_role`]: a user's role in an organization.
//! - [`Store::membership`]: a user's role and the organization's plan limits, in one read.
//! - [`Store::list_members`]: one page of members.
//! - [`Store::member`]: one member.
//! - [`Store::add_member`]: adds a user with a role.
//! - [`Store::set_member_role`]: changes a role, never demoting the last owner.
//! - [`Store::remove_member`]: removes a member, never the last owner.
//! - [`Store::member_notify`]: whether a member takes alert e-mail.
//! - [`Store::set_member_notify`]: turns a member's alert e-mail on or off.
//!
//! **API keys** ([`ApiKeyRow`])
//! - [`Store::create_api_key`]: stores a key's hash, up to [`MAX_LIVE_KEYS`] per user.
//! - [`Store::list_api_keys`]: one page of a user's live keys.
//! - [`Store::revoke_api_key`]: revokes one of a user's keys.
//! - [`Store::api_key_candidates`]: live keys with a prefix, with the owner's role in an organization.
//! - [`Store::hawk_keys`]: a user's sealed keys, for Hawk.
//! - [`Store::touch_api_key`]: records a key's use.
//!
//! **Assets** ([`AssetRow`])
//! - [`Store::create_asset`]: one asset.
//! - [`Store::create_assets_bulk`]: many assets, a thousand per transaction.
//! - [`Store::get_asset`]: one asset.
//! - [`Store::asset_detail`]: one asset and the latest completed report of each tool on it, in one read.
//! - [`Store::list_assets`]: one page of assets, filtered.
//! - [`Store::update_asset`]: applies a patch.
//! - [`Store::delete_asset`]: deletes an asset.
//!
//! **Monitoring and scheduling** ([`DueAsset`], [`ScheduledScan`])
//! - [`Store::due_assets`]: monitored assets whose scan is due, most overdue first.
//! - [`Store::schedule_scans`]: claims due assets and queues their reports, once per interval, within quota.
//! - [`Store::org_monitor_interval`]: an organization's default scan interval.
//! - [`Store::set_org_monitor_interval`]: changes it.
//!
//! **Overview** ([`TypeCount`], [`AttentionAsset`])
//! - [`Store::asset_type_counts`]: an organization's assets by type, and how many are monitored.
//! - [`Store::alerts_per_day`]: alerts created per UTC day.
//! - [`Store::assets_needing_attention`]: monitored assets whose latest scan failed or whose scans lag.
//!
//! **Reports** ([`ReportRow`])
//! - [`Store::create_report`]: a report and its job, counted against the quota, atomically.
//! - [`Store::create_reports`]: several reports on one asset ("monitor now"), all or none.
//! - [`Store::get_report`]: one report, with its result.
//! - [`Store::list_reports`]: one page of reports, without results.
//! - [`Store::latest_reports`]: the latest completed report of each tool on an asset.
//! - [`Store::previous_result`]: the result a report is compared with (the tool's previous one on the asset).
//!
//! **Queue and jobs** ([`NewJob`], [`Job`], [`JobKind`])
//! - [`Store::enqueue`]: queues jobs.
//! - [`Store::claim_jobs`]: claims due jobs under a lease; their reports become RUNNING.
//! - [`Store::finish_jobs`]: records outcomes and their effects, guarded by the lease.
//! - [`Store::extend_leases`]: extends a worker's leases.
//! - [`Store::requeue_expired`]: puts back the jobs whose worker stopped.
//! - [`Store::release_jobs`]: gives back a worker's jobs on shutdown.
//! - [`Store::queue_counts`]: jobs by status.
//! - [`Store::migration_status`]: which migrations are applied, against those this build carries (reads only).
//! - [`Store::queue_stats`]: queued jobs by kind (ready, delayed, the oldest ready one's due time), for metrics.
//! - [`Store::get_job`]: one stored job.
//! - [`Store::queue_events`]: other processes' queue notifications (PostgreSQL).
//!
//! **Alert rules** ([`RuleRow`])
//! - [`Store::create_rule`]: a rule.
//! - [`Store::get_rule`]: one rule.
//! - [`Store::list_rules`]: one page of rules.
//! - [`Store::update_rule`]: replaces a rule's fields.
//! - [`Store::delete_rule`]: deletes a rule.
//! - [`Store::rules_version`]: a counter that changes with every rule change of the organization.
//! - [`Store::enabled_rules`]: the rules to evaluate.
//! - [`Store::disable_rule_webhook`]: turns a rule's webhook off (the receiver answered 410 Gone).
//!
//! **Alerts and deliveries** ([`AlertRow`], [`DeliveryRow`]; alerts are raised through
//! [`Store::finish_jobs`] and [`Store::replace_findings`])
//! - [`Store::get_alert`]: one alert.
//! - [`Store::list_alerts`]: one page of alerts, filtered.
//! - [`Store::transition_alert`]: changes an alert's status, recording who did it.
//! - [`Store::alert_severity_counts`]: alerts per severity.
//! - [`Store::alert_events`]: an alert's status changes.
//! - [`Store::list_deliveries`]: one page of an alert's deliveries.
//! - [`Store::rule_deliveries`]: a rule's latest deliveries, of all its alerts.
//! - [`Store::get_delivery`]: one delivery.
//! - [`Store::delivery_by_id`]: one delivery, for the delivery worker.
//! - [`Store::delivery_attempts`]: every attempt of a delivery.
//! - [`Store::redeliver`]: queues a manual attempt.
//! - [`Store::notification_recipients`]: the members who take alert e-mail.
//!
//! **Usage and quota** ([`Quota`], [`Usage`])
//! - [`Store::org_limits`]: an organization's plan and custom limits.
//! - [`Store::set_org_limits`]: changes them.
//! - [`Store::usage`]: the runs counted (and skipped) in a month.
//!
//! **Host agents** ([`AgentRow`])
//! - [`Store::create_enrollment`]: an enrollment credential.
//! - [`Store::enrollment_candidates`]: live enrollments with a prefix.
//! - [`Store::list_enrollments`]: one page of the live enrollments.
//! - [`Store::revoke_enrollment`]: revokes one.
//! - [`Store::record_report`]: an agent's report: creates or updates the agent, stores its inventory.
//! - [`Store::get_agent`]: one agent.
//! - [`Store::list_agents`]: one page of agents, online or not.
//!
//! **Vulnerabilities** ([`FindingRow`])
//! - [`Store::import_advisory`]: imports (or removes) one OSV advisory.
//! - [`Store::advisory_count`]: advisories stored.
//! - [`Store::affected_entries`]: the affected entries of a distribution's packages.
//! - [`Store::agents_after`]: agents with a known distribution, for re-matching after an import.
//! - [`Store::agent_findings`]: an agent's current findings.
//! - [`Store::suppressed_cves`]: the CVEs suppressed for an agent.
//! - [`Store::replace_findings`]: replaces an agent's findings and records its alerts, atomically.
//! - [`Store::list_vulns`]: one page of findings, grouped by CVE, package and version.
//! - [`Store::vuln_servers`]: the agents with a finding.
//! - [`Store::vuln_severity_counts`]: entries per severity.
//! - [`Store::suppress_cve`]: suppresses a CVE for the organization or one agent.
//! - [`Store::unsuppress_cve`]: lifts a suppression.
//!
//! **Audit log** ([`NewAuditEntry`], [`AuditRow`]; append-only: nothing updates or deletes an entry, which goes
//! only with its organization)
//! - [`Store::record_audit`]: appends one entry.
//! - [`Store::record_audit_many`]: appends several, all or none.
//! - [`Store::list_audit`]: one page of an organization's entries, newest first, filtered.
//! - [`audit_statement`]: the insert of an entry, to commit in the same transaction as the change it records.
//!
//! **Moving data** ([`transfer`], over any [`Db`], whatever its tables)
//! - [`transfer::copy`]: every row of one database into another, empty one (SQLite → PostgreSQL, or back).
//! - [`transfer::backup`]: a consistent copy of a live SQLite database in a new file.
//! - [`transfer::restore`]: a SQLite database's contents replaced with a checked backup.
//!
//! # Modules
//!
//! The modules form a layered graph, with no cycles: [`db`] and `json.rs` at the bottom; `jobs.rs` (what a
//! job is), `usage.rs`, `orgs.rs` and `audit.rs` above them; then `reports.rs` (every statement on the
//! `reports` table), `deliveries.rs` and `alerts.rs`; and at the top `queue.rs`, `monitoring.rs` and `vulns.rs`,
//! which run those statements in their own transactions. [`transfer`] stands apart, on [`db`] and the
//! migration trees only: it reads the tables from the database itself and names none of them.
//!
//! Each row type has one decoder and one column list, beside its struct: `from_row`, and a `*_columns!`
//! macro that statements splice in with `concat!` (a macro rather than a `const`, so that every statement
//! stays one compile-time string). Projections read by a single query (key and enrollment candidates, Hawk
//! keys, affected entries) are decoded where that query is.

#![forbid(unsafe_code)]

pub mod db;
mod json;
mod migrations;

mod agents;
mod alerts;
mod assets;
mod audit;
mod deliveries;
mod jobs;
mod keys;
mod monitoring;
mod orgs;
mod overview;
mod queue;
mod queue_stats;
mod reports;
mod rules;
mod sessions;
pub mod transfer;
mod usage;
mod users;
mod vulns;

pub use agents::{AgentReport, AgentRow, EnrollmentCandidate, EnrollmentRow, Inventory, NewEnrollment};
pub use alerts::{AlertEvent, AlertFilter, AlertFire, AlertRow, AlertSubject, Dismissal, StatusChange, Transition};
pub use assets::{AssetFilter, AssetPatch, AssetRow, NewAsset};
pub use audit::{AuditFilter, AuditRow, NewAuditEntry, audit_statement};
pub use db::{Changed, Db, DbError, Dialect, Row, Stmt, Value, now_millis};
pub use deliveries::{AttemptRecord, DeliveryRow, DeliveryUpdate, NewDelivery, Redeliver};
pub use jobs::{DELIVERY_JOB, Job, JobKind, JobRow, NewJob, TOOL_JOB};
pub use json::{decode_json, decode_json_opt};
pub use keys::{ApiKeyCandidate, ApiKeyRow, HawkKey, MAX_LIVE_KEYS, MAX_ROTATION_GRACE_MS, NewApiKey};
pub use monitoring::{DueAsset, ScanOutcome, ScheduledScan};
pub use orgs::{MemberChange, MemberRow, OrgRow};
pub use overview::{AttentionAsset, DAY_MS, TypeCount};
pub use queue::{Effects, Finish, Finished, JobOutcome, QueueCounts, QueueEvent, QueueEvents, ReportUpdate};
pub use queue_stats::QueueStat;
pub use reports::{NewReport, QUOTA_SKIP_ERROR, ReportFilter, ReportOrigin, ReportRow, ReportStatus};
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

    /// Which migrations are applied, against those this build carries. Reads only: applies nothing and
    /// creates no table (`tlink doctor` asks before anything is migrated).
    pub async fn migration_status(&self) -> Result<MigrationStatus> {
        let (tree, table_sql) = match self.db.dialect() {
            Dialect::Sqlite => (
                migrations::SQLITE,
                "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'",
            ),
            Dialect::Postgres => {
                (migrations::POSTGRES, "SELECT CASE WHEN to_regclass('schema_migrations') IS NULL THEN 0 ELSE 1 END")
            }
        };
        let known = tree.iter().map(|(version, _)| *version).collect();
        let table = match self.db.query_opt(table_sql, &[]).await? {
            Some(row) => row.i64(0)? > 0,
            None => false,
        };
        let applied = if table {
            let rows = self.db.query("SELECT version FROM schema_migrations ORDER BY version", &[]).await?;
            rows.iter().map(|row| row.i64(0)).collect::<Result<Vec<_>>>()?
        } else {
            Vec::new()
        };
        Ok(MigrationStatus { known, applied })
    }
}

/// The migrations of this engine that this build carries, and those the database records as applied
/// ([`Store::migration_status`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MigrationStatus {
    /// The versions this build would apply, oldest first.
    pub known: Vec<i64>,
    /// The versions recorded in `schema_migrations`, oldest first; none for a database never migrated.
    pub applied: Vec<i64>,
}

impl MigrationStatus {
    /// Versions this build carries that are not applied yet.
    pub fn pending(&self) -> Vec<i64> {
        self.known.iter().copied().filter(|v| !self.applied.contains(v)).collect()
    }

    /// Applied versions this build does not know: a newer build migrated the database.
    pub fn unknown(&self) -> Vec<i64> {
        self.applied.iter().copied().filter(|v| !self.known.contains(v)).collect()
    }
}
