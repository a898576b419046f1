//! Alerts (rules that matched an asset's scan), their status lifecycle, and their notification deliveries.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tlink_domain::{AlertId, AssetId, DeliveryId, ReportId, RuleId, format_millis};
use tlink_store::{AlertFilter, AlertRow, DbError, DeliveryRow, decode_json, decode_json_opt};
use utoipa::ToSchema;

use crate::AppState;
use crate::http::auth::OrgCaller;
use crate::http::error::{ApiError, ApiResult, Envelope, ErrorBody, FieldError, list, ok};
use crate::http::extract::{ApiJson, QueryMap, path_id};
use crate::http::pagination;

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertOut {
    pub id: String,
    pub rule_id: String,
    /// The monitored asset, for alerts from monitoring (else `null`).
    pub asset_id: Option<String>,
    /// The host agent, for alerts about one (vulnerability findings; else `null`).
    pub agent_id: Option<String>,
    /// What an agent's alert is about, e.g. `CVE-2023-5363 openssl`.
    pub subject: Option<String>,
    /// `LOW`, `MEDIUM`, `HIGH` or `CRITICAL`.
    pub severity: String,
    /// `OPEN`, `ACKNOWLEDGED` or `RESOLVED`.
    pub status: String,
    /// What matched, e.g. `abuseipdb.abuseConfidenceScore ≥ 75 (actual: 92)`.
    pub message: String,
    /// The value that matched, as found in the result.
    #[schema(value_type = Object)]
    pub actual: serde_json::Value,
    /// The report that raised the alert, and the latest one that matched again (for an agent's alert, the
    /// finding: `vulnerability:{agentId}:{cve}:{package}`).
    pub report_id: String,
    pub last_report_id: String,
    /// How many scans matched while the alert was active.
    pub occurrences: i64,
    pub triggered_at: String,
    pub last_seen_at: String,
    pub status_changed_at: Option<String>,
    pub status_changed_by: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

impl TryFrom<&AlertRow> for AlertOut {
    type Error = DbError;

    /// A stored `actual` that does not decode is an error (NULL is `null`).
    fn try_from(a: &AlertRow) -> Result<Self, DbError> {
        Ok(AlertOut {
            id: a.id.to_string(),
            rule_id: a.rule_id.to_string(),
            asset_id: a.asset_id.as_ref().map(ToString::to_string),
            agent_id: a.agent_id.as_ref().map(ToString::to_string),
            subject: a.subject.clone(),
            severity: a.severity.clone(),
            status: a.status.clone(),
            message: a.message.clone(),
            actual: decode_json_opt("alerts", a.id.as_str(), "actual", a.actual.as_deref())?.unwrap_or_default(),
            report_id: a.report_id.clone(),
            last_report_id: a.last_report_id.clone(),
            occurrences: a.occurrences,
            triggered_at: format_millis(a.triggered_at),
            last_seen_at: format_millis(a.last_seen_at),
            status_changed_at: a.status_changed_at.map(format_millis),
            status_changed_by: a.status_changed_by.as_ref().map(|u| u.to_string()),
            created_at: format_millis(a.created_at),
            updated_at: format_millis(a.updated_at),
        })
    }
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertEventOut {
    pub from_status: String,
    pub to_status: String,
    pub changed_by: Option<String>,
    pub note: Option<String>,
    pub at: String,
}

/// The triggering scan.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TriggerReport {
    pub id: String,
    pub tool_key: String,
    pub target: String,
    pub finished_at: Option<String>,
    #[schema(value_type = Object)]
    pub result: serde_json::Value,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AlertDetail {
    #[serde(flatten)]
    pub alert: AlertOut,
    /// The rule as it was when the alert fired.
    #[schema(value_type = Object)]
    pub rule: serde_json::Value,
    /// The scan that raised the alert, with its full result (absent if it was deleted).
    pub report: Option<TriggerReport>,
    /// Status changes, oldest first.
    pub history: Vec<AlertEventOut>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateAlert {
    /// `ACKNOWLEDGED` (from OPEN), `RESOLVED` (from OPEN or ACKNOWLEDGED) or `OPEN` (reopen a RESOLVED alert).
    pub status: String,
    /// Why, kept in the history.
    pub note: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AttemptOut {
    pub attempt: i64,
    /// `SCHEDULED` or `MANUAL` (a redelivery).
    pub trigger: String,
    pub at: String,
    pub duration_ms: i64,
    /// The receiver's HTTP status (webhooks).
    pub status_code: Option<i64>,
    /// The first KiB of the receiver's answer.
    pub response_excerpt: Option<String>,
    pub error: Option<String>,
    /// `DELIVERED`, `RETRY`, `GONE` (410: webhook disabled), `REFUSED` (egress policy, bad URL) or `FAILED`.
    pub outcome: String,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DeliveryOut {
    /// Also the webhook's `webhook-id` header: the same on every attempt.
    pub id: String,
    pub alert_id: String,
    pub rule_id: String,
    /// `WEBHOOK` or `EMAIL`.
    pub channel: String,
    /// The URL (webhooks), or the recipients (e-mail).
    #[schema(value_type = Object)]
    pub target: serde_json::Value,
    /// `PENDING`, `DELIVERED`, `FAILED` or `NOT_SENT` (e.g. no SMTP server configured).
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Option<String>,
    pub last_error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    /// Every attempt, oldest first.
    pub attempt_log: Vec<AttemptOut>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RedeliveryQueued {
    pub delivery_id: String,
    pub status: String,
}

fn alert_id(raw: &str) -> ApiResult<AlertId> {
    path_id("alertId", raw, AlertId::parse)
}

/// The alert filters, for the `OpenAPI` document.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct AlertListQuery {
    /// `OPEN`, `ACKNOWLEDGED` or `RESOLVED`.
    #[param(pattern = "^(OPEN|ACKNOWLEDGED|RESOLVED)$")]
    status: Option<String>,
    /// `LOW`, `MEDIUM`, `HIGH` or `CRITICAL`.
    #[param(pattern = "^(LOW|MEDIUM|HIGH|CRITICAL)$")]
    severity: Option<String>,
    #[param(rename = "assetId")]
    asset_id: Option<String>,
    #[param(rename = "ruleId")]
    rule_id: Option<String>,
    /// Only alerts about this agent (vulnerability findings).
    #[param(rename = "agentId")]
    agent_id: Option<String>,
}

/// The organization's alerts, newest first.
#[utoipa::path(get, path = "/api/orgs/{orgId}/alerts", tag = "alerts", security(("bearer" = []), ("apiKey" = []), ("hawk" = [])),
    params(("orgId" = String, Path), AlertListQuery, crate::http::pagination::ListQueryDoc),
    responses((status = 200, body = Envelope<Vec<AlertOut>>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_alerts(State(state): State<AppState>, caller: OrgCaller, q: QueryMap) -> ApiResult<Response> {
    let mut errors = Vec::new();
    let upper = |k: &str| q.get(k).map(|s| s.trim().to_ascii_uppercase());
    let status = upper("status");
    if status.as_deref().is_some_and(|s| crate::ops::alerts::AlertStatus::parse(s).is_none()) {
        errors.push(FieldError::new("status", "must be OPEN, ACKNOWLEDGED or RESOLVED"));
    }
    let severity = upper("severity");
    if severity.as_deref().is_some_and(|s| !crate::http::api::rules::SEVERITIES.contains(&s)) {
        errors.push(FieldError::new("severity", "must be LOW, MEDIUM, HIGH or CRITICAL"));
    }
    let asset_id = q.get("assetId").map(AssetId::parse).transpose().unwrap_or_else(|_| {
        errors.push(FieldError::new("assetId", "must be a UUID"));
        None
    });
    let rule_id = q.get("ruleId").map(RuleId::parse).transpose().unwrap_or_else(|_| {
        errors.push(FieldError::new("ruleId", "must be a UUID"));
        None
    });
    let agent_id = q.get("agentId").map(tlink_domain::AgentId::parse).transpose().unwrap_or_else(|_| {
        errors.push(FieldError::new("agentId", "must be a UUID"));
        None
    });
    if !errors.is_empty() {
        return Err(ApiError::fields(errors));
    }
    let params = pagination::parse(
        &q,
        &state.keys.cursor_key,
        &format!("alerts:{}", caller.org_id),
        &[
            ("status", status.as_deref()),
            ("severity", severity.as_deref()),
            ("assetId", asset_id.as_ref().map(|a| a.as_str())),
            ("ruleId", rule_id.as_ref().map(|a| a.as_str())),
            ("agentId", agent_id.as_ref().map(|a| a.as_str())),
        ],
    )?;
    let filter = AlertFilter {
        status: status.into_iter().collect(),
        severity: severity.into_iter().collect(),
        asset_id,
        rule_id,
        agent_id,
    };
    let page = state.store.list_alerts(&caller.org_id, &filter, &params.page).await?;
    let token = params.token(page.next);
    let items = page.items.iter().map(AlertOut::try_from).collect::<Result<_, _>>()?;
    Ok(list(items, params.page.limit, token))
}

async fn detail(state: &AppState, caller: &OrgCaller, a: AlertRow) -> ApiResult<AlertDetail> {
    let report = match ReportId::parse(&a.report_id) {
        Ok(id) => match state.store.get_report(&caller.org_id, &id).await? {
            Some(r) => Some(TriggerReport {
                result: decode_json_opt("reports", r.id.as_str(), "result", r.result.as_deref())?.unwrap_or_default(),
                id: r.id.to_string(),
                tool_key: r.tool.as_str().to_string(),
                target: r.target,
                finished_at: r.finished_at.map(format_millis),
            }),
            None => None,
        },
        Err(_) => None,
    };
    let history = state
        .store
        .alert_events(&a.id)
        .await?
        .into_iter()
        .map(|e| AlertEventOut {
            from_status: e.from_status,
            to_status: e.to_status,
            changed_by: e.changed_by.map(|u| u.to_string()),
            note: e.note,
            at: format_millis(e.created_at),
        })
        .collect();
    Ok(AlertDetail {
        alert: AlertOut::try_from(&a)?,
        rule: decode_json("alerts", a.id.as_str(), "rule", &a.rule)?,
        report,
        history,
    })
}

/// One alert with the rule as it was, the triggering scan's data, and its status history.
#[utoipa::path(get, path = "/api/orgs/{orgId}/alerts/{alertId}", tag = "alerts", security(("bearer" = []), ("apiKey" = []), ("hawk" = [])),
    params(("orgId" = String, Path), ("alertId" = String, Path)),
    responses((status = 200, body = Envelope<AlertDetail>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_alert(
    State(state): State<AppState>,
    caller: OrgCaller,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let id = alert_id(&id)?;
    let a = state.store.get_alert(&caller.org_id, &id).await?.ok_or_else(|| ApiError::not_found("alert"))?;
    Ok(ok(detail(&state, &caller, a).await?))
}

/// Change an alert's status: OPEN → ACKNOWLEDGED → RESOLVED, OPEN → RESOLVED, RESOLVED → OPEN (reopen).
/// Any other change is a 409 that says which changes are possible.
#[utoipa::path(patch, path = "/api/orgs/{orgId}/alerts/{alertId}", tag = "alerts", request_body = UpdateAlert,
    security(("bearer" = []), ("apiKey" = []), ("hawk" = [])), params(("orgId" = String, Path), ("alertId" = String, Path)),
    responses((status = 200, body = Envelope<AlertDetail>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "Not a possible change from the current status")))]
pub async fn update_alert(
    State(state): State<AppState>,
    caller: OrgCaller,
    Path((_, id)): Path<(String, String)>,
    ApiJson(req): ApiJson<UpdateAlert>,
) -> ApiResult<Response> {
    let id = alert_id(&id)?;
    let alert =
        crate::ops::alerts::change_status(&state, &caller.member(), &id, &req.status, req.note.as_deref()).await?;
    Ok(ok(detail(&state, &caller, alert).await?))
}

async fn delivery_out(state: &AppState, d: DeliveryRow) -> ApiResult<DeliveryOut> {
    let attempts = state.store.delivery_attempts(&d.id).await?;
    Ok(DeliveryOut {
        id: d.id.to_string(),
        alert_id: d.alert_id.to_string(),
        rule_id: d.rule_id.to_string(),
        target: if d.channel == "EMAIL" {
            decode_json("deliveries", d.id.as_str(), "target", &d.target)?
        } else {
            serde_json::Value::String(d.target.clone())
        },
        channel: d.channel,
        status: d.status,
        attempts: d.attempts,
        next_attempt_at: d.next_attempt_at.map(format_millis),
        last_error: d.last_error,
        created_at: format_millis(d.created_at),
        updated_at: format_millis(d.updated_at),
        attempt_log: attempts
            .into_iter()
            .map(|(n, a)| AttemptOut {
                attempt: n,
                trigger: a.trigger,
                at: format_millis(a.started_at),
                duration_ms: a.duration_ms,
                status_code: a.status_code,
                response_excerpt: a.response_excerpt,
                error: a.error,
                outcome: a.outcome,
            })
            .collect(),
    })
}

/// The alert's notifications (webhook and e-mail), newest first, each with every attempt.
#[utoipa::path(get, path = "/api/orgs/{orgId}/alerts/{alertId}/deliveries", tag = "alerts", security(("bearer" = []), ("apiKey" = []), ("hawk" = [])),
    params(("orgId" = String, Path), ("alertId" = String, Path), crate::http::pagination::ListQueryDoc),
    responses((status = 200, body = Envelope<Vec<DeliveryOut>>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_deliveries(
    State(state): State<AppState>,
    caller: OrgCaller,
    Path((_, id)): Path<(String, String)>,
    q: QueryMap,
) -> ApiResult<Response> {
    let id = alert_id(&id)?;
    state.store.get_alert(&caller.org_id, &id).await?.ok_or_else(|| ApiError::not_found("alert"))?;
    let params = pagination::parse(&q, &state.keys.cursor_key, &format!("deliveries:{}:{id}", caller.org_id), &[])?;
    let page = state.store.list_deliveries(&caller.org_id, &id, &params.page).await?;
    let token = params.token(page.next);
    let mut out = Vec::with_capacity(page.items.len());
    for d in page.items {
        out.push(delivery_out(&state, d).await?);
    }
    Ok(list(out, params.page.limit, token))
}

/// Send a delivery again now: one attempt, recorded with trigger `MANUAL`, with the same `webhook-id`.
#[utoipa::path(post, path = "/api/orgs/{orgId}/deliveries/{deliveryId}/redeliver", tag = "alerts",
    security(("bearer" = []), ("apiKey" = []), ("hawk" = [])), params(("orgId" = String, Path), ("deliveryId" = String, Path)),
    responses((status = 202, body = Envelope<RedeliveryQueued>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 409, body = ErrorBody, description = "An attempt is running right now")))]
pub async fn redeliver(
    State(state): State<AppState>,
    caller: OrgCaller,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let id = path_id("deliveryId", &id, DeliveryId::parse)?;
    crate::ops::alerts::redeliver(&state, &caller.member(), &id).await?;
    let body = Envelope {
        success: true,
        data: RedeliveryQueued { delivery_id: id.to_string(), status: "PENDING".into() },
        meta: None,
    };
    Ok((StatusCode::ACCEPTED, axum::Json(body)).into_response())
}
