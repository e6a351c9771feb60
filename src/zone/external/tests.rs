//! Table tests of the `k8s_external` rules. The expected answers are worked out from CoreDNS
//! 1.14.7's plugin/k8s_external (external.go, apex.go, msg_to_dns.go) and the kubernetes
//! plugin's external.go and ns.go: which TTL each record takes (addresses, SOA and NS the
//! directive's; CNAME and SRV the kubernetes plugin's), the SRV weights, the owner names.
use std::sync::Arc;

use super::{serve, ExternalOptions, ExternalOutcome, Part};
use crate::zone::model::{Endpoint, External, Namespace, Port, Service, ServiceKind, Slice};
use crate::zone::options::{Fallthrough, KubeOptions};
use crate::zone::record::{qtype, Owner, RData, Record};
use crate::zone::snapshot::Zone;
use crate::zone::store::{Change, Store};

fn port(name: &str, port: i32, proto: &str) -> Port {
    Port {
        name: Arc::from(name),
        port,
        protocol: Arc::from(proto),
    }
}

fn ip(s: &str) -> External {
    External::Ip(s.parse().unwrap())
}

fn svc(name: &str, kind: ServiceKind, ports: Vec<Port>, external: Vec<External>) -> Change {
    Change::UpsertService(Service {
        namespace: Arc::from("prod"),
        name: Arc::from(name),
        kind,
        ports,
        external,
    })
}

fn endpoint(addr: &str, hostname: Option<&str>) -> Endpoint {
    Endpoint {
        ip: addr.parse().unwrap(),
        hostname: hostname.map(Arc::from),
        pod_name: None,
        zone: None,
    }
}

/// `prod` holds: `lb` (two ports; an IPv4, an IPv6 and a hostname outside), `ext` (no ports,
/// one address), `hl` (headless, two ready endpoints), `hlx` (headless with an external IP),
/// `plain` (a ClusterIP only).
fn zone(synced: bool) -> Zone {
    let mut st = Store::new();
    for ns in ["prod", "other"] {
        st.apply(Change::UpsertNamespace(Namespace {
            name: Arc::from(ns),
            labels: Vec::new(),
        }));
    }
    let cip = |s: &str| ServiceKind::ClusterIp(vec![s.parse().unwrap()]);
    let lb_ports = vec![port("http", 80, "TCP"), port("dns", 53, "UDP")];
    let lb_ext = vec![
        ip("192.0.2.1"),
        ip("2001:db8::1"),
        External::Name(Arc::from("lb.example.test")),
    ];
    st.apply(svc("lb", cip("10.0.0.1"), lb_ports, lb_ext));
    st.apply(svc("ext", cip("10.0.0.2"), vec![], vec![ip("192.0.2.9")]));
    st.apply(svc("hl", ServiceKind::Headless, vec![], vec![]));
    let hlx_ext = vec![ip("192.0.2.20")];
    st.apply(svc("hlx", ServiceKind::Headless, vec![], hlx_ext));
    st.apply(svc(
        "plain",
        cip("10.0.0.3"),
        vec![port("http", 80, "TCP")],
        vec![],
    ));
    st.apply(Change::UpsertSlice(Slice {
        namespace: Arc::from("prod"),
        name: Arc::from("hl-1"),
        service: Arc::from("hl"),
        ports: vec![port("http", 8080, "TCP")],
        endpoints: vec![endpoint("10.1.0.1", Some("h0")), endpoint("10.1.0.2", None)],
    }));
    st.set_synced(synced);
    (*st.snapshot()).clone()
}

fn opts() -> ExternalOptions {
    ExternalOptions {
        zones: vec!["example.org.".into()],
        headless: true,
        ..ExternalOptions::default()
    }
}

/// The kubernetes options: a TTL of 30 tells its records from the directive's (5).
fn kube() -> KubeOptions {
    KubeOptions {
        ttl: 30,
        local_ips: vec!["10.9.0.1".parse().unwrap()],
        ..KubeOptions::default()
    }
}

fn record(r: &Record) -> String {
    let owner = match &r.owner {
        Owner::Query => "@".to_string(),
        Owner::Name(n) => n.clone(),
    };
    let data = match &r.data {
        RData::A(a) => format!("A {a}"),
        RData::Aaaa(a) => format!("AAAA {a}"),
        RData::Cname(t) => format!("CNAME {t}"),
        RData::Ptr(t) => format!("PTR {t}"),
        RData::Ns(t) => format!("NS {t}"),
        RData::Txt(t) => format!("TXT {t}"),
        RData::Srv {
            priority,
            weight,
            port,
            target,
        } => format!("SRV {priority} {weight} {port} {target}"),
        RData::Soa(s) => format!(
            "SOA {} {} {} {} {} {} {}",
            s.mname, s.rname, s.serial, s.refresh, s.retry, s.expire, s.minimum
        ),
    };
    format!("{owner} {} {data}", r.ttl)
}

