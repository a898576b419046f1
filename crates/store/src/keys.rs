//! API keys: stored as a SHA-256 hash with a short visible prefix; the key itself is never stored.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::RwLock;
use tlink_domain::{ApiKeyId, OrgId, PlanLimits, Role, UserId};

use crate::db::{Row, Stmt, now_millis};
use crate::orgs::stored_role;
use crate::usage::limits_from;
use crate::{Page, PageQuery, Result, Store, params};

#[derive(Debug, Clone)]
pub struct ApiKeyRow {
    pub id: ApiKeyId,
    pub name: String,
    pub prefix: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    /// When a rotated key stops working, while its grace period runs; `None` for a key with no end.
    pub expires_at: Option<i64>,
}

/// Whether a key works: never revoked, or revoked with a time still ahead (a rotated key in its grace
/// period). `revoked_at` is when a key stops working; the parameter is now.
macro_rules! live {
    ($alias:literal, $now:literal) => {
        concat!("(", $alias, "revoked_at IS NULL OR ", $alias, "revoked_at > ", $now, ")")
    };
}

/// The longest grace period of a rotation: the old key works at most this long after its successor exists.
pub const MAX_ROTATION_GRACE_MS: i64 = 24 * 3600 * 1000;

#[derive(Debug, Clone)]
pub struct NewApiKey {
    pub name: String,
    pub prefix: String,
    /// Hex SHA-256 of the full key.
    pub key_hash: String,
    /// The key sealed with the server's secrets key, for Hawk (which signs with the key itself).
    pub sealed_key: Option<String>,
}

/// A live key of a user that can verify Hawk requests.
#[derive(Debug, Clone)]
pub struct HawkKey {
    pub id: ApiKeyId,
    pub sealed_key: String,
    pub last_used_at: Option<i64>,
}

/// The most live (unrevoked) API keys one user may hold: creating another is refused
/// ([`Store::create_api_key`] answers `None`). Hawk tries each of them against a request's MAC.
pub const MAX_LIVE_KEYS: i64 = 100;

/// A live key whose prefix matched, for the caller to compare hashes in constant time.
#[derive(Debug, Clone)]
pub struct ApiKeyCandidate {
    pub id: ApiKeyId,
    pub user_id: UserId,
    pub key_hash: String,
    pub last_used_at: Option<i64>,
    /// The owner's role in the organization asked about, if one was and the owner is a member.
    pub role: Option<Role>,
    /// That organization's plan, when it was asked about and exists.
    pub limits: Option<PlanLimits>,
    /// When the key stops working (a rotated key in its grace period).
    pub ends_at: Option<i64>,
}

/// How long a key lookup ([`Store::api_key_candidates`]) may be answered from memory. A change made through
/// this process's store (a revoked key, a membership added, changed or removed, a plan or its limits) applies to
/// the next request at once; one made by another process (another `tlink serve`, the CLI) within this time.
pub const KEY_CACHE_TTL: Duration = Duration::from_secs(1);

/// Key prefixes kept at most; the cache starts over when full.
const KEY_CACHE_MAX: usize = 4096;

/// Organizations kept per key prefix (a key asked about many organizations' paths, most of them not its
/// own); its list starts over when full.
const KEY_CACHE_ORGS: usize = 16;

/// Recent key lookups and memberships, so that a client's every request does not read its key and
/// membership again.
///
/// An entry is good for [`KEY_CACHE_TTL`], and only while the generation it was read at is current. Every
/// change to keys, memberships or plans bumps the generation once it has committed; a lookup tags its entry
/// with the generation it saw *before* reading, so one that raced a change is never served again.
#[derive(Default)]
pub(crate) struct KeyCache {
    generation: AtomicU64,
    /// Key lookups by the key's prefix, then by the organization asked about.
    keys: Lookups<Vec<ApiKeyCandidate>>,
    /// A user's membership (role and plan) by user, then by organization.
    memberships: Lookups<Option<(Role, PlanLimits)>>,
}

/// Cached answers found by an outer key, then by an optional inner one, without building a key: a hit
/// allocates nothing to find its entry, and readers share the lock.
struct Lookups<V> {
    entries: RwLock<HashMap<String, ByInner<V>>>,
}

/// An outer key's cached answers, by the inner key asked about.
type ByInner<V> = Vec<(Option<String>, Cached<V>)>;

impl<V> Default for Lookups<V> {
    fn default() -> Self {
        Lookups { entries: RwLock::default() }
    }
}

