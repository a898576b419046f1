//! Assets: create (parsed and normalised per type), list with filters, read, patch, delete.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Deserializer, Serialize};
use tlink_domain::{AssetId, AssetType, HashKind, format_millis};
use tlink_store::{AssetFilter, AssetRow};
use utoipa::ToSchema;

use crate::AppState;
use crate::http::auth::OrgCaller;
use crate::http::error::{ApiError, ApiResult, Envelope, ErrorBody, created, list, ok};
use crate::http::extract::{ApiJson, QueryMap, path_id};
use crate::http::pagination;

const MAX_Q: usize = 200;

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssetOut {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: AssetType,
    /// The normalised value (e.g. lower-case ASCII domain, canonical IP).
    pub value: String,
    /// For HASH assets: which digest the value is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash_kind: Option<HashKind>,
    pub label: Option<String>,
    pub is_monitored: bool,
    /// This asset's scan interval; `null` uses the organization's default.
    pub monitor_interval_minutes: Option<i64>,
    /// When the next scheduled scan is queued (monitored assets only).
    pub next_scan_at: Option<String>,
    /// When a scan of this asset last completed.
    pub last_scanned_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl From<AssetRow> for AssetOut {
    fn from(a: AssetRow) -> Self {
        AssetOut {
            id: a.id.to_string(),
            kind: a.kind,
            value: a.value,
            hash_kind: a.hash_kind,
            label: a.label,
            is_monitored: a.is_monitored,
            monitor_interval_minutes: a.monitor_interval_minutes,
            next_scan_at: a.next_scan_at.map(format_millis),
            last_scanned_at: a.last_scanned_at.map(format_millis),
            created_at: format_millis(a.created_at),
            updated_at: format_millis(a.updated_at),
        }
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AssetDetail {
    #[serde(flatten)]
    pub asset: AssetOut,
    /// The latest completed result of each tool run against this asset, keyed by tool:
    /// `{reportId, finishedAt, result}`.
    pub latest_results: BTreeMap<String, LatestResult>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct LatestResult {
    pub report_id: String,
    pub finished_at: Option<String>,
    #[schema(value_type = Object)]
    pub result: serde_json::Value,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ScanQueued {
    /// One report per tool of the asset's type (see the monitoring matrix in docs/monitoring.md).
    pub report_ids: Vec<String>,
    pub tools: Vec<String>,
    pub status: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateAsset {
    #[serde(rename = "type")]
    pub kind: AssetType,
    pub value: String,
    pub label: Option<String>,
    #[serde(default)]
    pub is_monitored: bool,
    /// Scan interval for this asset (minutes); absent uses the organization's default (24 h unless changed).
    pub monitor_interval_minutes: Option<i64>,
}

/// `label` may be a string, `null` (clear it) or absent (keep it).
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateAsset {
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub label: Option<Option<String>>,
    pub is_monitored: Option<bool>,
    /// Minutes between scheduled scans; `null` returns to the organization's default.
    #[serde(default, deserialize_with = "present_i64")]
    #[schema(value_type = Option<i64>)]
    pub monitor_interval_minutes: Option<Option<i64>>,
}

fn present_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<i64>>, D::Error> {
    Option::<i64>::deserialize(d).map(Some)
}

/// Distinguishes an explicit `null` from an absent field.
fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

#[derive(Serialize, ToSchema)]
pub struct Deleted {
    pub id: String,
    pub deleted: bool,
}

/// The list filters, for the `OpenAPI` document.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct AssetListQuery {
    /// Only assets of this type.
    #[param(rename = "type")]
    kind: Option<AssetType>,
    /// Only monitored (`true`) or unmonitored (`false`) assets.
    #[param(rename = "isMonitored")]
    is_monitored: Option<bool>,
    /// Case-insensitive text in the value or the label.
    q: Option<String>,
}

fn asset_id(raw: &str) -> ApiResult<AssetId> {
    path_id("assetId", raw, AssetId::parse)
}

/// List the organization's assets, newest first.
#[utoipa::path(get, path = "/api/orgs/{orgId}/assets", tag = "assets", security(("bearer" = []), ("apiKey" = []), ("hawk" = [])),
    params(("orgId" = String, Path), AssetListQuery, crate::http::pagination::ListQueryDoc),
    responses((status = 200, body = Envelope<Vec<AssetOut>>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_assets(State(state): State<AppState>, caller: OrgCaller, q: QueryMap) -> ApiResult<Response> {
    let mut errors = Vec::new();
    let kind = q.parse::<AssetType>("type").map_err(|e| errors.push(e)).ok().flatten();
    let is_monitored = q.bool("isMonitored").map_err(|e| errors.push(e)).ok().flatten();
    let text = q.get("q").map(str::trim).filter(|s| !s.is_empty()).map(str::to_string);
    if text.as_ref().is_some_and(|t| t.chars().count() > MAX_Q) {
        errors.push(ApiError::field("q", format!("must be at most {MAX_Q} characters")));
    }
    if let Some(first) = errors.into_iter().next() {
        return Err(first);
    }
    let params = pagination::parse(
        &q,
        &state.keys.cursor_key,
        &format!("assets:{}", caller.org_id),
        &[("type", kind.map(|k| k.as_str())), ("isMonitored", q.get("isMonitored")), ("q", text.as_deref())],
    )?;
    let filter = AssetFilter { kind, is_monitored, q: text };
    let page = state.store.list_assets(&caller.org_id, &filter, &params.page).await?;
    let token = params.token(page.next);
    Ok(list(page.items.into_iter().map(AssetOut::from).collect(), params.page.limit, token))
}

/// Create an asset. The value is checked and normalised for its type; a duplicate is a 409.
#[utoipa::path(post, path = "/api/orgs/{orgId}/assets", tag = "assets", request_body = CreateAsset,
    security(("bearer" = []), ("apiKey" = []), ("hawk" = [])), params(("orgId" = String, Path)),
    responses((status = 201, body = Envelope<AssetOut>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "Same type and value already exist")))]
pub async fn create_asset(
    State(state): State<AppState>,
    caller: OrgCaller,
    ApiJson(req): ApiJson<CreateAsset>,
) -> ApiResult<Response> {
    let input = crate::ops::assets::AssetInput {
        kind: req.kind,
        value: req.value,
        label: req.label,
        is_monitored: req.is_monitored,
        monitor_interval_minutes: req.monitor_interval_minutes,
    };
    let row = crate::ops::assets::create_asset(&state, &caller.member(), input).await?;
    Ok(created(AssetOut::from(row)))
}

/// One asset with its latest scan results.
#[utoipa::path(get, path = "/api/orgs/{orgId}/assets/{assetId}", tag = "assets", security(("bearer" = []), ("apiKey" = []), ("hawk" = [])),
    params(("orgId" = String, Path), ("assetId" = String, Path)),
    responses((status = 200, body = Envelope<AssetDetail>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_asset(
    State(state): State<AppState>,
    caller: OrgCaller,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let id = asset_id(&id)?;
    let (row, latest) =
        state.store.asset_detail(&caller.org_id, &id).await?.ok_or_else(|| ApiError::not_found("asset"))?;
    let latest_results = latest
        .into_iter()
        .map(|r| {
            let result = tlink_store::decode_json_opt("reports", r.id.as_str(), "result", r.result.as_deref())?
                .unwrap_or_default();
            let finished_at = r.finished_at.map(format_millis);
            Ok((r.tool.as_str().to_string(), LatestResult { report_id: r.id.to_string(), finished_at, result }))
        })
        .collect::<Result<_, tlink_store::DbError>>()?;
    Ok(ok(AssetDetail { asset: row.into(), latest_results }))
}

/// Change an asset's label or monitoring.
#[utoipa::path(patch, path = "/api/orgs/{orgId}/assets/{assetId}", tag = "assets", request_body = UpdateAsset,
    security(("bearer" = []), ("apiKey" = []), ("hawk" = [])), params(("orgId" = String, Path), ("assetId" = String, Path)),
    responses((status = 200, body = Envelope<AssetOut>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_asset(
    State(state): State<AppState>,
    caller: OrgCaller,
    Path((_, id)): Path<(String, String)>,
    ApiJson(req): ApiJson<UpdateAsset>,
) -> ApiResult<Response> {
    let id = asset_id(&id)?;
    let change = crate::ops::assets::AssetChange {
        label: req.label,
        is_monitored: req.is_monitored,
        monitor_interval_minutes: req.monitor_interval_minutes,
    };
    let row = crate::ops::assets::update_asset(&state, &caller.member(), &id, change).await?;
    Ok(ok(AssetOut::from(row)))
}

/// Delete an asset.
#[utoipa::path(delete, path = "/api/orgs/{orgId}/assets/{assetId}", tag = "assets", security(("bearer" = []), ("apiKey" = []), ("hawk" = [])),
    params(("orgId" = String, Path), ("assetId" = String, Path)),
    responses((status = 200, body = Envelope<Deleted>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_asset(
    State(state): State<AppState>,
    caller: OrgCaller,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let id = asset_id(&id)?;
    crate::ops::assets::delete_asset(&state, &caller.member(), &id).await?;
    Ok(ok(Deleted { id: id.to_string(), deleted: true }))
}

/// Queue an immediate scan of the asset with every tool of its type; answers 202 with the report ids.
/// The results update `latestResults` and are checked against the alert rules like scheduled scans.
#[utoipa::path(post, path = "/api/orgs/{orgId}/assets/{assetId}/monitor-now", tag = "assets", security(("bearer" = []), ("apiKey" = []), ("hawk" = [])),
    params(("orgId" = String, Path), ("assetId" = String, Path)),
    responses((status = 202, body = Envelope<ScanQueued>), (status = 400, body = ErrorBody, description = "No tool scans this asset type"),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn monitor_now(
    State(state): State<AppState>,
    caller: OrgCaller,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let id = asset_id(&id)?;
    let scan = crate::ops::runs::scan_asset_now(&state, &caller.member(), &id).await?;
    let body = Envelope {
        success: true,
        data: ScanQueued {
            report_ids: scan.report_ids.iter().map(|i| i.to_string()).collect(),
            tools: scan.tools.iter().map(|t| t.as_str().to_string()).collect(),
            status: "QUEUED".into(),
        },
        meta: None,
    };
    Ok((axum::http::StatusCode::ACCEPTED, axum::Json(body)).into_response())
}
