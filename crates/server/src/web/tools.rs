//! The tool runner: choose a tool and a target, run it, and watch the report go QUEUED → RUNNING →
//! COMPLETED live (server-sent events); the report readable and as a JSON tree, to copy or download; past
//! reports with filters.

use std::convert::Infallible;
use std::time::Duration;

use askama::Template;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{Html, IntoResponse, Response};
use futures_util::Stream;
use tlink_domain::{ReportId, ToolKey};
use tlink_store::{ReportFilter, ReportRow, ReportStatus};

use super::form::CsrfForm;
use super::page::{
    Chrome, FieldErrors, Nav, PageQuery, Time, WebError, event_stream, json_tree, render, render_status, see_other,
};
use super::readable::{Body, Section, readable};
use super::session::OrgSession;
use crate::AppState;
use crate::http::pagination;
use crate::ops::runs::RunRequest;

/// How often a report's event stream looks at the report.
const POLL: Duration = Duration::from_millis(400);
/// How long one event stream stays open (the browser reconnects if the report is still running).
const STREAM_FOR: Duration = Duration::from_secs(300);

/// A tool, as the runner offers it.
pub struct ToolChoice {
    pub key: &'static str,
    pub description: &'static str,
    pub accepts: String,
}

fn tool_choices() -> Vec<ToolChoice> {
    ToolKey::ALL
        .iter()
        .map(|t| ToolChoice {
            key: t.as_str(),
            description: t.description(),
            accepts: t.accepts().iter().map(|a| a.as_str()).collect::<Vec<_>>().join(", "),
        })
        .collect()
}

/// A report row as lists show it.
pub struct ReportItem {
    pub row: ReportRow,
    pub created: Time,
}

/// The run form's values.
#[derive(Default)]
pub struct RunValues {
    pub tool: String,
    pub target: String,
    pub asset_id: String,
    pub ports: String,
    pub port: String,
}

#[derive(Template)]
#[template(path = "tools/runner.html")]
struct RunnerPage {
    chrome: Chrome,
    base: String,
    tools: Vec<ToolChoice>,
    values: RunValues,
    errors: FieldErrors,
    reports: Vec<ReportItem>,
    next: Option<String>,
    tool_filter: String,
    status_filter: String,
    statuses: &'static [ReportStatus],
}

async fn runner_page(
    state: &AppState,
    s: &OrgSession,
    q: &PageQuery,
    values: RunValues,
    errors: FieldErrors,
) -> Result<RunnerPage, WebError> {
    let mut chrome = Chrome::new(s, Nav::Tools, "Tools");
    let tool = q.get("tool").and_then(ToolKey::parse);
    let status = q.get("status").and_then(|st| ReportStatus::ALL.iter().copied().find(|x| x.as_str() == st));
    let filters = [("tool", tool.map(ToolKey::as_str)), ("status", status.map(ReportStatus::as_str))];
    let (reports, next) =
        match pagination::parse(&q.map(), &state.keys.cursor_key, &format!("web-reports:{}", s.org_id()), &filters) {
            Ok(params) => {
                let filter = ReportFilter { tool: tool.map(|t| t.as_str().to_string()), status, asset_id: None };
                let page = state.store.list_reports(s.org_id(), &filter, &params.page).await?;
                let next = params.token(page.next).map(|t| q.with_token(&s.url("/tools"), &t));
                let items =
                    page.items.into_iter().map(|row| ReportItem { created: Time::at(row.created_at), row }).collect();
                (items, next)
            }
            Err(e) => {
                chrome = chrome.error(format!("Cannot show this page: {e}"));
                (Vec::new(), None)
            }
        };
    Ok(RunnerPage {
        chrome,
        base: s.url(""),
        tools: tool_choices(),
        values,
        errors,
        reports,
        next,
        tool_filter: tool.map(|t| t.as_str().to_string()).unwrap_or_default(),
        status_filter: status.map(|st| st.as_str().to_string()).unwrap_or_default(),
        statuses: ReportStatus::ALL,
    })
}

/// `GET /orgs/{org}/tools?tool=&status=&token=&assetId=`.
pub async fn runner(State(state): State<AppState>, s: OrgSession, q: PageQuery) -> Result<Response, WebError> {
    let values =
        RunValues { tool: "dns".into(), asset_id: q.get("assetId").unwrap_or("").to_string(), ..Default::default() };
    Ok(render(&runner_page(&state, &s, &q, values, FieldErrors::default()).await?))
}

