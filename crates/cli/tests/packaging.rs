//! The packaging around the binary (`Dockerfile`, `packaging/systemd/`, `docs/packaging.md`) stays true to it:
//! `tlink --version` names the release and the git revision; every `tlink <subcommand>` they run exists; every
//! `TLINK_*` variable they set is documented in docs/configuration.md; the units carry their hardening and,
//! where `systemd-analyze` is installed, parse without a complaint.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join("..")
}

fn read(path: &str) -> String {
    std::fs::read_to_string(root().join(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

fn tlink() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tlink"));
    // An empty directory: no ./tlink.toml is picked up and nothing is written.
    c.current_dir(std::env::temp_dir());
    c
}

/// `tlink <subcommand> --help` succeeds: the subcommand exists in this build.
fn assert_subcommand(subcommand: &str, whence: &str) {
    let out = tlink().args([subcommand, "--help"]).output().expect("running tlink");
    assert!(
        out.status.success(),
        "{whence} runs `tlink {subcommand}`, which this build does not have: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The words of a Dockerfile instruction or shell line, with exec-form brackets, quotes and commas dropped.
fn words(text: &str) -> Vec<String> {
    text.replace(['[', ']', '"', '\'', ','], " ").split_whitespace().map(str::to_string).collect()
}

fn is_tlink(word: &str) -> bool {
    word == "tlink" || word.ends_with("/tlink")
}

/// Words that follow `tlink` and look like a subcommand (`serve`, `health`), not an option, a path, a user
/// name or another unit (`tlink-worker`).
fn subcommands_in(words: &[String]) -> Vec<String> {
    words
        .windows(2)
        .filter(|pair| is_tlink(&pair[0]))
        .map(|pair| pair[1].clone())
        .filter(|w| !w.starts_with("tlink") && w.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
        .filter(|w| !w.starts_with('-'))
        .collect()
}

/// The Dockerfile's instructions, continuation lines joined and comments dropped: (keyword, arguments).
fn instructions(dockerfile: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut current = String::new();
    for raw in dockerfile.lines() {
        let line = raw.trim();
        if line.starts_with('#') || (line.is_empty() && current.is_empty()) {
            continue;
        }
        match line.strip_suffix('\\') {
            Some(part) => {
                current.push_str(part);
                current.push(' ');
            }
            None => {
                current.push_str(line);
                let (keyword, args) = current.trim().split_once(char::is_whitespace).unwrap_or((current.trim(), ""));
                out.push((keyword.to_ascii_uppercase(), args.trim().to_string()));
                current.clear();
            }
        }
    }
    out
}

/// Every `TLINK_…` name in `text`: full names, and documented families written with a star (`TLINK_SMTP_*`,
/// `TLINK_HTTP__*`) as prefixes ending in `*`.
fn tlink_names(text: &str) -> BTreeSet<String> {
    let mut names = BTreeSet::new();
    for (at, _) in text.match_indices("TLINK_") {
        let before = text[..at].chars().next_back();
        if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
            continue;
        }
        let name: String =
            text[at..].chars().take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_').collect();
        let star = text[at + name.len()..].starts_with('*');
        names.insert(if star { format!("{name}*") } else { name });
    }
    names
}

/// Whether docs/configuration.md documents `name`, by name or as one of a starred family.
fn documented(doc: &BTreeSet<String>, name: &str) -> bool {
    doc.contains(name)
        || doc.iter().filter_map(|d| d.strip_suffix('*')).any(|prefix| name.starts_with(prefix) && name != prefix)
}

fn assert_documented(text: &str, whence: &str, except: &BTreeSet<String>) {
    let doc = tlink_names(&read("docs/configuration.md"));
    for name in tlink_names(text) {
        if name.ends_with('*') || except.contains(&name) {
            continue;
        }
        assert!(documented(&doc, &name), "{whence} sets {name}, which docs/configuration.md does not document");
    }
}

#[test]
fn version_names_the_release_and_the_revision() {
    let out = tlink().arg("--version").output().expect("running tlink --version");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let rev = text
        .strip_prefix(concat!("tlink ", env!("CARGO_PKG_VERSION"), " (rev "))
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("`{text}` is not `tlink {} (rev …)`", env!("CARGO_PKG_VERSION")));
    assert!(
        !rev.is_empty() && rev.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+')),
        "revision `{rev}`"
    );
    // The build script's value, as the binary was compiled with it.
    if let Some(built) = option_env!("TLINK_GIT_REV") {
        assert_eq!(rev, built);
    }
}

#[test]
fn the_dockerfile_runs_existing_subcommands_with_documented_variables() {
    let dockerfile = read("Dockerfile");
    let instructions = instructions(&dockerfile);
    let entrypoint = instructions.iter().find(|(k, _)| k == "ENTRYPOINT").map(|(_, a)| words(a));
    assert!(
        entrypoint.as_ref().and_then(|w| w.first()).is_some_and(|w| is_tlink(w.as_str())),
        "the image's entrypoint is the binary: {entrypoint:?}"
    );
    let mut found = BTreeSet::new();
    for (keyword, args) in &instructions {
        let words = words(args);
        match keyword.as_str() {
            // The default command's first word is a subcommand of the entrypoint.
            "CMD" => found.extend(words.first().filter(|w| !w.starts_with('-')).cloned()),
            "RUN" | "ENTRYPOINT" | "HEALTHCHECK" => found.extend(subcommands_in(&words)),
            _ => {}
        }
    }
    for required in ["serve", "health"] {
        assert!(found.contains(required), "the Dockerfile should run `tlink {required}`: found {found:?}");
    }
    for subcommand in &found {
        assert_subcommand(subcommand, "the Dockerfile");
    }
    assert!(instructions.iter().any(|(k, a)| k == "HEALTHCHECK" && a.contains("health")), "a HEALTHCHECK");
    assert!(instructions.iter().any(|(k, a)| k == "USER" && a.starts_with("10001")), "a non-root USER");

    // Build arguments are the build's, documented with the packaging; the rest is configuration.
    let build_args: BTreeSet<String> = instructions
        .iter()
        .filter(|(k, _)| k == "ARG")
        .filter_map(|(_, a)| a.split('=').next().map(str::trim).map(str::to_string))
        .filter(|name| name.starts_with("TLINK_"))
        .collect();
    let packaging = read("docs/packaging.md");
    for arg in &build_args {
        assert!(packaging.contains(arg.as_str()), "docs/packaging.md should explain the build argument {arg}");
    }
    assert_documented(&dockerfile, "the Dockerfile", &build_args);
    assert_documented(&packaging, "docs/packaging.md", &build_args);

    let ignore = read(".dockerignore");
    for entry in ["target", ".git"] {
        assert!(ignore.lines().any(|l| l.trim() == entry), ".dockerignore should leave out {entry}");
    }
}

#[test]
fn the_packaging_doc_runs_existing_subcommands() {
    let doc = read("docs/packaging.md");
    let mut found = BTreeSet::new();
    // Inside a fenced block: whether it is a shell one (```sh), whose lines are commands.
    let mut fence: Option<bool> = None;
    for line in doc.lines() {
        let line = line.trim_start();
        if let Some(lang) = line.strip_prefix("```") {
            fence = if fence.is_some() { None } else { Some(lang.trim() == "sh") };
        } else if fence == Some(true) && !line.starts_with('#') {
            let command = line.split(" #").next().unwrap_or(line);
            found.extend(subcommands_in(&words(command)));
        }
    }
    for required in ["doctor", "health", "migrate"] {
        assert!(found.contains(required), "docs/packaging.md should show `tlink {required}`: found {found:?}");
    }
    for subcommand in &found {
        assert_subcommand(subcommand, "docs/packaging.md");
    }
}

/// A unit file's `(section, key, value)` entries, in order.
fn unit_entries(text: &str) -> Vec<(String, String, String)> {
    let mut section = String::new();
    let mut entries = Vec::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.to_string();
        } else if let Some((key, value)) = line.split_once('=') {
            entries.push((section.clone(), key.trim().to_string(), value.trim().to_string()));
        }
    }
    entries
}

/// Settings every unit carries, in `[Service]`.
const HARDENING: &[(&str, &str)] = &[
    ("Type", "exec"),
    ("User", "tlink"),
    ("StateDirectory", "tlink"),
    ("Restart", "on-failure"),
    ("UMask", "0077"),
    ("LimitNOFILE", "65536"),
    ("NoNewPrivileges", "yes"),
    ("ProtectSystem", "strict"),
    ("ProtectHome", "yes"),
    ("PrivateTmp", "yes"),
    ("PrivateDevices", "yes"),
    ("ProtectKernelTunables", "yes"),
    ("ProtectKernelModules", "yes"),
    ("ProtectKernelLogs", "yes"),
    ("ProtectControlGroups", "yes"),
    ("ProtectClock", "yes"),
    ("ProtectHostname", "yes"),
    ("RestrictAddressFamilies", "AF_INET AF_INET6 AF_UNIX"),
    ("RestrictNamespaces", "yes"),
    ("RestrictRealtime", "yes"),
    ("RestrictSUIDSGID", "yes"),
    ("LockPersonality", "yes"),
    ("MemoryDenyWriteExecute", "yes"),
    ("SystemCallArchitectures", "native"),
    ("SystemCallFilter", "@system-service"),
    ("SystemCallFilter", "~@privileged @resources"),
    ("CapabilityBoundingSet", ""),
];

const UNITS: &[(&str, &str)] =
    &[("packaging/systemd/tlink.service", "serve"), ("packaging/systemd/tlink-worker.service", "worker")];

#[test]
fn the_systemd_units_run_existing_subcommands_hardened() {
    let none = BTreeSet::new();
    for (path, subcommand) in UNITS {
        let text = read(path);
        let entries = unit_entries(&text);
        let service: Vec<(&str, &str)> =
            entries.iter().filter(|(s, _, _)| s == "Service").map(|(_, k, v)| (k.as_str(), v.as_str())).collect();
        for (key, value) in HARDENING {
            assert!(service.contains(&(*key, *value)), "{path}: [Service] should have {key}={value}");
        }
        let exec: Vec<&str> = service.iter().filter(|(k, _)| *k == "ExecStart").map(|(_, v)| *v).collect();
        assert_eq!(exec, [format!("/usr/local/bin/tlink {subcommand}")], "{path}");
        assert_subcommand(subcommand, path);
        assert!(entries.iter().any(|(s, k, _)| s == "Install" && k == "WantedBy"), "{path}: [Install] WantedBy=");
        assert_documented(&text, path, &none);
    }
    assert_documented(&read("packaging/systemd/tlink.env"), "packaging/systemd/tlink.env", &none);
}

/// `systemd-analyze verify` reports no unknown key and no value it cannot parse. Skipped where systemd's tools
/// are not installed; a complaint about the environment (no running manager) rather than the file is ignored.
#[test]
fn the_systemd_units_parse() {
    let probe = Command::new("systemd-analyze").arg("--version").output();
    if !probe.is_ok_and(|o| o.status.success()) {
        eprintln!("systemd-analyze is not installed: skipping");
        return;
    }
    let dir = std::env::temp_dir().join(format!("tlink-units-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a directory for the units");
    for (path, _) in UNITS {
        // verify checks that ExecStart's program exists: point it at this build's binary.
        let text = read(path).replace("/usr/local/bin/tlink", env!("CARGO_BIN_EXE_tlink"));
        let name = Path::new(path).file_name().expect("a file name");
        let unit = dir.join(name);
        std::fs::write(&unit, text).expect("writing the unit");
        let out = Command::new("systemd-analyze").args(["verify", "--man=no"]).arg(&unit).output().expect("verify");
        let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let file = name.to_string_lossy();
        let complaints: Vec<&str> = report
            .lines()
            .filter(|l| l.contains(file.as_ref()))
            .filter(|l| ["Unknown", "Failed to parse", "ignoring", "Invalid"].iter().any(|w| l.contains(w)))
            .collect();
        assert!(complaints.is_empty(), "{path}:\n{}", complaints.join("\n"));
        if !out.status.success() {
            eprintln!("systemd-analyze verify {path} did not pass here, for reasons outside the file:\n{report}");
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}
