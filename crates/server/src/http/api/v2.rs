//! Threat Stack API v2: the organization's alerts in Threat Stack's shape, under Threat Stack's
//! conventions — Hawk authentication with the organization in `ext`, `{"<collection>": […], "token": …}`
//! pages of at most 100 with a `null` token at the end, `from`/`until` with partial ISO-8601 precision (a
//! partial value names its whole period), and errors as `{"errors": ["…"]}`.
//!
//! These are the same alerts as `/api/orgs/{orgId}/alerts`. Mapping:
//!
//! | Threat Stack | tlink |
//! |---|---|
//! | `severity` 1 / 2 / 3 | `CRITICAL` or `HIGH` / `MEDIUM` / `LOW` |
//! | `status=active` | `OPEN` or `ACKNOWLEDGED` |
//! | `status=dismissed`, `isDismissed: true` | `RESOLVED` (by either API) |
//! | `title` | the alert's message |
//! | `dataSource` | the tool whose result matched, or `vulnerability` |
//! | `type` | `monitoring` (a tool report on an asset) or `vulnerability` (a finding on an agent) |
//! | `ruleId` | the alert rule |
//! | `eventIds`, `eventCount` | the reports (or the finding) that raised and last matched it, and how many times |
//! | `agentId` | the agent of a vulnerability alert; `null` for alerts from asset monitoring |

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tlink_domain::{AgentId, AlertId, ReportId, RuleId, format_millis, from_bound, to_millis, until_bound};
use tlink_store::{
    AlertFilter, AlertRow, DbError, Dismissal, PageQuery, StatusChange, Transition, decode_json, decode_json_opt,
};
use utoipa::ToSchema;

use crate::AppState;
use crate::http::auth::{HawkCaller, ThreatStackError};
use crate::http::error::{ApiError, ErrorsBody};
use crate::http::extract::{JsonBytes, QueryMap};
use crate::http::pagination;

type TsResult = Result<Response, ThreatStackError>;

fn bad(field: &str, why: &str) -> ThreatStackError {
    ThreatStackError(ApiError::field(field, why))
}

/// An alert as Threat Stack clients read it.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TsAlert {
    pub id: String,
    pub title: String,
    pub data_source: String,
    /// RFC 3339, UTC.
    pub created_at: String,
    pub is_dismissed: bool,
    pub dismissed_at: Option<String>,
    /// `BUSINESS_OP`, `COMPANY_POLICY`, `MAINTENANCE` or `OTHER`; `null` when resolved through `/api`.
    pub dismiss_reason: Option<String>,
    pub dismiss_reason_text: Option<String>,
    pub dismissed_by: Option<String>,
    /// 1 high (CRITICAL, HIGH), 2 medium, 3 low.
    pub severity: u8,
    pub agent_id: Option<String>,
    pub rule_id: String,
    pub ruleset_id: Option<String>,
    pub aggregates: Vec<serde_json::Value>,
    /// `"monitoring"` or `"vulnerability"`.
    #[serde(rename = "type")]
    pub kind: String,
    pub event_count: i64,
    pub event_ids: Vec<String>,
    /// The monitored asset that matched (tlink; `null` for an agent's alert).
    pub asset_id: Option<String>,
}

/// Threat Stack's severity number of a tlink severity.
pub fn ts_severity(severity: &str) -> u8 {
    match severity {
        "CRITICAL" | "HIGH" => 1,
        "MEDIUM" => 2,
        _ => 3,
    }
}

fn severities(n: &str) -> Option<Vec<String>> {
    let v: &[&str] = match n.trim() {
        "1" => &["CRITICAL", "HIGH"],
        "2" => &["MEDIUM"],
        "3" => &["LOW"],
        _ => return None,
    };
    Some(v.iter().map(|s| s.to_string()).collect())
}

fn statuses(s: &str) -> Option<Vec<String>> {
    let v: &[&str] = match s.trim().to_ascii_lowercase().as_str() {
        "active" => &["OPEN", "ACKNOWLEDGED"],
        "dismissed" => &["RESOLVED"],
        _ => return None,
    };
    Some(v.iter().map(|s| s.to_string()).collect())
}

