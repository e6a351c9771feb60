//! `hosts` against the real CoreDNS 1.14.7: both servers read the same Corefile and the same
//! hosts file and are asked the same questions with `dig`; every answer must match (status,
//! header flags, records in order). Names the entries do not hold fall through to `forward`,
//! whose upstream is Knot on loopback. Then kdns alone: the file edited, deleted and restored
//! while it serves.
mod common;

use std::path::Path;
use std::time::Duration;

use common::coredns::CoreDns;
use common::knot::{example_zone, free_port, Knot};
use common::{dig, http_get, metric, query, wait_until, Kdns};

const HOSTS: &str = "\
# a hosts file as /etc/hosts writes it
10.0.0.1   a.example.org   alias.example.org   # two names
10.0.0.2   a.example.org
fd00::1    six.example.org
10.0.0.3   both.example.org
fd00::3    both.example.org
::ffff:10.0.0.4 mapped.example.org
10.0.0.5   *.wild.example.org
10.0.0.6   exact.wild.example.org
10.0.0.7   Upper.Example.ORG.
not-an-ip  broken.example.org
10.0.0.8
10.0.0.9   outside.test
";

fn reverse_zone() -> String {
    "$TTL 300\n@ IN SOA ns.example.test. admin.example.test. 1 3600 600 86400 60\n@ IN NS ns.example.test.\n10 IN PTR www.example.test.\n".into()
}

fn upstream() -> Knot {
    Knot::start(
        "127.0.0.1",
        &[
            ("example.test", example_zone()),
            ("2.0.192.in-addr.arpa", reverse_zone()),
        ],
    )
}

/// What is compared of a dig answer: the status, the header flags, the records in order.
fn view(out: &str) -> String {
    let status = common::status(out);
    let flags = out
        .split(";; flags: ")
        .nth(1)
        .and_then(|r| r.split(';').next())
        .unwrap_or("<no flags>");
    let records: Vec<String> = out
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    format!("{status} [{flags}] {records:?}")
}

/// Starts both servers on `template` (`{PORT}`, `{HOSTS}` the hosts file, `{UP}` Knot) and
/// asks both every question; returns the kdns answers for the test's own checks.
fn side_by_side(
    template: &str,
    hosts: &Path,
    up: &Knot,
    questions: &[(&str, &str)],
) -> Vec<String> {
    let corefile = template
        .replace("{HOSTS}", &hosts.display().to_string())
        .replace("{UP}", &up.addr.to_string());
    let core = CoreDns::start(&corefile, "a.example.org");
    let kdns = Kdns::start(&corefile.replace("{PORT}", "0"), None);
    let mut out = Vec::new();
    for (name, qtype) in questions {
        let k = view(&dig(kdns.addr, &[name, qtype]));
        let c = view(&dig(core.addr, &[name, qtype]));
        assert_eq!(
            forwarded_ra(&k, &c),
            c,
            "{name} {qtype}: kdns, then CoreDNS"
        );
        out.push(k);
    }
    out
}

/// kdns's `forward` sets RA on every relayed answer (README, `forward`), CoreDNS relays the
/// upstream's flags and Knot, authoritative only, sets none: for an answer that kdns relayed
/// with RA where CoreDNS has none, RA is left out of the comparison. `hosts` answers never
/// carry RA (checked on their own below).
fn forwarded_ra(kdns: &str, core: &str) -> String {
    if kdns.contains(" rd ra]") && core.contains(" rd]") {
        kdns.replacen(" rd ra]", " rd]", 1)
    } else {
        kdns.to_string()
    }
}

