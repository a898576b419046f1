//! Logs and metrics: structured logs with a request id, and the Prometheus metrics served at `/metrics`.
//!
//! Every metric is named, typed and described once, in [`METRICS`] (docs/monitoring.md lists the same
//! table for operators). The recorder is built with buckets for every histogram, so each is exported as a
//! Prometheus histogram (which `histogram_quantile` aggregates across processes), never as a summary.
//! Counters whose labels take a few fixed values are registered at zero when the recorder is installed, so
//! a first refusal or failure shows in `rate()` and dashboards draw zero instead of "no data".
//!
//! Nothing here runs per scrape except rendering: a thread of its own drains histogram samples (the recorder
//! keeps them until then, so without it a process nobody scrapes would grow) and reads this process's CPU
//! time, memory, threads and file descriptors from `/proc` every [`UPKEEP_EVERY`]. What comes from the
//! database (the job queue) is sampled by the workers on a timer (`jobs::sampler`).
//!
//! The request path costs what it cost before: [`track`] records one counter and one histogram sample.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::response::Response;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use tlink_domain::ToolKey;
use tlink_store::JobKind;
use tracing_subscriber::EnvFilter;

/// Starts logging: `text` or `json`, filtered by `RUST_LOG` or `level`.
///
/// Job logs are written inside a `job` span (`job_id`, `kind`, `attempt`, and `org_id`, `report_id`,
/// `tool`, `delivery_id`, `rule_id`, `channel` where they apply) and request logs inside a `request` span
/// (`method`, `path`, `request_id`); JSON lines carry them under `span` and `spans`.
pub fn init_logging(format: &str, level: &str) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_target(false);
    let _ = if format == "json" { builder.json().flatten_event(true).try_init() } else { builder.try_init() };
}

/// What a metric is, as Prometheus types it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Counter,
    Gauge,
    Histogram,
}

/// One exported metric: its name, type and help text (which names its labels).
#[derive(Debug, Clone, Copy)]
pub struct Metric {
    pub name: &'static str,
    pub kind: Kind,
    pub help: &'static str,
}

const fn metric(name: &'static str, kind: Kind, help: &'static str) -> Metric {
    Metric { name, kind, help }
}

