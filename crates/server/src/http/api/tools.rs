//! The tool runner: the catalogue, queueing a run (202, never run in the handler), and reports.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tlink_domain::{AssetId, AssetType, ReportId, format_millis};
use tlink_store::{ReportFilter, ReportRow, ReportStatus};
use tlink_tools::{ResultSchema, RunOptions, ToolKey};
use utoipa::ToSchema;

use crate::AppState;
use crate::http::auth::{Caller, OrgCaller};
use crate::http::error::{ApiError, ApiResult, Envelope, ErrorBody, FieldError, list, ok};
use crate::http::extract::{ApiJson, QueryMap, path_id};
use crate::http::pagination;
use crate::ops::runs::RunRequest;

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolInfo {
    /// The `toolKey` to run it with.
    pub key: ToolKey,
    pub description: &'static str,
    /// Asset types accepted as a target, in the order a bare target string is tried.
    pub target_types: Vec<AssetType>,
    /// JSON Schema (2020-12) of the report's `result`; alert rules address its fields with dotted paths.
    #[schema(value_type = Object)]
    pub result_schema: serde_json::Value,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RunTool {
    /// One of the keys of `GET /api/tools`.
    pub tool_key: String,
    /// What to run against; it must fit the tool (see `targetTypes`). Optional when `assetId` is given: the
    /// asset's value is used. The `ssl` tool also takes `host:port`.
    pub target: Option<String>,
    /// Links the report to an asset of this organization (its `latestResults`, alert rules).
    pub asset_id: Option<String>,
    /// Tool options: `ports` for `exposure` (`"22,80,443"`, `"1-1024"`, `"top100"`, `"all"`), `port` for `ssl`.
    #[serde(default)]
    pub options: Option<RunOptions>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RunQueued {
    pub report_id: String,
    /// Always `QUEUED`: the run happens in a worker; poll the report.
    pub status: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReportOut {
    pub id: String,
    pub tool_key: String,
    pub target: String,
    pub target_type: String,
    pub asset_id: Option<String>,
    #[schema(value_type = Object)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub options: Option<serde_json::Value>,
    /// `MANUAL` or `SCHEDULED`.
    pub origin: String,
    pub requested_by: Option<String>,
    /// `QUEUED`, `RUNNING`, `COMPLETED` or `FAILED`.
    pub status: String,
    /// Attempts so far (a failed attempt that may pass is retried with backoff).
    pub attempts: i64,
    /// Why the run failed (FAILED), or why the last attempt failed (QUEUED for a retry).
    pub error: Option<String>,
    pub created_at: String,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    /// Run time in milliseconds, once finished.
    pub duration_ms: Option<i64>,
    /// The tool's result (COMPLETED only; omitted in lists). Its shape is the tool's `resultSchema`.
    #[schema(value_type = Object)]
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
}

impl ReportOut {
    /// The wire form of a report; a stored `options` or `result` that does not decode is an error.
    fn new(r: ReportRow, with_result: bool) -> Result<ReportOut, tlink_store::DbError> {
        let id = r.id.to_string();
        let parse = |column, s: Option<String>| {
            tlink_store::decode_json_opt::<serde_json::Value>("reports", &id, column, s.as_deref())
        };
        Ok(ReportOut {
            id: r.id.to_string(),
            tool_key: r.tool.as_str().to_string(),
            target: r.target,
            target_type: r.target_type.as_str().to_string(),
            asset_id: r.asset_id.map(|a| a.to_string()),
            options: parse("options", r.options)?,
            origin: r.origin.as_str().to_string(),
            requested_by: r.requested_by.map(|u| u.to_string()),
            status: r.status.as_str().to_string(),
            attempts: r.attempts,
            error: r.error,
            created_at: format_millis(r.created_at),
            started_at: r.started_at.map(format_millis),
            finished_at: r.finished_at.map(format_millis),
            duration_ms: match (r.started_at, r.finished_at) {
                (Some(s), Some(f)) => Some(f - s),
                _ => None,
            },
            result: if with_result { parse("result", r.result)?.filter(|v| !v.is_null()) } else { None },
        })
    }
}

/// The tools, the targets each accepts, and the schema of each result.
#[utoipa::path(get, path = "/api/tools", tag = "tools", security(("bearer" = []), ("apiKey" = []), ("hawk" = [])),
    responses((status = 200, body = Envelope<Vec<ToolInfo>>), (status = 401, body = ErrorBody)))]
pub async fn list_tools(_caller: Caller) -> ApiResult<Response> {
    let tools: Vec<ToolInfo> = ToolKey::ALL
        .iter()
        .map(|&k| ToolInfo {
            key: k,
            description: k.description(),
            target_types: k.accepts().to_vec(),
            result_schema: k.result_schema(),
        })
        .collect();
    Ok(ok(tools))
}

/// Queue a tool run. Answers 202 at once with the report id; a worker runs the tool and fills the report.
#[utoipa::path(post, path = "/api/orgs/{orgId}/tools/run", tag = "tools", request_body = RunTool,
    security(("bearer" = []), ("apiKey" = []), ("hawk" = [])), params(("orgId" = String, Path)),
    responses((status = 202, body = Envelope<RunQueued>), (status = 400, body = ErrorBody, description = "Unknown tool, a target that does not fit it, an unknown asset"),
        (status = 401, body = ErrorBody), (status = 403, body = ErrorBody, description = "Viewers cannot run tools"), (status = 404, body = ErrorBody)))]
