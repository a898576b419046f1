//! The documents built from stored rows that more than one part of the server shows or evaluates: a rule
//! as the API shows it (also stored with each alert it raises), a rule's condition, and a vulnerability
//! finding as alert rules see it. Stored JSON that does not decode is an error naming the row, never a
//! default.

use serde_json::{Value, json};
use tlink_domain::rules::Condition;
use tlink_store::{AgentRow, DbError, Finding, RuleRow, decode_json, decode_json_opt};

/// The pseudo-tool of alert rules on vulnerability findings: such a rule's conditions apply to each new
/// finding on an agent (see [`crate::jobs::vulns`] for the fields), not to tool reports.
pub const VULNERABILITY_TOOL: &str = "vulnerability";

/// The rule as the API shows it (no secret). A stored JSON column that does not decode is an error.
pub fn rule_snapshot(r: &RuleRow) -> Result<Value, DbError> {
    let parse =
        |column, s: &Option<String>| decode_json_opt::<Value>("alert_rules", r.id.as_str(), column, s.as_deref());
    Ok(json!({
        "id": r.id.as_str(),
        "name": r.name,
        "condition": {"tool": r.tool, "field": r.field, "operator": r.operator, "value": parse("value", &r.value)?},
        "severity": r.severity,
        "enabled": r.enabled,
        "notifyEmail": r.notify_email,
        "notifyWebhook": r.notify_webhook,
        "webhookUrl": r.webhook_url,
        "assetIds": parse("asset_ids", &r.asset_ids)?,
        "assetTypes": parse("asset_types", &r.asset_types)?,
        "emailRecipients": parse("email_recipients", &r.email_recipients)?,
    }))
}

/// The condition stored in a rule row. A stored `value` that does not decode is an error.
pub fn row_condition(r: &RuleRow) -> Result<Condition, DbError> {
    let operator =
        decode_json("alert_rules", r.id.as_str(), "operator", &Value::String(r.operator.clone()).to_string())?;
    Ok(Condition {
        tool: r.tool.clone(),
        field: r.field.clone(),
        operator,
        value: decode_json_opt("alert_rules", r.id.as_str(), "value", r.value.as_deref())?,
    })
}

/// The document alert rules on the `vulnerability` pseudo-tool see (the table in [`crate::jobs::vulns`]). Stored
/// advisories that do not decode are an error.
pub fn document(f: &Finding, agent: &AgentRow) -> Result<Value, DbError> {
    let row = format!("({}, {}, {})", agent.id, f.cve, f.package);
    let advisories: Value = decode_json("agent_vulns", &row, "advisories", &f.advisories)?;
    Ok(json!({
        "cve": f.cve,
        "package": f.package,
        "binaryPackage": f.binary_name,
        "installedVersion": f.installed_version,
        "fixedVersion": f.fixed_version,
        "fixAvailable": f.fixed_version.is_some(),
        "severity": f.severity,
        "severityLevel": f.severity_level,
        "vectorType": f.vector_type,
        "advisories": advisories,
        "distro": agent.distro,
        "agent": {"id": agent.id.as_str(), "hostname": agent.hostname},
    }))
}
