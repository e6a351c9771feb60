//! The slim types against the JSON the API server sends and the full k8s-openapi types.
use super::*;

/// The slim types read the same fields as the full ones from real API JSON, and skip the
/// rest (managedFields' field trees, status, annotations).
#[test]
fn slim_decode_matches_full_types() {
    let svc = r#"{"apiVersion":"v1","kind":"Service","metadata":{"name":"web","namespace":"prod",
        "resourceVersion":"42","labels":{"app":"web"},"annotations":{"a":"b"},
        "creationTimestamp":"2026-01-02T03:04:05Z","managedFields":[{"manager":"kubectl",
        "operation":"Update","time":"2026-01-02T03:04:06Z","fieldsType":"FieldsV1",
        "fieldsV1":{"f:spec":{"f:ports":{}}}}]},"spec":{"type":"ClusterIP","clusterIP":"10.0.0.1",
        "clusterIPs":["10.0.0.1","fd00::1"],"ports":[{"name":"http","port":80,"protocol":"TCP",
        "targetPort":8080}],"selector":{"app":"web"},"sessionAffinity":"None"},"status":{"loadBalancer":{}}}"#;
    let slim: ServiceObj = serde_json::from_str(svc).unwrap();
    let full: core::Service = serde_json::from_str(svc).unwrap();
    let via: ServiceObj = (&full).into();
    let spec = slim.spec.as_ref().unwrap();
    assert_eq!(spec.cluster_ips, via.spec.as_ref().unwrap().cluster_ips);
    assert_eq!(spec.ports, via.spec.as_ref().unwrap().ports);
    assert_eq!(spec.selector, via.spec.as_ref().unwrap().selector);
    assert_eq!(slim.metadata.name.as_deref(), Some("web"));
    assert_eq!(slim.metadata.resource_version.as_deref(), Some("42"));
    assert!(slim.metadata.annotations.is_none());
    let mf = slim.metadata.managed_fields.as_ref().unwrap();
    assert_eq!(mf.len(), 1);
    assert!(mf[0].fields_v1.is_none());
    assert_eq!(mf[0].time, full.metadata.managed_fields.unwrap()[0].time);

    let slice = r#"{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{
        "name":"web-abc","namespace":"prod","labels":{"kubernetes.io/service-name":"web"}},
        "addressType":"IPv4","endpoints":[{"addresses":["10.1.0.1"],"conditions":{"ready":false,
        "serving":true},"hostname":"h","targetRef":{"kind":"Pod","name":"web-0","namespace":"prod"},
        "zone":"z1","nodeName":"n1"}],"ports":[{"name":"http","port":8080,"protocol":"TCP"}]}"#;
    let slim: SliceObj = serde_json::from_str(slice).unwrap();
    let full: discovery::EndpointSlice = serde_json::from_str(slice).unwrap();
    let via: SliceObj = (&full).into();
    assert_eq!(slim.address_type, "IPv4");
    assert_eq!(slim.ports, via.ports);
    let (a, b) = (&slim.endpoints.unwrap()[0], &via.endpoints.unwrap()[0]);
    assert_eq!(a.addresses, b.addresses);
    assert_eq!(a.conditions.as_ref().unwrap().ready, Some(false));
    assert_eq!(
        a.target_ref.as_ref().unwrap().name.as_deref(),
        Some("web-0")
    );
    assert_eq!(a.zone, b.zone);
    assert_eq!(a.hostname, b.hostname);
}

#[test]
fn null_and_missing_fields() {
    let s: SliceObj =
        serde_json::from_str(r#"{"metadata":null,"endpoints":null,"ports":null}"#).unwrap();
    assert!(s.endpoints.is_none() && s.metadata.name.is_none());
    let s: ServiceObj = serde_json::from_str(r#"{"metadata":{"name":"x"}}"#).unwrap();
    assert!(s.spec.is_none());
}

/// `externalIPs` and the load balancer's ingress points: the slim types read them as the full
/// types do (the manifests path), and the zone gets CoreDNS's `ExternalIPs` order (the spec's
/// addresses, then each point's `ip`, else its `hostname`; an empty point left out).
#[test]
fn external_ips_and_ingress_as_the_full_types() {
    let svc = r#"{"metadata":{"name":"lb","namespace":"prod"},"spec":{"type":"LoadBalancer",
        "clusterIP":"10.0.0.9","externalIPs":["192.0.2.1","::ffff:192.0.2.2"],
        "ports":[{"name":"http","port":80}]},"status":{"loadBalancer":{"ingress":[
        {"hostname":"lb.example.test."},{"ip":"198.51.100.7","hostname":"ignored.example"},
        {"ip":"2001:db8::7","ipMode":"Proxy"},{}]}}}"#;
    let slim: ServiceObj = serde_json::from_str(svc).unwrap();
    let full: core::Service = serde_json::from_str(svc).unwrap();
    let via: ServiceObj = (&full).into();
    assert_eq!(slim.status, via.status);
    let (a, b) = (
        crate::source::convert::service(&slim),
        crate::source::convert::service(&via),
    );
    assert_eq!(a, b);
    use crate::zone::model::External::{Ip, Name};
    assert_eq!(
        a.external,
        [
            Ip("192.0.2.1".parse().unwrap()),
            Ip("192.0.2.2".parse().unwrap()),
            Name("lb.example.test".into()),
            Ip("198.51.100.7".parse().unwrap()),
            Ip("2001:db8::7".parse().unwrap()),
        ]
    );
}
