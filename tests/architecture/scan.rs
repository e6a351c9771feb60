//! A small Rust scanner for the architecture test: tokens without comments or literal contents,
//! `#[cfg(test)]` items cut out, the paths a file names (`use` trees and inline paths), resolved to
//! crate module paths, and the `fn` items with their extent. Text only: no macro expansion, no
//! type resolution, no `#[path]`.

use std::collections::{BTreeSet, HashMap};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Ident,
    Lifetime,
    Lit,
    Punct,
}

/// One token; `line..=end` are the lines it covers (a string literal may span several).
#[derive(Clone, Debug)]
pub(crate) struct Token {
    pub kind: Kind,
    pub text: String,
    pub line: usize,
    pub end: usize,
}

/// Tokenizes Rust source. Comments are dropped; string, char and number literals become one `Lit`
/// token with no text, so nothing inside them is scanned; `'a` is a `Lifetime`, `'a'` a `Lit`.
pub(crate) fn tokenize(src: &str) -> Vec<Token> {
    let c: Vec<char> = src.chars().collect();
    let at = |i: usize| c.get(i).copied().unwrap_or('\0');
    let ident_char = |ch: char| ch == '_' || ch.is_alphanumeric();
    let (mut i, mut line, mut out) = (0, 1, Vec::new());
    while i < c.len() {
        let (start, first, ch, next) = (i, line, c[i], at(i + 1));
        let mut kind = Kind::Punct;
        if ch == '/' && next == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
            continue;
        } else if ch == '/' && next == '*' {
            let (mut depth, mut j) = (0, i);
            loop {
                match (at(j), at(j + 1)) {
                    ('/', '*') => (depth, j) = (depth + 1, j + 2),
                    ('*', '/') => (depth, j) = (depth - 1, j + 2),
                    ('\0', _) => break,
                    _ => j += 1,
                }
                if depth == 0 {
                    break;
                }
            }
            i = j;
        } else if ch.is_whitespace() {
            i += 1;
        } else if let Some(end) = raw_string_end(&c, i) {
            (kind, i) = (Kind::Lit, end);
        } else if ch == '"' || (matches!(ch, 'b' | 'c') && next == '"') {
            i += if ch == '"' { 1 } else { 2 };
            while i < c.len() && c[i] != '"' {
                i += if c[i] == '\\' { 2 } else { 1 };
            }
            (kind, i) = (Kind::Lit, i + 1);
        } else if ch == '\'' || (ch == 'b' && next == '\'') {
            let q = if ch == '\'' { i } else { i + 1 };
            if at(q + 2) == '\'' && at(q + 1) != '\\' {
                (kind, i) = (Kind::Lit, q + 3);
            } else if at(q + 1) == '\\' {
                i = q + 3; // past `\` and the escaped char (`\u{..}`, `\x41` run on to the quote)
                while i < c.len() && c[i] != '\'' {
                    i += 1;
                }
                (kind, i) = (Kind::Lit, i + 1);
            } else {
                i = q + 1;
                while ident_char(at(i)) {
                    i += 1;
                }
                kind = Kind::Lifetime;
            }
        } else if ch == 'r' && next == '#' && ident_char(at(i + 2)) {
            i += 2; // raw identifier: `r#type` is the ident `type`
            while ident_char(at(i)) {
                i += 1;
            }
            kind = Kind::Ident;
        } else if ident_char(ch) {
            kind = if ch.is_ascii_digit() {
                Kind::Lit
            } else {
                Kind::Ident
            };
            while ident_char(at(i))
                || (kind == Kind::Lit && at(i) == '.' && at(i + 1).is_ascii_digit())
            {
                i += 1;
            }
        } else {
            let two: String = [ch, next].iter().collect();
            i += if matches!(two.as_str(), "::" | "->" | "=>" | "..") {
                2
            } else {
                1
            };
        }
        line += c[start..i.min(c.len())]
            .iter()
            .filter(|&&x| x == '\n')
            .count();
        let is_comment_or_space = ch.is_whitespace() || (ch == '/' && next == '*');
        if !is_comment_or_space {
            let text: String = match kind {
                Kind::Ident => c[start..i]
                    .iter()
                    .collect::<String>()
                    .trim_start_matches("r#")
                    .into(),
                Kind::Punct => c[start..i].iter().collect(),
                _ => String::new(),
            };
            out.push(Token {
                kind,
                text,
                line: first,
                end: line,
            });
        }
    }
    out
}

