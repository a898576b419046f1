//! `ip-reputation` against the provider stand-ins and local blocklist files.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use tlink_tools::{NoProgress, ResultSchema, RunOptions, Target, ToolError, ToolKey, ToolsConfig};

use crate::standins::*;
use crate::support::toolbox;

async fn run(config: ToolsConfig, raw: &str) -> Value {
    let tb = toolbox(config);
    let target = Target::parse(ToolKey::IpReputation, raw).expect("a valid ip-reputation target");
    tb.run(ToolKey::IpReputation, &target, &RunOptions::default(), &NoProgress).await.expect("the run succeeds")
}

fn at<'a>(v: &'a Value, pointer: &str) -> &'a Value {
    v.pointer(pointer).unwrap_or_else(|| panic!("{pointer} missing in {v:#}"))
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, text).expect("write a list file");
    path
}

#[tokio::test]
async fn abuseipdb_fields_are_flat_under_the_providers_names() {
    let p = Providers::start().await;
    let r = run(p.config(), IP_LISTED).await;

    // The seed's rule path.
    assert_eq!(r.pointer("/abuseipdb/abuseConfidenceScore"), Some(&json!(100)));
    assert_eq!(at(&r, "/abuseipdb/status"), "ok");
    assert_eq!(at(&r, "/abuseipdb/totalReports"), 1234);
    assert_eq!(at(&r, "/abuseipdb/numDistinctUsers"), 321);
    assert_eq!(at(&r, "/abuseipdb/isTor"), true);
    assert_eq!(at(&r, "/abuseipdb/isWhitelisted"), false);
    assert_eq!(at(&r, "/abuseipdb/isPublic"), true);
    assert_eq!(at(&r, "/abuseipdb/usageType"), "Data Center/Web Hosting/Transit");
    assert_eq!(at(&r, "/abuseipdb/isp"), "Example Hosting B.V.");
    assert_eq!(at(&r, "/abuseipdb/domain"), "hosting.example");
    assert_eq!(at(&r, "/abuseipdb/hostnames"), &json!(["scanner-23.hosting.example"]));
    assert_eq!(at(&r, "/abuseipdb/countryCode"), "NL");
    assert_eq!(at(&r, "/abuseipdb/lastReportedAt"), "2026-11-20T08:59:02+00:00");
    // Reports are capped, long comments shortened.
    let reports = at(&r, "/abuseipdb/reports").as_array().expect("reports");
    assert_eq!(reports.len(), 10);
    assert_eq!(reports[0]["comment"].as_str().map(|c| c.chars().count()), Some(500));
    assert_eq!(reports[1]["categories"], json!([18, 22]));
    assert_eq!((at(&r, "/target"), at(&r, "/kind")), (&json!(IP_LISTED), &json!("IP")));

    // What was sent: the documented query and headers, once.
    let sent = p.abuseipdb.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].path, "/api/check");
    assert_eq!(sent[0].param("ipAddress"), Some(IP_LISTED));
    assert_eq!(sent[0].param("maxAgeInDays"), Some("90"));
    assert_eq!(sent[0].param("verbose"), Some(""));
    assert_eq!(sent[0].header("key"), Some(ABUSEIPDB_KEY));
    assert_eq!(sent[0].header("accept"), Some("application/json"));
}

#[tokio::test]
async fn abuseipdb_ipv6_and_a_clean_address_with_nulls() {
    let p = Providers::start().await;
    let r = run(p.config(), IPV6_LISTED).await;
    assert_eq!(at(&r, "/abuseipdb/ipVersion"), 6);
    assert_eq!(at(&r, "/abuseipdb/ipAddress"), "2001:db8::bad");
    assert_eq!(p.abuseipdb.requests()[0].param("ipAddress"), Some("2001:db8::bad"));

    let r = run(p.config(), IP_CLEAN).await;
    assert_eq!(at(&r, "/abuseipdb/abuseConfidenceScore"), 0);
    // Null in the provider's answer stays null, and the key stays present for rules.
    assert_eq!(at(&r, "/abuseipdb/lastReportedAt"), &Value::Null);
    assert_eq!(at(&r, "/abuseipdb/isWhitelisted"), &Value::Null);
    assert_eq!(at(&r, "/abuseipdb/reports"), &json!([]));
}

