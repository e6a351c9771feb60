//! Shared checks for directive arguments: every error names `FILE:LINE` and the directive.
use std::time::Duration;

use crate::config::kubernetes::parse_duration;
use crate::config::lexer::Token;
use crate::config::{ConfigError, Line};

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
    crate::http::parse_addr(&t.text)
        .map(|_| t.text.clone())
        .map_err(|m| ConfigError::at(t, Some(d), format!("address {:?}: {m}", t.text)))
}
