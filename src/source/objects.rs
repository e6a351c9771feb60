//! Services, EndpointSlices and Pods as DNS reads them: serde types with only the fields the zone
//! uses, so the API server's JSON is decoded straight into them and everything else (most of
//! all `managedFields[].fieldsV1`, the bulk of a typical object) is skipped unread.
//!
//! The watcher decodes these instead of the full k8s-openapi types: at 10k Services and 100k
//! endpoints that is most of the initial list's CPU (see BENCHMARKS.md). Manifests keep the
//! full types (for `kdns env` and strict validation) and convert with `From`; the zone
//! conversion itself lives once, in `convert.rs`, on these types.
use std::borrow::Cow;
use std::collections::BTreeMap;

use k8s_openapi::api::core::v1 as core;
use k8s_openapi::api::discovery::v1 as discovery;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, ObjectMeta, Time};
use k8s_openapi::NamespaceResourceScope;
use serde::{Deserialize, Deserializer};

/// `metadata` with only what kdns reads: name, namespace, resourceVersion, labels, creation and
/// deletion timestamps, and the time of each managedFields entry (for the programming-latency
/// metric).
fn slim_meta<'de, D: Deserializer<'de>>(d: D) -> Result<ObjectMeta, D::Error> {
    #[derive(Deserialize)]
    struct Managed {
        #[serde(default)]
        time: Option<Time>,
    }
    #[derive(Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Meta {
        #[serde(default)]
        name: Option<String>,
        #[serde(default)]
        namespace: Option<String>,
        #[serde(default)]
        resource_version: Option<String>,
        #[serde(default)]
        labels: Option<BTreeMap<String, String>>,
        #[serde(default)]
        creation_timestamp: Option<Time>,
        #[serde(default)]
        deletion_timestamp: Option<Time>,
        #[serde(default)]
        managed_fields: Option<Vec<Managed>>,
    }
    let m = Option::<Meta>::deserialize(d)?;
    let Some(m) = m else {
        return Ok(ObjectMeta::default());
    };
    Ok(ObjectMeta {
        name: m.name,
        namespace: m.namespace,
        resource_version: m.resource_version,
        labels: m.labels,
        creation_timestamp: m.creation_timestamp,
        deletion_timestamp: m.deletion_timestamp,
        managed_fields: m.managed_fields.map(|v| {
            v.into_iter()
                .map(|e| ManagedFieldsEntry {
                    time: e.time,
                    ..Default::default()
                })
                .collect()
        }),
        ..Default::default()
    })
}

/// A port of a Service or an EndpointSlice.
#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
pub struct PortObj {
    /// `name` (required when there are several).
    #[serde(default)]
    pub name: Option<String>,
    /// `port`.
    #[serde(default)]
    pub port: Option<i32>,
    /// `protocol` (`TCP` when absent).
    #[serde(default)]
    pub protocol: Option<String>,
}

/// A v1 Service.
#[derive(Deserialize, Clone, Debug, Default)]
pub struct ServiceObj {
    /// Name, namespace, resourceVersion, labels and write times.
    #[serde(default, deserialize_with = "slim_meta")]
    pub metadata: ObjectMeta,
    /// `spec`.
    #[serde(default)]
    pub spec: Option<ServiceSpecObj>,
    /// `status` (its load balancer ingress points).
    #[serde(default)]
    pub status: Option<ServiceStatusObj>,
}

/// The fields of a Service's `status` that DNS reads.
#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct ServiceStatusObj {
    /// `loadBalancer`.
    #[serde(default)]
    pub load_balancer: Option<LoadBalancerObj>,
}

/// A Service's `status.loadBalancer`.
#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
pub struct LoadBalancerObj {
    /// `ingress`: the points the load balancer is reached at.
    #[serde(default)]
    pub ingress: Option<Vec<IngressObj>>,
}

/// One `status.loadBalancer.ingress` point.
#[derive(Deserialize, Clone, Debug, Default, PartialEq)]
pub struct IngressObj {
    /// `ip`.
    #[serde(default)]
    pub ip: Option<String>,
    /// `hostname` (used when there is no `ip`).
    #[serde(default)]
    pub hostname: Option<String>,
}

