//! The decoders against bytes of a tiny test encoder: every field kdns reads, a list split at
//! every byte, truncation and corruption.
use super::list::ListDecoder;
use super::service::service;
use super::slice::slice;
use super::status::status;
use super::wire::{ProtoError, CONTENT_TYPE, MAGIC};

// A tiny encoder, for tests only.
fn key(field: u32, wire: u8, out: &mut Vec<u8>) {
    put_varint(u64::from(field) << 3 | u64::from(wire), out);
}
fn put_varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}
fn len(field: u32, b: &[u8], out: &mut Vec<u8>) {
    key(field, 2, out);
    put_varint(b.len() as u64, out);
    out.extend_from_slice(b);
}
fn int(field: u32, v: u64, out: &mut Vec<u8>) {
    key(field, 0, out);
    put_varint(v, out);
}
fn msg(f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut v = Vec::new();
    f(&mut v);
    v
}

fn meta_bytes(name: &str) -> Vec<u8> {
    msg(|m| {
        len(1, name.as_bytes(), m);
        len(3, b"prod", m);
        len(6, b"77", m);
        len(8, &msg(|t| int(1, 1_767_225_600, t)), m);
        len(
            11,
            &msg(|e| {
                len(1, b"kubernetes.io/service-name", e);
                len(2, b"web", e);
            }),
            m,
        );
        len(
            17,
            &msg(|e| {
                len(1, b"kubectl", e);
                len(4, &msg(|t| int(1, 1_767_225_601, t)), e);
                len(7, b"{\"f:spec\":{}}", e);
            }),
            m,
        );
        len(12, &msg(|e| len(1, b"ignored", e)), m);
    })
}

fn slice_bytes(name: &str) -> Vec<u8> {
    msg(|s| {
        len(1, &meta_bytes(name), s);
        len(4, b"IPv4", s);
        len(
            2,
            &msg(|e| {
                len(1, b"10.1.0.1", e);
                len(2, &msg(|c| int(1, 0, c)), e);
                len(3, b"web-0", e);
                len(4, &msg(|t| len(3, b"pod-a", t)), e);
                len(6, b"node-1", e);
                len(7, b"zone-a", e);
            }),
            s,
        );
        len(
            3,
            &msg(|p| {
                len(1, b"http", p);
                len(2, b"TCP", p);
                int(3, 8080, p);
            }),
            s,
        );
    })
}

fn list_body(items: &[Vec<u8>], rv: &str) -> Vec<u8> {
    let list = msg(|l| {
        len(1, &msg(|m| len(2, rv.as_bytes(), m)), l);
        for i in items {
            len(2, i, l);
        }
    });
    let mut body = MAGIC.to_vec();
    len(
        1,
        &msg(|t| {
            len(1, b"discovery.k8s.io/v1", t);
            len(2, b"EndpointSliceList", t);
        }),
        &mut body,
    );
    len(2, &list, &mut body);
    len(4, CONTENT_TYPE.as_bytes(), &mut body);
    body
}

#[test]
fn decodes_a_slice() {
    let s = slice(&slice_bytes("web-abc")).unwrap();
    assert_eq!(s.metadata.name.as_deref(), Some("web-abc"));
    assert_eq!(s.metadata.namespace.as_deref(), Some("prod"));
    assert_eq!(s.metadata.resource_version.as_deref(), Some("77"));
    assert_eq!(
        s.metadata.labels.as_ref().unwrap()["kubernetes.io/service-name"],
        "web"
    );
    let mf = s.metadata.managed_fields.as_ref().unwrap();
    assert_eq!(mf[0].time.as_ref().unwrap().0.as_second(), 1_767_225_601);
    assert!(s.metadata.annotations.is_none());
    assert_eq!(s.address_type, "IPv4");
    let e = &s.endpoints.as_ref().unwrap()[0];
    assert_eq!(e.addresses, ["10.1.0.1"]);
    assert_eq!(e.conditions.as_ref().unwrap().ready, Some(false));
    assert_eq!(e.hostname.as_deref(), Some("web-0"));
    assert_eq!(
        e.target_ref.as_ref().unwrap().name.as_deref(),
        Some("pod-a")
    );
    assert_eq!(e.zone.as_deref(), Some("zone-a"));
    let p = &s.ports.as_ref().unwrap()[0];
    assert_eq!(
        (p.name.as_deref(), p.protocol.as_deref(), p.port),
        (Some("http"), Some("TCP"), Some(8080))
    );
}

