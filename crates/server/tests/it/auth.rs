//! Sessions: login, access tokens, refresh rotation and reuse detection, logout, the login throttle.

use axum::http::{StatusCode, header};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::Serialize;
use serde_json::json;

use crate::support::{Auth, PASSWORD, SECRET, TestApp, random_id, s};

both!(login_returns_a_token_pair, login_returns_a_token_pair_case);
async fn login_returns_a_token_pair_case(app: TestApp) {
    let (id, _) = app.create_user("alice@example.com", Some("Org A")).await;
    let r = app.login("alice@example.com", PASSWORD).await;
    let data = r.ok(StatusCode::OK);
    let access = s(data, "accessToken");
    assert_eq!(access.split('.').count(), 3, "access token is a JWT: {access}");
    assert!(s(data, "refreshToken").len() >= 32, "refresh token is long and random");
    assert_ne!(s(data, "refreshToken"), access);
    assert_eq!(data["tokenType"], "Bearer");
    assert_eq!(data["expiresIn"], 900);
    assert_eq!(data["user"]["id"], id.as_str());
    assert_eq!(data["user"]["email"], "alice@example.com");
    assert!(data["user"].get("passwordHash").is_none() && !r.text.contains("argon2"), "no hash: {}", r.text);

    let me = app.get("/api/users/me", &Auth::bearer(access)).await;
    assert_eq!(me.ok(StatusCode::OK)["id"], id.as_str());

    // The email is matched after trimming and lower-casing.
    app.login("  ALICE@Example.COM ", PASSWORD).await.ok(StatusCode::OK);
}

both!(failed_logins_are_401, failed_logins_are_401_case);
async fn failed_logins_are_401_case(app: TestApp) {
    app.create_user("alice@example.com", Some("Org A")).await;
    let wrong = app.login("alice@example.com", "not the password").await;
    wrong.err(StatusCode::UNAUTHORIZED);
    assert!(wrong.body.get("accessToken").is_none());
    let unknown = app.login("nobody@example.com", PASSWORD).await;
    unknown.err(StatusCode::UNAUTHORIZED);
    assert_eq!(wrong.message(), unknown.message(), "the answer does not tell which accounts exist");

    app.post("/api/auth/login", &Auth::None, json!({ "email": "alice@example.com" })).await.invalid("password");
    app.post("/api/auth/login", &Auth::None, json!({ "email": "alice@example.com", "password": PASSWORD, "otp": 1 }))
        .await
        .rejects("otp");
}

both!(me_accepts_bearer_and_api_key, me_accepts_bearer_and_api_key_case);
async fn me_accepts_bearer_and_api_key_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let by_token = app.get("/api/users/me", &alice.auth()).await;
    let data = by_token.ok(StatusCode::OK);
    assert_eq!(data["id"], alice.id.as_str());
    assert_eq!(data["email"], "alice@example.com");
    let orgs = data["organizations"].as_array().expect("organizations");
    assert_eq!(orgs.len(), 1);
    assert_eq!(orgs[0]["id"], alice.org());
    assert_eq!(orgs[0]["name"], "Org A");
    assert_eq!(orgs[0]["role"], "OWNER");
    assert_eq!(orgs[0]["plan"], "FREE");

    let key = app.api_key(&alice.auth(), "cli").await;
    let by_key = app.get("/api/users/me", &Auth::key(&key)).await;
    assert_eq!(by_key.ok(StatusCode::OK), data, "the same user either way");
}

both!(missing_or_bad_credentials_are_401, missing_or_bad_credentials_are_401_case);
async fn missing_or_bad_credentials_are_401_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let unknown_key = format!("tlpro_{}", "a".repeat(40));
    let cases = [
        Auth::None,
        Auth::bearer("garbage"),
        Auth::bearer("a.b.c"),
        Auth::Header("authorization", "Bearer".into()),
        Auth::Header("authorization", "Basic YWxpY2VAZXhhbXBsZS5jb206cGFzcw==".into()),
        Auth::Header("authorization", alice.access.clone()),
        Auth::key("nope"),
        Auth::key("tlpro_short"),
        Auth::key(&unknown_key),
        // A refresh token is not an access token.
        Auth::bearer(&alice.refresh),
    ];
    let org_assets = format!("/api/orgs/{}/assets", alice.org());
    for auth in &cases {
        for path in ["/api/users/me", "/api/users/me/api-keys", "/api/orgs", org_assets.as_str()] {
            let r = app.get(path, auth).await;
            assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path} with {auth:?}: {}", r.text);
            r.err(StatusCode::UNAUTHORIZED);
        }
    }
    // Writes are refused before the body is looked at.
    app.post(&org_assets, &Auth::None, json!({ "type": "DOMAIN", "value": "example.com" }))
        .await
        .err(StatusCode::UNAUTHORIZED);
}

