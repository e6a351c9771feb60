//! The `hosts` directive's syntax, as CoreDNS 1.14.7 reads it:
//!
//! ```text
//! hosts [FILE [ZONES…]] {
//!     [INLINE]
//!     ttl SECONDS
//!     no_reverse
//!     reload DURATION
//!     fallthrough [ZONES…]
//!     fallthrough_unsupported
//! }
//! ```
//!
//! Inline entries (`IP NAME…` lines) come before `fallthrough`; after it a line that is not an
//! option is an unknown property, as in CoreDNS. CoreDNS drops an inline line whose first word is
//! not an address without a word (so a mistyped option vanishes); kdns refuses it at load.
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::config::args;
use crate::config::syntax::{normalize_zone, ConfigError, Line, Token};
use crate::zone::Fallthrough;

const D: Option<&str> = Some("hosts");

/// The hosts file when the line names none.
pub const DEFAULT_PATH: &str = "/etc/hosts";

/// One `hosts` directive.
#[derive(Debug, Clone, PartialEq)]
pub struct HostsConfig {
    /// The hosts file (relative paths are relative to the working directory, as CoreDNS
    /// without `root`).
    pub path: PathBuf,
    /// Zones it answers for (lower-case, trailing dot): the line's, else the server block's.
    pub zones: Vec<String>,
    /// `ttl`: the TTL of every record (1 to 65535, default 3600).
    pub ttl: u32,
    /// PTR records from the entries (off with `no_reverse`).
    pub reverse: bool,
    /// `reload`: how often the file is checked for changes (zero: never; default 5 s).
    pub reload: Duration,
    /// `fallthrough [ZONES…]`: names without entries pass on to the next directive.
    pub fallthrough: Fallthrough,
    /// `fallthrough_unsupported`: other types than A, AAAA and PTR pass on too.
    pub fallthrough_unsupported: bool,
    /// The inline entries, one `IP NAME…` line each, in Corefile order.
    pub inline: Vec<String>,
    /// Where the directive is (`FILE:LINE`), for logs.
    pub at: String,
}

/// Parses one `hosts` line (and its block) in a server block serving `block_zones`.
pub fn parse(line: &Line, block_zones: &[String]) -> Result<HostsConfig, ConfigError> {
    let mut c = HostsConfig {
        path: PathBuf::from(DEFAULT_PATH),
        zones: block_zones.to_vec(),
        ttl: 3600,
        reverse: true,
        reload: Duration::from_secs(5),
        fallthrough: Fallthrough::Off,
        fallthrough_unsupported: false,
        inline: Vec::new(),
        at: line.name().at(),
    };
    if let Some((file, zones)) = line.args().split_first() {
        c.path = PathBuf::from(&file.text);
        check_file(file)?;
        if !zones.is_empty() {
            c.zones = zones_of(zones)?;
        }
    }
    for opt in args::block(line) {
        option(&mut c, opt)?;
    }
    if c.fallthrough_unsupported && c.fallthrough == Fallthrough::Off {
        return Err(ConfigError::at(
            line.name(),
            D,
            "fallthrough_unsupported requires fallthrough",
        ));
    }
    Ok(c)
}

/// One line of the block: an option, or an inline entry before `fallthrough`.
fn option(c: &mut HostsConfig, opt: &Line) -> Result<(), ConfigError> {
    let o = opt.name();
    if opt.block.is_some() {
        return Err(ConfigError::at(o, D, format!("{} takes no block", o.text)));
    }
    match o.text.as_str() {
        "fallthrough" => {
            c.fallthrough = match opt.args() {
                [] => Fallthrough::All,
                z => Fallthrough::Zones(zones_of(z)?),
            }
        }
        "fallthrough_unsupported" => {
            args::no_args(opt, "hosts")?;
            c.fallthrough_unsupported = true;
        }
        "no_reverse" => {
            args::no_args(opt, "hosts")?;
            c.reverse = false;
        }
        "ttl" => c.ttl = ttl(opt)?,
        "reload" => c.reload = reload(opt)?,
        _ if c.fallthrough == Fallthrough::Off => c.inline.push(entry(opt)?),
        _ => return Err(args::unknown(opt, "hosts")),
    }
    Ok(())
}

