//! `bufsize [SIZE]`: lowers the EDNS buffer size a request advertises to SIZE (default 1232,
//! the DNS Flag Day 2020 value; 512 to 4096), as CoreDNS's. The lowered size is what the rest
//! of the chain sees (`forward` advertises it upstream), what bounds the UDP response (bigger
//! answers set TC) and what the response's OPT record says. Requests without EDNS, and those
//! that already ask for less, are left alone: it never raises a size.
use crate::config::args;
use crate::config::syntax::{ConfigError, Line};
use crate::dns::{Directive, Next, Query, Served};

const D: &str = "bufsize";

/// The default size: the DNS Flag Day 2020 value, as CoreDNS's.
pub const DEFAULT: u16 = 1232;

/// `bufsize` in a chain.
pub struct Bufsize {
    /// The largest EDNS size a request keeps.
    pub size: u16,
}

impl Directive for Bufsize {
    fn name(&self) -> &'static str {
        D
    }

    fn serve<'a>(&'a self, q: &'a Query, next: Next<'a>) -> Served<'a> {
        match q.edns {
            Some(e) if e > self.size => {
                let size = self.size;
                Served::later(async move {
                    let lowered = Query {
                        edns: Some(size),
                        ..q.clone()
                    };
                    let mut a = next.answer(&lowered).await;
                    a.bufsize = Some(size);
                    a
                })
            }
            _ => next.answer(q),
        }
    }
}

