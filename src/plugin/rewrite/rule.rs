//! The rules of `rewrite` and what each does to a question: the name, type and class rewrites
//! of the request, and the response rules that map the answer back (CoreDNS's `Rule` and
//! `ResponseRule`).
use std::net::SocketAddr;

use hickory_server::proto::rr::{DNSClass, RecordType};
use regex::Regex;

use super::edns0::{Ctx, Edns0, Opt};

/// CoreDNS refuses regular expressions longer than this.
pub const MAX_REGEX_LEN: usize = 10000;

/// `plugin.Name(s).Normalize()`: lower-case, with the final dot.
pub fn normalize(s: &str) -> String {
    let mut n = s.to_ascii_lowercase();
    if !n.ends_with('.') {
        n.push('.');
    }
    n
}

/// What happens after a rule that matched: `stop` (the default) ends the rule list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// No later rule is tried.
    Stop,
    /// The next rule is tried on the rewritten question.
    Continue,
}

/// How a rule matches the question name (lower-case, with its final dot).
#[derive(Debug, Clone)]
pub enum Matcher {
    /// The whole name.
    Exact(String),
    /// The name begins with it.
    Prefix(String),
    /// The name ends with it.
    Suffix(String),
    /// The name contains it.
    Substring(String),
    /// A regular expression finds a match in the name (`{N}` in the replacement is group N).
    Regex(Regex),
}

/// Maps one string to another in the answer (CoreDNS's `stringRewriter`).
#[derive(Debug, Clone)]
pub enum Rewriter {
    /// A regular expression and its replacement with `{N}` groups.
    Regex(Regex, String),
    /// A suffix swapped for another (`suffix … answer auto`).
    Suffix(String, String),
    /// The rewritten name (or a name under it) mapped back to the name before the rewrite.
    Remap(String, String),
}

/// A rule that changes the answer on its way back (CoreDNS's `ResponseRule`).
#[derive(Debug, Clone)]
pub enum Response {
    /// Rewrites the owner name of every record.
    Name(Rewriter),
    /// Rewrites the name a record points to (CNAME, NS, PTR, MX, SRV, NAPTR, SOA's MNAME).
    Value(Rewriter),
    /// Keeps every record's TTL within `MIN..=MAX`.
    Ttl(u32, u32),
    /// Turns response code FROM into TO.
    Rcode(u16, u16),
}

/// A `cname` rule: rewrites a CNAME target of the answer and asks for the new target.
#[derive(Debug, Clone)]
pub struct Cname {
    /// How the target matches (case-sensitive, against the lower-cased arguments).
    pub from: Matcher,
    /// The new target (with `{N}` groups for `regex`).
    pub to: String,
}

/// One rule of `rewrite`.
#[derive(Debug, Clone)]
pub enum Rule {
    /// `name [TYPE] FROM TO [answer …]`.
    Name {
        /// Stop or continue after a match.
        mode: Mode,
        /// How FROM matches.
        from: Matcher,
        /// The new name (with `{N}` groups for `regex`).
        to: String,
        /// Map the rewritten name back to the question's in the answer (`answer auto`,
        /// always for `exact`).
        auto: bool,
        /// The `answer name` and `answer value` rules (and `suffix`'s auto rule).
        answers: Vec<Response>,
    },
    /// `type FROM TO`.
    Type(Mode, RecordType, RecordType),
    /// `class FROM TO`.
    Class(Mode, DNSClass, DNSClass),
    /// `ttl [TYPE] NAME TTL|MIN-MAX`.
    Ttl(Mode, Matcher, u32, u32),
    /// `edns0 local|nsid|subnet ACTION …`.
    Edns0(Mode, Edns0),
    /// `cname [TYPE] FROM TO`: always applies.
    Cname(Mode, Cname),
    /// `rcode [TYPE] NAME FROM TO`.
    Rcode(Mode, Matcher, u16, u16),
}

impl Rule {
    /// Stop or continue after a match.
    pub fn mode(&self) -> Mode {
        match self {
            Rule::Name { mode, .. } | Rule::Type(mode, ..) | Rule::Class(mode, ..) => *mode,
            Rule::Ttl(mode, ..) | Rule::Edns0(mode, _) | Rule::Cname(mode, _) => *mode,
            Rule::Rcode(mode, ..) => *mode,
        }
    }
}

