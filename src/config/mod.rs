//! The Corefile: server blocks (`zone[:port] … { directives }`) in CoreDNS's syntax.
//!
//! Errors name `FILE:LINE` and the directive. Nothing is served from a Corefile that does not
//! load completely.
pub mod args;
pub mod lexer;
pub mod syntax;

use std::collections::HashSet;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use lexer::Loader;
use syntax::Token;
pub use syntax::{normalize_zone, ConfigError, Line};

use crate::plugin::kubernetes::config::KubernetesConfig;

use crate::plugin::cache::CacheConfig;
use crate::plugin::errors::ErrorsConfig;
use crate::plugin::forward::ForwardConfig;
use crate::plugin::health::HealthConfig;
use crate::plugin::log::LogConfig;
use crate::plugin::prometheus::PrometheusConfig;
use crate::plugin::ready::ReadyConfig;
use crate::plugin::reload::ReloadConfig;

/// One directive of a server block; a block's list is in CoreDNS's plugin order (plugin.cfg).
#[derive(Debug, Clone)]
pub enum Plugin {
    Kubernetes(Box<KubernetesConfig>),
    Forward(Box<ForwardConfig>),
    Cache(Box<CacheConfig>),
    Health(HealthConfig),
    Ready(ReadyConfig),
    Prometheus(PrometheusConfig),
    Errors(ErrorsConfig),
    Log(LogConfig),
    Loop,
    Reload(ReloadConfig),
    Loadbalance,
}

impl Plugin {
    /// The directive's name.
    pub fn name(&self) -> &'static str {
        match self {
            Plugin::Kubernetes(_) => "kubernetes",
            Plugin::Forward(_) => "forward",
            Plugin::Cache(_) => "cache",
            Plugin::Health(_) => "health",
            Plugin::Ready(_) => "ready",
            Plugin::Prometheus(_) => "prometheus",
            Plugin::Errors(_) => "errors",
            Plugin::Log(_) => "log",
            Plugin::Loop => "loop",
            Plugin::Reload(_) => "reload",
            Plugin::Loadbalance => "loadbalance",
        }
    }

    /// Position in CoreDNS's execution order.
    pub fn order(&self) -> usize {
        let n = self.name();
        COREDNS_DIRECTIVES
            .iter()
            .position(|d| *d == n)
            .unwrap_or(usize::MAX)
    }
}

/// One server block.
#[derive(Debug, Clone)]
pub struct ServerBlock {
    /// Zones, lower-case with a trailing dot (`.` is the root).
    pub zones: Vec<String>,
    pub port: u16,
    /// `bind` addresses; empty means all addresses.
    pub binds: Vec<IpAddr>,
    pub plugins: Vec<Plugin>,
    /// Where the block starts (`FILE:LINE`).
    pub at: String,
}

/// A loaded Corefile.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
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

/// Every directive CoreDNS 1.14 knows (plugin.cfg), in its execution order.
pub const COREDNS_DIRECTIVES: &[&str] = &[
    "root",
    "metadata",
    "geoip",
    "cancel",
    "tls",
    "quic",
    "grpc_server",
    "https",
    "https3",
    "timeouts",
    "multisocket",
    "reload",
    "nsid",
    "bufsize",
    "bind",
    "debug",
    "trace",
    "ready",
    "health",
    "pprof",
    "prometheus",
    "errors",
    "log",
    "dnstap",
    "local",
    "dns64",
    "acl",
    "any",
    "chaos",
    "loadbalance",
    "tsig",
    "cache",
    "rewrite",
    "header",
    "dnssec",
    "autopath",
    "minimal",
    "template",
    "transfer",
    "hosts",
    "route53",
    "azure",
    "clouddns",
    "k8s_external",
    "kubernetes",
    "file",
    "auto",
    "secondary",
    "etcd",
    "loop",
    "forward",
    "grpc",
    "erratic",
    "whoami",
    "on",
    "sign",
    "view",
    "nomad",
];

/// Directives kdns implements.
pub const SUPPORTED: &[&str] = &[
    "bind",
    "cache",
    "errors",
    "forward",
    "health",
    "kubernetes",
    "loadbalance",
    "log",
    "loop",
    "prometheus",
    "ready",
    "reload",
];

