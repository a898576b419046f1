//! Agent enrollment and reports over HTTP on both engines: the token reports and nothing else, heartbeats
//! carry a digest, the inventory is asked for when it changed, and agents are scoped to their organization.

use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};

use crate::support::{Auth, Reply, TestApp, s};

/// `POST /api/agent/report` with an enrollment token.
pub(crate) async fn report(app: &TestApp, token: &str, body: Value) -> Reply {
    let req = Request::builder()
        .method(Method::POST)
        .uri("/api/agent/report")
        .header("x-agent-token", token)
        .header(header::CONTENT_TYPE, "application/json")
        .body(Body::from(body.to_string()))
        .expect("request");
    app.send(req).await
}

fn host(digest: &str, packages: Option<Value>) -> Value {
    let mut v = json!({
        "instanceId": "i-0abc", "hostname": "db-1", "osVersion": "Ubuntu 22.04.4 LTS", "kernel": "5.15.0-101-generic",
        "agentVersion": "0.1.0", "ipAddresses": {"private": ["10.0.0.9"], "link_local": [], "public": []},
        "inventoryDigest": digest
    });
    if let Some(p) = packages {
        v["packages"] = p;
        v["ports"] = json!([{"protocol": "tcp", "address": "0.0.0.0", "port": 5432}]);
    }
    v
}

both!(agents_report_with_report_only_tokens, agents_case);
async fn agents_case(app: TestApp) {
    let owner = app.user("owner@example.com", Some("Acme")).await;
    let org = owner.org().to_string();
    let member = app.member(&org, &owner, "member@example.com", "MEMBER").await;
    let path = format!("/api/orgs/{org}/agent-enrollments");
    app.post(&path, &member.auth(), json!({"name": "db"})).await.err(StatusCode::FORBIDDEN);
    app.post(&path, &owner.auth(), json!({"name": " "})).await.invalid("name");
    let r = app.post(&path, &owner.auth(), json!({"name": "db"})).await;
    let token = s(r.ok(StatusCode::CREATED), "token").to_string();
    assert!(token.starts_with("tlagent_"));

    // Bad tokens and bodies.
    report(&app, "tlagent_nope", host("d1", None)).await.err(StatusCode::UNAUTHORIZED);
    report(&app, &token, json!({"hostname": "x"})).await.err(StatusCode::BAD_REQUEST);
    report(&app, &token, host("d1", Some(json!("not a list")))).await.err(StatusCode::BAD_REQUEST);
    let mut tagged = host("d1", None);
    tagged["tags"] = json!([{"key": "", "value": "x"}]);
    report(&app, &token, tagged).await.invalid("tags[0]");

    // First report: the server has no inventory yet.
    let r = report(&app, &token, host("d1", None)).await;
    assert_eq!(r.ok(StatusCode::OK)["needInventory"], true);
    let pkgs = json!([{"manager": "dpkg", "name": "openssl", "version": "3.0.2-0ubuntu1.15"}]);
    let r = report(&app, &token, host("d1", Some(pkgs))).await;
    assert_eq!(r.ok(StatusCode::OK)["needInventory"], false);
    let agent_id = s(r.data(), "agentId").to_string();
    // Heartbeats: the same digest needs nothing; a new one asks for the inventory.
    assert_eq!(report(&app, &token, host("d1", None)).await.data()["needInventory"], false);
    assert_eq!(report(&app, &token, host("d2", None)).await.data()["needInventory"], true);

    let list = app.get(&format!("/api/orgs/{org}/agents"), &owner.auth()).await;
    assert_eq!(list.ids(), vec![agent_id.clone()], "one agent per host: {}", list.text);
    assert_eq!(list.items()[0]["status"], "online");
    let offline = app.get(&format!("/api/orgs/{org}/agents?status=offline"), &owner.auth()).await;
    assert!(offline.items().is_empty());
    let detail = app.get(&format!("/api/orgs/{org}/agents/{agent_id}"), &owner.auth()).await;
    let d = detail.ok(StatusCode::OK);
    assert_eq!((d["hostname"].as_str(), d["kernel"].as_str()), (Some("db-1"), Some("5.15.0-101-generic")));
    assert_eq!(d["packages"][0]["name"], "openssl");
    assert_eq!(d["ports"][0]["port"], 5432);

    // The token cannot read; another organization cannot see the agent.
    app.get(&format!("/api/orgs/{org}/agents"), &Auth::Header("x-agent-token", token.clone()))
        .await
        .err(StatusCode::UNAUTHORIZED);
    let stranger = app.user("stranger@example.com", Some("Other")).await;
    app.get(&format!("/api/orgs/{org}/agents/{agent_id}"), &stranger.auth()).await.err(StatusCode::NOT_FOUND);
    let theirs = app.get(&format!("/api/orgs/{}/agents", stranger.org()), &stranger.auth()).await;
    assert!(theirs.items().is_empty());

    // The tokens are listed by prefix only; a member may not revoke one, a stranger cannot see it, an
    // owner revokes it and the host is refused from then on while its agent stays listed.
    let listed = app.get(&path, &member.auth()).await;
    let item = &listed.items()[0];
    assert_eq!((item["name"].as_str(), item["prefix"].as_str()), (Some("db"), Some(&token[..14])));
    assert!(!listed.text.contains(&token), "the token itself is never listed");
    let enrollment = s(item, "id").to_string();
    let one = format!("{path}/{enrollment}");
    app.delete(&one, &member.auth()).await.err(StatusCode::FORBIDDEN);
    app.delete(&format!("/api/orgs/{}/agent-enrollments/{enrollment}", stranger.org()), &stranger.auth())
        .await
        .err(StatusCode::NOT_FOUND);
    app.delete(&format!("{path}/not-an-id"), &owner.auth()).await.invalid("enrollmentId");
    assert_eq!(app.delete(&one, &owner.auth()).await.ok(StatusCode::OK)["revoked"], true);
    report(&app, &token, host("d2", None)).await.err(StatusCode::UNAUTHORIZED);
    app.delete(&one, &owner.auth()).await.err(StatusCode::NOT_FOUND);
    assert!(app.get(&path, &owner.auth()).await.items().is_empty());
    assert_eq!(app.get(&format!("/api/orgs/{org}/agents"), &owner.auth()).await.ids(), vec![agent_id]);
}

both!(agents_go_offline_when_silent, offline_case, |c: &mut tlink_server::Config| c.agent_offline_after_secs = 0);
async fn offline_case(app: TestApp) {
    let owner = app.user("owner@example.com", Some("Acme")).await;
    let org = owner.org().to_string();
    let r = app.post(&format!("/api/orgs/{org}/agent-enrollments"), &owner.auth(), json!({"name": "db"})).await;
    let token = s(r.ok(StatusCode::CREATED), "token").to_string();
    report(&app, &token, host("d1", None)).await.ok(StatusCode::OK);
    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    let offline = app.get(&format!("/api/orgs/{org}/agents?status=offline"), &owner.auth()).await;
    assert_eq!(offline.items().len(), 1, "{}", offline.text);
    assert_eq!(offline.items()[0]["status"], "offline");
}
