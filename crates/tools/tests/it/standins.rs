//! HTTP stand-ins for AbuseIPDB, VirusTotal, AlienVault OTX and GreyNoise on 127.0.0.1 (random ports).
//!
//! Each answers with the provider's documented response shapes, and refuses what the real provider refuses:
//! a missing or wrong key header (401, or 403 for OTX, with the provider's error body), missing or wrong query
//! parameters (AbuseIPDB: 422), unknown objects (404). Every request is recorded, so a test can assert what was
//! sent, and that nothing was sent. Targets in the documentation ranges select the error cases:
//!
//! | target | every stand-in answers |
//! |---|---|
//! | [`IP_LISTED`], [`IPV6_LISTED`] | a full, "bad" answer |
//! | [`IP_CLEAN`] | a full, "good" answer (GreyNoise: RIOT, benign) |
//! | [`IP_UNKNOWN`] | VirusTotal 404; GreyNoise 404 with its "not observed" body |
//! | [`IP_RATE_LIMITED`] | 429 (`Retry-After: 30`, except VirusTotal, which sends none) |
//! | [`IP_BROKEN`] | 5xx |
//! | [`IP_SLOW`] | nothing for 10 s |
//! | [`IP_MALFORMED`] | 200 with truncated JSON |
//! | [`IP_WRONG_SHAPE`] | 200 with valid JSON of the wrong shape |
//! | [`IP_BARE_404`] | 404 with an HTML body (a proxy's, not the provider's) |

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Path, RawQuery, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use parking_lot::Mutex;
use serde_json::{Value, json};
use tlink_tools::ToolsConfig;

use crate::support::loopback_config;

pub const ABUSEIPDB_KEY: &str = "abuseipdb-test-key-0123456789";
pub const VIRUSTOTAL_KEY: &str = "virustotal-test-key-abcdef";
pub const OTX_KEY: &str = "otx-test-key-9876";
pub const GREYNOISE_KEY: &str = "greynoise-test-key-5555";

pub const IP_LISTED: &str = "198.51.100.23";
pub const IPV6_LISTED: &str = "2001:db8::bad";
pub const IP_CLEAN: &str = "192.0.2.10";
pub const IP_UNKNOWN: &str = "203.0.113.54";
pub const IP_RATE_LIMITED: &str = "203.0.113.29";
pub const IP_BROKEN: &str = "203.0.113.50";
pub const IP_SLOW: &str = "203.0.113.51";
pub const IP_MALFORMED: &str = "203.0.113.52";
pub const IP_WRONG_SHAPE: &str = "203.0.113.53";
pub const IP_BARE_404: &str = "203.0.113.55";

pub const DOMAIN: &str = "evil.example";
/// EICAR test file digests.
pub const MD5: &str = "44d88612fea8a8f36de82e1278abb02f";
pub const SHA256: &str = "275a021bbfb6489e54d471899f7db9d1663fc695ec2fe2a2c4538aabf651fd0f";
pub const URL: &str = "http://example.com/malware?x=1";
/// `URL` as VirusTotal identifies it: unpadded URL-safe base64 (computed independently of the code under test).
pub const URL_ID: &str = "aHR0cDovL2V4YW1wbGUuY29tL21hbHdhcmU_eD0x";
/// VirusTotal's `data.id` of a URL object (the SHA-256 of the canonical URL; any value works here).
pub const URL_OBJECT_ID: &str = "6f5902ac237024bdd0c176cb93063dc4b1f2d5e7b7ee4c3b3ae8d9d2c1d0b0a1";

/// A request a stand-in received.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The path as sent (percent-encoding kept).
    pub path: String,
    /// Query pairs, decoded (a bare flag such as `verbose` has an empty value).
    pub query: Vec<(String, String)>,
    pub headers: HeaderMap,
}

