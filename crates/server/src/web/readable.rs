//! A tool's result as a person reads it: sections of tables and key–value lists, built from the result
//! JSON of each tool (the raw JSON stays available beside it).
//!
//! Each reader follows the result types of `tlink_tools` (field names as serialized: camelCase, the providers'
//! own names inside provider sections) but reads the stored JSON defensively: a field that is missing, or of
//! another type, is skipped, never an error, and a shape it does not know gives fewer sections. Times are shown
//! as `YYYY-MM-DD HH:MM UTC` (kept as written when they do not parse); a table shows at most [`MAX_ROWS`] rows,
//! and its title says how many there were when there were more. Tones follow the tools' own judgement where the
//! result carries one (a finding's `critical`/`high` is [`Tone::Bad`], `medium` [`Tone::Warn`]).

use chrono::{DateTime, NaiveDateTime, Utc};
use serde_json::Value;
use tlink_domain::ToolKey;
use tlink_tools::exposure::{risk_score, service_risk};

/// Most rows a table (or list of notes) shows.
pub const MAX_ROWS: usize = 200;
/// Longest text kept in a table cell (banners, comments, TXT records), characters.
const MAX_CELL_CHARS: usize = 300;
/// What a table cell shows when the value is missing.
const NONE: &str = "—";
/// Days before a certificate's expiry from which it is a warning (the ssl tool's default warning window).
const CERT_WARN_DAYS: i64 = 30;
/// Days before a certificate's expiry from which it is a problem.
const CERT_BAD_DAYS: i64 = 7;
/// Days before a domain's expiry from which it is a warning.
const DOMAIN_WARN_DAYS: i64 = 30;

/// Stands for an absent object, so that lookups inside it find nothing.
static NULL: Value = Value::Null;

/// One part of a readable result.
#[derive(Debug, Clone, PartialEq)]
pub struct Section {
    /// The heading.
    pub title: String,
    /// What it shows.
    pub body: Body,
}

/// What a section shows.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// Labelled values, in order.
    Pairs(Vec<(String, Cell)>),
    /// A table: column headings and rows of cells (every row as long as `headers`).
    Table { headers: Vec<String>, rows: Vec<Vec<Cell>> },
    /// Lines of text (findings, warnings).
    Notes(Vec<Cell>),
}

/// A value to show, with how it should look.
#[derive(Debug, Clone, PartialEq)]
pub struct Cell {
    /// The text shown.
    pub text: String,
    /// How it is coloured.
    pub tone: Tone,
}

/// How a value is coloured: neutral, or a verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Plain,
    Good,
    Warn,
    Bad,
}

impl Cell {
    /// A neutral value.
    pub fn plain(text: impl Into<String>) -> Cell {
        Cell { text: text.into(), tone: Tone::Plain }
    }

    /// A value shown with `tone`.
    pub fn new(text: impl Into<String>, tone: Tone) -> Cell {
        Cell { text: text.into(), tone }
    }

    /// A reassuring value.
    pub fn good(text: impl Into<String>) -> Cell {
        Cell::new(text, Tone::Good)
    }

    /// A value worth attention.
    pub fn warn(text: impl Into<String>) -> Cell {
        Cell::new(text, Tone::Warn)
    }

    /// A problem.
    pub fn bad(text: impl Into<String>) -> Cell {
        Cell::new(text, Tone::Bad)
    }
}

/// The readable view of `tool`'s `result`; empty when nothing more readable than the JSON can be said.
pub fn readable(tool: ToolKey, result: &Value) -> Vec<Section> {
    let mut out = Out::default();
    if result.is_object() {
        match tool {
            ToolKey::Dns => dns(result, &mut out),
            ToolKey::Whois => whois(result, &mut out),
            ToolKey::IpReputation => reputation(result, &mut out),
            ToolKey::Email => email(result, &mut out),
            ToolKey::Exposure => exposure(result, &mut out),
            ToolKey::Ssl => ssl(result, &mut out),
            ToolKey::ThreatFeed => threat_feed(result, &mut out),
        }
    }
    out.sections
}

// ---------------------------------------------------------------------------------------------------------------
// dns (tlink_tools::dns::DnsResult)

fn dns(r: &Value, out: &mut Out) {
    let name = str_of(r, "name");
    let records = at(r, "records");
    let status = at(r, "status");
    let looked_up = |key: &str| matches!(str_of(status, key), Some("ok" | "nodata"));
    let txt: Vec<String> = list(records, "txt").iter().filter_map(|t| text(t, "text")).collect();

    let mut p = Pairs::default();
    p.text("Name", name.map(str::to_string));
    if flag(r, "nxdomain") == Some(true) {
        p.cell("Exists", Some(Cell::bad("no: the name does not exist (NXDOMAIN)")));
    }
    p.text("Alias of", list(records, "cname").iter().find_map(|c| text(c, "name")));
    let (v4, v6) = (list(records, "a").len(), list(records, "aaaa").len());
    if v4 + v6 > 0 {
        p.text("Addresses", Some(format!("{v4} IPv4, {v6} IPv6")));
    }
    let ns: Vec<String> = list(records, "ns").iter().filter_map(|n| text(n, "name")).collect();
    if !ns.is_empty() {
        p.text("Name servers", Some(join_max(&ns, 10)));
    }
    let mx: Vec<String> = list(records, "mx").iter().filter_map(|m| text(m, "exchange")).collect();
    if mx.iter().any(|m| m == ".") {
        p.text("Mail servers", Some("none: null MX, the name accepts no mail".to_string()));
    } else if !mx.is_empty() {
        p.text("Mail servers", Some(join_max(&mx, 10)));
    }
    let spf: Vec<&String> = txt.iter().filter(|t| starts_with_ci(t, "v=spf1")).collect();
    match spf.as_slice() {
        [] if looked_up("txt") => p.text("SPF", Some("none published".to_string())),
        [] => {}
        [one] => p.cell("SPF", Some(Cell::good(clip(one, MAX_CELL_CHARS)))),
        many => {
            p.cell("SPF", Some(Cell::bad(format!("{} records: receivers fail SPF, only one is allowed", many.len()))))
        }
    }
    if let Some(dmarc) = txt.iter().find(|t| starts_with_ci(t, "v=dmarc1")) {
        p.cell("DMARC", Some(Cell::good(clip(dmarc, MAX_CELL_CHARS))));
    }
    let caa = list(records, "caa");
    if !caa.is_empty() {
        let issuers: Vec<String> = caa
            .iter()
            .filter(|c| matches!(str_of(c, "tag"), Some("issue" | "issuewild")))
            .filter_map(|c| str_of(c, "value"))
            .map(|v| match v.split(';').next().map(str::trim) {
                Some(ca) if !ca.is_empty() => ca.to_string(),
                _ => "no authority".to_string(),
            })
            .collect();
        let shown = if issuers.is_empty() {
            format!("{} record{}", caa.len(), plural(caa.len()))
        } else {
            format!("may issue: {}", join_max(&distinct(issuers), 10))
        };
        p.cell("CAA", Some(Cell::good(shown)));
    } else if looked_up("caa") {
        p.text("CAA", Some("none: any certificate authority may issue".to_string()));
    }
    if let Some(signed) = flag(r, "dnssec") {
        p.cell("DNSSEC", Some(if signed { Cell::good("signed") } else { Cell::plain("not signed") }));
    }
    out.pairs("Summary", p);

    let address = |rec: &Value| Some(vec![Cell::plain(text(rec, "address")?)]);
    let target = |rec: &Value| Some(vec![Cell::plain(text(rec, "name")?)]);
    out.table("A records", &["Name", "Address", "TTL"], record_rows(records, "a", name, address));
    out.table("AAAA records", &["Name", "Address", "TTL"], record_rows(records, "aaaa", name, address));
    out.table("CNAME records", &["Name", "Canonical name", "TTL"], record_rows(records, "cname", name, target));
    out.table("NS records", &["Name", "Name server", "TTL"], record_rows(records, "ns", name, target));
    out.table(
        "MX records",
        &["Name", "Preference", "Mail server", "TTL"],
        record_rows(records, "mx", name, |rec| {
            Some(vec![or_none(text(rec, "preference")), Cell::plain(mail_server(&text(rec, "exchange")?))])
        }),
    );
    out.table(
        "TXT records",
        &["Name", "Text", "TTL"],
        record_rows(records, "txt", name, |rec| Some(vec![Cell::plain(clip(str_of(rec, "text")?, MAX_CELL_CHARS))])),
    );
    out.table(
        "CAA records",
        &["Name", "Flags", "Tag", "Value", "TTL"],
        record_rows(records, "caa", name, |rec| {
            Some(vec![or_none(text(rec, "flags")), Cell::plain(text(rec, "tag")?), or_none(text(rec, "value"))])
        }),
    );

    if let Some(soa) = list(records, "soa").first() {
        let mut p = Pairs::default();
        p.text("Primary name server", text(soa, "mname"));
        p.text("Administrator", str_of(soa, "rname").map(mailbox));
        p.text("Serial", text(soa, "serial"));
        p.text("Refresh", int(soa, "refresh").map(seconds));
        p.text("Retry", int(soa, "retry").map(seconds));
        p.text("Expire", int(soa, "expire").map(seconds));
        p.text("Negative-caching TTL", int(soa, "minimum").map(seconds));
        p.text("TTL", int(soa, "ttl").map(seconds));
        out.pairs("SOA record", p);
    }

    out.notes("Failed queries", keyed_errors(at(r, "errors")));
}

/// The rows of the DNS records `records[key]`: the name, the cells `values` makes of a record (a record it makes
/// none of is skipped), and the TTL.
fn record_rows(
    records: &Value,
    key: &str,
    name: Option<&str>,
    values: impl Fn(&Value) -> Option<Vec<Cell>>,
) -> Vec<Vec<Cell>> {
    list(records, key)
        .iter()
        .filter_map(|rec| {
            let mut row = vec![Cell::plain(name.unwrap_or(NONE))];
            row.extend(values(rec)?);
            row.push(or_none(int(rec, "ttl").map(seconds)));
            Some(row)
        })
        .collect()
}

/// An MX exchange as read: the null MX spelled out.
fn mail_server(exchange: &str) -> String {
    if exchange == "." { "(null MX: no mail accepted)".to_string() } else { exchange.to_string() }
}

