//! Unit tests of the store: upserts and deletes with their indices, relists, snapshots held
//! across folds of the layered maps, and namespace versions.
use std::net::IpAddr;
use std::sync::Arc;

use super::{Change, Kind, Revision, Store};
use crate::zone::model::{Endpoint, Namespace, Pod, Port, Service, ServiceKind, Slice};
use crate::zone::snapshot::{Versions, Zone};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn port() -> Port {
    Port {
        name: Arc::from("http"),
        port: 80,
        protocol: Arc::from("TCP"),
    }
}

fn service(ns: &str, name: &str, cluster_ip: &str) -> Service {
    Service {
        namespace: Arc::from(ns),
        name: Arc::from(name),
        kind: ServiceKind::ClusterIp(vec![ip(cluster_ip)]),
        external: Vec::new(),
        ports: vec![port()],
    }
}

fn slice(ns: &str, name: &str, svc: &str, ips: &[&str]) -> Slice {
    Slice {
        namespace: Arc::from(ns),
        name: Arc::from(name),
        service: Arc::from(svc),
        ports: vec![port()],
        endpoints: ips
            .iter()
            .map(|a| Endpoint {
                ip: ip(a),
                hostname: None,
                pod_name: None,
                zone: None,
            })
            .collect(),
    }
}

fn namespace(name: &str) -> Change {
    Change::UpsertNamespace(Namespace {
        name: Arc::from(name),
        labels: Vec::new(),
    })
}

fn pod(ns: &str, name: &str, ips: &[&str]) -> Change {
    Change::UpsertPod(Pod {
        namespace: Arc::from(ns),
        name: Arc::from(name),
        ips: ips.iter().map(|a| ip(a)).collect(),
    })
}

/// The service keys behind `addr` in a reverse index, as strings.
fn keys(index: Option<&crate::zone::index::IpSet<Arc<str>>>) -> Vec<String> {
    index
        .map(|s| s.iter().map(|k| k.to_string()).collect())
        .unwrap_or_default()
}

fn svc_keys(z: &Zone, addr: &str) -> Vec<String> {
    keys(z.svc_by_ip.get(&ip(addr)))
}

fn ep_keys(z: &Zone, addr: &str) -> Vec<String> {
    keys(z.ep_by_ip.get(&ip(addr)))
}

