//! The small HTTP/1.1 server behind `health` (`/health`), `ready` (`/ready`) and `prometheus`
//! (`/metrics`). One listener per address: directives of several server blocks that name the
//! same address share it, as in CoreDNS. A reload keeps listeners whose address did not change
//! and only swaps what they serve.
use std::collections::BTreeMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use socket2::{Domain, Protocol, Socket, Type};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

pub(crate) mod readiness;

use crate::config::args::parse_addr;
use readiness::Readiness;

/// What one address serves.
#[derive(Clone, Default)]
pub(crate) struct Routes {
    pub health: bool,
    pub ready: Option<Arc<Readiness>>,
    pub metrics: bool,
}

impl Routes {
    /// Adds what `other` serves (two directives on one address).
    pub(crate) fn merge(&mut self, other: Routes) {
        self.health |= other.health;
        self.metrics |= other.metrics;
        if other.ready.is_some() {
            self.ready = other.ready;
        }
    }

    fn paths(&self) -> String {
        let mut v = Vec::new();
        if self.health {
            v.push("/health");
        }
        if self.ready.is_some() {
            v.push("/ready");
        }
        if self.metrics {
            v.push("/metrics");
        }
        v.join(" ")
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum HttpError {
    #[error("invalid address {addr:?}: {msg}")]
    Addr { addr: String, msg: String },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: String,
        #[source]
        source: io::Error,
    },
}

fn listener(addr: SocketAddr, dual: bool) -> io::Result<TcpListener> {
    let s = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    if addr.is_ipv6() {
        s.set_only_v6(!dual)?;
    }
    s.set_reuse_address(true)?;
    // A replacement on the same host (`--handover`, node-local) binds beside the running one.
    s.set_reuse_port(true)?;
    s.set_nonblocking(true)?;
    s.bind(&addr.into())?;
    s.listen(128)?;
    TcpListener::from_std(s.into())
}

async fn bind(addr: &str) -> Result<TcpListener, HttpError> {
    let (host, port) = parse_addr(addr).map_err(|msg| HttpError::Addr {
        addr: addr.into(),
        msg,
    })?;
    let err = |source| HttpError::Bind {
        addr: addr.into(),
        source,
    };
    match host {
        // Every address: dual-stack where the machine has IPv6.
        None => listener(
            SocketAddr::new(IpAddr::V6(Ipv6Addr::UNSPECIFIED), port),
            true,
        )
        .or_else(|_| {
            listener(
                SocketAddr::new(IpAddr::V4(Ipv4Addr::UNSPECIFIED), port),
                false,
            )
        })
        .map_err(err),
        Some(h) => {
            let ip = match h.parse::<IpAddr>() {
                Ok(ip) => ip,
                Err(_) => {
                    let mut found: Vec<SocketAddr> = tokio::net::lookup_host((h.as_str(), port))
                        .await
                        .map_err(err)?
                        .collect();
                    found.sort_by_key(|a| a.is_ipv6());
                    found
                        .first()
                        .map(|a| a.ip())
                        .ok_or_else(|| err(io::Error::other("host has no address")))?
                }
            };
            listener(SocketAddr::new(ip, port), false).map_err(err)
        }
    }
}

struct Running {
    routes: Arc<ArcSwap<Routes>>,
    local: SocketAddr,
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

/// Every HTTP listener of the process, by configured address.
#[derive(Default)]
pub(crate) struct HttpServers {
    running: BTreeMap<String, Running>,
}

impl HttpServers {
    /// Makes the listeners match `want`: binds new addresses first (on error nothing changes),
    /// then updates kept ones and closes the rest.
    pub(crate) async fn apply(&mut self, want: BTreeMap<String, Routes>) -> Result<(), HttpError> {
        let mut fresh = Vec::new();
        for addr in want.keys() {
            if !self.running.contains_key(addr) {
                fresh.push((addr.clone(), bind(addr).await?));
            }
        }
        let gone: Vec<String> = self
            .running
            .keys()
            .filter(|a| !want.contains_key(*a))
            .cloned()
            .collect();
        for a in gone {
            if let Some(r) = self.running.remove(&a) {
                r.stop.cancel();
                let _ = r.task.await;
                tracing::info!("http {a}: closed");
            }
        }
        for (addr, l) in fresh {
            let local = l.local_addr().map_err(|source| HttpError::Bind {
                addr: addr.clone(),
                source,
            })?;
            let routes = Arc::new(ArcSwap::from_pointee(Routes::default()));
            let stop = CancellationToken::new();
            let task = tokio::spawn(serve(l, routes.clone(), stop.clone()));
            self.running.insert(
                addr,
                Running {
                    routes,
                    local,
                    stop,
                    task,
                },
            );
        }
        for (addr, routes) in want {
            if let Some(r) = self.running.get(&addr) {
                tracing::info!("http listening on {} ({})", r.local, routes.paths());
                r.routes.store(Arc::new(routes));
            }
        }
        Ok(())
    }

    /// The bound address of each configured address.
    pub(crate) fn local_addrs(&self) -> Vec<(String, SocketAddr)> {
        self.running
            .iter()
            .map(|(a, r)| (a.clone(), r.local))
            .collect()
    }

