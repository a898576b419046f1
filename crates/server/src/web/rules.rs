//! Alert rules: the list, and the editor — the tool's result fields offered as suggestions (from the same
//! JSON Schemas the API publishes), "test this rule" against the latest reports before saving (a dry run,
//! `ops::rules::dry_run`, also `POST /api/orgs/{orgId}/alert-rules/test`), enable/disable, delete, and the
//! webhook's signing secret (shown once, rotated here).

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::Value;
use tlink_domain::rules::{Condition, Operator};
use tlink_domain::{AssetType, RuleId};
use tlink_store::RuleRow;
use tlink_tools::{ResultSchema as _, ToolKey};

use super::assets_pages::TYPES;
use super::form::{CsrfForm, FormData};
use super::page::{Chrome, FieldErrors, Nav, PageQuery, Time, WebError, render, render_status, see_other};
use super::session::OrgSession;
use crate::AppState;
use crate::ops::rules::{DryRun, DryRunOutcome, RuleDraft, SEVERITIES};

const FLASHES: &[(&str, &str)] = &[
    ("created", "Rule created."),
    ("updated", "Rule saved."),
    ("deleted", "Rule deleted."),
    ("enabled", "Rule enabled."),
    ("disabled", "Rule disabled: it raises no alert until enabled again."),
    ("secret", "New webhook signing secret made: deliveries are signed with it from now on."),
];

/// A field of a tool's result: its dotted path (`[*]` for each element of an array) and its JSON type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaField {
    pub path: String,
    pub kind: String,
}

/// Every field path of a result schema (objects walked, arrays as `[*]`, `$ref`s into `$defs` followed),
/// at most 400, at most 8 levels deep.
pub fn schema_fields(schema: &Value) -> Vec<SchemaField> {
    let mut out = Vec::new();
    walk(schema, schema, "", 0, &mut out);
    out
}

fn resolve<'a>(root: &'a Value, node: &'a Value) -> &'a Value {
    let mut node = node;
    for _ in 0..8 {
        if let Some(r) = node.get("$ref").and_then(Value::as_str) {
            let name = r.rsplit('/').next().unwrap_or_default();
            match root.get("$defs").and_then(|d| d.get(name)) {
                Some(target) => node = target,
                None => return node,
            }
            continue;
        }
        // `Option<T>` is `oneOf: [{type: null}, T]`: the field is T (or absent).
        let alternatives = ["oneOf", "anyOf"].iter().find_map(|k| node.get(*k).and_then(Value::as_array));
        if let Some(alts) = alternatives
            && let Some(first) = alts.iter().find(|a| a.get("type").and_then(Value::as_str) != Some("null"))
        {
            node = first;
            continue;
        }
        return node;
    }
    node
}

fn kind_of(node: &Value) -> String {
    match node.get("type") {
        Some(Value::String(t)) => t.clone(),
        Some(Value::Array(ts)) => {
            ts.iter().filter_map(Value::as_str).find(|t| *t != "null").unwrap_or("any").to_string()
        }
        _ if node.get("properties").is_some() => "object".into(),
        _ => "any".into(),
    }
}

fn walk(root: &Value, node: &Value, prefix: &str, depth: usize, out: &mut Vec<SchemaField>) {
    if depth > 8 || out.len() >= 400 {
        return;
    }
    let node = resolve(root, node);
    let kind = if node.get("allOf").is_some() { "object".to_string() } else { kind_of(node) };
    if !prefix.is_empty() {
        out.push(SchemaField { path: prefix.to_string(), kind: kind.clone() });
    }
    members(root, node, prefix, depth, &kind, out);
}

/// The fields below `node`: its properties (of every `allOf` part), or its elements' for an array.
fn members(root: &Value, node: &Value, prefix: &str, depth: usize, kind: &str, out: &mut Vec<SchemaField>) {
    if let Some(parts) = node.get("allOf").and_then(Value::as_array) {
        for part in parts {
            let part = resolve(root, part);
            members(root, part, prefix, depth, &kind_of(part), out);
        }
    } else if let Some(props) = node.get("properties").and_then(Value::as_object) {
        for (name, child) in props {
            let path = if prefix.is_empty() { name.clone() } else { format!("{prefix}.{name}") };
            walk(root, child, &path, depth + 1, out);
        }
    } else if kind == "array"
        && let Some(items) = node.get("items")
    {
        let items = resolve(root, items);
        if items.get("properties").is_some() || items.get("allOf").is_some() || kind_of(items) == "array" {
            walk(root, items, &format!("{prefix}[*]"), depth + 1, out);
        }
    }
}

