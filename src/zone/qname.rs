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
    // The five rightmost labels, right to left (no allocation: this runs on every question).
    let mut right = [""; 5];
    let mut labels = Labels(Some(rel));
    let mut n = 0;
    for (slot, label) in right.iter_mut().zip(labels.by_ref()) {
        *slot = label;
        n += 1;
    }
    let [pod_or_svc, namespace, service, left1, left2] = right;
    r.pod_or_svc = pod_or_svc;
    if pod_or_svc != "pod" && pod_or_svc != "svc" {
        return Err(NameError);
    }
    r.namespace = namespace;
    r.service = service;
    match (n, labels.next().is_some()) {
        (..=3, _) => {}
        (4, _) => r.endpoint = left1,
        (_, false) if multicluster && !left2.starts_with('_') && !left1.starts_with('_') => {
            r.endpoint = left2;
            r.cluster = left1;
        }
        (_, false) => {
            r.protocol = left1.strip_prefix('_').unwrap_or(left1);
            r.port = left2.strip_prefix('_').unwrap_or(left2);
        }
        (_, true) => {
            // `zonal`: TOPOZONE.pin|prefer._zone.service.namespace.svc (the zone may hold dots).
            if !zonal || multicluster || left1 != "_zone" || pod_or_svc != "svc" {
                return Err(NameError);
            }
            match left2 {
                "pin" => {}
                "prefer" => r.zone_prefer = true,
                _ => return Err(NameError),
            }
            // Everything left of `pin.`/`prefer.`: the five labels read and their dots off.
            let read: usize = right.iter().map(|l| l.len() + 1).sum();
            r.topo_zone = &rel[..rel.len() - read];
        }
    }
    Ok(r)
}

/// The labels of a name without its final dot, right to left, as `str::rsplit('.')` gives
/// them, byte by byte (its pattern searcher costs more than a question's few bytes); `None`
/// once the leftmost label was given.
struct Labels<'a>(Option<&'a str>);

impl<'a> Iterator for Labels<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let s = self.0?;
        // `.` is ASCII: both sides of it are on character boundaries.
        let (rest, label) = match s.bytes().rposition(|b| b == b'.') {
            Some(dot) => (Some(&s[..dot]), &s[dot + 1..]),
            None => (None, s),
        };
        self.0 = rest;
        Some(label)
    }
}
