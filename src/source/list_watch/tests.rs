//! List-then-watch: the decisions as pure functions (what a watch event or an error means,
//! where the next request starts), and the whole loop against the stand-in API server of
//! [`crate::source::fake_api`]: resume after a watch ends, relist after `410 Gone` (an `ERROR`
//! event or the HTTP status), bookmarks, failures and recovery.
use std::time::Duration;

use kube::api::WatchEvent;
use serde_json::json;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::*;
use crate::source::fake_api::{bookmark, list, service, status, watch_event, FakeApi, Reply};
use crate::source::objects::{ImportObj, PodObj, ServiceObj};

const SERVICES: &str = "/api/v1/services";

/// A change in a few words: `upsert a.default`, `delete a.default`.
fn change(c: &Change) -> String {
    match c {
        Change::UpsertService(s) => format!("upsert {}.{}", s.name, s.namespace),
        Change::DeleteService { namespace, name } => format!("delete {name}.{namespace}"),
        other => format!("{other:?}"),
    }
}

/// The revision a message carries (the SOA serial's source), as ` @N`.
fn at(r: &Option<u64>) -> String {
    r.map(|r| format!(" @{r}")).unwrap_or_default()
}

/// A message to the writer in a few words.
fn describe(m: &Msg) -> String {
    match m {
        Msg::Change(k, c, _, r) => format!("{k:?} {}{}", change(c), at(r)),
        Msg::ListStart(k) => format!("start {k:?}"),
        Msg::ListPage(k, cs) => {
            let cs: Vec<String> = cs.iter().map(|(c, r)| change(c) + &at(r)).collect();
            format!("page {k:?} [{}]", cs.join(", "))
        }
        Msg::ListDone(k, r) => format!("done {k:?}{}", at(r)),
        Msg::Failed(k) => format!("failed {k:?}"),
        Msg::Recovered(k) => format!("recovered {k:?}"),
        Msg::Absent(k) => format!("absent {k:?}"),
    }
}

fn ev(v: serde_json::Value) -> WatchEvent<ServiceObj> {
    serde_json::from_value(v).unwrap()
}

fn sent(e: Event) -> String {
    match e {
        Event::Send(m) => describe(&m),
        Event::Skip => "skip".into(),
        Event::Stop(s) => format!("stop {s:?}"),
    }
}

#[test]
fn watch_events_keep_the_last_version_seen() {
    let mut rv = Some("10".to_string());
    let e = event::<ServiceObj>(
        ev(watch_event("ADDED", service("a", "11", "10.0.0.1"))),
        &mut rv,
    );
    assert_eq!(sent(e), "Service upsert a.default @11");
    assert_eq!(rv.as_deref(), Some("11"));
    let e = event::<ServiceObj>(
        ev(watch_event("MODIFIED", service("a", "12", "10.0.0.2"))),
        &mut rv,
    );
    assert_eq!(sent(e), "Service upsert a.default @12");
    assert_eq!(rv.as_deref(), Some("12"));
    // A bookmark moves the version on, and tells the writer nothing.
    assert_eq!(
        sent(event::<ServiceObj>(ev(bookmark("15")), &mut rv)),
        "skip"
    );
    assert_eq!(rv.as_deref(), Some("15"));
    let e = event::<ServiceObj>(
        ev(watch_event("DELETED", service("a", "16", "10.0.0.2"))),
        &mut rv,
    );
    // A deletion comes at the revision of the deletion.
    assert_eq!(sent(e), "Service delete a.default @16");
    assert_eq!(rv.as_deref(), Some("16"));
    // An object without a version leaves the last one in place.
    let bare = json!({"metadata": {"name": "b", "namespace": "default"}});
    let e = event::<ServiceObj>(ev(watch_event("ADDED", bare)), &mut rv);
    assert_eq!(sent(e), "Service upsert b.default");
    assert_eq!(rv.as_deref(), Some("16"));
}

