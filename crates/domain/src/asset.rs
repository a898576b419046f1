//! Asset values, parsed at the edge.
//!
//! Threat-intelligence data is keyed by observables: domains, IP addresses,
//! e-mail addresses, URLs, file hashes, autonomous system numbers and
//! certificate fingerprints. The same observable can be typed many ways
//! (`EXAMPLE.com.`, `example.com`; `2001:DB8::0:1`, `2001:db8::1`), and if
//! those spellings were stored as typed, look-ups and deduplication would
//! silently miss. This module exists to parse, not validate: the only way to
//! obtain an [`AssetValue`] is [`AssetValue::parse`], which rejects malformed
//! input with a sentence saying why and otherwise returns the one canonical
//! spelling. Code further in can then trust the value without re-checking.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use crate::role::ParseEnumError;

/// Longest accepted input, in characters, after trimming surrounding
/// whitespace.
pub const MAX_INPUT_LEN: usize = 2048;

/// Longest domain name, in characters, without a trailing dot.
pub const MAX_DOMAIN_LEN: usize = 253;

/// Longest single domain label, in characters, after Punycode encoding.
pub const MAX_LABEL_LEN: usize = 63;

/// Longest local part (before the `@`) of an e-mail address.
pub const MAX_EMAIL_LOCAL_LEN: usize = 64;

/// The kind of an observable.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum AssetType {
    /// A DNS name such as `example.com`.
    Domain,
    /// An IPv4 or IPv6 address.
    Ip,
    /// An e-mail address.
    Email,
    /// An `http` or `https` URL.
    Url,
    /// An MD5, SHA-1, SHA-256 or SHA-512 digest.
    Hash,
    /// An autonomous system number such as `AS13335`.
    Asn,
    /// A SHA-256 certificate fingerprint.
    Certificate,
}

impl AssetType {
    /// Every asset type, in declaration order.
    pub const ALL: &[AssetType] = &[
        AssetType::Domain,
        AssetType::Ip,
        AssetType::Email,
        AssetType::Url,
        AssetType::Hash,
        AssetType::Asn,
        AssetType::Certificate,
    ];

    const NAMES: &[&str] = &["DOMAIN", "IP", "EMAIL", "URL", "HASH", "ASN", "CERTIFICATE"];

    /// The wire and storage name, e.g. `"DOMAIN"`.
    #[must_use]
    pub const fn as_str(&self) -> &'static str {
        match self {
            AssetType::Domain => "DOMAIN",
            AssetType::Ip => "IP",
            AssetType::Email => "EMAIL",
            AssetType::Url => "URL",
            AssetType::Hash => "HASH",
            AssetType::Asn => "ASN",
            AssetType::Certificate => "CERTIFICATE",
        }
    }
}

impl fmt::Display for AssetType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for AssetType {
    type Err = ParseEnumError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        AssetType::ALL
            .iter()
            .copied()
            .find(|t| t.as_str() == s)
            .ok_or(ParseEnumError::new("asset type", AssetType::NAMES))
    }
}

/// The digest algorithm of a [`AssetType::Hash`] value, told apart by length.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum HashKind {
    /// 128-bit MD5, 32 hexadecimal characters.
    Md5,
    /// 160-bit SHA-1, 40 hexadecimal characters.
    Sha1,
    /// 256-bit SHA-256, 64 hexadecimal characters.
    Sha256,
    /// 512-bit SHA-512, 128 hexadecimal characters.
    Sha512,
}

impl HashKind {
    /// Every hash kind, shortest digest first.
    pub const ALL: &[HashKind] = &[HashKind::Md5, HashKind::Sha1, HashKind::Sha256, HashKind::Sha512];

    const NAMES: &[&str] = &["MD5", "SHA1", "SHA256", "SHA512"];

    /// The wire and storage name, e.g. `"SHA256"`.
    #[must_use]
    pub const fn as_str(&self) -> &'static str {
        match self {
            HashKind::Md5 => "MD5",
            HashKind::Sha1 => "SHA1",
            HashKind::Sha256 => "SHA256",
            HashKind::Sha512 => "SHA512",
        }
    }

    /// Number of hexadecimal characters in a digest of this kind.
    #[must_use]
    pub const fn hex_len(self) -> usize {
        match self {
            HashKind::Md5 => 32,
            HashKind::Sha1 => 40,
            HashKind::Sha256 => 64,
            HashKind::Sha512 => 128,
        }
    }

    /// The kind whose hexadecimal digest has `len` characters, if any.
    #[must_use]
    pub const fn from_hex_len(len: usize) -> Option<HashKind> {
        match len {
            32 => Some(HashKind::Md5),
            40 => Some(HashKind::Sha1),
            64 => Some(HashKind::Sha256),
            128 => Some(HashKind::Sha512),
            _ => None,
        }
    }
}

impl fmt::Display for HashKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for HashKind {
    type Err = ParseEnumError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HashKind::ALL.iter().copied().find(|k| k.as_str() == s).ok_or(ParseEnumError::new("hash kind", HashKind::NAMES))
    }
}