/// Every metric tlink exports. Labels take bounded values only: route templates, job kinds, tool keys,
/// channels, outcomes — never an id.
pub const METRICS: &[Metric] = &[
    // HTTP
    metric(
        "http_requests_total",
        Kind::Counter,
        "HTTP requests answered, by method, matched route template and status code.",
    ),
    metric(
        "http_request_duration_seconds",
        Kind::Histogram,
        "Time to answer an HTTP request, by method and matched route template.",
    ),
    // Jobs and the queue
    metric(
        "tlink_jobs_total",
        Kind::Counter,
        "Job attempts finished by this process's worker, by job kind and outcome (done, retry, failed).",
    ),
    metric(
        "tlink_job_duration_seconds",
        Kind::Histogram,
        "Time a job attempt took in the worker (waiting for its tool's slot included), by job kind.",
    ),
    metric(
        "tlink_queue_depth",
        Kind::Gauge,
        "Queued jobs by kind: ready (due now) or delayed (waiting for a retry's run_at). Sampled every 15 s by each worker process from the shared queue.",
    ),
    metric(
        "tlink_queue_oldest_ready_age_seconds",
        Kind::Gauge,
        "How long the longest-waiting ready job of each kind has been due, 0 when none is. Sampled every 15 s by each worker process.",
    ),
    metric("tlink_worker_concurrency", Kind::Gauge, "Jobs this process's worker may run at once (worker.concurrency)."),
    metric("tlink_worker_running_jobs", Kind::Gauge, "Jobs this process's worker is running now."),
    // Tools
    metric(
        "tlink_tool_runs_queued_total",
        Kind::Counter,
        "Tool runs queued through the API, the dashboard or the command line, by tool.",
    ),
    metric(
        "tlink_tool_runs_total",
        Kind::Counter,
        "Tool runs finished by this process, by tool and outcome (completed, error).",
    ),
    metric("tlink_tool_run_seconds", Kind::Histogram, "Time a tool took to run (under its deadline), by tool."),
    // Alerts and deliveries
    metric(
        "tlink_alerts_matched_total",
        Kind::Counter,
        "Alert rule matches found in finished reports and agents' vulnerability findings.",
    ),
    metric(
        "tlink_deliveries_total",
        Kind::Counter,
        "Delivery attempts, by channel (WEBHOOK, EMAIL) and the attempt's outcome (DELIVERED, RETRY, GONE, REFUSED, FAILED).",
    ),
    metric(
        "tlink_deliveries_finished_total",
        Kind::Counter,
        "Deliveries that reached a final status, by channel and status (DELIVERED, or FAILED once retries are used up or the attempt cannot succeed).",
    ),
    metric(
        "tlink_delivery_seconds",
        Kind::Histogram,
        "Time one delivery attempt took (webhook request or SMTP transaction), by channel.",
    ),
    // Scheduler
    metric(
        "tlink_scheduled_scans_total",
        Kind::Counter,
        "Scheduled scans of monitored assets queued (one per asset, each with a report per tool).",
    ),
    metric(
        "tlink_scheduled_scans_skipped_total",
        Kind::Counter,
        "Scheduled scans skipped because the organization's monthly tool-run quota was used up.",
    ),
    metric(
        "tlink_scheduler_lag_seconds",
        Kind::Histogram,
        "How late each due scan was queued: seconds from the asset's next_scan_at to the tick that queued it.",
    ),
    metric("tlink_scheduler_ticks_total", Kind::Counter, "Scheduler ticks, by outcome (ok, error)."),
    metric(
        "tlink_scheduler_last_tick_timestamp_seconds",
        Kind::Gauge,
        "Unix time of this process's last successful scheduler tick.",
    ),
    // Limits and sign-in
    metric(
        "tlink_ratelimit_refused_total",
        Kind::Counter,
        "Requests refused by a request rate limit, by the bucket that refused (ip, credential, organization).",
    ),
    metric(
        "tlink_ratelimit_backend_errors_total",
        Kind::Counter,
        "Rate-limit checks that could not reach Redis (let through, or refused with fail_closed).",
    ),
    metric(
        "tlink_logins_total",
        Kind::Counter,
        "Sign-ins with e-mail and password (API and dashboard), by outcome: succeeded, failed (unknown e-mail or wrong password), throttled (refused by the failed-login throttle).",
    ),
    // Process
    metric("tlink_build_info", Kind::Gauge, "Always 1; the running version as a label."),
    metric(
        "process_cpu_seconds_total",
        Kind::Gauge,
        "CPU time this process has used, user and system, seconds (a gauge here: the exporter's counters are integers; rate() works alike).",
    ),
    metric("process_resident_memory_bytes", Kind::Gauge, "Resident memory of this process, bytes."),
    metric("process_open_fds", Kind::Gauge, "File descriptors this process has open."),
    metric("process_max_fds", Kind::Gauge, "The soft limit on this process's open file descriptors."),
    metric("process_threads", Kind::Gauge, "Threads of this process."),
    metric("process_start_time_seconds", Kind::Gauge, "Unix time this process started."),
];

/// Histogram buckets, seconds, for every histogram of [`METRICS`].
const BUCKETS: &[(&str, &[f64])] = &[
    (
        "http_request_duration_seconds",
        &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0],
    ),
    (
        "tlink_job_duration_seconds",
        &[0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0],
    ),
    ("tlink_tool_run_seconds", &[0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 20.0, 30.0, 60.0, 120.0, 300.0]),
    ("tlink_delivery_seconds", &[0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 15.0, 30.0, 60.0]),
    (
        "tlink_scheduler_lag_seconds",
        &[1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 21600.0, 86400.0],
    ),
];

