//! One request, bytes in and bytes out: decode, check, run the chain, encode (truncating UDP
//! answers that do not fit), then report to the block's observers (metrics, errors, log).
use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::Instant;

use arc_swap::ArcSwap;
use hickory_server::proto::op::{Metadata, ResponseCode};
use hickory_server::proto::rr::{DNSClass, Record};
use hickory_server::proto::ProtoError;

use super::chain::{Block, Router};
use super::encode::{encode, Parts};
use super::fit::{fit, Take};
use super::load::{dropped, Load};
use super::observe::{flags, Recount, Replay as Counts, Report, Sent};
use super::query::{Answer, Proto, Query};
use super::request::{decode, header_only, Decoded, Refused};
use crate::metrics::Counter;

/// Answers queries arriving on one configured port, from the router of the moment.
pub struct Responder {
    /// The server blocks of the moment, by port; swapped whole when the Corefile is reloaded.
    pub router: Arc<ArcSwap<Router>>,
    /// The configured port these queries arrived on (the key into [`Router::ports`]).
    pub port: u16,
    /// Messages dropped unanswered, by reason.
    dropped: Dropped,
    /// The bounds on waiting work (shared by this port's UDP sockets and TCP listeners).
    pub load: Arc<Load>,
}

/// Counts of messages that get no reply (`kdns_dns_dropped_total{reason}`).
struct Dropped {
    /// QR=1: a response is never answered (two servers answering each other loop, and
    /// answering responses makes a reflector).
    response: Arc<Counter>,
    /// Shorter than a header: nothing to address a reply to.
    short: Arc<Counter>,
}

impl Dropped {
    fn new() -> Self {
        Self {
            response: dropped("response"),
            short: dropped("short"),
        }
    }

    /// The reply to a request the chain does not see, or nothing (counted here).
    fn refused(&self, why: Refused) -> Option<Vec<u8>> {
        match why {
            Refused::Reply(out) => return Some(out),
            Refused::Short => self.short.inc(),
            Refused::Response => self.response.inc(),
        }
        None
    }
}

/// What to report once the answer is on its way.
pub struct Done {
    router: Weak<Router>,
    /// The router's [`DataVersion`](super::DataVersion) before the chain ran.
    data_at: u64,
    block: Arc<Block>,
    query: Query,
    answer: Answer,
    sent: Sent,
    /// Records were left out to fit the client's limit: not for clients with other limits.
    trimmed: bool,
    /// The later messages of a multi-message answer, encoded (TCP only; see
    /// [`Answer::more`]): the TCP path sends them after the first.
    more: Vec<Vec<u8>>,
}

impl Done {
    fn report_of(&self) -> Report<'_> {
        Report {
            query: &self.query,
            answer: &self.answer,
            sent: &self.sent,
        }
    }

    /// May the UDP path replay these bytes for the same question? Only a pure zone answer of
    /// a block whose directives all allow it (`loadbalance` would not shuffle it).
    pub fn packet_cacheable(&self) -> bool {
        self.answer.cacheable
            && !self.trimmed
            && !self.query.internal
            && self.block.replayable(&self.answer)
    }

    /// The later messages of a multi-message answer, to send after the first (empty for
    /// every other answer).
    pub(crate) fn take_more(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.more)
    }

    /// The answer sent.
    pub fn answer(&self) -> &Answer {
        &self.answer
    }

    /// The router that answered (its identity is the configuration a replay belongs to).
    pub(crate) fn router(&self) -> &Weak<Router> {
        &self.router
    }

    /// The router's data version the answer was computed at.
    pub(crate) fn data_at(&self) -> u64 {
        self.data_at
    }

    /// What a replay must count; `None` when an observer must see every query itself (`log`).
    pub(crate) fn replay_counts(&self) -> Option<Vec<Arc<dyn Recount>>> {
        let r = self.report_of();
        let mut metrics = Vec::new();
        for o in &self.block.observers {
            match o.replay(&r) {
                Counts::Nothing => {}
                Counts::Count(c) => metrics.push(c),
                Counts::Never => return None,
            }
        }
        Some(metrics)
    }

    /// Tells the block's observers (queries kdns asked itself are not reported).
    pub fn report(self) {
        if self.query.internal {
            return;
        }
        let r = self.report_of();
        for o in &self.block.observers {
            o.observe(&r);
        }
    }
}

impl Decoded {
    /// The response bytes and its header, fitted to the limit (see [`fit`]); SERVFAIL if
    /// encoding fails. `Fitted::trimmed` tells whether records were left out.
    fn encode(&self, answer: &Answer) -> Result<Fitted, Vec<u8>> {
        let metadata = self.metadata(answer);
        let lens = [
            answer.answers.len(),
            answer.authority.len(),
            answer.additional.len(),
        ];
        let fitted = fit(lens, |take| self.emit(metadata, answer, take));
        match fitted {
            Ok(Some(((out, h), take))) => Ok(Fitted {
                out,
                h,
                trimmed: take != Take::all(lens),
            }),
            Ok(None) | Err(_) => {
                if let Err(e) = fitted {
                    tracing::error!(error = %e, "encoding a response failed; answering SERVFAIL");
                }
                Err(self.servfail())
            }
        }
    }

