//! The upstream Kubernetes test tables, ported: `pkg/kubelet/envvars/envvars_test.go`
//! (`TestFromServices`), the service cases of `pkg/kubelet/kubelet_pods_test.go`
//! (`TestMakeEnvironmentVariables`) and `third_party/forked/golang/expansion/expand_test.go`.
use std::collections::HashMap;

use kdns::envvars::{
    expand, merge_container_env, service_env, service_vars, ContainerEnv, ContainerEnvVar,
    EnvValue, EnvVar, Service, ServicePort,
};

fn port(name: &str, port: i32, protocol: &str) -> ServicePort {
    ServicePort {
        name: name.into(),
        port,
        protocol: protocol.into(),
    }
}

fn svc(namespace: &str, name: &str, ip: &str, ports: Vec<ServicePort>) -> Service {
    Service {
        namespace: namespace.into(),
        name: name.into(),
        cluster_ip: ip.into(),
        ports,
    }
}

fn vars(pairs: &[(&str, &str)]) -> Vec<EnvVar> {
    pairs.iter().map(|(n, v)| EnvVar::new(*n, *v)).collect()
}

/// `envvars.FromServices` over a list: each service's variables, in list order.
fn from_services(list: &[Service]) -> Vec<EnvVar> {
    list.iter()
        .flat_map(|s| service_vars(s).expect("upstream services have ports"))
        .collect()
}

#[test]
fn from_services_upstream_table() {
    let sl = vec![
        svc("", "foo-bar", "1.2.3.4", vec![port("", 8080, "TCP")]),
        svc(
            "",
            "abc-123",
            "5.6.7.8",
            vec![port("u-d-p", 8081, "UDP"), port("t-c-p", 8081, "TCP")],
        ),
        svc(
            "",
            "q-u-u-x",
            "9.8.7.6",
            vec![port("", 8082, "TCP"), port("8083", 8083, "TCP")],
        ),
        svc(
            "",
            "svrc-clusterip-none",
            "None",
            vec![port("", 8082, "TCP")],
        ),
        svc("", "svrc-clusterip-empty", "", vec![port("", 8082, "TCP")]),
        svc(
            "",
            "super-ipv6",
            "2001:DB8::",
            vec![port("u-d-p", 8084, "UDP"), port("t-c-p", 8084, "TCP")],
        ),
        svc("", "sctp-1", "1.2.3.4", vec![port("", 777, "SCTP")]),
    ];
    let expected = vars(&[
        ("FOO_BAR_SERVICE_HOST", "1.2.3.4"),
        ("FOO_BAR_SERVICE_PORT", "8080"),
        ("FOO_BAR_PORT", "tcp://1.2.3.4:8080"),
        ("FOO_BAR_PORT_8080_TCP", "tcp://1.2.3.4:8080"),
        ("FOO_BAR_PORT_8080_TCP_PROTO", "tcp"),
        ("FOO_BAR_PORT_8080_TCP_PORT", "8080"),
        ("FOO_BAR_PORT_8080_TCP_ADDR", "1.2.3.4"),
        ("ABC_123_SERVICE_HOST", "5.6.7.8"),
        ("ABC_123_SERVICE_PORT", "8081"),
        ("ABC_123_SERVICE_PORT_U_D_P", "8081"),
        ("ABC_123_SERVICE_PORT_T_C_P", "8081"),
        ("ABC_123_PORT", "udp://5.6.7.8:8081"),
        ("ABC_123_PORT_8081_UDP", "udp://5.6.7.8:8081"),
        ("ABC_123_PORT_8081_UDP_PROTO", "udp"),
        ("ABC_123_PORT_8081_UDP_PORT", "8081"),
        ("ABC_123_PORT_8081_UDP_ADDR", "5.6.7.8"),
        ("ABC_123_PORT_8081_TCP", "tcp://5.6.7.8:8081"),
        ("ABC_123_PORT_8081_TCP_PROTO", "tcp"),
        ("ABC_123_PORT_8081_TCP_PORT", "8081"),
        ("ABC_123_PORT_8081_TCP_ADDR", "5.6.7.8"),
        ("Q_U_U_X_SERVICE_HOST", "9.8.7.6"),
        ("Q_U_U_X_SERVICE_PORT", "8082"),
        ("Q_U_U_X_SERVICE_PORT_8083", "8083"),
        ("Q_U_U_X_PORT", "tcp://9.8.7.6:8082"),
        ("Q_U_U_X_PORT_8082_TCP", "tcp://9.8.7.6:8082"),
        ("Q_U_U_X_PORT_8082_TCP_PROTO", "tcp"),
        ("Q_U_U_X_PORT_8082_TCP_PORT", "8082"),
        ("Q_U_U_X_PORT_8082_TCP_ADDR", "9.8.7.6"),
        ("Q_U_U_X_PORT_8083_TCP", "tcp://9.8.7.6:8083"),
        ("Q_U_U_X_PORT_8083_TCP_PROTO", "tcp"),
        ("Q_U_U_X_PORT_8083_TCP_PORT", "8083"),
        ("Q_U_U_X_PORT_8083_TCP_ADDR", "9.8.7.6"),
        ("SUPER_IPV6_SERVICE_HOST", "2001:DB8::"),
        ("SUPER_IPV6_SERVICE_PORT", "8084"),
        ("SUPER_IPV6_SERVICE_PORT_U_D_P", "8084"),
        ("SUPER_IPV6_SERVICE_PORT_T_C_P", "8084"),
        ("SUPER_IPV6_PORT", "udp://[2001:DB8::]:8084"),
        ("SUPER_IPV6_PORT_8084_UDP", "udp://[2001:DB8::]:8084"),
        ("SUPER_IPV6_PORT_8084_UDP_PROTO", "udp"),
        ("SUPER_IPV6_PORT_8084_UDP_PORT", "8084"),
        ("SUPER_IPV6_PORT_8084_UDP_ADDR", "2001:DB8::"),
        ("SUPER_IPV6_PORT_8084_TCP", "tcp://[2001:DB8::]:8084"),
        ("SUPER_IPV6_PORT_8084_TCP_PROTO", "tcp"),
        ("SUPER_IPV6_PORT_8084_TCP_PORT", "8084"),
        ("SUPER_IPV6_PORT_8084_TCP_ADDR", "2001:DB8::"),
        ("SCTP_1_SERVICE_HOST", "1.2.3.4"),
        ("SCTP_1_SERVICE_PORT", "777"),
        ("SCTP_1_PORT", "sctp://1.2.3.4:777"),
        ("SCTP_1_PORT_777_SCTP", "sctp://1.2.3.4:777"),
        ("SCTP_1_PORT_777_SCTP_PROTO", "sctp"),
        ("SCTP_1_PORT_777_SCTP_PORT", "777"),
        ("SCTP_1_PORT_777_SCTP_ADDR", "1.2.3.4"),
    ]);
    // upstream compares in emission order
    assert_eq!(from_services(&sl), expected);
}

