//! Server blocks: zones and ports, `FILE:LINE` errors, plugin.cfg order, the digest, snippets.
use std::net::IpAddr;
use std::path::Path;

use super::directives::{Plugin, COREDNS_DIRECTIVES, SUPPORTED};
use super::syntax::{normalize_zone, ConfigError};
use super::{load_str, Config};

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
    let e = cfg(".:53 {\n  dnssec example.org\n}\n")
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("Corefile:2: dnssec: directive is not supported"),
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
    let c = cfg("(common) {\n  bind {$KDNS_TEST_BIND}\n}\n.:53 {\n  import common\n}\n").unwrap();
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
