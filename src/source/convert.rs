//! Kubernetes objects → the zone's compact model. Kubernetes API types stop here.
use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use super::objects::{ImportObj, PodObj, ServiceObj, SliceObj};

use crate::zone::model::{
    Endpoint, External, Import, ImportKind, McsSlice, Namespace, Pod, Port, Service, ServiceKind,
    Slice,
};

/// The label that joins an EndpointSlice to its Service.
pub(crate) const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

fn lc(s: &str) -> Arc<str> {
    Arc::from(s.to_ascii_lowercase())
}

fn namespace_of(meta: &ObjectMeta) -> Arc<str> {
    lc(meta.namespace.as_deref().unwrap_or("default"))
}

fn name_of(meta: &ObjectMeta) -> Arc<str> {
    lc(meta.name.as_deref().unwrap_or(""))
}

fn parse_ip(s: &str) -> Option<IpAddr> {
    s.trim().parse().ok()
}

fn port(name: Option<&str>, port: i32, protocol: Option<&str>) -> Port {
    Port {
        name: lc(name.unwrap_or("")),
        port,
        protocol: Arc::from(protocol.unwrap_or("TCP")),
    }
}

/// One ready address: its hostname (if set) and the name of the object it points at.
fn endpoint(ip: IpAddr, hostname: Option<&str>, target_name: Option<&str>) -> Endpoint {
    Endpoint {
        ip,
        hostname: hostname.filter(|h| !h.is_empty()).map(lc),
        pod_name: target_name.map(lc),
        zone: None,
    }
}

/// A Service. `type: ExternalName` → CNAME target; `clusterIP: None` → headless; otherwise
/// every address of `clusterIPs` (falling back to `clusterIP`).
pub fn service(s: &ServiceObj) -> Service {
    let spec = s.spec.clone().unwrap_or_default();
    let kind = if spec.type_.as_deref() == Some("ExternalName") {
        let target = spec.external_name.clone().unwrap_or_default();
        ServiceKind::ExternalName(Arc::from(target.trim_end_matches('.')))
    } else if spec.cluster_ip.as_deref() == Some("None") {
        ServiceKind::Headless
    } else {
        let mut ips: Vec<IpAddr> = Vec::new();
        let listed = spec.cluster_ips.clone().unwrap_or_default();
        let all = if listed.is_empty() {
            spec.cluster_ip.clone().into_iter().collect()
        } else {
            listed
        };
        for ip in all.iter().filter_map(|s| parse_ip(s)) {
            if !ips.contains(&ip) {
                ips.push(ip);
            }
        }
        ServiceKind::ClusterIp(ips)
    };
    let ports = spec
        .ports
        .unwrap_or_default()
        .iter()
        .map(|p| {
            port(
                p.name.as_deref(),
                p.port.unwrap_or(0),
                p.protocol.as_deref(),
            )
        })
        .collect();
    Service {
        namespace: namespace_of(&s.metadata),
        name: name_of(&s.metadata),
        kind,
        ports,
        external: external(s, spec.external_ips.as_deref().unwrap_or_default()),
    }
}

/// CoreDNS's `ExternalIPs` of a Service: `spec.externalIPs`, then each load balancer ingress
/// point's `ip`, else its `hostname`. An address written as an IPv4-mapped IPv6 address is the
/// IPv4 address (Go's `To4`); a point with neither `ip` nor `hostname` is left out (CoreDNS
/// would answer a CNAME to the root for it).
fn external(s: &ServiceObj, external_ips: &[String]) -> Vec<External> {
    let ingress = s
        .status
        .as_ref()
        .and_then(|st| st.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_deref())
        .unwrap_or_default();
    let points = ingress.iter().map(|i| {
        let ip = i.ip.as_deref().filter(|ip| !ip.is_empty());
        ip.or(i.hostname.as_deref()).unwrap_or("")
    });
    external_ips
        .iter()
        .map(String::as_str)
        .chain(points)
        .filter(|p| !p.is_empty())
        .map(|p| match parse_ip(p) {
            Some(ip) => External::Ip(ip.to_canonical()),
            None => External::Name(Arc::from(p.trim_end_matches('.'))),
        })
        .collect()
}