/// `buildService` of kubelet_pods_test.go: one unnamed port.
fn build(name: &str, ns: &str, ip: &str, proto: &str, p: i32) -> Service {
    svc(ns, name, ip, vec![port("", p, proto)])
}

fn make_env_services() -> Vec<Service> {
    vec![
        build("kubernetes", "default", "1.2.3.1", "TCP", 8081),
        build("test", "test1", "1.2.3.3", "TCP", 8083),
        build("kubernetes", "test2", "1.2.3.4", "TCP", 8084),
        build("test", "test2", "1.2.3.5", "TCP", 8085),
        build("test", "test2", "None", "TCP", 8085),
        build("test", "test2", "", "TCP", 8085),
        build("not-special", "default", "1.2.3.8", "TCP", 8088),
        build("not-special", "default", "None", "TCP", 8088),
        build("not-special", "default", "", "TCP", 8088),
    ]
}

/// The seven variables of a one-port TCP service.
fn block(prefix: &str, ip: &str, p: i32) -> Vec<(String, String)> {
    let url = format!("tcp://{ip}:{p}");
    let q = format!("{prefix}_PORT_{p}_TCP");
    vec![
        (format!("{prefix}_SERVICE_HOST"), ip.to_string()),
        (format!("{prefix}_SERVICE_PORT"), p.to_string()),
        (format!("{prefix}_PORT"), url.clone()),
        (q.clone(), url),
        (format!("{q}_PROTO"), "tcp".into()),
        (format!("{q}_PORT"), p.to_string()),
        (format!("{q}_ADDR"), ip.to_string()),
    ]
}

fn lit(name: &str, value: &str) -> ContainerEnvVar {
    ContainerEnvVar {
        name: name.into(),
        value: EnvValue::Literal(value.into()),
    }
}

