//! Alert rules: check a rule as written; create, change and delete one; try one against the latest reports before saving it (a dry run),
//! and rotate a rule's webhook signing secret.

use serde_json::Value;
use tlink_domain::rules::Condition;
use tlink_domain::{AssetId, AssetType, ReportId, RuleId};
use tlink_store::{AssetFilter, PageQuery, RuleFields, RuleRow};
use tlink_tools::ToolKey;
use tlink_tools::notify::WebhookSecret;

use super::{FieldError, Member, OpError, OpResult};
use crate::AppState;
use crate::documents::VULNERABILITY_TOOL;

pub const MAX_NAME: usize = 200;
const MAX_URL: usize = 2048;
const MAX_SCOPE: usize = 100;
const MAX_RECIPIENTS: usize = 50;
/// The severities of a rule, least severe first.
pub const SEVERITIES: &[&str] = &["LOW", "MEDIUM", "HIGH", "CRITICAL"];
/// The most assets a dry run looks at (the newest first, within the rule's scope).
pub const DRY_RUN_ASSETS: u32 = 100;

/// A rule as written (created, or an existing one with a change merged in), not yet checked.
#[derive(Debug, Clone)]
pub struct RuleDraft {
    pub name: String,
    pub condition: Condition,
    pub severity: String,
    pub enabled: bool,
    pub notify_email: bool,
    pub notify_webhook: bool,
    pub webhook_url: Option<String>,
    pub asset_ids: Option<Vec<String>>,
    pub asset_types: Option<Vec<AssetType>>,
    pub email_recipients: Option<Vec<String>>,
}

/// Checks and normalises a draft in the member's organization; every problem is reported at once, each
/// naming its field.
pub async fn check_draft(state: &AppState, member: &Member, d: &mut RuleDraft) -> OpResult<()> {
    let mut errors = Vec::new();
    d.name = d.name.trim().to_string();
    if d.name.is_empty() || d.name.chars().count() > MAX_NAME {
        errors.push(FieldError::new("name", format!("is required, 1 to {MAX_NAME} characters")));
    }
    d.condition.tool = d.condition.tool.trim().to_string();
    let on_findings = d.condition.tool == VULNERABILITY_TOOL;
    if ToolKey::parse(&d.condition.tool).is_none() && !on_findings {
        let mut keys: Vec<&str> = ToolKey::ALL.iter().map(|k| k.as_str()).collect();
        keys.push(VULNERABILITY_TOOL);
        errors.push(FieldError::new("condition.tool", format!("unknown tool; one of: {}", keys.join(", "))));
    }
    if on_findings {
        // Rules on vulnerability findings apply to agents, not assets.
        for (field, set) in [("assetIds", d.asset_ids.is_some()), ("assetTypes", d.asset_types.is_some())] {
            if set {
                errors.push(FieldError::new(field, "does not apply to vulnerability rules (they watch agents)"));
            }
        }
    }
    if let Err(e) = d.condition.compile() {
        errors.push(FieldError::new(e.field, e.message));
    }
    d.severity = d.severity.trim().to_ascii_uppercase();
    if !SEVERITIES.contains(&d.severity.as_str()) {
        errors.push(FieldError::new("severity", "must be LOW, MEDIUM, HIGH or CRITICAL"));
    }
    d.webhook_url = d.webhook_url.take().map(|u| u.trim().to_string()).filter(|u| !u.is_empty());
    match &d.webhook_url {
        None if d.notify_webhook => {
            errors.push(FieldError::new("webhookUrl", "is required when notifyWebhook is true"));
        }
        Some(u) if u.len() > MAX_URL => {
            errors.push(FieldError::new("webhookUrl", format!("must be at most {MAX_URL} characters")))
        }
        Some(u) => {
            if let Err(m) = tlink_tools::notify::check_url(&state.toolbox, u).await {
                errors.push(FieldError::new("webhookUrl", m));
            }
        }
        None => {}
    }
    if let Some(ids) = &d.asset_ids {
        if ids.len() > MAX_SCOPE {
            errors.push(FieldError::new("assetIds", format!("at most {MAX_SCOPE} assets")));
        }
        for (i, raw) in ids.iter().take(MAX_SCOPE).enumerate() {
            let field = format!("assetIds[{i}]");
            match AssetId::parse(raw) {
                Err(_) => errors.push(FieldError::new(field, "must be a UUID")),
                Ok(id) => {
                    if state.store.get_asset(&member.org_id, &id).await?.is_none() {
                        errors.push(FieldError::new(field, "no asset with this id in this organization"));
                    }
                }
            }
        }
    }
    if let Some(list) = &mut d.email_recipients {
        if list.len() > MAX_RECIPIENTS {
            errors.push(FieldError::new("emailRecipients", format!("at most {MAX_RECIPIENTS} addresses")));
        }
        for (i, raw) in list.iter_mut().enumerate() {
            match crate::ops::users::normalize_email(raw) {
                Ok(e) => *raw = e,
                Err(m) => errors.push(FieldError::new(format!("emailRecipients[{i}]"), m)),
            }
        }
    }
    if errors.is_empty() { Ok(()) } else { Err(OpError::Invalid(errors)) }
}

