//! Bad input of every kind gets a clear envelope error with the right status, never a 500 or a panic.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::support::{Auth, PASSWORD, TestApp, random_id};

both!(malformed_json_is_400, malformed_json_is_400_case);
async fn malformed_json_is_400_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let assets = format!("/api/orgs/{}/assets", alice.org());
    for body in [r#"{"email": "a@example.com","#, "not json", "", "   ", "{'email': 1}"] {
        let r = app.raw(Method::POST, "/api/auth/login", &Auth::None, Some("application/json"), body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body:?}: {}", r.text);
        r.err(StatusCode::BAD_REQUEST);
        let r = app.raw(Method::POST, &assets, &alice.auth(), Some("application/json"), body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body:?}: {}", r.text);
        r.err(StatusCode::BAD_REQUEST);
    }
    // Valid JSON of the wrong shape names the body.
    for body in ["[]", "null", "42", r#""text""#] {
        let r = app.raw(Method::POST, &assets, &alice.auth(), Some("application/json"), body).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body:?}: {}", r.text);
        r.invalid("body");
    }
    // Serde would read a struct of optional fields from an array of them; a body is an object or nothing.
    let settings = format!("/api/orgs/{}/settings", alice.org());
    let r = app.raw(Method::PATCH, &settings, &alice.auth(), Some("application/json"), "[null, null]").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    r.invalid("body");
}

both!(wrong_json_types_name_the_field, wrong_json_types_name_the_field_case);
async fn wrong_json_types_name_the_field_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let assets = format!("/api/orgs/{}/assets", alice.org());
    app.post(&assets, &alice.auth(), json!({ "type": "DOMAIN", "value": "example.com", "isMonitored": "yes" }))
        .await
        .invalid("isMonitored");
    app.post(&assets, &alice.auth(), json!({ "type": "DOMAIN", "value": "example.com", "label": { "a": 1 } }))
        .await
        .invalid("label");
    app.post(&assets, &alice.auth(), json!({ "type": 7, "value": "example.com" })).await.err(StatusCode::BAD_REQUEST);
    app.post("/api/auth/login", &Auth::None, json!({ "email": 5, "password": PASSWORD })).await.invalid("email");
    app.post("/api/orgs", &alice.auth(), json!({ "name": ["x"] })).await.invalid("name");
    app.post(
        &format!("/api/orgs/{}/members", alice.org()),
        &alice.auth(),
        json!({ "email": "a@b.example", "role": 1 }),
    )
    .await
    .err(StatusCode::BAD_REQUEST);
}

both!(wrong_content_type_is_415, wrong_content_type_is_415_case);
async fn wrong_content_type_is_415_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let login = json!({ "email": "alice@example.com", "password": PASSWORD }).to_string();
    for ct in [Some("text/plain"), Some("application/x-www-form-urlencoded"), Some("application/jsonx"), None] {
        let r = app.raw(Method::POST, "/api/auth/login", &Auth::None, ct, login.clone()).await;
        assert_eq!(r.status, StatusCode::UNSUPPORTED_MEDIA_TYPE, "{ct:?}: {}", r.text);
        r.err(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }
    let asset = json!({ "type": "DOMAIN", "value": "example.com" }).to_string();
    let assets = format!("/api/orgs/{}/assets", alice.org());
    app.raw(Method::POST, &assets, &alice.auth(), Some("text/plain"), asset.clone())
        .await
        .err(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    // JSON media types with parameters or in another case are JSON.
    for ct in ["application/json; charset=utf-8", "Application/JSON", "application/merge-patch+json"] {
        let r = app.raw(Method::POST, "/api/auth/login", &Auth::None, Some(ct), login.clone()).await;
        assert_eq!(r.status, StatusCode::OK, "{ct}: {}", r.text);
    }
}

both!(oversized_bodies_are_413, oversized_bodies_are_413_case, |c: &mut tlink_server::Config| {
    c.max_body_bytes = 512;
});
async fn oversized_bodies_are_413_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let r = app
        .post("/api/auth/login", &Auth::None, json!({ "email": "alice@example.com", "password": "p".repeat(2000) }))
        .await;
    r.err(StatusCode::PAYLOAD_TOO_LARGE);
    let assets = format!("/api/orgs/{}/assets", alice.org());
    let big = json!({ "type": "DOMAIN", "value": "example.com", "label": "l".repeat(4000) });
    app.post(&assets, &alice.auth(), big).await.err(StatusCode::PAYLOAD_TOO_LARGE);
    // Small bodies still work.
    app.asset(alice.org(), &alice.auth(), "DOMAIN", "example.com").await;
}

