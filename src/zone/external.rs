//! The `k8s_external` zone: Services' outside addresses under a zone of their own, answered as
//! CoreDNS 1.14.7's k8s_external plugin does with the kubernetes plugin's `External()`,
//! `ExternalAddress()` and `ExternalSerial()` (external.go, apex.go, msg_to_dns.go of
//! plugin/k8s_external; external.go, ns.go of plugin/kubernetes).
//!
//! Names are `SERVICE.NAMESPACE.ZONE`, `_PORT._PROTO.SERVICE.NAMESPACE.ZONE` and, with
//! `headless`, `ENDPOINT.SERVICE.NAMESPACE.ZONE`. A Service answers with its `spec.externalIPs`
//! and load balancer ingress points (an ingress `hostname` is a CNAME whose target the server
//! is asked for: a [`Part::Lookup`]); with `headless`, a headless Service without outside
//! addresses answers with its ready endpoints. The apex has SOA and NS, `ns1.APEX.ZONE` the
//! server's addresses. Only A, AAAA, SRV and (in a reverse zone) PTR have records; every other
//! type is NODATA.
use std::net::IpAddr;
use std::sync::Arc;

use super::layered::Set;
use super::model::{External, Port, Service, ServiceKind};
use super::names::{endpoint_label, ip_from_reverse, longest_zone, strip_zone};
use super::options::{Fallthrough, KubeOptions};
use super::record::{qtype, Owner, RData, Rcode, Record, Soa};
use super::snapshot::Zone;

#[cfg(test)]
mod tests;

/// The options of one `k8s_external` directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalOptions {
    /// Zones, lower-case with a trailing dot, in Corefile order (PTR targets use the first).
    pub zones: Vec<String>,
    /// `apex`: the label below the zone that holds the name server (`ns1.APEX.ZONE`).
    pub apex: String,
    /// `ttl`: the TTL of addresses, the SOA and the NS (0 to 3600, default 5).
    pub ttl: u32,
    /// `headless`: headless Services answer with their endpoints.
    pub headless: bool,
    /// `fallthrough [ZONES…]`: which name errors pass on to the next directive.
    pub fallthrough: Fallthrough,
}

impl Default for ExternalOptions {
    fn default() -> Self {
        Self {
            zones: Vec::new(),
            apex: "dns".into(),
            ttl: 5,
            headless: false,
            fallthrough: Fallthrough::Off,
        }
    }
}

/// One piece of an answer section: a record, or the place of the records the server gives
/// for a question it is asked while answering (CoreDNS's `upstream.Lookup`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// A record.
    Record(Record),
    /// The answer records of `(name, qtype)` asked of the whole server (absolute name).
    Lookup(String, u16),
}

/// A `k8s_external` answer.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExternalReply {
    /// The response code (`None`: NOERROR).
    pub rcode: Option<Rcode>,
    /// The answer section.
    pub answer: Vec<Part>,
    /// The authority section (the SOA of negative answers).
    pub authority: Vec<Record>,
    /// The additional section (SRV targets' and the name server's addresses).
    pub additional: Vec<Part>,
}

/// What `k8s_external` does with one question.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExternalOutcome {
    /// Not in its zones, or a name error under `fallthrough`: the next directive's.
    Next,
    /// An authoritative answer.
    Reply(ExternalReply),
}

/// CoreDNS's `msg.Service` of an outside address: what a name stands for.
#[derive(Debug, Clone)]
struct Item {
    /// An address, or a name (a CNAME target).
    host: External,
    /// The port (-1: a Service without ports; no SRV record).
    port: i32,
    /// The SRV target of an address: `SERVICE.NAMESPACE.ZONE.` or
    /// `ENDPOINT.SERVICE.NAMESPACE.ZONE.`.
    target: String,
}

/// One question being answered.
struct Ext<'a> {
    opts: &'a ExternalOptions,
    kube: &'a KubeOptions,
    zone: &'a Zone,
    /// The matched zone (as configured: lower-case).
    zl: &'a str,
    /// The question's name as written.
    qname: &'a str,
    qt: u16,
}

