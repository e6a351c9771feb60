//! A zone transfer of the cluster zone ([`transfer`]): every record of one snapshot, in the
//! order CoreDNS's `kubernetes` plugin sends them (plugin/kubernetes/xfr.go of CoreDNS 1.14.7).
//!
//! ```text
//! SOA
//! NS ZONE → each name of ns.dns.ZONE's addresses (once per name), then those addresses (TTL 0)
//! per Service, by name (then namespace), in namespaces the directive exposes:
//!   ClusterIP: A/AAAA per cluster IP; per port an SRV at the service name (weight 100),
//!              and for a named port one at _PORT._PROTO (weight 100)
//!   headless:  per ready endpoint: A/AAAA at the service name and at LABEL.SERVICE; per named
//!              port an SRV at _PORT._PROTO to LABEL.SERVICE (weight 100 / endpoints of its slice)
//!   ExternalName: a CNAME to its target (none when the target is an address)
//! SOA
//! ```
//!
//! Pods, PTR records and `dns-version` are not part of it (CoreDNS sends none either). An IXFR
//! whose serial is the zone's gets the SOA alone; any other serial the whole zone (CoreDNS's
//! AXFR fallback: it keeps no history of changes).
use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;

use super::ctx::{Ctx, Host};
use super::model::{Service, ServiceKind};
use super::names::endpoint_label;
use super::options::KubeOptions;
use super::record::{Owner, RData, Record};
use super::snapshot::Zone;

#[cfg(test)]
mod tests;

/// What a transfer of one zone gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transfer {
    /// The name is not one of the directive's zones: another directive may have it.
    NotAuthoritative,
    /// An IXFR from the zone's own serial: the secondary is up to date; the SOA alone.
    UpToDate(Record),
    /// The whole zone, SOA first and last.
    Full(Vec<Record>),
}

/// The transfer of zone `name` (lower-case, trailing dot; one of `opts.zones` exactly) from
/// `zone`. `serial` is an IXFR's serial, 0 for an AXFR.
///
/// CoreDNS also transfers a name *below* one of its zones (as if it were a zone of its own,
/// with an SOA and records named under it); kdns does not: such a name is not authoritative.
pub fn transfer(opts: &KubeOptions, zone: &Zone, name: &str, serial: u32) -> Transfer {
    let Some(zl) = opts.zones.iter().find(|z| z.as_str() == name) else {
        return Transfer::NotAuthoritative;
    };
    // A `multicluster` zone is not transferred: its records are the cluster set's imports,
    // which this transfer (the cluster's Services) does not hold.
    if opts.multicluster.iter().any(|m| m == zl) {
        return Transfer::NotAuthoritative;
    }
    let cx = Ctx {
        opts,
        zone,
        zl,
        zq: zl,
        keys: true,
        mc: false,
    };
    let soa = cx.soa();
    if serial != 0 && serial == zone.serial {
        return Transfer::UpToDate(soa);
    }
    let mut out = vec![soa.clone()];
    cx.name_servers(&mut out);
    let mut services: Vec<&Arc<Service>> = zone
        .services
        .iter()
        .map(|(_, s)| s)
        .filter(|s| cx.namespace_exposed(&s.namespace))
        .collect();
    // CoreDNS sorts by name alone (ties in no fixed order); the namespace breaks ties here.
    services.sort_unstable_by(|a, b| (&a.name, &a.namespace).cmp(&(&b.name, &b.namespace)));
    for svc in services {
        cx.service_records(svc, &mut out);
    }
    out.push(soa);
    Transfer::Full(out)
}

/// A record named `owner` (absolute).
fn rec(owner: &str, ttl: u32, data: RData) -> Record {
    Record {
        owner: Owner::Name(owner.to_string()),
        ttl,
        data,
    }
}

/// The address record of `ip`.
fn addr(ip: IpAddr) -> RData {
    match ip {
        IpAddr::V4(v4) => RData::A(v4),
        IpAddr::V6(v6) => RData::Aaaa(v6),
    }
}

/// CoreDNS's `calcSRVWeight`: an equal share of 100 among `n` endpoints, at least 1.
pub(crate) fn srv_weight(n: usize) -> u16 {
    let n = n.max(1) as f64;
    (((100.0 / (100.0 * n)) * 100.0).floor() as u16).max(1)
}

/// `_PORT._PROTO.` in lower case.
fn port_prefix(name: &str, protocol: &str) -> String {
    format!("_{name}._{protocol}.").to_ascii_lowercase()
}

impl Ctx<'_> {
    /// The apex NS records (one per name of `ns.dns.ZONE`'s addresses), then those addresses
    /// with TTL 0, as CoreDNS sends its `nsAddrs` records.
    fn name_servers(&self, out: &mut Vec<Record>) {
        let items = self.ns_addrs();
        let mut seen = HashSet::new();
        for i in &items {
            if seen.insert(i.key.as_str()) {
                out.push(rec(self.zl, self.opts.ttl, RData::Ns(i.key.clone())));
            }
        }
        for i in items {
            if let Host::Ip(ip) = i.host {
                out.push(rec(&i.key, 0, addr(ip)));
            }
        }
    }

    /// The records of one Service.
    fn service_records(&self, svc: &Service, out: &mut Vec<Record>) {
        let ttl = self.opts.ttl;
        let name = self.svc_name(svc);
        match &svc.kind {
            ServiceKind::ClusterIp(ips) => {
                for ip in ips {
                    out.push(rec(&name, ttl, addr(*ip)));
                }
                for p in svc.ports.iter().filter(|p| (0..=65535).contains(&p.port)) {
                    let srv = || RData::Srv {
                        priority: 0,
                        weight: 100,
                        port: p.port as u16,
                        target: name.clone(),
                    };
                    out.push(rec(&name, ttl, srv()));
                    if !p.name.is_empty() {
                        let owner = port_prefix(&p.name, &p.protocol) + &name;
                        out.push(rec(&owner, ttl, srv()));
                    }
                }
            }
            ServiceKind::Headless => self.endpoint_records(svc, &name, out),
            ServiceKind::ExternalName(target) => {
                if target.parse::<IpAddr>().is_err() {
                    let mut t = target.to_string();
                    if !t.ends_with('.') {
                        t.push('.');
                    }
                    out.push(rec(&name, ttl, RData::Cname(t)));
                }
            }
        }
    }

    /// A headless Service's ready endpoints, slice by slice.
    fn endpoint_records(&self, svc: &Service, name: &str, out: &mut Vec<Record>) {
        let ttl = self.opts.ttl;
        let key = format!("{}.{}", svc.name, svc.namespace);
        for slice in self.zone.slices(&key) {
            let weight = srv_weight(slice.endpoints.len());
            for ep in &slice.endpoints {
                out.push(rec(name, ttl, addr(ep.ip)));
                let host = format!(
                    "{}.{name}",
                    endpoint_label(ep, self.opts.endpoint_pod_names)
                );
                out.push(rec(&host, ttl, addr(ep.ip)));
                let named = slice.ports.iter().filter(|p| !p.name.is_empty());
                for p in named.filter(|p| (0..=65535).contains(&p.port)) {
                    let owner = port_prefix(&p.name, &p.protocol) + name;
                    let data = RData::Srv {
                        priority: 0,
                        weight,
                        port: p.port as u16,
                        target: host.clone(),
                    };
                    out.push(rec(&owner, ttl, data));
                }
            }
        }
    }
}
