//! Entry points into the parsers that read bytes from outside — DNS answers, WHOIS answers and referrals, TLS
//! answers to the legacy probes, certificates, service banners, SPF and DMARC records — for the fuzz targets
//! (`fuzz/` at the repository root) and the property tests (`tests/it/props.rs`).
//!
//! The parsers stay private to their tools; each function here drives one the way its tool does and returns
//! what it read in a printable form, so that callers can check for panics, hangs and unbounded allocation (and
//! a few invariants) without the private types. Not part of the crate's API.

use std::net::{Ipv4Addr, SocketAddr};

use chrono::{DateTime, Utc};
use rustls_pki_types::CertificateDer;

use crate::dns::DnsResult;
use crate::email::{dmarc, spf_record};
use crate::exposure::banner;
use crate::ssl::{LegacyProbe, certificate, legacy};
use crate::whois::{parse as whois_parse, server as whois_server};

/// One UDP datagram from the resolver, read as the stub client reads an answer to the question the datagram
/// itself carries (so that the question check passes and the records are read): `None` when the client would
/// ignore it or ask again over TCP, else the rendered result, or why it cannot be read.
pub fn dns_datagram(datagram: &[u8]) -> Option<Result<DnsResult, String>> {
    crate::dns::client::read_own_question(datagram, SocketAddr::from((Ipv4Addr::LOCALHOST, 53)))
}

/// What the WHOIS tool reads from one answer given by `server_host`, for each kind of query: the fields,
/// whether it says "not found", and the referral it names, followed as the tool would follow it.
pub fn whois_answer(text: &str, server_host: &str) -> String {
    let mut out = String::new();
    for kind in [whois_parse::Kind::Domain, whois_parse::Kind::Ip, whois_parse::Kind::Asn] {
        let fields = whois_parse::fields(text, kind, server_host);
        let identifies = fields.identifies(kind);
        let dates: Vec<String> =
            [fields.created, fields.updated, fields.expires].into_iter().flatten().map(whois_parse::rfc3339).collect();
        out.push_str(&format!("{kind:?} {identifies} {fields:?} {dates:?}\n"));
    }
    let pairs = whois_parse::pairs(text);
    out.push_str(&format!("not found: {}\n", whois_parse::is_not_found(text)));
    if let Some(referral) = whois_parse::referral(&pairs) {
        out.push_str(&format!("referral {referral:?}: {:?}\n", whois_server::follow(referral).map(|s| s.to_string())));
    }
    out
}

/// A WHOIS date as the tool reads one (RFC 3339 UTC), if it is one.
pub fn whois_date(value: &str) -> Option<String> {
    whois_parse::parse_date(value).map(whois_parse::rfc3339)
}

/// A WHOIS address range (`a - b` or a CIDR block) as the tool reads one: the range, its CIDR blocks and its
/// number of addresses less one.
pub fn whois_range(value: &str) -> Option<(String, Vec<String>, u128)> {
    whois_parse::range(value)
}

/// A server's answer to a legacy probe offering `offered` (a wire version such as `0x0301`), arriving in
/// `chunks`: the probe's verdict and the certificate chain it read.
pub fn tls_legacy_answer<'a>(
    offered: u16,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> (LegacyProbe, Vec<CertificateDer<'static>>) {
    legacy::read_answer(offered, chunks)
}

/// The certificates of a chain described as the ssl tool describes them, at `now`: the descriptions and the
/// finding about a certificate that cannot be parsed, or the error when the leaf cannot be.
pub fn certificate_chain(chain: &[Vec<u8>], now: DateTime<Utc>) -> Result<String, String> {
    let chain: Vec<CertificateDer<'_>> = chain.iter().map(|der| CertificateDer::from(der.as_slice())).collect();
    certificate::describe_chain(&chain, now).map(|described| format!("{described:?}")).map_err(|e| e.to_string())
}

/// What the exposure tool makes of a port's reply: the identification, and whether it would stop reading.
pub fn service_banner(data: &[u8]) -> (banner::Grab, bool) {
    (banner::identify(data), banner::looks_complete(data))
}

/// A TXT record read as an SPF record: whether it is one, and the parse (mechanisms, modifiers, lookups,
/// errors).
pub fn spf_record(txt: &str) -> (bool, String) {
    (spf_record::is_spf_record(txt), format!("{:?}", spf_record::parse_spf(txt)))
}

/// An SPF `domain-spec` checked as the record grammar checks one.
pub fn spf_domain_spec(spec: &str) -> Result<(), String> {
    spf_record::check_domain_spec(spec)
}

/// A TXT record read as a DMARC record: whether it is one, and the parse (tags, policy, errors).
pub fn dmarc_record(txt: &str) -> (bool, String) {
    (dmarc::is_dmarc_record(txt), format!("{:?}", dmarc::parse_dmarc(txt)))
}
