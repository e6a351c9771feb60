//! The serving lifecycle: listeners, the HTTP endpoints, `reload`, and stopping.
//!
//! A reload builds the new router first, binds only the ports and HTTP addresses that are
//! new, then swaps the router atomically (queries in flight finish on the old one) and closes
//! what is no longer configured. Any error keeps the running configuration.
//!
//! Stopping (SIGTERM): `/ready` turns 503, DNS and `/health` keep answering for the `health`
//! lameduck, then the listeners close and the queries in flight finish.
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokio_util::sync::CancellationToken;

use crate::app::{self, AppError, Prepared};
use crate::config::{self, Config};
use crate::dns::handover::{self, Offer, Offered};
use crate::dns::server::{self, Listeners, Serving};
use crate::dns::Router;
use crate::http::HttpServers;
use crate::metrics;
use crate::plugin::{health, prometheus};
use crate::source::manifests;
use crate::source::{self, connect};

type ListenKey = (u16, Vec<IpAddr>);

struct Port {
    serving: Serving,
    addrs: Vec<SocketAddr>,
    /// Its sockets, for a successor (`--handover`).
    offered: Offered,
}

impl Port {
    /// Starts serving `l` with `router`.
    fn serve(router: &Arc<ArcSwap<Router>>, l: Listeners) -> Self {
        let addrs = l.local_addrs();
        let mut offered = Offered::of(&l);
        let serving = server::serve(router.clone(), l);
        offered.adopt = Some(serving.adopter());
        Port {
            serving,
            addrs,
            offered,
        }
    }
}

/// What runs for the configuration in use.
struct Generation {
    cfg: Config,
    prepared: Prepared,
    /// Stops this configuration's watches and probes.
    tasks: CancellationToken,
}

struct State {
    router: Arc<ArcSwap<Router>>,
    ports: HashMap<ListenKey, Port>,
    http: HttpServers,
    current: Generation,
    /// The sockets offered to a successor (empty without `--handover`).
    offer: Offer,
    /// `--handover`'s path.
    handover: Option<PathBuf>,
}

fn start_tasks(g: &Generation, ports: &HashMap<ListenKey, Port>, http: &HttpServers) {
    for w in &g.prepared.watches {
        let dir = w.dir.display().to_string();
        if let Err(e) = manifests::watch(
            w.dir.clone(),
            w.filter.clone(),
            w.zone.clone(),
            g.tasks.clone(),
        ) {
            tracing::error!(%dir, error = %e, "cannot watch the manifests directory; changes will not be picked up");
        }
    }
    for l in &g.prepared.loops {
        let addr = ports
            .iter()
            .find(|((p, _), _)| *p == l.port)
            .and_then(|(_, port)| port.addrs.first().copied());
        if let Some(a) = addr {
            tokio::spawn(l.detector.clone().probe(a, g.tasks.clone()));
        }
    }
    for (addr, local) in http.local_addrs() {
        if g.prepared.http.get(&addr).is_some_and(|r| r.health) {
            tokio::spawn(health::self_check(local, g.tasks.clone()));
        }
    }
}

/// Connects every live API source of `g` and starts its watchers (stopped with `g.tasks`);
/// `/ready` waits for each to sync.
async fn start_sources(g: &mut Generation) -> Result<(), AppError> {
    let watches = std::mem::take(&mut g.prepared.api_watches);
    let mut clients = Vec::new();
    for w in &watches {
        let client = connect(&w.api).await.map_err(|source| AppError::Api {
            at: w.at.clone(),
            source,
        })?;
        clients.push(client);
    }
    for (w, client) in watches.into_iter().zip(clients) {
        let status = source::spawn(client, w.opts, w.zone, g.tasks.clone());
        g.prepared
            .ready
            .register_check("kubernetes", move || status.synced.load(Ordering::Relaxed));
    }
    Ok(())
}

/// The sockets of the kdns offering them at `path` (none when there is none, or on error).
fn inherit(path: &Path) -> HashMap<ListenKey, Listeners> {
    match handover::take(path) {
        Ok(Some(taken)) => {
            let n: usize = taken.values().map(|l| l.udp.len() + l.tcp.len()).sum();
            tracing::info!(path = %path.display(), sockets = n, "took over the DNS sockets of the running kdns");
            taken
        }
        Ok(None) => HashMap::new(),
        Err(e) => {
            tracing::warn!(path = %path.display(), error = %e, "socket handover failed; binding afresh");
            HashMap::new()
        }
    }
}

