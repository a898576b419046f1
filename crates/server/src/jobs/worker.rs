//! Background workers: claim jobs from the store's queue and run them.
//!
//! One [`Worker`] per process (in `tlink serve` unless `--no-worker`, or alone in `tlink worker`). It
//! claims due jobs in batches, up to `worker.concurrency` at once, and runs each in its own task:
//!
//! - a heartbeat extends the leases of the jobs it holds every third of `lease_secs`, so a long run keeps
//!   its job, and a worker that dies stops extending them — another process re-runs the job once the lease
//!   expires (every worker also runs the reaper, [`Store::requeue_expired`]);
//! - tool runs wait for their tool's own concurrency limit (`tools.limits.<tool>.concurrency`) and run under
//!   its deadline (`timeout_secs`);
//! - a failure that may pass (timeout, network) is retried with exponential backoff and jitter until
//!   `max_attempts`; an invalid target or an egress refusal fails at once; a job whose worker died more than
//!   `max_attempts` times is given up;
//! - outcomes go to one finishing task that writes them in batches (one transaction each);
//! - on shutdown it stops claiming, lets running jobs finish for `shutdown_grace_secs`, then gives the rest
//!   back to the queue ([`Store::release_jobs`]) without counting the attempt.
//!
//! Each attempt runs in a `job` span (`job_id`, `kind`, `attempt`; `org_id`, `report_id`, `tool`,
//! `delivery_id`, `rule_id` and `channel` are filled in once the payload names them), so every log line of
//! a run says whose run it was; it is counted in `tlink_jobs_total` by kind and outcome and timed in
//! `tlink_job_duration_seconds`. The queue's depth and age are sampled by [`crate::jobs::sampler`].
//!
//! Wake-ups: an enqueue in the same process wakes the worker at once ([`Wake`]). On PostgreSQL,
//! [`Wake::follow`] listens for other processes' enqueues and finished reports (LISTEN/NOTIFY), so a job
//! queued by an API-only process starts at once and a request waiting for a report finished elsewhere is
//! answered at once. Polling every `poll_interval_ms` (and every 100 ms for a waiting request) remains the
//! fallback: for delayed retries, re-queued jobs, SQLite, and while the listening connection is down.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::panic::AssertUnwindSafe;

use futures_util::FutureExt;
use rand::Rng;
use serde::{Deserialize, Serialize};
use tlink_domain::ToolKey;
use tlink_store::{Finish, Job, JobKind, JobOutcome, ReportRow, ReportUpdate, Store};
use tlink_tools::Toolbox;

use crate::jobs::alerting::Alerting;
use crate::jobs::background::{BackgroundJob, Failed};
use crate::jobs::tool::ToolJob;
use crate::telemetry::error_chain;
use tokio::sync::{Notify, Semaphore, mpsc};
use tracing::Instrument;

/// The `[worker]` section of the configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerConfig {
    /// Run workers inside `tlink serve` (`serve --no-worker` turns them off for one process).
    pub enabled: bool,
    /// Jobs run at once by one process.
    pub concurrency: usize,
    /// Jobs claimed per query.
    pub batch_size: u32,
    /// A claimed job belongs to its worker this long without a heartbeat; then another worker may run it.
    pub lease_secs: u64,
    /// How often to look for jobs queued by other processes, milliseconds.
    pub poll_interval_ms: u64,
    /// How often to put back jobs whose worker died (expired leases), seconds.
    pub reap_interval_secs: u64,
    /// Attempts of a tool run before it is FAILED for good.
    pub max_attempts: i64,
    /// First retry delay, seconds; doubled per attempt, with ±25 % jitter, up to `retry_max_secs`.
    pub retry_base_secs: u64,
    pub retry_max_secs: u64,
    /// On shutdown, how long running jobs may take to finish before they are given back to the queue.
    pub shutdown_grace_secs: u64,
    /// Where `tlink worker` serves `/metrics` and `/healthz` for Prometheus (a worker-only process has no
    /// API listener of its own); none by default. `tlink serve` exports its worker's metrics on its API.
    pub metrics_listen: Option<std::net::SocketAddr>,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            enabled: true,
            concurrency: 64,
            batch_size: 64,
            lease_secs: 60,
            poll_interval_ms: 500,
            reap_interval_secs: 15,
            max_attempts: 3,
            retry_base_secs: 10,
            retry_max_secs: 3600,
            shutdown_grace_secs: 20,
            metrics_listen: None,
        }
    }
}

