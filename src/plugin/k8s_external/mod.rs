//! `k8s_external`: Services' outside addresses (`spec.externalIPs`, load balancer ingress
//! points) under a zone of their own, as CoreDNS 1.14.7's k8s_external plugin answers them.
//!
//! It reads the snapshot of the `kubernetes` directive of its server block (the same objects,
//! the same `namespaces`, `endpoint_pod_names`, TTL and server addresses); the rules of the
//! answer live in the zone core ([`crate::zone::external`]). This directive connects them to
//! the chain: it waits for the first sync as `kubernetes` does, asks the whole server for the
//! targets of load balancer hostnames (CoreDNS's upstream lookup) and splices in what it
//! answers, and says how long the UDP path may replay an answer. Its options are parsed in
//! [`config`]. CoreDNS has no metrics of its own for it; its answers count under
//! `plugin="k8s_external"`.
pub mod config;

use std::time::Instant;

use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::{Name, Record, RecordType};

use crate::dns::query::{Scope, MAX_DEPTH};
use crate::dns::wire::{all_to_wire, rcode, to_wire};
use crate::dns::{Answer, Directive, Next, Query, Served};
use crate::plugin::kubernetes::when_synced;
use crate::zone::external::{self, ExternalOptions, ExternalOutcome, ExternalReply, Part};
use crate::zone::{KubeOptions, Rcode, Zone, ZoneHandle};
use config::K8sExternalConfig;

const NAME: &str = "k8s_external";

/// `k8s_external` in a chain, reading the zone of its block's `kubernetes`.
pub struct K8sExternal {
    options: ExternalOptions,
    kube: KubeOptions,
    zone: ZoneHandle,
    /// Until this instant questions wait for the first sync (`kubernetes`'s `startup_timeout`).
    startup_deadline: Option<Instant>,
}

impl K8sExternal {
    /// Answers from `zone`, the snapshot of the block's `kubernetes` with options `kube` (its
    /// server addresses filled in), waiting for the first sync until `startup_deadline`.
    pub fn new(
        c: &K8sExternalConfig,
        kube: KubeOptions,
        zone: ZoneHandle,
        startup_deadline: Option<Instant>,
    ) -> Self {
        Self {
            options: c.options.clone(),
            kube,
            zone,
            startup_deadline,
        }
    }

    /// Answers from one snapshot: at once, or after asking the server about hostnames.
    fn serve_from<'a>(
        &'a self,
        (generation, snapshot): (u64, &Zone),
        q: &'a Query,
        next: Next<'a>,
    ) -> Served<'a> {
        let qt = u16::from(q.qtype);
        let reply = match external::serve(&self.options, &self.kube, snapshot, &q.text, qt) {
            ExternalOutcome::Next => return next.answer(q),
            ExternalOutcome::Reply(r) => r,
        };
        let mut a = Answer::code(rcode(reply.rcode.unwrap_or(Rcode::NoError))).by(NAME);
        a.authoritative = true;
        a.authority = all_to_wire(&reply.authority, &q.name);
        let lookups = reply
            .answer
            .iter()
            .chain(&reply.additional)
            .any(|p| matches!(p, Part::Lookup(..)));
        if !lookups {
            a.answers = records(&reply.answer, &q.name);
            a.additional = records(&reply.additional, &q.name);
            a.cacheable = snapshot.synced && a.rcode != ResponseCode::ServFail;
            a.scope = a
                .cacheable
                .then(|| Scope::of(&self.zone, (generation, snapshot), None, false));
            return Served::ready(a);
        }
        Served::later(async move {
            let ExternalReply {
                answer, additional, ..
            } = reply;
            a.answers = resolved(answer, q, next).await;
            a.additional = resolved(additional, q, next).await;
            a
        })
    }
}

/// The records of a section without lookups.
fn records(parts: &[Part], query: &Name) -> Vec<Record> {
    parts
        .iter()
        .filter_map(|p| match p {
            Part::Record(r) => to_wire(r, query),
            Part::Lookup(..) => None,
        })
        .collect()
}

/// A section with each lookup replaced by the answer records the server gives for it (none
/// when the name does not parse or the question is already deep in lookups).
async fn resolved(parts: Vec<Part>, q: &Query, next: Next<'_>) -> Vec<Record> {
    let mut out = Vec::new();
    for p in parts {
        match p {
            Part::Record(r) => out.extend(to_wire(&r, &q.name)),
            Part::Lookup(name, qt) => {
                let Ok(name) = Name::from_ascii(&name) else {
                    continue;
                };
                if q.depth >= MAX_DEPTH {
                    continue;
                }
                let sub = q.follow(name, RecordType::from(qt));
                out.extend(next.resolve(&sub).await.answers);
            }
        }
    }
    out
}

impl Directive for K8sExternal {
    fn name(&self) -> &'static str {
        NAME
    }

    fn serve<'a>(&'a self, q: &'a Query, next: Next<'a>) -> Served<'a> {
        when_synced(&self.zone, self.startup_deadline, move |at| {
            self.serve_from(at, q, next)
        })
    }
}

#[cfg(test)]
mod tests;
