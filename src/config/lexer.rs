//! Corefile tokens, as CoreDNS (Caddy) reads them: words split on white space, `"quoted
//! strings"` (which may span lines), `#` comments, `{$ENV}` / `{%ENV%}` substitution, and
//! `import` of files (globs, relative to the importing file) and `(snippets)`.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::syntax::{ConfigError, Token};

/// Substitutes `{$NAME}`, `{$NAME:default}` and `{%NAME%}` with environment values (an unset
/// variable becomes empty, as in CoreDNS).
pub fn substitute_env(s: &str, env: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(i) = rest.find('{') {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        let (open, close) = if tail.starts_with("{$") {
            ("{$", "}")
        } else if tail.starts_with("{%") {
            ("{%", "%}")
        } else {
            out.push('{');
            rest = &tail[1..];
            continue;
        };
        match tail[open.len()..].find(close) {
            Some(end) => {
                let body = &tail[open.len()..open.len() + end];
                let (name, default) = match body.split_once(':') {
                    Some((n, d)) if open == "{$" => (n, Some(d)),
                    _ => (body, None),
                };
                let val = env(name)
                    .filter(|v| !v.is_empty())
                    .or_else(|| default.map(str::to_string))
                    .unwrap_or_default();
                out.push_str(&val);
                rest = &tail[open.len() + end + close.len()..];
            }
            None => {
                out.push_str(tail);
                rest = "";
            }
        }
    }
    out.push_str(rest);
    out
}

/// Splits text into tokens (no imports resolved yet).
pub fn tokenize(text: &str, file: &Arc<Path>) -> Result<Vec<Token>, ConfigError> {
    let mut toks = Vec::new();
    let mut chars = text.chars().peekable();
    let mut line = 1usize;
    let mut cur = String::new();
    let mut cur_line = 1usize;
    let flush = |cur: &mut String, toks: &mut Vec<Token>, l: usize| {
        if !cur.is_empty() {
            toks.push(Token {
                text: std::mem::take(cur),
                file: file.clone(),
                line: l,
                quoted: false,
            });
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '\n' => {
                flush(&mut cur, &mut toks, cur_line);
                line += 1;
            }
            c if c.is_whitespace() => flush(&mut cur, &mut toks, cur_line),
            '#' if cur.is_empty() => {
                for c in chars.by_ref() {
                    if c == '\n' {
                        line += 1;
                        break;
                    }
                }
            }
            '"' if cur.is_empty() => {
                let start = line;
                let mut s = String::new();
                let mut closed = false;
                while let Some(c) = chars.next() {
                    match c {
                        '\\' if matches!(chars.peek(), Some('"') | Some('\\')) => {
                            s.push(chars.next().unwrap_or('\\'));
                        }
                        '"' => {
                            closed = true;
                            break;
                        }
                        '\n' => {
                            line += 1;
                            s.push('\n');
                        }
                        c => s.push(c),
                    }
                }
                if !closed {
                    return Err(ConfigError::at_parts(
                        file,
                        start,
                        None,
                        "unterminated quoted string",
                    ));
                }
                toks.push(Token {
                    text: s,
                    file: file.clone(),
                    line: start,
                    quoted: true,
                });
            }
            c => {
                if cur.is_empty() {
                    cur_line = line;
                }
                cur.push(c);
            }
        }
    }
    flush(&mut cur, &mut toks, cur_line);
    Ok(toks)
}

/// Reads a Corefile and everything it imports into one token stream, with snippets expanded.
pub struct Loader<'e> {
    env: &'e dyn Fn(&str) -> Option<String>,
    snippets: HashMap<String, Vec<Token>>,
    depth: usize,
}

const MAX_IMPORT_DEPTH: usize = 10;

impl<'e> Loader<'e> {
    /// A loader that reads environment variables through `env` (for `{$NAME}` substitution).
    pub fn new(env: &'e dyn Fn(&str) -> Option<String>) -> Self {
        Self {
            env,
            snippets: HashMap::new(),
            depth: 0,
        }
    }

