//! SPF (RFC 7208) of the checked domain: its `v=spf1` record, the records reached through `include:` and
//! `redirect=` (fetched breadth first, each level concurrently), the DNS-lookup count against the limit of
//! §4.6.4, and the findings they give.
//!
//! This file exists to keep the DNS side of SPF (what to fetch, how far, when to stop) apart from the record
//! grammar (`spf_record.rs`), which needs no network and is tested on its own.

use std::collections::HashMap;

use serde::Serialize;

use super::spf_record::{SpfRecord, check_domain_spec, is_spf_record, parse_spf};
use super::{EmailSeverity, Findings, PolicyTxt, policy_txt, printable};
use crate::Toolbox;

/// The limit of DNS-querying terms of RFC 7208 §4.6.4.
pub const SPF_LOOKUP_LIMIT: u32 = 10;
/// How deep `include:` / `redirect=` chains are followed.
pub const SPF_MAX_DEPTH: u32 = 10;
/// How many included or redirected records are fetched at most for one run.
pub const SPF_MAX_RECORDS: usize = 40;

/// The SPF policy of the domain.
///
/// A domain should publish one `v=spf1` record; with several, receivers fail SPF with permerror (RFC 7208
/// §4.5). Each of them is then parsed and listed in `records`; the other fields describe the first (in
/// alphabetical order, so that repeated runs agree), and only its `include:` and `redirect=` are followed.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SpfReport {
    /// The `v=spf1` record (the first in alphabetical order when several are published).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    /// How many `v=spf1` records the domain publishes; more than one is a permerror.
    pub record_count: usize,
    /// Every `v=spf1` record the domain publishes, each parsed on its own, in alphabetical order.
    pub records: Vec<SpfPublishedRecord>,
    /// The directives in order.
    pub mechanisms: Vec<SpfMechanism>,
    /// The modifiers in order (`redirect`, `exp`, and unknown ones, which evaluators ignore).
    pub modifiers: Vec<SpfModifier>,
    /// The `redirect=` domain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect: Option<String>,
    /// The `exp=` domain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<String>,
    /// The result of the `all` that ends evaluation (after following `redirect=` when the record has no `all`):
    /// `pass` (+all), `fail` (-all), `softfail` (~all), `neutral` (?all); absent when there is none.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub all_qualifier: Option<SpfQualifier>,
    /// DNS-querying terms (include, a, mx, ptr, exists, redirect) in the record and everything it includes
    /// (RFC 7208 §4.6.4); above `lookupLimit` evaluation fails with permerror.
    pub lookup_count: u32,
    /// The limit of DNS-querying terms (10).
    pub lookup_limit: u32,
    /// Every receiver would fail the check with permerror (several records, a syntax error, too many lookups,
    /// an included domain without SPF, an include loop).
    pub permerror: bool,
    /// The records reached through `include:` and `redirect=`, breadth first. A domain built from macros
    /// (`include:%{d}.example.com`) depends on the message and is not followed (its term is still counted).
    pub includes: Vec<SpfInclude>,
    /// Syntax errors (naming the offending term) and problems of included records.
    pub errors: Vec<String>,
}

/// One `v=spf1` record published by the domain, parsed on its own (its includes are not followed).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SpfPublishedRecord {
    /// The record as published.
    pub record: String,
    /// The directives in order.
    pub mechanisms: Vec<SpfMechanism>,
    /// The modifiers in order.
    pub modifiers: Vec<SpfModifier>,
    /// The `redirect=` domain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub redirect: Option<String>,
    /// The `exp=` domain.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exp: Option<String>,
    /// The result of the record's own `all`, if it has one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub all_qualifier: Option<SpfQualifier>,
    /// DNS-querying terms of this record itself.
    pub lookup_count: u32,
    /// Syntax errors, each naming the offending term.
    pub errors: Vec<String>,
}

impl SpfPublishedRecord {
    fn new(text: &str, parsed: &SpfRecord) -> SpfPublishedRecord {
        SpfPublishedRecord {
            record: text.to_string(),
            mechanisms: parsed.mechanisms.clone(),
            modifiers: parsed.modifiers.clone(),
            redirect: parsed.redirect.clone(),
            exp: parsed.exp.clone(),
            all_qualifier: parsed.all,
            lookup_count: parsed.lookups,
            errors: parsed.errors.clone(),
        }
    }
}

/// One directive: `[qualifier] name[:value]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SpfMechanism {
    /// `+` (pass, the default), `-` (fail), `~` (softfail) or `?` (neutral).
    pub qualifier: String,
    /// `all`, `include`, `a`, `mx`, `ptr`, `ip4`, `ip6` or `exists` (lower case).
    pub name: String,
    /// What follows the name (`_spf.example.com`, `192.0.2.0/24`, `/24`); absent when nothing does.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// One modifier: `name=value`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SpfModifier {
    /// Lower case.
    pub name: String,
    pub value: String,
}