/// The delivery channels, as stored and as the `channel` label shows them.
pub const DELIVERY_CHANNELS: &[&str] = &["WEBHOOK", "EMAIL"];

/// How often histogram samples are drained and the process is read from `/proc`.
pub const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// Linux reports CPU time in clock ticks of `USER_HZ`, which is 100 on every architecture it runs on today.
const CLOCK_TICKS_PER_SEC: f64 = 100.0;

/// The process-wide Prometheus recorder (installed on first use).
pub fn prometheus() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let mut builder = PrometheusBuilder::new();
        for (name, buckets) in BUCKETS {
            builder = builder
                .set_buckets_for_metric(Matcher::Full((*name).to_string()), buckets)
                .expect("every histogram has a non-empty bucket list");
        }
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        let upkeep = recorder.handle();
        // Another recorder may already be installed (several apps in one test process); the handle then
        // renders this recorder's (empty) view, which is harmless.
        let _ = metrics::set_global_recorder(recorder);
        describe_all();
        register_zeroes();
        metrics::gauge!("tlink_build_info", "version" => env!("CARGO_PKG_VERSION")).set(1.0);
        sample_process();
        let started = std::thread::Builder::new().name("tlink-metrics".into()).spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_EVERY);
                upkeep.run_upkeep();
                sample_process();
            }
        });
        if let Err(e) = started {
            tracing::warn!(error = %e, "starting the metrics upkeep thread failed; histograms are drained on scrape only");
        }
        handle
    })
}

fn describe_all() {
    for m in METRICS {
        match m.kind {
            Kind::Counter => metrics::describe_counter!(m.name, m.help),
            Kind::Gauge => metrics::describe_gauge!(m.name, m.help),
            Kind::Histogram => metrics::describe_histogram!(m.name, m.help),
        }
    }
}

/// Registers at zero the counters whose label values are few and known in advance.
fn register_zeroes() {
    for kind in JobKind::ALL {
        for outcome in ["done", "retry", "failed"] {
            metrics::counter!("tlink_jobs_total", "kind" => kind.as_str(), "outcome" => outcome).increment(0);
        }
    }
    for tool in ToolKey::ALL {
        metrics::counter!("tlink_tool_runs_queued_total", "tool" => tool.as_str()).increment(0);
        for outcome in ["completed", "error"] {
            metrics::counter!("tlink_tool_runs_total", "tool" => tool.as_str(), "outcome" => outcome).increment(0);
        }
    }
    for &channel in DELIVERY_CHANNELS {
        for outcome in ["DELIVERED", "RETRY", "GONE", "REFUSED", "FAILED"] {
            metrics::counter!("tlink_deliveries_total", "channel" => channel, "outcome" => outcome).increment(0);
        }
        for status in ["DELIVERED", "FAILED"] {
            metrics::counter!("tlink_deliveries_finished_total", "channel" => channel, "status" => status).increment(0);
        }
    }
    for bucket in ["ip", "credential", "organization"] {
        metrics::counter!("tlink_ratelimit_refused_total", "bucket" => bucket).increment(0);
    }
    for outcome in ["succeeded", "failed", "throttled"] {
        metrics::counter!("tlink_logins_total", "outcome" => outcome).increment(0);
    }
    for outcome in ["ok", "error"] {
        metrics::counter!("tlink_scheduler_ticks_total", "outcome" => outcome).increment(0);
    }
    metrics::counter!("tlink_scheduled_scans_total").increment(0);
    metrics::counter!("tlink_scheduled_scans_skipped_total").increment(0);
    metrics::counter!("tlink_ratelimit_backend_errors_total").increment(0);
    metrics::counter!("tlink_alerts_matched_total").increment(0);
}

