//! Health, readiness, metrics, the OpenAPI document and the docs UI.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::json;

use crate::support::{Auth, TestApp, random_id};

/// Every route the API serves: method and OpenAPI path.
const ROUTES: &[(&str, &str)] = &[
    ("post", "/api/auth/login"),
    ("post", "/api/auth/refresh"),
    ("post", "/api/auth/logout"),
    ("get", "/api/users/me"),
    ("get", "/api/users/me/api-keys"),
    ("post", "/api/users/me/api-keys"),
    ("delete", "/api/users/me/api-keys/{keyId}"),
    ("post", "/api/users/me/api-keys/{keyId}/rotate"),
    ("get", "/api/orgs/{orgId}/usage"),
    ("put", "/api/orgs/{orgId}/plan"),
    ("get", "/help/hawk/self-test"),
    ("post", "/api/orgs/{orgId}/agent-enrollments"),
    ("get", "/api/orgs/{orgId}/agent-enrollments"),
    ("delete", "/api/orgs/{orgId}/agent-enrollments/{enrollmentId}"),
    ("post", "/api/agent/report"),
    ("get", "/api/orgs/{orgId}/agents"),
    ("get", "/api/orgs/{orgId}/agents/{agentId}"),
    ("get", "/v2/agents"),
    ("get", "/v2/agents/{id}"),
    ("get", "/v2/alerts"),
    ("get", "/v2/alerts/severity-counts"),
    ("post", "/v2/alerts/dismiss"),
    ("get", "/v2/alerts/{id}"),
    ("get", "/v2/alerts/{id}/events"),
    ("get", "/v2/alerts/{id}/events/{eventId}"),
    ("get", "/v2/organizations/members"),
    ("post", "/v2/organizations/members"),
    ("delete", "/v2/organizations/members/{userId}"),
    ("get", "/v2/vulnerabilities"),
    ("get", "/v2/vulnerabilities/suppressed"),
    ("get", "/v2/vulnerabilities/agent/{agentId}"),
    ("get", "/v2/vulnerabilities/server/{server}"),
    ("get", "/v2/vulnerabilities/package/{pkg}"),
    ("get", "/v2/vulnerabilities/{cve}/servers"),
    ("post", "/v2/vulnerabilities/{cve}/suppress"),
    ("post", "/v2/vulnerabilities/{cve}/unsuppress"),
    ("get", "/api/orgs"),
    ("post", "/api/orgs"),
    ("get", "/api/orgs/{orgId}"),
    ("get", "/api/orgs/{orgId}/members"),
    ("post", "/api/orgs/{orgId}/members"),
    ("patch", "/api/orgs/{orgId}/members/{userId}"),
    ("delete", "/api/orgs/{orgId}/members/{userId}"),
    ("get", "/api/orgs/{orgId}/settings"),
    ("patch", "/api/orgs/{orgId}/settings"),
    ("get", "/api/orgs/{orgId}/assets"),
    ("post", "/api/orgs/{orgId}/assets"),
    ("get", "/api/orgs/{orgId}/assets/{assetId}"),
    ("patch", "/api/orgs/{orgId}/assets/{assetId}"),
    ("delete", "/api/orgs/{orgId}/assets/{assetId}"),
    ("post", "/api/orgs/{orgId}/assets/{assetId}/monitor-now"),
    ("get", "/api/orgs/{orgId}/alert-rules"),
    ("post", "/api/orgs/{orgId}/alert-rules"),
    ("get", "/api/orgs/{orgId}/alert-rules/{ruleId}"),
    ("patch", "/api/orgs/{orgId}/alert-rules/{ruleId}"),
    ("delete", "/api/orgs/{orgId}/alert-rules/{ruleId}"),
    ("post", "/api/orgs/{orgId}/alert-rules/{ruleId}/rotate-secret"),
    ("post", "/api/orgs/{orgId}/alert-rules/test"),
    ("post", "/api/orgs/{orgId}/alert-rules/{ruleId}/test-delivery"),
    ("get", "/api/orgs/{orgId}/audit-log"),
    ("get", "/v2/auditlogs"),
    ("get", "/api/orgs/{orgId}/alerts"),
    ("get", "/api/orgs/{orgId}/alerts/{alertId}"),
    ("patch", "/api/orgs/{orgId}/alerts/{alertId}"),
    ("get", "/api/orgs/{orgId}/alerts/{alertId}/deliveries"),
    ("post", "/api/orgs/{orgId}/deliveries/{deliveryId}/redeliver"),
    ("get", "/api/tools"),
    ("post", "/api/orgs/{orgId}/tools/run"),
    ("get", "/api/orgs/{orgId}/tools/reports"),
    ("get", "/api/orgs/{orgId}/tools/reports/{reportId}"),
    ("get", "/healthz"),
    ("get", "/readyz"),
];

both!(health_and_readiness, health_and_readiness_case);
async fn health_and_readiness_case(app: TestApp) {
    for path in ["/healthz", "/readyz"] {
        let r = app.get(path, &Auth::None).await;
        assert_eq!(r.ok(StatusCode::OK)["status"], "ok", "{path}");
    }
}

