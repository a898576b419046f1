//! The tool runner through the API: the catalogue, queueing (202, never run in the handler), reports,
//! validation, tenancy, and the worker taking a queued run to its end.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::{Auth, TestApp, random_id, s};

fn run(org: &str) -> String {
    format!("/api/orgs/{org}/tools/run")
}

fn reports(org: &str) -> String {
    format!("/api/orgs/{org}/tools/reports")
}

both!(the_catalogue_lists_every_tool_with_its_schema, catalogue_case);
async fn catalogue_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    app.get("/api/tools", &Auth::None).await.err(StatusCode::UNAUTHORIZED);
    let r = app.get("/api/tools", &alice.auth()).await;
    let tools = r.ok(StatusCode::OK).as_array().expect("a list").clone();
    let keys: Vec<&str> = tools.iter().map(|t| s(t, "key")).collect();
    assert_eq!(keys, ["dns", "whois", "ip-reputation", "email", "exposure", "ssl", "threat-feed"]);
    for t in &tools {
        assert!(!t["targetTypes"].as_array().expect("types").is_empty(), "{t}");
        let schema = &t["resultSchema"];
        assert_eq!(schema["$schema"], "https://json-schema.org/draft/2020-12/schema", "{t}");
        assert!(schema["title"].as_str().is_some_and(|s| s.ends_with("Result")), "{t}");
    }
    let dns = &tools[0];
    assert_eq!(dns["targetTypes"], json!(["DOMAIN", "URL", "EMAIL"]));
    // The OpenAPI document describes the same routes.
    let doc = app.get("/api/openapi.json", &Auth::None).await;
    for path in ["/api/tools", "/api/orgs/{orgId}/tools/run", "/api/orgs/{orgId}/tools/reports/{reportId}"] {
        assert!(doc.body["paths"].get(path).is_some(), "{path} missing from OpenAPI");
    }
    assert!(doc.body["paths"]["/api/orgs/{orgId}/tools/run"]["post"]["responses"].get("202").is_some());
}

both!(a_run_is_queued_and_reported, queued_case);
async fn queued_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let org = alice.org();
    let r = app.post(&run(org), &alice.auth(), json!({ "toolKey": "dns", "target": " Example.COM " })).await;
    let queued = r.ok(StatusCode::ACCEPTED);
    assert_eq!(queued["status"], "QUEUED");
    let id = s(queued, "reportId").to_string();

    // The handler did not run the tool: the report waits for a worker.
    let report = app.get(&format!("{}/{id}", reports(org)), &alice.auth()).await;
    let rep = report.ok(StatusCode::OK);
    assert_eq!((s(rep, "status"), s(rep, "toolKey"), s(rep, "target")), ("QUEUED", "dns", "example.com"));
    assert_eq!((s(rep, "targetType"), s(rep, "origin")), ("DOMAIN", "MANUAL"));
    assert_eq!(rep["requestedBy"], json!(alice.id));
    assert!(rep["startedAt"].is_null() && rep["result"].is_null(), "{rep}");

    // With an API key, linked to an asset (target taken from the asset).
    let key = app.api_key(&alice.auth(), "ci").await;
    let asset = app.asset(org, &alice.auth(), "IP", "8.8.8.8").await;
    let asset_id = s(&asset, "id");
    let r = app.post(&run(org), &Auth::key(&key), json!({ "toolKey": "whois", "assetId": asset_id })).await;
    let whois_id = s(r.ok(StatusCode::ACCEPTED), "reportId").to_string();
    let rep = app.get(&format!("{}/{whois_id}", reports(org)), &alice.auth()).await;
    assert_eq!(rep.ok(StatusCode::OK)["assetId"], json!(asset_id));
    assert_eq!(s(rep.data(), "target"), "8.8.8.8");

    // Lists, newest first, with filters.
    let all = app.get(&reports(org), &alice.auth()).await;
    all.ok(StatusCode::OK);
    assert_eq!(all.ids(), vec![whois_id.clone(), id.clone()]);
    assert!(all.items().iter().all(|i| i.get("result").is_none()), "lists carry no results");
    let dns_only = app.get(&format!("{}?toolKey=dns", reports(org)), &alice.auth()).await;
    assert_eq!(dns_only.ids(), vec![id.clone()]);
    let by_asset = app.get(&format!("{}?assetId={asset_id}", reports(org)), &alice.auth()).await;
    assert_eq!(by_asset.ids(), vec![whois_id.clone()]);
    let queued = app.get(&format!("{}?status=QUEUED&limit=1", reports(org)), &alice.auth()).await;
    assert_eq!(queued.ids(), vec![whois_id.clone()]);
    let token = queued.next_token().expect("a second page");
    let next = app.get(&format!("{}?status=QUEUED&limit=1&token={token}", reports(org)), &alice.auth()).await;
    assert_eq!(next.ids(), vec![id.clone()]);
    assert!(next.next_token().is_none());
    let done = app.get(&format!("{}?status=COMPLETED", reports(org)), &alice.auth()).await;
    assert!(done.ids().is_empty());
}

