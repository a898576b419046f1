//! Continuous monitoring: which assets are due, and queueing their scans exactly once per interval.
//!
//! A monitored asset carries `next_scan_at` (NULL when it is not monitored); the partial index `assets_due`
//! holds only those rows, so a scheduler tick reads the due ones in order without scanning the table. Any
//! number of processes may run the scheduler: each claims an asset with a compare-and-set on
//! `next_scan_at` that also writes a fresh `scan_token`, and the scan's reports and jobs are inserted in the
//! same transaction only under that token — the loser of a race inserts nothing.

use tlink_domain::{AssetId, AssetType, OrgId, ReportId};

use crate::db::{Row, Stmt, now_millis};
use crate::reports::{self, NewReport};
use crate::usage::{Quota, RESERVE_FOR_SCAN, ensure_stmt, reserve_stmt};
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

/// The columns [`DueAsset::from_row`] reads, in its order (`a` the asset, `o` its org).
macro_rules! due_columns {
    () => {
        "a.id, a.org_id, a.type, a.value, a.next_scan_at, \
         COALESCE(a.monitor_interval_minutes, o.monitor_interval_minutes), \
         o.plan, o.requests_per_minute, o.tool_runs_per_month"
    };
}

impl DueAsset {
    fn from_row(r: &Row) -> Result<DueAsset> {
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
}

impl Store {
    /// Up to `limit` monitored assets due at `now`, most overdue first.
    pub async fn due_assets(&self, now: i64, limit: u32) -> Result<Vec<DueAsset>> {
        const SQL: &str = concat!(
            "SELECT ",
            due_columns!(),
            " FROM assets a JOIN orgs o ON o.id = a.org_id WHERE a.next_scan_at <= $1 ORDER BY a.next_scan_at LIMIT $2"
        );
        self.db.query(SQL, &params![now, i64::from(limit)]).await?.iter().map(DueAsset::from_row).collect()
    }

    /// Queues the given scans in one transaction, each counted against its quota.
    pub async fn schedule_scans(&self, scans: &[ScheduledScan]) -> Result<Vec<ScanOutcome>> {
        // `COALESCE` keeps PostgreSQL's generic plan on the primary key: with a bare `next_scan_at = $2` it may
        // pick `assets_due` and walk every asset due at the same instant for each claim.
        const CLAIM: &str = "UPDATE assets SET next_scan_at = $3, scan_token = $4 \
            WHERE id = $1 AND COALESCE(next_scan_at, 0) = $2 AND is_monitored = $5";
        // Reports and jobs go in under the usage reservation made with the claim's token, so they exist only
        // if this scheduler claimed the asset and the quota allowed the runs; claimed but not reserved means
        // over the quota, and each tool's run is recorded as skipped instead.
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
                stmts.push(reports::insert_reserved_stmt(&id, &s.org_id, r, now, &token));
                stmts.push(reports::scheduled_job_stmt(&id, r, now, &s.org_id, &token));
                ids.push(id);
                let skip_id = ReportId::new();
                stmts.push(reports::insert_skipped_stmt(&skip_id, &s.org_id, r, now, &token, &s.asset_id));
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
