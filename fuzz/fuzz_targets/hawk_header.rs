//! The `Authorization: Hawk …` header grammar. A header that parses is also checked against the signing
//! side: the header a client would write for the same attributes parses back to them, and its MAC verifies.
#![no_main]

extern crate tlink_fuzz;

use libfuzzer_sys::fuzz_target;
use tlink_domain::hawk::{self, Kind, MAX_HEADER_LENGTH};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(header) = hawk::parse_authorization(text) else { return };
    let key = b"fuzz key";
    let artifacts = header.artifacts("GET", "/v2/agents?limit=1", "api.example.com", 443);
    let _ = hawk::normalized(Kind::Header, &artifacts);
    let _ = hawk::timestamp_is_fresh(&header.ts, 1_700_000_000_000, hawk::DEFAULT_TIMESTAMP_SKEW_SECS);
    let mac = hawk::mac(key, Kind::Header, &artifacts);
    let _ = hawk::server_authorization(&mac, header.hash.as_deref(), header.ext.as_deref());
    let signed = hawk::client_header(&header.id, key, &artifacts).expect("a parsed header's values can be written");
    if signed.len() > MAX_HEADER_LENGTH {
        return;
    }
    let again = hawk::parse_authorization(&signed).expect("a signed header parses");
    assert_eq!(
        (&again.id, &again.ts, &again.nonce, &again.hash, &again.ext, &again.app),
        (&header.id, &header.ts, &header.nonce, &header.hash, &header.ext, &header.app)
    );
    let verified = hawk::mac(key, Kind::Header, &again.artifacts("GET", "/v2/agents?limit=1", "api.example.com", 443));
    assert!(hawk::constant_time_eq(&verified, &again.mac), "a header signed by the client verifies");
});