    /// Tokens of `path`, env-substituted, snippets removed and imports expanded.
    pub fn load_file(&mut self, path: &Path) -> Result<Vec<Token>, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Io {
            path: path.to_path_buf(),
            source: e,
        })?;
        self.load_text(&text, path)
    }

    /// Like [`Loader::load_file`], for Corefile `text` already read; `path` names it in errors
    /// and relative `import`s resolve against its directory.
    pub fn load_text(&mut self, text: &str, path: &Path) -> Result<Vec<Token>, ConfigError> {
        let file: Arc<Path> = Arc::from(path);
        let text = substitute_env(text, self.env);
        let toks = tokenize(&text, &file)?;
        let toks = self.take_snippets(toks)?;
        self.expand_imports(toks)
    }

    /// Removes top-level `(name) { … }` definitions, remembering them.
    fn take_snippets(&mut self, toks: Vec<Token>) -> Result<Vec<Token>, ConfigError> {
        let mut out = Vec::with_capacity(toks.len());
        let mut i = 0;
        let mut depth = 0usize;
        while i < toks.len() {
            let t = &toks[i];
            let is_def = depth == 0
                && !t.quoted
                && t.text.len() > 2
                && t.text.starts_with('(')
                && t.text.ends_with(')')
                && toks.get(i + 1).is_some_and(|n| n.is("{"));
            if is_def {
                let name = t.text[1..t.text.len() - 1].to_string();
                let mut j = i + 2;
                let mut d = 1usize;
                let mut body = Vec::new();
                while j < toks.len() {
                    if toks[j].is("{") {
                        d += 1;
                    } else if toks[j].is("}") {
                        d -= 1;
                        if d == 0 {
                            break;
                        }
                    }
                    body.push(toks[j].clone());
                    j += 1;
                }
                if j >= toks.len() {
                    return Err(ConfigError::at(
                        t,
                        None,
                        format!("snippet ({name}) has no closing `}}`"),
                    ));
                }
                if self.snippets.insert(name.clone(), body).is_some() {
                    return Err(ConfigError::at(
                        t,
                        None,
                        format!("snippet ({name}) is defined twice"),
                    ));
                }
                i = j + 1;
                continue;
            }
            if t.is("{") {
                depth += 1;
            } else if t.is("}") {
                depth = depth.saturating_sub(1);
            }
            out.push(t.clone());
            i += 1;
        }
        Ok(out)
    }

    /// Replaces each `import ARG` line with the snippet's or the files' tokens.
    fn expand_imports(&mut self, toks: Vec<Token>) -> Result<Vec<Token>, ConfigError> {
        let mut out = Vec::with_capacity(toks.len());
        let mut i = 0;
        while i < toks.len() {
            let t = &toks[i];
            let first_on_line = i == 0 || toks[i - 1].line != t.line || toks[i - 1].file != t.file;
            if !(t.is("import") && first_on_line) {
                out.push(t.clone());
                i += 1;
                continue;
            }
            let args: Vec<&Token> = toks[i + 1..]
                .iter()
                .take_while(|a| a.line == t.line && a.file == t.file)
                .collect();
            if args.len() != 1 {
                return Err(ConfigError::at(
                    t,
                    Some("import"),
                    "expects exactly one argument: a snippet name or a file pattern",
                ));
            }
            let arg = args[0];
            if self.depth >= MAX_IMPORT_DEPTH {
                return Err(ConfigError::at(
                    t,
                    Some("import"),
                    format!("imports nested deeper than {MAX_IMPORT_DEPTH} (a cycle?)"),
                ));
            }
            self.depth += 1;
            let imported = if let Some(snippet) = self.snippets.get(&arg.text).cloned() {
                self.expand_imports(snippet)?
            } else {
                self.import_files(t, &arg.text)?
            };
            self.depth -= 1;
            out.extend(imported);
            i += 2;
        }
        Ok(out)
    }

    fn import_files(&mut self, at: &Token, pattern: &str) -> Result<Vec<Token>, ConfigError> {
        let base = at.file.parent().unwrap_or(Path::new("."));
        let full = if Path::new(pattern).is_absolute() {
            PathBuf::from(pattern)
        } else {
            base.join(pattern)
        };
        let files = glob_files(&full);
        let is_glob = pattern.contains(['*', '?', '[']);
        if files.is_empty() && !is_glob {
            return Err(ConfigError::at(
                at,
                Some("import"),
                format!(
                    "no snippet named ({pattern}) and no file {}",
                    full.display()
                ),
            ));
        }
        if files.is_empty() {
            // As CoreDNS: a glob matching nothing (AKS's and k3s's empty `custom/`) is fine.
            tracing::warn!("No files matching import glob pattern: {pattern}");
        }
        let mut out = Vec::new();
        for f in files {
            out.extend(self.load_file(&f)?);
        }
        Ok(out)
    }
}

