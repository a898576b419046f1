//! The `dns` tool: the A, AAAA, NS, MX, CNAME, TXT, SOA and CAA records of a name, with their TTLs, from the
//! configured resolvers (`tools.resolvers`, or the system's).
//!
//! Targets: a DOMAIN, a URL (its host) or an EMAIL address (its domain). The eight queries go to the resolver
//! together over one socket (`client`: no cache, answers checked against their questions, TCP for truncated
//! answers, the next resolver for questions one could not answer); the name is queried as fully qualified, so no
//! search domain is ever appended.
//!
//! Result ([`DnsResult`]):
//! - `name`: the name queried; `nxdomain`: true when it does not exist (every list is then empty).
//! - `records.<type>`: typed records with their TTLs (`records.mx[0].preference`, `records.soa[0].serial`).
//! - `a`, `aaaa`, `ns`, `mx`, `cname`, `txt`, `caa`: flat lists of the values, for rules (`a contains "192.0.2.1"`).
//! - `status.<type>`: `ok`, `nodata` (the name exists but has no record of that type), `nxdomain` or `error`.
//! - `errors.<type>`: why that query failed (SERVFAIL, timeout...).
//!
//! Failure modes: a query that fails (SERVFAIL, timeout, unreachable resolver) is recorded for its type and the
//! other types are still reported. Only when *every* query fails because the resolver cannot be used (no answer,
//! unreachable, REFUSED, unreadable answers) does the run fail, with [`ToolError::Failed`] naming the problem, so
//! that the job is retried. A URL whose host is an IP address is [`ToolError::InvalidInput`].

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RData, Record, RecordType};
use serde::Serialize;

use crate::{Target, ToolError, Toolbox, ToolsConfig};

pub(crate) mod client;

/// The records of one name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DnsResult {
    /// The name queried: lower case, without the trailing dot.
    pub name: String,
    /// True when the name does not exist (NXDOMAIN); every record list is then empty.
    pub nxdomain: bool,
    /// IPv4 addresses (A records), sorted.
    pub a: Vec<String>,
    /// IPv6 addresses (AAAA records), sorted.
    pub aaaa: Vec<String>,
    /// Name servers (NS records), sorted, without the trailing dot.
    pub ns: Vec<String>,
    /// Mail exchangers (MX records) by preference, without the trailing dot (`.` for a null MX).
    pub mx: Vec<String>,
    /// The canonical name when the name is an alias (CNAME record), without the trailing dot.
    pub cname: Vec<String>,
    /// TXT records, each the concatenation of its character strings, sorted.
    pub txt: Vec<String>,
    /// CAA records as `flags tag "value"` (`0 issue "ca.example"`), sorted.
    pub caa: Vec<String>,
    /// The records of each type, with their TTLs.
    pub records: DnsRecords,
    /// The outcome of each type's query.
    pub status: DnsStatus,
    /// For each type whose query failed (`mx`, `txt`...), why.
    pub errors: BTreeMap<String, String>,
}

/// The records of each type, with their TTLs (seconds, as given by the resolver).
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DnsRecords {
    pub a: Vec<DnsAddressRecord>,
    pub aaaa: Vec<DnsAddressRecord>,
    pub ns: Vec<DnsNameRecord>,
    pub mx: Vec<DnsMxRecord>,
    pub cname: Vec<DnsNameRecord>,
    pub txt: Vec<DnsTxtRecord>,
    pub soa: Vec<DnsSoaRecord>,
    pub caa: Vec<DnsCaaRecord>,
}

/// An A or AAAA record.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DnsAddressRecord {
    /// The IP address.
    pub address: String,
    /// Time to live, seconds.
    pub ttl: u32,
}

/// An NS or CNAME record.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DnsNameRecord {
    /// The name server (NS) or canonical name (CNAME), without the trailing dot.
    pub name: String,
    /// Time to live, seconds.
    pub ttl: u32,
}

/// An MX record.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DnsMxRecord {
    /// Lower is preferred.
    pub preference: u16,
    /// The mail server, without the trailing dot; `.` is a null MX (the domain accepts no mail).
    pub exchange: String,
    /// Time to live, seconds.
    pub ttl: u32,
}

/// A TXT record.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DnsTxtRecord {
    /// The record's character strings joined without separator (how SPF and DMARC read them).
    pub text: String,
    /// Time to live, seconds.
    pub ttl: u32,
}

/// The SOA record of a zone apex.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DnsSoaRecord {
    /// The primary name server, without the trailing dot.
    pub mname: String,
    /// The administrator's mailbox in DNS form (`hostmaster.example.com`), without the trailing dot.
    pub rname: String,
    pub serial: u32,
    /// Seconds.
    pub refresh: u32,
    /// Seconds.
    pub retry: u32,
    /// Seconds.
    pub expire: u32,
    /// Negative-caching TTL, seconds.
    pub minimum: u32,
    /// Time to live, seconds.
    pub ttl: u32,
}

