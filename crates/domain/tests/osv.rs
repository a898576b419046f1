//! OSV advisory parsing and matching, against the fixture advisories and
//! fixture hosts under `tests/fixtures` at the repository root.

#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use serde_json::{Value, json};
use tlink_domain::osv::{
    Advisory, Affected, Distro, OsvError, Severity, distro_of_ecosystem, distro_of_os_release, parse_advisory,
    upstream_version,
};
use tlink_domain::pkgver::{Event, Scheme};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures");

fn distro(family: &str, release: &str) -> Distro {
    Distro { family: family.to_owned(), release: release.to_owned() }
}

fn parse_json(doc: Value) -> Advisory {
    parse_advisory(doc.to_string().as_bytes()).expect("advisory parses")
}

/// A minimal advisory around the given fields.
fn advisory(fields: Value) -> Advisory {
    let mut doc = json!({"id": "TEST-1", "modified": "2024-01-01T00:00:00Z"});
    if let (Value::Object(doc), Value::Object(fields)) = (&mut doc, fields) {
        doc.extend(fields);
    }
    parse_json(doc)
}

// ---------------------------------------------------------------------------
// Fixture advisories
// ---------------------------------------------------------------------------

/// Every fixture advisory, with the ecosystem directory it sits in.
fn fixture_advisories() -> Vec<(String, PathBuf, Advisory)> {
    let mut all = Vec::new();
    for ecosystem in ["Debian", "Ubuntu", "Alpine"] {
        let dir = Path::new(FIXTURES).join("osv").join(ecosystem);
        let mut paths: Vec<PathBuf> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| entry.unwrap().path())
            .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
            .collect();
        paths.sort();
        for path in paths {
            let bytes = fs::read(&path).unwrap();
            let parsed = parse_advisory(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            all.push((ecosystem.to_owned(), path, parsed));
        }
    }
    all
}

fn fixture(id: &str) -> Advisory {
    fixture_advisories()
        .into_iter()
        .map(|(_, _, advisory)| advisory)
        .find(|advisory| advisory.id == id)
        .unwrap_or_else(|| panic!("no fixture {id}"))
}

#[test]
fn every_fixture_advisory_parses() {
    let all = fixture_advisories();
    let count = |ecosystem: &str| all.iter().filter(|(e, _, _)| e == ecosystem).count();
    assert_eq!((count("Debian"), count("Ubuntu"), count("Alpine")), (7, 6, 5));
    for (ecosystem, path, advisory) in &all {
        let stem = path.file_stem().unwrap().to_str().unwrap();
        assert_eq!(advisory.id, stem, "{}", path.display());
        assert!(!advisory.modified.is_empty() && advisory.published.is_some(), "{stem}");
        assert!(advisory.summary.as_deref().is_some_and(|s| !s.is_empty() && s.chars().count() <= 200), "{stem}");
        assert!(!advisory.cves.is_empty() && advisory.cves.iter().all(|c| c.starts_with("CVE-")), "{stem}");
        assert!(!advisory.affected.is_empty(), "{stem}");
        for affected in &advisory.affected {
            assert_eq!(&affected.distro.family, ecosystem, "{stem}");
            assert_eq!(distro_of_ecosystem(&affected.ecosystem).as_ref(), Some(&affected.distro), "{stem}");
            assert!(!affected.ranges.is_empty() || !affected.versions.is_empty(), "{stem}");
        }
        // Parsing is a pure function of the bytes, and the result round-trips.
        let again: Advisory = serde_json::from_str(&serde_json::to_string(advisory).unwrap()).unwrap();
        assert_eq!(&again, advisory);
    }
}

