//! `acl [ZONES...] { allow|block|filter|drop [type QTYPE...] [net SOURCE...] }`: access control
//! by the client's source address and the question's type, as CoreDNS's.
//!
//! Each `acl` line is a rule for its zones (the block's when none are given); a block may hold
//! several. A question is checked against every rule whose zones cover its name, in Corefile
//! order; within a rule the first policy whose types and networks match decides: `allow` passes
//! it on at once, `block` answers REFUSED and `filter` NOERROR with no records (both with an
//! extended DNS error, 15 Blocked or 17 Filtered), `drop` sends no reply at all. A question no
//! policy matches is allowed. Counted as `coredns_acl_{allowed,blocked,filtered,dropped}_requests_total`.
use std::net::IpAddr;
use std::sync::Arc;

use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::RecordType;

use crate::config::args;
use crate::config::syntax::{normalize_zone, ConfigError, Line, Token};
use crate::dns::{Answer, Directive, Next, Query, Served};
use crate::metrics::{global, Counter, LazySeries};
use crate::zone::names::strip_zone;

const D: &str = "acl";

/// What a matching policy does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Pass the question on; later rules are not checked.
    Allow,
    /// REFUSED, extended error 15 (Blocked).
    Block,
    /// NOERROR with no records, extended error 17 (Filtered).
    Filter,
    /// No reply.
    Drop,
}

/// A network a policy matches: an address and a prefix length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Net {
    /// The network's address (host bits cleared).
    pub addr: IpAddr,
    /// The prefix length.
    pub bits: u8,
}

impl Net {
    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(n), IpAddr::V4(a)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.bits)).unwrap_or(0);
                u32::from(n) & mask == u32::from(a) & mask
            }
            (IpAddr::V6(n), IpAddr::V6(a)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.bits))
                    .unwrap_or(0);
                u128::from(n) & mask == u128::from(a) & mask
            }
            _ => false,
        }
    }
}

/// One `ACTION [type …] [net …]` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    /// What a match does.
    pub action: Action,
    /// The types it matches; `None`: every type (`type *` or no `type`).
    pub types: Option<Vec<RecordType>>,
    /// The sources it matches; `None`: every address (`net *` or no `net`).
    pub nets: Option<Vec<Net>>,
}

impl Policy {
    fn matches(&self, qtype: RecordType, ip: IpAddr) -> bool {
        self.types.as_ref().is_none_or(|t| t.contains(&qtype))
            && self
                .nets
                .as_ref()
                .is_none_or(|n| n.iter().any(|n| n.contains(ip)))
    }
}

/// One `acl` line: its zones and policies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// Lower-case zones with the final dot.
    pub zones: Vec<String>,
    /// In Corefile order; the first that matches decides.
    pub policies: Vec<Policy>,
}

/// Every `acl` line of a server block.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AclConfig {
    /// In Corefile order.
    pub rules: Vec<Rule>,
}

/// Parses one `acl` line into `into` (a block's lines add up, as CoreDNS's).
pub fn parse(line: &Line, block_zones: &[String], into: &mut AclConfig) -> Result<(), ConfigError> {
    let zones = if line.args().is_empty() {
        block_zones.to_vec()
    } else {
        line.args()
            .iter()
            .map(|t| normalize_zone(&t.text).map_err(|m| ConfigError::at(t, Some(D), m)))
            .collect::<Result<_, _>>()?
    };
    let policies = args::block(line)
        .iter()
        .map(policy)
        .collect::<Result<_, _>>()?;
    into.rules.push(Rule { zones, policies });
    Ok(())
}

fn err(t: &Token, msg: String) -> ConfigError {
    ConfigError::at(t, Some(D), msg)
}

fn policy(o: &Line) -> Result<Policy, ConfigError> {
    let action = match o.name().text.to_ascii_lowercase().as_str() {
        "allow" => Action::Allow,
        "block" => Action::Block,
        "filter" => Action::Filter,
        "drop" => Action::Drop,
        _ => {
            return Err(err(
                o.name(),
                format!(
                    "unexpected token {:?}; expect 'allow', 'block', 'filter' or 'drop'",
                    o.name().text
                ),
            ))
        }
    };
    if let Some(b) = o.block.as_ref().and_then(|b| b.first()) {
        return Err(args::unknown(b, D));
    }
    let mut p = Policy {
        action,
        types: None,
        nets: None,
    };
    let section = |t: &Token| matches!(t.text.to_ascii_lowercase().as_str(), "type" | "net");
    let (mut tv, mut nv, mut all_types, mut all_nets) = (Vec::new(), Vec::new(), false, false);
    let mut seen = (false, false);
    let mut rest = o.args();
    while let Some((head, tail)) = rest.split_first() {
        if !section(head) {
            return Err(err(
                head,
                format!("unexpected token {:?}; expect 'type | net'", head.text),
            ));
        }
        let n = tail.iter().position(section).unwrap_or(tail.len());
        let (tokens, next) = tail.split_at(n);
        rest = next;
        let name = head.text.to_ascii_lowercase();
        if tokens.is_empty() {
            return Err(err(head, format!("no token specified in {name:?} section")));
        }
        if name == "type" {
            seen.0 = true;
            all_types |= types(tokens, &mut tv)?;
        } else {
            seen.1 = true;
            all_nets |= nets(tokens, &mut nv)?;
        }
    }
    // A section left out, or with `*` in it, matches everything.
    p.types = (seen.0 && !all_types).then_some(tv);
    p.nets = (seen.1 && !all_nets).then_some(nv);
    Ok(p)
}

