//! Webhook signing and one delivery attempt.
//!
//! # Signatures
//! Every delivery is signed twice, over the same body bytes, with the endpoint's [`WebhookSecret`]
//! (`whsec_` + standard base64 of 32 random bytes):
//!
//! - **Standard Webhooks 1.0**: headers `webhook-id` (the message id, the same on every retry: the receiver's
//!   idempotency key), `webhook-timestamp` (Unix seconds of this attempt) and `webhook-signature`
//!   (`v1,` + base64 of HMAC-SHA256 over `{webhook-id}.{webhook-timestamp}.{body}`, keyed with the
//!   base64-decoded part of the secret). Any Standard Webhooks library verifies it; by hand:
//!
//!   ```python
//!   import base64, hashlib, hmac, time
//!   key = base64.b64decode(secret.removeprefix("whsec_"))
//!   signed = f"{headers['webhook-id']}.{headers['webhook-timestamp']}.".encode() + body
//!   expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
//!   ok = any(hmac.compare_digest(s.removeprefix("v1,"), expected) for s in headers["webhook-signature"].split())
//!   ok = ok and abs(time.time() - int(headers["webhook-timestamp"])) < 300   # refuse replays
//!   ```
//!
//! - **`X-TLINK-Signature`** (the header receivers written for TLINK PRO already check): lowercase hex
//!   HMAC-SHA256 of the exact body, keyed with the secret's *full text* (`whsec_…` as UTF-8 bytes, not decoded),
//!   so that the shortest recipe works:
//!
//!   ```python
//!   import hashlib, hmac
//!   expected = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
//!   ok = hmac.compare_digest(expected, headers["X-TLINK-Signature"])
//!   ```
//!
//!   It signs no timestamp, so it does not stop a replayed request; receivers that care use the Standard
//!   Webhooks headers.
//!
//! # Delivery
//! [`Webhooks`] holds one HTTP client for every delivery, so connections to a receiver are pooled and reused.
//! Webhook URLs come from users, so the [`Egress`] policy applies exactly as to a tool's target:
//! the client resolves names with the toolbox's resolver and keeps only the addresses the policy allows, and
//! the connection is made to one of those very addresses (there is no second lookup). An IP-literal host is
//! checked before the request. Proxies from the environment are ignored (a proxy would hide the target from
//! the check), and redirects are not followed (a 3xx is a failure like any other non-2xx).
//!
//! One attempt gives an [`Attempt`]: `2xx` is [`Verdict::Delivered`]; `410 Gone` is [`Verdict::Gone`] (the
//! receiver asks to be disabled); an invalid URL or an address the egress policy refuses is [`Verdict::Refused`]
//! (no connection was made; trying again cannot help); every other status, a timeout or a connection failure is
//! [`Verdict::Retry`], to be tried again after [`Attempt::next_delay`] (see [`super::schedule`]).

use std::error::Error as StdError;
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use rand::RngCore;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_TYPE, HeaderValue, LOCATION, RETRY_AFTER};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use subtle::ConstantTimeEq;
use url::{Host, Url};

use super::schedule::retry_delay;
use crate::egress::describe;
use crate::{Egress, ToolError, Toolbox};

/// Timeout of one attempt, from connecting until the response excerpt is read.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(15);

/// Most of the response body kept in [`Attempt::response_excerpt`]; the rest is never downloaded.
pub const MAX_EXCERPT_BYTES: usize = 1024;

const SECRET_PREFIX: &str = "whsec_";

type HmacSha256 = Hmac<Sha256>;

/// The signing secret of a webhook endpoint: `whsec_` + standard base64 of 24 to 64 bytes.
///
/// `Debug` does not print it; [`WebhookSecret::as_str`] gives the text to store and to show its owner once.
#[derive(Clone)]
pub struct WebhookSecret {
    text: String,
    key: Vec<u8>,
}

/// Why a text is not a webhook secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SecretError(String);

impl WebhookSecret {
    /// A new secret of 32 random bytes from the operating system's generator.
    pub fn generate() -> WebhookSecret {
        let mut key = vec![0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut key);
        WebhookSecret { text: format!("{SECRET_PREFIX}{}", BASE64.encode(&key)), key }
    }

