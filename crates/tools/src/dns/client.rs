//! The stub client behind record inspection (the `dns` and `email` tools): all the questions of a run go to the
//! resolver together, over one UDP socket, and each answer is taken as the resolver gave it. Nothing is cached,
//! so a monitor sees a change as soon as its resolver does. (Addresses to connect to — WHOIS servers, webhook
//! hosts — come from the caching resolver in [`super::resolve_addresses`] instead.)
//!
//! - **Spoofing.** The socket is connected to the resolver, so the kernel drops datagrams from anyone else; its
//!   port is the kernel's random ephemeral pick; every question carries its own random ID. An answer counts only
//!   when it is a response whose ID and question section match a question still waiting; anything else is
//!   ignored and the wait goes on.
//! - **Size.** Queries offer a 1,232-byte EDNS0 payload; a truncated answer is asked again over TCP.
//! - **Retries.** Questions still unanswered after `timeout` are sent again, `attempts` times in all. Questions
//!   the resolver could not answer (silence, REFUSED, SERVFAIL, an unreadable answer, unreachable) go to the next
//!   resolver; the last resolver's reason is what is reported.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use hickory_resolver::proto::op::{Edns, Message, MessageType, Query, ResponseCode};
use hickory_resolver::proto::rr::{Name, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::time::Instant;

use super::{Answer, rcode_name};

/// The EDNS0 UDP payload offered: the size DNS Flag Day 2020 settled on, which avoids IP fragmentation.
const UDP_PAYLOAD: u16 = 1232;

/// The resolvers to ask, in order, and how long to wait for each.
#[derive(Debug, Clone)]
pub(crate) struct Resolvers {
    pub servers: Vec<SocketAddr>,
    /// How long one attempt waits for its answers.
    pub timeout: Duration,
    /// Attempts per resolver (at least one).
    pub attempts: u32,
}

/// Asks every question; one [`Answer`] per question, in order.
pub(crate) async fn ask(resolvers: &Resolvers, questions: &[(Name, RecordType)]) -> Vec<Answer> {
    let mut answers: Vec<Answer> = questions
        .iter()
        .map(|_| Answer::Failed { message: "no DNS resolver is configured".into(), resolver: true })
        .collect();
    let mut open: Vec<usize> = (0..questions.len()).collect();
    for &server in &resolvers.servers {
        if open.is_empty() {
            break;
        }
        let asked: Vec<&(Name, RecordType)> = open.iter().map(|&i| &questions[i]).collect();
        let got = over_udp(resolvers, server, &asked).await;
        let mut unanswered = Vec::new();
        for (&i, answer) in open.iter().zip(got) {
            if matches!(answer, Answer::Failed { .. }) {
                unanswered.push(i);
            }
            answers[i] = answer;
        }
        open = unanswered;
    }
    answers
}

/// One question in flight.
struct Pending {
    id: u16,
    query: Query,
    bytes: Vec<u8>,
    answer: Option<Answer>,
    /// Why an answer with the right ID could not be read, if one came.
    unreadable: Option<String>,
}

fn failed(message: String) -> Answer {
    Answer::Failed { message, resolver: true }
}

/// Asks `questions` of `server` over one UDP socket (TCP for truncated answers).
async fn over_udp(resolvers: &Resolvers, server: SocketAddr, questions: &[&(Name, RecordType)]) -> Vec<Answer> {
    let all_fail = |message: String| questions.iter().map(|_| failed(message.clone())).collect();
    let mut pending = match encode(questions) {
        Ok(p) => p,
        Err(e) => return all_fail(format!("encoding a query: {e}")),
    };
    let socket = match connect(server).await {
        Ok(s) => s,
        Err(e) => return all_fail(format!("cannot reach the resolver {server}: {e}")),
    };
    let mut buf = vec![0u8; usize::from(UDP_PAYLOAD) * 2];
    'attempts: for _ in 0..resolvers.attempts.max(1) {
        for p in pending.iter().filter(|p| p.answer.is_none()) {
            if let Err(e) = socket.send(&p.bytes).await {
                return all_fail(format!("cannot reach the resolver {server}: {e}"));
            }
        }
        let deadline = Instant::now() + resolvers.timeout;
        while pending.iter().any(|p| p.answer.is_none()) {
            let len = match tokio::time::timeout_at(deadline, socket.recv(&mut buf)).await {
                Err(_) => continue 'attempts,
                Ok(Err(e)) => {
                    // ICMP port unreachable arrives as a refused connection on a connected socket.
                    let message = format!("cannot reach the resolver {server}: {e}");
                    for p in pending.iter_mut().filter(|p| p.answer.is_none()) {
                        p.answer = Some(failed(message.clone()));
                    }
                    break 'attempts;
                }
                Ok(Ok(len)) => len,
            };
            let datagram = &buf[..len];
            let Some(id) = datagram.first_chunk::<2>().map(|b| u16::from_be_bytes(*b)) else { continue };
            let Some(p) = pending.iter_mut().find(|p| p.id == id && p.answer.is_none()) else { continue };
            // A datagram that fills the buffer was larger than the payload offered and was cut by the read: it
            // is not read but asked for over TCP, as a truncated answer is (the TCP answer's question is checked).
            if len == buf.len() {
                p.answer = Some(retry_over_tcp(server, p, resolvers.timeout).await);
                continue;
            }
            match read(datagram, &p.query, server) {
                Read::Other => {}
                Read::Truncated => p.answer = Some(retry_over_tcp(server, p, resolvers.timeout).await),
                Read::Answer(answer) => p.answer = Some(answer),
                Read::Unreadable(why) => p.unreadable = Some(why),
            }
        }
        break;
    }
    pending
        .into_iter()
        .map(|p| match (p.answer, p.unreadable) {
            (Some(a), _) => a,
            (None, Some(why)) => failed(format!("the resolver {server} sent an answer that cannot be read: {why}")),
            (None, None) => failed(format!("the resolver {server} did not answer within {:?}", resolvers.timeout)),
        })
        .collect()
}

