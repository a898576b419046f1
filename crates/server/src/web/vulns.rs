//! Vulnerabilities: what the organization's agents are vulnerable to, by CVE or by agent, filtered by
//! severity, status (active or suppressed) and a CVE or package; a chart of the entries by severity; and,
//! for writers, suppressing a CVE (everywhere or on one agent, with a reason) and lifting a suppression,
//! through the same operations as Threat Stack's `/v2/vulnerabilities/{cve}/suppress` — and the same store
//! lists and filters as `/v2/vulnerabilities`.

use std::collections::HashMap;

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use tlink_domain::AgentId;
use tlink_store::{FindingRow, PageQuery as StorePage, VulnFilter};

use super::form::CsrfForm;
use super::page::{Chrome, Nav, PageQuery, Time, WebError, render, see_other};
use super::session::OrgSession;
use crate::AppState;
use crate::http::pagination;
use crate::ops::MemberRef;
use crate::ops::OpError;

/// Severities as findings name them, most severe first.
pub const SEVERITIES: [&str; 6] = ["critical", "high", "medium", "low", "negligible", "unknown"];

/// The longest package name searched for.
const MAX_SEARCH_CHARS: usize = 200;
/// Agents whose hostnames are read for one page (the agents of its rows and their suppression forms).
const NAMES_READ: u32 = 1000;
/// Hostnames listed in a row (the rest are counted).
const AGENTS_SHOWN: usize = 3;
/// Agents offered in a row's suppression forms.
const MAX_AGENT_CHOICES: usize = 100;
/// The chart's geometry, in viewBox units: bars of 64 in slots of 100 across 600, a plot 120 high whose
/// baseline is at 140 (room above for the counts, below for the names).
const PLOT_HEIGHT: u32 = 120;
const BASELINE: u32 = 140;
const SLOT: u32 = 100;
const BAR_WIDTH: u32 = 64;

/// What the search box asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Search {
    /// A CVE or advisory id, as stored.
    Cve(String),
    /// A package's exact name (source or installed).
    Package(String),
}

/// Reads the search box: a CVE id (`cve-2023-5363` in any case, stored in capitals) or another advisory id
/// whose prefix is in capitals (`DSA-5532-1`, `GHSA-…`), else a package's exact name. `None` for a blank
/// box, or one that can be neither (longer than 200 characters, control characters).
pub fn search(q: &str) -> Option<Search> {
    let q = q.trim();
    if q.is_empty() || q.chars().count() > MAX_SEARCH_CHARS || q.chars().any(char::is_control) {
        return None;
    }
    if q.get(..4).is_some_and(|p| p.eq_ignore_ascii_case("cve-"))
        && let Ok(id) = crate::ops::vulns::cve_id(&q.to_ascii_uppercase())
    {
        return Some(Search::Cve(id));
    }
    let capital_prefix =
        q.split_once('-').is_some_and(|(p, _)| !p.is_empty() && p.chars().all(|c| c.is_ascii_uppercase()));
    if capital_prefix && let Ok(id) = crate::ops::vulns::cve_id(q) {
        return Some(Search::Cve(id));
    }
    Some(Search::Package(q.to_string()))
}

/// The page's filters, as read from the query (a value the page does not offer is ignored).
#[derive(Debug)]
pub struct Filters {
    /// `cve` (one row per CVE, package and version) or `agent` (one row per agent).
    pub view: &'static str,
    /// One of [`SEVERITIES`], or empty for any.
    pub severity: String,
    /// `active` or `suppressed`.
    pub status: &'static str,
    /// The search box as typed.
    pub q: String,
    pub search: Option<Search>,
}

impl Filters {
    pub fn read(q: &PageQuery) -> Filters {
        let text = q.get("q").unwrap_or("").to_string();
        Filters {
            view: if q.get("view") == Some("agent") { "agent" } else { "cve" },
            severity: q
                .get("severity")
                .map(str::to_ascii_lowercase)
                .filter(|s| SEVERITIES.contains(&s.as_str()))
                .unwrap_or_default(),
            status: if q.get("status") == Some("suppressed") { "suppressed" } else { "active" },
            search: search(&text),
            q: text,
        }
    }

