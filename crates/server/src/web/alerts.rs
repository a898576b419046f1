//! Alert triage: the queue filtered by status, severity, asset, rule and time; bulk acknowledge and
//! resolve; new alerts appear without a reload (server-sent events); the detail with the triggering value,
//! the rule as it was, the report, the status history and the deliveries with "redeliver".

use std::collections::HashMap;
use std::convert::Infallible;
use std::time::Duration;

use askama::Template;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::Stream;
use tlink_domain::{AlertId, AssetId, DeliveryId, ReportId, RuleId, UserId};
use tlink_store::{AlertFilter, DeliveryRow, PageQuery as StorePage, now_millis};

use super::assets_pages::AlertItem;
use super::form::CsrfForm;
use super::overview::SEVERITIES;
use super::page::{Chrome, Nav, PageQuery, Time, WebError, json_tree, render, see_other};
use super::session::OrgSession;
use crate::AppState;
use crate::http::pagination;
use crate::ops::alerts::AlertStatus;

/// How often the new-alert stream looks for alerts.
const POLL: Duration = Duration::from_secs(2);
const STREAM_FOR: Duration = Duration::from_secs(600);
const STATUSES: [&str; 3] = ["OPEN", "ACKNOWLEDGED", "RESOLVED"];

/// The queue's filters, as read from the query.
#[derive(Default)]
pub struct Filters {
    pub status: String,
    pub severity: String,
    pub asset_id: String,
    pub rule_id: String,
    pub from: String,
    pub until: String,
}

impl Filters {
    fn read(q: &PageQuery) -> Filters {
        let pick = |k: &str, allowed: &[&str]| {
            q.get(k).map(str::to_ascii_uppercase).filter(|v| allowed.contains(&v.as_str())).unwrap_or_default()
        };
        Filters {
            status: pick("status", &STATUSES),
            severity: pick("severity", &SEVERITIES),
            asset_id: q.get("assetId").filter(|a| AssetId::parse(a).is_ok()).unwrap_or("").to_string(),
            rule_id: q.get("ruleId").filter(|a| RuleId::parse(a).is_ok()).unwrap_or("").to_string(),
            from: q.get("from").unwrap_or("").to_string(),
            until: q.get("until").unwrap_or("").to_string(),
        }
    }

    fn store(&self) -> AlertFilter {
        AlertFilter {
            status: Some(self.status.clone()).filter(|s| !s.is_empty()).into_iter().collect(),
            severity: Some(self.severity.clone()).filter(|s| !s.is_empty()).into_iter().collect(),
            asset_id: AssetId::parse(&self.asset_id).ok(),
            rule_id: RuleId::parse(&self.rule_id).ok(),
            agent_id: None,
        }
    }

    fn any(&self) -> bool {
        [&self.status, &self.severity, &self.asset_id, &self.rule_id, &self.from, &self.until]
            .iter()
            .any(|f| !f.is_empty())
    }
}

/// One page of the queue.
struct Queue {
    items: Vec<AlertItem>,
    next: Option<String>,
    error: Option<String>,
}

async fn queue(state: &AppState, s: &OrgSession, q: &PageQuery, f: &Filters) -> Result<Queue, WebError> {
    let opt = |v: &str| Some(v.to_string()).filter(|v| !v.is_empty());
    let (status, severity, asset, rule) = (opt(&f.status), opt(&f.severity), opt(&f.asset_id), opt(&f.rule_id));
    let filters = [
        ("status", status.as_deref()),
        ("severity", severity.as_deref()),
        ("assetId", asset.as_deref()),
        ("ruleId", rule.as_deref()),
    ];
    let list = format!("web-alerts:{}", s.org_id());
    match pagination::parse(&q.map(), &state.keys.cursor_key, &list, &filters) {
        Ok(params) => {
            let page = state.store.list_alerts(s.org_id(), &f.store(), &params.page).await?;
            let next = params.token(page.next).map(|t| q.with_token(&s.url("/alerts"), &t));
            Ok(Queue { items: page.items.into_iter().map(AlertItem::from).collect(), next, error: None })
        }
        Err(e) => Ok(Queue { items: Vec::new(), next: None, error: Some(e.to_string()) }),
    }
}

