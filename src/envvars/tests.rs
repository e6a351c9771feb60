use super::*;

fn port(name: &str, port: i32, protocol: &str) -> ServicePort {
    ServicePort {
        name: name.into(),
        port,
        protocol: protocol.into(),
    }
}

fn svc(ns: &str, name: &str, ip: &str, ports: Vec<ServicePort>) -> Service {
    Service {
        namespace: ns.into(),
        name: name.into(),
        cluster_ip: ip.into(),
        ports,
    }
}

fn names(env: &ServiceEnv) -> Vec<&str> {
    env.vars.iter().map(|v| v.name.as_str()).collect()
}

#[test]
fn vars_are_sorted_and_independent_of_input_order() {
    let mut list = vec![
        svc(
            "default",
            "kubernetes",
            "10.0.0.1",
            vec![port("https", 443, "TCP")],
        ),
        svc("ns", "zeta", "10.0.0.9", vec![port("", 9, "UDP")]),
        svc("ns", "alpha", "10.0.0.2", vec![port("", 2, "")]),
    ];
    let a = service_env(&list, "ns", true);
    let mut sorted = names(&a);
    sorted.sort();
    assert_eq!(names(&a), sorted);
    list.reverse();
    assert_eq!(service_env(&list, "ns", true), a);
    assert_eq!(a.get("ALPHA_PORT"), Some("tcp://10.0.0.2:2"));
    assert_eq!(a.get("ZETA_PORT_9_UDP_PROTO"), Some("udp"));
    assert_eq!(a.get("KUBERNETES_SERVICE_PORT_HTTPS"), Some("443"));
    assert!(a.collisions.is_empty() && a.skipped.is_empty());
}

#[test]
fn empty_protocol_means_tcp() {
    let s = svc("ns", "a", "10.0.0.3", vec![port("", 80, "")]);
    let r = service_env(&[s], "ns", true);
    assert_eq!(r.get("A_PORT"), Some("tcp://10.0.0.3:80"));
    assert_eq!(r.get("A_PORT_80_TCP_PROTO"), Some("tcp"));
    assert_eq!(r.get("A_PORT_80_"), None);
}

#[test]
fn headless_and_external_name_are_skipped_nodeport_kept() {
    let list = vec![
        svc("ns", "headless", "None", vec![port("", 80, "TCP")]),
        svc("ns", "ext", "", vec![]),
        // case-sensitive: "none" is not the headless marker
        svc("ns", "odd", "none", vec![port("", 81, "TCP")]),
        svc("ns", "np", "10.0.0.4", vec![port("", 82, "TCP")]),
    ];
    let r = service_env(&list, "ns", true);
    assert!(r.vars.iter().all(|v| !v.name.starts_with("HEADLESS")));
    assert!(r.vars.iter().all(|v| !v.name.starts_with("EXT_")));
    assert_eq!(r.get("ODD_SERVICE_HOST"), Some("none"));
    assert_eq!(r.get("NP_SERVICE_PORT"), Some("82"));
}

#[test]
fn ipv6_is_bracketed_only_in_urls() {
    let s = svc("ns", "v6", "fd00::10", vec![port("dns", 53, "UDP")]);
    let r = service_env(&[s], "ns", true);
    assert_eq!(r.get("V6_SERVICE_HOST"), Some("fd00::10"));
    assert_eq!(r.get("V6_PORT"), Some("udp://[fd00::10]:53"));
    assert_eq!(r.get("V6_PORT_53_UDP"), Some("udp://[fd00::10]:53"));
    assert_eq!(r.get("V6_PORT_53_UDP_ADDR"), Some("fd00::10"));
    assert_eq!(r.get("V6_SERVICE_PORT_DNS"), Some("53"));
}

