//! Answering one question from a [`Zone`] snapshot, with the rules of CoreDNS's `kubernetes`
//! plugin (handler.go, kubernetes.go, parse.go, reverse.go, ns.go and backend_lookup.go of
//! CoreDNS 1.14): the same records, the same NXDOMAIN/NODATA split, the same SOA.
//!
//! Matching is case-insensitive; answers use the question's name as written and the zone part
//! of SRV/NS targets in the question's case, as CoreDNS does.
use std::collections::HashSet;
use std::net::IpAddr;

use super::model::{Endpoint, Service, ServiceKind};
use super::names::{dashed_ip, ip_from_reverse, parse_dashed_ip, strip_zone};
use super::record::{qtype, Outcome, RData, Rcode, Record, Reply, Soa};
use super::store::Zone;
use super::Owner;

/// `pods disabled|insecure|verified`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PodMode {
    #[default]
    Disabled,
    Insecure,
    Verified,
}

/// `fallthrough [ZONES…]`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Fallthrough {
    #[default]
    Off,
    /// Every name (no zones given).
    All,
    /// Names in these zones (lower-case, trailing dot).
    Zones(Vec<String>),
}

impl Fallthrough {
    pub fn through(&self, name: &str) -> bool {
        match self {
            Fallthrough::Off => false,
            Fallthrough::All => true,
            Fallthrough::Zones(z) => z.iter().any(|z| strip_zone(name, z).is_some()),
        }
    }
}

/// The options of one `kubernetes` directive that shape answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubeOptions {
    /// Zones, lower-case with a trailing dot, in Corefile order.
    pub zones: Vec<String>,
    /// Index in `zones` of the first non-reverse zone (PTR targets live there).
    pub primary_zone: usize,
    pub ttl: u32,
    pub pods: PodMode,
    pub endpoint_pod_names: bool,
    /// `namespaces`: when non-empty only these are served.
    pub namespaces: Vec<String>,
    pub ignore_empty_service: bool,
    pub fallthrough: Fallthrough,
    /// `zonal`: zone-scoped names for headless services.
    pub zonal: bool,
    /// Addresses this server answers on, for `ns.dns.ZONE` and the apex NS.
    pub local_ips: Vec<IpAddr>,
}

impl Default for KubeOptions {
    fn default() -> Self {
        Self {
            zones: vec!["cluster.local.".into()],
            primary_zone: 0,
            ttl: 5,
            pods: PodMode::Disabled,
            endpoint_pod_names: false,
            namespaces: Vec::new(),
            ignore_empty_service: false,
            fallthrough: Fallthrough::Off,
            zonal: false,
            local_ips: Vec::new(),
        }
    }
}

/// The TXT schema version of the Kubernetes DNS specification.
pub const SCHEMA_VERSION: &str = "1.1.0";

/// A name error (CoreDNS's errNoItems / errNsNotExposed / errInvalidRequest): NXDOMAIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct NameError;

type Found<T> = Result<T, NameError>;

/// CoreDNS's `msg.Service`: one thing a name resolves to.
#[derive(Debug, Clone)]
struct Item {
    host: Host,
    port: i32,
    ttl: u32,
    /// The name this item is known by (SRV target, NS name), absolute.
    key: String,
}

#[derive(Debug, Clone)]
enum Host {
    Ip(IpAddr),
    Name(String),
    Text(&'static str),
}

/// The labels of a name below the zone, as parse.go reads them.
#[derive(Debug, Default, Clone, Copy)]
struct Req<'a> {
    port: &'a str,
    protocol: &'a str,
    endpoint: &'a str,
    service: &'a str,
    namespace: &'a str,
    pod_or_svc: &'a str,
    /// `zonal`: the topology zone of `ZONE.pin|prefer._zone.svc.ns.svc.cluster.local`.
    topo_zone: &'a str,
    zone_prefer: bool,
}