/// An SOA `rname` (`hostmaster.example.com`) as the mailbox it stands for (`hostmaster@example.com`); kept as
/// written when its first label holds an escaped dot.
fn mailbox(rname: &str) -> String {
    match rname.split_once('.') {
        Some((local, domain)) if !local.contains('\\') && !local.is_empty() && !domain.is_empty() => {
            format!("{local}@{domain}")
        }
        _ => rname.to_string(),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// whois (tlink_tools::whois::WhoisResult)

fn whois(r: &Value, out: &mut Out) {
    let title = match str_of(r, "targetType") {
        Some("ip") => "Network",
        Some("asn") => "Autonomous system",
        _ => "Registration",
    };
    let mut p = Pairs::default();
    p.text("Target", text(r, "target"));
    if flag(r, "found") == Some(false) {
        p.cell("Record", Some(Cell::warn("none found: no WHOIS server holds a record of the target")));
    }
    p.text("Domain", text(r, "domain"));
    p.text(
        "Registrar",
        text(r, "registrar").map(|name| match text(r, "registrarIanaId") {
            Some(id) => format!("{name} (IANA id {id})"),
            None => name,
        }),
    );
    p.text("Registrant organization", text(r, "registrantOrganization"));
    p.text("Registrant country", text(r, "registrantCountry"));
    p.text("Network range", text(r, "netRange"));
    let cidr = strings(r, "cidr");
    if !cidr.is_empty() {
        p.text("CIDR", Some(join_max(&cidr, 10)));
    }
    p.text("Network name", text(r, "netName"));
    p.text("Organization", text(r, "organization"));
    p.text("Country", text(r, "country"));
    p.text("AS number", text(r, "asn"));
    p.text("AS name", text(r, "asName"));
    p.text("Registry", text(r, "rir"));
    p.text("Created", time_of(r, "createdAt"));
    p.text("Updated", time_of(r, "updatedAt"));
    p.cell("Expires", domain_expiry(r));
    if let Some(signed) = flag(r, "dnssec") {
        p.cell("DNSSEC", Some(if signed { Cell::good("signed delegation") } else { Cell::plain("unsigned") }));
    }
    p.text("Abuse contact", text(r, "abuseEmail"));
    out.pairs(title, p);

    out.notes("Status", strings(r, "status").into_iter().map(|s| Cell::new(epp_status_meaning(&s), epp_tone(&s))));
    out.notes("Name servers", strings(r, "nameServers").into_iter().map(Cell::plain));

    out.table(
        "WHOIS servers asked",
        &["Server", "Why", "Address", "Query", "Outcome"],
        list(r, "chain").iter().filter_map(|hop| {
            let why = match str_of(hop, "via") {
                Some("root") => "root server".to_string(),
                Some("configured") => "configured for the target".to_string(),
                Some("referral") => "referral".to_string(),
                Some("parentDomain") => "parent domain".to_string(),
                Some(other) => other.to_string(),
                None => NONE.to_string(),
            };
            let outcome = if let Some(e) = text(hop, "error") {
                Cell::bad(e)
            } else if flag(hop, "truncated") == Some(true) {
                Cell::warn("answered (cut at the size limit)")
            } else if str_of(hop, "response").is_some() {
                Cell::good("answered")
            } else {
                Cell::plain("no answer")
            };
            Some(vec![
                Cell::plain(text(hop, "server")?),
                Cell::plain(why),
                or_none(text(hop, "address")),
                or_none(text(hop, "query")),
                outcome,
            ])
        }),
    );
    out.notes(
        "Referrals not followed",
        list(r, "unfollowedReferrals").iter().filter_map(|u| {
            let referral = text(u, "referral")?;
            let from = text(u, "from").map(|f| format!(" (from {f})")).unwrap_or_default();
            let reason = text(u, "reason").map(|w| format!(": {w}")).unwrap_or_default();
            Some(Cell::warn(format!("{referral}{from}{reason}")))
        }),
    );
}

/// `expiresAt` with the days left (as of the run: `daysUntilExpiry`; from now when the run gave none).
fn domain_expiry(r: &Value) -> Option<Cell> {
    let expires = str_of(r, "expiresAt")?;
    Some(match int(r, "daysUntilExpiry").or_else(|| days_until(expires)) {
        Some(days) => {
            let tone = if days < 0 {
                Tone::Bad
            } else if days <= DOMAIN_WARN_DAYS {
                Tone::Warn
            } else {
                Tone::Good
            };
            Cell::new(format!("{} ({})", when(expires), days_phrase(days)), tone)
        }
        None => Cell::plain(when(expires)),
    })
}

/// An EPP status code (`clientTransferProhibited`), and for the codes that matter what it means.
fn epp_status_meaning(code: &str) -> String {
    let meaning = match squash(code).as_str() {
        "clienthold" | "serverhold" => Some("not published in DNS: the domain does not resolve"),
        "redemptionperiod" => Some("deleted by the registrar; can still be restored"),
        "pendingdelete" => Some("about to be released"),
        "clienttransferprohibited" | "servertransferprohibited" => Some("locked against transfer"),
        "clientdeleteprohibited" | "serverdeleteprohibited" => Some("locked against deletion"),
        "clientupdateprohibited" | "serverupdateprohibited" => Some("locked against changes"),
        _ => None,
    };
    match meaning {
        Some(m) => format!("{code}: {m}"),
        None => code.to_string(),
    }
}

fn epp_tone(code: &str) -> Tone {
    let c = squash(code);
    if c.contains("hold") || c.contains("redemption") || c.contains("pendingdelete") || c == "inactive" {
        Tone::Bad
    } else if c.starts_with("pending") {
        Tone::Warn
    } else if c.contains("prohibited") || c == "ok" || c == "active" {
        Tone::Good
    } else {
        Tone::Plain
    }
}

/// Lower case without spaces, so that `Client Transfer Prohibited` reads as `clienttransferprohibited`.
fn squash(s: &str) -> String {
    s.chars().filter(|c| !c.is_whitespace() && *c != '_' && *c != '-').collect::<String>().to_lowercase()
}

// ---------------------------------------------------------------------------------------------------------------
// ssl (tlink_tools::ssl::SslResult)

fn ssl(r: &Value, out: &mut Out) {
    let mut v = Pairs::default();
    v.cell(
        "Verdict",
        flag(r, "valid").map(|ok| {
            if ok {
                Cell::good("valid: a standard client accepts this server")
            } else {
                Cell::bad("invalid: a standard client refuses this server")
            }
        }),
    );
    v.cell("Why", text(r, "validationError").map(Cell::bad));
    v.cell("Trusted chain", flag(r, "trusted").map(|ok| verdict(ok, "yes", "no: it does not lead to a trusted root")));
    v.cell(
        "Chain valid",
        flag(r, "chainValid").map(|ok| verdict(ok, "yes: trusted and in date", "no: untrusted or out of date")),
    );
    v.cell(
        "Host name",
        flag(r, "hostnameMatches").map(|ok| verdict(ok, "matches the certificate", "does not match the certificate")),
    );
    v.cell(
        "Certificate expires",
        str_of(r, "expiresAt").map(|expires| {
            let days = int(r, "daysToExpiry").or_else(|| days_until(expires));
            match days {
                Some(d) => Cell::new(format!("{} ({})", when(expires), days_phrase(d)), cert_days_tone(d)),
                None => Cell::plain(when(expires)),
            }
        }),
    );
    v.text("Grade", text(r, "grade"));
    out.pairs("Verdict", v);

    let mut c = Pairs::default();
    c.text("Host", text(r, "host"));
    c.text("Port", text(r, "port"));
    c.text("Address", text(r, "address"));
    c.text("Server name (SNI)", text(r, "sni"));
    c.cell("Protocol", str_of(r, "protocol").map(|p| Cell::new(p, protocol_tone(p))));
    c.cell("Cipher suite", str_of(r, "cipherSuite").map(|s| Cell::new(s, cipher_tone(s))));
    c.text("Key exchange", text(r, "keyExchange"));
    c.text("ALPN", text(r, "alpn"));
    let legacy = strings(r, "legacyProtocols");
    if !legacy.is_empty() {
        let tone = if legacy.iter().any(|l| l.starts_with("SSL")) { Tone::Bad } else { Tone::Warn };
        c.cell("Legacy versions accepted", Some(Cell::new(legacy.join(", "), tone)));
    } else if !list(r, "legacyProbes").is_empty() {
        c.cell("Legacy versions accepted", Some(Cell::good("none")));
    }
    out.pairs("Connection", c);

    let certs = list(r, "certificates");
    out.table(
        "Certificate chain",
        &["Role", "Subject", "Issuer", "Not before", "Not after", "Days left", "Key", "Signature"],
        certs.iter().enumerate().map(|(i, cert)| certificate_row(i, cert)),
    );

    if let Some(leaf) = certs.first() {
        let mut p = Pairs::default();
        p.text("Common name", text(leaf, "commonName"));
        let names = strings(leaf, "subjectAltNames");
        if !names.is_empty() {
            p.text("Names (subjectAltName)", Some(join_max(&names, 25)));
        }
        p.text("Serial number", text(leaf, "serialNumber"));
        p.text("SHA-256 fingerprint", text(leaf, "sha256Fingerprint"));
        if flag(leaf, "selfSigned") == Some(true) {
            p.cell("Self-signed", Some(Cell::warn("yes")));
        }
        out.pairs("Leaf certificate", p);
    }

    out.table(
        "Legacy protocol probes",
        &["Version", "Result", "Cipher suite", "Detail"],
        list(r, "legacyProbes").iter().filter_map(|probe| {
            let version = str_of(probe, "version")?;
            let result = match str_of(probe, "status") {
                Some("accepted") if version.starts_with("SSL") => Cell::bad("accepted"),
                Some("accepted") => Cell::warn("accepted"),
                Some("refused") => Cell::good("refused"),
                Some(other) => Cell::plain(other),
                None => Cell::plain(NONE),
            };
            Some(vec![
                Cell::plain(version),
                result,
                or_none(text(probe, "cipherSuite")),
                or_none(text(probe, "detail").map(|d| clip(&d, MAX_CELL_CHARS))),
            ])
        }),
    );

    out.notes("Findings", findings(list(r, "findings")));
}

fn certificate_row(i: usize, cert: &Value) -> Vec<Cell> {
    let self_signed = flag(cert, "selfSigned") == Some(true);
    let role = match (i, self_signed) {
        (0, true) => Cell::warn("Leaf (self-signed)"),
        (0, false) => Cell::plain("Leaf"),
        (_, true) => Cell::plain("Root"),
        (_, false) => Cell::plain("Intermediate"),
    };
    let not_before = match time_of(cert, "notBefore") {
        Some(t) if flag(cert, "notYetValid") == Some(true) => Cell::bad(format!("{t} (not yet valid)")),
        Some(t) => Cell::plain(t),
        None => Cell::plain(NONE),
    };
    let days = int(cert, "daysToExpiry").or_else(|| str_of(cert, "notAfter").and_then(days_until));
    let expired = flag(cert, "expired") == Some(true);
    let days_left = match days {
        Some(d) if d < 0 => Cell::bad(days_phrase(d)),
        Some(_) if expired => Cell::bad("expired"),
        Some(d) => Cell::new(d.to_string(), cert_days_tone(d)),
        None if expired => Cell::bad("expired"),
        None => Cell::plain(NONE),
    };
    let key = match str_of(cert, "keyType") {
        Some(kind) => {
            let bits = int(cert, "keySize");
            let shown = match (str_of(cert, "curve"), bits) {
                (Some(curve), _) => format!("{kind} {curve}"),
                (None, Some(bits)) => format!("{kind} {bits} bits"),
                (None, None) => kind.to_string(),
            };
            let weak = kind.eq_ignore_ascii_case("RSA") && bits.is_some_and(|b| b < 2048);
            Cell::new(shown, if weak { Tone::Bad } else { Tone::Plain })
        }
        None => Cell::plain(NONE),
    };
    let signature = match str_of(cert, "signatureAlgorithm") {
        Some(alg) => {
            let lower = alg.to_ascii_lowercase();
            // Self-signed CA certificates (trust anchors) are not checked by clients, as the ssl tool says.
            let weak =
                !(i > 0 && self_signed) && (lower.contains("md5") || lower.contains("md2") || lower.contains("sha1"));
            Cell::new(alg, if weak { Tone::Bad } else { Tone::Plain })
        }
        None => Cell::plain(NONE),
    };
    vec![
        role,
        or_none(text(cert, "subject")),
        or_none(text(cert, "issuer")),
        not_before,
        or_none(time_of(cert, "notAfter")),
        days_left,
        key,
        signature,
    ]
}

fn cert_days_tone(days: i64) -> Tone {
    if days <= CERT_BAD_DAYS {
        Tone::Bad
    } else if days <= CERT_WARN_DAYS {
        Tone::Warn
    } else {
        Tone::Good
    }
}

fn protocol_tone(protocol: &str) -> Tone {
    match protocol {
        "TLSv1.3" | "TLSv1.2" => Tone::Good,
        p if p.starts_with("SSL") || p == "TLSv1.0" || p == "TLSv1.1" => Tone::Bad,
        _ => Tone::Plain,
    }
}

/// Broken suites (no encryption, export grade, RC4, DES, MD5, anonymous) are bad; CBC modes and static RSA
/// key exchange (no forward secrecy) are worth a warning.
fn cipher_tone(suite: &str) -> Tone {
    let s = suite.to_ascii_uppercase();
    if ["_NULL_", "_EXPORT", "_RC4_", "_DES_", "3DES", "_MD5", "_ANON_"].iter().any(|w| s.contains(w)) {
        Tone::Bad
    } else if s.contains("_CBC_") || s.starts_with("TLS_RSA_WITH") {
        Tone::Warn
    } else {
        Tone::Plain
    }
}

// ---------------------------------------------------------------------------------------------------------------
// exposure (tlink_tools::exposure::ExposureResult)

fn exposure(r: &Value, out: &mut Out) {
    let ports = list(r, "ports");
    let mut p = Pairs::default();
    p.text("Host", text(r, "host"));
    p.text("Address", text(r, "address"));
    p.cell(
        "Risk score",
        int(r, "riskScore").map(|score| {
            let level = str_of(r, "riskLevel").unwrap_or_else(|| risk_level(score));
            Cell::new(format!("{score} / 100 ({level})"), level_tone(level))
        }),
    );
    let open = if ports.is_empty() { list(r, "openPorts").len() } else { ports.len() };
    if r.get("ports").is_some() || r.get("openPorts").is_some() {
        p.cell("Open ports", Some(if open == 0 { Cell::good("none") } else { Cell::plain(open.to_string()) }));
    }
    p.text(
        "Ports scanned",
        text(r, "scanned").map(|n| match text(r, "portSpec") {
            Some(spec) => format!("{n} ({spec})"),
            None => n,
        }),
    );
    p.text("Closed", text(r, "closed"));
    p.text("Filtered (no answer)", text(r, "filtered"));
    p.cell(
        "Known vulnerabilities",
        int(r, "cveCount").map(|n| {
            if n <= 0 {
                Cell::good("none matched")
            } else {
                let top = float(r, "maxCvss").unwrap_or(0.0);
                Cell::new(format!("{n} (highest CVSS {top:.1})"), cvss_tone(top))
            }
        }),
    );
    if flag(r, "knownExploited") == Some(true) {
        p.cell("Known exploited", Some(Cell::bad("yes: a matched CVE is in CISA's KEV catalog")));
    }
    p.text(
        "Scan time",
        int(r, "elapsedMs").filter(|ms| *ms >= 0).map(|ms| format!("{}.{} s", ms / 1000, ms % 1000 / 100)),
    );
    out.pairs("Summary", p);

    out.table(
        "Open ports",
        &["Port", "Service", "Product", "Banner", "CVEs", "Risk"],
        ports.iter().filter_map(|port| {
            let number = int(port, "port")?;
            let protocol = str_of(port, "protocol").unwrap_or("tcp");
            let service = str_of(port, "service").unwrap_or("unknown");
            let service = if flag(port, "authRequired") == Some(false) {
                Cell::bad(format!("{service} (no authentication)"))
            } else {
                Cell::plain(service)
            };
            let product = match (str_of(port, "product"), str_of(port, "version")) {
                (Some(p), Some(v)) => Some(format!("{p} {v}")),
                (Some(p), None) => Some(p.to_string()),
                (None, _) => None,
            };
            let banner = str_of(port, "banner").map(|b| clip(&one_line(b), MAX_CELL_CHARS));
            let risk = port_risk(port);
            let level = risk_level(risk);
            Some(vec![
                Cell::plain(format!("{number}/{protocol}")),
                service,
                or_none(product),
                or_none(banner),
                cve_cell(list(port, "cves")),
                Cell::new(format!("{risk} ({level})"), level_tone(level)),
            ])
        }),
    );

    out.table(
        "Vulnerabilities",
        &["Port", "CVE", "CVSS", "Exploited (KEV)", "Summary"],
        ports.iter().flat_map(|port| {
            let number = text(port, "port").unwrap_or_else(|| NONE.to_string());
            list(port, "cves").iter().filter_map(move |cve| {
                let id = text(cve, "id")?;
                let cvss = match float(cve, "cvss") {
                    Some(s) => Cell::new(format!("{s:.1}"), cvss_tone(s)),
                    None => Cell::plain(NONE),
                };
                let kev = match flag(cve, "kev") {
                    Some(true) => Cell::bad("yes"),
                    Some(false) => Cell::plain("no"),
                    None => Cell::plain(NONE),
                };
                let summary = match (text(cve, "summary"), text(cve, "note")) {
                    (Some(s), Some(n)) => Some(format!("{s} (note: {n})")),
                    (s, n) => s.or(n),
                };
                Some(vec![
                    Cell::plain(number.clone()),
                    Cell::plain(id),
                    cvss,
                    kev,
                    or_none(summary.map(|s| clip(&s, MAX_CELL_CHARS))),
                ])
            })
        }),
    );

    out.notes("Findings", findings(list(r, "findings")));
}

/// The score of the exposure tool's formula for one open port on its own: its CVEs, its service's weight and
/// the port itself.
fn port_risk(port: &Value) -> i64 {
    let cves = list(port, "cves");
    let max_cvss = cves.iter().filter_map(|c| float(c, "cvss")).fold(0.0, f64::max);
    let kev = cves.iter().any(|c| flag(c, "kev") == Some(true));
    let weights: Vec<u8> = str_of(port, "service")
        .and_then(|s| service_risk(s, flag(port, "authRequired")))
        .map(|(weight, ..)| weight)
        .into_iter()
        .collect();
    i64::from(risk_score(max_cvss, kev, &weights, 1))
}

/// The exposure tool's risk level of a 0–100 score.
fn risk_level(score: i64) -> &'static str {
    match score {
        i64::MIN..=0 => "none",
        1..=29 => "low",
        30..=59 => "medium",
        60..=84 => "high",
        _ => "critical",
    }
}

fn level_tone(level: &str) -> Tone {
    match level {
        "critical" | "high" => Tone::Bad,
        "medium" => Tone::Warn,
        "none" => Tone::Good,
        _ => Tone::Plain,
    }
}

fn cvss_tone(score: f64) -> Tone {
    if score >= 7.0 {
        Tone::Bad
    } else if score >= 4.0 {
        Tone::Warn
    } else {
        Tone::Plain
    }
}

/// A port's CVEs in one cell: the first few with their scores, coloured by the worst.
fn cve_cell(cves: &[Value]) -> Cell {
    let ids: Vec<String> = cves
        .iter()
        .filter_map(|c| {
            let id = str_of(c, "id")?;
            Some(match float(c, "cvss") {
                Some(s) => format!("{id} ({s:.1})"),
                None => id.to_string(),
            })
        })
        .collect();
    if ids.is_empty() {
        return Cell::plain(NONE);
    }
    let top = cves.iter().filter_map(|c| float(c, "cvss")).fold(0.0, f64::max);
    let kev = cves.iter().any(|c| flag(c, "kev") == Some(true));
    Cell::new(join_max(&ids, 3), if kev { Tone::Bad } else { cvss_tone(top) })
}

// ---------------------------------------------------------------------------------------------------------------
// email (tlink_tools::email::EmailResult)

fn email(r: &Value, out: &mut Out) {
    let domain = str_of(r, "domain").unwrap_or("the domain");
    let spf = at(r, "spf");
    let dmarc = at(r, "dmarc");
    let hibp = at(r, "hibp");
    let errors = at(r, "errors");
    let mx = list(r, "mx");

    let mut p = Pairs::default();
    p.text("Domain", text(r, "domain"));
    p.text("Address", text(r, "address"));
    if flag(r, "nxdomain") == Some(true) {
        p.cell("Domain exists", Some(Cell::bad("no: the domain does not exist (NXDOMAIN)")));
    }
    let exchanges: Vec<String> = mx.iter().filter_map(|m| text(m, "exchange")).filter(|e| e != ".").collect();
    let mail = if flag(r, "nullMx") == Some(true) {
        Some(Cell::plain("none: null MX, the domain accepts no mail"))
    } else if let Some(e) = text(errors, "mx") {
        Some(Cell::warn(format!("lookup failed: {e}")))
    } else {
        match flag(r, "hasMx") {
            Some(true) | None if !exchanges.is_empty() => Some(Cell::good(join_max(&exchanges, 5))),
            Some(false) => Some(Cell::warn("none: the domain names no mail server")),
            _ => None,
        }
    };
    p.cell("Mail servers", mail);
    p.cell("SPF", spf_verdict(r, spf, domain));
    p.cell("DMARC", dmarc_verdict(r, dmarc));
    p.cell("Most severe finding", str_of(r, "highestSeverity").map(|s| Cell::new(capital(s), severity_tone(s))));
    p.cell("Breaches", hibp_verdict(hibp).filter(|_| str_of(hibp, "status") == Some("ok")));
    out.pairs("Summary", p);

    out.table(
        "MX records",
        &["Preference", "Mail server", "TTL"],
        mx.iter().filter_map(|m| {
            Some(vec![
                or_none(text(m, "preference")),
                Cell::plain(mail_server(&text(m, "exchange")?)),
                or_none(int(m, "ttl").map(seconds)),
            ])
        }),
    );

    let mut s = Pairs::default();
    s.text("Record", text(spf, "record"));
    s.cell("Verdict", spf_verdict(r, spf, domain));
    if let Some(n) = int(spf, "recordCount").filter(|n| *n > 1) {
        s.cell("Records published", Some(Cell::bad(format!("{n}: only one is allowed"))));
    }
    if let Some(n) = int(spf, "lookupCount") {
        let limit = int(spf, "lookupLimit").unwrap_or(10);
        let tone = if n > limit { Tone::Bad } else { Tone::Plain };
        s.cell("DNS lookups", Some(Cell::new(format!("{n} of at most {limit}"), tone)));
    }
    s.text("Redirect", text(spf, "redirect"));
    s.text("Explanation (exp)", text(spf, "exp"));
    if str_of(spf, "record").is_some() {
        out.pairs("SPF", s);
    }
    out.table(
        "SPF includes",
        &["Depth", "Via", "Domain", "Lookups", "Record"],
        list(spf, "includes").iter().filter_map(|inc| {
            let record = match (text(inc, "error"), text(inc, "record")) {
                (Some(e), _) => Cell::bad(e),
                (None, Some(rec)) => Cell::plain(clip(&rec, MAX_CELL_CHARS)),
                (None, None) => Cell::plain(NONE),
            };
            Some(vec![
                or_none(text(inc, "depth")),
                or_none(text(inc, "via")),
                Cell::plain(text(inc, "domain")?),
                or_none(text(inc, "lookupCount")),
                record,
            ])
        }),
    );
    out.notes("SPF problems", strings(spf, "errors").into_iter().map(Cell::warn));

    let mut d = Pairs::default();
    d.text("Record", text(dmarc, "record"));
    d.text(
        "Published at",
        str_of(dmarc, "domain").map(|name| {
            if flag(dmarc, "inherited") == Some(true) {
                format!("_dmarc.{name} (inherited from the parent domain)")
            } else {
                format!("_dmarc.{name}")
            }
        }),
    );
    d.cell("Policy applied", dmarc_verdict(r, dmarc));
    d.text("Domain policy (p)", text(dmarc, "policy"));
    d.text("Subdomain policy (sp)", text(dmarc, "subdomainPolicy"));
    d.cell(
        "Percentage (pct)",
        int(dmarc, "pct")
            .map(|pct| Cell::new(format!("{pct}% of failing mail"), if pct < 100 { Tone::Warn } else { Tone::Plain })),
    );
    if str_of(dmarc, "record").is_some() {
        let rua = strings(dmarc, "rua");
        d.cell(
            "Aggregate reports (rua)",
            Some(if rua.is_empty() { Cell::warn("none requested") } else { Cell::plain(join_max(&rua, 5)) }),
        );
    }
    let ruf = strings(dmarc, "ruf");
    if !ruf.is_empty() {
        d.text("Failure reports (ruf)", Some(join_max(&ruf, 5)));
    }
    d.text("DKIM alignment", str_of(dmarc, "adkim").map(alignment));
    d.text("SPF alignment", str_of(dmarc, "aspf").map(alignment));
    let fo = strings(dmarc, "fo");
    if !fo.is_empty() {
        d.text("Failure options (fo)", Some(fo.join(":")));
    }
    if let Some(n) = int(dmarc, "recordCount").filter(|n| *n > 1) {
        d.cell("Records published", Some(Cell::bad(format!("{n}: receivers ignore DMARC"))));
    }
    if str_of(dmarc, "record").is_some() {
        out.pairs("DMARC", d);
    }
    out.notes("DMARC problems", strings(dmarc, "errors").into_iter().map(Cell::warn));

    out.notes("Findings", findings(list(r, "findings")));

    if str_of(hibp, "status").is_some_and(|s| s != "not_applicable") {
        let mut h = Pairs::default();
        h.cell("Status", hibp_verdict(hibp));
        h.text("Retry after", int(hibp, "retryAfter").map(seconds));
        out.pairs("Have I Been Pwned", h);
    }
    out.table(
        "Breaches",
        &["Breach", "Domain", "Date", "Accounts", "Data exposed", "Verified"],
        list(hibp, "breaches").iter().filter_map(|b| {
            let name = text(b, "Title").or_else(|| text(b, "Name"))?;
            let classes = strings(b, "DataClasses");
            let secret = classes.iter().any(|c| c.to_ascii_lowercase().contains("password"));
            Some(vec![
                Cell::plain(name),
                or_none(text(b, "Domain")),
                or_none(time_of(b, "BreachDate")),
                or_none(uint(b, "PwnCount").map(grouped)),
                Cell::new(join_max(&classes, 8), if secret { Tone::Bad } else { Tone::Warn }),
                or_none(flag(b, "IsVerified").map(|v| yes_no(v).to_string())),
            ])
        }),
    );

    out.notes("Lookup errors", keyed_errors(errors));
}

/// The SPF record's verdict: what receivers do with mail from servers the record does not name.
fn spf_verdict(r: &Value, spf: &Value, domain: &str) -> Option<Cell> {
    if let Some(e) = text(at(r, "errors"), "spf") {
        return Some(Cell::warn(format!("lookup failed: {e}")));
    }
    let count = int(spf, "recordCount");
    if flag(r, "hasSpf") == Some(false) || count == Some(0) {
        return Some(Cell::warn(format!("none published: any server may send mail as {domain}")));
    }
    if count.is_none() && str_of(spf, "record").is_none() {
        return None;
    }
    if flag(spf, "permerror") == Some(true) {
        return Some(Cell::bad("permerror: receivers fail every SPF check"));
    }
    Some(match str_of(spf, "allQualifier") {
        Some("fail") => Cell::good("-all (fail): other servers are refused"),
        Some("softfail") => Cell::good("~all (softfail): mail from other servers is marked"),
        Some("neutral") => Cell::warn("?all (neutral): no verdict on other servers"),
        Some("pass") => Cell::bad("+all (pass): any server passes"),
        Some(other) => Cell::plain(other),
        None => Cell::warn("no all: no verdict on other servers"),
    })
}

/// The DMARC policy receivers apply to the domain.
fn dmarc_verdict(r: &Value, dmarc: &Value) -> Option<Cell> {
    if let Some(e) = text(at(r, "errors"), "dmarc") {
        return Some(Cell::warn(format!("lookup failed: {e}")));
    }
    let count = int(dmarc, "recordCount");
    if flag(r, "hasDmarc") == Some(false) || count == Some(0) {
        return Some(Cell::warn("none published: receivers get no policy"));
    }
    if count.is_none() && str_of(dmarc, "record").is_none() {
        return None;
    }
    let inherited = if flag(dmarc, "inherited") == Some(true) { " (inherited)" } else { "" };
    Some(match str_of(dmarc, "effectivePolicy") {
        Some("reject") => Cell::good(format!("reject: failing mail is refused{inherited}")),
        Some("quarantine") => Cell::good(format!("quarantine: failing mail goes to spam{inherited}")),
        Some("none") => Cell::warn(format!("none: monitoring only, failing mail is delivered{inherited}")),
        Some(other) => Cell::plain(format!("{other}{inherited}")),
        None => Cell::bad("no valid policy: receivers may ignore the record"),
    })
}

fn alignment(mode: &str) -> String {
    match mode {
        "r" => "relaxed".to_string(),
        "s" => "strict".to_string(),
        other => other.to_string(),
    }
}

fn hibp_verdict(hibp: &Value) -> Option<Cell> {
    Some(match str_of(hibp, "status")? {
        "ok" => match uint(hibp, "breachCount") {
            Some(0) => Cell::good("not found in any breach"),
            Some(n) => Cell::bad(format!("found in {n} breach{}", if n == 1 { "" } else { "es" })),
            None => Cell::plain("answered"),
        },
        "not_configured" => Cell::plain("not configured (no API key)"),
        "not_applicable" => Cell::plain("not applicable: only an address is looked up"),
        "error" => Cell::warn(provider_error(hibp)),
        other => Cell::plain(other),
    })
}

// ---------------------------------------------------------------------------------------------------------------
// ip-reputation (tlink_tools::reputation::ReputationResult)

fn reputation(r: &Value, out: &mut Out) {
    let abuse = at(r, "abuseipdb");
    let vt = at(r, "virustotal");
    let lists = at(r, "blocklists");

    let mut p = Pairs::default();
    p.text("Target", text(r, "target"));
    p.text("Kind", text(r, "kind"));
    if answered(abuse) {
        p.cell("AbuseIPDB", abuse_score(abuse));
    }
    if answered(vt) {
        p.cell("VirusTotal", vt_verdict(vt));
    }
    p.cell("Local blocklists", listed_cell(lists, "blocklist"));
    out.pairs("Summary", p);

    if let Some(state) = source_state(abuse) {
        out.pairs("AbuseIPDB", Pairs(vec![("Status".to_string(), state)]));
    } else if answered(abuse) {
        let mut a = Pairs::default();
        a.text("Address", text(abuse, "ipAddress"));
        a.cell("Confidence of abuse", abuse_score(abuse));
        a.text(
            "Reports (90 days)",
            text(abuse, "totalReports").map(|n| match text(abuse, "numDistinctUsers") {
                Some(users) => format!("{n} from {users} user(s)"),
                None => n,
            }),
        );
        a.text("Last reported", time_of(abuse, "lastReportedAt"));
        a.text(
            "Country",
            match (text(abuse, "countryName"), text(abuse, "countryCode")) {
                (Some(name), Some(code)) => Some(format!("{name} ({code})")),
                (name, code) => name.or(code),
            },
        );
        a.text("ISP", text(abuse, "isp"));
        a.text("Usage type", text(abuse, "usageType"));
        a.text("Domain", text(abuse, "domain"));
        let hostnames = strings(abuse, "hostnames");
        if !hostnames.is_empty() {
            a.text("Host names", Some(join_max(&hostnames, 10)));
        }
        if flag(abuse, "isTor") == Some(true) {
            a.cell("Tor exit node", Some(Cell::warn("yes")));
        }
        if flag(abuse, "isWhitelisted") == Some(true) {
            a.cell("Whitelisted", Some(Cell::good("yes")));
        }
        if flag(abuse, "isPublic") == Some(false) {
            a.text("Public address", Some("no".to_string()));
        }
        out.pairs("AbuseIPDB", a);
        out.table(
            "AbuseIPDB reports",
            &["Reported", "Categories", "Reporter country", "Comment"],
            list(abuse, "reports").iter().map(|rep| {
                let categories: Vec<String> = list(rep, "categories")
                    .iter()
                    .filter_map(Value::as_u64)
                    .map(|c| abuse_category(c).map_or_else(|| c.to_string(), str::to_string))
                    .collect();
                vec![
                    or_none(time_of(rep, "reportedAt")),
                    or_none(Some(categories.join(", ")).filter(|c| !c.is_empty())),
                    or_none(text(rep, "reporterCountryCode")),
                    or_none(str_of(rep, "comment").map(|c| clip(&one_line(c), MAX_CELL_CHARS))),
                ]
            }),
        );
    }

    if let Some(state) = source_state(vt) {
        out.pairs("VirusTotal", Pairs(vec![("Status".to_string(), state)]));
    } else if answered(vt) {
        let mut v = Pairs::default();
        v.cell("Detections", vt_verdict(vt));
        v.text("Last analysis", unix_time(vt, "last_analysis_date"));
        v.cell(
            "Community reputation",
            int(vt, "reputation").map(|n| Cell::new(n.to_string(), if n < 0 { Tone::Warn } else { Tone::Plain })),
        );
        let votes = at(vt, "total_votes");
        if let (Some(harmless), Some(malicious)) = (uint(votes, "harmless"), uint(votes, "malicious")) {
            v.text("Community votes", Some(format!("{harmless} harmless, {malicious} malicious")));
        }
        v.text(
            "AS owner",
            text(vt, "as_owner").map(|owner| match text(vt, "asn") {
                Some(asn) => format!("{owner} (AS{asn})"),
                None => owner,
            }),
        );
        v.text("Network", text(vt, "network"));
        v.text("Country", text(vt, "country"));
        v.text("Registrar", text(vt, "registrar"));
        v.text("Created", unix_time(vt, "creation_date"));
        let categories: Vec<String> =
            at(vt, "categories").as_object().map(|m| m.values().filter_map(scalar).collect()).unwrap_or_default();
        if !categories.is_empty() {
            v.text("Categories", Some(join_max(&distinct(categories), 10)));
        }
        let tags = strings(vt, "tags");
        if !tags.is_empty() {
            v.text("Tags", Some(join_max(&tags, 15)));
        }
        v.text("File name", text(vt, "meaningful_name"));
        v.text("File type", text(vt, "type_description"));
        v.text("Size", uint(vt, "size").map(|n| format!("{} bytes", grouped(n))));
        v.text("SHA-256", text(vt, "sha256"));
        v.text("URL", text(vt, "url"));
        v.text("Final URL", text(vt, "last_final_url"));
        v.text("Page title", text(vt, "title"));
        v.text("HTTP status", text(vt, "last_http_response_code"));
        v.text("Report", text(vt, "link"));
        out.pairs("VirusTotal", v);
    }

    out.table(
        "Blocklist matches",
        &["List", "Entry", "Line"],
        list(lists, "matches").iter().filter_map(|m| {
            Some(vec![Cell::bad(text(m, "list")?), or_none(text(m, "entry")), or_none(text(m, "line"))])
        }),
    );
    out.notes("Blocklist problems", list_problems(lists, "lists"));
}

/// AbuseIPDB's confidence score, coloured: 75 and above bad, 25 and above a warning.
fn abuse_score(abuse: &Value) -> Option<Cell> {
    let score = int(abuse, "abuseConfidenceScore")?;
    let tone = if score >= 75 {
        Tone::Bad
    } else if score >= 25 {
        Tone::Warn
    } else {
        Tone::Good
    };
    Some(Cell::new(format!("{score} / 100"), tone))
}

/// VirusTotal's engines: how many flag the target, of how many.
fn vt_verdict(vt: &Value) -> Option<Cell> {
    let stats = at(vt, "last_analysis_stats");
    let malicious = uint(stats, "malicious").or_else(|| uint(vt, "malicious"))?;
    let suspicious = uint(stats, "suspicious").unwrap_or(0);
    let total: u64 = ["harmless", "malicious", "suspicious", "undetected", "timeout"]
        .iter()
        .filter_map(|k| uint(stats, k))
        .fold(0, u64::saturating_add);
    let of = if total > 0 { format!(" of {total} engines") } else { String::new() };
    let tone = if malicious >= 3 {
        Tone::Bad
    } else if malicious > 0 || suspicious > 0 {
        Tone::Warn
    } else {
        Tone::Good
    };
    Some(Cell::new(format!("{malicious} malicious, {suspicious} suspicious{of}"), tone))
}

/// AbuseIPDB's report categories, by id.
fn abuse_category(id: u64) -> Option<&'static str> {
    Some(match id {
        1 => "DNS Compromise",
        2 => "DNS Poisoning",
        3 => "Fraud Orders",
        4 => "DDoS Attack",
        5 => "FTP Brute-Force",
        6 => "Ping of Death",
        7 => "Phishing",
        8 => "Fraud VoIP",
        9 => "Open Proxy",
        10 => "Web Spam",
        11 => "Email Spam",
        12 => "Blog Spam",
        13 => "VPN IP",
        14 => "Port Scan",
        15 => "Hacking",
        16 => "SQL Injection",
        17 => "Spoofing",
        18 => "Brute-Force",
        19 => "Bad Web Bot",
        20 => "Exploited Host",
        21 => "Web App Attack",
        22 => "SSH",
        23 => "IoT Targeted",
        _ => return None,
    })
}