struct Cached<V> {
    at: Instant,
    generation: u64,
    value: V,
}

impl<V: Clone> Lookups<V> {
    fn get(&self, outer: &str, inner: Option<&str>, current: u64) -> Option<V> {
        let entries = self.entries.read();
        let (_, hit) = entries.get(outer)?.iter().find(|(o, _)| o.as_deref() == inner)?;
        (hit.generation == current && hit.at.elapsed() < KEY_CACHE_TTL).then(|| hit.value.clone())
    }

    fn put(&self, outer: &str, inner: Option<&str>, generation: u64, value: V) {
        let mut entries = self.entries.write();
        if entries.len() >= KEY_CACHE_MAX {
            entries.clear();
        }
        let cached = Cached { at: Instant::now(), generation, value };
        let list = entries.entry(outer.to_string()).or_default();
        match list.iter_mut().find(|(o, _)| o.as_deref() == inner) {
            Some((_, entry)) => *entry = cached,
            None => {
                if list.len() >= KEY_CACHE_ORGS {
                    list.clear();
                }
                list.push((inner.map(str::to_string), cached));
            }
        }
    }
}

impl std::fmt::Debug for KeyCache {
    // The entries hold key hashes: not printed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCache")
            .field("prefixes", &self.keys.entries.read().len())
            .field("users", &self.memberships.entries.read().len())
            .finish_non_exhaustive()
    }
}

impl KeyCache {
    /// The generation a lookup about to read the database tags its answer with.
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn get(&self, prefix: &str, org: Option<&str>) -> Option<Vec<ApiKeyCandidate>> {
        self.keys.get(prefix, org, self.generation())
    }

    fn put(&self, prefix: &str, org: Option<&str>, generation: u64, candidates: Vec<ApiKeyCandidate>) {
        self.keys.put(prefix, org, generation, candidates);
    }

    /// A cached membership of `user` in `org`: `Some(None)` when it is known that there is none.
    pub(crate) fn membership(&self, user: &str, org: &str) -> Option<Option<(Role, PlanLimits)>> {
        self.memberships.get(user, Some(org), self.generation())
    }

    pub(crate) fn put_membership(&self, user: &str, org: &str, generation: u64, found: Option<(Role, PlanLimits)>) {
        self.memberships.put(user, Some(org), generation, found);
    }

    /// Forgets every lookup made so far: called after any change that could alter one.
    pub(crate) fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// Records a key's use in the cached lookups, so that they do not ask for it to be recorded again.
    fn touched(&self, id: &ApiKeyId, at: i64) {
        for (_, entry) in self.keys.entries.write().values_mut().flatten() {
            for c in entry.value.iter_mut().filter(|c| &c.id == id) {
                c.last_used_at = Some(at);
            }
        }
    }
}

/// The columns [`ApiKeyRow::from_row`] reads, in its order.
macro_rules! key_columns {
    () => {
        "id, name, prefix, created_at, last_used_at, revoked_at"
    };
}

impl ApiKeyRow {
    fn from_row(r: &Row) -> Result<ApiKeyRow> {
        Ok(ApiKeyRow {
            id: ApiKeyId::from_trusted(r.text(0)?),
            name: r.text(1)?,
            prefix: r.text(2)?,
            created_at: r.i64(3)?,
            last_used_at: r.opt_i64(4)?,
            expires_at: r.opt_i64(5)?,
        })
    }
}

impl Store {
    /// Creates a key; `None` when the user already holds [`MAX_LIVE_KEYS`] live keys (checked in the
    /// inserting statement itself).
    pub async fn create_api_key(&self, user: &UserId, key: NewApiKey) -> Result<Option<ApiKeyRow>> {
        let id = ApiKeyId::new();
        let now = now_millis();
        let n = self
            .db
            .execute(
                concat!(
                    "INSERT INTO api_keys (id, user_id, name, prefix, key_hash, sealed_key, created_at) \
                 SELECT $1, $2, $3, $4, $5, $6, $7 \
                 WHERE (SELECT COUNT(*) FROM api_keys WHERE user_id = $2 AND ",
                    live!("", "$7"),
                    ") < $8"
                ),
                &params![
                    id.as_str(),
                    user.as_str(),
                    &key.name,
                    &key.prefix,
                    &key.key_hash,
                    key.sealed_key.as_deref(),
                    now,
                    MAX_LIVE_KEYS
                ],
            )
            .await?;
        Ok((n == 1).then_some(ApiKeyRow {
            id,
            name: key.name,
            prefix: key.prefix,
            created_at: now,
            last_used_at: None,
            expires_at: None,
        }))
    }

