//! Reading WHOIS answers: `key: value` lines, referrals, "not found" answers, dates, and the fields of a
//! domain, network or AS record.
//!
//! WHOIS has no common format. The reader accepts the usual shapes: `Key: value` (ICANN registries and
//! registrars, ARIN, RIPE-style RPSL), `[Key] value` (JPRS), and a key alone on its line followed by more
//! indented value lines (Nominet, EURid). Comment lines (`%`, `#`) carry no fields.

use std::net::IpAddr;

use chrono::{DateTime, Datelike, FixedOffset, NaiveDate, NaiveDateTime, Offset, TimeZone, Utc};
use ipnet::{IpNet, Ipv4Subnets, Ipv6Subnets};

/// Lines read from one answer (an answer is capped in bytes already; this bounds the work on tiny lines).
const MAX_LINES: usize = 20_000;
/// CIDR blocks listed for one range (an IPv6 range can need up to 256).
const MAX_CIDRS: usize = 32;
/// Longest key accepted on a `key: value` line.
const MAX_KEY_LEN: usize = 48;

/// What kind of object was asked for; decides which fields are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Domain,
    Ip,
    Asn,
}

/// The `key: value` pairs of an answer, in order, keys lower-case with single spaces.
pub(crate) fn pairs(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    // A key alone on its line opens a section whose more indented lines are its values.
    let mut section: Option<(String, usize)> = None;
    for raw in text.lines().take(MAX_LINES) {
        let line = raw.trim_end();
        let trimmed = line.trim_start();
        let indent = line.len() - trimmed.len();
        if trimmed.is_empty() || trimmed.starts_with('%') || trimmed.starts_with('#') {
            section = None;
            continue;
        }
        let in_section = section.as_ref().filter(|(_, key_indent)| indent > *key_indent).map(|(k, _)| k.clone());
        if section.is_some() && in_section.is_none() {
            section = None;
        }
        match split_pair(trimmed) {
            // Inside a section, `ns1.example.net 2001:db8::1` is a value, not a key.
            Some((key, value)) if !(in_section.is_some() && key.contains('.')) => {
                if value.is_empty() {
                    if in_section.is_none() {
                        section = Some((key, indent));
                    }
                } else {
                    out.push((key, value));
                }
            }
            _ => {
                if let Some(key) = in_section {
                    out.push((key, trimmed.to_string()));
                }
            }
        }
    }
    out
}

/// Splits `Key: value` or `[Key] value` (optionally after a JPRS item letter, `a. [Key] value`).
fn split_pair(line: &str) -> Option<(String, String)> {
    let bracketed = match line.split_once(". [") {
        Some((item, rest)) if item.len() <= 2 && item.chars().all(|c| c.is_ascii_alphabetic()) => Some(rest),
        _ => line.strip_prefix('['),
    };
    let (key, value) = match bracketed.and_then(|rest| rest.split_once(']')) {
        Some((key, value)) => (key, value),
        None => {
            let (key, value) = line.split_once(':')?;
            if value.starts_with("//") {
                return None;
            }
            (key, value)
        }
    };
    let key = key.trim();
    if key.is_empty() || key.len() > MAX_KEY_LEN || !key.chars().all(|c| c.is_alphanumeric() || " -_./'()&".contains(c))
    {
        return None;
    }
    let key = key.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase();
    Some((key, value.trim().to_string()))
}

/// The first non-empty value of the first of `keys` present (keys in order of preference).
fn first<'a>(pairs: &'a [(String, String)], keys: &[&str]) -> Option<&'a str> {
    keys.iter().find_map(|want| {
        pairs.iter().find(|(k, v)| k == want && !v.is_empty() && !is_placeholder(v)).map(|(_, v)| v.as_str())
    })
}

/// Every value of `keys`, in answer order.
fn all<'a>(pairs: &'a [(String, String)], keys: &'a [&str]) -> impl Iterator<Item = &'a str> {
    pairs.iter().filter(|(k, _)| keys.contains(&k.as_str())).map(|(_, v)| v.as_str())
}

/// Values that stand for "withheld": reported as absent rather than as a name.
fn is_placeholder(value: &str) -> bool {
    let v = value.to_ascii_lowercase();
    v.contains("redacted")
        || v.contains("not disclosed")
        || v.starts_with("data protected")
        || matches!(v.as_str(), "n/a" | "na" | "none" | "not available" | "-")
}

