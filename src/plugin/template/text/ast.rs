//! What a parsed template is made of (pipelines of commands on arguments and fields) and the
//! data a query gives it (CoreDNS's `templateData`).
use std::borrow::Cow;

/// One command of a pipeline; the previous command's value is its last argument.
#[derive(Debug, Clone)]
pub(super) enum Cmd {
    Arg(Arg),
    Call(Func, Vec<Arg>),
}

#[derive(Debug, Clone)]
pub(super) enum Arg {
    Field(Field),
    Str(String),
    Int(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Func {
    Index,
    ParseInt,
    Len,
    Meta,
}

/// The fields of CoreDNS's `templateData` kdns fills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Field {
    Zone,
    Name,
    Regex,
    Class,
    Type,
    Remote,
    Match,
    Group,
    GroupKey(String),
    QName,
    QType,
    QClass,
}

/// What a query gives the templates (CoreDNS's `templateData`).
#[derive(Debug, Default)]
pub struct Data<'a> {
    /// The template's zone that matched.
    pub zone: &'a str,
    /// The query name, lower-case.
    pub name: &'a str,
    /// The regex that matched.
    pub regex: &'a str,
    /// `IN`.
    pub class: &'a str,
    /// The query type (the template's when the query asks for ANY).
    pub qtype: Cow<'a, str>,
    /// The client's IP address.
    pub remote: String,
    /// The whole match, then each group (`""` when a group did not take part).
    pub matches: Vec<String>,
    /// The group names of the regex, by group index.
    pub names: Vec<Option<&'a str>>,
    /// The question as asked: its name (case kept), type and class numbers.
    pub question: (String, u16, u16),
}

impl Data<'_> {
    /// `.Group.KEY`: a named group, else a group number.
    pub(super) fn group(&self, key: &str) -> Option<&str> {
        if let Some(i) = self.names.iter().position(|n| *n == Some(key)) {
            return self.matches.get(i).map(String::as_str);
        }
        let i: usize = key.parse().ok()?;
        (i.to_string() == key)
            .then(|| self.matches.get(i).map(String::as_str))
            .flatten()
    }

    /// How many keys the group map has.
    pub(super) fn group_len(&self) -> usize {
        let named = self
            .names
            .iter()
            .flatten()
            .filter(|n| n.parse::<usize>().is_err());
        self.matches.len() + named.count()
    }

    /// The group map as Go prints it: `map[0:x 1:y name:z]`, keys sorted.
    pub(super) fn group_map(&self) -> String {
        let mut keys: Vec<(String, &str)> = self
            .matches
            .iter()
            .enumerate()
            .map(|(i, m)| (i.to_string(), m.as_str()))
            .collect();
        for (i, n) in self.names.iter().enumerate() {
            if let (Some(n), Some(m)) = (n, self.matches.get(i)) {
                keys.retain(|(k, _)| k != n);
                keys.push((n.to_string(), m));
            }
        }
        keys.sort();
        let body: Vec<String> = keys.iter().map(|(k, v)| format!("{k}:{v}")).collect();
        format!("map[{}]", body.join(" "))
    }
}

/// Digits in `base` (0: Go's prefixes 0x, 0o, 0b, 0); no sign.
pub(super) fn parse_radix(s: &str, base: u32) -> Option<u64> {
    let (digits, base) = if base == 0 {
        let l = s.to_ascii_lowercase();
        if let Some(h) = l.strip_prefix("0x") {
            (&s[s.len() - h.len()..], 16)
        } else if let Some(o) = l.strip_prefix("0o") {
            (&s[s.len() - o.len()..], 8)
        } else if let Some(b) = l.strip_prefix("0b") {
            (&s[s.len() - b.len()..], 2)
        } else if s.len() > 1 && s.starts_with('0') {
            (&s[1..], 8)
        } else {
            (s, 10)
        }
    } else {
        (s, base)
    };
    if digits.is_empty() || digits.starts_with(['+', '-']) || !(2..=36).contains(&base) {
        return None;
    }
    u64::from_str_radix(digits, base).ok()
}