/// Why an input was not accepted as an asset value. The message is a sentence
/// fit to show to the person who typed the input.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AssetError {
    /// Nothing but whitespace was given.
    #[error("value must not be empty")]
    Empty,
    /// The input exceeds [`MAX_INPUT_LEN`].
    #[error("value is {0} characters long; at most 2048 are allowed")]
    TooLong(usize),

    /// A domain contained `*`.
    #[error("wildcards (`*`) are not allowed in a domain; give a single name")]
    DomainWildcard,
    /// A domain looked like a URL (scheme, path, query or fragment).
    #[error("a domain must not contain a scheme, path, query or fragment; use type URL for URLs")]
    DomainNotBare,
    /// A domain carried a port.
    #[error("a domain must not contain a port")]
    DomainPort,
    /// An IP address was given as a domain.
    #[error("an IP address is not a domain; use type IP")]
    DomainIsIp,
    /// A domain contained whitespace.
    #[error("a domain must not contain whitespace")]
    DomainWhitespace,
    /// IDNA (UTS #46) processing rejected the name.
    #[error("not a valid domain name: it contains characters or Punycode that IDNA does not allow")]
    DomainIdna,
    /// A domain had an empty label (`a..b`, or a leading dot).
    #[error("domain must not contain empty labels (a leading dot or two dots in a row)")]
    DomainEmptyLabel,
    /// Only one label was given.
    #[error("domain `{0}` must have at least two labels, such as `example.com`")]
    DomainSingleLabel(String),
    /// A label contained a character outside `[a-z0-9-]`.
    #[error("domain label `{0}` may contain only letters, digits and hyphens")]
    DomainLabelChars(String),
    /// A label started or ended with `-`.
    #[error("domain label `{0}` must not start or end with a hyphen")]
    DomainLabelHyphen(String),
    /// A label was longer than [`MAX_LABEL_LEN`].
    #[error("domain label `{0}` is longer than 63 characters")]
    DomainLabelTooLong(String),
    /// The whole name was longer than [`MAX_DOMAIN_LEN`].
    #[error("domain is {0} characters long; at most 253 are allowed")]
    DomainTooLong(usize),
    /// The top-level label was all digits.
    #[error("top-level domain `{0}` must not be all digits")]
    DomainNumericTld(String),

    /// A CIDR range was given where one address is expected.
    #[error("a CIDR range is not a single IP address; give the address without `/prefix`")]
    IpCidr,
    /// An IPv6 zone id (`%eth0`) was given.
    #[error("IPv6 zone ids (`%...`) are not allowed")]
    IpZone,
    /// The input is not an IP address.
    #[error("not a valid IPv4 or IPv6 address")]
    IpInvalid,

    /// The address did not contain exactly one `@`.
    #[error("an e-mail address must contain exactly one `@`")]
    EmailAt,
    /// The local part was empty or longer than [`MAX_EMAIL_LOCAL_LEN`].
    #[error("the part of an e-mail address before `@` must be 1 to 64 characters long")]
    EmailLocalLength,
    /// The local part contained whitespace, control or non-ASCII characters.
    #[error("the part of an e-mail address before `@` may contain only printable ASCII characters without spaces")]
    EmailLocalChars,
    /// The local part started or ended with a dot, or had two in a row.
    #[error("the part of an e-mail address before `@` must not start or end with a dot or contain two dots in a row")]
    EmailLocalDots,
    /// The part after `@` is not a valid domain.
    #[error("the part of an e-mail address after `@` is not a valid domain: {0}")]
    EmailDomain(Box<AssetError>),

    /// The `url` crate could not parse the input.
    #[error("not a valid URL: {0}")]
    UrlInvalid(String),
    /// The scheme was neither `http` nor `https`.
    #[error("URL scheme `{0}` is not allowed; use http or https")]
    UrlScheme(String),
    /// No host was present.
    #[error("URL must have a host")]
    UrlNoHost,
    /// A user name or password was present.
    #[error("URL must not contain credentials (`user:password@`)")]
    UrlCredentials,
    /// The host is a name that fails the domain rules.
    #[error("URL host is not a valid domain: {0}")]
    UrlHost(Box<AssetError>),

    /// A hash contained a non-hexadecimal character.
    #[error("hash must contain only hexadecimal characters (0-9, a-f)")]
    HashNotHex,
    /// A hash had a length that matches no supported digest.
    #[error("hash must be 32 (MD5), 40 (SHA-1), 64 (SHA-256) or 128 (SHA-512) hexadecimal characters, not {0}")]
    HashLength(usize),

    /// The ASN was not `AS` followed by digits, or digits alone.
    #[error("ASN must be a number, optionally prefixed with `AS`, such as `AS13335` or `13335`")]
    AsnFormat,
    /// The ASN was 0 or larger than 32 bits.
    #[error("ASN must be between 1 and 4294967295")]
    AsnRange,

    /// The fingerprint was not 64 hex characters, with or without colons.
    #[error(
        "certificate fingerprint must be a SHA-256 fingerprint: 64 hexadecimal characters, optionally with `:` between each pair"
    )]
    CertificateFormat,
}