#[test]
#[ignore = "needs CoreDNS from scripts/build-tools.sh"]
fn answers_as_coredns_with_fallthrough_to_forward() {
    let dir = tempfile::tempdir().unwrap();
    let hosts = dir.path().join("hosts");
    std::fs::write(&hosts, HOSTS).unwrap();
    let up = upstream();
    let template = ".:{PORT} {\n bind 127.0.0.1\n hosts {HOSTS} {\n  10.9.9.9 inline.example.org a.example.org\n  fd00::9 inline.example.org\n  ttl 60\n  fallthrough\n }\n forward . {UP}\n}\n";
    let got = side_by_side(
        template,
        &hosts,
        &up,
        &[
            ("a.example.org", "A"),
            ("A.Example.ORG", "A"),
            ("alias.example.org", "A"),
            ("six.example.org", "AAAA"),
            ("six.example.org", "A"),
            ("a.example.org", "AAAA"),
            ("a.example.org", "MX"),
            ("both.example.org", "AAAA"),
            ("mapped.example.org", "A"),
            ("mapped.example.org", "AAAA"),
            ("anything.wild.example.org", "A"),
            ("exact.wild.example.org", "A"),
            ("deep.x.wild.example.org", "A"),
            ("upper.example.org", "A"),
            ("inline.example.org", "A"),
            ("inline.example.org", "AAAA"),
            ("broken.example.org", "A"),
            ("outside.test", "A"),
            ("1.0.0.10.in-addr.arpa", "PTR"),
            ("9.9.9.10.in-addr.arpa", "PTR"),
            ("4.0.0.10.in-addr.arpa", "PTR"),
            ("5.0.0.10.in-addr.arpa", "PTR"),
            (
                "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa",
                "PTR",
            ),
            ("10.2.0.192.in-addr.arpa", "PTR"),
            ("www.example.test", "A"),
            ("nope.example.test", "A"),
        ],
    );
    // The answers themselves, so that two equal wrong answers fail too.
    assert!(got[0].starts_with("NOERROR [qr aa rd]"), "{}", got[0]);
    assert!(
        got[0].contains("a.example.org. 60 IN A 10.0.0.1"),
        "{}",
        got[0]
    );
    assert!(
        got[0].contains("a.example.org. 60 IN A 10.9.9.9"),
        "inline: {}",
        got[0]
    );
    assert!(
        got[5].starts_with("NOERROR [qr aa rd] []"),
        "NODATA: {}",
        got[5]
    );
    assert!(got[8].contains("IN A 10.0.0.4"), "mapped: {}", got[8]);
    assert!(got[10].contains("10.0.0.5"), "wildcard: {}", got[10]);
    assert!(got[18].contains("PTR alias.example.org."), "{}", got[18]);
    assert!(
        got[23].contains("PTR www.example.test."),
        "PTR to Knot: {}",
        got[23]
    );
    assert!(
        got[24].contains("192.0.2.10"),
        "fallthrough to Knot: {}",
        got[24]
    );
    assert!(got[25].starts_with("NXDOMAIN"), "{}", got[25]);
}

#[test]
#[ignore = "needs CoreDNS from scripts/build-tools.sh"]
fn answers_as_coredns_without_fallthrough() {
    let dir = tempfile::tempdir().unwrap();
    let hosts = dir.path().join("hosts");
    std::fs::write(&hosts, HOSTS).unwrap();
    let up = upstream();
    let template = ".:{PORT} {\n bind 127.0.0.1\n hosts {HOSTS} example.org {\n  no_reverse\n }\n forward . {UP}\n}\n";
    let got = side_by_side(
        template,
        &hosts,
        &up,
        &[
            ("a.example.org", "A"),
            ("nope.example.org", "A"),
            ("nope.example.org", "TXT"),
            ("a.example.org", "TXT"),
            ("www.example.test", "A"),
            ("1.0.0.10.in-addr.arpa", "PTR"),
        ],
    );
    assert!(
        got[0].contains("a.example.org. 3600 IN A 10.0.0.2"),
        "{}",
        got[0]
    );
    assert!(got[1].starts_with("SERVFAIL"), "{}", got[1]);
    assert!(got[2].starts_with("SERVFAIL"), "{}", got[2]);
    assert!(got[3].starts_with("NOERROR [qr aa rd] []"), "{}", got[3]);
    assert!(
        got[4].contains("192.0.2.10"),
        "outside the zones: {}",
        got[4]
    );
    // no_reverse: the PTR question passes on to Knot, which does not serve 10.in-addr.arpa.
    assert!(!got[5].contains("PTR"), "{}", got[5]);
}

#[test]
#[ignore = "needs CoreDNS from scripts/build-tools.sh"]
fn k3s_shape_and_metrics_as_coredns() {
    let dir = tempfile::tempdir().unwrap();
    let hosts = dir.path().join("NodeHosts");
    std::fs::write(&hosts, "172.18.0.2 server-0\n172.18.0.3 agent-0\n").unwrap();
    let up = upstream();
    let mport = free_port("127.0.0.1");
    let template = ".:{PORT} {\n bind 127.0.0.1\n prometheus 127.0.0.1:{MPORT}\n hosts {HOSTS} {\n  ttl 60\n  reload 15s\n  fallthrough\n }\n forward . {UP}\n}\n";
    let corefile = template
        .replace("{HOSTS}", &hosts.display().to_string())
        .replace("{UP}", &up.addr.to_string());
    let core = CoreDns::start(&corefile.replace("{MPORT}", &mport.to_string()), "server-0");
    let kdns = Kdns::start(
        &corefile.replace("{PORT}", "0").replace("{MPORT}", "0"),
        None,
    );
    for (name, qtype) in [
        ("server-0", "A"),
        ("agent-0", "A"),
        ("server-0", "AAAA"),
        ("3.0.18.172.in-addr.arpa", "PTR"),
        ("www.example.test", "A"),
    ] {
        let c = view(&dig(core.addr, &[name, qtype]));
        assert_eq!(
            forwarded_ra(&view(&dig(kdns.addr, &[name, qtype])), &c),
            c,
            "{name} {qtype}"
        );
    }
    let series = format!("coredns_hosts_entries{{hostsfile=\"{}\"}}", hosts.display());
    let km = http_get(kdns.http_addr("/metrics"), "/metrics").1;
    let cm = http_get(format!("127.0.0.1:{mport}").parse().unwrap(), "/metrics").1;
    assert_eq!(metric(&km, &series), Some(4.0), "{km}");
    assert_eq!(metric(&km, &series), metric(&cm, &series));
    let stamp = |m: &str| metric(m, "coredns_hosts_reload_timestamp_seconds").map(|v| v.floor());
    assert!(stamp(&km).is_some_and(|s| s > 1e9));
    assert_eq!(stamp(&km), stamp(&cm), "the file's modification time");
}