impl WorkerConfig {
    /// The delay before attempt `attempts + 1`, after `attempts` failed ones: base × 2^(attempts−1), capped,
    /// ±25 % jitter.
    pub fn backoff(&self, attempts: i64) -> Duration {
        let exp = u32::try_from(attempts.saturating_sub(1).clamp(0, 20)).unwrap_or(20);
        let secs = self.retry_base_secs.saturating_mul(1u64 << exp).min(self.retry_max_secs).max(1);
        let jitter = rand::thread_rng().gen_range(0.75..1.25);
        Duration::from_secs_f64(secs as f64 * jitter)
    }
}

/// In-process signals between the API and the worker: "a job was queued" (wakes the worker at once) and
/// "this job's outcome was recorded" (wakes the requests waiting for that report, `GET …/reports/{id}?wait=`,
/// and hands them the finished report as it was committed, so they answer without reading it again).
#[derive(Clone, Default)]
pub struct Wake {
    queued: Arc<Notify>,
    /// Requests waiting for a job's outcome, by job id (a report's job has the report's id).
    waiting: Arc<parking_lot::Mutex<HashMap<String, Arc<Slot>>>>,
}

/// Where the requests waiting for one job are woken, and find its report once it finished.
#[derive(Default)]
struct Slot {
    notify: Notify,
    report: parking_lot::Mutex<Option<Arc<ReportRow>>>,
}

/// A registration to be woken when one job's outcome is recorded; unregisters when dropped.
pub struct Waiter {
    id: String,
    slot: Arc<Slot>,
    waiting: Arc<parking_lot::Mutex<HashMap<String, Arc<Slot>>>>,
}

impl Waiter {
    /// Resolves when the job's outcome was recorded, by this process's worker or (on PostgreSQL, while
    /// notifications are followed) by another process's; poll with a timeout as well.
    pub fn notified(&self) -> tokio::sync::futures::Notified<'_> {
        self.slot.notify.notified()
    }

    /// The report as this process's worker recorded it COMPLETED or FAILED, once it has; `None` before,
    /// and when another process finished it (read it from the store then).
    pub fn finished_report(&self) -> Option<Arc<ReportRow>> {
        self.slot.report.lock().clone()
    }
}

impl Drop for Waiter {
    fn drop(&mut self) {
        let mut map = self.waiting.lock();
        // Two references left (the map's and ours): nobody else waits for this id.
        if map.get(&self.id).is_some_and(|n| Arc::strong_count(n) <= 2) {
            map.remove(&self.id);
        }
    }
}

impl Wake {
    /// A job was queued in this process.
    pub fn notify(&self) {
        self.queued.notify_one();
    }

    async fn notified(&self) {
        self.queued.notified().await;
    }

    /// Registers interest in the outcome of job `id`.
    pub fn wait_for(&self, id: &str) -> Waiter {
        let slot = self.waiting.lock().entry(id.to_string()).or_default().clone();
        Waiter { id: id.to_string(), slot, waiting: self.waiting.clone() }
    }

    /// Follows the store's notifications from other processes until the future is dropped: queued jobs wake
    /// the worker, finished reports the requests waiting for them. Returns at once on SQLite. A lost
    /// connection is re-opened with backoff (polling covers the gap).
    pub async fn follow(self, store: tlink_store::Store) {
        let mut backoff = Duration::from_millis(500);
        loop {
            match store.queue_events().await {
                Ok(None) => return,
                Ok(Some(mut events)) => {
                    tracing::debug!("following queue notifications");
                    backoff = Duration::from_millis(500);
                    // Whatever happened while nobody listened is found by polling; wake up once to look.
                    self.notify();
                    while let Some(event) = events.next().await {
                        match event {
                            tlink_store::QueueEvent::JobsQueued => self.notify(),
                            tlink_store::QueueEvent::ReportFinished(id) => {
                                self.finished(std::iter::once(id.as_str()), Vec::new())
                            }
                        }
                    }
                    tracing::warn!("lost the queue notification connection; polling until it is back");
                }
                Err(e) => tracing::warn!(error = %e, "listening for queue notifications failed; polling meanwhile"),
            }
            tokio::time::sleep(backoff).await;
            backoff = (backoff * 2).min(Duration::from_secs(30));
        }
    }

