//! `rewrite` against the real CoreDNS 1.14.7: the same Corefile (rewrite rules in front of
//! `forward` to Knot on loopback), the same questions asked with dig, the whole answers
//! compared (header, question section as the client sees it, every section); and kdns alone
//! rewriting names into the cluster zone of the example manifests.
mod common;

use common::coredns::CoreDns;
use common::knot::{example_zone, root_zone, Knot};
use common::{dig, fixture, records, status, Kdns};

/// The zone Knot serves besides `example.test`: SRV, MX and PTR-like values that point into
/// `example.test` (for `answer value`).
fn more_records() -> String {
    format!(
        "{}_http._tcp IN SRV 0 0 80 www.example.test.\nmail IN MX 10 www.example.test.\nshort IN A 192.0.2.30\nshort IN TXT \"t\"\n",
        example_zone()
    )
}

/// Every rule kind kdns implements, each matching its own names.
const RULES: &str = r#" rewrite name www.alias.test www.example.test
 rewrite stop {
  name regex (.*)\.cluster\.example\.com {1}.example.test
  answer name (.*)\.example\.test {1}.cluster.example.com
 }
 rewrite name regex (.*)\.auto\.test {1}.example.test answer auto answer value (.*)\.example\.test {1}.value.test
 rewrite name suffix .corp.internal .example.test answer auto
 rewrite name prefix v4 www
 rewrite name regex (.*)\.bad\.test {1}{1}{1}{1}.example.test
 rewrite continue name substring .sub. .
 rewrite type SPF A
 rewrite continue ttl regex ^short\. 7
 rewrite ttl suffix example.test 30-60
"#;

fn corefile(listen: &str, up: std::net::SocketAddr) -> String {
    format!("{listen} {{\n bind 127.0.0.1\n{RULES} forward . {up}\n}}\n")
}

/// A dig answer without what differs between two servers by nature (ID, timing, server
/// address, size), each section's records in a fixed order.
fn comparable(out: &str) -> Vec<String> {
    let mut v = Vec::new();
    for block in out.split("\n\n") {
        let mut lines: Vec<String> = block
            .lines()
            .filter(|l| {
                !l.is_empty()
                    && ![
                        ";; Query time",
                        ";; SERVER",
                        ";; WHEN",
                        ";; MSG SIZE",
                        "; <<>>",
                        ";; global",
                        ";; Got answer",
                    ]
                    .iter()
                    .any(|p| l.starts_with(p))
            })
            // kdns's `forward` sets RA on relayed answers, CoreDNS copies the upstream's
            // (Knot, authoritative, sends none): a `forward` difference, not `rewrite`'s.
            .filter(|l| !l.starts_with(";; WARNING: recursion requested"))
            .map(|l| {
                let l = l.split_whitespace().collect::<Vec<_>>().join(" ");
                let l = match l.strip_prefix(";; flags: ") {
                    Some(f) => format!(
                        ";; flags: {}",
                        f.replacen(" ra;", ";", 1).replacen(" ra ", " ", 1)
                    ),
                    None => l,
                };
                match l.find(", id: ") {
                    Some(i) => l[..i].to_string(),
                    None => l,
                }
            })
            .collect();
        if lines.first().is_some_and(|l| l.ends_with("SECTION:")) {
            lines[1..].sort();
        }
        v.extend(lines);
    }
    v
}

const QUESTIONS: &[(&str, &str)] = &[
    ("WWW.Alias.test", "A"),
    ("www.alias.test", "AAAA"),
    ("Alias.Cluster.Example.com", "A"),
    ("nope.cluster.example.com", "A"),
    ("alias.auto.test", "A"),
    ("_http._tcp.auto.test", "SRV"),
    ("mail.auto.test", "MX"),
    ("alias.corp.internal", "A"),
    ("v4.example.test", "A"),
    ("abcdefghijklmnopqrstu.bad.test", "A"),
    ("www.sub.example.test", "A"),
    ("www.example.test", "SPF"),
    ("short.example.test", "TXT"),
    ("www.example.test", "A"),
    ("alias.example.test", "A"),
];

