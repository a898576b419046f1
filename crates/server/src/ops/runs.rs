//! Tool runs: queueing one (the report and its job in one transaction; a worker runs it), and queueing a
//! scan of an asset now with every tool of its type. Handlers never run a tool.

use tlink_domain::{AssetId, AssetRef, ReportId, Target, ToolKey};
use tlink_store::{NewReport, Quota, Refused, ReportOrigin, ReportStatus};
use tlink_tools::{RunOptions, ToolError};

use super::{FieldError, Member, OpError, OpResult};
use crate::AppState;
use crate::jobs::tool::ToolJob;

/// A tool run as asked for, before it is checked.
#[derive(Debug, Clone, Default)]
pub struct RunRequest {
    /// A tool key (`dns`, `ssl`, …).
    pub tool: String,
    /// What to run against; optional when `asset` is given.
    pub target: Option<String>,
    /// The id of an asset of the organization to link the report to.
    pub asset: Option<String>,
    pub options: RunOptions,
}

/// A queued run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedRun {
    pub report_id: ReportId,
    pub tool: ToolKey,
    pub status: ReportStatus,
}

/// A queued scan of an asset: one report per tool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueuedScan {
    pub report_ids: Vec<ReportId>,
    pub tools: Vec<ToolKey>,
}

/// The refusal of runs the store would not write.
fn refused(refused: Refused, quota: &Quota) -> OpError {
    match refused {
        Refused::NoAsset => OpError::field("assetId", "no asset with this id in this organization"),
        Refused::Quota => OpError::QuotaExhausted {
            limit: quota.limit.unwrap_or(0),
            resets_at: tlink_domain::usage_month(tlink_store::now_millis()).1,
        },
    }
}

fn check_options(tool: ToolKey, options: &RunOptions) -> OpResult<()> {
    if options.ports.is_some() && tool != ToolKey::Exposure {
        return Err(OpError::field("options.ports", "only the exposure tool takes ports"));
    }
    if options.port.is_some() && tool != ToolKey::Ssl {
        return Err(OpError::field("options.port", "only the ssl tool takes a port"));
    }
    if options.port == Some(0) {
        return Err(OpError::field("options.port", "must be 1-65535"));
    }
    if let Some(spec) = &options.ports {
        tlink_tools::exposure::parse_port_spec(spec).map_err(|e| match e {
            ToolError::InvalidInput(m) => OpError::field("options.ports", m),
            other => OpError::field("options.ports", other.to_string()),
        })?;
    }
    Ok(())
}

/// Queues a tool run in the member's organization: the tool, the target parsed for it (or the asset's
/// value), the options checked; then the report, its job and the quota reservation in one transaction.
pub async fn queue_tool_run(state: &AppState, member: &Member, req: RunRequest) -> OpResult<QueuedRun> {
    member.require_write()?;
    let Some(tool) = ToolKey::parse(req.tool.trim()) else {
        let keys: Vec<&str> = ToolKey::ALL.iter().map(|k| k.as_str()).collect();
        return Err(OpError::field("toolKey", format!("unknown tool; one of: {}", keys.join(", "))));
    };
    let asset_id = match req.asset.as_deref() {
        None => None,
        Some(raw) => Some(AssetId::parse(raw).map_err(|_| OpError::field("assetId", "must be a UUID"))?),
    };
    let asset = match &asset_id {
        None => None,
        Some(id) => Some(
            state
                .store
                .get_asset(&member.org_id, id)
                .await?
                .ok_or_else(|| OpError::field("assetId", "no asset with this id in this organization"))?,
        ),
    };
    let target = match (req.target.as_deref().map(str::trim).filter(|t| !t.is_empty()), &asset) {
        (None, None) => return Err(OpError::field("target", "is required (or give an assetId)")),
        (Some(raw), _) => Target::parse(tool, raw).map_err(|e| OpError::field("target", e.to_string()))?,
        (None, Some(a)) => {
            let value = tlink_domain::parse(a.kind, &a.value)
                .map_err(|e| OpError::field("assetId", format!("the asset's value is invalid: {e}")))?;
            Target::for_asset(tool, value).map_err(|e| OpError::field("assetId", e.to_string()))?
        }
    };
    if let Some(a) = &asset
        && (a.value != target.value() || a.kind != target.kind())
    {
        return Err(OpError::Invalid(vec![FieldError::new(
            "target",
            format!("must be the asset's value `{}` (or leave it out)", a.value),
        )]));
    }
    check_options(tool, &req.options)?;
    let asset = asset.map(|a| AssetRef { id: a.id, org_id: member.org_id.clone(), kind: a.kind });
    let run = ToolJob { tool, target, options: req.options, asset };
    let new_report =
        run.report(ReportOrigin::Manual, Some(member.user_id.clone()), state.config.worker.max_attempts.max(1));
    let quota = Quota::at(&member.limits, tlink_store::now_millis());
    let report =
        state.store.create_report(&member.org_id, new_report, &quota).await?.map_err(|r| refused(r, &quota))?;
    state.wake.notify();
    metrics::counter!("tlink_tool_runs_queued_total", "tool" => tool.as_str()).increment(1);
    Ok(QueuedRun { report_id: report.id, tool, status: ReportStatus::Queued })
}

/// Queues a scan of one of the organization's assets now, with every tool of its type (as a scheduled scan
/// would, but `MANUAL` and counted against the quota at once).
pub async fn scan_asset_now(state: &AppState, member: &Member, asset_id: &AssetId) -> OpResult<QueuedScan> {
    member.require_write()?;
    let asset = state.store.get_asset(&member.org_id, asset_id).await?.ok_or(OpError::NotFound("asset"))?;
    let asset_ref = AssetRef { id: asset_id.clone(), org_id: member.org_id.clone(), kind: asset.kind };
    let max_attempts = state.config.worker.max_attempts.max(1);
    let reports: Vec<NewReport> =
        ToolJob::scan(state.config.monitoring.scan_tools(asset.kind), &asset_ref, &asset.value)
            .iter()
            .map(|run| run.report(ReportOrigin::Manual, Some(member.user_id.clone()), max_attempts))
            .collect();
    if reports.is_empty() {
        return Err(OpError::Rejected(format!("no tool scans {} assets", asset.kind.as_str())));
    }
    let tools = reports.iter().map(|r| r.tool).collect();
    let quota = Quota::at(&member.limits, tlink_store::now_millis());
    let report_ids = match state.store.create_reports(&member.org_id, &asset.id, &reports, &quota).await? {
        Ok(ids) => ids,
        Err(Refused::NoAsset) => return Err(OpError::NotFound("asset")),
        Err(quota_refusal) => return Err(refused(quota_refusal, &quota)),
    };
    state.wake.notify();
    Ok(QueuedScan { report_ids, tools })
}