// ---------------------------------------------------------------------------------------------------------------
// threat-feed (tlink_tools::feed::ThreatFeedResult)

fn threat_feed(r: &Value, out: &mut Out) {
    let otx = at(r, "otx");
    let greynoise = at(r, "greynoise");
    let feeds = at(r, "feeds");
    let matches = list(feeds, "matches");
    let pulses = list(at(otx, "pulse_info"), "pulses");
    let pulse_count = uint(otx, "pulseCount").or_else(|| uint(r, "pulseCount"));
    let classification = str_of(greynoise, "classification").or_else(|| str_of(r, "classification"));

    let mut p = Pairs::default();
    p.text("Target", text(r, "target"));
    p.text("Kind", text(r, "kind"));
    p.cell("Local feeds", listed_cell(feeds, "feed"));
    if answered(otx) {
        p.cell(
            "AlienVault OTX",
            pulse_count.map(|n| match n {
                0 => Cell::good("in no pulse"),
                n => Cell::warn(format!("in {n} pulse{}", if n == 1 { "" } else { "s" })),
            }),
        );
    }
    if answered(greynoise) {
        p.cell("GreyNoise", Some(greynoise_verdict(greynoise, classification)));
    }
    out.pairs("Summary", p);

    // Which sources answered, for an honest "no matches".
    let mut checked = Vec::new();
    if str_of(feeds, "status") == Some("ok") {
        let n = list(feeds, "feeds").iter().filter(|f| f.get("error").is_none_or(Value::is_null)).count();
        checked.push(format!("{n} local feed{}", plural(n)));
    }
    if answered(otx) {
        checked.push("AlienVault OTX".to_string());
    }
    if answered(greynoise) {
        checked.push("GreyNoise".to_string());
    }
    let flagged = classification == Some("malicious") || flag(greynoise, "noise") == Some(true);
    if matches.is_empty() && pulse_count.unwrap_or(0) == 0 && !flagged && !checked.is_empty() {
        out.notes("Matches", [Cell::good(format!("No matches: checked {}.", checked.join(", ")))]);
    }

    // Local feed matches: the documented columns, and any richer ones the entries carry.
    let optional: Vec<(&str, &str)> =
        [("type", "Type"), ("firstSeen", "First seen"), ("lastSeen", "Last seen"), ("tags", "Tags")]
            .into_iter()
            .filter(|(key, _)| matches.iter().any(|m| m.get(*key).is_some_and(|v| !v.is_null())))
            .collect();
    let mut headers = vec!["Feed", "Indicator"];
    headers.extend(optional.iter().map(|(_, label)| *label));
    headers.push("Line");
    out.table(
        "Feed matches",
        &headers,
        matches.iter().filter_map(|m| {
            let mut row = vec![Cell::bad(text(m, "feed")?), or_none(text(m, "indicator"))];
            for (key, _) in &optional {
                row.push(or_none(match *key {
                    "tags" => Some(join_max(&strings(m, key), 8)).filter(|t| !t.is_empty()),
                    "firstSeen" | "lastSeen" => time_of(m, key),
                    _ => text(m, key),
                }));
            }
            row.push(or_none(text(m, "line")));
            Some(row)
        }),
    );
    out.notes("Feed problems", list_problems(feeds, "feeds"));

    if let Some(state) = source_state(otx) {
        out.pairs("AlienVault OTX", Pairs(vec![("Status".to_string(), state)]));
    } else if answered(otx) {
        let mut o = Pairs::default();
        o.text(
            "Indicator",
            text(otx, "indicator").map(|i| match text(otx, "type") {
                Some(kind) => format!("{i} ({kind})"),
                None => i,
            }),
        );
        o.text(
            "Pulses",
            pulse_count.map(|n| {
                if u64::try_from(pulses.len()).unwrap_or(u64::MAX) < n {
                    format!("{n} ({} listed)", pulses.len())
                } else {
                    n.to_string()
                }
            }),
        );
        o.text("Reputation", otx.get("reputation").and_then(scalar));
        let tags = strings(otx, "tags");
        if !tags.is_empty() {
            o.text("Tags", Some(join_max(&tags, 20)));
        }
        out.pairs("AlienVault OTX", o);
        out.notes(
            "OTX validation (signs of a false positive)",
            list(otx, "validation").iter().filter_map(|v| {
                let what = text(v, "name").or_else(|| text(v, "source"))?;
                Some(Cell::good(match text(v, "message") {
                    Some(m) => format!("{what}: {m}"),
                    None => what,
                }))
            }),
        );
        out.table(
            "OTX pulses",
            &["Pulse", "Created", "Modified", "Adversary", "Malware", "Tags"],
            pulses.iter().map(|pulse| {
                vec![
                    or_none(text(pulse, "name")),
                    or_none(time_of(pulse, "created")),
                    or_none(time_of(pulse, "modified")),
                    or_none(text(pulse, "adversary")),
                    or_none(Some(join_max(&strings(pulse, "malware_families"), 5)).filter(|m| !m.is_empty())),
                    or_none(Some(join_max(&strings(pulse, "tags"), 8)).filter(|t| !t.is_empty())),
                ]
            }),
        );
    }

    if let Some(state) = source_state(greynoise) {
        out.pairs("GreyNoise", Pairs(vec![("Status".to_string(), state)]));
    } else if answered(greynoise) {
        let mut g = Pairs::default();
        g.cell("Verdict", Some(greynoise_verdict(greynoise, classification)));
        g.text("Actor", text(greynoise, "name"));
        if let Some(noise) = flag(greynoise, "noise") {
            g.cell(
                "Scanning the internet",
                Some(if noise { Cell::warn("yes (last 90 days)") } else { Cell::plain("no") }),
            );
        }
        if flag(greynoise, "riot") == Some(true) {
            g.cell("Common business service (RIOT)", Some(Cell::good("yes")));
        }
        g.text("Last seen", time_of(greynoise, "last_seen"));
        g.text("Message", text(greynoise, "message"));
        g.text("Details", text(greynoise, "link"));
        out.pairs("GreyNoise", g);
    }
}

