//! `forward`, `cache` and `kubernetes` fallthrough against a real upstream: Knot DNS on
//! loopback, authoritative for test zones only.
mod common;

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use common::knot::{example_zone, Blackhole, Knot};
use common::{fixture, http_get, kdig, metric, records, status, wait_until, Kdns};
use hickory_server::proto::op::{Message, MessageType, OpCode, Query as WireQuery};
use hickory_server::proto::rr::{Name, RecordType};

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

/// One UDP query from this process: the answer and how long it took.
fn ask(addr: SocketAddr, name: &str, qtype: RecordType) -> (Message, Duration) {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let id: u16 = rand::random();
    let mut m = Message::new(id, MessageType::Query, OpCode::Query);
    m.metadata.recursion_desired = true;
    m.add_query(WireQuery::query(Name::from_ascii(name).unwrap(), qtype));
    let t0 = Instant::now();
    s.send_to(&m.to_vec().unwrap(), addr).unwrap();
    let mut buf = [0u8; 4096];
    let n = s.recv(&mut buf).expect("an answer");
    (Message::from_vec(&buf[..n]).unwrap(), t0.elapsed())
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

#[test]
fn external_names_resolve_through_forward() {
    let up = upstream();
    let k = Kdns::start(
        &format!(".:0 {{\n bind 127.0.0.1\n forward . {}\n}}\n", up.addr),
        None,
    );
    for extra in [&[][..], &["+tcp"][..]] {
        let mut args = vec!["+noall", "+answer", "www.example.test", "A"];
        args.extend_from_slice(extra);
        assert_eq!(
            records(&k.dig(&args)),
            vec![
                "www.example.test. 300 IN A 192.0.2.10",
                "www.example.test. 300 IN A 192.0.2.11"
            ],
            "{extra:?}"
        );
    }
    let full = k.dig(&["www.example.test", "AAAA"]);
    assert!(
        full.contains("flags: qr aa rd ra;"),
        "AA as the upstream sent it, RA set: {full}"
    );
    assert!(full.contains("2001:db8::10"), "{full}");
    let chain = records(&kdig(
        k.addr,
        &["+noall", "+answer", "alias.example.test", "A"],
    ));
    assert_eq!(chain.len(), 3, "CNAME and both addresses: {chain:?}");
    assert!(chain.contains(&"alias.example.test. 300 IN CNAME www.example.test.".to_string()));
    let nx = k.dig(&["nope.example.test", "A"]);
    assert_eq!(status(&nx), "NXDOMAIN");
    assert!(
        nx.contains("example.test.\t\t60\tIN\tSOA") || nx.contains("IN\tSOA\tns.example.test."),
        "{nx}"
    );
    // The upstream knows nothing else: REFUSED passes through (no internet names here).
    assert_eq!(status(&k.dig(&["www.example.com", "A"])), "REFUSED");

    // Latency, forwarded (no cache) against asking the upstream directly.
    let direct: Vec<Duration> = (0..200)
        .map(|_| ask(up.addr, "www.example.test.", RecordType::A).1)
        .collect();
    let via: Vec<Duration> = (0..200)
        .map(|_| ask(k.addr, "www.example.test.", RecordType::A).1)
        .collect();
    println!(
        "median latency: knot direct {:?}, through kdns forward {:?}",
        median(direct),
        median(via)
    );
}

#[test]
fn truncated_upstream_answers_are_retried_over_tcp() {
    let up = upstream();
    let k = Kdns::start(
        &format!(
            ".:0 {{\n bind 127.0.0.1\n prometheus 127.0.0.1:0\n forward . {}\n}}\n",
            up.addr
        ),
        None,
    );
    // Knot's own UDP answer is truncated and empty…
    let direct = common::dig(up.addr, &["+ignore", "big.example.test", "A"]);
    assert!(
        direct.contains(" tc ") && direct.contains("ANSWER: 0,"),
        "{direct}"
    );
    // …kdns asked again over TCP, so its UDP answer carries as many records as fit, with TC.
    let udp = k.dig(&["+ignore", "big.example.test", "A"]);
    assert!(udp.contains(" tc ") && !udp.contains("ANSWER: 0,"), "{udp}");
    let n: usize = udp
        .split("ANSWER: ")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|v| v.parse().ok())
        .unwrap();
    assert!(n > 50, "about 70 addresses fit in 1232 bytes, got {n}");
    let m = http_get(k.http_addr("/metrics"), "/metrics").1;
    let tcp = format!(
        "coredns_proxy_conn_cache_misses_total{{proxy_name=\"forward\",to=\"{}\",proto=\"tcp\"}}",
        up.addr
    );
    assert_eq!(
        metric(&m, &tcp),
        Some(1.0),
        "one TCP connection to the upstream:\n{m}"
    );
    // dig retries over TCP and gets all of them.
    assert_eq!(
        records(&k.dig(&["+noall", "+answer", "big.example.test", "A"])).len(),
        100
    );
}

