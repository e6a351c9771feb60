//! `bufsize`, `chaos`, `any` and `acl` side by side with the real CoreDNS 1.14.7: the same
//! Corefile body, the same `dig` questions, the same answers (or a written reason).
//! Upstreams are Knot on loopback.
mod common;

use std::net::SocketAddr;

use common::coredns::CoreDns;
use common::knot::{example_zone, free_port, Knot};
use common::{dig, http_get, Kdns};

/// kdns and CoreDNS on the same server block body (`{UP}`: the upstream).
struct Pair {
    k: Kdns,
    c: CoreDns,
}

impl Pair {
    fn start(body: &str, probe: &str) -> Pair {
        let k = Kdns::start(&format!(".:0 {{\n bind 127.0.0.1\n{body}}}\n"), None);
        let c = CoreDns::start(
            &format!(".:{{PORT}} {{\n bind 127.0.0.1\n{body}}}\n"),
            probe,
        );
        Pair { k, c }
    }

    /// The full dig output from each: (kdns, CoreDNS).
    fn ask(&self, args: &[&str]) -> (String, String) {
        (dig(self.k.addr, args), dig(self.c.addr, args))
    }

    /// The same status, flags and EDNS line from both (a truncated answer's records may
    /// differ: kdns keeps the records that fit, as CoreDNS's `Truncate` does, where CoreDNS
    /// relays the upstream's own, empty, truncated answer); returns kdns's.
    fn same_head(&self, args: &[&str]) -> String {
        let (k, c) = self.ask(args);
        let head = |s: &str| {
            shape(s)
                .lines()
                .take_while(|l| !l.contains(" IN "))
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(head(&k), head(&c), "{args:?}\nkdns:\n{k}\nCoreDNS:\n{c}");
        head(&k)
    }

    /// The same question gets the same answer (see [`shape`]) from both; returns kdns's.
    fn same(&self, args: &[&str]) -> String {
        let (k, c) = self.ask(args);
        assert_eq!(shape(&k), shape(&c), "{args:?}\nkdns:\n{k}\nCoreDNS:\n{c}");
        shape(&k)
    }
}

/// What a dig answer says, without what differs by nature (IDs, times, sizes, server
/// address): the status, the header flags, the EDNS line, an EDE, and the answer section
/// (sorted; authors come in a random order).
fn shape(out: &str) -> String {
    if out.contains("timed out") || out.contains("no servers could be reached") {
        return "no reply".into();
    }
    let mut s = vec![format!("status {}", common::status(out))];
    for l in out.lines() {
        if let Some(f) = l.strip_prefix(";; flags: ") {
            // RA left out: kdns's `forward` sets it on relayed answers, CoreDNS's copies the
            // upstream's (a `forward` difference, README), and Knot never sets it.
            let flags = f.split(';').next().unwrap_or("");
            let flags: Vec<&str> = flags.split(' ').filter(|f| *f != "ra").collect();
            s.push(format!("flags {}", flags.join(" ")));
        } else if l.starts_with("; EDNS:") || l.starts_with("; EDE:") {
            s.push(l.to_string());
        }
    }
    let mut answers: Vec<String> = out
        .split(";; ANSWER SECTION:\n")
        .nth(1)
        .map(|rest| {
            rest.lines()
                .take_while(|l| !l.trim().is_empty())
                .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect()
        })
        .unwrap_or_default();
    answers.sort();
    s.extend(answers);
    s.join("\n")
}

#[test]
#[ignore = "needs CoreDNS from scripts/build-tools.sh"]
fn chaos_answers_ch_txt_as_coredns() {
    let p = Pair::start(
        " chaos CoreDNS-001 info@coredns.io bob bob\n",
        "version.bind",
    );
    for name in [
        "version.bind",
        "version.server",
        "authors.bind",
        "hostname.bind",
        "id.server",
    ] {
        let s = p.same(&["CH", "TXT", name]);
        assert!(s.contains(" CH TXT "), "{name}: {s}");
    }
    let authors = p.same(&["CH", "TXT", "authors.bind"]);
    assert!(authors.contains("\"bob\"") && authors.contains("\"info@coredns.io\""));
    assert_eq!(authors.matches("CH TXT").count(), 2, "bob once: {authors}");
    // Not chaos's: the end of the chain, SERVFAIL in both.
    for q in [
        &["CH", "TXT", "other.bind"][..],
        &["CH", "A", "version.bind"],
        &["IN", "TXT", "version.bind"],
    ] {
        assert!(p.same(q).starts_with("status SERVFAIL"), "{q:?}");
    }
    // Both over TCP as well.
    p.same(&["+tcp", "CH", "TXT", "version.server"]);
}

#[test]
#[ignore = "needs CoreDNS from scripts/build-tools.sh"]
fn chaos_defaults_name_the_server() {
    // The one written difference: the default version and authors are kdns's own.
    let p = Pair::start(" chaos\n", "version.bind");
    let (k, c) = p.ask(&["+short", "CH", "TXT", "version.bind"]);
    assert_eq!(k.trim(), format!("\"kdns-{}\"", env!("CARGO_PKG_VERSION")));
    assert_eq!(c.trim(), "\"CoreDNS-1.14.7\"");
    let (k, c) = p.ask(&["+short", "CH", "TXT", "hostname.bind"]);
    assert_eq!(k, c, "the host's name");
}

#[test]
#[ignore = "needs CoreDNS from scripts/build-tools.sh"]
fn any_answers_rfc8482_and_classes_open_as_coredns() {
    // Without chaos or forward on the port, classes other than IN are REFUSED before the chain.
    let p = Pair::start(" any\n", "example.org");
    let s = p.same(&["ANY", "example.org"]);
    assert!(
        s.contains("example.org. 8482 IN HINFO \"ANY obsoleted\" \"See RFC 8482\""),
        "{s}"
    );
    p.same(&["+tcp", "ANY", "Example.ORG"]);
    assert!(p.same(&["A", "example.org"]).starts_with("status SERVFAIL"));
    for q in [
        &["CH", "TXT", "version.bind"][..],
        &["CH", "ANY", "x"],
        &["HS", "A", "x"],
    ] {
        assert!(p.same(q).starts_with("status REFUSED"), "{q:?}");
    }
    drop(p);
    // With forward on the port every class reaches the chain: CH goes upstream as CH.
    let up = Knot::start("127.0.0.1", &[("example.test", example_zone())]);
    let p = Pair::start(
        &format!(" any\n forward . {}\n", up.addr),
        "www.example.test",
    );
    p.same(&["A", "www.example.test"]);
    let s = p.same(&["ANY", "www.example.test"]);
    assert!(s.contains("HINFO"), "{s}");
    let ch = p.same(&["CH", "TXT", "version.bind"]);
    assert!(
        !ch.starts_with("status REFUSED") || ch.contains("flags qr"),
        "{ch}"
    );
    p.same(&["CH", "A", "www.example.test"]);
    p.same(&["CH", "ANY", "www.example.test"]);
}

/// The sum of every series of `name` in a metrics page.
fn total(page: &str, name: &str) -> f64 {
    page.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
#[ignore = "needs CoreDNS from scripts/build-tools.sh"]
fn acl_by_source_address_as_coredns() {
    let up = Knot::start("127.0.0.1", &[("example.test", example_zone())]);
    let body = |metrics: &str| {
        format!(
            " prometheus {metrics}\n acl example.test {{\n  block type A net 127.0.0.2\n  filter type AAAA net 127.0.0.2/32\n  drop type TXT net 127.0.0.2\n  allow net 127.0.0.1\n  block\n }}\n forward . {}\n",
            up.addr
        )
    };
    let cm = format!("127.0.0.1:{}", free_port("127.0.0.1"));
    let k = Kdns::start(
        &format!(".:0 {{\n bind 127.0.0.1\n{}}}\n", body("127.0.0.1:0")),
        None,
    );
    let c = CoreDns::start(
        &format!(".:{{PORT}} {{\n bind 127.0.0.1\n{}}}\n", body(&cm)),
        "www.example.test",
    );
    let p = Pair { k, c };
    // CoreDNS was asked `www.example.test` once to see it up: kdns too, for equal counters.
    dig(p.k.addr, &["www.example.test"]);
    fn from2<'a>(q: &[&'a str]) -> Vec<&'a str> {
        [&["-b", "127.0.0.2", "+time=1"][..], q].concat()
    }
    // From 127.0.0.1: allowed.
    let s = p.same(&["A", "www.example.test"]);
    assert!(s.contains("192.0.2.10"), "{s}");
    // From 127.0.0.2: blocked, filtered, dropped, and the catch-all block.
    let s = p.same(&from2(&["A", "www.example.test"]));
    assert!(
        s.starts_with("status REFUSED") && s.contains("EDE: 15"),
        "{s}"
    );
    let s = p.same(&from2(&["AAAA", "www.example.test"]));
    assert!(
        s.starts_with("status NOERROR") && s.contains("EDE: 17"),
        "{s}"
    );
    assert!(!s.contains("2001:db8"), "{s}");
    assert_eq!(p.same(&from2(&["TXT", "www.example.test"])), "no reply");
    assert_eq!(
        p.same(&from2(&["+tcp", "TXT", "www.example.test"])),
        "no reply"
    );
    assert!(p
        .same(&from2(&["MX", "www.example.test"]))
        .starts_with("status REFUSED"));
    // Without EDNS the EDE still comes, in an OPT record of acl's own.
    let s = p.same(&from2(&["+noedns", "A", "www.example.test"]));
    assert!(s.contains("EDE: 15"), "{s}");
    // Outside the rule's zone: not checked, forwarded (Knot refuses it; its EDE 20 is not
    // relayed by kdns's `forward`, which keeps no upstream EDNS options: status only).
    let (k, c) = p.ask(&from2(&["A", "other.test"]));
    assert_eq!(common::status(&k), common::status(&c), "{k}\n{c}");
    // The counters, as CoreDNS counts them.
    let kpage = http_get(p.k.http_addr("/metrics"), "/metrics").1;
    let cpage = http_get(cm.parse::<SocketAddr>().unwrap(), "/metrics").1;
    for name in [
        "coredns_acl_blocked_requests_total",
        "coredns_acl_filtered_requests_total",
        "coredns_acl_dropped_requests_total",
        "coredns_acl_allowed_requests_total",
    ] {
        let (kv, cv) = (total(&kpage, name), total(&cpage, name));
        assert_eq!(kv, cv, "{name}\nkdns:\n{kpage}");
        assert!(kv > 0.0, "{name}");
    }
    assert!(
        kpage.contains("coredns_acl_blocked_requests_total{server=\"dns://127.0.0.1:")
            && kpage.contains("zone=\"example.test.\",view=\"\"}"),
        "{kpage}"
    );
}