#[tokio::test]
async fn virustotal_for_each_kind_of_target() {
    let p = Providers::start().await;

    let r = run(p.config(), IP_LISTED).await;
    assert_eq!(at(&r, "/virustotal/status"), "ok");
    assert_eq!(
        at(&r, "/virustotal/last_analysis_stats"),
        &json!({
            "harmless": 61, "malicious": 7, "suspicious": 1, "undetected": 25, "timeout": 0
        })
    );
    assert_eq!(at(&r, "/virustotal/malicious"), 7);
    assert_eq!(at(&r, "/malicious"), 7, "top-level convenience");
    assert_eq!(at(&r, "/virustotal/reputation"), -42);
    assert_eq!(at(&r, "/virustotal/as_owner"), "EXAMPLE-HOSTING-AS");
    assert_eq!(at(&r, "/virustotal/asn"), 64500);
    assert_eq!(at(&r, "/virustotal/country"), "NL");
    assert_eq!(at(&r, "/virustotal/last_analysis_date"), 1_763_600_000);
    assert_eq!(at(&r, "/virustotal/tags"), &json!(["scanner"]));
    assert_eq!(at(&r, "/virustotal/link"), "https://www.virustotal.com/gui/ip-address/198.51.100.23");
    assert!(r.pointer("/virustotal/registrar").is_none(), "domain fields are not on IP results: {r:#}");

    let r = run(p.config(), DOMAIN).await;
    assert_eq!((at(&r, "/kind"), at(&r, "/virustotal/malicious")), (&json!("DOMAIN"), &json!(12)));
    assert_eq!(at(&r, "/virustotal/registrar"), "Example Registrar, Inc.");
    assert_eq!(at(&r, "/virustotal/categories/Sophos"), "phishing");
    assert_eq!(at(&r, "/abuseipdb"), &json!({ "status": "not_applicable" }));

    let r = run(p.config(), MD5).await;
    assert_eq!(at(&r, "/kind"), "HASH");
    assert_eq!(at(&r, "/virustotal/meaningful_name"), "eicar.com");
    assert_eq!(at(&r, "/virustotal/sha256"), SHA256);
    assert_eq!(at(&r, "/virustotal/size"), 68);
    assert_eq!(at(&r, "/virustotal/last_analysis_stats/timeout"), 1);
    assert_eq!(at(&r, "/virustotal/link"), &json!(format!("https://www.virustotal.com/gui/file/{SHA256}")));

    let r = run(p.config(), URL).await;
    assert_eq!(at(&r, "/kind"), "URL");
    assert_eq!(at(&r, "/virustotal/status"), "ok", "the URL id must be unpadded URL-safe base64: {r:#}");
    assert_eq!(at(&r, "/virustotal/url"), URL);
    assert_eq!(at(&r, "/virustotal/last_http_response_code"), 200);
    assert_eq!(at(&r, "/virustotal/link"), &json!(format!("https://www.virustotal.com/gui/url/{URL_OBJECT_ID}")));

    let paths: Vec<String> = p.virustotal.requests().into_iter().map(|s| s.path).collect();
    assert_eq!(
        paths,
        [
            format!("/api/ip_addresses/{IP_LISTED}"),
            format!("/api/domains/{DOMAIN}"),
            format!("/api/files/{MD5}"),
            format!("/api/urls/{URL_ID}"),
        ]
    );
    assert!(p.virustotal.requests().iter().all(|s| s.header("x-apikey") == Some(VIRUSTOTAL_KEY)));
    assert_eq!(p.abuseipdb.requests().len(), 1, "AbuseIPDB is asked about IP targets only");
}

#[tokio::test]
async fn virustotal_unknown_object_is_not_found() {
    let p = Providers::start().await;
    let r = run(p.config(), IP_UNKNOWN).await;
    assert_eq!(at(&r, "/virustotal"), &json!({ "status": "not_found" }));
    assert_eq!(at(&r, "/malicious"), &Value::Null);
    assert_eq!(at(&r, "/abuseipdb/status"), "ok");
}

