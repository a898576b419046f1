//! The dns tool against a loopback authoritative server.

use tlink_tools::dns::{self, QueryStatus};
use tlink_tools::{ResultSchema, Target, ToolError, ToolKey, ToolsConfig};

use hickory_server::proto::op::{Message, MessageType, ResponseCode};
use hickory_server::proto::rr::rdata::{A, TXT};
use hickory_server::proto::rr::{Name, RData, Record, RecordType};

use crate::dnsserver::{self, reply};
use crate::support::{loopback_config, toolbox};

const ZONE: &str = r#"
$TTL 3600
@        IN SOA   ns1.example.test. hostmaster.example.test. 2024010101 7200 900 1209600 300
@        IN NS    ns2.example.test.
@        IN NS    ns1.example.test.
@    300 IN A     192.0.2.10
@    300 IN A     192.0.2.9
@        IN AAAA  2001:db8::10
@        IN MX    20 mx2.example.test.
@        IN MX    10 mx1.example.test.
@    600 IN TXT   "v=spf1 " "mx -all"
@        IN TXT   "hello world"
@        IN CAA   0 issue "ca.example.net"
@        IN CAA   128 iodef "mailto:security@example.test"
www  120 IN CNAME example.test.
ns1      IN A     192.0.2.53
textonly IN TXT   "only text"
"#;

async fn server() -> dnsserver::TestDns {
    dnsserver::start("example.test.", ZONE).await
}

async fn run(config: ToolsConfig, raw: &str) -> Result<dns::DnsResult, ToolError> {
    let tb = toolbox(config);
    let target = Target::parse(ToolKey::Dns, raw).expect("target");
    dns::run(&tb, &target).await
}

#[tokio::test]
async fn dns_reports_every_type_with_values_and_ttls() {
    let srv = server().await;
    let r = run(srv.config(), "example.test").await.expect("dns run");

    assert_eq!(r.name, "example.test");
    assert!(!r.nxdomain);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    // Flat lists, sorted (addresses numerically, MX by preference).
    assert_eq!(r.a, ["192.0.2.9", "192.0.2.10"]);
    assert_eq!(r.aaaa, ["2001:db8::10"]);
    assert_eq!(r.ns, ["ns1.example.test", "ns2.example.test"]);
    assert_eq!(r.mx, ["mx1.example.test", "mx2.example.test"]);
    assert_eq!(r.txt, ["hello world", "v=spf1 mx -all"], "TXT strings are joined without separator");
    assert_eq!(r.caa, ["0 issue \"ca.example.net\"", "128 iodef \"mailto:security@example.test\""]);
    assert!(r.cname.is_empty());

    // Typed records with their TTLs.
    assert!(r.records.a.iter().all(|a| a.ttl == 300), "{:?}", r.records.a);
    assert_eq!(r.records.aaaa[0].ttl, 3600);
    assert_eq!((r.records.mx[0].preference, r.records.mx[0].exchange.as_str()), (10, "mx1.example.test"));
    assert_eq!(r.records.mx[1].preference, 20);
    let spf = r.records.txt.iter().find(|t| t.text.starts_with("v=spf1")).expect("spf txt");
    assert_eq!(spf.ttl, 600);
    let soa = &r.records.soa[0];
    assert_eq!(
        (soa.mname.as_str(), soa.rname.as_str(), soa.serial, soa.refresh, soa.retry, soa.expire, soa.minimum),
        ("ns1.example.test", "hostmaster.example.test", 2024010101, 7200, 900, 1209600, 300)
    );
    let iodef = r.records.caa.iter().find(|c| c.tag == "iodef").expect("iodef");
    assert_eq!((iodef.flags, iodef.value.as_str()), (128, "mailto:security@example.test"));

    assert_eq!(r.status.a, QueryStatus::Ok);
    assert_eq!(r.status.soa, QueryStatus::Ok);
    assert_eq!(r.status.cname, QueryStatus::Nodata);

    // The JSON keys rules address.
    let v = serde_json::to_value(&r).expect("json");
    assert_eq!(v["a"][0], "192.0.2.9");
    assert_eq!(v["records"]["mx"][0]["exchange"], "mx1.example.test");
    assert_eq!(v["records"]["soa"][0]["serial"], 2024010101);
    assert_eq!(v["status"]["cname"], "nodata");
    assert_eq!(v["nxdomain"], false);
}

