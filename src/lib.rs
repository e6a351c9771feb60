//! # kdns — a Kubernetes cluster DNS server
//!
//! kdns answers the cluster zone (`cluster.local`) exactly as CoreDNS's `kubernetes` plugin does
//! (Kubernetes DNS-Based Service Discovery, schema 1.1.0), reads the same Corefile, and gives the
//! kubelet's service environment variables as a library call and a CLI.
//!
//! ## Layout
//!
//! Dependencies point inward to [`zone`]: Kubernetes types stop at [`source`], hickory types stop at
//! [`dns`] and the directives of [`plugin`], and [`envvars`] imports neither.
//!
//! | concept | file |
//! |---|---|
//! | command line (`kdns`, `kdns env`) | `src/cli/mod.rs`, `src/cli/env.rs` |
//! | Corefile tokens: quotes, comments, `{$ENV}`, `import`, snippets | `src/config/lexer.rs` |
//! | Corefile server blocks and directives, `FILE:LINE` errors | `src/config/mod.rs` |
//! | the `kubernetes` directive and its options | `src/config/kubernetes.rs` |
//! | zone model: services, endpoints, pods (our own compact types) | `src/zone/model.rs` |
//! | the immutable snapshot queries read, namespace versions | `src/zone/snapshot.rs` |
//! | incremental store: changes, relists, reverse indices | `src/zone/store.rs`, `index.rs` |
//! | the published zone: atomic swap, publish generation | `src/zone/handle.rs` |
//! | the snapshot-friendly map behind every index (delta over a shared base) | `src/zone/layered.rs` |
//! | the `kubernetes` options that shape answers | `src/zone/options.rs` |
//! | answering a query from a snapshot (the CoreDNS rules) | `src/zone/lookup.rs`, `ctx.rs`, `items.rs` |
//! | the question name, reverse names and PTR, the namespace scope of an answer | `src/zone/qname.rs`, `reverse.rs`, `scope.rs` |
//! | dashed IPs, endpoint labels, zone suffixes | `src/zone/names.rs` |
//! | the records the zone answers with | `src/zone/record.rs` |
//! | Kubernetes objects → zone model | `src/source/convert.rs` |
//! | YAML/JSON manifests on disk, watched | `src/source/manifests.rs` |
//! | live API: the writer (batches, staleness, programming latency), client setup | `src/source/kube.rs` |
//! | list-then-watch per kind: watch-cache list, resume, relist on 410, backoff | `src/source/list_watch.rs` |
//! | slim Service/EndpointSlice serde types (only the fields DNS reads) | `src/source/objects.rs` |
//! | the API's protobuf encoding: streaming list decoder, Service, EndpointSlice, Status | `src/source/proto.rs` |
//! | label selectors (`labels`, `namespace_labels`) | `src/source/selector.rs` |
//! | Services for `kdns env` from manifests or a kubeconfig | `src/source/env_input.rs` |
//! | wiring: Corefile → sources, zones, directive chains, HTTP endpoints | `src/app.rs` |
//! | serving lifecycle: listeners, `reload` swaps, lameduck and stopping | `src/serve.rs` |
//! | DNS listeners: sockets, TCP connections, stopping with queries in flight | `src/dns/server.rs` |
//! | the UDP loop and its per-socket packet cache (when a replay is still right) | `src/dns/udp.rs` |
//! | one request: decode, chain, encode (UDP truncation), observers | `src/dns/respond.rs` |
//! | the directive chain: routing to server blocks, plugin.cfg order | `src/dns/handler.rs` |
//! | what the chain sees and gives: `Query`, `Answer` | `src/dns/query.rs` |
//! | RCODE and type names as CoreDNS prints them | `src/dns/codes.rs` |
//! | zone records → wire records | `src/dns/wire.rs` |
//! | shared checks for directive arguments | `src/plugin/args.rs` |
//! | `forward`: options, policies, upstream selection, `max_concurrent` | `src/plugin/forward/mod.rs`, `config.rs` |
//! | one upstream: UDP/TCP exchange, idle connections, health probe | `src/plugin/forward/upstream.rs` |
//! | `cache`: options, lookups, stores, prefetch, serve_stale | `src/plugin/cache/mod.rs`, `config.rs` |
//! | what is cached, as what, for how long (CoreDNS's classes) | `src/plugin/cache/item.rs` |
//! | the bounded sharded map behind `cache` | `src/plugin/cache/store.rs` |
//! | `health` (lameduck, self check), `ready` (readiness hooks) | `src/plugin/health.rs`, `ready.rs` |
//! | `prometheus`: the per-query series | `src/plugin/prometheus.rs` |
//! | `errors`, `log` (Common Log Format) | `src/plugin/errors.rs`, `log.rs` |
//! | `loop`, `reload`, `loadbalance` | `src/plugin/loop_detect.rs`, `reload.rs`, `loadbalance.rs` |
//! | the metrics registry (atomics, text format) and `process_*` | `src/metrics/` |
//! | the HTTP endpoints, one listener per address | `src/http/mod.rs` |
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
