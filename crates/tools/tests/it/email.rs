//! The email tool: MX, SPF and DMARC from a loopback authoritative server, HIBP from a loopback stand-in.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use tlink_tools::config::ProviderConfig;
use tlink_tools::email::{self, DmarcPolicy, EmailResult, EmailSeverity, HibpStatus, SpfQualifier};
use tlink_tools::{Target, ToolError, ToolKey, ToolsConfig};

use crate::dnsserver;
use crate::support::{loopback_config, toolbox};

const ZONE: &str = r#"
$TTL 300
@               SOA   ns.mail.test. hostmaster.mail.test. 1 7200 900 1209600 300
@               NS    ns.mail.test.
ns              A     192.0.2.53

; A well protected domain: MX, -all through an include, DMARC reject with reports.
good            MX    10 mx.good.mail.test.
good            TXT   "v=spf1 ip4:192.0.2.0/24 include:_spf.mail.test -all"
good            TXT   "google-site-verification=abc"
_spf            TXT   "v=spf1 ip4:198.51.100.0/24 ~all"
_dmarc.good     TXT   "v=DMARC1; p=reject; rua=mailto:dmarc@good.mail.test; adkim=s"
sub.good        A     192.0.2.20

; +all, DMARC p=none at pct=50.
plusall         MX    10 mx.plusall.mail.test.
plusall         TXT   "v=spf1 +all"
_dmarc.plusall  TXT   "v=DMARC1; p=none; pct=50; rua=mailto:d@plusall.mail.test"

; ?all, no MX, no DMARC.
neutral         A     192.0.2.1
neutral         TXT   "v=spf1 mx ?all"

; No `all` at all.
noall           MX    10 mx.noall.mail.test.
noall           TXT   "v=spf1 a"

; Includes chaining to 15 lookups.
many            MX    10 mx.many.mail.test.
many            TXT   "v=spf1 include:l1.mail.test include:l2.mail.test a mx -all"
l1              TXT   "v=spf1 include:l3.mail.test a mx ~all"
l2              TXT   "v=spf1 a mx exists:%{i}.x.mail.test ~all"
l3              TXT   "v=spf1 a mx include:l4.mail.test ~all"
l4              TXT   "v=spf1 a mx ~all"

; Two SPF records.
twospf          MX    10 mx.twospf.mail.test.
twospf          TXT   "v=spf1 -all"
twospf          TXT   "v=spf1 mx -all"

; ptr, a syntax error, an include of a domain without SPF, an include loop, a redirect, a null MX.
ptr             TXT   "v=spf1 ptr -all"
syntax          TXT   "v=spf1 ip4:300.1.1.1 mx -all"
badinc          TXT   "v=spf1 include:nothing.mail.test -all"
loop1           TXT   "v=spf1 include:loop2.mail.test -all"
loop2           TXT   "v=spf1 include:loop1.mail.test -all"
redir           MX    10 mx.redir.mail.test.
redir           TXT   "v=spf1 redirect=_spf.mail.test"
nullmx          MX    0 .
nullmx          TXT   "v=spf1 -all"
_dmarc.nullmx   TXT   "v=DMARC1; p=reject; rua=mailto:d@good.mail.test; foo=bar; pct=200"
"#;

async fn server() -> dnsserver::TestDns {
    dnsserver::start("mail.test.", ZONE).await
}

async fn check(config: ToolsConfig, raw: &str) -> Result<EmailResult, ToolError> {
    let tb = toolbox(config);
    let target = Target::parse(ToolKey::Email, raw).expect("target");
    email::run(&tb, &target).await
}

fn codes(r: &EmailResult) -> Vec<&str> {
    r.findings.iter().map(|f| f.code.as_str()).collect()
}

fn finding<'a>(r: &'a EmailResult, code: &str) -> &'a email::EmailFinding {
    r.findings.iter().find(|f| f.code == code).unwrap_or_else(|| panic!("no {code} in {:?}", r.findings))
}