/// The reports (or the finding) that raised an alert and last matched it.
fn event_ids(a: &AlertRow) -> Vec<String> {
    let mut event_ids = vec![a.report_id.clone()];
    if a.last_report_id != a.report_id {
        event_ids.push(a.last_report_id.clone());
    }
    event_ids
}

impl TryFrom<&AlertRow> for TsAlert {
    type Error = DbError;

    /// A stored rule snapshot that does not decode is an error.
    fn try_from(a: &AlertRow) -> Result<Self, DbError> {
        let dismissed = a.status == "RESOLVED";
        let rule: serde_json::Value = decode_json("alerts", a.id.as_str(), "rule", &a.rule)?;
        let tool = rule["condition"]["tool"].as_str().or(rule["tool"].as_str()).unwrap_or("monitoring");
        Ok(TsAlert {
            id: a.id.to_string(),
            title: a.message.clone(),
            data_source: tool.to_string(),
            created_at: format_millis(a.created_at),
            is_dismissed: dismissed,
            dismissed_at: a.status_changed_at.filter(|_| dismissed).map(format_millis),
            dismiss_reason: a.dismiss_reason.clone().filter(|_| dismissed),
            dismiss_reason_text: a.dismiss_reason_text.clone().filter(|_| dismissed),
            dismissed_by: a.status_changed_by.as_ref().filter(|_| dismissed).map(ToString::to_string),
            severity: ts_severity(&a.severity),
            agent_id: a.agent_id.as_ref().map(ToString::to_string),
            rule_id: a.rule_id.to_string(),
            ruleset_id: None,
            aggregates: Vec::new(),
            kind: if a.agent_id.is_some() { "vulnerability" } else { "monitoring" }.into(),
            event_count: a.occurrences,
            event_ids: event_ids(a),
            asset_id: a.asset_id.as_ref().map(ToString::to_string),
        })
    }
}

#[derive(Serialize, ToSchema)]
pub struct AlertsPage {
    pub alerts: Vec<TsAlert>,
    /// Repeat the same query with `token=<this>` for the next page; `null` at the end.
    pub token: Option<String>,
}

/// Parses the Threat Stack list query: its filters, and paging (100 a page unless `limit` says fewer).
fn alert_query(
    state: &AppState,
    caller: &HawkCaller,
    q: &QueryMap,
) -> Result<(AlertFilter, pagination::ListParams), ThreatStackError> {
    let status =
        q.get("status").map(|s| statuses(s).ok_or_else(|| bad("status", "must be active or dismissed"))).transpose()?;
    let severity =
        q.get("severity").map(|s| severities(s).ok_or_else(|| bad("severity", "must be 1, 2 or 3"))).transpose()?;
    let rule_id =
        q.get("ruleId").map(|r| RuleId::parse(r).map_err(|_| bad("ruleId", "must be a rule id"))).transpose()?;
    let agent = q.get("agentId").map(str::to_string);
    // An id that is not an agent id matches no alert.
    let agent_id = agent.as_deref().map(|a| AgentId::parse(a).unwrap_or_else(|_| AgentId::from_trusted(String::new())));
    let params = pagination::parse_threat_stack(
        q,
        &state.keys.cursor_key,
        &format!("v2-alerts:{}", caller.org_id),
        &[
            ("status", q.get("status")),
            ("severity", q.get("severity")),
            ("ruleId", q.get("ruleId")),
            ("agentId", agent.as_deref()),
        ],
    )?;
    let filter = AlertFilter {
        status: status.unwrap_or_default(),
        severity: severity.unwrap_or_default(),
        asset_id: None,
        rule_id,
        agent_id,
    };
    Ok((filter, params))
}