    /// The store's filter for these.
    pub fn store(&self) -> VulnFilter {
        let (cve, package) = match &self.search {
            Some(Search::Cve(c)) => (Some(c.clone()), None),
            Some(Search::Package(p)) => (None, Some(p.clone())),
            None => (None, None),
        };
        VulnFilter {
            cve,
            package,
            suppressed: self.status == "suppressed",
            severity: Some(self.severity.clone()).filter(|s| !s.is_empty()),
            ..VulnFilter::default()
        }
    }

    /// Whether anything but the defaults is asked for (the view aside).
    pub fn any(&self) -> bool {
        !self.severity.is_empty() || self.status != "active" || !self.q.is_empty()
    }

    /// The query string of these filters in `view` with `severity` (empty: any) — the tabs' and the
    /// severity links' targets.
    pub fn query(&self, view: &str, severity: &str) -> String {
        let mut s = form_urlencoded::Serializer::new(String::new());
        if view != "cve" {
            s.append_pair("view", view);
        }
        if !severity.is_empty() {
            s.append_pair("severity", severity);
        }
        if self.status != "active" {
            s.append_pair("status", self.status);
        }
        if !self.q.is_empty() {
            s.append_pair("q", &self.q);
        }
        s.finish()
    }
}

/// Counts in [`SEVERITIES`]' order, from `(severity, count)` pairs; a severity it does not know counts as
/// `unknown`.
pub fn by_severity(counts: &[(String, i64)]) -> [i64; 6] {
    let mut out = [0i64; 6];
    for (severity, n) in counts {
        let i = SEVERITIES.iter().position(|s| *s == severity.as_str()).unwrap_or(SEVERITIES.len() - 1);
        out[i] += n;
    }
    out
}

/// One bar of the severity chart.
pub struct SevBar {
    pub key: &'static str,
    pub count: i64,
    pub x: u32,
    /// The bar's middle, for its labels.
    pub mid: u32,
    pub y: u32,
    pub height: u32,
    /// Where its count is written (above the bar).
    pub count_y: u32,
    /// This page filtered on the severity.
    pub href: String,
}

/// The entries by severity, as bars scaled to the largest count.
pub struct SevChart {
    pub bars: Vec<SevBar>,
    pub total: i64,
    /// "critical 2, high 5, …", for the chart's text alternative.
    pub summary: String,
}

/// The chart of `counts` (in [`SEVERITIES`]' order): a bar with any entry is at least one unit high.
pub fn severity_chart(counts: &[i64; 6]) -> SevChart {
    let max = counts.iter().copied().max().unwrap_or(0).max(1);
    let bars = SEVERITIES
        .iter()
        .zip(counts)
        .enumerate()
        .map(|(i, (&key, &count))| {
            let scaled = u32::try_from(count.max(0) * i64::from(PLOT_HEIGHT) / max).unwrap_or(PLOT_HEIGHT);
            let height = scaled.min(PLOT_HEIGHT).max(u32::from(count > 0));
            let x = u32::try_from(i).unwrap_or(0) * SLOT + (SLOT - BAR_WIDTH) / 2;
            let y = BASELINE - height;
            SevBar { key, count, x, mid: x + BAR_WIDTH / 2, y, height, count_y: y - 6, href: String::new() }
        })
        .collect();
    let summary = SEVERITIES.iter().zip(counts).map(|(k, n)| format!("{k} {n}")).collect::<Vec<_>>().join(", ");
    SevChart { bars, total: counts.iter().sum(), summary }
}

/// An agent as a row names it: its hostname when known, else the start of its id.
pub fn host_label(names: &HashMap<AgentId, String>, id: &AgentId) -> String {
    names.get(id).cloned().unwrap_or_else(|| format!("agent {}…", id.as_str().chars().take(8).collect::<String>()))
}

/// `url` with `key=value` added to its query (before any `#fragment`); `key` and `value` are fixed codes
/// that need no escaping.
pub fn with_param(url: &str, key: &str, value: &str) -> String {
    let (path, fragment) = match url.split_once('#') {
        Some((p, f)) => (p, Some(f)),
        None => (url, None),
    };
    let sep = match path.find('?') {
        None => "?",
        Some(_) if path.ends_with('?') || path.ends_with('&') => "",
        Some(_) => "&",
    };
    let mut out = format!("{path}{sep}{key}={value}");
    if let Some(f) = fragment {
        out.push('#');
        out.push_str(f);
    }
    out
}

