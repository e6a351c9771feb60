//! The question name below the zone, split into its parts as CoreDNS's parse.go does
//! (`[ENDPOINT|_PORT._PROTO.]SERVICE.NAMESPACE.svc|pod`), and the name error every step of
//! a lookup may end in.

#[cfg(test)]
mod tests;

/// A name error (CoreDNS's errNoItems / errNsNotExposed / errInvalidRequest): NXDOMAIN.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct NameError;

/// The result of a step that may hit a name error.
pub(super) type Found<T> = Result<T, NameError>;

/// The labels of a name below the zone, as parse.go reads them.
#[derive(Debug, Default, Clone, Copy)]
pub(super) struct Req<'a> {
    /// `_PORT` of `_PORT._PROTO.service.ns.svc` (without the underscore).
    pub(super) port: &'a str,
    /// `_PROTO` of `_PORT._PROTO.service.ns.svc` (without the underscore).
    pub(super) protocol: &'a str,
    /// The endpoint label of `endpoint.service.ns.svc` (or `endpoint.cluster.service.ns.svc`).
    pub(super) endpoint: &'a str,
    /// `multicluster`: the cluster id of `endpoint.cluster.service.ns.svc`.
    pub(super) cluster: &'a str,
    /// The service name (or the dashed address of a pod name).
    pub(super) service: &'a str,
    /// The namespace.
    pub(super) namespace: &'a str,
    /// `svc` or `pod` (`""` for the apex).
    pub(super) pod_or_svc: &'a str,
    /// `zonal`: the topology zone of `ZONE.pin|prefer._zone.svc.ns.svc.cluster.local`.
    pub(super) topo_zone: &'a str,
    /// `prefer` rather than `pin`: any endpoint when none is in the topology zone.
    pub(super) zone_prefer: bool,
}

/// Does a port match the question's `_PORT._PROTO` (either may be empty: any)?
pub(super) fn match_port_proto(want_port: &str, port: &str, want_proto: &str, proto: &str) -> bool {
    (want_port.is_empty() || want_port.eq_ignore_ascii_case(port))
        && (want_proto.is_empty() || want_proto.eq_ignore_ascii_case(proto))
}

/// Parses `rel`, the question name below the zone without its final dot (parse.go). In a
/// `multicluster` zone two labels left of the service without `_` are `ENDPOINT.CLUSTER`, and
/// zone-scoped (`zonal`) names are not defined.
pub(super) fn parse_request(rel: &str, zonal: bool, multicluster: bool) -> Found<Req<'_>> {
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
        1 if multicluster && !segs[0].starts_with('_') && !segs[1].starts_with('_') => {
            r.endpoint = segs[0];
            r.cluster = segs[1];
        }
        1 => {
            r.protocol = segs[1].strip_prefix('_').unwrap_or(segs[1]);
            r.port = segs[0].strip_prefix('_').unwrap_or(segs[0]);
        }
        _ => {
            // `zonal`: TOPOZONE.pin|prefer._zone.service.namespace.svc (the zone may hold dots).
            let last = last as usize;
            if !zonal || multicluster || segs[last] != "_zone" || r.pod_or_svc != "svc" {
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
