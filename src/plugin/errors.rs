//! `errors [stdout] { stacktrace; consolidate DURATION REGEXP [LEVEL] [show_first] }`: logs
//! every answer a directive failed to give, as CoreDNS: `RCODE NAME TYPE: ERROR` (for
//! example `2 example.org. A: udp 10.0.0.1:53: i/o timeout`). `consolidate` folds errors
//! matching REGEXP into one line per DURATION: `N errors like 'REGEXP' occurred in last DUR`.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use regex::Regex;

use crate::config::args;
use crate::config::syntax::{ConfigError, Line, Token};
use crate::dns::codes::type_text;
use crate::dns::observe::{Observer, Report};
use crate::dns::{Answer, Query};

const D: &str = "errors";
const MAX_REGEXP_LEN: usize = 10_000;

/// The level a consolidated summary is logged at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// `error` (the default).
    Error,
    /// `warning`.
    Warning,
    /// `info`.
    Info,
    /// `debug`.
    Debug,
}

/// `consolidate DURATION REGEXP [LEVEL] [show_first]`.
#[derive(Debug, Clone)]
pub struct Consolidate {
    /// Errors matching `pattern` are counted over this period, then logged as one line.
    pub period: Duration,
    /// Which errors this rule folds.
    pub pattern: Regex,
    /// The level of the summary line.
    pub level: Level,
    /// Log the first matching error as it comes, then the summary.
    pub show_first: bool,
}

/// One parsed `errors` directive.
#[derive(Debug, Clone, Default)]
pub struct ErrorsConfig {
    /// The `consolidate` rules, in Corefile order (the first match wins).
    pub consolidate: Vec<Consolidate>,
}

impl PartialEq for ErrorsConfig {
    fn eq(&self, other: &Self) -> bool {
        self.consolidate.len() == other.consolidate.len()
            && self
                .consolidate
                .iter()
                .zip(&other.consolidate)
                .all(|(a, b)| {
                    a.period == b.period
                        && a.pattern.as_str() == b.pattern.as_str()
                        && a.level == b.level
                        && a.show_first == b.show_first
                })
    }
}

/// Parses one `errors` line (and its block).
pub fn parse(line: &Line) -> Result<ErrorsConfig, ConfigError> {
    match line.args() {
        [] => {}
        [a] if a.text == "stdout" => {}
        [a] => {
            return Err(ConfigError::at(
                a,
                Some(D),
                format!("invalid log file: {}", a.text),
            ))
        }
        [_, extra, ..] => {
            return Err(ConfigError::at(
                extra,
                Some(D),
                "expects at most one argument (stdout)",
            ))
        }
    }
    let mut c = ErrorsConfig::default();
    for o in args::block(line) {
        args::no_block(o, D)?;
        match o.name().text.as_str() {
            // Panics are not recovered in kdns; accepted for compatibility.
            "stacktrace" => args::no_args(o, D)?,
            "consolidate" => c.consolidate.push(consolidate(o)?),
            _ => return Err(args::unknown(o, D)),
        }
    }
    Ok(c)
}

/// `consolidate DURATION REGEXP [LEVEL] [show_first]`.
fn consolidate(o: &Line) -> Result<Consolidate, ConfigError> {
    let a = o.args();
    if a.len() < 2 || a.len() > 4 {
        return Err(ConfigError::at(
            o.name(),
            Some(D),
            "consolidate expects DURATION REGEXP [LEVEL] [show_first]",
        ));
    }
    let period = args::duration(&a[0], D)?;
    if a[1].text.len() > MAX_REGEXP_LEN {
        return Err(ConfigError::at(
            &a[1],
            Some(D),
            format!(
                "regex pattern too long: {} > {MAX_REGEXP_LEN}",
                a[1].text.len()
            ),
        ));
    }
    let pattern =
        Regex::new(&a[1].text).map_err(|e| ConfigError::at(&a[1], Some(D), e.to_string()))?;
    let (level, show_first) = level_and_show_first(&a[2..])?;
    Ok(Consolidate {
        period,
        pattern,
        level: level.unwrap_or(Level::Error),
        show_first,
    })
}

/// `[LEVEL] [show_first]` of `consolidate`, in that order, each at most once.
fn level_and_show_first(ts: &[Token]) -> Result<(Option<Level>, bool), ConfigError> {
    let (mut level, mut show_first) = (None, false);
    for t in ts {
        let l = match t.text.as_str() {
            "warning" => Level::Warning,
            "error" => Level::Error,
            "info" => Level::Info,
            "debug" => Level::Debug,
            "show_first" => {
                show_first = true;
                continue;
            }
            other => {
                return Err(ConfigError::at(
                    t,
                    Some(D),
                    format!("unknown option in consolidate: {other}"),
                ))
            }
        };
        if level.is_some() {
            return Err(ConfigError::at(
                t,
                Some(D),
                "multiple log levels specified in consolidate",
            ));
        }
        if show_first {
            return Err(ConfigError::at(
                t,
                Some(D),
                "log level must come before show_first in consolidate",
            ));
        }
        level = Some(l);
    }
    Ok((level, show_first))
}

