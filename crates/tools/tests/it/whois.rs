//! The whois tool against WHOIS servers on loopback: an IANA-like root, a Verisign-like registry, a registrar,
//! ARIN- and RIPE-like registries, and servers that misbehave (silent, flooding, looping, absent).
//!
//! Every fake server listens on its own 127.0.0.1 port; `tools.whois.addresses` pins the names the answers
//! refer to (`whois.verisign-grs.com`, `whois.arin.net`, …) to those ports.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, SubsecRound, Utc};
use parking_lot::Mutex;
use tlink_tools::whois::{self, WhoisResult, WhoisVia};
use tlink_tools::{NoProgress, ResultSchema, RunOptions, Target, ToolError, ToolKey, ToolsConfig};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use crate::support::{loopback_config, toolbox};

/// What a fake server does with a query.
enum Reply {
    Text(String),
    /// Keeps the connection open without answering.
    Silent,
    /// Sends this many bytes of a (valid) answer.
    Flood(usize),
}

/// A WHOIS server on 127.0.0.1 that answers each connection's query line, then closes.
struct Fake {
    addr: SocketAddr,
    /// Query lines received, as sent (with their line end).
    queries: Arc<Mutex<Vec<String>>>,
}

impl Fake {
    async fn start(answer: impl Fn(&str) -> Reply + Send + Sync + 'static) -> Fake {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a fake WHOIS server");
        let addr = listener.local_addr().expect("its address");
        let queries = Arc::new(Mutex::new(Vec::new()));
        let answer = Arc::new(answer);
        let seen = queries.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (answer, seen) = (answer.clone(), seen.clone());
                tokio::spawn(async move {
                    let mut reader = BufReader::new(stream);
                    let mut line = String::new();
                    if (&mut reader).take(1024).read_line(&mut line).await.is_err() {
                        return;
                    }
                    seen.lock().push(line.clone());
                    let mut stream = reader.into_inner();
                    match answer(line.trim_end()) {
                        Reply::Text(text) => {
                            let _ = stream.write_all(text.as_bytes()).await;
                            let _ = stream.shutdown().await;
                        }
                        Reply::Silent => tokio::time::sleep(Duration::from_secs(30)).await,
                        Reply::Flood(total) => {
                            let mut sent = 0;
                            let head = "Domain Name: BIG.COM\r\nRegistrar: Big Registrar, Inc.\r\n";
                            if stream.write_all(head.as_bytes()).await.is_err() {
                                return;
                            }
                            sent += head.len();
                            let filler = format!("Remarks: {}\r\n", "x".repeat(90));
                            while sent < total {
                                if stream.write_all(filler.as_bytes()).await.is_err() {
                                    return;
                                }
                                sent += filler.len();
                            }
                            let _ = stream.shutdown().await;
                        }
                    }
                });
            }
        });
        Fake { addr, queries }
    }

    fn queries(&self) -> Vec<String> {
        self.queries.lock().clone()
    }
}

/// A loopback port with nothing listening.
async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    listener.local_addr().expect("address").port()
}

const IANA_HEAD: &str = "% IANA WHOIS server\n% for more information on IANA, visit http://www.iana.org\n";

fn iana(query: &str) -> Reply {
    let tld = query.rsplit('.').next().unwrap_or_default().to_ascii_lowercase();
    let text = if query.parse::<std::net::IpAddr>().is_ok() {
        format!(
            "{IANA_HEAD}% This query returned 1 object\n\nrefer:        whois.arin.net\n\n\
             inetnum:      193.0.0.0 - 193.255.255.255\norganisation: Administered by ARIN\nstatus:       LEGACY\n\n\
             whois:        whois.arin.net\n\nchanged:      1993-05\nsource:       IANA\n"
        )
    } else if query == "AS15169" {
        format!(
            "{IANA_HEAD}% This query returned 1 object\n\nrefer:        whois.arin.net\n\n\
             as-block:     15105-16383\norganisation: Administered by ARIN\n\nwhois:        whois.arin.net\n\n\
             changed:      2006-07-10\nsource:       IANA\n"
        )
    } else if query == "AS3333" {
        // No `refer:` line: the `whois:` line of the block is the referral.
        format!(
            "{IANA_HEAD}% This query returned 1 object\n\nas-block:     3154-3353\norganisation: RIPE NCC\n\n\
             whois:        whois.ripe.net\n\nchanged:      2005-02-08\nsource:       IANA\n"
        )
    } else if tld == "com" {
        format!(
            "{IANA_HEAD}% This query returned 1 object\n\nrefer:        whois.verisign-grs.com\n\n\
             domain:       COM\n\norganisation: VeriSign Global Registry Services\naddress:      12061 Bluemont Way\n\
             address:      Reston VA 20190\naddress:      United States of America (the)\n\n\
             contact:      administrative\nname:         Registry Customer Service\n\
             organisation: VeriSign Global Registry Services\nphone:        +1 703 925-6999\n\
             e-mail:       info@verisign-grs.com\n\n\
             nserver:      A.GTLD-SERVERS.NET 192.5.6.30 2001:503:a83e:0:0:0:2:30\n\
             nserver:      B.GTLD-SERVERS.NET 192.33.14.30 2001:503:231d:0:0:0:2:30\n\
             ds-rdata:     19718 13 2 8acbb0cd28f41250a80a491389424d341522d946b0da0c0291f2d3d771d7805a\n\n\
             whois:        whois.verisign-grs.com\n\nstatus:       ACTIVE\n\
             remarks:      Registration information: http://www.verisigninc.com\n\n\
             created:      1985-01-01\nchanged:      2023-12-07\nsource:       IANA\n"
        )
    } else if tld == "loop" {
        format!(
            "{IANA_HEAD}% This query returned 1 object\n\nrefer:        whois.loop-a.test\n\ndomain:       LOOP\n\n\
             whois:        whois.loop-a.test\n\nstatus:       ACTIVE\ncreated:      2015-01-01\nsource:       IANA\n"
        )
    } else {
        format!("{IANA_HEAD}\n% This query returned 0 objects.\n")
    };
    Reply::Text(text)
}

