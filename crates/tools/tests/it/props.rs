//! Property tests for the parsers that read what servers send — DNS answers, WHOIS answers and referrals,
//! TLS answers to the legacy probes, certificates, service banners, SPF and DMARC records — through the
//! crate's hidden `fuzzing` entry points, which drive each parser as its tool does. Fed arbitrary bytes,
//! text over each grammar's alphabet and mutated valid inputs, none may panic, and each keeps the invariants
//! the fuzz targets in `fuzz/` check for much longer.

use std::sync::LazyLock;

use chrono::DateTime;
use proptest::collection::vec;
use proptest::prelude::*;
use proptest::sample::{Index, select};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use tlink_tools::exposure::banner::{MAX_BANNER_CHARS, MAX_READ};
use tlink_tools::fuzzing;
use tlink_tools::ssl::ProbeStatus;

/// `seed` with a few random edits (insert, delete or replace a byte).
fn mutate(seed: &[u8], edits: Vec<(Index, u8, u8)>) -> Vec<u8> {
    let mut bytes = seed.to_vec();
    for (at, op, byte) in edits {
        let i = at.index(bytes.len() + 1);
        match op {
            0 => bytes.insert(i, byte),
            1 if i < bytes.len() => {
                bytes.remove(i);
            }
            _ if i < bytes.len() => bytes[i] = byte,
            _ => bytes.push(byte),
        }
    }
    bytes
}

fn edits() -> impl Strategy<Value = Vec<(Index, u8, u8)>> {
    vec((any::<Index>(), 0u8..3, any::<u8>()), 0..8)
}

fn mutated(seeds: Vec<Vec<u8>>) -> impl Strategy<Value = Vec<u8>> {
    (select(seeds), edits()).prop_map(|(seed, edits)| mutate(&seed, edits))
}

fn mutated_text(seeds: &[&str]) -> impl Strategy<Value = String> {
    mutated(seeds.iter().map(|s| s.as_bytes().to_vec()).collect())
        .prop_map(|b| String::from_utf8_lossy(&b).into_owned())
}

fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
    vec(any::<u8>(), 0..max)
}

fn lossy(max: usize) -> impl Strategy<Value = String> {
    bytes(max).prop_map(|b| String::from_utf8_lossy(&b).into_owned())
}

// DNS answers, built as a resolver sends them.

fn dns_name(text: &str) -> Vec<u8> {
    let mut out = Vec::new();
    for label in text.split('.').filter(|l| !l.is_empty()) {
        out.push(u8::try_from(label.len()).expect("short label"));
        out.extend_from_slice(label.as_bytes());
    }
    out.push(0);
    out
}

fn dns_message(qtype: u16, flags: u16, records: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let count = u16::try_from(records.len()).expect("few records");
    let mut out = Vec::new();
    for n in [0x1234, flags, 1, count, 0, 0] {
        out.extend_from_slice(&u16::to_be_bytes(n));
    }
    out.extend(dns_name("example.com"));
    out.extend_from_slice(&qtype.to_be_bytes());
    out.extend_from_slice(&1u16.to_be_bytes());
    for (rtype, rdata) in records {
        out.extend_from_slice(&[0xc0, 0x0c]);
        out.extend_from_slice(&rtype.to_be_bytes());
        out.extend_from_slice(&1u16.to_be_bytes());
        out.extend_from_slice(&300u32.to_be_bytes());
        out.extend_from_slice(&u16::try_from(rdata.len()).expect("short rdata").to_be_bytes());
        out.extend_from_slice(rdata);
    }
    out
}

static DNS_SEEDS: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
    let mut mx = 10u16.to_be_bytes().to_vec();
    mx.extend(dns_name("mail.example.com"));
    let mut soa = dns_name("ns1.example.com");
    soa.extend_from_slice(&[0xc0, 0x0c]);
    for n in [1u32, 7200, 3600, u32::MAX, 300] {
        soa.extend_from_slice(&n.to_be_bytes());
    }
    vec![
        dns_message(1, 0x8180, &[(1, vec![192, 0, 2, 1]), (1, vec![192, 0, 2, 2])]),
        dns_message(28, 0x8180, &[(28, [vec![0; 15], vec![1]].concat())]),
        dns_message(15, 0x8180, &[(15, mx), (15, vec![0, 0, 0])]),
        dns_message(16, 0x8180, &[(16, b"\x0dv=spf1 -all \x0amx ip4:x".to_vec())]),
        dns_message(6, 0x8180, &[(6, soa)]),
        dns_message(257, 0x8180, &[(257, b"\x80\x05issueca.example".to_vec())]),
        dns_message(2, 0x8180, &[(2, dns_name("ns1.example.net")), (5, vec![0xc0, 0x0c])]),
        dns_message(1, 0x8183, &[]),
        dns_message(1, 0x8380, &[]),
    ]
});

// TLS answers to the legacy probes, with the weak chain of tests/fixtures/ssl.

