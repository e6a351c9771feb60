//! `cache`: answers repeated questions from memory, as CoreDNS's cache plugin does.
//!
//! Entries are keyed by lower-case name, type, and the DO and CD bits. Positive answers
//! (NOERROR, delegations) go to the success cache, NXDOMAIN/NODATA/SERVFAIL to the denial
//! cache, each bounded. Every record of an answer gets the lowest TTL of the answer, capped at
//! the maximum and raised to the minimum; cached answers count it down and carry AA. The cache
//! sits before `kubernetes` in the chain, so cluster answers are cached unless `disable` keeps
//! them out. `prefetch` refreshes popular entries before they expire; `serve_stale` answers
//! from expired entries while refreshing them.
pub mod config;
pub mod item;
mod serve;
pub mod store;

use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_server::proto::op::ResponseCode;

pub use config::CacheConfig;
use config::{Limits, Prefetch, ServeStale};
use item::{cacheable, minimal_ttl, Item};
use store::Store;

use crate::dns::class::Class;
use crate::dns::{Answer, Query};
use crate::metrics::{self, Counter};
use crate::zone::names::strip_zone;

struct Series {
    requests: Arc<Counter>,
    misses: Arc<Counter>,
    hits_success: Arc<Counter>,
    hits_denial: Arc<Counter>,
    prefetches: Arc<Counter>,
    served_stale: Arc<Counter>,
    evictions_success: Arc<Counter>,
    evictions_denial: Arc<Counter>,
}

/// One `cache` directive: a success and a denial store and the rules of CoreDNS's cache.
pub struct Cache {
    /// Itself, for refreshes that outlive the query.
    me: std::sync::Weak<Cache>,
    zones: Vec<String>,
    success: Store,
    denial: Store,
    plimits: Limits,
    nlimits: Limits,
    prefetch: Option<Prefetch>,
    serve_stale: Option<ServeStale>,
    servfail_ttl: u32,
    disable_success: Vec<String>,
    disable_denial: Vec<String>,
    keepttl: bool,
    hasher: RandomState,
    m: Series,
}

/// What the cache does with a question.
pub enum Lookup {
    /// Not in the cache's zones: the cache plays no part.
    Pass,
    /// Not cached: ask the rest of the chain and store its answer.
    Miss {
        /// The hash key to store the answer under.
        key: u64,
    },
    /// Answered; `refresh` asks the rest of the chain again in the background (prefetch, or
    /// `serve_stale immediate`) and `stale` tells which.
    Hit {
        /// The cached answer, TTLs counted down (the stored TTL with `keepttl`, the
        /// `serve_stale` response TTL when expired).
        answer: Answer,
        /// The entry to refresh in the background, when one is due and none is under way.
        refresh: Option<Arc<Item>>,
        /// The entry had expired and `answer` is its stale copy (`serve_stale`); a `refresh`
        /// is then a stale refresh, not a prefetch.
        stale: bool,
        /// The entry's hash key, to store the refreshed answer under.
        key: u64,
    },
    /// Expired and `serve_stale verify`: ask first, fall back to `stale`.
    Verify {
        /// The expired answer, served if the fresh one fails or is late.
        stale: Answer,
        /// The expired entry.
        item: Arc<Item>,
        /// The entry's refresh gate was taken (a failure recheck is configured) and must be
        /// released when done.
        tracked: bool,
        /// The entry's hash key, to store the fresh answer under.
        key: u64,
    },
}

fn in_any(zones: &[String], lower: &str) -> bool {
    zones.iter().any(|z| strip_zone(lower, z).is_some())
}

fn clamp(msg: u32, l: &Limits) -> u32 {
    msg.max(l.min_ttl).min(l.max_ttl)
}

