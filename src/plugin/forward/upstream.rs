//! One upstream server: a query exchanged over UDP or TCP (the caller asks again over TCP when
//! the UDP answer is truncated), or over TLS for a `tls://` one, its per-upstream metrics, and
//! the failure count the health probe (`health.rs`) keeps. Connections come from `conn.rs` and
//! `tls.rs`: one query at a time on each (as CoreDNS), kept idle for reuse up to `expire`.
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_server::proto::op::{
    Edns, Message, MessageType, OpCode, Query as WireQuery, ResponseCode,
};
use hickory_server::proto::rr::rdata::opt::EdnsOption;
use hickory_server::proto::rr::{Name, RecordType};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UdpSocket};

use super::conn::{self, Pool, Transport};
use super::error::ExchangeError;
use super::tls::{self, Dialer};
use crate::dns::codes::{rcode_name, rcode_slot, RCODE_SLOTS};
use crate::dns::query::EdnsOpt;
use crate::dns::Proto;
use crate::metrics::{self, Counter, Histogram, LazySeries, TIME_BUCKETS};

struct Series {
    by_rcode: LazySeries<Histogram>,
    legacy_requests: Arc<Counter>,
    legacy_responses: LazySeries<Counter>,
    hc_failures: Arc<Counter>,
    legacy_hc_failures: Arc<Counter>,
}

/// One upstream of a `forward`: its address, idle connections, metrics and health.
pub struct Upstream {
    /// The upstream's address.
    pub(crate) addr: SocketAddr,
    /// `IP:PORT`, the `to` label.
    pub(crate) label: String,
    fails: AtomicU32,
    probing: AtomicBool,
    transport: Transport,
    udp: Pool<UdpSocket>,
    tcp: Pool<TcpStream>,
    /// `tls://`: the dialer and the idle TLS connections (then `udp` and `tcp` stay unused).
    tls: Option<TlsConns>,
    m: Series,
}

struct TlsConns {
    dialer: Dialer,
    pool: Pool<tls::Stream>,
}

impl Upstream {
    /// A plain DNS upstream at `addr` with no connections yet; registers its metrics.
    #[cfg(test)]
    pub(crate) fn new(addr: SocketAddr, transport: Transport) -> Arc<Self> {
        Self::with_tls(addr, transport, None)
    }

    /// An upstream at `addr`, over TLS when `dialer` is given, with no connections yet;
    /// registers its metrics (the connection cache's under `proto="tcp-tls"` for TLS, as
    /// CoreDNS).
    pub(crate) fn with_tls(
        addr: SocketAddr,
        transport: Transport,
        dialer: Option<Dialer>,
    ) -> Arc<Self> {
        let label = addr.to_string();
        let reg = metrics::global();
        let to = label.as_str();
        let conn = |name: &'static str, help: &'static str, proto: &str| {
            reg.counter(
                name,
                help,
                &[("proxy_name", "forward"), ("to", to), ("proto", proto)],
            )
        };
        let hits = "Counter of connection cache hits per upstream and protocol.";
        let misses = "Counter of connection cache misses per upstream and protocol.";
        let counters = |proto: &str| {
            (
                conn("coredns_proxy_conn_cache_hits_total", hits, proto),
                conn("coredns_proxy_conn_cache_misses_total", misses, proto),
            )
        };
        let (udp, tcp, tls) = match dialer {
            None => {
                let ((uh, um), (th, tm)) = (counters("udp"), counters("tcp"));
                let udp = Pool::new(&transport, uh, um);
                (udp, Pool::new(&transport, th, tm), None)
            }
            Some(dialer) => {
                // Never used: not registered, so no idle series appear.
                let unused = || Arc::new(Counter::default());
                let udp = Pool::new(&transport, unused(), unused());
                let tcp = Pool::new(&transport, unused(), unused());
                let (h, m) = counters("tcp-tls");
                let pool = Pool::new(&transport, h, m);
                (udp, tcp, Some(TlsConns { dialer, pool }))
            }
        };
        let m = Series {
            by_rcode: LazySeries::new(RCODE_SLOTS),
            legacy_requests: reg.counter(
                "coredns_forward_requests_total",
                "Counter of requests made per upstream.",
                &[("to", to)],
            ),
            legacy_responses: LazySeries::new(RCODE_SLOTS),
            hc_failures: reg.counter(
                "coredns_proxy_healthcheck_failures_total",
                "Counter of the number of failed healthchecks.",
                &[("proxy_name", "forward"), ("to", to)],
            ),
            legacy_hc_failures: reg.counter(
                "coredns_forward_healthcheck_failures_total",
                "Counter of the number of failed healthchecks.",
                &[("to", to)],
            ),
        };
        Arc::new(Self {
            addr,
            label,
            fails: AtomicU32::new(0),
            probing: AtomicBool::new(false),
            transport,
            udp,
            tcp,
            tls,
            m,
        })
    }

    /// A `tls://` upstream.
    pub(crate) fn is_tls(&self) -> bool {
        self.tls.is_some()
    }