/// Reads this process's CPU time, memory, threads and file descriptors from `/proc` into their gauges. Where
/// there is no `/proc` (not Linux) nothing is set.
fn sample_process() {
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat")
        && let Some(p) = ProcStat::parse(&stat)
    {
        metrics::gauge!("process_cpu_seconds_total").set(p.cpu_ticks as f64 / CLOCK_TICKS_PER_SEC);
        metrics::gauge!("process_threads").set(p.threads as f64);
        if let Ok(boot) = std::fs::read_to_string("/proc/stat")
            && let Some(btime) = boot_time(&boot)
        {
            let start = btime as f64 + p.start_ticks as f64 / CLOCK_TICKS_PER_SEC;
            metrics::gauge!("process_start_time_seconds").set(start);
        }
    }
    if let Ok(status) = std::fs::read_to_string("/proc/self/status")
        && let Some(kib) = resident_kib(&status)
    {
        metrics::gauge!("process_resident_memory_bytes").set(kib as f64 * 1024.0);
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        metrics::gauge!("process_open_fds").set(fds.count() as f64);
    }
    if let Ok(limits) = std::fs::read_to_string("/proc/self/limits")
        && let Some(max) = max_open_files(&limits)
    {
        metrics::gauge!("process_max_fds").set(max as f64);
    }
}

/// What `/proc/self/stat` says about CPU time, threads and the start.
#[derive(Debug, PartialEq, Eq)]
struct ProcStat {
    /// User and system time, clock ticks.
    cpu_ticks: u64,
    threads: u64,
    /// When the process started, clock ticks after boot.
    start_ticks: u64,
}

impl ProcStat {
    /// Parses `/proc/<pid>/stat`: the command name (field 2) is parenthesised and may hold spaces and
    /// parentheses itself, so fields are counted from the last `)`.
    fn parse(stat: &str) -> Option<ProcStat> {
        let rest = &stat[stat.rfind(')')? + 1..];
        // Field 3 (state) is the first after the name: field n is at index n - 3.
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3).and_then(|f| f.parse::<u64>().ok());
        Some(ProcStat { cpu_ticks: field(14)? + field(15)?, threads: field(20)?, start_ticks: field(22)? })
    }
}

/// `btime` (boot time, unix seconds) from `/proc/stat`.
fn boot_time(stat: &str) -> Option<u64> {
    stat.lines().find_map(|l| l.strip_prefix("btime ")).and_then(|v| v.trim().parse().ok())
}

/// `VmRSS` from `/proc/<pid>/status`, KiB.
fn resident_kib(status: &str) -> Option<u64> {
    let line = status.lines().find_map(|l| l.strip_prefix("VmRSS:"))?;
    line.split_whitespace().next()?.parse().ok()
}

/// The soft limit of "Max open files" in `/proc/<pid>/limits`; `None` when unlimited.
fn max_open_files(limits: &str) -> Option<u64> {
    let line = limits.lines().find_map(|l| l.strip_prefix("Max open files"))?;
    line.split_whitespace().next()?.parse().ok()
}

/// Counts requests and records latency by method, matched route and status.
///
/// The metric handles are looked up once per thread and label set and kept (the registry's lookup hashes
/// and allocates its key): a request costs a map lookup by its route template, no allocation.
/// The first step of [`crate::http::gate`]: `inner` answers.
pub(crate) async fn measured<F, Fut>(req: Request, inner: F) -> Response
where
    F: FnOnce(Request) -> Fut,
    Fut: Future<Output = Response>,
{
    let start = Instant::now();
    let method = req.method().clone();
    let route = req.extensions().get::<MatchedPath>().cloned();
    let resp = inner(req).await;
    let (requests, duration) =
        request_metrics(&method, route.as_ref().map_or("unmatched", MatchedPath::as_str), resp.status().as_u16());
    requests.increment(1);
    duration.record(start.elapsed().as_secs_f64());
    resp
}

/// Label sets a thread keeps handles for per route template; beyond it (a client sending made-up methods)
/// the registry is asked each time.
const HANDLES_PER_ROUTE: usize = 32;

