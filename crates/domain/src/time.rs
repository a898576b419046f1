//! Time bounds and timestamp encoding.
//!
//! List endpoints filter by `from` and `until`. People write those bounds at
//! whatever precision they think in, `2026-01-31` or `2026-01-31T10:30`, and
//! expect "until the 31st" to include the whole of the 31st. Scripts write
//! them the way their language prints a time: Python's
//! `datetime.utcnow().isoformat()` (`2026-01-31T10:00:00.123456`, no offset),
//! `datetime.now(timezone.utc).isoformat()` (`…+00:00`), JavaScript's
//! `toISOString()` (`…T10:00:00.123Z`). This module exists to turn every one
//! of those spellings into one half-open UTC [`Period`], so that `from` takes
//! its start (`createdAt >= start`) and `until` takes its end
//! (`createdAt < end`), with no off-by-one at year, month, day, hour or minute
//! boundaries, and so that both API families read times the same way.
//!
//! It also fixes how instants are stored and rendered: as `i64` milliseconds
//! since the Unix epoch, and as RFC 3339 UTC text with exactly three
//! fractional digits and a `Z`. Conversions clamp rather than panic.

use chrono::{DateTime, NaiveDate, SecondsFormat, TimeDelta, Utc};

const EXPECTED: &str = "expected yyyy, yyyy-mm, yyyy-mm-dd, yyyy-mm-ddThh, yyyy-mm-ddThh:mm or \
     yyyy-mm-ddThh:mm:ss, with optional fractional seconds and an optional offset (Z, +hh:mm, -hh:mm); \
     without an offset the time is UTC";

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

/// Parses an ISO-8601 time, at any precision from a year down to a
/// fraction of a second, into the period it names.
///
/// A value names its whole period:
///
/// - `yyyy`: that year; `yyyy-mm`: that month; `yyyy-mm-dd`: that day
///   (optionally followed by `Z`);
/// - `yyyy-mm-ddThh`: that hour; `yyyy-mm-ddThh:mm`: that minute;
///   `yyyy-mm-ddThh:mm:ss`: that second;
/// - `yyyy-mm-ddThh:mm:ss.f` (1 to 9 digits, `.` or `,`): the single
///   millisecond `[t, t + 1 ms)` holding it, `t` truncated to whole
///   milliseconds.
///
/// A time of day may end in an offset: `Z`, `+hh:mm`, `-hh:mm`, `+hhmm` or
/// `+hh`; without one it is UTC. A space where the offset's sign belongs is
/// read as `+`: it is what an unencoded `+` in a query string decodes to
/// (`until=2026-01-31T10:00:00+02:00` typed into a URL). `T` may be lower case.
///
/// # Errors
///
/// [`TimeError`] if the text has another shape (including a space instead of
/// `T`) or a field is out of range, such as month 13, 29 February in a common
/// year, or an offset of 24 hours.
pub fn parse_period(s: &str) -> Result<Period, TimeError> {
    let s = s.trim();
    let b = s.as_bytes();
    let mut at = Cursor { b, pos: 0 };

    let year = at.digits(4).ok_or(TimeError::Format)?;
    let year = i32::try_from(year).map_err(|_| TimeError::Format)?;
    if at.done() {
        let start = day_start(year, 1, 1)?;
        let end = day_start(year + 1, 1, 1)?;
        return Ok(Period { start, end });
    }
    let month = at.field(b'-').ok_or(TimeError::Format)?;
    if !(1..=12).contains(&month) {
        return Err(out_of_range(format!("month {month:02} is out of range (01-12)")));
    }
    if at.done() {
        let start = day_start(year, month, 1)?;
        let end = if month == 12 { day_start(year + 1, 1, 1)? } else { day_start(year, month + 1, 1)? };
        return Ok(Period { start, end });
    }
    let day = at.field(b'-').ok_or(TimeError::Format)?;
    let last_day = days_in_month(year, month).ok_or(TimeError::Format)?;
    if day < 1 || day > last_day {
        return Err(out_of_range(format!("day {day:02} is out of range for {year:04}-{month:02} (01-{last_day:02})")));
    }
    let date_start = day_start(year, month, day)?;
    match at.peek() {
        None => return shifted(date_start, TimeDelta::days(1), TimeDelta::zero()),
        Some(b'Z' | b'z') if at.pos + 1 == b.len() => {
            return shifted(date_start, TimeDelta::days(1), TimeDelta::zero());
        }
        Some(b' ') if at.b.get(at.pos + 1).is_some_and(u8::is_ascii_digit) => return Err(TimeError::SpaceSeparator),
        Some(b'T' | b't') => at.pos += 1,
        Some(_) => return Err(TimeError::Format),
    }

    let hour = at.digits(2).ok_or(TimeError::Format)?;
    let minute = if at.peek() == Some(b':') { Some(at.field(b':').ok_or(TimeError::Format)?) } else { None };
    let second =
        if minute.is_some() && at.peek() == Some(b':') { Some(at.field(b':').ok_or(TimeError::Format)?) } else { None };
    let nanos = if second.is_some() && matches!(at.peek(), Some(b'.' | b',')) {
        at.pos += 1;
        Some(at.fraction().ok_or(TimeError::Format)?)
    } else {
        None
    };
    let offset = at.offset()?;
    if !at.done() {
        return Err(TimeError::Format);
    }

    if hour > 23 {
        return Err(out_of_range(format!("hour {hour:02} is out of range (00-23)")));
    }
    let (minute_v, second_v) = (minute.unwrap_or(0), second.unwrap_or(0));
    if minute_v > 59 {
        return Err(out_of_range(format!("minute {minute_v:02} is out of range (00-59)")));
    }
    if second_v > 59 {
        return Err(out_of_range(format!("second {second_v:02} is out of range (00-59)")));
    }
    let millis = nanos.map_or(0, |n| n / 1_000_000);
    let local = date_start
        + TimeDelta::hours(i64::from(hour))
        + TimeDelta::minutes(i64::from(minute_v))
        + TimeDelta::seconds(i64::from(second_v))
        + TimeDelta::milliseconds(i64::from(millis));
    let length = match (minute, second, nanos) {
        (_, _, Some(_)) => TimeDelta::milliseconds(1),
        (_, Some(_), None) => TimeDelta::seconds(1),
        (Some(_), None, None) => TimeDelta::minutes(1),
        (None, _, _) => TimeDelta::hours(1),
    };
    shifted(local, length, offset)
}

