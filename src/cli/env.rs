//! `kdns env`: print the variables the kubelet would inject into a pod.
use std::process::ExitCode;

/// Arguments of `kdns env`.
#[derive(Debug, clap::Args)]
pub struct EnvArgs {
    /// Namespace of the pod.
    #[arg(short, long)]
    pub namespace: String,
}

pub fn run(_args: EnvArgs) -> ExitCode {
    eprintln!("kdns env: not implemented yet");
    ExitCode::from(2)
}