    /// A new TLS connection to this `tls://` upstream (`None` for a plain one).
    pub(crate) async fn dial_tls(&self) -> Option<Result<tls::Stream, ExchangeError>> {
        let t = self.tls.as_ref()?;
        Some(t.dialer.dial(self.addr, &self.transport).await)
    }

    /// Down: more than `max_fails` health checks in a row failed (never with `max_fails` 0).
    pub(crate) fn down(&self, max_fails: u32) -> bool {
        max_fails != 0 && self.fails.load(Ordering::Relaxed) > max_fails
    }

    /// Health checks failed in a row.
    pub(crate) fn fails(&self) -> u32 {
        self.fails.load(Ordering::Relaxed)
    }

    /// The connection settings of this upstream's `forward`.
    pub(crate) fn transport(&self) -> &Transport {
        &self.transport
    }

    /// Marks the health probe as running; true when it already was.
    pub(crate) fn start_probing(&self) -> bool {
        self.probing.swap(true, Ordering::AcqRel)
    }

    /// A health check passed: the upstream is up again and the probe stops.
    pub(crate) fn probe_passed(&self) {
        self.fails.store(0, Ordering::Relaxed);
        self.probing.store(false, Ordering::Release);
    }

    /// A health check failed: counted, in the failure count and the metrics.
    pub(crate) fn probe_failed(&self) {
        self.fails.fetch_add(1, Ordering::Relaxed);
        self.m.hc_failures.inc();
        self.m.legacy_hc_failures.inc();
    }

    fn record(&self, code: u16, took: Duration) {
        let slot = rcode_slot(code);
        let rc = rcode_name(code);
        let reg = metrics::global();
        let to = self.label.as_str();
        self.m
            .by_rcode
            .get(slot, || {
                reg.seconds(
                    "coredns_proxy_request_duration_seconds",
                    "Histogram of the time each request took.",
                    &[("proxy_name", "forward"), ("to", to), ("rcode", &rc)],
                    TIME_BUCKETS,
                )
            })
            .observe_duration(took);
        self.m.legacy_requests.inc();
        self.m
            .legacy_responses
            .get(slot, || {
                reg.counter(
                    "coredns_forward_responses_total",
                    "Counter of responses received per upstream.",
                    &[("to", to), ("rcode", &rc)],
                )
            })
            .inc();
    }

    /// Sends `wire` (a query whose ID is `id`) and returns the matching response. The
    /// question must match `(name, qtype)`; other datagrams are ignored until the timeout.
    /// A UDP answer too big for our buffer comes back as an empty truncated response.
    pub(crate) async fn exchange(
        &self,
        wire: &[u8],
        id: u16,
        name: &Name,
        qtype: RecordType,
        proto: Proto,
    ) -> Result<Message, ExchangeError> {
        let t0 = Instant::now();
        // The stream exchanges are boxed: inline, every waiting UDP exchange (up to
        // `MAX_WAITING` of them under a flood) would be as big as a TLS dial and stream.
        let msg = match (proto, &self.tls) {
            (_, Some(t)) => Box::pin(self.exchange_tls(t, wire, id, name, qtype)).await?,
            (Proto::Udp, None) => self.exchange_udp(wire, id, name, qtype).await?,
            (Proto::Tcp, None) => Box::pin(self.exchange_tcp(wire, id, name, qtype)).await?,
        };
        self.record(u16::from(msg.metadata.response_code), t0.elapsed());
        Ok(msg)
    }

