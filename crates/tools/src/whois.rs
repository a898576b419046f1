//! `whois`: registration data of a domain, an IP address or an AS number, over WHOIS (RFC 3912, TCP port 43).
//!
//! # How a run goes
//! The target is a domain, an IP address or an AS number (`AS15169`); a URL or an e-mail address stands for its
//! host. The first server asked is `tools.whois.servers` entry for the domain's suffix (or `ip` / `asn`) when
//! there is one, else `tools.whois.root_server` (`whois.iana.org:43`). Each answer may refer to a more specific
//! server, which is asked in turn, up to `tools.whois.max_referrals` referrals and never the same server twice:
//! - IANA's `refer:` (and `whois:`),
//! - a registry's `Registrar WHOIS Server:` or `Whois Server:` (the registrar's own, more detailed answer),
//! - ARIN's `ReferralServer: whois://host[:port]`; `rwhois://` referrals are recorded, not followed.
//!
//! When a registry has no record of a name with more than two labels (`www.example.com`), the same registry is
//! asked for the parent name (`example.com`), a few levels at most and never up to a public second level such as
//! `co.uk`; this is how a URL or a mail address finds its registered domain.
//!
//! A query is one line ended by CRLF; the answer is read to end of file, at most `max_response_bytes` bytes
//! (cut there and marked `truncated`) within `read_timeout_ms`, and decoded as UTF-8 (invalid bytes replaced).
//! What is sent:
//! - a domain: the name, ASCII (`example.com`);
//! - an IP address: the address; to `whois.arin.net`, `n + <ip>` (network search with full details);
//! - an AS number: `AS15169`; to `whois.arin.net`, `a + 15169`.
//!
//! # Egress
//! The root server and the `servers` entries are operator configuration and are always contacted. Servers named
//! by a referral come from remote data and go through the egress policy: a referral to a private or loopback
//! address is refused (unless `tools.allow_private_targets` or `tools.egress_allow` allows it) and the refusal
//! is recorded in its chain entry. `tools.whois.addresses` pins server names to addresses (a local mirror, or
//! tests); a pin does not exempt a referral from the policy.
//!
//! # Result
//! Every server asked is in `chain`, in order, with the query, the raw answer and the error if any. The parsed
//! fields come from the most specific answer that has each one (a registrar's over its registry's, RIPE's over
//! ARIN's covering block); a field no answer gives is `null`. Dates are RFC 3339 UTC.
//!
//! # Failures
//! The first server unreachable, refusing, silent or timing out: [`ToolError::Failed`] naming the server. A
//! referral that fails is recorded in its chain entry and the result keeps what the earlier answers gave.
//! Invalid `tools.whois` configuration: [`ToolError::InvalidInput`] naming the key.

//!
//! Which server to ask and how to talk to it (server addresses, referrals, pins, connections and the exchange)
//! are in `whois/server.rs`; reading answers is `whois/parse.rs`; this file holds the result, the run's walk from
//! server to server, and how the answers are combined.

pub(crate) mod parse;
pub(crate) mod server;

use std::fmt;
use std::net::IpAddr;
use std::time::Duration;

use chrono::Utc;
use serde::Serialize;
use tlink_domain::AssetType;

use crate::{Target, ToolError, Toolbox};
use parse::{Fields, Kind};
use server::{Io, Server, ask, first_server, follow, pins};

/// Parent names tried after a "not found" (`a.b.example.com` → `b.example.com` → `example.com`).
const MAX_PARENT_STEPS: usize = 3;
/// Second-level labels under which names are registered (`example.co.uk`), so never asked for themselves.
const PUBLIC_SECOND_LEVEL: &[&str] =
    &["ac", "co", "com", "edu", "gob", "go", "gov", "ltd", "me", "mil", "ne", "net", "nom", "or", "org", "plc", "sch"];

