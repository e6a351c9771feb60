//! The Helm chart `deploy/helm/kdns` through a real helm v4 (built by scripts/build-tools.sh):
//! `helm lint`; `helm template` with the default values (the cluster role), with the node-local
//! role, and with a values file in the CoreDNS chart's layout; every rendered Corefile loads in
//! `kdns --validate`; every rendering is applied to a real kube-apiserver (server-side dry
//! run). Slow: `cargo test --test helm -- --include-ignored` (scripts/test-all.sh does).
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::cluster::{Cluster, SERIAL};
use serde_yaml::Value;

const CHART: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/deploy/helm/kdns");

/// Node-local with the kube-dns ClusterIP bound too (node-local-dns in iptables mode).
const NODE_LOCAL: &str = "nodeLocal:\n  enabled: true\n  clusterDNSIP: 10.96.0.10\n";

/// An operator's values file for the CoreDNS chart (coredns/helm charts/coredns/values.yaml
/// layout: its default `servers`, plus the keys operators set), used as it is.
const COREDNS_VALUES: &str = r#"
replicaCount: 3
k8sAppLabelOverride: kube-dns
isClusterService: true
priorityClassName: system-cluster-critical
serviceType: ClusterIP
service:
  name: kube-dns
  annotations: {}
serviceAccount:
  create: true
rbac:
  create: true
resources:
  limits: {cpu: 100m, memory: 128Mi}
  requests: {cpu: 100m, memory: 128Mi}
rollingUpdate:
  maxUnavailable: 1
  maxSurge: 25%
prometheus:
  service:
    enabled: true
tolerations:
  - {key: CriticalAddonsOnly, operator: Exists}
affinity: {}
podDisruptionBudget:
  minAvailable: 1
servers:
- zones:
  - zone: .
    use_tcp: true
  port: 53
  plugins:
  - name: errors
  - name: health
    configBlock: |-
      lameduck 10s
  - name: ready
  - name: kubernetes
    parameters: cluster.local in-addr.arpa ip6.arpa
    configBlock: |-
      pods insecure
      fallthrough in-addr.arpa ip6.arpa
      ttl 30
  - name: prometheus
    parameters: 0.0.0.0:9153
  - name: forward
    parameters: . /etc/resolv.conf
  - name: cache
    parameters: 30
  - name: loop
  - name: reload
  - name: loadbalance
- zones:
  - zone: example.org.
    scheme: dns://
  port: 5353
  plugins:
  - name: errors
  - name: cache
    parameters: 30
  - name: forward
    parameters: . /etc/resolv.conf
autoscaler:
  enabled: true
  coresPerReplica: 256
  nodesPerReplica: 16
  min: 0
  max: 0
  includeUnschedulableNodes: false
  preventSinglePointFailure: true
hpa:
  enabled: false
"#;

fn tool(name: &str) -> PathBuf {
    let bin =
        std::env::var("KDNS_TOOLS_BIN").unwrap_or_else(|_| "/var/cache/kdns-tools/bin".into());
    Path::new(&bin).join(name)
}

