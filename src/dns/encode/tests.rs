//! The encoder against hickory's, on the same parts: the same bytes, or both refusing.
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};

use hickory_server::net::xfer::Protocol;
use hickory_server::proto::op::{Edns, Metadata, OpCode, ResponseCode};
use hickory_server::proto::rr::rdata::opt::EdnsOption;
use hickory_server::proto::rr::rdata::{A, AAAA, CNAME, NS, PTR, SOA, SRV, TXT};
use hickory_server::proto::rr::{DNSClass, Name, RData, Record};
use hickory_server::server::Request;

use super::{hickory, write, Parts};

/// hickory's bytes, `None` for its errors too.
fn theirs(req: &Request, p: &Parts<'_>) -> Option<Vec<u8>> {
    hickory(p, &req.queries).ok().flatten()
}

/// A request for `qname` (as written), with an OPT record of `payload` bytes or none.
fn request(qname: &str, qtype: u16, edns: Option<u16>) -> Request {
    let mut raw = vec![
        0x12,
        0x34,
        0x01,
        0x20,
        0,
        1,
        0,
        0,
        0,
        0,
        0,
        u8::from(edns.is_some()),
    ];
    for label in qname.trim_end_matches('.').split('.') {
        raw.push(label.len() as u8);
        raw.extend_from_slice(label.as_bytes());
    }
    raw.push(0);
    raw.extend_from_slice(&qtype.to_be_bytes());
    raw.extend_from_slice(&[0, 1]);
    if let Some(size) = edns {
        raw.extend_from_slice(&[0, 0, 41]);
        raw.extend_from_slice(&size.to_be_bytes());
        raw.extend_from_slice(&[0, 0, 0x80, 0, 0, 0]);
    }
    let src = SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 5353);
    Request::from_bytes(raw, src, Protocol::Udp).expect("a request")
}

/// xorshift64*: the same cases on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// Names that share suffixes with each other and with the question, in both cases.
const NAMES: &[&str] = &[
    "cluster.local.",
    "Cluster.Local.",
    "ns.dns.cluster.local.",
    "hostmaster.cluster.local.",
    "web.default.svc.cluster.local.",
    "Web.Default.svc.cluster.local.",
    "10-0-0-1.web.default.svc.cluster.local.",
    "_http._tcp.web.default.svc.cluster.local.",
    "default.svc.cluster.local.",
    "svc.cluster.local.",
    "local.",
    "example.com.",
    "a.b.c.d.e.f.g.h.example.com.",
    ".",
];

fn name(rng: &mut Rng) -> Name {
    let text = match rng.below(10) {
        // The longest labels, and names near 255 bytes.
        0 => format!("{}.cluster.local.", "x".repeat(63)),
        9 => format!("{0}.{0}.{0}.cluster.local.", "y".repeat(60)),
        1 => format!("h{}.default.svc.cluster.local.", rng.below(500)),
        _ => NAMES[rng.below(NAMES.len())].to_string(),
    };
    Name::from_ascii(text).expect("a name")
}

/// Record data of every kind the encoder writes (`long_text`: now and then a text over 255
/// bytes, which neither encoder writes).
fn rdata(rng: &mut Rng, long_text: bool) -> RData {
    match rng.below(8) {
        0 => RData::A(A(Ipv4Addr::from(rng.next() as u32))),
        1 => RData::AAAA(AAAA(Ipv6Addr::from(u128::from(rng.next())))),
        2 => RData::CNAME(CNAME(name(rng))),
        3 => RData::NS(NS(name(rng))),
        4 => RData::PTR(PTR(name(rng))),
        5 => RData::SOA(SOA::new(
            name(rng),
            name(rng),
            rng.next() as u32,
            7200,
            -1800,
            86400,
            5,
        )),
        6 => RData::SRV(SRV::new(0, 100, rng.below(65536) as u16, name(rng))),
        _ => {
            let len = [0, 1, 40, 255, 256][rng.below(4 + usize::from(long_text))];
            RData::TXT(TXT::new(vec!["t".repeat(len), "u".to_string()]))
        }
    }
}

fn records(rng: &mut Rng, query: &Name, most: usize, long_text: bool) -> Vec<Record> {
    (0..rng.below(most + 1))
        .map(|_| {
            let owner = if rng.below(2) == 0 {
                query.clone()
            } else {
                name(rng)
            };
            Record::from_rdata(owner, rng.below(3600) as u32, rdata(rng, long_text))
        })
        .collect()
}

fn metadata(rng: &mut Rng, req: &Request) -> Metadata {
    let mut m = Metadata::response_from_request(&req.metadata);
    m.authoritative = rng.below(2) == 0;
    m.truncation = rng.below(5) == 0;
    m.recursion_available = rng.below(2) == 0;
    m.authentic_data = rng.below(4) == 0;
    m.response_code = [
        ResponseCode::NoError,
        ResponseCode::NXDomain,
        ResponseCode::ServFail,
        ResponseCode::BADVERS,
    ][rng.below(4)];
    m
}

