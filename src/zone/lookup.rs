//! Answering one question from a [`Zone`] snapshot ([`serve`]), with the rules of CoreDNS's
//! `kubernetes` plugin (handler.go, kubernetes.go, parse.go, reverse.go, ns.go and
//! backend_lookup.go of CoreDNS 1.14): the same records, the same NXDOMAIN/NODATA split, the
//! same SOA.
//!
//! Matching is case-insensitive; answers use the question's name as written and the zone part
//! of SRV/NS targets in the question's case, as CoreDNS does. The steps live beside this
//! file: the question name (`qname.rs`), what a name stands for (`items.rs`), the reverse
//! tree (`reverse.rs`) and the namespace scope of an answer (`scope.rs`).
use std::net::IpAddr;

use super::ctx::{Ctx, Host, Item};
use super::layered::Set;
use super::names::{longest_zone, strip_zone};
use super::options::KubeOptions;
use super::qname::Found;
use super::record::{qtype, Outcome, Owner, RData, Rcode, Record, Reply};
use super::scope::{namespace_scope, negative_scope};
use super::snapshot::Zone;

/// Answers `qname` (as written by the client, absolute) for `qt`.
pub fn serve(opts: &KubeOptions, zone: &Zone, qname: &str, qt: u16) -> Outcome {
    serve_lower(opts, zone, qname, &qname.to_ascii_lowercase(), qt)
}

/// [`serve`] when the caller already has `lower`, `qname` in lower case (the query path does).
pub fn serve_lower(opts: &KubeOptions, zone: &Zone, qname: &str, lower: &str, qt: u16) -> Outcome {
    debug_assert_eq!(lower, qname.to_ascii_lowercase());
    let Some(zl) = longest_zone(&opts.zones, lower) else {
        return Outcome::Next;
    };
    let zq = &qname[qname.len() - zl.len()..];
    let cx = Ctx {
        opts,
        zone,
        zl,
        zq,
        keys: qt == qtype::SRV,
        mc: opts
            .multicluster
            .iter()
            .any(|m| strip_zone(zl, m).is_some()),
    };

    if matches!(qt, qtype::AXFR | qtype::IXFR) {
        return Outcome::Reply(Reply {
            rcode: Some(Rcode::Refused),
            ..Reply::default()
        });
    }
    let mut reply = Reply::default();
    let res = cx.answer(lower, qt, &mut reply);

    if res.is_err() {
        if opts.fallthrough.through(lower) {
            return Outcome::Next;
        }
        reply = Reply {
            rcode: Some(if zone.synced {
                Rcode::NxDomain
            } else {
                Rcode::ServFail
            }),
            authority: vec![cx.soa()],
            scope: negative_scope(&cx, lower, qt),
            ..Reply::default()
        };
        return Outcome::Reply(reply);
    }
    if reply.answer.is_empty() && reply.chase.is_none() {
        reply.additional.clear();
        reply.authority = vec![cx.soa()];
        reply.scope = negative_scope(&cx, lower, qt);
    } else if reply.chase.is_none() && reply.authority.is_empty() {
        reply.scope = namespace_scope(lower, zl, &reply, zone);
    }
    Outcome::Reply(reply)
}

/// Is `name` (any case) `zone` or below it?
fn is_subdomain(name: &str, zone: &str) -> bool {
    strip_zone(&name.to_ascii_lowercase(), zone).is_some()
}

