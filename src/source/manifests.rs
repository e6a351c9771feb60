//! Cluster state from YAML/JSON manifests on disk, for running without a cluster.
//!
//! Every `*.yaml`, `*.yml` and `*.json` file under a directory (recursively, in path order) is
//! read; multi-document YAML and `kind: List` are supported. Kinds: v1 Namespace, v1 Service,
//! discovery.k8s.io/v1 EndpointSlice, v1 Pod and legacy v1 Endpoints (mirrored into slices
//! for Services without a selector, as the EndpointSlice mirroring controller does). Other
//! kinds are skipped with a debug log. A document that does not parse is an error naming the
//! file, line and column.
//!
//! As in a real cluster, the namespaces `default`, `kube-system`, `kube-public` and
//! `kube-node-lease` always exist, and so does every namespace an object lives in.
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use tokio_util::sync::CancellationToken;

use super::convert;
use super::filter::Filter;
use super::objects::{ImportObj, PodObj, ServiceObj, SliceObj};
use crate::zone::model::{Namespace, ServiceKind};
use crate::zone::{Change, Store, Versions, Zone, ZoneHandle};

/// Where an object was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Location {
    /// The file.
    pub file: PathBuf,
    /// The line the object's document starts on (1-based).
    pub line: usize,
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// A Kubernetes object kdns understands.
#[derive(Debug, Clone)]
pub enum Object {
    /// A v1 Namespace.
    Namespace(Box<core::Namespace>),
    /// A v1 Service.
    Service(Box<core::Service>),
    /// A discovery.k8s.io/v1 EndpointSlice.
    EndpointSlice(Box<discovery::EndpointSlice>),
    /// A legacy v1 Endpoints (mirrored into slices for a Service without a selector).
    Endpoints(Box<core::Endpoints>),
    /// A v1 Pod.
    Pod(Box<core::Pod>),
    /// A `multicluster.x-k8s.io` ServiceImport (read by the `multicluster` zones).
    ServiceImport(Box<ImportObj>),
}

/// An object and where it was read from.
#[derive(Debug, Clone)]
pub struct Located {
    /// Its file and line.
    pub at: Location,
    /// The object.
    pub object: Object,
}

/// Why manifests could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// A file or directory could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A document is not valid YAML/JSON, or not a valid object of its kind.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The line (1-based).
        line: usize,
        /// The column (1-based).
        column: usize,
        /// What is wrong, without serde's own location.
        message: String,
    },
    /// The manifests path is not a directory.
    #[error("{}: not a directory", .0.display())]
    NotADirectory(PathBuf),
}

fn is_manifest(p: &Path) -> bool {
    matches!(
        p.extension().and_then(|e| e.to_str()),
        Some("yaml") | Some("yml") | Some("json")
    )
}

fn walk(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), ManifestError> {
    let io = |source| ManifestError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    entries.sort();
    for p in entries {
        let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with('.') {
            continue; // editor swap files, ConfigMap-mounted ..data links
        }
        if p.is_dir() {
            walk(&p, out)?;
        } else if is_manifest(&p) {
            out.push(p);
        }
    }
    Ok(())
}

/// Reads every manifest under `dir`.
pub fn load_dir(dir: &Path) -> Result<Vec<Located>, ManifestError> {
    if !dir.is_dir() {
        return Err(ManifestError::NotADirectory(dir.to_path_buf()));
    }
    let mut files = Vec::new();
    walk(dir, &mut files)?;
    let mut out = Vec::new();
    for f in files {
        out.extend(load_file(&f)?);
    }
    Ok(out)
}

/// Splits a YAML stream into documents with the (1-based) line each starts on.
fn documents(text: &str) -> Vec<(usize, String)> {
    let mut docs = Vec::new();
    let mut cur = String::new();
    let mut start = 1;
    for (i, line) in text.lines().enumerate() {
        let is_sep = line == "---" || line.starts_with("--- ") || line.starts_with("---\t");
        if is_sep {
            docs.push((start, std::mem::take(&mut cur)));
            // Keep line numbers exact: the separator line becomes an empty line.
            cur.push('\n');
            start = i + 1;
            continue;
        }
        cur.push_str(line);
        cur.push('\n');
    }
    docs.push((start, cur));
    docs
}

