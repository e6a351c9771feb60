//! Exchanges with a tiny DNS responder on 127.0.0.1 (UDP and TCP on one port): answers keep
//! the query's ID, decoys are ignored, truncation leads to TCP, silence and refusal fail.
use std::net::{Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_server::proto::op::{Message, MessageType, OpCode, Query as WireQuery, ResponseCode};
use hickory_server::proto::rr::rdata::A;
use hickory_server::proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

use super::super::conn::Transport;
use super::super::error::ExchangeError;
use super::{query_wire, Upstream};
use crate::dns::{Proto, Query};

/// What the responder answers over UDP.
const UDP_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// What the responder answers over TCP.
const TCP_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 2);
/// What the decoy datagrams carry.
const DECOY_IP: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 99);
/// Asked for this name, the responder answers a question for `OTHER` instead.
const MISMATCH: &str = "mismatch.example.";
const OTHER: &str = "other.example.";

/// How the responder answers over UDP (TCP always answers `TCP_IP`).
#[derive(Clone, Copy, PartialEq)]
enum Udp {
    Answer,
    /// First a response with another ID and one to another question, then the answer.
    DecoysFirst,
    /// TC set, no records.
    Truncate,
    /// A datagram bigger than the exchange's 4096-byte buffer.
    Oversize,
    Silent,
}

/// A query the responder received.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    peer: SocketAddr,
    id: u16,
    name: Name,
    qtype: RecordType,
}

type Log = Arc<Mutex<Vec<Seen>>>;

struct Responder {
    addr: SocketAddr,
    udp: Log,
    tcp: Log,
    tasks: Vec<JoinHandle<()>>,
}

impl Responder {
    fn udp_seen(&self) -> Vec<Seen> {
        self.udp.lock().unwrap().clone()
    }
    fn tcp_seen(&self) -> Vec<Seen> {
        self.tcp.lock().unwrap().clone()
    }
}