    pub(crate) async fn stop_all(&mut self) {
        for (_, r) in std::mem::take(&mut self.running) {
            r.stop.cancel();
            let _ = r.task.await;
        }
    }
}

async fn serve(l: TcpListener, routes: Arc<ArcSwap<Routes>>, stop: CancellationToken) {
    loop {
        let conn = tokio::select! {
            _ = stop.cancelled() => return,
            c = l.accept() => c,
        };
        match conn {
            Ok((s, _)) => {
                let routes = routes.load_full();
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(Duration::from_secs(5), answer(s, &routes)).await;
                });
            }
            Err(e) => {
                tracing::warn!(error = %e, "http accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
}

/// Status, content type and body for a path.
pub(crate) fn respond(routes: &Routes, method: &str, path: &str) -> (u16, &'static str, String) {
    const TEXT: &str = "text/plain; charset=utf-8";
    let path = path.split('?').next().unwrap_or(path);
    if method != "GET" && method != "HEAD" {
        return (405, TEXT, "method not allowed".into());
    }
    match path {
        "/health" if routes.health => (200, TEXT, "OK".into()),
        "/ready" => match &routes.ready {
            Some(r) => match r.check() {
                Ok(()) => (200, TEXT, "OK".into()),
                Err(why) => (503, TEXT, why),
            },
            None => (404, TEXT, "404 page not found\n".into()),
        },
        "/metrics" if routes.metrics => (
            200,
            "text/plain; version=0.0.4; charset=utf-8",
            crate::metrics::global().render(),
        ),
        _ => (404, TEXT, "404 page not found\n".into()),
    }
}

async fn answer(mut s: TcpStream, routes: &Routes) -> io::Result<()> {
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() > 16 * 1024 {
            return Ok(());
        }
    }
    let head = String::from_utf8_lossy(&buf);
    let mut words = head.lines().next().unwrap_or("").split_whitespace();
    let (method, path) = (words.next().unwrap_or(""), words.next().unwrap_or(""));
    let (code, ctype, body) = respond(routes, method, path);
    let reason = match code {
        200 => "OK",
        404 => "Not Found",
        405 => "Method Not Allowed",
        _ => "Service Unavailable",
    };
    let mut out = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    if method != "HEAD" {
        out.extend_from_slice(body.as_bytes());
    }
    s.write_all(&out).await?;
    s.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        assert_eq!(parse_addr(":8080").unwrap(), (None, 8080));
        assert_eq!(
            parse_addr("127.0.0.1:9153").unwrap(),
            (Some("127.0.0.1".into()), 9153)
        );
        assert_eq!(
            parse_addr("[::1]:8181").unwrap(),
            (Some("::1".into()), 8181)
        );
        assert_eq!(
            parse_addr("localhost:9153").unwrap(),
            (Some("localhost".into()), 9153)
        );
        assert!(parse_addr("8080").is_err());
        assert!(parse_addr(":http").is_err());
        assert!(parse_addr("::1:99").is_err());
    }

    #[test]
    fn routes_answer_only_what_is_configured() {
        let r = Routes {
            health: true,
            ..Routes::default()
        };
        assert_eq!(respond(&r, "GET", "/health").0, 200);
        assert_eq!(respond(&r, "GET", "/metrics").0, 404);
        assert_eq!(respond(&r, "GET", "/ready").0, 404);
        assert_eq!(respond(&r, "POST", "/health").0, 405);
        let ready = Arc::new(Readiness::default());
        let flag = ready.register("kubernetes");
        let r = Routes {
            ready: Some(ready.clone()),
            ..Routes::default()
        };
        assert_eq!(
            respond(&r, "GET", "/ready"),
            (503, "text/plain; charset=utf-8", "kubernetes".into())
        );
        flag.set(true);
        assert_eq!(respond(&r, "GET", "/ready").0, 200);
    }

    #[tokio::test]
    async fn shared_listener_swaps_routes_and_closes_unused() {
        let mut h = HttpServers::default();
        let mut want = BTreeMap::new();
        want.insert(
            "127.0.0.1:0".to_string(),
            Routes {
                health: true,
                ..Routes::default()
            },
        );
        h.apply(want.clone()).await.unwrap();
        let addr = h.local_addrs()[0].1;
        let get = |path: &'static str| async move {
            let mut s = TcpStream::connect(addr).await.unwrap();
            s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
                .await
                .unwrap();
            let mut out = String::new();
            s.read_to_string(&mut out).await.unwrap();
            out
        };
        assert!(get("/health").await.starts_with("HTTP/1.1 200 OK"));
        assert!(get("/metrics").await.starts_with("HTTP/1.1 404"));
        want.insert(
            "127.0.0.1:0".to_string(),
            Routes {
                metrics: true,
                ..Routes::default()
            },
        );
        h.apply(want).await.unwrap();
        assert_eq!(h.local_addrs()[0].1, addr, "same address: same listener");
        assert!(get("/metrics").await.starts_with("HTTP/1.1 200 OK"));
        assert!(get("/health").await.starts_with("HTTP/1.1 404"));
        h.apply(BTreeMap::new()).await.unwrap();
        assert!(TcpStream::connect(addr).await.is_err());
    }
}