const VERISIGN_NOTICE: &str = "\r\nFor more information on Whois status codes, please visit https://icann.org/epp\r\n\r\n\
NOTICE: The expiration date displayed in this record is the date the\r\n\
registrar's sponsorship of the domain name registration in the registry is\r\n\
currently set to expire. This date does not necessarily reflect the expiration\r\n\
date of the domain name registrant's agreement with the sponsoring\r\n\
registrar.  Users may consult the sponsoring registrar's Whois database to\r\n\
view the registrar's reported date of expiration for this registration.\r\n";

/// A Verisign-style registry answer naming `registrar_whois` as the registrar's server.
fn verisign_record(name: &str, registrar_whois: &str, expiry: &str) -> String {
    let upper = name.to_ascii_uppercase();
    format!(
        "   Domain Name: {upper}\r\n   Registry Domain ID: 2336799_DOMAIN_COM-VRSN\r\n\
         \x20  Registrar WHOIS Server: {registrar_whois}\r\n   Registrar URL: http://www.registrar.test\r\n\
         \x20  Updated Date: 2024-08-14T07:01:34Z\r\n   Creation Date: 1995-08-14T04:00:00Z\r\n\
         \x20  Registry Expiry Date: {expiry}\r\n   Registrar: Example Registrar, Inc.\r\n\
         \x20  Registrar IANA ID: 376\r\n   Registrar Abuse Contact Email: abuse@registrar.test\r\n\
         \x20  Registrar Abuse Contact Phone: +1.5555551234\r\n\
         \x20  Domain Status: clientDeleteProhibited https://icann.org/epp#clientDeleteProhibited\r\n\
         \x20  Domain Status: clientTransferProhibited https://icann.org/epp#clientTransferProhibited\r\n\
         \x20  Name Server: A.IANA-SERVERS.NET\r\n   Name Server: B.IANA-SERVERS.NET\r\n   DNSSEC: unsigned\r\n\
         \x20  URL of the ICANN Whois Inaccuracy Complaint Form: https://www.icann.org/wicf/\r\n\
         >>> Last update of whois database: 2024-08-20T10:11:12Z <<<\r\n{VERISIGN_NOTICE}"
    )
}

fn verisign(query: &str, expired: &str) -> Reply {
    let text = match query {
        "example.com" => verisign_record(query, "whois.registrar.test", "2030-08-13T04:00:00Z"),
        "down.com" => verisign_record(query, "whois.down.test", "2030-08-13T04:00:00Z"),
        "slow.com" => verisign_record(query, "whois.slow.test", "2030-08-13T04:00:00Z"),
        "big.com" => verisign_record(query, "whois.big.test", "2030-08-13T04:00:00Z"),
        // A registry that has no other server to refer to.
        "expired.com" => verisign_record(query, "", expired),
        _ => format!(
            "No match for \"{}\".\r\n>>> Last update of whois database: 2024-08-20T10:11:12Z <<<\r\n{VERISIGN_NOTICE}",
            query.to_ascii_uppercase()
        ),
    };
    Reply::Text(text)
}

/// A registrar's answer in the ICANN RAA layout, dates in three styles.
fn registrar(query: &str, expiry: &str) -> Reply {
    if query != "example.com" {
        return Reply::Text(format!("No match for \"{query}\".\n"));
    }
    Reply::Text(format!(
        "Domain Name: example.com\nRegistry Domain ID: 2336799_DOMAIN_COM-VRSN\n\
         Registrar WHOIS Server: whois.registrar.test\nRegistrar URL: https://www.registrar.test\n\
         Updated Date: 2024.08.14 07:01:34\nCreation Date: 14-aug-1995\n\
         Registrar Registration Expiration Date: {expiry}\nRegistrar: Example Registrar, LLC\n\
         Registrar IANA ID: 376\nRegistrar Abuse Contact Email: abuse@registrar.test\n\
         Registrar Abuse Contact Phone: +1.5555551234\nReseller:\n\
         Domain Status: clientTransferProhibited https://icann.org/epp#clientTransferProhibited\n\
         Domain Status: clientUpdateProhibited https://icann.org/epp#clientUpdateProhibited\n\
         Domain Status: clientDeleteProhibited https://icann.org/epp#clientDeleteProhibited\n\
         Domain Status: clientRenewProhibited https://icann.org/epp#clientRenewProhibited\n\
         Registry Registrant ID: REDACTED FOR PRIVACY\nRegistrant Name: REDACTED FOR PRIVACY\n\
         Registrant Organization: Example Holdings Ltd\nRegistrant Street: REDACTED FOR PRIVACY\n\
         Registrant City: REDACTED FOR PRIVACY\nRegistrant State/Province: Ontario\n\
         Registrant Postal Code: REDACTED FOR PRIVACY\nRegistrant Country: ca\n\
         Registrant Email: Please query the RDDS service of the Registrar of Record identified in this output for \
         information on how to contact the Registrant, Admin, or Tech contact of the queried domain name.\n\
         Name Server: NS1.EXAMPLE-DNS.NET.\nName Server: ns2.example-dns.net\nName Server: ns1.example-dns.net\n\
         DNSSEC: signedDelegation\n\
         URL of the ICANN Whois Inaccuracy Complaint Form: https://www.icann.org/wicf/\n\
         >>> Last update of WHOIS database: 2024-08-20T10:11:12Z <<<\n"
    ))
}

