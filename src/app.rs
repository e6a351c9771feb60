//! Wiring: a loaded Corefile becomes sources, zones, a router of directive chains, and the
//! HTTP endpoints to serve. Nothing listens unless everything loaded; serving, reload and
//! shutdown are in [`crate::serve`].
use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::config::{Config, Plugin, ServerBlock};
use crate::dns::{Block, DataVersion, Router};
use crate::http::readiness::Readiness;
use crate::http::Routes;
use crate::plugin::cache::Cache;
use crate::plugin::errors::Errors;
use crate::plugin::forward::Forward;
use crate::plugin::health::HealthConfig;
use crate::plugin::hosts::Hosts;
use crate::plugin::kubernetes::config::{KubernetesConfig, SourceConfig};
use crate::plugin::kubernetes::Kubernetes;
use crate::plugin::loadbalance::Loadbalance;
use crate::plugin::log::Log;
use crate::plugin::loop_detect::LoopDetect;
use crate::plugin::prometheus::{DnsMetrics, PrometheusConfig};
use crate::plugin::ready::ReadyConfig;
use crate::plugin::reload::ReloadConfig;
use crate::plugin::rewrite::Rewrite;
use crate::plugin::template::Template;
use crate::source::api::ApiConfig;
use crate::source::manifests::{self, ManifestError};
use crate::source::{Filter, SourceError, WatchOptions};
use crate::zone::{PodMode, Versions, Zone, ZoneHandle};

mod parts;

use parts::BlockParts;

