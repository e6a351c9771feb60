//! `kdns env` end to end, on the manifests in tests/fixtures/envvars.
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_kdns");
const CLUSTER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/envvars/cluster"
);
const POD: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/envvars/pod.yaml"
);

fn kdns(args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("env")
        .args(args)
        .env_remove("KUBECONFIG")
        .output()
        .expect("run kdns")
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

fn lines(o: &Output) -> Vec<String> {
    stdout(o).lines().map(str::to_string).collect()
}

#[test]
fn default_namespace_echoserver() {
    let o = kdns(&["-n", "default", "--manifests", CLUSTER]);
    assert!(o.status.success(), "{}", stderr(&o));
    let l = lines(&o);
    assert!(l.contains(&"SVC_ECHOSERVER_SERVICE_HOST=10.0.0.184".to_string()));
    assert!(l.contains(&"SVC_ECHOSERVER_PORT=tcp://10.0.0.184:8080".to_string()));
    assert!(l.contains(&"KUBERNETES_SERVICE_PORT_HTTPS=443".to_string()));
    let mut sorted = l.clone();
    sorted.sort();
    assert_eq!(l, sorted, "sorted by name");
    assert_eq!(l.len(), 15);
    assert!(stderr(&o).is_empty(), "{}", stderr(&o));
}

#[test]
fn no_service_links_keeps_only_kubernetes() {
    let o = kdns(&[
        "-n",
        "default",
        "--manifests",
        CLUSTER,
        "--no-service-links",
    ]);
    assert!(o.status.success());
    let l = lines(&o);
    assert_eq!(l.len(), 8);
    assert!(l.iter().all(|x| x.starts_with("KUBERNETES_")));
}

#[test]
fn output_survives_eval_in_sh() {
    // dns-v6 has bracketed URLs, which must come through the shell unchanged
    let script = format!(
        "eval \"$('{BIN}' env -n shop --manifests '{CLUSTER}')\" && \
         printf '%s|%s|%s' \"$DNS_V6_PORT\" \"$WEB_SERVICE_PORT_METRICS\" \"$DNS_V6_SERVICE_HOST\""
    );
    let o = Command::new("sh").arg("-c").arg(&script).output().unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), "udp://[fd00::a]:53|9090|fd00::a");
}

#[test]
fn headless_external_name_and_other_namespaces_give_nothing() {
    let o = kdns(&["-n", "shop", "--manifests", CLUSTER]);
    let text = stdout(&o);
    assert!(!text.contains("DB_"));
    assert!(!text.contains("SEARCH_"));
    assert!(!text.contains("SVC_ECHOSERVER"));
    assert!(!text.contains("A_SERVICE"));
    assert!(text.contains("WEB_SERVICE_PORT_HTTP=80\n"));
}

