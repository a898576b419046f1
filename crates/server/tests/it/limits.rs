//! Rate limits (credential, organization, IP with lock-out, trusted proxies, Redis failure), their headers,
//! plans, and monthly tool-run quotas (manual, monitor-now and scheduled).

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::json;
use tlink_server::Config;

use crate::support::{Auth, Reply, TestApp, TestUser, loopback_config, s};

fn limited(c: &mut Config) {
    c.limits.enabled = true;
    c.tools = loopback_config();
}

fn header<'a>(r: &'a Reply, name: &str) -> &'a str {
    r.headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or_else(|| panic!("no {name} in {:?}", r.headers))
}

fn num(r: &Reply, name: &str) -> u64 {
    header(r, name).parse().unwrap_or_else(|_| panic!("{name} is not a number: {}", header(r, name)))
}

/// A GET from a client at `peer`, optionally through `forwarded_for`.
async fn get_from(app: &TestApp, path: &str, auth: &Auth, peer: &str, forwarded_for: Option<&str>) -> Reply {
    let mut b = Request::builder().method(Method::GET).uri(path);
    b = match auth {
        Auth::Key(k) => b.header("x-api-key", k.as_str()),
        Auth::Bearer(t) => b.header(header::AUTHORIZATION, format!("Bearer {t}")),
        _ => b,
    };
    if let Some(xff) = forwarded_for {
        b = b.header("x-forwarded-for", xff);
    }
    let addr: SocketAddr = format!("{peer}:40000").parse().expect("address");
    app.send(b.extension(ConnectInfo(addr)).body(Body::empty()).expect("request")).await
}

both!(credentials_are_limited_by_their_organizations_plan, credential_case, limited);
async fn credential_case(app: TestApp) {
    let owner = app.user("owner@example.com", Some("Acme")).await;
    let org = owner.org().to_string();
    let key = Auth::key(&app.api_key(&owner.auth(), "ci").await);
    let path = format!("/api/orgs/{org}/assets");

    // FREE: 30 a minute for this key; the headers count down.
    let first = app.get(&path, &key).await;
    first.ok(StatusCode::OK);
    assert_eq!(num(&first, "x-ratelimit-limit"), 30);
    assert_eq!(num(&first, "x-ratelimit-remaining"), 29);
    let now = u64::try_from(tlink_store::now_millis() / 1000).expect("time");
    let reset = num(&first, "x-ratelimit-reset");
    assert!(reset > now && reset <= now + 61, "reset is an epoch second within the minute: {reset} vs {now}");
    assert_eq!(header(&first, "ratelimit-policy"), "\"credential\";q=30;w=60");
    assert!(header(&first, "ratelimit").starts_with("\"credential\";r=29;t="), "{:?}", first.headers);
    assert!(first.headers.get("x-rate-limit-limit").is_none(), "Threat Stack headers only on /v2 and /help");
    for _ in 1..30 {
        app.get(&path, &key).await.ok(StatusCode::OK);
    }
    let refused = app.get(&path, &key).await;
    refused.err(StatusCode::TOO_MANY_REQUESTS);
    assert!(refused.message().contains("30 requests per minute"), "{}", refused.text);
    assert_eq!(num(&refused, "retry-after"), 2, "one request every 2 s at 30/min");
    assert_eq!(num(&refused, "x-ratelimit-remaining"), 0);

    // The owner's session is a bucket of its own; another organization's plan is not this one's.
    app.get(&path, &owner.auth()).await.ok(StatusCode::OK);

    // Upgrading (by the server's operator) applies at once: PRO allows 120.
    let operator = app.operator("operator@example.com").await;
    let plan =
        app.req(Method::PUT, &format!("/api/orgs/{org}/plan"), &operator.auth(), Some(json!({"plan": "PRO"}))).await;
    assert_eq!(plan.ok(StatusCode::OK)["requestsPerMinute"], 120);
    let after = app.get(&path, &key).await;
    after.ok(StatusCode::OK);
    assert_eq!(num(&after, "x-ratelimit-limit"), 120);
}

