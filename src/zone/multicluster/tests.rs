//! Table tests of the multicluster zone (KEP-1645 schema 1.0.0, CoreDNS's
//! `findMultiClusterServices`): ClusterSetIP and Headless imports, endpoints by
//! `HOST.CLUSTER`, the reserved `CLUSTER.SVC…` names, and what stays out of each zone.
use std::sync::Arc;

use crate::zone::lookup::serve;
use crate::zone::model::{
    Endpoint, Import, ImportKind, McsSlice, Namespace, Port, Service, ServiceKind, Slice,
};
use crate::zone::options::KubeOptions;
use crate::zone::record::{qtype, Outcome, RData, Rcode};
use crate::zone::snapshot::Zone;
use crate::zone::store::{Change, Kind, Store};

fn port(name: &str, port: i32) -> Port {
    Port {
        name: Arc::from(name),
        port,
        protocol: Arc::from("TCP"),
    }
}

fn ep(ip: &str, hostname: Option<&str>) -> Endpoint {
    Endpoint {
        ip: ip.parse().unwrap(),
        hostname: hostname.map(Arc::from),
        pod_name: None,
        zone: None,
    }
}

fn import(name: &str, kind: ImportKind, ports: Vec<Port>) -> Change {
    Change::UpsertImport(Import {
        namespace: Arc::from("ns"),
        name: Arc::from(name),
        kind,
        ports,
    })
}

fn mcs(name: &str, svc: &str, cluster: &str, ports: Vec<Port>, eps: Vec<Endpoint>) -> Change {
    Change::UpsertMcsSlice(McsSlice {
        slice: Slice {
            namespace: Arc::from("ns"),
            name: Arc::from(name),
            service: Arc::from(svc),
            ports,
            endpoints: eps,
        },
        cluster: Arc::from(cluster),
    })
}

/// Namespace `ns`; a local Service `local` (never in the clusterset zone); imports `web`
/// (ClusterSetIP, dual-stack, ports http/80 and an unnamed 8080), `db` (Headless, slices from
/// clusters `east` and `west`), `bare` (ClusterSetIP without ports), `gone` (Headless, no
/// endpoints).
fn store() -> Store {
    let mut st = Store::new();
    st.apply(Change::UpsertNamespace(Namespace {
        name: Arc::from("ns"),
        labels: Vec::new(),
    }));
    st.apply(Change::UpsertService(Service {
        namespace: Arc::from("ns"),
        name: Arc::from("local"),
        kind: ServiceKind::ClusterIp(vec!["10.96.0.9".parse().unwrap()]),
        ports: vec![port("http", 80)],
        external: Vec::new(),
    }));
    let ips = vec!["10.42.0.1".parse().unwrap(), "fd00::1".parse().unwrap()];
    let changes = [
        import(
            "web",
            ImportKind::ClusterSetIp(ips),
            vec![port("http", 80), port("", 8080)],
        ),
        import("db", ImportKind::Headless, vec![port("pg", 5432)]),
        import(
            "bare",
            ImportKind::ClusterSetIp(vec!["10.42.0.2".parse().unwrap()]),
            vec![],
        ),
        import("gone", ImportKind::Headless, vec![port("pg", 5432)]),
        mcs(
            "db-e",
            "db",
            "east",
            vec![port("pg", 5432)],
            vec![ep("10.1.0.1", Some("db-0"))],
        ),
        mcs(
            "db-w",
            "db",
            "west",
            vec![port("pg", 5432)],
            vec![ep("fd01::2", None)],
        ),
        mcs(
            "web-e",
            "web",
            "east",
            vec![port("http", 80)],
            vec![ep("10.1.0.5", Some("web-0"))],
        ),
        mcs(
            "web-x",
            "web",
            "",
            vec![port("http", 80)],
            vec![ep("10.1.0.6", Some("web-1"))],
        ),
    ];
    for c in changes {
        assert!(st.apply(c));
    }
    st.set_synced(true);
    st
}

fn opts() -> KubeOptions {
    KubeOptions {
        zones: vec!["cluster.local.".into(), "clusterset.local.".into()],
        multicluster: vec!["clusterset.local.".into()],
        ..KubeOptions::default()
    }
}

