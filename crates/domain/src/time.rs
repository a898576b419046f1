//! Time bounds and timestamp encoding.
//!
//! List endpoints filter by `from` and `until`. People write those bounds at
//! whatever precision they think in, `2026-01-31` or `2026-01-31T10:30`, and
//! expect "until the 31st" to include the whole of the 31st. This module exists
//! to turn every accepted spelling into one half-open UTC [`Period`], so that
//! `from` takes its start (`createdAt >= start`) and `until` takes its end
//! (`createdAt < end`), with no off-by-one at day, hour or minute boundaries.
//!
//! It also fixes how instants are stored and rendered: as `i64` milliseconds
//! since the Unix epoch, and as RFC 3339 UTC text with exactly three
//! fractional digits and a `Z`. Conversions clamp rather than panic.

use chrono::{DateTime, NaiveDate, SecondsFormat, TimeDelta, Utc};

const EXPECTED: &str =
    "expected yyyy-mm-dd, yyyy-mm-ddThh, yyyy-mm-ddThh:mm, yyyy-mm-ddThh:mm:ss or an RFC 3339 timestamp";

/// Why a time bound was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimeError {
    /// The text matches none of the accepted shapes.
    #[error("{}", EXPECTED)]
    Format,
    /// A space separates date and time, where `T` is required.
    #[error("{}; separate the date and the time with `T`, not a space", EXPECTED)]
    SpaceSeparator,
    /// The shape is right but a field is out of range (e.g. month 13).
    #[error("{}; {detail}", EXPECTED)]
    OutOfRange {
        /// Which field is out of range and what range is allowed.
        detail: String,
    },
}

/// A half-open UTC interval `[start, end)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Period {
    /// First instant inside the period.
    pub start: DateTime<Utc>,
    /// First instant after the period.
    pub end: DateTime<Utc>,
}

/// Parses a partial ISO-8601 time into the period it names.
///
/// Accepted, all read as UTC, each optionally followed by `Z`:
///
/// - `yyyy-mm-dd`: that whole day;
/// - `yyyy-mm-ddThh`: that hour;
/// - `yyyy-mm-ddThh:mm`: that minute;
/// - `yyyy-mm-ddThh:mm:ss`: that second.
///
/// Any other RFC 3339 timestamp (with a fraction and/or an offset, e.g.
/// `2026-01-31T10:00:00.250+02:00`) names the single millisecond
/// `[t, t + 1 ms)`, with `t` truncated to whole milliseconds.
///
/// # Errors
///
/// [`TimeError`] if the text has another shape (including a space instead of
/// `T`) or a field is out of range, such as month 13 or 29 February in a
/// common year.
pub fn parse_period(s: &str) -> Result<Period, TimeError> {
    let s = s.trim();
    if s.contains(' ') {
        return Err(TimeError::SpaceSeparator);
    }
    if let Some(period) = parse_partial(s)? {
        return Ok(period);
    }
    let t = DateTime::parse_from_rfc3339(s).map_err(|_| TimeError::Format)?;
    let start = from_millis(t.timestamp_millis());
    let end = start.checked_add_signed(TimeDelta::milliseconds(1)).ok_or(TimeError::Format)?;
    Ok(Period { start, end })
}

/// The inclusive lower bound for a `from` parameter: the start of the period.
///
/// # Errors
///
/// As [`parse_period`].
pub fn from_bound(s: &str) -> Result<DateTime<Utc>, TimeError> {
    Ok(parse_period(s)?.start)
}

/// The exclusive upper bound for an `until` parameter: the end of the period,
/// so `until=2026-01-31` includes all of 31 January.
///
/// # Errors
///
/// As [`parse_period`].
pub fn until_bound(s: &str) -> Result<DateTime<Utc>, TimeError> {
    Ok(parse_period(s)?.end)
}

/// Milliseconds since the Unix epoch.
#[must_use]
pub fn to_millis(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

/// The instant `ms` milliseconds after the Unix epoch, clamped to the range
/// `chrono` can represent.
#[must_use]
pub fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or(if ms < 0 {
        DateTime::<Utc>::MIN_UTC
    } else {
        DateTime::<Utc>::MAX_UTC
    })
}

