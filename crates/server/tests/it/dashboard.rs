//! The dashboard in a real browser: headless Chromium (Debian's `chromium`), driven by
//! `tests/clients/dashboard.mjs` (playwright-core, axe-core) against the app served on loopback by the
//! same accept loop as `tlink serve`, with a worker whose dns tool resolves through a loopback DNS server.
//! The script walks the user journeys (sign in, assets, a live tool run, a live alert and its triage, API
//! keys, tenancy, CSRF, a viewer, sign out), runs axe-core on every page, checks that no request leaves
//! the origin, writes screenshots to `target/dashboard-screenshots`, and prints the page weights and first
//! contentful paint it measured.
//!
//! Server-side checks that need no browser (cookies, CSRF, the not-found page, viewers) are in-process
//! tests below.

use std::net::SocketAddr;

use axum::http::{Method, StatusCode, header};
use serde_json::json;
use tlink_server::jobs::worker::{Wake, Worker, WorkerConfig};
use tlink_tools::Toolbox;

use crate::support::{PASSWORD, Reply, TestApp};

const ZONE: &str = r#"
$TTL 300
@    IN SOA ns1.example.test. hostmaster.example.test. 1 7200 900 1209600 300
@    IN NS  ns1.example.test.
@    IN A   192.0.2.10
@    IN MX  10 mx1.example.test.
@    IN TXT "v=spf1 -all"
ns1  IN A   192.0.2.53
"#;

