//! Where kdns spends CPU per query inside its own code (no sockets, no hickory server loop):
//! `lookup::serve` (the CoreDNS rules on a snapshot), then `Router::resolve` (name to text,
//! routing, serve, zone records -> hickory records), then the whole hickory message round trip
//! (parse the query bytes, resolve, build and serialize the response). Each is measured for a
//! ClusterIP A hit, an SRV hit, a headless A hit (11 endpoints) and a search-path NXDOMAIN.
//! `resolve_hosts` is `Router::resolve` with k3s's `hosts` block (`hosts NodeHosts { ttl 60
//! reload 15s fallthrough }`, 1,000 entries) before `kubernetes`: the cost of a question the
//! hosts table does not hold, and (`hosts_hit`) of one it answers. `resolve_extras` adds, in
//! front of that, what bench/directives.sh puts in the chain (issue #11): AKS's search-path
//! `template` in cluster.local (its regex runs on every cluster question), a `template` for
//! another zone and a regex `rewrite` rule that matches nothing.
//!
//! It also prints heap allocations per query for each stage (a counting global allocator), the
//! number the lead asked for before touching the query path.
//!
//! ```text
//! CARGO_TARGET_DIR=... cargo bench --bench query_path
//! ```
#![allow(missing_docs)] // criterion_group! and criterion_main! define undocumented pub fns
use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use hickory_server::proto::op::{Message, Query};
use hickory_server::proto::rr::{Name, RecordType};
use hickory_server::proto::serialize::binary::{BinDecodable, BinEncodable};
use kdns::config::Plugin;
use kdns::dns::{Block, Router};
use kdns::plugin::hosts::config::HostsConfig;
use kdns::plugin::hosts::Hosts;
use kdns::plugin::kubernetes::Kubernetes;
use kdns::plugin::rewrite::Rewrite;
use kdns::plugin::template::Template;
use kdns::zone::model::{Endpoint, Namespace, Port, Service, ServiceKind, Slice};
use kdns::zone::{lookup, Change, Fallthrough, KubeOptions, Store, ZoneHandle};

struct Counting;
static ALLOCS: AtomicU64 = AtomicU64::new(0);
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        System.realloc(p, l, n)
    }
}
#[global_allocator]
static A: Counting = Counting;

const N: usize = 10_000;

fn zone() -> ZoneHandle {
    let mut s = Store::new();
    for k in 0..40 {
        s.apply(Change::UpsertNamespace(Namespace {
            name: Arc::from(format!("bench-{k}")),
            labels: Vec::new(),
        }));
    }
    let mut ep = 0u32;
    for i in 0..N {
        let headless = i % 4 == 1;
        let ports: Vec<Port> = [("http", 80), ("grpc", 9090), ("dns", 53)][..1 + i % 3]
            .iter()
            .map(|(n, p)| Port {
                name: Arc::from(*n),
                port: *p,
                protocol: Arc::from("TCP"),
            })
            .collect();
        s.apply(Change::UpsertService(Service {
            namespace: Arc::from(format!("bench-{}", i % 40)),
            name: Arc::from(format!("svc-{i}")),
            kind: if headless {
                ServiceKind::Headless
            } else {
                ServiceKind::ClusterIp(vec![IpAddr::V4(Ipv4Addr::from(0x0a60_0000 + i as u32))])
            },
            ports: ports.clone(),
            external: Vec::new(),
        }));
        s.apply(Change::UpsertSlice(Slice {
            namespace: Arc::from(format!("bench-{}", i % 40)),
            name: Arc::from(format!("svc-{i}-b1")),
            service: Arc::from(format!("svc-{i}")),
            ports,
            endpoints: (0..11)
                .map(|_| {
                    ep += 1;
                    Endpoint {
                        ip: IpAddr::V4(Ipv4Addr::from(0x0a80_0000 + ep)),
                        hostname: None,
                        pod_name: None,
                        zone: None,
                    }
                })
                .collect(),
        }));
    }
    s.set_synced(true);
    ZoneHandle::new(s.snapshot())
}

fn opts() -> KubeOptions {
    KubeOptions {
        zones: vec![
            "cluster.local.".into(),
            "in-addr.arpa.".into(),
            "ip6.arpa.".into(),
        ],
        pods: kdns::zone::PodMode::Insecure,
        ..KubeOptions::default()
    }
}

