#!/usr/bin/env python3
"""Seed inputs for the fuzz targets, from the repository's fixtures.

Usage: fuzz/gen_seeds.py OUT_DIR   (writes OUT_DIR/<target>/<name>)

- corefile:    Corefile.example, the kubeadm Corefile, snippets/imports/env, directive options
- manifests:   tests/fixtures/**, examples/**, deploy/*.yaml (YAML as is, and as a JSON List)
- proto_list:  Service and EndpointSlice lists from the fixtures, in the API's protobuf encoding
- watch_event: the fixtures' objects as ADDED/MODIFIED/DELETED lines, a BOOKMARK, ERROR 410
- request:     dig-style queries (the cluster's names, reverse names, each type), each way the
               `request` target sends them (first byte: UDP as is, EDNS 512/1232/4096, TCP)

PyYAML is used when present (for the JSON and protobuf forms of the fixtures); without it those
seeds are skipped and the rest are still written.
"""
import json
import os
import struct
import sys

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

try:
    import yaml  # type: ignore
except ImportError:  # pragma: no cover
    yaml = None


def write(out, target, name, data):
    d = os.path.join(out, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def manifest_files():
    files = []
    for top in ["tests/fixtures", "examples", "deploy"]:
        for dirpath, _, names in sorted(os.walk(os.path.join(ROOT, top))):
            # Helm charts are Go templates, not YAML until rendered.
            if os.path.relpath(dirpath, ROOT).split(os.sep)[:2] == ["deploy", "helm"]:
                continue
            for n in sorted(names):
                if n.endswith((".yaml", ".yml", ".json")):
                    files.append(os.path.join(dirpath, n))
    return files


def objects():
    """Every object of the fixtures (documents and List items), when PyYAML is there."""
    if yaml is None:
        return []
    out = []
    for f in manifest_files():
        with open(f) as fh:
            for doc in yaml.safe_load_all(fh):
                if isinstance(doc, dict) and isinstance(doc.get("items"), list):
                    out.extend(i for i in doc["items"] if isinstance(i, dict))
                elif isinstance(doc, dict):
                    out.append(doc)
    return out


# ---------------------------------------------------------------- corefile

KUBEADM = """.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30 {
       disable success cluster.local
       disable denial cluster.local
    }
    loop
    reload
    loadbalance
}
"""

COREFILES = {
    "kubeadm": KUBEADM,
    "snippet": """(common) {
    errors
    log . "{remote} {type} {name}" {
        class denial error
    }
}
cluster.local:1053 in-addr.arpa:1053 {
    import common
    bind 127.0.0.1 ::1
    kubernetes cluster.local in-addr.arpa {
        manifests zone
        namespaces default kube-system
        labels app=web,tier!=db
        namespace_labels team in (a, b)
        endpoint_pod_names
        ignore empty_service
        zonal
        noendpoints
        startup_timeout 2s
    }
}
""",
    "forward": """.:{$PORT} {
    forward . 10.0.0.1 dns://10.0.0.2:5353 [fd00::1]:53 {
        except example.org
        force_tcp
        max_fails 3
        expire 10s
        policy round_robin
        health_check 0.5s no_rec domain example.com
        max_concurrent 100
        next NXDOMAIN SERVFAIL
        failover SERVFAIL
    }
    cache 300 example.org {
        success 9984 30 5
        denial 9984 5
        prefetch 10 1m 10%
        serve_stale 1h immediate
        servfail 5s
        keepttl
    }
}
""",
    "api": """{$ZONE}:53 10.0.0.0/24 dns://fd00::/120:53 {
    kubernetes {$ZONE} {
        endpoint https://10.0.0.1:6443
        tls cert.pem key.pem ca.pem
        kubeconfig kube.conf ctx
        apiserver_qps 50
        apiserver_burst 100
        pods verified
        ttl 0
        fallthrough
    }
    prometheus 127.0.0.1:9153
    ready :8181
    health :8080
    reload 10s 5s
}
""",
    "errors": """. {
    errors {
        consolidate 5m ".* i/o timeout$" warning
        stacktrace
    }
    "quoted \\" word" # comment
}
example.com:54 {
}
""",
}


def corefile_seeds(out):
    with open(os.path.join(ROOT, "Corefile.example")) as f:
        write(out, "corefile", "example", f.read())
    for name, text in COREFILES.items():
        write(out, "corefile", name, text)


# ---------------------------------------------------------------- manifests


def manifests_seeds(out):
    for f in manifest_files():
        rel = os.path.relpath(f, ROOT).replace("/", "_")
        with open(f, "rb") as fh:
            write(out, "manifests", rel, fh.read())
    objs = objects()
    if objs:
        lst = {"apiVersion": "v1", "kind": "List", "items": objs}
        write(out, "manifests", "all-as-json-list.json", json.dumps(lst))


# ---------------------------------------------------------------- protobuf


def varint(n):
    b = bytearray()
    while True:
        x = n & 0x7F
        n >>= 7
        if n:
            b.append(x | 0x80)
        else:
            b.append(x)
            return bytes(b)


def field(n, payload):
    """A length-delimited field (wire type 2)."""
    if isinstance(payload, str):
        payload = payload.encode()
    return varint(n << 3 | 2) + varint(len(payload)) + payload


def num(n, value):
    return varint(n << 3) + varint(value)


def meta(m, rv):
    b = field(1, m.get("name", "")) + field(3, m.get("namespace", "default"))
    b += field(6, str(rv))
    for k, v in sorted((m.get("labels") or {}).items()):
        b += field(11, field(1, k) + field(2, str(v)))
    b += field(8, num(1, 1700000000) + num(2, 5))
    return b


def port(p):
    b = b""
    if "name" in p:
        b += field(1, p["name"])
    b += field(2, p.get("protocol", "TCP"))
    if "port" in p:
        b += num(3, int(p["port"]))
    return b


def service_pb(o, rv):
    spec = o.get("spec") or {}
    s = b""
    for p in spec.get("ports") or []:
        s += field(1, port(p))
    for k, v in sorted((spec.get("selector") or {}).items()):
        s += field(2, field(1, k) + field(2, str(v)))
    if "clusterIP" in spec:
        s += field(3, spec["clusterIP"])
    if "type" in spec:
        s += field(4, spec["type"])
    if "externalName" in spec:
        s += field(10, spec["externalName"])
    for ip in spec.get("clusterIPs") or []:
        s += field(18, ip)
    return field(1, meta(o.get("metadata") or {}, rv)) + field(2, s)


def slice_pb(o, rv):
    b = field(1, meta(o.get("metadata") or {}, rv))
    for e in o.get("endpoints") or []:
        eb = b"".join(field(1, a) for a in e.get("addresses") or [])
        cond = e.get("conditions") or {}
        if "ready" in cond:
            eb += field(2, num(1, 1 if cond["ready"] else 0))
        if "hostname" in e:
            eb += field(3, e["hostname"])
        if "targetRef" in e:
            eb += field(4, field(3, e["targetRef"].get("name", "")))
        if "zone" in e:
            eb += field(7, e["zone"])
        b += field(2, eb)
    for p in o.get("ports") or []:
        b += field(3, port(p))
    b += field(4, o.get("addressType", "IPv4"))
    return b


def list_body(kind, items, rv="4242", cont=""):
    lst = field(1, field(2, rv) + (field(3, cont) if cont else b""))
    for i in items:
        lst += field(2, i)
    type_meta = field(1, "v1") + field(2, kind)
    return b"k8s\x00" + field(1, type_meta) + field(2, lst) + field(3, "") + field(4, "")


def proto_seeds(out):
    objs = objects()
    svcs = [service_pb(o, 100 + i) for i, o in enumerate(objs) if o.get("kind") == "Service"]
    slices = [slice_pb(o, 200 + i) for i, o in enumerate(objs) if o.get("kind") == "EndpointSlice"]
    # First byte: the chunk size the target feeds the second decode with (value + 1).
    if svcs:
        write(out, "proto_list", "services", b"\x07" + list_body("ServiceList", svcs))
        write(out, "proto_list", "services-page", b"\x00" + list_body("ServiceList", svcs[:2], cont="next"))
    if slices:
        write(out, "proto_list", "slices", b"\x1f" + list_body("EndpointSliceList", slices))
    write(out, "proto_list", "empty", b"\x03" + list_body("ServiceList", []))
    status = field(3, "too old resource version") + field(4, "Expired") + num(6, 410)
    write(out, "proto_list", "status", b"\x05k8s\x00" + field(1, field(1, "v1") + field(2, "Status")) + field(2, status))


# ---------------------------------------------------------------- watch events


def watch_seeds(out):
    objs = objects()
    by_kind = {}
    for o in objs:
        by_kind.setdefault(o.get("kind"), []).append(o)
    for kind in ["Service", "EndpointSlice", "Namespace", "Pod"]:
        lines = []
        for i, o in enumerate(by_kind.get(kind, [])):
            o = json.loads(json.dumps(o))
            o.setdefault("metadata", {})["resourceVersion"] = str(300 + i)
            o["metadata"]["managedFields"] = [{"manager": "kubectl", "time": "2024-05-01T10:00:00Z"}]
            o["metadata"]["creationTimestamp"] = "2024-05-01T09:00:00Z"
            lines.append(json.dumps({"type": "ADDED" if i % 2 == 0 else "MODIFIED", "object": o}))
        if lines:
            last = json.loads(lines[-1])["object"]
            lines.append(json.dumps({"type": "DELETED", "object": last}))
            bookmark = {"apiVersion": last.get("apiVersion", "v1"), "kind": kind, "metadata": {"resourceVersion": "999"}}
            lines.append(json.dumps({"type": "BOOKMARK", "object": bookmark}))
            write(out, "watch_event", kind.lower(), "\n".join(lines) + "\n")
    gone = {"type": "ERROR", "object": {"kind": "Status", "apiVersion": "v1", "status": "Failure",
                                        "message": "too old resource version: 1 (5)", "reason": "Expired", "code": 410}}
    write(out, "watch_event", "error-410", json.dumps(gone) + "\n")
    forbidden = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": "forbidden", "reason": "Forbidden", "code": 403}
    write(out, "watch_event", "status-line", json.dumps(forbidden) + "\r\n")
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default", "deletionTimestamp": "2024-05-01T10:00:00Z"},
           "status": {"podIP": "10.1.2.3", "podIPs": [{"ip": "10.1.2.3"}, {"ip": "fd00::3"}]}}
    write(out, "watch_event", "terminating-pod", json.dumps({"type": "MODIFIED", "object": pod}) + "\n{\"type\": \"ADD")


