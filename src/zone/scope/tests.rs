//! Unit tests of the namespace scope: which answers may outlive changes elsewhere.
use std::net::IpAddr;
use std::sync::Arc;

use crate::zone::lookup::serve;
use crate::zone::model::{Endpoint, Namespace, Port, Service, ServiceKind, Slice};
use crate::zone::options::{KubeOptions, PodMode};
use crate::zone::record::{qtype, Depends, Outcome, Rcode};
use crate::zone::store::{Change, Store};

fn port() -> Port {
    Port {
        name: Arc::from("http"),
        port: 80,
        protocol: Arc::from("TCP"),
    }
}

fn svc(ns: &str, name: &str, kind: ServiceKind) -> Change {
    Change::UpsertService(Service {
        namespace: Arc::from(ns),
        name: Arc::from(name),
        kind,
        external: Vec::new(),
        ports: vec![port()],
    })
}

/// The slice `hl-1` of the headless service `hl` in `a`, endpoints named `h0`, `h1`, ….
fn slice(ips: &[&str]) -> Change {
    Change::UpsertSlice(Slice {
        namespace: Arc::from("a"),
        name: Arc::from("hl-1"),
        service: Arc::from("hl"),
        ports: vec![port()],
        endpoints: ips
            .iter()
            .enumerate()
            .map(|(i, ip)| Endpoint {
                ip: ip.parse().unwrap(),
                hostname: Some(Arc::from(format!("h{i}"))),
                pod_name: None,
                zone: None,
            })
            .collect(),
    })
}

fn ip(s: &str) -> Vec<IpAddr> {
    vec![s.parse::<IpAddr>().unwrap()]
}

/// Namespaces a and b; in a: `web` (ClusterIP), `hl` (headless, one endpoint), `ext`
/// (ExternalName to b's `web`); in b: `web`.
fn two_namespaces() -> Store {
    let mut st = Store::new();
    for ns in ["a", "b"] {
        st.apply(Change::UpsertNamespace(Namespace {
            name: Arc::from(ns),
            labels: Vec::new(),
        }));
    }
    st.apply(svc("a", "web", ServiceKind::ClusterIp(ip("10.0.0.1"))));
    st.apply(svc("a", "hl", ServiceKind::Headless));
    st.apply(slice(&["10.1.0.1"]));
    st.apply(svc(
        "a",
        "ext",
        ServiceKind::ExternalName(Arc::from("web.b.svc.cluster.local")),
    ));
    st.apply(svc("b", "web", ServiceKind::ClusterIp(ip("10.0.0.2"))));
    st
}

