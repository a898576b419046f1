//! Plans and monthly tool-run quotas.
//!
//! Runs are counted per organization and calendar month (UTC) in `tool_usage`, in the same transaction
//! that writes the reports: a reservation statement adds the runs only while the total stays within the
//! quota and stamps the row with a fresh token, and the report inserts that follow are guarded by that
//! token. So a run is counted exactly when its report is written, two nodes cannot both take the last
//! run, and an organization over its quota gets nothing written at all.

use tlink_domain::{OrgId, Plan, PlanLimits};

use crate::db::Stmt;
use crate::{DbError, Result, Store, Value, params};

/// The quota a batch of runs is counted against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quota {
    /// `YYYY-MM` (UTC), see [`tlink_domain::usage_month`].
    pub month: String,
    /// Runs allowed this month; `None` means unlimited (runs are still counted).
    pub limit: Option<u64>,
}

impl Quota {
    /// The quota of `limits` for the month holding `now` (Unix milliseconds).
    pub fn at(limits: &PlanLimits, now: i64) -> Quota {
        Quota { month: tlink_domain::usage_month(now).0, limit: limits.tool_runs_per_month() }
    }

    fn limit_param(&self) -> i64 {
        self.limit.map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX))
    }
}

/// Why runs were not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// The asset named is not in the organization.
    NoAsset,
    /// The month's quota would be exceeded.
    Quota,
}

/// One organization's use of one month.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Usage {
    /// Tool runs counted (manual, monitor-now and scheduled).
    pub runs: u64,
    /// Scheduled runs skipped because the quota was used up.
    pub skipped: u64,
}

/// Creates the month's usage row if missing (the reservation below only updates).
pub(crate) fn ensure_stmt(org: &OrgId, quota: &Quota) -> Stmt {
    const SQL: &str = "INSERT INTO tool_usage (org_id, month, runs, skipped) VALUES ($1, $2, 0, 0) \
        ON CONFLICT (org_id, month) DO NOTHING";
    Stmt::new(SQL, params![org.as_str(), quota.month.as_str()])
}

/// Counts `runs` under `token` if the quota allows and `condition` (SQL over `$6`, `$7`) holds; updates
/// no row otherwise.
pub(crate) fn reserve_stmt(
    sql: &'static str,
    org: &OrgId,
    quota: &Quota,
    runs: usize,
    token: &str,
    condition: [Value; 2],
) -> Stmt {
    let mut p = Vec::from(params![
        org.as_str(),
        quota.month.as_str(),
        i64::try_from(runs).unwrap_or(i64::MAX),
        token,
        quota.limit_param()
    ]);
    p.extend(condition);
    Stmt::new(sql, p)
}

/// Takes one run off an org's count for a month, guarded like every finishing statement (`$3` the job,
/// still locked by worker `$4`).
pub(crate) fn uncount_stmt(org: &str, month: &str, job: &str, worker: &str) -> Stmt {
    const SQL: &str = "UPDATE tool_usage SET runs = runs - 1 WHERE org_id = $1 AND month = $2 AND runs > 0 \
        AND EXISTS (SELECT 1 FROM jobs WHERE id = $3 AND locked_by = $4)";
    Stmt::new(SQL, params![org, month, job, worker])
}

/// Reservation for runs that name an asset of the org (`$6` the org again, `$7` the asset id or NULL).
pub(crate) const RESERVE_FOR_ASSET: &str = "UPDATE tool_usage SET runs = runs + $3, reservation = $4 \
    WHERE org_id = $1 AND month = $2 AND ($5 < 0 OR runs + $3 <= $5) \
    AND (CAST($7 AS TEXT) IS NULL OR EXISTS (SELECT 1 FROM assets WHERE org_id = $6 AND id = $7))";

/// Reservation for a scheduled scan (`$6` the asset, `$7` the scheduler's scan token, equal to `$4`).
pub(crate) const RESERVE_FOR_SCAN: &str = "UPDATE tool_usage SET runs = runs + $3, reservation = $4 \
    WHERE org_id = $1 AND month = $2 AND ($5 < 0 OR runs + $3 <= $5) \
    AND EXISTS (SELECT 1 FROM assets WHERE id = $6 AND scan_token = $7)";

impl Store {
    /// The organization's plan and custom limits; `None` if there is no such organization.
    pub async fn org_limits(&self, org: &OrgId) -> Result<Option<PlanLimits>> {
        const SQL: &str = "SELECT plan, requests_per_minute, tool_runs_per_month FROM orgs WHERE id = $1";
        let row = self.db.query_opt(SQL, &params![org.as_str()]).await?;
        row.map(|r| limits_from(r.text(0)?, r.opt_i64(1)?, r.opt_i64(2)?)).transpose()
    }

    /// Changes the plan and its custom limits; false if there is no such organization.
    pub async fn set_org_limits(&self, org: &OrgId, limits: &PlanLimits) -> Result<bool> {
        const SQL: &str = "UPDATE orgs SET plan = $2, requests_per_minute = $3, tool_runs_per_month = $4 WHERE id = $1";
        let rpm = limits.custom_requests_per_minute.map(i64::from);
        let runs = limits.custom_tool_runs_per_month.map(|n| i64::try_from(n).unwrap_or(i64::MAX));
        let n = self.db.execute(SQL, &params![org.as_str(), limits.plan.as_str(), rpm, runs]).await?;
        self.keys.invalidate();
        Ok(n == 1)
    }

    /// Tool runs counted for `org` in `month` (`YYYY-MM`).
    pub async fn usage(&self, org: &OrgId, month: &str) -> Result<Usage> {
        const SQL: &str = "SELECT runs, skipped FROM tool_usage WHERE org_id = $1 AND month = $2";
        let row = self.db.query_opt(SQL, &params![org.as_str(), month]).await?;
        let Some(r) = row else { return Ok(Usage::default()) };
        let count = |v: i64| u64::try_from(v).unwrap_or(0);
        Ok(Usage { runs: count(r.i64(0)?), skipped: count(r.i64(1)?) })
    }

    /// Whether `org` has an asset with this id (to tell a refused batch's reason).
    pub(crate) async fn asset_exists(&self, org: &OrgId, asset: &str) -> Result<bool> {
        const SQL: &str = "SELECT 1 FROM assets WHERE org_id = $1 AND id = $2";
        Ok(self.db.query_opt(SQL, &params![org.as_str(), asset]).await?.is_some())
    }
}

/// A stored plan name; a name this build does not know is an error, never a guess.
pub(crate) fn stored_plan(s: &str) -> Result<Plan> {
    s.parse().map_err(|_| DbError::Unknown { what: "plan", value: s.to_string() })
}

pub(crate) fn limits_from(plan: String, rpm: Option<i64>, runs: Option<i64>) -> Result<PlanLimits> {
    Ok(PlanLimits {
        plan: stored_plan(&plan)?,
        custom_requests_per_minute: rpm.and_then(|n| u32::try_from(n).ok()),
        custom_tool_runs_per_month: runs.and_then(|n| u64::try_from(n).ok()),
    })
}
