//! Request extractors that turn bad input into clear envelope errors: JSON bodies (415 for a wrong
//! content type, 413 for an oversized body, 400 naming the field for malformed or mistyped JSON), query
//! strings, and ids in the path.

use std::collections::HashMap;
use std::str::FromStr;

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use crate::error::ApiError;

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

/// Deserialises a JSON document (and nothing after it), mapping errors to 400s that name the field.
pub fn parse_json<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
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

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !is_json(&req) {
            return Err(ApiError::UnsupportedMediaType("expected Content-Type: application/json".into()));
        }
        let bytes = Bytes::from_request(req, state).await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge("request body is too large".into())
            } else {
                ApiError::BadRequest(format!("could not read the request body: {}", e.body_text()))
            }
        })?;
        parse_json(&bytes).map(ApiJson)
    }
}

/// The query string as a map, with typed accessors that name the offending parameter.
#[derive(Debug, Default, Clone)]
pub struct QueryMap(pub HashMap<String, String>);

impl<S: Send + Sync> FromRequestParts<S> for QueryMap {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let q = parts.uri.query().unwrap_or("");
        let mut map = HashMap::new();
        for (k, v) in form_urlencoded::parse(q.as_bytes()).into_owned() {
            if map.insert(k.clone(), v).is_some() {
                return Err(ApiError::field(k, "given more than once"));
            }
        }
        Ok(QueryMap(map))
    }
}

impl QueryMap {
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).map(String::as_str).filter(|v| !v.is_empty())
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
}