/// An operator as the editor offers it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorOption {
    pub op: &'static str,
    pub symbol: &'static str,
    /// What it compares, in words (shown beside the select).
    pub fits: &'static str,
    /// The JSON types of the fields it fits, space-separated; empty: every type.
    pub kinds: &'static str,
}

impl OperatorOption {
    /// Whether the operator fits a field of JSON type `kind` (an unknown field or type fits everything).
    pub fn fits_kind(&self, kind: &str) -> bool {
        self.kinds.is_empty() || kind.is_empty() || kind == "any" || self.kinds.split(' ').any(|k| k == kind)
    }
}

/// The operators, with what they compare and the field types they fit (the script narrows the select to
/// those as the field is typed; the page starts narrowed to the field it was given).
fn operator_options() -> Vec<OperatorOption> {
    Operator::ALL
        .iter()
        .map(|op| {
            let (fits, kinds) = match op {
                Operator::Gt | Operator::Lt | Operator::Gte | Operator::Lte => ("numbers", "number integer"),
                Operator::Contains => ("strings and arrays", "string array"),
                Operator::Exists | Operator::Changed => ("any field (no value)", ""),
                _ => ("any value", ""),
            };
            OperatorOption { op: op.as_str(), symbol: op.symbol(), fits, kinds }
        })
        .collect()
}

/// The JSON type of `field` among `fields`; empty when it is not one of them.
fn kind_of_field<'a>(fields: &'a [SchemaField], field: &str) -> &'a str {
    fields.iter().find(|f| f.path == field.trim()).map_or("", |f| f.kind.as_str())
}

/// The editor's values, as typed.
#[derive(Debug, Clone, Default)]
pub struct RuleValues {
    pub name: String,
    pub tool: String,
    pub field: String,
    pub operator: String,
    pub value: String,
    pub severity: String,
    pub enabled: bool,
    pub notify_email: bool,
    pub notify_webhook: bool,
    pub webhook_url: String,
    pub asset_types: Vec<String>,
    pub asset_ids: String,
    pub email_recipients: String,
    pub report_id: String,
}

impl RuleValues {
    fn read(form: &FormData) -> RuleValues {
        RuleValues {
            name: form.get("name").unwrap_or("").to_string(),
            tool: form.get("tool").unwrap_or("").to_string(),
            field: form.get("field").unwrap_or("").to_string(),
            operator: form.get("operator").unwrap_or("").to_string(),
            value: form.get("value").unwrap_or("").to_string(),
            severity: form.get("severity").unwrap_or("").to_string(),
            enabled: form.checked("enabled"),
            notify_email: form.checked("notifyEmail"),
            notify_webhook: form.checked("notifyWebhook"),
            webhook_url: form.get("webhookUrl").unwrap_or("").to_string(),
            asset_types: form.all("assetTypes").into_iter().map(str::to_string).collect(),
            asset_ids: form.get("assetIds").unwrap_or("").to_string(),
            email_recipients: form.get("emailRecipients").unwrap_or("").to_string(),
            report_id: form.get("reportId").unwrap_or("").to_string(),
        }
    }

    fn of(d: &RuleDraft) -> RuleValues {
        RuleValues {
            name: d.name.clone(),
            tool: d.condition.tool.clone(),
            field: d.condition.field.clone(),
            operator: d.condition.operator.as_str().to_string(),
            value: match &d.condition.value {
                Some(Value::String(s)) => s.clone(),
                Some(v) => v.to_string(),
                None => String::new(),
            },
            severity: d.severity.clone(),
            enabled: d.enabled,
            notify_email: d.notify_email,
            notify_webhook: d.notify_webhook,
            webhook_url: d.webhook_url.clone().unwrap_or_default(),
            asset_types: d.asset_types.iter().flatten().map(|t| t.as_str().to_string()).collect(),
            asset_ids: d.asset_ids.as_deref().unwrap_or_default().join("\n"),
            email_recipients: d.email_recipients.as_deref().unwrap_or_default().join("\n"),
            report_id: String::new(),
        }
    }