#[test]
fn fixture_advisories_read_as_expected() {
    let dsa = fixture("DSA-5532-1");
    assert_eq!(dsa.cves, ["CVE-2023-5363", "CVE-2023-5678"]);
    assert_eq!(dsa.summary.as_deref(), Some("openssl - security update"));
    assert_eq!((dsa.severity, dsa.score, dsa.vector_type.as_deref()), (Severity::Unknown, None, None));
    assert!(dsa.fix_available && !dsa.withdrawn);
    assert_eq!(dsa.affected[0].ranges, [vec![Event::Introduced("0".into()), Event::Fixed("3.0.11-1~deb12u2".into())]]);
    assert_eq!(dsa.affected[0].severity, None);

    let glibc = fixture("DSA-5514-1");
    assert_eq!(glibc.cves, ["CVE-2023-4527", "CVE-2023-4806", "CVE-2023-4911"]);

    // CVSS (4.7, medium) outranks Debian's urgency (low); one entry per release.
    let shadow = fixture("DEBIAN-CVE-2023-4641");
    assert_eq!(
        (shadow.severity, shadow.score, shadow.vector_type.as_deref()),
        (Severity::Medium, Some(4.7), Some("local"))
    );
    let releases: Vec<&str> = shadow.affected.iter().map(|a| a.distro.release.as_str()).collect();
    assert_eq!(releases, ["11", "12", "13"]);
    let urgencies: Vec<Option<Severity>> = shadow.affected.iter().map(|a| a.severity).collect();
    assert_eq!(urgencies, [Some(Severity::Negligible), Some(Severity::Low), Some(Severity::Low)]);
    // No summary: the first line of details, cut to 200 characters.
    assert!(shadow.summary.as_deref().unwrap().starts_with("A flaw in shadow-utils"));

    // Only explicit versions, urgency "unimportant".
    let ncurses = fixture("DEBIAN-CVE-2023-50495");
    assert_eq!(ncurses.severity, Severity::Negligible);
    assert!(!ncurses.fix_available);
    assert!(ncurses.affected.iter().all(|a| a.ranges.is_empty() && !a.versions.is_empty()));

    // last_affected; CVSS (7.5) outranks urgency (medium).
    let gnutls = fixture("DEBIAN-CVE-2024-0567");
    assert_eq!(
        (gnutls.severity, gnutls.score, gnutls.vector_type.as_deref()),
        (Severity::High, Some(7.5), Some("network"))
    );
    assert_eq!(gnutls.affected[0].severity, Some(Severity::Medium));
    assert!(!gnutls.fix_available);
    assert_eq!(gnutls.affected[0].ranges[0][1], Event::LastAffected("3.7.9-2+deb12u1".into()));

    assert!(fixture("DEBIAN-CVE-2023-39804").withdrawn);
    assert!(fixture_advisories().iter().filter(|(_, _, a)| a.withdrawn).count() == 1);

    // Ubuntu: the CVSS vector wins over Ubuntu's priority word.
    let openssl = fixture("UBUNTU-CVE-2023-5363");
    assert_eq!((openssl.severity, openssl.score), (Severity::High, Some(7.5)));
    assert!(openssl.summary.as_deref().unwrap().starts_with("Issue summary: A bug has been identified"));
    assert_eq!(openssl.summary.as_deref().unwrap().chars().count(), 200);
    let procps = fixture("UBUNTU-CVE-2023-4016");
    assert_eq!(
        (procps.severity, procps.score, procps.vector_type.as_deref()),
        (Severity::Low, Some(3.3), Some("local"))
    );
    assert_eq!(procps.affected[0].ecosystem, "Ubuntu:Pro:16.04:LTS");
    assert_eq!(procps.affected[0].distro, distro("Ubuntu", "16.04"));
    let runc = fixture("UBUNTU-CVE-2024-21626");
    assert_eq!((runc.severity, runc.score), (Severity::High, Some(8.6)));
    assert_eq!(runc.affected[1].ranges.len(), 2);
    // A USN names its CVEs in "related"; with no vector the Ubuntu word decides.
    let usn = fixture("USN-6429-1");
    assert_eq!(usn.cves, ["CVE-2023-38545", "CVE-2023-38546"]);
    assert_eq!((usn.severity, usn.score), (Severity::High, None));
    assert_eq!(usn.summary.as_deref(), Some("curl vulnerabilities"));

    // Alpine publishes no severity.
    let terrapin = fixture("ALPINE-CVE-2023-48795");
    assert_eq!(terrapin.severity, Severity::Unknown);
    let packages: Vec<(&str, &str)> =
        terrapin.affected.iter().map(|a| (a.distro.release.as_str(), a.package.as_str())).collect();
    assert_eq!(packages, [("3.18", "openssh"), ("3.18", "libssh"), ("3.19", "openssh")]);
}

// ---------------------------------------------------------------------------
// Distribution releases
// ---------------------------------------------------------------------------

#[test]
fn ecosystems_map_to_distribution_releases() {
    for (ecosystem, expected) in [
        ("Debian:12", Some(("Debian", "12"))),
        ("Debian:11", Some(("Debian", "11"))),
        ("Debian:13", Some(("Debian", "13"))),
        ("Ubuntu:22.04:LTS", Some(("Ubuntu", "22.04"))),
        ("Ubuntu:Pro:18.04:LTS", Some(("Ubuntu", "18.04"))),
        ("Ubuntu:Pro:FIPS-updates:22.04:LTS", Some(("Ubuntu", "22.04"))),
        ("Ubuntu:23.10", Some(("Ubuntu", "23.10"))),
        ("Alpine:v3.18", Some(("Alpine", "3.18"))),
        ("Alpine:v3.9", Some(("Alpine", "3.9"))),
        ("Alpine:3.19", Some(("Alpine", "3.19"))),
        ("Red Hat:enterprise_linux:9::appstream", Some(("Red Hat", "9"))),
        ("Red Hat:enterprise_linux:8::baseos", Some(("Red Hat", "8"))),
        ("Red Hat:rhel_aus:8.4::appstream", Some(("Red Hat", "8"))),
        ("Red Hat:rhel_eus:9.2::baseos", Some(("Red Hat", "9"))),
        ("Rocky Linux:9", Some(("Rocky Linux", "9"))),
        ("Rocky Linux:8.8", Some(("Rocky Linux", "8"))),
        ("AlmaLinux:9", Some(("AlmaLinux", "9"))),
        // No release, no number, or not a distribution handled here.
        ("Debian", None),
        ("Debian:", None),
        ("Debian:sid", None),
        ("Ubuntu", None),
        ("Ubuntu:Pro", None),
        ("Alpine", None),
        ("Alpine:edge", None),
        ("Red Hat", None),
        ("Red Hat:openshift:4.13::el9", None),
        ("Red Hat:enterprise_linux", None),
        ("Rocky Linux", None),
        ("AlmaLinux", None),
        ("AlmaLinux:x", None),
        ("PyPI", None),
        ("npm", None),
        ("Wolfi", None),
        ("SUSE:Linux Enterprise Server 15 SP5", None),
        ("debian:12", None),
        ("", None),
        (":", None),
        (":12", None),
    ] {
        let expected = expected.map(|(family, release)| distro(family, release));
        assert_eq!(distro_of_ecosystem(ecosystem), expected, "{ecosystem:?}");
    }
}

#[test]
fn os_release_maps_to_distribution_releases() {
    for ((id, version_id), expected) in [
        (("debian", "12"), Some(("Debian", "12"))),
        (("Debian", "\"12\""), Some(("Debian", "12"))),
        (("ubuntu", "22.04"), Some(("Ubuntu", "22.04"))),
        (("UBUNTU", "24.04"), Some(("Ubuntu", "24.04"))),
        (("alpine", "3.18.4"), Some(("Alpine", "3.18"))),
        (("alpine", "3.18"), Some(("Alpine", "3.18"))),
        (("alpine", "3.19.0_alpha20230901"), Some(("Alpine", "3.19"))),
        (("rhel", "9.3"), Some(("Red Hat", "9"))),
        (("rhel", "8"), Some(("Red Hat", "8"))),
        (("rocky", "9.3"), Some(("Rocky Linux", "9"))),
        (("almalinux", "9.3"), Some(("AlmaLinux", "9"))),
        ((" debian ", " 12 "), Some(("Debian", "12"))),
        // Unknown distributions, or no usable version (Debian testing has none).
        (("debian", ""), None),
        (("ubuntu", "22"), None),
        (("alpine", "edge"), None),
        (("rhel", "nine"), None),
        (("centos", "7"), None),
        (("fedora", "39"), None),
        (("linuxmint", "21.2"), None),
        (("", ""), None),
    ] {
        let expected = expected.map(|(family, release)| distro(family, release));
        assert_eq!(distro_of_os_release(id, version_id), expected, "{id:?} {version_id:?}");
    }
}