/// Line beginnings (after comment marks) of answers that say the object does not exist.
const NOT_FOUND: &[&str] = &[
    "no match",
    "not found",
    "no entries found",
    "no data found",
    "no matching record",
    "no object found",
    "no such domain",
    "domain not found",
    "object does not exist",
    "the queried object does not exist",
    "this query returned 0 objects",
    "error:101",
    "status: free",
    "status: available",
    "domain status: no object found",
];

/// Whether the answer says that nothing matched the query.
pub(crate) fn is_not_found(text: &str) -> bool {
    text.lines().take(MAX_LINES).any(|line| {
        let line = line.trim_start_matches(|c: char| c == '%' || c == '#' || c.is_whitespace()).to_lowercase();
        NOT_FOUND.iter().any(|p| line.starts_with(p))
    })
}

/// The server an answer refers to, as written (`whois.example.net`, `whois://host:port`, `rwhois://…`):
/// ARIN's `ReferralServer`, a registry's `Registrar WHOIS Server` / `Whois Server`, IANA's `refer` / `whois`.
pub(crate) fn referral(pairs: &[(String, String)]) -> Option<&str> {
    first(pairs, &["referralserver", "registrar whois server", "whois server", "refer", "whois"])
}

/// The fields one answer gives.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Fields {
    pub domain: Option<String>,
    pub registrar: Option<String>,
    pub registrar_iana_id: Option<u32>,
    pub abuse_email: Option<String>,
    pub created: Option<DateTime<Utc>>,
    pub updated: Option<DateTime<Utc>>,
    pub expires: Option<DateTime<Utc>>,
    pub name_servers: Vec<String>,
    pub status: Vec<String>,
    pub registrant_organization: Option<String>,
    pub registrant_country: Option<String>,
    pub dnssec: Option<bool>,
    /// `start - end`, with the CIDR blocks covering it (from the same record).
    pub net_range: Option<(String, Vec<String>)>,
    pub net_name: Option<String>,
    pub organization: Option<String>,
    pub country: Option<String>,
    pub asn: Option<String>,
    pub as_name: Option<String>,
    pub rir: Option<&'static str>,
}

impl Fields {
    /// Whether the answer describes an object of `kind` (rather than only notices or a referral).
    pub fn identifies(&self, kind: Kind) -> bool {
        match kind {
            Kind::Domain => {
                self.domain.is_some()
                    || self.registrar.is_some()
                    || self.created.is_some()
                    || self.expires.is_some()
                    || !self.name_servers.is_empty()
            }
            Kind::Ip => self.net_range.is_some() || self.net_name.is_some(),
            Kind::Asn => self.asn.is_some() || self.as_name.is_some(),
        }
    }
}

const CREATED: &[&str] = &[
    "creation date",
    "created",
    "created on",
    "created date",
    "create date",
    "domain create date",
    "domain registration date",
    "registration date",
    "registration time",
    "registered on",
    "registered",
    "regdate",
];
const UPDATED: &[&str] = &[
    "updated date",
    "last updated",
    "last updated on",
    "last updated date",
    "domain last updated date",
    "last-modified",
    "last modified",
    "last update",
    "last-update",
    "modified",
    "updated",
    "changed",
];
const EXPIRES: &[&str] = &[
    "registry expiry date",
    "registrar registration expiration date",
    "registry expiration date",
    "expiration date",
    "expiry date",
    "domain expiration date",
    "expires on",
    "expires",
    "expire date",
    "expire",
    "expiration time",
    "paid-till",
    "valid until",
    "renewal date",
];

/// Reads the fields of one answer given by `server_host` to a query of `kind`.
pub(crate) fn fields(text: &str, kind: Kind, server_host: &str) -> Fields {
    let pairs = pairs(text);
    match kind {
        Kind::Domain => domain_fields(&pairs),
        Kind::Ip | Kind::Asn => network_fields(text, &pairs, kind, server_host),
    }
}

