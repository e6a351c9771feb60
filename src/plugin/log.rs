//! `log [NAMES…] [FORMAT] { class success|denial|error|all… }`: one line per query on stdout,
//! in CoreDNS's Common Log Format by default:
//!
//! ```text
//! [INFO] {remote}:{port} - {>id} "{type} {class} {name} {proto} {size} {>do} {>bufsize}" {rcode} {>rflags} {rsize} {duration}
//! [INFO] 127.0.0.1:50759 - 29008 "A IN example.org. udp 41 false 1232" NOERROR qr,rd,ra 68 0.000390251s
//! ```
use std::io::Write as _;
use std::net::IpAddr;
use std::sync::Arc;

use crate::config::args;
use crate::config::syntax::{ConfigError, Line};
use crate::dns::class::Class as RespType;
use crate::dns::codes::{rcode_name, type_text};
use crate::dns::observe::{Observer, Replay, Report, Sent};
use crate::dns::Query;
use crate::zone::names::strip_zone;

const D: &str = "log";

/// CoreDNS's Common Log Format, the default format (`{common}`).
pub const COMMON: &str = "{remote}:{port} - {>id} \"{type} {class} {name} {proto} {size} {>do} {>bufsize}\" {rcode} {>rflags} {rsize} {duration}";

/// Response classes a rule logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Classes {
    /// `success`: NOERROR answers and delegations.
    pub success: bool,
    /// `denial`: NXDOMAIN and NODATA.
    pub denial: bool,
    /// `error`: SERVFAIL, NOTIMP and every other error.
    pub error: bool,
}

impl Classes {
    /// `all`: every class.
    pub const ALL: Classes = Classes {
        success: true,
        denial: true,
        error: true,
    };
}

/// A piece of a compiled log format.
#[derive(Debug, Clone, PartialEq)]
pub enum Part {
    /// Literal text.
    Text(String),
    /// `{remote}`: the client's address (IPv6 in brackets).
    Remote,
    /// `{local}`: the address the query came in on.
    Local,
    /// `{port}`: the client's port.
    Port,
    /// `{>id}`: the query ID.
    Id,
    /// `{type}`: the query type.
    Type,
    /// `{class}`: the question's class (`IN`, `CH`).
    Class,
    /// `{name}`: the query name, lower-case.
    Name,
    /// `{proto}`: `udp` or `tcp`.
    Proto,
    /// `{size}`: the query's size in bytes.
    Size,
    /// `{>do}`: the DNSSEC OK bit.
    Do,
    /// `{>bufsize}`: the EDNS buffer size over UDP (at least 512), 65535 over TCP.
    Bufsize,
    /// `{>opcode}`: the opcode.
    Opcode,
    /// `{rcode}`: the answer's RCODE name.
    Rcode,
    /// `{>rflags}`: the answer's header flags (`qr,rd,ra`).
    Rflags,
    /// `{rsize}`: the answer's size in bytes.
    Rsize,
    /// `{duration}`: how long answering took (`0.000390251s`).
    Duration,
    /// `{/label}` metadata: kdns has none, CoreDNS prints `-`.
    Empty,
}

/// One name of a `log` line: what is logged for queries under it, and how.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// The name (lower-case, final dot) whose queries this rule covers.
    pub scope: String,
    /// The compiled format.
    pub format: Vec<Part>,
    /// The answer classes logged.
    pub classes: Classes,
}

/// The `log` lines of one server block.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct LogConfig {
    /// One rule per name, in Corefile order (the first matching name decides).
    pub rules: Vec<Rule>,
}

