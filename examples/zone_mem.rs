//! Heap used by the zone store for the benchmark's data shape (bench/kbench.py gen): N services
//! (70 % ClusterIP, 25 % headless, 5 % ExternalName), one EndpointSlice of 6..16 ready
//! endpoints per non-ExternalName service (about 10.5 endpoints per service).
//!
//! ```text
//! cargo run --release --example zone_mem -- 10000 [PODS]
//! ```
//! With PODS, that many running pods (one address each, spread over the namespaces, each with
//! its own namespace and name strings as the source makes them) are loaded too, for
//! `pods verified`: their share is printed per pod.
//! Prints the live heap after loading, split into the model objects themselves (what the
//! source hands over) and what the store adds (maps, reverse indexes, snapshots).
use std::alloc::{GlobalAlloc, Layout, System};
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::sync::Arc;

use kdns::zone::model::{Endpoint, Namespace, Pod, Port, Service, ServiceKind, Slice};
use kdns::zone::{Change, Store};

struct Counting;
static LIVE: AtomicIsize = AtomicIsize::new(0);
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, l: Layout) -> *mut u8 {
        LIVE.fetch_add(l.size() as isize, Ordering::Relaxed);
        System.alloc(l)
    }
    unsafe fn dealloc(&self, p: *mut u8, l: Layout) {
        LIVE.fetch_sub(l.size() as isize, Ordering::Relaxed);
        System.dealloc(p, l)
    }
    unsafe fn realloc(&self, p: *mut u8, l: Layout, n: usize) -> *mut u8 {
        LIVE.fetch_add(n as isize - l.size() as isize, Ordering::Relaxed);
        System.realloc(p, l, n)
    }
}
#[global_allocator]
static A: Counting = Counting;

fn live() -> isize {
    LIVE.load(Ordering::Relaxed)
}

fn mb(b: isize) -> String {
    format!("{:.1} MB", b as f64 / 1e6)
}

fn objects(n: usize) -> (Vec<Namespace>, Vec<Service>, Vec<Slice>, usize) {
    let nns = (n / 250).max(1);
    let nss: Vec<Namespace> = (0..nns)
        .map(|k| Namespace {
            name: Arc::from(format!("bench-{k}")),
            labels: Vec::new(),
        })
        .collect();
    let ports = [
        ("http", 80, "TCP"),
        ("grpc", 9090, "TCP"),
        ("dns", 53, "UDP"),
    ];
    let (mut svcs, mut slices, mut ep) = (Vec::new(), Vec::new(), 0u32);
    for i in 0..n {
        let ns = nss[i % nns].name.clone();
        let name: Arc<str> = Arc::from(format!("svc-{i}"));
        let r = i % 20;
        let kind = match r {
            0 => ServiceKind::ExternalName(Arc::from(format!("ext-{i}.example.com"))),
            1..=5 => ServiceKind::Headless,
            _ => ServiceKind::ClusterIp(vec![IpAddr::V4(Ipv4Addr::from(
                0x0a60_0000 + i as u32 + 16,
            ))]),
        };
        let np = if r >= 6 { 1 + i % 3 } else { 1 };
        let p: Vec<Port> = ports[..np]
            .iter()
            .map(|(n, p, pr)| Port {
                name: Arc::from(*n),
                port: *p,
                protocol: Arc::from(*pr),
            })
            .collect();
        if r != 0 {
            let k = 6 + (i * 7) % 11;
            let named = (1..=5).contains(&r) && i % 2 == 0;
            slices.push(Slice {
                namespace: ns.clone(),
                name: Arc::from(format!("svc-{i}-b1")),
                service: name.clone(),
                ports: p.clone(),
                endpoints: (0..k)
                    .map(|e| {
                        ep += 1;
                        Endpoint {
                            ip: IpAddr::V4(Ipv4Addr::from(0x0a80_0000 + ep)),
                            hostname: named.then(|| Arc::from(format!("web-{e}"))),
                            pod_name: None,
                            zone: None,
                        }
                    })
                    .collect(),
            });
        }
        svcs.push(Service {
            namespace: ns,
            name,
            kind,
            external: Vec::new(),
            ports: p,
        });
    }
    (nss, svcs, slices, ep as usize)
}

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(10_000);
    let base = live();
    let (nss, svcs, slices, eps) = objects(n);
    let model = live() - base;
    println!(
        "{n} services, {} slices, {eps} endpoints; model objects alone: {} ({} B/endpoint)",
        slices.len(),
        mb(model),
        model / eps.max(1) as isize
    );
    let before = live();
    let mut st = Store::new();
    for x in nss {
        st.apply(Change::UpsertNamespace(x));
    }
    for x in svcs {
        st.apply(Change::UpsertService(x));
    }
    let after_svcs = live();
    for x in slices {
        st.apply(Change::UpsertSlice(x));
    }
    st.set_synced(true);
    let snap = st.snapshot();
    let total = live() - base; // the model objects now live inside the store
    println!(
        "store after load: {} = model objects {} + store structures {} ({} B/endpoint; \
         the slices' share of the structures {})",
        mb(total),
        mb(model),
        mb(total - model),
        (total - model) / eps.max(1) as isize,
        mb(live() - after_svcs)
    );
    let _ = before;
    drop(snap);
    let pods: usize = std::env::args()
        .nth(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    if pods > 0 {
        let nns = (n / 250).max(1);
        let before_pods = live();
        for i in 0..pods {
            st.apply(Change::UpsertPod(Pod {
                namespace: Arc::from(format!("bench-{}", i % nns)),
                name: Arc::from(format!("pod-{i}")),
                ips: vec![IpAddr::V4(Ipv4Addr::from(0x0ac0_0000 + i as u32))],
            }));
        }
        let snap = st.snapshot();
        let p = live() - before_pods;
        println!(
            "{pods} pods: {} ({} B/pod: the pods, their keys and the address index)",
            mb(p),
            p / pods as isize
        );
        drop(snap);
    }
}
