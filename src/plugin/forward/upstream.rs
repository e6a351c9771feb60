//! One upstream server: exchanges over UDP and TCP with idle connections kept for `expire`,
//! its failure count, and the health probe that runs after an error until it answers again.
use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use hickory_server::proto::op::{Edns, Message, MessageType, OpCode, Query as WireQuery};
use hickory_server::proto::rr::{Name, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream, UdpSocket};

use crate::dns::codes::{rcode_name, rcode_slot, RCODE_SLOTS};
use crate::dns::Proto;
use crate::metrics::{self, Counter, Histogram, LazySeries, TIME_BUCKETS};

/// Why an exchange failed, worded as Go's net errors (as CoreDNS logs them), e.g.
/// `read udp 127.0.0.1:40000->127.0.0.1:53: i/o timeout`.
#[derive(Debug, thiserror::Error)]
pub enum ExchangeError {
    #[error("{}", io_text(op, proto, *local, *to, source))]
    Io {
        op: &'static str,
        proto: &'static str,
        local: Option<SocketAddr>,
        to: SocketAddr,
        #[source]
        source: io::Error,
    },
    #[error("read {proto} {}: i/o timeout", ends(*local, *to))]
    Timeout {
        proto: &'static str,
        local: Option<SocketAddr>,
        to: SocketAddr,
    },
    #[error("{to}: bad response: {msg}")]
    Bad { to: SocketAddr, msg: String },
}

fn ends(local: Option<SocketAddr>, to: SocketAddr) -> String {
    match local {
        Some(l) => format!("{l}->{to}"),
        None => to.to_string(),
    }
}

/// `Connection refused (os error 111)` → `connection refused`.
fn reason(e: &io::Error) -> String {
    let t = e.to_string();
    let t = t.split(" (os error").next().unwrap_or(&t);
    let mut c = t.chars();
    match c.next() {
        Some(f) => f.to_lowercase().chain(c).collect(),
        None => String::new(),
    }
}

fn io_text(
    op: &str,
    proto: &str,
    local: Option<SocketAddr>,
    to: SocketAddr,
    e: &io::Error,
) -> String {
    match op {
        "dial" => format!("dial {proto} {to}: connect: {}", reason(e)),
        _ => format!("{op} {proto} {}: {}", ends(local, to), reason(e)),
    }
}

/// Settings shared by every upstream of one `forward`.
#[derive(Debug, Clone)]
pub struct Transport {
    pub expire: Duration,
    pub max_idle: usize,
    pub read_timeout: Duration,
    pub source: Option<IpAddr>,
}

/// The health probe's question.
#[derive(Debug, Clone)]
pub struct Probe {
    pub interval: Duration,
    pub domain: Name,
    pub recursion_desired: bool,
    pub tcp: bool,
}

struct Idle<T> {
    conn: T,
    used: Instant,
}

struct Series {
    by_rcode: LazySeries<Histogram>,
    legacy_requests: Arc<Counter>,
    legacy_responses: LazySeries<Counter>,
    hc_failures: Arc<Counter>,
    legacy_hc_failures: Arc<Counter>,
    conn_hits: [Arc<Counter>; 2],
    conn_misses: [Arc<Counter>; 2],
}

pub struct Upstream {
    pub addr: SocketAddr,
    /// `IP:PORT`, the `to` label.
    pub label: String,
    fails: AtomicU32,
    probing: AtomicBool,
    transport: Transport,
    udp: Mutex<VecDeque<Idle<UdpSocket>>>,
    tcp: Mutex<VecDeque<Idle<TcpStream>>>,
    m: Series,
}

