//! Alerts and their notifications (deliveries and delivery attempts).
//!
//! Alerts are written only by a finishing tool job, in the transaction that completes its report, and only
//! if that job is still locked by the finishing worker: a retried or re-run job cannot raise a second alert.
//! At most one alert per rule and asset is active (`OPEN` or `ACKNOWLEDGED`, a partial unique index); a new
//! match while one is active becomes an upsert that bumps its occurrence count and `last_seen_at` — unless it
//! comes from the report already counted. Notifications are queued only for a new alert: each is a
//! `deliveries` row plus a job with the delivery's id, inserted only if the alert row with the proposed id
//! exists after the upsert.

use tlink_domain::{AgentId, AlertId, AssetId, DeliveryId, OrgId, RuleId, UserId};

use crate::db::{Row, Stmt, now_millis};
use crate::queue::NewJob;
use crate::{DbError, Page, PageQuery, Result, Store, params};

/// The job kind that sends one delivery; the job's id is the delivery's id.
pub const DELIVERY_JOB: &str = "delivery";

/// A rule match to record as an alert (see the module documentation for the idempotency rules).
#[derive(Debug, Clone)]
pub struct AlertFire {
    /// The id the alert gets if it is new (webhook payloads already name it).
    pub alert_id: AlertId,
    pub org_id: OrgId,
    pub rule_id: RuleId,
    pub subject: AlertSubject,
    pub severity: String,
    pub message: String,
    /// JSON text of the value that matched.
    pub actual: String,
    /// JSON text of the rule as it was when it fired.
    pub rule: String,
    pub deliveries: Vec<NewDelivery>,
}

/// What an alert is about.
#[derive(Debug, Clone, PartialEq)]
pub enum AlertSubject {
    /// A monitored asset, from a tool report on it.
    Asset(AssetId),
    /// A host agent, about one finding (e.g. `CVE-2024-1234 openssl`); `event` names what raised it.
    Agent { agent_id: AgentId, subject: String, event: String },
}

/// A notification to record (and, with a job, to send) when an alert is new.
#[derive(Debug, Clone)]
pub struct NewDelivery {
    pub id: DeliveryId,
    /// `WEBHOOK` or `EMAIL`.
    pub channel: String,
    /// The webhook URL, or the e-mail recipients as a JSON array.
    pub target: String,
    /// The exact webhook body, or the e-mail as JSON `{subject, text, html}`.
    pub body: String,
    /// `PENDING` (with a job) or `NOT_SENT` (e.g. no SMTP server configured; `last_error` says why).
    pub status: String,
    pub last_error: Option<String>,
    pub job: Option<NewJob>,
}

/// One recorded attempt of a delivery.
#[derive(Debug, Clone, PartialEq)]
pub struct AttemptRecord {
    pub id: String,
    /// `SCHEDULED` or `MANUAL`.
    pub trigger: String,
    pub started_at: i64,
    pub duration_ms: i64,
    pub status_code: Option<i64>,
    pub response_excerpt: Option<String>,
    pub error: Option<String>,
    /// `DELIVERED`, `RETRY`, `GONE`, `REFUSED`, `FAILED`.
    pub outcome: String,
}