/// The Service an EndpointSlice belongs to, from its `kubernetes.io/service-name` label.
pub(crate) fn slice_service_name(s: &SliceObj) -> Option<&str> {
    s.metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(SERVICE_NAME_LABEL))
        .map(String::as_str)
        .filter(|n| !n.is_empty())
}

/// An EndpointSlice: ready addresses only (`ready` unset counts as ready), as CoreDNS reads it.
/// Returns None for a slice without the service-name label or of address type FQDN.
pub fn slice(s: &SliceObj) -> Option<Slice> {
    slice_of(s, slice_service_name(s)?)
}

/// The label that joins an EndpointSlice to its multicluster service (KEP-1645).
pub(crate) const MC_SERVICE_NAME_LABEL: &str = "multicluster.kubernetes.io/service-name";

/// The label that names the cluster a multicluster EndpointSlice came from.
pub(crate) const MC_SOURCE_CLUSTER_LABEL: &str = "multicluster.kubernetes.io/source-cluster";

/// A multicluster EndpointSlice: joined to its import by `multicluster.kubernetes.io/service-name`,
/// its cluster from `multicluster.kubernetes.io/source-cluster` ("" when absent, as CoreDNS).
/// None without the service label or of address type FQDN.
pub fn mcs_slice(s: &SliceObj) -> Option<McsSlice> {
    let label = |k: &str| s.metadata.labels.as_ref().and_then(|l| l.get(k));
    let service = label(MC_SERVICE_NAME_LABEL).filter(|n| !n.is_empty())?;
    Some(McsSlice {
        slice: slice_of(s, service)?,
        cluster: Arc::from(label(MC_SOURCE_CLUSTER_LABEL).map_or("", String::as_str)),
    })
}

/// A ServiceImport: `type: Headless`, else ClusterSetIP with `spec.ips` (deduplicated).
pub fn import(i: &ImportObj) -> Import {
    let spec = i.spec.clone().unwrap_or_default();
    let kind = if spec.type_.as_deref() == Some("Headless") {
        ImportKind::Headless
    } else {
        let mut ips: Vec<IpAddr> = Vec::new();
        for ip in spec.ips.iter().flatten().filter_map(|s| parse_ip(s)) {
            if !ips.contains(&ip) {
                ips.push(ip);
            }
        }
        ImportKind::ClusterSetIp(ips)
    };
    let ports = spec.ports.iter().flatten();
    Import {
        namespace: namespace_of(&i.metadata),
        name: name_of(&i.metadata),
        kind,
        ports: ports
            .map(|p| {
                port(
                    p.name.as_deref(),
                    p.port.unwrap_or(0),
                    p.protocol.as_deref(),
                )
            })
            .collect(),
    }
}

/// A slice of `service`: ready addresses only; None when of address type FQDN.
fn slice_of(s: &SliceObj, service: &str) -> Option<Slice> {
    if s.address_type == "FQDN" {
        return None;
    }
    let mut ports: Vec<Port> = s
        .ports
        .as_deref()
        .unwrap_or_default()
        .iter()
        .map(|p| {
            port(
                p.name.as_deref(),
                p.port.unwrap_or(-1),
                p.protocol.as_deref(),
            )
        })
        .collect();
    if ports.is_empty() {
        ports.push(port(None, -1, None));
    }
    let listed = s.endpoints.as_deref().unwrap_or_default();
    // Sized once: growing it address by address was 4 % of a 10k-Service start's CPU.
    let mut endpoints = Vec::with_capacity(listed.iter().map(|e| e.addresses.len()).sum());
    for e in listed {
        let ready = e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true);
        if !ready {
            continue;
        }
        for a in &e.addresses {
            let Some(ip) = parse_ip(a) else { continue };
            endpoints.push(Endpoint {
                zone: e.zone.as_deref().map(Arc::from),
                ..endpoint(
                    ip,
                    e.hostname.as_deref(),
                    e.target_ref.as_ref().and_then(|t| t.name.as_deref()),
                )
            });
        }
    }
    Some(Slice {
        namespace: namespace_of(&s.metadata),
        name: name_of(&s.metadata),
        service: lc(service),
        ports,
        endpoints,
    })
}

