//! User accounts.

use tlink_domain::{OrgId, Plan, UserId};

use crate::db::{Row, Stmt, now_millis};
use crate::orgs::create_org_stmts;
use crate::{Result, Store, params};

#[derive(Debug, Clone)]
pub struct UserRow {
    pub id: UserId,
    pub email: String,
    pub name: Option<String>,
    pub password_hash: String,
    pub created_at: i64,
    /// An instance operator: may change any organization's plan, and create organizations when
    /// self-service is off.
    pub is_operator: bool,
}

/// A user to create. `email` must already be normalised (trimmed, lower case).
#[derive(Debug, Clone)]
pub struct NewUser {
    pub email: String,
    pub name: Option<String>,
    pub password_hash: String,
    pub is_operator: bool,
}

/// The columns [`UserRow::from_row`] reads, in its order.
macro_rules! user_columns {
    () => {
        "id, email, name, password_hash, created_at, is_operator"
    };
}

impl UserRow {
    fn from_row(r: &Row) -> Result<UserRow> {
        Ok(UserRow {
            id: UserId::from_trusted(r.text(0)?),
            email: r.text(1)?,
            name: r.opt_text(2)?,
            password_hash: r.text(3)?,
            created_at: r.i64(4)?,
            is_operator: r.bool(5)?,
        })
    }
}

impl Store {
    /// Creates a user; with `first_org`, also an organization the user owns, atomically.
    /// A taken email is a [`crate::DbError::Unique`].
    pub async fn create_user(&self, user: NewUser, first_org: Option<&str>) -> Result<(UserRow, Option<OrgId>)> {
        let id = UserId::new();
        let now = now_millis();
        let mut stmts = vec![Stmt::new(
            "INSERT INTO users (id, email, name, password_hash, created_at, is_operator) \
             VALUES ($1, $2, $3, $4, $5, $6)",
            params![id.as_str(), &user.email, user.name.clone(), &user.password_hash, now, user.is_operator],
        )];
        let org_id = first_org.map(|name| {
            let org_id = OrgId::new();
            stmts.extend(create_org_stmts(&org_id, name, Plan::default(), &id, now));
            org_id
        });
        self.db.transaction(stmts).await?;
        let row = UserRow {
            id,
            email: user.email,
            name: user.name,
            password_hash: user.password_hash,
            created_at: now,
            is_operator: user.is_operator,
        };
        Ok((row, org_id))
    }

    pub async fn user_by_email(&self, email: &str) -> Result<Option<UserRow>> {
        const SQL: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE email = $1");
        self.db.query_opt(SQL, &params![email]).await?.as_ref().map(UserRow::from_row).transpose()
    }

    pub async fn user_by_id(&self, id: &UserId) -> Result<Option<UserRow>> {
        const SQL: &str = concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1");
        self.db.query_opt(SQL, &params![id.as_str()]).await?.as_ref().map(UserRow::from_row).transpose()
    }

    /// Makes a user an instance operator, or not; false when there is no such user.
    pub async fn set_operator(&self, id: &UserId, operator: bool) -> Result<bool> {
        const SQL: &str = "UPDATE users SET is_operator = $2 WHERE id = $1";
        Ok(self.db.execute(SQL, &params![id.as_str(), operator]).await? == 1)
    }
}
