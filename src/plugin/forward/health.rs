//! The health probe of one upstream, as CoreDNS's: started after a failed exchange, it asks
//! `domain NS` every `health_check` interval, counting failures, until the upstream answers
//! anything; more failures than `max_fails` mark the upstream down meanwhile.
use std::sync::{Arc, Weak};
use std::time::Duration;

use hickory_server::proto::rr::{Name, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

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
                Proto::Udp => self.probe_udp(&wire, id).await,
                Proto::Tcp => self.probe_tcp(&wire).await,
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

    async fn probe_tcp(&self, wire: &[u8]) -> Result<(), ExchangeError> {
        let to = self.addr;
        let mut c = conn::dial_tcp(to, self.transport()).await?;
        c.write_all(&conn::frame(wire.len() as u16, wire))
            .await
            .map_err(|e| ExchangeError::io("write", "tcp", None, to, e))?;
        let _ = c
            .read_u16()
            .await
            .map_err(|e| ExchangeError::io("read", "tcp", None, to, e))?;
        Ok(())
    }
}
