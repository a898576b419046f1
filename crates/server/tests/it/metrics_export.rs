//! The metrics operators watch, end to end: after a scheduled scan queued late, queued jobs sampled, a tool
//! run, a webhook retried then delivered and a throttled sign-in, `/metrics` shows each series with its
//! labels and values; a rate-limit refusal is counted by the bucket that refused. Then every metric the
//! Grafana dashboard and the Prometheus alerting rules read must be one the live exposition has, with the
//! labels they name, so neither can drift from the code; every exported metric has its help text and its
//! line in docs/monitoring.md.
//!
//! Metrics are process-wide and the tests of this binary run concurrently, so counters are compared
//! before and after (they only grow), and gauges other tests may also set are read right after sampling.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{Request, StatusCode};
use axum::response::IntoResponse;
use axum::routing::post;
use parking_lot::Mutex;
use serde_json::{Value, json};
use tlink_server::jobs::sampler::sample_queue;
use tlink_store::{JobKind, NewJob, now_millis};
use tlink_tools::ToolKey;

use crate::support::{PASSWORD, TestApp, loopback_config, random_id, s};

// ---------------------------------------------------------------------------------------------------------
// The exposition, read

/// One series of the text exposition.
#[derive(Debug, Clone)]
struct Series {
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// `/metrics` as read: each metric's type, which have help text, and every series.
#[derive(Debug, Default)]
struct Exposition {
    text: String,
    types: BTreeMap<String, String>,
    helps: BTreeSet<String>,
    series: Vec<Series>,
}

impl Exposition {
    fn parse(text: &str) -> Exposition {
        let mut out = Exposition { text: text.to_string(), ..Exposition::default() };
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                let mut parts = rest.split_whitespace();
                if let (Some(name), Some(kind)) = (parts.next(), parts.next()) {
                    out.types.insert(name.to_string(), kind.to_string());
                }
            } else if let Some(rest) = line.strip_prefix("# HELP ")
                && let Some(name) = rest.split_whitespace().next()
            {
                out.helps.insert(name.to_string());
            } else if !line.trim().is_empty() && !line.starts_with('#') {
                out.series.push(parse_series(line).unwrap_or_else(|| panic!("unreadable exposition line: {line}")));
            }
        }
        out
    }

    /// The series named `name` whose labels include every pair of `want`.
    fn matching(&self, name: &str, want: &[(&str, &str)]) -> Vec<&Series> {
        self.series
            .iter()
            .filter(|s| s.name == name && want.iter().all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v)))
            .collect()
    }

    /// The sum of [`Exposition::matching`]'s values (0 when none matches).
    fn sum(&self, name: &str, want: &[(&str, &str)]) -> f64 {
        self.matching(name, want).iter().map(|s| s.value).sum()
    }

    /// The exposition's lines that start with `prefix`, for failure messages.
    fn lines(&self, prefix: &str) -> String {
        self.text.lines().filter(|l| l.starts_with(prefix)).collect::<Vec<_>>().join("\n")
    }

    /// Every name a query may select: each metric, and a histogram's `_bucket`, `_sum` and `_count`.
    fn queryable(&self) -> BTreeSet<String> {
        let mut names = BTreeSet::new();
        for (name, kind) in &self.types {
            names.insert(name.clone());
            let suffixes: &[&str] = match kind.as_str() {
                "histogram" => &["_bucket", "_sum", "_count"],
                "summary" => &["_sum", "_count"],
                _ => &[],
            };
            for suffix in suffixes {
                names.insert(format!("{name}{suffix}"));
            }
        }
        names
    }

    /// The label names the series of a selectable name carry (`le` on a histogram's `_bucket`).
    fn labels_of(&self, name: &str) -> BTreeSet<String> {
        self.series.iter().filter(|s| s.name == name).flat_map(|s| s.labels.keys().cloned()).collect()
    }

    fn all_labels(&self) -> BTreeSet<String> {
        self.series.iter().flat_map(|s| s.labels.keys().cloned()).collect()
    }
}