/// A zone whose `mid` name holds 40 addresses: about 700 bytes, more than 512 and less than
/// 1232.
fn mid_zone() -> String {
    let mut z = String::from(
        "$TTL 300\n@ IN SOA ns admin 1 3600 600 86400 60\n@ IN NS ns\nns IN A 127.0.0.1\n",
    );
    for i in 1..=40 {
        z.push_str(&format!("mid IN A 198.51.100.{i}\n"));
    }
    z
}

#[test]
#[ignore = "needs CoreDNS from scripts/build-tools.sh"]
fn bufsize_512_truncates_a_big_forwarded_answer_as_coredns() {
    let up = Knot::start("127.0.0.1", &[("small.test", mid_zone())]);
    // Without bufsize: 700 bytes fit the 1232 dig asks for.
    let p = Pair::start(&format!(" forward . {}\n", up.addr), "mid.small.test");
    let s = p.same(&["+ignore", "+bufsize=1232", "A", "mid.small.test"]);
    assert!(!s.contains(" tc"), "{s}");
    drop(p);
    // OpenShift's `bufsize 512`: the same question gets TC; over TCP the whole answer.
    let p = Pair::start(
        &format!(" bufsize 512\n forward . {}\n", up.addr),
        "mid.small.test",
    );
    for size in ["+bufsize=1232", "+bufsize=4096"] {
        let s = p.same_head(&["+ignore", size, "A", "mid.small.test"]);
        assert!(s.contains(" tc") && s.contains("udp: 512"), "{s}");
    }
    let s = p.same(&["+tcp", "A", "mid.small.test"]);
    assert_eq!(s.matches(" IN A ").count(), 40, "{s}");
    // dig's own retry over TCP after TC: the same 40 addresses.
    let s = p.same(&["A", "mid.small.test"]);
    assert_eq!(s.matches(" IN A ").count(), 40, "{s}");
    // A client that asks for less keeps its size; no EDNS: 512 anyway.
    let s = p.same_head(&["+ignore", "+noedns", "A", "mid.small.test"]);
    assert!(s.contains(" tc"), "{s}");
    let s = p.same(&["+ignore", "+bufsize=512", "A", "www.small.test"]);
    assert!(s.contains("udp: 512"), "{s}");
}
