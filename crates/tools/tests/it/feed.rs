//! `threat-feed` against the provider stand-ins and local feed files.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde_json::{Value, json};
use tlink_tools::{NoProgress, ResultSchema, RunOptions, Target, ToolError, ToolKey, Toolbox, ToolsConfig};

use crate::standins::*;
use crate::support::{loopback_config, toolbox};

async fn run_with(tb: &Toolbox, raw: &str) -> Value {
    let target = Target::parse(ToolKey::ThreatFeed, raw).expect("a valid threat-feed target");
    tb.run(ToolKey::ThreatFeed, &target, &RunOptions::default(), &NoProgress).await.expect("the run succeeds")
}

async fn run(config: ToolsConfig, raw: &str) -> Value {
    run_with(&toolbox(config), raw).await
}

fn at<'a>(v: &'a Value, pointer: &str) -> &'a Value {
    v.pointer(pointer).unwrap_or_else(|| panic!("{pointer} missing in {v:#}"))
}

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    fs::write(&path, text).expect("write a feed file");
    path
}

#[tokio::test]
async fn otx_pulses_tags_reputation_and_validation() {
    let p = Providers::start().await;
    let r = run(p.config(), IP_LISTED).await;
    assert_eq!(at(&r, "/otx/status"), "ok");
    assert_eq!((at(&r, "/otx/indicator"), at(&r, "/otx/type")), (&json!(IP_LISTED), &json!("IPv4")));
    assert_eq!(at(&r, "/otx/pulseCount"), 57, "OTX's total, not the pulses listed");
    assert_eq!(at(&r, "/pulseCount"), 57, "top-level convenience");
    assert_eq!(at(&r, "/otx/pulse_info/count"), 57);
    assert_eq!(
        at(&r, "/otx/pulseNames"),
        &json!(["SSH brute force campaign", "Mirai scanners", "Honeypot observations"])
    );
    // Deduplicated case-insensitively, first spelling kept.
    assert_eq!(at(&r, "/otx/tags"), &json!(["ssh", "bruteforce", "Mirai", "iot"]));
    assert_eq!(
        at(&r, "/otx/pulse_info/pulses/1"),
        &json!({
            "id": "6541a0c1f3e2d4b5a6978802", "name": "Mirai scanners", "tags": ["Mirai", "SSH", "iot"],
            "created": "2026-10-01T09:30:00.000000", "modified": "2026-11-01T10:00:00.000000",
            "adversary": null, "malware_families": ["Mirai"]
        })
    );
    assert_eq!((at(&r, "/otx/reputation"), at(&r, "/otx/validation")), (&json!(0), &json!([])));
    let sent = p.otx.requests();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0].path, format!("/api/indicators/IPv4/{IP_LISTED}/general"));
    assert_eq!(sent[0].header("x-otx-api-key"), Some(OTX_KEY));

    let r = run(p.config(), DOMAIN).await;
    assert_eq!(at(&r, "/otx/type"), "domain");
    assert_eq!(at(&r, "/otx/tags"), &json!(["phishing", "Credential Theft", "dga", "botnet"]));
    assert_eq!(
        at(&r, "/otx/validation"),
        &json!([
            { "source": "false_positive", "message": "Known false positive", "name": "False Positive" }
        ])
    );
    assert_eq!(at(&r, "/otx/pulse_info/pulses/1/malware_families"), &json!(["Necurs"]));
}

#[tokio::test]
async fn otx_indicator_types_and_url_encoding() {
    let p = Providers::start().await;
    for (raw, kind) in [(IPV6_LISTED, "IPv6"), (URL, "url"), (SHA256, "file"), (MD5, "file")] {
        let r = run(p.config(), raw).await;
        assert_eq!(at(&r, "/otx/status"), "ok", "{raw}: {r:#}");
        assert_eq!(at(&r, "/otx/type"), kind, "{raw}");
        assert_eq!(at(&r, "/otx/indicator"), raw, "the stand-in decoded the value back: {raw}");
    }
    let paths: Vec<String> = p.otx.requests().into_iter().map(|s| s.path).collect();
    assert_eq!(
        paths,
        [
            format!("/api/indicators/IPv6/{IPV6_LISTED}/general"),
            // The URL is one path segment: `/`, `:` and `?` are percent-encoded.
            "/api/indicators/url/http%3A%2F%2Fexample.com%2Fmalware%3Fx%3D1/general".to_string(),
            format!("/api/indicators/file/{SHA256}/general"),
            format!("/api/indicators/file/{MD5}/general"),
        ]
    );
    // GreyNoise only takes IP addresses.
    assert_eq!(p.greynoise.requests().len(), 1);
}