    /// # Errors
    /// [`SecretError`] when the text lacks the `whsec_` prefix, is not standard base64 after it, or does not
    /// hold 24 to 64 bytes.
    pub fn parse(text: &str) -> Result<WebhookSecret, SecretError> {
        let Some(encoded) = text.strip_prefix(SECRET_PREFIX) else {
            return Err(SecretError(format!("a webhook secret starts with `{SECRET_PREFIX}`")));
        };
        let key = BASE64
            .decode(encoded)
            .map_err(|_| SecretError(format!("the part of a webhook secret after `{SECRET_PREFIX}` is not base64")))?;
        if !(24..=64).contains(&key.len()) {
            return Err(SecretError(format!("a webhook secret holds 24 to 64 bytes, not {}", key.len())));
        }
        Ok(WebhookSecret { text: text.to_string(), key })
    }

    /// The secret's text, `whsec_…`.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

impl std::fmt::Debug for WebhookSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("WebhookSecret(whsec_<redacted>)")
    }
}

impl PartialEq for WebhookSecret {
    fn eq(&self, other: &Self) -> bool {
        self.text.as_bytes().ct_eq(other.text.as_bytes()).into()
    }
}

impl Eq for WebhookSecret {}

fn mac(key: &[u8]) -> HmacSha256 {
    match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable!("HMAC accepts keys of any length"),
    }
}

/// The `webhook-signature` value: `v1,` + base64 of HMAC-SHA256 over `{msg_id}.{timestamp_secs}.{body}`,
/// keyed with the decoded secret.
pub fn sign_standard(secret: &WebhookSecret, msg_id: &str, timestamp_secs: i64, body: &[u8]) -> String {
    let mut m = mac(&secret.key);
    m.update(msg_id.as_bytes());
    m.update(b".");
    m.update(timestamp_secs.to_string().as_bytes());
    m.update(b".");
    m.update(body);
    format!("v1,{}", BASE64.encode(m.finalize().into_bytes()))
}

/// The `X-TLINK-Signature` value: lowercase hex HMAC-SHA256 of `body`, keyed with the secret's full text.
pub fn sign_tlink(secret: &WebhookSecret, body: &[u8]) -> String {
    let mut m = mac(secret.text.as_bytes());
    m.update(body);
    hex::encode(m.finalize().into_bytes())
}

/// Whether one of the space-separated `v1,…` signatures in `header` signs the message (constant-time). The
/// timestamp's freshness is the caller's to check.
pub fn verify_standard(secret: &WebhookSecret, msg_id: &str, timestamp_secs: i64, body: &[u8], header: &str) -> bool {
    let expected = sign_standard(secret, msg_id, timestamp_secs, body);
    header.split(' ').filter(|s| s.starts_with("v1,")).fold(false, |found, s| {
        let same: bool = s.as_bytes().ct_eq(expected.as_bytes()).into();
        found | same
    })
}

/// Whether `header` is the `X-TLINK-Signature` of `body` (constant-time, hex in either case).
pub fn verify_tlink(secret: &WebhookSecret, body: &[u8], header: &str) -> bool {
    let expected = sign_tlink(secret, body);
    header.trim().to_ascii_lowercase().as_bytes().ct_eq(expected.as_bytes()).into()
}

/// One message to deliver.
#[derive(Debug, Clone, PartialEq)]
pub struct WebhookRequest {
    /// The receiver, `http` or `https`.
    pub url: String,
    /// The `webhook-id`: unique per message and the same on every attempt.
    pub msg_id: String,
    /// The exact JSON bytes sent and signed.
    pub body: Vec<u8>,
}

/// What to do after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// The receiver answered 2xx.
    Delivered,
    /// Another status, a timeout or a connection failure: try again later.
    Retry,
    /// The receiver answered 410 Gone: disable this webhook.
    Gone,
    /// The URL is invalid or the egress policy refuses its address; no connection was made. Do not retry.
    Refused,
}

impl Verdict {
    pub const fn as_str(self) -> &'static str {
        match self {
            Verdict::Delivered => "delivered",
            Verdict::Retry => "retry",
            Verdict::Gone => "gone",
            Verdict::Refused => "refused",
        }
    }
}

