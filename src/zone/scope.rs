//! The namespace scope of an answer: whether a positive answer was decided by one namespace's
//! objects alone, so that it stays right while that namespace is unchanged (the UDP packet
//! cache keeps such answers across changes elsewhere).
use std::sync::Arc;

use super::names::strip_zone;
use super::record::{Owner, RData, Reply};
use super::snapshot::Zone;

#[cfg(test)]
mod tests;

/// The namespace a positive answer depends on, alone: the question is `NAME….NS.svc.ZONE`
/// without wildcards, and every name in the answer and additional sections lies in
/// `.NS.svc.ZONE` with no CNAME (an in-zone CNAME pulls in another service's records). Such an
/// answer was decided by the objects of NS only (its Services, EndpointSlices and the Namespace
/// itself) and the configuration; negative answers carry the zone-wide SOA serial and never
/// have a scope.
pub(super) fn namespace_scope(
    lower: &str,
    zl: &str,
    reply: &Reply,
    zone: &Zone,
) -> Option<Arc<str>> {
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
