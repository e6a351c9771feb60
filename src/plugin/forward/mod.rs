//! `forward FROM TO…`: proxies queries in FROM (except the `except` names) to upstream
//! servers, as CoreDNS's forward plugin does: upstreams in `policy` order, the next one on an
//! error, an upstream whose health checks failed more than `max_fails` times is skipped until
//! a check succeeds, at most `max_concurrent` queries in flight (beyond: REFUSED). When its
//! port already has as many queries waiting as kdns allows (`dns/load.rs`), a query is
//! REFUSED at once, before anything is sent.
//!
//! The query goes out over the client's transport (`force_tcp`, `prefer_udp` change that); a
//! truncated UDP answer is asked again over TCP. A `tls://` upstream is always asked over TLS
//! (`tls.rs`). Answers keep the upstream's AA bit and carry RA.
pub mod config;
mod conn;
mod error;
mod health;
mod tls;
pub mod upstream;

use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_server::proto::op::{Message, Query as WireQuery, ResponseCode};
use hickory_server::proto::rr::Name;
use rand::seq::SliceRandom;

pub use config::{ForwardConfig, Policy};
use conn::Transport;
use health::Probe;
use upstream::Upstream;

use crate::dns::load;
use crate::dns::query::MAX_UDP_PAYLOAD;
use crate::dns::{Answer, Directive, Next, Proto, Query, Served};
use crate::metrics::{self, Counter};
use crate::zone::names::strip_zone;

const NAME: &str = "forward";
/// CoreDNS's overall deadline for one forwarded query.
const DEADLINE: Duration = Duration::from_secs(5);

/// One `forward` directive: its upstreams, their selection policy and limits, and the
/// `failover`/`next` rules, as a link of the chain.
pub struct Forward {
    from: String,
    except: Vec<String>,
    upstreams: Vec<Arc<Upstream>>,
    policy: Policy,
    rr: AtomicUsize,
    force_tcp: bool,
    prefer_udp: bool,
    max_fails: u32,
    max_connect_attempts: Option<u32>,
    max_concurrent: i64,
    concurrent: AtomicI64,
    failfast: bool,
    failover: Vec<ResponseCode>,
    next: Vec<ResponseCode>,
    next_on_nodata: bool,
    /// The directive after this one is a `forward` too (`next` only hands over to one).
    next_is_forward: bool,
    probe: Probe,
    limit_error: String,
    rejects: Arc<Counter>,
    broken: Arc<Counter>,
    /// `kdns_dns_dropped_total{reason="overload"}`.
    overload: Arc<Counter>,
}

struct InFlight<'a>(&'a AtomicI64);