/// The record of one delivery attempt.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    /// The receiver's HTTP status, when it answered.
    pub status: Option<u16>,
    /// From the start of the attempt until the excerpt was read (or the failure).
    pub duration_ms: u64,
    /// The first [`MAX_EXCERPT_BYTES`] bytes of the response body at most, as lossy UTF-8; `None` when empty.
    pub response_excerpt: Option<String>,
    /// What went wrong: the status for a non-2xx answer, the cause of a timeout, connection or egress failure.
    pub error: Option<String>,
    /// The receiver's `Retry-After` (delta-seconds or HTTP-date; zero for a date in the past).
    pub retry_after: Option<Duration>,
    /// The attempt timed out (headers or body); with a 429 this makes the next wait at least 60 s.
    pub timed_out: bool,
    pub verdict: Verdict,
}

impl Attempt {
    /// Whether the next retry waits at least a minute: a timeout or a 429.
    pub fn is_slow(&self) -> bool {
        self.timed_out || self.status == Some(429)
    }

    /// When to try again after this attempt, the `attempts_made`-th (this one included), by
    /// [`retry_delay`]; `None` when the verdict is not [`Verdict::Retry`] or the attempts are exhausted.
    pub fn next_delay(&self, attempts_made: u32) -> Option<Duration> {
        if self.verdict != Verdict::Retry {
            return None;
        }
        retry_delay(attempts_made, self.retry_after, self.is_slow())
    }

    fn failed(started: Instant, verdict: Verdict, error: String, timed_out: bool) -> Attempt {
        Attempt {
            status: None,
            duration_ms: elapsed_ms(started),
            response_excerpt: None,
            error: Some(error),
            retry_after: None,
            timed_out,
            verdict,
        }
    }
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// Delivers webhooks: one pooled HTTP client bound to a toolbox's egress policy and resolver.
///
/// Build one per process (or per worker) with [`Webhooks::new`] and share it; cloning is cheap and clones share
/// the connection pool.
#[derive(Clone)]
pub struct Webhooks {
    client: reqwest::Client,
    egress: Egress,
    timeout: Duration,
}

impl Webhooks {
    /// A client with the toolbox's user agent and connect timeout, no redirects, no proxy, and a resolver
    /// that applies the toolbox's egress policy. The attempt timeout is [`DEFAULT_TIMEOUT`].
    ///
    /// # Errors
    /// [`ToolError::InvalidInput`] when the HTTP client cannot be built (e.g. an invalid user agent).
    pub fn new(toolbox: &Toolbox) -> Result<Webhooks, ToolError> {
        let config = toolbox.config();
        let client = reqwest::Client::builder()
            .user_agent(config.user_agent.clone())
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .connect_timeout(Duration::from_millis(config.connect_timeout_ms))
            .dns_resolver(EgressResolver { toolbox: toolbox.clone() })
            .build()
            .map_err(|e| ToolError::InvalidInput(format!("building the webhook HTTP client: {e}")))?;
        Ok(Webhooks { client, egress: toolbox.egress().clone(), timeout: DEFAULT_TIMEOUT })
    }