/// `name{k="v",…} value`, label values unescaped.
fn parse_series(line: &str) -> Option<Series> {
    let name_end = line.find(['{', ' '])?;
    let name = line[..name_end].to_string();
    let mut labels = BTreeMap::new();
    let mut rest = &line[name_end..];
    if let Some(body) = rest.strip_prefix('{') {
        let b = body.as_bytes();
        let mut i = 0;
        loop {
            if *b.get(i)? == b'}' {
                i += 1;
                break;
            }
            let eq = body[i..].find('=')? + i;
            let key = body[i..eq].to_string();
            if b.get(eq + 1) != Some(&b'"') {
                return None;
            }
            let mut j = eq + 2;
            let mut value = String::new();
            loop {
                match *b.get(j)? {
                    b'\\' => {
                        value.push(if *b.get(j + 1)? == b'n' { '\n' } else { char::from(*b.get(j + 1)?) });
                        j += 2;
                    }
                    b'"' => {
                        j += 1;
                        break;
                    }
                    _ => {
                        let ch = body[j..].chars().next()?;
                        value.push(ch);
                        j += ch.len_utf8();
                    }
                }
            }
            labels.insert(key, value);
            i = j;
            if b.get(i) == Some(&b',') {
                i += 1;
            }
        }
        rest = &body[i..];
    }
    let value = match rest.split_whitespace().next()? {
        "+Inf" => f64::INFINITY,
        "-Inf" => f64::NEG_INFINITY,
        v => v.parse().ok()?,
    };
    Some(Series { name, labels, value })
}

/// Two scrapes, before and after something happened.
struct Diff<'a> {
    before: &'a Exposition,
    after: &'a Exposition,
}

impl Diff<'_> {
    /// Asserts that the series of `name` with `labels` grew by at least `by`.
    #[track_caller]
    fn grew(&self, name: &str, labels: &[(&str, &str)], by: f64) {
        let d = self.after.sum(name, labels) - self.before.sum(name, labels);
        assert!(d >= by, "{name} {labels:?} grew by {d}, not {by}:\n{}", self.after.lines(name));
    }
}

async fn scrape(app: &TestApp) -> Exposition {
    let (status, _, body) = app.send_raw(Request::get("/metrics").body(Body::empty()).expect("request")).await;
    assert_eq!(status, StatusCode::OK);
    Exposition::parse(&String::from_utf8_lossy(&body))
}

/// tlink's metrics, by their prefixes.
fn ours(name: &str) -> bool {
    name.starts_with("tlink_") || name.starts_with("http_") || name.starts_with("process_")
}

// ---------------------------------------------------------------------------------------------------------
// PromQL, read just enough to name what it selects

/// What a PromQL expression reads: each metric it selects, with the label names of its matchers, and the
/// label names of its `by`, `without`, `on`, `ignoring`, `group_left` and `group_right` clauses. Metrics are
/// recognised by tlink's prefixes (and Prometheus's own `up`); strings, ranges, numbers and Grafana's
/// `$variables` are skipped.
#[derive(Debug, Default, PartialEq)]
struct Reads {
    metrics: Vec<(String, Vec<String>)>,
    grouping: Vec<String>,
}

const GROUPING: &[&str] = &["by", "without", "on", "ignoring", "group_left", "group_right"];

fn is_ident_start(c: u8) -> bool {
    c.is_ascii_alphabetic() || c == b'_' || c == b':'
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_' || c == b':'
}

/// The index just past the string literal opening at `at`.
fn skip_string(b: &[u8], at: usize) -> usize {
    let quote = b[at];
    let mut j = at + 1;
    while j < b.len() && b[j] != quote {
        j += if b[j] == b'\\' && quote != b'`' { 2 } else { 1 };
    }
    j + 1
}

/// The label names of the matchers in the braces opening at `open`, and the index past the closing brace.
fn matchers(expr: &str, open: usize) -> (Vec<String>, usize) {
    let b = expr.as_bytes();
    let mut labels = Vec::new();
    let mut i = open + 1;
    while i < b.len() && b[i] != b'}' {
        match b[i] {
            b'"' | b'\'' | b'`' => i = skip_string(b, i),
            c if is_ident_start(c) => {
                let start = i;
                while i < b.len() && is_ident(b[i]) {
                    i += 1;
                }
                labels.push(expr[start..i].to_string());
            }
            _ => i += 1,
        }
    }
    (labels, (i + 1).min(b.len()))
}