#[tokio::test]
async fn email_a_well_protected_domain_has_no_findings() {
    let srv = server().await;
    let r = check(srv.config(), "good.mail.test").await.expect("email run");

    assert_eq!(r.domain, "good.mail.test");
    assert!(r.has_mx && !r.null_mx);
    assert_eq!((r.mx[0].preference, r.mx[0].exchange.as_str()), (10, "mx.good.mail.test"));

    assert!(r.has_spf);
    assert_eq!(r.spf.record.as_deref(), Some("v=spf1 ip4:192.0.2.0/24 include:_spf.mail.test -all"));
    assert_eq!(r.spf.record_count, 1, "the unrelated TXT record is not SPF");
    assert_eq!(r.spf.all_qualifier, Some(SpfQualifier::Fail));
    assert_eq!(r.spf.lookup_count, 1);
    assert_eq!(r.spf.includes.len(), 1);
    assert_eq!(r.spf.includes[0].domain, "_spf.mail.test");
    assert_eq!(r.spf.includes[0].record.as_deref(), Some("v=spf1 ip4:198.51.100.0/24 ~all"));
    let names: Vec<&str> = r.spf.mechanisms.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["ip4", "include", "all"]);
    assert_eq!(r.spf.mechanisms[2].qualifier, "-");
    assert!(!r.spf.permerror);

    assert!(r.has_dmarc && !r.dmarc.inherited);
    assert_eq!(r.dmarc.policy, Some(DmarcPolicy::Reject));
    assert_eq!(r.dmarc.subdomain_policy, Some(DmarcPolicy::Reject));
    assert_eq!(r.dmarc.rua, ["mailto:dmarc@good.mail.test"]);
    assert_eq!((r.dmarc.adkim.as_deref(), r.dmarc.aspf.as_deref(), r.dmarc.pct), (Some("s"), Some("r"), Some(100)));
    assert_eq!(r.dmarc.fo.as_deref(), Some(&["0".to_string()][..]), "the record's default fo=0");

    assert!(r.findings.is_empty(), "{:?}", r.findings);
    assert_eq!(r.hibp.status, HibpStatus::NotApplicable, "a domain has no HIBP lookup");

    // The JSON keys rules address.
    let v = serde_json::to_value(&r).expect("json");
    assert_eq!(v["spf"]["lookupCount"], 1);
    assert_eq!(v["spf"]["allQualifier"], "fail");
    assert_eq!(v["dmarc"]["policy"], "reject");
    assert_eq!(
        (v["hasSpf"].clone(), v["hasDmarc"].clone(), v["hasMx"].clone()),
        (json!(true), json!(true), json!(true))
    );
    assert_eq!(v["hibp"], json!({"status": "not_applicable"}));
}

#[tokio::test]
async fn email_flags_plus_all_and_a_monitoring_only_dmarc() {
    let srv = server().await;
    let r = check(srv.config(), "plusall.mail.test").await.expect("email run");
    assert_eq!(r.spf.all_qualifier, Some(SpfQualifier::Pass));
    let f = finding(&r, "spf_plus_all");
    assert_eq!(f.severity, EmailSeverity::Critical);
    assert_eq!(r.highest_severity, Some(EmailSeverity::Critical));
    assert_eq!(r.findings[0].code, "spf_plus_all", "most severe first");

    assert_eq!(r.dmarc.policy, Some(DmarcPolicy::None));
    assert_eq!(r.dmarc.pct, Some(50));
    assert!(finding(&r, "dmarc_policy_none").message.contains("monitoring only"));
    assert!(finding(&r, "dmarc_pct_partial").message.contains("50%"));
    assert!(!codes(&r).contains(&"dmarc_no_rua"));
    assert!(r.finding_codes.contains(&"dmarc_policy_none".to_string()));
}

