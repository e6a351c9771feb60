//! The scope of an answer: whether it was decided by one namespace's objects alone, or by
//! nothing of the cluster's state, so that it stays right while that namespace is unchanged, or
//! always (the UDP packet cache keeps such answers across changes elsewhere; a negative
//! answer is replayed with the zone's current SOA serial).
use super::ctx::Ctx;
use super::model::ServiceKind;
use super::names::{concat, strip_zone};
use super::options::PodMode;
use super::qname::parse_request;
use super::record::{qtype, Depends, Owner, RData, Reply};
use super::reverse::is_reverse;
use super::snapshot::Zone;

#[cfg(test)]
mod tests;

/// The namespace a positive answer depends on, alone: the question is `NAME….NS.svc.ZONE`
/// without wildcards, and every name in the answer and additional sections lies in
/// `.NS.svc.ZONE` with no CNAME (an in-zone CNAME pulls in another service's records). Such an
/// answer was decided by the objects of NS only (its Services, EndpointSlices and the Namespace
/// itself) and the configuration. Negative answers: see [`negative_scope`].
pub(super) fn namespace_scope(
    lower: &str,
    zl: &str,
    reply: &Reply,
    zone: &Zone,
) -> Option<Depends> {
    let rest = strip_zone(lower, zl)?.strip_suffix(".svc")?;
    let (head, ns) = rest.rsplit_once('.')?;
    if head.is_empty() || wild(ns) || head.split('.').any(wild) {
        return None;
    }
    let suffix = concat(&[".", ns, ".svc.", zl.trim_end_matches('.')]);
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
    zone.namespace(ns)
        .map(|n| Depends::Namespace(n.name.clone()))
}

/// The scope of a negative answer (NXDOMAIN, or NODATA) to `lower` for `qt` in a synced zone:
/// what decided that the name has no records of that type. Its SOA serial moves with every
/// change anywhere; the rest is decided by
/// - nothing of the cluster, for a name whose shape alone fails (`google.com.ZONE`, the apex,
///   `svc.ZONE`, any `pod` name without `pods`);
/// - one namespace's objects, for `…NS.svc.ZONE` without wildcards (and `…NS.pod.ZONE` with
///   `pods insecure`), unless it names an ExternalName Service, whose in-zone target may lie
///   in another namespace;
/// - the whole zone otherwise (`None`): `ns.dns.ZONE`, the apex NS, reverse names, wildcards,
///   `pods verified`, multicluster zones.
pub(super) fn negative_scope(cx: &Ctx<'_>, lower: &str, qt: u16) -> Option<Depends> {
    if cx.mc || !cx.zone.synced || matches!(qt, qtype::NS | qtype::PTR) || is_reverse(lower) {
        return None;
    }
    let rel = strip_zone(lower, cx.zl)?;
    if rel == "ns.dns" || rel.split('.').any(wild) {
        return None;
    }
    let Ok(r) = parse_request(rel, cx.opts.zonal, false) else {
        return Some(Depends::Nothing);
    };
    let in_ns = || Some(Depends::Namespace(r.namespace.into()));
    match (r.pod_or_svc, cx.opts.pods) {
        ("", _) | ("pod", PodMode::Disabled) => Some(Depends::Nothing),
        ("pod", PodMode::Insecure) => in_ns(),
        ("svc", _) => {
            let key = concat(&[r.service, ".", r.namespace]);
            match cx.zone.service(&key).map(|s| &s.kind) {
                Some(ServiceKind::ExternalName(_)) => None,
                _ => in_ns(),
            }
        }
        _ => None,
    }
}

/// A wildcard label (`*` or `any`): the answer spans namespaces or services.
fn wild(label: &str) -> bool {
    label == "*" || label == "any"
}
