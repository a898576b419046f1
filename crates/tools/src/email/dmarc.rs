//! DMARC (RFC 7489) of the checked domain: the `v=DMARC1` record at `_dmarc.<domain>` or, when there is none,
//! at the closest parent domain (the tree walk of DMARCbis), its parsed tags, and the findings they give.
//!
//! This file exists because DMARC is a concern of its own, with its own record grammar and its own findings,
//! sharing only the TXT lookup and the finding list with the other checks of the `email` tool.

use std::collections::BTreeMap;

use serde::Serialize;

use super::{EmailSeverity, Findings, PolicyTxt, policy_txt, printable};
use crate::Toolbox;

/// Parent domains tried for an inherited DMARC record.
const DMARC_MAX_PARENTS: usize = 4;

/// The DMARC policy that applies to the domain. When no record applies (or the lookup failed), the values a
/// record would have (`policy`, `pct`, `adkim`, `aspf`, `fo`…) are absent rather than defaulted: there is no
/// policy to describe.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DmarcReport {
    /// The `v=DMARC1` record (the first one when several are published).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    /// The domain whose `_dmarc` record applies: the domain itself, or a parent when `inherited`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    /// The record is a parent domain's (its `sp=` applies to this domain).
    pub inherited: bool,
    /// How many `v=DMARC1` records were found at that name; more than one makes receivers ignore DMARC.
    pub record_count: usize,
    /// `p=`: the policy for the organisational domain; absent when missing or invalid.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub policy: Option<DmarcPolicy>,
    /// `sp=`, or `p=` when absent: the policy for subdomains.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subdomain_policy: Option<DmarcPolicy>,
    /// The policy receivers apply to this domain: `policy`, or `subdomainPolicy` for an inherited record.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub effective_policy: Option<DmarcPolicy>,
    /// `pct=`: the percentage of failing mail the policy applies to (100 when the record has no `pct=`); absent
    /// when no record applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pct: Option<u8>,
    /// `rua=`: aggregate report destinations (URIs).
    pub rua: Vec<String>,
    /// `ruf=`: failure report destinations (URIs).
    pub ruf: Vec<String>,
    /// `adkim=`: DKIM alignment, `r` (relaxed, when the record has no `adkim=`) or `s` (strict); absent when no
    /// record applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub adkim: Option<String>,
    /// `aspf=`: SPF alignment, `r` (relaxed, when the record has no `aspf=`) or `s` (strict); absent when no
    /// record applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aspf: Option<String>,
    /// `fo=`: failure reporting options (`0`, `1`, `d`, `s`; `0` when the record has no `fo=`); absent when no
    /// record applies.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fo: Option<Vec<String>>,
    /// Every tag as published, by lower-case name.
    pub tags: BTreeMap<String, String>,
    /// Invalid tags and values.
    pub errors: Vec<String>,
}

/// A DMARC policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DmarcPolicy {
    None,
    Quarantine,
    Reject,
}

pub(super) struct DmarcCheck {
    pub(super) report: DmarcReport,
    pub(super) resolver_down: bool,
    pub(super) lookup_error: Option<String>,
    policy_error: bool,
}

impl DmarcCheck {
    pub(super) fn findings(&self, domain: &str, f: &mut Findings) {
        let r = &self.report;
        if let Some(e) = &self.lookup_error {
            f.add("dmarc_lookup_failed", EmailSeverity::Medium, format!("the DMARC lookup of {domain} failed: {e}"));
            return;
        }
        if r.record_count == 0 {
            f.add(
                "no_dmarc",
                EmailSeverity::Medium,
                format!("no DMARC record at _dmarc.{domain}: receivers get no policy for mail failing SPF/DKIM"),
            );
            return;
        }
        let at = format!("_dmarc.{}", r.domain.as_deref().unwrap_or(domain));
        if r.record_count > 1 {
            f.add(
                "dmarc_multiple_records",
                EmailSeverity::High,
                format!("{at} publishes {} DMARC records: receivers ignore DMARC", r.record_count),
            );
        }
        if self.policy_error {
            f.add(
                "dmarc_invalid",
                EmailSeverity::High,
                format!("the DMARC record at {at} has no valid p= policy: receivers may ignore it"),
            );
        }
        for e in r.errors.iter().filter(|e| !e.starts_with("p=") && !e.starts_with("missing p=")) {
            f.add("dmarc_invalid_tag", EmailSeverity::Low, format!("DMARC record at {at}: {e}"));
        }
        if r.effective_policy == Some(DmarcPolicy::None) {
            f.add(
                "dmarc_policy_none",
                EmailSeverity::Medium,
                format!("the DMARC policy for {domain} is none (monitoring only): failing mail is still delivered"),
            );
        } else if !r.inherited
            && r.subdomain_policy == Some(DmarcPolicy::None)
            && r.policy.is_some_and(|p| p != DmarcPolicy::None)
        {
            f.add(
                "dmarc_subdomain_policy_none",
                EmailSeverity::Low,
                format!("the DMARC record at {at} sets sp=none: subdomains of {domain} are only monitored"),
            );
        }
        if let Some(pct) = r.pct.filter(|&pct| pct < 100) {
            f.add(
                "dmarc_pct_partial",
                EmailSeverity::Low,
                format!("the DMARC policy applies to only {pct}% of failing mail (pct={pct})"),
            );
        }
        if r.rua.is_empty() {
            f.add(
                "dmarc_no_rua",
                EmailSeverity::Low,
                format!("the DMARC record at {at} has no rua=: no aggregate reports are received"),
            );
        }
    }
}