impl Ctx<'_> {
    /// Fills `reply` with the answer to `lower` (the question, lower-case) for `qt` (neither
    /// AXFR nor IXFR); a name error is `Err`.
    fn answer(&self, lower: &str, qt: u16, reply: &mut Reply) -> Found<()> {
        match qt {
            qtype::A | qtype::AAAA => self
                .address(lower, &Owner::Query, qt, &mut Vec::new(), reply)
                .map(|recs| reply.answer = recs),
            qtype::TXT => self.txt(lower).map(|recs| reply.answer = recs),
            qtype::CNAME => self.cname(lower).map(|recs| reply.answer = recs),
            qtype::PTR => self.ptr(lower).map(|recs| reply.answer = recs),
            qtype::SRV => self.srv(lower).map(|(a, x)| {
                reply.answer = a;
                reply.additional = x;
            }),
            qtype::MX => self.items(lower, qt).map(|_| ()),
            qtype::SOA => {
                if lower == self.zl {
                    reply.answer.push(self.soa());
                }
                Ok(())
            }
            qtype::NS if lower == self.zl => self.ns().map(|(a, x)| {
                reply.answer = a;
                reply.additional = x;
            }),
            _ => self
                .address(
                    lower,
                    &Owner::Query,
                    qtype::A,
                    &mut Vec::new(),
                    &mut Reply::default(),
                )
                .map(|_| ()),
        }
    }

    /// A/AAAA with CNAME chasing (backend_lookup.go `A`/`AAAA`).
    fn address(
        &self,
        name: &str,
        owner: &Owner,
        qt: u16,
        previous: &mut Vec<(String, String)>,
        reply: &mut Reply,
    ) -> Found<Vec<Record>> {
        // checkForApex: CoreDNS first tries `apex.dns.ZONE`, which never parses for this
        // plugin, so the apex itself is looked up (and is NODATA).
        let items = self.items(name, qt)?;
        let mut out = Vec::new();
        let mut dup: Set<IpAddr> = Set::default();
        for item in items {
            match item.host {
                Host::Name(target) => {
                    if target.eq_ignore_ascii_case(name) {
                        continue;
                    }
                    if previous.len() > 7 {
                        continue;
                    }
                    let owner_name = match owner {
                        Owner::Query => name.to_string(),
                        Owner::Name(n) => n.clone(),
                    };
                    let link = (owner_name.to_ascii_lowercase(), target.to_ascii_lowercase());
                    if previous.contains(&link) {
                        continue;
                    }
                    let cname = Record {
                        owner: owner.clone(),
                        ttl: item.ttl,
                        data: RData::Cname(target.clone()),
                    };
                    if is_subdomain(&target, self.zl) {
                        previous.push(link);
                        let next_owner = Owner::Name(target.clone());
                        let lower_target = target.to_ascii_lowercase();
                        if let Ok(next) =
                            self.address(&lower_target, &next_owner, qt, previous, reply)
                        {
                            if !next.is_empty() {
                                out.push(cname);
                                out.extend(next);
                            }
                        }
                        continue;
                    }
                    out.push(cname);
                    reply.chase = Some((target, qt));
                }
                Host::Ip(ip) => {
                    let fam_ok = match ip {
                        IpAddr::V4(_) => qt == qtype::A,
                        IpAddr::V6(_) => qt == qtype::AAAA,
                    };
                    if fam_ok && dup.insert(ip) {
                        out.push(Record {
                            owner: owner.clone(),
                            ttl: item.ttl,
                            data: ip_rdata(ip),
                        });
                    }
                }
                Host::Text(_) => {}
            }
        }
        Ok(out)
    }

    /// TXT: `dns-version`, else NODATA for names that exist.
    fn txt(&self, name: &str) -> Found<Vec<Record>> {
        let items = self.items(name, qtype::TXT)?;
        let mut out: Vec<Record> = Vec::new();
        for item in items {
            if let Host::Text(t) = item.host {
                let r = Record {
                    owner: Owner::Query,
                    ttl: item.ttl,
                    data: RData::Txt(t.to_string()),
                };
                if !out.contains(&r) {
                    out.push(r);
                }
            }
        }
        Ok(out)
    }

    /// CNAME: an ExternalName's target.
    fn cname(&self, name: &str) -> Found<Vec<Record>> {
        let items = self.items(name, qtype::CNAME)?;
        Ok(match items.into_iter().next() {
            Some(Item {
                host: Host::Name(target),
                ttl,
                ..
            }) => vec![Record {
                owner: Owner::Query,
                ttl,
                data: RData::Cname(target),
            }],
            _ => Vec::new(),
        })
    }

    /// SRV with the targets' addresses as additional records.
    fn srv(&self, name: &str) -> Found<(Vec<Record>, Vec<Record>)> {
        let items = self.items(name, qtype::SRV)?;
        let n = items.len().max(1) as f64;
        let weight = ((100.0 / (100.0 * n)) * 100.0).floor() as u16;
        let weight = weight.max(1);
        let mut answer = Vec::new();
        let mut extra = Vec::new();
        let mut seen_srv: Set<(String, i32)> = Set::default();
        let mut seen_addr: Set<(String, IpAddr)> = Set::default();
        for item in items {
            if item.port == -1 {
                continue;
            }
            let Host::Ip(ip) = item.host else { continue };
            let target = item.key;
            if seen_srv.insert((target.clone(), item.port)) {
                answer.push(Record {
                    owner: Owner::Query,
                    ttl: item.ttl,
                    data: RData::Srv {
                        priority: 0,
                        weight,
                        port: item.port as u16,
                        target: target.clone(),
                    },
                });
            }
            if seen_addr.insert((target.clone(), ip)) {
                extra.push(Record {
                    owner: Owner::Name(target),
                    ttl: item.ttl,
                    data: ip_rdata(ip),
                });
            }
        }
        Ok((answer, extra))
    }

    /// The apex NS with `ns.dns.ZONE`'s addresses as additional records.
    fn ns(&self) -> Found<(Vec<Record>, Vec<Record>)> {
        let mut answer = Vec::new();
        let mut extra = Vec::new();
        let mut seen = Set::default();
        for item in self.items(self.zl, qtype::NS)? {
            let Host::Ip(ip) = item.host else { continue };
            extra.push(Record {
                owner: Owner::Name(item.key.clone()),
                ttl: item.ttl,
                data: ip_rdata(ip),
            });
            if seen.insert(item.key.clone()) {
                answer.push(Record {
                    owner: Owner::Query,
                    ttl: item.ttl,
                    data: RData::Ns(item.key),
                });
            }
        }
        Ok((answer, extra))
    }
}

/// The address record of `ip`.
fn ip_rdata(ip: IpAddr) -> RData {
    match ip {
        IpAddr::V4(v4) => RData::A(v4),
        IpAddr::V6(v6) => RData::Aaaa(v6),
    }
}