/// The registration data of a domain, network or AS number, with every WHOIS answer it was read from.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WhoisResult {
    /// What was looked up: a domain name, an IP address or an AS number (`AS15169`); a URL's or e-mail
    /// address's host.
    pub target: String,
    /// The kind of `target`.
    pub target_type: WhoisTargetType,
    /// Whether a server holds a record of the target (false on "No match for …", "NOT FOUND", RIPE's
    /// "no entries found", or when no server gave an answer about it).
    pub found: bool,
    /// Domains: the registered name as the registry spells it, lower-case (`example.com` for `www.example.com`).
    pub domain: Option<String>,
    /// Domains: the sponsoring registrar's name.
    pub registrar: Option<String>,
    /// Domains: the registrar's IANA id.
    pub registrar_iana_id: Option<u32>,
    /// Where to report abuse: the registrar's abuse address for domains, the network's for IPs and ASNs.
    pub abuse_email: Option<String>,
    /// When the domain was registered (networks and ASNs: when the record was created), RFC 3339 UTC.
    pub created_at: Option<String>,
    /// When the record last changed, RFC 3339 UTC.
    pub updated_at: Option<String>,
    /// Domains: when the registration expires, RFC 3339 UTC.
    pub expires_at: Option<String>,
    /// Domains: whole days from now until `expiresAt`, rounded down; negative once expired.
    pub days_until_expiry: Option<i64>,
    /// Domains: the delegated name servers, lower-case, without duplicates.
    pub name_servers: Vec<String>,
    /// Domains: status codes (EPP codes such as `clientTransferProhibited`, without their ICANN link).
    pub status: Vec<String>,
    /// Domains: the registrant's organisation, when published.
    pub registrant_organization: Option<String>,
    /// Domains: the registrant's country, when published (ISO code upper-case).
    pub registrant_country: Option<String>,
    /// Domains: whether the delegation is DNSSEC-signed (`signedDelegation`: true, `unsigned`: false).
    pub dnssec: Option<bool>,
    /// IPs: the most specific network holding the address, `first - last` (`193.0.0.0 - 193.0.7.255`).
    pub net_range: Option<String>,
    /// IPs: `netRange` as CIDR blocks (`193.0.0.0/21`).
    pub cidr: Vec<String>,
    /// IPs: the network's name (`NetName` / `netname`).
    pub net_name: Option<String>,
    /// IPs and ASNs: the holder (`OrgName`, `org-name`, else `descr`).
    pub organization: Option<String>,
    /// IPs and ASNs: the holder's country code.
    pub country: Option<String>,
    /// IPs: the originating AS when the registry names one; ASNs: the AS number. `AS15169` form.
    pub asn: Option<String>,
    /// ASNs (and IPs when given): the AS name (`ASName` / `as-name`).
    pub as_name: Option<String>,
    /// IPs and ASNs: the regional registry whose answer was used: `ARIN`, `RIPE`, `APNIC`, `LACNIC`, `AFRINIC`.
    pub rir: Option<String>,
    /// Every server asked, in order.
    pub chain: Vec<WhoisHop>,
    /// Referrals seen but not followed, and why.
    pub unfollowed_referrals: Vec<UnfollowedReferral>,
}

/// The kind of object looked up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum WhoisTargetType {
    Domain,
    Ip,
    Asn,
}

/// Why a server was asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum WhoisVia {
    /// `tools.whois.root_server`.
    Root,
    /// A `tools.whois.servers` entry.
    Configured,
    /// A referral in the previous answer.
    Referral,
    /// The previous server had no record of the name; it is asked for the parent name.
    ParentDomain,
}

/// One server asked.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct WhoisHop {
    /// The server, `host:port`, as configured or as the referral named it.
    pub server: String,
    /// Why it was asked.
    pub via: WhoisVia,
    /// The address connected to, `ip:port`; null when no connection was made.
    pub address: Option<String>,
    /// The query line sent (without the CRLF).
    pub query: String,
    /// The raw answer, UTF-8 with invalid bytes replaced, at most `tools.whois.max_response_bytes`; null when
    /// nothing was received.
    pub response: Option<String>,
    /// Whether the answer was cut at `tools.whois.max_response_bytes`.
    pub truncated: bool,
    /// Why this server gave no usable answer (connection refused, egress policy, timeout); null on success.
    pub error: Option<String>,
}