/// What a finished delivery job writes.
#[derive(Debug, Clone)]
pub struct DeliveryUpdate {
    pub delivery_id: DeliveryId,
    pub attempt: AttemptRecord,
    /// The delivery's new status: `PENDING` (another attempt is scheduled), `DELIVERED`, `FAILED`.
    pub status: String,
    pub next_attempt_at: Option<i64>,
    pub last_error: Option<String>,
    /// 410 Gone: turn this rule's webhook off, with the reason.
    pub disable_webhook: Option<(OrgId, RuleId, String)>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct AlertRow {
    pub id: AlertId,
    pub org_id: OrgId,
    pub rule_id: RuleId,
    /// The asset, for alerts from monitoring.
    pub asset_id: Option<AssetId>,
    /// The report that raised the alert, or for an agent's alert the finding (e.g. `vulnerability:…`).
    pub report_id: String,
    pub last_report_id: String,
    pub severity: String,
    pub status: String,
    pub message: String,
    pub actual: Option<String>,
    pub rule: String,
    pub occurrences: i64,
    pub triggered_at: i64,
    pub last_seen_at: i64,
    pub status_changed_at: Option<i64>,
    pub status_changed_by: Option<UserId>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Set when the alert was dismissed with a reason (Threat Stack's `POST /v2/alerts/dismiss`).
    pub dismiss_reason: Option<String>,
    pub dismiss_reason_text: Option<String>,
    /// The host agent, for alerts about one (e.g. a vulnerability found on it).
    pub agent_id: Option<AgentId>,
    /// What an agent's alert is about, e.g. `CVE-2024-1234 openssl`.
    pub subject: Option<String>,
}

/// Alert list filters. Each of `status` and `severity` matches any of its values (none: no filter).
#[derive(Debug, Clone, Default)]
pub struct AlertFilter {
    pub status: Vec<String>,
    pub severity: Vec<String>,
    pub asset_id: Option<AssetId>,
    pub rule_id: Option<RuleId>,
    pub agent_id: Option<AgentId>,
}

/// Who changes an alert's status, with an optional note and dismissal reason.
#[derive(Debug, Clone, Copy, Default)]
pub struct StatusChange<'a> {
    pub by: Option<&'a UserId>,
    pub note: Option<&'a str>,
    pub dismissal: Option<&'a Dismissal>,
}

/// Why an alert is dismissed (carried with a status change to RESOLVED).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dismissal {
    pub reason: String,
    pub text: Option<String>,
}

/// One status change of an alert.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertEvent {
    pub from_status: String,
    pub to_status: String,
    pub changed_by: Option<UserId>,
    pub note: Option<String>,
    pub created_at: i64,
}

/// The outcome of a status change.
#[derive(Debug, Clone, PartialEq)]
pub enum Transition {
    Changed(Box<AlertRow>),
    /// The alert is not in a status the change may start from; its current status.
    Invalid(String),
    /// Reopening would make a second active alert for the same rule and asset.
    Conflict,
    NotFound,
}

#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryRow {
    pub id: DeliveryId,
    pub org_id: OrgId,
    pub alert_id: AlertId,
    pub rule_id: RuleId,
    pub channel: String,
    pub target: String,
    pub body: String,
    pub status: String,
    pub attempts: i64,
    pub next_attempt_at: Option<i64>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// The outcome of a redelivery request.
#[derive(Debug, Clone, PartialEq)]
pub enum Redeliver {
    Queued,
    /// An attempt is running right now.
    Busy,
    NotFound,
}

macro_rules! alert_columns {
    () => {
        "id, org_id, rule_id, asset_id, report_id, last_report_id, severity, status, message, actual, rule, \
         occurrences, triggered_at, last_seen_at, status_changed_at, status_changed_by, created_at, updated_at, \
         dismiss_reason, dismiss_reason_text, agent_id, subject"
    };
}

macro_rules! delivery_columns {
    () => {
        "id, org_id, alert_id, rule_id, channel, target, body, status, attempts, next_attempt_at, last_error, \
         created_at, updated_at"
    };
}