const ARIN_HEAD: &str = "\n#\n# ARIN WHOIS data and services are subject to the Terms of Use\n\
# available at: https://www.arin.net/resources/registry/whois/tou/\n#\n\
# If you see inaccuracies in the results, please report at\n\
# https://www.arin.net/resources/registry/whois/inaccuracy_reporting/\n#\n\
# Copyright 1997-2024, American Registry for Internet Numbers, Ltd.\n#\n\n";

fn arin(query: &str) -> Reply {
    let body = match query {
        "n + 193.0.6.139" => {
            "NetRange:       193.0.0.0 - 193.255.255.255\nCIDR:           193.0.0.0/8\nNetName:        RIPE-CBLK2\n\
             NetHandle:      NET-193-0-0-0-1\nParent:          ()\nNetType:        Allocated to RIPE NCC\nOriginAS:\n\
             Organization:   RIPE Network Coordination Centre (RIPE)\nRegDate:        1993-05-01\n\
             Updated:        2009-05-18\nRef:            https://rdap.arin.net/registry/ip/193.0.0.0\n\n\
             ResourceLink:  https://apps.db.ripe.net/search/query.html\nResourceLink:  whois.ripe.net\n\n\
             OrgName:        RIPE Network Coordination Centre\nOrgId:          RIPE\nAddress:        P.O. Box 10096\n\
             City:           Amsterdam\nStateProv:\nPostalCode:     1001EB\nCountry:        NL\n\
             RegDate:\nUpdated:        2013-07-29\nRef:            https://rdap.arin.net/registry/entity/RIPE\n\n\
             ReferralServer:  whois://whois.ripe.test\n\
             ResourceLink:  https://apps.db.ripe.net/search/query.html\n\n\
             OrgAbuseHandle: ABUSE3850-ARIN\nOrgAbuseName:   Abuse Contact\nOrgAbuseEmail:  abuse@ripe.net\n"
        }
        "n + 198.51.100.7" => {
            "NetRange:       198.51.100.0 - 198.51.100.255\nCIDR:           198.51.100.0/24\n\
             NetName:        EXAMPLE-HOSTING-1\nNetHandle:      NET-198-51-100-0-1\nNetType:        Direct Allocation\n\
             OriginAS:       AS64500\nOrganization:   Example Hosting Inc. (EXHO)\nRegDate:        2011-02-03\n\
             Updated:        2021-06-01\n\nOrgName:        Example Hosting Inc.\nOrgId:          EXHO\n\
             City:           Dallas\nStateProv:      TX\nCountry:        US\n\n\
             ReferralServer:  rwhois://rwhois.example-hosting.test:4321\n\n\
             OrgAbuseEmail:  abuse@example-hosting.test\n"
        }
        "a + 15169" => {
            "ASNumber:       15169\nASName:         GOOGLE\nASHandle:       AS15169\nRegDate:        2000-03-30\n\
             Updated:        2012-02-24\nRef:            https://rdap.arin.net/registry/autnum/15169\n\n\
             OrgName:        Google LLC\nOrgId:          GOGL\nAddress:        1600 Amphitheatre Parkway\n\
             City:           Mountain View\nStateProv:      CA\nPostalCode:     94043\nCountry:        US\n\
             RegDate:        2000-03-30\nUpdated:        2019-10-31\n\n\
             OrgAbuseHandle: ABUSE5250-ARIN\nOrgAbuseEmail:  network-abuse@google.com\n"
        }
        _ => return Reply::Text(format!("{ARIN_HEAD}No match found for {query}.\n")),
    };
    Reply::Text(format!("{ARIN_HEAD}{body}\n#\n# ARIN WHOIS data and services are subject to the Terms of Use\n#\n"))
}

const RIPE_HEAD: &str = "% This is the RIPE Database query service.\n% The objects are in RPSL format.\n%\n\
% The RIPE Database is subject to Terms and Conditions.\n% See https://docs.db.ripe.net/terms-conditions.html\n\n\
% Note: this output has been filtered.\n%       To receive output for a database update, use the \"-B\" flag.\n\n";

