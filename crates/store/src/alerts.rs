//! Alerts: what a rule match raises, and the status changes users make to it.
//!
//! Alerts are written only by a finishing tool job, in the transaction that completes its report, and only
//! if that job is still locked by the finishing worker: a retried or re-run job cannot raise a second alert.
//! At most one alert per rule and asset is active (`OPEN` or `ACKNOWLEDGED`, a partial unique index); a new
//! match while one is active becomes an upsert that bumps its occurrence count and `last_seen_at` — unless it
//! comes from the report already counted. Notifications are queued only for a new alert: each is a
//! `deliveries` row plus a job with the delivery's id (see `deliveries.rs`), inserted only if the alert row
//! with the proposed id exists after the upsert.

use tlink_domain::{AgentId, AlertId, AssetId, OrgId, RuleId, UserId};

use crate::db::{Row, Stmt, now_millis};
use crate::deliveries::{self, NewDelivery};
use crate::{DbError, Page, PageQuery, Result, Store, params};

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

/// The columns [`AlertEvent::from_row`] reads, in its order.
macro_rules! event_columns {
    () => {
        "from_status, to_status, changed_by, note, created_at"
    };
}

impl AlertEvent {
    fn from_row(r: &Row) -> Result<AlertEvent> {
        Ok(AlertEvent {
            from_status: r.text(0)?,
            to_status: r.text(1)?,
            changed_by: r.opt_text(2)?.map(UserId::from_trusted),
            note: r.opt_text(3)?,
            created_at: r.i64(4)?,
        })
    }
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

/// The columns [`AlertRow::from_row`] reads, in its order.
macro_rules! alert_columns {
    () => {
        "id, org_id, rule_id, asset_id, report_id, last_report_id, severity, status, message, actual, rule, \
         occurrences, triggered_at, last_seen_at, status_changed_at, status_changed_by, created_at, updated_at, \
         dismiss_reason, dismiss_reason_text, agent_id, subject"
    };
}

impl AlertRow {
    fn from_row(r: &Row) -> Result<AlertRow> {
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
        deliveries::insert_stmts(d, &fire.org_id, &fire.alert_id, &fire.rule_id, now, out);
    }
}

impl Store {
    pub async fn get_alert(&self, org: &OrgId, id: &AlertId) -> Result<Option<AlertRow>> {
        const SQL: &str = concat!("SELECT ", alert_columns!(), " FROM alerts WHERE org_id = $1 AND id = $2");
        self.db.query_opt(SQL, &params![org.as_str(), id.as_str()]).await?.as_ref().map(AlertRow::from_row).transpose()
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
        let items = rows.iter().map(AlertRow::from_row).collect::<Result<Vec<_>>>()?;
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
                    return Ok(Transition::Changed(Box::new(AlertRow::from_row(row)?)));
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
        const SQL: &str = concat!(
            "SELECT ",
            event_columns!(),
            " FROM alert_events WHERE alert_id = $1 ORDER BY created_at, id LIMIT 1000"
        );
        self.db.query(SQL, &params![alert.as_str()]).await?.iter().map(AlertEvent::from_row).collect()
    }
}
