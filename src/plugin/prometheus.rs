//! `prometheus [ADDRESS]`: `/metrics` on `localhost:9153` (the kubeadm Corefile says `:9153`)
//! and the per-query series of CoreDNS's metrics plugin for this server block:
//! `coredns_dns_requests_total{server,zone,view,proto,family,type}`,
//! `coredns_dns_responses_total{server,zone,view,rcode,plugin}`,
//! `coredns_dns_request_duration_seconds{server,zone,view}`,
//! `coredns_dns_request_size_bytes` / `coredns_dns_response_size_bytes{server,zone,view,proto}`,
//! `coredns_dns_do_requests_total{server,zone,view}`; plus `coredns_build_info` and
//! `coredns_plugin_enabled{server,zone,view,name}`.
use std::sync::Arc;
use std::time::Duration;

use crate::config::args;
use crate::config::syntax::{ConfigError, Line};
use crate::dns::codes::{
    rcode_name, rcode_slot, type_slot, type_slot_name, RCODE_SLOTS, TYPE_SLOTS,
};
use crate::dns::observe::{Observer, Recount, Replay, Report as Finished};
use crate::dns::{Proto, Query};
use crate::metrics::{self, Counter, Histogram, LazySeries, SIZE_BUCKETS, TIME_BUCKETS};
use crate::zone::names::strip_zone;

const D: &str = "prometheus";
/// Where `/metrics` is served when `prometheus` has no ADDRESS (CoreDNS's default).
pub const DEFAULT_ADDR: &str = "localhost:9153";

/// A parsed `prometheus [ADDRESS]` directive.
#[derive(Debug, Clone, PartialEq)]
pub struct PrometheusConfig {
    /// `HOST:PORT` or `:PORT` to serve `/metrics` on ([`DEFAULT_ADDR`] when not given).
    pub addr: String,
}

/// Parses `prometheus [ADDRESS] [{ runtime_metrics }]` (`tls` is refused).
pub fn parse(line: &Line) -> Result<PrometheusConfig, ConfigError> {
    let addr = args::optional_http_addr(line, DEFAULT_ADDR, D)?;
    for o in args::block(line) {
        match o.name().text.as_str() {
            // Go runtime metrics: nothing to add in kdns.
            "runtime_metrics" => args::no_args(o, D)?,
            "tls" => {
                return Err(ConfigError::at(
                    o.name(),
                    Some(D),
                    "tls is not supported by kdns",
                ))
            }
            _ => return Err(args::unknown(o, D)),
        }
    }
    Ok(PrometheusConfig { addr })
}

struct ZoneSeries {
    zone: String,
    requests: LazySeries<Counter>,
    do_requests: LazySeries<Counter>,
    duration: LazySeries<Histogram>,
    request_size: LazySeries<Histogram>,
    response_size: LazySeries<Histogram>,
    responses: LazySeries<Counter>,
}

/// The per-query series of one server block.
pub struct DnsMetrics {
    server: String,
    zones: Vec<ZoneSeries>,
    /// Queries no server block on the port covers (REFUSED): CoreDNS's zone `dropped`.
    dropped: ZoneSeries,
    /// The `plugin` label of written answers. CoreDNS 1.14.7 records the directive that comes
    /// right after `prometheus` in the chain (its response-writer wrapper is the only one the
    /// recorder sees), e.g. `errors` with kubeadm's Corefile, whoever answered; answers no
    /// directive wrote (a failed forward, "no next plugin") have `""`.
    writer: &'static str,
}

/// What one finished query reports.
pub struct Report<'a> {
    /// The question, with its transport, client family, type and DO bit (the series labels).
    pub query: &'a Query,
    /// The response code sent (`rcode` label).
    pub rcode: u16,
    /// A directive wrote the answer (as opposed to returning an error code).
    pub written: bool,
    /// Bytes of the response on the wire (`coredns_dns_response_size_bytes`).
    pub response_size: usize,
    /// From the request's arrival to the response written
    /// (`coredns_dns_request_duration_seconds`).
    pub took: Duration,
}

impl DnsMetrics {
    /// `writer`: the directive after `prometheus` in the block's chain (`""` if none).
    pub fn new(server: &str, zones: &[String], writer: &'static str) -> Arc<Self> {
        let z = |zone: &String| ZoneSeries {
            zone: zone.clone(),
            requests: LazySeries::new(2 * 2 * TYPE_SLOTS),
            do_requests: LazySeries::new(1),
            duration: LazySeries::new(1),
            request_size: LazySeries::new(2),
            response_size: LazySeries::new(2),
            responses: LazySeries::new(RCODE_SLOTS * 2),
        };
        Arc::new(Self {
            server: server.to_string(),
            zones: zones.iter().map(z).collect(),
            dropped: z(&"dropped".to_string()),
            writer,
        })
    }

    fn zone(&self, lower: &str) -> Option<&ZoneSeries> {
        self.zones
            .iter()
            .filter(|z| strip_zone(lower, &z.zone).is_some())
            .max_by_key(|z| z.zone.len())
    }

