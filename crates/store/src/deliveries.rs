//! Deliveries: the notifications of an alert (a webhook call or an e-mail), each sent by its own job, and the
//! record of every attempt.
//!
//! A delivery is created only with a new alert, in the transaction that writes the alert (`alerts.rs` calls
//! [`insert_stmts`]); its attempts are recorded by the finishing delivery job, guarded by that job's lock
//! ([`attempt_stmts`]); and a manual redelivery re-creates its job.

use tlink_domain::{AlertId, DeliveryId, OrgId, RuleId};

use crate::db::{Row, Stmt, now_millis};
use crate::jobs::{JobKind, NewJob};
use crate::{Page, PageQuery, Result, Store, params};

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

/// The columns [`DeliveryRow::from_row`] reads, in its order.
macro_rules! delivery_columns {
    () => {
        "id, org_id, alert_id, rule_id, channel, target, body, status, attempts, next_attempt_at, last_error, \
         created_at, updated_at"
    };
}

impl DeliveryRow {
    fn from_row(r: &Row) -> Result<DeliveryRow> {
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
}

/// The columns [`attempt_from_row`] reads, in its order.
macro_rules! attempt_columns {
    () => {
        "id, attempt, trigger_kind, started_at, duration_ms, status_code, response_excerpt, error, outcome"
    };
}

/// A recorded attempt with its number.
fn attempt_from_row(r: &Row) -> Result<(i64, AttemptRecord)> {
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

/// The statements that record the new delivery `d` of alert `alert_id` (and its job, when it has one). Both
/// go in only if the alert row with that id exists, i.e. when the alert's own upsert inserted it.
pub(crate) fn insert_stmts(
    d: &NewDelivery,
    org: &OrgId,
    alert_id: &AlertId,
    rule_id: &RuleId,
    now: i64,
    out: &mut Vec<Stmt>,
) {
    const DELIVERY: &str = "INSERT INTO deliveries (id, org_id, alert_id, rule_id, channel, target, body, status, \
        attempts, last_error, created_at, updated_at) \
        SELECT $1, $2, $3, $4, $5, $6, $7, $8, 0, $9, $10, $10 WHERE EXISTS (SELECT 1 FROM alerts WHERE id = $3)";
    const JOB: &str = "INSERT INTO jobs (id, kind, payload, status, priority, run_at, attempts, max_attempts, \
        created_at, updated_at) SELECT $1, $2, $3, 'queued', $4, $5, 0, $6, $7, $7 \
        WHERE EXISTS (SELECT 1 FROM deliveries WHERE id = $1)";
    out.push(Stmt::new(
        DELIVERY,
        params![
            d.id.as_str(),
            org.as_str(),
            alert_id.as_str(),
            rule_id.as_str(),
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

/// The statements that record a delivery attempt for the job `job_id`, guarded by `worker`'s lock. A delivery
/// deleted while it was being sent (its asset deleted, and its alert with it) records nothing: its attempt
/// would break the batch of outcomes it is finished in.
pub(crate) fn attempt_stmts(job_id: &str, worker: &str, u: &DeliveryUpdate, now: i64, out: &mut Vec<Stmt>) {
    const ATTEMPT: &str = "INSERT INTO delivery_attempts (id, delivery_id, attempt, trigger_kind, started_at, \
        duration_ms, status_code, response_excerpt, error, outcome) \
        SELECT $1, $2, (SELECT attempts + 1 FROM deliveries WHERE id = $2), $3, $4, $5, $6, $7, $8, $9 \
        WHERE EXISTS (SELECT 1 FROM jobs WHERE id = $10 AND locked_by = $11) \
        AND EXISTS (SELECT 1 FROM deliveries WHERE id = $2)";
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
        let items = rows.iter().map(DeliveryRow::from_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(items, page.limit, |r| (r.created_at, r.id.as_str().to_string())))
    }

    /// A rule's latest `limit` deliveries (of all its alerts), newest first.
    pub async fn rule_deliveries(&self, org: &OrgId, rule: &RuleId, limit: u32) -> Result<Vec<DeliveryRow>> {
        const SQL: &str = concat!(
            "SELECT ",
            delivery_columns!(),
            " FROM deliveries WHERE org_id = $1 AND rule_id = $2 ORDER BY created_at DESC, id DESC LIMIT $3"
        );
        let rows = self.db.query(SQL, &params![org.as_str(), rule.as_str(), i64::from(limit)]).await?;
        rows.iter().map(DeliveryRow::from_row).collect()
    }

    pub async fn get_delivery(&self, org: &OrgId, id: &DeliveryId) -> Result<Option<DeliveryRow>> {
        const SQL: &str = concat!("SELECT ", delivery_columns!(), " FROM deliveries WHERE org_id = $1 AND id = $2");
        self.db
            .query_opt(SQL, &params![org.as_str(), id.as_str()])
            .await?
            .as_ref()
            .map(DeliveryRow::from_row)
            .transpose()
    }

    /// For the delivery worker, which knows only the job (= delivery) id.
    pub async fn delivery_by_id(&self, id: &str) -> Result<Option<DeliveryRow>> {
        const SQL: &str = concat!("SELECT ", delivery_columns!(), " FROM deliveries WHERE id = $1");
        self.db.query_opt(SQL, &params![id]).await?.as_ref().map(DeliveryRow::from_row).transpose()
    }

    /// Every attempt of the given deliveries, oldest first per delivery: `(attempt number, record)`.
    pub async fn delivery_attempts(&self, delivery: &DeliveryId) -> Result<Vec<(i64, AttemptRecord)>> {
        const SQL: &str = concat!(
            "SELECT ",
            attempt_columns!(),
            " FROM delivery_attempts WHERE delivery_id = $1 ORDER BY started_at, id LIMIT 1000"
        );
        self.db.query(SQL, &params![delivery.as_str()]).await?.iter().map(attempt_from_row).collect()
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
                Stmt::new(JOB, params![id.as_str(), JobKind::Delivery.as_str(), payload, now, org.as_str()]),
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
