//! Usage and plan: the organization's plan and request rate, this month's tool runs against the quota and
//! the scheduled runs skipped for it, and tool runs per day by tool over 30 days (a stacked chart and its
//! numbers), counted from the reports through the same store list the report pages read.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use tlink_domain::ToolKey;
use tlink_store::{
    DAY_MS, PageQuery as StorePage, QUOTA_SKIP_ERROR, ReportFilter, ReportRow, ReportStatus, now_millis,
};

use super::overview::Quota;
use super::page::{Chrome, Nav, Time, WebError, render};
use super::session::OrgSession;
use crate::AppState;

/// Days the chart covers, today included.
pub const DAYS: i64 = 30;
/// Reports read per page, and the most pages read (the chart says when it stopped there).
const PAGE_SIZE: u32 = 100;
const MAX_PAGES: usize = 50;
/// The plot's height in viewBox units (bars of 18 with gaps of 2 in 600 across, as on the overview).
const PLOT_HEIGHT: u64 = 120;

/// Runs per day, oldest day first: for each of `days` days ending on `today` (days since the epoch), the
/// count of each tool, in [`ToolKey::ALL`]'s order. Runs (creation time in ms, tool) outside the period
/// are ignored.
pub fn count_runs(runs: &[(i64, ToolKey)], today: i64, days: i64) -> Vec<Vec<u64>> {
    let first = today - days + 1;
    let mut out = vec![vec![0u64; ToolKey::ALL.len()]; usize::try_from(days).unwrap_or(0)];
    for (at, tool) in runs {
        let day = at.div_euclid(DAY_MS);
        if day < first || day > today {
            continue;
        }
        let (Ok(d), Some(t)) = (usize::try_from(day - first), ToolKey::ALL.iter().position(|k| k == tool)) else {
            continue;
        };
        out[d][t] += 1;
    }
    out
}

/// Whether a report is a scheduled run skipped for the quota (recorded, but not run nor counted).
pub fn skipped_for_quota(r: &ReportRow) -> bool {
    r.status == ReportStatus::Failed && r.error.as_deref() == Some(QUOTA_SKIP_ERROR)
}

/// One tool's part of a day's bar.
pub struct Segment {
    pub key: &'static str,
    pub y: u64,
    pub height: u64,
    pub count: u64,
}

/// One day: its bar (segments bottom up, in [`ToolKey::ALL`]'s order) and its numbers.
pub struct Day {
    pub x: u64,
    pub day: String,
    pub total: u64,
    /// Each tool's count, in [`ToolKey::ALL`]'s order (the table's columns).
    pub counts: Vec<u64>,
    pub segments: Vec<Segment>,
    /// "2026-01-31: 12 runs (dns 5, ssl 7)", the bar's tooltip.
    pub summary: String,
}

/// A tool in the legend: its key (and colour class) and its runs over the period.
pub struct ToolTotal {
    pub key: &'static str,
    pub total: u64,
}

/// The stacked chart's geometry and totals.
pub struct Chart {
    pub days: Vec<Day>,
    pub tools: Vec<ToolTotal>,
    /// The busiest day's runs (at least 1, the scale's top).
    pub max: u64,
    pub total: u64,
    pub first_day: String,
    pub last_day: String,
}

/// The chart for `counts` (from [`count_runs`]) whose first day is `first` (days since the epoch). A day's
/// bar is scaled to the busiest day (at least one unit high when it has any run); its segments split it in
/// proportion, rounded so that they add up to the bar exactly.
pub fn chart(counts: &[Vec<u64>], first: i64) -> Chart {
    let label = |d: i64| tlink_domain::from_millis(d * DAY_MS).format("%Y-%m-%d").to_string();
    let totals: Vec<u64> = counts.iter().map(|c| c.iter().sum()).collect();
    let max = totals.iter().copied().max().unwrap_or(0).max(1);
    let days = counts
        .iter()
        .zip(&totals)
        .enumerate()
        .map(|(i, (c, &total))| {
            let offset = u64::try_from(i).unwrap_or(0);
            let bar = if total == 0 { 0 } else { (total * PLOT_HEIGHT / max).max(1) };
            let mut segments = Vec::new();
            let (mut below, mut top) = (0u64, 0u64);
            for (tool, &n) in ToolKey::ALL.iter().zip(c) {
                if n == 0 {
                    continue;
                }
                below += n;
                let next_top = below * bar / total;
                if next_top > top {
                    segments.push(Segment {
                        key: tool.as_str(),
                        y: PLOT_HEIGHT - next_top,
                        height: next_top - top,
                        count: n,
                    });
                }
                top = next_top;
            }
            let day = label(first + i64::try_from(i).unwrap_or(0));
            let parts: Vec<String> = ToolKey::ALL
                .iter()
                .zip(c)
                .filter(|(_, n)| **n > 0)
                .map(|(t, n)| format!("{} {n}", t.as_str()))
                .collect();
            let summary = if parts.is_empty() {
                format!("{day}: no runs")
            } else {
                format!("{day}: {total} run{} ({})", if total == 1 { "" } else { "s" }, parts.join(", "))
            };
            Day { x: offset * 20, day, total, counts: c.clone(), segments, summary }
        })
        .collect();
    let tools = ToolKey::ALL
        .iter()
        .enumerate()
        .map(|(t, k)| ToolTotal { key: k.as_str(), total: counts.iter().map(|c| c.get(t).copied().unwrap_or(0)).sum() })
        .collect();
    let last = first + i64::try_from(counts.len()).unwrap_or(1) - 1;
    Chart { days, tools, max, total: totals.iter().sum(), first_day: label(first), last_day: label(last) }
}

