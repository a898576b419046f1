//! The monitoring policy, shared by the operations (create or change a monitored asset, scan it now) and the
//! scheduler: which tools scan each asset type, the intervals allowed, and when an asset is next due.

use rand::Rng;
use serde::{Deserialize, Serialize};
use tlink_domain::{AssetType, ToolKey};

/// The `[monitoring]` section of the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MonitoringConfig {
    /// Run the scheduler in this process's worker.
    pub enabled: bool,
    /// How often to look for due assets, seconds.
    pub tick_secs: u64,
    /// Assets claimed per transaction.
    pub batch_size: u32,
    /// Each interval is lengthened or shortened at random by up to this share (percent).
    pub jitter_percent: u32,
    /// A newly monitored asset is first scanned within this many seconds (spread at random).
    pub first_scan_within_secs: u64,
    /// Smallest interval accepted for an asset or an org, minutes.
    pub min_interval_minutes: i64,
    /// Which tools scan each asset type, replacing the built-in matrix for the types listed, e.g.
    /// `IP = ["ip-reputation", "threat-feed"]` to leave out the port scan.
    pub tools: std::collections::BTreeMap<AssetType, Vec<ToolKey>>,
}

impl Default for MonitoringConfig {
    fn default() -> Self {
        MonitoringConfig {
            enabled: true,
            tick_secs: 15,
            batch_size: 500,
            jitter_percent: 5,
            first_scan_within_secs: 60,
            min_interval_minutes: 5,
            tools: Default::default(),
        }
    }
}

/// Longest interval accepted, minutes (one year).
pub const MAX_INTERVAL_MINUTES: i64 = 525_600;

/// The built-in matrix: the tools a scan runs for each asset type.
pub fn default_scan_tools(kind: AssetType) -> &'static [ToolKey] {
    use ToolKey::*;
    match kind {
        AssetType::Domain => &[Dns, Whois, Ssl, Email, ThreatFeed],
        AssetType::Ip => &[IpReputation, Exposure, ThreatFeed, Whois],
        AssetType::Email => &[Email],
        AssetType::Url => &[Ssl, ThreatFeed, IpReputation],
        AssetType::Hash => &[ThreatFeed, IpReputation],
        AssetType::Asn => &[Whois],
        AssetType::Certificate => &[],
    }
}

impl MonitoringConfig {
    /// The tools that scan `kind`: the configured list, else the built-in matrix.
    pub fn scan_tools(&self, kind: AssetType) -> &[ToolKey] {
        self.tools.get(&kind).map_or(default_scan_tools(kind), Vec::as_slice)
    }

    /// When a newly monitored asset is first due.
    pub fn first_scan_at(&self, now: i64) -> i64 {
        let spread = i64::try_from(self.first_scan_within_secs.saturating_mul(1000)).unwrap_or(60_000);
        now + if spread > 0 { rand::thread_rng().gen_range(0..=spread) } else { 0 }
    }

    /// The next scan after one at `from`, `interval_minutes` on, with jitter.
    pub fn next_scan_at(&self, from: i64, interval_minutes: i64) -> i64 {
        let base = interval_minutes.clamp(1, MAX_INTERVAL_MINUTES) * 60_000;
        let j = i64::from(self.jitter_percent.min(50));
        let jitter = if j > 0 { rand::thread_rng().gen_range(-j * 100..=j * 100) } else { 0 };
        from + base + base * jitter / 10_000
    }
}
