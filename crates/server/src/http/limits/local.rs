//! The in-process backend: buckets, lock-outs and Hawk nonces in sharded maps, trimmed as they grow. Used
//! when no Redis is configured; each process then counts on its own.

use std::collections::HashMap;
use std::time::Duration;

use parking_lot::Mutex;

use super::gcra::{self, Decision, TRIM_AT, now_us};

/// The in-process backend: sharded maps of arrival times, trimmed as they grow.
pub(super) struct Local {
    shards: Vec<Mutex<HashMap<String, u64>>>,
    locks: Mutex<HashMap<String, u64>>,
    nonces: Mutex<HashMap<String, u64>>,
}

impl Default for Local {
    fn default() -> Self {
        Local {
            shards: (0..32).map(|_| Mutex::new(HashMap::new())).collect(),
            locks: Mutex::new(HashMap::new()),
            nonces: Mutex::new(HashMap::new()),
        }
    }
}

impl Local {
    pub(super) fn check(&self, key: &str, limit: u32, window_us: u64, lockout_us: u64) -> Decision {
        let now = now_us();
        let locked_until = if lockout_us > 0 { self.locks.lock().get(key).copied() } else { None };
        if let Some(until) = locked_until.filter(|&until| until > now) {
            return Decision::locked(limit, until - now);
        }
        let shard = &self.shards[shard_of(key, self.shards.len())];
        let decision = {
            let mut map = shard.lock();
            if map.len() >= TRIM_AT {
                map.retain(|_, tat| *tat > now);
            }
            // Updated in place: a bucket's key is allocated once, not per request.
            match map.get_mut(key) {
                Some(tat) => {
                    let (d, next) = gcra::step(*tat, now, limit, window_us);
                    if d.allowed {
                        *tat = next;
                    }
                    d
                }
                None => {
                    let (d, next) = gcra::step(0, now, limit, window_us);
                    if d.allowed {
                        map.insert(key.to_string(), next);
                    }
                    d
                }
            }
        };
        if !decision.allowed && lockout_us > 0 {
            let mut locks = self.locks.lock();
            if locks.len() >= TRIM_AT {
                locks.retain(|_, until| *until > now);
            }
            locks.insert(key.to_string(), now + lockout_us);
            return Decision::locked(limit, lockout_us);
        }
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

fn shard_of(key: &str, n: usize) -> usize {
    use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher};
    let h = BuildHasherDefault::<DefaultHasher>::default().hash_one(key);
    usize::try_from(h % n as u64).unwrap_or(0)
}
