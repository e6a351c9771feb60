//! `hosts`: the parse table (options, errors at `FILE:LINE`) and the serve table (the chain
//! rules of CoreDNS's hosts plugin), with a hosts file on disk.
use std::path::Path;
use std::time::Duration;

use super::*;
use crate::config::{load_str, Plugin};
use crate::dns::{Block, Router};

fn load(corefile: &str) -> Result<HostsConfig, String> {
    let c = load_str(corefile, Path::new("Corefile"), 53).map_err(|e| e.to_string())?;
    c.blocks[0]
        .plugins
        .iter()
        .find_map(|p| match p {
            Plugin::Hosts(h) => Some((**h).clone()),
            _ => None,
        })
        .ok_or_else(|| "no hosts".to_string())
}

#[test]
fn parse_table() {
    let c = load(".:53 {\n hosts\n}\n").unwrap();
    assert_eq!(c.path, Path::new("/etc/hosts"));
    assert_eq!(
        (c.ttl, c.reverse, c.reload),
        (3600, true, Duration::from_secs(5))
    );
    assert_eq!(
        (c.zones.clone(), c.fallthrough),
        (vec![".".into()], Fallthrough::Off)
    );
    // The k3s shape.
    let c = load(
        ".:53 {\n hosts /etc/coredns/NodeHosts {\n  ttl 60\n  reload 15s\n  fallthrough\n }\n}\n",
    )
    .unwrap();
    assert_eq!(c.path, Path::new("/etc/coredns/NodeHosts"));
    assert_eq!((c.ttl, c.reload), (60, Duration::from_secs(15)));
    assert_eq!(c.fallthrough, Fallthrough::All);
    let c = load("example.org:53 {\n hosts /nonexistent example.ORG 10.0.0.0/8 {\n  10.0.0.1 a.example.org b\n  ::1%lo c\n  no_reverse\n  reload 0\n  fallthrough in-addr.arpa\n  fallthrough_unsupported\n }\n}\n").unwrap();
    assert_eq!(c.zones, vec!["example.org.", "10.in-addr.arpa."]);
    assert_eq!(c.inline, vec!["10.0.0.1 a.example.org b", "::1%lo c"]);
    assert_eq!((c.reverse, c.reload), (false, Duration::ZERO));
    assert!(c.fallthrough_unsupported);
    assert_eq!(
        c.fallthrough,
        Fallthrough::Zones(vec!["in-addr.arpa.".into()])
    );
    let c = load(".:53 {\n hosts {\n  example.com\n  ttl 1\n  reload -0s\n }\n}\n");
    assert!(c
        .unwrap_err()
        .starts_with("Corefile:3: hosts: unknown property \"example.com\""));
    for (block, want) in [
        ("ttl", "Corefile:3: hosts: ttl needs a time in second"),
        ("ttl x", "Corefile:3: hosts: ttl needs a number of second"),
        ("ttl 0", "Corefile:3: hosts: ttl provided is invalid"),
        ("ttl 65536", "Corefile:3: hosts: ttl provided is invalid"),
        ("ttl 5 6", "Corefile:3: hosts: ttl takes one number"),
        ("reload", "Corefile:3: hosts: reload needs a duration"),
        (
            "reload 5",
            "Corefile:3: hosts: invalid duration for reload '5'",
        ),
        (
            "reload -1s",
            "Corefile:3: hosts: invalid negative duration for reload '-1s'",
        ),
        (
            "no_reverse x",
            "Corefile:3: hosts: no_reverse takes no arguments",
        ),
        (
            "10.0.0.256 x",
            "Corefile:3: hosts: unknown property \"10.0.0.256\"",
        ),
        (
            "10.0.0.1",
            "Corefile:3: hosts: inline entry \"10.0.0.1\" has an address but no name",
        ),
        (
            "fallthrough\n  10.0.0.1 a",
            "Corefile:4: hosts: unknown property \"10.0.0.1\"",
        ),
        (
            "fallthrough_unsupported",
            "Corefile:2: hosts: fallthrough_unsupported requires fallthrough",
        ),
        ("ttl 5 {\n  }", "Corefile:3: hosts: ttl takes no block"),
    ] {
        let e = load(&format!(".:53 {{\n hosts {{\n  {block}\n }}\n}}\n")).unwrap_err();
        assert!(e.starts_with(want), "{block}: {e}");
    }
    let e = load(".:53 {\n hosts\n hosts\n}\n").unwrap_err();
    assert!(
        e.starts_with("Corefile:3: hosts: this directive can only be used once"),
        "{e}"
    );
    let e = load(".:53 {\n hosts /etc/hosts 10.0.0.0/7\n}\n").unwrap_err();
    assert!(e.starts_with("Corefile:2: hosts: "), "{e}");
}

