//! Each major distribution's default CoreDNS Corefile, word for word
//! (`tests/fixtures/distributions/NAME/`, sources in `PROVENANCE.md` there):
//!
//! - `NAME_loads`: `kdns --conf FILE --validate` accepts the file as it is. Only paths of files
//!   that do not exist on the test machine point elsewhere (`/etc/coredns/…` of k3s, the CA
//!   bundle under `/etc/pki/…` of OpenShift's DNS-over-TLS variant): into a temp copy.
//! - `NAME_serves`: the same file serving a "pod" in network namespaces the test makes (needs
//!   root and iproute2, as `tests/kubeadm.rs`), on the Corefile's own ports, with Knot behind
//!   `/etc/resolv.conf` as the upstream; the one line added is `manifests` in the `kubernetes`
//!   block (the objects of `tests/fixtures/cluster`). Real `dig` questions exercise every
//!   directive the Corefile uses.
//!
//! ```text
//! pod ── veth ── dns (kdns; resolv.conf: nameserver 10.253.2.2) ── veth ── upstream (knotd)
//! ```
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::knot::{root_zone, Knot};
use common::netns::{link, Netns};
use common::{copy_dir, fixture, records, status, wait_until, Kdns};

/// What a distribution's Corefile says, as the checks need it.
struct Dist {
    /// Directory under `tests/fixtures/distributions`.
    name: &'static str,
    /// DNS port of its server blocks.
    port: u16,
    /// The `prometheus` address as reached from inside the namespace.
    metrics: &'static str,
    /// `kubernetes … { ttl }` (CoreDNS's default 5).
    kube_ttl: u32,
    /// `pods insecure` (else the default, `pods disabled`).
    pods: bool,
    /// The cache's cap for success answers (Knot's www.example.test has TTL 300).
    success_cap: u32,
    /// `loadbalance`, `loop`, `log . { class error }`, `bufsize 1232`.
    loadbalance: bool,
    looped: bool,
    log_errors: bool,
    bufsize: bool,
}

const fn dist(name: &'static str) -> Dist {
    Dist {
        name,
        port: 53,
        metrics: "127.0.0.1:9153",
        kube_ttl: 5,
        pods: true,
        success_cap: 30,
        loadbalance: true,
        looped: true,
        log_errors: false,
        bufsize: false,
    }
}

const KUBEADM: Dist = Dist {
    kube_ttl: 30,
    ..dist("kubeadm")
};
const DEPLOYMENT: Dist = Dist {
    pods: false,
    ..dist("coredns-deployment")
};
const EKS: Dist = dist("eks");
const AKS: Dist = Dist {
    kube_ttl: 30,
    ..dist("aks")
};
const K3S: Dist = dist("k3s");
const RKE2: Dist = Dist {
    kube_ttl: 30,
    ..dist("rke2")
};
const OPENSHIFT: Dist = Dist {
    port: 5353,
    success_cap: 900,
    loadbalance: false,
    looped: false,
    log_errors: true,
    bufsize: true,
    ..dist("openshift")
};
const GARDENER: Dist = Dist {
    port: 8053,
    kube_ttl: 30,
    log_errors: true,
    ..dist("gardener")
};

/// Copies a distribution's fixture directory into a temp dir; absolute paths the Corefile names
/// that do not exist here (k3s's `/etc/coredns/`, OpenShift's `/etc/pki/`) point into the copy.
fn prepare(name: &str, file: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    copy_dir(&fixture("distributions").join(name), dir.path());
    let conf = dir.path().join(file);
    let mut text = std::fs::read_to_string(&conf).unwrap();
    let root = dir.path().display().to_string();
    if text.contains("/etc/coredns/") && !Path::new("/etc/coredns/NodeHosts").exists() {
        // k3s mounts its ConfigMaps at /etc/coredns (NodeHosts) and /etc/coredns/custom.
        text = text.replace("/etc/coredns/", &format!("{root}/"));
    }
    for line in text.clone().lines() {
        let Some(bundle) = line.trim().strip_prefix("tls /etc/pki/") else {
            continue;
        };
        // A CA bundle OpenShift's operator mounts from a ConfigMap: the system bundle here.
        let to = dir.path().join("etc/pki").join(bundle);
        std::fs::create_dir_all(to.parent().unwrap()).unwrap();
        std::fs::copy("/etc/ssl/certs/ca-certificates.crt", &to).unwrap();
        text = text.replace(&format!("/etc/pki/{bundle}"), &to.display().to_string());
    }
    std::fs::write(&conf, text).unwrap();
    (dir, conf)
}

