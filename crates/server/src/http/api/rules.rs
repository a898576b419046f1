//! Alert rules: conditions on tool results, with severity and notification settings.

use axum::extract::{Path, State};
use axum::response::Response;
use serde::{Deserialize, Deserializer, Serialize};
use tlink_domain::rules::Condition;
use tlink_domain::{AssetType, RuleId, format_millis};
use tlink_store::{DbError, RuleRow, decode_json_opt};
use tlink_tools::ToolKey;
use utoipa::ToSchema;

use crate::AppState;
use crate::documents::{VULNERABILITY_TOOL, row_condition};
use crate::http::auth::OrgCaller;
use crate::http::error::{ApiError, ApiResult, Envelope, ErrorBody, created, list, ok};
use crate::http::extract::{ApiJson, QueryMap, path_id};
use crate::http::pagination;

use crate::ops::rules::RuleDraft as Draft;
pub use crate::ops::rules::SEVERITIES;

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RuleOut {
    pub id: String,
    pub name: String,
    pub condition: Condition,
    /// `LOW`, `MEDIUM`, `HIGH` or `CRITICAL`.
    pub severity: String,
    pub enabled: bool,
    pub notify_email: bool,
    pub notify_webhook: bool,
    pub webhook_url: Option<String>,
    /// Set when deliveries stopped because the receiver answered 410 Gone; a PATCH of `webhookUrl` or
    /// `notifyWebhook` turns the webhook back on.
    pub webhook_disabled_at: Option<String>,
    pub webhook_disabled_reason: Option<String>,
    /// Only these assets (all of the org's when absent).
    pub asset_ids: Option<Vec<String>>,
    /// Only assets of these types (all when absent).
    pub asset_types: Option<Vec<AssetType>>,
    /// Who gets the e-mail; absent: every member of the org with notifications on.
    pub email_recipients: Option<Vec<String>>,
    pub created_at: String,
    pub updated_at: String,
    /// The webhook signing secret, shown only when created or rotated: keep it, it is not shown again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub webhook_secret: Option<String>,
}

impl RuleOut {
    /// The rule as the API shows it; a stored JSON column that does not decode is an error.
    fn new(r: RuleRow, secret: Option<String>) -> Result<RuleOut, DbError> {
        let condition = row_condition(&r)?;
        Ok(RuleOut {
            id: r.id.to_string(),
            name: r.name.clone(),
            condition,
            severity: r.severity.clone(),
            enabled: r.enabled,
            notify_email: r.notify_email,
            notify_webhook: r.notify_webhook,
            webhook_url: r.webhook_url.clone(),
            webhook_disabled_at: r.webhook_disabled_at.map(format_millis),
            webhook_disabled_reason: r.webhook_disabled_reason.clone(),
            asset_ids: json_of(&r, "asset_ids", &r.asset_ids)?,
            asset_types: json_of(&r, "asset_types", &r.asset_types)?,
            email_recipients: json_of(&r, "email_recipients", &r.email_recipients)?,
            created_at: format_millis(r.created_at),
            updated_at: format_millis(r.updated_at),
            webhook_secret: secret,
        })
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CreateRule {
    pub name: String,
    pub condition: Condition,
    pub severity: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    #[serde(default)]
    pub notify_email: bool,
    #[serde(default)]
    pub notify_webhook: bool,
    pub webhook_url: Option<String>,
    pub asset_ids: Option<Vec<String>>,
    pub asset_types: Option<Vec<AssetType>>,
    pub email_recipients: Option<Vec<String>>,
}

fn yes() -> bool {
    true
}

/// Every field is optional; `null` clears `webhookUrl`, `assetIds`, `assetTypes` and `emailRecipients`.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct UpdateRule {
    pub name: Option<String>,
    pub condition: Option<Condition>,
    pub severity: Option<String>,
    pub enabled: Option<bool>,
    pub notify_email: Option<bool>,
    pub notify_webhook: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<String>)]
    pub webhook_url: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<String>>)]
    pub asset_ids: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<AssetType>>)]
    pub asset_types: Option<Option<Vec<AssetType>>>,
    #[serde(default, deserialize_with = "present")]
    #[schema(value_type = Option<Vec<String>>)]
    pub email_recipients: Option<Option<Vec<String>>>,
}

