//! The Go `text/template` subset `template`'s RR texts use: `{{ .Name }}`, `{{ .Group.NAME }}`,
//! `{{ index .Match N }}`, `{{ parseInt S BASE BITS }}`, `{{ len X }}`, `.Question.Name`,
//! `.Meta "KEY"`, pipelines `|`, comments, and the trim markers `{{-` / `-}}`. Anything else
//! (`if`, `range`, variables, other functions, unknown fields) fails at load.
//!
//! Output follows Go's printing: a missing map key prints `<no value>`, a slice `[a b]`, the
//! group map `map[0:x a:y]`.
use std::borrow::Cow;
use std::fmt::Write as _;

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Text {
    parts: Vec<Part>,
    /// Go's `Tree.Root.String()` of the template (the `template` metrics label).
    pub tree: String,
}

#[derive(Debug, Clone)]
enum Part {
    Lit(String),
    Action(Vec<Cmd>),
}

/// One command of a pipeline; the previous command's value is its last argument.
#[derive(Debug, Clone)]
enum Cmd {
    Arg(Arg),
    Call(Func, Vec<Arg>),
}

#[derive(Debug, Clone)]
enum Arg {
    Field(Field),
    Str(String),
    Int(i64),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Func {
    Index,
    ParseInt,
    Len,
    Meta,
}

/// The fields of CoreDNS's `templateData` kdns fills.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Field {
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
    fn group(&self, key: &str) -> Option<&str> {
        if let Some(i) = self.names.iter().position(|n| *n == Some(key)) {
            return self.matches.get(i).map(String::as_str);
        }
        let i: usize = key.parse().ok()?;
        (i.to_string() == key)
            .then(|| self.matches.get(i).map(String::as_str))
            .flatten()
    }

    /// How many keys the group map has.
    fn group_len(&self) -> usize {
        let named = self
            .names
            .iter()
            .flatten()
            .filter(|n| n.parse::<usize>().is_err());
        self.matches.len() + named.count()
    }

    /// The group map as Go prints it: `map[0:x 1:y name:z]`, keys sorted.
    fn group_map(&self) -> String {
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

enum Val<'d> {
    S(Cow<'d, str>),
    I(i64),
    U(u64),
    List(&'d [String]),
    Map,
    NoValue,
}

impl Val<'_> {
    fn kind(&self) -> &'static str {
        match self {
            Val::S(_) => "string",
            Val::I(_) => "int",
            Val::U(_) => "uint64",
            Val::List(_) => "[]string",
            Val::Map => "map[string]string",
            Val::NoValue => "<no value>",
        }
    }
}

impl Text {
    /// Parses `src`; the error is Go-like (`function "x" not defined`).
    pub fn parse(src: &str) -> Result<Text, String> {
        let mut parts = Vec::new();
        let mut tree = String::new();
        let mut rest = src;
        let mut trim_next = false;
        while let Some(open) = rest.find("{{") {
            let mut lit = &rest[..open];
            if trim_next {
                lit = lit.trim_start();
            }
            let after = &rest[open + 2..];
            let trim_before = after.starts_with("- ")
                || after.starts_with("-\t")
                || after.starts_with("-\n")
                || after.starts_with("-\r");
            if trim_before {
                lit = lit.trim_end();
            }
            push_lit(&mut parts, &mut tree, lit);
            let body_start = if trim_before { &after[2..] } else { after };
            let (cmds, used, trim_after) = action(body_start)?;
            if let Some(cmds) = cmds {
                tree.push_str("{{");
                tree.push_str(&tree_of(&cmds));
                tree.push_str("}}");
                parts.push(Part::Action(cmds));
            }
            rest = &body_start[used..];
            trim_next = trim_after;
        }
        let lit = if trim_next { rest.trim_start() } else { rest };
        push_lit(&mut parts, &mut tree, lit);
        Ok(Text { parts, tree })
    }