fn greynoise_verdict(greynoise: &Value, classification: Option<&str>) -> Cell {
    if flag(greynoise, "seen") == Some(false) {
        return Cell::plain("not observed");
    }
    match classification {
        Some("malicious") => Cell::bad("malicious"),
        Some("benign") => Cell::good("benign"),
        Some(other) => Cell::plain(other),
        None => Cell::plain("observed, not classified"),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Shared by the provider and list sections

/// Whether a provider section answered (`status: ok`).
fn answered(section: &Value) -> bool {
    str_of(section, "status") == Some("ok")
}

/// What a provider section that gave no answer says, for a `Status` line; `None` when it answered, is absent,
/// or does not apply to the target (nothing worth a section).
fn source_state(section: &Value) -> Option<Cell> {
    match str_of(section, "status")? {
        "ok" | "not_applicable" => None,
        "not_found" => Some(Cell::plain("no record of the target")),
        "not_configured" => Some(Cell::plain("not configured (no API key)")),
        "error" => Some(Cell::warn(provider_error(section))),
        other => Some(Cell::plain(other)),
    }
}

/// A failed call's message, with its HTTP status and when to retry.
fn provider_error(section: &Value) -> String {
    let mut message = text(section, "error").unwrap_or_else(|| "the call failed".to_string());
    if let Some(status) = text(section, "httpStatus") {
        message = format!("{message} (HTTP {status})");
    }
    if let Some(secs) = int(section, "retryAfter") {
        message = format!("{message}; retry after {}", seconds(secs));
    }
    message
}

/// Whether a local list section (blocklists, feeds) lists the target; `what` names one list.
fn listed_cell(section: &Value, what: &str) -> Option<Cell> {
    match str_of(section, "status")? {
        "ok" => Some(if flag(section, "listed") == Some(true) || !list(section, "matches").is_empty() {
            Cell::bad("listed")
        } else {
            Cell::good("not listed")
        }),
        "not_configured" => Some(Cell::plain(format!("no {what} configured"))),
        "error" => Some(Cell::warn(text(section, "error").unwrap_or_else(|| format!("no {what} could be read")))),
        _ => None,
    }
}

/// The files of a list section (`lists` or `feeds`) that could not be read or have invalid lines.
fn list_problems(section: &Value, key: &str) -> Vec<Cell> {
    list(section, key)
        .iter()
        .filter_map(|file| {
            let name = text(file, "name")?;
            if let Some(e) = text(file, "error") {
                return Some(Cell::warn(format!("{name}: {e}")));
            }
            let invalid = int(file, "invalidLines").filter(|n| *n > 0)?;
            let first = text(file, "firstInvalidLine").map(|l| format!(", the first at line {l}")).unwrap_or_default();
            Some(Cell::plain(format!("{name}: {invalid} invalid line{} skipped{first}", plural(invalid))))
        })
        .collect()
}

/// Findings (`{code, severity, message}`), most severe first as the tools list them, coloured by severity.
fn findings(items: &[Value]) -> Vec<Cell> {
    items
        .iter()
        .filter_map(|f| {
            let message = text(f, "message").or_else(|| text(f, "code"))?;
            Some(match str_of(f, "severity") {
                Some(sev) => Cell::new(format!("{}: {message}", capital(sev)), severity_tone(sev)),
                None => Cell::plain(message),
            })
        })
        .collect()
}

fn severity_tone(severity: &str) -> Tone {
    match severity.to_ascii_lowercase().as_str() {
        "critical" | "high" => Tone::Bad,
        "medium" => Tone::Warn,
        _ => Tone::Plain,
    }
}

/// An `errors` object (`{"mx": "SERVFAIL"}`) as lines naming the query.
fn keyed_errors(errors: &Value) -> Vec<Cell> {
    errors
        .as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(key, message)| Some(Cell::bad(format!("{}: {}", key.to_uppercase(), scalar(message)?))))
                .collect()
        })
        .unwrap_or_default()
}

