//! Hostile and awkward packets, sent as exact bytes over real sockets to the real `kdns`
//! binary; every reply is parsed strictly (nothing may follow the last counted record).
//!
//! - messages marked as responses (QR=1) get no reply, and are counted;
//! - a truncated UDP answer without EDNS ends at its last counted record;
//! - TC is set only when answer or authority records did not fit (RFC 2181 §9): glue that does
//!   not fit is left out quietly.
mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, UdpSocket};
use std::path::Path;
use std::time::Duration;

use common::knot::Knot;
use common::{http_get, metric, Kdns};
use hickory_server::proto::op::{Edns, Message, MessageType, OpCode, Query};
use hickory_server::proto::rr::{Name, RData, Record, RecordType};
use hickory_server::proto::serialize::binary::{BinDecodable, BinDecoder};

const COREFILE: &str = "\
cluster.local:0 in-addr.arpa:0 {
    bind 127.0.0.1
    prometheus 127.0.0.1:0
    kubernetes cluster.local in-addr.arpa {
        manifests {DIR}/manifests
    }
}
";

/// CoreDNS's `kubernetes` test fixture (`hdls1.testns`: six endpoints, two sharing a hostname).
fn start() -> Kdns {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/coredns/fixtures/serve");
    Kdns::start(COREFILE, Some(&fixture))
}

fn query(name: &str, qtype: RecordType, edns: Option<u16>) -> Message {
    let mut m = Message::new(0x4b1d, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    if let Some(size) = edns {
        let mut e = Edns::new();
        e.set_max_payload(size);
        m.set_edns(e);
    }
    m
}

/// Sends `bytes` once over UDP: the reply, or `None` after `wait`.
fn udp(addr: SocketAddr, bytes: &[u8], wait: Duration) -> Option<Vec<u8>> {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(wait)).unwrap();
    s.send_to(bytes, addr).unwrap();
    let mut buf = vec![0u8; 65535];
    let n = s.recv(&mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}

fn tcp(addr: SocketAddr, bytes: &[u8]) -> Vec<u8> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(bytes);
    s.write_all(&framed).unwrap();
    let mut len = [0u8; 2];
    s.read_exact(&mut len).unwrap();
    let mut buf = vec![0u8; usize::from(u16::from_be_bytes(len))];
    s.read_exact(&mut buf).unwrap();
    buf
}

/// Parses a whole message and fails if any byte follows its last counted record.
fn strict(bytes: &[u8]) -> Message {
    let mut d = BinDecoder::new(bytes);
    let m = Message::read(&mut d).unwrap_or_else(|e| panic!("unparsable reply: {e}"));
    assert_eq!(
        d.len(),
        0,
        "{} stray bytes after the last counted record ({} bytes in all)",
        d.len(),
        bytes.len()
    );
    m
}

fn dropped(k: &Kdns) -> f64 {
    let text = http_get(k.http_addr("/metrics"), "/metrics").1;
    metric(&text, "kdns_dns_dropped_total{reason=\"response\"}").unwrap_or(0.0)
}

