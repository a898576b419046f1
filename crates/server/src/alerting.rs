//! Alerting: evaluate an org's rules against each completed scan of an asset, and send the notifications.
//!
//! - Rules are compiled once per org and kept in memory with the org's `rules_version`; a report costs one
//!   small query to check the version, then only its tool's rules are evaluated (see
//!   [`tlink_domain::rules::RuleIndex`]). The previous result is read only when a rule uses `changed`.
//! - Matches become [`AlertFire`]s that the worker writes in the same transaction that completes the report
//!   (so a retried job cannot alert twice; see `tlink_store::alerts`). A new alert queues its deliveries.
//! - A delivery job sends one webhook (signed twice: `X-TLINK-Signature` and Standard Webhooks) or one
//!   e-mail, records the attempt, and is retried on the schedule of [`tlink_tools::notify::retry_delay`].

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tlink_domain::rules::{Condition, RuleIndex};
use tlink_domain::{AgentId, AssetId, DeliveryId, OrgId, RuleId, format_millis};
use tlink_store::{
    AlertFire, AlertSubject, AttemptRecord, DELIVERY_JOB, DbError, DeliveryRow, DeliveryUpdate, Finish, Job,
    JobOutcome, NewDelivery, NewJob, ReportUpdate, RuleRow, Store, decode_json, decode_json_opt,
};
use tlink_tools::Toolbox;
use tlink_tools::notify::{self, Mailer, Verdict, WebhookRequest, WebhookSecret, Webhooks};

use crate::sealed::Sealer;
use crate::worker::PayloadAsset;

/// What a delivery job carries (the delivery row has the rest).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DeliveryPayload {
    /// A manual redelivery: one attempt, no automatic retries.
    #[serde(default)]
    pub manual: bool,
    /// Makes each manual request's payload unique (the store uses it to tell its own request apart).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request: Option<String>,
    /// What to send, copied from the delivery row when it is queued, so an attempt need not read it back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub send: Option<Outgoing>,
}

/// One notification to send: a delivery row's content.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Outgoing {
    pub org_id: String,
    pub rule_id: String,
    pub channel: String,
    pub target: String,
    pub body: String,
}

impl From<DeliveryRow> for Outgoing {
    fn from(d: DeliveryRow) -> Self {
        Outgoing {
            org_id: d.org_id.to_string(),
            rule_id: d.rule_id.to_string(),
            channel: d.channel,
            target: d.target,
            body: d.body,
        }
    }
}

/// The pseudo-tool of alert rules on vulnerability findings: such a rule's conditions apply to each new
/// finding on an agent (see `crate::vulns` for the fields), not to tool reports.
pub const VULNERABILITY_TOOL: &str = "vulnerability";

/// How long a rule's webhook secret and state are reused by delivery attempts before being read again: a
/// rotated secret or a disabled webhook applies to attempts at most this much later.
const RULE_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);

/// A rule's webhook signing key, as delivery attempts need it.
struct WebhookKey {
    secret: Result<WebhookSecret, String>,
    disabled: Option<String>,
}

/// One enabled rule, ready to evaluate.
struct RuleEntry {
    id: RuleId,
    name: String,
    severity: String,
    notify_email: bool,
    /// The webhook URL when the rule notifies by webhook and the webhook is not disabled.
    webhook: Option<String>,
    recipients: Option<Vec<String>>,
    asset_ids: Option<HashSet<String>>,
    asset_types: Option<HashSet<String>>,
    /// The rule as the API shows it, stored with each alert.
    snapshot: String,
}

struct OrgRules {
    version: i64,
    index: RuleIndex<usize>,
    rules: Vec<RuleEntry>,
}

/// Rule evaluation and notification sending, shared by a process's workers.
pub struct Alerting {
    store: Store,
    webhooks: Webhooks,
    sealer: Sealer,
    mailer: Option<Mailer>,
    cache: parking_lot::Mutex<HashMap<OrgId, Arc<OrgRules>>>,
    keys: parking_lot::Mutex<HashMap<String, (std::time::Instant, Arc<WebhookKey>)>>,
}

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
    Ok(Condition {
        tool: r.tool.clone(),
        field: r.field.clone(),
        operator: serde_json::from_value(Value::String(r.operator.clone()))
            .unwrap_or(tlink_domain::rules::Operator::Exists),
        value: decode_json_opt("alert_rules", r.id.as_str(), "value", r.value.as_deref())?,
    })
}