fn parse_request(rel: &str, zonal: bool) -> Found<Req<'_>> {
    let mut r = Req::default();
    if rel.is_empty() || rel == "svc" || rel == "pod" {
        return Ok(r);
    }
    let segs: Vec<&str> = rel.split('.').collect();
    let mut last = segs.len() as isize - 1;
    r.pod_or_svc = segs[last as usize];
    if r.pod_or_svc != "pod" && r.pod_or_svc != "svc" {
        return Err(NameError);
    }
    last -= 1;
    if last < 0 {
        return Ok(r);
    }
    r.namespace = segs[last as usize];
    last -= 1;
    if last < 0 {
        return Ok(r);
    }
    r.service = segs[last as usize];
    last -= 1;
    match last {
        -1 => {}
        0 => r.endpoint = segs[0],
        1 => {
            r.protocol = segs[1].strip_prefix('_').unwrap_or(segs[1]);
            r.port = segs[0].strip_prefix('_').unwrap_or(segs[0]);
        }
        _ => {
            // `zonal`: TOPOZONE.pin|prefer._zone.service.namespace.svc (the zone may hold dots).
            let last = last as usize;
            if !zonal || segs[last] != "_zone" || r.pod_or_svc != "svc" {
                return Err(NameError);
            }
            match segs[last - 1] {
                "pin" => {}
                "prefer" => r.zone_prefer = true,
                _ => return Err(NameError),
            }
            let len: usize = segs[..last - 1].iter().map(|l| l.len() + 1).sum::<usize>() - 1;
            r.topo_zone = &rel[..len];
        }
    }
    Ok(r)
}

fn is_reverse(name: &str) -> bool {
    name.ends_with(".in-addr.arpa.") || name.ends_with(".ip6.arpa.")
}

fn match_port_proto(want_port: &str, port: &str, want_proto: &str, proto: &str) -> bool {
    (want_port.is_empty() || want_port.eq_ignore_ascii_case(port))
        && (want_proto.is_empty() || want_proto.eq_ignore_ascii_case(proto))
}

/// The endpoint label: hostname, else the pod name (with `endpoint_pod_names`), else the dashed IP.
pub fn endpoint_label(e: &Endpoint, pod_names: bool) -> String {
    if let Some(h) = &e.hostname {
        return h.to_string();
    }
    if pod_names {
        if let Some(p) = &e.pod_name {
            return p.to_string();
        }
    }
    dashed_ip(&e.ip)
}

fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

fn is_subdomain(name: &str, zone: &str) -> bool {
    strip_zone(&name.to_ascii_lowercase(), zone).is_some()
}

/// One question being answered: the snapshot, the options and the matched zone.
struct Ctx<'a> {
    opts: &'a KubeOptions,
    zone: &'a Zone,
    /// Matched zone, lower-case.
    zl: &'a str,
    /// Matched zone as the question wrote it.
    zq: &'a str,
    /// Build the names items are known by (SRV targets): only SRV answers read them, so
    /// A/AAAA and the rest skip that string work.
    keys: bool,
}

