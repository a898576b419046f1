//! Calls to HTTP threat-intelligence providers, and how their outcome is recorded.
//!
//! A provider's section in a result always has a `status`:
//! - `ok`: the provider answered; its fields follow under the provider's own names
//!   (`abuseipdb.abuseConfidenceScore`), so rules read like the provider's documentation.
//! - `not_found`: the provider knows nothing of the target (HTTP 404, e.g. GreyNoise "not seen", HIBP "no breach").
//! - `not_configured`: no API key is configured; nothing was sent.
//! - `error`: with `error` (a message), and `httpStatus` / `retryAfter` (seconds) when the provider gave them.
//!
//! A failing provider never fails the run: the other sections still run.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use serde_json::{Map, Value, json};

use crate::Toolbox;
use crate::config::ProviderConfig;

/// What a provider call produced.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Ok(Value),
    NotFound,
    NotConfigured,
    Error { message: String, http_status: Option<u16>, retry_after: Option<u64> },
}

impl Outcome {
    /// The section as stored in a result: `status` first, then the provider's fields (`fields` picks and
    /// reshapes them from the JSON body; it runs only for `Ok`).
    pub fn into_section(self, fields: impl FnOnce(Value) -> Result<Map<String, Value>, String>) -> Value {
        match self {
            Outcome::Ok(body) => match fields(body) {
                Ok(map) => {
                    let mut out = Map::new();
                    out.insert("status".into(), "ok".into());
                    out.extend(map);
                    Value::Object(out)
                }
                Err(message) => json!({ "status": "error", "error": message }),
            },
            Outcome::NotFound => json!({ "status": "not_found" }),
            Outcome::NotConfigured => json!({ "status": "not_configured" }),
            Outcome::Error { message, http_status, retry_after } => {
                let mut out = Map::new();
                out.insert("status".into(), "error".into());
                out.insert("error".into(), message.into());
                if let Some(s) = http_status {
                    out.insert("httpStatus".into(), s.into());
                }
                if let Some(r) = retry_after {
                    out.insert("retryAfter".into(), r.into());
                }
                Value::Object(out)
            }
        }
    }
}

/// `GET {base_url}{path}` with `headers` (the key header among them) and `query`, expecting JSON.
/// `name` is the provider's name for messages. Never fails: every failure is an [`Outcome::Error`].
pub async fn get_json(
    tb: &Toolbox,
    name: &str,
    cfg: &ProviderConfig,
    path: &str,
    query: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> Outcome {
    if !cfg.is_configured() {
        return Outcome::NotConfigured;
    }
    let url = format!("{}{}", cfg.base_url.trim_end_matches('/'), path);
    let mut map = HeaderMap::new();
    map.insert(reqwest::header::ACCEPT, HeaderValue::from_static("application/json"));
    for (k, v) in headers {
        match (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(v)) {
            (Ok(k), Ok(mut v)) => {
                v.set_sensitive(true);
                map.insert(k, v);
            }
            _ => return error(format!("{name}: the configured key is not a valid header value"), None, None),
        }
    }
    let response = match tb.http().get(&url).query(query).headers(map).send().await {
        Ok(r) => r,
        Err(e) if e.is_timeout() => {
            return error(
                format!("{name}: no answer within {:?}", Duration::from_millis(tb.config().http_timeout_ms)),
                None,
                None,
            );
        }
        Err(e) => return error(format!("{name}: request failed: {}", root_cause(&e)), None, None),
    };
    let status = response.status();
    let retry_after =
        response.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(|s| s.trim().parse().ok());
    if status == reqwest::StatusCode::NOT_FOUND {
        return Outcome::NotFound;
    }
    let body = match response.bytes().await {
        Ok(b) => b,
        Err(e) => {
            return error(
                format!("{name}: reading the answer failed: {}", root_cause(&e)),
                Some(status.as_u16()),
                retry_after,
            );
        }
    };
    if !status.is_success() {
        let detail = provider_message(&body);
        let what = match status.as_u16() {
            401 | 403 => "the API key was refused",
            429 => "rate limited",
            s if s >= 500 => "provider error",
            _ => "unexpected answer",
        };
        let message = match detail {
            Some(d) => format!("{name}: {what} (HTTP {}): {d}", status.as_u16()),
            None => format!("{name}: {what} (HTTP {})", status.as_u16()),
        };
        return error(message, Some(status.as_u16()), retry_after);
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(v) => Outcome::Ok(v),
        Err(e) => error(format!("{name}: the answer is not valid JSON: {e}"), Some(status.as_u16()), None),
    }
}

fn error(message: String, http_status: Option<u16>, retry_after: Option<u64>) -> Outcome {
    Outcome::Error { message, http_status, retry_after }
}

/// The provider's own error text, from the usual shapes (`{"errors":[{"detail"}]}`, `{"error":{"message"}}`,
/// `{"message"}`), cut to a reasonable length.
fn provider_message(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let text = v
        .pointer("/errors/0/detail")
        .or_else(|| v.pointer("/error/message"))
        .or_else(|| v.pointer("/message"))
        .or_else(|| v.pointer("/detail"))
        .or_else(|| v.pointer("/error"))
        .and_then(Value::as_str)?;
    Some(text.chars().take(300).collect())
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    if std::ptr::eq(cur as *const _ as *const u8, e as *const _ as *const u8) {
        e.to_string()
    } else {
        format!("{e}: {cur}")
    }
}
