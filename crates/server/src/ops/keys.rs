//! API keys: create one (shown once), rotate one (a successor with the same name; the old key ends at once
//! or after a grace period), revoke one. A user's keys are their own: the operations take the user id.

use tlink_domain::{ApiKeyId, UserId};
use tlink_store::{ApiKeyRow, MAX_LIVE_KEYS, MAX_ROTATION_GRACE_MS, NewApiKey};

use super::audit::{self, Change, Origin};
use super::{OpError, OpResult};
use crate::AppState;
use crate::credentials::generate_api_key;

/// The longest name a key may have, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// A key as made: its row, and the full key, which is shown this once and never stored.
#[derive(Debug, Clone)]
pub struct IssuedKey {
    pub row: ApiKeyRow,
    pub key: String,
}

fn new_key(state: &AppState, name: String) -> (NewApiKey, String) {
    let generated = generate_api_key();
    let sealed_key = Some(state.sealer.seal(&generated.key));
    (NewApiKey { name, prefix: generated.prefix, key_hash: generated.hash, sealed_key }, generated.key)
}

/// Creates a key named `name` (trimmed, 1–200 characters) for `user`.
pub async fn create_key(state: &AppState, user: &UserId, origin: &Origin, name: &str) -> OpResult<IssuedKey> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
        return Err(OpError::field("name", format!("must be 1 to {MAX_NAME_CHARS} characters")));
    }
    let (new, key) = new_key(state, name.to_string());
    let row = state.store.create_api_key(user, new).await?.ok_or_else(|| {
        OpError::Conflict(format!(
            "you already hold {MAX_LIVE_KEYS} live API keys, the most one user may; revoke one you no longer use first"
        ))
    })?;
    let summary = format!("created the API key “{}” ({}…)", row.name, row.prefix);
    audit::record_for_user(state, user, origin, change("api_key.created", &row, summary)).await;
    Ok(IssuedKey { row, key })
}

fn change<'a>(action: &'a str, row: &'a ApiKeyRow, summary: String) -> Change<'a> {
    Change { action, target_type: "api_key", target_id: row.id.as_str(), summary, detail: None }
}

/// Replaces one of `user`'s live keys with a new one of the same name. The old key stops working at once,
/// or `grace_secs` later (at most 24 hours) so that clients can switch without downtime.
pub async fn rotate_key(
    state: &AppState,
    user: &UserId,
    origin: &Origin,
    id: &ApiKeyId,
    grace_secs: u64,
) -> OpResult<IssuedKey> {
    let max_secs = MAX_ROTATION_GRACE_MS / 1000;
    let grace_ms = match i64::try_from(grace_secs) {
        Ok(s) if s <= max_secs => s * 1000,
        _ => return Err(OpError::field("graceSeconds", format!("must be 0 to {max_secs} (24 hours)"))),
    };
    let (new, key) = new_key(state, String::new());
    let row = state.store.rotate_api_key(user, id, new, grace_ms).await?.ok_or(OpError::NotFound("API key"))?;
    let summary = format!(
        "rotated the API key “{}” (new key {}…; the old one {})",
        row.name,
        row.prefix,
        if grace_secs == 0 { "ended at once".to_string() } else { format!("works {grace_secs} s more") }
    );
    audit::record_for_user(state, user, origin, change("api_key.rotated", &row, summary)).await;
    Ok(IssuedKey { row, key })
}

/// Revokes one of `user`'s keys at once (a rotated key still in its grace period too).
pub async fn revoke_key(state: &AppState, user: &UserId, origin: &Origin, id: &ApiKeyId) -> OpResult<()> {
    if !state.store.revoke_api_key(user, id).await? {
        return Err(OpError::NotFound("API key"));
    }
    let c = Change {
        action: "api_key.revoked",
        target_type: "api_key",
        target_id: id.as_str(),
        summary: format!("revoked the API key {id}"),
        detail: None,
    };
    audit::record_for_user(state, user, origin, c).await;
    Ok(())
}