/// The rcode and the answer section, as [`ask`] renders them.
type Answer = (Rcode, Vec<String>);

/// The rcode and the answer section as text (`A 1.2.3.4`, `SRV 5432 target`, `TXT 1.0.0`).
fn ask(z: &Zone, name: &str, qt: u16) -> Answer {
    let Outcome::Reply(r) = serve(&opts(), z, name, qt) else {
        panic!("{name}: not in the zone");
    };
    let mut out: Vec<String> = r
        .answer
        .iter()
        .map(|r| match &r.data {
            RData::A(a) => format!("A {a}"),
            RData::Aaaa(a) => format!("AAAA {a}"),
            RData::Srv { port, target, .. } => format!("SRV {port} {target}"),
            RData::Txt(t) => format!("TXT {t}"),
            RData::Soa(_) => "SOA".into(),
            d => format!("{d:?}"),
        })
        .collect();
    out.sort();
    (r.rcode(), out)
}

#[test]
fn clusterset_names() {
    use qtype::{A, AAAA, SRV, TXT};
    let z = store().snapshot();
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    let nx = (Rcode::NxDomain, vec![]);
    let nodata = (Rcode::NoError, vec![]);
    let table: Vec<(&str, u16, Answer)> = vec![
        (
            "dns-version.clusterset.local.",
            TXT,
            (Rcode::NoError, s(&["TXT 1.0.0"])),
        ),
        (
            "dns-version.cluster.local.",
            TXT,
            (Rcode::NoError, s(&["TXT 1.1.0"])),
        ),
        (
            "web.ns.svc.clusterset.local.",
            A,
            (Rcode::NoError, s(&["A 10.42.0.1"])),
        ),
        (
            "web.ns.svc.clusterset.local.",
            AAAA,
            (Rcode::NoError, s(&["AAAA fd00::1"])),
        ),
        (
            "WEB.NS.svc.clusterset.local.",
            A,
            (Rcode::NoError, s(&["A 10.42.0.1"])),
        ),
        ("web.ns.svc.clusterset.local.", TXT, nodata.clone()),
        (
            "_http._tcp.web.ns.svc.clusterset.local.",
            SRV,
            (Rcode::NoError, s(&["SRV 80 web.ns.svc.clusterset.local."])),
        ),
        ("_https._tcp.web.ns.svc.clusterset.local.", SRV, nx.clone()),
        // An endpoint of a ClusterSetIP import is found by HOST.CLUSTER as well.
        (
            "web-0.east.web.ns.svc.clusterset.local.",
            A,
            (Rcode::NoError, s(&["A 10.1.0.5"])),
        ),
        ("web-0.west.web.ns.svc.clusterset.local.", A, nx.clone()),
        // A slice without a cluster id: its endpoints are HOST.SVC…, and SRV names them so.
        (
            "web-1.web.ns.svc.clusterset.local.",
            A,
            (Rcode::NoError, s(&["A 10.1.0.6"])),
        ),
        (
            "web-1.web.ns.svc.clusterset.local.",
            SRV,
            (
                Rcode::NoError,
                s(&["SRV 80 web-1.web.ns.svc.clusterset.local."]),
            ),
        ),
        // Reserved: CLUSTER.SVC.NS.svc.clusterset.local must not exist.
        ("east.web.ns.svc.clusterset.local.", A, nx.clone()),
        ("east.db.ns.svc.clusterset.local.", A, nx.clone()),
        ("west.db.ns.svc.clusterset.local.", AAAA, nx.clone()),
        (
            "db.ns.svc.clusterset.local.",
            A,
            (Rcode::NoError, s(&["A 10.1.0.1"])),
        ),
        (
            "db.ns.svc.clusterset.local.",
            AAAA,
            (Rcode::NoError, s(&["AAAA fd01::2"])),
        ),
        (
            "db-0.east.db.ns.svc.clusterset.local.",
            A,
            (Rcode::NoError, s(&["A 10.1.0.1"])),
        ),
        (
            "db-0.east.db.ns.svc.clusterset.local.",
            AAAA,
            nodata.clone(),
        ),
        ("db-0.west.db.ns.svc.clusterset.local.", A, nx.clone()),
        (
            "fd01--2.west.db.ns.svc.clusterset.local.",
            AAAA,
            (Rcode::NoError, s(&["AAAA fd01::2"])),
        ),
        (
            "_pg._tcp.db.ns.svc.clusterset.local.",
            SRV,
            (
                Rcode::NoError,
                s(&[
                    "SRV 5432 db-0.east.db.ns.svc.clusterset.local.",
                    "SRV 5432 fd01--2.west.db.ns.svc.clusterset.local.",
                ]),
            ),
        ),
        ("a.b.db.ns.svc.clusterset.local.", A, nx.clone()),
        ("x.db-0.east.db.ns.svc.clusterset.local.", A, nx.clone()),
        // CoreDNS: a ClusterSetIP import without ports has no name; a headless one without
        // ready endpoints neither.
        ("bare.ns.svc.clusterset.local.", A, nx.clone()),
        ("gone.ns.svc.clusterset.local.", A, nx.clone()),
        // Services and imports stay in their own zones.
        ("local.ns.svc.clusterset.local.", A, nx.clone()),
        ("web.ns.svc.cluster.local.", A, nx.clone()),
        (
            "local.ns.svc.cluster.local.",
            A,
            (Rcode::NoError, s(&["A 10.96.0.9"])),
        ),
        ("web.other.svc.clusterset.local.", A, nx.clone()),
        ("ns.svc.clusterset.local.", A, nodata.clone()),
        ("clusterset.local.", SRV, nodata.clone()),
    ];
    for (name, qt, want) in table {
        assert_eq!(ask(&z, name, qt), want, "{name} {qt}");
    }
}

