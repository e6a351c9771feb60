//! `kdns migrate kube-dns` on the examples of the Kubernetes documentation page "Customizing DNS
//! Service" (kubernetes/website, content/en/docs/tasks/administer-cluster/dns-custom-nameservers.md):
//! the Corefile it prints is the one the page shows as the CoreDNS equivalent (plus what
//! kubeadm's default Corefile has gained since, listed below), it validates, and it serves: a
//! stub-domain name from the stub's nameserver, another name from the upstreams, a cluster name
//! from the manifests — Knot DNS for both nameservers, each in its own network namespace (needs
//! root and iproute2, as tests/kubeadm.rs):
//!
//! ```text
//! dns (kdns on .:53 and acme.local:53, dig)  ── veth ── stub (knotd 10.253.31.2:53, acme.local)
//!                                            ── veth ── up1  (knotd 10.253.32.2:53, the root)
//!                                            ── veth ── up2  (knotd 10.253.33.2:53, the root)
//! ```
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::knot::{root_zone, Knot};
use common::netns::{link, Netns};
use common::{copy_dir, records, status, wait_until, Kdns};

/// The page's kube-dns example: one stub domain, two upstream nameservers.
const DOCS_KUBE_DNS: &str = r#"apiVersion: v1
kind: ConfigMap
metadata:
  name: kube-dns
  namespace: kube-system
data:
  stubDomains: |
    {"acme.local": ["1.2.3.4"]}
  upstreamNameservers: |
    ["8.8.8.8", "8.8.4.4"]
"#;

/// The page's "CoreDNS configuration equivalent to kube-dns" example ConfigMap (the page leaves
/// out `metadata`; `kubectl get` always prints it).
const DOCS_EQUIVALENT_CONFIGMAP: &str = r#"apiVersion: v1
data:
  federations: |
    {"foo" : "foo.feddomain.com"}
  stubDomains: |
    {"abc.com" : ["1.2.3.4"], "my.cluster.local" : ["2.3.4.5"]}
  upstreamNameservers: |
    ["8.8.8.8", "8.8.4.4"]
kind: ConfigMap
metadata:
  name: kube-dns
  namespace: kube-system
"#;

/// "The complete Corefile with the default plugins", as the page shows it.
const DOCS_EQUIVALENT_COREFILE: &str = ".:53 {
        errors
        health
        kubernetes cluster.local in-addr.arpa ip6.arpa {
           pods insecure
           fallthrough in-addr.arpa ip6.arpa
        }
        federation cluster.local {
           foo foo.feddomain.com
        }
        prometheus :9153
        forward .  8.8.8.8 8.8.4.4
        cache 30
    }
    abc.com:53 {
        errors
        cache 30
        forward . 1.2.3.4
    }
    my.cluster.local:53 {
        errors
        cache 30
        forward . 2.3.4.5
    }
";

/// The page's stub-domain stanza and upstream `forward`, applied to the kube-dns example in
/// the page's own shape (its "Configuration of Stub-domain and upstream nameserver" section).
const DOCS_KUBE_DNS_COREFILE: &str = ".:53 {
        errors
        health
        kubernetes cluster.local in-addr.arpa ip6.arpa {
           pods insecure
           fallthrough in-addr.arpa ip6.arpa
        }
        prometheus :9153
        forward . 8.8.8.8 8.8.4.4
        cache 30
        loop
        reload
        loadbalance
    }
    acme.local:53 {
        errors
        cache 30
        forward . 1.2.3.4
    }
";

fn kdns() -> &'static str {
    env!("CARGO_BIN_EXE_kdns")
}