#[test]
fn collisions_warn_and_fail_only_with_strict() {
    let o = kdns(&["-n", "clash", "--manifests", CLUSTER]);
    assert!(o.status.success());
    let err = stderr(&o);
    assert!(err.contains("A_SERVICE_PORT collides"), "{err}");
    assert!(err.contains("clash/a-service"), "{err}");
    assert!(stdout(&o).contains("A_SERVICE_PORT=443\n"));
    let o = kdns(&["-n", "clash", "--manifests", CLUSTER, "--strict"]);
    assert_eq!(o.status.code(), Some(3));
    let o = kdns(&["-n", "shop", "--manifests", CLUSTER, "--strict"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
}

#[test]
fn portless_service_is_reported() {
    let o = kdns(&["-n", "broken", "--manifests", CLUSTER]);
    assert!(o.status.success());
    assert!(stderr(&o).contains("broken/portless left out"));
    let o = kdns(&["-n", "broken", "--manifests", CLUSTER, "--strict"]);
    assert_eq!(o.status.code(), Some(3));
}

#[test]
fn pod_env_wins_and_expands() {
    let o = kdns(&["--manifests", CLUSTER, "--pod", POD]);
    assert!(o.status.success(), "{}", stderr(&o));
    let l = lines(&o);
    // the pod's namespace (shop) is used; its own value beats the service's
    assert_eq!(l[0], "WEB_SERVICE_HOST=web.shop.svc");
    assert_eq!(l[1], "BACKEND=http://web.shop.svc:80/");
    assert_eq!(l[2], "LITERAL='$(WEB_SERVICE_HOST) and $(NOT_DEFINED)'");
    assert_eq!(l[3], "MY_POD=echo-client");
    assert!(!l.iter().any(|x| x.starts_with("PASSWORD=")));
    assert!(!l.iter().any(|x| x == "WEB_SERVICE_HOST=10.0.0.20"));
    assert!(l.contains(&"WEB_PORT=tcp://10.0.0.20:80".to_string()));
    assert!(stderr(&o).contains("PASSWORD"));
}

#[test]
fn pod_namespace_conflict_and_missing_container() {
    let o = kdns(&["-n", "default", "--manifests", CLUSTER, "--pod", POD]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("does not match"));
    let o = kdns(&["--manifests", CLUSTER, "--pod", POD, "--container", "nope"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("app, sidecar"), "{}", stderr(&o));
    let o = kdns(&[
        "--manifests",
        CLUSTER,
        "--pod",
        POD,
        "--container",
        "sidecar",
    ]);
    assert!(o.status.success());
    assert!(stdout(&o).contains("WEB_SERVICE_HOST=10.0.0.20\n"));
}

#[test]
fn docker_and_json_formats() {
    let o = kdns(&["-n", "shop", "--manifests", CLUSTER, "--format", "docker"]);
    assert!(stdout(&o).contains("DNS_V6_PORT=udp://[fd00::a]:53\n"));
    let o = kdns(&["-n", "clash", "--manifests", CLUSTER, "--format", "json"]);
    let doc: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(doc["namespace"], "clash");
    assert_eq!(doc["collisions"][0]["name"], "A_SERVICE_PORT");
    assert_eq!(
        doc["collisions"][0]["candidates"][1]["service"],
        "clash/a-service"
    );
    let env = doc["env"].as_array().unwrap();
    assert!(env
        .iter()
        .any(|v| v["name"] == "A_SERVICE_SERVICE_HOST" && v["value"] == "10.0.0.31"));
}

#[test]
fn bad_inputs_fail_cleanly() {
    let o = kdns(&["-n", "x", "--manifests", "/nonexistent/dir"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("/nonexistent/dir"));
    let o = kdns(&["-n", "x", "--kubeconfig", "/nonexistent/kubeconfig"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("kubeconfig"), "{}", stderr(&o));
    let o = kdns(&["--manifests", CLUSTER, "--kubeconfig", "k"]);
    assert_eq!(o.status.code(), Some(2), "clap rejects the conflict");
}

#[test]
fn help_describes_every_flag_and_has_an_example() {
    let o = kdns(&["--help"]);
    let h = stdout(&o);
    for flag in [
        "--namespace",
        "--manifests",
        "--kubeconfig",
        "--context",
        "--no-service-links",
        "--pod",
        "--container",
        "--format",
        "--strict",
        "Examples:",
        "eval",
        "Exit status",
    ] {
        assert!(h.contains(flag), "help lacks {flag}:\n{h}");
    }
}

/// The documented example output (docs/envvars.md, or README.md once folded in) is the real
/// output.
#[test]
fn documented_echoserver_output_is_current() {
    const CMD: &str = "$ kdns env -n default --manifests examples/echoserver\n";
    let root = env!("CARGO_MANIFEST_DIR");
    let doc = ["docs/envvars.md", "README.md"]
        .iter()
        .filter_map(|f| std::fs::read_to_string(format!("{root}/{f}")).ok())
        .find(|text| text.contains(CMD))
        .expect("a doc with the `kdns env` echoserver example");
    let after = &doc[doc.find(CMD).unwrap() + CMD.len()..];
    let documented = &after[..after.find("```").unwrap()];
    let o = Command::new(BIN)
        .args(["env", "-n", "default", "--manifests", "examples/echoserver"])
        .current_dir(root)
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", stderr(&o));
    assert_eq!(stdout(&o), documented);
}
