//! `transfer`: the parse table (CoreDNS's setup_test shapes, errors at `FILE:LINE`) and the
//! serve table, bytes in and messages out through the responder (UDP, the `to` list, IXFR,
//! zones it does not have, a zone large enough for several messages).
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use hickory_server::proto::op::{Message, MessageType, OpCode, Query as WireQuery};
use hickory_server::proto::rr::rdata::SOA;
use hickory_server::proto::rr::{Name, RData, Record, RecordType};

use super::config::{Peer, TransferConfig};
use super::*;
use crate::config::{load_str, Plugin};
use crate::dns::respond::Responder;
use crate::dns::{Block, Router};
use crate::zone::model::{Namespace, Port, Service, ServiceKind};
use crate::zone::{Change, KubeOptions, Store, ZoneHandle};

fn load(corefile: &str) -> Result<TransferConfig, String> {
    let c = load_str(corefile, Path::new("Corefile"), 53).map_err(|e| e.to_string())?;
    Ok(c.blocks[0]
        .plugins
        .iter()
        .find_map(|p| match p {
            Plugin::Transfer(t) => Some((**t).clone()),
            _ => None,
        })
        .expect("a transfer directive"))
}

fn host(h: &str, port: u16) -> Peer {
    let ip = h.parse().ok();
    Peer::Host {
        host: h.into(),
        port,
        ip,
    }
}

#[test]
fn parse_table() {
    let c = load(
        "example.org:53 {\n transfer example.net Example.ORG {\n  to 1.2.3.4 5.6.7.8:1053 [1::2]:34 [fe80::1%eth0]:53\n  to 2001:db8::9\n  source 2001:db8::53\n }\n transfer example.com {\n  to * 1.2.3.4\n }\n}\n",
    )
    .unwrap();
    assert_eq!(c.xfrs.len(), 2);
    let x = &c.xfrs[0];
    assert_eq!(x.zones, ["example.net.", "example.org."]);
    let scoped = Peer::Host {
        host: "fe80::1%eth0".into(),
        port: 53,
        ip: None,
    };
    assert_eq!(
        x.to,
        [
            host("1.2.3.4", 53),
            host("5.6.7.8", 1053),
            host("1::2", 34),
            scoped,
            host("2001:db8::9", 53),
        ]
    );
    // The address alone decides; an IPv4-mapped client is its IPv4 address; a scoped address
    // matches no one (CoreDNS compares it as text with the client's address).
    let ip = |s: &str| s.parse::<std::net::IpAddr>().unwrap();
    assert!(x.to[0].allows(ip("1.2.3.4")) && x.to[0].allows(ip("::ffff:1.2.3.4")));
    assert!(!x.to[0].allows(ip("1.2.3.5")));
    assert!(x.to[2].allows(ip("1::2")) && !x.to[3].allows(ip("fe80::1")));
    assert!(Peer::Any.allows(ip("192.0.2.1")));
    let shown: Vec<String> = x.to.iter().map(ToString::to_string).collect();
    assert_eq!(shown[..3], ["1.2.3.4:53", "5.6.7.8:1053", "[1::2]:34"]);
    assert_eq!(x.source, Some("2001:db8::53".parse().unwrap()));
    assert_eq!(c.xfrs[1].to, [Peer::Any, host("1.2.3.4", 53)]);
    // Zones from the server block.
    let c =
        load("cluster.local:53 in-addr.arpa:53 {\n transfer {\n  to 10.0.0.1\n }\n}\n").unwrap();
    assert_eq!(c.xfrs[0].zones, ["cluster.local.", "in-addr.arpa."]);

    for (block, want) in [
        ("", "Corefile:2: transfer: 'to' is required"),
        (
            "to",
            "Corefile:3: transfer: to expects at least one address",
        ),
        (
            "to example.com 1.2.3.4",
            "Corefile:3: transfer: must specify an IP address: `example.com'",
        ),
        (
            "to [1::2]",
            "Corefile:3: transfer: must specify an IP address",
        ),
        ("to 1.2.3.4:x", "Corefile:3: transfer: invalid port \"x\""),
        (
            "to *\n  invalid option",
            "Corefile:4: transfer: unknown property \"invalid\"",
        ),
        (
            "to *\n  source example.org",
            "Corefile:4: transfer: invalid source address \"example.org\"",
        ),
        (
            "to *\n  source 192.0.2.53\n  source 2001:db8::53",
            "Corefile:5: transfer: source already specified",
        ),
        (
            "to *\n  source",
            "Corefile:4: transfer: source expects one address",
        ),
    ] {
        let got = load(&format!(".:53 {{\n transfer {{\n  {block}\n }}\n}}\n")).unwrap_err();
        assert!(got.starts_with(want), "{block:?}: {got}");
    }
    let got =
        load(".:53 {\n transfer {\n  to *\n }\n kubernetes\n transfer {\n }\n}\n").unwrap_err();
    assert!(
        got.starts_with("Corefile:6: transfer: 'to' is required"),
        "{got}"
    );
}

