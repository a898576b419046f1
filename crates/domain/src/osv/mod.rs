//! OSV advisories for Linux distributions: parsing, and deciding whether an
//! installed package version is affected.
//!
//! This module exists so that the rest of tlink sees an advisory from the
//! OSV feeds of Debian, Ubuntu, Alpine, Red Hat, Rocky Linux and AlmaLinux as
//! one small, already-interpreted value ([`Advisory`]): which CVEs it is
//! about, how severe it is, which source packages of which distribution
//! releases it affects, and, for an installed version, whether that version
//! is affected and which version fixes it ([`Affected::check`]). Version
//! ordering and OSV's range evaluation are [`pkgver`]'s; this module decides
//! what to feed them.
//!
//! Advisories are outside input, so nothing here panics and little is
//! fatal: only text that is not JSON, or an advisory without an `id` or a
//! `modified` timestamp, is rejected ([`OsvError`]). Everything else that is
//! malformed is dropped at the smallest scope that keeps the rest correct:
//! an `affected` entry for an ecosystem that is not a distribution release
//! this module orders, a range whose events are not OSV events, a severity
//! that is not understood.
//!
//! # Severity
//!
//! [`Advisory::severity`] takes the first of these that says something:
//!
//! 1. a CVSS v3.0/v3.1 vector in `severity[]` (type `CVSS_V3`, or any entry
//!    whose score starts with `CVSS:3.`): its base score, computed here, rated
//!    as CVSS 3.1 rates it (0.1–3.9 low, 4.0–6.9 medium, 7.0–8.9 high,
//!    9.0–10.0 critical). A vector is used only when all eight base metrics
//!    are present. A score of 0.0 (rating "none") says nothing, so the next
//!    source decides;
//! 2. a `severity[]` entry of type `Ubuntu`, whose score is Ubuntu's
//!    priority word (`negligible` … `critical`);
//! 3. the top-level `database_specific.severity`;
//! 4. the highest per-package severity ([`Affected::severity`]: Debian's
//!    `ecosystem_specific.urgency`, or an `ecosystem_specific` or
//!    `database_specific` `severity`);
//! 5. [`Severity::Unknown`].
//!
//! The vendor's own vector comes first because it is the most precise and
//! the only one comparable across distributions; a distribution's word comes
//! next because it is a deliberate judgement about that distribution's
//! build. CVSS v2 and v4 vectors are not used.
//!
//! # CVEs
//!
//! Distribution advisories are keyed by the distribution's own ids
//! (`DSA-5532-1`, `USN-6429-1`, `DEBIAN-CVE-2023-4641`, `ALPINE-CVE-…`), but
//! people search, alert and deduplicate by CVE. [`Advisory::cves`] holds every
//! well-formed CVE id (`CVE-YYYY-NNNN…`) the advisory names: its own id, the
//! CVE embedded in a `PREFIX-CVE-…` id, and the CVE ids in `aliases`,
//! `upstream` and `related`, sorted and deduplicated. An advisory that names
//! no CVE at all is listed under its own id, so the list is never empty.
//!
//! # Distribution releases
//!
//! An advisory applies to a host when an `affected` entry names the release
//! the host runs. [`distro_of_ecosystem`] and [`distro_of_os_release`] reduce
//! both sides to the same [`Distro`]: a family and a release as the
//! distribution's security team tracks it (`12`, `22.04`, `3.18`, `9`).
//! Ubuntu's Pro, FIPS and LTS qualifiers are dropped, so `Ubuntu:Pro:18.04:LTS`
//! and `Ubuntu:18.04:LTS` are the same release; Red Hat and its rebuilds
//! track major releases, so `9.3` is `9`.
//!
//! Severity (the scale, CVSS v3 scoring and the precedence above) is in
//! `severity.rs`, and distribution releases in `distro.rs`; this file reads
//! an advisory and decides whether a version is affected.

mod distro;
mod severity;

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::pkgver::{self, Event, Scheme};

pub use distro::{Distro, distro_of_ecosystem, distro_of_os_release};
pub use severity::Severity;

use severity::{advisory_severity, cvss_v3, known_severity};