    /// SERVFAIL, header only: the answer could not be encoded.
    fn servfail(&self) -> Vec<u8> {
        let m = &self.head;
        header_only(m.id, m.op_code, m.recursion_desired, ResponseCode::ServFail)
    }

    /// The response header for `answer`.
    fn metadata(&self, answer: &Answer) -> Metadata {
        let mut metadata = Metadata::response_from_request(&self.head);
        metadata.authoritative = answer.authoritative;
        metadata.recursion_available = answer.recursion_available;
        metadata.authentic_data = answer.authentic_data;
        metadata.response_code = answer.rcode;
        metadata
    }

    /// The later messages of a multi-message answer ([`Answer::more`]), each with the first
    /// one's header and question and its records in the answer section; `None` when one
    /// does not encode whole within 64 KiB.
    fn encode_more(&self, answer: &Answer) -> Option<Vec<Vec<u8>>> {
        let metadata = self.metadata(answer);
        let one = |records: &Vec<Record>| {
            let parts = Parts {
                metadata,
                question: self.question_bytes(),
                sections: [records, &[], &[]],
                edns: self.edns.as_ref(),
            };
            encode(&parts, || self.queries()).ok().flatten()
        };
        answer.more.iter().flat_map(|m| m.iter()).map(one).collect()
    }

    /// The message with the records `take` selects: `None` when it is over the limit (or
    /// over 64 KiB, where the encoder leaves records out itself).
    fn emit(
        &self,
        mut metadata: Metadata,
        answer: &Answer,
        take: Take,
    ) -> Result<Option<(Vec<u8>, Metadata)>, ProtoError> {
        metadata.truncation = take.truncated;
        let edns = answer.ede.map(|code| self.edns_with_ede(code));
        let edns = edns.as_ref().or(self.edns.as_ref());
        let sections = [
            &answer.answers[..take.answers],
            &answer.authority[..take.authority],
            &answer.additional[..take.additional],
        ];
        let parts = Parts {
            metadata,
            question: self.question_bytes(),
            sections,
            edns,
        };
        let out = encode(&parts, || self.queries())?;
        Ok(out
            .filter(|o| o.len() <= usize::from(self.limit))
            .map(|o| (o, metadata)))
    }
}

/// An encoded response.
struct Fitted {
    out: Vec<u8>,
    h: Metadata,
    /// Records were left out to fit the limit (TC set, or glue dropped).
    trimmed: bool,
}

/// What went out, for the observers.
fn sent(
    h: &Metadata,
    answer: &Answer,
    q: &Query,
    rsize: usize,
    start: Instant,
    local: SocketAddr,
) -> Sent {
    Sent {
        rcode: u16::from(h.response_code),
        class: answer.class(&q.name, q.qtype),
        flags: flags(
            true,
            h.authoritative,
            h.truncation,
            h.recursion_desired,
            h.recursion_available,
            h.authentic_data,
            h.checking_disabled,
        ),
        rsize,
        took: start.elapsed(),
        local,
    }
}

impl Responder {
    /// Answers queries for `port` with the router `router` holds when each one arrives.
    pub fn new(router: Arc<ArcSwap<Router>>, port: u16) -> Self {
        Self {
            router,
            port,
            dropped: Dropped::new(),
            load: Load::new(),
        }
    }

    /// The response to `raw`, if there is one (junk shorter than a header gets none).
    pub async fn respond(
        &self,
        raw: Vec<u8>,
        src: SocketAddr,
        local: SocketAddr,
        proto: Proto,
    ) -> Option<(Vec<u8>, Option<Box<Done>>)> {
        let start = Instant::now();
        let size = raw.len();
        let mut d = match decode(raw, src, proto) {
            Ok(d) => d,
            Err(why) => return self.dropped.refused(why).map(|out| (out, None)),
        };
        if let Some(code) = d.header_error() {
            return d.error_msg(code).map(|out| (out, None));
        }
        let mut query = d.query(size, src);
        query.local = local;
        // One load, off the replay path: a query that would wait beyond the bound is refused
        // before anything is sent upstream.
        query.overloaded = proto == Proto::Udp && self.load.full();
        let router = self.router.load_full();
        // Read before the chain runs: a change the answer may have missed invalidates it.
        let data_at = router.data.get();
        // The block is found once and serves the question, its observers, its replays.
        let block = router.block(self.port, &query.lower).cloned();
        let answer = match &block {
            Some(b) if query.class == DNSClass::IN || router.open_classes(self.port) => {
                router.run(self.port, b, &query).await
            }
            _ => Answer::refused(),
        };
        if answer.opt_added {
            d.add_opt();
        }
        if let Some(size) = answer.bufsize {
            d.lower_bufsize(size);
            query.edns = query.edns.map(|e| e.min(size));
        }
        let mut more = Vec::new();
        let (out, sent, trimmed) = if answer.silent {
            // No reply; observers see NOERROR and 0 bytes, as CoreDNS's recorder reports.
            let mut s = sent(&d.head, &answer, &query, 0, start, local);
            s.rcode = 0;
            (Vec::new(), s, false)
        } else {
            let Fitted { out, h, trimmed } = match d.encode(&answer) {
                Ok(x) => x,
                Err(out) => return Some((out, None)),
            };
            if proto == Proto::Tcp && answer.more.is_some() {
                let Some(m) = d.encode_more(&answer) else {
                    return Some((d.servfail(), None));
                };
                more = m;
            }
            let size = out.len() + more.iter().map(Vec::len).sum::<usize>();
            let s = sent(&h, &answer, &query, size, start, local);
            (out, s, trimmed)
        };
        let Some(block) = block else {
            let mut dropped = sent;
            dropped.rcode = u16::from(answer.rcode);
            report_dropped(&router, self.port, &query, &answer, &dropped);
            return Some((out, None));
        };
        // Boxed: the caller moves it a few times before it reports (568 bytes each).
        let done = Box::new(Done {
            router: Arc::downgrade(&router),
            data_at,
            sent,
            block,
            query,
            answer,
            trimmed,
            more,
        });
        Some((out, Some(done)))
    }
}

