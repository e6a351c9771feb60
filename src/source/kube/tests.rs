//! The writer: nothing published before every kind was listed, a relist that removes what it
//! no longer holds (without a window where the rest is missing), one snapshot per batch, and
//! the staleness clock; then [`spawn`] end to end against the stand-in API server.
use std::time::Duration;

use serde_json::json;

use super::*;
use crate::source::convert;
use crate::source::fake_api::{list, service, status, watch_event, FakeApi, Reply};
use crate::zone::model::Namespace;

fn svc(name: &str, ip: &str) -> Change {
    let obj: ServiceObj = serde_json::from_value(service(name, "1", ip)).unwrap();
    Change::UpsertService(convert::service(&obj))
}

fn ns(name: &str) -> Change {
    Change::UpsertNamespace(Namespace {
        name: name.into(),
        labels: Vec::new(),
    })
}

/// A full list of `kind` in one page.
fn listed(kind: Kind, objects: Vec<Change>) -> Vec<Msg> {
    vec![
        Msg::ListStart(kind),
        Msg::ListPage(kind, objects.into_iter().map(|c| (c, None)).collect()),
        Msg::ListDone(kind, None),
    ]
}

fn writer() -> (Writer, ZoneHandle, Arc<SourceStatus>) {
    let status = Arc::new(SourceStatus::default());
    let zone = ZoneHandle::default();
    let w = Writer::new(
        vec![Kind::Service, Kind::Namespace],
        status.clone(),
        zone.versions(),
    );
    (w, zone, status)
}

fn names(zone: &ZoneHandle) -> Vec<String> {
    let z = zone.load();
    let mut out: Vec<String> = ["a", "b", "c"]
        .iter()
        .filter(|n| z.service(&format!("{n}.default")).is_some())
        .map(|n| n.to_string())
        .collect();
    out.sort();
    out
}

/// A kind the API server does not serve (`Absent`) counts as listed, with no objects: the zone
/// is published and ready; once served and listed, it is absent again only if the CRD goes.
#[test]
fn an_absent_kind_counts_as_listed_and_empty() {
    let status = Arc::new(SourceStatus::default());
    let zone = ZoneHandle::default();
    let kinds = vec![Kind::Service, Kind::Namespace, Kind::Import];
    let mut w = Writer::new(kinds, status.clone(), zone.versions());
    w.batch(listed(Kind::Service, vec![svc("a", "10.0.0.1")]), &zone);
    w.batch(listed(Kind::Namespace, vec![ns("default")]), &zone);
    assert!(!zone.load().synced, "the ServiceImports are not listed yet");
    w.batch(
        vec![Msg::ListStart(Kind::Import), Msg::Absent(Kind::Import)],
        &zone,
    );
    assert!(zone.load().synced && status.synced.load(Ordering::Relaxed));
    assert_eq!(names(&zone), ["a"]);
    let import: ImportObj = serde_json::from_value(json!({"metadata": {"name": "web"},
        "spec": {"type": "Headless", "ports": [{"port": 80}]}}))
    .unwrap();
    let import = Change::UpsertImport(convert::import(&import));
    w.batch(listed(Kind::Import, vec![import]), &zone);
    assert!(zone.load().import("web.default").is_some());
    w.batch(vec![Msg::Absent(Kind::Import)], &zone);
    assert!(
        zone.load().import("web.default").is_none(),
        "the CRD went: no imports"
    );
    assert_eq!(names(&zone), ["a"]);
}

#[test]
fn nothing_is_published_before_every_kind_was_listed() {
    let (mut w, zone, status) = writer();
    w.batch(listed(Kind::Service, vec![svc("a", "10.0.0.1")]), &zone);
    assert!(!zone.load().synced);
    assert_eq!(
        zone.load().service_count(),
        0,
        "no partial zone is published"
    );
    assert!(!status.synced.load(Ordering::Relaxed));
    w.batch(listed(Kind::Namespace, vec![ns("default")]), &zone);
    let z = zone.load();
    assert!(z.synced);
    assert!(z.service("a.default").is_some());
    assert!(z.namespace("default").is_some());
    assert!(status.synced.load(Ordering::Relaxed));
    assert!(status.last_change_ms.load(Ordering::Relaxed) > 0);
}

#[test]
fn a_relist_removes_what_it_no_longer_holds_once_done() {
    let (mut w, zone, _) = writer();
    let mut first = listed(
        Kind::Service,
        vec![svc("a", "10.0.0.1"), svc("b", "10.0.0.2")],
    );
    first.extend(listed(Kind::Namespace, vec![ns("default")]));
    w.batch(first, &zone);
    assert_eq!(names(&zone), ["a", "b"]);
    // A relist in progress: a changed, c is new; b is still served until the list is done.
    w.batch(
        vec![
            Msg::ListStart(Kind::Service),
            Msg::ListPage(
                Kind::Service,
                vec![(svc("a", "10.0.0.9"), None), (svc("c", "10.0.0.3"), None)],
            ),
        ],
        &zone,
    );
    assert_eq!(names(&zone), ["a", "b", "c"]);
    w.batch(vec![Msg::ListDone(Kind::Service, None)], &zone);
    assert_eq!(names(&zone), ["a", "c"]);
    // The namespaces, not relisted, are untouched.
    assert!(zone.load().namespace("default").is_some());
}

