//! Request handling: pick the server block for the question (longest zone match on the
//! listening port), run its directive chain, and write the answer.
use std::collections::HashMap;
use std::sync::Arc;

use hickory_server::net::runtime::Time;
use hickory_server::proto::op::{Edns, Header, HeaderCounts, Metadata, OpCode, ResponseCode};
use hickory_server::proto::rr::{DNSClass, Name, Record, RecordType};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::zone_handler::MessageResponseBuilder;

use super::wire::all_to_wire;
use crate::zone::names::strip_zone;
use crate::zone::{lookup, KubeOptions, Outcome, Rcode, ZoneHandle};

/// Largest UDP answer we send (the DNS Flag Day 2020 value): bigger answers set TC.
pub const MAX_UDP_PAYLOAD: u16 = 1232;

/// How many out-of-zone CNAME targets one answer may chase.
const MAX_CHASE: usize = 8;

/// One directive of a server block's chain, ready to answer.
pub enum Step {
    Kubernetes {
        options: KubeOptions,
        zone: ZoneHandle,
        /// Until this instant, questions wait for the first complete sync (`startup_timeout`);
        /// afterwards an unsynced zone answers name errors with SERVFAIL, never NXDOMAIN.
        startup_deadline: Option<std::time::Instant>,
    },
}

/// A server block at run time.
pub struct Block {
    /// Zones, lower-case with trailing dot.
    pub zones: Vec<String>,
    pub chain: Vec<Step>,
}

/// Every server block, by listening port.
#[derive(Default)]
pub struct Router {
    pub ports: HashMap<u16, Vec<Block>>,
}

/// A finished answer, in wire records.
#[derive(Debug, Clone)]
pub struct Answer {
    pub rcode: ResponseCode,
    pub authoritative: bool,
    pub answers: Vec<Record>,
    pub authority: Vec<Record>,
    pub additional: Vec<Record>,
    /// A pure answer of the synced zone: it stays right until the zone generation changes,
    /// so the UDP path may replay it (see `dns/udp.rs`).
    pub cacheable: bool,
}

impl Answer {
    fn code(rcode: ResponseCode) -> Self {
        Self {
            rcode,
            authoritative: false,
            answers: Vec::new(),
            authority: Vec::new(),
            additional: Vec::new(),
            cacheable: false,
        }
    }

    /// REFUSED (no server block, or a class other than IN).
    pub fn refused() -> Self {
        Self::code(ResponseCode::Refused)
    }
}

fn rcode(r: Rcode) -> ResponseCode {
    match r {
        Rcode::NoError => ResponseCode::NoError,
        Rcode::NxDomain => ResponseCode::NXDomain,
        Rcode::ServFail => ResponseCode::ServFail,
        Rcode::Refused => ResponseCode::Refused,
    }
}

impl Router {
    /// The block whose zone is the longest suffix of `lower` among the blocks on `port`.
    fn block(&self, port: u16, lower: &str) -> Option<&Block> {
        let blocks = self.ports.get(&port)?;
        let mut best: Option<(&Block, usize)> = None;
        for b in blocks {
            for z in &b.zones {
                if strip_zone(lower, z).is_some() && best.is_none_or(|(_, l)| z.len() > l) {
                    best = Some((b, z.len()));
                }
            }
        }
        best.map(|(b, _)| b)
    }

    /// Answers one question as the server on `port` would.
    pub async fn resolve(&self, port: u16, qname: &Name, qtype: RecordType) -> Answer {
        self.resolve_depth(port, qname, qtype, 0).await
    }

