//! The Corefile: server blocks (`zone[:port] … { directives }`) in CoreDNS's syntax.
//!
//! Errors name `FILE:LINE` and the directive. Nothing is served from a Corefile that does not
//! load completely.
//!
//! This file reads server blocks (keys, `bind`) and dispatches each directive line to its own
//! parser in `src/plugin/<name>`; those parsers import only the syntax leaf ([`syntax`], [`args`]).
//! [`directives`] holds [`Plugin`] and CoreDNS's directive table, [`lexer`] the tokens.
pub mod args;
pub mod directives;
pub mod lexer;
pub mod syntax;
#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use crate::plugin::{
    acl, any, autopath, bufsize, cache, chaos, errors, forward, health, hosts, k8s_external,
    kubernetes, loadbalance, log, loop_detect, prometheus, ready, reload, rewrite, template,
    transfer,
};
use directives::REPEATABLE;
pub use directives::{Plugin, COREDNS_DIRECTIVES, SUPPORTED};
use lexer::Loader;
use syntax::Token;
pub use syntax::{normalize_zone, ConfigError, Line};

/// One server block.
#[derive(Debug, Clone)]
pub struct ServerBlock {
    /// Zones, lower-case with a trailing dot (`.` is the root).
    pub zones: Vec<String>,
    /// The port every key of the block names (or the default port).
    pub port: u16,
    /// `bind` addresses; empty means all addresses.
    pub binds: Vec<IpAddr>,
    /// The block's directives, in CoreDNS's execution order.
    pub plugins: Vec<Plugin>,
    /// Where the block starts (`FILE:LINE`).
    pub at: String,
}

/// A loaded Corefile.
#[derive(Debug, Clone)]
pub struct Config {
    /// The Corefile's path; `reload` reads it again.
    pub path: PathBuf,
    /// The server blocks, in Corefile order.
    pub blocks: Vec<ServerBlock>,
    /// The port for keys that name none (`--dns-port`), kept for reloads.
    pub default_port: u16,
    /// SHA-512 (hex) of the Corefile's tokens, imports included: `reload` compares it.
    pub sha512: String,
}

/// SHA-512 of a token stream: words and line breaks, not comments or spacing.
pub fn digest(toks: &[Token]) -> String {
    use sha2::{Digest, Sha512};
    let mut h = Sha512::new();
    let mut prev: Option<&Token> = None;
    for t in toks {
        let sep: &[u8] = match prev {
            Some(p) if same_line(p, t) => b" ",
            _ => b"\n",
        };
        h.update(sep);
        if t.quoted {
            h.update(b"\"");
        }
        h.update(t.text.as_bytes());
        prev = Some(t);
    }
    h.finalize().iter().map(|b| format!("{b:02x}")).collect()
}

/// Loads a Corefile from disk with the process environment.
pub fn load(path: &Path, default_port: u16) -> Result<Config, ConfigError> {
    let env = |k: &str| std::env::var(k).ok();
    let tokens = Loader::new(&env).load_file(path)?;
    parse(path, tokens, default_port)
}

/// Parses Corefile text (for tests and `--validate` on stdin).
pub fn load_str(text: &str, path: &Path, default_port: u16) -> Result<Config, ConfigError> {
    let env = |k: &str| std::env::var(k).ok();
    let tokens = Loader::new(&env).load_text(text, path)?;
    parse(path, tokens, default_port)
}

fn same_line(a: &Token, b: &Token) -> bool {
    a.line == b.line && a.file == b.file
}