// Webhooks to the journeys' loopback receiver are allowed (the default egress policy refuses them); IP
// assets are scanned with ip-reputation only (its AbuseIPDB stand-in answers on loopback).
both!(journeys_in_a_real_browser, journeys_case, |c: &mut tlink_server::Config| {
    c.tools = crate::support::loopback_config();
    c.monitoring.tools.insert(tlink_domain::AssetType::Ip, vec![tlink_tools::ToolKey::IpReputation]);
});
async fn journeys_case(app: TestApp) {
    if !std::path::Path::new("/usr/bin/chromium").exists() {
        assert!(std::env::var_os("REQUIRE_TEST_PEERS").is_none(), "Debian's chromium is required at /usr/bin/chromium");
        eprintln!("skipping the browser journeys: no /usr/bin/chromium");
        return;
    }
    let dns = crate::dnsserver::start("example.test.", ZONE).await;
    let owner = app.user("owner@example.com", Some("Acme")).await;
    let org = owner.org().to_string();
    app.member(&org, &owner, "viewer@example.com", "VIEWER").await;
    let stranger = app.user("stranger@example.com", Some("Other")).await;
    let other_asset = app
        .post(
            &format!("/api/orgs/{}/assets", stranger.org()),
            &stranger.auth(),
            json!({"type": "DOMAIN", "value": "other.example"}),
        )
        .await;
    let other_asset = other_asset.ok(StatusCode::CREATED)["id"].as_str().expect("asset id").to_string();
    let key = app.api_key(&owner.auth(), "journeys").await;
    // Advisories for the fixture host the real agent reports, so its packages have vulnerabilities.
    crate::vulns::import_all(&app).await;
    let ts_env = [
        ("TS_USER_ID", owner.id.clone()),
        ("TS_API_KEY", key.clone()),
        ("TS_ORGANIZATION_ID", org.clone()),
        ("TS_FROM", tlink_domain::from_millis(tlink_store::now_millis()).format("%Y-%m-%d").to_string()),
    ];

    // Served by the accept loop `tlink serve` uses.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr: SocketAddr = listener.local_addr().expect("addr");
    let router = app.router();
    let http = app.state.config.http.clone();
    let server = tokio::spawn(async move {
        let _ = tlink_server::http::connections::serve(listener, router, &http, std::future::pending()).await;
    });
    // The worker resolves through a proxy that holds every DNS answer back 2 s, so a dns run stays
    // RUNNING long enough for the browser to watch it finish, however soon the worker claims it.
    let slow = slow_udp_proxy(dns.addr(), std::time::Duration::from_secs(2)).await;
    let mut tools = dns.config();
    tools.resolvers = vec![slow.to_string()];
    tools.dns_timeout_ms = 8_000;
    let abuseipdb = crate::alerts::abuseipdb().await;
    tools.abuseipdb.base_url = abuseipdb.base_url.clone();
    tools.abuseipdb.api_key = crate::alerts::ABUSEIPDB_KEY.into();
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let worker = Worker::new(
        app.state.store.clone(),
        Toolbox::new(tools).expect("toolbox"),
        WorkerConfig { poll_interval_ms: 200, reap_interval_secs: 1, ..WorkerConfig::default() },
        Wake::default(),
        Some(app.state.alerting.clone()),
    );
    let worker = tokio::spawn(worker.run(async move {
        let _ = stop_rx.await;
    }));

    let workspace = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    // The `tlink` binary, for a real agent: built beside this test by `cargo test --workspace`.
    let target =
        std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| workspace.join("target"), std::path::PathBuf::from);
    let bin = target.join("debug/tlink");
    let agent_runs = bin.exists();
    let bin = if agent_runs {
        bin.display().to_string()
    } else {
        eprintln!("no {}: the browser journeys skip the real agent (run `cargo test --workspace`)", bin.display());
        String::new()
    };
    let shots = workspace
        .join("target/dashboard-screenshots")
        .join(format!("{:?}", app.state.store.db().dialect()).to_lowercase());
    let env = [
        ("TLINK_URL", format!("http://{addr}")),
        ("TLINK_EMAIL", "owner@example.com".to_string()),
        ("TLINK_PASSWORD", PASSWORD.to_string()),
        ("TLINK_VIEWER_EMAIL", "viewer@example.com".to_string()),
        ("TLINK_VIEWER_PASSWORD", PASSWORD.to_string()),
        ("TLINK_ORG", org.clone()),
        ("TLINK_OTHER_ORG", stranger.org().to_string()),
        ("TLINK_OTHER_ASSET", other_asset),
        ("TLINK_API_KEY", key),
        ("TLINK_DNS_TARGET", "example.test".to_string()),
        ("TLINK_IP_TARGET", crate::alerts::IP.to_string()),
        ("TLINK_SCREENSHOTS", shots.display().to_string()),
        ("TLINK_OTHER_EMAIL", "stranger@example.com".to_string()),
        ("TLINK_BIN", bin),
        ("TLINK_AGENT_ROOT", workspace.join("tests/fixtures/hosts/debian-12").display().to_string()),
    ];
    let outcome = crate::hawk::run_client("node", "dashboard.mjs", &env).await;
    // What the journeys changed, read back over Threat Stack's audit log by a mohawk client.
    let audit = match &outcome {
        Some((true, _)) => {
            let mut ts_env = ts_env.to_vec();
            ts_env.push(("TS_HOST", format!("http://{addr}")));
            crate::hawk::run_client("python3", "ts_audit_mohawk.py", &ts_env).await
        }
        _ => None,
    };
    let _ = stop_tx.send(());
    let _ = worker.await;
    server.abort();
    let Some((passed, output)) = outcome else { return };
    assert!(passed, "the browser journeys failed:\n{output}");
    let metrics = output.lines().find(|l| l.starts_with("DASHBOARD_METRICS")).expect("the script's measurements");
    // Kept beside the screenshots for the record (CI prints them).
    std::fs::write(shots.join("metrics.txt"), format!("{metrics}\n")).expect("writing the measurements");
    let Some((ok, records)) = audit else { return };
    assert!(ok, "the mohawk audit client failed:\n{records}");
    for change in [
        "member.added dashboard",
        "member.role_changed dashboard",
        "member.removed dashboard",
        "rule.created dashboard",
        "rule.updated dashboard",
        "api_key.created dashboard",
        "api_key.revoked dashboard",
        "alert.status_changed dashboard",
        "agent_enrollment.created dashboard",
        "settings.monitor_interval_changed dashboard",
        "member.alert_email_changed dashboard",
        "rule.created api",
    ]
    .into_iter()
    .chain(agent_runs.then_some("vulnerability.suppressed dashboard"))
    {
        assert!(records.lines().any(|l| l == format!("action {change}")), "{change} over /v2/auditlogs:\n{records}");
    }
}