both!(bad_runs_are_refused_with_the_field_named, validation_case);
async fn validation_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let bob = app.user("bob@example.com", Some("Org B")).await;
    let org = alice.org();
    let (path, auth) = (run(org), alice.auth());
    let post = |body: Value| app.post(&path, &auth, body);
    post(json!({ "toolKey": "nmap", "target": "example.com" })).await.invalid("toolKey");
    post(json!({ "toolKey": "dns" })).await.invalid("target");
    let r = post(json!({ "toolKey": "dns", "target": "1.2.3.4" })).await;
    r.invalid("target");
    assert!(r.body["errors"][0]["message"].as_str().expect("message").contains("DOMAIN"), "{}", r.text);
    post(json!({ "toolKey": "ip-reputation", "target": "not a target" })).await.invalid("target");
    post(json!({ "toolKey": "dns", "target": "example.com", "assetId": "nope" })).await.invalid("assetId");
    post(json!({ "toolKey": "dns", "target": "example.com", "extra": 1 })).await.rejects("extra");
    post(json!({ "toolKey": "dns", "target": "example.com", "options": { "ports": "22" } }))
        .await
        .invalid("options.ports");
    post(json!({ "toolKey": "exposure", "target": "1.1.1.1", "options": { "ports": "22-x" } }))
        .await
        .invalid("options.ports");
    post(json!({ "toolKey": "ssl", "target": "example.com", "options": { "port": 0 } })).await.invalid("options.port");

    // Another org's asset is unknown here; an asset of the wrong type for the tool is refused.
    let bobs = app.asset(bob.org(), &bob.auth(), "DOMAIN", "bob.example").await;
    post(json!({ "toolKey": "dns", "assetId": s(&bobs, "id") })).await.invalid("assetId");
    post(json!({ "toolKey": "dns", "assetId": random_id() })).await.invalid("assetId");
    let hash = app.asset(org, &alice.auth(), "HASH", &"a".repeat(64)).await;
    post(json!({ "toolKey": "ssl", "assetId": s(&hash, "id") })).await.invalid("assetId");
    let domain = app.asset(org, &alice.auth(), "DOMAIN", "example.com").await;
    post(json!({ "toolKey": "dns", "assetId": s(&domain, "id"), "target": "other.example" })).await.invalid("target");

    // Nothing was queued by any of these.
    let list = app.get(&reports(org), &alice.auth()).await;
    assert!(list.ids().is_empty(), "{}", list.text);
    assert_eq!(app.state.store.queue_counts().await.expect("counts").queued, 0);

    // Viewers read but cannot run.
    let viewer = app.member(org, &alice, "viewer@example.com", "VIEWER").await;
    app.post(&run(org), &viewer.auth(), json!({ "toolKey": "dns", "target": "example.com" }))
        .await
        .err(StatusCode::FORBIDDEN);
    app.get(&reports(org), &viewer.auth()).await.ok(StatusCode::OK);
}

both!(reports_of_another_org_are_invisible, tenancy_case);
async fn tenancy_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let bob = app.user("bob@example.com", Some("Org B")).await;
    let r = app.post(&run(alice.org()), &alice.auth(), json!({ "toolKey": "dns", "target": "example.com" })).await;
    let id = s(r.ok(StatusCode::ACCEPTED), "reportId").to_string();
    app.get(&format!("{}/{id}", reports(bob.org())), &bob.auth()).await.err(StatusCode::NOT_FOUND);
    app.get(&format!("{}/{id}", reports(alice.org())), &bob.auth()).await.err(StatusCode::NOT_FOUND);
    assert!(app.get(&reports(bob.org()), &bob.auth()).await.ids().is_empty());
    app.get(&format!("{}/not-a-uuid", reports(alice.org())), &alice.auth()).await.invalid("reportId");
}

both!(a_refused_target_fails_at_once_without_retries, refused_case);
async fn refused_case(app: TestApp) {
    // The default egress policy refuses loopback targets: the run FAILS with the reason, not retried.
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let org = alice.org();
    let r = app.post(&run(org), &alice.auth(), json!({ "toolKey": "ssl", "target": "127.0.0.1:9" })).await;
    let id = s(r.ok(StatusCode::ACCEPTED), "reportId").to_string();
    assert_eq!(app.state.worker().run_until_idle().await, 1);
    let rep = app.get(&format!("{}/{id}", reports(org)), &alice.auth()).await;
    let rep = rep.ok(StatusCode::OK);
    assert_eq!(s(rep, "status"), "FAILED", "{rep}");
    assert_eq!(rep["attempts"], 1);
    assert!(s(rep, "error").contains("127.0.0.1 is a loopback address"), "{rep}");
    assert!(rep["startedAt"].is_string() && rep["finishedAt"].is_string() && rep["durationMs"].is_number());
    assert_eq!(app.state.store.queue_counts().await.expect("counts").failed, 1);
}