fn reads(expr: &str) -> Reads {
    let b = expr.as_bytes();
    let mut out = Reads::default();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' | b'\'' | b'`' => i = skip_string(b, i),
            b'[' => i = expr[i..].find(']').map_or(b.len(), |e| i + e + 1),
            b'{' => i = matchers(expr, i).1,
            b'$' => {
                i += 1;
                if b.get(i) == Some(&b'{') {
                    i = expr[i..].find('}').map_or(b.len(), |e| i + e + 1);
                } else {
                    while i < b.len() && is_ident(b[i]) {
                        i += 1;
                    }
                }
            }
            c if c.is_ascii_digit() => {
                while i < b.len() && (is_ident(b[i]) || b[i] == b'.') {
                    i += 1;
                }
            }
            c if is_ident_start(c) => {
                let start = i;
                while i < b.len() && is_ident(b[i]) {
                    i += 1;
                }
                let word = &expr[start..i];
                let mut next = i;
                while next < b.len() && b[next].is_ascii_whitespace() {
                    next += 1;
                }
                if GROUPING.contains(&word) && b.get(next) == Some(&b'(') {
                    let end = expr[next..].find(')').map_or(b.len(), |e| next + e);
                    let names = expr[next + 1..end].split(',').map(|l| l.trim().to_string());
                    out.grouping.extend(names.filter(|l| !l.is_empty()));
                    i = end + 1;
                } else if ours(word) || word == "up" {
                    let mut labels = Vec::new();
                    if b.get(next) == Some(&b'{') {
                        let (names, end) = matchers(expr, next);
                        labels = names;
                        i = end;
                    }
                    out.metrics.push((word.to_string(), labels));
                }
            }
            _ => i += 1,
        }
    }
    out
}

/// What is wrong with `exprs` (from `source`) against the live exposition: metrics it does not export,
/// selector labels their series do not carry, grouping labels no series carries.
fn check_reads(source: &str, exprs: &[String], live: &Exposition) -> Vec<String> {
    // Prometheus adds `job` and `instance` when it scrapes; `up` is its own.
    let scrape_labels = ["job", "instance"];
    let names = live.queryable();
    let mut all_labels = live.all_labels();
    all_labels.extend(scrape_labels.iter().map(|l| l.to_string()));
    let mut problems = Vec::new();
    for expr in exprs {
        let r = reads(expr);
        if r.metrics.is_empty() {
            problems.push(format!("{source}: reads no tlink metric: {expr}"));
        }
        for (metric, labels) in &r.metrics {
            if metric == "up" || (metric.starts_with("process_") && !cfg!(target_os = "linux")) {
                continue;
            }
            if !names.contains(metric) {
                problems.push(format!("{source}: `{metric}` is not exported, in: {expr}"));
                continue;
            }
            let carried = live.labels_of(metric);
            for label in labels.iter().filter(|l| !scrape_labels.contains(&l.as_str())) {
                if !carried.contains(label) {
                    let why = format!("`{metric}` has no label `{label}` (it has {carried:?})");
                    problems.push(format!("{source}: {why}, in: {expr}"));
                }
            }
        }
        for label in r.grouping.iter().filter(|l| !all_labels.contains(*l)) {
            problems.push(format!("{source}: no series carries the grouping label `{label}`, in: {expr}"));
        }
    }
    problems
}

// ---------------------------------------------------------------------------------------------------------
// The packaged dashboard, rules and documentation

fn repo_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(path)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(repo_file(path)).unwrap_or_else(|e| panic!("reading {path}: {e}"))
}

const DASHBOARD: &str = "packaging/grafana/tlink-dashboard.json";
const RULES: &str = "packaging/prometheus/tlink-alerts.yml";

fn dashboard() -> Value {
    serde_json::from_str(&read(DASHBOARD)).expect("the dashboard is JSON")
}

