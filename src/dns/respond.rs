//! One request, bytes in and bytes out: decode, check, run the chain, encode (truncating UDP
//! answers that do not fit), then report to the block's observers (metrics, errors, log).
use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::Instant;

use arc_swap::ArcSwap;
use hickory_server::net::xfer::Protocol;
use hickory_server::proto::op::{Edns, Header, Metadata, OpCode, ResponseCode};
use hickory_server::proto::rr::DNSClass;
use hickory_server::proto::serialize::binary::{
    BinDecodable, BinDecoder, BinEncodable, BinEncoder,
};
use hickory_server::server::Request;
use hickory_server::zone_handler::MessageResponseBuilder;

use super::handler::{Block, Router, MAX_UDP_PAYLOAD};
use super::query::{lower_text, Answer, Proto, Query};
use crate::plugin::cache::item::classify;
use crate::plugin::loadbalance;
use crate::plugin::log::{flags, Sent};
use crate::plugin::prometheus::{FastSeries, Report};

/// Answers queries arriving on one configured port, from the router of the moment.
pub struct Responder {
    pub router: Arc<ArcSwap<Router>>,
    pub port: u16,
}

/// What to report once the answer is on its way.
pub struct Done {
    router: Weak<Router>,
    block: Arc<Block>,
    query: Query,
    answer: Answer,
    sent: Sent,
}

impl Done {
    /// May the UDP path replay these bytes for the same question? Only a pure zone answer of
    /// a block that neither logs every query nor shuffles this answer.
    pub fn packet_cacheable(&self) -> bool {
        self.answer.cacheable
            && !self.query.internal
            && self.block.observers.log.is_none()
            && !(self.block.shuffles() && loadbalance::would_shuffle(&self.answer))
    }

    /// The answer sent.
    pub fn answer(&self) -> &Answer {
        &self.answer
    }

    /// The router that answered (its identity is the configuration a replay belongs to).
    pub fn router(&self) -> &Weak<Router> {
        &self.router
    }

    /// The block's pre-resolved `prometheus` series for this query, for a replay to count.
    pub fn fast_series(&self) -> Option<FastSeries> {
        self.block.observers.metrics.as_ref().and_then(|m| {
            m.fast(&Report {
                query: &self.query,
                rcode: self.sent.rcode,
                written: self.answer.error.is_none(),
                response_size: self.sent.rsize,
                took: self.sent.took,
            })
        })
    }

    pub fn report(self) {
        let o = &self.block.observers;
        if self.query.internal {
            return;
        }
        if let Some(m) = &o.metrics {
            m.record(&Report {
                query: &self.query,
                rcode: self.sent.rcode,
                written: self.answer.error.is_none(),
                response_size: self.sent.rsize,
                took: self.sent.took,
            });
        }
        if let Some(e) = &o.errors {
            e.observe(&self.query, &self.answer);
        }
        if let Some(l) = &o.log {
            l.observe(&self.query, &self.sent);
        }
    }
}

fn header_only(id: u16, op_code: OpCode, rd: bool, rcode: ResponseCode) -> Vec<u8> {
    let mut metadata = Metadata::new(
        id,
        hickory_server::proto::op::MessageType::Response,
        op_code,
    );
    metadata.recursion_desired = rd;
    metadata.response_code = rcode;
    let mut out = Vec::with_capacity(12);
    let _ = Header {
        metadata,
        counts: Default::default(),
    }
    .emit(&mut BinEncoder::new(&mut out));
    out
}

