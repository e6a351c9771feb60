//! List-then-watch of one kind, as client-go's reflector does it, feeding the writer of
//! [`super::kube`] with the messages of [`super::watched`].
//!
//! - **List**: the first one from the API server's watch cache (`resourceVersion=0`), later
//!   ones (after a watch expired with `410 Gone`) as consistent reads, in pages of 500.
//!   Services and EndpointSlices are asked for in protobuf and decoded while the body streams
//!   in ([`super::proto`]); objects reach the writer page by page.
//! - **Watch** from the list's resourceVersion with bookmarks; a watch that ends (server
//!   timeout) is resumed from the last resourceVersion seen, one that expired relists.
//! - **Faults**: a failed request is retried as [`super::retry`] says: soon while the API
//!   server does not answer or, just back, still denies while it starts; with capped
//!   exponential backoff otherwise. The writer hears `Failed` once and `Recovered` at the next
//!   request the API server answers, so staleness is measured exactly. A watch silent for
//!   longer than the server timeout plus 30 s is restarted (half-open connections); one the
//!   server closes within a second is restarted after a pause, never in a busy loop.
//! - **Rate**: with `apiserver_qps`/`apiserver_burst`, every list page and watch start of the
//!   source takes a token from one shared bucket ([`super::ratelimit`]).
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use http::header::{ACCEPT, CONTENT_TYPE};
use http_body_util::BodyExt;
use kube::api::{ListParams, WatchEvent, WatchParams};
use kube::client::Body;
use kube::core::{ObjectList, Status};
use kube::{Api, Client};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::client::explain;
use super::proto::{self, ListDecoder};
use super::ratelimit::RateLimit;
use super::retry::{Fault, Log, Retry, GRACE, UNREACHABLE};
use super::watched::{changed_at, revision, revision_of, Msg, ProtoDecoder, Watched};
use crate::zone::{Change, Revision};

/// Objects handed to the writer at once while a list streams in.
const PAGE: usize = 500;
/// The watch's server-side timeout (client-go picks 5–10 min; CoreDNS the same).
const WATCH_TIMEOUT_S: u32 = 290;
/// How long one list page may take.
const LIST_TIMEOUT: Duration = Duration::from_secs(60);
/// How often the list of a kind the API server does not serve (a CRD not installed) is tried
/// (unit tests: soon).
const ABSENT_RETRY: Duration = Duration::from_millis(if cfg!(test) { 300 } else { 10_000 });

/// Why a list or watch ended.
#[derive(Debug, PartialEq, Eq)]
enum Stop {
    /// The watch ended normally (its server-side timeout): resume from the last version.
    Resume,
    /// The resourceVersion expired (410): relist, nothing is wrong.
    Gone,
    /// The request failed (why, in a sentence); retry as its fault says.
    Failed(Fault, String),
    /// The API server does not serve this optional kind (404): no objects; look again later.
    Missing,
    /// Shutting down, or the writer is gone.
    Exit,
}

/// Where one kind's list-then-watch reports, and what it shares with the other kinds.
pub(super) struct Target {
    /// The API server.
    pub client: Client,
    /// Label selector (`labels`, or `namespace_labels` for Namespaces).
    pub labels: Option<String>,
    /// `apiserver_qps`/`apiserver_burst`, shared by every kind of the source.
    pub limit: Option<Arc<RateLimit>>,
    /// The writer.
    pub tx: mpsc::UnboundedSender<Msg>,
    /// Stops the watcher.
    pub stop: CancellationToken,
}

