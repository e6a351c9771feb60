//! The real `kdns` binary on a free loopback port, asked by real clients (`dig`, `kdig`,
//! `busybox nslookup`) over UDP and TCP.
mod common;

use std::process::Command;
use std::time::Duration;

use common::{fixture, kdig, records, status, wait_until, Kdns};

const COREFILE: &str = "\
cluster.local:0 in-addr.arpa:0 ip6.arpa:0 {
    bind 127.0.0.1
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        manifests {DIR}/manifests
        pods insecure
    }
}
";

fn start() -> Kdns {
    Kdns::start(COREFILE, Some(&fixture("cluster")))
}

/// The answer records for `name type`, over UDP and TCP with dig and kdig (all four must agree).
fn answer(k: &Kdns, name: &str, qtype: &str) -> Vec<String> {
    let udp = records(&k.dig(&["+noall", "+answer", name, qtype]));
    let tcp = records(&k.dig(&["+tcp", "+noall", "+answer", name, qtype]));
    let kudp = records(&kdig(k.addr, &["+noall", "+answer", name, qtype]));
    let ktcp = records(&kdig(k.addr, &["+tcp", "+noall", "+answer", name, qtype]));
    assert_eq!(udp, tcp, "dig UDP vs TCP for {name} {qtype}");
    assert_eq!(udp, kudp, "dig vs kdig (UDP) for {name} {qtype}");
    assert_eq!(udp, ktcp, "dig vs kdig (TCP) for {name} {qtype}");
    udp
}

#[test]
fn cluster_ip_a_and_aaaa_dual_stack() {
    let k = start();
    assert_eq!(
        answer(&k, "web.shop.svc.cluster.local", "A"),
        vec!["web.shop.svc.cluster.local. 5 IN A 10.96.0.20"]
    );
    assert_eq!(
        answer(&k, "web.shop.svc.cluster.local", "AAAA"),
        vec!["web.shop.svc.cluster.local. 5 IN AAAA fd00:10:96::20"]
    );
}

#[test]
fn headless_answers_ready_endpoints_only() {
    let k = start();
    assert_eq!(
        answer(&k, "db.shop.svc.cluster.local", "A"),
        vec![
            "db.shop.svc.cluster.local. 5 IN A 10.1.0.10",
            "db.shop.svc.cluster.local. 5 IN A 10.1.0.11"
        ]
    );
    assert_eq!(
        answer(&k, "db.shop.svc.cluster.local", "AAAA"),
        vec!["db.shop.svc.cluster.local. 5 IN AAAA 2001:db8::1"]
    );
    assert_eq!(
        answer(&k, "db-0.db.shop.svc.cluster.local", "A"),
        vec!["db-0.db.shop.svc.cluster.local. 5 IN A 10.1.0.10"]
    );
    assert_eq!(
        answer(&k, "10-1-0-11.db.shop.svc.cluster.local", "A"),
        vec!["10-1-0-11.db.shop.svc.cluster.local. 5 IN A 10.1.0.11"]
    );
    assert_eq!(
        answer(&k, "2001-db8--1.db.shop.svc.cluster.local", "AAAA"),
        vec!["2001-db8--1.db.shop.svc.cluster.local. 5 IN AAAA 2001:db8::1"]
    );
    // db-2 is not ready: it does not exist.
    assert_eq!(
        status(&k.dig(&["db-2.db.shop.svc.cluster.local", "A"])),
        "NXDOMAIN"
    );
    // A headless service with no ready endpoint is NXDOMAIN (spec 2.4).
    assert_eq!(
        status(&k.dig(&["empty-headless.shop.svc.cluster.local", "A"])),
        "NXDOMAIN"
    );
}

