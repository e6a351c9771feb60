//! The client's namespace (pod index, else endpoints) and the search path built from it.
use std::net::IpAddr;
use std::sync::Arc;

use super::{client_namespace, search_path};
use crate::zone::model::{Endpoint, Pod, Port, Slice};
use crate::zone::options::{KubeOptions, PodMode};
use crate::zone::store::{Change, Store};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn pod(ns: &str, name: &str, addr: &str) -> Change {
    Change::UpsertPod(Pod {
        namespace: Arc::from(ns),
        name: Arc::from(name),
        ips: vec![ip(addr)],
    })
}

fn slice(ns: &str, svc: &str, addrs: &[&str]) -> Change {
    Change::UpsertSlice(Slice {
        namespace: Arc::from(ns),
        name: Arc::from(format!("{svc}-x").as_str()),
        service: Arc::from(svc),
        ports: vec![Port {
            name: Arc::from(""),
            port: 80,
            protocol: Arc::from("TCP"),
        }],
        endpoints: addrs
            .iter()
            .map(|a| Endpoint {
                ip: ip(a),
                hostname: None,
                pod_name: None,
                zone: None,
            })
            .collect(),
    })
}

fn store(changes: Vec<Change>) -> Store {
    let mut s = Store::new();
    for c in changes {
        s.apply(c);
    }
    s
}

#[test]
fn namespace_of_a_client() {
    let s = store(vec![
        pod("shop", "web-1", "10.0.0.1"),
        pod("shop", "web-2", "10.0.0.2"),
        pod("blog", "old", "10.0.0.2"),
        pod("blog", "api", "10.0.0.3"),
        slice("ops", "mon", &["10.0.0.3", "10.0.0.4"]),
        slice("ops", "graf", &["10.0.0.4"]),
        slice("dev", "x", &["10.0.0.5"]),
        slice("prod", "x", &["10.0.0.5"]),
    ]);
    let z = s.snapshot();
    let ns = |a: &str, pods: bool| client_namespace(&z, ip(a), pods).map(|n| n.to_string());
    // `pods verified`: the pod index only.
    assert_eq!(ns("10.0.0.1", true).as_deref(), Some("shop"));
    assert_eq!(ns("10.0.0.3", true).as_deref(), Some("blog"));
    assert_eq!(ns("10.0.0.4", true), None, "no pod has it");
    assert_eq!(ns("10.0.0.2", true), None, "two namespaces: nobody");
    // Without a pod watch: the endpoints' slices.
    assert_eq!(ns("10.0.0.3", false).as_deref(), Some("ops"));
    assert_eq!(
        ns("10.0.0.4", false).as_deref(),
        Some("ops"),
        "two services, one namespace"
    );
    assert_eq!(ns("10.0.0.5", false), None, "two namespaces: nobody");
    assert_eq!(ns("10.0.0.1", false), None, "a pod without endpoints");
    assert_eq!(ns("10.9.9.9", false), None);
}

#[test]
fn search_path_table() {
    let s = store(vec![
        pod("shop", "web-1", "10.0.0.1"),
        slice("ops", "mon", &["10.0.0.3"]),
    ]);
    let z = s.snapshot();
    let host = vec!["corp.example.".to_string(), "example.".to_string()];
    let mut opts = KubeOptions {
        zones: vec!["cluster.local.".into(), "in-addr.arpa.".into()],
        pods: PodMode::Verified,
        ..KubeOptions::default()
    };
    let path = |o: &KubeOptions, name: &str, a: &str| search_path(o, &z, name, ip(a), &host);
    assert_eq!(
        path(&opts, "web.shop.svc.cluster.local.", "10.0.0.1").unwrap(),
        vec![
            "shop.svc.cluster.local.",
            "svc.cluster.local.",
            "cluster.local.",
            "corp.example.",
            "example.",
            ""
        ]
    );
    // A name outside the zones, a client nobody knows, a name not under the client's
    // `<ns>.svc.<zone>` (not a search-path question): no autopath.
    assert_eq!(path(&opts, "example.com.", "10.0.0.1"), None);
    assert_eq!(path(&opts, "web.shop.svc.cluster.local.", "10.0.0.3"), None);
    assert_eq!(path(&opts, "web.ops.svc.cluster.local.", "10.0.0.1"), None);
    assert_eq!(path(&opts, "svc.cluster.local.", "10.0.0.1"), None);
    assert!(path(&opts, "shop.svc.cluster.local.", "10.0.0.1").is_some());
    // Without a pod watch, the endpoints place the client.
    opts.pods = PodMode::Insecure;
    assert_eq!(
        path(&opts, "x.ops.svc.cluster.local.", "10.0.0.3").unwrap()[..2],
        ["ops.svc.cluster.local.", "svc.cluster.local."]
    );
    // The root zone, as CoreDNS writes it.
    opts.zones = vec![".".into()];
    assert_eq!(
        path(&opts, "a.b.ops.svc.", "10.0.0.3").unwrap(),
        vec!["ops.svc.", "svc.", ".", "corp.example.", "example.", ""]
    );
    // The longest zone wins.
    opts.zones = vec!["local.".into(), "cluster.local.".into()];
    assert_eq!(
        path(&opts, "a.ops.svc.cluster.local.", "10.0.0.3").unwrap()[2],
        "cluster.local."
    );
}
