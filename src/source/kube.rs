//! Cluster state from a live Kubernetes API server: the watchers and their single writer.
//!
//! One watcher per kind (Services, EndpointSlices unless `noendpoints`, Namespaces, and Pods
//! only with `pods verified`; see [`super::list_watch`]) turns events into [`Change`]s for a
//! single writer task, which owns the [`Store`], applies each batch incrementally and publishes
//! one snapshot per batch. Objects are cut down to the zone model on arrival; no API object is
//! kept.
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
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::core::v1 as core;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::client::ApiClient;
use super::convert::MC_SERVICE_NAME_LABEL;
use super::filter::Filter;
use super::list_watch::{run, Target};
use super::objects::{ImportObj, McsSliceObj, PodObj, ServiceObj, SliceObj};
use super::ratelimit::RateLimit;
use super::watched::Msg;
use crate::zone::{Change, Kind, Relist, Revision, Store, Versions, ZoneHandle};

/// Health of a source, readable without locks (for readiness and logs); the same facts are
/// exported as metrics (`kdns_kubernetes_synced`, `kdns_kubernetes_watch_failing_since_seconds`,
/// `kdns_kubernetes_last_change_seconds`).
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

impl SourceStatus {
    /// Milliseconds the zone has possibly been stale (a watcher failing), 0 when healthy.
    pub fn staleness_ms(&self) -> u64 {
        match self.failing_since_ms.load(Ordering::Relaxed) {
            0 => 0,
            since => unix_ms(SystemTime::now()).saturating_sub(since),
        }
    }
}

/// Buckets of the DNS programming latency (seconds), as CoreDNS's
/// `coredns_kubernetes_dns_programming_duration_seconds`.
const PROGRAMMING_BUCKETS: &[f64] = &[
    0.001, 0.002, 0.004, 0.008, 0.016, 0.032, 0.064, 0.128, 0.256, 0.512, 1.024, 2.048, 4.096,
    8.192, 16.384, 32.768, 65.536, 131.072, 262.144, 524.288,
];

/// Service kinds, the label of the programming-latency histogram.
const SERVICE_KINDS: [&str; 3] = ["cluster_ip", "headless", "external_name"];

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

/// What to watch.
#[derive(Debug, Clone)]
pub struct WatchOptions {
    /// The `labels`, `namespace_labels` and `noendpoints` of the directive.
    pub filter: Filter,
    /// Watch Pods (`pods verified`).
    pub pods: bool,
    /// `apiserver_qps`.
    pub qps: Option<f32>,
    /// `apiserver_burst`.
    pub burst: Option<u32>,
    /// `multicluster`: watch ServiceImports and multicluster EndpointSlices.
    pub multicluster: bool,
}

/// Starts the watchers and the writer; returns the status handle.
pub fn spawn(
    client: ApiClient,
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
        client: client.0.clone(),
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
    if opts.multicluster {
        // CoreDNS: every slice with the label, narrowed by `labels`; ServiceImports all.
        let mcs = match &labels {
            Some(l) => format!("{l},{MC_SERVICE_NAME_LABEL}"),
            None => MC_SERVICE_NAME_LABEL.to_string(),
        };
        kinds.extend([Kind::Import, Kind::McsSlice]);
        tokio::spawn(run::<ImportObj>(to(None)));
        tokio::spawn(run::<McsSliceObj>(to(Some(mcs))));
    }
    if opts.pods {
        kinds.push(Kind::Pod);
        tokio::spawn(run::<PodObj>(to(labels)));
    }
    drop(tx);
    let w = Writer::new(kinds, status.clone(), zone.versions());
    tokio::spawn(writer(rx, w, zone, stop));
    status
}

fn kind_index(kind: &str) -> usize {
    SERVICE_KINDS.iter().position(|k| *k == kind).unwrap_or(0)
}

/// Owns the store: applies batches of changes and publishes one snapshot per batch.
async fn writer(
    mut rx: mpsc::UnboundedReceiver<Msg>,
    mut w: Writer,
    zone: ZoneHandle,
    stop: CancellationToken,
) {
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
        w.batch(batch, &zone);
    }
}

/// What one batch changed.
#[derive(Default)]
struct Applied {
    /// Objects changed (upserts that differed, deletions).
    changed: usize,
    /// (service-kind index, time the object changed) of the applied watch events.
    timed: Vec<(usize, SystemTime)>,
}

/// The writer's state: the store, and what it knows of each kind's lists and failures.
struct Writer {
    store: Store,
    /// The kinds that must be listed before the zone is published.
    kinds: Vec<Kind>,
    /// Kinds listed completely at least once.
    listed: Vec<Kind>,
    /// Lists in progress.
    relists: Vec<Relist>,
    /// Kinds whose watcher is failing.
    failing: Vec<Kind>,
    synced: bool,
    status: Arc<SourceStatus>,
    metrics: SourceMetrics,
    started: Instant,
}

impl Writer {
    /// A writer for `kinds`, drawing namespace versions from the handle it publishes into.
    fn new(kinds: Vec<Kind>, status: Arc<SourceStatus>, versions: Versions) -> Self {
        Self {
            store: Store::with_versions(versions),
            kinds,
            listed: Vec::new(),
            relists: Vec::new(),
            failing: Vec::new(),
            synced: false,
            status,
            metrics: SourceMetrics::new(),
            started: Instant::now(),
        }
    }

