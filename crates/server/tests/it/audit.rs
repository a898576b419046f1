//! The audit log: every change to keys, members, rules, the plan and alert statuses is recorded with who,
//! what, when and through which key, whichever front end made it; owners and admins read it over the
//! TLINK API and Threat Stack's `/v2/auditlogs`; nothing writes or deletes an entry; other tenants see a 404.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::hawk::{Signed, send};
use crate::support::{TestApp, s};

fn actions(entries: &[Value]) -> Vec<&str> {
    entries.iter().map(|e| e["action"].as_str().unwrap_or_default()).collect()
}

both!(changes_are_recorded_and_read_by_admins, audit_case);
async fn audit_case(app: TestApp) {
    let owner = app.user("owner@example.com", Some("Acme")).await;
    let org = owner.org().to_string();
    let bob = app.member(&org, &owner, "bob@example.com", "MEMBER").await;
    let key = app.api_key(&owner.auth(), "ci").await;
    let by_key = crate::support::Auth::key(&key);
    app.patch(&format!("/api/orgs/{org}/members/{}", bob.id), &by_key, json!({"role": "ADMIN"}))
        .await
        .ok(StatusCode::OK);
    let rule = app
        .post(
            &format!("/api/orgs/{org}/alert-rules"),
            &owner.auth(),
            json!({"name": "Has A", "condition": {"tool": "dns", "field": "a", "operator": "exists"}, "severity": "LOW"}),
        )
        .await;
    let rule_id = s(rule.ok(StatusCode::CREATED), "id").to_string();
    app.patch(&format!("/api/orgs/{org}/alert-rules/{rule_id}"), &owner.auth(), json!({"severity": "HIGH"}))
        .await
        .ok(StatusCode::OK);
    app.delete(&format!("/api/orgs/{org}/alert-rules/{rule_id}"), &owner.auth()).await.ok(StatusCode::OK);
    app.delete(&format!("/api/orgs/{org}/members/{}", bob.id), &owner.auth()).await.ok(StatusCode::OK);
    // Settings: a change is recorded, the same value again is not.
    let settings = format!("/api/orgs/{org}/settings");
    for _ in 0..2 {
        let body = json!({"monitorIntervalMinutes": 90, "notifyEmail": false});
        app.patch(&settings, &owner.auth(), body).await.ok(StatusCode::OK);
    }
    let log = app.get(&format!("/api/orgs/{org}/audit-log?limit=2"), &owner.auth()).await;
    let settings_entries = log.ok(StatusCode::OK).as_array().expect("entries").clone();
    assert_eq!(
        actions(&settings_entries),
        ["member.alert_email_changed", "settings.monitor_interval_changed"],
        "{settings_entries:#?}"
    );
    assert_eq!(settings_entries[0]["summary"], "turned alert e-mail off for owner@example.com");
    assert_eq!(settings_entries[1]["summary"], "changed the default scan interval from 1440 minutes to 90 minutes");
    assert_eq!(settings_entries[1]["targetType"], "organization");

    let log = app.get(&format!("/api/orgs/{org}/audit-log?targetType=rule&limit=2"), &owner.auth()).await;
    assert_eq!(actions(log.ok(StatusCode::OK).as_array().expect("page")), ["rule.deleted", "rule.updated"]);
    let log = app.get(&format!("/api/orgs/{org}/audit-log"), &owner.auth()).await;
    let entries = log.ok(StatusCode::OK).as_array().expect("entries").clone();
    assert_eq!(
        actions(&entries[2..]),
        [
            "member.removed",
            "rule.deleted",
            "rule.updated",
            "rule.created",
            "member.role_changed",
            "api_key.created",
            "member.added"
        ],
        "newest first: {entries:#?}"
    );
    let entries = entries[2..].to_vec();
    let role = &entries[4];
    assert_eq!(role["actor"], "owner@example.com");
    assert_eq!(role["actorUserId"], json!(owner.id));
    assert_eq!(role["actorKeyPrefix"], json!(&key[..12]), "made with the key: {role}");
    assert_eq!(role["summary"], "changed bob@example.com's role from MEMBER to ADMIN");
    assert_eq!((role["targetType"].as_str(), role["source"].as_str()), (Some("member"), Some("api")));
    assert!(entries[3]["actorKeyPrefix"].is_null(), "a Bearer session has no key");
    assert!(s(&entries[3], "summary").contains("“Has A” (LOW dns a exists)"), "{}", entries[3]);

    // Filters and paging.
    let only = app.get(&format!("/api/orgs/{org}/audit-log?targetType=rule&limit=2"), &owner.auth()).await;
    let page = only.ok(StatusCode::OK).as_array().expect("page").clone();
    assert_eq!(actions(&page), ["rule.deleted", "rule.updated"]);
    let token = only.body["meta"]["nextToken"].as_str().expect("a next page").to_string();
    let next =
        app.get(&format!("/api/orgs/{org}/audit-log?targetType=rule&limit=2&token={token}"), &owner.auth()).await;
    assert_eq!(actions(next.ok(StatusCode::OK).as_array().expect("page")), ["rule.created"]);

    // Owners and admins read it; a member gets 403, another organization's owner 404.
    let carol = app.member(&org, &owner, "carol@example.com", "MEMBER").await;
    app.get(&format!("/api/orgs/{org}/audit-log"), &carol.auth()).await.err(StatusCode::FORBIDDEN);
    let stranger = app.user("stranger@example.com", Some("Other")).await;
    app.get(&format!("/api/orgs/{org}/audit-log"), &stranger.auth()).await.err(StatusCode::NOT_FOUND);
    let theirs = app.get(&format!("/api/orgs/{}/audit-log", stranger.org()), &stranger.auth()).await;
    assert!(
        theirs.ok(StatusCode::OK).as_array().is_some_and(|a| a.iter().all(|e| e["actor"] == "stranger@example.com"))
    );
    // Nothing writes or deletes entries.
    for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
        let r = app.req(method.clone(), &format!("/api/orgs/{org}/audit-log"), &owner.auth(), None).await;
        assert_eq!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method}");
    }

    // Threat Stack's shape over Hawk, with from/until.
    let url = format!("/v2/auditlogs?from={}", &s(&entries[0], "at")[..10]);
    let auth = Signed::new(Method::GET, &url, Some(&org)).header(&owner.id, &key);
    let r = send(&app, Method::GET, &url, &auth, None).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    let recs = r.body["recs"].as_array().expect("recs");
    assert!(recs.len() >= 7, "{}", r.text);
    let rec = recs.iter().find(|r| r["action"] == "member.role_changed").expect("the role change");
    assert_eq!(rec["userEmail"], "owner@example.com");
    assert_eq!(rec["organizationId"], json!(org));
    assert_eq!((rec["crud"].as_str(), rec["result"].as_str()), (Some("update"), Some("success")));
    assert_eq!(rec["context"]["targetId"], json!(bob.id));
    assert!(r.body.get("token").is_some(), "{}", r.text);
    let until = "/v2/auditlogs?until=2000";
    let auth = Signed::new(Method::GET, until, Some(&org)).header(&owner.id, &key);
    let r = send(&app, Method::GET, until, &auth, None).await;
    assert_eq!(r.body["recs"], json!([]), "{}", r.text);
}