both!(metrics_count_requests, metrics_count_requests_case);
async fn metrics_count_requests_case(app: TestApp) {
    app.get("/healthz", &Auth::None).await.ok(StatusCode::OK);
    app.get("/api/nope", &Auth::None).await.err(StatusCode::NOT_FOUND);
    let (status, headers, body) = app.send_raw(Request::get("/metrics").body(Body::empty()).expect("request")).await;
    assert_eq!(status, StatusCode::OK);
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(ct.starts_with("text/plain"), "{ct}");
    let text = String::from_utf8_lossy(&body);
    let healthz = text
        .lines()
        .find(|l| {
            l.starts_with("http_requests_total{") && l.contains(r#"route="/healthz""#) && l.contains(r#"status="200""#)
        })
        .unwrap_or_else(|| panic!("no http_requests_total for /healthz in:\n{text}"));
    let count: f64 = healthz.rsplit(' ').next().and_then(|n| n.parse().ok()).expect("a count");
    assert!(count >= 1.0, "{healthz}");
    assert!(text.contains("http_request_duration_seconds"), "latency histogram:\n{text}");
}

/// Substitutes fresh ids into an OpenAPI path.
fn concrete(path: &str) -> String {
    [
        "{orgId}",
        "{assetId}",
        "{userId}",
        "{keyId}",
        "{reportId}",
        "{ruleId}",
        "{alertId}",
        "{deliveryId}",
        "{id}",
        "{agentId}",
        "{eventId}",
        "{server}",
        "{pkg}",
        "{cve}",
    ]
    .iter()
    .fold(path.to_string(), |p, param| p.replace(param, &random_id()))
}

both!(openapi_documents_every_route, openapi_documents_every_route_case);
async fn openapi_documents_every_route_case(app: TestApp) {
    let r = app.get("/api/openapi.json", &Auth::None).await;
    r.expect_status(StatusCode::OK);
    let doc = &r.body;
    let version = doc["openapi"].as_str().expect("openapi version");
    assert!(version.starts_with("3.1"), "OpenAPI 3.1: {version}");
    assert!(doc["info"]["title"].is_string());

    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in ["get", "post", "put", "patch", "delete", "head", "options"] {
            if item.get(method).is_some() {
                documented.insert((method.to_string(), path.clone()));
            }
        }
    }
    let expected: BTreeSet<(String, String)> = ROUTES.iter().map(|(m, p)| (m.to_string(), p.to_string())).collect();
    assert_eq!(documented, expected, "documented operations");

    let schemes = doc["components"]["securitySchemes"].as_object().expect("security schemes");
    assert!(schemes.contains_key("bearer") && schemes.contains_key("apiKey"), "{schemes:?}");
    assert_eq!(doc["components"]["securitySchemes"]["apiKey"]["name"], "X-API-Key");

    // Every listed route is served: no fallback 404, no 405.
    for (method, path) in ROUTES {
        let method = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
        let url = concrete(path);
        let body = (method != Method::GET && method != Method::DELETE).then(|| json!({}));
        let r = app.req(method.clone(), &url, &Auth::None, body).await;
        assert_ne!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {url}: {}", r.text);
        assert!(r.status != StatusCode::NOT_FOUND || r.message() != "no such route", "{method} {url} is not routed");
        assert!(!r.status.is_server_error(), "{method} {url}: {}", r.text);
    }
}

both!(docs_ui_is_served_locally, docs_ui_is_served_locally_case);
async fn docs_ui_is_served_locally_case(app: TestApp) {
    let (status, headers, body) = app.send_raw(Request::get("/docs/").body(Body::empty()).expect("request")).await;
    assert_eq!(status, StatusCode::OK);
    let ct = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("");
    assert!(ct.starts_with("text/html"), "{ct}");
    let html = String::from_utf8_lossy(&body).to_lowercase();
    assert!(html.contains("swagger"), "{html}");
    for cdn in ["unpkg.com", "cdn.jsdelivr", "cdnjs"] {
        assert!(!html.contains(cdn), "the docs load nothing from {cdn}");
    }
    // `/docs` itself leads to the UI.
    let (status, headers, _) = app.send_raw(Request::get("/docs").body(Body::empty()).expect("request")).await;
    if status.is_redirection() {
        let to = headers.get(header::LOCATION).and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(to.ends_with("/docs/"), "redirects to {to}");
    } else {
        assert_eq!(status, StatusCode::OK);
    }
    // The UI reads this server's document.
    let (status, _, js) =
        app.send_raw(Request::get("/docs/swagger-initializer.js").body(Body::empty()).expect("request")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(String::from_utf8_lossy(&js).contains("/api/openapi.json"));
}

both!(responses_carry_a_request_id, responses_carry_a_request_id_case);
async fn responses_carry_a_request_id_case(app: TestApp) {
    let r = app.get("/healthz", &Auth::None).await;
    let id = r.headers.get("x-request-id").and_then(|v| v.to_str().ok()).expect("x-request-id");
    assert!(!id.is_empty());
    let other = app.get("/api/nope", &Auth::None).await;
    let other_id = other.headers.get("x-request-id").and_then(|v| v.to_str().ok()).expect("x-request-id on errors");
    assert_ne!(id, other_id, "one id per request");
    let given = app
        .send(Request::get("/healthz").header("x-request-id", "abc-123").body(Body::empty()).expect("request"))
        .await;
    assert_eq!(given.headers.get("x-request-id").and_then(|v| v.to_str().ok()), Some("abc-123"), "a given id is kept");
}