/// A UDP relay to `upstream` that forwards each answer `delay` after its query.
async fn slow_udp_proxy(upstream: SocketAddr, delay: std::time::Duration) -> SocketAddr {
    let front = std::sync::Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.expect("bind"));
    let addr = front.local_addr().expect("addr");
    tokio::spawn(async move {
        let mut buf = vec![0u8; 4096];
        while let Ok((n, client)) = front.recv_from(&mut buf).await {
            let query = buf[..n].to_vec();
            let front = front.clone();
            tokio::spawn(async move {
                let Ok(back) = tokio::net::UdpSocket::bind("127.0.0.1:0").await else { return };
                if back.send_to(&query, upstream).await.is_err() {
                    return;
                }
                let mut answer = vec![0u8; 4096];
                if let Ok(Ok((m, _))) = tokio::time::timeout(delay * 4, back.recv_from(&mut answer)).await {
                    tokio::time::sleep(delay).await;
                    let _ = front.send_to(&answer[..m], client).await;
                }
            });
        }
    });
    addr
}

/// A request as a browser sends it: the given headers and an optional form body.
async fn web(app: &TestApp, method: Method, path: &str, headers: &[(&str, &str)], body: Option<Vec<u8>>) -> Reply {
    let mut b = axum::http::Request::builder().method(method).uri(path);
    for (k, v) in headers {
        b = b.header(*k, *v);
    }
    app.send(b.body(axum::body::Body::from(body.unwrap_or_default())).expect("request")).await
}

fn set_cookies(r: &Reply) -> Vec<String> {
    r.headers.get_all(header::SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).map(str::to_string).collect()
}

/// `name=value` of the cookie `name` among `Set-Cookie` values.
fn cookie_pair(set: &[String], name: &str) -> String {
    let found = set.iter().find(|c| c.starts_with(&format!("{name}="))).unwrap_or_else(|| panic!("no {name} cookie"));
    found.split(';').next().unwrap_or_default().to_string()
}

fn location(r: &Reply) -> Option<&str> {
    r.headers.get(header::LOCATION).and_then(|v| v.to_str().ok())
}

/// A signed-in browser for in-process requests: its cookie and CSRF token.
struct Browser {
    cookie: String,
    csrf: String,
}