/// Which answers may outlive changes elsewhere: positive answers built from one namespace's
/// objects only, and every other namespace's changes leave that namespace's version alone.
#[test]
fn namespace_scope_only_for_answers_from_one_namespace() {
    let mut st = two_namespaces();
    st.set_synced(true);
    let z = st.snapshot();
    let opts = KubeOptions::default();
    let scope = |name: &str, qt: u16| match serve(&opts, &z, name, qt) {
        Outcome::Reply(r) => r.scope.map(|s| match s {
            Depends::Namespace(ns) => ns.to_string(),
            Depends::Nothing => "-".to_string(),
        }),
        Outcome::Next => panic!("{name}: not in the zone"),
    };
    let a = Some("a".to_string());
    assert_eq!(scope("web.a.svc.cluster.local.", qtype::A), a);
    assert_eq!(scope("WEB.A.svc.cluster.local.", qtype::A), a);
    assert_eq!(scope("hl.a.svc.cluster.local.", qtype::A), a);
    assert_eq!(scope("h0.hl.a.svc.cluster.local.", qtype::A), a);
    assert_eq!(scope("_http._tcp.hl.a.svc.cluster.local.", qtype::SRV), a);
    assert_eq!(scope("_http._tcp.web.a.svc.cluster.local.", qtype::SRV), a);
    assert_eq!(
        scope("ext.a.svc.cluster.local.", qtype::A),
        None,
        "an in-zone CNAME answers with namespace b's records"
    );
    assert_eq!(scope("*.a.svc.cluster.local.", qtype::A), None);
    assert_eq!(scope("web.*.svc.cluster.local.", qtype::A), None);
    assert_eq!(scope("web.any.svc.cluster.local.", qtype::A), None);

    // Negative answers: decided by the namespace the name lies in (which need not exist), by
    // nothing when the name's shape fails, by the whole zone otherwise.
    assert_eq!(scope("nope.a.svc.cluster.local.", qtype::A), a);
    assert_eq!(scope("web.a.svc.cluster.local.", qtype::AAAA), a, "NODATA");
    assert_eq!(scope("a.svc.cluster.local.", qtype::A), a);
    assert_eq!(scope("x.web.a.svc.cluster.local.", qtype::A), a);
    assert_eq!(scope("_x._tcp.web.a.svc.cluster.local.", qtype::SRV), a);
    assert_eq!(scope("web.a.svc.cluster.local.", qtype::TXT), a);
    let c = Some("c".to_string());
    assert_eq!(
        scope("web.c.svc.cluster.local.", qtype::A),
        c,
        "no such namespace"
    );
    assert_eq!(
        scope("google.com.svc.cluster.local.", qtype::A),
        Some("com".into())
    );
    let nothing = Some("-".to_string());
    assert_eq!(scope("google.com.cluster.local.", qtype::A), nothing);
    assert_eq!(
        scope("cluster.local.", qtype::A),
        nothing,
        "the apex: NODATA"
    );
    assert_eq!(scope("svc.cluster.local.", qtype::AAAA), nothing);
    assert_eq!(scope("a.b.c.d.e.a.svc.cluster.local.", qtype::A), nothing);
    assert_eq!(
        scope("10-1-0-1.a.pod.cluster.local.", qtype::A),
        nothing,
        "no pods"
    );
    assert_eq!(
        scope("ext.a.svc.cluster.local.", qtype::AAAA),
        None,
        "an ExternalName's in-zone target lies in b"
    );
    assert_eq!(scope("ns.dns.cluster.local.", qtype::AAAA), None);
    assert_eq!(scope("cluster.local.", qtype::NS), None);
    assert_eq!(scope("nope.*.svc.cluster.local.", qtype::A), None);
    for (mode, want) in [(PodMode::Insecure, a), (PodMode::Verified, None)] {
        let opts = KubeOptions {
            pods: mode,
            ..KubeOptions::default()
        };
        let got = match serve(&opts, &z, "x-1.a.pod.cluster.local.", qtype::A) {
            Outcome::Reply(r) => r.scope.map(|s| format!("{s:?}")),
            Outcome::Next => panic!("not in the zone"),
        };
        assert_eq!(got, want.map(|ns| format!("Namespace({ns:?})")), "{mode:?}");
    }
    let unsynced = Store::new().snapshot();
    match serve(&opts, &unsynced, "nope.a.svc.cluster.local.", qtype::A) {
        Outcome::Reply(r) => assert_eq!((r.rcode(), r.scope), (Rcode::ServFail, None)),
        Outcome::Next => panic!("not in the zone"),
    }

    let va = z.ns_version("a").unwrap();
    let vb = z.ns_version("b").unwrap();
    st.apply(svc("b", "web", ServiceKind::ClusterIp(ip("10.0.0.3"))));
    assert_eq!(st.snapshot().ns_version("a"), Some(va), "b changed, not a");
    assert_ne!(st.snapshot().ns_version("b"), Some(vb));
    st.apply(svc("b", "web", ServiceKind::ClusterIp(ip("10.0.0.3"))));
    assert_eq!(
        st.snapshot().ns_version("a"),
        Some(va),
        "no change, no new version"
    );
    st.apply(slice(&["10.1.0.1", "10.1.0.2"]));
    assert_ne!(
        st.snapshot().ns_version("a"),
        Some(va),
        "a slice of a moved"
    );
    let va = st.snapshot().ns_version("a").unwrap();
    st.apply(Change::DeleteNamespace { name: "a".into() });
    assert_ne!(st.snapshot().ns_version("a"), Some(va), "a is gone");
}
