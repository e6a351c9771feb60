//! Wiring: a loaded Corefile becomes sources, zones, a router of directive chains, and the
//! HTTP endpoints to serve. Nothing listens unless everything loaded; serving, reload and
//! shutdown are in [`crate::serve`].
use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use crate::config::kubernetes::{ApiConfig, SourceConfig};
use crate::config::{Config, Plugin, ServerBlock};
use crate::dns::server::{self, Listeners};
use crate::dns::{Block, Observers, Router, Step};
use crate::http::Routes;
use crate::plugin::cache::Cache;
use crate::plugin::errors::Errors;
use crate::plugin::forward::Forward;
use crate::plugin::log::Log;
use crate::plugin::loop_detect::LoopDetect;
use crate::plugin::prometheus::DnsMetrics;
use crate::plugin::ready::Readiness;
use crate::plugin::reload::ReloadConfig;
use crate::source::kube::{SourceError, WatchOptions};
use crate::source::manifests::{self, Filter, ManifestError};
use crate::zone::{PodMode, Versions, Zone, ZoneHandle};

#[derive(Debug, thiserror::Error)]
pub enum AppError {
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
pub struct Watch {
    pub dir: PathBuf,
    pub filter: Filter,
    pub zone: ZoneHandle,
}

/// A live API source to start.
pub struct ApiWatch {
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
pub struct LoopProbe {
    pub port: u16,
    pub detector: Arc<LoopDetect>,
}

/// Everything built from a Corefile, before any socket is opened.
pub struct Prepared {
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
}

fn interface_ips() -> Vec<IpAddr> {
    if_addrs::get_if_addrs()
        .map(|v| v.into_iter().map(|i| i.ip()).collect())
        .unwrap_or_default()
}

/// The metrics `server` label: `dns://[BIND]:PORT`, as CoreDNS.
pub fn server_label(b: &ServerBlock) -> String {
    let host = match b.binds.first() {
        Some(IpAddr::V6(v6)) => format!("[{v6}]"),
        Some(ip) => ip.to_string(),
        None => String::new(),
    };
    format!("dns://{host}:{}", b.port)
}

/// Loads every source (fatal on error) and builds the router.
pub fn prepare(cfg: &Config) -> Result<Prepared, AppError> {
    let mut router = Router::default();
    let mut watches = Vec::new();
    let mut api_watches = Vec::new();
    let mut summary = Vec::new();
    let ready = Arc::new(Readiness::default());
    let mut http: BTreeMap<String, Routes> = BTreeMap::new();
    let mut lameduck = Duration::ZERO;
    let mut reload = None;
    let mut loops = Vec::new();
    for b in &cfg.blocks {
        // `ns.dns.ZONE` and the apex NS: the bound addresses (else the interfaces'), loopback
        // left out as CoreDNS does (a loopback address is no use to anyone else).
        let local_ips: Vec<IpAddr> = {
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
        };
        let server = server_label(b);
        let mut chain = Vec::new();
        let mut observers = Observers::default();
        let mut parts = Vec::new();
        for (i, p) in b.plugins.iter().enumerate() {
            match p {
                Plugin::Kubernetes(k) => {
                    let filter = Filter {
                        labels: k.labels.clone(),
                        namespace_labels: k.namespace_labels.clone(),
                        noendpoints: k.noendpoints,
                    };
                    let mut options = k.options.clone();
                    options.local_ips = local_ips.clone();
                    let zones = k.options.zones.join(" ");
                    let (handle, startup_deadline) = match &k.source {
                        SourceConfig::Manifests(dir) => {
                            let zone = manifests::build_zone(dir, &filter, Versions::new())
                                .map_err(|source| AppError::Manifests {
                                    at: k.at.clone(),
                                    source,
                                })?;
                            // Manifests are ready once loaded.
                            ready.register("kubernetes").set(true);
                            parts.push(format!(
                                "kubernetes {zones} ({} services from {})",
                                zone.service_count(),
                                dir.display()
                            ));
                            let handle = ZoneHandle::new(zone);
                            watches.push(Watch {
                                dir: dir.clone(),
                                filter,
                                zone: handle.clone(),
                            });
                            (handle, None)
                        }
                        SourceConfig::Api(api) => {
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
                            parts.push(format!("kubernetes {zones} (API: {})", describe_api(api)));
                            api_watches.push(ApiWatch {
                                at: k.at.clone(),
                                api: api.clone(),
                                opts: WatchOptions {
                                    filter,
                                    pods: k.options.pods == PodMode::Verified,
                                    qps: api.qps,
                                    burst: api.burst,
                                },
                                zone: handle.clone(),
                            });
                            (handle, Some(Instant::now() + k.startup_timeout))
                        }
                    };
                    chain.push(Step::Kubernetes {
                        options,
                        zone: handle,
                        startup_deadline,
                    });
                }
                Plugin::Forward(f) => {
                    let next_is_forward = matches!(b.plugins.get(i + 1), Some(Plugin::Forward(_)));
                    let to: Vec<String> = f.to.iter().map(SocketAddr::to_string).collect();
                    parts.push(format!("forward {} -> {}", f.from, to.join(" ")));
                    chain.push(Step::Forward(Forward::new(f, next_is_forward)));
                }
                Plugin::Cache(c) => {
                    parts.push(format!("cache {}", c.zones.join(" ")));
                    chain.push(Step::Cache(Cache::new(c, &server)));
                }
                Plugin::Loadbalance => {
                    parts.push("loadbalance".into());
                    chain.push(Step::Loadbalance);
                }
                Plugin::Loop => {
                    let zone = b.zones.first().map(String::as_str).unwrap_or(".");
                    let detector = LoopDetect::new(zone);
                    loops.push(LoopProbe {
                        port: b.port,
                        detector: detector.clone(),
                    });
                    parts.push("loop".into());
                    chain.push(Step::Loop(detector));
                }
                Plugin::Prometheus(m) => {
                    // The directive after this one in the chain: CoreDNS's `plugin` label.
                    let writer = b.plugins[i + 1..]
                        .iter()
                        .map(Plugin::name)
                        .find(|n| !matches!(*n, "health" | "ready" | "reload"))
                        .unwrap_or("");
                    observers.metrics = Some(DnsMetrics::new(&server, &b.zones, writer));
                    http.entry(m.addr.clone()).or_default().merge(Routes {
                        metrics: true,
                        ..Routes::default()
                    });
                    parts.push(format!("prometheus {}", m.addr));
                }
                Plugin::Errors(e) => {
                    observers.errors = Some(Errors::new(e));
                    parts.push("errors".into());
                }
                Plugin::Log(l) => {
                    observers.log = Some(Log::new(l));
                    parts.push("log".into());
                }
                Plugin::Health(h) => {
                    http.entry(h.addr.clone()).or_default().merge(Routes {
                        health: true,
                        ..Routes::default()
                    });
                    lameduck = lameduck.max(h.lameduck);
                    parts.push(format!("health {}", h.addr));
                }
                Plugin::Ready(r) => {
                    if r.continuously {
                        ready.set_continuously(true);
                    }
                    http.entry(r.addr.clone()).or_default().merge(Routes {
                        ready: Some(ready.clone()),
                        ..Routes::default()
                    });
                    parts.push(format!("ready {}", r.addr));
                }
                Plugin::Reload(r) => {
                    reload.get_or_insert(*r);
                    parts.push("reload".into());
                }
            }
        }
        summary.push(format!(
            "{} {}:{}: {}",
            b.at,
            b.zones.join(" "),
            b.port,
            if parts.is_empty() {
                "no directives (REFUSED)".to_string()
            } else {
                parts.join("; ")
            }
        ));
        let mut block = Block::new(b.zones.clone(), chain);
        block.observers = observers;
        router
            .ports
            .entry(b.port)
            .or_default()
            .push(Arc::new(block));
    }
    Ok(Prepared {
        router: Arc::new(router),
        watches,
        api_watches,
        summary,
        ready,
        http,
        lameduck,
        reload,
        loops,
    })
}

/// Ports and the addresses each listens on (empty: every address), in Corefile order.
pub fn listen_plan(cfg: &Config) -> Vec<(u16, Vec<IpAddr>)> {
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

/// Binds every port of the Corefile.
pub fn bind_all(cfg: &Config) -> Result<Vec<Listeners>, AppError> {
    listen_plan(cfg)
        .into_iter()
        .map(|(port, addrs)| {
            server::bind(port, &addrs).map_err(|source| AppError::Bind { port, source })
        })
        .collect()
}

/// `coredns_plugin_enabled` for the blocks with `prometheus`.
pub fn report_enabled(cfg: &Config) {
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

/// Serves `cfg` until `shutdown`. `on_listen` gets the bound addresses once serving.
pub async fn run(
    cfg: Config,
    shutdown: CancellationToken,
    on_listen: impl FnOnce(&[SocketAddr]),
) -> Result<(), AppError> {
    crate::serve::run(cfg, shutdown, on_listen).await
}
