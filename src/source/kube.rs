//! Cluster state from a live Kubernetes API server, through kube-rs watchers.
//!
//! One watcher per kind (Services, EndpointSlices unless `noendpoints`, Namespaces, and Pods
//! only with `pods verified`) turns events into [`Change`]s for a single writer task, which owns
//! the [`Store`], applies each batch incrementally and publishes one snapshot per batch. Objects
//! are cut down to the zone model on arrival; no API object is kept.
//!
//! Faults: a dropped watch, `410 Gone` or an unreachable API server make the watcher re-list
//! with backoff, while queries keep being answered from the last good zone. A re-list is applied
//! page by page as it streams in (changed objects updated; once complete, the objects it did not
//! contain deleted): no NXDOMAIN window, every intermediate zone holds each object in a version
//! the API server had, and no second copy of the cluster is held. Before the first complete
//! list nothing is published (questions wait, then SERVFAIL). How long the zone has been
//! possibly stale is in [`SourceStatus`] and logged on recovery.
//!
//! Lists are served from the API server's watch cache (`resourceVersion=0`, as client-go's
//! reflectors and so CoreDNS do), in pages of 500, decoded into the slim types of
//! [`super::objects`].
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::{Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::convert;
use super::list_watch::{run, Target};
use super::manifests::Filter;
use super::objects::{ServiceObj, SliceObj};
use super::proto::{self, ProtoError};
use super::ratelimit::RateLimit;
use crate::config::kubernetes::ApiConfig;
use crate::zone::{Change, Kind, Relist, Store, ZoneHandle};

#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("kubeconfig {path}: {message}")]
    Kubeconfig { path: PathBuf, message: String },
    #[error("not running in a cluster (no service account) and no kubeconfig/endpoint given: {0}")]
    InCluster(String),
    #[error("endpoint {url:?}: {message}")]
    Endpoint { url: String, message: String },
    #[error("cannot build the API client: {0}")]
    Client(String),
}

/// Builds an API client as CoreDNS does: `kubeconfig` (and its context), else `endpoint` (+
/// `tls`), else the in-cluster service account.
pub async fn client(api: &ApiConfig) -> Result<Client, SourceError> {
    let mut config = if let Some((path, context)) = &api.kubeconfig {
        let kc =
            kube::config::Kubeconfig::read_from(path).map_err(|e| SourceError::Kubeconfig {
                path: path.clone(),
                message: e.to_string(),
            })?;
        let opts = kube::config::KubeConfigOptions {
            context: context.clone(),
            ..Default::default()
        };
        kube::Config::from_custom_kubeconfig(kc, &opts)
            .await
            .map_err(|e| SourceError::Kubeconfig {
                path: path.clone(),
                message: e.to_string(),
            })?
    } else if let Some(url) = &api.endpoint {
        let uri: http::Uri =
            url.parse()
                .map_err(|e: http::uri::InvalidUri| SourceError::Endpoint {
                    url: url.clone(),
                    message: e.to_string(),
                })?;
        let mut c = kube::Config::new(uri);
        if let Some((cert, key, ca)) = &api.tls {
            c.auth_info.client_certificate = Some(cert.display().to_string());
            c.auth_info.client_key = Some(key.display().to_string());
            c.root_cert_file = Some(ca.clone());
        }
        c
    } else {
        kube::Config::incluster().map_err(|e| SourceError::InCluster(e.to_string()))?
    };
    // Watches are long-lived: no read timeout on the stream itself (the watcher sets its own
    // server-side timeout and re-watches).
    config.read_timeout = None;
    Client::try_from(config).map_err(|e| SourceError::Client(e.to_string()))
}

/// What the writer hears from the watchers.
pub(super) enum Msg {
    /// A change, with the time the object changed (for the programming-latency metric).
    Change(Kind, Change, Option<SystemTime>),
    /// A (re)list of one kind begins: the objects of the pages that follow replace that kind.
    ListStart(Kind),
    /// Objects of a list in progress, applied as they arrive (while the next page downloads).
    ListPage(Kind, Vec<Change>),
    /// The list is complete: objects of that kind it did not contain are deleted.
    ListDone(Kind),
    /// A watcher failed (it retries with backoff).
    Failed(Kind),
    /// The API answers again for that kind (a one-item list succeeded after a failure).
    Recovered(Kind),
}

