//! The `email` tool: how well a mail domain is protected against spoofing (MX, SPF, DMARC), and, for an address,
//! its breaches in Have I Been Pwned.
//!
//! Targets: an EMAIL address (its domain is checked, and the address is looked up in HIBP) or a DOMAIN.
//!
//! What is checked:
//! - MX: the domain's mail exchangers; none is a finding (`no_mx`), a null MX (`0 .`, RFC 7505) says the domain
//!   accepts no mail (`null_mx`, informational).
//! - SPF (RFC 7208): the `v=spf1` TXT record at the domain, parsed into mechanisms and modifiers. `include:` and
//!   `redirect=` are followed through DNS (at most [`SPF_MAX_DEPTH`] deep and [`SPF_MAX_RECORDS`] records) to
//!   count the DNS-querying terms (`include`, `a`, `mx`, `ptr`, `exists`, `redirect`) against the limit of 10 of
//!   §4.6.4. `allQualifier` is the `all` that ends evaluation, after following `redirect=` when the record has none.
//! - DMARC (RFC 7489): the `v=DMARC1` TXT record at `_dmarc.<domain>`; when the domain has none, its parent
//!   domains are tried (down to two labels, the tree walk of DMARCbis) and the record found there is reported as
//!   `inherited` (its `sp=` then applies to the domain).
//! - HIBP v3 `breachedaccount` for an address (`hibp.status`: `ok`, `not_configured`, `error`; `not_applicable`
//!   for a domain). "Not breached" (HTTP 404) is `ok` with `breachCount: 0`.
//!
//! Every problem is a finding `{code, severity, message}` with a stable code (listed in [`EmailFinding`]);
//! `findingCodes` repeats the codes for rules.
//!
//! The SPF and DMARC parsers are written here rather than taken from `mail-auth`: its parsed SPF keeps domain
//! specs as expanded-macro byte structures and CIDRs as bit masks (not the published text), its parse errors do
//! not name the offending term, unknown or invalid DMARC tags are dropped silently, and its default features
//! switch on DNSSEC and DNS-over-TLS in the shared resolver crate. Both grammars are small; the parsers are
//! covered by table tests and by property tests on arbitrary input.
//!
//! Failure modes: a DNS query that fails is recorded under `errors` (`mx`, `spf`, `dmarc`) with a finding, and
//! the other checks still run; HIBP failures are recorded in `hibp`. Only when the MX, SPF and DMARC queries all
//! fail because the resolver cannot be used does the run fail ([`ToolError::Failed`], retried).

use std::collections::{BTreeMap, HashMap};
use std::net::{Ipv4Addr, Ipv6Addr};

use hickory_resolver::proto::rr::{RData, RecordType};
use serde::{Deserialize, Serialize};
use tlink_domain::AssetType;

use crate::dns::{self, Answer, DnsMxRecord};
use crate::provider::{self, Outcome};
use crate::{Target, ToolError, Toolbox};

/// The limit of DNS-querying terms of RFC 7208 §4.6.4.
pub const SPF_LOOKUP_LIMIT: u32 = 10;
/// How deep `include:` / `redirect=` chains are followed.
pub const SPF_MAX_DEPTH: u32 = 10;
/// How many included or redirected records are fetched at most for one run.
pub const SPF_MAX_RECORDS: usize = 40;
/// Parent domains tried for an inherited DMARC record.
const DMARC_MAX_PARENTS: usize = 4;
/// Breaches kept in `hibp.breaches` (`breachCount` is always the full count).
const HIBP_MAX_BREACHES: usize = 1000;

/// The mail security of a domain and, for an address, its breaches.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmailResult {
    /// The mail domain checked (an address's domain).
    pub domain: String,
    /// The address checked against Have I Been Pwned; absent for a domain target.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
    /// True when the domain does not exist (NXDOMAIN).
    pub nxdomain: bool,
    /// The domain designates at least one mail server (a null MX does not count).
    pub has_mx: bool,
    /// The domain publishes a null MX (`0 .`, RFC 7505): it accepts no mail.
    pub null_mx: bool,
    /// MX records by preference.
    pub mx: Vec<DnsMxRecord>,
    /// The domain publishes a `v=spf1` record.
    pub has_spf: bool,
    /// The SPF policy.
    pub spf: SpfReport,
    /// A DMARC record applies to the domain (its own or an inherited one).
    pub has_dmarc: bool,
    /// The DMARC policy.
    pub dmarc: DmarcReport,
    /// Everything found wrong or worth knowing, most severe first.
    pub findings: Vec<EmailFinding>,
    /// The distinct codes of `findings`, for rules (`findingCodes contains "no_dmarc"`).
    pub finding_codes: Vec<String>,
    /// The most severe finding's severity; absent when there is no finding.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub highest_severity: Option<EmailSeverity>,
    /// Have I Been Pwned, for an address.
    pub hibp: HibpSection,
    /// DNS lookups that failed (`mx`, `spf`, `dmarc`), with why.
    pub errors: BTreeMap<String, String>,
}

