//! Assets: creation with per-type normalisation, validation, duplicates, read, patch, delete.

use axum::http::StatusCode;
use serde_json::json;

use crate::support::{Auth, TestApp, random_id, s};

fn assets(org: &str) -> String {
    format!("/api/orgs/{org}/assets")
}

both!(the_seed_example_creates_an_asset, the_seed_example_creates_an_asset_case);
async fn the_seed_example_creates_an_asset_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let body = json!({ "type": "DOMAIN", "value": "example.com", "label": "Main site", "isMonitored": true });
    let r = app.post(&assets(alice.org()), &alice.auth(), body).await;
    let a = r.ok(StatusCode::CREATED);
    assert_eq!(a["type"], "DOMAIN");
    assert_eq!(a["value"], "example.com");
    assert_eq!(a["label"], "Main site");
    assert_eq!(a["isMonitored"], true);
    assert!(a.get("hashKind").is_none(), "hashKind only for hashes: {a}");
    assert_eq!(a["createdAt"], a["updatedAt"]);
    let id = s(a, "id");
    assert!(uuid::Uuid::parse_str(id).is_ok(), "id is a UUID: {id}");

    // With an API key, and with the defaults: no label, not monitored.
    let key = app.api_key(&alice.auth(), "ci").await;
    let r = app.post(&assets(alice.org()), &Auth::key(&key), json!({ "type": "IP", "value": "1.2.3.4" })).await;
    let b = r.ok(StatusCode::CREATED);
    assert_eq!(b["value"], "1.2.3.4");
    assert!(b["label"].is_null());
    assert_eq!(b["isMonitored"], false);

    let list = app.get(&assets(alice.org()), &Auth::key(&key)).await;
    list.ok(StatusCode::OK);
    assert_eq!(list.ids().len(), 2);
}

both!(values_are_normalised_per_type, values_are_normalised_per_type_case);
async fn values_are_normalised_per_type_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let sha256 = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
    let sha512 = "CF83E1357EEFB8BDF1542850D66D8007D620E4050B5715DC83F4A921D36CE9CE\
                  47D0D13C5D85F2B0FF8318D2877EEC2F63B931BD47417A81A538327AF927DA3E";
    let cert = "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89";
    let cases: &[(&str, &str, &str, Option<&str>)] = &[
        ("DOMAIN", "WWW.Example.COM.", "www.example.com", None),
        ("DOMAIN", "  mail.example.org  ", "mail.example.org", None),
        ("DOMAIN", "Bücher.example", "xn--bcher-kva.example", None),
        ("IP", "2001:DB8:0:0:0:0:0:1", "2001:db8::1", None),
        ("IP", " 10.0.0.1 ", "10.0.0.1", None),
        ("EMAIL", "Alice@Example.COM", "Alice@example.com", None),
        ("URL", "HTTPS://Example.COM:443/Path?q=1", "https://example.com/Path?q=1", None),
        ("HASH", "D41D8CD98F00B204E9800998ECF8427E", "d41d8cd98f00b204e9800998ecf8427e", Some("MD5")),
        ("HASH", "da39a3ee5e6b4b0d3255bfef95601890afd80709", "da39a3ee5e6b4b0d3255bfef95601890afd80709", Some("SHA1")),
        ("HASH", sha256, &sha256.to_ascii_lowercase(), Some("SHA256")),
        ("HASH", sha512, &sha512.to_ascii_lowercase(), Some("SHA512")),
        ("ASN", "13335", "AS13335", None),
        ("ASN", "as15169", "AS15169", None),
        ("CERTIFICATE", cert, &cert.replace(':', "").to_ascii_lowercase(), None),
    ];
    for (kind, input, want, hash_kind) in cases {
        let r = app.post(&assets(alice.org()), &alice.auth(), json!({ "type": kind, "value": input })).await;
        assert_eq!(r.status, StatusCode::CREATED, "{kind} {input:?}: {}", r.text);
        let a = r.data();
        assert_eq!(a["type"], *kind);
        assert_eq!(a["value"], *want, "{kind} {input:?}");
        match hash_kind {
            Some(k) => assert_eq!(a["hashKind"], *k, "{input}"),
            None => assert!(a.get("hashKind").is_none(), "{kind}: {a}"),
        }
        // Read back as stored.
        let got = app.get(&format!("{}/{}", assets(alice.org()), s(a, "id")), &alice.auth()).await;
        let got = got.ok(StatusCode::OK);
        assert_eq!(got["value"], *want);
        assert_eq!(got.get("hashKind"), a.get("hashKind"));
    }
}