fn alert_row(r: &Row) -> Result<AlertRow> {
    Ok(AlertRow {
        id: AlertId::from_trusted(r.text(0)?),
        org_id: OrgId::from_trusted(r.text(1)?),
        rule_id: RuleId::from_trusted(r.text(2)?),
        asset_id: r.opt_text(3)?.map(AssetId::from_trusted),
        report_id: r.text(4)?,
        last_report_id: r.text(5)?,
        severity: r.text(6)?,
        status: r.text(7)?,
        message: r.text(8)?,
        actual: r.opt_text(9)?,
        rule: r.text(10)?,
        occurrences: r.i64(11)?,
        triggered_at: r.i64(12)?,
        last_seen_at: r.i64(13)?,
        status_changed_at: r.opt_i64(14)?,
        status_changed_by: r.opt_text(15)?.map(UserId::from_trusted),
        created_at: r.i64(16)?,
        updated_at: r.i64(17)?,
        dismiss_reason: r.opt_text(18)?,
        dismiss_reason_text: r.opt_text(19)?,
        agent_id: r.opt_text(20)?.map(AgentId::from_trusted),
        subject: r.opt_text(21)?,
    })
}

fn delivery_row(r: &Row) -> Result<DeliveryRow> {
    Ok(DeliveryRow {
        id: DeliveryId::from_trusted(r.text(0)?),
        org_id: OrgId::from_trusted(r.text(1)?),
        alert_id: AlertId::from_trusted(r.text(2)?),
        rule_id: RuleId::from_trusted(r.text(3)?),
        channel: r.text(4)?,
        target: r.text(5)?,
        body: r.text(6)?,
        status: r.text(7)?,
        attempts: r.i64(8)?,
        next_attempt_at: r.opt_i64(9)?,
        last_error: r.opt_text(10)?,
        created_at: r.i64(11)?,
        updated_at: r.i64(12)?,
    })
}

fn attempt_row(r: &Row) -> Result<(i64, AttemptRecord)> {
    Ok((
        r.i64(1)?,
        AttemptRecord {
            id: r.text(0)?,
            trigger: r.text(2)?,
            started_at: r.i64(3)?,
            duration_ms: r.i64(4)?,
            status_code: r.opt_i64(5)?,
            response_excerpt: r.opt_text(6)?,
            error: r.opt_text(7)?,
            outcome: r.text(8)?,
        },
    ))
}