fn domain_fields(pairs: &[(String, String)]) -> Fields {
    let mut status = Vec::new();
    for value in all(pairs, &["domain status", "status"]) {
        if let Some(code) = epp_status(value)
            && !status.contains(&code)
        {
            status.push(code);
        }
    }
    let mut name_servers = Vec::new();
    for value in all(pairs, &["name server", "name servers", "nameserver", "nameservers", "nserver", "dns"]) {
        if let Some(ns) = host_name(value)
            && !name_servers.contains(&ns)
        {
            name_servers.push(ns);
        }
    }
    Fields {
        domain: first(pairs, &["domain name", "domain", "domain_name"]).map(|d| d.trim_end_matches('.').to_lowercase()),
        registrar: first(pairs, &["registrar", "sponsoring registrar", "registrar name"]).map(str::to_string),
        registrar_iana_id: first(pairs, &["registrar iana id", "sponsoring registrar iana id"])
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok()),
        abuse_email: first(pairs, &["registrar abuse contact email", "abuse contact email", "abuse-mailbox"])
            .map(str::to_string),
        created: first_date(pairs, CREATED),
        updated: first_date(pairs, UPDATED),
        expires: first_date(pairs, EXPIRES),
        name_servers,
        status,
        registrant_organization: first(
            pairs,
            &["registrant organization", "registrant organisation", "registrant org", "registrant company"],
        )
        .map(str::to_string),
        registrant_country: first(
            pairs,
            &["registrant country", "registrant country/economy", "registrant country code"],
        )
        .map(country),
        dnssec: first(pairs, &["dnssec", "dnssec signed"]).and_then(dnssec),
        ..Fields::default()
    }
}

fn network_fields(text: &str, pairs: &[(String, String)], kind: Kind, server_host: &str) -> Fields {
    // An answer may hold several networks (ARIN lists the covering blocks too): read the smallest one,
    // with the lines that follow it up to the next network.
    let record = match kind {
        Kind::Ip => most_specific_record(pairs),
        _ => pairs,
    };
    let net_range = first(record, &["netrange", "inetnum", "inet6num"]).map(|v| match range(v) {
        Some((range, cidrs, _)) => {
            let given: Vec<String> = all(record, &["cidr"])
                .flat_map(|v| v.split(','))
                .filter_map(|c| c.trim().parse::<IpNet>().ok())
                .map(|n| n.trunc().to_string())
                .take(MAX_CIDRS)
                .collect();
            (range, if given.is_empty() { cidrs } else { given })
        }
        None => (v.to_string(), Vec::new()),
    });
    let asn_keys: &[&str] = match kind {
        Kind::Asn => &["asnumber", "aut-num", "autnum", "asn"],
        _ => &["originas", "origin", "aut-num"],
    };
    Fields {
        net_range: if kind == Kind::Ip { net_range } else { None },
        net_name: first(record, &["netname", "net-name"]).map(str::to_string),
        organization: first(record, &["orgname", "org-name", "organization", "organisation", "owner", "descr"])
            .map(str::to_string),
        country: first(record, &["country"]).map(country),
        asn: first(record, asn_keys).and_then(asn),
        as_name: first(record, &["asname", "as-name"]).map(str::to_string),
        abuse_email: abuse_comment(text)
            .or_else(|| first(record, &["orgabuseemail", "abuse-mailbox", "abuse contact email"]).map(str::to_string)),
        created: first_date(record, &["regdate", "created", "registration date"]),
        updated: first_date(record, &["updated", "last-modified", "changed", "last modified"]),
        rir: rir(text, pairs, server_host),
        ..Fields::default()
    }
}

/// The lines of the smallest network in `pairs` (all of them when there is at most one network).
fn most_specific_record(pairs: &[(String, String)]) -> &[(String, String)] {
    let starts: Vec<usize> = pairs
        .iter()
        .enumerate()
        .filter(|(_, (k, _))| matches!(k.as_str(), "netrange" | "inetnum" | "inet6num"))
        .map(|(i, _)| i)
        .collect();
    if starts.len() < 2 {
        return pairs;
    }
    let mut best = (u128::MAX, 0, pairs.len());
    for (n, &start) in starts.iter().enumerate() {
        let end = starts.get(n + 1).copied().unwrap_or(pairs.len());
        let size = pairs.get(start).and_then(|(_, v)| range(v)).map_or(u128::MAX, |(_, _, size)| size);
        // `<=`: of equal ranges, the last listed is the most specific answer.
        if size <= best.0 {
            best = (size, start, end);
        }
    }
    pairs.get(best.1..best.2).unwrap_or(pairs)
}

