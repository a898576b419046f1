//! A server's answer to a legacy (SSL 3.0 / TLS 1.0 / 1.1) probe: TLS records, handshake messages, the
//! ServerHello and the Certificate message, arriving in chunks of any size; then the chain it carried,
//! described as the ssl tool describes certificates. The first byte picks the version offered and the chunk
//! size.
#![no_main]

extern crate tlink_fuzz;

use chrono::DateTime;
use libfuzzer_sys::fuzz_target;
use tlink_tools::fuzzing;

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else { return };
    let offered = [0x0300, 0x0301, 0x0302][usize::from(pick & 3) % 3];
    let chunk = usize::from(pick >> 2) + 1;
    let (probe, chain) = fuzzing::tls_legacy_answer(offered, rest.chunks(chunk));
    assert!(probe.status != tlink_tools::ssl::ProbeStatus::Unknown, "a closed connection is a verdict");
    if !chain.is_empty() {
        let chain: Vec<Vec<u8>> = chain.iter().map(|c| c.as_ref().to_vec()).collect();
        let now = DateTime::from_timestamp(1_750_000_000, 0).expect("a fixed time");
        let _ = fuzzing::certificate_chain(&chain, now);
    }
});