/// A record reached through `include:` or `redirect=`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SpfInclude {
    /// The domain named by the term.
    pub domain: String,
    /// `include` or `redirect`.
    pub via: String,
    /// 1 for a term of the domain's own record, 2 for a term of an included record...
    pub depth: u32,
    /// The included domain's `v=spf1` record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    /// DNS-querying terms of this record itself (included records are counted in their own entries).
    pub lookup_count: u32,
    /// Why the record cannot be used (missing, several, unreadable, DNS failure).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// An SPF result, as named by RFC 7208.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SpfQualifier {
    Pass,
    Fail,
    Softfail,
    Neutral,
}

impl SpfQualifier {
    pub(super) fn symbol(self) -> &'static str {
        match self {
            SpfQualifier::Pass => "+",
            SpfQualifier::Fail => "-",
            SpfQualifier::Softfail => "~",
            SpfQualifier::Neutral => "?",
        }
    }
}

/// The SPF check of one domain.
pub(super) struct SpfCheck {
    pub(super) report: SpfReport,
    pub(super) nxdomain: bool,
    pub(super) resolver_down: bool,
    pub(super) lookup_error: Option<String>,
    /// (code, severity, message) gathered while following includes.
    problems: Vec<(&'static str, EmailSeverity, String)>,
    uses_ptr: bool,
}

impl SpfCheck {
    pub(super) fn findings(&self, domain: &str, f: &mut Findings) {
        let r = &self.report;
        if let Some(e) = &self.lookup_error {
            f.add("spf_lookup_failed", EmailSeverity::Medium, format!("the SPF lookup of {domain} failed: {e}"));
            return;
        }
        if r.record_count == 0 {
            f.add(
                "no_spf",
                EmailSeverity::Medium,
                format!("{domain} publishes no SPF record: any server may send mail as {domain}"),
            );
            return;
        }
        if r.record_count > 1 {
            let list: Vec<String> = r.records.iter().map(|p| format!("`{}`", printable(&p.record))).collect();
            f.add(
                "spf_multiple_records",
                EmailSeverity::High,
                format!(
                    "{domain} publishes {} SPF records ({}) where one is allowed: receivers fail SPF with permerror \
                     (RFC 7208 §4.5); only the first is followed further",
                    r.record_count,
                    list.join(", ")
                ),
            );
        }
        for (code, severity, message) in &self.problems {
            f.add(code, *severity, message.clone());
        }
        match r.all_qualifier {
            Some(SpfQualifier::Pass) => f.add(
                "spf_plus_all",
                EmailSeverity::Critical,
                format!("the SPF record of {domain} ends with +all: every server on the internet may send as {domain}"),
            ),
            Some(SpfQualifier::Neutral) => f.add(
                "spf_neutral_all",
                EmailSeverity::Low,
                format!("the SPF record of {domain} ends with ?all: unlisted senders are neutral, not rejected"),
            ),
            None => f.add(
                "spf_no_all",
                EmailSeverity::Low,
                format!("the SPF record of {domain} has no `all`: unlisted senders get a neutral result"),
            ),
            Some(SpfQualifier::Fail | SpfQualifier::Softfail) => {}
        }
        if r.lookup_count > r.lookup_limit {
            f.add(
                "spf_too_many_lookups",
                EmailSeverity::High,
                format!(
                    "the SPF record of {domain} needs {} DNS lookups, above the limit of {}: receivers fail SPF \
                     with permerror",
                    r.lookup_count, r.lookup_limit
                ),
            );
        }
        if self.uses_ptr {
            f.add(
                "spf_ptr",
                EmailSeverity::Low,
                format!(
                    "the SPF policy of {domain} uses the `ptr` mechanism, which RFC 7208 deprecates (slow, unreliable)"
                ),
            );
        }
    }
}

pub(super) async fn check_spf(tb: &Toolbox, domain: &str) -> SpfCheck {
    let mut check = SpfCheck {
        report: SpfReport { lookup_limit: SPF_LOOKUP_LIMIT, ..SpfReport::default() },
        nxdomain: false,
        resolver_down: false,
        lookup_error: None,
        problems: Vec::new(),
        uses_ptr: false,
    };
    let records = match policy_txt(tb, domain, is_spf_record).await {
        PolicyTxt::Found(records) => records,
        PolicyTxt::None => return check,
        PolicyTxt::NxDomain => {
            check.nxdomain = true;
            return check;
        }
        PolicyTxt::Failed { message, resolver } => {
            check.resolver_down = resolver;
            check.lookup_error = Some(message);
            return check;
        }
    };
    let mut records = records;
    // DNS gives a record set in any order: sorted, the first record (and the result) is the same on every run.
    records.sort();
    check.report.record_count = records.len();
    let several = records.len() > 1;
    let mut parsed: Vec<(String, SpfRecord)> =
        records.into_iter().map(|text| (text.clone(), parse_spf(&text))).collect();
    for (text, record) in &parsed {
        let which = if several {
            format!("SPF record `{}` of {domain}", printable(text))
        } else {
            format!("SPF record of {domain}")
        };
        for e in &record.errors {
            check.problems.push(("spf_syntax_error", EmailSeverity::High, format!("{which}: {e}")));
        }
        check.uses_ptr |= record.uses_ptr;
        check.report.records.push(SpfPublishedRecord::new(text, record));
    }
    let (top_text, top) = if parsed.is_empty() { (String::new(), SpfRecord::default()) } else { parsed.remove(0) };
    check.report.record = Some(top_text);
    check.report.mechanisms = top.mechanisms.clone();
    check.report.modifiers = top.modifiers.clone();
    check.report.redirect = top.redirect.clone();
    check.report.exp = top.exp.clone();
    check.report.errors = top.errors.clone();
    for (text, record) in &parsed {
        check.report.errors.extend(record.errors.iter().map(|e| format!("`{}`: {e}", printable(text))));
    }

    let followed = follow_includes(tb, domain, &top).await;
    check.report.lookup_count = top.lookups + followed.entries.iter().map(|e| e.lookup_count).sum::<u32>();
    check.report.includes = followed.entries;
    check.report.errors.extend(followed.errors.iter().map(|(_, _, m)| m.clone()));
    check.uses_ptr |= followed.uses_ptr;
    check.problems.extend(followed.errors);
    check.report.all_qualifier = effective_all(&top, &followed.parsed);

    let permerror_codes = ["spf_syntax_error", "spf_include_missing", "spf_include_loop"];
    check.report.permerror = check.report.record_count > 1
        || check.report.lookup_count > SPF_LOOKUP_LIMIT
        || check.problems.iter().any(|(code, _, _)| permerror_codes.contains(code));
    check
}

/// The `all` that ends evaluation: the record's own, else the one reached through `redirect=`.
fn effective_all(top: &SpfRecord, parsed: &HashMap<String, SpfRecord>) -> Option<SpfQualifier> {
    let mut current = top;
    for _ in 0..=SPF_MAX_DEPTH {
        if let Some(q) = current.all {
            return Some(q);
        }
        let next = current.redirect.as_ref().map(|d| d.trim_end_matches('.').to_ascii_lowercase())?;
        current = parsed.get(&next)?;
    }
    None
}

#[derive(Default)]
struct Followed {
    entries: Vec<SpfInclude>,
    errors: Vec<(&'static str, EmailSeverity, String)>,
    /// Parsed records by (lower-case) domain, for `redirect=` chains.
    parsed: HashMap<String, SpfRecord>,
    uses_ptr: bool,
}

/// A domain to fetch: named by `via` at `depth`, below `ancestors` (for loop detection).
struct Pending {
    domain: String,
    via: &'static str,
    depth: u32,
    ancestors: Vec<String>,
}

/// Follows `include:` and `redirect=` breadth first, fetching each level's records concurrently.
async fn follow_includes(tb: &Toolbox, domain: &str, top: &SpfRecord) -> Followed {
    let mut out = Followed::default();
    let root = vec![domain.to_ascii_lowercase()];
    let mut level = children(top, 1, &root, &mut out.errors);
    let mut fetched: HashMap<String, PolicyTxt> = HashMap::new();
    let mut budget_noted = false;

    while !level.is_empty() {
        // Fetch what this level needs, concurrently.
        let mut set = tokio::task::JoinSet::new();
        let mut wanted: Vec<String> = level.iter().map(|p| p.domain.clone()).collect();
        wanted.sort();
        wanted.dedup();
        for (i, d) in wanted.iter().enumerate() {
            if fetched.contains_key(d) || fetched.len() + i >= SPF_MAX_RECORDS {
                continue;
            }
            let tb = tb.clone();
            let d = d.clone();
            set.spawn(async move {
                let txt = policy_txt(&tb, &d, is_spf_record).await;
                (d, txt)
            });
        }
        while let Some(joined) = set.join_next().await {
            if let Ok((d, txt)) = joined {
                fetched.insert(d, txt);
            }
        }

        let mut next = Vec::new();
        for p in level {
            if out.entries.len() >= SPF_MAX_RECORDS {
                if !budget_noted {
                    budget_noted = true;
                    out.errors.push((
                        "spf_too_many_lookups",
                        EmailSeverity::High,
                        format!("stopped following include:/redirect= after {SPF_MAX_RECORDS} records"),
                    ));
                }
                break;
            }
            let mut entry = SpfInclude {
                domain: p.domain.clone(),
                via: p.via.to_string(),
                depth: p.depth,
                record: None,
                lookup_count: 0,
                error: None,
            };
            let what = format!("{}:{}", p.via, p.domain);
            match fetched.get(&p.domain) {
                Some(PolicyTxt::Found(records)) if records.len() > 1 => {
                    let msg = format!("{what}: {} publishes {} SPF records (permerror)", p.domain, records.len());
                    entry.error = Some(msg.clone());
                    out.errors.push(("spf_include_missing", EmailSeverity::High, msg));
                }
                Some(PolicyTxt::Found(records)) => {
                    let text = records.first().cloned().unwrap_or_default();
                    let parsed = parse_spf(&text);
                    for e in &parsed.errors {
                        out.errors.push((
                            "spf_syntax_error",
                            EmailSeverity::High,
                            format!("SPF record of {} (via {what}): {e}", p.domain),
                        ));
                    }
                    out.uses_ptr |= parsed.uses_ptr;
                    entry.lookup_count = parsed.lookups;
                    entry.record = Some(text);
                    if p.depth < SPF_MAX_DEPTH {
                        let mut ancestors = p.ancestors.clone();
                        ancestors.push(p.domain.clone());
                        next.extend(children(&parsed, p.depth + 1, &ancestors, &mut out.errors));
                    } else {
                        out.errors.push((
                            "spf_too_many_lookups",
                            EmailSeverity::High,
                            format!("{what}: include:/redirect= nested deeper than {SPF_MAX_DEPTH} levels"),
                        ));
                    }
                    out.parsed.entry(p.domain.clone()).or_insert(parsed);
                }
                Some(PolicyTxt::None | PolicyTxt::NxDomain) => {
                    let msg = format!("{what}: {} publishes no SPF record (permerror)", p.domain);
                    entry.error = Some(msg.clone());
                    out.errors.push(("spf_include_missing", EmailSeverity::High, msg));
                }
                Some(PolicyTxt::Failed { message, .. }) => {
                    let msg = format!("{what}: the lookup failed (temperror): {message}");
                    entry.error = Some(msg.clone());
                    out.errors.push(("spf_lookup_failed", EmailSeverity::Medium, msg));
                }
                None => {
                    entry.error = Some(format!("{what}: not fetched (more than {SPF_MAX_RECORDS} records)"));
                }
            }
            out.entries.push(entry);
        }
        level = next;
    }
    out
}

/// The domains a record sends the evaluator to: its includes, then its redirect when it has no `all`.
/// Domains with macros cannot be followed without a message and are skipped; loops are reported.
fn children(
    record: &SpfRecord,
    depth: u32,
    ancestors: &[String],
    errors: &mut Vec<(&'static str, EmailSeverity, String)>,
) -> Vec<Pending> {
    let mut targets: Vec<(&'static str, &str)> = record
        .mechanisms
        .iter()
        .filter(|m| m.name == "include")
        .filter_map(|m| m.value.as_deref().map(|v| ("include", v)))
        .collect();
    if record.all.is_none()
        && let Some(r) = &record.redirect
    {
        targets.push(("redirect", r));
    }
    let mut out = Vec::new();
    for (via, spec) in targets {
        if spec.contains('%') || check_domain_spec(spec).is_err() {
            continue;
        }
        let domain = spec.trim_end_matches('.').to_ascii_lowercase();
        if ancestors.contains(&domain) {
            errors.push((
                "spf_include_loop",
                EmailSeverity::High,
                format!("{via}:{domain} loops back to a record that includes it (permerror)"),
            ));
            continue;
        }
        out.push(Pending { domain, via, depth, ancestors: ancestors.to_vec() });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn effective_all_follows_redirects() {
        let top = parse_spf("v=spf1 mx redirect=a.example");
        let mut parsed = HashMap::new();
        parsed.insert("a.example".to_string(), parse_spf("v=spf1 redirect=b.example"));
        parsed.insert("b.example".to_string(), parse_spf("v=spf1 ip4:192.0.2.1 ~all"));
        assert_eq!(effective_all(&top, &parsed), Some(SpfQualifier::Softfail));
        parsed.remove("b.example");
        assert_eq!(effective_all(&top, &parsed), None);
        // A redirect loop ends.
        let looped = parse_spf("v=spf1 redirect=a.example");
        parsed.insert("a.example".to_string(), looped.clone());
        assert_eq!(effective_all(&looped, &parsed), None);
    }
}