/// Answers `qname` (as written by the client, absolute) for `qt`.
pub fn serve(opts: &KubeOptions, zone: &Zone, qname: &str, qt: u16) -> Outcome {
    let lower = qname.to_ascii_lowercase();
    let Some(zl) = opts
        .zones
        .iter()
        .filter(|z| strip_zone(&lower, z).is_some())
        .max_by_key(|z| z.len())
    else {
        return Outcome::Next;
    };
    let zq = &qname[qname.len() - zl.len()..];
    let cx = Ctx {
        opts,
        zone,
        zl,
        zq,
        keys: qt == qtype::SRV,
    };

    let mut reply = Reply::default();
    let res: Found<()> = match qt {
        qtype::A | qtype::AAAA => cx
            .address(&lower, &Owner::Query, qt, &mut Vec::new(), &mut reply)
            .map(|recs| reply.answer = recs),
        qtype::TXT => cx.txt(&lower).map(|recs| reply.answer = recs),
        qtype::CNAME => cx.cname(&lower).map(|recs| reply.answer = recs),
        qtype::PTR => cx.ptr(&lower).map(|recs| reply.answer = recs),
        qtype::SRV => cx.srv(&lower).map(|(a, x)| {
            reply.answer = a;
            reply.additional = x;
        }),
        qtype::MX => cx.items(&lower, qt).map(|_| ()),
        qtype::SOA => {
            if lower == *zl {
                reply.answer.push(cx.soa());
            }
            Ok(())
        }
        qtype::AXFR | qtype::IXFR => {
            reply.rcode = Some(Rcode::Refused);
            return Outcome::Reply(reply);
        }
        qtype::NS if lower == *zl => cx.ns().map(|(a, x)| {
            reply.answer = a;
            reply.additional = x;
        }),
        _ => cx
            .address(
                &lower,
                &Owner::Query,
                qtype::A,
                &mut Vec::new(),
                &mut Reply::default(),
            )
            .map(|_| ()),
    };

    if res.is_err() {
        if opts.fallthrough.through(&lower) {
            return Outcome::Next;
        }
        reply = Reply {
            rcode: Some(if zone.synced {
                Rcode::NxDomain
            } else {
                Rcode::ServFail
            }),
            authority: vec![cx.soa()],
            ..Reply::default()
        };
        return Outcome::Reply(reply);
    }
    if reply.answer.is_empty() && reply.chase.is_none() {
        reply.additional.clear();
        reply.authority = vec![cx.soa()];
    } else if reply.chase.is_none() && reply.authority.is_empty() {
        reply.scope = namespace_scope(&lower, zl, &reply, zone);
    }
    Outcome::Reply(reply)
}

/// The namespace a positive answer depends on, alone: the question is `NAME….NS.svc.ZONE`
/// without wildcards, and every name in the answer and additional sections lies in
/// `.NS.svc.ZONE` with no CNAME (an in-zone CNAME pulls in another service's records). Such an
/// answer was decided by the objects of NS only (its Services, EndpointSlices and the Namespace
/// itself) and the configuration; negative answers carry the zone-wide SOA serial and never
/// have a scope.
fn namespace_scope(
    lower: &str,
    zl: &str,
    reply: &Reply,
    zone: &Zone,
) -> Option<std::sync::Arc<str>> {
    let rest = strip_zone(lower, zl)?.strip_suffix(".svc")?;
    let (head, ns) = rest.rsplit_once('.')?;
    let wild = |l: &str| l == "*" || l == "any";
    if head.is_empty() || wild(ns) || head.split('.').any(wild) {
        return None;
    }
    let suffix = format!(".{ns}.svc.{}", zl.trim_end_matches('.'));
    let inside = |n: &str| {
        let n = n.trim_end_matches('.');
        n.len() > suffix.len() && n[n.len() - suffix.len()..].eq_ignore_ascii_case(&suffix)
    };
    for r in reply.answer.iter().chain(&reply.additional) {
        if let Owner::Name(n) = &r.owner {
            if !inside(n) {
                return None;
            }
        }
        match &r.data {
            RData::A(_) | RData::Aaaa(_) | RData::Txt(_) => {}
            RData::Srv { target, .. } if inside(target) => {}
            _ => return None,
        }
    }
    zone.namespace(ns).map(|n| n.name.clone())
}