    /// Applies one batch and publishes the result into `zone` (once synced).
    fn batch(&mut self, batch: Vec<Msg>, zone: &ZoneHandle) {
        let mut applied = Applied::default();
        for m in batch {
            self.apply(m, &mut applied);
        }
        self.check_synced();
        // Before the first sync nothing is published: questions wait for the complete zone.
        if self.synced && (applied.changed > 0 || !zone.load().synced) {
            self.publish(zone, applied);
        }
    }

    fn apply(&mut self, m: Msg, applied: &mut Applied) {
        match m {
            Msg::Change(source_kind, c, at, revision) => {
                self.change(c, at, revision, applied);
                self.recover(source_kind);
            }
            Msg::ListStart(kind) => {
                self.relists.retain(|r| r.kind() != kind);
                self.relists.push(self.store.relist(kind));
            }
            Msg::ListPage(kind, objects) => {
                let i = match self.relists.iter().position(|r| r.kind() == kind) {
                    Some(i) => i,
                    None => {
                        self.relists.push(self.store.relist(kind));
                        self.relists.len() - 1
                    }
                };
                applied.changed += self.store.relist_apply(&mut self.relists[i], objects);
            }
            Msg::ListDone(kind, revision) => self.list_done(kind, revision, applied),
            Msg::Recovered(kind) => self.recover(kind),
            Msg::Absent(kind) => {
                // Not served at all: an empty complete list (deletes what an earlier one held).
                self.relists.retain(|r| r.kind() != kind);
                self.relists.push(self.store.relist(kind));
                // No revision to say when its objects went: one past the latest.
                self.list_done(kind, None, applied);
            }
            Msg::Failed(kind) => self.failed(kind),
        }
    }

    /// One watch event; timed for the programming-latency metric when it changed the zone.
    fn change(&mut self, c: Change, at: Option<SystemTime>, rev: Revision, applied: &mut Applied) {
        let kind = match &c {
            Change::UpsertService(s) => self.store.service_kind(&s.namespace, &s.name),
            Change::UpsertSlice(s) => self.store.service_kind(&s.namespace, &s.service),
            _ => None,
        };
        // The programming-latency histogram is the cluster's Services' (labelled by their kind).
        let timed = !matches!(
            c,
            Change::UpsertImport(_)
                | Change::DeleteImport { .. }
                | Change::UpsertMcsSlice(_)
                | Change::DeleteMcsSlice { .. }
        );
        if self.store.apply_at(c, rev) {
            applied.changed += 1;
            if let (Some(at), true) = (at, timed) {
                let kind = kind.unwrap_or("cluster_ip");
                applied.timed.push((kind_index(kind), at));
            }
        }
    }

    /// A list is complete: what it did not contain is deleted.
    fn list_done(&mut self, kind: Kind, revision: Revision, applied: &mut Applied) {
        let Some(i) = self.relists.iter().position(|r| r.kind() == kind) else {
            return;
        };
        let relist = self.relists.swap_remove(i);
        let n = relist.seen_count();
        let c = self.store.relist_finish(relist, revision);
        applied.changed += c;
        if !self.listed.contains(&kind) {
            self.listed.push(kind);
        }
        tracing::debug!(?kind, objects = n, deleted = c, "list applied");
        self.recover(kind);
    }

    fn failed(&mut self, kind: Kind) {
        if !self.failing.contains(&kind) {
            self.failing.push(kind);
        }
        let now = unix_ms(SystemTime::now());
        if self
            .status
            .failing_since_ms
            .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_ok()
        {
            self.metrics.failing_since.set((now / 1000) as i64);
        }
    }

    /// A watcher delivered again: clear its failure and log how stale the zone may have been.
    fn recover(&mut self, kind: Kind) {
        self.failing.retain(|f| *f != kind);
        if !self.failing.is_empty() {
            return;
        }
        let since = self.status.failing_since_ms.swap(0, Ordering::Relaxed);
        if since != 0 {
            self.metrics.failing_since.set(0);
            let stale = unix_ms(SystemTime::now()).saturating_sub(since);
            tracing::info!(
                stale_ms = stale,
                "Kubernetes API watch recovered; the zone was possibly stale for {:.1}s",
                stale as f64 / 1000.0
            );
        }
    }

    /// Marks the store synced once every kind has been listed.
    fn check_synced(&mut self) {
        if self.synced || !self.kinds.iter().all(|k| self.listed.contains(k)) {
            return;
        }
        self.synced = true;
        self.store.set_synced(true);
        self.status.synced.store(true, Ordering::Relaxed);
        self.metrics.synced.set(1);
        let z = self.store.snapshot();
        tracing::info!(
            services = z.service_count(),
            elapsed_ms = self.started.elapsed().as_millis() as u64,
            "Kubernetes API synced"
        );
    }

    fn publish(&self, zone: &ZoneHandle, applied: Applied) {
        zone.publish(self.store.snapshot());
        let now = SystemTime::now();
        let status = &self.status;
        status.last_change_ms.store(unix_ms(now), Ordering::Relaxed);
        status
            .changes
            .fetch_add(applied.changed as u64, Ordering::Relaxed);
        self.metrics.last_change.set((unix_ms(now) / 1000) as i64);
        for (i, at) in applied.timed {
            let took = now.duration_since(at).unwrap_or_default();
            self.metrics.programming[i].observe_duration(took);
        }
    }
}

#[cfg(test)]
mod tests;
