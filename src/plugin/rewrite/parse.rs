//! Reading `rewrite` lines into [`Rule`]s, with CoreDNS's error wording (`plugin/rewrite`'s
//! `newRule`, `newNameRule`, `parseAnswerRules`, `newTTLRule`); `edns0`, `cname` and `rcode`
//! rules in `parse/`.
use std::str::FromStr;

use hickory_server::proto::rr::DNSClass;
use regex::Regex;

use super::rule::{normalize, Matcher, Mode, Response, Rewriter, Rule, MAX_REGEX_LEN};

mod edns0;
mod response;
use crate::config::syntax::{ConfigError, Line, Token};
use crate::dns::codes::type_from_name;

const D: &str = "rewrite";

/// Parses one `rewrite` line (a rule on the line, or `rewrite [stop|continue] { … }` whose
/// block's words make one rule, as CoreDNS reads it) and adds its rule to `rules`.
pub(super) fn parse(line: &Line, rules: &mut Vec<Rule>) -> Result<(), ConfigError> {
    let mut words: Vec<&Token> = line.args().iter().collect();
    if let Some(block) = &line.block {
        if words.len() >= 2 {
            return Err(ConfigError::at(
                line.name(),
                Some(D),
                "a rule on the line takes no block",
            ));
        }
        for l in block {
            if l.block.is_some() {
                return Err(ConfigError::at(
                    l.name(),
                    Some(D),
                    "nested blocks are not allowed",
                ));
            }
            words.extend(l.tokens.iter());
        }
    }
    let at = words.first().copied().unwrap_or(line.name());
    let texts: Vec<&str> = words.iter().map(|t| t.text.as_str()).collect();
    let rule = new_rule(&texts).map_err(|m| ConfigError::at(at, Some(D), m))?;
    rules.push(rule);
    Ok(())
}

/// CoreDNS's `newRule`: the mode, the rule type, its arguments.
fn new_rule(args: &[&str]) -> Result<Rule, String> {
    let Some(first) = args.first() else {
        return Err("no rule type specified for rewrite".into());
    };
    let arg0 = first.to_ascii_lowercase();
    let (mode, rest) = match arg0.as_str() {
        "continue" | "stop" => {
            if args.len() < 2 {
                return Err(format!("{arg0} rule must begin with a rule type"));
            }
            let mode = if arg0 == "stop" {
                Mode::Stop
            } else {
                Mode::Continue
            };
            (mode, &args[1..])
        }
        _ => (Mode::Stop, args),
    };
    let kind = rest[0].to_ascii_lowercase();
    let params = &rest[1..];
    match kind.as_str() {
        "answer" => Err("response rewrites must begin with a name rule".into()),
        "name" => name_rule(mode, params),
        "type" | "class" if params.len() != 2 => {
            Err(format!("{kind} rules must have exactly two arguments"))
        }
        "type" => {
            let t = |s: &str| {
                let up = s.to_ascii_uppercase();
                type_from_name(&up).ok_or_else(|| format!("invalid type {up:?}"))
            };
            Ok(Rule::Type(mode, t(params[0])?, t(params[1])?))
        }
        "class" => {
            let c = |s: &str| {
                let up = s.to_ascii_uppercase();
                match up.as_str() {
                    "CS" => Ok(DNSClass::from(2u16)),
                    "*" => Err(format!("invalid class {up:?}")),
                    _ => DNSClass::from_str(&up).map_err(|_| format!("invalid class {up:?}")),
                }
            };
            Ok(Rule::Class(mode, c(params[0])?, c(params[1])?))
        }
        "ttl" => ttl_rule(mode, params),
        "edns0" => edns0::edns0_rule(mode, params),
        "cname" => response::cname_rule(mode, params),
        "rcode" => response::rcode_rule(mode, params),
        _ => Err(format!("invalid rule type {first:?}")),
    }
}

/// How many distinct `{N}` (N up to 100) `s` uses.
fn groups_used(s: &str) -> usize {
    (0..=100)
        .filter(|i| s.contains(&format!("{{{i}}}")))
        .count()
}

/// CoreDNS's `isValidRegexPattern`: `from` compiles and has as many groups as `to` uses.
fn regex_for(from: &str, to: &str) -> Result<Regex, String> {
    if from.len() > MAX_REGEX_LEN {
        return Err(format!(
            "regex pattern too long: {} > {MAX_REGEX_LEN}",
            from.len()
        ));
    }
    let re = Regex::new(from).map_err(|_| format!("invalid regex matching pattern: {from}"))?;
    if groups_used(to) > re.captures_len() - 1 {
        return Err(format!(
            "the rewrite regex pattern ({to}) uses more subexpressions than its corresponding matching regex pattern ({from})"
        ));
    }
    Ok(re)
}