/// The end of a raw string (`r"…"`, `r#"…"#`, `br##"…"##`, `cr"…"`) starting at `i`.
fn raw_string_end(c: &[char], mut i: usize) -> Option<usize> {
    if matches!(c.get(i), Some('b' | 'c')) {
        i += 1;
    }
    if c.get(i) != Some(&'r') {
        return None;
    }
    let hashes = c[i + 1..].iter().take_while(|&&x| x == '#').count();
    i += 1 + hashes;
    if c.get(i) != Some(&'"') {
        return None;
    }
    let close: Vec<char> = std::iter::once('"')
        .chain(std::iter::repeat_n('#', hashes))
        .collect();
    (i + 1..c.len())
        .find(|&j| c[j..].starts_with(&close))
        .map(|j| j + close.len())
}

fn text(t: &[Token], i: usize) -> &str {
    t.get(i).map_or("", |t| t.text.as_str())
}

fn is_ident(t: &[Token], i: usize) -> bool {
    t.get(i).is_some_and(|t| t.kind == Kind::Ident)
}

/// The index just past the bracket that closes the one opened at `i`.
fn close_of(t: &[Token], i: usize) -> usize {
    let mut depth = 0i32;
    for (j, tok) in t.iter().enumerate().skip(i) {
        match tok.text.as_str() {
            "(" | "[" | "{" => depth += 1,
            ")" | "]" | "}" => depth -= 1,
            _ => {}
        }
        if depth == 0 {
            return j + 1;
        }
    }
    t.len()
}

/// Is `t[i..]` the attribute `#[cfg(test)]` (or `#![cfg(test)]` when `inner`)?
fn is_cfg_test(t: &[Token], i: usize, inner: bool) -> bool {
    let want: &[&str] = if inner {
        &["#", "!", "[", "cfg", "(", "test", ")", "]"]
    } else {
        &["#", "[", "cfg", "(", "test", ")", "]"]
    };
    want.iter().enumerate().all(|(k, w)| text(t, i + k) == *w)
}

/// The index just past the item whose attributes start at `i` (`;`, or the `}` of its body).
fn item_end(t: &[Token], mut i: usize) -> usize {
    while text(t, i) == "#" {
        i = close_of(t, i + 1);
    }
    if text(t, i) == "pub" && text(t, i + 1) == "(" {
        i = close_of(t, i + 1);
    } else if text(t, i) == "pub" {
        i += 1;
    }
    let semi_only = matches!(text(t, i), "use" | "const" | "static" | "type" | "let");
    while i < t.len() {
        match text(t, i) {
            ";" => return i + 1,
            "(" | "[" => i = close_of(t, i),
            "{" if !semi_only => return close_of(t, i),
            "{" => i = close_of(t, i),
            _ => i += 1,
        }
    }
    i
}

/// `#[cfg(test)]` items removed, and the names of test modules declared as files (`mod tests;`).
/// `None` when the whole file is `#![cfg(test)]`.
pub(crate) fn strip_tests(t: &[Token]) -> Option<(Vec<Token>, Vec<String>)> {
    if is_cfg_test(t, 0, true) {
        return None;
    }
    let (mut kept, mut test_mods, mut i) = (Vec::new(), Vec::new(), 0);
    while i < t.len() {
        if !is_cfg_test(t, i, false) {
            kept.push(t[i].clone());
            i += 1;
            continue;
        }
        let end = item_end(t, i);
        let item = &t[i..end];
        if let Some(m) = item.iter().position(|x| x.text == "mod") {
            if text(item, m + 2) == ";" && m + 3 == item.len() {
                test_mods.push(item[m + 1].text.clone());
            }
        }
        i = end;
    }
    Some((kept, test_mods))
}

/// A path the code names: `segs` as written (a leading `::` kept as a segment), `scope` the
/// inline modules it sits in, `bind` the name a `use` leaf brings into scope (none for globs).
#[derive(Clone, Debug)]
pub(crate) struct PathRef {
    pub segs: Vec<String>,
    pub scope: Vec<String>,
    pub line: usize,
    pub bind: Option<String>,
}

/// What the file names: its paths, and the child modules it declares (`mod x;`/`mod x {}`, with
/// the inline scope they are declared in).
#[derive(Debug, Default)]
pub(crate) struct Names {
    pub paths: Vec<PathRef>,
    pub child_mods: BTreeSet<Vec<String>>,
}

