//! The kubeadm Corefile, word for word, serving a "pod" — all in network namespaces the test
//! makes (needs root and iproute2; it fails, not skips, without them):
//!
//! ```text
//! pod (resolv.conf: search default.svc.cluster.local svc.cluster.local cluster.local,
//!      ndots:5, nameserver 10.253.1.1)
//!   ── veth ── dns (kdns on .:53, :8080 /health, :8181 /ready, :9153 /metrics;
//!                   resolv.conf: nameserver 10.253.2.2)
//!                 ── veth ── upstream (knotd on 10.253.2.2:53, authoritative for the root
//!                            zone with example.test names: NXDOMAIN for everything else)
//! ```
mod common;

use std::time::{Duration, Instant};

use common::knot::{root_zone, Knot};
use common::netns::{link, Netns};
use common::{copy_dir, status, wait_until, Kdns};

/// kubernetes/kubernetes cmd/kubeadm/app/phases/addons/dns/manifests.go, DNSDomain cluster.local.
pub const KUBEADM_COREFILE: &str = ".:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30 {
       disable success cluster.local
       disable denial cluster.local
    }
    loop
    reload
    loadbalance
}
";

fn curl(ns: &Netns, url: &str) -> (String, String) {
    let (_, out) = ns.run(&["curl", "-s", "-m", "3", "-w", "\n%{http_code}", url]);
    let (body, code) = out.rsplit_once('\n').unwrap_or(("", &out));
    (code.trim().to_string(), body.to_string())
}

#[test]
fn kubeadm_corefile_serves_a_pod_in_network_namespaces() {
    let upstream = Netns::new("up");
    let dns = Netns::new("dns");
    let pod = Netns::new("pod");
    link(&pod, "10.253.1.2/30", &dns, "10.253.1.1/30");
    link(&dns, "10.253.2.1/30", &upstream, "10.253.2.2/30");
    // Authoritative for the root: NXDOMAIN for every name but the example.test ones.
    let _knot = Knot::start_in(&upstream.prefix(), "10.253.2.2", 53, &[(".", root_zone())]);
    assert!(
        wait_until(Duration::from_secs(10), || {
            status(
                &dns.run(&[
                    "dig",
                    "+tries=1",
                    "+time=1",
                    "@10.253.2.2",
                    "example.test",
                    "SOA",
                ])
                .1,
            ) == "NOERROR"
        })
        .is_some(),
        "knotd in the upstream namespace does not answer"
    );
    dns.resolv_conf("nameserver 10.253.2.2\n");
    pod.resolv_conf("search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.253.1.1\noptions ndots:5\n");

    // The Corefile as kubeadm writes it; the only addition is where the objects come from.
    let dir = tempfile::tempdir().unwrap();
    let manifests = dir.path().join("manifests");
    copy_dir(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/echoserver"),
        &manifests,
    );
    let corefile = KUBEADM_COREFILE.replacen(
        "       pods insecure\n",
        &format!(
            "       manifests {}\n       pods insecure\n",
            manifests.display()
        ),
        1,
    );
    assert_eq!(
        corefile.lines().count(),
        KUBEADM_COREFILE.lines().count() + 1
    );
    let conf = dir.path().join("Corefile");
    std::fs::write(&conf, &corefile).unwrap();
    let mut k = Kdns::start_in(&dns.prefix(), &conf, dir);

    let lookup = |args: &[&str]| {
        let mut cmd = vec!["busybox", "nslookup"];
        cmd.extend_from_slice(args);
        pod.run(&cmd).1
    };
    // glibc walks the search list (ndots:5) for every short name.
    for name in [
        "svc-echoserver",
        "svc-echoserver.default",
        "svc-echoserver.default.svc",
    ] {
        let (code, out) = pod.run(&["getent", "hosts", name]);
        assert_eq!(code, 0, "getent hosts {name}: {out}\n{}", k.log());
        assert!(
            out.starts_with("10.0.0.184 ")
                && out.contains("svc-echoserver.default.svc.cluster.local"),
            "getent hosts {name}: {out}"
        );
    }
    // busybox nslookup (1.29 and later) applies the search list only to names without a dot.
    for name in ["svc-echoserver", "svc-echoserver.default.svc.cluster.local"] {
        let out = lookup(&[name]);
        assert!(
            out.contains("Address: 10.0.0.184"),
            "busybox nslookup {name}:\n{out}\n{}",
            k.log()
        );
    }
    // …so it asks `svc-echoserver.default.` as written, which the upstream does not know.
    let out = lookup(&["svc-echoserver.default"]);
    assert!(
        out.contains("can't find svc-echoserver.default: NXDOMAIN"),
        "{out}"
    );
    // An external name: the search list first (NXDOMAIN from the cluster zone), then forward.
    let out = lookup(&["www.example.test"]);
    assert!(
        out.contains("Address: 192.0.2.10") && out.contains("Address: 192.0.2.11"),
        "{out}"
    );
    let (code, out) = pod.run(&["getent", "ahostsv4", "www.example.test"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("192.0.2.10") && out.contains("192.0.2.11"),
        "{out}"
    );
    let (code, _) = pod.run(&["getent", "hosts", "nonexistent.example.test"]);
    assert_eq!(code, 2, "not found");
    // Reverse lookups for cluster addresses come from the cluster zone.
    let out = lookup(&["10.0.0.184"]);
    assert!(
        out.contains("svc-echoserver.default.svc.cluster.local"),
        "{out}"
    );

    // The endpoints, on their kubeadm ports inside the namespace.
    assert_eq!(
        curl(&dns, "http://127.0.0.1:8080/health"),
        ("200".into(), "OK".into())
    );
    assert_eq!(
        curl(&dns, "http://127.0.0.1:8181/ready"),
        ("200".into(), "OK".into())
    );
    let (code, metrics) = curl(&dns, "http://127.0.0.1:9153/metrics");
    assert_eq!(code, "200");
    assert!(metrics.contains("coredns_dns_requests_total{server=\"dns://:53\",zone=\".\",view=\"\",proto=\"udp\",family=\"1\",type=\"A\"}"), "{metrics}");
    // As CoreDNS 1.14.7 with this Corefile: `plugin` is `errors` (the directive after
    // `prometheus`) for every written answer.
    assert!(metrics.contains("coredns_dns_responses_total{server=\"dns://:53\",zone=\".\",view=\"\",rcode=\"NXDOMAIN\",plugin=\"errors\"}"), "{metrics}");
    assert!(metrics.contains("coredns_dns_responses_total{server=\"dns://:53\",zone=\".\",view=\"\",rcode=\"NOERROR\",plugin=\"errors\"}"), "{metrics}");
    assert!(
        k.log()
            .contains("plugin/reload: Running configuration SHA512 = "),
        "{}",
        k.log()
    );

    // SIGTERM: five seconds of lameduck, then exit 0.
    let t0 = Instant::now();
    k.sigterm();
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(curl(&dns, "http://127.0.0.1:8181/ready").0, "503");
    assert_eq!(curl(&dns, "http://127.0.0.1:8080/health").0, "200");
    assert!(
        lookup(&["svc-echoserver"]).contains("10.0.0.184"),
        "still answering in lameduck"
    );
    let code = loop {
        if let Some(s) = k.child.try_wait().unwrap() {
            break s.code();
        }
        assert!(t0.elapsed() < Duration::from_secs(15), "did not stop");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(code, Some(0), "{}", k.log());
    assert!(t0.elapsed() >= Duration::from_secs(5));
}
