//! X.509 certificates (DER) as the ssl tool describes a presented chain: names, SANs, dates, key, signature
//! algorithm, self-signature. The input is the leaf; a valid leaf followed by the input is tried too, so that
//! a bad intermediate is read as well.
#![no_main]

extern crate tlink_fuzz;

use chrono::DateTime;
use libfuzzer_sys::fuzz_target;
use tlink_tools::fuzzing;

fuzz_target!(|data: &[u8]| {
    let now = DateTime::from_timestamp(1_750_000_000, 0).expect("a fixed time");
    let leaf = data.to_vec();
    if fuzzing::certificate_chain(std::slice::from_ref(&leaf), now).is_ok() {
        let _ = fuzzing::certificate_chain(&[leaf.clone(), leaf], now);
    }
});