/// Splits a format into literal text and placeholders (unknown ones stay literal).
pub fn compile(format: &str) -> Vec<Part> {
    let format = format
        .replace("{common}", COMMON)
        .replace("{combined}", &format!("{COMMON} \"{{>opcode}}\""));
    let mut parts = Vec::new();
    let mut text = String::new();
    let mut rest = format.as_str();
    while let Some(i) = rest.find('{') {
        text.push_str(&rest[..i]);
        let tail = &rest[i..];
        let Some(end) = tail.find('}') else {
            text.push_str(tail);
            rest = "";
            break;
        };
        let label = &tail[..=end];
        let part = match label.to_ascii_lowercase().as_str() {
            "{remote}" => Some(Part::Remote),
            "{local}" => Some(Part::Local),
            "{port}" => Some(Part::Port),
            "{type}" => Some(Part::Type),
            "{class}" => Some(Part::Class),
            "{name}" => Some(Part::Name),
            "{proto}" => Some(Part::Proto),
            "{size}" => Some(Part::Size),
            "{rcode}" => Some(Part::Rcode),
            "{rsize}" => Some(Part::Rsize),
            "{duration}" => Some(Part::Duration),
            "{>id}" => Some(Part::Id),
            "{>do}" => Some(Part::Do),
            "{>bufsize}" => Some(Part::Bufsize),
            "{>opcode}" => Some(Part::Opcode),
            "{>rflags}" => Some(Part::Rflags),
            l if l.starts_with("{/") || l.starts_with("{>") => Some(Part::Empty),
            _ => None,
        };
        match part {
            Some(p) => {
                if !text.is_empty() {
                    parts.push(Part::Text(std::mem::take(&mut text)));
                }
                parts.push(p);
            }
            None => text.push_str(label),
        }
        rest = &tail[end + 1..];
    }
    text.push_str(rest);
    if !text.is_empty() {
        parts.push(Part::Text(text));
    }
    parts
}

fn fqdn(s: &str) -> String {
    if s.ends_with('.') {
        s.to_ascii_lowercase()
    } else {
        format!("{}.", s.to_ascii_lowercase())
    }
}

/// Parses one `log` line; several lines add rules.
pub fn parse(line: &Line, into: &mut LogConfig) -> Result<(), ConfigError> {
    let a = line.args();
    let mut format = COMMON.to_string();
    let names: Vec<String> = match a {
        [] => vec![".".into()],
        [one] => vec![fqdn(&one.text)],
        [names @ .., last] if last.text.contains('{') => {
            format = last.text.clone();
            names.iter().map(|n| fqdn(&n.text)).collect()
        }
        all => all.iter().map(|n| fqdn(&n.text)).collect(),
    };
    let names = if names.is_empty() {
        vec![".".to_string()]
    } else {
        names
    };
    let mut classes = Classes::default();
    for o in args::block(line) {
        args::no_block(o, D)?;
        match o.name().text.as_str() {
            "class" => {
                if o.args().is_empty() {
                    return Err(ConfigError::at(
                        o.name(),
                        Some(D),
                        "class expects success, denial, error or all",
                    ));
                }
                for c in o.args() {
                    match c.text.as_str() {
                        "all" => classes = Classes::ALL,
                        "success" => classes.success = true,
                        "denial" => classes.denial = true,
                        "error" => classes.error = true,
                        other => {
                            return Err(ConfigError::at(
                                c,
                                Some(D),
                                format!("invalid class {other:?} (success, denial, error or all)"),
                            ))
                        }
                    }
                }
            }
            _ => return Err(args::unknown(o, D)),
        }
    }
    if classes == Classes::default() {
        classes = Classes::ALL;
    }
    let format = compile(&format);
    for n in names {
        into.rules.push(Rule {
            scope: n,
            format: format.clone(),
            classes,
        });
    }
    Ok(())
}

fn ip_text(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// The log line for query `q` answered as `s`.
pub fn render(parts: &[Part], q: &Query, s: &Sent) -> String {
    let mut out = String::with_capacity(128);
    for p in parts {
        match p {
            Part::Text(t) => out.push_str(t),
            Part::Remote => out.push_str(&ip_text(q.src.ip())),
            Part::Local => out.push_str(&ip_text(s.local.ip())),
            Part::Port => out.push_str(&q.src.port().to_string()),
            Part::Id => out.push_str(&q.id.to_string()),
            Part::Type => out.push_str(&type_text(q.qtype)),
            Part::Class => out.push_str(&q.class.to_string()),
            Part::Name => out.push_str(&q.lower),
            Part::Proto => out.push_str(q.proto.as_str()),
            Part::Size => out.push_str(&q.size.to_string()),
            Part::Do => out.push_str(if q.dnssec_ok { "true" } else { "false" }),
            Part::Bufsize => out.push_str(&q.bufsize().to_string()),
            Part::Opcode => out.push_str(&q.opcode.to_string()),
            Part::Rcode => out.push_str(&rcode_name(s.rcode)),
            Part::Rflags => out.push_str(&s.flags.to_string()),
            Part::Rsize => out.push_str(&s.rsize.to_string()),
            Part::Duration => out.push_str(&format!("{}s", s.took.as_secs_f64())),
            Part::Empty => out.push('-'),
        }
    }
    out
}

/// The `log` rules of one server block.
pub struct Log {
    rules: Vec<Rule>,
}

impl Log {
    /// The directive with `c`'s rules.
    pub fn new(c: &LogConfig) -> Arc<Self> {
        Arc::new(Self {
            rules: c.rules.clone(),
        })
    }

    /// The line for this query, if a rule logs it (the first rule whose name matches decides).
    pub fn line(&self, q: &Query, s: &Sent) -> Option<String> {
        let rule = self
            .rules
            .iter()
            .find(|r| strip_zone(&q.lower, &r.scope).is_some())?;
        let c = rule.classes;
        let logged = match s.class {
            RespType::NoError | RespType::Delegation => c.success,
            RespType::NameError | RespType::NoData => c.denial,
            RespType::ServerError | RespType::OtherError | RespType::Meta => c.error,
        };
        logged.then(|| render(&rule.format, q, s))
    }

    /// Writes the query's line to stdout (`[INFO] …`), if a rule logs it.
    pub fn observe(&self, q: &Query, s: &Sent) {
        if let Some(l) = self.line(q, s) {
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "[INFO] {l}");
        }
    }
}

