//! The delivery job: one notification (a signed webhook or an e-mail) of one alert, attempted, recorded,
//! and retried on the schedule of [`tlink_tools::notify::retry_delay`].
//!
//! A webhook is signed twice (`X-TLINK-Signature` and Standard Webhooks) with the rule's secret, read
//! from the rule (sealed at rest) and kept for a few seconds; a manual redelivery is one attempt with the
//! same `webhook-id`.
//!
//! Each attempt is counted by channel and outcome (`tlink_deliveries_total`) and timed
//! (`tlink_delivery_seconds`); a delivery that ends DELIVERED or FAILED is counted once more
//! (`tlink_deliveries_finished_total`). Its org, rule and channel go into the job's span; its target (a
//! webhook URL may carry a token, an e-mail a person's address) never reaches a log.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tlink_domain::{DeliveryId, OrgId, RuleId};
use tlink_store::{
    AttemptRecord, DeliveryRow, DeliveryUpdate, Finish, Job, JobKind, JobOutcome, NewDelivery, NewJob, ReportUpdate,
    Store, decode_json,
};
use tlink_tools::Toolbox;
use tlink_tools::notify::{self, Mailer, Verdict, WebhookRequest, WebhookSecret, Webhooks};

use crate::jobs::background::BackgroundJob;
use crate::sealed::Sealer;
use crate::telemetry::{DELIVERY_CHANNELS, error_chain};

/// What a delivery job carries (the delivery row has the rest).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DeliveryJob {
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

impl BackgroundJob for DeliveryJob {
    const KIND: JobKind = JobKind::Delivery;
}

impl DeliveryJob {
    /// A manual redelivery: one attempt, and a payload no other request has (the store tells its own
    /// request apart by it).
    pub fn manual() -> DeliveryJob {
        DeliveryJob { manual: true, request: Some(uuid::Uuid::now_v7().to_string()), send: None }
    }
}

/// How long a rule's webhook secret and state are reused by delivery attempts before being read again: a
/// rotated secret or a disabled webhook applies to attempts at most this much later.
const RULE_CACHE_TTL: std::time::Duration = std::time::Duration::from_secs(5);

/// A rule's webhook signing key, as delivery attempts need it.
struct WebhookKey {
    secret: Result<WebhookSecret, String>,
    disabled: Option<String>,
}

/// Sends deliveries: the webhook client, the mailer, and the rules' webhook keys.
pub struct Sender {
    store: Store,
    webhooks: Webhooks,
    sealer: Sealer,
    mailer: Option<Mailer>,
    keys: parking_lot::Mutex<HashMap<String, (std::time::Instant, Arc<WebhookKey>)>>,
}

impl Sender {
    /// `mailer` is built from the `smtp` configuration; without it e-mail cannot be sent.
    pub fn new(
        store: Store,
        toolbox: &Toolbox,
        sealer: Sealer,
        mailer: Option<Mailer>,
        webhook_timeout: std::time::Duration,
    ) -> anyhow::Result<Sender> {
        let webhooks =
            Webhooks::new(toolbox).map_err(|e| anyhow::anyhow!("webhook client: {e}"))?.with_timeout(webhook_timeout);
        Ok(Sender { store, webhooks, sealer, mailer, keys: Default::default() })
    }

    pub fn sealer(&self) -> &Sealer {
        &self.sealer
    }

    /// Whether e-mail can be sent (an SMTP server is configured).
    pub fn can_mail(&self) -> bool {
        self.mailer.is_some()
    }

    /// Runs one delivery job: one attempt, recorded, then done, retried later, or given up.
    pub async fn deliver(&self, job: &Job) -> Finish {
        let payload = match DeliveryJob::decode(job) {
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
        // The labels take the known channels only; anything else stored is `other`.
        let channel = DELIVERY_CHANNELS.iter().copied().find(|c| *c == delivery.channel).unwrap_or("other");
        let span = tracing::Span::current();
        span.record("delivery_id", job.id.as_str());
        span.record("org_id", delivery.org_id.as_str());
        span.record("rule_id", delivery.rule_id.as_str());
        span.record("channel", channel);
        let attempt_started = std::time::Instant::now();
        let outcome = match delivery.channel.as_str() {
            "WEBHOOK" => self.send_webhook(&job.id, &delivery, payload.manual).await,
            "EMAIL" => self.send_email(&job.id, from_payload, &delivery).await,
            other => Sent::refused(format!("unknown channel {other}")),
        };
        metrics::histogram!("tlink_delivery_seconds", "channel" => channel)
            .record(attempt_started.elapsed().as_secs_f64());
        let duration_ms = (tlink_store::now_millis() - started_at).max(0);
        metrics::counter!("tlink_deliveries_total", "channel" => channel, "outcome" => outcome.outcome).increment(1);
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
        if status != "PENDING" {
            metrics::counter!("tlink_deliveries_finished_total", "channel" => channel, "status" => status).increment(1);
        }
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

    /// Sends one message now, signed with `secret`, outside the queue: nothing is recorded and nothing is
    /// retried (a rule's "send test delivery").
    pub async fn send_once(&self, secret: &WebhookSecret, url: &str, msg_id: &str, body: Vec<u8>) -> notify::Attempt {
        let req = WebhookRequest { url: url.to_string(), msg_id: msg_id.to_string(), body };
        self.webhooks.deliver(secret, &req).await
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

pub(super) fn queued_delivery(org: &OrgId, rule: &RuleId, channel: &str, target: String, body: String) -> NewDelivery {
    let id = DeliveryId::new();
    let send = Outgoing {
        org_id: org.to_string(),
        rule_id: rule.to_string(),
        channel: channel.to_string(),
        target: target.clone(),
        body: body.clone(),
    };
    let payload = DeliveryJob { manual: false, request: None, send: Some(send) };
    let job = NewJob {
        id: id.to_string(),
        kind: DeliveryJob::KIND,
        payload: payload.encode(),
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

pub(super) fn not_sent(target: String, body: String, why: &str) -> NewDelivery {
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
