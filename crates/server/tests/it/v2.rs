//! Threat Stack API v2 alerts over Hawk: paging by token to the end, filters, partial-precision time
//! windows, severity counts, events, dismissal by ids and by query (seen through `/api` too), errors in
//! Threat Stack's shape, and tenant isolation.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::hawk::{Signed, send};
use crate::support::{Reply, TestApp, TestUser, s};

const DAY: i64 = 86_400_000;
/// 2026-11-01T00:00:00Z.
const NOV_1: i64 = 1_793_491_200_000;

/// A Threat Stack client: Hawk with the user id, an API key and the org in `ext`.
pub(crate) struct Ts {
    pub(crate) user: TestUser,
    pub(crate) key: String,
    pub(crate) org: String,
}

impl Ts {
    pub(crate) async fn get(&self, app: &TestApp, path: &str) -> Reply {
        let h = Signed::new(Method::GET, path, Some(&self.org)).header(&self.user.id, &self.key);
        send(app, Method::GET, path, &h, None).await
    }

    pub(crate) async fn delete(&self, app: &TestApp, path: &str) -> Reply {
        let h = Signed::new(Method::DELETE, path, Some(&self.org)).header(&self.user.id, &self.key);
        send(app, Method::DELETE, path, &h, None).await
    }

    pub(crate) async fn post(&self, app: &TestApp, path: &str, body: Value) -> Reply {
        let bytes = serde_json::to_vec(&body).expect("json");
        let h = Signed::new(Method::POST, path, Some(&self.org))
            .with_body("application/json", &bytes)
            .header(&self.user.id, &self.key);
        send(app, Method::POST, path, &h, Some(("application/json", bytes))).await
    }
}

/// Seeds `n` alerts on one asset and rule: severities cycle LOW, MEDIUM, HIGH, CRITICAL; one a day from Nov 1.
async fn seed(app: &TestApp, user: &TestUser, n: i64, report_id: &str) -> (String, String) {
    let org = user.org().to_string();
    let asset = app.asset(&org, &user.auth(), "IP", "192.0.2.7").await;
    let rule = app
        .post(
            &format!("/api/orgs/{org}/alert-rules"),
            &user.auth(),
            json!({"name": "bad ip", "condition": {"tool": "ip-reputation", "field": "abuseipdb.abuseConfidenceScore", "operator": "gte", "value": 75}, "severity": "HIGH"}),
        )
        .await;
    let rule_id = s(rule.ok(StatusCode::CREATED), "id").to_string();
    let asset_id = s(&asset, "id").to_string();
    let snapshot = json!({"condition": {"tool": "ip-reputation"}}).to_string();
    for i in 0..n {
        let severity = ["LOW", "MEDIUM", "HIGH", "CRITICAL"][(i % 4) as usize];
        let at = NOV_1 + i * DAY / 4;
        let sql = "INSERT INTO alerts (id, org_id, rule_id, asset_id, report_id, last_report_id, severity, status, \
            message, actual, rule, occurrences, triggered_at, last_seen_at, created_at, updated_at) \
            VALUES ($1, $2, $3, $4, $5, $5, $6, 'OPEN', $7, '92', $8, 1, $9, $9, $9, $9)";
        let id = uuid::Uuid::now_v7().to_string();
        // One asset per alert: a rule has one active alert per asset.
        let asset = uuid::Uuid::now_v7().to_string();
        let insert_asset = "INSERT INTO assets (id, org_id, type, value, is_monitored, created_at, updated_at) \
            VALUES ($1, $2, 'IP', $3, $5, $4, $4)";
        let value = format!("198.51.{}.{}", i / 250, i % 250 + 1);
        let p = [asset.clone().into(), org.clone().into(), value.into(), at.into(), false.into()];
        app.state.store.db().execute(insert_asset, &p).await.expect("asset");
        let params = [
            id.into(),
            org.clone().into(),
            rule_id.clone().into(),
            asset.into(),
            report_id.to_string().into(),
            severity.to_string().into(),
            format!("alert {i}").into(),
            snapshot.clone().into(),
            at.into(),
        ];
        app.state.store.db().execute(sql, &params).await.expect("alert");
    }
    (asset_id, rule_id)
}

pub(crate) async fn setup(app: &TestApp, email: &str) -> Ts {
    let user = app.user(email, Some("Org")).await;
    let key = app.api_key(&user.auth(), "ts").await;
    let org = user.org().to_string();
    Ts { user, key, org }
}

