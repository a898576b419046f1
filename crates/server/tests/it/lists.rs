//! Lists: limit, keyset tokens (bound to their query, tamper-proof), filters, from/until.

use std::collections::HashSet;

use axum::http::StatusCode;
use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use serde_json::json;
use tlink_domain::{AssetType, OrgId};
use tlink_store::NewAsset;

use crate::support::{Auth, Reply, TestApp, s};

/// Creates `n` domain assets straight in the store, oldest first; returns their ids in creation order.
async fn seed_assets(app: &TestApp, org: &str, n: usize) -> Vec<String> {
    let org = OrgId::parse(org).expect("org id");
    let mut ids = Vec::with_capacity(n);
    for i in 0..n {
        let value = tlink_domain::parse(AssetType::Domain, &format!("host{i}.example.com")).expect("a valid domain");
        let row = app
            .state
            .store
            .create_asset(
                &org,
                NewAsset {
                    value,
                    label: None,
                    is_monitored: i % 2 == 0,
                    monitor_interval_minutes: None,
                    next_scan_at: None,
                },
            )
            .await
            .expect("creating an asset");
        ids.push(row.id.to_string());
    }
    ids
}

/// Checks a page's `meta` and returns the next token.
#[track_caller]
fn page(r: &Reply, count: usize, limit: u32) -> Option<String> {
    r.ok(StatusCode::OK);
    assert_eq!(r.items().len(), count, "{}", r.text);
    assert_eq!(r.body["meta"]["count"], count, "meta.count");
    assert_eq!(r.body["meta"]["limit"], limit, "meta.limit");
    r.next_token()
}

both!(pages_through_250_assets, pages_through_250_assets_case);
async fn pages_through_250_assets_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let created = seed_assets(&app, alice.org(), 250).await;
    let base = format!("/api/orgs/{}/assets", alice.org());

    let mut seen: Vec<String> = Vec::new();
    let mut keys: Vec<(String, String)> = Vec::new();
    let mut token: Option<String> = None;
    for want in [100, 100, 50] {
        let path = match &token {
            Some(t) => format!("{base}?limit=100&token={t}"),
            None => format!("{base}?limit=100"),
        };
        let r = app.get(&path, &alice.auth()).await;
        token = page(&r, want, 100);
        assert_eq!(token.is_none(), want == 50, "nextToken is null exactly on the last page");
        for item in r.items() {
            seen.push(s(item, "id").to_string());
            keys.push((s(item, "createdAt").to_string(), s(item, "id").to_string()));
        }
    }
    let unique: HashSet<&String> = seen.iter().collect();
    assert_eq!(unique.len(), 250, "no duplicates across pages");
    let newest_first: Vec<String> = created.iter().rev().cloned().collect();
    assert_eq!(seen, newest_first, "every asset once, newest first");
    assert!(keys.windows(2).all(|w| w[0] > w[1]), "strictly descending (createdAt, id)");

    // Default page size.
    let r = app.get(&base, &alice.auth()).await;
    let next = page(&r, 50, 50);
    assert_eq!(r.ids(), newest_first[..50].to_vec());
    let r = app.get(&format!("{base}?token={}", next.expect("a next page")), &alice.auth()).await;
    page(&r, 50, 50);
    assert_eq!(r.ids(), newest_first[50..100].to_vec());

    let r = app.get(&format!("{base}?limit=1"), &alice.auth()).await;
    page(&r, 1, 1);
    for bad in ["0", "101", "abc", "-1", "1.5", "99999999999"] {
        app.get(&format!("{base}?limit={bad}"), &alice.auth()).await.invalid("limit");
    }
    app.get(&format!("{base}?limit=10&limit=20"), &alice.auth()).await.invalid("limit");
}

