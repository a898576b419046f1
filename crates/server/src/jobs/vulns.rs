//! Vulnerability matching: an agent's installed packages against the OSV advisories of its distribution
//! release, with the distribution's own version ordering ([`tlink_domain::pkgver`]).
//!
//! - A package is looked up by its source package name and version (what Debian, Ubuntu and Alpine
//!   advisories name), falling back to its own; an advisory's affected entry decides with its ranges and versions
//!   ([`tlink_domain::osv::Affected::check`]).
//! - A finding is one (CVE, source package) on one agent. When several advisories cover it (a DSA and the
//!   CVE's own entry), their ids are listed, the highest fixed version and the highest severity win.
//! - Matching runs when an agent sends an inventory (on its first report and whenever the inventory changes)
//!   and, for every agent, after `tlink vulndb import`. It replaces the agent's findings in one transaction.
//! - A finding that is new for the agent, and not suppressed, is evaluated against the org's alert rules on
//!   the `vulnerability` pseudo-tool; the document the rules see is:
//!
//! | field | example |
//! |---|---|
//! | `cve` | `"CVE-2023-5363"` |
//! | `package`, `binaryPackage` | `"openssl"`, `"libssl3"` |
//! | `installedVersion`, `fixedVersion` | `"3.0.11-1~deb12u1"`, `"3.0.11-1~deb12u2"` (or `null`) |
//! | `fixAvailable` | `true` |
//! | `severity`, `severityLevel` | `"high"`, `4` (unknown 0, negligible 1, low 2, medium 3, high 4, critical 5) |
//! | `vectorType` | `"network"` |
//! | `advisories` | `["DSA-5532-1"]` |
//! | `distro` | `"Debian:12"` |
//! | `agent.id`, `agent.hostname` | |
//!
//! so `severityLevel gte 4` alerts on high and critical vulnerabilities.

use std::cmp::Ordering;
use std::collections::{BTreeMap, HashMap, HashSet};

use serde_json::json;
use tlink_domain::osv::{self, Affected, Severity};
use tlink_domain::pkgver;
use tlink_store::{AdvisoryImport, AgentRow, DbError, Finding, ImportOutcome, decode_json};

use crate::AppState;
use tlink_domain::Package;

/// What one match run found.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct MatchSummary {
    pub findings: usize,
    /// Findings the agent did not have before.
    pub new: usize,
    pub alerts: usize,
}

/// A severity as a number that rules can compare (unknown 0 … critical 5).
pub fn severity_level(s: Severity) -> i64 {
    match s {
        Severity::Unknown => 0,
        Severity::Negligible => 1,
        Severity::Low => 2,
        Severity::Medium => 3,
        Severity::High => 4,
        Severity::Critical => 5,
    }
}

/// What importing one advisory file did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Imported {
    Stored(ImportOutcome),
    /// No affected entry for a distribution release tlink matches (e.g. a language ecosystem).
    OtherEcosystem,
}

/// Parses one OSV advisory and stores it (see `tlink_store::vulns` for idempotence). The error says why the
/// file is not valid OSV.
pub async fn import_advisory(state: &AppState, bytes: &[u8]) -> anyhow::Result<Result<Imported, String>> {
    let a = match osv::parse_advisory(bytes) {
        Ok(a) => a,
        Err(e) => return Ok(Err(e.to_string())),
    };
    if a.affected.is_empty() && !a.withdrawn {
        return Ok(Ok(Imported::OtherEcosystem));
    }
    let record = AdvisoryImport {
        id: a.id.clone(),
        modified: a.modified.clone(),
        published: a.published.clone(),
        summary: a.summary.clone(),
        cves: json!(a.cves).to_string(),
        severity: a.severity.as_str().to_string(),
        score: a.score,
        vector_type: a.vector_type.clone(),
        fix_available: a.fix_available,
        affected: a
            .affected
            .iter()
            .map(|f| Ok((f.distro.key(), f.package.clone(), serde_json::to_string(f)?)))
            .collect::<Result<_, serde_json::Error>>()?,
    };
    Ok(Ok(Imported::Stored(state.store.import_advisory(&record, a.withdrawn).await?)))
}

/// Matches one agent and records its findings and alerts.
pub async fn match_agent(state: &AppState, agent: &AgentRow) -> anyhow::Result<MatchSummary> {
    let findings = match &agent.distro {
        Some(distro) => find(state, agent, distro).await?,
        None => Vec::new(),
    };
    let before: HashMap<(String, String), i64> = state
        .store
        .agent_findings(&agent.org_id, &agent.id)
        .await?
        .into_iter()
        .map(|r| ((r.finding.cve, r.finding.package), r.first_seen_at))
        .collect();
    let suppressed: HashSet<String> =
        state.store.suppressed_cves(&agent.org_id, &agent.id).await?.into_iter().collect();
    let now = tlink_store::now_millis();
    let mut rows = Vec::with_capacity(findings.len());
    let mut fires = Vec::new();
    let mut new = 0;
    for f in findings {
        let first_seen = before.get(&(f.cve.clone(), f.package.clone())).copied();
        if first_seen.is_none() {
            new += 1;
            if !suppressed.contains(&f.cve) {
                let subject = format!("{} {}", f.cve, f.package);
                let event = format!("vulnerability:{}:{}:{}", agent.id, f.cve, f.package);
                let doc = crate::documents::document(&f, agent)?;
                fires.extend(
                    state
                        .alerting
                        .evaluate_finding(&agent.org_id, (&agent.id, &agent.hostname), &subject, &event, &doc)
                        .await?,
                );
            }
        }
        rows.push((f, first_seen.unwrap_or(now)));
    }
    let summary = MatchSummary { findings: rows.len(), new, alerts: fires.len() };
    state.store.replace_findings(&agent.org_id, &agent.id, &rows, &fires).await?;
    if !fires.is_empty() {
        state.wake.notify();
    }
    Ok(summary)
}