/// A legacy v1 Endpoints object, converted as the EndpointSlice mirroring controller would:
/// one slice per subset and address family, `addresses` ready, `notReadyAddresses` not ready
/// (and so left out).
pub(crate) fn mirror_endpoints(e: &core::Endpoints) -> Vec<Slice> {
    let ns = namespace_of(&e.metadata);
    let name = name_of(&e.metadata);
    let mut out = Vec::new();
    for (i, subset) in e.subsets.as_deref().unwrap_or_default().iter().enumerate() {
        let mut ports: Vec<Port> = subset
            .ports
            .as_deref()
            .unwrap_or_default()
            .iter()
            .map(|p| port(p.name.as_deref(), p.port, p.protocol.as_deref()))
            .collect();
        if ports.is_empty() {
            ports.push(port(None, -1, None));
        }
        for v6 in [false, true] {
            let endpoints: Vec<Endpoint> = subset
                .addresses
                .as_deref()
                .unwrap_or_default()
                .iter()
                .filter_map(|a| {
                    let ip = parse_ip(&a.ip)?;
                    (ip.is_ipv6() == v6).then(|| {
                        endpoint(
                            ip,
                            a.hostname.as_deref(),
                            a.target_ref.as_ref().and_then(|t| t.name.as_deref()),
                        )
                    })
                })
                .collect();
            if endpoints.is_empty() {
                continue;
            }
            let family = if v6 { "ipv6" } else { "ipv4" };
            out.push(Slice {
                namespace: ns.clone(),
                name: Arc::from(format!("{name}-mirror-{i}-{family}")),
                service: name.clone(),
                ports: ports.clone(),
                endpoints,
            });
        }
    }
    out
}

/// A Pod for `pods verified`: None when it is finished (Succeeded/Failed/Unknown) or being
/// deleted, as CoreDNS skips those.
pub fn pod(p: &PodObj) -> Option<Pod> {
    if p.metadata.deletion_timestamp.is_some() {
        return None;
    }
    let status = p.status.as_ref()?;
    if matches!(
        status.phase.as_deref(),
        Some("Succeeded") | Some("Failed") | Some("Unknown")
    ) {
        return None;
    }
    let mut ips: Vec<IpAddr> = status
        .pod_ips
        .as_deref()
        .unwrap_or_default()
        .iter()
        .filter_map(|i| parse_ip(&i.ip))
        .collect();
    if ips.is_empty() {
        ips.extend(status.pod_ip.as_deref().and_then(parse_ip));
    }
    if ips.is_empty() {
        return None;
    }
    Some(Pod {
        namespace: namespace_of(&p.metadata),
        name: name_of(&p.metadata),
        ips,
    })
}

/// A Namespace: its (lower-cased) name and its labels.
pub(crate) fn namespace(n: &core::Namespace) -> Namespace {
    Namespace {
        name: lc(n.metadata.name.as_deref().unwrap_or("")),
        labels: n
            .metadata
            .labels
            .clone()
            .unwrap_or_default()
            .into_iter()
            .collect(),
    }
}

/// Does a Service have a selector (so that its endpoints come from the endpoints controller,
/// not from a hand-written Endpoints object)?
pub fn has_selector(s: &ServiceObj) -> bool {
    s.spec
        .as_ref()
        .and_then(|s| s.selector.as_ref())
        .is_some_and(|s| !s.is_empty())
}
