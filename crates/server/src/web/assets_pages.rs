//! Assets: the filtered list with keyset paging, create, edit, delete, and the detail page with the latest
//! result of every tool (readable and as JSON), the asset's alerts and "scan now".

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use tlink_domain::{AssetId, AssetType, ToolKey};
use tlink_store::{AlertFilter, AlertRow, AssetFilter, AssetRow, PageQuery as StorePage};

use super::form::{CsrfForm, FormData};
use super::page::{Chrome, FieldErrors, Nav, PageQuery, Time, WebError, json_tree, render, render_status, see_other};
use super::readable::{Body, Section, readable};
use super::session::OrgSession;
use crate::AppState;
use crate::http::pagination;
use crate::ops::assets::{AssetChange, AssetInput};

const FLASHES: &[(&str, &str)] = &[
    ("created", "Asset created."),
    ("updated", "Asset saved."),
    ("deleted", "Asset deleted."),
    ("scan", "Scan queued: each tool's report appears below when it completes."),
];

/// Every asset type, for the selects.
pub const TYPES: [AssetType; 7] = [
    AssetType::Domain,
    AssetType::Ip,
    AssetType::Email,
    AssetType::Url,
    AssetType::Hash,
    AssetType::Asn,
    AssetType::Certificate,
];

/// An asset row as the list shows it.
pub struct AssetItem {
    pub row: AssetRow,
    pub last_scanned: Option<Time>,
    pub next_scan: Option<Time>,
}

impl From<AssetRow> for AssetItem {
    fn from(row: AssetRow) -> Self {
        AssetItem { last_scanned: Time::opt(row.last_scanned_at), next_scan: Time::opt(row.next_scan_at), row }
    }
}

#[derive(Template)]
#[template(path = "assets/list.html")]
struct ListPage {
    chrome: Chrome,
    base: String,
    types: [AssetType; 7],
    kind: String,
    monitored: String,
    q: String,
    items: Vec<AssetItem>,
    next: Option<String>,
    filtered: bool,
}

/// `GET /orgs/{org}/assets?type=&monitored=&q=&token=`.
pub async fn list(State(state): State<AppState>, s: OrgSession, q: PageQuery) -> Result<Response, WebError> {
    let mut chrome = Chrome::new(&s, Nav::Assets, "Assets").flash(q.get("done"), FLASHES);
    let kind = q.get("type").and_then(|t| t.parse::<AssetType>().ok());
    let is_monitored = match q.get("monitored") {
        Some("yes") => Some(true),
        Some("no") => Some(false),
        _ => None,
    };
    let text = q.get("q").map(|t| t.chars().take(200).collect::<String>());
    let filters = [("type", kind.map(|k| k.as_str())), ("monitored", q.get("monitored")), ("q", text.as_deref())];
    let list_name = format!("web-assets:{}", s.org_id());
    let (items, next) = match pagination::parse(&q.map(), &state.keys.cursor_key, &list_name, &filters) {
        Ok(params) => {
            let filter = AssetFilter { kind, is_monitored, q: text.clone() };
            let page = state.store.list_assets(s.org_id(), &filter, &params.page).await?;
            let next = params.token(page.next).map(|t| q.with_token(&s.url("/assets"), &t));
            (page.items.into_iter().map(AssetItem::from).collect(), next)
        }
        Err(e) => {
            chrome = chrome.error(format!("Cannot show this page: {e}"));
            (Vec::new(), None)
        }
    };
    Ok(render(&ListPage {
        chrome,
        base: s.url(""),
        types: TYPES,
        kind: kind.map(|k| k.as_str().to_string()).unwrap_or_default(),
        monitored: q.get("monitored").unwrap_or("").to_string(),
        filtered: kind.is_some() || is_monitored.is_some() || text.is_some(),
        q: text.unwrap_or_default(),
        items,
        next,
    }))
}

/// The create and edit form's values.
#[derive(Default)]
pub struct AssetFormValues {
    pub kind: String,
    pub value: String,
    pub label: String,
    pub monitored: bool,
    pub interval: String,
}

#[derive(Template)]
#[template(path = "assets/form.html")]
struct FormPage {
    chrome: Chrome,
    base: String,
    types: [AssetType; 7],
    /// `None` when creating.
    asset: Option<AssetRow>,
    values: AssetFormValues,
    errors: FieldErrors,
    min_interval: i64,
}

