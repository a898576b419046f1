//! Which request limits govern which API family, and their headers on every response, errors included.
//! The Threat Stack family (`/v2`, `/help`) is limited per organization — 200 a minute by default,
//! whatever the organization's TLINK plan — and per client IP, with Threat Stack's `x-rate-limit-*` on
//! every response; the TLINK family (`/api`) per credential by the plan, with `X-RateLimit-*` and
//! `Retry-After` on every response, as the TLINK PRO documentation promises.

use std::net::SocketAddr;
use std::time::Instant;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use tlink_server::Config;

use crate::hawk::{HOST, PORT, Signed};
use crate::support::{Auth, Reply, TestApp, random_id};
use crate::v2::{Ts, setup};

fn limited(c: &mut Config) {
    c.limits.enabled = true;
}

fn value<'a>(r: &'a Reply, name: &str) -> &'a str {
    r.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_else(|| panic!("no {name} in {:?}", r.headers))
}

fn num(r: &Reply, name: &str) -> u64 {
    value(r, name).parse().unwrap_or_else(|_| panic!("{name} is not a number: {}", value(r, name)))
}

/// Threat Stack's error shape, never the TLINK envelope.
#[track_caller]
fn ts_error(r: &Reply, status: StatusCode) {
    assert_eq!(r.status, status, "{}", r.text);
    assert!(r.body["errors"][0].is_string(), "{{\"errors\": [...]}}: {}", r.text);
    assert!(r.body.get("success").is_none(), "not the envelope: {}", r.text);
}

/// A request from a client at `peer`, Hawk-signed for `ts` when given.
async fn from(app: &TestApp, method: Method, uri: &str, ts: Option<&Ts>, peer: &str) -> Reply {
    let addr: SocketAddr = format!("{peer}:40000").parse().expect("address");
    let mut b = Request::builder().method(method.clone()).uri(uri).header(header::HOST, format!("{HOST}:{PORT}"));
    if let Some(ts) = ts {
        let h = Signed::new(method, uri, Some(&ts.org)).header(&ts.user.id, &ts.key);
        b = b.header(header::AUTHORIZATION, h);
    }
    app.send(b.extension(ConnectInfo(addr)).body(Body::empty()).expect("request")).await
}

both!(threat_stack_clients_get_200_a_minute_per_organization_whatever_the_plan, default_case, limited);
async fn default_case(app: TestApp) {
    let ts = setup(&app, "ts@example.com").await;
    let usage = app.get(&format!("/api/orgs/{}/usage", ts.org), &ts.user.auth()).await;
    assert_eq!(usage.ok(StatusCode::OK)["plan"], "FREE", "a FREE organization: 30 a minute per credential on /api");

    let started = Instant::now();
    for i in 1..=200 {
        let r = from(&app, Method::GET, "/v2/alerts", Some(&ts), "198.51.100.1").await;
        assert_eq!(r.status, StatusCode::OK, "request {i} of 200 is within the organization's limit: {}", r.text);
        assert_eq!(num(&r, "x-rate-limit-limit"), 200, "request {i}");
        assert_eq!(num(&r, "x-rate-limit-reset"), 0, "not limited: 0 ms to wait");
        if i == 1 {
            assert_eq!(num(&r, "x-rate-limit-remaining"), 199);
        }
    }
    // The bucket refills one request every 300 ms: over the limit once the refills of the loop's time are
    // used up too.
    let refills = started.elapsed().as_millis() / 300 + 2;
    let mut refused = None;
    for _ in 0..refills {
        let r = from(&app, Method::GET, "/v2/alerts", Some(&ts), "198.51.100.1").await;
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(r);
            break;
        }
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    }
    let r = refused.expect("refused once the organization's 200 a minute are used");
    ts_error(&r, StatusCode::TOO_MANY_REQUESTS);
    assert!(r.body["errors"][0].as_str().unwrap_or_default().contains("200 requests per minute"), "{}", r.text);
    assert_eq!(num(&r, "x-rate-limit-limit"), 200);
    assert_eq!(num(&r, "x-rate-limit-remaining"), 0);
    let wait_ms = num(&r, "x-rate-limit-reset");
    assert!((1..=300).contains(&wait_ms), "milliseconds to the next refill (one every 300 ms): {wait_ms}");
    assert_eq!(num(&r, "retry-after"), 1);
    assert!(r.headers.contains_key("server-authorization"), "a verified request's refusal is signed too");
}