fn part(p: &Part) -> String {
    match p {
        Part::Record(r) => record(r),
        Part::Lookup(n, t) => format!("lookup {n} {t}"),
    }
}

/// The answer as text: `RCODE | answer… | authority… | additional…`, or `next`.
fn ask(o: &ExternalOptions, k: &KubeOptions, z: &Zone, name: &str, qt: u16) -> String {
    match serve(o, k, z, name, qt) {
        ExternalOutcome::Next => "next".into(),
        ExternalOutcome::Reply(r) => {
            let rc = format!(
                "{:?}",
                r.rcode.unwrap_or(crate::zone::record::Rcode::NoError)
            );
            let an: Vec<String> = r.answer.iter().map(part).collect();
            let ns: Vec<String> = r.authority.iter().map(record).collect();
            let ad: Vec<String> = r.additional.iter().map(part).collect();
            format!(
                "{rc} | {} | {} | {}",
                an.join(", "),
                ns.join(", "),
                ad.join(", ")
            )
        }
    }
}

fn soa(serial: u32) -> String {
    format!("example.org. 5 SOA ns1.dns.example.org. hostmaster.dns.example.org. {serial} 7200 1800 86400 5")
}

/// Addresses, CNAMEs for hostnames (one per port, as CoreDNS), SRV with weights and targets.
#[test]
fn services_answer_with_their_outside_addresses() {
    let z = zone(true);
    let (o, k) = (opts(), kube());
    let soa = soa(z.serial);
    let cases: &[(&str, u16, String)] = &[
        ("lb.prod.example.org.", qtype::A, "NoError | @ 5 A 192.0.2.1, @ 30 CNAME lb.example.test., lookup lb.example.test. 1, @ 30 CNAME lb.example.test., lookup lb.example.test. 1 |  | ".into()),
        ("LB.Prod.Example.ORG.", qtype::AAAA, "NoError | @ 5 AAAA 2001:db8::1, @ 30 CNAME lb.example.test., lookup lb.example.test. 28, @ 30 CNAME lb.example.test., lookup lb.example.test. 28 |  | ".into()),
        ("lb.prod.example.org.", qtype::SRV, "NoError | @ 30 SRV 0 16 80 lb.prod.example.org., @ 30 SRV 0 16 53 lb.prod.example.org., @ 30 SRV 0 16 80 lb.example.test., @ 30 SRV 0 16 53 lb.example.test. |  | lb.prod.example.org. 5 A 192.0.2.1, lb.prod.example.org. 5 AAAA 2001:db8::1, lookup lb.example.test. 1, lookup lb.example.test. 28".into()),
        ("_http._tcp.lb.prod.example.org.", qtype::SRV, "NoError | @ 30 SRV 0 33 80 lb.prod.example.org., @ 30 SRV 0 33 80 lb.example.test. |  | lb.prod.example.org. 5 A 192.0.2.1, lb.prod.example.org. 5 AAAA 2001:db8::1, lookup lb.example.test. 1, lookup lb.example.test. 28".into()),
        ("_dns._tcp.lb.prod.example.org.", qtype::SRV, format!("NxDomain |  | {soa} | ")),
        ("lb.prod.example.org.", qtype::TXT, format!("NoError |  | {soa} | ")),
        ("lb.prod.example.org.", qtype::MX, format!("NoError |  | {soa} | ")),
        ("ext.prod.example.org.", qtype::A, "NoError | @ 5 A 192.0.2.9 |  | ".into()),
        ("ext.prod.example.org.", qtype::AAAA, format!("NoError |  | {soa} | ")),
        ("ext.prod.example.org.", qtype::SRV, format!("NoError |  | {soa} | ")),
        ("hlx.prod.example.org.", qtype::A, "NoError | @ 5 A 192.0.2.20 |  | ".into()),
        ("plain.prod.example.org.", qtype::A, format!("NxDomain |  | {soa} | ")),
        ("nope.prod.example.org.", qtype::A, format!("NxDomain |  | {soa} | ")),
        ("prod.example.org.", qtype::A, format!("NoError |  | {soa} | ")),
        ("nons.example.org.", qtype::A, format!("NxDomain |  | {soa} | ")),
        ("a.b.c.lb.prod.example.org.", qtype::A, format!("NxDomain |  | {soa} | ")),
        ("lb.prod.example.org.", qtype::PTR, format!("NoError |  | {soa} | ")),
        ("lb.prod.cluster.local.", qtype::A, "next".into()),
    ];
    for (name, qt, want) in cases {
        assert_eq!(&ask(&o, &k, &z, name, *qt), want, "{name} {qt}");
    }
}

