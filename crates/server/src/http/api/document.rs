//! What the OpenAPI document says beyond the handlers' annotations, written once here from the same rules
//! the code applies, so that no operation can forget one. Clients and generators trust the document; the
//! snapshot test and `tests/contract/run.sh` (schemathesis) hold the server to it.
//!
//! - [`document`], on the document's types: the statuses the middleware and extractors answer (400 for a
//!   parameter or body, 401 for credentials, 404 for an id, 413 and 415 for a body, 503 when the database
//!   is out of reach), UUID path ids on `/api`, and `Server-Authorization` on Hawk answers.
//! - [`served`], on its JSON form: the grammars of `from`/`until`, CVE and package names and id filters;
//!   the field rules of request bodies (lengths, ranges, enums; in `body_facts`, beside the figures the
//!   operations use); and the text policy as a pattern on every other string a request carries.

use utoipa::openapi::header::HeaderBuilder;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::response::Response;
use utoipa::openapi::schema::{ObjectBuilder, Ref, SchemaFormat, Type};
use utoipa::openapi::{Content, OpenApi, RefOr, Required};

use serde_json::{Value, json};

use crate::http::extract::MAY_BE_EMPTY;
use crate::http::limits::is_threat_stack_path;
use crate::http::limits::openapi::operations;

/// The error body of a family, as a response with `description`.
fn error(threat_stack: bool, description: &str) -> Response {
    let schema = if threat_stack { "ErrorsBody" } else { "ErrorBody" };
    let mut r = Response::new(description);
    r.content.insert("application/json".into(), RefOr::T(Content::new(Some(Ref::from_schema_name(schema)))));
    r
}

/// Whether an operation names at least one credential scheme (public operations name none).
fn authenticated(op: &Operation) -> bool {
    op.security.as_ref().is_some_and(|reqs| {
        reqs.iter().any(|r| serde_json::to_value(r).is_ok_and(|v| v.as_object().is_some_and(|m| !m.is_empty())))
    })
}

/// Whether the Hawk scheme is among an operation's credentials (its answers are then signed).
fn takes_hawk(op: &Operation) -> bool {
    op.security
        .as_ref()
        .is_some_and(|reqs| reqs.iter().any(|r| serde_json::to_value(r).is_ok_and(|v| v.get("hawk").is_some())))
}

fn add(op: &mut Operation, status: &str, response: impl FnOnce() -> Response) {
    op.responses.responses.entry(status.to_string()).or_insert_with(|| RefOr::T(response()));
}

/// A JSON-body string: no C0 control character but tab, line feed and carriage return (the text policy of
/// [`crate::http::extract`]).
const BODY_TEXT: &str = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F]*$";
/// A path or query string: no control character at all, and not empty.
const URI_TEXT: &str = "^[^\\u0000-\\u001F]+$";
/// The same, for the query parameters that may be empty.
const URI_TEXT_OR_EMPTY: &str = "^[^\\u0000-\\u001F]*$";

/// A name: free text that is not blank (names are trimmed, then must not be empty).
const NAME_TEXT: &str = "^[^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F]*[^\\s\\u0000-\\u001F][^\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F]*$";
/// The periods of `from` and `until` below a whole date or date-time: `yyyy`, `yyyy-mm`, `yyyy-mm-ddThh`
/// and `yyyy-mm-ddThh:mm`, the last two with an optional offset (a whole date and a date-time are their own
/// formats). A pattern cannot know the length of each month, so these forms name days 01–28 only; the
/// server takes every real day.
const PARTIAL_PERIOD: &str = "^[0-9]{4}(-(0[1-9]|1[0-2])(-(0[1-9]|1[0-9]|2[0-8])T([01][0-9]|2[0-3])(:[0-5][0-9])?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?)?)?$";
/// A package name in a path: not blank, no control character (C0, DEL or C1).
const PACKAGE: &str =
    "^[^\\u0000-\\u001F\\u007F-\\u009F]*[^\\s\\u0000-\\u001F\\u007F-\\u009F][^\\u0000-\\u001F\\u007F-\\u009F]*$";