/// Runs list-then-watch for `K` until `stop`.
pub(super) async fn run<K: Watched>(t: Target) {
    let Target {
        client,
        labels,
        limit,
        tx,
        stop,
    } = t;
    let limit = limit.as_deref();
    let api: Api<K> = Api::all(client.clone());
    let mut rv: Option<String> = None;
    let mut first_list = true;
    let mut failing = false;
    let mut absent = false;
    let mut retry = Retry::default();
    loop {
        let answered = |failing: &mut bool, retry: &mut Retry| {
            retry.answered();
            if std::mem::take(failing) {
                let _ = tx.send(Msg::Recovered(K::KIND));
            }
        };
        let result = match rv.clone() {
            None => {
                let any = std::mem::take(&mut first_list);
                match list::<K>(&client, labels.as_deref(), any, limit, &tx, &stop).await {
                    Ok(v) => {
                        answered(&mut failing, &mut retry);
                        if std::mem::take(&mut absent) {
                            tracing::info!(resource = K::RESOURCE, "the API server serves it now");
                        }
                        rv = Some(v);
                        continue;
                    }
                    Err(e) => e,
                }
            }
            Some(from) => {
                let started = || answered(&mut failing, &mut retry);
                if let Some(l) = limit {
                    l.acquire().await;
                }
                watch(&api, labels.as_deref(), from, &mut rv, &tx, &stop, started).await
            }
        };
        rv = resume_from(&result, rv);
        match result {
            Stop::Exit => return,
            Stop::Resume => {}
            Stop::Gone => {
                tracing::debug!(resource = K::RESOURCE, "resourceVersion expired: relisting");
            }
            Stop::Missing => {
                answered(&mut failing, &mut retry);
                if !missing::<K>(&mut absent, &tx, &stop).await {
                    return;
                }
            }
            Stop::Failed(fault, why) => {
                let wait = retried::<K>(&mut retry, fault, &why);
                if !failing {
                    failing = true;
                    let _ = tx.send(Msg::Failed(K::KIND));
                }
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.cancelled() => return,
                }
            }
        }
    }
}

/// The API server does not serve `K` (its CRD is not installed): the first time in a row, log
/// it and tell the writer the kind has no objects; then wait [`ABSENT_RETRY`]. Returns false
/// when the watcher is to stop.
async fn missing<K: Watched>(
    absent: &mut bool,
    tx: &mpsc::UnboundedSender<Msg>,
    stop: &CancellationToken,
) -> bool {
    if !std::mem::replace(absent, true) {
        tracing::warn!(
            resource = K::RESOURCE,
            "the API server does not serve it (its CustomResourceDefinition is not installed): \
             answering without these objects, looking again every {ABSENT_RETRY:?}"
        );
        if tx.send(Msg::Absent(K::KIND)).is_err() {
            return false;
        }
    }
    tokio::select! {
        _ = tokio::time::sleep(ABSENT_RETRY) => true,
        _ = stop.cancelled() => false,
    }
}

/// Logs a failure as `retry` says; returns how long to wait before trying again.
fn retried<K: Watched>(retry: &mut Retry, fault: Fault, why: &str) -> Duration {
    let next = retry.failed(fault, tokio::time::Instant::now());
    let (resource, wait) = (K::RESOURCE, next.wait);
    match (next.log, fault) {
        (Log::Warn, Fault::Unreachable) => tracing::warn!(
            resource,
            "the API server does not answer; retrying every {UNREACHABLE:?}, serving the last good zone: {why}"
        ),
        (Log::Warn, _) => tracing::warn!(
            resource,
            "watch failed, retrying with backoff; serving the last good zone: {why}"
        ),
        (Log::Debug, _) => tracing::debug!(resource, "failed again, retrying in {wait:?}: {why}"),
        // No verdict on permissions yet: a restarted API server denies until its caches fill.
        (Log::Warming, _) => tracing::debug!(
            resource,
            "denied, as by an API server still starting; retrying in {wait:?} (reported if it \
             lasts {GRACE:?})"
        ),
    }
    wait
}

/// Where the next request starts after a list or watch ended with `stop`: from the last
/// resourceVersion seen (a watch), or from a new list (`None`) once that version expired.
fn resume_from(stop: &Stop, rv: Option<String>) -> Option<String> {
    match stop {
        Stop::Gone | Stop::Missing => None,
        Stop::Resume | Stop::Failed(..) | Stop::Exit => rv,
    }
}

/// Turns a request error into a [`Stop`], naming the verb for permission errors.
fn failed<K: Watched>(verb: &str, e: &kube::Error) -> Stop {
    match e {
        kube::Error::Api(s) if s.code == 410 => Stop::Gone,
        kube::Error::Api(s) if s.code == 404 && K::OPTIONAL => Stop::Missing,
        _ => Stop::Failed(
            Fault::of(e),
            format!("{verb}: {}", explain(K::RESOURCE, "`list` and `watch`", e)),
        ),
    }
}

