//! The records the zone answers with, in the zone's own terms (no wire types).
use std::net::{Ipv4Addr, Ipv6Addr};

/// Query types the zone distinguishes (RFC numbers).
pub mod qtype {
    pub const A: u16 = 1;
    pub const NS: u16 = 2;
    pub const CNAME: u16 = 5;
    pub const SOA: u16 = 6;
    pub const PTR: u16 = 12;
    pub const MX: u16 = 15;
    pub const TXT: u16 = 16;
    pub const AAAA: u16 = 28;
    pub const SRV: u16 = 33;
    pub const IXFR: u16 = 251;
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

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub owner: Owner,
    pub ttl: u32,
    pub data: RData,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Soa {
    pub mname: String,
    pub rname: String,
    pub serial: u32,
    pub refresh: i32,
    pub retry: i32,
    pub expire: i32,
    pub minimum: u32,
}

/// Record data; every name is absolute with a trailing dot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RData {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Cname(String),
    Ptr(String),
    Ns(String),
    Txt(String),
    Srv {
        priority: u16,
        weight: u16,
        port: u16,
        target: String,
    },
    Soa(Soa),
}

impl RData {
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
    NoError,
    NxDomain,
    ServFail,
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
    pub rcode: Option<Rcode>,
    pub answer: Vec<Record>,
    pub authority: Vec<Record>,
    pub additional: Vec<Record>,
    /// A CNAME pointed outside the zone: the caller may resolve `(target, qtype)` through the
    /// rest of its chain and append what it finds to the answer, as CoreDNS's upstream lookup.
    pub chase: Option<(String, u16)>,
    /// The one namespace this positive answer was built from (see `scope::namespace_scope`):
    /// it stays right while that namespace's objects are unchanged.
    pub scope: Option<std::sync::Arc<str>>,
}

impl Reply {
    pub fn rcode(&self) -> Rcode {
        self.rcode.unwrap_or(Rcode::NoError)
    }
}