impl Observer for Log {
    fn observe(&self, r: &Report<'_>) {
        Log::observe(self, r.query, r.sent);
    }

    /// Every query is logged: nothing is replayed behind its back.
    fn replay(&self, _r: &Report<'_>) -> Replay {
        Replay::Never
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::directives::Plugin;
    use crate::config::testing::first_directive;
    use crate::dns::observe::flags;
    use hickory_server::proto::rr::{Name, RecordType};
    use std::time::Duration;

    fn cfg(text: &str) -> Result<LogConfig, ConfigError> {
        first_directive(text, |p| match p {
            Plugin::Log(x) => Some(x.clone()),
            _ => None,
        })
    }

    fn sent(class: RespType, rcode: u16) -> Sent {
        Sent {
            rcode,
            class,
            flags: flags(true, true, false, true, false, false, false),
            rsize: 68,
            took: Duration::from_nanos(37_990_251),
            local: "127.0.0.1:53".parse().unwrap(),
        }
    }

    fn query() -> Query {
        let mut q = Query::internal(Name::from_ascii("Example.org.").unwrap(), RecordType::A);
        q.id = 29008;
        q.size = 41;
        q.edns = Some(4096);
        q.src = "[::1]:50759".parse().unwrap();
        q
    }

    #[test]
    fn common_log_format() {
        let l = Log::new(&cfg(".:53 {\n log\n}\n").unwrap());
        assert_eq!(
            l.line(&query(), &sent(RespType::NoError, 0)).unwrap(),
            "[::1]:50759 - 29008 \"A IN example.org. udp 41 false 4096\" NOERROR qr,aa,rd 68 0.037990251s"
        );
    }

    #[test]
    fn rules_names_formats_classes() {
        let c = cfg(".:53 {\n log example.org other.net \"{proto} Request: {name} {type} {>id} {/log/type} {unknown}\" {\n  class denial error\n }\n log\n}\n").unwrap();
        assert_eq!(c.rules.len(), 3);
        assert_eq!(c.rules[0].scope, "example.org.");
        assert_eq!(c.rules[1].scope, "other.net.");
        let l = Log::new(&c);
        assert_eq!(
            l.line(&query(), &sent(RespType::NoError, 0)),
            None,
            "success not logged"
        );
        assert_eq!(
            l.line(&query(), &sent(RespType::NameError, 3)).unwrap(),
            "udp Request: example.org. A 29008 - {unknown}"
        );
        let mut other = query();
        other.lower = "www.elsewhere.".into();
        assert!(
            l.line(&other, &sent(RespType::NoError, 0)).is_some(),
            "the catch-all rule"
        );
        let e = cfg(".:53 {\n log {\n  class sometimes\n }\n}\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("Corefile:3: log: invalid class \"sometimes\""),
            "{e}"
        );
        let e = cfg(".:53 {\n log {\n  format x\n }\n}\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("Corefile:3: log: unknown property \"format\""),
            "{e}"
        );
    }

    #[test]
    fn combined_adds_the_opcode() {
        let p = compile("{combined}");
        assert_eq!(p.last(), Some(&Part::Text("\"".into())));
        assert!(p.contains(&Part::Opcode));
    }
}
