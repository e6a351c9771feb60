//! kdns against the kubelet's own code: random Service sets go through the Go oracle
//! (`envoracle`, built from k8s.io/kubernetes by scripts/build-tools.sh) and through kdns, and
//! the results are compared.
//!
//! Where two services produce one variable with different values the kubelet's winner is
//! random, so for those names only the name sets and the collision lists are compared; every
//! other variable must match exactly. Seed and size: KDNS_ORACLE_SEED, KDNS_ORACLE_CASES.
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use kdns::envvars::service_env;
use kdns::source::env_input;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::{json, Value};

const DEFAULT_SEED: u64 = 0x6b64_6e73_656e_7631;
const DEFAULT_CASES: usize = 600;

fn oracle_path() -> PathBuf {
    let tools = std::env::var("KDNS_TOOLS").unwrap_or_else(|_| "/var/cache/kdns-tools".into());
    PathBuf::from(tools).join("bin/envoracle")
}

fn pick<'a, T>(rng: &mut StdRng, items: &'a [T]) -> &'a T {
    &items[rng.random_range(0..items.len())]
}

/// Names chosen to collide (`a`/`a-service`/`a-port-80-tcp`, `kubernetes`/`kubernetes-service`)
/// or to have dashes, plus fresh random labels.
fn service_name(rng: &mut StdRng) -> String {
    const POOL: &[&str] = &[
        "a",
        "a-service",
        "a-port-80-tcp",
        "a-port-53-udp",
        "kubernetes",
        "kubernetes-service",
        "kubernetes-port-443-tcp",
        "b",
        "b-service",
        "svc-echoserver",
        "web",
        "db-1",
        "x-y-z",
    ];
    if rng.random_bool(0.75) {
        return pick(rng, POOL).to_string();
    }
    let len = rng.random_range(1..=12);
    let mut s = String::new();
    for i in 0..len {
        let c = if i > 0 && i + 1 < len && rng.random_bool(0.2) {
            '-'
        } else if i > 0 && rng.random_bool(0.2) {
            char::from(b'0' + rng.random_range(0..10u8))
        } else {
            char::from(b'a' + rng.random_range(0..26u8))
        };
        s.push(c);
    }
    s
}

fn ipv4(rng: &mut StdRng) -> String {
    format!(
        "10.{}.{}.{}",
        rng.random_range(0..4),
        rng.random_range(0..256),
        rng.random_range(1..255)
    )
}

fn ipv6(rng: &mut StdRng) -> String {
    let x: u16 = rng.random_range(1..0xffff);
    if rng.random_bool(0.3) {
        format!("2001:DB8::{x:X}") // upper case: used verbatim
    } else {
        format!("fd00::{x:x}")
    }
}

fn ports(rng: &mut StdRng) -> Vec<Value> {
    const NAMES: &[&str] = &[
        "http", "https", "80-tcp", "dns", "u-d-p", "p-1", "metrics", "8083",
    ];
    const NUMBERS: &[i32] = &[53, 80, 443, 8080, 8081];
    const PROTOS: &[Option<&str>] = &[Some("TCP"), Some("UDP"), Some("SCTP"), Some(""), None];
    let n = *pick(rng, &[1usize, 1, 1, 2, 2, 3, 4]);
    let sloppy = rng.random_bool(0.03); // duplicates the API server would reject
    let mut used: BTreeSet<(i32, String)> = BTreeSet::new();
    let mut names: BTreeSet<String> = BTreeSet::new();
    let mut out = Vec::new();
    while out.len() < n {
        let port = if rng.random_bool(0.7) {
            *pick(rng, NUMBERS)
        } else {
            rng.random_range(1..=65535)
        };
        let proto = *pick(rng, PROTOS);
        // the API server defaults an empty protocol to TCP before it checks for duplicates
        let key = (
            port,
            proto.filter(|p| !p.is_empty()).unwrap_or("TCP").to_string(),
        );
        if !sloppy && !used.insert(key) {
            continue;
        }
        let mut p = json!({"port": port, "targetPort": port + 1});
        if let Some(proto) = proto {
            p["protocol"] = json!(proto);
        }
        if n > 1 || rng.random_bool(0.5) {
            let name = pick(rng, NAMES).to_string();
            if !sloppy && !names.insert(name.clone()) {
                continue;
            }
            p["name"] = json!(name);
        }
        out.push(p);
    }
    out
}