    /// The condition typed: a value is JSON when it reads as JSON (`75`, `true`, `["a"]`), else text.
    fn condition(&self) -> Result<Condition, crate::ops::FieldError> {
        let operator = self
            .operator
            .parse::<Operator>()
            .map_err(|_| crate::ops::FieldError::new("condition.operator", "choose an operator"))?;
        let value = match (operator, self.value.as_str()) {
            (_, "") | (Operator::Exists | Operator::Changed, _) => None,
            (_, raw) => Some(serde_json::from_str::<Value>(raw).unwrap_or_else(|_| Value::String(raw.to_string()))),
        };
        Ok(Condition { tool: self.tool.clone(), field: self.field.clone(), operator, value })
    }

    fn lines(s: &str) -> Option<Vec<String>> {
        let v: Vec<String> =
            s.split(['\n', ',']).map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect();
        (!v.is_empty()).then_some(v)
    }

    fn draft(&self) -> Result<RuleDraft, crate::ops::FieldError> {
        let types: Vec<AssetType> = self.asset_types.iter().filter_map(|t| t.parse().ok()).collect();
        Ok(RuleDraft {
            name: self.name.clone(),
            condition: self.condition()?,
            severity: self.severity.clone(),
            enabled: self.enabled,
            notify_email: self.notify_email,
            notify_webhook: self.notify_webhook,
            webhook_url: Some(self.webhook_url.clone()).filter(|u| !u.is_empty()),
            asset_ids: Self::lines(&self.asset_ids),
            asset_types: (!types.is_empty()).then_some(types),
            email_recipients: Self::lines(&self.email_recipients),
        })
    }
}

/// A dry run's result row.
pub struct DryRow {
    pub target: String,
    pub asset_id: Option<String>,
    pub report_id: String,
    pub finished: Option<Time>,
    pub fires: bool,
    pub message: Option<String>,
    pub actual: String,
}

/// A dry run as the editor shows it.
pub struct DryView {
    pub rows: Vec<DryRow>,
    pub firing: usize,
    pub without_report: Vec<(String, String)>,
}

impl From<DryRunOutcome> for DryView {
    fn from(o: DryRunOutcome) -> Self {
        let rows: Vec<DryRow> = o
            .results
            .into_iter()
            .map(|r| DryRow {
                target: r.target,
                asset_id: r.asset_id.map(|a| a.to_string()),
                report_id: r.report_id.to_string(),
                finished: Time::opt(r.finished_at),
                fires: r.fires,
                message: r.message,
                actual: r.actual.to_string(),
            })
            .collect();
        DryView {
            firing: rows.iter().filter(|r| r.fires).count(),
            rows,
            without_report: o.without_report.into_iter().map(|(id, v)| (id.to_string(), v)).collect(),
        }
    }
}

#[derive(Template)]
#[template(path = "rules/edit.html")]
struct EditPage {
    chrome: Chrome,
    base: String,
    rule: Option<RuleRow>,
    /// The values in the editor (not `v`: the frame uses that name).
    rv: RuleValues,
    errors: FieldErrors,
    tools: Vec<&'static str>,
    fields: Vec<SchemaField>,
    operators: Vec<OperatorOption>,
    /// The JSON type of the field in the editor, when it is one of `fields`.
    field_kind: String,
    severities: &'static [&'static str],
    types: [AssetType; 7],
    dry: Option<DryView>,
    dry_error: Option<String>,
    preview: String,
    secret: Option<String>,
    delivery: Option<crate::ops::rules::TestDelivery>,
    /// The rule's latest deliveries, with their attempts.
    deliveries: Vec<super::alerts::DeliveryView>,
}

fn edit_page(s: &OrgSession, rule: Option<RuleRow>, v: RuleValues, errors: FieldErrors) -> Result<EditPage, WebError> {
    if !s.can_write() {
        return Err(WebError::Forbidden(format!("role {} may only read in this organization", s.role().as_str())));
    }
    let tool = ToolKey::parse(&v.tool).unwrap_or(ToolKey::Dns);
    let title = rule.as_ref().map_or_else(|| "New alert rule".to_string(), |r| format!("Rule “{}”", r.name));
    let symbol = v.operator.parse::<Operator>().map_or("?", Operator::symbol);
    let value = if v.value.is_empty() { String::new() } else { format!(" {}", v.value) };
    let field = if v.field.is_empty() { "<field>" } else { v.field.as_str() };
    let fields = schema_fields(&tool.result_schema());
    Ok(EditPage {
        chrome: Chrome::new(s, Nav::Rules, title),
        base: s.url(""),
        rule,
        preview: format!("{field} {symbol}{value} (actual: …)"),
        field_kind: kind_of_field(&fields, &v.field).to_string(),
        fields,
        tools: ToolKey::ALL.iter().map(|t| t.as_str()).collect(),
        operators: operator_options(),
        severities: SEVERITIES,
        types: TYPES,
        rv: v,
        errors,
        dry: None,
        dry_error: None,
        secret: None,
        delivery: None,
        deliveries: Vec::new(),
    })
}

