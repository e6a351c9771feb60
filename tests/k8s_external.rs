//! `k8s_external` side by side with CoreDNS 1.14.7: both servers watch the same real
//! kube-apiserver (on loopback), read the same Corefile and are asked the same questions;
//! every answer must match: rcode, the AA/TC/RD/RA flags, and each section as a sorted list of
//! records (duplicates kept; sorted because CoreDNS's order of a headless Service's endpoints
//! follows its informer). The SOA serial alone is left out: each server stamps its own change
//! time. Load balancer hostnames are resolved through `forward` to Knot on loopback, which
//! also answers the names `fallthrough` hands on. Then the load balancer's status changes
//! (an ingress point added, one removed, all removed) and both servers must follow.
mod common;

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use common::cluster::{Cluster, SERIAL};
use common::coredns::CoreDns;
use common::knot::{example_zone, free_port, Knot};
use common::{http_get, wait_until, Kdns};
use hickory_server::proto::op::{Message, Query};
use hickory_server::proto::rr::{Name, RecordType};

const OBJECTS: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: prod}
---
apiVersion: v1
kind: Service
metadata: {name: lb, namespace: prod}
spec:
  type: LoadBalancer
  ports:
    - {name: http, protocol: TCP, port: 80}
    - {name: dns, protocol: UDP, port: 53}
---
apiVersion: v1
kind: Service
metadata: {name: ext, namespace: prod}
spec:
  externalIPs: [192.0.2.50, "2001:db8::50"]
  ports:
    - {name: https, protocol: TCP, port: 443}
---
apiVersion: v1
kind: Service
metadata: {name: plain, namespace: prod}
spec:
  ports: [{name: http, protocol: TCP, port: 80}]
---
apiVersion: v1
kind: Service
metadata: {name: hl, namespace: prod}
spec:
  clusterIP: None
  ports: [{name: pg, protocol: TCP, port: 5432}]
---
apiVersion: v1
kind: Service
metadata: {name: hlx, namespace: prod}
spec:
  clusterIP: None
  externalIPs: [192.0.2.60]
  ports: [{name: pg, protocol: TCP, port: 5432}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: hl-v4
  namespace: prod
  labels: {kubernetes.io/service-name: hl}
addressType: IPv4
ports: [{name: pg, protocol: TCP, port: 5432}]
endpoints:
  - addresses: [10.1.0.10]
    hostname: db-0
    conditions: {ready: true}
  - addresses: [10.1.0.11]
    conditions: {ready: true}
  - addresses: [10.1.0.12]
    hostname: db-2
    conditions: {ready: false}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: hl-v6
  namespace: prod
  labels: {kubernetes.io/service-name: hl}
addressType: IPv6
ports: [{name: pg, protocol: TCP, port: 5432}]
endpoints:
  - addresses: ["fd00:10:1::5"]
    conditions: {ready: true}
"#;

/// Two server blocks on one port: `.` (external zones `example.org`, with `headless`,
/// `other.example`, whose name errors fall through to Knot, and a reverse zone for PTR) and
/// `ext.test` (`apex`, `ttl`).
fn corefile(kubeconfig: &str, knot: SocketAddr) -> String {
    format!(
        ".:{{PORT}} {{
 bind 127.0.0.1
 prometheus 127.0.0.1:{{MPORT}}
 kubernetes cluster.local {{
  kubeconfig {kubeconfig}
 }}
 k8s_external example.org other.example 113.0.203.in-addr.arpa {{
  headless
  fallthrough other.example
 }}
 forward . {knot}
}}
ext.test:{{PORT}} {{
 bind 127.0.0.1
 kubernetes cluster.local {{
  kubeconfig {kubeconfig}
 }}
 k8s_external {{
  apex ns
  ttl 60
 }}
}}
"
    )
}