/// A well-formed observable in its canonical spelling.
///
/// Built only by [`AssetValue::parse`], so holding one proves the value passed
/// the rules for its [`AssetType`].
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AssetValue {
    kind: AssetType,
    value: String,
    hash_kind: Option<HashKind>,
}

impl AssetValue {
    /// Parses `raw` as an asset of type `kind` and normalises it.
    ///
    /// Surrounding whitespace is trimmed first. The normal forms are:
    ///
    /// - `DOMAIN`: IDNA (UTS #46) ASCII form, lower case, no trailing dot.
    /// - `IP`: the standard library's canonical text (compressed lower-case
    ///   IPv6; IPv4-mapped IPv6 stays IPv6, e.g. `::ffff:1.2.3.4`).
    /// - `EMAIL`: the local part as typed, `@`, the domain in `DOMAIN` form.
    /// - `URL`: the `url` crate's serialisation (http or https only).
    /// - `HASH`: lower-case hex; [`AssetValue::hash_kind`] tells the digest.
    /// - `ASN`: `AS` followed by the number without leading zeros.
    /// - `CERTIFICATE`: lower-case SHA-256 hex without colons.
    ///
    /// # Errors
    ///
    /// An [`AssetError`] whose message says what is wrong with the input.
    pub fn parse(kind: AssetType, raw: &str) -> Result<AssetValue, AssetError> {
        let s = raw.trim();
        if s.is_empty() {
            return Err(AssetError::Empty);
        }
        let len = s.chars().count();
        if len > MAX_INPUT_LEN {
            return Err(AssetError::TooLong(len));
        }
        let mut hash_kind = None;
        let value = match kind {
            AssetType::Domain => parse_domain(s)?,
            AssetType::Ip => parse_ip(s)?,
            AssetType::Email => parse_email(s)?,
            AssetType::Url => parse_url(s)?,
            AssetType::Hash => {
                let (value, k) = parse_hash(s)?;
                hash_kind = Some(k);
                value
            }
            AssetType::Asn => parse_asn(s)?,
            AssetType::Certificate => parse_certificate(s)?,
        };
        Ok(AssetValue { kind, value, hash_kind })
    }

    /// The asset type.
    #[must_use]
    pub fn kind(&self) -> AssetType {
        self.kind
    }

    /// The canonical spelling.
    #[must_use]
    pub fn value(&self) -> &str {
        &self.value
    }

    /// The digest algorithm, for [`AssetType::Hash`] values only.
    #[must_use]
    pub fn hash_kind(&self) -> Option<HashKind> {
        self.hash_kind
    }

    /// The canonical spelling, taking ownership.
    #[must_use]
    pub fn into_value(self) -> String {
        self.value
    }
}

impl fmt::Display for AssetValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.value)
    }
}

/// Same as [`AssetValue::parse`].
///
/// # Errors
///
/// An [`AssetError`] whose message says what is wrong with the input.
pub fn parse(kind: AssetType, raw: &str) -> Result<AssetValue, AssetError> {
    AssetValue::parse(kind, raw)
}

/// Domain rules, shared by `DOMAIN`, the domain of `EMAIL` and named `URL`
/// hosts. `s` is already trimmed and non-empty.
fn parse_domain(s: &str) -> Result<String, AssetError> {
    if s.is_empty() {
        return Err(AssetError::Empty);
    }
    if s.contains('*') {
        return Err(AssetError::DomainWildcard);
    }
    if s.chars().any(char::is_whitespace) {
        return Err(AssetError::DomainWhitespace);
    }
    let unbracketed = s.strip_prefix('[').and_then(|rest| rest.strip_suffix(']')).unwrap_or(s);
    if unbracketed.parse::<IpAddr>().is_ok() {
        return Err(AssetError::DomainIsIp);
    }
    if s.contains("://") || s.contains(['/', '\\', '?', '#']) {
        return Err(AssetError::DomainNotBare);
    }
    if s.contains(':') {
        return Err(AssetError::DomainPort);
    }

    let ascii =
        idna::domain_to_ascii_cow(s.as_bytes(), idna::AsciiDenyList::URL).map_err(|_| AssetError::DomainIdna)?;
    let mut name = ascii.to_ascii_lowercase();
    if name.ends_with('.') {
        name.pop();
    }
    if name.is_empty() {
        return Err(AssetError::DomainEmptyLabel);
    }
    if name.parse::<IpAddr>().is_ok() {
        return Err(AssetError::DomainIsIp);
    }

    let labels: Vec<&str> = name.split('.').collect();
    for label in &labels {
        if label.is_empty() {
            return Err(AssetError::DomainEmptyLabel);
        }
    }
    if labels.len() < 2 {
        return Err(AssetError::DomainSingleLabel(name));
    }
    for label in &labels {
        if !label.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') {
            return Err(AssetError::DomainLabelChars((*label).to_owned()));
        }
        if label.len() > MAX_LABEL_LEN {
            return Err(AssetError::DomainLabelTooLong((*label).to_owned()));
        }
        if label.starts_with('-') || label.ends_with('-') {
            return Err(AssetError::DomainLabelHyphen((*label).to_owned()));
        }
    }
    if name.len() > MAX_DOMAIN_LEN {
        return Err(AssetError::DomainTooLong(name.len()));
    }
    if let Some(tld) = labels.last()
        && tld.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(AssetError::DomainNumericTld((*tld).to_owned()));
    }
    Ok(name)
}

