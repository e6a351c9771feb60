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
pub mod store;

use std::hash::{BuildHasher, RandomState};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_server::proto::op::ResponseCode;

pub use config::CacheConfig;
use config::{Limits, Prefetch, ServeStale};
use item::{cacheable, classify, minimal_ttl, Class, Item};
use store::Store;

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

pub struct Cache {
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
    Miss { key: u64 },
    /// Answered; `refresh` asks the rest of the chain again in the background (prefetch, or
    /// `serve_stale immediate`) and `stale` tells which.
    Hit {
        answer: Answer,
        refresh: Option<Arc<Item>>,
        stale: bool,
        key: u64,
    },
    /// Expired and `serve_stale verify`: ask first, fall back to `stale`.
    Verify {
        stale: Answer,
        item: Arc<Item>,
        tracked: bool,
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
        Arc::new(Self {
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
        let class = classify(a, &q.name, q.qtype);
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
            Class::OtherError => false,
        }
    }

    /// After a background refresh of `old`: keep its popularity on the new entry and reopen it
    /// for refreshes (`refreshed` false starts the failure recheck of `serve_stale`).
    pub fn refreshed(&self, key: u64, old: &Item, stale: bool, refreshed: bool) {
        let now = Instant::now();
        self.m.prefetches.inc();
        if refreshed {
            if let Some(new) = self.denial.get(key).or_else(|| self.success.get(key)) {
                new.inherit(old, now);
            }
        }
        let recheck = if stale {
            self.serve_stale
                .map(|s| s.failure_recheck)
                .unwrap_or_default()
        } else {
            Duration::ZERO
        };
        old.end_refresh(now, recheck, refreshed);
    }

    /// A verify's outcome: whether it may replace the stale entry (RFC 8767: NOERROR or
    /// NXDOMAIN).
    pub fn refreshes(a: &Answer) -> bool {
        a.rcode == ResponseCode::NoError || a.rcode == ResponseCode::NXDomain
    }

    /// End of a `serve_stale verify`: `fresh` when the refresh can be served, else the stale
    /// answer (counted as served stale).
    pub fn verified(&self, item: &Item, tracked: bool, ok: bool) {
        if tracked {
            let recheck = self
                .serve_stale
                .map(|s| s.failure_recheck)
                .unwrap_or_default();
            item.end_refresh(Instant::now(), recheck, ok);
        }
        if !ok {
            self.m.served_stale.inc();
        }
    }

    pub fn verify_timeout(&self) -> Duration {
        self.serve_stale
            .map(|s| s.verify_timeout)
            .unwrap_or_default()
    }

    /// What a lookup that missed counted (`requests_total`, `misses_total`), for replays.
    pub fn lookup_counters(&self) -> [Arc<Counter>; 2] {
        [self.m.requests.clone(), self.m.misses.clone()]
    }

    pub fn len(&self) -> (usize, usize) {
        (self.success.len(), self.denial.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load_str, Plugin};
    use hickory_server::proto::rr::rdata::{A, SOA};
    use hickory_server::proto::rr::{Name, RData, Record, RecordType};
    use std::path::Path;

    fn cache(text: &str) -> Arc<Cache> {
        let c = load_str(text, Path::new("Corefile"), 53).unwrap();
        let Some(Plugin::Cache(cfg)) = c.blocks[0]
            .plugins
            .iter()
            .find(|p| matches!(p, Plugin::Cache(_)))
        else {
            panic!("no cache")
        };
        Cache::new(cfg, "dns://:53")
    }

    fn q(name: &str) -> Query {
        Query::internal(Name::from_ascii(name).unwrap(), RecordType::A)
    }

    fn positive(name: &str, ttl: u32) -> Answer {
        let mut a = Answer::code(ResponseCode::NoError);
        a.answers.push(Record::from_rdata(
            Name::from_ascii(name).unwrap(),
            ttl,
            RData::A(A::new(192, 0, 2, 1)),
        ));
        a.answers.push(Record::from_rdata(
            Name::from_ascii(name).unwrap(),
            ttl + 100,
            RData::A(A::new(192, 0, 2, 2)),
        ));
        a
    }

    fn nxdomain(soa_ttl: u32) -> Answer {
        let mut a = Answer::code(ResponseCode::NXDomain);
        let n = |s: &str| Name::from_ascii(s).unwrap();
        a.authority.push(Record::from_rdata(
            n("example."),
            soa_ttl,
            RData::SOA(SOA::new(n("ns.example."), n("h.example."), 1, 2, 3, 4, 60)),
        ));
        a
    }

    fn hit(c: &Cache, query: &Query) -> Option<Answer> {
        match c.lookup(query) {
            Lookup::Hit { answer, .. } => Some(answer),
            _ => None,
        }
    }

    #[test]
    fn stores_with_capped_uniform_ttl_and_hits() {
        let c = cache(".:53 {\n cache 30\n}\n");
        let query = q("www.example.");
        let Lookup::Miss { key } = c.lookup(&query) else {
            panic!("miss expected")
        };
        let mut a = positive("www.example.", 300);
        c.store(&query, key, &mut a, false);
        assert!(
            a.answers.iter().all(|r| r.ttl == 30),
            "capped and uniform: {a:?}"
        );
        let h = hit(&c, &query).expect("hit");
        assert_eq!(h.answers.len(), 2);
        assert!(h.authoritative, "cached answers carry AA");
        assert!(h.answers.iter().all(|r| r.ttl == 30));
        assert_eq!(h.plugin, "cache");
        // Case-insensitive: the same entry.
        assert!(hit(&c, &q("WWW.Example.")).is_some());
        // DO bit: a different entry.
        let mut d = query.clone();
        d.dnssec_ok = true;
        assert!(matches!(c.lookup(&d), Lookup::Miss { .. }));
        // Another type: a different entry.
        let mut t = query.clone();
        t.qtype = RecordType::AAAA;
        assert!(matches!(c.lookup(&t), Lookup::Miss { .. }));
        assert_eq!(c.len(), (1, 0));
    }

    #[test]
    fn minimum_ttl_and_denial() {
        let c = cache(".:53 {\n cache\n}\n");
        let query = q("a.example.");
        let Lookup::Miss { key } = c.lookup(&query) else {
            panic!()
        };
        let mut a = positive("a.example.", 1);
        c.store(&query, key, &mut a, false);
        assert_eq!(a.answers[0].ttl, 5, "raised to the 5 s minimum");
        let nq = q("nope.example.");
        let Lookup::Miss { key } = c.lookup(&nq) else {
            panic!()
        };
        let mut n = nxdomain(120);
        c.store(&nq, key, &mut n, false);
        let h = hit(&c, &nq).expect("denial hit");
        assert_eq!(h.rcode, ResponseCode::NXDomain);
        assert_eq!(h.authority[0].ttl, 120);
        assert_eq!(c.len(), (1, 1));
    }

    #[test]
    fn disable_keeps_zones_out_but_caps_ttl() {
        let c = cache(".:53 {\n cache 30 {\n  disable success cluster.local\n  disable denial cluster.local\n }\n}\n");
        for name in ["web.shop.svc.cluster.local.", "nope.cluster.local."] {
            let query = q(name);
            let Lookup::Miss { key } = c.lookup(&query) else {
                panic!()
            };
            let mut a = if name.starts_with("web") {
                positive(name, 3600)
            } else {
                nxdomain(3600)
            };
            c.store(&query, key, &mut a, false);
            assert!(a.records_mut().all(|r| r.ttl == 30));
            assert!(
                matches!(c.lookup(&query), Lookup::Miss { .. }),
                "{name} must not be cached"
            );
        }
        let query = q("www.example.");
        let Lookup::Miss { key } = c.lookup(&query) else {
            panic!()
        };
        c.store(&query, key, &mut positive("www.example.", 60), false);
        assert!(hit(&c, &query).is_some(), "other zones are cached");
    }

    #[test]
    fn zones_limit_what_is_cached_and_refused_is_not() {
        let c = cache(".:53 {\n cache example.org\n}\n");
        assert!(matches!(c.lookup(&q("www.example.com.")), Lookup::Pass));
        let query = q("www.example.org.");
        let Lookup::Miss { key } = c.lookup(&query) else {
            panic!()
        };
        c.store(&query, key, &mut Answer::code(ResponseCode::Refused), false);
        assert!(matches!(c.lookup(&query), Lookup::Miss { .. }));
    }

    #[test]
    fn servfail_cached_briefly_but_never_hides_a_good_answer() {
        let c = cache(".:53 {\n cache\n}\n");
        let query = q("flaky.example.");
        let Lookup::Miss { key } = c.lookup(&query) else {
            panic!()
        };
        c.store(&query, key, &mut positive("flaky.example.", 60), false);
        c.store(
            &query,
            key,
            &mut Answer::code(ResponseCode::ServFail),
            false,
        );
        assert_eq!(hit(&c, &query).unwrap().rcode, ResponseCode::NoError);
    }

    #[test]
    fn prefetch_after_popular_and_near_expiry() {
        let c = cache(".:53 {\n cache {\n  prefetch 2 1m 90%\n }\n}\n");
        let query = q("pop.example.");
        let Lookup::Miss { key } = c.lookup(&query) else {
            panic!()
        };
        c.store(&query, key, &mut positive("pop.example.", 10), false);
        // First hit: popularity 1. Second: 2 ≥ amount, TTL 10 ≤ ceil(0.9 × 10) = 9? Not yet.
        let Lookup::Hit { refresh: r1, .. } = c.lookup(&query) else {
            panic!()
        };
        assert!(r1.is_none());
        std::thread::sleep(Duration::from_millis(1100));
        let Lookup::Hit { refresh: r2, .. } = c.lookup(&query) else {
            panic!()
        };
        let item = r2.expect("popular and at 90%: prefetch");
        let Lookup::Hit { refresh: r3, .. } = c.lookup(&query) else {
            panic!()
        };
        assert!(r3.is_none(), "one refresh at a time");
        c.store(&query, key, &mut positive("pop.example.", 10), true);
        c.refreshed(key, &item, false, true);
        assert_eq!(c.m.prefetches.get(), 1);
    }
}