type RouteHandles = Vec<(axum::http::Method, u16, metrics::Counter, metrics::Histogram)>;

thread_local! {
    static REQUEST_METRICS: std::cell::RefCell<std::collections::HashMap<Box<str>, RouteHandles>> =
        std::cell::RefCell::default();
}

/// The request counter (method, route, status) and duration histogram (method, route) of a request.
fn request_metrics(method: &axum::http::Method, route: &str, status: u16) -> (metrics::Counter, metrics::Histogram) {
    let cached = REQUEST_METRICS.with_borrow(|m| {
        m.get(route)?.iter().find(|h| h.1 == status && h.0 == *method).map(|h| (h.2.clone(), h.3.clone()))
    });
    if let Some(handles) = cached {
        return handles;
    }
    let labels =
        [("method", method.as_str().to_string()), ("route", route.to_string()), ("status", status.to_string())];
    let counter = metrics::counter!("http_requests_total", &labels);
    let histogram = metrics::histogram!("http_request_duration_seconds", &labels[..2]);
    REQUEST_METRICS.with_borrow_mut(|m| {
        let handles = m.entry(route.into()).or_default();
        if handles.len() < HANDLES_PER_ROUTE {
            handles.push((method.clone(), status, counter.clone(), histogram.clone()));
        }
    });
    (counter, histogram)
}

/// An error and its causes, `: `-separated, for logs and recorded job errors.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_are_named_once_with_their_type_in_the_name() {
        let mut names: Vec<&str> = METRICS.iter().map(|m| m.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(names.len(), before, "a metric is listed twice");
        for m in METRICS {
            assert!(m.name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'), "{}", m.name);
            assert!(m.name.starts_with("tlink_") || m.name.starts_with("http_") || m.name.starts_with("process_"));
            assert!(!m.help.is_empty() && m.help.ends_with('.'), "{}: help text", m.name);
            match m.kind {
                Kind::Counter => assert!(m.name.ends_with("_total"), "{}: a counter ends in _total", m.name),
                Kind::Histogram => assert!(m.name.ends_with("_seconds"), "{}: histograms are of seconds", m.name),
                Kind::Gauge => {}
            }
        }
    }

    #[test]
    fn every_histogram_has_increasing_buckets() {
        for m in METRICS.iter().filter(|m| m.kind == Kind::Histogram) {
            let (_, buckets) = BUCKETS.iter().find(|(n, _)| *n == m.name).unwrap_or_else(|| panic!("{}", m.name));
            assert!(!buckets.is_empty() && buckets.windows(2).all(|w| w[0] < w[1]), "{}", m.name);
        }
        for (name, _) in BUCKETS {
            assert!(METRICS.iter().any(|m| m.name == *name && m.kind == Kind::Histogram), "{name}");
        }
    }

    #[test]
    fn proc_files_are_read() {
        // A command name with spaces and parentheses of its own.
        let stat = "4242 (tlink (w) x) S 1 4242 4242 0 -1 4194560 2419 0 0 0 150 37 0 0 20 0 9 0 123456 \
                    1234567 890 18446744073709551615 1 1 0 0 0 0 0 4096 17920 0 0 0 17 3 0 0 0 0 0";
        assert_eq!(ProcStat::parse(stat), Some(ProcStat { cpu_ticks: 187, threads: 9, start_ticks: 123_456 }));
        assert_eq!(ProcStat::parse("garbage"), None);
        assert_eq!(boot_time("cpu  1 2 3\nbtime 1700000000\nprocesses 9\n"), Some(1_700_000_000));
        assert_eq!(resident_kib("Name:\ttlink\nVmRSS:\t   51234 kB\nThreads:\t9\n"), Some(51_234));
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max open files            1024                 524288               files     \n";
        assert_eq!(max_open_files(limits), Some(1024));
        assert_eq!(max_open_files("Max open files            unlimited            unlimited            files\n"), None);
    }
}
