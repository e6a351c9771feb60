//! Overload: how much work may wait in kdns, with no option needed (CoreDNS grows without
//! bound here: coredns/coredns#8312; its `shed` plugin has to be configured).
//!
//! Per configured port (one [`Load`] per [`Responder`](super::respond::Responder)):
//!
//! - at most [`MAX_WAITING`] UDP queries wait (on an upstream, the cache's refresh, startup
//!   sync). A query that has to wait when that many already do is not kept: it is answered
//!   REFUSED at once from the request bytes (as `forward` answers at `max_concurrent`) and
//!   counted in `kdns_dns_dropped_total{reason="overload"}`. Answers that complete at once
//!   (the cluster zone, cached answers) never count: they never wait;
//! - at most [`MAX_TCP`] TCP connections are open (each has at most one query in progress);
//!   beyond, a new connection is accepted and closed at once, counted in
//!   `kdns_dns_dropped_total{reason="tcp_overload"}` (a connection, not a message).
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use crate::metrics::{self, Counter};

/// UDP queries that may wait at once, per port. A waiting forwarded query holds about 7 KB
/// of RSS in kdns (release build, `bench/overload.sh`: its task, the decoded request, the
/// upstream query and a 1233-byte receive buffer, allocator slack) and one socket: 10,000 of
/// them are about 70 MB. With an upstream that never answers each waits about 4 s (two 2 s
/// read timeouts), so this still keeps 2,500 such queries a second before any is refused.
pub const MAX_WAITING: usize = 10_000;
/// TCP connections open at once, per port.
pub const MAX_TCP: usize = 1_000;

/// Help of `kdns_dns_dropped_total` (shared by every reason).
const DROPPED_HELP: &str = "Messages dropped without a reply from the chain, by reason (overload: REFUSED at once, too many queries waiting; tcp_overload: a TCP connection closed at once).";

/// `kdns_dns_dropped_total{reason}`.
pub fn dropped(reason: &str) -> Arc<Counter> {
    metrics::global().counter(
        "kdns_dns_dropped_total",
        DROPPED_HELP,
        &[("reason", reason)],
    )
}

/// The waiting work of one port, and what was turned away.
pub struct Load {
    waiting: AtomicUsize,
    tcp: AtomicUsize,
    max_waiting: usize,
    max_tcp: usize,
    refused: Arc<Counter>,
    closed: Arc<Counter>,
}

/// A place among the waiting UDP queries or the open TCP connections; given back on drop.
pub struct Permit {
    load: Arc<Load>,
    tcp: bool,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let n = if self.tcp {
            &self.load.tcp
        } else {
            &self.load.waiting
        };
        n.fetch_sub(1, Ordering::AcqRel);
    }
}

impl Load {
    /// The default bounds ([`MAX_WAITING`], [`MAX_TCP`]).
    pub fn new() -> Arc<Self> {
        Self::with_limits(MAX_WAITING, MAX_TCP)
    }

    /// Other bounds (tests).
    pub fn with_limits(max_waiting: usize, max_tcp: usize) -> Arc<Self> {
        Arc::new(Self {
            waiting: AtomicUsize::new(0),
            tcp: AtomicUsize::new(0),
            max_waiting,
            max_tcp,
            refused: dropped("overload"),
            closed: dropped("tcp_overload"),
        })
    }

    fn admit(self: &Arc<Self>, tcp: bool) -> Option<Permit> {
        let (n, max) = if tcp {
            (&self.tcp, self.max_tcp)
        } else {
            (&self.waiting, self.max_waiting)
        };
        let mut cur = n.load(Ordering::Acquire);
        loop {
            if cur >= max {
                return None;
            }
            match n.compare_exchange_weak(cur, cur + 1, Ordering::AcqRel, Ordering::Acquire) {
                Ok(_) => {
                    return Some(Permit {
                        load: self.clone(),
                        tcp,
                    })
                }
                Err(now) => cur = now,
            }
        }
    }

    /// A place for one more waiting UDP query; `None` (counted) when there is none: then
    /// answer [`refused`].
    pub fn wait(self: &Arc<Self>) -> Option<Permit> {
        let p = self.admit(false);
        if p.is_none() {
            self.refused.inc();
        }
        p
    }

