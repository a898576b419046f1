//! Calls to HTTP threat-intelligence providers, and how their outcome is recorded.
//!
//! A provider's section in a result always has a `status`:
//! - `ok`: the provider answered; its fields follow under the provider's own names
//!   (`abuseipdb.abuseConfidenceScore`), so rules read like the provider's documentation.
//! - `not_found`: the provider knows nothing of the target (HTTP 404, e.g. VirusTotal "NotFoundError",
//!   HIBP "no breach").
//! - `not_configured`: no API key is configured; nothing was sent.
//! - `not_applicable`: the provider does not take this kind of target (AbuseIPDB and a domain); nothing was sent.
//! - `error`: with `error` (a message naming the provider), and `httpStatus` / `retryAfter` (seconds) when the
//!   provider gave them.
//!
//! A failing provider never fails the run: the other sections still run. Answers are bounded
//! ([`MAX_BODY_BYTES`]) and every request is bounded by `tools.http_timeout_ms` (headers and body together).
//! Provider base URLs come from the operator's configuration and are not subject to the egress policy.

use std::time::Duration;

use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue, RETRY_AFTER};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::Toolbox;
use crate::config::ProviderConfig;

/// Largest provider answer read, bytes. A VirusTotal file report is the largest answer in practice (a few MB).
pub const MAX_BODY_BYTES: usize = 8 * 1024 * 1024;

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
    /// reshapes them from the JSON body; it runs only for `Ok`, and its `Err` is recorded as an `error` section).
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

/// The section of a provider that does not take the run's kind of target; nothing was sent.
pub fn not_applicable() -> Value {
    json!({ "status": "not_applicable" })
}

/// The status of a section (provider or local list).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SectionStatus {
    /// The source answered; its fields follow.
    Ok,
    /// The provider knows nothing of the target (HTTP 404).
    NotFound,
    /// No API key (or no local file) is configured; nothing was sent or read.
    NotConfigured,
    /// The source does not take this kind of target; nothing was sent.
    NotApplicable,
    /// The call failed; see `error`, `httpStatus` and `retryAfter`.
    Error,
}

/// The fields every provider section carries next to the provider's own (documents the section schema).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SectionState {
    pub status: SectionStatus,
    /// What went wrong, naming the provider (status `error` only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The provider's HTTP status, when it answered with an error status.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http_status: Option<u16>,
    /// Seconds to wait before asking again, from the provider's `Retry-After` (rate limiting).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

/// A JSON answer together with its HTTP status (see [`get_json_with_status`]).
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

