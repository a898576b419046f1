//! Property tests for the parsers of this crate that read outside input — the Hawk header, `from`/`until`,
//! rule field paths, asset values, OSV documents, os-release names and package versions — fed arbitrary
//! bytes, strings over each grammar's alphabet and mutated valid inputs. None may panic, and each keeps the
//! cheap invariants the fuzz targets in `fuzz/` check for much longer. The unit tests beside each parser pin
//! its exact answers; these only pin that it answers.

use chrono::Datelike;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use serde_json::json;
use tlink_domain::hawk::{self, Kind, MAX_HEADER_LENGTH};
use tlink_domain::osv::{self, distro_of_ecosystem, distro_of_os_release};
use tlink_domain::pkgver::{Event, Scheme, affected_by_events, scheme_for_ecosystem};
use tlink_domain::{AssetType, AssetValue, FieldPath, format_millis, from_bound, parse_period, to_millis, until_bound};

/// A seed with a few random edits (insert, delete or replace a byte): inputs near the valid ones, where
/// parsers have the most branches.
fn mutated(seeds: &'static [&'static str]) -> impl Strategy<Value = Vec<u8>> {
    (select(seeds), vec((any::<Index>(), 0u8..3, any::<u8>()), 0..6)).prop_map(|(seed, edits)| {
        let mut bytes = seed.as_bytes().to_vec();
        for (at, op, byte) in edits {
            let i = at.index(bytes.len() + 1);
            match op {
                0 => bytes.insert(i, byte),
                1 if i < bytes.len() => {
                    bytes.remove(i);
                }
                _ if i < bytes.len() => bytes[i] = byte,
                _ => bytes.push(byte),
            }
        }
        bytes
    })
}

/// Arbitrary bytes, read as text the way a request's bytes are (lossily).
fn lossy(max: usize) -> impl Strategy<Value = String> {
    vec(any::<u8>(), 0..max).prop_map(|b| String::from_utf8_lossy(&b).into_owned())
}

fn mutated_text(seeds: &'static [&'static str]) -> impl Strategy<Value = String> {
    mutated(seeds).prop_map(|b| String::from_utf8_lossy(&b).into_owned())
}

const HAWK_SEEDS: &[&str] = &[
    r#"Hawk id="dh37fgj492je", ts="1353832234", nonce="j4h3g2", mac="m8r1rHbXN6NgO+KIIhjO7sFRyd78RNGVUwehe8Cp2dU=", ext="some-app-data""#,
    r#"Hawk id="123456", ts="1357926341", nonce="1AwuJD", hash="qAiXIVv+yjDATneWxZP2YCTa9aHRgQdnH9b3Wc+o3dg=", ext="some-app-data", mac="UeYcj5UoTVaAWXNvJfLVia7kU3VabxCqrccXP8sUGC4=""#,
    r#"hawk id="123", ts="1353788437", nonce="k3j4h2", mac="bXx7a7p1h9QYQNZ8x7QhvDQym8ACgab4m3lVSFn4DBw=", app="a", dlg="d""#,
];

/// A header that parses is one the signing side can write, and what it writes parses back and verifies.
fn check_hawk(text: &str) -> Result<(), TestCaseError> {
    let Ok(header) = hawk::parse_authorization(text) else { return Ok(()) };
    let key = b"property key";
    let artifacts = header.artifacts("POST", "/v2/agents?x=1", "Api.Example.com", 8443);
    let signed = hawk::client_header(&header.id, key, &artifacts)
        .map_err(|e| TestCaseError::fail(format!("{text:?} cannot be signed: {e}")))?;
    if signed.len() <= MAX_HEADER_LENGTH {
        let again = hawk::parse_authorization(&signed)
            .map_err(|e| TestCaseError::fail(format!("{signed:?} does not parse: {e}")))?;
        prop_assert_eq!(
            (&again.id, &again.ts, &again.nonce, &again.hash, &again.ext, &again.app),
            (&header.id, &header.ts, &header.nonce, &header.hash, &header.ext, &header.app)
        );
        let verified =
            hawk::mac(key, Kind::Header, &again.artifacts("POST", "/v2/agents?x=1", "Api.Example.com", 8443));
        prop_assert!(hawk::constant_time_eq(&verified, &again.mac));
    }
    Ok(())
}