#[test]
fn an_expired_watch_relists_and_other_errors_fail() {
    let mut rv = Some("10".to_string());
    let gone = watch_event(
        "ERROR",
        status(410, "Expired", "too old resource version: 10 (20)"),
    );
    assert_eq!(sent(event::<ServiceObj>(ev(gone), &mut rv)), "stop Gone");
    let broken = watch_event("ERROR", status(500, "InternalError", "etcd is down"));
    assert_eq!(
        sent(event::<ServiceObj>(ev(broken), &mut rv)),
        "stop Failed(Other, \"watch: etcd is down (500, InternalError)\")"
    );
    assert_eq!(rv.as_deref(), Some("10"), "errors carry no version");
}

#[test]
fn a_terminating_pod_moves_the_version_but_is_not_sent() {
    let mut rv = None;
    let pod = json!({"type": "MODIFIED", "object": {"metadata": {"name": "p", "namespace": "prod",
        "resourceVersion": "7", "deletionTimestamp": "2026-01-01T00:00:00Z"},
        "status": {"podIP": "10.1.0.9"}}});
    let e: WatchEvent<PodObj> = serde_json::from_value(pod).unwrap();
    assert!(matches!(event::<PodObj>(e, &mut rv), Event::Skip));
    assert_eq!(rv.as_deref(), Some("7"));
}

/// The whole body of a watch, as `watch_body` (the fuzz target's entry) reads it: CRLF and
/// blank lines, a cut last line, a `Status` line, non-UTF-8, an event that ends the watch.
#[test]
fn a_watch_body_reads_line_by_line_until_the_watch_ends() {
    let line = |v: serde_json::Value| format!("{v}");
    let services = |body: &[u8]| {
        let mut out = Vec::new();
        watch_body_of::<ServiceObj>(body, &mut out);
        out.iter().map(change).collect::<Vec<_>>()
    };
    let a = line(watch_event("ADDED", service("a", "11", "10.0.0.1")));
    let late = line(watch_event("ADDED", service("late", "13", "10.0.0.3")));
    let gone = line(watch_event("ERROR", status(410, "Expired", "too old")));
    let body = format!("{a}\r\n\n{}\n{gone}\n{late}\n", line(bookmark("12")));
    assert_eq!(services(body.as_bytes()), ["upsert a.default"]);
    let cut = format!("{a}\n{{\"type\": \"ADD");
    assert_eq!(services(cut.as_bytes()), ["upsert a.default"]);
    let forbidden = line(status(403, "Forbidden", "no"));
    assert_eq!(
        services(format!("{forbidden}\n{a}").as_bytes()),
        [] as [&str; 0]
    );
    let mut bad = b"\xff\n".to_vec();
    bad.extend_from_slice(a.as_bytes());
    assert_eq!(services(&bad), [] as [&str; 0]);
    assert!(
        !watch_body(body.as_bytes()).is_empty(),
        "every kind reads the body"
    );
}

#[test]
fn only_gone_forgets_the_version() {
    let rv = || Some("42".to_string());
    assert_eq!(resume_from(&Stop::Resume, rv()), rv());
    assert_eq!(
        resume_from(&Stop::Failed(Fault::Other, "x".into()), rv()),
        rv()
    );
    assert_eq!(resume_from(&Stop::Exit, rv()), rv());
    assert_eq!(resume_from(&Stop::Gone, rv()), None);
    assert_eq!(
        resume_from(&Stop::Failed(Fault::Other, "x".into()), None),
        None
    );
}

#[test]
fn request_errors_become_stops() {
    let api = |code, reason: &str, message: &str| {
        kube::Error::Api(Box::new(kube::core::Status {
            code,
            reason: reason.into(),
            message: message.into(),
            ..Default::default()
        }))
    };
    assert_eq!(
        failed::<ServiceObj>("list", &api(410, "Gone", "")),
        Stop::Gone
    );
    let Stop::Failed(fault, why) = failed::<ServiceObj>("list", &api(403, "Forbidden", "no"))
    else {
        panic!("403 is a failure");
    };
    assert_eq!(fault, Fault::Denied);
    assert!(
        why.starts_with("list: missing RBAC permission: kdns needs `list` and `watch` on services"),
        "{why}"
    );
}

