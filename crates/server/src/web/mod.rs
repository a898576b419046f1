//! The dashboard: server-rendered HTML pages at `/`, for people, beside the JSON API for programs.
//!
//! Pages are askama templates (`crates/server/templates`), compiled into the binary and checked at compile
//! time; the few live parts (a report's progress, new alerts) are server-sent events swapped in by the
//! vendored htmx. Stylesheet, script and htmx are embedded too ([`assets`]); no page loads anything from
//! another origin. The dashboard signs people in with the same accounts, throttle and login lifetime as
//! `/api/auth/login` ([`session`]), and acts only through [`crate::ops`] — it has no storage or job code
//! of its own; reads go through the same store methods and filters as the JSON handlers.
//!
//! - [`session`]: the session cookie, the signed-in extractors, CSRF.
//! - [`form`]: urlencoded forms (repeated fields included) and the CSRF check.
//! - [`assets`]: the embedded static files.
//! - [`page`]: the page frame (navigation, organization switcher), time and JSON views.
//! - [`error`]: why a page is not shown, as a page; [`headers`]: the security headers of every response.
//! - [`readable`]: a tool's result as tables and lists.
//! - One module per area: [`auth`], [`overview`], [`assets_pages`], [`tools`], [`alerts`], [`rules`], [`keys`],
//!   [`app_keys`] (Hawk credentials for the Threat Stack API), [`usage`], [`audit`], [`members`], [`settings`],
//!   [`agents`], [`vulns`].

pub mod agents;
pub mod alerts;
pub mod app_keys;
pub mod assets;
pub mod assets_pages;
pub mod audit;
pub mod auth;
pub mod error;
pub mod form;
pub mod headers;
pub mod keys;
pub mod members;
pub mod overview;
pub mod page;
pub mod readable;
pub mod rules;
pub mod session;
pub mod settings;
pub mod tools;
pub mod usage;
pub mod vulns;

use axum::Router;
use axum::routing::{get, post};
use tower_http::compression::CompressionLayer;
use tower_http::set_header::SetResponseHeaderLayer;

use crate::AppState;

/// The dashboard's routes (merged beside `/api` and `/v2`), with their security headers and compression.
pub fn routes() -> Router<AppState> {
    let org = |p: &str| format!("/orgs/{{org}}{p}");
    let mut r = Router::new()
        .route("/", get(auth::home))
        .route("/login", get(auth::login_page).post(auth::login))
        .route("/logout", post(auth::logout))
        .route("/switch", get(auth::switch_org))
        .route("/static/{version}/{*file}", get(assets::serve))
        .route("/favicon.ico", get(assets::favicon))
        .route(&org(""), get(overview::page))
        .route(&org("/assets"), get(assets_pages::list).post(assets_pages::create))
        .route(&org("/assets/new"), get(assets_pages::new_form))
        .route(&org("/assets/{id}"), get(assets_pages::detail).post(assets_pages::update))
        .route(&org("/assets/{id}/edit"), get(assets_pages::edit_form))
        .route(&org("/assets/{id}/delete"), post(assets_pages::delete))
        .route(&org("/assets/{id}/scan"), post(assets_pages::scan))
        .route(&org("/tools"), get(tools::runner))
        .route(&org("/tools/run"), post(tools::run))
        .route(&org("/reports/{id}"), get(tools::report))
        .route(&org("/reports/{id}/status"), get(tools::report_status))
        .route(&org("/reports/{id}/events"), get(tools::report_events))
        .route(&org("/reports/{id}/json"), get(tools::report_json))
        .route(&org("/alerts"), get(alerts::list))
        .route(&org("/alerts/rows"), get(alerts::rows))
        .route(&org("/alerts/events"), get(alerts::events))
        .route(&org("/alerts/bulk"), post(alerts::bulk))
        .route(&org("/alerts/{id}"), get(alerts::detail))
        .route(&org("/alerts/{id}/status"), post(alerts::change_status))
        .route(&org("/deliveries/{id}/redeliver"), post(alerts::redeliver))
        .route(&org("/rules"), get(rules::list).post(rules::create))
        .route(&org("/rules/new"), get(rules::new_form))
        .route(&org("/rules/test"), post(rules::test))
        .route(&org("/rules/{id}"), get(rules::edit_form).post(rules::update))
        .route(&org("/rules/{id}/toggle"), post(rules::toggle))
        .route(&org("/rules/{id}/delete"), post(rules::delete))
        .route(&org("/rules/{id}/rotate-secret"), post(rules::rotate_secret))
        .route(&org("/rules/{id}/test-delivery"), post(rules::test_delivery))
        .route(&org("/agents"), get(agents::list).post(agents::create))
        .route(&org("/agents/{id}"), get(agents::detail))
        .route(&org("/agents/enrollments/{id}/revoke"), post(agents::revoke))
        .route(&org("/vulnerabilities"), get(vulns::list))
        .route(&org("/vulnerabilities/{cve}/suppress"), post(vulns::suppress))
        .route(&org("/vulnerabilities/{cve}/unsuppress"), post(vulns::unsuppress))
        .route(&org("/keys"), get(keys::list).post(keys::create))
        .route(&org("/application-keys"), get(app_keys::page))
        .route(&org("/usage"), get(usage::page))
        .route(&org("/audit"), get(audit::page))
        .route(&org("/members"), get(members::list).post(members::add))
        .route(&org("/members/{user}/role"), post(members::change_role))
        .route(&org("/members/{user}/remove"), post(members::remove))
        .route(&org("/organizations"), post(members::create_org))
        .route(&org("/settings"), get(settings::show))
        .route(&org("/settings/interval"), post(settings::set_interval))
        .route(&org("/settings/alert-email/{user}"), post(settings::set_alert_email))
        .route(&org("/keys/{id}/revoke"), post(keys::revoke))
        .route(&org("/keys/{id}/rotate"), post(keys::rotate));
    for (name, value) in headers::security_headers() {
        r = r.layer(SetResponseHeaderLayer::if_not_present(name, value));
    }
    // Event streams are not compressed (a compressor would hold events back).
    use tower_http::compression::predicate::{DefaultPredicate, NotForContentType, Predicate as _};
    r.layer(
        CompressionLayer::new()
            .gzip(true)
            .compress_when(DefaultPredicate::new().and(NotForContentType::new("text/event-stream"))),
    )
}

/// Whether `path` is the dashboard's (not `/api`, `/v2`, `/help` or the system routes): an unknown path
/// there is answered with the not-found page instead of a JSON error.
pub fn is_page_path(path: &str) -> bool {
    !["/api", "/v2", "/help", "/healthz", "/readyz", "/metrics", "/docs"]
        .iter()
        .any(|p| path == *p || path.strip_prefix(p).is_some_and(|rest| rest.starts_with('/')))
}
