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
//!   A domain publishing several `v=spf1` records is a permerror (`spf_multiple_records`); each record is then
//!   parsed and listed under `spf.records`, and the first in alphabetical order is the one followed.
//! - DMARC (RFC 7489): the `v=DMARC1` TXT record at `_dmarc.<domain>`; when the domain has none, its parent
//!   domains are tried (down to two labels, the tree walk of DMARCbis) and the record found there is reported as
//!   `inherited` (its `sp=` then applies to the domain). When no record applies, the DMARC values (`policy`,
//!   `pct`, `adkim`, `aspf`, `fo`…) are absent, not the defaults of a record that does not exist.
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
//!
//! Each check has its own file: SPF lookups and include-following in `spf.rs`, the SPF record grammar in
//! `spf_record.rs`, DMARC in `dmarc.rs` and Have I Been Pwned in `hibp.rs`. This file holds the result, the
//! findings, the TXT lookup the policy checks share, and the run that puts them together.

pub(crate) mod dmarc;
mod hibp;
mod spf;
pub(crate) mod spf_record;

use std::collections::BTreeMap;

use hickory_resolver::proto::rr::{RData, RecordType};
use serde::Serialize;
use tlink_domain::AssetType;

use crate::dns::{self, Answer, DnsMxRecord};
use crate::{Target, ToolError, Toolbox};

pub use dmarc::{DmarcPolicy, DmarcReport};
pub use hibp::{HibpBreach, HibpSection, HibpStatus};
pub use spf::{
    SPF_LOOKUP_LIMIT, SPF_MAX_DEPTH, SPF_MAX_RECORDS, SpfInclude, SpfMechanism, SpfModifier, SpfPublishedRecord,
    SpfQualifier, SpfReport,
};

use dmarc::check_dmarc;
use hibp::check_hibp;
use spf::check_spf;

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

/// A term for a message: cut to a reasonable length.
fn printable(s: &str) -> String {
    let mut out: String = s.chars().take(100).collect();
    if s.chars().count() > 100 {
        out.push('…');
    }
    out
}