/// Collects the paths of a token stream: every leaf of every `use` tree, and every inline path of
/// two or more segments (`a::b`, not after `.` or `::`). Visibility `pub(in …)` is skipped.
pub(crate) fn names(t: &[Token]) -> Names {
    let mut n = Names::default();
    let (mut scope, mut opened): (Vec<String>, Vec<usize>) = (Vec::new(), Vec::new());
    let mut depth = 0;
    let mut i = 0;
    while i < t.len() {
        let (s, prev) = (text(t, i), if i > 0 { text(t, i - 1) } else { "" });
        match s {
            "pub" if text(t, i + 1) == "(" => i = close_of(t, i + 1),
            "mod" if is_ident(t, i + 1) => {
                let mut m = scope.clone();
                m.push(t[i + 1].text.clone());
                n.child_mods.insert(m);
                if text(t, i + 2) == "{" {
                    (depth, i) = (depth + 1, i + 3);
                    scope.push(t[i - 2].text.clone());
                    opened.push(depth);
                } else {
                    i += 2;
                }
            }
            "{" => (depth, i) = (depth + 1, i + 1),
            "}" => {
                if opened.last() == Some(&depth) {
                    opened.pop();
                    scope.pop();
                }
                (depth, i) = (depth - 1, i + 1);
            }
            "use" if text(t, i + 1) != "<" => {
                let mut leaves = Vec::new();
                i = use_tree(t, i + 1, Vec::new(), &mut leaves);
                for (segs, bind, line) in leaves {
                    n.paths.push(PathRef {
                        segs,
                        scope: scope.clone(),
                        line,
                        bind,
                    });
                }
            }
            "crate" if prev == "extern" && is_ident(t, i + 1) => {
                let segs = vec!["::".into(), t[i + 1].text.clone()];
                n.paths.push(PathRef {
                    segs,
                    scope: scope.clone(),
                    line: t[i].line,
                    bind: None,
                });
                i += 2;
            }
            _ if (is_ident(t, i) && prev != "::" && prev != "." && text(t, i + 1) == "::")
                || (s == "::"
                    && (i == 0 || !is_ident(t, i - 1))
                    && prev != ">"
                    && is_ident(t, i + 1)) =>
            {
                let mut segs = Vec::new();
                if s == "::" {
                    segs.push("::".to_string());
                    i += 1;
                }
                segs.push(t[i].text.clone());
                let line = t[i].line;
                while text(t, i + 1) == "::" && is_ident(t, i + 2) {
                    segs.push(t[i + 2].text.clone());
                    i += 2;
                }
                n.paths.push(PathRef {
                    segs,
                    scope: scope.clone(),
                    line,
                    bind: None,
                });
                i += 1;
            }
            _ => i += 1,
        }
    }
    n
}

/// Parses one use tree at `i`; pushes `(path, bound name, line)` per leaf; returns the index after.
fn use_tree(
    t: &[Token],
    mut i: usize,
    mut path: Vec<String>,
    out: &mut Vec<(Vec<String>, Option<String>, usize)>,
) -> usize {
    let line = t.get(i).map_or(0, |t| t.line);
    if text(t, i) == "::" && path.is_empty() {
        path.push("::".into());
        i += 1;
    }
    loop {
        match text(t, i) {
            "{" => {
                i += 1;
                while i < t.len() && text(t, i) != "}" {
                    i = use_tree(t, i, path.clone(), out);
                    if text(t, i) == "," {
                        i += 1;
                    }
                }
                return i + 1;
            }
            "*" => {
                out.push((path, None, line));
                return i + 1;
            }
            _ if is_ident(t, i) => {
                path.push(t[i].text.clone());
                i += 1;
                if text(t, i) == "::" {
                    i += 1;
                    continue;
                }
                if path.last().map(String::as_str) == Some("self") {
                    path.pop();
                }
                let mut bind = path.last().cloned();
                if text(t, i) == "as" {
                    bind = Some(text(t, i + 1).to_string()).filter(|b| b != "_");
                    i += 2;
                }
                out.push((path, bind, line));
                return i;
            }
            _ => return i + 1,
        }
    }
}

/// Where a path points: a module path inside this crate, or the first segment of an outside one.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Target {
    Crate(Vec<String>),
    Outside(String),
}

