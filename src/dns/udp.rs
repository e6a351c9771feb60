//! The UDP query path.
//!
//! Each SO_REUSEPORT socket has one task that, for the common case, answers inline without
//! allocating:
//!
//! 1. the header and the single question are read by hand (no `Name`, no `Message`);
//! 2. the key `(client family, lower-case qname, qtype, qclass, EDNS, DO)` is looked up in this
//!    task's own packet cache (no lock: one cache per socket task) holding the encoded response
//!    after the question. An entry is replayed only while it is still right (`Validity`):
//!    while the router that answered is still the one installed (a reload installs a new one),
//!    and for an answer decided by one namespace's objects alone (`NAME.NS.svc.ZONE`, see
//!    `zone/scope.rs`) while that namespace's version is unchanged — so churn in other
//!    namespaces leaves it cached; for a negative answer decided by the name's shape alone,
//!    while the zone stays synced; every other entry only until its zone publishes again (the
//!    zone's generation); and every entry only while the router's data version (bumped when
//!    a `hosts` file is re-read) is the one its answer was computed at. A negative answer is
//!    replayed with the zone's current SOA serial (`serial.rs`). Answers are always exactly
//!    what the zone and the directives say now;
//! 3. the response is assembled in a reused buffer: the request's ID, RD and CD bits, the
//!    cached flags and counts, the question as the client wrote it, the cached sections;
//! 4. the block's `prometheus` series are counted (pre-resolved atomics).
//!
//! Anything else (misses, mixed-case names, other opcodes, several questions, TSIG, answers
//! that are not a pure authoritative zone answer, answers over 512 bytes, blocks with `log`,
//! answers `loadbalance` would shuffle) takes the full path ([`Responder::respond`]). Full-path
//! work is polled once inline; what has to wait (startup sync, upstreams, the cache's own
//! refreshes) continues on its own task so the socket keeps reading — while fewer than the
//! port's bound wait (`load.rs`); beyond it the query is answered REFUSED at once.
//!
//! Datagrams are read and answers sent in batches (`mmsg.rs`: one `recvmmsg` for everything
//! queued, one `sendmmsg` for the answers ready, on Linux): the kernel's per-call cost is most
//! of a replay's.
use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::chain::Router;
use super::load::{refused, Permit};
use super::mmsg::{Inbox, Outbox};
use super::observe::Recount;
use super::query::{Holds, Proto, Scope};
use super::respond::{Done, Responder};
use super::serial::soa_serial_at;
use crate::metrics::Counter;
use crate::zone::ZoneHandle;

/// Entries per socket task before the cache is cleared wholesale (bounded memory).
const CACHE_CAP: usize = 16 * 1024;
/// Largest response cached (fits every client without truncation).
const CACHE_MAX_LEN: usize = 512;

/// A cached response, minus header ID/RD/CD and the question; the packet cache is a set of
/// them found by key ([`Cached::key`]).
struct Cached {
    /// The cache key (`key_len` bytes), then everything after the question: one allocation,
    /// so a replay reads the key it compares and the bytes it copies from the same place.
    bytes: Box<[u8]>,
    key_len: usize,
    /// Header bytes 2..12 (flags and the four counts), with RD and CD cleared.
    header: [u8; 10],
    /// What a replay counts (the block's `prometheus` series, cache lookups); None: nothing.
    metrics: Option<Arc<Replay>>,
    /// While the answer is right: until the configuration or its zone changes, or, for an
    /// answer decided by one namespace, until the configuration or that namespace changes.
    valid: Validity,
    /// And while the router's data version (a `hosts` file) is still this.
    data_at: u64,
    /// A negative answer's SOA serial in the tail: a replay writes the zone's current serial
    /// there (see [`Validity::holds`]).
    serial_at: Option<usize>,
}

impl Cached {
    /// The cache key (`parse`).
    fn key(&self) -> &[u8] {
        &self.bytes[..self.key_len]
    }

    /// Everything after the question.
    fn tail(&self) -> &[u8] {
        &self.bytes[self.key_len..]
    }
}

// An entry is equal to, hashes as and is looked up by its key alone.
impl std::borrow::Borrow<[u8]> for Cached {
    fn borrow(&self) -> &[u8] {
        self.key()
    }
}

impl PartialEq for Cached {
    fn eq(&self, other: &Self) -> bool {
        self.key() == other.key()
    }
}

impl Eq for Cached {}

impl std::hash::Hash for Cached {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.key().hash(state);
    }
}