fn form_page(
    state: &AppState,
    s: &OrgSession,
    asset: Option<AssetRow>,
    values: AssetFormValues,
    errors: FieldErrors,
) -> Result<FormPage, WebError> {
    if !s.can_write() {
        return Err(WebError::Forbidden(format!("role {} may only read in this organization", s.role().as_str())));
    }
    let title = if asset.is_some() { "Edit asset" } else { "Add asset" };
    Ok(FormPage {
        chrome: Chrome::new(s, Nav::Assets, title),
        base: s.url(""),
        types: TYPES,
        asset,
        values,
        errors,
        min_interval: state.config.monitoring.min_interval_minutes.max(1),
    })
}

/// `GET /orgs/{org}/assets/new`.
pub async fn new_form(State(state): State<AppState>, s: OrgSession) -> Result<Response, WebError> {
    let values = AssetFormValues { kind: "DOMAIN".into(), ..Default::default() };
    Ok(render(&form_page(&state, &s, None, values, FieldErrors::default())?))
}

fn values_of(form: &FormData) -> AssetFormValues {
    AssetFormValues {
        kind: form.get("type").unwrap_or("").to_string(),
        value: form.get("value").unwrap_or("").to_string(),
        label: form.get("label").unwrap_or("").to_string(),
        monitored: form.checked("isMonitored"),
        interval: form.get("monitorIntervalMinutes").unwrap_or("").to_string(),
    }
}

/// The interval field: blank is the organization's default.
fn interval_of(values: &AssetFormValues) -> Result<Option<i64>, crate::ops::FieldError> {
    if values.interval.is_empty() {
        return Ok(None);
    }
    values
        .interval
        .parse::<i64>()
        .map(Some)
        .map_err(|_| crate::ops::FieldError::new("monitorIntervalMinutes", "must be a whole number of minutes"))
}

/// `POST /orgs/{org}/assets`.
pub async fn create(
    State(state): State<AppState>,
    s: OrgSession,
    CsrfForm(form): CsrfForm,
) -> Result<Response, WebError> {
    let values = values_of(&form);
    let mut errors = FieldErrors::default();
    let kind = values.kind.parse::<AssetType>().map_err(|_| {
        errors.fields.push(crate::ops::FieldError::new("type", "choose one of the types"));
    });
    let interval = interval_of(&values).map_err(|e| errors.fields.push(e));
    if let (Ok(kind), Ok(interval)) = (kind, interval) {
        let input = AssetInput {
            kind,
            value: values.value.clone(),
            label: Some(values.label.clone()),
            is_monitored: values.monitored,
            monitor_interval_minutes: interval,
        };
        match crate::ops::assets::create_asset(&state, &s.member(), input).await {
            Ok(row) => return Ok(see_other(&s.url(&format!("/assets/{}?done=created", row.id)))),
            Err(e) => errors = FieldErrors::from_op(e)?,
        }
    }
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &form_page(&state, &s, None, values, errors)?))
}

async fn asset_of(state: &AppState, s: &OrgSession, id: &str) -> Result<AssetRow, WebError> {
    let id = AssetId::parse(id).map_err(|_| WebError::NotFound)?;
    state.store.get_asset(s.org_id(), &id).await?.ok_or(WebError::NotFound)
}

/// `GET /orgs/{org}/assets/{id}/edit`.
pub async fn edit_form(
    State(state): State<AppState>,
    s: OrgSession,
    Path((_, id)): Path<(String, String)>,
) -> Result<Response, WebError> {
    let asset = asset_of(&state, &s, &id).await?;
    let values = AssetFormValues {
        kind: asset.kind.as_str().to_string(),
        value: asset.value.clone(),
        label: asset.label.clone().unwrap_or_default(),
        monitored: asset.is_monitored,
        interval: asset.monitor_interval_minutes.map(|m| m.to_string()).unwrap_or_default(),
    };
    Ok(render(&form_page(&state, &s, Some(asset), values, FieldErrors::default())?))
}

/// `POST /orgs/{org}/assets/{id}`: the edit form.
pub async fn update(
    State(state): State<AppState>,
    s: OrgSession,
    Path((_, id)): Path<(String, String)>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, WebError> {
    let asset = asset_of(&state, &s, &id).await?;
    let mut values = values_of(&form);
    values.kind = asset.kind.as_str().to_string();
    values.value = asset.value.clone();
    let mut errors = FieldErrors::default();
    match interval_of(&values) {
        Ok(interval) => {
            let change = AssetChange {
                label: Some(Some(values.label.clone()).filter(|l| !l.is_empty())),
                is_monitored: Some(values.monitored),
                monitor_interval_minutes: Some(interval),
            };
            match crate::ops::assets::update_asset(&state, &s.member(), &asset.id, change).await {
                Ok(row) => return Ok(see_other(&s.url(&format!("/assets/{}?done=updated", row.id)))),
                Err(e) => errors = FieldErrors::from_op(e)?,
            }
        }
        Err(e) => errors.fields.push(e),
    }
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &form_page(&state, &s, Some(asset), values, errors)?))
}

