//! `/health`, `/ready`, `/metrics` (checked with Prometheus's own `promtool`), and the query
//! and error logs.
mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::knot::{example_zone, Blackhole, Knot};
use common::{fixture, http_get, metric, status, wait_until, Kdns};

fn promtool(text: &str) -> (bool, String) {
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool (Debian package prometheus; scripts/install-deps.sh)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn health_ready_and_metrics_share_one_listener_and_pass_promtool() {
    let up = Knot::start("127.0.0.1", &[("example.test", example_zone())]);
    // Two server blocks name the same address for everything: one listener serves them.
    let core = format!(
        "cluster.local:0 {{\n bind 127.0.0.1\n health 127.0.0.1:0\n ready 127.0.0.1:0\n prometheus 127.0.0.1:0\n kubernetes cluster.local {{\n  manifests {{DIR}}/manifests\n }}\n}}\n\
         .:0 {{\n bind 127.0.0.1\n health 127.0.0.1:0\n prometheus 127.0.0.1:0\n cache 30\n forward . {}\n}}\n",
        up.addr
    );
    let k = Kdns::start(&core, Some(&fixture("cluster")));
    assert_eq!(
        k.log().matches("http listening on").count(),
        1,
        "{}",
        k.log()
    );
    let http = k.http_addr("/metrics");
    assert_eq!(http_get(http, "/health"), (200, "OK".into()));
    assert_eq!(http_get(http, "/ready"), (200, "OK".into()));
    assert_eq!(http_get(http, "/nothing").0, 404);

    for (name, qtype) in [
        ("web.shop.svc.cluster.local", "A"),
        ("web.shop.svc.cluster.local", "AAAA"),
        ("nope.shop.svc.cluster.local", "A"),
        ("www.example.test", "A"),
        ("www.example.test", "A"),
        ("www.example.test", "HINFO"),
    ] {
        k.dig(&[name, qtype]);
    }
    k.dig(&["+tcp", "www.example.test", "A"]);
    let (code, text) = http_get(http, "/metrics");
    assert_eq!(code, 200);
    let (ok, lint) = promtool(&text);
    assert!(ok, "promtool check metrics failed:\n{lint}\n{text}");
    let s = "server=\"dns://127.0.0.1:0\"";
    for (series, want) in [
        (format!("coredns_dns_requests_total{{{s},zone=\"cluster.local.\",view=\"\",proto=\"udp\",family=\"1\",type=\"A\"}}"), 2.0),
        (format!("coredns_dns_requests_total{{{s},zone=\"cluster.local.\",view=\"\",proto=\"udp\",family=\"1\",type=\"AAAA\"}}"), 1.0),
        (format!("coredns_dns_requests_total{{{s},zone=\".\",view=\"\",proto=\"udp\",family=\"1\",type=\"other\"}}"), 1.0),
        (format!("coredns_dns_requests_total{{{s},zone=\".\",view=\"\",proto=\"tcp\",family=\"1\",type=\"A\"}}"), 1.0),
        (format!("coredns_dns_responses_total{{{s},zone=\"cluster.local.\",view=\"\",rcode=\"NOERROR\",plugin=\"kubernetes\"}}"), 2.0),
        (format!("coredns_dns_responses_total{{{s},zone=\"cluster.local.\",view=\"\",rcode=\"NXDOMAIN\",plugin=\"kubernetes\"}}"), 1.0),
        // As CoreDNS 1.14.7: the directive after `prometheus` (here `cache`), whoever answered.
        (format!("coredns_dns_responses_total{{{s},zone=\".\",view=\"\",rcode=\"NOERROR\",plugin=\"cache\"}}"), 4.0),
        (format!("coredns_dns_request_duration_seconds_count{{{s},zone=\".\",view=\"\"}}"), 4.0),
        (format!("coredns_dns_request_size_bytes_count{{{s},zone=\".\",view=\"\",proto=\"tcp\"}}"), 1.0),
        (format!("coredns_dns_response_size_bytes_count{{{s},zone=\".\",view=\"\",proto=\"udp\"}}"), 3.0),
        (format!("coredns_cache_hits_total{{{s},type=\"success\",zones=\".\",view=\"\"}}"), 2.0),
        (format!("coredns_cache_entries{{{s},type=\"success\",zones=\".\",view=\"\"}}"), 1.0),
        // www.example.test HINFO is NODATA (with the SOA): a denial entry.
        (format!("coredns_cache_entries{{{s},type=\"denial\",zones=\".\",view=\"\"}}"), 1.0),
        (format!("coredns_plugin_enabled{{{s},zone=\".\",view=\"\",name=\"forward\"}}"), 1.0),
        (format!("coredns_plugin_enabled{{{s},zone=\"cluster.local.\",view=\"\",name=\"kubernetes\"}}"), 1.0),
        (format!("coredns_proxy_request_duration_seconds_count{{proxy_name=\"forward\",to=\"{}\",rcode=\"NOERROR\"}}", up.addr), 2.0),
        (format!("coredns_forward_requests_total{{to=\"{}\"}}", up.addr), 2.0),
        ("coredns_forward_max_concurrent_rejects_total".to_string(), 0.0),
    ] {
        assert_eq!(metric(&text, &series), Some(want), "{series}\n{text}");
    }
    for name in [
        "coredns_build_info{",
        "process_resident_memory_bytes ",
        "process_cpu_seconds_total ",
        "# TYPE coredns_dns_request_duration_seconds histogram",
    ] {
        assert!(text.contains(name), "{name}\n{text}");
    }
    // The self check of /health runs once a second.
    assert!(
        wait_until(Duration::from_secs(5), || http_get(http, "/metrics")
            .1
            .contains("coredns_health_request_duration_seconds_count 2"))
        .is_some(),
        "health self check"
    );
}

#[test]
fn log_and_errors_write_coredns_lines() {
    let dead = Blackhole::start("127.0.0.1");
    let core = format!(
        ".:0 {{\n bind 127.0.0.1\n log\n errors\n kubernetes cluster.local {{\n  manifests {{DIR}}/manifests\n }}\n forward . {} {{\n  read_timeout 200ms\n  max_fails 0\n }}\n}}\n",
        dead.addr
    );
    let k = Kdns::start(&core, Some(&fixture("cluster")));
    assert_eq!(
        status(&k.dig(&["+bufsize=1232", "Web.Shop.svc.cluster.local", "A"])),
        "NOERROR"
    );
    assert_eq!(
        status(&k.dig(&["+tcp", "gone.example.test", "AAAA"])),
        "SERVFAIL"
    );
    assert_eq!(status(&k.dig(&["gone.example.test", "TXT"])), "SERVFAIL");
    let ok = wait_until(Duration::from_secs(5), || {
        k.log().matches("[INFO] 127.0.0.1:").count() >= 3
    });
    let log = k.log();
    assert!(ok.is_some(), "{log}");
    let line = log
        .lines()
        .find(|l| l.contains("web.shop.svc.cluster.local."))
        .unwrap();
    // [INFO] {remote}:{port} - {>id} "{type} {class} {name} {proto} {size} {>do} {>bufsize}" {rcode} {>rflags} {rsize} {duration}
    let re = regex::Regex::new(r#"^\[INFO\] 127\.0\.0\.1:\d+ - \d+ "A IN web\.shop\.svc\.cluster\.local\. udp \d+ false 1232" NOERROR qr,aa,rd \d+ \d+\.\d+s$"#).unwrap();
    assert!(re.is_match(line), "{line}");
    let line = log
        .lines()
        .find(|l| l.contains("gone.example.test.") && l.starts_with("[INFO]"))
        .unwrap();
    assert!(
        line.contains("\"AAAA IN gone.example.test. tcp ")
            && line.contains(" false 65535\" SERVFAIL qr,rd "),
        "{line}"
    );
    // errors: RCODE NAME TYPE: ERROR, worded as CoreDNS (Go's net errors).
    let tcp = regex::Regex::new(r"plugin/errors: 2 gone\.example\.test\. AAAA: dial tcp 127\.0\.0\.1:\d+: connect: connection refused$").unwrap();
    assert!(log.lines().any(|l| tcp.is_match(l)), "{log}");
    let udp = regex::Regex::new(r"plugin/errors: 2 gone\.example\.test\. TXT: read udp 127\.0\.0\.1:\d+->127\.0\.0\.1:\d+: i/o timeout$").unwrap();
    assert!(log.lines().any(|l| udp.is_match(l)), "{log}");
}

#[test]
fn replayed_cluster_answers_are_counted_and_still_shuffled() {
    // The UDP path replays pure zone answers; metrics, the cache's lookups and loadbalance
    // must not notice.
    let core = ".:0 {\n bind 127.0.0.1\n prometheus 127.0.0.1:0\n kubernetes cluster.local {\n  manifests {DIR}/manifests\n }\n cache 30 {\n  disable success cluster.local\n  disable denial cluster.local\n }\n loadbalance\n}\n";
    let k = Kdns::start(core, Some(&fixture("cluster")));
    for _ in 0..5 {
        assert_eq!(
            common::query(k.addr, "web.shop.svc.cluster.local.", "A")
                .unwrap()
                .0,
            "NOERROR"
        );
    }
    let mut orders = std::collections::HashSet::new();
    for _ in 0..30 {
        let (rc, answers) = common::query(k.addr, "db.shop.svc.cluster.local.", "A").unwrap();
        assert_eq!((rc.as_str(), answers.len()), ("NOERROR", 2));
        orders.insert(answers.join(","));
    }
    assert_eq!(orders.len(), 2, "loadbalance still shuffles: {orders:?}");
    let m = http_get(k.http_addr("/metrics"), "/metrics").1;
    let s = "server=\"dns://127.0.0.1:0\",zone=\".\",view=\"\"";
    assert_eq!(
        metric(
            &m,
            &format!("coredns_dns_requests_total{{{s},proto=\"udp\",family=\"1\",type=\"A\"}}")
        ),
        Some(35.0),
        "{m}"
    );
    assert_eq!(
        metric(
            &m,
            &format!("coredns_dns_responses_total{{{s},rcode=\"NOERROR\",plugin=\"loadbalance\"}}")
        ),
        Some(35.0),
        "{m}"
    );
    assert_eq!(
        metric(
            &m,
            &format!("coredns_dns_request_duration_seconds_count{{{s}}}")
        ),
        Some(35.0),
        "{m}"
    );
    let c = "server=\"dns://127.0.0.1:0\",zones=\".\",view=\"\"";
    assert_eq!(
        metric(&m, &format!("coredns_cache_requests_total{{{c}}}")),
        Some(35.0),
        "{m}"
    );
    assert_eq!(
        metric(&m, &format!("coredns_cache_misses_total{{{c}}}")),
        Some(35.0),
        "{m}"
    );
}

#[test]
fn queries_no_block_covers_are_counted_as_dropped() {
    let core = "cluster.local:0 {\n bind 127.0.0.1\n prometheus 127.0.0.1:0\n kubernetes cluster.local {\n  manifests {DIR}/manifests\n }\n}\n";
    let k = Kdns::start(core, Some(&fixture("cluster")));
    assert_eq!(status(&k.dig(&["www.example.com", "A"])), "REFUSED");
    assert_eq!(
        status(&k.dig(&["web.shop.svc.cluster.local", "A"])),
        "NOERROR"
    );
    let m = http_get(k.http_addr("/metrics"), "/metrics").1;
    let s = "server=\"dns://127.0.0.1:0\",zone=\"dropped\",view=\"\"";
    assert_eq!(
        metric(
            &m,
            &format!("coredns_dns_responses_total{{{s},rcode=\"REFUSED\",plugin=\"\"}}")
        ),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        metric(
            &m,
            &format!("coredns_dns_requests_total{{{s},proto=\"udp\",family=\"1\",type=\"A\"}}")
        ),
        Some(1.0),
        "{m}"
    );
    let (ok, lint) = promtool(&m);
    assert!(ok, "{lint}");
}