/// Reads lines until the `}` that closes the current block (consumed) or the end.
fn parse_lines(
    toks: &[Token],
    i: &mut usize,
    opened_by: Option<&Token>,
) -> Result<Vec<Line>, ConfigError> {
    let mut lines = Vec::new();
    while *i < toks.len() {
        let first = &toks[*i];
        if first.is("}") {
            *i += 1;
            return Ok(lines);
        }
        if first.is("{") {
            return Err(ConfigError::at(first, None, "unexpected `{`"));
        }
        let mut words = vec![first.clone()];
        *i += 1;
        while *i < toks.len()
            && same_line(&toks[*i], first)
            && !toks[*i].is("{")
            && !toks[*i].is("}")
        {
            words.push(toks[*i].clone());
            *i += 1;
        }
        let mut block = None;
        if *i < toks.len()
            && toks[*i].is("{")
            && same_line(&toks[*i], words.last().unwrap_or(first))
        {
            let open = toks[*i].clone();
            *i += 1;
            block = Some(parse_lines(toks, i, Some(&open))?);
        }
        lines.push(Line {
            tokens: words,
            block,
        });
    }
    match opened_by {
        Some(t) => Err(ConfigError::at(
            t,
            None,
            "block opened here is never closed with `}`",
        )),
        None => Ok(lines),
    }
}

/// `[dns://]zone[:port]`, where zone may be a CIDR (`10.0.0.0/24` → its reverse zone).
fn parse_key(t: &Token, default_port: u16) -> Result<(String, u16), ConfigError> {
    let mut s = t.text.trim_end_matches(',');
    if let Some(rest) = s.strip_prefix("dns://") {
        s = rest;
    } else if s.contains("://") {
        return Err(ConfigError::at(
            t,
            None,
            format!(
                "server block key {s:?}: only dns:// (plain DNS over UDP and TCP) is supported"
            ),
        ));
    }
    let (zone, port) = match s.rsplit_once(':') {
        Some((z, p)) => {
            let port: u16 = p.parse().map_err(|_| {
                ConfigError::at(
                    t,
                    None,
                    format!("server block key {s:?}: invalid port {p:?}"),
                )
            })?;
            (z, port)
        }
        None => (s, default_port),
    };
    let zone = if zone.is_empty() { "." } else { zone };
    let zone = normalize_zone(zone)
        .map_err(|m| ConfigError::at(t, None, format!("server block key {s:?}: {m}")))?;
    Ok((zone, port))
}

/// The server blocks of a token stream, in Corefile order.
pub(crate) fn parse(
    path: &Path,
    toks: Vec<Token>,
    default_port: u16,
) -> Result<Config, ConfigError> {
    let mut blocks: Vec<ServerBlock> = Vec::new();
    let mut seen: HashSet<(String, u16)> = HashSet::new();
    let mut i = 0;
    if toks.is_empty() {
        return Err(ConfigError::at_parts(
            path,
            1,
            None,
            "no server blocks: the Corefile is empty",
        ));
    }
    while i < toks.len() {
        let start = toks[i].clone();
        let keys = block_keys(&toks, &mut i)?;
        let open = toks[i].clone();
        i += 1;
        let lines = parse_lines(&toks, &mut i, Some(&open))?;
        let (zones, port) = zones_and_port(&keys, default_port, &mut seen)?;
        blocks.push(build_block(zones, port, &lines, start.at())?);
    }
    Ok(Config {
        path: path.to_path_buf(),
        blocks,
        default_port,
        sha512: digest(&toks),
    })
}

/// The keys before a server block's `{` (split at commas); leaves `i` at the `{`.
fn block_keys(toks: &[Token], i: &mut usize) -> Result<Vec<Token>, ConfigError> {
    let start = &toks[*i];
    let mut keys = Vec::new();
    while *i < toks.len() && !toks[*i].is("{") {
        if toks[*i].is("}") {
            return Err(ConfigError::at(&toks[*i], None, "unexpected `}`"));
        }
        for part in toks[*i].text.split(',').filter(|p| !p.is_empty()) {
            let mut t = toks[*i].clone();
            t.text = part.to_string();
            keys.push(t);
        }
        *i += 1;
    }
    if *i >= toks.len() {
        return Err(ConfigError::at(
            start,
            None,
            "server block has no `{`: expected `ZONE[:PORT] {`",
        ));
    }
    if keys.is_empty() {
        return Err(ConfigError::at(
            &toks[*i],
            None,
            "server block without a zone (expected e.g. `.:53 {`)",
        ));
    }
    Ok(keys)
}

