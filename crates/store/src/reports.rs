//! Tool reports: one row per run of one tool against one target, created QUEUED together with the job
//! that runs it, moved to RUNNING when a worker claims the job, and to COMPLETED or FAILED at the end.
//!
//! Every statement on the `reports` table is written here, including the ones the queue (claims, finishes,
//! crash recovery) and the scheduler (scans, quota skips) run in their own transactions: they call the
//! statement builders below, so the table's SQL can be read, and changed, in one place.

use tlink_domain::{AssetId, AssetType, OrgId, ReportId, ToolKey, UserId};

use crate::db::{Db, Dialect, Row, Stmt, now_millis};
use crate::jobs::JobKind;
use crate::usage::{Quota, RESERVE_FOR_ASSET, Refused, ensure_stmt, reserve_stmt};
use crate::{DbError, Page, PageQuery, Result, Store, Value, params};

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
    pub tool: ToolKey,
    pub target: String,
    pub target_type: AssetType,
    pub asset_id: Option<AssetId>,
    /// Run options as JSON text, when any were given.
    pub options: Option<String>,
    pub origin: ReportOrigin,
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

/// Who asked for a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReportOrigin {
    /// A request: the API, the dashboard or a scan asked for now.
    Manual,
    /// Monitoring: the scheduler queued it.
    Scheduled,
}

impl ReportOrigin {
    pub const fn as_str(self) -> &'static str {
        match self {
            ReportOrigin::Manual => "MANUAL",
            ReportOrigin::Scheduled => "SCHEDULED",
        }
    }

    pub fn parse(s: &str) -> Option<ReportOrigin> {
        [ReportOrigin::Manual, ReportOrigin::Scheduled].into_iter().find(|o| o.as_str() == s)
    }
}

