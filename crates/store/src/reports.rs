//! Tool reports: one row per run of one tool against one target, created QUEUED together with the job
//! that runs it, moved to RUNNING when a worker claims the job, and to COMPLETED or FAILED at the end.

use tlink_domain::{AssetId, OrgId, ReportId, UserId};

use crate::db::{Db, Dialect, Row, Stmt, now_millis};
use crate::queue::{self, NewJob};
use crate::usage::{Quota, RESERVE_FOR_ASSET, Refused, ensure_stmt, reserve_stmt};
use crate::{DbError, Page, PageQuery, Result, Store, params};

/// The job kind that runs a tool report; the job's id is the report's id.
pub const TOOL_JOB: &str = "tool";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportStatus {
    Queued,
    Running,
    Completed,
    Failed,
}

impl ReportStatus {
    pub const ALL: &'static [ReportStatus] =
        &[ReportStatus::Queued, ReportStatus::Running, ReportStatus::Completed, ReportStatus::Failed];

    pub const fn as_str(self) -> &'static str {
        match self {
            ReportStatus::Queued => "QUEUED",
            ReportStatus::Running => "RUNNING",
            ReportStatus::Completed => "COMPLETED",
            ReportStatus::Failed => "FAILED",
        }
    }

    pub fn parse(s: &str) -> Option<ReportStatus> {
        ReportStatus::ALL.iter().copied().find(|k| k.as_str() == s)
    }
}

#[derive(Debug, Clone)]
pub struct ReportRow {
    pub id: ReportId,
    pub org_id: OrgId,
    pub tool: String,
    pub target: String,
    pub target_type: String,
    pub asset_id: Option<AssetId>,
    /// Run options as JSON text, when any were given.
    pub options: Option<String>,
    /// `MANUAL` (an API or CLI request) or `SCHEDULED` (monitoring).
    pub origin: String,
    pub requested_by: Option<UserId>,
    pub status: ReportStatus,
    pub attempts: i64,
    /// The tool's result as JSON text (COMPLETED only).
    pub result: Option<String>,
    pub error: Option<String>,
    pub created_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub updated_at: i64,
}

/// A report to create, with the job that will run it.
#[derive(Debug, Clone)]
pub struct NewReport {
    pub tool: String,
    pub target: String,
    pub target_type: String,
    pub asset_id: Option<AssetId>,
    pub options: Option<String>,
    pub origin: String,
    pub requested_by: Option<UserId>,
    /// The job's payload (what the worker needs to run the tool without reading the report).
    pub payload: String,
    pub max_attempts: i64,
}

#[derive(Debug, Clone, Default)]
pub struct ReportFilter {
    pub tool: Option<String>,
    pub status: Option<ReportStatus>,
    pub asset_id: Option<AssetId>,
}

pub(crate) fn report_row(r: &Row) -> Result<ReportRow> {
    let status = r.text(9)?;
    Ok(ReportRow {
        id: ReportId::from_trusted(r.text(0)?),
        org_id: OrgId::from_trusted(r.text(1)?),
        tool: r.text(2)?,
        target: r.text(3)?,
        target_type: r.text(4)?,
        asset_id: r.opt_text(5)?.map(AssetId::from_trusted),
        options: r.opt_text(6)?,
        origin: r.text(7)?,
        requested_by: r.opt_text(8)?.map(UserId::from_trusted),
        status: ReportStatus::parse(&status).ok_or(DbError::Decode { index: 9, expected: "report status" })?,
        attempts: r.i64(10)?,
        result: r.opt_text(11)?,
        error: r.opt_text(12)?,
        created_at: r.i64(13)?,
        started_at: r.opt_i64(14)?,
        finished_at: r.opt_i64(15)?,
        updated_at: r.i64(16)?,
    })
}

