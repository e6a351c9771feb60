//! One request decoded ([`decode`]): its header, its question, its OPT record, and the checks
//! and error replies a request gets before the chain sees it.
//!
//! A plain request — QUERY, one question whose name holds no pointer, no answer or authority
//! records, at most an OPT record of version 0, nothing after it — is read here with hickory's
//! readers of those parts, and keeps its bytes: the question is echoed from them, and hickory's
//! reading of the whole question section is made only when an answer needs hickory's encoder.
//! Every other request is decoded whole by hickory, as before. Both read a plain request the
//! same (`tests` compares them).
use std::net::SocketAddr;
use std::sync::OnceLock;

use hickory_server::net::xfer::Protocol;
use hickory_server::proto::op::{
    Edns, Header, Message, MessageType, Metadata, OpCode, Query as WireQuery, ResponseCode,
};
use hickory_server::proto::rr::rdata::opt::EdnsOption;
use hickory_server::proto::rr::RecordType;
use hickory_server::proto::serialize::binary::{
    BinDecodable, BinDecoder, BinEncodable, BinEncoder,
};
use hickory_server::server::Request;
use hickory_server::zone_handler::{MessageResponseBuilder, Queries};

use super::query::{ixfr_serial, options_of, texts, wire_texts, Proto, Query, MAX_UDP_PAYLOAD};

#[cfg(test)]
mod tests;

/// The EDNS option code of an extended DNS error (RFC 8914).
const EDE: u16 = 15;

/// Why a message gets no answer from the chain.
pub(super) enum Refused {
    /// Send these bytes instead (FORMERR for a readable header).
    Reply(Vec<u8>),
    /// Send nothing: shorter than a header.
    Short,
    /// Send nothing: a response (QR=1).
    Response,
}

