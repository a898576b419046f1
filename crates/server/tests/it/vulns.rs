//! Vulnerabilities on both engines: the OSV fixture set imported (idempotently), agents' inventories matched
//! on report and after import with each distribution's version ordering, `/v2/vulnerabilities` and its
//! variants over Hawk with token paging, suppression, vulnerability alerts with their agent, and tenancy.

use std::collections::BTreeSet;
use std::path::PathBuf;

use axum::http::StatusCode;
use serde_json::{Value, json};
use tlink_server::jobs::vulns::{self, Imported};
use tlink_store::ImportOutcome;

use crate::agents::report;
use crate::support::{TestApp, s};
use crate::v2::{Ts, setup};

fn fixtures() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../tests/fixtures/osv"))
}

fn advisory_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["Debian", "Ubuntu", "Alpine"] {
        for e in std::fs::read_dir(fixtures().join(dir)).expect("fixture dir") {
            files.push(e.expect("entry").path());
        }
    }
    files.sort();
    files
}

/// Imports every OSV fixture advisory (also used by the browser journeys).
pub(crate) async fn import_all(app: &TestApp) -> Vec<(String, Imported)> {
    let mut out = Vec::new();
    for f in advisory_files() {
        let bytes = std::fs::read(&f).expect("fixture");
        let got = vulns::import_advisory(&app.state, &bytes).await.expect("store").expect("valid OSV");
        out.push((f.file_stem().expect("name").to_string_lossy().into_owned(), got));
    }
    out
}

fn pkg(name: &str, version: &str, source: Option<&str>) -> Value {
    let mut p = json!({"manager": "dpkg", "name": name, "version": version});
    if let Some(src) = source {
        p["source"] = json!(src);
    }
    p
}

/// The Debian 12 fixture host's inventory as the agent sends it (see tests/fixtures/README.md).
fn debian(openssl: &str, digest: &str) -> Value {
    let mut gnutls = pkg("libgnutls30", "3.7.9-2+deb12u1+b1", Some("gnutls28"));
    gnutls["sourceVersion"] = json!("3.7.9-2+deb12u1");
    json!({
        "instanceId": "deb12", "hostname": "deb12-web01", "osVersion": "Debian GNU/Linux 12 (bookworm)",
        "osId": "debian", "osVersionId": "12", "inventoryDigest": digest,
        "packages": [
            pkg("libc6", "2.36-9+deb12u3", Some("glibc")), gnutls, pkg("libssl3", openssl, Some("openssl")),
            pkg("openssl", openssl, None), pkg("libtinfo6", "6.4-4", Some("ncurses")),
            pkg("login", "1:4.13+dfsg1-1", Some("shadow")), pkg("tar", "1.34+dfsg-1.2", None),
            pkg("zlib1g", "1:1.2.13.dfsg-1", Some("zlib")),
        ],
        "ports": []
    })
}

fn alpine() -> Value {
    let apk = |name: &str, version: &str, origin: Option<&str>| {
        let mut p = pkg(name, version, origin);
        p["manager"] = json!("apk");
        p
    };
    json!({
        "instanceId": "alpine318", "hostname": "alpine318-proxy01", "osId": "alpine", "osVersionId": "3.18.4",
        "inventoryDigest": "a1",
        "packages": [
            apk("libcrypto3", "3.1.4-r0", Some("openssl")), apk("openssh", "9.3_p2-r0", None),
            apk("libssh", "0.10.5-r0", None), apk("ncurses-libs", "6.4_p20230506-r0", Some("ncurses")),
            apk("busybox", "1.36.1-r10", None),
        ],
        "ports": []
    })
}

/// Follows `token` from `path` to the end; returns every entry of `key`.
async fn all(app: &TestApp, ts: &Ts, path: &str, key: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut next: Option<String> = None;
    for _ in 0..50 {
        let url = match &next {
            None => path.to_string(),
            Some(t) => format!("{path}{}token={t}", if path.contains('?') { '&' } else { '?' }),
        };
        let r = ts.get(app, &url).await;
        assert_eq!(r.status, StatusCode::OK, "{url}: {}", r.text);
        let page = r.body[key].as_array().expect("collection");
        assert!(page.len() <= 100);
        out.extend(page.iter().cloned());
        match r.body["token"].as_str() {
            Some(t) => next = Some(t.to_string()),
            None => {
                assert!(r.body["token"].is_null(), "the last page's token is null");
                return out;
            }
        }
    }
    panic!("paging did not end");
}