    /// The same client with another attempt timeout (connect, headers and excerpt together).
    pub fn with_timeout(mut self, timeout: Duration) -> Webhooks {
        self.timeout = timeout;
        self
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Makes one attempt: POSTs `req.body` to `req.url`, signed with `secret`, with `content-type:
    /// application/json`, `user-agent`, `webhook-id`, `webhook-timestamp` (now), `webhook-signature` and
    /// `X-TLINK-Signature`. Never fails: every outcome is an [`Attempt`].
    pub async fn deliver(&self, secret: &WebhookSecret, req: &WebhookRequest) -> Attempt {
        let started = Instant::now();
        let url = match target(&self.egress, req) {
            Ok(url) => url,
            Err(message) => {
                tracing::debug!(error = %message, "webhook refused");
                return Attempt::failed(started, Verdict::Refused, message, false);
            }
        };
        let host = url.host_str().unwrap_or_default().to_string();
        let timestamp = unix_now();
        let request = self
            .client
            .post(url)
            .timeout(self.timeout)
            .header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .header("webhook-id", req.msg_id.as_str())
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", sign_standard(secret, &req.msg_id, timestamp, &req.body))
            .header("x-tlink-signature", sign_tlink(secret, &req.body))
            .body(req.body.clone());

        let attempt = match request.send().await {
            Ok(response) => self.answered(started, response).await,
            Err(e) => self.send_failed(started, &e),
        };
        tracing::debug!(
            host = %host,
            status = attempt.status,
            duration_ms = attempt.duration_ms,
            verdict = attempt.verdict.as_str(),
            error = attempt.error.as_deref(),
            "webhook attempt"
        );
        attempt
    }

    async fn answered(&self, started: Instant, mut response: reqwest::Response) -> Attempt {
        let status = response.status();
        let retry_after = response.headers().get(RETRY_AFTER).and_then(|v| v.to_str().ok()).and_then(parse_retry_after);
        let location = response.headers().get(LOCATION).and_then(|v| v.to_str().ok()).map(str::to_string);
        let (bytes, read_error) = read_excerpt(&mut response).await;
        drop(response);
        let timed_out = read_error.as_ref().is_some_and(reqwest::Error::is_timeout);

        let (verdict, mut error) = if status.is_success() {
            (Verdict::Delivered, None)
        } else if status == StatusCode::GONE {
            (Verdict::Gone, Some(format!("{}: the receiver asks to disable this webhook", status_text(status))))
        } else if status.is_redirection() {
            let to = location.map(|l| format!(" to {l}")).unwrap_or_default();
            (Verdict::Retry, Some(format!("{}: redirect{to} not followed", status_text(status))))
        } else {
            (Verdict::Retry, Some(status_text(status)))
        };
        if let (Some(message), Some(e)) = (error.as_mut(), read_error) {
            let cause = if e.is_timeout() { format!("timed out after {:?}", self.timeout) } else { causes(&e) };
            message.push_str(&format!("; reading the answer: {cause}"));
        }
        Attempt {
            status: Some(status.as_u16()),
            duration_ms: elapsed_ms(started),
            response_excerpt: excerpt(&bytes),
            error,
            retry_after,
            timed_out,
            verdict,
        }
    }

    fn send_failed(&self, started: Instant, e: &reqwest::Error) -> Attempt {
        if let Some(refused) = find_source::<EgressRefused>(e) {
            return Attempt::failed(started, Verdict::Refused, refused.0.clone(), false);
        }
        if e.is_timeout() {
            return Attempt::failed(started, Verdict::Retry, format!("no answer within {:?}", self.timeout), true);
        }
        let what = if e.is_connect() { "connecting failed" } else { "the request failed" };
        Attempt::failed(started, Verdict::Retry, format!("{what}: {}", causes(e)), false)
    }
}

/// Validates a webhook URL when a rule is created or changed: an `http` or `https` URL with a host that
/// resolves (with the toolbox's resolvers) only to addresses the egress policy allows.
///
/// # Errors
/// A message for the API user naming the field and the reason, e.g. `webhookUrl resolves to 10.0.0.5, a
/// private address; refused by the egress policy`.
pub async fn check_url(toolbox: &Toolbox, url: &str) -> Result<(), String> {
    const FIELD: &str = "webhookUrl";
    let url = parse_url(url, FIELD)?;
    match url.host() {
        Some(Host::Ipv4(ip)) => check_literal(toolbox, IpAddr::V4(ip), FIELD),
        Some(Host::Ipv6(ip)) => check_literal(toolbox, IpAddr::V6(ip), FIELD),
        Some(Host::Domain(name)) => {
            let addrs = crate::dns::resolve_addresses(toolbox, name).await.map_err(|e| format!("{FIELD}: {e}"))?;
            if addrs.is_empty() {
                return Err(format!("{FIELD}: {name} has no address"));
            }
            match addrs.iter().find(|ip| !toolbox.egress().allows(**ip)) {
                Some(&ip) => Err(refusal(FIELD, "resolves to", ip)),
                None => Ok(()),
            }
        }
        None => Err(format!("{FIELD} has no host")),
    }
}

fn check_literal(toolbox: &Toolbox, ip: IpAddr, subject: &str) -> Result<(), String> {
    if toolbox.egress().allows(ip) { Ok(()) } else { Err(refusal(subject, "points to", ip)) }
}

/// `{subject} resolves to 10.0.0.5, a private address; refused by the egress policy`.
fn refusal(subject: &str, verb: &str, ip: IpAddr) -> String {
    format!("{subject} {verb} {ip}, {}; refused by the egress policy", describe(ip))
}

fn parse_url(raw: &str, subject: &str) -> Result<Url, String> {
    let url = match Url::parse(raw.trim()) {
        Ok(url) => url,
        Err(url::ParseError::EmptyHost) => return Err(format!("{subject} has no host")),
        Err(e) => return Err(format!("{subject} is not a valid URL: {e}")),
    };
    if !matches!(url.scheme(), "http" | "https") {
        return Err(format!("{subject} must be an http or https URL, not {}", url.scheme()));
    }
    if url.host().is_none_or(|h| matches!(h, Host::Domain(d) if d.is_empty())) {
        return Err(format!("{subject} has no host"));
    }
    if url.port() == Some(0) {
        return Err(format!("{subject}'s port must be 1-65535"));
    }
    Ok(url)
}

/// The URL to connect to, after the checks that need no lookup: syntax, scheme, an IP-literal host against
/// the egress policy (the resolver is not consulted for literals), and the message id as a header value.
fn target(egress: &Egress, req: &WebhookRequest) -> Result<Url, String> {
    const SUBJECT: &str = "the webhook URL";
    let url = parse_url(&req.url, SUBJECT)?;
    let literal = match url.host() {
        Some(Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
        Some(Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
        _ => None,
    };
    if let Some(ip) = literal
        && !egress.allows(ip)
    {
        return Err(refusal(SUBJECT, "points to", ip));
    }
    if req.msg_id.is_empty() || HeaderValue::from_str(&req.msg_id).is_err() {
        return Err("the webhook message id is empty or not a valid header value".to_string());
    }
    Ok(url)
}

fn unix_now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX)).unwrap_or(0)
}

/// At most [`MAX_EXCERPT_BYTES`] of the body; the rest is not read. A read error ends the excerpt.
async fn read_excerpt(response: &mut reqwest::Response) -> (Vec<u8>, Option<reqwest::Error>) {
    let mut buf = Vec::new();
    while buf.len() < MAX_EXCERPT_BYTES {
        match response.chunk().await {
            Ok(Some(chunk)) => {
                let take = chunk.len().min(MAX_EXCERPT_BYTES - buf.len());
                buf.extend_from_slice(&chunk[..take]);
            }
            Ok(None) => break,
            Err(e) => return (buf, Some(e)),
        }
    }
    (buf, None)
}

/// The excerpt as text: lossy UTF-8 without a character cut in half at the end, at most
/// [`MAX_EXCERPT_BYTES`] bytes; `None` when empty.
fn excerpt(bytes: &[u8]) -> Option<String> {
    let bytes = without_cut_char(bytes);
    if bytes.is_empty() {
        return None;
    }
    let mut text = String::from_utf8_lossy(bytes).into_owned();
    if text.len() > MAX_EXCERPT_BYTES {
        let mut end = MAX_EXCERPT_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    Some(text)
}

/// `bytes` without a trailing UTF-8 sequence that is incomplete.
fn without_cut_char(bytes: &[u8]) -> &[u8] {
    for back in 1..=bytes.len().min(3) {
        let b = bytes[bytes.len() - back];
        if b & 0xc0 == 0x80 {
            continue;
        }
        let len = match b {
            0xf0.. => 4,
            0xe0.. => 3,
            0xc0.. => 2,
            _ => 1,
        };
        return if len > back { &bytes[..bytes.len() - back] } else { bytes };
    }
    bytes
}

/// `Retry-After` as a duration: delta-seconds, or an HTTP-date (zero when past).
fn parse_retry_after(raw: &str) -> Option<Duration> {
    let raw = raw.trim();
    if let Ok(secs) = raw.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = httpdate::parse_http_date(raw).ok()?;
    Some(at.duration_since(SystemTime::now()).unwrap_or(Duration::ZERO))
}

fn status_text(status: StatusCode) -> String {
    match status.canonical_reason() {
        Some(reason) => format!("HTTP {} {reason}", status.as_u16()),
        None => format!("HTTP {}", status.as_u16()),
    }
}

/// The error's causes, without the top-level message (which carries the URL, possibly with a token in it).
fn causes(e: &(dyn StdError + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut cur = e.source();
    while let Some(err) = cur {
        let text = err.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        cur = err.source();
    }
    if parts.is_empty() { e.to_string() } else { parts.join(": ") }
}

fn find_source<'a, T: StdError + 'static>(e: &'a (dyn StdError + 'static)) -> Option<&'a T> {
    let mut cur: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(found) = err.downcast_ref::<T>() {
            return Some(found);
        }
        cur = err.source();
    }
    None
}

