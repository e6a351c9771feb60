//! The writer side of the zone: [`Store`] applies each [`Change`] a source reports and hands
//! out immutable [`Zone`] snapshots.
//!
//! The maps are [`Layered`](super::layered): a snapshot is O(1) to take and a change costs
//! O(1) amortized plus the size of the one object that changed — never the size of the
//! cluster. Relists of a whole kind ([`Relist`]) are applied page by page.
use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::IpAddr;
use std::sync::Arc;

use super::index::{index_add, index_remove};
use super::layered::Hasher;
use super::mc_store::McStore;
use super::model::{service_key, Import, McsSlice, Namespace, Pod, Service, ServiceKind, Slice};
use super::snapshot::{PodId, Versions, Zone};

#[cfg(test)]
mod tests;

/// One change to the cluster state, as a source reports it.
#[derive(Debug, Clone)]
pub enum Change {
    /// A Service was added or changed.
    UpsertService(Service),
    /// A Service is gone.
    DeleteService {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// An EndpointSlice was added or changed.
    UpsertSlice(Slice),
    /// An EndpointSlice is gone.
    DeleteSlice {
        /// Its namespace.
        namespace: String,
        /// Its name (the slice's, not the service's).
        name: String,
    },
    /// A Namespace was added or changed.
    UpsertNamespace(Namespace),
    /// A Namespace is gone.
    DeleteNamespace {
        /// Its name.
        name: String,
    },
    /// A Pod was added or changed.
    UpsertPod(Pod),
    /// A Pod is gone.
    DeletePod {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// A ServiceImport was added or changed (`multicluster`).
    UpsertImport(Import),
    /// A ServiceImport is gone.
    DeleteImport {
        /// Its namespace.
        namespace: String,
        /// Its name.
        name: String,
    },
    /// A multicluster EndpointSlice was added or changed.
    UpsertMcsSlice(McsSlice),
    /// A multicluster EndpointSlice is gone.
    DeleteMcsSlice {
        /// Its namespace.
        namespace: String,
        /// Its name (the slice's).
        name: String,
    },
}

/// Kinds of objects a source delivers (for whole-kind relists).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Services.
    Service,
    /// EndpointSlices.
    Slice,
    /// Namespaces.
    Namespace,
    /// Pods.
    Pod,
    /// ServiceImports (`multicluster`).
    Import,
    /// EndpointSlices of multicluster services.
    McsSlice,
}

/// The writer side: owned by one source task, never touched by queries.
#[derive(Default)]
pub struct Store {
    /// The state as the next snapshot shows it.
    zone: Zone,
    /// (namespace, slice name) → slice, to find the old version on update/delete.
    slices: HashMap<(Arc<str>, Arc<str>), Arc<Slice>, Hasher>,
    /// service key → slice name → slice.
    slices_by_svc: HashMap<Arc<str>, BTreeMap<Arc<str>, Arc<Slice>>, Hasher>,
    /// (namespace, pod name) → the pod's addresses, to find them again on update/delete.
    pods: HashMap<PodId, PodIps, Hasher>,
    /// One shared string per namespace for the pods' keys (a source makes one per object).
    pod_namespaces: HashSet<Arc<str>, Hasher>,
    /// The latest revision that changed the zone, and the multicluster zone (see [`Revision`]).
    revision: u64,
    mc_revision: u64,
    /// The multicluster slices, to find the old version on update/delete.
    mc: McStore,
}

/// A pod's addresses as the store keeps them: one in place (a single-stack pod, nearly all of
/// them), else a boxed list. With the pod's key and its index entry this is all a pod costs
/// (`examples/zone_mem`).
#[derive(Debug, Clone, PartialEq, Eq)]
enum PodIps {
    One(IpAddr),
    Many(Box<[IpAddr]>),
}

impl PodIps {
    fn of(ips: &[IpAddr]) -> Self {
        match ips {
            [one] => PodIps::One(*one),
            many => PodIps::Many(many.into()),
        }
    }