#[test]
#[ignore = "needs CoreDNS from scripts/build-tools.sh"]
fn answers_match_coredns() {
    let up = Knot::start("127.0.0.1", &[("example.test", more_records())]);
    let k = Kdns::start(&corefile(".:0", up.addr), None);
    let c = CoreDns::start(&corefile(".:{PORT}", up.addr), "www.example.test");
    let mut differ = Vec::new();
    for (name, qtype) in QUESTIONS {
        for extra in [
            &["+nocookie"][..],
            &["+noedns"][..],
            &["+tcp", "+nocookie"][..],
        ] {
            let mut args = vec![*name, *qtype];
            args.extend_from_slice(extra);
            let (ko, co) = (k.dig(&args), dig(c.addr, &args));
            assert_ne!(status(&ko), "<no status>", "{args:?}: {ko}");
            let (kc, cc) = (comparable(&ko), comparable(&co));
            if kc != cc {
                let only = |a: &[String], b: &[String]| {
                    a.iter()
                        .filter(|l| !b.contains(l))
                        .cloned()
                        .collect::<Vec<_>>()
                        .join("\n  ")
                };
                differ.push(format!(
                    "{args:?}\n kdns only:\n  {}\n coredns only:\n  {}",
                    only(&kc, &cc),
                    only(&cc, &kc)
                ));
            }
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n-----\n"));
    // The rules did rewrite: the client sees its own names, the values as the rules map them.
    let a = records(&k.dig(&["+noall", "+answer", "Alias.Cluster.Example.com", "A"]));
    assert!(
        a.iter().any(|r| r.starts_with("www.cluster.example.com. ")),
        "{a:?}"
    );
    let srv = records(&k.dig(&["+noall", "+answer", "_http._tcp.auto.test", "SRV"]));
    assert_eq!(
        srv,
        ["_http._tcp.auto.test. 300 IN SRV 0 0 80 www.value.test."]
    );
    let bad = k.dig(&["abcdefghijklmnopqrstu.bad.test", "A"]);
    assert_eq!(status(&bad), "SERVFAIL", "{bad}");
}

#[test]
fn names_rewritten_into_the_cluster_zone() {
    let core = ".:0 {\n bind 127.0.0.1\n rewrite name regex (.*)\\.shop\\.example\\.com {1}.shop.svc.cluster.local answer auto answer value (.*)\\.shop\\.svc\\.cluster\\.local\\. {1}.shop.example.com\n rewrite name db.example.com db.shop.svc.cluster.local\n kubernetes cluster.local {\n  manifests {DIR}/manifests\n }\n}\n";
    let k = Kdns::start(core, Some(&fixture("cluster")));
    let web = k.dig(&["Web.Shop.Example.com", "A"]);
    assert_eq!(status(&web), "NOERROR", "{web}");
    assert!(
        web.contains(";Web.Shop.Example.com.\t\tIN\tA"),
        "the client's own question: {web}"
    );
    let a = records(&k.dig(&["+noall", "+answer", "web.shop.example.com", "A"]));
    assert_eq!(a, ["web.shop.example.com. 5 IN A 10.96.0.20"]);
    let srv = records(&k.dig(&[
        "+noall",
        "+answer",
        "_http._tcp.web.shop.example.com",
        "SRV",
    ]));
    assert_eq!(
        srv,
        ["_http._tcp.web.shop.example.com. 5 IN SRV 0 50 80 web.shop.example.com."],
        "the SRV target maps back by the answer value rule"
    );
    let db = records(&k.dig(&["+noall", "+answer", "DB.example.com", "A"]));
    assert_eq!(db.len(), 2, "{db:?}");
    assert!(
        db.iter().all(|r| r.starts_with("db.example.com. 5 IN A ")),
        "{db:?}"
    );
    let nx = k.dig(&["nope.example.com", "A"]);
    assert_eq!(
        status(&nx),
        "SERVFAIL",
        "no rule matched, kubernetes passes it on, no next plugin: {nx}"
    );
}

/// What the recording upstream saw of one query: its name, whether it had an OPT record, the
/// DO bit, the options (code, data) in order.
type Seen = (String, bool, bool, Vec<(u16, Vec<u8>)>);

/// An upstream on loopback that records every query it receives and answers it with an empty
/// NOERROR (the question echoed, no OPT record), over UDP and TCP. It is the peer both servers talk to; what it
/// records is compared between kdns and the real CoreDNS.
struct Recorder {
    addr: std::net::SocketAddr,
    seen: std::sync::Arc<std::sync::Mutex<Vec<Seen>>>,
}

impl Recorder {
    fn start() -> Recorder {
        // A free UDP port whose TCP twin is free too (another test may hold it).
        let (sock, addr, tcp) = (0..100)
            .find_map(|_| {
                let sock = std::net::UdpSocket::bind("127.0.0.1:0").ok()?;
                let addr = sock.local_addr().ok()?;
                let tcp = std::net::TcpListener::bind(addr).ok()?;
                Some((sock, addr, tcp))
            })
            .expect("no port free for both UDP and TCP on 127.0.0.1");
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let s2 = seen.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok((n, from)) = sock.recv_from(&mut buf) {
                if let Some(out) = record(&buf[..n], &s2) {
                    let _ = sock.send_to(&out, from);
                }
            }
        });
        let s3 = seen.clone();
        std::thread::spawn(move || {
            for c in tcp.incoming() {
                let Ok(mut c) = c else { continue };
                let seen = s3.clone();
                std::thread::spawn(move || {
                    use std::io::{Read, Write};
                    let mut len = [0u8; 2];
                    while c.read_exact(&mut len).is_ok() {
                        let mut m = vec![0u8; usize::from(u16::from_be_bytes(len))];
                        if c.read_exact(&mut m).is_err() {
                            break;
                        }
                        if let Some(out) = record(&m, &seen) {
                            let mut framed = (out.len() as u16).to_be_bytes().to_vec();
                            framed.extend(out);
                            let _ = c.write_all(&framed);
                        }
                    }
                });
            }
        });
        Recorder { addr, seen }
    }

    /// What it saw of the queries for `name` since the last call.
    fn take(&self, name: &str) -> Vec<Seen> {
        let mut all = self.seen.lock().unwrap();
        let out = all.iter().filter(|s| s.0 == name).cloned().collect();
        all.clear();
        out
    }
}