/// Files matching a pattern whose last component may hold `*` and `?` (sorted).
fn glob_files(pattern: &Path) -> Vec<PathBuf> {
    let name = pattern.file_name().and_then(|n| n.to_str()).unwrap_or("");
    if !name.contains(['*', '?']) {
        return if pattern.is_file() {
            vec![pattern.to_path_buf()]
        } else {
            Vec::new()
        };
    }
    let dir = pattern.parent().unwrap_or(Path::new("."));
    let mut out: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| e.path())
                .filter(|p| p.is_file())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| wildcard_match(name, n))
                })
                .collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn wildcard_match(pat: &str, s: &str) -> bool {
    fn go(p: &[u8], s: &[u8]) -> bool {
        match (p.first(), s.first()) {
            (None, None) => true,
            (Some(b'*'), _) => go(&p[1..], s) || (!s.is_empty() && go(p, &s[1..])),
            (Some(b'?'), Some(_)) => go(&p[1..], &s[1..]),
            (Some(a), Some(b)) if a == b => go(&p[1..], &s[1..]),
            _ => false,
        }
    }
    go(pat.as_bytes(), s.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(n: &str) -> Option<String> {
        match n {
            "ZONE" => Some("cluster.local".into()),
            _ => None,
        }
    }

    #[test]
    fn substitution() {
        assert_eq!(substitute_env("{$ZONE}:53", &env), "cluster.local:53");
        assert_eq!(substitute_env("{%ZONE%}", &env), "cluster.local");
        assert_eq!(substitute_env("{$NOPE}x", &env), "x");
        assert_eq!(substitute_env("{$NOPE:5}", &env), "5");
        assert_eq!(substitute_env("{ a }", &env), "{ a }");
    }

    #[test]
    fn tokens_and_lines() {
        let f: Arc<Path> = Arc::from(Path::new("Corefile"));
        let t = tokenize(". {\n  # comment\n  foo \"a b\" bar # tail\n}\n", &f).unwrap();
        let texts: Vec<_> = t.iter().map(|t| (t.text.as_str(), t.line)).collect();
        assert_eq!(
            texts,
            vec![
                (".", 1),
                ("{", 1),
                ("foo", 3),
                ("a b", 3),
                ("bar", 3),
                ("}", 4)
            ]
        );
        assert!(t[3].quoted);
        assert!(tokenize("\"open", &f).is_err());
    }

    /// AKS/k3s: `import custom/*.override` with `custom/` empty (or missing) imports nothing;
    /// Gardener's `changeme.*` files hold only a comment; a missing plain file is an error.
    #[test]
    fn imports_as_distributions_ship_them() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("Corefile");
        let text = ".:53 {\n  import custom/*.override\n  errors\n}\nimport custom/*.server\n";
        let toks = |l: &mut Loader<'_>| -> Vec<String> {
            l.load_text(text, &conf)
                .unwrap()
                .into_iter()
                .map(|t| t.text)
                .collect()
        };
        assert_eq!(toks(&mut Loader::new(&env)), [".:53", "{", "errors", "}"]);
        std::fs::create_dir(dir.path().join("custom")).unwrap();
        assert_eq!(toks(&mut Loader::new(&env)).len(), 4);
        std::fs::write(dir.path().join("custom/changeme.override"), "# docs").unwrap();
        assert_eq!(toks(&mut Loader::new(&env)).len(), 4);
        std::fs::write(dir.path().join("custom/log.override"), "log\n").unwrap();
        std::fs::write(
            dir.path().join("custom/a.server"),
            "a.test {\n  errors\n}\n",
        )
        .unwrap();
        let all = toks(&mut Loader::new(&env));
        assert_eq!(all.join(" "), ".:53 { log errors } a.test { errors }");
        let e = Loader::new(&env)
            .load_text(".:53 {\n  import custom/none.override\n}\n", &conf)
            .unwrap_err()
            .to_string();
        assert!(e.contains("Corefile:2: import: no snippet named"), "{e}");
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*.conf", "a.conf"));
        assert!(!wildcard_match("*.conf", "a.conf.bak"));
        assert!(wildcard_match("zone?", "zone1"));
    }
}