#[derive(Template)]
#[template(path = "rules/list.html")]
struct ListPage {
    chrome: Chrome,
    base: String,
    rules: Vec<(RuleRow, String, Time)>,
    next: Option<String>,
}

/// `GET /orgs/{org}/rules`.
pub async fn list(State(state): State<AppState>, s: OrgSession, q: PageQuery) -> Result<Response, WebError> {
    let mut chrome = Chrome::new(&s, Nav::Rules, "Alert rules").flash(q.get("done"), FLASHES);
    let list = format!("web-rules:{}", s.org_id());
    let (rules, next) = match crate::http::pagination::parse(&q.map(), &state.keys.cursor_key, &list, &[]) {
        Ok(params) => {
            let page = state.store.list_rules(s.org_id(), None, &params.page).await?;
            let next = params.token(page.next).map(|t| q.with_token(&s.url("/rules"), &t));
            let mut rows = Vec::new();
            for r in page.items {
                let c = crate::documents::row_condition(&r)?;
                let value = c.value.map(|v| format!(" {v}")).unwrap_or_default();
                let text = format!("{} · {} {}{value}", c.tool, c.field, c.operator.symbol());
                let updated = Time::at(r.updated_at);
                rows.push((r, text, updated));
            }
            (rows, next)
        }
        Err(e) => {
            chrome = chrome.error(format!("Cannot show this page: {e}"));
            (Vec::new(), None)
        }
    };
    Ok(render(&ListPage { chrome, base: s.url(""), rules, next }))
}

/// `GET /orgs/{org}/rules/new?tool=`.
pub async fn new_form(s: OrgSession, q: PageQuery) -> Result<Response, WebError> {
    let tool = q.get("tool").and_then(ToolKey::parse).unwrap_or(ToolKey::Dns);
    let v = RuleValues {
        tool: tool.as_str().to_string(),
        operator: "exists".into(),
        severity: "MEDIUM".into(),
        enabled: true,
        ..RuleValues::default()
    };
    Ok(render(&edit_page(&s, None, v, FieldErrors::default())?))
}

async fn rule_of(state: &AppState, s: &OrgSession, id: &str) -> Result<RuleRow, WebError> {
    let id = RuleId::parse(id).map_err(|_| WebError::NotFound)?;
    state.store.get_rule(s.org_id(), &id).await?.ok_or(WebError::NotFound)
}

/// `GET /orgs/{org}/rules/{id}`: the editor of one rule.
pub async fn edit_form(
    State(state): State<AppState>,
    s: OrgSession,
    Path((_, id)): Path<(String, String)>,
    q: PageQuery,
) -> Result<Response, WebError> {
    let rule = rule_of(&state, &s, &id).await?;
    let v = RuleValues::of(&crate::ops::rules::draft_of(&rule)?);
    let recent = state.store.rule_deliveries(s.org_id(), &rule.id, 10).await?;
    let mut page = edit_page(&s, Some(rule), v, FieldErrors::default())?;
    page.deliveries = super::alerts::delivery_views(&state, recent).await?;
    page.chrome = page.chrome.flash(q.get("done"), FLASHES);
    Ok(render(&page))
}

/// `POST /orgs/{org}/rules`.
pub async fn create(
    State(state): State<AppState>,
    s: OrgSession,
    CsrfForm(form): CsrfForm,
) -> Result<Response, WebError> {
    let v = RuleValues::read(&form);
    let mut errors = FieldErrors::default();
    match v.draft() {
        Ok(d) => match crate::ops::rules::create_rule(&state, &s.member(), d).await {
            Ok((row, secret)) => return saved(&s, &row, secret, "created"),
            Err(e) => errors = FieldErrors::from_op(e)?,
        },
        Err(e) => errors.fields.push(e),
    }
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &edit_page(&s, None, v, errors)?))
}

