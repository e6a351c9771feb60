//! The `kubernetes` directive: `kubernetes [ZONES…] { options }`, with CoreDNS's options and
//! meanings, plus `manifests DIR` to read objects from files instead of the API.
//!
//! ```text
//! kubernetes cluster.local in-addr.arpa ip6.arpa {
//!     manifests DIR            # kdns: objects from YAML/JSON files (relative to the Corefile)
//!     kubeconfig PATH [CONTEXT] | endpoint URL | tls CERT KEY CACERT   # the API (default: in-cluster)
//!     namespaces NS…           # serve only these namespaces
//!     labels SELECTOR          # only objects matching this label selector
//!     namespace_labels SELECTOR
//!     pods disabled|insecure|verified
//!     endpoint_pod_names
//!     ttl 0..3600              # default 5
//!     noendpoints
//!     fallthrough [ZONES…]
//!     ignore empty_service
//!     zonal                    # TOPOZONE.pin|prefer._zone.SVC.NS.svc.ZONE for headless services
//!     multicluster [ZONES…]    # answer these zones from ServiceImports (KEP-1645)
//!     startup_timeout DURATION # default 5s
//!     apiserver_qps N          # rate limit of list/watch requests (source/ratelimit.rs)
//!     apiserver_burst N
//! }
//! ```
//!
//! [`parse`] reads the directive's zones, then hands each option line to `Options::option`,
//! which dispatches to one small function per option.
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::args;
use crate::config::syntax::{normalize_zone, ConfigError, Line, Token};
use crate::source::api::ApiConfig;
use crate::source::selector::Selector;
use crate::zone::reverse::is_reverse_zone;
use crate::zone::{Fallthrough, KubeOptions, PodMode};

const D: Option<&str> = Some("kubernetes");

/// Where the objects come from.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceConfig {
    /// `manifests DIR`: YAML/JSON files, the path made absolute against the Corefile's directory.
    Manifests(PathBuf),
    /// The API server: in-cluster, or as `endpoint`, `tls` and `kubeconfig` say.
    Api(ApiConfig),
}

/// One parsed `kubernetes` directive.
#[derive(Debug, Clone)]
pub struct KubernetesConfig {
    /// What the zone answers: zones, `pods`, `ttl`, `namespaces`, `fallthrough` and the rest.
    pub options: KubeOptions,
    /// Where the objects come from.
    pub source: SourceConfig,
    /// `labels`: only objects matching this selector (empty: all).
    pub labels: Selector,
    /// `namespace_labels`: only namespaces matching this selector.
    pub namespace_labels: Option<Selector>,
    /// `noendpoints`: do not watch EndpointSlices.
    pub noendpoints: bool,
    /// `startup_timeout`: how long to wait for the first sync before serving anyway.
    pub startup_timeout: Duration,
    /// `FILE:LINE` of the directive.
    pub at: String,
}

fn one_arg(line: &Line) -> Result<&Token, ConfigError> {
    args::one(line, "kubernetes", "exactly one argument")
}

fn no_args(line: &Line) -> Result<(), ConfigError> {
    args::no_args(line, "kubernetes")
}

fn zones_of(args: &[Token]) -> Result<Vec<String>, ConfigError> {
    args.iter()
        .map(|a| normalize_zone(&a.text).map_err(|m| ConfigError::at(a, D, m)))
        .collect()
}

/// Parses one `kubernetes` line (and its block) in a server block serving `block_zones`.
pub fn parse(line: &Line, block_zones: &[String]) -> Result<KubernetesConfig, ConfigError> {
    let name = line.name();
    let zones = if line.args().is_empty() {
        block_zones.to_vec()
    } else {
        zones_of(line.args())?
    };
    let Some(primary_zone) = zones.iter().position(|z| !is_reverse_zone(z)) else {
        return Err(ConfigError::at(
            name,
            D,
            "needs at least one zone that is not a reverse zone (e.g. cluster.local)",
        ));
    };
    let mut o = Options::new(name, zones, primary_zone);
    for opt in args::block(line) {
        o.option(opt)?;
    }
    o.finish(name)
}

/// What a `kubernetes` block's options have set so far.
struct Options {
    /// The Corefile's directory: `manifests` paths are relative to it.
    base: PathBuf,
    opts: KubeOptions,
    manifests: Option<PathBuf>,
    api: ApiConfig,
    /// The last option that named an API connection (`endpoint`, `tls`, `kubeconfig`).
    api_at: Option<Token>,
    labels: Selector,
    namespace_labels: Option<Selector>,
    noendpoints: bool,
    startup_timeout: Duration,
}