both!(invalid_assets_are_400, invalid_assets_are_400_case);
async fn invalid_assets_are_400_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let path = assets(alice.org());
    let bad_values = [
        ("DOMAIN", "not a domain"),
        ("DOMAIN", "localhost"),
        ("DOMAIN", "*.example.com"),
        ("DOMAIN", "1.2.3.4"),
        ("DOMAIN", "https://example.com/"),
        ("DOMAIN", "-bad-.example"),
        ("DOMAIN", "   "),
        ("IP", "1.2.3.4/24"),
        ("IP", "999.1.1.1"),
        ("IP", "example.com"),
        ("EMAIL", "no-at-sign"),
        ("EMAIL", "a@b@example.com"),
        ("URL", "ftp://example.com/file"),
        ("URL", "http://"),
        ("URL", "https://user:pass@example.com/"),
        ("HASH", "xyz"),
        ("HASH", "abcdef"),
        ("ASN", "ASX"),
        ("ASN", "0"),
        ("ASN", "4294967296"),
        ("CERTIFICATE", "abcd"),
        ("CERTIFICATE", "AB:CD"),
    ];
    for (kind, value) in bad_values {
        let r = app.post(&path, &alice.auth(), json!({ "type": kind, "value": value })).await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{kind} {value:?}: {}", r.text);
        r.invalid("value");
    }
    app.post(&path, &alice.auth(), json!({ "type": "PHONE", "value": "555" })).await.invalid("type");
    app.post(&path, &alice.auth(), json!({ "type": "domain", "value": "example.com" })).await.invalid("type");
    app.post(&path, &alice.auth(), json!({ "value": "example.com" })).await.invalid("type");
    app.post(&path, &alice.auth(), json!({ "type": "DOMAIN" })).await.invalid("value");
    app.post(&path, &alice.auth(), json!({ "type": "DOMAIN", "value": 42 })).await.invalid("value");
    app.post(&path, &alice.auth(), json!({ "type": "DOMAIN", "value": "example.com", "color": "red" }))
        .await
        .rejects("color");
    app.post(&path, &alice.auth(), json!({ "type": "DOMAIN", "value": "example.com", "label": "x".repeat(201) }))
        .await
        .invalid("label");
    app.post(&path, &alice.auth(), json!({ "type": "DOMAIN", "value": "example.com", "isMonitored": "yes" }))
        .await
        .invalid("isMonitored");

    // Every failure is listed when several fields are wrong.
    let r = app.post(&path, &alice.auth(), json!({ "type": "IP", "value": "nope", "label": "y".repeat(300) })).await;
    r.err(StatusCode::BAD_REQUEST);
    let mut fields: Vec<&str> =
        r.body["errors"].as_array().expect("errors").iter().filter_map(|e| e["field"].as_str()).collect();
    fields.sort_unstable();
    assert_eq!(fields, ["label", "value"], "{}", r.text);

    let list = app.get(&path, &alice.auth()).await;
    assert!(list.ok(StatusCode::OK).as_array().expect("list").is_empty(), "nothing was created");
}

both!(duplicates_are_409, duplicates_are_409_case);
async fn duplicates_are_409_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let path = assets(alice.org());
    app.asset(alice.org(), &alice.auth(), "DOMAIN", "Example.com").await;
    let dup = app.post(&path, &alice.auth(), json!({ "type": "DOMAIN", "value": "example.com." })).await;
    dup.err(StatusCode::CONFLICT);
    app.asset(alice.org(), &alice.auth(), "ASN", "AS13335").await;
    app.post(&path, &alice.auth(), json!({ "type": "ASN", "value": "13335" })).await.err(StatusCode::CONFLICT);

    // The same value is no duplicate under another type, or in another organization.
    app.asset(alice.org(), &alice.auth(), "URL", "http://example.com/").await;
    let bob = app.user("bob@example.com", Some("Org B")).await;
    app.asset(bob.org(), &bob.auth(), "DOMAIN", "example.com").await;

    let list = app.get(&path, &alice.auth()).await;
    assert_eq!(list.ok(StatusCode::OK).as_array().expect("list").len(), 3);
}