    async fn exchange_udp(
        &self,
        wire: &[u8],
        id: u16,
        name: &Name,
        qtype: RecordType,
    ) -> Result<Message, ExchangeError> {
        let sock = match self.udp.take() {
            Some(s) => s,
            None => conn::dial_udp(self.addr, self.transport.source).await?,
        };
        let local = sock.local_addr().ok();
        sock.send(wire)
            .await
            .map_err(|e| ExchangeError::io("write", "udp", local, self.addr, e))?;
        let deadline = tokio::time::Instant::now() + self.transport.read_timeout;
        // We advertise 1232 bytes; a bigger datagram fills the buffer and is taken as truncated
        // (asked again over TCP). No bigger: every waiting query holds this buffer.
        let mut buf = vec![0u8; usize::from(crate::dns::query::MAX_UDP_PAYLOAD) + 1];
        loop {
            let n = match tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
                Err(_) => return Err(ExchangeError::timeout("udp", local, self.addr)),
                Ok(Err(e)) => return Err(ExchangeError::io("read", "udp", local, self.addr, e)),
                Ok(Ok(n)) => n,
            };
            // A late answer to an earlier query on a reused socket, or junk: keep waiting.
            if n < 12 || u16::from_be_bytes([buf[0], buf[1]]) != id {
                continue;
            }
            if n == buf.len() {
                let mut m = Message::new(id, MessageType::Response, OpCode::Query);
                m.metadata.truncation = true;
                self.udp.give_back(sock);
                return Ok(m);
            }
            match check(&buf[..n], id, name, qtype) {
                Ok(m) => {
                    self.udp.give_back(sock);
                    return Ok(m);
                }
                Err(msg) => tracing::debug!(upstream = %self.addr, %msg, "ignoring a datagram"),
            }
        }
    }

    async fn exchange_tcp(
        &self,
        wire: &[u8],
        id: u16,
        name: &Name,
        qtype: RecordType,
    ) -> Result<Message, ExchangeError> {
        // A kept connection the upstream closed fails at once: then dial a new one.
        if let Some(c) = self.tcp.take() {
            let local = c.local_addr().ok();
            if let Ok(r) = self
                .stream_once(&self.tcp, c, local, wire, id, name, qtype)
                .await
            {
                return Ok(r);
            }
        }
        let c = conn::dial_tcp(self.addr, &self.transport).await?;
        let local = c.local_addr().ok();
        self.stream_once(&self.tcp, c, local, wire, id, name, qtype)
            .await
    }

    /// Over TLS: an idle connection if one is fresh, else a new one (TCP and the handshake).
    /// A kept connection that fails other than by a timeout (the upstream closed it) is
    /// replaced by a new one once.
    async fn exchange_tls(
        &self,
        t: &TlsConns,
        wire: &[u8],
        id: u16,
        name: &Name,
        qtype: RecordType,
    ) -> Result<Message, ExchangeError> {
        if let Some(c) = t.pool.take() {
            let local = tls::local_addr(&c);
            match self
                .stream_once(&t.pool, c, local, wire, id, name, qtype)
                .await
            {
                Err(ExchangeError::Io { .. }) => {}
                other => return other,
            }
        }
        let c = t.dialer.dial(self.addr, &self.transport).await?;
        let local = tls::local_addr(&c);
        self.stream_once(&t.pool, c, local, wire, id, name, qtype)
            .await
    }

    /// One framed exchange on a stream connection, given back to `pool` when it went well.
    #[allow(clippy::too_many_arguments)]
    async fn stream_once<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        pool: &Pool<S>,
        mut c: S,
        local: Option<SocketAddr>,
        wire: &[u8],
        id: u16,
        name: &Name,
        qtype: RecordType,
    ) -> Result<Message, ExchangeError> {
        let len = u16::try_from(wire.len()).map_err(|_| ExchangeError::Bad {
            to: self.addr,
            msg: "query too long".into(),
        })?;
        let framed = conn::frame(len, wire);
        let io = conn::tcp_round_trip(&mut c, &framed, id);
        let buf = match tokio::time::timeout(self.transport.read_timeout, io).await {
            Err(_) => return Err(ExchangeError::timeout("tcp", local, self.addr)),
            Ok(Err(e)) => return Err(ExchangeError::io("read", "tcp", local, self.addr, e)),
            Ok(Ok(b)) => b,
        };
        let m = check(&buf, id, name, qtype)
            .map_err(|msg| ExchangeError::Bad { to: self.addr, msg })?;
        pool.give_back(c);
        Ok(m)
    }
}

/// Encodes a query for `question` (its class as asked: a CH question goes upstream as CH),
/// with EDNS advertising `payload` bytes and the DO bit as asked, and the EDNS `options` in
/// their order (`rewrite`'s `edns0` rules).
#[allow(clippy::too_many_arguments)]
pub(crate) fn query_wire(
    id: u16,
    question: WireQuery,
    rd: bool,
    cd: bool,
    ad: bool,
    dnssec_ok: bool,
    payload: u16,
    options: &[EdnsOpt],
) -> Result<Vec<u8>, String> {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = rd;
    m.metadata.checking_disabled = cd;
    m.metadata.authentic_data = ad;
    m.add_query(question);
    let mut e = Edns::new();
    e.set_max_payload(payload);
    e.set_version(0);
    e.set_dnssec_ok(dnssec_ok);
    for (code, data) in options {
        e.options_mut()
            .insert(EdnsOption::Unknown(*code, data.clone()));
    }
    m.set_edns(e);
    m.to_vec().map_err(|e| e.to_string())
}

/// Parses a response and checks it answers our question.
fn check(buf: &[u8], id: u16, name: &Name, qtype: RecordType) -> Result<Message, String> {
    let m = Message::from_vec(buf).map_err(|e| e.to_string())?;
    if m.metadata.id != id || m.metadata.message_type != MessageType::Response {
        return Err("not a response to our query".into());
    }
    match m.queries.first() {
        Some(q) if q_matches(q, name, qtype) => Ok(m),
        // Some servers leave the question out of error responses.
        None if m.metadata.response_code != ResponseCode::NoError => Ok(m),
        _ => Err("the response's question does not match".into()),
    }
}

fn q_matches(q: &WireQuery, name: &Name, qtype: RecordType) -> bool {
    q.query_type() == qtype && q.name().to_ascii().eq_ignore_ascii_case(&name.to_ascii())
}

#[cfg(test)]
mod tests;