/// CoreDNS's `newNameRule`.
fn name_rule(mode: Mode, args: &[&str]) -> Result<Rule, String> {
    if args.len() < 2 {
        return Err("too few arguments for a name rule".into());
    }
    let (kind, from, to) = if args.len() == 2 {
        ("exact".to_string(), normalize(args[0]), normalize(args[1]))
    } else {
        let kind = args[0].to_ascii_lowercase();
        if kind == "regex" {
            (kind, args[1].to_string(), args[2].to_string())
        } else {
            (kind, normalize(args[1]), normalize(args[2]))
        }
    };
    let (auto, answers) = if args.len() > 3 {
        answer_rules(&kind, &args[3..])?
    } else {
        (false, Vec::new())
    };
    let (from, to, auto, answers) = match kind.as_str() {
        "exact" => {
            regex_for(&to, &from)?;
            (Matcher::Exact(from), to, true, answers)
        }
        "prefix" => (Matcher::Prefix(from), to, auto, answers),
        "suffix" => {
            let mut all = Vec::new();
            if auto {
                let back = Rewriter::Suffix(to.clone(), from.clone());
                all.push(Response::Name(back.clone()));
                all.push(Response::Value(back));
            }
            all.extend(answers);
            (Matcher::Suffix(from), to, auto, all)
        }
        "substring" => (Matcher::Substring(from), to, auto, answers),
        "regex" => {
            let re = regex_for(&from, &to)?;
            (Matcher::Regex(re), normalize(args[2]), auto, answers)
        }
        _ => {
            return Err(format!(
                "name rule supports only exact, prefix, suffix, substring, and regex name matching, received: {kind}"
            ))
        }
    };
    Ok(Rule::Name {
        mode,
        from,
        to,
        auto,
        answers,
    })
}

/// CoreDNS's `parseAnswerRules`: `answer auto`, `answer name FROM TO`, `answer value FROM
/// TO`, the word `answer` optional after the first.
fn answer_rules(name: &str, args: &[&str]) -> Result<(bool, Vec<Response>), String> {
    if args.len() < 2 {
        return Err(format!("invalid arguments for {name} rule"));
    }
    let (mut auto, mut rules, mut name_rules, mut i) = (false, Vec::new(), 0, 0);
    let mut first = true;
    while i < args.len() {
        if first && args[i] != "answer" {
            return Err(format!(
                "exceeded the number of arguments for a non-answer rule argument for {name} rule"
            ));
        }
        first = false;
        if args[i] == "answer" {
            i += 1;
        }
        let Some(&last) = args.get(i) else {
            return Err(format!("type missing for answer rule for {name} rule"));
        };
        i += 1;
        match last {
            "auto" => auto = true,
            "name" | "value" => {
                let [from, to] = args.get(i..i + 2).unwrap_or_default() else {
                    return Err(format!(
                        "{last} answer rule for {name} rule: 2 arguments required"
                    ));
                };
                let re = regex_for(from, to)
                    .map_err(|e| format!("{last} answer rule for {name} rule: {e}"))?;
                let r = Rewriter::Regex(re, normalize(to));
                if last == "name" {
                    rules.push(Response::Name(r));
                    name_rules += 1;
                } else {
                    rules.push(Response::Value(r));
                }
                i += 2;
            }
            _ => {
                return Err(format!(
                    "invalid type {last:?} for answer rule for {name} rule"
                ))
            }
        }
    }
    if auto && name_rules > 0 {
        return Err(
            "auto name answer rule cannot be combined with explicit name anwer rules".into(),
        );
    }
    Ok((auto, rules))
}

/// CoreDNS's `isValidTTL`: `TTL`, `MIN-MAX`, `MIN-`, `-MAX`.
fn ttl_range(s: &str) -> Option<(u32, u32)> {
    let num = |t: &str| {
        if t.is_empty() || !t.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        t.parse::<u32>().ok()
    };
    let parts: Vec<&str> = s.split('-').collect();
    match parts.as_slice() {
        [v] => num(v).map(|v| (v, v)),
        ["", ""] => None,
        [lo, hi] => {
            let lo = if lo.is_empty() { 0 } else { num(lo)? };
            let hi = if hi.is_empty() { 2147483647 } else { num(hi)? };
            (lo <= hi).then_some((lo, hi))
        }
        _ => None,
    }
}

/// CoreDNS's `newTTLRule`.
fn ttl_rule(mode: Mode, args: &[&str]) -> Result<Rule, String> {
    if args.len() < 2 {
        return Err(format!("too few ({}) arguments for a ttl rule", args.len()));
    }
    let s = match args.len() {
        2 => args[1],
        3 => args[2],
        _ => "",
    };
    let (min, max) = ttl_range(s).ok_or_else(|| format!("invalid TTL '{s}' for a ttl rule"))?;
    if args.len() == 2 {
        return Ok(Rule::Ttl(
            mode,
            Matcher::Exact(normalize(args[0])),
            min,
            max,
        ));
    }
    let m = Matcher::of("ttl", args[0], args[1])?;
    Ok(Rule::Ttl(mode, m, min, max))
}
