//! The module graph of `crates/server` and `crates/store`, read from their sources: no import cycles between
//! files, and the server's three parts depend in one direction (HTTP side → operations → job side; the job
//! side never names the HTTP side; the HTTP side reaches the job side only through the `jobs` module's own
//! items, never a job module's internals).
//!
//! A file depends on another when its non-test code names it: `crate::a::b::Item` (also inside grouped
//! `use crate::{…}` trees), `super::…`, `self::child::…`, or a child module by name (`child::Item`) in the
//! file that declares it. Comments and string literals are ignored; so is everything from the first
//! `#[cfg(test)]` on.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Module path (`http::api::assets`, `""` for the crate root) → file.
fn modules(root: &Path) -> BTreeMap<String, PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("reading a source directory") {
            let path = entry.expect("reading a source directory").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(root, &mut files);
    files
        .into_iter()
        .map(|file| {
            let rel = file.strip_prefix(root).expect("a file below the root").with_extension("");
            let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into_owned()).collect();
            if matches!(parts.last().map(String::as_str), Some("mod" | "lib" | "main")) {
                parts.pop();
            }
            (parts.join("::"), file)
        })
        .collect()
}

/// The code of a file with comments, string and character literals blanked out, up to `#[cfg(test)]`.
fn code(src: &str) -> String {
    let src = match src.find("#[cfg(test)]") {
        Some(at) => &src[..at],
        None => src,
    };
    let b = src.as_bytes();
    let mut out = String::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                while i < b.len() && b[i] != b'\n' {
                    i += 1;
                }
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let end = src[i + 2..].find("*/").map_or(b.len(), |e| i + 2 + e + 2);
                i = end;
            }
            b'r' if (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#'))
                && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')) =>
            {
                let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
                if b.get(i + 1 + hashes) != Some(&b'"') {
                    out.push('r');
                    i += 1;
                    continue;
                }
                let close = format!("\"{}", "#".repeat(hashes));
                let start = i + 2 + hashes;
                i = src[start..].find(&close).map_or(b.len(), |e| start + e + close.len());
                out.push_str("\"\"");
            }
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                out.push_str("\"\"");
            }
            // A character literal ('x', '\n', '"'), not a lifetime ('a).
            b'\'' if b.get(i + 2) == Some(&b'\'') || b.get(i + 1) == Some(&b'\\') => {
                i += 1;
                while i < b.len() && b[i] != b'\'' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
                out.push_str("' '");
            }
            _ => {
                let c = src[i..].chars().next().expect("a character at a char boundary");
                out.push(c);
                i += c.len_utf8();
            }
        }
    }
    out
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// The paths a use tree or path starting at `at` (just after `prefix::`) names, each as segments.
fn paths_at(code: &[u8], mut at: usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) -> usize {
    let skip_ws = |at: &mut usize| {
        while *at < code.len() && code[*at].is_ascii_whitespace() {
            *at += 1;
        }
    };
    let mut path = prefix;
    loop {
        skip_ws(&mut at);
        if at < code.len() && code[at] == b'{' {
            at += 1;
            loop {
                skip_ws(&mut at);
                if at >= code.len() || code[at] == b'}' {
                    return at + 1;
                }
                at = paths_at(code, at, path.clone(), out);
                skip_ws(&mut at);
                if at < code.len() && code[at] == b',' {
                    at += 1;
                }
            }
        }
        let start = at;
        while at < code.len() && is_ident(code[at]) {
            at += 1;
        }
        if start == at {
            out.push(path);
            return at;
        }
        path.push(String::from_utf8_lossy(&code[start..at]).into_owned());
        if code[at..].starts_with(b"::") {
            at += 2;
        } else {
            out.push(path);
            // Skip `as alias`, the rest of the tree item.
            while at < code.len() && !matches!(code[at], b',' | b'}' | b';') {
                at += 1;
            }
            return at;
        }
    }
}

/// The longest module path that is a prefix of `path`.
fn resolve(mods: &BTreeMap<String, PathBuf>, path: &[String]) -> Option<String> {
    (0..=path.len()).rev().map(|n| path[..n].join("::")).find(|m| mods.contains_key(m))
}

/// Module → the modules its non-test code names.
fn graph(root: &Path) -> BTreeMap<String, BTreeSet<String>> {
    let mods = modules(root);
    let mut edges = BTreeMap::new();
    for (module, file) in &mods {
        let code = code(&std::fs::read_to_string(file).expect("reading a source file"));
        let bytes = code.as_bytes();
        let here: Vec<String> =
            if module.is_empty() { Vec::new() } else { module.split("::").map(String::from).collect() };
        let parent: Vec<String> = here[..here.len().saturating_sub(1)].to_vec();
        let children: Vec<String> = mods
            .keys()
            .filter_map(|m| {
                let rest = if module.is_empty() { Some(m.as_str()) } else { m.strip_prefix(&format!("{module}::")) };
                rest.filter(|r| !r.is_empty() && !r.contains("::")).map(String::from)
            })
            .collect();
        let mut named = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if i > 0 && (is_ident(bytes[i - 1]) || bytes[i - 1] == b':') || !is_ident(bytes[i]) {
                i += 1;
                continue;
            }
            let start = i;
            while i < bytes.len() && is_ident(bytes[i]) {
                i += 1;
            }
            if !code[i..].starts_with("::") {
                continue;
            }
            let word = &code[start..i];
            let base = match word {
                "crate" => Vec::new(),
                "super" => parent.clone(),
                "self" => here.clone(),
                w if children.iter().any(|c| c == w) => {
                    let mut p = here.clone();
                    p.push(w.to_string());
                    named.push(p.clone());
                    p
                }
                _ => continue,
            };
            i = paths_at(bytes, i + 2, base, &mut named);
        }
        let deps: BTreeSet<String> =
            named.iter().filter_map(|p| resolve(&mods, p)).filter(|m| m != module && !m.is_empty()).collect();
        edges.insert(module.clone(), deps);
    }
    edges
}