#[test]
fn dead_upstream_is_marked_down_and_skipped() {
    let dead = Blackhole::start("127.0.0.1");
    let up = upstream();
    let k = Kdns::start(
        &format!(
            ".:0 {{\n bind 127.0.0.1\n prometheus 127.0.0.1:0\n forward . {} {} {{\n  policy sequential\n  health_check 100ms\n  max_fails 2\n  read_timeout 300ms\n }}\n}}\n",
            dead.addr, up.addr
        ),
        None,
    );
    // First query: the dead upstream times out, the next one answers.
    let t0 = Instant::now();
    assert_eq!(
        records(&k.dig(&["+noall", "+answer", "www.example.test"])).len(),
        2
    );
    let first = t0.elapsed();
    assert!(
        first >= Duration::from_millis(300),
        "tried the dead upstream first: {first:?}"
    );
    assert!(dead.queries.load(Ordering::SeqCst) >= 1);
    // Health checks fail until it is marked down (more than max_fails = 2 failures).
    let fails = format!(
        "coredns_proxy_healthcheck_failures_total{{proxy_name=\"forward\",to=\"{}\"}}",
        dead.addr
    );
    let metrics = k.http_addr("/metrics");
    let took = wait_until(Duration::from_secs(15), || {
        metric(&http_get(metrics, "/metrics").1, &fails).unwrap_or(0.0) >= 3.0
    })
    .unwrap_or_else(|| panic!("no health check failures; log:\n{}", k.log()));
    println!(
        "dead upstream marked down after {took:?} ({} probes)",
        dead.probes.load(Ordering::SeqCst)
    );
    let before = dead.queries.load(Ordering::SeqCst);
    for name in ["www.example.test", "alias.example.test", "big.example.test"] {
        let t0 = Instant::now();
        let out = k.dig(&[name, "A"]);
        assert_eq!(status(&out), "NOERROR", "{out}");
        assert!(
            t0.elapsed() < Duration::from_millis(300),
            "skipped the dead upstream: {:?}",
            t0.elapsed()
        );
    }
    assert_eq!(
        dead.queries.load(Ordering::SeqCst),
        before,
        "no query went to the upstream marked down"
    );
}

#[test]
fn max_concurrent_is_enforced() {
    let dead = Blackhole::start("127.0.0.1");
    let k = Kdns::start(
        &format!(
            ".:0 {{\n bind 127.0.0.1\n errors\n prometheus 127.0.0.1:0\n forward . {} {{\n  max_concurrent 2\n  read_timeout 1s\n  max_fails 0\n }}\n}}\n",
            dead.addr
        ),
        None,
    );
    let addr = k.addr;
    let handles: Vec<_> = (0..8)
        .map(|i| {
            std::thread::spawn(move || {
                let name = format!("slow{i}.example.test");
                status(&common::dig(addr, &["+time=5", &name, "A"]))
            })
        })
        .collect();
    let got: Vec<String> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let refused = got.iter().filter(|s| *s == "REFUSED").count();
    let servfail = got.iter().filter(|s| *s == "SERVFAIL").count();
    assert_eq!(refused + servfail, 8, "{got:?}");
    assert!(
        (4..=6).contains(&refused),
        "two in flight, the rest refused: {got:?}"
    );
    let m = http_get(k.http_addr("/metrics"), "/metrics").1;
    assert_eq!(
        metric(&m, "coredns_forward_max_concurrent_rejects_total"),
        Some(refused as f64),
        "{m}"
    );
    // Errors returned unwritten carry an empty `plugin` label, as in CoreDNS.
    let s = "server=\"dns://127.0.0.1:0\",zone=\".\",view=\"\"";
    assert_eq!(
        metric(
            &m,
            &format!("coredns_dns_responses_total{{{s},rcode=\"REFUSED\",plugin=\"\"}}")
        ),
        Some(refused as f64),
        "{m}"
    );
    assert_eq!(
        metric(
            &m,
            &format!("coredns_dns_responses_total{{{s},rcode=\"SERVFAIL\",plugin=\"\"}}")
        ),
        Some(servfail as f64),
        "{m}"
    );
    assert!(
        k.log().contains("concurrent queries exceeded maximum 2"),
        "errors logs the rejects:\n{}",
        k.log()
    );
}