/// One OSV advisory, reduced to what matching and reporting need.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Advisory {
    /// The advisory's id (`DSA-5532-1`, `UBUNTU-CVE-2023-5363`, …).
    pub id: String,
    /// When it was last modified, as written in the file (RFC 3339).
    pub modified: String,
    /// When it was published, as written in the file, if it says.
    pub published: Option<String>,
    /// Whether it has been withdrawn (it has a `withdrawn` timestamp); a
    /// withdrawn advisory affects nothing.
    pub withdrawn: bool,
    /// Its `summary`, else the first non-blank line of `details` cut to 200
    /// characters.
    pub summary: Option<String>,
    /// The CVE ids it covers, sorted and deduplicated (see the module
    /// documentation); its own id when it names no CVE.
    pub cves: Vec<String>,
    /// Its severity, by the precedence in the module documentation.
    pub severity: Severity,
    /// The CVSS v3 base score, when a complete CVSS v3.x vector is given.
    pub score: Option<f64>,
    /// The CVSS v3 attack vector: `"network"`, `"adjacent_network"`,
    /// `"local"` or `"physical"`.
    pub vector_type: Option<String>,
    /// Whether any kept `affected` entry has a `fixed` event.
    pub fix_available: bool,
    /// The affected packages of distribution releases this module orders;
    /// entries for other ecosystems are dropped.
    pub affected: Vec<Affected>,
}

/// One affected source package of one distribution release.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Affected {
    /// The OSV ecosystem, as written (`"Ubuntu:Pro:18.04:LTS"`).
    pub ecosystem: String,
    /// The release the ecosystem names.
    pub distro: Distro,
    /// The source package name (Debian and Ubuntu source package, Alpine
    /// origin, RPM source name).
    pub package: String,
    /// The events of each `ECOSYSTEM` range, in the order written. Ranges of
    /// other types are ignored; a range with an event that is not an OSV
    /// event is dropped.
    pub ranges: Vec<Vec<Event>>,
    /// Versions listed as affected.
    pub versions: Vec<String>,
    /// This package's own severity, when the entry gives one that is not
    /// unknown: Debian's `ecosystem_specific.urgency`, else
    /// `ecosystem_specific.severity`, else `database_specific.severity`.
    pub severity: Option<Severity>,
}

impl Affected {
    /// Whether `installed` (a version of [`Affected::package`] on a host of
    /// [`Affected::distro`]) is affected, and by which version it is fixed.
    ///
    /// `None` when it is not affected: no range contains it and
    /// [`Affected::versions`] does not list it (versions compare as the
    /// distribution's package manager compares them, so `1.0` and `1.00`
    /// match under dpkg), or the distribution has no version ordering.
    ///
    /// Otherwise `Some(fixed)`. `fixed` is the lowest `fixed` version above
    /// `installed` that is itself not affected by any range or listed
    /// version; with one range that is simply the range's fix, and with
    /// several it skips a fix that another range reopens. It is `None` when
    /// no fix is known: the containing range is open-ended or ends with
    /// `last_affected`, or `installed` is affected only because it is
    /// listed in `versions`.
    pub fn check(&self, installed: &str) -> Option<Option<String>> {
        let scheme = self.distro.scheme()?;
        let in_ranges = self.ranges.iter().any(|events| pkgver::affected_by_events(scheme, installed, events));
        if !in_ranges && !self.is_listed(scheme, installed) {
            return None;
        }
        if !in_ranges {
            return Some(None);
        }
        let mut best: Option<&str> = None;
        for fix in self.ranges.iter().flatten().filter_map(|event| match event {
            Event::Fixed(fixed) => Some(fixed.as_str()),
            _ => None,
        }) {
            let above = pkgver::compare(scheme, fix, installed) == Ordering::Greater;
            let lower = best.is_none_or(|best| pkgver::compare(scheme, fix, best) == Ordering::Less);
            if above && lower && !self.is_affected(scheme, fix) {
                best = Some(fix);
            }
        }
        Some(best.map(str::to_owned))
    }

    fn is_listed(&self, scheme: Scheme, version: &str) -> bool {
        self.versions.iter().any(|listed| pkgver::compare(scheme, listed, version) == Ordering::Equal)
    }

    fn is_affected(&self, scheme: Scheme, version: &str) -> bool {
        self.is_listed(scheme, version)
            || self.ranges.iter().any(|events| pkgver::affected_by_events(scheme, version, events))
    }
}

/// Why an advisory could not be read.
#[derive(Debug, thiserror::Error)]
pub enum OsvError {
    /// The bytes are not JSON.
    #[error("not valid OSV JSON: {0}")]
    Json(String),
    /// The JSON is not an OSV advisory (not an object, or no `id` or
    /// `modified`).
    #[error("{0}")]
    Invalid(String),
}

