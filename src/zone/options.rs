//! The options of a `kubernetes` directive that shape its answers ([`KubeOptions`]), as the
//! Corefile parser (`config/kubernetes.rs`) fills them in.
use std::net::IpAddr;

use super::names::strip_zone;

/// `pods disabled|insecure|verified`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PodMode {
    /// No pod names (`pods disabled`, the default): `*.pod.ZONE` is NXDOMAIN.
    #[default]
    Disabled,
    /// Any well-formed dashed address answers with itself (`pods insecure`).
    Insecure,
    /// Only addresses of running pods in that namespace answer (`pods verified`).
    Verified,
}

/// `fallthrough [ZONES…]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Fallthrough {
    /// Name errors are answered (no `fallthrough`).
    #[default]
    Off,
    /// Every name (no zones given).
    All,
    /// Names in these zones (lower-case, trailing dot).
    Zones(Vec<String>),
}

impl Fallthrough {
    /// Does a name error for `name` (lower-case, trailing dot) pass on to the next directive?
    pub fn through(&self, name: &str) -> bool {
        match self {
            Fallthrough::Off => false,
            Fallthrough::All => true,
            Fallthrough::Zones(z) => z.iter().any(|z| strip_zone(name, z).is_some()),
        }
    }
}

/// The options of one `kubernetes` directive that shape answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeOptions {
    /// Zones, lower-case with a trailing dot, in Corefile order.
    pub zones: Vec<String>,
    /// Index in `zones` of the first non-reverse zone (PTR targets live there).
    pub primary_zone: usize,
    /// `ttl`: the TTL of answers (SOA: at most 300).
    pub ttl: u32,
    /// `pods`: how `*.pod.ZONE` names are answered.
    pub pods: PodMode,
    /// `endpoint_pod_names`: endpoints without hostname are named after their pod.
    pub endpoint_pod_names: bool,
    /// `namespaces`: when non-empty only these are served.
    pub namespaces: Vec<String>,
    /// `ignore empty_service`: a ClusterIP service without ready endpoints is NXDOMAIN.
    pub ignore_empty_service: bool,
    /// `fallthrough`: which name errors pass on to the next directive.
    pub fallthrough: Fallthrough,
    /// `zonal`: zone-scoped names for headless services.
    pub zonal: bool,
    /// `multicluster ZONES…`: zones (lower-case, trailing dot) answered from ServiceImports
    /// (KEP-1645) instead of Services; they take effect when also among `zones`.
    pub multicluster: Vec<String>,
    /// Addresses this server answers on, for `ns.dns.ZONE` and the apex NS.
    pub local_ips: Vec<IpAddr>,
}

impl Default for KubeOptions {
    fn default() -> Self {
        Self {
            zones: vec!["cluster.local.".into()],
            primary_zone: 0,
            ttl: 5,
            pods: PodMode::Disabled,
            endpoint_pod_names: false,
            namespaces: Vec::new(),
            ignore_empty_service: false,
            fallthrough: Fallthrough::Off,
            zonal: false,
            multicluster: Vec::new(),
            local_ips: Vec::new(),
        }
    }
}