fn keys(entries: &[Value]) -> BTreeSet<(String, String)> {
    entries.iter().map(|e| (s(e, "cveNumber").to_string(), s(e, "systemPackage").to_string())).collect()
}

fn set(items: &[(&str, &str)]) -> BTreeSet<(String, String)> {
    items.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect()
}

both!(vulnerabilities_are_matched_listed_suppressed_and_alerted, vulnerabilities_case);
async fn vulnerabilities_case(app: TestApp) {
    let ts = setup(&app, "sec@example.com").await;
    let org = ts.org.clone();
    let auth = ts.user.auth();
    let r = app.post(&format!("/api/orgs/{org}/agent-enrollments"), &auth, json!({"name": "hosts"})).await;
    let token = s(r.ok(StatusCode::CREATED), "token").to_string();

    // Rules on findings: the `vulnerability` pseudo-tool; asset scoping does not apply to them.
    let rules = format!("/api/orgs/{org}/alert-rules");
    let cond = json!({"tool": "vulnerability", "field": "severityLevel", "operator": "gte", "value": 4});
    app.post(&rules, &auth, json!({"name": "x", "condition": cond, "severity": "HIGH", "assetTypes": ["IP"]}))
        .await
        .invalid("assetTypes");
    let rule = app
        .post(
            &rules,
            &auth,
            json!({"name": "High vulnerabilities", "condition": cond, "severity": "HIGH", "notifyEmail": true}),
        )
        .await;
    let rule_id = s(rule.ok(StatusCode::CREATED), "id").to_string();

    // The Debian host reports before there is any advisory: nothing found.
    let deb = s(report(&app, &token, debian("3.0.11-1~deb12u1", "d1")).await.ok(StatusCode::OK), "agentId").to_string();
    assert!(all(&app, &ts, "/v2/vulnerabilities", "cves").await.is_empty());

    // Import: every advisory once (the withdrawn one is not stored); again, nothing changes.
    let first = import_all(&app).await;
    let stored = first.iter().filter(|(_, o)| *o == Imported::Stored(ImportOutcome::Inserted)).count();
    assert_eq!(stored, 17, "{first:?}");
    assert!(first.contains(&("DEBIAN-CVE-2023-39804".into(), Imported::Stored(ImportOutcome::Removed))));
    let again = import_all(&app).await;
    assert_eq!(again.iter().filter(|(_, o)| *o == Imported::Stored(ImportOutcome::Unchanged)).count(), 17);
    let mut changed: Value =
        serde_json::from_slice(&std::fs::read(fixtures().join("Debian/DSA-5514-1.json")).expect("fixture"))
            .expect("json");
    changed["modified"] = json!("2030-01-01T00:00:00Z");
    let bytes = serde_json::to_vec(&changed).expect("json");
    let got = vulns::import_advisory(&app.state, &bytes).await.expect("store").expect("valid");
    assert_eq!(got, Imported::Stored(ImportOutcome::Updated));
    assert!(vulns::import_advisory(&app.state, b"{\"id\": 1}").await.expect("store").is_err(), "not OSV");

    // After the import every agent is matched; the Alpine host is matched when it reports.
    assert_eq!(vulns::match_all(&app.state, |_, _| {}).await.expect("match"), 1);
    let alp = s(report(&app, &token, alpine()).await.ok(StatusCode::OK), "agentId").to_string();

    let debian_findings = [
        ("CVE-2023-4641", "login 1:4.13+dfsg1-1"),
        ("CVE-2023-50495", "libtinfo6 6.4-4"),
        ("CVE-2023-5363", "openssl 3.0.11-1~deb12u1"),
        ("CVE-2023-5678", "openssl 3.0.11-1~deb12u1"),
        ("CVE-2024-0567", "libgnutls30 3.7.9-2+deb12u1"),
    ];
    let alpine_findings = [
        ("CVE-2023-48795", "openssh 9.3_p2-r0"),
        ("CVE-2023-50495", "ncurses-libs 6.4_p20230506-r0"),
        ("CVE-2023-5678", "libcrypto3 3.1.4-r0"),
    ];
    let everything: BTreeSet<_> = set(&debian_findings).union(&set(&alpine_findings)).cloned().collect();
    let listed = all(&app, &ts, "/v2/vulnerabilities?status=active", "cves").await;
    assert_eq!(keys(&listed), everything, "{listed:#?}");
    let openssl = listed.iter().find(|e| e["cveNumber"] == "CVE-2023-5363").expect("openssl");
    assert_eq!(openssl["reportedPackage"], "openssl 3.0.11");
    assert_eq!((openssl["severity"].as_str(), openssl["isSuppressed"].as_bool()), (Some("unknown"), Some(false)));
    assert_eq!(openssl["agents"], json!([deb]));
    assert_eq!(openssl["fixedVersion"], "3.0.11-1~deb12u2");
    assert_eq!(openssl["advisories"], json!(["DSA-5532-1"]));
    let gnutls = listed.iter().find(|e| e["cveNumber"] == "CVE-2024-0567").expect("gnutls");
    assert_eq!((gnutls["severity"].as_str(), gnutls["vectorType"].as_str()), (Some("high"), Some("network")));

    // Token paging gives the same entries, a page at a time.
    let paged = all(&app, &ts, "/v2/vulnerabilities?limit=3", "cves").await;
    assert_eq!(keys(&paged), everything);
    assert_eq!(paged.len(), everything.len(), "no entry twice");

    // Per agent, per server, per package, per CVE, fixed only.
    assert_eq!(keys(&all(&app, &ts, &format!("/v2/vulnerabilities/agent/{alp}"), "cves").await), set(&alpine_findings));
    assert_eq!(
        keys(&all(&app, &ts, &format!("/v2/vulnerabilities/server/{deb}"), "cves").await),
        set(&debian_findings)
    );
    assert_eq!(
        keys(&all(&app, &ts, &format!("/v2/vulnerabilities?agentId={alp}"), "cves").await),
        set(&alpine_findings)
    );
    let by_pkg = all(&app, &ts, "/v2/vulnerabilities/package/openssl", "cves").await;
    assert_eq!(by_pkg.len(), 3, "{by_pkg:#?}");
    let servers = all(&app, &ts, "/v2/vulnerabilities/CVE-2023-50495/servers", "servers").await;
    let hosts: BTreeSet<_> = servers.iter().map(|s| s["hostname"].as_str().unwrap_or_default().to_string()).collect();
    assert_eq!(hosts, ["alpine318-proxy01", "deb12-web01"].iter().map(|h| h.to_string()).collect());
    let fixed = all(&app, &ts, "/v2/vulnerabilities?hasSecurityNotices=true", "cves").await;
    assert!(fixed.iter().all(|e| e["fixedVersion"].is_string()), "{fixed:#?}");
    assert_eq!(fixed.len(), 5);
    // As Threat Stack writes it: the flag alone means true.
    let bare = all(&app, &ts, "/v2/vulnerabilities?hasSecurityNotices", "cves").await;
    assert_eq!(bare.len(), 5, "{bare:#?}");

    // Suppression: org-wide, then for one agent; lifting it brings the findings back.
    let sup = "/v2/vulnerabilities/CVE-2023-50495/suppress";
    let r = ts.post(&app, sup, json!({"reason": " "})).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    assert!(r.body["errors"][0].as_str().unwrap_or_default().contains("reason"), "{}", r.text);
    let r = ts.post(&app, sup, json!({"reason": "curses is not reachable on these hosts"})).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.text);
    assert!(r.body["agentId"].is_null());
    let active = all(&app, &ts, "/v2/vulnerabilities", "cves").await;
    assert_eq!(active.len(), everything.len() - 2);
    let suppressed = all(&app, &ts, "/v2/vulnerabilities/suppressed", "cves").await;
    assert_eq!(suppressed.len(), 2);
    assert!(suppressed.iter().all(|e| e["isSuppressed"] == true && e["cveNumber"] == "CVE-2023-50495"));
    let unsup = "/v2/vulnerabilities/CVE-2023-50495/unsuppress";
    assert_eq!(ts.post(&app, unsup, json!({})).await.status, StatusCode::NO_CONTENT);
    assert_eq!(ts.post(&app, unsup, json!({})).await.status, StatusCode::NOT_FOUND, "nothing left to lift");
    let r = ts.post(&app, sup, json!({"reason": "accepted on the proxy", "agentId": alp})).await;
    assert_eq!(r.body["agentId"], json!(alp));
    let suppressed = all(&app, &ts, "/v2/vulnerabilities/suppressed", "cves").await;
    assert_eq!(keys(&suppressed), set(&[("CVE-2023-50495", "ncurses-libs 6.4_p20230506-r0")]));
    assert_eq!(all(&app, &ts, "/v2/vulnerabilities", "cves").await.len(), everything.len() - 1);
    assert_eq!(ts.post(&app, unsup, json!({"agentId": alp})).await.status, StatusCode::NO_CONTENT);
    assert_eq!(all(&app, &ts, "/v2/vulnerabilities", "cves").await.len(), everything.len());

    // One alert, for the one high finding, about its agent; visible through both APIs, with its event.
    let alerts = all(&app, &ts, &format!("/v2/alerts?agentId={deb}"), "alerts").await;
    assert_eq!(alerts.len(), 1, "{alerts:#?}");
    let alert = &alerts[0];
    assert_eq!((alert["agentId"].as_str(), alert["ruleId"].as_str()), (Some(deb.as_str()), Some(rule_id.as_str())));
    assert_eq!((alert["type"].as_str(), alert["severity"].as_u64()), (Some("vulnerability"), Some(1)));
    assert!(s(alert, "title").starts_with("CVE-2024-0567 gnutls28 on deb12-web01"), "{alert}");
    assert!(all(&app, &ts, &format!("/v2/alerts?agentId={alp}"), "alerts").await.is_empty());
    let alert_id = s(alert, "id").to_string();
    let events = ts.get(&app, &format!("/v2/alerts/{alert_id}/events")).await;
    let event = &events.body["events"][0];
    assert_eq!(
        (event["type"].as_str(), event["result"]["cve"].as_str()),
        (Some("vulnerability"), Some("CVE-2024-0567"))
    );
    let one = ts.get(&app, &format!("/v2/alerts/{alert_id}/events/{}", s(event, "id"))).await;
    assert_eq!(one.status, StatusCode::OK, "{}", one.text);
    let api = app.get(&format!("/api/orgs/{org}/alerts?agentId={deb}"), &auth).await;
    assert_eq!(api.ids(), vec![alert_id.clone()]);
    assert_eq!(api.items()[0]["subject"], "CVE-2024-0567 gnutls28");
    // Its notification is recorded like any alert's (no SMTP server here, so the e-mail is not sent).
    let deliveries = app.get(&format!("/api/orgs/{org}/alerts/{alert_id}/deliveries"), &auth).await;
    let mail = deliveries.items().iter().find(|d| d["channel"] == "EMAIL").expect("an e-mail delivery");
    assert_eq!(mail["status"], "NOT_SENT", "{mail}");

    // The same inventory again raises nothing new; upgrading openssl clears its findings.
    report(&app, &token, debian("3.0.11-1~deb12u1", "d2")).await.ok(StatusCode::OK);
    assert_eq!(all(&app, &ts, "/v2/alerts", "alerts").await.len(), 1);
    report(&app, &token, debian("3.0.11-1~deb12u2", "d3")).await.ok(StatusCode::OK);
    let now = keys(&all(&app, &ts, &format!("/v2/vulnerabilities/agent/{deb}"), "cves").await);
    assert_eq!(now, set(&[debian_findings[0], debian_findings[1], debian_findings[4]]));

    // Another organization sees none of it.
    let other = setup(&app, "other@example.com").await;
    assert!(all(&app, &other, "/v2/vulnerabilities", "cves").await.is_empty());
    assert_eq!(other.get(&app, &format!("/v2/vulnerabilities/agent/{deb}")).await.status, StatusCode::NOT_FOUND);
    assert!(all(&app, &other, "/v2/vulnerabilities/CVE-2023-50495/servers", "servers").await.is_empty());
    let r = other.post(&app, sup, json!({"reason": "x", "agentId": deb})).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(other.get(&app, &format!("/v2/alerts/{alert_id}")).await.status, StatusCode::NOT_FOUND);
}
