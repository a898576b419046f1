//! Alert-rule field paths (`ports[*].port`). A path displays in a canonical form that parses back to an
//! equal path, and walking a document along it never fails.
#![no_main]

extern crate tlink_fuzz;

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};
use tlink_domain::FieldPath;

static DOCUMENT: LazyLock<Value> = LazyLock::new(|| {
    json!({
        "a": [{"b": 1}, {"b": [1, 2, {"c": null}]}, []],
        "ports": [{"port": 22, "service": "ssh"}, {"port": 443}],
        "abuseipdb": {"abuseConfidenceScore": 90, "x-y:z@w_0": true},
        "0": {"1": [[[]]]}
    })
});

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let Ok(path) = text.parse::<FieldPath>() else { return };
    let canonical = path.to_string();
    let again: FieldPath = canonical.parse().expect("the canonical spelling parses");
    assert_eq!(again, path, "{text:?} → {canonical:?}");
    assert_eq!(again.to_string(), canonical);
    let found = path.resolve(&DOCUMENT);
    assert!(path.has_wildcard() || found.len() <= 1);
});
