//! The OpenAPI document against the handlers behind it: every operation takes exactly the query parameters
//! it documents (each documented one is accepted with a valid value; any other is a 400 naming it; a
//! handler reading one its operation does not document stops debug builds, so these requests fail with a
//! 500), and the rate limits are described on every operation of both families.

use axum::http::{Method, StatusCode};
use serde_json::{Value, json};

use crate::hawk::{Signed, send};
use crate::support::{Auth, Reply, TestApp, TestUser, random_id, s};

/// Who calls: the owner, with Hawk on the Threat Stack family and a bearer token elsewhere; real ids where a
/// handler looks its path's resource up before reading its query.
struct World {
    owner: TestUser,
    org: String,
    key: String,
    agent_token: String,
    agent_id: String,
}

impl World {
    async fn new(app: &TestApp) -> World {
        let owner = app.user("owner@example.com", Some("Acme")).await;
        let org = owner.org().to_string();
        let key = app.api_key(&owner.auth(), "hawk").await;
        let r = app.post(&format!("/api/orgs/{org}/agent-enrollments"), &owner.auth(), json!({"name": "hosts"})).await;
        let agent_token = s(r.ok(StatusCode::CREATED), "token").to_string();
        let host = json!({"instanceId": "i-1", "hostname": "db-1", "inventoryDigest": "d"});
        let r = crate::agents::report(app, &agent_token, host).await;
        let agent_id = s(r.ok(StatusCode::OK), "agentId").to_string();
        World { owner, org, key, agent_token, agent_id }
    }

    fn path(&self, template: &str) -> String {
        let mut out = template
            .replace("{orgId}", &self.org)
            .replace("{agentId}", &self.agent_id)
            .replace("{server}", &self.agent_id)
            .replace("{cve}", "CVE-2024-0001")
            .replace("{pkg}", "openssl");
        if template.starts_with("/v2/agents/") {
            out = out.replace("{id}", &self.agent_id);
        }
        while let Some(start) = out.find('{') {
            let end = out[start..].find('}').expect("closing brace") + start;
            out.replace_range(start..=end, &random_id());
        }
        out
    }

    async fn send(&self, app: &TestApp, method: &Method, uri: &str) -> Reply {
        let body = (*method != Method::GET && *method != Method::DELETE).then(|| b"{}".to_vec());
        if uri.starts_with("/v2") || uri.starts_with("/help") {
            let mut signed = Signed::new(method.clone(), uri, Some(&self.org));
            if let Some(b) = &body {
                signed = signed.with_body("application/json", b);
            }
            let header = signed.header(&self.owner.id, &self.key);
            return send(app, method.clone(), uri, &header, body.map(|b| ("application/json", b))).await;
        }
        let auth = if uri.starts_with("/api/agent/report") {
            Auth::Header("x-agent-token", self.agent_token.clone())
        } else {
            self.owner.auth()
        };
        match body {
            Some(b) => app.raw(method.clone(), uri, &auth, Some("application/json"), b).await,
            None => app.req(method.clone(), uri, &auth, None).await,
        }
    }
}

/// A valid value for a query parameter of the operation at `template`.
fn valid_value(template: &str, name: &str, agent_id: &str) -> String {
    let v2 = template.starts_with("/v2");
    match name {
        "limit" => "5".into(),
        "from" => "2026-01".into(),
        "until" => "2026-01-31T10:00:00.123456".into(),
        "status" if template.ends_with("/alerts") && !v2 => "OPEN".into(),
        "status" if template.contains("/tools/reports") => "COMPLETED".into(),
        "status" if template.ends_with("/agents") => "online".into(),
        "status" => "active".into(),
        "severity" if v2 => "1".into(),
        "severity" => "HIGH".into(),
        "type" => "DOMAIN".into(),
        "isMonitored" | "hasSecurityNotices" => "true".into(),
        "q" => "example".into(),
        "toolKey" | "tool" => "dns".into(),
        "wait" => "0".into(),
        "agentId" => agent_id.into(),
        "assetId" | "ruleId" => random_id(),
        "action" => "rule.created".into(),
        "targetType" => "rule".into(),
        "userId" => random_id(),
        other => panic!("no valid value known for the query parameter `{other}` of {template}: add one here"),
    }
}