/// Lists every object of `K` (all pages), sending them to the writer as they decode; returns
/// the list's resourceVersion.
async fn list<K: Watched>(
    client: &Client,
    labels: Option<&str>,
    from_cache: bool,
    limit: Option<&RateLimit>,
    tx: &mpsc::UnboundedSender<Msg>,
    stop: &CancellationToken,
) -> Result<String, Stop> {
    if tx.send(Msg::ListStart(K::KIND)).is_err() {
        return Err(Stop::Exit);
    }
    let url = K::url_path(&(), None);
    let mut continue_token: Option<String> = None;
    loop {
        // From the watch cache the list comes whole (the cache does not page `resourceVersion=0`,
        // and kube drops "0" when a limit is set); from etcd in pages.
        let mut lp = match from_cache {
            true => ListParams::default().match_any(),
            false => ListParams::default().limit(PAGE as u32),
        };
        if let Some(l) = labels {
            lp = lp.labels(l);
        }
        if let Some(t) = &continue_token {
            lp = lp.continue_token(t);
        }
        if let Some(l) = limit {
            tokio::select! {
                _ = l.acquire() => {}
                _ = stop.cancelled() => return Err(Stop::Exit),
            }
        }
        let page = list_page::<K>(client, &url, &lp, tx);
        let meta = tokio::select! {
            r = tokio::time::timeout(LIST_TIMEOUT, page) => match r {
                Ok(r) => r?,
                Err(_) => return Err(Stop::Failed(
                    Fault::Unreachable,
                    format!("list: no complete answer within {LIST_TIMEOUT:?}"),
                )),
            },
            _ = stop.cancelled() => return Err(Stop::Exit),
        };
        match meta.continue_token {
            Some(t) if !t.is_empty() => continue_token = Some(t),
            _ => {
                let at = revision_of(meta.resource_version.as_deref());
                if tx.send(Msg::ListDone(K::KIND, at)).is_err() {
                    return Err(Stop::Exit);
                }
                return Ok(meta.resource_version.unwrap_or_default());
            }
        }
    }
}

/// What a list page says about what follows.
struct PageMeta {
    resource_version: Option<String>,
    continue_token: Option<String>,
}

/// One list request: decodes the body (protobuf as it streams, else JSON) and sends its
/// objects to the writer in chunks of [`PAGE`].
async fn list_page<K: Watched>(
    client: &Client,
    url: &str,
    lp: &ListParams,
    tx: &mpsc::UnboundedSender<Msg>,
) -> Result<PageMeta, Stop> {
    let mut req = kube::core::Request::new(url)
        .list(lp)
        .map_err(|e| Stop::Failed(Fault::Other, format!("list: {e}")))?;
    let accept = match K::PROTO {
        Some(_) => "application/vnd.kubernetes.protobuf, application/json",
        None => "application/json",
    };
    req.headers_mut()
        .insert(ACCEPT, http::HeaderValue::from_static(accept));
    let res = client
        .send(req.map(Body::from))
        .await
        .map_err(|e| failed::<K>("list", &e))?;
    let status = res.status();
    let is_proto = res
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with(proto::CONTENT_TYPE));
    let body = res.into_body();
    if !status.is_success() {
        let bytes = body.collect().await.map_err(read_err)?.to_bytes();
        return Err(failed::<K>("list", &api_error(status, is_proto, &bytes)));
    }
    match (is_proto, K::PROTO) {
        (true, Some(decode)) => proto_page::<K>(body, decode, tx).await,
        _ => json_page::<K>(body, tx).await,
    }
}

/// Hands `chunk` (if not empty) to the writer as part of the list in progress.
fn send_page<K: Watched>(
    tx: &mpsc::UnboundedSender<Msg>,
    chunk: &mut Vec<(Change, Revision)>,
) -> Result<(), Stop> {
    if chunk.is_empty() {
        return Ok(());
    }
    tx.send(Msg::ListPage(K::KIND, std::mem::take(chunk)))
        .map_err(|_| Stop::Exit)
}

fn read_err(e: kube::Error) -> Stop {
    Stop::Failed(Fault::of(&e), format!("list: reading the body: {e}"))
}