#[derive(Template)]
#[template(path = "usage.html")]
struct UsagePage {
    chrome: Chrome,
    base: String,
    plan: &'static str,
    requests_per_minute: u32,
    month: String,
    quota: Quota,
    skipped: u64,
    chart: Chart,
    /// The reports were read only up to [`MAX_PAGES`] pages: older days may be missing runs.
    capped: bool,
    read_limit: usize,
}

/// `GET /orgs/{org}/usage`.
pub async fn page(State(state): State<AppState>, s: OrgSession) -> Result<Response, WebError> {
    let org = s.org_id();
    let now = now_millis();
    let today = now.div_euclid(DAY_MS);
    let first = today - DAYS + 1;
    let (month, resets) = tlink_domain::usage_month(now);
    let usage = state.store.usage(org, &month).await?;
    let limit = s.limits.tool_runs_per_month();
    let percent = limit.map_or(0, |l| (usage.runs.saturating_mul(100) / l.max(1)).min(100));

    // Newest first, page by page, from the first day of the period.
    let filter = ReportFilter { tool: None, status: None, asset_id: None };
    let mut runs: Vec<(i64, ToolKey)> = Vec::new();
    let mut after = None;
    let mut pages = 0;
    let capped = loop {
        let page = state
            .store
            .list_reports(org, &filter, &StorePage { limit: PAGE_SIZE, after, from: Some(first * DAY_MS), until: None })
            .await?;
        pages += 1;
        runs.extend(page.items.iter().filter(|r| !skipped_for_quota(r)).map(|r| (r.created_at, r.tool)));
        match page.next {
            None => break false,
            Some(_) if pages >= MAX_PAGES => break true,
            Some(next) => after = Some(next),
        }
    };

    Ok(render(&UsagePage {
        chrome: Chrome::new(&s, Nav::Usage, "Usage and plan"),
        base: s.url(""),
        plan: s.limits.plan.as_str(),
        requests_per_minute: s.limits.requests_per_minute(state.limiter.config().enterprise_default_per_minute),
        month,
        quota: Quota { used: usage.runs, limit, percent, resets: Time::at(resets) },
        skipped: usage.skipped,
        chart: chart(&count_runs(&runs, today, DAYS), first),
        capped,
        read_limit: MAX_PAGES * PAGE_SIZE as usize,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = DAY_MS;

    #[test]
    fn runs_are_counted_per_day_and_tool_inside_the_period() {
        let today = 100;
        let runs = [
            (today * DAY + 5, ToolKey::Dns),
            (today * DAY + DAY - 1, ToolKey::Dns),
            (today * DAY, ToolKey::ThreatFeed),
            ((today - 1) * DAY, ToolKey::Ssl),
            ((today - 29) * DAY, ToolKey::Whois),
            ((today - 30) * DAY + DAY - 1, ToolKey::Whois), // the day before the period
            ((today + 1) * DAY, ToolKey::Dns),              // tomorrow
        ];
        let c = count_runs(&runs, today, 30);
        assert_eq!(c.len(), 30);
        assert!(c.iter().all(|d| d.len() == ToolKey::ALL.len()));
        assert_eq!(c[29], vec![2, 0, 0, 0, 0, 0, 1]);
        assert_eq!(c[28], vec![0, 0, 0, 0, 0, 1, 0]);
        assert_eq!(c[0], vec![0, 1, 0, 0, 0, 0, 0]);
        assert_eq!(c.iter().flatten().sum::<u64>(), 5);
    }

    #[test]
    fn the_chart_stacks_each_day_scaled_to_the_busiest() {
        let today = 100;
        let runs = [
            (today * DAY, ToolKey::Dns),
            (today * DAY + 1, ToolKey::Ssl),
            (today * DAY + 2, ToolKey::Dns),
            (today * DAY + 3, ToolKey::Dns),
            ((today - 2) * DAY, ToolKey::Email),
        ];
        let c = chart(&count_runs(&runs, today, 30), today - 29);
        assert_eq!((c.days.len(), c.total, c.max), (30, 5, 4));
        let last = &c.days[29];
        assert_eq!(last.total, 4);
        let seg: Vec<(&str, u64, u64)> = last.segments.iter().map(|s| (s.key, s.y, s.height)).collect();
        assert_eq!(seg, vec![("dns", 30, 90), ("ssl", 0, 30)]);
        assert_eq!(last.summary, "1970-04-11: 4 runs (dns 3, ssl 1)");
        assert_eq!(c.days[27].segments.iter().map(|s| s.height).sum::<u64>(), 30);
        assert!(c.days[0].segments.is_empty());
        assert_eq!(c.days[0].summary, format!("{}: no runs", c.first_day));
        assert_eq!(c.last_day, "1970-04-11");
        let email = c.tools.iter().find(|t| t.key == "email").expect("every tool in the legend");
        assert_eq!((c.tools.len(), email.total), (ToolKey::ALL.len(), 1));
    }

    #[test]
    fn a_small_day_still_shows_and_segments_add_up() {
        let mut counts = vec![vec![0u64; ToolKey::ALL.len()]; 2];
        counts[0] = vec![1000, 0, 0, 0, 0, 0, 0];
        counts[1] = vec![1, 1, 1, 0, 0, 0, 0];
        let c = chart(&counts, 0);
        let small = &c.days[1];
        assert_eq!(small.segments.iter().map(|s| s.height).sum::<u64>(), 1);
        assert_eq!(small.segments.len(), 1, "segments that round to nothing are left out");
        assert_eq!(small.segments[0].y, PLOT_HEIGHT - 1);
        assert_eq!(c.days[0].segments[0].height, PLOT_HEIGHT);
    }
}