impl Seen {
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A running stand-in.
pub struct StandIn {
    pub base_url: String,
    seen: Arc<Mutex<Vec<Seen>>>,
}

impl StandIn {
    /// Every request received so far.
    pub fn requests(&self) -> Vec<Seen> {
        self.seen.lock().clone()
    }
}

/// The four stand-ins.
pub struct Providers {
    pub abuseipdb: StandIn,
    pub virustotal: StandIn,
    pub otx: StandIn,
    pub greynoise: StandIn,
}

impl Providers {
    pub async fn start() -> Providers {
        Providers {
            abuseipdb: serve(abuseipdb_router()).await,
            virustotal: serve(virustotal_router()).await,
            otx: serve(otx_router()).await,
            greynoise: serve(greynoise_router()).await,
        }
    }

    /// A configuration pointing every provider at its stand-in, with the right keys, no lists, and a
    /// generous HTTP timeout (tests of the timeout lower it).
    pub fn config(&self) -> ToolsConfig {
        let mut config = loopback_config();
        config.http_timeout_ms = 5_000;
        config.abuseipdb.base_url = self.abuseipdb.base_url.clone();
        config.abuseipdb.api_key = ABUSEIPDB_KEY.into();
        config.virustotal.base_url = self.virustotal.base_url.clone();
        config.virustotal.api_key = VIRUSTOTAL_KEY.into();
        config.otx.base_url = self.otx.base_url.clone();
        config.otx.api_key = OTX_KEY.into();
        config.greynoise.base_url = self.greynoise.base_url.clone();
        config.greynoise.api_key = GREYNOISE_KEY.into();
        config
    }
}

async fn serve(router: Router) -> StandIn {
    let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
    let router = router.layer(middleware::from_fn_with_state(Arc::clone(&seen), record));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        let _ = axum::serve(listener, router).await;
    });
    StandIn { base_url: format!("http://{addr}/api"), seen }
}

async fn record(State(seen): State<Arc<Mutex<Vec<Seen>>>>, request: Request, next: Next) -> Response {
    let query = request
        .uri()
        .query()
        .map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    seen.lock().push(Seen { path: request.uri().path().to_string(), query, headers: request.headers().clone() });
    next.run(request).await
}

fn json_response(status: StatusCode, body: Value) -> Response {
    (status, [(header::CONTENT_TYPE, "application/json")], body.to_string()).into_response()
}

