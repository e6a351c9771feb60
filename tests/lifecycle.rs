//! `reload`, SIGTERM with `health` lameduck, and `loop` detection, on the real binary.
mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::knot::{free_port, Knot};
use common::{http_get, records, status, wait_until, Kdns};

fn zone(origin: &str, ip: &str) -> String {
    format!("$TTL 60\n@ IN SOA ns.{origin}. admin.{origin}. 1 3600 600 86400 60\n@ IN NS ns\nns IN A 127.0.0.1\nwww IN A {ip}\n")
}

#[test]
fn reload_swaps_the_config_and_keeps_the_old_one_on_a_bad_edit() {
    let a = Knot::start("127.0.0.1", &[("one.test", zone("one.test", "192.0.2.1"))]);
    let b = Knot::start("127.0.0.1", &[("two.test", zone("two.test", "192.0.2.2"))]);
    let core = |up: std::net::SocketAddr, extra: &str| {
        format!(".:0 {{\n bind 127.0.0.1\n reload 2s 0s\n health 127.0.0.1:0\n forward . {up}\n{extra}}}\n")
    };
    let k = Kdns::start(&core(a.addr, ""), None);
    let conf = k.dir.path().join("Corefile");
    let health = k.http_addr("/health");
    assert_eq!(
        records(&k.dig(&["+noall", "+answer", "www.one.test"])),
        vec!["www.one.test. 60 IN A 192.0.2.1"]
    );

    // Point forward at the other upstream: served within one interval, same port, no errors.
    let t0 = Instant::now();
    std::fs::write(&conf, core(b.addr, "")).unwrap();
    let took = wait_until(Duration::from_secs(8), || {
        status(&k.dig(&["www.two.test"])) == "NOERROR"
    })
    .unwrap_or_else(|| panic!("not reloaded; log:\n{}", k.log()));
    println!("reload visible after {took:?}");
    assert_eq!(
        status(&k.dig(&["www.one.test"])),
        "REFUSED",
        "the old upstream is gone"
    );
    assert_eq!(
        http_get(health, "/health").0,
        200,
        "the kept HTTP listener still serves"
    );
    let log = k.log();
    let swap = log
        .lines()
        .find(|l| l.contains("Reloading complete"))
        .unwrap_or_else(|| panic!("{log}"));
    println!("{swap}");
    assert!(t0.elapsed() < Duration::from_secs(8));

    // A bad edit: logged with FILE:LINE, the running configuration stays.
    std::fs::write(&conf, core(b.addr, " frobnicate\n")).unwrap();
    let want = format!("{}:6: unknown directive \"frobnicate\"", conf.display());
    assert!(
        wait_until(Duration::from_secs(8), || k.log().contains(&want)).is_some(),
        "{}",
        k.log()
    );
    assert!(k.log().contains("still serving the previous configuration"));
    assert_eq!(
        records(&k.dig(&["+noall", "+answer", "www.two.test"])),
        vec!["www.two.test. 60 IN A 192.0.2.2"]
    );
    // A bad option value, too.
    std::fs::write(&conf, core(b.addr, " cache 0\n")).unwrap();
    let want = format!(
        "{}:6: cache: cache TTL can not be zero or negative: 0",
        conf.display()
    );
    assert!(
        wait_until(Duration::from_secs(8), || k.log().contains(&want)).is_some(),
        "{}",
        k.log()
    );
    assert_eq!(status(&k.dig(&["www.two.test"])), "NOERROR");
}

#[test]
fn a_reload_that_cannot_be_applied_changes_nothing_and_is_tried_once() {
    let a = Knot::start("127.0.0.1", &[("one.test", zone("one.test", "192.0.2.1"))]);
    let core = |extra: &str| {
        format!(".:0 {{\n bind 127.0.0.1\n reload 2s 0s\n health 127.0.0.1:0\n forward . {}\n}}\n{extra}", a.addr)
    };
    let k = Kdns::start(&core(""), None);
    let conf = k.dir.path().join("Corefile");
    let health = k.http_addr("/health");
    // The new block's port is taken.
    let taken = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    std::fs::write(
        &conf,
        core(&format!(
            "other.test:{port} {{\n bind 127.0.0.1\n forward . {}\n}}\n",
            a.addr
        )),
    )
    .unwrap();
    let want = format!("cannot listen on port {port}");
    assert!(
        wait_until(Duration::from_secs(8), || k.log().contains(&want)).is_some(),
        "{}",
        k.log()
    );
    std::thread::sleep(Duration::from_millis(4500));
    assert_eq!(k.log().matches(&want).count(), 1, "tried once: {}", k.log());
    assert_eq!(status(&k.dig(&["www.one.test"])), "NOERROR");
    assert_eq!(
        status(&k.dig(&["www.other.test"])),
        "REFUSED",
        "not half applied"
    );
    assert_eq!(http_get(health, "/health").0, 200);
    drop(taken);
}

#[test]
fn sigterm_exits_zero_after_lameduck() {
    let core = ".:0 {\n bind 127.0.0.1\n health 127.0.0.1:0 {\n  lameduck 1500ms\n }\n ready 127.0.0.1:0\n kubernetes cluster.local {\n  manifests {DIR}/manifests\n }\n}\n";
    let mut k = Kdns::start(core, Some(&common::fixture("cluster")));
    let http = k.http_addr("/health");
    assert_eq!(http_get(http, "/ready").0, 200);
    let t0 = Instant::now();
    k.sigterm();
    // During lameduck: DNS and /health answer, /ready does not.
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(http_get(http, "/health"), (200, "OK".into()));
    assert_eq!(http_get(http, "/ready"), (503, "Shutting down".into()));
    assert_eq!(status(&k.dig(&["web.shop.svc.cluster.local"])), "NOERROR");
    let code = loop {
        if let Some(s) = k.child.try_wait().unwrap() {
            break s.code();
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "did not stop");
        std::thread::sleep(Duration::from_millis(20));
    };
    let took = t0.elapsed();
    assert_eq!(code, Some(0), "{}", k.log());
    assert!(
        took >= Duration::from_millis(1500),
        "waited for the lameduck: {took:?}"
    );
    println!("stopped {took:?} after SIGTERM (lameduck 1.5s)");
    assert!(k.log().contains("Going into lameduck mode"));
}

#[test]
fn a_forwarding_loop_stops_kdns_with_coredns_message() {
    let port = free_port("127.0.0.1");
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("Corefile");
    std::fs::write(
        &conf,
        format!(".:{port} {{\n bind 127.0.0.1\n loop\n forward . 127.0.0.1:{port}\n}}\n"),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_kdns"))
        .arg("--conf")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let t0 = Instant::now();
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s.code();
        }
        if t0.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("the loop was not detected");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code, Some(1), "{err}");
    let re = regex::Regex::new(&format!(
        r#"\[FATAL\] plugin/loop: Loop \(127\.0\.0\.1:\d+ -> 127\.0\.0\.1:{port}\) detected for zone "\.", see https://coredns\.io/plugins/loop#troubleshooting\. Query: "HINFO \d+\.\d+\."#
    ))
    .unwrap();
    assert!(re.is_match(&err), "{err}");
}
