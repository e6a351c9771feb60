//! Table tests of the zone transfer: which records, in which order, from one snapshot. The
//! expected records are written out from CoreDNS's xfr.go rules (see the module docs).
use std::net::IpAddr;
use std::sync::Arc;

use super::{srv_weight, transfer, Transfer};
use crate::zone::model::{Endpoint, Namespace, Port, Service, ServiceKind, Slice};
use crate::zone::options::KubeOptions;
use crate::zone::record::{Owner, RData, Record};
use crate::zone::snapshot::Zone;
use crate::zone::store::{Change, Store};

fn port(name: &str, port: i32, protocol: &str) -> Port {
    Port {
        name: Arc::from(name),
        port,
        protocol: Arc::from(protocol),
    }
}

fn svc(ns: &str, name: &str, kind: ServiceKind, ports: Vec<Port>) -> Change {
    Change::UpsertService(Service {
        namespace: Arc::from(ns),
        name: Arc::from(name),
        kind,
        ports,
        external: Vec::new(),
    })
}

fn ips(list: &[&str]) -> Vec<IpAddr> {
    list.iter().map(|s| s.parse().unwrap()).collect()
}

fn ep(ip: &str, hostname: Option<&str>, pod: Option<&str>) -> Endpoint {
    Endpoint {
        ip: ip.parse().unwrap(),
        hostname: hostname.map(Arc::from),
        pod_name: pod.map(Arc::from),
        zone: None,
    }
}

fn slice(ns: &str, name: &str, service: &str, ports: Vec<Port>, eps: Vec<Endpoint>) -> Change {
    Change::UpsertSlice(Slice {
        namespace: Arc::from(ns),
        name: Arc::from(name),
        service: Arc::from(service),
        ports,
        endpoints: eps,
    })
}

fn namespace(name: &str) -> Change {
    Change::UpsertNamespace(Namespace {
        name: Arc::from(name),
        labels: Vec::new(),
    })
}

/// Namespaces `shop` and `ops` (and Services in `ghost`, a namespace that does not exist).
fn store() -> Store {
    let mut st = Store::new();
    for ns in ["shop", "ops"] {
        st.apply(namespace(ns));
    }
    let web_ports = vec![port("http", 80, "TCP"), port("", 8080, "TCP")];
    st.apply(svc(
        "shop",
        "web",
        ServiceKind::ClusterIp(ips(&["10.96.0.5", "fd00::5"])),
        web_ports,
    ));
    st.apply(svc(
        "ops",
        "web",
        ServiceKind::ClusterIp(ips(&["10.96.0.6"])),
        vec![],
    ));
    st.apply(svc("shop", "db", ServiceKind::Headless, vec![]));
    let pg = vec![port("pg", 5432, "TCP"), port("", 9, "UDP")];
    st.apply(slice(
        "shop",
        "db-a",
        "db",
        pg.clone(),
        vec![
            ep("10.1.0.1", Some("db-0"), None),
            ep("10.1.0.2", None, Some("db-pod-1")),
        ],
    ));
    st.apply(slice(
        "shop",
        "db-b",
        "db",
        pg,
        vec![ep("fd00::1:0", None, None)],
    ));
    st.apply(svc(
        "shop",
        "ext",
        ServiceKind::ExternalName(Arc::from("example.com")),
        vec![],
    ));
    st.apply(svc(
        "shop",
        "extip",
        ServiceKind::ExternalName(Arc::from("192.0.2.1")),
        vec![],
    ));
    st.apply(svc(
        "ghost",
        "gone",
        ServiceKind::ClusterIp(ips(&["10.96.0.9"])),
        vec![],
    ));
    st.set_synced(true);
    st
}