    /// No action at all: the text is the same for every query.
    pub fn literal(&self) -> Option<&str> {
        match self.parts.as_slice() {
            [] => Some(""),
            [Part::Lit(s)] => Some(s),
            _ => None,
        }
    }

    /// Whether any action reads `.Match` or `.Group` (the regex's groups are needed).
    pub fn uses_groups(&self) -> bool {
        let args = |a: &Arg| {
            matches!(
                a,
                Arg::Field(Field::Match | Field::Group | Field::GroupKey(_))
            )
        };
        self.parts.iter().any(|p| match p {
            Part::Lit(_) => false,
            Part::Action(cmds) => cmds.iter().any(|c| match c {
                Cmd::Arg(a) => args(a),
                Cmd::Call(_, v) => v.iter().any(args),
            }),
        })
    }

    /// Renders with `d` into `out`; the error is Go-like
    /// (`executing "answer" at <index .Match 5>: error calling index: …`).
    pub fn render(&self, name: &str, d: &Data<'_>, out: &mut String) -> Result<(), String> {
        for p in &self.parts {
            match p {
                Part::Lit(s) => out.push_str(s),
                Part::Action(cmds) => {
                    let v = pipeline(cmds, d)
                        .map_err(|e| format!("executing {name:?} at <{}>: {e}", tree_of(cmds)))?;
                    print(&v, d, out);
                }
            }
        }
        Ok(())
    }
}

fn push_lit(parts: &mut Vec<Part>, tree: &mut String, lit: &str) {
    if !lit.is_empty() {
        tree.push_str(lit);
        parts.push(Part::Lit(lit.to_string()));
    }
}

fn print(v: &Val<'_>, d: &Data<'_>, out: &mut String) {
    match v {
        Val::S(s) => out.push_str(s),
        Val::I(n) => {
            let _ = write!(out, "{n}");
        }
        Val::U(n) => {
            let _ = write!(out, "{n}");
        }
        Val::List(l) => {
            let _ = write!(out, "[{}]", l.join(" "));
        }
        Val::Map => out.push_str(&d.group_map()),
        Val::NoValue => out.push_str("<no value>"),
    }
}

/// Lexes one action from just after `{{` (and a `- ` trim marker): its commands (`None` for a
/// comment), the bytes used including `}}`, and whether it ends with `-}}`.
type ActionParse = (Option<Vec<Cmd>>, usize, bool);

fn action(s: &str) -> Result<ActionParse, String> {
    let b = s.as_bytes();
    let t = s.trim_start();
    if let Some(c) = t.strip_prefix("/*") {
        let end = c.find("*/").ok_or("unclosed comment")?;
        let after = &c[end + 2..];
        let used = s.len() - after.len();
        return close(after.trim_start(), s.len() - after.trim_start().len())
            .map(|(u, trim)| (None, u.max(used), trim));
    }
    let mut toks: Vec<Tok> = Vec::new();
    let mut i = 0;
    loop {
        while i < b.len() && (b[i] as char).is_ascii_whitespace() {
            i += 1;
        }
        if i >= b.len() {
            return Err("unclosed action".into());
        }
        if s[i..].starts_with("}}") {
            return finish(toks, i + 2, false);
        }
        if s[i..].starts_with("-}}") && i > 0 && (b[i - 1] as char).is_ascii_whitespace() {
            return finish(toks, i + 3, true);
        }
        let (tok, n) = lex(&s[i..])?;
        toks.push(tok);
        i += n;
    }
}

fn close(s: &str, at: usize) -> Result<(usize, bool), String> {
    if s.starts_with("}}") {
        Ok((at + 2, false))
    } else if s.starts_with("-}}") {
        Ok((at + 3, true))
    } else {
        Err("comment ends before closing delimiter".into())
    }
}

#[derive(Debug)]
enum Tok {
    Field(Vec<String>),
    Ident(String),
    Str(String),
    Int(i64),
    Pipe,
}

fn lex(s: &str) -> Result<(Tok, usize), String> {
    let c = s.chars().next().unwrap_or(' ');
    let word_end = |from: usize| {
        s[from..]
            .find(|c: char| !(c.is_alphanumeric() || c == '_'))
            .map_or(s.len(), |e| from + e)
    };
    match c {
        '|' => Ok((Tok::Pipe, 1)),
        '.' => {
            let mut path = Vec::new();
            let mut i = 0;
            while s[i..].starts_with('.') {
                let e = word_end(i + 1);
                if e == i + 1 {
                    break;
                }
                path.push(s[i + 1..e].to_string());
                i = e;
            }
            if path.is_empty() {
                return Err("\".\" (the whole data) cannot be printed by kdns".into());
            }
            Ok((Tok::Field(path), i))
        }
        '"' => {
            let mut out = String::new();
            let mut it = s.char_indices().skip(1);
            while let Some((i, c)) = it.next() {
                match c {
                    '"' => return Ok((Tok::Str(out), i + 1)),
                    '\\' => match it.next().map(|(_, c)| c) {
                        Some('n') => out.push('\n'),
                        Some('t') => out.push('\t'),
                        Some(c @ ('\\' | '"')) => out.push(c),
                        _ => return Err("unsupported escape in string".into()),
                    },
                    c => out.push(c),
                }
            }
            Err("unterminated quoted string".into())
        }
        '`' => {
            let end = s[1..].find('`').ok_or("unterminated raw quoted string")?;
            Ok((Tok::Str(s[1..1 + end].to_string()), end + 2))
        }
        c if c.is_ascii_digit() || c == '-' || c == '+' => {
            let e = s[1..]
                .find(|c: char| !c.is_ascii_alphanumeric())
                .map_or(s.len(), |e| e + 1);
            let n = go_int(&s[..e]).ok_or_else(|| format!("bad number syntax: {:?}", &s[..e]))?;
            Ok((Tok::Int(n), e))
        }
        c if c.is_alphabetic() || c == '_' => {
            let e = word_end(0);
            Ok((Tok::Ident(s[..e].to_string()), e))
        }
        '$' => Err("variables are not supported by kdns".into()),
        '(' | ')' => Err("parenthesized pipelines are not supported by kdns".into()),
        c => Err(format!("unexpected {c:?} in command")),
    }
}

fn go_int(s: &str) -> Option<i64> {
    let (neg, d) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let v = parse_radix(d, 0)?;
    let v = i64::try_from(v).ok()?;
    Some(if neg { -v } else { v })
}

/// Digits in `base` (0: Go's prefixes 0x, 0o, 0b, 0); no sign.
fn parse_radix(s: &str, base: u32) -> Option<u64> {
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

fn finish(toks: Vec<Tok>, used: usize, trim: bool) -> Result<ActionParse, String> {
    if toks.is_empty() {
        return Err("missing value for command".into());
    }
    let mut cmds = Vec::new();
    for (i, group) in toks.split(|t| matches!(t, Tok::Pipe)).enumerate() {
        cmds.push(command(group, i > 0)?);
    }
    Ok((Some(cmds), used, trim))
}

fn command(toks: &[Tok], piped: bool) -> Result<Cmd, String> {
    let (first, rest) = toks.split_first().ok_or("missing command")?;
    let args = rest.iter().map(arg).collect::<Result<Vec<_>, _>>()?;
    match first {
        Tok::Ident(name) => {
            let (f, arity) = match name.as_str() {
                "index" => (Func::Index, 1..=usize::MAX),
                "parseInt" => (Func::ParseInt, 3..=3),
                "len" => (Func::Len, 1..=1),
                "if" | "else" | "end" | "range" | "with" | "define" | "template" | "block"
                | "break" | "continue" => {
                    return Err(format!("{{{{{name}}}}} is not supported by kdns"))
                }
                "and" | "or" | "not" | "eq" | "ne" | "lt" | "le" | "gt" | "ge" | "print"
                | "printf" | "println" | "html" | "js" | "urlquery" | "slice" | "call" => {
                    return Err(format!("function {name:?} is not supported by kdns"))
                }
                _ => return Err(format!("function {name:?} not defined")),
            };
            // After a `|`, the pipeline's value comes as one more argument.
            let n = args.len() + usize::from(piped);
            if !arity.contains(&n) {
                return Err(format!("wrong number of args for {name}"));
            }
            Ok(Cmd::Call(f, args))
        }
        Tok::Field(p) if p.len() == 1 && p[0] == "Meta" => {
            if args.len() > 1 {
                return Err("wrong number of args for Meta: want 1".into());
            }
            Ok(Cmd::Call(Func::Meta, args))
        }
        t => {
            if !args.is_empty() || piped {
                return Err(format!("can't give argument to non-function {t:?}"));
            }
            Ok(Cmd::Arg(arg(t)?))
        }
    }
}

fn arg(t: &Tok) -> Result<Arg, String> {
    match t {
        Tok::Field(p) => field(p).map(Arg::Field),
        Tok::Str(s) => Ok(Arg::Str(s.clone())),
        Tok::Int(n) => Ok(Arg::Int(*n)),
        Tok::Ident(n) => Err(format!(
            "function {n:?} as an argument is not supported by kdns"
        )),
        Tok::Pipe => Err("unexpected |".into()),
    }
}

fn field(p: &[String]) -> Result<Field, String> {
    let strs: Vec<&str> = p.iter().map(String::as_str).collect();
    Ok(match strs.as_slice() {
        ["Zone"] => Field::Zone,
        ["Name"] => Field::Name,
        ["Regex"] => Field::Regex,
        ["Class"] => Field::Class,
        ["Type"] => Field::Type,
        ["Remote"] => Field::Remote,
        ["Match"] => Field::Match,
        ["Group"] => Field::Group,
        ["Group", k] => Field::GroupKey(k.to_string()),
        ["Question", "Name"] => Field::QName,
        ["Question", "Qtype"] => Field::QType,
        ["Question", "Qclass"] => Field::QClass,
        ["Message", ..] | ["Question"] | ["Meta"] | ["Var", ..] => {
            return Err(format!(".{} is not supported by kdns", p.join(".")))
        }
        _ => return Err(format!("can't evaluate field .{}", p.join("."))),
    })
}

fn tree_of(cmds: &[Cmd]) -> String {
    let arg = |a: &Arg| match a {
        Arg::Field(f) => format!(".{}", field_name(f)),
        Arg::Str(s) => format!("{s:?}"),
        Arg::Int(n) => n.to_string(),
    };
    let cmd = |c: &Cmd| match c {
        Cmd::Arg(a) => arg(a),
        Cmd::Call(f, args) => {
            let name = match f {
                Func::Index => "index",
                Func::ParseInt => "parseInt",
                Func::Len => "len",
                Func::Meta => ".Meta",
            };
            std::iter::once(name.to_string())
                .chain(args.iter().map(arg))
                .collect::<Vec<_>>()
                .join(" ")
        }
    };
    cmds.iter().map(cmd).collect::<Vec<_>>().join(" | ")
}

fn field_name(f: &Field) -> String {
    match f {
        Field::Zone => "Zone".into(),
        Field::Name => "Name".into(),
        Field::Regex => "Regex".into(),
        Field::Class => "Class".into(),
        Field::Type => "Type".into(),
        Field::Remote => "Remote".into(),
        Field::Match => "Match".into(),
        Field::Group => "Group".into(),
        Field::GroupKey(k) => format!("Group.{k}"),
        Field::QName => "Question.Name".into(),
        Field::QType => "Question.Qtype".into(),
        Field::QClass => "Question.Qclass".into(),
    }
}

fn pipeline<'d>(cmds: &[Cmd], d: &'d Data<'_>) -> Result<Val<'d>, String> {
    let mut prev: Option<Val<'d>> = None;
    for c in cmds {
        prev = Some(match c {
            Cmd::Arg(a) => value(a, d),
            Cmd::Call(f, args) => {
                let mut vals: Vec<Val<'d>> = args.iter().map(|a| value(a, d)).collect();
                vals.extend(prev.take());
                call(*f, vals, d)?
            }
        });
    }
    prev.ok_or_else(|| "empty pipeline".into())
}

fn value<'d>(a: &Arg, d: &'d Data<'_>) -> Val<'d> {
    let s = |x: &'d str| Val::S(Cow::Borrowed(x));
    match a {
        Arg::Str(x) => Val::S(Cow::Owned(x.clone())),
        Arg::Int(n) => Val::I(*n),
        Arg::Field(f) => match f {
            Field::Zone => s(d.zone),
            Field::Name => s(d.name),
            Field::Regex => s(d.regex),
            Field::Class => s(d.class),
            Field::Type => s(&d.qtype),
            Field::Remote => s(&d.remote),
            Field::Match => Val::List(&d.matches),
            Field::Group => Val::Map,
            Field::GroupKey(k) => d.group(k).map_or(Val::NoValue, s),
            Field::QName => s(&d.question.0),
            Field::QType => Val::U(u64::from(d.question.1)),
            Field::QClass => Val::U(u64::from(d.question.2)),
        },
    }
}

fn call<'d>(f: Func, args: Vec<Val<'d>>, d: &'d Data<'_>) -> Result<Val<'d>, String> {
    let mut it = args.into_iter();
    match f {
        // The metadata plugin is not in kdns: CoreDNS's `.Meta` then gives "".
        Func::Meta => Ok(Val::S(Cow::Borrowed(""))),
        Func::Len => match it.next() {
            Some(Val::S(s)) => Ok(Val::I(s.len() as i64)),
            Some(Val::List(l)) => Ok(Val::I(l.len() as i64)),
            Some(Val::Map) => Ok(Val::I(d.group_len() as i64)),
            Some(v) => Err(format!("error calling len: len of type {}", v.kind())),
            None => Err("wrong number of args for len".into()),
        },
        Func::Index => {
            let mut item = it.next().ok_or("wrong number of args for index")?;
            for i in it {
                item = index(item, &i, d)?;
            }
            Ok(item)
        }
        Func::ParseInt => {
            let (s, base, bits) = (it.next(), it.next(), it.next());
            let (Some(Val::S(s)), Some(Val::I(base)), Some(Val::I(bits))) = (s, base, bits) else {
                return Err("wrong type for value; parseInt wants (string, int, int)".into());
            };
            parse_uint(&s, base, bits).map(Val::U).map_err(|e| {
                format!("error calling parseInt: strconv.ParseUint: parsing {s:?}: {e}")
            })
        }
    }
}

fn index<'d>(item: Val<'d>, i: &Val<'_>, d: &'d Data<'_>) -> Result<Val<'d>, String> {
    match (item, i) {
        (Val::List(l), Val::I(n)) => usize::try_from(*n)
            .ok()
            .and_then(|n| l.get(n))
            .map(|s| Val::S(Cow::Borrowed(s.as_str())))
            .ok_or_else(|| format!("error calling index: index out of range: {n}")),
        // A missing key gives the zero value.
        (Val::Map, Val::S(k)) => Ok(Val::S(Cow::Borrowed(d.group(k).unwrap_or("")))),
        (v, _) => Err(format!(
            "error calling index: can't index item of type {}",
            v.kind()
        )),
    }
}

fn parse_uint(s: &str, base: i64, bits: i64) -> Result<u64, &'static str> {
    let base = u32::try_from(base).map_err(|_| "invalid base")?;
    if base == 1 || base > 36 {
        return Err("invalid base");
    }
    let bits = match bits {
        0 => 64,
        1..=64 => bits as u32,
        _ => return Err("invalid bit size"),
    };
    let v = parse_radix(s, base).ok_or("invalid syntax")?;
    if bits < 64 && v >> bits != 0 {
        return Err("value out of range");
    }
    Ok(v)
}
