//! The real CoreDNS 1.14.7 (built by `scripts/build-tools.sh`) as the peer a test compares
//! kdns with: same Corefile, same questions.
use std::io::BufRead;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::knot::free_port;
use super::{status, wait_until};

/// The CoreDNS binary (`$KDNS_TOOLS_BIN/coredns`, else the cache path build-tools.sh uses).
pub(crate) fn coredns_bin() -> PathBuf {
    let dir =
        std::env::var("KDNS_TOOLS_BIN").unwrap_or_else(|_| "/var/cache/kdns-tools/bin".into());
    let bin = PathBuf::from(dir).join("coredns");
    assert!(
        bin.exists(),
        "{} missing: run scripts/build-tools.sh",
        bin.display()
    );
    bin
}

/// A running CoreDNS; killed on drop.
pub(crate) struct CoreDns {
    pub child: Child,
    /// Where it answers (127.0.0.1 and a free port).
    pub addr: SocketAddr,
    /// Its working directory (the Corefile is `Corefile` in it).
    pub dir: tempfile::TempDir,
    /// Its stdout (query log lines, errors).
    pub log: Arc<Mutex<String>>,
}

impl CoreDns {
    /// Writes `corefile` with `{PORT}` replaced by a free loopback port and `{DIR}` by its
    /// directory, starts CoreDNS on it and waits until `probe` (a name it answers) gets an
    /// answer.
    pub(crate) fn start(corefile: &str, probe: &str) -> CoreDns {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port("127.0.0.1");
        let conf = dir.path().join("Corefile");
        let text = corefile
            .replace("{PORT}", &port.to_string())
            .replace("{DIR}", &dir.path().display().to_string());
        std::fs::write(&conf, text).unwrap();
        let mut child = Command::new(coredns_bin())
            .arg("-conf")
            .arg(&conf)
            .current_dir(dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (out, l2) = (child.stdout.take().unwrap(), log.clone());
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                let mut l = l2.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let c = CoreDns {
            child,
            addr,
            dir,
            log,
        };
        assert!(
            wait_until(Duration::from_secs(10), || status(&super::dig(
                addr,
                &[probe, "+tries=1", "+time=1"]
            )) != "<no status>")
            .is_some(),
            "CoreDNS did not answer: {}",
            c.log.lock().unwrap()
        );
        c
    }
}

impl Drop for CoreDns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
