//! Unit tests of the reverse tree: the reverse-name check and PTR answers.
use std::sync::Arc;

use super::{is_reverse, is_reverse_zone};
use crate::zone::lookup::serve;
use crate::zone::model::{Endpoint, Port, Service, ServiceKind, Slice};
use crate::zone::options::KubeOptions;
use crate::zone::record::{qtype, Outcome, RData, Rcode};
use crate::zone::store::{Change, Store};

/// CoreDNS's `dnsutil.IsReverse`: a suffix at a label boundary, so the bare `in-addr.arpa.`
/// and look-alike names are not reverse names.
#[test]
fn reverse_names_end_at_a_label_boundary() {
    assert!(is_reverse("1.0.0.10.in-addr.arpa."));
    assert!(is_reverse("10.in-addr.arpa."));
    assert!(is_reverse("b.a.ip6.arpa."));
    assert!(!is_reverse("in-addr.arpa."));
    assert!(!is_reverse("ip6.arpa."));
    assert!(!is_reverse("foo-in-addr.arpa."));
    assert!(!is_reverse("web.ns.svc.cluster.local."));
    assert!(!is_reverse("1.0.0.10.in-addr.arpa"), "absolute names only");
}

/// A reverse zone includes the bare arpa zones: never the `kubernetes` primary zone.
#[test]
fn reverse_zones_include_the_arpa_apexes() {
    for z in [
        "in-addr.arpa.",
        "ip6.arpa.",
        "10.in-addr.arpa.",
        "b.a.ip6.arpa.",
    ] {
        assert!(is_reverse_zone(z), "{z}");
    }
    assert!(!is_reverse_zone("cluster.local."));
    assert!(!is_reverse_zone("foo-in-addr.arpa."));
}

/// PTR: a ClusterIP names its service, an endpoint address its endpoint label under the
/// service, an unknown address is NXDOMAIN.
#[test]
fn ptr_names_services_then_endpoints() {
    let port = Port {
        name: Arc::from("http"),
        port: 80,
        protocol: Arc::from("TCP"),
    };
    let mut st = Store::new();
    st.apply(Change::UpsertNamespace(crate::zone::model::Namespace {
        name: Arc::from("a"),
        labels: Vec::new(),
    }));
    st.apply(Change::UpsertService(Service {
        namespace: Arc::from("a"),
        name: Arc::from("web"),
        kind: ServiceKind::ClusterIp(vec!["10.0.0.1".parse().unwrap()]),
        external: Vec::new(),
        ports: vec![port.clone()],
    }));
    st.apply(Change::UpsertSlice(Slice {
        namespace: Arc::from("a"),
        name: Arc::from("web-1"),
        service: Arc::from("web"),
        ports: vec![port],
        endpoints: vec![Endpoint {
            ip: "10.1.0.7".parse().unwrap(),
            hostname: None,
            pod_name: None,
            zone: None,
        }],
    }));
    st.set_synced(true);
    let z = st.snapshot();
    let opts = KubeOptions {
        zones: vec!["cluster.local.".into(), "in-addr.arpa.".into()],
        ..KubeOptions::default()
    };
    let ptr = |name: &str| match serve(&opts, &z, name, qtype::PTR) {
        Outcome::Reply(r) => (
            r.rcode(),
            r.answer
                .iter()
                .map(|r| match &r.data {
                    RData::Ptr(t) => t.clone(),
                    d => panic!("{d:?}"),
                })
                .collect::<Vec<_>>(),
        ),
        Outcome::Next => panic!("{name}: not in the zone"),
    };
    assert_eq!(
        ptr("1.0.0.10.in-addr.arpa."),
        (Rcode::NoError, vec!["web.a.svc.cluster.local.".to_string()])
    );
    assert_eq!(
        ptr("7.0.1.10.in-addr.arpa."),
        (
            Rcode::NoError,
            vec!["10-1-0-7.web.a.svc.cluster.local.".to_string()]
        )
    );
    assert_eq!(ptr("9.9.9.10.in-addr.arpa."), (Rcode::NxDomain, vec![]));
}