#[test]
fn a_relist_started_again_forgets_the_first_attempt() {
    let (mut w, zone, _) = writer();
    let mut first = listed(
        Kind::Service,
        vec![svc("a", "10.0.0.1"), svc("b", "10.0.0.2")],
    );
    first.extend(listed(Kind::Namespace, vec![]));
    w.batch(first, &zone);
    // A relist that saw b, cut short, then one that does not hold b.
    w.batch(
        vec![
            Msg::ListStart(Kind::Service),
            Msg::ListPage(Kind::Service, vec![(svc("b", "10.0.0.2"), None)]),
        ],
        &zone,
    );
    w.batch(listed(Kind::Service, vec![svc("a", "10.0.0.1")]), &zone);
    assert_eq!(names(&zone), ["a"]);
}

#[test]
fn one_snapshot_per_batch_and_none_without_a_change() {
    let (mut w, zone, status) = writer();
    let mut first = listed(Kind::Service, vec![svc("a", "10.0.0.1")]);
    first.extend(listed(Kind::Namespace, vec![]));
    w.batch(first, &zone);
    let changes = status.changes.load(Ordering::Relaxed);
    let before = zone.load();
    // The same object again changes nothing: nothing is published.
    w.batch(
        vec![Msg::Change(Kind::Service, svc("a", "10.0.0.1"), None, None)],
        &zone,
    );
    assert!(Arc::ptr_eq(&before, &zone.load()));
    assert_eq!(status.changes.load(Ordering::Relaxed), changes);
    let at = Some(SystemTime::now());
    w.batch(
        vec![
            Msg::Change(Kind::Service, svc("b", "10.0.0.2"), at, None),
            Msg::Change(
                Kind::Service,
                Change::DeleteService {
                    namespace: "default".into(),
                    name: "a".into(),
                },
                None,
                None,
            ),
        ],
        &zone,
    );
    assert_eq!(names(&zone), ["b"]);
    assert_eq!(status.changes.load(Ordering::Relaxed), changes + 2);
}

#[test]
fn staleness_runs_while_any_watcher_fails() {
    let (mut w, zone, status) = writer();
    assert_eq!(status.staleness_ms(), 0);
    w.batch(vec![Msg::Failed(Kind::Service)], &zone);
    let since = status.failing_since_ms.load(Ordering::Relaxed);
    assert!(since > 0);
    w.batch(vec![Msg::Failed(Kind::Namespace)], &zone);
    assert_eq!(
        status.failing_since_ms.load(Ordering::Relaxed),
        since,
        "the clock starts at the first failure"
    );
    w.batch(vec![Msg::Recovered(Kind::Service)], &zone);
    assert_eq!(
        status.failing_since_ms.load(Ordering::Relaxed),
        since,
        "namespaces still fail"
    );
    // Any delivery of the failing kind is a recovery.
    w.batch(
        vec![Msg::Change(Kind::Namespace, ns("x"), None, None)],
        &zone,
    );
    assert_eq!(status.failing_since_ms.load(Ordering::Relaxed), 0);
    assert_eq!(status.staleness_ms(), 0);
    w.batch(vec![Msg::Failed(Kind::Service)], &zone);
    w.batch(listed(Kind::Service, vec![]), &zone);
    assert_eq!(
        status.failing_since_ms.load(Ordering::Relaxed),
        0,
        "a list recovers"
    );
}

#[test]
fn programming_latency_is_labelled_by_service_kind() {
    assert_eq!(kind_index("cluster_ip"), 0);
    assert_eq!(kind_index("headless"), 1);
    assert_eq!(kind_index("external_name"), 2);
    assert_eq!(kind_index("anything else"), 0);
}

async fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    for _ in 0..400 {
        if ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("timed out waiting for {what}");
}

/// The watchers and the writer together: a watch event, then an expired watch whose relist
/// no longer holds the first Service.
#[tokio::test]
async fn spawn_serves_the_zone_and_relists_after_gone() {
    let gone = status(410, "Expired", "too old resource version");
    let api = FakeApi::start(vec![
        (
            "/api/v1/services",
            vec![
                list("ServiceList", "10", vec![service("a", "9", "10.0.0.1")]),
                Reply::Events(vec![
                    watch_event("ADDED", service("b", "11", "10.0.0.2")),
                    watch_event("ERROR", gone),
                ]),
                list("ServiceList", "20", vec![service("b", "11", "10.0.0.2")]),
            ],
        ),
        (
            "/api/v1/namespaces",
            vec![list(
                "NamespaceList",
                "3",
                vec![json!({"metadata": {"name": "default", "resourceVersion": "2"}})],
            )],
        ),
    ])
    .await;
    let zone = ZoneHandle::default();
    let stop = CancellationToken::new();
    let opts = WatchOptions {
        filter: Filter {
            noendpoints: true,
            ..Default::default()
        },
        pods: false,
        qps: None,
        burst: None,
        multicluster: false,
    };
    let status = spawn(api.client().await, opts, zone.clone(), stop.clone());
    wait_for("the relist without a", || {
        api.requests("/api/v1/services").len() >= 4 && names(&zone) == ["b"]
    })
    .await;
    assert!(zone.load().synced);
    assert!(status.synced.load(Ordering::Relaxed));
    assert!(zone.load().namespace("default").is_some());
    assert_eq!(status.staleness_ms(), 0, "an expiry is no failure");
    assert!(
        api.requests("/apis/discovery.k8s.io/v1/endpointslices")
            .is_empty(),
        "noendpoints: no slices watched"
    );
    stop.cancel();
}
