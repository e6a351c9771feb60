//! `template` side by side with the real CoreDNS 1.14.7: the same Corefile, the same questions
//! asked with `dig`, the same answers (status, AA, every section), and the same
//! `coredns_template_*` series. Names outside the templates go to Knot on loopback via
//! `forward` (a root zone: NXDOMAIN with its SOA for every other name).
mod common;

use std::net::SocketAddr;

use common::coredns::CoreDns;
use common::knot::{free_port, root_zone, Knot};
use common::{dig, http_get, status, Kdns};

const COREFILE: &str = r#".:{PORT} {
    bind 127.0.0.1
    errors
    prometheus 127.0.0.1:{MPORT}
    template IN A example {
        match "^ip-(?P<a>[0-9]+)-(?P<b>[0-9]+)-(?P<c>[0-9]+)-(?P<d>[0-9]+)[.]example[.]$"
        answer "{{ .Name }} 60 IN A {{ .Group.a }}.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"
        fallthrough
    }
    template IN ANY alias.example {
        answer "alias.example. 60 IN CNAME www.example.test."
        upstream
    }
    template IN ANY invalid {
        rcode NXDOMAIN
        authority "invalid. 60 {{ .Class }} SOA ns.invalid. hostmaster.invalid. (1 60 60 60 60)"
    }
    template IN TXT whoami.example {
        answer "{{ .Name }} 0 IN TXT \"{{ .Remote }}\" \"{{ .Type }}\" \"{{ index .Match 0 }}\""
    }
    template IN A strict.example {
        match ^exact[.]strict[.]example[.]$
        answer "{{ .Name }} 30 IN A 10.0.0.1"
    }
    template IN A hex.example {
        match "^ip0a(?P<b>[a-f0-9]{2})(?P<c>[a-f0-9]{2})(?P<d>[a-f0-9]{2})[.]hex[.]example[.]$"
        answer "{{ .Name }} 60 IN A 10.{{ parseInt .Group.b 16 8 }}.{{ parseInt .Group.c 16 8 }}.{{ parseInt .Group.d 16 8 }}"
        additional "ns.hex.example. 60 IN A 10.0.0.53"
    }
    template IN A badrr.example {
        answer "{{ .Name }} 60 IN A 10.0.0.{{ .Group.nope }}"
    }
    template ANY ANY internal.cloudapp.net {
        match "^(?:[^.]+\.){4,}internal\.cloudapp\.net\.$"
        rcode NXDOMAIN
        fallthrough
    }
    template ANY ANY reddog.microsoft.com {
        rcode NXDOMAIN
    }
    forward . {KNOT}
}
v4only.test:{PORT} {
    bind 127.0.0.1
    template ANY AAAA {
        rcode NOERROR
    }
    forward . {KNOT}
}
"#;

/// What a dig answer is made of, for comparing: status, AA, and each section's records.
fn view(out: &str) -> String {
    let flags = out
        .split(";; flags:")
        .nth(1)
        .and_then(|r| r.split(';').next())
        .unwrap_or("<no flags>")
        .trim();
    let aa = flags.split_whitespace().any(|f| f == "aa");
    let mut section = "";
    let mut lines: Vec<String> = Vec::new();
    for l in out.lines() {
        if let Some(s) = l
            .strip_prefix(";; ")
            .and_then(|s| s.strip_suffix(" SECTION:"))
        {
            section = match s {
                "ANSWER" | "AUTHORITY" | "ADDITIONAL" => s,
                _ => "",
            };
            continue;
        }
        if section.is_empty() || l.starts_with(';') || l.trim().is_empty() {
            continue;
        }
        let words: Vec<&str> = l.split_whitespace().collect();
        lines.push(format!("{section} {}", words.join(" ")));
    }
    // Sections stay in order; records within a section are compared as sets.
    lines.sort();
    format!("{} aa={aa}\n{}", status(out), lines.join("\n"))
}

fn ask(addr: SocketAddr, name: &str, qtype: &str) -> String {
    view(&dig(addr, &[name, qtype, "+norec"]))
}

fn template_series(addr: SocketAddr, port: u16) -> Vec<String> {
    let (_, body) = http_get(addr, "/metrics");
    let mut v: Vec<String> = body
        .lines()
        .filter(|l| l.starts_with("coredns_template_"))
        .map(|l| {
            let l = l.replace(&format!(":{port}\""), ":PORT\"");
            // CoreDNS writes the labels sorted by name, kdns in declaration order.
            let (name, rest) = l.split_once('{').unwrap_or((&l, ""));
            let (labels, value) = rest.rsplit_once("} ").unwrap_or(("", rest));
            let mut ls: Vec<String> = labels
                .trim_end_matches('"')
                .split("\",")
                .map(|x| format!("{x}\""))
                .collect();
            ls.sort();
            format!("{name}{{{}}} {value}", ls.join(","))
        })
        .collect();
    v.sort();
    v
}