/// A header and nothing else: `rcode` for the request `id`.
pub(super) fn header_only(id: u16, op_code: OpCode, rd: bool, rcode: ResponseCode) -> Vec<u8> {
    let mut metadata = Metadata::new(id, MessageType::Response, op_code);
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

/// The question section, as it was read.
enum Questions {
    /// hickory decoded the whole request.
    Whole(Request),
    /// A plain request: its bytes, where its question ends, the question, and hickory's
    /// reading of the section once something needs it.
    Plain {
        raw: Vec<u8>,
        end: usize,
        first: WireQuery,
        read: OnceLock<Option<Queries>>,
    },
}

/// A request that decoded: what the response is built from.
pub(super) struct Decoded {
    /// The request's header.
    pub(super) head: Metadata,
    questions: Questions,
    /// The request's OPT record.
    asked: Option<Edns>,
    /// The response's OPT record.
    pub(super) edns: Option<Edns>,
    /// Largest response: the client's EDNS size (512 without EDNS) over UDP, 64 KiB over TCP.
    pub(super) limit: u16,
    proto: Proto,
}

/// Does a name of the question section follow a compression pointer into the header? Such a
/// name decodes only by accident (the header's bytes read as labels), and the reply, which
/// echoes the question's bytes as they came, would point into its own, different header: a
/// reply that does not parse. Found by the `request` fuzz target.
pub(super) fn question_points_into_header(raw: &[u8]) -> bool {
    let count = raw
        .get(4..6)
        .map_or(0, |c| u16::from_be_bytes([c[0], c[1]]));
    let mut pos = 12;
    for _ in 0..count {
        let (mut at, mut end, mut hops) = (pos, None, 0);
        loop {
            let Some(&len) = raw.get(at) else {
                return false; // cut short: the decoder says FORMERR
            };
            if len & 0xC0 == 0xC0 {
                let Some(&low) = raw.get(at + 1) else {
                    return false;
                };
                end.get_or_insert(at + 2);
                at = usize::from(len & 0x3F) << 8 | usize::from(low);
                hops += 1;
                if at < 12 {
                    return true;
                } else if hops > 127 {
                    return false; // a pointer loop: the decoder refuses it
                }
            } else if len == 0 {
                end.get_or_insert(at + 1);
                break;
            } else {
                at += 1 + usize::from(len);
            }
        }
        pos = end.unwrap_or(at) + 4;
    }
    false
}

/// A plain request read with hickory's readers of its parts: the header, the question, where
/// the question ends, the OPT record. `None` for any other request.
fn plain(raw: &[u8]) -> Option<(Metadata, WireQuery, usize, Option<Edns>)> {
    let mut dec = BinDecoder::new(raw);
    let Header {
        mut metadata,
        counts,
    } = Header::read(&mut dec).ok()?;
    let simple = metadata.message_type == MessageType::Query
        && metadata.op_code == OpCode::Query
        && counts.queries == 1
        && counts.answers == 0
        && counts.authorities == 0
        && counts.additionals <= 1;
    if !simple {
        return None;
    }
    // The name: labels only, no pointer.
    let mut at = 12;
    loop {
        match *raw.get(at)? {
            0 => break,
            len @ 1..=63 => at += 1 + usize::from(len),
            _ => return None,
        }
    }
    let first = WireQuery::read(&mut dec).ok()?;
    let end = dec.index();
    let extra = usize::from(counts.additionals);
    let (_, edns, sig) = Message::read_records(&mut dec, extra, true, metadata.op_code).ok()?;
    let opt_alone = edns.is_some() == (extra == 1) && sig.is_none();
    if !opt_alone || dec.index() != raw.len() || edns.as_ref().is_some_and(|e| e.version() > 0) {
        return None;
    }
    if let Some(e) = &edns {
        metadata.merge_response_code(e.rcode_high());
    }
    Some((metadata, first, end, edns))
}

/// hickory's decoding of the whole request; FORMERR for a readable header it does not read
/// (or whose question points into it).
fn whole(raw: Vec<u8>, src: SocketAddr, proto: Proto) -> Result<Request, Refused> {
    let protocol = match proto {
        Proto::Udp => Protocol::Udp,
        Proto::Tcp => Protocol::Tcp,
    };
    let mut head = [0u8; 12];
    head.copy_from_slice(&raw[..12]);
    let into_header = question_points_into_header(&raw);
    match Request::from_bytes(raw, src, protocol) {
        Ok(r) if !into_header => Ok(r),
        _ => {
            let h = Header::read(&mut BinDecoder::new(&head)).map_err(|_| Refused::Short)?;
            let m = &h.metadata;
            Err(Refused::Reply(header_only(
                m.id,
                m.op_code,
                m.recursion_desired,
                ResponseCode::FormErr,
            )))
        }
    }
}

/// Decodes `raw`: FORMERR for a readable header that is not followed by a message; nothing
/// for junk shorter than a header or for a response (QR=1).
pub(super) fn decode(raw: Vec<u8>, src: SocketAddr, proto: Proto) -> Result<Decoded, Refused> {
    if raw.len() < 12 {
        return Err(Refused::Short);
    }
    if raw[2] & 0x80 != 0 {
        return Err(Refused::Response);
    }
    let (head, questions, asked) = match plain(&raw) {
        Some((head, first, end, asked)) => {
            let read = OnceLock::new();
            let questions = Questions::Plain {
                raw,
                end,
                first,
                read,
            };
            (head, questions, asked)
        }
        None => {
            let req = whole(raw, src, proto)?;
            let asked = req.edns.clone();
            (req.metadata, Questions::Whole(req), asked)
        }
    };
    let edns = asked.as_ref().map(|e| {
        let mut out = Edns::new();
        out.set_max_payload(e.max_payload().clamp(512, MAX_UDP_PAYLOAD));
        out.set_version(0);
        out.set_dnssec_ok(e.flags().dnssec_ok);
        out
    });
    let limit = match proto {
        Proto::Udp => edns.as_ref().map_or(512, |e| e.max_payload()),
        Proto::Tcp => u16::MAX,
    };
    Ok(Decoded {
        head,
        questions,
        asked,
        edns,
        limit,
        proto,
    })
}

impl Decoded {
    /// hickory's reading of the question section, for its encoder (`None` only if it would
    /// not read what `plain` read with the same readers).
    pub(super) fn queries(&self) -> Option<&Queries> {
        match &self.questions {
            Questions::Whole(req) => Some(&req.queries),
            Questions::Plain { raw, read, .. } => read
                .get_or_init(|| {
                    let mut dec = BinDecoder::new(raw);
                    dec.read_slice(12).ok()?;
                    Queries::read(&mut dec, 1).ok()
                })
                .as_ref(),
        }
    }

    /// The question section's bytes as they came, and how many questions it holds.
    pub(super) fn question_bytes(&self) -> (&[u8], u16) {
        match &self.questions {
            Questions::Whole(req) => (req.queries.as_bytes(), req.queries.len() as u16),
            Questions::Plain { raw, end, .. } => (&raw[12..*end], 1),
        }
    }

    /// `rewrite` gave the request an OPT record of 4096 bytes (DO clear): the response carries
    /// one, sized as for a client asking with 4096 (see [`decode`]).
    pub(super) fn add_opt(&mut self) {
        if self.edns.is_none() {
            let mut e = Edns::new();
            e.set_max_payload(MAX_UDP_PAYLOAD);
            e.set_version(0);
            if self.proto == Proto::Udp {
                self.limit = MAX_UDP_PAYLOAD;
            }
            self.edns = Some(e);
        }
    }

    /// `bufsize` lowered the request's EDNS size: the UDP limit and the size the response's
    /// OPT record advertises follow (requests without EDNS are left alone, as CoreDNS's).
    pub(super) fn lower_bufsize(&mut self, size: u16) {
        if let Some(e) = self.edns.as_mut() {
            let lowered = e.max_payload().min(size);
            e.set_max_payload(lowered);
            if self.proto == Proto::Udp {
                self.limit = self.limit.min(lowered.max(512));
            }
        }
    }

    /// The response's OPT record carrying an extended DNS error (RFC 8914) with no text:
    /// CoreDNS's `acl` answers with an OPT of its own (4096 bytes, DO set) whose size becomes
    /// the request's when the request had one.
    pub(super) fn edns_with_ede(&self, code: u16) -> Edns {
        let mut e = Edns::new();
        e.set_version(0);
        e.set_dnssec_ok(true);
        e.set_max_payload(self.edns.as_ref().map_or(4096, |r| r.max_payload()));
        e.options_mut()
            .insert(EdnsOption::Unknown(EDE, code.to_be_bytes().to_vec()));
        e
    }

    /// The error a request gets before any directive sees it: NOTIMP for opcodes other than
    /// QUERY, FORMERR unless exactly one question, BADVERS for EDNS versions above 0.
    pub(super) fn header_error(&self) -> Option<ResponseCode> {
        if self.head.op_code != OpCode::Query {
            Some(ResponseCode::NotImp)
        } else if self.question_bytes().1 != 1 {
            Some(ResponseCode::FormErr)
        } else if self.asked.as_ref().is_some_and(|e| e.version() > 0) {
            Some(ResponseCode::BADVERS)
        } else {
            None
        }
    }

    /// The response for a header error (nothing when it cannot be encoded).
    pub(super) fn error_msg(&self, code: ResponseCode) -> Option<Vec<u8>> {
        let builder = MessageResponseBuilder::new(self.queries()?, self.edns.as_ref());
        let msg = builder.error_msg(&self.head, code);
        let mut out = Vec::with_capacity(64);
        let mut enc = BinEncoder::new(&mut out);
        enc.set_max_size(self.limit);
        // An error message always fits; if encoding still fails, nothing is sent.
        msg.destructive_emit(&mut enc).ok().map(|_| out)
    }

    /// The one question, as the chain sees it (after [`Self::header_error`] found none).
    pub(super) fn query(&self, size: usize, src: SocketAddr) -> Query {
        let (wq, wire) = match &self.questions {
            Questions::Whole(req) => (req.queries.queries()[0].original(), None),
            // The name's bytes: the question without its type and class.
            Questions::Plain {
                first, raw, end, ..
            } => (first, raw.get(12..end.saturating_sub(4))),
        };
        let name = wq.name().clone();
        let (text, lower) = match wire {
            Some(wire) => wire_texts(&name, wire),
            None => texts(&name),
        };
        let edns = self.asked.as_ref();
        let mut q = Query {
            lower,
            text,
            name,
            qtype: wq.query_type(),
            class: wq.query_class(),
            id: self.head.id,
            opcode: u8::from(self.head.op_code),
            recursion_desired: self.head.recursion_desired,
            checking_disabled: self.head.checking_disabled,
            authentic_data: self.head.authentic_data,
            dnssec_ok: edns.is_some_and(|e| e.flags().dnssec_ok),
            edns: edns.map(|e| e.max_payload()),
            proto: self.proto,
            src,
            local: src,
            edns_options: edns.and_then(options_of),
            options_rewritten: false,
            size,
            internal: false,
            overloaded: false,
            depth: 0,
            ixfr_serial: None,
        };
        if let (RecordType::IXFR, Questions::Whole(req)) = (q.qtype, &self.questions) {
            q.ixfr_serial = ixfr_serial(&req.authorities);
        }
        q
    }
}
