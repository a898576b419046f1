//! Continuous monitoring: queue scheduled scans of monitored assets.
//!
//! Every worker process runs a [`Scheduler`] that wakes every `tick_secs`, reads the assets whose
//! `next_scan_at` has passed (an index range scan of the due ones only, most overdue first, in batches) and
//! queues, per asset, one report for each tool of [`MonitoringConfig::scan_tools`] — moving `next_scan_at` one interval on
//! (the asset's `monitorIntervalMinutes`, else its org's default) with ±`jitter_percent` so assets created
//! together drift apart. The store claims each asset with a compare-and-set, so several processes never
//! queue the same scan twice.

use std::time::Duration;

use rand::Rng;
use serde::{Deserialize, Serialize};
use tlink_domain::{AssetId, AssetType};
use tlink_store::{DueAsset, NewReport, Quota, ScanOutcome, ScheduledScan, Store};
use tlink_tools::{Target, ToolKey};

use crate::worker::{PayloadAsset, ToolPayload, Wake};

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

/// The reports of one scan of `asset` (one per tool of its type), ready for the store.
pub fn scan_reports(
    tools: &[ToolKey],
    asset: &PayloadAsset,
    value: &str,
    origin: &str,
    requested_by: Option<&tlink_domain::UserId>,
    max_attempts: i64,
) -> Vec<NewReport> {
    let Ok(parsed) = tlink_domain::parse(asset.kind, value) else { return Vec::new() };
    tools
        .iter()
        .filter_map(|&tool| {
            let target = Target::for_asset(tool, parsed.clone()).ok()?;
            let payload = ToolPayload {
                tool,
                target: target.value().to_string(),
                options: Default::default(),
                asset: Some(asset.clone()),
            };
            Some(NewReport {
                tool: tool.as_str().to_string(),
                target: target.value().to_string(),
                target_type: target.kind().as_str().to_string(),
                asset_id: Some(AssetId::from_trusted(asset.id.clone())),
                options: None,
                origin: origin.to_string(),
                requested_by: requested_by.cloned(),
                payload: serde_json::json!(payload).to_string(),
                max_attempts,
            })
        })
        .collect()
}

/// Queues the scans of due assets.
#[derive(Clone)]
pub struct Scheduler {
    store: Store,
    config: MonitoringConfig,
    max_attempts: i64,
    wake: Wake,
}

impl Scheduler {
    pub fn new(store: Store, config: MonitoringConfig, max_attempts: i64, wake: Wake) -> Scheduler {
        Scheduler { store, config, max_attempts, wake }
    }

    /// Queues every scan due at `now`, batch after batch; returns how many assets were scanned.
    pub async fn tick(&self, now: i64) -> anyhow::Result<usize> {
        let mut total = 0;
        loop {
            let due = self.store.due_assets(now, self.config.batch_size.max(1)).await?;
            if due.is_empty() {
                return Ok(total);
            }
            let n = due.len();
            let scans: Vec<ScheduledScan> = due.iter().map(|d| self.plan(d, now)).collect();
            let outcomes = self.store.schedule_scans(&scans).await?;
            let queued = outcomes.iter().filter(|o| matches!(o, ScanOutcome::Queued(_))).count();
            let skipped = outcomes.iter().filter(|o| matches!(o, ScanOutcome::Skipped(_))).count();
            total += queued + skipped;
            metrics::counter!("tlink_scheduled_scans_total").increment(queued as u64);
            if skipped > 0 {
                metrics::counter!("tlink_scheduled_scans_skipped_total").increment(skipped as u64);
                for (scan, outcome) in scans.iter().zip(&outcomes) {
                    if matches!(outcome, ScanOutcome::Skipped(_)) {
                        tracing::warn!(org = %scan.org_id, asset = %scan.asset_id, "monthly tool-run quota used up: scheduled scan skipped");
                    }
                }
            }
            if queued > 0 {
                self.wake.notify();
            }
            if n < self.config.batch_size.max(1) as usize {
                return Ok(total);
            }
        }
    }

    fn plan(&self, d: &DueAsset, now: i64) -> ScheduledScan {
        let asset = PayloadAsset { id: d.id.to_string(), org_id: d.org_id.to_string(), kind: d.kind };
        // The next scan counts from now, not from the missed slot: an overdue asset is scanned once, not
        // once per missed interval.
        ScheduledScan {
            asset_id: d.id.clone(),
            org_id: d.org_id.clone(),
            expected: d.next_scan_at,
            next: self.config.next_scan_at(now, d.interval_minutes),
            quota: Quota::at(&d.limits, now),
            reports: scan_reports(
                self.config.scan_tools(d.kind),
                &asset,
                &d.value,
                "SCHEDULED",
                None,
                self.max_attempts,
            ),
        }
    }

    /// Ticks every `tick_secs` until `stop` resolves.
    pub async fn run(self, stop: impl std::future::Future<Output = ()>) {
        let mut every = tokio::time::interval(Duration::from_secs(self.config.tick_secs.max(1)));
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => return,
                _ = every.tick() => match self.tick(tlink_store::now_millis()).await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(assets = n, "queued scheduled scans"),
                    Err(e) => tracing::warn!(error = %e, "scheduling scans failed; retrying next tick"),
                },
            }
        }
    }
}
