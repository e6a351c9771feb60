//! Unit tests of the question-name parser.
use super::*;

#[test]
fn parse() {
    let r = parse_request("_http._tcp.svc1.ns.svc", false, false).unwrap();
    assert_eq!(
        (r.port, r.protocol, r.service, r.namespace),
        ("http", "tcp", "svc1", "ns")
    );
    let r = parse_request("ep.svc1.ns.svc", false, false).unwrap();
    assert_eq!(r.endpoint, "ep");
    assert!(parse_request("a.b.c.svc1.ns.svc", false, false).is_err());
    assert!(parse_request("svc1.ns.foo", false, false).is_err());
    assert_eq!(parse_request("svc", false, false).unwrap().pod_or_svc, "");
    assert_eq!(
        parse_request("ns.svc", false, false).unwrap().namespace,
        "ns"
    );
    let r = parse_request("us-east.1a.prefer._zone.hdls.ns.svc", true, false).unwrap();
    assert_eq!(
        (r.topo_zone, r.zone_prefer, r.service),
        ("us-east.1a", true, "hdls")
    );
    assert!(parse_request("a.pin._zone.hdls.ns.svc", false, false).is_err());
    assert!(parse_request("a.keep._zone.hdls.ns.svc", true, false).is_err());
}

/// `multicluster` (parse.go case 4): two labels without `_` are ENDPOINT.CLUSTER; with an
/// `_` on either they stay `_PORT._PROTO`; zone-scoped names are not defined there.
#[test]
fn parse_multicluster() {
    // name → (endpoint, cluster, port, protocol)
    type Parts<'a> = (&'a str, &'a str, &'a str, &'a str);
    let table: &[(&str, Parts<'_>)] = &[
        ("web-0.east.svc1.ns.svc", ("web-0", "east", "", "")),
        ("_http._tcp.svc1.ns.svc", ("", "", "http", "tcp")),
        ("_http.tcp.svc1.ns.svc", ("", "", "http", "tcp")),
        ("http._tcp.svc1.ns.svc", ("", "", "http", "tcp")),
        ("east.svc1.ns.svc", ("east", "", "", "")),
    ];
    for (name, want) in table {
        let r = parse_request(name, false, true).unwrap();
        assert_eq!((r.endpoint, r.cluster, r.port, r.protocol), *want, "{name}");
        // Outside a multicluster zone the same two labels are always _PORT._PROTO.
        let plain = parse_request(name, false, false).unwrap();
        assert_eq!(plain.cluster, "", "{name}");
    }
    assert!(parse_request("a.pin._zone.hdls.ns.svc", true, true).is_err());
    assert!(parse_request("a.b.c.svc1.ns.svc", false, true).is_err());
}
