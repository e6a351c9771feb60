//! The `k8s_external` directive's syntax, as CoreDNS 1.14.7 reads it (plugin/k8s_external
//! setup.go):
//!
//! ```text
//! k8s_external [ZONES…] {
//!     apex APEX
//!     ttl TTL
//!     fallthrough [ZONES…]
//!     headless
//! }
//! ```
//!
//! Zones default to the server block's. `ttl` is 0 to 3600 (default 5), `apex` a label (default
//! `dns`). The block must also hold `kubernetes` (checked when the block is read, see
//! `config/mod.rs`); CoreDNS fails at startup without it. kdns refuses extra words after an
//! option, which CoreDNS ignores.
use crate::config::args;
use crate::config::syntax::{normalize_zone, ConfigError, Line, Token};
use crate::zone::external::ExternalOptions;
use crate::zone::Fallthrough;

const D: Option<&str> = Some("k8s_external");
const NAME: &str = "k8s_external";

/// One `k8s_external` directive.
#[derive(Debug, Clone, PartialEq)]
pub struct K8sExternalConfig {
    /// What shapes its answers: zones, `apex`, `ttl`, `headless`, `fallthrough`.
    pub options: ExternalOptions,
    /// Where the directive is (`FILE:LINE`), for errors and logs.
    pub at: String,
}

/// Parses one `k8s_external` line (and its block) in a server block serving `block_zones`.
pub fn parse(line: &Line, block_zones: &[String]) -> Result<K8sExternalConfig, ConfigError> {
    let zones = match line.args() {
        [] => block_zones.to_vec(),
        z => zones_of(z)?,
    };
    let mut options = ExternalOptions {
        zones,
        ..ExternalOptions::default()
    };
    for opt in args::block(line) {
        option(&mut options, opt)?;
    }
    Ok(K8sExternalConfig {
        options,
        at: line.name().at(),
    })
}

/// One option of the block.
fn option(o: &mut ExternalOptions, opt: &Line) -> Result<(), ConfigError> {
    args::no_block(opt, NAME)?;
    match opt.name().text.as_str() {
        "ttl" => {
            let a = arg(opt, "ttl needs a number of seconds")?;
            let n: i64 = a
                .text
                .parse()
                .map_err(|_| ConfigError::at(a, D, format!("ttl: {:?} is not a number", a.text)))?;
            if !(0..=3600).contains(&n) {
                return Err(ConfigError::at(
                    a,
                    D,
                    format!("ttl must be in range [0, 3600]: {n}"),
                ));
            }
            o.ttl = n as u32;
        }
        "apex" => {
            let a = arg(opt, "apex needs a name")?;
            o.apex = normalize_zone(&a.text)
                .map_err(|m| ConfigError::at(a, D, format!("apex: {m}")))?
                .trim_end_matches('.')
                .to_string();
            if o.apex.is_empty() {
                return Err(ConfigError::at(
                    a,
                    D,
                    "apex: the root is not a name below the zone",
                ));
            }
        }
        "headless" => {
            args::no_args(opt, NAME)?;
            o.headless = true;
        }
        "fallthrough" => {
            o.fallthrough = match opt.args() {
                [] => Fallthrough::All,
                z => Fallthrough::Zones(zones_of(z)?),
            }
        }
        _ => return Err(args::unknown(opt, NAME)),
    }
    Ok(())
}

/// The one argument of an option (`missing` when there is none).
fn arg<'a>(opt: &'a Line, missing: &str) -> Result<&'a Token, ConfigError> {
    match opt.args() {
        [] => Err(ConfigError::at(opt.name(), D, missing)),
        [a] => Ok(a),
        [_, extra, ..] => Err(ConfigError::at(
            extra,
            D,
            format!("{} takes one argument", opt.name().text),
        )),
    }
}

fn zones_of(args: &[Token]) -> Result<Vec<String>, ConfigError> {
    args.iter()
        .map(|a| normalize_zone(&a.text).map_err(|m| ConfigError::at(a, D, m)))
        .collect()
}
