//! Package version ordering (dpkg, rpm, apk) of arbitrary strings, and OSV range evaluation over it. Three
//! versions separated by newlines: every scheme's order must be a total order (reflexive, antisymmetric,
//! transitive); ecosystem and os-release names are read from the same text.
#![no_main]

extern crate tlink_fuzz;

use std::cmp::Ordering::{Equal, Greater, Less};

use libfuzzer_sys::fuzz_target;
use tlink_domain::osv::{distro_of_ecosystem, distro_of_os_release};
use tlink_domain::pkgver::{Event, Scheme, affected_by_events, compare, scheme_for_ecosystem};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let mut parts = text.splitn(3, '\n');
    let (a, b, c) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    for scheme in [Scheme::Dpkg, Scheme::Rpm, Scheme::Apk] {
        for x in [a, b, c] {
            assert_eq!(compare(scheme, x, x), Equal, "{scheme:?} {x:?}");
        }
        for (x, y) in [(a, b), (b, c), (a, c)] {
            assert_eq!(compare(scheme, x, y), compare(scheme, y, x).reverse(), "{scheme:?} {x:?} {y:?}");
        }
        for [x, y, z] in [[a, b, c], [a, c, b], [b, a, c], [b, c, a], [c, a, b], [c, b, a]] {
            let (xy, yz) = (compare(scheme, x, y), compare(scheme, y, z));
            if xy != Greater && yz != Greater {
                let expected = if xy == Less || yz == Less { Less } else { Equal };
                assert_eq!(compare(scheme, x, z), expected, "{scheme:?}: {x:?} {xy:?} {y:?} {yz:?} {z:?}");
            }
        }
        let events = [Event::Introduced(b.to_owned()), Event::Fixed(c.to_owned())];
        let _ = affected_by_events(scheme, a, &events);
        let events = [Event::Introduced("0".to_owned()), Event::LastAffected(b.to_owned()), Event::Limit(c.to_owned())];
        let _ = affected_by_events(scheme, a, &events);
    }
    let _ = scheme_for_ecosystem(a);
    if let Some(distro) = distro_of_ecosystem(a) {
        let _ = (distro.key(), distro.scheme());
    }
    if let Some(distro) = distro_of_os_release(b, c) {
        let _ = (distro.key(), distro.scheme());
    }
});
