//! The in-process backend: buckets, lock-outs and Hawk nonces in sharded maps, trimmed as they grow. Used
//! when no Redis is configured; each process then counts on its own.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;

use super::gcra::{self, Decision, TRIM_AT, now_us};

/// The in-process backend: sharded maps of buckets, trimmed as they grow.
pub(super) struct Local {
    shards: Vec<Mutex<HashMap<String, Bucket>>>,
    nonces: Mutex<HashMap<String, u64>>,
}

/// One bucket: its theoretical arrival time, and the end of its lock-out (0 when never locked).
#[derive(Debug, Clone, Copy, Default)]
struct Bucket {
    tat: u64,
    locked_until: u64,
}

impl Bucket {
    /// One request at `now`: refused while locked out; a refusal starts a lock-out of `lockout_us`
    /// (none when 0).
    fn take(&mut self, now: u64, limit: u32, window_us: u64, lockout_us: u64) -> Decision {
        if self.locked_until > now {
            return Decision::locked(limit, self.locked_until - now);
        }
        let (decision, next) = gcra::step(self.tat, now, limit, window_us);
        if decision.allowed {
            self.tat = next;
        } else if lockout_us > 0 {
            self.locked_until = now + lockout_us;
            return Decision::locked(limit, lockout_us);
        }
        decision
    }
}

impl Default for Local {
    fn default() -> Self {
        Local { shards: (0..32).map(|_| Mutex::new(HashMap::new())).collect(), nonces: Mutex::new(HashMap::new()) }
    }
}

impl Local {
    /// Applies one request to bucket `key`: one lock and one lookup, the lock-out included.
    pub(super) fn check(&self, key: &str, limit: u32, window_us: u64, lockout_us: u64) -> Decision {
        let now = now_us();
        let mut map = self.shards[shard_of(key, self.shards.len())].lock();
        if map.len() >= TRIM_AT {
            map.retain(|_, b| b.tat > now || b.locked_until > now);
        }
        // Updated in place: a bucket's key is allocated once, not per request.
        if let Some(bucket) = map.get_mut(key) {
            return bucket.take(now, limit, window_us, lockout_us);
        }
        let mut bucket = Bucket::default();
        let decision = bucket.take(now, limit, window_us, lockout_us);
        map.insert(key.to_string(), bucket);
        decision
    }

    pub(super) fn first_use(&self, key: &str, ttl: Duration) -> bool {
        let now = now_us();
        let mut map = self.nonces.lock();
        if map.len() >= TRIM_AT {
            map.retain(|_, until| *until > now);
        }
        match map.get(key) {
            Some(&until) if until > now => false,
            _ => {
                map.insert(key.to_string(), now + u64::try_from(ttl.as_micros()).unwrap_or(u64::MAX));
                true
            }
        }
    }
}

/// The shard of a bucket: a plain multiplicative hash of the name. It needs no key: a client that
/// crowded one shard would only make it trimmed sooner, and the map inside hashes with a random key.
fn shard_of(key: &str, n: usize) -> usize {
    let h = key.bytes().fold(0u32, |h, b| h.wrapping_mul(31).wrapping_add(u32::from(b)));
    h as usize % n.max(1)
}
