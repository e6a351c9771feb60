//! # kdns — a Kubernetes cluster DNS server
//!
//! kdns answers the cluster zone (`cluster.local`) exactly as CoreDNS's `kubernetes` plugin does
//! (Kubernetes DNS-Based Service Discovery, schema 1.1.0), reads the same Corefile, and gives the
//! kubelet's service environment variables as a library call and a CLI.
//!
//! ## Layout
//!
//! Dependencies point inward to [`zone`]: Kubernetes types stop at [`source`], hickory types stop at
//! [`dns`] and the directives of [`plugin`], and [`envvars`] imports neither. No two files import
//! each other, directly or in a circle; a child imports from the file that defines an item, never
//! through its parent's re-exports (`tests/architecture.rs` checks all of this, and that this
//! table names every file).
//!
//! | layer | concept | file |
//! |---|---|---|
//! | process | the binary | `src/main.rs` |
//! | | this map, the lints | `src/lib.rs` |
//! | | command line: `kdns`, `--validate`, `kdns env` and its output formats, `kdns migrate kube-dns`; serving under a runtime until SIGTERM | `src/cli/mod.rs`, `src/cli/env.rs`, `src/cli/env/format.rs`, `src/cli/migrate.rs`, `src/cli/runtime.rs` |
//! | | `kdns node-local`: node-cache's flags, its Corefile filled in, the node kept set up, teardown | `src/cli/node_local.rs` |
//! | node-local | the node's setup for the node-local role; running `ip`/`iptables`; which iptables (legacy, nft); the dummy interface; the rules (with the fallback while nothing listens); node-cache's Corefile placeholders | `src/nodelocal/mod.rs`, `src/nodelocal/command.rs`, `src/nodelocal/backend.rs`, `src/nodelocal/link.rs`, `src/nodelocal/rules.rs`, `src/nodelocal/pillars.rs` |
//! | | entry points for the fuzz targets of `fuzz/` (feature `fuzzing`) | `src/fuzzing.rs` |
//! | | serving lifecycle: listeners, `reload` swaps, lameduck and stopping | `src/serve.rs` |
//! | | wiring: Corefile → sources, zones, one chain per server block, HTTP endpoints; one block being built (the directives built after its `kubernetes`) | `src/app.rs`, `src/app/parts.rs` |
//! | | the HTTP endpoints, one listener per address | `src/http/mod.rs` |
//! | | the readiness latch behind `/ready` | `src/http/readiness.rs` |
//! | | the metrics registry (atomics, text format) and `process_*` | `src/metrics/mod.rs`, `src/metrics/registry.rs`, `src/metrics/process.rs` |
//! | Corefile | server blocks, the dispatch to each directive's parser | `src/config/mod.rs` |
//! | | the directives: CoreDNS's plugin.cfg order, what kdns supports | `src/config/directives.rs` |
//! | | tokens: quotes, comments, `{$ENV}`, `import`, snippets | `src/config/lexer.rs` |
//! | | the syntax leaf: `Token`, `Line`, `ConfigError` (`FILE:LINE`), zones | `src/config/syntax.rs` |
//! | | shared argument checks, durations, listen addresses | `src/config/args.rs` |
//! | DNS | the server: hickory types stop here and in the directives | `src/dns/mod.rs` |
//! | | DNS listeners: sockets per port, stopping with queries in flight | `src/dns/server.rs` |
//! | | DNS over TCP: accepting, a task per connection, connections let go of at a query boundary | `src/dns/tcp.rs` |
//! | | socket handover (`--handover`): a replacement takes over the sockets and open connections | `src/dns/handover.rs` |
//! | | the UDP loop and its per-socket packet cache; a negative answer's SOA serial in its bytes (replayed with the current one); datagrams read and answers sent in batches (`recvmmsg`, `sendmmsg`) | `src/dns/udp.rs`, `src/dns/serial.rs`, `src/dns/mmsg.rs` |
//! | | one request: decode (responses dropped), chain, encode, observers | `src/dns/respond.rs` |
//! | | a request decoded: header, question, OPT; plain ones read here, the rest by hickory; the checks and error replies before the chain | `src/dns/request.rs` |
//! | | a response to wire bytes: hickory's bytes and name compression, without its encoder (which writes the rest) | `src/dns/encode.rs` |
//! | | overload: the bounds on waiting UDP queries and open TCP connections, REFUSED at once | `src/dns/load.rs` |
//! | | fitting a response into the UDP limit: TC for answers, glue dropped quietly | `src/dns/fit.rs` |
//! | | the chain: routing to server blocks, `Directive`, `Next`, `Served` | `src/dns/chain.rs` |
//! | | what observers see: `Report`, `Sent`, `Observer`, replays | `src/dns/observe.rs` |
//! | | what the chain sees and gives: `Query`, `Answer` | `src/dns/query.rs` |
//! | | CoreDNS's response classes (`response.Typify`) | `src/dns/class.rs` |
//! | | RCODE and type names as CoreDNS prints them | `src/dns/codes.rs` |
//! | | zone records → wire records | `src/dns/wire.rs` |
//! | directives | the directives and their order | `src/plugin/mod.rs` |
//! | | `kubernetes`: the zone in the chain; its options | `src/plugin/kubernetes/mod.rs`, `src/plugin/kubernetes/config.rs` |
//! | | `k8s_external`: Services' outside addresses in the chain (hostname targets asked of the server); its options | `src/plugin/k8s_external/mod.rs`, `src/plugin/k8s_external/config.rs` |
//! | | `forward`: options, policies, upstream selection, `max_concurrent` | `src/plugin/forward/mod.rs`, `src/plugin/forward/config.rs` |
//! | | one upstream: UDP/TCP exchange; connections; health probe; errors | `src/plugin/forward/upstream.rs`, `src/plugin/forward/conn.rs`, `src/plugin/forward/health.rs`, `src/plugin/forward/error.rs` |
//! | | DNS over TLS upstreams (`tls://`): `tls`, `tls_servername`, the rustls client, dialing | `src/plugin/forward/tls.rs` |
//! | | `hosts`: the chain rules; options; the parsed entries; the file, re-read on change | `src/plugin/hosts/mod.rs`, `src/plugin/hosts/config.rs`, `src/plugin/hosts/table.rs`, `src/plugin/hosts/file.rs` |
//! | | `cache`: options, lookups, stores | `src/plugin/cache/mod.rs`, `src/plugin/cache/config.rs` |
//! | | `cache` in the chain: prefetch, serve_stale | `src/plugin/cache/serve.rs` |
//! | | what is cached, as what, for how long | `src/plugin/cache/item.rs` |
//! | | the bounded sharded map behind `cache` | `src/plugin/cache/store.rs` |
//! | | `health` (lameduck, self check), `ready` | `src/plugin/health.rs`, `src/plugin/ready.rs` |
//! | | `prometheus`: the per-query series | `src/plugin/prometheus.rs` |
//! | | `errors`, `log` (Common Log Format) | `src/plugin/errors.rs`, `src/plugin/log.rs` |
//! | | `template`: answers from Go-template RR texts; its options; the text/template subset; one zone-file RR | `src/plugin/template/mod.rs`, `src/plugin/template/config.rs`, `src/plugin/template/text.rs`, `src/plugin/template/text/ast.rs`, `src/plugin/template/text/eval.rs`, `src/plugin/template/rr.rs` |
//! | | `rewrite`: the directive, answers mapped back; its rules; `edns0` rules (their table tests apart); `cname` rules; reading them, `edns0` ones, `cname` and `rcode` ones | `src/plugin/rewrite/mod.rs`, `src/plugin/rewrite/rule.rs`, `src/plugin/rewrite/edns0.rs`, `src/plugin/rewrite/edns0/tests.rs`, `src/plugin/rewrite/cname.rs`, `src/plugin/rewrite/parse.rs`, `src/plugin/rewrite/parse/edns0.rs`, `src/plugin/rewrite/parse/response.rs` |
//! | | `transfer`: AXFR/IXFR of the `kubernetes` zones over TCP to the `to` secondaries; its syntax | `src/plugin/transfer/mod.rs`, `src/plugin/transfer/config.rs` |
//! | | `autopath`: server-side search path completion; its syntax | `src/plugin/autopath/mod.rs`, `src/plugin/autopath/config.rs` |
//! | | `loop`, `reload`, `loadbalance` | `src/plugin/loop_detect.rs`, `src/plugin/reload.rs`, `src/plugin/loadbalance.rs` |
//! | | `bufsize`, `chaos`, `any`, `acl` (its table tests apart) | `src/plugin/bufsize.rs`, `src/plugin/chaos.rs`, `src/plugin/any.rs`, `src/plugin/acl.rs`, `src/plugin/acl/tests.rs` |
//! | sources | Kubernetes types stop here | `src/source/mod.rs` |
//! | | how to reach the API server (`endpoint`, `tls`, `kubeconfig`, qps) | `src/source/api.rs` |
//! | | API client, `SourceError`, API error wording | `src/source/client.rs` |
//! | | live API: spawn, the writer (batches, staleness, programming latency) | `src/source/kube.rs` |
//! | | list-then-watch per kind: watch-cache list, resume, relist on 410 | `src/source/list_watch.rs` |
//! | | retries: unreachable (soon), denied (a grace for a starting API server), other (backoff) | `src/source/retry.rs` |
//! | | what a watcher tells the writer, per-kind adapters | `src/source/watched.rs` |
//! | | `apiserver_qps`/`apiserver_burst` token bucket | `src/source/ratelimit.rs` |
//! | | a stand-in API server for unit tests | `src/source/fake_api.rs` |
//! | | Kubernetes objects → zone model | `src/source/convert.rs` |
//! | | YAML/JSON manifests on disk, watched | `src/source/manifests.rs` |
//! | | the directive's `Filter`; label selectors | `src/source/filter.rs`, `src/source/selector.rs` |
//! | | slim Service/EndpointSlice/ServiceImport/Pod serde types (only the fields DNS reads) | `src/source/objects.rs` |
//! | | protobuf: wire reader, streaming list decoder, metadata, Service, EndpointSlice, Pod, Status | `src/source/proto/mod.rs`, `src/source/proto/wire.rs`, `src/source/proto/list.rs`, `src/source/proto/meta.rs`, `src/source/proto/service.rs`, `src/source/proto/slice.rs`, `src/source/proto/pod.rs`, `src/source/proto/status.rs` |
//! | | Services for `kdns env` from manifests or a kubeconfig | `src/source/env_input.rs` |
//! | | the kube-dns ConfigMap and `--domain` for `kdns migrate kube-dns`, from a file or a kubeconfig | `src/source/kube_dns.rs` |
//! | zone (core) | the snapshot, the store, the answer rules (imports nothing of the crate) | `src/zone/mod.rs` |
//! | | zone model: services, endpoints, pods (our own compact types) | `src/zone/model.rs` |
//! | | the immutable snapshot queries read, namespace versions | `src/zone/snapshot.rs` |
//! | | incremental store: changes, relists; reverse indices; ServiceImports and multicluster slices | `src/zone/store.rs`, `src/zone/index.rs`, `src/zone/mc_store.rs` |
//! | | the published zone: atomic swap, publish generation | `src/zone/handle.rs` |
//! | | the snapshot-friendly map behind every index (delta over a shared base) | `src/zone/layered.rs` |
//! | | the `kubernetes` options that shape answers | `src/zone/options.rs` |
//! | | answering a query from a snapshot (the CoreDNS rules) | `src/zone/lookup.rs`, `src/zone/ctx.rs`, `src/zone/items.rs` |
//! | | the `k8s_external` zone: outside addresses, the apex, `ns1.dns` (CoreDNS's `External()`) | `src/zone/external.rs` |
//! | | a `multicluster` zone (KEP-1645): ServiceImports, `HOST.CLUSTER` names | `src/zone/multicluster.rs` |
//! | | the question name; reverse names and PTR; the namespace scope of an answer | `src/zone/qname.rs`, `src/zone/reverse.rs`, `src/zone/scope.rs` |
//! | | `autopath`: the client's namespace (pod index, else endpoints) and its search path | `src/zone/search.rs` |
//! | | dashed IPs, endpoint labels, zone suffixes | `src/zone/names.rs` |
//! | | the records the zone answers with | `src/zone/record.rs` |
//! | | the whole zone for a transfer, in CoreDNS's order | `src/zone/transfer.rs` |
//! | env vars | kubelet service environment variables | `src/envvars/mod.rs` |
//! | | what they are made from and of | `src/envvars/model.rs` |
//! | | one service's variables; container-env merge; `$(VAR)` expansion | `src/envvars/vars.rs`, `src/envvars/merge.rs`, `src/envvars/expand.rs` |
//! | migration | kube-dns's ConfigMap → the Corefile kubeadm wrote (pure text; imports nothing of the crate) | `src/migrate/mod.rs` |

mod app;
pub mod cli;
pub mod config;
pub mod dns;
pub mod envvars;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
mod http;
mod metrics;
pub mod migrate;
mod nodelocal;
pub mod plugin;
mod serve;
pub mod source;
pub mod zone;