/// Every query of the dashboard: panel targets' `expr`, and the template variables' queries.
fn dashboard_queries(v: &Value) -> Vec<String> {
    fn walk(v: &Value, key: Option<&str>, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => map.iter().for_each(|(k, x)| walk(x, Some(k.as_str()), out)),
            Value::Array(items) => items.iter().for_each(|x| walk(x, key, out)),
            Value::String(text) if matches!(key, Some("expr" | "query" | "definition")) => out.push(text.clone()),
            _ => {}
        }
    }
    let mut out = Vec::new();
    walk(v, None, &mut out);
    out
}

fn indent(line: &str) -> usize {
    line.len() - line.trim_start().len()
}

/// The `expr:` of every rule, plain, quoted or as a block scalar (`|`, `>`), read as text: the workspace
/// has no YAML parser, and the rules are checked by promtool where it is installed.
fn rule_exprs(yaml: &str) -> Vec<String> {
    let lines: Vec<&str> = yaml.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        let line = lines[i];
        i += 1;
        let Some(value) = line.trim_start().strip_prefix("expr:") else { continue };
        let value = value.trim();
        if value.starts_with('|') || value.starts_with('>') {
            let mut body = Vec::new();
            while i < lines.len() && (lines[i].trim().is_empty() || indent(lines[i]) > indent(line)) {
                body.push(lines[i].trim());
                i += 1;
            }
            out.push(body.join(" ").trim().to_string());
        } else if let Some(quoted) = value.strip_prefix('\'').and_then(|v| v.strip_suffix('\'')) {
            out.push(quoted.replace("''", "'"));
        } else if let Some(quoted) = value.strip_prefix('"').and_then(|v| v.strip_suffix('"')) {
            out.push(quoted.replace("\\\"", "\"").replace("\\\\", "\\"));
        } else {
            out.push(value.to_string());
        }
    }
    out
}

/// Each alert of the rules file: its name and its lines.
fn alerts(yaml: &str) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for line in yaml.lines() {
        let t = line.trim_start();
        if let Some(name) = t.strip_prefix("- alert:") {
            out.push((name.trim().to_string(), String::new()));
        } else if t.starts_with("- name:") || t.starts_with("groups:") {
            out.push((String::new(), String::new()));
        } else if let Some((_, block)) = out.last_mut() {
            block.push_str(line);
            block.push('\n');
        }
    }
    out.retain(|(name, _)| !name.is_empty());
    out
}

// ---------------------------------------------------------------------------------------------------------
// Stand-ins

/// A webhook receiver answering the scripted statuses in turn, then 200.
#[derive(Clone, Default)]
struct Receiver {
    script: Arc<Mutex<Vec<u16>>>,
    hits: Arc<AtomicUsize>,
}

impl Receiver {
    async fn start(&self) -> String {
        let app = Router::new().route(
            "/hook",
            post(|State(me): State<Receiver>| async move {
                me.hits.fetch_add(1, Ordering::SeqCst);
                let status = {
                    let mut script = me.script.lock();
                    if script.is_empty() { 200 } else { script.remove(0) }
                };
                (StatusCode::from_u16(status).expect("status"), "ok").into_response()
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let me = self.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app.with_state(me)).await;
        });
        format!("http://{addr}/hook")
    }
}

/// Monitored IPs are scanned by ip-reputation only, at once; two failed sign-ins throttle.
fn setup(c: &mut tlink_server::Config) {
    c.tools = loopback_config();
    c.monitoring.first_scan_within_secs = 0;
    c.monitoring.min_interval_minutes = 1;
    c.monitoring.tools.insert(tlink_domain::AssetType::Ip, vec![ToolKey::IpReputation]);
    c.login_max_failures = 2;
    c.login_window_secs = 600;
}

// ---------------------------------------------------------------------------------------------------------
// The tests