#[test]
fn srv_records_with_glue() {
    let k = start();
    let out = k.dig(&[
        "+noall",
        "+answer",
        "+additional",
        "_pg._tcp.db.shop.svc.cluster.local",
        "SRV",
    ]);
    let recs = records(&out);
    for want in [
        "_pg._tcp.db.shop.svc.cluster.local. 5 IN SRV 0 33 5432 db-0.db.shop.svc.cluster.local.",
        "_pg._tcp.db.shop.svc.cluster.local. 5 IN SRV 0 33 5432 10-1-0-11.db.shop.svc.cluster.local.",
        "_pg._tcp.db.shop.svc.cluster.local. 5 IN SRV 0 33 5432 2001-db8--1.db.shop.svc.cluster.local.",
        "db-0.db.shop.svc.cluster.local. 5 IN A 10.1.0.10",
        "10-1-0-11.db.shop.svc.cluster.local. 5 IN A 10.1.0.11",
        "2001-db8--1.db.shop.svc.cluster.local. 5 IN AAAA 2001:db8::1",
    ] {
        assert!(recs.contains(&want.to_string()), "missing {want} in\n{out}");
    }
    let out = k.dig(&[
        "+tcp",
        "+noall",
        "+answer",
        "+additional",
        "_http._tcp.web.shop.svc.cluster.local",
        "SRV",
    ]);
    assert_eq!(
        records(&out),
        vec![
            "_http._tcp.web.shop.svc.cluster.local. 5 IN SRV 0 50 80 web.shop.svc.cluster.local.",
            "web.shop.svc.cluster.local. 5 IN A 10.96.0.20",
            "web.shop.svc.cluster.local. 5 IN AAAA fd00:10:96::20",
        ]
    );
    // The bare service name lists every port.
    let bare = records(&k.dig(&["+noall", "+answer", "web.shop.svc.cluster.local", "SRV"]));
    assert!(
        bare.iter()
            .any(|r| r.ends_with("SRV 0 16 8443 web.shop.svc.cluster.local.")),
        "3 ports x 2 addresses: {bare:?}"
    );
    assert_eq!(
        status(&k.dig(&["_dns._tcp.web.shop.svc.cluster.local", "SRV"])),
        "NXDOMAIN"
    );
}

#[test]
fn ptr_for_cluster_ips_and_endpoints() {
    let k = start();
    let ptr = |ip: &str| records(&k.dig(&["+noall", "+answer", "-x", ip]));
    assert_eq!(
        ptr("10.96.0.20"),
        vec!["20.0.96.10.in-addr.arpa. 5 IN PTR web.shop.svc.cluster.local."]
    );
    assert_eq!(
        ptr("fd00:10:96::20"),
        vec!["0.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa. 5 IN PTR web.shop.svc.cluster.local."]
    );
    assert_eq!(
        ptr("10.1.0.10"),
        vec!["10.0.1.10.in-addr.arpa. 5 IN PTR db-0.db.shop.svc.cluster.local."]
    );
    assert_eq!(
        ptr("10.1.0.5"),
        vec!["5.0.1.10.in-addr.arpa. 5 IN PTR 10-1-0-5.web.shop.svc.cluster.local."]
    );
    assert_eq!(status(&k.dig(&["-x", "10.9.9.9"])), "NXDOMAIN");
    assert_eq!(
        status(&k.dig(&["+tcp", "-x", "10.1.0.12"])),
        "NXDOMAIN",
        "not-ready endpoints have no PTR"
    );
}

#[test]
fn external_name_is_a_cname_chased_inside_the_zone() {
    let k = start();
    assert_eq!(
        answer(&k, "search.shop.svc.cluster.local", "A"),
        vec![
            "search.shop.svc.cluster.local. 5 IN CNAME web.shop.svc.cluster.local.",
            "web.shop.svc.cluster.local. 5 IN A 10.96.0.20"
        ]
    );
    let out = k.dig(&["upstream.shop.svc.cluster.local", "A"]);
    assert_eq!(status(&out), "NOERROR");
    assert!(out.contains("CNAME\tapi.example.org."), "{out}");
    assert_eq!(
        answer(&k, "upstream.shop.svc.cluster.local", "CNAME"),
        vec!["upstream.shop.svc.cluster.local. 5 IN CNAME api.example.org."]
    );
    assert_eq!(
        status(&k.dig(&["upstream.shop.svc.cluster.local", "SRV"])),
        "NOERROR"
    );
}

