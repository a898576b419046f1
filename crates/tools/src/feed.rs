//! The `threat-feed` tool: what AlienVault OTX and GreyNoise say about an IP, domain, URL or file hash, and
//! whether the operator's local feed files list it.
//!
//! # Result
//! - `target`, `kind`: the target as queried (canonical spelling) and its kind.
//! - `listed` (= `feeds.listed`), `pulseCount` (= `otx.pulseCount`) and `classification`
//!   (= `greynoise.classification`): conveniences for simple rules; null when the source gave no answer.
//! - `otx`: OTX `indicators/{IPv4|IPv6|domain|url|file}/{value}/general` under OTX's names (`pulse_info`,
//!   `reputation`, `validation`, …), the pulses cut to [`MAX_PULSES`], plus `pulseCount` (OTX's total),
//!   `pulseNames` and `tags` (deduplicated across pulses). Domains are asked as `domain` (OTX's `hostname`
//!   type is not used, as telling the two apart needs the public-suffix list).
//! - `greynoise`: GreyNoise Community `community/{ip}` for IP targets (else `not_applicable`): `noise`, `riot`,
//!   `classification`, `name`, `link`, `last_seen`, `message`, plus `seen`. GreyNoise answers an address it has
//!   not observed with a 404 *and* a JSON body; that is a normal answer, recorded as `status: "ok"`,
//!   `seen: false` (with `noise`/`riot` false and GreyNoise's `message`). A 404 without that body is `not_found`.
//!   Without an API key the section is `not_configured`: the unauthenticated community tier is not used, so the
//!   server's address does not spend a shared anonymous quota and every provider behaves alike.
//! - `feeds`: the files of `tools.feeds` (plain or CSV; formats in the crate's list loader), matched
//!   case-insensitively on the target's canonical value, and for a URL also on its host; an IP also matches a
//!   CIDR entry containing it. `listed`, the matches (`feed`, `indicator`, `line`) and each feed's state.
//!
//! # Failure modes
//! The run fails only when the target is not an IP, domain, URL or hash. A provider without an API key is
//! `not_configured` and is not contacted. Every provider failure (refused key, rate limit with `retryAfter`,
//! 5xx, timeout, invalid JSON, an answer without the documented shape) is recorded in that provider's section
//! and the other sections still run. A feed file that is missing or unreadable is recorded in its entry of
//! `feeds.feeds`; if no feed could be read the section's status is `error`.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use tlink_domain::AssetType;

use crate::lists::{self, ListKind};
use crate::provider::{self, Outcome, SectionState, SectionStatus};
use crate::{Target, ToolError, ToolKey, Toolbox};

/// Most OTX pulses kept in a result (`pulseCount` is OTX's total).
pub const MAX_PULSES: usize = 50;
/// Most distinct tags kept.
const MAX_TAGS: usize = 200;

/// The result of a `threat-feed` run.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ThreatFeedResult {
    /// The target as queried, in canonical spelling.
    pub target: String,
    /// The target's kind: `IP`, `DOMAIN`, `URL` or `HASH`.
    pub kind: AssetType,
    /// Whether a local feed lists the target (same as `feeds.listed`).
    pub listed: bool,
    /// OTX pulses mentioning the target (same as `otx.pulseCount`); null without an OTX answer.
    pub pulse_count: Option<u64>,
    /// GreyNoise's classification (`benign`, `malicious`, `unknown`); null when GreyNoise gave none.
    pub classification: Option<String>,
    /// AlienVault OTX `general` section: `status`, then OTX's fields and the conveniences.
    #[schema(value_type = OtxSection)]
    pub otx: Value,
    /// GreyNoise Community: `status`, then GreyNoise's fields and `seen`.
    #[schema(value_type = GreyNoiseSection)]
    pub greynoise: Value,
    /// Local feed files (`tools.feeds`).
    pub feeds: FeedsSection,
}

/// The `otx` section (documents its shape).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OtxSection {
    #[serde(flatten)]
    pub state: SectionState,
    #[serde(flatten)]
    pub data: OtxData,
}

