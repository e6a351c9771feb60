//! Zone records → hickory wire records.
use std::cell::RefCell;
use std::collections::HashMap;

use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::rdata::{A, AAAA, CNAME, NS, PTR, SOA, SRV, TXT};
use hickory_server::proto::rr::{Name, RData, Record};

use crate::zone::record::{self, Owner, Rcode};

/// Names already parsed on this thread (SOA names, service and SRV target names repeat across
/// answers): a hash lookup and a clone instead of `Name::from_ascii` (~150 ns per name, a
/// sixth of a negative answer's user time). Per thread, so no lock; bounded, cleared when full.
const NAME_CACHE_CAP: usize = 4096;

thread_local! {
    static NAMES: RefCell<HashMap<Box<str>, Name, foldhash::fast::RandomState>> =
        RefCell::new(HashMap::default());
    /// The SOA record converted last on this thread: every negative answer carries one, and
    /// it changes only with the zone's serial (or the question's case of the zone).
    static LAST_SOA: RefCell<Option<(record::Record, Record)>> = const { RefCell::new(None) };
}

/// `r`, an SOA record with the owner `Owner::Name`, converted: from [`LAST_SOA`] when it is
/// the same record.
fn soa_to_wire(r: &record::Record, query: &Name) -> Option<Record> {
    LAST_SOA.with(|last| {
        if let Some((z, w)) = last.borrow().as_ref() {
            if z == r {
                return Some(w.clone());
            }
        }
        let w = convert(r, query)?;
        *last.borrow_mut() = Some((r.clone(), w.clone()));
        Some(w)
    })
}

fn name(s: &str) -> Option<Name> {
    NAMES.with(|cache| {
        if let Some(n) = cache.borrow().get(s) {
            return Some(n.clone());
        }
        let n = Name::from_ascii(s).ok()?;
        let mut c = cache.borrow_mut();
        if c.len() >= NAME_CACHE_CAP {
            c.clear();
        }
        c.insert(s.into(), n.clone());
        Some(n)
    })
}

/// Converts one zone record; `query` is the question's name as the client wrote it.
/// A record whose names do not parse is dropped (and logged): never a panic.
pub fn to_wire(r: &record::Record, query: &Name) -> Option<Record> {
    match (&r.owner, &r.data) {
        (Owner::Name(_), record::RData::Soa(_)) => soa_to_wire(r, query),
        _ => convert(r, query),
    }
}

fn convert(r: &record::Record, query: &Name) -> Option<Record> {
    let owner = match &r.owner {
        Owner::Query => query.clone(),
        Owner::Name(n) => name(n)?,
    };
    let data = match &r.data {
        record::RData::A(ip) => RData::A(A(*ip)),
        record::RData::Aaaa(ip) => RData::AAAA(AAAA(*ip)),
        record::RData::Cname(t) => RData::CNAME(CNAME(name(t)?)),
        record::RData::Ptr(t) => RData::PTR(PTR(name(t)?)),
        record::RData::Ns(t) => RData::NS(NS(name(t)?)),
        record::RData::Txt(t) => RData::TXT(TXT::new(vec![t.clone()])),
        record::RData::Srv {
            priority,
            weight,
            port,
            target,
        } => RData::SRV(SRV::new(*priority, *weight, *port, name(target)?)),
        record::RData::Soa(s) => RData::SOA(SOA::new(
            name(&s.mname)?,
            name(&s.rname)?,
            s.serial,
            s.refresh,
            s.retry,
            s.expire,
            s.minimum,
        )),
    };
    Some(Record::from_rdata(owner, r.ttl, data))
}

/// Converts a list, dropping (and logging) records with names that are not valid DNS names.
pub fn all_to_wire(rs: &[record::Record], query: &Name) -> Vec<Record> {
    rs.iter()
        .filter_map(|r| {
            let w = to_wire(r, query);
            if w.is_none() {
                tracing::warn!(record = ?r, "dropping a record whose name is not a valid DNS name");
            }
            w
        })
        .collect()
}

/// A zone answer's response code on the wire.
pub fn rcode(r: Rcode) -> ResponseCode {
    match r {
        Rcode::NoError => ResponseCode::NoError,
        Rcode::NxDomain => ResponseCode::NXDomain,
        Rcode::ServFail => ResponseCode::ServFail,
        Rcode::Refused => ResponseCode::Refused,
    }
}