/// A protobuf list body, decoded while it streams in.
async fn proto_page<K: Watched>(
    mut body: Body,
    decode: ProtoDecoder<K>,
    tx: &mpsc::UnboundedSender<Msg>,
) -> Result<PageMeta, Stop> {
    let mut chunk: Vec<(Change, Revision)> = Vec::new();
    let mut decoder = ListDecoder::new();
    let proto_err = |e: proto::ProtoError| Stop::Failed(Fault::Other, format!("list: {e}"));
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(read_err)?;
        let Some(data) = frame.data_ref() else {
            continue;
        };
        decoder
            .feed(data, &mut |item| {
                let o = decode(item)?;
                if !o.ignore() {
                    chunk.extend(o.upsert().map(|c| (c, revision(o.meta()))));
                }
                Ok(())
            })
            .map_err(proto_err)?;
        // Hand over what this network read completed, so the writer applies it while
        // the next bytes are on their way.
        if chunk.len() >= PAGE {
            send_page::<K>(tx, &mut chunk)?;
        }
    }
    let meta = decoder.finish().map_err(proto_err)?;
    send_page::<K>(tx, &mut chunk)?;
    Ok(PageMeta {
        resource_version: Some(meta.resource_version),
        continue_token: Some(meta.continue_token),
    })
}

/// A JSON list body, decoded once complete.
async fn json_page<K: Watched>(
    body: Body,
    tx: &mpsc::UnboundedSender<Msg>,
) -> Result<PageMeta, Stop> {
    let bytes = body.collect().await.map_err(read_err)?.to_bytes();
    let list: ObjectList<K> = serde_json::from_slice(&bytes)
        .map_err(|e| Stop::Failed(Fault::Other, format!("list: decoding the JSON answer: {e}")))?;
    let mut chunk: Vec<(Change, Revision)> = Vec::new();
    for o in &list.items {
        if !o.ignore() {
            chunk.extend(o.upsert().map(|c| (c, revision(o.meta()))));
        }
        if chunk.len() >= PAGE {
            send_page::<K>(tx, &mut chunk)?;
        }
    }
    send_page::<K>(tx, &mut chunk)?;
    Ok(PageMeta {
        resource_version: list.metadata.resource_version,
        continue_token: list.metadata.continue_,
    })
}

/// The API server's `Status` of a failed request, in either encoding.
fn api_error(code: http::StatusCode, is_proto: bool, body: &[u8]) -> kube::Error {
    let mut s = if is_proto {
        proto::status(body)
            .map(|(code, reason, message)| Status {
                code,
                reason,
                message,
                ..Default::default()
            })
            .unwrap_or_default()
    } else {
        serde_json::from_slice::<Status>(body).unwrap_or_default()
    };
    if s.code == 0 {
        s.code = code.as_u16();
    }
    if s.message.is_empty() {
        s.message = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
    }
    kube::Error::Api(Box::new(s))
}

/// Watches from `from` until the watch ends; keeps `rv` at the last resourceVersion seen.
async fn watch<K: Watched>(
    api: &Api<K>,
    labels: Option<&str>,
    from: String,
    rv: &mut Option<String>,
    tx: &mpsc::UnboundedSender<Msg>,
    stop: &CancellationToken,
    started: impl FnOnce(),
) -> Stop {
    let mut wp = WatchParams::default().timeout(WATCH_TIMEOUT_S);
    if let Some(l) = labels {
        wp = wp.labels(l);
    }
    let stream = tokio::select! {
        s = api.watch(&wp, &from) => s,
        _ = stop.cancelled() => return Stop::Exit,
    };
    let mut stream = match stream {
        Ok(s) => s.boxed(),
        Err(e) => return failed::<K>("watch", &e),
    };
    started();
    let since = tokio::time::Instant::now();
    let silence = Duration::from_secs(u64::from(WATCH_TIMEOUT_S) + 30);
    loop {
        let next = tokio::select! {
            n = tokio::time::timeout(silence, stream.next()) => n,
            _ = stop.cancelled() => return Stop::Exit,
        };
        let ev = match next {
            Err(_) => {
                let why = format!("watch: nothing received for {silence:?}");
                return Stop::Failed(Fault::Unreachable, why);
            }
            Ok(None) => {
                // A watch the server (or a proxy) closes at once must not become a busy loop.
                if since.elapsed() < Duration::from_secs(1) {
                    tokio::select! {
                        _ = tokio::time::sleep(Duration::from_millis(500)) => {}
                        _ = stop.cancelled() => return Stop::Exit,
                    }
                }
                return Stop::Resume;
            }
            Ok(Some(Err(e))) => return failed::<K>("watch", &e),
            Ok(Some(Ok(ev))) => ev,
        };
        let msg = match event(ev, rv) {
            Event::Send(msg) => msg,
            Event::Skip => continue,
            Event::Stop(stop) => return stop,
        };
        if tx.send(msg).is_err() {
            return Stop::Exit;
        }
    }
}

