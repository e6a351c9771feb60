//! `kdns node-local`: kdns as NodeLocal DNSCache (k8s.io/dns node-cache) on every node, taking
//! node-cache's flags: the node's interface and rules (`nodelocal`), node-cache's Corefile with
//! its runtime placeholders filled in, then the ordinary server; the rules checked every
//! `--syncinterval`, removed on exit unless a successor took the sockets over or
//! `--skipteardown`.
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::{ArgAction, Args};
use tokio_util::sync::CancellationToken;

use crate::nodelocal::{self, Network};

const AFTER_HELP: &str = "\
EXAMPLES:
    # As node-cache's DaemonSet runs it (its args work unchanged, single dashes too):
    kdns node-local -localip 169.254.20.10,10.96.0.10 -conf /etc/Corefile -upstreamsvc kube-dns-upstream

    # Without touching the node's network (the addresses exist, the rules are someone else's):
    kdns node-local --localip 127.0.0.10 --setupinterface=false --setupiptables=false \\
        --basecorefile ./Corefile.base --conf /tmp/Corefile

The Corefile: --basecorefile (NodeLocal DNSCache's ConfigMap) is copied to --conf with
__PILLAR__CLUSTER__DNS__ set to $<UPSTREAMSVC>_SERVICE_HOST (the kubelet's variable for the
--upstreamsvc Service) and __PILLAR__UPSTREAM__SERVERS__ to /etc/resolv.conf, and again when it
changes; without a --basecorefile file, --conf is served as it is.

While kdns listens, queries to the node-local addresses skip connection tracking (as with
node-cache). While nothing listens (kdns killed, or between two versions without --handover),
they are tracked again and reach the cluster DNS Service through kube-proxy (for a --localip
that is the kube-dns ClusterIP) or through a DNAT to $<UPSTREAMSVC>_SERVICE_HOST (for the
link-local one). With --handover, a new kdns takes the sockets over before the old one stops:
an upgrade loses no query.";

/// `kdns node-local`'s flags (node-cache's names).
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct NodeLocalArgs {
    /// The node-local addresses, comma-separated (169.254.20.10, and the kube-dns ClusterIP
    /// where kube-proxy runs in iptables mode).
    #[arg(
        long = "localip",
        value_name = "IP[,IP]",
        value_delimiter = ',',
        required = true
    )]
    pub local: Vec<IpAddr>,
    /// The Corefile served (written from --basecorefile when that file exists).
    #[arg(long, default_value = "/etc/Corefile", value_name = "FILE")]
    pub conf: PathBuf,
    /// NodeLocal DNSCache's Corefile with its placeholders.
    #[arg(
        long = "basecorefile",
        default_value = "/etc/coredns/Corefile.base",
        value_name = "FILE"
    )]
    pub base: PathBuf,
    /// The dummy interface holding the node-local addresses.
    #[arg(
        long = "interfacename",
        default_value = "nodelocaldns",
        value_name = "NAME"
    )]
    pub interface: String,
    /// Create the interface and its addresses (false: they exist).
    #[arg(long = "setupinterface", action = ArgAction::Set, num_args = 0..=1,
          default_value_t = true, default_missing_value = "true", value_name = "BOOL")]
    pub setup_interface: bool,
    /// Add the netfilter rules (false: someone else does).
    #[arg(long = "setupiptables", action = ArgAction::Set, num_args = 0..=1,
          default_value_t = true, default_missing_value = "true", value_name = "BOOL")]
    pub setup_iptables: bool,
    /// Leave the interface and rules in place on exit.
    #[arg(long = "skipteardown", action = ArgAction::Set, num_args = 0..=1,
          default_value_t = false, default_missing_value = "true", value_name = "BOOL")]
    pub skip_teardown: bool,
    /// How often the interface, the rules and --basecorefile are checked (seconds, or a
    /// duration such as 1m).
    #[arg(long = "syncinterval", default_value = "60", value_name = "SECONDS", value_parser = interval)]
    pub sync: Duration,
    /// The Service of the cluster DNS (its IP comes from $<NAME>_SERVICE_HOST).
    #[arg(long = "upstreamsvc", default_value = "kube-dns", value_name = "NAME")]
    pub upstream: String,
    /// Which iptables the rules go to: auto (where kube-proxy's are, as iptables-wrapper
    /// picks), legacy, nft, or iptables (the one on the PATH).
    #[arg(long = "iptables", default_value = "auto", value_name = "BACKEND",
          value_parser = ["auto", "legacy", "nft", "iptables"])]
    pub iptables: String,
    /// The `health` port on the node-local addresses, let in by the rules.
    #[arg(long = "health-port", default_value_t = 8080, value_name = "PORT")]
    pub health_port: u16,
    /// Take the DNS sockets over from the kdns running with the same PATH, offer them to the
    /// next (upgrades lose no query; see `kdns --help`).
    #[arg(long, value_name = "PATH")]
    pub handover: Option<PathBuf>,
}