#[test]
fn error_bodies_in_either_encoding() {
    let json = status(403, "Forbidden", "services is forbidden").to_string();
    let e = api_error(http::StatusCode::FORBIDDEN, false, json.as_bytes());
    let kube::Error::Api(s) = e else { panic!() };
    assert_eq!(
        (s.code, s.reason.as_str(), s.message.as_str()),
        (403, "Forbidden", "services is forbidden")
    );
    // Not a Status: the HTTP code, and the start of the body as the message.
    let e = api_error(http::StatusCode::BAD_GATEWAY, false, b"upstream died");
    let kube::Error::Api(s) = e else { panic!() };
    assert_eq!((s.code, s.message.as_str()), (502, "upstream died"));
    let e = api_error(http::StatusCode::GONE, true, b"garbage");
    let kube::Error::Api(s) = e else { panic!() };
    assert_eq!(s.code, 410);
}

/// Runs list-then-watch of Services against `api`; returns the writer's end and the stop.
async fn watch_services(api: &FakeApi) -> (mpsc::UnboundedReceiver<Msg>, CancellationToken) {
    let (tx, rx) = mpsc::unbounded_channel();
    let stop = CancellationToken::new();
    let target = Target {
        client: api.client().await.0,
        labels: None,
        limit: None,
        tx,
        stop: stop.clone(),
    };
    tokio::spawn(run::<ServiceObj>(target));
    (rx, stop)
}

/// The next `n` messages to the writer, in a few words each.
async fn next(rx: &mut mpsc::UnboundedReceiver<Msg>, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    for _ in 0..n {
        let m = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap_or_else(|_| panic!("no message after {out:?}"))
            .expect("the watcher stopped");
        out.push(describe(&m));
    }
    out
}