#[tokio::test]
async fn a_provider_without_a_key_is_not_contacted() {
    let p = Providers::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = p.config();
    config.abuseipdb.api_key.clear();
    config.virustotal.api_key.clear();
    config.blocklists.insert("local".into(), write(dir.path(), "local.txt", &format!("{IP_LISTED}\n")));
    let r = run(config, IP_LISTED).await;
    assert_eq!(at(&r, "/abuseipdb"), &json!({ "status": "not_configured" }));
    assert_eq!(at(&r, "/virustotal"), &json!({ "status": "not_configured" }));
    assert!(p.abuseipdb.requests().is_empty() && p.virustotal.requests().is_empty(), "nothing may be sent");
    // The rest of the tool still runs.
    assert_eq!((at(&r, "/blocklists/status"), at(&r, "/listed")), (&json!("ok"), &json!(true)));
}

#[tokio::test]
async fn a_refused_key_is_recorded_with_the_providers_message() {
    let p = Providers::start().await;
    let mut config = p.config();
    config.abuseipdb.api_key = "wrong".into();
    config.virustotal.api_key = "wrong".into();
    let r = run(config, IP_LISTED).await;
    assert_eq!(at(&r, "/abuseipdb/status"), "error");
    assert_eq!(at(&r, "/abuseipdb/httpStatus"), 401);
    let message = at(&r, "/abuseipdb/error").as_str().expect("message");
    assert!(message.starts_with("abuseipdb: the API key was refused (HTTP 401): Authentication failed."), "{message}");
    assert_eq!(at(&r, "/virustotal/httpStatus"), 401);
    assert_eq!(
        at(&r, "/virustotal/error"),
        "virustotal: the API key was refused (HTTP 401): WrongCredentialsError: Wrong API key"
    );
    assert!(r.pointer("/abuseipdb/abuseConfidenceScore").is_none());
    assert_eq!(p.abuseipdb.requests()[0].header("key"), Some("wrong"));
}

#[tokio::test]
async fn rate_limits_keep_retry_after() {
    let p = Providers::start().await;
    let r = run(p.config(), IP_RATE_LIMITED).await;
    assert_eq!(
        at(&r, "/abuseipdb"),
        &json!({
            "status": "error",
            "httpStatus": 429,
            "retryAfter": 30,
            "error": "abuseipdb: rate limited, retry after 30 s (HTTP 429): Daily rate limit of 1000 requests exceeded \
                      for this endpoint. See headers for additional details."
        })
    );
    // VirusTotal sends no Retry-After: none is invented.
    assert_eq!(
        at(&r, "/virustotal"),
        &json!({
            "status": "error",
            "httpStatus": 429,
            "error": "virustotal: rate limited (HTTP 429): QuotaExceededError: Quota exceeded"
        })
    );
}

#[tokio::test]
async fn server_errors_bad_json_and_wrong_shapes_are_recorded() {
    let p = Providers::start().await;
    let r = run(p.config(), IP_BROKEN).await;
    assert_eq!(
        at(&r, "/abuseipdb"),
        &json!({
            "status": "error", "httpStatus": 500, "error": "abuseipdb: provider error (HTTP 500)"
        })
    );
    assert_eq!(
        at(&r, "/virustotal"),
        &json!({
            "status": "error", "httpStatus": 503,
            "error": "virustotal: provider error (HTTP 503): TransientError: Please retry later"
        })
    );

    let r = run(p.config(), IP_MALFORMED).await;
    for provider in ["abuseipdb", "virustotal"] {
        assert_eq!(at(&r, &format!("/{provider}/status")), "error");
        assert_eq!(at(&r, &format!("/{provider}/httpStatus")), 200);
        let message = at(&r, &format!("/{provider}/error")).as_str().expect("message");
        assert!(message.starts_with(&format!("{provider}: the answer is not valid JSON: EOF")), "{message}");
    }

    let r = run(p.config(), IP_WRONG_SHAPE).await;
    let message = at(&r, "/abuseipdb/error").as_str().expect("message");
    assert!(
        message.starts_with(
            "abuseipdb: the answer does not have the documented shape: invalid type: string \"unavailable\""
        ),
        "{message}"
    );
    let message = at(&r, "/virustotal/error").as_str().expect("message");
    assert!(
        message.starts_with("virustotal: the answer does not have the documented shape: invalid type: string"),
        "{message}"
    );
}

