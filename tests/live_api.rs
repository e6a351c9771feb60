//! kdns against a real kube-apiserver + etcd on loopback (built from Go modules by
//! scripts/build-tools.sh, started by scripts/apiserver.sh). Slow: run with
//! `cargo test -- --include-ignored` (scripts/test-all.sh does).
mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::cluster::{client_for, finish, Cluster, SERIAL};
use common::{query, wait_until, Kdns};
use k8s_openapi::api::core::v1::{Namespace, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams};
use serde_json::json;

const IGNORE: &str = "needs kube-apiserver and etcd: scripts/build-tools.sh";

fn corefile(kubeconfig: &std::path::Path, extra: &str) -> String {
    format!(
        "cluster.local:0 in-addr.arpa:0 ip6.arpa:0 {{\n bind 127.0.0.1\n kubernetes cluster.local in-addr.arpa ip6.arpa {{\n  kubeconfig {}\n  pods verified\n{extra} }}\n}}\n",
        kubeconfig.display()
    )
}

async fn create_ns(c: &kube::Client, name: &str) {
    let api: Api<Namespace> = Api::all(c.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": name}})).unwrap();
    api.create(&PostParams::default(), &ns).await.unwrap();
}

async fn create_svc(c: &kube::Client, ns: &str, v: serde_json::Value) -> Service {
    let api: Api<Service> = Api::namespaced(c.clone(), ns);
    api.create(&PostParams::default(), &serde_json::from_value(v).unwrap())
        .await
        .unwrap()
}

async fn create_slice(c: &kube::Client, ns: &str, v: serde_json::Value) -> EndpointSlice {
    let api: Api<EndpointSlice> = Api::namespaced(c.clone(), ns);
    api.create(&PostParams::default(), &serde_json::from_value(v).unwrap())
        .await
        .unwrap()
}

fn answers(k: &Kdns, name: &str, qtype: &str) -> (String, Vec<String>) {
    query(k.addr, name, qtype).unwrap_or(("TIMEOUT".into(), vec![]))
}

fn rdata(records: &[String]) -> Vec<String> {
    let mut v: Vec<String> = records
        .iter()
        .map(|r| r.split_whitespace().skip(4).collect::<Vec<_>>().join(" "))
        .collect();
    v.sort();
    v
}

/// Polls until `name qtype` answers with exactly `want` (rdata), within `limit`.
fn eventually(k: &Kdns, name: &str, qtype: &str, want: &[&str], limit: Duration) {
    let mut want: Vec<String> = want.iter().map(|s| s.to_string()).collect();
    want.sort();
    let mut last = (String::new(), vec![]);
    let ok = wait_until(limit, || {
        last = answers(k, name, qtype);
        rdata(&last.1) == want
    });
    assert!(
        ok.is_some(),
        "{name} {qtype}: want {want:?}, last answer {last:?}\nkdns log:\n{}",
        k.log()
    );
}

fn eventually_rcode(k: &Kdns, name: &str, qtype: &str, rcode: &str, limit: Duration) {
    let mut last = (String::new(), vec![]);
    let ok = wait_until(limit, || {
        last = answers(k, name, qtype);
        last.0 == rcode
    });
    assert!(
        ok.is_some(),
        "{name} {qtype}: want {rcode}, last {last:?}\nkdns log:\n{}",
        k.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kube-apiserver and etcd: scripts/build-tools.sh"]
async fn dns_follows_the_api_server() {
    let _g = SERIAL.lock().await;
    let _ = IGNORE;
    let cluster = Cluster::start();
    let c = cluster.client().await;
    create_ns(&c, "t1").await;
    let web = create_svc(
        &c,
        "t1",
        json!({"metadata": {"name": "web"}, "spec": {"ipFamilyPolicy": "PreferDualStack",
            "ports": [{"name": "http", "port": 80}, {"name": "dns", "port": 53, "protocol": "UDP"}]}}),
    )
    .await;
    let ips = web.spec.unwrap().cluster_ips.unwrap();
    assert_eq!(ips.len(), 2, "dual-stack allocation: {ips:?}");
    create_svc(&c, "t1", json!({"metadata": {"name": "db"}, "spec": {"clusterIP": "None", "ports": [{"name": "pg", "port": 5432}]}})).await;
    create_slice(
        &c,
        "t1",
        json!({"metadata": {"name": "db-1", "labels": {"kubernetes.io/service-name": "db"}}, "addressType": "IPv4",
            "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}],
            "endpoints": [{"addresses": ["10.1.0.10"], "hostname": "db-0", "conditions": {"ready": true}},
                          {"addresses": ["10.1.0.11"], "conditions": {"ready": true}},
                          {"addresses": ["10.1.0.12"], "conditions": {"ready": false}}]}),
    )
    .await;
    create_svc(&c, "t1", json!({"metadata": {"name": "ext"}, "spec": {"type": "ExternalName", "externalName": "web.t1.svc.cluster.local"}})).await;

    let metrics_addr: std::net::SocketAddr = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let core = corefile(&cluster.kubeconfig(), "").replace(
        " bind 127.0.0.1\n",
        &format!(" bind 127.0.0.1\n prometheus {metrics_addr}\n ready 127.0.0.1:0\n"),
    );
    let k = Kdns::start(&core, None);
    let long = Duration::from_secs(10);
    let v4 = ips.iter().find(|i| !i.contains(':')).unwrap().clone();
    let v6 = ips.iter().find(|i| i.contains(':')).unwrap().clone();
    eventually(&k, "web.t1.svc.cluster.local.", "A", &[&v4], long);
    eventually(&k, "web.t1.svc.cluster.local.", "AAAA", &[&v6], long);
    eventually(
        &k,
        "_http._tcp.web.t1.svc.cluster.local.",
        "SRV",
        &["0 50 80 web.t1.svc.cluster.local."],
        long,
    );
    eventually(
        &k,
        "db.t1.svc.cluster.local.",
        "A",
        &["10.1.0.10", "10.1.0.11"],
        long,
    );
    eventually(
        &k,
        "db-0.db.t1.svc.cluster.local.",
        "A",
        &["10.1.0.10"],
        long,
    );
    eventually(
        &k,
        "ext.t1.svc.cluster.local.",
        "A",
        &["web.t1.svc.cluster.local.", &v4],
        long,
    );
    let rev: Vec<&str> = v4.split('.').rev().collect();
    eventually(
        &k,
        &format!("{}.in-addr.arpa.", rev.join(".")),
        "PTR",
        &["web.t1.svc.cluster.local."],
        long,
    );
    eventually_rcode(&k, "t1.svc.cluster.local.", "A", "NOERROR", long);
    eventually_rcode(&k, "nope.t1.svc.cluster.local.", "A", "NXDOMAIN", long);
    eventually(
        &k,
        "kubernetes.default.svc.cluster.local.",
        "A",
        &["10.96.0.1"],
        long,
    );

    // Updates: ExternalName target, endpoint readiness, deletion, a new namespace.
    let svcs: Api<Service> = Api::namespaced(c.clone(), "t1");
    svcs.patch(
        "ext",
        &PatchParams::default(),
        &Patch::Merge(json!({"spec": {"externalName": "db.t1.svc.cluster.local"}})),
    )
    .await
    .unwrap();
    eventually(
        &k,
        "ext.t1.svc.cluster.local.",
        "CNAME",
        &["db.t1.svc.cluster.local."],
        long,
    );
    let slices: Api<EndpointSlice> = Api::namespaced(c.clone(), "t1");
    slices
        .patch(
            "db-1",
            &PatchParams::default(),
            &Patch::Merge(
                json!({"endpoints": [{"addresses": ["10.1.0.12"], "conditions": {"ready": true}}]}),
            ),
        )
        .await
        .unwrap();
    eventually(&k, "db.t1.svc.cluster.local.", "A", &["10.1.0.12"], long);
    svcs.delete("web", &DeleteParams::default()).await.unwrap();
    eventually_rcode(&k, "web.t1.svc.cluster.local.", "A", "NXDOMAIN", long);
    create_ns(&c, "t2").await;
    eventually_rcode(&k, "t2.svc.cluster.local.", "A", "NOERROR", long);

    // Programming latency: Service created through the API → answered, over 200 creates. A
    // second round of 200 is measured only when the first misses (a machine busy with other
    // work); the target must hold in one round.
    create_ns(&c, "lat").await;
    let mut p99s = Vec::new();
    for round in 0..2 {
        let mut lat: Vec<Duration> = Vec::new();
        for i in 0..200 {
            let name = format!("s{round}-{i}");
            let t0 = Instant::now();
            let s = create_svc(
                &c,
                "lat",
                json!({"metadata": {"name": name}, "spec": {"ports": [{"port": 80}]}}),
            )
            .await;
            let ip = s.spec.unwrap().cluster_ip.unwrap();
            let q = format!("{name}.lat.svc.cluster.local.");
            let waited = wait_until(Duration::from_secs(5), || {
                answers(&k, &q, "A").1.iter().any(|r| r.ends_with(&ip))
            });
            assert!(waited.is_some(), "{q} never answered");
            lat.push(t0.elapsed());
        }
        lat.sort();
        let (p50, p99) = (lat[lat.len() / 2], lat[lat.len() * 99 / 100]);
        println!(
            "create→answer over 200 Services (API write included), round {round}: p50 {p50:?} p99 {p99:?} max {:?}",
            lat[lat.len() - 1]
        );
        p99s.push(p99);
        if p99 < Duration::from_millis(100) {
            break;
        }
    }
    assert!(
        p99s.iter().any(|p| *p < Duration::from_millis(100)),
        "p99 per round {p99s:?}"
    );

    // The same latency as CoreDNS's SLI metric, per service kind.
    let (code, body) = common::http_get(metrics_addr, "/metrics");
    assert_eq!(code, 200);
    let count = |kind: &str| -> f64 {
        body.lines()
            .find(|l| {
                l.starts_with("coredns_kubernetes_dns_programming_duration_seconds_count")
                    && l.contains(&format!("service_kind=\"{kind}\""))
            })
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    assert!(
        count("cluster_ip") >= 200.0,
        "programming latency recorded:\n{body}"
    );
    assert!(
        count("headless") >= 1.0,
        "slice changes of a headless service recorded:\n{body}"
    );
    assert!(body.contains("kdns_kubernetes_synced 1"), "{body}");
    assert!(
        body.contains("kdns_kubernetes_watch_failing_since_seconds 0"),
        "{body}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kube-apiserver and etcd: scripts/build-tools.sh"]
async fn survives_api_server_and_etcd_restarts_without_nxdomain() {
    let _g = SERIAL.lock().await;
    let cluster = Cluster::start();
    let c = cluster.client().await;
    create_ns(&c, "r").await;
    let a = create_svc(
        &c,
        "r",
        json!({"metadata": {"name": "stable"}, "spec": {"ports": [{"port": 80}]}}),
    )
    .await;
    let a_ip = a.spec.unwrap().cluster_ip.unwrap();
    create_svc(
        &c,
        "r",
        json!({"metadata": {"name": "doomed"}, "spec": {"ports": [{"port": 80}]}}),
    )
    .await;
    let k = Arc::new(Kdns::start(&corefile(&cluster.kubeconfig(), ""), None));
    eventually(
        &k,
        "stable.r.svc.cluster.local.",
        "A",
        &[&a_ip],
        Duration::from_secs(10),
    );

    // A stream of queries for an existing name for the whole test: never NXDOMAIN.
    let stop = Arc::new(AtomicBool::new(false));
    let (bad, total) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let streamer = {
        let (k, stop, bad, total) = (k.clone(), stop.clone(), bad.clone(), total.clone());
        std::thread::spawn(move || {
            let mut seen = Vec::new();
            while !stop.load(Ordering::Relaxed) {
                let (rc, ans) = answers(&k, "stable.r.svc.cluster.local.", "A");
                total.fetch_add(1, Ordering::Relaxed);
                if rc != "NOERROR" || ans.is_empty() {
                    bad.fetch_add(1, Ordering::Relaxed);
                    seen.push(rc);
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            seen
        })
    };

    // API server restart, with changes made while kdns's watch is down.
    cluster.restart_apiserver();
    let c = cluster.client().await;
    let svcs: Api<Service> = Api::namespaced(c.clone(), "r");
    let b = create_svc(
        &c,
        "r",
        json!({"metadata": {"name": "born-in-outage"}, "spec": {"ports": [{"port": 80}]}}),
    )
    .await;
    svcs.delete("doomed", &DeleteParams::default())
        .await
        .unwrap();
    let b_ip = b.spec.unwrap().cluster_ip.unwrap();
    eventually(
        &k,
        "born-in-outage.r.svc.cluster.local.",
        "A",
        &[&b_ip],
        Duration::from_secs(30),
    );
    eventually_rcode(
        &k,
        "doomed.r.svc.cluster.local.",
        "A",
        "NXDOMAIN",
        Duration::from_secs(30),
    );

    // etcd restart under the running API server.
    cluster.restart_etcd();
    let c2 = create_svc(
        &c,
        "r",
        json!({"metadata": {"name": "after-etcd"}, "spec": {"ports": [{"port": 80}]}}),
    )
    .await;
    let c2_ip = c2.spec.unwrap().cluster_ip.unwrap();
    eventually(
        &k,
        "after-etcd.r.svc.cluster.local.",
        "A",
        &[&c2_ip],
        Duration::from_secs(30),
    );

    stop.store(true, Ordering::Relaxed);
    let seen = streamer.join().unwrap();
    let (bad, total) = (bad.load(Ordering::Relaxed), total.load(Ordering::Relaxed));
    println!("queries during restarts: {total}, failed: {bad} ({seen:?})");
    assert!(total > 100, "the stream ran ({total})");
    assert_eq!(bad, 0, "an existing name must keep resolving: {seen:?}");
    assert!(
        k.log().contains("recovered"),
        "staleness logged on recovery:\n{}",
        k.log()
    );
}

/// Whether the API server's `/readyz` answers 200 (within a second).
async fn readyz(c: &kube::Client) -> bool {
    let req = http::Request::get("/readyz")
        .body(kube::client::Body::empty())
        .unwrap();
    let res = tokio::time::timeout(Duration::from_secs(1), c.send(req)).await;
    matches!(res, Ok(Ok(r)) if r.status() == http::StatusCode::OK)
}

/// Kills the API server, leaves it down for `down`, restarts it; returns the moment its
/// `/readyz` is 200 again, polled every 20 ms with `admin` (scripts/apiserver.sh waits for the
/// same, polling every 200 ms), and the script, still finishing. Killed, not stopped: a stopped
/// API server keeps its watches open until the script kills it 20 s later, and kdns sees the
/// same either way: its connections break, then nothing answers until the new server is up.
async fn restart_apiserver_until_ready(
    cluster: &Cluster,
    admin: &kube::Client,
    down: Duration,
) -> (Instant, std::process::Child) {
    cluster.kill_apiserver();
    tokio::time::sleep(down).await;
    let script = cluster.spawn_restart_apiserver();
    let t0 = Instant::now();
    while !readyz(admin).await {
        assert!(t0.elapsed() < Duration::from_secs(60), "no /readyz 200");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    (Instant::now(), script)
}

/// Issue #12: kdns on a real API server with deploy/'s RBAC. The API server restarts; the
/// moment its /readyz is 200 again a Service is created and another deleted, and kdns must
/// serve both changes within a second, every time. A restarted API server denies requests
/// for a while as its RBAC caches fill: that must neither set kdns back by seconds nor be
/// reported as missing permission.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kube-apiserver and etcd: scripts/build-tools.sh"]
async fn changes_right_after_an_api_server_restart_are_served_within_a_second() {
    let _g = SERIAL.lock().await;
    let cluster = Cluster::start();
    // kdns as deployed: the admin (system:masters) would never be denied.
    let (ok, out) = cluster.kubectl(&[
        "apply",
        "-f",
        concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/rbac.yaml"),
    ]);
    assert!(ok, "{out}");
    let (ok, out) = cluster.kubectl(&[
        "create",
        "clusterrolebinding",
        "kdns-test-reader",
        "--clusterrole=system:kdns",
        "--user=dns-reader",
    ]);
    assert!(ok, "{out}");
    let admin = cluster.client().await;
    create_ns(&admin, "rs").await;
    let port = json!({"ports": [{"port": 80}]});
    let s0 = create_svc(
        &admin,
        "rs",
        json!({"metadata": {"name": "s0"}, "spec": port}),
    )
    .await;
    let k = Kdns::start(&corefile(&cluster.reader_kubeconfig(), ""), None);
    let s0_ip = s0.spec.unwrap().cluster_ip.unwrap();
    eventually(
        &k,
        "s0.rs.svc.cluster.local.",
        "A",
        &[&s0_ip],
        Duration::from_secs(10),
    );

    // Run r deletes s{r} and creates s{r+1}, which run r+1 deletes. Down for 3 s, as in a
    // restart: long enough for a backoff to grow.
    let down = Duration::from_secs(3);
    let mut runs = Vec::new();
    for r in 0..3 {
        let (ready, script) = restart_apiserver_until_ready(&cluster, &admin, down).await;
        let (old, new) = (format!("s{r}"), format!("s{}", r + 1));
        let created = create_svc(
            &admin,
            "rs",
            json!({"metadata": {"name": new}, "spec": port}),
        )
        .await;
        let svcs: Api<Service> = Api::namespaced(admin.clone(), "rs");
        svcs.delete(&old, &DeleteParams::default()).await.unwrap();
        let written = ready.elapsed();
        let ip = created.spec.unwrap().cluster_ip.unwrap();
        let (new_q, old_q) = (
            format!("{new}.rs.svc.cluster.local."),
            format!("{old}.rs.svc.cluster.local."),
        );
        let (mut answered, mut gone) = (None, None);
        wait_until(Duration::from_secs(10), || {
            if answered.is_none() && answers(&k, &new_q, "A").1.iter().any(|a| a.ends_with(&ip)) {
                answered = Some(ready.elapsed());
            }
            if gone.is_none() && answers(&k, &old_q, "A").0 == "NXDOMAIN" {
                gone = Some(ready.elapsed());
            }
            answered.is_some() && gone.is_some()
        });
        println!(
            "run {r}: after /readyz 200, written {written:?}; {new} answered {answered:?}, \
             {old} NXDOMAIN {gone:?}"
        );
        runs.push((answered, gone));
        finish(script);
    }
    let limit = Duration::from_secs(1);
    let slow = |t: &Option<Duration>| t.is_none_or(|t| t > limit);
    assert!(
        !runs.iter().any(|(a, g)| slow(a) || slow(g)),
        "served later than {limit:?} after /readyz 200: {runs:?}\nkdns log:\n{}",
        k.log()
    );
    assert!(
        !k.log().contains("missing RBAC permission"),
        "a restarting API server's denials are no missing permission:\n{}",
        k.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kube-apiserver and etcd: scripts/build-tools.sh"]
async fn unsynced_answers_servfail_never_nxdomain() {
    let _g = SERIAL.lock().await;
    let cluster = Cluster::start();
    let kubeconfig = cluster.kubeconfig();
    cluster.stop();
    let k = Kdns::start(&corefile(&kubeconfig, "  startup_timeout 1s\n"), None);
    let t0 = Instant::now();
    let (rc, _) = answers(&k, "nope.default.svc.cluster.local.", "A");
    assert_eq!(rc, "SERVFAIL", "not synced: SERVFAIL, never NXDOMAIN");
    assert!(
        t0.elapsed() >= Duration::from_millis(900),
        "the first query waits for startup_timeout: {:?}",
        t0.elapsed()
    );
    let t1 = Instant::now();
    let (rc, _) = answers(&k, "kubernetes.default.svc.cluster.local.", "A");
    assert_eq!(rc, "SERVFAIL");
    assert!(
        t1.elapsed() < Duration::from_millis(500),
        "after the deadline no more waiting"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kube-apiserver and etcd: scripts/build-tools.sh"]
async fn deploy_rbac_is_enough_and_no_more() {
    let _g = SERIAL.lock().await;
    let cluster = Cluster::start();
    let reader = cluster.reader_kubeconfig();
    // Without the role: a clear log naming the resource and the verb.
    let k = Kdns::start(&corefile(&reader, "  startup_timeout 1s\n"), None);
    assert!(
        wait_until(Duration::from_secs(10), || k
            .log()
            .contains("missing RBAC permission"))
        .is_some(),
        "{}",
        k.log()
    );
    drop(k);
    // deploy/'s ClusterRole, bound to the test user.
    let (ok, out) = cluster.kubectl(&[
        "apply",
        "-f",
        concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/rbac.yaml"),
    ]);
    assert!(ok, "{out}");
    let (ok, out) = cluster.kubectl(&[
        "create",
        "clusterrolebinding",
        "kdns-test-reader",
        "--clusterrole=system:kdns",
        "--user=dns-reader",
    ]);
    assert!(ok, "{out}");
    let k = Kdns::start(&corefile(&reader, ""), None);
    eventually(
        &k,
        "kubernetes.default.svc.cluster.local.",
        "A",
        &["10.96.0.1"],
        Duration::from_secs(10),
    );
    // …and it cannot read Secrets.
    let rc = client_for(&reader).await;
    let secrets: Api<Secret> = Api::all(rc);
    let err = secrets
        .list(&Default::default())
        .await
        .expect_err("Secrets must be forbidden");
    assert!(
        err.to_string().contains("forbidden") || err.to_string().contains("403"),
        "{err}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kube-apiserver and etcd: scripts/build-tools.sh"]
async fn deploy_manifests_are_valid() {
    let _g = SERIAL.lock().await;
    let cluster = Cluster::start();
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy");
    // The namespace exists in every cluster; PriorityClass system-cluster-critical is built in.
    // `-f DIR` is not recursive: the chart's templates under deploy/helm/ are not read.
    let (ok, out) = cluster.kubectl(&["apply", "--dry-run=server", "-f", dir]);
    assert!(ok, "{out}");
    for kind in [
        "serviceaccount/kdns ",
        "clusterrole.rbac.authorization.k8s.io/system:kdns ",
        "clusterrolebinding.",
        "configmap/kdns ",
        "deployment.apps/kdns ",
        "service/",
        "poddisruptionbudget.",
        // deploy/autoscaler.yaml
        "deployment.apps/kdns-autoscaler ",
        "configmap/kdns-autoscaler ",
        "role.rbac.authorization.k8s.io/kdns-autoscaler ",
        "rolebinding.rbac.authorization.k8s.io/kdns-autoscaler ",
        "clusterrole.rbac.authorization.k8s.io/system:kdns-autoscaler ",
    ] {
        assert!(
            out.contains(kind),
            "{kind} missing from the dry run:\n{out}"
        );
    }
    assert!(!out.contains("node-local"), "{out}");
    let (ok, out) = cluster.kubectl(&["apply", "--server-side", "-f", dir]);
    assert!(ok, "{out}");
    // The per-node shape: a DaemonSet of the full kdns, kube-dns kept on the node.
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/per-node");
    let (ok, out) = cluster.kubectl(&["apply", "--server-side", "-f", dir]);
    assert!(ok, "{out}");
    assert!(
        out.contains("daemonset.apps/kdns") && out.contains("service/kube-dns"),
        "{out}"
    );
    let (ok, out) = cluster.kubectl(&[
        "get",
        "service",
        "-n",
        "kube-system",
        "kube-dns",
        "-o",
        "jsonpath={.spec.trafficDistribution}",
    ]);
    assert_eq!(
        (ok, out.trim()),
        (true, "PreferSameNode"),
        "the API server kept it"
    );
    // The node-local role (system-node-critical is built in too).
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/node-local");
    let (ok, out) = cluster.kubectl(&["apply", "--dry-run=server", "-f", dir]);
    assert!(ok, "{out}");
    for kind in [
        "configmap/kdns-node-local",
        "daemonset.apps/kdns-node-local",
        "service/kdns-upstream",
        "service/kdns-node-local",
    ] {
        assert!(
            out.contains(kind),
            "{kind} missing from the dry run:\n{out}"
        );
    }
}

/// GETs `path` with `accept`; returns the content type and the body.
async fn get_raw(c: &kube::Client, path: &str, accept: &str) -> (String, Vec<u8>) {
    use http_body_util::BodyExt;
    let req = http::Request::get(path)
        .header(http::header::ACCEPT, accept)
        .body(kube::client::Body::empty())
        .unwrap();
    let res = c.send(req).await.unwrap();
    assert!(res.status().is_success(), "{path}: {}", res.status());
    let ct = res.headers()[http::header::CONTENT_TYPE]
        .to_str()
        .unwrap()
        .to_string();
    (
        ct,
        res.into_body().collect().await.unwrap().to_bytes().to_vec(),
    )
}

/// Decodes a protobuf list body, feeding it in small pieces as a network would.
fn proto_items<T>(
    body: &[u8],
    decode: fn(&[u8]) -> Result<T, kdns::source::proto::ProtoError>,
) -> Vec<T> {
    let mut d = kdns::source::proto::ListDecoder::new();
    let mut out = Vec::new();
    for piece in body.chunks(1000) {
        d.feed(piece, &mut |b| decode(b).map(|o| out.push(o)))
            .unwrap();
    }
    assert!(!d.finish().unwrap().resource_version.is_empty());
    out
}

/// kdns lists Services and EndpointSlices in protobuf: the real API server's protobuf and
/// JSON encodings of the same objects must give the same zone objects and metadata.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kube-apiserver and etcd: scripts/build-tools.sh"]
async fn protobuf_lists_decode_like_json() {
    use k8s_openapi::api::core::v1::Pod;
    use kdns::source::objects::{PodObj, ServiceObj, SliceObj};
    use kdns::source::{convert, proto};
    let _g = SERIAL.lock().await;
    let cluster = Cluster::start();
    let c = cluster.client().await;
    create_ns(&c, "pb").await;
    create_svc(&c, "pb", json!({"metadata": {"name": "web", "labels": {"app": "web"}}, "spec": {"ipFamilyPolicy": "PreferDualStack",
        "selector": {"app": "web"},
        "ports": [{"name": "http", "port": 80, "targetPort": 8080}, {"name": "dns", "port": 53, "protocol": "UDP"}]}})).await;
    create_svc(&c, "pb", json!({"metadata": {"name": "db"}, "spec": {"clusterIP": "None", "ports": [{"port": 5432}]}})).await;
    create_svc(&c, "pb", json!({"metadata": {"name": "ext"}, "spec": {"type": "ExternalName", "externalName": "example.org."}})).await;
    // `k8s_external`'s fields: spec.externalIPs and the status's load balancer ingress points.
    create_svc(
        &c,
        "pb",
        json!({"metadata": {"name": "lb"}, "spec": {"type": "LoadBalancer",
        "externalIPs": ["192.0.2.1", "2001:db8::1"], "ports": [{"name": "http", "port": 80}]}}),
    )
    .await;
    let status = r#"{"status":{"loadBalancer":{"ingress":[{"ip":"203.0.113.10","ipMode":"VIP","ports":[{"port":80,"protocol":"TCP"}]},{"hostname":"lb.example.test"}]}}}"#;
    let (ok, out) = cluster.kubectl(&[
        "patch",
        "service",
        "lb",
        "-n",
        "pb",
        "--subresource=status",
        "--type=merge",
        "-p",
        status,
    ]);
    assert!(ok, "{out}");
    create_slice(&c, "pb", json!({"metadata": {"name": "db-1", "labels": {"kubernetes.io/service-name": "db"}}, "addressType": "IPv4",
        "ports": [{"port": 5432, "protocol": "TCP"}],
        "endpoints": [{"addresses": ["10.1.0.10"], "hostname": "db-0", "zone": "z1", "nodeName": "n1",
                       "targetRef": {"kind": "Pod", "name": "db-0-pod", "namespace": "pb"}, "conditions": {"ready": true}},
                      {"addresses": ["10.1.0.11"]},
                      {"addresses": ["10.1.0.12"], "conditions": {"ready": false, "serving": true}}]})).await;
    create_slice(&c, "pb", json!({"metadata": {"name": "db-2", "labels": {"kubernetes.io/service-name": "db"}}, "addressType": "IPv6",
        "endpoints": [{"addresses": ["fd00:10:1::5"], "conditions": {"ready": true}}]})).await;
    // Pods (for `pods verified`): a dual-stack running one, a finished one, one without status.
    let pods: Api<Pod> = Api::namespaced(c.clone(), "pb");
    for (name, status) in [
        (
            "run",
            Some(
                json!({"phase": "Running", "podIP": "10.1.0.20", "podIPs": [{"ip": "10.1.0.20"}, {"ip": "fd00:10:1::20"}]}),
            ),
        ),
        (
            "done",
            Some(
                json!({"phase": "Succeeded", "podIP": "10.1.0.21", "podIPs": [{"ip": "10.1.0.21"}]}),
            ),
        ),
        ("new", None),
    ] {
        let p = json!({"metadata": {"name": name}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}});
        pods.create(&PostParams::default(), &serde_json::from_value(p).unwrap())
            .await
            .unwrap();
        if let Some(st) = status {
            let st = json!({ "status": st });
            pods.patch_status(name, &PatchParams::default(), &Patch::Merge(&st))
                .await
                .unwrap();
        }
    }
    let (ct, pb) = get_raw(&c, "/api/v1/namespaces/pb/pods", proto::CONTENT_TYPE).await;
    assert!(ct.starts_with(proto::CONTENT_TYPE), "pods: got {ct}");
    let (_, js) = get_raw(&c, "/api/v1/namespaces/pb/pods", "application/json").await;
    let js: serde_json::Value = serde_json::from_slice(&js).unwrap();
    let from_pb = proto_items(&pb, proto::pod);
    let from_js: Vec<PodObj> = serde_json::from_value(js["items"].clone()).unwrap();
    assert_eq!((from_pb.len(), from_js.len()), (3, 3));
    for (a, b) in from_pb.iter().zip(&from_js) {
        assert_eq!(convert::pod(a), convert::pod(b));
        assert_eq!(a.metadata, b.metadata);
    }
    let placed: Vec<_> = from_pb.iter().filter_map(convert::pod).collect();
    assert_eq!(placed.len(), 1, "only the running pod: {placed:?}");
    assert_eq!(placed[0].ips.len(), 2, "both families");

    for (path, is_slice) in [
        ("/api/v1/namespaces/pb/services", false),
        (
            "/apis/discovery.k8s.io/v1/namespaces/pb/endpointslices",
            true,
        ),
    ] {
        let (ct, pb) = get_raw(&c, path, proto::CONTENT_TYPE).await;
        assert!(ct.starts_with(proto::CONTENT_TYPE), "{path}: got {ct}");
        let (_, js) = get_raw(&c, path, "application/json").await;
        let js: serde_json::Value = serde_json::from_slice(&js).unwrap();
        let items = js["items"].clone();
        if is_slice {
            let from_pb = proto_items(&pb, proto::slice);
            let from_js: Vec<SliceObj> = serde_json::from_value(items).unwrap();
            assert_eq!(from_pb.len(), 2);
            assert_eq!(from_pb.len(), from_js.len());
            for (a, b) in from_pb.iter().zip(&from_js) {
                assert_eq!(convert::slice(a), convert::slice(b));
                assert_eq!(a.metadata, b.metadata);
            }
            let db1 = convert::slice(&from_pb[0]).unwrap();
            assert_eq!(db1.endpoints.len(), 2, "the not-ready endpoint is left out");
            assert_eq!(db1.endpoints[0].zone.as_deref(), Some("z1"));
            assert_eq!(db1.endpoints[0].pod_name.as_deref(), Some("db-0-pod"));
        } else {
            let from_pb = proto_items(&pb, proto::service);
            let from_js: Vec<ServiceObj> = serde_json::from_value(items).unwrap();
            assert_eq!(from_pb.len(), 4);
            for (a, b) in from_pb.iter().zip(&from_js) {
                assert_eq!(convert::service(a), convert::service(b));
                assert_eq!(convert::has_selector(a), convert::has_selector(b));
                assert_eq!(a.metadata, b.metadata);
            }
            let lb = convert::service(&from_pb[2]);
            assert_eq!(&*lb.name, "lb");
            assert_eq!(lb.external.len(), 4, "{:?}", lb.external);
            assert!(from_pb[0].metadata.managed_fields.is_some());
        }
    }
    cluster.stop();
}

/// `apiserver_qps`/`apiserver_burst` throttle kdns's own requests: at 1 per second with a burst
/// of 1 the four lists (Services, Namespaces, EndpointSlices, Pods for `pods verified`) cannot
/// all start before 3 s; without the options the same start is much faster.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kube-apiserver and etcd: scripts/build-tools.sh"]
async fn apiserver_qps_throttles_the_lists() {
    let _g = SERIAL.lock().await;
    let cluster = Cluster::start();
    let c = cluster.client().await;
    create_ns(&c, "rl").await;
    let web = create_svc(
        &c,
        "rl",
        json!({"metadata": {"name": "web"}, "spec": {"ports": [{"port": 80}]}}),
    )
    .await;
    let ip = web.spec.unwrap().cluster_ip.unwrap();
    let time_to_answer = |extra: &str| {
        let t0 = Instant::now();
        let k = Kdns::start(&corefile(&cluster.kubeconfig(), extra), None);
        eventually(
            &k,
            "web.rl.svc.cluster.local.",
            "A",
            &[&ip],
            Duration::from_secs(30),
        );
        t0.elapsed()
    };
    let limited = time_to_answer("  apiserver_qps 1\n  apiserver_burst 1\n");
    let free = time_to_answer("");
    assert!(
        limited >= Duration::from_millis(2900),
        "4 lists at 1/s, burst 1: {limited:?}"
    );
    assert!(
        free + Duration::from_millis(1500) < limited,
        "unthrottled {free:?} vs throttled {limited:?}"
    );
    cluster.stop();
}