#[test]
fn nxdomain_and_nodata_carry_the_soa() {
    let k = start();
    for (name, qtype, want) in [
        ("nope.shop.svc.cluster.local", "A", "NXDOMAIN"),
        ("web.nons.svc.cluster.local", "A", "NXDOMAIN"),
        ("shop.svc.cluster.local", "A", "NOERROR"),
        ("web.shop.svc.cluster.local", "MX", "NOERROR"),
        ("web.shop.svc.cluster.local", "TXT", "NOERROR"),
        ("nope.shop.svc.cluster.local", "TXT", "NXDOMAIN"),
        ("a.b.c.d.web.shop.svc.cluster.local", "A", "NXDOMAIN"),
        ("web.shop.nosuch.cluster.local", "A", "NXDOMAIN"),
    ] {
        for tcp in [false, true] {
            let mut args = vec![name, qtype];
            if tcp {
                args.push("+tcp");
            }
            let out = k.dig(&args);
            assert_eq!(status(&out), want, "{name} {qtype} tcp={tcp}\n{out}");
            assert!(out.contains("flags: qr aa"), "authoritative: {out}");
            assert!(out.contains("ANSWER: 0"), "{out}");
            let auth = records(&k.dig(&["+noall", "+authority", name, qtype]));
            assert_eq!(auth.len(), 1, "{auth:?}");
            assert!(
                auth[0].starts_with(
                    "cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local. "
                ),
                "{auth:?}"
            );
            assert!(
                auth[0].ends_with(" 7200 1800 86400 5"),
                "negative TTL = ttl: {auth:?}"
            );
        }
    }
}

#[test]
fn apex_txt_soa_ns_and_pods() {
    let k = start();
    assert_eq!(
        answer(&k, "dns-version.cluster.local", "TXT"),
        vec!["dns-version.cluster.local. 28800 IN TXT \"1.1.0\""]
    );
    let soa = answer(&k, "cluster.local", "SOA");
    assert!(
        soa[0]
            .starts_with("cluster.local. 5 IN SOA ns.dns.cluster.local. hostmaster.cluster.local."),
        "{soa:?}"
    );
    // Bound to loopback only: no address to give out for the name server (as CoreDNS), so the
    // apex NS and ns.dns are NODATA (the CoreDNS case table checks them with a real address).
    assert!(answer(&k, "cluster.local", "NS").is_empty());
    assert_eq!(status(&k.dig(&["cluster.local", "NS"])), "NOERROR");
    assert!(answer(&k, "ns.dns.cluster.local", "A").is_empty());
    assert_eq!(
        answer(&k, "10-1-0-5.shop.pod.cluster.local", "A"),
        vec!["10-1-0-5.shop.pod.cluster.local. 5 IN A 10.1.0.5"]
    );
    assert_eq!(
        status(&k.dig(&["10-1-0-5.nons.pod.cluster.local"])),
        "NXDOMAIN"
    );
}

#[test]
fn query_case_is_echoed() {
    let k = start();
    let out = k.dig(&["+noall", "+answer", "WeB.ShOp.SVC.Cluster.Local", "A"]);
    assert_eq!(
        records(&out),
        vec!["WeB.ShOp.SVC.Cluster.Local. 5 IN A 10.96.0.20"]
    );
    let out = k.dig(&["+noall", "+authority", "NoPe.ShOp.svc.Cluster.Local", "A"]);
    assert!(
        out.contains("Cluster.Local.\t"),
        "SOA owner keeps the query's zone case: {out}"
    );
}

