//! Continuous monitoring: which assets are due, and queueing their scans exactly once per interval.
//!
//! A monitored asset carries `next_scan_at` (NULL when it is not monitored); the partial index `assets_due`
//! holds only those rows, so a scheduler tick reads the due ones in order without scanning the table. Any
//! number of processes may run the scheduler: each claims an asset with a compare-and-set on
//! `next_scan_at` that also writes a fresh `scan_token`, and the scan's reports and jobs are inserted in the
//! same transaction only under that token — the loser of a race inserts nothing.

use tlink_domain::{AssetId, AssetType, OrgId, ReportId};

use crate::db::{Row, Stmt, now_millis};
use crate::queue::{self, NewJob};
use crate::reports::{NewReport, TOOL_JOB};
use crate::usage::{Quota, RESERVE_FOR_ASSET, RESERVE_FOR_SCAN, Refused, ensure_stmt, reserve_stmt};
use crate::{DbError, Result, Store, params};

/// A monitored asset whose scan is due.
#[derive(Debug, Clone, PartialEq)]
pub struct DueAsset {
    pub id: AssetId,
    pub org_id: OrgId,
    pub kind: AssetType,
    pub value: String,
    pub next_scan_at: i64,
    /// The asset's own interval, or its org's default.
    pub interval_minutes: i64,
    /// The org's plan, for its monthly quota.
    pub limits: tlink_domain::PlanLimits,
}

/// One asset's scan to queue: move `next_scan_at` from `expected` to `next` and create `reports`, counted
/// against `quota`.
#[derive(Debug, Clone)]
pub struct ScheduledScan {
    pub asset_id: AssetId,
    pub org_id: OrgId,
    pub expected: i64,
    pub next: i64,
    pub reports: Vec<NewReport>,
    pub quota: Quota,
}

/// What became of one [`ScheduledScan`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanOutcome {
    /// Queued: the reports created.
    Queued(Vec<ReportId>),
    /// Claimed, but over the org's monthly quota: each tool's report is recorded as FAILED with the
    /// reason, the skip is counted in the org's usage, and the next scan is scheduled as usual.
    Skipped(Vec<ReportId>),
    /// Another scheduler claimed it first, or it stopped being monitored.
    NotClaimed,
}

/// The error recorded on a scheduled report skipped for the quota.
pub const QUOTA_SKIP_ERROR: &str = "skipped: the organization's monthly tool-run quota is used up";

fn due_row(r: &Row) -> Result<DueAsset> {
    Ok(DueAsset {
        id: AssetId::from_trusted(r.text(0)?),
        org_id: OrgId::from_trusted(r.text(1)?),
        kind: r.text(2)?.parse().map_err(|_| DbError::Decode { index: 2, expected: "asset type" })?,
        value: r.text(3)?,
        next_scan_at: r.i64(4)?,
        interval_minutes: r.i64(5)?,
        limits: crate::usage::limits_from(r.text(6)?, r.opt_i64(7)?, r.opt_i64(8)?)?,
    })
}

/// The INSERT of a report row, guarded by a condition the caller appends as the last parameters.
pub(crate) fn report_insert(
    sql: &'static str,
    id: &ReportId,
    org: &OrgId,
    new: &NewReport,
    now: i64,
    guard: impl IntoIterator<Item = crate::Value>,
) -> Stmt {
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
    p.extend(guard);
    Stmt::new(sql, p)
}

pub(crate) fn report_job(id: &ReportId, new: &NewReport, now: i64) -> Stmt {
    queue::insert_for_report_stmt(&NewJob {
        id: id.as_str().to_string(),
        kind: TOOL_JOB.to_string(),
        payload: new.payload.clone(),
        priority: 0,
        run_at: now,
        max_attempts: new.max_attempts,
    })
}

impl Store {
    /// Up to `limit` monitored assets due at `now`, most overdue first.
    pub async fn due_assets(&self, now: i64, limit: u32) -> Result<Vec<DueAsset>> {
        const SQL: &str = "SELECT a.id, a.org_id, a.type, a.value, a.next_scan_at, \
            COALESCE(a.monitor_interval_minutes, o.monitor_interval_minutes), \
            o.plan, o.requests_per_minute, o.tool_runs_per_month \
            FROM assets a JOIN orgs o ON o.id = a.org_id \
            WHERE a.next_scan_at <= $1 ORDER BY a.next_scan_at LIMIT $2";
        self.db.query(SQL, &params![now, i64::from(limit)]).await?.iter().map(due_row).collect()
    }