impl Responder {
    /// The response to `raw`, if there is one (junk shorter than a header gets none).
    pub async fn respond(
        &self,
        raw: Vec<u8>,
        src: SocketAddr,
        local: SocketAddr,
        proto: Proto,
    ) -> Option<(Vec<u8>, Option<Done>)> {
        let start = Instant::now();
        let size = raw.len();
        let protocol = match proto {
            Proto::Udp => Protocol::Udp,
            Proto::Tcp => Protocol::Tcp,
        };
        let mut head = [0u8; 12];
        if let Some(h) = raw.get(..12) {
            head.copy_from_slice(h);
        }
        let req = match Request::from_bytes(raw, src, protocol) {
            Ok(r) => r,
            Err(_) => {
                // A header we can read gets FORMERR; anything less is dropped.
                if size < 12 {
                    return None;
                }
                let h = Header::read(&mut BinDecoder::new(&head)).ok()?;
                return Some((
                    header_only(
                        h.metadata.id,
                        h.metadata.op_code,
                        h.metadata.recursion_desired,
                        ResponseCode::FormErr,
                    ),
                    None,
                ));
            }
        };
        let resp_edns = req.edns.as_ref().map(|e| {
            let mut out = Edns::new();
            out.set_max_payload(e.max_payload().clamp(512, MAX_UDP_PAYLOAD));
            out.set_version(0);
            out.set_dnssec_ok(e.flags().dnssec_ok);
            out
        });
        let builder = MessageResponseBuilder::new(&req.queries, resp_edns.as_ref());
        let limit = match proto {
            Proto::Udp => resp_edns.as_ref().map_or(512, |e| e.max_payload()),
            Proto::Tcp => u16::MAX,
        };
        let code = if req.metadata.op_code != OpCode::Query {
            Some(ResponseCode::NotImp)
        } else if req.queries.len() != 1 {
            Some(ResponseCode::FormErr)
        } else if req.edns.as_ref().is_some_and(|e| e.version() > 0) {
            Some(ResponseCode::BADVERS)
        } else {
            None
        };
        if let Some(code) = code {
            let msg = builder.error_msg(&req.metadata, code);
            let mut out = Vec::with_capacity(64);
            let mut enc = BinEncoder::new(&mut out);
            enc.set_max_size(limit);
            msg.destructive_emit(&mut enc).ok()?;
            return Some((out, None));
        }
        let wq = req.queries.queries()[0].original().clone();
        let name = wq.name().clone();
        let query = Query {
            lower: lower_text(&name),
            name,
            qtype: wq.query_type(),
            id: req.metadata.id,
            opcode: u8::from(req.metadata.op_code),
            recursion_desired: req.metadata.recursion_desired,
            checking_disabled: req.metadata.checking_disabled,
            authentic_data: req.metadata.authentic_data,
            dnssec_ok: req.edns.as_ref().is_some_and(|e| e.flags().dnssec_ok),
            edns: req.edns.as_ref().map(|e| e.max_payload()),
            proto,
            src,
            size,
            internal: false,
            depth: 0,
        };
        let router = self.router.load_full();
        let answer = if wq.query_class() != DNSClass::IN {
            Answer::code(ResponseCode::Refused)
        } else {
            router.answer(self.port, &query).await
        };
        let mut metadata = Metadata::response_from_request(&req.metadata);
        metadata.authoritative = answer.authoritative;
        metadata.recursion_available = answer.recursion_available;
        metadata.authentic_data = answer.authentic_data;
        metadata.response_code = answer.rcode;
        let msg = builder.build(
            metadata,
            answer.answers.iter(),
            std::iter::empty(),
            answer.authority.iter(),
            answer.additional.iter(),
        );
        let mut out = Vec::with_capacity(512);
        let mut enc = BinEncoder::new(&mut out);
        enc.set_max_size(limit);
        let info = match msg.destructive_emit(&mut enc) {
            Ok(info) => info,
            Err(e) => {
                tracing::error!(error = %e, "encoding a response failed; answering SERVFAIL");
                out = header_only(
                    req.metadata.id,
                    req.metadata.op_code,
                    req.metadata.recursion_desired,
                    ResponseCode::ServFail,
                );
                return Some((out, None));
            }
        };
        let block = router.block(self.port, &query.lower).cloned();
        if block.is_none() {
            if let Some(m) = router.port_metrics(self.port) {
                m.record_dropped(&Report {
                    query: &query,
                    rcode: u16::from(answer.rcode),
                    written: false,
                    response_size: out.len(),
                    took: start.elapsed(),
                });
            }
        }
        let done = block.map(|block| {
            let h: &Metadata = &info;
            let class = classify(&answer, &query.name, query.qtype);
            Done {
                router: Arc::downgrade(&router),
                sent: Sent {
                    rcode: u16::from(h.response_code),
                    class,
                    flags: flags(
                        true,
                        h.authoritative,
                        h.truncation,
                        h.recursion_desired,
                        h.recursion_available,
                        h.authentic_data,
                        h.checking_disabled,
                    ),
                    rsize: out.len(),
                    took: start.elapsed(),
                    local,
                },
                block,
                query,
                answer,
            }
        });
        Some((out, done))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hickory_server::proto::op::{Message, MessageType, Query as WireQuery};
    use hickory_server::proto::rr::{Name, RecordType};

    fn responder() -> Responder {
        Responder {
            router: Arc::new(ArcSwap::from_pointee(Router::default())),
            port: 53,
        }
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
        let a: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert!(
            responder()
                .respond(vec![1, 2, 3], a, a, Proto::Udp)
                .await
                .is_none(),
            "junk: no answer"
        );
    }
}
