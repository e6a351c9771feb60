//! The SOA serial agrees across replicas (issue #13): it is the latest revision
//! (`resourceVersion`) that changed the zone, so kdns replicas watching one API server answer the
//! same serial at rest, a replica's serial never goes back, and a DNS-neutral write (a label)
//! does not move it. CoreDNS's serial is each replica's own clock.
//!
//! Real kube-apiserver + etcd on loopback; slow: `cargo test -- --include-ignored`.
mod common;

use std::time::Duration;

use common::cluster::{Cluster, SERIAL};
use common::{query, wait_until, Kdns};
use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, DeleteParams, ListParams, Patch, PatchParams, PostParams};
use serde_json::json;

fn corefile(kubeconfig: &std::path::Path) -> String {
    format!(
        "cluster.local:0 {{\n bind 127.0.0.1\n kubernetes cluster.local {{\n  kubeconfig {}\n }}\n}}\n",
        kubeconfig.display()
    )
}

/// The serial of `cluster.local. SOA` as `k` answers it now.
fn serial(k: &Kdns) -> Option<u64> {
    let (rcode, answers) = query(k.addr, "cluster.local.", "SOA")?;
    if rcode != "NOERROR" {
        return None;
    }
    // owner ttl class SOA mname rname serial refresh retry expire minimum
    answers.first()?.split_whitespace().nth(6)?.parse().ok()
}

/// Waits until `k` answers a serial equal to `want`; returns the last one seen.
fn serial_becomes(k: &Kdns, want: u64) -> Option<u64> {
    let mut last = None;
    wait_until(Duration::from_secs(10), || {
        last = serial(k);
        last == Some(want)
    });
    last
}

fn rv(m: &kube::api::ObjectMeta) -> u64 {
    m.resource_version.as_deref().unwrap().parse().unwrap()
}

/// The highest resourceVersion of every object kdns watches here: what a replica that lists
/// the cluster now must answer as its serial.
async fn max_listed_rv(c: &kube::Client) -> u64 {
    let lp = ListParams::default();
    let svcs = Api::<Service>::all(c.clone()).list(&lp).await.unwrap();
    let slices = Api::<EndpointSlice>::all(c.clone())
        .list(&lp)
        .await
        .unwrap();
    let nss = Api::<Namespace>::all(c.clone()).list(&lp).await.unwrap();
    let a = svcs.items.iter().map(|o| rv(&o.metadata));
    let b = slices.items.iter().map(|o| rv(&o.metadata));
    let n = nss.items.iter().map(|o| rv(&o.metadata));
    a.chain(b).chain(n).max().unwrap()
}