fn pod_ids(z: &Zone, addr: &str) -> Vec<(String, String)> {
    z.pods_by_ip
        .get(&ip(addr))
        .map(|s| {
            s.iter()
                .map(|(n, p)| (n.to_string(), p.to_string()))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn services_upsert_update_delete_and_the_cluster_ip_index() {
    let mut st = Store::new();
    assert!(st.apply(Change::UpsertService(service("a", "web", "10.0.0.1"))));
    assert!(
        !st.apply(Change::UpsertService(service("a", "web", "10.0.0.1"))),
        "the same object again changes nothing"
    );
    assert!(st.apply(Change::UpsertService(service("b", "web", "10.0.0.1"))));
    let z = st.snapshot();
    assert_eq!(z.service_count(), 2);
    assert_eq!(z.service("web.a").unwrap().name.as_ref(), "web");
    assert_eq!(svc_keys(&z, "10.0.0.1"), ["web.a", "web.b"], "sorted keys");
    assert_eq!(st.service_kind("a", "web"), Some("cluster_ip"));

    // A new address moves the index entry.
    assert!(st.apply(Change::UpsertService(service("a", "web", "10.0.0.2"))));
    let z = st.snapshot();
    assert_eq!(svc_keys(&z, "10.0.0.1"), ["web.b"]);
    assert_eq!(svc_keys(&z, "10.0.0.2"), ["web.a"]);

    // Headless: no address in the index.
    let mut headless = service("a", "web", "10.0.0.2");
    headless.kind = ServiceKind::Headless;
    assert!(st.apply(Change::UpsertService(headless)));
    assert!(svc_keys(&st.snapshot(), "10.0.0.2").is_empty());
    assert_eq!(st.service_kind("a", "web"), Some("headless"));

    let delete = |ns: &str| Change::DeleteService {
        namespace: ns.into(),
        name: "web".into(),
    };
    assert!(st.apply(delete("b")));
    assert!(!st.apply(delete("b")), "already gone");
    let z = st.snapshot();
    assert!(z.service("web.b").is_none());
    assert!(svc_keys(&z, "10.0.0.1").is_empty(), "index entry removed");
    assert!(z.svc_by_ip.get(&ip("10.0.0.1")).is_none());
    assert_eq!(z.service_count(), 1);
    assert_eq!(st.service_kind("b", "web"), None);
}

#[test]
fn slices_upsert_update_move_delete_and_the_endpoint_index() {
    let mut st = Store::new();
    assert!(st.apply(Change::UpsertSlice(slice(
        "a",
        "web-2",
        "web",
        &["10.1.0.2"]
    ))));
    assert!(st.apply(Change::UpsertSlice(slice(
        "a",
        "web-1",
        "web",
        &["10.1.0.1"]
    ))));
    assert!(!st.apply(Change::UpsertSlice(slice(
        "a",
        "web-1",
        "web",
        &["10.1.0.1"]
    ))));
    let z = st.snapshot();
    let names: Vec<&str> = z.slices("web.a").iter().map(|s| &*s.name).collect();
    assert_eq!(names, ["web-1", "web-2"], "ordered by slice name");
    assert_eq!(ep_keys(&z, "10.1.0.1"), ["web.a"]);
    assert_eq!(ep_keys(&z, "10.1.0.2"), ["web.a"]);

    // New endpoints: the old address leaves the index, the new one enters.
    assert!(st.apply(Change::UpsertSlice(slice(
        "a",
        "web-1",
        "web",
        &["10.1.0.3"]
    ))));
    let z = st.snapshot();
    assert!(ep_keys(&z, "10.1.0.1").is_empty());
    assert_eq!(ep_keys(&z, "10.1.0.3"), ["web.a"]);
    assert_eq!(z.slices("web.a").len(), 2);

    // An address held by two slices of the service stays while one still holds it.
    assert!(st.apply(Change::UpsertSlice(slice(
        "a",
        "web-2",
        "web",
        &["10.1.0.3"]
    ))));
    assert!(st.apply(Change::UpsertSlice(slice("a", "web-1", "web", &[]))));
    assert_eq!(ep_keys(&st.snapshot(), "10.1.0.3"), ["web.a"]);
    assert!(ep_keys(&st.snapshot(), "10.1.0.2").is_empty());

    // A slice that moves to another service leaves the old one.
    assert!(st.apply(Change::UpsertSlice(slice(
        "a",
        "web-2",
        "api",
        &["10.1.0.3"]
    ))));
    let z = st.snapshot();
    let names: Vec<&str> = z.slices("web.a").iter().map(|s| &*s.name).collect();
    assert_eq!(names, ["web-1"]);
    assert_eq!(z.slices("api.a").len(), 1);
    assert_eq!(ep_keys(&z, "10.1.0.3"), ["api.a"]);

    let delete = |name: &str| Change::DeleteSlice {
        namespace: "a".into(),
        name: name.into(),
    };
    assert!(st.apply(delete("web-2")));
    assert!(!st.apply(delete("web-2")));
    assert!(st.apply(delete("web-1")));
    let z = st.snapshot();
    assert!(z.slices("api.a").is_empty());
    assert!(z.slices("web.a").is_empty());
    assert!(z.endpoints.get("web.a").is_none(), "no empty entry left");
    assert!(z.ep_by_ip.is_empty());
    assert!(st.slices.is_empty() && st.slices_by_svc.is_empty());
}

#[test]
fn namespaces_and_pods_upsert_and_delete() {
    let mut st = Store::new();
    assert!(st.apply(namespace("a")));
    assert!(!st.apply(namespace("a")));
    assert!(st.snapshot().namespace("a").is_some());
    assert!(st.apply(Change::DeleteNamespace { name: "a".into() }));
    assert!(!st.apply(Change::DeleteNamespace { name: "a".into() }));
    assert!(st.snapshot().namespace("a").is_none());

    assert!(st.apply(pod("a", "p", &["10.2.0.1", "fd00::1"])));
    assert!(!st.apply(pod("a", "p", &["10.2.0.1", "fd00::1"])));
    assert!(st.apply(pod("b", "q", &["10.2.0.1"])));
    let z = st.snapshot();
    let both = vec![
        ("a".to_string(), "p".to_string()),
        ("b".to_string(), "q".to_string()),
    ];
    assert_eq!(pod_ids(&z, "10.2.0.1"), both);
    assert_eq!(pod_ids(&z, "fd00::1"), [both[0].clone()]);

    assert!(st.apply(pod("a", "p", &["10.2.0.2"])));
    let z = st.snapshot();
    assert_eq!(pod_ids(&z, "10.2.0.1"), [both[1].clone()]);
    assert!(pod_ids(&z, "fd00::1").is_empty());
    assert_eq!(pod_ids(&z, "10.2.0.2"), [both[0].clone()]);

    let delete = |ns: &str, name: &str| Change::DeletePod {
        namespace: ns.into(),
        name: name.into(),
    };
    assert!(st.apply(delete("a", "p")));
    assert!(!st.apply(delete("a", "p")));
    assert!(st.apply(delete("b", "q")));
    assert!(st.snapshot().pods_by_ip.is_empty());
}

#[test]
fn a_relist_deletes_what_it_did_not_see() {
    let mut st = Store::new();
    for (ns, name, a) in [
        ("a", "x", "10.0.0.1"),
        ("a", "y", "10.0.0.2"),
        ("b", "x", "10.0.0.3"),
    ] {
        st.apply(Change::UpsertService(service(ns, name, a)));
    }
    st.apply(Change::UpsertSlice(slice("a", "x-1", "x", &["10.1.0.1"])));
    let mut relist = st.relist(Kind::Service);
    assert_eq!(relist.kind(), Kind::Service);
    // Page one: x unchanged, y changed.
    let page = vec![
        (Change::UpsertService(service("a", "x", "10.0.0.1")), None),
        (Change::UpsertService(service("a", "y", "10.0.0.9")), None),
    ];
    assert_eq!(st.relist_apply(&mut relist, page), 1, "only y changed");
    // Page two: a new service; deletes in a page are not upserts and are skipped.
    let page = vec![
        (Change::UpsertService(service("c", "z", "10.0.0.4")), None),
        (
            Change::DeleteService {
                namespace: "a".into(),
                name: "x".into(),
            },
            None,
        ),
    ];
    assert_eq!(st.relist_apply(&mut relist, page), 1);
    assert_eq!(relist.seen_count(), 3);
    // Nothing is deleted before the relist ends.
    assert!(st.snapshot().service("x.b").is_some());
    assert_eq!(st.relist_finish(relist, None), 1, "x.b was not listed");
    let z = st.snapshot();
    assert!(z.service("x.b").is_none());
    assert!(svc_keys(&z, "10.0.0.3").is_empty());
    for k in ["x.a", "y.a", "z.c"] {
        assert!(z.service(k).is_some(), "{k}");
    }
    assert_eq!(svc_keys(&z, "10.0.0.9"), ["y.a"]);
    assert_eq!(z.slices("x.a").len(), 1, "other kinds untouched");

    // Whole-kind replacement of the other kinds.
    assert_eq!(st.replace_kind(Kind::Slice, Vec::new()), 1);
    assert!(st.snapshot().slices("x.a").is_empty());
    st.apply(namespace("a"));
    st.apply(namespace("b"));
    assert_eq!(st.replace_kind(Kind::Namespace, vec![namespace("b")]), 1);
    assert!(st.snapshot().namespace("a").is_none());
    assert!(st.snapshot().namespace("b").is_some());
    st.apply(pod("a", "p", &["10.2.0.1"]));
    st.apply(pod("a", "q", &["10.2.0.2"]));
    assert_eq!(
        st.replace_kind(Kind::Pod, vec![pod("a", "q", &["10.2.0.2"])]),
        1
    );
    assert!(pod_ids(&st.snapshot(), "10.2.0.1").is_empty());
    assert_eq!(pod_ids(&st.snapshot(), "10.2.0.2").len(), 1);
}

/// The first list of a kind into a store that holds none of it keeps no keys and deletes
/// nothing; a list that starts over after a failed one (the store now holds part of it) is
/// a relist again, and deletes what the second list left out.
#[test]
fn a_first_list_keeps_no_keys_and_a_restarted_one_does() {
    let mut st = Store::new();
    st.apply(Change::UpsertSlice(slice("a", "x-1", "x", &["10.1.0.1"])));
    let mut first = st.relist(Kind::Service);
    let page = |names: &[&str]| -> Vec<(Change, Revision)> {
        names
            .iter()
            .enumerate()
            .map(|(i, n)| {
                (
                    Change::UpsertService(service("a", n, &format!("10.0.0.{}", i + 1))),
                    None,
                )
            })
            .collect()
    };
    assert_eq!(st.relist_apply(&mut first, page(&["x", "y"])), 2);
    assert_eq!(first.seen_count(), 2);
    assert!(first.seen.is_empty(), "a fresh list holds no keys");
    // The list failed here; the retry starts with x and y in the store.
    let mut again = st.relist(Kind::Service);
    assert_eq!(st.relist_apply(&mut again, page(&["x"])), 0);
    assert_eq!(again.seen.len(), 1);
    assert_eq!(
        st.relist_finish(again, None),
        1,
        "y was not in the second list"
    );
    assert!(st.snapshot().service("y.a").is_none());
    assert!(st.snapshot().service("x.a").is_some());
    // The fresh list's finish deletes nothing (nothing of the kind predates it).
    let mut st2 = Store::new();
    let mut fresh = st2.relist(Kind::Service);
    st2.relist_apply(&mut fresh, page(&["x"]));
    assert_eq!(st2.relist_finish(fresh, None), 0);
    assert!(st2.snapshot().service("x.a").is_some());
    // Other kinds do not make a list of this one a relist.
    assert!(st2.relist(Kind::Slice).fresh);
    assert!(!st.relist(Kind::Slice).fresh);
}

/// Snapshots are immutable: one taken before many changes (enough to fold the layered maps
/// several times) still answers exactly its old contents, and a new one the new contents.
#[test]
fn snapshots_keep_their_contents_across_folds() {
    const N: u32 = 600;
    let addr = |i: u32, gen: u32| format!("10.{gen}.{}.{}", i / 256, i % 256);
    let mut st = Store::new();
    for i in 0..N {
        st.apply(Change::UpsertService(service(
            "a",
            &format!("s{i}"),
            &addr(i, 0),
        )));
    }
    st.set_synced(true);
    let old = st.snapshot();
    // Rewrite every address, delete every third service, add N new ones; a reader takes a
    // snapshot now and then, so the base stays shared and the delta folds into fresh bases.
    let mut readers = Vec::new();
    for i in 0..N {
        if i % 50 == 0 {
            readers.push(st.snapshot());
        }
        st.apply(Change::UpsertService(service(
            "a",
            &format!("s{i}"),
            &addr(i, 1),
        )));
        if i % 3 == 0 {
            st.apply(Change::DeleteService {
                namespace: "a".into(),
                name: format!("s{i}"),
            });
        }
        st.apply(Change::UpsertService(service(
            "b",
            &format!("s{i}"),
            &addr(i, 2),
        )));
    }
    // Without a fold the delta would hold every key changed (2N of them).
    assert!(
        st.zone.services.delta_len() < N as usize / 2,
        "the delta folded while snapshots held the base ({} changes left)",
        st.zone.services.delta_len()
    );
    let new = st.snapshot();
    assert_eq!(old.service_count(), N as usize);
    assert_eq!(new.service_count(), (N + N - N.div_ceil(3)) as usize);
    for i in 0..N {
        let key = format!("s{i}.a");
        let want_old = ServiceKind::ClusterIp(vec![ip(&addr(i, 0))]);
        assert_eq!(old.service(&key).map(|s| &s.kind), Some(&want_old));
        assert_eq!(svc_keys(&old, &addr(i, 0)), [key.as_str()]);
        assert!(svc_keys(&old, &addr(i, 1)).is_empty());
        assert!(old.service(&format!("s{i}.b")).is_none());
        if i % 3 == 0 {
            assert!(new.service(&key).is_none());
            assert!(svc_keys(&new, &addr(i, 1)).is_empty());
        } else {
            let want_new = ServiceKind::ClusterIp(vec![ip(&addr(i, 1))]);
            assert_eq!(new.service(&key).map(|s| &s.kind), Some(&want_new));
            assert_eq!(svc_keys(&new, &addr(i, 1)), [key.as_str()]);
        }
        assert!(svc_keys(&new, &addr(i, 0)).is_empty());
        assert!(new.service(&format!("s{i}.b")).is_some());
    }
    assert!(old.synced && new.synced);
    assert_eq!(
        readers[0].service_count(),
        N as usize,
        "taken before any change"
    );
}

/// A namespace's version moves when one of its Services, EndpointSlices or the Namespace
/// itself changes, and only then: not for no-op upserts, not for other namespaces, not for
/// pods.
#[test]
fn ns_versions_move_only_for_the_namespace_that_changed() {
    let mut st = Store::new();
    for ns in ["a", "b"] {
        st.apply(namespace(ns));
        st.apply(Change::UpsertService(service(ns, "web", "10.0.0.1")));
    }
    let v = |st: &Store, ns: &str| st.snapshot().ns_version(ns);
    let (a0, b0) = (v(&st, "a").unwrap(), v(&st, "b").unwrap());
    assert_ne!(a0, b0);
    assert_eq!(v(&st, "c"), None);

    st.apply(Change::UpsertService(service("b", "web", "10.0.0.2")));
    let b1 = v(&st, "b").unwrap();
    assert_eq!(v(&st, "a"), Some(a0), "b changed, not a");
    assert_ne!(b1, b0);

    st.apply(Change::UpsertService(service("b", "web", "10.0.0.2")));
    st.apply(pod("a", "p", &["10.2.0.1"]));
    st.apply(Change::DeleteService {
        namespace: "a".into(),
        name: "nothing".into(),
    });
    assert_eq!(
        (v(&st, "a"), v(&st, "b")),
        (Some(a0), Some(b1)),
        "no-ops and pods move nothing"
    );

    st.apply(Change::UpsertSlice(slice(
        "a",
        "web-1",
        "web",
        &["10.1.0.1"],
    )));
    let a1 = v(&st, "a").unwrap();
    assert_ne!(a1, a0, "a slice of a");
    assert_eq!(v(&st, "b"), Some(b1));
    st.apply(Change::DeleteNamespace { name: "a".into() });
    assert_ne!(v(&st, "a"), Some(a1), "the namespace itself");
    assert_eq!(v(&st, "b"), Some(b1));
}

/// Stores drawing from one source never repeat a version, even when rebuilt from scratch
/// (a manifests reload); a store of its own starts over.
#[test]
fn versions_are_unique_across_stores_sharing_a_source() {
    let source = Versions::new();
    let build = |st: &mut Store| {
        for ns in ["a", "b", "c"] {
            st.apply(namespace(ns));
        }
        ["a", "b", "c"].map(|ns| st.snapshot().ns_version(ns).unwrap())
    };
    let first = build(&mut Store::with_versions(source.clone()));
    let again = build(&mut Store::with_versions(source.clone()));
    for v in again {
        assert!(!first.contains(&v), "{v} repeated");
    }
    assert!(Store::with_versions(source.clone())
        .snapshot()
        .versions()
        .same(&source));
    let alone = build(&mut Store::new());
    assert_eq!(
        alone, first,
        "a fresh source starts over at the same numbers"
    );
}

/// The serial is the latest revision that changed the zone: the same changes give the same
/// serial whatever order a list delivers them in; a change that alters nothing, or comes with
/// an older revision, never moves it; a relist's deletions take the list's revision.
#[test]
fn the_serial_is_the_latest_revision_that_changed_the_zone() {
    let changes = [
        (
            Change::UpsertService(service("a", "x", "10.0.0.1")),
            Some(120),
        ),
        (
            Change::UpsertService(service("a", "y", "10.0.0.2")),
            Some(90),
        ),
        (
            Change::UpsertSlice(slice("a", "x-1", "x", &["10.1.0.1"])),
            Some(121),
        ),
    ];
    let mut one = Store::new();
    let mut other = Store::new();
    for (c, r) in changes.iter().cloned() {
        one.apply_at(c, r);
    }
    for (c, r) in changes.iter().rev().cloned() {
        other.apply_at(c, r);
    }
    assert_eq!(one.snapshot().serial, 121);
    assert_eq!(other.snapshot().serial, 121, "list order does not matter");
    // The same object again at a later revision (a label changed, say): nothing DNS
    // answers changed, so the serial stays.
    assert!(!one.apply_at(
        Change::UpsertService(service("a", "x", "10.0.0.1")),
        Some(130)
    ));
    assert_eq!(one.snapshot().serial, 121);
    // A real change at a later revision moves it; an out-of-order older one does not.
    assert!(one.apply_at(
        Change::UpsertService(service("a", "x", "10.0.0.7")),
        Some(140)
    ));
    assert_eq!(one.snapshot().serial, 140);
    assert!(one.apply_at(
        Change::UpsertService(service("a", "y", "10.0.0.8")),
        Some(100)
    ));
    assert_eq!(one.snapshot().serial, 140, "never backwards");
    // A relist that misses y: y was deleted by the list's revision.
    let mut relist = one.relist(Kind::Service);
    let page = vec![(
        Change::UpsertService(service("a", "x", "10.0.0.7")),
        Some(140),
    )];
    assert_eq!(one.relist_apply(&mut relist, page), 0);
    assert_eq!(one.relist_finish(relist, Some(155)), 1);
    assert_eq!(one.snapshot().serial, 155);
    // Unknown revisions count one past the latest; the serial is the low 32 bits.
    one.apply_at(Change::UpsertService(service("a", "z", "10.0.0.9")), None);
    assert_eq!(one.snapshot().serial, 156);
    one.apply_at(
        Change::UpsertService(service("a", "w", "10.0.0.10")),
        Some((1 << 32) + 5),
    );
    assert_eq!(one.snapshot().serial, 5, "RFC 1982 wrap");
}
