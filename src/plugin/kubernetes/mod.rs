//! `kubernetes`: answers the cluster zone from the published [`Zone`] snapshot, as CoreDNS's
//! kubernetes plugin does (Kubernetes DNS-Based Service Discovery 1.1.0).
//!
//! The rules of the answer live in the zone core ([`crate::zone::lookup`]); this directive
//! connects them to the chain: it waits for the first sync (`startup_timeout`), maps the
//! zone's outcome to a wire answer, follows an ExternalName's CNAME through the whole server,
//! and says how long the UDP path may replay the answer. Its options are parsed in
//! [`config`]; the objects come from [`crate::source`].
pub mod config;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Instant;

use hickory_server::proto::rr::{Name, RecordType};

use crate::dns::query::{Scope, MAX_DEPTH};
use crate::dns::wire::{all_to_wire, rcode};
use crate::dns::{Answer, Directive, Next, Query, Served};
use crate::zone::{lookup, search, transfer, KubeOptions, Outcome, Rcode, Reply, Zone, ZoneHandle};

/// The `kubernetes` directive of one server block, ready to answer.
pub struct Kubernetes {
    options: KubeOptions,
    zone: ZoneHandle,
    /// Until this instant, questions wait for the first complete sync (`startup_timeout`);
    /// afterwards an unsynced zone answers name errors with SERVFAIL, never NXDOMAIN.
    startup_deadline: Option<Instant>,
}

impl Kubernetes {
    /// Answers from `zone` with `options`; waits for the first sync until `startup_deadline`.
    pub fn new(options: KubeOptions, zone: ZoneHandle, startup_deadline: Option<Instant>) -> Self {
        Self {
            options,
            zone,
            startup_deadline,
        }
    }

    /// CoreDNS's `Transferer`: zone `name` (lower-case, trailing dot) for `transfer`, from one
    /// snapshot; `serial` is an IXFR's, 0 for an AXFR. Before the first sync it waits as
    /// questions do (`startup_timeout`); a zone that never synced is `None`: no secondary
    /// should load an empty zone as the truth.
    pub async fn transfer(&self, name: &str, serial: u32) -> Option<transfer::Transfer> {
        if !self.options.zones.iter().any(|z| z == name) {
            return Some(transfer::Transfer::NotAuthoritative);
        }
        let snapshot = match self.startup_deadline {
            Some(deadline) => self.zone.wait_synced(deadline).await.1,
            None => self.zone.load(),
        };
        snapshot
            .synced
            .then(|| transfer::transfer(&self.options, &snapshot, name, serial))
    }

    /// What another directive of the block answers from (`k8s_external`): the options (with
    /// the server's addresses), the zone, the first-sync deadline.
    pub fn parts(&self) -> (KubeOptions, ZoneHandle, Option<Instant>) {
        (
            self.options.clone(),
            self.zone.clone(),
            self.startup_deadline,
        )
    }

    /// The search path of the client at `ip` asking `lower` (lower-case, trailing dot), for
    /// `autopath @kubernetes`: `None` when the name is not in this directive's zones, the
    /// client cannot be placed, or the name is not under the path's first element.
    /// `host` is the host's resolv.conf search list.
    pub fn search_path(&self, lower: &str, ip: IpAddr, host: &[String]) -> Option<Vec<String>> {
        search::search_path(&self.options, &self.zone.load(), lower, ip, host)
    }

    /// The answer from one snapshot; `None` passes the question on (fallthrough).
    fn reply(&self, snapshot: &Zone, q: &Query) -> Option<Reply> {
        match lookup::serve_lower(&self.options, snapshot, &q.text, &q.lower, q.qtype.into()) {
            Outcome::Next => None,
            Outcome::Reply(reply) => Some(reply),
        }
    }

    /// The zone's reply as a wire answer, with what the UDP path needs to replay it
    /// (`generation`: the zone's publish generation read before `snapshot` was loaded).
    fn answer(&self, generation: u64, snapshot: &Zone, q: &Query, reply: &Reply) -> Answer {
        let mut a = Answer::code(rcode(reply.rcode())).by("kubernetes");
        a.authoritative = reply.rcode() != Rcode::Refused;
        a.answers = all_to_wire(&reply.answer, &q.name);
        a.authority = all_to_wire(&reply.authority, &q.name);
        a.additional = all_to_wire(&reply.additional, &q.name);
        // A pure answer of the synced zone stays right until the zone generation changes: the
        // UDP path may replay it.
        a.cacheable = snapshot.synced
            && reply.chase.is_none()
            && matches!(reply.rcode(), Rcode::NoError | Rcode::NxDomain);
        // Where it came from, for the UDP path: the zone and the generation it was read at, and
        // what of the cluster decided it (one namespace, in this same snapshot, or nothing):
        // such an answer outlives changes elsewhere.
        a.scope = a.cacheable.then(|| {
            let negative = reply.answer.is_empty();
            Scope::of(
                &self.zone,
                (generation, snapshot),
                reply.scope.as_ref(),
                negative,
            )
        });
        a
    }

    /// Answers from `snapshot`: at once, or after asking the server for a CNAME's target.
    fn serve_from<'a>(
        &'a self,
        (generation, snapshot): (u64, &Zone),
        q: &'a Query,
        next: Next<'a>,
    ) -> Served<'a> {
        let Some(reply) = self.reply(snapshot, q) else {
            return next.answer(q);
        };
        let mut a = self.answer(generation, snapshot, q, &reply);
        let target = reply.chase.as_ref().filter(|_| q.depth < MAX_DEPTH);
        let Some(sub) = target.and_then(|(t, qt)| {
            let t = Name::from_ascii(t).ok()?;
            Some(q.follow(t, RecordType::from(*qt)))
        }) else {
            return Served::ready(a);
        };
        Served::later(async move {
            let got = next.resolve(&sub).await;
            a.answers.extend(got.answers);
            a
        })
    }
}

impl Directive for Kubernetes {
    fn name(&self) -> &'static str {
        "kubernetes"
    }

    fn serve<'a>(&'a self, q: &'a Query, next: Next<'a>) -> Served<'a> {
        when_synced(&self.zone, self.startup_deadline, move |at| {
            self.serve_from(at, q, next)
        })
    }
}

/// `serve` on the zone's snapshot (and the generation read before it): at once, or, while the
/// zone has not synced, once it has (waiting until `deadline` at most). The generation is read
/// before the snapshot: a replay never outlives a change (see
/// `ZoneHandle::load_with_generation`). `k8s_external` answers from the same zone this way.
pub fn when_synced<'a, F>(zone: &'a ZoneHandle, deadline: Option<Instant>, serve: F) -> Served<'a>
where
    F: for<'z> FnOnce((u64, &'z Zone)) -> Served<'a> + Send + 'a,
{
    let (generation, snapshot) = zone.load_with_generation();
    match deadline {
        Some(deadline) if !snapshot.synced => Served::later(async move {
            let (generation, snapshot): (u64, Arc<Zone>) = zone.wait_synced(deadline).await;
            serve((generation, &snapshot)).await
        }),
        _ => serve((generation, &snapshot)),
    }
}

#[cfg(test)]
mod tests;