/// Runs `kdns migrate kube-dns --configmap FILE`: (exit code, stdout, stderr).
fn migrate(configmap: &str, extra: &[&str]) -> (i32, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("kube-dns.yaml");
    std::fs::write(&file, configmap).unwrap();
    let out = Command::new(kdns())
        .args(["migrate", "kube-dns", "--configmap"])
        .arg(&file)
        .args(extra)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// A Corefile as server blocks: (key, directives), a directive being its line with its nested
/// block folded in (`forward . 8.8.8.8 { max_concurrent 1000 }`), whitespace normalized.
fn shape(corefile: &str) -> Vec<(String, Vec<String>)> {
    let words = |l: &str| l.split_whitespace().collect::<Vec<_>>().join(" ");
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    let mut depth = 0;
    for line in corefile.lines().map(words).filter(|l| !l.is_empty()) {
        match depth {
            0 => {
                out.push((line.trim_end_matches(" {").into(), Vec::new()));
                depth = 1;
            }
            _ if line == "}" => {
                depth -= 1;
                if depth == 1 {
                    out.last_mut().unwrap().1.last_mut().unwrap().push_str(" }");
                }
            }
            1 => {
                if line.ends_with('{') {
                    depth = 2;
                }
                out.last_mut().unwrap().1.push(line);
            }
            _ => {
                let d = out.last_mut().unwrap().1.last_mut().unwrap();
                d.push(' ');
                d.push_str(&line);
            }
        }
    }
    out
}

/// What kubeadm's default Corefile (kdns's shape, deploy/configmap.yaml) has that the page's
/// older examples do not: `lameduck 5s`, `ready`, the kubernetes `ttl 30`, forward's
/// `max_concurrent 1000`, cache's `disable success|denial` for the cluster domain, and `loop`,
/// `reload`, `loadbalance` (kubeadm puts `loop` in every stub block too). Taken out here, the
/// rest must be the page's Corefile.
fn without_kubeadm_additions(blocks: Vec<(String, Vec<String>)>) -> Vec<(String, Vec<String>)> {
    let cut_options = [
        " lameduck 5s",
        " ttl 30",
        " max_concurrent 1000",
        " disable success cluster.local",
        " disable denial cluster.local",
    ];
    blocks
        .into_iter()
        .map(|(key, ds)| {
            let ds = ds
                .into_iter()
                .filter(|d| !["ready", "loop", "reload", "loadbalance"].contains(&d.as_str()))
                .map(|d| {
                    let d = cut_options.iter().fold(d, |d, o| d.replacen(o, "", 1));
                    d.strip_suffix(" { }").map(str::to_string).unwrap_or(d)
                })
                .collect();
            (key, ds)
        })
        .collect()
}

#[test]
fn the_docs_equivalent_corefile() {
    let (code, out, err) = migrate(DOCS_EQUIVALENT_CONFIGMAP, &[]);
    assert_eq!(code, 0, "{err}");
    // The page's Corefile without `federation`: CoreDNS removed the plugin in 1.7.0, kdns has
    // none; kdns says so on stderr instead.
    let mut docs = shape(DOCS_EQUIVALENT_COREFILE);
    docs[0].1.retain(|d| !d.starts_with("federation "));
    assert_eq!(without_kubeadm_additions(shape(&out)), docs, "{out}");
    assert!(
        err.contains("warning: federations: not translated (foo)"),
        "{err}"
    );
    // The additions are exactly kubeadm's default Corefile.
    let kubeadm = shape(
        include_str!("../deploy/configmap.yaml")
            .split_once("Corefile: |\n")
            .unwrap()
            .1,
    );
    let mut main = kubeadm[0].clone();
    for d in main.1.iter_mut().filter(|d| d.starts_with("forward ")) {
        *d = "forward . 8.8.8.8 8.8.4.4 { max_concurrent 1000 }".into();
    }
    assert_eq!(shape(&out)[0], main);
}

#[test]
fn the_docs_kube_dns_example_translates_and_validates() {
    let (code, out, err) = migrate(DOCS_KUBE_DNS, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(err, "", "nothing to warn about");
    assert_eq!(
        without_kubeadm_additions(shape(&out)),
        without_kubeadm_additions(shape(DOCS_KUBE_DNS_COREFILE))
    );
    assert!(
        out.ends_with(
            "acme.local:53 {\n    errors\n    cache 30\n    loop\n    forward . 1.2.3.4\n}\n"
        ),
        "{out}"
    );
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("Corefile");
    std::fs::write(&conf, &out).unwrap();
    // As CoreDNS's Deployment runs it: `-conf FILE`.
    let v = Command::new(kdns())
        .arg("-conf")
        .arg(&conf)
        .arg("--validate")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&v.stdout);
    assert!(
        v.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&v.stderr)
    );
    assert!(
        text.contains("forward . -> 8.8.8.8:53 8.8.4.4:53"),
        "{text}"
    );
    assert!(
        text.contains("acme.local.:53: errors; cache acme.local.; loop; forward . -> 1.2.3.4:53"),
        "{text}"
    );

    // The domain: --domain over the Deployment's, the Deployment's over cluster.local.
    let deployment = "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: kube-dns, namespace: kube-system}\nspec:\n  selector: {matchLabels: {k8s-app: kube-dns}}\n  template:\n    spec:\n      containers:\n      - {name: kubedns, image: kube-dns, args: [\"--domain=corp.internal.\", \"--dns-port=10053\"]}\n";
    let both = format!("{DOCS_KUBE_DNS}{deployment}");
    let (_, out, _) = migrate(&both, &[]);
    assert!(
        out.contains("kubernetes corp.internal in-addr.arpa ip6.arpa {"),
        "{out}"
    );
    let (_, out, _) = migrate(&both, &["--domain", "other.example"]);
    assert!(
        out.contains("kubernetes other.example in-addr.arpa ip6.arpa {"),
        "{out}"
    );
    assert!(out.contains("disable denial other.example\n"), "{out}");
}