    fn as_slice(&self) -> &[IpAddr] {
        match self {
            PodIps::One(ip) => std::slice::from_ref(ip),
            PodIps::Many(ips) => ips,
        }
    }
}

/// Where the cluster state stood when a change was made: the API server's `resourceVersion`
/// (an etcd revision, the same for every watcher of one API server), or any number that grows
/// for a source without one (the manifests source uses Unix seconds). `None`: unknown, taken as
/// one past the latest.
///
/// The SOA serial is the latest revision that changed the zone (its low 32 bits, RFC 1982
/// arithmetic): two replicas that have seen the same changes answer the same serial, and a
/// higher serial means a newer state — unlike CoreDNS's serial, each replica's own clock.
pub type Revision = Option<u64>;

/// The addresses a Service has in the `svc_by_ip` index.
fn cluster_ips(s: &Service) -> &[IpAddr] {
    match &s.kind {
        ServiceKind::ClusterIp(ips) => ips,
        _ => &[],
    }
}

/// The endpoint addresses of one service's slices, sorted, once each.
fn slice_ips(slices: &BTreeMap<Arc<str>, Arc<Slice>>) -> Vec<IpAddr> {
    let mut ips: Vec<IpAddr> = slices
        .values()
        .flat_map(|s| s.endpoints.iter().map(|e| e.ip))
        .collect();
    ips.sort_unstable();
    ips.dedup();
    ips
}

/// A relist of one kind in progress, applied page by page as the list streams in: upserts are
/// applied as they arrive (each object is its latest version), and [`Store::relist_finish`]
/// deletes the objects of that kind the list did not contain. Only the keys seen are held,
/// never a second copy of the objects — and none at all when the store held nothing of the
/// kind as the list began (the first list at start): then nothing can be left over.
#[derive(Debug)]
pub struct Relist {
    kind: Kind,
    /// The store held no object of `kind` when the list began.
    fresh: bool,
    /// (namespace, name) of every object listed so far (`""` as the namespace of a
    /// Namespace); not kept for a fresh list.
    seen: HashSet<(Arc<str>, Arc<str>), Hasher>,
    /// Objects listed so far.
    listed: usize,
}

impl Relist {
    /// The kind being relisted.
    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// Objects listed so far.
    pub fn seen_count(&self) -> usize {
        self.listed
    }
}

impl Store {
    /// An empty store with a version source of its own (tests, one-off zones).
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty store drawing namespace versions from `versions`: the source of the handle it
    /// publishes into ([`ZoneHandle::versions`](super::handle::ZoneHandle::versions)).
    pub fn with_versions(versions: Versions) -> Self {
        let mut s = Self::default();
        s.zone.versions = versions;
        s
    }

    /// Applies one change one past the latest revision; returns whether the zone changed.
    pub fn apply(&mut self, change: Change) -> bool {
        self.apply_at(change, None)
    }