#[test]
fn table_rules() {
    let zones = vec!["example.org.".to_string()];
    let t = Table::parse(
        "# comment\n10.0.0.1 A.example.org a.example.org. # two names\n\
         ::ffff:10.0.0.2 mapped.example.org\n10.0.0.3\nbad a.example.org\n\
         fe80::1%eth0 v6.example.org\n10.0.0.9 outside.test\n\
         10.0.0.10 *.w.example.org\n10.0.0.11 x.w.example.org\n 2001:db8::1 *.w.example.org\n",
        &zones,
        true,
    );
    let v4 = |n: &str| t.find(n).v4().to_vec();
    let v6 = |n: &str| t.find(n).v6().to_vec();
    let ip4 = |s: &str| s.parse::<std::net::Ipv4Addr>().unwrap();
    assert_eq!(v4("a.example.org."), vec![ip4("10.0.0.1"), ip4("10.0.0.1")]);
    assert_eq!(v4("mapped.example.org."), vec![ip4("10.0.0.2")]);
    assert!(v6("mapped.example.org.").is_empty());
    assert_eq!(
        v6("v6.example.org."),
        vec!["fe80::1".parse::<std::net::Ipv6Addr>().unwrap()]
    );
    assert!(
        v4("outside.test.").is_empty(),
        "names outside the zones are dropped"
    );
    // Wildcards: one label, the exact owner first, per family.
    assert_eq!(v4("y.w.example.org."), vec![ip4("10.0.0.10")]);
    assert_eq!(v4("x.w.example.org."), vec![ip4("10.0.0.11")]);
    assert_eq!(
        v6("x.w.example.org.").len(),
        1,
        "no exact AAAA: the wildcard's"
    );
    assert!(v4("w.example.org.").is_empty() && v4("a.y.w.example.org.").is_empty());
    // Reverse: both names (duplicates kept), none for wildcards, mapped as IPv4.
    let names = |ip: &str| t.names_of(&ip.parse().unwrap()).len();
    assert_eq!(
        (names("10.0.0.1"), names("10.0.0.2"), names("10.0.0.10")),
        (2, 1, 0)
    );
    // 2 + 2 (a), 1 + 1 (mapped), 1 + 1 (v6), 1 + 1 (x.w), 2 wildcards.
    assert_eq!(t.len(), 12);
    assert!(Table::parse("10.0.0.1 a.example.org", &zones, false)
        .names_of(&"10.0.0.1".parse().unwrap())
        .is_empty());
}

#[test]
fn reverse_names() {
    let r = |n: &str| reverse_addr(n).map(|ip| ip.to_string());
    assert_eq!(r("1.0.0.10.in-addr.arpa.").as_deref(), Some("10.0.0.1"));
    assert_eq!(r("0.0.10.in-addr.arpa."), None);
    assert_eq!(r("01.0.0.10.in-addr.arpa."), None, "no leading zeros");
    assert_eq!(r("in-addr.arpa."), None);
    let v6 = "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.";
    assert_eq!(r(v6).as_deref(), Some("2001:db8::1"));
    assert_eq!(
        r(&format!("x.{v6}")).as_deref(),
        Some("2001:db8::1"),
        "as CoreDNS: extra labels ignored"
    );
    let mapped = "1.0.0.0.0.0.a.0.f.f.f.f.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.ip6.arpa.";
    assert_eq!(r(mapped).as_deref(), Some("10.0.0.1"));
    assert_eq!(r("1.0.0.2.ip6.arpa."), None);
}

/// Answers NOERROR as "next" (what passing on reaches).
struct NextStep;

impl Directive for NextStep {
    fn name(&self) -> &'static str {
        "next"
    }
    fn serve<'a>(&'a self, _q: &'a Query, _next: Next<'a>) -> Served<'a> {
        Served::ready(Answer::code(ResponseCode::NoError).by("next"))
    }
}

fn router(dir: &Path, block: &str) -> Arc<Router> {
    let hosts = dir.join("hosts");
    std::fs::write(
        &hosts,
        "10.0.0.1 a.example.org\n10.0.0.2 a.example.org\nfd00::1 six.example.org\n\
         10.0.0.3 both.example.org\nfd00::3 both.example.org\n10.0.0.4 out.test\n",
    )
    .unwrap();
    let corefile = format!(
        "example.org:53 in-addr.arpa:53 {{\n hosts {} example.org {{\n{block}\n }}\n}}\n",
        hosts.display()
    );
    let c = load(&corefile).unwrap();
    let chain: Vec<Arc<dyn Directive>> = vec![
        Arc::new(Hosts::new(&c, Default::default())),
        Arc::new(NextStep),
    ];
    let mut r = Router::default();
    r.ports
        .entry(53)
        .or_default()
        .push(Arc::new(Block::new(vec![".".into()], chain)));
    Arc::new(r)
}

