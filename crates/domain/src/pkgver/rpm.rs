//! rpm's version ordering (`rpmvercmp`, with tilde and caret) over
//! `[epoch:]version[-release]`, used by Red Hat and its rebuilds, SUSE,
//! Mageia and openEuler.
//!
//! This file exists so that the port of rpm's comparison sits beside rpm's
//! own `rpmvercmp.at` table that pins it.

use std::cmp::Ordering;

use super::cmp_decimal;

/// Compares two RPM `[epoch:]version[-release]` strings as rpm compares EVRs
/// (`rpmverCmp` in rpm's `rpmio/rpmver.c`).
///
/// The string is split as rpm's `parseEVR` splits it: leading digits followed
/// by `:` are the epoch (an empty epoch, `:1.0`, is `0`; no epoch is `0`),
/// the release is everything after the **last** `-`, the version is what is
/// left. Epochs, then versions, compare with [`rpmvercmp`]; then a version
/// with a release is newer than the same version without one, and two
/// releases compare with [`rpmvercmp`].
///
/// The split accepts every string, so there is no malformed input: a string
/// that is not an EVR is simply a version with an unusual shape.
pub fn rpm_compare(a: &str, b: &str) -> Ordering {
    let a = RpmEvr::parse(a);
    let b = RpmEvr::parse(b);
    rpmvercmp(a.epoch, b.epoch).then_with(|| rpmvercmp(a.version, b.version)).then_with(|| {
        match (a.release, b.release) {
            (Some(a), Some(b)) => rpmvercmp(a, b),
            (Some(_), None) => Ordering::Greater,
            (None, Some(_)) => Ordering::Less,
            (None, None) => Ordering::Equal,
        }
    })
}

/// An RPM EVR split as `parseEVR` splits it, with the epoch defaulted to `0`.
#[derive(Debug, PartialEq, Eq)]
struct RpmEvr<'a> {
    epoch: &'a str,
    version: &'a str,
    release: Option<&'a str>,
}

impl<'a> RpmEvr<'a> {
    fn parse(evr: &'a str) -> Self {
        let digits = evr.bytes().take_while(u8::is_ascii_digit).count();
        let (epoch, rest) = match evr.get(digits..).and_then(|tail| tail.strip_prefix(':')) {
            Some(rest) => (evr.get(..digits).filter(|e| !e.is_empty()).unwrap_or("0"), rest),
            None => ("0", evr),
        };
        match rest.rsplit_once('-') {
            Some((version, release)) => Self { epoch, version, release: Some(release) },
            None => Self { epoch, version: rest, release: None },
        }
    }
}

