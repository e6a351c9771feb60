//! `chaos [VERSION] [AUTHORS...]`: answers the CH-class TXT questions `version.bind`,
//! `version.server` (VERSION), `authors.bind` (AUTHORS, one TXT each, in a random order),
//! `hostname.bind` and `id.server` (the host's name), TTL 0, as CoreDNS's. Every other question
//! goes on down the chain. A block holding `chaos` (or `forward`) opens its port to classes
//! other than IN (`Router::open_classes`), as CoreDNS's server.
use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::rdata::TXT;
use hickory_server::proto::rr::{DNSClass, RData, Record, RecordType};
use rand::seq::SliceRandom;

use crate::config::args;
use crate::config::syntax::{ConfigError, Line};
use crate::dns::{Answer, Directive, Next, Query, Served};

const D: &str = "chaos";

/// What `chaos` answers with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChaosConfig {
    /// `version.bind` and `version.server`.
    pub version: String,
    /// `authors.bind`: sorted, without duplicates.
    pub authors: Vec<String>,
}

/// `chaos` in a chain.
pub struct Chaos(pub ChaosConfig);

/// The longest character-string a TXT record holds (CoreDNS cuts at 255 bytes).
fn trim(s: &str) -> String {
    let mut end = s.len().min(255);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    s[..end].to_string()
}

/// The host's name as Go's `os.Hostname` reads it on Linux; `localhost` when unreadable.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim_end_matches('\n').to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

impl Chaos {
    /// The TXT strings for `lower` (a lower-case name with its dot); `None` for other names.
    fn strings(&self, lower: &str) -> Option<Vec<String>> {
        Some(match lower {
            "authors.bind." => {
                let mut a = self.0.authors.clone();
                a.shuffle(&mut rand::rng());
                a
            }
            "version.bind." | "version.server." => vec![self.0.version.clone()],
            "hostname.bind." | "id.server." => vec![trim(&hostname())],
            _ => return None,
        })
    }
}

impl Directive for Chaos {
    fn name(&self) -> &'static str {
        D
    }

    fn serve<'a>(&'a self, q: &'a Query, next: Next<'a>) -> Served<'a> {
        if q.class != DNSClass::CH || q.qtype != RecordType::TXT {
            return next.answer(q);
        }
        let Some(strings) = self.strings(&q.lower) else {
            return next.answer(q);
        };
        let mut a = Answer::code(ResponseCode::NoError).by(D);
        a.answers = strings
            .into_iter()
            .map(|s| {
                let mut r = Record::from_rdata(q.name.clone(), 0, RData::TXT(TXT::new(vec![s])));
                r.dns_class = DNSClass::CH;
                r
            })
            .collect();
        Served::ready(a)
    }
}

/// The defaults: kdns's own version and name (CoreDNS says `CoreDNS-<version>` and lists
/// its maintainers).
fn defaults() -> ChaosConfig {
    ChaosConfig {
        version: format!("kdns-{}", env!("CARGO_PKG_VERSION")),
        authors: vec!["kdns".into()],
    }
}