fn parse_ip(s: &str) -> Result<String, AssetError> {
    if s.contains('/') {
        return Err(AssetError::IpCidr);
    }
    if s.contains('%') {
        return Err(AssetError::IpZone);
    }
    s.parse::<IpAddr>().map(|ip| ip.to_string()).map_err(|_| AssetError::IpInvalid)
}

fn parse_email(s: &str) -> Result<String, AssetError> {
    let mut parts = s.split('@');
    let (Some(local), Some(domain), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(AssetError::EmailAt);
    };
    if local.is_empty() || local.len() > MAX_EMAIL_LOCAL_LEN {
        return Err(AssetError::EmailLocalLength);
    }
    if !local.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(AssetError::EmailLocalChars);
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(AssetError::EmailLocalDots);
    }
    let domain = parse_domain(domain).map_err(|e| AssetError::EmailDomain(Box::new(e)))?;
    Ok(format!("{local}@{domain}"))
}

fn parse_url(s: &str) -> Result<String, AssetError> {
    let url = url::Url::parse(s).map_err(|e| AssetError::UrlInvalid(e.to_string()))?;
    match url.scheme() {
        "http" | "https" => {}
        other => return Err(AssetError::UrlScheme(other.to_owned())),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(AssetError::UrlCredentials);
    }
    match url.host() {
        None => return Err(AssetError::UrlNoHost),
        Some(url::Host::Domain("")) => return Err(AssetError::UrlNoHost),
        Some(url::Host::Domain(d)) => {
            parse_domain(d).map_err(|e| AssetError::UrlHost(Box::new(e)))?;
        }
        Some(url::Host::Ipv4(_) | url::Host::Ipv6(_)) => {}
    }
    let value = String::from(url);
    let len = value.chars().count();
    if len > MAX_INPUT_LEN {
        return Err(AssetError::TooLong(len));
    }
    Ok(value)
}

fn parse_hash(s: &str) -> Result<(String, HashKind), AssetError> {
    if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AssetError::HashNotHex);
    }
    let kind = HashKind::from_hex_len(s.len()).ok_or(AssetError::HashLength(s.len()))?;
    Ok((s.to_ascii_lowercase(), kind))
}

fn parse_asn(s: &str) -> Result<String, AssetError> {
    let digits = match s.get(..2) {
        Some(prefix) if prefix.eq_ignore_ascii_case("as") => &s[2..],
        _ => s,
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(AssetError::AsnFormat);
    }
    let n: u64 = digits.parse().map_err(|_| AssetError::AsnRange)?;
    if n == 0 || n > u64::from(u32::MAX) {
        return Err(AssetError::AsnRange);
    }
    Ok(format!("AS{n}"))
}

