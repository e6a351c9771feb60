//! What the kubelet's variables are made from and made of: [`Service`] in, [`ServiceEnv`] out.

/// A Kubernetes Service, reduced to what the kubelet's variables depend on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Service {
    /// `metadata.namespace`: decides which pods see the service's variables.
    pub namespace: String,
    /// `metadata.name`: the variable prefix, upper-cased with `-` turned into `_`.
    pub name: String,
    /// `spec.clusterIP`, verbatim: `""` and `"None"` mean "no cluster IP".
    pub cluster_ip: String,
    /// `spec.ports`, in order.
    pub ports: Vec<ServicePort>,
}

/// One entry of `spec.ports`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServicePort {
    /// `name`; empty when the port is unnamed.
    pub name: String,
    /// `port` (the service port, not `targetPort` or `nodePort`).
    pub port: i32,
    /// `protocol` as written: `TCP`, `UDP`, `SCTP`; empty means TCP.
    pub protocol: String,
}

/// One environment variable.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct EnvVar {
    /// The variable name (e.g. `FOO_SERVICE_HOST`).
    pub name: String,
    /// The variable's value, verbatim.
    pub value: String,
}

impl EnvVar {
    /// The variable `name=value`.
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        EnvVar {
            name: name.into(),
            value: value.into(),
        }
    }
}

/// A service, named as `namespace/name`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ServiceRef {
    /// The service's namespace.
    pub namespace: String,
    /// The service's name within its namespace.
    pub name: String,
}

impl std::fmt::Display for ServiceRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.namespace, self.name)
    }
}

impl From<&Service> for ServiceRef {
    fn from(s: &Service) -> Self {
        ServiceRef {
            namespace: s.namespace.clone(),
            name: s.name.clone(),
        }
    }
}

/// A variable name that the selected services set to more than one value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Collision {
    /// The variable name.
    pub name: String,
    /// Every (service, value) pair that sets it, in service-name order, without repeats. The
    /// first entry's value is the one in [`ServiceEnv::vars`].
    pub candidates: Vec<(ServiceRef, String)>,
}

/// Why a selected service gave no variables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SkipReason {
    /// It has a cluster IP but no ports; the kubelet would index `ports[0]` and crash.
    NoPorts,
}

impl std::fmt::Display for SkipReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SkipReason::NoPorts => f.write_str("it has a cluster IP but no ports"),
        }
    }
}

/// A selected service that was left out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skipped {
    /// The service left out.
    pub service: ServiceRef,
    /// Why it was left out.
    pub reason: SkipReason,
}

/// The result of [`service_env`](super::service_env).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceEnv {
    /// The variables, sorted by name, one value per name.
    pub vars: Vec<EnvVar>,
    /// Names whose value the kubelet would pick at random, sorted by name.
    pub collisions: Vec<Collision>,
    /// Selected services that were left out.
    pub skipped: Vec<Skipped>,
}

impl ServiceEnv {
    /// The value of variable `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .binary_search_by(|v| v.name.as_str().cmp(name))
            .ok()
            .map(|i| self.vars[i].value.as_str())
    }
}

/// Whether the kubelet counts `cluster_ip` as set: neither `""` nor `"None"` (case-sensitive).
pub fn has_cluster_ip(cluster_ip: &str) -> bool {
    !cluster_ip.is_empty() && cluster_ip != "None"
}