/// Reads one manifest file.
pub(crate) fn load_file(path: &Path) -> Result<Vec<Located>, ManifestError> {
    let text = std::fs::read_to_string(path).map_err(|source| ManifestError::Io {
        path: path.to_path_buf(),
        source,
    })?;
    load_text(&text, path)
}

/// The objects of one manifest file's `text`; `path` names it in locations and errors.
pub(crate) fn load_text(text: &str, path: &Path) -> Result<Vec<Located>, ManifestError> {
    let mut out = Vec::new();
    for (start, doc) in documents(text) {
        // `start` is the line of the separator (or 1); the document text keeps a blank line
        // in its place, so serde_yaml's line numbers are relative to `start`.
        let offset = start - 1;
        let perr = |e: serde_yaml::Error| {
            let (line, column) = e
                .location()
                .map(|l| (l.line() + offset, l.column()))
                .unwrap_or((start, 1));
            ManifestError::Parse {
                path: path.to_path_buf(),
                line,
                column,
                message: strip_location(&e.to_string()),
            }
        };
        let value: serde_yaml::Value = serde_yaml::from_str(&doc).map_err(perr)?;
        if value.is_null() {
            continue;
        }
        let first_line = offset
            + 1
            + doc
                .lines()
                .position(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'))
                .unwrap_or(0);
        let at = Location {
            file: path.to_path_buf(),
            line: first_line,
        };
        let err_at = |message: String| ManifestError::Parse {
            path: path.to_path_buf(),
            line: first_line,
            column: 1,
            message,
        };
        let (api, kind) = type_of(&value).map_err(err_at)?;
        if kind.ends_with("List") && value.get("items").is_some() {
            let items = value
                .get("items")
                .and_then(|i| i.as_sequence())
                .cloned()
                .unwrap_or_default();
            for (i, item) in items.into_iter().enumerate() {
                let (api, kind) = type_of(&item).map_err(|m| err_at(format!("items[{i}]: {m}")))?;
                let obj = typed(&api, &kind, item).map_err(|e| {
                    err_at(format!(
                        "items[{i}] ({kind}): {}",
                        strip_location(&e.to_string())
                    ))
                })?;
                if let Some(object) = obj {
                    out.push(Located {
                        at: at.clone(),
                        object,
                    });
                }
            }
            continue;
        }
        if let Some(object) =
            typed(&api, &kind, serde_yaml::Deserializer::from_str(&doc)).map_err(perr)?
        {
            out.push(Located { at, object });
        } else {
            tracing::debug!(%at, %api, %kind, "skipping object of a kind DNS does not use");
        }
    }
    Ok(out)
}

fn strip_location(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

fn type_of(v: &serde_yaml::Value) -> Result<(String, String), String> {
    if !v.is_mapping() {
        return Err("a manifest must be a mapping with apiVersion and kind".into());
    }
    let get = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
    let kind = get("kind").ok_or("missing `kind`")?;
    let api = get("apiVersion").ok_or("missing `apiVersion`")?;
    Ok((api, kind))
}

enum Kind {
    Namespace,
    Service,
    EndpointSlice,
    Endpoints,
    Pod,
    ServiceImport,
}

fn known(api: &str, kind: &str) -> Option<Kind> {
    Some(match (api, kind) {
        ("v1", "Namespace") => Kind::Namespace,
        ("v1", "Service") => Kind::Service,
        ("v1", "Endpoints") => Kind::Endpoints,
        ("v1", "Pod") => Kind::Pod,
        ("discovery.k8s.io/v1", "EndpointSlice") => Kind::EndpointSlice,
        // v1beta1 has the same `spec` (mcs-api's CRD serves both without conversion).
        ("multicluster.x-k8s.io/v1alpha1" | "multicluster.x-k8s.io/v1beta1", "ServiceImport") => {
            Kind::ServiceImport
        }
        _ => return None,
    })
}

/// Deserializes one object of a kind kdns uses, from any serde deserializer (a YAML document
/// keeps its line numbers in errors; a `List` item is a value).
fn typed<'de, D: serde::Deserializer<'de>>(
    api: &str,
    kind: &str,
    d: D,
) -> Result<Option<Object>, D::Error> {
    use serde::Deserialize;
    Ok(Some(match known(api, kind) {
        Some(Kind::Namespace) => Object::Namespace(Box::new(Deserialize::deserialize(d)?)),
        Some(Kind::Service) => Object::Service(Box::new(Deserialize::deserialize(d)?)),
        Some(Kind::EndpointSlice) => Object::EndpointSlice(Box::new(Deserialize::deserialize(d)?)),
        Some(Kind::Endpoints) => Object::Endpoints(Box::new(Deserialize::deserialize(d)?)),
        Some(Kind::Pod) => Object::Pod(Box::new(Deserialize::deserialize(d)?)),
        Some(Kind::ServiceImport) => Object::ServiceImport(Box::new(Deserialize::deserialize(d)?)),
        None => return Ok(None),
    }))
}

/// Namespaces that exist in every cluster.
pub(crate) const BUILTIN_NAMESPACES: [&str; 4] =
    ["default", "kube-system", "kube-public", "kube-node-lease"];

fn labels_of(meta: &ObjectMeta) -> BTreeMap<String, String> {
    meta.labels.clone().unwrap_or_default()
}

fn meta_ns(m: &ObjectMeta) -> String {
    m.namespace.clone().unwrap_or_else(|| "default".into())
}

/// The changes that build a zone from these objects.
pub fn changes(objects: &[Located], filter: &Filter) -> Vec<Change> {
    let mut c = Changes {
        filter,
        selectorless: selectorless(objects),
        out: Vec::new(),
        namespaces: BTreeMap::new(),
        implied: BUILTIN_NAMESPACES.iter().map(|s| s.to_string()).collect(),
    };
    for o in objects {
        c.object(o);
    }
    c.finish()
}

/// Services without a selector, whose hand-written Endpoints get mirrored.
fn selectorless(objects: &[Located]) -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    for o in objects {
        if let Object::Service(s) = &o.object {
            if !convert::has_selector(&ServiceObj::from(&**s)) {
                let ns = meta_ns(&s.metadata);
                out.insert((ns, s.metadata.name.clone().unwrap_or_default()));
            }
        }
    }
    out
}

/// The changes of a set of objects, collected one object at a time.
struct Changes<'a> {
    filter: &'a Filter,
    selectorless: BTreeSet<(String, String)>,
    /// Changes of everything but namespaces, in object order.
    out: Vec<Change>,
    /// Namespaces written down.
    namespaces: BTreeMap<String, Namespace>,
    /// Namespaces that exist because something lives in them (and the built-in ones).
    implied: BTreeSet<String>,
}