    /// Replaces one of the user's live keys: a new key with the same name, created now, and the old key's
    /// end set `grace_ms` ahead (it stops working at once when 0), in one transaction. `None` when the user
    /// has no such live key. A rotation does not count against [`MAX_LIVE_KEYS`]: it replaces a key.
    pub async fn rotate_api_key(
        &self,
        user: &UserId,
        old: &ApiKeyId,
        new: NewApiKey,
        grace_ms: i64,
    ) -> Result<Option<ApiKeyRow>> {
        const END_OLD: &str = concat!(
            "UPDATE api_keys SET revoked_at = $3 WHERE id = $1 AND user_id = $2 AND ",
            live!("", "$4"),
            " RETURNING name"
        );
        // Inserted only when the old key was live a moment ago and now ends at $8: this transaction ended it.
        const INSERT: &str = "INSERT INTO api_keys (id, user_id, name, prefix, key_hash, sealed_key, created_at) \
            SELECT $1, $2, name, $3, $4, $5, $6 FROM api_keys WHERE id = $7 AND user_id = $2 AND revoked_at = $8";
        let id = ApiKeyId::new();
        let now = now_millis();
        let end = now + grace_ms.clamp(0, MAX_ROTATION_GRACE_MS);
        let changed = self
            .db
            .transaction_returning(vec![
                Stmt::returning(END_OLD, params![old.as_str(), user.as_str(), end, now]),
                Stmt::new(
                    INSERT,
                    params![
                        id.as_str(),
                        user.as_str(),
                        &new.prefix,
                        &new.key_hash,
                        new.sealed_key.as_deref(),
                        now,
                        old.as_str(),
                        end
                    ],
                ),
            ])
            .await?;
        self.keys.invalidate();
        let Some(name) = changed.first().and_then(|c| c.rows.first()).map(|r| r.text(0)).transpose()? else {
            return Ok(None);
        };
        if changed.get(1).map(|c| c.count) != Some(1) {
            return Ok(None);
        }
        Ok(Some(ApiKeyRow { id, name, prefix: new.prefix, created_at: now, last_used_at: None, expires_at: None }))
    }

    /// The user's live (unrevoked) keys, newest first.
    pub async fn list_api_keys(&self, user: &UserId, page: &PageQuery) -> Result<Page<ApiKeyRow>> {
        const SQL: &str = concat!(
            "SELECT ",
            key_columns!(),
            " FROM api_keys WHERE user_id = $1 AND (created_at, id) < ($2, $3) \
              AND created_at >= $4 AND created_at < $5 AND ",
            live!("", "$7"),
            " ORDER BY created_at DESC, id DESC LIMIT $6"
        );
        let mut p = Vec::from(params![user.as_str()]);
        p.extend(page.bounds());
        p.push(now_millis().into());
        let rows = self.db.query(SQL, &p).await?;
        let items = rows.iter().map(ApiKeyRow::from_row).collect::<Result<Vec<_>>>()?;
        Ok(Page::from_rows(items, page.limit, |k| (k.created_at, k.id.as_str().to_string())))
    }

    /// Revokes one of the user's keys at once (a rotated key in its grace period too); false if the user
    /// has no such live key.
    pub async fn revoke_api_key(&self, user: &UserId, id: &ApiKeyId) -> Result<bool> {
        const SQL: &str =
            concat!("UPDATE api_keys SET revoked_at = $3 WHERE id = $1 AND user_id = $2 AND ", live!("", "$3"));
        let n = self.db.execute(SQL, &params![id.as_str(), user.as_str(), now_millis()]).await?;
        self.keys.invalidate();
        Ok(n == 1)
    }