fn ripe(query: &str) -> Reply {
    let body = match query {
        "193.0.6.139" => {
            "% Information related to '193.0.0.0 - 193.0.7.255'\n\n\
             % Abuse contact for '193.0.0.0 - 193.0.7.255' is 'abuse@ripe.net'\n\n\
             inetnum:        193.0.0.0 - 193.0.7.255\nnetname:        RIPE-NCC\n\
             descr:          RIPE Network Coordination Centre\norg:            ORG-RIEN1-RIPE\n\
             descr:          Amsterdam, Netherlands\nremarks:        Used for RIPE NCC infrastructure.\n\
             country:        NL\nadmin-c:        BRD-RIPE\ntech-c:         OPS4-RIPE\nstatus:         ASSIGNED PA\n\
             mnt-by:         RIPE-NCC-MNT\ncreated:        2003-03-17T12:15:57Z\n\
             last-modified:  2017-12-04T14:42:31Z\nsource:         RIPE\n\n\
             organisation:   ORG-RIEN1-RIPE\n\
             org-name:       Reseaux IP Europeens Network Coordination Centre (RIPE NCC)\ncountry:        NL\n\
             org-type:       LIR\naddress:        P.O. Box 10096\naddress:        1016 EB\naddress:        Amsterdam\n\
             address:        NETHERLANDS\nphone:          +31205354444\nmnt-by:         RIPE-NCC-MNT\n\
             created:        2012-03-09T13:14:59Z\nlast-modified:  2024-01-10T13:47:12Z\nsource:         RIPE # Filtered\n\n\
             % Information related to '193.0.0.0/21AS3333'\n\n\
             route:          193.0.0.0/21\ndescr:          RIPE-NCC\norigin:         AS3333\nmnt-by:         RIPE-NCC-MNT\n\
             created:        2008-09-10T14:27:53Z\nlast-modified:  2008-09-10T14:27:53Z\nsource:         RIPE\n\n"
        }
        "AS3333" => {
            "% Information related to 'AS3209 - AS3353'\n\nas-block:       AS3209 - AS3353\n\
             descr:          RIPE NCC ASN block\nmnt-by:         RIPE-NCC-HM-MNT\nsource:         RIPE\n\n\
             % Information related to 'AS3333'\n\n% Abuse contact for 'AS3333' is 'abuse@ripe.net'\n\n\
             aut-num:        AS3333\nas-name:        RIPE-NCC-AS\norg:            ORG-RIEN1-RIPE\n\
             import:         from AS12859 accept ANY\nexport:         to AS12859 announce AS3333\n\
             admin-c:        BRD-RIPE\nstatus:         ASSIGNED\nmnt-by:         RIPE-NCC-END-MNT\n\
             created:        2002-09-17T14:25:10Z\nlast-modified:  2024-03-04T09:22:33Z\nsource:         RIPE\n\n\
             organisation:   ORG-RIEN1-RIPE\n\
             org-name:       Reseaux IP Europeens Network Coordination Centre (RIPE NCC)\ncountry:        NL\n\
             org-type:       LIR\nsource:         RIPE # Filtered\n\n"
        }
        _ => "%ERROR:101: no entries found\n%\n% No entries found in source RIPE.\n\n",
    };
    Reply::Text(format!("{RIPE_HEAD}{body}% This query was served by the RIPE Database Query Service version 1.112\n"))
}

/// The fake servers of one test, and the expiry dates their answers carry.
struct World {
    root: Fake,
    verisign: Fake,
    registrar: Fake,
    arin: Fake,
    ripe: Fake,
    loop_a: Fake,
    loop_b: Fake,
    slow: Fake,
    big: Fake,
    closed: u16,
    /// Registrar's expiry of example.com: 400 days and 12 hours from now.
    expiry: DateTime<Utc>,
    /// Registry's expiry of expired.com: midnight UTC 30 days ago.
    expired: DateTime<Utc>,
}

impl World {
    async fn start() -> World {
        let now = Utc::now().trunc_subsecs(0);
        let expiry = now + chrono::Duration::days(400) + chrono::Duration::hours(12);
        let expired = (now - chrono::Duration::days(30)).date_naive().and_hms_opt(0, 0, 0).expect("midnight").and_utc();
        let expiry_text = expiry.format("%Y-%m-%dT%H:%M:%S.0Z").to_string();
        let expired_text = expired.format("%Y-%m-%d").to_string();
        World {
            root: Fake::start(iana).await,
            verisign: Fake::start(move |q| verisign(q, &expired_text)).await,
            registrar: Fake::start(move |q| registrar(q, &expiry_text)).await,
            arin: Fake::start(arin).await,
            ripe: Fake::start(ripe).await,
            loop_a: Fake::start(|q| {
                Reply::Text(format!("Domain Name: {q}\nRegistrar WHOIS Server: whois.loop-b.test\n"))
            })
            .await,
            loop_b: Fake::start(|q| Reply::Text(format!("Domain Name: {q}\nWhois Server: whois.loop-a.test\n"))).await,
            slow: Fake::start(|_| Reply::Silent).await,
            big: Fake::start(|_| Reply::Flood(64 * 1024)).await,
            closed: closed_port().await,
            expiry,
            expired,
        }
    }

    /// Loopback allowed, the root on its port, every server name pinned to its fake.
    fn config(&self) -> ToolsConfig {
        let mut config = loopback_config();
        config.whois.root_server = self.root.addr.to_string();
        config.whois.read_timeout_ms = 2_000;
        let pins: BTreeMap<String, String> = [
            ("whois.verisign-grs.com", self.verisign.addr),
            ("whois.registrar.test", self.registrar.addr),
            ("whois.arin.net", self.arin.addr),
            ("whois.ripe.test", self.ripe.addr),
            ("whois.ripe.net", self.ripe.addr),
            ("whois.loop-a.test", self.loop_a.addr),
            ("whois.loop-b.test", self.loop_b.addr),
            ("whois.slow.test", self.slow.addr),
            ("whois.big.test", self.big.addr),
            ("whois.down.test", SocketAddr::from(([127, 0, 0, 1], self.closed))),
        ]
        .into_iter()
        .map(|(name, addr)| (name.to_string(), addr.to_string()))
        .collect();
        config.whois.addresses = pins;
        config
    }
}

async fn lookup(config: ToolsConfig, raw: &str) -> Result<WhoisResult, ToolError> {
    let target = Target::parse(ToolKey::Whois, raw).expect("a whois target");
    whois::run(&toolbox(config), &target).await
}

