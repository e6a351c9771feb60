//! `health [ADDRESS] { lameduck DURATION }`: `/health` on `:8080` answers 200 `OK` while the
//! process runs. With `lameduck`, stopping (SIGTERM) first waits DURATION while DNS and
//! `/health` keep answering (and `/ready` says `Shutting down`), so clients move away first.
//!
//! As CoreDNS, kdns checks its own `/health` once a second and exports
//! `coredns_health_request_duration_seconds` and `coredns_health_request_failures_total`.
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;

use crate::config::args;
use crate::config::syntax::{ConfigError, Line};
use crate::metrics;

const D: &str = "health";
/// Where `/health` is served when `health` has no ADDRESS (every address, port 8080).
pub const DEFAULT_ADDR: &str = ":8080";
/// CoreDNS's buckets for the self check (`plugin.SlimTimeBuckets`).
pub const SELF_CHECK_BUCKETS: &[f64] = &[0.00025, 0.0025, 0.025, 0.25, 2.5];

/// A parsed `health [ADDRESS] { lameduck DURATION }` directive.
#[derive(Debug, Clone, PartialEq)]
pub struct HealthConfig {
    /// `HOST:PORT` or `:PORT` to serve `/health` on ([`DEFAULT_ADDR`] when not given).
    pub addr: String,
    /// How long stopping waits while still answering (`lameduck`); zero without it.
    pub lameduck: Duration,
}

/// Parses `health [ADDRESS] [{ lameduck DURATION }]`.
pub fn parse(line: &Line) -> Result<HealthConfig, ConfigError> {
    let addr = args::optional_http_addr(line, DEFAULT_ADDR, D)?;
    let mut lameduck = Duration::ZERO;
    for o in args::block(line) {
        args::no_block(o, D)?;
        match o.name().text.as_str() {
            "lameduck" => lameduck = args::duration(args::one(o, D, "a duration")?, D)?,
            _ => return Err(args::unknown(o, D)),
        }
    }
    Ok(HealthConfig { addr, lameduck })
}

/// GETs `/health` on `addr` once a second until `stop`, recording how long it took.
pub async fn self_check(addr: SocketAddr, stop: CancellationToken) {
    let reg = metrics::global();
    let took = reg.seconds(
        "coredns_health_request_duration_seconds",
        "Histogram of the time (in seconds) each request took.",
        &[],
        SELF_CHECK_BUCKETS,
    );
    let failures = reg.counter(
        "coredns_health_request_failures_total",
        "The number of times the health check failed.",
        &[],
    );
    let addr = if addr.ip().is_unspecified() {
        SocketAddr::new(
            if addr.is_ipv6() {
                std::net::Ipv6Addr::LOCALHOST.into()
            } else {
                std::net::Ipv4Addr::LOCALHOST.into()
            },
            addr.port(),
        )
    } else {
        addr
    };
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        let t0 = Instant::now();
        let ok = tokio::time::timeout(Duration::from_secs(5), get(addr))
            .await
            .is_ok_and(|r| r.is_ok_and(|s| s.starts_with("HTTP/1.1 200")));
        took.observe_duration(t0.elapsed());
        if !ok {
            failures.inc();
        }
    }
}

async fn get(addr: SocketAddr) -> std::io::Result<String> {
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.write_all(b"GET /health HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await?;
    let mut out = String::new();
    s.read_to_string(&mut out).await?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load_str, Plugin};
    use std::path::Path;

    fn cfg(text: &str) -> Result<HealthConfig, ConfigError> {
        let c = load_str(text, Path::new("Corefile"), 53)?;
        Ok(c.blocks[0]
            .plugins
            .iter()
            .find_map(|p| match p {
                Plugin::Health(h) => Some(h.clone()),
                _ => None,
            })
            .expect("a health directive"))
    }

    #[test]
    fn parse_table() {
        for (text, want) in [
            (".:53 {\n health\n}\n", Ok((":8080", 0))),
            (
                ".:53 {\n health {\n  lameduck 5s\n }\n}\n",
                Ok((":8080", 5000)),
            ),
            (
                ".:53 {\n health localhost:8091 {\n  lameduck 250ms\n }\n}\n",
                Ok(("localhost:8091", 250)),
            ),
            (
                ".:53 {\n health {\n  lameduck five\n }\n}\n",
                Err("Corefile:3: health: invalid duration \"five\""),
            ),
            (
                ".:53 {\n health {\n  lameduck\n }\n}\n",
                Err("Corefile:3: health: lameduck expects a duration"),
            ),
            (
                ".:53 {\n health {\n  lame 5s\n }\n}\n",
                Err("Corefile:3: health: unknown property \"lame\""),
            ),
            (
                ".:53 {\n health nohost\n}\n",
                Err("Corefile:2: health: address \"nohost\""),
            ),
        ] {
            match (cfg(text), want) {
                (Ok(c), Ok((addr, ms))) => {
                    assert_eq!(
                        (c.addr.as_str(), c.lameduck),
                        (addr, Duration::from_millis(ms))
                    )
                }
                (Err(e), Err(w)) => assert!(e.to_string().starts_with(w), "{e} vs {w}"),
                (got, want) => panic!("{text}: got {got:?}, want {want:?}"),
            }
        }
    }
}