#[test]
fn bad_input_names_the_key_and_prints_nothing() {
    for (data, want) in [
        (
            "  stubDomains: '{\"acme.local\": [\"1.2.3.4\"'\n",
            "error: stubDomains: invalid JSON",
        ),
        (
            "  upstreamNameservers: '[\"8.8.8.300\"]'\n",
            "error: upstreamNameservers: \"8.8.8.300\" is not an IP address (IP or IP:port)",
        ),
        (
            "  stubDomains: '{\"acme.local\": [\"1.2.3\"]}'\n",
            "error: stubDomains[\"acme.local\"]: \"1.2.3\" is not an IP address",
        ),
    ] {
        let cm =
            format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: kube-dns}}\ndata:\n{data}");
        let (code, out, err) = migrate(&cm, &[]);
        assert_eq!(code, 1, "{cm}");
        assert_eq!(out, "");
        assert!(
            err.starts_with(&format!("kdns migrate kube-dns: {want}")),
            "{err}"
        );
    }
}

fn zone_acme() -> String {
    "$TTL 300\n@ IN SOA ns.acme.local. admin.acme.local. 1 3600 600 86400 60\n@ IN NS ns\nns IN A 10.253.31.2\nfoo IN A 192.0.2.77\n".into()
}

/// Waits until knotd in another namespace answers `name SOA` as seen from `from`.
fn wait_for_knot(from: &Netns, ip: &str, name: &str) {
    let up = wait_until(Duration::from_secs(10), || {
        status(
            &from
                .run(&["dig", "+tries=1", "+time=1", &format!("@{ip}"), name, "SOA"])
                .1,
        ) == "NOERROR"
    });
    assert!(up.is_some(), "knotd on {ip} does not answer for {name}");
}

#[test]
fn the_generated_corefile_serves_stub_upstream_and_cluster_names() {
    let dns = Netns::new("mdns");
    let stub = Netns::new("mstub");
    let up1 = Netns::new("mup1");
    let up2 = Netns::new("mup2");
    link(&dns, "10.253.31.1/30", &stub, "10.253.31.2/30");
    link(&dns, "10.253.32.1/30", &up1, "10.253.32.2/30");
    link(&dns, "10.253.33.1/30", &up2, "10.253.33.2/30");
    let _stub = Knot::start_in(
        &stub.prefix(),
        "10.253.31.2",
        53,
        &[("acme.local", zone_acme())],
    );
    let _up1 = Knot::start_in(&up1.prefix(), "10.253.32.2", 53, &[(".", root_zone())]);
    let _up2 = Knot::start_in(&up2.prefix(), "10.253.33.2", 53, &[(".", root_zone())]);
    wait_for_knot(&dns, "10.253.31.2", "acme.local");
    wait_for_knot(&dns, "10.253.32.2", "example.test");
    wait_for_knot(&dns, "10.253.33.2", "example.test");

    // The page's ConfigMap with its addresses replaced by the Knot servers'.
    let cm = DOCS_KUBE_DNS
        .replace("1.2.3.4", "10.253.31.2")
        .replace("8.8.8.8", "10.253.32.2")
        .replace("8.8.4.4", "10.253.33.2");
    let (code, generated, err) = migrate(&cm, &[]);
    assert_eq!(code, 0, "{err}");
    // Served as written; the one addition is where the cluster objects come from (no API
    // server here), as tests/kubeadm.rs does with kubeadm's Corefile.
    let dir = tempfile::tempdir().unwrap();
    let manifests = dir.path().join("manifests");
    copy_dir(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/echoserver"),
        &manifests,
    );
    let corefile = generated.replacen(
        "       pods insecure\n",
        &format!(
            "       manifests {}\n       pods insecure\n",
            manifests.display()
        ),
        1,
    );
    assert_eq!(corefile.lines().count(), generated.lines().count() + 1);
    let conf: PathBuf = dir.path().join("Corefile");
    std::fs::write(&conf, &corefile).unwrap();
    let k = Kdns::start_in(&dns.prefix(), &conf, dir);

    let ask = |name: &str| {
        dns.run(&["dig", "@127.0.0.1", "+tries=1", "+time=3", name, "A"])
            .1
    };
    // The answer records without their TTLs (`cache 30` caps forwarded ones).
    let answer = |out: &str| {
        let answer = out.split(";; ANSWER SECTION:\n").nth(1).unwrap_or("");
        records(answer.split("\n\n").next().unwrap_or(""))
            .into_iter()
            .map(|r| {
                let f: Vec<&str> = r.split(' ').collect();
                [&f[..1], &f[2..]].concat().join(" ")
            })
            .collect::<Vec<_>>()
    };
    let got = ask("foo.acme.local");
    assert_eq!(
        answer(&got),
        ["foo.acme.local. IN A 192.0.2.77"],
        "the stub domain's nameserver answers (the upstreams say NXDOMAIN):\n{got}\n{}",
        k.log()
    );
    let got = ask("nope.acme.local");
    assert_eq!(status(&got), "NXDOMAIN", "{got}");
    assert!(
        got.contains("ns.acme.local. admin.acme.local."),
        "the stub's SOA: {got}"
    );
    let got = ask("www.example.test");
    assert_eq!(
        answer(&got),
        [
            "www.example.test. IN A 192.0.2.10",
            "www.example.test. IN A 192.0.2.11"
        ],
        "an upstream answers (the stub refuses):\n{got}\n{}",
        k.log()
    );
    let got = ask("svc-echoserver.default.svc.cluster.local");
    assert_eq!(
        answer(&got),
        ["svc-echoserver.default.svc.cluster.local. IN A 10.0.0.184"],
        "{got}\n{}",
        k.log()
    );
    // Neither nameserver is asked for the cluster zone: a name not in it is NXDOMAIN from kdns.
    let got = ask("nope.default.svc.cluster.local");
    assert_eq!(status(&got), "NXDOMAIN", "{got}");
    assert!(
        got.contains("ns.dns.cluster.local. hostmaster.cluster.local."),
        "{got}"
    );
}

