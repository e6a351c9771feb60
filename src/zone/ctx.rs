//! One question being answered ([`Ctx`]: the snapshot, the options, the matched zone) and
//! what a name stands for before it becomes records ([`Item`], CoreDNS's `msg.Service`).
use std::net::IpAddr;

use super::model::Service;
use super::names::concat;
use super::options::KubeOptions;
use super::record::{Owner, RData, Record, Soa};
use super::snapshot::Zone;

/// CoreDNS's `msg.Service`: one thing a name resolves to.
#[derive(Debug, Clone)]
pub(super) struct Item {
    /// What it resolves to.
    pub(super) host: Host,
    /// The port (SRV); 0 when none, -1 for a slice without ports.
    pub(super) port: i32,
    /// The TTL of records built from it.
    pub(super) ttl: u32,
    /// The name this item is known by (SRV target, NS name), absolute.
    pub(super) key: String,
}

/// The target of an [`Item`].
#[derive(Debug, Clone)]
pub(super) enum Host {
    /// An address (A/AAAA, SRV additional records).
    Ip(IpAddr),
    /// A name (an ExternalName's CNAME target), absolute.
    Name(String),
    /// A text (TXT).
    Text(&'static str),
}

/// One question being answered: the snapshot, the options and the matched zone.
pub(super) struct Ctx<'a> {
    /// The directive's options.
    pub(super) opts: &'a KubeOptions,
    /// The snapshot answered from.
    pub(super) zone: &'a Zone,
    /// Matched zone, lower-case.
    pub(super) zl: &'a str,
    /// Matched zone as the question wrote it.
    pub(super) zq: &'a str,
    /// Build the names items are known by (SRV targets): only SRV answers read them, so
    /// A/AAAA and the rest skip that string work.
    pub(super) keys: bool,
    /// The zone is a `multicluster` one: names stand for ServiceImports.
    pub(super) mc: bool,
}

impl Ctx<'_> {
    /// The zone's SOA record (authority of negative answers, the apex SOA).
    pub(super) fn soa(&self) -> Record {
        let ttl = self.opts.ttl;
        Record {
            owner: Owner::Name(self.zq.to_string()),
            ttl: ttl.min(300),
            data: RData::Soa(Soa {
                mname: concat(&["ns.dns.", self.zq]),
                rname: concat(&["hostmaster.", self.zq]),
                serial: match self.mc {
                    true => self.zone.mc_serial,
                    false => self.zone.serial,
                },
                refresh: 7200,
                retry: 1800,
                expire: 86400,
                minimum: ttl,
            }),
        }
    }

    /// Exists and is exposed (`namespaces`).
    pub(super) fn namespace_exposed(&self, ns: &str) -> bool {
        (self.opts.namespaces.is_empty() || self.opts.namespaces.iter().any(|n| n == ns))
            && self.zone.namespace(ns).is_some()
    }

    /// An item's name when the answer needs it, else an empty (non-allocating) string.
    pub(super) fn key(&self, make: impl FnOnce() -> String) -> String {
        if self.keys {
            make()
        } else {
            String::new()
        }
    }

    /// `service.namespace.svc.ZONE`, the zone as the question wrote it.
    pub(super) fn svc_name(&self, svc: &Service) -> String {
        concat(&[&svc.name, ".", &svc.namespace, ".svc.", self.zq])
    }
}