/// `kdns --conf FILE --validate` on the prepared copy: must succeed.
fn validate(name: &str, file: &str) -> String {
    let (_dir, conf) = prepare(name, file);
    let out = Command::new(env!("CARGO_BIN_EXE_kdns"))
        .arg("--conf")
        .arg(&conf)
        .arg("--validate")
        .output()
        .expect("run kdns");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{name}/{file} does not load:\n{text}");
    assert!(text.contains(": OK"), "{text}");
    text
}

#[test]
fn kubeadm_loads() {
    validate("kubeadm", "Corefile");
}

#[test]
fn kubeadm_fixture_is_the_one_tests_kubeadm_serves() {
    let f = std::fs::read_to_string(fixture("distributions/kubeadm/Corefile")).unwrap();
    let t = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/kubeadm.rs"))
        .unwrap();
    assert!(t.contains(&format!("KUBEADM_COREFILE: &str = \"{f}\";")));
}

#[test]
fn coredns_deployment_loads() {
    validate("coredns-deployment", "Corefile");
}

#[test]
fn eks_loads() {
    validate("eks", "Corefile");
}

/// AKS ships `coredns-custom` empty: both imports match nothing, which CoreDNS only warns about.
#[test]
fn aks_loads() {
    let out = validate("aks", "Corefile");
    for p in ["custom/*.override", "custom/*.server"] {
        assert!(
            out.contains(&format!("No files matching import glob pattern: {p}")),
            "{out}"
        );
    }
}

/// AKS's `coredns-custom` ConfigMap with the kind of keys Microsoft Learn's "Customize CoreDNS
/// with AKS" shows: a `.server` block (a stub domain) and an `.override` inside `.:53`.
#[test]
fn aks_loads_with_custom_server_and_override_files() {
    let (dir, conf) = prepare("aks", "Corefile");
    std::fs::write(
        dir.path().join("custom/puglife.server"),
        "puglife.local:53 {\n    errors\n    cache 30\n    forward . 192.0.2.53\n}\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("custom/log.override"), "log\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kdns"))
        .args([Path::new("--conf"), &conf, Path::new("--validate")])
        .output()
        .unwrap();
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("puglife.local.:53"), "{text}");
    assert!(text.contains("; log;"), "{text}");
}

#[test]
fn k3s_loads() {
    validate("k3s", "Corefile");
}

#[test]
fn rke2_loads() {
    validate("rke2", "Corefile");
}

#[test]
fn openshift_loads() {
    validate("openshift", "Corefile");
}

/// The operator's DNS-over-TLS rendering (its `forwardplugin_tls` test fixture): validated only.
#[test]
fn openshift_with_tls_upstreams_loads() {
    validate("openshift", "Corefile.tls");
}

/// Gardener ships `coredns-custom` with `changeme.server`/`changeme.override` holding a comment.
#[test]
fn gardener_loads() {
    let out = validate("gardener", "Corefile");
    assert!(
        !out.contains("No files matching import glob pattern"),
        "{out}"
    );
}

/// Extra upstream names for AKS's `template` blocks (present upstream, so an NXDOMAIN is the
/// template's doing).
fn upstream_zone() -> String {
    root_zone()
        + "$ORIGIN internal.cloudapp.net.\nvm1 IN A 192.0.2.50\na.b.c.d IN A 192.0.2.52\n\
           $ORIGIN reddog.microsoft.com.\nx IN A 192.0.2.51\n"
}