/// More than `max_concurrent` queries in flight.
struct OverLimit;

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Forward {
    /// The directive for the parsed `c`; `next_is_forward` tells whether the block's next
    /// directive is another `forward` (the only one `next` may hand a query to).
    pub fn new(c: &ForwardConfig, next_is_forward: bool) -> Arc<Self> {
        let transport = Transport {
            expire: c.expire,
            max_idle: c.max_idle_conns,
            read_timeout: c.read_timeout,
            source: c.source_address,
        };
        let reg = metrics::global();
        Arc::new(Self {
            from: c.from.clone(),
            except: c.except.clone(),
            upstreams: c
                .to
                .iter()
                .map(|u| {
                    let dialer = match (&u.tls, &c.tls) {
                        (Some(name), Some(client)) => Some(tls::Dialer::new(client, name.clone())),
                        _ => None,
                    };
                    Upstream::with_tls(u.addr, transport.clone(), dialer)
                })
                .collect(),
            policy: c.policy,
            rr: AtomicUsize::new(0),
            force_tcp: c.force_tcp,
            prefer_udp: c.prefer_udp,
            max_fails: c.max_fails,
            max_connect_attempts: c.max_connect_attempts,
            max_concurrent: i64::from(c.max_concurrent),
            concurrent: AtomicI64::new(0),
            failfast: c.failfast_all_unhealthy_upstreams,
            failover: c.failover.clone(),
            next: c.next.clone(),
            next_on_nodata: c.next_on_nodata,
            next_is_forward,
            probe: Probe {
                interval: c.health_check,
                domain: Name::from_ascii(&c.hc_domain).unwrap_or_else(|_| Name::root()),
                recursion_desired: c.hc_recursion_desired,
                tcp: c.force_tcp,
            },
            limit_error: format!("concurrent queries exceeded maximum {}", c.max_concurrent),
            rejects: reg.counter(
                "coredns_forward_max_concurrent_rejects_total",
                "Counter of the number of queries rejected because the concurrent queries were at maximum.",
                &[],
            ),
            overload: load::dropped("overload"),
            broken: reg.counter(
                "coredns_forward_healthcheck_broken_total",
                "Counter of the number of complete failures of the healthchecks.",
                &[],
            ),
        })
    }

    /// The TO servers, in Corefile order.
    pub fn upstreams(&self) -> &[Arc<Upstream>] {
        &self.upstreams
    }

    /// FROM matches and the name is not excepted (FROM itself always is forwarded).
    pub fn matches(&self, lower: &str) -> bool {
        if strip_zone(lower, &self.from).is_none() {
            return false;
        }
        lower == self.from || !self.except.iter().any(|e| strip_zone(lower, e).is_some())
    }

    /// Upstream indexes in the order this query tries them.
    fn order(&self) -> Vec<usize> {
        let n = self.upstreams.len();
        let mut v: Vec<usize> = (0..n).collect();
        match self.policy {
            Policy::Sequential => {}
            Policy::RoundRobin => {
                let start = self.rr.fetch_add(1, Ordering::Relaxed) % n.max(1);
                v.rotate_left(start);
            }
            Policy::Random => v.shuffle(&mut rand::rng()),
        }
        v
    }

    /// Answers `q` from an upstream; `None` hands the query to the next directive.
    pub async fn serve(&self, q: &Query) -> Option<Answer> {
        if !self.matches(&q.lower) {
            return None;
        }
        if q.overloaded {
            // kdns's own bound (`dns/load.rs`): refused before anything is sent upstream.
            self.overload.inc();
            return Some(Answer::code(ResponseCode::Refused).by(NAME));
        }
        let Ok(_in_flight) = self.admit() else {
            self.rejects.inc();
            return Some(
                Answer::code(ResponseCode::Refused)
                    .by(NAME)
                    .with_error(self.limit_error.clone()),
            );
        };
        let mut question = WireQuery::query(q.name.clone(), q.qtype);
        question.set_query_class(q.class);
        // The client's EDNS size as it reaches us (`bufsize` may have lowered it), as CoreDNS
        // sends the client's OPT record on; within 512..=1232.
        let payload = q
            .edns
            .map_or(MAX_UDP_PAYLOAD, |e| e.clamp(512, MAX_UDP_PAYLOAD));
        let wire = match upstream::query_wire(
            0,
            question,
            q.recursion_desired,
            q.checking_disabled,
            q.authentic_data,
            q.dnssec_ok,
            payload,
            if q.options_rewritten {
                q.edns_options.as_deref().unwrap_or_default()
            } else {
                &[]
            },
        ) {
            Ok(w) => w,
            Err(e) => {
                return Some(Answer::code(ResponseCode::FormErr).by(NAME).with_error(e));
            }
        };
        self.try_upstreams(q, &wire).await
    }

    /// `max_concurrent`: a place among the queries in flight, or `Err` when they are too many.
    fn admit(&self) -> Result<Option<InFlight<'_>>, OverLimit> {
        if self.max_concurrent <= 0 {
            return Ok(None);
        }
        let n = self.concurrent.fetch_add(1, Ordering::AcqRel) + 1;
        let g = InFlight(&self.concurrent);
        if n > self.max_concurrent {
            return Err(OverLimit);
        }
        Ok(Some(g))
    }

    /// The upstreams in policy order until one answers, the attempts run out or the deadline
    /// passes (SERVFAIL with the last error).
    async fn try_upstreams(&self, q: &Query, wire: &[u8]) -> Option<Answer> {
        let n = self.upstreams.len();
        let list = self.order();
        let deadline = Instant::now() + DEADLINE;
        let max_attempts = self
            .max_connect_attempts
            .map(u64::from)
            .unwrap_or(2 * n as u64);
        let (mut attempts, mut fails, mut failovers, mut i) = (0u64, 0usize, 0usize, 0usize);
        let mut last_error: Option<String> = None;
        while Instant::now() < deadline && (max_attempts == 0 || attempts < max_attempts) {
            if i >= list.len() {
                i = 0;
                fails = 0;
            }
            let mut u = &self.upstreams[list[i]];
            i += 1;
            if u.down(self.max_fails) {
                fails += 1;
                if fails < n {
                    continue;
                }
                // Every upstream is down: health checking itself may be broken.
                self.broken.inc();
                if self.failfast {
                    break;
                }
                u = &self.upstreams[rand::random_range(0..n)];
            }
            match self.ask(u, wire, q).await {
                Err(e) => {
                    tracing::debug!(upstream = %u.addr, error = %e, "forward: upstream failed");
                    last_error = Some(e);
                    if self.max_fails != 0 {
                        u.healthcheck(&self.probe);
                    }
                    attempts += 1;
                    if (max_attempts > 0 && attempts >= max_attempts) || fails >= n {
                        break;
                    }
                }
                Ok(m) => {
                    if self.failover.contains(&m.metadata.response_code) {
                        failovers += 1;
                        if failovers < n {
                            continue;
                        }
                    }
                    if self.hands_over(&m) {
                        return None;
                    }
                    return Some(answer_of(m, q));
                }
            }
        }
        Some(
            Answer::code(ResponseCode::ServFail)
                .by(NAME)
                .with_error(last_error.unwrap_or_else(|| "no healthy proxies".into())),
        )
    }

    /// One upstream's answer, over the client's transport (or the configured one), asked again
    /// over TCP when the UDP answer is truncated.
    async fn ask(&self, u: &Upstream, wire: &[u8], q: &Query) -> Result<Message, String> {
        let mut proto = if self.force_tcp || u.is_tls() {
            Proto::Tcp
        } else if self.prefer_udp {
            Proto::Udp
        } else {
            q.proto
        };
        loop {
            let id: u16 = rand::random();
            let mut w = wire.to_vec();
            w[..2].copy_from_slice(&id.to_be_bytes());
            match u.exchange(&w, id, &q.name, q.qtype, proto).await {
                Ok(m) if m.metadata.truncation && proto == Proto::Udp => proto = Proto::Tcp,
                Ok(m) => return Ok(m),
                Err(e) => return Err(e.to_string()),
            }
        }
    }

    /// `next RCODE…` (and NODATA with `next_on_nodata`): the next `forward` answers instead.
    fn hands_over(&self, m: &Message) -> bool {
        let rc = m.metadata.response_code;
        self.next_is_forward
            && (self.next.contains(&rc)
                || (self.next_on_nodata && rc == ResponseCode::NoError && m.answers.is_empty()))
    }
}

