//! `template CLASS TYPE [ZONE…] { … }`: answers from Go-template RR texts, as CoreDNS 1.14.7's
//! *template* plugin. The first template whose zone, class, type and one `match` regex fit the
//! question answers (authoritative, its `rcode`, its rendered records); a template whose zone
//! fits but no regex does answers SERVFAIL unless `fallthrough` lets the next template (then
//! the next directive) try. CNAME answers to A/AAAA questions are followed through the server
//! itself, as CoreDNS's upstream does.
//!
//! Regexes are compiled and record texts without actions parsed once, at load; the query path
//! takes no lock (the matches counters are made on first use, lock-free after).
pub mod config;
pub mod rr;
pub mod text;

use std::borrow::Cow;
use std::sync::Arc;

use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::{DNSClass, RData, Record, RecordType};
use regex::Regex;

use crate::dns::codes::{type_slot, type_text, TYPE_SLOTS};
use crate::dns::query::MAX_DEPTH;
use crate::dns::{Answer, Directive, Next, Query, Served};
use crate::metrics::{self, Counter, LazySeries};
use crate::zone::names::strip_zone;
use config::{Rr, Rule, TemplateConfig};
use text::Data;

const D: &str = "template";

/// The `template` directives of one server block.
pub struct Template {
    cfg: TemplateConfig,
    server: String,
    /// `coredns_template_matches_total` per template: one series per (zone, type slot).
    matches: Vec<LazySeries<Counter>>,
}

/// What one template makes of a question.
enum Step<'r> {
    /// Not this template's question: the next template tries.
    Skip,
    /// Its zone but no regex, and no `fallthrough`: SERVFAIL.
    Fail,
    /// It answers: the matching zone and regex.
    Hit(&'r str, &'r Regex),
}

impl Template {
    /// The block's templates; `server` is its metrics label (`dns://:53`).
    pub fn new(cfg: &TemplateConfig, server: &str) -> Arc<Self> {
        let matches = cfg
            .rules
            .iter()
            .map(|r| LazySeries::new(r.zones.len() * TYPE_SLOTS))
            .collect();
        Arc::new(Self {
            cfg: cfg.clone(),
            server: server.to_string(),
            matches,
        })
    }

    fn count_match(&self, i: usize, r: &Rule, zone: &str, class: &str, qtype: RecordType) {
        let z = r.zones.iter().position(|x| x == zone).unwrap_or(0);
        let t = type_text(qtype);
        let make = || {
            metrics::global().counter(
                "coredns_template_matches_total",
                "Counter of template regex matches.",
                &[
                    ("server", &self.server),
                    ("zone", zone),
                    ("view", ""),
                    ("class", class),
                    ("type", &t),
                ],
            )
        };
        let slot = type_slot(qtype);
        if slot + 1 == TYPE_SLOTS {
            // A type without a slot of its own: found under the registry's lock (rare).
            make().inc();
        } else {
            self.matches[i].get(z * TYPE_SLOTS + slot, make).inc();
        }
    }

    fn count_failure(&self, rr_failure: bool, d: &Data<'_>, section: &str, tree: &str) {
        let (name, help) = if rr_failure {
            (
                "coredns_template_rr_failures_total",
                "Counter of mis-templated RRs.",
            )
        } else {
            (
                "coredns_template_template_failures_total",
                "Counter of go template failures.",
            )
        };
        metrics::global()
            .counter(
                name,
                help,
                &[
                    ("server", &self.server),
                    ("zone", d.zone),
                    ("view", ""),
                    ("class", d.class),
                    ("type", &d.qtype),
                    ("section", section),
                    ("template", tree),
                ],
            )
            .inc();
    }

    /// The records of one section, or the error that makes the answer SERVFAIL.
    fn section(&self, rrs: &[Rr], name: &str, d: &Data<'_>) -> Result<Vec<Record>, String> {
        let mut out = Vec::with_capacity(rrs.len());
        for rr in rrs {
            match rr {
                Rr::Fixed(r, _) => out.push((**r).clone()),
                Rr::Text(t) => {
                    let mut s = String::with_capacity(64);
                    if let Err(e) = t.render(name, d, &mut s) {
                        self.count_failure(false, d, name, &t.tree);
                        return Err(format!("template: {name}: {e}"));
                    }
                    match rr::parse(&s) {
                        Ok(r) => out.push(r),
                        Err(e) => {
                            self.count_failure(true, d, name, &t.tree);
                            return Err(format!("template: {name}: bad record {s:?}: {e}"));
                        }
                    }
                }
            }
        }
        Ok(out)
    }