both!(anonymous_callers_are_401_before_path_checks, anonymous_callers_are_401_before_path_checks_case);
async fn anonymous_callers_are_401_before_path_checks_case(app: TestApp) {
    // A malformed org id is a 400 only for a caller who has authenticated.
    for auth in [Auth::None, Auth::bearer("garbage")] {
        let r = app.get("/api/orgs/not-a-uuid/assets", &auth).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{auth:?}: {}", r.text);
    }
}

#[derive(Serialize)]
struct Claims<'a> {
    sub: &'a str,
    iat: i64,
    exp: i64,
    typ: &'a str,
}

fn jwt(secret: &[u8], sub: &str, exp_offset_secs: i64, typ: &str) -> String {
    let now = chrono::Utc::now().timestamp();
    let claims = Claims { sub, iat: now, exp: now + exp_offset_secs, typ };
    jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &EncodingKey::from_secret(secret))
        .expect("encoding a JWT")
}

both!(forged_or_expired_access_tokens_are_401, forged_or_expired_access_tokens_are_401_case);
async fn forged_or_expired_access_tokens_are_401_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    // A token minted like the server's own is accepted: the cases below differ in one thing each.
    let good = jwt(SECRET, &alice.id, 600, "access");
    app.get("/api/users/me", &Auth::bearer(&good)).await.ok(StatusCode::OK);

    let expired = jwt(SECRET, &alice.id, -3600, "access");
    let wrong_type = jwt(SECRET, &alice.id, 600, "refresh");
    let other_secret = jwt(b"another-secret-another-secret-another-secret", &alice.id, 600, "access");
    let bad_subject = jwt(SECRET, "not-a-user-id", 600, "access");
    let unsigned = {
        use base64::Engine;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let head = b64.encode(br#"{"alg":"none","typ":"JWT"}"#);
        let payload = good.split('.').nth(1).expect("payload").to_string();
        format!("{head}.{payload}.")
    };
    for token in [expired, wrong_type, other_secret, bad_subject, unsigned] {
        let r = app.get("/api/users/me", &Auth::bearer(&token)).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{token}: {}", r.text);
        r.err(StatusCode::UNAUTHORIZED);
    }
    // A valid token for a user who does not exist gets nothing either.
    let ghost = jwt(SECRET, &random_id(), 600, "access");
    let r = app.get("/api/users/me", &Auth::bearer(&ghost)).await;
    assert!(r.status.is_client_error(), "ghost user: {}", r.text);
    assert!(r.body.get("data").is_none());
}

async fn refresh(app: &TestApp, token: &str) -> crate::support::Reply {
    app.post("/api/auth/refresh", &Auth::None, json!({ "refreshToken": token })).await
}

both!(refresh_rotates_and_reuse_revokes_the_family, refresh_rotates_and_reuse_revokes_the_family_case);
async fn refresh_rotates_and_reuse_revokes_the_family_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    // A second, independent login.
    let other_login = app.login("alice@example.com", PASSWORD).await;
    let other_refresh = s(other_login.ok(StatusCode::OK), "refreshToken").to_string();

    let r1 = alice.refresh.clone();
    let rotated = refresh(&app, &r1).await;
    let data = rotated.ok(StatusCode::OK);
    let a2 = s(data, "accessToken").to_string();
    let r2 = s(data, "refreshToken").to_string();
    assert_ne!(r2, r1, "a new refresh token");
    assert_eq!(data["expiresIn"], 900);
    app.get("/api/users/me", &Auth::bearer(&a2)).await.ok(StatusCode::OK);

    // Presenting the rotated token again: 401, and the whole family is revoked.
    refresh(&app, &r1).await.err(StatusCode::UNAUTHORIZED);
    refresh(&app, &r2).await.err(StatusCode::UNAUTHORIZED);

    // The other login is a different family and still works.
    let other = refresh(&app, &other_refresh).await;
    let r3 = s(other.ok(StatusCode::OK), "refreshToken").to_string();
    refresh(&app, &r3).await.ok(StatusCode::OK);

    refresh(&app, "not-a-token").await.err(StatusCode::UNAUTHORIZED);
    app.post("/api/auth/refresh", &Auth::None, json!({})).await.invalid("refreshToken");
    app.post("/api/auth/refresh", &Auth::None, json!({ "refreshToken": 42 })).await.invalid("refreshToken");
}

