//! One DNS request through the real responder (decode → the chain of a kubeadm-like Corefile
//! over a zone loaded from the repository's manifests → encode), over UDP with each EDNS size
//! limit and over TCP.
//!
//! The first input byte picks how the rest is sent: `% 5` = 0 UDP as is, 1/2/3 UDP with an OPT
//! record of 512/1232/4096 appended (bit 3: its DO flag), 4 TCP.
//!
//! Properties: a request with QR=1 gets no reply; a reply parses strictly (the whole message
//! with hickory, and no byte after the last counted record), is a response, carries the
//! request's ID, and fits the limit: over UDP the request's EDNS size (512 without EDNS, never
//! more than kdns's `MAX_UDP_PAYLOAD`), over TCP 65535.
#![no_main]
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use hickory_server::proto::op::{Message, MessageType};
use hickory_server::proto::serialize::binary::{BinDecodable, BinDecoder};
use kdns::dns::MAX_UDP_PAYLOAD;
use kdns::fuzzing::Server;
use libfuzzer_sys::fuzz_target;

const REPO: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/..");

/// kubeadm's Corefile without what reaches the network (`forward`, `health`, `ready`, `loop`,
/// `reload`), with every directive that reads the question in front of `kubernetes` (as the
/// distributions' Corefiles put them: rewrite, template, hosts, acl, any, chaos, bufsize), plus
/// a second zone with the other pod modes.
const COREFILE: &str = "\
.:53 {
    errors
    bufsize 1232
    any
    chaos kdns-fuzz fuzz
    acl {
        block type MX net 10.0.0.0/8
        filter type NAPTR
        drop type HINFO net 127.0.0.0/8
    }
    rewrite name regex (.*)\\.alias\\.cluster\\.local {1}.svc.cluster.local answer auto
    rewrite continue name suffix .short.test .svc.cluster.local answer auto
    rewrite ttl suffix cluster.local 5-60
    template IN ANY tpl.test {
        match \"^(?P<a>[a-z0-9-]*)\\.(?P<b>[^.]*)\\.tpl\\.test\\.$\"
        answer \"{{ .Name }} 60 IN A 192.0.2.{{ len .Group.a }}\"
        answer \"{{ .Name }} 60 IN TXT \\\"{{ .Group.b }} {{ .Remote }} {{ .Type }} {{ .Class }}\\\"\"
        additional \"{{ .Group.b }}.tpl.test. 60 IN CNAME {{ index .Match 1 }}.tpl.test.\"
        fallthrough
    }
    template IN A nx.test {
        rcode NXDOMAIN
        authority \"nx.test. 60 IN SOA ns.nx.test. hostmaster.nx.test. 1 60 60 60 60\"
    }
    hosts {
        192.0.2.7 h.hosts.test
        2001:db8::7 h.hosts.test
        fallthrough
    }
    k8s_external ext.example {
        headless
    }
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        manifests ZONE
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }
    prometheus 127.0.0.1:9153
    cache 30
    loadbalance
}
example.internal:53 {
    kubernetes example.internal {
        manifests ZONE
        pods verified
        endpoint_pod_names
        ttl 0
    }
}
";

/// A headless Service with many endpoints (long names, both families), so answers outgrow
/// every UDP limit and truncation is exercised; and a load balancer for `k8s_external`
/// (addresses of both families and a hostname that `hosts` answers).
fn big_service() -> String {
    let mut y = String::from(
        "apiVersion: v1\nkind: Service\nmetadata: {name: lb, namespace: big}\n\
         spec:\n  type: LoadBalancer\n  externalIPs: [192.0.2.80, \"2001:db8::80\"]\n  \
         ports: [{name: http, protocol: TCP, port: 80}, {name: dns, protocol: UDP, port: 53}]\n\
         status:\n  loadBalancer:\n    ingress: [{ip: 203.0.113.80}, {hostname: h.hosts.test}]\n---\n\
         apiVersion: v1\nkind: Service\nmetadata: {name: many, namespace: big}\n\
         spec:\n  clusterIP: None\n  ports: [{name: http, protocol: TCP, port: 80}, \
         {name: dns, protocol: UDP, port: 53}]\n",
    );
    for (family, n) in [("IPv4", 90), ("IPv6", 45)] {
        y.push_str(&format!(
            "---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  \
             name: many-{family}\n  namespace: big\n  labels: {{kubernetes.io/service-name: many}}\n\
             addressType: {family}\nports: [{{name: http, protocol: TCP, port: 8080}}, \
             {{name: dns, protocol: UDP, port: 53}}]\nendpoints:\n"
        ));
        for i in 0..n {
            let addr = if family == "IPv4" {
                format!("10.2.{}.{}", i / 200, i % 200 + 1)
            } else {
                format!("\"fd00:10:2::{:x}\"", i + 1)
            };
            y.push_str(&format!(
                "  - addresses: [{addr}]\n    hostname: replica-with-a-long-host-name-{family}-{i}\n    \
                 conditions: {{ready: true}}\n    targetRef: {{kind: Pod, name: many-{i}}}\n"
            ));
        }
    }
    y
}

