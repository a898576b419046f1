//! Organizations and members: creation, roles and what each may do, the last owner.

use axum::http::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, TestUser, random_id, s};

fn members(org: &str) -> String {
    format!("/api/orgs/{org}/members")
}

fn member(org: &str, user: &str) -> String {
    format!("/api/orgs/{org}/members/{user}")
}

/// `userId → role` of an org's members, as its owner sees them.
async fn roles(app: &TestApp, org: &str, by: &TestUser) -> Vec<(String, String)> {
    let r = app.get(&members(org), &by.auth()).await;
    let mut out: Vec<(String, String)> = r
        .ok(StatusCode::OK)
        .as_array()
        .expect("members")
        .iter()
        .map(|m| (s(m, "userId").to_string(), s(m, "role").to_string()))
        .collect();
    out.sort();
    out
}

both!(list_create_and_get_orgs, list_create_and_get_orgs_case);
async fn list_create_and_get_orgs_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let list = app.get("/api/orgs", &alice.auth()).await;
    let items = list.ok(StatusCode::OK).as_array().expect("orgs").clone();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], alice.org());
    assert_eq!(items[0]["name"], "Org A");
    assert_eq!(items[0]["role"], "OWNER");
    assert_eq!(items[0]["plan"], "FREE");
    assert_eq!(list.body["meta"]["count"], 1);
    assert!(list.body["meta"]["nextToken"].is_null());

    let created = app.post("/api/orgs", &alice.auth(), json!({ "name": "  Second org  " })).await;
    let org = created.ok(StatusCode::CREATED).clone();
    assert_eq!(org["name"], "Second org");
    assert_eq!(org["role"], "OWNER");
    assert_eq!(org["plan"], "FREE");
    let id = s(&org, "id").to_string();

    let list = app.get("/api/orgs", &alice.auth()).await;
    list.ok(StatusCode::OK);
    assert_eq!(list.ids(), vec![id.clone(), alice.org().to_string()], "newest first");

    let got = app.get(&format!("/api/orgs/{id}"), &alice.auth()).await;
    let got = got.ok(StatusCode::OK);
    assert_eq!(got["id"], id.as_str());
    assert_eq!(got["name"], "Second org");
    assert_eq!(got["role"], "OWNER");

    app.post("/api/orgs", &alice.auth(), json!({ "name": "" })).await.invalid("name");
    app.post("/api/orgs", &alice.auth(), json!({ "name": "x".repeat(201) })).await.invalid("name");
    app.post("/api/orgs", &alice.auth(), json!({ "name": "P", "plan": "ENTERPRISE" })).await.rejects("plan");
    app.get(&format!("/api/orgs/{}", random_id()), &alice.auth()).await.err(StatusCode::NOT_FOUND);
    app.get("/api/orgs/not-an-id", &alice.auth()).await.invalid("orgId");
}

both!(add_and_list_members, add_and_list_members_case);
async fn add_and_list_members_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let (bob_id, _) = app.create_user("bob@example.com", None).await;
    let org = alice.org();

    let added = app.post(&members(org), &alice.auth(), json!({ "email": " BOB@Example.com ", "role": "MEMBER" })).await;
    let m = added.ok(StatusCode::CREATED);
    assert_eq!(m["userId"], bob_id.as_str());
    assert_eq!(m["email"], "bob@example.com");
    assert_eq!(m["role"], "MEMBER");
    s(m, "createdAt");

    let dup = app.post(&members(org), &alice.auth(), json!({ "email": "bob@example.com", "role": "VIEWER" })).await;
    dup.err(StatusCode::CONFLICT);
    app.post(&members(org), &alice.auth(), json!({ "email": "nobody@example.com", "role": "MEMBER" }))
        .await
        .err(StatusCode::NOT_FOUND);
    app.post(&members(org), &alice.auth(), json!({ "email": "not an email", "role": "MEMBER" })).await.invalid("email");
    app.post(&members(org), &alice.auth(), json!({ "email": "bob@example.com", "role": "ROOT" })).await.invalid("role");
    app.post(&members(org), &alice.auth(), json!({ "email": "bob@example.com", "role": "member" }))
        .await
        .invalid("role");
    app.post(&members(org), &alice.auth(), json!({ "email": "bob@example.com" })).await.invalid("role");

    let mut want = vec![(alice.id.clone(), "OWNER".to_string()), (bob_id.clone(), "MEMBER".to_string())];
    want.sort();
    assert_eq!(roles(&app, org, &alice).await, want, "the duplicate did not change bob's role");
    let list = app.get(&members(org), &alice.auth()).await;
    list.ok(StatusCode::OK);
    assert_eq!(list.body["meta"]["count"], 2);
    assert_eq!(list.items()[0]["userId"], bob_id.as_str(), "newest first");

    // Bob now sees the organization, with his role.
    let bob = app.login("bob@example.com", crate::support::PASSWORD).await;
    let token = s(bob.ok(StatusCode::OK), "accessToken").to_string();
    let orgs = app.get("/api/orgs", &crate::support::Auth::bearer(&token)).await;
    let items = orgs.ok(StatusCode::OK).as_array().expect("orgs").clone();
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["id"], org);
    assert_eq!(items[0]["role"], "MEMBER");
}