fn json_list<T: serde::Serialize>(v: &Option<Vec<T>>) -> Option<String> {
    v.as_ref().filter(|l| !l.is_empty()).map(|l| serde_json::json!(l).to_string())
}

fn fields(d: &RuleDraft, secret: Option<String>, disabled: Option<(i64, String)>) -> RuleFields {
    RuleFields {
        name: d.name.clone(),
        tool: d.condition.tool.clone(),
        field: d.condition.field.clone(),
        operator: d.condition.operator.as_str().to_string(),
        value: d.condition.value.as_ref().filter(|v| !v.is_null()).map(|v| v.to_string()),
        severity: d.severity.clone(),
        enabled: d.enabled,
        notify_email: d.notify_email,
        notify_webhook: d.notify_webhook,
        webhook_url: d.webhook_url.clone(),
        webhook_secret: secret,
        webhook_disabled_at: disabled.as_ref().map(|d| d.0),
        webhook_disabled_reason: disabled.map(|d| d.1),
        asset_ids: json_list(&d.asset_ids),
        asset_types: json_list(&d.asset_types),
        email_recipients: json_list(&d.email_recipients),
    }
}

/// A condition as a short text: `dns a exists`, `ip-reputation abuseipdb.abuseConfidenceScore gte 75`.
fn condition_text(d: &RuleDraft) -> String {
    let c = &d.condition;
    let value = c.value.as_ref().map(|v| format!(" {v}")).unwrap_or_default();
    format!("{} {} {}{value}", c.tool, c.field, c.operator.as_str())
}

/// Creates a rule from a draft (checked here). With a webhook, also its signing secret, returned this once.
pub async fn create_rule(state: &AppState, member: &Member, mut d: RuleDraft) -> OpResult<(RuleRow, Option<String>)> {
    member.require_write()?;
    check_draft(state, member, &mut d).await?;
    let secret = d.webhook_url.is_some().then(WebhookSecret::generate);
    let sealed = secret.as_ref().map(|s| state.sealer.seal(s.as_str()));
    let row = state.store.create_rule(&member.org_id, Some(&member.user_id), fields(&d, sealed, None)).await?;
    let summary = format!("created the rule “{}” ({} {})", row.name, row.severity, condition_text(&d));
    audit(state, member, "rule.created", &row, summary).await;
    Ok((row, secret.map(|s| s.as_str().to_string())))
}

