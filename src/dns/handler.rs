//! Request handling: pick the server block for the question (longest zone match on the
//! listening port) and run its directive chain, in CoreDNS's plugin order.
//!
//! Directives that answer (`cache` on a hit, `kubernetes`, `forward`) end the chain; the ones
//! before them act on the answer on the way back (`cache` stores, `loadbalance` shuffles).
//! `prometheus`, `errors` and `log` observe every query once it has been sent ([`Observers`]).
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::{Name, RecordType};

use super::query::{Answer, Query, Scope, MAX_DEPTH};
use super::wire::all_to_wire;
use crate::plugin::cache::{Cache, Lookup};
use crate::plugin::errors::Errors;
use crate::plugin::forward::Forward;
use crate::plugin::log::Log;
use crate::plugin::loop_detect::LoopDetect;
use crate::plugin::prometheus::DnsMetrics;
use crate::plugin::{cache, loadbalance};
use crate::zone::names::strip_zone;
use crate::zone::{lookup, KubeOptions, Outcome, Rcode, ZoneHandle};

/// Largest UDP answer we send (the DNS Flag Day 2020 value): bigger answers set TC.
pub const MAX_UDP_PAYLOAD: u16 = 1232;

/// One directive of a server block's chain, ready to answer.
pub enum Step {
    Loadbalance,
    Cache(Arc<Cache>),
    Kubernetes {
        options: KubeOptions,
        zone: ZoneHandle,
        /// Until this instant, questions wait for the first complete sync (`startup_timeout`);
        /// afterwards an unsynced zone answers name errors with SERVFAIL, never NXDOMAIN.
        startup_deadline: Option<std::time::Instant>,
    },
    Loop(Arc<LoopDetect>),
    Forward(Arc<Forward>),
}

impl Step {
    pub fn name(&self) -> &'static str {
        match self {
            Step::Loadbalance => "loadbalance",
            Step::Cache(_) => "cache",
            Step::Kubernetes { .. } => "kubernetes",
            Step::Loop(_) => "loop",
            Step::Forward(_) => "forward",
        }
    }
}

/// The directives that see every finished query of a block.
#[derive(Default, Clone)]
pub struct Observers {
    pub metrics: Option<Arc<DnsMetrics>>,
    pub errors: Option<Arc<Errors>>,
    pub log: Option<Arc<Log>>,
}

/// A server block at run time.
pub struct Block {
    /// Zones, lower-case with trailing dot.
    pub zones: Vec<String>,
    pub chain: Vec<Step>,
    pub observers: Observers,
}

impl Block {
    pub fn new(zones: Vec<String>, chain: Vec<Step>) -> Self {
        Self {
            zones,
            chain,
            observers: Observers::default(),
        }
    }

    /// The block has `loadbalance`.
    pub fn shuffles(&self) -> bool {
        self.chain.iter().any(|s| matches!(s, Step::Loadbalance))
    }
}

/// Every server block, by listening port.
#[derive(Default)]
pub struct Router {
    pub ports: HashMap<u16, Vec<Arc<Block>>>,
}

fn rcode(r: Rcode) -> ResponseCode {
    match r {
        Rcode::NoError => ResponseCode::NoError,
        Rcode::NxDomain => ResponseCode::NXDomain,
        Rcode::ServFail => ResponseCode::ServFail,
        Rcode::Refused => ResponseCode::Refused,
    }
}