/// The alert filters of `GET /v2/alerts`, for the OpenAPI document.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct TsAlertQuery {
    /// `active` (OPEN or ACKNOWLEDGED) or `dismissed` (RESOLVED).
    #[param(pattern = "^(active|dismissed)$")]
    status: Option<String>,
    /// `1` (CRITICAL or HIGH), `2` (MEDIUM) or `3` (LOW).
    #[param(minimum = 1, maximum = 3)]
    severity: Option<u8>,
    /// Only alerts raised by this rule.
    #[param(rename = "ruleId")]
    rule_id: Option<String>,
    /// Only alerts about this agent (vulnerability findings).
    #[param(rename = "agentId")]
    agent_id: Option<String>,
}

/// Alerts, newest first (`status=active|dismissed`, `severity=1|2|3`, `from`, `until`, `ruleId`, `agentId`,
/// `token`).
#[utoipa::path(get, path = "/v2/alerts", tag = "threat-stack", security(("hawk" = [])),
    params(TsAlertQuery, crate::http::pagination::ThreatStackListQueryDoc),
    responses((status = 200, body = AlertsPage), (status = 400, body = ErrorsBody), (status = 401, body = ErrorsBody), (status = 429, body = ErrorsBody)))]
pub async fn list_alerts(State(state): State<AppState>, caller: HawkCaller, q: Result<QueryMap, ApiError>) -> TsResult {
    let q = q?;
    let (filter, params) = alert_query(&state, &caller, &q)?;
    let page = state.store.list_alerts(&caller.org_id, &filter, &params.page).await.map_err(ApiError::from)?;
    let token = params.token(page.next);
    let alerts = page.items.iter().map(TsAlert::try_from).collect::<Result<_, _>>().map_err(ApiError::from)?;
    Ok(axum::Json(AlertsPage { alerts, token }).into_response())
}

fn alert_id(raw: &str) -> Result<AlertId, ThreatStackError> {
    AlertId::parse(raw).map_err(|_| ThreatStackError(ApiError::not_found("alert")))
}

async fn find(state: &AppState, caller: &HawkCaller, raw: &str) -> Result<AlertRow, ThreatStackError> {
    let id = alert_id(raw)?;
    let alert = state.store.get_alert(&caller.org_id, &id).await.map_err(ApiError::from)?;
    alert.ok_or_else(|| ThreatStackError(ApiError::not_found("alert")))
}

/// One alert.
#[utoipa::path(get, path = "/v2/alerts/{id}", tag = "threat-stack", security(("hawk" = [])),
    params(("id" = String, Path)), responses((status = 200, body = TsAlert), (status = 404, body = ErrorsBody)))]
pub async fn get_alert(State(state): State<AppState>, caller: HawkCaller, Path(id): Path<String>) -> TsResult {
    let alert = find(&state, &caller, &id).await?;
    Ok(axum::Json(TsAlert::try_from(&alert).map_err(ApiError::from)?).into_response())
}

/// One event that raised an alert: a tool report on the asset.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TsEvent {
    pub id: String,
    /// `"report"` or `"vulnerability"`.
    #[serde(rename = "type")]
    pub kind: String,
    pub timestamp: String,
    pub tool: String,
    pub target: String,
    pub status: String,
    #[schema(value_type = Object)]
    pub result: serde_json::Value,
}

#[derive(Serialize, ToSchema)]
pub struct EventsPage {
    pub events: Vec<TsEvent>,
    pub token: Option<String>,
}