impl Alerting {
    /// `mailer` is built from the `smtp` configuration; without it e-mail notifications are recorded as not
    /// sent.
    pub fn new(
        store: Store,
        toolbox: &Toolbox,
        sealer: Sealer,
        mailer: Option<Mailer>,
        webhook_timeout: std::time::Duration,
    ) -> anyhow::Result<Alerting> {
        let webhooks =
            Webhooks::new(toolbox).map_err(|e| anyhow::anyhow!("webhook client: {e}"))?.with_timeout(webhook_timeout);
        Ok(Alerting { store, webhooks, sealer, mailer, cache: Default::default(), keys: Default::default() })
    }

    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    async fn rules_for(&self, org: &OrgId) -> anyhow::Result<Arc<OrgRules>> {
        let version = self.store.rules_version(org).await?;
        if let Some(r) = self.cache.lock().get(org).filter(|r| r.version == version) {
            return Ok(r.clone());
        }
        let rows = self.store.enabled_rules(org).await?;
        let mut rules = Vec::with_capacity(rows.len());
        let mut compiled = Vec::with_capacity(rows.len());
        for row in rows {
            // A rule whose stored JSON does not decode is skipped (never evaluated as if the column were
            // empty, which would widen it to every asset or every member), and logged.
            let decoded = (|| -> Result<_, DbError> {
                let list = |column, s: &Option<String>| {
                    decode_json_opt::<Vec<String>>("alert_rules", row.id.as_str(), column, s.as_deref())
                        .map(|v| v.filter(|v| !v.is_empty()))
                };
                Ok((
                    row_condition(&row)?,
                    list("email_recipients", &row.email_recipients)?,
                    list("asset_ids", &row.asset_ids)?,
                    list("asset_types", &row.asset_types)?,
                    rule_snapshot(&row)?,
                ))
            })();
            let (cond, recipients, asset_ids, asset_types, snapshot) = match decoded {
                Ok(d) => d,
                Err(e) => {
                    tracing::error!(rule = %row.id, error = %error_chain(&e), "stored alert rule is corrupt; skipped");
                    continue;
                }
            };
            let Ok(c) = cond.compile() else {
                tracing::warn!(rule = %row.id, "stored alert rule does not compile; skipped");
                continue;
            };
            compiled.push((rules.len(), row.tool.clone(), c));
            rules.push(RuleEntry {
                id: row.id.clone(),
                name: row.name.clone(),
                severity: row.severity.clone(),
                notify_email: row.notify_email,
                webhook: row.webhook_url.clone().filter(|_| {
                    row.notify_webhook && row.webhook_disabled_at.is_none() && row.webhook_secret.is_some()
                }),
                recipients,
                asset_ids: asset_ids.map(|v| v.into_iter().collect()),
                asset_types: asset_types.map(|v| v.into_iter().collect()),
                snapshot: snapshot.to_string(),
            });
        }
        let entry = Arc::new(OrgRules { version, index: RuleIndex::new(compiled), rules });
        self.cache.lock().insert(org.clone(), entry.clone());
        Ok(entry)
    }

