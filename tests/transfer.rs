//! `transfer`: zone transfers of the cluster zone, checked with real parts.
//!
//! - kdns and CoreDNS 1.14.7 watch the same real kube-apiserver (the cluster fixture plus 300
//!   generated Services, enough for several messages) and `kdig AXFR` gets the same records from
//!   both, SOA first and last (the SOA serial is left out: each server stamps its own change
//!   time; the order in between may differ: CoreDNS sorts Services by name alone, its
//!   EndpointSlices come in informer order). Both refuse AXFR over UDP and from a client not in
//!   `to`; both answer an IXFR at their own serial with the SOA alone. Both blocks hold `cache`
//!   and `loadbalance` too: neither stores nor shuffles a transfer.
//! - A real Knot secondary loads the zone from kdns by AXFR and answers for its names as kdns does.
//! - A zone of 2,000 Services (manifests: CoreDNS cannot read them) goes over several messages,
//!   and Knot loads it whole.
mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::cluster::{Cluster, SERIAL};
use common::coredns::CoreDns;
use common::knot::Knot;
use common::{kdig, query, status, wait_until, Kdns};

/// The records of a kdig transfer, in order, whitespace-normalized, the SOA serial masked.
fn transferred(out: &str) -> Vec<String> {
    out.lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .map(|l| {
            let mut f: Vec<&str> = l.split_whitespace().collect();
            if f.get(3) == Some(&"SOA") && f.len() > 6 {
                f[6] = "<serial>";
            }
            f.join(" ")
        })
        .collect()
}

/// The Services in transfer order: the `NAME` of each run of records under `NAME.NS.svc.ZONE`.
fn service_order(t: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut last = String::new();
    for r in t {
        let owner = r.split_whitespace().next().unwrap_or("");
        let Some(rest) = owner.strip_suffix(".svc.cluster.local.") else {
            continue;
        };
        let labels: Vec<&str> = rest.rsplit('.').take(2).collect();
        let key = labels.join(".");
        if key != last {
            out.push(labels.last().unwrap_or(&"").to_string());
            last = key;
        }
    }
    out
}

/// kdig's `(N messages, M records)` of a transfer.
fn counts(out: &str) -> (usize, usize) {
    let tail = out
        .split(";; Received ")
        .nth(1)
        .and_then(|r| r.split_once('(').map(|(_, t)| t.to_string()))
        .unwrap_or_else(|| panic!("no transfer summary in:\n{out}"));
    let nums: Vec<usize> = tail
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|n| n.parse().ok())
        .collect();
    (nums[0], nums[1])
}

fn axfr(addr: SocketAddr, extra: &[&str]) -> String {
    let mut args = vec!["AXFR", "cluster.local."];
    args.extend_from_slice(extra);
    kdig(addr, &args)
}

/// The SOA serial `addr` answers with.
fn serial(addr: SocketAddr) -> String {
    let out = kdig(addr, &["SOA", "cluster.local.", "+short"]);
    out.split_whitespace().nth(2).unwrap_or("").to_string()
}

/// The answer records of one question, sorted, without their TTLs (`cache` counts them down).
fn answer(addr: SocketAddr, name: &str, qtype: &str) -> Vec<String> {
    let out = kdig(addr, &[qtype, name, "+noall", "+answer"]);
    let mut v: Vec<String> = common::records(&out)
        .iter()
        .map(|r| {
            let mut f: Vec<&str> = r.split_whitespace().collect();
            if f.len() > 1 {
                f.remove(1);
            }
            f.join(" ")
        })
        .collect();
    v.sort();
    v
}

/// `n` ClusterIP Services in namespace `bulk`, one named port each.
fn bulk_services(n: usize) -> String {
    let mut y = String::from("apiVersion: v1\nkind: Namespace\nmetadata: {name: bulk}\n");
    for i in 0..n {
        y.push_str(&format!(
            "---\napiVersion: v1\nkind: Service\nmetadata: {{name: svc-{i:04}, namespace: bulk}}\n\
             spec:\n  clusterIP: 10.96.{}.{}\n  ports: [{{name: http, protocol: TCP, port: 80}}]\n",
            10 + i / 250,
            i % 250 + 1
        ));
    }
    y
}