fn interval(s: &str) -> Result<Duration, String> {
    let d = match s.parse::<u64>() {
        Ok(secs) => Some(Duration::from_secs(secs)),
        Err(_) => crate::config::args::parse_duration(s),
    };
    match d {
        Some(d) if !d.is_zero() => Ok(d),
        _ => Err(format!("{s:?}: seconds (60) or a duration (1m)")),
    }
}

/// Node-cache's single-dash flags, rewritten to kdns's (`-localip` is `--localip`).
pub(crate) const NODE_CACHE_FLAGS: [&str; 9] = [
    "localip",
    "basecorefile",
    "interfacename",
    "setupinterface",
    "setupiptables",
    "skipteardown",
    "syncinterval",
    "upstreamsvc",
    "health-port",
];

/// The Corefile as served: --basecorefile filled in and written to --conf (when it exists),
/// else --conf, which must then need no filling in.
fn render(a: &NodeLocalArgs) -> Result<(), String> {
    let var = nodelocal::service_host_var(&a.upstream);
    let cluster = std::env::var(&var).ok();
    let (from, text) = match std::fs::read_to_string(&a.base) {
        Ok(t) => (&a.base, t),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let t = std::fs::read_to_string(&a.conf)
                .map_err(|e| format!("{}: {e}", a.conf.display()))?;
            return match t.lines().position(|l| l.split('#').next().unwrap_or("").contains("__PILLAR__")) {
                None => Ok(()),
                Some(i) => Err(format!(
                    "{}:{}: a __PILLAR__ placeholder; kdns fills them in when copying --basecorefile ({}, not found) to --conf",
                    a.conf.display(),
                    i + 1,
                    a.base.display()
                )),
            };
        }
        Err(e) => return Err(format!("{}: {e}", a.base.display())),
    };
    let filled = nodelocal::fill(&text, cluster.as_deref(), &var)
        .map_err(|e| format!("{}:{}: {e}", from.display(), e.line))?;
    write_if_changed(&a.conf, &filled)
        .map(|_| ())
        .map_err(|e| format!("{}: {e}", a.conf.display()))
}

/// Writes `text` to `path` (through a rename) unless it holds that already.
fn write_if_changed(path: &Path, text: &str) -> std::io::Result<bool> {
    if std::fs::read_to_string(path).is_ok_and(|t| t == text) {
        return Ok(false);
    }
    let tmp = path.with_extension("kdns-tmp");
    std::fs::write(&tmp, text)?;
    std::fs::rename(&tmp, path)?;
    Ok(true)
}

fn network(a: &NodeLocalArgs) -> Network {
    let var = nodelocal::service_host_var(&a.upstream);
    Network {
        interface: a.interface.clone(),
        local: a.local.clone(),
        port: 53,
        health: Some(a.health_port),
        fallback: std::env::var(&var).ok().and_then(|s| s.parse().ok()),
        interface_on: a.setup_interface,
        rules_on: a.setup_iptables,
        backend: match nodelocal::Backend::parse(&a.iptables).ok().flatten() {
            Some(b) => b,
            None if a.setup_iptables => nodelocal::detect_backend(),
            None => nodelocal::Backend::Plain,
        },
    }
}

/// Every `--syncinterval`: what went missing is put back, a changed --basecorefile is copied
/// (`reload` in the Corefile picks it up).
async fn keep(a: std::sync::Arc<NodeLocalArgs>, net: Network, stop: CancellationToken) {
    let mut tick = tokio::time::interval(a.sync);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let (a2, n2) = (a.clone(), net.clone());
        let done = tokio::task::spawn_blocking(move || (n2.ensure(), render(&a2))).await;
        let Ok((ensured, rendered)) = done else {
            continue;
        };
        match ensured {
            Ok(added) => added
                .iter()
                .for_each(|what| tracing::warn!("node-local: {what} was missing; added again")),
            Err(e) => tracing::error!("node-local: {e}"),
        }
        if let Err(e) = rendered {
            tracing::error!("node-local: {e}; serving the Corefile as it was");
        }
    }
}