impl Upstream {
    pub fn new(addr: SocketAddr, transport: Transport) -> Arc<Self> {
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
            conn_hits: [
                conn("coredns_proxy_conn_cache_hits_total", hits, "udp"),
                conn("coredns_proxy_conn_cache_hits_total", hits, "tcp"),
            ],
            conn_misses: [
                conn("coredns_proxy_conn_cache_misses_total", misses, "udp"),
                conn("coredns_proxy_conn_cache_misses_total", misses, "tcp"),
            ],
        };
        Arc::new(Self {
            addr,
            label,
            fails: AtomicU32::new(0),
            probing: AtomicBool::new(false),
            transport,
            udp: Mutex::new(VecDeque::new()),
            tcp: Mutex::new(VecDeque::new()),
            m,
        })
    }

    /// Down: more than `max_fails` health checks in a row failed (never with `max_fails` 0).
    pub fn down(&self, max_fails: u32) -> bool {
        max_fails != 0 && self.fails.load(Ordering::Relaxed) > max_fails
    }

    pub fn fails(&self) -> u32 {
        self.fails.load(Ordering::Relaxed)
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

    /// The oldest idle connection still fresh (FIFO, for source port diversity, as CoreDNS).
    fn take_idle<T>(&self, pool: &Mutex<VecDeque<Idle<T>>>, slot: usize) -> Option<T> {
        let mut expired = Vec::new();
        let got = {
            let mut p = pool.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                match p.pop_front() {
                    Some(i) if i.used.elapsed() <= self.transport.expire => break Some(i.conn),
                    Some(i) => expired.push(i),
                    None => break None,
                }
            }
        };
        // Closed outside the lock.
        drop(expired);
        match &got {
            Some(_) => self.m.conn_hits[slot].inc(),
            None => self.m.conn_misses[slot].inc(),
        }
        got
    }

    /// Keeps a connection for reuse (never with `expire 0`, at most `max_idle_conns`); drops
    /// the ones that expired meanwhile.
    fn give_back<T>(&self, pool: &Mutex<VecDeque<Idle<T>>>, conn: T) {
        if self.transport.expire.is_zero() {
            return;
        }
        let mut expired = Vec::new();
        {
            let mut p = pool.lock().unwrap_or_else(|e| e.into_inner());
            while p
                .front()
                .is_some_and(|i| i.used.elapsed() > self.transport.expire)
            {
                expired.extend(p.pop_front());
            }
            if self.transport.max_idle == 0 || p.len() < self.transport.max_idle {
                p.push_back(Idle {
                    conn,
                    used: Instant::now(),
                });
            }
        }
        drop(expired);
    }

    fn local_for(&self) -> SocketAddr {
        let ip = self.transport.source.unwrap_or(match self.addr {
            SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        });
        SocketAddr::new(ip, 0)
    }

    fn io_err(
        &self,
        op: &'static str,
        proto: &'static str,
        local: Option<SocketAddr>,
        source: io::Error,
    ) -> ExchangeError {
        ExchangeError::Io {
            op,
            proto,
            local,
            to: self.addr,
            source,
        }
    }

    fn timeout(&self, proto: &'static str, local: Option<SocketAddr>) -> ExchangeError {
        ExchangeError::Timeout {
            proto,
            local,
            to: self.addr,
        }
    }

    /// Sends `wire` (a query whose ID is `id`) and returns the matching response. The
    /// question must match `(name, qtype)`; other datagrams are ignored until the timeout.
    pub async fn exchange(
        &self,
        wire: &[u8],
        id: u16,
        name: &Name,
        qtype: RecordType,
        proto: Proto,
    ) -> Result<Message, ExchangeError> {
        let t0 = Instant::now();
        let msg = match proto {
            Proto::Udp => self.exchange_udp(wire, id, name, qtype).await?,
            Proto::Tcp => self.exchange_tcp(wire, id, name, qtype).await?,
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
        let sock = match self.take_idle(&self.udp, 0) {
            Some(s) => s,
            None => {
                let s = UdpSocket::bind(self.local_for())
                    .await
                    .map_err(|e| self.io_err("dial", "udp", None, e))?;
                s.connect(self.addr)
                    .await
                    .map_err(|e| self.io_err("dial", "udp", s.local_addr().ok(), e))?;
                s
            }
        };
        let local = sock.local_addr().ok();
        sock.send(wire)
            .await
            .map_err(|e| self.io_err("write", "udp", local, e))?;
        let deadline = tokio::time::Instant::now() + self.transport.read_timeout;
        // We advertise 1232 bytes; a bigger datagram fills the buffer and is taken as truncated.
        let mut buf = vec![0u8; 4096];
        loop {
            let n = match tokio::time::timeout_at(deadline, sock.recv(&mut buf)).await {
                Err(_) => return Err(self.timeout("udp", local)),
                Ok(Err(e)) => return Err(self.io_err("read", "udp", local, e)),
                Ok(Ok(n)) => n,
            };
            // A late answer to an earlier query on a reused socket, or junk: keep waiting.
            if n < 12 || u16::from_be_bytes([buf[0], buf[1]]) != id {
                continue;
            }
            if n == buf.len() {
                let mut m = Message::new(id, MessageType::Response, OpCode::Query);
                m.metadata.truncation = true;
                self.give_back(&self.udp, sock);
                return Ok(m);
            }
            match check(&buf[..n], id, name, qtype) {
                Ok(m) => {
                    self.give_back(&self.udp, sock);
                    return Ok(m);
                }
                Err(msg) => tracing::debug!(upstream = %self.addr, %msg, "ignoring a datagram"),
            }
        }
    }

    async fn connect_tcp(&self) -> Result<TcpStream, ExchangeError> {
        let s = match self.addr {
            SocketAddr::V4(_) => TcpSocket::new_v4(),
            SocketAddr::V6(_) => TcpSocket::new_v6(),
        }
        .map_err(|e| self.io_err("dial", "tcp", None, e))?;
        if self.transport.source.is_some() {
            s.bind(self.local_for())
                .map_err(|e| self.io_err("dial", "tcp", None, e))?;
        }
        match tokio::time::timeout(self.transport.read_timeout, s.connect(self.addr)).await {
            Err(_) => Err(self.io_err(
                "dial",
                "tcp",
                None,
                io::Error::new(io::ErrorKind::TimedOut, "i/o timeout"),
            )),
            Ok(Err(e)) => Err(self.io_err("dial", "tcp", None, e)),
            Ok(Ok(c)) => {
                let _ = c.set_nodelay(true);
                Ok(c)
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
        if let Some(conn) = self.take_idle(&self.tcp, 1) {
            if let Ok(r) = self.tcp_once(conn, wire, id, name, qtype).await {
                return Ok(r);
            }
        }
        let conn = self.connect_tcp().await?;
        self.tcp_once(conn, wire, id, name, qtype).await
    }

    async fn tcp_once(
        &self,
        mut c: TcpStream,
        wire: &[u8],
        id: u16,
        name: &Name,
        qtype: RecordType,
    ) -> Result<Message, ExchangeError> {
        let local = c.local_addr().ok();
        let len = u16::try_from(wire.len()).map_err(|_| ExchangeError::Bad {
            to: self.addr,
            msg: "query too long".into(),
        })?;
        let mut out = Vec::with_capacity(wire.len() + 2);
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(wire);
        let io = async {
            c.write_all(&out).await?;
            loop {
                let n = c.read_u16().await? as usize;
                let mut buf = vec![0u8; n];
                c.read_exact(&mut buf).await?;
                if n >= 2 && u16::from_be_bytes([buf[0], buf[1]]) == id {
                    return Ok::<_, io::Error>(buf);
                }
            }
        };
        let buf = match tokio::time::timeout(self.transport.read_timeout, io).await {
            Err(_) => return Err(self.timeout("tcp", local)),
            Ok(Err(e)) => return Err(self.io_err("read", "tcp", local, e)),
            Ok(Ok(b)) => b,
        };
        let m = check(&buf, id, name, qtype)
            .map_err(|msg| ExchangeError::Bad { to: self.addr, msg })?;
        self.give_back(&self.tcp, c);
        Ok(m)
    }

    /// Starts the health probe unless it runs: it asks `probe.domain NS` every interval,
    /// counting failures, until the upstream answers anything.
    pub fn healthcheck(self: &Arc<Self>, probe: &Probe) {
        if self.probing.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak: Weak<Self> = Arc::downgrade(self);
        let probe = probe.clone();
        tokio::spawn(async move {
            loop {
                // The forward was dropped (reload, shutdown): stop probing.
                let Some(u) = weak.upgrade() else { return };
                match u.probe_once(&probe).await {
                    Ok(()) => {
                        u.fails.store(0, Ordering::Relaxed);
                        u.probing.store(false, Ordering::Release);
                        return;
                    }
                    Err(e) => {
                        u.fails.fetch_add(1, Ordering::Relaxed);
                        u.m.hc_failures.inc();
                        u.m.legacy_hc_failures.inc();
                        tracing::debug!(upstream = %u.addr, error = %e, fails = u.fails(), "health check failed");
                    }
                }
                drop(u);
                tokio::time::sleep(probe.interval.max(Duration::from_millis(10))).await;
            }
        });
    }

    async fn probe_once(&self, probe: &Probe) -> Result<(), ExchangeError> {
        let id: u16 = rand::random();
        let wire = query_wire(
            id,
            &probe.domain,
            RecordType::NS,
            probe.recursion_desired,
            false,
            false,
            false,
        )
        .map_err(|msg| ExchangeError::Bad { to: self.addr, msg })?;
        let proto = if probe.tcp { Proto::Tcp } else { Proto::Udp };
        // Probes use their own short timeout and never touch the pools.
        let fut = async {
            match proto {
                Proto::Udp => {
                    let s = UdpSocket::bind(self.local_for())
                        .await
                        .map_err(|e| self.io_err("dial", "udp", None, e))?;
                    s.connect(self.addr)
                        .await
                        .map_err(|e| self.io_err("dial", "udp", None, e))?;
                    s.send(&wire)
                        .await
                        .map_err(|e| self.io_err("write", "udp", None, e))?;
                    let mut buf = vec![0u8; 65535];
                    loop {
                        let n = s
                            .recv(&mut buf)
                            .await
                            .map_err(|e| self.io_err("read", "udp", None, e))?;
                        if n >= 12 && u16::from_be_bytes([buf[0], buf[1]]) == id {
                            return Ok(());
                        }
                    }
                }
                Proto::Tcp => {
                    let mut c = self.connect_tcp().await?;
                    let mut out = (wire.len() as u16).to_be_bytes().to_vec();
                    out.extend_from_slice(&wire);
                    c.write_all(&out)
                        .await
                        .map_err(|e| self.io_err("write", "tcp", None, e))?;
                    let _ = c
                        .read_u16()
                        .await
                        .map_err(|e| self.io_err("read", "tcp", None, e))?;
                    Ok(())
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(1), fut)
            .await
            .unwrap_or(Err(self.timeout(proto.as_str(), None)))
    }
}

/// Encodes a query (EDNS with a 1232-byte payload and the DO bit as asked).
pub fn query_wire(
    id: u16,
    name: &Name,
    qtype: RecordType,
    rd: bool,
    cd: bool,
    ad: bool,
    dnssec_ok: bool,
) -> Result<Vec<u8>, String> {
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = rd;
    m.metadata.checking_disabled = cd;
    m.metadata.authentic_data = ad;
    m.add_query(WireQuery::query(name.clone(), qtype));
    let mut e = Edns::new();
    e.set_max_payload(crate::dns::query::MAX_UDP_PAYLOAD);
    e.set_version(0);
    e.set_dnssec_ok(dnssec_ok);
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
        None if m.metadata.response_code != hickory_server::proto::op::ResponseCode::NoError => {
            Ok(m)
        }
        _ => Err("the response's question does not match".into()),
    }
}

fn q_matches(q: &WireQuery, name: &Name, qtype: RecordType) -> bool {
    q.query_type() == qtype && q.name().to_ascii().eq_ignore_ascii_case(&name.to_ascii())
}
