//! Tenant isolation: another organization's resources are 404 (never 403), by session and by API key.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Auth, TestApp, random_id, s};

/// Every org-scoped route, for organization `org`, asset `asset` and member `user`, with a valid body.
fn org_routes(org: &str, asset: &str, user: &str, email: &str) -> Vec<(Method, String, Option<Value>)> {
    let o = format!("/api/orgs/{org}");
    vec![
        (Method::GET, o.clone(), None),
        (Method::GET, format!("{o}/members"), None),
        (Method::POST, format!("{o}/members"), Some(json!({ "email": email, "role": "VIEWER" }))),
        (Method::PATCH, format!("{o}/members/{user}"), Some(json!({ "role": "VIEWER" }))),
        (Method::DELETE, format!("{o}/members/{user}"), None),
        (Method::GET, format!("{o}/assets"), None),
        (Method::POST, format!("{o}/assets"), Some(json!({ "type": "DOMAIN", "value": "intruder.example" }))),
        (Method::GET, format!("{o}/assets/{asset}"), None),
        (Method::PATCH, format!("{o}/assets/{asset}"), Some(json!({ "label": "pwned", "isMonitored": true }))),
        (Method::DELETE, format!("{o}/assets/{asset}"), None),
        (Method::POST, format!("{o}/assets/{asset}/monitor-now"), Some(json!({}))),
    ]
}

both!(other_tenants_get_404_everywhere, other_tenants_get_404_everywhere_case);
async fn other_tenants_get_404_everywhere_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let org_a = alice.org().to_string();
    let carol = app.member(&org_a, &alice, "carol@example.com", "MEMBER").await;
    let asset = app.asset(&org_a, &alice.auth(), "DOMAIN", "example.com").await;
    let asset_id = s(&asset, "id").to_string();

    let bob = app.user("bob@example.com", Some("Org B")).await;
    let bob_key = app.api_key(&bob.auth(), "bob").await;
    // Bob is a real tenant with data of his own.
    app.asset(bob.org(), &bob.auth(), "DOMAIN", "bob.example").await;

    for auth in [bob.auth(), Auth::key(&bob_key)] {
        for (target_user, email) in [(carol.id.as_str(), "bob@example.com"), (alice.id.as_str(), "carol@example.com")] {
            for (method, path, body) in org_routes(&org_a, &asset_id, target_user, email) {
                let r = app.req(method.clone(), &path, &auth, body.clone()).await;
                assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {path} with {auth:?}: {}", r.text);
                r.err(StatusCode::NOT_FOUND);
                // The same answer as for an organization that does not exist: nothing to probe.
                let ghost = path.replace(&org_a, &random_id());
                let g = app.req(method.clone(), &ghost, &auth, body).await;
                assert_eq!(g.status, StatusCode::NOT_FOUND, "{method} {ghost}: {}", g.text);
                assert_eq!(g.message(), r.message(), "{method} {path}");
            }
        }
    }

    // Nothing of org A changed.
    let got = app.get(&format!("/api/orgs/{org_a}/assets/{asset_id}"), &alice.auth()).await;
    let got = got.ok(StatusCode::OK);
    assert!(got["label"].is_null());
    assert_eq!(got["isMonitored"], false);
    let list = app.get(&format!("/api/orgs/{org_a}/assets"), &alice.auth()).await;
    assert_eq!(list.ok(StatusCode::OK).as_array().expect("list").len(), 1);
    let members = app.get(&format!("/api/orgs/{org_a}/members"), &alice.auth()).await;
    let roles: Vec<(String, String)> = members
        .ok(StatusCode::OK)
        .as_array()
        .expect("members")
        .iter()
        .map(|m| (s(m, "email").to_string(), s(m, "role").to_string()))
        .collect();
    assert_eq!(roles.len(), 2, "{roles:?}");
    assert!(roles.contains(&("carol@example.com".into(), "MEMBER".into())), "{roles:?}");
    assert!(roles.contains(&("alice@example.com".into(), "OWNER".into())), "{roles:?}");
    // And org B holds only Bob's asset.
    let theirs = app.get(&format!("/api/orgs/{}/assets", bob.org()), &bob.auth()).await;
    let items = theirs.ok(StatusCode::OK).as_array().expect("list").clone();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["value"], "bob.example");
    // Bob's org list shows only his own organization.
    let orgs = app.get("/api/orgs", &Auth::key(&bob_key)).await;
    orgs.ok(StatusCode::OK);
    assert_eq!(orgs.ids(), vec![bob.org().to_string()]);
}

both!(an_asset_id_under_another_org_is_404, an_asset_id_under_another_org_is_404_case);
async fn an_asset_id_under_another_org_is_404_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let org_a = alice.org().to_string();
    let asset = app.asset(&org_a, &alice.auth(), "IP", "192.0.2.1").await;
    let asset_id = s(&asset, "id");

    // Bob asks for Alice's asset under his own organization, where he is the owner.
    let bob = app.user("bob@example.com", Some("Org B")).await;
    let bob_key = app.api_key(&bob.auth(), "bob").await;
    // Alice, a member of both organizations, asks under the other one.
    let second = app.post("/api/orgs", &alice.auth(), json!({ "name": "Org A2" })).await;
    let org_a2 = s(second.ok(StatusCode::CREATED), "id").to_string();
    let alice_key = app.api_key(&alice.auth(), "alice").await;

    let cases = [
        (bob.org().to_string(), bob.auth()),
        (bob.org().to_string(), Auth::key(&bob_key)),
        (org_a2.clone(), alice.auth()),
        (org_a2.clone(), Auth::key(&alice_key)),
    ];
    for (org, auth) in &cases {
        let path = format!("/api/orgs/{org}/assets/{asset_id}");
        for (method, path, body) in [
            (Method::GET, path.clone(), None),
            (Method::PATCH, path.clone(), Some(json!({ "label": "moved" }))),
            (Method::POST, format!("{path}/monitor-now"), Some(json!({}))),
            (Method::DELETE, path.clone(), None),
        ] {
            let r = app.req(method.clone(), &path, auth, body).await;
            assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {path} with {auth:?}: {}", r.text);
            r.err(StatusCode::NOT_FOUND);
        }
        let list = app.get(&format!("/api/orgs/{org}/assets?q=192.0.2.1"), auth).await;
        assert!(list.ok(StatusCode::OK).as_array().expect("list").is_empty(), "{}", list.text);
    }

    // Alice's members are not the other org's members either.
    let bob_member_path = format!("/api/orgs/{}/members/{}", bob.org(), alice.id);
    app.patch(&bob_member_path, &bob.auth(), json!({ "role": "VIEWER" })).await.err(StatusCode::NOT_FOUND);
    app.delete(&bob_member_path, &bob.auth()).await.err(StatusCode::NOT_FOUND);

    let got = app.get(&format!("/api/orgs/{org_a}/assets/{asset_id}"), &alice.auth()).await;
    assert!(got.ok(StatusCode::OK)["label"].is_null(), "untouched");
}