#[test]
fn messages_marked_as_responses_get_no_reply_and_are_counted() {
    let k = start();
    let q = query("hdls1.testns.svc.cluster.local.", RecordType::A, None);
    let mut as_response = q.to_vec().unwrap();
    as_response[2] |= 0x80; // flags 0x8100: QR with RD
                            // A complete response (flags 0x8400: QR, AA) with an answer record.
    let mut full = Message::new(0x4b1d, MessageType::Response, OpCode::Query);
    full.metadata.authoritative = true;
    full.add_query(q.queries[0].clone());
    full.add_answer(Record::from_rdata(
        Name::from_ascii("hdls1.testns.svc.cluster.local.").unwrap(),
        5,
        RData::A("172.0.0.2".parse().unwrap()),
    ));
    let full = full.to_vec().unwrap();
    assert_eq!(full[2] & 0x80, 0x80);
    for bytes in [&as_response, &full] {
        assert_eq!(
            udp(k.addr, bytes, Duration::from_millis(500)),
            None,
            "a response was answered"
        );
    }
    // Over TCP the connection is closed without a reply.
    let mut s = TcpStream::connect(k.addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let mut framed = (as_response.len() as u16).to_be_bytes().to_vec();
    framed.extend_from_slice(&as_response);
    s.write_all(&framed).unwrap();
    let mut rest = Vec::new();
    let _ = s.read_to_end(&mut rest);
    assert!(rest.is_empty(), "TCP reply to a response: {rest:?}");
    // The same question as a query is answered: the silence above was the QR bit.
    let reply = udp(k.addr, &q.to_vec().unwrap(), Duration::from_secs(3)).expect("a reply");
    assert_eq!(strict(&reply).answers.len(), 4);
    assert_eq!(dropped(&k), 3.0, "each dropped response counted");
}

/// A headless service of `n` named endpoints with one port: its SRV answer has one glue
/// address per endpoint.
fn named_headless(dir: &Path, n: usize) {
    let mut y = String::from(
        "apiVersion: v1\nkind: Service\nmetadata: {name: named, namespace: default}\nspec:\n  clusterIP: None\n  ports: [{name: http, port: 80}]\n---\n\
         apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: named-1\n  namespace: default\n  labels: {kubernetes.io/service-name: named}\naddressType: IPv4\nports: [{name: http, port: 80, protocol: TCP}]\nendpoints:\n",
    );
    for i in 0..n {
        y.push_str(&format!(
            "  - addresses: [10.3.0.{}]\n    hostname: host-{i:02}\n",
            i + 1
        ));
    }
    std::fs::write(dir.join("named.yaml"), y).unwrap();
}

#[test]
fn tc_only_when_answers_do_not_fit_glue_is_dropped_quietly() {
    let dir = tempfile::tempdir().unwrap();
    named_headless(dir.path(), 6);
    let k = Kdns::start(COREFILE, Some(dir.path()));
    let name = "_http._tcp.named.default.svc.cluster.local.";
    let ask = query(name, RecordType::SRV, None).to_vec().unwrap();
    let whole = tcp(k.addr, &ask);
    let over_tcp = strict(&whole);
    assert_eq!(over_tcp.answers.len(), 6);
    assert_eq!(over_tcp.additionals.len(), 6);
    assert!(
        whole.len() > 512,
        "the whole answer is {} bytes",
        whole.len()
    );
    let bytes = udp(k.addr, &ask, Duration::from_secs(3)).expect("a reply");
    assert!(bytes.len() <= 512, "{} bytes without EDNS", bytes.len());
    let m = strict(&bytes);
    assert!(!m.metadata.truncation, "TC set though every answer fit");
    assert_eq!(m.answers, over_tcp.answers, "every SRV record");
    assert!(
        !m.additionals.is_empty() && m.additionals.len() < over_tcp.additionals.len(),
        "the glue that fits: {} of {}",
        m.additionals.len(),
        over_tcp.additionals.len()
    );
    for glue in &m.additionals {
        assert!(over_tcp.additionals.contains(glue), "{glue}");
    }
    // The same question from a client with room for it all gets it all (the trimmed answer
    // was not kept for it by the UDP packet cache).
    let big = udp(
        k.addr,
        &query(name, RecordType::SRV, Some(1232)).to_vec().unwrap(),
        Duration::from_secs(3),
    )
    .expect("a reply");
    assert_eq!(strict(&big).additionals.len(), 6);
    let again = strict(&udp(k.addr, &ask, Duration::from_secs(3)).expect("a reply"));
    assert_eq!(again.additionals, m.additionals);
}

/// A headless service with 150 endpoints in the manifests dir `dir`.
fn big_headless(dir: &Path) {
    let mut y = String::from(
        "apiVersion: v1\nkind: Service\nmetadata: {name: big, namespace: default}\nspec:\n  clusterIP: None\n---\n\
         apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: big-1\n  namespace: default\n  labels: {kubernetes.io/service-name: big}\naddressType: IPv4\nendpoints:\n",
    );
    for i in 0..150 {
        y.push_str(&format!("  - addresses: [10.2.0.{}]\n", i + 1));
    }
    std::fs::write(dir.join("big.yaml"), y).unwrap();
}

/// Asks `name` over UDP with each EDNS size (and without EDNS): every reply parses strictly,
/// fits, is truncated, and holds only records of the full answer over TCP.
fn truncated_replies_are_well_formed(addr: SocketAddr, name: &str) {
    let whole = strict(&tcp(
        addr,
        &query(name, RecordType::A, None).to_vec().unwrap(),
    ));
    for edns in [None, Some(512), Some(1232)] {
        let bytes = udp(
            addr,
            &query(name, RecordType::A, edns).to_vec().unwrap(),
            Duration::from_secs(3),
        )
        .expect("a reply");
        let limit = usize::from(edns.unwrap_or(512));
        assert!(bytes.len() <= limit, "{} > {limit} bytes", bytes.len());
        let m = strict(&bytes);
        assert!(m.metadata.truncation, "{name} edns={edns:?}: TC");
        assert!(!m.answers.is_empty() && m.answers.len() < whole.answers.len());
        for a in &m.answers {
            assert!(whole.answers.contains(a), "{a}");
        }
        assert_eq!(m.edns.is_some(), edns.is_some(), "OPT kept");
    }
}

#[test]
fn truncated_zone_answers_end_at_their_last_record() {
    let dir = tempfile::tempdir().unwrap();
    big_headless(dir.path());
    let k = Kdns::start(COREFILE, Some(dir.path()));
    truncated_replies_are_well_formed(k.addr, "big.default.svc.cluster.local.");
}

#[test]
fn truncated_forwarded_answers_end_at_their_last_record() {
    let up = Knot::start(
        "127.0.0.1",
        &[("example.test", common::knot::example_zone())],
    );
    let k = Kdns::start(
        &format!(".:0 {{\n bind 127.0.0.1\n forward . {}\n}}\n", up.addr),
        None,
    );
    truncated_replies_are_well_formed(k.addr, "big.example.test.");
}
