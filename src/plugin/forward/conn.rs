//! Connections to one upstream: dialing UDP and TCP from the `source_address`, the idle
//! connections kept for `expire` (at most `max_idle_conns`), and DNS-over-TCP framing (also
//! used inside TLS).
use std::collections::VecDeque;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream, UdpSocket};

use super::error::ExchangeError;
use crate::metrics::Counter;

/// Settings shared by every upstream of one `forward`.
#[derive(Debug, Clone)]
pub(crate) struct Transport {
    /// How long an idle connection is kept (`expire`; 0 keeps none).
    pub(crate) expire: Duration,
    /// At most this many idle connections per protocol (`max_idle_conns`; 0: no limit).
    pub(crate) max_idle: usize,
    /// How long to wait for a connection or an answer (`read_timeout`).
    pub(crate) read_timeout: Duration,
    /// The local address queries leave from (`source_address`).
    pub(crate) source: Option<IpAddr>,
}

/// The local address to bind for `to`: `source`, else the unspecified address of `to`'s family.
pub(crate) fn local_for(to: SocketAddr, source: Option<IpAddr>) -> SocketAddr {
    let ip = source.unwrap_or(match to {
        SocketAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        SocketAddr::V6(_) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    });
    SocketAddr::new(ip, 0)
}

/// A new UDP socket bound from `source` and connected to `to`.
pub(crate) async fn dial_udp(
    to: SocketAddr,
    source: Option<IpAddr>,
) -> Result<UdpSocket, ExchangeError> {
    let s = UdpSocket::bind(local_for(to, source))
        .await
        .map_err(|e| ExchangeError::io("dial", "udp", None, to, e))?;
    s.connect(to)
        .await
        .map_err(|e| ExchangeError::io("dial", "udp", s.local_addr().ok(), to, e))?;
    Ok(s)
}

/// A new TCP connection to `to` (from `source_address` when set), within `read_timeout`.
pub(crate) async fn dial_tcp(to: SocketAddr, t: &Transport) -> Result<TcpStream, ExchangeError> {
    let dial_err = |e| ExchangeError::io("dial", "tcp", None, to, e);
    let s = match to {
        SocketAddr::V4(_) => TcpSocket::new_v4(),
        SocketAddr::V6(_) => TcpSocket::new_v6(),
    }
    .map_err(dial_err)?;
    if t.source.is_some() {
        s.bind(local_for(to, t.source)).map_err(dial_err)?;
    }
    match tokio::time::timeout(t.read_timeout, s.connect(to)).await {
        Err(_) => Err(dial_err(io::Error::new(
            io::ErrorKind::TimedOut,
            "i/o timeout",
        ))),
        Ok(Err(e)) => Err(dial_err(e)),
        Ok(Ok(c)) => {
            let _ = c.set_nodelay(true);
            Ok(c)
        }
    }
}

