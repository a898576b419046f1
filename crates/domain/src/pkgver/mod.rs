//! Package version ordering as each Linux distribution's package manager
//! defines it, and OSV's range evaluation on top of it.
//!
//! This module exists because matching an installed package against an OSV
//! advisory's `ECOSYSTEM` ranges is only as good as the version comparison
//! behind it, and every distribution orders versions its own way: `1.0~rc1`
//! is older than `1.0` for dpkg and rpm, `1.0_rc1` is older than `1.0` for
//! apk, `1.0a` is newer than `1.0` but older than `1.0.1` for rpm, `1:0.9` is
//! newer than `2.0` for dpkg. A generic "semver-ish" comparison gets these
//! wrong, and every wrong answer is either a missed vulnerability or a false
//! alarm. So each scheme here is a port of the package manager's own
//! algorithm, pinned by that project's own test tables:
//!
//! - [`dpkg_compare`]: Debian Policy §5.6.12, as `dpkg` implements it
//!   (`lib/dpkg/version.c`);
//! - [`rpm_compare`] and [`rpmvercmp`]: rpm's `rpmvercmp` with tilde and
//!   caret, over `[epoch:]version[-release]` split as `rpm` splits it;
//! - [`apk_compare`]: apk-tools' `src/version.c` (the token grammar with
//!   `_alpha` … `_p` suffixes, `~hash` and `-rN`).
//!
//! [`scheme_for_ecosystem`] maps OSV ecosystem names to a scheme the way
//! osv.dev does; [`in_range`] and [`affected_by_events`] apply the OSV
//! schema's evaluation algorithm (with `introduced: "0"` as "from the
//! beginning" and `limit: "*"` as infinity).
//!
//! Every comparison is total and never panics. Installed-package inventories
//! and advisory feeds are both outside input, and one odd string must not
//! stop a scan, so a malformed version gets a deterministic place in the
//! order (documented on each function) instead of an error. `Equal` means
//! "the same version to that package manager", not "the same string": dpkg
//! has `1.0 == 1.00`, rpm has `2.0 == 2_0`.
//!
//! Each scheme has its own file (`dpkg.rs`, `rpm.rs`, `apk.rs`), pinned by
//! its package manager's test tables, and OSV's range evaluation is
//! `range.rs`; this file maps ecosystems to schemes and dispatches on the
//! scheme. The laws every scheme obeys (a total order that never panics) are
//! tested here, across all three.

mod apk;
mod dpkg;
mod range;
mod rpm;
#[cfg(test)]
mod testing;

use std::cmp::Ordering;

pub use apk::apk_compare;
pub use dpkg::dpkg_compare;
pub use range::{Event, affected_by_events, in_range};
pub use rpm::{rpm_compare, rpmvercmp};

/// A version-ordering scheme: the package manager whose rules decide which of
/// two versions of a package is newer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scheme {
    /// Debian's `dpkg`: `[epoch:]upstream_version[-debian_revision]`.
    /// Used by Debian, Ubuntu and Echo.
    Dpkg,
    /// RPM: `[epoch:]version[-release]`, compared with `rpmvercmp`. Used by
    /// Red Hat, Rocky Linux, AlmaLinux, SUSE, openSUSE, Mageia and openEuler.
    Rpm,
    /// Alpine's apk-tools: `digits{.digits}[letter]{_suffix[N]}[~hash][-rN]`.
    /// Used by Alpine, Wolfi, Chainguard, Alpaquita, MinimOS and BellSoft
    /// Hardened Containers.
    Apk,
}

/// The version scheme of an OSV `affected[].package.ecosystem` string, or
/// `None` when the ecosystem is not a Linux distribution this module orders.
///
/// Only the part before the first `:` is looked at, so release-scoped names
/// such as `Debian:12`, `Ubuntu:22.04:LTS`, `Ubuntu:Pro:18.04:LTS`,
/// `Alpine:v3.19` or `Red Hat:rhel_aus:8.4::appstream` map like their base
/// name. Names are matched exactly (OSV ecosystem names are case-sensitive),
/// and the mapping is osv.dev's own (`osv/ecosystems/_ecosystems.py`).
pub fn scheme_for_ecosystem(osv_ecosystem: &str) -> Option<Scheme> {
    let base = osv_ecosystem.split_once(':').map_or(osv_ecosystem, |(base, _)| base);
    match base {
        "Debian" | "Ubuntu" | "Echo" => Some(Scheme::Dpkg),
        "AlmaLinux" | "Mageia" | "openEuler" | "openSUSE" | "Red Hat" | "Rocky Linux" | "SUSE" => Some(Scheme::Rpm),
        "Alpaquita" | "Alpine" | "BellSoft Hardened Containers" | "Chainguard" | "MinimOS" | "Wolfi" => {
            Some(Scheme::Apk)
        }
        _ => None,
    }
}

