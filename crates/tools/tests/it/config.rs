//! The documented default configuration against the built-in one: every `[tools]` key of `ToolsConfig` is in
//! `config.default.toml` with its default value, the file has no key the type lacks, and `docs/configuration.md`
//! names every key.

use std::collections::BTreeSet;
use std::path::Path;

use tlink_tools::ToolsConfig;

fn repository_file(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {relative}: {e}"))
}

/// The `[tools]` section of `config.default.toml`.
fn documented_tools() -> toml::Value {
    let file: toml::Value =
        toml::from_str(&repository_file("config.default.toml")).expect("config.default.toml parses");
    file.get("tools").cloned().expect("config.default.toml has a [tools] section")
}

/// Dotted key paths of the leaves of `value`; an empty table (a map with no entry by default) is a leaf.
fn keys(prefix: &str, value: &toml::Value, out: &mut BTreeSet<String>) {
    match value {
        toml::Value::Table(table) if !table.is_empty() => {
            for (key, child) in table {
                let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
                keys(&path, child, out);
            }
        }
        _ => {
            out.insert(prefix.to_string());
        }
    }
}

fn key_set(value: &toml::Value) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    keys("", value, &mut out);
    out
}

#[test]
fn config_default_toml_has_every_tools_key_and_no_other() {
    let built_in = toml::Value::try_from(ToolsConfig::default()).expect("the default serializes");
    let built_in = key_set(&built_in);
    let documented = key_set(&documented_tools());
    let undocumented: Vec<_> = built_in.difference(&documented).collect();
    let unknown: Vec<_> = documented.difference(&built_in).collect();
    assert!(undocumented.is_empty(), "[tools] keys missing from config.default.toml: {undocumented:?}");
    assert!(unknown.is_empty(), "config.default.toml has [tools] keys ToolsConfig lacks: {unknown:?}");
    assert!(built_in.contains("whois.addresses") && built_in.contains("ssl.handshake_timeout_ms"), "{built_in:?}");
}

#[test]
fn config_default_toml_gives_the_built_in_tools_defaults() {
    let text = toml::to_string(&documented_tools()).expect("the section serializes");
    let documented: ToolsConfig = toml::from_str(&text).expect("the [tools] section reads as ToolsConfig");
    assert_eq!(documented, ToolsConfig::default());
}

#[test]
fn configuration_docs_name_every_tools_key() {
    let docs = repository_file("docs/configuration.md");
    let built_in = toml::Value::try_from(ToolsConfig::default()).expect("the default serializes");
    let missing: Vec<String> = key_set(&built_in)
        .into_iter()
        .map(|key| match key.strip_prefix("limits.").and_then(|rest| rest.split_once('.')) {
            // One row for every tool's limits.
            Some((_tool, field)) => format!("tools.limits.<tool>.{field}"),
            None => format!("tools.{key}"),
        })
        .filter(|key| !docs.contains(&format!("`{key}`")))
        .collect();
    assert!(missing.is_empty(), "docs/configuration.md does not name {missing:?}");
}