    /// Counts one query: lock-free once each label set has been seen.
    pub fn record(&self, r: &Report<'_>) {
        if let Some(f) = self.fast(r) {
            f.record(r.query.size, r.response_size, r.took);
        }
    }
}

/// One label set of a block's series, resolved ahead: replaying a cached answer counts it
/// with a few atomic adds.
pub struct FastSeries {
    requests: Arc<Counter>,
    do_requests: Option<Arc<Counter>>,
    duration: Arc<Histogram>,
    request_size: Arc<Histogram>,
    response_size: Arc<Histogram>,
    responses: Arc<Counter>,
}

impl FastSeries {
    /// Counts one query: a request of `request_size` bytes answered with `response_size`
    /// bytes after `took`.
    pub fn record(&self, request_size: usize, response_size: usize, took: Duration) {
        self.requests.inc();
        if let Some(d) = &self.do_requests {
            d.inc();
        }
        self.duration.observe_duration(took);
        self.request_size.observe(request_size as u64);
        self.response_size.observe(response_size as u64);
        self.responses.inc();
    }
}

impl DnsMetrics {
    /// The series [`DnsMetrics::record`] would count for this report (the same counters).
    pub fn fast(&self, r: &Report<'_>) -> Option<FastSeries> {
        self.zone(&r.query.lower).map(|z| self.fast_in(z, r))
    }

    /// Counts a query no server block covered.
    pub fn record_dropped(&self, r: &Report<'_>) {
        self.fast_in(&self.dropped, r)
            .record(r.query.size, r.response_size, r.took);
    }

    fn fast_in(&self, z: &ZoneSeries, r: &Report<'_>) -> FastSeries {
        let reg = metrics::global();
        let (server, zone) = (self.server.as_str(), z.zone.as_str());
        let proto = r.query.proto.as_str();
        let p = usize::from(r.query.proto == Proto::Tcp);
        let fam = usize::from(r.query.src.is_ipv6());
        let t = type_slot(r.query.qtype);
        let sized = [
            ("server", server),
            ("zone", zone),
            ("view", ""),
            ("proto", proto),
        ];
        let rs = rcode_slot(r.rcode);
        let plugin = if r.written { self.writer } else { "" };
        FastSeries {
            requests: z.requests.get_arc((p * 2 + fam) * TYPE_SLOTS + t, || {
                reg.counter(
                    "coredns_dns_requests_total",
                    "Counter of DNS requests made per zone, protocol and family.",
                    &[
                        ("server", server),
                        ("zone", zone),
                        ("view", ""),
                        ("proto", proto),
                        ("family", if fam == 1 { "2" } else { "1" }),
                        ("type", &type_slot_name(t)),
                    ],
                )
            }),
            do_requests: r.query.dnssec_ok.then(|| {
                z.do_requests.get_arc(0, || {
                    reg.counter(
                        "coredns_dns_do_requests_total",
                        "Counter of DNS requests with DO bit set per zone.",
                        &[("server", server), ("zone", zone), ("view", "")],
                    )
                })
            }),
            duration: z.duration.get_arc(0, || {
                reg.seconds(
                    "coredns_dns_request_duration_seconds",
                    "Histogram of the time (in seconds) each request took per zone.",
                    &[("server", server), ("zone", zone), ("view", "")],
                    TIME_BUCKETS,
                )
            }),
            request_size: z.request_size.get_arc(p, || {
                reg.bytes(
                    "coredns_dns_request_size_bytes",
                    "Size of the EDNS0 UDP buffer in bytes (64K for TCP) per zone and protocol.",
                    &sized,
                    SIZE_BUCKETS,
                )
            }),
            response_size: z.response_size.get_arc(p, || {
                reg.bytes(
                    "coredns_dns_response_size_bytes",
                    "Size of the returned response in bytes.",
                    &sized,
                    SIZE_BUCKETS,
                )
            }),
            responses: z.responses.get_arc(rs * 2 + usize::from(r.written), || {
                reg.counter(
                    "coredns_dns_responses_total",
                    "Counter of response status codes.",
                    &[
                        ("server", server),
                        ("zone", zone),
                        ("view", ""),
                        ("rcode", &rcode_name(r.rcode)),
                        ("plugin", plugin),
                    ],
                )
            }),
        }
    }
}

impl Recount for FastSeries {
    fn record(&self, request_size: usize, response_size: usize, took: Duration) {
        FastSeries::record(self, request_size, response_size, took);
    }
}

fn report<'a>(r: &'a Finished<'a>) -> Report<'a> {
    Report {
        query: r.query,
        rcode: r.sent.rcode,
        written: r.answer.error.is_none(),
        response_size: r.sent.rsize,
        took: r.sent.took,
    }
}

impl Observer for DnsMetrics {
    fn observe(&self, r: &Finished<'_>) {
        self.record(&report(r));
    }

    fn replay(&self, r: &Finished<'_>) -> Replay {
        match self.fast(&report(r)) {
            Some(f) => Replay::Count(Arc::new(f)),
            None => Replay::Nothing,
        }
    }