use hickory_server::proto::op::{Message, MessageType, OpCode};

/// Records one query and makes its empty NOERROR reply.
fn record(wire: &[u8], seen: &std::sync::Mutex<Vec<Seen>>) -> Option<Vec<u8>> {
    let m = Message::from_vec(wire).ok()?;
    let q = m.queries.first()?;
    let e = m.edns.as_ref();
    let opts = e.map_or(Vec::new(), |e| {
        e.options()
            .options
            .iter()
            .map(|(c, o)| (u16::from(*c), Vec::<u8>::try_from(o).unwrap()))
            .collect()
    });
    let name = q.name().to_ascii().to_ascii_lowercase();
    let dnssec_ok = e.is_some_and(|e| e.flags().dnssec_ok);
    seen.lock()
        .unwrap()
        .push((name, e.is_some(), dnssec_ok, opts));
    let mut reply = Message::new(m.metadata.id, MessageType::Response, OpCode::Query);
    reply.metadata.recursion_desired = m.metadata.recursion_desired;
    reply.add_query(q.clone());
    reply.to_vec().ok()
}

/// `edns0` rules of every kind, chained with `continue`.
const EDNS0_RULES: &str = r#" rewrite continue edns0 local set 0xffee 0x61626364
 rewrite continue edns0 local replace 0xfff0 nothere
 rewrite continue edns0 nsid set
 rewrite continue edns0 local append 0xffef {qtype}
 rewrite continue edns0 local set 0xfff1 {protocol}
 rewrite continue edns0 local set 0xfff2 {client_ip}
 rewrite edns0 subnet set 24 56
"#;

