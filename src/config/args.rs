//! Shared checks for directive arguments: every error names `FILE:LINE` and the directive.
//! Part of the syntax leaf: it imports nothing of the crate outside `src/config/syntax.rs`.
use std::net::Ipv6Addr;
use std::time::Duration;

use super::syntax::{ConfigError, Line, Token};

/// The directive (or option) takes no `{ }` block.
pub fn no_block(line: &Line, d: &str) -> Result<(), ConfigError> {
    if line.block.is_some() {
        return Err(ConfigError::at(
            line.name(),
            Some(d),
            format!("{} takes no block", line.name().text),
        ));
    }
    Ok(())
}

/// The directive (or option) takes no arguments.
pub fn no_args(line: &Line, d: &str) -> Result<(), ConfigError> {
    match line.args().first() {
        None => Ok(()),
        Some(a) => Err(ConfigError::at(
            a,
            Some(d),
            format!("{} takes no arguments", line.name().text),
        )),
    }
}

/// Exactly one argument.
pub fn one<'a>(line: &'a Line, d: &str, what: &str) -> Result<&'a Token, ConfigError> {
    match line.args() {
        [a] => Ok(a),
        _ => Err(ConfigError::at(
            line.name(),
            Some(d),
            format!("{} expects {what}", line.name().text),
        )),
    }
}

/// A Go-style duration (`5s`, `500ms`, `1m30s`).
pub fn duration(t: &Token, d: &str) -> Result<Duration, ConfigError> {
    parse_duration(&t.text).ok_or_else(|| {
        ConfigError::at(
            t,
            Some(d),
            format!("invalid duration {:?} (e.g. 5s, 500ms, 1m)", t.text),
        )
    })
}

/// A whole number in `range`.
pub fn number<T>(
    t: &Token,
    d: &str,
    what: &str,
    range: std::ops::RangeInclusive<T>,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialOrd + std::fmt::Display + Copy,
{
    match t.text.parse::<T>() {
        Ok(v) if range.contains(&v) => Ok(v),
        _ => Err(ConfigError::at(
            t,
            Some(d),
            format!(
                "{what} must be a whole number from {} to {}, got {:?}",
                range.start(),
                range.end(),
                t.text
            ),
        )),
    }
}

/// The lines of the directive's block (empty when it has none).
pub fn block(line: &Line) -> &[Line] {
    line.block.as_deref().unwrap_or_default()
}

/// An unknown option inside a directive's block.
pub fn unknown(o: &Line, d: &str) -> ConfigError {
    ConfigError::at(
        o.name(),
        Some(d),
        format!("unknown property {:?}", o.name().text),
    )
}

/// The optional single `HOST:PORT` argument of `health`, `ready` and `prometheus`.
pub fn optional_http_addr(line: &Line, default: &str, d: &str) -> Result<String, ConfigError> {
    match line.args() {
        [] => Ok(default.to_string()),
        [a] => http_addr(a, d),
        [_, extra, ..] => Err(ConfigError::at(
            extra,
            Some(d),
            "expects at most one address",
        )),
    }
}

/// `HOST:PORT` or `:PORT` for the HTTP directives.
pub fn http_addr(t: &Token, d: &str) -> Result<String, ConfigError> {
    parse_addr(&t.text)
        .map(|_| t.text.clone())
        .map_err(|m| ConfigError::at(t, Some(d), format!("address {:?}: {m}", t.text)))
}

/// Go-style durations: `5s`, `500ms`, `1m30s`, `2h`; `None` for one that does not fit a
/// [`Duration`] (Go's parser refuses an overflow too).
pub fn parse_duration(s: &str) -> Option<Duration> {
    let mut total = Duration::ZERO;
    let mut rest = s;
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let n = rest.find(|c: char| !c.is_ascii_digit() && c != '.')?;
        let num: f64 = rest[..n].parse().ok()?;
        rest = &rest[n..];
        let u = rest
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(rest.len());
        let mult = match &rest[..u] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => return None,
        };
        total = total.checked_add(Duration::try_from_secs_f64(num * mult).ok()?)?;
        rest = &rest[u..];
    }
    Some(total)
}

/// Checks a CoreDNS-style listen address: `HOST:PORT`, `:PORT` or `[V6]:PORT`.
pub fn parse_addr(s: &str) -> Result<(Option<String>, u16), String> {
    let (host, port) = s
        .rsplit_once(':')
        .ok_or_else(|| "missing port (expected HOST:PORT or :PORT)".to_string())?;
    let port: u16 = port.parse().map_err(|_| format!("invalid port {port:?}"))?;
    let host = match host.strip_prefix('[') {
        Some(h) => {
            let h = h
                .strip_suffix(']')
                .ok_or_else(|| format!("invalid host {host:?}"))?;
            h.parse::<Ipv6Addr>()
                .map_err(|_| format!("invalid IPv6 address {h:?}"))?;
            h
        }
        // An IPv6 address needs brackets: `[::1]:53`.
        None if host.contains(':') => {
            return Err("too many colons (write IPv6 as [ADDR]:PORT)".into())
        }
        None => host,
    };
    Ok(((!host.is_empty()).then(|| host.to_string()), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Found by the `corefile` fuzz target: `consolidate 5000…0m` panicked in
    /// `Duration::from_secs_f64`, and a sum past `Duration::MAX` would panic in `+=`.
    #[test]
    fn durations_too_long_are_invalid_not_a_panic() {
        assert_eq!(parse_duration(&format!("5{}m", "0".repeat(130))), None);
        assert_eq!(parse_duration("18446744073709551615s1s"), None);
        assert_eq!(parse_duration("1e3s"), None);
        assert_eq!(parse_duration("1m30s"), Some(Duration::from_secs(90)));
        assert_eq!(parse_duration("1.5h"), Some(Duration::from_secs(5400)));
        assert_eq!(parse_duration("0.5ms"), Some(Duration::from_micros(500)));
    }
}