/// What the operations check about a body field beyond its type, by component schema and property, as
/// JSON Schema keywords. The figures are the ones the operations use.
fn body_facts(min_interval: i64) -> Vec<(&'static str, &'static str, Value)> {
    use crate::ops;
    let name = |max: usize| json!({"minLength": 1, "maxLength": max, "pattern": NAME_TEXT});
    let tools: Vec<&str> = tlink_domain::ToolKey::ALL.iter().map(|t| t.as_str()).collect();
    let mut rule_tools = tools.clone();
    rule_tools.push("vulnerability");
    let severity = json!({"enum": ["LOW", "MEDIUM", "HIGH", "CRITICAL"]});
    let interval = json!({"minimum": min_interval, "maximum": crate::monitoring::MAX_INTERVAL_MINUTES});
    let uuid = json!({"format": "uuid"});
    let uuids = json!({"items": {"type": "string", "format": "uuid"}});
    vec![
        ("UpdateSettings", "monitorIntervalMinutes", interval.clone()),
        ("CreateAsset", "monitorIntervalMinutes", interval.clone()),
        ("UpdateAsset", "monitorIntervalMinutes", interval),
        ("RunTool", "assetId", uuid.clone()),
        ("TestRule", "reportId", uuid),
        ("TestRule", "assetIds", uuids.clone()),
        ("CreateRule", "assetIds", uuids.clone()),
        ("UpdateRule", "assetIds", uuids),
        ("CreateOrg", "name", name(ops::users::MAX_ORG_NAME)),
        ("CreateApiKey", "name", name(ops::keys::MAX_NAME_CHARS)),
        ("CreateEnrollment", "name", name(ops::agents::MAX_ENROLLMENT_NAME_CHARS)),
        ("CreateRule", "name", name(ops::rules::MAX_NAME)),
        ("UpdateRule", "name", name(ops::rules::MAX_NAME)),
        ("SuppressIn", "reason", name(ops::vulns::MAX_REASON_CHARS)),
        ("RotateApiKey", "graceSeconds", json!({"minimum": 0, "maximum": 86_400})),
        ("CreateRule", "severity", severity.clone()),
        ("UpdateRule", "severity", severity),
        ("Condition", "tool", json!({"enum": rule_tools})),
        ("RunTool", "toolKey", json!({"enum": tools})),
        ("AddMember", "email", json!({"format": "email"})),
        ("UpdateAlert", "status", json!({"enum": ["OPEN", "ACKNOWLEDGED", "RESOLVED"]})),
    ]
}

/// Writes [`body_facts`] into the component schemas.
fn apply_body_facts(doc: &mut Value, min_interval: i64) {
    for (schema, property, facts) in body_facts(min_interval) {
        let Some(Value::Object(target)) =
            doc.pointer_mut(&format!("/components/schemas/{schema}/properties/{property}"))
        else {
            tracing::error!(schema, property, "the OpenAPI document has no such property to constrain");
            continue;
        };
        if let Value::Object(facts) = facts {
            // An array's facts are about its items, which may sit under a composition (`oneOf` with null).
            if facts.contains_key("items") && !target.contains_key("items") {
                let items = facts.get("items").cloned().unwrap_or_default();
                for alt in target.values_mut().filter_map(Value::as_array_mut).flatten() {
                    if alt.get("items").is_some() {
                        alt["items"] = items.clone();
                    }
                }
                continue;
            }
            if facts.contains_key("enum") || facts.contains_key("format") {
                target.remove("pattern");
            }
            target.extend(facts);
        }
    }
}

/// Query and path parameters the handlers read beyond their type: `from` and `until` (a date-time, a date,
/// or one of the partial periods), tools, ids, CVE and package names.
fn parameter_grammars(doc: &mut Value) {
    let period = json!({"anyOf": [
        {"type": "string", "format": "date-time"},
        {"type": "string", "format": "date"},
        {"type": "string", "pattern": PARTIAL_PERIOD},
    ]});
    let Some(Value::Object(paths)) = doc.get_mut("paths") else { return };
    for (path, item) in paths.iter_mut() {
        let threat_stack = is_threat_stack_path(path);
        for op in item.as_object_mut().into_iter().flat_map(|item| item.values_mut()) {
            for p in op.get_mut("parameters").and_then(Value::as_array_mut).into_iter().flatten() {
                let name = p.get("name").and_then(Value::as_str).unwrap_or_default().to_string();
                let in_query = p.get("in").and_then(Value::as_str) == Some("query");
                let in_path = p.get("in").and_then(Value::as_str) == Some("path");
                if in_query && (name == "from" || name == "until") {
                    p["schema"] = period.clone();
                } else if in_query && (name == "tool" || name == "toolKey") {
                    let tools: Vec<&str> = tlink_domain::ToolKey::ALL.iter().map(|t| t.as_str()).collect();
                    p["schema"] = json!({"type": "string", "enum": tools});
                } else if in_path && name == "cve" {
                    p["schema"] = json!({"type": "string", "pattern": format!("^[A-Za-z0-9_.:-]{{1,{}}}$", crate::ops::vulns::MAX_CVE_LEN)});
                } else if in_path && name == "pkg" {
                    p["schema"] = json!({"type": "string", "maxLength": 200, "pattern": PACKAGE});
                } else if in_query && name.ends_with("Id") && !(threat_stack && name == "agentId") {
                    // Threat Stack's `agentId` filter matches nothing when it is not an agent's id.
                    p["schema"] = json!({"type": "string", "format": "uuid"});
                }
            }
        }
    }
}

