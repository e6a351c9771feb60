//! CoreDNS 1.14.7's own k8s_external test cases (plugin/k8s_external/external_test.go and
//! apex_test.go, every case), on objects made from the Go tests' fake API, compared as the Go
//! harness compares (plugin/test/helpers.go `SortAndCheck`).
use super::*;

/// The fake API of CoreDNS 1.14.7's plugin/k8s_external/external_test.go (`svcIndexExternal`,
/// `epIndexExternal`), as objects: `testns` with `svc1` (1.2.3.4), `svc6` (1:2::5), `svc11`
/// (2.3.4.5), `svc12` (the hostname `dummy.hostname`), all with port `http` 80/tcp, and the
/// headless `svc-headless` whose endpoints are `endpoint-svc-0` 1.2.3.4 and `endpoint-svc-1`
/// 1.2.3.5 (port `http` 80).
fn coredns_fake() -> Zone {
    let mut st = Store::new();
    st.apply(Change::UpsertNamespace(Namespace {
        name: Arc::from("testns"),
        labels: Vec::new(),
    }));
    let http = || vec![port("http", 80, "tcp")];
    let cip = |s: &str| ServiceKind::ClusterIp(vec![s.parse().unwrap()]);
    let ns = |c: Change| match c {
        Change::UpsertService(mut s) => {
            s.namespace = Arc::from("testns");
            Change::UpsertService(s)
        }
        c => c,
    };
    st.apply(ns(svc(
        "svc1",
        cip("10.0.0.1"),
        http(),
        vec![ip("1.2.3.4")],
    )));
    st.apply(ns(svc("svc6", cip("10.0.0.3"), http(), vec![ip("1:2::5")])));
    st.apply(ns(svc(
        "svc11",
        cip("10.0.0.3"),
        http(),
        vec![ip("2.3.4.5")],
    )));
    let host = vec![External::Name(Arc::from("dummy.hostname"))];
    st.apply(ns(svc("svc12", cip("10.0.0.3"), http(), host)));
    st.apply(ns(svc(
        "svc-headless",
        ServiceKind::Headless,
        http(),
        vec![],
    )));
    let ep = |addr: &str, name: &str| Endpoint {
        pod_name: Some(Arc::from(name)),
        ..endpoint(addr, Some(name))
    };
    st.apply(Change::UpsertSlice(Slice {
        namespace: Arc::from("testns"),
        name: Arc::from("svc-headless"),
        service: Arc::from("svc-headless"),
        ports: vec![port("http", 80, "TCP")],
        endpoints: vec![
            ep("1.2.3.4", "endpoint-svc-0"),
            ep("1.2.3.5", "endpoint-svc-1"),
        ],
    }));
    st.set_synced(true);
    (*st.snapshot()).clone()
}

/// A record as CoreDNS's test harness compares it (plugin/test/helpers.go): owner, TTL, type,
/// rdata; an SOA by its MNAME only. Lookups are left out: the Go tests run without a server
/// to ask (their upstream lookup fails and adds nothing).
fn harness(p: &Part) -> Option<String> {
    let Part::Record(r) = p else { return None };
    let text = record(r);
    Some(match &r.data {
        RData::Soa(s) => format!(
            "{} SOA {}",
            text.split(" SOA ").next().unwrap_or(""),
            s.mname
        ),
        _ => text,
    })
}

/// One Go case: the question, the rcode, and each section with whitespace folded (an SOA
/// written `OWNER TTL SOA MNAME`, as it is compared).
type GoCase = (
    &'static str,
    u16,
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
    &'static [&'static str],
);

fn run_go_cases(o: &ExternalOptions, cases: &[GoCase]) {
    let z = coredns_fake();
    let k = KubeOptions {
        namespaces: vec!["testns".into()],
        local_ips: vec!["127.0.0.1".parse().unwrap()],
        ..KubeOptions::default()
    };
    for (name, qt, rcode, answer, ns, extra) in cases {
        let ExternalOutcome::Reply(r) = serve(o, &k, &z, name, *qt) else {
            panic!("{name} {qt}: passed on");
        };
        let sorted = |parts: Vec<Option<String>>| {
            let mut v: Vec<String> = parts.into_iter().flatten().collect();
            v.sort();
            v
        };
        let want = |rs: &[&str]| {
            let mut v: Vec<String> = rs
                .iter()
                .map(|s| s.split_whitespace().collect::<Vec<_>>().join(" "))
                .collect();
            v.sort();
            v
        };
        let rc = format!(
            "{:?}",
            r.rcode.unwrap_or(crate::zone::record::Rcode::NoError)
        );
        let ns_got = r
            .authority
            .iter()
            .map(|a| harness(&Part::Record(a.clone())))
            .collect();
        assert_eq!(rc, *rcode, "{name} {qt}");
        assert_eq!(
            sorted(r.answer.iter().map(harness).collect()),
            want(answer),
            "{name} {qt} answer"
        );
        assert_eq!(sorted(ns_got), want(ns), "{name} {qt} authority");
        assert_eq!(
            sorted(r.additional.iter().map(harness).collect()),
            want(extra),
            "{name} {qt} additional"
        );
    }
}

