//! Hawk HTTP authentication (protocol version 1), as pure functions.
//!
//! This module exists because the `/v2` API accepts requests signed the way
//! Threat Stack's clients sign them: Hawk with SHA-256, the API key as the
//! HMAC key and the organisation id in `ext`. Hawk is byte-exact — a MAC only
//! matches when every line of the normalized string is built exactly as the
//! reference implementation (`mozilla/hawk`, whose `lib/` is the protocol's
//! specification) builds it — so those rules live here, away from HTTP,
//! clocks and storage, where the reference's own test vectors pin them down.
//!
//! What is not pure stays with the caller: looking up the key by id, reading
//! the clock, remembering nonces, and choosing the host and port (taken from
//! the `Host` header, or configured explicitly behind a TLS-terminating proxy).
//!
//! A server follows the reference's order of checks:
//!
//! 1. [`parse_authorization`] — a [`ParseError`] that
//!    [is a bad request](ParseError::is_bad_request) is a 400, otherwise a 401
//!    with [`WWW_AUTHENTICATE_MISSING`];
//! 2. look up the key for [`Header::id`] (401 "Unknown credentials");
//! 3. compare [`mac`] of [`Kind::Header`] over [`Header::artifacts`] with
//!    [`Header::mac`] using [`constant_time_eq`] (401 "Bad mac");
//! 4. when a body was sent, require [`Header::hash`] and compare it with
//!    [`payload_hash`] (401 "Missing required payload hash" / "Bad payload
//!    hash");
//! 5. reject a nonce already seen for this key (401 "Invalid nonce");
//! 6. [`timestamp_is_fresh`], otherwise 401 with [`www_authenticate_stale`].
//!
//! Every 401 carries a `WWW-Authenticate` header from [`www_authenticate`].
//! A response to an authenticated request is signed with [`mac`] of
//! [`Kind::Response`] over the request's artifacts, with the response's
//! payload hash and ext, and sent in [`server_authorization`].
//!
//! Only SHA-256 is supported: it is the only algorithm Threat Stack's clients
//! use, and the reference's other one (SHA-1) adds nothing but risk.

use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac as _};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

/// The longest `Authorization` value accepted, in UTF-16 code units as the
/// reference counts them; longer values are a bad request.
pub const MAX_HEADER_LENGTH: usize = 4096;

/// The reference's default allowed clock skew, in seconds, either way.
pub const DEFAULT_TIMESTAMP_SKEW_SECS: i64 = 60;

/// The `WWW-Authenticate` value for a request without Hawk credentials (no
/// `Authorization` header, or another scheme): the scheme alone, no `error`.
pub const WWW_AUTHENTICATE_MISSING: &str = "Hawk";

/// Attribute names allowed in a request header, in the order of the slots
/// [`parse_attributes`] fills.
const ATTRIBUTE_NAMES: [&str; 8] = ["id", "ts", "nonce", "hash", "ext", "mac", "app", "dlg"];

/// A parsed `Authorization: Hawk …` request header.
///
/// Every value is non-empty and made only of the characters a Hawk attribute
/// may carry (printable ASCII except `"` and `\`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Header {
    /// The credentials id (for Threat Stack clients, the user id).
    pub id: String,
    /// The client's timestamp, in seconds since the Unix epoch, as sent.
    pub ts: String,
    /// A client-chosen value never to be reused with the same key and ts.
    pub nonce: String,
    /// The client's base64 HMAC-SHA256 over the normalized request.
    pub mac: String,
    /// The client's payload hash, when it signed the body.
    pub hash: Option<String>,
    /// Application data covered by the MAC (for Threat Stack clients, the
    /// organisation id).
    pub ext: Option<String>,
    /// Oz application id.
    pub app: Option<String>,
    /// Oz delegating application id; only signed when `app` is present.
    pub dlg: Option<String>,
}

impl Header {
    /// The artifacts this header's MAC covers, for a request with the given
    /// method, resource (path and query exactly as sent), host and port.
    #[must_use]
    pub fn artifacts<'a>(&'a self, method: &'a str, resource: &'a str, host: &'a str, port: u16) -> Artifacts<'a> {
        Artifacts {
            method,
            resource,
            host,
            port,
            ts: &self.ts,
            nonce: &self.nonce,
            hash: self.hash.as_deref(),
            ext: self.ext.as_deref(),
            app: self.app.as_deref(),
            dlg: self.dlg.as_deref(),
        }
    }
}

impl FromStr for Header {
    type Err = ParseError;

    fn from_str(value: &str) -> Result<Self, Self::Err> {
        parse_authorization(value)
    }
}

/// Why an `Authorization` value is not an acceptable Hawk header.
///
/// The messages are the reference's, so clients see the errors they expect.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// The value is empty.
    #[error("Missing authentication")]
    MissingAuthentication,
    /// The scheme is not `Hawk` (compared case-insensitively).
    #[error("Unsupported scheme")]
    UnsupportedScheme,
    /// The value is longer than [`MAX_HEADER_LENGTH`].
    #[error("Header length too long")]
    TooLong,
    /// No `scheme attributes` shape, or no attributes at all.
    #[error("Invalid header syntax")]
    InvalidSyntax,
    /// An attribute other than `id ts nonce hash ext mac app dlg`.
    #[error("Unknown attribute: {0}")]
    UnknownAttribute(String),
    /// An empty value, or one with a character an attribute may not carry.
    #[error("Bad attribute value: {0}")]
    BadAttributeValue(&'static str),
    /// The same attribute given twice.
    #[error("Duplicate attribute: {0}")]
    DuplicateAttribute(&'static str),
    /// Text that is not a `name="value"` attribute, such as a missing comma
    /// or a backslash inside a value.
    #[error("Bad header format")]
    BadFormat,
    /// One of `id`, `ts`, `nonce` or `mac` is absent.
    #[error("Missing attributes")]
    MissingAttributes,
}

impl ParseError {
    /// Whether the reference answers this with 400 Bad Request. The others
    /// ([`MissingAuthentication`](Self::MissingAuthentication) and
    /// [`UnsupportedScheme`](Self::UnsupportedScheme)) mean "no Hawk
    /// credentials": 401 with [`WWW_AUTHENTICATE_MISSING`], so that another
    /// scheme may be tried.
    #[must_use]
    pub const fn is_bad_request(&self) -> bool {
        !matches!(self, Self::MissingAuthentication | Self::UnsupportedScheme)
    }
}

/// A header value could not be built because an attribute's value holds a
/// character a Hawk attribute cannot carry (for `ext` in a response: anything
/// but printable ASCII; elsewhere also `"` and `\`), or a required value is
/// empty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("Bad attribute value: {attribute}")]
pub struct HeaderValueError {
    attribute: &'static str,
}

impl HeaderValueError {
    /// The attribute whose value was refused, e.g. `"ext"`.
    #[must_use]
    pub const fn attribute(&self) -> &'static str {
        self.attribute
    }
}