fn raw_response(status: StatusCode, content_type: &'static str, body: &'static str) -> Response {
    (status, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

fn with_retry_after(mut response: Response) -> Response {
    response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("30"));
    response
}

fn key_ok(headers: &HeaderMap, name: &str, want: &str) -> bool {
    headers.get(name).and_then(|v| v.to_str().ok()) == Some(want)
}

fn pairs(query: Option<String>) -> HashMap<String, String> {
    query.map(|q| url::form_urlencoded::parse(q.as_bytes()).into_owned().collect()).unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------------------------
// AbuseIPDB v2: GET /check?ipAddress=…&maxAgeInDays=90&verbose, headers `Key` and `Accept: application/json`.

fn abuseipdb_router() -> Router {
    Router::new().route("/api/check", get(abuseipdb_check))
}

fn abuseipdb_error(status: StatusCode, detail: &str) -> Response {
    json_response(status, json!({ "errors": [{ "detail": detail, "status": status.as_u16() }] }))
}

async fn abuseipdb_check(headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    if !key_ok(&headers, "key", ABUSEIPDB_KEY) {
        return abuseipdb_error(
            StatusCode::UNAUTHORIZED,
            "Authentication failed. Your API key is either missing, incorrect, or revoked. Note: The APIv2 key \
             differs from the APIv1 key.",
        );
    }
    if !key_ok(&headers, "accept", "application/json") {
        return abuseipdb_error(StatusCode::NOT_ACCEPTABLE, "The Accept header must be application/json.");
    }
    let q = pairs(query);
    if q.get("maxAgeInDays").map(String::as_str) != Some("90") {
        return json_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"errors": [{"detail": "The max age in days must be 90 for this test.", "status": 422,
                               "source": {"parameter": "maxAgeInDays"}}]}),
        );
    }
    if !q.contains_key("verbose") {
        return abuseipdb_error(StatusCode::UNPROCESSABLE_ENTITY, "This test expects the verbose flag.");
    }
    let Some(ip) = q.get("ipAddress").and_then(|ip| ip.parse::<std::net::IpAddr>().ok()) else {
        return json_response(
            StatusCode::UNPROCESSABLE_ENTITY,
            json!({"errors": [{"detail": "The ip address must be a valid IPv4 or IPv6 address (e.g. 8.8.8.8 or \
                               2001:4860:4860::8888).", "status": 422, "source": {"parameter": "ipAddress"}}]}),
        );
    };
    let ip_text = ip.to_string();
    match ip_text.as_str() {
        IP_RATE_LIMITED => {
            let mut r = abuseipdb_error(
                StatusCode::TOO_MANY_REQUESTS,
                "Daily rate limit of 1000 requests exceeded for this endpoint. See headers for additional details.",
            );
            r.headers_mut().insert("x-ratelimit-limit", HeaderValue::from_static("1000"));
            r.headers_mut().insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
            with_retry_after(r)
        }
        IP_BROKEN => raw_response(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/html",
            "<!DOCTYPE html><html><head><title>Server Error</title></head><body>500</body></html>",
        ),
        IP_SLOW => {
            tokio::time::sleep(Duration::from_secs(10)).await;
            json_response(StatusCode::OK, json!({ "data": {} }))
        }
        IP_MALFORMED => raw_response(StatusCode::OK, "application/json", r#"{"data":{"ipAddress":"203.0.113.52","#),
        IP_WRONG_SHAPE => json_response(StatusCode::OK, json!({ "data": "unavailable" })),
        IP_CLEAN => json_response(
            StatusCode::OK,
            json!({"data": {
                "ipAddress": IP_CLEAN, "isPublic": true, "ipVersion": 4, "isWhitelisted": null,
                "abuseConfidenceScore": 0, "countryCode": "US", "countryName": "United States of America",
                "usageType": null, "isp": "Example Networks", "domain": null, "hostnames": [],
                "isTor": false, "totalReports": 0, "numDistinctUsers": 0, "lastReportedAt": null, "reports": []
            }}),
        ),
        _ => {
            let reports: Vec<Value> = (0..12)
                .map(|i| {
                    let comment = if i == 0 {
                        "x".repeat(600)
                    } else {
                        format!("Nov 20 08:{i:02}:02 srv{i} sshd[1337]: Invalid user admin from {ip_text} port 4{i}022")
                    };
                    json!({
                        "reportedAt": format!("2026-11-20T08:{:02}:02+00:00", 59 - i),
                        "comment": comment,
                        "categories": [18, 22],
                        "reporterId": 1000 + i,
                        "reporterCountryCode": "DE",
                        "reporterCountryName": "Germany"
                    })
                })
                .collect();
            json_response(
                StatusCode::OK,
                json!({"data": {
                    "ipAddress": ip_text, "isPublic": true, "ipVersion": if ip.is_ipv4() { 4 } else { 6 },
                    "isWhitelisted": false, "abuseConfidenceScore": 100, "countryCode": "NL",
                    "countryName": "Netherlands", "usageType": "Data Center/Web Hosting/Transit",
                    "isp": "Example Hosting B.V.", "domain": "hosting.example",
                    "hostnames": ["scanner-23.hosting.example"], "isTor": true, "totalReports": 1234,
                    "numDistinctUsers": 321, "lastReportedAt": "2026-11-20T08:59:02+00:00", "reports": reports
                }}),
            )
        }
    }
}

// ---------------------------------------------------------------------------------------------------------------
// VirusTotal v3: /ip_addresses/{ip}, /domains/{domain}, /files/{hash}, /urls/{id}; header `x-apikey`.

fn virustotal_router() -> Router {
    Router::new()
        .route("/api/ip_addresses/{ip}", get(vt_ip))
        .route("/api/domains/{domain}", get(vt_domain))
        .route("/api/files/{hash}", get(vt_file))
        .route("/api/urls/{id}", get(vt_url))
}