    /// Live keys with this prefix, with the owner's role in `org` when one is given: authentication and
    /// the membership check in one round trip.
    pub async fn api_key_candidates(&self, prefix: &str, org: Option<&OrgId>) -> Result<Vec<ApiKeyCandidate>> {
        const SQL: &str = concat!(
            "SELECT k.id, k.user_id, k.key_hash, k.last_used_at, m.role, \
            o.plan, o.requests_per_minute, o.tool_runs_per_month, k.revoked_at FROM api_keys k \
            LEFT JOIN memberships m ON m.user_id = k.user_id AND m.org_id = $2 \
            LEFT JOIN orgs o ON o.id = m.org_id \
            WHERE k.prefix = $1 AND ",
            live!("k.", "$3")
        );
        // A cached answer may hold a key whose grace period has ended since: it ends on time regardless.
        let now = now_millis();
        let org = org.map(OrgId::as_str);
        if let Some(hit) = self.keys.get(prefix, org) {
            return Ok(hit.into_iter().filter(|c| c.ends_at.is_none_or(|t| t > now)).collect());
        }
        let generation = self.keys.generation();
        let rows = self.db.query(SQL, &params![prefix, org, now]).await?;
        let candidates = rows
            .iter()
            .map(|r| {
                Ok(ApiKeyCandidate {
                    id: ApiKeyId::from_trusted(r.text(0)?),
                    user_id: UserId::from_trusted(r.text(1)?),
                    key_hash: r.text(2)?,
                    last_used_at: r.opt_i64(3)?,
                    role: r.opt_text(4)?.map(|s| stored_role(&s)).transpose()?,
                    limits: match r.opt_text(5)? {
                        Some(plan) => Some(limits_from(plan, r.opt_i64(6)?, r.opt_i64(7)?)?),
                        None => None,
                    },
                    ends_at: r.opt_i64(8)?,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        self.keys.put(prefix, org, generation, candidates.clone());
        Ok(candidates)
    }

    /// Every live key of the user that carries a sealed copy (for Hawk), newest first: at most
    /// [`MAX_LIVE_KEYS`].
    pub async fn hawk_keys(&self, user: &UserId) -> Result<Vec<HawkKey>> {
        const SQL: &str = concat!(
            "SELECT id, sealed_key, last_used_at FROM api_keys WHERE user_id = $1 AND sealed_key IS NOT NULL AND ",
            live!("", "$2"),
            " ORDER BY created_at DESC"
        );
        let rows = self.db.query(SQL, &params![user.as_str(), now_millis()]).await?;
        rows.iter()
            .map(|r| {
                Ok(HawkKey {
                    id: ApiKeyId::from_trusted(r.text(0)?),
                    sealed_key: r.text(1)?,
                    last_used_at: r.opt_i64(2)?,
                })
            })
            .collect()
    }

    /// Records a key's use.
    pub async fn touch_api_key(&self, id: &ApiKeyId, at: i64) -> Result<()> {
        self.db.execute("UPDATE api_keys SET last_used_at = $2 WHERE id = $1", &params![id.as_str(), at]).await?;
        self.keys.touched(id, at);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn candidate(hash: &str) -> ApiKeyCandidate {
        ApiKeyCandidate {
            id: ApiKeyId::from_trusted(format!("k-{hash}")),
            user_id: UserId::from_trusted("u".to_string()),
            key_hash: hash.to_string(),
            last_used_at: None,
            role: None,
            limits: None,
            ends_at: None,
        }
    }

    /// A lookup is answered for its own prefix and organization only, until a change bumps the generation;
    /// a key asked about many organizations keeps a bounded list.
    #[test]
    fn the_key_cache_answers_by_prefix_and_org_and_stays_bounded() {
        let cache = KeyCache::default();
        let g = cache.generation();
        cache.put("tlpro_aaaaaa", Some("o1"), g, vec![candidate("h1")]);
        cache.put("tlpro_aaaaaa", None, g, vec![candidate("h2")]);
        let hash = |c: Option<Vec<ApiKeyCandidate>>| c.map(|v| v.into_iter().map(|c| c.key_hash).collect::<Vec<_>>());
        assert_eq!(hash(cache.get("tlpro_aaaaaa", Some("o1"))), Some(vec!["h1".to_string()]));
        assert_eq!(hash(cache.get("tlpro_aaaaaa", None)), Some(vec!["h2".to_string()]));
        assert!(cache.get("tlpro_aaaaaa", Some("o2")).is_none());
        assert!(cache.get("tlpro_bbbbbb", Some("o1")).is_none());

        for n in 0..10 * KEY_CACHE_ORGS {
            cache.put("tlpro_aaaaaa", Some(&format!("x{n}")), g, Vec::new());
        }
        assert!(cache.keys.entries.read().get("tlpro_aaaaaa").is_some_and(|orgs| orgs.len() <= KEY_CACHE_ORGS));

        cache.put("tlpro_cccccc", Some("o1"), g, vec![candidate("h3")]);
        cache.invalidate();
        assert!(cache.get("tlpro_cccccc", Some("o1")).is_none(), "a change forgets earlier lookups");
    }
}