both!(plans_are_changed_by_operators_only_with_valid_figures, plan_case, limited);
async fn plan_case(app: TestApp) {
    let owner = app.user("owner@example.com", Some("Acme")).await;
    let org = owner.org().to_string();
    let admin = app.member(&org, &owner, "admin@example.com", "ADMIN").await;
    let operator = app.operator("operator@example.com").await;
    let path = format!("/api/orgs/{org}/plan");
    let usage_path = format!("/api/orgs/{org}/usage");
    // Members — the owner too — read their plan but do not set it: 403, and nothing changes.
    for member in [&admin, &owner] {
        let body = json!({"plan": "ENTERPRISE", "toolRunsPerMonth": 1_000_000});
        let refused = app.req(Method::PUT, &path, &member.auth(), Some(body)).await;
        refused.err(StatusCode::FORBIDDEN);
        assert!(refused.message().contains("operator"), "{}", refused.text);
    }
    assert_eq!(app.get(&usage_path, &owner.auth()).await.ok(StatusCode::OK)["plan"], "FREE");
    // Someone else's organization, or none at all: not found, for members and strangers alike.
    let stranger = app.user("stranger@example.com", Some("Other")).await;
    app.req(Method::PUT, &path, &stranger.auth(), Some(json!({"plan": "PRO"}))).await.err(StatusCode::NOT_FOUND);
    let nowhere = format!("/api/orgs/{}/plan", crate::support::random_id());
    app.req(Method::PUT, &nowhere, &operator.auth(), Some(json!({"plan": "PRO"}))).await.err(StatusCode::NOT_FOUND);
    // The operator sets any organization's plan (without being a member), with valid figures only.
    app.req(Method::PUT, &path, &operator.auth(), Some(json!({"plan": "GOLD"}))).await.err(StatusCode::BAD_REQUEST);
    app.req(Method::PUT, &path, &operator.auth(), Some(json!({"plan": "PRO", "requestsPerMinute": 5})))
        .await
        .invalid("requestsPerMinute");
    let r = app
        .req(
            Method::PUT,
            &path,
            &operator.auth(),
            Some(json!({"plan": "ENTERPRISE", "requestsPerMinute": 5000, "toolRunsPerMonth": 3})),
        )
        .await;
    let usage = r.ok(StatusCode::OK);
    assert_eq!(usage["plan"], "ENTERPRISE");
    assert_eq!(usage["requestsPerMinute"], 5000);
    assert_eq!(usage["toolRunsLimit"], 3);
    assert_eq!(app.get(&usage_path, &owner.auth()).await.ok(StatusCode::OK)["plan"], "ENTERPRISE");
    // Another tenant's organization is invisible.
    app.get(&usage_path, &stranger.auth()).await.err(StatusCode::NOT_FOUND);
}

async fn run_dns(app: &TestApp, user: &TestUser) -> Reply {
    let path = format!("/api/orgs/{}/tools/run", user.org());
    app.post(&path, &user.auth(), json!({"toolKey": "dns", "target": "example.com"})).await
}