/// A period is never empty, and the instant it starts at, written as the API writes instants, names the
/// millisecond that starts there.
fn check_period(text: &str) -> Result<(), TestCaseError> {
    let Ok(period) = parse_period(text) else {
        prop_assert!(from_bound(text).is_err() && until_bound(text).is_err());
        return Ok(());
    };
    prop_assert!(period.start < period.end, "{text:?}: {period:?}");
    prop_assert_eq!(from_bound(text), Ok(period.start));
    prop_assert_eq!(until_bound(text), Ok(period.end));
    if (0..=9999).contains(&period.start.year()) {
        let ms = to_millis(period.start);
        let written = format_millis(ms);
        let again =
            parse_period(&written).map_err(|e| TestCaseError::fail(format!("{written} does not parse: {e}")))?;
        prop_assert_eq!((to_millis(again.start), to_millis(again.end)), (ms, ms + 1));
    }
    Ok(())
}

/// A path's canonical spelling parses back to an equal path; walking a document along it never fails.
fn check_path(text: &str) -> Result<(), TestCaseError> {
    let Ok(path) = text.parse::<FieldPath>() else { return Ok(()) };
    let canonical = path.to_string();
    prop_assert_eq!(canonical.parse::<FieldPath>().ok(), Some(path.clone()), "{:?} → {:?}", text, canonical);
    let doc = json!({"a": [{"b": 1}, {"b": [1, 2]}], "ports": [{"port": 22}], "x-y:z@w_0": {"0": [[]]}});
    let found = path.resolve(&doc);
    prop_assert!(path.has_wildcard() || found.len() <= 1);
    Ok(())
}

/// A value's canonical spelling is a fixed point.
fn check_asset(kind: AssetType, text: &str) -> Result<(), TestCaseError> {
    let Ok(value) = AssetValue::parse(kind, text) else { return Ok(()) };
    prop_assert_eq!(value.kind(), kind);
    prop_assert_eq!(value.hash_kind().is_some(), kind == AssetType::Hash);
    let again = AssetValue::parse(kind, value.value());
    prop_assert_eq!(again.as_ref(), Ok(&value), "{}: {:?} → {:?}", kind, text, value.value());
    Ok(())
}

/// An advisory's affected check, run with the versions it names: the fix it offers is not itself affected.
fn check_advisory(bytes: &[u8]) -> Result<(), TestCaseError> {
    let Ok(advisory) = osv::parse_advisory(bytes) else { return Ok(()) };
    prop_assert!(!advisory.cves.is_empty());
    for affected in &advisory.affected {
        let Some(scheme) = affected.distro.scheme() else { continue };
        let named =
            affected.versions.iter().map(String::as_str).chain(affected.ranges.iter().flatten().map(Event::version));
        for version in named {
            let _ = osv::upstream_version(scheme, version);
            if let Some(Some(fixed)) = affected.check(version) {
                prop_assert!(
                    affected.check(&fixed).is_none(),
                    "the fix offered for {version:?} is affected: {fixed:?}"
                );
            }
        }
    }
    Ok(())
}

const ECOSYSTEMS: &[&str] = &[
    "Debian:12",
    "Debian:sid",
    "Ubuntu:22.04:LTS",
    "Ubuntu:Pro:18.04:LTS",
    "Alpine:v3.19",
    "Red Hat:rhel_aus:8.4::appstream",
    "Rocky Linux:9",
    "AlmaLinux:8",
    "npm",
    "",
    "Debian",
];

/// Versions over the characters that mean something to some package manager, and JSON-safe.
const VERSION: &str = "[0-9a-z.~^_:+-]{0,8}";

