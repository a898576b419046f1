//! Organizations (tenants) and their memberships.

use tlink_domain::{OrgId, Plan, Role, UserId};

use crate::db::{Row, Stmt, now_millis};
use crate::usage::{limits_from, stored_plan};
use crate::{DbError, Page, PageQuery, Result, Store, params};

#[derive(Debug, Clone)]
pub struct OrgRow {
    pub id: OrgId,
    pub name: String,
    pub plan: Plan,
    pub created_at: i64,
    /// The role of the user the org was read for.
    pub role: Role,
}

#[derive(Debug, Clone)]
pub struct MemberRow {
    pub user_id: UserId,
    pub email: String,
    pub name: Option<String>,
    pub role: Role,
    pub created_at: i64,
}

/// What a membership change did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberChange {
    Done,
    /// No such member in this organization.
    NotFound,
    /// Refused: it would leave the organization without an owner.
    LastOwner,
}

pub(crate) fn create_org_stmts(id: &OrgId, name: &str, plan: Plan, owner: &UserId, now: i64) -> [Stmt; 2] {
    [
        Stmt::new(
            "INSERT INTO orgs (id, name, plan, created_at) VALUES ($1, $2, $3, $4)",
            params![id.as_str(), name, plan.as_str(), now],
        ),
        Stmt::new(
            "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)",
            params![id.as_str(), owner.as_str(), Role::Owner.as_str(), now],
        ),
    ]
}

/// Parses a role stored by this crate; an unknown value means the database was edited by hand.
/// A stored role; a name this build does not know is an error, never a guess.
pub(crate) fn stored_role(s: &str) -> Result<Role> {
    s.parse().map_err(|_| DbError::Unknown { what: "role", value: s.to_string() })
}

/// The columns [`OrgRow::from_row`] reads, in its order (`o` the org, `m` the reader's membership).
macro_rules! org_columns {
    () => {
        "o.id, o.name, o.plan, o.created_at, m.role"
    };
}

impl OrgRow {
    fn from_row(r: &Row) -> Result<OrgRow> {
        Ok(OrgRow {
            id: OrgId::from_trusted(r.text(0)?),
            name: r.text(1)?,
            plan: stored_plan(&r.text(2)?)?,
            created_at: r.i64(3)?,
            role: stored_role(&r.text(4)?)?,
        })
    }
}

/// The columns [`MemberRow::from_row`] reads, in its order (`u` the user, `m` the membership).
macro_rules! member_columns {
    () => {
        "u.id, u.email, u.name, m.role, m.created_at"
    };
}

impl MemberRow {
    fn from_row(r: &Row) -> Result<MemberRow> {
        Ok(MemberRow {
            user_id: UserId::from_trusted(r.text(0)?),
            email: r.text(1)?,
            name: r.opt_text(2)?,
            role: stored_role(&r.text(3)?)?,
            created_at: r.i64(4)?,
        })
    }
}

impl Store {
    /// Creates an organization owned by `owner`.
    pub async fn create_org(&self, name: &str, plan: Plan, owner: &UserId) -> Result<OrgRow> {
        let id = OrgId::new();
        let now = now_millis();
        self.db.transaction(create_org_stmts(&id, name, plan, owner, now).into()).await?;
        Ok(OrgRow { id, name: name.to_string(), plan, created_at: now, role: Role::Owner })
    }

    /// The organization, if `user` is a member of it (with that member's role).
    pub async fn org_for_member(&self, org: &OrgId, user: &UserId) -> Result<Option<OrgRow>> {
        const SQL: &str = concat!(
            "SELECT ",
            org_columns!(),
            " FROM orgs o JOIN memberships m ON m.org_id = o.id WHERE o.id = $1 AND m.user_id = $2"
        );
        self.db.query_opt(SQL, &params![org.as_str(), user.as_str()]).await?.as_ref().map(OrgRow::from_row).transpose()
    }

    /// The role of `user` in `org`, if a member.
    pub async fn member_role(&self, org: &OrgId, user: &UserId) -> Result<Option<Role>> {
        const SQL: &str = "SELECT role FROM memberships WHERE org_id = $1 AND user_id = $2";
        let row = self.db.query_opt(SQL, &params![org.as_str(), user.as_str()]).await?;
        row.map(|r| stored_role(&r.text(0)?)).transpose()
    }

    /// The user's role in the organization and the organization's plan; `None` if not a member.
    ///
    /// Served from memory for up to a second, like a key lookup ([`Store::api_key_candidates`]): a change
    /// made through this store applies at once, one made by another process within that second.
    pub async fn membership(&self, org: &OrgId, user: &UserId) -> Result<Option<(Role, tlink_domain::PlanLimits)>> {
        const SQL: &str = "SELECT m.role, o.plan, o.requests_per_minute, o.tool_runs_per_month \
            FROM memberships m JOIN orgs o ON o.id = m.org_id WHERE m.org_id = $1 AND m.user_id = $2";
        if let Some(known) = self.keys.membership(user.as_str(), org.as_str()) {
            return Ok(known);
        }
        let generation = self.keys.generation();
        let row = self.db.query_opt(SQL, &params![org.as_str(), user.as_str()]).await?;
        let found: Option<(Role, tlink_domain::PlanLimits)> = row
            .map(|r| -> Result<_> {
                Ok((stored_role(&r.text(0)?)?, limits_from(r.text(1)?, r.opt_i64(2)?, r.opt_i64(3)?)?))
            })
            .transpose()?;
        self.keys.put_membership(user.as_str(), org.as_str(), generation, found);
        Ok(found)
    }