/// The question as the rules see and change it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Question {
    /// The name as it goes on (the client's case until a name rule rewrites it).
    pub name: String,
    /// The QTYPE.
    pub qtype: RecordType,
    /// The QCLASS.
    pub class: DNSClass,
    /// The OPT record (`edns0` rules).
    pub opt: Opt,
}

/// Who asked and how, for `edns0`'s variables and `subnet`.
#[derive(Debug, Clone, Copy)]
pub struct Client {
    /// The client's address.
    pub src: SocketAddr,
    /// The address the query came in on.
    pub local: SocketAddr,
    /// `udp` or `tcp`.
    pub proto: &'static str,
}

/// `s` with every `{N}` replaced by group N of `caps` (an unmatched group by nothing).
fn expand(s: &str, caps: &regex::Captures<'_>) -> String {
    let mut out = s.to_string();
    for (i, g) in caps.iter().enumerate() {
        out = out.replace(&format!("{{{i}}}"), g.map_or("", |m| m.as_str()));
    }
    out
}

impl Rewriter {
    /// The string mapped, or `None` when it does not apply.
    pub fn rewrite(&self, src: &str) -> Option<String> {
        match self {
            Rewriter::Regex(re, to) => re.captures(src).map(|c| expand(to, &c)),
            Rewriter::Suffix(suffix, to) => src
                .strip_suffix(suffix.as_str())
                .map(|b| b.to_string() + to),
            Rewriter::Remap(orig, to) => {
                if src == orig {
                    return Some(to.clone());
                }
                let i = src.len().checked_sub(orig.len())?;
                (i > 0 && src.as_bytes()[i - 1] == b'.' && src.get(i..) == Some(orig))
                    .then(|| format!("{}{to}", &src[..i]))
            }
        }
    }
}

impl Matcher {
    /// A `ttl` or `rcode` rule's (`rule`) name matcher from its words `how NAME`, with
    /// CoreDNS's wording for what is wrong.
    pub fn of(rule: &str, how: &str, name: &str) -> Result<Matcher, String> {
        Ok(match how.to_ascii_lowercase().as_str() {
            "exact" => Matcher::Exact(normalize(name)),
            "prefix" => Matcher::Prefix(normalize(name)),
            "suffix" => Matcher::Suffix(normalize(name)),
            "substring" => Matcher::Substring(normalize(name)),
            "regex" => {
                if name.len() > MAX_REGEX_LEN {
                    return Err(format!(
                        "regex pattern too long in a {rule} rule: {} > {MAX_REGEX_LEN}",
                        name.len()
                    ));
                }
                Matcher::Regex(
                    Regex::new(name)
                        .map_err(|_| format!("invalid regex pattern in a {rule} rule: {name}"))?,
                )
            }
            _ => {
                return Err(format!(
                    "{rule} rule supports only exact, prefix, suffix, substring, and regex name matching"
                ))
            }
        })
    }

    /// Does `name` (lower-case) match?
    pub fn matches(&self, name: &str) -> bool {
        match self {
            Matcher::Exact(s) => name == s,
            Matcher::Prefix(s) => name.starts_with(s.as_str()),
            Matcher::Suffix(s) => name.ends_with(s.as_str()),
            Matcher::Substring(s) => name.contains(s.as_str()),
            Matcher::Regex(re) => re.is_match(name),
        }
    }

    /// The name rewritten to `to`, or `None` when it does not match.
    pub fn rewrite(&self, name: &str, to: &str) -> Option<String> {
        match self {
            Matcher::Exact(s) => (name == s).then(|| to.to_string()),
            Matcher::Prefix(s) => name.strip_prefix(s.as_str()).map(|a| format!("{to}{a}")),
            Matcher::Suffix(s) => name.strip_suffix(s.as_str()).map(|b| format!("{b}{to}")),
            Matcher::Substring(s) => name
                .contains(s.as_str())
                .then(|| name.replace(s.as_str(), to)),
            // `is_match` first: `captures` allocates its slots even when nothing matches.
            Matcher::Regex(re) if !re.is_match(name) => None,
            Matcher::Regex(re) => re.captures(name).map(|c| expand(to, &c)),
        }
    }
}