/// `a - b` or a CIDR block, as (`a - b`, covering CIDR blocks, number of addresses - 1).
pub(crate) fn range(value: &str) -> Option<(String, Vec<String>, u128)> {
    let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Some((a, b)) = value.split_once(" - ").or_else(|| value.split_once('-')) {
        let (a, b) = (a.trim().parse::<IpAddr>().ok()?, b.trim().parse::<IpAddr>().ok()?);
        let (cidrs, size): (Vec<String>, u128) = match (a, b) {
            (IpAddr::V4(a), IpAddr::V4(b)) if a <= b => (
                Ipv4Subnets::new(a, b, 0).take(MAX_CIDRS).map(|n| n.to_string()).collect(),
                u128::from(u32::from(b) - u32::from(a)),
            ),
            (IpAddr::V6(a), IpAddr::V6(b)) if a <= b => (
                Ipv6Subnets::new(a, b, 0).take(MAX_CIDRS).map(|n| n.to_string()).collect(),
                u128::from(b) - u128::from(a),
            ),
            _ => return None,
        };
        return Some((format!("{a} - {b}"), cidrs, size));
    }
    let net = value.parse::<IpNet>().ok()?.trunc();
    let size = match net {
        IpNet::V4(n) => u128::from(u32::from(n.broadcast()) - u32::from(n.network())),
        IpNet::V6(n) => u128::from(n.broadcast()) - u128::from(n.network()),
    };
    Some((format!("{} - {}", net.network(), net.broadcast()), vec![net.to_string()], size))
}

/// RIPE-style `% Abuse contact for '…' is 'abuse@example.net'`.
fn abuse_comment(text: &str) -> Option<String> {
    text.lines().take(MAX_LINES).find_map(|line| {
        let rest = line.trim_start_matches(['%', ' ']).strip_prefix("Abuse contact for ")?;
        let (_, addr) = rest.rsplit_once(" is '")?;
        let addr = addr.trim_end().strip_suffix('\'')?;
        addr.contains('@').then(|| addr.to_string())
    })
}

/// The registry whose database answered: by server name, else by the answer's `source`, else by ARIN's notice.
fn rir(text: &str, pairs: &[(String, String)], server_host: &str) -> Option<&'static str> {
    let by_host = match server_host {
        "whois.arin.net" => Some("ARIN"),
        "whois.ripe.net" => Some("RIPE"),
        "whois.apnic.net" => Some("APNIC"),
        "whois.lacnic.net" => Some("LACNIC"),
        "whois.afrinic.net" => Some("AFRINIC"),
        _ => None,
    };
    by_host
        .or_else(|| {
            all(pairs, &["source"]).find_map(|v| {
                let source = v.split_whitespace().next().unwrap_or_default().to_ascii_uppercase();
                match source.split('-').next().unwrap_or_default() {
                    "ARIN" => Some("ARIN"),
                    "RIPE" => Some("RIPE"),
                    "APNIC" => Some("APNIC"),
                    "LACNIC" => Some("LACNIC"),
                    "AFRINIC" => Some("AFRINIC"),
                    _ => None,
                }
            })
        })
        .or_else(|| text.contains("ARIN WHOIS data").then_some("ARIN"))
}

/// `AS15169` from `15169`, `AS15169`, `as15169 AS36040`.
fn asn(value: &str) -> Option<String> {
    let token = value.split([' ', ',', '\t']).next()?;
    let digits = token.strip_prefix("AS").or_else(|| token.strip_prefix("as")).unwrap_or(token);
    digits.parse::<u32>().ok().map(|n| format!("AS{n}"))
}

/// A country code upper-cased; a longer name as written.
fn country(value: &str) -> String {
    let v = value.split_whitespace().next().unwrap_or_default();
    if v.len() == 2 && v.chars().all(|c| c.is_ascii_alphabetic()) { v.to_ascii_uppercase() } else { value.to_string() }
}

/// An EPP status code without the ICANN link: `clientTransferProhibited https://icann.org/epp#…` →
/// `clientTransferProhibited`.
fn epp_status(value: &str) -> Option<String> {
    let end = [value.find("http"), value.find('(')].into_iter().flatten().min().unwrap_or(value.len());
    let code = value.get(..end)?.trim().trim_end_matches(',').trim();
    (!code.is_empty() && code.len() <= 64).then(|| code.to_string())
}