    /// The organizations `user` belongs to, newest first.
    pub async fn orgs_for_user(&self, user: &UserId, page: &PageQuery) -> Result<Page<OrgRow>> {
        // Keyed on the organization's own creation time, so `createdAt` means the same on every route.
        const SQL: &str = concat!(
            "SELECT ",
            org_columns!(),
            " FROM memberships m JOIN orgs o ON o.id = m.org_id \
              WHERE m.user_id = $1 AND (o.created_at, o.id) < ($2, $3) AND o.created_at >= $4 AND o.created_at < $5 \
              ORDER BY o.created_at DESC, o.id DESC LIMIT $6"
        );
        let mut p = Vec::from(params![user.as_str()]);
        p.extend(page.bounds());
        let rows = self.db.query(SQL, &p).await?;
        let items = rows.iter().map(OrgRow::from_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(items, page.limit, |o| (o.created_at, o.id.as_str().to_string())))
    }

    /// Every organization of `user` (for `/users/me`), capped at `max`.
    pub async fn all_orgs_for_user(&self, user: &UserId, max: u32) -> Result<Vec<OrgRow>> {
        Ok(self.orgs_for_user(user, &PageQuery::first(max)).await?.items)
    }

    pub async fn set_org_plan(&self, org: &OrgId, plan: Plan) -> Result<bool> {
        let n =
            self.db.execute("UPDATE orgs SET plan = $2 WHERE id = $1", &params![org.as_str(), plan.as_str()]).await?;
        self.keys.invalidate();
        Ok(n == 1)
    }

    /// The members of `org`, newest first.
    pub async fn list_members(&self, org: &OrgId, page: &PageQuery) -> Result<Page<MemberRow>> {
        const SQL: &str = concat!(
            "SELECT ",
            member_columns!(),
            " FROM memberships m JOIN users u ON u.id = m.user_id \
              WHERE m.org_id = $1 AND (m.created_at, m.user_id) < ($2, $3) AND m.created_at >= $4 \
              AND m.created_at < $5 ORDER BY m.created_at DESC, m.user_id DESC LIMIT $6"
        );
        let mut p = Vec::from(params![org.as_str()]);
        p.extend(page.bounds());
        let rows = self.db.query(SQL, &p).await?;
        let items = rows.iter().map(MemberRow::from_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(items, page.limit, |m| (m.created_at, m.user_id.as_str().to_string())))
    }

    pub async fn member(&self, org: &OrgId, user: &UserId) -> Result<Option<MemberRow>> {
        const SQL: &str = concat!(
            "SELECT ",
            member_columns!(),
            " FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.org_id = $1 AND m.user_id = $2"
        );
        self.db
            .query_opt(SQL, &params![org.as_str(), user.as_str()])
            .await?
            .as_ref()
            .map(MemberRow::from_row)
            .transpose()
    }

    /// Adds `user` to `org`. Already a member is a [`crate::DbError::Unique`].
    pub async fn add_member(&self, org: &OrgId, user: &UserId, role: Role) -> Result<()> {
        self.db
            .execute(
                "INSERT INTO memberships (org_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)",
                &params![org.as_str(), user.as_str(), role.as_str(), now_millis()],
            )
            .await?;
        self.keys.invalidate();
        Ok(())
    }

    /// Changes a member's role, refusing to demote the last owner: the change applies only if the member
    /// is not an owner, or another owner remains (checked in the same statement, so two concurrent
    /// demotions cannot both pass).
    pub async fn set_member_role(&self, org: &OrgId, user: &UserId, role: Role) -> Result<MemberChange> {
        const SQL: &str = "UPDATE memberships SET role = $3 WHERE org_id = $1 AND user_id = $2 \
            AND ($3 = 'OWNER' OR (role <> 'OWNER' OR (SELECT COUNT(*) FROM memberships o WHERE o.org_id = $1 AND o.role = 'OWNER') > 1))";
        let n = self.db.execute(SQL, &params![org.as_str(), user.as_str(), role.as_str()]).await?;
        self.keys.invalidate();
        self.member_change(org, user, n).await
    }

    /// Removes a member, refusing to remove the last owner.
    pub async fn remove_member(&self, org: &OrgId, user: &UserId) -> Result<MemberChange> {
        const SQL: &str = "DELETE FROM memberships WHERE org_id = $1 AND user_id = $2 \
            AND (role <> 'OWNER' OR (SELECT COUNT(*) FROM memberships o WHERE o.org_id = $1 AND o.role = 'OWNER') > 1)";
        let n = self.db.execute(SQL, &params![org.as_str(), user.as_str()]).await?;
        self.keys.invalidate();
        self.member_change(org, user, n).await
    }

    async fn member_change(&self, org: &OrgId, user: &UserId, changed: u64) -> Result<MemberChange> {
        if changed > 0 {
            return Ok(MemberChange::Done);
        }
        Ok(match self.member_role(org, user).await? {
            Some(_) => MemberChange::LastOwner,
            None => MemberChange::NotFound,
        })
    }
}