    async fn resolve_depth(
        &self,
        port: u16,
        qname: &Name,
        qtype: RecordType,
        depth: usize,
    ) -> Answer {
        let text = qname.to_ascii();
        let text = if text.ends_with('.') {
            text
        } else {
            format!("{text}.")
        };
        let lower = text.to_ascii_lowercase();
        let Some(block) = self.block(port, &lower) else {
            return Answer::code(ResponseCode::Refused);
        };
        if block.chain.is_empty() {
            return Answer::code(ResponseCode::Refused);
        }
        for step in &block.chain {
            match step {
                Step::Kubernetes {
                    options,
                    zone,
                    startup_deadline,
                } => {
                    let mut snapshot = zone.load();
                    if !snapshot.synced {
                        if let Some(deadline) = startup_deadline {
                            snapshot = zone.wait_synced(*deadline).await;
                        }
                    }
                    match lookup::serve(options, &snapshot, &text, u16::from(qtype)) {
                        Outcome::Next => continue,
                        Outcome::Reply(reply) => {
                            let mut answer = Answer {
                                rcode: rcode(reply.rcode()),
                                authoritative: reply.rcode() != Rcode::Refused,
                                answers: all_to_wire(&reply.answer, qname),
                                authority: all_to_wire(&reply.authority, qname),
                                additional: all_to_wire(&reply.additional, qname),
                                cacheable: snapshot.synced
                                    && reply.chase.is_none()
                                    && matches!(reply.rcode(), Rcode::NoError | Rcode::NxDomain),
                            };
                            if let Some((target, qt)) = reply.chase {
                                if depth < MAX_CHASE {
                                    if let Ok(t) = Name::from_ascii(&target) {
                                        let sub = Box::pin(self.resolve_depth(
                                            port,
                                            &t,
                                            RecordType::from(qt),
                                            depth + 1,
                                        ))
                                        .await;
                                        answer.answers.extend(sub.answers);
                                    }
                                }
                            }
                            return answer;
                        }
                    }
                }
            }
        }
        // Every directive passed the question on and none is left: CoreDNS's "no next plugin".
        Answer::code(ResponseCode::ServFail)
    }
}

/// The hickory request handler for one listening port.
pub struct Handler {
    pub router: Arc<Router>,
    pub port: u16,
}

fn servfail_info(req: &Request) -> ResponseInfo {
    let mut metadata = Metadata::response_from_request(&req.metadata);
    metadata.response_code = ResponseCode::ServFail;
    ResponseInfo::from(Header {
        metadata,
        counts: HeaderCounts::default(),
    })
}

#[async_trait::async_trait]
impl RequestHandler for Handler {
    async fn handle_request<R: ResponseHandler, T: Time>(
        &self,
        request: &Request,
        mut response_handle: R,
    ) -> ResponseInfo {
        let resp_edns = request.edns.as_ref().map(|e| {
            let mut out = Edns::new();
            out.set_max_payload(e.max_payload().clamp(512, MAX_UDP_PAYLOAD));
            out.set_version(0);
            out
        });
        let builder = MessageResponseBuilder::new(&request.queries, resp_edns.as_ref());

        let code = if request.metadata.op_code != OpCode::Query {
            Some(ResponseCode::NotImp)
        } else if request.queries.len() != 1 {
            Some(ResponseCode::FormErr)
        } else if request.edns.as_ref().is_some_and(|e| e.version() > 0) {
            Some(ResponseCode::BADVERS)
        } else {
            None
        };
        if let Some(code) = code {
            let msg = builder.error_msg(&request.metadata, code);
            return response_handle
                .send_response(msg)
                .await
                .unwrap_or_else(|_| servfail_info(request));
        }
        let query = request.queries.queries()[0].original().clone();
        let answer = if query.query_class() != DNSClass::IN {
            Answer::code(ResponseCode::Refused)
        } else {
            self.router
                .resolve(self.port, query.name(), query.query_type())
                .await
        };
        let mut metadata = Metadata::response_from_request(&request.metadata);
        metadata.authoritative = answer.authoritative;
        metadata.response_code = answer.rcode;
        let msg = builder.build(
            metadata,
            answer.answers.iter(),
            std::iter::empty(),
            answer.authority.iter(),
            answer.additional.iter(),
        );
        match response_handle.send_response(msg).await {
            Ok(info) => info,
            Err(e) => {
                tracing::warn!(error = %e, "sending a DNS response failed");
                servfail_info(request)
            }
        }
    }
}
