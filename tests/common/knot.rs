//! A real authoritative upstream for the tests: Knot DNS (`knotd`, Debian package `knot`) on a
//! loopback address and a free high port, serving test zones only (nothing leaves loopback).
use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use super::{dig, status, wait_until};

/// The zone most tests use: `example.test`.
pub(crate) fn example_zone() -> String {
    format!(
        "$TTL 300\n@ IN SOA ns.example.test. admin.example.test. 1 3600 600 86400 60\n@ IN NS ns\nns IN A 127.0.0.1\n{}",
        example_records()
    )
}

fn example_records() -> String {
    let mut z = String::from(
        "www IN A 192.0.2.10\nwww IN A 192.0.2.11\nwww IN AAAA 2001:db8::10\nalias IN CNAME www\n",
    );
    // 100 addresses: 1.6 KB, more than a 1232-byte UDP answer holds.
    for i in 1..=100 {
        z.push_str(&format!("big IN A 198.51.100.{i}\n"));
    }
    z
}

/// A root zone holding the `example.test` names: an upstream that, like a recursive resolver,
/// says NXDOMAIN for every other name (and never asks anyone else).
pub(crate) fn root_zone() -> String {
    format!(
        "$TTL 300\n@ IN SOA ns.example.test. admin.example.test. 1 3600 600 86400 60\n@ IN NS ns.example.test.\n\
         $ORIGIN example.test.\nns IN A 127.0.0.1\n{}",
        example_records()
    )
}

/// knotd lives in /usr/sbin, which is not on every user's PATH.
/// Starts `prog args` (knotd, or a wrapper of it), its log in `dir/knot.log`.
fn spawn(prog: &str, args: &[String], dir: &Path) -> Child {
    Command::new(prog)
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(dir.join("knot.log")).unwrap(),
        ))
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start knotd ({e}); install it: scripts/install-deps.sh"))
}

fn knotd() -> &'static str {
    if Path::new("/usr/sbin/knotd").exists() {
        "/usr/sbin/knotd"
    } else {
        "knotd"
    }
}

pub(crate) struct Knot {
    child: Child,
    pub addr: SocketAddr,
    pub dir: tempfile::TempDir,
}

/// A free port on `ip` for both UDP and TCP (bound then released).
pub(crate) fn free_port(ip: &str) -> u16 {
    for _ in 0..50 {
        let u = UdpSocket::bind((ip, 0)).expect("bind a loopback UDP port");
        let port = u.local_addr().unwrap().port();
        if TcpListener::bind((ip, port)).is_ok() {
            return port;
        }
    }
    panic!("no free port on {ip}");
}

impl Knot {
    /// Starts knotd on `ip` (a free port) serving `zones`: (origin, zone file text).
    pub(crate) fn start(ip: &str, zones: &[(&str, String)]) -> Knot {
        Self::start_in(&[], ip, free_port(ip), zones)
    }

    /// The same, run under `prefix` (e.g. `ip netns exec NAME`).
    pub(crate) fn start_in(prefix: &[&str], ip: &str, port: u16, zones: &[(&str, String)]) -> Knot {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let mut conf = format!(
            "server:\n    rundir: \"{d}\"\n    listen: {ip}@{port}\n    udp-workers: 1\n    tcp-workers: 1\n    background-workers: 1\n\
             log:\n  - target: stderr\n    any: warning\n\
             database:\n    storage: \"{d}/db\"\n\
             control:\n    listen: \"{d}/knot.sock\"\n\
             template:\n  - id: default\n    storage: \"{d}\"\n    file: \"%s.zone\"\n    semantic-checks: off\n\
             zone:\n"
        );
        for (i, (origin, text)) in zones.iter().enumerate() {
            let fqdn = if *origin == "." {
                ".".to_string()
            } else {
                format!("{origin}.")
            };
            std::fs::write(
                dir.path().join(format!("z{i}.zone")),
                format!("$ORIGIN {fqdn}\n{text}"),
            )
            .unwrap();
            conf.push_str(&format!(
                "  - domain: \"{fqdn}\"\n    file: \"z{i}.zone\"\n"
            ));
        }
        let conf_path = dir.path().join("knot.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let (prog, args): (&str, Vec<String>) = match prefix.split_first() {
            Some((p, rest)) => {
                let mut a: Vec<String> = rest.iter().map(|s| s.to_string()).collect();
                a.extend([knotd().into(), "-c".into(), conf_path.display().to_string()]);
                (p, a)
            }
            None => (knotd(), vec!["-c".into(), conf_path.display().to_string()]),
        };
        let child = spawn(prog, &args, dir.path());
        let addr: SocketAddr = format!("{ip}:{port}").parse().unwrap();
        let mut k = Knot { child, addr, dir };
        if prefix.is_empty() {
            let origin = zones[0].0;
            let up = wait_until(Duration::from_secs(10), || {
                status(&dig(addr, &[origin, "SOA"])) == "NOERROR"
            });
            if up.is_none() {
                let log =
                    std::fs::read_to_string(k.dir.path().join("knot.log")).unwrap_or_default();
                let _ = k.child.kill();
                panic!("knotd did not come up on {addr}:\n{log}");
            }
        }
        k
    }

    pub(crate) fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("knot.log")).unwrap_or_default()
    }

    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Knot {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A UDP socket that never answers, counting what it receives (a dead upstream). Health
/// probes (`. NS`) are counted apart from other queries.
pub(crate) struct Blackhole {
    pub addr: SocketAddr,
    pub queries: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    pub probes: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Blackhole {
    pub(crate) fn start(ip: &str) -> Blackhole {
        use std::sync::atomic::{AtomicUsize, Ordering};
        use std::sync::Arc;
        let s = UdpSocket::bind((ip, 0)).unwrap();
        let addr = s.local_addr().unwrap();
        let (queries, probes) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let (q, p) = (queries.clone(), probes.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok((n, _)) = s.recv_from(&mut buf) {
                // Question starts at byte 12: the root name is a single 0 byte, then type NS (2).
                if n >= 17 && buf[12] == 0 && buf[13..15] == [0, 2] {
                    p.fetch_add(1, Ordering::SeqCst);
                } else {
                    q.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
        Blackhole {
            addr,
            queries,
            probes,
        }
    }
}

impl Knot {
    /// knotd on `ip` (a free port) as a secondary of zone `origin` (no trailing dot), loading it
    /// by AXFR from `primary` at start. The caller waits for the zone to come up.
    pub(crate) fn secondary(ip: &str, origin: &str, primary: SocketAddr) -> Knot {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display().to_string();
        let port = free_port(ip);
        let conf = format!(
            "server:\n    rundir: \"{d}\"\n    listen: {ip}@{port}\n    udp-workers: 1\n    tcp-workers: 1\n    background-workers: 1\n\
             log:\n  - target: stderr\n    any: info\n\
             database:\n    storage: \"{d}/db\"\n\
             control:\n    listen: \"{d}/knot.sock\"\n\
             remote:\n  - id: primary\n    address: {}@{}\n\
             template:\n  - id: default\n    storage: \"{d}\"\n    file: \"%s.zone\"\n    semantic-checks: off\n\
             zone:\n  - domain: \"{origin}.\"\n    master: primary\n",
            primary.ip(),
            primary.port()
        );
        let conf_path = dir.path().join("knot.conf");
        std::fs::write(&conf_path, conf).unwrap();
        let args = ["-c".to_string(), conf_path.display().to_string()];
        let child = spawn(knotd(), &args, dir.path());
        let addr: SocketAddr = format!("{ip}:{port}").parse().unwrap();
        Knot { child, addr, dir }
    }
}