/// Waits until `api` saw `n` requests for `path`; returns them.
async fn requests(api: &FakeApi, path: &str, n: usize) -> Vec<String> {
    for _ in 0..200 {
        let seen = api.requests(path);
        if seen.len() >= n {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("fewer than {n} requests: {:?}", api.requests(path));
}

fn has(target: &str, param: &str) -> bool {
    target.split(['?', '&']).skip(1).any(|p| p == param)
}

#[tokio::test]
async fn a_watch_that_ends_resumes_from_the_last_version_seen() {
    let api = FakeApi::start(vec![(
        SERVICES,
        vec![
            list("ServiceList", "10", vec![service("a", "9", "10.0.0.1")]),
            Reply::Events(vec![
                watch_event("ADDED", service("b", "11", "10.0.0.2")),
                bookmark("15"),
            ]),
        ],
    )])
    .await;
    let (mut rx, stop) = watch_services(&api).await;
    assert_eq!(
        next(&mut rx, 4).await,
        [
            "start Service",
            "page Service [upsert a.default @9]",
            "done Service @10",
            "Service upsert b.default @11"
        ]
    );
    let seen = requests(&api, SERVICES, 3).await;
    // The first list is served from the watch cache.
    assert!(has(&seen[0], "resourceVersion=0"), "{seen:?}");
    assert!(!has(&seen[0], "watch=true"), "{seen:?}");
    // The watch starts at the list's version, with bookmarks.
    assert!(has(&seen[1], "watch=true"), "{seen:?}");
    assert!(has(&seen[1], "resourceVersion=10"), "{seen:?}");
    assert!(has(&seen[1], "allowWatchBookmarks=true"), "{seen:?}");
    // It ended: the next watch resumes from the bookmark, with no relist in between.
    assert!(has(&seen[2], "watch=true"), "{seen:?}");
    assert!(has(&seen[2], "resourceVersion=15"), "{seen:?}");
    assert!(rx.try_recv().is_err(), "a resumed watch sends no list");
    stop.cancel();
}

#[tokio::test]
async fn an_expired_watch_event_relists_from_etcd() {
    let gone = status(410, "Expired", "too old resource version: 10 (20)");
    let api = FakeApi::start(vec![(
        SERVICES,
        vec![
            list(
                "ServiceList",
                "10",
                vec![service("a", "9", "10.0.0.1"), service("b", "8", "10.0.0.2")],
            ),
            Reply::Events(vec![watch_event("ERROR", gone)]),
            list("ServiceList", "20", vec![service("a", "19", "10.0.0.1")]),
        ],
    )])
    .await;
    let (mut rx, stop) = watch_services(&api).await;
    assert_eq!(
        next(&mut rx, 6).await,
        [
            "start Service",
            "page Service [upsert a.default @9, upsert b.default @8]",
            "done Service @10",
            // The relist replaces the kind: b, missing from it, goes at `done` (by 20).
            "start Service",
            "page Service [upsert a.default @19]",
            "done Service @20"
        ]
    );
    let seen = requests(&api, SERVICES, 4).await;
    assert!(has(&seen[1], "resourceVersion=10"), "{seen:?}");
    // The relist is a consistent read in pages, not from the cache.
    assert!(!has(&seen[2], "watch=true"), "{seen:?}");
    assert!(!has(&seen[2], "resourceVersion=0"), "{seen:?}");
    assert!(has(&seen[2], "limit=500"), "{seen:?}");
    // And the watch goes on from the relist's version.
    assert!(has(&seen[3], "resourceVersion=20"), "{seen:?}");
    stop.cancel();
}

#[tokio::test]
async fn a_watch_answered_410_relists() {
    let api = FakeApi::start(vec![(
        SERVICES,
        vec![
            list("ServiceList", "10", vec![service("a", "9", "10.0.0.1")]),
            Reply::Json(410, status(410, "Gone", "too old resource version")),
            list("ServiceList", "30", vec![]),
        ],
    )])
    .await;
    let (mut rx, stop) = watch_services(&api).await;
    let msgs = next(&mut rx, 5).await;
    assert_eq!(
        msgs[3..],
        ["start Service", "done Service @30"],
        "an empty relist: {msgs:?}"
    );
    let seen = requests(&api, SERVICES, 4).await;
    assert!(has(&seen[3], "resourceVersion=30"), "{seen:?}");
    stop.cancel();
}

#[tokio::test]
async fn a_failed_watch_retries_from_the_same_version_and_recovers() {
    let api = FakeApi::start(vec![(
        SERVICES,
        vec![
            list("ServiceList", "10", vec![]),
            Reply::Json(500, status(500, "InternalError", "etcd is down")),
        ],
    )])
    .await;
    let (mut rx, stop) = watch_services(&api).await;
    assert_eq!(
        next(&mut rx, 4).await,
        [
            "start Service",
            "done Service @10",
            "failed Service",
            "recovered Service"
        ]
    );
    let seen = requests(&api, SERVICES, 3).await;
    assert!(has(&seen[1], "resourceVersion=10"), "{seen:?}");
    assert!(
        has(&seen[2], "resourceVersion=10"),
        "a failure is no expiry: {seen:?}"
    );
    assert!(has(&seen[2], "watch=true"), "{seen:?}");
    stop.cancel();
}

#[tokio::test]
async fn a_refused_list_fails_once_and_recovers_at_the_next_answer() {
    let api = FakeApi::start(vec![(
        SERVICES,
        vec![
            Reply::Json(403, status(403, "Forbidden", "services is forbidden")),
            Reply::Json(403, status(403, "Forbidden", "services is forbidden")),
            list("ServiceList", "5", vec![service("a", "4", "10.0.0.1")]),
        ],
    )])
    .await;
    let (mut rx, stop) = watch_services(&api).await;
    assert_eq!(
        next(&mut rx, 6).await,
        [
            "start Service",
            "failed Service",
            "start Service",
            "start Service",
            "page Service [upsert a.default @4]",
            "done Service @5"
        ]
    );
    assert_eq!(next(&mut rx, 1).await, ["recovered Service"]);
    let seen = requests(&api, SERVICES, 3).await;
    // The second try after a failure is no longer the first list: a consistent read.
    assert!(has(&seen[0], "resourceVersion=0"), "{seen:?}");
    assert!(has(&seen[2], "limit=500"), "{seen:?}");
    stop.cancel();
}

#[tokio::test]
async fn stopping_ends_the_watcher() {
    let api = FakeApi::start(vec![(SERVICES, vec![list("ServiceList", "1", vec![])])]).await;
    let (mut rx, stop) = watch_services(&api).await;
    assert_eq!(next(&mut rx, 2).await, ["start Service", "done Service @1"]);
    requests(&api, SERVICES, 2).await; // the watch is open
    stop.cancel();
    let end = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await;
    assert!(matches!(end, Ok(None)), "the watcher dropped its sender");
}

/// A log of this thread's tracing events (the test's runtime), debug and up.
#[derive(Clone, Default)]
struct Captured(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    /// Starts capturing the events of this thread until the guard drops.
    fn start() -> (Captured, tracing::subscriber::DefaultGuard) {
        let log = Captured::default();
        let w = log.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_ansi(false)
            .with_writer(move || w.clone())
            .finish();
        (log, tracing::subscriber::set_default(subscriber))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// Messages to the writer until `last`, in a few words each.
async fn until(rx: &mut mpsc::UnboundedReceiver<Msg>, last: &str) -> Vec<String> {
    let mut out = Vec::new();
    while out.last().map(String::as_str) != Some(last) {
        out.extend(next(rx, 1).await);
    }
    out
}

fn forbidden() -> Reply {
    Reply::Json(
        403,
        status(
            403,
            "Forbidden",
            "services is forbidden: User \"dns\" cannot list resource \"services\"",
        ),
    )
}

#[tokio::test]
async fn an_unreachable_api_server_is_tried_again_within_half_a_second() {
    let mut script = vec![Reply::HangUp; 6];
    script.push(list(
        "ServiceList",
        "5",
        vec![service("a", "4", "10.0.0.1")],
    ));
    let api = FakeApi::start(vec![(SERVICES, script)]).await;
    let t0 = std::time::Instant::now();
    let (mut rx, stop) = watch_services(&api).await;
    let msgs = until(&mut rx, "recovered Service").await;
    let took = t0.elapsed();
    assert_eq!(msgs.iter().filter(|m| *m == "failed Service").count(), 1);
    assert_eq!(msgs.iter().filter(|m| *m == "start Service").count(), 7);
    assert!(msgs.contains(&"page Service [upsert a.default @4]".to_string()));
    // 6 retries at 320–480 ms; with the backoff of other errors 250 ms → 8 s, 15.75 s.
    let times = api.request_times(SERVICES);
    let gaps: Vec<Duration> = times[..7].windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.iter().all(|g| *g < Duration::from_millis(800)),
        "{gaps:?}"
    );
    assert!(took < Duration::from_secs(4), "{took:?}, gaps {gaps:?}");
    stop.cancel();
}

#[tokio::test]
async fn a_denial_that_passes_is_retried_soon_and_not_called_missing_permission() {
    let (log, _guard) = Captured::start();
    let mut script = vec![forbidden(); 4];
    script.push(list(
        "ServiceList",
        "5",
        vec![service("a", "4", "10.0.0.1")],
    ));
    let api = FakeApi::start(vec![(SERVICES, script)]).await;
    let t0 = std::time::Instant::now();
    let (mut rx, stop) = watch_services(&api).await;
    let msgs = until(&mut rx, "recovered Service").await;
    let took = t0.elapsed();
    assert_eq!(msgs.iter().filter(|m| *m == "failed Service").count(), 1);
    // 4 retries at 200–300 ms; with the backoff of other errors 250 ms → 2 s, 3.75 s.
    assert!(took < Duration::from_secs(2), "{took:?}");
    let log = log.text();
    assert_eq!(
        log.matches("denied, as by an API server still starting")
            .count(),
        4,
        "{log}"
    );
    assert!(!log.contains("missing RBAC permission"), "{log}");
    assert!(!log.contains(" WARN "), "{log}");
    stop.cancel();
}

#[tokio::test]
async fn a_denial_that_lasts_is_reported_as_missing_permission_after_the_grace() {
    let (log, _guard) = Captured::start();
    let api = FakeApi::start(vec![(SERVICES, vec![forbidden(); 60])]).await;
    let t0 = std::time::Instant::now();
    let (mut rx, stop) = watch_services(&api).await;
    let reported = loop {
        if log.text().contains("missing RBAC permission") {
            break t0.elapsed();
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "{}", log.text());
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    assert!(reported >= GRACE, "{reported:?}");
    assert!(reported < GRACE + Duration::from_secs(2), "{reported:?}");
    let text = log.text();
    let warning = text
        .lines()
        .find(|l| l.contains("missing RBAC permission"))
        .unwrap();
    assert!(warning.contains(" WARN "), "{warning}");
    assert!(
        warning.contains("kdns needs `list` and `watch` on services"),
        "{warning}"
    );
    // Tried again at the warming cadence during the grace, not backing off.
    let tries = api.requests(SERVICES).len();
    assert!(tries >= 15, "{tries} requests in {reported:?}");
    let warned = |l: &&str| l.contains(" WARN ") && l.contains("missing RBAC permission");
    assert_eq!(text.lines().filter(warned).count(), 1, "{text}");
    assert_eq!(next(&mut rx, 2).await, ["start Service", "failed Service"]);
    stop.cancel();
}

const IMPORTS: &str = "/apis/multicluster.x-k8s.io/v1alpha1/serviceimports";

/// A kind from a CRD that is not installed (404 on its list): the writer hears once that it has
/// no objects (never "failed"), and the list is tried again until the CRD is there.
#[tokio::test]
async fn an_optional_kind_not_served_is_absent_once_then_found() {
    let not_found = status(
        404,
        "NotFound",
        "the server could not find the requested resource",
    );
    let import = json!({"metadata": {"name": "web", "namespace": "mc", "resourceVersion": "4"},
        "spec": {"type": "ClusterSetIP", "ips": ["10.42.0.1"], "ports": [{"port": 80}]}});
    let api = FakeApi::start(vec![(
        IMPORTS,
        vec![
            Reply::Json(404, not_found.clone()),
            Reply::Json(404, not_found),
            list("ServiceImportList", "5", vec![import]),
        ],
    )])
    .await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let stop = CancellationToken::new();
    let target = Target {
        client: api.client().await.0,
        labels: None,
        limit: None,
        tx,
        stop: stop.clone(),
    };
    tokio::spawn(run::<ImportObj>(target));
    let got = next(&mut rx, 6).await;
    assert_eq!(got[..2], ["start Import", "absent Import"], "{got:?}");
    // The second 404 is not reported again; the list that works is a normal one.
    assert_eq!(got[2], "start Import", "{got:?}");
    assert_eq!(got[3], "start Import", "{got:?}");
    assert!(got[4].starts_with("page Import [UpsertImport"), "{got:?}");
    assert!(got[4].ends_with("@4]"), "the import's revision: {got:?}");
    assert_eq!(got[5], "done Import @5", "{got:?}");
    stop.cancel();
}

/// A 404 on a kind every cluster serves is a failure like any other.
#[tokio::test]
async fn a_required_kind_not_served_fails() {
    let not_found = status(
        404,
        "NotFound",
        "the server could not find the requested resource",
    );
    let api = FakeApi::start(vec![(SERVICES, vec![Reply::Json(404, not_found)])]).await;
    let (mut rx, stop) = watch_services(&api).await;
    assert_eq!(next(&mut rx, 2).await, ["start Service", "failed Service"]);
    stop.cancel();
}