#[test]
#[ignore = "needs CoreDNS from scripts/build-tools.sh"]
fn template_answers_as_coredns() {
    let zone = format!(
        "{}$ORIGIN v4only.test.\nwww IN A 192.0.2.20\nwww IN AAAA 2001:db8::20\n",
        root_zone()
    );
    let knot = Knot::start("127.0.0.1", &[(".", zone)]);
    let conf = |port: &str, mport: u16| {
        COREFILE
            .replace("{PORT}", port)
            .replace("{MPORT}", &mport.to_string())
            .replace("{KNOT}", &knot.addr.to_string())
    };
    let (kport, kmport) = (free_port("127.0.0.1"), free_port("127.0.0.1"));
    let k = Kdns::start(&conf(&kport.to_string(), kmport), None);
    let cmport = free_port("127.0.0.1");
    // CoreDNS::start puts its own port for {PORT}; its probe is a name no template counts.
    let c = CoreDns::start(&conf("{PORT}", cmport), "www.example.test");
    let questions = [
        ("ip-10-1-2-3.example.", "A"),
        ("IP-10-1-2-3.Example.", "A"),
        ("ip-10-1-2-3.example.", "ANY"),
        ("ip-10-1-2-3.example.", "AAAA"),
        ("nomatch.example.", "A"),
        ("alias.example.", "A"),
        ("alias.example.", "AAAA"),
        ("alias.example.", "TXT"),
        ("x.invalid.", "A"),
        ("invalid.", "MX"),
        ("whoami.example.", "TXT"),
        ("exact.strict.example.", "A"),
        ("other.strict.example.", "A"),
        ("other.strict.example.", "MX"),
        ("ip0a7b0c01.hex.example.", "A"),
        ("ip0a7b0c01.hex.example.", "AAAA"),
        ("x.badrr.example.", "A"),
        ("a.b.c.d.internal.cloudapp.net.", "A"),
        ("a.b.c.d.e.internal.cloudapp.net.", "AAAA"),
        ("vm1.internal.cloudapp.net.", "A"),
        ("x.reddog.microsoft.com.", "A"),
        ("reddog.microsoft.com.", "SOA"),
        ("www.example.test.", "A"),
        ("www.v4only.test.", "AAAA"),
        ("www.v4only.test.", "A"),
    ];
    let mut differ = Vec::new();
    let mut answers = Vec::new();
    for (name, qtype) in questions {
        let (ours, theirs) = (ask(k.addr, name, qtype), ask(c.addr, name, qtype));
        if ours != theirs {
            differ.push(format!(
                "{name} {qtype}:\n kdns:\n{ours}\n CoreDNS:\n{theirs}"
            ));
        }
        answers.push((name, qtype, ours));
    }
    assert!(differ.is_empty(), "answers differ:\n{}", differ.join("\n"));

    let ours = template_series(format!("127.0.0.1:{kmport}").parse().unwrap(), kport);
    let theirs = template_series(
        format!("127.0.0.1:{cmport}").parse().unwrap(),
        c.addr.port(),
    );
    assert!(
        ours.iter()
            .any(|l| l.contains("coredns_template_matches_total")),
        "{ours:?}"
    );
    assert!(
        ours.iter()
            .any(|l| l.contains("coredns_template_rr_failures_total")),
        "{ours:?}"
    );
    assert_eq!(ours, theirs, "coredns_template_* series");

    // The questions above reach the templates as they should (not all NXDOMAIN or REFUSED).
    let got = |name: &str, qtype: &str| {
        answers
            .iter()
            .find(|(n, t, _)| *n == name && *t == qtype)
            .map(|(_, _, a)| a.clone())
            .unwrap()
    };
    let a = got("ip-10-1-2-3.example.", "A");
    assert!(
        a.contains("ANSWER ip-10-1-2-3.example. 60 IN A 10.1.2.3"),
        "{a}"
    );
    let cname = got("alias.example.", "A");
    assert!(
        cname.contains("www.example.test. 300 IN A 192.0.2.10"),
        "{cname}"
    );
    let who = got("whoami.example.", "TXT");
    assert!(
        who.contains("\"127.0.0.1\" \"TXT\" \"whoami.example.\""),
        "{who}"
    );
    let fall = got("vm1.internal.cloudapp.net.", "A");
    assert!(
        fall.contains("AUTHORITY . "),
        "fallthrough reaches forward: {fall}"
    );
    assert!(
        k.log()
            .contains("x.badrr.example. A: template: answer: bad record"),
        "the bad record is logged by errors: {}",
        k.log()
    );
}