impl Store {
    /// Creates the report (QUEUED) and its job in one transaction, counting the run against `quota`, so a
    /// report never exists without the job that will finish it, nor a job without its report, and the run
    /// is counted exactly when the report is written. An `asset_id` must name an asset of `org` (checked
    /// in the same transaction); otherwise, or over the quota, nothing is written.
    pub async fn create_report(
        &self,
        org: &OrgId,
        new: NewReport,
        quota: &Quota,
    ) -> Result<std::result::Result<ReportRow, Refused>> {
        let id = ReportId::new();
        let now = now_millis();
        // The report goes in only under this transaction's reservation, which also checked the asset: a
        // concurrent delete cannot leave a report on another org's (or a vanished) asset.
        const SQL: &str = "INSERT INTO reports (id, org_id, tool, target, target_type, asset_id, options, origin, \
            requested_by, status, attempts, created_at, updated_at) \
            SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, 'QUEUED', 0, $10, $10 \
            WHERE EXISTS (SELECT 1 FROM tool_usage WHERE org_id = $11 AND reservation = $12)";
        let token = uuid::Uuid::now_v7().to_string();
        let asset = new.asset_id.as_ref().map(|a| a.as_str());
        let reserve = reserve_stmt(RESERVE_FOR_ASSET, org, quota, 1, &token, params![org.as_str(), asset]);
        let insert = crate::monitoring::report_insert(SQL, &id, org, &new, now, params![org.as_str(), token.as_str()]);
        let job = queue::insert_for_report_stmt(&NewJob {
            id: id.as_str().to_string(),
            kind: TOOL_JOB.to_string(),
            payload: new.payload.clone(),
            priority: 0,
            run_at: now,
            max_attempts: new.max_attempts,
        });
        // The job only goes in when the report did (same id, conditional insert).
        let stmts = vec![ensure_stmt(org, quota), reserve, insert, job];
        let created = match self.db.dialect() {
            Dialect::Sqlite => self.db.transaction(stmts).await?.get(2) == Some(&1),
            Dialect::Postgres => self.creates.create(&self.db, org, stmts, 2).await?,
        };
        if !created {
            return Ok(Err(match &new.asset_id {
                Some(a) if !self.asset_exists(org, a.as_str()).await? => Refused::NoAsset,
                _ => Refused::Quota,
            }));
        }
        Ok(Ok(ReportRow {
            id,
            org_id: org.clone(),
            tool: new.tool,
            target: new.target,
            target_type: new.target_type,
            asset_id: new.asset_id,
            options: new.options,
            origin: new.origin,
            requested_by: new.requested_by,
            status: ReportStatus::Queued,
            attempts: 0,
            result: None,
            error: None,
            created_at: now,
            started_at: None,
            finished_at: None,
            updated_at: now,
        }))
    }

    pub async fn get_report(&self, org: &OrgId, id: &ReportId) -> Result<Option<ReportRow>> {
        const SQL: &str = "SELECT id, org_id, tool, target, target_type, asset_id, options, origin, requested_by, \
            status, attempts, result, error, created_at, started_at, finished_at, updated_at \
            FROM reports WHERE org_id = $1 AND id = $2";
        self.db.query_opt(SQL, &params![org.as_str(), id.as_str()]).await?.as_ref().map(report_row).transpose()
    }

    /// The org's reports, newest first, without their results (lists stay small; fetch one report for it).
    pub async fn list_reports(&self, org: &OrgId, filter: &ReportFilter, page: &PageQuery) -> Result<Page<ReportRow>> {
        const SQL: &str = "SELECT id, org_id, tool, target, target_type, asset_id, options, origin, requested_by, \
            status, attempts, NULL, error, created_at, started_at, finished_at, updated_at \
            FROM reports WHERE org_id = $1 AND (created_at, id) < ($2, $3) AND created_at >= $4 AND created_at < $5 \
            AND (CAST($7 AS TEXT) IS NULL OR tool = $7) AND (CAST($8 AS TEXT) IS NULL OR status = $8) \
            AND (CAST($9 AS TEXT) IS NULL OR asset_id = $9) \
            ORDER BY created_at DESC, id DESC LIMIT $6";
        let mut p = Vec::from(params![org.as_str()]);
        p.extend(page.bounds());
        p.push(filter.tool.clone().into());
        p.push(filter.status.map(|s| s.as_str()).into());
        p.push(filter.asset_id.as_ref().map(|a| a.as_str()).into());
        let rows = self.db.query(SQL, &p).await?;
        let items = rows.iter().map(report_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(items, page.limit, |r| (r.created_at, r.id.as_str().to_string())))
    }
}