    /// Wakes the requests waiting for these jobs, first handing them the `reports` that finished.
    fn finished<'a>(&self, ids: impl Iterator<Item = &'a str>, reports: Vec<ReportRow>) {
        let map = self.waiting.lock();
        if map.is_empty() {
            return;
        }
        for report in reports {
            if let Some(slot) = map.get(report.id.as_str()) {
                *slot.report.lock() = Some(Arc::new(report));
            }
        }
        for id in ids {
            if let Some(slot) = map.get(id) {
                slot.notify.notify_waiters();
            }
        }
    }
}

/// A job-running process. Cheap to clone (shared state behind `Arc`s).
#[derive(Clone)]
pub struct Worker {
    inner: Arc<Inner>,
}

struct Inner {
    id: String,
    store: Store,
    toolbox: Toolbox,
    config: WorkerConfig,
    wake: Wake,
    tool_slots: HashMap<ToolKey, Arc<Semaphore>>,
    /// Rule evaluation and notifications; without it, reports raise no alerts and deliveries fail.
    alerting: Option<Arc<Alerting>>,
}

impl Worker {
    pub fn new(
        store: Store,
        toolbox: Toolbox,
        config: WorkerConfig,
        wake: Wake,
        alerting: Option<Arc<Alerting>>,
    ) -> Worker {
        let tool_slots = ToolKey::ALL
            .iter()
            .map(|&k| (k, Arc::new(Semaphore::new(toolbox.config().limits(k).concurrency.max(1)))))
            .collect();
        let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "host".into());
        let id = format!("{host}-{}-{}", std::process::id(), &uuid::Uuid::now_v7().simple().to_string()[20..]);
        metrics::gauge!("tlink_worker_concurrency").set(config.concurrency.max(1) as f64);
        metrics::gauge!("tlink_worker_running_jobs").increment(0.0);
        Worker { inner: Arc::new(Inner { id, store, toolbox, config, wake, tool_slots, alerting }) }
    }

    /// This worker's id, as recorded in `jobs.locked_by`.
    pub fn id(&self) -> &str {
        &self.inner.id
    }

    /// Runs until `shutdown` resolves, then drains as described in the module documentation.
    pub async fn run(self, shutdown: impl std::future::Future<Output = ()>) {
        let cfg = &self.inner.config;
        let lease_ms = i64::try_from(cfg.lease_secs.max(1) * 1000).unwrap_or(60_000);
        let concurrency = cfg.concurrency.max(1);
        let slots = Arc::new(Semaphore::new(concurrency));
        let (tx, rx) = mpsc::channel::<Finish>(concurrency * 2);
        let finisher =
            tokio::spawn(finisher(self.inner.store.clone(), self.inner.id.clone(), self.inner.wake.clone(), rx));
        let background = tokio::spawn(self.clone().maintenance(lease_ms));
        let sampler = tokio::spawn(crate::jobs::sampler::run(self.inner.store.clone()));
        tracing::info!(worker = %self.inner.id, concurrency, "worker started");

        // Claim again once a quarter of a batch is free, not for every single finished job: many tiny claims
        // cost more than they gain.
        let low_water = u32::try_from((cfg.batch_size.max(1) as usize).min(concurrency) / 4).unwrap_or(1).max(1);
        tokio::pin!(shutdown);
        loop {
            let free = slots.available_permits();
            if free < low_water as usize {
                tokio::select! {
                    _ = &mut shutdown => break,
                    permits = slots.acquire_many(low_water) => drop(permits),
                }
                continue;
            }
            let limit = u32::try_from(free).unwrap_or(u32::MAX).min(cfg.batch_size.max(1));
            match self.inner.store.claim_jobs(&self.inner.id, limit, lease_ms).await {
                Ok(jobs) if !jobs.is_empty() => {
                    for job in jobs {
                        // At most `free` jobs were claimed and only this loop takes slots: this never waits.
                        let Ok(permit) = slots.clone().acquire_owned().await else { break };
                        let me = self.clone();
                        let tx = tx.clone();
                        tokio::spawn(async move {
                            let finish = me.execute(job).await;
                            let _ = tx.send(finish).await;
                            drop(permit);
                        });
                    }
                    continue;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "claiming jobs failed; retrying"),
            }
            tokio::select! {
                _ = &mut shutdown => break,
                _ = self.inner.wake.notified() => {}
                _ = tokio::time::sleep(Duration::from_millis(cfg.poll_interval_ms.max(10))) => {}
            }
        }

        tracing::info!(worker = %self.inner.id, "worker stopping: waiting for running jobs");
        let grace = Duration::from_secs(cfg.shutdown_grace_secs);
        let all = u32::try_from(concurrency).unwrap_or(u32::MAX);
        let drained = tokio::time::timeout(grace, slots.acquire_many(all)).await.is_ok();
        drop(tx);
        let _ = tokio::time::timeout(Duration::from_secs(5), finisher).await;
        background.abort();
        sampler.abort();
        if !drained {
            match self.inner.store.release_jobs(&self.inner.id).await {
                Ok(n) => {
                    tracing::info!(worker = %self.inner.id, released = n, "gave unfinished jobs back to the queue")
                }
                Err(e) => tracing::error!(error = %e, "releasing jobs failed; they run again when their lease expires"),
            }
        }
        tracing::info!(worker = %self.inner.id, "worker stopped");
    }

    /// Claims and runs due jobs until none is left, then returns how many ran. For tests and one-shot use:
    /// no heartbeat, leases of `lease_secs`.
    pub async fn run_until_idle(&self) -> usize {
        let lease_ms = i64::try_from(self.inner.config.lease_secs.max(1) * 1000).unwrap_or(60_000);
        let mut ran = 0;
        loop {
            let jobs = match self.inner.store.claim_jobs(&self.inner.id, self.inner.config.batch_size, lease_ms).await {
                Ok(jobs) => jobs,
                Err(e) => {
                    tracing::warn!(error = %e, "claiming jobs failed");
                    return ran;
                }
            };
            if jobs.is_empty() {
                return ran;
            }
            ran += jobs.len();
            let finishes = futures_util::future::join_all(jobs.into_iter().map(|j| self.execute(j))).await;
            let reports = match self.inner.store.finish_jobs(&self.inner.id, &finishes).await {
                Ok(finished) => finished.reports,
                Err(e) => {
                    tracing::warn!(error = %e, "finishing jobs failed");
                    Vec::new()
                }
            };
            self.inner.wake.finished(finishes.iter().map(|f| f.id.as_str()), reports);
        }
    }

    /// Heartbeats and the reaper.
    async fn maintenance(self, lease_ms: i64) {
        let cfg = &self.inner.config;
        let mut beat =
            tokio::time::interval(Duration::from_millis(u64::try_from(lease_ms / 3).unwrap_or(20_000).max(100)));
        let mut reap = tokio::time::interval(Duration::from_secs(cfg.reap_interval_secs.max(1)));
        loop {
            tokio::select! {
                _ = beat.tick() => {
                    if let Err(e) = self.inner.store.extend_leases(&self.inner.id, lease_ms).await {
                        tracing::warn!(error = %e, "extending job leases failed");
                    }
                }
                _ = reap.tick() => match self.inner.store.requeue_expired().await {
                    Ok(0) => {}
                    Ok(n) => tracing::warn!(jobs = n, "re-queued jobs whose worker stopped (lease expired)"),
                    Err(e) => tracing::warn!(error = %e, "re-queueing expired jobs failed"),
                },
            }
        }
    }

    /// Runs one claimed job in its span and decides what becomes of it; counts the attempt by kind and
    /// outcome and times it. Never panics: a panicking job is a failed attempt (retried like a network
    /// failure).
    async fn execute(&self, job: Job) -> Finish {
        let kind = job.kind().map_or("unknown", JobKind::as_str);
        let span = tracing::info_span!(
            "job",
            job_id = %job.id,
            kind = kind,
            attempt = job.attempts,
            org_id = tracing::field::Empty,
            report_id = tracing::field::Empty,
            tool = tracing::field::Empty,
            delivery_id = tracing::field::Empty,
            rule_id = tracing::field::Empty,
            channel = tracing::field::Empty,
        );
        let running = metrics::gauge!("tlink_worker_running_jobs");
        running.increment(1.0);
        let started = Instant::now();
        let finish = self.attempt(job).instrument(span).await;
        running.decrement(1.0);
        metrics::histogram!("tlink_job_duration_seconds", "kind" => kind).record(started.elapsed().as_secs_f64());
        let outcome = match finish.job {
            JobOutcome::Done => "done",
            JobOutcome::Retry { .. } => "retry",
            JobOutcome::Dead { .. } => "failed",
        };
        metrics::counter!("tlink_jobs_total", "kind" => kind, "outcome" => outcome).increment(1);
        finish
    }

    /// One attempt, a panic caught.
    async fn attempt(&self, job: Job) -> Finish {
        let claimed = job.clone();
        match AssertUnwindSafe(self.dispatch(job)).catch_unwind().await {
            Ok(f) => f,
            Err(_) => {
                tracing::error!(job = %claimed.id, kind = %claimed.kind, "job panicked");
                let error = "the job failed unexpectedly (internal error)".to_string();
                self.failure(&claimed, Failed::retryable(error))
            }
        }
    }

    async fn dispatch(&self, job: Job) -> Finish {
        if job.attempts > job.max_attempts {
            let error =
                format!("gave up: the worker running it stopped before finishing ({} attempts)", job.max_attempts);
            return self.failure(&job, Failed::fatal(error));
        }
        match job.kind() {
            Some(JobKind::Tool) => self.run_tool(&job).await,
            Some(JobKind::Delivery) => match &self.inner.alerting {
                Some(a) => a.deliver(&job).await,
                None => {
                    let error = "this process cannot send notifications (no alerting configured)".to_string();
                    self.failure(&job, Failed::retryable(error))
                }
            },
            Some(JobKind::Noop) => Finish::new(job.id, JobOutcome::Done, ReportUpdate::None),
            None => {
                let error = format!("unknown job kind `{}`", job.kind);
                self.failure(&job, Failed::fatal(error))
            }
        }
    }

    async fn run_tool(&self, job: &Job) -> Finish {
        let span = tracing::Span::current();
        // A tool job's id is its report's.
        span.record("report_id", job.id.as_str());
        let run = match ToolJob::decode(job) {
            Ok(run) => run,
            Err(e) => {
                let error = error_chain(&e);
                tracing::error!(job = %job.id, error = %error, "stored tool job is corrupt");
                return self.failure(job, Failed::fatal(error));
            }
        };
        span.record("tool", run.tool.as_str());
        if let Some(asset) = &run.asset {
            span.record("org_id", asset.org_id.as_str());
        }
        let slot = self.inner.tool_slots.get(&run.tool).cloned();
        match run.run(job, &self.inner.toolbox, slot, self.inner.alerting.as_deref()).await {
            Ok(finish) => finish,
            Err(failed) => self.failure(job, failed),
        }
    }

    /// A failed attempt: retried later when `retryable` and attempts remain, else failed for good.
    fn failure(&self, job: &Job, Failed { error, retryable, uncounted }: Failed) -> Finish {
        let (id, attempts, max) = (job.id.as_str(), job.attempts, job.max_attempts);
        let is_tool = job.kind() == Some(JobKind::Tool);
        if retryable && attempts < max {
            let delay = self.inner.config.backoff(attempts);
            let run_at = tlink_store::now_millis() + i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 2);
            let report = if is_tool { ReportUpdate::Retrying { error: error.clone() } } else { ReportUpdate::None };
            return Finish::new(id, JobOutcome::Retry { run_at, error }, report);
        }
        let error =
            if retryable && attempts > 1 { format!("{error} (gave up after {attempts} attempts)") } else { error };
        let report = if is_tool { ReportUpdate::Failed { error: error.clone() } } else { ReportUpdate::None };
        let mut finish = Finish::new(id, JobOutcome::Dead { error }, report);
        finish.effects.uncount_run = is_tool && uncounted;
        finish
    }
}

