//! Vulnerability rules: which product versions have which known CVEs.
//!
//! The rules are TOML; the format is documented at the top of the built-in file (`data/vuln-rules.toml`).
//! `tools.exposure.vuln_rules` names a file that replaces the built-in set and `tools.exposure.extra_vuln_rules`
//! files that are added to it. The active set is loaded and validated once per combination of paths and
//! kept for the life of the process (edit a file, restart to pick it up). A file that does not validate
//! fails the run with [`ToolError::InvalidInput`] naming the file, the rule and the field.
//!
//! Matching is by version string alone. Distributions often backport fixes without changing the upstream
//! version a banner shows, so a match means "this version is known to be affected", not "this host is
//! exploitable".

use std::cmp::Ordering;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;

use crate::ToolError;
use crate::config::ExposureConfig;

/// The built-in rules, compiled into the binary.
pub const BUILTIN_RULES: &str = include_str!("../../data/vuln-rules.toml");

/// Which versions of the product a rule applies to.
#[derive(Debug, Clone, PartialEq)]
pub enum Affected {
    /// Exactly these versions (compared with [`compare_versions`], so `2.4.049` equals `2.4.49`).
    Versions(Vec<String>),
    /// Versions `v` with `introduced <= v < fixed`; a missing bound is open on that side.
    Range { introduced: Option<String>, fixed: Option<String> },
}

impl Affected {
    /// Whether `version` is affected.
    pub fn contains(&self, version: &str) -> bool {
        match self {
            Affected::Versions(list) => list.iter().any(|v| compare_versions(version, v) == Ordering::Equal),
            Affected::Range { introduced, fixed } => {
                introduced.as_deref().is_none_or(|lo| compare_versions(version, lo) != Ordering::Less)
                    && fixed.as_deref().is_none_or(|hi| compare_versions(version, hi) == Ordering::Less)
            }
        }
    }
}

/// One rule: a CVE affecting some versions of one product.
#[derive(Debug, Clone, PartialEq)]
pub struct VulnRule {
    /// Product id as the banner parser reports it (`openssh`, `apache-httpd`, …), lowercase.
    pub product: String,
    pub affected: Affected,
    /// `CVE-YYYY-NNNN…`.
    pub cve: String,
    /// CVSS base score, 0 to 10.
    pub cvss: f64,
    pub summary: String,
    /// Listed in CISA's Known Exploited Vulnerabilities catalog.
    pub kev: bool,
    /// A caveat about the match (e.g. a flaw of one distribution's packages only).
    pub note: Option<String>,
}

/// A validated set of rules, indexed by product.
#[derive(Debug, Clone, Default)]
pub struct VulnRules {
    rules: Vec<VulnRule>,
    by_product: HashMap<String, Vec<usize>>,
}

impl VulnRules {
    /// Parses and validates a rules file; `source` names it in error messages.
    ///
    /// # Errors
    /// [`ToolError::InvalidInput`] naming `source`, the rule (1-based, in file order) and the field.
    pub fn parse(source: &str, text: &str) -> Result<VulnRules, ToolError> {
        let err = |msg: String| ToolError::InvalidInput(format!("vulnerability rules {source}: {msg}"));
        let doc: toml::Table = text.parse().map_err(|e: toml::de::Error| err(format!("invalid TOML: {e}")))?;
        if let Some(key) = doc.keys().find(|k| k.as_str() != "rule") {
            return Err(err(format!("unknown top-level key `{key}` (rules are `[[rule]]` tables)")));
        }
        let mut set = VulnRules::default();
        let Some(list) = doc.get("rule") else {
            return Ok(set);
        };
        let list = list.as_array().ok_or_else(|| err("`rule` must be an array of `[[rule]]` tables".into()))?;
        for (i, value) in list.iter().enumerate() {
            let table = value.as_table().ok_or_else(|| err(format!("rule {} is not a table", i + 1)))?;
            let rule = parse_rule(table).map_err(|msg| {
                let cve = table.get("cve").and_then(toml::Value::as_str).map(|c| format!(" ({c})")).unwrap_or_default();
                err(format!("rule {}{cve}: {msg}", i + 1))
            })?;
            set.push(rule);
        }
        Ok(set)
    }

    /// The built-in set.
    ///
    /// # Errors
    /// Only if the built-in file is broken (a test guards against that).
    pub fn builtin() -> Result<Arc<VulnRules>, ToolError> {
        static BUILTIN: OnceLock<Result<Arc<VulnRules>, String>> = OnceLock::new();
        BUILTIN
            .get_or_init(|| VulnRules::parse("(built-in)", BUILTIN_RULES).map(Arc::new).map_err(|e| e.to_string()))
            .clone()
            .map_err(ToolError::InvalidInput)
    }

