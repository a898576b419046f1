//! Berkeley DB hash databases (rpm's `Packages`): the metadata page, hash pages, items and overflow chains;
//! then each value read as an rpm header, as the agent does. What is read never exceeds what the file holds:
//! the values are copies of bytes of the file, each stored once.
#![no_main]

extern crate tlink_fuzz;

use libfuzzer_sys::fuzz_target;
use tlink::{agent, bdb};

fuzz_target!(|data: &[u8]| {
    let Ok(values) = bdb::hash_values(data) else { return };
    let total: usize = values.iter().map(Vec::len).sum();
    assert!(total <= data.len(), "{total} bytes of values from a file of {}", data.len());
    for value in &values {
        let _ = agent::rpm_header(value);
    }
});
