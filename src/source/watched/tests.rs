//! The per-kind adapters: which change an object makes, its key, and when it last changed.
use serde_json::json;

use super::*;

fn service(v: serde_json::Value) -> ServiceObj {
    serde_json::from_value(v).unwrap()
}

#[test]
fn changed_at_is_the_newest_write() {
    let s = service(json!({"metadata": {"name": "a",
        "creationTimestamp": "2026-01-01T00:00:00Z",
        "managedFields": [{"time": "2026-01-01T00:00:05Z"}, {"time": "2026-01-01T00:00:09Z"},
                          {"time": "2026-01-01T00:00:07Z"}]}}));
    let at = changed_at(&s.metadata).unwrap();
    assert_eq!(
        at.duration_since(UNIX_EPOCH).unwrap().as_secs(),
        1_767_225_609
    );
    let created = service(json!({"metadata": {"name": "a",
        "creationTimestamp": "2026-01-01T00:00:00.5Z"}}));
    let at = changed_at(&created.metadata).unwrap();
    assert_eq!(
        at.duration_since(UNIX_EPOCH).unwrap(),
        Duration::new(1_767_225_600, 500_000_000)
    );
    assert_eq!(changed_at(&ObjectMeta::default()), None);
}

#[test]
fn services_upsert_and_delete_by_key() {
    let s = service(json!({"metadata": {"name": "web", "namespace": "prod"},
        "spec": {"clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1"]}}));
    match s.upsert() {
        Some(Change::UpsertService(svc)) => {
            assert_eq!((&*svc.namespace, &*svc.name), ("prod", "web"))
        }
        other => panic!("{other:?}"),
    }
    // No namespace: `default`, as the API server defaults it.
    let meta = ObjectMeta {
        name: Some("web".into()),
        ..Default::default()
    };
    match ServiceObj::delete(&meta) {
        Change::DeleteService { namespace, name } => {
            assert_eq!((namespace.as_str(), name.as_str()), ("default", "web"))
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(ServiceObj::KIND, Kind::Service);
    assert!(ServiceObj::PROTO.is_some() && SliceObj::PROTO.is_some());
    assert!(core::Namespace::PROTO.is_none() && PodObj::PROTO.is_some());
}

#[test]
fn a_slice_without_its_service_label_makes_no_upsert() {
    let orphan: SliceObj = serde_json::from_value(json!({"metadata": {"name": "s1"},
        "addressType": "IPv4", "endpoints": [{"addresses": ["10.1.0.1"]}]}))
    .unwrap();
    assert!(orphan.upsert().is_none());
    let owned: SliceObj = serde_json::from_value(json!({"metadata": {"name": "s1",
        "labels": {"kubernetes.io/service-name": "web"}},
        "addressType": "IPv4", "endpoints": [{"addresses": ["10.1.0.1"]}]}))
    .unwrap();
    assert!(matches!(owned.upsert(), Some(Change::UpsertSlice(s)) if &*s.service == "web"));
    let meta = ObjectMeta {
        name: Some("s1".into()),
        namespace: Some("prod".into()),
        ..Default::default()
    };
    assert!(matches!(SliceObj::delete(&meta),
        Change::DeleteSlice { namespace, name } if namespace == "prod" && name == "s1"));
}

#[test]
fn a_terminating_pod_is_ignored_and_namespaces_delete_by_name() {
    let pod: PodObj = serde_json::from_value(json!({"metadata": {"name": "p",
        "namespace": "prod", "deletionTimestamp": "2026-01-01T00:00:00Z"},
        "status": {"podIP": "10.1.0.9"}}))
    .unwrap();
    assert!(pod.ignore());
    let live: PodObj = serde_json::from_value(json!({"metadata": {"name": "p",
        "namespace": "prod"}, "status": {"podIP": "10.1.0.9"}}))
    .unwrap();
    assert!(!live.ignore());
    let meta = ObjectMeta {
        name: Some("prod".into()),
        ..Default::default()
    };
    assert!(matches!(core::Namespace::delete(&meta),
        Change::DeleteNamespace { name } if name == "prod"));
    let ns: core::Namespace =
        serde_json::from_value(json!({"metadata": {"name": "prod"}})).unwrap();
    assert!(matches!(ns.upsert(), Some(Change::UpsertNamespace(n)) if &*n.name == "prod"));
}

/// ServiceImports and multicluster EndpointSlices: what the zone keeps of them.
#[test]
fn imports_and_multicluster_slices() {
    let i: ImportObj = serde_json::from_value(json!({"metadata": {"name": "Web", "namespace": "mc"},
        "spec": {"type": "ClusterSetIP", "ips": ["10.42.0.1", "fd00::1", "10.42.0.1"],
                 "ports": [{"name": "HTTP", "port": 80, "protocol": "TCP"}, {"port": 53, "protocol": "UDP"}]}}))
    .unwrap();
    let Some(Change::UpsertImport(imp)) = i.upsert() else {
        panic!()
    };
    assert_eq!((&*imp.namespace, &*imp.name), ("mc", "web"));
    let want: Vec<std::net::IpAddr> =
        vec!["10.42.0.1".parse().unwrap(), "fd00::1".parse().unwrap()];
    assert_eq!(imp.kind, crate::zone::model::ImportKind::ClusterSetIp(want));
    let ports: Vec<_> = imp
        .ports
        .iter()
        .map(|p| (&*p.name, p.port, &*p.protocol))
        .collect();
    assert_eq!(ports, [("http", 80, "TCP"), ("", 53, "UDP")]);
    let h: ImportObj = serde_json::from_value(json!({"metadata": {"name": "db"},
        "spec": {"type": "Headless", "ports": []}}))
    .unwrap();
    let Some(Change::UpsertImport(h)) = h.upsert() else {
        panic!()
    };
    assert_eq!(h.kind, crate::zone::model::ImportKind::Headless);

    let slice = |labels: serde_json::Value| -> McsSliceObj {
        serde_json::from_value(
            json!({"metadata": {"name": "db-east", "namespace": "mc", "labels": labels},
            "addressType": "IPv4",
            "endpoints": [{"addresses": ["10.1.0.1"], "hostname": "db-0"},
                          {"addresses": ["10.1.0.2"], "conditions": {"ready": false}}],
            "ports": [{"name": "pg", "port": 5432}]}),
        )
        .unwrap()
    };
    let s = slice(json!({"multicluster.kubernetes.io/service-name": "db",
                         "multicluster.kubernetes.io/source-cluster": "east"}));
    let Some(Change::UpsertMcsSlice(m)) = s.upsert() else {
        panic!()
    };
    assert_eq!(
        (&*m.cluster, &*m.slice.service, m.slice.endpoints.len()),
        ("east", "db", 1)
    );
    // Without the multicluster label it has no place in the zone: the watch deletes it.
    let plain = slice(json!({"kubernetes.io/service-name": "db"}));
    assert!(plain.upsert().is_none());
    match McsSliceObj::delete(&plain.0.metadata) {
        Change::DeleteMcsSlice { namespace, name } => {
            assert_eq!((namespace.as_str(), name.as_str()), ("mc", "db-east"))
        }
        other => panic!("{other:?}"),
    }
}