fn service(rng: &mut StdRng, namespace: &str, name: &str) -> Value {
    let mut spec = json!({});
    let kind = rng.random_range(0..100);
    match kind {
        0..=44 => spec["clusterIP"] = json!(ipv4(rng)),
        45..=54 => spec["clusterIP"] = json!(ipv6(rng)),
        55..=62 => {
            // dual-stack: only the primary counts
            let (a, b) = (ipv4(rng), ipv6(rng));
            let ips = if rng.random_bool(0.5) { [a, b] } else { [b, a] };
            spec["clusterIP"] = json!(ips[0]);
            spec["clusterIPs"] = json!(ips);
            spec["ipFamilyPolicy"] = json!("PreferDualStack");
        }
        63..=70 => spec["clusterIP"] = json!("None"),
        71..=77 => {
            spec["type"] = json!("ExternalName");
            spec["externalName"] = json!("ext.example.com");
            if rng.random_bool(0.5) {
                spec["clusterIP"] = json!("");
            }
        }
        78..=89 => {
            spec["type"] = json!(pick(rng, &["NodePort", "LoadBalancer"]));
            spec["clusterIP"] = json!(ipv4(rng));
        }
        _ => {} // no clusterIP written at all
    }
    let no_ports = spec["type"] == "ExternalName" || rng.random_bool(0.01);
    if !no_ports || rng.random_bool(0.5) {
        let mut ps = ports(rng);
        if spec["type"] == "NodePort" || spec["type"] == "LoadBalancer" {
            for (i, p) in ps.iter_mut().enumerate() {
                p["nodePort"] = json!(30000 + i);
            }
        }
        spec["ports"] = json!(ps);
    }
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    })
}

fn case(rng: &mut StdRng) -> Value {
    const NAMESPACES: &[&str] = &["default", "ns1", "team-b", "kube-system"];
    let pod_ns = *pick(rng, NAMESPACES);
    let links = rng.random_bool(0.7);
    let n = rng.random_range(0..=12);
    let mut services = Vec::new();
    // A cluster holds one object per namespace/name (the kubelet reads an informer cache).
    let mut taken = std::collections::HashSet::new();
    if rng.random_bool(0.85) {
        taken.insert(("default".to_string(), "kubernetes".to_string()));
        services.push(service(rng, "default", "kubernetes"));
    }
    for _ in 0..n {
        // mostly the pod's namespace, so that collisions happen
        let ns = if rng.random_bool(0.6) {
            pod_ns
        } else {
            *pick(rng, NAMESPACES)
        };
        let name = service_name(rng);
        if !taken.insert((ns.to_string(), name.clone())) {
            continue;
        }
        services.push(service(rng, ns, &name));
    }
    // the kubelet's order is a map's; shuffle the input anyway
    for i in (1..services.len()).rev() {
        let j = rng.random_range(0..=i);
        services.swap(i, j);
    }
    json!({"namespace": pod_ns, "enableServiceLinks": links, "collisions": true, "services": services})
}

fn run_oracle(input: &Value) -> Value {
    let path = oracle_path();
    assert!(
        path.is_file(),
        "the Go oracle {} is missing: build it with scripts/build-tools.sh (branch harness), \
         or set KDNS_TOOLS to the directory holding bin/envoracle",
        path.display()
    );
    let mut child = Command::new(&path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", path.display()));
    let body = serde_json::to_vec(input).unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let writer = std::thread::spawn(move || stdin.write_all(&body));
    let out = child.wait_with_output().expect("oracle output");
    writer.join().unwrap().expect("write oracle input");
    assert!(
        out.status.success(),
        "oracle failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("oracle output is JSON")
}

fn env_of(result: &Value) -> BTreeMap<String, String> {
    result["env"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|v| {
                    let s = |k: &str| v[k].as_str().unwrap_or_default().to_string();
                    (s("name"), s("value"))
                })
                .collect()
        })
        .unwrap_or_default()
}