/// A `type` section's QTYPEs, added to `v`; true for `*`, all types (the words after it are
/// not read, as CoreDNS's).
fn types(tokens: &[Token], v: &mut Vec<RecordType>) -> Result<bool, ConfigError> {
    for t in tokens {
        if t.text == "*" {
            return Ok(true);
        }
        match crate::dns::codes::type_from_name(&t.text) {
            Some(rt) => v.push(rt),
            None => {
                return Err(err(
                    t,
                    format!("unexpected token {:?}; expect legal QTYPE", t.text),
                ))
            }
        }
    }
    Ok(false)
}

/// A `net` section's networks (a single address is a /32 or /128), added to `v`; true for
/// `*`, every address.
fn nets(tokens: &[Token], v: &mut Vec<Net>) -> Result<bool, ConfigError> {
    for t in tokens {
        if t.text == "*" {
            return Ok(true);
        }
        let bad = || err(t, format!("illegal CIDR notation {:?}", t.text));
        let (addr, bits) = match t.text.split_once('/') {
            Some((a, b)) => (a, Some(b)),
            None => (t.text.as_str(), None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| bad())?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let bits = match bits {
            None => max,
            Some(b) if !b.is_empty() && b.bytes().all(|c| c.is_ascii_digit()) => {
                b.parse::<u8>().ok().filter(|b| *b <= max).ok_or_else(bad)?
            }
            Some(_) => return Err(bad()),
        };
        v.push(Net { addr, bits });
    }
    Ok(false)
}

/// The counters of one (rule, zone): blocked, filtered, dropped.
const PER_ZONE: usize = 3;

/// `acl` in a chain.
pub struct Acl {
    rules: Vec<Rule>,
    server: String,
    /// Per (rule, zone) in order: blocked, filtered, dropped; made on first use.
    counts: LazySeries<Counter>,
    /// Where each rule's counters start in `counts`.
    first: Vec<usize>,
    allowed: LazySeries<Counter>,
}

impl Acl {
    /// The directive for `c`, counting under the `server` label.
    pub fn new(c: &AclConfig, server: &str) -> Arc<Self> {
        let mut first = Vec::new();
        let mut n = 0;
        for r in &c.rules {
            first.push(n);
            n += r.zones.len() * PER_ZONE;
        }
        Arc::new(Self {
            rules: c.rules.clone(),
            server: server.to_string(),
            counts: LazySeries::new(n),
            first,
            allowed: LazySeries::new(1),
        })
    }

    /// The first action that applies to `q`, with the rule and zone index that decided it.
    fn decide(&self, q: &Query) -> Option<(Action, usize, usize)> {
        let ip = q.src.ip().to_canonical();
        for (ri, r) in self.rules.iter().enumerate() {
            // The longest of the rule's zones that covers the name (CoreDNS's `Zones.Matches`).
            let Some(zi) = (0..r.zones.len())
                .filter(|&i| strip_zone(&q.lower, &r.zones[i]).is_some())
                .max_by_key(|&i| r.zones[i].len())
            else {
                continue;
            };
            if let Some(p) = r.policies.iter().find(|p| p.matches(q.qtype, ip)) {
                return Some((p.action, ri, zi));
            }
        }
        None
    }

    fn count(&self, action: Action, rule: usize, zone: usize) {
        let (name, help, k) = match action {
            Action::Block => (
                "coredns_acl_blocked_requests_total",
                "Counter of DNS requests being blocked.",
                0,
            ),
            Action::Filter => (
                "coredns_acl_filtered_requests_total",
                "Counter of DNS requests being filtered.",
                1,
            ),
            Action::Drop => (
                "coredns_acl_dropped_requests_total",
                "Counter of DNS requests being dropped.",
                2,
            ),
            Action::Allow => {
                self.allowed
                    .get(0, || {
                        global().counter(
                            "coredns_acl_allowed_requests_total",
                            "Counter of DNS requests being allowed.",
                            &[("server", &self.server), ("view", "")],
                        )
                    })
                    .inc();
                return;
            }
        };
        let z = &self.rules[rule].zones[zone];
        let i = self.first[rule] + zone * PER_ZONE + k;
        self.counts
            .get(i, || {
                global().counter(
                    name,
                    help,
                    &[("server", &self.server), ("zone", z), ("view", "")],
                )
            })
            .inc();
    }
}

/// EDE INFO-CODEs (RFC 8914).
const EDE_BLOCKED: u16 = 15;
const EDE_FILTERED: u16 = 17;

impl Directive for Acl {
    fn name(&self) -> &'static str {
        D
    }

    fn serve<'a>(&'a self, q: &'a Query, next: Next<'a>) -> Served<'a> {
        let decided = self.decide(q);
        let (action, rule, zone) = decided.unwrap_or((Action::Allow, 0, 0));
        self.count(action, rule, zone);
        let mut a = match action {
            Action::Allow => return next.answer(q),
            Action::Block => Answer::code(ResponseCode::Refused),
            Action::Filter => Answer::code(ResponseCode::NoError),
            Action::Drop => Answer::code(ResponseCode::NoError),
        };
        a.ede = match action {
            Action::Block => Some(EDE_BLOCKED),
            Action::Filter => Some(EDE_FILTERED),
            _ => None,
        };
        a.silent = action == Action::Drop;
        Served::ready(a.by(D))
    }

    /// Answers depend on the client's address: never replayed to another client.
    fn replayable(&self, _a: &Answer) -> bool {
        false
    }
}

#[cfg(test)]
mod tests;