#[test]
#[ignore = "needs CoreDNS from scripts/build-tools.sh"]
fn edns0_options_sent_upstream_match_coredns() {
    let up = Recorder::start();
    let core = |listen: &str| {
        format!(
            "{listen} {{\n bind 127.0.0.1\n{EDNS0_RULES} forward . {}\n}}\n",
            up.addr
        )
    };
    let k = Kdns::start(&core(".:0"), None);
    let c = CoreDns::start(&core(".:{PORT}"), "probe.test");
    let cases: &[&[&str]] = &[
        &["+nocookie"],
        &["+noedns"],
        &["+tcp", "+nocookie"],
        &["+nocookie", "+dnssec"],
        &["+nocookie", "+ednsopt=65518:7878"],
        &["+nocookie", "+nsid"],
        &["+nocookie", "+subnet=10.1.2.0/24"],
    ];
    let name = "q.edns.test.";
    let mut differ = Vec::new();
    for extra in cases {
        let mut args = vec![name, "TXT"];
        args.extend_from_slice(extra);
        up.take(name);
        let ko = k.dig(&args);
        let ks = up.take(name);
        let co = dig(c.addr, &args);
        let cs = up.take(name);
        assert_eq!(status(&ko), "NOERROR", "{args:?}: {ko}");
        assert_eq!(status(&co), "NOERROR", "{args:?}: {co}");
        assert_eq!(ks.len(), 1, "{args:?}: kdns asked upstream once: {ks:?}");
        assert!(!cs.is_empty(), "{args:?}: CoreDNS asked upstream");
        // The options as the rules left them: the data set, NSID, the QTYPE, the transport,
        // the client address and its /24.
        let opts = &ks[0].3;
        assert!(opts.contains(&(0xffee, b"abcd".to_vec())), "{opts:?}");
        assert!(
            opts.contains(&(0xffef, 16u16.to_be_bytes().to_vec())),
            "{opts:?}"
        );
        assert!(
            opts.contains(&(8, vec![0, 1, 24, 0, 127, 0, 0])),
            "{opts:?}"
        );
        let proto = if extra.contains(&"+tcp") {
            "tcp"
        } else {
            "udp"
        };
        assert!(opts.contains(&(0xfff1, proto.into())), "{opts:?}");
        assert!(opts.contains(&(0xfff2, vec![127, 0, 0, 1])), "{opts:?}");
        if ks[0] != cs[0] {
            differ.push(format!(
                "{args:?}\n kdns:    {:?}\n coredns: {:?}",
                ks[0], cs[0]
            ));
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n"));
}

#[test]
#[ignore = "needs CoreDNS from scripts/build-tools.sh"]
fn cname_and_rcode_rules_match_coredns() {
    // A root zone: Knot says NXDOMAIN (not REFUSED) for names outside example.test.
    let zone = format!(
        "{}legacy IN CNAME gone.example.test.\nold IN CNAME www.old.test.\n",
        root_zone()
    );
    let up = Knot::start("127.0.0.1", &[(".", zone)]);
    let rules = r#" rewrite continue edns0 local set 0xffee abcd
 rewrite continue cname exact gone.example.test www.example.test
 rewrite continue cname suffix .old.test. .example.test.
 rewrite continue rcode suffix nope.example.test NXDOMAIN REFUSED
 rewrite rcode regex ^gone\. NXDOMAIN NOERROR
"#;
    let core = |listen: &str| {
        format!(
            "{listen} {{\n bind 127.0.0.1\n{rules} forward . {}\n}}\n",
            up.addr
        )
    };
    let k = Kdns::start(&core(".:0"), None);
    let c = CoreDns::start(&core(".:{PORT}"), "www.example.test");
    let mut differ = Vec::new();
    for (name, qtype) in [
        ("legacy.example.test", "A"),
        ("legacy.example.test", "AAAA"),
        ("old.example.test", "A"),
        ("alias.example.test", "A"),
        ("x.nope.example.test", "A"),
        ("nope.example.test", "A"),
        ("gone.other.test", "A"),
        ("kept.other.test", "A"),
        ("www.example.test", "A"),
    ] {
        for extra in [&["+nocookie"][..], &["+noedns"][..]] {
            let mut args = vec![name, qtype];
            args.extend_from_slice(extra);
            // The edns0 rule gives a request without EDNS an OPT record of 4096 bytes, and the
            // response carries one; kdns advertises at most 1232 bytes, whatever was asked.
            let co = dig(c.addr, &args).replace("udp: 4096", "udp: 1232");
            let ko = k.dig(&args);
            if comparable(&ko) != comparable(&co) {
                differ.push(format!("{args:?}\n kdns:\n{ko}\n coredns:\n{co}"));
            }
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n-----\n"));
    let a = records(&k.dig(&["+noall", "+answer", "legacy.example.test", "A"]));
    assert!(
        a.contains(&"legacy.example.test. 300 IN CNAME www.example.test.".to_string())
            && a.iter().any(|r| r.starts_with("www.example.test. ")),
        "the CNAME points at the new target, its records follow: {a:?}"
    );
    let nx = k.dig(&["x.nope.example.test", "A"]);
    assert_eq!(status(&nx), "REFUSED", "{nx}");
    let gone = k.dig(&["gone.other.test", "A"]);
    assert_eq!(status(&gone), "NOERROR", "{gone}");
    let kept = k.dig(&["kept.other.test", "A"]);
    assert_eq!(status(&kept), "NXDOMAIN", "{kept}");
}
