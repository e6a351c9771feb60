//! The `transfer` directive's syntax, as CoreDNS 1.14.7 reads it:
//!
//! ```text
//! transfer [ZONE...] {
//!     to ADDRESS...
//!     source ADDRESS
//! }
//! ```
//!
//! Every `transfer` line of a server block adds one set of zones with its own `to` list. `to`
//! takes `*` or addresses with an optional port (`1.2.3.4`, `1.2.3.4:5300`, `12:34::56`,
//! `[12:34::56]:5300`) and may be given more than once; at least one is required. `source` (the
//! address NOTIFY messages would leave from) is accepted and kept: the `kubernetes` zone sends
//! no NOTIFY, in CoreDNS as here.
use std::net::IpAddr;

use crate::config::args;
use crate::config::syntax::{normalize_zone, ConfigError, Line, Token};

const D: Option<&str> = Some("transfer");

/// Every `transfer` line of a server block.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct TransferConfig {
    /// One per line, in Corefile order.
    pub xfrs: Vec<Xfr>,
}

/// One `transfer` line: its zones and who may transfer them.
#[derive(Debug, Clone, PartialEq)]
pub struct Xfr {
    /// Zones (lower-case, trailing dot): the line's, else the server block's.
    pub zones: Vec<String>,
    /// `to`: the secondaries, in order.
    pub to: Vec<Peer>,
    /// `source`: the local address NOTIFY would be sent from.
    pub source: Option<IpAddr>,
}

/// One `to` address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peer {
    /// `*`: every client.
    Any,
    /// A secondary: `HOST:PORT` as CoreDNS normalizes it (port 53 when left out).
    Host {
        /// The address as written without its port (`fe80::1%eth0` keeps its zone).
        host: String,
        /// The port (where NOTIFY would go; transfers match the address alone).
        port: u16,
        /// The address a client must have; `None` for a link-local address with a zone,
        /// which, as in CoreDNS, no client matches.
        ip: Option<IpAddr>,
    },
}

impl Peer {
    /// May a client at `ip` transfer? The address alone decides (an IPv4-mapped IPv6 client
    /// is its IPv4 address, as Go sees it).
    pub fn allows(&self, ip: IpAddr) -> bool {
        match self {
            Peer::Any => true,
            Peer::Host { ip: Some(want), .. } => want.to_canonical() == ip.to_canonical(),
            Peer::Host { ip: None, .. } => false,
        }
    }
}

impl std::fmt::Display for Peer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Peer::Any => f.write_str("*"),
            Peer::Host { host, port, .. } if host.contains(':') => write!(f, "[{host}]:{port}"),
            Peer::Host { host, port, .. } => write!(f, "{host}:{port}"),
        }
    }
}

/// Parses one `transfer` line (and its block) in a server block serving `block_zones`, adding
/// it to `c`.
pub fn parse(
    line: &Line,
    block_zones: &[String],
    c: &mut TransferConfig,
) -> Result<(), ConfigError> {
    let zones = if line.args().is_empty() {
        block_zones.to_vec()
    } else {
        line.args()
            .iter()
            .map(|a| normalize_zone(&a.text).map_err(|m| ConfigError::at(a, D, m)))
            .collect::<Result<_, _>>()?
    };
    let mut x = Xfr {
        zones,
        to: Vec::new(),
        source: None,
    };
    for opt in args::block(line) {
        option(&mut x, opt)?;
    }
    if x.to.is_empty() {
        return Err(ConfigError::at(line.name(), D, "'to' is required"));
    }
    c.xfrs.push(x);
    Ok(())
}

/// One line of the block.
fn option(x: &mut Xfr, opt: &Line) -> Result<(), ConfigError> {
    let o = opt.name();
    if opt.block.is_some() {
        return Err(ConfigError::at(o, D, format!("{} takes no block", o.text)));
    }
    match o.text.as_str() {
        "to" => {
            if opt.args().is_empty() {
                return Err(ConfigError::at(
                    o,
                    D,
                    "to expects at least one address or *",
                ));
            }
            for a in opt.args() {
                x.to.push(peer(a)?);
            }
        }
        "source" => {
            let a = args::one(opt, "transfer", "one address")?;
            if x.source.is_some() {
                return Err(ConfigError::at(a, D, "source already specified"));
            }
            let ip = a.text.parse().map_err(|_| {
                ConfigError::at(a, D, format!("invalid source address {:?}", a.text))
            })?;
            x.source = Some(ip);
        }
        _ => return Err(args::unknown(opt, "transfer")),
    }
    Ok(())
}

/// `*`, `IP`, `IP:PORT` or `[IPv6]:PORT` (CoreDNS's `parse.HostPort` with port 53).
fn peer(a: &Token) -> Result<Peer, ConfigError> {
    if a.text == "*" {
        return Ok(Peer::Any);
    }
    let not_ip = |h: &str| ConfigError::at(a, D, format!("must specify an IP address: `{h}'"));
    let t = a.text.as_str();
    let (host, port) = match t.rsplit_once(':') {
        // `[V6]:PORT`
        Some((h, p)) if h.starts_with('[') => {
            let h = h
                .strip_prefix('[')
                .and_then(|h| h.strip_suffix(']'))
                .ok_or_else(|| not_ip(t))?;
            (h, Some(p))
        }
        // A bare IPv6 address (more than one colon, no brackets).
        Some((h, _)) if h.contains(':') => (t, None),
        Some((h, p)) => (h, Some(p)),
        None => (t, None),
    };
    let port = match port {
        None => 53,
        Some(p) => p
            .parse()
            .map_err(|_| ConfigError::at(a, D, format!("invalid port {p:?} in {t:?}")))?,
    };
    let (bare, scoped) = match host.split_once('%') {
        Some((b, _)) => (b, true),
        None => (host, false),
    };
    let ip: IpAddr = bare.parse().map_err(|_| not_ip(host))?;
    Ok(Peer::Host {
        host: host.to_string(),
        port,
        ip: (!scoped).then_some(ip),
    })
}
