//! The reverse tree: which names are reverse names, and PTR answers (CoreDNS's reverse.go).
use std::net::IpAddr;

use super::ctx::Ctx;
use super::layered::Set;
use super::names::{endpoint_label, ip_from_reverse};
use super::qname::{Found, NameError};
use super::record::{Owner, RData, Record};

#[cfg(test)]
mod tests;

/// Is `name` (lower-case, absolute) inside a reverse zone, `….in-addr.arpa.` or
/// `….ip6.arpa.`? CoreDNS's `dnsutil.IsReverse`: the suffix starts at a label boundary, so
/// `in-addr.arpa.` itself is not.
pub(crate) fn is_reverse(name: &str) -> bool {
    name.ends_with(".in-addr.arpa.") || name.ends_with(".ip6.arpa.")
}

/// Is the zone `z` the reverse tree or inside it (`in-addr.arpa.` included, unlike
/// [`is_reverse`])? kdns never picks such a zone as the `kubernetes` primary zone.
pub(crate) fn is_reverse_zone(z: &str) -> bool {
    z == "in-addr.arpa." || z == "ip6.arpa." || is_reverse(z)
}

impl Ctx<'_> {
    /// PTR (reverse.go): the names of the address, else what the name is outside the
    /// reverse tree.
    pub(super) fn ptr(&self, name: &str) -> Found<Vec<Record>> {
        let Some(ip) = ip_from_reverse(name) else {
            self.records(name)?;
            return Ok(Vec::new());
        };
        let hosts = self.reverse_hosts(&ip);
        if hosts.is_empty() {
            return Err(NameError);
        }
        let mut out: Vec<Record> = Vec::new();
        let mut seen = Set::default();
        for h in hosts {
            if seen.insert(h.clone()) {
                out.push(Record {
                    owner: Owner::Query,
                    ttl: self.opts.ttl,
                    data: RData::Ptr(h),
                });
            }
        }
        Ok(out)
    }

    /// reverse.go `serviceRecordForIP`: the first service with this ClusterIP, else every
    /// endpoint with this address.
    fn reverse_hosts(&self, ip: &IpAddr) -> Vec<String> {
        let primary = &self.opts.zones[self.opts.primary_zone];
        let filter = !self.opts.namespaces.is_empty();
        if let Some(keys) = self.zone.svc_by_ip.get(ip) {
            for key in keys {
                let Some(svc) = self.zone.service(key) else {
                    continue;
                };
                if filter && !self.namespace_exposed(&svc.namespace) {
                    continue;
                }
                return vec![format!("{}.{}.svc.{primary}", svc.name, svc.namespace)];
            }
        }
        let mut out = Vec::new();
        if let Some(keys) = self.zone.ep_by_ip.get(ip) {
            for key in keys {
                let ns = key.split_once('.').map(|(_, ns)| ns).unwrap_or("");
                if filter && !self.namespace_exposed(ns) {
                    continue;
                }
                for slice in self.zone.slices(key) {
                    for e in slice.endpoints.iter().filter(|e| e.ip == *ip) {
                        let label = endpoint_label(e, self.opts.endpoint_pod_names);
                        out.push(format!("{label}.{key}.svc.{primary}"));
                    }
                }
            }
        }
        out
    }
}