impl Ctx<'_> {
    fn soa(&self) -> Record {
        let ttl = self.opts.ttl;
        Record {
            owner: Owner::Name(self.zq.to_string()),
            ttl: ttl.min(300),
            data: RData::Soa(Soa {
                mname: format!("ns.dns.{}", self.zq),
                rname: format!("hostmaster.{}", self.zq),
                serial: self.zone.serial,
                refresh: 7200,
                retry: 1800,
                expire: 86400,
                minimum: ttl,
            }),
        }
    }

    /// Exists and is exposed (`namespaces`).
    fn namespace_exposed(&self, ns: &str) -> bool {
        (self.opts.namespaces.is_empty() || self.opts.namespaces.iter().any(|n| n == ns))
            && self.zone.namespace(ns).is_some()
    }

    /// An item's name when the answer needs it, else an empty (non-allocating) string.
    fn key(&self, make: impl FnOnce() -> String) -> String {
        if self.keys {
            make()
        } else {
            String::new()
        }
    }

    fn svc_name(&self, svc: &Service) -> String {
        format!("{}.{}.svc.{}", svc.name, svc.namespace, self.zq)
    }

    /// CoreDNS's `Services()`: what `name` stands for, for qtype `qt`.
    fn items(&self, name: &str, qt: u16) -> Found<Vec<Item>> {
        if qt == qtype::TXT {
            let rel = strip_zone(name, self.zl).unwrap_or("");
            if rel == "dns-version" {
                return Ok(vec![Item {
                    host: Host::Text(SCHEMA_VERSION),
                    port: 0,
                    ttl: 28800,
                    key: name.to_string(),
                }]);
            }
            // A name that exists for another type is NODATA, anything else NXDOMAIN (even
            // the apex: CoreDNS 1.14 quirk, kept for identical answers).
            let found = self.records(name);
            if found.as_ref().is_ok_and(|v| !v.is_empty()) {
                return Ok(Vec::new());
            }
            if found.is_ok() && self.opts.zonal {
                if let Ok(r) = parse_request(rel, true) {
                    if !r.topo_zone.is_empty() {
                        return Ok(Vec::new());
                    }
                }
            }
            return Err(NameError);
        }
        if qt == qtype::NS {
            return Ok(self.ns_addrs());
        }
        if name.strip_prefix("ns.dns.") == Some(self.zl) {
            return Ok(self
                .ns_addrs()
                .into_iter()
                .filter(|i| match i.host {
                    Host::Ip(IpAddr::V4(_)) => qt == qtype::A,
                    Host::Ip(IpAddr::V6(_)) => qt == qtype::AAAA,
                    _ => false,
                })
                .collect());
        }
        let items = self.records(name)?;
        if qt == qtype::SRV {
            return Ok(items
                .into_iter()
                .filter(|i| !matches!(i.host, Host::Name(_)))
                .collect());
        }
        Ok(items)
    }

    /// CoreDNS's `Records()`.
    fn records(&self, name: &str) -> Found<Vec<Item>> {
        let rel = strip_zone(name, self.zl).unwrap_or("");
        let r = parse_request(rel, self.opts.zonal)?;
        if r.pod_or_svc.is_empty() {
            return Ok(Vec::new());
        }
        if is_reverse(name) {
            return Err(NameError);
        }
        if !self.namespace_exposed(r.namespace) {
            return Err(NameError);
        }
        if r.pod_or_svc == "pod" {
            self.find_pods(&r)
        } else {
            self.find_services(&r)
        }
    }

    fn find_pods(&self, r: &Req) -> Found<Vec<Item>> {
        if self.opts.pods == PodMode::Disabled {
            return Err(NameError);
        }
        if r.service.is_empty() {
            return Ok(Vec::new());
        }
        let Some(ip) = parse_dashed_ip(r.service) else {
            return Err(NameError);
        };
        let key = format!("{}.{}.pod.{}", r.service, r.namespace, self.zq);
        let item = Item {
            host: Host::Ip(ip),
            port: 0,
            ttl: self.opts.ttl,
            key,
        };
        match self.opts.pods {
            PodMode::Insecure => Ok(vec![item]),
            _ => {
                let found =
                    self.zone.pods_by_ip.get(&ip).is_some_and(|s| {
                        s.iter().any(|(ns, _)| ns.eq_ignore_ascii_case(r.namespace))
                    });
                if found {
                    Ok(vec![item])
                } else {
                    Err(NameError)
                }
            }
        }
    }

    fn find_services(&self, r: &Req) -> Found<Vec<Item>> {
        if r.service.is_empty() {
            return Ok(Vec::new());
        }
        let key = format!("{}.{}", r.service, r.namespace);
        let Some(svc) = self.zone.service(&key) else {
            return Err(NameError);
        };
        let slices = self.zone.slices(&key);
        let ttl = self.opts.ttl;
        let mut out = Vec::new();
        let mut found = false;

        if self.opts.ignore_empty_service
            && matches!(svc.kind, ServiceKind::ClusterIp(_))
            && slices.iter().all(|s| s.endpoints.is_empty())
        {
            return Err(NameError);
        }
        if !r.topo_zone.is_empty() && !matches!(svc.kind, ServiceKind::Headless) {
            return Err(NameError);
        }
        match &svc.kind {
            ServiceKind::ExternalName(target) => {
                let pseudo = !r.endpoint.is_empty() || !r.port.is_empty() || !r.protocol.is_empty();
                if pseudo || target.parse::<IpAddr>().is_ok() {
                    return Err(NameError);
                }
                out.push(Item {
                    host: Host::Name(fqdn(target)),
                    port: 0,
                    ttl,
                    key: self.key(|| self.svc_name(svc)),
                });
                found = true;
            }
            kind if matches!(kind, ServiceKind::Headless) || !r.endpoint.is_empty() => {
                // A zone-scoped name of a headless service exists even when no endpoint
                // carries that zone (NODATA, identical on every replica).
                found |= !r.topo_zone.is_empty();
                let base = self.key(|| self.svc_name(svc));
                let need_label = self.keys || !r.endpoint.is_empty();
                let mut add_for_zone = |topo: &str, out: &mut Vec<Item>| {
                    let mut added = 0;
                    for slice in slices {
                        for ep in &slice.endpoints {
                            if !topo.is_empty() && ep.zone.as_deref() != Some(topo) {
                                continue;
                            }
                            let label = if need_label {
                                endpoint_label(ep, self.opts.endpoint_pod_names)
                            } else {
                                String::new()
                            };
                            if !r.endpoint.is_empty() && !r.endpoint.eq_ignore_ascii_case(&label) {
                                continue;
                            }
                            for p in &slice.ports {
                                if !match_port_proto(r.port, &p.name, r.protocol, &p.protocol) {
                                    continue;
                                }
                                found = true;
                                added += 1;
                                out.push(Item {
                                    host: Host::Ip(ep.ip),
                                    port: p.port,
                                    ttl,
                                    key: self.key(|| format!("{label}.{base}")),
                                });
                            }
                        }
                    }
                    added
                };
                if add_for_zone(r.topo_zone, &mut out) == 0 && r.zone_prefer {
                    add_for_zone("", &mut out);
                }
            }
            ServiceKind::ClusterIp(ips) => {
                let name = self.key(|| self.svc_name(svc));
                for p in &svc.ports {
                    if !match_port_proto(r.port, &p.name, r.protocol, &p.protocol) {
                        continue;
                    }
                    found = true;
                    for ip in ips {
                        out.push(Item {
                            host: Host::Ip(*ip),
                            port: p.port,
                            ttl,
                            key: name.clone(),
                        });
                    }
                }
            }
            ServiceKind::Headless => unreachable!("handled above"),
        }
        if found {
            Ok(out)
        } else {
            Err(NameError)
        }
    }

    /// `ns.dns.ZONE`'s addresses: the service whose endpoint is one of our local addresses,
    /// else the local addresses themselves.
    fn ns_addrs(&self) -> Vec<Item> {
        let ttl = self.opts.ttl;
        let mut out = Vec::new();
        for local in &self.opts.local_ips {
            let Some(keys) = self.zone.ep_by_ip.get(local) else {
                continue;
            };
            for key in keys {
                let Some(svc) = self.zone.service(key) else {
                    continue;
                };
                let name = self.svc_name(svc);
                match &svc.kind {
                    ServiceKind::Headless => {
                        for s in self.zone.slices(key) {
                            for e in &s.endpoints {
                                let label = endpoint_label(e, self.opts.endpoint_pod_names);
                                out.push(Item {
                                    host: Host::Ip(e.ip),
                                    port: 0,
                                    ttl,
                                    key: format!("{label}.{name}"),
                                });
                            }
                        }
                    }
                    ServiceKind::ClusterIp(ips) => {
                        if let Some(ip) = ips.first() {
                            out.push(Item {
                                host: Host::Ip(*ip),
                                port: 0,
                                ttl,
                                key: name,
                            });
                        }
                    }
                    ServiceKind::ExternalName(_) => {}
                }
            }
        }
        if out.is_empty() {
            let key = format!("ns.dns.{}", self.zq);
            out = self
                .opts
                .local_ips
                .iter()
                .map(|ip| Item {
                    host: Host::Ip(*ip),
                    port: 0,
                    ttl,
                    key: key.clone(),
                })
                .collect();
        }
        out
    }

    /// A/AAAA with CNAME chasing (backend_lookup.go `A`/`AAAA`).
    fn address(
        &self,
        name: &str,
        owner: &Owner,
        qt: u16,
        previous: &mut Vec<(String, String)>,
        reply: &mut Reply,
    ) -> Found<Vec<Record>> {
        // checkForApex: CoreDNS first tries `apex.dns.ZONE`, which never parses for this
        // plugin, so the apex itself is looked up (and is NODATA).
        let items = self.items(name, qt)?;
        let mut out = Vec::new();
        let mut dup: HashSet<IpAddr> = HashSet::new();
        for item in items {
            match item.host {
                Host::Name(target) => {
                    if target.eq_ignore_ascii_case(name) {
                        continue;
                    }
                    if previous.len() > 7 {
                        continue;
                    }
                    let owner_name = match owner {
                        Owner::Query => name.to_string(),
                        Owner::Name(n) => n.clone(),
                    };
                    let link = (owner_name.to_ascii_lowercase(), target.to_ascii_lowercase());
                    if previous.contains(&link) {
                        continue;
                    }
                    let cname = Record {
                        owner: owner.clone(),
                        ttl: item.ttl,
                        data: RData::Cname(target.clone()),
                    };
                    if is_subdomain(&target, self.zl) {
                        previous.push(link);
                        let next_owner = Owner::Name(target.clone());
                        let lower_target = target.to_ascii_lowercase();
                        if let Ok(next) =
                            self.address(&lower_target, &next_owner, qt, previous, reply)
                        {
                            if !next.is_empty() {
                                out.push(cname);
                                out.extend(next);
                            }
                        }
                        continue;
                    }
                    out.push(cname);
                    reply.chase = Some((target, qt));
                }
                Host::Ip(ip) => {
                    let fam_ok = match ip {
                        IpAddr::V4(_) => qt == qtype::A,
                        IpAddr::V6(_) => qt == qtype::AAAA,
                    };
                    if fam_ok && dup.insert(ip) {
                        out.push(Record {
                            owner: owner.clone(),
                            ttl: item.ttl,
                            data: ip_rdata(ip),
                        });
                    }
                }
                Host::Text(_) => {}
            }
        }
        Ok(out)
    }

    fn txt(&self, name: &str) -> Found<Vec<Record>> {
        let items = self.items(name, qtype::TXT)?;
        let mut out: Vec<Record> = Vec::new();
        for item in items {
            if let Host::Text(t) = item.host {
                let r = Record {
                    owner: Owner::Query,
                    ttl: item.ttl,
                    data: RData::Txt(t.to_string()),
                };
                if !out.contains(&r) {
                    out.push(r);
                }
            }
        }
        Ok(out)
    }

    fn cname(&self, name: &str) -> Found<Vec<Record>> {
        let items = self.items(name, qtype::CNAME)?;
        Ok(match items.into_iter().next() {
            Some(Item {
                host: Host::Name(target),
                ttl,
                ..
            }) => vec![Record {
                owner: Owner::Query,
                ttl,
                data: RData::Cname(target),
            }],
            _ => Vec::new(),
        })
    }

    fn srv(&self, name: &str) -> Found<(Vec<Record>, Vec<Record>)> {
        let items = self.items(name, qtype::SRV)?;
        let n = items.len().max(1) as f64;
        let weight = ((100.0 / (100.0 * n)) * 100.0).floor() as u16;
        let weight = weight.max(1);
        let mut answer = Vec::new();
        let mut extra = Vec::new();
        let mut seen_srv: HashSet<(String, i32)> = HashSet::new();
        let mut seen_addr: HashSet<(String, IpAddr)> = HashSet::new();
        for item in items {
            if item.port == -1 {
                continue;
            }
            let Host::Ip(ip) = item.host else { continue };
            let target = item.key;
            if seen_srv.insert((target.clone(), item.port)) {
                answer.push(Record {
                    owner: Owner::Query,
                    ttl: item.ttl,
                    data: RData::Srv {
                        priority: 0,
                        weight,
                        port: item.port as u16,
                        target: target.clone(),
                    },
                });
            }
            if seen_addr.insert((target.clone(), ip)) {
                extra.push(Record {
                    owner: Owner::Name(target),
                    ttl: item.ttl,
                    data: ip_rdata(ip),
                });
            }
        }
        Ok((answer, extra))
    }

    fn ptr(&self, name: &str) -> Found<Vec<Record>> {
        let Some(ip) = ip_from_reverse(name) else {
            self.records(name)?;
            return Ok(Vec::new());
        };
        let hosts = self.reverse_hosts(&ip);
        if hosts.is_empty() {
            return Err(NameError);
        }
        let mut out: Vec<Record> = Vec::new();
        let mut seen = HashSet::new();
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

    fn ns(&self) -> Found<(Vec<Record>, Vec<Record>)> {
        let mut answer = Vec::new();
        let mut extra = Vec::new();
        let mut seen = HashSet::new();
        for item in self.items(self.zl, qtype::NS)? {
            let Host::Ip(ip) = item.host else { continue };
            extra.push(Record {
                owner: Owner::Name(item.key.clone()),
                ttl: item.ttl,
                data: ip_rdata(ip),
            });
            if seen.insert(item.key.clone()) {
                answer.push(Record {
                    owner: Owner::Query,
                    ttl: item.ttl,
                    data: RData::Ns(item.key),
                });
            }
        }
        Ok((answer, extra))
    }
}