#[test]
fn distros_have_a_key_and_a_scheme() {
    assert_eq!(distro("Debian", "12").key(), "Debian:12");
    assert_eq!(distro("Red Hat", "9").key(), "Red Hat:9");
    assert_eq!(distro("Alpine", "3.18").key(), "Alpine:3.18");
    assert_eq!(distro("Debian", "12").scheme(), Some(Scheme::Dpkg));
    assert_eq!(distro("Ubuntu", "22.04").scheme(), Some(Scheme::Dpkg));
    assert_eq!(distro("Alpine", "3.18").scheme(), Some(Scheme::Apk));
    for family in ["Red Hat", "Rocky Linux", "AlmaLinux"] {
        assert_eq!(distro(family, "9").scheme(), Some(Scheme::Rpm), "{family}");
    }
    assert_eq!(distro("Gentoo", "1").scheme(), None);
}

// ---------------------------------------------------------------------------
// Severity
// ---------------------------------------------------------------------------

#[test]
fn severity_words() {
    assert_eq!(Severity::ALL.map(Severity::as_str), ["unknown", "negligible", "low", "medium", "high", "critical"]);
    assert!(Severity::ALL.windows(2).all(|pair| pair[0] < pair[1]));
    for severity in Severity::ALL {
        assert_eq!(Severity::parse(severity.as_str()), Some(severity));
        assert_eq!(Severity::parse(&severity.as_str().to_uppercase()), Some(severity));
        assert_eq!(serde_json::to_value(severity).unwrap(), json!(severity.as_str()));
        assert_eq!(serde_json::from_value::<Severity>(json!(severity.as_str())).unwrap(), severity);
    }
    for (word, expected) in [
        ("Moderate", Some(Severity::Medium)),
        ("IMPORTANT", Some(Severity::High)),
        ("unimportant", Some(Severity::Negligible)),
        ("not yet assigned", Some(Severity::Unknown)),
        ("Not Yet Assigned", Some(Severity::Unknown)),
        ("untriaged", Some(Severity::Unknown)),
        (" high ", Some(Severity::High)),
        ("", None),
        ("end-of-life", None),
        ("severe", None),
        ("7.5", None),
    ] {
        assert_eq!(Severity::parse(word), expected, "{word:?}");
    }
}

#[test]
fn severity_precedence() {
    let cvss = |vector: &str| json!({"type": "CVSS_V3", "score": vector});
    let ubuntu = |word: &str| json!({"type": "Ubuntu", "score": word});
    let entry = |ecosystem_specific: Value| json!({"package": {"ecosystem": "Debian:12", "name": "p"}, "ranges": [], "ecosystem_specific": ecosystem_specific});
    let critical = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H";

    // 1. A CVSS v3 vector beats everything.
    let a = advisory(json!({
        "severity": [ubuntu("low"), cvss(critical)],
        "database_specific": {"severity": "LOW"},
        "affected": [entry(json!({"urgency": "low"}))],
    }));
    assert_eq!((a.severity, a.score, a.vector_type.as_deref()), (Severity::Critical, Some(9.8), Some("network")));
    // 2. Then Ubuntu's word.
    let a = advisory(json!({
        "severity": [ubuntu("medium")],
        "database_specific": {"severity": "HIGH"},
        "affected": [entry(json!({"urgency": "high"}))],
    }));
    assert_eq!((a.severity, a.score), (Severity::Medium, None));
    // 3. Then the database's.
    let a = advisory(
        json!({"database_specific": {"severity": "Moderate"}, "affected": [entry(json!({"urgency": "high"}))]}),
    );
    assert_eq!(a.severity, Severity::Medium);
    // 4. Then the worst per-package severity.
    let a = advisory(json!({"affected": [entry(json!({"urgency": "low"})), entry(json!({"urgency": "high"}))]}));
    assert_eq!(a.severity, Severity::High);
    let a = advisory(json!({"affected": [entry(json!({"urgency": "unimportant"}))]}));
    assert_eq!(a.severity, Severity::Negligible);
    // 5. Else unknown; "not yet assigned" and unknown words say nothing.
    let a = advisory(
        json!({"affected": [entry(json!({"urgency": "not yet assigned"})), entry(json!({"urgency": "end-of-life"}))]}),
    );
    assert_eq!(a.severity, Severity::Unknown);
    assert_eq!(a.affected[0].severity, None);
    assert_eq!(advisory(json!({})).severity, Severity::Unknown);

    // A 0.0 vector rates "none", so the next source decides; the score stays.
    let a = advisory(json!({"severity": [cvss("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N"), ubuntu("low")]}));
    assert_eq!((a.severity, a.score), (Severity::Low, Some(0.0)));
    // Broken or incomplete vectors, and CVSS v2/v4, are not used.
    let a = advisory(json!({"severity": [cvss("CVSS:3.1/AV:N/AC:L"), cvss("garbage"), ubuntu("high")]}));
    assert_eq!((a.severity, a.score, a.vector_type), (Severity::High, None, None));
    let a = advisory(json!({"severity": [
        {"type": "CVSS_V2", "score": "AV:N/AC:L/Au:N/C:C/I:C/A:C"},
        {"type": "CVSS_V4", "score": "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"},
    ]}));
    assert_eq!((a.severity, a.score), (Severity::Unknown, None));
    // The first usable vector is used; CVSS 3.0 is scored too.
    let a = advisory(json!({"severity": [
        cvss("CVSS:3.1/AV:N/AC:L"),
        cvss("CVSS:3.0/AV:A/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"),
        cvss(critical),
    ]}));
    assert_eq!(
        (a.severity, a.score, a.vector_type.as_deref()),
        (Severity::Medium, Some(6.5), Some("adjacent_network"))
    );
    let a = advisory(json!({"severity": [cvss("CVSS:3.1/AV:P/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H")]}));
    assert_eq!((a.severity, a.score, a.vector_type.as_deref()), (Severity::Medium, Some(6.8), Some("physical")));
    let a = advisory(json!({"severity": [cvss("CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:C/C:H/I:H/A:H")]}));
    assert_eq!((a.severity, a.score), (Severity::Critical, Some(10.0)));
    let a = advisory(json!({"severity": [cvss("CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H")]}));
    assert_eq!((a.severity, a.score, a.vector_type.as_deref()), (Severity::High, Some(7.8), Some("local")));

    // Per-package severities other than Debian's urgency.
    let a = advisory(json!({"affected": [
        {"package": {"ecosystem": "AlmaLinux:9", "name": "a"}, "ecosystem_specific": {"severity": "Moderate"}},
        {"package": {"ecosystem": "AlmaLinux:9", "name": "b"}, "database_specific": {"severity": "Important"}},
        {"package": {"ecosystem": "AlmaLinux:9", "name": "c"}, "ecosystem_specific": {"urgency": "low", "severity": "critical"}},
    ]}));
    let severities: Vec<Option<Severity>> = a.affected.iter().map(|a| a.severity).collect();
    assert_eq!(severities, [Some(Severity::Medium), Some(Severity::High), Some(Severity::Low)]);
    assert_eq!(a.severity, Severity::High);
}