    /// A place for one more TCP connection; `None` (counted) when there is none: close it.
    pub fn connect(self: &Arc<Self>) -> Option<Permit> {
        let p = self.admit(true);
        if p.is_none() {
            self.closed.inc();
        }
        p
    }

    /// As many UDP queries wait as may: a query now should not start waiting.
    pub fn full(&self) -> bool {
        self.waiting.load(Ordering::Relaxed) >= self.max_waiting
    }

    /// UDP queries waiting now.
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::Relaxed)
    }
}

/// A REFUSED answer to `req`, built from its bytes alone into `out`: the ID, opcode, RD and
/// CD of the request, QR set; the question when `question_end` says where it ends (a request
/// with one plain question), and an OPT record (1232 bytes, version 0) when the request had
/// one (`edns`). Nothing for fewer than 12 bytes.
pub fn refused(req: &[u8], question_end: Option<usize>, edns: bool, out: &mut Vec<u8>) {
    out.clear();
    if req.len() < 12 {
        return;
    }
    let question = question_end.and_then(|end| req.get(12..end));
    out.extend_from_slice(&req[0..2]);
    // QR, the opcode, RD; CD; RCODE 5 (REFUSED).
    out.push(0x80 | (req[2] & 0x79));
    out.push((req[3] & 0x10) | 5);
    out.extend_from_slice(&[0, u8::from(question.is_some()), 0, 0, 0, 0, 0]);
    out.push(u8::from(question.is_some() && edns));
    if let Some(q) = question {
        out.extend_from_slice(q);
        if edns {
            // Root owner, type OPT, payload 1232, no extended RCODE, version 0, no flags.
            out.extend_from_slice(&[0, 0, 41, 0x04, 0xd0, 0, 0, 0, 0, 0, 0]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_server::proto::op::{Message, MessageType, OpCode, Query, ResponseCode};
    use hickory_server::proto::rr::{Name, RecordType};

    #[test]
    fn the_bounds_hold_and_permits_come_back() {
        let l = Load::with_limits(2, 1);
        let (r0, c0) = (l.refused.get(), l.closed.get());
        let (a, b) = (l.wait().unwrap(), l.wait().unwrap());
        assert!(l.wait().is_none());
        assert_eq!(l.waiting(), 2);
        drop(a);
        let c = l.wait().expect("a place came back");
        let t = l.connect().unwrap();
        assert!(l.connect().is_none());
        drop((b, c, t));
        assert_eq!(l.waiting(), 0);
        assert!(l.connect().is_some());
        assert_eq!(l.refused.get() - r0, 1);
        assert_eq!(l.closed.get() - c0, 1);
    }

    #[test]
    fn refused_echoes_the_question() {
        let mut m = Message::new(0xbeef, MessageType::Query, OpCode::Query);
        m.metadata.recursion_desired = true;
        m.metadata.checking_disabled = true;
        m.add_query(Query::query(
            Name::from_ascii("Www.Example.").unwrap(),
            RecordType::AAAA,
        ));
        let plain = m.to_vec().unwrap();
        let mut e = hickory_server::proto::op::Edns::new();
        e.set_max_payload(4096);
        m.set_edns(e);
        let with_opt = m.to_vec().unwrap();
        let mut out = Vec::new();
        for (req, edns) in [(&plain, false), (&with_opt, true)] {
            let qend = plain.len();
            refused(req, Some(qend), edns, &mut out);
            let r = Message::from_vec(&out).unwrap();
            assert_eq!(r.metadata.id, 0xbeef);
            assert_eq!(r.metadata.message_type, MessageType::Response);
            assert_eq!(r.metadata.response_code, ResponseCode::Refused);
            assert!(r.metadata.recursion_desired && r.metadata.checking_disabled);
            assert!(!r.metadata.authoritative && !r.metadata.truncation);
            assert_eq!(r.queries[0].name().to_ascii(), "Www.Example.");
            assert_eq!(r.queries[0].query_type(), RecordType::AAAA);
            assert_eq!(r.edns.is_some(), edns);
        }
        refused(&plain, None, false, &mut out);
        let r = Message::from_vec(&out).unwrap();
        assert!(r.queries.is_empty() && r.metadata.response_code == ResponseCode::Refused);
        refused(&plain[..5], None, false, &mut out);
        assert!(out.is_empty());
    }
}