const SOA: &[&str] = &["example.com. 5 SOA ns1.dns.example.com."];

/// CoreDNS 1.14.7's `TestExternal` (plugin/k8s_external/external_test.go, `tests`), every case:
/// zones `example.com.` and `in-addr.arpa.`, `headless`, `namespaces testns`.
#[test]
fn coredns_external_test_cases() {
    use qtype::{A, AAAA, PTR, SOA as S, SRV};
    let o = ExternalOptions {
        zones: vec!["example.com.".into(), "in-addr.arpa.".into()],
        headless: true,
        ..ExternalOptions::default()
    };
    let cases: &[GoCase] = &[
        (
            "4.3.2.1.in-addr.arpa.",
            PTR,
            "NoError",
            &["@ 5 PTR svc1.testns.example.com."],
            &[],
            &[],
        ),
        ("svc1.testns.example.com.", PTR, "NoError", &[], SOA, &[]),
        (
            "not-existing.testns.example.com.",
            PTR,
            "NxDomain",
            &[],
            SOA,
            &[],
        ),
        (
            "svc1.testns.example.com.",
            A,
            "NoError",
            &["@ 5 A 1.2.3.4"],
            &[],
            &[],
        ),
        (
            "svc1.testns.example.com.",
            SRV,
            "NoError",
            &["@ 5 SRV 0 100 80 svc1.testns.example.com."],
            &[],
            &["svc1.testns.example.com. 5 A 1.2.3.4"],
        ),
        (
            "*._not-udp-or-tcp.svc1.testns.example.com.",
            SRV,
            "NxDomain",
            &[],
            SOA,
            &[],
        ),
        (
            "_http._tcp.svc1.testns.example.com.",
            SRV,
            "NoError",
            &["@ 5 SRV 0 100 80 svc1.testns.example.com."],
            &[],
            &["svc1.testns.example.com. 5 A 1.2.3.4"],
        ),
        ("svc1.testns.example.com.", AAAA, "NoError", &[], SOA, &[]),
        ("svc0.testns.example.com.", AAAA, "NxDomain", &[], SOA, &[]),
        ("svc0.testns.example.com.", A, "NxDomain", &[], SOA, &[]),
        ("svc0.svc-nons.example.com.", A, "NxDomain", &[], SOA, &[]),
        (
            "svc6.testns.example.com.",
            AAAA,
            "NoError",
            &["@ 5 AAAA 1:2::5"],
            &[],
            &[],
        ),
        (
            "_http._tcp.svc6.testns.example.com.",
            SRV,
            "NoError",
            &["@ 5 SRV 0 100 80 svc6.testns.example.com."],
            &[],
            &["svc6.testns.example.com. 5 AAAA 1:2::5"],
        ),
        (
            "svc6.testns.example.com.",
            SRV,
            "NoError",
            &["@ 5 SRV 0 100 80 svc6.testns.example.com."],
            &[],
            &["svc6.testns.example.com. 5 AAAA 1:2::5"],
        ),
        ("testns.example.com.", A, "NoError", &[], SOA, &[]),
        ("testns.example.com.", S, "NoError", &[], SOA, &[]),
        (
            "svc11.testns.example.com.",
            A,
            "NoError",
            &["@ 5 A 2.3.4.5"],
            &[],
            &[],
        ),
        (
            "_http._tcp.svc11.testns.example.com.",
            SRV,
            "NoError",
            &["@ 5 SRV 0 100 80 svc11.testns.example.com."],
            &[],
            &["svc11.testns.example.com. 5 A 2.3.4.5"],
        ),
        (
            "svc11.testns.example.com.",
            SRV,
            "NoError",
            &["@ 5 SRV 0 100 80 svc11.testns.example.com."],
            &[],
            &["svc11.testns.example.com. 5 A 2.3.4.5"],
        ),
        (
            "svc12.testns.example.com.",
            A,
            "NoError",
            &["@ 5 CNAME dummy.hostname."],
            &[],
            &[],
        ),
        (
            "_http._tcp.svc12.testns.example.com.",
            SRV,
            "NoError",
            &["@ 5 SRV 0 100 80 dummy.hostname."],
            &[],
            &[],
        ),
        (
            "svc12.testns.example.com.",
            SRV,
            "NoError",
            &["@ 5 SRV 0 100 80 dummy.hostname."],
            &[],
            &[],
        ),
        (
            "svc-headless.testns.example.com.",
            A,
            "NoError",
            &["@ 5 A 1.2.3.4", "@ 5 A 1.2.3.5"],
            &[],
            &[],
        ),
        (
            "svc-headless.testns.example.com.",
            SRV,
            "NoError",
            &[
                "@ 5 SRV 0 50 80 endpoint-svc-0.svc-headless.testns.example.com.",
                "@ 5 SRV 0 50 80 endpoint-svc-1.svc-headless.testns.example.com.",
            ],
            &[],
            &[
                "endpoint-svc-0.svc-headless.testns.example.com. 5 A 1.2.3.4",
                "endpoint-svc-1.svc-headless.testns.example.com. 5 A 1.2.3.5",
            ],
        ),
        (
            "_http._tcp.svc-headless.testns.example.com.",
            SRV,
            "NoError",
            &[
                "@ 5 SRV 0 50 80 endpoint-svc-0.svc-headless.testns.example.com.",
                "@ 5 SRV 0 50 80 endpoint-svc-1.svc-headless.testns.example.com.",
            ],
            &[],
            &[
                "endpoint-svc-0.svc-headless.testns.example.com. 5 A 1.2.3.4",
                "endpoint-svc-1.svc-headless.testns.example.com. 5 A 1.2.3.5",
            ],
        ),
        (
            "endpoint-svc-0.svc-headless.testns.example.com.",
            SRV,
            "NoError",
            &["@ 5 SRV 0 100 80 endpoint-svc-0.svc-headless.testns.example.com."],
            &[],
            &["endpoint-svc-0.svc-headless.testns.example.com. 5 A 1.2.3.4"],
        ),
        (
            "endpoint-svc-1.svc-headless.testns.example.com.",
            SRV,
            "NoError",
            &["@ 5 SRV 0 100 80 endpoint-svc-1.svc-headless.testns.example.com."],
            &[],
            &["endpoint-svc-1.svc-headless.testns.example.com. 5 A 1.2.3.5"],
        ),
        (
            "endpoint-svc-0.svc-headless.testns.example.com.",
            A,
            "NoError",
            &["@ 5 A 1.2.3.4"],
            &[],
            &[],
        ),
        (
            "endpoint-svc-1.svc-headless.testns.example.com.",
            A,
            "NoError",
            &["@ 5 A 1.2.3.5"],
            &[],
            &[],
        ),
    ];
    run_go_cases(&o, cases);
}