    /// The active set for `config`: `vuln_rules` (or the built-in set when empty) plus `extra_vuln_rules`,
    /// read and validated on first use and cached per combination of paths.
    ///
    /// # Errors
    /// [`ToolError::InvalidInput`] naming the file that cannot be read or does not validate.
    pub fn for_config(config: &ExposureConfig) -> Result<Arc<VulnRules>, ToolError> {
        if config.vuln_rules.is_empty() && config.extra_vuln_rules.is_empty() {
            return VulnRules::builtin();
        }
        type Key = (String, Vec<String>);
        static CACHE: OnceLock<Mutex<HashMap<Key, Arc<VulnRules>>>> = OnceLock::new();
        let key = (config.vuln_rules.clone(), config.extra_vuln_rules.clone());
        let cache = CACHE.get_or_init(Default::default);
        if let Some(hit) = cache.lock().get(&key) {
            return Ok(hit.clone());
        }
        let mut set = if config.vuln_rules.is_empty() {
            VulnRules::builtin()?.as_ref().clone()
        } else {
            VulnRules::read("tools.exposure.vuln_rules", &config.vuln_rules)?
        };
        for path in &config.extra_vuln_rules {
            set.extend(VulnRules::read("tools.exposure.extra_vuln_rules", path)?);
        }
        let set = Arc::new(set);
        cache.lock().insert(key, set.clone());
        Ok(set)
    }

    fn read(key: &str, path: &str) -> Result<VulnRules, ToolError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ToolError::InvalidInput(format!("{key}: reading `{path}`: {e}")))?;
        VulnRules::parse(&format!("`{path}`"), &text)
    }

    fn push(&mut self, rule: VulnRule) {
        self.by_product.entry(rule.product.clone()).or_default().push(self.rules.len());
        self.rules.push(rule);
    }

    /// Adds `other`'s rules after this set's.
    pub fn extend(&mut self, other: VulnRules) {
        for rule in other.rules {
            self.push(rule);
        }
    }

    pub fn len(&self) -> usize {
        self.rules.len()
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn rules(&self) -> &[VulnRule] {
        &self.rules
    }

    /// The rules that apply to `product` at `version`, one per CVE (the first rule of a CVE wins), in
    /// descending CVSS order.
    pub fn matches(&self, product: &str, version: &str) -> Vec<&VulnRule> {
        let Some(indexes) = self.by_product.get(&product.to_ascii_lowercase()) else {
            return Vec::new();
        };
        let mut out: Vec<&VulnRule> = Vec::new();
        for &i in indexes {
            let rule = &self.rules[i];
            if rule.affected.contains(version) && !out.iter().any(|r| r.cve == rule.cve) {
                out.push(rule);
            }
        }
        out.sort_by(|a, b| b.cvss.total_cmp(&a.cvss).then_with(|| a.cve.cmp(&b.cve)));
        out
    }
}

const RULE_FIELDS: &[&str] = &["product", "versions", "introduced", "fixed", "cve", "cvss", "summary", "kev", "note"];

fn parse_rule(t: &toml::Table) -> Result<VulnRule, String> {
    if let Some(key) = t.keys().find(|k| !RULE_FIELDS.contains(&k.as_str())) {
        return Err(format!("unknown field `{key}` (fields: {})", RULE_FIELDS.join(", ")));
    }
    let product = required_str(t, "product")?;
    if !product.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'-' | b'_' | b'.')) {
        return Err(format!("field `product`: `{product}` must be a lowercase id such as `openssh`"));
    }
    let cve = required_str(t, "cve")?;
    if !is_cve_id(&cve) {
        return Err(format!("field `cve`: `{cve}` is not a CVE id such as CVE-2021-41773"));
    }
    let cvss = match t.get("cvss") {
        None => return Err("field `cvss` is missing".into()),
        Some(toml::Value::Float(f)) => *f,
        Some(toml::Value::Integer(i)) => *i as f64,
        Some(other) => return Err(format!("field `cvss`: expected a number, found {}", other.type_str())),
    };
    if !(0.0..=10.0).contains(&cvss) {
        return Err(format!("field `cvss`: {cvss} is not between 0 and 10"));
    }
    let summary = required_str(t, "summary")?;
    let kev = match t.get("kev") {
        None => false,
        Some(toml::Value::Boolean(b)) => *b,
        Some(other) => return Err(format!("field `kev`: expected true or false, found {}", other.type_str())),
    };
    let note = optional_str(t, "note")?;
    let introduced = optional_version(t, "introduced")?;
    let fixed = optional_version(t, "fixed")?;
    let affected = match t.get("versions") {
        Some(value) => {
            if introduced.is_some() || fixed.is_some() {
                return Err("field `versions`: give either `versions` or `introduced`/`fixed`, not both".into());
            }
            let list = value
                .as_array()
                .ok_or_else(|| format!("field `versions`: expected an array of strings, found {}", value.type_str()))?;
            if list.is_empty() {
                return Err("field `versions`: the list is empty".into());
            }
            let mut versions = Vec::with_capacity(list.len());
            for v in list {
                let s =
                    v.as_str().ok_or_else(|| format!("field `versions`: expected strings, found {}", v.type_str()))?;
                check_version("versions", s)?;
                versions.push(s.to_string());
            }
            Affected::Versions(versions)
        }
        None => {
            if introduced.is_none() && fixed.is_none() {
                return Err("needs `versions`, or `introduced` and/or `fixed`".into());
            }
            if let (Some(lo), Some(hi)) = (&introduced, &fixed)
                && compare_versions(lo, hi) != Ordering::Less
            {
                return Err(format!("fields `introduced`/`fixed`: empty version range (`{lo}` is not before `{hi}`)"));
            }
            Affected::Range { introduced, fixed }
        }
    };
    Ok(VulnRule { product, affected, cve, cvss, summary, kev, note })
}

