//! The Go `text/template` subset `template`'s RR texts use: `{{ .Name }}`, `{{ .Group.NAME }}`,
//! `{{ index .Match N }}`, `{{ parseInt S BASE BITS }}`, `{{ len X }}`, `.Question.Name`,
//! `.Meta "KEY"`, pipelines `|`, comments, and the trim markers `{{-` / `-}}`. Anything else
//! (`if`, `range`, variables, other functions, unknown fields) fails at load.
//!
//! Output follows Go's printing: a missing map key prints `<no value>`, a slice `[a b]`, the
//! group map `map[0:x a:y]`.

mod ast;
mod eval;
pub use ast::Data;
use ast::{parse_radix, Arg, Cmd, Field, Func};
use eval::{pipeline, print};

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
