//! The zone's own compact view of Kubernetes objects: only the fields DNS needs.
//!
//! Nothing here knows Kubernetes API types; `source/convert.rs` builds these. Names are stored
//! lower-case (Kubernetes names are DNS-1123 labels; lower-casing makes matching
//! case-insensitive without work on the query path).
use std::net::IpAddr;
use std::sync::Arc;

/// A Service, reduced to what DNS answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// Its namespace.
    pub namespace: Arc<str>,
    /// Its name.
    pub name: Arc<str>,
    /// What its name resolves to.
    pub kind: ServiceKind,
    /// Service ports in `spec.ports` order.
    pub ports: Vec<Port>,
    /// Where the Service is reached from outside the cluster (`k8s_external`): `spec.externalIPs`,
    /// then each `status.loadBalancer.ingress` (its `ip`, else its `hostname`), in that order.
    pub external: Vec<External>,
}

/// One outside address of a Service (CoreDNS's `object.Service.ExternalIPs` entry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum External {
    /// An address (`spec.externalIPs`, a load balancer ingress `ip`).
    Ip(IpAddr),
    /// A load balancer ingress `hostname`, as written, without a trailing dot.
    Name(Arc<str>),
}

/// What kind of Service it is, with what its name resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceKind {
    /// `spec.clusterIPs` (dual-stack: one per family), in order, deduplicated.
    ClusterIp(Vec<IpAddr>),
    /// `clusterIP: None`.
    Headless,
    /// `type: ExternalName`: the target name, without a trailing dot.
    ExternalName(Arc<str>),
}

/// A port of a Service or an EndpointSlice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    /// Port name ("" when unnamed).
    pub name: Arc<str>,
    /// Port number; -1 is CoreDNS's sentinel for "slice without ports" (A records, no SRV).
    pub port: i32,
    /// `TCP`, `UDP` or `SCTP` as written in the object (matched case-insensitively).
    pub protocol: Arc<str>,
}

/// One EndpointSlice, reduced to its ready addresses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slice {
    /// Its namespace.
    pub namespace: Arc<str>,
    /// Its name.
    pub name: Arc<str>,
    /// The Service this slice belongs to (label `kubernetes.io/service-name`).
    pub service: Arc<str>,
    /// Slice ports; a slice without ports carries the single sentinel port -1, as CoreDNS does.
    pub ports: Vec<Port>,
    /// Ready addresses only (`conditions.ready` unset counts as ready); one entry per address.
    pub endpoints: Vec<Endpoint>,
}

/// One ready address of an endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    /// The address.
    pub ip: IpAddr,
    /// `hostname` of the endpoint, if set.
    pub hostname: Option<Arc<str>>,
    /// Name of the Pod in `targetRef` (for `endpoint_pod_names`).
    pub pod_name: Option<Arc<str>>,
    /// Topology zone of the endpoint (for `zonal`).
    pub zone: Option<Arc<str>>,
}

/// A running Pod (for `pods verified`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pod {
    /// Its namespace.
    pub namespace: Arc<str>,
    /// Its name.
    pub name: Arc<str>,
    /// `status.podIPs`.
    pub ips: Vec<IpAddr>,
}

/// A Namespace and its labels (for `namespace_labels`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Namespace {
    /// Its name.
    pub name: Arc<str>,
    /// Its labels, as (key, value).
    pub labels: Vec<(String, String)>,
}

/// The lookup key of a service: `name.namespace`, the same bytes as in a query name
/// `name.namespace.svc.zone`, so a lookup needs no allocation.
pub(crate) fn service_key(name: &str, namespace: &str) -> Arc<str> {
    let mut k = String::with_capacity(name.len() + namespace.len() + 1);
    k.push_str(name);
    k.push('.');
    k.push_str(namespace);
    Arc::from(k)
}

/// A ServiceImport (`multicluster.x-k8s.io/v1alpha1`, KEP-1645), reduced to what the
/// multicluster zone answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Import {
    /// Its namespace.
    pub namespace: Arc<str>,
    /// Its name (the exported Service's).
    pub name: Arc<str>,
    /// `spec.type` `Headless`, else `ClusterSetIP` with `spec.ips` (in order, deduplicated).
    pub kind: ImportKind,
    /// `spec.ports` in order.
    pub ports: Vec<Port>,
}

/// What a ServiceImport's name resolves to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImportKind {
    /// `type: ClusterSetIP`: `spec.ips`.
    ClusterSetIp(Vec<IpAddr>),
    /// `type: Headless`: the ready endpoints of its slices, in every cluster.
    Headless,
}

/// An EndpointSlice of a multicluster service (label `multicluster.kubernetes.io/service-name`),
/// with the cluster it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct McsSlice {
    /// The slice; `service` is the imported service's name.
    pub slice: Slice,
    /// Label `multicluster.kubernetes.io/source-cluster` ("" when absent).
    pub cluster: Arc<str>,
}