both!(the_organization_limit_is_shared_configurable_and_counts_every_request, shared_case, |c: &mut Config| {
    limited(c);
    c.limits.org_per_minute = 3;
});
async fn shared_case(app: TestApp) {
    let ts = setup(&app, "ts@example.com").await;
    // A second key of the same user and another member's key act in the same organization.
    let second = Ts { user: ts.user.clone(), key: app.api_key(&ts.user.auth(), "second").await, org: ts.org.clone() };
    let member = app.member(&ts.org, &ts.user, "member@example.com", "MEMBER").await;
    let third = Ts { key: app.api_key(&member.auth(), "member").await, user: member, org: ts.org.clone() };
    let peer = "198.51.100.2";

    // Errors count too, and carry the headers: an unknown route, a refused filter, a wrong method.
    let r = from(&app, Method::GET, "/v2/nope", Some(&ts), peer).await;
    ts_error(&r, StatusCode::NOT_FOUND);
    assert_eq!((num(&r, "x-rate-limit-limit"), num(&r, "x-rate-limit-remaining")), (3, 2));
    assert_eq!(num(&r, "x-rate-limit-reset"), 0);
    let r = from(&app, Method::GET, "/v2/alerts?severity=9", Some(&second), peer).await;
    ts_error(&r, StatusCode::BAD_REQUEST);
    assert_eq!(num(&r, "x-rate-limit-remaining"), 1);
    let r = from(&app, Method::DELETE, "/v2/alerts", Some(&third), peer).await;
    ts_error(&r, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(num(&r, "x-rate-limit-remaining"), 0);
    let r = from(&app, Method::GET, "/help/hawk/self-test", Some(&ts), peer).await;
    ts_error(&r, StatusCode::TOO_MANY_REQUESTS);
    let wait_ms = num(&r, "x-rate-limit-reset");
    assert!((1..=20_000).contains(&wait_ms), "one request every 20 s at 3 a minute: {wait_ms} ms");
    assert_eq!((num(&r, "x-rate-limit-limit"), num(&r, "x-rate-limit-remaining")), (3, 0));
    assert_eq!(num(&r, "retry-after"), wait_ms.div_ceil(1000));

    // Another organization has a bucket of its own.
    let other = setup(&app, "other@example.com").await;
    let r = from(&app, Method::GET, "/v2/alerts", Some(&other), peer).await;
    assert_eq!((r.status, num(&r, "x-rate-limit-remaining")), (StatusCode::OK, 2), "{}", r.text);

    // /api keeps the plan's per-credential limit (FREE: 30), with the TLINK headers only.
    let r = app.get(&format!("/api/orgs/{}/assets", ts.org), &Auth::key(&ts.key)).await;
    r.ok(StatusCode::OK);
    assert_eq!(num(&r, "x-ratelimit-limit"), 30);
    assert!(r.headers.get("x-rate-limit-limit").is_none(), "{:?}", r.headers);
}

both!(the_organization_limit_is_shared_through_redis, shared_redis_case, |c: &mut Config| {
    limited(c);
    c.limits.org_per_minute = 3;
    c.limits.redis_url = "redis://127.0.0.1:6379/0".into();
    c.limits.redis_prefix = format!("tlink-it-{}:", uuid::Uuid::now_v7().simple());
});
async fn shared_redis_case(app: TestApp) {
    if crate::limits::redis_ready(&app).await {
        shared_case(app).await;
    }
}

both!(threat_stack_answers_carry_the_ip_bucket_before_authentication, ip_case, |c: &mut Config| {
    limited(c);
    c.limits.ip_per_minute = 3;
});
async fn ip_case(app: TestApp) {
    let ts = setup(&app, "ts@example.com").await;
    for i in 0..3 {
        let r = from(&app, Method::GET, "/v2/alerts", None, "203.0.113.9").await;
        ts_error(&r, StatusCode::UNAUTHORIZED);
        assert_eq!((num(&r, "x-rate-limit-limit"), num(&r, "x-rate-limit-remaining")), (3, 2 - i));
        assert_eq!(num(&r, "x-rate-limit-reset"), 0);
    }
    // Locked out for 15 minutes, signed or not: the wait in milliseconds.
    let r = from(&app, Method::GET, "/v2/alerts", Some(&ts), "203.0.113.9").await;
    ts_error(&r, StatusCode::TOO_MANY_REQUESTS);
    let wait_ms = num(&r, "x-rate-limit-reset");
    assert!((890_000..=900_000).contains(&wait_ms), "the lock-out's milliseconds: {wait_ms}");
    let r = from(&app, Method::GET, "/v2/alerts", Some(&ts), "203.0.113.10").await;
    assert_eq!((r.status, num(&r, "x-rate-limit-limit")), (StatusCode::OK, 200), "{}", r.text);
}

/// The headers every TLINK response carries.
#[track_caller]
fn tlink_headers(r: &Reply, what: &str) {
    for name in ["x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset", "retry-after"] {
        let v = r.headers.get(name).and_then(|v| v.to_str().ok());
        assert!(v.is_some_and(|v| v.parse::<u64>().is_ok()), "{what}: {name} = {v:?} in {:?}", r.headers);
    }
    assert!(r.headers.contains_key("ratelimit-policy") && r.headers.contains_key("ratelimit"), "{what}");
    assert!(r.headers.get("x-rate-limit-limit").is_none(), "{what}: Threat Stack's headers stay on /v2");
}

async fn api(app: &TestApp, method: Method, uri: &str, auth: &Auth, content_type: Option<&str>) -> Reply {
    let addr: SocketAddr = "192.0.2.40:40000".parse().expect("address");
    let mut b = Request::builder().method(method).uri(uri);
    b = match auth {
        Auth::Key(k) => b.header("x-api-key", k.as_str()),
        Auth::Bearer(t) => b.header(header::AUTHORIZATION, format!("Bearer {t}")),
        _ => b,
    };
    let body = match content_type {
        Some(ct) => {
            b = b.header(header::CONTENT_TYPE, ct);
            Body::from("{}")
        }
        None => Body::empty(),
    };
    app.send(b.extension(ConnectInfo(addr)).body(body).expect("request")).await
}

both!(every_tlink_response_carries_retry_after_and_the_rate_limit_headers, tlink_case, limited);
async fn tlink_case(app: TestApp) {
    let owner = app.user("owner@example.com", Some("Acme")).await;
    let org = owner.org().to_string();
    let key = Auth::key(&app.api_key(&owner.auth(), "ci").await);
    let assets = format!("/api/orgs/{org}/assets");

    // Errors of every kind, before and after authentication.
    let cases = [
        (Method::GET, "/api/users/me".to_string(), Auth::None, None, StatusCode::UNAUTHORIZED),
        (
            Method::GET,
            assets.clone(),
            Auth::key("tlpro_0000000000000000000000000000000000000000"),
            None,
            StatusCode::UNAUTHORIZED,
        ),
        (Method::GET, format!("{assets}?limit=0"), key.clone(), None, StatusCode::BAD_REQUEST),
        (Method::GET, format!("{assets}?colour=red"), key.clone(), None, StatusCode::BAD_REQUEST),
        (Method::GET, format!("{assets}/not-an-id"), key.clone(), None, StatusCode::BAD_REQUEST),
        (Method::GET, format!("/api/orgs/{}/assets", random_id()), key.clone(), None, StatusCode::NOT_FOUND),
        (Method::GET, "/api/nope".to_string(), key.clone(), None, StatusCode::NOT_FOUND),
        (Method::DELETE, assets.clone(), key.clone(), None, StatusCode::METHOD_NOT_ALLOWED),
        (Method::POST, assets.clone(), key.clone(), Some("text/plain"), StatusCode::UNSUPPORTED_MEDIA_TYPE),
        (Method::GET, assets.clone(), key.clone(), None, StatusCode::OK),
    ];
    for (method, uri, auth, ct, status) in cases {
        let what = format!("{method} {uri}");
        let r = api(&app, method, &uri, &auth, ct).await;
        assert_eq!(r.status, status, "{what}: {}", r.text);
        tlink_headers(&r, &what);
        assert_eq!(num(&r, "retry-after"), 0, "{what}: the bucket has room");
    }

    // The key's bucket (FREE: 30 a minute) runs down; the response that takes the last request says how
    // long until the next one, and so does the refusal.
    let mut last = None;
    for _ in 0..40 {
        let r = api(&app, Method::GET, &assets, &key, None).await;
        tlink_headers(&r, "a list");
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            assert_eq!(num(&r, "retry-after"), 2, "one request every 2 s at 30 a minute");
            assert_eq!(num(&r, "x-ratelimit-remaining"), 0);
            let before: &Reply = last.as_ref().expect("allowed ones first");
            assert_eq!(num(before, "x-ratelimit-remaining"), 0, "{:?}", before.headers);
            assert_eq!(num(before, "retry-after"), 2, "the last allowed request already says when the next is");
            return;
        }
        assert_eq!(r.status, StatusCode::OK, "{}", r.text);
        if num(&r, "x-ratelimit-remaining") > 0 {
            assert_eq!(num(&r, "retry-after"), 0);
        }
        last = Some(r);
    }
    panic!("the key was never refused");
}