/// What the rules did to a question.
#[derive(Debug, Default)]
pub struct Outcome {
    /// At least one rule matched.
    pub done: bool,
    /// The response rules gathered, in rule order (applied in reverse).
    pub responses: Vec<Response>,
    /// A name rule made a name that is not a domain name: CoreDNS answers SERVFAIL.
    pub invalid: Option<String>,
    /// The `cname` rules that applied, in rule order.
    pub cnames: Vec<Cname>,
}

/// Applies `rules` in order to `q` as CoreDNS does: every rule sees the question as the
/// rules before it left it (its name lower-cased), a matching `stop` rule ends the list.
pub fn apply(rules: &[Rule], q: &mut Question, client: &Client) -> Outcome {
    let mut out = Outcome::default();
    // Lower-cased once, and again only after a name rule changed the name.
    let mut lower = q.name.to_ascii_lowercase();
    for rule in rules {
        let matched = match rule {
            Rule::Name {
                from,
                to,
                auto,
                answers,
                ..
            } => match from.rewrite(&lower, to) {
                Some(new) => {
                    if !is_domain_name(&new) {
                        out.invalid = Some(new);
                        return out;
                    }
                    if *auto && !matches!(from, Matcher::Suffix(_)) {
                        let back = Rewriter::Remap(new.clone(), lower.clone());
                        out.responses.push(Response::Name(back.clone()));
                        out.responses.push(Response::Value(back));
                    }
                    out.responses.extend(answers.iter().cloned());
                    lower = new.to_ascii_lowercase();
                    q.name = new;
                    true
                }
                None => false,
            },
            _ => other(rule, q, client, &lower, &mut out),
        };
        if matched {
            out.done = true;
            if rule.mode() == Mode::Stop {
                break;
            }
        }
    }
    out
}

/// A rule other than `name` applied to `q`; `true` when it matched.
fn other(rule: &Rule, q: &mut Question, client: &Client, lower: &str, out: &mut Outcome) -> bool {
    match rule {
        Rule::Name { .. } => false,
        Rule::Type(_, from, to) => {
            let hit = q.qtype == *from;
            if hit {
                q.qtype = *to;
            }
            hit
        }
        Rule::Class(_, from, to) => {
            let hit = q.class == *from;
            if hit {
                q.class = *to;
            }
            hit
        }
        Rule::Ttl(_, m, min, max) => {
            let hit = m.matches(lower);
            if hit {
                out.responses.push(Response::Ttl(*min, *max));
            }
            hit
        }
        Rule::Rcode(_, m, from, to) => {
            let hit = m.matches(lower);
            if hit {
                out.responses.push(Response::Rcode(*from, *to));
            }
            hit
        }
        Rule::Edns0(_, e) => {
            let cx = Ctx {
                qname: &q.name,
                qtype: u16::from(q.qtype),
                src: client.src,
                local: client.local,
                proto: client.proto,
            };
            e.apply(&mut q.opt, &cx)
        }
        Rule::Cname(_, c) => {
            out.cnames.push(c.clone());
            true
        }
    }
}

/// Go's `dns.IsDomainName`, near enough: labels of 1 to 63 bytes (escapes counted as one),
/// at most 255 bytes on the wire.
pub fn is_domain_name(s: &str) -> bool {
    if s == "." {
        return true;
    }
    if s.is_empty() {
        return false;
    }
    let b = s.as_bytes();
    let (mut label, mut wire, mut i) = (0usize, 1usize, 0usize);
    while i < b.len() {
        match b[i] {
            b'\\' => {
                i += if b.get(i + 1).is_some_and(u8::is_ascii_digit) {
                    4
                } else {
                    2
                };
                label += 1;
                continue;
            }
            b'.' => {
                if label == 0 || label > 63 {
                    return false;
                }
                wire += label + 1;
                label = 0;
            }
            _ => label += 1,
        }
        i += 1;
    }
    if label > 63 {
        return false;
    }
    if label > 0 {
        wire += label + 1;
    }
    wire <= 255
}