/// One finding.
///
/// Codes: `domain_not_found`; `no_mx`, `null_mx`, `mx_lookup_failed`; `no_spf`, `spf_multiple_records`,
/// `spf_syntax_error`, `spf_plus_all`, `spf_neutral_all`, `spf_no_all`, `spf_too_many_lookups`, `spf_ptr`,
/// `spf_include_missing`, `spf_include_loop`, `spf_lookup_failed`; `no_dmarc`, `dmarc_multiple_records`,
/// `dmarc_invalid`, `dmarc_policy_none`, `dmarc_subdomain_policy_none`, `dmarc_pct_partial`, `dmarc_invalid_tag`,
/// `dmarc_no_rua`, `dmarc_lookup_failed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct EmailFinding {
    /// Stable code, e.g. `no_dmarc`.
    pub code: String,
    pub severity: EmailSeverity,
    /// What is wrong, naming the record or term concerned.
    pub message: String,
}

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EmailSeverity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

/// The SPF policy of the domain.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SpfReport {
    /// The `v=spf1` record (the first one when several are published).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub record: Option<String>,
    /// How many `v=spf1` records the domain publishes; more than one is a permerror.
    pub record_count: usize,
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
    fn symbol(self) -> &'static str {
        match self {
            SpfQualifier::Pass => "+",
            SpfQualifier::Fail => "-",
            SpfQualifier::Softfail => "~",
            SpfQualifier::Neutral => "?",
        }
    }
}

/// The DMARC policy that applies to the domain.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
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
    /// `pct=`: the percentage of failing mail the policy applies to (default 100).
    pub pct: u8,
    /// `rua=`: aggregate report destinations (URIs).
    pub rua: Vec<String>,
    /// `ruf=`: failure report destinations (URIs).
    pub ruf: Vec<String>,
    /// `adkim=`: DKIM alignment, `r` (relaxed, default) or `s` (strict).
    pub adkim: String,
    /// `aspf=`: SPF alignment, `r` (relaxed, default) or `s` (strict).
    pub aspf: String,
    /// `fo=`: failure reporting options (`0`, `1`, `d`, `s`; default `0`).
    pub fo: Vec<String>,
    /// Every tag as published, by lower-case name.
    pub tags: BTreeMap<String, String>,
    /// Invalid tags and values.
    pub errors: Vec<String>,
}

impl Default for DmarcReport {
    fn default() -> Self {
        DmarcReport {
            record: None,
            domain: None,
            inherited: false,
            record_count: 0,
            policy: None,
            subdomain_policy: None,
            effective_policy: None,
            pct: 100,
            rua: Vec::new(),
            ruf: Vec::new(),
            adkim: "r".to_string(),
            aspf: "r".to_string(),
            fo: vec!["0".to_string()],
            tags: BTreeMap::new(),
            errors: Vec::new(),
        }
    }
}

/// A DMARC policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DmarcPolicy {
    None,
    Quarantine,
    Reject,
}

/// The Have I Been Pwned section.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct HibpSection {
    /// `ok` (answered; no breach is `ok` with `breachCount: 0`), `not_configured` (no API key),
    /// `not_applicable` (a domain target) or `error`.
    pub status: HibpStatus,
    /// How many breaches include the address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breach_count: Option<usize>,
    /// The breaches, with HIBP's own field names.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub breaches: Option<Vec<HibpBreach>>,
    /// Why the call failed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The HTTP status of a failed call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// Seconds to wait before retrying, from HIBP's `retry-after`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl Default for HibpSection {
    fn default() -> Self {
        HibpSection::status(HibpStatus::NotApplicable)
    }
}

impl HibpSection {
    fn status(status: HibpStatus) -> HibpSection {
        HibpSection { status, breach_count: None, breaches: None, error: None, http_status: None, retry_after: None }
    }
}

/// The outcome of the HIBP call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum HibpStatus {
    Ok,
    NotConfigured,
    NotApplicable,
    Error,
}

/// A breach as HIBP describes it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "PascalCase", default)]
pub struct HibpBreach {
    /// HIBP's identifier of the breach.
    pub name: String,
    pub title: String,
    /// The breached site's domain.
    pub domain: String,
    /// `YYYY-MM-DD`.
    pub breach_date: String,
    /// Accounts in the breach.
    pub pwn_count: u64,
    /// What leaked (`Email addresses`, `Passwords`...).
    pub data_classes: Vec<String>,
    pub is_verified: bool,
    pub is_sensitive: bool,
}

