//! A response to wire bytes: the header, the question's bytes as they came, the records, the
//! OPT record, written straight into one buffer ([`write`]). The bytes are hickory's, byte for
//! byte — its name compression replayed exactly (which names become pointers, to where, and
//! which become targets) — without its per-name allocations. What [`write`] does not write
//! (record types the zone never answers with, EDNS options other than raw ones, a text over
//! 255 bytes) hickory encodes, and reports the error if there is one. `tests` compares the two.
use hickory_server::proto::op::{Edns, MessageType, Metadata};
use hickory_server::proto::rr::rdata::opt::EdnsOption;
use hickory_server::proto::rr::{Name, RData, Record, RecordType};
use hickory_server::proto::serialize::binary::BinEncoder;
use hickory_server::proto::ProtoError;
use hickory_server::zone_handler::{MessageResponseBuilder, Queries};

#[cfg(test)]
mod tests;

/// How many names may serve as compression targets (hickory's `COMPRESSION_CANDIDATE_LIMIT`).
const CANDIDATES: usize = 64;
/// How many names are compressed at most (hickory's `COMPRESSED_NAME_LIMIT`, Unbound's).
const COMPRESSED_NAMES: usize = 120;
/// A name is kept as a target only while the message is shorter than this.
const TARGET_LIMIT: usize = 0x3FFF;
/// The longest message (the TCP length prefix).
const MAX_MESSAGE: usize = u16::MAX as usize;

/// What a response is made of.
pub(crate) struct Parts<'a> {
    /// The header, without its counts (the truncation flag included).
    pub(crate) metadata: Metadata,
    /// The request's question section as it came (echoed as it is), and how many questions
    /// it holds.
    pub(crate) question: (&'a [u8], u16),
    /// The answer, authority and additional sections (the OPT record comes after them).
    pub(crate) sections: [&'a [Record]; 3],
    /// The OPT record's fields; its extended RCODE bits are taken from `metadata`.
    pub(crate) edns: Option<&'a Edns>,
}

/// The response's bytes; `None` when they would be over 64 KiB with every record. `queries`
/// gives hickory's reading of the question section, for hickory's encoder.
pub(crate) fn encode<'q>(
    p: &Parts<'_>,
    queries: impl FnOnce() -> Option<&'q Queries>,
) -> Result<Option<Vec<u8>>, ProtoError> {
    match write(p) {
        Some(out) => Ok(Some(out)),
        None => hickory(
            p,
            queries().ok_or(ProtoError::Message("the question section does not read"))?,
        ),
    }
}

/// hickory's encoding; `None` when the message did not take every record (over 64 KiB, where
/// hickory rolls back the record that does not fit and stops).
fn hickory(p: &Parts<'_>, queries: &Queries) -> Result<Option<Vec<u8>>, ProtoError> {
    let [an, ns, ad] = p.sections;
    let builder = MessageResponseBuilder::new(queries, p.edns);
    let msg = builder.build(p.metadata, an, [].iter(), ns, ad);
    let mut out = Vec::with_capacity(512);
    let mut enc = BinEncoder::new(&mut out);
    enc.set_max_size(u16::MAX);
    msg.destructive_emit(&mut enc)?;
    // A record that did not fit the encoder is rolled back, but its bytes stay behind.
    let end = enc.offset();
    out.truncate(end);
    let counted = |at: usize| usize::from(u16::from_be_bytes([out[at], out[at + 1]]));
    let whole = counted(6) == an.len()
        && counted(8) == ns.len()
        && counted(10) == ad.len() + usize::from(p.edns.is_some());
    Ok(whole.then_some(out))
}

/// The response's bytes written here; `None` when it holds something only hickory writes, or
/// when it would be over 64 KiB.
fn write(p: &Parts<'_>) -> Option<Vec<u8>> {
    let mut w = Writer::new();
    w.out.extend_from_slice(&[0; 12]);
    let (question, count) = p.question;
    let at = w.out.len();
    w.out.extend_from_slice(question);
    if count > 0 {
        w.keep(at, w.out.len());
    }
    for section in p.sections {
        for r in section {
            w.record(r)?;
        }
    }
    let opt = match p.edns {
        Some(e) => {
            w.opt(e, p.metadata.response_code.high())?;
            1
        }
        None => 0,
    };
    if w.out.len() > MAX_MESSAGE {
        return None;
    }
    let counts = [
        count,
        u16::try_from(p.sections[0].len()).ok()?,
        u16::try_from(p.sections[1].len()).ok()?,
        u16::try_from(p.sections[2].len() + opt).ok()?,
    ];
    w.out[..12].copy_from_slice(&header(&p.metadata, counts));
    Some(w.out)
}

/// The 12 header bytes.
fn header(m: &Metadata, counts: [u16; 4]) -> [u8; 12] {
    let bit = |on: bool, b: u8| if on { b } else { 0 };
    let mut h = [0u8; 12];
    h[..2].copy_from_slice(&m.id.to_be_bytes());
    h[2] = bit(m.message_type == MessageType::Response, 0x80)
        | u8::from(m.op_code) << 3
        | bit(m.authoritative, 0x04)
        | bit(m.truncation, 0x02)
        | bit(m.recursion_desired, 0x01);
    h[3] = bit(m.recursion_available, 0x80)
        | bit(m.authentic_data, 0x20)
        | bit(m.checking_disabled, 0x10)
        | m.response_code.low();
    for (i, c) in counts.iter().enumerate() {
        h[4 + 2 * i..6 + 2 * i].copy_from_slice(&c.to_be_bytes());
    }
    h
}

/// A compression target: where a name's labels start in the message, and those labels as
/// they were written (a range of [`Writer::labels`]); a later name pointing here decompresses
/// to exactly these bytes.
#[derive(Clone, Copy, Default)]
struct Target {
    at: u16,
    from: u32,
    to: u32,
}