/// What a MAC is computed for; it names the first line of the normalized
/// string (`hawk.1.<kind>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// A request's `Authorization` header.
    Header,
    /// A response's `Server-Authorization` header.
    Response,
    /// A bewit (a pre-signed URL), with the expiry as ts and an empty nonce.
    Bewit,
}

impl Kind {
    /// The name used in the normalized string, e.g. `"header"`.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Kind::Header => "header",
            Kind::Response => "response",
            Kind::Bewit => "bewit",
        }
    }
}

/// Everything a Hawk MAC covers.
///
/// For a response, use the request's values with the response's `hash` and
/// `ext`: `Artifacts { hash: Some(&h), ext: None, ..request }`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Artifacts<'a> {
    /// The HTTP method; upper-cased when normalized.
    pub method: &'a str,
    /// The request path, then `?` and the query when there is one, exactly as
    /// sent (origin form; not decoded, not re-ordered).
    pub resource: &'a str,
    /// The host the client addressed; lower-cased when normalized.
    pub host: &'a str,
    /// The port the client addressed (443 for TLS, 80 otherwise, when the
    /// `Host` header names none).
    pub port: u16,
    /// The timestamp as sent (for a bewit, its expiry).
    pub ts: &'a str,
    /// The nonce as sent (empty for a bewit).
    pub nonce: &'a str,
    /// The payload hash, if any; empty counts as absent.
    pub hash: Option<&'a str>,
    /// Application data, if any; empty counts as absent.
    pub ext: Option<&'a str>,
    /// Oz application id, if any; empty counts as absent.
    pub app: Option<&'a str>,
    /// Oz delegating application id; only signed when `app` is present.
    pub dlg: Option<&'a str>,
}

/// Parses an `Authorization` header value the way the reference does.
///
/// The scheme must be `Hawk` (any case), followed by whitespace and
/// comma-separated `name="value"` attributes. Only `id ts nonce hash ext mac
/// app dlg` are allowed, each at most once, with a non-empty value of
/// printable ASCII other than `"` and `\`; `id`, `ts`, `nonce` and `mac` are
/// required. When several attributes are wrong, the error names the last one,
/// as the reference's does.
///
/// # Errors
///
/// A [`ParseError`] carrying the reference's message; see
/// [`ParseError::is_bad_request`] for the status to answer with.
pub fn parse_authorization(value: &str) -> Result<Header, ParseError> {
    if value.is_empty() {
        return Err(ParseError::MissingAuthentication);
    }
    if value.encode_utf16().nth(MAX_HEADER_LENGTH).is_some() {
        return Err(ParseError::TooLong);
    }
    let (scheme, attributes) = split_scheme(value).ok_or(ParseError::InvalidSyntax)?;
    if !scheme.eq_ignore_ascii_case("hawk") {
        return Err(ParseError::UnsupportedScheme);
    }
    if attributes.is_empty() {
        return Err(ParseError::InvalidSyntax);
    }
    let [id, ts, nonce, hash, ext, mac, app, dlg] = parse_attributes(attributes)?;
    let (Some(id), Some(ts), Some(nonce), Some(mac)) = (id, ts, nonce, mac) else {
        return Err(ParseError::MissingAttributes);
    };
    Ok(Header {
        id: id.to_owned(),
        ts: ts.to_owned(),
        nonce: nonce.to_owned(),
        mac: mac.to_owned(),
        hash: hash.map(str::to_owned),
        ext: ext.map(str::to_owned),
        app: app.map(str::to_owned),
        dlg: dlg.map(str::to_owned),
    })
}

/// The reference's `^(\w+)(?:\s+(.*))?$`, with JavaScript's `\s` and `.`:
/// the scheme, and the attributes after the whitespace that follows it
/// (empty when there are none). `None` when the value has another shape.
fn split_scheme(value: &str) -> Option<(&str, &str)> {
    let end = word_len(value);
    if end == 0 {
        return None;
    }
    let (scheme, rest) = value.split_at(end);
    if rest.is_empty() {
        return Some((scheme, ""));
    }
    let attributes = rest.trim_start_matches(is_js_whitespace);
    if attributes.len() == rest.len() || attributes.contains(is_js_line_terminator) {
        return None;
    }
    Some((scheme, attributes))
}

/// Emulates the reference's global replace of
/// `(\w+)="([^"\\]*)"\s*(?:,\s*|$)`: attributes are matched left to right,
/// and anything between matches, or any attribute refused, fails the whole
/// header with the last refusal's message (or "Bad header format").
fn parse_attributes(attributes: &str) -> Result<[Option<&str>; 8], ParseError> {
    let mut values = [None; 8];
    let mut rejected = false;
    let mut last_error = None;
    let mut rest = attributes;
    while let Some(first) = rest.chars().next() {
        if let Some(attribute) = match_attribute(rest) {
            if let Err(error) = accept(attribute.name, attribute.value, &mut values) {
                last_error = Some(error);
                rejected = true;
            }
            rest = &rest[attribute.len..];
        } else {
            // A match attempted inside the same run of word characters would
            // see the same `="…"` after the run, and fail the same way.
            rejected = true;
            let skip = word_len(rest).max(first.len_utf8());
            rest = &rest[skip..];
        }
    }
    if rejected { Err(last_error.unwrap_or(ParseError::BadFormat)) } else { Ok(values) }
}

/// One `name="value"` match, `len` bytes long including the separator.
struct AttributeMatch<'a> {
    name: &'a str,
    value: &'a str,
    len: usize,
}

/// The attribute regex anchored at the start of `s`.
fn match_attribute(s: &str) -> Option<AttributeMatch<'_>> {
    let name_len = word_len(s);
    if name_len == 0 {
        return None;
    }
    let quoted = s[name_len..].strip_prefix("=\"")?;
    let value_len = quoted.find(['"', '\\'])?;
    let after_value = quoted[value_len..].strip_prefix('"')?;
    let after_space = after_value.trim_start_matches(is_js_whitespace);
    let rest = if after_space.is_empty() {
        after_space
    } else {
        after_space.strip_prefix(',')?.trim_start_matches(is_js_whitespace)
    };
    Some(AttributeMatch { name: &s[..name_len], value: &quoted[..value_len], len: s.len() - rest.len() })
}

/// The reference's checks on one matched attribute, in its order.
fn accept<'a>(name: &str, value: &'a str, values: &mut [Option<&'a str>; 8]) -> Result<(), ParseError> {
    let Some(slot) = ATTRIBUTE_NAMES.iter().position(|known| *known == name) else {
        return Err(ParseError::UnknownAttribute(name.to_owned()));
    };
    let name = ATTRIBUTE_NAMES[slot];
    if !is_attribute_value(value) {
        return Err(ParseError::BadAttributeValue(name));
    }
    if values[slot].is_some() {
        return Err(ParseError::DuplicateAttribute(name));
    }
    values[slot] = Some(value);
    Ok(())
}