#[derive(Template)]
#[template(path = "alerts/list.html")]
struct ListPage {
    chrome: Chrome,
    base: String,
    f: Filters,
    statuses: [&'static str; 3],
    severities: [&'static str; 4],
    items: Vec<AlertItem>,
    next: Option<String>,
    /// Live updates only on the first page.
    live: bool,
    latest: String,
    filters_query: String,
    seen: i64,
}

#[derive(Template)]
#[template(path = "alerts/rows.html")]
struct Rows {
    base: String,
    items: Vec<AlertItem>,
    can_write: bool,
    seen: i64,
    filtered: bool,
}

/// `GET /orgs/{org}/alerts`.
pub async fn list(State(state): State<AppState>, s: OrgSession, q: PageQuery) -> Result<Response, WebError> {
    let f = Filters::read(&q);
    let Queue { items, next, error } = queue(&state, &s, &q, &f).await?;
    let mut chrome = Chrome::new(&s, Nav::Alerts, "Alerts");
    if let Some(e) = error {
        chrome = chrome.error(format!("Cannot show this page: {e}"));
    }
    if q.get("done") == Some("bulk") {
        let changed = q.get("changed").unwrap_or("0");
        let refused = q.get("refused").unwrap_or("0");
        let text = if refused == "0" {
            format!("{changed} alert(s) changed.")
        } else {
            format!("{changed} alert(s) changed; {refused} could not change from their status.")
        };
        chrome.flash = Some(super::page::Flash { kind: "ok", text });
    } else if q.get("done") == Some("none") {
        chrome = chrome.error("Select at least one alert first.");
    }
    let newest = state.store.list_alerts(s.org_id(), &AlertFilter::default(), &first(1)).await?;
    Ok(render(&ListPage {
        base: s.url(""),
        statuses: STATUSES,
        severities: SEVERITIES,
        live: q.get("token").is_none(),
        latest: newest.items.first().map(|a| a.id.to_string()).unwrap_or_default(),
        filters_query: q.filters(),
        seen: now_millis(),
        chrome,
        f,
        items,
        next,
    }))
}

fn first(limit: u32) -> StorePage {
    StorePage { limit, after: None, from: None, until: None }
}

/// `GET /orgs/{org}/alerts/rows?<filters>&seen=<ms>`: the queue's first page as table rows (swapped in
/// when the event stream says a new alert arrived); rows newer than `seen` are highlighted.
pub async fn rows(State(state): State<AppState>, s: OrgSession, q: PageQuery) -> Result<Response, WebError> {
    let f = Filters::read(&q);
    let mut paging = q.clone();
    paging.0.retain(|(k, _)| k != "token" && k != "seen");
    let Queue { items, .. } = queue(&state, &s, &paging, &f).await?;
    let seen = q.get("seen").and_then(|v| v.parse().ok()).unwrap_or(i64::MAX);
    Ok(render(&Rows { base: s.url(""), items, can_write: s.can_write(), seen, filtered: f.any() }))
}

/// `GET /orgs/{org}/alerts/events?latest=<alert id>`: an `alert` event whenever the organization's newest
/// alert is no longer `latest`.
pub async fn events(
    State(state): State<AppState>,
    s: OrgSession,
    q: PageQuery,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let org = s.org_id().clone();
    let mut latest = q.get("latest").unwrap_or("").to_string();
    let stream = super::page::event_stream(move |tx| async move {
        let started = tokio::time::Instant::now();
        while started.elapsed() < STREAM_FOR {
            match state.store.list_alerts(&org, &AlertFilter::default(), &first(1)).await {
                Ok(page) => {
                    let newest = page.items.first().map(|a| a.id.to_string()).unwrap_or_default();
                    if newest != latest {
                        latest = newest;
                        if tx.send(Event::default().event("alert").data(latest.clone())).await.is_err() {
                            break;
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(error = %e, "alert event stream: reading alerts failed");
                    break;
                }
            }
            tokio::time::sleep(POLL).await;
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

/// `POST /orgs/{org}/alerts/bulk`: `ids` (repeated) and `action` (`ACKNOWLEDGED` or `RESOLVED`).
pub async fn bulk(
    State(state): State<AppState>,
    s: OrgSession,
    CsrfForm(form): CsrfForm,
) -> Result<Response, WebError> {
    let action = form.get("action").unwrap_or("");
    let to = AlertStatus::parse(action)
        .filter(|a| *a != AlertStatus::Open)
        .ok_or_else(|| WebError::BadRequest("choose Acknowledge or Resolve".into()))?;
    let ids = form.all("ids");
    let back = form.get("back").filter(|b| !b.contains("://") && !b.starts_with("//")).unwrap_or("");
    let sep = if back.is_empty() { "" } else { "&" };
    if ids.is_empty() {
        return Ok(see_other(&s.url(&format!("/alerts?{back}{sep}done=none"))));
    }
    let member = s.member();
    let (mut changed, mut refused) = (0, 0);
    for id in ids.iter().take(100) {
        let Ok(id) = AlertId::parse(id) else {
            refused += 1;
            continue;
        };
        match crate::ops::alerts::change_status(&state, &member, &id, to.as_str(), None).await {
            Ok(_) => changed += 1,
            Err(crate::ops::OpError::Conflict(_) | crate::ops::OpError::NotFound(_)) => refused += 1,
            Err(e) => return Err(e.into()),
        }
    }
    Ok(see_other(&s.url(&format!("/alerts?{back}{sep}done=bulk&changed={changed}&refused={refused}"))))
}

/// A status change as the history shows it.
pub struct EventView {
    pub from: String,
    pub to: String,
    pub by: String,
    pub note: Option<String>,
    pub at: Time,
}

/// One attempt of a delivery.
pub struct AttemptView {
    pub number: i64,
    pub trigger: String,
    pub at: Time,
    pub duration_ms: i64,
    pub status_code: Option<i64>,
    pub excerpt: Option<String>,
    pub error: Option<String>,
    pub outcome: String,
}

/// A delivery and its attempts.
pub struct DeliveryView {
    pub row: DeliveryRow,
    pub target: String,
    pub next_attempt: Option<Time>,
    pub attempts: Vec<AttemptView>,
}

#[derive(Template)]
#[template(path = "alerts/detail.html")]
struct DetailPage {
    chrome: Chrome,
    base: String,
    a: AlertItem,
    last_seen: Time,
    actual: String,
    rule: String,
    rule_name: String,
    report: Option<(String, String, String)>,
    history: Vec<EventView>,
    deliveries: Vec<DeliveryView>,
    asset_value: Option<String>,
}

/// `GET /orgs/{org}/alerts/{id}`.
pub async fn detail(
    State(state): State<AppState>,
    s: OrgSession,
    Path((_, id)): Path<(String, String)>,
    q: PageQuery,
) -> Result<Response, WebError> {
    let id = AlertId::parse(&id).map_err(|_| WebError::NotFound)?;
    let a = state.store.get_alert(s.org_id(), &id).await?.ok_or(WebError::NotFound)?;
    let mut chrome = Chrome::new(&s, Nav::Alerts, "Alert").flash(
        q.get("done"),
        &[
            ("ACKNOWLEDGED", "Alert acknowledged."),
            ("RESOLVED", "Alert resolved."),
            ("OPEN", "Alert reopened."),
            ("redeliver", "Delivery queued again."),
        ],
    );
    if let Some(e) = q.get("error") {
        chrome = chrome.error(match e {
            "busy" => "An attempt of this delivery is running; try again shortly.",
            _ => "That change is not possible from the alert's current status.",
        });
    }
    let actual: serde_json::Value =
        tlink_store::decode_json_opt("alerts", a.id.as_str(), "actual", a.actual.as_deref())?.unwrap_or_default();
    let rule: serde_json::Value = tlink_store::decode_json("alerts", a.id.as_str(), "rule", &a.rule)?;
    let rule_name = rule.get("name").and_then(|n| n.as_str()).unwrap_or("").to_string();
    let report = match ReportId::parse(&a.report_id) {
        Ok(rid) => match state.store.get_report(s.org_id(), &rid).await? {
            Some(r) => {
                let v = tlink_store::decode_json_opt("reports", r.id.as_str(), "result", r.result.as_deref())?;
                Some((r.id.to_string(), r.tool.as_str().to_string(), v.map(|v| json_tree(&v)).unwrap_or_default()))
            }
            None => None,
        },
        Err(_) => None,
    };
    let mut names: HashMap<UserId, String> = HashMap::new();
    let mut history = Vec::new();
    for e in state.store.alert_events(&a.id).await? {
        let by = match &e.changed_by {
            Some(u) => match names.get(u) {
                Some(n) => n.clone(),
                None => {
                    let n = state.store.user_by_id(u).await?.map_or_else(|| "a former user".to_string(), |u| u.email);
                    names.insert(u.clone(), n.clone());
                    n
                }
            },
            None => "tlink (monitoring)".to_string(),
        };
        history.push(EventView { from: e.from_status, to: e.to_status, by, note: e.note, at: Time::at(e.created_at) });
    }
    let rows = state.store.list_deliveries(s.org_id(), &a.id, &first(50)).await?.items;
    let deliveries = delivery_views(&state, rows).await?;
    let asset_value = match &a.asset_id {
        Some(asset) => state.store.get_asset(s.org_id(), asset).await?.map(|x| x.value),
        None => None,
    };
    chrome.title = format!("{} alert", a.severity);
    Ok(render(&DetailPage {
        chrome,
        base: s.url(""),
        last_seen: Time::at(a.last_seen_at),
        actual: serde_json::to_string(&actual).unwrap_or_default(),
        rule: json_tree(&rule),
        rule_name,
        report,
        history,
        deliveries,
        asset_value,
        a: a.into(),
    }))
}

/// Deliveries as the pages show them, each with its attempts.
pub async fn delivery_views(state: &AppState, rows: Vec<DeliveryRow>) -> Result<Vec<DeliveryView>, WebError> {
    let mut deliveries = Vec::new();
    for d in rows {
        let attempts = state
            .store
            .delivery_attempts(&d.id)
            .await?
            .into_iter()
            .map(|(number, r)| AttemptView {
                number,
                trigger: r.trigger,
                at: Time::at(r.started_at),
                duration_ms: r.duration_ms,
                status_code: r.status_code,
                excerpt: r.response_excerpt,
                error: r.error,
                outcome: r.outcome,
            })
            .collect();
        let target = match serde_json::from_str::<serde_json::Value>(&d.target) {
            Ok(serde_json::Value::Array(to)) => to.iter().filter_map(|t| t.as_str()).collect::<Vec<_>>().join(", "),
            _ => d.target.clone(),
        };
        deliveries.push(DeliveryView { next_attempt: Time::opt(d.next_attempt_at), target, attempts, row: d });
    }
    Ok(deliveries)
}

/// `POST /orgs/{org}/alerts/{id}/status`: `status` and an optional `note`.
pub async fn change_status(
    State(state): State<AppState>,
    s: OrgSession,
    Path((_, id)): Path<(String, String)>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, WebError> {
    let id = AlertId::parse(&id).map_err(|_| WebError::NotFound)?;
    let to = form.get("status").unwrap_or("");
    match crate::ops::alerts::change_status(&state, &s.member(), &id, to, form.get("note")).await {
        Ok(a) => Ok(see_other(&s.url(&format!("/alerts/{id}?done={}", a.status)))),
        Err(crate::ops::OpError::Conflict(_)) => Ok(see_other(&s.url(&format!("/alerts/{id}?error=status")))),
        Err(e) => Err(e.into()),
    }
}

/// `POST /orgs/{org}/deliveries/{id}/redeliver`.
pub async fn redeliver(
    State(state): State<AppState>,
    s: OrgSession,
    Path((_, id)): Path<(String, String)>,
    CsrfForm(_): CsrfForm,
) -> Result<Response, WebError> {
    let id = DeliveryId::parse(&id).map_err(|_| WebError::NotFound)?;
    let d = state.store.get_delivery(s.org_id(), &id).await?.ok_or(WebError::NotFound)?;
    match crate::ops::alerts::redeliver(&state, &s.member(), &id).await {
        Ok(()) => Ok(see_other(&s.url(&format!("/alerts/{}?done=redeliver", d.alert_id)))),
        Err(crate::ops::OpError::Conflict(_)) => Ok(see_other(&s.url(&format!("/alerts/{}?error=busy", d.alert_id)))),
        Err(e) => Err(e.into()),
    }
}
