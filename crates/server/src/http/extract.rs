//! Request extractors that turn bad input into clear envelope errors: JSON bodies (415 for a wrong
//! content type, 413 for an oversized body, 400 naming the field for malformed or mistyped JSON), query
//! strings (only the parameters the operation documents: [`documented_query_layer`]), and ids in the path.
//!
//! This is also where tlink decides what text it accepts, once for every field: no string that reaches a
//! handler (and so no database engine) contains a C0 control character (U+0000–U+001F) other than tab,
//! line feed and carriage return in a JSON body; a path or query string contains none at all (see
//! [`check_uri`]). PostgreSQL cannot store U+0000 in `text`, and no field of the API means one.

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, MatchedPath, Request};
use axum::http::request::Parts;
use axum::http::{Method, StatusCode, header};
use serde::de::DeserializeOwned;

use crate::http::error::ApiError;

/// A JSON body, deserialised with the failing field's path in the error.
pub struct ApiJson<T>(pub T);

fn is_json(req: &Request) -> bool {
    let Some(ct) = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mime = ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    mime == "application/json" || (mime.starts_with("application/") && mime.ends_with("+json"))
}

/// Removes serde_json's " at line N column M" suffix.
fn strip_position(msg: &str) -> &str {
    match msg.rfind(" at line ") {
        Some(i) => &msg[..i],
        None => msg,
    }
}

/// The field a serde error is about: the path where it failed (which already ends in the field for an
/// unknown field), or for a missing field the path of its parent plus the name from the message.
fn field_of(path: &str, msg: &str) -> String {
    let base = if path == "." { "" } else { path };
    let missing = msg.strip_prefix("missing field `").and_then(|rest| rest.split('`').next());
    let unknown = msg.strip_prefix("unknown field `").and_then(|rest| rest.split('`').next());
    match (base, missing.or(unknown)) {
        ("", Some(n)) => n.to_string(),
        (b, Some(n)) if missing.is_some() => format!("{b}.{n}"),
        ("", None) => "body".to_string(),
        (b, _) => b.to_string(),
    }
}

/// Control characters a JSON string may not hold: C0 other than tab, line feed and carriage return.
fn forbidden_in_body(c: char) -> bool {
    c < ' ' && !matches!(c, '\t' | '\n' | '\r')
}

/// Control characters a path segment or query parameter may not hold: all of C0.
fn forbidden_in_uri(c: char) -> bool {
    c < ' '
}

fn control_message(c: char) -> String {
    format!(
        "must not contain the control character U+{:04X} (text may hold tab, line feed and carriage return, \
         no other character below U+0020)",
        u32::from(c)
    )
}

/// Whether a JSON text may decode to a string holding a C0 control character. JSON cannot carry one
/// unescaped, so only `\u000X` and `\u001X` escapes can produce them; the scan may answer yes for an
/// escaped backslash followed by `u00…`, never no for a real one.
fn may_hold_controls(bytes: &[u8]) -> bool {
    bytes
        .windows(6)
        .any(|w| w[0] == b'\\' && w[1] == b'u' && w[2] == b'0' && w[3] == b'0' && matches!(w[4], b'0' | b'1'))
}

/// The path (`tags[0].key`, as serde's errors name fields) of the first string in `value`, key or value,
/// holding a forbidden control character, and that character.
fn find_control(value: &serde_json::Value, path: &mut String) -> Option<(String, char)> {
    use serde_json::Value;
    let here = |path: &str| if path.is_empty() { "body".to_string() } else { path.to_string() };
    match value {
        Value::String(s) => s.chars().find(|&c| forbidden_in_body(c)).map(|c| (here(path), c)),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, v)| {
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            let found = find_control(v, path);
            path.truncate(len);
            found
        }),
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            if let Some(c) = k.chars().find(|&c| forbidden_in_body(c)) {
                return Some((here(path), c));
            }
            let len = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(k);
            let found = find_control(v, path);
            path.truncate(len);
            found
        }),
        _ => None,
    }
}

