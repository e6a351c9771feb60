//! `autopath @kubernetes` side by side with the real CoreDNS 1.14.7 on a real kube-apiserver:
//! pods whose `status.podIP` is a loopback address (set through the status subresource; there
//! is no kubelet), EndpointSlices written by hand (the endpoint reconciler is off), Knot as the
//! upstream for outside names. dig asks from the pod's address (`-b`), so both servers place
//! the client by its source address, as in a cluster.
//!
//! The API server refuses loopback endpoint addresses, so each test runs itself again inside a
//! network namespace of its own (needs root and iproute2) whose `lo` also holds the pods'
//! addresses; everything there listens on that namespace's loopback.
mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::cluster::{Cluster, SERIAL};
use common::coredns::CoreDns;
use common::knot::{root_zone, Knot};
use common::netns::{link, Netns};
use common::{dig, http_get, records, status, wait_until, Kdns};
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, Patch, PatchParams, PostParams};
use serde_json::json;

/// The client pod of `shop`, a pod of `blog`, an address no object has, and the ready endpoint
/// of a slice in `ops` that no pod object backs (kdns without a pod watch places it).
const SHOP_POD: &str = "10.244.0.11";
const BLOG_POD: &str = "10.244.0.14";
const NOBODY: &str = "10.244.0.13";
const OPS_ENDPOINT: &str = "10.244.0.12";

/// Set in the copy of the test binary that runs inside the namespace.
const INSIDE: &str = "KDNS_AUTOPATH_NETNS";

/// Outside the namespace: runs `test` again inside a new one and checks it passed (true: the
/// caller is done). Inside: false, the caller runs the test.
fn ran_in_netns(test: &str) -> bool {
    if std::env::var_os(INSIDE).is_some() {
        return false;
    }
    let ns = Netns::new("autopath");
    for ip in [SHOP_POD, BLOG_POD, NOBODY, OPS_ENDPOINT] {
        let (code, out) = ns.run(&["ip", "addr", "add", &format!("{ip}/32"), "dev", "lo"]);
        assert_eq!(code, 0, "{out}");
    }
    let exe = std::env::current_exe().unwrap();
    let exe = exe.to_str().unwrap();
    let (code, out) = ns.run(&[
        "env",
        &format!("{INSIDE}=1"),
        exe,
        test,
        "--exact",
        "--include-ignored",
        "--nocapture",
    ]);
    assert!(
        code == 0 && out.contains("1 passed"),
        "{test} in {}:\n{out}",
        ns.name
    );
    true
}

async fn create<K>(c: &kube::Client, ns: Option<&str>, v: serde_json::Value) -> K
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
    K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>,
{
    let api: Api<K> = Api::namespaced(c.clone(), ns.unwrap_or("default"));
    api.create(&PostParams::default(), &serde_json::from_value(v).unwrap())
        .await
        .unwrap()
}