/// Replaces rule `id` with a draft (the rule as it should be, checked here). A rule given its first
/// webhook gets a signing secret, returned this once; a webhook stopped by a 410 stays stopped unless
/// `webhook_touched` (its URL or switch was set again).
pub async fn update_rule(
    state: &AppState,
    member: &Member,
    id: &RuleId,
    mut d: RuleDraft,
    webhook_touched: bool,
) -> OpResult<(RuleRow, Option<String>)> {
    member.require_write()?;
    let cur = state.store.get_rule(&member.org_id, id).await?.ok_or(OpError::NotFound("alert rule"))?;
    check_draft(state, member, &mut d).await?;
    let (sealed, shown) = match (&d.webhook_url, &cur.webhook_secret) {
        (None, _) => (None, None),
        (Some(_), Some(existing)) => (Some(existing.clone()), None),
        (Some(_), None) => {
            let s = WebhookSecret::generate();
            (Some(state.sealer.seal(s.as_str())), Some(s.as_str().to_string()))
        }
    };
    let disabled = match (webhook_touched, cur.webhook_disabled_at, cur.webhook_disabled_reason) {
        (false, Some(at), reason) => Some((at, reason.unwrap_or_default())),
        _ => None,
    };
    let row = state
        .store
        .update_rule(&member.org_id, id, fields(&d, sealed, disabled))
        .await?
        .ok_or(OpError::NotFound("alert rule"))?;
    let summary = format!("changed the rule “{}” ({} {})", row.name, row.severity, condition_text(&d));
    audit(state, member, "rule.updated", &row, summary).await;
    Ok((row, shown))
}

/// The draft of a stored rule (to edit it).
pub fn draft_of(row: &RuleRow) -> OpResult<RuleDraft> {
    let list = |column: &'static str, v: &Option<String>| {
        tlink_store::decode_json_opt::<Vec<String>>("alert_rules", row.id.as_str(), column, v.as_deref())
    };
    let types = tlink_store::decode_json_opt::<Vec<AssetType>>(
        "alert_rules",
        row.id.as_str(),
        "asset_types",
        row.asset_types.as_deref(),
    )?;
    Ok(RuleDraft {
        name: row.name.clone(),
        condition: crate::documents::row_condition(row)?,
        severity: row.severity.clone(),
        enabled: row.enabled,
        notify_email: row.notify_email,
        notify_webhook: row.notify_webhook,
        webhook_url: row.webhook_url.clone(),
        asset_ids: list("asset_ids", &row.asset_ids)?,
        asset_types: types,
        email_recipients: list("email_recipients", &row.email_recipients)?,
    })
}

/// Deletes rule `id`; its alerts stay, with the rule as it was.
pub async fn delete_rule(state: &AppState, member: &Member, id: &RuleId) -> OpResult<()> {
    member.require_write()?;
    let row = state.store.get_rule(&member.org_id, id).await?.ok_or(OpError::NotFound("alert rule"))?;
    if !state.store.delete_rule(&member.org_id, id).await? {
        return Err(OpError::NotFound("alert rule"));
    }
    audit(state, member, "rule.deleted", &row, format!("deleted the rule “{}”", row.name)).await;
    Ok(())
}

/// The receiver's answer to a test delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct TestDelivery {
    pub url: String,
    /// The `webhook-id` it carried (`msg_test_…`).
    pub msg_id: String,
    /// Whether the receiver answered 2xx.
    pub delivered: bool,
    pub status: Option<u16>,
    pub duration_ms: u64,
    /// The first KiB of the receiver's answer.
    pub excerpt: Option<String>,
    pub error: Option<String>,
}

/// Signs a sample `alert.fired` (marked `"test": true`) with the rule's webhook secret and sends it to the
/// rule's URL now, as a delivery would be sent (both signatures, the egress policy, the timeout); the
/// answer is returned and nothing is recorded or retried.
pub async fn send_test_delivery(state: &AppState, member: &Member, id: &RuleId) -> OpResult<TestDelivery> {
    member.require_write()?;
    let rule = state.store.get_rule(&member.org_id, id).await?.ok_or(OpError::NotFound("alert rule"))?;
    let url = rule.webhook_url.clone().ok_or_else(|| OpError::field("webhookUrl", "the rule has no webhook"))?;
    let secret = rule
        .webhook_secret
        .as_deref()
        .and_then(|s| state.sealer.open(s))
        .and_then(|s| WebhookSecret::parse(&s).ok())
        .ok_or_else(|| {
            OpError::Rejected("the rule's webhook secret cannot be read (was secrets_key changed?)".into())
        })?;
    let msg_id = format!("msg_test_{}", uuid::Uuid::now_v7().simple());
    let body = serde_json::json!({
        "event": "alert.fired",
        "test": true,
        "alertId": null,
        "ruleId": rule.id.as_str(),
        "ruleName": rule.name,
        "severity": rule.severity,
        "asset": {"id": null, "type": "DOMAIN", "value": "example.com"},
        "triggeredAt": tlink_domain::format_millis(tlink_store::now_millis()),
        "message": "A test delivery from tlink: this is not an alert.",
    });
    let a = state.alerting.send_once(&secret, &url, &msg_id, body.to_string().into_bytes()).await;
    Ok(TestDelivery {
        url,
        msg_id,
        delivered: a.verdict == tlink_tools::notify::Verdict::Delivered,
        status: a.status,
        duration_ms: a.duration_ms,
        excerpt: a.response_excerpt,
        error: a.error,
    })
}