/// The queries, each with an ID no other question of the run has.
fn encode(questions: &[&(Name, RecordType)]) -> Result<Vec<Pending>, String> {
    let mut out: Vec<Pending> = Vec::with_capacity(questions.len());
    for (name, rtype) in questions {
        let mut id: u16 = rand::random();
        while out.iter().any(|p| p.id == id) {
            id = rand::random();
        }
        let query = Query::query(name.clone(), *rtype);
        let mut msg = Message::query();
        msg.metadata.id = id;
        msg.metadata.recursion_desired = true;
        msg.add_query(query.clone());
        let mut edns = Edns::new();
        edns.set_max_payload(UDP_PAYLOAD);
        msg.set_edns(edns);
        let bytes = msg.to_vec().map_err(|e| e.to_string())?;
        out.push(Pending { id, query, bytes, answer: None, unreadable: None });
    }
    Ok(out)
}

/// A UDP socket on a kernel-chosen port, connected to `server`.
async fn connect(server: SocketAddr) -> std::io::Result<UdpSocket> {
    let local: SocketAddr =
        if server.is_ipv4() { (Ipv4Addr::UNSPECIFIED, 0).into() } else { (Ipv6Addr::UNSPECIFIED, 0).into() };
    let socket = UdpSocket::bind(local).await?;
    socket.connect(server).await?;
    Ok(socket)
}

/// Whether `msg` is the response to `query` (ID already matched): a response with exactly that question.
fn answers(msg: &Message, query: &Query) -> bool {
    msg.metadata.message_type == MessageType::Response && msg.queries.len() == 1 && msg.queries[0] == *query
}

/// What a datagram whose ID matched a pending question says.
enum Read {
    /// A message that is not the response to the question: ignored, the wait goes on.
    Other,
    /// The response, truncated: asked again over TCP.
    Truncated,
    Answer(Answer),
    /// Not a DNS message: remembered as the reason, should nothing better come.
    Unreadable(String),
}