pub async fn run_tool(
    State(state): State<AppState>,
    caller: OrgCaller,
    ApiJson(req): ApiJson<RunTool>,
) -> ApiResult<Response> {
    let run = RunRequest {
        tool: req.tool_key,
        target: req.target,
        asset: req.asset_id,
        options: req.options.unwrap_or_default(),
    };
    let queued = crate::ops::runs::queue_tool_run(&state, &caller.member(), run).await?;
    let body = Envelope {
        success: true,
        data: RunQueued { report_id: queued.report_id.to_string(), status: queued.status.as_str().into() },
        meta: None,
    };
    Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response())
}

/// The report filters, for the `OpenAPI` document.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ReportListQuery {
    /// Only reports of this tool.
    #[param(rename = "toolKey", pattern = "^(dns|whois|ip-reputation|email|exposure|ssl|threat-feed)$")]
    tool_key: Option<String>,
    /// `QUEUED`, `RUNNING`, `COMPLETED` or `FAILED`.
    #[param(pattern = "^(QUEUED|RUNNING|COMPLETED|FAILED)$")]
    status: Option<String>,
    /// Only reports linked to this asset.
    #[param(rename = "assetId")]
    asset_id: Option<String>,
}

/// The organization's reports, newest first (without results; open one report for its result).
#[utoipa::path(get, path = "/api/orgs/{orgId}/tools/reports", tag = "tools", security(("bearer" = []), ("apiKey" = []), ("hawk" = [])),
    params(("orgId" = String, Path), ReportListQuery, crate::http::pagination::ListQueryDoc),
    responses((status = 200, body = Envelope<Vec<ReportOut>>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_reports(State(state): State<AppState>, caller: OrgCaller, q: QueryMap) -> ApiResult<Response> {
    let mut errors = Vec::new();
    let tool = match q.get("toolKey") {
        None => None,
        Some(raw) => match ToolKey::parse(raw) {
            Some(k) => Some(k),
            None => {
                errors.push(FieldError::new("toolKey", "unknown tool"));
                None
            }
        },
    };
    let status = match q.get("status") {
        None => None,
        Some(raw) => match ReportStatus::parse(raw) {
            Some(s) => Some(s),
            None => {
                errors.push(FieldError::new("status", "must be QUEUED, RUNNING, COMPLETED or FAILED"));
                None
            }
        },
    };
    let asset_id = match q.get("assetId") {
        None => None,
        Some(raw) => match AssetId::parse(raw) {
            Ok(a) => Some(a),
            Err(_) => {
                errors.push(FieldError::new("assetId", "must be a UUID"));
                None
            }
        },
    };
    if !errors.is_empty() {
        return Err(ApiError::fields(errors));
    }
    let params = pagination::parse(
        &q,
        &state.keys.cursor_key,
        &format!("reports:{}", caller.org_id),
        &[
            ("toolKey", tool.map(|t| t.as_str())),
            ("status", status.map(|s| s.as_str())),
            ("assetId", asset_id.as_ref().map(|a| a.as_str())),
        ],
    )?;
    let filter = ReportFilter { tool: tool.map(|t| t.as_str().to_string()), status, asset_id };
    let page = state.store.list_reports(&caller.org_id, &filter, &params.page).await?;
    let token = params.token(page.next);
    Ok(list(
        page.items.into_iter().map(|r| ReportOut::new(r, false)).collect::<Result<_, _>>()?,
        params.page.limit,
        token,
    ))
}

/// How long `GET …/reports/{id}?wait=` may hold a request, seconds.
const MAX_WAIT_SECS: u64 = 30;
/// While waiting, how often the report is read again when no in-process signal came (a worker in another
/// process finished it).
const WAIT_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// The report query, for the `OpenAPI` document.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct ReportQuery {
    /// Wait up to this many seconds (at most 30) for the run to finish before answering, instead of polling.
    /// The answer is the report as it is then: COMPLETED or FAILED, or still QUEUED/RUNNING when time ran out.
    #[param(maximum = 30)]
    wait: Option<u64>,
}

/// One report with its status, timings, error and full result.
#[utoipa::path(get, path = "/api/orgs/{orgId}/tools/reports/{reportId}", tag = "tools", security(("bearer" = []), ("apiKey" = []), ("hawk" = [])),
    params(("orgId" = String, Path), ("reportId" = String, Path), ReportQuery),
    responses((status = 200, body = Envelope<ReportOut>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_report(
    State(state): State<AppState>,
    caller: OrgCaller,
    Path((_, id)): Path<(String, String)>,
    q: QueryMap,
) -> ApiResult<Response> {
    let id = path_id("reportId", &id, ReportId::parse)?;
    let wait = match q.parse::<u64>("wait")? {
        Some(w) if w > MAX_WAIT_SECS => {
            return Err(ApiError::field("wait", format!("must be 0 to {MAX_WAIT_SECS} seconds")));
        }
        w => std::time::Duration::from_secs(w.unwrap_or(0)),
    };
    let deadline = tokio::time::Instant::now() + wait;
    let waiter = (!wait.is_zero()).then(|| state.wake.wait_for(id.as_str()));
    loop {
        // Registered before reading, so an outcome recorded between the read and the wait is not missed.
        let notified = waiter.as_ref().map(|w| w.notified());
        // Once this process's worker recorded the outcome, the report it committed is at hand: no read.
        // Anyone may wait on any id, so the report is used only if it is the caller's org's.
        let handed = waiter.as_ref().and_then(|w| w.finished_report()).filter(|r| r.org_id == caller.org_id);
        let row = match handed {
            Some(row) => Arc::unwrap_or_clone(row),
            None => state.store.get_report(&caller.org_id, &id).await?.ok_or_else(|| ApiError::not_found("report"))?,
        };
        let done = matches!(row.status, ReportStatus::Completed | ReportStatus::Failed);
        let now = tokio::time::Instant::now();
        let Some(notified) = notified.filter(|_| !done && now < deadline) else {
            return Ok(ok(ReportOut::new(row, true)?));
        };
        let _ = tokio::time::timeout(deadline.saturating_duration_since(now).min(WAIT_POLL), notified).await;
    }
}