#[tokio::test]
async fn greynoise_noise_riot_and_classification() {
    let p = Providers::start().await;
    let r = run(p.config(), IP_LISTED).await;
    assert_eq!(
        at(&r, "/greynoise"),
        &json!({
            "status": "ok", "seen": true, "ip": IP_LISTED, "noise": true, "riot": false,
            "classification": "malicious", "name": "unknown",
            "link": format!("https://viz.greynoise.io/ip/{IP_LISTED}"),
            "last_seen": "2026-11-21", "message": "Success"
        })
    );
    assert_eq!(at(&r, "/classification"), "malicious");
    let sent = p.greynoise.requests();
    assert_eq!((sent[0].path.as_str(), sent[0].header("key")), ("/api/community/198.51.100.23", Some(GREYNOISE_KEY)));

    let r = run(p.config(), IP_CLEAN).await;
    assert_eq!((at(&r, "/greynoise/riot"), at(&r, "/greynoise/noise")), (&json!(true), &json!(false)));
    assert_eq!((at(&r, "/classification"), at(&r, "/greynoise/name")), (&json!("benign"), &json!("Example CDN")));
    assert_eq!((at(&r, "/otx/pulseCount"), at(&r, "/otx/tags")), (&json!(0), &json!([])));
}

#[tokio::test]
async fn greynoise_not_observed_is_an_answer() {
    let p = Providers::start().await;
    let r = run(p.config(), IP_UNKNOWN).await;
    assert_eq!(
        at(&r, "/greynoise"),
        &json!({
            "status": "ok", "seen": false, "ip": IP_UNKNOWN, "noise": false, "riot": false,
            "classification": null, "name": null, "link": null, "last_seen": null,
            "message": "IP not observed scanning the internet or contained in RIOT data set."
        })
    );
    assert_eq!(at(&r, "/classification"), &Value::Null);

    // A 404 without GreyNoise's body (a proxy's page) is no "not observed" answer.
    let r = run(p.config(), IP_BARE_404).await;
    assert_eq!(at(&r, "/greynoise"), &json!({ "status": "not_found" }));
    assert_eq!(at(&r, "/otx"), &json!({ "status": "not_found" }));
}

#[tokio::test]
async fn providers_without_keys_are_not_contacted() {
    let p = Providers::start().await;
    let mut config = p.config();
    config.otx.api_key.clear();
    config.greynoise.api_key.clear();
    let r = run(config, IP_LISTED).await;
    assert_eq!(at(&r, "/otx"), &json!({ "status": "not_configured" }));
    assert_eq!(at(&r, "/greynoise"), &json!({ "status": "not_configured" }));
    assert_eq!((at(&r, "/pulseCount"), at(&r, "/classification")), (&Value::Null, &Value::Null));
    assert!(p.otx.requests().is_empty() && p.greynoise.requests().is_empty(), "nothing may be sent");
    assert_eq!(at(&r, "/feeds/status"), "not_configured");

    let r = run(p.config(), DOMAIN).await;
    assert_eq!(at(&r, "/greynoise"), &json!({ "status": "not_applicable" }));
    assert!(p.greynoise.requests().is_empty());
}