/// A CAA record: which certificate authorities may issue for the name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DnsCaaRecord {
    /// 128 is the issuer-critical flag.
    pub flags: u8,
    /// `issue`, `issuewild`, `iodef`...
    pub tag: String,
    /// The value as published (`letsencrypt.org`, `mailto:security@example.com`).
    pub value: String,
    /// Time to live, seconds.
    pub ttl: u32,
}

/// The outcome of each type's query.
#[derive(Debug, Clone, Default, PartialEq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DnsStatus {
    pub a: QueryStatus,
    pub aaaa: QueryStatus,
    pub ns: QueryStatus,
    pub mx: QueryStatus,
    pub cname: QueryStatus,
    pub txt: QueryStatus,
    pub soa: QueryStatus,
    pub caa: QueryStatus,
}

/// The outcome of one query.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum QueryStatus {
    /// Records were returned.
    Ok,
    /// The name exists but has no record of this type.
    #[default]
    Nodata,
    /// The name does not exist.
    Nxdomain,
    /// The query failed; see `errors`.
    Error,
}

/// Looks up the records of the target's name.
///
/// # Errors
/// [`ToolError::InvalidInput`] for a target without a name; [`ToolError::Failed`] when no query could be answered.
pub async fn run(tb: &Toolbox, target: &Target) -> Result<DnsResult, ToolError> {
    let host = target
        .host()
        .ok_or_else(|| ToolError::InvalidInput(format!("`{}` has no host name to look up", target.value())))?;
    if host.parse::<IpAddr>().is_ok() {
        return Err(ToolError::InvalidInput(format!(
            "`{}` names an IP address, not a host name; the dns tool looks up names",
            target.value()
        )));
    }
    let name = fqdn(host)?;

    const TYPES: [(&str, RecordType); 8] = [
        ("a", RecordType::A),
        ("aaaa", RecordType::AAAA),
        ("ns", RecordType::NS),
        ("mx", RecordType::MX),
        ("cname", RecordType::CNAME),
        ("txt", RecordType::TXT),
        ("soa", RecordType::SOA),
        ("caa", RecordType::CAA),
    ];
    let questions: Vec<(Name, RecordType)> = TYPES.iter().map(|(_, t)| (name.clone(), *t)).collect();
    let answers: Vec<(&str, Answer)> =
        TYPES.iter().map(|(key, _)| *key).zip(client::ask(tb.stub(), &questions).await).collect();

    if answers.iter().all(|(_, ans)| matches!(ans, Answer::Failed { resolver: true, .. })) {
        let reason = answers
            .iter()
            .find_map(|(_, ans)| match ans {
                Answer::Failed { message, .. } => Some(message.as_str()),
                _ => None,
            })
            .unwrap_or("no answer");
        return Err(ToolError::Failed(format!("every DNS query for {} failed: {reason}", name_text(&name))));
    }

    let mut out = DnsResult { name: name_text(&name).to_ascii_lowercase(), ..DnsResult::default() };
    for (key, answer) in answers {
        let status = match answer {
            Answer::Records(records) => {
                out.add(&records);
                QueryStatus::Ok
            }
            Answer::NoData => QueryStatus::Nodata,
            Answer::NxDomain => {
                out.nxdomain = true;
                QueryStatus::Nxdomain
            }
            Answer::Failed { message, .. } => {
                out.errors.insert(key.to_string(), message);
                QueryStatus::Error
            }
        };
        *out.status.slot(key) = status;
    }
    out.finish();
    Ok(out)
}

impl DnsStatus {
    fn slot(&mut self, key: &str) -> &mut QueryStatus {
        match key {
            "a" => &mut self.a,
            "aaaa" => &mut self.aaaa,
            "ns" => &mut self.ns,
            "mx" => &mut self.mx,
            "cname" => &mut self.cname,
            "txt" => &mut self.txt,
            "soa" => &mut self.soa,
            _ => &mut self.caa,
        }
    }
}