/// `wire` with its two-byte length prefix, as sent over TCP.
pub(crate) fn frame(len: u16, wire: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(wire.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(wire);
    out
}

/// Sends one framed query and reads framed messages until one carries `id` (over TCP or TLS).
pub(crate) async fn tcp_round_trip<S: AsyncRead + AsyncWrite + Unpin>(
    c: &mut S,
    framed: &[u8],
    id: u16,
) -> io::Result<Vec<u8>> {
    c.write_all(framed).await?;
    // A no-op for TCP; TLS may hold the record until flushed.
    c.flush().await?;
    loop {
        let n = c.read_u16().await? as usize;
        let mut buf = vec![0u8; n];
        c.read_exact(&mut buf).await?;
        if n >= 2 && u16::from_be_bytes([buf[0], buf[1]]) == id {
            return Ok(buf);
        }
    }
}

struct Idle<T> {
    conn: T,
    used: Instant,
}

/// Idle connections of one protocol, oldest first, with the connection cache hit and miss
/// counters of that protocol.
pub(crate) struct Pool<T> {
    idle: Mutex<VecDeque<Idle<T>>>,
    expire: Duration,
    max_idle: usize,
    hits: Arc<Counter>,
    misses: Arc<Counter>,
}

impl<T> Pool<T> {
    /// An empty pool keeping connections as `t` says.
    pub(crate) fn new(t: &Transport, hits: Arc<Counter>, misses: Arc<Counter>) -> Self {
        Self {
            idle: Mutex::new(VecDeque::new()),
            expire: t.expire,
            max_idle: t.max_idle,
            hits,
            misses,
        }
    }

    /// The oldest idle connection still fresh (FIFO, for source port diversity, as CoreDNS);
    /// expired ones are closed on the way.
    pub(crate) fn take(&self) -> Option<T> {
        let mut expired = Vec::new();
        let got = {
            let mut p = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            loop {
                match p.pop_front() {
                    Some(i) if i.used.elapsed() <= self.expire => break Some(i.conn),
                    Some(i) => expired.push(i),
                    None => break None,
                }
            }
        };
        // Closed outside the lock.
        drop(expired);
        match &got {
            Some(_) => self.hits.inc(),
            None => self.misses.inc(),
        }
        got
    }

    /// Keeps a connection for reuse (never with `expire 0`, at most `max_idle_conns`); drops
    /// the ones that expired meanwhile.
    pub(crate) fn give_back(&self, conn: T) {
        if self.expire.is_zero() {
            return;
        }
        let mut expired = Vec::new();
        {
            let mut p = self.idle.lock().unwrap_or_else(|e| e.into_inner());
            while p.front().is_some_and(|i| i.used.elapsed() > self.expire) {
                expired.extend(p.pop_front());
            }
            if self.max_idle == 0 || p.len() < self.max_idle {
                p.push_back(Idle {
                    conn,
                    used: Instant::now(),
                });
            }
        }
        drop(expired);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(expire: Duration, max_idle: usize) -> (Pool<u32>, Arc<Counter>, Arc<Counter>) {
        let t = Transport {
            expire,
            max_idle,
            read_timeout: Duration::from_secs(1),
            source: None,
        };
        let (hits, misses) = (Arc::new(Counter::default()), Arc::new(Counter::default()));
        (Pool::new(&t, hits.clone(), misses.clone()), hits, misses)
    }

    #[test]
    fn pool_is_fifo_bounded_and_counts() {
        let (p, hits, misses) = pool(Duration::from_secs(60), 2);
        for c in 1..=3 {
            p.give_back(c);
        }
        assert_eq!(p.take(), Some(1), "oldest first");
        assert_eq!(p.take(), Some(2));
        assert_eq!(p.take(), None, "the third was over max_idle");
        assert_eq!((hits.get(), misses.get()), (2, 1));
    }

    #[test]
    fn pool_expires() {
        let (p, _, _) = pool(Duration::ZERO, 0);
        p.give_back(1);
        assert_eq!(p.take(), None, "expire 0 keeps nothing");

        let (p, _, misses) = pool(Duration::from_millis(5), 0);
        p.give_back(1);
        std::thread::sleep(Duration::from_millis(20));
        assert_eq!(p.take(), None, "expired");
        assert_eq!(misses.get(), 1);
        assert_eq!(p.idle.lock().unwrap().len(), 0, "and closed");
    }

    #[test]
    fn frames_carry_the_length() {
        assert_eq!(frame(3, b"abc"), vec![0, 3, b'a', b'b', b'c']);
    }

    #[test]
    fn local_address_follows_the_family_or_source() {
        let v4: SocketAddr = "10.0.0.1:53".parse().unwrap();
        let v6: SocketAddr = "[2001:db8::1]:53".parse().unwrap();
        assert_eq!(local_for(v4, None), "0.0.0.0:0".parse().unwrap());
        assert_eq!(local_for(v6, None), "[::]:0".parse().unwrap());
        let src: IpAddr = "127.0.0.2".parse().unwrap();
        assert_eq!(local_for(v4, Some(src)), "127.0.0.2:0".parse().unwrap());
    }
}
