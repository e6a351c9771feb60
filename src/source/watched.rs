//! What the watchers of [`super::list_watch`] tell the writer of [`super::kube`], and the
//! per-kind adapters that turn an API object into that message.
//!
//! [`Watched`] is implemented once per watched kind: Services and EndpointSlices (the slim
//! types of [`super::objects`], decodable from protobuf), Namespaces, and Pods (slim too).
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use serde::de::DeserializeOwned;

use super::convert;
use super::objects::{ImportObj, McsSliceObj, PodObj, ServiceObj, SliceObj};
use super::proto::{self, ProtoError};
use crate::zone::{Change, Kind, Revision};

/// What the writer hears from the watchers.
pub(super) enum Msg {
    /// A change, with the time the object changed (for the programming-latency metric) and
    /// the revision it was made at (the SOA serial).
    Change(Kind, Change, Option<SystemTime>, Revision),
    /// A (re)list of one kind begins: the objects of the pages that follow replace that kind.
    ListStart(Kind),
    /// Objects of a list in progress, applied as they arrive (while the next page downloads).
    ListPage(Kind, Vec<(Change, Revision)>),
    /// The list is complete: objects of that kind it did not contain are deleted (by the
    /// list's revision).
    ListDone(Kind, Revision),
    /// A watcher failed (it retries with backoff).
    Failed(Kind),
    /// The API answers again for that kind (a one-item list succeeded after a failure).
    Recovered(Kind),
    /// The API server does not serve that (optional) kind: it has no objects, as a complete
    /// empty list would say.
    Absent(Kind),
}

/// Decodes one object from its protobuf encoding.
pub(super) type ProtoDecoder<K> = fn(&[u8]) -> Result<K, ProtoError>;

/// Per-kind conversion: an upsert (or None to delete), and the delete for a key.
pub(super) trait Watched:
    Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static
{
    /// The kind the writer replaces on a relist.
    const KIND: Kind;
    /// The resource as RBAC names it (for permission errors and logs).
    const RESOURCE: &'static str;
    /// Decoder of the protobuf encoding, for kinds that ask for it.
    const PROTO: Option<ProtoDecoder<Self>> = None;
    /// A kind from a CustomResourceDefinition that may not be installed: a 404 on its list
    /// means "no objects" (logged once), not a failure.
    const OPTIONAL: bool = false;
    /// The change this object makes: an upsert, or `None` when it has no place in the zone.
    fn upsert(&self) -> Option<Change>;
    /// The change that removes the object of this key.
    fn delete(meta: &ObjectMeta) -> Change;
    /// Events to ignore (a terminating pod keeps its last version, as CoreDNS).
    fn ignore(&self) -> bool {
        false
    }
}

/// The revision an object was written at: its `resourceVersion`, which every API server
/// backed by etcd fills with the etcd revision (an opaque string to clients in general, so one
/// that is no number counts as unknown).
pub(super) fn revision(meta: &ObjectMeta) -> Revision {
    revision_of(meta.resource_version.as_deref())
}

/// [`revision`] of a `resourceVersion` as written.
pub(super) fn revision_of(rv: Option<&str>) -> Revision {
    rv.and_then(|v| v.parse().ok())
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

impl Watched for McsSliceObj {
    const KIND: Kind = Kind::McsSlice;
    const RESOURCE: &'static str = "endpointslices.discovery.k8s.io";
    const PROTO: Option<ProtoDecoder<Self>> = Some(mcs_slice_proto);
    fn upsert(&self) -> Option<Change> {
        convert::mcs_slice(&self.0).map(Change::UpsertMcsSlice)
    }
    fn delete(meta: &ObjectMeta) -> Change {
        let (namespace, name) = ns_name(meta);
        Change::DeleteMcsSlice { namespace, name }
    }
}

fn mcs_slice_proto(b: &[u8]) -> Result<McsSliceObj, ProtoError> {
    proto::slice(b).map(McsSliceObj)
}

impl Watched for ImportObj {
    const KIND: Kind = Kind::Import;
    const RESOURCE: &'static str = "serviceimports.multicluster.x-k8s.io";
    const OPTIONAL: bool = true;
    fn upsert(&self) -> Option<Change> {
        Some(Change::UpsertImport(convert::import(self)))
    }
    fn delete(meta: &ObjectMeta) -> Change {
        let (namespace, name) = ns_name(meta);
        Change::DeleteImport { namespace, name }
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

impl Watched for PodObj {
    const KIND: Kind = Kind::Pod;
    const RESOURCE: &'static str = "pods";
    const PROTO: Option<ProtoDecoder<Self>> = Some(proto::pod);
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

#[cfg(test)]
mod tests;