/// OTX's `general` answer under its own names, with conveniences.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OtxData {
    /// The indicator as OTX spells it.
    pub indicator: Option<String>,
    /// OTX's indicator type (`IPv4`, `domain`, `URL`, `FileHash-SHA256`, …).
    #[serde(rename = "type")]
    pub indicator_type: Option<String>,
    /// OTX's reputation (a number for IPs, 0 when unknown; kept as OTX gives it).
    #[schema(value_type = Object)]
    pub reputation: Value,
    /// Validation notes (e.g. whitelisted, Alexa/Majestic-ranked), which suggest a false positive.
    pub validation: Vec<OtxValidation>,
    /// Pulses (threat reports) that mention the indicator.
    pub pulse_info: OtxPulseInfo,
    /// `pulse_info.count`: how many pulses mention the indicator.
    #[serde(rename = "pulseCount")]
    pub pulse_count: u64,
    /// The names of the pulses kept.
    #[serde(rename = "pulseNames")]
    pub pulse_names: Vec<String>,
    /// The pulses' tags, deduplicated (case-insensitively, first spelling kept).
    pub tags: Vec<String>,
}

/// One OTX validation note.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OtxValidation {
    pub source: Option<String>,
    pub name: Option<String>,
    pub message: Option<String>,
}

/// OTX `pulse_info`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OtxPulseInfo {
    /// Total pulses mentioning the indicator.
    pub count: u64,
    /// The first pulses in OTX's order (at most 50).
    pub pulses: Vec<OtxPulse>,
}

/// One OTX pulse.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct OtxPulse {
    pub id: Option<String>,
    pub name: Option<String>,
    pub tags: Vec<String>,
    /// Creation time as OTX gives it (ISO 8601, UTC).
    pub created: Option<String>,
    /// Last modification time.
    pub modified: Option<String>,
    /// The adversary named by the pulse, if any.
    pub adversary: Option<String>,
    /// Malware family names.
    pub malware_families: Vec<String>,
}

/// The `greynoise` section (documents its shape).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct GreyNoiseSection {
    #[serde(flatten)]
    pub state: SectionState,
    #[serde(flatten)]
    pub data: GreyNoiseData,
}

/// GreyNoise Community answer under its own names, plus `seen`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct GreyNoiseData {
    /// Whether GreyNoise has observed the address (HTTP 200) rather than answering "not observed" (HTTP 404).
    #[serde(default)]
    pub seen: bool,
    /// The address.
    pub ip: Option<String>,
    /// Observed scanning the internet in the last 90 days.
    #[serde(default, deserialize_with = "provider::null_as_default")]
    pub noise: bool,
    /// In GreyNoise's RIOT set of common business services (benign traffic).
    #[serde(default, deserialize_with = "provider::null_as_default")]
    pub riot: bool,
    /// `benign`, `malicious` or `unknown` (absent when not seen).
    pub classification: Option<String>,
    /// The actor or service name.
    pub name: Option<String>,
    /// GreyNoise's page for the address.
    pub link: Option<String>,
    /// Date last observed (`YYYY-MM-DD`).
    pub last_seen: Option<String>,
    /// GreyNoise's message (`Success`, or why the address is not known).
    pub message: Option<String>,
}

/// The `feeds` section.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FeedsSection {
    /// `ok` when at least one feed was read, `error` when none could be, `not_configured` without feeds.
    pub status: SectionStatus,
    /// Whether any feed lists the target.
    pub listed: bool,
    /// Every matching entry.
    pub matches: Vec<FeedMatch>,
    /// Each configured feed, by name.
    pub feeds: Vec<FeedState>,
    /// Why no feed could be read (status `error`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// A feed entry that matches the target.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FeedMatch {
    /// The feed's name (its key in `tools.feeds`).
    pub feed: String,
    /// The entry, normalised (lower case; `198.51.100.0/24` for a network).
    pub indicator: String,
    /// Its line in the file (1-based).
    pub line: u32,
}

/// The state of one feed file.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct FeedState {
    /// The feed's name.
    pub name: String,
    /// `plain` or `csv` (a file named `*.csv`).
    pub format: FeedFormat,
    /// Indicators read.
    pub entries: usize,
    /// Lines that are not an indicator, a comment or a CSV header (skipped).
    pub invalid_lines: usize,
    /// The first such line (1-based).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub first_invalid_line: Option<u32>,
    /// Why the file could not be read (it then counts as empty).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// How a feed file is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum FeedFormat {
    Plain,
    Csv,
}