/// `helm ARGS` with its state dirs in a temp dir: (success, stdout, stderr).
fn helm(args: &[&str]) -> (bool, String, String) {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(tool("helm"))
        .args(args)
        .env("HELM_CACHE_HOME", home.path().join("cache"))
        .env("HELM_CONFIG_HOME", home.path().join("config"))
        .env("HELM_DATA_HOME", home.path().join("data"))
        .output()
        .expect("helm from scripts/build-tools.sh");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// A values file in a temp dir.
fn values_file(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

/// `helm template kdns CHART -n kube-system [-f VALUES]...`: the YAML and its objects.
fn render(values: &[&str], sets: &[&str]) -> (String, Vec<Value>) {
    let mut args = vec!["template", "kdns", CHART, "--namespace", "kube-system"];
    for v in values {
        args.extend(["-f", v]);
    }
    for s in sets {
        args.extend(["--set", s]);
    }
    let (ok, out, err) = helm(&args);
    assert!(ok, "helm {args:?} failed:\n{err}{out}");
    let docs = serde_yaml::Deserializer::from_str(&out)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .filter(|v: &Value| !v.is_null())
        .collect();
    (out, docs)
}

/// `helm template` with `sets` that must fail: its stderr (the chart's `fail` message).
fn render_fails(sets: &[&str]) -> String {
    let mut args = vec!["template", "kdns", CHART];
    for s in sets {
        args.extend(["--set", s]);
    }
    let (ok, out, err) = helm(&args);
    assert!(!ok, "{sets:?} rendered anyway:\n{out}");
    err
}

fn kinds(docs: &[Value]) -> Vec<String> {
    let mut k: Vec<String> = docs
        .iter()
        .map(|d| format!("{}/{}", s(&d["kind"]), s(&d["metadata"]["name"])))
        .collect();
    k.sort();
    k
}

fn s(v: &Value) -> &str {
    v.as_str().unwrap_or_default()
}

fn find<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| d["kind"] == kind && d["metadata"]["name"] == name)
        .unwrap_or_else(|| panic!("no {kind}/{name} in {:?}", kinds(docs)))
}

fn strs(v: &Value) -> Vec<&str> {
    v.as_sequence()
        .map(|s| s.iter().map(|x| x.as_str().unwrap()).collect())
        .unwrap_or_default()
}

/// `kdns --conf FILE --validate` on `corefile`; panics with kdns's message if it fails.
fn validate(corefile: &str) {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("Corefile");
    std::fs::write(&conf, corefile).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kdns"))
        .arg("--conf")
        .arg(&conf)
        .arg("--validate")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "kdns --validate failed:\n{}{}\nCorefile:\n{corefile}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Lines trimmed, blank ones dropped: Corefiles compared without their indentation.
fn lines(text: &str) -> Vec<&str> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect()
}

/// The objects of a plain manifest file in deploy/.
fn deploy_file(name: &str) -> Vec<Value> {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("deploy")
        .join(name);
    let text = std::fs::read_to_string(p).unwrap();
    serde_yaml::Deserializer::from_str(&text)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect()
}

#[test]
#[ignore = "needs helm: scripts/build-tools.sh"]
fn helm_lint_passes_for_both_roles() {
    let dir = tempfile::tempdir().unwrap();
    let nl = values_file(dir.path(), "node-local.yaml", NODE_LOCAL);
    let cd = values_file(dir.path(), "coredns.yaml", COREDNS_VALUES);
    for extra in [
        vec![],
        vec!["-f", nl.as_str()],
        vec!["-f", cd.as_str()],
        vec!["--set", "deployment.kind=DaemonSet"],
    ] {
        let mut args = vec!["lint", "--strict", CHART];
        args.extend(&extra);
        let (ok, out, err) = helm(&args);
        assert!(ok, "helm {args:?}:\n{out}{err}");
        assert!(out.contains("0 chart(s) failed"), "{out}");
    }
}

