//! `rewrite`: rewrites the question (name, type, class) before the rest of the chain answers
//! it, and maps the answer back (owner names, the names records point to, TTLs) so the client
//! sees an answer to its own question, as CoreDNS's `rewrite`.
//!
//! Every `rewrite` line of a block adds one rule; the rules run in Corefile order, each on the
//! question as the rules before it left it; a matching `stop` rule (the default) ends the list,
//! `continue` goes on. The response rules of every matching rule are applied to every record
//! in reverse rule order. `edns0` rules change the OPT record `forward` sends upstream, `cname`
//! rules re-ask for a rewritten CNAME target, `rcode` rules map the response code.
use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::{Name, RData, Record};

use crate::config::syntax::{ConfigError, Line};
use crate::dns::query::text;
use crate::dns::{Answer, Directive, Next, Query, Served};

mod cname;
pub mod edns0;
mod parse;
pub mod rule;

use edns0::Opt;
use rule::{Client, Outcome, Question, Response, Rewriter, Rule};

const D: &str = "rewrite";

/// The rules of a server block's `rewrite` lines, in Corefile order.
#[derive(Debug, Clone, Default)]
pub struct RewriteConfig {
    /// One rule per `rewrite` line.
    pub rules: Vec<Rule>,
}

/// Parses one `rewrite` line into `c` (a block's lines make one rule list).
pub fn parse(line: &Line, c: &mut RewriteConfig) -> Result<(), ConfigError> {
    parse::parse(line, &mut c.rules)
}

/// `rewrite` in a chain.
pub struct Rewrite {
    rules: Vec<Rule>,
}

impl Rewrite {
    /// The directive for `c`.
    pub fn new(c: &RewriteConfig) -> Self {
        Self {
            rules: c.rules.clone(),
        }
    }
}

impl Directive for Rewrite {
    fn name(&self) -> &'static str {
        D
    }

    fn serve<'a>(&'a self, q: &'a Query, next: Next<'a>) -> Served<'a> {
        let mut question = Question {
            name: q.text.clone(),
            qtype: q.qtype,
            class: q.class,
            opt: Opt {
                present: q.edns.is_some(),
                options: q.edns_options.as_deref().unwrap_or_default().to_vec(),
                changed: false,
            },
        };
        let out = rule::apply(&self.rules, &mut question, &client(q));
        if let Some(bad) = out.invalid {
            return Served::ready(invalid(&bad));
        }
        if !out.done {
            return next.answer(q);
        }
        let bad = question.name.clone();
        let added = q.edns.is_none() && question.opt.changed;
        let Some(q2) = rewritten(q, question) else {
            return Served::ready(invalid(&bad));
        };
        let Outcome {
            responses, cnames, ..
        } = out;
        Served::later(async move {
            let mut a = next.answer(&q2).await;
            for c in &cnames {
                cname::apply(c, &q2, &next, &mut a).await;
            }
            let opt = a.plugin == "forward" && q2.edns.is_some();
            revert(&responses, &mut a, opt);
            a.opt_added |= added;
            a
        })
    }
}

/// Who asked and how.
fn client(q: &Query) -> Client {
    Client {
        src: q.src,
        local: q.local,
        proto: q.proto.as_str(),
    }
}

/// SERVFAIL for a name a rule made that is no domain name.
fn invalid(name: &str) -> Answer {
    Answer::code(ResponseCode::ServFail)
        .by(D)
        .with_error(format!("invalid name after rewrite: {name}"))
}

/// The query as the rules left it (`None` when its name does not parse).
fn rewritten(q: &Query, question: Question) -> Option<Query> {
    let mut q2 = Query {
        qtype: question.qtype,
        class: question.class,
        ..q.clone()
    };
    if question.name != q.text {
        q2.set_name(Name::from_ascii(&question.name).ok()?);
    }
    let opt = question.opt;
    if opt.changed {
        // CoreDNS's `setupEdns0Opt`: a query without EDNS gets an OPT record of 4096 bytes.
        q2.edns = q2.edns.or(Some(4096));
        q2.edns_options = (!opt.options.is_empty()).then(|| opt.options.into());
        q2.options_rewritten = true;
    }
    Some(q2)
}

/// Applies the response rules to every record of the answer, in reverse rule order (CoreDNS's
/// `ResponseReverter`). The `rcode` rules run once per record (the OPT record the upstream
/// answered with, `opt`, counts), or once when there is none, as CoreDNS's.
pub fn revert(responses: &[Response], a: &mut Answer, opt: bool) {
    if responses.is_empty() {
        return;
    }
    for r in a.records_mut() {
        for rule in responses.iter().rev() {
            apply_response(rule, r);
        }
    }
    let n = a.answers.len() + a.authority.len() + a.additional.len() + usize::from(opt);
    for _ in 0..n.max(1) {
        for rule in responses.iter().rev() {
            if let Response::Rcode(from, to) = rule {
                if u16::from(a.rcode) == *from {
                    a.rcode = <ResponseCode as From<u16>>::from(*to);
                }
            }
        }
    }
}

/// `n` rewritten by `rw`, when it applies and makes a name.
fn rewrite_name(rw: &Rewriter, n: &Name) -> Option<Name> {
    let new = rw.rewrite(&text(n, false))?;
    Name::from_ascii(&new).ok()
}

fn apply_response(rule: &Response, r: &mut Record) {
    match rule {
        Response::Name(rw) => {
            if let Some(n) = rewrite_name(rw, &r.name) {
                r.name = n;
            }
        }
        Response::Value(rw) => {
            if let Some(target) = value_of(&mut r.data) {
                if let Some(n) = rewrite_name(rw, target) {
                    *target = n;
                }
            }
        }
        Response::Rcode(..) => {}
        Response::Ttl(min, max) => {
            if r.ttl < *min {
                r.ttl = *min;
            } else if r.ttl > *max {
                r.ttl = *max;
            }
        }
    }
}

/// The name a record points to, for `answer value` (CoreDNS's `getRecordValueForRewrite`;
/// DNAME is not among hickory's record types).
fn value_of(d: &mut RData) -> Option<&mut Name> {
    match d {
        RData::SRV(s) => Some(&mut s.target),
        RData::MX(m) => Some(&mut m.exchange),
        RData::CNAME(c) => Some(&mut c.0),
        RData::NS(n) => Some(&mut n.0),
        RData::NAPTR(n) => Some(&mut n.replacement),
        RData::SOA(s) => Some(&mut s.mname),
        RData::PTR(p) => Some(&mut p.0),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
