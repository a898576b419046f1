//! Hostile input: control characters in every string field of every operation (the list generated from the
//! OpenAPI document, so new fields are covered), empty parameters, many Hawk keys, mixed credentials.

use axum::http::{Method, StatusCode};
use serde_json::{Map, Value, json};

use crate::hawk::{Signed, send};
use crate::support::{Auth, Reply, TestApp, TestUser, random_id, s};

/// Resolves a `$ref` into the document's components.
fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema.get("$ref").and_then(Value::as_str) {
        Some(r) => {
            let name = r.rsplit('/').next().unwrap_or_default();
            resolve(doc, &doc["components"]["schemas"][name])
        }
        None => schema,
    }
}

fn is_type(schema: &Value, t: &str) -> bool {
    match &schema["type"] {
        Value::String(s) => s == t,
        Value::Array(ts) => ts.iter().any(|v| v == t),
        _ => false,
    }
}

/// Every string inside `schema`, as (the field path a 400 names, a JSON document holding only that string
/// set to `text`).
fn string_fields(doc: &Value, schema: &Value, text: &str, depth: usize) -> Vec<(String, Value)> {
    let schema = resolve(doc, schema);
    if depth > 6 {
        return Vec::new();
    }
    let mut out = Vec::new();
    for alt in ["oneOf", "anyOf", "allOf"] {
        for sub in schema[alt].as_array().into_iter().flatten() {
            out.extend(string_fields(doc, sub, text, depth + 1));
        }
    }
    if is_type(schema, "string") {
        out.push((String::new(), Value::String(text.to_string())));
    }
    if is_type(schema, "array") {
        for (path, v) in string_fields(doc, &schema["items"], text, depth + 1) {
            out.push((format!("[0]{}", dotted(&path)), Value::Array(vec![v])));
        }
    }
    if let Some(props) = schema["properties"].as_object() {
        for (name, sub) in props {
            for (path, v) in string_fields(doc, sub, text, depth + 1) {
                let mut m = Map::new();
                m.insert(name.clone(), v);
                out.push((format!("{name}{}", dotted(&path)), Value::Object(m)));
            }
        }
    }
    if let Some(extra) = schema.get("additionalProperties").filter(|v| v.is_object()) {
        for (path, v) in string_fields(doc, extra, text, depth + 1) {
            let mut m = Map::new();
            m.insert("k".into(), v);
            out.push((format!("k{}", dotted(&path)), Value::Object(m)));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out.dedup_by(|a, b| a.0 == b.0);
    out
}

/// `.x` for a property path, `[0]…` as is, nothing for the value itself.
fn dotted(path: &str) -> String {
    if path.is_empty() || path.starts_with('[') { path.to_string() } else { format!(".{path}") }
}

/// Who sends what: the owner signs `/v2` and `/help` with Hawk, reports with the agent token, the rest
/// with a bearer token.
struct Caller {
    owner: TestUser,
    org: String,
    key: String,
    agent_token: String,
}

impl Caller {
    async fn new(app: &TestApp) -> Caller {
        let owner = app.user("owner@example.com", Some("Acme")).await;
        let org = owner.org().to_string();
        let key = app.api_key(&owner.auth(), "hawk").await;
        let r = app.post(&format!("/api/orgs/{org}/agent-enrollments"), &owner.auth(), json!({"name": "hosts"})).await;
        let agent_token = s(r.ok(StatusCode::CREATED), "token").to_string();
        Caller { owner, org, key, agent_token }
    }

    async fn send(&self, app: &TestApp, method: &Method, path: &str, body: Option<&Value>) -> Reply {
        let bytes = body.map(|b| serde_json::to_vec(b).expect("json"));
        if path.starts_with("/v2") || path.starts_with("/help") {
            let mut signed = Signed::new(method.clone(), path, Some(&self.org));
            if let Some(b) = &bytes {
                signed = signed.with_body("application/json", b);
            }
            let header = signed.header(&self.owner.id, &self.key);
            return send(app, method.clone(), path, &header, bytes.map(|b| ("application/json", b))).await;
        }
        let auth = if path == "/api/agent/report" {
            Auth::Header("x-agent-token", self.agent_token.clone())
        } else {
            self.owner.auth()
        };
        match bytes {
            Some(b) => app.raw(method.clone(), path, &auth, Some("application/json"), b).await,
            None => app.req(method.clone(), path, &auth, None).await,
        }
    }
}

/// The path with its parameters filled in: the caller's organization, ids that name nothing, a CVE.
fn fill_path(template: &str, org: &str) -> String {
    let mut out = String::new();
    let mut rest = template;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let end = rest[start..].find('}').expect("closing brace") + start;
        let name = &rest[start + 1..end];
        out.push_str(&match name {
            "orgId" => org.to_string(),
            "cve" => "CVE-2024-0001".to_string(),
            _ => random_id(),
        });
        rest = &rest[end + 1..];
    }
    out.push_str(rest);
    out
}

/// The field a refusal names, in either family's shape.
fn named_field(r: &Reply, path: &str) -> Option<String> {
    if path.starts_with("/v2") || path.starts_with("/help") {
        let first = r.body["errors"][0].as_str()?;
        Some(first.split_once(": ")?.0.to_string())
    } else {
        r.first_field().map(str::to_string)
    }
}

both!(control_characters_are_refused_in_every_field, every_field_case);
async fn every_field_case(app: TestApp) {
    let doc = serde_json::to_value(tlink_server::http::api::openapi()).expect("the document");
    let caller = Caller::new(&app).await;
    let mut checked = 0;
    let mut failures = Vec::new();
    for (template, item) in doc["paths"].as_object().expect("paths") {
        for (method, op) in item.as_object().expect("path item") {
            let Ok(method) = method.to_ascii_uppercase().parse::<Method>() else { continue };
            let path = fill_path(template, &caller.org);

            // Each string field of the body, alone, holding a NUL (and once a BEL).
            let body_schema = &op["requestBody"]["content"]["application/json"]["schema"];
            if !body_schema.is_null() {
                for text in ["a\u{0}b", "\u{7}"] {
                    for (field, body) in string_fields(&doc, body_schema, text, 0) {
                        let r = caller.send(&app, &method, &path, Some(&body)).await;
                        checked += 1;
                        if r.status != StatusCode::BAD_REQUEST || named_field(&r, &path).as_deref() != Some(&field) {
                            failures.push(format!("{method} {template} body `{field}`: {} {}", r.status, r.text));
                        }
                    }
                }
            }

            // Each query parameter, and the path itself.
            let mut params: Vec<String> = op["parameters"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|p| p["in"] == "query")
                .filter_map(|p| p["name"].as_str().map(str::to_string))
                .collect();
            params.sort();
            params.dedup();
            for name in params {
                let uri = format!("{path}?{name}=a%00b");
                let r = caller.send(&app, &method, &uri, None).await;
                checked += 1;
                if r.status != StatusCode::BAD_REQUEST || named_field(&r, &uri).as_deref() != Some(&name) {
                    failures.push(format!("{method} {template} query `{name}`: {} {}", r.status, r.text));
                }
            }
            if template.contains('{') {
                let uri = format!("{}%00", path);
                let r = caller.send(&app, &method, &uri, None).await;
                checked += 1;
                if r.status != StatusCode::BAD_REQUEST || named_field(&r, &uri).as_deref() != Some("path") {
                    failures.push(format!("{method} {template} path: {} {}", r.status, r.text));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {checked} inputs not refused:\n{}", failures.len(), failures.join("\n"));
    assert!(checked > 150, "only {checked} inputs found in the OpenAPI document");
}

both!(control_characters_in_realistic_requests_write_nothing, realistic_case);
async fn realistic_case(app: TestApp) {
    let caller = Caller::new(&app).await;
    let (org, auth) = (caller.org.clone(), caller.owner.auth());

    // Unauthenticated: the login e-mail.
    app.login("owner@example.com\u{0}", "whatever").await.invalid("email");

    // An otherwise valid asset: refused, and nothing written.
    let assets = format!("/api/orgs/{org}/assets");
    app.post(&assets, &auth, json!({"type": "DOMAIN", "value": "example.com", "label": "web\u{0}"}))
        .await
        .invalid("label");
    assert!(app.get(&assets, &auth).await.ok(StatusCode::OK).as_array().expect("list").is_empty());
    let asset = app.asset(&org, &auth, "DOMAIN", "example.com").await;
    let one = format!("{assets}/{}", s(&asset, "id"));
    app.patch(&one, &auth, json!({"label": "x\u{0}"})).await.invalid("label");
    app.get(&format!("{assets}?q=ex%00"), &auth).await.invalid("q");
    // Text may hold tab, line feed and carriage return.
    let r = app.patch(&one, &auth, json!({"label": "two\tcolumns\r\nand lines"})).await;
    assert_eq!(r.ok(StatusCode::OK)["label"], "two\tcolumns\r\nand lines");

    // The agent report, read without the JSON extractor.
    let report = json!({"instanceId": "i-1", "hostname": "db\u{0}1"});
    let r = caller.send(&app, &Method::POST, "/api/agent/report", Some(&report)).await;
    r.invalid("hostname");
    assert!(
        app.get(&format!("/api/orgs/{org}/agents"), &auth)
            .await
            .ok(StatusCode::OK)
            .as_array()
            .expect("list")
            .is_empty()
    );

    // A Threat Stack body, in Threat Stack's shape.
    let body = json!({"reason": "accepted\u{0}"});
    let r = caller.send(&app, &Method::POST, "/v2/vulnerabilities/CVE-2024-0001/suppress", Some(&body)).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.text);
    assert!(r.body["errors"][0].as_str().unwrap_or_default().starts_with("reason: "), "{}", r.text);
}

both!(empty_parameters_are_invalid_values, empty_parameters_case);
async fn empty_parameters_case(app: TestApp) {
    let owner = app.user("owner@example.com", Some("Acme")).await;
    let assets = format!("/api/orgs/{}/assets", owner.org());
    app.get(&format!("{assets}?limit="), &owner.auth()).await.invalid("limit");
    app.get(&format!("{assets}?type="), &owner.auth()).await.invalid("type");
    app.get(&format!("{assets}?token="), &owner.auth()).await.invalid("token");
    // The free-text search may be empty: it matches everything.
    app.get(&format!("{assets}?q="), &owner.auth()).await.ok(StatusCode::OK);
}

both!(hawk_accepts_every_live_key, hawk_keys_case);
async fn hawk_keys_case(app: TestApp) {
    let owner = app.user("owner@example.com", Some("Acme")).await;
    let org = owner.org().to_string();
    let oldest = app.api_key(&owner.auth(), "oldest").await;
    for i in 0..30 {
        app.api_key(&owner.auth(), &format!("k{i}")).await;
    }
    let path = "/help/hawk/self-test";
    let header = Signed::new(Method::GET, path, Some(&org)).header(&owner.id, &oldest);
    send(&app, Method::GET, path, &header, None).await.expect_status(StatusCode::OK);

    // The key that verified records its use.
    let mut used = None;
    for _ in 0..50 {
        let r = app.get("/api/users/me/api-keys?limit=100", &owner.auth()).await;
        used = r.items().iter().find(|k| k["name"] == "oldest").map(|k| k["lastUsedAt"].clone());
        if used.as_ref().is_some_and(|v| !v.is_null()) {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    assert!(used.is_some_and(|v| !v.is_null()), "lastUsedAt of the Hawk key");

    // Live keys are capped: the 101st is refused with a 409 until one is revoked.
    for i in 31..100 {
        app.api_key(&owner.auth(), &format!("k{i}")).await;
    }
    let r = app.post("/api/users/me/api-keys", &owner.auth(), json!({"name": "one too many"})).await;
    r.err(StatusCode::CONFLICT);
    assert!(r.message().contains("100"), "{}", r.text);
    let keys = app.get("/api/users/me/api-keys?limit=1", &owner.auth()).await;
    let newest = keys.ids()[0].clone();
    app.delete(&format!("/api/users/me/api-keys/{newest}"), &owner.auth()).await.ok(StatusCode::OK);
    app.post("/api/users/me/api-keys", &owner.auth(), json!({"name": "replacement"})).await.ok(StatusCode::CREATED);
}

both!(mixed_credentials_are_refused, mixed_credentials_case);
async fn mixed_credentials_case(app: TestApp) {
    let owner = app.user("owner@example.com", Some("Acme")).await;
    let org = owner.org().to_string();
    let key = app.api_key(&owner.auth(), "k").await;
    let path = format!("/api/orgs/{org}/assets");
    let with = |headers: Vec<(&'static str, String)>| {
        let mut b = axum::http::Request::builder().uri(path.as_str());
        for (k, v) in headers {
            b = b.header(k, v);
        }
        b.body(axum::body::Body::empty()).expect("request")
    };
    let bearer = format!("Bearer {}", owner.access);
    // Each alone works.
    app.send(with(vec![("x-api-key", key.clone())])).await.ok(StatusCode::OK);
    app.send(with(vec![("authorization", bearer.clone())])).await.ok(StatusCode::OK);
    // A valid credential does not carry an invalid one, in either order, and two valid ones are refused too.
    let forged = "tlpro_".to_string() + &"x".repeat(40);
    for headers in [
        vec![("x-api-key", forged.clone()), ("authorization", bearer.clone())],
        vec![("x-api-key", key.clone()), ("authorization", "Bearer forged.token.here".to_string())],
        vec![("x-api-key", key.clone()), ("authorization", bearer.clone())],
    ] {
        let r = app.send(with(headers)).await;
        r.err(StatusCode::UNAUTHORIZED);
        assert!(r.message().contains("one credential"), "{}", r.text);
    }
    // Hawk with an X-API-Key beside it.
    let hawk_path = "/help/hawk/self-test";
    let header = Signed::new(Method::GET, hawk_path, Some(&org)).header(&owner.id, &key);
    let req = axum::http::Request::builder()
        .uri(hawk_path)
        .header("host", "api.example.com:8443")
        .header("authorization", header)
        .header("x-api-key", forged)
        .body(axum::body::Body::empty())
        .expect("request");
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{}", r.text);
}