/// What one watch event asks of the watcher.
enum Event {
    /// Tell the writer.
    Send(Msg),
    /// Nothing to tell (a bookmark, an ignored object).
    Skip,
    /// The watch is over.
    Stop(Stop),
}

/// Handles one watch event: keeps `rv` at the last resourceVersion seen (bookmarks included)
/// and says what to tell the writer; an `ERROR` event with code 410 means relist.
fn event<K: Watched>(ev: WatchEvent<K>, rv: &mut Option<String>) -> Event {
    match ev {
        WatchEvent::Added(o) | WatchEvent::Modified(o) => {
            *rv = o.meta().resource_version.clone().or(rv.take());
            if o.ignore() {
                return Event::Skip;
            }
            let change = o.upsert().unwrap_or_else(|| K::delete(o.meta()));
            let at = revision(o.meta());
            Event::Send(Msg::Change(K::KIND, change, changed_at(o.meta()), at))
        }
        WatchEvent::Deleted(o) => {
            *rv = o.meta().resource_version.clone().or(rv.take());
            // A deleted object comes at the revision of its deletion.
            let at = revision(o.meta());
            Event::Send(Msg::Change(K::KIND, K::delete(o.meta()), None, at))
        }
        WatchEvent::Bookmark(b) => {
            *rv = Some(b.metadata.resource_version);
            Event::Skip
        }
        WatchEvent::Error(s) if s.code == 410 => Event::Stop(Stop::Gone),
        WatchEvent::Error(s) => Event::Stop(failed::<K>("watch", &kube::Error::Api(s))),
    }
}

/// A watch body read as kube's client reads it (one JSON `WatchEvent` per line, `\r\n` or
/// `\n`; a line that is no event but a `Status` is an API error; a cut line is skipped; bytes
/// that are not UTF-8 end the stream) and handled as [`watch`] handles each event: the changes
/// the writer would hear, for each watched kind in turn, up to the event that ends the watch.
#[cfg(any(test, feature = "fuzzing"))]
pub(crate) fn watch_body(body: &[u8]) -> Vec<Change> {
    use super::objects::{ImportObj, McsSliceObj, PodObj, ServiceObj, SliceObj};
    use k8s_openapi::api::core::v1 as core;
    let mut out = Vec::new();
    watch_body_of::<ServiceObj>(body, &mut out);
    watch_body_of::<SliceObj>(body, &mut out);
    watch_body_of::<core::Namespace>(body, &mut out);
    watch_body_of::<PodObj>(body, &mut out);
    watch_body_of::<ImportObj>(body, &mut out);
    watch_body_of::<McsSliceObj>(body, &mut out);
    out
}

#[cfg(any(test, feature = "fuzzing"))]
fn watch_body_of<K: Watched>(body: &[u8], out: &mut Vec<Change>) {
    let mut rv = None;
    for line in body.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let Ok(line) = std::str::from_utf8(line) else {
            return;
        };
        let ev = match serde_json::from_str::<WatchEvent<K>>(line) {
            Ok(ev) => ev,
            Err(e) if e.is_eof() => continue,
            Err(e) => {
                let e = match serde_json::from_str::<Status>(line) {
                    Ok(s) => kube::Error::Api(s.boxed()),
                    Err(_) => kube::Error::SerdeError(e),
                };
                let _ = failed::<K>("watch", &e);
                return;
            }
        };
        match event(ev, &mut rv) {
            Event::Send(Msg::Change(_, change, _, _)) => out.push(change),
            Event::Send(_) | Event::Skip => {}
            Event::Stop(_) => return,
        }
    }
}

#[cfg(test)]
mod tests;