/// A table cell for a value that may be missing.
fn or_none(text: Option<String>) -> Cell {
    Cell::plain(text.unwrap_or_else(|| NONE.to_string()))
}

fn verdict(ok: bool, yes: &str, no: &str) -> Cell {
    if ok { Cell::good(yes) } else { Cell::bad(no) }
}

// ---------------------------------------------------------------------------------------------------------------
// Building sections

/// The sections built so far; empty ones are left out.
#[derive(Default)]
struct Out {
    sections: Vec<Section>,
}

impl Out {
    fn pairs(&mut self, title: &str, pairs: Pairs) {
        if !pairs.0.is_empty() {
            self.sections.push(Section { title: title.to_string(), body: Body::Pairs(pairs.0) });
        }
    }

    /// A table of the first [`MAX_ROWS`] rows, each made as long as `headers`; none when there is no row.
    fn table(&mut self, title: &str, headers: &[&str], rows: impl IntoIterator<Item = Vec<Cell>>) {
        let mut kept = Vec::new();
        let mut total = 0usize;
        for mut row in rows {
            total += 1;
            if kept.len() < MAX_ROWS {
                row.resize(headers.len(), Cell::plain(NONE));
                kept.push(row);
            }
        }
        if kept.is_empty() {
            return;
        }
        let title =
            if total > kept.len() { format!("{title} (first {} of {total})", kept.len()) } else { title.to_string() };
        let headers = headers.iter().map(|h| (*h).to_string()).collect();
        self.sections.push(Section { title, body: Body::Table { headers, rows: kept } });
    }

    fn notes(&mut self, title: &str, notes: impl IntoIterator<Item = Cell>) {
        let notes: Vec<Cell> = notes.into_iter().take(MAX_ROWS).collect();
        if !notes.is_empty() {
            self.sections.push(Section { title: title.to_string(), body: Body::Notes(notes) });
        }
    }
}

/// Labelled values; absent values are not added.
#[derive(Default)]
struct Pairs(Vec<(String, Cell)>);

impl Pairs {
    fn cell(&mut self, label: &str, cell: Option<Cell>) {
        if let Some(cell) = cell {
            self.0.push((label.to_string(), cell));
        }
    }

    fn text(&mut self, label: &str, text: Option<String>) {
        self.cell(label, text.map(Cell::plain));
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Reading the JSON

/// `v[key]`, or null.
fn at<'a>(v: &'a Value, key: &str) -> &'a Value {
    v.get(key).unwrap_or(&NULL)
}

/// `v[key]` when it is a non-blank string, trimmed.
fn str_of<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key)?.as_str().map(str::trim).filter(|s| !s.is_empty())
}

/// A string (trimmed, not blank), number or boolean as text.
fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.trim()).filter(|s| !s.is_empty()).map(str::to_string),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(yes_no(*b).to_string()),
        _ => None,
    }
}

/// `v[key]` as text (see [`scalar`]).
fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(scalar)
}

/// `v[key]` when it is an integer (one beyond `i64` reads as `i64::MAX`).
fn int(v: &Value, key: &str) -> Option<i64> {
    let x = v.get(key)?;
    x.as_i64().or_else(|| x.as_u64().map(|_| i64::MAX))
}

/// `v[key]` when it is a non-negative integer.
fn uint(v: &Value, key: &str) -> Option<u64> {
    v.get(key)?.as_u64()
}

/// `v[key]` when it is a number.
fn float(v: &Value, key: &str) -> Option<f64> {
    v.get(key)?.as_f64()
}

/// `v[key]` when it is a boolean.
fn flag(v: &Value, key: &str) -> Option<bool> {
    v.get(key)?.as_bool()
}

/// `v[key]` when it is an array; empty otherwise.
fn list<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default()
}

/// The scalar items of the array `v[key]`, as text.
fn strings(v: &Value, key: &str) -> Vec<String> {
    list(v, key).iter().filter_map(scalar).collect()
}

// ---------------------------------------------------------------------------------------------------------------
// Formatting

/// A time as `YYYY-MM-DD HH:MM UTC`: RFC 3339, or ISO 8601 without offset (taken as UTC, as OTX writes them);
/// anything else as written.
fn when(s: &str) -> String {
    parse_time(s).map_or_else(|| s.to_string(), minute)
}

fn parse_time(s: &str) -> Option<DateTime<Utc>> {
    let s = s.trim();
    DateTime::parse_from_rfc3339(s)
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f").ok().map(|t| t.and_utc()))
}

fn minute(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

/// `v[key]` as a time (see [`when`]).
fn time_of(v: &Value, key: &str) -> Option<String> {
    str_of(v, key).map(when)
}

/// `v[key]` as Unix seconds, shown as a time.
fn unix_time(v: &Value, key: &str) -> Option<String> {
    int(v, key).and_then(|secs| DateTime::from_timestamp(secs, 0)).map(minute)
}

/// Whole days from now until `at`, rounded down (negative once past), as the tools count them.
fn days_until(at: &str) -> Option<i64> {
    parse_time(at).map(|t| (t - Utc::now()).num_seconds().div_euclid(86_400))
}

/// Whole days until an expiry (rounded down, negative once past) in words.
fn days_phrase(days: i64) -> String {
    match days {
        2.. => format!("in {days} days"),
        1 => "in 1 day".to_string(),
        0 => "in less than a day".to_string(),
        -1 => "expired within the last day".to_string(),
        _ => {
            let ago = days.unsigned_abs() - 1;
            format!("expired {ago} day{} ago", plural(ago))
        }
    }
}

/// Seconds, with their value in larger units when there is one: `3600 s (1 h)`.
fn seconds(secs: i64) -> String {
    if secs < 60 {
        return format!("{secs} s");
    }
    let mut rest = secs;
    let mut parts = Vec::new();
    for (size, unit) in [(86_400, "d"), (3_600, "h"), (60, "min"), (1, "s")] {
        let n = rest / size;
        if n > 0 {
            parts.push(format!("{n} {unit}"));
            rest %= size;
        }
    }
    format!("{secs} s ({})", parts.join(" "))
}

/// `1234567` as `1,234,567`.
fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, ch) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    out
}

/// At most `max` characters of `s`, marked when cut.
fn clip(s: &str, max: usize) -> String {
    let mut chars = s.chars();
    let head: String = chars.by_ref().take(max).collect();
    if chars.next().is_some() { format!("{head}…") } else { head }
}

/// The non-blank lines of `s`, trimmed, on one line.
fn one_line(s: &str) -> String {
    s.lines().map(str::trim).filter(|l| !l.is_empty()).collect::<Vec<_>>().join(" · ")
}

/// The first `max` items, comma-separated, and how many more there are.
fn join_max(items: &[String], max: usize) -> String {
    let shown = items.iter().take(max).map(String::as_str).collect::<Vec<_>>().join(", ");
    if items.len() > max { format!("{shown} and {} more", items.len() - max) } else { shown }
}

