//! OSV's range evaluation on top of the version schemes: the events of an
//! `ECOSYSTEM` range (`introduced`, `fixed`, `last_affected`, `limit`) and
//! whether a version is affected by them.
//!
//! This file exists because the OSV schema's evaluation algorithm is one
//! thing whatever the scheme; the schemes only supply the ordering.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use super::{Scheme, compare};

/// One event of an OSV `affected[].ranges[].events` list.
///
/// It (de)serializes exactly as OSV writes events: `{"introduced": "1.0-1"}`,
/// `{"fixed": …}`, `{"last_affected": …}`, `{"limit": …}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Event {
    /// Versions from this one on are affected; `"0"` means from the very
    /// first version (it sorts before every version, whatever the scheme).
    Introduced(String),
    /// Versions from this one on are no longer affected.
    Fixed(String),
    /// This version is the last affected one; later versions are not.
    LastAffected(String),
    /// Only versions below this one are in the range at all; a value
    /// containing `*` means no limit.
    Limit(String),
}

impl Event {
    /// The version the event is about.
    pub fn version(&self) -> &str {
        match self {
            Self::Introduced(v) | Self::Fixed(v) | Self::LastAffected(v) | Self::Limit(v) => v,
        }
    }

    fn is_introduced_zero(&self) -> bool {
        matches!(self, Self::Introduced(v) if v == OSV_ZERO)
    }
}

/// OSV's `introduced` value for "before every version".
const OSV_ZERO: &str = "0";

/// Whether `version` lies in one OSV `ECOSYSTEM` range given as a single
/// introduced/fixed (or introduced/last_affected) pair.
///
/// `version` is affected when it is at or after `introduced` (`"0"` or
/// `None`: from the beginning) and before the upper bound: below `fixed`, at
/// or below `last_affected`, or anywhere when neither is given. OSV forbids
/// `fixed` and `last_affected` in one range; if both are given anyway, the
/// version must be below both bounds, which is what [`affected_by_events`]
/// yields for such a list. A pair whose `introduced` is not below its upper
/// bound affects nothing.
pub fn in_range(
    scheme: Scheme,
    version: &str,
    introduced: Option<&str>,
    fixed: Option<&str>,
    last_affected: Option<&str>,
) -> bool {
    let from_start = match introduced {
        None => true,
        Some(introduced) => introduced == OSV_ZERO || compare(scheme, version, introduced) != Ordering::Less,
    };
    from_start
        && fixed.is_none_or(|fixed| compare(scheme, version, fixed) == Ordering::Less)
        && last_affected.is_none_or(|last| compare(scheme, version, last) != Ordering::Greater)
}

/// Whether `version` is affected according to one OSV range's `events` list,
/// following the OSV schema's evaluation algorithm (`IncludedInRanges` and
/// `BeforeLimits`).
///
/// - If there are `limit` events, `version` must be below at least one of
///   them (a limit containing `*` is infinite); no limit means no limit.
/// - The other events are sorted by version under `scheme` (`introduced:
///   "0"` first; events with equal versions keep their listed order) and
///   walked in that order: an `introduced` at or below `version` makes it
///   affected, a `fixed` at or below it makes it unaffected, a
///   `last_affected` strictly below it makes it unaffected.
///
/// So several introduced/fixed pairs describe several affected intervals,
/// in any listed order. An empty list affects nothing.
///
/// ```
/// use tlink_domain::pkgver::{Event, Scheme, affected_by_events};
///
/// let events = [
///     Event::Introduced("0".into()),
///     Event::Fixed("2.36-9+deb12u4".into()),
/// ];
/// assert!(affected_by_events(Scheme::Dpkg, "2.36-9+deb12u3", &events));
/// assert!(!affected_by_events(Scheme::Dpkg, "2.36-9+deb12u4", &events));
/// ```
pub fn affected_by_events(scheme: Scheme, version: &str, events: &[Event]) -> bool {
    let mut limits = events
        .iter()
        .filter_map(|event| match event {
            Event::Limit(limit) => Some(limit.as_str()),
            _ => None,
        })
        .peekable();
    if limits.peek().is_some()
        && !limits.any(|limit| limit.contains('*') || compare(scheme, version, limit) == Ordering::Less)
    {
        return false;
    }

    let mut affected = false;
    for event in sort_events(scheme, events) {
        match event {
            Event::Introduced(introduced) => {
                if introduced == OSV_ZERO || compare(scheme, version, introduced) != Ordering::Less {
                    affected = true;
                }
            }
            Event::Fixed(fixed) => {
                if compare(scheme, version, fixed) != Ordering::Less {
                    affected = false;
                }
            }
            Event::LastAffected(last) => {
                if compare(scheme, version, last) == Ordering::Greater {
                    affected = false;
                }
            }
            Event::Limit(_) => {}
        }
    }
    affected
}