fn vt_error(status: StatusCode, code: &str, message: &str) -> Response {
    json_response(status, json!({ "error": { "code": code, "message": message } }))
}

fn vt_refused(headers: &HeaderMap) -> Option<Response> {
    (!key_ok(headers, "x-apikey", VIRUSTOTAL_KEY))
        .then(|| vt_error(StatusCode::UNAUTHORIZED, "WrongCredentialsError", "Wrong API key"))
}

fn vt_object(id: &str, kind: &str, collection: &str, attributes: Value) -> Response {
    json_response(
        StatusCode::OK,
        json!({"data": {
            "id": id, "type": kind,
            "links": { "self": format!("https://www.virustotal.com/api/v3/{collection}/{id}") },
            "attributes": attributes
        }}),
    )
}

fn vt_engines() -> Value {
    json!({
        "Acronis": { "category": "harmless", "engine_name": "Acronis", "method": "blacklist", "result": "clean" },
        "BitDefender": { "category": "malicious", "engine_name": "BitDefender", "method": "blacklist",
                         "result": "malware" }
    })
}

async fn vt_ip(headers: HeaderMap, Path(ip): Path<String>) -> Response {
    if let Some(r) = vt_refused(&headers) {
        return r;
    }
    match ip.as_str() {
        IP_UNKNOWN => vt_error(StatusCode::NOT_FOUND, "NotFoundError", &format!("IP address \"{ip}\" not found")),
        IP_RATE_LIMITED => vt_error(StatusCode::TOO_MANY_REQUESTS, "QuotaExceededError", "Quota exceeded"),
        IP_BROKEN => vt_error(StatusCode::SERVICE_UNAVAILABLE, "TransientError", "Please retry later"),
        IP_SLOW => {
            tokio::time::sleep(Duration::from_secs(10)).await;
            vt_error(StatusCode::NOT_FOUND, "NotFoundError", "late")
        }
        IP_MALFORMED => raw_response(StatusCode::OK, "application/json", r#"{"data": {"id": "203.0.113.52", "attr"#),
        IP_WRONG_SHAPE => json_response(StatusCode::OK, json!({ "data": { "id": ip, "attributes": "none" } })),
        _ => vt_object(
            &ip,
            "ip_address",
            "ip_addresses",
            json!({
                "as_owner": "EXAMPLE-HOSTING-AS", "asn": 64500, "continent": "EU", "country": "NL",
                "network": "198.51.100.0/24", "regional_internet_registry": "RIPE NCC",
                "jarm": "29d29d00029d29d00041d41d0000005a0e2a7c8a5d5b9b1a2d8f3e0d6c1e7a9f",
                "last_analysis_date": 1_763_600_000, "last_modification_date": 1_763_600_100,
                "last_analysis_results": vt_engines(),
                "last_analysis_stats": { "harmless": 61, "malicious": 7, "suspicious": 1, "undetected": 25,
                                          "timeout": 0 },
                "reputation": -42, "tags": ["scanner"], "total_votes": { "harmless": 0, "malicious": 9 },
                "whois": "NetRange: 198.51.100.0 - 198.51.100.255\nOrgName: Example Hosting\n"
            }),
        ),
    }
}

async fn vt_domain(headers: HeaderMap, Path(domain): Path<String>) -> Response {
    if let Some(r) = vt_refused(&headers) {
        return r;
    }
    if domain != DOMAIN {
        return vt_error(StatusCode::NOT_FOUND, "NotFoundError", &format!("Domain \"{domain}\" not found"));
    }
    vt_object(
        &domain,
        "domain",
        "domains",
        json!({
            "registrar": "Example Registrar, Inc.", "creation_date": 1_700_000_000, "tld": "example",
            "categories": { "Forcepoint ThreatSeeker": "malicious web sites", "Sophos": "phishing" },
            "last_analysis_date": 1_763_500_000, "last_analysis_results": vt_engines(),
            "last_analysis_stats": { "harmless": 55, "malicious": 12, "suspicious": 2, "undetected": 25,
                                      "timeout": 0 },
            "last_dns_records": [{ "type": "A", "ttl": 300, "value": "198.51.100.23" }],
            "reputation": -77, "tags": ["phishing", "dga"], "total_votes": { "harmless": 1, "malicious": 20 },
            "whois": "Domain Name: evil.example\nRegistrar: Example Registrar, Inc.\n"
        }),
    )
}

async fn vt_file(headers: HeaderMap, Path(hash): Path<String>) -> Response {
    if let Some(r) = vt_refused(&headers) {
        return r;
    }
    if hash != MD5 && hash != SHA256 {
        return vt_error(StatusCode::NOT_FOUND, "NotFoundError", &format!("File \"{hash}\" not found"));
    }
    vt_object(
        SHA256,
        "file",
        "files",
        json!({
            "md5": MD5, "sha1": "3395856ce81f2b7382dee72602f798b642f14140", "sha256": SHA256,
            "meaningful_name": "eicar.com", "names": ["eicar.com", "eicar.txt"], "size": 68,
            "type_description": "Text", "type_tag": "text", "magic": "ASCII text, with no line terminators",
            "first_submission_date": 1_148_301_722, "last_analysis_date": 1_763_400_000,
            "last_analysis_results": vt_engines(),
            "last_analysis_stats": { "harmless": 0, "malicious": 64, "suspicious": 0, "undetected": 5,
                                      "timeout": 1, "type-unsupported": 6, "failure": 0 },
            "reputation": 3213, "tags": ["text", "attachment"], "total_votes": { "harmless": 700, "malicious": 80 },
            "times_submitted": 1_000_000
        }),
    )
}

async fn vt_url(headers: HeaderMap, Path(id): Path<String>) -> Response {
    if let Some(r) = vt_refused(&headers) {
        return r;
    }
    if id != URL_ID {
        return vt_error(StatusCode::NOT_FOUND, "NotFoundError", &format!("URL \"{id}\" not found"));
    }
    vt_object(
        URL_OBJECT_ID,
        "url",
        "urls",
        json!({
            "url": URL, "last_final_url": "http://example.com/landing", "title": "Account verification",
            "last_http_response_code": 200, "categories": { "BitDefender": "phishing" },
            "last_analysis_date": 1_763_300_000, "last_analysis_results": vt_engines(),
            "last_analysis_stats": { "harmless": 60, "malicious": 5, "suspicious": 0, "undetected": 20,
                                      "timeout": 0 },
            "reputation": -10, "tags": [], "total_votes": { "harmless": 0, "malicious": 2 },
            "times_submitted": 3
        }),
    )
}

// ---------------------------------------------------------------------------------------------------------------
// AlienVault OTX: /indicators/{IPv4|IPv6|domain|hostname|url|file}/{value}/general; header `X-OTX-API-KEY`.

fn otx_router() -> Router {
    Router::new().route("/api/indicators/{kind}/{value}/general", get(otx_general))
}

fn otx_pulse(id: &str, name: &str, tags: &[&str], family: Option<&str>) -> Value {
    json!({
        "id": id, "name": name, "description": format!("{name}: indicators observed in the wild."),
        "modified": "2026-11-01T10:00:00.000000", "created": "2026-10-01T09:30:00.000000",
        "tags": tags, "references": ["https://reports.example/analysis"], "public": 1, "adversary": "",
        "targeted_countries": [], "malware_families":
            family.map(|f| vec![json!({ "id": f, "display_name": f, "target": null })]).unwrap_or_default(),
        "attack_ids": [{ "id": "T1110", "name": "Brute Force", "display_name": "T1110 - Brute Force" }],
        "industries": [], "TLP": "white", "cloned_from": null, "export_count": 12, "upvotes_count": 0,
        "downvotes_count": 0, "votes_count": 0, "locked": false, "pulse_source": "web", "validator_count": 0,
        "comment_count": 0, "follower_count": 0, "vote": 0,
        "author": { "username": "analyst", "id": "1234", "avatar_url": "", "is_subscribed": false,
                    "is_following": false },
        "indicator_type_counts": { "IPv4": 120, "domain": 8 }, "indicator_count": 128, "is_author": false,
        "is_subscribing": null, "subscriber_count": 50, "modified_text": "20 days ago", "is_modified": true,
        "groups": [], "in_group": false, "threat_hunter_scannable": true, "threat_hunter_has_agents": 1,
        "related_indicator_type": "IPv4", "related_indicator_is_active": 1
    })
}

fn otx_general_body(kind: &str, value: &str, pulses: Vec<Value>, count: u64, validation: Value) -> Value {
    json!({
        "whois": format!("http://whois.domaintools.com/{value}"), "reputation": 0, "indicator": value,
        "type": kind, "type_title": kind,
        "base_indicator": { "id": 2_468_013_579u64, "indicator": value, "type": kind, "title": "",
                            "description": "", "content": "", "access_type": "public", "access_reason": "" },
        "pulse_info": { "count": count, "pulses": pulses, "references": ["https://reports.example/analysis"],
                        "related": { "alienvault": { "adversary": [], "malware_families": [], "industries": [] },
                                     "other": { "adversary": [], "malware_families": ["Mirai"],
                                                "industries": [] } } },
        "false_positive": [], "validation": validation, "asn": "AS64500 example hosting b.v.",
        "city_data": true, "city": null, "region": null, "continent_code": "EU", "country_code3": "NLD",
        "country_code2": "NL", "subdivision": null, "latitude": 52.3824, "postal_code": null,
        "longitude": 4.8995, "accuracy_radius": 100, "country_code": "NL", "country_name": "Netherlands",
        "dma_code": 0, "charset": 0, "area_code": 0, "flag_url": "/assets/images/flags/nl.png",
        "flag_title": "Netherlands",
        "sections": ["general", "geo", "reputation", "url_list", "passive_dns", "malware", "nids_list", "http_scans"]
    })
}

async fn otx_general(headers: HeaderMap, Path((kind, value)): Path<(String, String)>) -> Response {
    if !key_ok(&headers, "x-otx-api-key", OTX_KEY) {
        return json_response(
            StatusCode::FORBIDDEN,
            json!({ "detail": "Authentication credentials were not provided." }),
        );
    }
    let kind_fits = match kind.as_str() {
        "IPv4" => value.parse::<std::net::Ipv4Addr>().is_ok(),
        "IPv6" => value.parse::<std::net::Ipv6Addr>().is_ok(),
        "domain" | "hostname" => value.contains('.') && !value.contains('/'),
        "url" => value.starts_with("http://") || value.starts_with("https://"),
        "file" => value.len() == 32 || value.len() == 40 || value.len() == 64,
        _ => false,
    };
    if !kind_fits {
        return json_response(StatusCode::BAD_REQUEST, json!({ "detail": format!("Invalid {kind} indicator") }));
    }
    match value.as_str() {
        IP_RATE_LIMITED => with_retry_after(json_response(
            StatusCode::TOO_MANY_REQUESTS,
            json!({ "detail": "Request was throttled. Expected available in 30 seconds." }),
        )),
        IP_BROKEN => raw_response(StatusCode::BAD_GATEWAY, "text/plain", "upstream connect error or disconnect\n"),
        IP_SLOW => {
            tokio::time::sleep(Duration::from_secs(10)).await;
            json_response(StatusCode::OK, json!({}))
        }
        IP_MALFORMED => raw_response(StatusCode::OK, "application/json", r#"{"pulse_info": {"count": 1, "pulses": ["#),
        IP_WRONG_SHAPE => json_response(StatusCode::OK, json!({ "indicator": value, "pulse_info": "none" })),
        IP_UNKNOWN | IP_CLEAN => {
            json_response(StatusCode::OK, otx_general_body(&kind, &value, Vec::new(), 0, json!([])))
        }
        IP_BARE_404 => raw_response(StatusCode::NOT_FOUND, "text/html", "<html><body>Not Found</body></html>"),
        DOMAIN => json_response(
            StatusCode::OK,
            otx_general_body(
                &kind,
                &value,
                vec![
                    otx_pulse(
                        "6541a0c1f3e2d4b5a6978812",
                        "Phishing kit hosting",
                        &["phishing", "Credential Theft"],
                        None,
                    ),
                    otx_pulse(
                        "6541a0c1f3e2d4b5a6978813",
                        "DGA domains",
                        &["dga", "PHISHING", "botnet"],
                        Some("Necurs"),
                    ),
                ],
                2,
                json!([{ "source": "false_positive", "message": "Known false positive", "name": "False Positive" }]),
            ),
        ),
        _ => json_response(
            StatusCode::OK,
            otx_general_body(
                &kind,
                &value,
                vec![
                    otx_pulse("6541a0c1f3e2d4b5a6978801", "SSH brute force campaign", &["ssh", "bruteforce"], None),
                    otx_pulse("6541a0c1f3e2d4b5a6978802", "Mirai scanners", &["Mirai", "SSH", "iot"], Some("Mirai")),
                    otx_pulse("6541a0c1f3e2d4b5a6978803", "Honeypot observations", &[], None),
                ],
                57,
                json!([]),
            ),
        ),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// GreyNoise Community v3: /community/{ip}; header `key`.

fn greynoise_router() -> Router {
    Router::new().route("/api/community/{ip}", get(greynoise_community))
}

async fn greynoise_community(headers: HeaderMap, Path(ip): Path<String>) -> Response {
    if !key_ok(&headers, "key", GREYNOISE_KEY) {
        return json_response(StatusCode::UNAUTHORIZED, json!({ "message": "Authentication failed: invalid API key" }));
    }
    if ip.parse::<std::net::IpAddr>().is_err() {
        return json_response(
            StatusCode::BAD_REQUEST,
            json!({ "message": "Request is not a valid routable IPv4 address" }),
        );
    }
    match ip.as_str() {
        IP_UNKNOWN => json_response(
            StatusCode::NOT_FOUND,
            json!({ "ip": ip, "noise": false, "riot": false,
                    "message": "IP not observed scanning the internet or contained in RIOT data set." }),
        ),
        IP_BARE_404 => raw_response(StatusCode::NOT_FOUND, "text/html", "<html><body>404 Not Found</body></html>"),
        IP_RATE_LIMITED => with_retry_after(json_response(
            StatusCode::TOO_MANY_REQUESTS,
            json!({ "plan": "community", "rate-limit": "50-searches/week", "plan_url": "https://greynoise.io/pricing",
                    "message": "You have hit your weekly rate limit of 50 searches." }),
        )),
        IP_BROKEN => json_response(StatusCode::INTERNAL_SERVER_ERROR, json!({ "message": "Internal error" })),
        IP_SLOW => {
            tokio::time::sleep(Duration::from_secs(10)).await;
            json_response(StatusCode::OK, json!({}))
        }
        IP_MALFORMED => raw_response(StatusCode::OK, "application/json", r#"{"ip": "203.0.113.52", "noise": tr"#),
        IP_WRONG_SHAPE => json_response(StatusCode::OK, json!({ "ip": ip, "noise": "yes", "riot": 0 })),
        IP_CLEAN => json_response(
            StatusCode::OK,
            json!({ "ip": ip, "noise": false, "riot": true, "classification": "benign", "name": "Example CDN",
                    "link": format!("https://viz.greynoise.io/riot/{ip}"), "last_seen": "2026-11-21",
                    "message": "Success" }),
        ),
        _ => json_response(
            StatusCode::OK,
            json!({ "ip": ip, "noise": true, "riot": false, "classification": "malicious", "name": "unknown",
                    "link": format!("https://viz.greynoise.io/ip/{ip}"), "last_seen": "2026-11-21",
                    "message": "Success" }),
        ),
    }
}