/// A kube-dns Deployment as clusters run it (trimmed to what the API server requires), with the
/// cluster domain in its flags.
const KUBE_DNS_DEPLOYMENT: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: kube-dns, namespace: kube-system}
spec:
  selector: {matchLabels: {k8s-app: kube-dns}}
  template:
    metadata: {labels: {k8s-app: kube-dns}}
    spec:
      containers:
      - name: kubedns
        image: registry.k8s.io/dns/k8s-dns-kube-dns:1.23.0
        args: ["--domain=corp.example.", "--dns-port=10053", "--config-dir=/kube-dns-config", "--v=2"]
"#;

/// From a real kube-apiserver: `kdns migrate kube-dns --kubeconfig` prints what the same
/// objects give from a file, the domain taken from the Deployment's `--domain`.
#[test]
#[ignore = "needs kube-apiserver and etcd: scripts/build-tools.sh"]
fn from_the_cluster_as_from_a_file() {
    let cluster = common::cluster::Cluster::start();
    let dir = tempfile::tempdir().unwrap();
    let objects = format!("{DOCS_KUBE_DNS}---\n{KUBE_DNS_DEPLOYMENT}");
    let file = dir.path().join("kube-dns.yaml");
    std::fs::write(&file, &objects).unwrap();
    let run = |args: &[&str]| {
        let out = Command::new(kdns())
            .args(["migrate", "kube-dns"])
            .args(args)
            .arg("--kubeconfig")
            .arg(cluster.kubeconfig())
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    // Nothing there yet: kube-dns would run on its defaults, and so does the Corefile (the
    // node's resolv.conf, cluster.local), with a warning for each missing object.
    let (code, out, err) = run(&[]);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("kubernetes cluster.local in-addr.arpa ip6.arpa")
            && out.contains("forward . /etc/resolv.conf"),
        "{out}"
    );
    assert!(
        err.contains("no ConfigMap kube-system/kube-dns")
            && err.contains("no Deployment kube-system/kube-dns"),
        "{err}"
    );

    let (ok, out) = cluster.kubectl(&["apply", "-f", file.to_str().unwrap()]);
    assert!(ok, "{out}");
    let (code, from_cluster, err) = run(&[]);
    assert_eq!(code, 0, "{err}");
    let (code, from_file, err) = migrate(&objects, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(from_cluster, from_file);
    assert!(
        from_cluster.contains("kubernetes corp.example in-addr.arpa ip6.arpa"),
        "{from_cluster}"
    );
    assert!(
        from_cluster.contains("forward . 8.8.8.8 8.8.4.4"),
        "{from_cluster}"
    );
    assert!(from_cluster.contains("acme.local:53"), "{from_cluster}");
    // --domain wins over the Deployment's.
    let (code, out, err) = run(&["--domain", "other.test"]);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("kubernetes other.test in-addr.arpa"), "{out}");
}
