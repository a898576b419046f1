//! DMARC records (TXT): tags, policies, percentages, report URIs.
#![no_main]

extern crate tlink_fuzz;

use libfuzzer_sys::fuzz_target;
use tlink_tools::fuzzing;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = fuzzing::dmarc_record(&text);
});