/// The non-limit events in version order, stable for equal versions.
///
/// A plain insertion sort: event lists are short, and unlike the standard
/// library's sorts it cannot panic whatever the comparison does.
fn sort_events(scheme: Scheme, events: &[Event]) -> Vec<&Event> {
    let mut sorted: Vec<&Event> = Vec::with_capacity(events.len());
    for event in events.iter().filter(|event| !matches!(event, Event::Limit(_))) {
        let at = sorted
            .iter()
            .rposition(|placed| event_cmp(scheme, placed, event) != Ordering::Greater)
            .map_or(0, |before| before + 1);
        sorted.insert(at, event);
    }
    sorted
}

fn event_cmp(scheme: Scheme, a: &Event, b: &Event) -> Ordering {
    match (a.is_introduced_zero(), b.is_introduced_zero()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        (false, true) => Ordering::Greater,
        (false, false) => compare(scheme, a.version(), b.version()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pkgver::testing::*;
    use proptest::prelude::*;
    use std::cmp::Ordering::Less;

    fn events(json: &str) -> Vec<Event> {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn events_deserialize_from_osv_json() {
        let parsed = events(
            r#"[{"introduced": "0"}, {"fixed": "1.2-3"}, {"introduced": "2.0"},
                {"last_affected": "2.5"}, {"limit": "*"}]"#,
        );
        assert_eq!(
            parsed,
            vec![
                Event::Introduced("0".into()),
                Event::Fixed("1.2-3".into()),
                Event::Introduced("2.0".into()),
                Event::LastAffected("2.5".into()),
                Event::Limit("*".into()),
            ]
        );
        assert_eq!(serde_json::to_string(&parsed[3]).unwrap(), r#"{"last_affected":"2.5"}"#);
        assert_eq!(parsed[1].version(), "1.2-3");
        assert!(serde_json::from_str::<Event>(r#"{"introduced": "1", "fixed": "2"}"#).is_err());
        assert!(serde_json::from_str::<Event>(r#"{"unknown": "1"}"#).is_err());
    }

    #[test]
    fn in_range_follows_osv_pair_semantics() {
        let dpkg = Scheme::Dpkg;
        // introduced "0" is before every version, even ones below "0".
        assert_eq!(compare(dpkg, "0~", "0"), Less);
        assert!(in_range(dpkg, "0~", Some("0"), Some("1.0-2"), None));
        assert!(in_range(dpkg, "1.0-1", Some("0"), Some("1.0-2"), None));
        assert!(!in_range(dpkg, "1.0-2", Some("0"), Some("1.0-2"), None));
        assert!(!in_range(dpkg, "1:0.1-1", Some("0"), Some("1.0-2"), None));
        // No lower bound is the same as "0".
        assert!(in_range(dpkg, "0~", None, Some("1.0-2"), None));
        // introduced is inclusive, fixed exclusive, last_affected inclusive.
        assert!(!in_range(dpkg, "1.4-9", Some("1.5-1"), None, Some("1.5-3")));
        assert!(in_range(dpkg, "1.5-1", Some("1.5-1"), None, Some("1.5-3")));
        assert!(in_range(dpkg, "1.5-3", Some("1.5-1"), None, Some("1.5-3")));
        assert!(!in_range(dpkg, "1.5-3+deb12u1", Some("1.5-1"), None, Some("1.5-3")));
        // No upper bound: everything from introduced on.
        assert!(in_range(dpkg, "99:9", Some("1.5-1"), None, None));
        assert!(in_range(dpkg, "anything", None, None, None));
        // Equality is the scheme's: 1.5-01 is 1.5-1.
        assert!(in_range(dpkg, "1.5-01", Some("1.5-1"), Some("1.5-2"), None));
        // Both bounds (invalid OSV): below both.
        assert!(in_range(dpkg, "1.1", Some("1.0"), Some("2.0"), Some("1.5")));
        assert!(!in_range(dpkg, "1.6", Some("1.0"), Some("2.0"), Some("1.5")));
        // An empty or inverted pair affects nothing.
        assert!(!in_range(dpkg, "1.0", Some("1.0"), Some("1.0"), None));
        assert!(!in_range(dpkg, "1.5", Some("2.0"), Some("1.0"), None));

        // The same rules under the other schemes' orderings.
        assert!(in_range(Scheme::Rpm, "0:0~0-0", Some("0"), Some("1.0-1.el9"), None));
        assert!(in_range(Scheme::Rpm, "1.0~rc1-1.el9", Some("0"), Some("1.0-1.el9"), None));
        assert!(!in_range(Scheme::Rpm, "1.0^git1-1.el9", Some("0"), Some("1.0-1.el9"), None));
        assert!(in_range(Scheme::Apk, "1.2.3_rc1-r0", Some("0"), Some("1.2.3-r0"), None));
        assert!(!in_range(Scheme::Apk, "1.2.3_p1-r0", Some("0"), Some("1.2.3-r0"), None));
    }

    #[test]
    fn events_follow_the_osv_evaluation_algorithm() {
        let semverish = Scheme::Dpkg;
        // The OSV schema's examples.
        let unfixed = events(r#"[{"introduced": "0"}]"#);
        assert!(affected_by_events(semverish, "0~", &unfixed));
        assert!(affected_by_events(semverish, "99:99", &unfixed));

        let fixed = events(r#"[{"introduced": "0"}, {"fixed": "1.0.2"}]"#);
        assert!(affected_by_events(semverish, "1.0.1", &fixed));
        assert!(!affected_by_events(semverish, "1.0.2", &fixed));

        let multiple =
            events(r#"[{"introduced": "1.0.0"}, {"fixed": "1.0.2"}, {"introduced": "3.0.0"}, {"fixed": "3.2.5"}]"#);
        for (version, affected) in [
            ("0.9", false),
            ("1.0.0", true),
            ("1.0.1", true),
            ("1.0.2", false),
            ("2.9", false),
            ("3.0.0", true),
            ("3.2.4", true),
            ("3.2.5", false),
            ("4.0", false),
        ] {
            assert_eq!(affected_by_events(semverish, version, &multiple), affected, "{version}");
            // The listed order does not matter: events are sorted first.
            let mut reversed = multiple.clone();
            reversed.reverse();
            assert_eq!(affected_by_events(semverish, version, &reversed), affected, "reversed, {version}");
        }

        let last = events(r#"[{"introduced": "0"}, {"last_affected": "2.1.214"}]"#);
        assert!(affected_by_events(semverish, "2.1.214", &last));
        assert!(!affected_by_events(semverish, "2.1.215", &last));

        // Limits: only versions below some limit are in the range; "*" is infinite.
        let limited = events(r#"[{"introduced": "1.0"}, {"limit": "2.0"}]"#);
        assert!(affected_by_events(semverish, "1.5", &limited));
        assert!(!affected_by_events(semverish, "2.0", &limited));
        let limits = events(r#"[{"introduced": "1.0"}, {"limit": "2.0"}, {"limit": "*"}]"#);
        assert!(affected_by_events(semverish, "5.0", &limits));
        let two_limits = events(r#"[{"introduced": "1.0"}, {"limit": "2.0"}, {"limit": "3.0"}]"#);
        assert!(affected_by_events(semverish, "2.5", &two_limits));
        assert!(!affected_by_events(semverish, "3.0", &two_limits));

        // No events, or no introduced event, affect nothing.
        assert!(!affected_by_events(semverish, "1.0", &[]));
        assert!(!affected_by_events(semverish, "1.0", &events(r#"[{"fixed": "2.0"}]"#)));
        assert!(!affected_by_events(semverish, "1.0", &events(r#"[{"limit": "*"}]"#)));

        // Equal versions keep their listed order: an empty interval stays empty.
        let empty = events(r#"[{"introduced": "1.0"}, {"fixed": "1.0"}]"#);
        assert!(!affected_by_events(semverish, "1.0", &empty));
        assert!(!affected_by_events(semverish, "1.1", &empty));

        // A real Debian shape: introduced "0", fixed in a stable update.
        let glibc = events(r#"[{"introduced": "0"}, {"fixed": "2.36-9+deb12u4"}]"#);
        assert!(affected_by_events(Scheme::Dpkg, "2.36-9+deb12u3", &glibc));
        assert!(affected_by_events(Scheme::Dpkg, "2.36-9", &glibc));
        assert!(!affected_by_events(Scheme::Dpkg, "2.36-9+deb12u4", &glibc));
        assert!(!affected_by_events(Scheme::Dpkg, "2.37-1", &glibc));
        // …and Alpine's.
        let openssl = events(r#"[{"introduced": "0"}, {"fixed": "3.1.4-r1"}]"#);
        assert!(affected_by_events(Scheme::Apk, "3.1.4-r0", &openssl));
        assert!(!affected_by_events(Scheme::Apk, "3.1.4-r1", &openssl));
        assert!(!affected_by_events(Scheme::Apk, "3.1.5-r0", &openssl));
        // …and an RPM one with an epoch.
        let rpm = events(r#"[{"introduced": "0"}, {"fixed": "1:3.0.7-25.el9_3"}]"#);
        assert!(affected_by_events(Scheme::Rpm, "1:3.0.7-24.el9", &rpm));
        assert!(!affected_by_events(Scheme::Rpm, "1:3.0.7-25.el9_3", &rpm));
        assert!(!affected_by_events(Scheme::Rpm, "1:3.0.7-27.el9", &rpm));
    }

    proptest! {
        #[test]
        fn events_never_panic(
            scheme in scheme(),
            version in "\\PC{0,12}",
            list in proptest::collection::vec(("[0-3]", "\\PC{0,8}"), 0..8),
        ) {
            let list: Vec<Event> = list
                .into_iter()
                .map(|(kind, v)| match kind.as_str() {
                    "0" => Event::Introduced(v),
                    "1" => Event::Fixed(v),
                    "2" => Event::LastAffected(v),
                    _ => Event::Limit(v),
                })
                .collect();
            let _ = affected_by_events(scheme, &version, &list);
        }

        #[test]
        fn a_single_pair_of_events_is_in_range(
            (scheme, v) in scheme().prop_flat_map(|scheme| (Just(scheme), versions(scheme, 3))),
            last in any::<bool>(),
        ) {
            let (version, introduced, upper) = (&v[0], &v[1], &v[2]);
            prop_assume!(compare(scheme, introduced, upper) == Less);
            let (events, expected) = if last {
                (
                    [Event::Introduced(introduced.clone()), Event::LastAffected(upper.clone())],
                    in_range(scheme, version, Some(introduced), None, Some(upper)),
                )
            } else {
                (
                    [Event::Introduced(introduced.clone()), Event::Fixed(upper.clone())],
                    in_range(scheme, version, Some(introduced), Some(upper), None),
                )
            };
            prop_assert_eq!(affected_by_events(scheme, version, &events), expected);
            let mut reversed = events.clone();
            reversed.reverse();
            prop_assert_eq!(affected_by_events(scheme, version, &reversed), expected);
        }
    }
}
