//! The audit log: who changed what in an organization, one row per change.
//!
//! The log is append-only. This module inserts entries and reads them; nothing in the crate updates or deletes
//! one, and the only way a row goes is with its organization (`ON DELETE CASCADE`). An entry names its actor
//! twice on purpose: `actor_user_id` for filtering (none for the command line or the system itself) and
//! `actor`, the text to show, fixed when the change was made (a user's e-mail address may change later; the
//! entry keeps the one they had). `detail` is JSON text, decoded by callers ([`AuditRow::detail_json`]).
//!
//! A change and its entry can commit together: [`audit_statement`] builds the insert as a [`Stmt`] for a
//! transaction that carries the change itself.

use tlink_domain::{OrgId, UserId};

use crate::db::{Row, Stmt, now_millis};
use crate::json::decode_json_opt;
use crate::{Page, PageQuery, Result, Store, params};

/// One change to record in an organization's audit log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAuditEntry {
    /// The organization the change was made in.
    pub org_id: OrgId,
    /// The user who made it; `None` for the command line (the operator) or the system.
    pub actor_user_id: Option<UserId>,
    /// Who made it, as shown: the user's e-mail address, `key tlpro_abcd…`, `tlink (command line)`.
    pub actor: String,
    /// The visible prefix of the API key the change came through (API key or Hawk), if it did.
    pub actor_key_prefix: Option<String>,
    /// What was done, `resource.verb`: `api_key.created`, `member.role_changed`, …
    pub action: String,
    /// The kind of thing changed: `api_key`, `member`, `rule`, `plan`, `alert`, `vulnerability`, …
    pub target_type: String,
    /// The id (or other key) of the thing changed.
    pub target_id: String,
    /// A sentence for people, e.g. "changed bob@example.com's role from MEMBER to ADMIN".
    pub summary: String,
    /// The address the request came from, when there was a request.
    pub client_ip: Option<String>,
    /// Anything else worth keeping, as JSON text.
    pub detail: Option<String>,
    /// Where the change was made: `api`, `dashboard` or `cli`.
    pub source: String,
}

/// One stored audit-log entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRow {
    /// A UUIDv7, so entries of one millisecond still sort in the order they were recorded.
    pub id: String,
    /// The organization the change was made in.
    pub org_id: OrgId,
    /// When the change was recorded, in unix milliseconds.
    pub created_at: i64,
    /// See [`NewAuditEntry::actor_user_id`].
    pub actor_user_id: Option<UserId>,
    /// See [`NewAuditEntry::actor`].
    pub actor: String,
    /// See [`NewAuditEntry::actor_key_prefix`].
    pub actor_key_prefix: Option<String>,
    /// See [`NewAuditEntry::action`].
    pub action: String,
    /// See [`NewAuditEntry::target_type`].
    pub target_type: String,
    /// See [`NewAuditEntry::target_id`].
    pub target_id: String,
    /// See [`NewAuditEntry::summary`].
    pub summary: String,
    /// See [`NewAuditEntry::client_ip`].
    pub client_ip: Option<String>,
    /// See [`NewAuditEntry::detail`] (JSON text; [`AuditRow::detail_json`] decodes it).
    pub detail: Option<String>,
    /// See [`NewAuditEntry::source`].
    pub source: String,
}

/// Audit-log list filters; each one given must match (none: every entry of the organization).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AuditFilter {
    /// Only entries with this action, e.g. `api_key.created`.
    pub action: Option<String>,
    /// Only entries made by this user.
    pub actor_user_id: Option<UserId>,
    /// Only entries about this kind of thing, e.g. `member`.
    pub target_type: Option<String>,
}

/// The columns [`AuditRow::from_row`] reads, in its order (also the order the insert writes them in).
macro_rules! audit_columns {
    () => {
        "id, org_id, created_at, actor_user_id, actor, actor_key_prefix, action, target_type, target_id, summary, \
         client_ip, detail, source"
    };
}

impl AuditRow {
    fn from_row(r: &Row) -> Result<AuditRow> {
        Ok(AuditRow {
            id: r.text(0)?,
            org_id: OrgId::from_trusted(r.text(1)?),
            created_at: r.i64(2)?,
            actor_user_id: r.opt_text(3)?.map(UserId::from_trusted),
            actor: r.text(4)?,
            actor_key_prefix: r.opt_text(5)?,
            action: r.text(6)?,
            target_type: r.text(7)?,
            target_id: r.text(8)?,
            summary: r.text(9)?,
            client_ip: r.opt_text(10)?,
            detail: r.opt_text(11)?,
            source: r.text(12)?,
        })
    }