/// Resolves paths of the file whose module path is `module`: `crate::`, `self::`, `super::`, a
/// child module, or a name a `use` of this file bound to a crate path.
pub(crate) struct Resolver {
    module: Vec<String>,
    child_mods: BTreeSet<Vec<String>>,
    bindings: HashMap<String, Vec<String>>,
}

impl Resolver {
    pub(crate) fn new(module: &[String], names: &Names) -> Resolver {
        let mut r = Resolver {
            module: module.to_vec(),
            child_mods: names.child_mods.clone(),
            bindings: HashMap::new(),
        };
        for _ in 0..3 {
            // a `use` may name what another `use` bound; three rounds settle any real chain
            for p in names.paths.iter().filter(|p| p.bind.is_some()) {
                if let Target::Crate(m) = r.resolve(p) {
                    r.bindings.insert(p.bind.clone().unwrap(), m);
                }
            }
        }
        r
    }

    pub(crate) fn resolve(&self, p: &PathRef) -> Target {
        let mut base = self.module.clone();
        base.extend(p.scope.iter().cloned());
        let (first, rest) = (p.segs[0].as_str(), &p.segs[1..]);
        let joined = |mut m: Vec<String>, rest: &[String]| {
            m.extend(rest.iter().cloned());
            Target::Crate(m)
        };
        match first {
            "::" => Target::Outside(rest.first().cloned().unwrap_or_default()),
            "crate" => joined(Vec::new(), rest),
            "self" => joined(base, rest),
            "super" => {
                let ups = p.segs.iter().take_while(|s| *s == "super").count();
                match base.len().checked_sub(ups) {
                    Some(keep) => joined(base[..keep].to_vec(), &p.segs[ups..]),
                    None => Target::Outside("super".into()),
                }
            }
            _ if self
                .child_mods
                .contains(&[&p.scope[..], &p.segs[..1]].concat()) =>
            {
                joined(base, &p.segs)
            }
            _ => match self.bindings.get(first) {
                Some(m) => joined(m.clone(), rest),
                None => Target::Outside(first.to_string()),
            },
        }
    }
}

/// A `fn` item with a body: `name` prefixed by its `impl` type, lines `line..=end`.
#[derive(Debug)]
pub(crate) struct Func {
    pub name: String,
    pub line: usize,
    pub end: usize,
}

/// Every `fn` with a body (free, method, nested), by brace matching on the tokens.
pub(crate) fn functions(t: &[Token]) -> Vec<Func> {
    let mut out = Vec::new();
    let mut impls: Vec<(String, usize)> = Vec::new(); // (self type, index past its body)
    for i in 0..t.len() {
        impls.retain(|&(_, end)| i < end);
        let prev = if i > 0 { text(t, i - 1) } else { ";" };
        if text(t, i) == "impl" && matches!(prev, ";" | "}" | "{" | "]" | "unsafe") {
            let body = (i..t.len()).find(|&j| text(t, j) == "{").unwrap_or(t.len());
            let header = &t[i + 1..body];
            let after_for = (0..header.len())
                .find(|&k| header[k].text == "for" && text(header, k + 1) != "<")
                .map_or(0, |k| k + 1);
            let (mut angle, mut name) = (0i32, String::new());
            for x in &header[after_for..] {
                match x.text.as_str() {
                    "<" => angle += 1,
                    ">" => angle -= 1,
                    "where" => break,
                    _ if angle == 0 && x.kind == Kind::Ident && x.text != "dyn" => {
                        name = x.text.clone()
                    }
                    _ => {}
                }
            }
            impls.push((name, close_of(t, body)));
        }
        if text(t, i) != "fn" || !is_ident(t, i + 1) {
            continue;
        }
        let mut j = i + 2;
        while j < t.len() && !matches!(text(t, j), "{" | ";") {
            j = if matches!(text(t, j), "(" | "[") {
                close_of(t, j)
            } else {
                j + 1
            };
        }
        if text(t, j) == "{" {
            let close = close_of(t, j) - 1;
            let name = match impls.last() {
                Some((ty, _)) => format!("{ty}::{}", t[i + 1].text),
                None => t[i + 1].text.clone(),
            };
            out.push(Func {
                name,
                line: t[i].line,
                end: t[close].end,
            });
        }
    }
    out
}

/// The lines that hold code: covered by at least one token (comments and blank lines hold none).
pub(crate) fn code_lines(t: &[Token]) -> BTreeSet<usize> {
    t.iter().flat_map(|t| t.line..=t.end).collect()
}