/// Checks the target's mail domain and, for an address, its breaches.
///
/// # Errors
/// [`ToolError::InvalidInput`] for a target without a domain; [`ToolError::Failed`] when the resolver cannot be
/// used at all.
pub async fn run(tb: &Toolbox, target: &Target) -> Result<EmailResult, ToolError> {
    let domain = target
        .host()
        .ok_or_else(|| ToolError::InvalidInput(format!("`{}` has no mail domain", target.value())))?
        .to_ascii_lowercase();
    let name = dns::fqdn(&domain)?;
    let address = (target.kind() == AssetType::Email).then(|| target.value().to_string());

    let (mx, spf, dmarc, hibp) = tokio::join!(
        dns::query(tb, &name, RecordType::MX),
        check_spf(tb, &domain),
        check_dmarc(tb, &domain),
        check_hibp(tb, address.as_deref()),
    );

    let resolver_down = |a: &Answer| matches!(a, Answer::Failed { resolver: true, .. });
    if resolver_down(&mx) && spf.resolver_down && dmarc.resolver_down {
        let reason = match &mx {
            Answer::Failed { message, .. } => message.clone(),
            _ => String::new(),
        };
        return Err(ToolError::Failed(format!("every DNS query for {domain} failed: {reason}")));
    }

    let mut out = EmailResult { domain: domain.clone(), address, hibp, ..EmailResult::default() };
    let mut findings = Findings::default();

    match mx {
        Answer::Records(records) => {
            for r in &records {
                if let RData::MX(m) = &r.data {
                    out.mx.push(DnsMxRecord {
                        preference: m.preference,
                        exchange: dns::name_text(&m.exchange),
                        ttl: r.ttl,
                    });
                }
            }
            out.mx.sort();
        }
        Answer::NxDomain => out.nxdomain = true,
        Answer::NoData => {}
        Answer::Failed { message, .. } => {
            findings.add("mx_lookup_failed", EmailSeverity::Medium, format!("the MX lookup failed: {message}"));
            out.errors.insert("mx".into(), message);
        }
    }
    out.null_mx = out.mx.len() == 1 && out.mx.iter().all(|m| m.exchange == ".");
    out.has_mx = out.mx.iter().any(|m| m.exchange != ".");
    out.nxdomain |= spf.nxdomain;

    if out.nxdomain {
        findings.add(
            "domain_not_found",
            EmailSeverity::High,
            format!("{domain} does not exist (NXDOMAIN): it can neither send nor receive mail"),
        );
    } else {
        if out.null_mx {
            findings.add("null_mx", EmailSeverity::Info, format!("{domain} publishes a null MX: it accepts no mail"));
        } else if !out.has_mx && !out.errors.contains_key("mx") {
            findings.add(
                "no_mx",
                EmailSeverity::Medium,
                format!("{domain} has no MX record: no mail server is designated to receive its mail"),
            );
        }
        spf.findings(&domain, &mut findings);
        dmarc.findings(&domain, &mut findings);
    }
    if let Some(e) = &spf.lookup_error {
        out.errors.insert("spf".into(), e.clone());
    }
    if let Some(e) = &dmarc.lookup_error {
        out.errors.insert("dmarc".into(), e.clone());
    }
    out.has_spf = spf.report.record_count > 0;
    out.spf = spf.report;
    out.has_dmarc = dmarc.report.record_count > 0;
    out.dmarc = dmarc.report;

    let mut findings = findings.0;
    findings.sort_by_key(|f| std::cmp::Reverse(f.severity));
    out.highest_severity = findings.first().map(|f| f.severity);
    for f in &findings {
        if !out.finding_codes.contains(&f.code) {
            out.finding_codes.push(f.code.clone());
        }
    }
    out.findings = findings;
    Ok(out)
}

#[derive(Default)]
struct Findings(Vec<EmailFinding>);

impl Findings {
    fn add(&mut self, code: &str, severity: EmailSeverity, message: String) {
        self.0.push(EmailFinding { code: code.to_string(), severity, message });
    }
}

// ---------------------------------------------------------------------------------------------------------------
// TXT records

/// The TXT records at a name that start a policy (`is_policy`), or why there are none.
#[derive(Debug, Clone)]
enum PolicyTxt {
    Found(Vec<String>),
    None,
    NxDomain,
    Failed { message: String, resolver: bool },
}