/// The period of `length` from the local time `start`, written at `offset` east of UTC.
fn shifted(start: DateTime<Utc>, length: TimeDelta, offset: TimeDelta) -> Result<Period, TimeError> {
    let start = start.checked_sub_signed(offset).ok_or(TimeError::Format)?;
    let end = start.checked_add_signed(length).ok_or(TimeError::Format)?;
    Ok(Period { start, end })
}

fn day_start(year: i32, month: u32, day: u32) -> Result<DateTime<Utc>, TimeError> {
    NaiveDate::from_ymd_opt(year, month, day)
        .and_then(|d| d.and_hms_opt(0, 0, 0))
        .map(|t| t.and_utc())
        .ok_or(TimeError::Format)
}

/// A reading position in the text.
struct Cursor<'a> {
    b: &'a [u8],
    pos: usize,
}

impl Cursor<'_> {
    fn done(&self) -> bool {
        self.pos == self.b.len()
    }

    fn peek(&self) -> Option<u8> {
        self.b.get(self.pos).copied()
    }

    /// Exactly `n` ASCII digits, not followed by another digit.
    fn digits(&mut self, n: usize) -> Option<u32> {
        let v = digits(self.b, self.pos, n)?;
        if self.b.get(self.pos + n).is_some_and(u8::is_ascii_digit) {
            return None;
        }
        self.pos += n;
        Some(v)
    }

    /// `sep` and two digits.
    fn field(&mut self, sep: u8) -> Option<u32> {
        if self.peek() != Some(sep) {
            return None;
        }
        self.pos += 1;
        self.digits(2)
    }

    /// 1 to 9 digits of a fraction of a second, as nanoseconds.
    fn fraction(&mut self) -> Option<u32> {
        let n = self.b[self.pos..].iter().take_while(|c| c.is_ascii_digit()).count();
        if !(1..=9).contains(&n) {
            return None;
        }
        let v = digits(self.b, self.pos, n)?;
        self.pos += n;
        Some(v * 10u32.pow(u32::try_from(9 - n).ok()?))
    }

    /// An optional offset east of UTC: `Z`, or a sign (`+`, `-`, or a space standing for an unencoded `+`)
    /// then `hh`, `hhmm` or `hh:mm`.
    fn offset(&mut self) -> Result<TimeDelta, TimeError> {
        let sign = match self.peek() {
            None => return Ok(TimeDelta::zero()),
            Some(b'Z' | b'z') => {
                self.pos += 1;
                return Ok(TimeDelta::zero());
            }
            Some(b'+' | b' ') => 1,
            Some(b'-') => -1,
            Some(_) => return Err(TimeError::Format),
        };
        let begin = self.pos + 1;
        self.pos += 1;
        let hours = digits(self.b, self.pos, 2).ok_or(TimeError::Format)?;
        self.pos += 2;
        let minutes = match self.peek() {
            None => 0,
            Some(b':') => self.field(b':').ok_or(TimeError::Format)?,
            Some(_) => self.digits(2).ok_or(TimeError::Format)?,
        };
        if hours > 23 || minutes > 59 {
            let written = String::from_utf8_lossy(&self.b[begin..self.pos]);
            let sign = if sign < 0 { '-' } else { '+' };
            return Err(out_of_range(format!("offset {sign}{written} is out of range (at most 23:59)")));
        }
        Ok(TimeDelta::minutes(sign * i64::from(hours * 60 + minutes)))
    }
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
    fn a_fraction_is_one_millisecond() {
        let cases = [
            ("2026-01-31T10:00:00.250+02:00", "2026-01-31T08:00:00.250Z", "2026-01-31T08:00:00.251Z"),
            ("2026-01-31T10:00:00.123456789Z", "2026-01-31T10:00:00.123Z", "2026-01-31T10:00:00.124Z"),
            ("2026-01-31T10:00:00.5Z", "2026-01-31T10:00:00.500Z", "2026-01-31T10:00:00.501Z"),
            ("2026-01-31T10:00:00,5Z", "2026-01-31T10:00:00.500Z", "2026-01-31T10:00:00.501Z"),
            ("2026-01-31T10:00:00.123456", "2026-01-31T10:00:00.123Z", "2026-01-31T10:00:00.124Z"),
            ("2026-01-31T10:00:00.000001", "2026-01-31T10:00:00.000Z", "2026-01-31T10:00:00.001Z"),
            ("2026-12-31T23:59:59.999", "2026-12-31T23:59:59.999Z", "2027-01-01T00:00:00.000Z"),
        ];
        for (input, start, end) in cases {
            let p = parse_period(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!(p.start, utc(start), "{input:?} start");
            assert_eq!(p.end, utc(end), "{input:?} end");
        }
    }

    /// What scripts send, verbatim: Python's `datetime.utcnow().isoformat()` (naive, microseconds; no
    /// fraction at all when the microsecond is 0), `datetime.now(timezone.utc).isoformat()`, JavaScript's
    /// `new Date().toISOString()`, Go's `time.RFC3339Nano`, and a Python value with a local offset.
    #[test]
    fn what_clients_write() {
        let cases = [
            ("2026-01-31T10:00:00.123456", "2026-01-31T10:00:00.123Z", "2026-01-31T10:00:00.124Z"),
            ("2026-01-31T10:00:00", "2026-01-31T10:00:00Z", "2026-01-31T10:00:01Z"),
            ("2026-01-31T10:00:00.123456+00:00", "2026-01-31T10:00:00.123Z", "2026-01-31T10:00:00.124Z"),
            ("2026-01-31T10:00:00+00:00", "2026-01-31T10:00:00Z", "2026-01-31T10:00:01Z"),
            ("2026-01-31T10:00:00.123Z", "2026-01-31T10:00:00.123Z", "2026-01-31T10:00:00.124Z"),
            ("2026-01-31T10:00:00.123456789Z", "2026-01-31T10:00:00.123Z", "2026-01-31T10:00:00.124Z"),
            ("2026-01-31T12:00:00.5+02:00", "2026-01-31T10:00:00.500Z", "2026-01-31T10:00:00.501Z"),
            ("2026-01-31T05:00:00.123456-05:00", "2026-01-31T10:00:00.123Z", "2026-01-31T10:00:00.124Z"),
        ];
        for (input, start, end) in cases {
            let p = parse_period(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!((p.start, p.end), (utc(start), utc(end)), "{input:?}");
        }
    }

    #[test]
    fn years_and_months_are_whole_periods() {
        let cases = [
            ("2026", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z"),
            ("2024", "2024-01-01T00:00:00Z", "2025-01-01T00:00:00Z"),
            ("2026-01", "2026-01-01T00:00:00Z", "2026-02-01T00:00:00Z"),
            ("2024-02", "2024-02-01T00:00:00Z", "2024-03-01T00:00:00Z"),
            ("2026-12", "2026-12-01T00:00:00Z", "2027-01-01T00:00:00Z"),
        ];
        for (input, start, end) in cases {
            let p = parse_period(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!((p.start, p.end), (utc(start), utc(end)), "{input:?}");
            assert_eq!(until_bound(input), Ok(utc(end)), "until={input} includes all of it");
        }
        assert_eq!(
            parse_period("2026-13"),
            Err(TimeError::OutOfRange { detail: "month 13 is out of range (01-12)".into() })
        );
    }

    /// An offset moves the whole period; a partial time with an offset keeps its precision.
    #[test]
    fn offsets_on_every_precision() {
        let cases = [
            ("2026-01-31T10+02:00", "2026-01-31T08:00:00Z", "2026-01-31T09:00:00Z"),
            ("2026-01-31T10:30+02:00", "2026-01-31T08:30:00Z", "2026-01-31T08:31:00Z"),
            ("2026-01-31T10:30:15+02:00", "2026-01-31T08:30:15Z", "2026-01-31T08:30:16Z"),
            ("2026-01-31T10:30:15+0200", "2026-01-31T08:30:15Z", "2026-01-31T08:30:16Z"),
            ("2026-01-31T10:30:15+02", "2026-01-31T08:30:15Z", "2026-01-31T08:30:16Z"),
            ("2026-01-31T10:30:15-00:00", "2026-01-31T10:30:15Z", "2026-01-31T10:30:16Z"),
            ("2026-01-31T23:30:00-05:30", "2026-02-01T05:00:00Z", "2026-02-01T05:00:01Z"),
            ("2026-01-01T01:00+05:45", "2025-12-31T19:15:00Z", "2025-12-31T19:16:00Z"),
            // An unencoded `+` in a query string arrives as a space.
            ("2026-01-31T10:00:00 02:00", "2026-01-31T08:00:00Z", "2026-01-31T08:00:01Z"),
            ("2026-01-31T10:00:00.123456 00:00", "2026-01-31T10:00:00.123Z", "2026-01-31T10:00:00.124Z"),
        ];
        for (input, start, end) in cases {
            let p = parse_period(input).unwrap_or_else(|e| panic!("{input:?}: {e}"));
            assert_eq!((p.start, p.end), (utc(start), utc(end)), "{input:?}");
            assert_eq!(from_bound(input), Ok(utc(start)));
            assert_eq!(until_bound(input), Ok(utc(end)));
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
            "202",
            "20260",
            "2026-1",
            "2026-1-31",
            "2026-01-",
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
            "2026-01Z",
            "2026Z",
            "2026-01-31+02:00",
            "2026-01-31T10:00:00+2",
            "2026-01-31T10:00:00+02:0",
            "2026-01-31T10:00:00+02:00Z",
            "2026-01-31T10:00:00Z+02:00",
            "2026-01-31T10:00:00.Z",
            "2026-01-31T10:00:00.1234567891Z",
            "2026-01-31T10:00.5",
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
    fn offsets_out_of_range() {
        for (input, written) in [
            ("2026-01-31T10:00:00+25:00", "+25:00"),
            ("2026-01-31T10:00:00-24", "-24"),
            ("2026-01-31T10:00:00+0260", "+0260"),
        ] {
            let detail = format!("offset {written} is out of range (at most 23:59)");
            assert_eq!(parse_period(input), Err(TimeError::OutOfRange { detail }), "{input:?}");
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
