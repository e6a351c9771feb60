//! Sources of cluster state: YAML/JSON manifests on disk and the live Kubernetes API.
//! Kubernetes types stop here: everything leaves as [`crate::zone::Change`]s (or, for
//! `kdns env`, as [`crate::envvars`] inputs), and no file outside `src/source/` names a `kube`
//! or `k8s_openapi` type.
//!
//! # Layout
//!
//! Each file imports only from the files below it in this list (and from outside the source);
//! none imports from this `mod.rs`.
//!
//! | file | what it holds |
//! |---|---|
//! | `kube.rs` | [`spawn`]: the watchers of the live API and their writer into the store; [`SourceStatus`], metrics |
//! | `list_watch.rs` | list-then-watch of one kind: watch-cache list, resume, relist on 410 |
//! | `retry.rs` | when a failed request is tried again: the fault (unreachable, denied, other), cadence, grace, log |
//! | `watched.rs` | what a watcher tells the writer (`Msg`), the per-kind adapters (`Watched`) |
//! | `env_input.rs` | Services and a Pod's environment for `kdns env` |
//! | `kube_dns.rs` | the kube-dns ConfigMap and `--domain` for `kdns migrate kube-dns` |
//! | `api.rs` | [`api::ApiConfig`]: how to reach the API server (the directive's `endpoint`, `tls`, `kubeconfig`, qps) |
//! | `client.rs` | [`connect`]: the API client; [`SourceError`]; the one wording of API errors |
//! | `manifests.rs` | YAML/JSON manifests on disk, watched |
//! | `filter.rs` | [`Filter`]: the `labels`, `namespace_labels`, `noendpoints` of the directive |
//! | `convert.rs` | Kubernetes objects → zone model |
//! | `proto/` | the API's protobuf encoding: streaming list decoder, Service, EndpointSlice, Status |
//! | `objects.rs` | slim Service/EndpointSlice serde types (only the fields DNS reads) |
//! | `selector.rs` | label selectors |
//! | `ratelimit.rs` | `apiserver_qps`/`apiserver_burst` |
pub mod api;
mod client;
pub mod convert;
pub mod env_input;
mod filter;
mod kube;
pub mod kube_dns;
mod list_watch;
pub mod manifests;
pub mod objects;
pub mod proto;
mod ratelimit;
mod retry;
pub mod selector;
mod watched;

#[cfg(test)]
mod fake_api;

pub use client::{connect, ApiClient, SourceError};
pub use filter::Filter;
pub use kube::{spawn, SourceStatus, WatchOptions};
#[cfg(feature = "fuzzing")]
pub(crate) use list_watch::watch_body;