/// When a cached UDP answer may be replayed. `config` is the router that answered: a
/// [`Weak`] keeps its allocation, so no later router can have the same address.
pub(crate) enum Validity {
    /// While the same router is installed and the zone has not published since `generation`.
    Zone {
        config: Weak<Router>,
        zone: ZoneHandle,
        generation: u64,
    },
    /// While the same router is installed and the namespace's version in the zone is
    /// `version` (0: none), whatever changes elsewhere.
    Namespace {
        config: Weak<Router>,
        zone: ZoneHandle,
        ns: Arc<str>,
        version: u64,
    },
    /// While the same router is installed and the zone synced, whatever changes: the name's
    /// shape alone decided the answer.
    Always {
        config: Weak<Router>,
        zone: ZoneHandle,
    },
}

impl Validity {
    /// How long a replay of `d`'s bytes stays right; None when its answer did not say.
    fn of(d: &Done) -> Option<Validity> {
        let scope = d.answer().scope.as_ref()?;
        Some(Self::new(d.router().clone(), scope))
    }

    /// Validity of an answer of the router `config` that came from `scope`.
    fn new(config: Weak<Router>, scope: &Scope) -> Validity {
        let zone = scope.zone.clone();
        match &scope.holds {
            Holds::Namespace(ns, version) => Validity::Namespace {
                config,
                zone,
                ns: ns.clone(),
                version: *version,
            },
            Holds::Generation => Validity::Zone {
                config,
                zone,
                generation: scope.generation,
            },
            Holds::Always => Validity::Always { config, zone },
        }
    }

    /// Is the answer still right, with `router` installed? Then the zone's SOA serial now, for
    /// a negative answer's replay (read from the same snapshot as the namespace's version; 0
    /// for a `Zone` entry, whose bytes hold the right serial). Atomic loads, plus one read of
    /// the zone's snapshot for the other two.
    fn holds(&self, router: &Arc<Router>) -> Option<u32> {
        let same = |config: &Weak<Router>| std::ptr::eq(config.as_ptr(), Arc::as_ptr(router));
        match self {
            Validity::Zone {
                config,
                zone,
                generation,
            } => (same(config) && zone.generation() == *generation).then_some(0),
            Validity::Namespace {
                config,
                zone,
                ns,
                version,
            } => same(config)
                .then(|| {
                    zone.peek(|z| (z.ns_version(ns).unwrap_or(0) == *version).then_some(z.serial))
                })
                .flatten(),
            Validity::Always { config, zone } => same(config)
                .then(|| zone.peek(|z| z.synced.then_some(z.serial)))
                .flatten(),
        }
    }
}

/// What replaying a cached UDP answer counts: the observers' series and the caches' lookups.
#[derive(Default)]
pub(crate) struct Replay {
    metrics: Vec<Arc<dyn Recount>>,
    counters: Vec<Arc<Counter>>,
}

impl Replay {
    /// What a replay of `d`'s bytes must count; None when an observer must see every query
    /// itself (`log`): such answers are not replayed.
    fn of(d: &Done) -> Option<Arc<Replay>> {
        Some(Arc::new(Replay {
            metrics: d.replay_counts()?,
            counters: d.answer().replay.clone(),
        }))
    }

    /// Counts nothing: no observer counts replays, no `cache` lookups.
    fn is_empty(&self) -> bool {
        self.metrics.is_empty() && self.counters.is_empty()
    }

    fn record(&self, request_size: usize, response_size: usize, took: Duration) {
        for c in &self.counters {
            c.inc();
        }
        for m in &self.metrics {
            m.record(request_size, response_size, took);
        }
    }
}

/// What the hand parser learned from a request.
struct Parsed {
    /// End of the question section (offset of the first byte after it).
    question_end: usize,
    /// The cache key: flags byte, qtype, qclass, then the lower-case wire name.
    key_len: usize,
    /// The name had upper-case letters (not cacheable: the answer echoes them).
    mixed_case: bool,
}