/// Matches every agent with a known distribution (after an import); `progress` is called after each.
pub async fn match_all(state: &AppState, mut progress: impl FnMut(&AgentRow, &MatchSummary)) -> anyhow::Result<usize> {
    let mut after = String::new();
    let mut count = 0;
    loop {
        let agents = state.store.agents_after(&after, 200).await?;
        let Some(last) = agents.last() else { return Ok(count) };
        after = last.id.to_string();
        for agent in &agents {
            let summary = match match_agent(state, agent).await {
                Ok(s) => s,
                // An agent whose stored data is corrupt is not matched (its findings stay as they were); the
                // others are.
                Err(e) if e.downcast_ref::<DbError>().is_some_and(|e| matches!(e, DbError::Corrupt { .. })) => {
                    tracing::error!(agent = %agent.id, error = format!("{e:#}"), "vulnerability matching failed");
                    continue;
                }
                Err(e) => return Err(e),
            };
            progress(agent, &summary);
            count += 1;
        }
    }
}

/// The findings for `agent`'s inventory on `distro` (`Debian:12`). A corrupt stored inventory is an error; a
/// corrupt stored advisory entry is logged and skipped.
async fn find(state: &AppState, agent: &AgentRow, distro: &str) -> anyhow::Result<Vec<Finding>> {
    let Some(scheme) = osv::distro_of_ecosystem(distro).and_then(|d| d.scheme()) else {
        return Ok(Vec::new());
    };
    let packages: Vec<Package> = decode_json("agents", agent.id.as_str(), "packages", &agent.packages)?;
    // Source package name → its installed binaries (the one named like the source first).
    let mut by_source: BTreeMap<String, Vec<&Package>> = BTreeMap::new();
    for p in &packages {
        // Debian, Ubuntu and Alpine advisories name source packages; rpm distributions' name binary ones.
        let key = match (&p.source, p.manager.as_str()) {
            (Some(source), manager) if manager != "rpm" => source.clone(),
            _ => p.name.clone(),
        };
        by_source.entry(key).or_default().push(p);
    }
    for (source, binaries) in &mut by_source {
        binaries.sort_by_key(|b| (b.name != *source, b.name.clone()));
    }
    let names: Vec<String> = by_source.keys().cloned().collect();
    let mut out: BTreeMap<(String, String), Candidate> = BTreeMap::new();
    for chunk in names.chunks(500) {
        for entry in state.store.affected_entries(distro, chunk).await? {
            // A corrupt advisory entry is logged and skipped, as if the advisory were not imported.
            let corrupt = |e: DbError| {
                let error = crate::telemetry::error_chain(&e);
                tracing::error!(advisory = %entry.advisory_id, error = %error, "stored advisory entry is corrupt; skipped");
            };
            let row = format!("({}, {})", entry.advisory_id, entry.package);
            let affected = match decode_json::<Affected>("vuln_affected", &row, "spec", &entry.spec) {
                Ok(a) => a,
                Err(e) => {
                    corrupt(e);
                    continue;
                }
            };
            let Some(binaries) = by_source.get(&entry.package) else { continue };
            let Some((binary, fixed)) =
                binaries.iter().find_map(|b| affected.check(b.matched_version()).map(|f| (*b, f)))
            else {
                continue;
            };
            let cves = match decode_json::<Vec<String>>("vuln_advisories", &entry.advisory_id, "cves", &entry.cves) {
                Ok(c) => c,
                Err(e) => {
                    corrupt(e);
                    continue;
                }
            };
            let severity = Severity::parse(&entry.severity)
                .unwrap_or(Severity::Unknown)
                .max(affected.severity.unwrap_or(Severity::Unknown));
            for cve in cves {
                let c = out.entry((cve, entry.package.clone())).or_insert_with(|| Candidate {
                    binary: binary.name.clone(),
                    installed: binary.matched_version().to_string(),
                    fixed: None,
                    advisories: Vec::new(),
                    severity: Severity::Unknown,
                    vector_type: None,
                });
                c.advisories.push(entry.advisory_id.clone());
                c.severity = c.severity.max(severity);
                if c.vector_type.is_none() {
                    c.vector_type.clone_from(&entry.vector_type);
                }
                if let Some(f) = &fixed
                    && c.fixed.as_ref().is_none_or(|cur| pkgver::compare(scheme, f, cur) == Ordering::Greater)
                {
                    c.fixed = Some(f.clone());
                }
            }
        }
    }
    Ok(out
        .into_iter()
        .map(|((cve, package), c)| {
            let mut advisories = c.advisories;
            advisories.sort();
            advisories.dedup();
            Finding {
                reported_package: format!("{package} {}", osv::upstream_version(scheme, &c.installed)),
                cve,
                package,
                binary_name: c.binary,
                installed_version: c.installed,
                fixed_version: c.fixed,
                advisories: json!(advisories).to_string(),
                severity: c.severity.as_str().to_string(),
                severity_level: severity_level(c.severity),
                vector_type: c.vector_type,
            }
        })
        .collect())
}

struct Candidate {
    binary: String,
    installed: String,
    fixed: Option<String>,
    advisories: Vec<String>,
    severity: Severity,
    vector_type: Option<String>,
}