/// Refuses a JSON body with a string holding a forbidden control character, naming its field.
fn check_body_text(bytes: &[u8]) -> Result<(), ApiError> {
    if !may_hold_controls(bytes) {
        return Ok(());
    }
    // Rare: decode to find the field. A body that does not decode is left to the typed parse's error.
    let Ok(value) = serde_json::from_slice::<serde_json::Value>(bytes) else { return Ok(()) };
    match find_control(&value, &mut String::new()) {
        Some((field, c)) => Err(ApiError::field(field, control_message(c))),
        None => Ok(()),
    }
}

/// Refuses a request whose path or query string decodes to a control character, naming the query
/// parameter (or `path`). Called by the middleware in front of every route, so it holds for path ids and
/// query parameters whatever extractor reads them.
pub fn check_uri(uri: &axum::http::Uri) -> Result<(), ApiError> {
    // A URI cannot carry a control character unencoded: only `%XX` can produce one.
    if !uri.path().contains('%') && !uri.query().is_some_and(|q| q.contains('%')) {
        return Ok(());
    }
    // A path segment that does not decode to UTF-8 could not reach a handler as text; it is refused here, in
    // the family's shape, rather than by the path extractor's plain-text rejection.
    let path = percent_encoding::percent_decode_str(uri.path())
        .decode_utf8()
        .map_err(|_| ApiError::field("path", "must be UTF-8 once percent-decoded"))?;
    if let Some(c) = path.chars().find(|&c| forbidden_in_uri(c)) {
        return Err(ApiError::field("path", control_message(c)));
    }
    for (k, v) in form_urlencoded::parse(uri.query().unwrap_or("").as_bytes()) {
        if let Some(c) = k.chars().chain(v.chars()).find(|&c| forbidden_in_uri(c)) {
            let name: String = k.chars().filter(|&c| !forbidden_in_uri(c)).collect();
            return Err(ApiError::field(name, control_message(c)));
        }
    }
    Ok(())
}

/// Deserialises a JSON document (and nothing after it), mapping errors to 400s that name the field. A
/// string holding a control character is refused here, for every field of every body (see the module
/// documentation).
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    check_body_text(bytes)?;
    // Every body the API takes is an object. Serde would also read a struct from an array of its fields
    // in order (`[null, null]`), a form no client means and the document does not allow.
    if bytes.iter().find(|b| !b.is_ascii_whitespace()).is_some_and(|&b| b != b'{') {
        return Err(ApiError::field("body", "must be a JSON object"));
    }
    let mut de = serde_json::Deserializer::from_slice(bytes);
    let value = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        let msg = strip_position(&inner.to_string()).to_string();
        match inner.classify() {
            serde_json::error::Category::Data => ApiError::field(field_of(&path, &msg), msg),
            serde_json::error::Category::Eof if bytes.iter().all(u8::is_ascii_whitespace) => {
                ApiError::BadRequest("request body is empty; a JSON object is required".into())
            }
            // A value of the wrong kind where an enum is expected (`"type": 7`) surfaces as a syntax
            // error, but at a known field.
            serde_json::error::Category::Syntax if path != "." => {
                ApiError::field(path, format!("has the wrong type or is malformed ({msg})"))
            }
            _ => ApiError::BadRequest(format!("malformed JSON: {inner}")),
        }
    })?;
    de.end()
        .map_err(|e| ApiError::BadRequest(format!("malformed JSON: unexpected data after the JSON value ({e})")))?;
    Ok(value)
}

fn not_json() -> ApiError {
    ApiError::UnsupportedMediaType("expected Content-Type: application/json".into())
}