/// The egress policy refused every address of the URL's host (carried through the HTTP client's error chain).
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct EgressRefused(String);

/// The HTTP client's resolver: the toolbox's resolvers, then the egress policy. Only allowed addresses are
/// returned, so the client connects to nothing else.
struct EgressResolver {
    toolbox: Toolbox,
}

impl reqwest::dns::Resolve for EgressResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let toolbox = self.toolbox.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs = crate::dns::resolve_addresses(&toolbox, &host).await?;
            let Some(&first) = addrs.first() else {
                return Err(ToolError::Failed(format!("{host} has no address")).into());
            };
            let allowed: Vec<SocketAddr> =
                addrs.into_iter().filter(|ip| toolbox.egress().allows(*ip)).map(|ip| SocketAddr::new(ip, 0)).collect();
            if allowed.is_empty() {
                return Err(
                    EgressRefused(refusal(&format!("the webhook URL's host {host}"), "resolves to", first)).into()
                );
            }
            let addrs: reqwest::dns::Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_webhooks_test_vectors() {
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        assert_eq!(
            sign_standard(&secret, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, br#"{"test": 2432232314}"#),
            "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
        );
        let secret = WebhookSecret::parse("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD").unwrap();
        assert_eq!(
            sign_standard(
                &secret,
                "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
                1649367553,
                br#"{"email":"test@example.com","username":"test_user"}"#
            ),
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
        );
    }

    #[test]
    fn verifies_its_own_signatures_and_refuses_others() {
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let other = WebhookSecret::generate();
        let (id, ts, body) = ("msg_1", 1_700_000_000, br#"{"a":1}"#.as_slice());
        let sig = sign_standard(&secret, id, ts, body);
        assert!(verify_standard(&secret, id, ts, body, &sig));
        assert!(verify_standard(&secret, id, ts, body, &format!("{} {sig}", sign_standard(&other, id, ts, body))));
        assert!(!verify_standard(&secret, id, ts + 1, body, &sig));
        assert!(!verify_standard(&secret, "msg_2", ts, body, &sig));
        assert!(!verify_standard(&other, id, ts, body, &sig));
        assert!(!verify_standard(&secret, id, ts, body, ""));

        let tlink = sign_tlink(&secret, body);
        assert_eq!(tlink.len(), 64);
        assert!(tlink.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)), "{tlink}");
        assert!(verify_tlink(&secret, body, &tlink));
        assert!(verify_tlink(&secret, body, &tlink.to_uppercase()));
        assert!(!verify_tlink(&secret, b"{\"a\":2}", &tlink));
        assert!(!verify_tlink(&other, body, &tlink));
    }

    #[test]
    fn tlink_signature_is_keyed_with_the_secret_text() {
        // RFC 4231 test case 2 shape (key "Jefe"), with our key being the full secret text instead.
        let secret = WebhookSecret::parse("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw").unwrap();
        let mut m = mac(b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
        m.update(b"body");
        assert_eq!(sign_tlink(&secret, b"body"), hex::encode(m.finalize().into_bytes()));
        // And HMAC itself on RFC 4231 case 2, so the hex encoding is checked against a published value.
        let mut m = mac(b"Jefe");
        m.update(b"what do ya want for nothing?");
        assert_eq!(
            hex::encode(m.finalize().into_bytes()),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn secrets_generate_parse_and_hide() {
        let s = WebhookSecret::generate();
        assert!(s.as_str().starts_with("whsec_"));
        assert_eq!(BASE64.decode(&s.as_str()[6..]).unwrap().len(), 32);
        assert_eq!(WebhookSecret::parse(s.as_str()).unwrap(), s);
        assert_ne!(WebhookSecret::generate(), s);
        let shown = format!("{s:?}");
        assert!(!shown.contains(&s.as_str()[6..]), "{shown}");

        for (bad, why) in [
            ("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "starts with"),
            ("whsec_not base64!", "not base64"),
            ("whsec_AAAA", "24 to 64"),
            (&format!("whsec_{}", BASE64.encode([7u8; 65])), "24 to 64"),
        ] {
            let err = WebhookSecret::parse(bad).unwrap_err();
            assert!(err.to_string().contains(why), "{bad}: {err}");
        }
        assert!(WebhookSecret::parse(&format!("whsec_{}", BASE64.encode([7u8; 64]))).is_ok());
        assert!(WebhookSecret::parse(&format!("whsec_{}", BASE64.encode([7u8; 24]))).is_ok());
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        assert_eq!(parse_retry_after(" 7 "), Some(Duration::from_secs(7)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), Some(Duration::ZERO));
        let later = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(120));
        let d = parse_retry_after(&later).unwrap();
        assert!(d > Duration::from_secs(110) && d <= Duration::from_secs(120), "{d:?}");
        assert_eq!(parse_retry_after("soon"), None);
        assert_eq!(parse_retry_after("-5"), None);
    }

    #[test]
    fn excerpts_are_bounded_and_do_not_end_in_half_a_character() {
        assert_eq!(excerpt(b""), None);
        assert_eq!(excerpt(b"ok").as_deref(), Some("ok"));
        // "é" is two bytes; cut after its first byte.
        assert_eq!(excerpt(&[b'a', 0xc3]).as_deref(), Some("a"));
        assert_eq!(excerpt("aé".as_bytes()).as_deref(), Some("aé"));
        // "€" is three bytes.
        assert_eq!(excerpt(&"x€".as_bytes()[..3]).as_deref(), Some("x"));
        assert_eq!(excerpt(&[0xff, b'a']).as_deref(), Some("\u{fffd}a"));
        let many = vec![0xffu8; MAX_EXCERPT_BYTES];
        assert!(excerpt(&many).unwrap().len() <= MAX_EXCERPT_BYTES);
    }

    #[test]
    fn urls_are_checked_for_scheme_and_host() {
        assert!(parse_url("https://hooks.example.com/x?y=1", "webhookUrl").is_ok());
        assert_eq!(
            parse_url("ftp://example.com/", "webhookUrl").unwrap_err(),
            "webhookUrl must be an http or https URL, not ftp"
        );
        assert_eq!(parse_url("http://", "webhookUrl").unwrap_err(), "webhookUrl has no host");
        assert_eq!(
            parse_url("http://hooks.example.com:0/x", "webhookUrl").unwrap_err(),
            "webhookUrl's port must be 1-65535"
        );
        assert!(parse_url("not a url", "webhookUrl").unwrap_err().starts_with("webhookUrl is not a valid URL"));
        assert_eq!(
            refusal("webhookUrl", "resolves to", "10.0.0.5".parse().unwrap()),
            "webhookUrl resolves to 10.0.0.5, a private address; refused by the egress policy"
        );
        assert_eq!(
            refusal("webhookUrl", "points to", "fd00::1".parse().unwrap()),
            "webhookUrl points to fd00::1, a unique local address; refused by the egress policy"
        );
        assert!(refusal("x", "points to", "0.0.0.0".parse().unwrap()).contains("an unspecified address"));
    }

    #[test]
    fn literal_hosts_are_checked_before_any_request() {
        let strict = Egress::from_config(&crate::ToolsConfig::default()).unwrap();
        let req = |url: &str| WebhookRequest { url: url.into(), msg_id: "msg_1".into(), body: b"{}".to_vec() };
        for url in ["http://127.0.0.1:8080/", "http://[::1]/", "http://2130706433/", "http://[::ffff:10.0.0.1]/"] {
            let err = target(&strict, &req(url)).unwrap_err();
            assert!(err.contains("refused by the egress policy"), "{url}: {err}");
        }
        assert!(target(&strict, &req("https://8.8.8.8/hook")).is_ok());
        assert!(target(&strict, &req("https://hooks.example.com/")).is_ok(), "names are checked when resolved");
        let bad_id = WebhookRequest { msg_id: "a\nb".into(), ..req("https://8.8.8.8/") };
        assert!(target(&strict, &bad_id).unwrap_err().contains("message id"));
        assert!(target(&Egress::permissive(), &req("http://127.0.0.1/")).is_ok());
    }

    #[test]
    fn only_retry_verdicts_have_a_next_delay() {
        let a = Attempt {
            status: Some(500),
            duration_ms: 1,
            response_excerpt: None,
            error: None,
            retry_after: None,
            timed_out: false,
            verdict: Verdict::Retry,
        };
        assert!(a.next_delay(1).is_some_and(|d| d >= Duration::from_secs(4) && d <= Duration::from_secs(6)));
        assert_eq!(a.next_delay(8), None);
        let limited = Attempt { status: Some(429), retry_after: Some(Duration::from_secs(7)), ..a.clone() };
        assert!(limited.is_slow() && limited.next_delay(1).is_some_and(|d| d >= Duration::from_secs(60)));
        for verdict in [Verdict::Delivered, Verdict::Gone, Verdict::Refused] {
            assert_eq!(Attempt { verdict, ..a.clone() }.next_delay(1), None);
        }
    }
}
