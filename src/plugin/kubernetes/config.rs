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
//!     startup_timeout DURATION # default 5s
//!     apiserver_qps N          # rate limit of list/watch requests (source/ratelimit.rs)
//!     apiserver_burst N
//! }
//! ```
use std::path::PathBuf;
use std::time::Duration;

use crate::config::args;
use crate::config::syntax::{is_reverse_zone, normalize_zone, ConfigError, Line, Token};
use crate::source::api::ApiConfig;
use crate::source::selector::Selector;
use crate::zone::{Fallthrough, KubeOptions, PodMode};

const D: Option<&str> = Some("kubernetes");

/// Where the objects come from.
#[derive(Debug, Clone, PartialEq)]
pub enum SourceConfig {
    Manifests(PathBuf),
    Api(ApiConfig),
}

#[derive(Debug, Clone)]
pub struct KubernetesConfig {
    pub options: KubeOptions,
    pub source: SourceConfig,
    pub labels: Selector,
    pub namespace_labels: Option<Selector>,
    pub noendpoints: bool,
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
    let base = name.file.parent().map(PathBuf::from).unwrap_or_default();
    let mut opts = KubeOptions {
        zones,
        primary_zone,
        ..KubeOptions::default()
    };
    let mut manifests: Option<PathBuf> = None;
    let mut api = ApiConfig::default();
    let mut api_at: Option<Token> = None;
    let mut labels = Selector::default();
    let mut namespace_labels = None;
    let mut noendpoints = false;
    let mut startup_timeout = Duration::from_secs(5);

    for opt in line.block.as_deref().unwrap_or_default() {
        let o = opt.name();
        if opt.block.is_some() {
            return Err(ConfigError::at(
                o,
                D,
                format!("option {} takes no block", o.text),
            ));
        }
        let args = opt.args();
        match o.text.as_str() {
            "manifests" => {
                let p = PathBuf::from(&one_arg(opt)?.text);
                manifests = Some(if p.is_absolute() { p } else { base.join(p) });
            }
            "endpoint" => {
                let a = one_arg(opt)?;
                api.endpoint = Some(a.text.clone());
                api_at = Some(o.clone());
            }
            "tls" => {
                let [c, k, ca] = args else {
                    return Err(ConfigError::at(o, D, "tls expects CERT KEY CACERT"));
                };
                api.tls = Some((
                    c.text.clone().into(),
                    k.text.clone().into(),
                    ca.text.clone().into(),
                ));
                api_at = Some(o.clone());
            }
            "kubeconfig" => {
                let (path, ctx) = match args {
                    [p] => (p, None),
                    [p, c] => (p, Some(c.text.clone())),
                    _ => return Err(ConfigError::at(o, D, "kubeconfig expects PATH [CONTEXT]")),
                };
                api.kubeconfig = Some((path.text.clone().into(), ctx));
                api_at = Some(o.clone());
            }
            "namespaces" => {
                if args.is_empty() {
                    return Err(ConfigError::at(
                        o,
                        D,
                        "namespaces expects at least one namespace",
                    ));
                }
                opts.namespaces = args.iter().map(|a| a.text.to_ascii_lowercase()).collect();
            }
            "labels" | "namespace_labels" => {
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
                let sel =
                    Selector::parse(&text).map_err(|e| ConfigError::at(o, D, e.to_string()))?;
                if o.text == "labels" {
                    labels = sel;
                } else {
                    namespace_labels = Some(sel);
                }
            }
            "pods" => {
                opts.pods = match one_arg(opt)?.text.as_str() {
                    "disabled" => PodMode::Disabled,
                    "insecure" => PodMode::Insecure,
                    "verified" => PodMode::Verified,
                    other => {
                        return Err(ConfigError::at(
                            o,
                            D,
                            format!(
                                "pods: invalid mode {other:?} (disabled, insecure or verified)"
                            ),
                        ))
                    }
                }
            }
            "endpoint_pod_names" => {
                no_args(opt)?;
                opts.endpoint_pod_names = true;
            }
            "ttl" => {
                let a = one_arg(opt)?;
                let ttl: u32 = a.text.parse().ok().filter(|t| *t <= 3600).ok_or_else(|| {
                    ConfigError::at(
                        a,
                        D,
                        format!(
                            "ttl must be a number of seconds from 0 to 3600, got {:?}",
                            a.text
                        ),
                    )
                })?;
                opts.ttl = ttl;
            }
            "noendpoints" => {
                no_args(opt)?;
                noendpoints = true;
            }
            "zonal" => {
                no_args(opt)?;
                opts.zonal = true;
            }
            "fallthrough" => {
                opts.fallthrough = if args.is_empty() {
                    Fallthrough::All
                } else {
                    Fallthrough::Zones(zones_of(args)?)
                };
            }
            "ignore" => {
                let a = one_arg(opt)?;
                if a.text != "empty_service" {
                    return Err(ConfigError::at(
                        a,
                        D,
                        format!("ignore: unknown value {:?} (only empty_service)", a.text),
                    ));
                }
                opts.ignore_empty_service = true;
            }
            "startup_timeout" => {
                let a = one_arg(opt)?;
                startup_timeout = args::parse_duration(&a.text).ok_or_else(|| {
                    ConfigError::at(
                        a,
                        D,
                        format!("startup_timeout: invalid duration {:?} (e.g. 5s)", a.text),
                    )
                })?;
            }
            "apiserver_qps" => {
                let a = one_arg(opt)?;
                api.qps = Some(a.text.parse().ok().filter(|q: &f32| *q > 0.0).ok_or_else(
                    || ConfigError::at(a, D, "apiserver_qps must be a positive number"),
                )?);
            }
            "apiserver_burst" => {
                let a = one_arg(opt)?;
                api.burst = Some(a.text.parse().ok().filter(|b: &u32| *b > 0).ok_or_else(
                    || ConfigError::at(a, D, "apiserver_burst must be a positive integer"),
                )?);
            }
            other => return Err(ConfigError::at(o, D, format!("unknown property {other:?}"))),
        }
    }
    if opts.zonal && noendpoints {
        return Err(ConfigError::at(
            name,
            D,
            "zonal requires the endpoint cache; remove noendpoints",
        ));
    }
    let source = match (manifests, api_at) {
        (Some(_), Some(t)) => return Err(ConfigError::at(
            &t,
            D,
            "manifests and an API connection (endpoint, tls, kubeconfig) are mutually exclusive",
        )),
        (Some(dir), None) => SourceConfig::Manifests(dir),
        (None, _) => SourceConfig::Api(api),
    };
    Ok(KubernetesConfig {
        options: opts,
        source,
        labels,
        namespace_labels,
        noendpoints,
        startup_timeout,
        at: name.at(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::args::parse_duration;
    use crate::config::{load_str, Plugin};
    use std::path::Path;

    fn k(text: &str) -> Result<KubernetesConfig, ConfigError> {
        let c = load_str(text, Path::new("/etc/kdns/Corefile"), 53)?;
        match c.blocks[0].plugins[0].clone() {
            Plugin::Kubernetes(k) => Ok(*k),
            other => panic!("not kubernetes: {other:?}"),
        }
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
    fn zones_from_args_and_primary() {
        let c = k(".:53 {\n kubernetes in-addr.arpa cluster.local\n}\n").unwrap();
        assert_eq!(c.options.primary_zone, 1);
        assert!(k(".:53 {\n kubernetes in-addr.arpa\n}\n").is_err());
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