/// Whether `schema` is free text: a string with no enum, format or pattern of its own.
fn free_text(schema: &Value) -> bool {
    let is_string = match schema.get("type") {
        Some(Value::String(t)) => t == "string",
        Some(Value::Array(ts)) => ts.iter().any(|t| t == "string"),
        _ => false,
    };
    is_string && ["enum", "format", "pattern", "const"].iter().all(|k| schema.get(k).is_none())
}

/// Adds `pattern` to every free-text string in `schema` (properties, items, compositions), and collects the
/// component schemas it refers to.
fn constrain_text(schema: &mut Value, pattern: &str, refs: &mut Vec<String>) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        refs.extend(r.strip_prefix("#/components/schemas/").map(str::to_string));
        return;
    }
    if free_text(schema) {
        schema["pattern"] = Value::String(pattern.to_string());
    }
    let Value::Object(map) = schema else { return };
    for (key, child) in map.iter_mut() {
        match (key.as_str(), child) {
            ("properties", Value::Object(props)) => {
                props.values_mut().for_each(|p| constrain_text(p, pattern, refs));
            }
            ("items" | "additionalProperties" | "not", c @ Value::Object(_)) => constrain_text(c, pattern, refs),
            ("allOf" | "anyOf" | "oneOf" | "prefixItems", Value::Array(list)) => {
                list.iter_mut().for_each(|c| constrain_text(c, pattern, refs));
            }
            _ => {}
        }
    }
}

/// The text policy in the document: path and query strings, and every string of every request body (the
/// component schemas the bodies use, transitively). Response schemas are left as they are.
fn text_policy(doc: &mut Value) {
    let mut refs = Vec::new();
    if let Some(Value::Object(paths)) = doc.get_mut("paths") {
        for op in paths.values_mut().filter_map(Value::as_object_mut).flat_map(|item| item.values_mut()) {
            for p in op.get_mut("parameters").and_then(Value::as_array_mut).into_iter().flatten() {
                let may_be_empty = p.get("name").and_then(Value::as_str).is_some_and(|n| MAY_BE_EMPTY.contains(&n));
                let pattern = if may_be_empty { URI_TEXT_OR_EMPTY } else { URI_TEXT };
                if let Some(schema) = p.get_mut("schema") {
                    constrain_text(schema, pattern, &mut Vec::new());
                }
            }
            for media in op
                .pointer_mut("/requestBody/content")
                .and_then(Value::as_object_mut)
                .into_iter()
                .flat_map(|m| m.values_mut())
            {
                if let Some(schema) = media.get_mut("schema") {
                    constrain_text(schema, BODY_TEXT, &mut refs);
                }
            }
        }
    }
    let mut seen = std::collections::BTreeSet::new();
    while let Some(name) = refs.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        if let Some(schema) = doc.pointer_mut(&format!("/components/schemas/{name}")) {
            constrain_text(schema, BODY_TEXT, &mut refs);
        }
    }
}

/// The document as served: `doc` with the text policy on every string a request carries. Done on the JSON
/// form because it is a walk over every schema (and utoipa's types do not all read back what they write).
/// `min_interval` is the smallest scan interval this server accepts (`monitoring.min_interval_minutes`).
pub fn served(doc: &OpenApi, min_interval: i64) -> serde_json::Result<Value> {
    let mut value = serde_json::to_value(doc)?;
    apply_body_facts(&mut value, min_interval);
    parameter_grammars(&mut value);
    text_policy(&mut value);
    Ok(value)
}

/// The document [`served`] with the default settings, as kept in the repository (`crates/server/openapi.json`,
/// printed for review; `tests/it/openapi.rs` fails when it differs from what [`served`] makes and rewrites it
/// with `OPENAPI_SNAPSHOT=update`). A server with the default settings answers with it (see
/// `system::routes`).
pub const DEFAULT: &str = include_str!("../../../openapi.json");

/// `json` without the whitespace between its tokens (JSON text in, JSON text out: whitespace inside
/// strings is kept, escapes included).
pub fn compact(json: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for &b in json.as_bytes() {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
        } else if b == b'"' {
            in_string = true;
        } else if matches!(b, b' ' | b'\n' | b'\r' | b'\t') {
            continue;
        }
        out.push(b);
    }
    out
}