fn tls_record(content_type: u8, body: &[u8]) -> Vec<u8> {
    let mut out = vec![content_type, 3, 1];
    out.extend_from_slice(&u16::try_from(body.len()).expect("short record").to_be_bytes());
    out.extend_from_slice(body);
    out
}

fn handshake(kind: u8, body: &[u8]) -> Vec<u8> {
    let len = u32::try_from(body.len()).expect("short message").to_be_bytes();
    [&[kind][..], &len[1..], body].concat()
}

fn server_hello(version: u16) -> Vec<u8> {
    let mut body = version.to_be_bytes().to_vec();
    body.extend_from_slice(&[0; 32]);
    body.extend_from_slice(&[0, 0xc0, 0x13, 0]);
    handshake(2, &body)
}

static CHAIN: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/ssl");
    ["leaf.pem", "intermediate.pem", "root.pem"]
        .iter()
        .map(|f| CertificateDer::from_pem_file(dir.join(f)).expect("fixture certificate").as_ref().to_vec())
        .collect()
});

static TLS_SEEDS: LazyLock<Vec<Vec<u8>>> = LazyLock::new(|| {
    let mut certs = Vec::new();
    for der in &CHAIN[..2] {
        certs.extend_from_slice(&u32::try_from(der.len()).expect("short").to_be_bytes()[1..]);
        certs.extend_from_slice(der);
    }
    let list = [&u32::try_from(certs.len()).expect("short").to_be_bytes()[1..], &certs[..]].concat();
    let answer = [server_hello(0x0301), handshake(11, &list)].concat();
    vec![
        tls_record(22, &answer),
        tls_record(22, &server_hello(0x0301)),
        tls_record(21, &[2, 40]),
        tls_record(22, &[server_hello(0x0301), handshake(14, &[])].concat()),
        b"HTTP/1.1 400 Bad Request\r\n\r\n".to_vec(),
    ]
});

const WHOIS_SEEDS: &[&str] = &[
    "Domain Name: google.com\nRegistrar WHOIS Server: whois.markmonitor.com\nUpdated Date: 2019-09-09T15:39:04+0000\n\
     Creation Date: 1997-09-15T07:00:00+0000\nRegistrar IANA ID: 292\n\
     Domain Status: clientUpdateProhibited (https://www.icann.org/epp#clientUpdateProhibited)\n\
     Name Server: ns1.google.com\nDNSSEC: unsigned\n",
    "\n    Domain name:\n        example.co.uk\n\n    Relevant dates:\n        Registered on: before Aug-1996\n\
     \x20       Expiry date:  19-Feb-2026\n\n    Name servers:\n        NS1.EXAMPLE.NET\n        ns2.example.net    192.0.2.53\n",
    "NetRange:       8.0.0.0 - 8.127.255.255\nCIDR:           8.0.0.0/9\n\nNetRange:       8.8.8.0 - 8.8.8.255\n\
     CIDR:           8.8.8.0/24\nNetName:        GOGL\nOriginAS:       AS15169\nRegDate:        2014-03-14\n\
     ReferralServer: rwhois://rwhois.example.net:4321\n",
    "% Abuse contact for '193.0.0.0 - 193.0.7.255' is 'abuse@ripe.net'\ninetnum:        193.0.0.0 - 193.0.7.255\n\
     inet6num:       2001:67c:2e8::/48\naut-num:        AS3333\nsource:         RIPE-GRS\n",
    "a. [Domain Name]                EXAMPLE.JP\n[Created on]   2001/03/22\nchanged: hostmaster@example.net 20040526\n\
     refer: whois.nic.jp\n",
];

const WHOIS_KEYS: &[&str] = &[
    "Domain Name",
    "Registrar",
    "Creation Date",
    "Registry Expiry Date",
    "Updated Date",
    "Name Server",
    "Domain Status",
    "NetRange",
    "inetnum",
    "inet6num",
    "CIDR",
    "NetName",
    "OriginAS",
    "aut-num",
    "refer",
    "ReferralServer",
    "Registrar WHOIS Server",
    "changed",
    "source",
    "country",
    "DNSSEC",
    "% Abuse contact for 'x' is",
];

/// Lines of `key: value`, with values over the characters of dates, addresses and names.
fn whois_lines() -> impl Strategy<Value = String> {
    vec((select(WHOIS_KEYS), "[ \t]{0,2}", "[0-9a-zA-Z.:/ ()+-]{0,30}"), 0..12)
        .prop_map(|lines| lines.into_iter().map(|(k, gap, v)| format!("{gap}{k}: {v}\n")).collect())
}

const BANNER_SEEDS: &[&str] = &[
    "SSH-2.0-OpenSSH_9.6p1 Ubuntu-3ubuntu13.5\r\n",
    "220-FileZilla Server 0.9.60 beta\r\n220 ready\r\n",
    "HTTP/1.1 200 OK\r\nDate: x\r\nServer: Apache/2.4.52 (Ubuntu)\r\nX: y\r\n\r\n",
    "$120\r\n# Server\r\nredis_version:7.2.4\r\n",
    "-NOAUTH Authentication required.\r\n",
    "* OK [CAPABILITY IMAP4rev1] Dovecot ready.\r\n",
    // A multi-byte character across byte 7 of a header line (a `service_banner` fuzz finding).
    "HTTP/1.1 200 OK\r\nServer\u{e9}: x\r\nServer: nginx/1.18.0\r\n\r\n",
];