impl Changes<'_> {
    fn object(&mut self, o: &Located) {
        let labels = &self.filter.labels;
        match &o.object {
            Object::Namespace(n) => {
                let n = convert::namespace(n);
                self.namespaces.insert(n.name.to_string(), n);
            }
            Object::Service(s) => {
                self.implied.insert(meta_ns(&s.metadata));
                if labels.matches(&labels_of(&s.metadata)) {
                    self.service(o, s);
                }
            }
            Object::EndpointSlice(s) => {
                self.implied.insert(meta_ns(&s.metadata));
                if self.filter.noendpoints || !labels.matches(&labels_of(&s.metadata)) {
                    return;
                }
                let obj = SliceObj::from(&**s);
                let mcs = convert::mcs_slice(&obj).map(Change::UpsertMcsSlice);
                match convert::slice(&obj) {
                    Some(slice) => self.out.push(Change::UpsertSlice(slice)),
                    None if mcs.is_some() => {}
                    None => {
                        tracing::warn!(at = %o.at, "EndpointSlice without label {} or {} (or of addressType FQDN) is ignored", convert::SERVICE_NAME_LABEL, convert::MC_SERVICE_NAME_LABEL)
                    }
                }
                self.out.extend(mcs);
            }
            Object::ServiceImport(i) => {
                self.implied.insert(meta_ns(&i.metadata));
                self.out.push(Change::UpsertImport(convert::import(i)));
            }
            Object::Endpoints(e) => self.endpoints(o, e),
            Object::Pod(p) => {
                self.implied.insert(meta_ns(&p.metadata));
                if labels.matches(&labels_of(&p.metadata)) {
                    self.out
                        .extend(convert::pod(&PodObj::from(&**p)).map(Change::UpsertPod));
                }
            }
        }
    }

    fn service(&mut self, o: &Located, s: &core::Service) {
        let svc = convert::service(&ServiceObj::from(s));
        if matches!(&svc.kind, ServiceKind::ClusterIp(ips) if ips.is_empty()) {
            tracing::warn!(at = %o.at, service = %svc.name, "Service has no clusterIP: its name will have no A/AAAA records (set spec.clusterIP)");
        }
        self.out.push(Change::UpsertService(svc));
    }

    /// Legacy Endpoints, mirrored into slices for a selectorless Service.
    fn endpoints(&mut self, o: &Located, e: &core::Endpoints) {
        let ns = meta_ns(&e.metadata);
        self.implied.insert(ns.clone());
        let name = e.metadata.name.clone().unwrap_or_default();
        if !self.selectorless.contains(&(ns, name.clone())) {
            tracing::info!(at = %o.at, endpoints = %name, "v1 Endpoints not mirrored: its Service is missing or has a selector (write an EndpointSlice instead)");
            return;
        }
        if self.filter.noendpoints || !self.filter.labels.matches(&labels_of(&e.metadata)) {
            return;
        }
        self.out.extend(
            convert::mirror_endpoints(e)
                .into_iter()
                .map(Change::UpsertSlice),
        );
    }

    /// Namespaces first (those the `namespace_labels` selector lets in), then the rest.
    fn finish(self) -> Vec<Change> {
        let Changes {
            filter,
            out,
            mut namespaces,
            implied,
            ..
        } = self;
        for ns in implied {
            namespaces.entry(ns.clone()).or_insert_with(|| Namespace {
                name: Arc::from(ns.as_str()),
                labels: Vec::new(),
            });
        }
        let mut all: Vec<Change> = namespaces
            .into_values()
            .filter(|n| {
                filter.namespace_labels.as_ref().is_none_or(|sel| {
                    sel.matches(
                        &n.labels
                            .iter()
                            .cloned()
                            .collect::<BTreeMap<String, String>>(),
                    )
                })
            })
            .map(Change::UpsertNamespace)
            .collect();
        all.extend(out);
        all
    }
}