/// The answer records of `name A`, as text (via a query from the test itself).
fn addrs(k: &Kdns, name: &str) -> Vec<String> {
    query(k.addr, name, "A").map(|(_, r)| r).unwrap_or_default()
}

#[test]
fn edits_are_seen_within_the_reload_period_and_a_lost_file_keeps_its_entries() {
    let dir = tempfile::tempdir().unwrap();
    let hosts = dir.path().join("hosts");
    std::fs::write(&hosts, "10.0.0.1 a.example.org\n").unwrap();
    let k = Kdns::start(
        &format!(
            ".:0 {{\n bind 127.0.0.1\n hosts {} {{\n  reload 300ms\n }}\n}}\n",
            hosts.display()
        ),
        None,
    );
    assert_eq!(addrs(&k, "a.example.org").len(), 1);
    std::fs::write(
        &hosts,
        "10.0.0.1 a.example.org\n10.0.0.2 a.example.org\n10.0.0.3 b.example.org\n",
    )
    .unwrap();
    let took = wait_until(Duration::from_secs(3), || {
        addrs(&k, "a.example.org").len() == 2
    })
    .expect("the edit is seen");
    assert!(
        took < Duration::from_millis(1500),
        "within the reload period: {took:?}"
    );
    assert_eq!(addrs(&k, "b.example.org").len(), 1);
    std::fs::remove_file(&hosts).unwrap();
    std::thread::sleep(Duration::from_millis(1200));
    assert_eq!(
        addrs(&k, "a.example.org").len(),
        2,
        "the last entries are kept"
    );
    let log = k.log();
    assert_eq!(
        log.matches("answering with the last entries read").count(),
        1,
        "warned once: {log}"
    );
    std::fs::write(&hosts, "10.0.0.4 c.example.org\n").unwrap();
    wait_until(Duration::from_secs(3), || {
        addrs(&k, "c.example.org").len() == 1
    })
    .expect("the restored file is read");
    let (rcode, _) = query(k.addr, "a.example.org", "A").unwrap();
    assert_eq!(rcode, "SERVFAIL", "its old entries are gone");
    assert!(k.log().contains("readable again"), "{}", k.log());
}

/// A hosts file in front of `kubernetes`: a cluster name answered (and so replayed by the UDP
/// path) from the zone is answered from the file as soon as the file names it, and from the
/// zone again once the line is gone — over UDP, in the question's own case.
#[test]
fn a_file_edit_reaches_names_the_udp_path_replays() {
    let dir = tempfile::tempdir().unwrap();
    let hosts = dir.path().join("hosts");
    std::fs::write(&hosts, "10.0.0.1 unrelated.example.org\n").unwrap();
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/echoserver");
    let k = Kdns::start(
        &format!(
            "cluster.local:0 {{\n bind 127.0.0.1\n hosts {} {{\n  reload 300ms\n  fallthrough\n }}\n kubernetes cluster.local {{\n  manifests manifests\n }}\n}}\n",
            hosts.display()
        ),
        Some(&examples),
    );
    let name = "svc-echoserver.default.svc.cluster.local";
    let from_zone = vec![format!("{name}. 5 IN A 10.0.0.184")];
    // Asked several times: the later answers are replays.
    for _ in 0..5 {
        assert_eq!(addrs(&k, name), from_zone);
    }
    std::fs::write(
        &hosts,
        format!("10.0.0.1 unrelated.example.org\n192.0.2.99 {name}\n"),
    )
    .unwrap();
    let took = wait_until(Duration::from_secs(3), || {
        addrs(&k, name) == vec![format!("{name}. 3600 IN A 192.0.2.99")]
    });
    assert!(
        took.is_some(),
        "the file's address, got {:?}",
        addrs(&k, name)
    );
    for _ in 0..5 {
        assert_eq!(
            addrs(&k, name),
            vec![format!("{name}. 3600 IN A 192.0.2.99")]
        );
    }
    std::fs::write(&hosts, "10.0.0.1 unrelated.example.org\n").unwrap();
    let back = wait_until(Duration::from_secs(3), || addrs(&k, name) == from_zone);
    assert!(
        back.is_some(),
        "the zone's address again, got {:?}",
        addrs(&k, name)
    );
}