const SPF_SEEDS: &[&str] = &[
    "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 a mx:mail.example.com/24//64 -ptr ~include:_spf.example.net \
     ?exists:%{i}._spf.%{d} redirect=_spf.example.org exp=explain.example.com foo=bar -all",
    "v=spf1 exists:%{ir}.%{l1r+-}._spf.%{d} ip4:192.0.2.1/033 +a:%{d2}.example",
];

const DMARC_SEEDS: &[&str] = &[
    "v=DMARC1; p=reject; rua=mailto:agg@example.com,mailto:x@example.net!10m; ruf=mailto:f@example.com; adkim=s; fo=1:d",
    "v=DMARC1; p=quarantine; sp=reject; np=none; psd=y; t=n; pct=50; ri=86400; rf=afrf",
];

fn now() -> DateTime<chrono::Utc> {
    DateTime::from_timestamp(1_750_000_000, 0).expect("a fixed time")
}

proptest! {
    #[test]
    fn dns_datagrams_never_panic(datagram in prop_oneof![bytes(512), mutated(DNS_SEEDS.clone())]) {
        if let Some(Ok(result)) = fuzzing::dns_datagram(&datagram) {
            prop_assert_eq!(result.a.len(), result.records.a.len());
            prop_assert_eq!(result.mx.len(), result.records.mx.len());
        }
    }

    #[test]
    fn whois_answers_never_panic(
        text in prop_oneof![lossy(1024), whois_lines(), mutated_text(WHOIS_SEEDS)],
        server in select(&["whois.arin.net", "whois.ripe.net", "whois.verisign-grs.com", "whois.nic.uk"][..]),
    ) {
        let _ = fuzzing::whois_answer(&text, server);
        for line in text.lines() {
            let value = line.split_once(':').map_or(line, |(_, v)| v);
            if let Some(date) = fuzzing::whois_date(value) {
                prop_assert_eq!(fuzzing::whois_date(&date), Some(date.clone()), "{:?}", value);
            }
            if let Some((range, _, size)) = fuzzing::whois_range(value) {
                let again = fuzzing::whois_range(&range).map(|(r, _, s)| (r, s));
                prop_assert_eq!(again, Some((range, size)), "{:?}", value);
            }
        }
    }

    #[test]
    fn legacy_tls_answers_never_panic(
        answer in prop_oneof![bytes(1024), mutated(TLS_SEEDS.clone())],
        offered in select(&[0x0300u16, 0x0301, 0x0302][..]),
        chunk in 1usize..600,
    ) {
        let (probe, chain) = fuzzing::tls_legacy_answer(offered, answer.chunks(chunk));
        prop_assert_ne!(probe.status, ProbeStatus::Unknown);
        let chain: Vec<Vec<u8>> = chain.iter().map(|c| c.as_ref().to_vec()).collect();
        if !chain.is_empty() {
            let _ = fuzzing::certificate_chain(&chain, now());
        }
    }

    #[test]
    fn certificates_never_panic(
        der in prop_oneof![bytes(512), mutated(CHAIN.clone())],
        first in 0usize..3,
    ) {
        let _ = fuzzing::certificate_chain(std::slice::from_ref(&der), now());
        // A valid leaf followed by a damaged certificate: the damaged one is a finding, not an error.
        let described = fuzzing::certificate_chain(&[CHAIN[first].clone(), der], now());
        prop_assert!(described.is_ok(), "{described:?}");
    }

    #[test]
    fn service_banners_never_panic(data in prop_oneof![bytes(MAX_READ), mutated(BANNER_SEEDS.iter().map(|s| s.as_bytes().to_vec()).collect())]) {
        let (grab, _) = fuzzing::service_banner(&data);
        if let Some(banner) = &grab.banner {
            prop_assert!(banner.chars().count() <= MAX_BANNER_CHARS);
        }
    }

    #[test]
    fn spf_records_never_panic(text in prop_oneof![
        lossy(256),
        "(v=spf1)?( [+~?-]?(all|a|mx|ptr|ip4|ip6|include|exists|redirect|exp|x)[:=/]{0,2}[%{}a-z0-9./:_-]{0,12}){0,6}",
        mutated_text(SPF_SEEDS),
    ]) {
        let (_, _) = fuzzing::spf_record(&text);
        let _ = fuzzing::spf_domain_spec(&text);
    }

    #[test]
    fn dmarc_records_never_panic(text in prop_oneof![
        lossy(256),
        "(v=DMARC1)?(; ?(p|sp|np|pct|rua|ruf|adkim|aspf|fo|rf|ri|psd|t|v|x)=[a-z0-9:@.!,]{0,12}){0,6}",
        mutated_text(DMARC_SEEDS),
    ]) {
        let (_, _) = fuzzing::dmarc_record(&text);
    }
}