#[test]
fn decodes_a_service() {
    let b = msg(|s| {
        len(1, &meta_bytes("web"), s);
        len(
            2,
            &msg(|sp| {
                len(
                    1,
                    &msg(|p| {
                        len(1, b"dns", p);
                        len(2, b"UDP", p);
                        int(3, 53, p);
                        len(4, &msg(|t| int(1, 5353, t)), p);
                    }),
                    sp,
                );
                len(3, b"10.0.0.1", sp);
                len(18, b"10.0.0.1", sp);
                len(18, b"fd00::1", sp);
                len(4, b"ClusterIP", sp);
                len(7, b"None", sp);
            }),
            s,
        );
        len(3, b"\x0a\x00", s); // status
    });
    let s = service(&b).unwrap();
    let spec = s.spec.unwrap();
    assert_eq!(spec.cluster_ip.as_deref(), Some("10.0.0.1"));
    assert_eq!(spec.cluster_ips.unwrap(), ["10.0.0.1", "fd00::1"]);
    assert_eq!(spec.type_.as_deref(), Some("ClusterIP"));
    assert_eq!(spec.ports.unwrap()[0].port, Some(53));
    assert!(spec.external_name.is_none());
}

/// `spec.externalIPs` and `status.loadBalancer.ingress` decode as their JSON does (the
/// `ipMode` and `ports` of an ingress point and the status `conditions` are skipped).
#[test]
fn decodes_external_ips_and_load_balancer_ingress_like_json() {
    let b = msg(|s| {
        len(1, &meta_bytes("lb"), s);
        len(
            2,
            &msg(|sp| {
                len(5, b"192.0.2.1", sp);
                len(5, b"2001:db8::1", sp);
                len(4, b"LoadBalancer", sp);
            }),
            s,
        );
        let point = |ip: &[u8], host: &[u8]| {
            msg(|i| {
                if !ip.is_empty() {
                    len(1, ip, i);
                }
                if !host.is_empty() {
                    len(2, host, i);
                }
                len(3, b"VIP", i);
                len(4, &msg(|p| int(1, 80, p)), i);
            })
        };
        let lb = msg(|l| {
            len(1, &point(b"198.51.100.7", b""), l);
            len(1, &point(b"", b"lb.example.test"), l);
        });
        len(
            3,
            &msg(|st| {
                len(1, &lb, st);
                len(2, &msg(|c| len(1, b"Ready", c)), st);
            }),
            s,
        );
    });
    let pb = service(&b).unwrap();
    let js: crate::source::objects::ServiceObj = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "lb", "namespace": "prod"},
        "spec": {"type": "LoadBalancer", "externalIPs": ["192.0.2.1", "2001:db8::1"]},
        "status": {"loadBalancer": {"ingress": [
            {"ip": "198.51.100.7", "ipMode": "VIP", "ports": [{"port": 80}]},
            {"hostname": "lb.example.test", "ipMode": "VIP"}]},
            "conditions": [{"type": "Ready"}]}
    }))
    .unwrap();
    assert_eq!(pb.status, js.status);
    assert_eq!(
        pb.spec.as_ref().unwrap().external_ips,
        js.spec.as_ref().unwrap().external_ips
    );
    let (a, b) = (
        crate::source::convert::service(&pb),
        crate::source::convert::service(&js),
    );
    assert_eq!(a.external, b.external);
    assert_eq!(a.external.len(), 4);
}