/// A report to create, with the job that will run it.
#[derive(Debug, Clone)]
pub struct NewReport {
    pub tool: ToolKey,
    /// The target as the report shows it (`example.com`, `example.com:8443` for an `ssl` run on a port).
    pub target: String,
    pub target_type: AssetType,
    pub asset_id: Option<AssetId>,
    pub options: Option<String>,
    pub origin: ReportOrigin,
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

/// The error recorded on a scheduled report skipped for the quota.
pub const QUOTA_SKIP_ERROR: &str = "skipped: the organization's monthly tool-run quota is used up";

/// The columns [`ReportRow::from_row`] reads, in its order. The argument is the expression read as the
/// result: `"result"`, or `"NULL"` where the result is not wanted (lists) or already at hand.
macro_rules! report_columns {
    ($result:literal) => {
        concat!(
            "id, org_id, tool, target, target_type, asset_id, options, origin, requested_by, status, attempts, ",
            $result,
            ", error, created_at, started_at, finished_at, updated_at"
        )
    };
}
pub(crate) use report_columns;

/// The latest COMPLETED report of each tool on asset `$2` in organization `$1` ([`report_columns`] with
/// the result), one row per tool that has one: a member per tool, each one seek on `reports_asset_latest`
/// whatever the asset's history (a window over every report ranked them all). Every [`ToolKey`] has its
/// member (a test holds the list to [`ToolKey::ALL`]).
///
/// `latest_reports_union!(select "…")` puts those expressions before the report's columns in each row
/// (`latest_one.*`): an asset read appends the union to its own row with NULLs in the asset's columns.
macro_rules! latest_reports_union {
    () => {
        crate::reports::latest_reports_union!(select "")
    };
    (select $select:expr) => {
        crate::reports::latest_reports_union!(
            @tools $select, "dns", "whois", "ip-reputation", "email", "exposure", "ssl", "threat-feed"
        )
    };
    (@tools $select:expr, $first:literal $(, $tool:literal)*) => {
        concat!(
            crate::reports::latest_reports_union!(@member $select, $first)
            $(, " UNION ALL ", crate::reports::latest_reports_union!(@member $select, $tool))*
        )
    };
    (@member $select:expr, $tool:literal) => {
        concat!(
            "SELECT ",
            $select,
            "latest_one.* FROM (SELECT ",
            crate::reports::report_columns!("result"),
            " FROM reports WHERE asset_id = $2 AND tool = '",
            $tool,
            "' AND status = 'COMPLETED' AND org_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1) AS latest_one"
        )
    };
}
pub(crate) use latest_reports_union;

impl ReportRow {
    pub(crate) fn from_row(r: &Row) -> Result<ReportRow> {
        let status = r.text(9)?;
        Ok(ReportRow {
            id: ReportId::from_trusted(r.text(0)?),
            org_id: OrgId::from_trusted(r.text(1)?),
            tool: ToolKey::parse(&r.text(2)?).ok_or(DbError::Decode { index: 2, expected: "tool key" })?,
            target: r.text(3)?,
            target_type: r.text(4)?.parse().map_err(|_| DbError::Decode { index: 4, expected: "asset type" })?,
            asset_id: r.opt_text(5)?.map(AssetId::from_trusted),
            options: r.opt_text(6)?,
            origin: ReportOrigin::parse(&r.text(7)?).ok_or(DbError::Decode { index: 7, expected: "report origin" })?,
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
}

/// The INSERT of a report row, guarded by a condition the caller appends as the last parameters.
fn insert(sql: &'static str, id: &ReportId, org: &OrgId, new: &NewReport, now: i64, guard: &[Value]) -> Stmt {
    let mut p = Vec::from(params![
        id.as_str(),
        org.as_str(),
        new.tool.as_str(),
        new.target.as_str(),
        new.target_type.as_str(),
        new.asset_id.as_ref().map(|a| a.as_str()),
        new.options.clone(),
        new.origin.as_str(),
        new.requested_by.as_ref().map(|u| u.as_str()),
        now
    ]);
    p.extend_from_slice(guard);
    Stmt::new(sql, p)
}

/// Inserts a QUEUED report only under the usage reservation `token` of `org` (made earlier in the same
/// transaction): a run is written exactly when it is counted.
pub(crate) fn insert_reserved_stmt(id: &ReportId, org: &OrgId, new: &NewReport, now: i64, token: &str) -> Stmt {
    // The report goes in only under this transaction's reservation, which also checked the asset: a
    // concurrent delete cannot leave a report on another org's (or a vanished) asset.
    const SQL: &str = "INSERT INTO reports (id, org_id, tool, target, target_type, asset_id, options, origin, \
        requested_by, status, attempts, created_at, updated_at) \
        SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, 'QUEUED', 0, $10, $10 \
        WHERE EXISTS (SELECT 1 FROM tool_usage WHERE org_id = $11 AND reservation = $12)";
    insert(SQL, id, org, new, now, &params![org.as_str(), token])
}

/// Records a scheduled run skipped for the quota (FAILED with [`QUOTA_SKIP_ERROR`]): only when the scheduler
/// claimed `asset` with `token` but the reservation under that token was refused.
pub(crate) fn insert_skipped_stmt(
    id: &ReportId,
    org: &OrgId,
    new: &NewReport,
    now: i64,
    token: &str,
    asset: &AssetId,
) -> Stmt {
    const SQL: &str = "INSERT INTO reports (id, org_id, tool, target, target_type, asset_id, options, origin, \
        requested_by, status, attempts, error, created_at, updated_at, finished_at) \
        SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, 'FAILED', 0, CAST($13 AS TEXT), $10, $10, $10 \
        WHERE NOT EXISTS (SELECT 1 FROM tool_usage WHERE org_id = $11 AND reservation = $12) \
        AND EXISTS (SELECT 1 FROM assets WHERE id = $14 AND scan_token = $12)";
    insert(SQL, id, org, new, now, &params![org.as_str(), token, QUOTA_SKIP_ERROR, asset.as_str()])
}

/// The job that runs report `id`, inserted only if the report was (same id, conditional insert).
pub(crate) fn job_stmt(id: &ReportId, new: &NewReport, now: i64) -> Stmt {
    const SQL: &str = "INSERT INTO jobs (id, kind, payload, status, priority, run_at, attempts, max_attempts, \
        created_at, updated_at) SELECT $1, $2, $3, 'queued', $4, $5, 0, $6, $7, $7 \
        WHERE EXISTS (SELECT 1 FROM reports WHERE id = $1)";
    let p =
        params![id.as_str(), JobKind::Tool.as_str(), new.payload.as_str(), 0i64, now, new.max_attempts, now_millis()];
    Stmt::new(SQL, p)
}

/// The job of a scheduled report, inserted under the same usage reservation as the report.
pub(crate) fn scheduled_job_stmt(id: &ReportId, new: &NewReport, now: i64, org: &OrgId, token: &str) -> Stmt {
    // Not guarded by the report's existence (as `job_stmt` is): a burst of reports into a table the planner
    // still believes empty must not turn each check into a scan.
    const SQL: &str = "INSERT INTO jobs (id, kind, payload, status, priority, run_at, attempts, max_attempts, \
        created_at, updated_at) SELECT $1, $2, $3, 'queued', 0, $4, 0, $5, $4, $4 \
        WHERE EXISTS (SELECT 1 FROM tool_usage WHERE org_id = $6 AND reservation = $7)";
    let p =
        params![id.as_str(), JobKind::Tool.as_str(), new.payload.as_str(), now, new.max_attempts, org.as_str(), token];
    Stmt::new(SQL, p)
}

/// Moves to RUNNING the QUEUED reports of the tool jobs `worker` just claimed with the lease end
/// `lease_until`.
pub(crate) fn claimed_stmt(worker: &str, lease_until: i64, now: i64) -> Stmt {
    // The jobs just claimed are those of this worker with this lease end, but a heartbeat or another
    // claim of the same worker in the same millisecond stamps the same lease end on jobs taken earlier.
    // Their reports are no longer QUEUED (a claimable job's report always is), so only QUEUED reports
    // move: a running report keeps its start, and a finished one, whose job another transaction is
    // deleting meanwhile, is not moved back to RUNNING.
    const SQL: &str = "UPDATE reports SET status = 'RUNNING', started_at = $3, updated_at = $3, \
        attempts = (SELECT attempts FROM jobs WHERE jobs.id = reports.id) \
        WHERE status = 'QUEUED' AND id IN (SELECT id FROM jobs WHERE locked_by = $1 AND lease_until = $2 \
            AND status = 'running' AND kind = $4)";
    Stmt::new(SQL, params![worker, lease_until, now, JobKind::Tool.as_str()])
}

/// Records the end of report `id` (COMPLETED with `result`, or FAILED with `error`) if its job is still
/// locked by `worker`. Returns the row as [`ReportRow::from_row`] reads it, but the result: it is the one
/// just written, which is at hand (no need to ship it back).
pub(crate) fn finished_stmt(
    id: &str,
    worker: &str,
    status: ReportStatus,
    result: Option<&str>,
    error: Option<&str>,
    now: i64,
) -> Stmt {
    const SQL: &str = concat!(
        "UPDATE reports SET status = $3, result = $4, error = $5, finished_at = $6, \
         updated_at = $6 WHERE id = $1 \
         AND EXISTS (SELECT 1 FROM jobs WHERE id = $1 AND locked_by = $2) \
         RETURNING ",
        report_columns!("NULL")
    );
    Stmt::returning(SQL, params![id, worker, status.as_str(), result, error, now])
}

/// Puts report `id` back to QUEUED with the error of its last attempt, if its job is still locked by
/// `worker`.
pub(crate) fn retrying_stmt(id: &str, worker: &str, error: &str, now: i64) -> Stmt {
    const SQL: &str = "UPDATE reports SET status = 'QUEUED', error = $3, updated_at = $4 WHERE id = $1 \
        AND EXISTS (SELECT 1 FROM jobs WHERE id = $1 AND locked_by = $2)";
    Stmt::new(SQL, params![id, worker, error, now])
}

/// Puts back to QUEUED the RUNNING reports whose job's lease expired before `now`.
pub(crate) fn requeue_expired_stmt(now: i64) -> Stmt {
    const SQL: &str = "UPDATE reports SET status = 'QUEUED', updated_at = $1, \
        error = 'the worker running it stopped before finishing; it will run again' \
        WHERE status = 'RUNNING' AND id IN (SELECT id FROM jobs WHERE status = 'running' AND lease_until < $1)";
    Stmt::new(SQL, params![now])
}

/// Puts back to QUEUED the RUNNING reports of the jobs `worker` holds (graceful shutdown).
pub(crate) fn released_stmt(worker: &str, now: i64) -> Stmt {
    const SQL: &str = "UPDATE reports SET status = 'QUEUED', updated_at = $2 \
        WHERE status = 'RUNNING' AND id IN (SELECT id FROM jobs WHERE locked_by = $1 AND status = 'running')";
    Stmt::new(SQL, params![worker, now])
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
        let token = uuid::Uuid::now_v7().to_string();
        let asset = new.asset_id.as_ref().map(|a| a.as_str());
        let reserve = reserve_stmt(RESERVE_FOR_ASSET, org, quota, 1, &token, params![org.as_str(), asset]);
        let insert = insert_reserved_stmt(&id, org, &new, now, &token);
        // The job only goes in when the report did (same id, conditional insert).
        let stmts = vec![ensure_stmt(org, quota), reserve, insert, job_stmt(&id, &new, now)];
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

    /// Creates several reports with their jobs in one transaction (e.g. "monitor now"), counted against
    /// `quota`; nothing is written if the asset they name is not in `org` or the runs exceed the quota.
    pub async fn create_reports(
        &self,
        org: &OrgId,
        asset: &AssetId,
        reports: &[NewReport],
        quota: &Quota,
    ) -> Result<std::result::Result<Vec<ReportId>, Refused>> {
        let now = now_millis();
        let token = uuid::Uuid::now_v7().to_string();
        let mut stmts = Vec::with_capacity(reports.len() * 2 + 2);
        stmts.push(ensure_stmt(org, quota));
        let n = reports.len();
        stmts.push(reserve_stmt(RESERVE_FOR_ASSET, org, quota, n, &token, params![org.as_str(), asset.as_str()]));
        let mut ids = Vec::with_capacity(n);
        for r in reports {
            let id = ReportId::new();
            stmts.push(insert_reserved_stmt(&id, org, r, now, &token));
            stmts.push(job_stmt(&id, r, now));
            ids.push(id);
        }
        let counts = self.db.transaction(stmts).await?;
        if counts.get(1) != Some(&1) {
            return Ok(Err(if self.asset_exists(org, asset.as_str()).await? {
                Refused::Quota
            } else {
                Refused::NoAsset
            }));
        }
        Ok(Ok(ids))
    }

    pub async fn get_report(&self, org: &OrgId, id: &ReportId) -> Result<Option<ReportRow>> {
        const SQL: &str = concat!("SELECT ", report_columns!("result"), " FROM reports WHERE org_id = $1 AND id = $2");
        self.db.query_opt(SQL, &params![org.as_str(), id.as_str()]).await?.as_ref().map(ReportRow::from_row).transpose()
    }

    /// The org's reports, newest first, without their results (lists stay small; fetch one report for it).
    pub async fn list_reports(&self, org: &OrgId, filter: &ReportFilter, page: &PageQuery) -> Result<Page<ReportRow>> {
        const SQL: &str = concat!(
            "SELECT ",
            report_columns!("NULL"),
            " FROM reports WHERE org_id = $1 AND (created_at, id) < ($2, $3) AND created_at >= $4 \
              AND created_at < $5 AND (CAST($7 AS TEXT) IS NULL OR tool = $7) \
              AND (CAST($8 AS TEXT) IS NULL OR status = $8) AND (CAST($9 AS TEXT) IS NULL OR asset_id = $9) \
              ORDER BY created_at DESC, id DESC LIMIT $6"
        );
        let mut p = Vec::from(params![org.as_str()]);
        p.extend(page.bounds());
        p.push(filter.tool.clone().into());
        p.push(filter.status.map(|s| s.as_str()).into());
        p.push(filter.asset_id.as_ref().map(|a| a.as_str()).into());
        let rows = self.db.query(SQL, &p).await?;
        let items = rows.iter().map(ReportRow::from_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(items, page.limit, |r| (r.created_at, r.id.as_str().to_string())))
    }

    /// The latest COMPLETED report of each tool for one asset, with results.
    pub async fn latest_reports(&self, org: &OrgId, asset: &AssetId) -> Result<Vec<ReportRow>> {
        const SQL: &str = latest_reports_union!();
        let rows = self.db.query(SQL, &params![org.as_str(), asset.as_str()]).await?;
        let mut latest = rows.iter().map(ReportRow::from_row).collect::<Result<Vec<_>>>()?;
        latest.sort_by_key(|r| r.tool.as_str());
        Ok(latest)
    }

    /// The organization and creation time of a report (a run's quota month), whatever its organization.
    pub(crate) async fn report_org_and_creation(&self, id: &str) -> Result<Option<(String, i64)>> {
        const SQL: &str = "SELECT org_id, created_at FROM reports WHERE id = $1";
        let row = self.db.query_opt(SQL, &params![id]).await?;
        row.map(|r| Ok((r.text(0)?, r.i64(1)?))).transpose()
    }

    /// The id and result (JSON text) of the COMPLETED report of `tool` on `asset` created just before report
    /// `before`; `None` when there is none or it has no result.
    pub async fn previous_result(&self, asset: &AssetId, tool: &str, before: &str) -> Result<Option<(String, String)>> {
        const SQL: &str = "SELECT id, result FROM reports WHERE asset_id = $1 AND tool = $2 AND status = 'COMPLETED' \
            AND (created_at, id) < (SELECT created_at, id FROM reports WHERE id = $3) \
            ORDER BY created_at DESC, id DESC LIMIT 1";
        let Some(r) = self.db.query_opt(SQL, &params![asset.as_str(), tool, before]).await? else { return Ok(None) };
        let Some(result) = r.opt_text(1)? else { return Ok(None) };
        Ok(Some((r.text(0)?, result)))
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

#[cfg(test)]
mod tests {
    use tlink_domain::ToolKey;

    /// The latest report of a tool missing from the union would never be shown or compared.
    #[test]
    fn the_latest_reports_union_has_one_member_per_tool() {
        const SQL: &str = latest_reports_union!();
        for tool in ToolKey::ALL {
            assert_eq!(SQL.matches(&format!("tool = '{}'", tool.as_str())).count(), 1, "{}", tool.as_str());
        }
        assert_eq!(SQL.matches(" UNION ALL ").count() + 1, ToolKey::ALL.len());
    }
}