fn parse_certificate(s: &str) -> Result<String, AssetError> {
    let hex: String = if s.contains(':') {
        let pairs: Vec<&str> = s.split(':').collect();
        if pairs.len() != 32 || pairs.iter().any(|p| p.len() != 2) {
            return Err(AssetError::CertificateFormat);
        }
        pairs.concat()
    } else {
        s.to_owned()
    };
    if hex.len() != 64 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(AssetError::CertificateFormat);
    }
    Ok(hex.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ok(kind: AssetType, cases: &[(&str, &str)]) {
        for (input, want) in cases {
            match AssetValue::parse(kind, input) {
                Ok(v) => {
                    assert_eq!(v.value(), *want, "{kind} {input:?}");
                    assert_eq!(v.kind(), kind);
                    let again =
                        AssetValue::parse(kind, v.value()).unwrap_or_else(|e| panic!("{kind} {want:?} re-parse: {e}"));
                    assert_eq!(again, v, "{kind} {input:?} not idempotent");
                }
                Err(e) => panic!("{kind} {input:?} rejected: {e}"),
            }
        }
    }

    fn bad(kind: AssetType, cases: &[(&str, &str)]) {
        for (input, want) in cases {
            match AssetValue::parse(kind, input) {
                Ok(v) => panic!("{kind} {input:?} accepted as {:?}", v.value()),
                Err(e) => assert_eq!(e.to_string(), *want, "{kind} {input:?}"),
            }
        }
    }

    #[test]
    fn asset_type_names() {
        for &t in AssetType::ALL {
            assert_eq!(t.as_str().parse::<AssetType>(), Ok(t));
            let json = serde_json::to_string(&t).expect("json");
            assert_eq!(json, format!("\"{}\"", t.as_str()));
        }
        assert_eq!(AssetType::ALL.len(), 7);
        assert_eq!(
            "domain".parse::<AssetType>().map_err(|e| e.to_string()),
            Err("asset type must be one of DOMAIN, IP, EMAIL, URL, HASH, ASN, CERTIFICATE".into())
        );
    }

    #[test]
    fn hash_kind_names() {
        for &k in HashKind::ALL {
            assert_eq!(k.as_str().parse::<HashKind>(), Ok(k));
            let json = serde_json::to_string(&k).expect("json");
            assert_eq!(json, format!("\"{}\"", k.as_str()));
            assert_eq!(HashKind::from_hex_len(k.hex_len()), Some(k));
        }
        assert!("SHA-256".parse::<HashKind>().is_err());
    }

    #[test]
    fn empty_and_too_long() {
        for &kind in AssetType::ALL {
            bad(kind, &[("", "value must not be empty"), ("  \t\n ", "value must not be empty")]);
            let long = "a".repeat(MAX_INPUT_LEN + 1);
            bad(kind, &[(long.as_str(), "value is 2049 characters long; at most 2048 are allowed")]);
        }
    }

    #[test]
    fn domain_good() {
        let max_label = format!("{}.com", "a".repeat(63));
        let max_name = format!("{}.{}.{}.{}", "a".repeat(63), "b".repeat(63), "c".repeat(63), "d".repeat(61));
        ok(
            AssetType::Domain,
            &[
                ("example.com", "example.com"),
                ("EXAMPLE.com.", "example.com"),
                ("  Sub.Example.COM  ", "sub.example.com"),
                ("bücher.example", "xn--bcher-kva.example"),
                ("BÜCHER.example", "xn--bcher-kva.example"),
                ("xn--bcher-kva.example", "xn--bcher-kva.example"),
                ("münchen.de", "xn--mnchen-3ya.de"),
                ("例え.テスト", "xn--r8jz45g.xn--zckzah"),
                ("example。com", "example.com"),
                ("a-b.c-d.io", "a-b.c-d.io"),
                ("1.2.3.com", "1.2.3.com"),
                ("123.example", "123.example"),
                ("x.y", "x.y"),
                (max_label.as_str(), max_label.as_str()),
                (max_name.as_str(), max_name.as_str()),
            ],
        );
    }

    #[test]
    fn domain_bad() {
        let long_label = format!("{}.com", "a".repeat(64));
        let long_label_msg = format!("domain label `{}` is longer than 63 characters", "a".repeat(64));
        let long_name = format!("{}.{}.{}.{}", "a".repeat(63), "b".repeat(63), "c".repeat(63), "d".repeat(62));
        bad(
            AssetType::Domain,
            &[
                ("-ab.com", "domain label `-ab` must not start or end with a hyphen"),
                ("ab-.com", "domain label `ab-` must not start or end with a hyphen"),
                ("com", "domain `com` must have at least two labels, such as `example.com`"),
                ("localhost.", "domain `localhost` must have at least two labels, such as `example.com`"),
                ("example..com", "domain must not contain empty labels (a leading dot or two dots in a row)"),
                (".example.com", "domain must not contain empty labels (a leading dot or two dots in a row)"),
                ("example.com..", "domain must not contain empty labels (a leading dot or two dots in a row)"),
                (".", "domain must not contain empty labels (a leading dot or two dots in a row)"),
                ("example.123", "top-level domain `123` must not be all digits"),
                ("1.2.3.4", "an IP address is not a domain; use type IP"),
                ("::1", "an IP address is not a domain; use type IP"),
                ("[2001:db8::1]", "an IP address is not a domain; use type IP"),
                ("*.example.com", "wildcards (`*`) are not allowed in a domain; give a single name"),
                (
                    "https://example.com",
                    "a domain must not contain a scheme, path, query or fragment; use type URL for URLs",
                ),
                (
                    "example.com/path",
                    "a domain must not contain a scheme, path, query or fragment; use type URL for URLs",
                ),
                ("example.com?q", "a domain must not contain a scheme, path, query or fragment; use type URL for URLs"),
                ("example.com:443", "a domain must not contain a port"),
                ("exa mple.com", "a domain must not contain whitespace"),
                ("under_score.com", "domain label `under_score` may contain only letters, digits and hyphens"),
                ("a!b.com", "domain label `a!b` may contain only letters, digits and hyphens"),
                (
                    "user@example.com",
                    "not a valid domain name: it contains characters or Punycode that IDNA does not allow",
                ),
                ("xn--zz.com", "not a valid domain name: it contains characters or Punycode that IDNA does not allow"),
                (long_label.as_str(), long_label_msg.as_str()),
                (long_name.as_str(), "domain is 254 characters long; at most 253 are allowed"),
            ],
        );
    }

    #[test]
    fn ip_good() {
        ok(
            AssetType::Ip,
            &[
                ("1.2.3.4", "1.2.3.4"),
                (" 192.168.0.1 ", "192.168.0.1"),
                ("0.0.0.0", "0.0.0.0"),
                ("255.255.255.255", "255.255.255.255"),
                ("::", "::"),
                ("::1", "::1"),
                ("2001:DB8::0:1", "2001:db8::1"),
                ("2001:0db8:0000:0000:0000:0000:0000:0001", "2001:db8::1"),
                ("::FFFF:1.2.3.4", "::ffff:1.2.3.4"),
                ("::ffff:0102:0304", "::ffff:1.2.3.4"),
                ("FE80::1", "fe80::1"),
            ],
        );
    }

    #[test]
    fn ip_bad() {
        bad(
            AssetType::Ip,
            &[
                ("10.0.0.0/8", "a CIDR range is not a single IP address; give the address without `/prefix`"),
                ("2001:db8::/32", "a CIDR range is not a single IP address; give the address without `/prefix`"),
                ("fe80::1%eth0", "IPv6 zone ids (`%...`) are not allowed"),
                ("1.2.3.4:80", "not a valid IPv4 or IPv6 address"),
                ("[::1]:80", "not a valid IPv4 or IPv6 address"),
                ("[::1]", "not a valid IPv4 or IPv6 address"),
                ("256.1.1.1", "not a valid IPv4 or IPv6 address"),
                ("1.2.3", "not a valid IPv4 or IPv6 address"),
                ("01.2.3.4", "not a valid IPv4 or IPv6 address"),
                ("1.2.3.4.5", "not a valid IPv4 or IPv6 address"),
                ("example.com", "not a valid IPv4 or IPv6 address"),
                ("1 .2.3.4", "not a valid IPv4 or IPv6 address"),
                ("2001:db8:::1", "not a valid IPv4 or IPv6 address"),
            ],
        );
    }

    #[test]
    fn email_good() {
        ok(
            AssetType::Email,
            &[
                ("alice@example.com", "alice@example.com"),
                ("Alice.Smith@EXAMPLE.COM", "Alice.Smith@example.com"),
                ("bob+tag@bücher.example", "bob+tag@xn--bcher-kva.example"),
                ("o'brien@example.org.", "o'brien@example.org"),
                (" x_y-z@sub.example.io ", "x_y-z@sub.example.io"),
            ],
        );
        let local = "a".repeat(64);
        let email = format!("{local}@example.com");
        ok(AssetType::Email, &[(email.as_str(), email.as_str())]);
    }

    #[test]
    fn email_bad() {
        let long_local = format!("{}@example.com", "a".repeat(65));
        bad(
            AssetType::Email,
            &[
                ("alice", "an e-mail address must contain exactly one `@`"),
                ("a@b@example.com", "an e-mail address must contain exactly one `@`"),
                ("@example.com", "the part of an e-mail address before `@` must be 1 to 64 characters long"),
                (long_local.as_str(), "the part of an e-mail address before `@` must be 1 to 64 characters long"),
                (
                    "al ice@example.com",
                    "the part of an e-mail address before `@` may contain only printable ASCII characters without spaces",
                ),
                (
                    "jürgen@example.com",
                    "the part of an e-mail address before `@` may contain only printable ASCII characters without spaces",
                ),
                (
                    ".alice@example.com",
                    "the part of an e-mail address before `@` must not start or end with a dot or contain two dots in a row",
                ),
                (
                    "alice.@example.com",
                    "the part of an e-mail address before `@` must not start or end with a dot or contain two dots in a row",
                ),
                (
                    "al..ice@example.com",
                    "the part of an e-mail address before `@` must not start or end with a dot or contain two dots in a row",
                ),
                ("alice@", "the part of an e-mail address after `@` is not a valid domain: value must not be empty"),
                (
                    "alice@localhost",
                    "the part of an e-mail address after `@` is not a valid domain: domain `localhost` must have at least two labels, such as `example.com`",
                ),
                (
                    "alice@1.2.3.4",
                    "the part of an e-mail address after `@` is not a valid domain: an IP address is not a domain; use type IP",
                ),
                (
                    "alice@-x.com",
                    "the part of an e-mail address after `@` is not a valid domain: domain label `-x` must not start or end with a hyphen",
                ),
            ],
        );
    }

    #[test]
    fn url_good() {
        ok(
            AssetType::Url,
            &[
                ("https://example.com", "https://example.com/"),
                ("HTTP://EXAMPLE.COM/Path?q=1#frag", "http://example.com/Path?q=1#frag"),
                ("https://bücher.example/ä", "https://xn--bcher-kva.example/%C3%A4"),
                ("http://1.2.3.4:8080/x", "http://1.2.3.4:8080/x"),
                ("http://[2001:DB8::1]/", "http://[2001:db8::1]/"),
                ("https://example.com:443/", "https://example.com/"),
                ("https://example.com/a/../b", "https://example.com/b"),
                ("  https://example.com/a b  ", "https://example.com/a%20b"),
            ],
        );
    }

    #[test]
    fn url_bad() {
        bad(
            AssetType::Url,
            &[
                ("example.com", "not a valid URL: relative URL without a base"),
                ("ftp://example.com/", "URL scheme `ftp` is not allowed; use http or https"),
                ("javascript:alert(1)", "URL scheme `javascript` is not allowed; use http or https"),
                ("file:///etc/passwd", "URL scheme `file` is not allowed; use http or https"),
                ("https://user:pass@example.com/", "URL must not contain credentials (`user:password@`)"),
                ("https://user@example.com/", "URL must not contain credentials (`user:password@`)"),
                (
                    "https://localhost/",
                    "URL host is not a valid domain: domain `localhost` must have at least two labels, such as `example.com`",
                ),
                (
                    "https://under_score.example/",
                    "URL host is not a valid domain: domain label `under_score` may contain only letters, digits and hyphens",
                ),
                (
                    "https://*.example.com/",
                    "URL host is not a valid domain: wildcards (`*`) are not allowed in a domain; give a single name",
                ),
                ("http://", "not a valid URL: empty host"),
            ],
        );
    }

    #[test]
    fn hash_good() {
        let md5 = "D41D8CD98F00B204E9800998ECF8427E";
        let sha1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709";
        let sha256 = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
        let sha512 = "cf83e1357eefb8bdf1542850d66d8007d620e4050b5715dc83f4a921d36ce9ce47d0d13c5d85f2b0ff8318d2877eec2f63b931bd47417a81a538327af927da3e";
        for (input, kind) in
            [(md5, HashKind::Md5), (sha1, HashKind::Sha1), (sha256, HashKind::Sha256), (sha512, HashKind::Sha512)]
        {
            let v = AssetValue::parse(AssetType::Hash, input).expect(input);
            assert_eq!(v.value(), input.to_ascii_lowercase());
            assert_eq!(v.hash_kind(), Some(kind));
        }
        assert_eq!(AssetValue::parse(AssetType::Domain, "example.com").expect("domain").hash_kind(), None);
    }

    #[test]
    fn hash_bad() {
        bad(
            AssetType::Hash,
            &[
                (
                    "abc",
                    "hash must be 32 (MD5), 40 (SHA-1), 64 (SHA-256) or 128 (SHA-512) hexadecimal characters, not 3",
                ),
                (
                    "d41d8cd98f00b204e9800998ecf8427",
                    "hash must be 32 (MD5), 40 (SHA-1), 64 (SHA-256) or 128 (SHA-512) hexadecimal characters, not 31",
                ),
                ("g41d8cd98f00b204e9800998ecf8427e", "hash must contain only hexadecimal characters (0-9, a-f)"),
                ("0xd41d8cd98f00b204e9800998ecf8427e", "hash must contain only hexadecimal characters (0-9, a-f)"),
                ("d41d8cd9 8f00b204e9800998ecf8427e", "hash must contain only hexadecimal characters (0-9, a-f)"),
            ],
        );
    }

    #[test]
    fn asn_good() {
        ok(
            AssetType::Asn,
            &[
                ("AS13335", "AS13335"),
                ("as13335", "AS13335"),
                ("As13335", "AS13335"),
                ("13335", "AS13335"),
                (" 13335 ", "AS13335"),
                ("AS1", "AS1"),
                ("AS013335", "AS13335"),
                ("4294967295", "AS4294967295"),
            ],
        );
    }

    #[test]
    fn asn_bad() {
        bad(
            AssetType::Asn,
            &[
                ("AS0", "ASN must be between 1 and 4294967295"),
                ("0", "ASN must be between 1 and 4294967295"),
                ("4294967296", "ASN must be between 1 and 4294967295"),
                ("AS99999999999999999999999", "ASN must be between 1 and 4294967295"),
                ("AS", "ASN must be a number, optionally prefixed with `AS`, such as `AS13335` or `13335`"),
                ("+13335", "ASN must be a number, optionally prefixed with `AS`, such as `AS13335` or `13335`"),
                ("AS+13335", "ASN must be a number, optionally prefixed with `AS`, such as `AS13335` or `13335`"),
                ("AS 13335", "ASN must be a number, optionally prefixed with `AS`, such as `AS13335` or `13335`"),
                ("-1", "ASN must be a number, optionally prefixed with `AS`, such as `AS13335` or `13335`"),
                ("AS1.5", "ASN must be a number, optionally prefixed with `AS`, such as `AS13335` or `13335`"),
                ("ASN13335", "ASN must be a number, optionally prefixed with `AS`, such as `AS13335` or `13335`"),
                ("ü", "ASN must be a number, optionally prefixed with `AS`, such as `AS13335` or `13335`"),
            ],
        );
    }

    #[test]
    fn certificate_good() {
        let plain = "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855";
        let want = plain.to_ascii_lowercase();
        let colons =
            plain.as_bytes().chunks(2).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join(":");
        assert_eq!(colons.len(), 95);
        ok(
            AssetType::Certificate,
            &[(plain, want.as_str()), (colons.as_str(), want.as_str()), (want.as_str(), want.as_str())],
        );
    }

    #[test]
    fn certificate_bad() {
        let msg = "certificate fingerprint must be a SHA-256 fingerprint: 64 hexadecimal characters, optionally with `:` between each pair";
        let plain = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
        let sha1 = "da39a3ee5e6b4b0d3255bfef95601890afd80709";
        let trailing = format!("{plain}:");
        let uneven = format!("e3b:0{}", &plain[4..]);
        let colons: String =
            plain.as_bytes().chunks(2).map(|c| String::from_utf8_lossy(c).into_owned()).collect::<Vec<_>>().join(":");
        let partly = colons.replacen(':', "", 1);
        let non_hex = format!("zz{}", &plain[2..]);
        bad(
            AssetType::Certificate,
            &[
                (sha1, msg),
                (trailing.as_str(), msg),
                (uneven.as_str(), msg),
                (partly.as_str(), msg),
                (non_hex.as_str(), msg),
                ("::", msg),
            ],
        );
    }

    #[test]
    fn display_and_into_value() {
        let v = parse(AssetType::Domain, "Example.COM").expect("domain");
        assert_eq!(v.to_string(), "example.com");
        assert_eq!(v.into_value(), "example.com");
    }

    fn assert_idempotent(kind: AssetType, input: &str) -> Result<(), TestCaseError> {
        if let Ok(first) = AssetValue::parse(kind, input) {
            let second = AssetValue::parse(kind, first.value());
            prop_assert_eq!(second.as_ref(), Ok(&first), "input {:?}", input);
        }
        Ok(())
    }

    proptest! {
        #[test]
        fn domain_idempotent_structured(
            s in "[a-zA-Z0-9]([a-zA-Z0-9-]{0,8}[a-zA-Z0-9])?(\\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,8}[a-zA-Z0-9])?){0,3}\\.[a-zA-Z]{2,6}\\.?"
        ) {
            // Random `xn--` labels are almost never valid Punycode.
            prop_assume!(!s.to_ascii_lowercase().split('.').any(|l| l.starts_with("xn--")));
            let first = AssetValue::parse(AssetType::Domain, &s);
            prop_assert!(first.is_ok(), "{:?} rejected: {:?}", s, first);
            assert_idempotent(AssetType::Domain, &s)?;
        }

        #[test]
        fn domain_idempotent_unicode(s in "[a-zà-ÿα-ω0-9.-]{1,30}|[\\p{L}\\p{M}\\p{N}.。-]{1,20}") {
            assert_idempotent(AssetType::Domain, &s)?;
        }

        #[test]
        fn domain_idempotent_any(s in "\\PC{0,40}") {
            assert_idempotent(AssetType::Domain, &s)?;
        }

        #[test]
        fn ip_idempotent_v4(ip in any::<std::net::Ipv4Addr>()) {
            let v = AssetValue::parse(AssetType::Ip, &ip.to_string());
            prop_assert!(v.is_ok());
            assert_idempotent(AssetType::Ip, &ip.to_string())?;
        }

        #[test]
        fn ip_idempotent_v6(ip in any::<std::net::Ipv6Addr>(), upper in any::<bool>()) {
            let text = if upper { ip.to_string().to_ascii_uppercase() } else { ip.to_string() };
            let v = AssetValue::parse(AssetType::Ip, &text);
            prop_assert!(v.is_ok());
            assert_idempotent(AssetType::Ip, &text)?;
        }

        #[test]
        fn ip_idempotent_any(s in "[0-9a-fA-F:.]{0,40}") {
            assert_idempotent(AssetType::Ip, &s)?;
        }

        #[test]
        fn hash_idempotent(s in "[0-9a-fA-F]{32}|[0-9a-fA-F]{40}|[0-9a-fA-F]{64}|[0-9a-fA-F]{128}") {
            let v = AssetValue::parse(AssetType::Hash, &s);
            prop_assert!(v.is_ok());
            assert_idempotent(AssetType::Hash, &s)?;
        }

        #[test]
        fn hash_idempotent_any(s in "[0-9a-zA-Z]{0,130}") {
            assert_idempotent(AssetType::Hash, &s)?;
        }

        #[test]
        fn asn_idempotent(n in 1u32.., prefix in "(AS|as|As|aS)?", zeros in "0{0,3}") {
            let s = format!("{prefix}{zeros}{n}");
            let v = AssetValue::parse(AssetType::Asn, &s);
            let want = format!("AS{n}");
            prop_assert_eq!(v.as_ref().map(AssetValue::value), Ok(want.as_str()));
            assert_idempotent(AssetType::Asn, &s)?;
        }

        #[test]
        fn asn_idempotent_any(s in "\\PC{0,14}") {
            assert_idempotent(AssetType::Asn, &s)?;
        }

        #[test]
        fn never_panics(kind in proptest::sample::select(AssetType::ALL), s in "\\PC{0,64}") {
            assert_idempotent(kind, &s)?;
        }
    }
}