/// The defaults are deploy/: the same Corefile (kubeadm's), RBAC rules, pods and Service ports.
#[test]
#[ignore = "needs helm: scripts/build-tools.sh"]
fn defaults_render_the_cluster_role_as_deploy() {
    let (_, docs) = render(&[], &[]);
    assert_eq!(
        kinds(&docs),
        [
            "ClusterRole/system:kdns",
            "ClusterRoleBinding/system:kdns",
            "ConfigMap/kdns",
            "Deployment/kdns",
            "PodDisruptionBudget/kdns",
            "Service/kube-dns",
            "ServiceAccount/kdns",
        ]
    );
    let corefile = s(&find(&docs, "ConfigMap", "kdns")["data"]["Corefile"]).to_string();
    validate(&corefile);
    let plain = deploy_file("configmap.yaml");
    assert_eq!(lines(&corefile), lines(s(&plain[0]["data"]["Corefile"])));

    let rbac = deploy_file("rbac.yaml");
    let role = find(&docs, "ClusterRole", "system:kdns");
    assert_eq!(role["rules"], rbac[1]["rules"]);

    let d = find(&docs, "Deployment", "kdns");
    let spec = &d["spec"]["template"]["spec"];
    let c = &spec["containers"][0];
    assert_eq!(strs(&c["args"]), ["--conf", "/etc/kdns/Corefile"]);
    assert_eq!(c["livenessProbe"]["httpGet"]["port"], 8080);
    assert_eq!(c["livenessProbe"]["httpGet"]["path"], "/health");
    assert_eq!(c["readinessProbe"]["httpGet"]["port"], 8181);
    assert_eq!(c["readinessProbe"]["httpGet"]["path"], "/ready");
    assert_eq!(d["spec"]["replicas"], 2);
    assert_eq!(spec["dnsPolicy"], "Default");
    assert_eq!(spec["priorityClassName"], "system-cluster-critical");
    assert_eq!(spec["serviceAccountName"], "kdns");
    assert_eq!(
        d["spec"]["template"]["metadata"]["labels"]["k8s-app"],
        "kube-dns"
    );
    let plain = &deploy_file("deployment.yaml")[0]["spec"]["template"]["spec"];
    for key in ["resources", "ports", "securityContext"] {
        assert_eq!(c[key], plain["containers"][0][key], "{key}");
    }
    assert_eq!(spec["securityContext"], plain["securityContext"]);

    let svc = find(&docs, "Service", "kube-dns");
    let ports: Vec<_> = svc["spec"]["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| {
            format!(
                "{}/{}/{}",
                s(&p["name"]),
                p["port"].as_u64().unwrap(),
                s(&p["protocol"])
            )
        })
        .collect();
    assert_eq!(ports, ["dns/53/UDP", "dns-tcp/53/TCP", "metrics/9153/TCP"]);
    assert_eq!(
        svc["spec"]["selector"],
        d["spec"]["selector"]["matchLabels"]
    );
}

