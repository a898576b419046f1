//! Helpers shared by the tests of the version schemes: table assertions and
//! the generators of well-formed versions for the property tests.

use std::cmp::Ordering;
use std::cmp::Ordering::Less;

use proptest::prelude::*;

use super::{Scheme, compare};

const SCHEMES: [Scheme; 3] = [Scheme::Dpkg, Scheme::Rpm, Scheme::Apk];

pub(super) fn ordering(n: i8) -> Ordering {
    n.cmp(&0)
}

/// Asserts `a <op> b` and, as every table row is also a check of the
/// reverse, `b <reverse op> a`.
pub(super) fn assert_cmp(scheme: Scheme, a: &str, b: &str, expected: Ordering) {
    assert_eq!(compare(scheme, a, b), expected, "{scheme:?}: {a:?} vs {b:?}");
    assert_eq!(compare(scheme, b, a), expected.reverse(), "{scheme:?}: {b:?} vs {a:?}");
}

/// Asserts that `versions` is strictly ascending, pair by pair (not just
/// neighbour by neighbour).
pub(super) fn assert_ascending(scheme: Scheme, versions: &[&str]) {
    for (i, a) in versions.iter().enumerate() {
        for b in versions.get(i + 1..).unwrap_or_default() {
            assert_cmp(scheme, a, b, Less);
        }
    }
}

/// Parses `a b -1|0|1` lines (dpkg's `__DATA__` format).
pub(super) fn parse_triples(data: &str) -> Vec<(&str, &str, Ordering)> {
    data.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            assert_eq!(fields.len(), 3, "bad test line {line:?}");
            (fields[0], fields[1], ordering(fields[2].parse().unwrap()))
        })
        .collect()
}
/// Well-formed Debian versions over a small alphabet, so that equal and
/// near-equal versions are common.
const DPKG_VERSION: &str = "([0-2]:)?[0-2][0-2ab.+~]{0,5}(-[0-2ab.+~]{1,3})?";
/// Well-formed RPM EVRs, with tilde and caret.
const RPM_VERSION: &str = "([0-2]:)?[0-2][0-2ab._~^]{0,5}(-[0-2ab.~^]{1,3})?";
/// Well-formed apk versions, every token kind included.
const APK_VERSION: &str =
    "[0-2]{1,2}(\\.[0-2]{1,2}){0,2}[ab]?(_(alpha|beta|pre|rc|p|git)[0-2]?){0,2}(~[0-9a-f]{1,2})?(-r[0-2])?";

pub(super) fn well_formed(scheme: Scheme) -> &'static str {
    match scheme {
        Scheme::Dpkg => DPKG_VERSION,
        Scheme::Rpm => RPM_VERSION,
        Scheme::Apk => APK_VERSION,
    }
}

pub(super) fn scheme() -> impl Strategy<Value = Scheme> {
    proptest::sample::select(SCHEMES.to_vec())
}

pub(super) fn versions(scheme: Scheme, len: usize) -> BoxedStrategy<Vec<String>> {
    proptest::collection::vec(well_formed(scheme), len).boxed()
}