both!(change_roles, change_roles_case);
async fn change_roles_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let org = alice.org();
    let bob = app.member(org, &alice, "bob@example.com", "VIEWER").await;

    let r = app.patch(&member(org, &bob.id), &alice.auth(), json!({ "role": "ADMIN" })).await;
    let m = r.ok(StatusCode::OK);
    assert_eq!(m["role"], "ADMIN");
    assert_eq!(m["userId"], bob.id.as_str());
    assert_eq!(m["email"], "bob@example.com");
    let got = app.get(&format!("/api/orgs/{org}"), &bob.auth()).await;
    assert_eq!(got.ok(StatusCode::OK)["role"], "ADMIN");

    app.patch(&member(org, &bob.id), &alice.auth(), json!({ "role": "SUPREME" })).await.invalid("role");
    app.patch(&member(org, &bob.id), &alice.auth(), json!({})).await.invalid("role");
    app.patch(&member(org, "not-an-id"), &alice.auth(), json!({ "role": "MEMBER" })).await.invalid("userId");
    app.delete(&member(org, "not-an-id"), &alice.auth()).await.invalid("userId");
    app.patch(&member(org, &random_id()), &alice.auth(), json!({ "role": "MEMBER" })).await.err(StatusCode::NOT_FOUND);
    app.delete(&member(org, &random_id()), &alice.auth()).await.err(StatusCode::NOT_FOUND);

    // A user who exists but is not a member is not found either.
    let (carol, _) = app.create_user("carol@example.com", None).await;
    app.patch(&member(org, &carol), &alice.auth(), json!({ "role": "MEMBER" })).await.err(StatusCode::NOT_FOUND);

    let removed = app.delete(&member(org, &bob.id), &alice.auth()).await;
    let data = removed.ok(StatusCode::OK);
    assert_eq!(data["userId"], bob.id.as_str());
    assert_eq!(data["removed"], true);
    app.get(&format!("/api/orgs/{org}"), &bob.auth()).await.err(StatusCode::NOT_FOUND);
    app.delete(&member(org, &bob.id), &alice.auth()).await.err(StatusCode::NOT_FOUND);
}

async fn asset_routes_forbidden(app: &TestApp, user: &TestUser, org: &str, asset: &Value) {
    let path = format!("/api/orgs/{org}/assets/{}", s(asset, "id"));
    let auth = user.auth();
    app.post(&format!("/api/orgs/{org}/assets"), &auth, json!({ "type": "DOMAIN", "value": "new.example" }))
        .await
        .err(StatusCode::FORBIDDEN);
    app.patch(&path, &auth, json!({ "label": "mine" })).await.err(StatusCode::FORBIDDEN);
    app.delete(&path, &auth).await.err(StatusCode::FORBIDDEN);
    app.post(&format!("{path}/monitor-now"), &auth, json!({})).await.err(StatusCode::FORBIDDEN);
}

both!(viewers_read_but_do_not_write, viewers_read_but_do_not_write_case);
async fn viewers_read_but_do_not_write_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let org = alice.org();
    let asset = app.asset(org, &alice.auth(), "DOMAIN", "example.com").await;
    let viewer = app.member(org, &alice, "vera@example.com", "VIEWER").await;
    let key = app.api_key(&viewer.auth(), "viewer key").await;

    for auth in [viewer.auth(), crate::support::Auth::key(&key)] {
        let list = app.get(&format!("/api/orgs/{org}/assets"), &auth).await;
        list.ok(StatusCode::OK);
        assert_eq!(list.ids(), vec![s(&asset, "id").to_string()]);
        let one = app.get(&format!("/api/orgs/{org}/assets/{}", s(&asset, "id")), &auth).await;
        assert_eq!(one.ok(StatusCode::OK)["value"], "example.com");
        app.get(&members(org), &auth).await.ok(StatusCode::OK);
        app.get(&format!("/api/orgs/{org}"), &auth).await.ok(StatusCode::OK);
    }
    asset_routes_forbidden(&app, &viewer, org, &asset).await;

    // With the API key too.
    let auth = crate::support::Auth::key(&key);
    let path = format!("/api/orgs/{org}/assets/{}", s(&asset, "id"));
    app.post(&format!("/api/orgs/{org}/assets"), &auth, json!({ "type": "IP", "value": "10.0.0.1" }))
        .await
        .err(StatusCode::FORBIDDEN);
    app.patch(&path, &auth, json!({ "isMonitored": true })).await.err(StatusCode::FORBIDDEN);
    app.delete(&path, &auth).await.err(StatusCode::FORBIDDEN);

    // Nor may a viewer manage members.
    app.user("bob@example.com", None).await;
    app.post(&members(org), &viewer.auth(), json!({ "email": "bob@example.com", "role": "VIEWER" }))
        .await
        .err(StatusCode::FORBIDDEN);

    // Nothing changed.
    let one = app.get(&path, &alice.auth()).await;
    let one = one.ok(StatusCode::OK);
    assert!(one["label"].is_null());
    assert_eq!(one["isMonitored"], false);
    let list = app.get(&format!("/api/orgs/{org}/assets"), &alice.auth()).await;
    assert_eq!(list.ok(StatusCode::OK).as_array().expect("list").len(), 1);
}

