//! `kdns migrate kube-dns`: print the Corefile equivalent to a kube-dns configuration.
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use crate::migrate::{self, DEFAULT_DOMAIN};
use crate::source::kube_dns::{self, KubeDnsInput};

const KUBE_DNS_ABOUT: &str =
    "Print the Corefile equivalent to kube-dns's ConfigMap (stubDomains, upstreamNameservers)";

const KUBE_DNS_DETAILS: &str = "\
Reads the kube-system/kube-dns ConfigMap — from the cluster of a kubeconfig, or from a file
with --configmap — and prints, on stdout, the Corefile kubeadm wrote when it moved a cluster
from kube-dns to CoreDNS: kubeadm's default Corefile for the cluster domain, with
`forward . <upstreamNameservers>` instead of /etc/resolv.conf, and one server block per stub
domain. kdns and CoreDNS both serve it.

The cluster domain: --domain, else the `--domain` of the kube-dns Deployment (read from the
cluster, or from the file when it holds the Deployment too), else cluster.local.

Left out, with a warning on stderr: host names among the nameservers (CoreDNS's `forward`
takes addresses; kubeadm left them out too) and `federations` (no equivalent since CoreDNS
1.7.0). A key that is not valid JSON, or a nameserver that is neither an address nor a host
name, is an error naming the key; nothing is printed then.";

const KUBE_DNS_AFTER_HELP: &str = "\
Example: this ConfigMap (kubernetes.io, \"Customizing DNS Service\")

  apiVersion: v1
  kind: ConfigMap
  metadata: {name: kube-dns, namespace: kube-system}
  data:
    stubDomains: |
      {\"acme.local\": [\"1.2.3.4\"]}
    upstreamNameservers: |
      [\"8.8.8.8\", \"8.8.4.4\"]

  $ kdns migrate kube-dns --configmap kube-dns.yaml
  .:53 {
      ...                          (kubeadm's default Corefile)
      forward . 8.8.8.8 8.8.4.4 {
         max_concurrent 1000
      }
      ...
  }
  acme.local:53 {
      errors
      cache 30
      loop
      forward . 1.2.3.4
  }

From the cluster, into the ConfigMap deploy/ mounts:
  kdns migrate kube-dns > Corefile
  kubectl -n kube-system create configmap kdns --from-file=Corefile

Exit status: 0 printed; 1 the input could not be read or translated.";

fn kube_dns_long_help() -> String {
    format!("{KUBE_DNS_DETAILS}\n\n{KUBE_DNS_AFTER_HELP}")
}

/// Arguments of `kdns migrate`.
#[derive(Debug, clap::Args)]
pub struct MigrateArgs {
    /// What to migrate from.
    #[command(subcommand)]
    pub from: From,
}

/// The DNS servers `kdns migrate` translates from.
#[derive(Debug, clap::Subcommand)]
pub enum From {
    /// Print the Corefile equivalent to kube-dns's ConfigMap.
    #[command(
        name = "kube-dns",
        about = KUBE_DNS_ABOUT,
        after_help = KUBE_DNS_AFTER_HELP,
        after_long_help = kube_dns_long_help()
    )]
    KubeDns(KubeDnsArgs),
}

/// Arguments of `kdns migrate kube-dns`.
#[derive(Debug, clap::Args)]
pub struct KubeDnsArgs {
    /// Read the ConfigMap from FILE (YAML or JSON, as `kubectl get -o yaml` prints it; a
    /// kube-dns Deployment in the same file gives the domain) instead of a cluster.
    #[arg(long, value_name = "FILE", conflicts_with_all = ["kubeconfig", "context"])]
    pub configmap: Option<PathBuf>,
    /// Read kube-system/kube-dns from the cluster of this kubeconfig [default: $KUBECONFIG,
    /// else ~/.kube/config].
    #[arg(long, value_name = "PATH")]
    pub kubeconfig: Option<PathBuf>,
    /// Use this kubeconfig context [default: the current context].
    #[arg(long, value_name = "CONTEXT")]
    pub context: Option<String>,
    /// The cluster domain [default: the kube-dns Deployment's --domain, else cluster.local].
    #[arg(long, value_name = "DOMAIN")]
    pub domain: Option<String>,
}

/// Runs `kdns migrate …`: prints the Corefile; exit status 0, or 1 after an error.
pub fn run(args: MigrateArgs) -> ExitCode {
    let From::KubeDns(args) = args.from;
    match kube_dns(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kdns migrate kube-dns: error: {e}");
            ExitCode::from(1)
        }
    }
}

fn kube_dns(args: &KubeDnsArgs) -> Result<(), String> {
    let input = read(args)?;
    let warn = |m: &str| eprintln!("kdns migrate kube-dns: warning: {m}");
    for n in &input.notes {
        warn(n);
    }
    let domain = args
        .domain
        .as_deref()
        .or(input.domain.as_deref())
        .unwrap_or(DEFAULT_DOMAIN);
    let t = migrate::translate(&input.data, domain).map_err(|e| e.to_string())?;
    for w in &t.warnings {
        warn(w);
    }
    let mut out = std::io::stdout().lock();
    out.write_all(t.corefile.as_bytes())
        .and_then(|_| out.flush())
        .map_err(|e| format!("writing the output: {e}"))
}

fn read(args: &KubeDnsArgs) -> Result<KubeDnsInput, String> {
    if let Some(path) = &args.configmap {
        return kube_dns::from_file(path).map_err(|e| e.to_string());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    rt.block_on(kube_dns::from_cluster(
        args.kubeconfig.as_deref(),
        args.context.as_deref(),
    ))
    .map_err(|e| e.to_string())
}
