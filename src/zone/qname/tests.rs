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

/// parse.go's reading, as kdns wrote it first (one `Vec` of every label): the reference the
/// allocation-free [`parse_request`] is compared with.
fn by_vec(rel: &str, zonal: bool, multicluster: bool) -> Found<Req<'_>> {
    let mut r = Req::default();
    if rel.is_empty() || rel == "svc" || rel == "pod" {
        return Ok(r);
    }
    let segs: Vec<&str> = rel.split('.').collect();
    let mut last = segs.len() as isize - 1;
    r.pod_or_svc = segs[last as usize];
    if r.pod_or_svc != "pod" && r.pod_or_svc != "svc" {
        return Err(NameError);
    }
    last -= 1;
    if last < 0 {
        return Ok(r);
    }
    r.namespace = segs[last as usize];
    last -= 1;
    if last < 0 {
        return Ok(r);
    }
    r.service = segs[last as usize];
    last -= 1;
    match last {
        -1 => {}
        0 => r.endpoint = segs[0],
        1 if multicluster && !segs[0].starts_with('_') && !segs[1].starts_with('_') => {
            r.endpoint = segs[0];
            r.cluster = segs[1];
        }
        1 => {
            r.protocol = segs[1].strip_prefix('_').unwrap_or(segs[1]);
            r.port = segs[0].strip_prefix('_').unwrap_or(segs[0]);
        }
        _ => {
            // `zonal`: TOPOZONE.pin|prefer._zone.service.namespace.svc (the zone may hold dots).
            let last = last as usize;
            if !zonal || multicluster || segs[last] != "_zone" || r.pod_or_svc != "svc" {
                return Err(NameError);
            }
            match segs[last - 1] {
                "pin" => {}
                "prefer" => r.zone_prefer = true,
                _ => return Err(NameError),
            }
            let len: usize = segs[..last - 1].iter().map(|l| l.len() + 1).sum::<usize>() - 1;
            r.topo_zone = &rel[..len];
        }
    }
    Ok(r)
}

/// 200,000 names of 1–9 labels drawn from the ones parse.go tells apart read the same as the
/// reference, in plain, `zonal` and multicluster zones (and every kind of name is among them).
#[test]
fn parse_request_reads_as_the_label_vector_did() {
    const LABELS: [&str; 14] = [
        "svc", "pod", "ns", "web", "_http", "_tcp", "_zone", "pin", "prefer", "", "a-b", "eu",
        "x_", "*",
    ];
    let mut seed = 0x2545_f491_4f6c_dd1d_u64;
    let mut pick = |n: usize| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        (seed % n as u64) as usize
    };
    let mut seen = [0usize; 5]; // endpoint, cluster, port, topology zone, errors
    for _ in 0..200_000 {
        let labels: Vec<&str> = (0..1 + pick(9))
            .map(|_| LABELS[pick(LABELS.len())])
            .collect();
        let name = labels.join(".");
        for (zonal, mc) in [(false, false), (true, false), (false, true), (true, true)] {
            let (a, b) = (parse_request(&name, zonal, mc), by_vec(&name, zonal, mc));
            assert_eq!(
                format!("{a:?}"),
                format!("{b:?}"),
                "{name:?} zonal={zonal} mc={mc}"
            );
            match a {
                Ok(r) => {
                    for (i, part) in [r.endpoint, r.cluster, r.port, r.topo_zone]
                        .iter()
                        .enumerate()
                    {
                        seen[i] += usize::from(!part.is_empty());
                    }
                }
                Err(_) => seen[4] += 1,
            }
        }
    }
    assert!(seen.iter().all(|&n| n > 0), "{seen:?}");
}

#[test]
fn labels_split_as_rsplit_does() {
    for name in [
        "",
        ".",
        "..",
        "a",
        "a.",
        ".a",
        "a..b",
        "svc",
        "a.b.c.d.e.f.g",
        "_http._tcp.web.ns.svc",
        "us-east.1a.prefer._zone.hdls.ns.svc",
        "é.ü.svc",
    ] {
        let got: Vec<&str> = Labels(Some(name)).collect();
        let want: Vec<&str> = name.rsplit('.').collect();
        assert_eq!(got, want, "{name:?}");
    }
}