async fn sign_in(app: &TestApp, email: &str) -> Browser {
    let page = web(app, Method::GET, "/login", &[], None).await;
    let set = set_cookies(&page);
    let login_cookie = cookie_pair(&set, "tlink_login");
    let token = login_cookie.trim_start_matches("tlink_login=").to_string();
    let body = format!("csrf={token}&email={}&password={}&next=/", urlencode(email), urlencode(PASSWORD));
    let form = [
        (header::COOKIE.as_str(), login_cookie.as_str()),
        (header::CONTENT_TYPE.as_str(), "application/x-www-form-urlencoded"),
    ];
    let r = web(app, Method::POST, "/login", &form, Some(body.into_bytes())).await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.text);
    let session = set_cookies(&r);
    let session = session.iter().find(|c| c.starts_with("tlink_session=")).expect("session cookie").clone();
    assert!(session.contains("HttpOnly") && session.contains("SameSite=Lax"), "{session}");
    let cookie = cookie_pair(std::slice::from_ref(&session), "tlink_session");
    let home = web(app, Method::GET, "/", &[(header::COOKIE.as_str(), cookie.as_str())], None).await;
    let org = location(&home).expect("home redirects to an organization").to_string();
    let page = web(app, Method::GET, &org, &[(header::COOKIE.as_str(), cookie.as_str())], None).await;
    assert_eq!(page.status, StatusCode::OK, "the overview: {}", page.text);
    let html = page.text;
    let csrf = html
        .split("name=\"csrf-token\" content=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("csrf meta")
        .to_string();
    Browser { cookie, csrf }
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

impl Browser {
    async fn get(&self, app: &TestApp, path: &str) -> Reply {
        web(app, Method::GET, path, &[(header::COOKIE.as_str(), self.cookie.as_str())], None).await
    }

    async fn post(&self, app: &TestApp, path: &str, form: &str, extra: &[(&str, &str)]) -> Reply {
        let mut headers = vec![
            (header::COOKIE.as_str(), self.cookie.as_str()),
            (header::CONTENT_TYPE.as_str(), "application/x-www-form-urlencoded"),
        ];
        headers.extend_from_slice(extra);
        web(app, Method::POST, path, &headers, Some(form.as_bytes().to_vec())).await
    }
}

both!(dashboard_forms_need_the_session_csrf_token, csrf_case);
async fn csrf_case(app: TestApp) {
    let owner = app.user("owner@example.com", Some("Acme")).await;
    let org = owner.org().to_string();
    let b = sign_in(&app, "owner@example.com").await;
    let create = format!("/orgs/{org}/assets");
    let forged = b.post(&app, &create, "csrf=AAAA&type=DOMAIN&value=forged.example", &[]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    let missing = b.post(&app, &create, "type=DOMAIN&value=forged.example", &[]).await;
    assert_eq!(missing.status, StatusCode::FORBIDDEN);
    let form = format!("csrf={}&type=DOMAIN&value=forged.example", b.csrf);
    let cross = b.post(&app, &create, &form, &[("origin", "http://evil.example")]).await;
    assert_eq!(cross.status, StatusCode::FORBIDDEN);
    let listed = app.get(&format!("/api/orgs/{org}/assets"), &owner.auth()).await;
    assert!(listed.ok(StatusCode::OK).as_array().is_some_and(Vec::is_empty), "a refused form wrote nothing");
    // Another session's token does not work either: tokens are per login.
    let other = sign_in(&app, "owner@example.com").await;
    assert_ne!(other.csrf, b.csrf);
    let form = format!("csrf={}&type=DOMAIN&value=ok.example", other.csrf);
    assert_eq!(b.post(&app, &create, &form, &[]).await.status, StatusCode::FORBIDDEN);
    let form = format!("csrf={}&type=DOMAIN&value=ok.example", b.csrf);
    let made = b.post(&app, &create, &form, &[]).await;
    assert_eq!(made.status, StatusCode::SEE_OTHER, "{}", made.text);
    // Signing out ends the login: the cookie no longer opens pages.
    let out = b.post(&app, "/logout", &format!("csrf={}", b.csrf), &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let after = b.get(&app, &format!("/orgs/{org}")).await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert!(location(&after).is_some_and(|l| l.starts_with("/login")));
}

both!(dashboard_pages_hide_other_tenants_and_refuse_viewers, tenancy_case);
async fn tenancy_case(app: TestApp) {
    let owner = app.user("owner@example.com", Some("Acme")).await;
    let org = owner.org().to_string();
    app.member(&org, &owner, "viewer@example.com", "VIEWER").await;
    let stranger = app.user("stranger@example.com", Some("Other")).await;
    let theirs = app
        .post(
            &format!("/api/orgs/{}/assets", stranger.org()),
            &stranger.auth(),
            json!({"type": "DOMAIN", "value": "other.example"}),
        )
        .await;
    let theirs = theirs.ok(StatusCode::CREATED)["id"].as_str().expect("id").to_string();
    let b = sign_in(&app, "owner@example.com").await;
    for path in [
        format!("/orgs/{}", stranger.org()),
        format!("/orgs/{}/assets/{theirs}", stranger.org()),
        format!("/orgs/{org}/assets/{theirs}"),
        format!("/orgs/{org}/alerts/01a24dbf-13d6-724c-aed8-18a60110fd95"),
        format!("/orgs/{org}/reports/not-an-id"),
        "/no/such/page".to_string(),
    ] {
        let r = b.get(&app, &path).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{path}");
        assert!(r.text.contains("Not found"), "{path}: the not-found page");
        let csp = r.headers.get("content-security-policy").and_then(|v| v.to_str().ok()).unwrap_or("");
        assert!(csp.contains("default-src 'self'"), "{path}");
    }
    let form = format!("csrf={}&type=DOMAIN&value=x.example", b.csrf);
    let r = b.post(&app, &format!("/orgs/{}/assets", stranger.org()), &form, &[]).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "writing into another organization");

    let v = sign_in(&app, "viewer@example.com").await;
    let page = v.get(&app, &format!("/orgs/{org}/assets")).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(!page.text.contains("Add asset"), "a viewer sees no write controls");
    let r = v
        .post(&app, &format!("/orgs/{org}/assets"), &format!("csrf={}&type=DOMAIN&value=v.example", v.csrf), &[])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    let r = v
        .post(&app, &format!("/orgs/{org}/tools/run"), &format!("csrf={}&tool=dns&target=v.example", v.csrf), &[])
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.text);
    // The JSON API is unchanged beside the pages.
    let api = web(&app, Method::GET, "/api/no-such-route", &[], None).await;
    assert_eq!(api.status, StatusCode::NOT_FOUND);
    assert!(api.text.starts_with('{'), "{}", api.text);
}

both!(only_an_owner_grants_owner_in_the_dashboard, owner_rules_case);
async fn owner_rules_case(app: TestApp) {
    let owner = app.user("owner@example.com", Some("Acme")).await;
    let org = owner.org().to_string();
    app.member(&org, &owner, "admin@example.com", "ADMIN").await;
    let (bob, _) = app.create_user("bob@example.com", None).await;
    let admin = sign_in(&app, "admin@example.com").await;
    let form = format!("csrf={}&email=bob%40example.com&role=OWNER", admin.csrf);
    let r = admin.post(&app, &format!("/orgs/{org}/members"), &form, &[]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "an admin may not make an owner: {}", r.text);
    let members = app.get(&format!("/api/orgs/{org}/members"), &owner.auth()).await;
    let listed = members.ok(StatusCode::OK).as_array().expect("members").clone();
    assert!(!listed.iter().any(|m| m["userId"] == json!(bob) || m["email"] == "bob@example.com"), "{listed:?}");
    // The same admin may add a member, and the owner an owner.
    let form = format!("csrf={}&email=bob%40example.com&role=MEMBER", admin.csrf);
    assert_eq!(admin.post(&app, &format!("/orgs/{org}/members"), &form, &[]).await.status, StatusCode::SEE_OTHER);
}

both!(the_sign_in_form_shares_the_failed_login_throttle, throttle_case, |c: &mut tlink_server::Config| {
    c.login_max_failures = 2;
});
async fn throttle_case(app: TestApp) {
    app.user("owner@example.com", Some("Acme")).await;
    let page = web(&app, Method::GET, "/login", &[], None).await;
    let set = set_cookies(&page);
    let cookie = cookie_pair(&set, "tlink_login");
    let token = cookie.trim_start_matches("tlink_login=").to_string();
    let attempt = |password: &str| {
        let body = format!("csrf={token}&email=owner%40example.com&password={password}");
        let headers = [
            (header::COOKIE.as_str(), cookie.clone()),
            (header::CONTENT_TYPE.as_str(), "application/x-www-form-urlencoded".to_string()),
        ];
        let app = &app;
        async move {
            let h: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
            web(app, Method::POST, "/login", &h, Some(body.into_bytes())).await
        }
    };
    assert_eq!(attempt("wrong").await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(attempt("wrong").await.status, StatusCode::UNAUTHORIZED);
    let blocked = attempt(&urlencode(PASSWORD)).await;
    assert_eq!(blocked.status, StatusCode::TOO_MANY_REQUESTS, "the right password waits out the throttle too");
    assert!(blocked.text.contains("Too many failed sign-ins"));
    // The API's login counts the same failures.
    let r = app.login("owner@example.com", PASSWORD).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
}
