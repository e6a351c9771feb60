//! # kdns — a Kubernetes cluster DNS server
//!
//! kdns answers the cluster zone (`cluster.local`) exactly as CoreDNS's `kubernetes` plugin does
//! (Kubernetes DNS-Based Service Discovery, schema 1.1.0), reads the same Corefile, and gives the
//! kubelet's service environment variables as a library call and a CLI.
//!
//! ## Layout
//!
//! Dependencies point inward to [`zone`]: Kubernetes types stop at [`source`], hickory types stop at
//! [`dns`], and [`envvars`] imports neither.
//!
//! | concept | file |
//! |---|---|
//! | command line (`kdns`, `kdns env`) | `src/cli/mod.rs`, `src/cli/env.rs` |
//! | Corefile tokens: quotes, comments, `{$ENV}`, `import`, snippets | `src/config/lexer.rs` |
//! | Corefile server blocks and directives, `FILE:LINE` errors | `src/config/mod.rs` |
//! | the `kubernetes` directive and its options | `src/config/kubernetes.rs` |
//! | zone model: services, endpoints, pods (our own compact types) | `src/zone/model.rs` |
//! | incremental store and immutable snapshots, atomic swap | `src/zone/store.rs` |
//! | answering a query from a snapshot (the CoreDNS rules) | `src/zone/lookup.rs` |
//! | dashed IPs, reverse names | `src/zone/names.rs` |
//! | the records the zone answers with | `src/zone/record.rs` |
//! | Kubernetes objects → zone model | `src/source/convert.rs` |
//! | YAML/JSON manifests on disk, watched | `src/source/manifests.rs` |
//! | live API: kube-rs watchers, batched writer, staleness, programming latency | `src/source/kube.rs` |
//! | label selectors (`labels`, `namespace_labels`) | `src/source/selector.rs` |
//! | Services for `kdns env` from manifests or a kubeconfig | `src/source/env_input.rs` |
//! | wiring: Corefile → sources, zones, router, listeners | `src/app.rs` |
//! | DNS server: sockets, routing to server blocks | `src/dns/server.rs` |
//! | DNS request handling: the directive chain | `src/dns/handler.rs` |
//! | zone records → wire records | `src/dns/wire.rs` |
//! | kubelet service environment variables, container-env merge, `$(VAR)` expansion | `src/envvars/` |

pub mod app;
pub mod cli;
pub mod config;
pub mod dns;
pub mod envvars;
pub mod http;
pub mod metrics;
pub mod plugin;
pub mod serve;
pub mod source;
pub mod zone;