// ---------------------------------------------------------------------------
// Advisory fields
// ---------------------------------------------------------------------------

#[test]
fn cves_come_from_the_id_aliases_upstream_and_related() {
    let a = advisory(json!({
        "id": "DSA-1234-1",
        "upstream": ["CVE-2023-2222", "CVE-2023-1111", "CVE-2023-2222"],
        "aliases": ["DLA-99-1", "CVE-2023-1111"],
        "related": ["CVE-2022-99999", "USN-1-1", "CVE-22-1", " CVE-2021-0001 "],
    }));
    assert_eq!(a.cves, ["CVE-2021-0001", "CVE-2022-99999", "CVE-2023-1111", "CVE-2023-2222"]);
    assert_eq!(advisory(json!({"id": "CVE-2024-0001"})).cves, ["CVE-2024-0001"]);
    for prefix in ["DEBIAN", "UBUNTU", "ALPINE"] {
        let id = format!("{prefix}-CVE-2023-1234");
        let a = advisory(json!({"id": id, "upstream": ["CVE-2023-1234"], "aliases": ["CVE-2023-5678"]}));
        assert_eq!(a.cves, ["CVE-2023-1234", "CVE-2023-5678"], "{prefix}");
    }
    // No CVE anywhere: the advisory's own id.
    assert_eq!(advisory(json!({"id": "USN-6000-1", "related": ["LSN-0001-1"]})).cves, ["USN-6000-1"]);
    assert_eq!(advisory(json!({"id": "ALSA-2023:1234", "aliases": "CVE-2023-1234"})).cves, ["ALSA-2023:1234"]);
}

#[test]
fn summary_falls_back_to_the_first_line_of_details() {
    assert_eq!(advisory(json!({"summary": "s", "details": "d"})).summary.as_deref(), Some("s"));
    let a = advisory(json!({"summary": "  ", "details": "\n\n  First line here  \nsecond line"}));
    assert_eq!(a.summary.as_deref(), Some("First line here"));
    let long = "é".repeat(300);
    let a = advisory(json!({"details": long}));
    assert_eq!(a.summary.as_deref().map(|s| s.chars().count()), Some(200));
    assert_eq!(advisory(json!({"details": " \n "})).summary, None);
    assert_eq!(advisory(json!({})).summary, None);
}

#[test]
fn withdrawn_advisories_are_flagged() {
    assert!(advisory(json!({"withdrawn": "2024-11-05T10:00:00Z"})).withdrawn);
    assert!(!advisory(json!({"withdrawn": null})).withdrawn);
    assert!(!advisory(json!({"withdrawn": ""})).withdrawn);
    assert!(!advisory(json!({})).withdrawn);
}

