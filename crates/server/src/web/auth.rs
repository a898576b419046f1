//! Signing in and out, the home redirect and the organization switcher.

use askama::Template;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::form::{CsrfForm, FormData, same_origin};
use super::page::{WebError, render_status, see_other, version};
use super::session::{Session, cookie, cookie_name, set_cookie};
use crate::AppState;
use crate::credentials::random_token;
use crate::http::extract::ClientIp;
use crate::ops::sessions::{self, SignInError};

/// The cookie holding the sign-in form's CSRF token (double submit: there is no session yet).
const LOGIN_COOKIE: &str = "tlink_login";

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    v: &'static str,
    csrf: String,
    next: String,
    email: String,
    error: Option<String>,
    signed_out: bool,
}

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
    out: Option<String>,
}

/// Where to go after signing in: a path of this site only (never `//host`).
fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if n.starts_with('/') && !n.starts_with("//") && !n.contains('\\') => n.to_string(),
        _ => "/".to_string(),
    }
}

fn login_form(
    state: &AppState,
    status: StatusCode,
    next: String,
    email: String,
    error: Option<String>,
    out: bool,
) -> Response {
    let csrf = random_token(32);
    let page = LoginPage { v: version(), csrf: csrf.clone(), next, email, error, signed_out: out };
    let mut r = render_status(status, &page);
    if let Ok(v) = HeaderValue::from_str(&set_cookie(state, LOGIN_COOKIE, &csrf, 3600)) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// `GET /login`.
pub async fn login_page(
    State(state): State<AppState>,
    session: Option<Session>,
    Query(q): Query<LoginQuery>,
) -> Response {
    if session.is_some() {
        return see_other(&safe_next(q.next.as_deref()));
    }
    let next = safe_next(q.next.as_deref());
    login_form(&state, StatusCode::OK, next, String::new(), None, q.out.is_some())
}

/// `POST /login`: the same accounts, throttle and login lifetime as `/api/auth/login`.
pub async fn login(
    State(state): State<AppState>,
    ClientIp(peer): ClientIp,
    req: Request,
) -> Result<Response, WebError> {
    let (parts, body) = req.into_parts();
    let expected = cookie(&parts, LOGIN_COOKIE).map(str::to_string);
    let origin_ok = same_origin(&parts.headers);
    let body = axum::body::to_bytes(body, 64 * 1024)
        .await
        .map_err(|_| WebError::BadRequest("the form is too large".into()))?;
    let form = FormData::parse(&body);
    let next = safe_next(form.get("next"));
    let email = form.get("email").unwrap_or("").to_string();
    let token_ok = match (expected.as_deref(), form.raw("csrf")) {
        (Some(e), Some(p)) => {
            use subtle::ConstantTimeEq as _;
            !e.is_empty() && bool::from(e.as_bytes().ct_eq(p.as_bytes()))
        }
        _ => false,
    };
    if !origin_ok || !token_ok {
        let msg = "The sign-in form expired. Try again.".to_string();
        return Ok(login_form(&state, StatusCode::FORBIDDEN, next, email, Some(msg), false));
    }
    let password = form.raw("password").unwrap_or("").to_string();
    let ip = peer.map_or_else(|| "local".to_string(), |a| a.to_string());
    match sessions::sign_in(&state, &email, password, &ip).await {
        Ok(signed) => {
            let max_age = (signed.expires_at - tlink_store::now_millis()) / 1000;
            let mut r = see_other(&next);
            let session = set_cookie(&state, cookie_name(&state), &signed.refresh_token, max_age);
            let clear = set_cookie(&state, LOGIN_COOKIE, "", 0);
            for c in [session, clear] {
                if let Ok(v) = HeaderValue::from_str(&c) {
                    r.headers_mut().append(header::SET_COOKIE, v);
                }
            }
            tracing::info!(user = %signed.user.id, "signed in to the dashboard");
            Ok(r)
        }
        Err(SignInError::Invalid) => {
            let msg = "Wrong e-mail or password.".to_string();
            Ok(login_form(&state, StatusCode::UNAUTHORIZED, next, email, Some(msg), false))
        }
        Err(SignInError::Throttled(wait)) => {
            let minutes = wait.div_ceil(60);
            let msg = format!("Too many failed sign-ins. Try again in {minutes} minute(s).");
            let mut r = login_form(&state, StatusCode::TOO_MANY_REQUESTS, next, email, Some(msg), false);
            if let Ok(v) = HeaderValue::from_str(&wait.to_string()) {
                r.headers_mut().insert(header::RETRY_AFTER, v);
            }
            Ok(r)
        }
        Err(SignInError::Op(e)) => Err(e.into()),
    }
}

/// `POST /logout`: ends the login and forgets the cookie.
pub async fn logout(
    State(state): State<AppState>,
    session: Session,
    CsrfForm(_): CsrfForm,
) -> Result<Response, WebError> {
    sessions::sign_out(&state, &session.token).await?;
    let mut r = see_other("/login?out=1");
    if let Ok(v) = HeaderValue::from_str(&set_cookie(&state, cookie_name(&state), "", 0)) {
        r.headers_mut().append(header::SET_COOKIE, v);
    }
    Ok(r)
}

/// `GET /`: the first organization's overview.
pub async fn home(State(state): State<AppState>, session: Session) -> Result<Response, WebError> {
    let orgs = state.store.all_orgs_for_user(&session.user.id, 1).await?;
    match orgs.first() {
        Some(o) => Ok(see_other(&format!("/orgs/{}", o.id))),
        None => Err(WebError::Forbidden(
            "You are not a member of any organization yet. Ask an owner to add you, or create one with the API \
             (POST /api/orgs)."
                .into(),
        )),
    }
}

#[derive(Deserialize)]
pub struct SwitchQuery {
    org: Option<String>,
}

/// `GET /switch?org=<id>`: the organization switcher (a form that works without script).
pub async fn switch_org(_session: Session, Query(q): Query<SwitchQuery>) -> Response {
    match q.org.as_deref().and_then(|o| tlink_domain::OrgId::parse(o).ok()) {
        Some(org) => see_other(&format!("/orgs/{org}")),
        None => WebError::NotFound.into_response(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn next_stays_on_this_site() {
        assert_eq!(super::safe_next(Some("/orgs/x/alerts?status=OPEN")), "/orgs/x/alerts?status=OPEN");
        assert_eq!(super::safe_next(Some("//evil.example/")), "/");
        assert_eq!(super::safe_next(Some("https://evil.example/")), "/");
        assert_eq!(super::safe_next(Some("/\\evil.example")), "/");
        assert_eq!(super::safe_next(None), "/");
    }
}
