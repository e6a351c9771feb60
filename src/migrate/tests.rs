use super::*;

/// ConfigMap data as written in a table row: (key, value) pairs.
type Data<'a> = &'a [(&'a str, &'a str)];

fn data(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The server blocks of a Corefile: (key line, directive lines at the first indent level).
fn blocks(corefile: &str) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for line in corefile.lines() {
        if !line.starts_with(' ') && line.ends_with('{') {
            out.push((line.trim_end_matches(" {").to_string(), Vec::new()));
        } else if let Some(d) = line.strip_prefix("    ").filter(|d| !d.starts_with(' ')) {
            if d != "}" {
                out.last_mut().unwrap().1.push(d.to_string());
            }
        }
    }
    out
}

#[test]
fn translation_table() {
    // (data, domain, the forward line of `.:53`, the stub blocks: key and forward line)
    let cases: &[(Data<'_>, &str, &str, Data<'_>)] = &[
        (&[], "cluster.local", "forward . /etc/resolv.conf {", &[]),
        (
            &[("upstreamNameservers", r#"["8.8.8.8", "8.8.4.4"]"#)],
            "cluster.local",
            "forward . 8.8.8.8 8.8.4.4 {",
            &[],
        ),
        (
            &[("stubDomains", "{\"acme.local\": [\"1.2.3.4\"]}\n")],
            "cluster.local",
            "forward . /etc/resolv.conf {",
            &[("acme.local:53", "forward . 1.2.3.4")],
        ),
        // Name order, trailing dots and case dropped, ports and IPv6 kept as written.
        (
            &[
                (
                    "stubDomains",
                    r#"{"Zeta.Test.": ["10.0.0.1:5353"], "abc.com": ["2001:db8::1", "[2001:db8::2]:53"]}"#,
                ),
                ("upstreamNameservers", r#"["172.16.0.1"]"#),
            ],
            "example.internal.",
            "forward . 172.16.0.1 {",
            &[
                ("abc.com:53", "forward . 2001:db8::1 [2001:db8::2]:53"),
                ("zeta.test:53", "forward . 10.0.0.1:5353"),
            ],
        ),
        // Host names are left out; a stub with none left is dropped; so is an empty upstream.
        (
            &[
                (
                    "stubDomains",
                    r#"{"a.test": ["ns.example.com", "10.1.1.1"], "b.test": ["ns.example.com:5353"]}"#,
                ),
                ("upstreamNameservers", r#"["dns.example.com"]"#),
            ],
            "cluster.local",
            "forward . /etc/resolv.conf {",
            &[("a.test:53", "forward . 10.1.1.1")],
        ),
        (
            &[("upstreamNameservers", "[]"), ("stubDomains", "{}")],
            "cluster.local",
            "forward . /etc/resolv.conf {",
            &[],
        ),
    ];
    for (pairs, domain, forward, stubs) in cases {
        let t = translate(&data(pairs), domain).unwrap_or_else(|e| panic!("{pairs:?}: {e}"));
        let b = blocks(&t.corefile);
        assert_eq!(b[0].0, ".:53", "{pairs:?}");
        assert!(
            b[0].1.contains(&forward.to_string()),
            "{pairs:?}\n{}",
            t.corefile
        );
        let d = domain.trim_end_matches('.');
        assert!(b[0]
            .1
            .contains(&format!("kubernetes {d} in-addr.arpa ip6.arpa {{")));
        assert!(t.corefile.contains(&format!("       disable denial {d}\n")));
        let got: Vec<(String, String)> = b[1..]
            .iter()
            .map(|(k, body)| {
                assert_eq!(body[..3], ["errors", "cache 30", "loop"], "{k}");
                (k.clone(), body[3].clone())
            })
            .collect();
        let want: Vec<(String, String)> = stubs
            .iter()
            .map(|(k, f)| (k.to_string(), f.to_string()))
            .collect();
        assert_eq!(got, want, "{pairs:?}");
        // Every translation loads as a Corefile (files and ports are not touched).
        crate::config::load_str(&t.corefile, std::path::Path::new("Corefile"), 53)
            .unwrap_or_else(|e| panic!("{e}\n{}", t.corefile));
    }
}

#[test]
fn kubeadm_default_for_an_empty_configmap() {
    let t = translate(&BTreeMap::new(), "cluster.local").unwrap();
    let deploy = include_str!("../../deploy/configmap.yaml");
    let shipped: String = deploy
        .split_once("Corefile: |\n")
        .unwrap()
        .1
        .lines()
        .map(|l| format!("{}\n", l.strip_prefix("    ").unwrap_or(l)))
        .collect();
    assert_eq!(t.corefile, shipped);
    assert!(t.warnings.is_empty());
}

#[test]
fn warnings_table() {
    let cases: &[(Data<'_>, &[&str])] = &[
        (
            &[("federations", r#"{"foo": "foo.feddomain.com"}"#)],
            &["federations: not translated (foo): CoreDNS removed its federation plugin in 1.7.0"],
        ),
        (
            &[("stubdomains", "{}")],
            &["stubdomains: not a kube-dns option; ignored"],
        ),
        (
            &[("upstreamNameservers", r#"["ns1.example.com", "1.1.1.1"]"#)],
            &[r#"upstreamNameservers: host name "ns1.example.com" left out"#],
        ),
        (
            &[("upstreamNameservers", r#"["ns1.example.com"]"#)],
            &[
                "host name \"ns1.example.com\" left out",
                "upstreamNameservers: no address left; forwarding to /etc/resolv.conf",
            ],
        ),
        (
            &[("stubDomains", r#"{"a.test": ["ns.a.test"]}"#)],
            &[
                r#"stubDomains["a.test"]: host name "ns.a.test" left out"#,
                r#"stubDomains["a.test"]: no address left; the stub domain is left out"#,
            ],
        ),
        (
            &[(
                "upstreamNameservers",
                r#"["1.1.1.1", "1.0.0.1", "8.8.8.8", "8.8.4.4"]"#,
            )],
            &["upstreamNameservers: kube-dns takes at most 3"],
        ),
    ];
    for (pairs, want) in cases {
        let t = translate(&data(pairs), DEFAULT_DOMAIN).unwrap();
        assert_eq!(t.warnings.len(), want.len(), "{pairs:?}: {:?}", t.warnings);
        for (w, prefix) in t.warnings.iter().zip(want.iter()) {
            assert!(w.contains(prefix), "{w:?} lacks {prefix:?}");
        }
    }
}

#[test]
fn errors_table() {
    let cases: &[(Data<'_>, &str, &str)] = &[
        (
            &[("stubDomains", r#"{"acme.local": "1.2.3.4"}"#)],
            DEFAULT_DOMAIN,
            "stubDomains: invalid JSON (an object of domain → list of IP addresses",
        ),
        (
            &[("stubDomains", r#"{"acme.local": ["1.2.3.4"]"#)],
            DEFAULT_DOMAIN,
            "stubDomains: invalid JSON",
        ),
        (
            &[("upstreamNameservers", "8.8.8.8")],
            DEFAULT_DOMAIN,
            "upstreamNameservers: invalid JSON (a list of IP addresses",
        ),
        (
            &[("federations", "[1]")],
            DEFAULT_DOMAIN,
            "federations: invalid JSON",
        ),
        (
            &[("upstreamNameservers", r#"["8.8.8.256"]"#)],
            DEFAULT_DOMAIN,
            r#"upstreamNameservers: "8.8.8.256" is not an IP address (IP or IP:port)"#,
        ),
        (
            &[("stubDomains", r#"{"acme.local": ["1.2.3.4:0"]}"#)],
            DEFAULT_DOMAIN,
            r#"stubDomains["acme.local"]: "1.2.3.4:0" is not an IP address"#,
        ),
        (
            &[("stubDomains", r#"{"acme.local": ["1.2.3.4:99999"]}"#)],
            DEFAULT_DOMAIN,
            r#"stubDomains["acme.local"]: "1.2.3.4:99999" is not an IP address"#,
        ),
        (
            &[("stubDomains", r#"{"acme.local": [""]}"#)],
            DEFAULT_DOMAIN,
            r#"stubDomains["acme.local"]: "" is not an IP address"#,
        ),
        (
            &[("stubDomains", r#"{"ac me.local": ["1.2.3.4"]}"#)],
            DEFAULT_DOMAIN,
            r#"stubDomains: "ac me.local" is not a domain name"#,
        ),
        (
            &[(
                "stubDomains",
                r#"{"acme.local": ["1.2.3.4"], "ACME.local.": ["1.2.3.5"]}"#,
            )],
            DEFAULT_DOMAIN,
            r#"stubDomains: "acme.local" is given twice"#,
        ),
        (
            &[],
            "cluster..local",
            r#"--domain: "cluster..local" is not a domain name"#,
        ),
    ];
    for (pairs, domain, want) in cases {
        let e = translate(&data(pairs), domain).unwrap_err().to_string();
        assert!(e.starts_with(want), "{pairs:?}: {e}");
    }
}

#[test]
fn host_names_and_domains() {
    for (s, host) in [
        ("ns.example.com", true),
        ("ns.example.com:5353", true),
        ("localhost", true),
        ("1.2.3.400", false),
        ("ns.example.com:0", false),
        ("a b", false),
        ("", false),
    ] {
        assert_eq!(is_host_name(s), host, "{s}");
    }
    assert_eq!(domain_name("Cluster.Local."), Some("cluster.local".into()));
    assert_eq!(domain_name("."), None);
    assert_eq!(domain_name(&format!("{}.x", "a".repeat(64))), None);
}