# ---------------------------------------------------------------- DNS requests

TYPES = {"A": 1, "NS": 2, "CNAME": 5, "SOA": 6, "PTR": 12, "MX": 15, "TXT": 16, "AAAA": 28, "SRV": 33, "OPT": 41, "ANY": 255, "AXFR": 252, "HINFO": 13}


def qname(name):
    b = b""
    for label in name.strip(".").split("."):
        if label:
            b += bytes([len(label)]) + label.encode()
    return b + b"\x00"


def query(qid, name, qtype, rd=True, qclass=1, opcode=0, qr=False):
    flags = (0x8000 if qr else 0) | (opcode << 11) | (0x0100 if rd else 0)
    return struct.pack(">HHHHHH", qid, flags, 1, 0, 0, 0) + qname(name) + struct.pack(">HH", qtype, qclass)


QUESTIONS = [
    ("web.shop.svc.cluster.local", "A"),
    ("web.shop.svc.cluster.local", "AAAA"),
    ("_http._tcp.web.shop.svc.cluster.local", "SRV"),
    ("db.shop.svc.cluster.local", "A"),
    ("db-0.db.shop.svc.cluster.local", "A"),
    ("_pg._tcp.db.shop.svc.cluster.local", "SRV"),
    ("many.big.svc.cluster.local", "A"),
    ("many.big.svc.cluster.local", "AAAA"),
    ("_http._tcp.many.big.svc.cluster.local", "SRV"),
    ("many.big.svc.example.internal", "SRV"),
    ("svc-echoserver.default.svc.cluster.local", "A"),
    ("echoserver-headless.default.svc.cluster.local", "ANY"),
    ("upstream.shop.svc.cluster.local", "CNAME"),
    ("10-1-0-5.shop.pod.cluster.local", "A"),
    ("5.0.1.10.in-addr.arpa", "PTR"),
    ("20.0.96.10.in-addr.arpa", "PTR"),
    ("cluster.local", "SOA"),
    ("cluster.local", "NS"),
    ("dns-version.cluster.local", "TXT"),
    ("nope.shop.svc.cluster.local", "A"),
    ("example.org", "MX"),
    ("cluster.local", "AXFR"),
    ("web.shop.alias.cluster.local", "A"),
    ("web.shop.short.test", "SRV"),
    ("abc.def.tpl.test", "A"),
    ("x.y.tpl.test", "TXT"),
    ("abc.tpl.test", "ANY"),
    ("a.nx.test", "A"),
    ("h.hosts.test", "AAAA"),
    ("7.2.0.192.in-addr.arpa", "PTR"),
    ("web.shop.svc.cluster.local", "MX"),
    ("web.shop.svc.cluster.local", "HINFO"),
    ("lb.big.ext.example", "A"),
    ("_http._tcp.lb.big.ext.example", "SRV"),
    ("many.big.ext.example", "SRV"),
    ("ext.example", "NS"),
    ("ns1.dns.ext.example", "A"),
]


