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

/// A negative answer outlives changes elsewhere in the UDP packet cache, and every replay
/// carries the serial of now: the bytes a lower-case question gets (replayed) equal, but for
/// the ID and the question's case, what the same question in mixed case gets (never replayed:
/// the full path), after each change. A change in the name's own namespace ends the replay.
/// Manifests (no API server): fast.
#[test]
fn negative_replays_carry_the_serial_of_now() {
    use hickory_server::proto::op::Message;
    let fixture =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/coredns/fixtures/serve");
    let k = Kdns::start(
        "cluster.local:0 {\n bind 127.0.0.1\n kubernetes cluster.local {\n  manifests {DIR}/manifests\n }\n}\n",
        Some(&fixture),
    );
    let ask = |name: &str| -> Message {
        let m = udp_query(k.addr, name).unwrap_or_else(|| panic!("{name}: no reply"));
        Message::from_vec(&m).unwrap()
    };
    // (name in lower case, the same name as a client in mixed case writes it)
    let names = [
        (
            "nope.testns.svc.cluster.local.",
            "Nope.testns.svc.cluster.local.",
        ),
        (
            "svc1.testns.svc.cluster.local.",
            "Svc1.testns.svc.cluster.local.",
        ), // a hit
        ("google.com.cluster.local.", "Google.com.cluster.local."),
        (
            "google.com.svc.cluster.local.",
            "Google.com.svc.cluster.local.",
        ),
        (
            "x.nsnoexist.svc.cluster.local.",
            "X.nsnoexist.svc.cluster.local.",
        ),
    ];
    let same = |lower: &Message, mixed: &Message, name: &str| {
        assert_eq!(
            lower.metadata.response_code, mixed.metadata.response_code,
            "{name}"
        );
        assert_eq!(lower.answers.len(), mixed.answers.len(), "{name}");
        assert_eq!(
            lower.authorities, mixed.authorities,
            "{name}: the SOA (serial)"
        );
    };
    let extra = k.dir.path().join("manifests/extra.yaml");
    let mut last = serial(&k).expect("a serial");
    for round in 0..4 {
        for (lower, mixed) in names {
            let (a, b, c) = (ask(lower), ask(lower), ask(mixed));
            same(&a, &c, lower);
            same(&b, &c, lower);
        }
        // A change elsewhere (namespace `other`): the serial moves.
        std::fs::write(
            &extra,
            format!(
                "apiVersion: v1\nkind: Service\nmetadata: {{name: extra, namespace: other}}\nspec:\n  clusterIP: 10.9.0.{}\n  ports: [{{port: 80}}]\n",
                round + 1
            ),
        )
        .unwrap();
        let moved = wait_until(Duration::from_secs(10), || {
            serial(&k).is_some_and(|s| s != last)
        });
        assert!(moved.is_some(), "round {round}: the serial did not move");
        last = serial(&k).unwrap();
        let nope = ask("nope.testns.svc.cluster.local.");
        let soa = nope.authorities[0].to_string();
        assert!(
            soa.contains(&format!(" {last} ")),
            "round {round}: a replay with an old serial: {soa}, now {last}"
        );
    }
    // A change in testns itself: `nope` appears, the cached NXDOMAIN goes.
    std::fs::write(
        &extra,
        "apiVersion: v1\nkind: Service\nmetadata: {name: nope, namespace: testns}\nspec:\n  clusterIP: 10.9.1.1\n  ports: [{port: 80}]\n",
    )
    .unwrap();
    let found = wait_until(Duration::from_secs(10), || {
        ask("nope.testns.svc.cluster.local.").answers.len() == 1
    });
    assert!(
        found.is_some(),
        "the replayed NXDOMAIN outlived its own namespace's change"
    );
}

/// `name` A over UDP, lower or mixed case as written, without EDNS: the reply's bytes.
fn udp_query(addr: std::net::SocketAddr, name: &str) -> Option<Vec<u8>> {
    use hickory_server::proto::op::{Message, Query};
    use hickory_server::proto::rr::{Name, RecordType};
    let mut m = Message::query();
    m.metadata.id = rand::random();
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).ok()?, RecordType::A));
    let s = std::net::UdpSocket::bind("127.0.0.1:0").ok()?;
    s.set_read_timeout(Some(Duration::from_secs(3))).ok()?;
    s.send_to(&m.to_vec().ok()?, addr).ok()?;
    let mut buf = vec![0u8; 4096];
    let n = s.recv(&mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}