/// The fields of a Service's `spec` that DNS reads.
#[derive(Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct ServiceSpecObj {
    /// `type` (`ExternalName` matters).
    #[serde(default, rename = "type")]
    pub type_: Option<String>,
    /// `clusterIP` (`None`: headless).
    #[serde(default, rename = "clusterIP")]
    pub cluster_ip: Option<String>,
    /// `clusterIPs`, one per family.
    #[serde(default, rename = "clusterIPs")]
    pub cluster_ips: Option<Vec<String>>,
    /// `externalName`, the CNAME target.
    #[serde(default)]
    pub external_name: Option<String>,
    /// `ports`.
    #[serde(default)]
    pub ports: Option<Vec<PortObj>>,
    /// `selector` (a Service without one may have hand-written Endpoints).
    #[serde(default)]
    pub selector: Option<BTreeMap<String, String>>,
    /// `externalIPs` (`k8s_external`).
    #[serde(default, rename = "externalIPs")]
    pub external_ips: Option<Vec<String>>,
}

/// A discovery.k8s.io/v1 EndpointSlice.
#[derive(Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct SliceObj {
    /// Name, namespace, resourceVersion, labels (the Service's name) and write times.
    #[serde(default, deserialize_with = "slim_meta")]
    pub metadata: ObjectMeta,
    /// `addressType`: `IPv4`, `IPv6` or `FQDN`.
    #[serde(default)]
    pub address_type: String,
    /// `endpoints`.
    #[serde(default)]
    pub endpoints: Option<Vec<EndpointObj>>,
    /// `ports`.
    #[serde(default)]
    pub ports: Option<Vec<PortObj>>,
}

/// One endpoint of a slice.
#[derive(Deserialize, Clone, Debug, Default)]
#[serde(rename_all = "camelCase")]
pub struct EndpointObj {
    /// `addresses` (one, in practice).
    #[serde(default)]
    pub addresses: Vec<String>,
    /// `conditions`.
    #[serde(default)]
    pub conditions: Option<ConditionsObj>,
    /// `hostname`.
    #[serde(default)]
    pub hostname: Option<String>,
    /// `targetRef` (the Pod).
    #[serde(default)]
    pub target_ref: Option<TargetRefObj>,
    /// `zone`.
    #[serde(default)]
    pub zone: Option<String>,
}

/// An endpoint's `conditions`.
#[derive(Deserialize, Clone, Debug, Default)]
pub struct ConditionsObj {
    /// `ready` (absent: ready).
    #[serde(default)]
    pub ready: Option<bool>,
}

/// An endpoint's `targetRef`.
#[derive(Deserialize, Clone, Debug, Default)]
pub struct TargetRefObj {
    /// The name of the object (the Pod) the endpoint belongs to.
    #[serde(default)]
    pub name: Option<String>,
}

/// A `multicluster.x-k8s.io/v1alpha1` ServiceImport (a CRD: JSON only).
#[derive(Deserialize, Clone, Debug, Default)]
pub struct ImportObj {
    /// Name, namespace, resourceVersion, labels and write times.
    #[serde(default, deserialize_with = "slim_meta")]
    pub metadata: ObjectMeta,
    /// `spec`.
    #[serde(default)]
    pub spec: Option<ImportSpecObj>,
}

/// The fields of a ServiceImport's `spec` that DNS reads.
#[derive(Deserialize, Clone, Debug, Default)]
pub struct ImportSpecObj {
    /// `type`: `ClusterSetIP` or `Headless`.
    #[serde(default, rename = "type")]
    pub type_: Option<String>,
    /// `ips`: the ClusterSetIPs, one per family.
    #[serde(default)]
    pub ips: Option<Vec<String>>,
    /// `ports`.
    #[serde(default)]
    pub ports: Option<Vec<PortObj>>,
}

/// An EndpointSlice of a multicluster service (label `multicluster.kubernetes.io/service-name`):
/// a kind of its own to the watcher, with its own label selector and zone changes.
#[derive(Deserialize, Clone, Debug, Default)]
#[serde(transparent)]
pub struct McsSliceObj(pub SliceObj);

/// A v1 Pod, for `pods verified` and `autopath`: who it is, whether it is finished or being
/// deleted, its addresses. Its spec (most of a Pod) is never read.
#[derive(Deserialize, Clone, Debug, Default)]
pub struct PodObj {
    /// Name, namespace, resourceVersion, deletion and write times.
    #[serde(default, deserialize_with = "slim_meta")]
    pub metadata: ObjectMeta,
    /// `status`.
    #[serde(default)]
    pub status: Option<PodStatusObj>,
}

/// The fields of a Pod's `status` that DNS reads.
#[derive(Deserialize, Clone, Debug, Default)]
pub struct PodStatusObj {
    /// `phase` (`Succeeded`, `Failed` and `Unknown` pods are left out).
    #[serde(default)]
    pub phase: Option<String>,
    /// `podIP`.
    #[serde(default, rename = "podIP")]
    pub pod_ip: Option<String>,
    /// `podIPs[].ip`, one per family.
    #[serde(default, rename = "podIPs")]
    pub pod_ips: Option<Vec<PodIpObj>>,
}