#[tokio::test]
async fn dns_reports_an_alias_and_its_target() {
    let srv = server().await;
    let r = run(srv.config(), "www.example.test").await.expect("dns run");
    assert_eq!(r.cname, ["example.test"]);
    assert_eq!(r.records.cname[0].ttl, 120);
    assert_eq!(r.a, ["192.0.2.9", "192.0.2.10"], "A answers follow the alias");
}

#[tokio::test]
async fn dns_looks_up_the_host_of_a_url_and_the_domain_of_an_address() {
    let srv = server().await;
    let r = run(srv.config(), "https://ns1.example.test:8443/path?q=1").await.expect("url");
    assert_eq!((r.name.as_str(), r.a.as_slice()), ("ns1.example.test", ["192.0.2.53".to_string()].as_slice()));
    let r = run(srv.config(), "Bob@Example.test").await.expect("email");
    assert_eq!(r.name, "example.test");
    assert_eq!(r.mx.len(), 2);

    let err = run(srv.config(), "http://192.0.2.1/").await.expect_err("an IP host has no records to look up");
    assert!(matches!(err, ToolError::InvalidInput(_)), "{err:?}");
}

#[tokio::test]
async fn dns_reports_a_name_that_does_not_exist() {
    let srv = server().await;
    let r = run(srv.config(), "missing.example.test").await.expect("NXDOMAIN is a result, not a failure");
    assert!(r.nxdomain);
    assert!(r.a.is_empty() && r.mx.is_empty() && r.txt.is_empty() && r.records.soa.is_empty());
    assert!(r.errors.is_empty(), "{:?}", r.errors);
    assert_eq!(r.status.a, QueryStatus::Nxdomain);
    assert_eq!(r.status.mx, QueryStatus::Nxdomain);
}

#[tokio::test]
async fn dns_tells_a_type_without_data_from_a_missing_name() {
    let srv = server().await;
    let r = run(srv.config(), "textonly.example.test").await.expect("dns run");
    assert!(!r.nxdomain);
    assert_eq!(r.txt, ["only text"]);
    assert_eq!(r.status.txt, QueryStatus::Ok);
    assert_eq!(r.status.a, QueryStatus::Nodata);
    assert_eq!(r.status.mx, QueryStatus::Nodata);
    assert!(r.a.is_empty() && r.errors.is_empty());
}

#[tokio::test]
async fn dns_fails_clearly_when_the_resolver_does_not_answer() {
    let silent = dnsserver::silent_resolver().await;
    let addr = silent.local_addr().expect("addr");
    let config = ToolsConfig { resolvers: vec![addr.to_string()], dns_timeout_ms: 150, ..loopback_config() };
    let err = run(config, "example.test").await.expect_err("no answer at all fails the run");
    let ToolError::Failed(message) = &err else { panic!("expected Failed, got {err:?}") };
    assert!(message.contains(&addr.to_string()) && message.contains("did not answer"), "{message}");
    assert!(err.is_retryable());
}

#[tokio::test]
async fn dns_fails_when_the_resolver_refuses_every_query() {
    let srv = server().await;
    assert!(srv.addr().ip().is_loopback());
    let err = run(srv.config(), "elsewhere.test").await.expect_err("the server refuses names outside its zone");
    let ToolError::Failed(message) = &err else { panic!("expected Failed, got {err:?}") };
    assert!(message.contains("REFUSED") && message.contains(&srv.resolver()), "{message}");
}

