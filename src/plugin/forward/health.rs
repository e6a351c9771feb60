//! The health probe of one upstream, as CoreDNS's: started after a failed exchange, it asks
//! `domain NS` every `health_check` interval, counting failures, until the upstream answers
//! anything; more failures than `max_fails` mark the upstream down meanwhile. A `tls://`
//! upstream is probed over TLS (a new connection each time, as CoreDNS's `tcp-tls` checker).
use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::Duration;

use hickory_server::proto::op::Query as WireQuery;
use hickory_server::proto::rr::{Name, RecordType};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::conn;
use super::error::ExchangeError;
use super::upstream::{query_wire, Upstream};
use crate::dns::Proto;

/// The health probe's question.
#[derive(Debug, Clone)]
pub(crate) struct Probe {
    /// Time between probes (`health_check`).
    pub(crate) interval: Duration,
    /// The name asked for NS (`health_check … domain`, else the root).
    pub(crate) domain: Name,
    /// The RD bit of the probe (off with `no_rec`).
    pub(crate) recursion_desired: bool,
    /// Probe over TCP (`force_tcp`).
    pub(crate) tcp: bool,
}

/// How long one probe waits for its answer.
const PROBE_TIMEOUT: Duration = Duration::from_secs(1);

impl Upstream {
    /// Starts the health probe unless it runs: it asks `probe.domain NS` every interval,
    /// counting failures, until the upstream answers anything.
    pub(crate) fn healthcheck(self: &Arc<Self>, probe: &Probe) {
        if self.start_probing() {
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
                        u.probe_passed();
                        return;
                    }
                    Err(e) => {
                        u.probe_failed();
                        tracing::debug!(upstream = %u.addr, error = %e, fails = u.fails(), "health check failed");
                    }
                }
                drop(u);
                tokio::time::sleep(probe.interval.max(Duration::from_millis(10))).await;
            }
        });
    }

    /// One probe; any answer with the probe's ID passes.
    async fn probe_once(&self, probe: &Probe) -> Result<(), ExchangeError> {
        let id: u16 = rand::random();
        let wire = query_wire(
            id,
            WireQuery::query(probe.domain.clone(), RecordType::NS),
            probe.recursion_desired,
            false,
            false,
            false,
            crate::dns::query::MAX_UDP_PAYLOAD,
            &[],
        )
        .map_err(|msg| ExchangeError::Bad { to: self.addr, msg })?;
        let proto = if probe.tcp || self.is_tls() {
            Proto::Tcp
        } else {
            Proto::Udp
        };
        // Probes use their own short timeout and never touch the pools.
        let fut = async {
            if let Some(c) = self.dial_tls().await {
                return probe_stream(self.addr, c?, &wire).await;
            }
            match proto {
                Proto::Udp => self.probe_udp(&wire, id).await,
                Proto::Tcp => {
                    let c = conn::dial_tcp(self.addr, self.transport()).await?;
                    probe_stream(self.addr, c, &wire).await
                }
            }
        };
        tokio::time::timeout(PROBE_TIMEOUT, fut)
            .await
            .unwrap_or(Err(ExchangeError::timeout(proto.as_str(), None, self.addr)))
    }

    async fn probe_udp(&self, wire: &[u8], id: u16) -> Result<(), ExchangeError> {
        let to = self.addr;
        let s = conn::dial_udp(to, self.transport().source).await?;
        s.send(wire)
            .await
            .map_err(|e| ExchangeError::io("write", "udp", None, to, e))?;
        let mut buf = vec![0u8; 65535];
        loop {
            let n = s
                .recv(&mut buf)
                .await
                .map_err(|e| ExchangeError::io("read", "udp", None, to, e))?;
            if n >= 12 && u16::from_be_bytes([buf[0], buf[1]]) == id {
                return Ok(());
            }
        }
    }
}

/// A framed probe over a stream (TCP or TLS): any framed answer passes.
async fn probe_stream<S: AsyncRead + AsyncWrite + Unpin>(
    to: SocketAddr,
    mut c: S,
    wire: &[u8],
) -> Result<(), ExchangeError> {
    c.write_all(&conn::frame(wire.len() as u16, wire))
        .await
        .map_err(|e| ExchangeError::io("write", "tcp", None, to, e))?;
    c.flush()
        .await
        .map_err(|e| ExchangeError::io("write", "tcp", None, to, e))?;
    let _ = c
        .read_u16()
        .await
        .map_err(|e| ExchangeError::io("read", "tcp", None, to, e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use tokio::net::UdpSocket;

    use super::*;
    use crate::plugin::forward::conn::Transport;

    fn upstream(addr: SocketAddr) -> Arc<Upstream> {
        Upstream::new(
            addr,
            Transport {
                expire: Duration::from_secs(10),
                max_idle: 0,
                read_timeout: Duration::from_secs(1),
                source: None,
            },
        )
    }

    fn probe(tcp: bool) -> Probe {
        Probe {
            interval: Duration::from_millis(10),
            domain: Name::from_ascii("example.").unwrap(),
            recursion_desired: false,
            tcp,
        }
    }

    /// Waits up to 3 s for `cond`.
    async fn until(cond: impl Fn() -> bool) -> bool {
        for _ in 0..300 {
            if cond() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        cond()
    }

    #[tokio::test]
    async fn failed_probes_mark_the_upstream_down() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        drop(l);
        let u = upstream(addr);
        assert!(!u.down(2));
        u.healthcheck(&probe(true));
        assert!(until(|| u.fails() > 2).await, "fails: {}", u.fails());
        assert!(u.down(2));
        assert!(!u.down(0), "max_fails 0 never marks down");
        assert!(u.start_probing(), "the probe still runs");
    }

    #[tokio::test]
    async fn an_answered_probe_brings_the_upstream_back() {
        // Any datagram with the probe's ID passes: an echo will do.
        let echo = UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let addr = echo.local_addr().unwrap();
        let asked = tokio::spawn(async move {
            let mut buf = vec![0u8; 512];
            let (n, peer) = echo.recv_from(&mut buf).await.unwrap();
            echo.send_to(&buf[..n], peer).await.unwrap();
            hickory_server::proto::op::Message::from_vec(&buf[..n]).unwrap()
        });
        let u = upstream(addr);
        for _ in 0..3 {
            u.probe_failed();
        }
        assert!(u.down(2));
        u.healthcheck(&probe(false));
        assert!(until(|| u.fails() == 0).await, "fails: {}", u.fails());
        assert!(!u.down(2));
        let q = asked.await.unwrap();
        assert_eq!(q.queries[0].name(), &probe(false).domain);
        assert_eq!(q.queries[0].query_type(), RecordType::NS);
        assert!(!q.metadata.recursion_desired, "no_rec");
        assert!(until(|| !u.start_probing()).await, "the probe stopped");
    }
}