/// The body's bytes, within the body limit (413 over it).
async fn read_body<S: Send + Sync>(req: Request, state: &S) -> Result<Bytes, ApiError> {
    Bytes::from_request(req, state).await.map_err(|e| {
        if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
            ApiError::PayloadTooLarge("request body is too large".into())
        } else {
            ApiError::BadRequest(format!("could not read the request body: {}", e.body_text()))
        }
    })
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(&req) {
            return Err(not_json());
        }
        let bytes = read_body(req, state).await?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// A JSON request body still as bytes, for the Threat Stack handlers, which parse it with [`parse_json`]
/// and answer in their own error shape (take it as `Result<JsonBytes, ApiError>`). A declared content type
/// that is not JSON is a 415 and a body over the limit a 413, as with [`ApiJson`]; unlike [`ApiJson`], a
/// body without `Content-Type` is read as JSON, because Threat Stack's API is JSON only and not every one
/// of its clients says so.
pub struct JsonBytes(pub Bytes);

impl<S: Send + Sync> FromRequest<S> for JsonBytes {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if req.headers().contains_key(header::CONTENT_TYPE) && !is_json(&req) {
            return Err(not_json());
        }
        read_body(req, state).await.map(JsonBytes)
    }
}

/// The query parameters each operation of the OpenAPI document declares, by method and route: the only
/// ones it accepts. The document is generated from the route table, so what a client reads there is
/// exactly what the server takes; [`documented_query_layer`] enforces it.
#[derive(Debug, Clone, Default)]
pub struct DocumentedQueries(Arc<HashMap<Method, HashMap<String, Documented>>>);

/// The query parameters one operation declares.
#[derive(Debug, Clone, Default)]
pub struct Documented(Arc<[String]>);

impl Documented {
    fn contains(&self, name: &str) -> bool {
        self.0.iter().any(|n| n == name)
    }
}

impl DocumentedQueries {
    /// Reads every operation's query parameters from `doc`.
    pub fn from_openapi(doc: &utoipa::openapi::OpenApi) -> DocumentedQueries {
        use utoipa::openapi::RefOr;
        use utoipa::openapi::path::{Operation, ParameterIn};
        let mut map: HashMap<Method, HashMap<String, Documented>> = HashMap::new();
        for (path, item) in &doc.paths.paths {
            let ops: [(Method, &Option<Operation>); 8] = [
                (Method::GET, &item.get),
                (Method::PUT, &item.put),
                (Method::POST, &item.post),
                (Method::DELETE, &item.delete),
                (Method::OPTIONS, &item.options),
                (Method::HEAD, &item.head),
                (Method::PATCH, &item.patch),
                (Method::TRACE, &item.trace),
            ];
            for (method, op) in ops {
                let Some(op) = op else { continue };
                let names: Vec<String> = item
                    .parameters
                    .iter()
                    .chain(op.parameters.iter())
                    .flatten()
                    .filter_map(|p| match p {
                        RefOr::T(p) if p.parameter_in == ParameterIn::Query => Some(p.name.clone()),
                        _ => None,
                    })
                    .collect();
                map.entry(method).or_default().insert(path.clone(), Documented(names.into()));
            }
        }
        DocumentedQueries(Arc::new(map))
    }

    fn get(&self, method: &Method, route: &str) -> Option<&Documented> {
        // HEAD is answered by the GET handler.
        let method = if method == Method::HEAD { &Method::GET } else { method };
        self.0.get(method)?.get(route)
    }
}

/// The route-level middleware that refuses a query parameter the matched operation does not document
/// (400 naming it, in the family's error shape), before the handler runs, and hands the documented names
/// to [`QueryMap`]. Routes outside the document (`/metrics`, the docs UI) are not checked.
pub async fn documented_query_layer(
    axum::extract::State(docs): axum::extract::State<DocumentedQueries>,
    mut req: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    // Looked up by reference: no allocation per request.
    let documented = req.extensions().get::<MatchedPath>().and_then(|m| docs.get(req.method(), m.as_str())).cloned();
    let Some(documented) = documented else {
        return next.run(req).await;
    };
    let query = req.uri().query().unwrap_or("");
    if let Some((name, _)) = form_urlencoded::parse(query.as_bytes()).find(|(k, _)| !documented.contains(k)) {
        let takes = if documented.0.is_empty() {
            "this operation takes no query parameters".to_string()
        } else {
            format!("this operation takes {}", documented.0.join(", "))
        };
        let err = ApiError::field(name.into_owned(), format!("unknown parameter; {takes}"));
        return crate::http::error::respond(err, crate::http::limits::is_threat_stack_path(req.uri().path()));
    }
    req.extensions_mut().insert(documented);
    next.run(req).await
}