fn bind_key(key: &ListenKey) -> Result<Listeners, AppError> {
    server::bind(key.0, &key.1).map_err(|source| AppError::Bind {
        port: key.0,
        source,
    })
}

fn version_info(sha: &str, on: bool) {
    let reg = metrics::global();
    reg.clear("coredns_reload_version_info");
    if on {
        reg.gauge(
            "coredns_reload_version_info",
            "A metric with a constant '1' value labeled by hash, and value which type of hash generated.",
            &[("hash", "sha512"), ("value", sha)],
        )
        .set(1);
    }
}

impl State {
    async fn start(
        cfg: Config,
        handover: Option<&Path>,
    ) -> Result<(Self, Vec<SocketAddr>), AppError> {
        let prepared = app::prepare(&cfg)?;
        for line in &prepared.summary {
            tracing::info!("{line}");
        }
        let mut current = Generation {
            cfg,
            prepared,
            tasks: CancellationToken::new(),
        };
        start_sources(&mut current).await?;
        let router = Arc::new(ArcSwap::new(current.prepared.router.clone()));
        let mut inherited = handover.map(inherit).unwrap_or_default();
        let mut ports = HashMap::new();
        let mut all = Vec::new();
        for key in app::listen_plan(&current.cfg) {
            let l = match inherited.remove(&key) {
                Some(l) => l,
                None => bind_key(&key)?,
            };
            let port = Port::serve(&router, l);
            all.extend(port.addrs.iter().copied());
            ports.insert(key, port);
        }
        let mut offer = Offer::default();
        if let Some(path) = handover {
            offer.set(ports.values().map(|p| p.offered.clone()).collect());
            if let Err(e) = offer.serve(path) {
                tracing::warn!(path = %path.display(), error = %e, "cannot offer the DNS sockets to a successor");
            }
        }
        let mut http = HttpServers::default();
        http.apply(current.prepared.http.clone()).await?;
        prometheus::build_info();
        app::report_enabled(&current.cfg);
        if current.prepared.reload.is_some() {
            tracing::info!(
                "plugin/reload: Running configuration SHA512 = {}",
                current.cfg.sha512
            );
            version_info(&current.cfg.sha512, true);
        }
        start_tasks(&current, &ports, &http);
        Ok((
            Self {
                router,
                ports,
                http,
                current,
                offer,
                handover: handover.map(Path::to_path_buf),
            },
            all,
        ))
    }

    /// Loads the Corefile again; applies it when it changed and loads completely.
    /// `last_error` remembers the last failure (a load error's text, or the digest of a
    /// Corefile that loaded but did not apply) so each is logged and counted once.
    async fn reload(&mut self, last_error: &mut Option<String>) {
        let failed = || {
            metrics::global()
                .counter(
                    "coredns_reload_failed_total",
                    "Counter of the number of failed reload attempts.",
                    &[],
                )
                .inc()
        };
        let path = self.current.cfg.path.clone();
        let cfg = match config::load(&path, self.current.cfg.default_port) {
            Ok(c) => c,
            Err(e) => {
                let msg = e.to_string();
                if last_error.as_deref() != Some(msg.as_str()) {
                    tracing::error!("plugin/reload: Corefile changed but reload failed: {msg}; still serving the previous configuration");
                    failed();
                    *last_error = Some(msg);
                }
                return;
            }
        };
        // Unchanged, or the version that already failed to apply (as CoreDNS: tried once).
        let tried = format!("sha512:{}", cfg.sha512);
        if cfg.sha512 == self.current.cfg.sha512 || last_error.as_deref() == Some(tried.as_str()) {
            return;
        }
        *last_error = None;
        tracing::info!("Reloading");
        let t0 = Instant::now();
        match self.apply(cfg).await {
            Ok(()) => tracing::info!(took = ?t0.elapsed(), "Reloading complete"),
            Err(e) => {
                tracing::error!("plugin/reload: Corefile changed but reload failed: {e}; still serving the previous configuration");
                failed();
                *last_error = Some(tried);
            }
        }
    }