    /// Applies one change made at `revision`; returns whether the zone changed (and so the
    /// serial may have moved: it never goes back).
    pub fn apply_at(&mut self, change: Change, revision: Revision) -> bool {
        let ns: Option<Arc<str>> = match &change {
            Change::UpsertService(s) => Some(s.namespace.clone()),
            Change::UpsertSlice(s) => Some(s.namespace.clone()),
            Change::UpsertNamespace(n) => Some(n.name.clone()),
            Change::UpsertImport(i) => Some(i.namespace.clone()),
            Change::UpsertMcsSlice(s) => Some(s.slice.namespace.clone()),
            Change::DeleteService { namespace, .. }
            | Change::DeleteSlice { namespace, .. }
            | Change::DeleteImport { namespace, .. }
            | Change::DeleteMcsSlice { namespace, .. } => Some(Arc::from(namespace.as_str())),
            Change::DeleteNamespace { name } => Some(Arc::from(name.as_str())),
            // Pods decide pod names only, which are never namespace-scoped.
            Change::UpsertPod(_) | Change::DeletePod { .. } => None,
        };
        let multicluster = matches!(
            change,
            Change::UpsertImport(_)
                | Change::DeleteImport { .. }
                | Change::UpsertMcsSlice(_)
                | Change::DeleteMcsSlice { .. }
        );
        let changed = match change {
            Change::UpsertService(s) => self.upsert_service(s),
            Change::DeleteService { namespace, name } => self.delete_service(&namespace, &name),
            Change::UpsertSlice(s) => self.upsert_slice(s),
            Change::DeleteSlice { namespace, name } => self.delete_slice(&namespace, &name),
            Change::UpsertNamespace(n) => {
                let old = self
                    .zone
                    .namespaces
                    .insert(n.name.clone(), Arc::new(n.clone()));
                old.as_deref() != Some(&n)
            }
            Change::DeleteNamespace { name } => self
                .zone
                .namespaces
                .remove(&Arc::from(name.as_str()))
                .is_some(),
            Change::UpsertPod(p) => self.upsert_pod(p),
            Change::DeletePod { namespace, name } => self.delete_pod(&namespace, &name),
            Change::UpsertImport(i) => McStore::upsert_import(&mut self.zone, i),
            Change::DeleteImport { namespace, name } => {
                McStore::delete_import(&mut self.zone, &namespace, &name)
            }
            Change::UpsertMcsSlice(s) => self.mc.upsert_slice(&mut self.zone, s),
            Change::DeleteMcsSlice { namespace, name } => {
                self.mc.delete_slice(&mut self.zone, &namespace, &name)
            }
        };
        if changed {
            self.advance(revision, multicluster);
            if let Some(ns) = ns {
                let v = self.zone.versions.next();
                self.zone.ns_versions.insert(ns, v);
            }
        }
        changed
    }

    /// Moves the serial (of the multicluster zone, or the cluster's) to `revision` if that is
    /// later (unknown: one past the latest).
    fn advance(&mut self, revision: Revision, multicluster: bool) {
        let (latest, serial) = match multicluster {
            true => (&mut self.mc_revision, &mut self.zone.mc_serial),
            false => (&mut self.revision, &mut self.zone.serial),
        };
        *latest = match revision {
            Some(r) => (*latest).max(r),
            None => *latest + 1,
        };
        // RFC 1982: the serial is the revision's low 32 bits.
        *serial = *latest as u32;
    }

    /// Replaces every object of `kind` with `upserts` (a fresh list after a relist): changed
    /// objects are updated, missing ones deleted, unchanged ones untouched — so the zone never
    /// goes through an empty state and nothing is held twice. Returns how many changed.
    pub fn replace_kind(&mut self, kind: Kind, upserts: Vec<Change>) -> usize {
        let mut relist = self.relist(kind);
        let upserts = upserts.into_iter().map(|c| (c, None)).collect();
        let changed = self.relist_apply(&mut relist, upserts);
        changed + self.relist_finish(relist, None)
    }

    /// A relist of `kind` starting now (see [`Relist`]).
    pub fn relist(&self, kind: Kind) -> Relist {
        let holds_none = match kind {
            Kind::Service => self.zone.services.is_empty(),
            Kind::Slice => self.slices.is_empty(),
            Kind::Namespace => self.zone.namespaces.is_empty(),
            Kind::Pod => self.pods.is_empty(),
            Kind::Import => self.zone.imports.is_empty(),
            Kind::McsSlice => self.mc.slice_ids().next().is_none(),
        };
        Relist {
            kind,
            fresh: holds_none,
            seen: HashSet::default(),
            listed: 0,
        }
    }

    /// Applies one page of a relist in progress (see [`Relist`]), each object with the
    /// revision it was last written at; returns how many changed.
    pub fn relist_apply(&mut self, relist: &mut Relist, upserts: Vec<(Change, Revision)>) -> usize {
        let mut changed = 0;
        for (c, revision) in upserts {
            let id = match &c {
                Change::UpsertService(s) => (s.namespace.clone(), s.name.clone()),
                Change::UpsertSlice(s) => (s.namespace.clone(), s.name.clone()),
                Change::UpsertNamespace(n) => (Arc::from(""), n.name.clone()),
                Change::UpsertPod(p) => (p.namespace.clone(), p.name.clone()),
                Change::UpsertImport(i) => (i.namespace.clone(), i.name.clone()),
                Change::UpsertMcsSlice(s) => (s.slice.namespace.clone(), s.slice.name.clone()),
                _ => continue,
            };
            relist.listed += 1;
            if !relist.fresh {
                relist.seen.insert(id);
            }
            changed += usize::from(self.apply_at(c, revision));
        }
        changed
    }