#[tokio::test]
async fn provider_errors_are_recorded_per_section() {
    let p = Providers::start().await;
    let mut config = p.config();
    config.otx.api_key = "wrong".into();
    config.greynoise.api_key = "wrong".into();
    let r = run(config, IP_LISTED).await;
    assert_eq!(
        at(&r, "/otx"),
        &json!({
            "status": "error", "httpStatus": 403,
            "error": "otx: the API key was refused (HTTP 403): Authentication credentials were not provided."
        })
    );
    assert_eq!(
        at(&r, "/greynoise"),
        &json!({
            "status": "error", "httpStatus": 401,
            "error": "greynoise: the API key was refused (HTTP 401): Authentication failed: invalid API key"
        })
    );

    let r = run(p.config(), IP_RATE_LIMITED).await;
    assert_eq!(
        at(&r, "/otx"),
        &json!({
            "status": "error", "httpStatus": 429, "retryAfter": 30,
            "error": "otx: rate limited, retry after 30 s (HTTP 429): Request was throttled. Expected available in 30 \
                      seconds."
        })
    );
    assert_eq!(at(&r, "/greynoise/retryAfter"), 30);
    assert_eq!(
        at(&r, "/greynoise/error"),
        "greynoise: rate limited, retry after 30 s (HTTP 429): You have hit your weekly rate limit of 50 searches."
    );

    let r = run(p.config(), IP_BROKEN).await;
    assert_eq!(
        at(&r, "/otx"),
        &json!({
            "status": "error", "httpStatus": 502,
            "error": "otx: provider error (HTTP 502): upstream connect error or disconnect"
        })
    );
    assert_eq!(at(&r, "/greynoise/error"), "greynoise: provider error (HTTP 500): Internal error");

    let r = run(p.config(), IP_MALFORMED).await;
    for provider in ["otx", "greynoise"] {
        let message = at(&r, &format!("/{provider}/error")).as_str().expect("message");
        assert!(message.starts_with(&format!("{provider}: the answer is not valid JSON")), "{message}");
    }

    let r = run(p.config(), IP_WRONG_SHAPE).await;
    let message = at(&r, "/otx/error").as_str().expect("message");
    assert!(
        message.starts_with("otx: the answer does not have the documented shape: invalid type: string \"none\""),
        "{message}"
    );
    let message = at(&r, "/greynoise/error").as_str().expect("message");
    assert!(
        message.starts_with("greynoise: the answer does not have the documented shape: invalid type: string \"yes\""),
        "{message}"
    );
}

#[tokio::test]
async fn a_slow_provider_times_out_without_failing_the_run() {
    let p = Providers::start().await;
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = p.config();
    config.http_timeout_ms = 300;
    config.feeds.insert("local".into(), write(dir.path(), "local.txt", "203.0.113.51\n"));
    let r = run(config, IP_SLOW).await;
    assert_eq!(at(&r, "/otx"), &json!({ "status": "error", "error": "otx: no answer within 300ms" }));
    assert_eq!(at(&r, "/greynoise"), &json!({ "status": "error", "error": "greynoise: no answer within 300ms" }));
    assert_eq!(at(&r, "/listed"), true);
}