/// A name server host from `ns1.example.net`, `NS1.EXAMPLE.NET.` or `ns1.example.net 192.0.2.1`.
fn host_name(value: &str) -> Option<String> {
    let name = value.split_whitespace().next()?.trim_end_matches('.').to_ascii_lowercase();
    let valid = name.contains('.')
        && name.len() <= 253
        && name.parse::<IpAddr>().is_err()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_');
    valid.then_some(name)
}

/// `signedDelegation`, `signed`, `yes` → true; `unsigned`, `no`, `inactive` → false.
fn dnssec(value: &str) -> Option<bool> {
    let v = value.to_ascii_lowercase();
    if v.starts_with("unsigned") || v.starts_with("no") || v.starts_with("inactive") || v.starts_with("not signed") {
        Some(false)
    } else if v.starts_with("signed") || v.starts_with("yes") || v.starts_with("active") {
        Some(true)
    } else {
        None
    }
}

fn first_date(pairs: &[(String, String)], keys: &[&str]) -> Option<DateTime<Utc>> {
    keys.iter().find_map(|want| pairs.iter().filter(|(k, _)| k == want).find_map(|(_, v)| parse_date(v)))
}

/// Date-time formats with an offset.
const WITH_OFFSET: &[&str] = &[
    "%Y-%m-%dT%H:%M:%S%.f%z",
    "%Y-%m-%dT%H:%M:%S%z",
    "%Y-%m-%dT%H:%M:%S%#z",
    "%Y-%m-%d %H:%M:%S%.f%z",
    "%Y-%m-%d %H:%M:%S%#z",
    "%Y-%m-%d %H:%M:%S %#z",
];
/// Date-time formats without an offset (UTC unless a zone name follows).
const NAIVE_DATE_TIME: &[&str] = &[
    "%Y-%m-%dT%H:%M:%S%.f",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S%.f",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%Y.%m.%d %H:%M:%S",
    "%Y/%m/%d %H:%M:%S",
    "%Y/%m/%d %H:%M",
    "%d-%b-%Y %H:%M:%S",
    "%d.%m.%Y %H:%M:%S",
    "%d/%m/%Y %H:%M:%S",
    "%a %b %d %H:%M:%S %Y",
];
/// Date-only formats (midnight UTC). Day-first where the order is ambiguous, as outside the US.
const DATE_ONLY: &[&str] = &[
    "%Y-%m-%d", "%Y.%m.%d", "%Y/%m/%d", "%d-%b-%Y", "%d-%B-%Y", "%d %b %Y", "%d %B %Y", "%b %d %Y", "%B %d %Y",
    "%d.%m.%Y", "%d/%m/%Y", "%d-%m-%Y",
];

/// Reads the date formats WHOIS servers use: RFC 3339 with or without fractions, `-0700` offsets,
/// `2024-08-13 04:00:00 UTC`, `13-aug-2024`, `2024.08.13 04:00:00`, `2024/08/13 04:00:00 (JST)`, `20240813`,
/// `changed: hostmaster@example.net 20040526`, …
pub(crate) fn parse_date(raw: &str) -> Option<DateTime<Utc>> {
    let value = raw.split(" #").next().unwrap_or_default().trim();
    parse_date_exact(value).or_else(|| {
        // A date after other words (`changed: e-mail date`) or before a comment.
        let mut words = value.split_whitespace();
        let (first, last) = (words.next()?, words.next_back()?);
        parse_date_exact(last).or_else(|| parse_date_exact(first))
    })
}

fn parse_date_exact(value: &str) -> Option<DateTime<Utc>> {
    let value = value.trim().trim_end_matches('.');
    let (value, zone) = strip_zone(value);
    let parsed = DateTime::parse_from_rfc3339(value)
        .ok()
        .or_else(|| WITH_OFFSET.iter().find_map(|f| DateTime::parse_from_str(value, f).ok()))
        .map(|d| d.with_timezone(&Utc))
        .or_else(|| {
            NAIVE_DATE_TIME
                .iter()
                .find_map(|f| NaiveDateTime::parse_from_str(value, f).ok())
                .or_else(|| {
                    DATE_ONLY
                        .iter()
                        .find_map(|f| NaiveDate::parse_from_str(value, f).ok())
                        .or_else(|| compact_date(value))
                        .and_then(|d| d.and_hms_opt(0, 0, 0))
                })
                .and_then(|naive| zone.from_local_datetime(&naive).single())
                .map(|d| d.with_timezone(&Utc))
        })?;
    (1970..=9999).contains(&parsed.year()).then_some(parsed)
}