/// Health of a source, readable without locks (for readiness and logs); the same facts are
/// exported as metrics (see [`SourceMetrics`]).
#[derive(Debug, Default)]
pub struct SourceStatus {
    /// Every kind has been listed completely at least once.
    pub synced: AtomicBool,
    /// Unix milliseconds since when some watcher has been failing (0: all healthy).
    pub failing_since_ms: AtomicU64,
    /// Unix milliseconds of the last applied batch.
    pub last_change_ms: AtomicU64,
    /// Changes applied since start.
    pub changes: AtomicU64,
}

/// Buckets of the DNS programming latency (seconds), as CoreDNS's
/// `coredns_kubernetes_dns_programming_duration_seconds`.
const PROGRAMMING_BUCKETS: &[f64] = &[
    0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096,
    8.192, 16.384, 32.768, 65.536, 131.072, 262.144, 524.288,
];

/// Service kinds, the label of the programming-latency histogram.
pub const SERVICE_KINDS: [&str; 3] = ["cluster_ip", "headless", "external_name"];

/// The source's metric series, made once.
struct SourceMetrics {
    programming: [Arc<crate::metrics::Histogram>; 3],
    synced: Arc<crate::metrics::Gauge>,
    failing_since: Arc<crate::metrics::Gauge>,
    last_change: Arc<crate::metrics::Gauge>,
}

impl SourceMetrics {
    fn new() -> Self {
        let reg = crate::metrics::global();
        let programming = SERVICE_KINDS.map(|k| {
            reg.seconds(
                "coredns_kubernetes_dns_programming_duration_seconds",
                "Histogram of the time (in seconds) it took to program a dns instance.",
                &[("service_kind", k)],
                PROGRAMMING_BUCKETS,
            )
        });
        Self {
            programming,
            synced: reg.gauge(
                "kdns_kubernetes_synced",
                "1 once every watched kind has been listed completely.",
                &[],
            ),
            failing_since: reg.gauge(
                "kdns_kubernetes_watch_failing_since_seconds",
                "Unix time since when a watch has been failing (the zone is possibly stale since then); 0 when healthy.",
                &[],
            ),
            last_change: reg.gauge(
                "kdns_kubernetes_last_change_seconds",
                "Unix time of the last change applied to the zone.",
                &[],
            ),
        }
    }
}

fn unix_ms(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The latest time an object was written, from its managedFields (else its creation).
pub(super) fn changed_at(meta: &ObjectMeta) -> Option<SystemTime> {
    let newest = meta
        .managed_fields
        .as_deref()
        .unwrap_or_default()
        .iter()
        .filter_map(|m| m.time.as_ref())
        .map(|t| t.0)
        .max()
        .or_else(|| meta.creation_timestamp.as_ref().map(|t| t.0))?;
    let secs = newest.as_second();
    let nanos = newest.subsec_nanosecond();
    if secs < 0 {
        return None;
    }
    Some(UNIX_EPOCH + Duration::new(secs as u64, nanos.max(0) as u32))
}

fn ns_name(meta: &ObjectMeta) -> (String, String) {
    (
        meta.namespace.clone().unwrap_or_else(|| "default".into()),
        meta.name.clone().unwrap_or_default(),
    )
}

/// Decodes one object from its protobuf encoding.
pub(super) type ProtoDecoder<K> = fn(&[u8]) -> Result<K, ProtoError>;

/// Per-kind conversion: an upsert (or None to delete), and the delete for a key.
pub(super) trait Watched:
    Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static
{
    const KIND: Kind;
    const RESOURCE: &'static str;
    /// Decoder of the protobuf encoding, for kinds that ask for it.
    const PROTO: Option<ProtoDecoder<Self>> = None;
    fn upsert(&self) -> Option<Change>;
    fn delete(meta: &ObjectMeta) -> Change;
    /// Events to ignore (a terminating pod keeps its last version, as CoreDNS).
    fn ignore(&self) -> bool {
        false
    }
}

impl Watched for ServiceObj {
    const KIND: Kind = Kind::Service;
    const RESOURCE: &'static str = "services";
    const PROTO: Option<ProtoDecoder<Self>> = Some(proto::service);
    fn upsert(&self) -> Option<Change> {
        Some(Change::UpsertService(convert::service(self)))
    }
    fn delete(meta: &ObjectMeta) -> Change {
        let (namespace, name) = ns_name(meta);
        Change::DeleteService { namespace, name }
    }
}

impl Watched for SliceObj {
    const KIND: Kind = Kind::Slice;
    const RESOURCE: &'static str = "endpointslices.discovery.k8s.io";
    const PROTO: Option<ProtoDecoder<Self>> = Some(proto::slice);
    fn upsert(&self) -> Option<Change> {
        convert::slice(self).map(Change::UpsertSlice)
    }
    fn delete(meta: &ObjectMeta) -> Change {
        let (namespace, name) = ns_name(meta);
        Change::DeleteSlice { namespace, name }
    }
}

impl Watched for core::Namespace {
    const KIND: Kind = Kind::Namespace;
    const RESOURCE: &'static str = "namespaces";
    fn upsert(&self) -> Option<Change> {
        Some(Change::UpsertNamespace(convert::namespace(self)))
    }
    fn delete(meta: &ObjectMeta) -> Change {
        Change::DeleteNamespace {
            name: meta.name.clone().unwrap_or_default(),
        }
    }
}

impl Watched for core::Pod {
    const KIND: Kind = Kind::Pod;
    const RESOURCE: &'static str = "pods";
    fn upsert(&self) -> Option<Change> {
        convert::pod(self).map(Change::UpsertPod)
    }
    fn delete(meta: &ObjectMeta) -> Change {
        let (namespace, name) = ns_name(meta);
        Change::DeletePod { namespace, name }
    }
    fn ignore(&self) -> bool {
        self.metadata.deletion_timestamp.is_some()
    }
}

/// Explains a request error; names the resource and verb for permission errors.
pub(super) fn explain(resource: &str, e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) if s.code == 403 => format!(
            "missing RBAC permission: kdns needs `list` and `watch` on {resource} (cluster-wide); see deploy/rbac.yaml: {}",
            s.message
        ),
        kube::Error::Api(s) if s.code == 401 => format!(
            "not authenticated to the API server (token or client certificate rejected): {}",
            s.message
        ),
        kube::Error::Api(s) => format!("{} ({}, {})", s.message, s.code, s.reason),
        _ => e.to_string(),
    }
}

