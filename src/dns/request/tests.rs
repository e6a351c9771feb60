//! A plain request read here against hickory's decoding of the whole message: the same
//! header, question, OPT record and question bytes; every other request left to hickory.
use std::net::{Ipv4Addr, SocketAddr};

use hickory_server::proto::op::{Edns, Message, MessageType, OpCode, Query as WireQuery};
use hickory_server::proto::rr::rdata::opt::EdnsOption;
use hickory_server::proto::rr::{DNSClass, Name, RecordType};

use super::*;

fn src() -> SocketAddr {
    SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 5353)
}

/// What the chain and the encoder see of a decoded request.
fn seen(d: &Decoded) -> String {
    let q = d.query(40, src());
    format!(
        "{:?} {:?} {} {:?} {:?} {:?} {} {:?} {:?} {:?} {:?} {:?}",
        d.head,
        q.name.to_ascii(),
        q.lower,
        q.qtype,
        q.class,
        (q.dnssec_ok, q.edns, &q.edns_options),
        d.limit,
        d.edns,
        d.question_bytes(),
        d.header_error(),
        d.queries().map(|q| q.as_bytes()),
        (
            q.recursion_desired,
            q.checking_disabled,
            q.authentic_data,
            q.ixfr_serial
        ),
    )
}

fn message(name: &str, qtype: RecordType, edns: Option<Edns>) -> Message {
    let mut m = Message::new(4242, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.metadata.checking_disabled = true;
    m.add_query(WireQuery::query(Name::from_ascii(name).unwrap(), qtype));
    if let Some(e) = edns {
        m.set_edns(e);
    }
    m
}

/// Requests a client sends: plain ones, with EDNS (options, DO, small and large sizes).
fn plain_requests() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let names = [
        "Web.Default.svc.Cluster.Local.",
        "a.",
        ".",
        "_http._tcp.x.y.",
    ];
    for (i, name) in names.iter().enumerate() {
        for qtype in [RecordType::A, RecordType::SRV, RecordType::IXFR] {
            out.push(message(name, qtype, None).to_vec().unwrap());
            let mut e = Edns::new();
            e.set_max_payload([100, 512, 1232, 4096][i]);
            e.set_dnssec_ok(i % 2 == 0);
            if i > 1 {
                e.options_mut()
                    .insert(EdnsOption::Unknown(10, vec![1, 2, 3, 4, 5, 6, 7, 8]));
            }
            out.push(message(name, qtype, Some(e)).to_vec().unwrap());
        }
    }
    // A class other than IN, an RCODE in the request.
    let mut m = message("version.bind.", RecordType::TXT, None);
    m.queries[0].set_query_class(DNSClass::CH);
    m.metadata.response_code = hickory_server::proto::op::ResponseCode::NXDomain;
    out.push(m.to_vec().unwrap());
    out
}

#[test]
fn a_plain_request_reads_as_hickory_reads_it() {
    for raw in plain_requests() {
        assert!(plain(&raw).is_some(), "plain: {raw:?}");
        let fast = decode(raw.clone(), src(), Proto::Udp)
            .ok()
            .expect("decodes");
        assert!(matches!(fast.questions, Questions::Plain { .. }));
        let req = whole(raw.clone(), src(), Proto::Udp)
            .ok()
            .expect("hickory decodes");
        let asked = req.edns.clone();
        let slow = Decoded {
            head: req.metadata,
            questions: Questions::Whole(req),
            edns: fast.edns.clone(),
            asked,
            limit: fast.limit,
            proto: Proto::Udp,
        };
        assert_eq!(seen(&fast), seen(&slow), "{raw:?}");
    }
}

#[test]
fn other_requests_are_left_to_hickory() {
    let plain_one = message("a.b.", RecordType::A, None).to_vec().unwrap();
    let mut cases: Vec<Vec<u8>> = Vec::new();
    // A name with a pointer (to itself, past the header).
    let mut ptr = plain_one.clone();
    ptr.splice(14..17, [0xC0, 12]);
    cases.push(ptr);
    // Trailing bytes, a cut question, two questions, an opcode, EDNS version 1, an answer
    // record, an additional record that is not OPT.
    let mut trailing = plain_one.clone();
    trailing.push(0);
    cases.push(trailing);
    cases.push(plain_one[..plain_one.len() - 1].to_vec());
    let mut two = message("a.b.", RecordType::A, None);
    two.add_query(WireQuery::query(
        Name::from_ascii("c.").unwrap(),
        RecordType::A,
    ));
    cases.push(two.to_vec().unwrap());
    let mut notify = message("a.b.", RecordType::SOA, None);
    notify.metadata.op_code = OpCode::Notify;
    cases.push(notify.to_vec().unwrap());
    let mut v1 = Edns::new();
    v1.set_version(1);
    cases.push(message("a.b.", RecordType::A, Some(v1)).to_vec().unwrap());
    let mut with_answer = plain_one.clone();
    with_answer[7] = 1;
    with_answer.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 10, 0, 0, 1]);
    cases.push(with_answer);
    let mut extra = plain_one.clone();
    extra[11] = 1;
    extra.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 10, 0, 0, 1]);
    cases.push(extra);
    for raw in cases {
        assert!(plain(&raw).is_none(), "not plain: {raw:?}");
        if let Ok(d) = decode(raw.clone(), src(), Proto::Udp) {
            assert!(matches!(d.questions, Questions::Whole(_)), "{raw:?}");
        }
    }
    assert!(plain(&plain_one).is_some());
}