/// The statements that record `fire` for the tool job `job_id`, guarded by `worker`'s lock on that job.
pub(crate) fn fire_stmts(job_id: &str, worker: &str, fire: &AlertFire, now: i64, out: &mut Vec<Stmt>) {
    const UPSERT: &str = "INSERT INTO alerts (id, org_id, rule_id, asset_id, report_id, last_report_id, severity, \
        status, message, actual, rule, occurrences, triggered_at, last_seen_at, created_at, updated_at) \
        SELECT $1, $2, $3, $4, $5, $5, $6, 'OPEN', $7, $8, $9, 1, $10, $10, $10, $10 \
        WHERE EXISTS (SELECT 1 FROM jobs WHERE id = $5 AND locked_by = $11) \
        ON CONFLICT (rule_id, asset_id) WHERE status IN ('OPEN', 'ACKNOWLEDGED') DO UPDATE SET \
        last_seen_at = excluded.last_seen_at, occurrences = alerts.occurrences + 1, \
        last_report_id = excluded.last_report_id, message = excluded.message, actual = excluded.actual, \
        updated_at = excluded.updated_at \
        WHERE alerts.last_report_id <> excluded.last_report_id";
    // An agent's alert is not tied to a job: a new finding while one is active for the same rule, agent and
    // subject counts as another occurrence.
    const UPSERT_AGENT: &str = "INSERT INTO alerts (id, org_id, rule_id, agent_id, subject, report_id, \
        last_report_id, severity, status, message, actual, rule, occurrences, triggered_at, last_seen_at, created_at, \
        updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6, $7, 'OPEN', $8, $9, $10, 1, $11, $11, $11, $11) \
        ON CONFLICT (rule_id, agent_id, subject) WHERE status IN ('OPEN', 'ACKNOWLEDGED') AND agent_id IS NOT NULL \
        DO UPDATE SET last_seen_at = excluded.last_seen_at, occurrences = alerts.occurrences + 1, \
        last_report_id = excluded.last_report_id, message = excluded.message, actual = excluded.actual, \
        updated_at = excluded.updated_at";
    const DELIVERY: &str = "INSERT INTO deliveries (id, org_id, alert_id, rule_id, channel, target, body, status, \
        attempts, last_error, created_at, updated_at) \
        SELECT $1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $10, $10 WHERE EXISTS (SELECT 1 FROM alerts WHERE id = $3)";
    const JOB: &str = "INSERT INTO jobs (id, kind, payload, status, priority, run_at, attempts, max_attempts, \
        created_at, updated_at) SELECT $1, $2, $3, 'queued', $4, $5, 0, $6, $7, $7 \
        WHERE EXISTS (SELECT 1 FROM deliveries WHERE id = $1)";
    out.push(match &fire.subject {
        AlertSubject::Asset(asset_id) => Stmt::new(
            UPSERT,
            params![
                fire.alert_id.as_str(),
                fire.org_id.as_str(),
                fire.rule_id.as_str(),
                asset_id.as_str(),
                job_id,
                fire.severity.as_str(),
                fire.message.as_str(),
                fire.actual.as_str(),
                fire.rule.as_str(),
                now,
                worker
            ],
        ),
        AlertSubject::Agent { agent_id, subject, event } => Stmt::new(
            UPSERT_AGENT,
            params![
                fire.alert_id.as_str(),
                fire.org_id.as_str(),
                fire.rule_id.as_str(),
                agent_id.as_str(),
                subject.as_str(),
                event.as_str(),
                fire.severity.as_str(),
                fire.message.as_str(),
                fire.actual.as_str(),
                fire.rule.as_str(),
                now
            ],
        ),
    });
    for d in &fire.deliveries {
        out.push(Stmt::new(
            DELIVERY,
            params![
                d.id.as_str(),
                fire.org_id.as_str(),
                fire.alert_id.as_str(),
                fire.rule_id.as_str(),
                d.channel.as_str(),
                d.target.as_str(),
                d.body.as_str(),
                d.status.as_str(),
                d.last_error.clone(),
                now
            ],
        ));
        if let Some(job) = &d.job {
            out.push(Stmt::new(
                JOB,
                params![
                    job.id.as_str(),
                    job.kind.as_str(),
                    job.payload.as_str(),
                    job.priority,
                    job.run_at,
                    job.max_attempts,
                    now
                ],
            ));
        }
    }
}

/// The statements that record a delivery attempt for the job `job_id`, guarded by `worker`'s lock.
pub(crate) fn delivery_stmts(job_id: &str, worker: &str, u: &DeliveryUpdate, now: i64, out: &mut Vec<Stmt>) {
    const ATTEMPT: &str = "INSERT INTO delivery_attempts (id, delivery_id, attempt, trigger_kind, started_at, \
        duration_ms, status_code, response_excerpt, error, outcome) \
        SELECT $1, $2, (SELECT attempts + 1 FROM deliveries WHERE id = $2), $3, $4, $5, $6, $7, $8, $9 \
        WHERE EXISTS (SELECT 1 FROM jobs WHERE id = $10 AND locked_by = $11)";
    const UPDATE: &str = "UPDATE deliveries SET attempts = attempts + 1, status = $2, next_attempt_at = $3, \
        last_error = $4, updated_at = $5 WHERE id = $1 \
        AND EXISTS (SELECT 1 FROM jobs WHERE id = $6 AND locked_by = $7)";
    const DISABLE: &str = "UPDATE alert_rules SET webhook_disabled_at = $3, webhook_disabled_reason = $4, \
        updated_at = $3 WHERE org_id = $1 AND id = $2 AND webhook_disabled_at IS NULL \
        AND EXISTS (SELECT 1 FROM jobs WHERE id = $5 AND locked_by = $6)";
    const BUMP: &str = "UPDATE orgs SET rules_version = rules_version + 1 WHERE id = $1 \
        AND EXISTS (SELECT 1 FROM jobs WHERE id = $2 AND locked_by = $3)";
    let a = &u.attempt;
    out.push(Stmt::new(
        ATTEMPT,
        params![
            a.id.as_str(),
            u.delivery_id.as_str(),
            a.trigger.as_str(),
            a.started_at,
            a.duration_ms,
            a.status_code,
            a.response_excerpt.clone(),
            a.error.clone(),
            a.outcome.as_str(),
            job_id,
            worker
        ],
    ));
    out.push(Stmt::new(
        UPDATE,
        params![
            u.delivery_id.as_str(),
            u.status.as_str(),
            u.next_attempt_at,
            u.last_error.clone(),
            now,
            job_id,
            worker
        ],
    ));
    if let Some((org, rule, reason)) = &u.disable_webhook {
        out.push(Stmt::new(DISABLE, params![org.as_str(), rule.as_str(), now, reason.as_str(), job_id, worker]));
        out.push(Stmt::new(BUMP, params![org.as_str(), job_id, worker]));
    }
}

