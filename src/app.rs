//! Wiring: a loaded Corefile becomes sources, zones, a router and listeners; then it serves
//! until shutdown. Nothing listens unless everything loaded.
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use crate::config::kubernetes::{ApiConfig, SourceConfig};
use crate::config::{Config, Plugin};
use crate::dns::server::{self, Listeners};
use crate::dns::{Block, Router, Step};
use crate::source::kube::{self as kube_source, SourceError, SourceStatus, WatchOptions};
use crate::source::manifests::{self, Filter, ManifestError};
use crate::zone::{PodMode, Zone, ZoneHandle};

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

/// Everything built from a Corefile, before any socket is opened.
pub struct Prepared {
    pub router: Arc<Router>,
    pub watches: Vec<Watch>,
    pub api_watches: Vec<ApiWatch>,
    /// One line per server block, for logs and `--validate`.
    pub summary: Vec<String>,
}

fn interface_ips() -> Vec<IpAddr> {
    if_addrs::get_if_addrs()
        .map(|v| v.into_iter().map(|i| i.ip()).collect())
        .unwrap_or_default()
}

/// Loads every source (fatal on error) and builds the router.
pub fn prepare(cfg: &Config) -> Result<Prepared, AppError> {
    let mut router = Router::default();
    let mut watches = Vec::new();
    let mut api_watches = Vec::new();
    let mut summary = Vec::new();
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
        let mut chain = Vec::new();
        let mut parts = Vec::new();
        for p in &b.plugins {
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
                            let zone = manifests::build_zone(dir, &filter).map_err(|source| {
                                AppError::Manifests {
                                    at: k.at.clone(),
                                    source,
                                }
                            })?;
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
                            let handle = ZoneHandle::new(Arc::new(Zone::default()));
                            parts.push(format!("kubernetes {zones} (API: {})", describe_api(api)));
                            api_watches.push(ApiWatch {
                                at: k.at.clone(),
                                api: api.clone(),
                                opts: WatchOptions {
                                    filter,
                                    pods: k.options.pods == PodMode::Verified,
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
        router.ports.entry(b.port).or_default().push(Block {
            zones: b.zones.clone(),
            chain,
        });
    }
    Ok(Prepared {
        router: Arc::new(router),
        watches,
        api_watches,
        summary,
    })
}

/// Binds every port of the Corefile.
pub fn bind_all(cfg: &Config) -> Result<Vec<Listeners>, AppError> {
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
        .into_iter()
        .map(|(port, addrs)| {
            server::bind(port, &addrs).map_err(|source| AppError::Bind { port, source })
        })
        .collect()
}

/// Serves `cfg` until `shutdown`. `on_listen` gets the bound addresses once serving.
pub async fn run(
    cfg: Config,
    shutdown: CancellationToken,
    on_listen: impl FnOnce(&[SocketAddr]),
) -> Result<(), AppError> {
    let prepared = prepare(&cfg)?;
    for line in &prepared.summary {
        tracing::info!("{line}");
    }
    let mut statuses: Vec<Arc<SourceStatus>> = Vec::new();
    for w in prepared.api_watches {
        let client = kube_source::client(&w.api)
            .await
            .map_err(|source| AppError::Api {
                at: w.at.clone(),
                source,
            })?;
        statuses.push(kube_source::spawn(client, w.opts, w.zone, shutdown.clone()));
    }
    let listeners = bind_all(&cfg)?;
    let addrs: Vec<SocketAddr> = listeners.iter().flat_map(|l| l.local_addrs()).collect();
    for w in prepared.watches {
        let dir = w.dir.display().to_string();
        if let Err(e) = manifests::watch(w.dir, w.filter, w.zone, shutdown.clone()) {
            tracing::error!(%dir, error = %e, "cannot watch the manifests directory; changes will not be picked up");
        }
    }
    on_listen(&addrs);
    server::run(prepared.router, listeners, shutdown).await?;
    Ok(())
}
