//! `tlink vulndb import`: loads OSV advisories (a directory of JSON files, a zip as osv.dev publishes per
//! ecosystem, or one JSON file) into the store, then matches every agent against them.
//!
//! Re-importing is cheap and safe: an advisory whose `modified` stamp is unchanged is not written, a newer
//! one replaces the stored one whole, and a withdrawn one is removed. A file that is not valid OSV is
//! reported and skipped; it does not stop the import.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use tlink_server::AppState;
use tlink_server::jobs::vulns::{self, Imported};
use tlink_store::ImportOutcome;

/// Counts of what an import did.
#[derive(Debug, Default)]
pub struct Summary {
    pub inserted: u64,
    pub updated: u64,
    pub unchanged: u64,
    pub removed: u64,
    /// Advisories with no affected entry for a distribution tlink matches (e.g. language ecosystems).
    pub skipped: u64,
    pub invalid: u64,
}

/// Where advisories come from.
enum Source {
    Files(Vec<PathBuf>),
    Zip(zip::ZipArchive<std::fs::File>, Vec<usize>),
}

fn open(path: &Path) -> anyhow::Result<Source> {
    let meta = std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if meta.is_dir() {
        let mut files = Vec::new();
        let mut dirs = vec![path.to_path_buf()];
        while let Some(dir) = dirs.pop() {
            for e in std::fs::read_dir(&dir).with_context(|| format!("reading {}", dir.display()))? {
                let e = e?;
                let p = e.path();
                // Symbolic links to directories are not followed (no loops).
                if e.file_type()?.is_dir() {
                    dirs.push(p);
                } else if p.extension().is_some_and(|x| x.eq_ignore_ascii_case("json")) {
                    files.push(p);
                }
            }
        }
        files.sort();
        return Ok(Source::Files(files));
    }
    if path.extension().is_some_and(|x| x.eq_ignore_ascii_case("zip")) {
        let file = std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
        let zip = zip::ZipArchive::new(file).with_context(|| format!("{} is not a readable zip", path.display()))?;
        let entries = (0..zip.len())
            .filter(|&i| zip.name_for_index(i).is_some_and(|n| n.is_ok_and(|n| n.ends_with(".json"))))
            .collect();
        return Ok(Source::Zip(zip, entries));
    }
    Ok(Source::Files(vec![path.to_path_buf()]))
}

fn bar(len: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len);
    let template = format!("{{spinner}} {what} [{{bar:40}}] {{pos}}/{{len}} ({{per_sec}}, {{eta}} left)");
    bar.set_style(ProgressStyle::with_template(&template).unwrap_or_else(|_| ProgressStyle::default_bar()));
    bar
}

/// Imports the advisories at `path`, then matches every agent. Prints a summary line per phase.
pub async fn import(state: &AppState, path: &Path) -> anyhow::Result<Summary> {
    let mut source = open(path)?;
    let total = match &source {
        Source::Files(f) => f.len(),
        Source::Zip(_, e) => e.len(),
    };
    let progress = bar(total as u64, "importing");
    let mut summary = Summary::default();
    for i in 0..total {
        let (name, bytes) = match &mut source {
            Source::Files(files) => {
                let p = &files[i];
                (p.display().to_string(), std::fs::read(p).with_context(|| format!("reading {}", p.display())))
            }
            Source::Zip(zip, entries) => {
                let mut entry = zip.by_index(entries[i]).context("reading the zip")?;
                let mut buf = Vec::with_capacity(usize::try_from(entry.size()).unwrap_or(0).min(16 << 20));
                let read = entry.by_ref().take(64 << 20).read_to_end(&mut buf).map(|_| buf);
                let name = entry.name().map_or_else(|_| format!("zip entry {i}"), |n| n.to_string());
                (name, read.map_err(anyhow::Error::from))
            }
        };
        progress.inc(1);
        let parsed = bytes.map_err(|e| format!("{e:#}"));
        let outcome = match parsed {
            Ok(bytes) => vulns::import_advisory(state, &bytes).await?,
            Err(e) => Err(e),
        };
        match outcome {
            Err(e) => {
                summary.invalid += 1;
                progress.suspend(|| eprintln!("skipped {name}: {e}"));
            }
            Ok(Imported::OtherEcosystem) => summary.skipped += 1,
            Ok(Imported::Stored(ImportOutcome::Inserted)) => summary.inserted += 1,
            Ok(Imported::Stored(ImportOutcome::Updated)) => summary.updated += 1,
            Ok(Imported::Stored(ImportOutcome::Unchanged)) => summary.unchanged += 1,
            Ok(Imported::Stored(ImportOutcome::Removed)) => summary.removed += 1,
        }
    }
    progress.finish_and_clear();
    outln!(
        "imported {} advisories from {}: {} new, {} updated, {} unchanged, {} withdrawn, {} for other ecosystems, {} invalid",
        total,
        path.display(),
        summary.inserted,
        summary.updated,
        summary.unchanged,
        summary.removed,
        summary.skipped,
        summary.invalid
    );
    let spinner = bar(0, "matching agents");
    let (mut findings, mut alerts) = (0, 0);
    let agents = vulns::match_all(state, |_, m| {
        spinner.inc(1);
        findings += m.findings;
        alerts += m.alerts;
    })
    .await?;
    spinner.finish_and_clear();
    outln!("matched {agents} agents: {findings} vulnerabilities, {alerts} new alerts");
    Ok(summary)
}