/// Reads a datagram that came for `query`.
fn read(datagram: &[u8], query: &Query, server: SocketAddr) -> Read {
    match Message::from_vec(datagram) {
        Ok(msg) if !answers(&msg, query) => Read::Other,
        Ok(msg) if msg.metadata.truncation => Read::Truncated,
        Ok(msg) => Read::Answer(classify(msg, query, server)),
        Err(e) => Read::Unreadable(e.to_string()),
    }
}

/// A datagram read as the answer to the question it carries itself (any question, so that arbitrary bytes
/// get past the question check), rendered as the `dns` tool renders records: `None` when it would be ignored
/// or asked again over TCP. For the fuzz targets and property tests (`crate::fuzzing`).
pub(crate) fn read_own_question(datagram: &[u8], server: SocketAddr) -> Option<Result<super::DnsResult, String>> {
    let query = Message::from_vec(datagram)
        .ok()
        .and_then(|msg| msg.queries.first().cloned())
        .unwrap_or_else(|| Query::query(Name::root(), RecordType::A));
    match read(datagram, &query, server) {
        Read::Other | Read::Truncated => None,
        Read::Unreadable(why) => Some(Err(why)),
        Read::Answer(Answer::Records(records)) => {
            let mut out = super::DnsResult::default();
            out.add(&records);
            out.finish();
            Some(Ok(out))
        }
        Read::Answer(Answer::NxDomain) => Some(Ok(super::DnsResult { nxdomain: true, ..Default::default() })),
        Read::Answer(Answer::NoData) => Some(Ok(super::DnsResult::default())),
        Read::Answer(Answer::Failed { message, .. }) => Some(Err(message)),
    }
}

/// The answer to `p` over TCP, after a truncated one over UDP.
async fn retry_over_tcp(server: SocketAddr, p: &Pending, timeout: Duration) -> Answer {
    match over_tcp(server, p, timeout).await {
        Ok(msg) => classify(msg, &p.query, server),
        Err(e) => failed(format!("the resolver {server} answered over UDP truncated, and over TCP: {e}")),
    }
}

/// Asks `p` again over TCP (RFC 7766: two-byte length prefix).
async fn over_tcp(server: SocketAddr, p: &Pending, timeout: Duration) -> Result<Message, String> {
    let exchange = async {
        let mut stream = TcpStream::connect(server).await.map_err(|e| format!("connecting: {e}"))?;
        let len = u16::try_from(p.bytes.len()).map_err(|_| "the query is too long".to_string())?;
        let mut out = Vec::with_capacity(p.bytes.len() + 2);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(&p.bytes);
        stream.write_all(&out).await.map_err(|e| format!("sending: {e}"))?;
        let mut head = [0u8; 2];
        stream.read_exact(&mut head).await.map_err(|e| format!("reading: {e}"))?;
        let mut body = vec![0u8; usize::from(u16::from_be_bytes(head))];
        stream.read_exact(&mut body).await.map_err(|e| format!("reading: {e}"))?;
        let msg = Message::from_vec(&body).map_err(|e| format!("the answer cannot be read: {e}"))?;
        if msg.metadata.id != p.id || !answers(&msg, &p.query) {
            return Err("the answer does not match the question".to_string());
        }
        Ok(msg)
    };
    tokio::time::timeout(timeout, exchange).await.map_err(|_| format!("no answer within {timeout:?}"))?
}

/// The answer a response gives to `query`.
fn classify(msg: Message, query: &Query, server: SocketAddr) -> Answer {
    match msg.metadata.response_code {
        ResponseCode::NoError => {
            let records: Vec<Record> =
                msg.answers.into_iter().filter(|r| r.record_type() == query.query_type()).collect();
            if records.is_empty() { Answer::NoData } else { Answer::Records(records) }
        }
        ResponseCode::NXDomain => Answer::NxDomain,
        ResponseCode::Refused => failed(format!("the resolver {server} refused the query (REFUSED)")),
        code => {
            Answer::Failed { message: format!("the resolver {server} answered {}", rcode_name(code)), resolver: false }
        }
    }
}
