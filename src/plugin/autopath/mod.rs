//! `autopath`: server-side search path completion, as CoreDNS's autopath plugin. When the
//! question is in the first element of the client's search path (`web.shop.svc.cluster.local`
//! from a pod of `shop`), the rest of the chain is asked for the name under each element in
//! turn (`web.shop.svc.cluster.local`, `web.svc.cluster.local`, `web.cluster.local`, the host's
//! search domains, `web.`) and the first answer that is not NXDOMAIN is given, with a CNAME from
//! the client's name to the name that answered; when all are NXDOMAIN, the first answer.
//!
//! With `@kubernetes` the search path is the client pod's, from its address
//! ([`crate::zone::search`]): with `pods verified` from the pod index, as CoreDNS; otherwise
//! from the EndpointSlices (CoreDNS then does no autopath). A client kdns cannot place gets a
//! plain answer. Its options are parsed in [`config`].
pub mod config;

use std::sync::Arc;

use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::rdata::CNAME;
use hickory_server::proto::rr::{Name, RData, Record};

use crate::dns::query::lower_text;
use crate::dns::{Answer, Directive, Next, Query, Served};
use crate::metrics::Counter;
use crate::plugin::kubernetes::Kubernetes;
use crate::zone::names::strip_zone;
use config::AutopathConfig;

const D: &str = "autopath";

/// Where a client's search path comes from, at run time.
pub enum Searcher {
    /// The block's `kubernetes` directive and the host's search list.
    Kubernetes(Arc<Kubernetes>, Vec<String>),
    /// One path for every client (a resolv.conf), ending with `""`.
    Fixed(Vec<String>),
    /// `@kubernetes` in a block without `kubernetes`: never a path (as CoreDNS).
    Nothing,
}

/// `autopath` in a chain.
pub struct Autopath {
    zones: Vec<String>,
    searcher: Searcher,
    success: Arc<Counter>,
}

impl Autopath {
    /// The directive for `c`, with its search paths from `searcher`; `server` is the metrics
    /// label of the block.
    pub fn new(c: &AutopathConfig, searcher: Searcher, server: &str) -> Self {
        let success = crate::metrics::global().counter(
            "coredns_autopath_success_total",
            "Counter of requests that did autopath.",
            &[("server", server)],
        );
        Self {
            zones: c.zones.clone(),
            searcher,
            success,
        }
    }

    /// The search path for `q`, when it is to be walked.
    fn search(&self, q: &Query) -> Option<Vec<String>> {
        match &self.searcher {
            // A client on an IPv4-mapped address is its IPv4 address (a dual-stack socket).
            // Only a name under the path's first element walks it (checked before the path is
            // built or copied: most questions are not search-path questions).
            Searcher::Kubernetes(k, host) => {
                k.search_path(&q.lower, q.src.ip().to_canonical(), host)
            }
            Searcher::Fixed(p) => in_zone(&q.lower, p.first()?).then(|| p.clone()),
            Searcher::Nothing => None,
        }
    }

    /// Do answers depend on who asks (a pod's own search path)?
    fn per_client(&self) -> bool {
        matches!(self.searcher, Searcher::Kubernetes(..))
    }
}

/// Is `name` equal to `zone` or below it (`dns.IsSubDomain`)? `""` is no zone.
fn in_zone(name: &str, zone: &str) -> bool {
    !zone.is_empty() && strip_zone(name, zone).is_some()
}

/// The name under search element `s`: `base.s`, and `base.` for `""`.
fn under(base: &str, s: &str) -> Option<Name> {
    let text = if s.is_empty() {
        format!("{base}.")
    } else {
        format!("{base}.{s}")
    };
    Name::from_ascii(text).ok()
}

/// May the UDP path replay `a` to another client? Only when any client would get it: the
/// name's own answer (not a walk), positive and about the name alone (a client of another
/// namespace gets it plainly, one of the name's namespace as the first search element).
fn same_for_all(a: &Answer, original: &str) -> bool {
    a.rcode == ResponseCode::NoError && a.answers.iter().all(|r| lower_text(&r.name) == original)
}

/// CoreDNS's `cnamer`: a CNAME from the client's name to the owner of the first answer record
/// that is not the client's name, put first.
fn cnamer(a: &mut Answer, original: &Name, lower: &str) {
    let Some(r) = a.answers.iter().find(|r| lower_text(&r.name) != lower) else {
        return;
    };
    let c = Record::from_rdata(original.clone(), r.ttl, RData::CNAME(CNAME(r.name.clone())));
    a.answers.insert(0, c);
}

impl Directive for Autopath {
    fn name(&self) -> &'static str {
        D
    }

    fn serve<'a>(&'a self, q: &'a Query, next: Next<'a>) -> Served<'a> {
        if !self.zones.iter().any(|z| strip_zone(&q.lower, z).is_some()) {
            return next.answer(q);
        }
        let Some(search) = self.search(q) else {
            if !self.per_client() {
                return next.answer(q);
            }
            let lower = &q.lower;
            return next.answer(q).map(move |mut a| {
                a.cacheable &= same_for_all(&a, lower);
                a
            });
        };
        // The client's name without the first element, in the client's case.
        let cut = strip_zone(&q.lower, &search[0]).map_or(0, str::len);
        if cut == 0 {
            return Served::ready(
                Answer::code(ResponseCode::ServFail)
                    .by(D)
                    .with_error(format!(
                        "trimzone: overshot qname: {}for zone {}",
                        q.lower, search[0]
                    )),
            );
        }
        let text = q.name.to_ascii();
        let base = text.get(..cut).unwrap_or(&q.lower[..cut]).to_string();
        Served::later(self.walk(q, next, base, search))
    }

    /// The packet cache replays only what `serve` left cacheable.
    fn replayable(&self, _a: &Answer) -> bool {
        true
    }
}

impl Autopath {
    /// Asks the rest of the chain for `base` under each element of `search` in turn.
    async fn walk(&self, q: &Query, next: Next<'_>, base: String, search: Vec<String>) -> Answer {
        let mut first: Option<Answer> = None;
        for (i, s) in search.iter().enumerate() {
            let Some(name) = under(&base, s) else {
                continue;
            };
            let mut q2 = q.clone();
            q2.set_name(name);
            let mut a = next.answer(&q2).await;
            if a.error.is_some() {
                // CoreDNS returns a plugin error at once (the client gets SERVFAIL).
                a.cacheable = false;
                return a;
            }
            if a.rcode == ResponseCode::NXDomain {
                if i == 0 {
                    first = Some(a);
                }
                continue;
            }
            cnamer(&mut a, &q.name, &q.lower);
            a.cacheable &= i == 0 && (!self.per_client() || same_for_all(&a, &q.lower));
            self.success.inc();
            return a;
        }
        let mut a = first.unwrap_or_else(|| Answer::code(ResponseCode::NXDomain));
        a.cacheable = false;
        a
    }
}

#[cfg(test)]
mod tests;