const CASES: &[(&str, &str, RecordType)] = &[
    ("a_hit", "svc-4.bench-4.svc.cluster.local.", RecordType::A),
    (
        "srv_hit",
        "_http._tcp.svc-4.bench-4.svc.cluster.local.",
        RecordType::SRV,
    ),
    (
        "headless_a",
        "svc-5.bench-5.svc.cluster.local.",
        RecordType::A,
    ),
    (
        "nxdomain",
        "google.com.bench-4.svc.cluster.local.",
        RecordType::A,
    ),
];

/// k3s's `hosts` directive on a NodeHosts file of 1,000 nodes (`node-N` → 172.18.x.y).
fn hosts(dir: &std::path::Path) -> Hosts {
    let path = dir.join("NodeHosts");
    let text: String = (0..1000u32)
        .map(|i| format!("172.18.{}.{} node-{i}\n", i / 250, 1 + i % 250))
        .collect();
    std::fs::write(&path, text).unwrap();
    Hosts::new(
        &HostsConfig {
            path,
            zones: vec![".".into()],
            ttl: 60,
            reverse: true,
            reload: std::time::Duration::ZERO,
            fallthrough: Fallthrough::All,
            fallthrough_unsupported: false,
            inline: Vec::new(),
            at: "bench".into(),
        },
        Default::default(),
    )
}

/// bench/directives.sh's `template` and `rewrite` lines, parsed as a Corefile and built as the
/// server builds them, in plugin.cfg order (rewrite, then the templates).
fn extras() -> Vec<std::sync::Arc<dyn kdns::dns::Directive>> {
    let text = r#".:1053 {
    rewrite stop {
        name regex (.*)\.corp\.internal\. {1}.svc.cluster.local.
        answer name (.*)\.svc\.cluster\.local\. {1}.corp.internal.
    }
    template ANY ANY cluster.local {
        match "^(?:[^.]+\.){7,}cluster\.local\.$"
        rcode NXDOMAIN
        fallthrough
    }
    template IN A nodes.example.test {
        match "^ip-(?P<a>[0-9]+)-(?P<b>[0-9]+)-(?P<c>[0-9]+)-(?P<d>[0-9]+)[.]nodes[.]example[.]test[.]$"
        answer "{{ .Name }} 60 IN A {{ .Group.a }}.{{ .Group.b }}.{{ .Group.c }}.{{ .Group.d }}"
        fallthrough
    }
}
"#;
    let cfg = kdns::config::load_str(text, std::path::Path::new("Corefile"), 53).unwrap();
    cfg.blocks[0]
        .plugins
        .iter()
        .filter_map(|p| -> Option<std::sync::Arc<dyn kdns::dns::Directive>> {
            match p {
                Plugin::Rewrite(r) => Some(std::sync::Arc::new(Rewrite::new(r))),
                Plugin::Template(t) => Some(Template::new(t, "dns://:1053")),
                _ => None,
            }
        })
        .collect()
}

fn allocs<R>(f: impl Fn() -> R) -> u64 {
    f(); // warm
    let before = ALLOCS.load(Ordering::Relaxed);
    for _ in 0..100 {
        black_box(f());
    }
    (ALLOCS.load(Ordering::Relaxed) - before) / 100
}

fn query_bytes(name: &str, t: RecordType) -> Vec<u8> {
    let mut m = Message::query();
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), t));
    m.metadata.recursion_desired = true;
    m.to_bytes().unwrap()
}

/// The hickory message work around the resolve: decode the request, resolve, build the
/// response message and encode it (what hickory's server does besides I/O and task spawn).
fn round_trip(router: &std::sync::Arc<Router>, bytes: &[u8]) -> Vec<u8> {
    let req = Message::from_bytes(bytes).unwrap();
    let q = req.queries[0].clone();
    let ans = futures::executor::block_on(router.resolve(1053, q.name(), q.query_type()));
    let mut resp = Message::response(req.metadata.id, req.metadata.op_code);
    resp.metadata.response_code = ans.rcode;
    resp.metadata.authoritative = ans.authoritative;
    resp.add_query(q);
    resp.add_answers(ans.answers);
    resp.add_authorities(ans.authority);
    resp.add_additionals(ans.additional);
    resp.to_bytes().unwrap()
}