/// Parameters whose empty value means something: the free-text search, and `hasSecurityNotices`, a flag
/// Threat Stack documents bare (`?hasSecurityNotices` means true).
pub(crate) const MAY_BE_EMPTY: &[&str] = &["q", "hasSecurityNotices"];

/// The query string as a map, with typed accessors that name the offending parameter. Behind
/// [`documented_query_layer`] it holds only parameters the operation documents; a handler reading one its
/// operation does not document is a bug that debug builds (and so the tests) stop at.
#[derive(Debug, Default, Clone)]
pub struct QueryMap {
    values: HashMap<String, String>,
    documented: Option<Documented>,
}

impl<S: Send + Sync> FromRequestParts<S> for QueryMap {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or("");
        let mut map = HashMap::new();
        for (k, v) in form_urlencoded::parse(q.as_bytes()).into_owned() {
            // An empty value is not a missing one: `limit=` is as invalid as `limit=x`. Only the free-text
            // search `q` (which then matches everything) and presence flags may be empty.
            if v.is_empty() && !MAY_BE_EMPTY.contains(&k.as_ref()) {
                return Err(ApiError::field(k, "is empty; give a value or leave the parameter out"));
            }
            if map.insert(k.clone(), v).is_some() {
                return Err(ApiError::field(k, "given more than once"));
            }
        }
        Ok(QueryMap { values: map, documented: parts.extensions.get::<Documented>().cloned() })
    }
}

impl QueryMap {
    /// A map of these parameters, as a request would carry them (not tied to any operation).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> QueryMap {
        let values = pairs.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        QueryMap { values, documented: None }
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        debug_assert!(
            self.documented.as_ref().is_none_or(|d| d.contains(key)),
            "the handler reads the query parameter `{key}`, which its OpenAPI operation does not document"
        );
        self.values.get(key).map(String::as_str)
    }

    /// A parameter parsed with `FromStr`, the parse error's text as the reason.
    pub fn parse<T: FromStr>(&self, key: &str) -> Result<Option<T>, ApiError>
    where
        T::Err: std::fmt::Display,
    {
        self.get(key).map(|v| v.parse::<T>().map_err(|e| ApiError::field(key, e.to_string()))).transpose()
    }

    pub fn bool(&self, key: &str) -> Result<Option<bool>, ApiError> {
        self.get(key)
            .map(|v| match v {
                "true" | "1" => Ok(true),
                "false" | "0" => Ok(false),
                _ => Err(ApiError::field(key, "must be true or false")),
            })
            .transpose()
    }
}

/// Parses an id from the path, naming the parameter when it is malformed.
pub fn path_id<T>(
    name: &str,
    raw: &str,
    parse: impl FnOnce(&str) -> Result<T, tlink_domain::IdError>,
) -> Result<T, ApiError> {
    parse(raw).map_err(|e| ApiError::field(name, e.to_string()))
}

/// The client's address: the socket peer, or behind a trusted proxy the address it forwarded for (see
/// `limits.trusted_proxies`); absent when the router is driven in-process.
pub struct ClientIp(pub Option<std::net::IpAddr>);

