//! API keys: create (the key shown once, with a copy button and the lines to use it), list with prefix
//! and last use, revoke, and rotate (a new key replacing the old in one step).

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use tlink_domain::ApiKeyId;
use tlink_store::{ApiKeyRow, PageQuery as StorePage};

use super::form::CsrfForm;
use super::page::{Chrome, FieldErrors, Nav, PageQuery, Time, WebError, render, render_status, see_other};
use super::session::OrgSession;
use crate::AppState;
use crate::ops::keys::IssuedKey;

/// A key as the list shows it.
pub struct KeyItem {
    pub row: ApiKeyRow,
    pub created: Time,
    pub last_used: Option<Time>,
    pub ends: Option<Time>,
}

/// A key just made, shown once.
pub struct NewKey {
    pub name: String,
    pub key: String,
    /// The key it replaced, and when that one stops working.
    pub replaced: Option<(String, Option<Time>)>,
}

#[derive(Template)]
#[template(path = "keys.html")]
struct KeysPage {
    chrome: Chrome,
    base: String,
    keys: Vec<KeyItem>,
    fresh: Option<NewKey>,
    errors: FieldErrors,
    name: String,
    origin: String,
    user_id: String,
}

/// The server's origin as the browser sees it (for the example commands).
fn origin(headers: &axum::http::HeaderMap) -> String {
    let host = headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost:8080");
    format!("http://{host}")
}

async fn page(
    state: &AppState,
    s: &OrgSession,
    headers: &axum::http::HeaderMap,
    fresh: Option<NewKey>,
    errors: FieldErrors,
    name: String,
    done: Option<&str>,
) -> Result<KeysPage, WebError> {
    // A user holds at most 100 live keys: one page shows them all.
    let rows =
        state.store.list_api_keys(s.user_id(), &StorePage { limit: 100, after: None, from: None, until: None }).await?;
    let keys = rows
        .items
        .into_iter()
        .map(|row| KeyItem {
            created: Time::at(row.created_at),
            last_used: Time::opt(row.last_used_at),
            ends: Time::opt(row.expires_at),
            row,
        })
        .collect();
    let chrome = Chrome::new(s, Nav::Keys, "API keys").flash(done, &[("revoked", "Key revoked: it no longer works.")]);
    Ok(KeysPage {
        chrome,
        base: s.url(""),
        keys,
        fresh,
        errors,
        name,
        origin: origin(headers),
        user_id: s.user_id().to_string(),
    })
}

/// `GET /orgs/{org}/keys`.
pub async fn list(
    State(state): State<AppState>,
    s: OrgSession,
    headers: axum::http::HeaderMap,
    q: PageQuery,
) -> Result<Response, WebError> {
    Ok(render(&page(&state, &s, &headers, None, FieldErrors::default(), String::new(), q.get("done")).await?))
}

fn shown(issued: IssuedKey, replaced: Option<(String, Option<Time>)>) -> NewKey {
    NewKey { name: issued.row.name, key: issued.key, replaced }
}

/// `POST /orgs/{org}/keys`: `name`. Answers with the page showing the new key once (not a redirect: the
/// key is never stored and cannot be shown again).
pub async fn create(
    State(state): State<AppState>,
    s: OrgSession,
    headers: axum::http::HeaderMap,
    CsrfForm(form): CsrfForm,
) -> Result<Response, WebError> {
    let name = form.get("name").unwrap_or("").to_string();
    match crate::ops::keys::create_key(&state, s.user_id(), &s.member().origin, &name).await {
        Ok(issued) => {
            let p = page(&state, &s, &headers, Some(shown(issued, None)), FieldErrors::default(), String::new(), None)
                .await?;
            Ok(no_store(render(&p)))
        }
        Err(e) => {
            let errors = FieldErrors::from_op(e)?;
            let p = page(&state, &s, &headers, None, errors, name, None).await?;
            Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &p))
        }
    }
}

fn no_store(mut r: Response) -> Response {
    r.headers_mut().insert(axum::http::header::CACHE_CONTROL, axum::http::HeaderValue::from_static("no-store"));
    r
}

/// `POST /orgs/{org}/keys/{id}/revoke`.
pub async fn revoke(
    State(state): State<AppState>,
    s: OrgSession,
    Path((_, id)): Path<(String, String)>,
    CsrfForm(_): CsrfForm,
) -> Result<Response, WebError> {
    let id = ApiKeyId::parse(&id).map_err(|_| WebError::NotFound)?;
    crate::ops::keys::revoke_key(&state, s.user_id(), &s.member().origin, &id).await?;
    Ok(see_other(&s.url("/keys?done=revoked")))
}

/// `POST /orgs/{org}/keys/{id}/rotate`: `graceSeconds` (0 ends the old key now; at most a day).
pub async fn rotate(
    State(state): State<AppState>,
    s: OrgSession,
    headers: axum::http::HeaderMap,
    Path((_, id)): Path<(String, String)>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, WebError> {
    let id = ApiKeyId::parse(&id).map_err(|_| WebError::NotFound)?;
    let grace = form.get("graceSeconds").and_then(|g| g.parse::<u64>().ok()).unwrap_or(0);
    let old = state
        .store
        .list_api_keys(s.user_id(), &StorePage { limit: 100, after: None, from: None, until: None })
        .await?
        .items
        .into_iter()
        .find(|k| k.id == id);
    match crate::ops::keys::rotate_key(&state, s.user_id(), &s.member().origin, &id, grace).await {
        Ok(issued) => {
            let ends =
                (grace > 0).then(|| Time::at(tlink_store::now_millis() + i64::try_from(grace).unwrap_or(0) * 1000));
            let replaced = old.map(|k| (k.prefix, ends));
            let p =
                page(&state, &s, &headers, Some(shown(issued, replaced)), FieldErrors::default(), String::new(), None)
                    .await?;
            Ok(no_store(render(&p)))
        }
        Err(e) => {
            let errors = FieldErrors::from_op(e)?;
            let p = page(&state, &s, &headers, None, errors, String::new(), None).await?;
            Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &p))
        }
    }
}