    /// Queues the given scans in one transaction, each counted against its quota.
    pub async fn schedule_scans(&self, scans: &[ScheduledScan]) -> Result<Vec<ScanOutcome>> {
        // `COALESCE` keeps PostgreSQL's generic plan on the primary key: with a bare `next_scan_at = $2` it may
        // pick `assets_due` and walk every asset due at the same instant for each claim.
        const CLAIM: &str = "UPDATE assets SET next_scan_at = $3, scan_token = $4 \
            WHERE id = $1 AND COALESCE(next_scan_at, 0) = $2 AND is_monitored = $5";
        // Reports and jobs go in under the usage reservation made with the claim's token, so they exist only
        // if this scheduler claimed the asset and the quota allowed the runs. (Not guarded by the report's
        // existence: a burst of reports into a table the planner still believes empty must not turn each
        // check into a scan.)
        const REPORT: &str = "INSERT INTO reports (id, org_id, tool, target, target_type, asset_id, options, origin, \
            requested_by, status, attempts, created_at, updated_at) \
            SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, 'QUEUED', 0, $10, $10 \
            WHERE EXISTS (SELECT 1 FROM tool_usage WHERE org_id = $11 AND reservation = $12)";
        const JOB: &str = "INSERT INTO jobs (id, kind, payload, status, priority, run_at, attempts, max_attempts, \
            created_at, updated_at) SELECT $1, $2, $3, 'queued', 0, $4, 0, $5, $4, $4 \
            WHERE EXISTS (SELECT 1 FROM tool_usage WHERE org_id = $6 AND reservation = $7)";
        // Claimed but not reserved: over the quota. Record each tool's run as skipped.
        const SKIPPED: &str = "INSERT INTO reports (id, org_id, tool, target, target_type, asset_id, options, origin, \
            requested_by, status, attempts, error, created_at, updated_at, finished_at) \
            SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, 'FAILED', 0, CAST($13 AS TEXT), $10, $10, $10 \
            WHERE NOT EXISTS (SELECT 1 FROM tool_usage WHERE org_id = $11 AND reservation = $12) \
            AND EXISTS (SELECT 1 FROM assets WHERE id = $14 AND scan_token = $12)";
        const COUNT_SKIP: &str = "UPDATE tool_usage SET skipped = skipped + $3 \
            WHERE org_id = $1 AND month = $2 AND COALESCE(reservation, '') <> $4 \
            AND EXISTS (SELECT 1 FROM assets WHERE id = $5 AND scan_token = $4)";
        if scans.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_millis();
        let mut stmts = Vec::new();
        let mut ensured = std::collections::HashSet::new();
        let mut plan = Vec::with_capacity(scans.len());
        // Orgs' usage rows are locked in org order, as report creations lock them (`CreateGroup`), so that
        // two transactions never wait on each other's rows in a cycle.
        let mut order: Vec<usize> = (0..scans.len()).collect();
        order.sort_by(|&a, &b| scans[a].org_id.as_str().cmp(scans[b].org_id.as_str()));
        for s in order.iter().map(|&i| &scans[i]) {
            let token = uuid::Uuid::now_v7().to_string();
            let (org, asset) = (s.org_id.as_str(), s.asset_id.as_str());
            let claim_at = stmts.len();
            stmts.push(Stmt::new(CLAIM, params![asset, s.expected, s.next, token.as_str(), true]));
            if s.reports.is_empty() {
                plan.push((claim_at, None, Vec::new(), Vec::new()));
                continue;
            }
            if ensured.insert((org, s.quota.month.as_str())) {
                stmts.push(ensure_stmt(&s.org_id, &s.quota));
            }
            let reserve_at = stmts.len();
            let n = s.reports.len();
            stmts.push(reserve_stmt(RESERVE_FOR_SCAN, &s.org_id, &s.quota, n, &token, params![asset, token.as_str()]));
            let mut ids = Vec::with_capacity(n);
            let mut skipped = Vec::with_capacity(n);
            for r in &s.reports {
                let id = ReportId::new();
                stmts.push(report_insert(REPORT, &id, &s.org_id, r, now, params![org, token.as_str()]));
                stmts.push(Stmt::new(
                    JOB,
                    params![id.as_str(), TOOL_JOB, r.payload.as_str(), now, r.max_attempts, org, token.as_str()],
                ));
                ids.push(id);
                let skip_id = ReportId::new();
                let guard = params![org, token.as_str(), QUOTA_SKIP_ERROR, asset];
                stmts.push(report_insert(SKIPPED, &skip_id, &s.org_id, r, now, guard));
                skipped.push(skip_id);
            }
            let count_skip =
                params![org, s.quota.month.as_str(), i64::try_from(n).unwrap_or(i64::MAX), token.as_str(), asset];
            stmts.push(Stmt::new(COUNT_SKIP, count_skip));
            plan.push((claim_at, Some(reserve_at), ids, skipped));
        }
        let counts = self.db.transaction(stmts).await?;
        // Back in the order of `scans`.
        let mut outcomes: Vec<(usize, ScanOutcome)> = order
            .into_iter()
            .zip(plan)
            .map(|(i, (claim, reserve, ids, skipped))| {
                let outcome = match (counts[claim], reserve) {
                    (1, Some(at)) if counts[at] == 1 => ScanOutcome::Queued(ids),
                    (1, Some(_)) => ScanOutcome::Skipped(skipped),
                    (1, None) => ScanOutcome::Queued(Vec::new()),
                    _ => ScanOutcome::NotClaimed,
                };
                (i, outcome)
            })
            .collect();
        outcomes.sort_by_key(|(i, _)| *i);
        Ok(outcomes.into_iter().map(|(_, o)| o).collect())
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
        const SQL: &str = "INSERT INTO reports (id, org_id, tool, target, target_type, asset_id, options, origin, \
            requested_by, status, attempts, created_at, updated_at) \
            SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, 'QUEUED', 0, $10, $10 \
            WHERE EXISTS (SELECT 1 FROM tool_usage WHERE org_id = $11 AND reservation = $12)";
        let now = now_millis();
        let token = uuid::Uuid::now_v7().to_string();
        let mut stmts = Vec::with_capacity(reports.len() * 2 + 2);
        stmts.push(ensure_stmt(org, quota));
        let n = reports.len();
        stmts.push(reserve_stmt(RESERVE_FOR_ASSET, org, quota, n, &token, params![org.as_str(), asset.as_str()]));
        let mut ids = Vec::with_capacity(n);
        for r in reports {
            let id = ReportId::new();
            stmts.push(report_insert(SQL, &id, org, r, now, params![org.as_str(), token.as_str()]));
            stmts.push(report_job(&id, r, now));
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

    /// The latest COMPLETED report of each tool for one asset, with results.
    pub async fn latest_reports(&self, org: &OrgId, asset: &AssetId) -> Result<Vec<crate::ReportRow>> {
        const SQL: &str = "SELECT id, org_id, tool, target, target_type, asset_id, options, origin, requested_by, \
            status, attempts, result, error, created_at, started_at, finished_at, updated_at FROM ( \
              SELECT r.*, ROW_NUMBER() OVER (PARTITION BY tool ORDER BY created_at DESC, id DESC) AS rn \
              FROM reports r WHERE org_id = $1 AND asset_id = $2 AND status = 'COMPLETED') latest \
            WHERE rn = 1 ORDER BY tool";
        let rows = self.db.query(SQL, &params![org.as_str(), asset.as_str()]).await?;
        rows.iter().map(crate::reports::report_row).collect()
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

    /// The org's default scan interval, minutes.
    pub async fn org_monitor_interval(&self, org: &OrgId) -> Result<Option<i64>> {
        let row = self
            .db
            .query_opt("SELECT monitor_interval_minutes FROM orgs WHERE id = $1", &params![org.as_str()])
            .await?;
        row.map(|r| r.i64(0)).transpose()
    }

    pub async fn set_org_monitor_interval(&self, org: &OrgId, minutes: i64) -> Result<bool> {
        const SQL: &str = "UPDATE orgs SET monitor_interval_minutes = $2 WHERE id = $1";
        Ok(self.db.execute(SQL, &params![org.as_str(), minutes]).await? == 1)
    }
}

impl Store {
    /// Whether `user` takes alert e-mail in `org`; `None` if not a member.
    pub async fn member_notify(&self, org: &OrgId, user: &tlink_domain::UserId) -> Result<Option<bool>> {
        const SQL: &str = "SELECT notify_email FROM memberships WHERE org_id = $1 AND user_id = $2";
        let row = self.db.query_opt(SQL, &params![org.as_str(), user.as_str()]).await?;
        row.map(|r| r.bool(0)).transpose()
    }

    /// Turns alert e-mail on or off for `user` in `org`; false if not a member.
    pub async fn set_member_notify(&self, org: &OrgId, user: &tlink_domain::UserId, on: bool) -> Result<bool> {
        const SQL: &str = "UPDATE memberships SET notify_email = $3 WHERE org_id = $1 AND user_id = $2";
        Ok(self.db.execute(SQL, &params![org.as_str(), user.as_str(), on]).await? == 1)
    }
}
