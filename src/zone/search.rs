//! `autopath @kubernetes`: the search path of the pod that asked, as CoreDNS's kubernetes
//! plugin builds it (`AutoPath`): `<ns>.svc.<zone>`, `svc.<zone>`, `<zone>`, the host's
//! resolv.conf search list, then `""` (the name as asked).
//!
//! The client's namespace comes from its address ([`client_namespace`]): with `pods verified`
//! from the pod index, as CoreDNS; without a pod watch from the ready endpoints of the
//! EndpointSlices (the slice's namespace), so autopath needs no watch of every pod. An address
//! that no object names, or that objects of two namespaces name (an address reused before the
//! watch caught up), places no one: no search path, a plain answer.
use std::net::IpAddr;
use std::sync::Arc;

use super::names::strip_zone;
use super::options::{KubeOptions, PodMode};
use super::snapshot::Zone;

#[cfg(test)]
mod tests;

/// The one namespace all of `names` share, else `None`.
fn only<'a>(mut names: impl Iterator<Item = &'a str>) -> Option<&'a str> {
    let first = names.next()?;
    names.all(|n| n == first).then_some(first)
}

/// The namespace of the client at `ip`: from the pods at that address when `pods` (the pod
/// index is held), else from the EndpointSlices whose ready endpoints hold it.
pub fn client_namespace(zone: &Zone, ip: IpAddr, pods: bool) -> Option<Arc<str>> {
    let ns = if pods {
        let set = zone.pods_by_ip.get(&ip)?;
        only(set.iter().map(|(ns, _)| &**ns))?
    } else {
        let set = zone.ep_by_ip.get(&ip)?;
        // Keys are `service.namespace`; a service name has no dot.
        only(
            set.iter()
                .map(|k| k.split_once('.').map_or("", |(_, ns)| ns)),
        )?
    };
    (!ns.is_empty()).then(|| Arc::from(ns))
}

/// The zone of `opts` that `name` (lower-case, trailing dot) is in: the longest, as CoreDNS's
/// `plugin.Zones.Matches`.
fn zone_of<'a>(opts: &'a KubeOptions, name: &str) -> Option<&'a str> {
    opts.zones
        .iter()
        .filter(|z| strip_zone(name, z).is_some())
        .max_by_key(|z| z.len())
        .map(String::as_str)
}

/// The search path of the client at `ip` asking `name` (lower-case, trailing dot), ending with
/// `""`; `None` when the name is outside the zones of `opts`, the client cannot be placed, or
/// the name is not under the path's first element (`<ns>.svc.<zone>`: not a search-path
/// question, autopath leaves it alone). That check comes before anything else is built: most
/// questions pay one allocation. `host` is the host's resolv.conf search list (lower-case,
/// trailing dots).
pub fn search_path(
    opts: &KubeOptions,
    zone: &Zone,
    name: &str,
    ip: IpAddr,
    host: &[String],
) -> Option<Vec<String>> {
    let apex = zone_of(opts, name)?;
    let ns = client_namespace(zone, ip, opts.pods == PodMode::Verified)?;
    let root = apex == ".";
    let first = match root {
        true => format!("{ns}.svc."),
        false => format!("{ns}.svc.{apex}"),
    };
    strip_zone(name, &first)?;
    let mut search = Vec::with_capacity(host.len() + 4);
    search.push(first);
    if root {
        search.push("svc.".to_string());
        search.push(".".to_string());
    } else {
        search.push(format!("svc.{apex}"));
        search.push(apex.to_string());
    }
    search.extend(host.iter().cloned());
    search.push(String::new());
    Some(search)
}