/// The node-local role: the DaemonSet as `kdns node-local` needs it, node-local-dns's Corefile,
/// and the upstream Service in front of the cluster role's pods.
#[test]
#[ignore = "needs helm: scripts/build-tools.sh"]
fn node_local_renders_the_daemonset_and_its_corefile() {
    let dir = tempfile::tempdir().unwrap();
    let nl = values_file(dir.path(), "node-local.yaml", NODE_LOCAL);
    let (_, docs) = render(&[&nl], &[]);
    for k in [
        "DaemonSet/kdns-node-local",
        "ConfigMap/kdns-node-local",
        "Service/kdns-upstream",
        "ServiceAccount/kdns-node-local",
        "Deployment/kdns",
        "Service/kube-dns",
    ] {
        assert!(
            kinds(&docs).contains(&k.to_string()),
            "{k}: {:?}",
            kinds(&docs)
        );
    }
    let ds = find(&docs, "DaemonSet", "kdns-node-local");
    let spec = &ds["spec"]["template"]["spec"];
    assert_eq!(spec["hostNetwork"], true);
    assert_eq!(spec["dnsPolicy"], "Default");
    assert_eq!(spec["priorityClassName"], "system-node-critical");
    let ru = &ds["spec"]["updateStrategy"]["rollingUpdate"];
    assert_eq!(
        (&ru["maxSurge"], &ru["maxUnavailable"]),
        (&1.into(), &0.into())
    );
    let c = &spec["containers"][0];
    // No declared ports: host ports would keep the surge pod off the node the old one is on.
    assert!(c.get("ports").is_none(), "{c:?}");
    assert_eq!(
        strs(&c["args"]),
        [
            "node-local",
            "--localip",
            "169.254.20.10,10.96.0.10",
            "--basecorefile",
            "/etc/coredns/Corefile.base",
            "--conf",
            "/run/kdns-conf/Corefile",
            "--upstreamsvc",
            "kdns-upstream",
            "--handover",
            "/run/kdns/handover.sock",
        ]
    );
    assert_eq!(
        strs(&c["securityContext"]["capabilities"]["add"]),
        ["NET_ADMIN", "NET_BIND_SERVICE"]
    );
    assert_eq!(strs(&c["securityContext"]["capabilities"]["drop"]), ["ALL"]);
    let probe = &c["livenessProbe"]["httpGet"];
    assert_eq!(
        (s(&probe["host"]), &probe["port"]),
        ("169.254.20.10", &8080.into())
    );
    let vols = spec["volumes"].as_sequence().unwrap();
    let host = |path: &str| {
        vols.iter()
            .find(|v| v["hostPath"]["path"] == path)
            .map(|v| s(&v["hostPath"]["type"]).to_string())
    };
    assert_eq!(host("/run/kdns").as_deref(), Some("DirectoryOrCreate"));
    assert_eq!(host("/run/xtables.lock").as_deref(), Some("FileOrCreate"));
    let mounts: Vec<_> = c["volumeMounts"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|m| s(&m["mountPath"]))
        .collect();
    assert_eq!(
        mounts,
        [
            "/etc/coredns",
            "/run/kdns-conf",
            "/run/kdns",
            "/run/xtables.lock"
        ]
    );

    let up = find(&docs, "Service", "kdns-upstream");
    let cluster = find(&docs, "Deployment", "kdns");
    assert_eq!(
        up["spec"]["selector"],
        cluster["spec"]["selector"]["matchLabels"]
    );

    let corefile = s(&find(&docs, "ConfigMap", "kdns-node-local")["data"]["Corefile"]);
    for want in [
        "cluster.local:53 {",
        "in-addr.arpa:53 {",
        "ip6.arpa:53 {",
        ".:53 {",
        "success 9984 30",
        "denial 9984 5",
        "bind 169.254.20.10 10.96.0.10",
        "forward . __PILLAR__CLUSTER__DNS__ {",
        "force_tcp",
        "forward . __PILLAR__UPSTREAM__SERVERS__",
        "prometheus :9253",
        "health 169.254.20.10:8080",
        "serve_stale 1h verify",
        "reload",
        "loop",
    ] {
        assert!(corefile.contains(want), "{want:?} missing:\n{corefile}");
    }
    // The same Corefile as deploy/node-local's (which tests/node_local.rs serves).
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/deploy/node-local/configmap.yaml"
    );
    let plain: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    assert_eq!(lines(corefile), lines(s(&plain["data"]["Corefile"])));
    // What `kdns node-local` does before it loads the file: the upstream Service's ClusterIP
    // (KDNS_UPSTREAM_SERVICE_HOST) and the node's resolv.conf.
    validate(
        &corefile
            .replace("__PILLAR__CLUSTER__DNS__", "10.96.0.11")
            .replace("__PILLAR__UPSTREAM__SERVERS__", "/etc/resolv.conf"),
    );

    // Without clusterDNSIP only the link-local address is bound.
    let (_, docs) = render(&[], &["nodeLocal.enabled=true"]);
    let ds = find(&docs, "DaemonSet", "kdns-node-local");
    assert_eq!(
        strs(&ds["spec"]["template"]["spec"]["containers"][0]["args"])[2],
        "169.254.20.10"
    );
    let corefile = s(&find(&docs, "ConfigMap", "kdns-node-local")["data"]["Corefile"]);
    assert!(corefile.contains("bind 169.254.20.10\n"), "{corefile}");
}

/// `nodeLocal.iptables` becomes `--iptables=BACKEND`; the default (auto) adds no argument, as
/// deploy/node-local/daemonset.yaml; a value `kdns node-local` would refuse fails the render.
#[test]
#[ignore = "needs helm: scripts/build-tools.sh"]
fn node_local_iptables_backend_is_passed_and_checked() {
    let args = |sets: &[&str]| {
        let (_, docs) = render(&[], sets);
        let ds = find(&docs, "DaemonSet", "kdns-node-local");
        strs(&ds["spec"]["template"]["spec"]["containers"][0]["args"])
            .iter()
            .map(|a| a.to_string())
            .collect::<Vec<_>>()
    };
    let default = args(&["nodeLocal.enabled=true"]);
    assert!(
        !default.iter().any(|a| a.contains("iptables=")),
        "{default:?}"
    );
    assert_eq!(
        default,
        args(&["nodeLocal.enabled=true", "nodeLocal.iptables=auto"])
    );
    for backend in ["legacy", "nft", "iptables"] {
        let set = format!("nodeLocal.iptables={backend}");
        let got = args(&["nodeLocal.enabled=true", &set]);
        let mut want = default.clone();
        want.push(format!("--iptables={backend}"));
        assert_eq!(got, want);
    }

    let err = render_fails(&["nodeLocal.enabled=true", "nodeLocal.iptables=nftables"]);
    assert!(
        err.contains("nodeLocal.iptables is \"nftables\": it takes auto"),
        "{err}"
    );
}

