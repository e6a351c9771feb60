//! Cost of one cluster change at 1k vs 100k services: `Store::apply(Change)` followed by
//! `Store::snapshot()` (what the API writer does per batch before it publishes). The target is
//! that the cost does not grow with the cluster: 100k within 2x of 1k.
//!
//! ```text
//! CARGO_TARGET_DIR=... cargo bench --bench zone_update
//! ```
//! Every service has one EndpointSlice with 4 ready endpoints (100k services = 400k endpoints).
#![allow(missing_docs)] // criterion_group! and criterion_main! define undocumented pub fns
use std::hint::black_box;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use kdns::zone::model::{Endpoint, Namespace, Port, Service, ServiceKind, Slice};
use kdns::zone::{Change, Store};

/// The allocator the kdns binary uses (src/main.rs).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const EPS: u32 = 4;
const NAMESPACES: usize = 100;

fn ns(i: usize) -> Arc<str> {
    Arc::from(format!("ns-{}", i % NAMESPACES))
}

fn ip(n: u32) -> IpAddr {
    IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n))
}

fn service(i: usize, port: i32) -> Service {
    Service {
        namespace: ns(i),
        name: Arc::from(format!("svc-{i}")),
        kind: ServiceKind::ClusterIp(vec![IpAddr::V4(Ipv4Addr::from(0x0a60_0000 + i as u32))]),
        external: Vec::new(),
        ports: vec![Port {
            name: Arc::from("http"),
            port,
            protocol: Arc::from("TCP"),
        }],
    }
}

/// `shift` moves one endpoint to another address, so two shifts alternate real changes.
fn slice(i: usize, shift: u32) -> Slice {
    let base = 0x0a80_0000 + i as u32 * EPS;
    Slice {
        namespace: ns(i),
        name: Arc::from(format!("svc-{i}-abcde")),
        service: Arc::from(format!("svc-{i}")),
        ports: vec![Port {
            name: Arc::from("http"),
            port: 8080,
            protocol: Arc::from("TCP"),
        }],
        endpoints: (0..EPS)
            .map(|e| Endpoint {
                ip: ip(base + e + if e == 0 { shift * 0x0100_0000 } else { 0 }),
                hostname: None,
                pod_name: Some(Arc::from(format!("svc-{i}-pod-{e}"))),
                zone: None,
            })
            .collect(),
    }
}

fn store(n: usize) -> Store {
    let mut s = Store::new();
    for k in 0..NAMESPACES {
        s.apply(Change::UpsertNamespace(Namespace {
            name: Arc::from(format!("ns-{k}")),
            labels: Vec::new(),
        }));
    }
    for i in 0..n {
        s.apply(Change::UpsertService(service(i, 80)));
        s.apply(Change::UpsertSlice(slice(i, 0)));
    }
    s.set_synced(true);
    s
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("zone_change");
    for &n in &[1_000usize, 100_000] {
        let mut st = store(n);
        let target = n / 2;
        // Pre-built changes (building them is the source's work, not the store's).
        let mut flip = false;
        g.bench_with_input(BenchmarkId::new("service_update", n), &n, |b, _| {
            b.iter_batched(
                || {
                    flip = !flip;
                    Change::UpsertService(service(target, if flip { 81 } else { 80 }))
                },
                |ch| {
                    assert!(st.apply(ch));
                    black_box(st.snapshot())
                },
                BatchSize::SmallInput,
            )
        });
        let mut flip = false;
        g.bench_with_input(BenchmarkId::new("slice_update", n), &n, |b, _| {
            b.iter_batched(
                || {
                    flip = !flip;
                    Change::UpsertSlice(slice(target, u32::from(flip)))
                },
                |ch| {
                    assert!(st.apply(ch));
                    black_box(st.snapshot())
                },
                BatchSize::SmallInput,
            )
        });
        // Changes spread over every service (round robin), so the zone's delta fills up and
        // gets folded into a new base: the amortized cost, folds included.
        let mut next = 0usize;
        let mut round = 0i32;
        g.bench_with_input(BenchmarkId::new("service_update_spread", n), &n, |b, _| {
            b.iter_batched(
                || {
                    next += 1;
                    if next == n {
                        next = 0;
                        round += 1;
                    }
                    Change::UpsertService(service(next, 100 + round))
                },
                |ch| {
                    assert!(st.apply(ch));
                    black_box(st.snapshot())
                },
                BatchSize::SmallInput,
            )
        });
        let mut k = 0usize;
        g.bench_with_input(BenchmarkId::new("service_create_delete", n), &n, |b, _| {
            b.iter_batched(
                || {
                    k += 1;
                    (n + k, service(n + k, 80))
                },
                |(i, svc)| {
                    st.apply(Change::UpsertService(svc));
                    let z = st.snapshot();
                    st.apply(Change::DeleteService {
                        namespace: format!("ns-{}", i % NAMESPACES),
                        name: format!("svc-{i}"),
                    });
                    black_box(z)
                },
                BatchSize::SmallInput,
            )
        });
    }
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(30)
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2));
    targets = bench
}
criterion_main!(benches);