/// `owner ttl TYPE data`, the way a zone file writes it.
fn text(r: &Record) -> String {
    let Owner::Name(owner) = &r.owner else {
        panic!("a transfer names every owner")
    };
    let data = match &r.data {
        RData::A(ip) => format!("A {ip}"),
        RData::Aaaa(ip) => format!("AAAA {ip}"),
        RData::Cname(t) => format!("CNAME {t}"),
        RData::Ns(t) => format!("NS {t}"),
        RData::Srv {
            priority,
            weight,
            port,
            target,
        } => format!("SRV {priority} {weight} {port} {target}"),
        RData::Soa(s) => format!("SOA {} {} {}", s.mname, s.rname, s.minimum),
        other => format!("{other:?}"),
    };
    format!("{owner} {} {data}", r.ttl)
}

fn full(opts: &KubeOptions, z: &Zone, name: &str) -> Vec<String> {
    match transfer(opts, z, name, 0) {
        Transfer::Full(rs) => rs.iter().map(text).collect(),
        other => panic!("{name}: {other:?}"),
    }
}

#[test]
fn every_record_in_coredns_order() {
    let z = store().snapshot();
    let opts = KubeOptions {
        local_ips: ips(&["192.0.2.53"]),
        ..KubeOptions::default()
    };
    let soa = "cluster.local. 5 SOA ns.dns.cluster.local. hostmaster.cluster.local. 5";
    let want = [
        soa,
        "cluster.local. 5 NS ns.dns.cluster.local.",
        "ns.dns.cluster.local. 0 A 192.0.2.53",
        // db (headless): slice db-a (2 endpoints: weight 50), then db-b (1: weight 100).
        "db.shop.svc.cluster.local. 5 A 10.1.0.1",
        "db-0.db.shop.svc.cluster.local. 5 A 10.1.0.1",
        "_pg._tcp.db.shop.svc.cluster.local. 5 SRV 0 50 5432 db-0.db.shop.svc.cluster.local.",
        "db.shop.svc.cluster.local. 5 A 10.1.0.2",
        "10-1-0-2.db.shop.svc.cluster.local. 5 A 10.1.0.2",
        "_pg._tcp.db.shop.svc.cluster.local. 5 SRV 0 50 5432 10-1-0-2.db.shop.svc.cluster.local.",
        "db.shop.svc.cluster.local. 5 AAAA fd00::1:0",
        "fd00--1-0.db.shop.svc.cluster.local. 5 AAAA fd00::1:0",
        "_pg._tcp.db.shop.svc.cluster.local. 5 SRV 0 100 5432 fd00--1-0.db.shop.svc.cluster.local.",
        // ext: a CNAME; extip (an address) has none.
        "ext.shop.svc.cluster.local. 5 CNAME example.com.",
        // web in ops (no ports), then web in shop: both families, an SRV per port and one
        // per named port.
        "web.ops.svc.cluster.local. 5 A 10.96.0.6",
        "web.shop.svc.cluster.local. 5 A 10.96.0.5",
        "web.shop.svc.cluster.local. 5 AAAA fd00::5",
        "web.shop.svc.cluster.local. 5 SRV 0 100 80 web.shop.svc.cluster.local.",
        "_http._tcp.web.shop.svc.cluster.local. 5 SRV 0 100 80 web.shop.svc.cluster.local.",
        "web.shop.svc.cluster.local. 5 SRV 0 100 8080 web.shop.svc.cluster.local.",
        soa,
    ];
    assert_eq!(full(&opts, &z, "cluster.local."), want);
}