/// The field a 400 names, in either family's shape.
fn refused_field(r: &Reply, uri: &str) -> Option<String> {
    if uri.starts_with("/v2") || uri.starts_with("/help") {
        assert!(r.body.get("success").is_none(), "the Threat Stack shape on {uri}: {}", r.text);
        Some(r.body["errors"][0].as_str()?.split_once(": ")?.0.to_string())
    } else {
        r.first_field().map(str::to_string)
    }
}

fn operations(doc: &Value) -> Vec<(Method, String, Vec<String>)> {
    let mut out = Vec::new();
    for (template, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let Ok(method) = method.to_ascii_uppercase().parse::<Method>() else { continue };
            let params = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "query")
                .map(|p| p["name"].as_str().expect("parameter name").to_string())
                .collect();
            out.push((method, template.clone(), params));
        }
    }
    out
}

both!(every_operation_takes_exactly_its_documented_query_parameters, documented_parameters_case);
async fn documented_parameters_case(app: TestApp) {
    let doc = app.get("/api/openapi.json", &Auth::None).await.body;
    let world = World::new(&app).await;
    let mut failures = Vec::new();
    let mut checked = 0;
    for (method, template, params) in operations(&doc) {
        let path = world.path(&template);

        // Each documented parameter, alone, with a valid value: accepted (a 400 about it would mean the
        // handler refuses what its document offers).
        for name in &params {
            let value = match name.as_str() {
                "token" => "x".to_string(),
                _ => {
                    form_urlencoded::byte_serialize(valid_value(&template, name, &world.agent_id).as_bytes()).collect()
                }
            };
            let uri = format!("{path}?{name}={value}");
            let r = world.send(&app, &method, &uri).await;
            checked += 1;
            let refused = r.status == StatusCode::BAD_REQUEST && refused_field(&r, &uri).as_deref() == Some(name);
            let unknown = r.text.contains("unknown parameter");
            // A made-up token is refused for what it is, never as an unknown parameter.
            if r.status.is_server_error() || unknown || (refused && name != "token") {
                failures.push(format!("{method} {template} `{name}`: {} {}", r.status, r.text));
            }
        }

        // All of them together (but the token).
        let all: Vec<String> = params
            .iter()
            .filter(|n| *n != "token")
            .map(|n| {
                let v = valid_value(&template, n, &world.agent_id);
                format!("{n}={}", form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>())
            })
            .collect();
        if !all.is_empty() {
            let uri = format!("{path}?{}", all.join("&"));
            let r = world.send(&app, &method, &uri).await;
            checked += 1;
            if r.status.is_server_error() || r.text.contains("unknown parameter") {
                failures.push(format!("{method} {template} all documented: {} {}", r.status, r.text));
            }
        }

        // One it does not document: a 400 naming it, in the family's shape, whatever else is wrong.
        let uri = format!("{path}?notDocumented=1");
        let r = world.send(&app, &method, &uri).await;
        checked += 1;
        if r.status != StatusCode::BAD_REQUEST
            || refused_field(&r, &uri).as_deref() != Some("notDocumented")
            || !r.text.contains("unknown parameter")
        {
            failures.push(format!("{method} {template} undocumented parameter: {} {}", r.status, r.text));
        }
    }
    assert!(failures.is_empty(), "{} of {checked} requests:\n{}", failures.len(), failures.join("\n"));
    assert!(checked > 150, "only {checked} requests made from the document");
}

/// The Threat Stack operations document what Threat Stack's clients send.
#[tokio::test]
async fn threat_stack_operations_document_their_filters() {
    let doc = serde_json::to_value(tlink_server::http::api::openapi()).expect("the document");
    let ops = operations(&doc);
    let params = |m: Method, p: &str| -> Vec<String> {
        let mut v = ops.iter().find(|(om, op, _)| *om == m && op == p).unwrap_or_else(|| panic!("{m} {p}")).2.clone();
        v.sort();
        v
    };
    let sorted = |v: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
        v.sort();
        v
    };
    assert_eq!(
        params(Method::GET, "/v2/alerts"),
        sorted(&["status", "severity", "ruleId", "agentId", "from", "until", "token", "limit"])
    );
    assert_eq!(params(Method::GET, "/v2/alerts/severity-counts"), sorted(&["from", "until", "status"]));
    assert_eq!(params(Method::GET, "/v2/agents"), sorted(&["status", "from", "until", "token", "limit"]));
    assert_eq!(
        params(Method::GET, "/v2/vulnerabilities"),
        sorted(&["status", "agentId", "hasSecurityNotices", "from", "until", "token", "limit"])
    );
    assert_eq!(params(Method::GET, "/v2/organizations/members"), sorted(&["from", "until", "token", "limit"]));
    assert_eq!(params(Method::GET, "/v2/alerts/{id}"), Vec::<String>::new());
}