#[test]
fn transfers_and_foreign_zones_are_refused() {
    let k = start();
    let out = k.dig(&["cluster.local", "AXFR"]);
    assert!(
        out.contains("Transfer failed") || out.contains("REFUSED"),
        "{out}"
    );
    let out = kdig(k.addr, &["+tcp", "cluster.local", "IXFR=1"]);
    assert!(out.contains("REFUSED"), "{out}");
    assert_eq!(status(&k.dig(&["example.com", "A"])), "REFUSED");
    assert_eq!(status(&kdig(k.addr, &["example.com", "A"])), "REFUSED");
}

#[test]
fn large_answers_truncate_over_udp_and_complete_over_tcp() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("big");
    std::fs::create_dir_all(&m).unwrap();
    let mut y = String::from(
        "apiVersion: v1\nkind: Service\nmetadata: {name: big, namespace: default}\nspec:\n  clusterIP: None\n---\n\
         apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: big-1\n  namespace: default\n  labels: {kubernetes.io/service-name: big}\naddressType: IPv4\nendpoints:\n",
    );
    for i in 0..150 {
        y.push_str(&format!(
            "  - addresses: [10.2.{}.{}]\n",
            i / 200,
            i % 200 + 1
        ));
    }
    std::fs::write(m.join("big.yaml"), y).unwrap();
    let k = Kdns::start(COREFILE, Some(&m));
    let udp = k.dig(&[
        "+ignore",
        "+bufsize=4096",
        "big.default.svc.cluster.local",
        "A",
    ]);
    assert!(
        udp.contains(" tc ") || udp.contains(" tc;"),
        "UDP answer must be truncated: {udp}"
    );
    assert!(
        udp.contains("udp: 1232"),
        "EDNS payload capped at 1232: {udp}"
    );
    let noedns = k.dig(&["+ignore", "+noedns", "big.default.svc.cluster.local", "A"]);
    assert!(noedns.contains(" tc "), "{noedns}");
    let full = records(&k.dig(&["+noall", "+answer", "big.default.svc.cluster.local", "A"]));
    assert_eq!(
        full.len(),
        150,
        "dig retries over TCP and gets every record"
    );
    let tcp = records(&kdig(
        k.addr,
        &[
            "+tcp",
            "+noall",
            "+answer",
            "big.default.svc.cluster.local",
            "A",
        ],
    ));
    assert_eq!(tcp.len(), 150);
}

#[test]
fn busybox_nslookup_resolves_services() {
    // busybox nslookup always asks port 53: use a loopback address of our own.
    let core = "cluster.local:53 in-addr.arpa:53 {\n bind 127.53.0.1\n kubernetes cluster.local in-addr.arpa {\n  manifests {DIR}/manifests\n }\n}\n";
    let k = Kdns::start(core, Some(&fixture("cluster")));
    let run = |args: &[&str]| {
        let o = Command::new("busybox")
            .arg("nslookup")
            .args(args)
            .output()
            .expect("busybox (apt-get install busybox)");
        format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        )
    };
    let out = run(&["web.shop.svc.cluster.local", "127.53.0.1"]);
    assert!(out.contains("Address: 10.96.0.20"), "{out}");
    assert!(out.contains("Address: fd00:10:96::20"), "{out}");
    let out = run(&[
        "-type=srv",
        "_http._tcp.web.shop.svc.cluster.local",
        "127.53.0.1",
    ]);
    assert!(out.contains("0 50 80 web.shop.svc.cluster.local"), "{out}");
    let out = run(&["nope.shop.svc.cluster.local", "127.53.0.1"]);
    assert!(out.contains("NXDOMAIN"), "{out}");
    let out = run(&["10.96.0.20", "127.53.0.1"]);
    assert!(out.contains("web.shop.svc.cluster.local"), "{out}");
    drop(k);
}