/// Where a form asks to go back to, if it is a page of this organization (`prefix`, `/orgs/<id>/`):
/// a path on this server, never another origin.
pub fn safe_back(prefix: &str, raw: Option<&str>) -> Option<String> {
    let raw = raw?;
    let ok = raw.starts_with(prefix)
        && !raw.contains("//")
        && !raw.contains('\\')
        && !raw.chars().any(|c| c.is_control() || c.is_whitespace());
    ok.then(|| raw.to_string())
}

/// The query to come back to after a form: this one, without the previous form's message.
pub fn back_query(q: &PageQuery) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in q.0.iter().filter(|(k, _)| k != "done" && k != "error") {
        s.append_pair(k, v);
    }
    s.finish()
}

/// The messages of a page the suppression forms come back to (this one and an agent's).
pub fn suppression_flash(chrome: Chrome, q: &PageQuery) -> Chrome {
    let chrome = chrome.flash(
        q.get("done"),
        &[
            ("suppressed", "Suppressed: its findings are now listed under the status Suppressed."),
            ("unsuppressed", "Suppression lifted: its findings are active again."),
        ],
    );
    match q.get("error") {
        Some("reason") => chrome.error("Say why it is suppressed: a reason is required, at most 1,000 characters."),
        Some("nosuppression") => chrome.error(
            "There is no such suppression to lift. It may have been made for the whole organization rather than \
             for one agent, or the other way round: choose the other scope and try again.",
        ),
        _ => chrome,
    }
}

/// One entry of the by-CVE view: a CVE in one package at one installed version, with its agents.
pub struct CveRow {
    pub cve: String,
    pub severity: String,
    pub reported_package: String,
    pub system_package: String,
    pub fixed_version: Option<String>,
    pub first_seen: Time,
    pub agent_count: usize,
    /// The first few agents, `(id, hostname)`.
    pub shown: Vec<(String, String)>,
    /// The agents offered in the row's forms, by hostname.
    pub choices: Vec<(String, String)>,
    /// The by-agent view of this CVE.
    pub agents_href: String,
}

fn cve_row(group: &[FindingRow], names: &HashMap<AgentId, String>, agents_href: String) -> Option<CveRow> {
    let first = group.first()?;
    let f = &first.finding;
    let mut agents: Vec<(String, String)> =
        group.iter().map(|r| (r.agent_id.to_string(), host_label(names, &r.agent_id))).collect();
    agents.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    agents.dedup_by(|a, b| a.0 == b.0);
    Some(CveRow {
        cve: f.cve.clone(),
        severity: f.severity.clone(),
        reported_package: f.reported_package.clone(),
        system_package: format!("{} {}", f.binary_name, f.installed_version),
        fixed_version: f.fixed_version.clone(),
        first_seen: Time::at(group.iter().map(|r| r.first_seen_at).min().unwrap_or(first.first_seen_at)),
        agent_count: agents.len(),
        shown: agents.iter().take(AGENTS_SHOWN).cloned().collect(),
        choices: agents.into_iter().take(MAX_AGENT_CHOICES).collect(),
        agents_href,
    })
}

/// One row of the by-agent view: an agent and its entries by severity.
pub struct AgentRowView {
    pub id: String,
    pub hostname: String,
    /// In [`SEVERITIES`]' order.
    pub counts: [i64; 6],
    pub total: i64,
}