both!(unknown_routes_are_404, unknown_routes_are_404_case);
async fn unknown_routes_are_404_case(app: TestApp) {
    api_404s(&app, false).await;
    // Outside the API families the dashboard answers: `/` sends a stranger to sign in, an unknown page is
    // the not-found page.
    let home = app.get("/", &Auth::None).await;
    assert_eq!(home.status, StatusCode::SEE_OTHER);
    let page = app.get("/nope", &Auth::None).await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.text.contains("Not found") && page.text.starts_with("<!doctype html>"), "{}", page.text);
}

// Without the dashboard every unknown path is the API's JSON 404.
both!(unknown_routes_are_404_without_the_dashboard, without_dashboard_case, |c: &mut tlink_server::Config| {
    c.web.enabled = false;
});
async fn without_dashboard_case(app: TestApp) {
    api_404s(&app, true).await;
}

async fn api_404s(app: &TestApp, with_root: bool) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let org = alice.org();
    let root = if with_root { vec!["/".to_string(), "/nope".to_string(), "/login".to_string()] } else { Vec::new() };
    for path in root.into_iter().chain([
        "/api".to_string(),
        "/api/nope".to_string(),
        "/api/orgs/".to_string(),
        format!("/api/orgs/{org}/nothing"),
        format!("/api/orgs/{org}/assets/{}/scan", random_id()),
        "/api/users/me/api-keys/a/b".to_string(),
    ]) {
        for auth in [Auth::None, alice.auth()] {
            let r = app.get(&path, &auth).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}: {}", r.text);
            r.err(StatusCode::NOT_FOUND);
        }
    }
}

both!(wrong_methods_are_405, wrong_methods_are_405_case);
async fn wrong_methods_are_405_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let org = alice.org();
    let id = random_id();
    for (method, path) in [
        (Method::GET, "/api/auth/login".to_string()),
        (Method::DELETE, "/api/auth/refresh".to_string()),
        (Method::PUT, "/api/orgs".to_string()),
        (Method::DELETE, "/api/users/me".to_string()),
        (Method::PATCH, "/api/users/me/api-keys".to_string()),
        (Method::GET, format!("/api/users/me/api-keys/{id}")),
        (Method::DELETE, format!("/api/orgs/{org}")),
        (Method::PUT, format!("/api/orgs/{org}/assets/{id}")),
        (Method::GET, format!("/api/orgs/{org}/assets/{id}/monitor-now")),
        (Method::GET, format!("/api/orgs/{org}/members/{id}")),
        (Method::POST, "/healthz".to_string()),
    ] {
        let r = app.req(method.clone(), &path, &alice.auth(), None).await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}: {}", r.text);
        r.err(StatusCode::METHOD_NOT_ALLOWED);
    }
}

