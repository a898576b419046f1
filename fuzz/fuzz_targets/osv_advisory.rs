//! OSV advisories (JSON documents from the distributions' feeds), and the affected check run with the
//! versions they name, as matching an inventory does.
#![no_main]

extern crate tlink_fuzz;

use libfuzzer_sys::fuzz_target;
use tlink_domain::osv::{self, Affected};
use tlink_domain::pkgver::Event;

fn exercise(affected: &Affected) {
    let Some(scheme) = affected.distro.scheme() else { return };
    let _ = affected.distro.key();
    let named =
        affected.versions.iter().map(String::as_str).chain(affected.ranges.iter().flatten().map(Event::version));
    for version in named.take(64) {
        let _ = osv::upstream_version(scheme, version);
        if let Some(Some(fixed)) = affected.check(version) {
            assert!(affected.check(&fixed).is_none(), "the fix offered for {version:?} is itself affected: {fixed:?}");
        }
    }
    let _ = affected.check("");
}

fuzz_target!(|data: &[u8]| {
    let Ok(advisory) = osv::parse_advisory(data) else { return };
    assert!(!advisory.cves.is_empty(), "an advisory is listed under at least its own id");
    for affected in advisory.affected.iter().take(16) {
        exercise(affected);
    }
});