#[test]
fn invalid_advisories_are_errors_and_odd_fields_are_ignored() {
    assert!(matches!(parse_advisory(b"not json"), Err(OsvError::Json(_))));
    assert!(matches!(parse_advisory(b""), Err(OsvError::Json(_))));
    assert!(matches!(parse_advisory(b"{\"id\": \"X\""), Err(OsvError::Json(_))));
    assert!(matches!(parse_advisory(b"[]"), Err(OsvError::Invalid(_))));
    assert!(matches!(parse_advisory(b"null"), Err(OsvError::Invalid(_))));
    assert!(matches!(parse_advisory(br#"{"modified": "2024-01-01T00:00:00Z"}"#), Err(OsvError::Invalid(_))));
    assert!(matches!(parse_advisory(br#"{"id": "X"}"#), Err(OsvError::Invalid(_))));
    assert!(matches!(parse_advisory(br#"{"id": 5, "modified": "m"}"#), Err(OsvError::Invalid(_))));
    assert!(matches!(parse_advisory(br#"{"id": "", "modified": "m"}"#), Err(OsvError::Invalid(_))));
    let err = parse_advisory(br#"{"id": "X"}"#).unwrap_err().to_string();
    assert!(err.contains('X'), "{err}");
    assert!(parse_advisory(b"nope").unwrap_err().to_string().starts_with("not valid OSV JSON: "));

    let minimal = parse_advisory(br#"{"id": "X-1", "modified": "2024-01-01T00:00:00Z"}"#).unwrap();
    assert_eq!(
        minimal,
        Advisory {
            id: "X-1".into(),
            modified: "2024-01-01T00:00:00Z".into(),
            published: None,
            withdrawn: false,
            summary: None,
            cves: vec!["X-1".into()],
            severity: Severity::Unknown,
            score: None,
            vector_type: None,
            fix_available: false,
            affected: vec![],
        }
    );
    // Fields of the wrong type are treated as absent.
    let odd = advisory(json!({
        "published": 5, "summary": ["x"], "aliases": "CVE-2023-1234", "severity": "high",
        "affected": {"package": "x"}, "database_specific": "high",
    }));
    assert_eq!((odd.published, odd.summary, odd.severity), (None, None, Severity::Unknown));
    assert!(odd.affected.is_empty());
}

#[test]
fn affected_entries_keep_only_distribution_ecosystem_ranges() {
    let a = advisory(json!({"affected": [
        {"package": {"ecosystem": "PyPI", "name": "requests"},
         "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.31.0"}]}]},
        {"package": {"ecosystem": "Debian", "name": "openssl"},
         "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1"}]}]},
        {"package": {"ecosystem": "Debian:12"}},
        {"package": {"name": "openssl"}},
        {"ranges": []},
        "junk",
        {"package": {"ecosystem": "Debian:12", "name": "openssl", "purl": "pkg:deb/debian/openssl?arch=source"},
         "ranges": [
            {"type": "GIT", "repo": "https://example.org/openssl.git", "events": [{"introduced": "0"}, {"fixed": "abc123"}]},
            {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": 3}]},
            {"type": "ECOSYSTEM", "events": [{"introduced": "0", "fixed": "1"}]},
            {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u2"}]},
            {"type": "ECOSYSTEM"},
            {"type": "SEMVER", "events": [{"introduced": "0"}]},
         ],
         "versions": ["3.0.9-1", 7, "3.0.11-1~deb12u1"]},
    ]}));
    assert_eq!(a.affected.len(), 1);
    let only = &a.affected[0];
    assert_eq!(only.ecosystem, "Debian:12");
    assert_eq!(only.distro, distro("Debian", "12"));
    assert_eq!(only.package, "openssl");
    assert_eq!(only.ranges, [vec![Event::Introduced("0".into()), Event::Fixed("3.0.11-1~deb12u2".into())]]);
    assert_eq!(only.versions, ["3.0.9-1", "3.0.11-1~deb12u1"]);
    assert!(a.fix_available);

    // A fix in a dropped ecosystem does not count as an available fix.
    let a = advisory(json!({"affected": [
        {"package": {"ecosystem": "PyPI", "name": "x"},
         "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2"}]}]},
        {"package": {"ecosystem": "Debian:12", "name": "x"},
         "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]},
    ]}));
    assert!(!a.fix_available);
    assert_eq!(a.affected.len(), 1);
}

// ---------------------------------------------------------------------------
// Affected::check
// ---------------------------------------------------------------------------

fn affected(ecosystem: &str, ranges: Value, versions: &[&str]) -> Affected {
    let ranges: Vec<Vec<Event>> = serde_json::from_value(ranges).unwrap();
    Affected {
        ecosystem: ecosystem.to_owned(),
        distro: distro_of_ecosystem(ecosystem).unwrap_or_else(|| distro("PyPI", "1")),
        package: "p".into(),
        ranges,
        versions: versions.iter().map(|v| (*v).to_owned()).collect(),
        severity: None,
    }
}

/// `expected`: None = not affected, Some(None) = affected without a known
/// fix, Some(Some(v)) = affected, fixed in v.
fn assert_check(affected: &Affected, cases: &[(&str, Option<Option<&str>>)]) {
    for (installed, expected) in cases {
        let expected = expected.map(|fixed| fixed.map(str::to_owned));
        assert_eq!(affected.check(installed), expected, "{installed:?} against {affected:?}");
    }
}

#[test]
fn check_introduced_zero_and_fixed() {
    let a = affected("Debian:12", json!([[{"introduced": "0"}, {"fixed": "1.2-1"}]]), &[]);
    assert_check(
        &a,
        &[
            ("0~", Some(Some("1.2-1"))),
            ("1.0-1", Some(Some("1.2-1"))),
            ("1.2~rc1-1", Some(Some("1.2-1"))),
            ("1.2-1", None),
            ("1.2-01", None),
            ("1.2-1+deb12u1", None),
            ("1.3", None),
        ],
    );
    let unfixed = affected("Debian:12", json!([[{"introduced": "0"}]]), &[]);
    assert_check(&unfixed, &[("0", Some(None)), ("99:99", Some(None))]);
    let later = affected("Debian:12", json!([[{"introduced": "1.1-1"}, {"fixed": "1.2-1"}]]), &[]);
    assert_check(&later, &[("1.0-9", None), ("1.1-1", Some(Some("1.2-1"))), ("1.1-5", Some(Some("1.2-1")))]);
}

#[test]
fn check_last_affected_and_limit() {
    let last = affected("Debian:12", json!([[{"introduced": "1.0"}, {"last_affected": "1.5"}]]), &[]);
    assert_check(&last, &[("0.9", None), ("1.0", Some(None)), ("1.5", Some(None)), ("1.5-1", None), ("1.6", None)]);
    let limited = affected("Debian:12", json!([[{"introduced": "0"}, {"limit": "2.0"}]]), &[]);
    assert_check(&limited, &[("1.9", Some(None)), ("2.0", None), ("3.0", None)]);
    let limited_fix = affected(
        "Debian:12",
        json!([[{"introduced": "0"}, {"fixed": "1.5"}, {"introduced": "1.8"}, {"limit": "2.0"}]]),
        &[],
    );
    assert_check(&limited_fix, &[("1.0", Some(Some("1.5"))), ("1.6", None), ("1.9", Some(None)), ("2.1", None)]);
    let infinite = affected("Debian:12", json!([[{"introduced": "1.0"}, {"limit": "*"}]]), &[]);
    assert_check(&infinite, &[("0.9", None), ("9.9", Some(None))]);
}

#[test]
fn check_multiple_ranges() {
    // Two ranges, or the same intervals as two pairs in one event list.
    for ranges in [
        json!([[{"introduced": "0"}, {"fixed": "1.0"}], [{"introduced": "2.0"}, {"fixed": "2.5"}]]),
        json!([[{"introduced": "0"}, {"fixed": "1.0"}, {"introduced": "2.0"}, {"fixed": "2.5"}]]),
        json!([[{"fixed": "2.5"}, {"introduced": "2.0"}, {"fixed": "1.0"}, {"introduced": "0"}]]),
    ] {
        let a = affected("Debian:12", ranges, &[]);
        assert_check(
            &a,
            &[
                ("0.5", Some(Some("1.0"))),
                ("1.0", None),
                ("1.5", None),
                ("2.0", Some(Some("2.5"))),
                ("2.1", Some(Some("2.5"))),
                ("2.5", None),
                ("3.0", None),
            ],
        );
    }
    // A fix that another range reopens is skipped.
    let overlapping = affected(
        "Debian:12",
        json!([[{"introduced": "0"}, {"fixed": "2.0"}], [{"introduced": "1.5"}, {"fixed": "3.0"}]]),
        &[],
    );
    assert_check(&overlapping, &[("1.0", Some(Some("3.0"))), ("1.7", Some(Some("3.0"))), ("2.5", Some(Some("3.0")))]);
    let reopened_forever =
        affected("Debian:12", json!([[{"introduced": "0"}, {"fixed": "2.0"}], [{"introduced": "1.5"}]]), &[]);
    assert_check(&reopened_forever, &[("1.0", Some(None)), ("1.7", Some(None))]);
    // last_affected in one range, a fix in another: the fix ends both.
    let mixed = affected(
        "Debian:12",
        json!([[{"introduced": "0"}, {"last_affected": "1.5"}], [{"introduced": "0"}, {"fixed": "2.0"}]]),
        &[],
    );
    assert_check(&mixed, &[("1.0", Some(Some("2.0"))), ("1.8", Some(Some("2.0"))), ("2.0", None)]);
    // A fix below the installed version is no fix for it.
    let reintroduced =
        affected("Debian:12", json!([[{"introduced": "0"}, {"fixed": "1.0"}, {"introduced": "1.5"}]]), &[]);
    assert_check(&reintroduced, &[("0.5", Some(Some("1.0"))), ("1.2", None), ("2.0", Some(None))]);
    // The lowest of several fixes above the installed version.
    let several = affected(
        "Debian:12",
        json!([[{"introduced": "0"}, {"fixed": "1.4"}], [{"introduced": "0"}, {"fixed": "1.2"}]]),
        &[],
    );
    assert_check(&several, &[("1.0", Some(Some("1.4"))), ("1.3", Some(Some("1.4")))]);
}

#[test]
fn check_explicit_versions() {
    let listed = affected("Debian:12", json!([]), &["6.4-2", "6.4-4"]);
    assert_check(&listed, &[("6.4-4", Some(None)), ("6.4-04", Some(None)), ("6.4-3", None), ("6.4-4+b1", None)]);
    // A listed version is affected even outside the ranges; a listed fix is no fix.
    let both = affected("Debian:12", json!([[{"introduced": "0"}, {"fixed": "2.0"}]]), &["2.2"]);
    assert_check(&both, &[("1.0", Some(Some("2.0"))), ("2.2", Some(None)), ("2.1", None)]);
    let listed_fix = affected("Debian:12", json!([[{"introduced": "0"}, {"fixed": "2.0"}]]), &["2.0"]);
    assert_check(&listed_fix, &[("1.0", Some(None)), ("2.0", Some(None))]);
    assert_check(&affected("Debian:12", json!([]), &[]), &[("1.0", None), ("", None)]);
}

#[test]
fn check_uses_each_distribution_ordering() {
    let epoch = affected("Debian:12", json!([[{"introduced": "0"}, {"fixed": "1:1.0-1"}]]), &[]);
    assert_check(&epoch, &[("2.0-1", Some(Some("1:1.0-1"))), ("1:0.9-1", Some(Some("1:1.0-1"))), ("2:0.1-1", None)]);
    let no_epoch = affected("Debian:12", json!([[{"introduced": "0"}, {"fixed": "1.2.13.dfsg-2"}]]), &[]);
    assert_check(&no_epoch, &[("1.2.13.dfsg-1", Some(Some("1.2.13.dfsg-2"))), ("1:1.2.13.dfsg-1", None)]);
    let tilde = affected("Ubuntu:22.04:LTS", json!([[{"introduced": "0"}, {"fixed": "1.1.7-0ubuntu1~22.04.2"}]]), &[]);
    assert_check(
        &tilde,
        &[
            ("1.1.7-0ubuntu1~22.04.1", Some(Some("1.1.7-0ubuntu1~22.04.2"))),
            ("1.1.7-0ubuntu1~22.04.2", None),
            ("1.1.7-0ubuntu1", None),
        ],
    );
    let apk = affected("Alpine:v3.18", json!([[{"introduced": "0"}, {"fixed": "3.1.4-r1"}]]), &[]);
    assert_check(
        &apk,
        &[
            ("3.1.4-r0", Some(Some("3.1.4-r1"))),
            ("3.1.4_rc1-r0", Some(Some("3.1.4-r1"))),
            ("3.1.4-r1", None),
            ("3.1.4_p1-r0", None),
            ("3.1.4-r10", None),
        ],
    );
    let rpm = affected(
        "Red Hat:enterprise_linux:9::appstream",
        json!([[{"introduced": "0"}, {"fixed": "1:3.0.7-25.el9_3"}]]),
        &[],
    );
    assert_check(
        &rpm,
        &[
            ("1:3.0.7-24.el9", Some(Some("1:3.0.7-25.el9_3"))),
            ("3.0.7-27.el9", Some(Some("1:3.0.7-25.el9_3"))),
            ("1:3.0.7-27.el9", None),
        ],
    );
    // No ordering for the distribution: nothing can be decided, so nothing is affected.
    let unordered = affected("PyPI", json!([[{"introduced": "0"}]]), &["1.0"]);
    assert_check(&unordered, &[("1.0", None)]);
}

#[test]
fn upstream_versions() {
    for (scheme, version, expected) in [
        (Scheme::Dpkg, "1:2.36.1-8+deb12u1", "2.36.1"),
        (Scheme::Dpkg, "2.36-9+deb12u3", "2.36"),
        (Scheme::Dpkg, "3.0.11-1~deb12u2", "3.0.11"),
        (Scheme::Dpkg, "1:1.2.13.dfsg-1", "1.2.13.dfsg"),
        (Scheme::Dpkg, "2:8.2.3995-1ubuntu2.11", "8.2.3995"),
        (Scheme::Dpkg, "1.1.7-0ubuntu1~22.04.1", "1.1.7"),
        (Scheme::Dpkg, "2:1.0-rc1-1", "1.0-rc1"),
        (Scheme::Dpkg, "20230311ubuntu0.22.04.1", "20230311ubuntu0.22.04.1"),
        (Scheme::Dpkg, "a:1.0-1", "a:1.0"),
        (Scheme::Dpkg, ":1.0-1", ":1.0"),
        (Scheme::Dpkg, " 1.0-1 ", "1.0"),
        (Scheme::Dpkg, "", ""),
        (Scheme::Rpm, "1:3.0.7-24.el9", "3.0.7"),
        (Scheme::Rpm, "3.0.7-24.el9", "3.0.7"),
        (Scheme::Rpm, "3.0.7", "3.0.7"),
        (Scheme::Rpm, ":1.0-1", "1.0"),
        (Scheme::Apk, "3.1.4-r5", "3.1.4"),
        (Scheme::Apk, "9.3_p2-r1", "9.3_p2"),
        (Scheme::Apk, "6.4_p20230506-r0", "6.4_p20230506"),
        (Scheme::Apk, "1.0", "1.0"),
        (Scheme::Apk, "1.0-r", "1.0-r"),
        (Scheme::Apk, "1.0-rc1", "1.0-rc1"),
        (Scheme::Apk, "", ""),
    ] {
        assert_eq!(upstream_version(scheme, version), expected, "{scheme:?} {version:?}");
    }
}

// ---------------------------------------------------------------------------
// Fixture hosts
// ---------------------------------------------------------------------------

/// `KEY=value` lines of an os-release file, unquoted.
fn os_release(path: &Path) -> BTreeMap<String, String> {
    fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter_map(|line| line.split_once('='))
        .map(|(key, value)| (key.to_owned(), value.trim_matches('"').to_owned()))
        .collect()
}

/// (source package, source version) of every installed package in a dpkg
/// status file. A binary's `Source: name (version)` names its source version
/// when it differs from the binary's (binNMUs); packages that are not
/// installed (`deinstall ok config-files`) are skipped.
fn dpkg_inventory(path: &Path) -> BTreeSet<(String, String)> {
    let text = fs::read_to_string(path).unwrap();
    let mut inventory = BTreeSet::new();
    for stanza in text.split("\n\n").filter(|s| !s.trim().is_empty()) {
        let field = |name: &str| {
            stanza.lines().find_map(|line| line.strip_prefix(name).and_then(|rest| rest.strip_prefix(": ")))
        };
        if field("Status") != Some("install ok installed") {
            continue;
        }
        let (package, version) = (field("Package").unwrap(), field("Version").unwrap());
        let (source, source_version) = match field("Source") {
            None => (package, version),
            Some(source) => match source.split_once(" (") {
                Some((name, version)) => (name, version.trim_end_matches(')')),
                None => (source, version),
            },
        };
        inventory.insert((source.to_owned(), source_version.to_owned()));
    }
    inventory
}

/// (origin, version) of every package in an apk installed database.
fn apk_inventory(path: &Path) -> BTreeSet<(String, String)> {
    let text = fs::read_to_string(path).unwrap();
    let mut inventory = BTreeSet::new();
    for block in text.split("\n\n").filter(|s| !s.trim().is_empty()) {
        let field = |key: char| block.lines().find_map(|line| line.strip_prefix(key)?.strip_prefix(':'));
        let (name, version) = (field('P').unwrap(), field('V').unwrap());
        inventory.insert((field('o').unwrap_or(name).to_owned(), version.to_owned()));
    }
    inventory
}

type Finding = (String, String, String, String, String);

/// The expected findings of one host: the table under `### <host>` in the
/// fixtures README.
fn readme_findings(host: &str) -> BTreeSet<Finding> {
    let readme = fs::read_to_string(Path::new(FIXTURES).join("README.md")).unwrap();
    let heading = format!("### {host}");
    let section = readme.split_once(&heading).unwrap_or_else(|| panic!("README has no {heading}")).1;
    let mut rows = BTreeSet::new();
    for line in section.lines().skip_while(|line| !line.starts_with('|')).take_while(|line| line.starts_with('|')) {
        let cells: Vec<String> =
            line.trim_matches('|').split('|').map(|cell| cell.trim().trim_matches('`').to_owned()).collect();
        if cells[0] == "Advisory" || cells[0].starts_with("---") {
            continue;
        }
        let [advisory, cves, package, installed, fixed] = <[String; 5]>::try_from(cells).unwrap();
        rows.insert((advisory, cves, package, installed, fixed));
    }
    rows
}

#[test]
fn fixture_hosts_have_exactly_the_documented_findings() {
    let advisories = fixture_advisories();
    for (host, expected_distro, expected_count) in [
        ("debian-12", distro("Debian", "12"), 4),
        ("ubuntu-22.04", distro("Ubuntu", "22.04"), 4),
        ("alpine-3.18", distro("Alpine", "3.18"), 3),
    ] {
        let root = Path::new(FIXTURES).join("hosts").join(host);
        let release = os_release(&root.join("etc/os-release"));
        let host_distro = distro_of_os_release(&release["ID"], &release["VERSION_ID"]).unwrap();
        assert_eq!(host_distro, expected_distro, "{host}");
        let inventory = match host_distro.scheme() {
            Some(Scheme::Apk) => apk_inventory(&root.join("lib/apk/db/installed")),
            _ => dpkg_inventory(&root.join("var/lib/dpkg/status")),
        };
        assert!(inventory.len() >= 8, "{host}: {inventory:?}");

        let mut found = BTreeSet::new();
        for (_, _, advisory) in advisories.iter().filter(|(_, _, a)| !a.withdrawn) {
            for affected in advisory.affected.iter().filter(|a| a.distro == host_distro) {
                for (_, installed) in inventory.iter().filter(|(name, _)| *name == affected.package) {
                    if let Some(fixed) = affected.check(installed) {
                        found.insert((
                            advisory.id.clone(),
                            advisory.cves.join(", "),
                            affected.package.clone(),
                            installed.clone(),
                            fixed.unwrap_or_else(|| "—".to_owned()),
                        ));
                    }
                }
            }
        }
        let expected = readme_findings(host);
        assert_eq!(expected.len(), expected_count, "{host}: README table");
        assert_eq!(found, expected, "{host}");
    }
}

#[test]
fn fixture_hosts_have_identity_files() {
    for host in ["debian-12", "ubuntu-22.04", "alpine-3.18"] {
        let root = Path::new(FIXTURES).join("hosts").join(host);
        let machine_id = fs::read_to_string(root.join("etc/machine-id")).unwrap();
        assert_eq!(machine_id.trim().len(), 32, "{host}");
        assert!(machine_id.trim().bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase()), "{host}");
        for file in ["proc/sys/kernel/hostname", "proc/sys/kernel/osrelease"] {
            assert!(!fs::read_to_string(root.join(file)).unwrap().trim().is_empty(), "{host} {file}");
        }
        assert!(os_release(&root.join("etc/os-release")).contains_key("PRETTY_NAME"), "{host}");
    }
}

// ---------------------------------------------------------------------------
// Robustness
// ---------------------------------------------------------------------------

#[test]
fn truncated_fixtures_never_panic() {
    for (_, path, _) in fixture_advisories() {
        let bytes = fs::read(path).unwrap();
        for end in 0..bytes.len() {
            let _ = parse_advisory(&bytes[..end]);
        }
    }
}

/// Words that mean something to the parser, so that random documents reach
/// deep into it.
const WORDS: &[&str] = &[
    "id",
    "modified",
    "published",
    "withdrawn",
    "aliases",
    "upstream",
    "related",
    "summary",
    "details",
    "severity",
    "type",
    "score",
    "affected",
    "package",
    "ecosystem",
    "name",
    "ranges",
    "events",
    "introduced",
    "fixed",
    "last_affected",
    "limit",
    "versions",
    "ecosystem_specific",
    "database_specific",
    "urgency",
    "ECOSYSTEM",
    "CVSS_V3",
    "Ubuntu",
    "Debian:12",
    "Ubuntu:Pro:18.04:LTS",
    "Alpine:v3.18",
    "Red Hat:enterprise_linux:9::appstream",
    "AlmaLinux:9",
    "0",
    "*",
    "1.0-1",
    "1:1.0",
    "3.1.4-r1",
    "1.0~rc1",
    "CVE-2023-1234",
    "DEBIAN-CVE-2023-1234",
    "high",
    "not yet assigned",
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
    "CVSS:3.0/AV:P/AC:H/PR:H/UI:R/S:C/C:L/I:N/A:N",
    "CVSS:3.1/AV:N",
    "",
    "é\u{0}\u{202e}",
];

fn json_value() -> impl Strategy<Value = Value> {
    let word = proptest::sample::select(WORDS).prop_map(|w| w.to_owned());
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<f64>().prop_map(|f| json!(f)),
        word.clone().prop_map(Value::String),
        "\\PC{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 6, move |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(word.clone(), inner, 0..8)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

proptest! {
    #[test]
    fn random_documents_never_panic(mut doc in json_value(), id in any::<bool>(), installed in "\\PC{0,12}") {
        if id && let Value::Object(map) = &mut doc {
            map.insert("id".into(), json!("X-1"));
            map.insert("modified".into(), json!("2024-01-01T00:00:00Z"));
        }
        if let Ok(advisory) = parse_advisory(doc.to_string().as_bytes()) {
            prop_assert!(!advisory.cves.is_empty());
            for affected in &advisory.affected {
                let _ = affected.check(&installed);
                for version in affected.ranges.iter().flatten().map(Event::version).chain(affected.versions.iter().map(String::as_str)) {
                    let _ = affected.check(version);
                }
            }
        }
    }

    #[test]
    fn random_cvss_vectors_never_panic(
        version in "3\\.[0-2]",
        metrics in proptest::collection::vec((
            proptest::sample::select(&["AV", "AC", "PR", "UI", "S", "C", "I", "A", "E", "RL", "RC", "CR", "IR", "AR",
                "MAV", "MAC", "MPR", "MUI", "MS", "MC", "MI", "MA", "Q"][..]),
            proptest::sample::select(&["N", "L", "H", "A", "P", "R", "U", "C", "X", "F", "O", "T", "W", "M", "n", ""][..]),
        ), 0..12),
        junk in "\\PC{0,8}",
    ) {
        let metrics: Vec<String> = metrics.into_iter().map(|(k, v)| format!("{k}:{v}")).collect();
        let vector = format!("CVSS:{version}/{}{junk}", metrics.join("/"));
        let a = advisory(json!({"severity": [{"type": "CVSS_V3", "score": vector}]}));
        prop_assert!(a.score.is_none_or(|score| (0.0..=10.0).contains(&score)));
        prop_assert_eq!(a.score.is_some(), a.vector_type.is_some());
    }

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..256)) {
        let _ = parse_advisory(&bytes);
    }
}
