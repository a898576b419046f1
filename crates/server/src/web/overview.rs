//! The overview: open alerts by severity, alerts over 30 days, assets by type, monitored assets that need
//! attention, and this month's tool runs against the quota.

use askama::Template;
use axum::extract::State;
use axum::response::Response;
use tlink_store::{AttentionAsset, DAY_MS, TypeCount, now_millis};

use super::page::{Chrome, Nav, Time, WebError, render};
use super::session::OrgSession;
use crate::AppState;

/// Severities, most severe first.
pub const SEVERITIES: [&str; 4] = ["CRITICAL", "HIGH", "MEDIUM", "LOW"];

/// One bar of the 30-day chart.
pub struct Bar {
    pub x: u32,
    pub y: u32,
    pub height: u32,
    pub day: String,
    pub count: i64,
}

/// The chart's geometry: 30 bars of 18 px with 2 px gaps in a 600 × 120 plot.
pub struct Chart {
    pub bars: Vec<Bar>,
    pub max: i64,
    pub total: i64,
    pub first_day: String,
    pub last_day: String,
}

const PLOT_HEIGHT: u32 = 120;

/// The bars for `days` days ending today, from `(day since epoch, count)` pairs.
pub fn chart(per_day: &[(i64, i64)], today: i64, days: i64) -> Chart {
    let first = today - days + 1;
    let counts: Vec<i64> =
        (first..=today).map(|d| per_day.iter().find(|(day, _)| *day == d).map_or(0, |(_, c)| *c)).collect();
    let max = counts.iter().copied().max().unwrap_or(0).max(1);
    let label = |d: i64| tlink_domain::from_millis(d * DAY_MS).format("%Y-%m-%d").to_string();
    let bars = counts
        .iter()
        .enumerate()
        .map(|(i, &count)| {
            let height = u32::try_from(count * i64::from(PLOT_HEIGHT) / max).unwrap_or(0).max(u32::from(count > 0));
            Bar {
                x: u32::try_from(i).unwrap_or(0) * 20,
                y: PLOT_HEIGHT - height,
                height,
                day: label(first + i64::try_from(i).unwrap_or(0)),
                count,
            }
        })
        .collect();
    Chart { bars, max, total: counts.iter().sum(), first_day: label(first), last_day: label(today) }
}

/// The month's tool runs against the plan's quota.
pub struct Quota {
    pub used: u64,
    pub limit: Option<u64>,
    pub percent: u64,
    pub resets: Time,
}

#[derive(Template)]
#[template(path = "overview.html")]
struct OverviewPage {
    chrome: Chrome,
    base: String,
    open_by_severity: Vec<(&'static str, i64)>,
    open_total: i64,
    chart: Chart,
    types: Vec<TypeCount>,
    asset_total: i64,
    attention: Vec<(AttentionAsset, Option<Time>)>,
    quota: Quota,
    plan: &'static str,
}

/// `GET /orgs/{org}`.
pub async fn page(State(state): State<AppState>, s: OrgSession) -> Result<Response, WebError> {
    let org = s.org_id();
    let now = now_millis();
    let today = now / DAY_MS;
    let counts = state.store.alert_severity_counts(org, None, None, &["OPEN".to_string()]).await?;
    let open_by_severity: Vec<(&'static str, i64)> =
        SEVERITIES.iter().map(|sev| (*sev, counts.iter().find(|(s, _)| s == sev).map_or(0, |(_, n)| *n))).collect();
    let per_day = state.store.alerts_per_day(org, (today - 29) * DAY_MS).await?;
    let types = state.store.asset_type_counts(org).await?;
    let attention = state.store.assets_needing_attention(org, now, 10).await?;
    let (month, resets) = tlink_domain::usage_month(now);
    let used = state.store.usage(org, &month).await?.runs;
    let limit = s.limits.tool_runs_per_month();
    let percent = limit.map_or(0, |l| (used.saturating_mul(100) / l.max(1)).min(100));
    let chrome = Chrome::new(&s, Nav::Overview, "Overview");
    Ok(render(&OverviewPage {
        base: s.url(""),
        open_total: open_by_severity.iter().map(|(_, n)| n).sum(),
        open_by_severity,
        chart: chart(&per_day, today, 30),
        asset_total: types.iter().map(|t| t.total).sum(),
        types,
        attention: attention
            .into_iter()
            .map(|a| {
                let t = Time::opt(a.last_scanned_at);
                (a, t)
            })
            .collect(),
        quota: Quota { used, limit, percent, resets: Time::at(resets) },
        plan: s.limits.plan.as_str(),
        chrome,
    }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_chart_has_a_bar_per_day_scaled_to_the_busiest() {
        let c = super::chart(&[(100, 4), (98, 2)], 100, 30);
        assert_eq!(c.bars.len(), 30);
        assert_eq!(c.total, 6);
        let last = &c.bars[29];
        assert_eq!((last.count, last.height, last.y), (4, 120, 0));
        assert_eq!(c.bars[27].height, 60);
        assert_eq!(c.bars[0].height, 0);
        assert_eq!(last.day, "1970-04-11");
    }
}
