//! The `ip-reputation` tool: what AbuseIPDB and VirusTotal say about an IP, domain, file hash or URL, and
//! whether the operator's local blocklists list it.
//!
//! # Result
//! - `target`, `kind`: the target as queried (canonical spelling) and its kind.
//! - `listed`: whether a local blocklist lists the target (`blocklists.listed`); `malicious`: how many VirusTotal
//!   engines flag it (`virustotal.malicious`, null without a VirusTotal answer). Both exist for simple rules.
//! - `abuseipdb`: AbuseIPDB v2 `check` (`maxAgeInDays=90`, `verbose`) for IP targets, with the provider's own
//!   field names taken flat from its `data` object (`abuseipdb.abuseConfidenceScore`, `totalReports`, `isTor`, …)
//!   and the first [`MAX_ABUSE_REPORTS`] `reports`; other kinds are `not_applicable`.
//! - `virustotal`: VirusTotal v3 object (`/ip_addresses`, `/domains`, `/files`, or `/urls/{id}` with the id the
//!   unpadded URL-safe base64 of the URL), with the provider's attribute names (`last_analysis_stats`,
//!   `reputation`, `as_owner`, …) plus `malicious` (= `last_analysis_stats.malicious`) and `link` (the report in
//!   VirusTotal's web interface). An unknown object is `not_found`.
//! - `blocklists`: the files of `tools.blocklists` (see the list formats in the crate's list loader): for an IP
//!   target, or a URL whose host is an IP address, `listed`, the matching entries and each list's state
//!   (entry count, invalid lines, or why it could not be read). Other targets are `not_applicable` (names are
//!   not resolved); no configured list is `not_configured`.
//!
//! # Failure modes
//! The run fails only when the target is not an IP, domain, hash or URL. A provider without an API key is
//! `not_configured` and is not contacted. Every provider failure (refused key, rate limit with `retryAfter`,
//! 5xx, timeout, invalid JSON, an answer without the documented shape) is recorded in that provider's section
//! (`status: "error"`, `error`, `httpStatus`, `retryAfter`) and the other sections still run. A blocklist file
//! that is missing or unreadable is recorded in its entry of `blocklists.lists`; if no list could be read the
//! section's status is `error`.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tlink_domain::AssetType;

use crate::lists::{self, ListKind};
use crate::provider::{self, SectionState, SectionStatus};
use crate::{Target, ToolError, ToolKey, Toolbox};

/// Most AbuseIPDB `reports` kept in a result.
pub const MAX_ABUSE_REPORTS: usize = 10;
/// Longest AbuseIPDB report comment kept, characters.
const MAX_COMMENT_CHARS: usize = 500;

/// The result of an `ip-reputation` run.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReputationResult {
    /// The target as queried, in canonical spelling.
    pub target: String,
    /// The target's kind: `IP`, `DOMAIN`, `HASH` or `URL`.
    pub kind: AssetType,
    /// Whether a local blocklist lists the target (same as `blocklists.listed`).
    pub listed: bool,
    /// How many VirusTotal engines flag the target as malicious (same as `virustotal.malicious`); null when
    /// VirusTotal gave no analysis.
    pub malicious: Option<u64>,
    /// AbuseIPDB `check` for IP targets: `status`, then the provider's fields from `data`.
    #[schema(value_type = AbuseIpDbSection)]
    pub abuseipdb: Value,
    /// VirusTotal v3: `status`, then the object's attributes, `malicious` and `link`.
    #[schema(value_type = VirusTotalSection)]
    pub virustotal: Value,
    /// Local IP blocklists (`tools.blocklists`).
    pub blocklists: BlocklistsSection,
}

/// The `abuseipdb` section (documents its shape).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AbuseIpDbSection {
    #[serde(flatten)]
    pub state: SectionState,
    #[serde(flatten)]
    pub data: AbuseIpDbData,
}