/// The kubelet's `makeEnvironmentVariables` for a container in `ns`; `services` = None stands
/// for the standalone kubelet (no service lister).
fn make_env(
    services: Option<&[Service]>,
    ns: &str,
    links: bool,
    env: Vec<ContainerEnvVar>,
) -> Vec<(String, String)> {
    let svc_vars = match services {
        Some(list) => {
            let r = service_env(list, ns, links);
            assert!(r.collisions.is_empty() && r.skipped.is_empty());
            r.vars
        }
        None => Vec::new(),
    };
    let container = ContainerEnv {
        env_from: Vec::new(),
        env,
    };
    let mut out: Vec<(String, String)> = merge_container_env(&svc_vars, &container)
        .into_iter()
        .map(|v| (v.name, v.value))
        .collect();
    out.sort();
    out
}

fn sorted(mut v: Vec<(String, String)>) -> Vec<(String, String)> {
    v.sort();
    v
}

fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(n, v)| (n.to_string(), v.to_string()))
        .collect()
}

#[test]
fn make_env_container_vars_win_and_links_off() {
    // "api server = Y, kubelet = Y": the container repeats the test service's variables itself
    let s = make_env_services();
    let test1 = block("TEST", "1.2.3.3", 8083);
    let mut env = vec![lit("FOO", "BAR")];
    env.extend(test1.iter().map(|(n, v)| lit(n, v)));
    let mut want = owned(&[("FOO", "BAR")]);
    want.extend(test1.clone());
    want.extend(block("KUBERNETES", "1.2.3.1", 8081));
    assert_eq!(
        make_env(Some(&s), "test1", false, env.clone()),
        sorted(want)
    );

    // "api server = Y, kubelet = N": no lister, so not even KUBERNETES_*
    let mut want = owned(&[("FOO", "BAR")]);
    want.extend(test1);
    assert_eq!(make_env(None, "test1", false, env), sorted(want));
}

#[test]
fn make_env_links_off_and_on() {
    let s = make_env_services();
    // "api server = N; kubelet = Y"
    let mut want = owned(&[("FOO", "BAZ")]);
    want.extend(block("KUBERNETES", "1.2.3.1", 8081));
    let got = make_env(Some(&s), "test1", false, vec![lit("FOO", "BAZ")]);
    assert_eq!(got, sorted(want.clone()));
    // "api server = N; kubelet = Y; service env vars"
    want.extend(block("TEST", "1.2.3.3", 8083));
    let got = make_env(Some(&s), "test1", true, vec![lit("FOO", "BAZ")]);
    assert_eq!(got, sorted(want));
}

#[test]
fn make_env_master_service_in_pod_namespace() {
    let s = make_env_services();
    // "master service in pod ns": links off, so default/kubernetes
    let mut want = owned(&[("FOO", "ZAP")]);
    want.extend(block("KUBERNETES", "1.2.3.1", 8081));
    let got = make_env(Some(&s), "test2", false, vec![lit("FOO", "ZAP")]);
    assert_eq!(got, sorted(want));
    // "master service in pod ns, service env vars": test2/kubernetes wins
    let mut want = owned(&[("FOO", "ZAP")]);
    want.extend(block("TEST", "1.2.3.5", 8085));
    want.extend(block("KUBERNETES", "1.2.3.4", 8084));
    let got = make_env(Some(&s), "test2", true, vec![lit("FOO", "ZAP")]);
    assert_eq!(got, sorted(want));
}

#[test]
fn make_env_pod_in_master_service_namespace() {
    let s = make_env_services();
    // "pod in master service ns"
    let want = block("KUBERNETES", "1.2.3.1", 8081);
    assert_eq!(make_env(Some(&s), "default", false, vec![]), sorted(want));
    // "pod in master service ns, service env vars"
    let mut want = block("NOT_SPECIAL", "1.2.3.8", 8088);
    want.extend(block("KUBERNETES", "1.2.3.1", 8081));
    assert_eq!(make_env(Some(&s), "default", true, vec![]), sorted(want));
}

