//! The login throttle: failed logins counted per account and per client address, in this process and,
//! with Redis, across processes.

use std::collections::{HashMap, VecDeque};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

/// Counts failed logins per key (account, client IP) in a sliding window. Each process counts the failures
/// it sees; with Redis (`limits.redis_url`) they are also counted there, for every process together, and the
/// longer wait applies. When Redis cannot be reached each process still throttles on its own count.
pub struct LoginThrottle {
    max: u32,
    window: Duration,
    failures: Mutex<HashMap<String, VecDeque<Instant>>>,
    shared: Option<crate::http::limits::redis::Shared>,
}

impl LoginThrottle {
    /// `max` failures per key within `window`; shared through the limiter's Redis when it has one.
    pub fn new(max: u32, window: Duration, limiter: &crate::http::limits::Limiter) -> Self {
        Self { max, window, failures: Mutex::new(HashMap::new()), shared: limiter.redis().cloned() }
    }

    fn window_us(&self) -> u64 {
        u64::try_from(self.window.as_micros()).unwrap_or(u64::MAX)
    }

    /// Seconds to wait if any key is over its budget.
    pub async fn blocked(&self, keys: &[String]) -> Option<u64> {
        let local = self.blocked_here(keys);
        let shared = match &self.shared {
            Some(redis) => match redis.login_wait(keys, self.max, self.window_us()).await {
                Ok(0) => None,
                Ok(us) => Some(us / 1_000_000 + 1),
                Err(e) => {
                    tracing::warn!(error = %e, "checking failed logins in Redis failed; this process's count applies");
                    None
                }
            },
            None => None,
        };
        local.max(shared)
    }

    fn blocked_here(&self, keys: &[String]) -> Option<u64> {
        let now = Instant::now();
        let mut map = self.failures.lock();
        let mut wait = None;
        for k in keys {
            if let Some(q) = map.get_mut(k) {
                while q.front().is_some_and(|t| now.duration_since(*t) >= self.window) {
                    q.pop_front();
                }
                if q.len() >= self.max as usize {
                    let oldest = q.front().copied().unwrap_or(now);
                    let secs = self.window.saturating_sub(now.duration_since(oldest)).as_secs() + 1;
                    wait = Some(wait.map_or(secs, |w: u64| w.max(secs)));
                }
            }
        }
        wait
    }

    pub async fn record_failure(&self, keys: &[String]) {
        self.record_here(keys);
        if let Some(redis) = &self.shared
            && let Err(e) = redis.login_failed(keys, self.max, self.window_us()).await
        {
            tracing::warn!(error = %e, "counting a failed login in Redis failed; this process's count applies");
        }
    }

    fn record_here(&self, keys: &[String]) {
        let now = Instant::now();
        let mut map = self.failures.lock();
        if map.len() > 100_000 {
            let window = self.window;
            map.retain(|_, q| q.back().is_some_and(|t| now.duration_since(*t) < window));
        }
        for k in keys {
            let q = map.entry(k.clone()).or_default();
            q.push_back(now);
            while q.len() > self.max as usize {
                q.pop_front();
            }
        }
    }

    /// Forgets the failures of `key` (a successful login clears its account).
    pub async fn clear(&self, key: &str) {
        self.failures.lock().remove(key);
        if let Some(redis) = &self.shared
            && let Err(e) = redis.login_clear(key).await
        {
            tracing::warn!(error = %e, "clearing failed logins in Redis failed");
        }
    }
}