type Fut<'a> = Pin<Box<dyn Future<Output = Answer> + Send + 'a>>;

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

    /// The metrics of a block on `port`, for queries no block covers.
    pub fn port_metrics(&self, port: u16) -> Option<&Arc<DnsMetrics>> {
        self.ports
            .get(&port)?
            .iter()
            .find_map(|b| b.observers.metrics.as_ref())
    }

    /// Answers one question as the server on `port` would (a query kdns asks itself).
    pub async fn resolve(self: &Arc<Self>, port: u16, qname: &Name, qtype: RecordType) -> Answer {
        self.answer(port, &Query::internal(qname.clone(), qtype))
            .await
    }

    /// Answers `q` arriving on `port`: REFUSED when no server block covers it.
    pub async fn answer(self: &Arc<Self>, port: u16, q: &Query) -> Answer {
        match self.block(port, &q.lower) {
            Some(b) => self.run(port, b, q, 0).await,
            None => Answer::code(ResponseCode::Refused),
        }
    }

    /// Runs `block`'s chain from step `from`.
    pub fn run<'a>(
        self: &'a Arc<Self>,
        port: u16,
        block: &'a Arc<Block>,
        q: &'a Query,
        from: usize,
    ) -> Fut<'a> {
        Box::pin(async move {
            if block.chain.is_empty() {
                return Answer::code(ResponseCode::Refused);
            }
            let mut answer = None;
            // Caches that missed store the answer on the way back, innermost first.
            let mut stores: Vec<(usize, u64)> = Vec::new();
            let mut shuffle = false;
            for (i, step) in block.chain.iter().enumerate().skip(from) {
                match step {
                    Step::Loadbalance => shuffle = true,
                    Step::Cache(c) => match c.lookup(q) {
                        Lookup::Pass => {}
                        Lookup::Miss { key } => stores.push((i, key)),
                        Lookup::Hit {
                            answer: a,
                            refresh,
                            stale,
                            key,
                        } => {
                            if let Some(item) = refresh {
                                self.refresh_in_background(port, block, q, i, c, key, item, stale);
                            }
                            answer = Some(a);
                            break;
                        }
                        Lookup::Verify {
                            stale,
                            item,
                            tracked,
                            key,
                        } => {
                            answer = Some(
                                self.verify(port, block, q, i, c, key, stale, &item, tracked)
                                    .await,
                            );
                            break;
                        }
                    },
                    Step::Kubernetes {
                        options,
                        zone,
                        startup_deadline,
                    } => {
                        // The generation is read before the snapshot is loaded (see
                        // `ZoneHandle::load_with_generation`).
                        let (mut generation, mut snapshot) = zone.load_with_generation();
                        if !snapshot.synced {
                            if let Some(deadline) = startup_deadline {
                                (generation, snapshot) = zone.wait_synced(*deadline).await;
                            }
                        }
                        let mut text = q.name.to_ascii();
                        if !text.ends_with('.') {
                            text.push('.');
                        }
                        match lookup::serve(options, &snapshot, &text, u16::from(q.qtype)) {
                            Outcome::Next => continue,
                            Outcome::Reply(reply) => {
                                let mut a = Answer::code(rcode(reply.rcode())).by("kubernetes");
                                a.authoritative = reply.rcode() != Rcode::Refused;
                                a.answers = all_to_wire(&reply.answer, &q.name);
                                a.authority = all_to_wire(&reply.authority, &q.name);
                                a.additional = all_to_wire(&reply.additional, &q.name);
                                // A pure answer of the synced zone stays right until the zone
                                // generation changes: the UDP path may replay it.
                                a.cacheable = snapshot.synced
                                    && reply.chase.is_none()
                                    && matches!(reply.rcode(), Rcode::NoError | Rcode::NxDomain);
                                // What it was decided by, for the UDP path: this zone at this
                                // generation, or one namespace alone (its version from this
                                // same snapshot), kept across changes elsewhere.
                                a.scope = a.cacheable.then(|| Scope {
                                    zone: zone.clone(),
                                    generation,
                                    ns: reply.scope.as_ref().and_then(|ns| {
                                        Some((ns.clone(), snapshot.ns_version(ns)?))
                                    }),
                                });
                                if let Some((target, qt)) = reply.chase {
                                    if q.depth < MAX_DEPTH {
                                        if let Ok(t) = Name::from_ascii(&target) {
                                            let sub = q.follow(t, RecordType::from(qt));
                                            let got = match self.block(port, &sub.lower) {
                                                Some(b) => self.run(port, b, &sub, 0).await,
                                                None => Answer::code(ResponseCode::Refused),
                                            };
                                            a.answers.extend(got.answers);
                                        }
                                    }
                                }
                                answer = Some(a);
                                break;
                            }
                        }
                    }
                    Step::Loop(l) => {
                        if let Some(msg) = l.check(q) {
                            LoopDetect::fatal(&msg);
                        }
                    }
                    Step::Forward(f) => {
                        if let Some(a) = f.serve(q).await {
                            answer = Some(a);
                            break;
                        }
                    }
                }
            }
            // Every directive passed the question on: CoreDNS's "no next plugin found", from
            // the last one that passed.
            let mut a = answer.unwrap_or_else(|| {
                let last = block.chain.last().map_or("", Step::name);
                Answer::code(ResponseCode::ServFail)
                    .with_error(format!("plugin/{last}: no next plugin found"))
            });

            for (i, key) in stores.into_iter().rev() {
                if let Step::Cache(c) = &block.chain[i] {
                    if c.store(q, key, &mut a, false) {
                        // Cached: later answers come from the cache, with TTLs counting down.
                        a.cacheable = false;
                    } else {
                        a.replay.extend(c.lookup_counters());
                    }
                }
            }
            if shuffle {
                loadbalance::shuffle(&mut a);
            }
            a
        })
    }

    /// Prefetch and `serve_stale immediate`: ask the rest of the chain again, off the query path.
    #[allow(clippy::too_many_arguments)]
    fn refresh_in_background(
        self: &Arc<Self>,
        port: u16,
        block: &Arc<Block>,
        q: &Query,
        at: usize,
        c: &Arc<Cache>,
        key: u64,
        item: Arc<cache::item::Item>,
        stale: bool,
    ) {
        let (router, block, c) = (self.clone(), block.clone(), c.clone());
        let mut q = q.clone();
        q.internal = true;
        tokio::spawn(async move {
            let mut a = router.run(port, &block, &q, at + 1).await;
            let ok = !stale || Cache::refreshes(&a);
            if ok {
                c.store(&q, key, &mut a, true);
            }
            c.refreshed(key, &item, stale, ok);
        });
    }

    /// `serve_stale verify`: the fresh answer when the rest of the chain gives one in time,
    /// else the stale one (a late refresh still lands in the cache).
    #[allow(clippy::too_many_arguments)]
    async fn verify(
        self: &Arc<Self>,
        port: u16,
        block: &Arc<Block>,
        q: &Query,
        at: usize,
        c: &Arc<Cache>,
        key: u64,
        stale: Answer,
        item: &cache::item::Item,
        tracked: bool,
    ) -> Answer {
        let (router, b, cc, qq) = (self.clone(), block.clone(), c.clone(), q.clone());
        let task = tokio::spawn(async move {
            let mut a = router.run(port, &b, &qq, at + 1).await;
            let ok = Cache::refreshes(&a);
            if ok {
                cc.store(&qq, key, &mut a, true);
            }
            (ok, a)
        });
        let timeout = c.verify_timeout();
        let done = if timeout.is_zero() {
            task.await.ok()
        } else {
            tokio::time::timeout(timeout, task)
                .await
                .ok()
                .and_then(Result::ok)
        };
        match done {
            Some((true, fresh)) => {
                c.verified(item, tracked, true);
                fresh
            }
            _ => {
                c.verified(item, tracked, false);
                stale
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::zone::{Fallthrough, Zone};

    fn kube(fallthrough: Fallthrough) -> Step {
        let zone = Zone {
            synced: true,
            ..Zone::default()
        };
        Step::Kubernetes {
            options: KubeOptions {
                zones: vec!["cluster.local.".into()],
                fallthrough,
                ..KubeOptions::default()
            },
            zone: ZoneHandle::new(Arc::new(zone)),
            startup_deadline: None,
        }
    }

    fn router(blocks: Vec<(Vec<&str>, Vec<Step>)>) -> Arc<Router> {
        let mut r = Router::default();
        for (zones, chain) in blocks {
            r.ports.entry(53).or_default().push(Arc::new(Block::new(
                zones.into_iter().map(String::from).collect(),
                chain,
            )));
        }
        Arc::new(r)
    }

    #[tokio::test]
    async fn passing_on_with_nothing_left_is_servfail_from_the_last_directive() {
        let r = router(vec![(vec!["."], vec![kube(Fallthrough::All)])]);
        let name = Name::from_ascii("nope.cluster.local.").unwrap();
        let a = r.resolve(53, &name, RecordType::A).await;
        assert_eq!(a.rcode, ResponseCode::ServFail);
        assert_eq!(
            a.error.as_deref(),
            Some("plugin/kubernetes: no next plugin found")
        );
        // Without fallthrough the zone answers itself.
        let r = router(vec![(vec!["."], vec![kube(Fallthrough::Off)])]);
        let a = r.resolve(53, &name, RecordType::A).await;
        assert_eq!((a.rcode, a.plugin), (ResponseCode::NXDomain, "kubernetes"));
        assert!(a.authoritative && a.error.is_none());
    }

    #[tokio::test]
    async fn longest_zone_picks_the_block_and_no_block_refuses() {
        let r = router(vec![
            (vec!["."], vec![kube(Fallthrough::All)]),
            (vec!["cluster.local."], vec![kube(Fallthrough::Off)]),
            (vec!["empty.test."], vec![]),
        ]);
        let a = r
            .resolve(
                53,
                &Name::from_ascii("x.cluster.local.").unwrap(),
                RecordType::A,
            )
            .await;
        assert_eq!(
            a.rcode,
            ResponseCode::NXDomain,
            "the cluster.local block answers"
        );
        let a = r
            .resolve(
                53,
                &Name::from_ascii("a.empty.test.").unwrap(),
                RecordType::A,
            )
            .await;
        assert_eq!(a.rcode, ResponseCode::Refused, "a block with no directives");
        let a = r
            .answer(54, &Query::internal(Name::root(), RecordType::NS))
            .await;
        assert_eq!(a.rcode, ResponseCode::Refused, "no block on that port");
    }
}