#[tokio::test]
async fn feeds_plain_and_csv_match_every_kind_of_target() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = loopback_config();
    config.feeds.insert(
        "plain".into(),
        write(
            dir.path(),
            "iocs.txt",
            "# local IOCs\n\nEVIL.example\nhxxp://example[.]com/Malware?x=1\n198.51.100.0/24 # scanners\n\
             2001:DB8::BAD\n275A021BBFB6489E54D471899F7DB9D1663FC695EC2FE2A2C4538AABF651FD0F\nnot_an_indicator\n",
        ),
    );
    config.feeds.insert(
        "vendor".into(),
        write(
            dir.path(),
            "vendor.csv",
            "indicator,type,first_seen,description\n\
             \"phish.example\",domain,2026-11-01,\"Phishing, credential theft\"\n\
             # comment row\nexample.com,domain,2026-11-02,host of a URL\n203.0.113.7,ip,2026-11-03,C2\n\
             ,missing,2026-11-04,\n",
        ),
    );
    config.feeds.insert("gone".into(), dir.path().join("gone.csv"));
    let tb = toolbox(config);

    let r = run_with(&tb, "Evil.Example.").await;
    assert_eq!(at(&r, "/listed"), true);
    assert_eq!(at(&r, "/feeds/matches"), &json!([{ "feed": "plain", "indicator": "evil.example", "line": 3 }]));
    assert_eq!(at(&r, "/feeds/status"), "ok");
    assert_eq!(
        at(&r, "/feeds/feeds"),
        &json!([
            { "name": "gone", "format": "csv", "entries": 0, "invalidLines": 0,
              "error": "cannot open the file: No such file or directory (os error 2)" },
            { "name": "plain", "format": "plain", "entries": 5, "invalidLines": 1, "firstInvalidLine": 8 },
            { "name": "vendor", "format": "csv", "entries": 3, "invalidLines": 1, "firstInvalidLine": 6 },
        ])
    );

    // A URL matches on itself (defanged and mixed case in the file) and on its host.
    let r = run_with(&tb, URL).await;
    assert_eq!(
        at(&r, "/feeds/matches"),
        &json!([
            { "feed": "plain", "indicator": "http://example.com/malware?x=1", "line": 4 },
            { "feed": "vendor", "indicator": "example.com", "line": 4 },
        ])
    );

    // An IP matches a CIDR entry; IPv6 and hashes match case-insensitively.
    let r = run_with(&tb, IP_LISTED).await;
    assert_eq!(at(&r, "/feeds/matches"), &json!([{ "feed": "plain", "indicator": "198.51.100.0/24", "line": 5 }]));
    let r = run_with(&tb, IPV6_LISTED).await;
    assert_eq!(at(&r, "/feeds/matches"), &json!([{ "feed": "plain", "indicator": "2001:db8::bad", "line": 6 }]));
    let r = run_with(&tb, SHA256).await;
    assert_eq!(at(&r, "/feeds/matches/0/line"), 7);
    let r = run_with(&tb, "203.0.113.7").await;
    assert_eq!(at(&r, "/feeds/matches"), &json!([{ "feed": "vendor", "indicator": "203.0.113.7", "line": 5 }]));
    let r = run_with(&tb, "phish.example").await;
    assert_eq!(at(&r, "/feeds/matches/0/line"), 2, "quoted CSV cell");

    let r = run_with(&tb, "good.example").await;
    assert_eq!((at(&r, "/listed"), at(&r, "/feeds/matches")), (&json!(false), &json!([])));
}

#[tokio::test]
async fn feeds_reload_when_the_file_changes() {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = write(dir.path(), "feed.csv", "indicator\nold.example\n");
    let mut config = loopback_config();
    config.feeds.insert("feed".into(), path.clone());
    let tb = toolbox(config);
    assert_eq!(at(&run_with(&tb, "new.example").await, "/listed"), false);

    fs::write(&path, "indicator\nold.example\nnew.example\n").expect("rewrite");
    let later = SystemTime::now() + Duration::from_secs(120);
    fs::File::options().write(true).open(&path).and_then(|f| f.set_modified(later)).expect("touch");
    let r = run_with(&tb, "new.example").await;
    assert_eq!(at(&r, "/feeds/matches"), &json!([{ "feed": "feed", "indicator": "new.example", "line": 3 }]));
    assert_eq!(at(&r, "/feeds/feeds/0/entries"), 2);

    fs::remove_file(&path).expect("remove");
    let r = run_with(&tb, "new.example").await;
    assert_eq!((at(&r, "/listed"), at(&r, "/feeds/status")), (&json!(false), &json!("error")));
    assert_eq!(at(&r, "/feeds/error"), "no feed could be read; see feeds[].error");
}

#[tokio::test]
async fn an_unsupported_target_fails_the_run() {
    let tb = toolbox(loopback_config());
    let target = Target::parse(ToolKey::Whois, "AS15169").expect("an ASN target");
    let err = tlink_tools::feed::run(&tb, &target).await.expect_err("an ASN is not accepted");
    assert!(matches!(err, ToolError::InvalidInput(_)), "{err:?}");
    assert_eq!(err.to_string(), "the threat-feed tool does not accept ASN targets; it accepts IP, DOMAIN, URL, HASH");
}

#[test]
fn the_result_schema_documents_sections() {
    let schema = ToolKey::ThreatFeed.result_schema();
    let defs = &schema["$defs"];
    assert_eq!(schema["properties"]["greynoise"]["$ref"], "#/$defs/GreyNoiseSection", "{schema:#}");
    assert!(defs["GreyNoiseData"]["properties"]["seen"].is_object(), "{schema:#}");
    assert!(defs["OtxData"]["properties"]["pulseCount"].is_object(), "{schema:#}");
    assert!(defs["FeedMatch"]["properties"]["indicator"].is_object(), "{schema:#}");
}