fn bench(c: &mut Criterion) {
    let zh = zone();
    let o = opts();
    let snap = zh.load();
    let router = std::sync::Arc::new(Router {
        ports: HashMap::from([(
            1053,
            vec![std::sync::Arc::new(Block::new(
                o.zones.clone(),
                vec![std::sync::Arc::new(Kubernetes::new(
                    o.clone(),
                    zh.clone(),
                    None,
                ))],
            ))],
        )]),
        data: Default::default(),
    });
    let dir = tempfile::tempdir().unwrap();
    let kube: std::sync::Arc<dyn kdns::dns::Directive> =
        std::sync::Arc::new(Kubernetes::new(o.clone(), zh.clone(), None));
    let with_hosts = std::sync::Arc::new(Router {
        ports: HashMap::from([(
            1053,
            vec![std::sync::Arc::new(Block::new(
                vec![".".into()],
                vec![std::sync::Arc::new(hosts(dir.path())), kube],
            ))],
        )]),
        data: Default::default(),
    });
    let mut extras = extras();
    extras.push(std::sync::Arc::new(hosts(dir.path())));
    extras.push(std::sync::Arc::new(Kubernetes::new(
        o.clone(),
        zh.clone(),
        None,
    )));
    let with_extras = std::sync::Arc::new(Router {
        ports: HashMap::from([(
            1053,
            vec![std::sync::Arc::new(Block::new(vec![".".into()], extras))],
        )]),
        data: Default::default(),
    });
    eprintln!(
        "allocations per query (lookup::serve / Router::resolve / decode+resolve+encode / resolve with hosts / with hosts, template, rewrite):"
    );
    for (label, name, t) in CASES {
        let qn = Name::from_ascii(name).unwrap();
        let bytes = query_bytes(name, *t);
        let a1 = allocs(|| lookup::serve(&o, &snap, name, u16::from(*t)));
        let a2 = allocs(|| futures::executor::block_on(router.resolve(1053, &qn, *t)));
        let a3 = allocs(|| round_trip(&router, &bytes));
        let a4 = allocs(|| futures::executor::block_on(with_hosts.resolve(1053, &qn, *t)));
        let a5 = allocs(|| futures::executor::block_on(with_extras.resolve(1053, &qn, *t)));
        eprintln!("  {label:<11} {a1:>4} {a2:>4} {a3:>4} {a4:>4} {a5:>4}");
    }
    let mut g = c.benchmark_group("query");
    for (label, name, t) in CASES {
        let qn = Name::from_ascii(name).unwrap();
        let bytes = query_bytes(name, *t);
        g.bench_function(format!("serve/{label}"), |b| {
            b.iter(|| lookup::serve(&o, &snap, black_box(name), u16::from(*t)))
        });
        g.bench_function(format!("resolve/{label}"), |b| {
            b.iter(|| futures::executor::block_on(router.resolve(1053, black_box(&qn), *t)))
        });
        g.bench_function(format!("round_trip/{label}"), |b| {
            b.iter(|| round_trip(&router, black_box(&bytes)))
        });
        g.bench_function(format!("resolve_hosts/{label}"), |b| {
            b.iter(|| futures::executor::block_on(with_hosts.resolve(1053, black_box(&qn), *t)))
        });
        g.bench_function(format!("resolve_extras/{label}"), |b| {
            b.iter(|| futures::executor::block_on(with_extras.resolve(1053, black_box(&qn), *t)))
        });
    }
    let node = Name::from_ascii("node-500.").unwrap();
    eprintln!(
        "  hosts_hit   Router::resolve with hosts: {} allocations",
        allocs(|| futures::executor::block_on(with_hosts.resolve(1053, &node, RecordType::A)))
    );
    g.bench_function("resolve_hosts/hosts_hit", |b| {
        b.iter(|| {
            futures::executor::block_on(with_hosts.resolve(1053, black_box(&node), RecordType::A))
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(std::time::Duration::from_millis(300))
        .measurement_time(std::time::Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
