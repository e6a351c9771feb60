//! What the directive chain sees of a query ([`Query`]) and what it gives back ([`Answer`]).
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::{Name, Record, RecordType};

use crate::metrics::Counter;
use crate::zone::ZoneHandle;

/// Largest UDP answer we send (the DNS Flag Day 2020 value): bigger answers set TC.
pub const MAX_UDP_PAYLOAD: u16 = 1232;

/// How many times kdns may ask itself while answering one query (CNAME chases).
pub const MAX_DEPTH: u8 = 8;

/// The transport a query came over.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    Udp,
    Tcp,
}

impl Proto {
    pub fn as_str(self) -> &'static str {
        match self {
            Proto::Udp => "udp",
            Proto::Tcp => "tcp",
        }
    }
}

/// One question and what is known about who asked it.
#[derive(Debug, Clone)]
pub struct Query {
    /// The name as the client wrote it (its case is echoed).
    pub name: Name,
    /// Lower-case text with the final dot.
    pub lower: String,
    pub qtype: RecordType,
    pub id: u16,
    pub opcode: u8,
    pub recursion_desired: bool,
    pub checking_disabled: bool,
    pub authentic_data: bool,
    pub dnssec_ok: bool,
    /// The EDNS payload size the client advertised; `None` without EDNS.
    pub edns: Option<u16>,
    pub proto: Proto,
    pub src: SocketAddr,
    /// Size of the request on the wire.
    pub size: usize,
    /// Asked by kdns itself (CNAME chase, cache refresh): not counted or logged.
    pub internal: bool,
    pub depth: u8,
}

/// Lower-case text with the final dot.
pub fn lower_text(name: &Name) -> String {
    let mut t = name.to_ascii().to_ascii_lowercase();
    if !t.ends_with('.') {
        t.push('.');
    }
    t
}

impl Query {
    /// A query kdns asks itself (recursion desired, as a stub resolver would).
    pub fn internal(name: Name, qtype: RecordType) -> Self {
        Self {
            lower: lower_text(&name),
            name,
            qtype,
            id: 0,
            opcode: 0,
            recursion_desired: true,
            checking_disabled: false,
            authentic_data: false,
            dnssec_ok: false,
            edns: None,
            proto: Proto::Udp,
            src: SocketAddr::new(Ipv4Addr::LOCALHOST.into(), 0),
            size: 0,
            internal: true,
            depth: 0,
        }
    }

    /// A follow-up question asked while answering this one.
    pub fn follow(&self, name: Name, qtype: RecordType) -> Self {
        Self {
            lower: lower_text(&name),
            name,
            qtype,
            internal: true,
            depth: self.depth + 1,
            ..self.clone()
        }
    }

    /// The buffer size CoreDNS reports (`{>bufsize}`): the EDNS size, 512 without EDNS, and
    /// 65535 over TCP.
    pub fn bufsize(&self) -> u16 {
        match self.proto {
            Proto::Tcp => u16::MAX,
            Proto::Udp => self.edns.unwrap_or(512).max(512),
        }
    }
}

/// A finished answer, in wire records.
#[derive(Debug, Clone)]
pub struct Answer {
    pub rcode: ResponseCode,
    pub authoritative: bool,
    pub recursion_available: bool,
    pub authentic_data: bool,
    pub answers: Vec<Record>,
    pub authority: Vec<Record>,
    pub additional: Vec<Record>,
    /// The directive that wrote the answer (`""` when none did): CoreDNS's `plugin` label.
    pub plugin: &'static str,
    /// Why it failed, for `errors` (CoreDNS's plugin error).
    pub error: Option<String>,
    /// A pure answer of the synced zone: it stays right while the configuration and the zone
    /// are unchanged (see `scope`), so the UDP path may replay it (see `dns/udp.rs`).
    pub cacheable: bool,
    /// Counters a replay of this answer bumps besides the block's metrics (the lookups of a
    /// `cache` that did not keep it).
    pub replay: Vec<Arc<Counter>>,
    /// Where a cacheable answer came from: the zone and the snapshot's generation, and for an
    /// answer decided by one namespace's objects alone, that namespace's version.
    pub scope: Option<Scope>,
}

/// Where a cacheable zone answer came from, for the UDP packet cache.
#[derive(Clone)]
pub struct Scope {
    /// The zone that answered.
    pub zone: ZoneHandle,
    /// The zone's generation read before the answering snapshot was loaded: the answer is
    /// right while the generation has not moved.
    pub generation: u64,
    /// For an answer decided by one namespace alone: that namespace and its version in the
    /// answering snapshot. The answer is right while that version is unchanged, whatever
    /// changes elsewhere.
    pub ns: Option<(Arc<str>, u64)>,
}

impl std::fmt::Debug for Scope {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.ns {
            Some((ns, version)) => write!(f, "Scope({ns}@{version}, gen {})", self.generation),
            None => write!(f, "Scope(gen {})", self.generation),
        }
    }
}

impl Answer {
    /// An answer with only a response code.
    pub fn code(rcode: ResponseCode) -> Self {
        Self {
            rcode,
            authoritative: false,
            recursion_available: false,
            authentic_data: false,
            answers: Vec::new(),
            authority: Vec::new(),
            additional: Vec::new(),
            plugin: "",
            error: None,
            cacheable: false,
            replay: Vec::new(),
            scope: None,
        }
    }

    /// REFUSED (no server block, or a class other than IN).
    pub fn refused() -> Self {
        Self::code(ResponseCode::Refused)
    }

    pub fn by(mut self, plugin: &'static str) -> Self {
        self.plugin = plugin;
        self
    }

    pub fn with_error(mut self, e: impl Into<String>) -> Self {
        self.error = Some(e.into());
        self
    }

    /// Every record of every section.
    pub fn records_mut(&mut self) -> impl Iterator<Item = &mut Record> {
        self.answers
            .iter_mut()
            .chain(self.authority.iter_mut())
            .chain(self.additional.iter_mut())
    }
}