/// Parses one OSV advisory (a JSON object, as osv.dev publishes one per
/// file).
///
/// Only a missing `id` or `modified` (or a non-object) is an error; fields of
/// the wrong type are treated as absent, and `affected` entries for
/// ecosystems that [`distro_of_ecosystem`] does not map are dropped.
///
/// ```
/// use tlink_domain::osv::{Severity, parse_advisory};
///
/// let advisory = parse_advisory(br#"{
///     "id": "DEBIAN-CVE-2023-4911",
///     "modified": "2024-01-01T00:00:00Z",
///     "upstream": ["CVE-2023-4911"],
///     "affected": [{
///         "package": {"ecosystem": "Debian:12", "name": "glibc"},
///         "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "2.36-9+deb12u3"}]}],
///         "ecosystem_specific": {"urgency": "high"}
///     }]
/// }"#)?;
/// assert_eq!(advisory.cves, ["CVE-2023-4911"]);
/// assert_eq!(advisory.severity, Severity::High);
/// let glibc = &advisory.affected[0];
/// assert_eq!(glibc.distro.key(), "Debian:12");
/// assert_eq!(glibc.check("2.36-9+deb12u2"), Some(Some("2.36-9+deb12u3".to_owned())));
/// assert_eq!(glibc.check("2.36-9+deb12u3"), None);
/// # Ok::<(), tlink_domain::osv::OsvError>(())
/// ```
pub fn parse_advisory(bytes: &[u8]) -> Result<Advisory, OsvError> {
    let value: Value = serde_json::from_slice(bytes).map_err(|e| OsvError::Json(e.to_string()))?;
    let Value::Object(doc) = value else {
        return Err(OsvError::Invalid("an OSV advisory is a JSON object".to_owned()));
    };
    let id = non_empty_str(&doc, "id").ok_or_else(|| OsvError::Invalid("the advisory has no id".to_owned()))?;
    let modified = non_empty_str(&doc, "modified")
        .ok_or_else(|| OsvError::Invalid(format!("advisory {id} has no modified timestamp")))?;

    let affected: Vec<Affected> =
        doc.get("affected").and_then(Value::as_array).into_iter().flatten().filter_map(parse_affected).collect();
    let cvss = doc
        .get("severity")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|entry| entry.as_object())
        .find_map(|entry| cvss_v3(str_field(entry, "type").unwrap_or_default(), str_field(entry, "score")?));
    let severity = advisory_severity(&doc, cvss.as_ref().map(|c| c.score), &affected);

    Ok(Advisory {
        cves: cves_of(id, &doc),
        id: id.to_owned(),
        modified: modified.to_owned(),
        published: non_empty_str(&doc, "published").map(str::to_owned),
        withdrawn: match doc.get("withdrawn") {
            None | Some(Value::Null) => false,
            Some(Value::String(s)) => !s.trim().is_empty(),
            Some(_) => true,
        },
        summary: summary_of(&doc),
        severity,
        score: cvss.as_ref().map(|c| c.score),
        vector_type: cvss.map(|c| c.attack_vector.to_owned()),
        fix_available: affected.iter().flat_map(|a| a.ranges.iter().flatten()).any(|e| matches!(e, Event::Fixed(_))),
        affected,
    })
}

fn str_field<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    object.get(key).and_then(Value::as_str)
}

fn non_empty_str<'a>(object: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    str_field(object, key).map(str::trim).filter(|s| !s.is_empty())
}

/// The longest summary kept when it is taken from `details`, in characters.
const SUMMARY_MAX_CHARS: usize = 200;

fn summary_of(doc: &Map<String, Value>) -> Option<String> {
    if let Some(summary) = non_empty_str(doc, "summary") {
        return Some(summary.to_owned());
    }
    let line = str_field(doc, "details")?.lines().map(str::trim).find(|line| !line.is_empty())?;
    Some(line.chars().take(SUMMARY_MAX_CHARS).collect())
}

/// Whether `s` is a CVE id: `CVE-`, a four-digit year, `-`, four or more
/// digits.
fn is_cve(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("CVE-") else { return false };
    let Some((year, number)) = rest.split_once('-') else { return false };
    year.len() == 4
        && year.bytes().all(|c| c.is_ascii_digit())
        && number.len() >= 4
        && number.bytes().all(|c| c.is_ascii_digit())
}

/// The CVE an id is or embeds: `CVE-2023-1234` itself, or the CVE after a
/// single alphanumeric prefix, as in `DEBIAN-CVE-2023-1234`.
fn cve_in_id(id: &str) -> Option<&str> {
    if is_cve(id) {
        return Some(id);
    }
    let (prefix, cve) = id.split_once('-')?;
    (!prefix.is_empty() && prefix.bytes().all(|c| c.is_ascii_alphanumeric()) && is_cve(cve)).then_some(cve)
}