    /// The alerts a completed report raises: its org's enabled rules for `tool` that match `result` and
    /// apply to the asset.
    pub async fn evaluate(
        &self,
        asset: &PayloadAsset,
        asset_value: &str,
        tool: &str,
        report_id: &str,
        result: &Value,
    ) -> anyhow::Result<Vec<AlertFire>> {
        let org = OrgId::from_trusted(asset.org_id.clone());
        let rules = self.rules_for(&org).await?;
        if rules.index.is_empty() {
            return Ok(Vec::new());
        }
        let asset_id = AssetId::from_trusted(asset.id.clone());
        let previous = if rules.index.needs_previous(tool) {
            match self.store.previous_result(&asset_id, tool, report_id).await? {
                Some((id, text)) => Some(decode_json::<Value>("reports", &id, "result", &text).inspect_err(|e| {
                    tracing::error!(report = %id, error = %error_chain(e), "stored previous result is corrupt");
                })?),
                None => None,
            }
        } else {
            None
        };
        let matches = rules.index.evaluate(tool, result, previous.as_ref());
        let mut fires = Vec::new();
        let mut members: Option<Vec<String>> = None;
        let now = tlink_store::now_millis();
        for (&i, m) in matches {
            let rule = &rules.rules[i];
            if rule.asset_ids.as_ref().is_some_and(|ids| !ids.contains(&asset.id))
                || rule.asset_types.as_ref().is_some_and(|t| !t.contains(asset.kind.as_str()))
            {
                continue;
            }
            let alert_id = tlink_domain::AlertId::new();
            let webhook = json!({
                "event": "alert.fired",
                "alertId": alert_id.as_str(),
                "ruleId": rule.id.as_str(),
                "ruleName": rule.name,
                "severity": rule.severity,
                "asset": {"id": asset.id, "type": asset.kind.as_str(), "value": asset_value},
                "triggeredAt": format_millis(now),
                "message": m.message,
            });
            let subject = format!("{} {asset_value}", asset.kind.as_str());
            let mail = email_body(&rule.name, &rule.severity, ("Asset", &subject, asset_value), &m.message, now);
            let deliveries = self.notifications(&org, rule, webhook, mail, &mut members).await?;
            fires.push(AlertFire {
                alert_id,
                org_id: org.clone(),
                rule_id: rule.id.clone(),
                subject: AlertSubject::Asset(asset_id.clone()),
                severity: rule.severity.clone(),
                message: m.message,
                actual: m.actual.to_string(),
                rule: rule.snapshot.clone(),
                deliveries,
            });
        }
        if !fires.is_empty() {
            metrics::counter!("tlink_alerts_matched_total").increment(fires.len() as u64);
        }
        Ok(fires)
    }

    /// The alerts a new vulnerability finding on an agent raises: the org's enabled rules on the
    /// [`VULNERABILITY_TOOL`] pseudo-tool that match `finding` (the document described in `crate::vulns`).
    /// `subject` names the finding (`CVE-… package`), `event` what raised it.
    pub async fn evaluate_finding(
        &self,
        org: &OrgId,
        agent: (&AgentId, &str),
        subject: &str,
        event: &str,
        finding: &Value,
    ) -> anyhow::Result<Vec<AlertFire>> {
        let rules = self.rules_for(org).await?;
        if rules.index.is_empty() {
            return Ok(Vec::new());
        }
        let (agent_id, hostname) = agent;
        let mut fires = Vec::new();
        let mut members: Option<Vec<String>> = None;
        let now = tlink_store::now_millis();
        for (&i, m) in rules.index.evaluate(VULNERABILITY_TOOL, finding, None) {
            let rule = &rules.rules[i];
            let alert_id = tlink_domain::AlertId::new();
            let message = format!("{subject} on {hostname}: {}", m.message);
            let webhook = json!({
                "event": "alert.fired",
                "alertId": alert_id.as_str(),
                "ruleId": rule.id.as_str(),
                "ruleName": rule.name,
                "severity": rule.severity,
                "agent": {"id": agent_id.as_str(), "hostname": hostname},
                "vulnerability": finding,
                "triggeredAt": format_millis(now),
                "message": message,
            });
            let host = format!("{hostname} ({agent_id})");
            let mail = email_body(&rule.name, &rule.severity, ("Agent", &host, hostname), &message, now);
            let deliveries = self.notifications(org, rule, webhook, mail, &mut members).await?;
            fires.push(AlertFire {
                alert_id,
                org_id: org.clone(),
                rule_id: rule.id.clone(),
                subject: AlertSubject::Agent {
                    agent_id: agent_id.clone(),
                    subject: subject.to_string(),
                    event: event.to_string(),
                },
                severity: rule.severity.clone(),
                message,
                actual: m.actual.to_string(),
                rule: rule.snapshot.clone(),
                deliveries,
            });
        }
        if !fires.is_empty() {
            metrics::counter!("tlink_alerts_matched_total").increment(fires.len() as u64);
        }
        Ok(fires)
    }