both!(logout_revokes_the_session, logout_revokes_the_session_case);
async fn logout_revokes_the_session_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let out = app.post("/api/auth/logout", &Auth::None, json!({ "refreshToken": alice.refresh })).await;
    assert_eq!(out.ok(StatusCode::OK)["revoked"], true);
    refresh(&app, &alice.refresh).await.err(StatusCode::UNAUTHORIZED);
    let again = app.post("/api/auth/logout", &Auth::None, json!({ "refreshToken": alice.refresh })).await;
    assert_eq!(again.ok(StatusCode::OK)["revoked"], false);

    // Logging out with a rotated-to token ends the session too.
    let login = app.login("alice@example.com", PASSWORD).await;
    let first = s(login.ok(StatusCode::OK), "refreshToken").to_string();
    let rotated = refresh(&app, &first).await;
    let second = s(rotated.ok(StatusCode::OK), "refreshToken").to_string();
    let out = app.post("/api/auth/logout", &Auth::None, json!({ "refreshToken": second })).await;
    assert_eq!(out.ok(StatusCode::OK)["revoked"], true);
    refresh(&app, &second).await.err(StatusCode::UNAUTHORIZED);

    let unknown = app.post("/api/auth/logout", &Auth::None, json!({ "refreshToken": "nope" })).await;
    assert_eq!(unknown.ok(StatusCode::OK)["revoked"], false);
}

fn retry_after(r: &crate::support::Reply) -> u64 {
    r.headers
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("429 without a numeric Retry-After: {:?}", r.headers))
}

both!(
    failed_logins_are_throttled_per_account,
    failed_logins_are_throttled_per_account_case,
    |c: &mut tlink_server::Config| {
        c.login_max_failures = 3;
        c.login_window_secs = 600;
    }
);
async fn failed_logins_are_throttled_per_account_case(app: TestApp) {
    app.create_user("alice@example.com", Some("Org A")).await;
    for _ in 0..3 {
        app.login("alice@example.com", "wrong password").await.err(StatusCode::UNAUTHORIZED);
    }
    // Over the limit even the right password is refused.
    let r = app.login("alice@example.com", PASSWORD).await;
    r.err(StatusCode::TOO_MANY_REQUESTS);
    let wait = retry_after(&r);
    assert!((1..=601).contains(&wait), "Retry-After {wait} within the window");
    assert!(r.body.get("accessToken").is_none() && r.data().is_null());
}

both!(
    failed_logins_are_throttled_per_client,
    failed_logins_are_throttled_per_client_case,
    |c: &mut tlink_server::Config| {
        c.login_max_failures = 3;
    }
);
async fn failed_logins_are_throttled_per_client_case(app: TestApp) {
    app.create_user("alice@example.com", Some("Org A")).await;
    // Below the limit a good login works and does not count.
    app.login("alice@example.com", PASSWORD).await.ok(StatusCode::OK);
    // Three failures against three different (unknown) accounts from one client...
    for i in 0..3 {
        app.login(&format!("nobody{i}@example.com"), "whatever1").await.err(StatusCode::UNAUTHORIZED);
    }
    // ...block that client, for every account.
    let r = app.login("alice@example.com", PASSWORD).await;
    r.err(StatusCode::TOO_MANY_REQUESTS);
    retry_after(&r);
}

both!(api_key_callers_are_authenticated_before_path_checks, api_key_callers_are_authenticated_before_path_checks_case);
async fn api_key_callers_are_authenticated_before_path_checks_case(app: TestApp) {
    // auth.rs promises "Authenticate before looking at the path": a bogus key must get the same 401
    // whatever the path holds, as a bogus Bearer token does.
    for key in ["nope", "tlpro_short"] {
        let r = app.get("/api/orgs/not-a-uuid/assets", &Auth::key(key)).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{key}: {}", r.text);
    }
}