#[test]
fn options_shape_the_transfer() {
    let z = store().snapshot();
    // `namespaces ops`, `ttl 30`, `endpoint_pod_names`, no local address: no NS records.
    let opts = KubeOptions {
        namespaces: vec!["ops".into()],
        ttl: 30,
        ..KubeOptions::default()
    };
    let soa = "cluster.local. 30 SOA ns.dns.cluster.local. hostmaster.cluster.local. 30";
    assert_eq!(
        full(&opts, &z, "cluster.local."),
        [soa, "web.ops.svc.cluster.local. 30 A 10.96.0.6", soa]
    );
    // The SOA TTL stops at 300; pod names label endpoints without hostname.
    let opts = KubeOptions {
        ttl: 3600,
        endpoint_pod_names: true,
        ..KubeOptions::default()
    };
    let got = full(&opts, &z, "cluster.local.");
    assert!(got[0].starts_with("cluster.local. 300 SOA"), "{}", got[0]);
    assert!(got.contains(&"db-pod-1.db.shop.svc.cluster.local. 3600 A 10.1.0.2".to_string()));
}

/// `ns.dns.ZONE` is the DNS service when one of our addresses is its endpoint; a dual-stack
/// DNS Service gives one NS and an address of each family, as CoreDNS's nsAddrs.
#[test]
fn the_dns_service_names_the_name_server() {
    let mut st = store();
    st.apply(namespace("kube-system"));
    st.apply(svc(
        "kube-system",
        "kube-dns",
        ServiceKind::ClusterIp(ips(&["10.96.0.10", "fd00:10:96::a"])),
        vec![port("dns", 53, "UDP")],
    ));
    st.apply(slice(
        "kube-system",
        "kube-dns-1",
        "kube-dns",
        vec![port("dns", 53, "UDP")],
        vec![ep("10.244.0.3", None, None)],
    ));
    let opts = KubeOptions {
        local_ips: ips(&["10.244.0.3"]),
        ..KubeOptions::default()
    };
    let got = full(&opts, &st.snapshot(), "cluster.local.");
    assert_eq!(
        got[1..4],
        [
            "cluster.local. 5 NS kube-dns.kube-system.svc.cluster.local.",
            "kube-dns.kube-system.svc.cluster.local. 0 A 10.96.0.10",
            "kube-dns.kube-system.svc.cluster.local. 0 AAAA fd00:10:96::a",
        ]
    );
}

#[test]
fn ixfr_and_names_that_are_not_zones() {
    let z = store().snapshot();
    let opts = KubeOptions {
        zones: vec!["cluster.local.".into(), "in-addr.arpa.".into()],
        ..KubeOptions::default()
    };
    let serial = z.serial;
    assert!(serial != 0);
    match transfer(&opts, &z, "cluster.local.", serial) {
        Transfer::UpToDate(soa) => assert!(text(&soa).starts_with("cluster.local. 5 SOA")),
        other => panic!("{other:?}"),
    }
    // Older (or newer) serials: the whole zone.
    for s in [serial - 1, serial + 1] {
        assert!(matches!(
            transfer(&opts, &z, "cluster.local.", s),
            Transfer::Full(_)
        ));
    }
    for name in ["svc.cluster.local.", "example.org.", "local."] {
        assert_eq!(
            transfer(&opts, &z, name, 0),
            Transfer::NotAuthoritative,
            "{name}"
        );
    }
    // Every zone of the directive is transferred as CoreDNS does, a reverse zone included.
    let rev = full(&opts, &z, "in-addr.arpa.");
    assert!(rev[0].starts_with("in-addr.arpa. 5 SOA ns.dns.in-addr.arpa."));
    assert!(rev.contains(&"web.shop.svc.in-addr.arpa. 5 A 10.96.0.5".to_string()));
}

/// An empty zone is its SOA twice.
#[test]
fn an_empty_zone() {
    let mut st = Store::new();
    st.set_synced(true);
    let got = full(&KubeOptions::default(), &st.snapshot(), "cluster.local.");
    assert_eq!(got.len(), 2);
    assert_eq!(got[0], got[1]);
}

#[test]
fn srv_weights_share_100() {
    let table = [
        (0, 100),
        (1, 100),
        (2, 50),
        (3, 33),
        (7, 14),
        (100, 1),
        (1000, 1),
    ];
    for (n, w) in table {
        assert_eq!(srv_weight(n), w, "{n} endpoints");
    }
}