    /// Ends a relist: deletes every object of its kind that the list did not contain. Those
    /// deletions happened by the list's own `revision`, the latest bound known for them.
    pub fn relist_finish(&mut self, relist: Relist, revision: Revision) -> usize {
        if relist.fresh {
            return 0; // everything of the kind came from this list
        }
        let seen = |ns: &Arc<str>, n: &Arc<str>| relist.seen.contains(&(ns.clone(), n.clone()));
        let cluster = Arc::<str>::from("");
        let stale: Vec<Change> = match relist.kind {
            Kind::Service => self
                .zone
                .services
                .values()
                .filter(|s| !seen(&s.namespace, &s.name))
                .map(|s| Change::DeleteService {
                    namespace: s.namespace.to_string(),
                    name: s.name.to_string(),
                })
                .collect(),
            Kind::Slice => self
                .slices
                .keys()
                .filter(|(ns, n)| !seen(ns, n))
                .map(|(ns, n)| Change::DeleteSlice {
                    namespace: ns.to_string(),
                    name: n.to_string(),
                })
                .collect(),
            Kind::Namespace => self
                .zone
                .namespaces
                .keys()
                .filter(|n| !seen(&cluster, n))
                .map(|n| Change::DeleteNamespace {
                    name: n.to_string(),
                })
                .collect(),
            Kind::Pod => self
                .pods
                .keys()
                .filter(|(ns, n)| !seen(ns, n))
                .map(|(ns, n)| Change::DeletePod {
                    namespace: ns.to_string(),
                    name: n.to_string(),
                })
                .collect(),
            Kind::Import => self
                .zone
                .imports
                .values()
                .filter(|i| !seen(&i.namespace, &i.name))
                .map(|i| Change::DeleteImport {
                    namespace: i.namespace.to_string(),
                    name: i.name.to_string(),
                })
                .collect(),
            Kind::McsSlice => self
                .mc
                .slice_ids()
                .filter(|(ns, n)| !seen(ns, n))
                .map(|(ns, n)| Change::DeleteMcsSlice {
                    namespace: ns.to_string(),
                    name: n.to_string(),
                })
                .collect(),
        };
        let mut changed = 0;
        for c in stale {
            changed += usize::from(self.apply_at(c, revision));
        }
        changed
    }

    /// The kind of the service a change is about (for the programming-latency metric).
    pub fn service_kind(&self, namespace: &str, name: &str) -> Option<&'static str> {
        let key = service_key(name, namespace);
        self.zone.services.get(&key).map(|s| match s.kind {
            ServiceKind::ClusterIp(_) => "cluster_ip",
            ServiceKind::Headless => "headless",
            ServiceKind::ExternalName(_) => "external_name",
        })
    }

    /// Marks the state complete (the first full list has been applied).
    pub fn set_synced(&mut self, synced: bool) {
        self.zone.synced = synced;
    }

    /// An immutable snapshot of the current state: O(1).
    pub fn snapshot(&self) -> Arc<Zone> {
        Arc::new(self.zone.clone())
    }

    fn upsert_service(&mut self, s: Service) -> bool {
        let key = service_key(&s.name, &s.namespace);
        if let Some(old) = self.zone.services.get(&key) {
            if **old == s {
                return false;
            }
            let old = old.clone();
            for ip in cluster_ips(&old) {
                index_remove(&mut self.zone.svc_by_ip, ip, &key);
            }
        }
        for ip in cluster_ips(&s) {
            index_add(&mut self.zone.svc_by_ip, *ip, key.clone());
        }
        self.zone.services.insert(key, Arc::new(s));
        true
    }