/// `POST /orgs/{org}/assets/{id}/delete`.
pub async fn delete(
    State(state): State<AppState>,
    s: OrgSession,
    Path((_, id)): Path<(String, String)>,
    CsrfForm(_): CsrfForm,
) -> Result<Response, WebError> {
    let id = AssetId::parse(&id).map_err(|_| WebError::NotFound)?;
    crate::ops::assets::delete_asset(&state, &s.member(), &id).await?;
    Ok(see_other(&s.url("/assets?done=deleted")))
}

/// `POST /orgs/{org}/assets/{id}/scan`: every tool of the asset's type, now.
pub async fn scan(
    State(state): State<AppState>,
    s: OrgSession,
    Path((_, id)): Path<(String, String)>,
    CsrfForm(_): CsrfForm,
) -> Result<Response, WebError> {
    let id = AssetId::parse(&id).map_err(|_| WebError::NotFound)?;
    match crate::ops::runs::scan_asset_now(&state, &s.member(), &id).await {
        Ok(_) => Ok(see_other(&s.url(&format!("/assets/{id}?done=scan")))),
        Err(e) => {
            let errors = FieldErrors::from_op(e)?;
            let message = errors.general.unwrap_or_else(|| "The scan could not be queued.".into());
            detail_page(&state, &s, &id, Some(message)).await
        }
    }
}

/// A tool's latest result on the asset.
pub struct ToolResult {
    pub tool: ToolKey,
    pub report_id: String,
    pub finished: Option<Time>,
    pub sections: Vec<Section>,
    pub tree: String,
}

/// An alert row as lists show it.
pub struct AlertItem {
    pub row: AlertRow,
    pub triggered: Time,
}

#[derive(Template)]
#[template(path = "assets/detail.html")]
struct DetailPage {
    chrome: Chrome,
    base: String,
    asset: AssetItem,
    results: Vec<ToolResult>,
    alerts: Vec<AlertItem>,
    more_alerts: bool,
}

/// `GET /orgs/{org}/assets/{id}`.
pub async fn detail(
    State(state): State<AppState>,
    s: OrgSession,
    Path((_, id)): Path<(String, String)>,
    q: PageQuery,
) -> Result<Response, WebError> {
    let id = AssetId::parse(&id).map_err(|_| WebError::NotFound)?;
    let chrome = Chrome::new(&s, Nav::Assets, "Asset").flash(q.get("done"), FLASHES);
    Ok(render(&detail_data(&state, &s, &id, chrome).await?))
}

async fn detail_page(
    state: &AppState,
    s: &OrgSession,
    id: &AssetId,
    error: Option<String>,
) -> Result<Response, WebError> {
    let mut chrome = Chrome::new(s, Nav::Assets, "Asset");
    if let Some(e) = error {
        chrome = chrome.error(e);
    }
    Ok(render(&detail_data(state, s, id, chrome).await?))
}

async fn detail_data(
    state: &AppState,
    s: &OrgSession,
    id: &AssetId,
    mut chrome: Chrome,
) -> Result<DetailPage, WebError> {
    let (asset, latest) = state.store.asset_detail(s.org_id(), id).await?.ok_or(WebError::NotFound)?;
    chrome.title = asset.value.clone();
    let mut results = Vec::new();
    for r in latest {
        let value =
            tlink_store::decode_json_opt("reports", r.id.as_str(), "result", r.result.as_deref())?.unwrap_or_default();
        results.push(ToolResult {
            tool: r.tool,
            report_id: r.id.to_string(),
            finished: Time::opt(r.finished_at),
            sections: readable(r.tool, &value),
            tree: json_tree(&value),
        });
    }
    let filter = AlertFilter { asset_id: Some(id.clone()), ..Default::default() };
    let page = StorePage { limit: 20, after: None, from: None, until: None };
    let alerts = state.store.list_alerts(s.org_id(), &filter, &page).await?;
    Ok(DetailPage {
        chrome,
        base: s.url(""),
        asset: asset.into(),
        results,
        more_alerts: alerts.next.is_some(),
        alerts: alerts.items.into_iter().map(AlertItem::from).collect(),
    })
}

impl From<AlertRow> for AlertItem {
    fn from(row: AlertRow) -> Self {
        AlertItem { triggered: Time::at(row.triggered_at), row }
    }
}
