//! kdns next to the real CoreDNS 1.14.7 (built by `scripts/build-tools.sh`), same Corefile, same
//! upstream (Knot DNS on loopback), same questions: the answers, the query log lines and the
//! metric families and labels must agree. Marked `#[ignore]` (it needs the Go-built tools);
//! `scripts/test-all.sh` runs it.
//!
//! Known, intended differences (README): kdns sets RA on forwarded answers, and asks a
//! truncated UDP answer again over TCP; the big answer is left out of the comparison.
mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::knot::{example_zone, free_port, Knot};
use common::{http_get, records, status, wait_until, Kdns};

fn coredns_bin() -> PathBuf {
    let dir =
        std::env::var("KDNS_TOOLS_BIN").unwrap_or_else(|_| "/var/cache/kdns-tools/bin".into());
    let bin = PathBuf::from(dir).join("coredns");
    assert!(
        bin.exists(),
        "{} missing: run scripts/build-tools.sh",
        bin.display()
    );
    bin
}

struct CoreDns {
    child: Child,
    log: std::sync::Arc<std::sync::Mutex<String>>,
}

impl Drop for CoreDns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn corefile(port: u16, metrics: u16, upstream: std::net::SocketAddr) -> String {
    format!(
        ".:{port} {{\n    bind 127.0.0.1\n    errors\n    log\n    prometheus 127.0.0.1:{metrics}\n    forward . {upstream} {{\n       max_concurrent 1000\n    }}\n    cache 30\n    loadbalance\n}}\n"
    )
}

/// Metric families (with `_bucket`/`_sum`/`_count` folded) and their label names.
fn families(text: &str, prefixes: &[&str]) -> BTreeSet<String> {
    text.lines()
        .filter(|l| !l.starts_with('#') && prefixes.iter().any(|p| l.starts_with(p)))
        .map(|l| {
            let (name, labels) = match l.split_once('{') {
                Some((n, rest)) => (n, rest.split('}').next().unwrap_or("")),
                None => (l.split(' ').next().unwrap_or(""), ""),
            };
            let name = ["_bucket", "_sum", "_count"]
                .iter()
                .fold(name, |n, s| n.strip_suffix(s).unwrap_or(n));
            let mut keys: Vec<&str> = labels
                .split(',')
                .filter_map(|kv| kv.split_once('=').map(|(k, _)| k))
                .filter(|k| *k != "le")
                .collect();
            keys.sort();
            format!("{name}{{{}}}", keys.join(","))
        })
        .collect()
}

/// The fields of a Common Log Format line that do not vary between servers.
fn log_fields(line: &str) -> Option<String> {
    let quoted = line.split('"').nth(1)?;
    let after: Vec<&str> = line.rsplit('"').next()?.split_whitespace().collect();
    // rcode and flags without RA (kdns sets it).
    let flags: Vec<&str> = after.get(1)?.split(',').filter(|f| *f != "ra").collect();
    Some(format!("{quoted} {} {}", after.first()?, flags.join(",")))
}

#[test]
#[ignore = "needs CoreDNS from scripts/build-tools.sh"]
fn kdns_answers_logs_and_counts_like_coredns() {
    let bin = coredns_bin();
    let up = Knot::start("127.0.0.1", &[("example.test", example_zone())]);
    let (cport, cmetrics) = (free_port("127.0.0.1"), free_port("127.0.0.1"));
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("Corefile");
    std::fs::write(&conf, corefile(cport, cmetrics, up.addr)).unwrap();
    let mut child = Command::new(bin)
        .arg("-conf")
        .arg(&conf)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let log = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
    let (out, l2) = (child.stdout.take().unwrap(), log.clone());
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
            let mut l = l2.lock().unwrap();
            l.push_str(&line);
            l.push('\n');
        }
    });
    let core = CoreDns { child, log };
    let caddr: std::net::SocketAddr = format!("127.0.0.1:{cport}").parse().unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || status(&common::dig(
            caddr,
            &["www.example.test"]
        )) == "NOERROR")
        .is_some(),
        "CoreDNS did not start"
    );
    let kdns = Kdns::start(&corefile(0, 0, up.addr), None);
    // The same warm-up query for kdns.
    assert_eq!(status(&kdns.dig(&["www.example.test"])), "NOERROR");

    let questions: &[&[&str]] = &[
        &["www.example.test", "A"],
        &["www.example.test", "AAAA"],
        &["alias.example.test", "A"],
        &["nope.example.test", "A"],
        &["www.example.test", "TXT"],
        &["www.example.com", "A"],
        &["+tcp", "alias.example.test", "AAAA"],
        &["+dnssec", "www.example.test", "A"],
        &["+noedns", "nope.example.test", "MX"],
    ];
    for q in questions {
        let c = common::dig(caddr, q);
        let k = kdns.dig(q);
        assert_eq!(status(&c), status(&k), "{q:?}\nCoreDNS:\n{c}\nkdns:\n{k}");
        let aa = |s: &str| s.contains("flags: qr aa");
        assert_eq!(aa(&c), aa(&k), "AA for {q:?}\nCoreDNS:\n{c}\nkdns:\n{k}");
        let mut args = vec!["+noall", "+answer", "+authority"];
        args.extend_from_slice(q);
        let (cr, kr) = (
            records(&common::dig(caddr, &args)),
            records(&kdns.dig(&args)),
        );
        assert_eq!(cr, kr, "records (with their TTLs) for {q:?}");
    }

    // The log lines: same fields for the same questions.
    std::thread::sleep(Duration::from_millis(300));
    let lines = |text: &str| -> Vec<String> {
        text.lines()
            .filter(|l| l.starts_with("[INFO] 127.0.0.1:"))
            .filter_map(log_fields)
            .collect()
    };
    let (cl, kl) = (lines(&core.log.lock().unwrap()), lines(&kdns.log()));
    assert_eq!(cl, kl, "log fields\nCoreDNS:\n{cl:#?}\nkdns:\n{kl:#?}");

    // Metrics: every CoreDNS family and label set of these plugins exists in kdns too.
    let cm = http_get(format!("127.0.0.1:{cmetrics}").parse().unwrap(), "/metrics").1;
    let km = http_get(kdns.http_addr("/metrics"), "/metrics").1;
    let prefixes = [
        "coredns_dns_",
        "coredns_cache_",
        "coredns_proxy_",
        "coredns_forward_",
        "coredns_plugin_enabled",
        "coredns_build_info",
        "coredns_panics_total",
        "coredns_reload_failed_total",
    ];
    let (cf, kf) = (families(&cm, &prefixes), families(&km, &prefixes));
    let missing: Vec<&String> = cf.difference(&kf).collect();
    assert!(missing.is_empty(), "families/labels CoreDNS has and kdns does not: {missing:?}\nCoreDNS:\n{cf:#?}\nkdns:\n{kf:#?}");
    // And the per-query counts agree where they are defined the same way.
    let responses = |m: &str| -> BTreeSet<String> {
        m.lines()
            .filter(|l| l.starts_with("coredns_dns_responses_total{"))
            .map(|l| {
                let rcode = l
                    .split("rcode=\"")
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    .unwrap_or("");
                let plugin = l
                    .split("plugin=\"")
                    .nth(1)
                    .and_then(|r| r.split('"').next())
                    .unwrap_or("");
                format!("{rcode} {plugin} {}", l.rsplit(' ').next().unwrap_or(""))
            })
            .collect()
    };
    assert_eq!(
        responses(&cm),
        responses(&km),
        "coredns_dns_responses_total by rcode and plugin"
    );
}