    async fn apply(&mut self, cfg: Config) -> Result<(), AppError> {
        let prepared = app::prepare(&cfg)?;
        let mut next = Generation {
            cfg,
            prepared,
            tasks: CancellationToken::new(),
        };
        // On an error below, what the new configuration started stops again.
        let stop_on_error = next.tasks.clone().drop_guard();
        start_sources(&mut next).await?;
        let plan = app::listen_plan(&next.cfg);
        let mut fresh = Vec::new();
        for key in &plan {
            if !self.ports.contains_key(key) {
                fresh.push((key.clone(), bind_key(key)?));
            }
        }
        self.http.apply(next.prepared.http.clone()).await?;
        // From here on nothing fails: swap, then open new ports and close old ones.
        stop_on_error.disarm();
        // Answers replayed by the UDP path name the router that answered them: the new one
        // makes them all stale.
        self.router.store(next.prepared.router.clone());
        for (key, l) in fresh {
            let port = Port::serve(&self.router, l);
            for a in &port.addrs {
                tracing::info!("listening on {a} (udp, tcp)");
            }
            self.ports.insert(key, port);
        }
        let gone: Vec<ListenKey> = self
            .ports
            .keys()
            .filter(|k| !plan.contains(k))
            .cloned()
            .collect();
        // Offered from here on: what is configured now (before the rest close).
        if self.offer.is_on() {
            self.offer.set(
                self.ports
                    .iter()
                    .filter(|(k, _)| plan.contains(k))
                    .map(|(_, p)| p.offered.clone())
                    .collect(),
            );
        }
        for key in gone {
            if let Some(p) = self.ports.remove(&key) {
                tracing::info!(port = key.0, "closing a listener no longer configured");
                tokio::spawn(p.serving.stop());
            }
        }
        for line in &next.prepared.summary {
            tracing::info!("{line}");
        }
        app::report_enabled(&next.cfg);
        version_info(&next.cfg.sha512, next.prepared.reload.is_some());
        let old = std::mem::replace(&mut self.current, next);
        old.tasks.cancel();
        start_tasks(&self.current, &self.ports, &self.http);
        Ok(())
    }

    /// Stops serving; says whether a successor took the sockets over.
    async fn stop(mut self) -> Stopped {
        self.current.prepared.ready.stopping();
        let lameduck = self.current.prepared.lameduck;
        if !lameduck.is_zero() {
            tracing::info!("plugin/health: Going into lameduck mode for {lameduck:?}");
            tokio::time::sleep(lameduck).await;
        }
        // A successor asking from now on gets nothing: these sockets close.
        self.offer.set(Vec::new());
        let mut open = Vec::new();
        for (key, p) in self.ports.drain() {
            let conns = p.serving.stop().await;
            if !conns.is_empty() {
                open.push((key, conns));
            }
        }
        if let (Some(path), false) = (self.handover.clone(), open.is_empty()) {
            // The successor serves them on, from the next query (they close here otherwise).
            match tokio::task::spawn_blocking(move || handover::pass(&path, open)).await {
                Ok(Ok(n)) => tracing::info!(
                    connections = n,
                    "handed the open TCP connections to the new kdns"
                ),
                Ok(Err(e)) => tracing::debug!(error = %e, "open TCP connections not handed over"),
                Err(e) => tracing::debug!(error = %e, "open TCP connections not handed over"),
            }
        }
        self.current.tasks.cancel();
        self.http.stop_all().await;
        Stopped {
            succeeded: self.offer.taken(),
        }
    }
}

/// How serving ended.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stopped {
    /// A successor (`--handover`) took the sockets over and serves them on.
    pub(crate) succeeded: bool,
}

/// Serves `cfg` until `shutdown`, reloading it when it has a `reload` directive.
/// With `handover`, the sockets of a kdns running with the same path are taken over, and this
/// one's are offered to the next (see `dns/handover.rs`).
pub(crate) async fn run(
    cfg: Config,
    shutdown: CancellationToken,
    handover: Option<PathBuf>,
    on_listen: impl FnOnce(&[SocketAddr]),
) -> Result<Stopped, AppError> {
    let (mut state, addrs) = State::start(cfg, handover.as_deref()).await?;
    on_listen(&addrs);
    let mut last_error = None;
    loop {
        let wait = state
            .current
            .prepared
            .reload
            .map(|r| r.next_wait())
            .unwrap_or(Duration::MAX);
        tokio::select! {
            _ = shutdown.cancelled() => break,
            _ = tokio::time::sleep(wait.min(Duration::from_secs(86_400 * 365))), if wait != Duration::MAX => {
                state.reload(&mut last_error).await;
            }
        }
    }
    Ok(state.stop().await)
}