fn answer_of(m: Message, q: &Query) -> Answer {
    let md = m.metadata;
    Answer {
        rcode: md.response_code,
        authoritative: md.authoritative,
        recursion_available: true,
        authentic_data: md.authentic_data && (q.dnssec_ok || q.authentic_data),
        answers: m.answers,
        authority: m.authorities,
        additional: m.additionals,
        plugin: NAME,
        ..Answer::code(md.response_code)
    }
}

impl Directive for Forward {
    fn name(&self) -> &'static str {
        NAME
    }

    /// Forwards what it covers; the rest (and `next` rcodes) go on down the chain.
    fn serve<'a>(&'a self, q: &'a Query, next: Next<'a>) -> Served<'a> {
        if !self.matches(&q.lower) {
            return next.answer(q);
        }
        Served::later(async move {
            match Forward::serve(self, q).await {
                Some(a) => a,
                None => next.answer(q).await,
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load_str, Plugin};
    use std::path::Path;

    fn forward(text: &str) -> Arc<Forward> {
        let c = load_str(text, Path::new("Corefile"), 53).unwrap();
        let Some(Plugin::Forward(f)) = c.blocks[0]
            .plugins
            .iter()
            .find(|p| matches!(p, Plugin::Forward(_)))
        else {
            panic!("no forward")
        };
        Forward::new(f, false)
    }

    #[test]
    fn from_and_except() {
        let f = forward(
            ".:53 {\n forward example.org 127.0.0.1 {\n  except internal.example.org\n }\n}\n",
        );
        for (name, want) in [
            ("example.org.", true),
            ("www.example.org.", true),
            ("internal.example.org.", false),
            ("a.internal.example.org.", false),
            ("example.com.", false),
            ("xexample.org.", false),
        ] {
            assert_eq!(f.matches(name), want, "{name}");
        }
        let root = forward(".:53 {\n forward . 127.0.0.1 {\n  except .\n }\n}\n");
        assert!(root.matches("."), "FROM itself is always forwarded");
        assert!(!root.matches("a.b."));
    }

    #[test]
    fn policies_order_upstreams() {
        let seq = forward(
            ".:53 {\n forward . 127.0.0.1 127.0.0.2 127.0.0.3 {\n  policy sequential\n }\n}\n",
        );
        assert_eq!(seq.order(), vec![0, 1, 2]);
        assert_eq!(seq.order(), vec![0, 1, 2]);
        let rr = forward(
            ".:53 {\n forward . 127.0.0.1 127.0.0.2 127.0.0.3 {\n  policy round_robin\n }\n}\n",
        );
        let firsts: Vec<usize> = (0..6).map(|_| rr.order()[0]).collect();
        assert_eq!(firsts, vec![0, 1, 2, 0, 1, 2]);
        let random = forward(".:53 {\n forward . 127.0.0.1 127.0.0.2 127.0.0.3\n}\n");
        let mut seen = std::collections::HashSet::new();
        for _ in 0..200 {
            let o = random.order();
            let mut s = o.clone();
            s.sort();
            assert_eq!(s, vec![0, 1, 2]);
            seen.insert(o[0]);
        }
        assert_eq!(seen.len(), 3, "random order starts anywhere");
    }

    #[tokio::test]
    async fn max_concurrent_refuses_beyond_the_limit() {
        // An upstream that never answers keeps the first query in flight.
        let silent = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = silent.local_addr().unwrap();
        let f = forward(&format!(".:53 {{\n forward . {addr} {{\n  max_concurrent 1\n  read_timeout 300ms\n  max_fails 0\n }}\n}}\n"));
        let q = Query::internal(
            Name::from_ascii("a.example.").unwrap(),
            hickory_server::proto::rr::RecordType::A,
        );
        let before = f.rejects.get();
        let (first, second) = tokio::join!(f.serve(&q), async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            f.serve(&q).await
        });
        let second = second.unwrap();
        assert_eq!(second.rcode, ResponseCode::Refused);
        assert_eq!(
            second.error.as_deref(),
            Some("concurrent queries exceeded maximum 1")
        );
        assert_eq!(f.rejects.get(), before + 1);
        let first = first.unwrap();
        assert_eq!(
            first.rcode,
            ResponseCode::ServFail,
            "the silent upstream times out"
        );
        assert!(first.error.unwrap().contains("i/o timeout"));
        assert_eq!(
            f.concurrent.load(Ordering::Relaxed),
            0,
            "in-flight count released"
        );
    }
}