/// `headless`: a headless Service without outside addresses answers with its endpoints, and
/// an endpoint name of a Service with outside addresses answers with those (CoreDNS ignores
/// the label then). Without `headless` both are name errors.
#[test]
fn headless_services_answer_with_endpoints() {
    let z = zone(true);
    let (o, k) = (opts(), kube());
    let soa = soa(z.serial);
    let cases: &[(&str, u16, String)] = &[
        ("hl.prod.example.org.", qtype::A, "NoError | @ 5 A 10.1.0.1, @ 5 A 10.1.0.2 |  | ".into()),
        ("hl.prod.example.org.", qtype::SRV, "NoError | @ 30 SRV 0 50 8080 h0.hl.prod.example.org., @ 30 SRV 0 50 8080 10-1-0-2.hl.prod.example.org. |  | h0.hl.prod.example.org. 5 A 10.1.0.1, 10-1-0-2.hl.prod.example.org. 5 A 10.1.0.2".into()),
        ("h0.hl.prod.example.org.", qtype::A, "NoError | @ 5 A 10.1.0.1 |  | ".into()),
        ("_http._tcp.hl.prod.example.org.", qtype::A, "NoError | @ 5 A 10.1.0.1, @ 5 A 10.1.0.2 |  | ".into()),
        ("nope.hl.prod.example.org.", qtype::A, format!("NxDomain |  | {soa} | ")),
        ("h0.lb.prod.example.org.", qtype::A, "NoError | @ 5 A 192.0.2.1, @ 30 CNAME lb.example.test., lookup lb.example.test. 1, @ 30 CNAME lb.example.test., lookup lb.example.test. 1 |  | ".into()),
        ("h0.plain.prod.example.org.", qtype::A, format!("NxDomain |  | {soa} | ")),
    ];
    for (name, qt, want) in cases {
        assert_eq!(&ask(&o, &k, &z, name, *qt), want, "{name} {qt}");
    }
    let off = ExternalOptions {
        headless: false,
        ..opts()
    };
    for name in ["hl.prod.example.org.", "h0.hl.prod.example.org."] {
        let want = format!("NxDomain |  | {soa} | ");
        assert_eq!(ask(&off, &k, &z, name, qtype::A), want, "{name}");
    }
    // An endpoint label of a Service with outside addresses: those addresses, `headless` or not.
    assert!(ask(&off, &k, &z, "h0.lb.prod.example.org.", qtype::A).contains("192.0.2.1"));
}

/// The apex: SOA, NS `ns1.dns.ZONE` with the server's addresses (named after the question as
/// written), NODATA for the rest; `dns.ZONE` NODATA, `ns1.dns.ZONE` the addresses.
#[test]
fn apex_and_the_name_server() {
    let z = zone(true);
    let (o, k) = (opts(), kube());
    let soa = soa(z.serial);
    let cases: &[(&str, u16, String)] = &[
        ("example.org.", qtype::SOA, format!("NoError | {soa} |  | ")),
        ("Example.ORG.", qtype::NS, "NoError | example.org. 5 NS ns1.dns.example.org. |  | ns1.dns.Example.ORG. 5 A 10.9.0.1".into()),
        ("example.org.", qtype::A, format!("NoError |  | {soa} | ")),
        ("dns.example.org.", qtype::A, format!("NoError |  | {soa} | ")),
        ("ns1.dns.example.org.", qtype::A, "NoError | @ 5 A 10.9.0.1 |  | ".into()),
        ("ns1.dns.example.org.", qtype::AAAA, format!("NoError |  | {soa} | ")),
        ("ns2.dns.example.org.", qtype::A, format!("NxDomain |  | {soa} | ")),
        ("a.ns1.dns.example.org.", qtype::A, format!("NxDomain |  | {soa} | ")),
    ];
    for (name, qt, want) in cases {
        assert_eq!(&ask(&o, &k, &z, name, *qt), want, "{name} {qt}");
    }
    // `apex` and `ttl` rename and retime the apex records.
    let o2 = ExternalOptions {
        apex: "ext".into(),
        ttl: 60,
        ..opts()
    };
    let got = ask(&o2, &k, &z, "example.org.", qtype::SOA);
    assert!(got.contains("example.org. 60 SOA ns1.ext.example.org. hostmaster.ext.example.org."));
    assert!(ask(&o2, &k, &z, "ns1.ext.example.org.", qtype::A).contains("@ 60 A 10.9.0.1"));
    assert!(ask(&o2, &k, &z, "lb.prod.example.org.", qtype::A).contains("@ 60 A 192.0.2.1"));
    // The server's address is an endpoint of `hl`: its endpoints with `headless`, its outside
    // addresses (none) without.
    let k2 = KubeOptions {
        local_ips: vec!["10.1.0.1".parse().unwrap()],
        ..kube()
    };
    let got = ask(&o, &k2, &z, "example.org.", qtype::NS);
    assert!(got.ends_with("ns1.dns.example.org. 5 A 10.1.0.1, ns1.dns.example.org. 5 A 10.1.0.2"));
    let off = ExternalOptions {
        headless: false,
        ..opts()
    };
    let got = ask(&off, &k2, &z, "example.org.", qtype::NS);
    assert!(got.ends_with("NS ns1.dns.example.org. |  | "), "{got}");
}