#[test]
fn cache_counts_hits_and_ttls_decrease() {
    let up = upstream();
    let k = Kdns::start(
        &format!(
            ".:0 {{\n bind 127.0.0.1\n prometheus 127.0.0.1:0\n cache 30\n forward . {}\n}}\n",
            up.addr
        ),
        None,
    );
    let first = records(&k.dig(&["+noall", "+answer", "www.example.test", "A"]));
    assert_eq!(first.len(), 2, "{first:?}");
    assert!(
        first.iter().all(|r| r.contains(" 30 IN A ")),
        "capped at 30: {first:?}"
    );
    std::thread::sleep(Duration::from_millis(2100));
    let full = k.dig(&["www.example.test", "A"]);
    assert!(full.contains("flags: qr aa rd ra;"), "{full}\n{}", k.log());
    let later = records(&k.dig(&["+noall", "+answer", "www.example.test", "A"]));
    let ttl: u32 = later[0].split(' ').nth(1).unwrap().parse().unwrap();
    assert!(ttl <= 28, "the TTL counts down: {later:?}");
    let m = http_get(k.http_addr("/metrics"), "/metrics").1;
    let server = "server=\"dns://127.0.0.1:0\",type=\"success\",zones=\".\",view=\"\"";
    assert_eq!(
        metric(&m, &format!("coredns_cache_hits_total{{{server}}}")),
        Some(2.0),
        "{m}"
    );
    assert_eq!(
        metric(&m, &format!("coredns_cache_entries{{{server}}}")),
        Some(1.0),
        "{m}"
    );
    assert_eq!(
        metric(
            &m,
            "coredns_cache_misses_total{server=\"dns://127.0.0.1:0\",zones=\".\",view=\"\"}"
        ),
        Some(1.0)
    );

    // A mixed load: 4 names, 40 queries.
    let names = [
        "www.example.test",
        "alias.example.test",
        "big.example.test",
        "nope.example.test",
    ];
    for i in 0..40 {
        k.dig(&["+tcp", names[i % 4], "A"]);
    }
    let m = http_get(k.http_addr("/metrics"), "/metrics").1;
    let requests = metric(
        &m,
        "coredns_cache_requests_total{server=\"dns://127.0.0.1:0\",zones=\".\",view=\"\"}",
    )
    .unwrap();
    let hits = metric(&m, &format!("coredns_cache_hits_total{{{server}}}")).unwrap()
        + metric(&m, "coredns_cache_hits_total{server=\"dns://127.0.0.1:0\",type=\"denial\",zones=\".\",view=\"\"}").unwrap();
    assert_eq!(requests, 43.0);
    assert_eq!(hits, 43.0 - 4.0, "one miss per name");
    println!(
        "cache hit ratio: {:.3} ({hits} of {requests})",
        hits / requests
    );
    // Hits are fast.
    let hit: Vec<Duration> = (0..200)
        .map(|_| ask(k.addr, "www.example.test.", RecordType::A).1)
        .collect();
    println!("median latency of a cache hit: {:?}", median(hit));
}

const KUBE: &str = " kubernetes cluster.local in-addr.arpa ip6.arpa {\n  manifests {DIR}/manifests\n  pods insecure\n  fallthrough in-addr.arpa ip6.arpa\n  ttl 30\n }\n";

