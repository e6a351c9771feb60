//! Shared helpers for the integration tests: start the real `kdns` binary on a free loopback
//! port and ask it with real DNS clients.
#![allow(dead_code)]
pub(crate) mod cluster;
pub(crate) mod coredns;
pub(crate) mod knot;
pub(crate) mod netns;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub(crate) fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// Copies a directory tree (fixtures are copied so tests can change them).
pub(crate) fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dst = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), dst).unwrap();
        }
    }
}

/// A running kdns process; killed on drop.
pub(crate) struct Kdns {
    pub child: Child,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
    pub log: Arc<Mutex<String>>,
}

impl Kdns {
    /// Writes `corefile` (with `{DIR}` replaced by the temp dir) and starts kdns on it.
    pub(crate) fn start(corefile: &str, manifests: Option<&Path>) -> Kdns {
        Self::start_args(corefile, manifests, &[])
    }

    /// As [`Kdns::start`], with extra command-line `args` (after `--conf FILE`).
    pub(crate) fn start_args(corefile: &str, manifests: Option<&Path>, args: &[&str]) -> Kdns {
        let dir = tempfile::tempdir().unwrap();
        if let Some(m) = manifests {
            copy_dir(m, &dir.path().join("manifests"));
        }
        let conf = dir.path().join("Corefile");
        std::fs::write(
            &conf,
            corefile.replace("{DIR}", &dir.path().display().to_string()),
        )
        .unwrap();
        let mut argv = vec!["--conf", conf.to_str().unwrap()];
        argv.extend(args);
        Self::start_cmd(&[], &argv, &[], dir)
    }

    pub(crate) fn start_conf(conf: &Path, dir: tempfile::TempDir) -> Kdns {
        Self::start_in(&[], conf, dir)
    }

    /// Starts kdns under `prefix` (e.g. `ip netns exec NAME`); its stdout (the `log`
    /// directive) and stderr both go to [`Kdns::log`].
    pub(crate) fn start_in(prefix: &[&str], conf: &Path, dir: tempfile::TempDir) -> Kdns {
        Self::start_cmd(prefix, &["--conf", conf.to_str().unwrap()], &[], dir)
    }

    /// Starts `kdns ARGV…` under `prefix` with `env` added; returns once it listens.
    pub(crate) fn start_cmd(
        prefix: &[&str],
        argv: &[&str],
        env: &[(&str, &str)],
        dir: tempfile::TempDir,
    ) -> Kdns {
        let bin = env!("CARGO_BIN_EXE_kdns");
        let mut cmd = match prefix.split_first() {
            Some((p, rest)) => {
                let mut c = Command::new(p);
                c.args(rest).arg(bin);
                c
            }
            None => Command::new(bin),
        };
        let mut child = cmd
            .args(argv)
            .envs(env.iter().copied())
            .env("RUST_LOG", "info,hickory_server=warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start kdns");
        let stderr = child.stderr.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let log2 = log.clone();
        let log3 = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let mut l = log3.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(i) = line
                    .find("listening on ")
                    .filter(|_| line.ends_with("(udp, tcp)"))
                {
                    let rest = &line[i + "listening on ".len()..];
                    let a = rest.split_whitespace().next().unwrap_or("");
                    if let Ok(addr) = a.parse::<SocketAddr>() {
                        let _ = tx.send(addr);
                    }
                }
                let mut l = log2.lock().unwrap();
                l.push_str(&line);
                l.push('\n');
            }
        });
        let addr = match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "kdns did not start listening; log:\n{}",
                    log.lock().unwrap()
                );
            }
        };
        Kdns {
            child,
            addr,
            dir,
            log,
        }
    }

    pub(crate) fn port(&self) -> u16 {
        self.addr.port()
    }

    pub(crate) fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    /// `dig` against this server; `args` are extra dig arguments.
    pub(crate) fn dig(&self, args: &[&str]) -> String {
        dig(self.addr, args)
    }

    /// The bound address of an HTTP listener (`http listening on ADDR (PATHS)`) that serves
    /// `path`.
    pub(crate) fn http_addr(&self, path: &str) -> SocketAddr {
        let log = self.log();
        log.lines()
            .filter_map(|l| l.split("http listening on ").nth(1))
            .find(|rest| rest.contains(path))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|a| a.parse().ok())
            .unwrap_or_else(|| panic!("no HTTP listener for {path}; log:\n{log}"))
    }

    /// Sends SIGTERM.
    pub(crate) fn sigterm(&self) {
        let ok = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        assert!(ok, "kill -TERM failed");
    }
}