/// The comparable form of an answer (over UDP, with EDNS so nothing is truncated).
fn ask(addr: SocketAddr, name: &str, qtype: RecordType) -> String {
    let mut m = Message::query();
    m.metadata.id = rand::random();
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    let mut edns = hickory_server::proto::op::Edns::new();
    edns.set_max_payload(4096);
    m.edns = Some(edns);
    let Some(r) = exchange(addr, &m.to_vec().unwrap()) else {
        return "no answer".into();
    };
    let section = |rs: &[hickory_server::proto::rr::Record]| -> Vec<String> {
        let mut v: Vec<String> = rs
            .iter()
            .filter(|r| r.record_type() != RecordType::OPT)
            .map(|r| {
                let s = r.to_string();
                if r.record_type() != RecordType::SOA {
                    return s;
                }
                // owner ttl class SOA mname rname serial refresh retry expire minimum
                let mut f: Vec<&str> = s.split_whitespace().collect();
                if f.len() > 6 {
                    f[6] = "<serial>";
                }
                f.join(" ")
            })
            .collect();
        v.sort();
        v
    };
    let md = &r.metadata;
    format!(
        "{:?} aa={} tc={} rd={} ra={}\n answer {:?}\n authority {:?}\n additional {:?}",
        md.response_code,
        md.authoritative,
        md.truncation,
        md.recursion_desired,
        md.recursion_available,
        section(&r.answers),
        section(&r.authorities),
        section(&r.additionals),
    )
}

fn exchange(addr: SocketAddr, bytes: &[u8]) -> Option<Message> {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").ok()?;
    s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    s.send_to(bytes, addr).ok()?;
    let mut buf = vec![0u8; 65535];
    let (n, _) = s.recv_from(&mut buf).ok()?;
    Message::from_vec(&buf[..n]).ok()
}

/// The questions: every name with the types k8s_external answers and some it does not.
fn questions() -> Vec<(String, RecordType)> {
    use RecordType::*;
    let mut q = Vec::new();
    let names = [
        "lb.prod.example.org.",
        "LB.Prod.Example.ORG.",
        "_http._tcp.lb.prod.example.org.",
        "_dns._udp.lb.prod.example.org.",
        "_dns._tcp.lb.prod.example.org.",
        "ext.prod.example.org.",
        "_https._tcp.ext.prod.example.org.",
        "hl.prod.example.org.",
        "_pg._tcp.hl.prod.example.org.",
        "db-0.hl.prod.example.org.",
        "10-1-0-11.hl.prod.example.org.",
        "fd00-10-1--5.hl.prod.example.org.",
        "db-2.hl.prod.example.org.",
        "db-0.ext.prod.example.org.",
        "hlx.prod.example.org.",
        "plain.prod.example.org.",
        "nope.prod.example.org.",
        "prod.example.org.",
        "nons.example.org.",
        "a.b.c.lb.prod.example.org.",
        "example.org.",
        "Example.Org.",
        "dns.example.org.",
        "ns1.dns.example.org.",
        "ns2.dns.example.org.",
        "x.ns1.dns.example.org.",
        "lb.prod.other.example.",
        "fromknot.other.example.",
        "nope.prod.other.example.",
        "other.example.",
        "ext.test.",
        "ns1.ns.ext.test.",
        "lb.prod.ext.test.",
        "ext.prod.ext.test.",
        "113.0.203.in-addr.arpa.",
        "10.113.0.203.in-addr.arpa.",
        "99.113.0.203.in-addr.arpa.",
        "lb.prod.113.0.203.in-addr.arpa.",
    ];
    for n in names {
        for t in [A, AAAA, SRV, TXT, CNAME, MX, NS, SOA, PTR] {
            q.push((n.to_string(), t));
        }
    }
    q
}

/// Names `k8s_external` hands on (`fallthrough`) to `forward`: kdns's `forward` sets RA on
/// every relayed answer (README, `forward`), CoreDNS relays Knot's flags (no RA, Knot is
/// authoritative only). For these, kdns must say RA and the rest must match.
const FORWARDED: &[&str] = &["fromknot.other.example.", "nope.prod.other.example."];

/// Asks both servers `qs`; returns the differences. `forwarded`: the names relayed by
/// `forward` (see [`FORWARDED`]).
fn compare(
    cd: SocketAddr,
    kd: SocketAddr,
    qs: &[(String, RecordType)],
    forwarded: &[&str],
) -> Vec<String> {
    let mut diffs = Vec::new();
    for (name, t) in qs {
        let (a, mut b) = (ask(cd, name, *t), ask(kd, name, *t));
        if forwarded.contains(&name.as_str()) && b.contains(" ra=true\n") {
            b = b.replacen(" ra=true\n", " ra=false\n", 1);
        } else if forwarded.contains(&name.as_str()) {
            diffs.push(format!("{name} {t}: kdns's forward did not set RA: {b}"));
        }
        if a != b {
            diffs.push(format!("{name} {t}\n CoreDNS: {a}\n kdns:    {b}"));
        }
    }
    diffs
}