/// The message being written and its compression state.
struct Writer {
    out: Vec<u8>,
    targets: [Target; CANDIDATES],
    len: usize,
    /// The targets' label bytes, one after another.
    labels: Vec<u8>,
    /// Names written with compression so far.
    compressed: usize,
}

impl Writer {
    fn new() -> Self {
        Self {
            out: Vec::with_capacity(512),
            targets: [Target::default(); CANDIDATES],
            len: 0,
            labels: Vec::with_capacity(256),
            compressed: 0,
        }
    }

    /// Keeps `out[from..to]` as a target, while the message is short and there is room.
    fn keep(&mut self, from: usize, to: usize) {
        if self.out.len() < TARGET_LIMIT && self.len < CANDIDATES {
            let start = self.labels.len() as u32;
            self.labels.extend_from_slice(&self.out[from..to]);
            self.targets[self.len] = Target {
                at: from as u16,
                from: start,
                to: self.labels.len() as u32,
            };
            self.len += 1;
        }
    }

    /// The first target whose labels are `bytes`.
    fn find(&self, bytes: &[u8]) -> Option<u16> {
        self.targets[..self.len]
            .iter()
            .find(|t| &self.labels[t.from as usize..t.to as usize] == bytes)
            .map(|t| t.at)
    }

    /// Writes `n`: compressed (a pointer to the longest earlier suffix, the first one found
    /// for it) when `compress` and fewer than [`COMPRESSED_NAMES`] were; every suffix not
    /// replaced by a pointer becomes a target. `None` for a label over 63 bytes or a name over
    /// 255.
    fn name(&mut self, n: &Name, compress: bool) -> Option<()> {
        let compress = compress && self.compressed < COMPRESSED_NAMES;
        let begin = self.out.len();
        for label in n.iter() {
            if label.len() > 63 {
                return None;
            }
            self.out.push(label.len() as u8);
            self.out.extend_from_slice(label);
        }
        let end = self.out.len();
        if compress {
            self.compressed += 1;
        }
        // Each suffix from the longest: a pointer to its first earlier copy, else a target.
        let mut at = begin;
        while at < end {
            let found = if compress {
                self.find(&self.out[at..end])
            } else {
                None
            };
            match found {
                Some(to) => {
                    self.out.truncate(at);
                    self.out.extend_from_slice(&(0xC000 | to).to_be_bytes());
                    return Some(());
                }
                None => self.keep(at, end),
            }
            at += 1 + usize::from(self.out[at]);
        }
        self.out.push(0);
        (self.out.len() - begin <= 255).then_some(())
    }

    fn u16(&mut self, v: u16) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }

    fn u32(&mut self, v: u32) {
        self.out.extend_from_slice(&v.to_be_bytes());
    }

    /// One record: owner (compressed), type, class, TTL, RDATA.
    fn record(&mut self, r: &Record) -> Option<()> {
        self.name(&r.name, true)?;
        self.u16(u16::from(r.record_type()));
        self.u16(u16::from(r.dns_class));
        self.u32(r.ttl);
        let len_at = self.out.len();
        self.u16(0);
        self.rdata(&r.data)?;
        let len = u16::try_from(self.out.len() - len_at - 2).ok()?;
        self.out[len_at..len_at + 2].copy_from_slice(&len.to_be_bytes());
        Some(())
    }

    /// RDATA: names in CNAME, NS, PTR and SOA compressed, an SRV target not (RFC 2782) but a
    /// target still.
    fn rdata(&mut self, d: &RData) -> Option<()> {
        match d {
            RData::A(a) => self.out.extend_from_slice(&a.0.octets()),
            RData::AAAA(a) => self.out.extend_from_slice(&a.0.octets()),
            RData::CNAME(n) => self.name(&n.0, true)?,
            RData::NS(n) => self.name(&n.0, true)?,
            RData::PTR(n) => self.name(&n.0, true)?,
            RData::SOA(s) => {
                self.name(&s.mname, true)?;
                self.name(&s.rname, true)?;
                self.u32(s.serial);
                for v in [s.refresh, s.retry, s.expire] {
                    self.out.extend_from_slice(&v.to_be_bytes());
                }
                self.u32(s.minimum);
            }
            RData::SRV(s) => {
                self.u16(s.priority);
                self.u16(s.weight);
                self.u16(s.port);
                self.name(&s.target, false)?;
            }
            RData::TXT(t) => {
                for s in t.txt_data.iter() {
                    self.out.push(u8::try_from(s.len()).ok()?);
                    self.out.extend_from_slice(s);
                }
            }
            _ => return None,
        }
        Some(())
    }

    /// The OPT record (RFC 6891): the root name (counted as a compressed name, as hickory
    /// counts it), the payload size as its class, extended RCODE, version and flags as its TTL.
    fn opt(&mut self, e: &Edns, rcode_high: u8) -> Option<()> {
        self.name(&Name::root(), true)?;
        self.u16(u16::from(RecordType::OPT));
        self.u16(e.max_payload().max(512));
        self.u32(
            u32::from(rcode_high) << 24
                | u32::from(e.version()) << 16
                | u32::from(u16::from(*e.flags())),
        );
        let len_at = self.out.len();
        self.u16(0);
        for (code, option) in &e.options().options {
            let EdnsOption::Unknown(_, data) = option else {
                return None;
            };
            self.u16(u16::from(*code));
            self.u16(u16::try_from(data.len()).ok()?);
            self.out.extend_from_slice(data);
        }
        let len = u16::try_from(self.out.len() - len_at - 2).ok()?;
        self.out[len_at..len_at + 2].copy_from_slice(&len.to_be_bytes());
        Some(())
    }
}