/// Follows `token` from `path` to the end; every page has at most 100 alerts.
async fn all_pages(app: &TestApp, ts: &Ts, path: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let sep = if path.contains('?') { '&' } else { '?' };
        let url = match &token {
            Some(t) => format!("{path}{sep}token={}", urlencode(t)),
            None => path.to_string(),
        };
        let r = ts.get(app, &url).await;
        assert_eq!(r.status, StatusCode::OK, "{url}: {}", r.text);
        let page = r.body["alerts"].as_array().expect("alerts").clone();
        assert!(page.len() <= 100, "at most 100 a page");
        out.extend(page);
        match r.body["token"].as_str() {
            Some(t) => token = Some(t.to_string()),
            None => {
                assert!(r.body["token"].is_null(), "the last page's token is null: {}", r.text);
                return out;
            }
        }
    }
}

fn urlencode(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

both!(alerts_page_by_token_with_filters_and_windows, list_case);
async fn list_case(app: TestApp) {
    let ts = setup(&app, "ts@example.com").await;
    seed(&app, &ts.user, 230, "r").await;
    let all = all_pages(&app, &ts, "/v2/alerts").await;
    assert_eq!(all.len(), 230);
    let mut ids: Vec<&str> = all.iter().map(|a| s(a, "id")).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), 230, "no alert twice");
    let first = &all[0];
    for field in ["title", "dataSource", "createdAt", "ruleId"] {
        assert!(first[field].is_string(), "{field}: {first}");
    }
    assert_eq!(first["dataSource"], "ip-reputation");
    assert_eq!(first["isDismissed"], false);
    assert!(first["agentId"].is_null());

    // severity=1 is HIGH and CRITICAL; 3 is LOW.
    let high = all_pages(&app, &ts, "/v2/alerts?severity=1").await;
    assert_eq!(high.len(), 114);
    assert!(high.iter().all(|a| a["severity"] == 1));
    assert_eq!(all_pages(&app, &ts, "/v2/alerts?severity=3&status=active").await.len(), 58);
    assert!(all_pages(&app, &ts, "/v2/alerts?status=dismissed").await.is_empty());

    // A partial date names the whole day: 4 alerts a day.
    assert_eq!(all_pages(&app, &ts, "/v2/alerts?from=2026-11-02&until=2026-11-03").await.len(), 8);
    assert_eq!(all_pages(&app, &ts, "/v2/alerts?from=2026-11-02T06&until=2026-11-02T06").await.len(), 1);

    // Counts per severity.
    let counts = ts.get(&app, "/v2/alerts/severity-counts?from=2026-11-01&until=2026-11-10").await;
    assert_eq!(counts.status, StatusCode::OK, "{}", counts.text);
    assert_eq!(
        counts.body["severityCounts"],
        json!([{"severity": 1, "count": 20}, {"severity": 2, "count": 10}, {"severity": 3, "count": 10}])
    );

    // Bad input: Threat Stack's error shape, with the field named.
    for bad in
        ["/v2/alerts?severity=4", "/v2/alerts?status=open", "/v2/alerts?from=yesterday", "/v2/alerts?token=forged"]
    {
        let r = ts.get(&app, bad).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.text);
        assert!(r.body["errors"][0].is_string(), "{bad}: {}", r.text);
    }
}