both!(monthly_quotas_count_every_run_and_refuse_over_it, quota_case, limited);
async fn quota_case(app: TestApp) {
    let owner = app.user("owner@example.com", Some("Acme")).await;
    let org = owner.org().to_string();
    let usage = app.get(&format!("/api/orgs/{org}/usage"), &owner.auth()).await;
    let u = usage.ok(StatusCode::OK);
    assert_eq!(
        (u["plan"].as_str(), u["toolRunsLimit"].as_u64(), u["toolRunsUsed"].as_u64()),
        (Some("FREE"), Some(100), Some(0))
    );
    let month = s(u, "month").to_string();
    assert!(s(u, "resetsAt").ends_with("-01T00:00:00Z") || s(u, "resetsAt").contains("-01T00:00:00"), "{u}");

    let body = json!({"plan": "ENTERPRISE", "toolRunsPerMonth": 3});
    let operator = app.operator("operator@example.com").await;
    app.req(Method::PUT, &format!("/api/orgs/{org}/plan"), &operator.auth(), Some(body)).await.ok(StatusCode::OK);
    run_dns(&app, &owner).await.ok(StatusCode::ACCEPTED);
    // monitor-now counts each tool it queues (an IP: ip-reputation, exposure, threat-feed, whois → over 2).
    let ip = app.asset(&org, &owner.auth(), "IP", "192.0.2.10").await;
    let monitor = format!("/api/orgs/{org}/assets/{}/monitor-now", s(&ip, "id"));
    let over = app.post(&monitor, &owner.auth(), json!({})).await;
    over.err(StatusCode::TOO_MANY_REQUESTS);
    assert!(over.message().contains("quota of 3"), "{}", over.text);
    run_dns(&app, &owner).await.ok(StatusCode::ACCEPTED);
    run_dns(&app, &owner).await.ok(StatusCode::ACCEPTED);
    let refused = run_dns(&app, &owner).await;
    refused.err(StatusCode::TOO_MANY_REQUESTS);
    assert!(num(&refused, "retry-after") > 0);
    // Nothing was written for the refused runs.
    let reports = app.get(&format!("/api/orgs/{org}/tools/reports"), &owner.auth()).await;
    assert_eq!(reports.items().len(), 3, "{}", reports.text);
    let u = app.get(&format!("/api/orgs/{org}/usage"), &owner.auth()).await;
    let u = u.ok(StatusCode::OK);
    assert_eq!((u["toolRunsUsed"].as_u64(), u["toolRunsRemaining"].as_u64()), (Some(3), Some(0)));
    assert_eq!(s(u, "month"), month);

    // A scheduled scan over the quota is skipped and recorded, and the asset's next scan is still planned.
    let asset = app.asset(&org, &owner.auth(), "DOMAIN", "example.com").await;
    let path = format!("/api/orgs/{org}/assets/{}", s(&asset, "id"));
    app.patch(&path, &owner.auth(), json!({"isMonitored": true})).await.ok(StatusCode::OK);
    let later = tlink_store::now_millis() + 2 * 86_400_000;
    let scanned = app.state.scheduler().tick(later).await.expect("tick");
    assert_eq!(scanned, 1);
    let failed = app.get(&format!("/api/orgs/{org}/tools/reports?status=FAILED"), &owner.auth()).await;
    let items = failed.items();
    assert!(!items.is_empty(), "skipped runs are recorded: {}", failed.text);
    for item in items {
        assert_eq!(item["assetId"], asset["id"]);
    }
    let one = app.get(&format!("/api/orgs/{org}/tools/reports/{}", s(&items[0], "id")), &owner.auth()).await;
    assert!(s(one.ok(StatusCode::OK), "error").contains("quota"), "{}", one.text);
    let u = app.get(&format!("/api/orgs/{org}/usage"), &owner.auth()).await;
    assert_eq!(u.ok(StatusCode::OK)["scheduledRunsSkipped"].as_u64(), Some(items.len() as u64));
    let detail = app.get(&path, &owner.auth()).await;
    assert!(detail.ok(StatusCode::OK)["nextScanAt"].is_string(), "{}", detail.text);
    assert!(app.state.store.due_assets(later, 10).await.expect("due").is_empty(), "not due again at once");
}

both!(ips_are_limited_before_authentication_and_locked_out, ip_case, |c: &mut Config| {
    limited(c);
    c.limits.ip_per_minute = 5;
    c.limits.trusted_proxies = vec!["10.0.0.0/8".into()];
});
async fn ip_case(app: TestApp) {
    for _ in 0..5 {
        let r = get_from(&app, "/api/users/me", &Auth::None, "198.51.100.7", None).await;
        r.err(StatusCode::UNAUTHORIZED);
        assert_eq!(num(&r, "x-ratelimit-limit"), 5, "the IP's bucket when unauthenticated");
    }
    // Over the limit: refused before authentication, for 15 minutes.
    let owner = app.user("owner@example.com", Some("Acme")).await;
    let r = get_from(&app, "/api/users/me", &owner.auth(), "198.51.100.7", None).await;
    r.err(StatusCode::TOO_MANY_REQUESTS);
    assert!(r.message().contains("locked out"), "{}", r.text);
    let wait = num(&r, "retry-after");
    assert!((890..=900).contains(&wait), "15-minute lock-out: {wait}");
    let r = get_from(&app, "/api/users/me", &owner.auth(), "198.51.100.7", None).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "still locked");
    get_from(&app, "/api/users/me", &owner.auth(), "198.51.100.8", None).await.ok(StatusCode::OK);

    // X-Forwarded-For is believed from a trusted proxy only.
    get_from(&app, "/api/users/me", &owner.auth(), "10.1.2.3", Some("198.51.100.9")).await.ok(StatusCode::OK);
    let through = get_from(&app, "/api/users/me", &owner.auth(), "10.1.2.3", Some("198.51.100.7")).await;
    assert_eq!(through.status, StatusCode::TOO_MANY_REQUESTS, "the locked client behind the proxy");
    let spoofed = get_from(&app, "/api/users/me", &owner.auth(), "198.51.100.8", Some("203.0.113.1")).await;
    spoofed.ok(StatusCode::OK);
    assert_eq!(num(&spoofed, "x-ratelimit-limit"), 120, "the credential's bucket once authenticated");
}

