//! What every authenticating path shares: how many credentials a request presents (one at most), and
//! recording that an API key was used.

use tlink_domain::ApiKeyId;
use tlink_store::now_millis;

use crate::AppState;

/// How stale `lastUsedAt` may get before a request writes it again.
const LAST_USED_GRANULARITY_MS: i64 = 60_000;

/// The refusal of a request with more than one credential.
pub(crate) const MIXED_CREDENTIALS: &str =
    "send one credential: X-API-Key or one Authorization header (Bearer or Hawk), not several";

/// How many credential headers (`X-API-Key`, `Authorization`) a request carries.
pub(crate) fn credential_headers(headers: &axum::http::HeaderMap) -> usize {
    headers.get_all("x-api-key").iter().count() + headers.get_all(axum::http::header::AUTHORIZATION).iter().count()
}

/// Records that a key was used (`lastUsedAt`), by a spawned task, at most once a minute per key.
pub(crate) fn record_key_use(state: &AppState, id: &ApiKeyId, last_used_at: Option<i64>) {
    let now = now_millis();
    if last_used_at.is_none_or(|t| now - t >= LAST_USED_GRANULARITY_MS) {
        let store = state.store.clone();
        let id = id.clone();
        tokio::spawn(async move {
            if let Err(e) = store.touch_api_key(&id, now).await {
                tracing::warn!(error = %e, "recording API key use failed");
            }
        });
    }
}