impl FromRequestParts<crate::AppState> for ClientIp {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &crate::AppState) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map(|axum::extract::ConnectInfo(addr)| addr.ip());
        Ok(ClientIp(peer.map(|p| state.limiter.client_ip(p, &parts.headers))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_names_come_from_path_and_message() {
        assert_eq!(field_of(".", "missing field `value`"), "value");
        assert_eq!(field_of("condition", "missing field `operator`"), "condition.operator");
        assert_eq!(field_of("type", "unknown variant `FOO`, expected one of `DOMAIN`"), "type");
        assert_eq!(field_of(".", "unknown field `labl`, expected one of `label`"), "labl");
        assert_eq!(field_of("color", "unknown field `color`, expected one of `label`"), "color");
        assert_eq!(field_of("condition.x", "unknown field `x`, expected `tool`"), "condition.x");
        assert_eq!(field_of(".", "invalid type: string, expected a map"), "body");
    }

    fn refused_field(body: &str) -> Option<String> {
        match check_body_text(body.as_bytes()) {
            Ok(()) => None,
            Err(ApiError::Validation { errors, .. }) => Some(errors[0].field.clone()),
            Err(e) => panic!("unexpected error {e:?}"),
        }
    }

    #[test]
    fn body_text_refuses_c0_controls_naming_the_field() {
        assert_eq!(refused_field(r#"{"label":"a\u0000b"}"#).as_deref(), Some("label"));
        assert_eq!(refused_field(r#"{"tags":[{"key":"k","value":"\u001f"}]}"#).as_deref(), Some("tags[0].value"));
        assert_eq!(refused_field(r#"{"a":{"b\u0001":1}}"#).as_deref(), Some("a"));
        assert_eq!(refused_field(r#""\u0007""#).as_deref(), Some("body"));
        // Tab, line feed and carriage return are text; an escaped backslash before `u0000` is not a NUL.
        assert_eq!(refused_field(r#"{"d":"a\tb\u000a\r\u0009"}"#), None);
        assert_eq!(refused_field(r#"{"d":"\\u0000"}"#), None);
        assert_eq!(refused_field(r#"{"d":"\u0020\u007f\u00e9"}"#), None);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "which its OpenAPI operation does not document")]
    fn reading_an_undocumented_parameter_stops_debug_builds() {
        let mut q = QueryMap::from_pairs([("status", "OPEN")]);
        q.documented = Some(Documented(vec!["limit".to_string()].into()));
        let _ = q.get("status");
    }

    #[test]
    fn documented_parameters_are_read_from_the_document() {
        let doc = crate::http::api::openapi();
        let docs = DocumentedQueries::from_openapi(&doc);
        let alerts = docs.get(&Method::GET, "/v2/alerts").expect("documented");
        assert!(alerts.contains("severity") && alerts.contains("token") && !alerts.contains("type"));
        let head = docs.get(&Method::HEAD, "/v2/alerts").expect("HEAD is served by GET");
        assert!(head.contains("severity"));
        assert!(docs.get(&Method::GET, "/v2/alerts/{id}").is_some_and(|d| d.0.is_empty()));
        assert!(docs.get(&Method::GET, "/metrics").is_none());
    }

    #[test]
    fn uris_refuse_every_control_naming_the_parameter() {
        let field = |uri: &str| match check_uri(&uri.parse().expect("uri")) {
            Ok(()) => None,
            Err(ApiError::Validation { errors, .. }) => Some(errors[0].field.clone()),
            Err(e) => panic!("unexpected error {e:?}"),
        };
        assert_eq!(field("/api/orgs/x/assets?q=a%00b").as_deref(), Some("q"));
        assert_eq!(field("/api/orgs/x/assets?limit=5&q=%09").as_deref(), Some("q"));
        assert_eq!(field("/v2/vulnerabilities/package/a%00").as_deref(), Some("path"));
        assert_eq!(field("/api/orgs/x/assets?q=caf%C3%A9&type=DOMAIN"), None);
        assert_eq!(field("/api/orgs/x/assets?q=a+b%20c"), None);
        assert_eq!(field("/v2/alerts/%FF").as_deref(), Some("path"), "not UTF-8");
        assert_eq!(field("/v2/vulnerabilities/package/caf%C3%A9"), None);
    }
}