/// A record answering `query` (its first question's name).
fn record(query: &Message, data: RData) -> Record {
    Record::from_rdata(query.queries[0].name().clone(), 60, data)
}

#[tokio::test]
async fn dns_asks_again_over_tcp_when_the_udp_answer_is_truncated() {
    let texts: Vec<String> = (0..12).map(|i| format!("{i:02}-{}", "x".repeat(180))).collect();
    let tcp_texts = texts.clone();
    let resolver = dnsserver::scripted(
        |q| {
            let mut r = reply(q, ResponseCode::NoError, vec![]);
            r.metadata.truncation = q.queries[0].query_type() == RecordType::TXT;
            vec![r]
        },
        move |q| {
            let txt = tcp_texts.iter().map(|t| record(q, RData::TXT(TXT::new(vec![t.clone()])))).collect();
            reply(q, ResponseCode::NoError, txt)
        },
    )
    .await;
    let config = ToolsConfig { resolvers: vec![resolver.resolver()], ..loopback_config() };
    let r = run(config, "big.example.test").await.expect("run");
    assert_eq!(r.txt, texts, "the whole set arrives over TCP");
    assert_eq!(r.status.txt, QueryStatus::Ok);
    assert_eq!(r.status.a, QueryStatus::Nodata);
}

#[tokio::test]
async fn dns_asks_over_tcp_when_an_answer_overruns_the_payload_it_offered() {
    // A resolver that ignores the EDNS payload size: 20 TXT records (about 4 KB) in one datagram, no TC bit.
    let texts: Vec<String> = (0..20).map(|i| format!("{i:02}-{}", "y".repeat(180))).collect();
    let all = |q: &Message, texts: &[String]| {
        let txt = texts.iter().map(|t| record(q, RData::TXT(TXT::new(vec![t.clone()])))).collect();
        reply(q, ResponseCode::NoError, txt)
    };
    let (udp_texts, tcp_texts) = (texts.clone(), texts.clone());
    let resolver = dnsserver::scripted(
        move |q| match q.queries[0].query_type() {
            RecordType::TXT => vec![all(q, &udp_texts)],
            _ => vec![reply(q, ResponseCode::NoError, vec![])],
        },
        move |q| all(q, &tcp_texts),
    )
    .await;
    let config = ToolsConfig { resolvers: vec![resolver.resolver()], ..loopback_config() };
    let r = run(config, "big.example.test").await.expect("run");
    assert_eq!(r.txt, texts);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
}

#[tokio::test]
async fn dns_ignores_answers_that_do_not_match_the_question() {
    let resolver = dnsserver::scripted(
        |q| {
            let mut out = Vec::new();
            if q.queries[0].query_type() == RecordType::A {
                let forged = |m: &mut Message| {
                    m.answers = vec![record(q, RData::A(A::new(203, 0, 113, 66)))];
                };
                let mut wrong_id = reply(q, ResponseCode::NoError, vec![]);
                wrong_id.metadata.id = q.metadata.id.wrapping_add(1);
                forged(&mut wrong_id);
                let mut wrong_name = reply(q, ResponseCode::NoError, vec![]);
                wrong_name.queries[0].set_name(Name::from_ascii("other.example.test.").expect("name"));
                forged(&mut wrong_name);
                let mut not_a_response = reply(q, ResponseCode::NoError, vec![]);
                not_a_response.metadata.message_type = MessageType::Query;
                forged(&mut not_a_response);
                out.extend([wrong_id, wrong_name, not_a_response]);
                out.push(reply(q, ResponseCode::NoError, vec![record(q, RData::A(A::new(192, 0, 2, 77)))]));
            } else {
                out.push(reply(q, ResponseCode::NoError, vec![]));
            }
            out
        },
        |q| reply(q, ResponseCode::ServFail, vec![]),
    )
    .await;
    let config = ToolsConfig { resolvers: vec![resolver.resolver()], ..loopback_config() };
    let r = run(config, "example.test").await.expect("run");
    assert_eq!(r.a, ["192.0.2.77"], "only the answer with the query's ID, question and QR bit counts");
    assert!(r.errors.is_empty(), "{:?}", r.errors);
}

