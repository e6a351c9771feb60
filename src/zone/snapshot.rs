//! The immutable snapshot queries read ([`Zone`]) and the source of its namespace versions
//! ([`Versions`]).
//!
//! A [`Zone`] is built by a [`Store`](super::store::Store) and published through a
//! [`ZoneHandle`](super::handle::ZoneHandle); readers never lock it. Its maps are
//! [`Layered`]: cloning a snapshot copies a few pointers.
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::index::IpSet;
use super::layered::Layered as PMap;
use super::model::{Import, McsSlice, Namespace, Service, Slice};

/// (namespace, name) of a pod.
pub(crate) type PodId = (Arc<str>, Arc<str>);

/// An immutable, indexed snapshot of everything the cluster zone answers from.
#[derive(Clone, Default)]
pub struct Zone {
    /// `name.namespace` → Service.
    pub(crate) services: PMap<Arc<str>, Arc<Service>>,
    /// `service.namespace` → the service's EndpointSlices, ordered by slice name.
    pub(crate) endpoints: PMap<Arc<str>, Arc<[Arc<Slice>]>>,
    /// Namespace name → Namespace.
    pub(crate) namespaces: PMap<Arc<str>, Arc<Namespace>>,
    /// ClusterIP → service keys (for PTR).
    pub(crate) svc_by_ip: PMap<IpAddr, IpSet<Arc<str>>>,
    /// Ready endpoint IP → service keys whose slices hold it (for PTR and NS).
    pub(crate) ep_by_ip: PMap<IpAddr, IpSet<Arc<str>>>,
    /// Pod IP → (namespace, pod name) (for `pods verified`).
    pub(crate) pods_by_ip: PMap<IpAddr, IpSet<PodId>>,
    /// Namespace → version of its objects (Services, EndpointSlices, the Namespace): a fresh
    /// number from `versions` whenever one of them changes. Answers scoped to a namespace stay
    /// valid while it is unchanged (the UDP packet cache).
    pub(crate) ns_versions: PMap<Arc<str>, u64>,
    /// Where `ns_versions` come from: shared by every store that publishes into the same
    /// handle, so versions never repeat within that handle.
    pub(crate) versions: Versions,
    /// `multicluster`: `name.namespace` → ServiceImport.
    pub(crate) imports: PMap<Arc<str>, Arc<Import>>,
    /// `multicluster`: `service.namespace` → its multicluster EndpointSlices, by slice name.
    pub(crate) mc_endpoints: PMap<Arc<str>, Arc<[Arc<McsSlice>]>>,
    /// SOA serial: the latest revision that altered the zone (see `store::Revision`).
    pub serial: u32,
    /// SOA serial of the multicluster zones: the latest revision of a change to a ServiceImport
    /// or a multicluster EndpointSlice (CoreDNS keeps the two apart).
    pub mc_serial: u32,
    /// False until the source has delivered its first complete state.
    pub synced: bool,
}

impl Zone {
    /// The Service with key `name.namespace`.
    pub fn service(&self, key: &str) -> Option<&Arc<Service>> {
        self.services.get(key)
    }

    /// The EndpointSlices of the service with key `name.namespace`, ordered by slice name.
    pub fn slices(&self, key: &str) -> &[Arc<Slice>] {
        self.endpoints.get(key).map(|s| &s[..]).unwrap_or(&[])
    }

    /// The ServiceImport with key `name.namespace`.
    pub fn import(&self, key: &str) -> Option<&Arc<Import>> {
        self.imports.get(key)
    }

    /// The multicluster EndpointSlices of the import with key `name.namespace`, by slice name.
    pub fn mc_slices(&self, key: &str) -> &[Arc<McsSlice>] {
        self.mc_endpoints.get(key).map(|s| &s[..]).unwrap_or(&[])
    }

    /// The Namespace called `name`.
    pub fn namespace(&self, name: &str) -> Option<&Arc<Namespace>> {
        self.namespaces.get(name)
    }

    /// How many Services the zone holds.
    pub fn service_count(&self) -> usize {
        self.services.len()
    }

    /// The version of a namespace's objects (see `ns_versions`).
    pub fn ns_version(&self, ns: &str) -> Option<u64> {
        self.ns_versions.get(ns).copied()
    }

    /// The source this zone's namespace versions were drawn from.
    pub fn versions(&self) -> Versions {
        self.versions.clone()
    }
}

/// A source of namespace versions: a shared counter. Every store that publishes into one
/// [`ZoneHandle`](super::handle::ZoneHandle) draws from the handle's source, so a zone rebuilt
/// from scratch (a manifests reload) never repeats a version an older zone handed out.
#[derive(Clone, Debug)]
pub struct Versions(Arc<AtomicU64>);

impl Default for Versions {
    fn default() -> Self {
        Self(Arc::new(AtomicU64::new(1)))
    }
}

impl Versions {
    /// A new source, shared by nothing yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// A version this source never handed out before.
    pub(super) fn next(&self) -> u64 {
        self.0.fetch_add(1, Ordering::Relaxed)
    }

    /// Do both draw from the same counter?
    pub(super) fn same(&self, other: &Versions) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}
