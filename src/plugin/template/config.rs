//! Parsing `template CLASS TYPE [ZONE…] { match REGEX…; answer RR; additional RR; authority RR;
//! rcode CODE; fallthrough [ZONE…]; upstream }`. Every `template` line of a server block joins
//! one [`TemplateConfig`] (CoreDNS's one handler with its list of templates), tried in order.

use hickory_server::proto::op::ResponseCode;
use hickory_server::proto::rr::{DNSClass, Record, RecordType};
use regex::Regex;

use super::rr;
use super::text::Text;
use crate::config::args;
use crate::config::syntax::{normalize_zone, ConfigError, Line, Token};
use crate::zone::Fallthrough;

const D: Option<&str> = Some("template");

/// CoreDNS's limit on a `match` regex's length.
const MAX_REGEX_LEN: usize = 10000;

/// Every `template` of a server block, in Corefile order.
#[derive(Debug, Clone, Default)]
pub struct TemplateConfig {
    /// The zones of every template (a name outside them goes to the next directive at once).
    pub zones: Vec<String>,
    /// The templates, tried in order.
    pub rules: Vec<Rule>,
}

/// One `template` line.
#[derive(Debug, Clone)]
pub struct Rule {
    /// The class it answers (`ANY`: every class).
    pub class: DNSClass,
    /// The type it answers (`ANY`: every type).
    pub qtype: RecordType,
    /// Its zones (the server block's when none is given).
    pub zones: Vec<String>,
    /// `match` regexes (`.*` when none), the first that matches wins.
    pub regex: Vec<Regex>,
    /// `answer` records.
    pub answer: Vec<Rr>,
    /// `additional` records.
    pub additional: Vec<Rr>,
    /// `authority` records.
    pub authority: Vec<Rr>,
    /// `rcode` (NOERROR by default).
    pub rcode: ResponseCode,
    /// `fallthrough [ZONE…]`: a name in its zones no regex matches goes on to the next template.
    pub fall: Fallthrough,
    /// Some record reads `.Match` or `.Group`.
    pub groups: bool,
}

/// A record of a template: parsed at load when it has no action, else rendered per query.
#[derive(Debug, Clone)]
pub enum Rr {
    /// The same record for every query.
    Fixed(Box<Record>, String),
    /// A template rendered for each query, then parsed.
    Text(Text),
}

impl Rr {
    /// Go's `Tree.Root.String()` of the template (the `template` metrics label).
    pub fn tree(&self) -> &str {
        match self {
            Rr::Fixed(_, t) => t,
            Rr::Text(t) => &t.tree,
        }
    }
}

/// Parses one `template` line into `cfg`; `zones` are the server block's.
pub fn parse(line: &Line, zones: &[String], cfg: &mut TemplateConfig) -> Result<(), ConfigError> {
    let a = line.args();
    let (Some(c), Some(t)) = (a.first(), a.get(1)) else {
        return Err(arg_err(line.tokens.last().unwrap_or(line.name())));
    };
    let class = class_of(&c.text)
        .ok_or_else(|| ConfigError::at(c, D, format!("invalid query class {}", c.text)))?;
    let qtype = type_of(&t.text)
        .ok_or_else(|| ConfigError::at(t, D, format!("invalid RR class {}", t.text)))?;
    let own = a[2..]
        .iter()
        .map(|z| normalize_zone(&z.text).map_err(|m| ConfigError::at(z, D, m)))
        .collect::<Result<Vec<_>, _>>()?;
    let zones = if own.is_empty() { zones.to_vec() } else { own };
    for z in &zones {
        if !cfg.zones.contains(z) {
            cfg.zones.push(z.clone());
        }
    }
    let mut r = Rule {
        class,
        qtype,
        zones,
        regex: Vec::new(),
        answer: Vec::new(),
        additional: Vec::new(),
        authority: Vec::new(),
        rcode: ResponseCode::NoError,
        fall: Fallthrough::Off,
        groups: false,
    };
    for o in args::block(line) {
        option(o, &mut r)?;
    }
    if r.regex.is_empty() {
        r.regex
            .push(Regex::new(".*").map_err(|e| ConfigError::at(line.name(), D, e.to_string()))?);
    }
    let all = || r.answer.iter().chain(&r.additional).chain(&r.authority);
    r.groups = all().any(|x| matches!(x, Rr::Text(t) if t.uses_groups()));
    cfg.rules.push(r);
    Ok(())
}