/// The normalized string a MAC of `kind` is computed over.
///
/// The method is upper-cased and the host lower-cased; in `ext`, `\` becomes
/// `\\` and a newline `\n`, so that `ext` cannot forge the lines after it.
/// The `app` and `dlg` lines are present only when `app` is.
#[must_use]
pub fn normalized(kind: Kind, a: &Artifacts<'_>) -> String {
    let port = a.port.to_string();
    let method = a.method.to_uppercase();
    let host = a.host.to_lowercase();
    let ext = a.ext.map(escape_ext).unwrap_or_default();
    let mut lines: Vec<&str> = vec![
        "hawk.1.",
        kind.as_str(),
        "\n",
        a.ts,
        "\n",
        a.nonce,
        "\n",
        &method,
        "\n",
        a.resource,
        "\n",
        &host,
        "\n",
        &port,
        "\n",
        a.hash.unwrap_or(""),
        "\n",
        &ext,
        "\n",
    ];
    if let Some(app) = a.app.filter(|app| !app.is_empty()) {
        lines.extend([app, "\n", a.dlg.unwrap_or(""), "\n"]);
    }
    lines.concat()
}

/// Escapes `ext` for the normalized string: `\` as `\\`, newline as `\n`.
fn escape_ext(ext: &str) -> String {
    ext.replace('\\', "\\\\").replace('\n', "\\n")
}

/// The base64 (standard, padded) HMAC-SHA256 of [`normalized`]`(kind, a)`
/// under `key` (for Threat Stack clients, the API key's bytes).
#[must_use]
pub fn mac(key: &[u8], kind: Kind, a: &Artifacts<'_>) -> String {
    hmac_base64(key, normalized(kind, a).as_bytes())
}

/// The Hawk payload hash of `body` sent as `content_type`: base64 SHA-256 of
/// `hawk.1.payload\n<type>\n<body>\n`, where the type is lower-cased, stripped
/// of its parameters (everything from the first `;`) and trimmed.
#[must_use]
pub fn payload_hash(content_type: &str, body: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(b"hawk.1.payload\n");
    hasher.update(media_type(content_type).as_bytes());
    hasher.update(b"\n");
    hasher.update(body);
    hasher.update(b"\n");
    BASE64.encode(hasher.finalize())
}

/// The reference's `parseContentType`.
fn media_type(content_type: &str) -> String {
    let media_type = content_type.split_once(';').map_or(content_type, |(media_type, _)| media_type);
    media_type.trim_matches(is_js_whitespace).to_lowercase()
}

/// The base64 HMAC-SHA256 of `hawk.1.ts\n<ts>\n` under `key`: the `tsm` that
/// lets a client trust the server time sent with a stale-timestamp error.
#[must_use]
pub fn ts_mac(key: &[u8], ts: i64) -> String {
    hmac_base64(key, format!("hawk.1.ts\n{ts}\n").as_bytes())
}

/// Whether the request timestamp `ts` (seconds, as sent) is within
/// `skew_secs` of `now_ms` (milliseconds since the Unix epoch), compared in
/// milliseconds as the reference does.
///
/// A `ts` that is not an integer is never fresh, so the client is answered
/// with the server time (the reference coerces it with JavaScript's
/// `Number`, and lets a non-numeric one through).
#[must_use]
pub fn timestamp_is_fresh(ts: &str, now_ms: i64, skew_secs: i64) -> bool {
    let Some(ts_ms) = ts.parse::<i64>().ok().and_then(|ts| ts.checked_mul(1000)) else {
        return false;
    };
    ts_ms.abs_diff(now_ms) <= skew_secs.unsigned_abs().saturating_mul(1000)
}

/// Compares two MACs or hashes in time independent of where they differ.
#[must_use]
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

/// The `Server-Authorization` value for a signed response:
/// `Hawk mac="…", hash="…", ext="…"`, without `hash` or `ext` when absent or
/// empty. `mac` is [`mac`] of [`Kind::Response`]; in `ext`, `\` and `"` are
/// escaped with a backslash, as the reference does.
///
/// # Errors
///
/// [`HeaderValueError`] when `ext` holds anything but printable ASCII, or
/// `mac` or `hash` anything an attribute cannot carry (the reference refuses
/// these too).
pub fn server_authorization(mac: &str, hash: Option<&str>, ext: Option<&str>) -> Result<String, HeaderValueError> {
    let mut out = format!("Hawk mac=\"{}\"", attribute_value("mac", mac)?);
    if let Some(hash) = hash.filter(|hash| !hash.is_empty()) {
        out.push_str(&format!(", hash=\"{}\"", attribute_value("hash", hash)?));
    }
    if let Some(ext) = ext.filter(|ext| !ext.is_empty()) {
        if !ext.chars().all(|c| c.is_ascii_graphic() || c == ' ') {
            return Err(HeaderValueError { attribute: "ext" });
        }
        let escaped = ext.replace('\\', "\\\\").replace('"', "\\\"");
        out.push_str(&format!(", ext=\"{escaped}\""));
    }
    Ok(out)
}

/// The `WWW-Authenticate` value for a 401 with a reason:
/// `Hawk error="<error>"`.
///
/// `\` and `"` are escaped as the reference does; any other character a
/// header attribute cannot carry (a control or non-ASCII character) becomes
/// `?`, so the value is always a valid header whatever it is given.
#[must_use]
pub fn www_authenticate(error: &str) -> String {
    format!("Hawk error=\"{}\"", escape_lossy(error))
}

/// The `WWW-Authenticate` value for a stale timestamp:
/// `Hawk ts="<now>", tsm="<tsm>", error="Stale timestamp"`, where `ts` is the
/// server's time in seconds and `tsm` is [`ts_mac`] of it under the client's
/// key.
#[must_use]
pub fn www_authenticate_stale(ts: i64, tsm: &str) -> String {
    format!("Hawk ts=\"{ts}\", tsm=\"{}\", error=\"Stale timestamp\"", escape_lossy(tsm))
}