/// A referral that was not followed.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct UnfollowedReferral {
    /// The server whose answer holds the referral.
    pub from: String,
    /// The referral as written (`rwhois://rwhois.example.net:4321`).
    pub referral: String,
    /// Why it was not followed.
    pub reason: String,
}

/// Looks `target` up over WHOIS, following referrals; see the module documentation.
///
/// # Errors
/// [`ToolError::InvalidInput`] for a target without a host or an invalid `tools.whois` setting;
/// [`ToolError::Failed`] when the first server gives no answer.
pub async fn run(tb: &Toolbox, target: &Target) -> Result<WhoisResult, ToolError> {
    let cfg = &tb.config().whois;
    let subject = Subject::from_target(target)?;
    let pins = pins(cfg)?;
    let (first, first_via) = first_server(cfg, &subject)?;
    let io = Io {
        pins,
        connect_timeout: Duration::from_millis(tb.config().connect_timeout_ms),
        read_timeout: Duration::from_millis(cfg.read_timeout_ms),
        max_bytes: cfg.max_response_bytes,
    };
    let root = (first_via == WhoisVia::Root).then(|| first.clone());

    let mut server = first;
    let mut via = first_via;
    let mut asked = subject.clone();
    let mut visited = vec![server.clone()];
    let mut referrals = 0;
    let mut parent_steps = 0;
    let mut chain = Vec::new();
    let mut answers = Vec::new();
    let mut unfollowed = Vec::new();
    loop {
        let query = query_line(&server, &asked);
        tracing::debug!(server = %server, query = %query, "whois query");
        let reply = ask(tb, &io, &server, &query, chain.is_empty()).await;
        if chain.is_empty()
            && let Some(e) = &reply.error
        {
            return Err(ToolError::Failed(format!("WHOIS server {server} gave no answer: {e}")));
        }
        let text = if reply.error.is_none() { reply.text.clone() } else { None };
        chain.push(WhoisHop {
            server: server.to_string(),
            via,
            address: reply.address.map(|a| a.to_string()),
            query,
            response: reply.text,
            truncated: reply.truncated,
            error: reply.error,
        });
        let Some(text) = text else { break };

        let not_found = parse::is_not_found(&text);
        answers.push(Answer {
            fields: parse::fields(&text, subject.kind(), &server.host),
            not_found,
            from_root: root.as_ref() == Some(&server),
            asked: asked.clone(),
        });

        if not_found
            && root.as_ref() != Some(&server)
            && parent_steps < MAX_PARENT_STEPS
            && let Some(parent) = asked.parent()
        {
            asked = parent;
            via = WhoisVia::ParentDomain;
            parent_steps += 1;
            continue;
        }

        let pairs = parse::pairs(&text);
        let Some(raw) = parse::referral(&pairs) else { break };
        let mut skip = |reason: String| {
            unfollowed.push(UnfollowedReferral { from: server.to_string(), referral: raw.to_string(), reason });
        };
        let next = match follow(raw) {
            Ok(next) => next,
            Err(reason) => {
                skip(reason);
                break;
            }
        };
        if next == server {
            break; // a server naming itself (registrars do) is no referral
        }
        if visited.contains(&next) {
            skip(format!("{next} was already asked"));
            break;
        }
        if referrals >= cfg.max_referrals {
            skip(format!("referral limit reached (tools.whois.max_referrals = {})", cfg.max_referrals));
            break;
        }
        referrals += 1;
        visited.push(next.clone());
        server = next;
        via = WhoisVia::Referral;
    }

    Ok(assemble(&subject, answers, chain, unfollowed))
}