/// `ignore empty_service` counts the ready endpoints of the import's slices in every cluster.
#[test]
fn ignore_empty_service_counts_every_cluster() {
    let mut st = store();
    let o = KubeOptions {
        ignore_empty_service: true,
        ..opts()
    };
    let rcode = |st: &Store, name: &str| match serve(&o, &st.snapshot(), name, qtype::A) {
        Outcome::Reply(r) => r.rcode(),
        Outcome::Next => panic!("{name}"),
    };
    assert_eq!(rcode(&st, "web.ns.svc.clusterset.local."), Rcode::NoError);
    st.apply(Change::DeleteMcsSlice {
        namespace: "ns".into(),
        name: "web-e".into(),
    });
    assert_eq!(rcode(&st, "web.ns.svc.clusterset.local."), Rcode::NoError);
    st.apply(Change::DeleteMcsSlice {
        namespace: "ns".into(),
        name: "web-x".into(),
    });
    assert_eq!(rcode(&st, "web.ns.svc.clusterset.local."), Rcode::NxDomain);
    // Headless imports are not affected.
    assert_eq!(rcode(&st, "db.ns.svc.clusterset.local."), Rcode::NoError);
}

/// Imports and multicluster slices have their own SOA serial and relists, and move a
/// namespace's version (the packet cache's key).
#[test]
fn store_keeps_imports_apart() {
    let mut st = store();
    let z = st.snapshot();
    assert!(z.mc_serial > 0);
    assert_eq!(z.import("web.ns").map(|i| i.ports.len()), Some(2));
    assert_eq!(z.mc_slices("db.ns").len(), 2);
    let v = z.ns_version("ns");
    // A relist that holds only `db` and slice `db-e` deletes the rest of each kind.
    let keep = [import("db", ImportKind::Headless, vec![port("pg", 5432)])];
    assert_eq!(st.replace_kind(Kind::Import, keep.to_vec()), 3);
    let keep = [mcs(
        "db-e",
        "db",
        "east",
        vec![port("pg", 5432)],
        vec![ep("10.1.0.1", Some("db-0"))],
    )];
    assert_eq!(st.replace_kind(Kind::McsSlice, keep.to_vec()), 3);
    let z = st.snapshot();
    assert!(z.import("web.ns").is_none());
    assert_eq!(z.mc_slices("db.ns").len(), 1);
    assert!(z.mc_slices("web.ns").is_empty());
    assert_ne!(z.ns_version("ns"), v);
    assert_eq!(z.service_count(), 1, "the local Service is untouched");
    // An unchanged upsert changes nothing.
    assert!(!st.apply(import("db", ImportKind::Headless, vec![port("pg", 5432)])));
}