#[tokio::test]
async fn a_slow_provider_times_out_without_failing_the_run() {
    let p = Providers::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = p.config();
    config.http_timeout_ms = 300;
    config.blocklists.insert("local".into(), write(dir.path(), "local.txt", "203.0.113.0/24\n"));
    let r = run(config, IP_SLOW).await;
    assert_eq!(at(&r, "/abuseipdb"), &json!({ "status": "error", "error": "abuseipdb: no answer within 300ms" }));
    assert_eq!(at(&r, "/virustotal"), &json!({ "status": "error", "error": "virustotal: no answer within 300ms" }));
    assert_eq!(at(&r, "/blocklists/matches"), &json!([{ "list": "local", "entry": "203.0.113.0/24", "line": 1 }]));
}

#[tokio::test]
async fn blocklists_match_ipv4_ipv6_and_cidrs_and_report_each_list() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = crate::support::loopback_config();
    config.blocklists.insert(
        "firehol".into(),
        write(
            dir.path(),
            "firehol.netset",
            "# FireHOL level 1\n#\n198.51.100.0/24\n10.0.0.0/8\n2001:db8::/32 # documentation\n\nnot-an-ip\n\
             300.1.2.3\n198.51.100.23\n",
        ),
    );
    config
        .blocklists
        .insert("drop".into(), write(dir.path(), "drop.txt", "198.51.0.0/16 ; SBL000001\n2001:db8::bad\n"));
    config.blocklists.insert("gone".into(), dir.path().join("missing.txt"));
    let tb = toolbox(config);

    let target = Target::parse(ToolKey::IpReputation, IP_LISTED).expect("target");
    let r = tb.run(ToolKey::IpReputation, &target, &RunOptions::default(), &NoProgress).await.expect("run");
    assert_eq!(at(&r, "/listed"), true);
    assert_eq!(at(&r, "/blocklists/status"), "ok");
    assert_eq!(
        at(&r, "/blocklists/matches"),
        &json!([
            { "list": "drop", "entry": "198.51.0.0/16", "line": 1 },
            { "list": "firehol", "entry": "198.51.100.0/24", "line": 3 },
            { "list": "firehol", "entry": "198.51.100.23", "line": 9 },
        ])
    );
    assert_eq!(at(&r, "/blocklists/lists/0"), &json!({ "name": "drop", "entries": 2, "invalidLines": 0 }));
    assert_eq!(
        at(&r, "/blocklists/lists/1"),
        &json!({ "name": "firehol", "entries": 4, "invalidLines": 2, "firstInvalidLine": 7 })
    );
    let gone = at(&r, "/blocklists/lists/2");
    assert_eq!((gone["name"].as_str(), gone["entries"].as_u64()), (Some("gone"), Some(0)));
    let error = gone["error"].as_str().expect("error recorded");
    assert!(error.starts_with("cannot open the file: No such file"), "{error}");
    assert!(!error.contains(dir.path().to_str().expect("utf-8 path")), "server paths are not shown: {error}");

    let target = Target::parse(ToolKey::IpReputation, IPV6_LISTED).expect("target");
    let r = tb.run(ToolKey::IpReputation, &target, &RunOptions::default(), &NoProgress).await.expect("run");
    assert_eq!(
        at(&r, "/blocklists/matches"),
        &json!([
            { "list": "drop", "entry": "2001:db8::bad", "line": 2 },
            { "list": "firehol", "entry": "2001:db8::/32", "line": 5 },
        ])
    );

    let target = Target::parse(ToolKey::IpReputation, "192.0.2.200").expect("target");
    let r = tb.run(ToolKey::IpReputation, &target, &RunOptions::default(), &NoProgress).await.expect("run");
    assert_eq!((at(&r, "/listed"), at(&r, "/blocklists/matches")), (&json!(false), &json!([])));

    // A URL on a listed address is checked; a domain is not (names are not resolved).
    let target = Target::parse(ToolKey::IpReputation, "http://10.9.8.7:8080/payload.sh").expect("target");
    let r = tb.run(ToolKey::IpReputation, &target, &RunOptions::default(), &NoProgress).await.expect("run");
    assert_eq!(at(&r, "/blocklists/matches"), &json!([{ "list": "firehol", "entry": "10.0.0.0/8", "line": 4 }]));
    let target = Target::parse(ToolKey::IpReputation, DOMAIN).expect("target");
    let r = tb.run(ToolKey::IpReputation, &target, &RunOptions::default(), &NoProgress).await.expect("run");
    assert_eq!(
        at(&r, "/blocklists"),
        &json!({ "status": "not_applicable", "listed": false, "matches": [], "lists": [] })
    );
}