/// `20240813` (the `.br` style).
fn compact_date(value: &str) -> Option<NaiveDate> {
    if value.len() != 8 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let (y, m, d) = (value.get(..4)?.parse().ok()?, value.get(4..6)?.parse().ok()?, value.get(6..)?.parse().ok()?);
    NaiveDate::from_ymd_opt(y, m, d)
}

/// Removes a trailing zone name (`UTC`, `GMT`, `(JST)`, `Z` after a space) and returns its offset.
fn strip_zone(value: &str) -> (&str, FixedOffset) {
    let utc = Utc.fix();
    let Some((head, zone)) = value.rsplit_once(' ') else {
        return (value, utc);
    };
    let zone = zone.trim_matches(['(', ')']);
    let offset = match zone.to_ascii_uppercase().as_str() {
        "UTC" | "GMT" | "Z" | "UT" => Some(utc),
        "JST" | "KST" => FixedOffset::east_opt(9 * 3600),
        _ => None,
    };
    match offset {
        Some(offset) => (head.trim_end(), offset),
        None => (value, utc),
    }
}

/// RFC 3339 UTC with whole seconds: `2024-08-13T04:00:00Z`.
pub(crate) fn rfc3339(d: DateTime<Utc>) -> String {
    d.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(s: &str) -> Option<String> {
        parse_date(s).map(rfc3339)
    }

    #[test]
    fn normalises_the_usual_date_formats() {
        let want = Some("2024-08-13T04:00:00Z".to_string());
        for s in [
            "2024-08-13T04:00:00Z",
            "2024-08-13T04:00:00.0Z",
            "2024-08-13T04:00:00.000Z",
            "2024-08-13T04:00:00+00:00",
            "2024-08-13T04:00:00+0000",
            "2024-08-12T21:00:00-0700",
            "2024-08-13T07:00:00+03",
            "2024-08-13T04:00:00",
            "2024-08-13 04:00:00",
            "2024-08-13 04:00:00 UTC",
            "2024-08-13 04:00:00 (GMT)",
            "2024.08.13 04:00:00",
            "2024/08/13 13:00:00 (JST)",
            "13-Aug-2024 04:00:00",
        ] {
            assert_eq!(date(s), want, "{s}");
        }
        let midnight = Some("2024-08-13T00:00:00Z".to_string());
        for s in [
            "13-aug-2024",
            "13-AUG-2024",
            "13-August-2024",
            "2024-08-13",
            "2024.08.13",
            "2024/08/13",
            "13.08.2024",
            "13/08/2024",
            "13 Aug 2024",
            "August 13 2024",
            "20240813",
            "20240813 #15640",
            "hostmaster@example.net 20240813",
            "2024-08-13.",
        ] {
            assert_eq!(date(s), midnight, "{s}");
        }
        for s in ["before Aug-1996", "1992-12", "", "not a date", "2024-13-45", "0001-01-01"] {
            assert_eq!(date(s), None, "{s}");
        }
    }

    #[test]
    fn reads_pairs_in_the_common_layouts() {
        let text = "\
% comment: not a field
   Domain Name: EXAMPLE.COM
   Registrar URL: http://www.example-registrar.test
For more information on Whois status codes, please visit https://icann.org/epp
>>> Last update of whois database: 2024-01-01T00:00:00Z <<<
a. [Domain Name]                EXAMPLE.JP
[Created on]                    2001/03/22

    Name servers:
        ns1.example.net
        ns2.example.net   2001:db8::53

    Relevant dates:
        Registered on: 19-Feb-1999
";
        let p = pairs(text);
        let get = |k: &str| p.iter().filter(|(key, _)| key == k).map(|(_, v)| v.as_str()).collect::<Vec<_>>();
        assert_eq!(get("domain name"), ["EXAMPLE.COM", "EXAMPLE.JP"]);
        assert_eq!(get("registrar url"), ["http://www.example-registrar.test"]);
        assert_eq!(get("created on"), ["2001/03/22"]);
        assert_eq!(get("name servers"), ["ns1.example.net", "ns2.example.net   2001:db8::53"]);
        assert_eq!(get("registered on"), ["19-Feb-1999"]);
        assert!(get("comment").is_empty());
        assert!(p.iter().all(|(k, _)| !k.contains("last update") && !k.contains("more information")), "{p:?}");
    }

    #[test]
    fn tells_not_found_answers() {
        for text in [
            "No match for \"NOPE.COM\".\r\n>>> Last update of whois database: 2024-01-01T00:00:00Z <<<\r\n",
            "NOT FOUND\n",
            "%ERROR:101: no entries found\n%\n% No entries found in source RIPE.\n",
            "No match found for n + 203.0.113.1.\n",
            "% This query returned 0 objects.\n",
            "Domain: nope.de\nStatus: free\n",
            "Domain not found.\n",
        ] {
            assert!(is_not_found(text), "{text}");
        }
        let found = "Domain Name: EXAMPLE.COM\nDomain Status: ok https://icann.org/epp#ok\n\
                     % No abuse contact registered for 192.0.2.0 - 192.0.2.255\n";
        assert!(!is_not_found(found));
    }

    #[test]
    fn reads_ranges_as_ranges_and_blocks() {
        let (r, cidrs, size) = range("193.0.0.0 - 193.0.7.255").expect("range");
        assert_eq!((r.as_str(), cidrs, size), ("193.0.0.0 - 193.0.7.255", vec!["193.0.0.0/21".to_string()], 2047));
        let (r, cidrs, _) = range("8.0.0.0 - 8.191.255.255").expect("range");
        assert_eq!(r, "8.0.0.0 - 8.191.255.255");
        assert_eq!(cidrs, ["8.0.0.0/9", "8.128.0.0/10"]);
        let (r, cidrs, _) = range("2001:67c:2e8::/48").expect("cidr");
        assert_eq!(r, "2001:67c:2e8:: - 2001:67c:2e8:ffff:ffff:ffff:ffff:ffff");
        assert_eq!(cidrs, ["2001:67c:2e8::/48"]);
        let (r, _, _) = range("2001:4860:: - 2001:4860:FFFF:FFFF:FFFF:FFFF:FFFF:FFFF").expect("v6 range");
        assert_eq!(r, "2001:4860:: - 2001:4860:ffff:ffff:ffff:ffff:ffff:ffff");
        assert!(range("200.160/20").is_none());
        assert!(range("10.0.0.9 - 10.0.0.1").is_none());
    }

    /// The registrar answer for google.com as MarkMonitor publishes it (abridged).
    const MARKMONITOR: &str = "\
Domain Name: google.com
Registry Domain ID: 2138514_DOMAIN_COM-VRSN
Registrar WHOIS Server: whois.markmonitor.com
Registrar URL: http://www.markmonitor.com
Updated Date: 2019-09-09T15:39:04+0000
Creation Date: 1997-09-15T07:00:00+0000
Registrar Registration Expiration Date: 2028-09-13T07:00:00+0000
Registrar: MarkMonitor, Inc.
Registrar IANA ID: 292
Registrar Abuse Contact Email: abusecomplaints@markmonitor.com
Registrar Abuse Contact Phone: +1.2086851750
Domain Status: clientUpdateProhibited (https://www.icann.org/epp#clientUpdateProhibited)
Domain Status: clientTransferProhibited (https://www.icann.org/epp#clientTransferProhibited)
Domain Status: clientDeleteProhibited (https://www.icann.org/epp#clientDeleteProhibited)
Domain Status: serverUpdateProhibited (https://www.icann.org/epp#serverUpdateProhibited)
Registrant Organization: Google LLC
Registrant State/Province: CA
Registrant Country: US
Registrant Email: Select Request Email Form at https://domains.markmonitor.com/whois/google.com
Admin Organization: Google LLC
Name Server: ns1.google.com
Name Server: ns4.google.com
Name Server: ns3.google.com
Name Server: ns2.google.com
DNSSEC: unsigned
URL of the ICANN WHOIS Data Problem Reporting System: http://wdprs.internic.net/
>>> Last update of WHOIS database: 2024-08-13T10:05:39+0000 <<<
";

    #[test]
    fn reads_a_registrar_answer() {
        let f = fields(MARKMONITOR, Kind::Domain, "whois.markmonitor.com");
        assert_eq!(f.domain.as_deref(), Some("google.com"));
        assert_eq!(f.registrar.as_deref(), Some("MarkMonitor, Inc."));
        assert_eq!(f.registrar_iana_id, Some(292));
        assert_eq!(f.abuse_email.as_deref(), Some("abusecomplaints@markmonitor.com"));
        assert_eq!(f.created.map(rfc3339).as_deref(), Some("1997-09-15T07:00:00Z"));
        assert_eq!(f.updated.map(rfc3339).as_deref(), Some("2019-09-09T15:39:04Z"));
        assert_eq!(f.expires.map(rfc3339).as_deref(), Some("2028-09-13T07:00:00Z"));
        assert_eq!(f.name_servers, ["ns1.google.com", "ns4.google.com", "ns3.google.com", "ns2.google.com"]);
        assert_eq!(
            f.status,
            ["clientUpdateProhibited", "clientTransferProhibited", "clientDeleteProhibited", "serverUpdateProhibited"]
        );
        assert_eq!(f.registrant_organization.as_deref(), Some("Google LLC"));
        assert_eq!(f.registrant_country.as_deref(), Some("US"));
        assert_eq!(f.dnssec, Some(false));
        assert_eq!(referral(&pairs(MARKMONITOR)), Some("whois.markmonitor.com"));
        assert!(f.identifies(Kind::Domain));
    }

    #[test]
    fn reads_a_nominet_answer() {
        let text = "\n    Domain name:\n        example.co.uk\n\n    Registrar:\n        Example Ltd [Tag = EXAMPLE]\n\
                    \x20       URL: https://www.example.test\n\n    Relevant dates:\n        Registered on: before Aug-1996\n\
                    \x20       Expiry date:  19-Feb-2026\n        Last updated:  17-Jan-2024\n\n    Registration status:\n\
                    \x20       Registered until expiry date.\n\n    Name servers:\n        NS1.EXAMPLE.NET\n\
                    \x20       ns2.example.net    192.0.2.53\n\n    DNSSEC:\n        Signed\n";
        let f = fields(text, Kind::Domain, "whois.nic.uk");
        assert_eq!(f.domain.as_deref(), Some("example.co.uk"));
        assert_eq!(f.registrar.as_deref(), Some("Example Ltd [Tag = EXAMPLE]"));
        assert_eq!(f.created, None);
        assert_eq!(f.expires.map(rfc3339).as_deref(), Some("2026-02-19T00:00:00Z"));
        assert_eq!(f.updated.map(rfc3339).as_deref(), Some("2024-01-17T00:00:00Z"));
        assert_eq!(f.name_servers, ["ns1.example.net", "ns2.example.net"]);
        assert_eq!(f.dnssec, Some(true));
    }

    #[test]
    fn reads_the_most_specific_of_several_arin_networks() {
        let text = "\
# ARIN WHOIS data and services are subject to the Terms of Use

NetRange:       8.0.0.0 - 8.127.255.255
CIDR:           8.0.0.0/9
NetName:        LVLT-ORG-8-8
Organization:   Level 3 Parent, LLC (LPL-141)

OrgName:        Level 3 Parent, LLC
Country:        US

NetRange:       8.8.8.0 - 8.8.8.255
CIDR:           8.8.8.0/24
NetName:        GOGL
OriginAS:
Organization:   Google LLC (GOGL)
RegDate:        2014-03-14
Updated:        2014-03-14

OrgName:        Google LLC
Country:        US
OrgAbuseEmail:  network-abuse@google.com
";
        let f = fields(text, Kind::Ip, "whois.arin.net");
        assert_eq!(f.net_range, Some(("8.8.8.0 - 8.8.8.255".to_string(), vec!["8.8.8.0/24".to_string()])));
        assert_eq!(f.net_name.as_deref(), Some("GOGL"));
        assert_eq!(f.organization.as_deref(), Some("Google LLC"));
        assert_eq!(f.country.as_deref(), Some("US"));
        assert_eq!(f.asn, None);
        assert_eq!(f.abuse_email.as_deref(), Some("network-abuse@google.com"));
        assert_eq!(f.created.map(rfc3339).as_deref(), Some("2014-03-14T00:00:00Z"));
        assert_eq!(f.rir, Some("ARIN"));
    }
}
