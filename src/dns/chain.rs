//! The directive chain: routing a question to its server block (longest zone on the listening
//! port) and the one contract every directive keeps, CoreDNS's `ServeDNS(ctx, w, r)` with `Next`.
//!
//! A [`Directive`] answers with [`Served`] or hands the question to [`Next`], and may act on the
//! answer on its way back (`cache` stores it, `loadbalance` shuffles it). The chain knows no
//! directive by name: the order is fixed when the chain is built (CoreDNS's plugin.cfg order).
//!
//! ```text
//! Router::answer(port, q) ─ block(port, q) ─ Next{at: 0}.answer(q)
//!     chain[0].serve(q, Next{at: 1}) ── chain[1].serve(q, Next{at: 2}) ── … ── "no next plugin"
//! ```
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};

use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::{Name, RecordType};

use super::observe::Observer;
use super::query::{Answer, Query};
use crate::zone::names::strip_zone;

/// The directives that open a CoreDNS server to every question class (its `EnableChaos`).
const OPEN_CLASSES: &[&str] = &["chaos", "forward"];

/// A boxed answer still being worked out.
type Pending<'a> = Pin<Box<dyn Future<Output = Answer> + Send + 'a>>;

/// What a directive gives back: an answer at once (no allocation) or one still being worked
/// out (an upstream, a cache refresh, the first sync).
pub struct Served<'a>(Inner<'a>);

// `Ready` is the common case (every zone answer): boxing it would allocate per query.
#[allow(clippy::large_enum_variant)]
enum Inner<'a> {
    Ready(Option<Answer>),
    Pending(Pending<'a>),
}

impl<'a> Served<'a> {
    /// An answer known now.
    pub fn ready(a: Answer) -> Self {
        Served(Inner::Ready(Some(a)))
    }

    /// An answer that needs waiting for.
    pub fn later(f: impl Future<Output = Answer> + Send + 'a) -> Self {
        Served(Inner::Pending(Box::pin(f)))
    }

    /// The answer changed by `f` on its way back: at once when it is known now, else when it
    /// comes (a directive that acts on the rest of the chain's answer).
    pub fn map(self, f: impl FnOnce(Answer) -> Answer + Send + 'a) -> Self {
        match self.0 {
            Inner::Ready(Some(a)) => Served::ready(f(a)),
            Inner::Ready(None) => self,
            Inner::Pending(p) => Served::later(async move { f(p.await) }),
        }
    }
}

impl Future for Served<'_> {
    type Output = Answer;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Answer> {
        match &mut self.0 {
            // Polled again after it finished: a bug, answered as a failure, never a panic.
            Inner::Ready(a) => Poll::Ready(a.take().unwrap_or_else(|| {
                Answer::code(ResponseCode::ServFail).with_error("answer polled twice")
            })),
            Inner::Pending(f) => f.as_mut().poll(cx),
        }
    }
}

/// One directive of a server block's chain.
pub trait Directive: Send + Sync + 'static {
    /// The directive's name, as in the Corefile (CoreDNS's `plugin` label).
    fn name(&self) -> &'static str;

    /// Answers `q`, or passes it on with `next.answer(q)`.
    fn serve<'a>(&'a self, q: &'a Query, next: Next<'a>) -> Served<'a>;

    /// May the UDP path replay this answer's bytes? (`loadbalance` says no to answers it
    /// would shuffle.)
    fn replayable(&self, _a: &Answer) -> bool {
        true
    }
}

/// A server block at run time: its zones, its chain, and who sees every finished query.
pub struct Block {
    /// Zones, lower-case with trailing dot.
    pub zones: Vec<String>,
    /// The directives that answer or change answers, in plugin.cfg order.
    pub chain: Vec<Arc<dyn Directive>>,
    /// The directives that see every query once it has been sent (`prometheus`, `errors`,
    /// `log`).
    pub observers: Vec<Arc<dyn Observer>>,
    /// The error of [`Block::no_next`], written once (names outside every zone of the
    /// directive that passes them on get it: a quarter of a pod's search-path questions).
    no_next: OnceLock<Arc<str>>,
}

impl Block {
    /// A block with no observers.
    pub fn new(zones: Vec<String>, chain: Vec<Arc<dyn Directive>>) -> Self {
        Self {
            zones,
            chain,
            observers: Vec::new(),
            no_next: OnceLock::new(),
        }
    }

    /// No directive of the chain objects to replaying `a` (observers are asked separately).
    pub fn replayable(&self, a: &Answer) -> bool {
        self.chain.iter().all(|d| d.replayable(a))
    }

    /// CoreDNS's answer when every directive passed the question on: SERVFAIL, "no next plugin
    /// found", in the name of the last directive.
    fn no_next(&self) -> Answer {
        let error = self.no_next.get_or_init(|| {
            let last = self.chain.last().map_or("", |d| d.name());
            format!("plugin/{last}: no next plugin found").into()
        });
        Answer::code(ResponseCode::ServFail).with_error(error.clone())
    }
}