#[derive(Debug, thiserror::Error)]
pub(crate) enum AppError {
    #[error("{at}: kubernetes: manifests: {source}")]
    Manifests {
        at: String,
        #[source]
        source: ManifestError,
    },
    #[error("{at}: kubernetes: kubeconfig {}: no such file", path.display())]
    Kubeconfig { at: String, path: PathBuf },
    #[error("{at}: kubernetes: {source}")]
    Api {
        at: String,
        #[source]
        source: SourceError,
    },
    #[error("cannot listen on port {port}: {source}")]
    Bind {
        port: u16,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Http(#[from] crate::http::HttpError),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// A manifests directory to keep watching.
pub(crate) struct Watch {
    pub dir: PathBuf,
    pub filter: Filter,
    pub zone: ZoneHandle,
}

/// A live API source to start.
pub(crate) struct ApiWatch {
    pub at: String,
    pub api: ApiConfig,
    pub opts: WatchOptions,
    pub zone: ZoneHandle,
}

fn describe_api(api: &ApiConfig) -> String {
    if let Some((p, ctx)) = &api.kubeconfig {
        match ctx {
            Some(c) => format!("kubeconfig {} context {c}", p.display()),
            None => format!("kubeconfig {}", p.display()),
        }
    } else if let Some(e) = &api.endpoint {
        format!("endpoint {e}")
    } else {
        "in-cluster service account".into()
    }
}

/// A `loop` probe to start once the block's port listens.
pub(crate) struct LoopProbe {
    pub port: u16,
    pub detector: Arc<LoopDetect>,
}

/// Everything built from a Corefile, before any socket is opened.
pub(crate) struct Prepared {
    pub router: Arc<Router>,
    pub watches: Vec<Watch>,
    pub api_watches: Vec<ApiWatch>,
    /// One line per server block, for logs and `--validate`.
    pub summary: Vec<String>,
    /// The parts `/ready` waits for (a source sets its flag once it has synced).
    pub ready: Arc<Readiness>,
    /// HTTP address → what it serves (`health`, `ready`, `prometheus`).
    pub http: BTreeMap<String, Routes>,
    /// The longest `health` lameduck.
    pub lameduck: Duration,
    pub reload: Option<ReloadConfig>,
    pub loops: Vec<LoopProbe>,
    /// The router's data version, given to the directives whose data changes (`hosts`).
    data: DataVersion,
}

fn interface_ips() -> Vec<IpAddr> {
    if_addrs::get_if_addrs()
        .map(|v| v.into_iter().map(|i| i.ip()).collect())
        .unwrap_or_default()
}

/// The metrics `server` label: `dns://[BIND]:PORT`, as CoreDNS.
pub(crate) fn server_label(b: &ServerBlock) -> String {
    let host = match b.binds.first() {
        Some(IpAddr::V6(v6)) => format!("[{v6}]"),
        Some(ip) => ip.to_string(),
        None => String::new(),
    };
    format!("dns://{host}:{}", b.port)
}

/// Loads every source (fatal on error) and builds the router.
pub(crate) fn prepare(cfg: &Config) -> Result<Prepared, AppError> {
    let mut p = Prepared {
        router: Arc::new(Router::default()),
        watches: Vec::new(),
        api_watches: Vec::new(),
        summary: Vec::new(),
        ready: Arc::new(Readiness::default()),
        http: BTreeMap::new(),
        lameduck: Duration::ZERO,
        reload: None,
        loops: Vec::new(),
        data: DataVersion::default(),
    };
    let mut router = Router {
        data: p.data.clone(),
        ..Router::default()
    };
    for b in &cfg.blocks {
        let block = p.block(b)?;
        router
            .ports
            .entry(b.port)
            .or_default()
            .push(Arc::new(block));
    }
    p.router = Arc::new(router);
    Ok(p)
}

/// `ns.dns.ZONE` and the apex NS: the bound addresses (else the interfaces'), loopback left
/// out as CoreDNS does (a loopback address is no use to anyone else).
fn local_ips(b: &ServerBlock) -> Vec<IpAddr> {
    let bound: Vec<IpAddr> = b
        .binds
        .iter()
        .copied()
        .filter(|ip| !ip.is_unspecified())
        .collect();
    let all = if bound.is_empty() {
        interface_ips()
    } else {
        bound
    };
    all.into_iter().filter(|ip| !ip.is_loopback()).collect()
}

impl Prepared {
    /// Builds one server block: each directive in plugin.cfg order.
    fn block(&mut self, b: &ServerBlock) -> Result<Block, AppError> {
        let mut bp = BlockParts::new(b, server_label(b));
        for (i, p) in b.plugins.iter().enumerate() {
            self.directive(&mut bp, i, p)?;
        }
        bp.place_deferred();
        let parts = if bp.parts.is_empty() {
            "no directives (REFUSED)".to_string()
        } else {
            bp.parts.join("; ")
        };
        self.summary.push(format!(
            "{} {}:{}: {parts}",
            b.at,
            b.zones.join(" "),
            b.port
        ));
        let mut block = Block::new(b.zones.clone(), bp.chain);
        block.observers = bp.observers;
        Ok(block)
    }

    /// What directive `p` (the `i`th of its block) adds to the block and the process.
    fn directive<'a>(
        &mut self,
        bp: &mut BlockParts<'a>,
        i: usize,
        p: &'a Plugin,
    ) -> Result<(), AppError> {
        let b = bp.b;
        match p {
            Plugin::Kubernetes(k) => {
                let d = Arc::new(self.kubernetes(k, local_ips(b), &mut bp.parts)?);
                bp.kubernetes = Some(d.clone());
                bp.chain.push(d);
            }
            Plugin::Transfer(t) => bp.defer_transfer(t),
            Plugin::K8sExternal(c) => bp.defer_external(c),
            Plugin::Forward(f) => {
                let next_is_forward = matches!(b.plugins.get(i + 1), Some(Plugin::Forward(_)));
                let to: Vec<String> = f.to.iter().map(ToString::to_string).collect();
                bp.parts
                    .push(format!("forward {} -> {}", f.from, to.join(" ")));
                bp.chain.push(Forward::new(f, next_is_forward));
            }
            Plugin::Cache(c) => {
                bp.parts.push(format!("cache {}", c.zones.join(" ")));
                bp.chain.push(Cache::new(c, &bp.server));
            }
            Plugin::Hosts(h) => {
                let d = Hosts::new(h, self.data.clone());
                bp.parts.push(format!(
                    "hosts {} ({} entries)",
                    h.path.display(),
                    d.entries()
                ));
                bp.chain.push(Arc::new(d));
            }
            Plugin::Loadbalance => {
                bp.parts.push("loadbalance".into());
                bp.chain.push(Arc::new(Loadbalance));
            }
            Plugin::Template(t) => {
                bp.parts
                    .push(format!("template ({} templates)", t.rules.len()));
                bp.chain.push(Template::new(t, &bp.server));
            }
            Plugin::Autopath(c) => bp.defer_autopath(c),
            Plugin::Rewrite(r) => {
                bp.parts.push(format!("rewrite ({} rules)", r.rules.len()));
                bp.chain.push(Arc::new(Rewrite::new(r)));
            }
            Plugin::Loop => {
                let zone = b.zones.first().map(String::as_str).unwrap_or(".");
                let detector = LoopDetect::new(zone);
                self.loops.push(LoopProbe {
                    port: b.port,
                    detector: detector.clone(),
                });
                bp.parts.push("loop".into());
                bp.chain.push(detector);
            }
            Plugin::Prometheus(m) => self.prometheus(bp, i, m),
            Plugin::Errors(e) => {
                bp.observers.push(Errors::new(e));
                bp.parts.push("errors".into());
            }
            Plugin::Log(l) => {
                bp.observers.push(Log::new(l));
                bp.parts.push("log".into());
            }
            Plugin::Health(h) => self.health(h, &mut bp.parts),
            Plugin::Ready(r) => self.ready(r, &mut bp.parts),
            Plugin::Reload(r) => {
                self.reload.get_or_insert(*r);
                bp.parts.push("reload".into());
            }
            Plugin::Bufsize(_) | Plugin::Chaos(_) | Plugin::Any | Plugin::Acl(_) => {
                bp.small_directive(p);
            }
        }
        Ok(())
    }

    fn prometheus(&mut self, bp: &mut BlockParts<'_>, i: usize, m: &PrometheusConfig) {
        let b = bp.b;
        // The directive after this one in the chain: CoreDNS's `plugin` label.
        let writer = b.plugins[i + 1..]
            .iter()
            .map(Plugin::name)
            .find(|n| !matches!(*n, "health" | "ready" | "reload"))
            .unwrap_or("");
        bp.observers
            .push(DnsMetrics::new(&bp.server, &b.zones, writer));
        self.http.entry(m.addr.clone()).or_default().merge(Routes {
            metrics: true,
            ..Routes::default()
        });
        bp.parts.push(format!("prometheus {}", m.addr));
    }

    fn health(&mut self, h: &HealthConfig, parts: &mut Vec<String>) {
        self.http.entry(h.addr.clone()).or_default().merge(Routes {
            health: true,
            ..Routes::default()
        });
        self.lameduck = self.lameduck.max(h.lameduck);
        parts.push(format!("health {}", h.addr));
    }

    fn ready(&mut self, r: &ReadyConfig, parts: &mut Vec<String>) {
        if r.continuously {
            self.ready.set_continuously(true);
        }
        self.http.entry(r.addr.clone()).or_default().merge(Routes {
            ready: Some(self.ready.clone()),
            ..Routes::default()
        });
        parts.push(format!("ready {}", r.addr));
    }

    /// The `kubernetes` directive: loads its manifests now, or plans its API watch.
    fn kubernetes(
        &mut self,
        k: &KubernetesConfig,
        local_ips: Vec<IpAddr>,
        parts: &mut Vec<String>,
    ) -> Result<Kubernetes, AppError> {
        let filter = Filter {
            labels: k.labels.clone(),
            namespace_labels: k.namespace_labels.clone(),
            noendpoints: k.noendpoints,
        };
        let mut options = k.options.clone();
        options.local_ips = local_ips;
        let zones = k.options.zones.join(" ");
        let (handle, startup_deadline) = match &k.source {
            SourceConfig::Manifests(dir) => {
                let handle = self.manifests(k, dir, filter)?;
                let n = handle.load().service_count();
                parts.push(format!(
                    "kubernetes {zones} ({n} services from {})",
                    dir.display()
                ));
                (handle, None)
            }
            SourceConfig::Api(api) => {
                let handle = self.api(k, api, filter)?;
                parts.push(format!("kubernetes {zones} (API: {})", describe_api(api)));
                (handle, Some(Instant::now() + k.startup_timeout))
            }
        };
        Ok(Kubernetes::new(options, handle, startup_deadline))
    }

    fn manifests(
        &mut self,
        k: &KubernetesConfig,
        dir: &Path,
        filter: Filter,
    ) -> Result<ZoneHandle, AppError> {
        let zone = manifests::build_zone(dir, &filter, Versions::new()).map_err(|source| {
            AppError::Manifests {
                at: k.at.clone(),
                source,
            }
        })?;
        // Manifests are ready once loaded.
        self.ready.register("kubernetes").set(true);
        let handle = ZoneHandle::new(zone);
        self.watches.push(Watch {
            dir: dir.to_path_buf(),
            filter,
            zone: handle.clone(),
        });
        Ok(handle)
    }

    fn api(
        &mut self,
        k: &KubernetesConfig,
        api: &ApiConfig,
        filter: Filter,
    ) -> Result<ZoneHandle, AppError> {
        if let Some((path, _)) = &api.kubeconfig {
            if !path.is_file() {
                return Err(AppError::Kubeconfig {
                    at: k.at.clone(),
                    path: path.clone(),
                });
            }
        }
        // Readiness comes from the source once it runs (see serve.rs).
        let handle = ZoneHandle::new(Arc::new(Zone::default()));
        self.api_watches.push(ApiWatch {
            at: k.at.clone(),
            api: api.clone(),
            opts: WatchOptions {
                filter,
                pods: k.options.pods == PodMode::Verified,
                qps: api.qps,
                burst: api.burst,
                multicluster: !k.options.multicluster.is_empty(),
            },
            zone: handle.clone(),
        });
        Ok(handle)
    }
}

/// Ports and the addresses each listens on (empty: every address), in Corefile order.
pub(crate) fn listen_plan(cfg: &Config) -> Vec<(u16, Vec<IpAddr>)> {
    let mut ports: Vec<(u16, Vec<IpAddr>)> = Vec::new();
    for b in &cfg.blocks {
        match ports.iter_mut().find(|(p, _)| *p == b.port) {
            Some((_, addrs)) => {
                // A block without `bind` listens everywhere; otherwise add its addresses.
                if b.binds.is_empty() || addrs.is_empty() {
                    addrs.clear();
                } else {
                    addrs.extend(
                        b.binds
                            .iter()
                            .filter(|a| !addrs.contains(a))
                            .copied()
                            .collect::<Vec<_>>(),
                    );
                }
            }
            None => ports.push((b.port, b.binds.clone())),
        }
    }
    ports
}

/// `coredns_plugin_enabled` for the blocks with `prometheus`.
pub(crate) fn report_enabled(cfg: &Config) {
    crate::metrics::global().clear("coredns_plugin_enabled");
    for b in &cfg.blocks {
        if !b.plugins.iter().any(|p| matches!(p, Plugin::Prometheus(_))) {
            continue;
        }
        let names: Vec<&str> = b
            .plugins
            .iter()
            .map(Plugin::name)
            .filter(|n| !matches!(*n, "health" | "ready" | "reload"))
            .collect();
        for z in &b.zones {
            crate::plugin::prometheus::plugins_enabled(&server_label(b), z, &names);
        }
    }
}