/// A running pod at `ip` (the status a kubelet would write).
async fn pod(c: &kube::Client, ns: &str, name: &str, ip: &str) {
    let _: Pod = create(
        c,
        Some(ns),
        json!({"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}),
    )
    .await;
    let api: Api<Pod> = Api::namespaced(c.clone(), ns);
    let st = json!({"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]}});
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&st))
        .await
        .unwrap();
}

async fn objects(c: &kube::Client) {
    let nss: Api<Namespace> = Api::all(c.clone());
    for ns in ["shop", "blog", "ops"] {
        let n = serde_json::from_value(json!({"metadata": {"name": ns}})).unwrap();
        nss.create(&PostParams::default(), &n).await.unwrap();
    }
    let port = json!([{"name": "http", "port": 80, "protocol": "TCP"}]);
    for ns in ["shop", "blog"] {
        let _: Service = create(
            c,
            Some(ns),
            json!({"metadata": {"name": "web"}, "spec": {"ports": port}}),
        )
        .await;
    }
    let _: Service = create(
        c,
        Some("shop"),
        json!({"metadata": {"name": "ext"}, "spec": {"type": "ExternalName", "externalName": "www.example.test"}}),
    )
    .await;
    let _: Service = create(
        c,
        Some("ops"),
        json!({"metadata": {"name": "db"}, "spec": {"clusterIP": "None", "ports": port}}),
    )
    .await;
    let _: EndpointSlice = create(
        c,
        Some("ops"),
        json!({"metadata": {"name": "db-1", "labels": {"kubernetes.io/service-name": "db"}}, "addressType": "IPv4",
               "ports": port, "endpoints": [{"addresses": [OPS_ENDPOINT], "conditions": {"ready": true}}]}),
    )
    .await;
    pod(c, "shop", "client", SHOP_POD).await;
    pod(c, "blog", "reader", BLOG_POD).await;
}

fn corefile(listen: &str, metrics: &str, kubeconfig: &str, pods: &str, up: SocketAddr) -> String {
    format!(
        "{listen} {{\n bind 127.0.0.1\n prometheus {metrics}\n autopath @kubernetes\n kubernetes cluster.local in-addr.arpa ip6.arpa {{\n  kubeconfig {kubeconfig}\n  pods {pods}\n }}\n forward . {up}\n}}\n"
    )
}

/// A dig answer without what differs between two servers by nature (ID, timing, server
/// address, size, RA on relayed answers), each section's records in a fixed order.
fn comparable(out: &str) -> Vec<String> {
    let skip = [
        ";; Query time",
        ";; SERVER",
        ";; WHEN",
        ";; MSG SIZE",
        "; <<>>",
        ";; global",
        ";; Got answer",
        ";; WARNING",
    ];
    let mut v = Vec::new();
    for block in out.split("\n\n") {
        let mut lines: Vec<String> = block
            .lines()
            .filter(|l| !l.is_empty() && !skip.iter().any(|p| l.starts_with(p)))
            .map(|l| {
                let l = l.split_whitespace().collect::<Vec<_>>().join(" ");
                let l = l.replacen(" ra;", ";", 1).replacen(" ra ", " ", 1);
                let l = match l.find(", id: ") {
                    Some(i) => l[..i].to_string(),
                    None => l,
                };
                // The SOA serial is left out: kdns's is a revision, CoreDNS's a clock.
                let mut f: Vec<&str> = l.split(' ').collect();
                if f.len() == 11 && f[3] == "SOA" {
                    f[6] = "<serial>";
                }
                f.join(" ")
            })
            .collect();
        if lines.first().is_some_and(|l| l.ends_with("SECTION:")) {
            lines[1..].sort();
        }
        v.extend(lines);
    }
    v
}

/// (client address, name, type) asked of both.
const QUESTIONS: &[(&str, &str, &str)] = &[
    (SHOP_POD, "web.shop.svc.cluster.local", "A"),
    (SHOP_POD, "web.shop.svc.cluster.local", "AAAA"),
    (SHOP_POD, "web.blog.shop.svc.cluster.local", "A"),
    (SHOP_POD, "Web.Blog.Shop.svc.cluster.local", "A"),
    (SHOP_POD, "www.example.test.shop.svc.cluster.local", "A"),
    (SHOP_POD, "www.example.test.shop.svc.cluster.local", "AAAA"),
    (SHOP_POD, "alias.example.test.shop.svc.cluster.local", "A"),
    (SHOP_POD, "nope.test.shop.svc.cluster.local", "A"),
    (SHOP_POD, "nope.shop.svc.cluster.local", "A"),
    (SHOP_POD, "ext.shop.svc.cluster.local", "A"),
    (SHOP_POD, "db.ops.shop.svc.cluster.local", "A"),
    (
        SHOP_POD,
        "_http._tcp.web.blog.shop.svc.cluster.local",
        "SRV",
    ),
    (SHOP_POD, "shop.svc.cluster.local", "A"),
    (SHOP_POD, "www.example.test.blog.svc.cluster.local", "A"),
    (SHOP_POD, "www.example.test", "A"),
    (BLOG_POD, "web.blog.svc.cluster.local", "A"),
    (BLOG_POD, "web.shop.blog.svc.cluster.local", "A"),
    (BLOG_POD, "www.example.test.shop.svc.cluster.local", "A"),
    (NOBODY, "www.example.test.shop.svc.cluster.local", "A"),
    // `pods verified` itself, from the pod index (protobuf-decoded pods).
    (NOBODY, "10-244-0-11.shop.pod.cluster.local", "A"),
    (NOBODY, "10-244-0-11.blog.pod.cluster.local", "A"),
    (NOBODY, "10-244-0-13.shop.pod.cluster.local", "A"),
    (OPS_ENDPOINT, "www.example.test.ops.svc.cluster.local", "A"),
];

fn success(metrics: SocketAddr) -> f64 {
    let (_, body) = http_get(metrics, "/metrics");
    body.lines()
        .filter(|l| l.starts_with("coredns_autopath_success_total{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn free_metrics() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// Polls until the pod of `shop` is placed (its search path finds `web.blog`).
fn placed(addr: SocketAddr) -> bool {
    wait_until(Duration::from_secs(20), || {
        status(&dig(
            addr,
            &["-b", SHOP_POD, "web.blog.shop.svc.cluster.local", "A"],
        )) == "NOERROR"
    })
    .is_some()
}

/// The test's objects in a fresh API server, a Knot upstream for the root, and kdns and CoreDNS
/// on the same Corefile with `pods MODE` and `autopath @kubernetes`, each with its metrics.
/// Hold it whole: dropping it stops the API server and the upstream.
struct Pair {
    k: Kdns,
    cd: CoreDns,
    km: SocketAddr,
    cm: SocketAddr,
    _up: Knot,
    _cluster: Cluster,
}

impl Pair {
    async fn start(pods: &str) -> Pair {
        let cluster = Cluster::start();
        objects(&cluster.client().await).await;
        let up = Knot::start("127.0.0.1", &[(".", root_zone())]);
        let kc = cluster.kubeconfig().display().to_string();
        let (km, cm) = (free_metrics(), free_metrics());
        let k = Kdns::start(&corefile(".:0", &km.to_string(), &kc, pods, up.addr), None);
        let cd = CoreDns::start(
            &corefile(".:{PORT}", &cm.to_string(), &kc, pods, up.addr),
            "www.example.test",
        );
        Pair {
            k,
            cd,
            km,
            cm,
            _up: up,
            _cluster: cluster,
        }
    }
}

#[tokio::test]
#[ignore = "needs CoreDNS, kube-apiserver and etcd from scripts/build-tools.sh"]
async fn answers_match_coredns_with_pods_verified() {
    let _g = SERIAL.lock().await;
    if ran_in_netns("answers_match_coredns_with_pods_verified") {
        return;
    }
    let p = Pair::start("verified").await;
    let (k, cd, km, cm) = (&p.k, &p.cd, p.km, p.cm);
    assert!(placed(k.addr), "kdns never placed the client:\n{}", k.log());
    assert!(placed(cd.addr), "CoreDNS never placed the client");
    let (k0, c0) = (success(km), success(cm));
    let mut differ = Vec::new();
    for (src, name, qtype) in QUESTIONS {
        for extra in [&["+nocookie"][..], &["+tcp", "+nocookie"][..]] {
            let mut args = vec!["-b", src, name, qtype];
            args.extend_from_slice(extra);
            let (ko, co) = (dig(k.addr, &args), dig(cd.addr, &args));
            assert_ne!(status(&ko), "<no status>", "{args:?}: {ko}");
            if comparable(&ko) != comparable(&co) {
                differ.push(format!("{args:?}\n--- kdns:\n{ko}\n--- coredns:\n{co}"));
            }
        }
    }
    assert!(differ.is_empty(), "{}", differ.join("\n=====\n"));
    let (kd, cdd) = (success(km) - k0, success(cm) - c0);
    assert_eq!(kd, cdd, "coredns_autopath_success_total moved alike");
    assert!(kd >= 20.0, "most questions were autopathed: {kd}");
    // The walk found `web.blog` for the pod of shop: a CNAME to it, then its address.
    let out = records(&dig(
        k.addr,
        &[
            "-b",
            SHOP_POD,
            "+noall",
            "+answer",
            "web.blog.shop.svc.cluster.local",
            "A",
        ],
    ));
    let cname = "web.blog.shop.svc.cluster.local. 5 IN CNAME web.blog.svc.cluster.local.";
    assert!(out.contains(&cname.to_string()), "{out:?}");
}

/// Without `pods verified` CoreDNS does no autopath at all; kdns places a client by the ready
/// endpoints of the EndpointSlices (no pod watch), and only such a client.
#[tokio::test]
#[ignore = "needs CoreDNS, kube-apiserver and etcd from scripts/build-tools.sh"]
async fn without_a_pod_watch_endpoints_place_the_client() {
    let _g = SERIAL.lock().await;
    if ran_in_netns("without_a_pod_watch_endpoints_place_the_client") {
        return;
    }
    let p = Pair::start("insecure").await;
    let (k, cd, cm) = (&p.k, &p.cd, p.cm);
    let name = "www.example.test.ops.svc.cluster.local";
    let got = wait_until(Duration::from_secs(20), || {
        status(&dig(k.addr, &["-b", OPS_ENDPOINT, name, "A"])) == "NOERROR"
    });
    assert!(
        got.is_some(),
        "kdns never placed the endpoint:\n{}",
        k.log()
    );
    let out = records(&dig(
        k.addr,
        &["-b", OPS_ENDPOINT, "+noall", "+answer", name, "A"],
    ));
    let cname = format!("{name}. 300 IN CNAME www.example.test.");
    assert!(out.contains(&cname), "{out:?}");
    // CoreDNS: no pod cache, no autopath (the plain NXDOMAIN).
    assert_eq!(
        status(&dig(cd.addr, &["-b", OPS_ENDPOINT, name, "A"])),
        "NXDOMAIN"
    );
    assert_eq!(success(cm), 0.0);
    // A pod without a ready endpoint is not placed: the plain answer, as any stranger gets.
    for src in [SHOP_POD, NOBODY] {
        let n = "www.example.test.shop.svc.cluster.local";
        assert_eq!(
            status(&dig(k.addr, &["-b", src, n, "A"])),
            "NXDOMAIN",
            "{src}"
        );
    }
}

/// The objects of the client test, as manifests: two namespaces with a `web` each, the client
/// pod of `shop` at 10.253.5.2 and a slice of `shop` whose ready endpoint is that pod.
const CLIENT_MANIFESTS: &str = "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop}\n---\n\
apiVersion: v1\nkind: Namespace\nmetadata: {name: blog}\n---\n\
apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: shop}\nspec: {clusterIP: 10.96.5.20, ports: [{name: http, port: 80}]}\n---\n\
apiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: blog}\nspec: {clusterIP: 10.96.5.21, ports: [{name: http, port: 80}]}\n---\n\
apiVersion: v1\nkind: Pod\nmetadata: {name: client, namespace: shop}\nspec: {containers: [{name: c, image: busybox}]}\nstatus: {phase: Running, podIP: 10.253.5.2, podIPs: [{ip: 10.253.5.2}]}\n---\n\
apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: web-1, namespace: shop, labels: {kubernetes.io/service-name: web}}\n\
addressType: IPv4\nports: [{name: http, port: 80}]\nendpoints: [{addresses: [10.253.5.2], conditions: {ready: true}}]\n";

/// A static musl program that resolves its argument with `getaddrinfo` (musl's own stub
/// resolver: A and AAAA at once, the search list when the name has fewer dots than `ndots`)
/// and prints the addresses; built with `musl-gcc` (Debian `musl-tools`).
fn musl_lookup(dir: &std::path::Path) -> String {
    let src = dir.join("lookup.c");
    std::fs::write(
        &src,
        r#"#include <netdb.h>
#include <stdio.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>
int main(int argc, char **argv) {
    struct addrinfo hints = {0}, *res, *r;
    char buf[64];
    hints.ai_socktype = SOCK_STREAM;
    int e = getaddrinfo(argv[1], 0, &hints, &res);
    if (e) { fputs(gai_strerror(e), stderr); return 2; }
    for (r = res; r; r = r->ai_next) {
        void *a = r->ai_family == AF_INET ? (void *)&((struct sockaddr_in *)r->ai_addr)->sin_addr
                                          : (void *)&((struct sockaddr_in6 *)r->ai_addr)->sin6_addr;
        puts(inet_ntop(r->ai_family, a, buf, sizeof buf));
    }
    return 0;
}
"#,
    )
    .unwrap();
    let bin = dir.join("musl-lookup");
    let out = std::process::Command::new("musl-gcc")
        .args(["-static", "-O1", "-o"])
        .arg(&bin)
        .arg(&src)
        .output()
        .expect("musl-gcc (apt-get install musl-tools; scripts/install-deps.sh)");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    bin.display().to_string()
}

/// Queries kdns has answered so far (`coredns_dns_requests_total`, read in its namespace),
/// once the count has held still for 200 ms.
fn answered(dns: &Netns) -> f64 {
    let read = || {
        let (_, out) = dns.run(&["curl", "-s", "-m", "3", "http://127.0.0.1:9153/metrics"]);
        out.lines()
            .filter(|l| l.starts_with("coredns_dns_requests_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum::<f64>()
    };
    let mut n = read();
    for _ in 0..20 {
        std::thread::sleep(Duration::from_millis(200));
        let now = read();
        if now == n {
            break;
        }
        n = now;
    }
    n
}

/// Real resolvers in a "pod" (glibc `getent hosts`, `busybox nslookup`, musl's `getaddrinfo`;
/// resolv.conf with the
/// pod's search path and `ndots:5`) asking kdns across a veth: how many queries one lookup
/// sends without `autopath`, with it (`pods verified`), and with it placed by endpoints alone.
#[test]
fn clients_send_fewer_queries_with_autopath() {
    let dns = Netns::new("apdns");
    let pod = Netns::new("appod");
    link(&pod, "10.253.5.2/24", &dns, "10.253.5.1/24");
    pod.resolv_conf(
        "search shop.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.253.5.1\noptions ndots:5\n",
    );
    let _knot = Knot::start_in(&dns.prefix(), "127.0.0.1", 5300, &[(".", root_zone())]);
    let up = wait_until(Duration::from_secs(10), || {
        let out = dns.run(&[
            "dig",
            "+tries=1",
            "+time=1",
            "@127.0.0.1",
            "-p",
            "5300",
            "example.test",
            "SOA",
        ]);
        status(&out.1) == "NOERROR"
    });
    assert!(up.is_some(), "knotd in the dns namespace does not answer");
    let tools = tempfile::tempdir().unwrap();
    let musl = musl_lookup(tools.path());
    let lookups: [(&str, &[&str]); 7] = [
        (
            "getent hosts www.example.test",
            &["getent", "hosts", "www.example.test"],
        ),
        ("getent hosts web.blog", &["getent", "hosts", "web.blog"]),
        ("getent hosts web", &["getent", "hosts", "web"]),
        (
            "busybox nslookup www.example.test",
            &["busybox", "nslookup", "www.example.test"],
        ),
        (
            "musl getaddrinfo www.example.test",
            &[&musl, "www.example.test"],
        ),
        ("musl getaddrinfo web.blog", &[&musl, "web.blog"]),
        ("musl getaddrinfo web", &[&musl, "web"]),
    ];
    let mut table = Vec::new();
    for (label, autopath, pods) in [
        ("no autopath", "", "verified"),
        (
            "autopath, pods verified",
            " autopath @kubernetes\n",
            "verified",
        ),
        (
            "autopath, endpoints only",
            " autopath @kubernetes\n",
            "insecure",
        ),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let m = dir.path().join("manifests");
        std::fs::create_dir(&m).unwrap();
        std::fs::write(m.join("all.yaml"), CLIENT_MANIFESTS).unwrap();
        let conf = dir.path().join("Corefile");
        std::fs::write(
            &conf,
            format!(
                ".:53 {{\n prometheus 127.0.0.1:9153\n{autopath} kubernetes cluster.local {{\n  manifests {}\n  pods {pods}\n }}\n forward . 127.0.0.1:5300\n}}\n",
                m.display()
            ),
        )
        .unwrap();
        let k = Kdns::start_in(&dns.prefix(), &conf, dir);
        let mut row: Vec<f64> = Vec::new();
        for (name, cmd) in lookups {
            let from = answered(&dns);
            let (code, out) = pod.run(cmd);
            let want: &[&str] = if name.contains("example") {
                &["192.0.2.1", "2001:db8::10"]
            } else {
                &["10.96.5.2"]
            };
            let found = want.iter().any(|w| out.contains(w));
            assert!(code == 0 && found, "{label}: {name}: {out}\n{}", k.log());
            let n = answered(&dns) - from;
            row.push(n);
        }
        println!("{label}: {row:?}");
        table.push(row);
    }
    for (i, (name, _)) in lookups.iter().enumerate() {
        println!(
            "{name}: {} queries without autopath, {} with (pods verified), {} with (endpoints)",
            table[0][i], table[1][i], table[2][i]
        );
    }
    // glibc, outside names and names of other namespaces: the walk is the server's, one
    // question per address family instead of one per search element.
    for i in [0, 1, 4, 5] {
        assert!(table[1][i] < table[0][i], "{}: {table:?}", lookups[i].0);
        assert_eq!(table[1][i], table[2][i], "{}: {table:?}", lookups[i].0);
    }
    // A name of the pod's own namespace is found at once either way; busybox's nslookup
    // (1.35) asks the name as written, never under the search path: autopath never sees it.
    for i in [2, 3, 6] {
        assert_eq!(table[0][i], table[1][i], "{}: {table:?}", lookups[i].0);
    }
}
