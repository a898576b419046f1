//! Health, readiness, metrics, the OpenAPI document and its docs UI (served from the binary, no CDN).

use axum::Router;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_swagger_ui::SwaggerUi;

use crate::AppState;
use crate::http::error::{ApiError, ApiResult, Envelope, ok};

#[derive(Serialize, ToSchema)]
pub struct Health {
    /// `ok`.
    pub status: &'static str,
}

/// Process is up.
#[utoipa::path(get, path = "/healthz", tag = "system", responses((status = 200, body = Envelope<Health>)))]
pub async fn healthz() -> Response {
    ok(Health { status: "ok" })
}

/// The database answers.
#[utoipa::path(get, path = "/readyz", tag = "system", responses(
    (status = 200, body = Envelope<Health>),
    (status = 503, body = crate::http::error::ErrorBody, description = "Database unreachable"),
))]
pub async fn readyz(State(state): State<AppState>) -> ApiResult<Response> {
    state.store.ping().await.map_err(|e| {
        tracing::warn!(error = %e, "readiness check failed");
        ApiError::Unavailable("database unreachable".into())
    })?;
    Ok(ok(Health { status: "ok" }))
}

/// Prometheus metrics in the text exposition format.
async fn metrics() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], crate::telemetry::prometheus().render())
}

/// What a worker-only process serves on `worker.metrics_listen`: `/metrics` and a bare `/healthz`.
pub fn worker_routes() -> Router {
    Router::new().route("/metrics", get(metrics)).route("/healthz", get(|| async { "ok" }))
}

/// `/metrics`, `/api/openapi.json` and `/docs`. The document is serialised once, here: the bytes (about
/// 750 kB) are all that is kept, and each request for it is a copy-free answer instead of a serialisation.
///
/// With the default settings the bytes are those of [`super::document::DEFAULT`], compiled in, and the
/// document's tree is never built: it peaks at several megabytes, and the allocator keeps memory freed at
/// start-up resident until the process has been busy for a while, so building it would show in every
/// idle server's memory.
pub fn routes(doc: &utoipa::openapi::OpenApi, min_interval: i64) -> Router<AppState> {
    let bytes = if min_interval == crate::monitoring::MonitoringConfig::default().min_interval_minutes {
        Ok(super::document::compact(super::document::DEFAULT))
    } else {
        super::document::served(doc, min_interval).and_then(|v| serde_json::to_vec(&v))
    };
    let json = axum::body::Bytes::from(bytes.unwrap_or_else(|e| {
        // A document built from our own types always serialises; say so loudly if it ever does not.
        tracing::error!(error = %e, "the OpenAPI document could not be serialised");
        b"{}".to_vec()
    }));
    let document = move || {
        let json = json.clone();
        async move { ([(header::CONTENT_TYPE, "application/json")], json) }
    };
    Router::new()
        .route("/metrics", get(metrics))
        .route("/api/openapi.json", get(document))
        .merge(SwaggerUi::new("/docs").config(utoipa_swagger_ui::Config::from("/api/openapi.json")))
}
