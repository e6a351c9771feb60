//! One parsed hosts text (the file, or the inline entries): names → addresses, `*.` wildcard
//! owners, addresses → names; and reverse names → addresses. Immutable once built: a re-read
//! builds a new one and swaps it in.
//!
//! As CoreDNS: `#` starts a comment, a line needs an address and a name, a line whose address
//! does not parse is skipped, names are lower-cased and fully qualified, names outside the
//! directive's zones are dropped, an IPv4-mapped IPv6 address is its IPv4 address, and wildcard
//! owners (`*.example.com`, one label) give no PTR.
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use foldhash::fast::RandomState;

use super::config::parse_ip;
use crate::zone::names::strip_zone;

type Map<K, V> = HashMap<K, V, RandomState>;

/// The addresses of one owner name, in file order (duplicates kept, as CoreDNS).
#[derive(Debug, Default)]
pub struct Addrs {
    /// IPv4 addresses (A).
    pub v4: Vec<Ipv4Addr>,
    /// IPv6 addresses (AAAA).
    pub v6: Vec<Ipv6Addr>,
}

/// One hosts text, parsed.
#[derive(Debug, Default)]
pub struct Table {
    names: Map<Box<str>, Addrs>,
    /// Wildcard owners `*.SUFFIX`, by SUFFIX.
    wild: Map<Box<str>, Addrs>,
    addrs: Map<IpAddr, Vec<Box<str>>>,
    len: usize,
}

/// What a table holds for one name: the exact owner and the wildcard that covers it.
#[derive(Clone, Copy, Default)]
pub struct Found<'a> {
    exact: Option<&'a Addrs>,
    wild: Option<&'a Addrs>,
}

impl<'a> Found<'a> {
    /// The IPv4 addresses: the exact owner's, else the wildcard's.
    pub fn v4(&self) -> &'a [Ipv4Addr] {
        match self.exact {
            Some(a) if !a.v4.is_empty() => &a.v4,
            _ => self.wild.map_or(&[], |a| &a.v4),
        }
    }

    /// The IPv6 addresses: the exact owner's, else the wildcard's.
    pub fn v6(&self) -> &'a [Ipv6Addr] {
        match self.exact {
            Some(a) if !a.v6.is_empty() => &a.v6,
            _ => self.wild.map_or(&[], |a| &a.v6),
        }
    }
}

impl Table {
    /// Parses hosts text; keeps names in `zones`; PTR entries unless `!reverse`.
    pub fn parse(text: &str, zones: &[String], reverse: bool) -> Table {
        let mut t = Table::default();
        for line in text.lines() {
            let line = line.split_once('#').map_or(line, |(l, _)| l);
            let mut words = line.split_whitespace();
            let (Some(ip), Some(first)) = (words.next(), words.next()) else {
                continue;
            };
            let Some(ip) = parse_ip(ip) else {
                continue;
            };
            for name in std::iter::once(first).chain(words) {
                t.add(ip, normalize(name), zones, reverse);
            }
        }
        t
    }

    fn add(&mut self, ip: IpAddr, name: String, zones: &[String], reverse: bool) {
        if !zones.iter().any(|z| strip_zone(&name, z).is_some()) {
            return;
        }
        let (owners, key, ptr) = match name.strip_prefix("*.") {
            Some(suffix) => (&mut self.wild, suffix.into(), false),
            None => (&mut self.names, Box::<str>::from(name.as_str()), reverse),
        };
        let a = owners.entry(key).or_default();
        match ip {
            IpAddr::V4(v4) => a.v4.push(v4),
            IpAddr::V6(v6) => a.v6.push(v6),
        }
        self.len += 1;
        if ptr {
            self.addrs.entry(ip).or_default().push(name.into());
            self.len += 1;
        }
    }

    /// CoreDNS's count of entries: every address of every owner, and every PTR name.
    pub fn len(&self) -> usize {
        self.len
    }

    /// No entries at all.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The owner `host` (lower-case, trailing dot) and the wildcard covering it.
    pub fn find(&self, host: &str) -> Found<'_> {
        if self.len == 0 {
            return Found::default();
        }
        Found {
            exact: self.names.get(host),
            wild: if self.wild.is_empty() {
                None
            } else {
                parent(host).and_then(|p| self.wild.get(p))
            },
        }
    }

    /// The names of `ip`, in file order.
    pub fn names_of(&self, ip: &IpAddr) -> &[Box<str>] {
        self.addrs.get(ip).map_or(&[], Vec::as_slice)
    }
}

/// Lower-case, with the final dot (CoreDNS's `plugin.Name.Normalize`).
fn normalize(name: &str) -> String {
    let mut n = name.to_lowercase();
    if !ends_with_dot(&n) {
        n.push('.');
    }
    n
}

/// Ends in a dot that is not escaped (`\.`).
fn ends_with_dot(s: &str) -> bool {
    let b = s.as_bytes();
    if b.last() != Some(&b'.') {
        return false;
    }
    let slashes = b[..b.len() - 1]
        .iter()
        .rev()
        .take_while(|c| **c == b'\\')
        .count();
    slashes % 2 == 0
}

/// The name without its first label (`a.example.com.` → `example.com.`); `None` for a name
/// of one label or the root, which no wildcard covers.
fn parent(host: &str) -> Option<&str> {
    let b = host.as_bytes();
    let mut i = 0;
    while i + 1 < b.len() {
        match b[i] {
            b'\\' => i += 2,
            b'.' => return Some(&host[i + 1..]),
            _ => i += 1,
        }
    }
    None
}

/// The address a reverse name (`4.3.2.1.in-addr.arpa.`, nibbles under `ip6.arpa.`) stands for,
/// read as CoreDNS does: the labels reversed and parsed as an address, IPv6 nibbles taken four
/// at a time (extra leading labels ignored). An IPv4-mapped IPv6 name is its IPv4 address.
pub fn reverse_addr(qname: &str) -> Option<IpAddr> {
    if let Some(rest) = qname.strip_suffix(".in-addr.arpa.") {
        let labels: Vec<&str> = rest.split('.').rev().collect();
        return match parse_plain(&labels.join("."))? {
            IpAddr::V4(v4) => Some(IpAddr::V4(v4)),
            IpAddr::V6(_) => None,
        };
    }
    let rest = qname.strip_suffix(".ip6.arpa.")?;
    let labels: Vec<&str> = rest.split('.').rev().collect();
    let groups: Vec<String> = labels.chunks_exact(4).map(|g| g.concat()).collect();
    parse_plain(&groups.join(":"))
}

/// An address without a zone; an IPv4-mapped IPv6 address is its IPv4 address.
fn parse_plain(s: &str) -> Option<IpAddr> {
    if s.contains('%') {
        return None;
    }
    parse_ip(s)
}