both!(operators_see_queue_jobs_tools_deliveries_scheduler_and_sign_ins, flow_case, setup);
async fn flow_case(app: TestApp) {
    let before = scrape(&app).await;
    // The alerts tests' AbuseIPDB stand-in (score 92) and worker (webhooks, no e-mail).
    let abuseipdb = crate::alerts::abuseipdb().await;
    let receiver = Receiver::default();
    let hook = receiver.start().await;
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let org = alice.org().to_string();
    let worker = crate::alerts::worker_for(&app, &abuseipdb, None, Duration::from_secs(5));

    let asset = app
        .post(
            &format!("/api/orgs/{org}/assets"),
            &alice.auth(),
            json!({"type": "IP", "value": crate::alerts::IP, "isMonitored": true, "monitorIntervalMinutes": 60}),
        )
        .await;
    let asset_id = s(asset.ok(StatusCode::CREATED), "id").to_string();
    app.post(
        &format!("/api/orgs/{org}/alert-rules"),
        &alice.auth(),
        json!({"name": "abuse", "condition": {"tool": "ip-reputation", "field": "abuseipdb.abuseConfidenceScore", "operator": "gt", "value": 50},
               "severity": "HIGH", "notifyWebhook": true, "webhookUrl": hook}),
    )
    .await
    .ok(StatusCode::CREATED);

    // The scan fell due 42 s ago: the tick queues it 42 s late.
    let now = now_millis();
    let due = "UPDATE assets SET next_scan_at = $1 WHERE next_scan_at IS NOT NULL";
    app.state.store.db().execute(due, &[tlink_store::Value::Int(now - 42_000)]).await.expect("due");
    assert_eq!(app.state.scheduler().tick(now).await.expect("tick"), 1);

    // Beside the scan's tool job: a no-op job due two minutes ago, and one due in an hour.
    let noop = |run_at: i64| NewJob {
        id: random_id(),
        kind: JobKind::Noop,
        payload: "{}".into(),
        priority: 0,
        run_at,
        max_attempts: 3,
    };
    // Sampled now: after the scan's job was queued (its run_at is when it was queued).
    let at = now_millis();
    app.state.store.enqueue(&[noop(at - 120_000), noop(at + 3_600_000)]).await.expect("enqueue");

    // The store's numbers, exactly (this test's own database).
    let stats = sample_queue(&app.state.store, at).await.expect("sampling the queue");
    let stat = |kind: &str| stats.iter().find(|st| st.kind == kind).cloned();
    let tool = stat("tool").expect("the scan's job is queued");
    assert_eq!((tool.ready, tool.delayed), (1, 0), "{stats:?}");
    let noops = stat("noop").expect("no-op jobs are queued");
    assert_eq!((noops.ready, noops.delayed, noops.oldest_ready_at), (1, 1, Some(at - 120_000)), "{stats:?}");
    assert!(stat("delivery").is_none(), "{stats:?}");

    // The gauges as exported. Another test's worker may sample its own queue in between: sample again.
    let mut tries = 0;
    loop {
        sample_queue(&app.state.store, at).await.expect("sampling the queue");
        let m = scrape(&app).await;
        let depth = |kind: &str, state: &str| m.sum("tlink_queue_depth", &[("kind", kind), ("state", state)]);
        let age = |kind: &str| m.sum("tlink_queue_oldest_ready_age_seconds", &[("kind", kind)]);
        let depths =
            [depth("tool", "ready"), depth("noop", "ready"), depth("noop", "delayed"), depth("delivery", "ready")];
        let ages = [age("noop"), age("delivery")];
        if depths == [1.0, 1.0, 1.0, 0.0] && ages == [120.0, 0.0] {
            assert_eq!(m.types.get("tlink_queue_depth").map(String::as_str), Some("gauge"));
            break;
        }
        tries += 1;
        assert!(tries < 10, "queue gauges are not what was sampled:\n{}", m.lines("tlink_queue"));
        tokio::time::sleep(Duration::from_millis(30)).await;
    }

    // The scan, the due no-op job, then the alert's webhook, answered 500 and put back for a retry ...
    *receiver.script.lock() = vec![500];
    assert_eq!(worker.run_until_idle().await, 3);
    // ... which is delivered.
    let retry_now = "UPDATE jobs SET run_at = 0 WHERE kind = 'delivery' AND status = 'queued'";
    app.state.store.db().execute(retry_now, &[]).await.expect("due");
    assert_eq!(worker.run_until_idle().await, 1);
    assert_eq!(receiver.hits.load(Ordering::SeqCst), 2);

    // Two failed sign-ins, then the right password is throttled.
    for _ in 0..2 {
        app.login("alice@example.com", "wrong password").await.err(StatusCode::UNAUTHORIZED);
    }
    app.login("alice@example.com", PASSWORD).await.err(StatusCode::TOO_MANY_REQUESTS);

    let after = scrape(&app).await;
    let seen = Diff { before: &before, after: &after };
    // Jobs, by kind and outcome, and timed by kind.
    seen.grew("tlink_jobs_total", &[("kind", "tool"), ("outcome", "done")], 1.0);
    seen.grew("tlink_jobs_total", &[("kind", "noop"), ("outcome", "done")], 1.0);
    seen.grew("tlink_jobs_total", &[("kind", "delivery"), ("outcome", "retry")], 1.0);
    seen.grew("tlink_jobs_total", &[("kind", "delivery"), ("outcome", "done")], 1.0);
    seen.grew("tlink_job_duration_seconds_count", &[("kind", "tool")], 1.0);
    seen.grew("tlink_job_duration_seconds_count", &[("kind", "delivery")], 2.0);
    seen.grew("tlink_job_duration_seconds_bucket", &[("kind", "tool"), ("le", "+Inf")], 1.0);
    // The tool run.
    seen.grew("tlink_tool_runs_total", &[("tool", "ip-reputation"), ("outcome", "completed")], 1.0);
    seen.grew("tlink_tool_run_seconds_count", &[("tool", "ip-reputation")], 1.0);
    seen.grew("tlink_tool_run_seconds_bucket", &[("tool", "ip-reputation"), ("le", "300")], 1.0);
    seen.grew("tlink_alerts_matched_total", &[], 1.0);
    // The webhook: one attempt retried, one delivered, and the delivery finished once.
    seen.grew("tlink_deliveries_total", &[("channel", "WEBHOOK"), ("outcome", "RETRY")], 1.0);
    seen.grew("tlink_deliveries_total", &[("channel", "WEBHOOK"), ("outcome", "DELIVERED")], 1.0);
    seen.grew("tlink_deliveries_finished_total", &[("channel", "WEBHOOK"), ("status", "DELIVERED")], 1.0);
    seen.grew("tlink_delivery_seconds_count", &[("channel", "WEBHOOK")], 2.0);
    // The scheduler: one scan queued, 42 s late (at most 60 s).
    seen.grew("tlink_scheduled_scans_total", &[], 1.0);
    seen.grew("tlink_scheduler_ticks_total", &[("outcome", "ok")], 1.0);
    seen.grew("tlink_scheduler_lag_seconds_bucket", &[("le", "60")], 1.0);
    seen.grew("tlink_scheduler_lag_seconds_count", &[], 1.0);
    assert!(after.sum("tlink_scheduler_last_tick_timestamp_seconds", &[]) > 0.0);
    // Sign-ins: alice's, two failures, one throttled.
    seen.grew("tlink_logins_total", &[("outcome", "succeeded")], 1.0);
    seen.grew("tlink_logins_total", &[("outcome", "failed")], 2.0);
    seen.grew("tlink_logins_total", &[("outcome", "throttled")], 1.0);
    // Requests by route template, never by path.
    seen.grew("http_requests_total", &[("route", "/api/auth/login"), ("status", "429")], 1.0);
    seen.grew("http_requests_total", &[("route", "/api/orgs/{orgId}/assets"), ("status", "201")], 1.0);
    seen.grew("http_request_duration_seconds_count", &[("route", "/api/orgs/{orgId}/alert-rules")], 1.0);
    for id in [&org, &asset_id, &alice.id] {
        let leaked: Vec<&Series> =
            after.series.iter().filter(|s| s.labels.values().any(|v| v.contains(id.as_str()))).collect();
        assert!(leaked.is_empty(), "an id in a label: {leaked:?}");
    }
    // The worker's own gauges, and the process.
    assert!(!after.matching("tlink_worker_concurrency", &[]).is_empty(), "{}", after.lines("tlink_worker"));
    assert!(!after.matching("tlink_worker_running_jobs", &[]).is_empty(), "{}", after.lines("tlink_worker"));
    assert_eq!(after.sum("tlink_build_info", &[("version", env!("CARGO_PKG_VERSION"))]), 1.0);
    if cfg!(target_os = "linux") {
        assert!(after.sum("process_resident_memory_bytes", &[]) > 0.0, "{}", after.lines("process_"));
        assert!(after.sum("process_open_fds", &[]) > 0.0, "{}", after.lines("process_"));
    }

    // Histograms are histograms (they aggregate across processes), counters counters.
    for (name, kind) in [
        ("http_request_duration_seconds", "histogram"),
        ("tlink_job_duration_seconds", "histogram"),
        ("tlink_tool_run_seconds", "histogram"),
        ("tlink_delivery_seconds", "histogram"),
        ("tlink_scheduler_lag_seconds", "histogram"),
        ("tlink_jobs_total", "counter"),
        ("tlink_logins_total", "counter"),
        ("tlink_queue_oldest_ready_age_seconds", "gauge"),
    ] {
        assert_eq!(after.types.get(name).map(String::as_str), Some(kind), "{name}");
    }
    // Every metric is described, and documented.
    let doc = read("docs/monitoring.md");
    for name in after.types.keys().filter(|n| ours(n)) {
        assert!(after.helps.contains(name), "{name} has no HELP line: add it to METRICS in telemetry.rs");
        assert!(doc.contains(&format!("`{name}`")), "{name} is not listed in docs/monitoring.md");
    }

    // The dashboard and the alerting rules read only what is exported, by labels it carries.
    let mut problems = check_reads(DASHBOARD, &dashboard_queries(&dashboard()), &after);
    problems.extend(check_reads(RULES, &rule_exprs(&read(RULES)), &after));
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

both!(rate_limit_refusals_are_counted_by_the_bucket_that_refused, refusal_case, |c: &mut tlink_server::Config| {
    c.limits.enabled = true;
    c.limits.ip_per_minute = 2;
});
async fn refusal_case(app: TestApp) {
    let before = scrape(&app).await;
    let peer: SocketAddr = "198.51.100.23:40000".parse().expect("address");
    let mut statuses = Vec::new();
    for _ in 0..3 {
        let req = Request::get("/healthz").extension(ConnectInfo(peer)).body(Body::empty()).expect("request");
        statuses.push(app.send_raw(req).await.0);
    }
    assert_eq!(statuses, [StatusCode::OK, StatusCode::OK, StatusCode::TOO_MANY_REQUESTS]);
    let after = scrape(&app).await;
    let refused = |m: &Exposition| m.sum("tlink_ratelimit_refused_total", &[("bucket", "ip")]);
    assert!(refused(&after) - refused(&before) >= 1.0, "{}", after.lines("tlink_ratelimit"));
    for bucket in ["ip", "credential", "organization"] {
        assert!(!after.matching("tlink_ratelimit_refused_total", &[("bucket", bucket)]).is_empty(), "{bucket}");
    }
}

#[test]
fn the_promql_reader_sees_metrics_labels_and_groupings() {
    let expr = r#"histogram_quantile(0.99, sum by (le, route) (rate(http_request_duration_seconds_bucket{job=~"$job", route!~".*/x/[{]id[}]"}[$__rate_interval]))) > 1e3
        and on (job) up{job="tlink"} == 0 or time() - tlink_x{a="sum by (nope) tlink_not_a_metric"} offset 5m
        or label_values(tlink_build_info{job=~"${job}"}, instance)"#;
    let got = reads(expr);
    let want = Reads {
        metrics: vec![
            ("http_request_duration_seconds_bucket".into(), vec!["job".into(), "route".into()]),
            ("up".into(), vec!["job".into()]),
            ("tlink_x".into(), vec!["a".into()]),
            ("tlink_build_info".into(), vec!["job".into()]),
        ],
        grouping: vec!["le".into(), "route".into(), "job".into()],
    };
    assert_eq!(got, want);
}

#[test]
fn rule_expressions_are_read_in_every_yaml_form() {
    let yaml = "groups:\n  - name: g\n    rules:\n      - alert: A\n        expr: |\n          sum(a)\n            > 1\n        for: 5m\n\
                \x20     - alert: B\n        expr: 'b{x=''y''} > 0'\n      - alert: C\n        expr: c > 0\n";
    assert_eq!(rule_exprs(yaml), ["sum(a) > 1", "b{x='y'} > 0", "c > 0"]);
    let names: Vec<String> = alerts(yaml).into_iter().map(|(n, _)| n).collect();
    assert_eq!(names, ["A", "B", "C"]);
}

#[test]
fn every_alert_has_a_severity_a_summary_and_a_description() {
    let yaml = read(RULES);
    let found = alerts(&yaml);
    assert!(found.len() >= 10, "{} alerts", found.len());
    assert_eq!(rule_exprs(&yaml).len(), found.len(), "one expr per alert");
    let mut names = BTreeSet::new();
    for (name, block) in &found {
        assert!(names.insert(name.clone()), "{name} is defined twice");
        assert!(name.starts_with("Tlink"), "{name}");
        let severity = block.lines().find_map(|l| l.trim().strip_prefix("severity:")).map(str::trim);
        assert!(matches!(severity, Some("critical" | "warning" | "info")), "{name}: severity {severity:?}");
        for key in ["expr:", "summary:", "description:"] {
            assert!(block.lines().any(|l| l.trim_start().starts_with(key)), "{name} has no {key}");
        }
    }
    for group in [
        "tlink-availability",
        "tlink-latency",
        "tlink-queue",
        "tlink-jobs",
        "tlink-deliveries",
        "tlink-scheduler",
        "tlink-security",
    ] {
        assert!(yaml.contains(&format!("- name: {group}\n")), "group {group}");
    }
}

#[test]
fn the_dashboard_is_an_importable_grafana_dashboard() {
    let d = dashboard();
    assert!(d["schemaVersion"].as_u64().is_some_and(|v| v >= 39), "schemaVersion");
    assert_eq!(d["__inputs"][0]["name"], "DS_PROMETHEUS");
    assert_eq!(d["__inputs"][0]["pluginId"], "prometheus");
    assert!(d["uid"].as_str().is_some_and(|u| !u.is_empty()) && d["id"].is_null());
    let panels = d["panels"].as_array().expect("panels");
    let mut ids = BTreeSet::new();
    for p in panels {
        let title = p["title"].as_str().unwrap_or_default();
        assert!(ids.insert(p["id"].as_u64().expect("a panel id")), "panel id of {title} is taken");
        let grid = &p["gridPos"];
        let (x, w) = (grid["x"].as_u64().expect("x"), grid["w"].as_u64().expect("w"));
        assert!(x + w <= 24 && grid["h"].as_u64().is_some() && grid["y"].as_u64().is_some(), "{title}: {grid}");
        if p["type"] == "row" {
            continue;
        }
        assert_eq!(p["datasource"]["uid"], "${DS_PROMETHEUS}", "{title}");
        let targets = p["targets"].as_array().expect("targets");
        assert!(!targets.is_empty(), "{title} has no query");
        let refs: BTreeSet<&str> = targets.iter().map(|t| t["refId"].as_str().expect("refId")).collect();
        assert_eq!(refs.len(), targets.len(), "{title}: refIds repeat");
        assert!(targets.iter().all(|t| t["expr"].as_str().is_some_and(|e| !e.is_empty())), "{title}");
    }
    let text = read(DASHBOARD);
    for wanted in [
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "tlink_queue_depth",
        "tlink_queue_oldest_ready_age_seconds",
        "tlink_jobs_total",
        "tlink_tool_run_seconds_bucket",
        "tlink_deliveries_total",
        "tlink_scheduler_lag_seconds_bucket",
        "tlink_ratelimit_refused_total",
        "tlink_logins_total",
        "up{",
    ] {
        assert!(text.contains(wanted), "the dashboard has no panel on {wanted}");
    }
}

#[test]
fn the_alerting_rules_pass_promtool_when_it_is_installed() {
    let installed = Command::new("promtool").arg("--version").output().is_ok_and(|o| o.status.success());
    if !installed {
        return;
    }
    let dir = repo_file("packaging/prometheus");
    for args in [["check", "rules", "tlink-alerts.yml"], ["test", "rules", "tlink-alerts.test.yml"]] {
        let out = Command::new("promtool").args(args).current_dir(&dir).output().expect("running promtool");
        assert!(
            out.status.success(),
            "promtool {}:\n{}{}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