/// A zone of `n` ClusterIP services in namespace `ns`, each with one named port.
fn store(n: usize) -> Store {
    let mut st = Store::new();
    st.apply(Change::UpsertNamespace(Namespace {
        name: Arc::from("ns"),
        labels: Vec::new(),
    }));
    for i in 0..n {
        st.apply(Change::UpsertService(Service {
            namespace: Arc::from("ns"),
            name: Arc::from(format!("svc-{i:05}")),
            kind: ServiceKind::ClusterIp(vec![format!("10.96.{}.{}", i / 250, i % 250 + 1)
                .parse()
                .unwrap()]),
            external: Vec::new(),
            ports: vec![Port {
                name: Arc::from("http"),
                port: 80,
                protocol: Arc::from("TCP"),
            }],
        }));
    }
    st.set_synced(true);
    st
}

/// A responder for one block `.:53` holding `transfer` (the block's lines) and `kubernetes`
/// (cluster.local) over `st`.
fn responder(lines: &str, st: &Store) -> (Responder, u32) {
    let c = load(&format!(".:53 {{\n{lines}\n}}\n")).unwrap();
    let zone = st.snapshot();
    let serial = zone.serial;
    let k = Arc::new(Kubernetes::new(
        KubeOptions::default(),
        ZoneHandle::new(zone),
        None,
    ));
    let chain: Vec<Arc<dyn Directive>> = vec![Arc::new(Transfer::new(c, Some(k.clone()))), k];
    let mut r = Router::default();
    r.ports
        .entry(53)
        .or_default()
        .push(Arc::new(Block::new(vec![".".into()], chain)));
    (
        Responder::new(Arc::new(ArcSwap::from_pointee(r)), 53),
        serial,
    )
}

/// The question's bytes; an IXFR carries `ixfr` as the serial of its authority SOA.
fn ask(name: &str, t: RecordType, ixfr: Option<u32>) -> Vec<u8> {
    let mut m = Message::new(4242, MessageType::Query, OpCode::Query);
    m.add_query(WireQuery::query(Name::from_ascii(name).unwrap(), t));
    if let Some(serial) = ixfr {
        let n = Name::from_ascii(name).unwrap();
        let soa = SOA::new(n.clone(), n.clone(), serial, 1, 1, 1, 1);
        m.add_authority(Record::from_rdata(n, 0, RData::SOA(soa)));
    }
    m.to_vec().unwrap()
}

/// Every message of the response from `src`.
async fn messages(r: &Responder, raw: Vec<u8>, src: &str, proto: Proto) -> Vec<Message> {
    let src: SocketAddr = src.parse().unwrap();
    let (out, done) = r.respond(raw, src, src, proto).await.unwrap();
    let mut all = vec![out];
    all.extend(done.map(|mut d| d.take_more()).unwrap_or_default());
    all.iter()
        .map(|m| {
            assert!(m.len() <= 65535);
            Message::from_vec(m).unwrap()
        })
        .collect()
}

fn rcode(ms: &[Message]) -> String {
    format!("{:?}", ms[0].metadata.response_code)
}