/// AbuseIPDB's `data` object, under the provider's own names. A field the provider left out is null.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AbuseIpDbData {
    /// The address checked.
    pub ip_address: Option<String>,
    /// Whether the address is public (not private, loopback, reserved).
    pub is_public: Option<bool>,
    /// 4 or 6.
    pub ip_version: Option<u8>,
    /// Whether AbuseIPDB whitelists the address (null: unknown).
    pub is_whitelisted: Option<bool>,
    /// AbuseIPDB's confidence that the address is abusive, 0–100.
    pub abuse_confidence_score: Option<u64>,
    /// ISO 3166 alpha-2 country code.
    pub country_code: Option<String>,
    /// Country name.
    pub country_name: Option<String>,
    /// Usage type, e.g. `Data Center/Web Hosting/Transit`.
    pub usage_type: Option<String>,
    /// Internet service provider.
    pub isp: Option<String>,
    /// The ISP's domain.
    pub domain: Option<String>,
    /// Reverse DNS names.
    pub hostnames: Option<Vec<String>>,
    /// Whether the address is a Tor exit node.
    pub is_tor: Option<bool>,
    /// Reports within the last 90 days.
    pub total_reports: Option<u64>,
    /// Distinct users who reported the address within the last 90 days.
    pub num_distinct_users: Option<u64>,
    /// Time of the latest report (RFC 3339), null when never reported.
    pub last_reported_at: Option<String>,
    /// The first reports in the provider's order (at most 10), comments shortened to 500 characters.
    pub reports: Option<Vec<AbuseReport>>,
}

/// One AbuseIPDB report.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AbuseReport {
    /// When it was reported (RFC 3339).
    pub reported_at: Option<String>,
    /// The reporter's comment.
    pub comment: Option<String>,
    /// AbuseIPDB category ids (e.g. 18 brute-force, 22 SSH).
    #[serde(default, deserialize_with = "provider::null_as_default")]
    pub categories: Vec<u32>,
    /// ISO 3166 alpha-2 country of the reporter.
    pub reporter_country_code: Option<String>,
}

/// The `virustotal` section (documents its shape).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VirusTotalSection {
    #[serde(flatten)]
    pub state: SectionState,
    #[serde(flatten)]
    pub data: VirusTotalData,
}

/// A VirusTotal object's attributes, under the provider's own names, with two conveniences.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct VirusTotalData {
    /// Engines that flag the target as malicious (`last_analysis_stats.malicious`).
    pub malicious: Option<u64>,
    /// The report in VirusTotal's web interface.
    pub link: Option<String>,
    #[serde(flatten)]
    pub attributes: VirusTotalAttributes,
}

/// VirusTotal `data.attributes`. Fields every object type has are always present (null when missing); the
/// type-specific ones (AS data for IPs, registrar for domains, names and digests for files, URL details) only
/// for that type.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct VirusTotalAttributes {
    /// Verdict counts of the latest analysis.
    pub last_analysis_stats: Option<AnalysisStats>,
    /// Latest analysis time (Unix seconds).
    pub last_analysis_date: Option<i64>,
    /// Community reputation score (negative: malicious).
    pub reputation: Option<i64>,
    /// Tags.
    pub tags: Option<Vec<String>>,
    /// Community votes.
    pub total_votes: Option<Votes>,
    /// IP: autonomous system owner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub as_owner: Option<String>,
    /// IP: autonomous system number.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub asn: Option<u64>,
    /// IP: ISO 3166 alpha-2 country.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// IP: the network (CIDR) the address belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network: Option<String>,
    /// IP: continent code.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub continent: Option<String>,
    /// Domain: registrar.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub registrar: Option<String>,
    /// Domain: creation date (Unix seconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub creation_date: Option<i64>,
    /// Domain and URL: categories by categorisation service.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub categories: Option<std::collections::BTreeMap<String, String>>,
    /// File: the most interesting name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub meaningful_name: Option<String>,
    /// File: type description, e.g. `Win32 EXE`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub type_description: Option<String>,
    /// File: size in bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// File: MD5.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
    /// File: SHA-1.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha1: Option<String>,
    /// File: SHA-256.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// URL: the URL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// URL: where it led after redirects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_final_url: Option<String>,
    /// URL: the page title.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub title: Option<String>,
    /// URL: HTTP status of the latest fetch.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_http_response_code: Option<u16>,
}

