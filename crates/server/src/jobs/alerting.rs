//! Alerting: evaluate an org's rules against each completed scan of an asset (and each new vulnerability
//! finding), and queue the notifications.
//!
//! - Rules are compiled once per org and kept in memory with the org's `rules_version`; a report costs one
//!   small query to check the version, then only its tool's rules are evaluated (see
//!   [`tlink_domain::rules::RuleIndex`]). The previous result is read only when a rule uses `changed`.
//! - Matches become [`AlertFire`]s that the worker writes in the same transaction that completes the report
//!   (so a retried job cannot alert twice; see `tlink_store::alerts`). A new alert queues its deliveries.
//! - The deliveries themselves are jobs of their own ([`crate::jobs::delivery`]).

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use serde_json::{Value, json};
use tlink_domain::rules::RuleIndex;
use tlink_domain::{AgentId, AssetRef, OrgId, RuleId, format_millis};
use tlink_store::{AlertFire, AlertSubject, DbError, Finish, Job, NewDelivery, Store, decode_json, decode_json_opt};
use tlink_tools::Toolbox;
use tlink_tools::notify::Mailer;

use crate::jobs::delivery::{Sender, not_sent, queued_delivery};
use crate::sealed::Sealer;
use crate::telemetry::error_chain;

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
    sender: Sender,
    cache: parking_lot::Mutex<HashMap<OrgId, Arc<OrgRules>>>,
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
        let sender = Sender::new(store.clone(), toolbox, sealer, mailer, webhook_timeout)?;
        Ok(Alerting { store, sender, cache: Default::default() })
    }

    pub fn sealer(&self) -> &Sealer {
        self.sender.sealer()
    }

    /// Sends one webhook message now, outside the queue (see [`Sender::send_once`]).
    pub async fn send_once(
        &self,
        secret: &tlink_tools::notify::WebhookSecret,
        url: &str,
        msg_id: &str,
        body: Vec<u8>,
    ) -> tlink_tools::notify::Attempt {
        self.sender.send_once(secret, url, msg_id, body).await
    }

    /// Runs one delivery job (see [`Sender::deliver`]).
    pub async fn deliver(&self, job: &Job) -> Finish {
        self.sender.deliver(job).await
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
                    crate::documents::row_condition(&row)?,
                    list("email_recipients", &row.email_recipients)?,
                    list("asset_ids", &row.asset_ids)?,
                    list("asset_types", &row.asset_types)?,
                    crate::documents::rule_snapshot(&row)?,
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
        asset: &AssetRef,
        asset_value: &str,
        tool: &str,
        report_id: &str,
        result: &Value,
    ) -> anyhow::Result<Vec<AlertFire>> {
        let org = asset.org_id.clone();
        let rules = self.rules_for(&org).await?;
        if rules.index.is_empty() {
            return Ok(Vec::new());
        }
        let asset_id = asset.id.clone();
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
            if rule.asset_ids.as_ref().is_some_and(|ids| !ids.contains(asset.id.as_str()))
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
    /// [`crate::documents::VULNERABILITY_TOOL`] pseudo-tool that match `finding` (the document described in `crate::jobs::vulns`).
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
        for (&i, m) in rules.index.evaluate(crate::documents::VULNERABILITY_TOOL, finding, None) {
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
            deliveries.push(match (self.sender.can_mail(), to.is_empty()) {
                (false, _) => not_sent(target, mail, "not sent: no SMTP server is configured (TLINK_SMTP_HOST)"),
                (_, true) => not_sent(target, mail, "not sent: no recipients (no member takes notifications)"),
                (true, false) => queued_delivery(org, &rule.id, "EMAIL", target, mail),
            });
        }
        Ok(deliveries)
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
