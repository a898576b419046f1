//! API keys: creation (shown once), listing, last use, revocation.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::support::{Auth, TestApp, random_id, s};

const KEYS: &str = "/api/users/me/api-keys";

both!(create_and_list_keys, create_and_list_keys_case);
async fn create_and_list_keys_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let r = app.post(KEYS, &alice.auth(), json!({ "name": "CI pipeline key" })).await;
    let created = r.ok(StatusCode::CREATED).clone();
    let key = s(&created, "key");
    let random = key.strip_prefix("tlpro_").unwrap_or_else(|| panic!("key starts with tlpro_: {key}"));
    assert!(random.len() >= 32, "at least 32 random characters: {key}");
    assert!(random.bytes().all(|b| b.is_ascii_alphanumeric()), "base62: {key}");
    assert_eq!(created["name"], "CI pipeline key");
    let prefix = s(&created, "prefix");
    assert!(key.starts_with(prefix) && prefix.len() < key.len() / 2, "a short visible prefix: {prefix}");
    assert!(created["lastUsedAt"].is_null());
    s(&created, "createdAt");
    let id = s(&created, "id").to_string();

    let other = app.api_key(&alice.auth(), "second").await;
    assert_ne!(other, key);

    let list = app.get(KEYS, &alice.auth()).await;
    let items = list.ok(StatusCode::OK).as_array().expect("list").clone();
    assert_eq!(items.len(), 2);
    assert_eq!(list.body["meta"]["count"], 2);
    assert!(!list.text.contains(key) && !list.text.contains(&other), "the list never shows a key: {}", list.text);
    let mine = items.iter().find(|k| k["id"] == id.as_str()).expect("the created key is listed");
    for field in ["id", "name", "prefix", "createdAt", "lastUsedAt"] {
        assert!(mine.get(field).is_some(), "{field} listed: {mine}");
    }
    assert!(mine.get("key").is_none() && mine.get("keyHash").is_none(), "{mine}");
    assert_eq!(mine["name"], "CI pipeline key");
    assert_eq!(mine["prefix"], prefix);
    assert!(mine["lastUsedAt"].is_null());

    // Another user sees none of them.
    let bob = app.user("bob@example.com", None).await;
    let theirs = app.get(KEYS, &bob.auth()).await;
    assert!(theirs.ok(StatusCode::OK).as_array().expect("list").is_empty());

    app.post(KEYS, &alice.auth(), json!({ "name": "   " })).await.invalid("name");
    app.post(KEYS, &alice.auth(), json!({ "name": "x".repeat(201) })).await.invalid("name");
    app.post(KEYS, &alice.auth(), json!({})).await.invalid("name");
    app.post(KEYS, &alice.auth(), json!({ "name": "k", "scopes": [] })).await.rejects("scopes");
}

both!(last_use_is_recorded, last_use_is_recorded_case);
async fn last_use_is_recorded_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let key = app.api_key(&alice.auth(), "cli").await;
    app.get("/api/users/me", &Auth::key(&key)).await.ok(StatusCode::OK);

    // Recorded off the request path: poll for it, a bounded number of times.
    let mut last_used = None;
    for _ in 0..200 {
        let list = app.get(KEYS, &alice.auth()).await;
        let v = list.ok(StatusCode::OK)[0]["lastUsedAt"].clone();
        if !v.is_null() {
            last_used = Some(v);
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let last_used = last_used.expect("lastUsedAt is set after the key was used");
    let list = app.get(KEYS, &alice.auth()).await;
    let created_at = s(&list.data()[0], "createdAt").to_string();
    let used = last_used.as_str().expect("RFC 3339 text");
    assert!(used >= created_at.as_str(), "used {used} not before created {created_at}");
}

both!(revoked_keys_fail_at_once, revoked_keys_fail_at_once_case);
async fn revoked_keys_fail_at_once_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let r = app.post(KEYS, &alice.auth(), json!({ "name": "doomed" })).await;
    let created = r.ok(StatusCode::CREATED).clone();
    let key = s(&created, "key").to_string();
    let id = s(&created, "id").to_string();
    let keep = app.api_key(&alice.auth(), "kept").await;

    let assets = format!("/api/orgs/{}/assets", alice.org());
    app.get(&assets, &Auth::key(&key)).await.ok(StatusCode::OK);

    let revoked = app.delete(&format!("{KEYS}/{id}"), &alice.auth()).await;
    let data = revoked.ok(StatusCode::OK);
    assert_eq!(data["id"], id.as_str());
    assert_eq!(data["revoked"], true);

    app.get(&assets, &Auth::key(&key)).await.err(StatusCode::UNAUTHORIZED);
    app.get("/api/users/me", &Auth::key(&key)).await.err(StatusCode::UNAUTHORIZED);
    app.get(&assets, &Auth::key(&keep)).await.ok(StatusCode::OK);

    let list = app.get(KEYS, &alice.auth()).await;
    list.ok(StatusCode::OK);
    assert!(!list.ids().contains(&id), "a revoked key is not listed");
    app.delete(&format!("{KEYS}/{id}"), &alice.auth()).await.err(StatusCode::NOT_FOUND);

    // A key may revoke itself.
    let list = app.get(KEYS, &alice.auth()).await;
    let keep_id = list.ids()[0].clone();
    app.delete(&format!("{KEYS}/{keep_id}"), &Auth::key(&keep)).await.ok(StatusCode::OK);
    app.get("/api/users/me", &Auth::key(&keep)).await.err(StatusCode::UNAUTHORIZED);
}