/// Reads the header and the one question; None when the request is not a plain query.
/// `key` receives the cache key.
fn parse(req: &[u8], key: &mut Vec<u8>) -> Option<Parsed> {
    if req.len() < 12 {
        return None;
    }
    let flags = u16::from_be_bytes([req[2], req[3]]);
    let qr = flags & 0x8000 != 0;
    let opcode = (flags >> 11) & 0xf;
    let qd = u16::from_be_bytes([req[4], req[5]]);
    let an = u16::from_be_bytes([req[6], req[7]]);
    let ns = u16::from_be_bytes([req[8], req[9]]);
    let ar = u16::from_be_bytes([req[10], req[11]]);
    if qr || opcode != 0 || qd != 1 || an != 0 || ns != 0 || ar > 1 {
        return None;
    }
    // The name: its length bytes only, then its bytes copied and lower-cased whole (a length
    // byte, at most 63, is never an upper-case letter).
    let mut i = 12;
    loop {
        let len = *req.get(i)? as usize;
        if len & 0xc0 != 0 {
            return None; // compression in a question: not for the fast path
        }
        i += 1 + len;
        if len == 0 {
            break;
        }
        if i - 12 > 255 {
            return None;
        }
    }
    let name = req.get(12..i)?;
    let mixed_case = name.iter().fold(false, |m, b| m | b.is_ascii_uppercase());
    key.clear();
    key.extend_from_slice(&[0, 0, 0, 0, 0]);
    key.extend_from_slice(name);
    key[5..].make_ascii_lowercase();
    let qtype = req.get(i..i + 2)?;
    let qclass = req.get(i + 2..i + 4)?;
    key[1..3].copy_from_slice(qtype);
    key[3..5].copy_from_slice(qclass);
    let question_end = i + 4;
    let mut edns_flags = 0u8;
    if ar == 1 {
        // Only an OPT record at the root: `00 00 29 <payload:2> <ext-rcode> <version> <flags:2> <rdlen:2>`.
        let opt = req.get(question_end..question_end + 11)?;
        if opt[0] != 0 || opt[1] != 0 || opt[2] != 41 || opt[6] != 0 {
            return None; // TSIG/SIG(0) or EDNS version > 0: full path
        }
        let rdlen = u16::from_be_bytes([opt[9], opt[10]]) as usize;
        if question_end + 11 + rdlen != req.len() {
            return None;
        }
        edns_flags = 1 | if opt[7] & 0x80 != 0 { 2 } else { 0 };
    } else if question_end != req.len() {
        return None;
    }
    key[0] = edns_flags;
    Some(Parsed {
        question_end,
        key_len: key.len(),
        mixed_case,
    })
}

/// Assembles a cached response for `req` into `out`, with `serial` as a negative answer's SOA
/// serial.
fn assemble(req: &[u8], p: &Parsed, c: &Cached, serial: u32, out: &mut Vec<u8>) {
    out.clear();
    out.extend_from_slice(&req[0..2]);
    out.extend_from_slice(&c.header);
    // RD (byte 2, bit 0) and CD (byte 3, bit 4) come from the request.
    out[2] |= req[2] & 0x01;
    out[3] |= req[3] & 0x10;
    out.extend_from_slice(&req[12..p.question_end]);
    let tail = out.len();
    out.extend_from_slice(c.tail());
    if let Some(at) = c.serial_at {
        out[tail + at..tail + at + 4].copy_from_slice(&serial.to_be_bytes());
    }
}

/// Serves one UDP socket until `stop`; full-path work is tracked by `tasks`.
///
/// Whenever the socket is readable, every datagram queued (up to a batch, `mmsg.rs`) is read
/// with one call and answered in turn; the answers that are ready (replays, full-path answers
/// that completed inline, REFUSED under overload) are sent together with one call, and then
/// the full-path ones are reported to their observers.
pub async fn serve(
    sock: Arc<UdpSocket>,
    r: Arc<Responder>,
    stop: CancellationToken,
    tasks: TaskTracker,
) {
    let mut l = Socket::new(sock, r, tasks);
    let mut inbox = Inbox::new();
    loop {
        tokio::select! {
            ready = l.sock.readable() => if let Err(e) = ready {
                tracing::debug!(error = %e, "udp readiness");
                return; // the runtime is going away
            },
            _ = stop.cancelled() => return,
        }
        let n = match inbox.recv(&l.sock) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
            // ICMP errors from earlier sends surface here on some systems: keep serving.
            Err(e) => {
                tracing::debug!(error = %e, "udp recv");
                continue;
            }
        };
        // When the batch was read: a replay's duration counts from here.
        let t0 = Instant::now();
        for (req, src) in (0..n).filter_map(|i| inbox.get(i)) {
            l.answer(req, src, t0).await;
        }
        l.out.flush(&l.sock, &stop).await;
        for d in l.reports.drain(..) {
            d.report();
        }
        // Batched calls bypass tokio's per-operation budget: let other tasks run now and then.
        tokio::task::consume_budget().await;
    }
}