/// rpm's `rpmvercmp`: compares one version or release string (no epoch, no
/// `-` split), exactly as modern rpm does.
///
/// The strings are read as segments: maximal runs of ASCII digits, maximal
/// runs of ASCII letters, and the single characters `~` and `^`; every other
/// character (including any non-ASCII byte) only separates segments and is
/// otherwise ignored, so `2.0 == 2_0`. Segments compare in order:
///
/// - `~` sorts before anything, even the end of the string (`1.0~rc1 < 1.0`);
/// - `^` sorts after the end of the string but before any other segment
///   (`1.0 < 1.0^git1 < 1.0.1`);
/// - a numeric segment is newer than an alphabetic one;
/// - numeric segments compare as numbers of any length (`10.0001 == 10.1`),
///   alphabetic ones in ASCII order (`1.0a < 1.0aa`, `Z < a`);
/// - when one string runs out, the longer one is newer (`2.0 < 2.0.1`).
pub fn rpmvercmp(a: &str, b: &str) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let is_separator = |c: &u8| !c.is_ascii_alphanumeric() && *c != b'~' && *c != b'^';
    let (mut i, mut j) = (0, 0);
    loop {
        i += a.get(i..).unwrap_or_default().iter().take_while(|c| is_separator(c)).count();
        j += b.get(j..).unwrap_or_default().iter().take_while(|c| is_separator(c)).count();
        let (ca, cb) = (a.get(i).copied(), b.get(j).copied());
        if ca.is_none() && cb.is_none() {
            return Ordering::Equal;
        }
        if ca == Some(b'~') || cb == Some(b'~') {
            if ca != Some(b'~') {
                return Ordering::Greater;
            }
            if cb != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if ca == Some(b'^') || cb == Some(b'^') {
            if ca.is_none() {
                return Ordering::Less;
            }
            if cb.is_none() {
                return Ordering::Greater;
            }
            if ca != Some(b'^') {
                return Ordering::Greater;
            }
            if cb != Some(b'^') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        // Whichever string has a segment left is newer.
        let Some(ca) = ca else { return Ordering::Less };
        if cb.is_none() {
            return Ordering::Greater;
        }
        // The segment type is the one `a` starts with; `b` is cut the same way.
        let numeric = ca.is_ascii_digit();
        let in_segment = |c: &u8| if numeric { c.is_ascii_digit() } else { c.is_ascii_alphabetic() };
        let seg_a = run(a, i, in_segment);
        let seg_b = run(b, j, in_segment);
        if seg_b.is_empty() {
            // Different types: numeric segments are newer than alphabetic ones.
            return if numeric { Ordering::Greater } else { Ordering::Less };
        }
        let ord = if numeric { cmp_decimal(seg_a, seg_b) } else { seg_a.cmp(seg_b) };
        if ord != Ordering::Equal {
            return ord;
        }
        i += seg_a.len();
        j += seg_b.len();
    }
}

/// The longest run of bytes from `start` that satisfy `pred`.
fn run(s: &[u8], start: usize, pred: impl Fn(&u8) -> bool) -> &[u8] {
    let tail = s.get(start..).unwrap_or_default();
    let len = tail.iter().take_while(|c| pred(c)).count();
    tail.get(..len).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkgver::Scheme;
    use crate::pkgver::testing::*;
    use std::cmp::Ordering::{Equal, Greater, Less};

    /// rpm's `tests/rpmvercmp.at`: every `RPMVERCMP(a, b, expected)` row,
    /// including the tilde and caret blocks.
    const RPMVERCMP_AT: &[(&str, &str, i8)] = &[
        ("1.0", "1.0", 0),
        ("1.0", "2.0", -1),
        ("2.0", "1.0", 1),
        ("2.0.1", "2.0.1", 0),
        ("2.0", "2.0.1", -1),
        ("2.0.1", "2.0", 1),
        ("2.0.1a", "2.0.1a", 0),
        ("2.0.1a", "2.0.1", 1),
        ("2.0.1", "2.0.1a", -1),
        ("5.5p1", "5.5p1", 0),
        ("5.5p1", "5.5p2", -1),
        ("5.5p2", "5.5p1", 1),
        ("5.5p10", "5.5p10", 0),
        ("5.5p1", "5.5p10", -1),
        ("5.5p10", "5.5p1", 1),
        ("10xyz", "10.1xyz", -1),
        ("10.1xyz", "10xyz", 1),
        ("xyz10", "xyz10", 0),
        ("xyz10", "xyz10.1", -1),
        ("xyz10.1", "xyz10", 1),
        ("xyz.4", "xyz.4", 0),
        ("xyz.4", "8", -1),
        ("8", "xyz.4", 1),
        ("xyz.4", "2", -1),
        ("2", "xyz.4", 1),
        ("5.5p2", "5.6p1", -1),
        ("5.6p1", "5.5p2", 1),
        ("5.6p1", "6.5p1", -1),
        ("6.5p1", "5.6p1", 1),
        ("6.0.rc1", "6.0", 1),
        ("6.0", "6.0.rc1", -1),
        ("10b2", "10a1", 1),
        ("10a2", "10b2", -1),
        ("1.0aa", "1.0aa", 0),
        ("1.0a", "1.0aa", -1),
        ("1.0aa", "1.0a", 1),
        ("10.0001", "10.0001", 0),
        ("10.0001", "10.1", 0),
        ("10.1", "10.0001", 0),
        ("10.0001", "10.0039", -1),
        ("10.0039", "10.0001", 1),
        ("4.999.9", "5.0", -1),
        ("5.0", "4.999.9", 1),
        ("20101121", "20101121", 0),
        ("20101121", "20101122", -1),
        ("20101122", "20101121", 1),
        ("2_0", "2_0", 0),
        ("2.0", "2_0", 0),
        ("2_0", "2.0", 0),
        // RhBug:178798
        ("a", "a", 0),
        ("a+", "a+", 0),
        ("a+", "a_", 0),
        ("a_", "a+", 0),
        ("+a", "+a", 0),
        ("+a", "_a", 0),
        ("_a", "+a", 0),
        ("+_", "+_", 0),
        ("_+", "+_", 0),
        ("_+", "_+", 0),
        ("+", "_", 0),
        ("_", "+", 0),
        // Tilde.
        ("1.0~rc1", "1.0~rc1", 0),
        ("1.0~rc1", "1.0", -1),
        ("1.0", "1.0~rc1", 1),
        ("1.0~rc1", "1.0~rc2", -1),
        ("1.0~rc2", "1.0~rc1", 1),
        ("1.0~rc1~git123", "1.0~rc1~git123", 0),
        ("1.0~rc1~git123", "1.0~rc1", -1),
        ("1.0~rc1", "1.0~rc1~git123", 1),
        // Caret.
        ("1.0^", "1.0^", 0),
        ("1.0^", "1.0", 1),
        ("1.0", "1.0^", -1),
        ("1.0^git1", "1.0^git1", 0),
        ("1.0^git1", "1.0", 1),
        ("1.0", "1.0^git1", -1),
        ("1.0^git1", "1.0^git2", -1),
        ("1.0^git2", "1.0^git1", 1),
        ("1.0^git1", "1.01", -1),
        ("1.01", "1.0^git1", 1),
        ("1.0^20160101", "1.0^20160101", 0),
        ("1.0^20160101", "1.0.1", -1),
        ("1.0.1", "1.0^20160101", 1),
        ("1.0^20160101^git1", "1.0^20160101^git1", 0),
        ("1.0^20160102", "1.0^20160101^git1", 1),
        ("1.0^20160101^git1", "1.0^20160102", -1),
        // Tilde and caret.
        ("1.0~rc1^git1", "1.0~rc1^git1", 0),
        ("1.0~rc1^git1", "1.0~rc1", 1),
        ("1.0~rc1", "1.0~rc1^git1", -1),
        ("1.0^git1~pre", "1.0^git1~pre", 0),
        ("1.0^git1", "1.0^git1~pre", 1),
        ("1.0^git1~pre", "1.0^git1", -1),
    ];

    /// The "oddities" rpmvercmp.at documents (commented out there, with these
    /// expected values) as current behaviour: RhBug:811992, and non-ASCII
    /// characters being mere separators.
    const RPMVERCMP_AT_ODDITIES: &[(&str, &str, i8)] = &[
        ("1b.fc17", "1b.fc17", 0),
        ("1b.fc17", "1.fc17", -1),
        ("1.fc17", "1b.fc17", 1),
        ("1g.fc17", "1g.fc17", 0),
        ("1g.fc17", "1.fc17", 1),
        ("1.fc17", "1g.fc17", -1),
        ("1.1.α", "1.1.α", 0),
        ("1.1.α", "1.1.β", 0),
        ("1.1.β", "1.1.α", 0),
        ("1.1.αα", "1.1.α", 0),
        ("1.1.α", "1.1.ββ", 0),
        ("1.1.ββ", "1.1.αα", 0),
    ];

    #[test]
    fn rpmvercmp_matches_rpms_test_table() {
        assert_eq!(RPMVERCMP_AT.len(), 91);
        for &(a, b, expected) in RPMVERCMP_AT.iter().chain(RPMVERCMP_AT_ODDITIES) {
            assert_eq!(rpmvercmp(a, b), ordering(expected), "rpmvercmp({a:?}, {b:?})");
            // None of these has an epoch or a release, so the EVR comparison agrees.
            assert_eq!(rpm_compare(a, b), ordering(expected), "rpm_compare({a:?}, {b:?})");
        }
    }

    #[test]
    fn rpm_evr_split_follows_parse_evr() {
        for (evr, epoch, version, release) in [
            ("1.0", "0", "1.0", None),
            ("1.0-1", "0", "1.0", Some("1")),
            ("2:1.0-1.el9", "2", "1.0", Some("1.el9")),
            (":1.0", "0", "1.0", None),
            ("1:", "1", "", None),
            ("1.0-1-2", "0", "1.0-1", Some("2")),
            ("1.0-", "0", "1.0", Some("")),
            ("a:1.0", "0", "a:1.0", None),
            ("12a:1-2", "0", "12a:1", Some("2")),
            ("", "0", "", None),
        ] {
            assert_eq!(RpmEvr::parse(evr), RpmEvr { epoch, version, release }, "{evr:?}");
        }
    }

    #[test]
    fn rpm_evr_ordering() {
        for (a, b, expected) in [
            // Epoch first, numerically; absent epoch is 0.
            ("1:1.0-1", "2.0-1", Greater),
            ("0:1.0-1", "1.0-1", Equal),
            ("01:1.0", "1:1.0", Equal),
            (":1.0", "0:1.0", Equal),
            // A release makes the version newer than the bare version.
            ("1.0", "1.0-1", Less),
            ("1.0-", "1.0", Greater),
            ("1.0-1.el9", "1.0-1.el9_2", Less),
            // osv.dev's redhat_test.py (Red Hat, AlmaLinux, Mageia, openEuler, openSUSE, SUSE).
            ("0:0.2.6-20.module+el8.9.0+1420+91577025", "0:0.0.99.4-5.module+el8.9.0+1445+07728297", Greater),
            ("2:1.14.3-2.module+el8.10.0+1815+5fe7415e", "2:1.10.3-1.module+el8.10.0+1815+5fe7415e", Greater),
            ("0.string", "0.0", Less),
            ("9.27-15.el8_10", "9.27-13.el8_10", Greater),
            ("3:2.1.10-1.module_el8.10.0+3858+6ad51f9f", "3:2.1.10-1.module_el8.10.0+3845+87b84552", Greater),
            ("20230404-117.git2e92a49f.el8_8.alma.1", "20240111-121.gitb3132c18.el8", Less),
            ("20240111-121.gitb3132c18.el8", "20240111-121.gitb3132c18.el8", Equal),
            ("3.2.7-1.2.mga9", "3.2.7-1.mga9", Greater),
            ("1:1.8.11-1.mga9", "0:1.9.1-2.mga9", Greater),
            ("1.2.3-1.oe2203", "1.2.2-1.oe2203", Greater),
            ("1.2.3-2.oe2203", "1.2.3-1.oe2203", Greater),
            ("1.2.2-1.oe2203", "1.2.3-1.oe2203", Less),
            ("1.10.2-1.oe2203", "1.2.2-1.oe2203", Greater),
            ("4.2-lp151.4.3.1", "1.5.1-lp151.4.3.1", Greater),
            ("6.2.8-bp156.2.3.1", "6.2.8-bp156", Greater),
            ("0.4.6-15.8", "1.4.6-15.8", Less),
            ("2.38.5-150400.4.34.2", "2.37.5-150400.4.34.2", Greater),
            ("2.0.8_k4.12.14_10.118-4.8.2", "2.0.8-4.8.2", Greater),
            ("1.86-150100.7.23.11", "2.86-150100.7.23.1", Less),
        ] {
            assert_cmp(Scheme::Rpm, a, b, expected);
        }
        assert_ascending(
            Scheme::Rpm,
            &[
                "1.0~rc1-1.el9",
                "1.0-1.el9",
                "1.0-1.el9_1",
                "1.0-2.el9",
                "1.0^20240101git-1.el9",
                "1.0.1-1.el9",
                "1:0.1-1",
            ],
        );
    }
}