fn present<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Option<Option<T>>, D::Error> {
    Option::<T>::deserialize(d).map(Some)
}

#[derive(Serialize, ToSchema)]
pub struct RuleDeleted {
    pub id: String,
    pub deleted: bool,
}

fn rule_id(raw: &str) -> ApiResult<RuleId> {
    path_id("ruleId", raw, RuleId::parse)
}

/// A rule's nullable JSON column: NULL is `None`, text that does not decode an error.
fn json_of<T: serde::de::DeserializeOwned>(
    r: &RuleRow,
    column: &'static str,
    s: &Option<String>,
) -> Result<Option<T>, DbError> {
    decode_json_opt("alert_rules", r.id.as_str(), column, s.as_deref())
}

/// The organization's alert rules, newest first.
#[utoipa::path(get, path = "/api/orgs/{orgId}/alert-rules", tag = "alerts", security(("bearer" = []), ("apiKey" = []), ("hawk" = [])),
    params(("orgId" = String, Path), ("tool" = Option<String>, Query, description = "Only rules on this tool"), crate::http::pagination::ListQueryDoc),
    responses((status = 200, body = Envelope<Vec<RuleOut>>), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list_rules(State(state): State<AppState>, caller: OrgCaller, q: QueryMap) -> ApiResult<Response> {
    let tool = match q.get("tool") {
        None => None,
        Some(VULNERABILITY_TOOL) => Some(VULNERABILITY_TOOL),
        Some(raw) => Some(ToolKey::parse(raw).ok_or_else(|| ApiError::field("tool", "unknown tool"))?.as_str()),
    };
    let params = pagination::parse(&q, &state.keys.cursor_key, &format!("rules:{}", caller.org_id), &[("tool", tool)])?;
    let page = state.store.list_rules(&caller.org_id, tool, &params.page).await?;
    let token = params.token(page.next);
    let items = page.items.into_iter().map(|r| RuleOut::new(r, None)).collect::<Result<_, _>>()?;
    Ok(list(items, params.page.limit, token))
}

/// Create an alert rule. With a webhook, the answer carries its signing secret (`whsec_…`) once.
#[utoipa::path(post, path = "/api/orgs/{orgId}/alert-rules", tag = "alerts", request_body = CreateRule,
    security(("bearer" = []), ("apiKey" = []), ("hawk" = [])), params(("orgId" = String, Path)),
    responses((status = 201, body = Envelope<RuleOut>), (status = 400, body = ErrorBody, description = "Unknown tool, malformed field path, operator/value mismatch, missing or refused webhook URL"),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn create_rule(
    State(state): State<AppState>,
    caller: OrgCaller,
    ApiJson(req): ApiJson<CreateRule>,
) -> ApiResult<Response> {
    caller.require_write()?;
    let d = Draft {
        name: req.name,
        condition: req.condition,
        severity: req.severity,
        enabled: req.enabled,
        notify_email: req.notify_email,
        notify_webhook: req.notify_webhook,
        webhook_url: req.webhook_url,
        asset_ids: req.asset_ids,
        asset_types: req.asset_types,
        email_recipients: req.email_recipients,
    };
    let (row, secret) = crate::ops::rules::create_rule(&state, &caller.member(), d).await?;
    Ok(created(RuleOut::new(row, secret)?))
}

/// One alert rule.
#[utoipa::path(get, path = "/api/orgs/{orgId}/alert-rules/{ruleId}", tag = "alerts", security(("bearer" = []), ("apiKey" = []), ("hawk" = [])),
    params(("orgId" = String, Path), ("ruleId" = String, Path)),
    responses((status = 200, body = Envelope<RuleOut>), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get_rule(
    State(state): State<AppState>,
    caller: OrgCaller,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let id = rule_id(&id)?;
    let row = state.store.get_rule(&caller.org_id, &id).await?.ok_or_else(|| ApiError::not_found("alert rule"))?;
    Ok(ok(RuleOut::new(row, None)?))
}

/// Change a rule (name, condition, severity, enabled, notifications, scope). Adding a webhook to a rule
/// that had none returns its new signing secret once.
#[utoipa::path(patch, path = "/api/orgs/{orgId}/alert-rules/{ruleId}", tag = "alerts", request_body = UpdateRule,
    security(("bearer" = []), ("apiKey" = []), ("hawk" = [])), params(("orgId" = String, Path), ("ruleId" = String, Path)),
    responses((status = 200, body = Envelope<RuleOut>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn update_rule(
    State(state): State<AppState>,
    caller: OrgCaller,
    Path((_, id)): Path<(String, String)>,
    ApiJson(req): ApiJson<UpdateRule>,
) -> ApiResult<Response> {
    caller.require_write()?;
    let id = rule_id(&id)?;
    let cur = state.store.get_rule(&caller.org_id, &id).await?.ok_or_else(|| ApiError::not_found("alert rule"))?;
    let current = RuleOut::new(cur, None)?;
    let webhook_touched = req.webhook_url.is_some() || req.notify_webhook.is_some();
    let d = Draft {
        name: req.name.unwrap_or(current.name),
        condition: req.condition.unwrap_or(current.condition),
        severity: req.severity.unwrap_or(current.severity),
        enabled: req.enabled.unwrap_or(current.enabled),
        notify_email: req.notify_email.unwrap_or(current.notify_email),
        notify_webhook: req.notify_webhook.unwrap_or(current.notify_webhook),
        webhook_url: req.webhook_url.unwrap_or(current.webhook_url),
        asset_ids: req.asset_ids.unwrap_or(current.asset_ids),
        asset_types: req.asset_types.unwrap_or(current.asset_types),
        email_recipients: req.email_recipients.unwrap_or(current.email_recipients),
    };
    let (row, shown) = crate::ops::rules::update_rule(&state, &caller.member(), &id, d, webhook_touched).await?;
    Ok(ok(RuleOut::new(row, shown)?))
}

/// Delete a rule. Its alerts stay, with the rule as it was.
#[utoipa::path(delete, path = "/api/orgs/{orgId}/alert-rules/{ruleId}", tag = "alerts", security(("bearer" = []), ("apiKey" = []), ("hawk" = [])),
    params(("orgId" = String, Path), ("ruleId" = String, Path)),
    responses((status = 200, body = Envelope<RuleDeleted>), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete_rule(
    State(state): State<AppState>,
    caller: OrgCaller,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let id = rule_id(&id)?;
    crate::ops::rules::delete_rule(&state, &caller.member(), &id).await?;
    Ok(ok(RuleDeleted { id: id.to_string(), deleted: true }))
}

/// Replace a rule's webhook signing secret; the answer carries the new one, once. Deliveries from now on
/// are signed with it (retries of earlier alerts included).
#[utoipa::path(post, path = "/api/orgs/{orgId}/alert-rules/{ruleId}/rotate-secret", tag = "alerts",
    security(("bearer" = []), ("apiKey" = []), ("hawk" = [])), params(("orgId" = String, Path), ("ruleId" = String, Path)),
    responses((status = 200, body = Envelope<RuleOut>), (status = 400, body = ErrorBody, description = "The rule has no webhook"), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn rotate_secret(
    State(state): State<AppState>,
    caller: OrgCaller,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let id = rule_id(&id)?;
    let (row, secret) = crate::ops::rules::rotate_webhook_secret(&state, &caller.member(), &id).await?;
    Ok(ok(RuleOut::new(row, Some(secret))?))
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TestDeliveryOut {
    pub url: String,
    /// The `webhook-id` the message carried (`msg_test_…`).
    pub webhook_id: String,
    /// Whether the receiver answered 2xx.
    pub delivered: bool,
    pub status_code: Option<u16>,
    pub duration_ms: u64,
    /// The first KiB of the receiver's answer.
    pub response_excerpt: Option<String>,
    pub error: Option<String>,
}

/// Send a test delivery: a sample `alert.fired` (with `"test": true`), signed with the rule's webhook secret
/// like every delivery, sent to the rule's URL now. The answer is the receiver's; nothing is recorded or
/// retried, and no alert exists.
#[utoipa::path(post, path = "/api/orgs/{orgId}/alert-rules/{ruleId}/test-delivery", tag = "alerts",
    security(("bearer" = []), ("apiKey" = []), ("hawk" = [])), params(("orgId" = String, Path), ("ruleId" = String, Path)),
    responses((status = 200, body = Envelope<TestDeliveryOut>), (status = 400, body = ErrorBody, description = "The rule has no webhook"),
        (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn test_delivery(
    State(state): State<AppState>,
    caller: OrgCaller,
    Path((_, id)): Path<(String, String)>,
) -> ApiResult<Response> {
    let id = rule_id(&id)?;
    let t = crate::ops::rules::send_test_delivery(&state, &caller.member(), &id).await?;
    Ok(ok(TestDeliveryOut {
        url: t.url,
        webhook_id: t.msg_id,
        delivered: t.delivered,
        status_code: t.status,
        duration_ms: t.duration_ms,
        response_excerpt: t.excerpt,
        error: t.error,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct TestRule {
    pub condition: Condition,
    /// Only these assets (as a rule's `assetIds`).
    pub asset_ids: Option<Vec<String>>,
    /// Only assets of these types (as a rule's `assetTypes`).
    pub asset_types: Option<Vec<AssetType>>,
    /// Try the condition on this report alone instead.
    pub report_id: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TestResult {
    pub asset_id: Option<String>,
    /// The asset's value, or the report's target.
    pub target: String,
    pub report_id: String,
    pub finished_at: Option<String>,
    /// Whether the rule would raise (or update) an alert on this report.
    pub would_fire: bool,
    /// The alert's message if it would fire.
    pub message: Option<String>,
    /// The value that matched, or else what the field holds (`null` when absent).
    #[schema(value_type = Object)]
    pub actual: serde_json::Value,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TestOutcome {
    /// Reports evaluated.
    pub evaluated: usize,
    /// How many of them the rule would fire on.
    pub would_fire: usize,
    pub results: Vec<TestResult>,
    /// Assets in scope with no completed report of the rule's tool yet.
    pub without_report: Vec<String>,
}

/// Dry-run a rule: evaluate an unsaved condition against the latest completed report of its tool on each
/// asset in scope (at most 100, newest first), or against one report, exactly as monitoring would —
/// `changed` compares with the report before. Nothing is saved and no alert or delivery is made.
#[utoipa::path(post, path = "/api/orgs/{orgId}/alert-rules/test", tag = "alerts", request_body = TestRule,
    security(("bearer" = []), ("apiKey" = []), ("hawk" = [])), params(("orgId" = String, Path)),
    responses((status = 200, body = Envelope<TestOutcome>), (status = 400, body = ErrorBody, description = "Unknown tool, malformed field path, operator/value mismatch, a report of another tool"),
        (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn test_rule(
    State(state): State<AppState>,
    caller: OrgCaller,
    ApiJson(req): ApiJson<TestRule>,
) -> ApiResult<Response> {
    let run = crate::ops::rules::DryRun {
        condition: req.condition,
        asset_ids: req.asset_ids,
        asset_types: req.asset_types,
        report: req.report_id,
    };
    let outcome = crate::ops::rules::dry_run(&state, &caller.member(), run).await?;
    let results: Vec<TestResult> = outcome
        .results
        .into_iter()
        .map(|r| TestResult {
            asset_id: r.asset_id.map(|a| a.to_string()),
            target: r.target,
            report_id: r.report_id.to_string(),
            finished_at: r.finished_at.map(format_millis),
            would_fire: r.fires,
            message: r.message,
            actual: r.actual,
        })
        .collect();
    Ok(ok(TestOutcome {
        evaluated: results.len(),
        would_fire: results.iter().filter(|r| r.would_fire).count(),
        results,
        without_report: outcome.without_report.into_iter().map(|(id, _)| id.to_string()).collect(),
    }))
}