/// Every server block, by listening port.
#[derive(Default)]
pub struct Router {
    /// Blocks on each port, in Corefile order.
    pub ports: HashMap<u16, Vec<Arc<Block>>>,
    /// The version of what the directives know besides the zone (see [`DataVersion`]).
    pub data: DataVersion,
}

/// The version of the data directives answer from besides the zone, such as a `hosts` file: a
/// directive bumps it when its answers change while the router stays. The UDP path replays an
/// answer only while the version it was computed at is still the current one.
#[derive(Debug, Clone, Default)]
pub struct DataVersion(Arc<AtomicU64>);

impl DataVersion {
    /// The current version (one atomic load).
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Acquire)
    }

    /// Answers computed before now may be wrong from now on.
    pub fn bump(&self) {
        self.0.fetch_add(1, Ordering::AcqRel);
    }
}

impl Router {
    /// The block whose zone is the longest suffix of `lower` among the blocks on `port`.
    pub fn block(&self, port: u16, lower: &str) -> Option<&Arc<Block>> {
        let blocks = self.ports.get(&port)?;
        let mut best: Option<(&Arc<Block>, usize)> = None;
        for b in blocks {
            for z in &b.zones {
                if strip_zone(lower, z).is_some() && best.is_none_or(|(_, l)| z.len() > l) {
                    best = Some((b, z.len()));
                }
            }
        }
        best.map(|(b, _)| b)
    }

    /// Do questions of classes other than IN reach the chains on `port`? As CoreDNS's server:
    /// only when one of its blocks holds `chaos` or `forward` (elsewhere they are REFUSED).
    pub fn open_classes(&self, port: u16) -> bool {
        self.blocks(port)
            .iter()
            .any(|b| b.chain.iter().any(|d| OPEN_CLASSES.contains(&d.name())))
    }

    /// The blocks on `port` (for queries no block covers).
    pub fn blocks(&self, port: u16) -> &[Arc<Block>] {
        self.ports.get(&port).map_or(&[], Vec::as_slice)
    }

    /// Answers one question as the server on `port` would (a query kdns asks itself).
    pub async fn resolve(self: &Arc<Self>, port: u16, qname: &Name, qtype: RecordType) -> Answer {
        self.answer(port, &Query::internal(qname.clone(), qtype))
            .await
    }

    /// Answers `q` arriving on `port`: REFUSED when no server block covers it.
    pub fn answer<'a>(self: &'a Arc<Self>, port: u16, q: &'a Query) -> Served<'a> {
        match self.block(port, &q.lower) {
            Some(b) => self.run(port, b, q),
            None => Served::ready(Answer::refused()),
        }
    }

    /// Runs `block`'s chain from its first directive: REFUSED when it has none.
    pub fn run<'a>(
        self: &'a Arc<Self>,
        port: u16,
        block: &'a Arc<Block>,
        q: &'a Query,
    ) -> Served<'a> {
        if block.chain.is_empty() {
            return Served::ready(Answer::refused());
        }
        Next {
            router: self,
            port,
            block,
            at: 0,
        }
        .answer(q)
    }
}

/// The rest of the chain after the directive that holds it.
#[derive(Clone, Copy)]
pub struct Next<'a> {
    router: &'a Arc<Router>,
    port: u16,
    block: &'a Arc<Block>,
    at: usize,
}

impl<'a> Next<'a> {
    /// Passes `q` to the next directive; past the last one, "no next plugin found".
    pub fn answer(self, q: &'a Query) -> Served<'a> {
        match self.block.chain.get(self.at) {
            Some(d) => d.serve(
                q,
                Next {
                    at: self.at + 1,
                    ..self
                },
            ),
            None => Served::ready(self.block.no_next()),
        }
    }

    /// Asks the whole server again, from the top of the block that covers `q` (a CNAME
    /// target of a cluster answer).
    pub fn resolve<'b>(&self, q: &'b Query) -> Served<'b>
    where
        'a: 'b,
    {
        self.router.answer(self.port, q)
    }

    /// The same rest of the chain, for work that outlives the query (prefetch, serve-stale).
    pub fn to_owned(self) -> OwnedNext {
        OwnedNext {
            router: self.router.clone(),
            port: self.port,
            block: self.block.clone(),
            at: self.at,
        }
    }
}

/// [`Next`] that owns its router and block, for background tasks.
#[derive(Clone)]
pub struct OwnedNext {
    router: Arc<Router>,
    port: u16,
    block: Arc<Block>,
    at: usize,
}

impl OwnedNext {
    /// As [`Next::answer`].
    pub fn answer<'a>(&'a self, q: &'a Query) -> Served<'a> {
        Next {
            router: &self.router,
            port: self.port,
            block: &self.block,
            at: self.at,
        }
        .answer(q)
    }
}

#[cfg(test)]
mod tests;