/// Waits (bounded) until `name` A on both servers `holds`.
fn both_see(servers: [SocketAddr; 2], name: &str, holds: impl Fn(&str) -> bool) {
    for addr in servers {
        let seen = wait_until(Duration::from_secs(15), || {
            holds(&ask(addr, name, RecordType::A))
        });
        assert!(
            seen.is_some(),
            "{addr}: {name}: {}",
            ask(addr, name, RecordType::A)
        );
    }
}

/// The label sets, labels sorted (the `server` label left out: each server has its own port), of
/// `coredns_dns_responses_total` for `plugin="k8s_external"`.
fn responses_by_plugin(metrics: &str) -> std::collections::BTreeSet<String> {
    metrics
        .lines()
        .filter(|l| l.starts_with("coredns_dns_responses_total{"))
        .filter(|l| l.contains("plugin=\"k8s_external\""))
        .map(|l| {
            let labels = l.split(['{', '}']).nth(1).unwrap_or("");
            let mut kept: Vec<&str> = labels
                .split(',')
                .filter(|kv| !kv.starts_with("server="))
                .collect();
            kept.sort_unstable();
            kept.join(",")
        })
        .collect()
}

fn patch_status(cluster: &Cluster, ingress: &str) {
    let body = format!(r#"{{"status":{{"loadBalancer":{{"ingress":{ingress}}}}}}}"#);
    let args = [
        "patch",
        "service",
        "lb",
        "-n",
        "prod",
        "--subresource=status",
    ];
    let (ok, out) = cluster.kubectl(&[&args[..], &["--type=merge", "-p", &body]].concat());
    assert!(ok, "{out}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kube-apiserver, etcd and CoreDNS: scripts/build-tools.sh"]
async fn k8s_external_answers_as_coredns_does() {
    let _g = SERIAL.lock().await;
    let t0 = Instant::now();
    let cluster = Cluster::start();
    let file = cluster.dir.path().join("objects.yaml");
    std::fs::write(&file, OBJECTS).unwrap();
    let (ok, out) = cluster.kubectl(&["apply", "-f", &file.display().to_string()]);
    assert!(ok, "{out}");
    patch_status(
        &cluster,
        r#"[{"ip":"203.0.113.10"},{"ip":"2001:db8::10"},{"hostname":"www.example.test"}]"#,
    );
    let other = "$TTL 300\n@ IN SOA ns.other.example. admin.other.example. 1 3600 600 86400 60\n@ IN NS ns\nns IN A 127.0.0.1\nfromknot IN A 192.0.2.99\n";
    let knot = Knot::start(
        "127.0.0.1",
        &[
            ("example.test", example_zone()),
            ("other.example", other.into()),
        ],
    );
    let text = corefile(&cluster.kubeconfig().display().to_string(), knot.addr);
    let mport = free_port("127.0.0.1");
    let core = CoreDns::start(&text.replace("{MPORT}", &mport.to_string()), "example.org");
    let kdns = Kdns::start(&text.replace("{PORT}", "0").replace("{MPORT}", "0"), None);
    let servers = [core.addr, kdns.addr];
    both_see(servers, "lb.prod.example.org.", |a| {
        a.contains("203.0.113.10") && a.contains("192.0.2.10")
    });
    both_see(servers, "hl.prod.example.org.", |a| a.contains("10.1.0.11"));

    let qs = questions();
    let diffs = compare(core.addr, kdns.addr, &qs, FORWARDED);
    println!(
        "compared {} answers with CoreDNS 1.14.7: {} differ",
        qs.len(),
        diffs.len()
    );
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    // The answers count under `plugin="k8s_external"` with the same labels (CoreDNS has no
    // metrics of its own for the plugin; the counts differ with the polling above).
    let km = http_get(kdns.http_addr("/metrics"), "/metrics").1;
    let cm = http_get(format!("127.0.0.1:{mport}").parse().unwrap(), "/metrics").1;
    let (k, c) = (responses_by_plugin(&km), responses_by_plugin(&cm));
    assert!(k.iter().any(|l| l.contains("rcode=\"NXDOMAIN\"")), "{k:?}");
    assert_eq!(
        k, c,
        "coredns_dns_responses_total label sets, kdns then CoreDNS"
    );
    // The comparison is not vacuous: kdns's own answers carry what the objects say.
    let lb = ask(kdns.addr, "lb.prod.example.org.", RecordType::A);
    for want in ["203.0.113.10", "CNAME www.example.test.", "192.0.2.11"] {
        assert!(lb.contains(want), "{lb}");
    }
    let srv = ask(
        kdns.addr,
        "_http._tcp.lb.prod.example.org.",
        RecordType::SRV,
    );
    assert!(srv.contains("SRV 0 33 80 lb.prod.example.org."), "{srv}");
    let ptr = ask(kdns.addr, "10.113.0.203.in-addr.arpa.", RecordType::PTR);
    assert!(ptr.contains("PTR lb.prod.example.org."), "{ptr}");
    let hl = ask(kdns.addr, "_pg._tcp.hl.prod.example.org.", RecordType::SRV);
    assert!(
        hl.contains("db-0.hl.prod.example.org. 5 IN A 10.1.0.10"),
        "{hl}"
    );
    assert!(!hl.contains("10.1.0.12"), "not ready: {hl}");

    // The load balancer changes: an address added, the hostname gone; then no ingress at all.
    let lb_qs: Vec<(String, RecordType)> = qs
        .iter()
        .filter(|(n, _)| n.to_ascii_lowercase().contains("lb.prod"))
        .cloned()
        .collect();
    patch_status(&cluster, r#"[{"ip":"203.0.113.10"},{"ip":"203.0.113.11"}]"#);
    both_see(servers, "lb.prod.example.org.", |a| {
        a.contains("203.0.113.11") && !a.contains("CNAME")
    });
    let diffs = compare(core.addr, kdns.addr, &lb_qs, FORWARDED);
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    patch_status(&cluster, "[]");
    both_see(servers, "lb.prod.example.org.", |a| {
        a.starts_with("NXDomain")
    });
    // Now a name error: in other.example it falls through to Knot.
    let forwarded = [FORWARDED, &["lb.prod.other.example."]].concat();
    let diffs = compare(core.addr, kdns.addr, &lb_qs, &forwarded);
    assert!(diffs.is_empty(), "{}", diffs.join("\n"));
    println!("k8s_external side by side: {:?}", t0.elapsed());
    // Both servers go before the API server, whose stop would otherwise wait on their watches.
    drop((kdns, core));
    cluster.stop();
}

const MANIFEST: &str = r#"
apiVersion: v1
kind: Namespace
metadata: {name: prod}
---
apiVersion: v1
kind: Service
metadata: {name: lb, namespace: prod}
spec:
  type: LoadBalancer
  clusterIP: 10.96.0.30
  externalIPs: [192.0.2.40]
  ports: [{name: http, protocol: TCP, port: 80}]
status:
  loadBalancer:
    ingress: [{ip: 203.0.113.20}, {ip: "2001:db8::20"}]
"#;

/// The manifests source carries outside addresses too: `spec.externalIPs` and the status's
/// ingress points are served from files, and an edit of the status is served after a reload.
/// (Expected answers from CoreDNS's rules: the addresses in object order, TTL 5, SRV target
/// `SERVICE.NAMESPACE.ZONE` with the addresses as additional records.)
#[test]
fn manifests_give_outside_addresses_too() {
    let dir = tempfile::tempdir().unwrap();
    let m = dir.path().join("m");
    std::fs::create_dir(&m).unwrap();
    std::fs::write(m.join("lb.yaml"), MANIFEST).unwrap();
    let corefile = ".:0 {\n bind 127.0.0.1\n kubernetes cluster.local {\n  manifests {DIR}/manifests\n }\n k8s_external example.org\n}\n";
    let k = Kdns::start(corefile, Some(&m));
    let a = |t| common::query(k.addr, "lb.prod.example.org.", t);
    let (rcode, answers) = a("A").unwrap();
    assert_eq!(rcode, "NOERROR");
    assert_eq!(
        answers,
        [
            "lb.prod.example.org. 5 IN A 192.0.2.40",
            "lb.prod.example.org. 5 IN A 203.0.113.20"
        ]
    );
    let (_, answers) = a("AAAA").unwrap();
    assert_eq!(answers, ["lb.prod.example.org. 5 IN AAAA 2001:db8::20"]);
    let (_, answers) = a("SRV").unwrap();
    assert_eq!(
        answers,
        ["lb.prod.example.org. 5 IN SRV 0 33 80 lb.prod.example.org."]
    );
    // The status changes on disk: the new ingress point is served.
    let edited = MANIFEST.replace("203.0.113.20", "203.0.113.21");
    std::fs::write(k.dir.path().join("manifests/lb.yaml"), edited).unwrap();
    let seen = wait_until(Duration::from_secs(5), || {
        a("A").is_some_and(|(_, v)| v.iter().any(|r| r.ends_with("203.0.113.21")))
    });
    assert!(seen.is_some(), "{:?}", a("A"));
}