/// One entry of `podIPs`.
#[derive(Deserialize, Clone, Debug, Default)]
pub struct PodIpObj {
    /// `ip`.
    #[serde(default)]
    pub ip: String,
}

macro_rules! namespaced_resource {
    ($ty:ty, $kind:literal, $group:literal, $plural:literal) => {
        namespaced_resource!($ty, $kind, $group, "v1", $plural, metadata);
    };
    ($ty:ty, $kind:literal, $group:literal, $version:literal, $plural:literal, $($meta:tt)+) => {
        impl kube::Resource for $ty {
            type DynamicType = ();
            type Scope = NamespaceResourceScope;
            fn kind(_: &()) -> Cow<'_, str> {
                $kind.into()
            }
            fn group(_: &()) -> Cow<'_, str> {
                $group.into()
            }
            fn version(_: &()) -> Cow<'_, str> {
                $version.into()
            }
            fn plural(_: &()) -> Cow<'_, str> {
                $plural.into()
            }
            fn meta(&self) -> &ObjectMeta {
                &self.$($meta)+
            }
            fn meta_mut(&mut self) -> &mut ObjectMeta {
                &mut self.$($meta)+
            }
        }
    };
}
namespaced_resource!(ServiceObj, "Service", "", "services");
namespaced_resource!(PodObj, "Pod", "", "pods");
namespaced_resource!(
    SliceObj,
    "EndpointSlice",
    "discovery.k8s.io",
    "endpointslices"
);
namespaced_resource!(
    McsSliceObj,
    "EndpointSlice",
    "discovery.k8s.io",
    "v1",
    "endpointslices",
    0.metadata
);
namespaced_resource!(
    ImportObj,
    "ServiceImport",
    "multicluster.x-k8s.io",
    "v1alpha1",
    "serviceimports",
    metadata
);

impl From<&core::Service> for ServiceObj {
    fn from(s: &core::Service) -> Self {
        let spec = s.spec.as_ref().map(|sp| ServiceSpecObj {
            type_: sp.type_.clone(),
            cluster_ip: sp.cluster_ip.clone(),
            cluster_ips: sp.cluster_ips.clone(),
            external_name: sp.external_name.clone(),
            ports: sp.ports.as_ref().map(|ps| {
                ps.iter()
                    .map(|p| PortObj {
                        name: p.name.clone(),
                        port: Some(p.port),
                        protocol: p.protocol.clone(),
                    })
                    .collect()
            }),
            selector: sp.selector.clone(),
            external_ips: sp.external_ips.clone(),
        });
        let status = s.status.as_ref().map(|st| ServiceStatusObj {
            load_balancer: st.load_balancer.as_ref().map(|lb| LoadBalancerObj {
                ingress: lb.ingress.as_ref().map(|v| {
                    v.iter()
                        .map(|i| IngressObj {
                            ip: i.ip.clone(),
                            hostname: i.hostname.clone(),
                        })
                        .collect()
                }),
            }),
        });
        ServiceObj {
            metadata: s.metadata.clone(),
            spec,
            status,
        }
    }
}

impl From<&discovery::EndpointSlice> for SliceObj {
    fn from(s: &discovery::EndpointSlice) -> Self {
        SliceObj {
            metadata: s.metadata.clone(),
            address_type: s.address_type.clone(),
            endpoints: Some(
                s.endpoints
                    .iter()
                    .map(|e| EndpointObj {
                        addresses: e.addresses.clone(),
                        conditions: e
                            .conditions
                            .as_ref()
                            .map(|c| ConditionsObj { ready: c.ready }),
                        hostname: e.hostname.clone(),
                        target_ref: e.target_ref.as_ref().map(|t| TargetRefObj {
                            name: t.name.clone(),
                        }),
                        zone: e.zone.clone(),
                    })
                    .collect(),
            ),
            ports: s.ports.as_ref().map(|ps| {
                ps.iter()
                    .map(|p| PortObj {
                        name: p.name.clone(),
                        port: p.port,
                        protocol: p.protocol.clone(),
                    })
                    .collect()
            }),
        }
    }
}

impl From<&core::Pod> for PodObj {
    fn from(p: &core::Pod) -> Self {
        let status = p.status.as_ref().map(|st| PodStatusObj {
            phase: st.phase.clone(),
            pod_ip: st.pod_ip.clone(),
            pod_ips: st
                .pod_ips
                .as_ref()
                .map(|ips| ips.iter().map(|i| PodIpObj { ip: i.ip.clone() }).collect()),
        });
        PodObj {
            metadata: p.metadata.clone(),
            status,
        }
    }
}

#[cfg(test)]
mod tests;