impl DnsResult {
    fn add(&mut self, records: &[Record]) {
        let r = &mut self.records;
        for record in records {
            let ttl = record.ttl;
            match &record.data {
                RData::A(a) => r.a.push(DnsAddressRecord { address: a.0.to_string(), ttl }),
                RData::AAAA(a) => r.aaaa.push(DnsAddressRecord { address: a.0.to_string(), ttl }),
                RData::NS(ns) => r.ns.push(DnsNameRecord { name: name_text(&ns.0), ttl }),
                RData::CNAME(c) => r.cname.push(DnsNameRecord { name: name_text(&c.0), ttl }),
                RData::MX(mx) => {
                    r.mx.push(DnsMxRecord { preference: mx.preference, exchange: name_text(&mx.exchange), ttl })
                }
                RData::TXT(txt) => r.txt.push(DnsTxtRecord { text: txt_text(txt), ttl }),
                RData::SOA(soa) => r.soa.push(DnsSoaRecord {
                    mname: name_text(&soa.mname),
                    rname: name_text(&soa.rname),
                    serial: soa.serial,
                    refresh: wire_u32(soa.refresh),
                    retry: wire_u32(soa.retry),
                    expire: wire_u32(soa.expire),
                    minimum: soa.minimum,
                    ttl,
                }),
                RData::CAA(caa) => r.caa.push(DnsCaaRecord {
                    flags: caa.flags(),
                    tag: caa.tag.clone(),
                    value: String::from_utf8_lossy(&caa.value).into_owned(),
                    ttl,
                }),
                _ => {}
            }
        }
    }

    /// Sorts the records (answers come in any order) and fills the flat lists.
    fn finish(&mut self) {
        let r = &mut self.records;
        r.a.sort_by(|x, y| ip_order(&x.address, &y.address));
        r.aaaa.sort_by(|x, y| ip_order(&x.address, &y.address));
        r.ns.sort();
        r.mx.sort();
        r.cname.sort();
        r.txt.sort();
        r.caa.sort();
        self.a = r.a.iter().map(|x| x.address.clone()).collect();
        self.aaaa = r.aaaa.iter().map(|x| x.address.clone()).collect();
        self.ns = r.ns.iter().map(|x| x.name.clone()).collect();
        self.mx = r.mx.iter().map(|x| x.exchange.clone()).collect();
        self.cname = r.cname.iter().map(|x| x.name.clone()).collect();
        self.txt = r.txt.iter().map(|x| x.text.clone()).collect();
        self.caa = r.caa.iter().map(|x| format!("{} {} \"{}\"", x.flags, x.tag, x.value)).collect();
    }
}

fn ip_order(x: &str, y: &str) -> std::cmp::Ordering {
    match (x.parse::<IpAddr>(), y.parse::<IpAddr>()) {
        (Ok(x), Ok(y)) => x.cmp(&y),
        _ => x.cmp(y),
    }
}

/// SOA timers are unsigned 32-bit on the wire; hickory keeps them as `i32`.
fn wire_u32(v: i32) -> u32 {
    u32::from_be_bytes(v.to_be_bytes())
}

/// The answer to one query.
#[derive(Debug, Clone)]
pub(crate) enum Answer {
    /// The records of the requested type (never empty).
    Records(Vec<Record>),
    /// The name exists but has no record of the requested type.
    NoData,
    /// The name does not exist.
    NxDomain,
    /// The query failed. `resolver`: the resolver could not be used at all (no answer, unreachable, refused,
    /// unreadable answer), as opposed to an answer about the name such as SERVFAIL.
    Failed { message: String, resolver: bool },
}

/// `host` as a fully qualified name (no search domain is ever appended).
pub(crate) fn fqdn(host: &str) -> Result<Name, ToolError> {
    let mut name = Name::from_utf8(host.trim_end_matches('.'))
        .map_err(|e| ToolError::InvalidInput(format!("`{host}` is not a valid DNS name: {e}")))?;
    name.set_fqdn(true);
    Ok(name)
}

/// A name as text: ASCII (punycode), without the trailing dot; the root is `.`.
pub(crate) fn name_text(name: &Name) -> String {
    if name.is_root() {
        return ".".to_string();
    }
    let s = name.to_ascii();
    s.strip_suffix('.').map(str::to_string).unwrap_or(s)
}

/// A TXT record's character strings, concatenated (RFC 7208 §3.3), lossily decoded.
pub(crate) fn txt_text(txt: &hickory_resolver::proto::rr::rdata::TXT) -> String {
    let bytes: Vec<u8> = txt.txt_data.iter().flat_map(|s| s.iter().copied()).collect();
    String::from_utf8_lossy(&bytes).into_owned()
}

/// One query of `rtype` at `name`, classified.
pub(crate) async fn query(tb: &Toolbox, name: &Name, rtype: RecordType) -> Answer {
    let mut answers = client::ask(tb.stub(), &[(name.clone(), rtype)]).await;
    answers.pop().unwrap_or(Answer::NoData)
}

fn rcode_name(code: ResponseCode) -> String {
    match code {
        ResponseCode::ServFail => "SERVFAIL".to_string(),
        ResponseCode::FormErr => "FORMERR".to_string(),
        ResponseCode::NotImp => "NOTIMP".to_string(),
        ResponseCode::Refused => "REFUSED".to_string(),
        ResponseCode::NXDomain => "NXDOMAIN".to_string(),
        ResponseCode::NotAuth => "NOTAUTH".to_string(),
        other => format!("{} (rcode {})", other, u16::from(other)),
    }
}