/// A block's zones and its one port; each `zone:port` may be served by one block only (`seen`).
fn zones_and_port(
    keys: &[Token],
    default_port: u16,
    seen: &mut HashSet<(String, u16)>,
) -> Result<(Vec<String>, u16), ConfigError> {
    let mut zones = Vec::new();
    let mut port = None;
    for k in keys {
        let (zone, p) = parse_key(k, default_port)?;
        if let Some(prev) = port {
            if prev != p {
                return Err(ConfigError::at(
                    k,
                    None,
                    format!("all keys of a server block must use one port ({prev} and {p} given)"),
                ));
            }
        }
        port = Some(p);
        if !seen.insert((zone.clone(), p)) {
            return Err(ConfigError::at(
                k,
                None,
                format!("cannot serve {zone}:{p}: it is already defined"),
            ));
        }
        zones.push(zone);
    }
    Ok((zones, port.unwrap_or(default_port)))
}

/// One server block from its zones, port and directive lines.
fn build_block(
    zones: Vec<String>,
    port: u16,
    lines: &[Line],
    at: String,
) -> Result<ServerBlock, ConfigError> {
    let mut binds = Vec::new();
    let mut plugins = Vec::new();
    let mut used: HashSet<String> = HashSet::new();
    for line in lines {
        let d = check_directive(line, &mut used)?;
        if d == "bind" {
            parse_bind(line, &mut binds)?;
        } else {
            add_directive(d, line, &zones, &mut plugins)?;
        }
    }
    if let Some(ext) = lines.iter().find(|l| l.name().text == "k8s_external") {
        if !used.contains("kubernetes") {
            // CoreDNS fails at startup: "kubernetes plugin not loaded".
            return Err(ConfigError::at(
                ext.name(),
                Some("k8s_external"),
                "kubernetes plugin not loaded: k8s_external needs `kubernetes` in the same server block",
            ));
        }
    }
    // CoreDNS runs directives in plugin.cfg order, whatever the Corefile order (stable: several
    // `forward`s keep theirs).
    plugins.sort_by_key(Plugin::order);
    Ok(ServerBlock {
        zones,
        port,
        binds,
        plugins,
        at,
    })
}

/// The line's directive, when kdns supports it and it is not repeated where it may not be.
fn check_directive<'a>(line: &'a Line, used: &mut HashSet<String>) -> Result<&'a str, ConfigError> {
    let name = line.name();
    let d = name.text.as_str();
    if !SUPPORTED.contains(&d) {
        return Err(if COREDNS_DIRECTIVES.contains(&d) {
            ConfigError::at(name, Some(d), "directive is not supported by this version of kdns yet; remove it or use CoreDNS for this server block")
        } else {
            ConfigError::at(name, None, format!("unknown directive {d:?}"))
        });
    }
    if !REPEATABLE.contains(&d) && !used.insert(d.to_string()) {
        return Err(ConfigError::at(
            name,
            Some(d),
            "this directive can only be used once per server block",
        ));
    }
    Ok(d)
}

/// `bind ADDRESS…`: adds the addresses not yet in `binds`.
fn parse_bind(line: &Line, binds: &mut Vec<IpAddr>) -> Result<(), ConfigError> {
    let (name, d) = (line.name(), "bind");
    if line.block.is_some() {
        return Err(ConfigError::at(name, Some(d), "takes no block"));
    }
    if line.args().is_empty() {
        return Err(ConfigError::at(
            name,
            Some(d),
            "expects at least one address",
        ));
    }
    for a in line.args() {
        let ip: IpAddr = a.text.parse().map_err(|_| {
            ConfigError::at(
                a,
                Some(d),
                format!(
                    "{:?} is not an IP address (interface names are not supported)",
                    a.text
                ),
            )
        })?;
        if !binds.contains(&ip) {
            binds.push(ip);
        }
    }
    Ok(())
}