/// VirusTotal `last_analysis_stats`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AnalysisStats {
    pub harmless: Option<u64>,
    pub malicious: Option<u64>,
    pub suspicious: Option<u64>,
    pub undetected: Option<u64>,
    pub timeout: Option<u64>,
}

/// VirusTotal `total_votes`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Votes {
    pub harmless: Option<u64>,
    pub malicious: Option<u64>,
}

/// The `blocklists` section.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlocklistsSection {
    /// `ok` when at least one list was read, `error` when none could be, `not_configured` without lists,
    /// `not_applicable` for targets that are not an IP (or a URL on an IP).
    pub status: SectionStatus,
    /// Whether any list contains the address.
    pub listed: bool,
    /// Every matching entry (at most 20 per list), broadest network first within a list.
    pub matches: Vec<BlocklistMatch>,
    /// Each configured list, by name.
    pub lists: Vec<BlocklistState>,
    /// Why no list could be read (status `error`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A blocklist entry containing the address.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlocklistMatch {
    /// The list's name (its key in `tools.blocklists`).
    pub list: String,
    /// The entry, canonical: `10.0.0.0/8`, or an address without prefix.
    pub entry: String,
    /// Its line in the file (1-based).
    pub line: u32,
}

/// The state of one blocklist file.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct BlocklistState {
    /// The list's name.
    pub name: String,
    /// Addresses and networks read.
    pub entries: usize,
    /// Lines that are not an address, a network or a comment (skipped).
    pub invalid_lines: usize,
    /// The first such line (1-based).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_invalid_line: Option<u32>,
    /// Why the file could not be read (it then counts as empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// Runs `ip-reputation` against `target`.
///
/// # Errors
/// [`ToolError::InvalidInput`] when the target is not an IP, domain, hash or URL. Provider and list failures
/// are recorded in the result.
pub async fn run(tb: &Toolbox, target: &Target) -> Result<ReputationResult, ToolError> {
    let kind = target.kind();
    if !ToolKey::IpReputation.accepts().contains(&kind) {
        return Err(ToolError::InvalidInput(format!(
            "the ip-reputation tool does not accept {} targets; it accepts IP, DOMAIN, HASH, URL",
            kind.as_str()
        )));
    }
    let ip = match kind {
        AssetType::Ip => Some(parse_ip(target.value())?),
        _ => None,
    };
    // Blocklists also apply to a URL on an IP address.
    let list_ip = ip.or_else(|| match kind {
        AssetType::Url => target.host().and_then(|h| h.parse::<IpAddr>().ok()),
        _ => None,
    });
    let (abuseipdb, virustotal, blocklists) =
        tokio::join!(abuseipdb(tb, ip), virustotal(tb, target), blocklists(tb, list_ip));
    let malicious = virustotal.get("malicious").and_then(Value::as_u64);
    Ok(ReputationResult {
        target: target.value().to_string(),
        kind,
        listed: blocklists.listed,
        malicious,
        abuseipdb,
        virustotal,
        blocklists,
    })
}

fn parse_ip(value: &str) -> Result<IpAddr, ToolError> {
    value.parse::<IpAddr>().map_err(|_| ToolError::InvalidInput(format!("`{value}` is not an IP address")))
}

