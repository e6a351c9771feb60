//! `hosts`: answers A, AAAA and PTR questions from a hosts file and inline entries, as
//! CoreDNS 1.14.7's hosts plugin does.
//!
//! The rules, in CoreDNS's order: a question outside the directive's zones passes on (PTR
//! questions are answered whatever their zone); a PTR question the entries do not answer
//! passes on; A and AAAA are answered from the entries (the file's, then the inline ones),
//! owner name in lower case, AA set. A name without records of the type asked but with
//! addresses of the other family, or asked another type, is NODATA (NOERROR, no SOA). A name
//! the entries do not hold passes on under `fallthrough`, else SERVFAIL (a hosts file has no
//! SOA for an NXDOMAIN). With `fallthrough_unsupported`, other types pass on too.
//!
//! The options are parsed in [`config`], the entries in [`table`], the file is re-read in
//! [`file`]. A question that matches nothing costs one hash lookup per table holding entries.
pub mod config;
pub mod file;
pub mod table;

use std::net::IpAddr;
use std::sync::Arc;

use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::rdata::{A, AAAA, PTR};
use hickory_server::proto::rr::{Name, RData, Record, RecordType};

use crate::dns::{Answer, DataVersion, Directive, Next, Query, Served};
use crate::zone::names::strip_zone;
use crate::zone::Fallthrough;
use config::HostsConfig;
use file::HostsFile;
use table::{reverse_addr, Found, Table};

const NAME: &str = "hosts";

/// `hosts` in a chain.
pub struct Hosts {
    zones: Vec<String>,
    ttl: u32,
    fallthrough: Fallthrough,
    fallthrough_unsupported: bool,
    file: Arc<HostsFile>,
    inline: Table,
}

impl Hosts {
    /// Reads the file now and checks it every `reload` period while this directive lives.
    /// `changed` is the router's data version, bumped with each new table of the file.
    pub fn new(c: &HostsConfig, changed: DataVersion) -> Self {
        let inline = Table::parse(&c.inline.join("\n"), &c.zones, c.reverse);
        let file = HostsFile::open(
            c.path.clone(),
            c.zones.clone(),
            c.reverse,
            inline.len(),
            changed,
        );
        file.watch(c.reload);
        Self {
            zones: c.zones.clone(),
            ttl: c.ttl,
            fallthrough: c.fallthrough.clone(),
            fallthrough_unsupported: c.fallthrough_unsupported,
            file,
            inline,
        }
    }

    /// The file's entries now (for the summary line and tests).
    pub fn entries(&self) -> usize {
        self.file.table().len() + self.inline.len()
    }

    fn in_zones(&self, name: &str) -> bool {
        self.zones.iter().any(|z| strip_zone(name, z).is_some())
    }

    /// What `q` gets: records (none: NODATA), SERVFAIL, or the next directive.
    fn outcome(&self, q: &Query) -> Outcome {
        let name = q.lower.as_str();
        if q.qtype == RecordType::PTR {
            return self.ptr(q).map_or(Outcome::Next, Outcome::Records);
        }
        if !self.in_zones(name) {
            return Outcome::Next;
        }
        let file = self.file.table();
        let (f, i) = (file.find(name), self.inline.find(name));
        let owner = || q.name.to_lowercase();
        let records = match q.qtype {
            RecordType::A => addresses(f.v4(), i.v4(), owner, self.ttl, |a| RData::A(A(*a))),
            RecordType::AAAA => {
                addresses(f.v6(), i.v6(), owner, self.ttl, |a| RData::AAAA(AAAA(*a)))
            }
            _ if self.fallthrough_unsupported && self.fallthrough.through(name) => {
                return Outcome::Next
            }
            _ => Vec::new(),
        };
        if records.is_empty() && !exists(f) && !exists(i) {
            return if self.fallthrough.through(name) {
                Outcome::Next
            } else {
                Outcome::ServFail
            };
        }
        Outcome::Records(records)
    }

    /// PTR records from the entries of the address `q` names; `None` (pass on) without any.
    fn ptr(&self, q: &Query) -> Option<Vec<Record>> {
        let ip: IpAddr = reverse_addr(&q.lower)?;
        let file = self.file.table();
        let (f, i) = (file.names_of(&ip), self.inline.names_of(&ip));
        if f.is_empty() && i.is_empty() {
            return None;
        }
        let owner = q.name.to_lowercase();
        let records = f
            .iter()
            .chain(i)
            .filter_map(|n| Name::from_ascii(n).ok())
            .map(|n| Record::from_rdata(owner.clone(), self.ttl, RData::PTR(PTR(n))))
            .collect();
        Some(records)
    }
}

/// What the entries say to one question.
enum Outcome {
    /// Pass it on.
    Next,
    /// NOERROR, authoritative, with these records (none: NODATA).
    Records(Vec<Record>),
    /// A name the entries do not hold, without `fallthrough`.
    ServFail,
}

/// Any address of either family.
fn exists(f: Found<'_>) -> bool {
    !f.v4().is_empty() || !f.v6().is_empty()
}

/// The file's addresses then the inline ones, as records of `owner`.
fn addresses<T>(
    file: &[T],
    inline: &[T],
    owner: impl FnOnce() -> Name,
    ttl: u32,
    rdata: impl Fn(&T) -> RData,
) -> Vec<Record> {
    if file.is_empty() && inline.is_empty() {
        return Vec::new();
    }
    let owner = owner();
    file.iter()
        .chain(inline)
        .map(|a| Record::from_rdata(owner.clone(), ttl, rdata(a)))
        .collect()
}

impl Directive for Hosts {
    fn name(&self) -> &'static str {
        NAME
    }

    fn serve<'a>(&'a self, q: &'a Query, next: Next<'a>) -> Served<'a> {
        match self.outcome(q) {
            Outcome::Next => next.answer(q),
            // CoreDNS returns SERVFAIL without writing an answer (and no error to log).
            Outcome::ServFail => Served::ready(Answer::code(ResponseCode::ServFail)),
            Outcome::Records(records) => {
                let mut a = Answer::code(ResponseCode::NoError).by(NAME);
                a.authoritative = true;
                a.answers = records;
                Served::ready(a)
            }
        }
    }
}

#[cfg(test)]
mod tests;
