//! The Corefile's syntax shared by every directive: [`Token`], [`ConfigError`] (always `FILE:LINE`),
//! [`Line`] (a directive's words and its `{ }` block) and [`normalize_zone`].
//!
//! A leaf: it imports nothing of the crate, so every directive's parser may use it.
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// One token with the place it was read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    /// The word, quotes removed.
    pub text: String,
    /// The file it was read from (an `import`ed file names itself).
    pub file: Arc<Path>,
    /// 1-based line number.
    pub line: usize,
    /// Written in quotes (so `{` or `}` in it is a word, not a brace).
    pub quoted: bool,
}

impl Token {
    /// The unquoted word `s` (a quoted `"{"` is a word, not a brace).
    pub fn is(&self, s: &str) -> bool {
        !self.quoted && self.text == s
    }
    /// `FILE:LINE`.
    pub fn at(&self) -> String {
        format!("{}:{}", self.file.display(), self.line)
    }
}

/// Why a Corefile did not load: an unreadable file, or a mistake at `FILE:LINE`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A Corefile (or an `import`ed file) could not be read.
    #[error("{}: {source}", path.display())]
    Io {
        /// The file that could not be read.
        path: PathBuf,
        /// The I/O error reading it.
        #[source]
        source: std::io::Error,
    },
    /// A syntax or semantic mistake at `FILE:LINE`.
    #[error("{}:{line}: {}{msg}", file.display(), directive.as_deref().map(|d| format!("{d}: ")).unwrap_or_default())]
    At {
        /// The file the offending token was read from.
        file: PathBuf,
        /// 1-based line number in `file`.
        line: usize,
        /// The directive (plugin) being parsed, printed before the message; `None` outside one.
        directive: Option<String>,
        /// What is wrong, in words.
        msg: String,
    },
}

impl ConfigError {
    /// A mistake at token `t`, in `directive` when there is one.
    pub fn at(t: &Token, directive: Option<&str>, msg: impl Into<String>) -> Self {
        Self::at_parts(&t.file, t.line, directive, msg)
    }
    /// A mistake at `file:line`, in `directive` when there is one.
    pub fn at_parts(
        file: &Path,
        line: usize,
        directive: Option<&str>,
        msg: impl Into<String>,
    ) -> Self {
        ConfigError::At {
            file: file.to_path_buf(),
            line,
            directive: directive.map(str::to_string),
            msg: msg.into(),
        }
    }
}

/// A line of a block: its words and, when it ends in `{`, the lines of its own block.
#[derive(Debug, Clone)]
pub struct Line {
    /// The name, then the arguments.
    pub tokens: Vec<Token>,
    /// The lines inside `{ }`, when the line opens a block.
    pub block: Option<Vec<Line>>,
}

impl Line {
    /// The directive's (or option's) name.
    pub fn name(&self) -> &Token {
        &self.tokens[0]
    }
    /// The words after the name.
    pub fn args(&self) -> &[Token] {
        &self.tokens[1..]
    }
}

/// Lower-cases a zone and adds the final dot; a CIDR on an octet/nibble boundary becomes its
/// reverse zone (`10.0.0.0/8` → `10.in-addr.arpa.`).
pub fn normalize_zone(z: &str) -> Result<String, String> {
    if let Some((net, bits)) = z.split_once('/') {
        let bits: u8 = bits
            .parse()
            .map_err(|_| format!("invalid prefix length in {z:?}"))?;
        let ip: IpAddr = net
            .parse()
            .map_err(|_| format!("invalid network in {z:?}"))?;
        return match ip {
            IpAddr::V4(v4) if bits <= 32 && bits.is_multiple_of(8) => {
                let o = v4.octets();
                let mut labels: Vec<String> = o[..(bits / 8) as usize]
                    .iter()
                    .map(|b| b.to_string())
                    .collect();
                labels.reverse();
                labels.push("in-addr.arpa.".into());
                Ok(labels.join("."))
            }
            IpAddr::V6(v6) if bits <= 128 && bits.is_multiple_of(4) => {
                let nibbles: Vec<String> = v6
                    .octets()
                    .iter()
                    .flat_map(|b| [b >> 4, b & 0xf])
                    .take((bits / 4) as usize)
                    .map(|n| format!("{n:x}"))
                    .collect();
                let mut labels: Vec<String> = nibbles.into_iter().rev().collect();
                labels.push("ip6.arpa.".into());
                Ok(labels.join("."))
            }
            _ => Err(format!(
                "{z:?}: only prefixes on an octet (IPv4) or nibble (IPv6) boundary are supported"
            )),
        };
    }
    if z == "." {
        return Ok(".".into());
    }
    let z = z.to_ascii_lowercase();
    let z = z.trim_end_matches('.');
    if z.is_empty() || z.split('.').any(|l| l.is_empty() || l.len() > 63) || z.len() > 253 {
        return Err(format!("{z:?} is not a valid domain name"));
    }
    Ok(format!("{z}."))
}
