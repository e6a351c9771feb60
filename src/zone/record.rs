//! The records the zone answers with, in the zone's own terms (no wire types).
use std::net::{Ipv4Addr, Ipv6Addr};

/// Query types the zone distinguishes (RFC numbers).
pub mod qtype {
    /// An IPv4 address.
    pub const A: u16 = 1;
    /// A name server.
    pub const NS: u16 = 2;
    /// An alias.
    pub const CNAME: u16 = 5;
    /// The start of authority.
    pub const SOA: u16 = 6;
    /// A reverse pointer.
    pub const PTR: u16 = 12;
    /// A mail exchange (never answered with records; NODATA or NXDOMAIN).
    pub const MX: u16 = 15;
    /// Text.
    pub const TXT: u16 = 16;
    /// An IPv6 address.
    pub const AAAA: u16 = 28;
    /// A service location.
    pub const SRV: u16 = 33;
    /// An incremental zone transfer (`transfer` answers it; `kubernetes` refuses it).
    pub const IXFR: u16 = 251;
    /// A zone transfer (`transfer` answers it; `kubernetes` refuses it).
    pub const AXFR: u16 = 252;
}

/// Owner name of a record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    /// The question's name, exactly as the client wrote it (case echoed).
    Query,
    /// Another name (absolute, with trailing dot).
    Name(String),
}

/// One resource record of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Its owner name.
    pub owner: Owner,
    /// Its TTL in seconds.
    pub ttl: u32,
    /// Its data (and so its type).
    pub data: RData,
}

/// The data of an SOA record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Soa {
    /// The primary name server (`ns.dns.ZONE`).
    pub mname: String,
    /// The responsible mailbox (`hostmaster.ZONE`).
    pub rname: String,
    /// The serial: the latest revision that changed the zone (see `store::Revision`).
    pub serial: u32,
    /// Refresh interval, seconds.
    pub refresh: i32,
    /// Retry interval, seconds.
    pub retry: i32,
    /// Expiry, seconds.
    pub expire: i32,
    /// Negative-caching TTL, seconds.
    pub minimum: u32,
}

/// Record data; every name is absolute with a trailing dot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RData {
    /// An IPv4 address.
    A(Ipv4Addr),
    /// An IPv6 address.
    Aaaa(Ipv6Addr),
    /// An alias target.
    Cname(String),
    /// A reverse pointer target.
    Ptr(String),
    /// A name server.
    Ns(String),
    /// One text string.
    Txt(String),
    /// A service location.
    Srv {
        /// Priority (always 0).
        priority: u16,
        /// Weight (an equal share of 100).
        weight: u16,
        /// The port.
        port: u16,
        /// The target host.
        target: String,
    },
    /// The start of authority.
    Soa(Soa),
}

impl RData {
    /// The record type (see [`qtype`]).
    pub fn qtype(&self) -> u16 {
        match self {
            RData::A(_) => qtype::A,
            RData::Aaaa(_) => qtype::AAAA,
            RData::Cname(_) => qtype::CNAME,
            RData::Ptr(_) => qtype::PTR,
            RData::Ns(_) => qtype::NS,
            RData::Txt(_) => qtype::TXT,
            RData::Srv { .. } => qtype::SRV,
            RData::Soa(_) => qtype::SOA,
        }
    }
}

/// Response code of a zone answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rcode {
    /// An answer, possibly empty (NODATA).
    NoError,
    /// The name does not exist.
    NxDomain,
    /// Not synced yet: no name error can be trusted.
    ServFail,
    /// Zone transfers.
    Refused,
}

/// What the `kubernetes` directive does with one question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Not ours (or a name error in a `fallthrough` zone): hand it to the next directive.
    Next,
    /// An answer to send.
    Reply(Reply),
}

/// A complete authoritative answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Reply {
    /// The response code (`None`: NOERROR).
    pub rcode: Option<Rcode>,
    /// The answer section.
    pub answer: Vec<Record>,
    /// The authority section (the SOA of negative answers).
    pub authority: Vec<Record>,
    /// The additional section (SRV and NS targets' addresses).
    pub additional: Vec<Record>,
    /// A CNAME pointed outside the zone: the caller may resolve `(target, qtype)` through the
    /// rest of its chain and append what it finds to the answer, as CoreDNS's upstream lookup.
    pub chase: Option<(String, u16)>,
    /// What of the cluster's state decided this answer, when that is less than the whole zone
    /// (see `scope.rs`): it stays right while that part is unchanged.
    pub scope: Option<Depends>,
}

/// What of the cluster's state an answer was decided by, besides the configuration, when that
/// is less than the whole zone. A negative answer also carries the zone's SOA serial, the one
/// thing in it that moves with every change: whoever replays it writes the current serial.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Depends {
    /// The objects of this one namespace (its Services, EndpointSlices and the Namespace
    /// itself), which need not exist.
    Namespace(std::sync::Arc<str>),
    /// None: the name's shape alone decided it (a name error however the cluster changes).
    Nothing,
}

impl Reply {
    /// The response code, NOERROR when unset.
    pub fn rcode(&self) -> Rcode {
        self.rcode.unwrap_or(Rcode::NoError)
    }
}