fn corefile(port: &str, source: &str) -> String {
    format!(
        "cluster.local:{port} {{\n bind 127.0.0.1\n kubernetes cluster.local {{\n{source} }}\n transfer {{\n  to 127.0.0.1 192.0.2.1:5300\n }}\n cache 30\n loadbalance\n}}\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kube-apiserver, etcd and CoreDNS: scripts/build-tools.sh"]
async fn kdns_transfers_what_coredns_transfers_and_knot_loads_it() {
    let _g = SERIAL.lock().await;
    let cluster = Cluster::start();
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cluster");
    let (ok, out) = cluster.kubectl(&["apply", "-f", fixture]);
    assert!(ok, "{out}");
    let bulk = cluster.dir.path().join("bulk.yaml");
    std::fs::write(&bulk, bulk_services(300)).unwrap();
    let (ok, out) = cluster.kubectl(&["apply", "-f", &bulk.display().to_string()]);
    assert!(ok, "{out}");
    let source = format!("  kubeconfig {}\n", cluster.kubeconfig().display());
    let k = Kdns::start(&corefile("0", &source), None);
    let cd = CoreDns::start(&corefile("{PORT}", &source), "cluster.local.");
    // Both synced: the last Service and the last fixture name answer on both.
    for addr in [cd.addr, k.addr] {
        let synced = wait_until(Duration::from_secs(20), || {
            !answer(addr, "svc-0299.bulk.svc.cluster.local.", "A").is_empty()
                && !answer(addr, "db-0.db.shop.svc.cluster.local.", "A").is_empty()
        });
        assert!(synced.is_some(), "{addr} never synced");
    }

    let (from_k, from_cd) = (axfr(k.addr, &[]), axfr(cd.addr, &[]));
    // `cache` stores no transfer: the second is whole again.
    assert_eq!(transferred(&axfr(k.addr, &[])), transferred(&from_k));
    let (mut a, mut b) = (transferred(&from_k), transferred(&from_cd));
    for (who, t) in [("kdns", &a), ("CoreDNS", &b)] {
        assert!(t.len() > 900, "{who}: {} records", t.len());
        assert!(t[0].contains(" SOA "), "{who}: {}", t[0]);
        assert_eq!(t[0], t[t.len() - 1], "{who}: the SOA closes the transfer");
    }
    let (k_msgs, cd_msgs) = (counts(&from_k).0, counts(&from_cd).0);
    assert!(
        k_msgs > 1 && cd_msgs > 1,
        "messages: kdns {k_msgs}, CoreDNS {cd_msgs}"
    );
    // The order: Services by name on both (CoreDNS orders Services of one name in different
    // namespaces, and a Service's EndpointSlices, as they come: the records are compared as sets).
    let order = service_order(&a);
    assert!(order.len() > 300, "{order:?}");
    assert!(order.windows(2).all(|w| w[0] <= w[1]), "kdns: {order:?}");
    assert_eq!(order, service_order(&b));
    a.sort();
    b.sort();
    let only_k: Vec<&String> = a.iter().filter(|r| !b.contains(r)).collect();
    let only_cd: Vec<&String> = b.iter().filter(|r| !a.contains(r)).collect();
    assert!(a == b, "kdns only: {only_k:#?}\nCoreDNS only: {only_cd:#?}");
    println!(
        "AXFR: {} records, kdns {k_msgs} messages, CoreDNS {cd_msgs}",
        a.len()
    );

    // Refusals: over UDP, and from 127.0.0.2 (not in `to`), on both.
    for addr in [k.addr, cd.addr] {
        let (rcode, _) = query(addr, "cluster.local.", "AXFR").expect("an answer over UDP");
        assert_eq!(rcode, "REFUSED", "{addr} over UDP");
        let out = axfr(addr, &["-b", "127.0.0.2"]);
        assert!(
            out.contains("REFUSED") && transferred(&out).is_empty(),
            "{addr} from 127.0.0.2:\n{out}"
        );
        // IXFR at the server's own serial: the SOA alone.
        let ixfr = format!("IXFR={}", serial(addr));
        let out = kdig(addr, &[&ixfr, "cluster.local."]);
        let t = transferred(&out);
        assert!(
            t.len() == 1 && t[0].contains(" SOA "),
            "{addr} {ixfr}:\n{out}"
        );
    }

    // A real secondary loads the zone from kdns and answers for its names as kdns does.
    let knot = Knot::secondary("127.0.0.1", "cluster.local", k.addr);
    let loaded = wait_until(Duration::from_secs(15), || {
        status(&kdig(knot.addr, &["SOA", "cluster.local."])) == "NOERROR"
    });
    assert!(
        loaded.is_some(),
        "Knot did not load the zone:\n{}",
        knot.log()
    );
    assert_eq!(serial(knot.addr), serial(k.addr));
    for (name, qtype) in [
        ("web.shop.svc.cluster.local.", "A"),
        ("web.shop.svc.cluster.local.", "AAAA"),
        ("db.shop.svc.cluster.local.", "A"),
        ("db-0.db.shop.svc.cluster.local.", "A"),
        ("svc-0123.bulk.svc.cluster.local.", "A"),
        ("kubernetes.default.svc.cluster.local.", "A"),
    ] {
        let want = answer(k.addr, name, qtype);
        assert!(!want.is_empty(), "{name} {qtype}");
        assert_eq!(answer(knot.addr, name, qtype), want, "{name} {qtype}");
    }
}

/// 2,000 Services in manifests: the transfer takes several messages and Knot loads it all.
#[test]
fn a_large_zone_goes_over_several_messages_and_knot_loads_it() {
    let n = 2000;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("bulk.yaml"), bulk_services(n)).unwrap();
    let k = Kdns::start(
        &corefile("0", "  manifests {DIR}/manifests\n"),
        Some(dir.path()),
    );
    let out = axfr(k.addr, &[]);
    let (messages, records) = counts(&out);
    // SOA, per Service an A and two SRV (the port and _http._tcp), SOA.
    assert_eq!(
        records,
        2 + 3 * n,
        "{}",
        &out[out.len().saturating_sub(300)..]
    );
    assert!(messages >= 5, "{messages} messages");
    let t = transferred(&out);
    assert_eq!(t.len(), records);
    assert!(t[0].contains(" SOA ") && t[0] == t[records - 1]);
    println!("AXFR of {n} services: {records} records in {messages} messages");

    let knot = Knot::secondary("127.0.0.1", "cluster.local", k.addr);
    let name = format!("svc-{:04}.bulk.svc.cluster.local.", n - 1);
    let loaded = wait_until(Duration::from_secs(15), || {
        !answer(knot.addr, &name, "A").is_empty()
    });
    assert!(
        loaded.is_some(),
        "Knot did not load the zone:\n{}",
        knot.log()
    );
    assert_eq!(answer(knot.addr, &name, "A"), answer(k.addr, &name, "A"));
    let srv = "_http._tcp.svc-0000.bulk.svc.cluster.local.";
    assert_eq!(
        answer(knot.addr, srv, "SRV"),
        [format!(
            "{srv} IN SRV 0 100 80 svc-0000.bulk.svc.cluster.local."
        )]
    );
}