both!(an_unreachable_redis_fails_open, redis_down_open_case, |c: &mut Config| {
    limited(c);
    c.limits.redis_url = "redis://127.0.0.1:1/".into();
    c.limits.redis_timeout_ms = 50;
});
async fn redis_down_open_case(app: TestApp) {
    let owner = app.user("owner@example.com", Some("Acme")).await;
    for _ in 0..40 {
        app.get(&format!("/api/orgs/{}/assets", owner.org()), &owner.auth()).await.ok(StatusCode::OK);
    }
}

both!(an_unreachable_redis_fails_closed_when_configured, redis_down_closed_case, |c: &mut Config| {
    limited(c);
    c.limits.redis_url = "redis://127.0.0.1:1/".into();
    c.limits.redis_timeout_ms = 50;
    c.limits.fail_closed = true;
});
async fn redis_down_closed_case(app: TestApp) {
    // The IP check comes first and cannot be made: 503, before any authentication.
    let r = get_from(&app, "/api/users/me", &Auth::None, "198.51.100.7", None).await;
    r.err(StatusCode::SERVICE_UNAVAILABLE);
    assert!(r.message().contains("rate limiting is unavailable"), "{}", r.text);
}

/// Limits shared through the machine's Redis, under a key prefix of this test's own.
fn with_redis(c: &mut Config) {
    limited(c);
    c.limits.redis_url = "redis://127.0.0.1:6379/0".into();
    c.limits.redis_prefix = format!("tlink-it-{}:", uuid::Uuid::now_v7().simple());
}

/// Whether the app reached Redis; without it the test is skipped (or fails under `REQUIRE_TEST_PEERS`).
pub async fn redis_ready(app: &TestApp) -> bool {
    if app.state.limiter.wait_connected(std::time::Duration::from_secs(5)).await {
        return true;
    }
    assert!(std::env::var_os("REQUIRE_TEST_PEERS").is_none(), "Redis must be running on 127.0.0.1:6379");
    eprintln!("Redis is not running on 127.0.0.1:6379: skipping");
    false
}

both!(credentials_are_limited_through_redis, credential_redis_case, with_redis);
async fn credential_redis_case(app: TestApp) {
    if redis_ready(&app).await {
        credential_case(app).await;
    }
}

both!(ips_are_locked_out_through_redis, ip_redis_case, |c: &mut Config| {
    with_redis(c);
    c.limits.ip_per_minute = 5;
    c.limits.trusted_proxies = vec!["10.0.0.0/8".into()];
});
async fn ip_redis_case(app: TestApp) {
    if redis_ready(&app).await {
        ip_case(app).await;
    }
}

/// Requests with bad credentials count against their IP like any other, whichever way it is checked.
async fn bad_keys_case(app: TestApp) {
    let bad = Auth::key("tlpro_0000000000000000000000000000000000000000");
    for _ in 0..3 {
        get_from(&app, "/api/users/me", &bad, "203.0.113.50", None).await.err(StatusCode::UNAUTHORIZED);
    }
    let r = get_from(&app, "/api/users/me", &Auth::None, "203.0.113.50", None).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.text);
    let r = get_from(&app, "/api/users/me", &bad, "203.0.113.50", None).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "refused before authentication: {}", r.text);
}

both!(failed_authentications_count_against_the_ip, bad_keys_case, |c: &mut Config| {
    limited(c);
    c.limits.ip_per_minute = 3;
});

both!(failed_authentications_count_against_the_ip_through_redis, bad_keys_redis_case, |c: &mut Config| {
    with_redis(c);
    c.limits.ip_per_minute = 3;
});
async fn bad_keys_redis_case(app: TestApp) {
    if redis_ready(&app).await {
        bad_keys_case(app).await;
    }
}