    fn dropped(&self, r: &Finished<'_>) -> bool {
        self.record_dropped(&Report {
            written: false,
            ..report(r)
        });
        true
    }
}

/// `coredns_build_info`, and the process-wide series CoreDNS always shows (at zero until
/// something happens): `coredns_panics_total`, `coredns_reload_failed_total`, the health
/// self-check histogram and failures.
pub fn build_info() {
    let reg = metrics::global();
    reg.counter(
        "coredns_panics_total",
        "A metrics that counts the number of panics.",
        &[],
    );
    reg.counter(
        "coredns_reload_failed_total",
        "Counter of the number of failed reload attempts.",
        &[],
    );
    reg.seconds(
        "coredns_health_request_duration_seconds",
        "Histogram of the time (in seconds) each request took.",
        &[],
        super::health::SELF_CHECK_BUCKETS,
    );
    reg.counter(
        "coredns_health_request_failures_total",
        "The number of times the health check failed.",
        &[],
    );
    reg
        .gauge(
            "coredns_build_info",
            "A metric with a constant '1' value labeled by version, revision, and goversion from which CoreDNS was built.",
            &[
                ("version", env!("CARGO_PKG_VERSION")),
                ("revision", "kdns"),
                ("goversion", "none"),
            ],
        )
        .set(1);
}

/// `coredns_plugin_enabled` for one server block's directives.
pub fn plugins_enabled(server: &str, zone: &str, names: &[&str]) {
    let reg = metrics::global();
    for n in names {
        reg.gauge(
            "coredns_plugin_enabled",
            "A metric that indicates whether a plugin is enabled on per server and zone basis.",
            &[
                ("server", server),
                ("zone", zone),
                ("view", ""),
                ("name", n),
            ],
        )
        .set(1);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{load_str, Plugin};
    use hickory_server::proto::rr::{Name, RecordType};
    use std::path::Path;

    fn cfg(text: &str) -> Result<PrometheusConfig, ConfigError> {
        let c = load_str(text, Path::new("Corefile"), 53)?;
        Ok(c.blocks[0]
            .plugins
            .iter()
            .find_map(|p| match p {
                Plugin::Prometheus(m) => Some(m.clone()),
                _ => None,
            })
            .expect("a prometheus directive"))
    }

    #[test]
    fn parse_table() {
        assert_eq!(
            cfg(".:53 {\n prometheus\n}\n").unwrap().addr,
            "localhost:9153"
        );
        assert_eq!(cfg(".:53 {\n prometheus :9153\n}\n").unwrap().addr, ":9153");
        assert_eq!(
            cfg(".:53 {\n prometheus 0.0.0.0:9253 {\n  runtime_metrics\n }\n}\n")
                .unwrap()
                .addr,
            "0.0.0.0:9253"
        );
        for (text, want) in [
            (
                ".:53 {\n prometheus 9153\n}\n",
                "Corefile:2: prometheus: address \"9153\": missing port",
            ),
            (
                ".:53 {\n prometheus :1 :2\n}\n",
                "Corefile:2: prometheus: expects at most one address",
            ),
            (
                ".:53 {\n prometheus {\n  tls x\n }\n}\n",
                "Corefile:3: prometheus: tls is not supported",
            ),
            (
                ".:53 {\n prometheus {\n  path /m\n }\n}\n",
                "Corefile:3: prometheus: unknown property \"path\"",
            ),
        ] {
            let e = cfg(text).unwrap_err().to_string();
            assert!(e.starts_with(want), "{e} vs {want}");
        }
    }

    #[test]
    fn records_coredns_series() {
        let m = DnsMetrics::new(
            "dns://:5399",
            &[".".to_string(), "unit-test.example.".to_string()],
            "errors",
        );
        let mut q = Query::internal(
            Name::from_ascii("a.unit-test.example.").unwrap(),
            RecordType::AAAA,
        );
        q.size = 40;
        for _ in 0..3 {
            m.record(&Report {
                query: &q,
                rcode: 3,
                written: true,
                response_size: 300,
                took: Duration::from_millis(3),
            });
        }
        let reg = metrics::global();
        assert_eq!(
            reg.value(
                "coredns_dns_requests_total",
                &["dns://:5399", "unit-test.example.", "", "udp", "1", "AAAA"]
            ),
            Some(3.0)
        );
        assert_eq!(
            reg.value(
                "coredns_dns_responses_total",
                &[
                    "dns://:5399",
                    "unit-test.example.",
                    "",
                    "NXDOMAIN",
                    "errors"
                ]
            ),
            Some(3.0)
        );
        assert_eq!(
            reg.value(
                "coredns_dns_request_duration_seconds",
                &["dns://:5399", "unit-test.example.", ""]
            ),
            Some(3.0)
        );
        let text = reg.render();
        assert!(text.contains("coredns_dns_response_size_bytes_bucket{server=\"dns://:5399\",zone=\"unit-test.example.\",view=\"\",proto=\"udp\",le=\"300\"} 3"), "{text}");
    }
}