#[test]
fn disable_keeps_cluster_answers_out_of_the_cache() {
    let up = upstream();
    let core = format!(
        ".:0 {{\n bind 127.0.0.1\n prometheus 127.0.0.1:0\n{KUBE} forward . {}\n cache 30 {{\n  disable success cluster.local\n  disable denial cluster.local\n }}\n}}\n",
        up.addr
    );
    let k = Kdns::start(&core, Some(&fixture("cluster")));
    for _ in 0..3 {
        assert_eq!(
            records(&k.dig(&["+noall", "+answer", "web.shop.svc.cluster.local", "A"])),
            vec!["web.shop.svc.cluster.local. 30 IN A 10.96.0.20"]
        );
        assert_eq!(
            status(&k.dig(&["nope.shop.svc.cluster.local", "A"])),
            "NXDOMAIN"
        );
    }
    let entries = |kind: &str| {
        let m = http_get(k.http_addr("/metrics"), "/metrics").1;
        metric(&m, &format!("coredns_cache_entries{{server=\"dns://127.0.0.1:0\",type=\"{kind}\",zones=\".\",view=\"\"}}"))
    };
    assert_eq!(
        (entries("success"), entries("denial")),
        (Some(0.0), Some(0.0)),
        "cluster answers are not cached"
    );
    // Changes are answered at once (cached answers would stay for 30 s).
    assert_eq!(
        status(&k.dig(&["fresh.shop.svc.cluster.local", "A"])),
        "NXDOMAIN"
    );
    let svc = k.dir.path().join("manifests/services.yaml");
    let text = std::fs::read_to_string(&svc)
        .unwrap()
        .replace("10.96.0.20", "10.96.0.99");
    std::fs::write(&svc, text).unwrap();
    std::fs::write(
        k.dir.path().join("manifests/fresh.yaml"),
        "apiVersion: v1\nkind: Service\nmetadata: {name: fresh, namespace: shop}\nspec:\n  clusterIP: 10.96.0.77\n  ports: [{port: 80}]\n",
    )
    .unwrap();
    let took = wait_until(Duration::from_secs(5), || {
        records(&k.dig(&["+noall", "+answer", "web.shop.svc.cluster.local", "A"]))
            == vec!["web.shop.svc.cluster.local. 30 IN A 10.96.0.99"]
            && status(&k.dig(&["fresh.shop.svc.cluster.local", "A"])) == "NOERROR"
    });
    assert!(took.is_some(), "{}", k.log());
    println!("cluster change answered after {:?}", took.unwrap());
    // Other names are cached.
    k.dig(&["www.example.test", "A"]);
    k.dig(&["nope.example.test", "A"]);
    assert_eq!(
        (entries("success"), entries("denial")),
        (Some(1.0), Some(1.0))
    );
}

#[test]
fn fallthrough_and_external_name_chase_go_through_forward() {
    let up = upstream();
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("m");
    std::fs::create_dir_all(&m).unwrap();
    std::fs::write(
        m.join("ext.yaml"),
        "apiVersion: v1\nkind: Service\nmetadata: {name: ext, namespace: default}\nspec:\n  type: ExternalName\n  externalName: alias.example.test\n",
    )
    .unwrap();
    let core = format!(
        ".:0 {{\n bind 127.0.0.1\n{KUBE} forward . {}\n cache 30\n}}\n",
        up.addr
    );
    let k = Kdns::start(&core, Some(&m));
    // ExternalName: the CNAME, then what the upstream has for its target.
    let got = records(&k.dig(&["+noall", "+answer", "ext.default.svc.cluster.local", "A"]));
    assert_eq!(
        got,
        vec![
            "alias.example.test. 30 IN CNAME www.example.test.",
            "ext.default.svc.cluster.local. 30 IN CNAME alias.example.test.",
            "www.example.test. 30 IN A 192.0.2.10",
            "www.example.test. 30 IN A 192.0.2.11",
        ]
    );
    // A reverse name the cluster does not know falls through to the upstream.
    assert_eq!(
        records(&k.dig(&["+noall", "+answer", "-x", "192.0.2.10"])),
        vec!["10.2.0.192.in-addr.arpa. 30 IN PTR www.example.test."]
    );
    // cluster.local has no fallthrough: NXDOMAIN from the cluster zone, never forwarded.
    let nx = k.dig(&["www.example.test.cluster.local", "A"]);
    assert_eq!(status(&nx), "NXDOMAIN");
    assert!(nx.contains("hostmaster.cluster.local."), "{nx}");
}

#[test]
fn stub_domain_blocks_forward_their_zone() {
    let main = upstream();
    let corp = Knot::start(
        "127.0.0.1",
        &[("corp.test", "$TTL 60\n@ IN SOA ns.corp.test. admin.corp.test. 1 3600 600 86400 60\n@ IN NS ns\nns IN A 127.0.0.1\nwww IN A 10.10.0.1\n".into())],
    );
    let core = format!(
        "corp.test:0 {{\n bind 127.0.0.1\n forward . {}\n}}\n.:0 {{\n bind 127.0.0.1\n forward . {}\n}}\n",
        corp.addr, main.addr
    );
    let k = Kdns::start(&core, None);
    assert_eq!(
        records(&k.dig(&["+noall", "+answer", "www.corp.test", "A"])),
        vec!["www.corp.test. 60 IN A 10.10.0.1"]
    );
    assert_eq!(
        records(&k.dig(&["+noall", "+answer", "www.example.test", "A"])).len(),
        2
    );
    let nx = k.dig(&["nope.corp.test", "A"]);
    assert_eq!(status(&nx), "NXDOMAIN");
    assert!(
        nx.contains("admin.corp.test."),
        "the stub zone's own SOA: {nx}"
    );
}