fn edns(rng: &mut Rng) -> Option<Edns> {
    let mut e = Edns::new();
    e.set_max_payload([0, 512, 1232, 4096][rng.below(4)]);
    e.set_version(0);
    e.set_dnssec_ok(rng.below(2) == 0);
    match rng.below(4) {
        0 => None,
        1 => {
            e.options_mut()
                .insert(EdnsOption::Unknown(15, 18u16.to_be_bytes().to_vec()));
            Some(e)
        }
        _ => Some(e),
    }
}

#[test]
fn the_bytes_are_hickorys() {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let questions = [
        "Web.Default.svc.Cluster.Local.",
        "web.default.svc.cluster.local.",
        "nope.default.svc.cluster.local.default.svc.cluster.local.",
        "cluster.local.",
        "_http._tcp.web.default.svc.cluster.local.",
    ];
    let (mut compared, mut big) = (0, 0);
    for case in 0..3000 {
        let qname = questions[case % questions.len()];
        let req = request(
            qname,
            1 + (case % 33) as u16,
            (case % 3 != 0).then_some(1232),
        );
        let query = req.queries.queries()[0].original().name().clone();
        // Now and then hundreds of records: past the 64 targets, the 120 compressed names,
        // the 16 KiB pointer range and the 64 KiB message.
        let (most, long_text) = match case % 50 {
            0 => (900, true),
            1..=4 => (300, false),
            _ => (6, true),
        };
        let sections = [
            records(&mut rng, &query, most, long_text),
            records(&mut rng, &query, most / 3, long_text),
            records(&mut rng, &query, most, long_text),
        ];
        let e = edns(&mut rng);
        let p = Parts {
            metadata: metadata(&mut rng, &req),
            question: (req.queries.as_bytes(), 1),
            sections: [&sections[0], &sections[1], &sections[2]],
            edns: e.as_ref(),
        };
        let ours = write(&p);
        assert_eq!(ours, theirs(&req, &p), "case {case}");
        compared += usize::from(ours.is_some());
        big += usize::from(ours.as_ref().is_some_and(|o| o.len() > 0x4000));
    }
    assert!(big > 100, "{big} messages past the pointer range");
    // Most cases encode (the rest hold a text over 255 bytes, or pass 64 KiB).
    assert!(compared > 1500, "{compared} of 3000 encoded");
}

#[test]
fn a_message_over_64_kib_is_left_to_hickory() {
    let req = request("big.default.svc.cluster.local.", 16, None);
    let query = req.queries.queries()[0].original().name().clone();
    let txt = RData::TXT(TXT::new(vec!["t".repeat(255); 200]));
    let recs: Vec<Record> = (0..2)
        .map(|_| Record::from_rdata(query.clone(), 5, txt.clone()))
        .collect();
    let p = Parts {
        metadata: Metadata::response_from_request(&req.metadata),
        question: (req.queries.as_bytes(), 1),
        sections: [&recs, &[], &[]],
        edns: None,
    };
    assert_eq!(write(&p), None);
    assert_eq!(theirs(&req, &p), None);
    let one = Parts {
        sections: [&recs[..1], &[], &[]],
        ..p
    };
    assert_eq!(write(&one), theirs(&req, &one));
    assert!(write(&one).is_some());
}

#[test]
fn other_record_types_and_options_are_left_to_hickory() {
    let req = request("web.default.svc.cluster.local.", 15, Some(1232));
    let query = req.queries.queries()[0].original().name().clone();
    let mx = Record::from_rdata(
        query.clone(),
        5,
        RData::MX(hickory_server::proto::rr::rdata::MX::new(10, query.clone())),
    );
    let p = Parts {
        metadata: Metadata::response_from_request(&req.metadata),
        question: (req.queries.as_bytes(), 1),
        sections: [std::slice::from_ref(&mx), &[], &[]],
        edns: None,
    };
    assert_eq!(write(&p), None);
    assert!(theirs(&req, &p).is_some());
    let mut e = Edns::new();
    e.options_mut().insert(EdnsOption::NSID(
        b"kdns".as_slice().try_into().expect("nsid"),
    ));
    let p = Parts {
        sections: [&[], &[], &[]],
        edns: Some(&e),
        ..p
    };
    assert_eq!(write(&p), None);
    // An opcode and class the zone never sees still encode the same.
    let mut m = Metadata::response_from_request(&req.metadata);
    m.op_code = OpCode::Notify;
    let ch = Record::from_rdata(query, 0, RData::TXT(TXT::new(vec!["x".into()])));
    let mut ch = ch;
    ch.dns_class = DNSClass::CH;
    let p = Parts {
        metadata: m,
        sections: [std::slice::from_ref(&ch), &[], &[]],
        edns: None,
        ..p
    };
    assert_eq!(write(&p), theirs(&req, &p));
}
