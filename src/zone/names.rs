//! Name helpers: dashed IPs (`10-0-0-1`, `2001-db8--1`), endpoint labels, reverse names and
//! the zone-suffix test.
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::model::Endpoint;

#[cfg(test)]
mod tests;

/// The parts one after another, in one allocation of the exact size (names on the query path:
/// `format!` costs several times as much).
pub(crate) fn concat(parts: &[&str]) -> String {
    let mut s = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for p in parts {
        s.push_str(p);
    }
    s
}

/// CoreDNS's endpoint label for an address without hostname: dots or colons become dashes;
/// an IPv6 name that would end in `-` gets a `0` appended.
pub(crate) fn dashed_ip(ip: &IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string().replace('.', "-"),
        IpAddr::V6(v6) => {
            let mut s = v6.to_string().replace(':', "-");
            if s.ends_with('-') {
                s.push('0');
            }
            s
        }
    }
}

/// The endpoint label: hostname, else the pod name (with `endpoint_pod_names`), else the dashed IP.
pub(crate) fn endpoint_label(e: &Endpoint, pod_names: bool) -> String {
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

/// Parses a pod label `a-b-c-d` (IPv4) or `2001-db8--1` (IPv6) as CoreDNS does: exactly three
/// dashes and no `--` means IPv4, otherwise dashes become colons.
pub(crate) fn parse_dashed_ip(label: &str) -> Option<IpAddr> {
    let dashes = label.bytes().filter(|&b| b == b'-').count();
    if dashes == 3 && !label.contains("--") {
        label
            .replace('-', ".")
            .parse::<Ipv4Addr>()
            .ok()
            .map(IpAddr::V4)
    } else {
        let s = label.replace('-', ":");
        // `a-b-c-d` forms with a trailing 0 appended by dashed_ip (e.g. `fd00--0`) still parse.
        s.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
    }
}

/// Extracts the address from a full reverse name (lower-case, with or without trailing dot):
/// four labels under `in-addr.arpa` or 32 nibbles under `ip6.arpa`. Partial names give None.
pub(crate) fn ip_from_reverse(name: &str) -> Option<IpAddr> {
    let name = name.strip_suffix('.').unwrap_or(name);
    if let Some(rest) = name.strip_suffix(".in-addr.arpa") {
        let mut octets = [0u8; 4];
        let labels: Vec<&str> = rest.split('.').collect();
        if labels.len() != 4 {
            return None;
        }
        for (i, l) in labels.iter().rev().enumerate() {
            if l.is_empty() || l.len() > 3 || (l.len() > 1 && l.starts_with('0')) {
                return None;
            }
            octets[i] = l.parse().ok()?;
        }
        return Some(IpAddr::V4(Ipv4Addr::from(octets)));
    }
    if let Some(rest) = name.strip_suffix(".ip6.arpa") {
        let labels: Vec<&str> = rest.split('.').collect();
        if labels.len() != 32 {
            return None;
        }
        let mut v: u128 = 0;
        for l in labels.iter().rev() {
            if l.len() != 1 {
                return None;
            }
            let d = u128::from(l.chars().next()?.to_digit(16)?);
            v = (v << 4) | d;
        }
        return Some(IpAddr::V6(Ipv6Addr::from(v)));
    }
    None
}

/// The reverse name of an address, with a trailing dot (`1.0.0.10.in-addr.arpa.`).
#[cfg(test)]
pub(crate) fn reverse_name(ip: &IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa.", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut s = String::with_capacity(73);
            for b in v6.octets().iter().rev() {
                s.push(char::from_digit(u32::from(b & 0xf), 16).unwrap_or('0'));
                s.push('.');
                s.push(char::from_digit(u32::from(b >> 4), 16).unwrap_or('0'));
                s.push('.');
            }
            s.push_str("ip6.arpa.");
            s
        }
    }
}

/// Is `name` (lower-case, trailing dot) equal to `zone` or below it? Returns the part before
/// the zone without its final dot (`""` at the apex).
pub(crate) fn strip_zone<'a>(name: &'a str, zone: &str) -> Option<&'a str> {
    if name.len() == zone.len() {
        return (name == zone).then_some("");
    }
    if zone == "." {
        return Some(name.strip_suffix('.').unwrap_or(name));
    }
    let cut = name.len().checked_sub(zone.len() + 1)?;
    if name.as_bytes()[cut] == b'.' && &name[cut + 1..] == zone {
        Some(&name[..cut])
    } else {
        None
    }
}

/// The longest of `zones` that `name` (lower-case, trailing dot) is in: CoreDNS's
/// `plugin.Zones.Matches`.
pub(crate) fn longest_zone<'z>(zones: &'z [String], name: &str) -> Option<&'z String> {
    zones
        .iter()
        .filter(|z| strip_zone(name, z).is_some())
        .max_by_key(|z| z.len())
}