/// Compares two versions of the same package under `scheme`.
///
/// `Less` means `a` is older than `b`. See [`dpkg_compare`], [`rpm_compare`]
/// and [`apk_compare`] for each scheme's rules and for how malformed versions
/// are placed.
///
/// ```
/// use std::cmp::Ordering;
/// use tlink_domain::pkgver::{Scheme, compare};
///
/// assert_eq!(compare(Scheme::Dpkg, "1.0~rc1-1", "1.0-1"), Ordering::Less);
/// assert_eq!(compare(Scheme::Rpm, "1:1.0-1.el9", "2.0-1.el9"), Ordering::Greater);
/// assert_eq!(compare(Scheme::Apk, "1.2.3_rc1-r0", "1.2.3-r0"), Ordering::Less);
/// ```
pub fn compare(scheme: Scheme, a: &str, b: &str) -> Ordering {
    match scheme {
        Scheme::Dpkg => dpkg_compare(a, b),
        Scheme::Rpm => rpm_compare(a, b),
        Scheme::Apk => apk_compare(a, b),
    }
}

/// Compares two numbers written in decimal digits, of any length, without
/// converting them (so no overflow): leading zeros are ignored, then the
/// longer number is the larger, then the first differing digit decides.
fn cmp_decimal(a: &[u8], b: &[u8]) -> Ordering {
    let a = strip_leading_zeros(a);
    let b = strip_leading_zeros(b);
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn strip_leading_zeros(digits: &[u8]) -> &[u8] {
    let zeros = digits.iter().take_while(|&&c| c == b'0').count();
    digits.get(zeros..).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkgver::testing::*;
    use proptest::prelude::*;
    use proptest::test_runner::TestCaseError;
    use std::cmp::Ordering::{Equal, Greater, Less};

    #[test]
    fn osv_ecosystems_map_to_their_scheme() {
        for (ecosystem, expected) in [
            ("Debian", Some(Scheme::Dpkg)),
            ("Debian:12", Some(Scheme::Dpkg)),
            ("Debian:sid", Some(Scheme::Dpkg)),
            ("Ubuntu", Some(Scheme::Dpkg)),
            ("Ubuntu:22.04:LTS", Some(Scheme::Dpkg)),
            ("Ubuntu:Pro:18.04:LTS", Some(Scheme::Dpkg)),
            ("Echo", Some(Scheme::Dpkg)),
            ("Alpine", Some(Scheme::Apk)),
            ("Alpine:v3.19", Some(Scheme::Apk)),
            ("Wolfi", Some(Scheme::Apk)),
            ("Chainguard", Some(Scheme::Apk)),
            ("Alpaquita:stream", Some(Scheme::Apk)),
            ("MinimOS", Some(Scheme::Apk)),
            ("BellSoft Hardened Containers:23", Some(Scheme::Apk)),
            ("Red Hat", Some(Scheme::Rpm)),
            ("Red Hat:rhel_aus:8.4::appstream", Some(Scheme::Rpm)),
            ("Rocky Linux", Some(Scheme::Rpm)),
            ("Rocky Linux:9", Some(Scheme::Rpm)),
            ("AlmaLinux", Some(Scheme::Rpm)),
            ("AlmaLinux:8", Some(Scheme::Rpm)),
            ("openSUSE", Some(Scheme::Rpm)),
            ("openSUSE:Tumbleweed", Some(Scheme::Rpm)),
            ("SUSE", Some(Scheme::Rpm)),
            ("SUSE:Linux Enterprise Server 15 SP5", Some(Scheme::Rpm)),
            ("Mageia:9", Some(Scheme::Rpm)),
            ("openEuler:22.03-LTS", Some(Scheme::Rpm)),
            // Not Linux distributions, or not ordered here.
            ("npm", None),
            ("PyPI", None),
            ("crates.io", None),
            ("Go", None),
            ("Linux", None),
            ("Photon OS:3.0", None),
            ("", None),
            (":Debian", None),
            // Names are case-sensitive and exact.
            ("debian", None),
            ("Debian ", None),
            ("RedHat", None),
            ("Alpine Linux", None),
        ] {
            assert_eq!(scheme_for_ecosystem(ecosystem), expected, "{ecosystem:?}");
        }
    }

    /// Transitivity over all orderings of three versions: `x <= y <= z`
    /// implies `x <= z`, strictly if either step is strict.
    fn check_transitive(scheme: Scheme, v: [&str; 3]) -> Result<(), TestCaseError> {
        for [x, y, z] in [[0, 1, 2], [0, 2, 1], [1, 0, 2], [1, 2, 0], [2, 0, 1], [2, 1, 0]] {
            let (x, y, z) = (v[x], v[y], v[z]);
            let (xy, yz) = (compare(scheme, x, y), compare(scheme, y, z));
            if xy != Greater && yz != Greater {
                let xz = compare(scheme, x, z);
                let expected = if xy == Less || yz == Less { Less } else { Equal };
                prop_assert_eq!(xz, expected, "{:?}: {:?} {:?} {:?} {:?} {:?}", scheme, x, xy, y, yz, z);
            }
        }
        Ok(())
    }

    fn check_sorted_pairwise(scheme: Scheme, mut versions: Vec<String>) -> Result<(), TestCaseError> {
        versions.sort_by(|a, b| compare(scheme, a, b));
        for (i, a) in versions.iter().enumerate() {
            for b in versions.get(i + 1..).unwrap_or_default() {
                prop_assert_ne!(compare(scheme, a, b), Greater, "{:?}: {:?} after {:?}", scheme, a, b);
            }
        }
        Ok(())
    }

    /// Junk: every character that means something to some scheme.
    const JUNK: &str = "[0-2ab.~^_:+-]{0,7}";

    proptest! {
        #[test]
        fn reflexive_on_any_string(scheme in scheme(), s in any::<String>()) {
            prop_assert_eq!(compare(scheme, &s, &s), Equal);
        }

        #[test]
        fn reflexive_on_printable_strings(scheme in scheme(), s in "\\PC{0,40}") {
            prop_assert_eq!(compare(scheme, &s, &s), Equal);
            // A copy (another allocation) is equal too.
            prop_assert_eq!(compare(scheme, &s, &s.clone()), Equal);
        }

        #[test]
        fn antisymmetric_and_never_panics_on_any_strings(scheme in scheme(), a in any::<String>(), b in any::<String>()) {
            prop_assert_eq!(compare(scheme, &a, &b), compare(scheme, &b, &a).reverse());
        }

        #[test]
        fn antisymmetric_on_junk(scheme in scheme(), a in JUNK, b in JUNK) {
            prop_assert_eq!(compare(scheme, &a, &b), compare(scheme, &b, &a).reverse());
        }

        #[test]
        fn antisymmetric_on_well_formed(
            (scheme, v) in scheme().prop_flat_map(|scheme| (Just(scheme), versions(scheme, 2)))
        ) {
            prop_assert_eq!(compare(scheme, &v[0], &v[1]), compare(scheme, &v[1], &v[0]).reverse());
        }

        #[test]
        fn transitive_on_well_formed_triples(
            (scheme, v) in scheme().prop_flat_map(|scheme| (Just(scheme), versions(scheme, 3)))
        ) {
            check_transitive(scheme, [&v[0], &v[1], &v[2]])?;
        }

        #[test]
        fn transitive_on_junk_triples(scheme in scheme(), a in JUNK, b in JUNK, c in JUNK) {
            check_transitive(scheme, [&a, &b, &c])?;
        }

        #[test]
        fn sorting_agrees_with_every_pair(
            (scheme, v) in scheme().prop_flat_map(|scheme| {
                (Just(scheme), proptest::collection::vec(well_formed(scheme), 0..16))
            })
        ) {
            check_sorted_pairwise(scheme, v)?;
        }
    }
}