impl Options {
    fn new(name: &Token, zones: Vec<String>, primary_zone: usize) -> Self {
        Options {
            base: name.file.parent().map(PathBuf::from).unwrap_or_default(),
            opts: KubeOptions {
                zones,
                primary_zone,
                ..KubeOptions::default()
            },
            manifests: None,
            api: ApiConfig::default(),
            api_at: None,
            labels: Selector::default(),
            namespace_labels: None,
            noendpoints: false,
            startup_timeout: Duration::from_secs(5),
        }
    }

    /// One option line of the block.
    fn option(&mut self, opt: &Line) -> Result<(), ConfigError> {
        let o = opt.name();
        if opt.block.is_some() {
            return Err(ConfigError::at(
                o,
                D,
                format!("option {} takes no block", o.text),
            ));
        }
        match o.text.as_str() {
            "manifests" => self.manifests = Some(manifests(opt, &self.base)?),
            "endpoint" => self.api.endpoint = Some(self.api_option(opt, endpoint)?),
            "tls" => self.api.tls = Some(self.api_option(opt, tls)?),
            "kubeconfig" => self.api.kubeconfig = Some(self.api_option(opt, kubeconfig)?),
            "namespaces" => self.opts.namespaces = namespaces(opt)?,
            "labels" => self.labels = selector(opt)?,
            "namespace_labels" => self.namespace_labels = Some(selector(opt)?),
            "pods" => self.opts.pods = pods(opt)?,
            "endpoint_pod_names" => self.opts.endpoint_pod_names = flag(opt)?,
            "ttl" => self.opts.ttl = ttl(opt)?,
            "noendpoints" => self.noendpoints = flag(opt)?,
            "zonal" => self.opts.zonal = flag(opt)?,
            // CoreDNS: the zones given (none: no multicluster zone); they take effect when
            // they are also among the directive's zones.
            "multicluster" => self.opts.multicluster = zones_of(opt.args())?,
            "fallthrough" => self.opts.fallthrough = fallthrough(opt)?,
            "ignore" => self.opts.ignore_empty_service = ignore(opt)?,
            "startup_timeout" => self.startup_timeout = startup_timeout(opt)?,
            "apiserver_qps" => self.api.qps = Some(apiserver_qps(opt)?),
            "apiserver_burst" => self.api.burst = Some(apiserver_burst(opt)?),
            _ => return Err(args::unknown(opt, "kubernetes")),
        }
        Ok(())
    }

    /// An option naming the API connection: parsed by `f`, remembered for the `manifests` check.
    fn api_option<T>(
        &mut self,
        opt: &Line,
        f: fn(&Line) -> Result<T, ConfigError>,
    ) -> Result<T, ConfigError> {
        let v = f(opt)?;
        self.api_at = Some(opt.name().clone());
        Ok(v)
    }

    /// The checks across options, then the directive's config.
    fn finish(self, name: &Token) -> Result<KubernetesConfig, ConfigError> {
        if self.opts.zonal && self.noendpoints {
            return Err(ConfigError::at(
                name,
                D,
                "zonal requires the endpoint cache; remove noendpoints",
            ));
        }
        let source = match (self.manifests, self.api_at) {
            (Some(_), Some(t)) => return Err(ConfigError::at(
                &t,
                D,
                "manifests and an API connection (endpoint, tls, kubeconfig) are mutually exclusive",
            )),
            (Some(dir), None) => SourceConfig::Manifests(dir),
            (None, _) => SourceConfig::Api(self.api),
        };
        Ok(KubernetesConfig {
            options: self.opts,
            source,
            labels: self.labels,
            namespace_labels: self.namespace_labels,
            noendpoints: self.noendpoints,
            startup_timeout: self.startup_timeout,
            at: name.at(),
        })
    }
}

/// `manifests DIR`, relative to `base` unless absolute.
fn manifests(opt: &Line, base: &Path) -> Result<PathBuf, ConfigError> {
    let p = PathBuf::from(&one_arg(opt)?.text);
    Ok(if p.is_absolute() { p } else { base.join(p) })
}

/// `endpoint URL`.
fn endpoint(opt: &Line) -> Result<String, ConfigError> {
    Ok(one_arg(opt)?.text.clone())
}

/// `tls CERT KEY CACERT`.
fn tls(opt: &Line) -> Result<(PathBuf, PathBuf, PathBuf), ConfigError> {
    let [c, k, ca] = opt.args() else {
        return Err(ConfigError::at(
            opt.name(),
            D,
            "tls expects CERT KEY CACERT",
        ));
    };
    Ok((
        c.text.clone().into(),
        k.text.clone().into(),
        ca.text.clone().into(),
    ))
}

