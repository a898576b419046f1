//! DNS messages as the stub client reads a resolver's UDP answer (hickory's decoder, the question and ID
//! checks, the rcode, the records rendered as the `dns` tool renders them).
#![no_main]

extern crate tlink_fuzz;

use libfuzzer_sys::fuzz_target;
use tlink_tools::fuzzing;

fuzz_target!(|data: &[u8]| {
    if let Some(Ok(result)) = fuzzing::dns_datagram(data) {
        assert!(result.a.len() == result.records.a.len() && result.txt.len() == result.records.txt.len());
    }
});
