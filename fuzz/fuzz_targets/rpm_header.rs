//! rpm headers as rpmdb stores them (index entries and a data store; name, version, release, epoch and
//! source rpm read from them).
#![no_main]

extern crate tlink_fuzz;

use libfuzzer_sys::fuzz_target;
use tlink::agent;

fuzz_target!(|data: &[u8]| {
    if let Some(package) = agent::rpm_header(data) {
        assert_eq!(package.manager, "rpm");
    }
});
