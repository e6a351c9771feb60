//! Command line: `kdns [--conf FILE] [--validate]` serves; `kdns env` prints service variables.
pub mod env;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(name = "kdns", version, about, long_about = None)]
pub struct Cli {
    /// Corefile to read (CoreDNS syntax).
    #[arg(long = "conf", short = 'c', default_value = "Corefile", global = true)]
    pub conf: PathBuf,
    /// Check the Corefile and the manifests it names, print what would be served, and exit.
    #[arg(long)]
    pub validate: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Print the environment variables the kubelet would inject into a pod.
    Env(env::EnvArgs),
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Env(args)) => env::run(args),
        None => ExitCode::SUCCESS,
    }
}
