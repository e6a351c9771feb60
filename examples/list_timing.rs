//! How long the initial list of Services + EndpointSlices takes through kube-rs, with the
//! watcher settings kdns could use — the bulk of kdns's start → ready time at 10k services.
//!
//! ```text
//! taskset -c 0 cargo run --release --example list_timing -- KUBECONFIG [ROUNDS]
//! ```
//! Variants (each lists Services and EndpointSlices concurrently, like kdns, until both watchers
//! report InitDone): kdns today (`watcher::Config::default()`: quorum read, pages of 500),
//! `any_semantic()` (resourceVersion=0, served from the API server's watch cache),
//! `page_size(10000)`, `streaming_lists()` (sendInitialEvents), and a slim EndpointSlice type
//! that deserializes only the fields DNS reads. Prints wall time and this process's CPU time.
use std::borrow::Cow;
use std::time::Instant;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use k8s_openapi::NamespaceResourceScope;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use serde::Deserialize;

/// An EndpointSlice with only what DNS needs; serde skips everything else.
#[allow(dead_code)] // read only by serde: the point is what gets decoded
#[derive(Deserialize, Clone, Debug)]
struct SlimSlice {
    metadata: ObjectMeta,
    #[serde(default)]
    endpoints: Vec<SlimEndpoint>,
    #[serde(default)]
    ports: Option<Vec<SlimPort>>,
}
#[allow(dead_code)]
#[derive(Deserialize, Clone, Debug)]
struct SlimEndpoint {
    addresses: Vec<String>,
    #[serde(default)]
    hostname: Option<String>,
}
#[allow(dead_code)]
#[derive(Deserialize, Clone, Debug)]
struct SlimPort {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    port: Option<i32>,
}

impl Resource for SlimSlice {
    type DynamicType = ();
    type Scope = NamespaceResourceScope;
    fn kind(_: &()) -> Cow<'_, str> {
        "EndpointSlice".into()
    }
    fn group(_: &()) -> Cow<'_, str> {
        "discovery.k8s.io".into()
    }
    fn version(_: &()) -> Cow<'_, str> {
        "v1".into()
    }
    fn plural(_: &()) -> Cow<'_, str> {
        "endpointslices".into()
    }
    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }
    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}

fn cpu_ms() -> f64 {
    let s = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let f: Vec<&str> = s
        .rsplit(')')
        .next()
        .unwrap_or("")
        .split_whitespace()
        .collect();
    let ticks: f64 = f.get(11).and_then(|x| x.parse().ok()).unwrap_or(0.0)
        + f.get(12).and_then(|x| x.parse().ok()).unwrap_or(0.0);
    ticks * 10.0
}

/// Runs one watcher until InitDone; returns the number of objects.
async fn list<K>(api: Api<K>, cfg: watcher::Config) -> usize
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    let mut n = 0;
    let mut s = watcher::watcher(api, cfg).boxed();
    while let Some(ev) = s.next().await {
        match ev {
            Ok(Event::InitApply(k)) => {
                std::hint::black_box(&k);
                n += 1
            }
            Ok(Event::InitDone) => return n,
            Ok(_) => {}
            Err(e) => {
                eprintln!("watch error: {e}");
                return n;
            }
        }
    }
    n
}

async fn variant(client: &Client, name: &str, cfg: watcher::Config, slim: bool) {
    let (t, c) = (Instant::now(), cpu_ms());
    let svcs = list(Api::<Service>::all(client.clone()), cfg.clone());
    let (ns, nsl) = if slim {
        tokio::join!(svcs, list(Api::<SlimSlice>::all(client.clone()), cfg))
    } else {
        tokio::join!(svcs, list(Api::<EndpointSlice>::all(client.clone()), cfg))
    };
    println!(
        "{name:<34} {:>6.0} ms wall {:>6.0} ms CPU ({ns} services, {nsl} slices)",
        t.elapsed().as_secs_f64() * 1000.0,
        cpu_ms() - c
    );
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args().skip(1);
    let path = args.next().expect("usage: list_timing KUBECONFIG [ROUNDS]");
    let rounds: usize = args.next().and_then(|s| s.parse().ok()).unwrap_or(2);
    let kc = kube::config::Kubeconfig::read_from(&path).expect("kubeconfig");
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .expect("config");
    let client = Client::try_from(cfg).expect("client");
    let d = watcher::Config::default;
    for _ in 0..rounds {
        variant(&client, "kdns today (quorum, pages of 500)", d(), false).await;
        variant(
            &client,
            "any_semantic (RV=0, watch cache)",
            d().any_semantic(),
            false,
        )
        .await;
        variant(&client, "page_size(10000)", d().page_size(10_000), false).await;
        variant(&client, "streaming_lists", d().streaming_lists(), false).await;
        variant(
            &client,
            "any_semantic + slim slice type",
            d().any_semantic(),
            true,
        )
        .await;
    }
}
