//! Command line: `kdns [--conf FILE] [--validate]` serves; `kdns env` prints service variables;
//! `kdns migrate kube-dns` prints the Corefile for a kube-dns configuration; `kdns node-local`
//! serves as NodeLocal DNSCache.
pub mod env;
pub mod migrate;
pub mod node_local;
mod runtime;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

const ABOUT: &str =
    "Kubernetes cluster DNS server: CoreDNS's answers and Corefile, kubelet service env vars";

const LONG_ABOUT: &str = "\
kdns answers the cluster zone (e.g. cluster.local) exactly as CoreDNS's `kubernetes` plugin does,
configured by the same Corefile syntax.

EXAMPLES:
    # Serve the example manifests on 127.0.0.1:1053 (no cluster needed):
    kdns --conf Corefile.example
    dig @127.0.0.1 -p 1053 svc-echoserver.default.svc.cluster.local

    # Check a Corefile (and the manifests it names) without serving:
    kdns --conf /etc/coredns/Corefile --validate

    # The environment variables the kubelet would give a pod in `default`:
    kdns env --namespace default --manifests examples/echoserver

    # The Corefile for a cluster's kube-dns configuration (its ConfigMap, from a file):
    kdns migrate kube-dns --configmap kube-dns.yaml > Corefile

    # NodeLocal DNSCache on this node (node-cache's flags and Corefile; see its --help):
    kdns node-local -localip 169.254.20.10,10.96.0.10 -conf /etc/Corefile -upstreamsvc kube-dns-upstream

A Corefile server block serving manifests from a directory:
    cluster.local:1053 in-addr.arpa:1053 ip6.arpa:1053 {
        bind 127.0.0.1
        kubernetes cluster.local in-addr.arpa ip6.arpa {
            manifests examples/echoserver
            pods insecure
        }
    }

Logging: --log-level or RUST_LOG (e.g. RUST_LOG=kdns=debug).";

/// The `kdns` command line: the serving flags and an optional subcommand.
#[derive(Debug, Parser)]
#[command(name = "kdns", version, about = ABOUT, long_about = LONG_ABOUT)]
pub struct Cli {
    /// Corefile to read (CoreDNS syntax); relative `manifests` paths are relative to it.
    /// CoreDNS's `-conf FILE` and `-dns.port PORT` are accepted too.
    #[arg(
        long = "conf",
        short = 'c',
        default_value = "Corefile",
        value_name = "FILE"
    )]
    pub conf: PathBuf,
    /// Load the Corefile and everything it names, print what would be served, and exit
    /// (status 0 when valid, 1 with FILE:LINE and the reason otherwise).
    #[arg(long)]
    pub validate: bool,
    /// Port for server block keys that name none (CoreDNS's -dns.port).
    #[arg(long = "dns-port", default_value_t = 53, value_name = "PORT")]
    pub dns_port: u16,
    /// Hand the DNS sockets over across restarts: take over those of the kdns running with the
    /// same PATH (a Unix socket it listens on), and offer this one's to the next. The old and
    /// the new process serve the same sockets until the old one stops, so a restart on the
    /// same host (hostNetwork, node-local) loses no query. Without a kdns at PATH, kdns binds
    /// its sockets itself.
    #[arg(long, value_name = "PATH")]
    pub handover: Option<PathBuf>,
    /// Log level (error, warn, info, debug, trace); RUST_LOG overrides it.
    #[arg(long = "log-level", default_value = "info", value_name = "LEVEL")]
    pub log_level: String,
    /// A subcommand to run instead of serving (`env`, `migrate`, `node-local`).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// The subcommands of `kdns`.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the environment variables the kubelet would inject into a pod.
    Env(env::EnvArgs),
    /// Print the Corefile equivalent to another DNS server's configuration (`kube-dns`).
    Migrate(migrate::MigrateArgs),
    /// Serve as NodeLocal DNSCache on this node: the interface, the rules, node-cache's
    /// Corefile and flags.
    #[command(name = "node-local")]
    NodeLocal(node_local::NodeLocalArgs),
}

