//! When to try a failed webhook delivery again.
//!
//! The schedule is svix's (a production webhook service), which spreads [`MAX_ATTEMPTS`] attempts over about a
//! day: after attempt 1 wait 5 s, then 5 min, 30 min, 2 h, 5 h, 10 h and 10 h; after the 8th attempt give up.
//! Each wait is jittered by ±20 % so that the retries of many messages failing together do not arrive
//! together. Two rules stretch a wait:
//! - a receiver's `Retry-After` is honoured but clamped to `[base, 2 × base]`, so a receiver can slow the
//!   schedule down (not speed it up, nor stall it for days);
//! - after a timeout or a 429 (a receiver that is overloaded) the wait is at least 60 s.
//!
//! The rules apply in that order: `Retry-After` (or the jitter when there is none), then the 60 s floor.

use std::time::Duration;

use rand::Rng;

/// Attempts per message, the first included.
pub const MAX_ATTEMPTS: u32 = 8;

/// The shortest wait after a timeout or a 429.
pub const SLOW_MINIMUM: Duration = Duration::from_secs(60);

/// Waits after attempts 1 to 7, before jitter.
const SCHEDULE_SECS: [u64; (MAX_ATTEMPTS - 1) as usize] =
    [5, 5 * 60, 30 * 60, 2 * 3600, 5 * 3600, 10 * 3600, 10 * 3600];

/// The un-jittered waits after attempts 1 to 7 (`[5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h]`).
pub fn schedule_table() -> Vec<Duration> {
    SCHEDULE_SECS.iter().map(|&s| Duration::from_secs(s)).collect()
}

/// The wait before the next attempt, given the number of attempts made so far (`attempt`, at least 1; 0 is
/// read as 1), the receiver's `Retry-After`, and whether the last attempt was `slow` (a timeout or a 429).
/// `None` when [`MAX_ATTEMPTS`] have been made.
pub fn retry_delay(attempt: u32, retry_after: Option<Duration>, slow: bool) -> Option<Duration> {
    let index = usize::try_from(attempt.max(1) - 1).ok()?;
    let base = Duration::from_secs(*SCHEDULE_SECS.get(index)?);
    let mut rng = rand::thread_rng();
    let mut delay = match retry_after {
        Some(asked) => asked.clamp(base, base * 2),
        None => base.mul_f64(rng.gen_range(0.8..=1.2)),
    };
    if slow && delay < SLOW_MINIMUM {
        delay = SLOW_MINIMUM.mul_f64(rng.gen_range(1.0..=1.2));
    }
    Some(delay)
}

#[cfg(test)]
mod tests {
    use super::*;

    const RUNS: usize = 200;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn the_table_is_the_documented_schedule_over_about_a_day() {
        let table = schedule_table();
        assert_eq!(
            table,
            [secs(5), secs(300), secs(1800), secs(7200), secs(18000), secs(36000), secs(36000)],
            "waits after attempts 1..=7"
        );
        assert_eq!(table.len() + 1, MAX_ATTEMPTS as usize);
        let total: Duration = table.iter().sum();
        assert!(total > secs(24 * 3600) && total < secs(30 * 3600), "{total:?}");
    }

    #[test]
    fn every_wait_is_jittered_within_twenty_percent() {
        for (i, base) in schedule_table().into_iter().enumerate() {
            let attempt = u32::try_from(i).unwrap() + 1;
            let mut seen = std::collections::BTreeSet::new();
            for _ in 0..RUNS {
                let d = retry_delay(attempt, None, false).unwrap();
                assert!(d >= base.mul_f64(0.8) && d <= base.mul_f64(1.2), "attempt {attempt}: {d:?} vs {base:?}");
                seen.insert(d);
            }
            assert!(seen.len() > RUNS / 2, "attempt {attempt}: the waits are jittered");
        }
    }

    #[test]
    fn attempts_run_out_after_the_eighth() {
        assert!(retry_delay(MAX_ATTEMPTS - 1, None, false).is_some());
        assert_eq!(retry_delay(MAX_ATTEMPTS, None, false), None);
        assert_eq!(retry_delay(MAX_ATTEMPTS + 5, Some(secs(1)), true), None);
        assert_eq!(retry_delay(u32::MAX, None, false), None);
    }

    #[test]
    fn attempt_zero_is_read_as_the_first() {
        let d = retry_delay(0, None, false).unwrap();
        assert!(d >= secs(4) && d <= secs(6), "{d:?}");
    }

    #[test]
    fn retry_after_is_honoured_within_base_and_twice_base() {
        // After attempt 3 the base is 30 min.
        assert_eq!(retry_delay(3, Some(secs(2400)), false), Some(secs(2400)), "inside the range: as asked");
        assert_eq!(retry_delay(3, Some(secs(10)), false), Some(secs(1800)), "shorter: the base");
        assert_eq!(retry_delay(3, Some(secs(86_400)), false), Some(secs(3600)), "longer: twice the base");
        assert_eq!(retry_delay(1, Some(secs(7)), false), Some(secs(7)));
        assert_eq!(retry_delay(1, Some(Duration::ZERO), false), Some(secs(5)));
    }

    #[test]
    fn a_timeout_or_429_waits_at_least_a_minute() {
        for _ in 0..RUNS {
            let d = retry_delay(1, None, true).unwrap();
            assert!(d >= SLOW_MINIMUM && d <= SLOW_MINIMUM.mul_f64(1.2), "{d:?}");
            // Retry-After 7 s after the first attempt (clamped to [5 s, 10 s]) is still raised to the minute.
            let d = retry_delay(1, Some(secs(7)), true).unwrap();
            assert!(d >= SLOW_MINIMUM && d <= SLOW_MINIMUM.mul_f64(1.2), "{d:?}");
        }
        // Waits already longer than a minute are not changed by the floor.
        assert_eq!(retry_delay(2, Some(secs(400)), true), Some(secs(400)));
        for _ in 0..RUNS {
            let d = retry_delay(2, None, true).unwrap();
            assert!(d >= secs(240) && d <= secs(360), "{d:?}");
        }
    }
}