#[test]
fn manifest_changes_are_served_within_a_second() {
    let k = start();
    let svc = k.dir.path().join("manifests/new.yaml");
    std::fs::write(
        &svc,
        "apiVersion: v1\nkind: Service\nmetadata: {name: fresh, namespace: shop}\nspec:\n  clusterIP: 10.96.0.99\n  ports: [{port: 80}]\n",
    )
    .unwrap();
    let took = wait_until(Duration::from_secs(5), || {
        records(&k.dig(&["+noall", "+answer", "fresh.shop.svc.cluster.local"])).len() == 1
    })
    .unwrap_or_else(|| panic!("new service never answered; log:\n{}", k.log()));
    println!("new manifest answered after {took:?}");
    assert!(took < Duration::from_secs(1), "took {took:?}");

    // A broken file: the previous zone keeps serving and the error names the file.
    std::fs::write(
        &svc,
        "apiVersion: v1\nkind: Service\nmetadata: {name: fresh\n",
    )
    .unwrap();
    assert!(
        wait_until(Duration::from_secs(5), || k.log().contains("new.yaml:")).is_some(),
        "{}",
        k.log()
    );
    assert_eq!(
        records(&k.dig(&["+noall", "+answer", "fresh.shop.svc.cluster.local"])).len(),
        1
    );
    // Removing it brings the zone back in line.
    std::fs::remove_file(&svc).unwrap();
    assert!(wait_until(Duration::from_secs(5), || status(
        &k.dig(&["fresh.shop.svc.cluster.local"])
    ) == "NXDOMAIN")
    .is_some());
}

fn kdns_cmd(args: &[&str]) -> (i32, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kdns"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn bad_corefile_and_bad_manifests_fail_with_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("Corefile");
    let m = dir.path().join("m");
    std::fs::create_dir_all(&m).unwrap();
    std::fs::write(&conf, ".:0 {\n  bind 127.0.0.1\n  kubernetes cluster.local {\n    manifests m\n    tll 30\n  }\n}\n").unwrap();
    let c = conf.to_str().unwrap();
    for extra in [&[][..], &["--validate"][..]] {
        let mut args = vec!["--conf", c];
        args.extend_from_slice(extra);
        let (code, out) = kdns_cmd(&args);
        assert_eq!(code, 1, "{out}");
        assert!(
            out.contains(&format!("{c}:5: kubernetes: unknown property \"tll\"")),
            "{out}"
        );
    }
    std::fs::write(&conf, ".:0 {\n  bind 127.0.0.1\n  kubernetes cluster.local {\n    manifests m\n  }\n  dnssec example.org\n}\n").unwrap();
    let (code, out) = kdns_cmd(&["--conf", c, "--validate"]);
    assert_eq!(code, 1);
    assert!(
        out.contains(":6: dnssec: directive is not supported"),
        "{out}"
    );

    std::fs::write(
        &conf,
        ".:0 {\n  bind 127.0.0.1\n  kubernetes cluster.local {\n    manifests m\n  }\n}\n",
    )
    .unwrap();
    std::fs::write(
        m.join("ok.yaml"),
        "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n",
    )
    .unwrap();
    std::fs::write(m.join("bad.yaml"), "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: x\nspec:\n  ports: [{port: eighty}]\n").unwrap();
    let (code, out) = kdns_cmd(&["--conf", c]);
    assert_eq!(code, 1, "{out}");
    let bad = m.join("bad.yaml");
    assert!(
        out.contains(&format!("{}:10:", bad.display())),
        "names file and line: {out}"
    );
    let (code, out) = kdns_cmd(&["--conf", c, "--validate"]);
    assert_eq!(code, 1, "{out}");

    std::fs::remove_file(&bad).unwrap();
    let (code, out) = kdns_cmd(&["--conf", c, "--validate"]);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("OK"), "{out}");
}

#[test]
fn example_corefile_validates() {
    let root = env!("CARGO_MANIFEST_DIR");
    let (code, out) = kdns_cmd(&["--conf", &format!("{root}/Corefile.example"), "--validate"]);
    assert_eq!(code, 0, "{out}");
    assert!(
        out.contains("6 services") || out.contains("services from"),
        "{out}"
    );
}