/// Answers `qname` (as the client wrote it, absolute) for `qt` from `zone`, the snapshot of the
/// `kubernetes` directive whose options are `kube`.
pub fn serve(
    opts: &ExternalOptions,
    kube: &KubeOptions,
    zone: &Zone,
    qname: &str,
    qt: u16,
) -> ExternalOutcome {
    let lower = qname.to_ascii_lowercase();
    let Some(zl) = longest_zone(&opts.zones, &lower) else {
        return ExternalOutcome::Next;
    };
    let x = Ext {
        opts,
        kube,
        zone,
        zl,
        qname,
        qt,
    };
    for z in &opts.zones {
        if lower == *z {
            return ExternalOutcome::Reply(x.apex());
        }
        if strip_zone(&lower, &join(&opts.apex, z)).is_some() {
            return ExternalOutcome::Reply(x.sub_apex(&lower));
        }
    }
    let (items, rcode) = x.items(&lower);
    if items.is_empty() {
        if rcode == Rcode::NxDomain && opts.fallthrough.through(&lower) {
            return ExternalOutcome::Next;
        }
        let rcode = match rcode {
            Rcode::NxDomain if !zone.synced => Rcode::ServFail,
            r => r,
        };
        return ExternalOutcome::Reply(x.negative(rcode));
    }
    let mut reply = ExternalReply::default();
    match qt {
        qtype::A | qtype::AAAA => reply.answer = x.addresses(&items),
        qtype::SRV => (reply.answer, reply.additional) = x.srv(&items),
        qtype::PTR => reply.answer = x.ptr(&items),
        _ => {}
    }
    if reply.answer.is_empty() {
        reply.authority = vec![x.soa()];
    }
    ExternalOutcome::Reply(reply)
}

/// `label.zone` (`zone` absolute; below the root, `label.`), as `dnsutil.Join`.
fn join(label: &str, zone: &str) -> String {
    if zone == "." {
        format!("{label}.")
    } else {
        format!("{label}.{zone}")
    }
}

/// `name` with a trailing dot.
fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

/// The address record of `ip`.
fn ip_rdata(ip: IpAddr) -> RData {
    match ip {
        IpAddr::V4(v4) => RData::A(v4),
        IpAddr::V6(v6) => RData::Aaaa(v6),
    }
}

/// Does a port match the question's `_PORT._PROTO` (either may be empty: any)?
fn port_matches(want_port: &str, want_proto: &str, p: &Port) -> bool {
    (want_port.is_empty() || want_port.eq_ignore_ascii_case(&p.name))
        && (want_proto.is_empty() || want_proto.eq_ignore_ascii_case(&p.protocol))
}

/// A label without its leading underscore.
fn strip_underscore(s: &str) -> &str {
    s.strip_prefix('_').unwrap_or(s)
}

/// The question below the zone: `[ENDPOINT.|_PORT._PROTO.]SERVICE.NAMESPACE`.
#[derive(Default)]
struct Req<'a> {
    endpoint: &'a str,
    port: &'a str,
    protocol: &'a str,
}

