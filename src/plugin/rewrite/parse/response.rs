//! Reading `rewrite cname …` and `rewrite rcode …` rules, with CoreDNS's wording
//! (`newCNAMERule`, `newRCodeRule`).
use regex::Regex;

use super::super::rule::{normalize, Cname, Matcher, Mode, Rule, MAX_REGEX_LEN};
use crate::dns::codes::rcode_name;

/// CoreDNS's `newCNAMERule`: `cname [exact|prefix|suffix|substring|regex] FROM TO`.
pub(super) fn cname_rule(mode: Mode, args: &[&str]) -> Result<Rule, String> {
    let (kind, from, to) = match args {
        [kind, from, to] => (kind.to_ascii_lowercase(), from, to),
        [from, to] => ("exact".to_string(), from, to),
        _ => {
            return Err(format!(
                "too few ({}) arguments for a cname rule",
                args.len()
            ))
        }
    };
    let (from, to) = (from.to_ascii_lowercase(), to.to_ascii_lowercase());
    let from = match kind.as_str() {
        "exact" => {
            return Ok(Rule::Cname(
                mode,
                Cname {
                    from: Matcher::Exact(normalize(&from)),
                    to: normalize(&to),
                },
            ))
        }
        "prefix" => Matcher::Prefix(from),
        "suffix" => Matcher::Suffix(from),
        "substring" => Matcher::Substring(from),
        "regex" => {
            if from.len() > MAX_REGEX_LEN {
                return Err(format!(
                    "regex pattern too long in a cname rule: {} > {MAX_REGEX_LEN}",
                    from.len()
                ));
            }
            let re = Regex::new(&from)
                .map_err(|e| format!("invalid cname rewrite regex pattern: {e}"))?;
            Matcher::Regex(re)
        }
        _ => return Err(format!("unknown cname rewrite type: {kind}")),
    };
    Ok(Rule::Cname(mode, Cname { from, to }))
}

/// CoreDNS's `isValidRCode`: a number up to 23 or a miekg/dns name.
fn rcode(s: &str) -> Option<u16> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<u16>().ok().filter(|n| *n <= 23);
    }
    let up = s.to_ascii_uppercase();
    if up == "DSOTYPENI" {
        return Some(11);
    }
    (0..=23u16).find(|c| rcode_name(*c) == up.as_str())
}

/// CoreDNS's `newRCodeRule`: `rcode [exact|prefix|suffix|substring|regex] NAME FROM TO`.
pub(super) fn rcode_rule(mode: Mode, args: &[&str]) -> Result<Rule, String> {
    if args.len() < 3 {
        return Err(format!(
            "too few ({}) arguments for a rcode rule",
            args.len()
        ));
    }
    let (old, new) = match args.len() {
        3 => (args[1], args[2]),
        4 => (args[2], args[3]),
        _ => ("", ""),
    };
    let from =
        rcode(old).ok_or_else(|| format!("invalid matching RCODE '{old}' for a rcode rule"))?;
    let to =
        rcode(new).ok_or_else(|| format!("invalid replacement RCODE '{new}' for a rcode rule"))?;
    if args.len() == 3 {
        return Ok(Rule::Rcode(
            mode,
            Matcher::Exact(normalize(args[0])),
            from,
            to,
        ));
    }
    let m = Matcher::of("rcode", args[0], args[1])?;
    Ok(Rule::Rcode(mode, m, from, to))
}