fn slice(name: &str, svc: &str, ip: &str) -> EndpointSlice {
    serde_json::from_value(json!({"metadata": {"name": name,
        "labels": {"kubernetes.io/service-name": svc}}, "addressType": "IPv4",
        "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
        "endpoints": [{"addresses": [ip], "conditions": {"ready": true}}]}))
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kube-apiserver and etcd: scripts/build-tools.sh"]
async fn replicas_on_one_api_server_agree_on_the_serial_and_it_never_goes_back() {
    let _g = SERIAL.lock().await;
    let cluster = Cluster::start();
    let c = cluster.client().await;
    let nss: Api<Namespace> = Api::all(c.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "s1"}})).unwrap();
    nss.create(&PostParams::default(), &ns).await.unwrap();

    let core = corefile(&cluster.kubeconfig());
    let a = Kdns::start(&core, None);
    let b = Kdns::start(&core, None);
    // At start each replica's serial is the newest object it listed.
    let listed = max_listed_rv(&c).await;
    assert_eq!(serial_becomes(&a, listed), Some(listed), "{}", a.log());
    assert_eq!(serial_becomes(&b, listed), Some(listed), "{}", b.log());

    // Many changes of every kind, while `a` is sampled: its serial never goes back.
    let svcs: Api<Service> = Api::namespaced(c.clone(), "s1");
    let eps: Api<EndpointSlice> = Api::namespaced(c.clone(), "s1");
    let pp = PostParams::default();
    let mut seen = vec![serial(&a).unwrap()];
    let mut last_relevant = 0;
    for i in 0..30 {
        let name = format!("web{i}");
        let svc: Service = serde_json::from_value(json!({"metadata": {"name": name},
            "spec": {"clusterIP": "None", "ports": [{"name": "http", "port": 80}]}}))
        .unwrap();
        last_relevant = rv(&svcs.create(&pp, &svc).await.unwrap().metadata);
        let s = eps
            .create(
                &pp,
                &slice(&format!("{name}-1"), &name, &format!("10.9.0.{}", i + 1)),
            )
            .await
            .unwrap();
        last_relevant = last_relevant.max(rv(&s.metadata));
        if i % 3 == 0 {
            let moved = slice(&format!("{name}-1"), &name, &format!("10.9.1.{}", i + 1));
            let patch = Patch::Merge(json!({"endpoints": moved.endpoints}));
            let s = eps
                .patch(&format!("{name}-1"), &PatchParams::default(), &patch)
                .await
                .unwrap();
            last_relevant = rv(&s.metadata);
        }
        if i % 5 == 4 {
            svcs.delete(&name, &DeleteParams::default()).await.unwrap();
            eps.delete(&format!("{name}-1"), &DeleteParams::default())
                .await
                .unwrap();
        }
        if i == 15 {
            // The API server restarts under both replicas (killed: watches break at once).
            cluster.kill_apiserver();
            cluster.restart_apiserver();
            let t0 = std::time::Instant::now();
            while nss.list(&ListParams::default()).await.is_err() {
                assert!(
                    t0.elapsed() < Duration::from_secs(30),
                    "the API server is back"
                );
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
        seen.extend(serial(&a));
    }
    // The last DNS-relevant write: a slice that moves. Then a DNS-neutral one (a label).
    let moved = slice("web1-1", "web1", "10.9.2.1");
    let patch = Patch::Merge(json!({"endpoints": moved.endpoints}));
    let s = eps
        .patch("web1-1", &PatchParams::default(), &patch)
        .await
        .unwrap();
    last_relevant = last_relevant.max(rv(&s.metadata));
    let label = Patch::Merge(json!({"metadata": {"labels": {"team": "dns"}}}));
    let labelled = svcs
        .patch("web1", &PatchParams::default(), &label)
        .await
        .unwrap();
    assert!(rv(&labelled.metadata) > last_relevant);

    // At rest both replicas answer the revision of the last write that changed DNS.
    assert_eq!(
        serial_becomes(&a, last_relevant),
        Some(last_relevant),
        "{}",
        a.log()
    );
    assert_eq!(
        serial_becomes(&b, last_relevant),
        Some(last_relevant),
        "{}",
        b.log()
    );
    seen.extend(serial(&a));
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]),
        "the serial went back: {seen:?}"
    );
    assert!(seen.first() < seen.last(), "the changes moved it: {seen:?}");
    // The label moved nothing, even a little later.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(serial(&a), Some(last_relevant));

    // A replica started now cannot tell the label from a change: it answers the newest object
    // version it listed (likewise, one started after a deletion answers the newest surviving
    // object's). The next change brings every replica to the same serial again.
    let late = Kdns::start(&core, None);
    let want = max_listed_rv(&c).await;
    assert_eq!(
        want,
        rv(&labelled.metadata),
        "the label is the newest object version"
    );
    assert_eq!(serial_becomes(&late, want), Some(want), "{}", late.log());
    let svc: Service = serde_json::from_value(json!({"metadata": {"name": "last"},
        "spec": {"clusterIP": "None", "ports": [{"name": "http", "port": 80}]}}))
    .unwrap();
    let now = rv(&svcs.create(&pp, &svc).await.unwrap().metadata);
    for k in [&a, &b, &late] {
        assert_eq!(serial_becomes(k, now), Some(now), "{}", k.log());
    }
    drop(cluster);
}
