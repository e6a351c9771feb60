//! Restarts that lose nothing: a new kdns starts on the same address and port while the old
//! one serves (`--handover`: it takes over the old one's sockets), the old one gets SIGTERM and
//! drains (lameduck), and `dnsperf` at a steady rate through the whole replacement, over UDP
//! and over TCP, counts the queries lost.
mod common;

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{fixture, status, Kdns};

const COREFILE: &str = "\
.:0 {
    bind 127.0.0.1
    health 127.0.0.1:0 {
        lameduck 500ms
    }
    kubernetes cluster.local {
        manifests {DIR}/manifests
    }
}
";

/// dnsperf against `k` for `secs` seconds at `qps` over `mode` (`udp` or `tcp`).
fn dnsperf(k: &Kdns, mode: &str, qps: u32, secs: u32) -> Child {
    let data = k.dir.path().join("queries");
    std::fs::write(
        &data,
        "web.shop.svc.cluster.local A\ndb.shop.svc.cluster.local A\n_http._tcp.web.shop.svc.cluster.local SRV\n",
    )
    .unwrap();
    Command::new("dnsperf")
        .args(["-s", "127.0.0.1", "-p", &k.port().to_string(), "-m", mode])
        .args(["-c", "4", "-t", "2", "-l", &secs.to_string()])
        .args(["-Q", &qps.to_string(), "-d"])
        .arg(&data)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("dnsperf (scripts/install-deps.sh)")
}

/// (completed, lost) from dnsperf's summary.
fn summary(c: Child) -> (u64, u64) {
    let out = c.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .and_then(|r| r.split_whitespace().next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no {name:?} in dnsperf's output:\n{text}"))
    };
    (field("Queries completed:"), field("Queries lost:"))
}

/// The load's rate: 2,000 queries/s, or `KDNS_RESTART_QPS_UDP` / `KDNS_RESTART_QPS_TCP` (to
/// run at half of what the build under test serves; README's figures).
fn rate(mode: &str) -> u32 {
    std::env::var(format!("KDNS_RESTART_QPS_{}", mode.to_uppercase()))
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(2000)
}