/// The strongly connected components with more than one module (Tarjan).
fn cycles(edges: &BTreeMap<String, BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Walk<'a> {
        edges: &'a BTreeMap<String, BTreeSet<String>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        found: Vec<Vec<String>>,
    }
    impl<'a> Walk<'a> {
        fn visit(&mut self, v: &'a str) {
            let n = self.index.len();
            self.index.insert(v, n);
            self.low.insert(v, n);
            self.stack.push(v);
            self.on_stack.insert(v);
            for w in self.edges.get(v).into_iter().flatten() {
                if !self.index.contains_key(w.as_str()) {
                    self.visit(w);
                    let lw = self.low[w.as_str()];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(lw);
                } else if self.on_stack.contains(w.as_str()) {
                    let iw = self.index[w.as_str()];
                    let lv = self.low.get_mut(v).expect("visited");
                    *lv = (*lv).min(iw);
                }
            }
            if self.low[v] == self.index[v] {
                let mut component = Vec::new();
                while let Some(w) = self.stack.pop() {
                    self.on_stack.remove(w);
                    component.push(w.to_string());
                    if w == v {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.found.push(component);
                }
            }
        }
    }
    let mut walk = Walk {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        found: Vec::new(),
    };
    for v in edges.keys() {
        if !walk.index.contains_key(v.as_str()) {
            walk.visit(v);
        }
    }
    walk.found
}

fn describe(edges: &BTreeMap<String, BTreeSet<String>>, cycle: &[String]) -> String {
    cycle
        .iter()
        .map(|m| {
            let inside: Vec<&str> = edges[m].iter().filter(|d| cycle.contains(d)).map(String::as_str).collect();
            format!("  {m} -> {}", inside.join(", "))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn src(krate: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(krate).join("src")
}

#[test]
fn no_import_cycles_between_files() {
    for krate in ["server", "store"] {
        let edges = graph(&src(krate));
        assert!(edges.len() > 10, "{krate}: the sources were not found");
        let found = cycles(&edges);
        let report: Vec<String> = found.iter().map(|c| describe(&edges, c)).collect();
        assert!(found.is_empty(), "import cycles in crates/{krate}:\n{}", report.join("\n\n"));
    }
}

#[test]
fn the_server_depends_in_one_direction() {
    let edges = graph(&src("server"));
    let under = |m: &str, part: &str| m == part || m.starts_with(&format!("{part}::"));
    let mut wrong = Vec::new();
    for (from, deps) in &edges {
        for to in deps {
            // The dashboard (`web`) is a second front end beside the JSON one: it calls operations and may
            // borrow the HTTP side's list paging and extractors, never its handlers or the job side; only
            // the crate root (which assembles the router) knows it.
            let refused = (under(from, "jobs") && under(to, "http"))
                || (under(from, "ops") && under(to, "http"))
                || (under(from, "http") && to.starts_with("jobs::"))
                || (under(from, "web") && (under(to, "http::api") || to.starts_with("jobs::")))
                || ((under(from, "ops") || under(from, "jobs") || under(from, "http")) && under(to, "web"));
            if refused {
                wrong.push(format!("{from} -> {to}"));
            }
        }
    }
    assert!(wrong.is_empty(), "dependencies against the layering:\n{}", wrong.join("\n"));
}

#[test]
fn the_checker_sees_each_kind_of_reference() {
    let sample = r#"
        use crate::{a::{b, c::D}, e};
        use super::f::G; // crate::commented
        fn x() { let s = "crate::in_string"; kid::call(); self::other::y(); }
        #[cfg(test)]
        mod tests { use crate::only_tests; }
    "#;
    let code = code(sample);
    assert!(!code.contains("commented") && !code.contains("in_string") && !code.contains("only_tests"));
    let bytes = code.as_bytes();
    let mut named = Vec::new();
    let at = code.find("crate::").expect("the sample names crate::") + "crate::".len();
    paths_at(bytes, at, Vec::new(), &mut named);
    let named: Vec<String> = named.iter().map(|p| p.join("::")).collect();
    assert_eq!(named, ["a::b", "a::c::D", "e"]);

    let edges = BTreeMap::from([
        ("a".to_string(), BTreeSet::from(["b".to_string()])),
        ("b".to_string(), BTreeSet::from(["c".to_string()])),
        ("c".to_string(), BTreeSet::from(["a".to_string()])),
        ("d".to_string(), BTreeSet::from(["a".to_string()])),
    ]);
    assert_eq!(cycles(&edges), vec![vec!["a".to_string(), "b".to_string(), "c".to_string()]]);
}