fn header_names(response: &Value) -> Vec<String> {
    response["headers"].as_object().map(|h| h.keys().cloned().collect()).unwrap_or_default()
}

/// Every operation of both families documents its family's rate-limit headers on every response and a 429,
/// and the document says which limit applies where.
#[tokio::test]
async fn rate_limits_are_documented_on_every_operation() {
    let doc = serde_json::to_value(tlink_server::http::api::openapi()).expect("the document");
    let mut failures = Vec::new();
    for (template, item) in doc["paths"].as_object().expect("paths") {
        let threat_stack = template.starts_with("/v2") || template.starts_with("/help");
        for (method, op) in item.as_object().expect("path item") {
            let responses = op["responses"].as_object().expect("responses");
            let Some(limited) = responses.get("429") else {
                failures.push(format!("{method} {template}: no 429"));
                continue;
            };
            let body = if threat_stack { "ErrorsBody" } else { "ErrorBody" };
            let schema = limited["content"]["application/json"]["schema"]["$ref"].as_str().unwrap_or_default();
            if !schema.ends_with(body) {
                failures.push(format!("{method} {template}: the 429 is not a {body}: {limited}"));
            }
            let said = limited["description"].as_str().unwrap_or_default();
            let about = if threat_stack { ["organization", "200 a minute"] } else { ["plan", "FREE 30"] };
            if !about.iter().all(|w| said.contains(w)) {
                failures.push(format!("{method} {template}: the 429 does not say which limit applies: {said}"));
            }
            for (status, response) in responses {
                let names = header_names(response);
                let mut wanted = vec!["X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"];
                if threat_stack {
                    wanted.extend(["x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset"]);
                }
                if !threat_stack || status == "429" {
                    wanted.push("Retry-After");
                }
                for w in wanted {
                    if !names.iter().any(|n| n == w) {
                        failures.push(format!("{method} {template} {status}: no {w} header"));
                    }
                }
                if !threat_stack && names.iter().any(|n| n.starts_with("x-rate-limit-")) {
                    failures.push(format!("{method} {template} {status}: Threat Stack headers outside /v2"));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let description = doc["info"]["description"].as_str().expect("description");
    for needle in ["whatever its TLINK plan", "200 a minute", "FREE 30", "milliseconds to wait", "Retry-After"] {
        assert!(description.contains(needle), "the description says `{needle}`: {description}");
    }
}

/// The document as a contract: the served document (with the default configuration) is kept in the
/// repository, and a change to it fails here until the snapshot is updated with it, so that every change of
/// what clients and generators are told is seen in review. `OPENAPI_SNAPSHOT=update cargo test -p
/// tlink-server --test it openapi_document_matches_its_snapshot` rewrites the snapshot.
#[test]
fn openapi_document_matches_its_snapshot() {
    let min_interval = tlink_server::monitoring::MonitoringConfig::default().min_interval_minutes;
    let served = tlink_server::http::api::document::served(&tlink_server::http::api::openapi(), min_interval)
        .expect("the document serialises");
    let mut text = serde_json::to_string_pretty(&served).expect("the document prints");
    text.push('\n');
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("openapi.json");
    if std::env::var("OPENAPI_SNAPSHOT").as_deref() == Ok("update") {
        std::fs::write(&path, &text).expect("writing the snapshot");
        return;
    }
    let kept = std::fs::read_to_string(&path).unwrap_or_default();
    if kept != text {
        let first = kept.lines().zip(text.lines()).position(|(a, b)| a != b).unwrap_or(kept.lines().count());
        panic!(
            "the OpenAPI document differs from {} from line {}:\n  kept:   {}\n  served: {}\nReview the change, \
             then rewrite the snapshot with OPENAPI_SNAPSHOT=update (see this test's documentation).",
            path.display(),
            first + 1,
            kept.lines().nth(first).unwrap_or("<end>"),
            text.lines().nth(first).unwrap_or("<end>"),
        );
    }
}