/// The resolver of `tools.resolvers` (`ip` or `ip:port`, UDP then TCP), or the system's when empty.
pub(crate) fn build_resolver(config: &ToolsConfig) -> Result<TokioResolver, ToolError> {
    let mut builder = if config.resolvers.is_empty() {
        TokioResolver::builder_tokio()
            .map_err(|e| ToolError::InvalidInput(format!("reading the system's DNS configuration: {e}")))?
    } else {
        let mut servers = Vec::new();
        for s in &config.resolvers {
            let addr = resolver_addr(s)?;
            let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
            for c in &mut ns.connections {
                c.port = addr.port();
            }
            servers.push(ns);
        }
        TokioResolver::builder_with_config(ResolverConfig::from_name_servers(servers), TokioRuntimeProvider::default())
    };
    let opts = builder.options_mut();
    opts.timeout = Duration::from_millis(config.dns_timeout_ms);
    opts.attempts = 2;
    builder.build().map_err(|e| ToolError::InvalidInput(format!("building the DNS resolver: {e}")))
}

/// The servers the stub client asks ([`client`]): `tools.resolvers`, or the system's.
pub(crate) fn stub_resolvers(config: &ToolsConfig) -> Result<client::Resolvers, ToolError> {
    let servers = if config.resolvers.is_empty() {
        let (system, _) = hickory_resolver::system_conf::read_system_conf()
            .map_err(|e| ToolError::InvalidInput(format!("reading the system's DNS configuration: {e}")))?;
        system
            .name_servers()
            .iter()
            .filter_map(|ns| ns.connections.first().map(|c| SocketAddr::new(ns.ip, c.port)))
            .collect()
    } else {
        config.resolvers.iter().map(|s| resolver_addr(s)).collect::<Result<Vec<_>, _>>()?
    };
    Ok(client::Resolvers { servers, timeout: Duration::from_millis(config.dns_timeout_ms), attempts: 2 })
}

/// A `tools.resolvers` entry: `ip` (port 53) or `ip:port`.
fn resolver_addr(s: &str) -> Result<SocketAddr, ToolError> {
    let addr = s
        .parse()
        .or_else(|_| s.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
        .map_err(|_| ToolError::InvalidInput(format!("tools.resolvers: `{s}` is not an `ip` or `ip:port`")))?;
    if addr.port() == 0 {
        return Err(ToolError::InvalidInput(format!("tools.resolvers: `{s}`: the port must be 1-65535")));
    }
    Ok(addr)
}

/// A and AAAA addresses of `host` from the configured resolvers.
pub(crate) async fn resolve_addresses(tb: &Toolbox, host: &str) -> Result<Vec<IpAddr>, ToolError> {
    match tb.resolver().lookup_ip(host).await {
        Ok(lookup) => Ok(lookup.iter().collect()),
        Err(e) if e.is_nx_domain() => Err(ToolError::Failed(format!("resolving {host}: the name does not exist"))),
        Err(e) if e.is_no_records_found() => {
            Err(ToolError::Failed(format!("resolving {host}: the name has no A or AAAA record")))
        }
        Err(e) => Err(ToolError::Failed(format!("resolving {host}: {e}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_print_without_the_trailing_dot() {
        assert_eq!(name_text(&fqdn("Mail.Example.com.").expect("name")), "mail.example.com");
        assert_eq!(name_text(&Name::from_ascii("Mail.Example.com.").expect("name")), "Mail.Example.com");
        assert_eq!(name_text(&Name::root()), ".");
        assert_eq!(name_text(&fqdn("bücher.example").expect("idn")), "xn--bcher-kva.example");
        assert!(fqdn(&"a".repeat(70)).is_err());
    }

    #[test]
    fn soa_timers_keep_their_unsigned_value() {
        assert_eq!(wire_u32(3600), 3600);
        assert_eq!(wire_u32(-1), u32::MAX);
    }

    #[test]
    fn addresses_sort_numerically() {
        let mut v = vec!["192.0.2.10", "192.0.2.9", "10.0.0.1"];
        v.sort_by(|x, y| ip_order(x, y));
        assert_eq!(v, ["10.0.0.1", "192.0.2.9", "192.0.2.10"]);
    }

    #[test]
    fn resolvers_need_a_port() {
        assert_eq!(resolver_addr("192.0.2.53").expect("ip"), "192.0.2.53:53".parse().expect("addr"));
        assert_eq!(resolver_addr("[::1]:5353").expect("ip:port"), "[::1]:5353".parse().expect("addr"));
        match resolver_addr("192.0.2.53:0") {
            Err(ToolError::InvalidInput(m)) => {
                assert_eq!(m, "tools.resolvers: `192.0.2.53:0`: the port must be 1-65535")
            }
            other => panic!("expected invalid input, got {other:?}"),
        }
    }
}