fn ip_rdata(ip: IpAddr) -> RData {
    match ip {
        IpAddr::V4(v4) => RData::A(v4),
        IpAddr::V6(v6) => RData::Aaaa(v6),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse() {
        let r = parse_request("_http._tcp.svc1.ns.svc", false).unwrap();
        assert_eq!(
            (r.port, r.protocol, r.service, r.namespace),
            ("http", "tcp", "svc1", "ns")
        );
        let r = parse_request("ep.svc1.ns.svc", false).unwrap();
        assert_eq!(r.endpoint, "ep");
        assert!(parse_request("a.b.c.svc1.ns.svc", false).is_err());
        assert!(parse_request("svc1.ns.foo", false).is_err());
        assert_eq!(parse_request("svc", false).unwrap().pod_or_svc, "");
        assert_eq!(parse_request("ns.svc", false).unwrap().namespace, "ns");
        let r = parse_request("us-east.1a.prefer._zone.hdls.ns.svc", true).unwrap();
        assert_eq!(
            (r.topo_zone, r.zone_prefer, r.service),
            ("us-east.1a", true, "hdls")
        );
        assert!(parse_request("a.pin._zone.hdls.ns.svc", false).is_err());
        assert!(parse_request("a.keep._zone.hdls.ns.svc", true).is_err());
    }

    /// Which answers may outlive changes elsewhere: positive answers built from one namespace's
    /// objects only, and every other namespace's changes leave that namespace's version alone.
    #[test]
    fn namespace_scope_only_for_answers_from_one_namespace() {
        use crate::zone::model::{Namespace, Port, Slice};
        use crate::zone::{Change, Store};
        use std::sync::Arc;
        let port = || Port {
            name: Arc::from("http"),
            port: 80,
            protocol: Arc::from("TCP"),
        };
        let svc = |ns: &str, name: &str, kind: ServiceKind| {
            Change::UpsertService(Service {
                namespace: Arc::from(ns),
                name: Arc::from(name),
                kind,
                ports: vec![port()],
            })
        };
        let slice = |ips: &[&str]| {
            Change::UpsertSlice(Slice {
                namespace: Arc::from("a"),
                name: Arc::from("hl-1"),
                service: Arc::from("hl"),
                ports: vec![port()],
                endpoints: ips
                    .iter()
                    .enumerate()
                    .map(|(i, ip)| Endpoint {
                        ip: ip.parse().unwrap(),
                        hostname: Some(Arc::from(format!("h{i}"))),
                        pod_name: None,
                        zone: None,
                    })
                    .collect(),
            })
        };
        let ip = |s: &str| vec![s.parse::<IpAddr>().unwrap()];
        let mut st = Store::new();
        for ns in ["a", "b"] {
            st.apply(Change::UpsertNamespace(Namespace {
                name: Arc::from(ns),
                labels: Vec::new(),
            }));
        }
        st.apply(svc("a", "web", ServiceKind::ClusterIp(ip("10.0.0.1"))));
        st.apply(svc("a", "hl", ServiceKind::Headless));
        st.apply(slice(&["10.1.0.1"]));
        st.apply(svc(
            "a",
            "ext",
            ServiceKind::ExternalName(Arc::from("web.b.svc.cluster.local")),
        ));
        st.apply(svc("b", "web", ServiceKind::ClusterIp(ip("10.0.0.2"))));
        st.set_synced(true);
        let z = st.snapshot();
        let opts = KubeOptions::default();
        let scope = |name: &str, qt: u16| match serve(&opts, &z, name, qt) {
            Outcome::Reply(r) => r.scope.map(|s| s.to_string()),
            Outcome::Next => panic!("{name}: not in the zone"),
        };
        let a = Some("a".to_string());
        assert_eq!(scope("web.a.svc.cluster.local.", qtype::A), a);
        assert_eq!(scope("WEB.A.svc.cluster.local.", qtype::A), a);
        assert_eq!(scope("hl.a.svc.cluster.local.", qtype::A), a);
        assert_eq!(scope("h0.hl.a.svc.cluster.local.", qtype::A), a);
        assert_eq!(scope("_http._tcp.hl.a.svc.cluster.local.", qtype::SRV), a);
        assert_eq!(scope("_http._tcp.web.a.svc.cluster.local.", qtype::SRV), a);
        assert_eq!(
            scope("ext.a.svc.cluster.local.", qtype::A),
            None,
            "an in-zone CNAME answers with namespace b's records"
        );
        assert_eq!(scope("nope.a.svc.cluster.local.", qtype::A), None);
        assert_eq!(
            scope("web.a.svc.cluster.local.", qtype::AAAA),
            None,
            "NODATA"
        );
        assert_eq!(scope("*.a.svc.cluster.local.", qtype::A), None);
        assert_eq!(scope("web.*.svc.cluster.local.", qtype::A), None);
        assert_eq!(scope("a.svc.cluster.local.", qtype::A), None);
        assert_eq!(scope("10-1-0-1.a.pod.cluster.local.", qtype::A), None);

        let va = z.ns_version("a").unwrap();
        let vb = z.ns_version("b").unwrap();
        st.apply(svc("b", "web", ServiceKind::ClusterIp(ip("10.0.0.3"))));
        assert_eq!(st.snapshot().ns_version("a"), Some(va), "b changed, not a");
        assert_ne!(st.snapshot().ns_version("b"), Some(vb));
        st.apply(svc("b", "web", ServiceKind::ClusterIp(ip("10.0.0.3"))));
        assert_eq!(
            st.snapshot().ns_version("a"),
            Some(va),
            "no change, no new version"
        );
        st.apply(slice(&["10.1.0.1", "10.1.0.2"]));
        assert_ne!(
            st.snapshot().ns_version("a"),
            Some(va),
            "a slice of a moved"
        );
        let va = st.snapshot().ns_version("a").unwrap();
        st.apply(Change::DeleteNamespace { name: "a".into() });
        assert_ne!(st.snapshot().ns_version("a"), Some(va), "a is gone");
    }
}