/// What the block's earlier lines of a repeatable directive (`log`, `acl`, `template`,
/// `rewrite`, `transfer`: every line adds to one) gathered, taken out of `plugins`; a new one for its first
/// line. `take` empties the directive it is given and returns its contents.
fn earlier<T: Default>(
    plugins: &mut Vec<Plugin>,
    mut take: impl FnMut(&mut Plugin) -> Option<T>,
) -> T {
    let found = plugins
        .iter_mut()
        .enumerate()
        .find_map(|(i, p)| take(p).map(|t| (i, t)));
    match found {
        Some((i, t)) => {
            plugins.remove(i);
            t
        }
        None => T::default(),
    }
}

/// The dispatch: parses directive `d` with its own parser and adds it to `plugins` (a `log`
/// line adds its rules to the block's one `log`).
fn add_directive(
    d: &str,
    line: &Line,
    zones: &[String],
    plugins: &mut Vec<Plugin>,
) -> Result<(), ConfigError> {
    let p = match d {
        "kubernetes" => Plugin::Kubernetes(Box::new(kubernetes::config::parse(line, zones)?)),
        "forward" => Plugin::Forward(Box::new(forward::config::parse(line)?)),
        "cache" => Plugin::Cache(Box::new(cache::config::parse(line, zones)?)),
        "health" => Plugin::Health(health::parse(line)?),
        "ready" => Plugin::Ready(ready::parse(line)?),
        "prometheus" => Plugin::Prometheus(prometheus::parse(line)?),
        "errors" => Plugin::Errors(errors::parse(line)?),
        "log" => {
            let mut rules = earlier(plugins, |p| match p {
                Plugin::Log(l) => Some(std::mem::take(l)),
                _ => None,
            });
            log::parse(line, &mut rules)?;
            Plugin::Log(rules)
        }
        "loop" => {
            loop_detect::parse(line)?;
            Plugin::Loop
        }
        "reload" => Plugin::Reload(reload::parse(line)?),
        "loadbalance" => {
            loadbalance::parse(line)?;
            Plugin::Loadbalance
        }
        "bufsize" => Plugin::Bufsize(bufsize::parse(line)?),
        "chaos" => Plugin::Chaos(chaos::parse(line)?),
        "any" => {
            any::parse(line)?;
            Plugin::Any
        }
        "acl" => {
            let mut rules = earlier(plugins, |p| match p {
                Plugin::Acl(a) => Some(std::mem::take(a)),
                _ => None,
            });
            acl::parse(line, zones, &mut rules)?;
            Plugin::Acl(rules)
        }
        "hosts" => Plugin::Hosts(Box::new(hosts::config::parse(line, zones)?)),
        "k8s_external" => Plugin::K8sExternal(Box::new(k8s_external::config::parse(line, zones)?)),
        "autopath" => Plugin::Autopath(Box::new(autopath::config::parse(line, zones)?)),
        "template" => {
            let mut cfg = earlier(plugins, |p| match p {
                Plugin::Template(t) => Some(std::mem::take(t)),
                _ => None,
            });
            template::config::parse(line, zones, &mut cfg)?;
            Plugin::Template(cfg)
        }
        "rewrite" => {
            let mut c = earlier(plugins, |p| match p {
                Plugin::Rewrite(r) => Some(std::mem::take(r)),
                _ => None,
            });
            rewrite::parse(line, &mut c)?;
            Plugin::Rewrite(c)
        }
        "transfer" => {
            let mut c = earlier(plugins, |p| match p {
                Plugin::Transfer(t) => Some(std::mem::take(t)),
                _ => None,
            });
            transfer::config::parse(line, zones, &mut c)?;
            Plugin::Transfer(c)
        }
        _ => unreachable!("checked against SUPPORTED"),
    };
    plugins.push(p);
    Ok(())
}