/// `ttl SECONDS`, 1 to 65535 (CoreDNS's wording for each mistake).
fn ttl(opt: &Line) -> Result<u32, ConfigError> {
    let a = match opt.args() {
        [] => return Err(ConfigError::at(opt.name(), D, "ttl needs a time in second")),
        [a] => a,
        [_, extra, ..] => return Err(ConfigError::at(extra, D, "ttl takes one number")),
    };
    let n: i64 = a
        .text
        .parse()
        .map_err(|_| ConfigError::at(a, D, "ttl needs a number of second"))?;
    if !(1..=65535).contains(&n) {
        return Err(ConfigError::at(
            a,
            D,
            format!("ttl provided is invalid: {n} (1 to 65535)"),
        ));
    }
    Ok(n as u32)
}

/// `reload DURATION`; `0` turns re-reading off.
fn reload(opt: &Line) -> Result<Duration, ConfigError> {
    let [a] = opt.args() else {
        return Err(ConfigError::at(
            opt.name(),
            D,
            "reload needs a duration (zero seconds to disable)",
        ));
    };
    let (negative, body) = match a.text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, a.text.strip_prefix('+').unwrap_or(&a.text)),
    };
    // Go accepts a bare `0` as a duration.
    let d = if body == "0" {
        Some(Duration::ZERO)
    } else {
        args::parse_duration(body)
    };
    match d {
        None => Err(ConfigError::at(
            a,
            D,
            format!("invalid duration for reload '{}'", a.text),
        )),
        Some(d) if negative && !d.is_zero() => Err(ConfigError::at(
            a,
            D,
            format!("invalid negative duration for reload '{}'", a.text),
        )),
        Some(d) => Ok(d),
    }
}

/// An inline entry: an address, then at least one name.
fn entry(opt: &Line) -> Result<String, ConfigError> {
    let o = opt.name();
    if parse_ip(&o.text).is_none() {
        return Err(ConfigError::at(
            o,
            D,
            format!(
                "unknown property {:?}: neither an option nor the address of an inline entry",
                o.text
            ),
        ));
    }
    if opt.args().is_empty() {
        return Err(ConfigError::at(
            o,
            D,
            format!("inline entry {:?} has an address but no name", o.text),
        ));
    }
    let words: Vec<&str> = opt.tokens.iter().map(|t| t.text.as_str()).collect();
    Ok(words.join(" "))
}

/// An address as the hosts file writes it: an IPv6 zone (`%eth0`) is dropped, an IPv4-mapped
/// IPv6 address is its IPv4 address (as Go's `net.IP`).
pub fn parse_ip(s: &str) -> Option<IpAddr> {
    let s = s.split_once('%').map_or(s, |(a, _)| a);
    let ip: IpAddr = s.parse().ok()?;
    Some(match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    })
}

fn zones_of(args: &[Token]) -> Result<Vec<String>, ConfigError> {
    args.iter()
        .map(|a| normalize_zone(&a.text).map_err(|m| ConfigError::at(a, D, m)))
        .collect()
}

/// A hosts file that cannot be looked at is an error; one that does not exist (yet) is a
/// warning, as in CoreDNS.
fn check_file(file: &Token) -> Result<(), ConfigError> {
    match std::fs::metadata(&file.text) {
        Ok(m) if m.is_dir() => {
            tracing::warn!(
                "{}: hosts: hosts file {:?} is a directory",
                file.at(),
                file.text
            );
        }
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            tracing::warn!("{}: hosts: file does not exist: {}", file.at(), file.text);
        }
        Err(e) => {
            return Err(ConfigError::at(
                file,
                D,
                format!("unable to access hosts file '{}': {e}", file.text),
            ))
        }
    }
    Ok(())
}