/// CoreDNS 1.14.7's `TestApex` (plugin/k8s_external/apex_test.go, `testsApex`), every case:
/// zone `example.com.`; the server's address is 127.0.0.1 (the test's `externalAddress`).
#[test]
fn coredns_apex_test_cases() {
    use qtype::{A, AAAA, NS, SOA as S, SRV};
    let o = ExternalOptions {
        zones: vec!["example.com.".into()],
        headless: true,
        ..ExternalOptions::default()
    };
    let cases: &[GoCase] = &[
        ("example.com.", S, "NoError", SOA, &[], &[]),
        (
            "example.com.",
            NS,
            "NoError",
            &["example.com. 5 NS ns1.dns.example.com."],
            &[],
            &["ns1.dns.example.com. 5 A 127.0.0.1"],
        ),
        ("example.com.", SRV, "NoError", &[], SOA, &[]),
        ("dns.example.com.", SRV, "NoError", &[], SOA, &[]),
        ("dns.example.com.", NS, "NoError", &[], SOA, &[]),
        ("ns1.dns.example.com.", SRV, "NoError", &[], SOA, &[]),
        ("ns1.dns.example.com.", NS, "NoError", &[], SOA, &[]),
        ("ns1.dns.example.com.", AAAA, "NoError", &[], SOA, &[]),
        (
            "ns1.dns.example.com.",
            A,
            "NoError",
            &["@ 5 A 127.0.0.1"],
            &[],
            &[],
        ),
    ];
    run_go_cases(&o, cases);
}
