//! Settings: the organization's default scan interval (everyone sees it; owners and admins change it) and
//! each member's alert e-mail switch (a member turns their own on or off; owners and admins anyone's).
//! Changes go through `ops::settings`, the operations behind `PATCH /api/orgs/{orgId}/settings`, which
//! refuse what the page does not offer.

use askama::Template;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use tlink_domain::UserId;

use super::form::{CsrfForm, FormData};
use super::page::{Chrome, FieldErrors, Nav, PageQuery, WebError, render, render_status, see_other};
use super::session::OrgSession;
use crate::AppState;
use crate::http::pagination;
use crate::ops::FieldError;
use crate::ops::settings::{DEFAULT_INTERVAL_MINUTES, interval_bounds};

const FLASHES: &[(&str, &str)] = &[
    ("interval", "Default scan interval saved."),
    ("alerts-on", "Alert e-mail turned on."),
    ("alerts-off", "Alert e-mail turned off."),
];

/// `minutes` in words: whole days or whole hours with the minutes beside them, else minutes ("1 day (1440
/// minutes)", "6 hours (360 minutes)", "90 minutes").
pub fn describe_minutes(minutes: i64) -> String {
    let plural = |n: i64, unit: &str| if n == 1 { format!("1 {unit}") } else { format!("{n} {unit}s") };
    let words = match minutes {
        m if m > 0 && m % 1440 == 0 => plural(m / 1440, "day"),
        m if m > 0 && m % 60 == 0 => plural(m / 60, "hour"),
        m => return plural(m, "minute"),
    };
    format!("{words} ({minutes} minutes)")
}

/// The switch's wanted state from the form's `on` (`true` or `false`; anything else is no answer).
pub fn wanted(form: &FormData) -> Option<bool> {
    match form.get("on") {
        Some("true") => Some(true),
        Some("false") => Some(false),
        _ => None,
    }
}

/// A member's alert e-mail, as the table shows it.
pub struct AlertItem {
    pub user_id: String,
    pub email: String,
    pub you: bool,
    pub on: bool,
    /// The reader may turn it on or off (their own, or anyone's for owners and admins).
    pub can_change: bool,
}

#[derive(Template)]
#[template(path = "settings.html")]
struct SettingsPage {
    chrome: Chrome,
    base: String,
    /// The reader changes the interval and everyone's alert e-mail (owner or admin).
    manage: bool,
    /// The interval in words.
    interval_text: String,
    /// The interval field's value (what was typed, after an error).
    interval_value: String,
    min: i64,
    max: i64,
    errors: FieldErrors,
    members: Vec<AlertItem>,
    next: Option<String>,
}

async fn page(
    state: &AppState,
    s: &OrgSession,
    q: &PageQuery,
    typed: Option<String>,
    errors: FieldErrors,
) -> Result<SettingsPage, WebError> {
    let mut chrome = Chrome::new(s, Nav::Settings, "Settings").flash(q.get("done"), FLASHES);
    let manage = s.role().can_manage_members();
    let interval = state.store.org_monitor_interval(s.org_id()).await?.unwrap_or(DEFAULT_INTERVAL_MINUTES);
    let (min, max) = interval_bounds(state);
    let list = format!("web-settings-members:{}", s.org_id());
    let (members, next) = match pagination::parse(&q.map(), &state.keys.cursor_key, &list, &[]) {
        Ok(params) => {
            let page = state.store.list_members(s.org_id(), &params.page).await?;
            let next = params.token(page.next).map(|t| q.with_token(&s.url("/settings"), &t));
            let org = s.org_id();
            // One short read per member on the page (at most 100), run together.
            let reads = page.items.iter().map(|m| state.store.member_notify(org, &m.user_id));
            let flags = futures_util::future::try_join_all(reads).await?;
            let members = page
                .items
                .into_iter()
                .zip(flags)
                .map(|(m, on)| {
                    let you = m.user_id == *s.user_id();
                    AlertItem {
                        user_id: m.user_id.to_string(),
                        email: m.email,
                        you,
                        on: on.unwrap_or(false),
                        can_change: you || manage,
                    }
                })
                .collect();
            (members, next)
        }
        Err(e) => {
            chrome = chrome.error(format!("Cannot show this page: {e}"));
            (Vec::new(), None)
        }
    };
    Ok(SettingsPage {
        chrome,
        base: s.url(""),
        manage,
        interval_text: describe_minutes(interval),
        interval_value: typed.unwrap_or_else(|| interval.to_string()),
        min,
        max,
        errors,
        members,
        next,
    })
}

/// `GET /orgs/{org}/settings?token=`.
pub async fn show(State(state): State<AppState>, s: OrgSession, q: PageQuery) -> Result<Response, WebError> {
    Ok(render(&page(&state, &s, &q, None, FieldErrors::default()).await?))
}

/// `POST /orgs/{org}/settings/interval`: `monitorIntervalMinutes` (owners and admins).
pub async fn set_interval(
    State(state): State<AppState>,
    s: OrgSession,
    CsrfForm(form): CsrfForm,
) -> Result<Response, WebError> {
    let typed = form.get("monitorIntervalMinutes").unwrap_or("").to_string();
    let errors = match typed.parse::<i64>() {
        Ok(minutes) => match crate::ops::settings::set_monitor_interval(&state, &s.member(), minutes).await {
            Ok(()) => return Ok(see_other(&s.url("/settings?done=interval"))),
            Err(e) => FieldErrors::from_op(e)?,
        },
        Err(_) => FieldErrors {
            fields: vec![FieldError::new("monitorIntervalMinutes", "must be a whole number of minutes")],
            general: None,
        },
    };
    let p = page(&state, &s, &PageQuery::default(), Some(typed), errors).await?;
    Ok(render_status(StatusCode::UNPROCESSABLE_ENTITY, &p))
}

/// `POST /orgs/{org}/settings/alert-email/{user}`: `on` (`true` or `false`).
pub async fn set_alert_email(
    State(state): State<AppState>,
    s: OrgSession,
    Path((_, user)): Path<(String, String)>,
    CsrfForm(form): CsrfForm,
) -> Result<Response, WebError> {
    let user = UserId::parse(&user).map_err(|_| WebError::NotFound)?;
    let on = wanted(&form).ok_or_else(|| WebError::BadRequest("say whether alert e-mail is on or off".into()))?;
    crate::ops::settings::set_alert_email(&state, &s.member(), &user, on).await?;
    Ok(see_other(&s.url(if on { "/settings?done=alerts-on" } else { "/settings?done=alerts-off" })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_in_words() {
        assert_eq!(describe_minutes(1440), "1 day (1440 minutes)");
        assert_eq!(describe_minutes(2880), "2 days (2880 minutes)");
        assert_eq!(describe_minutes(60), "1 hour (60 minutes)");
        assert_eq!(describe_minutes(360), "6 hours (360 minutes)");
        assert_eq!(describe_minutes(90), "90 minutes");
        assert_eq!(describe_minutes(1), "1 minute");
        assert_eq!(describe_minutes(0), "0 minutes");
    }

    #[test]
    fn the_switch_says_on_or_off() {
        assert_eq!(wanted(&FormData::parse(b"on=true&csrf=x")), Some(true));
        assert_eq!(wanted(&FormData::parse(b"on=+false+")), Some(false));
        assert_eq!(wanted(&FormData::parse(b"on=yes")), None);
        assert_eq!(wanted(&FormData::parse(b"")), None);
    }
}