/// One socket's loop: what answering a datagram needs besides its bytes.
struct Socket {
    sock: Arc<UdpSocket>,
    r: Arc<Responder>,
    local: SocketAddr,
    tasks: TaskTracker,
    /// The cache key of the datagram being answered (`parse`).
    key: Vec<u8>,
    cache: HashSet<Cached>,
    /// The installed router, re-checked with one atomic load per packet (a full load only
    /// after a reload): an entry is replayed only while the router that answered it is this.
    routers: arc_swap::Cache<Arc<ArcSwap<Router>>, Arc<Router>>,
    full_path: Arc<Counter>,
    /// The answers of this batch, sent together.
    out: Outbox,
    /// What to report of the full-path answers in `out`, once they are sent. Kept in the box
    /// `respond` made: a `Done` is 568 bytes, and moving it here cost a copy per question.
    #[allow(clippy::vec_box)]
    reports: Vec<Box<Done>>,
}

impl Socket {
    fn new(sock: Arc<UdpSocket>, r: Arc<Responder>, tasks: TaskTracker) -> Self {
        let local = sock
            .local_addr()
            .unwrap_or_else(|_| SocketAddr::new(std::net::Ipv4Addr::UNSPECIFIED.into(), 0));
        Self {
            sock,
            routers: arc_swap::Cache::new(r.router.clone()),
            r,
            local,
            tasks,
            key: Vec::with_capacity(272),
            cache: HashSet::new(),
            full_path: full_path_counter(),
            out: Outbox::default(),
            reports: Vec::new(),
        }
    }

    /// Answers `req` from `src`, read at `t0`: a replay from the packet cache into `out`, else
    /// the full path.
    async fn answer(&mut self, req: &[u8], src: SocketAddr, t0: Instant) {
        let router = self.routers.load();
        let parsed = parse(req, &mut self.key);
        if parsed.is_some() {
            // The client's address family is part of the key (a metrics label).
            self.key[0] |= u8::from(src.is_ipv6()) << 2;
        }
        if let Some(p) = parsed.as_ref().filter(|p| !p.mixed_case) {
            // (Mixed case never hits: names other than the question's, such as SRV targets
            // and glue owners, carry the zone in the question's case.)
            if let Some((c, serial)) = replayable(&self.cache, &self.key[..p.key_len], router) {
                let out = self.out.push(src);
                assemble(req, p, c, serial, out);
                if let Some(m) = &c.metrics {
                    m.record(req.len(), out.len(), t0.elapsed());
                }
                return;
            }
        }
        self.full(req, src, parsed.as_ref()).await;
    }

    /// The full path for `req`: an answer that completes inline joins `out` (and may be
    /// cached); one that has to wait continues on its own task, or is refused beyond the bound.
    async fn full(&mut self, req: &[u8], src: SocketAddr, parsed: Option<&Parsed>) {
        self.full_path.inc();
        // Keep a copy of the request: the socket buffer is reused.
        let raw = req.to_vec();
        let cache_key = parsed
            .filter(|p| !p.mixed_case)
            .map(|p| (self.key[..p.key_len].to_vec(), p.question_end));
        // Poll the answer once inline: a zone answer completes at once; anything that has to
        // wait continues on its own task.
        let (responder, local) = (self.r.clone(), self.local);
        let mut fut = Box::pin(async move { responder.respond(raw, src, local, Proto::Udp).await });
        match futures::poll!(&mut fut) {
            std::task::Poll::Ready(Some((resp, done))) => {
                // An empty response (`acl` drop) is not sent.
                if !resp.is_empty() {
                    self.out.push(src).extend_from_slice(&resp);
                }
                if let Some(d) = done {
                    // A question without a key (mixed case, unparsed) is never replayed.
                    if let Some(key) = cache_key {
                        self.keep(&d, key, &resp);
                    }
                    self.reports.push(d);
                }
            }
            std::task::Poll::Ready(None) => {}
            // It has to wait: only while fewer than the port's bound already do (`load.rs`).
            std::task::Poll::Pending => match self.r.load.wait() {
                Some(permit) => wait(fut, self.sock.clone(), src, permit, &self.tasks),
                None => {
                    drop(fut);
                    refuse(req, parsed, &self.key, self.out.push(src));
                }
            },
        }
    }

    /// Caches `resp`, the answer `d` describes, under the question's key `k` (its bytes up to `qend`)
    /// when it may be replayed.
    fn keep(&mut self, d: &Done, (k, qend): (Vec<u8>, usize), resp: &[u8]) {
        // The answer names the router and zone state it came from: nothing here can pair it
        // with a newer state than it saw.
        let valid = Validity::of(d).filter(|_| d.packet_cacheable());
        let negative = d.answer().scope.as_ref().is_some_and(|s| s.negative);
        if let (Some(valid), Some(replay)) = (valid, Replay::of(d)) {
            let entry = (valid, d.data_at(), negative);
            let replay = Some(replay).filter(|r| !r.is_empty());
            store(&mut self.cache, &k, resp, qend, replay, entry);
        }
    }
}

