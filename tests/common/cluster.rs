//! A real etcd + kube-apiserver on loopback (scripts/apiserver.sh, binaries from
//! scripts/build-tools.sh), one per test, stopped on drop.
#![allow(dead_code)]
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Tests that start an API server take this lock: one control plane at a time on 2 cores.
pub(crate) static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub(crate) struct Cluster {
    pub dir: tempfile::TempDir,
    pub env: HashMap<String, String>,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/apiserver.sh")
}

fn run(args: &[&str], dir: &Path) {
    let out = Command::new(script())
        .args(args)
        .arg(dir)
        .output()
        .expect("scripts/apiserver.sh");
    assert!(
        out.status.success(),
        "scripts/apiserver.sh {args:?} failed (build the tools with scripts/build-tools.sh):\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Cluster {
    pub(crate) fn start() -> Cluster {
        let dir = tempfile::tempdir().unwrap();
        run(&["start"], dir.path());
        let env = std::fs::read_to_string(dir.path().join("env"))
            .unwrap()
            .lines()
            .filter_map(|l| l.strip_prefix("export ").unwrap_or(l).split_once('='))
            .map(|(k, v)| (k.to_string(), v.trim_matches(['"', '\'']).to_string()))
            .collect();
        Cluster { dir, env }
    }

    pub(crate) fn kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig")
    }

    pub(crate) fn reader_kubeconfig(&self) -> PathBuf {
        self.dir.path().join("kubeconfig-dns-reader")
    }

    pub(crate) fn restart_apiserver(&self) {
        run(&["restart-apiserver"], self.dir.path());
    }

    /// Kills the API server (SIGKILL): its connections break at once. A SIGTERM'd API server
    /// with watches open waits for them, until scripts/apiserver.sh SIGKILLs it 20 s later.
    pub(crate) fn kill_apiserver(&self) {
        let pid = std::fs::read_to_string(self.dir.path().join("apiserver.pid")).unwrap();
        let ok = Command::new("kill")
            .args(["-KILL", pid.trim()])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "kill -KILL {pid}");
    }

    /// Starts `scripts/apiserver.sh restart-apiserver` and returns at once: the child exits
    /// once the new API server's `/readyz` is 200 (see [`finish`]).
    pub(crate) fn spawn_restart_apiserver(&self) -> std::process::Child {
        Command::new(script())
            .arg("restart-apiserver")
            .arg(self.dir.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("scripts/apiserver.sh")
    }

    pub(crate) fn restart_etcd(&self) {
        run(&["restart-etcd"], self.dir.path());
    }

    pub(crate) fn stop(&self) {
        run(&["stop"], self.dir.path());
    }

    pub(crate) async fn client(&self) -> kube::Client {
        client_for(&self.kubeconfig()).await
    }

    /// `kubectl` from the tools cache, with the admin kubeconfig.
    pub(crate) fn kubectl(&self, args: &[&str]) -> (bool, String) {
        let bin =
            std::env::var("KDNS_TOOLS_BIN").unwrap_or_else(|_| "/var/cache/kdns-tools/bin".into());
        let out = Command::new(Path::new(&bin).join("kubectl"))
            .arg("--kubeconfig")
            .arg(self.kubeconfig())
            .args(args)
            .output()
            .expect("kubectl from scripts/build-tools.sh");
        (
            out.status.success(),
            format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            ),
        )
    }
}

/// Waits for a script started with [`Cluster::spawn_restart_apiserver`]; panics if it failed.
pub(crate) fn finish(child: std::process::Child) {
    let out = child.wait_with_output().expect("scripts/apiserver.sh");
    assert!(
        out.status.success(),
        "scripts/apiserver.sh failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

pub(crate) async fn client_for(kubeconfig: &Path) -> kube::Client {
    let kc = kube::config::Kubeconfig::read_from(kubeconfig).unwrap();
    let cfg = kube::Config::from_custom_kubeconfig(kc, &Default::default())
        .await
        .unwrap();
    kube::Client::try_from(cfg).unwrap()
}

impl Drop for Cluster {
    fn drop(&mut self) {
        let _ = Command::new(script())
            .arg("stop")
            .arg(self.dir.path())
            .output();
    }
}
