//! Routes: one module per resource, assembled here with the middleware stack and the OpenAPI document.

pub mod agents;
pub mod alerts;
pub mod assets;
pub mod audit;
pub mod auth;
pub mod document;
pub mod orgs;
pub mod rules;
pub mod settings;
pub mod system;
pub mod tools;
pub mod ts_members;
pub mod usage;
pub mod users;
pub mod v2;
pub mod vulns;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, Request, Uri, header};
use axum::response::IntoResponse;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::AppState;
use crate::http::error::ApiError;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "tlink API",
        description = "Self-hosted threat intelligence and security monitoring. Two API families: TLINK \
            (`/api`), where every response is an envelope `{success, data, message, meta}`, and Threat Stack \
            API v2 (`/v2`, `/help`), with Threat Stack's shapes and errors as `{\"errors\": [...]}`. \
            Authenticate with `Authorization: Bearer <accessToken>` (from `/api/auth/login`), \
            `X-API-Key: tlpro_…`, or Hawk (id = user id, key = an API key, sha256, ext = organization id; \
            answers carry `Server-Authorization`); `/v2` and `/help` take Hawk only.\n\n\
            Rate limits (each configurable under `[limits]`): on every route, each client IP 1,000 requests a \
            minute, then a 15-minute lock-out. On `/api`, each credential by the organization's plan (FREE 30, \
            PRO 120, BUSINESS 300 a minute, ENTERPRISE custom; 120 outside an organization). On `/v2` and \
            `/help`, each organization 200 a minute across all its credentials, whatever its TLINK plan (the \
            plan's per-credential limit does not apply there). Every response, errors included, carries the \
            bucket that governed it: `X-RateLimit-Limit`, `X-RateLimit-Remaining`, `X-RateLimit-Reset` (Unix \
            epoch seconds when the bucket is full), and the IETF `RateLimit-Policy` (`\"<bucket>\";q=<limit>;w=60`) \
            and `RateLimit` (`\"<bucket>\";r=<remaining>;t=<seconds>`). On `/api` every response also carries \
            `Retry-After`: the seconds before the bucket takes another request, 0 while it has room (a 429's \
            is the wait, a monthly tool-run quota's until the month resets). On `/v2` and `/help` every \
            response carries Threat Stack's `x-rate-limit-limit`, `x-rate-limit-remaining` and \
            `x-rate-limit-reset` (milliseconds to wait when limited, else 0), and a 429 `Retry-After` in \
            seconds.\n\n\
            Query parameters: each operation takes exactly the ones it documents; any other is a 400 naming \
            it. Lists take `limit` (1–100; default 50 on `/api`, 100 on `/v2`), `token` (from \
            `meta.nextToken`, or `token` on `/v2`), and `from`/`until` on `createdAt`: ISO-8601 at any \
            precision from `yyyy` to fractions of a second, with an optional offset (`Z`, `+02:00`; without \
            one, UTC), as Python's `isoformat()` and JavaScript's `toISOString()` write them. A partial value \
            names its whole period: `from` starts at the period's first instant and `until` includes all of \
            it (`until=2026-01-31` includes that whole day, `until=2026-01` the whole month)."
    ),
    modifiers(&SecuritySchemes),
    tags(
        (name = "auth", description = "Sessions: login, refresh, logout"),
        (name = "users", description = "The signed-in user and their API keys"),
        (name = "orgs", description = "Organizations and members"),
        (name = "assets", description = "Monitored assets"),
        (name = "alerts", description = "Alert rules, alerts, and their webhook and e-mail deliveries"),
        (name = "tools", description = "The tool runner: queue a run (202), then read its report"),
        (name = "system", description = "Health, readiness, metrics"),
        (name = "agents", description = "Host agents: enrollment tokens, reports, inventories"),
        (name = "threat-stack", description = "Threat Stack API v2: Hawk with the organization id in ext, \
            `{\"<collection>\": [...], \"token\": ...}` pages of at most 100, errors as `{\"errors\": [...]}` \
            (unknown routes, wrong methods, 413 and 415 included). Limited per organization, 200 requests a \
            minute across all its credentials (`limits.org_per_minute`) whatever the TLINK plan, and per \
            client IP; `x-rate-limit-*` headers on every response.")
    )
)]
struct ApiDoc;

struct SecuritySchemes;

impl Modify for SecuritySchemes {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).bearer_format("JWT").build()),
        );
        components.add_security_scheme("apiKey", SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::new("X-API-Key"))));
        components.add_security_scheme(
            "agentToken",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "X-Agent-Token",
                "An agent enrollment token (`tlink agent --token`): it can only report a host's inventory.",
            ))),
        );
        components.add_security_scheme(
            "hawk",
            SecurityScheme::ApiKey(ApiKey::Header(ApiKeyValue::with_description(
                "Authorization",
                "Hawk id=\"<user id>\", ts, nonce, hash, ext=\"<organization id>\", mac (sha256, keyed with an API key)",
            ))),
        );
    }
}