/// What to watch.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    pub filter: Filter,
    /// Watch Pods (`pods verified`).
    pub pods: bool,
    /// `apiserver_qps`, `apiserver_burst`.
    pub qps: Option<f32>,
    pub burst: Option<u32>,
}

/// Starts the watchers and the writer; returns the status handle.
pub fn spawn(
    client: Client,
    opts: WatchOptions,
    zone: ZoneHandle,
    stop: CancellationToken,
) -> Arc<SourceStatus> {
    let status = Arc::new(SourceStatus::default());
    let (tx, rx) = mpsc::unbounded_channel();
    let labels = (!opts.filter.labels.is_empty()).then(|| opts.filter.labels.as_str().to_string());
    let ns_labels = opts
        .filter
        .namespace_labels
        .as_ref()
        .filter(|s| !s.is_empty())
        .map(|s| s.as_str().to_string());
    let mut kinds = vec![Kind::Service, Kind::Namespace];
    let limit = RateLimit::from_config(opts.qps, opts.burst).map(Arc::new);
    let to = |labels: Option<String>| Target {
        client: client.clone(),
        labels,
        limit: limit.clone(),
        tx: tx.clone(),
        stop: stop.clone(),
    };
    tokio::spawn(run::<ServiceObj>(to(labels.clone())));
    tokio::spawn(run::<core::Namespace>(to(ns_labels)));
    if !opts.filter.noendpoints {
        kinds.push(Kind::Slice);
        tokio::spawn(run::<SliceObj>(to(labels.clone())));
    }
    if opts.pods {
        kinds.push(Kind::Pod);
        tokio::spawn(run::<core::Pod>(to(labels)));
    }
    drop(tx);
    tokio::spawn(writer(rx, kinds, zone, status.clone(), stop));
    status
}

fn kind_index(kind: &str) -> usize {
    SERVICE_KINDS.iter().position(|k| *k == kind).unwrap_or(0)
}