/// The events behind an alert: the tool reports that raised it and last matched it, or for a vulnerability
/// alert the finding on the agent (while the agent still has it).
async fn events_of(state: &AppState, caller: &HawkCaller, alert: &AlertRow) -> Result<Vec<TsEvent>, ThreatStackError> {
    let mut events = Vec::new();
    if let Some(agent_id) = &alert.agent_id {
        let Some(agent) = state.store.get_agent(&caller.org_id, agent_id).await.map_err(ApiError::from)? else {
            return Ok(events);
        };
        let findings = state.store.agent_findings(&caller.org_id, agent_id).await.map_err(ApiError::from)?;
        let wanted = alert.subject.as_deref().unwrap_or_default();
        if let Some(f) = findings.iter().find(|f| format!("{} {}", f.finding.cve, f.finding.package) == wanted) {
            events.push(TsEvent {
                id: alert.report_id.clone(),
                kind: "vulnerability".into(),
                timestamp: format_millis(f.first_seen_at),
                tool: crate::documents::VULNERABILITY_TOOL.into(),
                target: agent.hostname.clone(),
                status: "ACTIVE".into(),
                result: crate::documents::document(&f.finding, &agent).map_err(ApiError::from)?,
            });
        }
        return Ok(events);
    }
    for report_id in event_ids(alert) {
        let Ok(rid) = ReportId::parse(&report_id) else { continue };
        if let Some(r) = state.store.get_report(&caller.org_id, &rid).await.map_err(ApiError::from)? {
            events.push(TsEvent {
                id: r.id.to_string(),
                kind: "report".into(),
                timestamp: format_millis(r.finished_at.unwrap_or(r.created_at)),
                tool: r.tool.as_str().to_string(),
                target: r.target,
                status: r.status.as_str().to_string(),
                result: decode_json_opt("reports", r.id.as_str(), "result", r.result.as_deref())
                    .map_err(ApiError::from)?
                    .unwrap_or_default(),
            });
        }
    }
    Ok(events)
}

/// The events (tool reports, or a vulnerability finding) that raised an alert and last matched it.
#[utoipa::path(get, path = "/v2/alerts/{id}/events", tag = "threat-stack", security(("hawk" = [])),
    params(("id" = String, Path)), responses((status = 200, body = EventsPage), (status = 404, body = ErrorsBody)))]
pub async fn alert_events(State(state): State<AppState>, caller: HawkCaller, Path(id): Path<String>) -> TsResult {
    let alert = find(&state, &caller, &id).await?;
    let events = events_of(&state, &caller, &alert).await?;
    Ok(axum::Json(EventsPage { events, token: None }).into_response())
}

/// One event of an alert.
#[utoipa::path(get, path = "/v2/alerts/{id}/events/{eventId}", tag = "threat-stack", security(("hawk" = [])),
    params(("id" = String, Path), ("eventId" = String, Path)), responses((status = 200, body = TsEvent), (status = 404, body = ErrorsBody)))]
pub async fn alert_event(
    State(state): State<AppState>,
    caller: HawkCaller,
    Path((id, event_id)): Path<(String, String)>,
) -> TsResult {
    let alert = find(&state, &caller, &id).await?;
    let event = events_of(&state, &caller, &alert).await?.into_iter().find(|e| e.id == event_id);
    let event = event.ok_or_else(|| ThreatStackError(ApiError::not_found("event")))?;
    Ok(axum::Json(event).into_response())
}

#[derive(Serialize, ToSchema)]
pub struct SeverityCount {
    pub severity: u8,
    pub count: i64,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SeverityCounts {
    pub severity_counts: Vec<SeverityCount>,
}

fn bounds(q: &QueryMap) -> Result<(Option<i64>, Option<i64>), ThreatStackError> {
    let from =
        q.get("from").map(|v| from_bound(v).map(to_millis).map_err(|e| bad("from", &e.to_string()))).transpose()?;
    let until =
        q.get("until").map(|v| until_bound(v).map(to_millis).map_err(|e| bad("until", &e.to_string()))).transpose()?;
    if let (Some(f), Some(u)) = (from, until)
        && f >= u
    {
        return Err(bad("until", "must be later than from"));
    }
    Ok((from, until))
}

/// The window and filter of `GET /v2/alerts/severity-counts`, for the OpenAPI document.
#[derive(utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[allow(dead_code)]
pub struct SeverityCountsQuery {
    /// Only alerts created at or after the start of this period (ISO-8601, any precision; UTC without an
    /// offset).
    from: Option<String>,
    /// Only alerts created before the end of this period: `until=2026-01-31` includes that whole day.
    until: Option<String>,
    /// `active` or `dismissed`.
    #[param(pattern = "^(active|dismissed)$")]
    status: Option<String>,
}

/// How many alerts of each severity (`from`, `until`, `status`).
#[utoipa::path(get, path = "/v2/alerts/severity-counts", tag = "threat-stack", security(("hawk" = [])),
    params(SeverityCountsQuery),
    responses((status = 200, body = SeverityCounts), (status = 400, body = ErrorsBody)))]