/// What a dry run looks at: a rule's condition and scope, or one report.
#[derive(Debug, Clone)]
pub struct DryRun {
    pub condition: Condition,
    pub asset_ids: Option<Vec<String>>,
    pub asset_types: Option<Vec<AssetType>>,
    /// Try the condition on this report only.
    pub report: Option<String>,
}

/// One report a dry run evaluated.
#[derive(Debug, Clone, PartialEq)]
pub struct DryRunResult {
    pub asset_id: Option<AssetId>,
    /// The asset's value, or the report's target.
    pub target: String,
    pub report_id: ReportId,
    pub finished_at: Option<i64>,
    /// Whether the rule would raise (or update) an alert on this report.
    pub fires: bool,
    /// The message the alert would carry (`abuseipdb.abuseConfidenceScore ≥ 75 (actual: 92)`).
    pub message: Option<String>,
    /// The value the condition matched, or else what the field holds (`null` when absent).
    pub actual: Value,
}

/// The outcome of a dry run.
#[derive(Debug, Clone, PartialEq)]
pub struct DryRunOutcome {
    pub results: Vec<DryRunResult>,
    /// Assets in scope with no completed report of the tool yet.
    pub without_report: Vec<(AssetId, String)>,
}

/// Evaluates an unsaved condition, as the worker would, against the latest completed report of its tool
/// on each asset in scope (at most [`DRY_RUN_ASSETS`]), or against one report. Nothing is written: no
/// alert, no delivery. `changed` compares with the report before, as monitoring does.
pub async fn dry_run(state: &AppState, member: &Member, run: DryRun) -> OpResult<DryRunOutcome> {
    let tool = ToolKey::parse(run.condition.tool.trim()).ok_or_else(|| {
        let keys: Vec<&str> = ToolKey::ALL.iter().map(|k| k.as_str()).collect();
        OpError::field("condition.tool", format!("unknown tool; one of: {}", keys.join(", ")))
    })?;
    let compiled = run.condition.compile().map_err(|e| OpError::field(e.field, e.message))?;
    let org = &member.org_id;
    let mut reports = Vec::new();
    let mut without_report = Vec::new();
    if let Some(raw) = &run.report {
        let id = ReportId::parse(raw).map_err(|_| OpError::field("reportId", "must be a report id"))?;
        let r = state.store.get_report(org, &id).await?.ok_or(OpError::NotFound("report"))?;
        if r.tool != tool {
            return Err(OpError::field("reportId", format!("is a {} report; the rule reads {tool}", r.tool.as_str())));
        }
        if r.result.is_none() {
            return Err(OpError::field("reportId", "has no result (it is not COMPLETED)"));
        }
        let target = r.target.clone();
        reports.push((r.asset_id.clone(), target, r));
    } else {
        let assets = scope(state, member, &run).await?;
        for (id, value) in assets {
            let latest = state.store.latest_reports(org, &id).await?.into_iter().find(|r| r.tool == tool);
            match latest {
                Some(r) => reports.push((Some(id), value, r)),
                None => without_report.push((id, value)),
            }
        }
    }
    let mut results = Vec::new();
    for (asset_id, target, r) in reports {
        let current: Value =
            tlink_store::decode_json_opt("reports", r.id.as_str(), "result", r.result.as_deref())?.unwrap_or_default();
        let previous = match (&asset_id, compiled.needs_previous()) {
            (Some(asset), true) => match state.store.previous_result(asset, tool.as_str(), r.id.as_str()).await? {
                Some((id, text)) => Some(tlink_store::decode_json::<Value>("reports", &id, "result", &text)?),
                None => None,
            },
            _ => None,
        };
        let found = compiled.evaluate(&current, previous.as_ref());
        let actual = match &found {
            Some(m) => m.actual.clone(),
            None => {
                let values = compiled.path().resolve(&current);
                match values.as_slice() {
                    [] => Value::Null,
                    [one] => (*one).clone(),
                    many => Value::Array(many.iter().map(|v| (*v).clone()).collect()),
                }
            }
        };
        results.push(DryRunResult {
            asset_id,
            target,
            report_id: r.id,
            finished_at: r.finished_at,
            fires: found.is_some(),
            message: found.map(|m| m.message),
            actual,
        });
    }
    Ok(DryRunOutcome { results, without_report })
}

