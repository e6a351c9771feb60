//! `any`: answers every question of type ANY with one short HINFO record (RFC 8482), as
//! CoreDNS's: `NAME 8482 IN HINFO "ANY obsoleted" "See RFC 8482"`, NOERROR, whatever the name
//! and the question's class. Other questions go on down the chain.
use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::rdata::HINFO;
use hickory_server::proto::rr::{RData, Record, RecordType};

use crate::config::args;
use crate::config::syntax::{ConfigError, Line};
use crate::dns::{Answer, Directive, Next, Query, Served};

const D: &str = "any";

/// The HINFO record's TTL (RFC 8482's number, as CoreDNS's).
const TTL: u32 = 8482;

/// `any` in a chain.
pub struct Any;

impl Directive for Any {
    fn name(&self) -> &'static str {
        D
    }

    fn serve<'a>(&'a self, q: &'a Query, next: Next<'a>) -> Served<'a> {
        if q.qtype != RecordType::ANY {
            return next.answer(q);
        }
        let mut a = Answer::code(ResponseCode::NoError).by(D);
        a.answers.push(Record::from_rdata(
            q.name.clone(),
            TTL,
            RData::HINFO(HINFO::new("ANY obsoleted".into(), "See RFC 8482".into())),
        ));
        Served::ready(a)
    }
}

/// Parses `any`: no arguments, no block.
pub fn parse(line: &Line) -> Result<(), ConfigError> {
    args::no_args(line, D)?;
    if let Some(o) = args::block(line).first() {
        return Err(args::unknown(o, D));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::load_str;
    use crate::dns::{Block, Router};
    use hickory_server::proto::rr::{DNSClass, Name};
    use std::path::Path;
    use std::sync::Arc;

    #[test]
    fn parse_table() {
        let p = |t: &str| {
            load_str(t, Path::new("Corefile"), 53)
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        let table: &[(&str, Option<&str>)] = &[
            (".:53 {\n any\n}\n", None),
            (
                ".:53 {\n any all\n}\n",
                Some("Corefile:2: any: any takes no arguments"),
            ),
            (
                ".:53 {\n any {\n  x\n }\n}\n",
                Some("Corefile:3: any: unknown property \"x\""),
            ),
        ];
        for (text, want) in table {
            match (p(text), want) {
                (Ok(()), None) => {}
                (Err(e), Some(w)) => assert!(e.starts_with(w), "{text}: {e}"),
                (got, _) => panic!("{text}: {got:?}"),
            }
        }
    }

    #[tokio::test]
    async fn serve_table() {
        let mut router = Router::default();
        let block = Block::new(vec![".".into()], vec![Arc::new(Any)]);
        router.ports.insert(53, vec![Arc::new(block)]);
        let router = Arc::new(router);
        // (name, class, type, rcode, records)
        let table: &[(&str, DNSClass, RecordType, ResponseCode, usize)] = &[
            (
                "Example.org.",
                DNSClass::IN,
                RecordType::ANY,
                ResponseCode::NoError,
                1,
            ),
            (
                "x.",
                DNSClass::CH,
                RecordType::ANY,
                ResponseCode::NoError,
                1,
            ),
            (
                "example.org.",
                DNSClass::IN,
                RecordType::A,
                ResponseCode::ServFail,
                0,
            ),
            (
                "example.org.",
                DNSClass::IN,
                RecordType::TXT,
                ResponseCode::ServFail,
                0,
            ),
        ];
        for (name, class, qtype, rcode, n) in table {
            let mut q = Query::internal(Name::from_ascii(name).unwrap(), *qtype);
            q.class = *class;
            let a = router.answer(53, &q).await;
            assert_eq!(a.rcode, *rcode, "{name} {qtype:?}");
            assert_eq!(a.answers.len(), *n, "{name} {qtype:?}");
            for r in &a.answers {
                assert_eq!(r.name.to_ascii(), *name);
                assert_eq!(r.ttl, 8482);
                assert_eq!(r.dns_class, DNSClass::IN);
                match &r.data {
                    RData::HINFO(h) => {
                        assert_eq!(&*h.cpu, b"ANY obsoleted");
                        assert_eq!(&*h.os, b"See RFC 8482");
                    }
                    other => panic!("{other:?}"),
                }
            }
        }
    }
}