fn servers(result: &WhoisResult) -> Vec<&str> {
    result.chain.iter().map(|h| h.server.as_str()).collect()
}

fn queries(result: &WhoisResult) -> Vec<&str> {
    result.chain.iter().map(|h| h.query.as_str()).collect()
}

/// Whole days from now until `at`, rounded down (what `daysUntilExpiry` means).
fn days_until(at: DateTime<Utc>) -> i64 {
    (at - Utc::now()).num_seconds().div_euclid(86_400)
}

#[tokio::test]
async fn follows_root_registry_and_registrar_and_prefers_the_registrar() {
    let world = World::start().await;
    let before = days_until(world.expiry);
    let r = lookup(world.config(), "example.com").await.expect("lookup");
    let after = days_until(world.expiry);

    let root = world.root.addr.to_string();
    assert_eq!(servers(&r), [root.as_str(), "whois.verisign-grs.com:43", "whois.registrar.test:43"]);
    assert_eq!(queries(&r), ["example.com"; 3]);
    assert_eq!(
        r.chain.iter().map(|h| h.via).collect::<Vec<_>>(),
        [WhoisVia::Root, WhoisVia::Referral, WhoisVia::Referral]
    );
    assert_eq!(r.chain[1].address, Some(world.verisign.addr.to_string()));
    assert!(r.chain.iter().all(|h| h.error.is_none() && !h.truncated && h.response.is_some()));
    assert!(r.chain[2].response.as_deref().unwrap_or_default().contains("Registrar: Example Registrar, LLC"));
    // The query line is the name and CRLF; each server was asked once (the registrar naming itself is no referral).
    assert_eq!(world.root.queries(), ["example.com\r\n"]);
    assert_eq!(world.verisign.queries(), ["example.com\r\n"]);
    assert_eq!(world.registrar.queries(), ["example.com\r\n"]);
    assert!(r.unfollowed_referrals.is_empty());

    assert!(r.found);
    assert_eq!(r.target, "example.com");
    assert_eq!(r.domain.as_deref(), Some("example.com"));
    // The registrar's values win over the registry's.
    assert_eq!(r.registrar.as_deref(), Some("Example Registrar, LLC"));
    assert_eq!(r.registrar_iana_id, Some(376));
    assert_eq!(r.created_at.as_deref(), Some("1995-08-14T00:00:00Z"));
    assert_eq!(r.updated_at.as_deref(), Some("2024-08-14T07:01:34Z"));
    assert_eq!(r.expires_at, Some(world.expiry.format("%Y-%m-%dT%H:%M:%SZ").to_string()));
    let days = r.days_until_expiry.expect("days until expiry");
    assert!((after..=before).contains(&days), "{days} not in {after}..={before}");
    assert_eq!(r.name_servers, ["ns1.example-dns.net", "ns2.example-dns.net"]);
    assert_eq!(
        r.status,
        ["clientTransferProhibited", "clientUpdateProhibited", "clientDeleteProhibited", "clientRenewProhibited"]
    );
    assert_eq!(r.registrant_organization.as_deref(), Some("Example Holdings Ltd"));
    assert_eq!(r.registrant_country.as_deref(), Some("CA"));
    assert_eq!(r.dnssec, Some(true));
    assert_eq!(r.abuse_email.as_deref(), Some("abuse@registrar.test"));
    // Nothing from IANA's record of the TLD (its `created: 1985-01-01`, its name servers) leaks in,
    // and no network field is set for a domain.
    assert!(r.net_range.is_none() && r.cidr.is_empty() && r.asn.is_none() && r.rir.is_none());
}

#[tokio::test]
async fn the_json_uses_the_documented_camel_case_keys() {
    let world = World::start().await;
    let target = Target::parse(ToolKey::Whois, "example.com").expect("target");
    let v =
        toolbox(world.config()).run(ToolKey::Whois, &target, &RunOptions::default(), &NoProgress).await.expect("run");
    assert_eq!(v["targetType"], "domain");
    assert_eq!(v["registrarIanaId"], 376);
    assert!(v["daysUntilExpiry"].as_i64().is_some_and(|d| d > 390), "{}", v["daysUntilExpiry"]);
    assert_eq!(v["nameServers"][0], "ns1.example-dns.net");
    assert_eq!(v["chain"][0]["via"], "root");
    assert_eq!(v["chain"][1]["server"], "whois.verisign-grs.com:43");
    assert!(v["chain"][1]["error"].is_null());
    assert!(v["netRange"].is_null() && v["registrantCountry"] == "CA");
    let schema = ToolKey::Whois.result_schema();
    for key in ["daysUntilExpiry", "expiresAt", "nameServers", "netRange", "chain", "unfollowedReferrals"] {
        assert!(schema["properties"][key].is_object(), "schema lacks {key}");
    }
}

#[tokio::test]
async fn a_url_or_mail_address_finds_its_registered_domain() {
    let world = World::start().await;
    let r = lookup(world.config(), "https://www.example.com/login").await.expect("lookup");
    assert_eq!(r.target, "www.example.com");
    assert_eq!(queries(&r), ["www.example.com", "www.example.com", "example.com", "example.com"]);
    assert_eq!(
        r.chain.iter().map(|h| h.via).collect::<Vec<_>>(),
        [WhoisVia::Root, WhoisVia::Referral, WhoisVia::ParentDomain, WhoisVia::Referral]
    );
    assert!(r.chain[1].response.as_deref().unwrap_or_default().starts_with("No match for \"WWW.EXAMPLE.COM\""));
    assert!(r.found);
    assert_eq!(r.domain.as_deref(), Some("example.com"));
    assert_eq!(r.registrar.as_deref(), Some("Example Registrar, LLC"));

    let r = lookup(world.config(), "Alice@Example.com").await.expect("lookup");
    assert_eq!((r.target.as_str(), r.found, r.chain.len()), ("example.com", true, 3));
}

