//! Alert rules: per-org conditions on tool results. Every change bumps the org's `rules_version` in the
//! same transaction, so a worker can keep compiled rules in memory and reload them only when they changed.

use tlink_domain::{OrgId, RuleId, UserId};

use crate::db::{Row, Stmt, now_millis};
use crate::{Page, PageQuery, Result, Store, params};

/// A stored rule. `value`, `asset_ids`, `asset_types` and `email_recipients` are JSON text.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleRow {
    pub id: RuleId,
    pub org_id: OrgId,
    pub name: String,
    pub tool: String,
    pub field: String,
    pub operator: String,
    pub value: Option<String>,
    pub severity: String,
    pub enabled: bool,
    pub notify_email: bool,
    pub notify_webhook: bool,
    pub webhook_url: Option<String>,
    /// The webhook signing secret, sealed (encrypted) by the caller; the store never sees it in the clear.
    pub webhook_secret: Option<String>,
    pub webhook_disabled_at: Option<i64>,
    pub webhook_disabled_reason: Option<String>,
    pub asset_ids: Option<String>,
    pub asset_types: Option<String>,
    pub email_recipients: Option<String>,
    pub created_by: Option<UserId>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// Every column a caller sets (create and full replacement after a PATCH is merged by the caller).
#[derive(Debug, Clone, PartialEq)]
pub struct RuleFields {
    pub name: String,
    pub tool: String,
    pub field: String,
    pub operator: String,
    pub value: Option<String>,
    pub severity: String,
    pub enabled: bool,
    pub notify_email: bool,
    pub notify_webhook: bool,
    pub webhook_url: Option<String>,
    pub webhook_secret: Option<String>,
    pub webhook_disabled_at: Option<i64>,
    pub webhook_disabled_reason: Option<String>,
    pub asset_ids: Option<String>,
    pub asset_types: Option<String>,
    pub email_recipients: Option<String>,
}

impl RuleRow {
    /// The settable fields, e.g. to write the row back with one change.
    pub fn fields(&self) -> RuleFields {
        RuleFields {
            name: self.name.clone(),
            tool: self.tool.clone(),
            field: self.field.clone(),
            operator: self.operator.clone(),
            value: self.value.clone(),
            severity: self.severity.clone(),
            enabled: self.enabled,
            notify_email: self.notify_email,
            notify_webhook: self.notify_webhook,
            webhook_url: self.webhook_url.clone(),
            webhook_secret: self.webhook_secret.clone(),
            webhook_disabled_at: self.webhook_disabled_at,
            webhook_disabled_reason: self.webhook_disabled_reason.clone(),
            asset_ids: self.asset_ids.clone(),
            asset_types: self.asset_types.clone(),
            email_recipients: self.email_recipients.clone(),
        }
    }
}

/// The columns [`RuleRow::from_row`] reads, in its order.
macro_rules! rule_columns {
    () => {
        "id, org_id, name, tool, field, operator, value, severity, enabled, notify_email, notify_webhook, \
         webhook_url, webhook_secret, webhook_disabled_at, webhook_disabled_reason, asset_ids, asset_types, \
         email_recipients, created_by, created_at, updated_at"
    };
}

impl RuleRow {
    fn from_row(r: &Row) -> Result<RuleRow> {
        Ok(RuleRow {
            id: RuleId::from_trusted(r.text(0)?),
            org_id: OrgId::from_trusted(r.text(1)?),
            name: r.text(2)?,
            tool: r.text(3)?,
            field: r.text(4)?,
            operator: r.text(5)?,
            value: r.opt_text(6)?,
            severity: r.text(7)?,
            enabled: r.bool(8)?,
            notify_email: r.bool(9)?,
            notify_webhook: r.bool(10)?,
            webhook_url: r.opt_text(11)?,
            webhook_secret: r.opt_text(12)?,
            webhook_disabled_at: r.opt_i64(13)?,
            webhook_disabled_reason: r.opt_text(14)?,
            asset_ids: r.opt_text(15)?,
            asset_types: r.opt_text(16)?,
            email_recipients: r.opt_text(17)?,
            created_by: r.opt_text(18)?.map(UserId::from_trusted),
            created_at: r.i64(19)?,
            updated_at: r.i64(20)?,
        })
    }
}

fn bump_version(org: &OrgId) -> Stmt {
    Stmt::new("UPDATE orgs SET rules_version = rules_version + 1 WHERE id = $1", params![org.as_str()])
}

impl Store {
    pub async fn create_rule(&self, org: &OrgId, by: Option<&UserId>, f: RuleFields) -> Result<RuleRow> {
        const SQL: &str = "INSERT INTO alert_rules (id, org_id, name, tool, field, operator, value, severity, \
            enabled, notify_email, notify_webhook, webhook_url, webhook_secret, webhook_disabled_at, \
            webhook_disabled_reason, asset_ids, asset_types, email_recipients, created_by, created_at, updated_at) \
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $20)";
        let id = RuleId::new();
        let now = now_millis();
        let p = params![
            id.as_str(),
            org.as_str(),
            f.name.as_str(),
            f.tool.as_str(),
            f.field.as_str(),
            f.operator.as_str(),
            f.value.clone(),
            f.severity.as_str(),
            f.enabled,
            f.notify_email,
            f.notify_webhook,
            f.webhook_url.clone(),
            f.webhook_secret.clone(),
            f.webhook_disabled_at,
            f.webhook_disabled_reason.clone(),
            f.asset_ids.clone(),
            f.asset_types.clone(),
            f.email_recipients.clone(),
            by.map(|u| u.as_str()),
            now
        ];
        self.db.transaction(vec![Stmt::new(SQL, p), bump_version(org)]).await?;
        Ok(RuleRow {
            id,
            org_id: org.clone(),
            name: f.name,
            tool: f.tool,
            field: f.field,
            operator: f.operator,
            value: f.value,
            severity: f.severity,
            enabled: f.enabled,
            notify_email: f.notify_email,
            notify_webhook: f.notify_webhook,
            webhook_url: f.webhook_url,
            webhook_secret: f.webhook_secret,
            webhook_disabled_at: f.webhook_disabled_at,
            webhook_disabled_reason: f.webhook_disabled_reason,
            asset_ids: f.asset_ids,
            asset_types: f.asset_types,
            email_recipients: f.email_recipients,
            created_by: by.cloned(),
            created_at: now,
            updated_at: now,
        })
    }

