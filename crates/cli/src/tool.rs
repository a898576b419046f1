//! `tlink tool list` and `tlink tool run`: the tools, run locally without a server.

use std::io::IsTerminal;
use std::time::{Duration, Instant};

use anyhow::Context;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
use tlink_tools::{NoProgress, Progress, RunOptions, Target, ToolError, ToolKey, Toolbox, ToolsConfig};

pub fn list() -> anyhow::Result<()> {
    for k in ToolKey::ALL {
        let types: Vec<&str> = k.accepts().iter().map(|t| t.as_str()).collect();
        outln!("{:<14} {}\n{:<14} targets: {}", k.as_str(), k.description(), "", types.join(", "));
    }
    Ok(())
}

pub async fn run(config: ToolsConfig, tool: &str, target: &str, options: RunOptions, json: bool) -> anyhow::Result<()> {
    let keys: Vec<&str> = ToolKey::ALL.iter().map(|k| k.as_str()).collect();
    let key = ToolKey::parse(tool).with_context(|| format!("unknown tool `{tool}`; one of: {}", keys.join(", ")))?;
    let target = Target::parse(key, target)?;
    let deadline = Duration::from_secs(config.limits(key).timeout_secs.max(1));
    let toolbox = Toolbox::new(config).context("invalid [tools] configuration")?;
    let bar = (std::io::stderr().is_terminal() && key == ToolKey::Exposure).then(|| {
        let bar = ProgressBar::new(0);
        bar.set_style(
            ProgressStyle::with_template("{spinner} scanning [{bar:40}] {pos}/{len} ports ({per_sec}, {eta} left)")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        bar
    });
    let progress: &dyn Progress = match &bar {
        Some(b) => &BarProgress(b.clone()),
        None => &NoProgress,
    };
    let started = Instant::now();
    let result = match tokio::time::timeout(deadline, toolbox.run(key, &target, &options, progress)).await {
        Ok(r) => r,
        Err(_) => Err(ToolError::Timeout(deadline)),
    };
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let value = result.with_context(|| format!("{key} {} failed", target.value()))?;
    if json {
        outln!("{}", serde_json::to_string_pretty(&value)?);
        return Ok(());
    }
    outln!("{key} {} ({} ms)", target.value(), started.elapsed().as_millis());
    if let Some(findings) = value.get("findings").and_then(Value::as_array).filter(|f| !f.is_empty()) {
        outln!("findings:");
        for f in findings {
            let sev = f.get("severity").and_then(Value::as_str).unwrap_or("info");
            let msg = f.get("message").and_then(Value::as_str).unwrap_or_default();
            outln!("  [{sev}] {msg}");
        }
    }
    let mut lines = Vec::new();
    flatten("", &value, &mut lines);
    for (path, v) in lines {
        outln!("  {path} = {v}");
    }
    Ok(())
}

struct BarProgress(ProgressBar);

impl Progress for BarProgress {
    fn set_total(&self, total: u64) {
        self.0.set_length(total);
    }
    fn inc(&self, n: u64) {
        self.0.inc(n);
    }
}

/// Scalar leaves as `dotted.path[i] = value`, the way alert rules address them; long texts and lists are cut.
fn flatten(prefix: &str, v: &Value, out: &mut Vec<(String, String)>) {
    const MAX_ITEMS: usize = 20;
    const MAX_TEXT: usize = 120;
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                if prefix.is_empty() && k == "findings" {
                    continue;
                }
                let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                flatten(&path, child, out);
            }
        }
        Value::Array(items) => {
            if items.is_empty() {
                out.push((prefix.to_string(), "[]".into()));
            }
            for (i, child) in items.iter().take(MAX_ITEMS).enumerate() {
                flatten(&format!("{prefix}[{i}]"), child, out);
            }
            if items.len() > MAX_ITEMS {
                out.push((format!("{prefix}[…]"), format!("{} more", items.len() - MAX_ITEMS)));
            }
        }
        Value::String(s) => {
            let one_line = s.replace(['\r', '\n'], " ");
            let text: String = one_line.chars().take(MAX_TEXT).collect();
            let cut = if one_line.chars().count() > MAX_TEXT { "…" } else { "" };
            out.push((prefix.to_string(), format!("{text}{cut}")));
        }
        other => out.push((prefix.to_string(), other.to_string())),
    }
}