both!(filters_narrow_the_list, filters_narrow_the_list_case);
async fn filters_narrow_the_list_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let base = format!("/api/orgs/{}/assets", alice.org());
    let mut ids = std::collections::HashMap::new();
    for (name, kind, value, label, monitored) in [
        ("alpha", "DOMAIN", "alpha.example.com", Some("Main Site"), true),
        ("beta", "DOMAIN", "beta.example.org", Some("100% sure"), false),
        ("db", "IP", "10.0.0.1", Some("db_server"), true),
        ("url", "URL", "https://example.net/a_b", None, false),
        ("hash", "HASH", "d41d8cd98f00b204e9800998ecf8427e", Some("empty file"), false),
    ] {
        let body = json!({ "type": kind, "value": value, "label": label, "isMonitored": monitored });
        let r = app.post(&base, &alice.auth(), body).await;
        ids.insert(name, s(r.ok(StatusCode::CREATED), "id").to_string());
    }
    let names = |r: &Reply| -> Vec<&str> {
        let mut out: Vec<&str> =
            r.ids().iter().map(|id| *ids.iter().find(|(_, v)| *v == id).expect("a known asset").0).collect();
        out.sort_unstable();
        out
    };
    let cases: &[(&str, &[&str])] = &[
        ("type=IP", &["db"]),
        ("type=DOMAIN", &["alpha", "beta"]),
        ("type=CERTIFICATE", &[]),
        ("isMonitored=true", &["alpha", "db"]),
        ("isMonitored=false", &["beta", "hash", "url"]),
        ("q=MAIN", &["alpha"]),
        ("q=Alpha.Example", &["alpha"]),
        ("q=example", &["alpha", "beta", "url"]),
        ("q=%25", &["beta"]),
        ("q=_", &["db", "url"]),
        ("q=a%25b", &[]),
        ("q=db_", &["db"]),
        ("q=d_", &[]),
        ("q=D41D8", &["hash"]),
        ("q=%20main%20", &["alpha"]),
        ("q=nothing-matches", &[]),
        ("type=DOMAIN&isMonitored=true&q=main", &["alpha"]),
        ("type=DOMAIN&isMonitored=false", &["beta"]),
        ("q=", &["alpha", "beta", "db", "hash", "url"]),
    ];
    for (query, want) in cases {
        let r = app.get(&format!("{base}?{query}"), &alice.auth()).await;
        assert_eq!(r.status, StatusCode::OK, "{query}: {}", r.text);
        assert_eq!(names(&r), *want, "{query}");
        assert_eq!(r.body["meta"]["count"], want.len(), "{query}");
    }
    app.get(&format!("{base}?type=domain"), &alice.auth()).await.invalid("type");
    // An empty value is an invalid one, except for the free-text search.
    app.get(&format!("{base}?type="), &alice.auth()).await.invalid("type");
    app.get(&format!("{base}?isMonitored=&q="), &alice.auth()).await.invalid("isMonitored");
    app.get(&format!("{base}?type=IP&type=URL"), &alice.auth()).await.invalid("type");
    app.get(&format!("{base}?isMonitored=yes"), &alice.auth()).await.invalid("isMonitored");
    app.get(&format!("{base}?q={}", "x".repeat(201)), &alice.auth()).await.invalid("q");
}

both!(q_is_case_insensitive_beyond_ascii, q_is_case_insensitive_beyond_ascii_case);
async fn q_is_case_insensitive_beyond_ascii_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let base = format!("/api/orgs/{}/assets", alice.org());
    let body = json!({ "type": "DOMAIN", "value": "example.com", "label": "ÜBERSICHT" });
    app.post(&base, &alice.auth(), body).await.ok(StatusCode::CREATED);
    for q in ["%C3%9CBERSICHT", "%C3%BCbersicht"] {
        let r = app.get(&format!("{base}?q={q}"), &alice.auth()).await;
        assert_eq!(r.ok(StatusCode::OK).as_array().expect("list").len(), 1, "q={q}");
    }
}