/// RFC 3339 UTC text with millisecond precision and a `Z`, e.g.
/// `2026-11-23T10:30:00.123Z`.
#[must_use]
pub fn format_millis(ms: i64) -> String {
    from_millis(ms).to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Reads `n` ASCII digits at `pos`, or `None` if they are not all digits.
fn digits(b: &[u8], pos: usize, n: usize) -> Option<u32> {
    let field = b.get(pos..pos + n)?;
    field.iter().try_fold(0u32, |acc, &d| d.is_ascii_digit().then(|| acc * 10 + u32::from(d - b'0')))
}

fn out_of_range(detail: String) -> TimeError {
    TimeError::OutOfRange { detail }
}

/// The partial shapes. `Ok(None)` means "not one of these, try RFC 3339".
fn parse_partial(s: &str) -> Result<Option<Period>, TimeError> {
    let b = s.as_bytes();
    let body = match b.last() {
        Some(b'Z' | b'z') => &b[..b.len() - 1],
        _ => b,
    };
    // Lengths of the accepted shapes without the trailing `Z`.
    let (has_hour, has_minute, has_second) = match body.len() {
        10 => (false, false, false),
        13 => (true, false, false),
        16 => (true, true, false),
        19 => (true, true, true),
        _ => return Ok(None),
    };
    let sep_ok = |i: usize, c: u8| body.get(i) == Some(&c);
    let (Some(year), Some(month), Some(day)) = (digits(body, 0, 4), digits(body, 5, 2), digits(body, 8, 2)) else {
        return Ok(None);
    };
    if !sep_ok(4, b'-') || !sep_ok(7, b'-') {
        return Ok(None);
    }
    if has_hour && !(sep_ok(10, b'T') || sep_ok(10, b't')) {
        return Ok(None);
    }
    let hour = if has_hour { digits(body, 11, 2) } else { Some(0) };
    let minute = if has_minute { if sep_ok(13, b':') { digits(body, 14, 2) } else { None } } else { Some(0) };
    let second = if has_second { if sep_ok(16, b':') { digits(body, 17, 2) } else { None } } else { Some(0) };
    let (Some(hour), Some(minute), Some(second)) = (hour, minute, second) else {
        return Ok(None);
    };

    if !(1..=12).contains(&month) {
        return Err(out_of_range(format!("month {month:02} is out of range (01-12)")));
    }
    let year = i32::try_from(year).map_err(|_| TimeError::Format)?;
    let last_day = days_in_month(year, month).ok_or(TimeError::Format)?;
    if day < 1 || day > last_day {
        return Err(out_of_range(format!("day {day:02} is out of range for {year:04}-{month:02} (01-{last_day:02})")));
    }
    if hour > 23 {
        return Err(out_of_range(format!("hour {hour:02} is out of range (00-23)")));
    }
    if minute > 59 {
        return Err(out_of_range(format!("minute {minute:02} is out of range (00-59)")));
    }
    if second > 59 {
        return Err(out_of_range(format!("second {second:02} is out of range (00-59)")));
    }

    let start = NaiveDate::from_ymd_opt(year, month, day)
        .and_then(|d| d.and_hms_opt(hour, minute, second))
        .ok_or(TimeError::Format)?
        .and_utc();
    let length = if has_second {
        TimeDelta::seconds(1)
    } else if has_minute {
        TimeDelta::minutes(1)
    } else if has_hour {
        TimeDelta::hours(1)
    } else {
        TimeDelta::days(1)
    };
    let end = start.checked_add_signed(length).ok_or(TimeError::Format)?;
    Ok(Some(Period { start, end }))
}

fn days_in_month(year: i32, month: u32) -> Option<u32> {
    let first = NaiveDate::from_ymd_opt(year, month, 1)?;
    let next = if month == 12 {
        NaiveDate::from_ymd_opt(year + 1, 1, 1)?
    } else {
        NaiveDate::from_ymd_opt(year, month + 1, 1)?
    };
    u32::try_from(next.signed_duration_since(first).num_days()).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).expect(s).with_timezone(&Utc)
    }

    #[test]
    fn each_precision() {
        let cases = [
            ("2026-01-31", "2026-01-31T00:00:00Z", "2026-02-01T00:00:00Z"),
            ("2026-01-31Z", "2026-01-31T00:00:00Z", "2026-02-01T00:00:00Z"),
            ("2026-01-31T10", "2026-01-31T10:00:00Z", "2026-01-31T11:00:00Z"),
            ("2026-01-31T10Z", "2026-01-31T10:00:00Z", "2026-01-31T11:00:00Z"),
            ("2026-01-31T23", "2026-01-31T23:00:00Z", "2026-02-01T00:00:00Z"),
            ("2026-01-31T10:30", "2026-01-31T10:30:00Z", "2026-01-31T10:31:00Z"),
            ("2026-01-31T10:30Z", "2026-01-31T10:30:00Z", "2026-01-31T10:31:00Z"),
            ("2026-01-31T10:30:15", "2026-01-31T10:30:15Z", "2026-01-31T10:30:16Z"),
            ("2026-01-31T10:30:15Z", "2026-01-31T10:30:15Z", "2026-01-31T10:30:16Z"),
            ("2026-01-31t10:30:15z", "2026-01-31T10:30:15Z", "2026-01-31T10:30:16Z"),
            ("2026-01-31T23:59:59", "2026-01-31T23:59:59Z", "2026-02-01T00:00:00Z"),
            (" 2026-01-31 ", "2026-01-31T00:00:00Z", "2026-02-01T00:00:00Z"),
        ];
        for (input, start, end) in cases {
            let p = parse_period(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(p.start, utc(start), "{input:?} start");
            assert_eq!(p.end, utc(end), "{input:?} end");
            assert_eq!(from_bound(input), Ok(utc(start)));
            assert_eq!(until_bound(input), Ok(utc(end)));
        }
    }

    #[test]
    fn rfc3339_is_one_millisecond() {
        let cases = [
            ("2026-01-31T10:00:00.250+02:00", "2026-01-31T08:00:00.250Z", "2026-01-31T08:00:00.251Z"),
            ("2026-01-31T10:00:00.123456789Z", "2026-01-31T10:00:00.123Z", "2026-01-31T10:00:00.124Z"),
            ("2026-01-31T10:00:00+00:00", "2026-01-31T10:00:00Z", "2026-01-31T10:00:00.001Z"),
            ("2026-01-31T23:30:00-05:30", "2026-02-01T05:00:00Z", "2026-02-01T05:00:00.001Z"),
            ("2026-01-31T10:00:00.5Z", "2026-01-31T10:00:00.500Z", "2026-01-31T10:00:00.501Z"),
        ];
        for (input, start, end) in cases {
            let p = parse_period(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(p.start, utc(start), "{input:?} start");
            assert_eq!(p.end, utc(end), "{input:?} end");
        }
    }

    #[test]
    fn leap_days() {
        let p = parse_period("2024-02-29").expect("leap day");
        assert_eq!(p.end, utc("2024-03-01T00:00:00Z"));
        assert!(parse_period("2000-02-29").is_ok());
        assert_eq!(
            parse_period("2023-02-29").map_err(|e| e.to_string()),
            Err(format!("{EXPECTED}; day 29 is out of range for 2023-02 (01-28)"))
        );
        assert!(parse_period("1900-02-29").is_err());
    }

    #[test]
    fn rollovers() {
        let cases = [
            ("2026-12-31", "2027-01-01T00:00:00Z"),
            ("2026-12-31T23", "2027-01-01T00:00:00Z"),
            ("2026-12-31T23:59", "2027-01-01T00:00:00Z"),
            ("2026-12-31T23:59:59", "2027-01-01T00:00:00Z"),
            ("2026-04-30", "2026-05-01T00:00:00Z"),
            ("2026-02-28", "2026-03-01T00:00:00Z"),
            ("9999-12-31", "+10000-01-01T00:00:00Z"),
        ];
        for (input, end) in cases {
            let want = if let Some(rest) = end.strip_prefix('+') {
                assert_eq!(rest, "10000-01-01T00:00:00Z");
                NaiveDate::from_ymd_opt(10000, 1, 1).and_then(|d| d.and_hms_opt(0, 0, 0)).expect("date").and_utc()
            } else {
                utc(end)
            };
            assert_eq!(until_bound(input), Ok(want), "{input:?}");
        }
    }

    #[test]
    fn out_of_range_fields() {
        let cases = [
            ("2026-13-01", "month 13 is out of range (01-12)"),
            ("2026-00-01", "month 00 is out of range (01-12)"),
            ("2026-04-31", "day 31 is out of range for 2026-04 (01-30)"),
            ("2026-01-00", "day 00 is out of range for 2026-01 (01-31)"),
            ("2026-01-31T24", "hour 24 is out of range (00-23)"),
            ("2026-01-31T10:60", "minute 60 is out of range (00-59)"),
            ("2026-01-31T10:00:60", "second 60 is out of range (00-59)"),
        ];
        for (input, detail) in cases {
            assert_eq!(parse_period(input), Err(TimeError::OutOfRange { detail: detail.to_owned() }), "{input:?}");
            assert_eq!(parse_period(input).map_err(|e| e.to_string()), Err(format!("{EXPECTED}; {detail}")));
        }
    }

    #[test]
    fn garbage() {
        for input in [
            "",
            "   ",
            "yesterday",
            "2026",
            "2026-01",
            "2026-1-31",
            "26-01-31",
            "2026/01/31",
            "20260131",
            "2026-01-31T",
            "2026-01-31T1",
            "2026-01-31T10:",
            "2026-01-31T10:3",
            "2026-01-31T10:30:",
            "2026-01-31T10.30",
            "2026-01-31X10",
            "2026-01-31ZZ",
            "2026-01-31T10:30+02:00",
            "2026-01-31T10:00:00+25:00",
            "2026-01-31T10:00:00.Z",
            "+2026-01-31",
            "-001-01-01",
            "2026-01-31T10:30:15.",
            "1769853600000",
        ] {
            assert_eq!(parse_period(input), Err(TimeError::Format), "{input:?}");
            assert_eq!(parse_period(input).map_err(|e| e.to_string()), Err(EXPECTED.to_owned()));
        }
    }

    #[test]
    fn space_separator_is_rejected() {
        for input in ["2026-01-31 10:00", "2026-01-31 10:00:00Z", "2026-01-31 10:00:00.5+02:00"] {
            let err = parse_period(input).expect_err(input);
            assert_eq!(err, TimeError::SpaceSeparator);
            assert!(err.to_string().contains("with `T`, not a space"));
        }
    }

    #[test]
    fn millis_round_trip_and_format() {
        let t = utc("2026-11-23T10:30:00.123Z");
        let ms = to_millis(t);
        assert_eq!(ms, 1_795_429_800_123);
        assert_eq!(from_millis(ms), t);
        assert_eq!(format_millis(ms), "2026-11-23T10:30:00.123Z");
        assert_eq!(format_millis(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(format_millis(-1), "1969-12-31T23:59:59.999Z");
    }

    #[test]
    fn from_millis_clamps() {
        assert_eq!(from_millis(i64::MAX), DateTime::<Utc>::MAX_UTC);
        assert_eq!(from_millis(i64::MIN), DateTime::<Utc>::MIN_UTC);
        assert!(!format_millis(i64::MAX).is_empty());
        assert!(!format_millis(i64::MIN).is_empty());
    }

    #[test]
    fn truncates_sub_millisecond() {
        let p = parse_period("2026-01-31T10:00:00.999999Z").expect("period");
        assert_eq!(to_millis(p.start) % 1000, 999);
        assert_eq!(p.start.timestamp_subsec_nanos(), 999_000_000);
    }

    proptest! {
        #[test]
        fn millis_round_trip(ms in -8_000_000_000_000_000i64..8_000_000_000_000_000i64) {
            prop_assert_eq!(to_millis(from_millis(ms)), ms);
            let text = format_millis(ms);
            if (0..253_402_300_800_000).contains(&ms) {
                let p = parse_period(&text);
                prop_assert!(p.is_ok(), "{} rejected", text);
                if let Ok(p) = p {
                    prop_assert_eq!(to_millis(p.start), ms);
                    prop_assert_eq!(to_millis(p.end), ms + 1);
                }
            }
        }

        #[test]
        fn periods_are_non_empty(s in "[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}(:[0-9]{2}(:[0-9]{2})?)?)?Z?") {
            if let Ok(p) = parse_period(&s) {
                prop_assert!(p.start < p.end);
            }
        }

        #[test]
        fn never_panics(s in "\\PC{0,40}") {
            let _ = parse_period(&s);
        }
    }
}

/// The calendar month (UTC) holding `ms`, for monthly quotas: its `YYYY-MM` name and when the next month
/// starts (Unix milliseconds).
#[must_use]
pub fn usage_month(ms: i64) -> (String, i64) {
    use chrono::Datelike;
    let t = from_millis(ms);
    let (y, m) = if t.month() == 12 { (t.year() + 1, 1) } else { (t.year(), t.month() + 1) };
    let next = NaiveDate::from_ymd_opt(y, m, 1)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map_or(i64::MAX, |d| d.and_utc().timestamp_millis());
    (format!("{:04}-{:02}", t.year(), t.month()), next)
}

#[cfg(test)]
mod usage_month_tests {
    use super::*;

    #[test]
    fn months_roll_over_at_utc_midnight_and_across_years() {
        let at = |s: &str| to_millis(DateTime::parse_from_rfc3339(s).expect("time").with_timezone(&Utc));
        assert_eq!(usage_month(at("2026-11-23T15:00:00Z")), ("2026-11".into(), at("2026-12-01T00:00:00Z")));
        assert_eq!(usage_month(at("2026-12-31T23:59:59.999Z")), ("2026-12".into(), at("2027-01-01T00:00:00Z")));
        assert_eq!(usage_month(at("2027-01-01T00:00:00Z")).0, "2027-01");
        assert_eq!(usage_month(at("2028-02-29T12:00:00Z")), ("2028-02".into(), at("2028-03-01T00:00:00Z")));
    }
}