fn cves_of(id: &str, doc: &Map<String, Value>) -> Vec<String> {
    let listed = ["aliases", "upstream", "related"]
        .into_iter()
        .filter_map(|key| doc.get(key).and_then(Value::as_array))
        .flatten()
        .filter_map(Value::as_str)
        .map(str::trim)
        .filter(|s| is_cve(s));
    let mut cves: Vec<String> = cve_in_id(id).into_iter().chain(listed).map(str::to_owned).collect();
    cves.sort();
    cves.dedup();
    if cves.is_empty() {
        cves.push(id.to_owned());
    }
    cves
}

fn parse_affected(entry: &Value) -> Option<Affected> {
    let entry = entry.as_object()?;
    let package = entry.get("package")?.as_object()?;
    let ecosystem = non_empty_str(package, "ecosystem")?;
    let name = non_empty_str(package, "name")?;
    let distro = distro_of_ecosystem(ecosystem)?;
    distro.scheme()?;

    let ranges = entry
        .get("ranges")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_object)
        .filter(|range| str_field(range, "type") == Some("ECOSYSTEM"))
        .filter_map(|range| {
            let events = range.get("events")?.as_array()?;
            events.iter().map(|event| serde_json::from_value::<Event>(event.clone()).ok()).collect()
        })
        .collect();
    let versions = entry
        .get("versions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();

    let object = |key: &str| entry.get(key).and_then(Value::as_object);
    let severity = object("ecosystem_specific")
        .and_then(|eco| str_field(eco, "urgency").and_then(known_severity))
        .or_else(|| object("ecosystem_specific").and_then(|eco| str_field(eco, "severity").and_then(known_severity)))
        .or_else(|| object("database_specific").and_then(|db| str_field(db, "severity").and_then(known_severity)));

    Some(Affected { ecosystem: ecosystem.to_owned(), distro, package: name.to_owned(), ranges, versions, severity })
}

/// The upstream part of a package version under `scheme`: the version
/// without the epoch and the distribution's revision.
///
/// - dpkg: `1:2.36.1-8+deb12u1` → `2.36.1` (the epoch is the digits before
///   the first `:`, the revision everything after the last `-`);
/// - rpm: `1:3.0.7-24.el9` → `3.0.7` (the release is everything after the
///   last `-`);
/// - apk: `3.1.4-r5` → `3.1.4` (only a trailing `-r<digits>` is removed).
///
/// Surrounding whitespace is dropped; a version without those parts is
/// returned as it is.
pub fn upstream_version(scheme: Scheme, version: &str) -> &str {
    let version = version.trim();
    match scheme {
        Scheme::Dpkg | Scheme::Rpm => {
            // dpkg needs at least one epoch digit; rpm reads `:1.0` as epoch 0.
            let rest = match version.split_once(':') {
                Some((epoch, rest))
                    if epoch.bytes().all(|c| c.is_ascii_digit()) && (scheme == Scheme::Rpm || !epoch.is_empty()) =>
                {
                    rest
                }
                _ => version,
            };
            rest.rsplit_once('-').map_or(rest, |(upstream, _)| upstream)
        }
        Scheme::Apk => match version.rsplit_once("-r") {
            Some((upstream, revision)) if !revision.is_empty() && revision.bytes().all(|c| c.is_ascii_digit()) => {
                upstream
            }
            _ => version,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cve_ids_are_recognised_strictly() {
        assert!(is_cve("CVE-2023-4911"));
        assert!(is_cve("CVE-2021-1234567"));
        assert!(!is_cve("CVE-2023-491"));
        assert!(!is_cve("CVE-23-4911"));
        assert!(!is_cve("cve-2023-4911"));
        assert!(!is_cve("CVE-2023-4911a"));
        assert!(!is_cve("GHSA-xxxx-yyyy-zzzz"));
        assert_eq!(cve_in_id("DEBIAN-CVE-2023-4641"), Some("CVE-2023-4641"));
        assert_eq!(cve_in_id("UBUNTU-CVE-2024-21626"), Some("CVE-2024-21626"));
        assert_eq!(cve_in_id("CVE-2024-21626"), Some("CVE-2024-21626"));
        assert_eq!(cve_in_id("DSA-5532-1"), None);
        assert_eq!(cve_in_id("-CVE-2023-4641"), None);
        assert_eq!(cve_in_id("A-B-CVE-2023-4641"), None);
        assert_eq!(cve_in_id("ALPINE-CVE-2023"), None);
    }
}
