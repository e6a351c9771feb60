//! The kubelet's service environment variables, as plain data in and out.
//!
//! Given every Service of the cluster, a pod's namespace and its `enableServiceLinks`,
//! [`service_env`] returns the variables the kubelet injects into each container
//! (`FOO_SERVICE_HOST`, `FOO_SERVICE_PORT`, `FOO_PORT_80_TCP_ADDR`, ...).
//! [`merge_container_env`] then applies a container's own `env` on top, with the kubelet's
//! `$(VAR)` expansion ([`expand`]).
//!
//! This module has no Kubernetes, async or DNS types in it: callers convert their objects into
//! [`Service`] (see `kdns::source::env_input`).
//!
//! # The kubelet's rules, followed here
//!
//! * A service whose `spec.clusterIP` is `""` or `"None"` is skipped. The type is never looked
//!   at (NodePort and LoadBalancer services count; ExternalName ones drop out because their
//!   clusterIP is empty), and only the primary `clusterIP` is used, never `clusterIPs[1]`.
//! * `default/kubernetes` is always included, even with service links off.
//! * Services of the pod's own namespace are included only when service links are on. A
//!   same-namespace service named `kubernetes` then replaces `default/kubernetes`.
//! * Services of other namespaces are never included.
//! * Per service, with `P` = the name with `-` turned into `_` and upper-cased:
//!   `P_SERVICE_HOST`, `P_SERVICE_PORT` (the first port's `port`), `P_SERVICE_PORT_<NAME>` for each
//!   named port, `P_PORT` (the first port's URL), and per port `P_PORT_<port>_<PROTO>` (the URL
//!   `proto://host:port`, IPv6 hosts bracketed), `..._PROTO` (lower case), `..._PORT`, `..._ADDR`.
//!   An empty protocol means TCP.
//!
//! # Order
//!
//! The kubelet builds the list from Go maps, so its order is random and changes from one container
//! start to the next. [`ServiceEnv::vars`] is instead **sorted by variable name** (byte order), the
//! order the upstream unit tests compare in. It does not depend on the order of the input services.
//! [`merge_container_env`] returns the container's own variables first, in declaration order,
//! then the remaining service variables in name order.
//!
//! # Collisions
//!
//! Two services can produce the same variable name: services `a` and `a-service` both make
//! `A_SERVICE_PORT` (`443` for `a`, `tcp://10.0.0.2:80` for `a-service`). The kubelet then keeps
//! whichever service its map happens to visit last: the value is random. kdns does not hide this:
//! every variable set to more than one distinct value is listed in [`ServiceEnv::collisions`] with
//! each service's value. [`ServiceEnv::vars`] still holds one value for it, chosen
//! deterministically: the value of the service whose name sorts first (for `a` and `a-service`,
//! service `a`, the one whose own `A_SERVICE_PORT` it is). A service listing the same variable
//! twice with different values (only possible in input that skipped API validation) is reported
//! the same way; there its last value is used, as the kubelet does.
//!
//! # Input the kubelet would crash on
//!
//! A service with a cluster IP and no ports would make the kubelet index `ports[0]` out of range.
//! The API server never stores one, but manifests can hold anything: such a service is left out
//! and listed in [`ServiceEnv::skipped`].

mod expand;
mod merge;
mod model;
mod vars;

use std::collections::BTreeMap;

pub use expand::expand;
pub use merge::{merge_container_env, ContainerEnv, ContainerEnvVar, EnvValue};
pub use model::{
    has_cluster_ip, Collision, EnvVar, Service, ServiceEnv, ServicePort, ServiceRef, SkipReason,
    Skipped,
};
pub use vars::{env_var_name, service_vars};

/// The namespace and name of the service every pod gets, links or not.
pub const MASTER_NAMESPACE: &str = "default";
/// See [`MASTER_NAMESPACE`].
pub const MASTER_NAME: &str = "kubernetes";

/// The services the kubelet takes variables from, keyed and sorted by service name.
///
/// A mirror of the kubelet's `getServiceEnvVarMap` selection: `default/kubernetes` is inserted
/// only if its name is free (first one wins); a same-namespace service (links on) is inserted
/// over whatever has its name (last one wins). A list that repeats a namespace/name (a real
/// cluster has none) is read as the kubelet's code reads it: copies without a cluster IP are
/// skipped first (the upstream tests rely on this).
pub fn select_services<'a>(
    services: &'a [Service],
    namespace: &str,
    enable_service_links: bool,
) -> BTreeMap<&'a str, &'a Service> {
    let mut chosen: BTreeMap<&str, &Service> = BTreeMap::new();
    for svc in services {
        if !has_cluster_ip(&svc.cluster_ip) {
            continue;
        }
        if svc.namespace == MASTER_NAMESPACE && svc.name == MASTER_NAME {
            chosen.entry(svc.name.as_str()).or_insert(svc);
        } else if svc.namespace == namespace && enable_service_links {
            chosen.insert(svc.name.as_str(), svc);
        }
    }
    chosen
}

/// The variables the kubelet injects into a pod in `namespace`; see the module documentation.
pub fn service_env(
    services: &[Service],
    namespace: &str,
    enable_service_links: bool,
) -> ServiceEnv {
    let mut out = ServiceEnv::default();
    // name -> every (service, value) emission, in service-name order
    let mut emitted: BTreeMap<String, Vec<(ServiceRef, String)>> = BTreeMap::new();
    for svc in select_services(services, namespace, enable_service_links).into_values() {
        let Some(vars) = service_vars(svc) else {
            out.skipped.push(Skipped {
                service: svc.into(),
                reason: SkipReason::NoPorts,
            });
            continue;
        };
        for v in vars {
            emitted
                .entry(v.name)
                .or_default()
                .push((ServiceRef::from(svc), v.value));
        }
    }
    for (name, all) in emitted {
        // The service's own last value (the kubelet writes a map in emission order), of the first
        // service in name order.
        let first = &all[0].0;
        let value = all
            .iter()
            .rev()
            .find(|(s, _)| s == first)
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        let mut candidates: Vec<(ServiceRef, String)> = Vec::new();
        for c in &all {
            if !candidates.contains(c) {
                candidates.push(c.clone());
            }
        }
        let distinct_values = {
            let mut vals: Vec<&String> = candidates.iter().map(|(_, v)| v).collect();
            vals.sort();
            vals.dedup();
            vals.len()
        };
        if distinct_values > 1 {
            // put the chosen value first
            if let Some(pos) = candidates
                .iter()
                .position(|(s, v)| s == first && *v == value)
            {
                let c = candidates.remove(pos);
                candidates.insert(0, c);
            }
            out.collisions.push(Collision {
                name: name.clone(),
                candidates,
            });
        }
        out.vars.push(EnvVar { name, value });
    }
    out
}

#[cfg(test)]
mod tests;
