//! SPF records (TXT): terms, mechanisms, modifiers, CIDR lengths, domain specs and macros.
#![no_main]

extern crate tlink_fuzz;

use libfuzzer_sys::fuzz_target;
use tlink_tools::fuzzing;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = fuzzing::spf_record(&text);
    let _ = fuzzing::spf_domain_spec(&text);
});