/// Loads `dir` into a complete, synced zone, drawing namespace versions from `versions`.
pub(crate) fn build_zone(
    dir: &Path,
    filter: &Filter,
    versions: Versions,
) -> Result<Arc<Zone>, ManifestError> {
    let objects = load_dir(dir)?;
    let mut store = Store::with_versions(versions);
    // Files carry no revision: the serial is the Unix time of the load (a later load, a later
    // serial).
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    for c in changes(&objects, filter) {
        store.apply_at(c, Some(now));
    }
    store.set_synced(true);
    Ok(store.snapshot())
}

/// Watches `dir` and publishes a fresh zone into `handle` after every change (debounced by
/// 100 ms). A directory that no longer loads is logged and the previous zone keeps serving.
/// The watch is in place when this returns; the reloading runs on the returned task.
pub(crate) fn watch(
    dir: PathBuf,
    filter: Filter,
    handle: ZoneHandle,
    stop: CancellationToken,
) -> notify::Result<tokio::task::JoinHandle<()>> {
    use notify::{RecursiveMode, Watcher};
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let mut watcher = notify::recommended_watcher(move |ev: notify::Result<notify::Event>| {
        if ev.is_ok() {
            let _ = tx.send(());
        }
    })?;
    watcher.watch(&dir, RecursiveMode::Recursive)?;
    Ok(tokio::spawn(async move {
        let _watcher = watcher;
        loop {
            tokio::select! {
                ev = rx.recv() => if ev.is_none() { return },
                _ = stop.cancelled() => return,
            }
            // Debounce: editors and `kubectl`-style writers touch files several times.
            tokio::time::sleep(Duration::from_millis(100)).await;
            while rx.try_recv().is_ok() {}
            let d = dir.clone();
            let f = filter.clone();
            let v = handle.versions();
            match tokio::task::spawn_blocking(move || build_zone(&d, &f, v)).await {
                Ok(Ok(zone)) => {
                    tracing::info!(dir = %dir.display(), services = zone.service_count(), "manifests reloaded");
                    handle.publish(zone);
                }
                Ok(Err(e)) => {
                    tracing::error!("manifests reload failed, still serving the previous zone: {e}")
                }
                Err(e) => tracing::error!(error = %e, "manifests reload task failed"),
            }
        }
    }))
}

#[cfg(test)]
mod tests;