/// `kdns_udp_full_path_total`: shared by every socket, bumped on the full path only (never on
/// a replay).
fn full_path_counter() -> Arc<Counter> {
    crate::metrics::global().counter(
        "kdns_udp_full_path_total",
        "UDP questions not replayed from a socket's packet cache: answered by the directive chain.",
        &[],
    )
}

/// The entry for `key` when it is still right with `router` installed, and the SOA serial its
/// replay writes (see [`Validity::holds`]).
// An entry hashes and compares by its key bytes alone, which never change (its `Validity`'s
// atomics are not part of it).
#[allow(clippy::mutable_key_type)]
fn replayable<'c>(
    cache: &'c HashSet<Cached>,
    key: &[u8],
    router: &Arc<Router>,
) -> Option<(&'c Cached, u32)> {
    let c = cache.get(key).filter(|c| c.data_at == router.data.get())?;
    Some((c, c.valid.holds(router)?))
}

/// Sends a full-path response; an empty one (`acl` drop) is not sent.
async fn send(sock: &UdpSocket, resp: &[u8], src: SocketAddr) {
    if !resp.is_empty() {
        let _ = sock.send_to(resp, src).await;
    }
}

/// Full-path work that has to wait, on its own task holding `permit` until it is answered.
fn wait<F>(fut: F, sock: Arc<UdpSocket>, src: SocketAddr, permit: Permit, tasks: &TaskTracker)
where
    F: std::future::Future<Output = Option<(Vec<u8>, Option<Box<Done>>)>> + Send + 'static,
{
    tasks.spawn(async move {
        let _permit = permit;
        if let Some((resp, done)) = fut.await {
            send(&sock, &resp, src).await;
            if let Some(d) = done {
                d.report();
            }
        }
    });
}

/// REFUSED for `req`, from its bytes (still in the socket buffer) into `out`; `key` is the
/// cache key `parse` left for it (byte 0 bit 0: the request has EDNS).
fn refuse(req: &[u8], parsed: Option<&Parsed>, key: &[u8], out: &mut Vec<u8>) {
    let edns = parsed.is_some() && key.first().is_some_and(|k| k & 1 != 0);
    refused(req, parsed.map(|p| p.question_end), edns, out);
}