/// One answer, with what it was about.
struct Answer {
    fields: Fields,
    not_found: bool,
    from_root: bool,
    asked: Subject,
}

impl Answer {
    /// An answer about the zone above the target (IANA's `domain: COM` record) says nothing about the target.
    fn is_about_target(&self) -> bool {
        match (&self.asked, &self.fields.domain) {
            (Subject::Domain(asked), Some(domain)) => !asked.ends_with(&format!(".{domain}")),
            _ => true,
        }
    }
}

fn assemble(
    subject: &Subject,
    answers: Vec<Answer>,
    chain: Vec<WhoisHop>,
    unfollowed: Vec<UnfollowedReferral>,
) -> WhoisResult {
    let kind = subject.kind();
    let relevant: Vec<&Answer> = answers.iter().filter(|a| a.is_about_target()).collect();
    // The root only says which registry to ask: once a registry has answered, whether the object exists and
    // what it is are that registry's word (the root's block is used only when no registry answered).
    let beyond_root = relevant.iter().any(|a| !a.from_root);
    let relevant: Vec<&Answer> = relevant.into_iter().filter(|a| !(beyond_root && a.from_root)).collect();
    let found = relevant.iter().any(|a| !a.not_found && a.fields.identifies(kind));
    // Most specific first.
    let usable: Vec<&Fields> = relevant.iter().rev().filter(|a| !a.not_found).map(|a| &a.fields).collect();
    let pick = |get: &dyn Fn(&Fields) -> Option<String>| usable.iter().find_map(|f| get(f));
    let pick_list = |get: &dyn Fn(&Fields) -> &Vec<String>| {
        usable.iter().map(|f| get(f)).find(|v| !v.is_empty()).cloned().unwrap_or_default()
    };
    let expires = usable.iter().find_map(|f| f.expires);
    let (net_range, cidr) = usable.iter().find_map(|f| f.net_range.clone()).unzip();
    let asn = pick(&|f| f.asn.clone()).or_else(|| match subject {
        Subject::Asn(n) if found => Some(format!("AS{n}")),
        _ => None,
    });
    WhoisResult {
        target: subject.to_string(),
        target_type: match kind {
            Kind::Domain => WhoisTargetType::Domain,
            Kind::Ip => WhoisTargetType::Ip,
            Kind::Asn => WhoisTargetType::Asn,
        },
        found,
        domain: pick(&|f| f.domain.clone()),
        registrar: pick(&|f| f.registrar.clone()),
        registrar_iana_id: usable.iter().find_map(|f| f.registrar_iana_id),
        abuse_email: pick(&|f| f.abuse_email.clone()),
        created_at: usable.iter().find_map(|f| f.created).map(parse::rfc3339),
        updated_at: usable.iter().find_map(|f| f.updated).map(parse::rfc3339),
        expires_at: expires.map(parse::rfc3339),
        days_until_expiry: expires.map(|e| (e - Utc::now()).num_seconds().div_euclid(86_400)),
        name_servers: pick_list(&|f| &f.name_servers),
        status: pick_list(&|f| &f.status),
        registrant_organization: pick(&|f| f.registrant_organization.clone()),
        registrant_country: pick(&|f| f.registrant_country.clone()),
        dnssec: usable.iter().find_map(|f| f.dnssec),
        net_range,
        cidr: cidr.unwrap_or_default(),
        net_name: pick(&|f| f.net_name.clone()),
        organization: pick(&|f| f.organization.clone()),
        country: pick(&|f| f.country.clone()),
        asn,
        as_name: pick(&|f| f.as_name.clone()),
        rir: usable.iter().find_map(|f| f.rir).map(str::to_string),
        chain,
        unfollowed_referrals: unfollowed,
    }
}

/// What is looked up.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Subject {
    Domain(String),
    Ip(IpAddr),
    Asn(u32),
}