/// A query no block covers: the first observer on the port that counts such queries does.
fn report_dropped(router: &Router, port: u16, q: &Query, a: &Answer, sent: &Sent) {
    let r = Report {
        query: q,
        answer: a,
        sent,
    };
    let _ = router
        .blocks(port)
        .iter()
        .flat_map(|b| b.observers.iter())
        .any(|o| o.dropped(&r));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::request::question_points_into_header;
    use hickory_server::proto::op::{Edns, OpCode};
    use hickory_server::proto::op::{Message, MessageType, Query as WireQuery};
    use hickory_server::proto::rr::{Name, RecordType};

    fn responder() -> Responder {
        Responder::new(Arc::new(ArcSwap::from_pointee(Router::default())), 53)
    }

    fn ask(name: &str, op: OpCode, edns: Option<u8>) -> Vec<u8> {
        let mut m = Message::new(77, MessageType::Query, op);
        m.metadata.recursion_desired = true;
        m.add_query(WireQuery::query(
            Name::from_ascii(name).unwrap(),
            RecordType::A,
        ));
        if let Some(v) = edns {
            let mut e = Edns::new();
            e.set_version(v);
            m.set_edns(e);
        }
        m.to_vec().unwrap()
    }

    async fn rcode_of(raw: Vec<u8>) -> Option<ResponseCode> {
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let (out, _) = responder().respond(raw, a, a, Proto::Udp).await?;
        let m = Message::from_vec(&out).unwrap();
        assert_eq!(m.metadata.id, 77);
        Some(m.metadata.response_code)
    }

    #[tokio::test]
    async fn header_checks_and_junk() {
        assert_eq!(
            rcode_of(ask("a.example.", OpCode::Query, None)).await,
            Some(ResponseCode::Refused),
            "no block"
        );
        assert_eq!(
            rcode_of(ask("a.example.", OpCode::Status, None)).await,
            Some(ResponseCode::NotImp)
        );
        // BADVERS (16, shared with BADSIG).
        assert_eq!(
            rcode_of(ask("a.example.", OpCode::Query, Some(1)))
                .await
                .map(u16::from),
            Some(16)
        );
        let mut trailing = ask("a.example.", OpCode::Query, None);
        trailing.truncate(20);
        assert_eq!(
            rcode_of(trailing).await,
            Some(ResponseCode::FormErr),
            "a cut question"
        );
        // A question name ending in a pointer to offset 2 (the header's flags, 0x01 0x00, read
        // as a label and the root): FORMERR without the question, a reply that parses.
        let into_header = vec![
            0, 77, 1, 0, 0, 1, 0, 0, 0, 0, 0, 0, 1, b'a', 0xC0, 2, 0, 1, 0, 1,
        ];
        assert!(question_points_into_header(&into_header));
        assert!(Message::from_vec(&into_header).is_ok(), "hickory reads it");
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        let (out, _) = responder()
            .respond(into_header, a, a, Proto::Udp)
            .await
            .unwrap();
        let m = Message::from_vec(&out).unwrap();
        assert_eq!(m.metadata.response_code, ResponseCode::FormErr);
        assert!(m.queries.is_empty());
        assert_eq!(out.len(), 12, "header only");
        let within = ask("a.example.", OpCode::Query, None);
        assert!(!question_points_into_header(&within));
        let to_first = [
            0, 77, 1, 0, 0, 2, 0, 0, 0, 0, 0, 0, 1, b'a', 0, 0, 1, 0, 1, 0xC0, 12, 0, 1, 0, 1,
        ];
        assert!(
            !question_points_into_header(&to_first),
            "a pointer to an earlier question"
        );
        assert!(
            responder()
                .respond(vec![1, 2, 3], a, a, Proto::Udp)
                .await
                .is_none(),
            "junk: no answer"
        );
    }
}