/// Parses `bufsize [SIZE]` (no block): SIZE from 512 to 4096 (RFC 6891), 1232 when left out.
pub fn parse(line: &Line) -> Result<u16, ConfigError> {
    args::no_block(line, D)?;
    match line.args() {
        [] => Ok(DEFAULT),
        [s] => args::number(s, D, "SIZE", 512..=4096),
        [_, extra, ..] => Err(ConfigError::at(
            extra,
            Some(D),
            "bufsize takes one argument, the size",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load_str, Plugin};
    use crate::dns::{Answer, Block, Router};
    use hickory_server::proto::op::ResponseCode;
    use hickory_server::proto::rr::{Name, RecordType};
    use std::path::Path;
    use std::sync::{Arc, Mutex};

    fn parsed(t: &str) -> Result<u16, String> {
        let c = load_str(t, Path::new("Corefile"), 53).map_err(|e| e.to_string())?;
        c.blocks[0]
            .plugins
            .iter()
            .find_map(|p| match p {
                Plugin::Bufsize(s) => Some(*s),
                _ => None,
            })
            .ok_or_else(|| "no bufsize".into())
    }

    #[test]
    fn parse_table() {
        let ok: &[(&str, u16)] = &[
            ("bufsize", 1232),
            ("bufsize 512", 512),
            ("bufsize 4096", 4096),
            ("bufsize 1100", 1100),
        ];
        for (line, want) in ok {
            assert_eq!(
                parsed(&format!(".:53 {{\n {line}\n}}\n")),
                Ok(*want),
                "{line}"
            );
        }
        let bad: &[(&str, &str)] = &[
            (
                "bufsize 511",
                "Corefile:2: bufsize: SIZE must be a whole number from 512 to 4096",
            ),
            ("bufsize 4097", "Corefile:2: bufsize: SIZE must be"),
            ("bufsize big", "Corefile:2: bufsize: SIZE must be"),
            ("bufsize -1", "Corefile:2: bufsize: SIZE must be"),
            (
                "bufsize 512 1024",
                "Corefile:2: bufsize: bufsize takes one argument",
            ),
            (
                "bufsize 512 {\n }",
                "Corefile:2: bufsize: bufsize takes no block",
            ),
        ];
        for (line, want) in bad {
            let e = parsed(&format!(".:53 {{\n {line}\n}}\n")).unwrap_err();
            assert!(e.starts_with(want), "{line}: {e}");
        }
    }

    /// Remembers the EDNS size the rest of the chain saw.
    struct Seen(Mutex<Vec<Option<u16>>>);

    impl Directive for Seen {
        fn name(&self) -> &'static str {
            "seen"
        }
        fn serve<'a>(&'a self, q: &'a Query, _next: Next<'a>) -> Served<'a> {
            self.0.lock().unwrap().push(q.edns);
            Served::ready(Answer::code(ResponseCode::NoError))
        }
    }

    #[tokio::test]
    async fn serve_table() {
        let seen = Arc::new(Seen(Mutex::new(Vec::new())));
        let block = Block::new(
            vec![".".into()],
            vec![Arc::new(Bufsize { size: 512 }), seen.clone()],
        );
        let mut router = Router::default();
        router.ports.insert(53, vec![Arc::new(block)]);
        let router = Arc::new(router);
        // (the client's EDNS size, what the chain sees, what the answer carries back)
        let table: &[(Option<u16>, Option<u16>, Option<u16>)] = &[
            (Some(4096), Some(512), Some(512)),
            (Some(1232), Some(512), Some(512)),
            (Some(513), Some(512), Some(512)),
            (Some(512), Some(512), None),
            (None, None, None),
        ];
        for (client, chain, back) in table {
            let mut q = Query::internal(Name::from_ascii("a.example.").unwrap(), RecordType::A);
            q.edns = *client;
            let a = router.answer(53, &q).await;
            assert_eq!(seen.0.lock().unwrap().pop(), Some(*chain), "{client:?}");
            assert_eq!(a.bufsize, *back, "{client:?}");
        }
    }

    /// Forty A records (about 700 bytes).
    struct Big;

    impl Directive for Big {
        fn name(&self) -> &'static str {
            "big"
        }
        fn serve<'a>(&'a self, q: &'a Query, _next: Next<'a>) -> Served<'a> {
            use hickory_server::proto::rr::{rdata::A, RData, Record};
            let mut a = Answer::code(ResponseCode::NoError);
            for i in 0..40u8 {
                a.answers.push(Record::from_rdata(
                    q.name.clone(),
                    30,
                    RData::A(A::new(192, 0, 2, i)),
                ));
            }
            Served::ready(a)
        }
    }

    /// On the wire: the lowered size bounds the UDP response (TC) and is what its OPT says;
    /// TCP and clients without EDNS are left alone.
    #[tokio::test]
    async fn lowered_size_truncates_udp() {
        use crate::dns::respond::Responder;
        use crate::dns::Proto;
        use arc_swap::ArcSwap;
        use hickory_server::proto::op::{Edns, Message, MessageType, OpCode, Query as WireQuery};
        let responder = |size: Option<u16>| {
            let mut chain: Vec<Arc<dyn Directive>> = Vec::new();
            if let Some(size) = size {
                chain.push(Arc::new(Bufsize { size }));
            }
            chain.push(Arc::new(Big));
            let mut router = Router::default();
            router
                .ports
                .insert(53, vec![Arc::new(Block::new(vec![".".into()], chain))]);
            Responder::new(Arc::new(ArcSwap::from_pointee(router)), 53)
        };
        let ask = |edns: Option<u16>| {
            let mut m = Message::new(9, MessageType::Query, OpCode::Query);
            m.add_query(WireQuery::query(
                Name::from_ascii("big.example.").unwrap(),
                RecordType::A,
            ));
            if let Some(size) = edns {
                let mut e = Edns::new();
                e.set_max_payload(size);
                m.set_edns(e);
            }
            m.to_vec().unwrap()
        };
        let a: std::net::SocketAddr = "127.0.0.1:1".parse().unwrap();
        // (bufsize, client EDNS, transport, TC, answers, the response's OPT size)
        type Case = (Option<u16>, Option<u16>, Proto, bool, usize, Option<u16>);
        let table: &[Case] = &[
            (None, Some(4096), Proto::Udp, false, 40, Some(1232)),
            (Some(512), Some(4096), Proto::Udp, true, 0, Some(512)),
            (Some(512), Some(1232), Proto::Udp, true, 0, Some(512)),
            (Some(1232), Some(4096), Proto::Udp, false, 40, Some(1232)),
            (Some(512), Some(4096), Proto::Tcp, false, 40, Some(512)),
            (Some(512), None, Proto::Udp, true, 0, None),
            (None, None, Proto::Udp, true, 0, None),
        ];
        for (size, edns, proto, tc, n, opt) in table {
            let (out, _) = responder(*size)
                .respond(ask(*edns), a, a, *proto)
                .await
                .unwrap();
            let m = Message::from_vec(&out).unwrap();
            let what = format!("bufsize {size:?}, EDNS {edns:?}, {proto:?}");
            assert_eq!(m.metadata.truncation, *tc, "{what}");
            // Truncated: the records that fit, as CoreDNS's `Truncate`.
            if *tc {
                assert!(m.answers.len() < 40, "{what}");
            } else {
                assert_eq!(m.answers.len(), *n, "{what}");
            }
            assert_eq!(m.edns.as_ref().map(|e| e.max_payload()), *opt, "{what}");
            if *proto == Proto::Udp {
                let limit = edns.map_or(512, |e| e.min(size.unwrap_or(1232)).min(1232));
                assert!(out.len() <= usize::from(limit), "{what}: {}", out.len());
            }
        }
    }
}