pub(crate) fn is_dmarc_record(txt: &str) -> bool {
    let first = txt.split(';').next().unwrap_or("");
    match first.split_once('=') {
        Some((k, v)) => k.trim().eq_ignore_ascii_case("v") && v.trim().eq_ignore_ascii_case("DMARC1"),
        None => false,
    }
}

pub(super) async fn check_dmarc(tb: &Toolbox, domain: &str) -> DmarcCheck {
    let mut check =
        DmarcCheck { report: DmarcReport::default(), resolver_down: false, lookup_error: None, policy_error: false };
    let (found_at, records) = match policy_txt(tb, &format!("_dmarc.{domain}"), is_dmarc_record).await {
        PolicyTxt::Found(records) => (domain.to_string(), records),
        PolicyTxt::Failed { message, resolver } => {
            check.resolver_down = resolver;
            check.lookup_error = Some(message);
            return check;
        }
        PolicyTxt::None | PolicyTxt::NxDomain => match inherited_dmarc(tb, domain).await {
            Some(found) => found,
            None => return check,
        },
    };
    let inherited = found_at != domain;
    check.report.record_count = records.len();
    let text = records.into_iter().next().unwrap_or_default();
    let parsed = parse_dmarc(&text);
    check.policy_error = parsed.policy.is_none();
    let r = &mut check.report;
    r.record = Some(text);
    r.domain = Some(found_at);
    r.inherited = inherited;
    r.policy = parsed.policy;
    r.subdomain_policy = parsed.subdomain_policy.or(parsed.policy);
    r.effective_policy = if inherited { r.subdomain_policy } else { r.policy };
    r.pct = Some(parsed.pct);
    r.rua = parsed.rua;
    r.ruf = parsed.ruf;
    r.adkim = Some(parsed.adkim);
    r.aspf = Some(parsed.aspf);
    r.fo = Some(parsed.fo);
    r.tags = parsed.tags;
    r.errors = parsed.errors;
    check
}

/// The closest parent domain (down to two labels) with a DMARC record, queried concurrently.
async fn inherited_dmarc(tb: &Toolbox, domain: &str) -> Option<(String, Vec<String>)> {
    let labels: Vec<&str> = domain.split('.').collect();
    let parents: Vec<String> =
        (1..labels.len().saturating_sub(1)).take(DMARC_MAX_PARENTS).map(|i| labels[i..].join(".")).collect();
    if parents.is_empty() {
        return None;
    }
    let mut set = tokio::task::JoinSet::new();
    for (i, parent) in parents.iter().enumerate() {
        let tb = tb.clone();
        let parent = parent.clone();
        set.spawn(async move { (i, policy_txt(&tb, &format!("_dmarc.{parent}"), is_dmarc_record).await) });
    }
    let mut best: Option<(usize, Vec<String>)> = None;
    while let Some(joined) = set.join_next().await {
        if let Ok((i, PolicyTxt::Found(records))) = joined
            && best.as_ref().is_none_or(|(b, _)| i < *b)
        {
            best = Some((i, records));
        }
    }
    best.and_then(|(i, records)| parents.get(i).map(|p| (p.clone(), records)))
}

/// One parsed DMARC record.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct DmarcRecord {
    policy: Option<DmarcPolicy>,
    /// `sp=` as published.
    subdomain_policy: Option<DmarcPolicy>,
    pct: u8,
    rua: Vec<String>,
    ruf: Vec<String>,
    adkim: String,
    aspf: String,
    fo: Vec<String>,
    tags: BTreeMap<String, String>,
    errors: Vec<String>,
}