impl Subject {
    fn from_target(target: &Target) -> Result<Subject, ToolError> {
        let host_of = |host: Option<&str>| -> Result<Subject, ToolError> {
            let host = host.ok_or_else(|| {
                ToolError::InvalidInput(format!("`{}` has no host to look up over WHOIS", target.value()))
            })?;
            Ok(match host.parse::<IpAddr>() {
                Ok(ip) => Subject::Ip(ip),
                Err(_) => Subject::Domain(host.trim_end_matches('.').to_ascii_lowercase()),
            })
        };
        match target.kind() {
            AssetType::Asn => {
                let digits = target.value().trim_start_matches(['A', 'S', 'a', 's']);
                digits
                    .parse()
                    .map(Subject::Asn)
                    .map_err(|_| ToolError::InvalidInput(format!("`{}` is not an AS number", target.value())))
            }
            AssetType::Domain | AssetType::Ip | AssetType::Url | AssetType::Email => host_of(target.host()),
            other => Err(ToolError::InvalidInput(format!(
                "the whois tool does not look up {} targets; it takes a domain, IP address or AS number",
                other.as_str()
            ))),
        }
    }

    fn kind(&self) -> Kind {
        match self {
            Subject::Domain(_) => Kind::Domain,
            Subject::Ip(_) => Kind::Ip,
            Subject::Asn(_) => Kind::Asn,
        }
    }

    /// The name one label up, when it can itself be registered.
    fn parent(&self) -> Option<Subject> {
        let Subject::Domain(name) = self else { return None };
        let (_, rest) = name.split_once('.')?;
        let labels: Vec<&str> = rest.split('.').collect();
        match labels.as_slice() {
            [] | [_] => None,
            [second, tld] if tld.len() == 2 && PUBLIC_SECOND_LEVEL.contains(second) => None,
            _ => Some(Subject::Domain(rest.to_string())),
        }
    }
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::Domain(d) => f.write_str(d),
            Subject::Ip(ip) => write!(f, "{ip}"),
            Subject::Asn(n) => write!(f, "AS{n}"),
        }
    }
}

/// The query line for `subject` as `server` expects it.
fn query_line(server: &Server, subject: &Subject) -> String {
    let arin = server.host == "whois.arin.net";
    match subject {
        Subject::Domain(d) => d.clone(),
        Subject::Ip(ip) if arin => format!("n + {ip}"),
        Subject::Ip(ip) => ip.to_string(),
        Subject::Asn(n) if arin => format!("a + {n}"),
        Subject::Asn(n) => format!("AS{n}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asks_each_server_kind_in_its_syntax() {
        let arin = Server { host: "whois.arin.net".into(), port: 43 };
        let ripe = Server { host: "whois.ripe.net".into(), port: 43 };
        let ip = Subject::Ip("8.8.8.8".parse().expect("ip"));
        assert_eq!(query_line(&arin, &ip), "n + 8.8.8.8");
        assert_eq!(query_line(&ripe, &ip), "8.8.8.8");
        assert_eq!(query_line(&arin, &Subject::Asn(15169)), "a + 15169");
        assert_eq!(query_line(&ripe, &Subject::Asn(3333)), "AS3333");
        assert_eq!(query_line(&ripe, &Subject::Domain("example.com".into())), "example.com");
    }

    #[test]
    fn climbs_to_registrable_parents_only() {
        let parent = |d: &str| Subject::Domain(d.into()).parent().map(|p| p.to_string());
        assert_eq!(parent("www.example.com").as_deref(), Some("example.com"));
        assert_eq!(parent("a.b.example.de").as_deref(), Some("b.example.de"));
        assert_eq!(parent("example.com"), None);
        assert_eq!(parent("example.co.uk"), None);
        assert_eq!(parent("www.example.co.uk").as_deref(), Some("example.co.uk"));
        assert_eq!(parent("shop.abc.de").as_deref(), Some("abc.de"));
        assert_eq!(Subject::Asn(1).parent(), None);
    }
}