impl Cache {
    /// A cache for a server block whose metrics `server` label is `server`.
    pub fn new(c: &CacheConfig, server: &str) -> Arc<Self> {
        let reg = metrics::global();
        let zones = c.zones.join(",");
        let base: [(&str, &str); 3] = [("server", server), ("zones", &zones), ("view", "")];
        let typed = |t: &'static str| -> [(&'static str, &str); 4] {
            [
                ("server", server),
                ("type", t),
                ("zones", &zones),
                ("view", ""),
            ]
        };
        let hits = "The count of cache hits.";
        let ev = "The count of cache evictions.";
        let entries = "The number of elements in the cache.";
        let m = Series {
            requests: reg.counter("coredns_cache_requests_total", "The count of cache requests.", &base),
            misses: reg.counter(
                "coredns_cache_misses_total",
                "The count of cache misses. Deprecated, derive misses from cache hits/requests counters.",
                &base,
            ),
            hits_success: reg.counter("coredns_cache_hits_total", hits, &typed("success")),
            hits_denial: reg.counter("coredns_cache_hits_total", hits, &typed("denial")),
            prefetches: reg.counter(
                "coredns_cache_prefetch_total",
                "The number of times the cache has prefetched a cached item.",
                &base,
            ),
            served_stale: reg.counter(
                "coredns_cache_served_stale_total",
                "The number of requests served from stale cache entries.",
                &base,
            ),
            evictions_success: reg.counter("coredns_cache_evictions_total", ev, &typed("success")),
            evictions_denial: reg.counter("coredns_cache_evictions_total", ev, &typed("denial")),
        };
        Arc::new_cyclic(|me| Self {
            me: me.clone(),
            zones: c.zones.clone(),
            success: Store::new(
                c.success.capacity,
                reg.fresh_gauge("coredns_cache_entries", entries, &typed("success")),
            ),
            denial: Store::new(
                c.denial.capacity,
                reg.fresh_gauge("coredns_cache_entries", entries, &typed("denial")),
            ),
            plimits: c.success,
            nlimits: c.denial,
            prefetch: c.prefetch,
            serve_stale: c.serve_stale,
            servfail_ttl: c.servfail_ttl.as_secs() as u32,
            disable_success: c.disable_success.clone(),
            disable_denial: c.disable_denial.clone(),
            keepttl: c.keepttl,
            hasher: RandomState::new(),
            m,
        })
    }

    fn key(&self, q: &Query) -> u64 {
        self.hasher.hash_one((
            q.lower.as_str(),
            u16::from(q.qtype),
            u16::from(q.class),
            q.dnssec_ok,
            q.checking_disabled,
        ))
    }

    fn usable(&self, i: &Item, q: &Query, now: Instant) -> bool {
        if !i.matches(&q.lower, q.qtype) {
            return false;
        }
        let ttl = i.ttl(now);
        ttl > 0
            || self
                .serve_stale
                .is_some_and(|s| -ttl < s.up_to.as_secs() as i64)
    }

    /// `getIfNotStale`: the denial cache first (but a SERVFAIL never hides a good answer).
    fn find(&self, q: &Query, key: u64, now: Instant) -> Option<Arc<Item>> {
        self.m.requests.inc();
        if let Some(i) = self.denial.get(key).filter(|i| self.usable(i, q, now)) {
            if i.rcode == ResponseCode::ServFail {
                if let Some(p) = self.success.get(key).filter(|p| self.usable(p, q, now)) {
                    self.m.hits_success.inc();
                    return Some(p);
                }
            }
            self.m.hits_denial.inc();
            return Some(i);
        }
        if let Some(p) = self.success.get(key).filter(|p| self.usable(p, q, now)) {
            self.m.hits_success.inc();
            return Some(p);
        }
        self.m.misses.inc();
        None
    }

    /// Decides what to do with `q`: pass it on, fetch and store it, answer from memory, or
    /// verify an expired entry (counting the cache's request, hit and miss series).
    pub fn lookup(&self, q: &Query) -> Lookup {
        if !in_any(&self.zones, &q.lower) {
            return Lookup::Pass;
        }
        let now = Instant::now();
        let key = self.key(q);
        let Some(item) = self.find(q, key, now) else {
            return Lookup::Miss { key };
        };
        let ttl = item.ttl(now);
        let do_or_ad = q.dnssec_ok || q.authentic_data;
        if ttl <= 0 {
            let s = self.serve_stale.unwrap_or(ServeStale {
                up_to: Duration::ZERO,
                verify: false,
                verify_timeout: Duration::ZERO,
                response_ttl: 0,
                failure_recheck: Duration::ZERO,
            });
            let stale = item.to_answer(s.response_ttl, do_or_ad);
            if s.verify {
                let tracked = !s.failure_recheck.is_zero();
                if !tracked || item.begin_refresh(now) {
                    return Lookup::Verify {
                        stale,
                        item,
                        tracked,
                        key,
                    };
                }
            }
            self.m.served_stale.inc();
            let refresh = (!s.verify && item.begin_refresh(now)).then(|| item.clone());
            return Lookup::Hit {
                answer: stale,
                refresh,
                stale: true,
                key,
            };
        }
        let refresh = if self.should_prefetch(&item, now) && item.begin_refresh(now) {
            Some(item.clone())
        } else {
            None
        };
        let shown = if self.keepttl {
            item.orig_ttl
        } else {
            ttl as u32
        };
        Lookup::Hit {
            answer: item.to_answer(shown, do_or_ad),
            refresh,
            stale: false,
            key,
        }
    }

    fn should_prefetch(&self, i: &Item, now: Instant) -> bool {
        let Some(p) = self.prefetch else { return false };
        i.hit(p.duration, now);
        let threshold = (f64::from(p.percentage) / 100.0 * f64::from(i.orig_ttl)).ceil() as i64;
        i.hits() >= p.amount && i.ttl(now) <= threshold
    }

    /// Gives every record the answer's capped TTL and stores it when CoreDNS would.
    /// `refreshed` marks a background refresh (its success also clears the denial entry).
    /// Returns whether it was stored.
    pub fn store(&self, q: &Query, key: u64, a: &mut Answer, refreshed: bool) -> bool {
        let class = a.class(&q.name, q.qtype);
        let ttl = match class {
            Class::NameError | Class::NoData => {
                clamp(minimal_ttl(a, class, self.nlimits.max_ttl), &self.nlimits)
            }
            Class::ServerError => self.servfail_ttl,
            _ => clamp(minimal_ttl(a, class, self.plimits.max_ttl), &self.plimits),
        };
        for r in a.records_mut() {
            r.ttl = ttl;
        }
        if !q.dnssec_ok && !q.authentic_data {
            a.authentic_data = false;
        }
        if ttl == 0 || !cacheable(a, class, &q.name, q.qtype) {
            return false;
        }
        match class {
            Class::NoError | Class::Delegation => {
                if in_any(&self.disable_success, &q.lower) {
                    return false;
                }
                if self
                    .success
                    .add(key, Arc::new(Item::new(&q.lower, q.qtype, a, ttl)))
                {
                    self.m.evictions_success.inc();
                }
                if refreshed {
                    self.denial.remove(key);
                }
                true
            }
            Class::NameError | Class::NoData | Class::ServerError => {
                if in_any(&self.disable_denial, &q.lower) {
                    return false;
                }
                if self
                    .denial
                    .add(key, Arc::new(Item::new(&q.lower, q.qtype, a, ttl)))
                {
                    self.m.evictions_denial.inc();
                }
                true
            }
            Class::OtherError | Class::Meta => false,
        }
    }

    /// What a lookup that missed counted (`requests_total`, `misses_total`), for replays.
    pub fn lookup_counters(&self) -> [Arc<Counter>; 2] {
        [self.m.requests.clone(), self.m.misses.clone()]
    }

    /// Entries in the success and the denial store.
    pub fn len(&self) -> (usize, usize) {
        (self.success.len(), self.denial.len())
    }
}

#[cfg(test)]
mod tests;