/// `GET {base_url}{path}` with `headers` (the key header among them) and `query`, expecting JSON.
/// `name` is the provider's name for messages. `path` may carry a query string of its own (`/check?verbose`);
/// `query` pairs are appended to it. Never fails: every failure is an [`Outcome::Error`], a 404 is
/// [`Outcome::NotFound`].
pub async fn get_json(
    tb: &Toolbox,
    name: &str,
    cfg: &ProviderConfig,
    path: &str,
    query: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> Outcome {
    match fetch(tb, name, cfg, path, query, headers, false).await {
        Ok(answer) => Outcome::Ok(answer.body),
        Err(outcome) => outcome,
    }
}

/// As [`get_json`], for providers whose 404 carries an answer (GreyNoise "not seen" with the IP's details):
/// a 404 whose body is a JSON object is returned as an [`Answer`] with `status` 404; a 404 without one is
/// `Err(Outcome::NotFound)`. Every other failure is `Err(Outcome::…)` as with [`get_json`].
pub async fn get_json_with_status(
    tb: &Toolbox,
    name: &str,
    cfg: &ProviderConfig,
    path: &str,
    query: &[(&str, &str)],
    headers: &[(&str, &str)],
) -> Result<Answer, Outcome> {
    fetch(tb, name, cfg, path, query, headers, true).await
}

async fn fetch(
    tb: &Toolbox,
    name: &str,
    cfg: &ProviderConfig,
    path: &str,
    query: &[(&str, &str)],
    headers: &[(&str, &str)],
    keep_not_found: bool,
) -> Result<Answer, Outcome> {
    if !cfg.is_configured() {
        return Err(Outcome::NotConfigured);
    }
    let base = cfg.base_url.trim().trim_end_matches('/');
    if base.is_empty() {
        return Err(error(format!("{name}: no base_url is configured"), None, None));
    }
    let url = format!("{base}{path}");
    let mut map = HeaderMap::new();
    map.insert(reqwest::header::ACCEPT, HeaderValue::from_static("application/json"));
    for (k, v) in headers {
        match (HeaderName::from_bytes(k.as_bytes()), HeaderValue::from_str(v)) {
            (Ok(k), Ok(mut v)) => {
                v.set_sensitive(true);
                map.insert(k, v);
            }
            _ => return Err(error(format!("{name}: the configured key is not a valid header value"), None, None)),
        }
    }
    let timeout = Duration::from_millis(tb.config().http_timeout_ms);
    let mut response = match tb.http().get(&url).query(query).headers(map).send().await {
        Ok(r) => r,
        Err(e) if e.is_timeout() => return Err(error(format!("{name}: no answer within {timeout:?}"), None, None)),
        Err(e) if e.is_builder() => {
            return Err(error(format!("{name}: invalid request URL (check base_url): {}", root_cause(&e)), None, None));
        }
        Err(e) => return Err(error(format!("{name}: request failed: {}", root_cause(&e)), None, None)),
    };
    let status = response.status();
    let retry_after = response.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(parse_retry_after);
    if status == StatusCode::NOT_FOUND && !keep_not_found {
        return Err(Outcome::NotFound);
    }
    let body = match read_body(&mut response).await {
        Ok(b) => b,
        Err(BodyError::TooLarge) => {
            return Err(error(
                format!("{name}: the answer is larger than {MAX_BODY_BYTES} bytes"),
                Some(status.as_u16()),
                retry_after,
            ));
        }
        Err(BodyError::Read(e)) if e.is_timeout() => {
            return Err(error(
                format!("{name}: the answer did not complete within {timeout:?}"),
                Some(status.as_u16()),
                retry_after,
            ));
        }
        Err(BodyError::Read(e)) => {
            return Err(error(
                format!("{name}: reading the answer failed: {}", root_cause(&e)),
                Some(status.as_u16()),
                retry_after,
            ));
        }
    };
    if status == StatusCode::NOT_FOUND {
        return match serde_json::from_slice::<Value>(&body) {
            Ok(v @ Value::Object(_)) => Ok(Answer { status: status.as_u16(), body: v }),
            _ => Err(Outcome::NotFound),
        };
    }
    if !status.is_success() {
        let what = match status.as_u16() {
            401 | 403 => "the API key was refused".to_string(),
            429 => match retry_after {
                Some(s) => format!("rate limited, retry after {s} s"),
                None => "rate limited".to_string(),
            },
            s if s >= 500 => "provider error".to_string(),
            _ => "unexpected answer".to_string(),
        };
        let message = match provider_message(&body) {
            Some(d) => format!("{name}: {what} (HTTP {}): {d}", status.as_u16()),
            None => format!("{name}: {what} (HTTP {})", status.as_u16()),
        };
        return Err(error(message, Some(status.as_u16()), retry_after));
    }
    match serde_json::from_slice::<Value>(&body) {
        Ok(v) => Ok(Answer { status: status.as_u16(), body: v }),
        Err(e) => Err(error(format!("{name}: the answer is not valid JSON: {e}"), Some(status.as_u16()), None)),
    }
}

enum BodyError {
    TooLarge,
    Read(reqwest::Error),
}

/// The body, at most [`MAX_BODY_BYTES`] of it.
async fn read_body(response: &mut reqwest::Response) -> Result<Vec<u8>, BodyError> {
    if response.content_length().is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(BodyError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Read)? {
        if body.len() + chunk.len() > MAX_BODY_BYTES {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

/// `Retry-After` as seconds: delta-seconds, or an HTTP date (seconds from now, 0 when past).
fn parse_retry_after(raw: &str) -> Option<u64> {
    let raw = raw.trim();
    if let Ok(secs) = raw.parse::<u64>() {
        return Some(secs);
    }
    let at = chrono::DateTime::parse_from_rfc2822(raw).ok()?;
    let secs = (at.with_timezone(&chrono::Utc) - chrono::Utc::now()).num_seconds();
    Some(u64::try_from(secs).unwrap_or(0))
}

fn error(message: String, http_status: Option<u16>, retry_after: Option<u64>) -> Outcome {
    Outcome::Error { message, http_status, retry_after }
}

/// The provider's own error text, from the usual shapes (`{"errors":[{"detail"}]}` (AbuseIPDB),
/// `{"error":{"code","message"}}` (VirusTotal), `{"message"}` (GreyNoise), `{"detail"}` (OTX)), or a short
/// plain-text body; cut to a reasonable length.
fn provider_message(body: &[u8]) -> Option<String> {
    let text = match serde_json::from_slice::<Value>(body) {
        Ok(v) => {
            let text = v
                .pointer("/errors/0/detail")
                .or_else(|| v.pointer("/error/message"))
                .or_else(|| v.pointer("/message"))
                .or_else(|| v.pointer("/detail"))
                .or_else(|| v.pointer("/error"))
                .and_then(Value::as_str)?;
            match v.pointer("/error/code").and_then(Value::as_str) {
                Some(code) if v.pointer("/error/message").is_some() => format!("{code}: {text}"),
                _ => text.to_string(),
            }
        }
        Err(_) => {
            // A proxy's or server's plain-text error page; HTML and long bodies are not worth quoting.
            let text = std::str::from_utf8(body).ok()?.trim();
            if text.is_empty() || text.starts_with('<') || text.len() > 300 {
                return None;
            }
            text.split_whitespace().collect::<Vec<_>>().join(" ")
        }
    };
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

/// Percent-encodes `s` as one URL path segment: everything but RFC 3986 unreserved characters is encoded
/// (so a URL target's `/`, `?` and `#` stay inside the segment).
pub fn path_segment(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

/// Unpadded URL-safe base64 (RFC 4648 §5), as VirusTotal uses for URL identifiers.
pub fn base64_url_unpadded(data: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], chunk.get(1).copied().unwrap_or(0), chunk.get(2).copied().unwrap_or(0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            let idx = (n >> (18 - 6 * i)) & 0x3f;
            out.push(char::from(ALPHABET[idx as usize]));
        }
    }
    out
}

/// Reads `body` as `T` (a provider's documented shape); the error names the provider and what did not fit.
pub fn decode<T: serde::de::DeserializeOwned>(name: &str, body: Value) -> Result<T, String> {
    serde_json::from_value(body).map_err(|e| format!("{name}: the answer does not have the documented shape: {e}"))
}

/// For `#[serde(deserialize_with)]`: a provider's `null` read as the field's default (an empty list, `false`).
pub fn null_as_default<'de, D, T>(deserializer: D) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Default + serde::Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(deserializer)?.unwrap_or_default())
}

/// `value` (a struct of provider fields) as the map of a section.
pub fn to_fields<T: Serialize>(name: &str, value: &T) -> Result<Map<String, Value>, String> {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(format!("{name}: internal error: section is not an object")),
        Err(e) => Err(format!("{name}: internal error: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_url_matches_rfc4648_vectors() {
        // RFC 4648 §10 vectors (no padding), and a URL whose standard encoding contains `/` → `_`.
        for (input, want) in
            [("", ""), ("f", "Zg"), ("fo", "Zm8"), ("foo", "Zm9v"), ("foob", "Zm9vYg"), ("fooba", "Zm9vYmE")]
        {
            assert_eq!(base64_url_unpadded(input.as_bytes()), want);
        }
        assert_eq!(base64_url_unpadded(b"http://example.com/malware?x=1"), "aHR0cDovL2V4YW1wbGUuY29tL21hbHdhcmU_eD0x");
        assert_eq!(base64_url_unpadded(&[0xfb, 0xff]), "-_8");
    }

    #[test]
    fn path_segment_keeps_the_value_in_one_segment() {
        assert_eq!(path_segment("http://a.example/x?y=1#z"), "http%3A%2F%2Fa.example%2Fx%3Fy%3D1%23z");
        assert_eq!(path_segment("2001:db8::1"), "2001%3Adb8%3A%3A1");
        assert_eq!(path_segment("evil-site.example_1~"), "evil-site.example_1~");
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(parse_retry_after(" 30 "), Some(30));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(0));
        assert_eq!(parse_retry_after("soon"), None);
    }

    #[test]
    fn provider_messages_from_each_shape() {
        let m = |s: &str| provider_message(s.as_bytes());
        assert_eq!(
            m(r#"{"errors":[{"detail":"Authentication failed.","status":401}]}"#).as_deref(),
            Some("Authentication failed.")
        );
        assert_eq!(
            m(r#"{"error":{"code":"WrongCredentialsError","message":"Wrong API key"}}"#).as_deref(),
            Some("WrongCredentialsError: Wrong API key")
        );
        assert_eq!(m(r#"{"detail":"Invalid API key"}"#).as_deref(), Some("Invalid API key"));
        assert_eq!(m("upstream connect error\n").as_deref(), Some("upstream connect error"));
        assert_eq!(m("<html><body>502</body></html>"), None);
    }
}
