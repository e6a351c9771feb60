//! `rewrite`: rewrites the question (name, type, class) before the rest of the chain answers
//! it, and maps the answer back (owner names, the names records point to, TTLs) so the client
//! sees an answer to its own question, as CoreDNS's `rewrite`.
//!
//! Every `rewrite` line of a block adds one rule; the rules run in Corefile order, each on the
//! question as the rules before it left it; a matching `stop` rule (the default) ends the list,
//! `continue` goes on. The response rules of every matching rule are applied to every record
//! in reverse rule order. `edns0`, `cname` and `rcode` rules are refused at load.
use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::{Name, RData, Record};

use crate::config::syntax::{ConfigError, Line};
use crate::dns::query::lower_text;
use crate::dns::{Answer, Directive, Next, Query, Served};

mod parse;
pub mod rule;

use rule::{Outcome, Question, Response, Rewriter, Rule};

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
            name: text(&q.name),
            qtype: q.qtype,
            class: q.class,
        };
        let out = rule::apply(&self.rules, &mut question);
        if let Some(bad) = out.invalid {
            return Served::ready(
                Answer::code(ResponseCode::ServFail)
                    .by(D)
                    .with_error(format!("invalid name after rewrite: {bad}")),
            );
        }
        if !out.done {
            return next.answer(q);
        }
        let name = if question.name == text(&q.name) {
            Some(q.name.clone())
        } else {
            Name::from_ascii(&question.name).ok()
        };
        let Some(name) = name else {
            return Served::ready(
                Answer::code(ResponseCode::ServFail)
                    .by(D)
                    .with_error(format!("invalid name after rewrite: {}", question.name)),
            );
        };
        let q2 = Query {
            lower: lower_text(&name),
            name,
            qtype: question.qtype,
            class: question.class,
            ..q.clone()
        };
        let Outcome { responses, .. } = out;
        Served::later(async move {
            let mut a = next.answer(&q2).await;
            revert(&responses, &mut a);
            a
        })
    }
}

/// Applies the response rules to every record of the answer, in reverse rule order (CoreDNS's
/// `ResponseReverter`).
pub fn revert(responses: &[Response], a: &mut Answer) {
    if responses.is_empty() {
        return;
    }
    for r in a.records_mut() {
        for rule in responses.iter().rev() {
            apply_response(rule, r);
        }
    }
}

/// A name as CoreDNS writes it: presentation form with the final dot.
fn text(n: &Name) -> String {
    let mut t = n.to_ascii();
    if !t.ends_with('.') {
        t.push('.');
    }
    t
}

/// `n` rewritten by `rw`, when it applies and makes a name.
fn rewrite_name(rw: &Rewriter, n: &Name) -> Option<Name> {
    let new = rw.rewrite(&text(n))?;
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