/// Runs `kdns node-local`; returns the exit status.
pub fn run(a: NodeLocalArgs) -> ExitCode {
    if let Err(e) = render(&a) {
        eprintln!("kdns: {e}");
        return ExitCode::FAILURE;
    }
    let cfg = match crate::config::load(&a.conf, 53) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("kdns: {e}");
            return ExitCode::FAILURE;
        }
    };
    let net = network(&a);
    match net.ensure() {
        Ok(added) => added
            .iter()
            .for_each(|w| tracing::info!("node-local: added {w}")),
        Err(e) => {
            eprintln!("kdns: node-local: {e}");
            return ExitCode::FAILURE;
        }
    }
    tracing::info!(
        interface = %net.interface,
        local = ?net.local,
        rules = net.rules().len(),
        fallback = ?net.fallback,
        iptables = net.backend.program(false),
        "node-local: the node is set up"
    );
    let a = std::sync::Arc::new(a);
    let result = super::runtime::block_on(|shutdown| async move {
        tokio::spawn(keep(a.clone(), net.clone(), shutdown.clone()));
        let stopped = crate::serve::run(
            cfg,
            shutdown,
            a.handover.clone(),
            super::runtime::log_listening,
        )
        .await?;
        finish(&a, &net, stopped.succeeded);
        Ok(())
    });
    super::runtime::exit_status(result)
}

/// Leaves the node's setup to a successor, keeps it when asked, removes it otherwise.
fn finish(a: &NodeLocalArgs, net: &Network, succeeded: bool) {
    if succeeded {
        tracing::info!("node-local: a new kdns serves on; its interface and rules stay");
    } else if a.skip_teardown {
        tracing::info!("node-local: --skipteardown: the interface and rules stay");
    } else {
        match net.teardown() {
            Ok(()) => tracing::info!("node-local: removed the interface and rules"),
            Err(e) => tracing::error!("node-local: teardown: {e}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        a: NodeLocalArgs,
    }

    fn parse(args: &[&str]) -> Result<NodeLocalArgs, clap::Error> {
        T::try_parse_from(std::iter::once("t").chain(args.iter().copied())).map(|t| t.a)
    }

    #[test]
    fn node_cache_flags() {
        let a = parse(&[
            "--localip",
            "169.254.20.10,10.96.0.10",
            "--upstreamsvc",
            "kube-dns-upstream",
        ])
        .unwrap();
        assert_eq!(a.local.len(), 2);
        assert!(a.setup_interface && a.setup_iptables && !a.skip_teardown);
        assert_eq!(a.sync, Duration::from_secs(60));
        assert_eq!(a.interface, "nodelocaldns");
        let a = parse(&[
            "--localip=127.0.0.10",
            "--setupinterface=false",
            "--setupiptables",
            "false",
            "--skipteardown",
            "--syncinterval",
            "2s",
        ])
        .unwrap();
        assert!(!a.setup_interface && !a.setup_iptables && a.skip_teardown);
        assert_eq!(a.sync, Duration::from_secs(2));
        assert!(parse(&["--localip", "not-an-ip"]).is_err());
        assert!(parse(&["--localip", "127.0.0.1", "--syncinterval", "0"]).is_err());
        assert!(parse(&[]).is_err(), "--localip is required");
    }

    #[test]
    fn renders_the_base_and_refuses_placeholders_it_cannot_fill() {
        let d = tempfile::tempdir().unwrap();
        let (base, conf) = (d.path().join("Corefile.base"), d.path().join("Corefile"));
        std::fs::write(
            &base,
            ".:53 {\n    forward . __PILLAR__UPSTREAM__SERVERS__\n}\n",
        )
        .unwrap();
        let a = parse(&[
            "--localip",
            "127.0.0.10",
            "--basecorefile",
            base.to_str().unwrap(),
            "--conf",
            conf.to_str().unwrap(),
        ])
        .unwrap();
        render(&a).unwrap();
        assert_eq!(
            std::fs::read_to_string(&conf).unwrap(),
            ".:53 {\n    forward . /etc/resolv.conf\n}\n"
        );
        // Without the base, --conf is served as it is, unless it has placeholders.
        std::fs::remove_file(&base).unwrap();
        render(&a).unwrap();
        std::fs::write(
            &conf,
            "# x\n.:53 {\n  forward . __PILLAR__CLUSTER__DNS__\n}\n",
        )
        .unwrap();
        let e = render(&a).unwrap_err();
        assert!(e.starts_with(&format!("{}:3: ", conf.display())), "{e}");
    }
}