/// After a rule was saved (`done`: `created`, `updated`, `secret`): a redirect to its editor, or — when it
/// got a new webhook secret, which is shown this once — the editor itself with the secret.
fn saved(s: &OrgSession, row: &RuleRow, secret: Option<String>, done: &str) -> Result<Response, WebError> {
    let Some(secret) = secret else { return Ok(see_other(&s.url(&format!("/rules/{}?done={done}", row.id)))) };
    let v = RuleValues::of(&crate::ops::rules::draft_of(row)?);
    let mut page = edit_page(s, Some(row.clone()), v, FieldErrors::default())?;
    page.secret = Some(secret);
    page.chrome = page.chrome.flash(Some(done), FLASHES);
    Ok(render(&page))
}

/// `POST /orgs/{org}/rules/{id}`: save the editor.
pub async fn update(
    State(state): State<AppState>,
    s: OrgSession,
    Path((_, id)): Path<(String, String)>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, WebError> {
    let rule = rule_of(&state, &s, &id).await?;
    let v = RuleValues::read(&form);
    let mut errors = FieldErrors::default();
    match v.draft() {
        Ok(d) => {
            let touched = d.webhook_url != rule.webhook_url || d.notify_webhook != rule.notify_webhook;
            match crate::ops::rules::update_rule(&state, &s.member(), &rule.id, d, touched).await {
                Ok((row, secret)) => return saved(&s, &row, secret, "updated"),
                Err(e) => errors = FieldErrors::from_op(e)?,
            }
        }
        Err(e) => errors.fields.push(e),
    }
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &edit_page(&s, Some(rule), v, errors)?))
}

/// `POST /orgs/{org}/rules/test`: the editor again, with the dry run's results (htmx swaps in only
/// `#dry-run`; without script the whole page shows them).
pub async fn test(
    State(state): State<AppState>,
    s: OrgSession,
    CsrfForm(form): CsrfForm,
) -> Result<Response, WebError> {
    let v = RuleValues::read(&form);
    let rule = match form.get("ruleId") {
        Some(id) => Some(rule_of(&state, &s, id).await?),
        None => None,
    };
    let mut page = edit_page(&s, rule, v.clone(), FieldErrors::default())?;
    match v.draft() {
        Ok(d) => {
            let run = DryRun {
                condition: d.condition,
                asset_ids: d.asset_ids,
                asset_types: d.asset_types,
                report: Some(v.report_id.clone()).filter(|r| !r.is_empty()),
            };
            match crate::ops::rules::dry_run(&state, &s.member(), run).await {
                Ok(outcome) => page.dry = Some(outcome.into()),
                Err(e) => {
                    let errors = FieldErrors::from_op(e)?;
                    page.dry_error = Some(
                        errors
                            .fields
                            .iter()
                            .map(|f| format!("{}: {}", f.field, f.message))
                            .chain(errors.general)
                            .collect::<Vec<_>>()
                            .join("; "),
                    );
                }
            }
        }
        Err(e) => page.dry_error = Some(format!("{}: {}", e.field, e.message)),
    }
    Ok(render(&page))
}

/// `POST /orgs/{org}/rules/{id}/toggle`: enable or disable.
pub async fn toggle(
    State(state): State<AppState>,
    s: OrgSession,
    Path((_, id)): Path<(String, String)>,
    CsrfForm(_): CsrfForm,
) -> Result<Response, WebError> {
    let rule = rule_of(&state, &s, &id).await?;
    let mut d = crate::ops::rules::draft_of(&rule)?;
    d.enabled = !rule.enabled;
    let (row, _) = crate::ops::rules::update_rule(&state, &s.member(), &rule.id, d, false).await?;
    let done = if row.enabled { "enabled" } else { "disabled" };
    Ok(see_other(&s.url(&format!("/rules?done={done}"))))
}

/// `POST /orgs/{org}/rules/{id}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    s: OrgSession,
    Path((_, id)): Path<(String, String)>,
    CsrfForm(_): CsrfForm,
) -> Result<Response, WebError> {
    let id = RuleId::parse(&id).map_err(|_| WebError::NotFound)?;
    crate::ops::rules::delete_rule(&state, &s.member(), &id).await?;
    Ok(see_other(&s.url("/rules?done=deleted")))
}