    pub async fn get_rule(&self, org: &OrgId, id: &RuleId) -> Result<Option<RuleRow>> {
        const SQL: &str = concat!("SELECT ", rule_columns!(), " FROM alert_rules WHERE org_id = $1 AND id = $2");
        self.db.query_opt(SQL, &params![org.as_str(), id.as_str()]).await?.as_ref().map(RuleRow::from_row).transpose()
    }

    /// The org's rules, newest first.
    pub async fn list_rules(&self, org: &OrgId, tool: Option<&str>, page: &PageQuery) -> Result<Page<RuleRow>> {
        const SQL: &str = concat!(
            "SELECT ",
            rule_columns!(),
            " FROM alert_rules WHERE org_id = $1 AND (created_at, id) < ($2, $3) AND created_at >= $4 \
              AND created_at < $5 AND (CAST($7 AS TEXT) IS NULL OR tool = $7) \
              ORDER BY created_at DESC, id DESC LIMIT $6"
        );
        let mut p = Vec::from(params![org.as_str()]);
        p.extend(page.bounds());
        p.push(tool.into());
        let rows = self.db.query(SQL, &p).await?;
        let items = rows.iter().map(RuleRow::from_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(items, page.limit, |r| (r.created_at, r.id.as_str().to_string())))
    }

    /// Replaces a rule's fields (the caller merged the patch into the current row); `None` if the org has
    /// no such rule.
    pub async fn update_rule(&self, org: &OrgId, id: &RuleId, f: RuleFields) -> Result<Option<RuleRow>> {
        const SQL: &str = concat!(
            "UPDATE alert_rules SET name = $3, tool = $4, field = $5, operator = $6, value = $7, severity = $8, \
             enabled = $9, notify_email = $10, notify_webhook = $11, webhook_url = $12, webhook_secret = $13, \
             webhook_disabled_at = $14, webhook_disabled_reason = $15, asset_ids = $16, asset_types = $17, \
             email_recipients = $18, updated_at = $19 WHERE org_id = $1 AND id = $2 RETURNING ",
            rule_columns!()
        );
        let p = params![
            org.as_str(),
            id.as_str(),
            f.name,
            f.tool,
            f.field,
            f.operator,
            f.value,
            f.severity,
            f.enabled,
            f.notify_email,
            f.notify_webhook,
            f.webhook_url,
            f.webhook_secret,
            f.webhook_disabled_at,
            f.webhook_disabled_reason,
            f.asset_ids,
            f.asset_types,
            f.email_recipients,
            now_millis()
        ];
        let mut out = self.db.transaction_returning(vec![Stmt::returning(SQL, p), bump_version(org)]).await?;
        out.swap_remove(0).rows.first().map(RuleRow::from_row).transpose()
    }

    pub async fn delete_rule(&self, org: &OrgId, id: &RuleId) -> Result<bool> {
        const SQL: &str = "DELETE FROM alert_rules WHERE org_id = $1 AND id = $2";
        let counts =
            self.db.transaction(vec![Stmt::new(SQL, params![org.as_str(), id.as_str()]), bump_version(org)]).await?;
        Ok(counts[0] == 1)
    }

    /// The org's rule version: it changes whenever one of its rules does.
    pub async fn rules_version(&self, org: &OrgId) -> Result<i64> {
        let row = self.db.query_opt("SELECT rules_version FROM orgs WHERE id = $1", &params![org.as_str()]).await?;
        row.map_or(Ok(-1), |r| r.i64(0))
    }

    /// Every enabled rule of the org (for evaluation; cached by the caller per `rules_version`).
    pub async fn enabled_rules(&self, org: &OrgId) -> Result<Vec<RuleRow>> {
        const SQL: &str = concat!("SELECT ", rule_columns!(), " FROM alert_rules WHERE org_id = $1 AND enabled = $2");
        self.db.query(SQL, &params![org.as_str(), true]).await?.iter().map(RuleRow::from_row).collect()
    }

    /// Turns a rule's webhook off (the receiver answered 410 Gone); e-mail and the rule itself stay on.
    pub async fn disable_rule_webhook(&self, org: &OrgId, id: &RuleId, reason: &str) -> Result<bool> {
        const SQL: &str = "UPDATE alert_rules SET webhook_disabled_at = $3, webhook_disabled_reason = $4, \
            updated_at = $3 WHERE org_id = $1 AND id = $2 AND webhook_disabled_at IS NULL";
        let p = params![org.as_str(), id.as_str(), now_millis(), reason];
        let counts = self.db.transaction(vec![Stmt::new(SQL, p), bump_version(org)]).await?;
        Ok(counts[0] == 1)
    }
}