/// A CoreDNS chart values file needs no change: its `servers` become the Corefile, its ports
/// the Service's, and its autoscaler settings the cluster-proportional-autoscaler's.
#[test]
#[ignore = "needs helm: scripts/build-tools.sh"]
fn a_coredns_chart_values_file_renders_and_loads() {
    let dir = tempfile::tempdir().unwrap();
    let cd = values_file(dir.path(), "coredns.yaml", COREDNS_VALUES);
    let (_, docs) = render(&[&cd], &[]);
    for k in [
        "ConfigMap/kdns",
        "Deployment/kdns",
        "Service/kube-dns",
        "Service/kdns-metrics",
        "PodDisruptionBudget/kdns",
        "ConfigMap/kdns-autoscaler",
        "Deployment/kdns-autoscaler",
        "ServiceAccount/kdns-autoscaler",
        "ClusterRole/system:kdns-autoscaler",
        "ClusterRoleBinding/system:kdns-autoscaler",
        "Role/kdns-autoscaler",
        "RoleBinding/kdns-autoscaler",
    ] {
        assert!(
            kinds(&docs).contains(&k.to_string()),
            "{k}: {:?}",
            kinds(&docs)
        );
    }
    let corefile = s(&find(&docs, "ConfigMap", "kdns")["data"]["Corefile"]);
    validate(corefile);
    assert!(corefile.contains(".:53 {"), "{corefile}");
    assert!(corefile.contains("dns://example.org.:5353 {"), "{corefile}");
    assert!(corefile.contains("prometheus 0.0.0.0:9153"), "{corefile}");

    // The file's `minAvailable` replaces the default `maxUnavailable` (the API takes one).
    let pdb = &find(&docs, "PodDisruptionBudget", "kdns")["spec"];
    assert_eq!(pdb["minAvailable"], 1);
    assert!(pdb.get("maxUnavailable").is_none(), "{pdb:?}");

    // The autoscaler owns the replica count.
    let d = find(&docs, "Deployment", "kdns");
    assert!(d["spec"].get("replicas").is_none(), "{:?}", d["spec"]);
    let svc = find(&docs, "Service", "kube-dns");
    let ports: Vec<_> = svc["spec"]["ports"]
        .as_sequence()
        .unwrap()
        .iter()
        .map(|p| format!("{}/{}", p["port"].as_u64().unwrap(), s(&p["protocol"])))
        .collect();
    assert_eq!(ports, ["53/UDP", "53/TCP", "5353/UDP", "9153/TCP"]);

    let a = find(&docs, "Deployment", "kdns-autoscaler");
    let cmd = strs(&a["spec"]["template"]["spec"]["containers"][0]["command"]);
    assert!(cmd.contains(&"--target=Deployment/kdns"), "{cmd:?}");
    assert!(cmd.contains(&"--configmap=kdns-autoscaler"), "{cmd:?}");
    let linear: serde_json::Value =
        serde_json::from_str(s(
            &find(&docs, "ConfigMap", "kdns-autoscaler")["data"]["linear"]
        ))
        .unwrap();
    assert_eq!(linear["includeUnschedulableNodes"], false);
    assert_eq!(linear["coresPerReplica"], 256.0);

    // The chart's autoscaler defaults are deploy/autoscaler.yaml's (kube-dns-autoscaler's).
    let (_, docs) = render(&[], &["autoscaler.enabled=true"]);
    let chart = s(&find(&docs, "ConfigMap", "kdns-autoscaler")["data"]["linear"]);
    let plain = deploy_file("autoscaler.yaml");
    let plain = plain
        .iter()
        .find(|d| d["kind"] == "ConfigMap")
        .map(|d| s(&d["data"]["linear"]))
        .unwrap();
    let chart: serde_json::Value = serde_json::from_str(chart).unwrap();
    assert_eq!(
        chart,
        serde_json::from_str::<serde_json::Value>(plain).unwrap()
    );
    for (k, v) in [
        ("coresPerReplica", 256.0),
        ("nodesPerReplica", 16.0),
        ("min", 2.0),
    ] {
        assert_eq!(chart[k].as_f64(), Some(v), "{k}");
    }
    assert_eq!(chart["preventSinglePointFailure"], true);
    assert_eq!(chart["includeUnschedulableNodes"], true);
}