fn required_str(t: &toml::Table, field: &str) -> Result<String, String> {
    match optional_str(t, field)? {
        Some(s) => Ok(s),
        None => Err(format!("field `{field}` is missing")),
    }
}

fn optional_str(t: &toml::Table, field: &str) -> Result<Option<String>, String> {
    match t.get(field) {
        None => Ok(None),
        Some(toml::Value::String(s)) if s.trim().is_empty() => Err(format!("field `{field}` is empty")),
        Some(toml::Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(other) => Err(format!("field `{field}`: expected a string, found {}", other.type_str())),
    }
}

fn optional_version(t: &toml::Table, field: &str) -> Result<Option<String>, String> {
    let v = optional_str(t, field)?;
    if let Some(s) = &v {
        check_version(field, s)?;
    }
    Ok(v)
}

fn check_version(field: &str, s: &str) -> Result<(), String> {
    let ok = s.bytes().any(|b| b.is_ascii_digit())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_' | b'+' | b'~'));
    if ok { Ok(()) } else { Err(format!("field `{field}`: `{s}` is not a version such as 1.18.0 or 8.9p1")) }
}

fn is_cve_id(s: &str) -> bool {
    let Some(rest) = s.strip_prefix("CVE-") else {
        return false;
    };
    let Some((year, number)) = rest.split_once('-') else {
        return false;
    };
    year.len() == 4
        && year.bytes().all(|b| b.is_ascii_digit())
        && (4..=8).contains(&number.len())
        && number.bytes().all(|b| b.is_ascii_digit())
}

/// Compares two version strings.
///
/// A version is read as a sequence of tokens: runs of digits (compared as numbers, so `1.10` > `1.9` and
/// `2.4.049` == `2.4.49`) and runs of letters (compared case-insensitively as text). Every other character
/// (`.`, `-`, `_`, `+`, `~`) only separates tokens. Tokens are compared in order; at the first difference
/// a number ranks above letters (`1.0rc1` < `1.0.1`), and when one sequence is a prefix of the other the
/// longer one is greater (`7.3` < `7.3p1`, `1.3.5` < `1.3.5a`). This orders OpenSSH portable releases
/// (`8.9p1` < `9.8p1` < `9.8p2`), dotted releases (`1.18.0` < `1.20.1`) and letter suffixes; it does not
/// treat `rc`/`beta` as pre-releases (`1.0` < `1.0rc1`), so rules should name final releases.
pub fn compare_versions(a: &str, b: &str) -> Ordering {
    let mut x = Tokens { rest: a.as_bytes() };
    let mut y = Tokens { rest: b.as_bytes() };
    loop {
        match (x.next(), y.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(p), Some(q)) => {
                let ord = match (p, q) {
                    (Token::Num(m), Token::Num(n)) => cmp_digits(m, n),
                    (Token::Alpha(m), Token::Alpha(n)) => {
                        m.iter().map(u8::to_ascii_lowercase).cmp(n.iter().map(u8::to_ascii_lowercase))
                    }
                    (Token::Num(_), Token::Alpha(_)) => Ordering::Greater,
                    (Token::Alpha(_), Token::Num(_)) => Ordering::Less,
                };
                if ord != Ordering::Equal {
                    return ord;
                }
            }
        }
    }
}

/// Numeric comparison of two digit runs of any length.
fn cmp_digits(a: &[u8], b: &[u8]) -> Ordering {
    let trim = |s: &[u8]| -> usize { s.iter().position(|&c| c != b'0').unwrap_or(s.len()) };
    let (a, b) = (&a[trim(a)..], &b[trim(b)..]);
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

enum Token<'a> {
    Num(&'a [u8]),
    Alpha(&'a [u8]),
}

struct Tokens<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        let start = self.rest.iter().position(u8::is_ascii_alphanumeric)?;
        let s = &self.rest[start..];
        let digit = s[0].is_ascii_digit();
        let len = s.iter().position(|c| c.is_ascii_digit() != digit || !c.is_ascii_alphanumeric()).unwrap_or(s.len());
        self.rest = &s[len..];
        Some(if digit { Token::Num(&s[..len]) } else { Token::Alpha(&s[..len]) })
    }
}
