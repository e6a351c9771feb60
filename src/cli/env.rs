//! `kdns env`: print the variables the kubelet would inject into a pod.
mod format;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::envvars::{self, merge_container_env, service_env, EnvVar, MASTER_NAME};
use crate::source::env_input::{self, EnvInputError, PodInput, ServiceList};
pub use format::Format;

const ABOUT: &str = "Print the environment variables the kubelet would inject into a pod";

const DETAILS: &str = "\
What it prints: FOO_SERVICE_HOST, FOO_SERVICE_PORT, FOO_PORT_80_TCP_ADDR and the rest, for every
Service the pod can see, exactly as the kubelet builds them.

The kubelet's rules: Services without a cluster IP (headless, ExternalName) give nothing;
default/kubernetes is always injected; the pod's own namespace only with service links on
(a Service named `kubernetes` there then replaces default/kubernetes); other namespaces never.

Services come from the cluster of a kubeconfig (default: $KUBECONFIG, else ~/.kube/config),
or from manifests on disk with --manifests. Variables are printed sorted by name (the kubelet's
own order is random). When two Services produce the same variable name with different values
(e.g. Services `a` and `a-service` both make A_SERVICE_PORT), the kubelet picks one at random:
kdns prints the value of the Service whose name sorts first and reports the collision on stderr.

With --pod, the container's own variables come first, in their order, then the service ones.";

const AFTER_HELP: &str = "\
Examples:
  # what a pod in `default` sees, from manifests on disk
  kdns env -n default --manifests examples/echoserver
  # load them into the current shell (run `set -a` first to export them)
  eval \"$(kdns env -n default)\"
  # a pod manifest's own env on top, for docker run --env-file
  kdns env --pod pod.yaml --format docker > pod.env

Exit status: 0 success; 1 the input could not be read; 2 bad usage;
3 with --strict, a collision or a Service the kubelet would crash on (cluster IP, no ports).";

fn long_help() -> String {
    format!("{DETAILS}\n\n{AFTER_HELP}")
}

/// Arguments of `kdns env`.
#[derive(Debug, clap::Args)]
#[command(about = ABOUT, after_help = AFTER_HELP, after_long_help = long_help())]
pub struct EnvArgs {
    /// Namespace of the pod [default: the --pod file's namespace, else `default`].
    #[arg(short, long, value_name = "NS")]
    pub namespace: Option<String>,
    /// Read Services from the YAML/JSON manifests under DIR (multi-document, `kind: List`)
    /// instead of a cluster.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["kubeconfig", "context"])]
    pub manifests: Option<PathBuf>,
    /// List Services from the cluster of this kubeconfig [default: $KUBECONFIG, else
    /// ~/.kube/config].
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Use this kubeconfig context [default: the current context].
    #[arg(long, value_name = "CONTEXT")]
    pub context: Option<String>,
    /// As `enableServiceLinks: false`: only default/kubernetes is injected.
    #[arg(long)]
    pub no_service_links: bool,
    /// Apply a Pod manifest: its namespace and enableServiceLinks if set, and its container's
    /// own `env` on top (it wins over service variables; `$(VAR)` is expanded).
    ///
    /// Downward-API fields the file holds are filled in; ConfigMap, Secret and resource
    /// sources and envFrom cannot be read offline and are left out, with a note on stderr.
    #[arg(long, value_name = "FILE")]
    pub pod: Option<PathBuf>,
    /// With --pod: the container whose env to apply [default: the first].
    #[arg(long, value_name = "NAME", requires = "pod")]
    pub container: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Env)]
    pub format: Format,
    /// Exit with status 3 if a variable collides or a Service had to be skipped.
    #[arg(long)]
    pub strict: bool,
}