pub async fn severity_counts(
    State(state): State<AppState>,
    caller: HawkCaller,
    q: Result<QueryMap, ApiError>,
) -> TsResult {
    let q = q?;
    let (from, until) = bounds(&q)?;
    let status =
        q.get("status").map(|s| statuses(s).ok_or_else(|| bad("status", "must be active or dismissed"))).transpose()?;
    let rows = state
        .store
        .alert_severity_counts(&caller.org_id, from, until, &status.unwrap_or_default())
        .await
        .map_err(ApiError::from)?;
    let mut counts = [0i64; 3];
    for (severity, n) in rows {
        counts[usize::from(ts_severity(&severity) - 1)] += n;
    }
    let severity_counts = (1u8..=3).map(|s| SeverityCount { severity: s, count: counts[usize::from(s - 1)] }).collect();
    Ok(axum::Json(SeverityCounts { severity_counts }).into_response())
}

/// The reasons Threat Stack accepts for a dismissal.
pub const DISMISS_REASONS: &[&str] = &["BUSINESS_OP", "COMPANY_POLICY", "MAINTENANCE", "OTHER"];
/// The most alerts one dismissal by query changes.
const MAX_DISMISS: usize = 10_000;

/// `POST /v2/alerts/dismiss`: by `ids`, or by query (`from`, `until` and at least one of `severity`,
/// `ruleId`, `agentId`).
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DismissRequest {
    pub ids: Option<Vec<String>>,
    pub from: Option<String>,
    pub until: Option<String>,
    pub severity: Option<serde_json::Value>,
    pub rule_id: Option<String>,
    pub agent_id: Option<String>,
    pub dismiss_reason: Option<String>,
    pub dismiss_reason_text: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Dismissed {
    /// The alerts this request dismissed (already dismissed or unknown ones are not listed).
    pub ids: Vec<String>,
    pub count: usize,
}

/// Dismiss alerts (resolves them, with the reason; the same as `RESOLVED` through `/api`).
#[utoipa::path(post, path = "/v2/alerts/dismiss", tag = "threat-stack", security(("hawk" = [])), request_body = DismissRequest,
    responses((status = 200, body = Dismissed), (status = 400, body = ErrorsBody), (status = 403, body = ErrorsBody)))]