both!(get_patch_and_delete, get_patch_and_delete_case);
async fn get_patch_and_delete_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let created = app.asset(alice.org(), &alice.auth(), "DOMAIN", "example.com").await;
    let path = format!("{}/{}", assets(alice.org()), s(&created, "id"));

    let got = app.get(&path, &alice.auth()).await;
    let a = got.ok(StatusCode::OK);
    assert_eq!(a["id"], created["id"]);
    assert_eq!(a["value"], "example.com");
    assert_eq!(a["latestResults"], json!({}));
    assert!(a["lastScannedAt"].is_null());

    let r = app.patch(&path, &alice.auth(), json!({ "label": "  New label ", "isMonitored": true })).await;
    let a = r.ok(StatusCode::OK).clone();
    assert_eq!(a["label"], "New label");
    assert_eq!(a["isMonitored"], true);
    assert_eq!(a["value"], "example.com", "the value is not patchable");
    assert_eq!(a["createdAt"], created["createdAt"]);
    assert!(s(&a, "updatedAt") >= s(&created, "updatedAt"));

    // Absent fields are kept.
    let r = app.patch(&path, &alice.auth(), json!({ "isMonitored": false })).await;
    let a = r.ok(StatusCode::OK);
    assert_eq!(a["label"], "New label");
    assert_eq!(a["isMonitored"], false);
    let r = app.patch(&path, &alice.auth(), json!({ "isMonitored": true })).await;
    r.ok(StatusCode::OK);
    let r = app.patch(&path, &alice.auth(), json!({})).await;
    let a = r.ok(StatusCode::OK);
    assert_eq!(a["label"], "New label");
    assert_eq!(a["isMonitored"], true);

    // `null` clears the label.
    let r = app.patch(&path, &alice.auth(), json!({ "label": null })).await;
    let a = r.ok(StatusCode::OK);
    assert!(a["label"].is_null(), "{a}");
    assert_eq!(a["isMonitored"], true);
    let got = app.get(&path, &alice.auth()).await;
    let got = got.ok(StatusCode::OK);
    assert!(got["label"].is_null());
    assert_eq!(got["isMonitored"], true);

    app.patch(&path, &alice.auth(), json!({ "label": 5 })).await.invalid("label");
    app.patch(&path, &alice.auth(), json!({ "isMonitored": "yes" })).await.invalid("isMonitored");
    app.patch(&path, &alice.auth(), json!({ "value": "other.example" })).await.rejects("value");
    app.patch(&path, &alice.auth(), json!({ "label": "z".repeat(201) })).await.invalid("label");

    let deleted = app.delete(&path, &alice.auth()).await;
    let d = deleted.ok(StatusCode::OK);
    assert_eq!(d["id"], created["id"]);
    assert_eq!(d["deleted"], true);
    app.get(&path, &alice.auth()).await.err(StatusCode::NOT_FOUND);
    app.delete(&path, &alice.auth()).await.err(StatusCode::NOT_FOUND);
    app.patch(&path, &alice.auth(), json!({ "label": "x" })).await.err(StatusCode::NOT_FOUND);
    app.post(&format!("{path}/monitor-now"), &alice.auth(), json!({})).await.err(StatusCode::NOT_FOUND);

    // Deleted means gone: the value may be added again.
    app.asset(alice.org(), &alice.auth(), "DOMAIN", "example.com").await;
}

both!(monitor_now_queues_one_report_per_tool, monitor_now_case);
async fn monitor_now_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let created = app.asset(alice.org(), &alice.auth(), "DOMAIN", "example.com").await;
    let path = format!("{}/{}/monitor-now", assets(alice.org()), s(&created, "id"));
    let r = app.post(&path, &alice.auth(), json!({})).await;
    let queued = r.ok(StatusCode::ACCEPTED).clone();
    assert_eq!(queued["tools"], json!(["dns", "whois", "ssl", "email", "threat-feed"]));
    assert_eq!(queued["reportIds"].as_array().map(Vec::len), Some(5));
    // The reports are queued, linked to the asset, and marked as requested by the caller.
    let reports =
        app.get(&format!("/api/orgs/{}/tools/reports?assetId={}", alice.org(), s(&created, "id")), &alice.auth()).await;
    assert_eq!(reports.items().len(), 5);
    assert!(reports.items().iter().all(|r| r["status"] == "QUEUED" && r["requestedBy"] == json!(alice.id)));
    // No body is fine too.
    let r = app.req(axum::http::Method::POST, &path, &alice.auth(), None).await;
    r.ok(StatusCode::ACCEPTED);
    let cert = app.asset(alice.org(), &alice.auth(), "CERTIFICATE", &"ab".repeat(32)).await;
    let cert_path = format!("{}/{}/monitor-now", assets(alice.org()), s(&cert, "id"));
    app.post(&cert_path, &alice.auth(), json!({})).await.err(StatusCode::BAD_REQUEST);
    let viewer = app.member(alice.org(), &alice, "viewer@example.com", "VIEWER").await;
    app.post(&path, &viewer.auth(), json!({})).await.err(StatusCode::FORBIDDEN);
    let missing = format!("{}/{}/monitor-now", assets(alice.org()), random_id());
    app.post(&missing, &alice.auth(), json!({})).await.err(StatusCode::NOT_FOUND);
}

both!(bad_asset_ids_are_400, bad_asset_ids_are_400_case);
async fn bad_asset_ids_are_400_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org A")).await;
    let path = format!("{}/not-a-uuid", assets(alice.org()));
    app.get(&path, &alice.auth()).await.invalid("assetId");
    app.patch(&path, &alice.auth(), json!({ "label": "x" })).await.invalid("assetId");
    app.delete(&path, &alice.auth()).await.invalid("assetId");
    app.post(&format!("{path}/monitor-now"), &alice.auth(), json!({})).await.invalid("assetId");
    app.get(&format!("{}/{}", assets(alice.org()), random_id()), &alice.auth()).await.err(StatusCode::NOT_FOUND);
}