    /// The notifications a new alert of `rule` queues: its webhook, and its e-mail (recorded as not sent
    /// when no SMTP server is configured or nobody would receive it). `members` caches the org's
    /// notification recipients across the alerts of one evaluation.
    async fn notifications(
        &self,
        org: &OrgId,
        rule: &RuleEntry,
        webhook: Value,
        mail: String,
        members: &mut Option<Vec<String>>,
    ) -> anyhow::Result<Vec<NewDelivery>> {
        let mut deliveries = Vec::new();
        if let Some(url) = &rule.webhook {
            deliveries.push(queued_delivery(org, &rule.id, "WEBHOOK", url.clone(), webhook.to_string()));
        }
        if rule.notify_email {
            let to = match &rule.recipients {
                Some(r) => r.clone(),
                None => {
                    if members.is_none() {
                        *members = Some(self.store.notification_recipients(org).await?);
                    }
                    members.clone().unwrap_or_default()
                }
            };
            let target = json!(to).to_string();
            deliveries.push(match (&self.mailer, to.is_empty()) {
                (None, _) => not_sent(target, mail, "not sent: no SMTP server is configured (TLINK_SMTP_HOST)"),
                (_, true) => not_sent(target, mail, "not sent: no recipients (no member takes notifications)"),
                (Some(_), false) => queued_delivery(org, &rule.id, "EMAIL", target, mail),
            });
        }
        Ok(deliveries)
    }