pub async fn dismiss(State(state): State<AppState>, caller: HawkCaller, body: Result<JsonBytes, ApiError>) -> TsResult {
    if !caller.role.can_write() {
        return Err(ThreatStackError(ApiError::Forbidden(format!(
            "role {} may only read in this organization",
            caller.role.as_str()
        ))));
    }
    let JsonBytes(body) = body?;
    let req: DismissRequest = crate::http::extract::parse_json(&body).map_err(ThreatStackError)?;
    let reason = req.dismiss_reason.as_deref().map(str::trim).unwrap_or_default().to_ascii_uppercase();
    if !DISMISS_REASONS.contains(&reason.as_str()) {
        return Err(bad("dismissReason", "must be BUSINESS_OP, COMPANY_POLICY, MAINTENANCE or OTHER"));
    }
    let text = req.dismiss_reason_text.as_deref().map(str::trim).filter(|t| !t.is_empty()).map(str::to_string);
    if reason == "OTHER" && text.is_none() {
        return Err(bad("dismissReasonText", "is required when dismissReason is OTHER"));
    }
    if text.as_ref().is_some_and(|t| t.chars().count() > 1000) {
        return Err(bad("dismissReasonText", "must be at most 1000 characters"));
    }
    let dismissal = Dismissal { reason, text };
    let targets: Vec<AlertId> = match &req.ids {
        Some(ids) => {
            if req.from.is_some()
                || req.until.is_some()
                || req.severity.is_some()
                || req.rule_id.is_some()
                || req.agent_id.is_some()
            {
                return Err(bad("ids", "dismiss either by ids or by query, not both"));
            }
            if ids.is_empty() || ids.len() > 1000 {
                return Err(bad("ids", "must list 1 to 1000 alert ids"));
            }
            ids.iter()
                .map(|i| AlertId::parse(i).map_err(|_| bad("ids", &format!("`{i}` is not an alert id"))))
                .collect::<Result<_, _>>()?
        }
        None => by_query(&state, &caller, &req).await?,
    };
    let change =
        StatusChange { by: Some(&caller.user_id), note: dismissal.text.as_deref(), dismissal: Some(&dismissal) };
    // Dismissing is resolving, along the same lifecycle as the TLINK API's status change.
    use crate::ops::alerts::AlertStatus::Resolved;
    let mut done = Vec::new();
    for id in targets {
        let changed = state
            .store
            .transition_alert(&caller.org_id, &id, Resolved.reached_from(), Resolved.as_str(), &change)
            .await
            .map_err(ApiError::from)?;
        if let Transition::Changed(a) = changed {
            let c = crate::ops::audit::Change {
                action: "alert.status_changed",
                target_type: "alert",
                target_id: a.id.as_str(),
                summary: format!("dismissed the alert “{}” ({})", a.message, dismissal.reason),
                detail: Some(
                    serde_json::json!({"status": a.status, "dismissReason": dismissal.reason, "note": dismissal.text}),
                ),
            };
            caller.audit(&state, c).await;
            done.push(a.id.to_string());
        }
    }
    Ok((StatusCode::OK, axum::Json(Dismissed { count: done.len(), ids: done })).into_response())
}

/// The active alerts a dismissal by query names.
async fn by_query(
    state: &AppState,
    caller: &HawkCaller,
    req: &DismissRequest,
) -> Result<Vec<AlertId>, ThreatStackError> {
    let (Some(from), Some(until)) = (req.from.as_deref(), req.until.as_deref()) else {
        return Err(bad("from", "dismissing by query needs from and until (or give ids)"));
    };
    if req.severity.is_none() && req.rule_id.is_none() && req.agent_id.is_none() {
        return Err(bad("severity", "dismissing by query needs at least one of severity, ruleId, agentId"));
    }
    let from = to_millis(from_bound(from).map_err(|e| bad("from", &e.to_string()))?);
    let until = to_millis(until_bound(until).map_err(|e| bad("until", &e.to_string()))?);
    if from >= until {
        return Err(bad("until", "must be later than from"));
    }
    let severity = match &req.severity {
        None => Vec::new(),
        Some(v) => {
            let raw = v.as_u64().map(|n| n.to_string()).or_else(|| v.as_str().map(str::to_string)).unwrap_or_default();
            severities(&raw).ok_or_else(|| bad("severity", "must be 1, 2 or 3"))?
        }
    };
    let rule_id =
        req.rule_id.as_deref().map(|r| RuleId::parse(r).map_err(|_| bad("ruleId", "must be a rule id"))).transpose()?;
    let agent_id =
        req.agent_id.as_deref().map(|a| AgentId::parse(a).unwrap_or_else(|_| AgentId::from_trusted(String::new())));
    let filter =
        AlertFilter { status: vec!["OPEN".into(), "ACKNOWLEDGED".into()], severity, asset_id: None, rule_id, agent_id };
    let mut page = PageQuery { limit: 100, after: None, from: Some(from), until: Some(until) };
    let mut ids = Vec::new();
    loop {
        let got = state.store.list_alerts(&caller.org_id, &filter, &page).await.map_err(ApiError::from)?;
        ids.extend(got.items.iter().map(|a| a.id.clone()));
        match got.next {
            Some(next) if ids.len() < MAX_DISMISS => page.after = Some(next),
            _ => return Ok(ids),
        }
    }
}
