//! The tool job: one run of one tool against one target, for one report (the job's id is the report's).
//!
//! [`ToolJob`] is what is queued — the tool, the target already parsed for it, the options, and the
//! asset the report belongs to — so the worker runs it without reading the report or parsing the target
//! again. It is built by the operations (a run asked for, a scan now) and by the scheduler
//! ([`ToolJob::scan`]); [`ToolJob::report`] is the report row queued with it in one transaction.

use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tlink_domain::{AssetRef, AssetType, AssetValue, Target, ToolKey, UserId};
use tlink_store::{Finish, Job, JobKind, JobOutcome, NewReport, ReportOrigin, ReportUpdate};
use tlink_tools::{NoProgress, RunOptions, ToolError, Toolbox};
use tokio::sync::Semaphore;

use crate::jobs::alerting::Alerting;
use crate::jobs::background::{BackgroundJob, Failed};

/// A queued tool run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "Stored")]
pub struct ToolJob {
    pub tool: ToolKey,
    pub target: Target,
    #[serde(default, skip_serializing_if = "is_default")]
    pub options: RunOptions,
    /// The asset the report is linked to: its completion updates the asset and is checked against the
    /// org's alert rules.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub asset: Option<AssetRef>,
}

impl BackgroundJob for ToolJob {
    const KIND: JobKind = JobKind::Tool;
}

fn is_default(o: &RunOptions) -> bool {
    *o == RunOptions::default()
}

/// The payload as stored: the target parsed, or (queued by earlier releases, still in a queue during an
/// upgrade) as the text the report shows, parsed once here.
#[derive(Deserialize)]
struct Stored {
    tool: ToolKey,
    target: StoredTarget,
    #[serde(default)]
    options: RunOptions,
    #[serde(default)]
    asset: Option<AssetRef>,
}

enum StoredTarget {
    Parsed(Target),
    Text(String),
}

/// Reads either form straight from the JSON (no buffering of the value to try one form, then the other).
impl<'de> Deserialize<'de> for StoredTarget {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Either;
        impl<'de> serde::de::Visitor<'de> for Either {
            type Value = StoredTarget;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("a parsed target or its text")
            }

            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<StoredTarget, E> {
                Ok(StoredTarget::Text(v.to_string()))
            }

            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<StoredTarget, A::Error> {
                Target::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(StoredTarget::Parsed)
            }
        }
        d.deserialize_any(Either)
    }
}

impl TryFrom<Stored> for ToolJob {
    type Error = String;

    fn try_from(s: Stored) -> Result<Self, Self::Error> {
        let target = match s.target {
            StoredTarget::Parsed(t) => t,
            StoredTarget::Text(raw) => Target::parse(s.tool, &raw).map_err(|e| e.to_string())?,
        };
        Ok(ToolJob { tool: s.tool, target, options: s.options, asset: s.asset })
    }
}

impl ToolJob {
    /// The runs of one scan of `asset` (value `value`): one per tool of `tools` that takes its type.
    pub fn scan(tools: &[ToolKey], asset: &AssetRef, value: &str) -> Vec<ToolJob> {
        let Ok(parsed) = AssetValue::parse(asset.kind, value) else { return Vec::new() };
        tools
            .iter()
            .filter_map(|&tool| {
                let target = Target::for_asset(tool, parsed.clone()).ok()?;
                Some(ToolJob { tool, target, options: RunOptions::default(), asset: Some(asset.clone()) })
            })
            .collect()
    }

    /// The target as the report shows it: its canonical value, with the port an `ssl` run was asked for
    /// (`host:port`, `[v6]:port`).
    pub fn target_text(&self) -> String {
        match (self.tool, self.target.port()) {
            (ToolKey::Ssl, Some(port)) if self.target.kind() != AssetType::Url => {
                if self.target.value().contains(':') {
                    format!("[{}]:{port}", self.target.value())
                } else {
                    format!("{}:{port}", self.target.value())
                }
            }
            _ => self.target.value().to_string(),
        }
    }

    /// The report queued with this job.
    pub fn report(&self, origin: ReportOrigin, requested_by: Option<UserId>, max_attempts: i64) -> NewReport {
        NewReport {
            tool: self.tool,
            target: self.target_text(),
            target_type: self.target.kind(),
            asset_id: self.asset.as_ref().map(|a| a.id.clone()),
            options: (!is_default(&self.options)).then(|| serde_json::json!(self.options).to_string()),
            origin,
            requested_by,
            payload: self.encode(),
            max_attempts,
        }
    }

