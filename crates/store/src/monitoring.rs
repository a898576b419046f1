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
}

/// One asset's scan to queue: move `next_scan_at` from `expected` to `next` and create `reports`.
#[derive(Debug, Clone)]
pub struct ScheduledScan {
    pub asset_id: AssetId,
    pub org_id: OrgId,
    pub expected: i64,
    pub next: i64,
    pub reports: Vec<NewReport>,
}

fn due_row(r: &Row) -> Result<DueAsset> {
    Ok(DueAsset {
        id: AssetId::from_trusted(r.text(0)?),
        org_id: OrgId::from_trusted(r.text(1)?),
        kind: r.text(2)?.parse().map_err(|_| DbError::Decode { index: 2, expected: "asset type" })?,
        value: r.text(3)?,
        next_scan_at: r.i64(4)?,
        interval_minutes: r.i64(5)?,
    })
}

/// The INSERT of a report row, guarded by a condition the caller appends as the last parameters.
pub(crate) fn report_insert(
    sql: &'static str,
    id: &ReportId,
    org: &OrgId,
    new: &NewReport,
    now: i64,
    guard: [crate::Value; 2],
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
            COALESCE(a.monitor_interval_minutes, o.monitor_interval_minutes) \
            FROM assets a JOIN orgs o ON o.id = a.org_id \
            WHERE a.next_scan_at <= $1 ORDER BY a.next_scan_at LIMIT $2";
        self.db.query(SQL, &params![now, i64::from(limit)]).await?.iter().map(due_row).collect()
    }

    /// Queues the given scans in one transaction; returns the ids of the reports created, per scan (empty
    /// for an asset another scheduler claimed first, or that stopped being monitored).
    pub async fn schedule_scans(&self, scans: &[ScheduledScan]) -> Result<Vec<Vec<ReportId>>> {
        // `COALESCE` keeps PostgreSQL's generic plan on the primary key: with a bare `next_scan_at = $2` it may
        // pick `assets_due` and walk every asset due at the same instant for each claim.
        const CLAIM: &str = "UPDATE assets SET next_scan_at = $3, scan_token = $4 \
            WHERE id = $1 AND COALESCE(next_scan_at, 0) = $2 AND is_monitored = $5";
        const REPORT: &str = "INSERT INTO reports (id, org_id, tool, target, target_type, asset_id, options, origin, \
            requested_by, status, attempts, created_at, updated_at) \
            SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, 'QUEUED', 0, $10, $10 \
            WHERE EXISTS (SELECT 1 FROM assets WHERE id = $11 AND scan_token = $12)";
        const JOB: &str = "INSERT INTO jobs (id, kind, payload, status, priority, run_at, attempts, max_attempts, \
            created_at, updated_at) SELECT $1, $2, $3, 'queued', 0, $4, 0, $5, $4, $4 \
            WHERE EXISTS (SELECT 1 FROM assets WHERE id = $6 AND scan_token = $7)";
        if scans.is_empty() {
            return Ok(Vec::new());
        }
        let now = now_millis();
        let mut stmts = Vec::new();
        let mut plan = Vec::with_capacity(scans.len());
        for s in scans {
            let token = uuid::Uuid::now_v7().to_string();
            let claim_at = stmts.len();
            stmts.push(Stmt::new(CLAIM, params![s.asset_id.as_str(), s.expected, s.next, token.as_str(), true]));
            let mut ids = Vec::with_capacity(s.reports.len());
            for r in &s.reports {
                let id = ReportId::new();
                let guard = params![s.asset_id.as_str(), token.as_str()];
                stmts.push(report_insert(REPORT, &id, &s.org_id, r, now, guard));
                // Guarded by the same token (not by the report's existence: a burst of reports into a table
                // the planner still believes empty must not turn each check into a scan).
                stmts.push(Stmt::new(
                    JOB,
                    params![
                        id.as_str(),
                        TOOL_JOB,
                        r.payload.as_str(),
                        now,
                        r.max_attempts,
                        s.asset_id.as_str(),
                        token.as_str()
                    ],
                ));
                ids.push(id);
            }
            plan.push((claim_at, ids));
        }
        let counts = self.db.transaction(stmts).await?;
        Ok(plan.into_iter().map(|(at, ids)| if counts[at] == 1 { ids } else { Vec::new() }).collect())
    }

    /// Creates several reports with their jobs in one transaction (e.g. "monitor now"); `None` if the
    /// asset they name is not in `org` (then nothing is written).
    pub async fn create_reports(&self, org: &OrgId, reports: &[NewReport]) -> Result<Option<Vec<ReportId>>> {
        const SQL: &str = "INSERT INTO reports (id, org_id, tool, target, target_type, asset_id, options, origin, \
            requested_by, status, attempts, created_at, updated_at) \
            SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, 'QUEUED', 0, $10, $10 \
            WHERE EXISTS (SELECT 1 FROM assets WHERE org_id = $11 AND id = $12)";
        let now = now_millis();
        let mut stmts = Vec::with_capacity(reports.len() * 2);
        let mut ids = Vec::with_capacity(reports.len());
        for r in reports {
            let id = ReportId::new();
            let asset = r.asset_id.as_ref().map(|a| a.as_str().to_string()).unwrap_or_default();
            stmts.push(report_insert(SQL, &id, org, r, now, params![org.as_str(), asset]));
            stmts.push(report_job(&id, r, now));
            ids.push(id);
        }
        let counts = self.db.transaction(stmts).await?;
        // Every insert checks the same asset in one transaction: all went in, or none did.
        if counts.first() != Some(&1) {
            return Ok(None);
        }
        Ok(Some(ids))
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

    /// The result of the COMPLETED report of `tool` on `asset` created just before report `before`.
    pub async fn previous_result(&self, asset: &AssetId, tool: &str, before: &str) -> Result<Option<String>> {
        const SQL: &str = "SELECT result FROM reports WHERE asset_id = $1 AND tool = $2 AND status = 'COMPLETED' \
            AND (created_at, id) < (SELECT created_at, id FROM reports WHERE id = $3) \
            ORDER BY created_at DESC, id DESC LIMIT 1";
        let row = self.db.query_opt(SQL, &params![asset.as_str(), tool, before]).await?;
        row.map_or(Ok(None), |r| r.opt_text(0))
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