/// `GET path` over HTTP/1.1: (status code, body).
pub(crate) fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(3))
        .unwrap_or_else(|e| panic!("connect {addr}: {e}"));
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let code = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    let body = out
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (code, body)
}

/// The value of one sample in a Prometheus text exposition (`name{labels}` as written).
pub(crate) fn metric(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

impl Drop for Kdns {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run(cmd: &str, args: &[String]) -> String {
    let out = Command::new(cmd).args(args).output().unwrap_or_else(|e| {
        panic!("cannot run {cmd} ({e}); install the test dependencies: scripts/install-deps.sh")
    });
    let mut s = String::from_utf8_lossy(&out.stdout).to_string();
    s.push_str(&String::from_utf8_lossy(&out.stderr));
    s
}

pub(crate) fn dig(addr: SocketAddr, args: &[&str]) -> String {
    let mut a = vec![
        format!("@{}", addr.ip()),
        "-p".into(),
        addr.port().to_string(),
        "+tries=1".into(),
        "+time=3".into(),
    ];
    a.extend(args.iter().map(|s| s.to_string()));
    run("dig", &a)
}

pub(crate) fn kdig(addr: SocketAddr, args: &[&str]) -> String {
    let mut a = vec![
        format!("@{}", addr.ip()),
        "-p".into(),
        addr.port().to_string(),
        "+retry=0".into(),
        "+time=3".into(),
    ];
    a.extend(args.iter().map(|s| s.to_string()));
    run("kdig", &a)
}

/// The records of a `+noall +answer` style output, one per line, whitespace-normalized.
pub(crate) fn records(out: &str) -> Vec<String> {
    let mut v: Vec<String> = out
        .lines()
        .filter(|l| !l.starts_with(';') && !l.trim().is_empty())
        .map(|l| l.split_whitespace().collect::<Vec<_>>().join(" "))
        .collect();
    v.sort();
    v
}

/// The status word of a full dig/kdig output (`NOERROR`, `NXDOMAIN`, …).
pub(crate) fn status(out: &str) -> String {
    out.split("status: ")
        .nth(1)
        .and_then(|r| r.split([',', ';']).next())
        .unwrap_or("<no status>")
        .trim()
        .to_string()
}

/// Polls `f` until it returns true or `timeout` passes; returns the time it took.
pub(crate) fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let t0 = Instant::now();
    while t0.elapsed() < timeout {
        if f() {
            return Some(t0.elapsed());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// One DNS question over UDP from the test itself (for tight polling loops where spawning
/// `dig` would dominate): the rcode name and the answer records as text.
pub(crate) fn query(addr: SocketAddr, name: &str, qtype: &str) -> Option<(String, Vec<String>)> {
    use hickory_server::proto::op::{Message, Query};
    use hickory_server::proto::rr::{Name, RecordType};
    let mut m = Message::query();
    m.metadata.id = rand::random();
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(
        Name::from_ascii(name).ok()?,
        qtype.parse::<RecordType>().ok()?,
    ));
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").ok()?;
    sock.set_read_timeout(Some(Duration::from_millis(1500)))
        .ok()?;
    sock.send_to(&m.to_vec().ok()?, addr).ok()?;
    let mut buf = [0u8; 4096];
    loop {
        let (n, _) = sock.recv_from(&mut buf).ok()?;
        let r = Message::from_vec(&buf[..n]).ok()?;
        if r.metadata.id != m.metadata.id {
            continue;
        }
        let answers = r.answers.iter().map(|a| a.to_string()).collect();
        return Some((
            format!("{:?}", r.metadata.response_code).to_ascii_uppercase(),
            answers,
        ));
    }
}