    /// Runs the tool under its deadline (holding one of its concurrency `slot`s), then checks the result
    /// against the asset's org's alert rules. A finished run is the report's result and the alerts it
    /// raises, written together by the worker.
    ///
    /// # Errors
    /// [`Failed`] with the tool's error, retryable when it may pass (timeouts, network).
    pub async fn run(
        &self,
        job: &Job,
        toolbox: &Toolbox,
        slot: Option<Arc<Semaphore>>,
        alerting: Option<&Alerting>,
    ) -> Result<Finish, Failed> {
        let tool = self.tool;
        let limits = toolbox.config().limits(tool);
        let deadline = Duration::from_secs(limits.timeout_secs.max(1));
        let result = {
            let _slot = match slot {
                Some(s) => s.acquire_owned().await.ok(),
                None => None,
            };
            let started = Instant::now();
            let run = toolbox.run(tool, &self.target, &self.options, &NoProgress);
            let r = match tokio::time::timeout(deadline, run).await {
                Ok(r) => r,
                Err(_) => Err(ToolError::Timeout(deadline)),
            };
            metrics::histogram!("tlink_tool_run_seconds", "tool" => tool.as_str())
                .record(started.elapsed().as_secs_f64());
            r
        };
        let value = match result {
            Ok(value) => value,
            Err(e) => {
                metrics::counter!("tlink_tool_runs_total", "tool" => tool.as_str(), "outcome" => "error").increment(1);
                tracing::info!(job = %job.id, tool = %tool, attempt = job.attempts, error = %e, "tool run failed");
                let uncounted = matches!(e, ToolError::Refused(_) | ToolError::InvalidInput(_));
                return Err(Failed { error: e.to_string(), retryable: e.is_retryable(), uncounted });
            }
        };
        metrics::counter!("tlink_tool_runs_total", "tool" => tool.as_str(), "outcome" => "completed").increment(1);
        let mut finish =
            Finish::new(job.id.clone(), JobOutcome::Done, ReportUpdate::Completed { result: value.to_string() });
        if let Some(asset) = &self.asset {
            finish.effects.scanned_asset = Some(asset.id.clone());
            if let Some(alerting) = alerting {
                let fires = alerting
                    .evaluate(asset, &self.target_text(), tool.as_str(), &job.id, &value)
                    .await
                    .map_err(|e| Failed::retryable(format!("evaluating alert rules failed: {e}")))?;
                finish.effects.alerts = fires;
            }
        }
        Ok(finish)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tlink_domain::{AssetId, OrgId};

    fn job(payload: &str) -> Job {
        Job { id: "r1".into(), kind: "tool".into(), payload: payload.into(), attempts: 1, max_attempts: 3 }
    }

    #[test]
    fn the_target_is_stored_parsed_and_read_back_as_it_was() {
        let asset = AssetRef { id: AssetId::new(), org_id: OrgId::new(), kind: AssetType::Domain };
        let target = Target::parse(ToolKey::Ssl, "Example.com:8443").unwrap();
        let queued = ToolJob { tool: ToolKey::Ssl, target, options: RunOptions::default(), asset: Some(asset) };
        let stored = queued.encode();
        assert!(stored.contains(r#""port":8443"#), "{stored}");
        assert_eq!(ToolJob::decode(&job(&stored)).unwrap(), queued);
        assert_eq!(queued.target_text(), "example.com:8443");
        let report = queued.report(ReportOrigin::Manual, None, 3);
        assert_eq!((report.target.as_str(), report.target_type), ("example.com:8443", AssetType::Domain));
        assert_eq!(report.asset_id, queued.asset.as_ref().map(|a| a.id.clone()));
    }

    #[test]
    fn a_payload_queued_with_the_target_as_text_is_still_run() {
        let old = r#"{"tool":"ssl","target":"[::1]:8443","asset":{"id":"a","org_id":"o","kind":"IP"}}"#;
        let read = ToolJob::decode(&job(old)).unwrap();
        assert_eq!(
            (read.target.kind(), read.target.host(), read.target.port()),
            (AssetType::Ip, Some("::1"), Some(8443))
        );
        assert_eq!(read.target_text(), "[::1]:8443");
    }

    #[test]
    fn a_corrupt_payload_is_an_error_naming_the_job() {
        for bad in [r#"{"tool":"nope","target":"example.com"}"#, r#"{"tool":"dns","target":"1.2.3.4"}"#, "{"] {
            let err = ToolJob::decode(&job(bad)).unwrap_err().to_string();
            assert!(err.contains("r1") && err.contains("payload"), "{err}");
        }
    }

    #[test]
    fn a_scan_runs_each_tool_that_takes_the_assets_type() {
        let asset = AssetRef { id: AssetId::new(), org_id: OrgId::new(), kind: AssetType::Ip };
        let runs = ToolJob::scan(&[ToolKey::Dns, ToolKey::IpReputation, ToolKey::Exposure], &asset, "192.0.2.1");
        let tools: Vec<ToolKey> = runs.iter().map(|r| r.tool).collect();
        assert_eq!(tools, [ToolKey::IpReputation, ToolKey::Exposure]);
        assert!(ToolJob::scan(&[ToolKey::Dns], &asset, "not an ip").is_empty());
    }
}
