//! One server block being built: its chain, observers and summary, and the directives that are
//! built only once the block's `kubernetes` is (`autopath`, `transfer`, `k8s_external`, which
//! come before it in plugin.cfg order but answer from it).
use std::path::Path;
use std::sync::Arc;

use crate::config::{Plugin, ServerBlock};
use crate::dns::{Directive, Observer};
use crate::plugin::acl::Acl;
use crate::plugin::any::Any;
use crate::plugin::autopath::config::{host_search, AutopathConfig, SearchFrom};
use crate::plugin::autopath::{Autopath, Searcher};
use crate::plugin::bufsize::Bufsize;
use crate::plugin::chaos::Chaos;
use crate::plugin::k8s_external::config::K8sExternalConfig;
use crate::plugin::k8s_external::K8sExternal;
use crate::plugin::kubernetes::Kubernetes;
use crate::plugin::transfer::config::TransferConfig;
use crate::plugin::transfer::Transfer;

/// One server block being built: its chain, its observers, its summary line.
pub(super) struct BlockParts<'a> {
    pub(super) b: &'a ServerBlock,
    pub(super) server: String,
    pub(super) chain: Vec<Arc<dyn Directive>>,
    pub(super) observers: Vec<Arc<dyn Observer>>,
    pub(super) parts: Vec<String>,
    /// The block's `kubernetes`, for the directives built after it.
    pub(super) kubernetes: Option<Arc<Kubernetes>>,
    /// `transfer` and its place in the chain.
    transfer: Option<(usize, &'a TransferConfig)>,
    /// `k8s_external` and its place in the chain.
    external: Option<(usize, &'a K8sExternalConfig)>,
    /// `autopath` and its place in the chain.
    autopath: Option<(usize, &'a AutopathConfig)>,
}

impl<'a> BlockParts<'a> {
    /// Nothing built yet for block `b`, named `server` in metrics.
    pub(super) fn new(b: &'a ServerBlock, server: String) -> Self {
        Self {
            b,
            server,
            chain: Vec::new(),
            observers: Vec::new(),
            parts: Vec::new(),
            kubernetes: None,
            transfer: None,
            external: None,
            autopath: None,
        }
    }

    /// The small answering directives: `bufsize`, `chaos`, `any`, `acl`.
    pub(super) fn small_directive(&mut self, p: &Plugin) {
        let d: Arc<dyn Directive> = match p {
            Plugin::Bufsize(size) => {
                self.parts.push(format!("bufsize {size}"));
                Arc::new(Bufsize { size: *size })
            }
            Plugin::Chaos(c) => {
                self.parts.push(format!("chaos {}", c.version));
                Arc::new(Chaos(c.clone()))
            }
            Plugin::Any => {
                self.parts.push("any".into());
                Arc::new(Any)
            }
            Plugin::Acl(a) => {
                self.parts.push(format!("acl ({} rules)", a.rules.len()));
                Acl::new(a, &self.server)
            }
            _ => return,
        };
        self.chain.push(d);
    }

    /// Notes `autopath` and its place in the chain.
    pub(super) fn defer_autopath(&mut self, c: &'a AutopathConfig) {
        self.parts.push(format!("autopath {}", c.zones.join(" ")));
        self.autopath = Some((self.chain.len(), c));
    }

    /// Notes `transfer` and its place in the chain.
    pub(super) fn defer_transfer(&mut self, t: &'a TransferConfig) {
        let to = t
            .xfrs
            .iter()
            .flat_map(|x| x.to.iter().map(|p| p.to_string()));
        let to = to.collect::<Vec<_>>().join(" ");
        self.parts.push(format!("transfer to {to}"));
        self.transfer = Some((self.chain.len(), t));
    }

    /// Notes `k8s_external` and its place in the chain.
    pub(super) fn defer_external(&mut self, c: &'a K8sExternalConfig) {
        self.parts
            .push(format!("k8s_external {}", c.options.zones.join(" ")));
        self.external = Some((self.chain.len(), c));
    }

    /// Builds the deferred directives, each at its place: the latest in plugin.cfg order first
    /// (`k8s_external`, `transfer`, `autopath`), so the earlier places still hold. The parser
    /// made sure `kubernetes` is in a block with `k8s_external`.
    pub(super) fn place_deferred(&mut self) {
        if let (Some((at, c)), Some(k)) = (self.external.take(), self.kubernetes.as_ref()) {
            let (opts, zone, deadline) = k.parts();
            let d = K8sExternal::new(c, opts, zone, deadline);
            self.chain.insert(at, Arc::new(d));
        }
        if let Some((at, t)) = self.transfer.take() {
            let d = Transfer::new(t.clone(), self.kubernetes.clone());
            self.chain.insert(at, Arc::new(d));
        }
        self.place_autopath();
    }

    /// Puts `autopath` in its place, with its search paths' source.
    fn place_autopath(&mut self) {
        let Some((at, c)) = self.autopath.take() else {
            return;
        };
        let searcher = match (&c.from, &self.kubernetes) {
            (SearchFrom::Fixed(p), _) => Searcher::Fixed(p.clone()),
            (SearchFrom::Kubernetes, Some(k)) => {
                Searcher::Kubernetes(k.clone(), host_search(Path::new("/etc/resolv.conf")))
            }
            (SearchFrom::Kubernetes, None) => {
                tracing::warn!("{}: autopath: no kubernetes in this server block", c.at);
                Searcher::Nothing
            }
        };
        let d = Autopath::new(c, searcher, &self.server);
        self.chain.insert(at, Arc::new(d));
    }
}