/// Directives that may appear more than once in a server block.
const REPEATABLE: &[&str] = &["bind", "forward", "log"];

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

fn parse(path: &Path, toks: Vec<Token>, default_port: u16) -> Result<Config, ConfigError> {
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
        let mut keys = Vec::new();
        while i < toks.len() && !toks[i].is("{") {
            if toks[i].is("}") {
                return Err(ConfigError::at(&toks[i], None, "unexpected `}`"));
            }
            for part in toks[i].text.split(',').filter(|p| !p.is_empty()) {
                let mut t = toks[i].clone();
                t.text = part.to_string();
                keys.push(t);
            }
            i += 1;
        }
        if i >= toks.len() {
            return Err(ConfigError::at(
                &start,
                None,
                "server block has no `{`: expected `ZONE[:PORT] {`",
            ));
        }
        if keys.is_empty() {
            return Err(ConfigError::at(
                &toks[i],
                None,
                "server block without a zone (expected e.g. `.:53 {`)",
            ));
        }
        let open = toks[i].clone();
        i += 1;
        let lines = parse_lines(&toks, &mut i, Some(&open))?;
        let mut zones = Vec::new();
        let mut port = None;
        for k in &keys {
            let (zone, p) = parse_key(k, default_port)?;
            if let Some(prev) = port {
                if prev != p {
                    return Err(ConfigError::at(
                        k,
                        None,
                        format!(
                            "all keys of a server block must use one port ({prev} and {p} given)"
                        ),
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
        let port = port.unwrap_or(default_port);
        blocks.push(build_block(zones, port, &lines, start.at())?);
    }
    Ok(Config {
        path: path.to_path_buf(),
        blocks,
        default_port,
        sha512: digest(&toks),
    })
}

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
        match d {
            "bind" => {
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
            }
            "kubernetes" => plugins.push(Plugin::Kubernetes(Box::new(
                crate::plugin::kubernetes::config::parse(line, &zones)?,
            ))),
            "forward" => plugins.push(Plugin::Forward(Box::new(
                crate::plugin::forward::config::parse(line)?,
            ))),
            "cache" => plugins.push(Plugin::Cache(Box::new(
                crate::plugin::cache::config::parse(line, &zones)?,
            ))),
            "health" => plugins.push(Plugin::Health(crate::plugin::health::parse(line)?)),
            "ready" => plugins.push(Plugin::Ready(crate::plugin::ready::parse(line)?)),
            "prometheus" => {
                plugins.push(Plugin::Prometheus(crate::plugin::prometheus::parse(line)?))
            }
            "errors" => plugins.push(Plugin::Errors(crate::plugin::errors::parse(line)?)),
            "log" => {
                let at = plugins.iter().position(|p| matches!(p, Plugin::Log(_)));
                let mut rules = match at {
                    Some(i) => match plugins.remove(i) {
                        Plugin::Log(l) => l,
                        _ => LogConfig::default(),
                    },
                    None => LogConfig::default(),
                };
                crate::plugin::log::parse(line, &mut rules)?;
                plugins.push(Plugin::Log(rules));
            }
            "loop" => {
                crate::plugin::loop_detect::parse(line)?;
                plugins.push(Plugin::Loop);
            }
            "reload" => plugins.push(Plugin::Reload(crate::plugin::reload::parse(line)?)),
            "loadbalance" => {
                crate::plugin::loadbalance::parse(line)?;
                plugins.push(Plugin::Loadbalance);
            }
            _ => unreachable!("checked against SUPPORTED"),
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

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> Result<Config, ConfigError> {
        load_str(text, Path::new("Corefile"), 53)
    }

    #[test]
    fn zones_and_ports() {
        let c = cfg("cluster.local:1053 in-addr.arpa:1053 ip6.arpa:1053 {\n bind 127.0.0.1 ::1\n}\n.:1054 {\n}\n").unwrap();
        assert_eq!(c.blocks.len(), 2);
        assert_eq!(
            c.blocks[0].zones,
            vec!["cluster.local.", "in-addr.arpa.", "ip6.arpa."]
        );
        assert_eq!(c.blocks[0].port, 1053);
        assert_eq!(c.blocks[0].binds.len(), 2);
        assert_eq!(c.blocks[1].zones, vec!["."]);
        assert_eq!(normalize_zone("10.0.0.0/8").unwrap(), "10.in-addr.arpa.");
        assert_eq!(normalize_zone("Cluster.Local").unwrap(), "cluster.local.");
    }

    #[test]
    fn errors_name_file_line_and_directive() {
        let e = cfg(".:53 {\n  bind 127.0.0.1\n  frobnicate\n}\n")
            .unwrap_err()
            .to_string();
        assert_eq!(e, "Corefile:3: unknown directive \"frobnicate\"");
        let e = cfg(".:53 {\n  rewrite name a b\n}\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("Corefile:2: rewrite: directive is not supported"),
            "{e}"
        );
        let e = cfg(".:53 {\n  bind nope\n}\n").unwrap_err().to_string();
        assert!(
            e.starts_with("Corefile:2: bind: \"nope\" is not an IP address"),
            "{e}"
        );
        let e = cfg(".:53 {\n bind 127.0.0.1\n").unwrap_err().to_string();
        assert!(e.contains("never closed"), "{e}");
        let e = cfg(".:53 {\n}\n.:53 {\n}\n").unwrap_err().to_string();
        assert!(e.contains("already defined"), "{e}");
        let e = cfg(".:99999 {\n}\n").unwrap_err().to_string();
        assert!(e.contains("invalid port"), "{e}");
    }

    #[test]
    fn directives_run_in_plugin_cfg_order_whatever_the_corefile_says() {
        let c = cfg(".:53 {\n loadbalance\n reload\n loop\n cache 30\n forward a. 127.0.0.1\n forward . 127.0.0.2\n prometheus\n ready\n health\n errors\n log\n log example.org\n kubernetes cluster.local {\n  manifests m\n }\n}\n").unwrap();
        let names: Vec<&str> = c.blocks[0].plugins.iter().map(Plugin::name).collect();
        assert_eq!(
            names,
            vec![
                "reload",
                "ready",
                "health",
                "prometheus",
                "errors",
                "log",
                "loadbalance",
                "cache",
                "kubernetes",
                "loop",
                "forward",
                "forward"
            ]
        );
        let froms: Vec<String> = c.blocks[0]
            .plugins
            .iter()
            .filter_map(|p| match p {
                Plugin::Forward(f) => Some(f.from.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(froms, vec!["a.", "."], "forwards keep their Corefile order");
        let Some(Plugin::Log(l)) = c.blocks[0]
            .plugins
            .iter()
            .find(|p| matches!(p, Plugin::Log(_)))
        else {
            panic!()
        };
        assert_eq!(l.rules.len(), 2, "log lines add rules");
        let e = cfg(".:53 {\n errors\n errors\n}\n")
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "Corefile:3: errors: this directive can only be used once per server block"
        );
        for d in SUPPORTED {
            assert!(COREDNS_DIRECTIVES.contains(d), "{d} is a CoreDNS directive");
        }
    }

    #[test]
    fn digest_ignores_comments_and_spacing_but_not_words() {
        let a = cfg(".:53 {\n  cache 30\n}\n").unwrap().sha512;
        let b = cfg("# a comment\n.:53   {\n cache   30 # more\n}\n")
            .unwrap()
            .sha512;
        let c = cfg(".:53 {\n  cache 31\n}\n").unwrap().sha512;
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(a.len(), 128);
    }

    #[test]
    fn snippets_and_env() {
        std::env::set_var("KDNS_TEST_BIND", "127.0.0.9");
        let c =
            cfg("(common) {\n  bind {$KDNS_TEST_BIND}\n}\n.:53 {\n  import common\n}\n").unwrap();
        assert_eq!(
            c.blocks[0].binds,
            vec!["127.0.0.9".parse::<IpAddr>().unwrap()]
        );
        let e = cfg(".:53 {\n  import missing\n}\n")
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("Corefile:2: import: no snippet named (missing)"),
            "{e}"
        );
    }
}
