//! What a name stands for, as CoreDNS's `Services()`/`Records()` (kubernetes.go): the
//! [`Item`]s of services, endpoints, pods and the zone's own `ns.dns` name, before they become
//! records.
use std::net::IpAddr;
use std::sync::Arc;

use super::ctx::{Ctx, Host, Item};
use super::model::{Service, ServiceKind, Slice};
use super::names::{concat, endpoint_label, parse_dashed_ip, strip_zone};
use super::options::PodMode;
use super::qname::{match_port_proto, parse_request, Found, NameError, Req};
use super::record::qtype;
use super::reverse::is_reverse;

/// The TXT schema version of the Kubernetes DNS specification.
pub(crate) const SCHEMA_VERSION: &str = "1.1.0";

/// The TXT schema version of the multicluster DNS specification (KEP-1645).
pub(crate) const MC_SCHEMA_VERSION: &str = "1.0.0";

/// `name` with a trailing dot.
fn fqdn(name: &str) -> String {
    if name.ends_with('.') {
        name.to_string()
    } else {
        format!("{name}.")
    }
}

impl Ctx<'_> {
    /// CoreDNS's `Services()`: what `name` stands for, for qtype `qt`.
    pub(super) fn items(&self, name: &str, qt: u16) -> Found<Vec<Item>> {
        if qt == qtype::TXT {
            let rel = strip_zone(name, self.zl).unwrap_or("");
            if rel == "dns-version" {
                let version = match self.mc {
                    true => MC_SCHEMA_VERSION,
                    false => SCHEMA_VERSION,
                };
                return Ok(vec![Item {
                    host: Host::Text(version),
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
                if let Ok(r) = parse_request(rel, true, self.mc) {
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
    pub(super) fn records(&self, name: &str) -> Found<Vec<Item>> {
        let rel = strip_zone(name, self.zl).unwrap_or("");
        let r = parse_request(rel, self.opts.zonal, self.mc)?;
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
        } else if self.mc {
            self.find_imports(&r)
        } else {
            self.find_services(&r)
        }
    }

    /// `IP.ns.pod.ZONE` (pods.go): the dashed address, checked against running pods with
    /// `pods verified`.
    fn find_pods(&self, r: &Req<'_>) -> Found<Vec<Item>> {
        if self.opts.pods == PodMode::Disabled {
            return Err(NameError);
        }
        if r.service.is_empty() {
            return Ok(Vec::new());
        }
        let Some(ip) = parse_dashed_ip(r.service) else {
            return Err(NameError);
        };
        let key = concat(&[r.service, ".", r.namespace, ".pod.", self.zq]);
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

    /// `[ENDPOINT|_PORT._PROTO.]SERVICE.ns.svc.ZONE`: the service's address, endpoints or
    /// ExternalName target.
    fn find_services(&self, r: &Req<'_>) -> Found<Vec<Item>> {
        if r.service.is_empty() {
            return Ok(Vec::new());
        }
        let key = concat(&[r.service, ".", r.namespace]);
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
                found = self.endpoint_items(r, svc, slices, &mut out);
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

    /// The endpoints of a headless service (or the one named endpoint of any service) that
    /// match the question's endpoint label, port, protocol and topology zone (`zonal`), added
    /// to `out`. Returns whether the name exists.
    fn endpoint_items(
        &self,
        r: &Req<'_>,
        svc: &Service,
        slices: &[Arc<Slice>],
        out: &mut Vec<Item>,
    ) -> bool {
        let ttl = self.opts.ttl;
        // A zone-scoped name of a headless service exists even when no endpoint
        // carries that zone (NODATA, identical on every replica).
        let mut found = !r.topo_zone.is_empty();
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
        if add_for_zone(r.topo_zone, out) == 0 && r.zone_prefer {
            add_for_zone("", out);
        }
        found
    }

    /// `ns.dns.ZONE`'s addresses: the service whose endpoint is one of our local addresses,
    /// else the local addresses themselves.
    pub(super) fn ns_addrs(&self) -> Vec<Item> {
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
                    // Every ClusterIP (both families of a dual-stack DNS Service), as
                    // CoreDNS's nsAddrs.
                    ServiceKind::ClusterIp(ips) => out.extend(ips.iter().map(|ip| Item {
                        host: Host::Ip(*ip),
                        port: 0,
                        ttl,
                        key: name.clone(),
                    })),
                    ServiceKind::ExternalName(_) => {}
                }
            }
        }
        if out.is_empty() {
            let key = concat(&["ns.dns.", self.zq]);
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
}
