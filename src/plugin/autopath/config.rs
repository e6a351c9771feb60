//! The `autopath` directive's syntax, as CoreDNS 1.14.7 reads it:
//!
//! ```text
//! autopath [ZONES…] RESOLV-CONF|@kubernetes
//! ```
//!
//! `@kubernetes` asks the block's `kubernetes` directive for each client's search path; a file
//! gives one search path for every client (its last `search` or `domain` line, as Go's
//! `dns.ClientConfigFromFile`). CoreDNS accepts `@PLUGIN` for any plugin that implements its
//! `AutoPather` interface (only `kubernetes` among those kdns has): kdns refuses other names
//! at load.
use std::path::Path;

use crate::config::args;
use crate::config::syntax::{normalize_zone, ConfigError, Line};

const D: &str = "autopath";

/// Where the search path comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SearchFrom {
    /// `@kubernetes`: the client pod's search path, from the block's `kubernetes`.
    Kubernetes,
    /// A resolv.conf: its search list (lower-case, trailing dots), then `""`.
    Fixed(Vec<String>),
}

/// One `autopath` directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutopathConfig {
    /// Zones it works in (lower-case, trailing dot): the line's, else the server block's.
    pub zones: Vec<String>,
    /// The search path's source.
    pub from: SearchFrom,
    /// Where the directive is (`FILE:LINE`), for logs.
    pub at: String,
}

/// Parses one `autopath` line in a server block serving `block_zones`.
pub fn parse(line: &Line, block_zones: &[String]) -> Result<AutopathConfig, ConfigError> {
    args::no_block(line, D)?;
    let Some((resolv, zones)) = line.args().split_last() else {
        return Err(ConfigError::at(
            line.name(),
            Some(D),
            "no resolv-conf specified",
        ));
    };
    let from = match resolv.text.strip_prefix('@') {
        Some("kubernetes") => SearchFrom::Kubernetes,
        Some(other) => {
            return Err(ConfigError::at(
                resolv,
                Some(D),
                format!(
                "{other:?} does not implement the AutoPather interface (kdns: only @kubernetes)"
            ),
            ))
        }
        None => {
            let text = std::fs::read_to_string(&resolv.text).map_err(|e| {
                ConfigError::at(
                    resolv,
                    Some(D),
                    format!("failed to parse {:?}: {e}", resolv.text),
                )
            })?;
            let mut search = search_list(&text);
            search.push(String::new());
            SearchFrom::Fixed(search)
        }
    };
    let zones = if zones.is_empty() {
        block_zones.to_vec()
    } else {
        zones
            .iter()
            .map(|z| normalize_zone(&z.text).map_err(|m| ConfigError::at(z, Some(D), m)))
            .collect::<Result<_, _>>()?
    };
    Ok(AutopathConfig {
        zones,
        from,
        at: line.name().at(),
    })
}

/// The search list of a resolv.conf text: the words of its last `search` or `domain` line,
/// lower-cased with a trailing dot (Go's `dns.ClientConfigFromFile`, then
/// `plugin.Zones.Normalize`). Words that are no domain are left out.
pub fn search_list(text: &str) -> Vec<String> {
    let mut search: Vec<&str> = Vec::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        match words.next() {
            Some("search") => search = words.collect(),
            Some("domain") => search = words.next().into_iter().collect(),
            _ => {}
        }
    }
    search
        .into_iter()
        .filter_map(|w| normalize_zone(w).ok())
        .collect()
}

/// The host's search list (`/etc/resolv.conf`, as CoreDNS's kubernetes plugin reads it at
/// setup): the part of a pod's search path after the cluster's three names. Empty when the
/// file cannot be read.
pub fn host_search(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .map(|t| search_list(&t))
        .unwrap_or_default()
}
