//! The directives a server block may hold: [`Plugin`] (one parsed directive), CoreDNS's
//! directive table in execution order ([`COREDNS_DIRECTIVES`], plugin.cfg) and the part of it
//! kdns implements ([`SUPPORTED`]).
use crate::plugin::acl::AclConfig;
use crate::plugin::autopath::config::AutopathConfig;
use crate::plugin::cache::CacheConfig;
use crate::plugin::chaos::ChaosConfig;
use crate::plugin::errors::ErrorsConfig;
use crate::plugin::forward::ForwardConfig;
use crate::plugin::health::HealthConfig;
use crate::plugin::hosts::config::HostsConfig;
use crate::plugin::k8s_external::config::K8sExternalConfig;
use crate::plugin::kubernetes::config::KubernetesConfig;
use crate::plugin::log::LogConfig;
use crate::plugin::prometheus::PrometheusConfig;
use crate::plugin::ready::ReadyConfig;
use crate::plugin::reload::ReloadConfig;
use crate::plugin::rewrite::RewriteConfig;
use crate::plugin::template::config::TemplateConfig;
use crate::plugin::transfer::config::TransferConfig;

/// One directive of a server block; a block's list is in CoreDNS's plugin order (plugin.cfg).
#[derive(Debug, Clone)]
pub enum Plugin {
    /// `kubernetes`: the cluster zone.
    Kubernetes(Box<KubernetesConfig>),
    /// `forward`: one per `forward` line, in Corefile order.
    Forward(Box<ForwardConfig>),
    /// `cache`.
    Cache(Box<CacheConfig>),
    /// `health`.
    Health(HealthConfig),
    /// `ready`.
    Ready(ReadyConfig),
    /// `prometheus`.
    Prometheus(PrometheusConfig),
    /// `errors`.
    Errors(ErrorsConfig),
    /// `log`: the rules of every `log` line of the block.
    Log(LogConfig),
    /// `loop`.
    Loop,
    /// `reload`.
    Reload(ReloadConfig),
    /// `loadbalance` (round robin).
    Loadbalance,
    /// `bufsize`: the largest EDNS size a request keeps.
    Bufsize(u16),
    /// `chaos`: the version and authors it answers with.
    Chaos(ChaosConfig),
    /// `any`.
    Any,
    /// `acl`: the rules of every `acl` line of the block.
    Acl(AclConfig),
    /// `hosts`: a hosts file and inline entries.
    Hosts(Box<HostsConfig>),
    /// `template`: every `template` line of the block, in order.
    Template(Box<TemplateConfig>),
    /// `rewrite`: the rules of every `rewrite` line of the block.
    Rewrite(Box<RewriteConfig>),
    /// `transfer`: every `transfer` line of the block.
    Transfer(Box<TransferConfig>),
    /// `k8s_external`: Services' outside addresses (needs `kubernetes` in the block).
    K8sExternal(Box<K8sExternalConfig>),
    /// `autopath`: the zones and where the search path comes from.
    Autopath(Box<AutopathConfig>),
}

impl Plugin {
    /// The directive's name.
    pub fn name(&self) -> &'static str {
        match self {
            Plugin::Kubernetes(_) => "kubernetes",
            Plugin::Forward(_) => "forward",
            Plugin::Cache(_) => "cache",
            Plugin::Health(_) => "health",
            Plugin::Ready(_) => "ready",
            Plugin::Prometheus(_) => "prometheus",
            Plugin::Errors(_) => "errors",
            Plugin::Log(_) => "log",
            Plugin::Loop => "loop",
            Plugin::Reload(_) => "reload",
            Plugin::Loadbalance => "loadbalance",
            Plugin::Bufsize(_) => "bufsize",
            Plugin::Chaos(_) => "chaos",
            Plugin::Any => "any",
            Plugin::Acl(_) => "acl",
            Plugin::Hosts(_) => "hosts",
            Plugin::Template(_) => "template",
            Plugin::Rewrite(_) => "rewrite",
            Plugin::Transfer(_) => "transfer",
            Plugin::K8sExternal(_) => "k8s_external",
            Plugin::Autopath(_) => "autopath",
        }
    }

    /// Position in CoreDNS's execution order.
    pub fn order(&self) -> usize {
        let n = self.name();
        COREDNS_DIRECTIVES
            .iter()
            .position(|d| *d == n)
            .unwrap_or(usize::MAX)
    }
}

/// Every directive CoreDNS 1.14.7 knows (its plugin.cfg), in its execution order.
pub const COREDNS_DIRECTIVES: &[&str] = &[
    "root",
    "metadata",
    "geoip",
    "cancel",
    "proxyproto",
    "quic",
    "grpc_server",
    "https",
    "https3",
    "timeouts",
    "multisocket",
    "reload",
    "nsid",
    "bufsize",
    "bind",
    "debug",
    "trace",
    "ready",
    "health",
    "pprof",
    "shed",
    "prometheus",
    "errors",
    "log",
    "dnstap",
    "local",
    "dns64",
    "any",
    "chaos",
    "loadbalance",
    "tsig",
    "rewrite",
    "autopath",
    "acl",
    "cache",
    "header",
    "dnssec",
    "tls",
    "minimal",
    "template",
    "transfer",
    "hosts",
    "route53",
    "azure",
    "clouddns",
    "k8s_external",
    "kubernetes",
    "file",
    "auto",
    "secondary",
    "etcd",
    "loop",
    "forward",
    "grpc",
    "erratic",
    "whoami",
    "on",
    "sign",
    "view",
    "nomad",
];

/// Directives kdns implements.
pub const SUPPORTED: &[&str] = &[
    "acl",
    "any",
    "autopath",
    "bind",
    "bufsize",
    "cache",
    "chaos",
    "errors",
    "forward",
    "health",
    "hosts",
    "k8s_external",
    "kubernetes",
    "loadbalance",
    "log",
    "loop",
    "prometheus",
    "ready",
    "reload",
    "rewrite",
    "template",
    "transfer",
];

/// Directives that may appear more than once in a server block.
pub(super) const REPEATABLE: &[&str] = &[
    "acl", "bind", "forward", "log", "rewrite", "template", "transfer",
];