#[derive(Template)]
#[template(path = "vulns/list.html")]
struct ListPage {
    chrome: Chrome,
    base: String,
    f: Filters,
    severities: [&'static str; 6],
    chart: SevChart,
    /// The tabs' targets.
    by_cve: String,
    by_agent: String,
    cves: Vec<CveRow>,
    agents: Vec<AgentRowView>,
    next: Option<String>,
    /// Where the row forms come back to.
    back: String,
    /// When nothing is listed: whether any advisory is loaded at all.
    advisories: i64,
}

fn opt(v: &str) -> Option<&str> {
    Some(v).filter(|v| !v.is_empty())
}

/// The hostnames of the agents with a finding that `filter` keeps (at most [`NAMES_READ`]).
async fn hostnames(
    state: &AppState,
    s: &OrgSession,
    filter: &VulnFilter,
) -> Result<HashMap<AgentId, String>, WebError> {
    let page = state.store.vuln_servers(s.org_id(), filter, &StorePage::first(NAMES_READ)).await?;
    Ok(page.items.into_iter().collect())
}

/// `GET /orgs/{org}/vulnerabilities?view=cve|agent&severity=&status=active|suppressed&q=&token=`.
pub async fn list(State(state): State<AppState>, s: OrgSession, q: PageQuery) -> Result<Response, WebError> {
    let f = Filters::read(&q);
    let mut chrome = suppression_flash(Chrome::new(&s, Nav::Vulns, "Vulnerabilities"), &q);
    if !f.q.is_empty() && f.search.is_none() {
        chrome = chrome.error(
            "Search for a CVE or advisory id (CVE-2023-5363) or a package's exact name, at most 200 characters.",
        );
    }
    let org = s.org_id();
    let filter = f.store();
    let all_severities = VulnFilter { severity: None, ..filter.clone() };
    let mut chart = severity_chart(&by_severity(&state.store.vuln_severity_counts(org, &all_severities).await?));
    for b in &mut chart.bars {
        b.href = s.url(&format!("/vulnerabilities?{}", f.query(f.view, b.key)));
    }
    let filters =
        [("view", Some(f.view)), ("severity", opt(&f.severity)), ("status", Some(f.status)), ("q", opt(&f.q))];
    let list = format!("web-vulns:{org}");
    let (mut cves, mut agents, mut next) = (Vec::new(), Vec::new(), None);
    match pagination::parse(&q.map(), &state.keys.cursor_key, &list, &filters) {
        Ok(params) if f.view == "agent" => {
            let page = state.store.vuln_servers(org, &filter, &params.page).await?;
            next = params.token(page.next).map(|t| q.with_token(&s.url("/vulnerabilities"), &t));
            for (id, hostname) in page.items {
                let mine = VulnFilter { agent_id: Some(id.clone()), ..filter.clone() };
                let counts = by_severity(&state.store.vuln_severity_counts(org, &mine).await?);
                agents.push(AgentRowView { id: id.to_string(), hostname, total: counts.iter().sum(), counts });
            }
        }
        Ok(params) => {
            let page = state.store.list_vulns(org, &filter, &params.page).await?;
            next = params.token(page.next).map(|t| q.with_token(&s.url("/vulnerabilities"), &t));
            let names = if page.items.is_empty() { HashMap::new() } else { hostnames(&state, &s, &filter).await? };
            let mut by_agent = Filters::read(&q);
            by_agent.q.clear();
            cves = page
                .items
                .iter()
                .filter_map(|g| {
                    let cve = &g.first()?.finding.cve;
                    let mut of_cve = form_urlencoded::Serializer::new(by_agent.query("agent", &by_agent.severity));
                    of_cve.append_pair("q", cve);
                    cve_row(g, &names, s.url(&format!("/vulnerabilities?{}", of_cve.finish())))
                })
                .collect();
        }
        Err(e) => chrome = chrome.error(format!("Cannot show this page: {e}")),
    }
    let advisories = if cves.is_empty() && agents.is_empty() { state.store.advisory_count().await? } else { 1 };
    let back_q = back_query(&q);
    let back = if back_q.is_empty() { s.url("/vulnerabilities") } else { s.url(&format!("/vulnerabilities?{back_q}")) };
    Ok(render(&ListPage {
        base: s.url(""),
        severities: SEVERITIES,
        by_cve: s.url(&format!("/vulnerabilities?{}", f.query("cve", &f.severity))),
        by_agent: s.url(&format!("/vulnerabilities?{}", f.query("agent", &f.severity))),
        chrome,
        f,
        chart,
        cves,
        agents,
        next,
        back,
        advisories,
    }))
}

/// Where a suppression form returns: the page it names if it is one of this organization's, else the
/// vulnerabilities.
fn back_to(s: &OrgSession, raw: Option<&str>) -> String {
    safe_back(&s.url("/"), raw).unwrap_or_else(|| s.url("/vulnerabilities"))
}

/// Back to `back` with the outcome: `done=<done>`, or the error the page explains (a missing reason, no
/// such suppression); other refusals are error pages.
fn finish(back: &str, outcome: Result<&'static str, OpError>) -> Result<Response, WebError> {
    match outcome {
        Ok(done) => Ok(see_other(&with_param(back, "done", done))),
        Err(OpError::Invalid(e)) if e.iter().any(|e| e.field == "reason") => {
            Ok(see_other(&with_param(back, "error", "reason")))
        }
        Err(OpError::NotFound("suppression")) => Ok(see_other(&with_param(back, "error", "nosuppression"))),
        // A path that names no CVE.
        Err(OpError::Invalid(_)) => Err(WebError::NotFound),
        Err(e) => Err(e.into()),
    }
}

/// `POST /orgs/{org}/vulnerabilities/{cve}/suppress`: `reason`, optional `agentId` (only on that agent),
/// `back` (the page to return to).
pub async fn suppress(
    State(state): State<AppState>,
    s: OrgSession,
    Path((_, cve)): Path<(String, String)>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, WebError> {
    let back = back_to(&s, form.get("back"));
    let member = s.member();
    let reason = form.get("reason").unwrap_or("");
    let outcome =
        crate::ops::vulns::suppress(&state, MemberRef::from(&member), &cve, form.get("agentId"), reason).await;
    finish(&back, outcome.map(|_| "suppressed"))
}

/// `POST /orgs/{org}/vulnerabilities/{cve}/unsuppress`: optional `agentId` (the suppression on that agent;
/// without it, the organization-wide one), `back`.
pub async fn unsuppress(
    State(state): State<AppState>,
    s: OrgSession,
    Path((_, cve)): Path<(String, String)>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, WebError> {
    let back = back_to(&s, form.get("back"));
    let member = s.member();
    let outcome = crate::ops::vulns::unsuppress(&state, MemberRef::from(&member), &cve, form.get("agentId")).await;
    finish(&back, outcome.map(|()| "unsuppressed"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> PageQuery {
        PageQuery(pairs.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect())
    }

    #[test]
    fn the_search_box_tells_cves_from_packages() {
        assert_eq!(search("cve-2023-5363"), Some(Search::Cve("CVE-2023-5363".into())));
        assert_eq!(search(" CVE-2023-5363 "), Some(Search::Cve("CVE-2023-5363".into())));
        assert_eq!(search("DSA-5532-1"), Some(Search::Cve("DSA-5532-1".into())));
        assert_eq!(search("GHSA-abcd-efgh-ijkl"), Some(Search::Cve("GHSA-abcd-efgh-ijkl".into())));
        assert_eq!(search("openssl"), Some(Search::Package("openssl".into())));
        assert_eq!(search("gcc-12"), Some(Search::Package("gcc-12".into())), "a package with a dash");
        assert_eq!(search("NetworkManager-libnm"), Some(Search::Package("NetworkManager-libnm".into())));
        assert_eq!(search("cve-2023 5363"), Some(Search::Package("cve-2023 5363".into())), "not an id");
        assert_eq!(search("  "), None);
        assert_eq!(search(&"a".repeat(201)), None);
        assert_eq!(search("a\u{7}b"), None);
        assert_eq!(search("é-1"), Some(Search::Package("é-1".into())), "no panic on a multibyte start");
    }

    #[test]
    fn filters_keep_offered_values_and_build_the_store_filter() {
        let f = Filters::read(&query(&[
            ("view", "agent"),
            ("severity", "HIGH"),
            ("status", "suppressed"),
            ("q", "cve-2024-1"),
        ]));
        assert_eq!((f.view, f.severity.as_str(), f.status), ("agent", "high", "suppressed"));
        let store = f.store();
        assert_eq!(store.cve.as_deref(), Some("CVE-2024-1"));
        assert_eq!(store.package, None);
        assert_eq!(store.severity.as_deref(), Some("high"));
        assert!(store.suppressed);
        assert!(f.any());
        assert_eq!(f.query("cve", ""), "status=suppressed&q=cve-2024-1");
        assert_eq!(f.query("agent", "low"), "view=agent&severity=low&status=suppressed&q=cve-2024-1");

        let odd = Filters::read(&query(&[("view", "x"), ("severity", "<b>"), ("status", "gone")]));
        assert_eq!((odd.view, odd.severity.as_str(), odd.status), ("cve", "", "active"));
        assert!(!odd.any());
        let store = odd.store();
        assert!(store.cve.is_none() && store.package.is_none() && store.severity.is_none() && !store.suppressed);
        assert_eq!(odd.query("cve", ""), "");

        let pkg = Filters::read(&query(&[("q", "libssl3")]));
        assert_eq!(pkg.store().package.as_deref(), Some("libssl3"));
    }

    #[test]
    fn counts_go_in_severity_order() {
        let c = by_severity(&[("low".into(), 2), ("critical".into(), 1), ("weird".into(), 4), ("unknown".into(), 1)]);
        assert_eq!(c, [1, 0, 0, 2, 0, 5]);
    }

    #[test]
    fn the_chart_scales_to_the_largest_count() {
        let c = severity_chart(&[1, 240, 0, 120, 0, 0]);
        assert_eq!(c.total, 361);
        assert_eq!(c.bars.len(), 6);
        let high = &c.bars[1];
        assert_eq!((high.key, high.height, high.y, high.count_y), ("high", 120, 20, 14));
        assert_eq!((c.bars[3].height, c.bars[3].y), (60, 80));
        assert_eq!(c.bars[0].height, 1, "one entry still shows");
        assert_eq!((c.bars[2].height, c.bars[2].y), (0, 140));
        assert_eq!((c.bars[0].x, c.bars[0].mid, c.bars[5].x), (18, 50, 518));
        assert_eq!(c.summary, "critical 1, high 240, medium 0, low 120, negligible 0, unknown 0");
        let empty = severity_chart(&[0; 6]);
        assert!(empty.bars.iter().all(|b| b.height == 0 && b.y == 140));
    }

    #[test]
    fn params_go_before_the_fragment() {
        assert_eq!(with_param("/orgs/o/vulnerabilities", "done", "x"), "/orgs/o/vulnerabilities?done=x");
        assert_eq!(with_param("/p?view=agent", "done", "x"), "/p?view=agent&done=x");
        assert_eq!(with_param("/p?", "error", "reason"), "/p?error=reason");
        assert_eq!(with_param("/p?a=1#vulnerabilities", "done", "x"), "/p?a=1&done=x#vulnerabilities");
        assert_eq!(with_param("/p#f", "done", "x"), "/p?done=x#f");
    }

    #[test]
    fn only_this_organizations_pages_are_gone_back_to() {
        let p = "/orgs/o1/";
        assert_eq!(
            safe_back(p, Some("/orgs/o1/agents/a?pkg=x#vulnerabilities")).as_deref(),
            Some("/orgs/o1/agents/a?pkg=x#vulnerabilities")
        );
        for bad in [
            "https://evil.example/orgs/o1/",
            "//evil.example",
            "/orgs/o2/agents",
            "/orgs/o1//evil",
            "/orgs/o1/\\x",
            "/orgs/o1/a b",
            "/orgs/o1/\n",
        ] {
            assert_eq!(safe_back(p, Some(bad)), None, "{bad}");
        }
        assert_eq!(safe_back(p, None), None);
    }

    #[test]
    fn coming_back_drops_the_last_message() {
        let q = query(&[("view", "agent"), ("done", "suppressed"), ("error", "reason"), ("q", "a b"), ("token", "t")]);
        assert_eq!(back_query(&q), "view=agent&q=a+b&token=t");
    }

    #[test]
    fn rows_name_agents_by_hostname() {
        let (a, b) = (AgentId::new(), AgentId::new());
        let finding = tlink_store::Finding {
            cve: "CVE-1".into(),
            package: "openssl".into(),
            binary_name: "libssl3".into(),
            installed_version: "3.0.11-1".into(),
            reported_package: "openssl 3.0.11".into(),
            fixed_version: Some("3.0.13-1".into()),
            advisories: "[]".into(),
            severity: "high".into(),
            severity_level: 4,
            vector_type: None,
        };
        let group = vec![
            FindingRow { agent_id: a.clone(), finding: finding.clone(), first_seen_at: 5_000 },
            FindingRow { agent_id: b.clone(), finding, first_seen_at: 1_000 },
        ];
        let names = HashMap::from([(a.clone(), "web01".to_string())]);
        let row = cve_row(&group, &names, "/x".into()).expect("a row");
        assert_eq!(row.system_package, "libssl3 3.0.11-1");
        assert_eq!(row.agent_count, 2);
        assert_eq!(row.first_seen.iso, Time::at(1_000).iso);
        assert!(row.shown.iter().any(|(id, name)| *id == a.to_string() && name == "web01"));
        assert!(row.shown.iter().any(|(id, name)| *id == b.to_string() && name.starts_with("agent ")));
        assert!(cve_row(&[], &names, String::new()).is_none());
    }
}