impl Ext<'_> {
    /// A record of the question's name.
    fn record(&self, ttl: u32, data: RData) -> Record {
        Record {
            owner: Owner::Query,
            ttl,
            data,
        }
    }

    /// The zone's SOA (apex.go `soa`): `ns1.APEX.ZONE`, `hostmaster.APEX.ZONE`.
    fn soa(&self) -> Record {
        let (zone, apex, ttl) = (self.zl, &self.opts.apex, self.opts.ttl);
        Record {
            owner: Owner::Name(zone.to_string()),
            ttl,
            data: RData::Soa(Soa {
                mname: join(&format!("ns1.{apex}"), zone),
                rname: join(&format!("hostmaster.{apex}"), zone),
                serial: self.zone.serial,
                refresh: 7200,
                retry: 1800,
                expire: 86400,
                minimum: ttl,
            }),
        }
    }

    /// A negative answer: `rcode` and the SOA.
    fn negative(&self, rcode: Rcode) -> ExternalReply {
        ExternalReply {
            rcode: Some(rcode),
            authority: vec![self.soa()],
            ..ExternalReply::default()
        }
    }

    /// The apex (apex.go `serveApex`): SOA; NS `ns1.APEX.ZONE` with the server's addresses;
    /// NODATA for the rest.
    fn apex(&self) -> ExternalReply {
        let mut r = ExternalReply::default();
        match self.qt {
            qtype::SOA => r.answer = vec![Part::Record(self.soa())],
            qtype::NS => {
                let ns = join(&format!("ns1.{}", self.opts.apex), self.zl);
                r.answer = vec![Part::Record(Record {
                    owner: Owner::Name(self.zl.to_string()),
                    ttl: self.opts.ttl,
                    data: RData::Ns(ns),
                })];
                // Named after the question as written, as CoreDNS does.
                let owner = join(&format!("ns1.{}", self.opts.apex), self.qname);
                r.additional = self
                    .ns_addrs()
                    .into_iter()
                    .map(|ip| {
                        Part::Record(Record {
                            owner: Owner::Name(owner.clone()),
                            ttl: self.opts.ttl,
                            data: ip_rdata(ip),
                        })
                    })
                    .collect();
            }
            _ => r.authority = vec![self.soa()],
        }
        r
    }

    /// Below `APEX.ZONE` (apex.go `serveSubApex`): `APEX.ZONE` is NODATA, `ns1.APEX.ZONE` has
    /// the server's addresses, anything else is NXDOMAIN.
    fn sub_apex(&self, lower: &str) -> ExternalReply {
        let base = strip_zone(lower, self.zl).unwrap_or("");
        let labels: Vec<&str> = base.split('.').filter(|l| !l.is_empty()).collect();
        match labels.as_slice() {
            [_] => self.negative(Rcode::NoError),
            ["ns1", _] => {
                let answer: Vec<Part> = self
                    .ns_addrs()
                    .into_iter()
                    .filter(|ip| match ip {
                        IpAddr::V4(_) => self.qt == qtype::A,
                        IpAddr::V6(_) => self.qt == qtype::AAAA,
                    })
                    .map(|ip| Part::Record(self.record(self.opts.ttl, ip_rdata(ip))))
                    .collect();
                if answer.is_empty() {
                    return self.negative(Rcode::NoError);
                }
                ExternalReply {
                    answer,
                    ..ExternalReply::default()
                }
            }
            _ => self.negative(Rcode::NxDomain),
        }
    }

    /// The server's own addresses (ns.go `nsAddrs` for the external zone): the outside
    /// addresses of the Services whose endpoints hold one of our local addresses (their
    /// endpoints, for a headless one with `headless`), else the local addresses themselves.
    fn ns_addrs(&self) -> Vec<IpAddr> {
        let mut found = false;
        let mut out = Vec::new();
        for local in &self.kube.local_ips {
            let Some(keys) = self.zone.ep_by_ip.get(local) else {
                continue;
            };
            for key in keys {
                found = true;
                let Some(svc) = self.zone.service(key) else {
                    continue;
                };
                if self.opts.headless && svc.kind == ServiceKind::Headless {
                    let slices = self.zone.slices(key).iter();
                    let holding = slices.filter(|s| s.endpoints.iter().any(|e| e.ip == *local));
                    out.extend(holding.flat_map(|s| s.endpoints.iter().map(|e| e.ip)));
                } else {
                    out.extend(svc.external.iter().filter_map(|e| match e {
                        External::Ip(ip) => Some(*ip),
                        External::Name(_) => None,
                    }));
                }
            }
        }
        if found {
            out
        } else {
            self.kube.local_ips.clone()
        }
    }

    /// Is the namespace served (`namespaces` of `kubernetes`) and does it exist?
    fn namespace_exposed(&self, ns: &str) -> bool {
        let listed = &self.kube.namespaces;
        (listed.is_empty() || listed.iter().any(|n| n == ns)) && self.zone.namespace(ns).is_some()
    }

    /// What a name stands for, and the rcode when it stands for nothing (the kubernetes
    /// plugin's `External()`).
    fn items(&self, lower: &str) -> (Vec<Item>, Rcode) {
        if self.qt == qtype::PTR {
            if let Some(ip) = ip_from_reverse(lower) {
                let items = self.reverse(ip);
                let rcode = if items.is_empty() {
                    Rcode::NxDomain
                } else {
                    Rcode::NoError
                };
                return (items, rcode);
            }
        }
        let base = strip_zone(lower, self.zl).unwrap_or("");
        let segs: Vec<&str> = base.split('.').collect();
        let Some((&namespace, rest)) = segs.split_last() else {
            return (Vec::new(), Rcode::ServFail);
        };
        if !self.namespace_exposed(namespace) {
            return (Vec::new(), Rcode::NxDomain);
        }
        let Some((&service, rest)) = rest.split_last() else {
            return (Vec::new(), Rcode::NoError);
        };
        let req = match rest {
            [] => Req::default(),
            [endpoint] => Req {
                endpoint: strip_underscore(endpoint),
                ..Req::default()
            },
            [port, protocol] => Req {
                port: strip_underscore(port),
                protocol: strip_underscore(protocol),
                ..Req::default()
            },
            _ => return (Vec::new(), Rcode::NxDomain),
        };
        let items = self.find(service, namespace, &req);
        // A PTR question outside the reverse tree: only whether the name exists.
        match (items.is_empty(), self.qt == qtype::PTR) {
            (true, _) => (items, Rcode::NxDomain),
            (false, true) => (Vec::new(), Rcode::NoError),
            (false, false) => (items, Rcode::NoError),
        }
    }

    /// The items of `SERVICE.NAMESPACE` for the question's endpoint, port and protocol.
    fn find(&self, service: &str, namespace: &str, req: &Req<'_>) -> Vec<Item> {
        let key = format!("{service}.{namespace}");
        let Some(svc) = self.zone.service(&key) else {
            return Vec::new();
        };
        let base = join(&format!("{}.{}", svc.name, svc.namespace), self.zl);
        if self.opts.headless
            && svc.external.is_empty()
            && (svc.kind == ServiceKind::Headless || !req.endpoint.is_empty())
        {
            return self.endpoints(&key, &base, req);
        }
        let sentinel = [Port {
            name: Arc::from(""),
            port: -1,
            protocol: Arc::from(""),
        }];
        let ports = if svc.ports.is_empty() {
            &sentinel[..]
        } else {
            &svc.ports[..]
        };
        let mut out = Vec::new();
        for host in &svc.external {
            for p in ports
                .iter()
                .filter(|p| port_matches(req.port, req.protocol, p))
            {
                out.push(Item {
                    host: host.clone(),
                    port: p.port,
                    target: base.clone(),
                });
            }
        }
        out
    }

    /// The ready endpoints of a headless Service (`headless`) that match the question.
    fn endpoints(&self, key: &str, base: &str, req: &Req<'_>) -> Vec<Item> {
        let mut out = Vec::new();
        for slice in self.zone.slices(key) {
            for ep in &slice.endpoints {
                let label = endpoint_label(ep, self.kube.endpoint_pod_names);
                if !req.endpoint.is_empty() && !req.endpoint.eq_ignore_ascii_case(&label) {
                    continue;
                }
                for p in slice.ports.iter() {
                    if port_matches(req.port, req.protocol, p) {
                        out.push(Item {
                            host: External::Ip(ep.ip),
                            port: p.port,
                            target: format!("{label}.{base}"),
                        });
                    }
                }
            }
        }
        out
    }

    /// The Services with `ip` among their outside addresses, in namespaces that are served
    /// (`ExternalReverse`); their `SERVICE.NAMESPACE` is the PTR target below the first zone.
    fn reverse(&self, ip: IpAddr) -> Vec<Item> {
        let mut found: Vec<&Arc<Service>> = self
            .zone
            .services
            .values()
            .filter(|s| s.external.contains(&External::Ip(ip)))
            .filter(|s| {
                let listed = &self.kube.namespaces;
                listed.is_empty() || listed.iter().any(|n| **n == *s.namespace)
            })
            .collect();
        found.sort_by(|a, b| (&a.namespace, &a.name).cmp(&(&b.namespace, &b.name)));
        found
            .into_iter()
            .map(|s| Item {
                host: External::Name(Arc::from(format!("{}.{}", s.name, s.namespace))),
                port: 0,
                target: String::new(),
            })
            .collect()
    }

    /// A or AAAA (msg_to_dns.go `a`/`aaaa`): the addresses of the family asked, each once; a
    /// name is a CNAME (one per item, as CoreDNS) followed by what the server answers for it.
    fn addresses(&self, items: &[Item]) -> Vec<Part> {
        let mut seen = Set::default();
        let mut out = Vec::new();
        for item in items {
            match &item.host {
                External::Name(n) => {
                    let target = fqdn(n);
                    let cname = self.record(self.kube.ttl, RData::Cname(target.clone()));
                    out.push(Part::Record(cname));
                    out.push(Part::Lookup(target, self.qt));
                }
                External::Ip(ip) => {
                    let family = match ip {
                        IpAddr::V4(_) => qtype::A,
                        IpAddr::V6(_) => qtype::AAAA,
                    };
                    if family == self.qt && seen.insert(*ip) {
                        out.push(Part::Record(self.record(self.opts.ttl, ip_rdata(*ip))));
                    }
                }
            }
        }
        out
    }

    /// SRV (msg_to_dns.go `srv`): an equal weight for every item (those without a port
    /// count too); an address's target is its name in this zone, with the address as an
    /// additional record; a name's target is the name, with what the server answers for its
    /// A and AAAA as additional records.
    fn srv(&self, items: &[Item]) -> (Vec<Part>, Vec<Part>) {
        let weight = ((100.0 / (100.0 * items.len() as f64)) * 100.0).floor() as u16;
        let weight = weight.max(1);
        let mut seen_srv: Set<(String, i32)> = Set::default();
        let mut seen_addr: Set<(String, String)> = Set::default();
        let (mut answer, mut extra) = (Vec::new(), Vec::new());
        for item in items.iter().filter(|i| i.port != -1) {
            let target = match &item.host {
                External::Name(n) => fqdn(n),
                External::Ip(_) => fqdn(&item.target),
            };
            if seen_srv.insert((target.clone(), item.port)) {
                let data = RData::Srv {
                    priority: 0,
                    weight,
                    port: item.port as u16,
                    target: target.clone(),
                };
                answer.push(Part::Record(self.record(self.kube.ttl, data)));
            }
            match &item.host {
                External::Name(n) => {
                    if seen_addr.insert((target.clone(), fqdn(n))) {
                        extra.push(Part::Lookup(target.clone(), qtype::A));
                        extra.push(Part::Lookup(target, qtype::AAAA));
                    }
                }
                External::Ip(ip) => {
                    if seen_addr.insert((target.clone(), ip.to_string())) {
                        extra.push(Part::Record(Record {
                            owner: Owner::Name(target),
                            ttl: self.opts.ttl,
                            data: ip_rdata(*ip),
                        }));
                    }
                }
            }
        }
        (answer, extra)
    }

    /// PTR (msg_to_dns.go `ptr`): `SERVICE.NAMESPACE.FIRST-ZONE` of each Service, once.
    fn ptr(&self, items: &[Item]) -> Vec<Part> {
        let first = self.opts.zones.first().map_or(".", String::as_str);
        let mut seen = Set::default();
        let mut out = Vec::new();
        for item in items {
            let External::Name(host) = &item.host else {
                continue;
            };
            if seen.insert(host.clone()) {
                let target = join(host, first);
                out.push(Part::Record(self.record(self.opts.ttl, RData::Ptr(target))));
            }
        }
        out
    }
}