/// The manifests of the repository and the big Service, copied to a fresh directory.
fn zone_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("kdns-fuzz-zone-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    for src in ["tests/fixtures/cluster", "examples/echoserver"] {
        for e in std::fs::read_dir(Path::new(REPO).join(src)).unwrap() {
            let p = e.unwrap().path();
            let name = format!(
                "{}-{}",
                src.replace('/', "_"),
                p.file_name().unwrap().to_string_lossy()
            );
            std::fs::copy(&p, dir.join(name)).unwrap();
        }
    }
    std::fs::write(dir.join("big.yaml"), big_service()).unwrap();
    dir
}

static SERVER: LazyLock<Server> = LazyLock::new(|| {
    let dir = zone_dir();
    let text = COREFILE.replace("ZONE", &dir.display().to_string());
    let server = Server::new(&text, &dir.join("Corefile")).expect("the fuzz Corefile loads");
    let _ = std::fs::remove_dir_all(&dir);
    server
});

/// `raw` with an OPT record of `size` (and DO) appended and ARCOUNT raised.
fn with_opt(raw: &[u8], size: u16, dnssec_ok: bool) -> Vec<u8> {
    let mut out = raw.to_vec();
    if out.len() >= 12 {
        let ar = u16::from_be_bytes([out[10], out[11]]).wrapping_add(1);
        out[10..12].copy_from_slice(&ar.to_be_bytes());
    }
    let flags: u8 = if dnssec_ok { 0x80 } else { 0 };
    out.extend_from_slice(&[0, 0, 41]);
    out.extend_from_slice(&size.to_be_bytes());
    out.extend_from_slice(&[0, 0, flags, 0, 0, 0]);
    out
}

/// The largest UDP reply for `req`: its EDNS size within [512, MAX_UDP_PAYLOAD], else 512.
fn udp_limit(req: &[u8]) -> usize {
    Message::from_vec(req)
        .ok()
        .and_then(|m| m.edns.map(|e| e.max_payload()))
        .map_or(512, |p| p.clamp(512, MAX_UDP_PAYLOAD))
        .into()
}

/// Decodes `reply` strictly: the whole message, and nothing after the last counted record.
fn strict(reply: &[u8]) -> Message {
    let mut d = BinDecoder::new(reply);
    let m = Message::read(&mut d)
        .unwrap_or_else(|e| panic!("the reply does not parse: {e}\n{reply:02x?}"));
    assert!(
        d.is_empty(),
        "{} stray byte(s) after the last counted record of a {}-byte reply:\n{m}",
        d.len(),
        reply.len()
    );
    m
}

fuzz_target!(|data: &[u8]| {
    let Some((&mode, raw)) = data.split_first() else {
        return;
    };
    let dnssec_ok = mode & 8 != 0;
    let (req, udp) = match mode % 5 {
        0 => (raw.to_vec(), true),
        1 => (with_opt(raw, 512, dnssec_ok), true),
        2 => (with_opt(raw, 1232, dnssec_ok), true),
        3 => (with_opt(raw, 4096, dnssec_ok), true),
        _ => (raw.to_vec(), false),
    };
    let reply = SERVER.request(&req, udp);
    let is_response = req.get(2).is_some_and(|b| b & 0x80 != 0);
    let Some(reply) = reply else {
        return;
    };
    assert!(!is_response, "a response (QR=1) was answered");
    let m = strict(&reply);
    assert_eq!(m.metadata.message_type, MessageType::Response);
    assert_eq!(reply[..2], req[..2], "the reply's ID is not the request's");
    let limit = if udp { udp_limit(&req) } else { 65535 };
    assert!(
        reply.len() <= limit,
        "a {}-byte reply over a limit of {limit}",
        reply.len()
    );
});