both!(members_write_assets_but_do_not_manage_members, members_write_assets_but_do_not_manage_members_case);
async fn members_write_assets_but_do_not_manage_members_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let org = alice.org();
    let mia = app.member(org, &alice, "mia@example.com", "MEMBER").await;
    let vera = app.member(org, &alice, "vera@example.com", "VIEWER").await;
    app.user("bob@example.com", None).await;

    let asset = app.asset(org, &mia.auth(), "DOMAIN", "example.com").await;
    let path = format!("/api/orgs/{org}/assets/{}", s(&asset, "id"));
    app.patch(&path, &mia.auth(), json!({ "label": "mine" })).await.ok(StatusCode::OK);

    app.post(&members(org), &mia.auth(), json!({ "email": "bob@example.com", "role": "VIEWER" }))
        .await
        .err(StatusCode::FORBIDDEN);
    app.patch(&member(org, &vera.id), &mia.auth(), json!({ "role": "MEMBER" })).await.err(StatusCode::FORBIDDEN);
    app.patch(&member(org, &mia.id), &mia.auth(), json!({ "role": "ADMIN" })).await.err(StatusCode::FORBIDDEN);
    app.delete(&member(org, &vera.id), &mia.auth()).await.err(StatusCode::FORBIDDEN);
    app.delete(&member(org, &alice.id), &mia.auth()).await.err(StatusCode::FORBIDDEN);

    let mut want = vec![
        (alice.id.clone(), "OWNER".to_string()),
        (mia.id.clone(), "MEMBER".to_string()),
        (vera.id.clone(), "VIEWER".to_string()),
    ];
    want.sort();
    assert_eq!(roles(&app, org, &alice).await, want);
}

both!(admins_do_not_touch_owners, admins_do_not_touch_owners_case);
async fn admins_do_not_touch_owners_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let org = alice.org();
    let adam = app.member(org, &alice, "adam@example.com", "ADMIN").await;
    let (bob_id, _) = app.create_user("bob@example.com", None).await;
    app.create_user("carol@example.com", None).await;

    app.post(&members(org), &adam.auth(), json!({ "email": "carol@example.com", "role": "OWNER" }))
        .await
        .err(StatusCode::FORBIDDEN);
    let added = app.post(&members(org), &adam.auth(), json!({ "email": "bob@example.com", "role": "MEMBER" })).await;
    added.ok(StatusCode::CREATED);
    app.patch(&member(org, &bob_id), &adam.auth(), json!({ "role": "OWNER" })).await.err(StatusCode::FORBIDDEN);
    app.patch(&member(org, &adam.id), &adam.auth(), json!({ "role": "OWNER" })).await.err(StatusCode::FORBIDDEN);
    app.patch(&member(org, &alice.id), &adam.auth(), json!({ "role": "MEMBER" })).await.err(StatusCode::FORBIDDEN);
    app.delete(&member(org, &alice.id), &adam.auth()).await.err(StatusCode::FORBIDDEN);

    // What an admin may do.
    app.patch(&member(org, &bob_id), &adam.auth(), json!({ "role": "VIEWER" })).await.ok(StatusCode::OK);
    app.delete(&member(org, &bob_id), &adam.auth()).await.ok(StatusCode::OK);

    let mut want = vec![(alice.id.clone(), "OWNER".to_string()), (adam.id.clone(), "ADMIN".to_string())];
    want.sort();
    assert_eq!(roles(&app, org, &alice).await, want);

    // An owner may make owners.
    let r = app.patch(&member(org, &adam.id), &alice.auth(), json!({ "role": "OWNER" })).await;
    assert_eq!(r.ok(StatusCode::OK)["role"], "OWNER");
    app.post(&members(org), &alice.auth(), json!({ "email": "carol@example.com", "role": "OWNER" }))
        .await
        .ok(StatusCode::CREATED);
}