both!(bad_path_ids_name_the_parameter, bad_path_ids_name_the_parameter_case);
async fn bad_path_ids_name_the_parameter_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let key = app.api_key(&alice.auth(), "k").await;
    let org = alice.org();
    let id = random_id();
    for auth in [alice.auth(), Auth::key(&key)] {
        for (method, path, field) in [
            (Method::GET, "/api/orgs/xyz".to_string(), "orgId"),
            (Method::GET, "/api/orgs/xyz/members".to_string(), "orgId"),
            (Method::GET, format!("/api/orgs/xyz/assets/{id}"), "orgId"),
            (Method::GET, format!("/api/orgs/{org}/assets/xyz"), "assetId"),
            (Method::DELETE, format!("/api/orgs/{org}/assets/%20"), "assetId"),
            (Method::DELETE, format!("/api/orgs/{org}/members/xyz"), "userId"),
            (Method::DELETE, "/api/users/me/api-keys/xyz".to_string(), "keyId"),
        ] {
            let r = app.req(method.clone(), &path, &auth, None).await;
            assert_eq!(r.status, StatusCode::BAD_REQUEST, "{method} {path} with {auth:?}: {}", r.text);
            r.invalid(field);
        }
    }
}

both!(internal_errors_do_not_leak, internal_errors_do_not_leak_case);
async fn internal_errors_do_not_leak_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let assets = format!("/api/orgs/{}/assets", alice.org());
    app.asset(alice.org(), &alice.auth(), "DOMAIN", "example.com").await;
    // Break the database under the running app.
    // (Renamed rather than dropped: reports refer to it, and SQLite has no DROP … CASCADE.)
    app.state.store.db().execute("ALTER TABLE assets RENAME TO assets_gone", &[]).await.expect("renaming a table");

    let list = app.get(&assets, &alice.auth()).await;
    let create = app.post(&assets, &alice.auth(), json!({ "type": "DOMAIN", "value": "other.example" })).await;
    for r in [list, create] {
        r.err(StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(r.message(), "internal server error");
        assert!(r.body.get("errors").is_none(), "{}", r.text);
        let lower = r.text.to_lowercase();
        for secret in ["assets", "table", "relation", "sqlite", "postgres", "select", "insert", "database"] {
            assert!(!lower.contains(secret), "`{secret}` leaked: {}", r.text);
        }
    }
    // The rest of the app still answers.
    app.get("/api/users/me", &alice.auth()).await.ok(StatusCode::OK);
}

both!(unknown_fields_are_named_once, unknown_fields_are_named_once_case);
async fn unknown_fields_are_named_once_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let assets = format!("/api/orgs/{}/assets", alice.org());
    app.post(&assets, &alice.auth(), json!({ "type": "DOMAIN", "value": "example.com", "color": "red" }))
        .await
        .invalid("color");
    app.post("/api/orgs", &alice.auth(), json!({ "name": "P", "plan": "PRO" })).await.invalid("plan");
    app.post("/api/auth/login", &Auth::None, json!({ "email": "a@example.com", "password": "x", "otp": 1 }))
        .await
        .invalid("otp");
}

both!(trailing_bytes_after_json_are_400, trailing_bytes_after_json_are_400_case);
async fn trailing_bytes_after_json_are_400_case(app: TestApp) {
    app.create_user("alice@example.com", Some("Org A")).await;
    for body in [
        format!(r#"{{"email": "alice@example.com", "password": "{PASSWORD}"}} trailing"#),
        format!(r#"{{"email": "alice@example.com", "password": "{PASSWORD}"}}{{}}"#),
    ] {
        let r = app.raw(Method::POST, "/api/auth/login", &Auth::None, Some("application/json"), body.clone()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.text);
    }
}

both!(wrong_types_for_enum_fields_name_the_field, wrong_types_for_enum_fields_name_the_field_case);
async fn wrong_types_for_enum_fields_name_the_field_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let assets = format!("/api/orgs/{}/assets", alice.org());
    app.post(&assets, &alice.auth(), json!({ "type": 7, "value": "example.com" })).await.invalid("type");
    app.post(&assets, &alice.auth(), json!({ "type": ["DOMAIN"], "value": "example.com" })).await.invalid("type");
    app.post(
        &format!("/api/orgs/{}/members", alice.org()),
        &alice.auth(),
        json!({ "email": "a@b.example", "role": 1 }),
    )
    .await
    .invalid("role");
}