#[tokio::test]
async fn dns_reports_a_servfail_for_its_type_only() {
    let resolver = dnsserver::scripted(
        |q| match q.queries[0].query_type() {
            RecordType::MX => vec![reply(q, ResponseCode::ServFail, vec![])],
            RecordType::A => vec![reply(q, ResponseCode::NoError, vec![record(q, RData::A(A::new(192, 0, 2, 1)))])],
            _ => vec![reply(q, ResponseCode::NoError, vec![])],
        },
        |q| reply(q, ResponseCode::ServFail, vec![]),
    )
    .await;
    let config = ToolsConfig { resolvers: vec![resolver.resolver()], ..loopback_config() };
    let r = run(config, "example.test").await.expect("run");
    assert_eq!(r.a, ["192.0.2.1"]);
    assert_eq!(r.status.mx, QueryStatus::Error);
    let message = &r.errors["mx"];
    assert!(message.contains("SERVFAIL") && message.contains(&resolver.resolver()), "{message}");
    assert_eq!(r.errors.len(), 1, "{:?}", r.errors);
}

#[tokio::test]
async fn dns_asks_the_next_resolver_when_one_is_silent_or_refuses() {
    let srv = server().await;
    let silent = dnsserver::silent_resolver().await;
    let refusing = dnsserver::start("elsewhere.test.", ZONE).await;
    let resolvers = vec![silent.local_addr().expect("addr").to_string(), refusing.resolver(), srv.resolver()];
    let config = ToolsConfig { resolvers, dns_timeout_ms: 100, ..loopback_config() };
    let r = run(config, "example.test").await.expect("the third resolver answers");
    assert_eq!(r.a, ["192.0.2.9", "192.0.2.10"]);
    assert!(r.errors.is_empty(), "{:?}", r.errors);
}

#[tokio::test]
async fn dns_names_an_unreachable_resolver() {
    // A loopback port nobody listens on: the kernel answers with ICMP port unreachable.
    let closed = dnsserver::silent_resolver().await;
    let addr = closed.local_addr().expect("addr");
    drop(closed);
    let config = ToolsConfig { resolvers: vec![addr.to_string()], ..loopback_config() };
    let err = run(config, "example.test").await.expect_err("nobody answers");
    let ToolError::Failed(message) = &err else { panic!("expected Failed, got {err:?}") };
    // "cannot reach" comes from the refusal itself; a resolver that merely stays silent "did not answer".
    assert!(message.contains(&addr.to_string()) && message.contains("cannot reach"), "{message}");
}

#[test]
fn dns_and_email_result_schemas_list_their_fields() {
    let schema = ToolKey::Dns.result_schema();
    let props = schema["properties"].as_object().expect("dns properties");
    for key in ["name", "nxdomain", "a", "aaaa", "ns", "mx", "cname", "txt", "caa", "records", "status", "errors"] {
        assert!(props.contains_key(key), "dns schema lacks {key}: {schema}");
    }
    assert!(schema["$defs"]["DnsSoaRecord"]["properties"]["serial"].is_object(), "{schema}");

    let schema = ToolKey::Email.result_schema();
    let props = schema["properties"].as_object().expect("email properties");
    for key in
        ["domain", "hasMx", "nullMx", "mx", "hasSpf", "spf", "hasDmarc", "dmarc", "findings", "findingCodes", "hibp"]
    {
        assert!(props.contains_key(key), "email schema lacks {key}: {schema}");
    }
    let defs = &schema["$defs"];
    assert!(defs["SpfReport"]["properties"]["lookupCount"].is_object(), "{schema}");
    assert!(defs["DmarcReport"]["properties"]["policy"].is_object(), "{schema}");
    assert!(defs["HibpBreach"]["properties"]["PwnCount"].is_object(), "{schema}");
}