impl Store {
    pub async fn get_alert(&self, org: &OrgId, id: &AlertId) -> Result<Option<AlertRow>> {
        const SQL: &str = concat!("SELECT ", alert_columns!(), " FROM alerts WHERE org_id = $1 AND id = $2");
        self.db.query_opt(SQL, &params![org.as_str(), id.as_str()]).await?.as_ref().map(alert_row).transpose()
    }

    /// The org's alerts, newest first.
    pub async fn list_alerts(&self, org: &OrgId, f: &AlertFilter, page: &PageQuery) -> Result<Page<AlertRow>> {
        const SQL: &str = concat!(
            "SELECT ",
            alert_columns!(),
            " FROM alerts WHERE org_id = $1 AND (created_at, id) < ($2, $3) AND created_at >= $4 \
              AND created_at < $5 AND (CAST($7 AS TEXT) IS NULL OR status IN ($7, $11, $12)) \
              AND (CAST($8 AS TEXT) IS NULL OR severity IN ($8, $13, $14)) \
              AND (CAST($9 AS TEXT) IS NULL OR asset_id = $9) \
              AND (CAST($10 AS TEXT) IS NULL OR rule_id = $10) \
              AND (CAST($15 AS TEXT) IS NULL OR agent_id = $15) ORDER BY created_at DESC, id DESC LIMIT $6"
        );
        let mut p = Vec::from(params![org.as_str()]);
        p.extend(page.bounds());
        let nth = |v: &[String], i: usize| v.get(i).or(v.first()).cloned();
        p.push(nth(&f.status, 0).into());
        p.push(nth(&f.severity, 0).into());
        p.push(f.asset_id.as_ref().map(|a| a.as_str()).into());
        p.push(f.rule_id.as_ref().map(|a| a.as_str()).into());
        p.extend([nth(&f.status, 1).into(), nth(&f.status, 2).into()]);
        p.extend([nth(&f.severity, 1).into(), nth(&f.severity, 2).into()]);
        p.push(f.agent_id.as_ref().map(|a| a.as_str()).into());
        let rows = self.db.query(SQL, &p).await?;
        let items = rows.iter().map(alert_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(items, page.limit, |r| (r.created_at, r.id.as_str().to_string())))
    }