#[tokio::test]
async fn an_unregistered_name_is_not_found() {
    let world = World::start().await;
    let r = lookup(world.config(), "nope.com").await.expect("lookup");
    assert!(!r.found);
    assert_eq!(r.chain.len(), 2);
    assert!(r.chain[1].error.is_none());
    assert!(r.chain[1].response.as_deref().unwrap_or_default().starts_with("No match for \"NOPE.COM\"."));
    assert!(r.domain.is_none() && r.registrar.is_none() && r.expires_at.is_none() && r.days_until_expiry.is_none());
    assert!(r.name_servers.is_empty() && r.status.is_empty());
    assert!(r.created_at.is_none(), "IANA's record of .com is not the domain's: {:?}", r.created_at);

    // Parent names are tried down to the registrable level, no further.
    let r = lookup(world.config(), "www.nope.com").await.expect("lookup");
    assert!(!r.found);
    assert_eq!(queries(&r), ["www.nope.com", "www.nope.com", "nope.com"]);

    // A TLD the root does not know: the root's own "0 objects" answer.
    let r = lookup(world.config(), "example.zz").await.expect("lookup");
    assert!(!r.found);
    assert_eq!(r.chain.len(), 1);
}

#[tokio::test]
async fn an_expired_domain_has_negative_days() {
    let world = World::start().await;
    let before = days_until(world.expired);
    let r = lookup(world.config(), "expired.com").await.expect("lookup");
    let after = days_until(world.expired);
    assert_eq!(r.chain.len(), 2, "an empty `Registrar WHOIS Server:` is no referral");
    assert_eq!(r.expires_at, Some(world.expired.format("%Y-%m-%dT00:00:00Z").to_string()));
    let days = r.days_until_expiry.expect("days");
    assert!(days < 0 && (after..=before).contains(&days), "{days} not in {after}..={before}");
    assert_eq!(r.registrar.as_deref(), Some("Example Registrar, Inc."));
    assert_eq!(r.dnssec, Some(false));
}

#[tokio::test]
async fn an_ip_goes_from_arin_to_ripe() {
    let world = World::start().await;
    let r = lookup(world.config(), "193.0.6.139").await.expect("lookup");
    let root = world.root.addr.to_string();
    assert_eq!(servers(&r), [root.as_str(), "whois.arin.net:43", "whois.ripe.test:43"]);
    assert_eq!(queries(&r), ["193.0.6.139", "n + 193.0.6.139", "193.0.6.139"]);
    assert_eq!(world.arin.queries(), ["n + 193.0.6.139\r\n"]);
    assert!(r.found);
    assert_eq!(r.target, "193.0.6.139");
    // RIPE's assignment, not ARIN's covering /8 nor IANA's.
    assert_eq!(r.net_range.as_deref(), Some("193.0.0.0 - 193.0.7.255"));
    assert_eq!(r.cidr, ["193.0.0.0/21"]);
    assert_eq!(r.net_name.as_deref(), Some("RIPE-NCC"));
    assert_eq!(r.organization.as_deref(), Some("Reseaux IP Europeens Network Coordination Centre (RIPE NCC)"));
    assert_eq!(r.country.as_deref(), Some("NL"));
    assert_eq!(r.asn.as_deref(), Some("AS3333"));
    assert_eq!(r.rir.as_deref(), Some("RIPE"));
    assert_eq!(r.abuse_email.as_deref(), Some("abuse@ripe.net"));
    assert_eq!(r.created_at.as_deref(), Some("2003-03-17T12:15:57Z"));
    assert_eq!(r.updated_at.as_deref(), Some("2017-12-04T14:42:31Z"));
    assert!(r.registrar.is_none() && r.expires_at.is_none() && r.name_servers.is_empty());
}

#[tokio::test]
async fn an_rwhois_referral_is_recorded_not_followed() {
    let world = World::start().await;
    let r = lookup(world.config(), "198.51.100.7").await.expect("lookup");
    assert_eq!(r.chain.len(), 2);
    assert_eq!(r.unfollowed_referrals.len(), 1);
    let u = &r.unfollowed_referrals[0];
    assert_eq!(u.from, "whois.arin.net:43");
    assert_eq!(u.referral, "rwhois://rwhois.example-hosting.test:4321");
    assert!(u.reason.contains("RWhois"), "{}", u.reason);
    assert!(r.found);
    assert_eq!(r.net_range.as_deref(), Some("198.51.100.0 - 198.51.100.255"));
    assert_eq!(r.cidr, ["198.51.100.0/24"]);
    assert_eq!(r.net_name.as_deref(), Some("EXAMPLE-HOSTING-1"));
    assert_eq!(r.organization.as_deref(), Some("Example Hosting Inc."));
    assert_eq!(r.country.as_deref(), Some("US"));
    assert_eq!(r.asn.as_deref(), Some("AS64500"));
    assert_eq!(r.rir.as_deref(), Some("ARIN"));
    assert_eq!(r.abuse_email.as_deref(), Some("abuse@example-hosting.test"));

    let r = lookup(world.config(), "203.0.113.9").await.expect("lookup");
    assert!(!r.found, "ARIN's \"No match found\" is the answer, not IANA's block");
    assert_eq!(queries(&r), ["203.0.113.9", "n + 203.0.113.9"]);
    assert!(r.net_range.is_none() && r.organization.is_none() && r.rir.is_none(), "{:?}", r.net_range);

    // With ARIN unreachable, IANA's block is all there is, and it is reported.
    let mut config = world.config();
    config.whois.addresses.insert("whois.arin.net".into(), format!("127.0.0.1:{}", world.closed));
    let r = lookup(config, "193.0.6.139").await.expect("lookup");
    assert!(r.chain[1].error.is_some());
    assert!(r.found);
    assert_eq!(r.net_range.as_deref(), Some("193.0.0.0 - 193.255.255.255"));
    assert_eq!(r.cidr, ["193.0.0.0/8"]);
    assert_eq!(r.organization.as_deref(), Some("Administered by ARIN"));
}