/// Adds `manifests DIR` as the first line of the `kubernetes` block (the one change).
fn with_manifests(conf: &Path, manifests: &Path) {
    let text = std::fs::read_to_string(conf).unwrap();
    let mut out = Vec::new();
    let mut added = 0;
    let lines: Vec<&str> = text.lines().collect();
    for (i, l) in lines.iter().enumerate() {
        out.push(l.to_string());
        if l.trim_start().starts_with("kubernetes ") && l.trim_end().ends_with('{') {
            let next = lines.get(i + 1).copied().unwrap_or("");
            let indent = &next[..next.len() - next.trim_start().len()];
            out.push(format!("{indent}manifests {}", manifests.display()));
            added += 1;
        }
    }
    assert_eq!(added, 1, "one kubernetes block");
    let mut new = out.join("\n");
    if text.ends_with('\n') {
        new.push('\n');
    }
    std::fs::write(conf, new).unwrap();
}

/// A served distribution; dropped in field order: kdns, knotd, then the namespaces.
struct Stage {
    kdns: Kdns,
    knot: Option<Knot>,
    pod: Netns,
    dns: Netns,
    _up: Netns,
    port: u16,
}

fn serve(d: &Dist) -> Stage {
    let up = Netns::new("up");
    let dns = Netns::new("dns");
    let pod = Netns::new("pod");
    link(&pod, "10.253.1.2/30", &dns, "10.253.1.1/30");
    link(&dns, "10.253.2.1/30", &up, "10.253.2.2/30");
    let knot = Knot::start_in(&up.prefix(), "10.253.2.2", 53, &[(".", upstream_zone())]);
    let knot_up = wait_until(Duration::from_secs(10), || {
        status(
            &dns.run(&[
                "dig",
                "+tries=1",
                "+time=1",
                "@10.253.2.2",
                "example.test",
                "SOA",
            ])
            .1,
        ) == "NOERROR"
    });
    assert!(
        knot_up.is_some(),
        "knotd in the upstream namespace does not answer"
    );
    dns.resolv_conf("nameserver 10.253.2.2\n");
    let (dir, conf) = prepare(d.name, "Corefile");
    let manifests = dir.path().join("manifests");
    copy_dir(&fixture("cluster"), &manifests);
    with_manifests(&conf, &manifests);
    let kdns = Kdns::start_in(&dns.prefix(), &conf, dir);
    let s = Stage {
        kdns,
        knot: Some(knot),
        pod,
        dns,
        _up: up,
        port: d.port,
    };
    let ready = wait_until(Duration::from_secs(10), || {
        s.curl("http://127.0.0.1:8181/ready").0 == "200"
    });
    assert!(ready.is_some(), "not ready:\n{}", s.kdns.log());
    s
}

impl Stage {
    /// `dig` from the pod at the DNS namespace, on the Corefile's port.
    fn dig(&self, args: &[&str]) -> String {
        let port = self.port.to_string();
        let mut cmd = vec!["dig", "@10.253.1.1", "-p", &port, "+tries=1", "+time=3"];
        cmd.extend_from_slice(args);
        self.pod.run(&cmd).1
    }

    /// The answer records (`+noall +answer`), whitespace-normalised and sorted.
    fn answer(&self, args: &[&str]) -> Vec<String> {
        let mut a = vec!["+noall", "+answer"];
        a.extend_from_slice(args);
        records(&self.dig(&a))
    }

    fn curl(&self, url: &str) -> (String, String) {
        let (_, out) = self
            .dns
            .run(&["curl", "-s", "-m", "3", "-w", "\n%{http_code}", url]);
        let (body, code) = out.rsplit_once('\n').unwrap_or(("", &out));
        (code.trim().to_string(), body.to_string())
    }
}

/// TTL (second field) of each record.
fn ttls(recs: &[String]) -> Vec<u32> {
    recs.iter()
        .filter_map(|r| r.split(' ').nth(1)?.parse().ok())
        .collect()
}

