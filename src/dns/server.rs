//! DNS listeners: UDP and TCP sockets per port and address. Every datagram and every TCP
//! connection gets its own task; stopping closes the sockets, then waits for the queries in
//! flight.
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::chain::Router;
use super::query::Proto;
use super::respond::Responder;

/// A TCP connection with no query for this long is closed.
const TCP_IDLE: Duration = Duration::from_secs(10);

/// Sockets for one configured port.
pub struct Listeners {
    /// The port as configured (the routing key; 0 means "any free port").
    pub port: u16,
    /// The addresses asked for (empty: every address).
    pub addrs: Vec<IpAddr>,
    /// Bound UDP sockets: one per core for each address, sharing it with `SO_REUSEPORT`.
    pub udp: Vec<UdpSocket>,
    /// Bound TCP listeners, one per address.
    pub tcp: Vec<TcpListener>,
}

impl Listeners {
    /// The addresses actually bound (useful with port 0), once each.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        let mut v: Vec<SocketAddr> = Vec::new();
        for a in self.udp.iter().filter_map(|s| s.local_addr().ok()) {
            if !v.contains(&a) {
                v.push(a);
            }
        }
        v
    }
}

const UDP_RECV_BUFFER: usize = 4 << 20;

fn udp_socket(addr: SocketAddr) -> io::Result<UdpSocket> {
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    // One socket per core on the same address: the kernel spreads flows over them.
    s.set_reuse_port(true)?;
    // Room for bursts while the loop answers inline (the default ~208 KB drops under a few
    // hundred outstanding queries); the kernel caps it at net.core.rmem_max.
    let _ = s.set_recv_buffer_size(UDP_RECV_BUFFER);
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    UdpSocket::from_std(s.into())
}

fn tcp_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    s.set_reuse_address(true)?;
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    s.listen(1024)?;
    TcpListener::from_std(s.into())
}

/// One UDP socket per available core (SO_REUSEPORT), so every core reads queries.
fn udp_sockets_per_address() -> usize {
    std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 64)
}

/// Binds UDP and TCP on `port` for each address (all addresses when `addrs` is empty). With
/// port 0 the kernel picks a free UDP port and TCP binds the same one.
pub fn bind(port: u16, addrs: &[IpAddr]) -> io::Result<Listeners> {
    // With port 0, the free UDP port may be taken for TCP (by a client's ephemeral port):
    // try another one.
    let mut tries = 0;
    loop {
        match bind_once(port, addrs) {
            Err(e) if port == 0 && e.kind() == io::ErrorKind::AddrInUse && tries < 20 => tries += 1,
            r => return r,
        }
    }
}

fn bind_once(port: u16, addrs: &[IpAddr]) -> io::Result<Listeners> {
    let wildcard = addrs.is_empty();
    let ips: Vec<IpAddr> = if wildcard {
        vec![
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        ]
    } else {
        addrs.to_vec()
    };
    let mut out = Listeners {
        port,
        addrs: addrs.to_vec(),
        udp: Vec::new(),
        tcp: Vec::new(),
    };
    let mut actual = port;
    for ip in ips {
        let addr = SocketAddr::new(ip, actual);
        let udp = match udp_socket(addr) {
            Ok(s) => s,
            // A machine without IPv6 still serves IPv4 on the wildcard address.
            Err(e) if wildcard && ip.is_ipv6() => {
                tracing::debug!(error = %e, "no IPv6 wildcard listener");
                continue;
            }
            Err(e) => return Err(io::Error::new(e.kind(), format!("udp {addr}: {e}"))),
        };
        if actual == 0 {
            actual = udp.local_addr()?.port();
        }
        let addr = SocketAddr::new(ip, actual);
        let tcp =
            tcp_listener(addr).map_err(|e| io::Error::new(e.kind(), format!("tcp {addr}: {e}")))?;
        out.udp.push(udp);
        for _ in 1..udp_sockets_per_address() {
            let extra = udp_socket(addr)
                .map_err(|e| io::Error::new(e.kind(), format!("udp {addr}: {e}")))?;
            out.udp.push(extra);
        }
        out.tcp.push(tcp);
    }
    Ok(out)
}

/// Serving one port's listeners; stop with [`Serving::stop`].
pub struct Serving {
    stop: CancellationToken,
    tasks: TaskTracker,
}

impl Serving {
    /// Stops accepting, then waits for the queries in flight.
    pub async fn stop(self) {
        self.stop.cancel();
        self.tasks.close();
        self.tasks.wait().await;
    }
}

/// Starts serving `l` with whatever router `router` holds when each query arrives.
pub fn serve(router: Arc<ArcSwap<Router>>, l: Listeners) -> Serving {
    let stop = CancellationToken::new();
    let tasks = TaskTracker::new();
    let responder = Arc::new(Responder::new(router, l.port));
    for s in l.udp {
        tasks.spawn(super::udp::serve(
            Arc::new(s),
            responder.clone(),
            stop.clone(),
            tasks.clone(),
        ));
    }
    for t in l.tcp {
        tasks.spawn(tcp_loop(t, responder.clone(), stop.clone(), tasks.clone()));
    }
    Serving { stop, tasks }
}

async fn tcp_loop(l: TcpListener, r: Arc<Responder>, stop: CancellationToken, tasks: TaskTracker) {
    loop {
        let got = tokio::select! {
            _ = stop.cancelled() => return,
            g = l.accept() => g,
        };
        match got {
            Ok((s, src)) => {
                let (r, stop) = (r.clone(), stop.clone());
                tasks.spawn(async move {
                    if let Err(e) = tcp_conn(s, src, r, stop).await {
                        tracing::debug!(error = %e, %src, "tcp connection ended");
                    }
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "tcp accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Queries on one connection, answered in order; closes when idle, at EOF or on stop.
async fn tcp_conn(
    mut s: TcpStream,
    src: SocketAddr,
    r: Arc<Responder>,
    stop: CancellationToken,
) -> io::Result<()> {
    let local = s.local_addr()?;
    let _ = s.set_nodelay(true);
    loop {
        let len = tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            l = tokio::time::timeout(TCP_IDLE, s.read_u16()) => match l {
                Err(_) => return Ok(()),
                Ok(Err(e)) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
                Ok(r) => r?,
            },
        };
        let mut raw = vec![0u8; usize::from(len)];
        tokio::time::timeout(TCP_IDLE, s.read_exact(&mut raw))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "reading a query"))??;
        let Some((out, done)) = r.respond(raw, src, local, Proto::Tcp).await else {
            return Ok(());
        };
        let Ok(n) = u16::try_from(out.len()) else {
            return Ok(());
        };
        let mut framed = Vec::with_capacity(out.len() + 2);
        framed.extend_from_slice(&n.to_be_bytes());
        framed.extend_from_slice(&out);
        s.write_all(&framed).await?;
        if let Some(d) = done {
            d.report();
        }
    }
}
