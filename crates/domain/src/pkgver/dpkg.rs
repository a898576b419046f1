//! dpkg's version ordering (Debian Policy §5.6.12), used by Debian, Ubuntu
//! and Echo.
//!
//! This file exists so that the port of `dpkg`'s `verrevcmp` sits beside the
//! test tables of dpkg itself that pin it.

use std::cmp::Ordering;

use super::cmp_decimal;

/// Compares two Debian package versions as `dpkg --compare-versions` does
/// (Debian Policy §5.6.12, `deb-version(5)`).
///
/// A version is `[epoch:]upstream_version[-debian_revision]`, after leading
/// and trailing ASCII whitespace is removed:
///
/// - the epoch is the run of digits before the first `:` and defaults to 0;
///   epochs compare numerically, first;
/// - the revision is everything after the **last** `-` (so the upstream
///   version may contain hyphens and colons); a missing revision equals `0`;
/// - upstream versions, then revisions, compare by alternating non-digit and
///   digit parts: non-digit parts character by character, where `~` sorts
///   before everything (even the end of the part), then the end of the part,
///   then letters, then all other characters, in ASCII order within each
///   class; digit parts numerically (`1.09` equals `1.9`).
///
/// So `~~ < ~~a < ~ < (empty) < a`, `1.0~rc1 < 1.0`, `1:0.9 > 2.0`,
/// `1.0-1 < 1.0-1ubuntu1 < 1.0-1+deb12u1`.
///
/// Malformed input never panics and always lands in the same place:
///
/// - when the text before the first `:` is not a non-empty run of ASCII
///   digits (`a:1.0`, `:1.0`, `-1:0-1`), the version has no epoch (epoch 0)
///   and the colon stays part of the upstream version, where it compares as
///   an ordinary non-letter; dpkg itself rejects such strings, and keeping
///   the text (rather than guessing an epoch) keeps distinct garbage distinct;
/// - epochs of any length compare numerically (dpkg rejects epochs above
///   `INT_MAX`);
/// - bytes outside ASCII sort after every ASCII non-letter, by byte value.
pub fn dpkg_compare(a: &str, b: &str) -> Ordering {
    let a = DpkgVersion::parse(a);
    let b = DpkgVersion::parse(b);
    cmp_decimal(a.epoch, b.epoch)
        .then_with(|| verrevcmp(a.upstream, b.upstream))
        .then_with(|| verrevcmp(a.revision, b.revision))
}

/// A Debian version split into its three parts; an absent epoch is empty
/// (which [`cmp_decimal`] reads as 0) and so is an absent revision.
#[derive(Debug, PartialEq, Eq)]
struct DpkgVersion<'a> {
    epoch: &'a [u8],
    upstream: &'a [u8],
    revision: &'a [u8],
}

impl<'a> DpkgVersion<'a> {
    fn parse(version: &'a str) -> Self {
        let version = version.trim_ascii();
        let (epoch, rest) = match version.split_once(':') {
            Some((epoch, rest)) if !epoch.is_empty() && epoch.bytes().all(|c| c.is_ascii_digit()) => (epoch, rest),
            _ => ("", version),
        };
        let (upstream, revision) = rest.rsplit_once('-').unwrap_or((rest, ""));
        Self { epoch: epoch.as_bytes(), upstream: upstream.as_bytes(), revision: revision.as_bytes() }
    }
}

/// dpkg's weight of a character in a non-digit part; `None` is the end of
/// the string, which weighs the same as a digit (the start of the next part).
fn dpkg_order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(b'~') => -1,
        Some(c) => i32::from(c) + 256,
    }
}

