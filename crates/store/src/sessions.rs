//! Refresh tokens: opaque, stored hashed, rotated on every use, grouped in families so that reuse of a
//! rotated token revokes every token descended from the same login.

use tlink_domain::{FamilyId, TokenId, UserId};

use crate::db::{Row, Stmt, now_millis};
use crate::{Result, Store, params};

#[derive(Debug, Clone)]
pub struct RefreshRow {
    pub id: TokenId,
    pub family_id: FamilyId,
    pub user_id: UserId,
    pub created_at: i64,
    pub expires_at: i64,
    pub used_at: Option<i64>,
    pub revoked_at: Option<i64>,
}

/// The result of presenting a refresh token.
#[derive(Debug, Clone)]
pub enum RotateOutcome {
    /// The token was live; it is now used and `new_hash` is the live token of the family.
    Rotated { user_id: UserId, family_id: FamilyId },
    /// The token had already been rotated: the whole family is now revoked.
    Reused,
    /// Unknown, expired or revoked.
    Invalid,
}

/// The columns [`RefreshRow::from_row`] reads, in its order.
macro_rules! refresh_columns {
    () => {
        "id, family_id, user_id, created_at, expires_at, used_at, revoked_at"
    };
}

impl RefreshRow {
    fn from_row(r: &Row) -> Result<RefreshRow> {
        Ok(RefreshRow {
            id: TokenId::from_trusted(r.text(0)?),
            family_id: FamilyId::from_trusted(r.text(1)?),
            user_id: UserId::from_trusted(r.text(2)?),
            created_at: r.i64(3)?,
            expires_at: r.i64(4)?,
            used_at: r.opt_i64(5)?,
            revoked_at: r.opt_i64(6)?,
        })
    }
}

impl Store {
    /// Starts a token family (a login) with its first token.
    pub async fn start_refresh_family(&self, user: &UserId, token_hash: &str, expires_at: i64) -> Result<FamilyId> {
        let family = FamilyId::new();
        self.insert_refresh(&family, user, token_hash, expires_at).await?;
        Ok(family)
    }

    async fn insert_refresh(&self, family: &FamilyId, user: &UserId, token_hash: &str, expires_at: i64) -> Result<()> {
        self.db
            .execute(
                "INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4, $5, $6)",
                &params![TokenId::new().as_str(), family.as_str(), user.as_str(), token_hash, now_millis(), expires_at],
            )
            .await?;
        Ok(())
    }

    pub async fn refresh_by_hash(&self, token_hash: &str) -> Result<Option<RefreshRow>> {
        const SQL: &str = concat!("SELECT ", refresh_columns!(), " FROM refresh_tokens WHERE token_hash = $1");
        self.db.query_opt(SQL, &params![token_hash]).await?.as_ref().map(RefreshRow::from_row).transpose()
    }

    /// Presents a refresh token: if live, marks it used and stores `new_hash` (expiring at `new_expires_at`)
    /// in the same family, atomically; if already used, revokes the family.
    pub async fn rotate_refresh(&self, token_hash: &str, new_hash: &str, new_expires_at: i64) -> Result<RotateOutcome> {
        let now = now_millis();
        let Some(old) = self.refresh_by_hash(token_hash).await? else {
            return Ok(RotateOutcome::Invalid);
        };
        if old.revoked_at.is_some() || old.expires_at <= now {
            return Ok(RotateOutcome::Invalid);
        }
        if old.used_at.is_some() {
            self.revoke_family(&old.family_id).await?;
            return Ok(RotateOutcome::Reused);
        }
        // The guarded UPDATE decides races: of two concurrent rotations only one marks the token used; the
        // INSERT selects from the row just marked, so the loser inserts nothing.
        let counts = self
            .db
            .transaction(vec![
                Stmt::new(
                    "UPDATE refresh_tokens SET used_at = $2 WHERE id = $1 AND used_at IS NULL AND revoked_at IS NULL",
                    params![old.id.as_str(), now],
                ),
                Stmt::new(
                    "INSERT INTO refresh_tokens (id, family_id, user_id, token_hash, created_at, expires_at) \
                     SELECT $1, family_id, user_id, $2, CAST($3 AS BIGINT), CAST($4 AS BIGINT) FROM refresh_tokens WHERE id = $5 AND used_at = $3",
                    params![TokenId::new().as_str(), new_hash, now, new_expires_at, old.id.as_str()],
                ),
            ])
            .await?;
        if counts.first() == Some(&1) && counts.get(1) == Some(&1) {
            Ok(RotateOutcome::Rotated { user_id: old.user_id, family_id: old.family_id })
        } else {
            self.revoke_family(&old.family_id).await?;
            Ok(RotateOutcome::Reused)
        }
    }

    /// Revokes every token of a family (logout, or reuse detected).
    pub async fn revoke_family(&self, family: &FamilyId) -> Result<()> {
        self.db
            .execute(
                "UPDATE refresh_tokens SET revoked_at = $2 WHERE family_id = $1 AND revoked_at IS NULL",
                &params![family.as_str(), now_millis()],
            )
            .await?;
        Ok(())
    }
}