/// A client's `Authorization` value for `a`, signed with `key`:
/// `Hawk id="…", ts="…", nonce="…", hash="…", ext="…", mac="…"`, without
/// `hash` or `ext` when absent or empty, and followed by `app="…"` (and
/// `dlg="…"`) when `app` is present, as the reference client writes it.
///
/// Meant for tests and tools that call this server.
///
/// # Errors
///
/// [`HeaderValueError`] when `id`, `ts` or `nonce` is empty, or any value
/// holds a character an attribute cannot carry (anything but printable ASCII,
/// `"` or `\`): the server would refuse such a header.
pub fn client_header(id: &str, key: &[u8], a: &Artifacts<'_>) -> Result<String, HeaderValueError> {
    let mut out = format!(
        "Hawk id=\"{}\", ts=\"{}\", nonce=\"{}\"",
        attribute_value("id", id)?,
        attribute_value("ts", a.ts)?,
        attribute_value("nonce", a.nonce)?,
    );
    if let Some(hash) = present(a.hash) {
        out.push_str(&format!(", hash=\"{}\"", attribute_value("hash", hash)?));
    }
    if let Some(ext) = present(a.ext) {
        out.push_str(&format!(", ext=\"{}\"", attribute_value("ext", ext)?));
    }
    out.push_str(&format!(", mac=\"{}\"", mac(key, Kind::Header, a)));
    if let Some(app) = present(a.app) {
        out.push_str(&format!(", app=\"{}\"", attribute_value("app", app)?));
        if let Some(dlg) = present(a.dlg) {
            out.push_str(&format!(", dlg=\"{}\"", attribute_value("dlg", dlg)?));
        }
    }
    Ok(out)
}

/// `value` unless it is absent or empty, which Hawk treats alike.
fn present(value: Option<&str>) -> Option<&str> {
    value.filter(|value| !value.is_empty())
}

/// `value` if it may be written between quotes unescaped, as
/// [`parse_authorization`] accepts it.
fn attribute_value<'a>(attribute: &'static str, value: &'a str) -> Result<&'a str, HeaderValueError> {
    if is_attribute_value(value) { Ok(value) } else { Err(HeaderValueError { attribute }) }
}

/// Escapes `\` and `"`, and replaces what a header attribute cannot carry.
fn escape_lossy(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\\' | '"' => {
                out.push('\\');
                out.push(c);
            }
            ' ' => out.push(c),
            c if c.is_ascii_graphic() => out.push(c),
            _ => out.push('?'),
        }
    }
    out
}

fn hmac_base64(key: &[u8], message: &[u8]) -> String {
    // `new_from_slice` can only fail for MACs with a fixed key size; HMAC
    // hashes or zero-pads a key of any length (RFC 2104).
    let mut hmac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC-SHA256 accepts keys of any length");
    hmac.update(message);
    BASE64.encode(hmac.finalize().into_bytes())
}

/// A non-empty value made of the characters the reference allows in an
/// attribute: printable ASCII except `"` and `\`.
fn is_attribute_value(value: &str) -> bool {
    !value.is_empty() && value.chars().all(|c| (c.is_ascii_graphic() || c == ' ') && c != '"' && c != '\\')
}

/// The length in bytes of the run of `\w` (ASCII letters, digits, `_`) that
/// starts `s`.
fn word_len(s: &str) -> usize {
    s.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).unwrap_or(s.len())
}

/// JavaScript's `\s` (and what `String.prototype.trim` removes).
fn is_js_whitespace(c: char) -> bool {
    matches!(
        c,
        '\t' | '\n' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}' | '\u{feff}'
    )
}