/// The container of the "env expansion" cases; POD_NAME is a downward-API `valueFrom`.
fn expansion_container(with_service_ref: bool) -> Vec<ContainerEnvVar> {
    let mut env = vec![
        lit("TEST_LITERAL", "test-test-test"),
        ContainerEnvVar {
            name: "POD_NAME".into(),
            value: EnvValue::Resolved("dapi-test-pod-name".into()),
        },
        lit("OUT_OF_ORDER_TEST", "$(OUT_OF_ORDER_TARGET)"),
        lit("OUT_OF_ORDER_TARGET", "FOO"),
        lit("EMPTY_VAR", ""),
        lit("EMPTY_TEST", "foo-$(EMPTY_VAR)"),
        lit("POD_NAME_TEST2", "test2-$(POD_NAME)"),
        lit("POD_NAME_TEST3", "$(POD_NAME_TEST2)-3"),
        lit("LITERAL_TEST", "literal-$(TEST_LITERAL)"),
    ];
    if with_service_ref {
        env.push(lit(
            "SERVICE_VAR_TEST",
            "$(TEST_SERVICE_HOST):$(TEST_SERVICE_PORT)",
        ));
    }
    env.push(lit("TEST_UNDEFINED", "$(UNDEFINED_VAR)"));
    env
}

fn expansion_expected() -> Vec<(String, String)> {
    owned(&[
        ("TEST_LITERAL", "test-test-test"),
        ("POD_NAME", "dapi-test-pod-name"),
        ("POD_NAME_TEST2", "test2-dapi-test-pod-name"),
        ("POD_NAME_TEST3", "test2-dapi-test-pod-name-3"),
        ("LITERAL_TEST", "literal-test-test-test"),
        ("OUT_OF_ORDER_TEST", "$(OUT_OF_ORDER_TARGET)"),
        ("OUT_OF_ORDER_TARGET", "FOO"),
        ("TEST_UNDEFINED", "$(UNDEFINED_VAR)"),
        ("EMPTY_VAR", ""),
        ("EMPTY_TEST", "foo-"),
    ])
}

#[test]
fn make_env_expansion() {
    let s = make_env_services();
    // "env expansion"
    let mut want = expansion_expected();
    want.extend(block("KUBERNETES", "1.2.3.1", 8081));
    let got = make_env(Some(&s), "test1", false, expansion_container(false));
    assert_eq!(got, sorted(want));
    // "env expansion, service env vars"
    let mut want = expansion_expected();
    want.extend(block("TEST", "1.2.3.3", 8083));
    want.push(("SERVICE_VAR_TEST".into(), "1.2.3.3:8083".into()));
    want.extend(block("KUBERNETES", "1.2.3.1", 8081));
    let got = make_env(Some(&s), "test1", true, expansion_container(true));
    assert_eq!(got, sorted(want));
}

#[test]
fn expansion_of_a_service_var_with_links_off_stays_literal() {
    // Not an upstream row, but the same fixture: with links off TEST_SERVICE_HOST is not in the
    // service map, while KUBERNETES_SERVICE_HOST always is.
    let s = make_env_services();
    let got = make_env(
        Some(&s),
        "test1",
        false,
        vec![lit("X", "$(TEST_SERVICE_HOST)/$(KUBERNETES_SERVICE_HOST)")],
    );
    let x = got.iter().find(|(n, _)| n == "X").unwrap();
    assert_eq!(x.1, "$(TEST_SERVICE_HOST)/1.2.3.1");
}

#[test]
fn map_reference() {
    // TestMapReference: each entry sees the expanded values of the earlier ones
    let env = vec![
        lit("FOO", "bar"),
        lit("ZOO", "$(FOO)-1"),
        lit("BLU", "$(ZOO)-2"),
    ];
    let got = merge_container_env(
        &[],
        &ContainerEnv {
            env_from: vec![],
            env,
        },
    );
    assert_eq!(
        got,
        vars(&[("FOO", "bar"), ("ZOO", "bar-1"), ("BLU", "bar-1-2")])
    );
}