/// Runs `threat-feed` against `target`.
///
/// # Errors
/// [`ToolError::InvalidInput`] when the target is not an IP, domain, URL or hash. Provider and feed failures
/// are recorded in the result.
pub async fn run(tb: &Toolbox, target: &Target) -> Result<ThreatFeedResult, ToolError> {
    let kind = target.kind();
    if !ToolKey::ThreatFeed.accepts().contains(&kind) {
        return Err(ToolError::InvalidInput(format!(
            "the threat-feed tool does not accept {} targets; it accepts IP, DOMAIN, URL, HASH",
            kind.as_str()
        )));
    }
    let ip = match kind {
        AssetType::Ip => Some(
            target
                .value()
                .parse::<IpAddr>()
                .map_err(|_| ToolError::InvalidInput(format!("`{}` is not an IP address", target.value())))?,
        ),
        _ => None,
    };
    let (otx, greynoise, feeds) = tokio::join!(otx(tb, target, ip), greynoise(tb, ip), feeds(tb, target));
    Ok(ThreatFeedResult {
        target: target.value().to_string(),
        kind,
        listed: feeds.listed,
        pulse_count: otx.get("pulseCount").and_then(Value::as_u64),
        classification: greynoise.get("classification").and_then(Value::as_str).map(str::to_string),
        otx,
        greynoise,
        feeds,
    })
}

async fn otx(tb: &Toolbox, target: &Target, ip: Option<IpAddr>) -> Value {
    const NAME: &str = "otx";
    let cfg = &tb.config().otx;
    let (section, value) = match (target.kind(), ip) {
        (AssetType::Ip, Some(IpAddr::V4(_))) => ("IPv4", target.value().to_string()),
        (AssetType::Ip, _) => ("IPv6", target.value().to_string()),
        (AssetType::Domain, _) => ("domain", target.value().to_string()),
        (AssetType::Url, _) => ("url", provider::path_segment(target.value())),
        (AssetType::Hash, _) => ("file", target.value().to_string()),
        _ => return provider::not_applicable(),
    };
    let path = format!("/indicators/{section}/{value}/general");
    let outcome = provider::get_json(tb, NAME, cfg, &path, &[], &[("X-OTX-API-KEY", &cfg.api_key)]).await;
    outcome.into_section(|body| {
        let general = provider::decode::<OtxGeneral>(NAME, body)?;
        provider::to_fields(NAME, &general.into_data())
    })
}

/// OTX `general`, as read (lenient where OTX's shapes vary).
#[derive(Deserialize)]
struct OtxGeneral {
    indicator: Option<String>,
    #[serde(rename = "type")]
    indicator_type: Option<String>,
    #[serde(default)]
    reputation: Value,
    #[serde(default, deserialize_with = "provider::null_as_default")]
    validation: Vec<OtxValidation>,
    pulse_info: OtxPulseInfoIn,
}

#[derive(Deserialize)]
struct OtxPulseInfoIn {
    #[serde(default, deserialize_with = "provider::null_as_default")]
    count: u64,
    #[serde(default, deserialize_with = "provider::null_as_default")]
    pulses: Vec<OtxPulseIn>,
}

#[derive(Deserialize)]
struct OtxPulseIn {
    id: Option<String>,
    name: Option<String>,
    #[serde(default, deserialize_with = "provider::null_as_default")]
    tags: Vec<String>,
    created: Option<String>,
    modified: Option<String>,
    adversary: Option<String>,
    /// Objects `{"display_name": …}` in current answers, strings in older ones.
    #[serde(default, deserialize_with = "provider::null_as_default")]
    malware_families: Vec<Value>,
}