/// PostgreSQL: the report creations of this process that arrive while a batch is being written go together
/// in the next transaction (group commit), at most [`MAX_GROUP`] at a time.
///
/// Every run updates its org's month row in `tool_usage` (the quota), and that row stays locked until the
/// transaction's commit has reached the WAL on disk. With one transaction per run, an org's concurrent runs
/// waited for each other's flushes one after another. In a group, each run's statements keep their own
/// quota check and conditions, in order, and the group takes each lock and flushes once. A group that
/// fails is rolled back whole, and its runs are then created one by one, each with its own outcome.
/// SQLite needs none of this: its writer thread already groups every write.
#[derive(Default)]
pub(crate) struct CreateGroup {
    /// Started by the first creation (it needs a runtime); ends when the store's last clone is dropped.
    queue: std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<Pending>>,
}

const MAX_GROUP: usize = 64;

/// One creation waiting for its group.
struct Pending {
    org: OrgId,
    stmts: Vec<Stmt>,
    /// Which statement inserts the report (it changed one row iff the report was created).
    insert: usize,
    answer: tokio::sync::oneshot::Sender<Result<bool>>,
}

impl std::fmt::Debug for CreateGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CreateGroup").field("started", &self.queue.get().is_some()).finish()
    }
}

impl CreateGroup {
    /// Runs `stmts` atomically in the next group; answers whether statement `insert` changed a row.
    async fn create(&self, db: &Db, org: &OrgId, stmts: Vec<Stmt>, insert: usize) -> Result<bool> {
        let queue = self.queue.get_or_init(|| {
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            tokio::spawn(write_groups(db.clone(), rx));
            tx
        });
        let (answer, answered) = tokio::sync::oneshot::channel();
        match queue.send(Pending { org: org.clone(), stmts, insert, answer }) {
            Ok(()) => answered.await.map_err(|_| DbError::WriterStopped)?,
            // The task is gone with the runtime that started it: write alone.
            Err(tokio::sync::mpsc::error::SendError(p)) => alone(db, p.stmts, p.insert).await,
        }
    }
}

async fn write_groups(db: Db, mut queue: tokio::sync::mpsc::UnboundedReceiver<Pending>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while queue.recv_many(&mut group, MAX_GROUP).await > 0 {
        if group.len() > 1 {
            // The same lock order in every process, so that two groups cannot deadlock on their orgs' rows.
            group.sort_by(|a, b| a.org.as_str().cmp(b.org.as_str()));
            let mut stmts = Vec::with_capacity(group.iter().map(|p| p.stmts.len()).sum());
            let mut inserts = Vec::with_capacity(group.len());
            for p in &group {
                inserts.push(stmts.len() + p.insert);
                stmts.extend(p.stmts.iter().cloned());
            }
            match db.transaction(stmts).await {
                Ok(counts) => {
                    for (p, i) in group.drain(..).zip(inserts) {
                        let _ = p.answer.send(Ok(counts.get(i) == Some(&1)));
                    }
                    continue;
                }
                Err(e) => {
                    tracing::debug!(error = %e, runs = group.len(), "a group of report creations failed; creating them one by one")
                }
            }
        }
        for p in group.drain(..) {
            let _ = p.answer.send(alone(&db, p.stmts, p.insert).await);
        }
    }
}

async fn alone(db: &Db, stmts: Vec<Stmt>, insert: usize) -> Result<bool> {
    Ok(db.transaction(stmts).await?.get(insert) == Some(&1))
}
