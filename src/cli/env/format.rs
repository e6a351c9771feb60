//! Output formats of `kdns env`.
use crate::envvars::{Collision, EnvVar, Skipped};

/// `--format`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// `NAME=VALUE` lines, values quoted for a POSIX shell (for `eval`).
    Env,
    /// `NAME=VALUE` lines, nothing quoted: a `docker run --env-file` file.
    Docker,
    /// One JSON object: env, collisions, skipped.
    Json,
}

/// Whether a POSIX shell accepts `name` in `name=value`.
pub(super) fn is_shell_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c == '_' || c.is_ascii_alphabetic())
        && chars.all(|c| c == '_' || c.is_ascii_alphanumeric())
}

/// `value` as one shell word that expands to exactly `value`: bare when every character is
/// harmless, else in single quotes (a `'` inside becomes `'\''`).
pub(super) fn shell_quote(value: &str) -> String {
    let safe = |c: char| c.is_ascii_alphanumeric() || "_@%+=:,./-".contains(c);
    if !value.is_empty() && value.chars().all(safe) {
        return value.to_string();
    }
    format!("'{}'", value.replace('\'', r"'\''"))
}

/// The text to print, and warnings about variables the format cannot carry.
pub(super) fn render(
    format: Format,
    vars: &[EnvVar],
    json_head: serde_json::Value,
    collisions: &[Collision],
    skipped: &[Skipped],
) -> (String, Vec<String>) {
    let mut out = String::new();
    let mut warnings = Vec::new();
    match format {
        Format::Env => {
            for v in vars {
                if !is_shell_name(&v.name) {
                    warnings.push(format!("{}: not a shell variable name; left out", v.name));
                    continue;
                }
                out.push_str(&format!("{}={}\n", v.name, shell_quote(&v.value)));
            }
        }
        Format::Docker => {
            for v in vars {
                let bad_name = v.name.is_empty() || v.name.chars().any(char::is_whitespace);
                if bad_name || v.value.contains(['\n', '\r']) {
                    warnings.push(format!(
                        "{}: an env-file line cannot hold this name or value; left out",
                        v.name
                    ));
                    continue;
                }
                out.push_str(&format!("{}={}\n", v.name, v.value));
            }
        }
        Format::Json => {
            let mut doc = json_head;
            doc["env"] = vars
                .iter()
                .map(|v| serde_json::json!({"name": v.name, "value": v.value}))
                .collect();
            doc["collisions"] = collisions
                .iter()
                .map(|c| {
                    let cands: Vec<_> = c
                        .candidates
                        .iter()
                        .map(|(s, v)| serde_json::json!({"service": s.to_string(), "value": v}))
                        .collect();
                    serde_json::json!({"name": c.name, "candidates": cands})
                })
                .collect();
            doc["skipped"] = skipped
                .iter()
                .map(|s| {
                    serde_json::json!({"service": s.service.to_string(), "reason": s.reason.to_string()})
                })
                .collect();
            out = serde_json::to_string_pretty(&doc).unwrap_or_default();
            out.push('\n');
        }
    }
    (out, warnings)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting() {
        assert_eq!(shell_quote("tcp://10.0.0.1:443"), "tcp://10.0.0.1:443");
        assert_eq!(shell_quote("fd00::1"), "fd00::1");
        assert_eq!(shell_quote(""), "''");
        assert_eq!(shell_quote("a b"), "'a b'");
        assert_eq!(shell_quote("it's"), r"'it'\''s'");
        assert_eq!(shell_quote("$(X)"), "'$(X)'");
        assert_eq!(shell_quote("~/x"), "'~/x'");
        assert_eq!(shell_quote("[fd00::1]:80"), "'[fd00::1]:80'");
    }

    #[test]
    fn shell_names() {
        assert!(is_shell_name("A_SERVICE_HOST"));
        assert!(is_shell_name("_x1"));
        assert!(!is_shell_name("1_A"));
        assert!(!is_shell_name("A.B"));
        assert!(!is_shell_name(""));
    }

    #[test]
    fn env_format_leaves_out_bad_names() {
        let vars = vec![EnvVar::new("A.B", "1"), EnvVar::new("OK", "x y")];
        let (text, warnings) = render(Format::Env, &vars, serde_json::json!({}), &[], &[]);
        assert_eq!(text, "OK='x y'\n");
        assert_eq!(warnings.len(), 1);
    }

    #[test]
    fn docker_format_is_unquoted_and_drops_newlines() {
        let vars = vec![EnvVar::new("A", "x y'z"), EnvVar::new("B", "1\n2")];
        let (text, warnings) = render(Format::Docker, &vars, serde_json::json!({}), &[], &[]);
        assert_eq!(text, "A=x y'z\n");
        assert_eq!(warnings.len(), 1);
    }
}