/// Parses a `v=DMARC1` record (RFC 7489 §6.3, with the DMARCbis tags `np`, `psd`, `t`). Never fails: problems
/// are listed in `errors`; an error about `p=` starts with `p=` or `missing p=`.
pub(crate) fn parse_dmarc(record: &str) -> DmarcRecord {
    let mut d = DmarcRecord {
        policy: None,
        subdomain_policy: None,
        pct: 100,
        rua: Vec::new(),
        ruf: Vec::new(),
        adkim: "r".into(),
        aspf: "r".into(),
        fo: vec!["0".into()],
        tags: BTreeMap::new(),
        errors: Vec::new(),
    };
    if !is_dmarc_record(record) {
        d.errors.push("the record does not start with `v=DMARC1`".into());
    }
    for (i, part) in record.split(';').enumerate() {
        let part = part.trim();
        if part.is_empty() {
            continue;
        }
        let Some((name, value)) = part.split_once('=') else {
            d.errors.push(format!("`{}` is not a tag=value pair", printable(part)));
            continue;
        };
        let name = name.trim().to_ascii_lowercase();
        let value = value.trim();
        if d.tags.contains_key(&name) {
            d.errors.push(format!("tag `{}` appears more than once", printable(&name)));
            continue;
        }
        d.tags.insert(name.clone(), value.to_string());
        if let Err(e) = dmarc_tag(&mut d, i, &name, value) {
            d.errors.push(e);
        }
    }
    if d.policy.is_none() && !d.tags.contains_key("p") {
        d.errors.push("missing p= (the policy is required)".into());
    }
    d
}

fn dmarc_tag(d: &mut DmarcRecord, index: usize, name: &str, value: &str) -> Result<(), String> {
    let lower = value.to_ascii_lowercase();
    let one_of = |allowed: &[&str]| -> Result<String, String> {
        if allowed.contains(&lower.as_str()) {
            Ok(lower.clone())
        } else {
            Err(format!("{name}=`{}` is not one of {}", printable(value), allowed.join(", ")))
        }
    };
    match name {
        "v" if index == 0 => {}
        "v" => return Err("`v=` must be the first tag".into()),
        "p" => d.policy = Some(parse_policy(name, value)?),
        "sp" => d.subdomain_policy = Some(parse_policy(name, value)?),
        "np" => {
            parse_policy(name, value)?;
        }
        "pct" => match value.parse::<u8>() {
            Ok(n) if n <= 100 => d.pct = n,
            _ => return Err(format!("pct=`{}` is not a whole number from 0 to 100", printable(value))),
        },
        "rua" => d.rua = parse_uris(name, value)?,
        "ruf" => d.ruf = parse_uris(name, value)?,
        "adkim" => d.adkim = one_of(&["r", "s"])?,
        "aspf" => d.aspf = one_of(&["r", "s"])?,
        "fo" => {
            let opts: Vec<String> = lower.split(':').map(|s| s.trim().to_string()).collect();
            if let Some(bad) = opts.iter().find(|o| !matches!(o.as_str(), "0" | "1" | "d" | "s")) {
                return Err(format!("fo=`{}`: `{}` is not 0, 1, d or s", printable(value), printable(bad)));
            }
            d.fo = opts;
        }
        "rf" => {
            if let Some(bad) = lower.split(':').map(str::trim).find(|f| *f != "afrf") {
                return Err(format!("rf=`{}`: unknown report format `{}`", printable(value), printable(bad)));
            }
        }
        "ri" => {
            value.parse::<u32>().map_err(|_| format!("ri=`{}` is not a number of seconds", printable(value)))?;
        }
        "psd" => {
            one_of(&["y", "n", "u"])?;
        }
        "t" => {
            one_of(&["y", "n"])?;
        }
        _ => return Err(format!("unknown tag `{}`", printable(name))),
    }
    Ok(())
}

fn parse_policy(name: &str, value: &str) -> Result<DmarcPolicy, String> {
    match value.to_ascii_lowercase().as_str() {
        "none" => Ok(DmarcPolicy::None),
        "quarantine" => Ok(DmarcPolicy::Quarantine),
        "reject" => Ok(DmarcPolicy::Reject),
        _ => Err(format!("{name}=`{}` is not none, quarantine or reject", printable(value))),
    }
}