#[test]
#[ignore = "needs the Go oracle: scripts/build-tools.sh"]
fn kdns_matches_the_kubelet_oracle() {
    let seed = std::env::var("KDNS_ORACLE_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_SEED);
    let n: usize = std::env::var("KDNS_ORACLE_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    let mut rng = StdRng::seed_from_u64(seed);
    let cases: Vec<Value> = (0..n).map(|_| case(&mut rng)).collect();
    let reply = run_oracle(&json!({ "cases": cases }));
    let results = reply["results"].as_array().expect("results array");
    assert_eq!(results.len(), cases.len(), "one oracle result per case");

    let mut failures = Vec::new();
    let (mut vars, mut collided, mut crashed) = (0usize, 0usize, 0usize);
    for (i, (c, want)) in cases.iter().zip(results).enumerate() {
        let services: Vec<_> = c["services"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                let typed: k8s_openapi::api::core::v1::Service =
                    serde_json::from_value(s.clone()).expect("a v1.Service");
                env_input::service(&typed)
            })
            .collect();
        let ns = c["namespace"].as_str().unwrap();
        let links = c["enableServiceLinks"].as_bool().unwrap();
        let got = service_env(&services, ns, links);
        let mut fail =
            |what: String| failures.push(format!("case {i} (ns {ns}, links {links}): {what}"));

        if want["error"].as_str().is_some_and(|e| !e.is_empty()) {
            // the kubelet code panicked on a portless service with a cluster IP
            crashed += 1;
            if got.skipped.is_empty() {
                fail(format!(
                    "oracle failed ({}) but kdns skipped nothing",
                    want["error"]
                ));
            }
            continue;
        }
        if !got.skipped.is_empty() {
            fail(format!(
                "kdns skipped {:?}, the oracle did not fail",
                got.skipped
            ));
            continue;
        }
        let want_env = env_of(want);
        let want_coll: BTreeSet<String> = want["collisions"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        let got_coll: BTreeSet<String> = got.collisions.iter().map(|c| c.name.clone()).collect();
        if got_coll != want_coll {
            fail(format!(
                "collisions: kdns {got_coll:?}, kubelet {want_coll:?}"
            ));
        }
        let got_env: BTreeMap<String, String> = got
            .vars
            .iter()
            .map(|v| (v.name.clone(), v.value.clone()))
            .collect();
        let names = |m: &BTreeMap<String, String>| m.keys().cloned().collect::<BTreeSet<_>>();
        let (gn, wn) = (names(&got_env), names(&want_env));
        for extra in gn.difference(&wn) {
            fail(format!(
                "kdns has {extra}={:?}, the kubelet does not",
                got_env[extra]
            ));
        }
        for missing in wn.difference(&gn) {
            fail(format!("kdns lacks {missing}={:?}", want_env[missing]));
        }
        for (name, w) in &want_env {
            match got_env.get(name) {
                Some(g) if want_coll.contains(name) => {
                    collided += 1;
                    let cands = got.collisions.iter().find(|c| &c.name == name);
                    let ok = cands.is_some_and(|c| c.candidates.iter().any(|(_, v)| v == g))
                        && cands.is_some_and(|c| c.candidates.iter().any(|(_, v)| v == w));
                    if !ok {
                        fail(format!(
                            "{name}: {g:?} / kubelet {w:?} not both among the candidates"
                        ));
                    }
                }
                Some(g) if g != w => fail(format!("{name}: kdns {g:?}, kubelet {w:?}")),
                Some(_) => vars += 1,
                None => {}
            }
        }
    }
    println!(
        "oracle: {} cases compared (seed {seed:#x}): {vars} variables equal, {collided} in \
         collisions, {crashed} cases where the kubelet code panics, {} differences",
        cases.len(),
        failures.len()
    );
    // the generator must keep reaching the interesting corners
    assert!(
        vars > 10 * cases.len() / 2,
        "too few variables compared: {vars}"
    );
    assert!(collided > 0, "no collisions generated");
    assert!(crashed > 0, "no portless services generated");
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures
            .iter()
            .take(40)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