#[test]
fn other_namespaces_and_links_off() {
    let list = vec![
        svc(
            "default",
            "kubernetes",
            "10.0.0.1",
            vec![port("https", 443, "TCP")],
        ),
        svc("default", "web", "10.0.0.5", vec![port("", 80, "TCP")]),
        svc("other", "db", "10.0.0.6", vec![port("", 5432, "TCP")]),
        svc("ns", "mine", "10.0.0.7", vec![port("", 1, "TCP")]),
    ];
    let on = service_env(&list, "ns", true);
    assert!(on.get("MINE_SERVICE_HOST").is_some());
    assert!(on.get("WEB_SERVICE_HOST").is_none());
    assert!(on.get("DB_SERVICE_HOST").is_none());
    let off = service_env(&list, "ns", false);
    assert!(off.vars.iter().all(|v| v.name.starts_with("KUBERNETES_")));
    assert_eq!(off.get("KUBERNETES_SERVICE_HOST"), Some("10.0.0.1"));
    // a pod in default with links off: still only KUBERNETES_*
    let def = service_env(&list, "default", false);
    assert!(def.vars.iter().all(|v| v.name.starts_with("KUBERNETES_")));
    assert!(service_env(&list, "default", true)
        .get("WEB_PORT")
        .is_some());
}

#[test]
fn local_kubernetes_replaces_default_in_either_order() {
    let master = svc(
        "default",
        "kubernetes",
        "10.0.0.1",
        vec![port("", 443, "TCP")],
    );
    let local = svc("ns", "kubernetes", "10.9.9.9", vec![port("", 6443, "TCP")]);
    for list in [
        vec![master.clone(), local.clone()],
        vec![local.clone(), master.clone()],
    ] {
        let on = service_env(&list, "ns", true);
        assert_eq!(on.get("KUBERNETES_SERVICE_HOST"), Some("10.9.9.9"));
        assert!(on.collisions.is_empty());
        let off = service_env(&list, "ns", false);
        assert_eq!(off.get("KUBERNETES_SERVICE_HOST"), Some("10.0.0.1"));
    }
    // a `kubernetes` service outside default and the pod namespace is ignored
    let r = service_env(&[local], "elsewhere", true);
    assert!(r.vars.is_empty());
}

#[test]
fn collision_between_a_and_a_service_is_reported() {
    let list = vec![
        svc("ns", "a-service", "10.0.0.2", vec![port("", 80, "TCP")]),
        svc("ns", "a", "10.0.0.1", vec![port("", 443, "TCP")]),
    ];
    let r = service_env(&list, "ns", true);
    let names: Vec<&str> = r.collisions.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["A_SERVICE_PORT"]);
    let c = &r.collisions[0];
    assert_eq!(c.candidates.len(), 2);
    assert_eq!(c.candidates[0].0.to_string(), "ns/a");
    assert_eq!(c.candidates[0].1, "443");
    assert_eq!(c.candidates[1].0.to_string(), "ns/a-service");
    assert_eq!(c.candidates[1].1, "tcp://10.0.0.2:80");
    // the value printed is the first candidate's
    assert_eq!(r.get("A_SERVICE_PORT"), Some("443"));
}

#[test]
fn same_value_from_two_services_is_not_a_collision() {
    // c's port named `80-tcp-port` gives C_SERVICE_PORT_80_TCP_PORT = 80, and so does
    // c-service's port 80/TCP (its `_PORT_80_TCP_PORT`): same name, same value.
    let list = vec![
        svc("ns", "c", "10.0.0.1", vec![port("80-tcp-port", 80, "TCP")]),
        svc("ns", "c-service", "10.0.0.2", vec![port("", 80, "TCP")]),
    ];
    let r = service_env(&list, "ns", true);
    assert_eq!(r.get("C_SERVICE_PORT_80_TCP_PORT"), Some("80"));
    assert!(r
        .collisions
        .iter()
        .all(|c| c.name != "C_SERVICE_PORT_80_TCP_PORT"));
    // C_SERVICE_PORT is c's "80" but c-service's "tcp://10.0.0.2:80": a collision
    assert!(r.collisions.iter().any(|c| c.name == "C_SERVICE_PORT"));
}

#[test]
fn zero_port_service_is_skipped_and_reported() {
    let list = vec![
        svc("ns", "broken", "10.0.0.1", vec![]),
        svc("ns", "ok", "10.0.0.2", vec![port("", 1, "TCP")]),
        // not selected, so not reported
        svc("other", "broken2", "10.0.0.3", vec![]),
    ];
    let r = service_env(&list, "ns", true);
    assert_eq!(r.skipped.len(), 1);
    assert_eq!(r.skipped[0].service.to_string(), "ns/broken");
    assert_eq!(r.skipped[0].reason, SkipReason::NoPorts);
    assert!(r.vars.iter().all(|v| v.name.starts_with("OK_")));
}