/// Owns the store: applies batches of changes and publishes one snapshot per batch.
async fn writer(
    mut rx: mpsc::UnboundedReceiver<Msg>,
    kinds: Vec<Kind>,
    zone: ZoneHandle,
    status: Arc<SourceStatus>,
    stop: CancellationToken,
) {
    let started = Instant::now();
    let metrics = SourceMetrics::new();
    let mut store = Store::with_versions(zone.versions());
    let mut listed: Vec<Kind> = Vec::new();
    let mut relists: Vec<Relist> = Vec::new();
    let mut failing: Vec<Kind> = Vec::new();
    let mut synced = false;
    loop {
        let first = tokio::select! {
            m = rx.recv() => m,
            _ = stop.cancelled() => return,
        };
        let Some(first) = first else { return };
        let mut batch = vec![first];
        while let Ok(m) = rx.try_recv() {
            batch.push(m);
        }
        let mut changed = 0usize;
        let mut timed: Vec<(usize, SystemTime)> = Vec::new();
        for m in batch {
            match m {
                Msg::Change(source_kind, c, at) => {
                    let kind = match &c {
                        Change::UpsertService(s) => store.service_kind(&s.namespace, &s.name),
                        Change::UpsertSlice(s) => store.service_kind(&s.namespace, &s.service),
                        _ => None,
                    };
                    let applied = store.apply(c);
                    changed += usize::from(applied);
                    if applied {
                        if let Some(at) = at {
                            let kind = kind.unwrap_or("cluster_ip");
                            timed.push((kind_index(kind), at));
                        }
                    }
                    recover(&mut failing, source_kind, &status, &metrics);
                }
                Msg::ListStart(kind) => {
                    relists.retain(|r| r.kind() != kind);
                    relists.push(Relist::new(kind));
                }
                Msg::ListPage(kind, objects) => {
                    let i = match relists.iter().position(|r| r.kind() == kind) {
                        Some(i) => i,
                        None => {
                            relists.push(Relist::new(kind));
                            relists.len() - 1
                        }
                    };
                    changed += store.relist_apply(&mut relists[i], objects);
                }
                Msg::ListDone(kind) => {
                    let Some(i) = relists.iter().position(|r| r.kind() == kind) else {
                        continue;
                    };
                    let relist = relists.swap_remove(i);
                    let n = relist.seen_count();
                    let c = store.relist_finish(relist);
                    changed += c;
                    if !listed.contains(&kind) {
                        listed.push(kind);
                    }
                    tracing::debug!(?kind, objects = n, deleted = c, "list applied");
                    recover(&mut failing, kind, &status, &metrics);
                }
                Msg::Recovered(kind) => recover(&mut failing, kind, &status, &metrics),
                Msg::Failed(kind) => {
                    if !failing.contains(&kind) {
                        failing.push(kind);
                    }
                    let now = unix_ms(SystemTime::now());
                    if status
                        .failing_since_ms
                        .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed)
                        .is_ok()
                    {
                        metrics.failing_since.set((now / 1000) as i64);
                    }
                }
            }
        }
        let now_synced = kinds.iter().all(|k| listed.contains(k));
        if now_synced && !synced {
            synced = true;
            store.set_synced(true);
            status.synced.store(true, Ordering::Relaxed);
            metrics.synced.set(1);
            let z = store.snapshot();
            tracing::info!(
                services = z.service_count(),
                elapsed_ms = started.elapsed().as_millis() as u64,
                "Kubernetes API synced"
            );
        }
        // Before the first sync nothing is published: questions wait for the complete zone.
        if synced && (changed > 0 || !zone.load().synced) {
            zone.publish(store.snapshot());
            let now = SystemTime::now();
            status.last_change_ms.store(unix_ms(now), Ordering::Relaxed);
            status.changes.fetch_add(changed as u64, Ordering::Relaxed);
            metrics.last_change.set((unix_ms(now) / 1000) as i64);
            for (i, at) in timed {
                let took = now.duration_since(at).unwrap_or_default();
                metrics.programming[i].observe_duration(took);
            }
        }
    }
}

/// A watcher delivered again: clear its failure and log how stale the zone may have been.
fn recover(failing: &mut Vec<Kind>, kind: Kind, status: &SourceStatus, metrics: &SourceMetrics) {
    failing.retain(|f| *f != kind);
    if failing.is_empty() {
        let since = status.failing_since_ms.swap(0, Ordering::Relaxed);
        if since != 0 {
            metrics.failing_since.set(0);
            let stale = unix_ms(SystemTime::now()).saturating_sub(since);
            tracing::info!(
                stale_ms = stale,
                "Kubernetes API watch recovered; the zone was possibly stale for {:.1}s",
                stale as f64 / 1000.0
            );
        }
    }
}

impl SourceStatus {
    /// Milliseconds the zone has possibly been stale (a watcher failing), 0 when healthy.
    pub fn staleness_ms(&self) -> u64 {
        match self.failing_since_ms.load(Ordering::Relaxed) {
            0 => 0,
            since => unix_ms(SystemTime::now()).saturating_sub(since),
        }
    }
}