fn emit(level: Level, msg: &str) {
    match level {
        Level::Error => tracing::error!(target: "plugin/errors", "{msg}"),
        Level::Warning => tracing::warn!(target: "plugin/errors", "{msg}"),
        Level::Info => tracing::info!(target: "plugin/errors", "{msg}"),
        Level::Debug => tracing::debug!(target: "plugin/errors", "{msg}"),
    }
}

struct Pattern {
    c: Consolidate,
    count: Arc<AtomicU64>,
}

/// The `errors` directive of one server block.
pub struct Errors {
    patterns: Vec<Pattern>,
}

impl Errors {
    /// The directive as `c` configures it, with one counter per `consolidate` rule.
    pub fn new(c: &ErrorsConfig) -> Arc<Self> {
        Arc::new(Self {
            patterns: c
                .consolidate
                .iter()
                .map(|c| Pattern {
                    c: c.clone(),
                    count: Arc::new(AtomicU64::new(0)),
                })
                .collect(),
        })
    }

    /// The line CoreDNS logs for a failed answer.
    pub fn line(q: &Query, a: &Answer, err: &str) -> String {
        format!(
            "{} {} {}: {err}",
            u16::from(a.rcode),
            q.lower,
            type_text(q.qtype)
        )
    }

    /// Logs `a`'s error, if it has one.
    pub fn observe(&self, q: &Query, a: &Answer) {
        let Some(err) = &a.error else { return };
        let line = Self::line(q, a, err);
        for p in &self.patterns {
            if !p.c.pattern.is_match(err) {
                continue;
            }
            let n = p.count.fetch_add(1, Ordering::AcqRel);
            if n == 0 {
                if p.c.show_first {
                    emit(p.c.level, &line);
                }
                let (count, c) = (p.count.clone(), p.c.clone());
                if let Ok(rt) = tokio::runtime::Handle::try_current() {
                    rt.spawn(async move {
                        tokio::time::sleep(c.period).await;
                        let n = count.swap(0, Ordering::AcqRel);
                        if n > 1 || !c.show_first {
                            emit(
                                c.level,
                                &format!(
                                    "{n} errors like '{}' occurred in last {:?}",
                                    c.pattern.as_str(),
                                    c.period
                                ),
                            );
                        }
                    });
                }
            }
            return;
        }
        emit(Level::Error, &line);
    }
}

impl Observer for Errors {
    fn observe(&self, r: &Report<'_>) {
        Errors::observe(self, r.query, r.answer);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::directives::Plugin;
    use crate::config::testing::first_directive;
    use hickory_server::proto::op::ResponseCode;
    use hickory_server::proto::rr::{Name, RecordType};

    fn cfg(text: &str) -> Result<ErrorsConfig, ConfigError> {
        first_directive(text, |p| match p {
            Plugin::Errors(x) => Some(x.clone()),
            _ => None,
        })
    }

    #[test]
    fn parse_table() {
        assert!(cfg(".:53 {\n errors\n}\n").unwrap().consolidate.is_empty());
        let c = cfg(".:53 {\n errors stdout {\n  stacktrace\n  consolidate 30s \"^read udp .* i/o timeout$\" warning show_first\n  consolidate 1m .*\n }\n}\n").unwrap();
        assert_eq!(c.consolidate.len(), 2);
        assert_eq!(c.consolidate[0].period, Duration::from_secs(30));
        assert_eq!(
            (c.consolidate[0].level, c.consolidate[0].show_first),
            (Level::Warning, true)
        );
        assert_eq!(c.consolidate[1].level, Level::Error);
        for (text, want) in [
            (
                ".:53 {\n errors /var/log/x\n}\n",
                "Corefile:2: errors: invalid log file: /var/log/x",
            ),
            (
                ".:53 {\n errors {\n  consolidate 30s\n }\n}\n",
                "Corefile:3: errors: consolidate expects DURATION REGEXP",
            ),
            (
                ".:53 {\n errors {\n  consolidate 30s ( \n }\n}\n",
                "Corefile:3: errors: regex parse error",
            ),
            (
                ".:53 {\n errors {\n  consolidate 30s .* loud\n }\n}\n",
                "Corefile:3: errors: unknown option in consolidate: loud",
            ),
            (
                ".:53 {\n errors {\n  consolidate 30s .* show_first info\n }\n}\n",
                "Corefile:3: errors: log level must come before show_first",
            ),
            (
                ".:53 {\n errors {\n  verbose\n }\n}\n",
                "Corefile:3: errors: unknown property \"verbose\"",
            ),
        ] {
            let e = cfg(text).unwrap_err().to_string();
            assert!(e.starts_with(want), "{e} vs {want}");
        }
    }

    #[test]
    fn line_format() {
        let q = Query::internal(Name::from_ascii("Example.ORG.").unwrap(), RecordType::A);
        let a = Answer::code(ResponseCode::ServFail).with_error("x");
        assert_eq!(
            Errors::line(&q, &a, "udp 10.0.0.1:53: i/o timeout"),
            "2 example.org. A: udp 10.0.0.1:53: i/o timeout"
        );
    }
}