#[tokio::test]
async fn refusals_and_what_passes_on() {
    let st = store(3);
    let (r, serial) = responder(
        " transfer {\n  to 10.0.0.1\n }\n transfer cluster.local {\n  to 127.0.0.2\n }",
        &st,
    );
    let axfr = || ask("cluster.local.", RecordType::AXFR, None);
    // UDP: REFUSED, whoever asks.
    let m = messages(&r, axfr(), "127.0.0.2:5353", Proto::Udp).await;
    assert_eq!(rcode(&m), "Refused");
    // Not in `to` of the longest matching line (cluster.local, not `.`).
    let m = messages(&r, axfr(), "10.0.0.1:5353", Proto::Tcp).await;
    assert_eq!((rcode(&m), m.len()), ("Refused".into(), 1));
    let m = messages(&r, axfr(), "127.0.0.2:5353", Proto::Tcp).await;
    assert_eq!(
        (rcode(&m), m[0].metadata.authoritative),
        ("NoError".into(), true)
    );
    // A name below the zone: not a zone kdns transfers; `kubernetes` refuses it.
    let m = messages(
        &r,
        ask("svc.cluster.local.", RecordType::AXFR, None),
        "127.0.0.2:1",
        Proto::Tcp,
    )
    .await;
    assert_eq!(rcode(&m), "Refused");
    // IXFR: the zone's serial gets the SOA alone (AA clear, as CoreDNS's reply); an IXFR
    // without an SOA gets SERVFAIL; an older serial gets the whole zone.
    let m = messages(
        &r,
        ask("cluster.local.", RecordType::IXFR, Some(serial)),
        "127.0.0.2:1",
        Proto::Tcp,
    )
    .await;
    assert_eq!(
        (m.len(), m[0].answers.len(), m[0].metadata.authoritative),
        (1, 1, false)
    );
    assert_eq!(m[0].answers[0].record_type(), RecordType::SOA);
    let m = messages(
        &r,
        ask("cluster.local.", RecordType::IXFR, None),
        "127.0.0.2:1",
        Proto::Tcp,
    )
    .await;
    assert_eq!(rcode(&m), "ServFail");
    let m = messages(
        &r,
        ask("cluster.local.", RecordType::IXFR, Some(serial - 1)),
        "127.0.0.2:1",
        Proto::Tcp,
    )
    .await;
    // SOA, 3 × (A, SRV, _http._tcp SRV), SOA.
    assert_eq!(m[0].answers.len(), 11);
    // Other questions pass on to `kubernetes`.
    let m = messages(
        &r,
        ask("svc-00001.ns.svc.cluster.local.", RecordType::A, None),
        "127.0.0.2:1",
        Proto::Udp,
    )
    .await;
    assert_eq!((rcode(&m), m[0].answers.len()), ("NoError".into(), 1));
}

#[tokio::test]
async fn a_large_zone_goes_over_several_messages() {
    let n = 2000;
    let st = store(n);
    let (r, _) = responder(" transfer {\n  to *\n }", &st);
    let m = messages(
        &r,
        ask("cluster.local.", RecordType::AXFR, None),
        "[::1]:1",
        Proto::Tcp,
    )
    .await;
    assert!(m.len() > 1, "{} messages", m.len());
    let records: Vec<&Record> = m.iter().flat_map(|m| m.answers.iter()).collect();
    assert_eq!(records.len(), 2 + 3 * n);
    assert_eq!(records[0].record_type(), RecordType::SOA);
    assert_eq!(records[records.len() - 1].record_type(), RecordType::SOA);
    for msg in &m {
        assert_eq!(msg.metadata.id, 4242);
        assert!(msg.metadata.authoritative);
        assert_eq!(msg.queries.len(), 1, "every message repeats the question");
    }
    let names: std::collections::HashSet<String> = records
        .iter()
        .filter(|r| r.record_type() == RecordType::A)
        .map(|r| r.name.to_string())
        .collect();
    assert_eq!(names.len(), n);
}

#[test]
fn split_keeps_messages_under_the_batch_size() {
    let big = |i: usize| {
        let n = Name::from_ascii(format!("{}.x.", "a".repeat(60 + i % 3))).unwrap();
        Record::from_rdata(n, 5, RData::A("10.0.0.1".parse().unwrap()))
    };
    let recs: Vec<Record> = (0..3000).map(big).collect();
    let parts = split(recs);
    assert!(parts.len() >= 3);
    assert_eq!(parts.iter().map(Vec::len).sum::<usize>(), 3000);
    for p in &parts {
        let size: usize = p.iter().map(|r| r.to_bytes().unwrap().len()).sum();
        assert!(size <= MESSAGE_BYTES, "{size}");
    }
    assert!(split(Vec::new()).is_empty());
}

/// A zone that never synced is not transferred (SERVFAIL), where CoreDNS would send it empty.
#[tokio::test]
async fn an_unsynced_zone_is_not_transferred() {
    let st = Store::new();
    let (r, _) = responder(" transfer {\n  to *\n }", &st);
    let m = messages(
        &r,
        ask("cluster.local.", RecordType::AXFR, None),
        "127.0.0.1:1",
        Proto::Tcp,
    )
    .await;
    assert_eq!(rcode(&m), "ServFail");
}