#[test]
#[ignore = "needs helm: scripts/build-tools.sh"]
fn autoscaler_and_hpa_together_fail_with_a_clear_message() {
    let err = render_fails(&["autoscaler.enabled=true", "hpa.enabled=true"]);
    assert!(
        err.contains("autoscaler.enabled and hpa.enabled are mutually exclusive"),
        "{err}"
    );
    // Each alone renders, and only one of them owns the replicas.
    let (_, docs) = render(&[], &["hpa.enabled=true"]);
    assert!(kinds(&docs).contains(&"HorizontalPodAutoscaler/kdns".to_string()));
    assert!(!kinds(&docs).iter().any(|k| k.contains("autoscaler")));
}

/// `deployment.kind: DaemonSet` is deploy/per-node/ as a chart: the cluster role as a DaemonSet
/// (no replica count, updated with a surge), and the kube-dns Service with
/// `trafficDistribution: PreferSameNode`; a replica count to scale fails the render.
#[test]
#[ignore = "needs helm: scripts/build-tools.sh"]
fn per_node_renders_a_daemonset_and_keeps_queries_on_the_node() {
    let (_, docs) = render(&[], &["deployment.kind=DaemonSet"]);
    assert_eq!(
        kinds(&docs),
        [
            "ClusterRole/system:kdns",
            "ClusterRoleBinding/system:kdns",
            "ConfigMap/kdns",
            "DaemonSet/kdns",
            "PodDisruptionBudget/kdns",
            "Service/kube-dns",
            "ServiceAccount/kdns",
        ]
    );
    let ds = find(&docs, "DaemonSet", "kdns");
    for key in ["replicas", "strategy"] {
        assert!(ds["spec"].get(key).is_none(), "{key}: {:?}", ds["spec"]);
    }
    let plain = deploy_file("per-node/daemonset.yaml");
    let plain = &plain[0]["spec"];
    assert_eq!(ds["spec"]["updateStrategy"], plain["updateStrategy"]);
    let spec = &ds["spec"]["template"]["spec"];
    let c = &spec["containers"][0];
    let pc = &plain["template"]["spec"]["containers"][0];
    for key in ["args", "ports", "securityContext"] {
        assert_eq!(c[key], pc[key], "{key}");
    }
    for probe in ["livenessProbe", "readinessProbe"] {
        assert_eq!(c[probe]["httpGet"], pc[probe]["httpGet"], "{probe}");
    }
    assert_eq!(
        spec["securityContext"],
        plain["template"]["spec"]["securityContext"]
    );
    assert_eq!(spec["dnsPolicy"], "Default");
    // The pods are the cluster role's: the same labels, so the Services and the PDB select them.
    assert_eq!(
        ds["spec"]["template"]["metadata"]["labels"]["k8s-app"],
        "kube-dns"
    );

    let svc = find(&docs, "Service", "kube-dns");
    assert_eq!(svc["spec"]["trafficDistribution"], "PreferSameNode");
    assert_eq!(
        svc["spec"]["trafficDistribution"],
        deploy_file("per-node/service.yaml")[0]["spec"]["trafficDistribution"]
    );
    assert_eq!(
        svc["spec"]["selector"],
        ds["spec"]["selector"]["matchLabels"]
    );
    let pdb = find(&docs, "PodDisruptionBudget", "kdns");
    assert_eq!(pdb["spec"]["maxUnavailable"], 1);
    assert_eq!(
        pdb["spec"]["selector"]["matchLabels"],
        ds["spec"]["selector"]["matchLabels"]
    );

    // An explicit trafficDistribution wins; a Deployment sets none by default.
    let (_, docs) = render(
        &[],
        &[
            "deployment.kind=DaemonSet",
            "service.trafficDistribution=PreferClose",
        ],
    );
    let svc = find(&docs, "Service", "kube-dns");
    assert_eq!(svc["spec"]["trafficDistribution"], "PreferClose");
    let (_, docs) = render(&[], &[]);
    let svc = find(&docs, "Service", "kube-dns");
    assert!(svc["spec"].get("trafficDistribution").is_none(), "{svc:?}");

    for (sets, want) in [
        (
            vec!["deployment.kind=DaemonSet", "autoscaler.enabled=true"],
            "deployment.kind DaemonSet runs one pod on every node: it has no replica count",
        ),
        (
            vec!["deployment.kind=DaemonSet", "hpa.enabled=true"],
            "deployment.kind DaemonSet runs one pod on every node: it has no replica count",
        ),
        (
            vec!["deployment.kind=Daemonset"],
            "deployment.kind is \"Daemonset\": it takes Deployment",
        ),
    ] {
        let err = render_fails(&sets);
        assert!(err.contains(want), "{sets:?}: {err}");
    }
}