both!(other_users_keys_are_404, other_users_keys_are_404_case);
async fn other_users_keys_are_404_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let bob = app.user("bob@example.com", Some("Org B")).await;
    let r = app.post(KEYS, &alice.auth(), json!({ "name": "alice's" })).await;
    let created = r.ok(StatusCode::CREATED).clone();
    let path = format!("{KEYS}/{}", s(&created, "id"));

    let bob_key = app.api_key(&bob.auth(), "bob's").await;
    app.delete(&path, &bob.auth()).await.err(StatusCode::NOT_FOUND);
    app.delete(&path, &Auth::key(&bob_key)).await.err(StatusCode::NOT_FOUND);
    app.delete(&format!("{KEYS}/{}", random_id()), &bob.auth()).await.err(StatusCode::NOT_FOUND);
    app.get("/api/users/me", &Auth::key(s(&created, "key"))).await.ok(StatusCode::OK);
}

both!(bad_key_ids_are_400, bad_key_ids_are_400_case);
async fn bad_key_ids_are_400_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    for bad in ["not-a-uuid", "123", "0190f3c2-7b1e-7abc-8def-0123456789ag"] {
        app.delete(&format!("{KEYS}/{bad}"), &alice.auth()).await.invalid("keyId");
    }
}

both!(rotation_replaces_a_key, rotation_replaces_a_key_case);
async fn rotation_replaces_a_key_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let r = app.post(KEYS, &alice.auth(), json!({ "name": "deploy" })).await;
    let old = r.ok(StatusCode::CREATED).clone();
    let (old_key, old_id) = (s(&old, "key").to_string(), s(&old, "id").to_string());
    app.get("/api/users/me", &Auth::key(&old_key)).await.ok(StatusCode::OK);

    // At once: the successor has the same name, the old key stops working, the list shows only the new one.
    let rotated = app.raw(Method::POST, &format!("{KEYS}/{old_id}/rotate"), &alice.auth(), None, "").await;
    let new = rotated.ok(StatusCode::CREATED).clone();
    let new_key = s(&new, "key").to_string();
    assert_eq!(new["name"], "deploy");
    assert_ne!(new_key, old_key);
    assert_ne!(s(&new, "id"), old_id);
    app.get("/api/users/me", &Auth::key(&old_key)).await.err(StatusCode::UNAUTHORIZED);
    app.get("/api/users/me", &Auth::key(&new_key)).await.ok(StatusCode::OK);
    let ids = app.get(KEYS, &alice.auth()).await.ids();
    assert_eq!(ids, vec![s(&new, "id").to_string()]);
    // A key already replaced cannot be rotated again.
    app.post(&format!("{KEYS}/{old_id}/rotate"), &alice.auth(), json!({})).await.err(StatusCode::NOT_FOUND);

    // With a grace period the old key keeps working until it ends, and is listed with its end.
    let new_id = s(&new, "id").to_string();
    let graced = app.post(&format!("{KEYS}/{new_id}/rotate"), &alice.auth(), json!({ "graceSeconds": 1 })).await;
    let third = s(graced.ok(StatusCode::CREATED), "key").to_string();
    app.get("/api/users/me", &Auth::key(&new_key)).await.ok(StatusCode::OK);
    app.get("/api/users/me", &Auth::key(&third)).await.ok(StatusCode::OK);
    let list = app.get(KEYS, &alice.auth()).await;
    let ending = list.items().iter().find(|k| k["id"] == new_id.as_str()).expect("the old key is listed").clone();
    s(&ending, "expiresAt");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    app.get("/api/users/me", &Auth::key(&new_key)).await.err(StatusCode::UNAUTHORIZED);
    app.get("/api/users/me", &Auth::key(&third)).await.ok(StatusCode::OK);
    assert_eq!(app.get(KEYS, &alice.auth()).await.items().len(), 1);

    // Bad grace periods, another user's key, an unknown key.
    let third_id = app.get(KEYS, &alice.auth()).await.ids()[0].clone();
    let path = format!("{KEYS}/{third_id}/rotate");
    app.post(&path, &alice.auth(), json!({ "graceSeconds": 86_401 })).await.invalid("graceSeconds");
    app.post(&path, &alice.auth(), json!({ "graceSeconds": -1 })).await.err(StatusCode::BAD_REQUEST);
    app.post(&path, &alice.auth(), json!({ "grace": 5 })).await.rejects("grace");
    let bob = app.user("bob@example.com", None).await;
    app.post(&path, &bob.auth(), json!({})).await.err(StatusCode::NOT_FOUND);
    app.post(&format!("{KEYS}/{}/rotate", random_id()), &alice.auth(), json!({})).await.err(StatusCode::NOT_FOUND);
    app.get("/api/users/me", &Auth::key(&third)).await.ok(StatusCode::OK);
}
