//! Unit tests of the name helpers.
use super::*;

#[test]
fn dashed() {
    assert_eq!(dashed_ip(&"10.0.0.1".parse().unwrap()), "10-0-0-1");
    assert_eq!(dashed_ip(&"2001:db8::1".parse().unwrap()), "2001-db8--1");
    assert_eq!(dashed_ip(&"fd00::".parse().unwrap()), "fd00--0");
    assert_eq!(
        parse_dashed_ip("10-0-0-1"),
        Some("10.0.0.1".parse().unwrap())
    );
    assert_eq!(
        parse_dashed_ip("2001-db8--1"),
        Some("2001:db8::1".parse().unwrap())
    );
    assert_eq!(parse_dashed_ip("1-2-3"), None);
    assert_eq!(parse_dashed_ip("svc1"), None);
}

#[test]
fn reverse_roundtrip() {
    for ip in ["10.0.0.1", "192.0.2.255", "2001:db8::1", "fd00:10:96::a"] {
        let ip: IpAddr = ip.parse().unwrap();
        assert_eq!(ip_from_reverse(&reverse_name(&ip)), Some(ip));
    }
    assert_eq!(ip_from_reverse("0.10.in-addr.arpa."), None);
    assert_eq!(ip_from_reverse("1.0.0.010.in-addr.arpa."), None);
    assert_eq!(ip_from_reverse("1.2.3.256.in-addr.arpa."), None);
    assert_eq!(ip_from_reverse("1.ip6.arpa."), None);
}

#[test]
fn zones() {
    assert_eq!(
        strip_zone("a.b.cluster.local.", "cluster.local."),
        Some("a.b")
    );
    assert_eq!(strip_zone("cluster.local.", "cluster.local."), Some(""));
    assert_eq!(strip_zone("xcluster.local.", "cluster.local."), None);
    assert_eq!(strip_zone("a.", "."), Some("a"));
}