/// CoreDNS's and node-cache's single-dash flags as kdns's (`-conf FILE` is `--conf FILE`,
/// `-dns.port` is `--dns-port`, `-localip` is `--localip`), so their Deployment and DaemonSet
/// run kdns with only the image (and, for node-cache, the `node-local` word) changed.
fn coredns_flag(arg: std::ffi::OsString) -> std::ffi::OsString {
    let Some(s) = arg.to_str() else { return arg };
    let node_cache = node_local::NODE_CACHE_FLAGS
        .iter()
        .map(|f| (format!("-{f}"), format!("--{f}")));
    let pairs = [("-conf", "--conf"), ("-dns.port", "--dns-port")]
        .map(|(a, b)| (a.to_string(), b.to_string()));
    for (coredns, kdns) in pairs.into_iter().chain(node_cache) {
        let (coredns, kdns) = (coredns.as_str(), kdns.as_str());
        if s == coredns {
            return kdns.into();
        }
        if let Some(value) = s.strip_prefix(coredns).and_then(|r| r.strip_prefix('=')) {
            return format!("{kdns}={value}").into();
        }
    }
    arg
}

fn init_logging(level: &str) {
    // hickory logs every query at INFO: keep it at WARN unless asked. kube's client logs an
    // ERROR for every failed request; kdns says the same itself, once and then every 30 s,
    // where kube's would be one line per watcher every 0.4 s while the API server is down.
    let default = format!(
        "{level},hickory_server=warn,hickory_proto=warn,hickory_net=warn,kube=warn,\
         kube_client::client::builder=off"
    );
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        // A closed stderr must not panic the thread that logs (tracing would `eprintln!`).
        .log_internal_errors(false)
        .try_init();
}

/// The `kdns` binary: parses the command line, then runs `kdns env`, validates the Corefile
/// (`--validate`) or serves it until SIGTERM/SIGINT; returns the process's exit status.
pub fn main() -> ExitCode {
    let cli = Cli::parse_from(std::env::args_os().map(coredns_flag));
    match cli.command {
        Some(Command::Env(args)) => return env::run(args),
        Some(Command::Migrate(args)) => return migrate::run(args),
        Some(Command::NodeLocal(args)) => {
            init_logging(&cli.log_level);
            return node_local::run(args);
        }
        None => {}
    }
    init_logging(&cli.log_level);
    let cfg = match crate::config::load(&cli.conf, cli.dns_port) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kdns: {e}");
            return ExitCode::FAILURE;
        }
    };
    if cli.validate {
        return match crate::app::prepare(&cfg) {
            Ok(p) => {
                for line in p.summary {
                    println!("{line}");
                }
                println!("{}: OK", cli.conf.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("kdns: {e}");
                ExitCode::FAILURE
            }
        };
    }
    let result = runtime::block_on(|shutdown| async move {
        crate::serve::run(cfg, shutdown, cli.handover, runtime::log_listening).await?;
        Ok(())
    });
    runtime::exit_status(result)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coredns_flags_table() {
        for (args, conf, port) in [
            (
                &["kdns", "-conf", "/etc/coredns/Corefile"][..],
                "/etc/coredns/Corefile",
                53,
            ),
            (&["kdns", "-conf=/c", "-dns.port", "1053"][..], "/c", 1053),
            (&["kdns", "-dns.port=54", "--conf", "/k"][..], "/k", 54),
            (&["kdns", "-c", "/x"][..], "/x", 53),
        ] {
            let cli = Cli::try_parse_from(args.iter().map(|a| coredns_flag(a.into()))).unwrap();
            assert_eq!(
                (cli.conf.to_str().unwrap(), cli.dns_port),
                (conf, port),
                "{args:?}"
            );
        }
        // Only whole flags are rewritten.
        assert_eq!(coredns_flag("-config".into()), "-config");
        assert_eq!(coredns_flag("/etc/-conf".into()), "/etc/-conf");
    }
}