/// `kubernetes` (services, reverse, pods, ttl, fallthrough), `forward`, `cache`, `loadbalance`.
fn check_names(s: &Stage, d: &Dist) {
    let log = || s.kdns.log();
    let web = s.answer(&["web.shop.svc.cluster.local", "A"]);
    assert_eq!(
        web,
        vec![format!(
            "web.shop.svc.cluster.local. {} IN A 10.96.0.20",
            d.kube_ttl
        )],
        "{}",
        log()
    );
    let ptr = s.answer(&["-x", "10.96.0.20"]);
    assert!(
        ptr.iter()
            .any(|r| r.ends_with("PTR web.shop.svc.cluster.local.")),
        "{ptr:?}"
    );
    // fallthrough in-addr.arpa: a reverse name the cluster does not know goes upstream (Knot's
    // root SOA names ns.example.test).
    let out = s.dig(&["-x", "192.0.2.99"]);
    assert_eq!(status(&out), "NXDOMAIN", "{out}");
    assert!(
        out.contains("ns.example.test. admin.example.test."),
        "{out}"
    );
    let pod = s.dig(&["10-1-0-5.shop.pod.cluster.local", "A"]);
    if d.pods {
        assert!(pod.contains("IN\tA\t10.1.0.5"), "pods insecure: {pod}");
    } else {
        assert_eq!(status(&pod), "NXDOMAIN", "pods disabled: {pod}");
    }
    // forward, then cache: the second answer comes from the cache, its TTL capped.
    let www = s.answer(&["www.example.test", "A"]);
    assert_eq!(www.len(), 2, "{www:?}\n{}", log());
    assert!(www[0].ends_with("A 192.0.2.10") && www[1].ends_with("A 192.0.2.11"));
    let again = ttls(&s.answer(&["www.example.test", "A"]));
    assert!(
        again
            .iter()
            .all(|t| *t <= d.success_cap.min(300) && *t > d.success_cap.min(300) - 5),
        "{again:?}"
    );
    for _ in 0..2 {
        // NXDOMAIN from Knot carries its SOA with TTL 60; every distribution caps denial at 30.
        let out = s.dig(&["nothing.example.test", "A"]);
        assert_eq!(status(&out), "NXDOMAIN", "{out}");
        let soa: Vec<u32> = ttls(&records(&s.dig(&[
            "+noall",
            "+authority",
            "nothing.example.test",
        ])));
        assert!(!soa.is_empty() && soa.iter().all(|t| *t <= 30), "{soa:?}");
    }
    if d.loadbalance {
        let firsts: std::collections::HashSet<String> = (0..20)
            .map(|_| {
                let out = s.dig(&["+short", "www.example.test", "A"]);
                out.lines().next().unwrap_or("").to_string()
            })
            .collect();
        assert_eq!(firsts.len(), 2, "loadbalance shuffles: {firsts:?}");
    }
    // A 1.6 KB answer to a client offering 4096 comes truncated at 1232 bytes: kdns caps every
    // UDP answer there, so OpenShift's `bufsize 1232` (which lowers the size the request
    // carries on, to the upstream too) changes nothing a client sees; its summary names it.
    let big = s.dig(&["+bufsize=4096", "+ignore", "big.example.test", "A"]);
    assert!(big.contains(" tc") && big.contains("udp: 1232"), "{big}");
    let summary = s.kdns.log();
    let summary = summary.lines().find(|l| l.contains(":1 .:")).unwrap_or("");
    assert_eq!(summary.contains("bufsize"), d.bufsize, "{summary}");
}