    /// Runs one delivery job: one attempt, recorded, then done, retried later, or given up.
    pub async fn deliver(&self, job: &Job) -> Finish {
        let payload: DeliveryPayload = match decode_json("jobs", &job.id, "payload", &job.payload) {
            Ok(p) => p,
            Err(e) => {
                let error = error_chain(&e);
                tracing::error!(job = %job.id, error = %error, "stored delivery job is corrupt");
                return Finish::new(job.id.clone(), JobOutcome::Dead { error }, ReportUpdate::None);
            }
        };
        let trigger = if payload.manual { "MANUAL" } else { "SCHEDULED" };
        let started_at = tlink_store::now_millis();
        let from_payload = payload.send.is_some();
        let stored = match payload.send.clone() {
            Some(send) => Ok(Some(send)),
            None => self.store.delivery_by_id(&job.id).await.map(|d| d.map(Outgoing::from)),
        };
        let delivery = match stored {
            Ok(Some(d)) => d,
            Ok(None) => {
                let error = "the delivery no longer exists (its alert was deleted)".to_string();
                return Finish::new(job.id.clone(), JobOutcome::Dead { error }, ReportUpdate::None);
            }
            Err(e) => {
                let run_at = started_at + 30_000;
                let error = format!("reading the delivery failed: {e}");
                return Finish::new(job.id.clone(), JobOutcome::Retry { run_at, error }, ReportUpdate::None);
            }
        };
        let outcome = match delivery.channel.as_str() {
            "WEBHOOK" => self.send_webhook(&job.id, &delivery, payload.manual).await,
            "EMAIL" => self.send_email(&job.id, from_payload, &delivery).await,
            other => Sent::refused(format!("unknown channel {other}")),
        };
        let duration_ms = (tlink_store::now_millis() - started_at).max(0);
        metrics::counter!("tlink_deliveries_total", "channel" => delivery.channel.clone(), "outcome" => outcome.outcome)
            .increment(1);
        let attempts = u32::try_from(job.attempts.max(1)).unwrap_or(u32::MAX);
        let mut next_attempt_at = None;
        let (status, job_outcome) = match outcome.outcome {
            "DELIVERED" => ("DELIVERED", JobOutcome::Done),
            "RETRY" if !payload.manual => match notify::retry_delay(attempts, outcome.retry_after, outcome.slow) {
                Some(delay) => {
                    let run_at = tlink_store::now_millis() + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 4);
                    next_attempt_at = Some(run_at);
                    let error = outcome.error.clone().unwrap_or_default();
                    ("PENDING", JobOutcome::Retry { run_at, error })
                }
                None => {
                    let error = format!("gave up after {attempts} attempts: {}", outcome.summary());
                    ("FAILED", JobOutcome::Dead { error })
                }
            },
            _ => ("FAILED", JobOutcome::Dead { error: outcome.summary() }),
        };
        let disable_webhook = (outcome.outcome == "GONE").then(|| {
            self.keys.lock().remove(&delivery.rule_id);
            (
                OrgId::from_trusted(delivery.org_id.clone()),
                RuleId::from_trusted(delivery.rule_id.clone()),
                "the receiver answered 410 Gone".to_string(),
            )
        });
        let last_error = (status != "DELIVERED").then(|| outcome.summary());
        let mut finish = Finish::new(job.id.clone(), job_outcome, ReportUpdate::None);
        finish.effects.delivery = Some(DeliveryUpdate {
            delivery_id: DeliveryId::from_trusted(job.id.clone()),
            attempt: AttemptRecord {
                id: uuid::Uuid::now_v7().to_string(),
                trigger: trigger.to_string(),
                started_at,
                duration_ms,
                status_code: outcome.status.map(i64::from),
                response_excerpt: outcome.excerpt.clone(),
                error: outcome.error.clone(),
                outcome: outcome.outcome.to_string(),
            },
            status: status.to_string(),
            next_attempt_at,
            last_error,
            disable_webhook,
        });
        finish
    }

    /// The rule's webhook key, from the cache when read less than [`RULE_CACHE_TTL`] ago.
    async fn webhook_key(&self, org: &str, rule: &str) -> Result<Arc<WebhookKey>, String> {
        if let Some((at, key)) = self.keys.lock().get(rule)
            && at.elapsed() < RULE_CACHE_TTL
        {
            return Ok(key.clone());
        }
        let org_id = OrgId::from_trusted(org.to_string());
        let rule_id = RuleId::from_trusted(rule.to_string());
        let row = match self.store.get_rule(&org_id, &rule_id).await {
            Ok(Some(r)) => r,
            Ok(None) => return Err("the rule was deleted; its webhook secret is gone".into()),
            Err(e) => return Err(format!("reading the rule failed: {e}")),
        };
        let secret = match row.webhook_secret.as_deref().and_then(|s| self.sealer.open(s)) {
            None => Err("the rule's webhook secret cannot be read (was secrets_key changed?)".to_string()),
            Some(s) => WebhookSecret::parse(&s).map_err(|_| "the rule's webhook secret is malformed".to_string()),
        };
        let disabled =
            row.webhook_disabled_at.map(|_| row.webhook_disabled_reason.unwrap_or_else(|| "disabled".into()));
        let key = Arc::new(WebhookKey { secret, disabled });
        let mut keys = self.keys.lock();
        if keys.len() > 10_000 {
            keys.clear();
        }
        keys.insert(rule.to_string(), (std::time::Instant::now(), key.clone()));
        Ok(key)
    }

    async fn send_webhook(&self, id: &str, d: &Outgoing, manual: bool) -> Sent {
        let key = match self.webhook_key(&d.org_id, &d.rule_id).await {
            Ok(k) => k,
            Err(e) if e.starts_with("reading") => return Sent::retry(e),
            Err(e) => return Sent::refused(e),
        };
        if let (Some(why), false) = (&key.disabled, manual) {
            return Sent::refused(format!("the rule's webhook is disabled ({why})"));
        }
        let secret = match &key.secret {
            Ok(s) => s,
            Err(e) => return Sent::refused(e.clone()),
        };
        let req = WebhookRequest { url: d.target.clone(), msg_id: id.to_string(), body: d.body.clone().into_bytes() };
        let a = self.webhooks.deliver(secret, &req).await;
        let outcome = match a.verdict {
            Verdict::Delivered => "DELIVERED",
            Verdict::Retry => "RETRY",
            Verdict::Gone => "GONE",
            Verdict::Refused => "REFUSED",
        };
        let slow = a.is_slow();
        Sent {
            outcome,
            status: a.status,
            excerpt: a.response_excerpt,
            error: a.error,
            retry_after: a.retry_after,
            slow,
        }
    }

    /// Sends the e-mail of delivery `id`, whose content was read from its job's payload (`from_payload`) or
    /// from the delivery row: corrupt content fails the delivery, and the log names where it was stored.
    async fn send_email(&self, id: &str, from_payload: bool, d: &Outgoing) -> Sent {
        let Some(mailer) = &self.mailer else {
            return Sent::refused("no SMTP server is configured (TLINK_SMTP_HOST)".into());
        };
        let (table, target, body) =
            if from_payload { ("jobs", "payload", "payload") } else { ("deliveries", "target", "body") };
        let decoded = decode_json::<Vec<String>>(table, id, target, &d.target)
            .and_then(|to| Ok((to, decode_json::<Value>(table, id, body, &d.body)?)));
        let (to, mail) = match decoded {
            Ok(d) => d,
            Err(e) => {
                // The details are logged; the attempt, which members can read, records only what happened.
                tracing::error!(delivery = %id, error = %error_chain(&e), "stored e-mail delivery is corrupt");
                return Sent { outcome: "FAILED", ..Sent::refused("the stored e-mail is corrupt".into()) };
            }
        };
        let field = |k: &str| mail.get(k).and_then(Value::as_str).unwrap_or_default().to_string();
        match mailer.send(&to, &field("subject"), &field("text"), &field("html")).await {
            Ok(()) => {
                Sent { outcome: "DELIVERED", status: None, excerpt: None, error: None, retry_after: None, slow: false }
            }
            Err(e) if e.retryable => Sent::retry(e.message),
            Err(e) => Sent { outcome: "FAILED", ..Sent::refused(e.message) },
        }
    }
}