/// `rcode plugin aa records` for one question.
async fn ask(r: &Arc<Router>, name: &str, t: RecordType) -> String {
    let a = r.resolve(53, &Name::from_ascii(name).unwrap(), t).await;
    let recs: Vec<String> = a
        .answers
        .iter()
        .map(|r| format!("{} {} {}", r.name, r.ttl, r.data))
        .collect();
    format!(
        "{} {} {} [{}]",
        a.rcode,
        a.plugin,
        a.authoritative,
        recs.join(", ")
    )
}

#[tokio::test]
async fn serve_table() {
    let dir = tempfile::tempdir().unwrap();
    let plain = router(
        dir.path(),
        "  10.0.0.9 inline.example.org a.example.org\n  ttl 60",
    );
    let fall = router(dir.path(), "  fallthrough\n  ttl 60");
    let unsup = router(dir.path(), "  fallthrough\n  fallthrough_unsupported");
    use RecordType::*;
    for (r, name, t, want) in [
        (&plain, "A.Example.ORG.", A, "No Error hosts true [a.example.org. 60 10.0.0.1, a.example.org. 60 10.0.0.2, a.example.org. 60 10.0.0.9]"),
        (&plain, "inline.example.org.", A, "No Error hosts true [inline.example.org. 60 10.0.0.9]"),
        (&plain, "six.example.org.", AAAA, "No Error hosts true [six.example.org. 60 fd00::1]"),
        (&plain, "six.example.org.", A, "No Error hosts true []"),
        (&plain, "a.example.org.", AAAA, "No Error hosts true []"),
        (&plain, "a.example.org.", TXT, "No Error hosts true []"),
        (&plain, "nope.example.org.", A, "Server Failure  false []"),
        (&plain, "nope.example.org.", TXT, "Server Failure  false []"),
        (&plain, "out.test.", A, "No Error next false []"),
        (&plain, "1.0.0.10.in-addr.arpa.", PTR, "No Error hosts true [1.0.0.10.in-addr.arpa. 60 a.example.org.]"),
        (&plain, "9.0.0.10.in-addr.arpa.", PTR, "No Error hosts true [9.0.0.10.in-addr.arpa. 60 inline.example.org., 9.0.0.10.in-addr.arpa. 60 a.example.org.]"),
        (&plain, "4.0.0.10.in-addr.arpa.", PTR, "No Error next false []"),
        (&plain, "8.0.0.10.in-addr.arpa.", PTR, "No Error next false []"),
        (&fall, "nope.example.org.", A, "No Error next false []"),
        (&fall, "a.example.org.", AAAA, "No Error hosts true []"),
        (&fall, "a.example.org.", TXT, "No Error hosts true []"),
        (&unsup, "a.example.org.", TXT, "No Error next false []"),
        (&unsup, "a.example.org.", A, "No Error hosts true [a.example.org. 3600 10.0.0.1, a.example.org. 3600 10.0.0.2]"),
    ] {
        assert_eq!(ask(r, name, t).await, want, "{name} {t}");
    }
}

#[test]
fn the_file_is_read_again_when_it_changes_and_kept_when_it_goes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("hosts");
    std::fs::write(&path, "10.0.0.1 a.example.org\n").unwrap();
    let zones = vec![".".to_string()];
    let f = HostsFile::open(path.clone(), zones, true, 0, Default::default());
    assert_eq!(f.table().find("a.example.org.").v4().len(), 1);
    std::fs::write(&path, "10.0.0.1 a.example.org\n10.0.0.2 a.example.org b\n").unwrap();
    f.refresh();
    assert_eq!(f.table().find("a.example.org.").v4().len(), 2);
    assert_eq!(f.table().find("b.").v4().len(), 1);
    std::fs::remove_file(&path).unwrap();
    f.refresh();
    assert_eq!(f.table().find("a.example.org.").v4().len(), 2, "kept");
    std::fs::write(&path, "10.0.0.3 c\n").unwrap();
    f.refresh();
    assert!(f.table().find("a.example.org.").v4().is_empty());
    assert_eq!(f.table().len(), 2);
}