both!(tokens_are_bound_to_their_query, tokens_are_bound_to_their_query_case);
async fn tokens_are_bound_to_their_query_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    seed_assets(&app, alice.org(), 6).await;
    let base = format!("/api/orgs/{}/assets", alice.org());
    let first = app.get(&format!("{base}?limit=2&isMonitored=true"), &alice.auth()).await;
    let token = page(&first, 2, 2).expect("another page");

    let second = app.get(&format!("{base}?limit=2&isMonitored=true&token={token}"), &alice.auth()).await;
    page(&second, 1, 2);
    assert!(second.ids().iter().all(|id| !first.ids().contains(id)));

    for other in [
        "limit=2&isMonitored=false",
        "limit=2",
        "limit=3&isMonitored=true",
        "limit=2&isMonitored=true&type=DOMAIN",
        "limit=2&isMonitored=true&q=host",
        "limit=2&isMonitored=true&from=2000-01-01",
        "limit=2&isMonitored=true&until=2999-01-01",
    ] {
        let r = app.get(&format!("{base}?{other}&token={token}"), &alice.auth()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{other}: {}", r.text);
        r.invalid("token");
    }

    // Another organization's list, or another kind of list.
    let second_org = app.post("/api/orgs", &alice.auth(), json!({ "name": "Org A2" })).await;
    let org2 = s(second_org.ok(StatusCode::CREATED), "id").to_string();
    app.get(&format!("/api/orgs/{org2}/assets?limit=2&isMonitored=true&token={token}"), &alice.auth())
        .await
        .invalid("token");
    app.get(&format!("/api/orgs/{}/members?limit=2&token={token}", alice.org()), &alice.auth()).await.invalid("token");
    app.get(&format!("/api/users/me/api-keys?limit=2&token={token}"), &alice.auth()).await.invalid("token");

    // Tampering.
    let (payload, mac) = token.split_once('.').expect("payload.mac");
    let flip = |s: &str, i: usize| -> String {
        let mut b = s.as_bytes().to_vec();
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        String::from_utf8(b).expect("ascii")
    };
    use base64::Engine;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let decoded = String::from_utf8(b64.decode(payload).expect("base64 payload")).expect("utf-8 payload");
    let (ts, rest) = decoded.split_once(',').expect("ts,id,fingerprint");
    let earlier = b64.encode(format!("{},{rest}", ts.parse::<i64>().expect("ts") - 1));
    for bad in [
        format!("{}.{mac}", flip(payload, 0)),
        format!("{}.{mac}", flip(payload, payload.len() - 1)),
        format!("{payload}.{}", flip(mac, 0)),
        format!("{earlier}.{mac}"),
        format!("{payload}.{mac}x"),
        format!("{payload}x.{mac}"),
        payload.to_string(),
        format!("{payload}."),
        format!(".{mac}"),
        "garbage".to_string(),
        "a.b".to_string(),
        "%F0%9F%98%80".to_string(),
    ] {
        let r = app.get(&format!("{base}?limit=2&isMonitored=true&token={bad}"), &alice.auth()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{bad}: {}", r.text);
        r.invalid("token");
    }
}

fn ms(t: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(t).expect("RFC 3339").with_timezone(&Utc)
}

fn rfc(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

both!(from_and_until_bound_created_at, from_and_until_bound_created_at_case);
async fn from_and_until_bound_created_at_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let asset = app.asset(alice.org(), &alice.auth(), "DOMAIN", "example.com").await;
    let created = s(&asset, "createdAt").to_string();
    let t = ms(&created);
    let base = format!("/api/orgs/{}/assets", alice.org());
    let one_ms = TimeDelta::milliseconds(1);

    let day = &created[..10];
    let hour = &created[..13];
    let minute = &created[..16];
    let second = &created[..19];
    let includes = [
        format!("from={day}"),
        format!("until={day}"),
        format!("from={day}&until={day}"),
        format!("from={hour}"),
        format!("until={hour}"),
        format!("from={minute}&until={minute}"),
        format!("from={second}&until={second}"),
        format!("from={created}"),
        format!("until={created}"),
        format!("from={created}&until={created}"),
        format!("from={}", rfc(t - one_ms)),
        "from=2000-01-01&until=2999-12-31".to_string(),
    ];
    let excludes = [
        "from=2999-01-01".to_string(),
        "until=2000-01-01".to_string(),
        format!("from={}", rfc(t + one_ms)),
        format!("until={}", rfc(t - one_ms)),
        format!("until={}", &rfc(t - TimeDelta::days(1))[..10]),
        format!("from={}", &rfc(t + TimeDelta::days(1))[..10]),
    ];
    for (query, want) in includes.iter().map(|q| (q, 1)).chain(excludes.iter().map(|q| (q, 0))) {
        let r = app.get(&format!("{base}?{query}"), &alice.auth()).await;
        assert_eq!(r.status, StatusCode::OK, "{query}: {}", r.text);
        assert_eq!(r.items().len(), want, "{query} (created {created})");
    }

    for (query, field) in [
        ("from=yesterday", "from"),
        ("from=2026-13-01", "from"),
        ("until=2026-02-30", "until"),
        ("from=2026-01-01%2010:00", "from"),
        ("until=2026-01-01T25", "until"),
        ("from=2026-01-02&until=2026-01-01", "until"),
        ("from=2026-01-01T00:00:00.001Z&until=2026-01-01T00:00:00.000Z", "until"),
    ] {
        let r = app.get(&format!("{base}?{query}"), &alice.auth()).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{query}: {}", r.text);
        r.invalid(field);
    }
}

both!(every_list_pages, every_list_pages_case);
async fn every_list_pages_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    for name in ["one", "two", "three"] {
        app.api_key(&alice.auth(), name).await;
        app.post("/api/orgs", &alice.auth(), json!({ "name": name })).await.ok(StatusCode::CREATED);
    }
    for email in ["b@example.com", "c@example.com"] {
        app.member(alice.org(), &alice, email, "VIEWER").await;
    }
    let members = format!("/api/orgs/{}/members", alice.org());
    // Three API keys, four organizations, three members.
    for (path, total, id_field) in
        [("/api/users/me/api-keys", 3, "id"), ("/api/orgs", 4, "id"), (members.as_str(), 3, "userId")]
    {
        let mut seen = HashSet::new();
        let mut token: Option<String> = None;
        let mut pages = 0;
        loop {
            let url = match &token {
                Some(t) => format!("{path}?limit=2&token={t}"),
                None => format!("{path}?limit=2"),
            };
            let r = app.get(&url, &alice.auth()).await;
            r.ok(StatusCode::OK);
            for item in r.items() {
                assert!(seen.insert(s(item, id_field).to_string()), "{path}: {item} twice");
            }
            pages += 1;
            token = r.next_token();
            if token.is_none() {
                break;
            }
            assert!(pages < 10, "{path} does not end");
        }
        assert_eq!(seen.len(), total, "{path}");
        assert_eq!(pages, total.div_ceil(2), "{path}");
        app.get(&format!("{path}?limit=0"), &alice.auth()).await.invalid("limit");
        app.get(&format!("{path}?from=soon"), &alice.auth()).await.invalid("from");
        app.get(&format!("{path}?token=forged"), &alice.auth()).await.invalid("token");
        let future = app.get(&format!("{path}?from=2999-01-01"), &Auth::bearer(&alice.access)).await;
        assert!(future.ok(StatusCode::OK).as_array().expect("list").is_empty(), "{path}");
    }
}
