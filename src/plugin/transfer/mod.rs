//! `transfer`: outgoing zone transfers (AXFR, and IXFR answered as AXFR) of the block's
//! `kubernetes` zones to the secondaries listed in `to`, as CoreDNS's transfer plugin.
//!
//! In the chain it sits before `hosts` and `kubernetes` (plugin.cfg). It looks only at AXFR and
//! IXFR questions; every other question passes on at the cost of one comparison:
//!
//! ```text
//! AXFR/IXFR over UDP                       → REFUSED (whatever the zone)
//! no `transfer` line covers the name       → next directive (`kubernetes` answers REFUSED)
//! the client's address is not in `to`      → REFUSED
//! IXFR without exactly one SOA in authority → SERVFAIL
//! not a `kubernetes` zone of this block    → next directive
//! the zone never synced                    → SERVFAIL
//! IXFR at the zone's serial                → one message: the SOA
//! otherwise                                → the whole zone (`zone/transfer.rs`) over as many
//!                                            messages as it takes (63,000 bytes of records each)
//! ```
//!
//! The records come from one snapshot ([`crate::zone::transfer`]); the messages go out on the
//! question's TCP connection ([`Answer::more`]). No NOTIFY is sent when the zone changes:
//! CoreDNS's `kubernetes` never asks its transfer plugin to notify, so secondaries follow the
//! SOA refresh (7200 s) or their own schedule.
pub mod config;

use std::sync::Arc;

use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::{Record, RecordType};
use hickory_server::proto::serialize::binary::BinEncodable;

use crate::dns::wire::all_to_wire;
use crate::dns::{Answer, Directive, Next, Proto, Query, Served};
use crate::plugin::kubernetes::Kubernetes;
use crate::zone::names::strip_zone;
use crate::zone::transfer::Transfer as Xfr;
use config::{TransferConfig, Xfr as Lines};

#[cfg(test)]
mod tests;

const NAME: &str = "transfer";

/// Records per message stop short of this many bytes (uncompressed), leaving room for the
/// header and question within a TCP message's 64 KiB (CoreDNS's batch size).
pub const MESSAGE_BYTES: usize = 63_000;

/// The `transfer` directive of one server block.
pub struct Transfer {
    config: TransferConfig,
    /// The block's `kubernetes` directive, the one transferer kdns has (`None`: every
    /// transfer the `to` lists allow passes on).
    kubernetes: Option<Arc<Kubernetes>>,
}

impl Transfer {
    /// Transfers the zones of `kubernetes` that `config` lists.
    pub fn new(config: TransferConfig, kubernetes: Option<Arc<Kubernetes>>) -> Self {
        Self { config, kubernetes }
    }

    /// The line whose zone is the longest match of `lower` (ties: the greater zone, as
    /// CoreDNS's `longestMatch`).
    fn line(&self, lower: &str) -> Option<&Lines> {
        let mut best: Option<(&Lines, &str)> = None;
        for x in &self.config.xfrs {
            // CoreDNS takes each line's first matching zone.
            let Some(z) = x.zones.iter().find(|z| strip_zone(lower, z).is_some()) else {
                continue;
            };
            let better = best
                .is_none_or(|(_, b)| z.len() > b.len() || (z.len() == b.len() && z.as_str() > b));
            if better {
                best = Some((x, z));
            }
        }
        best.map(|(x, _)| x)
    }

    /// The transfer of `q`'s zone, or `None` when it is not the block's `kubernetes` zone.
    async fn answer(&self, q: &Query, serial: u32) -> Option<Answer> {
        let k = self.kubernetes.as_ref()?;
        let mut a = Answer::code(ResponseCode::NoError).by(NAME);
        let (zone, to) = (&q.lower, q.src.ip());
        match k.transfer(zone, serial).await {
            Some(Xfr::NotAuthoritative) => return None,
            None => {
                let e = format!("plugin/transfer: zone {zone} has not synced: no transfer");
                return Some(Answer::code(ResponseCode::ServFail).by(NAME).with_error(e));
            }
            Some(Xfr::UpToDate(soa)) => {
                a.answers = all_to_wire(&[soa], &q.name);
                tracing::info!(%zone, %to, serial, "outgoing noop transfer: the zone is up to date");
            }
            Some(Xfr::Full(records)) => {
                let wire = all_to_wire(&records, &q.name);
                let records = wire.len();
                let mut messages = split(wire).into_iter();
                a.authoritative = true;
                a.answers = messages.next().unwrap_or_default();
                let more: Vec<Vec<Record>> = messages.collect();
                let messages = more.len() + 1;
                a.more = (!more.is_empty()).then(|| Box::new(more));
                tracing::info!(%zone, %to, records, messages, "outgoing transfer");
            }
        }
        Some(a)
    }
}

/// The records split into messages of at most [`MESSAGE_BYTES`] of records each (a record
/// larger than that goes alone).
pub fn split(records: Vec<Record>) -> Vec<Vec<Record>> {
    let mut out = Vec::new();
    let mut batch: Vec<Record> = Vec::new();
    let mut size = 0;
    for r in records {
        let len = r.to_bytes().map_or(MESSAGE_BYTES, |b| b.len());
        if !batch.is_empty() && size + len > MESSAGE_BYTES {
            out.push(std::mem::take(&mut batch));
            size = 0;
        }
        batch.push(r);
        size += len;
    }
    if !batch.is_empty() {
        out.push(batch);
    }
    out
}

impl Directive for Transfer {
    fn name(&self) -> &'static str {
        NAME
    }

    fn serve<'a>(&'a self, q: &'a Query, next: Next<'a>) -> Served<'a> {
        if !matches!(q.qtype, RecordType::AXFR | RecordType::IXFR) {
            return next.answer(q);
        }
        if q.proto != Proto::Tcp {
            return Served::ready(Answer::refused().by(NAME));
        }
        let Some(x) = self.line(&q.lower) else {
            return next.answer(q);
        };
        if !x.to.iter().any(|p| p.allows(q.src.ip())) {
            return Served::ready(Answer::refused().by(NAME));
        }
        let serial = match (q.qtype, q.ixfr_serial) {
            (RecordType::IXFR, Some(s)) => s,
            (RecordType::IXFR, None) => {
                return Served::ready(Answer::code(ResponseCode::ServFail).by(NAME))
            }
            _ => 0,
        };
        Served::later(async move {
            match self.answer(q, serial).await {
                Some(a) => a,
                None => next.answer(q).await,
            }
        })
    }
}