/// The assets a rule's scope names (checked), else the newest of the organization's assets of the given
/// types (or of any type).
async fn scope(state: &AppState, member: &Member, run: &DryRun) -> OpResult<Vec<(AssetId, String)>> {
    let org = &member.org_id;
    if let Some(ids) = &run.asset_ids {
        let mut out = Vec::new();
        for (i, raw) in ids.iter().take(MAX_SCOPE).enumerate() {
            let field = format!("assetIds[{i}]");
            let id = AssetId::parse(raw).map_err(|_| OpError::field(field.clone(), "must be a UUID"))?;
            let a = state.store.get_asset(org, &id).await?;
            let a = a.ok_or_else(|| OpError::field(field, "no asset with this id in this organization"))?;
            out.push((a.id, a.value));
        }
        return Ok(out);
    }
    let kinds: Vec<Option<AssetType>> = match &run.asset_types {
        Some(types) if !types.is_empty() => types.iter().copied().map(Some).collect(),
        _ => vec![None],
    };
    let mut out = Vec::new();
    for kind in kinds {
        let filter = AssetFilter { kind, is_monitored: None, q: None };
        let page = PageQuery { limit: DRY_RUN_ASSETS, after: None, from: None, until: None };
        for a in state.store.list_assets(org, &filter, &page).await?.items {
            if out.len() < DRY_RUN_ASSETS as usize {
                out.push((a.id, a.value));
            }
        }
    }
    Ok(out)
}

/// Replaces the webhook signing secret of a rule with a webhook. Returns the rule and the new secret,
/// which is stored sealed and shown this once; deliveries from now on (retries of earlier alerts
/// included) are signed with it.
pub async fn rotate_webhook_secret(state: &AppState, member: &Member, id: &RuleId) -> OpResult<(RuleRow, String)> {
    member.require_write()?;
    let current = state.store.get_rule(&member.org_id, id).await?.ok_or(OpError::NotFound("alert rule"))?;
    if current.webhook_url.is_none() {
        return Err(OpError::field("webhookUrl", "the rule has no webhook; set webhookUrl first"));
    }
    // A rule whose stored JSON is corrupt fails here, before its secret is replaced by one never shown.
    crate::documents::rule_snapshot(&current)?;
    let secret = WebhookSecret::generate();
    let mut fields = current.fields();
    fields.webhook_secret = Some(state.sealer.seal(secret.as_str()));
    let row = state.store.update_rule(&member.org_id, id, fields).await?.ok_or(OpError::NotFound("alert rule"))?;
    audit(state, member, "rule.secret_rotated", &row, format!("rotated the webhook secret of the rule “{}”", row.name))
        .await;
    Ok((row, secret.as_str().to_string()))
}

/// Records a change to a rule in the audit log.
pub async fn audit(state: &AppState, member: &Member, action: &str, row: &RuleRow, summary: String) {
    let c = super::audit::Change { action, target_type: "rule", target_id: row.id.as_str(), summary, detail: None };
    super::audit::record(state, member, c).await;
}
