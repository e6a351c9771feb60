use super::*;
use crate::config::{load_str, Plugin};
use crate::dns::{Block, Router};
use hickory_server::proto::rr::Name;
use std::path::Path;

fn parsed(t: &str) -> Result<AclConfig, String> {
    let c = load_str(t, Path::new("Corefile"), 53).map_err(|e| e.to_string())?;
    c.blocks[0]
        .plugins
        .iter()
        .find_map(|p| match p {
            Plugin::Acl(a) => Some(a.clone()),
            _ => None,
        })
        .ok_or_else(|| "no acl".into())
}

fn net(s: &str, bits: u8) -> Net {
    Net {
        addr: s.parse().unwrap(),
        bits,
    }
}

#[test]
fn parse_table() {
    let p = |action, types, nets| Policy {
        action,
        types,
        nets,
    };
    let ok: Vec<(&str, Vec<Rule>)> = vec![
        ("acl", vec![Rule { zones: vec![".".into()], policies: vec![] }]),
        (
            "acl {\n  block type A net 192.168.0.0/16\n }",
            vec![Rule {
                zones: vec![".".into()],
                policies: vec![p(
                    Action::Block,
                    Some(vec![RecordType::A]),
                    Some(vec![net("192.168.0.0", 16)]),
                )],
            }],
        ),
        (
            // Case-insensitive actions and sections, single addresses, `*` ending a section.
            "acl Example.ORG {\n  ALLOW NET 10.0.0.1 ::1\n  Filter type AAAA MX\n  drop type * A net *\n  block\n }",
            vec![Rule {
                zones: vec!["example.org.".into()],
                policies: vec![
                    p(Action::Allow, None, Some(vec![net("10.0.0.1", 32), net("::1", 128)])),
                    p(Action::Filter, Some(vec![RecordType::AAAA, RecordType::MX]), None),
                    p(Action::Drop, None, None),
                    p(Action::Block, None, None),
                ],
            }],
        ),
        (
            // Types hickory has no name for, as miekg/dns names them.
            "acl {\n  block type IXFR AXFR SPF\n }",
            vec![Rule {
                zones: vec![".".into()],
                policies: vec![p(
                    Action::Block,
                    Some(vec![RecordType::IXFR, RecordType::AXFR, RecordType::from(99u16)]),
                    None,
                )],
            }],
        ),
        (
            // Two lines: two rules; two sections of one kind add up.
            "acl a.example {\n  block net 127.0.0.2 net 127.0.0.3/32\n }\n acl {\n  allow type * type A\n }",
            vec![
                Rule {
                    zones: vec!["a.example.".into()],
                    policies: vec![p(
                        Action::Block,
                        None,
                        Some(vec![net("127.0.0.2", 32), net("127.0.0.3", 32)]),
                    )],
                },
                Rule {
                    zones: vec![".".into()],
                    policies: vec![p(Action::Allow, None, None)],
                },
            ],
        ),
    ];
    for (text, want) in ok {
        assert_eq!(
            parsed(&format!(".:53 {{\n {text}\n}}\n")),
            Ok(AclConfig { rules: want }),
            "{text}"
        );
    }
    let bad: &[(&str, &str)] = &[
        ("acl {\n  deny\n }", "Corefile:3: acl: unexpected token \"deny\"; expect 'allow', 'block', 'filter' or 'drop'"),
        ("acl {\n  block A\n }", "Corefile:3: acl: unexpected token \"A\"; expect 'type | net'"),
        ("acl {\n  block type\n }", "Corefile:3: acl: no token specified in \"type\" section"),
        ("acl {\n  block type A net\n }", "Corefile:3: acl: no token specified in \"net\" section"),
        ("acl {\n  block type a\n }", "Corefile:3: acl: unexpected token \"a\"; expect legal QTYPE"),
        ("acl {\n  block type BOGUS\n }", "Corefile:3: acl: unexpected token \"BOGUS\"; expect legal QTYPE"),
        ("acl {\n  block net 10.0.0.0/33\n }", "Corefile:3: acl: illegal CIDR notation \"10.0.0.0/33\""),
        ("acl {\n  block net 10.0.0/8\n }", "Corefile:3: acl: illegal CIDR notation \"10.0.0/8\""),
        ("acl {\n  block net ::/129\n }", "Corefile:3: acl: illegal CIDR notation \"::/129\""),
        ("acl {\n  block net 10.0.0.0/\n }", "Corefile:3: acl: illegal CIDR notation \"10.0.0.0/\""),
        ("acl {\n  block net example.org\n }", "Corefile:3: acl: illegal CIDR notation \"example.org\""),
    ];
    for (text, want) in bad {
        let e = parsed(&format!(".:53 {{\n {text}\n}}\n")).unwrap_err();
        assert!(e.starts_with(want), "{text}: {e}");
    }
}