impl Drop for Responder {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

fn name(s: &str) -> Name {
    Name::from_ascii(s).unwrap()
}

/// Logs `req` and returns its ID and the name the answer is for.
fn note(req: &Message, peer: SocketAddr, log: &Log) -> (u16, Name) {
    let q = &req.queries[0];
    log.lock().unwrap().push(Seen {
        peer,
        id: req.metadata.id,
        name: q.name().clone(),
        qtype: q.query_type(),
    });
    let answer_name = if q.name() == &name(MISMATCH) {
        name(OTHER)
    } else {
        q.name().clone()
    };
    (req.metadata.id, answer_name)
}

/// A response with `id` to `owner A`: one A record `ip`, or TC set and no record.
fn reply(id: u16, owner: &Name, ip: Option<Ipv4Addr>) -> Vec<u8> {
    let mut r = Message::new(id, MessageType::Response, OpCode::Query);
    r.metadata.recursion_desired = true;
    r.metadata.recursion_available = true;
    r.add_query(WireQuery::query(owner.clone(), RecordType::A));
    match ip {
        Some(ip) => {
            r.add_answer(Record::from_rdata(owner.clone(), 60, RData::A(A(ip))));
        }
        None => r.metadata.truncation = true,
    }
    r.to_vec().unwrap()
}

async fn serve_udp(sock: UdpSocket, mode: Udp, log: Log) {
    let mut buf = vec![0u8; 65535];
    loop {
        let Ok((n, peer)) = sock.recv_from(&mut buf).await else {
            return;
        };
        let req = Message::from_vec(&buf[..n]).unwrap();
        let (id, owner) = note(&req, peer, &log);
        let out = match mode {
            Udp::Answer => vec![reply(id, &owner, Some(UDP_IP))],
            Udp::DecoysFirst => vec![
                reply(id.wrapping_add(1), &owner, Some(DECOY_IP)),
                reply(id, &name(OTHER), Some(DECOY_IP)),
                reply(id, &owner, Some(UDP_IP)),
            ],
            Udp::Truncate => vec![reply(id, &owner, None)],
            Udp::Oversize => {
                let mut r = reply(id, &owner, Some(UDP_IP));
                r.resize(5000, 0);
                vec![r]
            }
            Udp::Silent => vec![],
        };
        for o in out {
            sock.send_to(&o, peer).await.unwrap();
        }
    }
}

async fn serve_tcp_conn(mut c: TcpStream, peer: SocketAddr, log: Log) {
    loop {
        let Ok(n) = c.read_u16().await else { return };
        let mut buf = vec![0u8; n as usize];
        if c.read_exact(&mut buf).await.is_err() {
            return;
        }
        let req = Message::from_vec(&buf).unwrap();
        let (id, owner) = note(&req, peer, &log);
        let r = reply(id, &owner, Some(TCP_IP));
        let mut out = (r.len() as u16).to_be_bytes().to_vec();
        out.extend_from_slice(&r);
        if c.write_all(&out).await.is_err() {
            return;
        }
    }
}

async fn serve_tcp(l: TcpListener, log: Log) {
    while let Ok((c, peer)) = l.accept().await {
        tokio::spawn(serve_tcp_conn(c, peer, log.clone()));
    }
}

/// A responder listening on one 127.0.0.1 port over UDP and TCP.
async fn responder(mode: Udp) -> Responder {
    for _ in 0..50 {
        let udp = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = udp.local_addr().unwrap();
        let Ok(tcp) = TcpListener::bind(addr).await else {
            continue;
        };
        let (udp_log, tcp_log) = (Log::default(), Log::default());
        let tasks = vec![
            tokio::spawn(serve_udp(udp, mode, udp_log.clone())),
            tokio::spawn(serve_tcp(tcp, tcp_log.clone())),
        ];
        return Responder {
            addr,
            udp: udp_log,
            tcp: tcp_log,
            tasks,
        };
    }
    panic!("no port free for both UDP and TCP");
}

fn upstream(addr: SocketAddr, read_timeout: Duration) -> Arc<Upstream> {
    Upstream::new(
        addr,
        Transport {
            expire: Duration::from_secs(10),
            max_idle: 0,
            read_timeout,
            source: None,
        },
    )
}

fn wire(id: u16, qname: &Name) -> Vec<u8> {
    query_wire(
        id,
        WireQuery::query(qname.clone(), RecordType::A),
        true,
        false,
        false,
        false,
        crate::dns::query::MAX_UDP_PAYLOAD,
        &[],
    )
    .unwrap()
}

fn a_records(m: &Message) -> Vec<Ipv4Addr> {
    m.answers
        .iter()
        .map(|r| match &r.data {
            RData::A(a) => a.0,
            other => panic!("not an A record: {other:?}"),
        })
        .collect()
}

async fn exchange(
    u: &Upstream,
    id: u16,
    qname: &Name,
    proto: Proto,
) -> Result<Message, ExchangeError> {
    u.exchange(&wire(id, qname), id, qname, RecordType::A, proto)
        .await
}

#[tokio::test]
async fn udp_answer_carries_the_query_id() {
    let r = responder(Udp::Answer).await;
    let u = upstream(r.addr, Duration::from_secs(2));
    let q = name("www.example.");
    let m = exchange(&u, 0x1234, &q, Proto::Udp).await.unwrap();
    assert_eq!(m.metadata.id, 0x1234);
    assert_eq!(m.metadata.message_type, MessageType::Response);
    assert_eq!(m.metadata.response_code, ResponseCode::NoError);
    assert!(!m.metadata.truncation);
    assert_eq!(m.queries[0].name(), &q);
    assert_eq!(a_records(&m), vec![UDP_IP]);

    let m = exchange(&u, 0xbeef, &q, Proto::Udp).await.unwrap();
    assert_eq!(m.metadata.id, 0xbeef);
    assert_eq!(a_records(&m), vec![UDP_IP]);

    let seen = r.udp_seen();
    let ids: Vec<u16> = seen.iter().map(|s| s.id).collect();
    assert_eq!(ids, vec![0x1234, 0xbeef], "the IDs we chose went out");
    assert!(seen.iter().all(|s| s.name == q && s.qtype == RecordType::A));
    assert_eq!(seen[0].peer, seen[1].peer, "the idle socket was reused");
    assert!(r.tcp_seen().is_empty());
    assert_eq!(u.m.legacy_requests.get(), 2);
}

#[tokio::test]
async fn udp_decoys_with_another_id_or_question_are_ignored() {
    let r = responder(Udp::DecoysFirst).await;
    let u = upstream(r.addr, Duration::from_secs(2));
    let q = name("www.example.");
    let m = exchange(&u, 7, &q, Proto::Udp).await.unwrap();
    assert_eq!(m.metadata.id, 7);
    assert_eq!(m.queries[0].name(), &q);
    assert_eq!(a_records(&m), vec![UDP_IP], "not the decoys' {DECOY_IP}");
    assert_eq!(r.udp_seen().len(), 1);
}

#[tokio::test]
async fn truncated_udp_answer_is_asked_again_over_tcp() {
    let r = responder(Udp::Truncate).await;
    let u = upstream(r.addr, Duration::from_secs(2));
    let q = name("big.example.");
    let m = exchange(&u, 0x0101, &q, Proto::Udp).await.unwrap();
    assert!(m.metadata.truncation);
    assert_eq!(m.metadata.id, 0x0101);
    assert!(m.answers.is_empty());

    let m = exchange(&u, 0x0202, &q, Proto::Tcp).await.unwrap();
    assert!(!m.metadata.truncation);
    assert_eq!(m.metadata.id, 0x0202);
    assert_eq!(a_records(&m), vec![TCP_IP]);
    let ids = |s: Vec<Seen>| s.iter().map(|s| s.id).collect::<Vec<_>>();
    assert_eq!(ids(r.udp_seen()), vec![0x0101]);
    assert_eq!(ids(r.tcp_seen()), vec![0x0202]);

    // The kept TCP connection serves the next query.
    let m = exchange(&u, 0x0303, &q, Proto::Tcp).await.unwrap();
    assert_eq!((m.metadata.id, a_records(&m)), (0x0303, vec![TCP_IP]));
    let tcp = r.tcp_seen();
    assert_eq!(tcp[0].peer, tcp[1].peer, "the idle connection was reused");
}

#[tokio::test]
async fn oversized_udp_answer_counts_as_truncated() {
    let r = responder(Udp::Oversize).await;
    let u = upstream(r.addr, Duration::from_secs(2));
    let m = exchange(&u, 99, &name("huge.example."), Proto::Udp)
        .await
        .unwrap();
    assert!(m.metadata.truncation);
    assert_eq!(m.metadata.id, 99);
    assert!(m.answers.is_empty());
}

#[tokio::test]
async fn forward_retries_a_truncated_answer_over_tcp() {
    use crate::config::{load_str, Plugin};
    let r = responder(Udp::Truncate).await;
    let text = format!(".:53 {{\n forward . {}\n}}\n", r.addr);
    let c = load_str(&text, Path::new("Corefile"), 53).unwrap();
    let forward = c.blocks[0]
        .plugins
        .iter()
        .find(|p| matches!(p, Plugin::Forward(_)));
    let Some(Plugin::Forward(cfg)) = forward else {
        panic!("no forward");
    };
    let f = super::super::Forward::new(cfg, false);
    let q = name("big.example.");
    let a = f.serve(&Query::internal(q.clone(), RecordType::A)).await;
    let a = a.expect("forward answers");
    assert_eq!(a.rcode, ResponseCode::NoError);
    let ips: Vec<Ipv4Addr> = a
        .answers
        .iter()
        .filter_map(|r| match &r.data {
            RData::A(a) => Some(a.0),
            _ => None,
        })
        .collect();
    assert_eq!(ips, vec![TCP_IP], "the answer came over TCP");
    let (udp, tcp) = (r.udp_seen(), r.tcp_seen());
    assert_eq!((udp.len(), tcp.len()), (1, 1), "once over each");
    assert_eq!((&tcp[0].name, tcp[0].qtype), (&q, RecordType::A));
}

#[tokio::test]
async fn silent_upstream_times_out() {
    let r = responder(Udp::Silent).await;
    let u = upstream(r.addr, Duration::from_millis(200));
    let t0 = Instant::now();
    let e = exchange(&u, 5, &name("www.example."), Proto::Udp)
        .await
        .unwrap_err();
    let took = t0.elapsed();
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_secs(2),
        "{took:?}"
    );
    assert!(
        matches!(e, ExchangeError::Timeout { proto: "udp", to, local: Some(_) } if to == r.addr),
        "{e:?}"
    );
    let text = e.to_string();
    assert!(text.starts_with("read udp 127.0.0.1:"), "{text}");
    assert!(
        text.ends_with(&format!("->{}: i/o timeout", r.addr)),
        "{text}"
    );
    assert_eq!(r.udp_seen().len(), 1, "the query did arrive");
    assert_eq!(u.m.legacy_requests.get(), 0, "failures are not recorded");
}

#[tokio::test]
async fn refused_tcp_is_a_dial_error() {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    drop(l);
    let u = upstream(addr, Duration::from_secs(2));
    let e = exchange(&u, 1, &name("www.example."), Proto::Tcp)
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("dial tcp {addr}: connect: connection refused")
    );
}

#[tokio::test]
async fn tcp_answer_to_another_question_is_bad() {
    let r = responder(Udp::Answer).await;
    let u = upstream(r.addr, Duration::from_secs(2));
    let e = exchange(&u, 3, &name(MISMATCH), Proto::Tcp)
        .await
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!(
            "{}: bad response: the response's question does not match",
            r.addr
        )
    );
    assert_eq!(r.tcp_seen().len(), 1);
}