/// Writes finished jobs' outcomes in batches: whatever has arrived since the last write goes in one
/// transaction, so the batch grows with the load and an idle queue writes each outcome at once. (Outcomes
/// are counted when they are decided, in [`Worker::execute`], so one-shot runs count too.)
async fn finisher(store: Store, worker: String, wake: Wake, mut rx: mpsc::Receiver<Finish>) {
    let mut batch = Vec::with_capacity(256);
    while rx.recv_many(&mut batch, 256).await > 0 {
        let mut tries = 0;
        let reports = loop {
            match store.finish_jobs(&worker, &batch).await {
                Ok(finished) => break finished.reports,
                Err(e) if tries < 5 => {
                    tries += 1;
                    tracing::warn!(error = %e, jobs = batch.len(), "recording job outcomes failed; retrying");
                    tokio::time::sleep(Duration::from_millis(200 * tries)).await;
                }
                Err(e) => {
                    tracing::error!(error = %e, jobs = batch.len(), "recording job outcomes failed; the jobs run again after their lease");
                    break Vec::new();
                }
            }
        };
        wake.finished(batch.iter().map(|f| f.id.as_str()), reports);
        batch.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(id: &str) -> ReportRow {
        ReportRow {
            id: tlink_domain::ReportId::from_trusted(id.to_string()),
            org_id: tlink_domain::OrgId::from_trusted("org".to_string()),
            tool: tlink_domain::ToolKey::Dns,
            target: "example.com".into(),
            target_type: tlink_domain::AssetType::Domain,
            asset_id: None,
            options: None,
            origin: tlink_store::ReportOrigin::Manual,
            requested_by: None,
            status: tlink_store::ReportStatus::Completed,
            attempts: 1,
            result: Some("{}".into()),
            error: None,
            created_at: 1,
            started_at: Some(2),
            finished_at: Some(3),
            updated_at: 3,
        }
    }

    #[tokio::test]
    async fn waiters_are_woken_with_their_finished_report_and_unregister_when_dropped() {
        let wake = Wake::default();
        let (a, b, other) = (wake.wait_for("r1"), wake.wait_for("r1"), wake.wait_for("r2"));
        let (na, nb, nother) = (a.notified(), b.notified(), other.notified());
        // r2 is woken without a report: it finished elsewhere (or was retried) and must be read.
        wake.finished(["r1", "r2"].into_iter(), vec![report("r1"), report("r3")]);
        for n in [na, nb, nother] {
            tokio::time::timeout(Duration::from_secs(5), n).await.expect("woken");
        }
        for w in [&a, &b] {
            assert_eq!(w.finished_report().map(|r| r.id.to_string()).as_deref(), Some("r1"));
        }
        assert!(other.finished_report().is_none());
        assert_eq!(wake.waiting.lock().len(), 2, "r3 had no waiter and left nothing behind");
        drop((a, other));
        assert_eq!(wake.waiting.lock().len(), 1, "r1 still has a waiter");
        drop(b);
        assert!(wake.waiting.lock().is_empty());
    }

    #[test]
    fn backoff_doubles_with_jitter_and_is_capped() {
        let cfg = WorkerConfig { retry_base_secs: 10, retry_max_secs: 100, ..WorkerConfig::default() };
        for (attempts, base) in [(1, 10.0), (2, 20.0), (3, 40.0), (4, 80.0), (5, 100.0), (30, 100.0)] {
            let d = cfg.backoff(attempts).as_secs_f64();
            assert!(d >= base * 0.75 && d <= base * 1.25, "attempt {attempts}: {d}s, expected about {base}s");
        }
    }
}
