//! Corrupt stored JSON: a JSON column (stored as text) that no longer decodes is answered as an opaque 500,
//! never as a 200 with the field empty.

use axum::http::StatusCode;
use serde_json::json;

use crate::support::{Reply, TestApp, s};

/// An opaque 500: the generic message, nothing about the table, the row or the column.
#[track_caller]
fn opaque_500(r: &Reply, row: &str) {
    r.err(StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(r.message(), "internal server error", "{}", r.text);
    for leak in ["alert_rules", "alerts", "asset_ids", "rule", "json", row] {
        assert!(!r.text.to_ascii_lowercase().contains(leak), "the 500 names `{leak}`: {}", r.text);
    }
}

both!(corrupt_stored_json_is_an_opaque_500, corrupt_case);
async fn corrupt_case(app: TestApp) {
    let alice = app.user("alice@example.com", Some("Org")).await;
    let org = alice.org().to_string();
    let asset = app.asset(&org, &alice.auth(), "IP", "192.0.2.7").await;
    let asset_id = s(&asset, "id").to_string();
    let rule = app
        .post(
            &format!("/api/orgs/{org}/alert-rules"),
            &alice.auth(),
            json!({"name": "bad ip", "condition": {"tool": "ip-reputation", "field": "abuseipdb.abuseConfidenceScore", "operator": "gte", "value": 75},
                   "severity": "HIGH", "assetIds": [asset_id]}),
        )
        .await;
    let rule_id = s(rule.ok(StatusCode::CREATED), "id").to_string();
    let path = format!("/api/orgs/{org}/alert-rules/{rule_id}");
    assert_eq!(app.get(&path, &alice.auth()).await.ok(StatusCode::OK)["assetIds"], json!([asset_id]));

    // An alert of the rule, with the rule as it was and no `actual` (NULL is absent, not corrupt).
    let alert_id = uuid::Uuid::now_v7().to_string();
    let snapshot = json!({"id": rule_id, "name": "bad ip", "condition": {"tool": "ip-reputation"}}).to_string();
    let sql = "INSERT INTO alerts (id, org_id, rule_id, asset_id, report_id, last_report_id, severity, status, \
        message, actual, rule, occurrences, triggered_at, last_seen_at, created_at, updated_at) \
        VALUES ($1, $2, $3, $4, $5, $5, 'HIGH', 'OPEN', 'matched', NULL, $6, 1, $7, $7, $7, $7)";
    let now = tlink_store::now_millis();
    let report_id = uuid::Uuid::now_v7().to_string();
    let p = [
        alert_id.clone().into(),
        org.clone().into(),
        rule_id.clone().into(),
        asset_id.clone().into(),
        report_id.into(),
        snapshot.into(),
        now.into(),
    ];
    app.state.store.db().execute(sql, &p).await.expect("alert");
    let alert_path = format!("/api/orgs/{org}/alerts/{alert_id}");
    let alert = app.get(&alert_path, &alice.auth()).await;
    let alert = alert.ok(StatusCode::OK);
    assert_eq!(alert["rule"]["name"], json!("bad ip"), "{alert}");
    assert_eq!(alert["actual"], json!(null), "{alert}");

    // The rule's scope and the alert's rule snapshot no longer decode.
    let db = app.state.store.db();
    let sql = "UPDATE alert_rules SET asset_ids = $2 WHERE id = $1";
    assert_eq!(db.execute(sql, &[rule_id.clone().into(), "[\"unterminated".into()]).await.expect("corrupt rule"), 1);
    let sql = "UPDATE alerts SET rule = $2 WHERE id = $1";
    assert_eq!(db.execute(sql, &[alert_id.clone().into(), "{not json".into()]).await.expect("corrupt alert"), 1);

    // Neither is shown as if empty (a rule on every asset, an alert without its rule): each read is a 500.
    opaque_500(&app.get(&path, &alice.auth()).await, &rule_id);
    opaque_500(&app.get(&format!("/api/orgs/{org}/alert-rules"), &alice.auth()).await, &rule_id);
    opaque_500(&app.get(&alert_path, &alice.auth()).await, &alert_id);
    // A change merged onto the corrupt rule fails before anything is written.
    let r = app.patch(&path, &alice.auth(), json!({"name": "renamed"})).await;
    opaque_500(&r, &rule_id);
    let row = db.query("SELECT name FROM alert_rules WHERE id = $1", &[rule_id.clone().into()]).await.expect("rule");
    assert_eq!(row[0].text(0).expect("name"), "bad ip");
    // The alert list does not read the rule snapshot.
    let list = app.get(&format!("/api/orgs/{org}/alerts"), &alice.auth()).await;
    assert_eq!(list.ok(StatusCode::OK).as_array().map(Vec::len), Some(1), "{}", list.text);
}