    fn delete_service(&mut self, namespace: &str, name: &str) -> bool {
        let key = service_key(name, namespace);
        match self.zone.services.remove(&key) {
            Some(old) => {
                for ip in cluster_ips(&old) {
                    index_remove(&mut self.zone.svc_by_ip, ip, &key);
                }
                true
            }
            None => false,
        }
    }

    fn upsert_slice(&mut self, s: Slice) -> bool {
        let id = (s.namespace.clone(), s.name.clone());
        if let Some(old) = self.slices.get(&id) {
            if **old == s {
                return false;
            }
        }
        let old = self.slices.remove(&id);
        let new = Arc::new(s);
        self.slices.insert(id, new.clone());
        if let Some(old) = &old {
            let old_key = service_key(&old.service, &old.namespace);
            if *old.service != *new.service {
                self.rebuild_service_endpoints(&old_key, |m| {
                    m.remove(&old.name);
                });
            }
        }
        let key = service_key(&new.service, &new.namespace);
        let name = new.name.clone();
        self.rebuild_service_endpoints(&key, |m| {
            m.insert(name, new);
        });
        true
    }

    fn delete_slice(&mut self, namespace: &str, name: &str) -> bool {
        let id: (Arc<str>, Arc<str>) = (Arc::from(namespace), Arc::from(name));
        let Some(old) = self.slices.remove(&id) else {
            return false;
        };
        let key = service_key(&old.service, &old.namespace);
        self.rebuild_service_endpoints(&key, |m| {
            m.remove(&old.name);
        });
        true
    }

    /// Edits one service's slice set and re-derives its endpoint list and reverse index.
    /// Cost: the endpoints of that one service.
    fn rebuild_service_endpoints(
        &mut self,
        key: &Arc<str>,
        edit: impl FnOnce(&mut BTreeMap<Arc<str>, Arc<Slice>>),
    ) {
        let map = self.slices_by_svc.entry(key.clone()).or_default();
        let old_ips = slice_ips(map);
        edit(map);
        let new_ips = slice_ips(map);
        // Sorted: each side is looked up in the other in O(log n) (a service with thousands
        // of endpoints changes one of them without a quadratic scan), and an address that
        // stays is not touched.
        for ip in &old_ips {
            if new_ips.binary_search(ip).is_err() {
                index_remove(&mut self.zone.ep_by_ip, ip, key);
            }
        }
        for ip in &new_ips {
            if old_ips.binary_search(ip).is_err() {
                index_add(&mut self.zone.ep_by_ip, *ip, key.clone());
            }
        }
        if map.is_empty() {
            self.slices_by_svc.remove(key);
            self.zone.endpoints.remove(key);
        } else {
            let list: Arc<[Arc<Slice>]> = map.values().cloned().collect();
            self.zone.endpoints.insert(key.clone(), list);
        }
    }

    fn upsert_pod(&mut self, p: Pod) -> bool {
        let ns = match self.pod_namespaces.get(&p.namespace) {
            Some(ns) => ns.clone(),
            None => {
                self.pod_namespaces.insert(p.namespace.clone());
                p.namespace
            }
        };
        let id = (ns, p.name);
        let ips = PodIps::of(&p.ips);
        if self.pods.get(&id) == Some(&ips) {
            return false;
        }
        self.delete_pod_id(&id);
        for ip in ips.as_slice() {
            index_add(&mut self.zone.pods_by_ip, *ip, id.clone());
        }
        self.pods.insert(id, ips);
        true
    }

    fn delete_pod(&mut self, namespace: &str, name: &str) -> bool {
        self.delete_pod_id(&(Arc::from(namespace), Arc::from(name)))
    }

    fn delete_pod_id(&mut self, id: &PodId) -> bool {
        match self.pods.remove(id) {
            Some(old) => {
                for ip in old.as_slice() {
                    index_remove(&mut self.zone.pods_by_ip, ip, id);
                }
                true
            }
            None => false,
        }
    }
}