impl OtxGeneral {
    fn into_data(self) -> OtxData {
        let total = self.pulse_info.count.max(self.pulse_info.pulses.len() as u64);
        let pulses: Vec<OtxPulse> = self
            .pulse_info
            .pulses
            .into_iter()
            .take(MAX_PULSES)
            .map(|p| OtxPulse {
                id: p.id,
                name: p.name,
                tags: p.tags,
                created: p.created,
                modified: p.modified,
                adversary: p.adversary.filter(|a| !a.is_empty()),
                malware_families: p
                    .malware_families
                    .iter()
                    .filter_map(|m| m.as_str().or_else(|| m.get("display_name").and_then(Value::as_str)))
                    .map(str::to_string)
                    .collect(),
            })
            .collect();
        let pulse_names = pulses.iter().filter_map(|p| p.name.clone()).collect();
        let mut tags: Vec<String> = Vec::new();
        let mut seen = std::collections::HashSet::new();
        for tag in pulses.iter().flat_map(|p| p.tags.iter()) {
            let tag = tag.trim();
            if !tag.is_empty() && tags.len() < MAX_TAGS && seen.insert(tag.to_lowercase()) {
                tags.push(tag.to_string());
            }
        }
        OtxData {
            indicator: self.indicator,
            indicator_type: self.indicator_type,
            reputation: self.reputation,
            validation: self.validation,
            pulse_info: OtxPulseInfo { count: total, pulses },
            pulse_count: total,
            pulse_names,
            tags,
        }
    }
}

async fn greynoise(tb: &Toolbox, ip: Option<IpAddr>) -> Value {
    const NAME: &str = "greynoise";
    let Some(ip) = ip else { return provider::not_applicable() };
    let cfg = &tb.config().greynoise;
    let path = format!("/community/{ip}");
    let answer = provider::get_json_with_status(tb, NAME, cfg, &path, &[], &[("key", &cfg.api_key)]).await;
    let fields = |body: Value, seen: bool| {
        let mut data = provider::decode::<GreyNoiseData>(NAME, body)?;
        data.seen = seen;
        provider::to_fields(NAME, &data)
    };
    match answer {
        Ok(a) => Outcome::Ok(a.body).into_section(|body| fields(body, a.status != 404)),
        Err(outcome) => outcome.into_section(|body| fields(body, true)),
    }
}

async fn feeds(tb: &Toolbox, target: &Target) -> FeedsSection {
    let configured = &tb.config().feeds;
    let mut section =
        FeedsSection { status: SectionStatus::Ok, listed: false, matches: Vec::new(), feeds: Vec::new(), error: None };
    if configured.is_empty() {
        section.status = SectionStatus::NotConfigured;
        return section;
    }
    // What to look up: the value itself, and a URL's host.
    let mut ips: Vec<IpAddr> = Vec::new();
    let mut keys: Vec<String> = Vec::new();
    match target.kind() {
        AssetType::Ip => ips.extend(target.value().parse::<IpAddr>().ok()),
        _ => keys.push(lists::key_of(target.value())),
    }
    if target.kind() == AssetType::Url
        && let Some(host) = target.host()
    {
        match host.parse::<IpAddr>() {
            Ok(ip) => ips.push(ip),
            Err(_) => keys.push(lists::key_of(host)),
        }
    }
    let mut readable = 0;
    for (name, loaded) in lists::load_all(configured, ListKind::Feed).await {
        match loaded {
            Ok(list) => {
                readable += 1;
                let hits =
                    keys.iter().filter_map(|k| list.match_key(k)).chain(ips.iter().flat_map(|ip| list.match_ip(*ip)));
                section.matches.extend(hits.map(|hit| FeedMatch {
                    feed: name.clone(),
                    indicator: hit.entry,
                    line: hit.line,
                }));
                section.feeds.push(FeedState {
                    name,
                    format: if list.csv { FeedFormat::Csv } else { FeedFormat::Plain },
                    entries: list.entries,
                    invalid_lines: list.invalid_lines,
                    first_invalid_line: list.first_invalid_line,
                    error: None,
                });
            }
            Err(error) => section.feeds.push(FeedState {
                format: match configured.get(&name) {
                    Some(path) if lists::is_csv(path) => FeedFormat::Csv,
                    _ => FeedFormat::Plain,
                },
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
        section.error = Some("no feed could be read; see feeds[].error".to_string());
    }
    section
}
