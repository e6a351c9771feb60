//! Unit tests of the question-name parser.
use super::*;

#[test]
fn parse() {
    let r = parse_request("_http._tcp.svc1.ns.svc", false).unwrap();
    assert_eq!(
        (r.port, r.protocol, r.service, r.namespace),
        ("http", "tcp", "svc1", "ns")
    );
    let r = parse_request("ep.svc1.ns.svc", false).unwrap();
    assert_eq!(r.endpoint, "ep");
    assert!(parse_request("a.b.c.svc1.ns.svc", false).is_err());
    assert!(parse_request("svc1.ns.foo", false).is_err());
    assert_eq!(parse_request("svc", false).unwrap().pod_or_svc, "");
    assert_eq!(parse_request("ns.svc", false).unwrap().namespace, "ns");
    let r = parse_request("us-east.1a.prefer._zone.hdls.ns.svc", true).unwrap();
    assert_eq!(
        (r.topo_zone, r.zone_prefer, r.service),
        ("us-east.1a", true, "hdls")
    );
    assert!(parse_request("a.pin._zone.hdls.ns.svc", false).is_err());
    assert!(parse_request("a.keep._zone.hdls.ns.svc", true).is_err());
}
