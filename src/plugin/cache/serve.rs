//! `cache` in the chain: a hit answers, a miss asks the rest of the chain and stores its
//! answer; `prefetch` and `serve_stale immediate` refresh in the background, `serve_stale
//! verify` asks first and falls back to the stale answer. Everything about serving stale
//! answers is here.
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_server::proto::op::ResponseCode;

use super::item::Item;
use super::{Cache, Lookup};
use crate::dns::{Answer, Directive, Next, Query, Served};

impl Directive for Cache {
    fn name(&self) -> &'static str {
        "cache"
    }

    fn serve<'a>(&'a self, q: &'a Query, next: Next<'a>) -> Served<'a> {
        match self.lookup(q) {
            Lookup::Pass => next.answer(q),
            Lookup::Miss { key } => next.answer(q).map(move |mut a| {
                self.keep(q, key, &mut a);
                a
            }),
            Lookup::Hit {
                answer,
                refresh,
                stale,
                key,
            } => {
                if let Some(item) = refresh {
                    self.refresh_in_background(q, next, key, item, stale);
                }
                Served::ready(answer)
            }
            Lookup::Verify {
                stale,
                item,
                tracked,
                key,
            } => Served::later(self.verify(
                q,
                next,
                key,
                Stale {
                    stale,
                    item,
                    tracked,
                },
            )),
        }
    }
}

/// An expired entry being verified.
struct Stale {
    stale: Answer,
    item: Arc<Item>,
    tracked: bool,
}

impl Cache {
    /// Stores the answer of a miss on its way back; one that is not kept may be replayed by
    /// the UDP path, which then counts this cache's lookup again.
    fn keep(&self, q: &Query, key: u64, a: &mut Answer) {
        if self.store(q, key, a, false) {
            // Cached: later answers come from the cache, with TTLs counting down.
            a.cacheable = false;
        } else {
            a.replay.extend(self.lookup_counters());
        }
    }

    /// Prefetch and `serve_stale immediate`: ask the rest of the chain again, off the query path.
    fn refresh_in_background(
        &self,
        q: &Query,
        next: Next<'_>,
        key: u64,
        item: Arc<Item>,
        stale: bool,
    ) {
        let Some(c) = self.me.upgrade() else { return };
        let next = next.to_owned();
        let mut q = q.clone();
        q.internal = true;
        tokio::spawn(async move {
            let mut a = next.answer(&q).await;
            let ok = !stale || Cache::refreshes(&a);
            if ok {
                c.store(&q, key, &mut a, true);
            }
            c.refreshed(key, &item, stale, ok);
        });
    }

    /// `serve_stale verify`: the fresh answer when the rest of the chain gives one in time,
    /// else the stale one (a late refresh still lands in the cache).
    async fn verify(&self, q: &Query, next: Next<'_>, key: u64, s: Stale) -> Answer {
        let Some(c) = self.me.upgrade() else {
            return s.stale;
        };
        let next = next.to_owned();
        let qq = q.clone();
        let task = tokio::spawn(async move {
            let mut a = next.answer(&qq).await;
            let ok = Cache::refreshes(&a);
            if ok {
                c.store(&qq, key, &mut a, true);
            }
            (ok, a)
        });
        let timeout = self.verify_timeout();
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
                self.verified(&s.item, s.tracked, true);
                fresh
            }
            _ => {
                self.verified(&s.item, s.tracked, false);
                s.stale
            }
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

    /// How long `serve_stale verify` waits for a fresh answer before serving the stale one
    /// (zero: no limit).
    pub fn verify_timeout(&self) -> Duration {
        self.serve_stale
            .map(|s| s.verify_timeout)
            .unwrap_or_default()
    }
}