    /// Moves an alert from one of `from` to `to`, recording who did it, atomically.
    pub async fn transition_alert(
        &self,
        org: &OrgId,
        id: &AlertId,
        from: &[&str],
        to: &str,
        change: &StatusChange<'_>,
    ) -> Result<Transition> {
        let StatusChange { by, note, dismissal } = *change;
        const EVENT: &str = "INSERT INTO alert_events (id, alert_id, from_status, to_status, changed_by, note, \
            created_at) SELECT $1, id, status, $4, $5, $6, $7 FROM alerts \
            WHERE org_id = $2 AND id = $3 AND status IN ($8, $9, $10)";
        const UPDATE: &str = concat!(
            "UPDATE alerts SET status = $3, status_changed_at = $5, status_changed_by = $4, updated_at = $5, \
             dismiss_reason = $9, dismiss_reason_text = $10 \
             WHERE org_id = $1 AND id = $2 AND status IN ($6, $7, $8) RETURNING ",
            alert_columns!()
        );
        let now = now_millis();
        let f = |i: usize| from.get(i).copied().unwrap_or("");
        let ev = params![
            uuid::Uuid::now_v7().to_string(),
            org.as_str(),
            id.as_str(),
            to,
            by.map(|u| u.as_str()),
            note,
            now,
            f(0),
            f(1),
            f(2)
        ];
        let up = params![
            org.as_str(),
            id.as_str(),
            to,
            by.map(|u| u.as_str()),
            now,
            f(0),
            f(1),
            f(2),
            dismissal.map(|d| d.reason.as_str()),
            dismissal.and_then(|d| d.text.as_deref())
        ];
        match self.db.transaction_returning(vec![Stmt::new(EVENT, ev), Stmt::returning(UPDATE, up)]).await {
            Ok(mut out) => {
                if let Some(row) = out.swap_remove(1).rows.first() {
                    return Ok(Transition::Changed(Box::new(alert_row(row)?)));
                }
            }
            Err(DbError::Unique(_)) => return Ok(Transition::Conflict),
            Err(e) => return Err(e),
        }
        Ok(match self.get_alert(org, id).await? {
            Some(a) => Transition::Invalid(a.status),
            None => Transition::NotFound,
        })
    }

    /// How many of the org's alerts in `[from, until)` have each severity, counting only `statuses` when
    /// given.
    pub async fn alert_severity_counts(
        &self,
        org: &OrgId,
        from: Option<i64>,
        until: Option<i64>,
        statuses: &[String],
    ) -> Result<Vec<(String, i64)>> {
        const SQL: &str = "SELECT severity, COUNT(*) FROM alerts WHERE org_id = $1 AND created_at >= $2 \
            AND created_at < $3 AND (CAST($4 AS TEXT) IS NULL OR status IN ($4, $5)) GROUP BY severity";
        let nth = |i: usize| statuses.get(i).or(statuses.first()).cloned();
        let p = params![org.as_str(), from.unwrap_or(i64::MIN), until.unwrap_or(i64::MAX), nth(0), nth(1)];
        let rows = self.db.query(SQL, &p).await?;
        rows.iter().map(|r| Ok((r.text(0)?, r.i64(1)?))).collect()
    }

    /// An alert's status changes, oldest first.
    pub async fn alert_events(&self, alert: &AlertId) -> Result<Vec<AlertEvent>> {
        const SQL: &str = "SELECT from_status, to_status, changed_by, note, created_at FROM alert_events \
            WHERE alert_id = $1 ORDER BY created_at, id LIMIT 1000";
        let rows = self.db.query(SQL, &params![alert.as_str()]).await?;
        rows.iter()
            .map(|r| {
                Ok(AlertEvent {
                    from_status: r.text(0)?,
                    to_status: r.text(1)?,
                    changed_by: r.opt_text(2)?.map(UserId::from_trusted),
                    note: r.opt_text(3)?,
                    created_at: r.i64(4)?,
                })
            })
            .collect()
    }

    /// An alert's deliveries, oldest first.
    pub async fn list_deliveries(&self, org: &OrgId, alert: &AlertId, page: &PageQuery) -> Result<Page<DeliveryRow>> {
        const SQL: &str = concat!(
            "SELECT ",
            delivery_columns!(),
            " FROM deliveries WHERE org_id = $1 AND alert_id = $7 AND (created_at, id) < ($2, $3) \
              AND created_at >= $4 AND created_at < $5 ORDER BY created_at DESC, id DESC LIMIT $6"
        );
        let mut p = Vec::from(params![org.as_str()]);
        p.extend(page.bounds());
        p.push(alert.as_str().into());
        let rows = self.db.query(SQL, &p).await?;
        let items = rows.iter().map(delivery_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(items, page.limit, |r| (r.created_at, r.id.as_str().to_string())))
    }

