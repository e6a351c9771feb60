//! Kubernetes label selectors (`labels` / `namespace_labels`): `k=v`, `k==v`, `k!=v`,
//! `k in (a,b)`, `k notin (a,b)`, `k`, `!k`, joined by commas.
use std::collections::BTreeMap;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Req {
    Eq(String, String),
    Ne(String, String),
    In(String, Vec<String>),
    NotIn(String, Vec<String>),
    Exists(String),
    NotExists(String),
}

/// A parsed label selector; the empty selector matches everything.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Selector {
    reqs: Vec<Req>,
    text: String,
}

/// A selector that does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid label selector {text:?}: {why}")]
pub struct SelectorError {
    /// The selector as written.
    pub text: String,
    /// What is wrong with it.
    pub why: String,
}

/// Splits on commas that are not inside parentheses.
fn split_top(s: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let (mut depth, mut start) = (0i32, 0usize);
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                out.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    out.push(&s[start..]);
    out
}

fn valid_key(k: &str) -> bool {
    !k.is_empty()
        && k.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./".contains(c))
}

fn valid_value(v: &str) -> bool {
    v.chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

impl Selector {
    /// Parses a selector; the empty text is the empty selector.
    pub fn parse(text: &str) -> Result<Self, SelectorError> {
        let err = |why: &str| SelectorError {
            text: text.to_string(),
            why: why.to_string(),
        };
        let mut reqs = Vec::new();
        if text.trim().is_empty() {
            return Ok(Self::default());
        }
        for part in split_top(text) {
            let p = part.trim();
            if p.is_empty() {
                return Err(err("empty requirement"));
            }
            let set_op = [" notin ", " in "]
                .iter()
                .find_map(|op| p.find(op).map(|i| (*op, i)));
            let req = if let Some((op, i)) = set_op {
                let key = p[..i].trim();
                let rest = p[i + op.len()..].trim();
                let inner = rest
                    .strip_prefix('(')
                    .and_then(|r| r.strip_suffix(')'))
                    .ok_or_else(|| err("set values must be in parentheses"))?;
                let vals: Vec<String> = inner.split(',').map(|v| v.trim().to_string()).collect();
                if vals.iter().any(|v| !valid_value(v)) {
                    return Err(err("invalid value in set"));
                }
                if op == " in " {
                    Req::In(key.into(), vals)
                } else {
                    Req::NotIn(key.into(), vals)
                }
            } else if let Some((k, v)) = p.split_once("!=") {
                Req::Ne(k.trim().into(), v.trim().into())
            } else if let Some((k, v)) = p.split_once("==").or_else(|| p.split_once('=')) {
                Req::Eq(k.trim().into(), v.trim().into())
            } else if let Some(k) = p.strip_prefix('!') {
                Req::NotExists(k.trim().into())
            } else {
                Req::Exists(p.into())
            };
            let (Req::Eq(k, _)
            | Req::Ne(k, _)
            | Req::In(k, _)
            | Req::NotIn(k, _)
            | Req::Exists(k)
            | Req::NotExists(k)) = &req;
            if !valid_key(k) {
                return Err(err(&format!("invalid key {k:?}")));
            }
            if let Req::Eq(_, v) | Req::Ne(_, v) = &req {
                if !valid_value(v) {
                    return Err(err(&format!("invalid value {v:?}")));
                }
            }
            reqs.push(req);
        }
        Ok(Self {
            reqs,
            text: text.trim().to_string(),
        })
    }

    /// True for the selector that matches everything.
    pub fn is_empty(&self) -> bool {
        self.reqs.is_empty()
    }

    /// The selector as given, for the API's `labelSelector` parameter.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// Whether an object with these labels is selected.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        self.reqs.iter().all(|r| match r {
            Req::Eq(k, v) => labels.get(k) == Some(v),
            Req::Ne(k, v) => labels.get(k) != Some(v),
            Req::In(k, vs) => labels.get(k).is_some_and(|l| vs.contains(l)),
            Req::NotIn(k, vs) => labels.get(k).is_none_or(|l| !vs.contains(l)),
            Req::Exists(k) => labels.contains_key(k),
            Req::NotExists(k) => !labels.contains_key(k),
        })
    }
}

#[cfg(test)]
mod tests;