/// `POST /orgs/{org}/rules/{id}/test-delivery`: a signed sample `alert.fired` to the webhook, now; the
/// editor shows the receiver's answer.
pub async fn test_delivery(
    State(state): State<AppState>,
    s: OrgSession,
    Path((_, id)): Path<(String, String)>,
    CsrfForm(_): CsrfForm,
) -> Result<Response, WebError> {
    let rule = rule_of(&state, &s, &id).await?;
    let delivery = crate::ops::rules::send_test_delivery(&state, &s.member(), &rule.id).await;
    let v = RuleValues::of(&crate::ops::rules::draft_of(&rule)?);
    let mut page = edit_page(&s, Some(rule), v, FieldErrors::default())?;
    match delivery {
        Ok(d) => page.delivery = Some(d),
        Err(e) => {
            let errors = FieldErrors::from_op(e)?;
            let text =
                errors.fields.iter().map(|f| f.message.clone()).chain(errors.general).collect::<Vec<_>>().join("; ");
            page.chrome = page.chrome.error(format!("The test delivery was not sent: {text}"));
        }
    }
    Ok(render(&page))
}

/// `POST /orgs/{org}/rules/{id}/rotate-secret`: a new webhook signing secret, shown once.
pub async fn rotate_secret(
    State(state): State<AppState>,
    s: OrgSession,
    Path((_, id)): Path<(String, String)>,
    CsrfForm(_): CsrfForm,
) -> Result<Response, WebError> {
    let id = RuleId::parse(&id).map_err(|_| WebError::NotFound)?;
    let (row, secret) = crate::ops::rules::rotate_webhook_secret(&state, &s.member(), &id).await?;
    saved(&s, &row, Some(secret), "secret")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_tool_offers_its_fields() {
        let dns = schema_fields(&ToolKey::Dns.result_schema());
        let paths: Vec<&str> = dns.iter().map(|f| f.path.as_str()).collect();
        assert!(paths.contains(&"a"), "{paths:?}");
        assert!(paths.iter().any(|p| p.starts_with("records.mx[*].")), "{paths:?}");
        let rep = schema_fields(&ToolKey::IpReputation.result_schema());
        let score = rep.iter().find(|f| f.path == "abuseipdb.abuseConfidenceScore").expect("the AbuseIPDB score");
        assert!(score.kind == "integer" || score.kind == "number", "{score:?}");
        for t in ToolKey::ALL {
            assert!(schema_fields(&t.result_schema()).len() > 3, "{t:?}");
        }
    }

    #[test]
    fn operators_fit_the_field_type() {
        let ops = operator_options();
        let fitting = |kind: &str| ops.iter().filter(|o| o.fits_kind(kind)).map(|o| o.op).collect::<Vec<_>>();
        let all: Vec<&str> = Operator::ALL.iter().map(|o| o.as_str()).collect();
        assert_eq!(fitting(""), all, "an unknown field is offered everything");
        assert_eq!(fitting("any"), all);
        assert_eq!(fitting("integer"), ["gt", "lt", "gte", "lte", "eq", "neq", "exists", "changed"]);
        assert_eq!(fitting("string"), ["eq", "neq", "contains", "exists", "changed"]);
        assert_eq!(fitting("array"), fitting("string"));
        assert_eq!(fitting("boolean"), ["eq", "neq", "exists", "changed"]);

        let rep = schema_fields(&ToolKey::IpReputation.result_schema());
        assert!(matches!(kind_of_field(&rep, " abuseipdb.abuseConfidenceScore "), "integer" | "number"));
        assert_eq!(kind_of_field(&rep, "no.such.field"), "");
    }

    #[test]
    fn values_read_as_json_when_they_can() {
        let mut v = RuleValues {
            tool: "ip-reputation".into(),
            field: "x".into(),
            operator: "gte".into(),
            value: "75".into(),
            ..Default::default()
        };
        assert_eq!(v.condition().expect("condition").value, Some(serde_json::json!(75)));
        v.operator = "contains".into();
        v.value = "evil corp".into();
        assert_eq!(v.condition().expect("condition").value, Some(serde_json::json!("evil corp")));
        v.operator = "exists".into();
        assert_eq!(v.condition().expect("condition").value, None);
        v.operator = "bogus".into();
        assert_eq!(v.condition().expect_err("no operator").field, "condition.operator");
    }
}