#[tokio::test]
async fn blocklists_without_configuration_or_readable_files() {
    let r = run(crate::support::loopback_config(), IP_LISTED).await;
    assert_eq!(
        at(&r, "/blocklists"),
        &json!({ "status": "not_configured", "listed": false, "matches": [], "lists": [] })
    );
    // Providers with no key at all (the default configuration).
    assert_eq!(at(&r, "/abuseipdb/status"), "not_configured");

    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = crate::support::loopback_config();
    config.blocklists.insert("dir".into(), dir.path().to_path_buf());
    config.blocklists.insert("gone".into(), dir.path().join("missing"));
    let r = run(config, IP_LISTED).await;
    assert_eq!(at(&r, "/blocklists/status"), "error");
    assert_eq!(at(&r, "/blocklists/error"), "no blocklist could be read; see lists[].error");
    assert_eq!(at(&r, "/blocklists/lists/0/error"), "not a regular file");
}

#[tokio::test]
async fn blocklists_are_cached_until_the_file_changes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write(dir.path(), "list.txt", "192.0.2.1\n");
    let mtime = SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    set_mtime(&path, mtime);
    let mut config = crate::support::loopback_config();
    config.blocklists.insert("list".into(), path.clone());
    let tb = toolbox(config);
    let target = Target::parse(ToolKey::IpReputation, "192.0.2.9").expect("target");
    let listed = async || {
        let r = tb.run(ToolKey::IpReputation, &target, &RunOptions::default(), &NoProgress).await.expect("run");
        r["listed"].as_bool().expect("listed")
    };
    assert!(!listed().await);

    // Same size and modification time: the cached parse is used, the file is not read again.
    fs::write(&path, "192.0.2.9\n").expect("rewrite");
    set_mtime(&path, mtime);
    assert!(!listed().await, "an unchanged stamp must not cause a re-read");

    // A new modification time: re-read.
    set_mtime(&path, mtime + Duration::from_secs(60));
    assert!(listed().await);

    // A new size with the same time: re-read too.
    fs::write(&path, "# no entries left\n").expect("rewrite");
    set_mtime(&path, mtime + Duration::from_secs(60));
    assert!(!listed().await);
}

fn set_mtime(path: &Path, when: SystemTime) {
    fs::File::options().write(true).open(path).and_then(|f| f.set_modified(when)).expect("set the modification time");
}

#[tokio::test]
async fn an_unsupported_target_fails_the_run() {
    let tb = toolbox(crate::support::loopback_config());
    let target = Target::parse(ToolKey::Email, "bob@example.com").expect("an e-mail target");
    let err = tlink_tools::reputation::run(&tb, &target).await.expect_err("e-mail is not accepted");
    assert!(matches!(err, ToolError::InvalidInput(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "the ip-reputation tool does not accept EMAIL targets; it accepts IP, DOMAIN, HASH, URL"
    );
    assert!(Target::parse(ToolKey::IpReputation, "AS15169").is_err());
}

#[test]
fn the_result_schema_documents_provider_fields() {
    let schema = ToolKey::IpReputation.result_schema();
    let defs = &schema["$defs"];
    let abuse = serde_json::to_string(&defs["AbuseIpDbData"]).expect("schema text");
    assert!(abuse.contains("abuseConfidenceScore") && abuse.contains("0–100"), "{abuse}");
    assert_eq!(schema["properties"]["abuseipdb"]["$ref"], "#/$defs/AbuseIpDbSection", "{schema:#}");
    assert!(defs["VirusTotalAttributes"]["properties"]["last_analysis_stats"].is_object(), "{schema:#}");
    assert!(defs["SectionStatus"].to_string().contains("not_applicable"), "{schema:#}");
}