/// Completes every operation of `doc` with what the middleware answers; see the module documentation.
pub fn document(doc: &mut OpenApi) {
    for (path, item) in &mut doc.paths.paths {
        let threat_stack = is_threat_stack_path(path);
        for op in operations(item) {
            let mut has_input = op.request_body.is_some();
            for p in op.parameters.iter_mut().flatten() {
                let RefOr::T(p) = p else { continue };
                has_input = true;
                // On `/api` every `…Id` in a path is a UUID: anything else is answered 400 naming it.
                if !threat_stack && p.parameter_in == ParameterIn::Path && p.name.ends_with("Id") {
                    p.required = Required::True;
                    p.schema = Some(
                        ObjectBuilder::new()
                            .schema_type(Type::String)
                            .format(Some(SchemaFormat::Custom("uuid".into())))
                            .into(),
                    );
                }
            }
            if has_input {
                add(op, "400", || error(threat_stack, "A parameter or the body is invalid; the error names it."));
            }
            if op.request_body.is_some() {
                add(op, "413", || error(threat_stack, "The body is larger than `max_body_bytes`."));
                add(op, "415", || error(threat_stack, "The body is not `application/json`."));
            }
            // A path id, or an id in the query naming something to filter by, may name nothing of the caller's.
            let has_path_ids = op.parameters.iter().flatten().any(|p| {
                matches!(p, RefOr::T(p) if p.parameter_in == ParameterIn::Path
                    || (p.parameter_in == ParameterIn::Query && p.name.ends_with("Id")))
            });
            if has_path_ids {
                add(op, "404", || {
                    error(
                        threat_stack,
                        "Nothing of that id in the caller's organization (another organization's is not found either).",
                    )
                });
            }
            if authenticated(op) {
                add(op, "401", || {
                    error(
                        threat_stack,
                        "No credential, more than one, or one that is unknown, revoked, expired or (Hawk) wrongly \
                         signed.",
                    )
                });
            }
            add(op, "503", || {
                error(threat_stack, "The database cannot be reached (down or restarting); the request may be retried.")
            });
            if takes_hawk(op) {
                let header = HeaderBuilder::new()
                    .schema(Some(ObjectBuilder::new().schema_type(Type::String)))
                    .description(Some(
                        "On answers to a Hawk-signed request: Hawk mac and hash over this response, keyed like the \
                         request.",
                    ))
                    .build();
                for response in op.responses.responses.values_mut() {
                    if let RefOr::T(response) = response {
                        response.headers.entry("Server-Authorization".into()).or_insert(RefOr::T(header.clone()));
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compact_drops_the_whitespace_between_tokens_and_keeps_strings_whole() {
        let value = json!({"a b": " x\t\"y\" \\", "list": [1, {"k": null}], "t": true});
        let pretty = serde_json::to_string_pretty(&value).expect("prints");
        let compacted = compact(&pretty);
        assert_eq!(String::from_utf8(compacted).expect("utf-8"), serde_json::to_string(&value).expect("prints"));
    }

    fn served_document() -> Value {
        served(&crate::http::api::openapi(), 5).expect("the document serialises")
    }

    #[test]
    fn every_body_fact_lands_on_a_property_of_the_document() {
        let doc = served_document();
        for (schema, property, facts) in body_facts(5) {
            let target = doc
                .pointer(&format!("/components/schemas/{schema}/properties/{property}"))
                .unwrap_or_else(|| panic!("{schema}.{property} is not in the document"));
            for (key, value) in facts.as_object().expect("facts are keywords") {
                if key == "items" {
                    continue;
                }
                assert_eq!(target.get(key), Some(value), "{schema}.{property}: {key}");
            }
        }
    }

    #[test]
    fn request_strings_carry_the_text_policy_and_responses_do_not() {
        let doc = served_document();
        let login = doc.pointer("/components/schemas/LoginRequest/properties/email/pattern");
        assert_eq!(login.and_then(Value::as_str), Some(BODY_TEXT));
        // A response-only schema is left as the handlers describe it.
        assert!(doc.pointer("/components/schemas/AssetOut/properties/value/pattern").is_none());
        let token = doc["paths"]["/api/orgs"]["get"]["parameters"]
            .as_array()
            .and_then(|ps| ps.iter().find(|p| p["name"] == "token"))
            .expect("the token parameter");
        assert_eq!(token["schema"]["pattern"], URI_TEXT);
    }

    #[test]
    fn operations_document_what_the_middleware_answers() {
        let doc = served_document();
        let asset = &doc["paths"]["/api/orgs/{orgId}/assets/{assetId}"]["patch"];
        for status in ["400", "401", "404", "413", "415", "429", "503"] {
            assert!(asset["responses"].get(status).is_some(), "PATCH asset documents {status}");
        }
        let id = asset["parameters"].as_array().and_then(|ps| ps.iter().find(|p| p["name"] == "assetId"));
        assert_eq!(id.map(|p| &p["schema"]["format"]), Some(&json!("uuid")));
        let hawk = &doc["paths"]["/v2/alerts"]["get"]["responses"]["200"]["headers"];
        assert!(hawk.get("Server-Authorization").is_some());
    }
}