/// One attempt's result, channel-independent.
struct Sent {
    /// `DELIVERED`, `RETRY`, `GONE`, `REFUSED`, `FAILED`.
    outcome: &'static str,
    status: Option<u16>,
    excerpt: Option<String>,
    error: Option<String>,
    retry_after: Option<std::time::Duration>,
    /// A timeout or 429: wait at least a minute.
    slow: bool,
}

impl Sent {
    fn refused(error: String) -> Sent {
        Sent { outcome: "REFUSED", status: None, excerpt: None, error: Some(error), retry_after: None, slow: false }
    }

    fn retry(error: String) -> Sent {
        Sent { outcome: "RETRY", ..Sent::refused(error) }
    }

    fn summary(&self) -> String {
        match (self.status, &self.error) {
            (Some(s), Some(e)) => format!("HTTP {s}: {e}"),
            (Some(s), None) => format!("HTTP {s}"),
            (None, Some(e)) => e.clone(),
            (None, None) => self.outcome.to_ascii_lowercase(),
        }
    }
}

/// An error and its causes, `: `-separated, for logs and recorded job errors.
pub(crate) fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

fn queued_delivery(org: &OrgId, rule: &RuleId, channel: &str, target: String, body: String) -> NewDelivery {
    let id = DeliveryId::new();
    let send = Outgoing {
        org_id: org.to_string(),
        rule_id: rule.to_string(),
        channel: channel.to_string(),
        target: target.clone(),
        body: body.clone(),
    };
    let payload = DeliveryPayload { manual: false, request: None, send: Some(send) };
    let job = NewJob {
        id: id.to_string(),
        kind: DELIVERY_JOB.to_string(),
        payload: json!(payload).to_string(),
        priority: 1,
        run_at: tlink_store::now_millis(),
        max_attempts: i64::from(notify::MAX_ATTEMPTS),
    };
    NewDelivery {
        id,
        channel: channel.to_string(),
        target,
        body,
        status: "PENDING".into(),
        last_error: None,
        job: Some(job),
    }
}

fn not_sent(target: String, body: String, why: &str) -> NewDelivery {
    NewDelivery {
        id: DeliveryId::new(),
        channel: "EMAIL".into(),
        target,
        body,
        status: "NOT_SENT".into(),
        last_error: Some(why.to_string()),
        job: None,
    }
}

/// The e-mail of an alert, as JSON `{subject, text, html}`. `about` is what the alert is about: a label, a
/// description and a short name for the subject line (`("Asset", "DOMAIN example.com", "example.com")`).
fn email_body(rule: &str, severity: &str, about: (&str, &str, &str), message: &str, at: i64) -> String {
    let (label, value, name) = about;
    let subject = format!("[tlink] {severity} alert: {rule} on {name}");
    let when = format_millis(at);
    let text = format!(
        "Alert rule \"{rule}\" fired.\n\nSeverity: {severity}\n{label}: {value}\nCondition: {message}\nAt: {when}\n"
    );
    let esc = |s: &str| s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;");
    let html = format!(
        "<!doctype html><html><body><h2>Alert rule &ldquo;{}&rdquo; fired</h2><table>\
         <tr><th align=\"left\">Severity</th><td>{}</td></tr><tr><th align=\"left\">{}</th><td>{}</td></tr>\
         <tr><th align=\"left\">Condition</th><td><code>{}</code></td></tr><tr><th align=\"left\">At</th><td>{}</td></tr>\
         </table></body></html>",
        esc(rule),
        esc(severity),
        label,
        esc(value),
        esc(message),
        when
    );
    json!({"subject": subject, "text": text, "html": html}).to_string()
}