#[derive(Debug, thiserror::Error)]
enum EnvError {
    #[error(transparent)]
    Input(#[from] EnvInputError),
    #[error("--namespace {flag} does not match the namespace of the pod manifest ({pod})")]
    NamespaceMismatch { flag: String, pod: String },
    #[error("cannot start the async runtime: {0}")]
    Runtime(std::io::Error),
    #[error("writing the output: {0}")]
    Output(std::io::Error),
}

/// Runs `kdns env`: prints the variables, and returns its exit status (0 success, 1 input
/// error, 3 with `--strict` after a collision or a skipped Service).
pub fn run(args: EnvArgs) -> ExitCode {
    match run_inner(&args) {
        Ok(clean) if clean || !args.strict => ExitCode::SUCCESS,
        Ok(_) => ExitCode::from(3),
        Err(e) => {
            eprintln!("kdns env: error: {e}");
            ExitCode::from(1)
        }
    }
}

fn warn(msg: impl std::fmt::Display) {
    eprintln!("kdns env: warning: {msg}");
}

/// Ok(true) when there was nothing to report under --strict.
fn run_inner(args: &EnvArgs) -> Result<bool, EnvError> {
    let fallback_ns = args.namespace.as_deref().unwrap_or("default");
    let pod = match &args.pod {
        Some(path) => Some(env_input::pod_from_file(
            path,
            args.container.as_deref(),
            fallback_ns,
        )?),
        None => None,
    };
    let namespace = namespace_of(args.namespace.as_deref(), pod.as_ref())?;
    let pod_links = pod.as_ref().and_then(|p| p.enable_service_links);
    let links = !args.no_service_links && pod_links.unwrap_or(true);

    let list = load_services(args)?;
    warn_about_input(&list, &namespace, links);
    let result = service_env(&list.services, &namespace, links);
    for s in &result.skipped {
        warn(format_args!("Service {} left out: {}", s.service, s.reason));
    }

    let (vars, overridden): (Vec<EnvVar>, Vec<String>) = match &pod {
        Some(p) => {
            for note in &p.notes {
                warn(format_args!("container {}: {note}", p.container));
            }
            let own: Vec<String> = p.env.env.iter().map(|e| e.name.clone()).collect();
            (merge_container_env(&result.vars, &p.env), own)
        }
        None => (result.vars.clone(), Vec::new()),
    };
    // A collision matters only where the container does not set the variable itself.
    let collisions: Vec<_> = result
        .collisions
        .iter()
        .filter(|c| !overridden.contains(&c.name))
        .cloned()
        .collect();
    for c in &collisions {
        let all: Vec<String> = c
            .candidates
            .iter()
            .map(|(s, v)| format!("{s} gives {v:?}"))
            .collect();
        warn(format_args!(
            "{} collides: {}; the kubelet picks one at random, printed {:?}",
            c.name,
            all.join(", "),
            c.candidates[0].1
        ));
    }

    let head = serde_json::json!({
        "namespace": namespace,
        "enableServiceLinks": links,
        "container": pod.as_ref().map(|p| p.container.clone()),
    });
    let (text, warnings) = format::render(args.format, &vars, head, &collisions, &result.skipped);
    for w in warnings {
        warn(w);
    }
    let mut stdout = std::io::stdout().lock();
    stdout
        .write_all(text.as_bytes())
        .and_then(|_| stdout.flush())
        .map_err(EnvError::Output)?;
    Ok(collisions.is_empty() && result.skipped.is_empty())
}

fn namespace_of(flag: Option<&str>, pod: Option<&PodInput>) -> Result<String, EnvError> {
    let from_pod = pod.and_then(|p| p.namespace.as_deref());
    match (flag, from_pod) {
        (Some(f), Some(p)) if f != p => Err(EnvError::NamespaceMismatch {
            flag: f.into(),
            pod: p.into(),
        }),
        (Some(f), _) => Ok(f.into()),
        (None, Some(p)) => Ok(p.into()),
        (None, None) => Ok("default".into()),
    }
}

fn load_services(args: &EnvArgs) -> Result<ServiceList, EnvError> {
    if let Some(dir) = &args.manifests {
        return Ok(env_input::services_from_manifests(dir)?);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(EnvError::Runtime)?;
    Ok(rt.block_on(env_input::services_from_kubeconfig(
        args.kubeconfig.as_deref(),
        args.context.as_deref(),
    ))?)
}

/// Warnings about input that is legal but probably not what was meant.
fn warn_about_input(list: &ServiceList, namespace: &str, links: bool) {
    let in_scope = |ns: &str, name: &str| {
        (ns == envvars::MASTER_NAMESPACE && name == MASTER_NAME) || (links && ns == namespace)
    };
    for s in &list.unallocated {
        if in_scope(&s.namespace, &s.name) {
            warn(format_args!(
                "Service {s} has no spec.clusterIP, so it gives no variables \
                 (an API server would allocate one; write it into the manifest)"
            ));
        }
    }
    let has_master = list.services.iter().any(|s| {
        s.namespace == envvars::MASTER_NAMESPACE
            && s.name == MASTER_NAME
            && envvars::has_cluster_ip(&s.cluster_ip)
    });
    if !has_master {
        warn("no default/kubernetes Service with a cluster IP: every real cluster has one, so KUBERNETES_* is missing here");
    }
}