    pub async fn get_delivery(&self, org: &OrgId, id: &DeliveryId) -> Result<Option<DeliveryRow>> {
        const SQL: &str = concat!("SELECT ", delivery_columns!(), " FROM deliveries WHERE org_id = $1 AND id = $2");
        self.db.query_opt(SQL, &params![org.as_str(), id.as_str()]).await?.as_ref().map(delivery_row).transpose()
    }

    /// For the delivery worker, which knows only the job (= delivery) id.
    pub async fn delivery_by_id(&self, id: &str) -> Result<Option<DeliveryRow>> {
        const SQL: &str = concat!("SELECT ", delivery_columns!(), " FROM deliveries WHERE id = $1");
        self.db.query_opt(SQL, &params![id]).await?.as_ref().map(delivery_row).transpose()
    }

    /// Every attempt of the given deliveries, oldest first per delivery: `(attempt number, record)`.
    pub async fn delivery_attempts(&self, delivery: &DeliveryId) -> Result<Vec<(i64, AttemptRecord)>> {
        const SQL: &str = "SELECT id, attempt, trigger_kind, started_at, duration_ms, status_code, \
            response_excerpt, error, outcome FROM delivery_attempts WHERE delivery_id = $1 \
            ORDER BY started_at, id LIMIT 1000";
        self.db.query(SQL, &params![delivery.as_str()]).await?.iter().map(attempt_row).collect()
    }

    /// Queues one manual attempt of a delivery (its job is (re)created with the delivery's id).
    pub async fn redeliver(&self, org: &OrgId, id: &DeliveryId, payload: &str) -> Result<Redeliver> {
        const JOB: &str = "INSERT INTO jobs (id, kind, payload, status, priority, run_at, attempts, max_attempts, \
            created_at, updated_at) SELECT $1, $2, $3, 'queued', 1, $4, 0, 1, $4, $4 \
            WHERE EXISTS (SELECT 1 FROM deliveries WHERE org_id = $5 AND id = $1) \
            ON CONFLICT (id) DO UPDATE SET status = 'queued', payload = excluded.payload, run_at = excluded.run_at, \
            attempts = 0, max_attempts = 1, priority = 1, locked_by = NULL, lease_until = NULL, \
            updated_at = excluded.updated_at WHERE jobs.status <> 'running'";
        const STATUS: &str = "UPDATE deliveries SET status = 'PENDING', next_attempt_at = $3, updated_at = $3 \
            WHERE org_id = $1 AND id = $2 AND EXISTS (SELECT 1 FROM jobs WHERE id = $2 AND status = 'queued' \
            AND payload = $4)";
        let now = now_millis();
        let counts = self
            .db
            .transaction(vec![
                Stmt::new(JOB, params![id.as_str(), DELIVERY_JOB, payload, now, org.as_str()]),
                Stmt::new(STATUS, params![org.as_str(), id.as_str(), now, payload]),
            ])
            .await?;
        if counts[1] == 1 {
            return Ok(Redeliver::Queued);
        }
        Ok(match self.get_delivery(org, id).await? {
            Some(_) => Redeliver::Busy,
            None => Redeliver::NotFound,
        })
    }

    /// E-mail addresses of the org's members who take notifications.
    pub async fn notification_recipients(&self, org: &OrgId) -> Result<Vec<String>> {
        const SQL: &str = "SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id \
            WHERE m.org_id = $1 AND m.notify_email = $2 ORDER BY u.email LIMIT 1000";
        self.db.query(SQL, &params![org.as_str(), true]).await?.iter().map(|r| r.text(0)).collect()
    }
}