/// `uri *("," uri)`, each `scheme:rest[!size]`; a `mailto:` needs an address.
fn parse_uris(name: &str, value: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for uri in value.split(',').map(str::trim) {
        let Some((scheme, rest)) = uri.split_once(':') else {
            return Err(format!("{name}: `{}` is not a URI (e.g. mailto:reports@example.com)", printable(uri)));
        };
        let scheme_ok = scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !scheme_ok || rest.is_empty() || uri.chars().any(|c| c.is_whitespace()) {
            return Err(format!("{name}: `{}` is not a URI", printable(uri)));
        }
        let target = rest.split_once('!').map(|(t, _)| t).unwrap_or(rest);
        if scheme.eq_ignore_ascii_case("mailto")
            && !target.split_once('@').is_some_and(|(l, d)| !l.is_empty() && !d.is_empty())
        {
            return Err(format!("{name}: `{}` has no mail address", printable(uri)));
        }
        if out.len() < 50 {
            out.push(uri.to_string());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dmarc_records_parse_with_defaults() {
        let d = parse_dmarc(
            "v=DMARC1; p=reject; rua=mailto:agg@example.com,mailto:x@example.net!10m; ruf=mailto:f@example.com; adkim=s; fo=1:d",
        );
        assert_eq!(d.errors, Vec::<String>::new());
        assert_eq!(d.policy, Some(DmarcPolicy::Reject));
        assert_eq!(d.subdomain_policy, None);
        assert_eq!(d.pct, 100);
        assert_eq!(d.rua, ["mailto:agg@example.com", "mailto:x@example.net!10m"]);
        assert_eq!(d.ruf, ["mailto:f@example.com"]);
        assert_eq!((d.adkim.as_str(), d.aspf.as_str()), ("s", "r"));
        assert_eq!(d.fo, ["1", "d"]);
        assert_eq!(d.tags.get("p").map(String::as_str), Some("reject"));

        let d =
            parse_dmarc("v = DMARC1 ; P=Quarantine; sp=none; pct=25; aspf=s; ri=3600; rf=afrf; np=reject; psd=n; t=y;");
        assert_eq!(d.errors, Vec::<String>::new());
        assert_eq!((d.policy, d.subdomain_policy, d.pct), (Some(DmarcPolicy::Quarantine), Some(DmarcPolicy::None), 25));
        assert_eq!(d.aspf, "s");
    }

    #[test]
    fn dmarc_invalid_tags_and_values_are_reported() {
        for (record, err) in [
            ("v=DMARC1; p=block", "p=`block` is not none, quarantine or reject"),
            ("v=DMARC1; rua=mailto:a@example.com", "missing p="),
            ("v=DMARC1; p=none; pct=150", "pct=`150`"),
            ("v=DMARC1; p=none; pct=-1", "pct=`-1`"),
            ("v=DMARC1; p=none; adkim=x", "adkim=`x` is not one of r, s"),
            ("v=DMARC1; p=none; fo=2", "`2` is not 0, 1, d or s"),
            ("v=DMARC1; p=none; rua=reports@example.com", "is not a URI"),
            ("v=DMARC1; p=none; rua=mailto:", "is not a URI"),
            ("v=DMARC1; p=none; ruf=mailto:nobody", "has no mail address"),
            ("v=DMARC1; p=none; foo=bar", "unknown tag `foo`"),
            ("v=DMARC1; p=none; p=reject", "tag `p` appears more than once"),
            ("v=DMARC1; p=none; garbage", "`garbage` is not a tag=value pair"),
            ("v=DMARC1; p=none; rf=iodef", "unknown report format `iodef`"),
            ("v=DMARC1; p=none; ri=soon", "ri=`soon`"),
            ("p=none; v=DMARC1", "does not start with `v=DMARC1`"),
        ] {
            let d = parse_dmarc(record);
            assert!(d.errors.iter().any(|e| e.contains(err)), "{record}: {:?}", d.errors);
        }
        assert_eq!(parse_dmarc("v=DMARC1; p=block").policy, None);
    }

    #[test]
    fn dmarc_records_are_recognised_by_their_first_tag() {
        assert!(is_dmarc_record("v=DMARC1; p=none"));
        assert!(is_dmarc_record("v=dmarc1"));
        assert!(is_dmarc_record(" v = DMARC1 ;p=none"));
        assert!(!is_dmarc_record("p=none; v=DMARC1"));
        assert!(!is_dmarc_record("v=DMARC2; p=none"));
        assert!(!is_dmarc_record("v=spf1 -all"));
    }

    mod robustness {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn dmarc_parser_never_panics(s in "\\PC{0,200}") {
                let _ = parse_dmarc(&s);
                let _ = parse_dmarc(&format!("v=DMARC1; {s}"));
            }
        }
    }
}