/// The route table with its OpenAPI document.
fn api_routes() -> (Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, mut doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(auth::login))
        .routes(routes!(auth::refresh))
        .routes(routes!(auth::logout))
        .routes(routes!(users::me))
        .routes(routes!(users::list_api_keys, users::create_api_key))
        .routes(routes!(users::revoke_api_key))
        .routes(routes!(users::rotate_api_key))
        .routes(routes!(orgs::list_orgs, orgs::create_org))
        .routes(routes!(orgs::get_org))
        .routes(routes!(orgs::list_members, orgs::add_member))
        .routes(routes!(orgs::update_member, orgs::remove_member))
        .routes(routes!(settings::get_settings, settings::update_settings))
        .routes(routes!(usage::get_usage))
        .routes(routes!(audit::list_audit))
        .routes(routes!(audit::v2_list_audit))
        .routes(routes!(usage::set_plan))
        .routes(routes!(usage::hawk_self_test))
        .routes(routes!(agents::create_enrollment, agents::list_enrollments))
        .routes(routes!(agents::revoke_enrollment))
        .routes(routes!(agents::report))
        .routes(routes!(agents::list_agents))
        .routes(routes!(agents::get_agent))
        .routes(routes!(agents::v2_list_agents))
        .routes(routes!(agents::v2_get_agent))
        .routes(routes!(v2::list_alerts))
        .routes(routes!(v2::severity_counts))
        .routes(routes!(v2::dismiss))
        .routes(routes!(v2::get_alert))
        .routes(routes!(v2::alert_events))
        .routes(routes!(v2::alert_event))
        .routes(routes!(ts_members::list_members, ts_members::add_member))
        .routes(routes!(ts_members::remove_member))
        .routes(routes!(vulns::list_vulnerabilities))
        .routes(routes!(vulns::list_suppressed))
        .routes(routes!(vulns::list_for_agent))
        .routes(routes!(vulns::list_for_server))
        .routes(routes!(vulns::list_for_package))
        .routes(routes!(vulns::servers))
        .routes(routes!(vulns::suppress))
        .routes(routes!(vulns::unsuppress))
        .routes(routes!(assets::list_assets, assets::create_asset))
        .routes(routes!(assets::get_asset, assets::update_asset, assets::delete_asset))
        .routes(routes!(assets::monitor_now))
        .routes(routes!(rules::list_rules, rules::create_rule))
        .routes(routes!(rules::get_rule, rules::update_rule, rules::delete_rule))
        .routes(routes!(rules::rotate_secret))
        .routes(routes!(rules::test_rule))
        .routes(routes!(rules::test_delivery))
        .routes(routes!(alerts::list_alerts))
        .routes(routes!(alerts::get_alert, alerts::update_alert))
        .routes(routes!(alerts::list_deliveries))
        .routes(routes!(alerts::redeliver))
        .routes(routes!(tools::list_tools))
        .routes(routes!(tools::run_tool))
        .routes(routes!(tools::list_reports))
        .routes(routes!(tools::get_report))
        .routes(routes!(system::healthz))
        .routes(routes!(system::readyz))
        .split_for_parts();
    document::document(&mut doc);
    crate::http::limits::openapi::document(&mut doc);
    (router, doc)
}

/// An error answered in the shape of the family `uri` belongs to: Threat Stack's `{"errors": […]}` under
/// `/v2` and `/help`, the envelope elsewhere (see [`crate::http::error::respond`]).
fn family_error(uri: &Uri, err: ApiError) -> axum::response::Response {
    crate::http::error::respond(err, crate::http::limits::is_threat_stack_path(uri.path()))
}

/// The OpenAPI document (served at `/api/openapi.json` through [`document::served`]).
pub fn openapi() -> utoipa::openapi::OpenApi {
    api_routes().1
}

/// Another front end served beside the API (the dashboard): its routes, which unknown paths are its to
/// answer, and its answer to them.
pub struct Pages {
    pub routes: Router<AppState>,
    pub owns: fn(&str) -> bool,
    pub not_found: fn() -> axum::response::Response,
}

/// The router: the API's routes, `pages` beside them, and the middleware around all.
pub fn router(state: AppState, pages: Option<Pages>) -> Router {
    crate::telemetry::prometheus();
    let (api, doc) = api_routes();
    // Every documented operation takes exactly the query parameters the document lists.
    let documented = crate::http::extract::DocumentedQueries::from_openapi(&doc);
    let api =
        api.route_layer(axum::middleware::from_fn_with_state(documented, crate::http::extract::documented_query_layer));
    let max_body = state.config.max_body_bytes;
    let request_id = HeaderName::from_static("x-request-id");

    let (routes, owns) = match pages {
        Some(p) => (p.routes, Some((p.owns, p.not_found))),
        None => (Router::new(), None),
    };
    let app = api
        .merge(system::routes(&doc, state.config.monitoring.min_interval_minutes.max(1)))
        .merge(routes)
        .fallback(move |uri: Uri| async move {
            match owns {
                Some((owns, not_found)) if owns(uri.path()) => not_found(),
                _ => family_error(&uri, ApiError::NotFound("no such route".into())),
            }
        })
        .method_not_allowed_fallback(|uri: Uri| async move {
            family_error(&uri, ApiError::MethodNotAllowed("method not allowed on this route".into()))
        })
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::http::gate))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state);

    app.layer(
        ServiceBuilder::new()
            .layer(SetSensitiveRequestHeadersLayer::new([
                header::AUTHORIZATION,
                header::COOKIE,
                HeaderName::from_static("x-api-key"),
            ]))
            .layer(SetRequestIdLayer::new(request_id.clone(), MakeRequestUuid))
            .layer(
                TraceLayer::new_for_http()
                    .make_span_with(|req: &Request<_>| {
                        let id = req.headers().get("x-request-id").and_then(|v| v.to_str().ok()).unwrap_or("");
                        tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
                    })
                    .on_response(DefaultOnResponse::new().level(Level::INFO).latency_unit(tower_http::LatencyUnit::Micros)),
            )
            .layer(PropagateRequestIdLayer::new(request_id))
            .layer(CatchPanicLayer::custom(|_| {
                ApiError::Internal(anyhow::anyhow!("handler panicked")).into_response()
            })),
    )
}