#[tokio::test]
async fn email_flags_weak_spf_endings_and_missing_records() {
    let srv = server().await;
    let r = check(srv.config(), "neutral.mail.test").await.expect("email run");
    assert_eq!(r.spf.all_qualifier, Some(SpfQualifier::Neutral));
    assert_eq!(finding(&r, "spf_neutral_all").severity, EmailSeverity::Low);
    assert!(!r.has_mx && r.mx.is_empty());
    assert!(finding(&r, "no_mx").message.contains("no MX record"));
    assert!(!r.has_dmarc);
    assert!(finding(&r, "no_dmarc").message.contains("_dmarc.neutral.mail.test"));

    // No DMARC record: no DMARC values either, rather than those of a record that does not exist.
    let v = serde_json::to_value(&r).expect("json");
    assert_eq!(
        v["dmarc"],
        json!({"inherited": false, "recordCount": 0, "rua": [], "ruf": [], "tags": {}, "errors": []}),
        "{v}"
    );
    assert_eq!((r.dmarc.pct, r.dmarc.adkim.as_deref(), r.dmarc.fo.as_deref()), (None, None, None));

    let r = check(srv.config(), "noall.mail.test").await.expect("email run");
    assert_eq!(r.spf.all_qualifier, None);
    assert!(codes(&r).contains(&"spf_no_all"), "{:?}", r.findings);

    let r = check(srv.config(), "ns.mail.test").await.expect("email run");
    assert!(!r.has_spf && r.spf.record.is_none());
    assert!(codes(&r).contains(&"no_spf"), "{:?}", r.findings);
}

#[tokio::test]
async fn email_counts_lookups_through_nested_includes() {
    let srv = server().await;
    let r = check(srv.config(), "many.mail.test").await.expect("email run");
    // many: 2 include + a + mx; l1: include + a + mx; l2: a + mx + exists; l3: a + mx + include; l4: a + mx.
    assert_eq!(r.spf.lookup_count, 15);
    assert_eq!(r.spf.lookup_limit, 10);
    assert!(r.spf.permerror);
    let followed: Vec<(&str, u32, u32)> =
        r.spf.includes.iter().map(|i| (i.domain.as_str(), i.depth, i.lookup_count)).collect();
    assert_eq!(
        followed,
        [("l1.mail.test", 1, 3), ("l2.mail.test", 1, 3), ("l3.mail.test", 2, 3), ("l4.mail.test", 3, 2)]
    );
    let f = finding(&r, "spf_too_many_lookups");
    assert_eq!(f.severity, EmailSeverity::High);
    assert!(f.message.contains("15 DNS lookups") && f.message.contains("permerror"), "{}", f.message);
}

#[tokio::test]
async fn email_flags_multiple_spf_records_ptr_and_syntax_errors() {
    let srv = server().await;
    let r = check(srv.config(), "twospf.mail.test").await.expect("email run");
    assert_eq!(r.spf.record_count, 2);
    assert!(r.spf.permerror);
    let message = &finding(&r, "spf_multiple_records").message;
    assert!(message.contains("2 SPF records (`v=spf1 -all`, `v=spf1 mx -all`)"), "{message}");
    assert!(message.contains("permerror"), "{message}");
    // Each record is parsed and reported; the first (alphabetically) is the one described above.
    let published: Vec<(&str, Vec<&str>, Option<SpfQualifier>, u32)> = r
        .spf
        .records
        .iter()
        .map(|p| {
            (p.record.as_str(), p.mechanisms.iter().map(|m| m.name.as_str()).collect(), p.all_qualifier, p.lookup_count)
        })
        .collect();
    assert_eq!(
        published,
        [
            ("v=spf1 -all", vec!["all"], Some(SpfQualifier::Fail), 0),
            ("v=spf1 mx -all", vec!["mx", "all"], Some(SpfQualifier::Fail), 1)
        ]
    );
    assert_eq!(r.spf.record.as_deref(), Some("v=spf1 -all"));
    let v = serde_json::to_value(&r).expect("json");
    assert_eq!(v["spf"]["records"][1]["mechanisms"][0]["name"], "mx");

    let r = check(srv.config(), "ptr.mail.test").await.expect("email run");
    assert_eq!(finding(&r, "spf_ptr").severity, EmailSeverity::Low);
    assert_eq!(r.spf.lookup_count, 1);

    let r = check(srv.config(), "syntax.mail.test").await.expect("email run");
    let f = finding(&r, "spf_syntax_error");
    assert!(f.message.contains("`ip4:300.1.1.1`") && f.message.contains("not an IPv4 address"), "{}", f.message);
    assert!(r.spf.permerror);
    assert_eq!(r.spf.errors.len(), 1);
    assert_eq!(r.spf.records.len(), 1);
    assert_eq!(r.spf.records[0].errors, r.spf.errors);
}

