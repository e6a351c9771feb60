//! DNS listeners: UDP and TCP sockets per port and address, served by hickory.
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use hickory_server::Server;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;

use super::handler::{Handler, Router};

/// Sockets for one configured port.
pub struct Listeners {
    /// The port as configured (the routing key; 0 means "any free port").
    pub port: u16,
    pub udp: Vec<UdpSocket>,
    pub tcp: Vec<TcpListener>,
}

impl Listeners {
    /// The addresses actually bound (useful with port 0).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.udp
            .iter()
            .filter_map(|s| s.local_addr().ok())
            .collect()
    }
}

fn udp_socket(addr: SocketAddr) -> io::Result<UdpSocket> {
    let s = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    if addr.is_ipv6() {
        s.set_only_v6(true)?;
    }
    // One socket per core on the same address: the kernel spreads flows over them.
    s.set_reuse_port(true)?;
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
    let addrs: Vec<IpAddr> = if wildcard {
        vec![
            IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            IpAddr::V6(Ipv6Addr::UNSPECIFIED),
        ]
    } else {
        addrs.to_vec()
    };
    let mut out = Listeners {
        port,
        udp: Vec::new(),
        tcp: Vec::new(),
    };
    let mut actual = port;
    for ip in addrs {
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

/// Serves every listener until `shutdown` is cancelled, then stops accepting and lets
/// in-flight queries finish.
pub async fn run(
    router: Arc<Router>,
    listeners: Vec<Listeners>,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let mut servers = Vec::new();
    for l in listeners {
        let mut server = Server::new(Handler {
            router: router.clone(),
            port: l.port,
        });
        for s in l.udp {
            // UDP is served by our own loop (dns/udp.rs); hickory serves TCP.
            tokio::spawn(super::udp::serve(
                Arc::new(s),
                router.clone(),
                l.port,
                shutdown.clone(),
            ));
        }
        for t in l.tcp {
            server.register_listener(t, Duration::from_secs(5), 64);
        }
        servers.push(server);
    }
    shutdown.cancelled().await;
    for mut s in servers {
        if let Err(e) = s.shutdown_gracefully().await {
            tracing::warn!(error = %e, "DNS server did not shut down cleanly");
        }
    }
    Ok(())
}