    /// The entry as stored, from what was recorded, its id and its time.
    fn recorded(entry: NewAuditEntry, id: String, now: i64) -> AuditRow {
        AuditRow {
            id,
            org_id: entry.org_id,
            created_at: now,
            actor_user_id: entry.actor_user_id,
            actor: entry.actor,
            actor_key_prefix: entry.actor_key_prefix,
            action: entry.action,
            target_type: entry.target_type,
            target_id: entry.target_id,
            summary: entry.summary,
            client_ip: entry.client_ip,
            detail: entry.detail,
            source: entry.source,
        }
    }

    /// [`AuditRow::detail`] decoded; text that does not decode is a
    /// [`DbError::Corrupt`](crate::DbError::Corrupt) naming this entry.
    pub fn detail_json(&self) -> Result<Option<serde_json::Value>> {
        decode_json_opt("audit_log", &self.id, "detail", self.detail.as_deref())
    }
}

/// The insert of `entry` with the id `id` at `now`, for a transaction of this crate (the entry commits with
/// the change it records, or not at all).
pub(crate) fn audit_stmt(entry: &NewAuditEntry, id: &str, now: i64) -> Stmt {
    const SQL: &str = concat!(
        "INSERT INTO audit_log (",
        audit_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    );
    Stmt::new(
        SQL,
        params![
            id,
            entry.org_id.as_str(),
            now,
            entry.actor_user_id.as_ref().map(UserId::as_str),
            entry.actor.as_str(),
            entry.actor_key_prefix.as_deref(),
            entry.action.as_str(),
            entry.target_type.as_str(),
            entry.target_id.as_str(),
            entry.summary.as_str(),
            entry.client_ip.as_deref(),
            entry.detail.as_deref(),
            entry.source.as_str()
        ],
    )
}

/// The insert of `entry`, with a fresh id and the current time, to run in the same transaction as the change
/// it records ([`Db::transaction`](crate::Db::transaction)): both commit, or neither does.
pub fn audit_statement(entry: &NewAuditEntry) -> Stmt {
    audit_stmt(entry, &new_id(), now_millis())
}

/// A fresh entry id: a UUIDv7, lower-case and hyphenated like every id of the store.
fn new_id() -> String {
    uuid::Uuid::now_v7().hyphenated().to_string()
}

impl Store {
    /// Appends one entry to its organization's audit log; a
    /// [`DbError::ForeignKey`](crate::DbError::ForeignKey) when the organization does not exist.
    pub async fn record_audit(&self, entry: NewAuditEntry) -> Result<AuditRow> {
        let id = new_id();
        let now = now_millis();
        let insert = audit_stmt(&entry, &id, now);
        self.db.execute(insert.sql, &insert.params).await?;
        Ok(AuditRow::recorded(entry, id, now))
    }

    /// Appends several entries (of any organizations) in one transaction: all of them are recorded, or none
    /// is. They share one time and keep their order (their ids increase).
    pub async fn record_audit_many(&self, entries: Vec<NewAuditEntry>) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let now = now_millis();
        let stmts = entries.iter().map(|e| audit_stmt(e, &new_id(), now)).collect();
        self.db.transaction(stmts).await?;
        Ok(())
    }

    /// One page of the organization's audit log, newest first, filtered.
    pub async fn list_audit(&self, org: &OrgId, f: &AuditFilter, page: &PageQuery) -> Result<Page<AuditRow>> {
        const SQL: &str = concat!(
            "SELECT ",
            audit_columns!(),
            " FROM audit_log WHERE org_id = $1 AND (created_at, id) < ($2, $3) AND created_at >= $4 \
              AND created_at < $5 AND (CAST($7 AS TEXT) IS NULL OR action = $7) \
              AND (CAST($8 AS TEXT) IS NULL OR actor_user_id = $8) \
              AND (CAST($9 AS TEXT) IS NULL OR target_type = $9) ORDER BY created_at DESC, id DESC LIMIT $6"
        );
        let mut p = Vec::from(params![org.as_str()]);
        p.extend(page.bounds());
        p.push(f.action.as_deref().into());
        p.push(f.actor_user_id.as_ref().map(UserId::as_str).into());
        p.push(f.target_type.as_deref().into());
        let rows = self.db.query(SQL, &p).await?;
        let items = rows.iter().map(AuditRow::from_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(items, page.limit, |r| (r.created_at, r.id.clone())))
    }
}