#[tokio::test]
async fn email_follows_redirects_and_reports_broken_includes() {
    let srv = server().await;
    let r = check(srv.config(), "redir.mail.test").await.expect("email run");
    assert_eq!(r.spf.redirect.as_deref(), Some("_spf.mail.test"));
    assert_eq!(r.spf.all_qualifier, Some(SpfQualifier::Softfail), "the all of the redirect target applies");
    assert_eq!(r.spf.lookup_count, 1);
    assert_eq!(r.spf.includes[0].via, "redirect");
    assert!(!codes(&r).iter().any(|c| c.starts_with("spf_")), "{:?}", r.findings);

    let r = check(srv.config(), "badinc.mail.test").await.expect("email run");
    let f = finding(&r, "spf_include_missing");
    assert!(f.message.contains("nothing.mail.test") && f.message.contains("no SPF record"), "{}", f.message);
    assert!(r.spf.permerror);

    let r = check(srv.config(), "loop1.mail.test").await.expect("email run");
    assert!(finding(&r, "spf_include_loop").message.contains("loop1.mail.test"));
    assert!(r.spf.permerror);
    assert_eq!(r.spf.includes.len(), 1, "the loop is not followed");
}

#[tokio::test]
async fn email_reports_a_null_mx_and_invalid_dmarc_tags() {
    let srv = server().await;
    let r = check(srv.config(), "nullmx.mail.test").await.expect("email run");
    assert!(r.null_mx && !r.has_mx);
    assert_eq!(r.mx[0].exchange, ".");
    assert_eq!(finding(&r, "null_mx").severity, EmailSeverity::Info);
    assert!(!codes(&r).contains(&"no_mx"));

    let invalid: Vec<&str> =
        r.findings.iter().filter(|f| f.code == "dmarc_invalid_tag").map(|f| f.message.as_str()).collect();
    assert_eq!(invalid.len(), 2, "{invalid:?}");
    assert!(invalid.iter().any(|m| m.contains("unknown tag `foo`")));
    assert!(invalid.iter().any(|m| m.contains("pct=`200`")));
    assert_eq!(r.finding_codes, ["dmarc_invalid_tag", "null_mx"], "codes are listed once");
    assert_eq!(r.dmarc.policy, Some(DmarcPolicy::Reject), "a bad tag does not void the policy");
}

#[tokio::test]
async fn email_inherits_the_parent_domains_dmarc_record() {
    let srv = server().await;
    let r = check(srv.config(), "sub.good.mail.test").await.expect("email run");
    assert!(r.has_dmarc && r.dmarc.inherited);
    assert_eq!(r.dmarc.domain.as_deref(), Some("good.mail.test"));
    assert_eq!(r.dmarc.effective_policy, Some(DmarcPolicy::Reject));
    assert!(!codes(&r).contains(&"no_dmarc"));
    assert!(codes(&r).contains(&"no_spf"));
}

#[tokio::test]
async fn email_reports_a_domain_that_does_not_exist() {
    let srv = server().await;
    let r = check(srv.config(), "ghost.mail.test").await.expect("NXDOMAIN is a result");
    assert!(r.nxdomain);
    assert_eq!(codes(&r), ["domain_not_found"]);
    assert_eq!(r.findings[0].severity, EmailSeverity::High);
}