/// `POST /orgs/{org}/tools/run`: queues the run and goes to its report.
pub async fn run(State(state): State<AppState>, s: OrgSession, CsrfForm(form): CsrfForm) -> Result<Response, WebError> {
    let values = RunValues {
        tool: form.get("tool").unwrap_or("").to_string(),
        target: form.get("target").unwrap_or("").to_string(),
        asset_id: form.get("assetId").unwrap_or("").to_string(),
        ports: form.get("ports").unwrap_or("").to_string(),
        port: form.get("port").unwrap_or("").to_string(),
    };
    let mut errors = FieldErrors::default();
    let port = if values.port.is_empty() {
        None
    } else {
        values
            .port
            .parse::<u16>()
            .map_err(|_| errors.fields.push(crate::ops::FieldError::new("options.port", "must be 1-65535")))
            .ok()
    };
    if errors.is_empty() {
        let options = tlink_tools::RunOptions { ports: Some(values.ports.clone()).filter(|p| !p.is_empty()), port };
        let req = RunRequest {
            tool: values.tool.clone(),
            target: Some(values.target.clone()).filter(|t| !t.is_empty()),
            asset: Some(values.asset_id.clone()).filter(|a| !a.is_empty()),
            options,
        };
        match crate::ops::runs::queue_tool_run(&state, &s.member(), req).await {
            Ok(queued) => return Ok(see_other(&s.url(&format!("/reports/{}", queued.report_id)))),
            Err(e) => errors = FieldErrors::from_op(e)?,
        }
    }
    let page = runner_page(&state, &s, &PageQuery::default(), values, errors).await?;
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &page))
}

/// A report as its page shows it.
pub struct ReportView {
    pub row: ReportRow,
    pub created: Time,
    pub started: Option<Time>,
    pub finished: Option<Time>,
    pub sections: Vec<Section>,
    pub tree: String,
    pub json: String,
    pub done: bool,
}

impl ReportView {
    fn of(row: ReportRow) -> Result<ReportView, WebError> {
        let value = tlink_store::decode_json_opt("reports", row.id.as_str(), "result", row.result.as_deref())?;
        let (sections, tree, json) = match &value {
            Some(v) => (readable(row.tool, v), json_tree(v), serde_json::to_string_pretty(v).unwrap_or_default()),
            None => (Vec::new(), String::new(), String::new()),
        };
        Ok(ReportView {
            created: Time::at(row.created_at),
            started: Time::opt(row.started_at),
            finished: Time::opt(row.finished_at),
            done: matches!(row.status, ReportStatus::Completed | ReportStatus::Failed),
            sections,
            tree,
            json,
            row,
        })
    }
}

#[derive(Template)]
#[template(path = "tools/report.html")]
struct ReportPage {
    chrome: Chrome,
    base: String,
    r: ReportView,
}

#[derive(Template)]
#[template(path = "parts/report_body.html")]
struct ReportBody {
    base: String,
    r: ReportView,
}

async fn report_of(state: &AppState, s: &OrgSession, id: &str) -> Result<ReportRow, WebError> {
    let id = ReportId::parse(id).map_err(|_| WebError::NotFound)?;
    state.store.get_report(s.org_id(), &id).await?.ok_or(WebError::NotFound)
}

/// `GET /orgs/{org}/reports/{id}`.
pub async fn report(
    State(state): State<AppState>,
    s: OrgSession,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let r = ReportView::of(report_of(&state, &s, &id).await?)?;
    let chrome = Chrome::new(&s, Nav::Tools, format!("{} report", r.row.tool.as_str()));
    Ok(render(&ReportPage { chrome, base: s.url(""), r }))
}

/// `GET /orgs/{org}/reports/{id}/status`: the report's body alone (what the event stream sends).
pub async fn report_status(
    State(state): State<AppState>,
    s: OrgSession,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let r = ReportView::of(report_of(&state, &s, &id).await?)?;
    Ok(render(&ReportBody { base: s.url(""), r }))
}

/// `GET /orgs/{org}/reports/{id}/events`: a `report` event with the report's body each time its status
/// changes, then `done` once it is COMPLETED or FAILED.
pub async fn report_events(
    State(state): State<AppState>,
    s: OrgSession,
    Path((_, id)): Path<(String, String)>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, WebError> {
    let first = report_of(&state, &s, &id).await?;
    let base = s.url("");
    let org = s.org_id().clone();
    let stream = event_stream(move |tx| async move {
        let started = tokio::time::Instant::now();
        let mut last: Option<(ReportStatus, i64)> = None;
        let mut current = Some(first);
        while let Some(row) = current.take() {
            let id = row.id.clone();
            let key = (row.status, row.updated_at);
            if last != Some(key) {
                last = Some(key);
                let done = matches!(row.status, ReportStatus::Completed | ReportStatus::Failed);
                let html = ReportView::of(row).ok().and_then(|r| ReportBody { base: base.clone(), r }.render().ok());
                if let Some(html) = html
                    && tx.send(Event::default().event("report").data(html)).await.is_err()
                {
                    break;
                }
                if done {
                    let _ = tx.send(Event::default().event("done").data("done")).await;
                    break;
                }
            }
            if started.elapsed() > STREAM_FOR {
                break;
            }
            tokio::time::sleep(POLL).await;
            match state.store.get_report(&org, &id).await {
                Ok(row) => current = row,
                Err(e) => {
                    tracing::warn!(error = %e, "report event stream: reading the report failed");
                    break;
                }
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

/// `GET /orgs/{org}/reports/{id}/json`: the result as a file.
pub async fn report_json(
    State(state): State<AppState>,
    s: OrgSession,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let r = ReportView::of(report_of(&state, &s, &id).await?)?;
    if r.json.is_empty() {
        return Err(WebError::NotFound);
    }
    let name = format!("attachment; filename=\"tlink-{}-{}.json\"", r.row.tool.as_str(), r.row.id);
    let mut resp = Html(r.json).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    if let Ok(v) = HeaderValue::from_str(&name) {
        resp.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(resp)
}