#[allow(clippy::mutable_key_type)] // as in `replayable`
fn store(
    cache: &mut HashSet<Cached>,
    key: &[u8],
    resp: &[u8],
    question_end: usize,
    metrics: Option<Arc<Replay>>,
    (valid, data_at, negative): (Validity, u64, bool),
) {
    if resp.len() > CACHE_MAX_LEN || resp.len() < question_end || resp[2] & 0x02 != 0 {
        return; // too big, malformed, or truncated
    }
    // A negative answer is replayed with the current serial: only when it can be found.
    let serial_at = match negative {
        true => match soa_serial_at(resp, question_end) {
            Some(at) => Some(at - question_end),
            None => return,
        },
        false => None,
    };
    if cache.len() >= CACHE_CAP {
        cache.clear();
    }
    let mut header = [0u8; 10];
    header.copy_from_slice(&resp[2..12]);
    header[0] &= !0x01; // RD
    header[1] &= !0x10; // CD
    let bytes = [key, &resp[question_end..]].concat().into_boxed_slice();
    cache.replace(Cached {
        bytes,
        key_len: key.len(),
        header,
        metrics,
        valid,
        data_at,
        serial_at,
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_server::proto::op::Message;

    fn query(name: &str, edns: bool) -> Vec<u8> {
        let mut v = vec![0x12, 0x34, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, u8::from(edns)];
        for l in name.split('.').filter(|l| !l.is_empty()) {
            v.push(l.len() as u8);
            v.extend_from_slice(l.as_bytes());
        }
        v.extend_from_slice(&[0, 0, 1, 0, 1]);
        if edns {
            v.extend_from_slice(&[0, 0, 41, 0x10, 0, 0, 0, 0x80, 0, 0, 0]);
        }
        v
    }

    #[test]
    fn parses_plain_queries_and_rejects_the_rest() {
        let mut key = Vec::new();
        let q = query("Web.Shop.svc.cluster.local.", true);
        let p = parse(&q, &mut key).unwrap();
        assert!(p.mixed_case);
        assert_eq!(key[0], 3, "EDNS and DO");
        assert_eq!(&key[5..9], b"\x03web");
        let p = parse(&query("web.Z9-_.", false), &mut key).unwrap();
        assert!(p.mixed_case);
        assert_eq!(
            key, b"\0\0\x01\0\x01\x03web\x04z9-_\0",
            "flags, type, class, name"
        );
        let p = parse(&query("web.z.", false), &mut key).unwrap();
        assert!(!p.mixed_case);
        assert_eq!((p.key_len, p.question_end), (5 + 7, 12 + 7 + 4));
        // Label bytes up to 255 (the last length byte's count included) are read; more are not.
        let long = |last: usize| {
            let labels = [
                "a".repeat(63),
                "b".repeat(63),
                "c".repeat(63),
                "d".repeat(last),
            ];
            query(&labels.join("."), false)
        };
        assert!(
            parse(&long(62), &mut key).is_some(),
            "255 bytes before the root"
        );
        assert!(parse(&long(63), &mut key).is_none(), "256 bytes");
        let mut resp = q.clone();
        resp[2] |= 0x80;
        assert!(
            parse(&resp, &mut key).is_none(),
            "responses are not queries"
        );
        assert!(
            parse(&q[..q.len() - 3], &mut key).is_none(),
            "truncated OPT"
        );
        assert!(parse(&q[..7], &mut key).is_none());
        let mut two = query("a.", false);
        two[5] = 2;
        assert!(parse(&two, &mut key).is_none());
        // Arbitrary bytes never panic.
        for seed in 0u32..2000 {
            let bytes: Vec<u8> = (0..(seed % 64))
                .map(|i| (seed.wrapping_mul(2654435761).wrapping_add(i * 97) >> 7) as u8)
                .collect();
            let _ = parse(&bytes, &mut key);
        }
    }

    #[test]
    fn assembles_with_the_request_id_and_case() {
        let mut key = Vec::new();
        let q = query("WEB.shop.", false);
        let p = parse(&q, &mut key).unwrap();
        let c = Cached {
            bytes: vec![0xc0, 0x0c, 0, 1, 0, 1, 0, 0, 0, 5, 0, 4, 10, 0, 0, 1].into(),
            key_len: 0,
            header: [0x84, 0x00, 0, 1, 0, 1, 0, 0, 0, 0],
            metrics: None,
            valid: Validity::Zone {
                config: Weak::new(),
                zone: ZoneHandle::default(),
                generation: 0,
            },
            data_at: 0,
            serial_at: None,
        };
        let mut out = Vec::new();
        assemble(&q, &p, &c, 0, &mut out);
        assert_eq!(&out[0..2], &[0x12, 0x34]);
        assert_eq!(out[2], 0x85, "QR AA and the request's RD");
        let m = Message::from_vec(&out).unwrap();
        assert_eq!(m.queries[0].name().to_ascii(), "WEB.shop.");
        assert_eq!(m.answers[0].name.to_ascii(), "WEB.shop.");
    }

    fn web(ns: &str, ip: &str) -> crate::zone::Change {
        use crate::zone::model::{Port, Service, ServiceKind};
        crate::zone::Change::UpsertService(Service {
            namespace: Arc::from(ns),
            name: Arc::from("web"),
            kind: ServiceKind::ClusterIp(vec![ip.parse().unwrap()]),
            external: Vec::new(),
            ports: vec![Port {
                name: Arc::from("http"),
                port: 80,
                protocol: Arc::from("TCP"),
            }],
        })
    }

    /// A synced store with namespaces a and b, each with `web`.
    fn two_namespaces() -> crate::zone::Store {
        use crate::zone::model::Namespace;
        use crate::zone::{Change, Store};
        let mut st = Store::new();
        for ns in ["a", "b"] {
            st.apply(Change::UpsertNamespace(Namespace {
                name: Arc::from(ns),
                labels: Vec::new(),
            }));
            st.apply(web(ns, "10.0.0.1"));
        }
        st.set_synced(true);
        st
    }

    /// A router answering `cluster.local` from `zone` on port 53.
    fn kube_router(zone: &ZoneHandle) -> Router {
        use crate::dns::chain::Block;
        use crate::plugin::kubernetes::Kubernetes;
        use crate::zone::KubeOptions;
        let mut r = Router::default();
        let kube = Kubernetes::new(KubeOptions::default(), zone.clone(), None);
        let block = Block::new(vec![".".into()], vec![Arc::new(kube)]);
        r.ports.entry(53).or_default().push(Arc::new(block));
        r
    }

    /// A burst queued before the loop reads (several batches' worth): every query gets its
    /// own answer, to its own source, with its ID, whether replayed, answered by the chain
    /// (mixed case) or negative; junk gets none.
    #[tokio::test]
    async fn a_burst_is_answered_query_by_query() {
        use super::super::mmsg::BATCH;
        use hickory_server::proto::op::ResponseCode;
        let zone = ZoneHandle::new(two_namespaces().snapshot());
        let router = Arc::new(ArcSwap::from_pointee(kube_router(&zone)));
        let sock = Arc::new(UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let to = sock.local_addr().unwrap();
        let (stop, tasks) = (CancellationToken::new(), TaskTracker::new());
        let r = Arc::new(Responder::new(router, 53));
        let served = tokio::spawn(serve(sock, r, stop.clone(), tasks));
        let names = [
            "web.a.svc.cluster.local.",
            "WEB.b.svc.cluster.local.",
            "nope.a.svc.cluster.local.",
        ];
        let clients = [
            std::net::UdpSocket::bind("127.0.0.1:0").unwrap(),
            std::net::UdpSocket::bind("127.0.0.1:0").unwrap(),
        ];
        let total = 3 * BATCH + 5;
        for i in 0..total {
            let mut q = query(names[i % 3], i % 2 == 0);
            q[0..2].copy_from_slice(&(i as u16).to_be_bytes());
            clients[i % 2].send_to(&q, to).unwrap();
            clients[i % 2].send_to(b"junk", to).unwrap();
        }
        // Only now does the loop run (this runtime has one thread): it finds the whole burst.
        let mut buf = [0u8; 1024];
        for (c, client) in clients.into_iter().enumerate() {
            client.set_nonblocking(true).unwrap();
            let client = UdpSocket::from_std(client).unwrap();
            let mut ids = Vec::new();
            for _ in (0..total).filter(|i| i % 2 == c) {
                let got = client.recv(&mut buf);
                let got = tokio::time::timeout(Duration::from_secs(10), got).await;
                let got = got.expect("an answer").unwrap();
                let m = Message::from_vec(&buf[..got]).unwrap();
                let i = usize::from(m.metadata.id);
                assert_eq!(m.queries[0].name().to_ascii(), names[i % 3], "{i}");
                let nx = i % 3 == 2;
                let rcode = [ResponseCode::NoError, ResponseCode::NXDomain][usize::from(nx)];
                assert_eq!(
                    (m.metadata.response_code, m.answers.len()),
                    (rcode, usize::from(!nx))
                );
                ids.push(i);
            }
            let want: Vec<usize> = (0..total).filter(|i| i % 2 == c).collect();
            assert_eq!(ids, want, "client {c}: one answer per query, in order");
        }
        stop.cancel();
        served.await.unwrap();
    }

    /// A namespace-scoped entry survives changes in other namespaces, and not one in its own
    /// namespace or a new configuration; an unscoped entry survives nothing.
    #[test]
    fn scoped_entries_outlive_changes_elsewhere_only() {
        let mut st = two_namespaces();
        let zone = ZoneHandle::new(st.snapshot());
        let router = Arc::new(Router::default());
        let config = Arc::downgrade(&router);
        let scoped = |zone: &ZoneHandle| {
            let holds = Holds::Namespace(Arc::from("a"), zone.ns_version("a").unwrap());
            Validity::new(config.clone(), &scope(zone, holds))
        };
        let unscoped =
            |zone: &ZoneHandle| Validity::new(config.clone(), &scope(zone, Holds::Generation));
        let v = scoped(&zone);
        let g = unscoped(&zone);
        let absent = Validity::new(
            config.clone(),
            &scope(&zone, Holds::Namespace("c".into(), 0)),
        );
        let always = Validity::new(config.clone(), &scope(&zone, Holds::Always));
        let serial = zone.load().serial;
        assert_eq!(v.holds(&router), Some(serial));
        assert_eq!(g.holds(&router), Some(0), "its bytes hold the serial");
        assert_eq!(absent.holds(&router), Some(serial));
        assert_eq!(always.holds(&router), Some(serial));
        st.apply(web("b", "10.0.0.2"));
        zone.publish(st.snapshot());
        let moved = zone.load().serial;
        assert_ne!(moved, serial);
        assert_eq!(
            v.holds(&router),
            Some(moved),
            "a change in b leaves a's answers"
        );
        assert_eq!(
            g.holds(&router),
            None,
            "unscoped answers go with any change"
        );
        assert_eq!(absent.holds(&router), Some(moved), "c still has nothing");
        assert_eq!(always.holds(&router), Some(moved));
        st.apply(web("a", "10.0.0.3"));
        st.apply(web("c", "10.0.0.4"));
        zone.publish(st.snapshot());
        assert_eq!(v.holds(&router), None, "a changed");
        assert_eq!(absent.holds(&router), None, "c has a service now");
        assert!(always.holds(&router).is_some());
        let v = scoped(&zone);
        assert!(v.holds(&router).is_some());
        let reloaded = Arc::new(Router::default());
        let g = unscoped(&zone);
        assert!(g.holds(&router).is_some());
        for v in [v, g, always] {
            assert_eq!(v.holds(&reloaded), None, "a reload invalidates everything");
        }
    }

    /// A scope of `zone` now.
    fn scope(zone: &ZoneHandle, holds: Holds) -> Scope {
        Scope {
            zone: zone.clone(),
            generation: zone.generation(),
            holds,
            negative: false,
        }
    }

    /// The router identity cannot be faked by a new router at a freed address: the entry's
    /// `Weak` keeps the old allocation.
    #[test]
    fn a_dropped_router_never_matches_a_new_one() {
        let zone = ZoneHandle::new(two_namespaces().snapshot());
        let old = Arc::new(Router::default());
        let v = Validity::new(Arc::downgrade(&old), &scope(&zone, Holds::Always));
        drop(old);
        for _ in 0..64 {
            let new = Arc::new(Router::default());
            assert_eq!(v.holds(&new), None);
        }
    }

    /// The kubernetes step names the zone state its cacheable answers came from: the zone, its
    /// generation, and the namespace's version for namespace-scoped answers.
    #[tokio::test]
    async fn kubernetes_answers_name_their_zone_state() {
        use crate::dns::chain::Block;
        use crate::plugin::kubernetes::Kubernetes;
        use crate::zone::KubeOptions;
        use hickory_server::proto::rr::{Name, RecordType};
        let mut st = two_namespaces();
        let zone = ZoneHandle::new(st.snapshot());
        st.apply(web("b", "10.0.0.2"));
        zone.publish(st.snapshot());
        let mut r = Router::default();
        r.ports.entry(53).or_default().push(Arc::new(Block::new(
            vec![".".into()],
            vec![Arc::new(Kubernetes::new(
                KubeOptions::default(),
                zone.clone(),
                None,
            ))],
        )));
        let r = Arc::new(r);
        let ask = |name: &str, qtype: RecordType| {
            let r = r.clone();
            let name = Name::from_ascii(name).unwrap();
            async move { r.resolve(53, &name, qtype).await }
        };
        let a = ask("web.a.svc.cluster.local.", RecordType::A).await;
        assert!(a.cacheable);
        let s = a.scope.expect("a cacheable answer has a scope");
        assert_eq!(s.generation, zone.generation());
        let version = zone.ns_version("a").unwrap();
        assert_eq!(s.holds, Holds::Namespace(Arc::from("a"), version));
        assert!(!s.negative);
        let v = Validity::new(Arc::downgrade(&r), &s);
        assert!(v.holds(&r).is_some());

        // NXDOMAIN and NODATA in a: negative, scoped to a, replayed with the serial now.
        for (name, qtype) in [
            ("nope.a.svc.cluster.local.", RecordType::A),
            ("web.a.svc.cluster.local.", RecordType::AAAA),
        ] {
            let a = ask(name, qtype).await;
            assert!(a.cacheable);
            let s = a.scope.expect("a cacheable answer has a scope");
            assert_eq!(s.holds, Holds::Namespace(Arc::from("a"), version), "{name}");
            assert!(s.negative, "{name}");
        }
        // A name whose shape alone fails holds always; ns.dns's NODATA until any change.
        let a = ask("google.com.cluster.local.", RecordType::A).await;
        let s = a.scope.expect("a cacheable answer has a scope");
        assert_eq!((s.holds, s.negative), (Holds::Always, true));
        let a = ask("ns.dns.cluster.local.", RecordType::AAAA).await;
        assert!(a.answers.is_empty());
        let s = a.scope.expect("a cacheable answer has a scope");
        assert_eq!((&s.holds, s.negative), (&Holds::Generation, false));
        let v = Validity::new(Arc::downgrade(&r), &s);
        assert!(v.holds(&r).is_some());
        st.apply(web("b", "10.0.0.3"));
        zone.publish(st.snapshot());
        assert_eq!(v.holds(&r), None, "the zone published since");
    }
}