both!(alerts_are_dismissed_by_query_and_by_ids_through_either_api, dismiss_case);
async fn dismiss_case(app: TestApp) {
    let ts = setup(&app, "ts@example.com").await;
    let run = app
        .post(
            &format!("/api/orgs/{}/tools/run", ts.org),
            &ts.user.auth(),
            json!({"toolKey": "dns", "target": "example.com"}),
        )
        .await;
    let report_id = s(run.ok(StatusCode::ACCEPTED), "reportId").to_string();
    let (_, rule_id) = seed(&app, &ts.user, 12, &report_id).await;

    // Validation.
    let r =
        ts.post(&app, "/v2/alerts/dismiss", json!({"from": "2026-11-01", "until": "2026-11-30", "severity": 3})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let r = ts
        .post(
            &app,
            "/v2/alerts/dismiss",
            json!({"from": "2026-11-01", "until": "2026-11-30", "dismissReason": "OTHER"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    let r = ts
        .post(
            &app,
            "/v2/alerts/dismiss",
            json!({"from": "2026-11-01", "until": "2026-11-30", "severity": 3, "dismissReason": "OTHER"}),
        )
        .await;
    assert!(r.body["errors"][0].as_str().is_some_and(|m| m.contains("dismissReasonText")), "{}", r.text);
    let r = ts.post(&app, "/v2/alerts/dismiss", json!({"severity": 3, "dismissReason": "MAINTENANCE"})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "a query needs from and until: {}", r.text);

    // By query: the LOW alerts of Nov 1–2 (alerts 0 and 4).
    let r = ts
        .post(
            &app,
            "/v2/alerts/dismiss",
            json!({"from": "2026-11-01", "until": "2026-11-02", "severity": 3, "ruleId": rule_id, "dismissReason": "MAINTENANCE"}),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert_eq!(r.body["count"], 2);
    let dismissed = all_pages(&app, &ts, "/v2/alerts?status=dismissed").await;
    assert_eq!(dismissed.len(), 2);
    for a in &dismissed {
        assert_eq!((a["isDismissed"].as_bool(), a["dismissReason"].as_str()), (Some(true), Some("MAINTENANCE")));
        assert_eq!(a["dismissedBy"], ts.user.id.as_str());
        let id = s(a, "id");
        let through_api = app.get(&format!("/api/orgs/{}/alerts/{id}", ts.org), &ts.user.auth()).await;
        assert_eq!(through_api.ok(StatusCode::OK)["status"], "RESOLVED");
    }

    // By ids, with a text for OTHER; an already dismissed id is not counted again.
    let active = all_pages(&app, &ts, "/v2/alerts?status=active").await;
    let pick = vec![s(&active[0], "id").to_string(), s(&dismissed[0], "id").to_string()];
    let r = ts
        .post(
            &app,
            "/v2/alerts/dismiss",
            json!({"ids": pick, "dismissReason": "OTHER", "dismissReasonText": "known scanner"}),
        )
        .await;
    assert_eq!((r.status, r.body["count"].as_u64()), (StatusCode::OK, Some(1)), "{}", r.text);
    let one = ts.get(&app, &format!("/v2/alerts/{}", pick[0])).await;
    assert_eq!(one.body["dismissReasonText"], "known scanner");

    // Resolving through /api shows as dismissed without a reason; reopening as active again.
    let other = s(&active[1], "id").to_string();
    let path = format!("/api/orgs/{}/alerts/{other}", ts.org);
    app.patch(&path, &ts.user.auth(), json!({"status": "RESOLVED"})).await.ok(StatusCode::OK);
    let seen = ts.get(&app, &format!("/v2/alerts/{other}")).await;
    assert_eq!((seen.body["isDismissed"].as_bool(), seen.body["dismissReason"].is_null()), (Some(true), true));
    app.patch(&path, &ts.user.auth(), json!({"status": "OPEN"})).await.ok(StatusCode::OK);
    assert_eq!(ts.get(&app, &format!("/v2/alerts/{other}")).await.body["isDismissed"], false);

    // Events: the report that raised it.
    let events = ts.get(&app, &format!("/v2/alerts/{other}/events")).await;
    assert_eq!(events.status, StatusCode::OK, "{}", events.text);
    assert_eq!(events.body["events"][0]["id"], report_id.as_str());
    assert_eq!(events.body["events"][0]["tool"], "dns");
    assert!(events.body["token"].is_null());
}

both!(another_organizations_alerts_are_invisible_on_v2, tenancy_case);
async fn tenancy_case(app: TestApp) {
    let a = setup(&app, "a@example.com").await;
    let b = setup(&app, "b@example.com").await;
    seed(&app, &a.user, 3, "r").await;
    let theirs = all_pages(&app, &a, "/v2/alerts").await;
    assert!(all_pages(&app, &b, "/v2/alerts").await.is_empty());
    let id = s(&theirs[0], "id");
    let r = b.get(&app, &format!("/v2/alerts/{id}")).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.text);
    assert!(r.body["errors"][0].is_string(), "{}", r.text);
    let r = b.post(&app, "/v2/alerts/dismiss", json!({"ids": [id], "dismissReason": "BUSINESS_OP"})).await;
    assert_eq!(r.body["count"], 0, "{}", r.text);
    assert_eq!(all_pages(&app, &a, "/v2/alerts?status=active").await.len(), 3);
    // Without Hawk, /v2 answers 401 in its own shape.
    let r = app.get("/v2/alerts", &a.user.auth()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(r.body["errors"][0].is_string(), "{}", r.text);
}

both!(a_threat_stack_script_pages_and_dismisses_with_mohawk, script_case);
async fn script_case(app: TestApp) {
    let ts = setup(&app, "ts@example.com").await;
    seed(&app, &ts.user, 230, "r").await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let service = app.router().into_make_service_with_connect_info::<std::net::SocketAddr>();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, service).await;
    });
    let env = [
        ("TS_USER_ID", ts.user.id.clone()),
        ("TS_API_KEY", ts.key.clone()),
        ("TS_ORGANIZATION_ID", ts.org.clone()),
        ("TS_HOST", format!("http://{addr}")),
        ("TS_FROM", "2026-11-01".to_string()),
        ("TS_UNTIL", "2026-12-31".to_string()),
    ];
    let out = crate::hawk::run_client("python3", "ts_alerts_mohawk.py", &env).await;
    server.abort();
    let Some((ok, text)) = out else { return };
    assert!(ok, "{text}");
    // 230 alerts in the window: 3 pages of at most 100; 58 of them LOW.
    assert!(text.lines().any(|l| l == "pages 3"), "{text}");
    assert!(text.lines().any(|l| l == "alerts 230"), "{text}");
    assert!(text.lines().any(|l| l == "dismissed 58"), "{text}");
    assert_eq!(all_pages(&app, &ts, "/v2/alerts?status=dismissed").await.len(), 58);
}

both!(organization_members_are_managed_with_threat_stack_roles, members_case);
async fn members_case(app: TestApp) {
    let ts = setup(&app, "owner@example.com").await;
    let (bob, _) = app.create_user("bob@example.com", None).await;
    let path = "/v2/organizations/members";
    let r = ts.post(&app, path, json!({"email": "bob@example.com", "role": "superuser"})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["errors"][0].as_str().unwrap_or_default().contains("role"), "{}", r.text);
    let r = ts.post(&app, path, json!({"email": "nobody@example.com", "role": "user"})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = ts.post(&app, path, json!({"email": "Bob@Example.com", "role": "reader"})).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.text);
    assert_eq!((r.body["id"].as_str(), r.body["role"].as_str()), (Some(bob.as_str()), Some("reader")));
    assert_eq!(
        ts.post(&app, path, json!({"email": "bob@example.com", "role": "user"})).await.status,
        StatusCode::CONFLICT
    );

    let list = ts.get(&app, path).await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text);
    let roles: Vec<(String, String)> = list.body["members"]
        .as_array()
        .expect("members")
        .iter()
        .map(|m| (s(m, "email").to_string(), s(m, "role").to_string()))
        .collect();
    assert!(roles.contains(&("bob@example.com".into(), "reader".into())), "{roles:?}");
    assert!(roles.contains(&("owner@example.com".into(), "owner".into())), "{roles:?}");
    assert!(list.body["token"].is_null());
    // The same membership through /api.
    let api = app.get(&format!("/api/orgs/{}/members", ts.org), &ts.user.auth()).await;
    assert!(api.items().iter().any(|m| m["userId"] == bob.as_str() && m["role"] == "VIEWER"), "{}", api.text);

    // Another organization cannot touch this one's members; the last owner stays.
    let other = setup(&app, "other@example.com").await;
    assert_eq!(other.delete(&app, &format!("{path}/{bob}")).await.status, StatusCode::NOT_FOUND);
    assert_eq!(ts.delete(&app, &format!("{path}/{}", ts.user.id)).await.status, StatusCode::CONFLICT);
    assert_eq!(ts.delete(&app, &format!("{path}/{bob}")).await.status, StatusCode::NO_CONTENT);
    assert_eq!(ts.delete(&app, &format!("{path}/{bob}")).await.status, StatusCode::NOT_FOUND);
}

/// A signed request with a raw body of `content_type`.
async fn signed_raw(app: &TestApp, ts: &Ts, method: Method, path: &str, content_type: &str, body: &[u8]) -> Reply {
    let h = Signed::new(method.clone(), path, Some(&ts.org)).with_body(content_type, body).header(&ts.user.id, &ts.key);
    send(app, method, path, &h, Some((content_type, body.to_vec()))).await
}

/// `{"errors": ["…"]}` with `status`, never the TLINK envelope; for a verified request, signed and with the
/// organization's rate-limit headers.
#[track_caller]
fn threat_stack_error(r: &Reply, status: StatusCode, signed: bool) {
    assert_eq!(r.status, status, "{}", r.text);
    assert!(r.body["errors"][0].as_str().is_some_and(|m| !m.is_empty()), "{{\"errors\": [...]}}: {}", r.text);
    assert!(r.body.get("success").is_none() && r.body.get("message").is_none(), "not the envelope: {}", r.text);
    if signed {
        assert!(r.headers.contains_key("server-authorization"), "signed: {:?}", r.headers);
        for h in ["x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset"] {
            assert!(r.headers.contains_key(h), "{h} on an error too: {:?}", r.headers);
        }
    }
}

both!(every_v2_error_is_in_threat_stacks_shape, error_shapes_case, |c: &mut tlink_server::Config| {
    c.limits.enabled = true;
    c.max_body_bytes = 4096;
});
async fn error_shapes_case(app: TestApp) {
    let ts = setup(&app, "ts@example.com").await;

    // Unknown routes and wrong methods, signed or not.
    for path in ["/v2", "/v2/", "/v2/nope", "/v2/alerts/a/b/c", "/v2/rulesets", "/help/nope"] {
        threat_stack_error(&app.get(path, &crate::support::Auth::None).await, StatusCode::NOT_FOUND, false);
        threat_stack_error(&ts.get(&app, path).await, StatusCode::NOT_FOUND, true);
    }
    threat_stack_error(&ts.delete(&app, "/v2/alerts").await, StatusCode::METHOD_NOT_ALLOWED, true);
    let r = app.req(Method::PUT, "/v2/alerts/dismiss", &crate::support::Auth::None, Some(json!({}))).await;
    threat_stack_error(&r, StatusCode::METHOD_NOT_ALLOWED, false);
    threat_stack_error(&ts.post(&app, "/v2/alerts", json!({})).await, StatusCode::METHOD_NOT_ALLOWED, true);

    // A body that is not JSON, or too large (declared, or only found out by reading it).
    let r = signed_raw(&app, &ts, Method::POST, "/v2/alerts/dismiss", "text/plain", b"ids=1").await;
    threat_stack_error(&r, StatusCode::UNSUPPORTED_MEDIA_TYPE, true);
    let r =
        signed_raw(&app, &ts, Method::POST, "/v2/organizations/members", "application/x-www-form-urlencoded", b"a=b")
            .await;
    threat_stack_error(&r, StatusCode::UNSUPPORTED_MEDIA_TYPE, true);
    let big = vec![b' '; 8192];
    let r = signed_raw(&app, &ts, Method::POST, "/v2/alerts/dismiss", "application/json", &big).await;
    threat_stack_error(&r, StatusCode::PAYLOAD_TOO_LARGE, false);
    let req = axum::http::Request::builder()
        .method(Method::POST)
        .uri("/v2/alerts/dismiss")
        .header(axum::http::header::CONTENT_TYPE, "application/json")
        .header(axum::http::header::CONTENT_LENGTH, big.len())
        .body(axum::body::Body::from(big.clone()))
        .expect("request");
    threat_stack_error(&app.send(req).await, StatusCode::PAYLOAD_TOO_LARGE, false);

    // Bad input in the path (refused at the boundary, before the request is verified) or the query: a 400
    // naming it.
    let r = ts.get(&app, "/v2/alerts/%FF%FE").await;
    threat_stack_error(&r, StatusCode::BAD_REQUEST, false);
    assert!(r.body["errors"][0].as_str().is_some_and(|m| m.starts_with("path: ")), "{}", r.text);
    let r = ts.get(&app, "/v2/alerts?colour=red").await;
    threat_stack_error(&r, StatusCode::BAD_REQUEST, true);
    assert!(r.body["errors"][0].as_str().is_some_and(|m| m.starts_with("colour: unknown parameter")), "{}", r.text);

    // A JSON body without a Content-Type is read as JSON (not every Threat Stack client declares it).
    let body = br#"{"ids": [], "dismissReason": "MAINTENANCE"}"#;
    let h =
        Signed::new(Method::POST, "/v2/alerts/dismiss", Some(&ts.org)).with_body("", body).header(&ts.user.id, &ts.key);
    let req = axum::http::Request::builder()
        .method(Method::POST)
        .uri("/v2/alerts/dismiss")
        .header(axum::http::header::HOST, format!("{}:{}", crate::hawk::HOST, crate::hawk::PORT))
        .header(axum::http::header::AUTHORIZATION, h)
        .body(axum::body::Body::from(body.to_vec()))
        .expect("request");
    let r = app.send(req).await;
    threat_stack_error(&r, StatusCode::BAD_REQUEST, true);
    assert!(r.body["errors"][0].as_str().is_some_and(|m| m.starts_with("ids: ")), "parsed as JSON: {}", r.text);
}

both!(times_are_read_as_clients_write_them_on_both_families, timestamps_case);
async fn timestamps_case(app: TestApp) {
    let ts = setup(&app, "ts@example.com").await;
    // Alerts every 6 hours from 2026-11-01T00:00Z: 00:00, 06:00, 12:00, 18:00 on Nov 1, 2 and 3.
    seed(&app, &ts.user, 12, "r").await;
    let cases = [
        // Python `datetime.utcnow().isoformat()`: naive (UTC), microseconds.
        ("from=2026-11-02T00:00:00.000000&until=2026-11-02T12:00:00.000000", 3),
        // ... and without a fraction when the microsecond is 0.
        ("from=2026-11-02T06:00:00&until=2026-11-02T06:00:00", 1),
        // Python `datetime.now(timezone.utc).isoformat()` and a local offset, `+` encoded. Times are kept
        // to the millisecond: finer digits name the millisecond holding them.
        ("from=2026-11-02T00:00:00.000001%2B00:00&until=2026-11-02T12:00:00.000001%2B00:00", 3),
        ("from=2026-11-02T00:00:00.001%2B00:00&until=2026-11-02T11:59:59.999999%2B00:00", 1),
        ("from=2026-11-02T02:00:00.500000%2B02:00&until=2026-11-02T14:00:00.123456%2B02:00", 2),
        // The same typed into a URL, the `+` unencoded (it arrives as a space).
        ("from=2026-11-02T02:00:00.500000+02:00&until=2026-11-02T14:00:00.123456+02:00", 2),
        ("from=2026-11-01T19:00:00-05:00&until=2026-11-02T01:00:00-05:00", 2),
        // JavaScript `new Date().toISOString()`.
        ("from=2026-11-02T00:00:00.000Z&until=2026-11-02T05:59:59.999Z", 1),
        // Partial values name their whole period.
        ("from=2026-11&until=2026-11", 12),
        ("until=2026-10", 0),
        ("from=2026", 12),
        ("from=2026-11-02&until=2026-11-02", 4),
        ("until=2026-11-01", 4),
        ("from=2026-11-02T10&until=2026-11-02T12", 1),
        ("from=2026-11-02T12:00%2B01:00&until=2026-11-02T12:00%2B01:00", 0),
        ("from=2026-11-02T13:00%2B01:00&until=2026-11-02T13:00%2B01:00", 1),
    ];
    for (query, want) in cases {
        let v2 = all_pages(&app, &ts, &format!("/v2/alerts?{query}")).await;
        assert_eq!(v2.len(), want, "/v2/alerts?{query}");
        let api = app.get(&format!("/api/orgs/{}/alerts?limit=100&{query}", ts.org), &ts.user.auth()).await;
        assert_eq!(api.ok(StatusCode::OK).as_array().map(Vec::len), Some(want), "/api …/alerts?{query}: {}", api.text);
    }
    let counts = ts
        .get(&app, "/v2/alerts/severity-counts?from=2026-11-01T00:00:00.000000&until=2026-11-01T23:59:59.999999")
        .await;
    let total: i64 =
        counts.body["severityCounts"].as_array().expect("counts").iter().filter_map(|c| c["count"].as_i64()).sum();
    assert_eq!(total, 4, "{}", counts.text);

    // Bad times are a 400 naming the parameter, in each family's shape.
    for query in ["from=2026-11-02T10:00:00+24:00", "until=2026-13", "from=2026-11-02 10:00", "until=20261102"] {
        let r = ts.get(&app, &format!("/v2/alerts?{}", query.replace(' ', "%20"))).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}: {}", r.text);
        let field = query.split('=').next().expect("name");
        assert!(r.body["errors"][0].as_str().is_some_and(|m| m.starts_with(&format!("{field}: "))), "{}", r.text);
        let r = app.get(&format!("/api/orgs/{}/alerts?{}", ts.org, query.replace(' ', "%20")), &ts.user.auth()).await;
        r.invalid(field);
    }
}