fn advisory_json() -> impl Strategy<Value = Vec<u8>> {
    (
        select(ECOSYSTEMS),
        VERSION,
        VERSION,
        VERSION,
        VERSION,
        select(&["fixed", "last_affected", "limit", "introduced"][..]),
    )
        .prop_map(|(ecosystem, introduced, bound, listed, severity, kind)| {
            json!({
                "id": "DEBIAN-CVE-2023-4641",
                "modified": "2024-01-01T00:00:00Z",
                "aliases": ["CVE-2023-4641", listed],
                "severity": [{"type": "CVSS_V3", "score": format!("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:{severity}")}],
                "affected": [{
                    "package": {"ecosystem": ecosystem, "name": "shadow"},
                    "ranges": [
                        {"type": "ECOSYSTEM", "events": [{"introduced": introduced}, {kind: bound}]},
                        {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": listed}]}
                    ],
                    "versions": [listed, bound],
                    "ecosystem_specific": {"urgency": severity}
                }]
            })
            .to_string()
            .into_bytes()
        })
}

fn asset_type() -> impl Strategy<Value = AssetType> {
    select(AssetType::ALL)
}

const ASSET_SEEDS: &[&str] = &[
    "Example.COM.",
    "bücher.example",
    "xn--bcher-kva.example",
    "192.0.2.1",
    "::ffff:1.2.3.4",
    "2001:DB8::0:1",
    "User.Name+tag@Example.com",
    "HTTPS://Example.com:443/a/../b?q=1#f",
    "http://[::1]:8080/",
    "D41D8CD98F00B204E9800998ECF8427E",
    "as0013335",
    "AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB:AB",
];

proptest! {
    #[test]
    fn hawk_headers_never_panic(text in prop_oneof![
        any::<String>(),
        "(Hawk|hawk|HAWK|Basic)?[ \t]{0,2}((id|ts|nonce|mac|hash|ext|app|dlg|x)=\"[a-zA-Z0-9+/= ._-]{0,8}\"[ ,]{0,3}){0,9}",
        mutated_text(HAWK_SEEDS),
    ]) {
        check_hawk(&text)?;
    }

    #[test]
    fn time_bounds_never_panic(text in prop_oneof![
        any::<String>(),
        "[0-9]{4}(-[0-9]{2}(-[0-9]{2}([Tt ][0-9]{2}(:[0-9]{2}(:[0-9]{2}([.,][0-9]{1,10})?)?)?([Zz]|[+ -][0-9]{2}(:?[0-9]{2})?)?)?)?)?",
        mutated_text(&["2026-01-31T10:00:00.123456", "2024-02-29T23:59:59-23:59", "9999-12-31T23:59:59.999+00:00", "0000-01-01T00:00+01:00"]),
    ]) {
        check_period(&text)?;
    }

    #[test]
    fn field_paths_never_panic(text in prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9_@:-]{0,3}(\\[(\\*|-?[0-9]{0,25})\\]?){0,2}([.][a-z0-9]{0,3}(\\[(\\*|-?[0-9]{1,3})\\]){0,2}){0,4}",
        mutated_text(&["abuseipdb.abuseConfidenceScore", "ports[*].port", "a[-1].b", "records.mx[0].preference"]),
    ]) {
        check_path(&text)?;
    }

    #[test]
    fn asset_values_never_panic_and_are_canonical(kind in asset_type(), text in prop_oneof![
        any::<String>(),
        "[a-zA-Z0-9.:/@%\\[\\]?#_-]{0,40}",
        "[a-fA-F0-9:]{30,70}",
        mutated_text(ASSET_SEEDS),
    ]) {
        check_asset(kind, &text)?;
    }

    #[test]
    fn osv_documents_never_panic(bytes in prop_oneof![vec(any::<u8>(), 0..512), advisory_json()]) {
        check_advisory(&bytes)?;
    }

    #[test]
    fn os_release_names_and_ranges_never_panic(a in VERSION, b in VERSION, c in VERSION, eco in prop_oneof![select(ECOSYSTEMS).prop_map(str::to_owned), lossy(32)]) {
        let _ = scheme_for_ecosystem(&eco);
        if let Some(distro) = distro_of_ecosystem(&eco) {
            let _ = (distro.key(), distro.scheme());
        }
        if let Some(distro) = distro_of_os_release(&a, &b) {
            let _ = (distro.key(), distro.scheme());
        }
        for scheme in [Scheme::Dpkg, Scheme::Rpm, Scheme::Apk] {
            let _ = affected_by_events(scheme, &a, &[Event::Introduced(b.clone()), Event::Fixed(c.clone())]);
            let _ = affected_by_events(scheme, &a, &[Event::LastAffected(c.clone()), Event::Limit(b.clone())]);
        }
    }
}