/// Caddy's `ArgErr` wording.
fn arg_err(t: &Token) -> ConfigError {
    ConfigError::at(
        t,
        D,
        format!(
            "Wrong argument count or unexpected line ending after '{}'",
            t.text
        ),
    )
}

fn option(o: &Line, r: &mut Rule) -> Result<(), ConfigError> {
    let name = o.name();
    let needs_args = || {
        if o.args().is_empty() {
            Err(arg_err(name))
        } else {
            Ok(())
        }
    };
    match name.text.as_str() {
        "match" => {
            needs_args()?;
            for a in o.args() {
                r.regex.push(regex(a)?);
            }
        }
        "answer" | "additional" | "authority" => {
            needs_args()?;
            let section = name.text.as_str();
            for a in o.args() {
                let rr = record(a, section)?;
                match section {
                    "answer" => r.answer.push(rr),
                    "additional" => r.additional.push(rr),
                    _ => r.authority.push(rr),
                }
            }
        }
        "rcode" => {
            let [c] = o.args() else {
                return Err(arg_err(o.tokens.last().unwrap_or(name)));
            };
            r.rcode = rcode(&c.text)
                .ok_or_else(|| ConfigError::at(c, D, format!("unknown rcode {}", c.text)))?;
        }
        "fallthrough" => {
            r.fall = if o.args().is_empty() {
                Fallthrough::All
            } else {
                Fallthrough::Zones(
                    o.args()
                        .iter()
                        .map(|z| normalize_zone(&z.text).map_err(|m| ConfigError::at(z, D, m)))
                        .collect::<Result<_, _>>()?,
                )
            };
        }
        // CoreDNS always resolves CNAME targets; the option is accepted and ignored.
        "upstream" => {}
        "ederror" | "var" | "expr" => {
            return Err(ConfigError::at(
                name,
                D,
                format!("{} is not supported by kdns", name.text),
            ))
        }
        _ => return Err(args::unknown(o, "template")),
    }
    Ok(())
}

fn regex(a: &Token) -> Result<Regex, ConfigError> {
    if a.text.len() > MAX_REGEX_LEN {
        return Err(ConfigError::at(
            a,
            D,
            format!("regex pattern too long: {} > {MAX_REGEX_LEN}", a.text.len()),
        ));
    }
    Regex::new(&a.text).map_err(|e| {
        let e = e.to_string();
        let last = e.lines().last().unwrap_or_default().trim();
        ConfigError::at(a, D, format!("could not parse regex: {}, {last}", a.text))
    })
}

/// A record template: parsed now when it has no action (so a bad record fails at load).
fn record(a: &Token, section: &str) -> Result<Rr, ConfigError> {
    let t = Text::parse(&a.text).map_err(|e| {
        ConfigError::at(a, D, format!("could not compile template: {section}, {e}"))
    })?;
    match t.literal() {
        Some(text) => rr::parse(text)
            .map(|r| Rr::Fixed(Box::new(r), t.tree.clone()))
            .map_err(|e| ConfigError::at(a, D, format!("invalid {section} record {text:?}: {e}"))),
        None => Ok(Rr::Text(t)),
    }
}

/// miekg/dns `StringToClass` (names as written, upper case).
fn class_of(s: &str) -> Option<DNSClass> {
    Some(match s {
        "IN" => DNSClass::IN,
        "CH" => DNSClass::CH,
        "HS" => DNSClass::HS,
        "CS" => DNSClass::Unknown(2),
        "NONE" => DNSClass::NONE,
        "ANY" => DNSClass::ANY,
        _ => return None,
    })
}

/// miekg/dns `StringToType` (upper-case mnemonics).
fn type_of(s: &str) -> Option<RecordType> {
    crate::dns::codes::type_from_name(s)
}

/// miekg/dns `StringToRcode` (upper case, as written).
fn rcode(s: &str) -> Option<ResponseCode> {
    (s == s.to_ascii_uppercase())
        .then(|| crate::dns::codes::parse_rcode(s))
        .flatten()
}