    /// The answer of template `r`, which matched with `zone` and `re`.
    fn answer(&self, i: usize, r: &Rule, q: &Query, zone: &str, re: &Regex) -> Answer {
        let qtype = if q.qtype == RecordType::ANY {
            r.qtype
        } else {
            q.qtype
        };
        let class = q.class.to_string();
        let class = class.as_str();
        self.count_match(i, r, zone, class, qtype);
        if r.rcode == ResponseCode::ServFail {
            return Answer::code(ResponseCode::ServFail);
        }
        let mut d = Data {
            zone,
            name: &q.lower,
            regex: re.as_str(),
            class,
            qtype: Cow::Owned(type_text(qtype)),
            remote: q.src.ip().to_string(),
            ..Data::default()
        };
        if r.groups {
            if let Some(c) = re.captures(&q.lower) {
                d.matches = c
                    .iter()
                    .map(|m| m.map_or_else(String::new, |m| m.as_str().to_string()))
                    .collect();
                d.names = re.capture_names().collect();
            }
        }
        d.question = (q.name.to_ascii(), u16::from(q.qtype), u16::from(q.class));
        let mut a = Answer::code(r.rcode).by(D);
        a.authoritative = true;
        let sections = self
            .section(&r.answer, "answer", &d)
            .and_then(|x| Ok((x, self.section(&r.additional, "additional", &d)?)))
            .and_then(|(x, y)| Ok((x, y, self.section(&r.authority, "authority", &d)?)));
        match sections {
            Ok((ans, add, auth)) => {
                a.answers = ans;
                a.additional = add;
                a.authority = auth;
                a
            }
            Err(e) => Answer::code(ResponseCode::ServFail).with_error(e),
        }
    }
}

/// The longest of `zones` that `name` is in.
fn zone_of<'z>(zones: &'z [String], name: &str) -> Option<&'z str> {
    zones
        .iter()
        .filter(|z| strip_zone(name, z).is_some())
        .max_by_key(|z| z.len())
        .map(String::as_str)
}

/// CoreDNS's `template.match`: zone, class, type, then the first regex that matches.
fn step<'r>(r: &'r Rule, q: &Query) -> Step<'r> {
    let Some(zone) = zone_of(&r.zones, &q.lower) else {
        return Step::Skip;
    };
    if r.class != DNSClass::ANY && r.class != q.class {
        return Step::Skip;
    }
    if r.qtype != RecordType::ANY && q.qtype != RecordType::ANY && q.qtype != r.qtype {
        return Step::Skip;
    }
    match r.regex.iter().find(|re| re.is_match(&q.lower)) {
        Some(re) => Step::Hit(zone, re),
        None if r.fall.through(&q.lower) => Step::Skip,
        None => Step::Fail,
    }
}

impl Directive for Template {
    fn name(&self) -> &'static str {
        D
    }

    fn serve<'a>(&'a self, q: &'a Query, next: Next<'a>) -> Served<'a> {
        if zone_of(&self.cfg.zones, &q.lower).is_none() {
            return next.answer(q);
        }
        for (i, r) in self.cfg.rules.iter().enumerate() {
            let (zone, re) = match step(r, q) {
                Step::Skip => continue,
                Step::Fail => return Served::ready(Answer::code(ResponseCode::ServFail)),
                Step::Hit(z, re) => (z, re),
            };
            let a = self.answer(i, r, q, zone, re);
            return follow(a, q, next);
        }
        next.answer(q)
    }
}

/// CoreDNS's upstream: for an A or AAAA question, each CNAME of the answer section is followed
/// by asking the server itself, and what it answers comes right after the CNAME.
fn follow<'a>(a: Answer, q: &'a Query, next: Next<'a>) -> Served<'a> {
    let chase = matches!(q.qtype, RecordType::A | RecordType::AAAA)
        && q.depth < MAX_DEPTH
        && a.answers.iter().any(|r| matches!(r.data, RData::CNAME(_)));
    if !chase {
        return Served::ready(a);
    }
    Served::later(async move {
        let mut a = a;
        let mut out = Vec::with_capacity(a.answers.len() + 2);
        for r in std::mem::take(&mut a.answers) {
            let target = match &r.data {
                RData::CNAME(c) => Some(c.0.clone()),
                _ => None,
            };
            out.push(r);
            if let Some(t) = target {
                let sub = q.follow(t, q.qtype);
                out.extend(next.resolve(&sub).await.answers);
            }
        }
        a.answers = out;
        a
    })
}

#[cfg(test)]
mod tests;
