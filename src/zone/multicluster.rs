//! What a name stands for in a `multicluster` zone (KEP-1645's `clusterset.local`; CoreDNS's
//! `findMultiClusterServices`): ServiceImports and the multicluster EndpointSlices of every
//! cluster, never the cluster's own Services.
//!
//! - `SVC.NS.svc.ZONE`: a ClusterSetIP import's `spec.ips` (one item per port, as CoreDNS; an
//!   import without ports has no name), a Headless import's ready endpoints in every cluster
//!   (none: the name does not exist).
//! - `HOST.CLUSTER.SVC.NS.svc.ZONE`: the endpoint of that hostname in slices labelled
//!   `multicluster.kubernetes.io/source-cluster: CLUSTER`, for either kind of import.
//! - `CLUSTER.SVC.NS.svc.ZONE` is reserved and must not exist: one label left of the service is
//!   an endpoint of a slice *without* a cluster id, which MCS slices always carry.
//! - `_PORT._PROTO.SVC.NS.svc.ZONE`: SRV to the import's name (ClusterSetIP) or to
//!   `HOST.CLUSTER.SVC…` (Headless).
use std::sync::Arc;

use super::ctx::{Ctx, Host, Item};
use super::model::{Import, ImportKind, McsSlice};
use super::names::endpoint_label;
use super::qname::{match_port_proto, Found, NameError, Req};

impl Ctx<'_> {
    /// `[HOST.CLUSTER.|_PORT._PROTO.]SVC.NS.svc.ZONE` in a multicluster zone.
    pub(super) fn find_imports(&self, r: &Req<'_>) -> Found<Vec<Item>> {
        if r.service.is_empty() {
            return Ok(Vec::new());
        }
        let key = format!("{}.{}", r.service, r.namespace);
        let Some(imp) = self.zone.import(&key) else {
            return Err(NameError);
        };
        let slices = self.zone.mc_slices(&key);
        let headless = matches!(imp.kind, ImportKind::Headless);
        if self.opts.ignore_empty_service
            && !headless
            && slices.iter().all(|s| s.slice.endpoints.is_empty())
        {
            return Err(NameError);
        }
        let mut out = Vec::new();
        let found = match &imp.kind {
            _ if headless || !r.endpoint.is_empty() => {
                self.import_endpoints(r, imp, slices, &mut out)
            }
            ImportKind::ClusterSetIp(ips) => {
                let name = self.key(|| self.import_name(imp));
                let mut found = false;
                for p in &imp.ports {
                    if !match_port_proto(r.port, &p.name, r.protocol, &p.protocol) {
                        continue;
                    }
                    found = true;
                    out.extend(ips.iter().map(|ip| Item {
                        host: Host::Ip(*ip),
                        port: p.port,
                        ttl: self.opts.ttl,
                        key: name.clone(),
                    }));
                }
                found
            }
            ImportKind::Headless => unreachable!("handled above"),
        };
        if found {
            Ok(out)
        } else {
            Err(NameError)
        }
    }

    /// The ready endpoints of an import's slices in every cluster that match the question's
    /// `HOST.CLUSTER`, port and protocol, added to `out`. Returns whether the name exists.
    fn import_endpoints(
        &self,
        r: &Req<'_>,
        imp: &Import,
        slices: &[Arc<McsSlice>],
        out: &mut Vec<Item>,
    ) -> bool {
        let base = self.key(|| self.import_name(imp));
        let need_label = self.keys || !r.endpoint.is_empty();
        let mut found = false;
        for s in slices {
            if !r.endpoint.is_empty() && !r.cluster.eq_ignore_ascii_case(&s.cluster) {
                continue;
            }
            for ep in &s.slice.endpoints {
                let label = match need_label {
                    true => endpoint_label(ep, self.opts.endpoint_pod_names),
                    false => String::new(),
                };
                if !r.endpoint.is_empty() && !r.endpoint.eq_ignore_ascii_case(&label) {
                    continue;
                }
                for p in &s.slice.ports {
                    if !match_port_proto(r.port, &p.name, r.protocol, &p.protocol) {
                        continue;
                    }
                    found = true;
                    out.push(Item {
                        host: Host::Ip(ep.ip),
                        port: p.port,
                        ttl: self.opts.ttl,
                        key: self.key(|| match &*s.cluster {
                            // No cluster id (no `source-cluster` label): the name that finds
                            // it, `HOST.SVC…` (CoreDNS builds a name with an empty label and
                            // sends no answer).
                            "" => format!("{label}.{base}"),
                            c => format!("{label}.{c}.{base}"),
                        }),
                    });
                }
            }
        }
        found
    }

    /// `SVC.NS.svc.ZONE` of an import, the zone as the question wrote it.
    fn import_name(&self, imp: &Import) -> String {
        format!("{}.{}.svc.{}", imp.name, imp.namespace, self.zq)
    }
}

#[cfg(test)]
mod tests;