/// `items` without repeats, first occurrence kept.
fn distinct(items: Vec<String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::with_capacity(items.len());
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

fn starts_with_ci(s: &str, prefix: &str) -> bool {
    s.get(..prefix.len()).is_some_and(|head| head.eq_ignore_ascii_case(prefix))
}

fn capital(s: &str) -> String {
    let mut chars = s.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn yes_no(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

fn plural<N: PartialEq + From<u8>>(n: N) -> &'static str {
    if n == N::from(1) { "" } else { "s" }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    // ---- Reading sections

    fn titles(sections: &[Section]) -> Vec<&str> {
        sections.iter().map(|s| s.title.as_str()).collect()
    }

    fn section<'a>(sections: &'a [Section], title: &str) -> &'a Section {
        sections
            .iter()
            .find(|s| s.title == title)
            .unwrap_or_else(|| panic!("no section {title:?} among {:?}", titles(sections)))
    }

    fn has(sections: &[Section], title: &str) -> bool {
        sections.iter().any(|s| s.title == title)
    }

    fn pair<'a>(sections: &'a [Section], title: &str, label: &str) -> &'a Cell {
        match &section(sections, title).body {
            Body::Pairs(pairs) => {
                &pairs
                    .iter()
                    .find(|(l, _)| l == label)
                    .unwrap_or_else(|| panic!("no {label:?} in {title:?}: {pairs:?}"))
                    .1
            }
            other => panic!("{title:?} is not pairs: {other:?}"),
        }
    }

    fn has_pair(sections: &[Section], title: &str, label: &str) -> bool {
        sections
            .iter()
            .any(|s| s.title == title && matches!(&s.body, Body::Pairs(p) if p.iter().any(|(l, _)| l == label)))
    }

    fn table<'a>(sections: &'a [Section], title: &str) -> (&'a [String], &'a [Vec<Cell>]) {
        match &section(sections, title).body {
            Body::Table { headers, rows } => (headers, rows),
            other => panic!("{title:?} is not a table: {other:?}"),
        }
    }

    /// The cells of column `header` of table `title`.
    fn column<'a>(sections: &'a [Section], title: &str, header: &str) -> Vec<&'a Cell> {
        let (headers, rows) = table(sections, title);
        let i = headers.iter().position(|h| h == header).unwrap_or_else(|| panic!("no column {header:?}: {headers:?}"));
        rows.iter().map(|row| &row[i]).collect()
    }

    fn notes<'a>(sections: &'a [Section], title: &str) -> &'a [Cell] {
        match &section(sections, title).body {
            Body::Notes(notes) => notes,
            other => panic!("{title:?} is not notes: {other:?}"),
        }
    }

    /// No empty section, every row as long as its headers, no table or list beyond the limit.
    fn well_formed(sections: &[Section]) {
        for s in sections {
            match &s.body {
                Body::Pairs(pairs) => assert!(!pairs.is_empty(), "{s:?}"),
                Body::Notes(notes) => assert!(!notes.is_empty() && notes.len() <= MAX_ROWS, "{s:?}"),
                Body::Table { headers, rows } => {
                    assert!(!rows.is_empty() && rows.len() <= MAX_ROWS, "{}", s.title);
                    assert!(rows.iter().all(|r| r.len() == headers.len()), "{s:?}");
                }
            }
        }
    }

    fn days_from_now(days: i64) -> String {
        (Utc::now() + chrono::TimeDelta::days(days)).to_rfc3339()
    }

    // ---- Sample results, shaped like the tools' result types

    fn dns_result() -> Value {
        json!({
            "name": "example.com",
            "nxdomain": false,
            "a": ["93.184.215.14"],
            "aaaa": ["2606:2800:21f:cb07:6820:80da:af6b:8b2c"],
            "ns": ["a.iana-servers.net", "b.iana-servers.net"],
            "mx": ["mail.example.com"],
            "cname": [],
            "txt": ["google-site-verification=abc", "v=spf1 -all"],
            "caa": ["0 issue \"letsencrypt.org\""],
            "records": {
                "a": [{"address": "93.184.215.14", "ttl": 3600}],
                "aaaa": [{"address": "2606:2800:21f:cb07:6820:80da:af6b:8b2c", "ttl": 3600}],
                "ns": [{"name": "a.iana-servers.net", "ttl": 86400}, {"name": "b.iana-servers.net", "ttl": 86400}],
                "mx": [{"preference": 10, "exchange": "mail.example.com", "ttl": 300}],
                "cname": [],
                "txt": [{"text": "google-site-verification=abc", "ttl": 300}, {"text": "v=spf1 -all", "ttl": 300}],
                "soa": [{"mname": "ns.icann.org", "rname": "noc.dns.icann.org", "serial": 2024081455, "refresh": 7200,
                         "retry": 3600, "expire": 1209600, "minimum": 3600, "ttl": 3600}],
                "caa": [{"flags": 0, "tag": "issue", "value": "letsencrypt.org", "ttl": 300}]
            },
            "status": {"a": "ok", "aaaa": "ok", "ns": "ok", "mx": "ok", "cname": "nodata", "txt": "ok", "soa": "ok",
                       "caa": "ok"},
            "errors": {}
        })
    }

    fn whois_domain() -> Value {
        json!({
            "target": "example.com",
            "targetType": "domain",
            "found": true,
            "domain": "example.com",
            "registrar": "RESERVED-Internet Assigned Numbers Authority",
            "registrarIanaId": 376,
            "abuseEmail": null,
            "createdAt": "1995-08-14T04:00:00Z",
            "updatedAt": "2024-08-14T07:01:34Z",
            "expiresAt": "2025-08-13T04:00:00Z",
            "daysUntilExpiry": 10,
            "nameServers": ["a.iana-servers.net", "b.iana-servers.net"],
            "status": ["clientDeleteProhibited", "serverHold"],
            "registrantOrganization": null,
            "registrantCountry": null,
            "dnssec": true,
            "netRange": null,
            "cidr": [],
            "netName": null,
            "organization": null,
            "country": null,
            "asn": null,
            "asName": null,
            "rir": null,
            "chain": [
                {"server": "whois.iana.org:43", "via": "root", "address": "192.0.32.59:43", "query": "example.com",
                 "response": "refer: whois.verisign-grs.com\n", "truncated": false, "error": null},
                {"server": "whois.verisign-grs.com:43", "via": "referral", "address": null, "query": "example.com",
                 "response": null, "truncated": false, "error": "connecting: connection refused"}
            ],
            "unfollowedReferrals": [
                {"from": "whois.arin.net:43", "referral": "rwhois://rwhois.example.net:4321",
                 "reason": "rwhois referrals are not followed"}
            ]
        })
    }

    fn whois_ip() -> Value {
        json!({
            "target": "193.0.6.139",
            "targetType": "ip",
            "found": true,
            "domain": null,
            "registrar": null,
            "registrarIanaId": null,
            "abuseEmail": "abuse@ripe.net",
            "createdAt": "2003-03-17T12:15:57Z",
            "updatedAt": null,
            "expiresAt": null,
            "daysUntilExpiry": null,
            "nameServers": [],
            "status": [],
            "registrantOrganization": null,
            "registrantCountry": null,
            "dnssec": null,
            "netRange": "193.0.0.0 - 193.0.7.255",
            "cidr": ["193.0.0.0/21"],
            "netName": "RIPE-NCC",
            "organization": "RIPE Network Coordination Centre",
            "country": "NL",
            "asn": "AS3333",
            "asName": null,
            "rir": "RIPE",
            "chain": [],
            "unfollowedReferrals": []
        })
    }

    fn ssl_result() -> Value {
        json!({
            "host": "example.com",
            "port": 443,
            "address": "93.184.215.14:443",
            "sni": "example.com",
            "protocol": "TLSv1.3",
            "cipherSuite": "TLS_AES_256_GCM_SHA384",
            "keyExchange": "X25519",
            "alpn": "h2",
            "valid": true,
            "chainValid": true,
            "trusted": true,
            "hostnameMatches": true,
            "daysToExpiry": 5,
            "expiresAt": "2025-01-06T23:59:59Z",
            "certificates": [
                {"subject": "CN=example.com", "issuer": "C=US, O=DigiCert Inc, CN=DigiCert Global G2 TLS RSA SHA256 2020 CA1",
                 "commonName": "example.com", "subjectAltNames": ["example.com", "www.example.com"],
                 "serialNumber": "0ad893bafa68b0b7fb7a404f06ecaf9a", "notBefore": "2024-01-30T00:00:00Z",
                 "notAfter": "2025-01-06T23:59:59Z", "daysToExpiry": 5, "expired": false, "notYetValid": false,
                 "keyType": "EC", "keySize": 256, "curve": "P-256", "signatureAlgorithm": "sha256WithRSAEncryption",
                 "selfSigned": false, "isCa": false, "sha256Fingerprint": "ab12"},
                {"subject": "C=US, O=DigiCert Inc, CN=DigiCert Global G2 TLS RSA SHA256 2020 CA1",
                 "issuer": "C=US, O=DigiCert Inc, OU=www.digicert.com, CN=DigiCert Global Root G2",
                 "subjectAltNames": [], "serialNumber": "0cf5bd062b5602f47ab8502c23ccf066",
                 "notBefore": "2021-03-30T00:00:00Z", "notAfter": "2031-03-29T23:59:59Z", "daysToExpiry": 2280,
                 "expired": false, "notYetValid": false, "keyType": "RSA", "keySize": 2048,
                 "signatureAlgorithm": "sha256WithRSAEncryption", "selfSigned": false, "isCa": true,
                 "sha256Fingerprint": "cd34"}
            ],
            "legacyProtocols": ["TLSv1.0"],
            "legacyProbes": [
                {"version": "SSLv3", "status": "refused", "detail": "alert: handshake_failure"},
                {"version": "TLSv1.0", "status": "accepted", "cipherSuite": "TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA"},
                {"version": "TLSv1.1", "status": "unknown", "detail": "no answer within 10s"}
            ],
            "findings": [
                {"code": "expiring_soon", "severity": "medium",
                 "message": "the leaf certificate expires in 5 day(s), on 2025-01-06T23:59:59Z"},
                {"code": "tls1_0_enabled", "severity": "medium", "message": "the server accepts TLS 1.0"}
            ]
        })
    }

    fn open_port(port: u16, service: &str, product: Option<&str>, version: Option<&str>) -> Value {
        json!({"port": port, "protocol": "tcp", "service": service, "banner": null, "product": product,
               "version": version, "authRequired": null, "cves": []})
    }

    fn exposure_result() -> Value {
        let mut ssh = open_port(22, "ssh", Some("openssh"), Some("8.9p1"));
        ssh["banner"] = json!("SSH-2.0-OpenSSH_8.9p1 Ubuntu-3ubuntu0.6");
        let mut http = open_port(80, "http", Some("apache-httpd"), Some("2.4.49"));
        http["banner"] = json!("HTTP/1.1 200 OK\r\nServer: Apache/2.4.49 (Unix)");
        http["cves"] = json!([{"id": "CVE-2021-41773", "cvss": 7.5, "kev": true,
                               "summary": "Path traversal and file disclosure", "note": null}]);
        let mut redis = open_port(6379, "redis", Some("redis"), None);
        redis["authRequired"] = json!(false);
        json!({
            "host": "203.0.113.5",
            "address": "203.0.113.5",
            "portSpec": "top100",
            "scanned": 100,
            "openPorts": [22, 80, 6379],
            "closed": 95,
            "filtered": 2,
            "ports": [ssh, http, redis],
            "riskScore": 100,
            "riskLevel": "critical",
            "cveCount": 1,
            "maxCvss": 7.5,
            "knownExploited": true,
            "findings": [
                {"code": "known_exploited", "severity": "critical", "port": 80,
                 "message": "CVE-2021-41773 (apache-httpd 2.4.49 on port 80/tcp) is known to be exploited in the wild (CISA KEV)"},
                {"code": "redis_no_auth", "severity": "critical", "port": 6379,
                 "message": "redis on port 6379/tcp: Redis answers without authentication"}
            ],
            "elapsedMs": 2345,
            "portsPerSecond": 450.3
        })
    }

    fn email_result() -> Value {
        json!({
            "domain": "example.com",
            "address": "alice@example.com",
            "nxdomain": false,
            "hasMx": true,
            "nullMx": false,
            "mx": [{"preference": 10, "exchange": "mx1.example.com", "ttl": 300},
                   {"preference": 20, "exchange": "mx2.example.com", "ttl": 300}],
            "hasSpf": true,
            "spf": {
                "record": "v=spf1 include:_spf.example.net -all",
                "recordCount": 1,
                "records": [{"record": "v=spf1 include:_spf.example.net -all", "mechanisms": [], "modifiers": [],
                             "allQualifier": "fail", "lookupCount": 1, "errors": []}],
                "mechanisms": [{"qualifier": "+", "name": "include", "value": "_spf.example.net"},
                               {"qualifier": "-", "name": "all"}],
                "modifiers": [],
                "allQualifier": "fail",
                "lookupCount": 1,
                "lookupLimit": 10,
                "permerror": false,
                "includes": [{"domain": "_spf.example.net", "via": "include", "depth": 1,
                              "record": "v=spf1 ip4:192.0.2.0/24 ~all", "lookupCount": 0}],
                "errors": []
            },
            "hasDmarc": true,
            "dmarc": {
                "record": "v=DMARC1; p=none; rua=mailto:dmarc@example.com",
                "domain": "example.com",
                "inherited": false,
                "recordCount": 1,
                "policy": "none",
                "subdomainPolicy": "none",
                "effectivePolicy": "none",
                "pct": 100,
                "rua": ["mailto:dmarc@example.com"],
                "ruf": [],
                "adkim": "r",
                "aspf": "s",
                "fo": ["0"],
                "tags": {"v": "DMARC1", "p": "none", "rua": "mailto:dmarc@example.com"},
                "errors": []
            },
            "findings": [{"code": "dmarc_policy_none", "severity": "medium",
                          "message": "the DMARC policy for example.com is none (monitoring only): failing mail is still delivered"}],
            "findingCodes": ["dmarc_policy_none"],
            "highestSeverity": "medium",
            "hibp": {
                "status": "ok",
                "breachCount": 2,
                "breaches": [
                    {"Name": "Adobe", "Title": "Adobe", "Domain": "adobe.com", "BreachDate": "2013-10-04",
                     "PwnCount": 152445165, "DataClasses": ["Email addresses", "Password hints", "Passwords", "Usernames"],
                     "IsVerified": true, "IsSensitive": false},
                    {"Name": "Canva", "Title": "Canva", "Domain": "canva.com", "BreachDate": "2019-05-24",
                     "PwnCount": 137272116, "DataClasses": ["Email addresses", "Names"], "IsVerified": true,
                     "IsSensitive": false}
                ]
            },
            "errors": {}
        })
    }

    fn reputation_result(score: u64) -> Value {
        json!({
            "target": "198.51.100.7",
            "kind": "IP",
            "listed": true,
            "malicious": null,
            "abuseipdb": {
                "status": "ok", "ipAddress": "198.51.100.7", "isPublic": true, "ipVersion": 4, "isWhitelisted": false,
                "abuseConfidenceScore": score, "countryCode": "NL", "countryName": "Netherlands",
                "usageType": "Data Center/Web Hosting/Transit", "isp": "Example Hosting B.V.",
                "domain": "example-hosting.nl", "hostnames": [], "isTor": false, "totalReports": 1234,
                "numDistinctUsers": 210, "lastReportedAt": "2024-05-01T12:34:56+00:00",
                "reports": [{"reportedAt": "2024-05-01T12:34:56+00:00", "comment": "SSH brute force\nfrom this host",
                             "categories": [18, 22], "reporterCountryCode": "DE"}]
            },
            "virustotal": {"status": "not_configured"},
            "blocklists": {
                "status": "ok",
                "listed": true,
                "matches": [{"list": "spamhaus-drop", "entry": "198.51.100.0/24", "line": 12}],
                "lists": [{"name": "spamhaus-drop", "entries": 1000, "invalidLines": 0},
                          {"name": "local", "entries": 0, "invalidLines": 0, "error": "reading /etc/tlink/local.txt: not found"}]
            }
        })
    }

    fn feed_result() -> Value {
        json!({
            "target": "198.51.100.7",
            "kind": "IP",
            "listed": true,
            "pulseCount": 57,
            "classification": "malicious",
            "otx": {
                "status": "ok", "indicator": "198.51.100.7", "type": "IPv4", "reputation": 0, "validation": [],
                "pulse_info": {"count": 57, "pulses": [
                    {"id": "p1", "name": "Mirai botnet C2", "tags": ["mirai", "botnet"],
                     "created": "2026-10-01T09:30:00.000000", "modified": "2026-11-01T10:00:00.000000",
                     "adversary": null, "malware_families": ["Mirai"]}
                ]},
                "pulseCount": 57, "pulseNames": ["Mirai botnet C2"], "tags": ["mirai", "botnet"]
            },
            "greynoise": {"status": "ok", "seen": true, "ip": "198.51.100.7", "noise": true, "riot": false,
                          "classification": "malicious", "name": "unknown", "link": "https://viz.greynoise.io/ip/198.51.100.7",
                          "last_seen": "2026-11-02", "message": "Success"},
            "feeds": {
                "status": "ok", "listed": true,
                "matches": [{"feed": "abuse-ch", "indicator": "198.51.100.0/24", "line": 3}],
                "feeds": [{"name": "abuse-ch", "format": "plain", "entries": 100, "invalidLines": 2, "firstInvalidLine": 7}]
            }
        })
    }

    fn feed_clean() -> Value {
        json!({
            "target": "example.com",
            "kind": "DOMAIN",
            "listed": false,
            "pulseCount": 0,
            "classification": null,
            "otx": {"status": "ok", "indicator": "example.com", "type": "domain", "reputation": 0,
                    "validation": [{"source": "whitelist", "name": "Whitelisted domain", "message": "Whitelisted domain example.com"}],
                    "pulse_info": {"count": 0, "pulses": []}, "pulseCount": 0, "pulseNames": [], "tags": []},
            "greynoise": {"status": "not_applicable"},
            "feeds": {"status": "ok", "listed": false, "matches": [],
                      "feeds": [{"name": "abuse-ch", "format": "plain", "entries": 100, "invalidLines": 0}]}
        })
    }

    fn samples() -> Vec<(ToolKey, Value)> {
        vec![
            (ToolKey::Dns, dns_result()),
            (ToolKey::Whois, whois_domain()),
            (ToolKey::Whois, whois_ip()),
            (ToolKey::Ssl, ssl_result()),
            (ToolKey::Exposure, exposure_result()),
            (ToolKey::Email, email_result()),
            (ToolKey::IpReputation, reputation_result(92)),
            (ToolKey::ThreatFeed, feed_result()),
            (ToolKey::ThreatFeed, feed_clean()),
        ]
    }

    // ---- dns

    #[test]
    fn dns_records_are_tables_per_type() {
        let s = readable(ToolKey::Dns, &dns_result());
        well_formed(&s);
        assert_eq!(column(&s, "A records", "Address")[0].text, "93.184.215.14");
        assert_eq!(column(&s, "A records", "Name")[0].text, "example.com");
        assert_eq!(column(&s, "A records", "TTL")[0].text, "3600 s (1 h)");
        assert_eq!(column(&s, "AAAA records", "Address").len(), 1);
        assert_eq!(column(&s, "MX records", "Mail server")[0].text, "mail.example.com");
        assert_eq!(column(&s, "MX records", "Preference")[0].text, "10");
        assert_eq!(column(&s, "NS records", "Name server").len(), 2);
        assert_eq!(column(&s, "CAA records", "Value")[0].text, "letsencrypt.org");
        assert_eq!(column(&s, "TXT records", "Text")[1].text, "v=spf1 -all");
        assert!(!has(&s, "CNAME records"), "no CNAME, no table: {:?}", titles(&s));
        assert_eq!(pair(&s, "SOA record", "Administrator").text, "noc@dns.icann.org");
        assert_eq!(pair(&s, "SOA record", "Expire").text, "1209600 s (14 d)");
    }

    #[test]
    fn dns_summary_says_what_is_notable() {
        let s = readable(ToolKey::Dns, &dns_result());
        assert_eq!(*pair(&s, "Summary", "SPF"), Cell::good("v=spf1 -all"));
        assert_eq!(*pair(&s, "Summary", "CAA"), Cell::good("may issue: letsencrypt.org"));
        assert_eq!(pair(&s, "Summary", "Name servers").text, "a.iana-servers.net, b.iana-servers.net");
        assert_eq!(pair(&s, "Summary", "Addresses").text, "1 IPv4, 1 IPv6");
        assert!(!has(&s, "Failed queries"));
    }

    #[test]
    fn dns_failures_and_nxdomain_are_shown() {
        let mut r = dns_result();
        r["records"]["mx"] = json!([]);
        r["status"]["mx"] = json!("error");
        r["errors"] = json!({"mx": "SERVFAIL from 192.0.2.53:53"});
        let s = readable(ToolKey::Dns, &r);
        assert_eq!(notes(&s, "Failed queries"), [Cell::bad("MX: SERVFAIL from 192.0.2.53:53")]);
        assert!(!has(&s, "MX records"));

        let gone = json!({"name": "nope.example", "nxdomain": true, "a": [], "records": {"a": [], "soa": []},
                          "status": {"a": "nxdomain", "txt": "nxdomain", "caa": "nxdomain"}, "errors": {}});
        let s = readable(ToolKey::Dns, &gone);
        well_formed(&s);
        assert_eq!(pair(&s, "Summary", "Exists").tone, Tone::Bad);
        assert_eq!(titles(&s), ["Summary"]);
    }

    // ---- whois

    #[test]
    fn whois_domain_registration() {
        let s = readable(ToolKey::Whois, &whois_domain());
        well_formed(&s);
        let expires = pair(&s, "Registration", "Expires");
        assert_eq!(expires.tone, Tone::Warn, "10 days left");
        assert_eq!(expires.text, "2025-08-13 04:00 UTC (in 10 days)");
        assert_eq!(pair(&s, "Registration", "Created").text, "1995-08-14 04:00 UTC");
        assert_eq!(
            pair(&s, "Registration", "Registrar").text,
            "RESERVED-Internet Assigned Numbers Authority (IANA id 376)"
        );
        assert_eq!(pair(&s, "Registration", "DNSSEC").tone, Tone::Good);
        assert!(!has_pair(&s, "Registration", "Abuse contact"), "null fields are skipped");
        let status = notes(&s, "Status");
        assert_eq!(status[0].tone, Tone::Good);
        assert!(status[0].text.starts_with("clientDeleteProhibited"));
        assert_eq!(status[1].tone, Tone::Bad);
        assert_eq!(notes(&s, "Name servers").len(), 2);
        let outcome = column(&s, "WHOIS servers asked", "Outcome");
        assert_eq!(*outcome[0], Cell::good("answered"));
        assert_eq!(*outcome[1], Cell::bad("connecting: connection refused"));
        assert_eq!(notes(&s, "Referrals not followed")[0].tone, Tone::Warn);
    }

    #[test]
    fn whois_expiry_tones() {
        let tone = |r: &Value| pair(&readable(ToolKey::Whois, r), "Registration", "Expires").tone;
        let mut r = whois_domain();
        r["daysUntilExpiry"] = json!(-5);
        assert_eq!(tone(&r), Tone::Bad);
        r["daysUntilExpiry"] = json!(400);
        assert_eq!(tone(&r), Tone::Good);
        // Without the run's count, from now.
        r["daysUntilExpiry"] = Value::Null;
        r["expiresAt"] = json!(days_from_now(100));
        assert_eq!(tone(&r), Tone::Good);
        r["expiresAt"] = json!(days_from_now(-2));
        assert_eq!(tone(&r), Tone::Bad);
        r["expiresAt"] = json!(days_from_now(20));
        assert_eq!(tone(&r), Tone::Warn);
        r["expiresAt"] = json!("someday");
        assert_eq!(*pair(&readable(ToolKey::Whois, &r), "Registration", "Expires"), Cell::plain("someday"));
    }

    #[test]
    fn whois_network() {
        let s = readable(ToolKey::Whois, &whois_ip());
        well_formed(&s);
        assert_eq!(pair(&s, "Network", "CIDR").text, "193.0.0.0/21");
        assert_eq!(pair(&s, "Network", "Network range").text, "193.0.0.0 - 193.0.7.255");
        assert_eq!(pair(&s, "Network", "Organization").text, "RIPE Network Coordination Centre");
        assert_eq!(pair(&s, "Network", "Country").text, "NL");
        assert_eq!(pair(&s, "Network", "AS number").text, "AS3333");
        assert!(!has(&s, "Registration") && !has(&s, "Status") && !has(&s, "WHOIS servers asked"));
    }

    // ---- ssl

    #[test]
    fn ssl_chain_and_verdict() {
        let s = readable(ToolKey::Ssl, &ssl_result());
        well_formed(&s);
        let days = column(&s, "Certificate chain", "Days left");
        assert_eq!(days[0].text, "5");
        assert!(matches!(days[0].tone, Tone::Warn | Tone::Bad), "5 days left: {:?}", days[0]);
        assert_eq!(days[1].tone, Tone::Good);
        assert_eq!(column(&s, "Certificate chain", "Role")[0].text, "Leaf");
        assert_eq!(column(&s, "Certificate chain", "Role")[1].text, "Intermediate");
        assert_eq!(column(&s, "Certificate chain", "Subject")[0].text, "CN=example.com");
        assert_eq!(column(&s, "Certificate chain", "Not after")[0].text, "2025-01-06 23:59 UTC");
        assert_eq!(column(&s, "Certificate chain", "Key")[0].text, "EC P-256");
        assert_eq!(column(&s, "Certificate chain", "Key")[1].text, "RSA 2048 bits");
        assert_eq!(column(&s, "Certificate chain", "Signature")[0].text, "sha256WithRSAEncryption");
        assert_eq!(pair(&s, "Verdict", "Verdict").tone, Tone::Good);
        assert_eq!(pair(&s, "Verdict", "Host name").tone, Tone::Good);
        assert!(matches!(pair(&s, "Verdict", "Certificate expires").tone, Tone::Warn | Tone::Bad));
        assert_eq!(*pair(&s, "Connection", "Protocol"), Cell::good("TLSv1.3"));
        assert_eq!(pair(&s, "Connection", "Cipher suite").text, "TLS_AES_256_GCM_SHA384");
        assert_eq!(*pair(&s, "Connection", "Legacy versions accepted"), Cell::warn("TLSv1.0"));
        let probes = column(&s, "Legacy protocol probes", "Result");
        assert_eq!(*probes[0], Cell::good("refused"));
        assert_eq!(*probes[1], Cell::warn("accepted"));
        assert_eq!(probes[2].tone, Tone::Plain);
        assert_eq!(pair(&s, "Leaf certificate", "Names (subjectAltName)").text, "example.com, www.example.com");
        let findings = notes(&s, "Findings");
        assert_eq!(findings.len(), 2);
        assert_eq!(findings[0].tone, Tone::Warn);
        assert!(findings[0].text.starts_with("Medium: the leaf certificate expires"));
    }

    #[test]
    fn ssl_broken_server() {
        let mut r = ssl_result();
        r["valid"] = json!(false);
        r["chainValid"] = json!(false);
        r["hostnameMatches"] = json!(false);
        r["validationError"] = json!("certificate expired");
        r["daysToExpiry"] = json!(-3);
        r["certificates"][0]["daysToExpiry"] = json!(-3);
        r["certificates"][0]["expired"] = json!(true);
        r["certificates"][0]["keyType"] = json!("RSA");
        r["certificates"][0]["curve"] = Value::Null;
        r["certificates"][0]["keySize"] = json!(1024);
        r["certificates"][0]["signatureAlgorithm"] = json!("sha1WithRSAEncryption");
        r["protocol"] = json!("TLSv1.0");
        r["legacyProtocols"] = json!(["SSLv3", "TLSv1.0"]);
        let s = readable(ToolKey::Ssl, &r);
        well_formed(&s);
        assert_eq!(pair(&s, "Verdict", "Verdict").tone, Tone::Bad);
        assert_eq!(*pair(&s, "Verdict", "Why"), Cell::bad("certificate expired"));
        assert_eq!(pair(&s, "Verdict", "Host name").tone, Tone::Bad);
        assert_eq!(pair(&s, "Verdict", "Certificate expires").tone, Tone::Bad);
        assert_eq!(*column(&s, "Certificate chain", "Days left")[0], Cell::bad("expired 2 days ago"));
        assert_eq!(*column(&s, "Certificate chain", "Key")[0], Cell::bad("RSA 1024 bits"));
        assert_eq!(column(&s, "Certificate chain", "Signature")[0].tone, Tone::Bad);
        assert_eq!(pair(&s, "Connection", "Protocol").tone, Tone::Bad);
        assert_eq!(pair(&s, "Connection", "Legacy versions accepted").tone, Tone::Bad);
    }

    // ---- exposure

    #[test]
    fn exposure_ports_with_their_risk() {
        let s = readable(ToolKey::Exposure, &exposure_result());
        well_formed(&s);
        assert_eq!(*pair(&s, "Summary", "Risk score"), Cell::bad("100 / 100 (critical)"));
        assert_eq!(pair(&s, "Summary", "Open ports").text, "3");
        assert_eq!(pair(&s, "Summary", "Ports scanned").text, "100 (top100)");
        assert_eq!(pair(&s, "Summary", "Known exploited").tone, Tone::Bad);
        assert_eq!(pair(&s, "Summary", "Scan time").text, "2.3 s");
        let ports: Vec<&str> = column(&s, "Open ports", "Port").iter().map(|c| c.text.as_str()).collect();
        assert_eq!(ports, ["22/tcp", "80/tcp", "6379/tcp"]);
        let risk = column(&s, "Open ports", "Risk");
        // The tool's formula for the port alone: CVEs (10 × CVSS, +10 when exploited), service weight, +1 open.
        assert_eq!(*risk[0], Cell::plain("1 (low)"));
        assert_eq!(*risk[1], Cell::bad("86 (critical)"));
        assert_eq!(*risk[2], Cell::bad("71 (high)"));
        assert_eq!(column(&s, "Open ports", "Product")[0].text, "openssh 8.9p1");
        assert_eq!(column(&s, "Open ports", "Banner")[1].text, "HTTP/1.1 200 OK · Server: Apache/2.4.49 (Unix)");
        assert_eq!(column(&s, "Open ports", "Banner")[2].text, NONE);
        assert_eq!(*column(&s, "Open ports", "CVEs")[1], Cell::bad("CVE-2021-41773 (7.5)"));
        assert_eq!(*column(&s, "Open ports", "Service")[2], Cell::bad("redis (no authentication)"));
        assert_eq!(column(&s, "Vulnerabilities", "CVE")[0].text, "CVE-2021-41773");
        assert_eq!(column(&s, "Vulnerabilities", "Port")[0].text, "80");
        assert_eq!(notes(&s, "Findings")[0].tone, Tone::Bad);
    }

    #[test]
    fn exposure_without_open_ports() {
        let r = json!({"host": "192.0.2.1", "address": "192.0.2.1", "portSpec": "22,80", "scanned": 2, "openPorts": [],
                       "closed": 2, "filtered": 0, "ports": [], "riskScore": 0, "riskLevel": "none", "cveCount": 0,
                       "maxCvss": 0.0, "knownExploited": false, "findings": [], "elapsedMs": 12, "portsPerSecond": 166.7});
        let s = readable(ToolKey::Exposure, &r);
        well_formed(&s);
        assert_eq!(*pair(&s, "Summary", "Open ports"), Cell::good("none"));
        assert_eq!(pair(&s, "Summary", "Risk score").tone, Tone::Good);
        assert!(!has(&s, "Open ports") && !has(&s, "Findings"));
    }

    #[test]
    fn tables_stop_at_the_limit() {
        let mut r = exposure_result();
        r["ports"] = Value::Array((1..=250).map(|p| open_port(p, "unknown", None, None)).collect());
        let s = readable(ToolKey::Exposure, &r);
        well_formed(&s);
        let (_, rows) = table(&s, "Open ports (first 200 of 250)");
        assert_eq!(rows.len(), MAX_ROWS);
    }

    // ---- email

    #[test]
    fn email_policies_and_breaches() {
        let s = readable(ToolKey::Email, &email_result());
        well_formed(&s);
        assert_eq!(pair(&s, "SPF", "Record").text, "v=spf1 include:_spf.example.net -all");
        assert_eq!(pair(&s, "SPF", "Verdict").tone, Tone::Good);
        assert_eq!(pair(&s, "Summary", "SPF").tone, Tone::Good);
        assert_eq!(pair(&s, "SPF", "DNS lookups").text, "1 of at most 10");
        assert_eq!(column(&s, "SPF includes", "Domain")[0].text, "_spf.example.net");
        assert_eq!(pair(&s, "DMARC", "Policy applied").tone, Tone::Warn);
        assert_eq!(pair(&s, "DMARC", "Domain policy (p)").text, "none");
        assert_eq!(pair(&s, "DMARC", "SPF alignment").text, "strict");
        assert_eq!(pair(&s, "DMARC", "Aggregate reports (rua)").text, "mailto:dmarc@example.com");
        assert_eq!(column(&s, "MX records", "Mail server")[1].text, "mx2.example.com");
        assert_eq!(*pair(&s, "Summary", "Breaches"), Cell::bad("found in 2 breaches"));
        assert_eq!(column(&s, "Breaches", "Accounts")[0].text, "152,445,165");
        assert_eq!(column(&s, "Breaches", "Date")[0].text, "2013-10-04");
        assert_eq!(column(&s, "Breaches", "Data exposed")[0].tone, Tone::Bad);
        assert_eq!(column(&s, "Breaches", "Data exposed")[1].tone, Tone::Warn);
        assert_eq!(notes(&s, "Findings")[0].tone, Tone::Warn);
    }

    #[test]
    fn email_without_policies() {
        let r = json!({
            "domain": "example.org", "nxdomain": false, "hasMx": false, "nullMx": false, "mx": [],
            "hasSpf": false, "spf": {"recordCount": 0, "records": [], "mechanisms": [], "modifiers": [], "lookupCount": 0,
                                      "lookupLimit": 10, "permerror": false, "includes": [], "errors": []},
            "hasDmarc": false, "dmarc": {"inherited": false, "recordCount": 0, "rua": [], "ruf": [], "tags": {}, "errors": []},
            "findings": [{"code": "no_spf", "severity": "medium", "message": "example.org publishes no SPF record"}],
            "findingCodes": ["no_spf"], "highestSeverity": "medium",
            "hibp": {"status": "not_applicable"}, "errors": {}
        });
        let s = readable(ToolKey::Email, &r);
        well_formed(&s);
        assert_eq!(pair(&s, "Summary", "SPF").tone, Tone::Warn);
        assert_eq!(pair(&s, "Summary", "DMARC").tone, Tone::Warn);
        assert_eq!(pair(&s, "Summary", "Mail servers").tone, Tone::Warn);
        assert!(!has(&s, "SPF") && !has(&s, "DMARC") && !has(&s, "Have I Been Pwned") && !has(&s, "Breaches"));
    }

    // ---- ip-reputation

    #[test]
    fn reputation_providers() {
        let s = readable(ToolKey::IpReputation, &reputation_result(92));
        well_formed(&s);
        assert_eq!(*pair(&s, "AbuseIPDB", "Confidence of abuse"), Cell::bad("92 / 100"));
        assert_eq!(pair(&s, "Summary", "AbuseIPDB").tone, Tone::Bad);
        assert_eq!(pair(&s, "AbuseIPDB", "Country").text, "Netherlands (NL)");
        assert_eq!(pair(&s, "AbuseIPDB", "ISP").text, "Example Hosting B.V.");
        assert_eq!(pair(&s, "AbuseIPDB", "Usage type").text, "Data Center/Web Hosting/Transit");
        assert_eq!(pair(&s, "AbuseIPDB", "Reports (90 days)").text, "1234 from 210 user(s)");
        assert_eq!(pair(&s, "AbuseIPDB", "Last reported").text, "2024-05-01 12:34 UTC");
        assert_eq!(column(&s, "AbuseIPDB reports", "Categories")[0].text, "Brute-Force, SSH");
        assert_eq!(column(&s, "AbuseIPDB reports", "Comment")[0].text, "SSH brute force · from this host");
        assert_eq!(*pair(&s, "VirusTotal", "Status"), Cell::plain("not configured (no API key)"));
        assert_eq!(*pair(&s, "Summary", "Local blocklists"), Cell::bad("listed"));
        assert_eq!(column(&s, "Blocklist matches", "Entry")[0].text, "198.51.100.0/24");
        assert_eq!(notes(&s, "Blocklist problems")[0].tone, Tone::Warn);

        let score =
            |n| pair(&readable(ToolKey::IpReputation, &reputation_result(n)), "AbuseIPDB", "Confidence of abuse").tone;
        assert_eq!(score(75), Tone::Bad);
        assert_eq!(score(74), Tone::Warn);
        assert_eq!(score(25), Tone::Warn);
        assert_eq!(score(24), Tone::Good);
        assert_eq!(score(0), Tone::Good);
    }

    #[test]
    fn reputation_virustotal_and_failures() {
        let mut r = reputation_result(0);
        r["virustotal"] = json!({
            "status": "ok", "malicious": 5, "link": "https://www.virustotal.com/gui/ip-address/198.51.100.7",
            "last_analysis_stats": {"harmless": 60, "malicious": 5, "suspicious": 1, "undetected": 24, "timeout": 0},
            "last_analysis_date": 1714567890, "reputation": -12, "tags": [], "total_votes": {"harmless": 0, "malicious": 3},
            "as_owner": "Example Hosting", "asn": 64500, "country": "NL", "network": "198.51.100.0/24"
        });
        r["abuseipdb"] =
            json!({"status": "error", "error": "abuseipdb: rate limited", "httpStatus": 429, "retryAfter": 60});
        let s = readable(ToolKey::IpReputation, &r);
        well_formed(&s);
        assert_eq!(*pair(&s, "VirusTotal", "Detections"), Cell::bad("5 malicious, 1 suspicious of 90 engines"));
        assert_eq!(pair(&s, "VirusTotal", "AS owner").text, "Example Hosting (AS64500)");
        assert_eq!(pair(&s, "VirusTotal", "Last analysis").text, "2024-05-01 12:51 UTC");
        assert_eq!(
            *pair(&s, "AbuseIPDB", "Status"),
            Cell::warn("abuseipdb: rate limited (HTTP 429); retry after 60 s (1 min)")
        );
        assert!(!has(&s, "AbuseIPDB reports"));
    }

    // ---- threat-feed

    #[test]
    fn feed_matches_table() {
        let s = readable(ToolKey::ThreatFeed, &feed_result());
        well_formed(&s);
        let (headers, rows) = table(&s, "Feed matches");
        assert_eq!(headers, ["Feed", "Indicator", "Line"]);
        assert_eq!(rows[0][1].text, "198.51.100.0/24");
        assert_eq!(rows[0][0].tone, Tone::Bad);
        assert!(!has(&s, "Matches"), "there are matches");
        assert_eq!(*pair(&s, "Summary", "Local feeds"), Cell::bad("listed"));
        assert_eq!(*pair(&s, "Summary", "AlienVault OTX"), Cell::warn("in 57 pulses"));
        assert_eq!(*pair(&s, "Summary", "GreyNoise"), Cell::bad("malicious"));
        assert_eq!(pair(&s, "AlienVault OTX", "Pulses").text, "57 (1 listed)");
        assert_eq!(column(&s, "OTX pulses", "Created")[0].text, "2026-10-01 09:30 UTC");
        assert_eq!(column(&s, "OTX pulses", "Malware")[0].text, "Mirai");
        assert_eq!(pair(&s, "GreyNoise", "Last seen").text, "2026-11-02");
        assert_eq!(notes(&s, "Feed problems")[0].text, "abuse-ch: 2 invalid lines skipped, the first at line 7");
    }

    #[test]
    fn feed_matches_show_richer_columns_when_present() {
        let mut r = feed_result();
        r["feeds"]["matches"] = json!([
            {"feed": "ti", "indicator": "198.51.100.7", "line": 1, "type": "ip", "firstSeen": "2024-01-01T00:00:00Z",
             "lastSeen": "2024-02-01T08:00:00Z", "tags": ["c2", "botnet"]},
            {"feed": "other", "indicator": "198.51.100.0/24", "line": 9}
        ]);
        let s = readable(ToolKey::ThreatFeed, &r);
        well_formed(&s);
        let (headers, rows) = table(&s, "Feed matches");
        assert_eq!(headers, ["Feed", "Indicator", "Type", "First seen", "Last seen", "Tags", "Line"]);
        assert_eq!(rows[0][3].text, "2024-01-01 00:00 UTC");
        assert_eq!(rows[0][5].text, "c2, botnet");
        assert_eq!(rows[1][2].text, NONE);
    }

    #[test]
    fn feed_without_matches_says_so() {
        let s = readable(ToolKey::ThreatFeed, &feed_clean());
        well_formed(&s);
        let note = &notes(&s, "Matches")[0];
        assert_eq!(note.tone, Tone::Good);
        assert!(note.text.starts_with("No matches"), "{note:?}");
        assert!(note.text.contains("1 local feed") && note.text.contains("AlienVault OTX"), "{note:?}");
        assert!(!has(&s, "Feed matches") && !has(&s, "GreyNoise") && !has(&s, "OTX pulses"));
        assert_eq!(
            notes(&s, "OTX validation (signs of a false positive)")[0].text,
            "Whitelisted domain: Whitelisted domain example.com"
        );

        // Nothing answered: no claim either way.
        let r = json!({"target": "example.com", "kind": "DOMAIN", "listed": false, "pulseCount": null,
                       "otx": {"status": "not_configured"}, "greynoise": {"status": "not_applicable"},
                       "feeds": {"status": "not_configured", "listed": false, "matches": [], "feeds": []}});
        let s = readable(ToolKey::ThreatFeed, &r);
        well_formed(&s);
        assert!(!has(&s, "Matches"));
        assert_eq!(*pair(&s, "AlienVault OTX", "Status"), Cell::plain("not configured (no API key)"));
        assert_eq!(*pair(&s, "Summary", "Local feeds"), Cell::plain("no feed configured"));
    }

    // ---- Odd input

    /// JSON pointers of every value inside `v`.
    fn pointers(v: &Value, at: &str, out: &mut Vec<String>) {
        match v {
            Value::Object(map) => {
                for (key, x) in map {
                    let p = format!("{at}/{key}");
                    out.push(p.clone());
                    pointers(x, &p, out);
                }
            }
            Value::Array(items) => {
                for (i, x) in items.iter().enumerate() {
                    let p = format!("{at}/{i}");
                    out.push(p.clone());
                    pointers(x, &p, out);
                }
            }
            _ => {}
        }
    }

    #[test]
    fn odd_shapes_never_panic() {
        let junk = [
            Value::Null,
            json!(true),
            json!(-1),
            json!(i64::MIN),
            json!(u64::MAX),
            json!(1.5),
            json!(""),
            json!("x"),
            json!([]),
            json!([null, 1, "x", {}, []]),
            json!({}),
            json!({"status": "ok"}),
        ];
        for &tool in ToolKey::ALL {
            for j in &junk {
                well_formed(&readable(tool, j));
            }
            assert!(readable(tool, &Value::Null).is_empty());
            assert!(readable(tool, &json!({})).is_empty(), "{tool}");
        }
        for (tool, sample) in samples() {
            let mut ptrs = Vec::new();
            pointers(&sample, "", &mut ptrs);
            for ptr in &ptrs {
                for j in &junk {
                    let mut v = sample.clone();
                    if let Some(slot) = v.pointer_mut(ptr) {
                        *slot = j.clone();
                    }
                    well_formed(&readable(tool, &v));
                }
            }
            // A result read as another tool's says less, but never fails.
            for &other in ToolKey::ALL {
                well_formed(&readable(other, &sample));
            }
        }
    }

    #[test]
    fn times_read_as_minutes_in_utc() {
        assert_eq!(when("2024-05-01T12:34:56Z"), "2024-05-01 12:34 UTC");
        assert_eq!(when("2024-05-01T14:34:56+02:00"), "2024-05-01 12:34 UTC");
        assert_eq!(when("2026-10-01T09:30:00.000000"), "2026-10-01 09:30 UTC");
        assert_eq!(when("2026-10-01T09:30:00"), "2026-10-01 09:30 UTC");
        assert_eq!(when("2019-01-07"), "2019-01-07");
        assert_eq!(when("not a time"), "not a time");
    }

    #[test]
    fn small_formats() {
        assert_eq!(seconds(45), "45 s");
        assert_eq!(seconds(3661), "3661 s (1 h 1 min 1 s)");
        assert_eq!(seconds(i64::MIN), format!("{} s", i64::MIN));
        assert_eq!(grouped(0), "0");
        assert_eq!(grouped(1234), "1,234");
        assert_eq!(grouped(152_445_165), "152,445,165");
        assert_eq!(days_phrase(1), "in 1 day");
        assert_eq!(days_phrase(-1), "expired within the last day");
        assert_eq!(days_phrase(-2), "expired 1 day ago");
        assert_eq!(days_phrase(i64::MIN), format!("expired {} days ago", i64::MAX));
        assert_eq!(clip("abcdef", 3), "abc…");
        assert_eq!(clip("abc", 3), "abc");
        assert_eq!(join_max(&["a".to_string(), "b".to_string(), "c".to_string()], 2), "a, b and 1 more");
        assert_eq!(mailbox("hostmaster.example.com"), "hostmaster@example.com");
        assert_eq!(mailbox("john\\.doe.example.com"), "john\\.doe.example.com");
        assert!(starts_with_ci("V=SPF1 -all", "v=spf1") && !starts_with_ci("é", "v=spf1"));
    }
}