/// Parses `chaos [VERSION] [AUTHORS...]` (no block). One argument sets the version only; with
/// authors, they are de-duplicated and sorted, as CoreDNS's.
pub fn parse(line: &Line) -> Result<ChaosConfig, ConfigError> {
    if let Some(o) = args::block(line).first() {
        return Err(args::unknown(o, D));
    }
    let mut c = defaults();
    match line.args() {
        [] => {}
        [v] => c.version = trim(&v.text),
        [v, authors @ ..] => {
            c.version = trim(&v.text);
            let mut a: Vec<String> = authors.iter().map(|t| trim(&t.text)).collect();
            a.sort();
            a.dedup();
            c.authors = a;
        }
    }
    Ok(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load_str, Plugin};
    use crate::dns::{Block, Router};
    use hickory_server::proto::rr::Name;
    use std::path::Path;
    use std::sync::Arc;

    fn parsed(t: &str) -> Result<ChaosConfig, String> {
        let c = load_str(t, Path::new("Corefile"), 53).map_err(|e| e.to_string())?;
        c.blocks[0]
            .plugins
            .iter()
            .find_map(|p| match p {
                Plugin::Chaos(s) => Some(s.clone()),
                _ => None,
            })
            .ok_or_else(|| "no chaos".into())
    }

    #[test]
    fn parse_table() {
        let d = defaults();
        let long = "v".repeat(300);
        let ok: Vec<(String, ChaosConfig)> = vec![
            ("chaos".into(), d.clone()),
            (
                "chaos CoreDNS-001".into(),
                ChaosConfig {
                    version: "CoreDNS-001".into(),
                    ..d.clone()
                },
            ),
            (
                "chaos v1 zed ann zed bob".into(),
                ChaosConfig {
                    version: "v1".into(),
                    authors: vec!["ann".into(), "bob".into(), "zed".into()],
                },
            ),
            (
                format!("chaos {long}"),
                ChaosConfig {
                    version: "v".repeat(255),
                    ..d.clone()
                },
            ),
        ];
        for (line, want) in ok {
            assert_eq!(
                parsed(&format!(".:53 {{\n {line}\n}}\n")),
                Ok(want),
                "{line}"
            );
        }
        let e = parsed(".:53 {\n chaos v1 {\n  authors a\n }\n}\n").unwrap_err();
        assert!(
            e.starts_with("Corefile:3: chaos: unknown property \"authors\""),
            "{e}"
        );
    }

    #[tokio::test]
    async fn serve_table() {
        let c = Chaos(ChaosConfig {
            version: "v9".into(),
            authors: vec!["a".into(), "b".into(), "c".into()],
        });
        let mut router = Router::default();
        let block = Block::new(vec![".".into()], vec![Arc::new(c)]);
        router.ports.insert(53, vec![Arc::new(block)]);
        let router = Arc::new(router);
        let host = trim(&hostname());
        // (name, class, type, rcode, TXT strings)
        let table: &[(&str, DNSClass, RecordType, ResponseCode, &[&str])] = &[
            (
                "version.bind.",
                DNSClass::CH,
                RecordType::TXT,
                ResponseCode::NoError,
                &["v9"],
            ),
            (
                "VERSION.Server.",
                DNSClass::CH,
                RecordType::TXT,
                ResponseCode::NoError,
                &["v9"],
            ),
            (
                "hostname.bind.",
                DNSClass::CH,
                RecordType::TXT,
                ResponseCode::NoError,
                &[&host],
            ),
            (
                "id.server.",
                DNSClass::CH,
                RecordType::TXT,
                ResponseCode::NoError,
                &[&host],
            ),
            (
                "authors.bind.",
                DNSClass::CH,
                RecordType::TXT,
                ResponseCode::NoError,
                &["a", "b", "c"],
            ),
            // Not ours: on down the chain (here: its end).
            (
                "version.bind.",
                DNSClass::IN,
                RecordType::TXT,
                ResponseCode::ServFail,
                &[],
            ),
            (
                "version.bind.",
                DNSClass::CH,
                RecordType::A,
                ResponseCode::ServFail,
                &[],
            ),
            (
                "other.bind.",
                DNSClass::CH,
                RecordType::TXT,
                ResponseCode::ServFail,
                &[],
            ),
        ];
        for (name, class, qtype, rcode, want) in table {
            let mut q = Query::internal(Name::from_ascii(name).unwrap(), *qtype);
            q.class = *class;
            let a = router.answer(53, &q).await;
            assert_eq!(a.rcode, *rcode, "{name} {class:?} {qtype:?}");
            let mut got: Vec<String> = a
                .answers
                .iter()
                .map(|r| {
                    assert_eq!(r.dns_class, DNSClass::CH);
                    assert_eq!(r.ttl, 0);
                    assert_eq!(r.name.to_ascii(), *name, "the question's case");
                    match &r.data {
                        RData::TXT(t) => t.to_string(),
                        other => format!("{other:?}"),
                    }
                })
                .collect();
            got.sort();
            assert_eq!(got, *want, "{name}");
        }
    }
}