/// The characters JavaScript's `.` does not match.
fn is_js_line_terminator(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{2028}' | '\u{2029}')
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use proptest::prelude::*;

    use super::*;

    /// The credentials of `hawk.md` and the reference's `test/server.js`.
    const KEY: &[u8] = b"werxhqb98rpaxn39848xrunpaw3489ruxnpa98w4rxn";

    fn get<'a>(ts: &'a str, nonce: &'a str, ext: Option<&'a str>) -> Artifacts<'a> {
        Artifacts {
            method: "GET",
            resource: "/resource/1?b=1&a=2",
            host: "example.com",
            port: 8000,
            ts,
            nonce,
            hash: None,
            ext,
            app: None,
            dlg: None,
        }
    }

    fn error(value: &str) -> ParseError {
        parse_authorization(value).unwrap_err()
    }

    // --- Test vectors from hawk.md ---

    #[test]
    fn normalized_string_matches_the_spec_vector() {
        let a = get("1353832234", "j4h3g2", Some("some-app-ext-data"));
        assert_eq!(
            normalized(Kind::Header, &a),
            "hawk.1.header\n1353832234\nj4h3g2\nGET\n/resource/1?b=1&a=2\nexample.com\n8000\n\nsome-app-ext-data\n"
        );
    }

    #[test]
    fn get_mac_matches_the_spec_vector() {
        let a = get("1353832234", "j4h3g2", Some("some-app-ext-data"));
        assert_eq!(mac(KEY, Kind::Header, &a), "6R4rV5iE+NPoym+WwjeHzjAGXUtLNIxmo1vpMofpLAE=");
    }

    #[test]
    fn payload_hash_matches_the_spec_vector() {
        assert_eq!(
            payload_hash("text/plain", b"Thank you for flying Hawk"),
            "Yi9LfIIFRtBEPt74PVmbTF/xVAwPn7ub15ePICfgnuY="
        );
    }

    #[test]
    fn post_mac_with_hash_matches_the_spec_vector() {
        let hash = payload_hash("text/plain", b"Thank you for flying Hawk");
        let a =
            Artifacts { method: "POST", hash: Some(&hash), ..get("1353832234", "j4h3g2", Some("some-app-ext-data")) };
        assert_eq!(mac(KEY, Kind::Header, &a), "aSe1DERmZuRl3pI36/9BdZmnErTw3sNzOOAUlfeKjVw=");
    }

    // --- Vectors from the reference's test/server.js and test/crypto.js ---

    #[test]
    fn server_js_sha256_header_verifies() {
        // 'parses a valid authentication header (sha256)': GET
        // /resource/1?b=1&a=2 on example.com:8000.
        let header = parse_authorization(
            r#"Hawk id="dh37fgj492je", ts="1353832234", nonce="j4h3g2", mac="m8r1rHbXN6NgO+KIIhjO7sFRyd78RNGVUwehe8Cp2dU=", ext="some-app-data""#,
        )
        .unwrap();
        let expected = mac(KEY, Kind::Header, &header.artifacts("GET", "/resource/1?b=1&a=2", "example.com", 8000));
        assert_eq!(expected, "m8r1rHbXN6NgO+KIIhjO7sFRyd78RNGVUwehe8Cp2dU=");
        assert!(constant_time_eq(&expected, &header.mac));
        // The same request signed for another port does not verify.
        let other = mac(KEY, Kind::Header, &header.artifacts("GET", "/resource/1?b=1&a=2", "example.com", 8001));
        assert!(!constant_time_eq(&other, &header.mac));
    }

    #[test]
    fn server_js_post_with_payload_hash_verifies() {
        // 'parses a valid authentication header (POST with payload)'.
        let header = parse_authorization(
            r#"Hawk id="123456", ts="1357926341", nonce="1AwuJD", hash="qAiXIVv+yjDATneWxZP2YCTa9aHRgQdnH9b3Wc+o3dg=", ext="some-app-data", mac="UeYcj5UoTVaAWXNvJfLVia7kU3VabxCqrccXP8sUGC4=""#,
        )
        .unwrap();
        let a = header.artifacts("POST", "/resource/4?filter=a", "example.com", 8080);
        assert_eq!(mac(KEY, Kind::Header, &a), "UeYcj5UoTVaAWXNvJfLVia7kU3VabxCqrccXP8sUGC4=");
    }

    #[test]
    fn server_js_replay_header_verifies() {
        // 'errors on a replay' (whose first request is accepted).
        let header = parse_authorization(
            r#"Hawk id="123", ts="1353788437", nonce="k3j4h2", mac="bXx7a7p1h9QYQNZ8x7QhvDQym8ACgab4m3lVSFn4DBw=", ext="hello""#,
        )
        .unwrap();
        let a = header.artifacts("GET", "/resource/4?filter=a", "example.com", 8080);
        assert_eq!(mac(KEY, Kind::Header, &a), header.mac);
    }

    fn response_artifacts<'a>(hash: Option<&'a str>, ext: Option<&'a str>) -> Artifacts<'a> {
        // test/server.js '#header': the request's artifacts, with the
        // response's hash and ext.
        Artifacts {
            method: "POST",
            resource: "/resource/4?filter=a",
            host: "example.com",
            port: 8080,
            ts: "1398546787",
            nonce: "xUwusx",
            hash,
            ext,
            app: None,
            dlg: None,
        }
    }

    #[test]
    fn server_js_response_header() {
        let hash = payload_hash("text/plain", b"some reply");
        assert_eq!(hash, "f9cDF/TDm7TkYRLnGwRMfeDzT6LixQVLvrIKhh0vgmM=");
        let a = response_artifacts(Some(&hash), Some("response-specific"));
        let signature = mac(KEY, Kind::Response, &a);
        assert_eq!(
            server_authorization(&signature, Some(&hash), Some("response-specific")).unwrap(),
            r#"Hawk mac="n14wVJK4cOxAytPUMc5bPezQzuJGl5n7MYXhFQgEKsE=", hash="f9cDF/TDm7TkYRLnGwRMfeDzT6LixQVLvrIKhh0vgmM=", ext="response-specific""#
        );
    }

    #[test]
    fn server_js_response_header_empty_payload() {
        let hash = payload_hash("text/plain", b"");
        assert_eq!(hash, "q/t+NNAkQZNlq/aAD6PlexImwQTxwgT2MahfTa9XRLA=");
        let a = response_artifacts(Some(&hash), Some("response-specific"));
        assert_eq!(mac(KEY, Kind::Response, &a), "i8/kUBDx0QF+PpCtW860kkV/fa9dbwEoe/FpGUXowf0=");
    }

    #[test]
    fn server_js_response_header_without_ext() {
        let hash = payload_hash("text/plain", b"some reply");
        let a = response_artifacts(Some(&hash), None);
        let signature = mac(KEY, Kind::Response, &a);
        assert_eq!(
            server_authorization(&signature, Some(&hash), None).unwrap(),
            r#"Hawk mac="6PrybJTJs20jsgBw5eilXpcytD8kUbaIKNYXL+6g0ns=", hash="f9cDF/TDm7TkYRLnGwRMfeDzT6LixQVLvrIKhh0vgmM=""#
        );
        // An empty ext is no ext, in the MAC and in the header.
        let empty = response_artifacts(Some(&hash), Some(""));
        assert_eq!(mac(KEY, Kind::Response, &empty), signature);
        assert_eq!(
            server_authorization(&signature, Some(&hash), Some("")).unwrap(),
            server_authorization(&signature, Some(&hash), None).unwrap()
        );
    }

    #[test]
    fn crypto_js_normalized_strings() {
        let a = Artifacts {
            method: "GET",
            resource: "/resource/something",
            host: "example.com",
            port: 8080,
            ts: "1357747017",
            nonce: "k3k4j5",
            hash: None,
            ext: None,
            app: None,
            dlg: None,
        };
        assert_eq!(
            normalized(Kind::Header, &a),
            "hawk.1.header\n1357747017\nk3k4j5\nGET\n/resource/something\nexample.com\n8080\n\n\n"
        );
        let with_ext = Artifacts { ext: Some("this is some app data"), ..a };
        assert_eq!(
            normalized(Kind::Header, &with_ext),
            "hawk.1.header\n1357747017\nk3k4j5\nGET\n/resource/something\nexample.com\n8080\n\nthis is some app data\n"
        );
        let with_hash = Artifacts { hash: Some("U4MKKSmiVxk37JCCrAVIjV/OhB3y+NdwoCr6RShbVkE="), ..with_ext };
        assert_eq!(
            normalized(Kind::Header, &with_hash),
            "hawk.1.header\n1357747017\nk3k4j5\nGET\n/resource/something\nexample.com\n8080\nU4MKKSmiVxk37JCCrAVIjV/OhB3y+NdwoCr6RShbVkE=\nthis is some app data\n"
        );
    }

    #[test]
    fn utils_js_unauthorized_header() {
        assert_eq!(www_authenticate("kaboom"), r#"Hawk error="kaboom""#);
    }

    // --- Normalization details ---

    #[test]
    fn method_is_upper_cased_and_host_lower_cased() {
        let a =
            Artifacts { method: "get", host: "EXAMPLE.Com", ..get("1353832234", "j4h3g2", Some("some-app-ext-data")) };
        assert_eq!(mac(KEY, Kind::Header, &a), "6R4rV5iE+NPoym+WwjeHzjAGXUtLNIxmo1vpMofpLAE=");
    }

    #[test]
    fn kind_names_the_first_line() {
        let a = get("1", "n", None);
        assert!(normalized(Kind::Header, &a).starts_with("hawk.1.header\n1\n"));
        assert!(normalized(Kind::Response, &a).starts_with("hawk.1.response\n1\n"));
        assert!(normalized(Kind::Bewit, &a).starts_with("hawk.1.bewit\n1\n"));
        assert_ne!(mac(KEY, Kind::Header, &a), mac(KEY, Kind::Response, &a));
    }

    #[test]
    fn ext_backslash_and_newline_are_escaped() {
        let a = get("1", "n", Some("a\\b\nc\\n"));
        assert_eq!(
            normalized(Kind::Header, &a),
            "hawk.1.header\n1\nn\nGET\n/resource/1?b=1&a=2\nexample.com\n8000\n\na\\\\b\\nc\\\\n\n"
        );
        // A newline and a backslash followed by `n` stay distinct.
        let literal = get("1", "n", Some("a\\nb"));
        let newline = get("1", "n", Some("a\nb"));
        assert_ne!(mac(KEY, Kind::Header, &literal), mac(KEY, Kind::Header, &newline));
    }

    #[test]
    fn app_and_dlg_lines_only_with_app() {
        let base = get("1353832234", "j4h3g2", Some("some-app-ext-data"));
        let with_app = Artifacts { app: Some("my-app"), dlg: Some("my-dlg"), ..base };
        assert_eq!(
            normalized(Kind::Header, &with_app),
            "hawk.1.header\n1353832234\nj4h3g2\nGET\n/resource/1?b=1&a=2\nexample.com\n8000\n\nsome-app-ext-data\nmy-app\nmy-dlg\n"
        );
        // Recomputed with Python's hmac over the string above.
        assert_eq!(mac(KEY, Kind::Header, &with_app), "imCuweCaxAT1gR3oF3pLPtcNpNgNByz8tbMtaysk5iY=");
        let app_only = Artifacts { app: Some("my-app"), ..base };
        assert!(normalized(Kind::Header, &app_only).ends_with("\nsome-app-ext-data\nmy-app\n\n"));
        let dlg_only = Artifacts { dlg: Some("my-dlg"), ..base };
        assert_eq!(normalized(Kind::Header, &dlg_only), normalized(Kind::Header, &base));
    }

    #[test]
    fn content_type_parameters_case_and_space_are_ignored() {
        let plain = payload_hash("text/plain", b"Thank you for flying Hawk");
        for content_type in
            ["text/plain; charset=utf-8", " TEXT/Plain ;charset=UTF-8", "text/plain;", "\ttext/plain\u{a0}"]
        {
            assert_eq!(payload_hash(content_type, b"Thank you for flying Hawk"), plain, "{content_type:?}");
        }
        assert_ne!(payload_hash("text/html", b"Thank you for flying Hawk"), plain);
        assert_ne!(payload_hash("", b"Thank you for flying Hawk"), plain);
        assert_ne!(payload_hash("text/plain", b"Thank you for flying Hawk!"), plain);
    }

    #[test]
    fn ts_mac_signs_the_server_time() {
        // Recomputed with Python's hmac: HMAC-SHA256(KEY, "hawk.1.ts\n1353832234\n").
        assert_eq!(ts_mac(KEY, 1353832234), "2mw1eh/qXzl0wJZ/E6XvBhRMEJN7L3j8AyMA8eItEb0=");
        assert_ne!(ts_mac(KEY, 1353832235), ts_mac(KEY, 1353832234));
        assert_ne!(ts_mac(b"other", 1353832234), ts_mac(KEY, 1353832234));
    }

    #[test]
    fn stale_timestamp_header_has_the_reference_shape() {
        let tsm = ts_mac(KEY, 1353832234);
        assert_eq!(
            www_authenticate_stale(1353832234, &tsm),
            r#"Hawk ts="1353832234", tsm="2mw1eh/qXzl0wJZ/E6XvBhRMEJN7L3j8AyMA8eItEb0=", error="Stale timestamp""#
        );
    }

    #[test]
    fn www_authenticate_escapes_and_replaces() {
        assert_eq!(www_authenticate("Bad mac"), r#"Hawk error="Bad mac""#);
        assert_eq!(www_authenticate("say \"no\" \\ \r\né"), r#"Hawk error="say \"no\" \\ ???""#);
        assert_eq!(WWW_AUTHENTICATE_MISSING, "Hawk");
    }

    #[test]
    fn timestamp_freshness() {
        let now_ms = 1_353_832_234_500;
        assert!(timestamp_is_fresh("1353832234", now_ms, 60));
        assert!(timestamp_is_fresh("1353832294", now_ms, 60)); // 59.5 s ahead
        assert!(!timestamp_is_fresh("1353832295", now_ms, 60)); // 60.5 s ahead
        assert!(timestamp_is_fresh("1353832175", now_ms, 60)); // 59.5 s behind
        assert!(!timestamp_is_fresh("1353832174", now_ms, 60)); // 60.5 s behind
        assert!(timestamp_is_fresh("1353832294", 1_353_832_234_000, 60)); // exactly 60 s
        for bad in ["", "abc", "1353832234.5", "99999999999999999999", "9223372036854775807"] {
            assert!(!timestamp_is_fresh(bad, now_ms, 60), "{bad:?}");
        }
        assert!(timestamp_is_fresh("0", 0, i64::MAX));
    }

    #[test]
    fn hmac_matches_rfc_4231() {
        // RFC 4231 test case 6: a key longer than the block size is hashed.
        assert_eq!(
            hmac_base64(&[0xaa; 131], b"Test Using Larger Than Block-Size Key - Hash Key First"),
            // 60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54
            "YOQxWR7gtn8Niiaqy/W3f44LxiE3KMUUBUYEDw7jf1Q="
        );
        // An empty key is a valid HMAC key.
        assert_eq!(hmac_base64(b"", b""), "thNnmggU2ex3L5XXeMNfxf8Wl8STcVZTxscSFEKSxa0=");
    }

    #[test]
    fn constant_time_eq_compares_whole_strings() {
        assert!(constant_time_eq("abc", "abc"));
        assert!(constant_time_eq("", ""));
        assert!(!constant_time_eq("abc", "abd"));
        assert!(!constant_time_eq("abc", "ab"));
        assert!(!constant_time_eq("ab", "abc"));
    }

    // --- Response and client headers ---

    #[test]
    fn server_authorization_escapes_ext_like_the_reference() {
        assert_eq!(
            server_authorization("m", Some("h"), Some(r#"say "hi" \ bye"#)).unwrap(),
            r#"Hawk mac="m", hash="h", ext="say \"hi\" \\ bye""#
        );
        assert_eq!(server_authorization("m", None, None).unwrap(), r#"Hawk mac="m""#);
        assert_eq!(server_authorization("m", Some(""), None).unwrap(), r#"Hawk mac="m""#);
    }

    #[test]
    fn server_authorization_refuses_what_a_header_cannot_carry() {
        for ext in ["line\nbreak", "tab\there", "caf\u{e9}"] {
            assert_eq!(server_authorization("m", None, Some(ext)).unwrap_err().attribute(), "ext");
        }
        assert_eq!(server_authorization("m\r\nX: y", None, None).unwrap_err().attribute(), "mac");
        assert_eq!(server_authorization("m", Some("h\""), None).unwrap_err().attribute(), "hash");
        assert_eq!(server_authorization("m", None, Some("\n")).unwrap_err().to_string(), "Bad attribute value: ext");
    }

    #[test]
    fn client_header_has_the_reference_layout() {
        let a = get("1353832234", "j4h3g2", Some("some-app-ext-data"));
        assert_eq!(
            client_header("dh37fgj492je", KEY, &a).unwrap(),
            r#"Hawk id="dh37fgj492je", ts="1353832234", nonce="j4h3g2", ext="some-app-ext-data", mac="6R4rV5iE+NPoym+WwjeHzjAGXUtLNIxmo1vpMofpLAE=""#
        );
        let hash = payload_hash("text/plain", b"Thank you for flying Hawk");
        let post = Artifacts { method: "POST", hash: Some(&hash), ..a };
        assert_eq!(
            client_header("dh37fgj492je", KEY, &post).unwrap(),
            r#"Hawk id="dh37fgj492je", ts="1353832234", nonce="j4h3g2", hash="Yi9LfIIFRtBEPt74PVmbTF/xVAwPn7ub15ePICfgnuY=", ext="some-app-ext-data", mac="aSe1DERmZuRl3pI36/9BdZmnErTw3sNzOOAUlfeKjVw=""#
        );
        let bare = get("1", "n", None);
        assert!(client_header("id", KEY, &bare).unwrap().starts_with(r#"Hawk id="id", ts="1", nonce="n", mac=""#));
    }

    #[test]
    fn client_header_refuses_unsendable_values() {
        let a = get("1353832234", "j4h3g2", None);
        assert_eq!(client_header("", KEY, &a).unwrap_err().attribute(), "id");
        assert_eq!(client_header("a\"b", KEY, &a).unwrap_err().attribute(), "id");
        let bad_ext = Artifacts { ext: Some("a\\b"), ..a };
        assert_eq!(client_header("id", KEY, &bad_ext).unwrap_err().attribute(), "ext");
        let bad_nonce = Artifacts { nonce: "", ..a };
        assert_eq!(client_header("id", KEY, &bad_nonce).unwrap_err().attribute(), "nonce");
    }

    #[test]
    fn client_header_round_trips_through_the_parser() {
        let hash = payload_hash("application/json", b"{}");
        let a = Artifacts {
            method: "POST",
            resource: "/v2/agents?limit=10",
            host: "api.example.com",
            port: 443,
            ts: "1700000000",
            nonce: "Xy7_q",
            hash: Some(&hash),
            ext: Some("0190a5b2-7c3e-7d00-8000-000000000001"),
            app: Some("app"),
            dlg: Some("dlg"),
        };
        let value = client_header("user-1", b"api key", &a).unwrap();
        let header = parse_authorization(&value).unwrap();
        assert_eq!(header.id, "user-1");
        assert_eq!(header.hash.as_deref(), Some(hash.as_str()));
        assert_eq!(header.app.as_deref(), Some("app"));
        assert_eq!(header.dlg.as_deref(), Some("dlg"));
        let parsed = header.artifacts(a.method, a.resource, a.host, a.port);
        assert_eq!(parsed, a);
        assert!(constant_time_eq(&mac(b"api key", Kind::Header, &parsed), &header.mac));
        assert!(!constant_time_eq(&mac(b"another key", Kind::Header, &parsed), &header.mac));
    }

    // --- Parsing ---

    #[test]
    fn parses_every_attribute() {
        let header: Header =
            r#"hAwK id="i", ts="1", nonce="n", hash="h", ext="e x", mac="m", app="a", dlg="d""#.parse().unwrap();
        assert_eq!(
            header,
            Header {
                id: "i".into(),
                ts: "1".into(),
                nonce: "n".into(),
                mac: "m".into(),
                hash: Some("h".into()),
                ext: Some("e x".into()),
                app: Some("a".into()),
                dlg: Some("d".into()),
            }
        );
    }

    #[test]
    fn accepts_the_separators_the_reference_accepts() {
        for value in [
            r#"Hawk id="1",ts="2",nonce="3",mac="4""#,
            r#"Hawk id="1" , ts="2"  ,nonce="3",	mac="4"  "#,
            r#"Hawk id="1", ts="2", nonce="3", mac="4","#,
            "Hawk\t \u{a0}id=\"1\", ts=\"2\", nonce=\"3\", mac=\"4\"",
            "Hawk\r\n id=\"1\", ts=\"2\", nonce=\"3\", mac=\"4\"",
        ] {
            let header = parse_authorization(value).unwrap();
            assert_eq!(
                (header.id.as_str(), header.ts.as_str(), header.nonce.as_str(), header.mac.as_str()),
                ("1", "2", "3", "4"),
                "{value:?}"
            );
        }
        // Every allowed character, including leading and trailing spaces.
        let odd = " !#$%&'()*+,-./:;<=>?@[]^_`{|}~09azAZ ";
        let header = parse_authorization(&format!(r#"Hawk id="{odd}", ts="2", nonce="3", mac="4""#)).unwrap();
        assert_eq!(header.id, odd);
    }

    #[test]
    fn parse_errors() {
        let valid_tail =
            r#"ts="1353788437", nonce="k3j4h2", mac="/qwS4UjfVWMcUyW6EEgUH4jlr7T/wuKe3dKijvTvSos=", ext="hello""#;
        let cases: Vec<(String, ParseError)> = vec![
            (String::new(), ParseError::MissingAuthentication),
            ("Basic asdasdasdasd".into(), ParseError::UnsupportedScheme),
            ("Bearer abc.def".into(), ParseError::UnsupportedScheme),
            ("Hawk2 id=\"1\"".into(), ParseError::UnsupportedScheme),
            ("!@#".into(), ParseError::InvalidSyntax),
            ("Hawk".into(), ParseError::InvalidSyntax),
            ("Hawk   ".into(), ParseError::InvalidSyntax),
            (" Hawk id=\"1\"".into(), ParseError::InvalidSyntax),
            ("Hawk-1 id=\"1\"".into(), ParseError::InvalidSyntax),
            (r#"Hawkid="1""#.into(), ParseError::InvalidSyntax),
            // JavaScript's `.` stops at line terminators.
            (format!("Hawk id=\"1\",\n{valid_tail}"), ParseError::InvalidSyntax),
            (format!("Hawk id=\"1\",\u{2028}{valid_tail}"), ParseError::InvalidSyntax),
            (format!("Hawk id=\"123\", x=\"3\", {valid_tail}"), ParseError::UnknownAttribute("x".into())),
            (format!("Hawk id=\"123\", ID=\"3\", {valid_tail}"), ParseError::UnknownAttribute("ID".into())),
            (format!("Hawk id=\"\t\", {valid_tail}"), ParseError::BadAttributeValue("id")),
            (format!("Hawk id=\"\", {valid_tail}"), ParseError::BadAttributeValue("id")),
            (format!("Hawk id=\"caf\u{e9}\", {valid_tail}"), ParseError::BadAttributeValue("id")),
            (format!("Hawk id=\"123\", id=\"456\", {valid_tail}"), ParseError::DuplicateAttribute("id")),
            (format!("Hawk id=\"123\", {valid_tail}, ext=\"again\""), ParseError::DuplicateAttribute("ext")),
            // 'errors on an bad authorization header format': `id="123\"`.
            (format!("Hawk id=\"123\\\", {valid_tail}"), ParseError::BadFormat),
            (format!("Hawk id=\"123\" {valid_tail}"), ParseError::BadFormat),
            (format!("Hawk , id=\"123\", {valid_tail}"), ParseError::BadFormat),
            (format!("Hawk id=123, {valid_tail}"), ParseError::BadFormat),
            (format!("Hawk id=\"123\", {valid_tail} trailing"), ParseError::BadFormat),
            (format!("Hawk id=\"123\", {valid_tail}, ext"), ParseError::BadFormat),
            ("Hawk id=\"123".into(), ParseError::BadFormat),
            (valid_tail.replace("ts=", "Hawk ts="), ParseError::MissingAttributes),
            (r#"Hawk id="123", nonce="k3j4h2", mac="m""#.into(), ParseError::MissingAttributes),
            (r#"Hawk id="123", ts="1", mac="m""#.into(), ParseError::MissingAttributes),
            (r#"Hawk id="123", ts="1", nonce="k3j4h2", ext="hello""#.into(), ParseError::MissingAttributes),
            (r#"Hawk ext="hello""#.into(), ParseError::MissingAttributes),
        ];
        for (value, expected) in cases {
            assert_eq!(error(&value), expected, "{value:?}");
        }
    }

    #[test]
    fn the_last_refusal_names_the_error() {
        assert_eq!(error(r#"Hawk x="1", id="1", y="2""#), ParseError::UnknownAttribute("y".into()));
        assert_eq!(error(r#"Hawk id="1", id="", ts="1", ts="2""#), ParseError::DuplicateAttribute("ts"));
        // Junk does not hide a refused attribute after it.
        assert_eq!(error(r#"Hawk ;; x="1", id="1""#), ParseError::UnknownAttribute("x".into()));
        // An attribute glued to the end of a word is matched by its whole run.
        assert_eq!(error(r#"Hawk xid="1", ts="1", nonce="n", mac="m""#), ParseError::UnknownAttribute("xid".into()));
    }

    #[test]
    fn length_limit_is_4096() {
        let header = |len: usize| {
            let head = r#"Hawk id="1", ts="1", nonce="n", mac="m", ext=""#;
            let pad = len - head.len() - 1;
            format!("{head}{}\"", "a".repeat(pad))
        };
        assert_eq!(header(4096).len(), 4096);
        assert!(parse_authorization(&header(4096)).is_ok());
        assert_eq!(error(&header(4097)), ParseError::TooLong);
        // Counted in UTF-16 code units, as the reference counts.
        assert_eq!(error(&"\u{e9}".repeat(4097)), ParseError::TooLong);
        assert_eq!(error(&"\u{e9}".repeat(4096)), ParseError::InvalidSyntax);
    }

    #[test]
    fn parse_error_messages_and_statuses() {
        let cases = [
            (ParseError::MissingAuthentication, "Missing authentication", false),
            (ParseError::UnsupportedScheme, "Unsupported scheme", false),
            (ParseError::TooLong, "Header length too long", true),
            (ParseError::InvalidSyntax, "Invalid header syntax", true),
            (ParseError::UnknownAttribute("x".into()), "Unknown attribute: x", true),
            (ParseError::BadAttributeValue("id"), "Bad attribute value: id", true),
            (ParseError::DuplicateAttribute("id"), "Duplicate attribute: id", true),
            (ParseError::BadFormat, "Bad header format", true),
            (ParseError::MissingAttributes, "Missing attributes", true),
        ];
        for (error, message, bad_request) in cases {
            assert_eq!(error.to_string(), message);
            assert_eq!(error.is_bad_request(), bad_request, "{message}");
        }
    }

    // --- Properties ---

    /// A value [`parse_authorization`] accepts.
    const VALUE: &str = "[ A-Za-z0-9_!#$%&'()*+,./:;<=>?@^`{|}~\\[\\]-]{1,24}";

    proptest! {
        #[test]
        fn parse_never_panics(value in any::<String>()) {
            let _ = parse_authorization(&value);
        }

        #[test]
        fn parse_never_panics_near_the_grammar(
            value in "(hawk|Hawk|HAWK|x)?[ \t\n,=\"\\\\a-z_\u{a0}\u{e9}]{0,80}",
        ) {
            if let Ok(header) = parse_authorization(&value) {
                for field in [&header.id, &header.ts, &header.nonce, &header.mac] {
                    prop_assert!(is_attribute_value(field));
                }
                for field in [&header.hash, &header.ext, &header.app, &header.dlg].into_iter().flatten() {
                    prop_assert!(is_attribute_value(field));
                }
            }
        }

        #[test]
        fn client_header_parses_back(
            id in VALUE,
            ts in VALUE,
            nonce in VALUE,
            hash in proptest::option::of(VALUE),
            ext in proptest::option::of(VALUE),
            app in proptest::option::of(VALUE),
            dlg in proptest::option::of(VALUE),
            key in proptest::collection::vec(any::<u8>(), 0..100),
        ) {
            let a = Artifacts {
                method: "PUT",
                resource: "/v2/x?y=1",
                host: "example.com",
                port: 8443,
                ts: &ts,
                nonce: &nonce,
                hash: hash.as_deref(),
                ext: ext.as_deref(),
                app: app.as_deref(),
                dlg: dlg.as_deref(),
            };
            let value = client_header(&id, &key, &a).unwrap();
            let header = parse_authorization(&value).unwrap();
            prop_assert_eq!(&header.id, &id);
            prop_assert_eq!(&header.ts, &ts);
            prop_assert_eq!(&header.nonce, &nonce);
            prop_assert_eq!(&header.hash, &hash);
            prop_assert_eq!(&header.ext, &ext);
            prop_assert_eq!(&header.app, &app);
            prop_assert_eq!(&header.dlg, &dlg.clone().filter(|_| app.is_some()));
            let parsed = header.artifacts(a.method, a.resource, a.host, a.port);
            prop_assert_eq!(&header.mac, &mac(&key, Kind::Header, &parsed));
        }

        #[test]
        fn ext_cannot_add_lines(ext in any::<String>()) {
            let a = get("1", "n", Some(&ext));
            prop_assert_eq!(normalized(Kind::Header, &a).matches('\n').count(), 9);
        }

        #[test]
        fn server_authorization_is_a_single_printable_line(
            ext in any::<String>(),
        ) {
            if let Ok(value) = server_authorization("m", Some("h"), Some(&ext)) {
                prop_assert!(value.chars().all(|c| c.is_ascii_graphic() || c == ' '));
            } else {
                prop_assert!(!ext.chars().all(|c| c.is_ascii_graphic() || c == ' '));
            }
        }

        #[test]
        fn mac_is_a_padded_base64_sha256(key in proptest::collection::vec(any::<u8>(), 0..200)) {
            let signature = mac(&key, Kind::Header, &get("1", "n", None));
            prop_assert_eq!(signature.len(), 44);
            prop_assert_eq!(BASE64.decode(&signature).unwrap().len(), 32);
        }
    }
}