async fn abuseipdb(tb: &Toolbox, ip: Option<IpAddr>) -> Value {
    const NAME: &str = "abuseipdb";
    let Some(ip) = ip else { return provider::not_applicable() };
    let cfg = &tb.config().abuseipdb;
    let ip = ip.to_string();
    // `verbose` is a bare flag in AbuseIPDB's documentation; it adds `countryName` and `reports`.
    let outcome = provider::get_json(
        tb,
        NAME,
        cfg,
        "/check?verbose",
        &[("ipAddress", &ip), ("maxAgeInDays", "90")],
        &[("Key", &cfg.api_key)],
    )
    .await;
    outcome.into_section(|body| {
        #[derive(Deserialize)]
        struct Envelope {
            data: AbuseIpDbData,
        }
        let mut data = provider::decode::<Envelope>(NAME, body)?.data;
        if let Some(reports) = data.reports.as_mut() {
            reports.truncate(MAX_ABUSE_REPORTS);
            for r in reports.iter_mut() {
                if let Some(c) = r.comment.as_mut()
                    && c.chars().count() > MAX_COMMENT_CHARS
                {
                    *c = c.chars().take(MAX_COMMENT_CHARS).collect();
                }
            }
        }
        provider::to_fields(NAME, &data)
    })
}

async fn virustotal(tb: &Toolbox, target: &Target) -> Value {
    const NAME: &str = "virustotal";
    let cfg = &tb.config().virustotal;
    let (path, gui) = match target.kind() {
        AssetType::Ip => (format!("/ip_addresses/{}", target.value()), "ip-address"),
        AssetType::Domain => (format!("/domains/{}", target.value()), "domain"),
        AssetType::Hash => (format!("/files/{}", target.value()), "file"),
        AssetType::Url => (format!("/urls/{}", provider::base64_url_unpadded(target.value().as_bytes())), "url"),
        _ => return provider::not_applicable(),
    };
    let outcome = provider::get_json(tb, NAME, cfg, &path, &[], &[("x-apikey", &cfg.api_key)]).await;
    outcome.into_section(|body| {
        #[derive(Deserialize)]
        struct Envelope {
            data: Object,
        }
        #[derive(Deserialize)]
        struct Object {
            id: Option<String>,
            attributes: VirusTotalAttributes,
        }
        let object = provider::decode::<Envelope>(NAME, body)?.data;
        let data = VirusTotalData {
            malicious: object.attributes.last_analysis_stats.as_ref().and_then(|s| s.malicious),
            link: object.id.map(|id| format!("https://www.virustotal.com/gui/{gui}/{}", provider::path_segment(&id))),
            attributes: object.attributes,
        };
        provider::to_fields(NAME, &data)
    })
}

async fn blocklists(tb: &Toolbox, ip: Option<IpAddr>) -> BlocklistsSection {
    let configured = &tb.config().blocklists;
    let mut section = BlocklistsSection {
        status: SectionStatus::Ok,
        listed: false,
        matches: Vec::new(),
        lists: Vec::new(),
        error: None,
    };
    if configured.is_empty() {
        section.status = SectionStatus::NotConfigured;
        return section;
    }
    let Some(ip) = ip else {
        section.status = SectionStatus::NotApplicable;
        return section;
    };
    let mut readable = 0;
    for (name, loaded) in lists::load_all(configured, ListKind::Blocklist).await {
        match loaded {
            Ok(list) => {
                readable += 1;
                section.matches.extend(list.match_ip(ip).into_iter().map(|hit| BlocklistMatch {
                    list: name.clone(),
                    entry: hit.entry,
                    line: hit.line,
                }));
                section.lists.push(BlocklistState {
                    name,
                    entries: list.entries,
                    invalid_lines: list.invalid_lines,
                    first_invalid_line: list.first_invalid_line,
                    error: None,
                });
            }
            Err(error) => section.lists.push(BlocklistState {
                name,
                entries: 0,
                invalid_lines: 0,
                first_invalid_line: None,
                error: Some(error),
            }),
        }
    }
    section.listed = !section.matches.is_empty();
    if readable == 0 {
        section.status = SectionStatus::Error;
        section.error = Some("no blocklist could be read; see lists[].error".to_string());
    }
    section
}