#[test]
fn duplicate_service_in_input_last_one_wins() {
    let list = vec![
        svc("ns", "d", "10.0.0.1", vec![port("", 1, "TCP")]),
        svc("ns", "d", "10.0.0.2", vec![port("", 1, "TCP")]),
    ];
    assert_eq!(
        service_env(&list, "ns", true).get("D_SERVICE_HOST"),
        Some("10.0.0.2")
    );
}

#[test]
fn duplicate_port_name_within_one_service_keeps_last_and_is_reported() {
    let s = svc(
        "ns",
        "e",
        "10.0.0.1",
        vec![port("x", 1, "TCP"), port("x", 2, "UDP")],
    );
    let r = service_env(&[s], "ns", true);
    assert_eq!(r.get("E_SERVICE_PORT_X"), Some("2"));
    assert_eq!(r.collisions.len(), 1);
    assert_eq!(r.collisions[0].candidates[0].1, "2");
}

#[test]
fn names_map_dash_only() {
    assert_eq!(env_var_name("my-svc-1"), "MY_SVC_1");
    assert_eq!(env_var_name("a.b"), "A.B");
    assert_eq!(env_var_name("8083"), "8083");
}

fn lit(name: &str, v: &str) -> ContainerEnvVar {
    ContainerEnvVar {
        name: name.into(),
        value: EnvValue::Literal(v.into()),
    }
}

#[test]
fn merge_order_and_override() {
    let svc_vars = vec![
        EnvVar::new("A_SERVICE_HOST", "10.0.0.1"),
        EnvVar::new("A_SERVICE_PORT", "80"),
    ];
    let c = ContainerEnv {
        env_from: vec![EnvVar::new("FROM_CM", "cm"), EnvVar::new("Z", "cm-z")],
        env: vec![
            lit("Z", "$(FROM_CM)-$(A_SERVICE_PORT)"),
            lit("A_SERVICE_HOST", ""),
        ],
    };
    let got = merge_container_env(&svc_vars, &c);
    assert_eq!(
        got,
        vec![
            EnvVar::new("FROM_CM", "cm"),
            EnvVar::new("Z", "cm-80"),
            EnvVar::new("A_SERVICE_HOST", ""),
            EnvVar::new("A_SERVICE_PORT", "80"),
        ]
    );
}

#[test]
fn earlier_container_var_hides_service_var_during_expansion() {
    let svc_vars = vec![EnvVar::new("A_SERVICE_PORT", "80")];
    let c = ContainerEnv {
        env_from: vec![],
        env: vec![
            lit("USE_BEFORE", "$(A_SERVICE_PORT)"),
            lit("A_SERVICE_PORT", "9999"),
            lit("USE_AFTER", "$(A_SERVICE_PORT)"),
        ],
    };
    let got = merge_container_env(&svc_vars, &c);
    let get = |n: &str| got.iter().find(|v| v.name == n).map(|v| v.value.as_str());
    assert_eq!(get("USE_BEFORE"), Some("80"));
    assert_eq!(get("USE_AFTER"), Some("9999"));
    assert_eq!(get("A_SERVICE_PORT"), Some("9999"));
}

#[test]
fn unresolved_value_from_hides_service_var_and_stays_literal() {
    let svc_vars = vec![EnvVar::new("A_SERVICE_HOST", "10.0.0.1")];
    let c = ContainerEnv {
        env_from: vec![],
        env: vec![
            ContainerEnvVar {
                name: "A_SERVICE_HOST".into(),
                value: EnvValue::Unresolved,
            },
            lit("REF", "$(A_SERVICE_HOST)"),
            ContainerEnvVar {
                name: "RES".into(),
                value: EnvValue::Resolved("$(REF)".into()),
            },
        ],
    };
    let got = merge_container_env(&svc_vars, &c);
    assert_eq!(
        got,
        vec![
            EnvVar::new("REF", "$(A_SERVICE_HOST)"),
            EnvVar::new("RES", "$(REF)"),
        ]
    );
}

#[test]
fn expand_handles_multibyte_text() {
    let got = expand("é$(X)ü$é$$(X)", |n| (n == "X").then_some("ẋ"));
    assert_eq!(got, "éẋü$é$(X)");
}