/// dpkg's `verrevcmp`: compares an upstream version or a revision.
fn verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
    let is_digit = |c: Option<&u8>| c.is_some_and(u8::is_ascii_digit);
    let is_non_digit = |c: Option<&u8>| c.is_some_and(|c| !c.is_ascii_digit());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        // The non-digit part. It cannot step past the end of either string:
        // the end weighs 0 and the other side is then a non-digit, whose
        // weight is never 0, so the loop returns first.
        while is_non_digit(a.get(i)) || is_non_digit(b.get(j)) {
            let (ac, bc) = (dpkg_order(a.get(i).copied()), dpkg_order(b.get(j).copied()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        // The digit part, compared numerically without converting it.
        while a.get(i) == Some(&b'0') {
            i += 1;
        }
        while b.get(j) == Some(&b'0') {
            j += 1;
        }
        let mut first_diff = Ordering::Equal;
        while let (Some(ac), Some(bc)) =
            (a.get(i).filter(|c| c.is_ascii_digit()), b.get(j).filter(|c| c.is_ascii_digit()))
        {
            if first_diff == Ordering::Equal {
                first_diff = ac.cmp(bc);
            }
            i += 1;
            j += 1;
        }
        if is_digit(a.get(i)) {
            return Ordering::Greater;
        }
        if is_digit(b.get(j)) {
            return Ordering::Less;
        }
        if first_diff != Ordering::Equal {
            return first_diff;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkgver::Scheme;
    use crate::pkgver::testing::*;
    use std::cmp::Ordering::{Equal, Greater, Less};

    /// dpkg's `scripts/t/Dpkg_Version.t` `__DATA__` table (also run through
    /// `dpkg --compare-versions` by that test).
    const DPKG_VERSION_T: &str = "
        1.0-1 2.0-2 -1
        2.2~rc-4 2.2-1 -1
        2.2-1 2.2~rc-4 1
        1.0000-1 1.0-1 0
        1 0:1 0
        0 0:0-0 0
        2:2.5 1:7.5 1
        1:0foo 0foo 1
        0:0foo 0foo 0
        0foo 0foo 0
        0foo- 0foo 0
        0foo- 0foo-0 0
        0foo 0fo 1
        0foo- 0foo+ -1
        0foo~1 0foo -1
        0foo~foo+Bar 0foo~foo+bar -1
        0foo~~ 0foo~ -1
        1~ 1 -1
        12345+that-really-is-some-ver-0 12345+that-really-is-some-ver-10 -1
        0foo-0 0foo-01 -1
        0foo.bar 0foobar 1
        0foo.bar 0foo1bar 1
        0foo.bar 0foo0bar 1
        0foo1bar-1 0foobar-1 -1
        0foo2.0 0foo2 1
        0foo2.0.0 0foo2.10.0 -1
        0foo2.0 0foo2.0.0 -1
        0foo2.0 0foo2.10 -1
        0foo2.1 0foo2.10 -1
        1.09 1.9 0
        1.0.8+nmu1 1.0.8 1
        3.11 3.10+nmu1 1
        0.9j-20080306-4 0.9i-20070324-2 1
        1.2.0~b7-1 1.2.0~b6-1 1
        1.011-1 1.06-2 1
        0.0.9+dfsg1-1 0.0.8+dfsg1-3 1
        4.6.99+svn6582-1 4.6.99+svn6496-1 1
        53 52 1
        0.9.9~pre122-1 0.9.9~pre111-1 1
        2:2.3.2-2+lenny2 2:2.3.2-2 1
        1:3.8.1-1 3.8.GA-1 1
        1.0.1+gpl-1 1.0.1-2 1
        1a 1000a -1
        -0.6.5 0.9.1 -1
    ";

    /// The rows of dpkg's older `scripts/t/100_Dpkg_Version.t` whose versions
    /// do not start with a digit (the newer table prefixes them with `0`).
    const DPKG_100_VERSION_T: &str = "
        1:foo foo 1
        0:foo foo 0
        foo foo 0
        foo- foo 0
        foo- foo-0 0
        foo fo 1
        foo- foo+ -1
        foo~1 foo -1
        foo~foo+Bar foo~foo+bar -1
        foo~~ foo~ -1
        foo-0 foo-01 -1
        foo.bar foobar 1
        foo.bar foo1bar 1
        foo.bar foo0bar 1
        1foo-1 foo-1 -1
        foo2.0 foo2 1
        foo2.0.0 foo2.10.0 -1
        foo2.0 foo2.0.0 -1
        foo2.0 foo2.10 -1
        foo2.1 foo2.10 -1
    ";

    #[test]
    fn dpkg_test_suite_tables() {
        let rows: Vec<_> = parse_triples(DPKG_VERSION_T).into_iter().chain(parse_triples(DPKG_100_VERSION_T)).collect();
        assert_eq!(rows.len(), 44 + 20);
        for (a, b, expected) in rows {
            assert_cmp(Scheme::Dpkg, a, b, expected);
        }
    }

    #[test]
    fn dpkg_policy_tilde_ordering() {
        // Debian Policy §5.6.12: "~~, ~~a, ~, the empty part, a".
        assert_ascending(Scheme::Dpkg, &["1~~", "1~~a", "1~", "1", "1a"]);
        assert_ascending(Scheme::Dpkg, &["1.0~~", "1.0~~a", "1.0~", "1.0", "1.0a"]);
        assert_cmp(Scheme::Dpkg, "1.0~rc1", "1.0", Less);
        assert_cmp(Scheme::Dpkg, "1.0~rc1-1", "1.0-1", Less);
        // "The absence of a debian_revision is equivalent to a debian_revision of 0."
        assert_cmp(Scheme::Dpkg, "1.0", "1.0-0", Equal);
    }

    #[test]
    fn dpkg_distribution_examples() {
        for (a, b, expected) in [
            ("1:0.9", "2.0", Greater),
            ("1.0-1", "1.0-1ubuntu1", Less),
            ("2.30-1", "2.30-1+deb12u1", Less),
            ("7.6p2-4", "7.6-0", Greater),
            ("1.2.3-1", "1.2.10-1", Less),
            ("1.0-1~bpo11+1", "1.0-1", Less),
            ("1.0+dfsg-1", "1.0-1", Greater),
            // osv.dev's ubuntu_test.py.
            ("2.42.8+dfsg-1ubuntu0.3", "2.40.0+dfsg-3ubuntu0.5", Greater),
            ("2.42.8+dfsg-1ubuntu0.3", "2.42.8+dfsg-1ubuntu0.2", Greater),
            ("5.4.13-1", "3.2.30-1", Greater),
            // dpkg's lib/dpkg/t/t-version.c compare cases, as strings.
            ("0-00", "00-0", Equal),
            ("1:2-3", "1:2-3", Equal),
            ("0-0", "1:0-0", Less),
            ("a-0", "b-0", Less),
            ("0-a", "0-b", Less),
        ] {
            assert_cmp(Scheme::Dpkg, a, b, expected);
        }
        assert_ascending(
            Scheme::Dpkg,
            &["2.36-9", "2.36-9+deb12u1", "2.36-9+deb12u10", "2.36-10", "1:2.35-1", "1:2.36~rc1-1", "1:2.36-1"],
        );
    }

    fn assert_dpkg_parts(version: &str, (epoch, upstream, revision): (&str, &str, &str)) {
        let expected =
            DpkgVersion { epoch: epoch.as_bytes(), upstream: upstream.as_bytes(), revision: revision.as_bytes() };
        assert_eq!(DpkgVersion::parse(version), expected, "{version:?}");
    }

    #[test]
    fn dpkg_parsing_follows_dpkg() {
        // The splits of dpkg's lib/dpkg/t/t-version.c parse tests.
        for (version, expected) in [
            ("0", ("", "0", "")),
            ("0:0", ("0", "0", "")),
            ("0:0-", ("0", "0", "")),
            ("0:0-0", ("0", "0", "0")),
            ("0:0.0-0.0", ("0", "0.0", "0.0")),
            ("1:0", ("1", "0", "")),
            ("5:1", ("5", "1", "")),
            ("0:0-0-0", ("0", "0-0", "0")),
            ("0:0-0-0-0", ("0", "0-0-0", "0")),
            ("0:0:0-0", ("0", "0:0", "0")),
            ("0:0:0:0-0", ("0", "0:0:0", "0")),
            ("0:0:0-0-0", ("0", "0:0-0", "0")),
            ("0:0-0:0-0", ("0", "0-0:0", "0")),
            ("0:09azAZ.-+~:-0", ("0", "09azAZ.-+~:", "0")),
            ("0:0-azAZ09.+~", ("0", "0", "azAZ09.+~")),
            ("  \t0:0-1", ("0", "0", "1")),
            ("0:0-1\t  ", ("0", "0", "1")),
            ("\t  0:0-1  \t", ("0", "0", "1")),
        ] {
            assert_dpkg_parts(version, expected);
        }
        assert_cmp(Scheme::Dpkg, "  \t0:0-1", "0-1", Equal);
    }

    #[test]
    fn dpkg_malformed_versions_have_a_documented_place() {
        // An epoch that is not a run of digits is no epoch: the colon stays
        // in the upstream version.
        for (version, expected) in [
            ("a:1.0", ("", "a:1.0", "")),
            (":1.0", ("", ":1.0", "")),
            ("-1:0-1", ("", "-1:0", "1")),
            ("10a:5.2", ("", "10a:5.2", "")),
            ("", ("", "", "")),
        ] {
            assert_dpkg_parts(version, expected);
        }
        // `:` is an ordinary non-letter there: after letters, after the end.
        assert_cmp(Scheme::Dpkg, ":1.0", "1.0", Greater);
        assert_cmp(Scheme::Dpkg, "a:1.0", "b:1.0", Less);
        assert_cmp(Scheme::Dpkg, "a:1.0", "1.0", Greater);
        assert_cmp(Scheme::Dpkg, "a:1.0", "1:0", Less);
        // Epochs of any size compare numerically.
        assert_ascending(Scheme::Dpkg, &["1:1", "2:0", "9223372036854775808:0", "99999999999999999999999:0"]);
        assert_cmp(Scheme::Dpkg, "00001:1", "1:1", Equal);
        // The empty version is version 0: newer only than `~` ones.
        assert_ascending(Scheme::Dpkg, &["~", "0~", "", "0.1", "a"]);
        assert_cmp(Scheme::Dpkg, "", "0", Equal);
        // Non-ASCII sorts after ASCII non-letters and never panics.
        assert_cmp(Scheme::Dpkg, "1.0é", "1.0+", Greater);
        assert_cmp(Scheme::Dpkg, "1.0é", "1.0é", Equal);
    }
}
