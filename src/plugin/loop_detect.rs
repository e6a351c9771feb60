//! `loop`: finds forwarding loops at startup, as CoreDNS. kdns sends itself
//! `<random>.<random>.<zone> HINFO` over UDP; the chain counts that name, and seeing it more
//! than twice means the query came back through an upstream: kdns stops with CoreDNS's message
//! (`Loop (A -> B) detected for zone "Z", see https://coredns.io/plugins/loop#troubleshooting.
//! Query: "HINFO NAME"`) and exit status 1. The probe is retried for up to 30 s until it gets
//! an answer; two seconds after that the check switches off.
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use hickory_server::proto::op::{Message, MessageType, OpCode, Query as WireQuery};
use hickory_server::proto::rr::{Name, RecordType};
use tokio::net::UdpSocket;
use tokio_util::sync::CancellationToken;

use crate::config::args;
use crate::config::syntax::{ConfigError, Line};
use crate::dns::{Directive, Next, Query, Served};

const D: &str = "loop";

/// `loop` takes nothing; its zone is the server block's first.
pub fn parse(line: &Line) -> Result<(), ConfigError> {
    args::no_args(line, D)?;
    args::no_block(line, D)
}

/// `loop` of one server block: the random HINFO name it asks itself at start, and how often it
/// came back.
pub struct LoopDetect {
    zone: String,
    qname: String,
    name: Name,
    seen: AtomicU32,
    off: AtomicBool,
    addr: Mutex<String>,
}

fn random_label() -> String {
    (rand::random::<u64>() >> 2).to_string()
}

impl LoopDetect {
    /// The check for the server block of `zone`, with a fresh random
    /// `<random>.<random>.<zone>` probe name.
    pub fn new(zone: &str) -> Arc<Self> {
        let qname = if zone == "." {
            format!("{}.{}.", random_label(), random_label())
        } else {
            format!("{}.{}.{zone}", random_label(), random_label())
        };
        Arc::new(Self {
            zone: zone.to_string(),
            name: Name::from_ascii(&qname).unwrap_or_else(|_| Name::root()),
            qname,
            seen: AtomicU32::new(0),
            off: AtomicBool::new(false),
            addr: Mutex::new(String::new()),
        })
    }

    /// The probe name, lower-case with the final dot.
    pub fn qname(&self) -> &str {
        &self.qname
    }

    /// The message CoreDNS prints, or `None` while no loop is seen.
    pub fn check(&self, q: &Query) -> Option<String> {
        if q.qtype != RecordType::HINFO || self.off.load(Ordering::Acquire) {
            return None;
        }
        if q.lower != self.qname {
            return None;
        }
        let seen = self.seen.fetch_add(1, Ordering::AcqRel) + 1;
        (seen > 2).then(|| {
            format!(
                "Loop ({} -> {}) detected for zone {:?}, see https://coredns.io/plugins/loop#troubleshooting. Query: \"HINFO {}\"",
                q.src,
                self.addr.lock().unwrap_or_else(|e| e.into_inner()),
                self.zone,
                self.qname
            )
        })
    }

    /// Stops the process, as CoreDNS's `log.Fatalf`.
    pub fn fatal(msg: &str) -> ! {
        eprintln!("[FATAL] plugin/loop: {msg}");
        std::process::exit(1)
    }

    /// The startup probe against the server at `addr` (a wildcard address means loopback).
    pub async fn probe(self: Arc<Self>, addr: SocketAddr, stop: CancellationToken) {
        let target = match addr {
            SocketAddr::V4(a) if a.ip().is_unspecified() => {
                SocketAddr::new(Ipv4Addr::LOCALHOST.into(), a.port())
            }
            SocketAddr::V6(a) if a.ip().is_unspecified() => {
                SocketAddr::new(Ipv6Addr::LOCALHOST.into(), a.port())
            }
            a => a,
        };
        *self.addr.lock().unwrap_or_else(|e| e.into_inner()) = target.to_string();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if stop.is_cancelled() {
                return;
            }
            match self.exchange(target).await {
                Ok(()) => {
                    tokio::select! {
                        _ = stop.cancelled() => {}
                        _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                    }
                    break;
                }
                Err(e) => {
                    tracing::debug!(error = %e, "loop: probe failed, retrying");
                    self.seen.store(0, Ordering::Release);
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                    }
                }
            }
        }
        self.off.store(true, Ordering::Release);
    }

    async fn exchange(&self, target: SocketAddr) -> std::io::Result<()> {
        let local: SocketAddr = if target.is_ipv6() {
            (Ipv6Addr::UNSPECIFIED, 0).into()
        } else {
            (Ipv4Addr::UNSPECIFIED, 0).into()
        };
        let s = UdpSocket::bind(local).await?;
        s.connect(target).await?;
        let id: u16 = rand::random();
        let mut m = Message::new(id, MessageType::Query, OpCode::Query);
        m.metadata.recursion_desired = true;
        m.add_query(WireQuery::query(self.name.clone(), RecordType::HINFO));
        let wire = m.to_vec().map_err(std::io::Error::other)?;
        s.send(&wire).await?;
        let mut buf = vec![0u8; 4096];
        // A loop can take a while to go round: wait as long as CoreDNS's client (2 s).
        let n = tokio::time::timeout(Duration::from_secs(2), s.recv(&mut buf))
            .await
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "i/o timeout"))??;
        if n < 2 || u16::from_be_bytes([buf[0], buf[1]]) != id {
            return Err(std::io::Error::other("unexpected reply"));
        }
        Ok(())
    }
}

impl Directive for LoopDetect {
    fn name(&self) -> &'static str {
        D
    }

    /// Its own probe coming back too often stops the process, as CoreDNS does.
    fn serve<'a>(&'a self, q: &'a Query, next: Next<'a>) -> Served<'a> {
        if let Some(msg) = self.check(q) {
            LoopDetect::fatal(&msg);
        }
        next.answer(q)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_only_its_own_hinfo_name() {
        let l = LoopDetect::new("cluster.local.");
        assert!(l.qname().ends_with(".cluster.local."));
        assert_eq!(l.qname().split('.').count(), 5);
        let mut q = Query::internal(Name::from_ascii(l.qname()).unwrap(), RecordType::HINFO);
        let other = Query::internal(
            Name::from_ascii("x.cluster.local.").unwrap(),
            RecordType::HINFO,
        );
        let mut a = q.clone();
        a.qtype = RecordType::A;
        for _ in 0..5 {
            assert!(l.check(&other).is_none());
            assert!(l.check(&a).is_none());
        }
        assert!(l.check(&q).is_none());
        assert!(l.check(&q).is_none());
        q.src = "127.0.0.1:40000".parse().unwrap();
        let msg = l.check(&q).expect("third time: a loop");
        assert!(msg.starts_with("Loop (127.0.0.1:40000 -> ) detected for zone \"cluster.local.\", see https://coredns.io/plugins/loop#troubleshooting. Query: \"HINFO "), "{msg}");
        let root = LoopDetect::new(".");
        assert_eq!(root.qname().split('.').count(), 3);
    }
}