#[tokio::test]
async fn email_fails_clearly_when_the_resolver_does_not_answer() {
    let silent = dnsserver::silent_resolver().await;
    let addr = silent.local_addr().expect("addr");
    let config = ToolsConfig { resolvers: vec![addr.to_string()], dns_timeout_ms: 150, ..loopback_config() };
    let err = check(config, "good.mail.test").await.expect_err("no DNS answer at all fails the run");
    let ToolError::Failed(message) = &err else { panic!("expected Failed, got {err:?}") };
    assert!(message.contains("did not answer") && message.contains(&addr.to_string()), "{message}");
}

// ----------------------------------------------------------------------------------------------------------------
// Have I Been Pwned through a loopback stand-in.

/// What the stand-in saw: (account, query string, hibp-api-key, user-agent).
type Seen = Arc<Mutex<Vec<(String, String, Option<String>, Option<String>)>>>;

async fn hibp_stub() -> (String, Seen) {
    let seen: Seen = Arc::default();
    let app =
        axum::Router::new().route("/api/v3/breachedaccount/{account}", get(breached_account)).with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/api/v3"), seen)
}

async fn breached_account(
    State(seen): State<Seen>,
    Path(account): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).map(String::from);
    seen.lock().expect("lock").push((
        account.clone(),
        query.unwrap_or_default(),
        header("hibp-api-key"),
        header("user-agent"),
    ));
    match account.split('@').next().unwrap_or("") {
        "pwned+tag" => axum::Json(json!([
            {"Name": "Adobe", "Title": "Adobe", "Domain": "adobe.com", "BreachDate": "2013-10-04",
             "AddedDate": "2013-12-04T00:00:00Z", "PwnCount": 152445165,
             "DataClasses": ["Email addresses", "Password hints", "Passwords", "Usernames"],
             "IsVerified": true, "IsSensitive": false, "IsRetired": false, "LogoPath": "x.png"},
            {"Name": "Fictional", "Title": "Fictional Forum", "Domain": "", "BreachDate": "2020-01-01",
             "PwnCount": 1200, "DataClasses": ["Email addresses"], "IsVerified": false, "IsSensitive": true}
        ]))
        .into_response(),
        "clean" => StatusCode::NOT_FOUND.into_response(),
        "badkey" => (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"statusCode": 401, "message": "Access denied due to invalid hibp-api-key."})),
        )
            .into_response(),
        "limited" => (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, "7")],
            axum::Json(json!({"statusCode": 429, "message": "Rate limit is exceeded. Try again in 7 seconds."})),
        )
            .into_response(),
        "garbled" => ([(header::CONTENT_TYPE, "application/json")], "[{\"Name\": ").into_response(),
        "shape" => axum::Json(json!({"breaches": "none"})).into_response(),
        "slow" => {
            tokio::time::sleep(Duration::from_secs(5)).await;
            StatusCode::NOT_FOUND.into_response()
        }
        _ => StatusCode::BAD_REQUEST.into_response(),
    }
}

fn hibp_config(dns: &dnsserver::TestDns, base_url: &str, key: &str) -> ToolsConfig {
    ToolsConfig {
        hibp: ProviderConfig { base_url: base_url.to_string(), api_key: key.to_string() },
        http_timeout_ms: 500,
        ..dns.config()
    }
}

