//! GCRA (the generic cell rate algorithm) over integer microseconds: the same arithmetic runs in process
//! and, as a Lua script, inside Redis, so both backends give the same answers and the same headers.
//!
//! A bucket of `limit` requests per `window` stores one number, its theoretical arrival time `tat`. Each
//! request moves `tat` forward by the emission interval `T = window / limit`; a request is allowed while
//! `tat` stays within one window of now. A full bucket allows `limit` requests at once, then one every `T`.

use std::time::{SystemTime, UNIX_EPOCH};

/// The verdict on one request, with what the rate-limit headers report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Requests per window.
    pub limit: u32,
    /// Requests that could still be made now.
    pub remaining: u32,
    /// Microseconds until the bucket is full again (no request counted against it).
    pub reset_us: u64,
    /// Microseconds until a request would be allowed; 0 when allowed.
    pub retry_after_us: u64,
}

impl Decision {
    /// An allowed request when the limiter could not decide (fail open).
    pub fn open(limit: u32) -> Decision {
        Decision { allowed: true, limit, remaining: limit, reset_us: 0, retry_after_us: 0 }
    }

    /// A refusal for `retry_after_us` (the IP lock-out).
    pub fn locked(limit: u32, retry_after_us: u64) -> Decision {
        Decision { allowed: false, limit, remaining: 0, reset_us: retry_after_us, retry_after_us }
    }
}

/// The emission interval in microseconds (at least 1).
pub fn interval_us(limit: u32, window_us: u64) -> u64 {
    (window_us / u64::from(limit.max(1))).max(1)
}

/// Applies one request at `now_us` to a bucket whose stored arrival time is `tat_us` (0 when new).
/// Returns the decision and the arrival time to store (unchanged when refused).
pub fn step(tat_us: u64, now_us: u64, limit: u32, window_us: u64) -> (Decision, u64) {
    let t = interval_us(limit, window_us);
    let burst = t * u64::from(limit.max(1));
    let tat = tat_us.max(now_us);
    let new_tat = tat + t;
    // Allowed when the new arrival time is at most one burst ahead of now.
    if new_tat - now_us > burst {
        let retry = new_tat - now_us - burst;
        let d = Decision { allowed: false, limit, remaining: 0, reset_us: tat - now_us, retry_after_us: retry };
        return (d, tat_us);
    }
    let ahead = new_tat - now_us;
    let remaining = u32::try_from((burst - ahead) / t).unwrap_or(u32::MAX);
    (Decision { allowed: true, limit, remaining, reset_us: ahead, retry_after_us: 0 }, new_tat)
}

/// Microseconds since the Unix epoch, the clock of the in-process buckets.
/// Entries a map may hold before expired ones are dropped.
pub(super) const TRIM_AT: usize = 20_000;

pub(super) fn now_us() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINUTE: u64 = 60_000_000;

    #[test]
    fn a_full_bucket_allows_the_limit_at_once_then_one_per_interval() {
        let (mut tat, now) = (0, 1_000_000_000);
        for i in 0..30 {
            let (d, next) = step(tat, now, 30, MINUTE);
            assert!(d.allowed, "request {i}");
            assert_eq!(d.remaining, 29 - i);
            tat = next;
        }
        let (d, same) = step(tat, now, 30, MINUTE);
        assert!(!d.allowed);
        assert_eq!(same, tat, "a refusal does not move the bucket");
        assert_eq!(d.retry_after_us, 2_000_000, "one request per 2 s at 30/min");
        assert_eq!(d.reset_us, MINUTE);
        // Just before the interval: still refused; at it: allowed, and empty again.
        assert!(!step(tat, now + 1_999_999, 30, MINUTE).0.allowed);
        let (d, _) = step(tat, now + 2_000_000, 30, MINUTE);
        assert!(d.allowed);
        assert_eq!(d.remaining, 0);
    }

    #[test]
    fn an_idle_bucket_refills_completely() {
        let now = 5_000_000_000;
        let mut tat = 0;
        for _ in 0..10 {
            tat = step(tat, now, 10, MINUTE).1;
        }
        let (d, _) = step(tat, now + MINUTE, 10, MINUTE);
        assert!(d.allowed);
        assert_eq!(d.remaining, 9);
        assert_eq!(d.reset_us, MINUTE / 10);
    }

    #[test]
    fn limits_that_do_not_divide_the_window_still_allow_exactly_the_limit() {
        for limit in [1, 7, 200, 999, 1000] {
            let now = 1_000_000;
            let mut tat = 0;
            let mut allowed = 0;
            for _ in 0..limit + 5 {
                let (d, next) = step(tat, now, limit, MINUTE);
                allowed += u32::from(d.allowed);
                tat = next;
            }
            assert_eq!(allowed, limit, "limit {limit}");
        }
    }
}