async fn policy_txt(tb: &Toolbox, name: &str, is_policy: fn(&str) -> bool) -> PolicyTxt {
    let fq = match dns::fqdn(name) {
        Ok(n) => n,
        Err(e) => return PolicyTxt::Failed { message: e.to_string(), resolver: false },
    };
    match dns::query(tb, &fq, RecordType::TXT).await {
        Answer::Records(records) => {
            let found: Vec<String> = records
                .iter()
                .filter_map(|r| match &r.data {
                    RData::TXT(t) => Some(dns::txt_text(t)),
                    _ => None,
                })
                .filter(|t| is_policy(t))
                .collect();
            if found.is_empty() { PolicyTxt::None } else { PolicyTxt::Found(found) }
        }
        Answer::NoData => PolicyTxt::None,
        Answer::NxDomain => PolicyTxt::NxDomain,
        Answer::Failed { message, resolver } => PolicyTxt::Failed { message, resolver },
    }
}

// ---------------------------------------------------------------------------------------------------------------
// SPF

/// The SPF check of one domain.
struct SpfCheck {
    report: SpfReport,
    nxdomain: bool,
    resolver_down: bool,
    lookup_error: Option<String>,
    /// (code, severity, message) gathered while following includes.
    problems: Vec<(&'static str, EmailSeverity, String)>,
    uses_ptr: bool,
}

impl SpfCheck {
    fn findings(&self, domain: &str, f: &mut Findings) {
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
            f.add(
                "spf_multiple_records",
                EmailSeverity::High,
                format!("{domain} publishes {} SPF records; receivers fail SPF with permerror", r.record_count),
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

fn is_spf_record(txt: &str) -> bool {
    match txt.get(..6) {
        Some(v) => v.eq_ignore_ascii_case("v=spf1") && matches!(txt.as_bytes().get(6), None | Some(b' ')),
        None => false,
    }
}

async fn check_spf(tb: &Toolbox, domain: &str) -> SpfCheck {
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
    check.report.record_count = records.len();
    let top_text = records.into_iter().next().unwrap_or_default();
    let top = parse_spf(&top_text);
    for e in &top.errors {
        check.problems.push(("spf_syntax_error", EmailSeverity::High, format!("SPF record of {domain}: {e}")));
    }
    check.uses_ptr = top.uses_ptr;
    check.report.record = Some(top_text);
    check.report.mechanisms = top.mechanisms.clone();
    check.report.modifiers = top.modifiers.clone();
    check.report.redirect = top.redirect.clone();
    check.report.exp = top.exp.clone();
    check.report.errors = top.errors.clone();

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

/// One parsed SPF record.
#[derive(Debug, Clone, Default, PartialEq)]
struct SpfRecord {
    mechanisms: Vec<SpfMechanism>,
    modifiers: Vec<SpfModifier>,
    redirect: Option<String>,
    exp: Option<String>,
    /// The qualifier of the first `all`.
    all: Option<SpfQualifier>,
    /// DNS-querying terms of this record (a redirect counts only when there is no `all`, as it is used only then).
    lookups: u32,
    uses_ptr: bool,
    /// Syntax errors, each naming the offending term.
    errors: Vec<String>,
}

/// Parses a `v=spf1` record (RFC 7208 §4.6.1 and §12). Never fails: problems are listed in `errors`.
fn parse_spf(record: &str) -> SpfRecord {
    let mut rec = SpfRecord::default();
    let body = if is_spf_record(record) { record.get(6..).unwrap_or("") } else { record };
    if !is_spf_record(record) {
        rec.errors.push("the record does not start with `v=spf1`".to_string());
    }
    for term in body.split(' ').filter(|t| !t.is_empty()) {
        if let Err(e) = parse_term(term, &mut rec) {
            rec.errors.push(format!("`{}`: {e}", printable(term)));
        }
    }
    if rec.all.is_none() && rec.redirect.is_some() {
        rec.lookups += 1;
    }
    rec
}

fn parse_term(term: &str, rec: &mut SpfRecord) -> Result<(), String> {
    let (qualifier, explicit, body) = match term.as_bytes().first() {
        Some(b'+') => (SpfQualifier::Pass, true, &term[1..]),
        Some(b'-') => (SpfQualifier::Fail, true, &term[1..]),
        Some(b'~') => (SpfQualifier::Softfail, true, &term[1..]),
        Some(b'?') => (SpfQualifier::Neutral, true, &term[1..]),
        _ => (SpfQualifier::Pass, false, term),
    };
    if let Some(bad) = term.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(format!("invalid character {bad:?}"));
    }
    let name_end = body.find([':', '/', '=']).unwrap_or(body.len());
    let (name, rest) = body.split_at(name_end);
    let lname = name.to_ascii_lowercase();

    if let Some(value) = rest.strip_prefix('=') {
        if explicit {
            return Err("a modifier takes no qualifier".into());
        }
        if !is_modifier_name(name) {
            return Err(format!("`{name}` is not a valid modifier name"));
        }
        match lname.as_str() {
            "redirect" | "exp" => {
                let slot = if lname == "redirect" { &mut rec.redirect } else { &mut rec.exp };
                if slot.is_some() {
                    return Err(format!("`{lname}=` appears more than once"));
                }
                check_domain_spec(value)?;
                *slot = Some(value.to_string());
            }
            _ => {}
        }
        rec.modifiers.push(SpfModifier { name: lname, value: value.to_string() });
        return Ok(());
    }

    let arg = rest.strip_prefix(':');
    match lname.as_str() {
        "all" => {
            if !rest.is_empty() {
                return Err("`all` takes no argument".into());
            }
            rec.all.get_or_insert(qualifier);
        }
        "include" | "exists" => {
            let spec = arg.ok_or_else(|| format!("`{lname}` needs a domain (`{lname}:example.com`)"))?;
            check_domain_spec(spec)?;
            rec.lookups += 1;
        }
        "a" | "mx" => {
            let spec = split_dual_cidr(arg.unwrap_or(rest))?;
            match arg {
                Some(_) => check_domain_spec(spec)?,
                None if !spec.is_empty() => return Err(format!("unexpected `{}`", printable(spec))),
                None => {}
            }
            rec.lookups += 1;
        }
        "ptr" => {
            if let Some(spec) = arg {
                check_domain_spec(spec)?;
            } else if !rest.is_empty() {
                return Err("`ptr` takes no prefix length".into());
            }
            rec.lookups += 1;
            rec.uses_ptr = true;
        }
        "ip4" => {
            let a = arg.ok_or("`ip4` needs an address (`ip4:192.0.2.0/24`)")?;
            let addr = split_prefix(a, 32)?;
            addr.parse::<Ipv4Addr>().map_err(|_| format!("`{addr}` is not an IPv4 address"))?;
        }
        "ip6" => {
            let a = arg.ok_or("`ip6` needs an address (`ip6:2001:db8::/32`)")?;
            let addr = split_prefix(a, 128)?;
            addr.parse::<Ipv6Addr>().map_err(|_| format!("`{addr}` is not an IPv6 address"))?;
        }
        "" => return Err("missing mechanism name".into()),
        _ => return Err(format!("unknown mechanism `{}`", printable(name))),
    }
    let value = match arg {
        Some(a) => Some(a.to_string()),
        None if !rest.is_empty() => Some(rest.to_string()),
        None => None,
    };
    rec.mechanisms.push(SpfMechanism { qualifier: qualifier.symbol().to_string(), name: lname, value });
    Ok(())
}

/// `name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )`
fn is_modifier_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// `addr[/len]` with `len <= max`: the address.
fn split_prefix(s: &str, max: u8) -> Result<&str, String> {
    match s.split_once('/') {
        Some((addr, len)) => prefix_len(len, max).map(|_| addr),
        None => Ok(s),
    }
}

fn prefix_len(s: &str, max: u8) -> Result<u8, String> {
    let canonical = !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && !(s.len() > 1 && s.starts_with('0'));
    match s.parse::<u8>() {
        Ok(n) if canonical && n <= max => Ok(n),
        _ => Err(format!("`/{}` is not a prefix length from 0 to {max}", printable(s))),
    }
}

/// Strips and checks the `[ "/" ip4-len ] [ "//" ip6-len ]` of `a` and `mx`, returning the domain spec before it.
/// A `/` inside a macro (`%{d/}`) is a delimiter, not a prefix length.
fn split_dual_cidr(s: &str) -> Result<&str, String> {
    let s = match s.rfind("//") {
        Some(i) if !s[i..].contains('}') => {
            prefix_len(&s[i + 2..], 128)?;
            &s[..i]
        }
        _ => s,
    };
    match s.rfind('/') {
        Some(i) if !s[i..].contains('}') => {
            prefix_len(&s[i + 1..], 32)?;
            Ok(&s[..i])
        }
        _ => Ok(s),
    }
}

/// Checks a `domain-spec` (RFC 7208 §7.1): a macro string ending in `.toplabel` or a macro expansion.
fn check_domain_spec(spec: &str) -> Result<(), String> {
    if spec.is_empty() {
        return Err("empty domain".into());
    }
    if let Some(bad) = spec.chars().find(|c| !c.is_ascii_graphic()) {
        return Err(format!("invalid character {bad:?} in domain"));
    }
    let bytes = spec.as_bytes();
    let mut i = 0;
    let mut ends_with_macro = false;
    let mut has_macro = false;
    while i < bytes.len() {
        ends_with_macro = false;
        if bytes[i] != b'%' {
            i += 1;
            continue;
        }
        match bytes.get(i + 1) {
            Some(b'%' | b'_' | b'-') => i += 2,
            Some(b'{') => {
                let close = spec[i..].find('}').map(|j| i + j).ok_or_else(|| format!("unclosed macro in `{spec}`"))?;
                let inner = &spec[i + 2..close];
                check_macro(inner).map_err(|e| format!("bad macro `%{{{inner}}}`: {e}"))?;
                has_macro = true;
                i = close + 1;
                ends_with_macro = i == bytes.len();
            }
            _ => return Err(format!("`%` must start a macro (`%{{d}}`, `%%`, `%_`, `%-`) in `{spec}`")),
        }
    }
    if ends_with_macro {
        return Ok(());
    }
    let trimmed = spec.strip_suffix('.').unwrap_or(spec);
    let Some((head, top)) = trimmed.rsplit_once('.') else {
        return Err(format!("`{spec}` is not a fully qualified domain"));
    };
    let top_ok = !top.is_empty()
        && top.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        && !top.starts_with('-')
        && !top.ends_with('-')
        && top.bytes().any(|b| b.is_ascii_alphabetic() || b == b'-');
    if !top_ok {
        return Err(format!("`{top}` is not a valid top-level label in `{spec}`"));
    }
    if !has_macro {
        if head.split('.').any(str::is_empty) {
            return Err(format!("empty label in `{spec}`"));
        }
        if trimmed.split('.').any(|l| l.len() > 63) || trimmed.len() > 253 {
            return Err(format!("`{spec}` is too long for a domain"));
        }
    }
    Ok(())
}

/// `macro-letter *DIGIT [ "r" ] *delimiter`
fn check_macro(inner: &str) -> Result<(), String> {
    let mut chars = inner.chars();
    match chars.next() {
        Some(c) if "slodipvh".contains(c.to_ascii_lowercase()) => {}
        Some(c) => return Err(format!("unknown macro letter `{c}`")),
        None => return Err("empty macro".into()),
    }
    let rest: String = chars.collect();
    let rest = rest.trim_start_matches(|c: char| c.is_ascii_digit());
    let rest = rest.strip_prefix(['r', 'R']).unwrap_or(rest);
    if let Some(c) = rest.chars().find(|c| !".-+,/_=".contains(*c)) {
        return Err(format!("`{c}` is not a delimiter"));
    }
    Ok(())
}

/// A term for a message: cut to a reasonable length.
fn printable(s: &str) -> String {
    let mut out: String = s.chars().take(100).collect();
    if s.chars().count() > 100 {
        out.push('…');
    }
    out
}

// ---------------------------------------------------------------------------------------------------------------
// DMARC

struct DmarcCheck {
    report: DmarcReport,
    resolver_down: bool,
    lookup_error: Option<String>,
    policy_error: bool,
}

impl DmarcCheck {
    fn findings(&self, domain: &str, f: &mut Findings) {
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
        if r.pct < 100 {
            f.add(
                "dmarc_pct_partial",
                EmailSeverity::Low,
                format!("the DMARC policy applies to only {}% of failing mail (pct={})", r.pct, r.pct),
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

fn is_dmarc_record(txt: &str) -> bool {
    let first = txt.split(';').next().unwrap_or("");
    match first.split_once('=') {
        Some((k, v)) => k.trim().eq_ignore_ascii_case("v") && v.trim().eq_ignore_ascii_case("DMARC1"),
        None => false,
    }
}

async fn check_dmarc(tb: &Toolbox, domain: &str) -> DmarcCheck {
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
    r.pct = parsed.pct;
    r.rua = parsed.rua;
    r.ruf = parsed.ruf;
    r.adkim = parsed.adkim;
    r.aspf = parsed.aspf;
    r.fo = parsed.fo;
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
struct DmarcRecord {
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
fn parse_dmarc(record: &str) -> DmarcRecord {
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

// ---------------------------------------------------------------------------------------------------------------
// Have I Been Pwned

async fn check_hibp(tb: &Toolbox, address: Option<&str>) -> HibpSection {
    let Some(address) = address else {
        return HibpSection::status(HibpStatus::NotApplicable);
    };
    let cfg = &tb.config().hibp;
    let path = format!("/breachedaccount/{}", encode_path_segment(address));
    let outcome = provider::get_json(
        tb,
        "Have I Been Pwned",
        cfg,
        &path,
        &[("truncateResponse", "false")],
        &[("hibp-api-key", cfg.api_key.as_str())],
    )
    .await;
    match outcome {
        Outcome::Ok(body) => match serde_json::from_value::<Vec<HibpBreach>>(body) {
            Ok(mut breaches) => {
                let count = breaches.len();
                breaches.truncate(HIBP_MAX_BREACHES);
                HibpSection {
                    breach_count: Some(count),
                    breaches: Some(breaches),
                    ..HibpSection::status(HibpStatus::Ok)
                }
            }
            Err(e) => HibpSection {
                error: Some(format!("Have I Been Pwned: unexpected answer (not a list of breaches): {e}")),
                ..HibpSection::status(HibpStatus::Error)
            },
        },
        Outcome::NotFound => {
            HibpSection { breach_count: Some(0), breaches: Some(Vec::new()), ..HibpSection::status(HibpStatus::Ok) }
        }
        Outcome::NotConfigured => HibpSection::status(HibpStatus::NotConfigured),
        Outcome::Error { message, http_status, retry_after } => {
            HibpSection { error: Some(message), http_status, retry_after, ..HibpSection::status(HibpStatus::Error) }
        }
    }
}

/// Percent-encodes everything but the unreserved characters of RFC 3986, for one path segment.
fn encode_path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mech(q: &str, name: &str, value: Option<&str>) -> SpfMechanism {
        SpfMechanism { qualifier: q.into(), name: name.into(), value: value.map(String::from) }
    }

    #[test]
    fn spf_records_are_recognised_by_their_version() {
        for (txt, is) in [
            ("v=spf1 -all", true),
            ("V=SPF1 -all", true),
            ("v=spf1", true),
            ("v=spf10 -all", false),
            ("v=spf1-all", false),
            (" v=spf1 -all", false),
            ("spf1", false),
            ("v=DMARC1; p=none", false),
            ("v=spé1 -all", false),
        ] {
            assert_eq!(is_spf_record(txt), is, "{txt}");
        }
    }

    #[test]
    fn spf_parses_mechanisms_modifiers_and_counts_lookups() {
        let r = parse_spf(
            "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 a mx:mail.example.com/24//64 -ptr ~include:_spf.example.net \
             ?exists:%{i}._spf.%{d} redirect=_spf.example.org exp=explain.example.com foo=bar -all",
        );
        assert_eq!(r.errors, Vec::<String>::new());
        assert_eq!(
            r.mechanisms,
            vec![
                mech("+", "ip4", Some("192.0.2.0/24")),
                mech("+", "ip6", Some("2001:db8::/32")),
                mech("+", "a", None),
                mech("+", "mx", Some("mail.example.com/24//64")),
                mech("-", "ptr", None),
                mech("~", "include", Some("_spf.example.net")),
                mech("?", "exists", Some("%{i}._spf.%{d}")),
                mech("-", "all", None),
            ]
        );
        assert_eq!(r.redirect.as_deref(), Some("_spf.example.org"));
        assert_eq!(r.exp.as_deref(), Some("explain.example.com"));
        assert_eq!(r.modifiers.iter().map(|m| m.name.as_str()).collect::<Vec<_>>(), ["redirect", "exp", "foo"]);
        assert_eq!(r.all, Some(SpfQualifier::Fail));
        // a, mx, ptr, include, exists; the redirect is unused because of -all.
        assert_eq!(r.lookups, 5);
        assert!(r.uses_ptr);

        let r = parse_spf("v=spf1 include:a.example redirect=b.example");
        assert_eq!((r.lookups, r.all), (2, None));
        let r = parse_spf("v=spf1 a/24 mx//64 A:Example.COM -ALL");
        assert_eq!(r.errors, Vec::<String>::new());
        assert_eq!(r.mechanisms[0], mech("+", "a", Some("/24")));
        assert_eq!(r.mechanisms[3], mech("-", "all", None));
        assert_eq!(r.lookups, 3);
    }

    #[test]
    fn spf_first_all_wins() {
        assert_eq!(parse_spf("v=spf1 ?all -all").all, Some(SpfQualifier::Neutral));
        assert_eq!(parse_spf("v=spf1 all").all, Some(SpfQualifier::Pass));
        assert_eq!(parse_spf("v=spf1 +all").all, Some(SpfQualifier::Pass));
        assert_eq!(parse_spf("v=spf1 ~all").all, Some(SpfQualifier::Softfail));
        assert_eq!(parse_spf("v=spf1 mx").all, None);
    }

    #[test]
    fn spf_syntax_errors_name_the_offending_term() {
        for (record, term, why) in [
            ("v=spf1 ip4:192.0.2.300 -all", "`ip4:192.0.2.300`", "not an IPv4 address"),
            ("v=spf1 ip4:192.0.2.0/33 -all", "`ip4:192.0.2.0/33`", "prefix length from 0 to 32"),
            ("v=spf1 ip6:2001:db8::/129 -all", "`ip6:2001:db8::/129`", "0 to 128"),
            ("v=spf1 ip6:192.0.2.1 -all", "`ip6:192.0.2.1`", "not an IPv6 address"),
            ("v=spf1 ip4 -all", "`ip4`", "needs an address"),
            ("v=spf1 include -all", "`include`", "needs a domain"),
            ("v=spf1 include:nodot -all", "`include:nodot`", "not a fully qualified domain"),
            ("v=spf1 include:example..com -all", "`include:example..com`", "empty label"),
            ("v=spf1 include:example.123 -all", "`include:example.123`", "top-level label"),
            ("v=spf1 exists:%{z}.example.com -all", "`exists:%{z}.example.com`", "unknown macro letter"),
            ("v=spf1 exists:%{d.example.com -all", "`exists:%{d.example.com`", "unclosed macro"),
            ("v=spf1 a:%x.example.com -all", "`a:%x.example.com`", "must start a macro"),
            ("v=spf1 ipv4:192.0.2.1 -all", "`ipv4:192.0.2.1`", "unknown mechanism `ipv4`"),
            ("v=spf1 -all:foo", "`-all:foo`", "takes no argument"),
            ("v=spf1 a/40 -all", "`a/40`", "0 to 32"),
            ("v=spf1 mx//200 -all", "`mx//200`", "0 to 128"),
            ("v=spf1 ptr/24 -all", "`ptr/24`", "no prefix length"),
            ("v=spf1 -redirect=x.example", "`-redirect=x.example`", "no qualifier"),
            ("v=spf1 redirect=a.example redirect=b.example", "`redirect=b.example`", "more than once"),
            ("v=spf1 1bad=x -all", "`1bad=x`", "not a valid modifier name"),
            ("v=spf1 +", "`+`", "missing mechanism name"),
            ("v=spf1 a:exa\tmple.com", "`a:exa\tmple.com`", "invalid character"),
        ] {
            let r = parse_spf(record);
            assert_eq!(r.errors.len(), 1, "{record}: {:?}", r.errors);
            assert!(r.errors[0].starts_with(term) && r.errors[0].contains(why), "{record}: {}", r.errors[0]);
        }
    }

    #[test]
    fn domain_specs_follow_the_grammar() {
        for ok in [
            "example.com",
            "example.com.",
            "_spf.example.com",
            "%{d}",
            "%{ir}.%{v}._spf.%{d2}",
            "%{l1r-}.x.example",
            "a.b-c",
            "x.%{d}",
        ] {
            assert_eq!(check_domain_spec(ok), Ok(()), "{ok}");
        }
        for bad in ["", "com", ".", "example.com-", "exa mple.com", "%{d", "%{q}", "%{d3x}", "example.-x"] {
            assert!(check_domain_spec(bad).is_err(), "{bad}");
        }
    }

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

    #[test]
    fn account_is_encoded_as_one_path_segment() {
        assert_eq!(encode_path_segment("a.b+c@example.com"), "a.b%2Bc%40example.com");
        assert_eq!(encode_path_segment("x/y?z#%"), "x%2Fy%3Fz%23%25");
    }

    mod robustness {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            #[test]
            fn spf_parser_never_panics(s in "\\PC{0,200}") {
                let r = parse_spf(&s);
                prop_assert!(r.lookups as usize <= s.len());
                let _ = parse_spf(&format!("v=spf1 {s}"));
            }

            #[test]
            fn dmarc_parser_never_panics(s in "\\PC{0,200}") {
                let _ = parse_dmarc(&s);
                let _ = parse_dmarc(&format!("v=DMARC1; {s}"));
            }

            #[test]
            fn spf_terms_made_of_grammar_pieces_parse_cleanly(
                terms in proptest::collection::vec(
                    (
                        proptest::sample::select(vec!["", "+", "-", "~", "?"]),
                        proptest::sample::select(vec![
                            "a", "mx", "ptr", "a:mail.example.com", "mx:example.net/24", "a//64",
                            "include:_spf.example.com", "exists:%{i}.in.%{d}", "ip4:192.0.2.0/24", "ip6:2001:db8::1",
                        ]),
                    ),
                    0..12,
                ),
                all in proptest::sample::select(vec!["", "-all", "~all", "?all", "+all"]),
            ) {
                let body: Vec<String> = terms.iter().map(|(q, t)| format!("{q}{t}")).collect();
                let record = format!("v=spf1 {} {all}", body.join(" "));
                let r = parse_spf(&record);
                prop_assert!(r.errors.is_empty(), "{}: {:?}", record, r.errors);
                let expected = terms.iter().filter(|(_, t)| !t.starts_with("ip")).count() as u32;
                prop_assert_eq!(r.lookups, expected);
                prop_assert_eq!(r.mechanisms.len(), terms.len() + usize::from(!all.is_empty()));
                prop_assert_eq!(r.all.is_some(), !all.is_empty());
            }
        }
    }
}