#[tokio::test]
async fn email_lists_the_breaches_of_an_address() {
    let srv = server().await;
    let (base, seen) = hibp_stub().await;
    let r = check(hibp_config(&srv, &base, "test-key"), "pwned+tag@good.mail.test").await.expect("email run");

    assert_eq!(r.address.as_deref(), Some("pwned+tag@good.mail.test"));
    assert_eq!(r.hibp.status, HibpStatus::Ok);
    assert_eq!(r.hibp.breach_count, Some(2));
    let breaches = r.hibp.breaches.as_ref().expect("breaches");
    assert_eq!(breaches[0].name, "Adobe");
    assert_eq!(breaches[0].pwn_count, 152445165);
    assert_eq!(breaches[0].data_classes.len(), 4);
    assert!(breaches[0].is_verified && !breaches[0].is_sensitive);
    assert!(breaches[1].is_sensitive);
    // The DNS checks still ran for the address's domain.
    assert_eq!(r.dmarc.policy, Some(DmarcPolicy::Reject));

    // HIBP's own field names in the JSON.
    let v = serde_json::to_value(&r).expect("json");
    assert_eq!(v["hibp"]["status"], "ok");
    assert_eq!(v["hibp"]["breachCount"], 2);
    assert_eq!(v["hibp"]["breaches"][0]["PwnCount"], 152445165);
    assert_eq!(v["hibp"]["breaches"][0]["DataClasses"][1], "Password hints");
    assert_eq!(v["hibp"]["breaches"][1]["IsSensitive"], true);

    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 1);
    let (account, query, key, agent) = &seen[0];
    assert_eq!(account, "pwned+tag@good.mail.test", "the account is sent whole, percent-encoded");
    assert_eq!(query, "truncateResponse=false");
    assert_eq!(key.as_deref(), Some("test-key"));
    assert!(agent.as_deref().is_some_and(|a| a.starts_with("tlink/")), "{agent:?}");
}

#[tokio::test]
async fn email_reads_404_as_not_breached() {
    let srv = server().await;
    let (base, _seen) = hibp_stub().await;
    let r = check(hibp_config(&srv, &base, "k"), "clean@good.mail.test").await.expect("email run");
    let v = serde_json::to_value(&r.hibp).expect("json");
    assert_eq!(v, json!({"status": "ok", "breachCount": 0, "breaches": []}));
}

#[tokio::test]
async fn email_records_hibp_failures_in_its_section() {
    let srv = server().await;
    let (base, _seen) = hibp_stub().await;
    let section = |r: EmailResult| serde_json::to_value(&r.hibp).expect("json");
    let config = || hibp_config(&srv, &base, "k");

    let v = section(check(config(), "badkey@good.mail.test").await.expect("run"));
    assert_eq!((v["status"].clone(), v["httpStatus"].clone()), (json!("error"), json!(401)));
    assert!(v["error"].as_str().is_some_and(|e| e.contains("refused") && e.contains("invalid hibp-api-key")), "{v}");

    let v = section(check(config(), "limited@good.mail.test").await.expect("run"));
    assert_eq!(
        (v["status"].clone(), v["httpStatus"].clone(), v["retryAfter"].clone()),
        (json!("error"), json!(429), json!(7))
    );
    assert!(v["error"].as_str().is_some_and(|e| e.contains("rate limited")), "{v}");

    let v = section(check(config(), "garbled@good.mail.test").await.expect("run"));
    assert_eq!(v["status"], "error");
    assert!(v["error"].as_str().is_some_and(|e| e.contains("not valid JSON")), "{v}");

    let v = section(check(config(), "shape@good.mail.test").await.expect("run"));
    assert_eq!(v["status"], "error");
    assert!(v["error"].as_str().is_some_and(|e| e.contains("not a list of breaches")), "{v}");

    let r = check(config(), "slow@good.mail.test").await.expect("a slow provider does not fail the run");
    let v = section(r.clone());
    assert_eq!(v["status"], "error");
    assert!(v["error"].as_str().is_some_and(|e| e.contains("no answer within")), "{v}");
    assert!(r.has_spf, "the DNS checks are kept when HIBP fails");
}

#[tokio::test]
async fn email_without_an_hibp_key_sends_nothing() {
    let srv = server().await;
    let (base, seen) = hibp_stub().await;
    let r = check(hibp_config(&srv, &base, ""), "clean@good.mail.test").await.expect("email run");
    assert_eq!(serde_json::to_value(&r.hibp).expect("json"), json!({"status": "not_configured"}));
    assert!(seen.lock().expect("lock").is_empty());
    let _: Value = serde_json::to_value(&r).expect("json");
}