both!(the_last_owner_stays, the_last_owner_stays_case);
async fn the_last_owner_stays_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let org = alice.org();
    app.patch(&member(org, &alice.id), &alice.auth(), json!({ "role": "ADMIN" })).await.err(StatusCode::CONFLICT);
    app.delete(&member(org, &alice.id), &alice.auth()).await.err(StatusCode::CONFLICT);
    // Re-affirming the role is fine.
    app.patch(&member(org, &alice.id), &alice.auth(), json!({ "role": "OWNER" })).await.ok(StatusCode::OK);

    let bob = app.member(org, &alice, "bob@example.com", "ADMIN").await;
    app.patch(&member(org, &alice.id), &alice.auth(), json!({ "role": "ADMIN" })).await.err(StatusCode::CONFLICT);
    app.patch(&member(org, &bob.id), &alice.auth(), json!({ "role": "OWNER" })).await.ok(StatusCode::OK);
    // With two owners, one may step down...
    let r = app.patch(&member(org, &alice.id), &alice.auth(), json!({ "role": "ADMIN" })).await;
    assert_eq!(r.ok(StatusCode::OK)["role"], "ADMIN");
    // ...and the other is now the last.
    app.delete(&member(org, &bob.id), &bob.auth()).await.err(StatusCode::CONFLICT);
    app.patch(&member(org, &bob.id), &bob.auth(), json!({ "role": "MEMBER" })).await.err(StatusCode::CONFLICT);

    let mut want = vec![(alice.id.clone(), "ADMIN".to_string()), (bob.id.clone(), "OWNER".to_string())];
    want.sort();
    assert_eq!(roles(&app, org, &bob).await, want);
}

both!(members_may_leave, members_may_leave_case);
async fn members_may_leave_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let org = alice.org();
    let vera = app.member(org, &alice, "vera@example.com", "VIEWER").await;
    let mia = app.member(org, &alice, "mia@example.com", "MEMBER").await;

    for user in [&vera, &mia] {
        let r = app.delete(&member(org, &user.id), &user.auth()).await;
        assert_eq!(r.ok(StatusCode::OK)["removed"], true);
        app.get(&format!("/api/orgs/{org}"), &user.auth()).await.err(StatusCode::NOT_FOUND);
        let orgs = app.get("/api/orgs", &user.auth()).await;
        assert!(orgs.ok(StatusCode::OK).as_array().expect("orgs").is_empty());
    }
    assert_eq!(roles(&app, org, &alice).await, vec![(alice.id.clone(), "OWNER".to_string())]);

    // An owner may leave when another owner remains.
    let olga = app.member(org, &alice, "olga@example.com", "OWNER").await;
    app.delete(&member(org, &alice.id), &alice.auth()).await.ok(StatusCode::OK);
    assert_eq!(roles(&app, org, &olga).await, vec![(olga.id.clone(), "OWNER".to_string())]);
}

both!(org_created_at_is_the_same_everywhere, org_created_at_is_the_same_everywhere_case);
async fn org_created_at_is_the_same_everywhere_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let org = alice.org();
    // Bob joins later, so his membership is younger than the organization.
    let bob = app.member(org, &alice, "bob@example.com", "MEMBER").await;
    let one = app.get(&format!("/api/orgs/{org}"), &bob.auth()).await;
    let created = s(one.ok(StatusCode::OK), "createdAt").to_string();
    let list = app.get("/api/orgs", &bob.auth()).await;
    assert_eq!(s(&list.ok(StatusCode::OK)[0], "createdAt"), created, "GET /api/orgs");
    let me = app.get("/api/users/me", &bob.auth()).await;
    assert_eq!(s(&me.ok(StatusCode::OK)["organizations"][0], "createdAt"), created, "GET /api/users/me");
}

fn no_self_service(c: &mut tlink_server::Config) {
    c.self_service_orgs = false;
}

both!(only_operators_create_orgs_when_self_service_is_off, self_service_off_case, no_self_service);
async fn self_service_off_case(app: TestApp) {
    let user = app.user("user@example.com", None).await;
    let refused = app.post("/api/orgs", &user.auth(), json!({ "name": "Mine" })).await;
    refused.err(StatusCode::FORBIDDEN);
    assert!(refused.message().contains("operators"), "{}", refused.text);
    assert!(app.get("/api/orgs", &user.auth()).await.ids().is_empty(), "nothing was created");
    let operator = app.operator("operator@example.com").await;
    let made = app.post("/api/orgs", &operator.auth(), json!({ "name": "Customer" })).await;
    assert_eq!(made.ok(StatusCode::CREATED)["role"], "OWNER");
    // Bad names are still named first.
    app.post("/api/orgs", &user.auth(), json!({ "name": "  " })).await.invalid("name");
}