/// doExpansionTest of expand_test.go: (name, input, expected).
const EXPANSION_CASES: &[(&str, &str, &str)] = &[
    ("whole string", "$(VAR_A)", "A"),
    ("repeat", "$(VAR_A)-$(VAR_A)", "A-A"),
    ("beginning", "$(VAR_A)-1", "A-1"),
    ("middle", "___$(VAR_B)___", "___B___"),
    ("end", "___$(VAR_C)", "___C"),
    ("compound", "$(VAR_A)_$(VAR_B)_$(VAR_C)", "A_B_C"),
    ("escape & expand", "$$(VAR_B)_$(VAR_A)", "$(VAR_B)_A"),
    (
        "compound escape",
        "$$(VAR_A)_$$(VAR_B)",
        "$(VAR_A)_$(VAR_B)",
    ),
    ("mixed in escapes", "f000-$$VAR_A", "f000-$VAR_A"),
    ("backslash escape ignored", "foo\\$(VAR_C)bar", "foo\\Cbar"),
    (
        "backslash escape ignored",
        "foo\\\\$(VAR_C)bar",
        "foo\\\\Cbar",
    ),
    (
        "lots of backslashes",
        "foo\\\\\\\\$(VAR_A)bar",
        "foo\\\\\\\\Abar",
    ),
    (
        "nested var references",
        "$(VAR_A$(VAR_B))",
        "$(VAR_A$(VAR_B))",
    ),
    (
        "nested var references second type",
        "$(VAR_A$(VAR_B)",
        "$(VAR_A$(VAR_B)",
    ),
    ("value is a reference", "$(VAR_REF)", "$(VAR_A)"),
    (
        "value is a reference x 2",
        "%%$(VAR_REF)--$(VAR_REF)%%",
        "%%$(VAR_A)--$(VAR_A)%%",
    ),
    ("empty var", "foo$(VAR_EMPTY)bar", "foobar"),
    (
        "unterminated expression",
        "foo$(VAR_Awhoops!",
        "foo$(VAR_Awhoops!",
    ),
    (
        "expression without operator",
        "f00__(VAR_A)__",
        "f00__(VAR_A)__",
    ),
    ("shell special vars pass through", "$?_boo_$!", "$?_boo_$!"),
    ("bare operators are ignored", "$VAR_A", "$VAR_A"),
    (
        "undefined vars are passed through",
        "$(VAR_DNE)",
        "$(VAR_DNE)",
    ),
    (
        "multiple (even) operators, var undefined",
        "$$$$$$(BIG_MONEY)",
        "$$$(BIG_MONEY)",
    ),
    (
        "multiple (even) operators, var defined",
        "$$$$$$(VAR_A)",
        "$$$(VAR_A)",
    ),
    (
        "multiple (odd) operators, var undefined",
        "$$$$$$$(GOOD_ODDS)",
        "$$$$(GOOD_ODDS)",
    ),
    (
        "multiple (odd) operators, var defined",
        "$$$$$$$(VAR_A)",
        "$$$A",
    ),
    ("missing open expression", "$VAR_A)", "$VAR_A)"),
    ("shell syntax ignored", "${VAR_A}", "${VAR_A}"),
    (
        "trailing incomplete expression not consumed",
        "$(VAR_B)_______$(A",
        "B_______$(A",
    ),
    (
        "trailing incomplete expression, no content, is not consumed",
        "$(VAR_C)_______$(",
        "C_______$(",
    ),
    (
        "operator at end of input string is preserved",
        "$(VAR_A)foobarzab$",
        "Afoobarzab$",
    ),
    (
        "shell escaped incomplete expr",
        "foo-\\$(VAR_A",
        "foo-\\$(VAR_A",
    ),
    ("lots of $( in middle", "--$($($($($--", "--$($($($($--"),
    (
        "lots of $( in beginning",
        "$($($($($--foo$(",
        "$($($($($--foo$(",
    ),
    ("lots of $( at end", "foo0--$($($($(", "foo0--$($($($("),
    (
        "escaped operators in variable names are not escaped",
        "$(foo$$var)",
        "$(foo$$var)",
    ),
    ("newline not expanded", "\n", "\n"),
];

fn run_expansion_table(contexts: &[HashMap<&str, &str>]) {
    let mut failures = Vec::new();
    for (name, input, want) in EXPANSION_CASES {
        let got = expand(input, |n| contexts.iter().find_map(|c| c.get(n).copied()));
        if got != *want {
            failures.push(format!("{name}: {input:?} gave {got:?}, want {want:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn expansion_table_single_context() {
    // TestMapping
    let ctx = HashMap::from([
        ("VAR_A", "A"),
        ("VAR_B", "B"),
        ("VAR_C", "C"),
        ("VAR_REF", "$(VAR_A)"),
        ("VAR_EMPTY", ""),
    ]);
    run_expansion_table(&[ctx]);
}

#[test]
fn expansion_table_two_contexts() {
    // TestMappingDual
    let a = HashMap::from([("VAR_A", "A"), ("VAR_EMPTY", "")]);
    let b = HashMap::from([("VAR_B", "B"), ("VAR_C", "C"), ("VAR_REF", "$(VAR_A)")]);
    run_expansion_table(&[a, b]);
}