#[tokio::test]
async fn as_numbers_at_arin_and_ripe() {
    let world = World::start().await;
    let r = lookup(world.config(), "AS15169").await.expect("lookup");
    assert_eq!(queries(&r), ["AS15169", "a + 15169"]);
    assert!(r.found);
    assert_eq!(r.target, "AS15169");
    assert_eq!(r.asn.as_deref(), Some("AS15169"));
    assert_eq!(r.as_name.as_deref(), Some("GOOGLE"));
    assert_eq!(r.organization.as_deref(), Some("Google LLC"));
    assert_eq!(r.country.as_deref(), Some("US"));
    assert_eq!(r.rir.as_deref(), Some("ARIN"));
    assert_eq!(r.created_at.as_deref(), Some("2000-03-30T00:00:00Z"));
    assert_eq!(r.abuse_email.as_deref(), Some("network-abuse@google.com"));
    assert!(r.net_range.is_none());

    // IANA's block names its registry with `whois:` only.
    let r = lookup(world.config(), "as3333").await.expect("lookup");
    assert_eq!(servers(&r)[1], "whois.ripe.net:43");
    assert_eq!(queries(&r), ["AS3333", "AS3333"]);
    assert!(r.found);
    assert_eq!(r.asn.as_deref(), Some("AS3333"));
    assert_eq!(r.as_name.as_deref(), Some("RIPE-NCC-AS"));
    assert_eq!(r.organization.as_deref(), Some("Reseaux IP Europeens Network Coordination Centre (RIPE NCC)"));
    assert_eq!(r.country.as_deref(), Some("NL"));
    assert_eq!(r.rir.as_deref(), Some("RIPE"));
    assert_eq!(r.abuse_email.as_deref(), Some("abuse@ripe.net"));
}

#[tokio::test]
async fn a_referral_to_loopback_is_refused_without_allow_private_targets() {
    let world = World::start().await;
    // Every server is on 127.0.0.1. The root is operator configuration and is used; the registry it refers
    // to (pinned to 127.0.0.1) comes from an answer and is refused, so it never receives a query.
    let mut strict = world.config();
    strict.allow_private_targets = false;
    let r = lookup(strict.clone(), "example.com").await.expect("lookup");
    assert_eq!(world.root.queries(), ["example.com\r\n"]);
    assert_eq!(r.chain.len(), 2);
    assert!(r.chain[0].error.is_none() && r.chain[0].response.is_some());
    let refused = &r.chain[1];
    assert_eq!(refused.server, "whois.verisign-grs.com:43");
    assert_eq!(refused.address, None);
    assert!(refused.response.is_none());
    let error = refused.error.as_deref().unwrap_or_default();
    assert!(error.contains("refused by the egress policy"), "{error}");
    assert!(error.contains("127.0.0.1 is a loopback address"), "{error}");
    assert!(world.verisign.queries().is_empty());
    assert!(!r.found);
    assert!(r.registrar.is_none() && r.created_at.is_none());

    // A `servers` entry is operator configuration too: the registry is asked, its referral is refused.
    strict.whois.servers.insert("com".into(), world.verisign.addr.to_string());
    let r = lookup(strict, "example.com").await.expect("lookup");
    assert_eq!(r.chain.iter().map(|h| h.via).collect::<Vec<_>>(), [WhoisVia::Configured, WhoisVia::Referral]);
    assert_eq!(world.verisign.queries().len(), 1);
    assert!(r.chain[1].error.as_deref().unwrap_or_default().contains("refused by the egress policy"));
    assert!(world.registrar.queries().is_empty());
    assert!(r.found);
    assert_eq!(r.registrar.as_deref(), Some("Example Registrar, Inc."));

    // The same referral with loopback allowed is followed.
    let r = lookup(world.config(), "example.com").await.expect("lookup");
    assert_eq!(r.chain.len(), 3);
    assert_eq!(world.verisign.queries().len(), 2);
}

#[tokio::test]
async fn a_configured_server_replaces_the_root() {
    let world = World::start().await;
    let mut config = world.config();
    config.whois.servers.insert("com".into(), world.verisign.addr.to_string());
    config.whois.servers.insert("ip".into(), world.ripe.addr.to_string());
    let r = lookup(config.clone(), "example.com").await.expect("lookup");
    assert!(world.root.queries().is_empty());
    assert_eq!(r.chain[0].via, WhoisVia::Configured);
    assert_eq!(r.chain.len(), 2);
    assert!(r.found);
    let r = lookup(config, "193.0.6.139").await.expect("lookup");
    assert_eq!(queries(&r), ["193.0.6.139"]);
    assert_eq!(r.net_name.as_deref(), Some("RIPE-NCC"));
}