/// Two limiters on one Redis, as two processes: while a bucket is far from its limit they reserve units in
/// leases and decide locally, yet together they allow exactly the limit; a lock-out set through one reaches
/// the other's leases at once (published on the lock-out channel).
#[tokio::test]
async fn leases_keep_shared_limits_exact_and_lock_outs_shared() {
    use tlink_server::http::limits::{Limiter, LimitsConfig};
    let config = LimitsConfig {
        redis_url: "redis://127.0.0.1:6379/0".into(),
        redis_prefix: format!("tlink-lease-{}:", uuid::Uuid::now_v7().simple()),
        ip_per_minute: 64,
        ..LimitsConfig::default()
    };
    let (a, b) = (Limiter::new(config.clone()).expect("limiter"), Limiter::new(config).expect("limiter"));
    if !a.wait_connected(std::time::Duration::from_secs(5)).await {
        assert!(std::env::var_os("REQUIRE_TEST_PEERS").is_none(), "Redis must be running on 127.0.0.1:6379");
        return;
    }
    assert!(b.wait_connected(std::time::Duration::from_secs(5)).await);

    // 120 requests alternating between the processes on a 64-a-minute bucket (one unit refills in
    // 0.94 s, longer than the loop takes): exactly 64 pass.
    let mut allowed = 0;
    for i in 0..120 {
        let l = if i % 2 == 0 { &a } else { &b };
        if l.credential(None, "/api/orgs/o/assets", "key-1", 64, Some("o")).await.is_ok() {
            allowed += 1;
        }
    }
    assert_eq!(allowed, 64, "leases never let the processes together exceed the limit, nor fall short");

    // `b` holds a lease on the IP's bucket; `a` exhausts the bucket and locks the IP out.
    let ip: std::net::IpAddr = "198.51.100.9".parse().expect("ip");
    assert!(b.ip(ip).await.expect("check").is_some_and(|d| d.allowed));
    let mut locked = false;
    for _ in 0..100 {
        if a.ip(ip).await.expect("check").is_some_and(|d| !d.allowed) {
            locked = true;
            break;
        }
    }
    assert!(locked, "64 a minute");
    let started = std::time::Instant::now();
    loop {
        let d = b.ip(ip).await.expect("check").expect("limited");
        if !d.allowed {
            assert!(d.retry_after_us > 60_000_000, "the lock-out, not the bucket: {d:?}");
            break;
        }
        assert!(started.elapsed() < std::time::Duration::from_millis(500), "the lock-out reaches `b` at once");
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// Failed logins counted through Redis, as by two processes: failures seen by either count against the
/// account and the client everywhere, a successful login clears its account everywhere (not the client),
/// and with Redis unreachable each process still throttles on its own count.
#[tokio::test]
async fn failed_logins_are_counted_across_processes_through_redis() {
    use std::time::Duration;
    use tlink_server::http::auth::LoginThrottle;
    use tlink_server::http::limits::{Limiter, LimitsConfig};
    let config = LimitsConfig {
        redis_url: "redis://127.0.0.1:6379/0".into(),
        redis_prefix: format!("tlink-login-{}:", uuid::Uuid::now_v7().simple()),
        ..LimitsConfig::default()
    };
    let (a, b) = (Limiter::new(config.clone()).expect("limiter"), Limiter::new(config).expect("limiter"));
    if !a.wait_connected(Duration::from_secs(5)).await {
        assert!(std::env::var_os("REQUIRE_TEST_PEERS").is_none(), "Redis must be running on 127.0.0.1:6379");
        return;
    }
    assert!(b.wait_connected(Duration::from_secs(5)).await);
    let window = Duration::from_secs(600);
    let (ta, tb) = (LoginThrottle::new(3, window, &a), LoginThrottle::new(3, window, &b));
    let keys = ["account:alice@example.com".to_string(), "ip:203.0.113.7".to_string()];

    ta.record_failure(&keys).await;
    ta.record_failure(&keys).await;
    assert_eq!(ta.blocked(&keys).await, None, "two failures of three");
    tb.record_failure(&keys).await;
    // Each process saw fewer than three failures; together they made three.
    for t in [&ta, &tb] {
        let wait = t.blocked(&keys).await.expect("blocked");
        assert!((1..=601).contains(&wait), "wait {wait} s within the window");
    }
    // Another account from another client is not blocked.
    assert_eq!(ta.blocked(&["account:bob@example.com".into(), "ip:203.0.113.8".into()]).await, None);

    // A successful login through b clears the account in a too, but not the client address.
    tb.clear(&keys[0]).await;
    assert_eq!(ta.blocked(&keys[..1]).await, None);
    assert!(ta.blocked(&keys[1..]).await.is_some());

    // Redis unreachable: the process's own count still applies.
    let down = Limiter::new(LimitsConfig {
        redis_url: "redis://127.0.0.1:1/".into(),
        redis_timeout_ms: 50,
        ..LimitsConfig::default()
    })
    .expect("limiter");
    let alone = LoginThrottle::new(2, window, &down);
    let carol = ["account:carol@example.com".to_string()];
    alone.record_failure(&carol).await;
    assert_eq!(alone.blocked(&carol).await, None);
    alone.record_failure(&carol).await;
    assert!(alone.blocked(&carol).await.is_some());
}