#[test]
fn networks() {
    let table: &[(Net, &str, bool)] = &[
        (net("192.168.0.0", 16), "192.168.3.4", true),
        (net("192.168.0.0", 16), "192.169.0.1", false),
        (net("10.1.2.3", 8), "10.9.9.9", true),
        (net("0.0.0.0", 0), "8.8.8.8", true),
        (net("0.0.0.0", 0), "::1", false),
        (net("127.0.0.1", 32), "127.0.0.1", true),
        (net("127.0.0.1", 32), "127.0.0.2", false),
        (net("fd00::", 8), "fdff::1", true),
        (net("fd00::", 8), "fe00::1", false),
        (net("::", 0), "::1", true),
    ];
    for (n, ip, want) in table {
        assert_eq!(n.contains(ip.parse().unwrap()), *want, "{n:?} {ip}");
    }
}

#[tokio::test]
async fn serve_table() {
    let cfg = parsed(
        ".:53 {\n acl a.example {\n  block net 127.0.0.2\n }\n acl {\n  allow net 127.0.0.1\n  filter type AAAA net 127.0.0.0/8\n  drop net 127.0.0.3\n  block type A\n }\n}\n",
    )
    .unwrap();
    let mut router = Router::default();
    let block = Block::new(vec![".".into()], vec![Acl::new(&cfg, "dns://:53")]);
    router.ports.insert(53, vec![Arc::new(block)]);
    let router = Arc::new(router);
    // (source, name, type, what happens: "next" is the chain's end, SERVFAIL)
    let table: &[(&str, &str, RecordType, &str)] = &[
        ("127.0.0.1", "x.example.", RecordType::A, "next"),
        ("127.0.0.1", "a.example.", RecordType::A, "next"),
        ("127.0.0.2", "a.example.", RecordType::A, "REFUSED 15"),
        ("127.0.0.2", "b.a.example.", RecordType::TXT, "REFUSED 15"),
        ("127.0.0.2", "x.example.", RecordType::AAAA, "NOERROR 17"),
        ("127.0.0.2", "x.example.", RecordType::A, "REFUSED 15"),
        ("127.0.0.2", "x.example.", RecordType::TXT, "next"),
        (
            "::ffff:127.0.0.2",
            "x.example.",
            RecordType::AAAA,
            "NOERROR 17",
        ),
        ("127.0.0.3", "x.example.", RecordType::AAAA, "NOERROR 17"),
        ("127.0.0.3", "x.example.", RecordType::TXT, "drop"),
        ("::1", "x.example.", RecordType::MX, "next"),
        ("::1", "x.example.", RecordType::A, "REFUSED 15"),
    ];
    for (src, name, qtype, want) in table {
        let mut q = Query::internal(Name::from_ascii(name).unwrap(), *qtype);
        q.src = std::net::SocketAddr::new(src.parse().unwrap(), 5353);
        let a = router.answer(53, &q).await;
        let got = if a.silent {
            "drop".to_string()
        } else if a.rcode == ResponseCode::ServFail {
            "next".to_string()
        } else {
            format!("{} {}", a.rcode, a.ede.unwrap_or(0))
        };
        let want = want.replace("REFUSED", &ResponseCode::Refused.to_string());
        let want = want.replace("NOERROR", &ResponseCode::NoError.to_string());
        assert_eq!(got, want, "{src} {name} {qtype:?}");
        if got != "next" {
            assert_eq!(a.plugin, "acl");
            assert!(a.answers.is_empty());
        }
    }
}