/// `kubeconfig PATH [CONTEXT]`.
fn kubeconfig(opt: &Line) -> Result<(PathBuf, Option<String>), ConfigError> {
    let (path, ctx) = match opt.args() {
        [p] => (p, None),
        [p, c] => (p, Some(c.text.clone())),
        _ => {
            return Err(ConfigError::at(
                opt.name(),
                D,
                "kubeconfig expects PATH [CONTEXT]",
            ))
        }
    };
    Ok((path.text.clone().into(), ctx))
}

/// `namespaces NS…`, lower-cased.
fn namespaces(opt: &Line) -> Result<Vec<String>, ConfigError> {
    let args = opt.args();
    if args.is_empty() {
        return Err(ConfigError::at(
            opt.name(),
            D,
            "namespaces expects at least one namespace",
        ));
    }
    Ok(args.iter().map(|a| a.text.to_ascii_lowercase()).collect())
}

/// `labels SELECTOR` and `namespace_labels SELECTOR`: the words joined by spaces.
fn selector(opt: &Line) -> Result<Selector, ConfigError> {
    let (o, args) = (opt.name(), opt.args());
    if args.is_empty() {
        return Err(ConfigError::at(
            o,
            D,
            format!("{} expects a label selector", o.text),
        ));
    }
    let text = args
        .iter()
        .map(|a| a.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    Selector::parse(&text).map_err(|e| ConfigError::at(o, D, e.to_string()))
}

/// `pods disabled|insecure|verified`.
fn pods(opt: &Line) -> Result<PodMode, ConfigError> {
    Ok(match one_arg(opt)?.text.as_str() {
        "disabled" => PodMode::Disabled,
        "insecure" => PodMode::Insecure,
        "verified" => PodMode::Verified,
        other => {
            return Err(ConfigError::at(
                opt.name(),
                D,
                format!("pods: invalid mode {other:?} (disabled, insecure or verified)"),
            ))
        }
    })
}

/// An option without arguments that switches something on: `endpoint_pod_names`,
/// `noendpoints`, `zonal`.
fn flag(opt: &Line) -> Result<bool, ConfigError> {
    no_args(opt)?;
    Ok(true)
}

/// `ttl 0..3600`.
fn ttl(opt: &Line) -> Result<u32, ConfigError> {
    let a = one_arg(opt)?;
    a.text.parse().ok().filter(|t| *t <= 3600).ok_or_else(|| {
        ConfigError::at(
            a,
            D,
            format!(
                "ttl must be a number of seconds from 0 to 3600, got {:?}",
                a.text
            ),
        )
    })
}

/// `fallthrough [ZONES…]`.
fn fallthrough(opt: &Line) -> Result<Fallthrough, ConfigError> {
    Ok(if opt.args().is_empty() {
        Fallthrough::All
    } else {
        Fallthrough::Zones(zones_of(opt.args())?)
    })
}

/// `ignore empty_service`.
fn ignore(opt: &Line) -> Result<bool, ConfigError> {
    let a = one_arg(opt)?;
    if a.text != "empty_service" {
        return Err(ConfigError::at(
            a,
            D,
            format!("ignore: unknown value {:?} (only empty_service)", a.text),
        ));
    }
    Ok(true)
}

/// `startup_timeout DURATION`.
fn startup_timeout(opt: &Line) -> Result<Duration, ConfigError> {
    let a = one_arg(opt)?;
    args::parse_duration(&a.text).ok_or_else(|| {
        ConfigError::at(
            a,
            D,
            format!("startup_timeout: invalid duration {:?} (e.g. 5s)", a.text),
        )
    })
}

/// Smallest `apiserver_qps` (one request per 1,000 s): below it a wait would be unbounded.
const MIN_QPS: f32 = 0.001;

/// `apiserver_qps N`, a finite number of at least [`MIN_QPS`].
fn apiserver_qps(opt: &Line) -> Result<f32, ConfigError> {
    let a = one_arg(opt)?;
    a.text
        .parse()
        .ok()
        .filter(|q: &f32| q.is_finite() && *q >= MIN_QPS)
        .ok_or_else(|| {
            ConfigError::at(
                a,
                D,
                "apiserver_qps must be a number from 0.001 (requests per second)",
            )
        })
}

/// `apiserver_burst N`, a positive integer.
fn apiserver_burst(opt: &Line) -> Result<u32, ConfigError> {
    let a = one_arg(opt)?;
    a.text
        .parse()
        .ok()
        .filter(|b: &u32| *b > 0)
        .ok_or_else(|| ConfigError::at(a, D, "apiserver_burst must be a positive integer"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::args::parse_duration;
    use crate::config::directives::Plugin;
    use crate::config::testing::first_directive_at;
    use std::path::Path;

    fn k(text: &str) -> Result<KubernetesConfig, ConfigError> {
        first_directive_at(Path::new("/etc/kdns/Corefile"), text, |p| match p {
            Plugin::Kubernetes(k) => Some((**k).clone()),
            _ => None,
        })
    }

    #[test]
    fn options() {
        let c = k("cluster.local:53 in-addr.arpa:53 {\n kubernetes {\n  manifests m\n  pods insecure\n  ttl 30\n  fallthrough in-addr.arpa\n  namespaces a b\n  labels app=x\n  ignore empty_service\n  endpoint_pod_names\n  startup_timeout 1m30s\n }\n}\n").unwrap();
        assert_eq!(c.options.zones, vec!["cluster.local.", "in-addr.arpa."]);
        assert_eq!(c.options.pods, PodMode::Insecure);
        assert_eq!(c.options.ttl, 30);
        assert_eq!(
            c.options.fallthrough,
            Fallthrough::Zones(vec!["in-addr.arpa.".into()])
        );
        assert_eq!(c.options.namespaces, vec!["a", "b"]);
        assert!(c.options.ignore_empty_service && c.options.endpoint_pod_names);
        assert_eq!(c.source, SourceConfig::Manifests("/etc/kdns/m".into()));
        assert_eq!(c.startup_timeout, Duration::from_secs(90));
    }

    #[test]
    fn apiserver_qps_is_a_finite_rate_from_one_per_1000_s() {
        let qps = |v: &str| {
            k(&format!(
                ".:53 {{\n kubernetes cluster.local {{\n  apiserver_qps {v}\n }}\n}}\n"
            ))
            .map(|c| match c.source {
                SourceConfig::Api(a) => a.qps,
                SourceConfig::Manifests(_) => None,
            })
            .map_err(|e| e.to_string())
        };
        assert_eq!(qps("5"), Ok(Some(5.0)));
        assert_eq!(qps("0.001"), Ok(Some(0.001)));
        for bad in ["0", "-1", "1e-40", "0.0009", "inf", "NaN", "x"] {
            let e = qps(bad).unwrap_err();
            assert!(
                e.starts_with("/etc/kdns/Corefile:3: kubernetes: apiserver_qps must be a number"),
                "{bad}: {e}"
            );
        }
    }

    #[test]
    fn zones_from_args_and_primary() {
        let c = k(".:53 {\n kubernetes in-addr.arpa cluster.local\n}\n").unwrap();
        assert_eq!(c.options.primary_zone, 1);
        assert!(k(".:53 {\n kubernetes in-addr.arpa\n}\n").is_err());
    }

    /// `multicluster [ZONES…]`, as CoreDNS's setup.go reads it: the zones given, normalized;
    /// none given is no multicluster zone.
    #[test]
    fn multicluster_zones() {
        let mc = |o: &str| {
            k(&format!(
                ".:53 {{\n kubernetes cluster.local clusterset.local {{\n  {o}\n }}\n}}\n"
            ))
            .map(|c| c.options.multicluster)
            .map_err(|e| e.to_string())
        };
        assert_eq!(
            mc("multicluster ClusterSet.Local"),
            Ok(vec!["clusterset.local.".into()])
        );
        assert_eq!(mc("multicluster"), Ok(vec![]));
        assert_eq!(mc("zonal"), Ok(vec![]));
        let e = mc("multicluster a..b").unwrap_err();
        assert!(e.starts_with("/etc/kdns/Corefile:3: kubernetes:"), "{e}");
    }

    #[test]
    fn bad_options_name_the_line() {
        for (text, want) in [
            (
                ".:53 {\n kubernetes cluster.local {\n  ttl 3601\n }\n}\n",
                "/etc/kdns/Corefile:3: kubernetes: ttl must be",
            ),
            (
                ".:53 {\n kubernetes cluster.local {\n  pods maybe\n }\n}\n",
                "/etc/kdns/Corefile:3: kubernetes: pods: invalid mode",
            ),
            (
                ".:53 {\n kubernetes cluster.local {\n  upstream\n }\n}\n",
                "/etc/kdns/Corefile:3: kubernetes: unknown property \"upstream\"",
            ),
            (
                ".:53 {\n kubernetes cluster.local {\n  manifests a\n  kubeconfig b\n }\n}\n",
                "/etc/kdns/Corefile:4: kubernetes: manifests and an API",
            ),
            (
                ".:53 {\n kubernetes cluster.local {\n  labels a in b\n }\n}\n",
                "/etc/kdns/Corefile:3: kubernetes: invalid label selector",
            ),
        ] {
            let e = k(text).unwrap_err().to_string();
            assert!(e.starts_with(want), "{e} does not start with {want}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5s"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(parse_duration("5"), None);
        assert_eq!(parse_duration("x"), None);
    }
}