/// `health`, `ready`, `prometheus`, `reload`.
fn check_endpoints(s: &Stage, d: &Dist) {
    assert_eq!(
        s.curl("http://127.0.0.1:8080/health"),
        ("200".into(), "OK".into())
    );
    assert_eq!(
        s.curl("http://127.0.0.1:8181/ready"),
        ("200".into(), "OK".into())
    );
    let (code, m) = s.curl(&format!("http://{}/metrics", d.metrics));
    assert_eq!(code, "200");
    let server = format!("server=\"dns://:{}\"", d.port);
    assert!(
        m.lines()
            .any(|l| l.starts_with("coredns_dns_requests_total{") && l.contains(&server)),
        "{m}"
    );
    assert!(
        m.lines().any(|l| l.starts_with("coredns_cache_hits_total{")
            && l.contains(&server)
            && !l.ends_with(" 0")),
        "{m}"
    );
    assert!(s
        .kdns
        .log()
        .contains("plugin/reload: Running configuration SHA512 = "));
}

/// `errors` (and `log . { class error }`): with the upstream gone, a forwarded name fails.
fn check_errors(mut s: Stage, d: &Dist) {
    s.knot = None;
    let out = s.dig(&["gone.example.test", "A"]);
    assert_eq!(status(&out), "SERVFAIL", "{out}");
    // Worded as CoreDNS 1.14.7 words it (Go's net error), checked side by side by hand.
    let want = "plugin/errors: 2 gone.example.test. A: read udp 10.253.2.1:";
    // `errors` and `log` report the same answer one after the other: wait for both lines.
    let seen = wait_until(Duration::from_secs(5), || {
        let log = s.kdns.log();
        let logged = !d.log_errors || log.contains("\"A IN gone.example.test. udp ");
        logged
            && log.lines().any(|l| {
                l.contains(want) && l.ends_with("->10.253.2.2:53: read: connection refused")
            })
    });
    assert!(seen.is_some(), "{}", s.kdns.log());
    let log = s.kdns.log();
    if d.log_errors {
        assert!(
            log.contains("\"A IN gone.example.test. udp ") && log.contains("SERVFAIL"),
            "{log}"
        );
        assert!(
            !log.contains("\"A IN www.example.test."),
            "class error logs no NOERROR: {log}"
        );
    }
}

/// `loop`: with its resolv.conf pointing at itself (through a relay on :53 when the Corefile
/// listens elsewhere) kdns stops with CoreDNS's message and exit status 1.
fn check_loop(d: &Dist) {
    let ns = Netns::new("loop");
    ns.resolv_conf("nameserver 127.0.0.1\n");
    let (dir, conf) = prepare(d.name, "Corefile");
    let manifests = dir.path().join("manifests");
    copy_dir(&fixture("cluster"), &manifests);
    with_manifests(&conf, &manifests);
    let _relay = (d.port != 53).then(|| {
        let rdir = tempfile::tempdir().unwrap();
        let rconf = rdir.path().join("Corefile");
        let text = format!(
            ".:53 {{\n    bind 127.0.0.1\n    forward . 127.0.0.1:{}\n}}\n",
            d.port
        );
        std::fs::write(&rconf, text).unwrap();
        Kdns::start_in(&ns.prefix(), &rconf, rdir)
    });
    // Spawned directly: kdns may find the loop (and exit) before it logs "listening on".
    let out = dir.path().join("out.log");
    let mut child = Command::new("ip")
        .args([
            "netns",
            "exec",
            &ns.name,
            env!("CARGO_BIN_EXE_kdns"),
            "--conf",
        ])
        .arg(&conf)
        .stdout(std::fs::File::create(&out).unwrap())
        .stderr(std::fs::File::create(&out).unwrap())
        .spawn()
        .unwrap();
    let exited = wait_until(Duration::from_secs(20), || {
        child.try_wait().unwrap().is_some()
    });
    if exited.is_none() {
        let _ = child.kill();
    }
    let log = std::fs::read_to_string(&out).unwrap();
    assert!(exited.is_some(), "no loop detected:\n{log}");
    assert_eq!(child.wait().unwrap().code(), Some(1), "{log}");
    assert!(
        log.contains("plugin/loop: Loop (127.0.0.1:") && log.contains("detected for zone \".\""),
        "{log}"
    );
}