#[tokio::test]
async fn a_failed_referral_keeps_what_the_registry_said() {
    let world = World::start().await;
    let r = lookup(world.config(), "down.com").await.expect("lookup");
    assert_eq!(r.chain.len(), 3);
    let error = r.chain[2].error.as_deref().unwrap_or_default();
    assert!(error.contains(&format!("connecting to 127.0.0.1:{}", world.closed)), "{error}");
    assert!(r.found);
    assert_eq!(r.registrar.as_deref(), Some("Example Registrar, Inc."));
    assert_eq!(r.expires_at.as_deref(), Some("2030-08-13T04:00:00Z"));
    assert_eq!(r.name_servers, ["a.iana-servers.net", "b.iana-servers.net"]);
}

#[tokio::test]
async fn a_silent_referral_times_out_into_its_chain_entry() {
    let world = World::start().await;
    let mut config = world.config();
    config.whois.read_timeout_ms = 400;
    let r = lookup(config, "slow.com").await.expect("lookup");
    assert_eq!(r.chain.len(), 3);
    assert_eq!(world.slow.queries(), ["slow.com\r\n"]);
    assert_eq!(r.chain[2].error.as_deref(), Some("no complete answer within 400 ms (0 bytes received)"));
    assert!(r.chain[2].response.is_none());
    assert!(r.found);
    assert_eq!(r.registrar.as_deref(), Some("Example Registrar, Inc."));
}

#[tokio::test]
async fn an_oversized_answer_is_cut_at_the_cap() {
    let world = World::start().await;
    let mut config = world.config();
    config.whois.max_response_bytes = 4096;
    let r = lookup(config, "big.com").await.expect("lookup");
    assert_eq!(r.chain.len(), 3);
    let big = &r.chain[2];
    assert!(big.truncated);
    assert!(big.error.is_none());
    assert_eq!(big.response.as_deref().map(str::len), Some(4096));
    assert!(r.chain[..2].iter().all(|h| !h.truncated));
    // What was read is still parsed.
    assert_eq!(r.registrar.as_deref(), Some("Big Registrar, Inc."));
}

#[tokio::test]
async fn a_referral_loop_stops_at_the_first_repeat() {
    let world = World::start().await;
    let r = lookup(world.config(), "ring.loop").await.expect("lookup");
    assert_eq!(servers(&r)[1..], ["whois.loop-a.test:43", "whois.loop-b.test:43"]);
    assert_eq!(world.loop_a.queries().len(), 1);
    assert_eq!(r.unfollowed_referrals.len(), 1);
    let u = &r.unfollowed_referrals[0];
    assert_eq!((u.from.as_str(), u.referral.as_str()), ("whois.loop-b.test:43", "whois.loop-a.test"));
    assert_eq!(u.reason, "whois.loop-a.test:43 was already asked");
    assert_eq!(r.domain.as_deref(), Some("ring.loop"));
    assert!(r.found);
}

#[tokio::test]
async fn referrals_stop_at_max_referrals() {
    let world = World::start().await;
    let mut config = world.config();
    config.whois.max_referrals = 1;
    let r = lookup(config, "example.com").await.expect("lookup");
    assert_eq!(r.chain.len(), 2);
    assert!(world.registrar.queries().is_empty());
    let u = &r.unfollowed_referrals[0];
    assert_eq!((u.from.as_str(), u.referral.as_str()), ("whois.verisign-grs.com:43", "whois.registrar.test"));
    assert!(u.reason.contains("max_referrals = 1"), "{}", u.reason);
    assert_eq!(r.registrar.as_deref(), Some("Example Registrar, Inc."));
    assert_eq!(r.expires_at.as_deref(), Some("2030-08-13T04:00:00Z"));
}

#[tokio::test]
async fn an_unreachable_or_silent_root_fails_the_run() {
    let world = World::start().await;
    let mut config = world.config();
    config.whois.root_server = format!("127.0.0.1:{}", world.closed);
    let err = lookup(config, "example.com").await.expect_err("no root");
    let message = err.to_string();
    assert!(matches!(err, ToolError::Failed(_)), "{err:?}");
    assert!(err.is_retryable());
    assert!(
        message.starts_with(&format!(
            "WHOIS server 127.0.0.1:{0} gave no answer: connecting to 127.0.0.1:{0}:",
            world.closed
        )),
        "{message}"
    );

    let mut config = world.config();
    config.whois.root_server = world.slow.addr.to_string();
    config.whois.read_timeout_ms = 400;
    let err = lookup(config, "example.com").await.expect_err("silent root");
    assert!(matches!(err, ToolError::Failed(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        format!("WHOIS server {} gave no answer: no complete answer within 400 ms (0 bytes received)", world.slow.addr)
    );
}

#[tokio::test]
async fn invalid_configuration_names_the_key() {
    let world = World::start().await;
    let mut config = world.config();
    config.whois.addresses.insert("whois.bad.test".into(), "not-an-address".into());
    let err = lookup(config, "example.com").await.expect_err("bad pin");
    assert!(
        matches!(&err, ToolError::InvalidInput(m) if m.contains("tools.whois.addresses.\"whois.bad.test\"")),
        "{err}"
    );
    let mut config = world.config();
    config.whois.root_server = "whois.iana.org:http".into();
    let err = lookup(config, "example.com").await.expect_err("bad root");
    assert!(matches!(&err, ToolError::InvalidInput(m) if m.starts_with("tools.whois.root_server")), "{err}");
}