/// `fallthrough` passes name errors on (not NODATA); the `kubernetes` directive's
/// `namespaces` hide the others; PTR in a reverse zone of the directive; unsynced name errors
/// are SERVFAIL.
#[test]
fn fallthrough_namespaces_reverse_and_sync() {
    let z = zone(true);
    let k = kube();
    let soa = soa(z.serial);
    let ft = ExternalOptions {
        fallthrough: Fallthrough::All,
        ..opts()
    };
    assert_eq!(ask(&ft, &k, &z, "nope.prod.example.org.", qtype::A), "next");
    assert_eq!(
        ask(&ft, &k, &z, "_dns._tcp.lb.prod.example.org.", qtype::SRV),
        "next"
    );
    assert_eq!(
        ask(&ft, &k, &z, "prod.example.org.", qtype::A),
        format!("NoError |  | {soa} | ")
    );
    let other = Fallthrough::Zones(vec!["other.example.org.".into()]);
    let ft2 = ExternalOptions {
        fallthrough: other,
        ..opts()
    };
    assert!(ask(&ft2, &k, &z, "nope.prod.example.org.", qtype::A).starts_with("NxDomain"));

    let only_other = KubeOptions {
        namespaces: vec!["other".into()],
        ..kube()
    };
    assert!(
        ask(&opts(), &only_other, &z, "lb.prod.example.org.", qtype::A).starts_with("NxDomain")
    );

    let rev = ExternalOptions {
        zones: vec!["example.org.".into(), "in-addr.arpa.".into()],
        ..opts()
    };
    let got = ask(&rev, &k, &z, "1.2.0.192.in-addr.arpa.", qtype::PTR);
    assert_eq!(got, "NoError | @ 5 PTR lb.prod.example.org. |  | ");
    let got = ask(&rev, &k, &z, "9.9.9.9.in-addr.arpa.", qtype::PTR);
    assert!(
        got.starts_with("NxDomain |  | in-addr.arpa. 5 SOA ns1.dns.in-addr.arpa."),
        "{got}"
    );

    let unsynced = zone(false);
    let got = ask(&opts(), &k, &unsynced, "nope.prod.example.org.", qtype::A);
    assert!(got.starts_with("ServFail"), "{got}");
    let got = ask(&opts(), &k, &unsynced, "lb.prod.example.org.", qtype::A);
    assert!(got.starts_with("NoError | @ 5 A 192.0.2.1"), "{got}");
}

/// A root zone (`k8s_external .`): names are joined without a double dot.
#[test]
fn the_root_zone_joins_names_once() {
    let z = zone(true);
    let o = ExternalOptions {
        zones: vec![".".into()],
        ..opts()
    };
    let got = ask(&o, &kube(), &z, ".", qtype::SOA);
    assert!(got.contains(". 5 SOA ns1.dns. hostmaster.dns."), "{got}");
    let got = ask(&o, &kube(), &z, "ext.prod.", qtype::SRV);
    assert!(got.starts_with("NoError"), "{got}");
    let got = ask(&o, &kube(), &z, "_http._tcp.lb.prod.", qtype::SRV);
    assert!(got.contains("SRV 0 33 80 lb.prod."), "{got}");
}

mod coredns;