/// Every rendering is accepted by a real API server (server-side dry run: schema, defaults,
/// admission), in kube-system as an operator installs it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs helm, kube-apiserver and etcd: scripts/build-tools.sh"]
async fn renderings_apply_to_a_real_api_server() {
    let _g = SERIAL.lock().await;
    let dir = tempfile::tempdir().unwrap();
    let nl = values_file(dir.path(), "node-local.yaml", NODE_LOCAL);
    let cd = values_file(dir.path(), "coredns.yaml", COREDNS_VALUES);
    let cases: [(&str, Vec<&str>, Vec<&str>); 6] = [
        ("defaults", vec![], vec![]),
        ("node-local", vec![&nl], vec![]),
        ("coredns-values", vec![&cd], vec![]),
        ("hpa", vec![], vec!["hpa.enabled=true"]),
        (
            "node-local-only",
            vec![],
            vec![
                "deployment.enabled=false",
                "nodeLocal.enabled=true",
                "nodeLocal.iptables=nft",
            ],
        ),
        ("per-node", vec![], vec!["deployment.kind=DaemonSet"]),
    ];
    let cluster = Cluster::start();
    for (name, values, sets) in cases {
        let (yaml, docs) = render(&values, &sets);
        let file = dir.path().join(format!("{name}.yaml"));
        std::fs::write(&file, yaml).unwrap();
        let (ok, out) =
            cluster.kubectl(&["apply", "--dry-run=server", "-f", file.to_str().unwrap()]);
        assert!(ok, "{name}: {out}");
        assert_eq!(
            out.lines()
                .filter(|l| l.contains("(server dry run)"))
                .count(),
            docs.len(),
            "{name}: {out}"
        );
    }

    // The API server keeps the per-node Service's trafficDistribution (PreferSameNode: beta,
    // on by default, in 1.34) rather than dropping it as an unknown or gated field.
    let (_, docs) = render(&[], &["deployment.kind=DaemonSet"]);
    let svc = find(&docs, "Service", "kube-dns");
    let file = dir.path().join("per-node-service.yaml");
    std::fs::write(&file, serde_yaml::to_string(svc).unwrap()).unwrap();
    let (ok, out) = cluster.kubectl(&[
        "apply",
        "--dry-run=server",
        "-f",
        file.to_str().unwrap(),
        "-o",
        "jsonpath={.spec.trafficDistribution}{\"\\n\"}",
    ]);
    assert!(ok, "{out}");
    assert_eq!(out.lines().next(), Some("PreferSameNode"), "{out}");
}
