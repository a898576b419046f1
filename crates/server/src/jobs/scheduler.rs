//! Continuous monitoring: queue scheduled scans of monitored assets.
//!
//! Every worker process runs a [`Scheduler`] that wakes every `tick_secs`, reads the assets whose
//! `next_scan_at` has passed (an index range scan of the due ones only, most overdue first, in batches) and
//! queues, per asset, one report for each tool of [`MonitoringConfig::scan_tools`] — moving `next_scan_at` one interval on
//! (the asset's `monitorIntervalMinutes`, else its org's default) with ±`jitter_percent` so assets created
//! together drift apart. The store claims each asset with a compare-and-set, so several processes never
//! queue the same scan twice.
//!
//! How late scans are queued is the scheduler's health: `tlink_scheduler_lag_seconds` (from each asset's
//! `next_scan_at` to the tick that queued it; normally under `tick_secs`) and
//! `tlink_scheduler_last_tick_timestamp_seconds` (a scheduler that stopped ticking stops moving it).

use std::time::Duration;

use tlink_domain::AssetRef;
use tlink_store::{DueAsset, Quota, ReportOrigin, ScanOutcome, ScheduledScan, Store};

use crate::jobs::tool::ToolJob;
use crate::jobs::worker::Wake;
use crate::monitoring::MonitoringConfig;

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

    /// Queues every scan due at `now`, batch after batch; returns how many assets were scanned. Counts the
    /// tick (`tlink_scheduler_ticks_total`) and, when it succeeded, stamps
    /// `tlink_scheduler_last_tick_timestamp_seconds`.
    pub async fn tick(&self, now: i64) -> anyhow::Result<usize> {
        let result = self.queue_due(now).await;
        let outcome = if result.is_ok() { "ok" } else { "error" };
        metrics::counter!("tlink_scheduler_ticks_total", "outcome" => outcome).increment(1);
        if result.is_ok() {
            metrics::gauge!("tlink_scheduler_last_tick_timestamp_seconds").set(now as f64 / 1000.0);
        }
        result
    }

    /// [`Scheduler::tick`]'s work. Each scan claimed (queued, or skipped over the quota) records how late it
    /// was in `tlink_scheduler_lag_seconds`: from its `next_scan_at` to `now`.
    async fn queue_due(&self, now: i64) -> anyhow::Result<usize> {
        let lag = metrics::histogram!("tlink_scheduler_lag_seconds");
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
            for (scan, outcome) in scans.iter().zip(&outcomes) {
                if !matches!(outcome, ScanOutcome::NotClaimed) {
                    lag.record(now.saturating_sub(scan.expected).max(0) as f64 / 1000.0);
                }
            }
            metrics::counter!("tlink_scheduled_scans_total").increment(queued as u64);
            if skipped > 0 {
                metrics::counter!("tlink_scheduled_scans_skipped_total").increment(skipped as u64);
                for (scan, outcome) in scans.iter().zip(&outcomes) {
                    if matches!(outcome, ScanOutcome::Skipped(_)) {
                        tracing::warn!(org_id = %scan.org_id, asset_id = %scan.asset_id, "monthly tool-run quota used up: scheduled scan skipped");
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
        let asset = AssetRef { id: d.id.clone(), org_id: d.org_id.clone(), kind: d.kind };
        // The next scan counts from now, not from the missed slot: an overdue asset is scanned once, not
        // once per missed interval.
        ScheduledScan {
            asset_id: d.id.clone(),
            org_id: d.org_id.clone(),
            expected: d.next_scan_at,
            next: self.config.next_scan_at(now, d.interval_minutes),
            quota: Quota::at(&d.limits, now),
            reports: ToolJob::scan(self.config.scan_tools(d.kind), &asset, &d.value)
                .iter()
                .map(|run| run.report(ReportOrigin::Scheduled, None, self.max_attempts))
                .collect(),
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