fn serves(d: &Dist, extra: impl Fn(&Stage)) {
    let s = serve(d);
    check_names(&s, d);
    extra(&s);
    check_endpoints(&s, d);
    check_errors(s, d);
    if d.looped {
        check_loop(d);
    }
}

#[test]
fn kubeadm_serves() {
    serves(&KUBEADM, |_| {});
}

#[test]
fn coredns_deployment_serves() {
    serves(&DEPLOYMENT, |_| {});
}

/// EKS (no `template`): the upstream's names under internal.cloudapp.net come through, so the
/// AKS check below can fail.
#[test]
fn eks_serves() {
    serves(&EKS, |s| {
        let out = s.answer(&["a.b.c.d.internal.cloudapp.net", "A"]);
        assert_eq!(
            out,
            vec!["a.b.c.d.internal.cloudapp.net. 30 IN A 192.0.2.52"]
        );
    });
}

/// AKS: the two `template` blocks answer NXDOMAIN for names the upstream has.
#[test]
fn aks_serves() {
    serves(&AKS, |s| {
        for name in ["a.b.c.d.internal.cloudapp.net", "x.reddog.microsoft.com"] {
            let out = s.dig(&[name, "A"]);
            assert_eq!(status(&out), "NXDOMAIN", "template: {out}");
        }
        // Fewer than four labels before internal.cloudapp.net: fallthrough to forward.
        assert_eq!(
            s.answer(&["vm1.internal.cloudapp.net", "A"]).len(),
            1,
            "{}",
            s.kdns.log()
        );
    });
}

/// k3s: node names from `hosts /etc/coredns/NodeHosts`, forward and reverse. The hosts TTL (60)
/// reaches the client capped by `cache 30`, on the first reply too, as CoreDNS's cache does.
#[test]
fn k3s_serves() {
    serves(&K3S, |s| {
        assert_eq!(
            s.answer(&["k3s-server-0", "A"]),
            vec!["k3s-server-0. 30 IN A 172.18.0.2"],
            "{}",
            s.kdns.log()
        );
        let ptr = s.answer(&["-x", "172.18.0.3"]);
        assert_eq!(ptr, vec!["3.0.18.172.in-addr.arpa. 30 IN PTR k3s-agent-0."]);
    });
}

#[test]
fn rke2_serves() {
    serves(&RKE2, |_| {});
}

/// OpenShift: `bufsize` (in `check_names`), `log . { class error }`, `cache 900 { denial 9984
/// 30 }`, and `chaos` on `hostname.bind:5353`.
#[test]
fn openshift_serves() {
    serves(&OPENSHIFT, |s| {
        let host = String::from_utf8(Command::new("hostname").output().unwrap().stdout).unwrap();
        let out = s.answer(&["CH", "TXT", "hostname.bind"]);
        assert_eq!(
            out,
            vec![format!("hostname.bind. 0 CH TXT \"{}\"", host.trim())],
            "{}",
            s.kdns.log()
        );
    });
}

/// Gardener: its search-path `rewrite` answers `NAME.svc.cluster.local.svc.cluster.local` (a
/// pod's search list applied to a name that already had the suffix) as the service.
#[test]
fn gardener_serves() {
    serves(&GARDENER, |s| {
        let out = s.answer(&["web.shop.svc.cluster.local.svc.cluster.local", "A"]);
        // The rewritten question is the one check_names asked: `cache 30` may answer it a
        // second later, with TTL 29.
        let ttl = ttls(&out);
        assert!(ttl.len() == 1 && (28..=30).contains(&ttl[0]), "{out:?}");
        let without_ttl: Vec<String> = out
            .iter()
            .map(|r| r.replacen(&format!(" {} ", ttl[0]), " ", 1))
            .collect();
        assert_eq!(
            without_ttl,
            vec!["web.shop.svc.cluster.local.svc.cluster.local. IN A 10.96.0.20"],
            "{}",
            s.kdns.log()
        );
    });
}