def request_seeds(out):
    for i, (name, t) in enumerate(QUESTIONS):
        q = query(0x1000 + i, name, TYPES[t])
        mode = i % 5  # each way of sending, spread over the questions
        write(out, "request", f"{i:02d}-{t}-{name}"[:60], bytes([mode]) + q)
    # The header cases: EDNS version 1, a NOTIFY, two questions, QR=1, class CH, a cut question.
    q = query(7, "web.shop.svc.cluster.local", 1)
    write(out, "request", "edns-v1", b"\x00" + q[:11] + b"\x01" + q[12:] + b"\x00\x00\x29\x04\xd0\x00\x01\x00\x00\x00\x00")
    write(out, "request", "notify", b"\x00" + query(8, "cluster.local", 6, opcode=4))
    two = query(9, "a.cluster.local", 1)
    write(out, "request", "two-questions", b"\x04" + two[:5] + b"\x02" + two[6:] + qname("b.cluster.local") + b"\x00\x01\x00\x01")
    write(out, "request", "class-ch", b"\x02" + query(10, "version.bind", 16, qclass=3))
    write(out, "request", "cut", b"\x00" + q[:20])
    write(out, "request", "response", b"\x00" + query(11, "web.shop.svc.cluster.local", 1, qr=True))


def main():
    if len(sys.argv) != 2 or sys.argv[1].startswith("-"):
        # `--help` (or any option) is a question, not a directory to fill with seeds.
        asked = sys.argv[1:] in (["-h"], ["--help"])
        print(__doc__, file=sys.stdout if asked else sys.stderr)
        sys.exit(0 if asked else 2)
    out = sys.argv[1]
    corefile_seeds(out)
    manifests_seeds(out)
    proto_seeds(out)
    watch_seeds(out)
    request_seeds(out)


if __name__ == "__main__":
    main()