fn wait_exit(k: &mut Kdns, limit: Duration) -> Option<i32> {
    let t0 = Instant::now();
    loop {
        if let Some(s) = k.child.try_wait().unwrap() {
            return s.code();
        }
        assert!(t0.elapsed() < limit, "the old kdns did not stop");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Replaces a kdns under a steady dnsperf load over `mode`: (completed, lost, new's log).
fn replace_under_load(mode: &str) -> (u64, u64, String) {
    let h = tempfile::tempdir().unwrap();
    let path = h.path().join("handover.sock");
    let args = ["--handover", path.to_str().unwrap()];
    let mut old = Kdns::start_args(COREFILE, Some(&fixture("cluster")), &args);
    let load = dnsperf(&old, mode, rate(mode), 4);
    std::thread::sleep(Duration::from_millis(700));
    let new = Kdns::start_args(COREFILE, Some(&fixture("cluster")), &args);
    assert_eq!(new.addr, old.addr, "the new kdns serves the same address");
    assert!(
        new.log().contains("took over the DNS sockets"),
        "{}",
        new.log()
    );
    std::thread::sleep(Duration::from_millis(700));
    old.sigterm();
    assert_eq!(wait_exit(&mut old, Duration::from_secs(10)), Some(0));
    assert!(
        old.log().contains("handed the DNS sockets to a new kdns"),
        "{}",
        old.log()
    );
    let (completed, lost) = summary(load);
    assert_eq!(status(&new.dig(&["web.shop.svc.cluster.local"])), "NOERROR");
    println!("{mode}: {completed} queries completed, {lost} lost across the replacement");
    (completed, lost, new.log())
}

#[test]
fn a_replacement_over_udp_loses_no_query() {
    let (completed, lost, _) = replace_under_load("udp");
    assert!(completed > 5000, "the load ran: {completed}");
    assert_eq!(lost, 0, "UDP queries lost across the replacement");
}

#[test]
fn a_replacement_over_tcp_loses_no_query() {
    let (completed, lost, log) = replace_under_load("tcp");
    assert!(completed > 5000, "the load ran: {completed}");
    // dnsperf keeps its connections: the old process's were passed on, not closed.
    assert!(
        log.contains("serving the open TCP connections of the old kdns"),
        "{log}"
    );
    assert_eq!(lost, 0, "TCP queries lost across the replacement");
}

/// A CoreDNS 1.14.7 process (from `scripts/build-tools.sh`) on `port`, killed on drop.
struct CoreDns(Child);

impl Drop for CoreDns {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn coredns(dir: &std::path::Path, port: u16) -> CoreDns {
    let bin =
        std::env::var("KDNS_TOOLS_BIN").unwrap_or_else(|_| "/var/cache/kdns-tools/bin".into());
    let conf = dir.join(format!("Corefile.{}", rand::random::<u32>()));
    std::fs::write(
        &conf,
        format!(".:{port} {{\n bind 127.0.0.1\n health 127.0.0.1:0 {{\n  lameduck 500ms\n }}\n hosts {{\n  10.0.0.1 web.shop.svc.cluster.local\n  10.0.0.2 db.shop.svc.cluster.local\n }}\n}}\n"),
    )
    .unwrap();
    let child = Command::new(std::path::Path::new(&bin).join("coredns"))
        .arg("-conf")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("coredns from scripts/build-tools.sh");
    std::thread::sleep(Duration::from_millis(700));
    CoreDns(child)
}

/// The same replacement for CoreDNS (SO_REUSEPORT, lameduck) and for kdns without
/// `--handover` (SO_REUSEPORT, lameduck): the figures README's "Reliability" reports.
#[test]
#[ignore = "needs CoreDNS: scripts/build-tools.sh"]
fn replacement_figures_without_handover() {
    for mode in ["udp", "tcp"] {
        // kdns, plain SO_REUSEPORT.
        let mut old = Kdns::start(COREFILE, Some(&fixture("cluster")));
        let load = dnsperf(&old, mode, 2000, 4);
        std::thread::sleep(Duration::from_millis(700));
        let port = old.port().to_string();
        let core = COREFILE.replace(".:0", &format!(".:{port}"));
        let new = Kdns::start(&core, Some(&fixture("cluster")));
        std::thread::sleep(Duration::from_millis(700));
        old.sigterm();
        wait_exit(&mut old, Duration::from_secs(10));
        let (completed, lost) = summary(load);
        println!("kdns without --handover, {mode}: {completed} completed, {lost} lost");
        assert!(completed > 5000);
        drop(new);
        // CoreDNS.
        let dir = tempfile::tempdir().unwrap();
        let port = common::knot::free_port("127.0.0.1");
        let mut old = coredns(dir.path(), port);
        let probe = Kdns::start(COREFILE, Some(&fixture("cluster")));
        let data = probe.dir.path().join("queries");
        std::fs::write(
            &data,
            "web.shop.svc.cluster.local A\ndb.shop.svc.cluster.local A\n",
        )
        .unwrap();
        let load = Command::new("dnsperf")
            .args(["-s", "127.0.0.1", "-p", &port.to_string(), "-m", mode])
            .args(["-c", "4", "-t", "2", "-l", "4", "-Q", "2000", "-d"])
            .arg(&data)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(700));
        let _new = coredns(dir.path(), port);
        std::thread::sleep(Duration::from_millis(700));
        Command::new("kill")
            .args(["-TERM", &old.0.id().to_string()])
            .status()
            .unwrap();
        let _ = old.0.wait();
        let (completed, lost) = summary(load);
        println!("CoreDNS 1.14.7, {mode}: {completed} completed, {lost} lost");
        assert!(completed > 5000);
    }
}