/// The body split at every possible point gives the same items and metadata.
#[test]
fn list_streams_at_any_split() {
    let items: Vec<Vec<u8>> = (0..5).map(|i| slice_bytes(&format!("s{i}"))).collect();
    let body = list_body(&items, "12345");
    for split in 0..body.len() {
        let mut d = ListDecoder::new();
        let mut names = Vec::new();
        let mut on = |b: &[u8]| {
            names.push(slice(b)?.metadata.name.unwrap());
            Ok(())
        };
        d.feed(&body[..split], &mut on).unwrap();
        d.feed(&body[split..], &mut on).unwrap();
        assert_eq!(names, ["s0", "s1", "s2", "s3", "s4"], "split at {split}");
        assert_eq!(d.finish().unwrap().resource_version, "12345");
    }
}

#[test]
fn truncated_and_garbage_bodies_are_errors_not_panics() {
    let body = list_body(&[slice_bytes("a"), slice_bytes("b")], "1");
    // (A cut in the trailing contentType field, after the list, loses nothing.)
    for cut in 1..body.len() - 2 - CONTENT_TYPE.len() {
        let mut d = ListDecoder::new();
        let mut n = 0;
        let r = d.feed(&body[..cut], &mut |b| slice(b).map(|_| n += 1));
        assert!(r.is_err() || d.finish().is_err(), "cut at {cut}");
    }
    let mut d = ListDecoder::new();
    assert_eq!(
        d.feed(b"{\"kind\":", &mut |_| Ok(())),
        Err(ProtoError::Magic)
    );
    // Every single-byte corruption: no panic.
    for i in 4..body.len() {
        let mut b = body.clone();
        b[i] ^= 0xff;
        let mut d = ListDecoder::new();
        let _ = d.feed(&b, &mut |b| slice(b).map(|_| ()));
    }
    let _ = service(&[0xff; 12]);
    let _ = slice(&[
        0x0a, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
    ]);
}

#[test]
fn status_of_an_error() {
    let mut body = MAGIC.to_vec();
    len(
        2,
        &msg(|s| {
            len(2, b"Failure", s);
            len(3, b"endpointslices is forbidden", s);
            len(4, b"Forbidden", s);
            int(6, 403, s);
        }),
        &mut body,
    );
    assert_eq!(
        status(&body).unwrap(),
        (
            403,
            "Forbidden".to_string(),
            "endpointslices is forbidden".to_string()
        )
    );
}

#[test]
fn decodes_a_pod_and_skips_its_spec() {
    let bytes = msg(|p| {
        len(1, &meta_bytes("web-0"), p);
        // A spec with a container: skipped unread.
        len(2, &msg(|s| len(2, &msg(|c| len(1, b"app", c)), s)), p);
        len(
            3,
            &msg(|st| {
                len(1, b"Running", st);
                len(5, b"192.168.0.7", st);
                len(6, b"10.1.0.9", st);
                len(12, &msg(|i| len(1, b"10.1.0.9", i)), st);
                len(12, &msg(|i| len(1, b"fd00::9", i)), st);
                len(7, &msg(|t| int(1, 1_767_225_600, t)), st);
            }),
            p,
        );
    });
    let p = super::pod::pod(&bytes).unwrap();
    assert_eq!(p.metadata.name.as_deref(), Some("web-0"));
    assert_eq!(p.metadata.namespace.as_deref(), Some("prod"));
    let st = p.status.unwrap();
    assert_eq!(st.phase.as_deref(), Some("Running"));
    assert_eq!(st.pod_ip.as_deref(), Some("10.1.0.9"));
    let ips: Vec<&str> = st.pod_ips.iter().flatten().map(|i| i.ip.as_str()).collect();
    assert_eq!(ips, ["10.1.0.9", "fd00::9"]);
    // A pod without status, and cut bytes: an empty status, an error.
    assert!(super::pod::pod(&msg(|p| len(1, &meta_bytes("x"), p)))
        .unwrap()
        .status
        .is_none());
    assert!(super::pod::pod(&bytes[..bytes.len() - 3]).is_err());
}
