#!/usr/bin/env python3
"""Helpers for bench/run.sh (Python 3 standard library only).

  gen             N Services + EndpointSlices as manifests, API objects and dnsperf query files
  load            bulk-create the generated objects through the API (parallel, keep-alive)
  etcd-load       the same objects (and running Pods) written straight into etcd: fast
  pods            running Pods through the API (POST + status PATCH each)
  wait-answer     time from a process start (t0) to the first correct DNS answer (and /ready)
  create-latency  Service created (API ack) -> first correct answer, per server, N times
  program-latency Service changes at a rate -> first answer showing each, per server
  churn           one EndpointSlice changed every interval (churn elsewhere)
  dnsperf         parse dnsperf output (and -v per-query latencies) into JSON
  table           turn results.json into the Markdown table of BENCHMARKS.md

Every loop here is bounded in count and time; everything talks to 127.0.0.1 only.
"""
import argparse
import base64
import collections
import http.client
import ipaddress
import json
import os
import queue
import random
import select
import socket
import ssl
import struct
import sys
import threading
import time
import urllib.request
import uuid

# ---------------------------------------------------------------- data set


PORT_SETS = [("http", 80, "TCP"), ("grpc", 9090, "TCP"), ("dns", 53, "UDP")]


def kind_of(i):
    """5 % ExternalName, 25 % headless, 70 % ClusterIP (a quarter of those dual-stack)."""
    r = i % 20
    if r == 0:
        return "external"
    if r <= 5:
        return "headless"
    return "clusterip"


V6_BASE = int(ipaddress.IPv6Address("fd00:10:96::"))


def v4(base, n):
    return "%d.%d.%d.%d" % (base[0], base[1] + (n >> 16), (n >> 8) & 255, n & 255)


def dataset(n):
    """Yields (namespace names, list of service dicts) for N services; deterministic."""
    nns = max(1, n // 250)
    namespaces = ["bench-%d" % k for k in range(nns)]
    services = []
    ep = 0
    for i in range(n):
        ns = namespaces[i % nns]
        kind = kind_of(i)
        s = {"i": i, "name": "svc-%d" % i, "ns": ns, "kind": kind, "ports": [], "eps": []}
        if kind == "external":
            s["external"] = "ext-%d.example.com" % i
        else:
            k = 6 + (i * 7) % 11  # 6..16 endpoints, mean 11: ~10.5 endpoints per service overall
            if kind == "clusterip":
                s["ports"] = PORT_SETS[: 1 + i % 3]
                j = i + 16  # 10.96.0.1 is the kubernetes Service
                # 10.96.0.0/12 and fd00:10:96::/108 (scripts/apiserver.sh's default /16 and /112
                # hold the first 65,520 Services; bench/scale.sh widens them).
                s["ip"] = v4((10, 96), j)
                if (i // 20) % 4 == 0:
                    s["ip6"] = str(ipaddress.IPv6Address(V6_BASE + j))
            else:
                s["ports"] = [("http", 8080, "TCP")]
            named = kind == "headless" and i % 2 == 0
            for e in range(k):
                s["eps"].append((v4((10, 128), ep), "web-%d" % e if named else None))
                ep += 1
        services.append(s)
    return namespaces, services


def service_obj(s):
    meta = {"name": s["name"], "namespace": s["ns"], "labels": {"app": s["name"]}}
    if s["kind"] == "external":
        spec = {"type": "ExternalName", "externalName": s["external"]}
    elif s["kind"] == "headless":
        spec = {"clusterIP": "None", "clusterIPs": ["None"], "selector": {"app": s["name"]}}
    else:
        spec = {"type": "ClusterIP", "clusterIP": s["ip"], "clusterIPs": [s["ip"]],
                "selector": {"app": s["name"]}}
        if "ip6" in s:
            spec["clusterIPs"] = [s["ip"], s["ip6"]]
            spec["ipFamilies"] = ["IPv4", "IPv6"]
            spec["ipFamilyPolicy"] = "RequireDualStack"
    if s["ports"]:
        spec["ports"] = [{"name": pn, "port": p, "protocol": pr, "targetPort": p}
                         for pn, p, pr in s["ports"]]
    return {"apiVersion": "v1", "kind": "Service", "metadata": meta, "spec": spec}


def slice_obj(s):
    if not s["eps"]:
        return None
    eps = []
    for ip, host in s["eps"]:
        e = {"addresses": [ip], "conditions": {"ready": True}}
        if host:
            e["hostname"] = host
        eps.append(e)
    return {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": s["name"] + "-b1", "namespace": s["ns"],
                     "labels": {"kubernetes.io/service-name": s["name"]}},
        "addressType": "IPv4",
        "endpoints": eps,
        "ports": [{"name": pn, "port": p, "protocol": pr} for pn, p, pr in s["ports"]],
    }


def yaml_dump(obj, ind=0):
    """A small YAML emitter for the plain JSON-like objects above (block style)."""
    pad = "  " * ind
    out = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if isinstance(v, (dict, list)) and v:
                out.append("%s%s:" % (pad, k))
                out.append(yaml_dump(v, ind + 1))
            else:
                out.append("%s%s: %s" % (pad, k, scalar(v)))
    else:
        for v in obj:
            if isinstance(v, dict) and v:
                body = yaml_dump(v, ind + 1).split("\n")
                out.append("%s- %s" % (pad, body[0].lstrip()))
                out.extend(body[1:])
            else:
                out.append("%s- %s" % (pad, scalar(v)))
    return "\n".join(out)


def scalar(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (dict, list)):
        return "{}" if isinstance(v, dict) else "[]"
    return json.dumps(v)  # a quoted string is valid YAML


def cmd_gen(a):
    namespaces, services = dataset(a.services)
    os.makedirs(os.path.join(a.out, "manifests"), exist_ok=True)
    ns_objs = [{"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}
               for n in namespaces]
    objs = []  # (api path, object)
    for o in ns_objs:
        objs.append(("/api/v1/namespaces", o))
    n_eps = 0
    chunk = []
    files = 0

    def flush():
        nonlocal chunk, files
        if chunk:
            with open(os.path.join(a.out, "manifests", "objects-%04d.yaml" % files), "w") as f:
                f.write("\n---\n".join(yaml_dump(o) for o in chunk) + "\n")
            files += 1
            chunk = []

    chunk.extend(ns_objs)
    flush()
    for s in services:
        so = service_obj(s)
        objs.append(("/api/v1/namespaces/%s/services" % s["ns"], so))
        chunk.append(so)
        sl = slice_obj(s)
        if sl:
            objs.append(("/apis/discovery.k8s.io/v1/namespaces/%s/endpointslices" % s["ns"], sl))
            chunk.append(sl)
            n_eps += len(s["eps"])
        if len(chunk) >= 500:
            flush()
    flush()
    with open(os.path.join(a.out, "objects.jsonl"), "w") as f:
        for p, o in objs:
            f.write(json.dumps({"path": p, "body": o}, separators=(",", ":")) + "\n")

    rnd = random.Random(42)
    # (a) hits: A on ClusterIP and headless names, AAAA, SRV on ClusterIP named ports.
    hits = []
    cands = [s for s in services if s["kind"] != "external"]
    for k in range(a.queries):
        s = cands[rnd.randrange(len(cands))]
        fq = "%s.%s.svc.cluster.local" % (s["name"], s["ns"])
        t = k % 4
        if t == 3 and s["kind"] == "clusterip":
            pn, _, pr = s["ports"][k % len(s["ports"])]
            hits.append("_%s._%s.%s SRV" % (pn, pr.lower(), fq))
        elif t == 2:
            hits.append("%s AAAA" % fq)
        else:
            hits.append("%s A" % fq)
    # (b) perf-tests all-queries.txt, instantiated with our services: a pod in namespace NS
    # looking up svc1 and svc2 of NS and google.com through the ClusterFirst search list.
    template = [
        "{s1} A", "{s1} AAAA", "{s1}.cluster.local A", "{s1}.cluster.local AAAA",
        "{s1}.svc.cluster.local A", "{s1}.svc.cluster.local AAAA",
        "{s1}.{ns}.svc.cluster.local A", "{s1}.{ns}.svc.cluster.local AAAA",
        "google.com.svc.cluster.local A", "google.com.svc.cluster.local AAAA",
        "google.com.{ns}.svc.cluster.local A", "google.com.{ns}.svc.cluster.local AAAA",
        "google.com.cluster.local A", "google.com.cluster.local AAAA",
        "google.com A", "google.com AAAA",
        "1-2-3-4.{ns}.pod.cluster.local A",
        "{s2} A", "{s2} AAAA", "{s2}.cluster.local A", "{s2}.cluster.local AAAA",
        "{s2}.svc.cluster.local A", "{s2}.svc.cluster.local AAAA",
        "{s2}.{ns}.svc.cluster.local A", "{s2}.{ns}.svc.cluster.local AAAA",
    ]
    search = []
    by_ns = {}
    for s in services:
        if s["kind"] == "clusterip":
            by_ns.setdefault(s["ns"], []).append(s)
    nsl = sorted(by_ns)
    while len(search) < a.queries:
        ns = nsl[rnd.randrange(len(nsl))]
        pool = by_ns[ns]
        s1, s2 = pool[rnd.randrange(len(pool))], pool[rnd.randrange(len(pool))]
        for line in template:
            search.append(line.format(s1=s1["name"], s2=s2["name"], ns=ns))
    # The same questions with the first letter upper-cased: answered identically by both servers
    # (names match case-insensitively), but kdns's packet cache only serves all-lower-case
    # questions, so these measure its full (uncached) query path.
    def mixed(lines):
        return [l[0].upper() + l[1:] if l[0].isalpha() else
                (l[0] + l[1].upper() + l[2:] if l[0] == "_" else l) for l in lines]

    for name, lines in (("queries-hits.txt", hits), ("queries-search.txt", search),
                        ("queries-hits-nocache.txt", mixed(hits)),
                        ("queries-search-nocache.txt", mixed(search))):
        with open(os.path.join(a.out, name), "w") as f:
            f.write("\n".join(lines) + "\n")
    last = [s for s in services if s["kind"] == "clusterip"][-1]
    meta = {
        "services": len(services), "namespaces": len(namespaces), "endpoints": n_eps,
        "slices": sum(1 for s in services if s["eps"]),
        "by_kind": {k: sum(1 for s in services if s["kind"] == k)
                    for k in ("clusterip", "headless", "external")},
        "dual_stack": sum(1 for s in services if "ip6" in s),
        "objects": len(objs), "manifest_files": files,
        "check_name": "%s.%s.svc.cluster.local" % (last["name"], last["ns"]),
        "check_ip": last["ip"],
        "check_namespace": namespaces[0],
    }
    with open(os.path.join(a.out, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    print(json.dumps(meta))


# ---------------------------------------------------------------- API client


def read_env(path):
    env = {}
    with open(path) as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                env[k] = v
    return env


class Api:
    def __init__(self, env_path):
        env = read_env(env_path)
        self.host, self.port = "127.0.0.1", int(env["APISERVER_PORT"])
        self.token = env["ADMIN_TOKEN"]
        self.ctx = ssl.create_default_context(cafile=env["CA_FILE"])
        self.ctx.check_hostname = False  # the serving cert names 127.0.0.1; keep it simple

    def conn(self):
        return http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=30)

    def call(self, conn, method, path, body=None, ctype="application/json"):
        hdr = {"Authorization": "Bearer " + self.token, "Accept": "application/json"}
        data = None
        if body is not None:
            data = json.dumps(body).encode()
            hdr["Content-Type"] = ctype
        conn.request(method, path, body=data, headers=hdr)
        r = conn.getresponse()
        return r.status, r.read()


def cmd_load(a):
    api = Api(a.env)
    lines = open(a.objects).read().splitlines()
    objs = [json.loads(l) for l in lines if l]
    namespaces = [o for o in objs if o["path"] == "/api/v1/namespaces"]
    rest = [o for o in objs if o["path"] != "/api/v1/namespaces"]
    stats = {"created": 0, "exists": 0, "errors": 0}
    lock = threading.Lock()
    first_err = []

    def run(batch):
        q = queue.Queue()
        for o in batch:
            q.put(o)

        def worker():
            c = api.conn()
            while True:
                try:
                    o = q.get_nowait()
                except queue.Empty:
                    break
                for attempt in range(5):  # bounded retries on connection errors / 429 / 5xx
                    try:
                        st, body = api.call(c, "POST", o["path"], o["body"])
                    except (OSError, http.client.HTTPException):
                        c.close()
                        c = api.conn()
                        time.sleep(0.1 * (attempt + 1))
                        continue
                    if st == 429 or st >= 500:
                        time.sleep(0.1 * (attempt + 1))
                        continue
                    break
                with lock:
                    if st in (200, 201):
                        stats["created"] += 1
                    elif st == 409:
                        stats["exists"] += 1
                    else:
                        stats["errors"] += 1
                        if not first_err:
                            first_err.append("%s %s: %s" % (st, o["path"], body[:300]))
            c.close()

        ts = [threading.Thread(target=worker) for _ in range(a.workers)]
        for t in ts:
            t.start()
        for t in ts:
            t.join()

    t0 = time.monotonic()
    run(namespaces)
    run(rest)
    dt = time.monotonic() - t0
    res = dict(stats, objects=len(objs), seconds=round(dt, 2),
               per_second=round(len(objs) / dt, 1) if dt > 0 else 0, workers=a.workers)
    if first_err:
        res["first_error"] = first_err[0]
    print(json.dumps(res))
    if stats["errors"]:
        sys.exit(1)


def etcd_key(path, body):
    """The API server's etcd key (default prefix /registry) for an object POSTed to `path`."""
    m = body["metadata"]
    if path == "/api/v1/namespaces":
        return "/registry/namespaces/" + m["name"]
    parts = path.strip("/").split("/")
    ns, resource = parts[-2], parts[-1]
    return {"services": "/registry/services/specs/%s/%s",
            "endpointslices": "/registry/endpointslices/%s/%s",
            "pods": "/registry/pods/%s/%s"}[resource] % (ns, m["name"])


def stored(body, now):
    """The object as the API server would have stored it: uid, creation time, a namespace's
    Active status (defaults are applied when the API server reads it back)."""
    body = json.loads(json.dumps(body))
    body["metadata"].update(uid=str(uuid.uuid4()), creationTimestamp=now)
    if body["kind"] == "Namespace":
        body["spec"] = {"finalizers": ["kubernetes"]}
        body["status"] = {"phase": "Active"}
    return body


def ip_addresses(svc, now):
    """The IPAddress objects (networking.k8s.io/v1) the ClusterIP allocator keeps per ClusterIP."""
    out = []
    for ip in svc["spec"].get("clusterIPs", []):
        if ip == "None":
            continue
        fam = "IPv6" if ":" in ip else "IPv4"
        name = str(ipaddress.ip_address(ip))
        out.append(("/registry/ipaddresses/" + name, {
            "apiVersion": "networking.k8s.io/v1", "kind": "IPAddress",
            "metadata": {"name": name, "uid": str(uuid.uuid4()), "creationTimestamp": now,
                         "labels": {"ipaddress.kubernetes.io/ip-family": fam,
                                    "ipaddress.kubernetes.io/managed-by": "ipallocator.k8s.io"}},
            "spec": {"parentRef": {"group": "", "resource": "services",
                                   "namespace": svc["metadata"]["namespace"],
                                   "name": svc["metadata"]["name"]}}}))
    return out


def pod_body(i, namespaces, services):
    ns, name, ip = namespaces[i % len(namespaces)], "pod-%d" % i, pod_ip(i)
    return ns, name, {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": ns, "labels": {"app": "svc-%d" % (i % max(1, services))}},
        "spec": {"containers": [{"name": "app", "image": "registry.k8s.io/pause:3.10",
                                 "ports": [{"containerPort": 8080}],
                                 "resources": {"requests": {"cpu": "10m"}}}]}}, ip


def cmd_etcd_load(a):
    """Writes the generated objects (and --pods running Pods, as `pods` makes them, status set)
    straight into the API server's etcd, in JSON, as the API server stores them (with the
    IPAddress object of every ClusterIP, so its allocator's repair loop finds nothing to do):
    the API server's own create path runs at 11-380 objects/s on this machine (1.34's ClusterIP
    allocation and its repair loop), too slow for 100k Services and 150k Pods. The API server
    reads JSON from etcd as it reads its own protobuf, applies defaults on the way, and its watch
    cache follows etcd, so clients see these objects as any others. Transactions of --batch puts,
    --workers at a time, through etcd's HTTP gateway."""
    env = read_env(a.env)
    etcd = env["ETCD_URL"].replace("http://", "")
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    items = []
    if a.objects:
        for line in open(a.objects):
            if not line.strip():
                continue
            o = json.loads(line)
            body = stored(o["body"], now)
            items.append((etcd_key(o["path"], body), body))
            if body["kind"] == "Service":
                items.extend(ip_addresses(body, now))
    if a.pods > a.start:
        namespaces, _ = dataset(a.services)
        for i in range(a.start, a.pods):
            ns, name, body, ip = pod_body(i, namespaces, a.services)
            body = stored(body, now)
            body["spec"]["nodeName"] = "node-%d" % (i % 100)
            body["status"] = {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]}
            items.append(("/registry/pods/%s/%s" % (ns, name), body))
    q = queue.Queue()
    for k in range(0, len(items), a.batch):
        q.put(items[k:k + a.batch])
    stats = {"objects": len(items), "txns": 0, "errors": 0}
    lock = threading.Lock()
    first_err = []

    def b64(x):
        return base64.b64encode(x.encode() if isinstance(x, str) else x).decode()

    def worker():
        c = http.client.HTTPConnection(*etcd.split(":"), timeout=60)
        while True:
            try:
                batch = q.get_nowait()
            except queue.Empty:
                break
            ops = [{"requestPut": {"key": b64(key), "value": b64(json.dumps(body, separators=(",", ":")))}}
                   for key, body in batch]
            c.request("POST", "/v3/kv/txn", body=json.dumps({"success": ops}),
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            out = r.read()
            with lock:
                stats["txns"] += 1
                if r.status != 200 or b'"error"' in out[:200]:
                    stats["errors"] += 1
                    if not first_err:
                        first_err.append("%s %s" % (r.status, out[:300]))
        c.close()

    t0 = time.monotonic()
    ts = [threading.Thread(target=worker) for _ in range(a.workers)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    dt = time.monotonic() - t0
    res = dict(stats, seconds=round(dt, 2), per_second=round(len(items) / dt, 1) if dt > 0 else 0)
    if first_err:
        res["first_error"] = first_err[0]
    print(json.dumps(res))
    if stats["errors"]:
        sys.exit(1)


def pod_ip(i):
    return v4((10, 192), i)


def cmd_pods(a):
    """Creates running pods --start..--pods spread over the namespaces of --services (as gen makes them),
    each with status.podIP set through the status subresource (there is no kubelet): a POST
    and a merge PATCH per pod, --workers at a time. Existing pods are patched again."""
    api = Api(a.env)
    namespaces, _ = dataset(a.services)
    nns = len(namespaces)
    q = queue.Queue()
    for i in range(a.start, a.pods):
        q.put(i)
    stats = {"created": 0, "exists": 0, "errors": 0}
    lock = threading.Lock()
    first_err = []

    def one(c, method, path, body, ctype="application/json"):
        for attempt in range(5):  # bounded retries on connection errors / 429 / 5xx
            try:
                st, out = api.call(c, method, path, body, ctype)
            except (OSError, http.client.HTTPException):
                c.close()
                time.sleep(0.1 * (attempt + 1))
                continue
            if st == 429 or st >= 500:
                time.sleep(0.1 * (attempt + 1))
                continue
            return st, out
        return 599, b"retries exhausted"

    def worker():
        c = api.conn()
        while True:
            try:
                i = q.get_nowait()
            except queue.Empty:
                break
            ns, name, body, ip = pod_body(i, namespaces, a.services)
            st, out = one(c, "POST", "/api/v1/namespaces/%s/pods" % ns, body)
            ok = st in (200, 201, 409)
            if ok:
                patch = {"status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}]}}
                st, out = one(c, "PATCH", "/api/v1/namespaces/%s/pods/%s/status" % (ns, name),
                              patch, "application/merge-patch+json")
                ok = st == 200
            with lock:
                if ok:
                    stats["created"] += 1
                else:
                    stats["errors"] += 1
                    if not first_err:
                        first_err.append("%s %s: %s" % (st, name, out[:300]))
        c.close()

    t0 = time.monotonic()
    ts = [threading.Thread(target=worker) for _ in range(a.workers)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    dt = time.monotonic() - t0
    last = a.pods - 1
    made = a.pods - a.start
    res = dict(stats, pods=a.pods, seconds=round(dt, 2),
               per_second=round(made / dt, 1) if dt > 0 else 0, workers=a.workers,
               check_pod="%s.%s.pod.cluster.local" % (pod_ip(last).replace(".", "-"),
                                                      namespaces[last % nns]),
               check_pod_ip=pod_ip(last), check_namespace=namespaces[last % nns])
    if first_err:
        res["first_error"] = first_err[0]
    print(json.dumps(res))
    if stats["errors"]:
        sys.exit(1)


# ---------------------------------------------------------------- DNS client

QTYPES = {"A": 1, "AAAA": 28, "SRV": 33, "PTR": 12, "TXT": 16}
RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


def build_query(qid, name, qtype):
    q = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    for label in name.rstrip(".").split("."):
        q += bytes([len(label)]) + label.encode()
    return q + b"\x00" + struct.pack(">HH", QTYPES[qtype], 1)


def skip_name(b, i):
    while True:
        l = b[i]
        if l == 0:
            return i + 1
        if l & 0xC0 == 0xC0:
            return i + 2
        i += l + 1


def parse_answer(b):
    """-> (id, rcode name, [A/AAAA addresses and "srv:PORT" of SRV records in the answer section])."""
    qid, flags, qd, an = struct.unpack(">HHHH", b[:8])
    i = 12
    for _ in range(qd):
        i = skip_name(b, i) + 4
    addrs = []
    for _ in range(an):
        i = skip_name(b, i)
        t, _, _, rdlen = struct.unpack(">HHIH", b[i:i + 10])
        i += 10
        if t == 1 and rdlen == 4:
            addrs.append(socket.inet_ntop(socket.AF_INET, b[i:i + 4]))
        elif t == 28 and rdlen == 16:
            addrs.append(socket.inet_ntop(socket.AF_INET6, b[i:i + 16]))
        elif t == 33 and rdlen >= 6:
            addrs.append("srv:%d" % struct.unpack(">H", b[i + 4:i + 6])[0])
        i += rdlen
    return qid, RCODES.get(flags & 15, str(flags & 15)), addrs


class Prober:
    """One UDP socket asking one server; `ask` waits at most `timeout` seconds."""

    def __init__(self, server):
        host, port = server.rsplit(":", 1)
        self.addr = (host, int(port))
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.qid = random.randrange(65536)

    def ask(self, name, qtype="A", timeout=0.05):
        self.qid = (self.qid + 1) & 0xFFFF
        self.s.sendto(build_query(self.qid, name, qtype), self.addr)
        end = time.monotonic() + timeout
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return None, []
            self.s.settimeout(left)
            try:
                b, _ = self.s.recvfrom(4096)
            except (socket.timeout, ConnectionRefusedError):
                if time.monotonic() < end:
                    time.sleep(min(0.002, max(0, end - time.monotonic())))
                    continue
                return None, []
            try:
                qid, rc, addrs = parse_answer(b)
            except (struct.error, IndexError):
                continue
            if qid == self.qid:
                return rc, addrs


def http_ok(url):
    try:
        with urllib.request.urlopen(url, timeout=0.2) as r:
            return r.status == 200
    except OSError:
        return False


def cmd_wait_answer(a):
    """Polls every `interval` until the server answers `name` with `expect`."""
    p = Prober(a.server)
    if a.t0_file:
        # Armed: the caller starts the clock and the server now, and writes the clock's start.
        open(a.t0_file, "w").close()
        while not os.path.exists(a.t0_file + ".t0"):
            time.sleep(0.0005)
        with open(a.t0_file + ".t0") as f:
            t0 = int(f.read()) / 1e9
    else:
        t0 = a.t0_ns / 1e9
    deadline = time.time() + a.timeout
    res = {"answer_ms": None, "ready_ms": None, "first_reply_ms": None, "replies_before": {}}
    while time.time() < deadline:
        rc, addrs = p.ask(a.name, "A", timeout=0.05)
        now = time.time()
        if rc is not None:
            if res["first_reply_ms"] is None:
                res["first_reply_ms"] = round((now - t0) * 1000, 1)
            if rc == "NOERROR" and a.expect in addrs:
                res["answer_ms"] = round((now - t0) * 1000, 1)
                break
            res["replies_before"][rc] = res["replies_before"].get(rc, 0) + 1
        time.sleep(a.interval)
    if a.ready_url and res["answer_ms"] is not None:
        while time.time() < deadline:
            if http_ok(a.ready_url):
                res["ready_ms"] = round((time.time() - t0) * 1000, 1)
                break
            time.sleep(a.interval)
    print(json.dumps(res))
    if res["answer_ms"] is None:
        sys.exit(1)


def pct(xs, p):
    """Nearest-rank percentile."""
    if not xs:
        return None
    xs = sorted(xs)
    k = max(0, min(len(xs) - 1, int(-(-p * len(xs) // 100)) - 1))
    return xs[k]


def summary(xs):
    if not xs:
        return {"n": 0}
    return {"n": len(xs), "p50": round(pct(xs, 50), 2), "p90": round(pct(xs, 90), 2),
            "p99": round(pct(xs, 99), 2), "max": round(max(xs), 2),
            "mean": round(sum(xs) / len(xs), 2)}


def cmd_create_latency(a):
    api = Api(a.env)
    servers = dict(s.split("=", 1) for s in a.servers.split(","))
    probers = {k: Prober(v) for k, v in servers.items()}
    lat = {k: [] for k in servers}
    misses = {k: 0 for k in servers}
    conn = api.conn()
    created = []
    run = "cr%x" % (int(time.time()) & 0xFFFFFF)
    t_all = time.monotonic()
    for k in range(a.count):
        if time.monotonic() - t_all > a.max_seconds:
            break
        name = "%s-%d" % (run, k)
        body = {"apiVersion": "v1", "kind": "Service",
                "metadata": {"name": name, "namespace": a.namespace},
                "spec": {"ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
                         "selector": {"app": name}}}
        st, resp = api.call(conn, "POST", "/api/v1/namespaces/%s/services" % a.namespace, body)
        ack = time.monotonic()
        if st != 201:
            print("create %s: HTTP %s %s" % (name, st, resp[:200]), file=sys.stderr)
            sys.exit(1)
        created.append(name)
        ip = json.loads(resp)["spec"]["clusterIP"]
        fq = "%s.%s.svc.cluster.local" % (name, a.namespace)
        pending = set(servers)
        while pending and time.monotonic() - ack < a.timeout:
            for srv in sorted(pending):
                rc, addrs = probers[srv].ask(fq, "A", timeout=0.02)
                if rc == "NOERROR" and ip in addrs:
                    lat[srv].append((time.monotonic() - ack) * 1000)
                    pending.discard(srv)
        for srv in pending:
            misses[srv] += 1
        time.sleep(a.gap)
    if a.cleanup:
        for name in created:
            api.call(conn, "DELETE", "/api/v1/namespaces/%s/services/%s" % (a.namespace, name))
    out = {srv: dict(summary(v), missed=misses[srv]) for srv, v in lat.items()}
    print(json.dumps(out))
    if any(misses.values()) or not created:
        sys.exit(1)


def cmd_program_latency(a):
    """Changes Services at --rate per second for --seconds and measures, per DNS server, the
    time from the API server's acknowledgement of each change to the first answer showing it.
    Change k sets the `http` port of the k-th ClusterIP Service of the data set (`gen
    --services`, taken round robin, so every change is to another Service) to a new number with
    a JSON merge patch; it is shown when `_http._tcp.SVC.NS.svc.cluster.local` SRV answers with
    that port. --writers threads, each with its own connection, follow one schedule (change k is
    due at t0 + k/rate). One poller asks every server about every pending change, all queries of
    a sweep sent before any answer is read, every --interval seconds; a change not shown within
    --timeout counts as missed. The Services keep their last port (the data set's is 80).
    A watch of Services of its own (JSON, from before the first change) timestamps when the API
    server delivered each change to a watcher: `from_watch` is the time from there to the
    answer, the server's own share (the API server's delivery, which the rig's one core for it
    stretches, is the difference)."""
    api = Api(a.env)
    servers = dict(s.split("=", 1) for s in a.servers.split(","))
    socks = {}
    for srv, hp in servers.items():
        host, port = hp.rsplit(":", 1)
        sk = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sk.connect((host, int(port)))
        sk.setblocking(False)
        socks[srv] = sk
    _, svcs = dataset(a.services)
    targets = [(s["name"], s["ns"]) for s in svcs if s["kind"] == "clusterip"]
    lock = threading.Lock()
    nxt = [0]
    pending = {}  # change id -> [SRV name, port, ack, servers left]
    lat = {srv: [] for srv in servers}
    writes = {"changes": 0, "failed": 0, "ack_ms": []}
    t0 = time.monotonic() + 0.2
    total = int(a.rate * a.seconds)
    base = 20000 + random.randrange(20000)
    first_err = []

    def change(conn, k):
        name, ns = targets[k % len(targets)]
        port = base + k % 20000
        body = {"spec": {"ports": [{"name": "http", "port": port, "protocol": "TCP", "targetPort": 80}]}}
        t = time.monotonic()
        st, resp = api.call(conn, "PATCH", "/api/v1/namespaces/%s/services/%s" % (ns, name), body,
                            "application/merge-patch+json")
        ack = time.monotonic()
        with lock:
            if st != 200:
                writes["failed"] += 1
                if not first_err:
                    first_err.append("%s %s: %s" % (st, name, resp[:200]))
                return
            writes["changes"] += 1
            writes["ack_ms"].append((ack - t) * 1000)
            pending[k] = ["_http._tcp.%s.%s.svc.cluster.local" % (name, ns), port, ack, set(servers)]

    def writer():
        conn = api.conn()
        while True:
            with lock:
                k = nxt[0]
                nxt[0] += 1
            if k >= total:
                break
            time.sleep(max(0.0, t0 + k / a.rate - time.monotonic()))
            try:
                change(conn, k)
            except (OSError, http.client.HTTPException) as e:
                conn.close()
                conn = api.conn()
                with lock:
                    writes["failed"] += 1
                    if not first_err:
                        first_err.append("change %d: %s" % (k, e))
        conn.close()

    shown_at = {srv: [] for srv in servers}
    delivered = {}  # (SRV name, port) -> when the watch saw it
    st, resp = api.call(api.conn(), "GET", "/api/v1/services?limit=1")
    watch_rv = json.loads(resp)["metadata"]["resourceVersion"]
    watch_stop = threading.Event()

    def watcher():
        c = api.conn()
        c.request("GET", "/api/v1/services?watch=1&resourceVersion=%s" % watch_rv,
                  headers={"Authorization": "Bearer " + api.token, "Accept": "application/json"})
        r = c.getresponse()
        while not watch_stop.is_set():
            line = r.readline()
            if not line:
                break
            at = time.monotonic()
            try:
                o = json.loads(line)["object"]
                m = o["metadata"]
                for p in o.get("spec", {}).get("ports", []):
                    if p.get("name") == "http":
                        key = ("_http._tcp.%s.%s.svc.cluster.local" % (m["name"], m["namespace"]), p["port"])
                        with lock:
                            delivered.setdefault(key, at)
            except (ValueError, KeyError, TypeError):
                continue
        c.close()

    wt = threading.Thread(target=watcher, daemon=True)
    wt.start()
    ws = [threading.Thread(target=writer) for _ in range(a.writers)]
    for w in ws:
        w.start()
    missed = {srv: 0 for srv in servers}
    qid = random.randrange(65536)
    while any(w.is_alive() for w in ws) or pending:
        with lock:
            items = [(k, v[0], v[2], set(v[3])) for k, v in pending.items()]
        now = time.monotonic()
        asked = {}  # (server, qid) -> change id
        for k, name, ack, left in items:
            if now - ack > a.timeout:
                with lock:
                    for srv in left:
                        missed[srv] += 1
                    pending.pop(k, None)
                continue
            for srv in left:
                qid = (qid + 1) & 0xFFFF
                asked[(srv, qid)] = k
                try:
                    socks[srv].send(build_query(qid, name, "SRV"))
                except OSError:
                    pass
        end = time.monotonic() + 0.05
        while asked and time.monotonic() < end:
            r, _, _ = select.select(list(socks.values()), [], [], max(0.0, end - time.monotonic()))
            for srv, sk in socks.items():
                if sk not in r:
                    continue
                try:
                    b = sk.recv(4096)
                    q, rc, addrs = parse_answer(b)
                except (OSError, struct.error, IndexError):
                    continue
                k = asked.pop((srv, q), None)
                if k is None:
                    continue
                seen = time.monotonic()
                with lock:
                    v = pending.get(k)
                    if v is None or srv not in v[3]:
                        continue
                    name, port, ack, left = v
                    if rc == "NOERROR" and "srv:%d" % port in addrs:
                        lat[srv].append((seen - ack) * 1000)
                        shown_at[srv].append((name, port, seen))
                        left.discard(srv)
                        if not left:
                            pending.pop(k)
        time.sleep(a.interval)
    for w in ws:
        w.join()
    elapsed = time.monotonic() - t0
    out = {"rate": a.rate, "seconds": a.seconds,
           "writes": {"changes": writes["changes"], "failed": writes["failed"],
                      "per_second": round(writes["changes"] / elapsed, 1),
                      "ack_ms": summary(writes["ack_ms"])}}
    watch_stop.set()
    for srv in servers:
        own = [(seen - delivered[(n, p)]) * 1000 for n, p, seen in shown_at[srv] if (n, p) in delivered]
        out[srv] = dict(summary(lat[srv]), missed=missed[srv], from_watch=summary(own))
    if first_err:
        out["first_error"] = first_err[0]
    print(json.dumps(out))
    if writes["failed"] or any(missed.values()):
        sys.exit(1)


def cmd_churn(a):
    """Changes one EndpointSlice in its own namespace every `interval` seconds for `seconds`:
    the endpoint churn of a rolling deployment, somewhere other than the names being asked."""
    api = Api(a.env)
    conn = api.conn()
    ns = a.namespace
    api.call(conn, "POST", "/api/v1/namespaces",
             {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    api.call(conn, "POST", "/api/v1/namespaces/%s/services" % ns,
             {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "churn", "namespace": ns},
              "spec": {"clusterIP": "None", "ports": [{"name": "http", "port": 80}]}})
    path = "/apis/discovery.k8s.io/v1/namespaces/%s/endpointslices" % ns

    def slice_body(k):
        return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
                "metadata": {"name": "churn-1", "namespace": ns,
                             "labels": {"kubernetes.io/service-name": "churn"}},
                "addressType": "IPv4", "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
                "endpoints": [{"addresses": ["10.200.%d.%d" % ((k // 250) % 250, k % 250 + 1)],
                               "conditions": {"ready": True}}]}
    api.call(conn, "POST", path, slice_body(0))
    t_end = time.monotonic() + a.seconds
    n, failed = 0, 0
    while time.monotonic() < t_end:
        n += 1
        st, _ = api.call(conn, "PUT", path + "/churn-1", slice_body(n))
        failed += st != 200
        time.sleep(a.interval)
    print(json.dumps({"changes": n, "failed": failed}))
    sys.exit(1 if failed else 0)


# ---------------------------------------------------------------- dnsperf output


def cmd_dnsperf(a):
    r = {"rcodes": {}}
    lats = []
    for line in open(a.file, errors="replace"):
        s = line.strip()
        if s.startswith("> "):
            parts = s.split()
            try:
                lats.append(float(parts[-1]) * 1000)
            except ValueError:
                pass
        elif s.startswith("Queries sent:"):
            r["sent"] = int(s.split()[2])
        elif s.startswith("Queries completed:"):
            r["completed"] = int(s.split()[2])
        elif s.startswith("Queries lost:"):
            r["lost"] = int(s.split()[2])
        elif s.startswith("Queries per second:"):
            r["qps"] = float(s.split()[3])
        elif s.startswith("Run time (s):"):
            r["seconds"] = float(s.split()[3])
        elif s.startswith("Average Latency (s):"):
            r["avg_ms"] = round(float(s.split()[3]) * 1000, 3)
        elif s.startswith("Response codes:"):
            toks = s.split(":", 1)[1].replace(",", " ").split()
            for i in range(0, len(toks) - 1, 3):
                try:
                    r["rcodes"][toks[i]] = int(toks[i + 1])
                except ValueError:
                    pass
    if lats:
        r["latency_ms"] = {k: round(v, 3) for k, v in
                           (("p50", pct(lats, 50)), ("p90", pct(lats, 90)),
                            ("p99", pct(lats, 99)), ("p999", pct(lats, 99.9)),
                            ("max", max(lats)))}
        r["latency_n"] = len(lats)
    print(json.dumps(r))


# ---------------------------------------------------------------- report


def fmt(v, unit=""):
    if v is None:
        return "—"
    if isinstance(v, float):
        v = round(v, 2) if abs(v) < 100 else int(round(v))
    return "%s%s" % (v, unit)


def cmd_table(a):
    R = json.load(open(a.results))
    rows = []

    def row(what, k, c, unit, target, better_low, note="", ratio=None):
        if ratio is None and isinstance(k, (int, float)) and isinstance(c, (int, float)) and c:
            ratio = k / c
        ok = ""
        if ratio is not None and target is not None:
            ok = "yes" if ((ratio <= target) if better_low else (ratio >= target)) else "**no**"
        rows.append("| %s | %s | %s | %s | %s%s | %s |%s" % (
            what, fmt(k, unit), fmt(c, unit), fmt(ratio and round(ratio, 2)),
            ("≤ " if better_low else "≥ ") if target is not None else "",
            fmt(target) if target is not None else "", ok, note))

    def paired(m, a, b, field):
        """Median of the per-round ratios a/b (the two runs of a round are back to back)."""
        rs = [x.get(field) / y.get(field) for x, y in zip(m[a]["runs"], m[b]["runs"])
              if x and y and x.get(field) and y.get(field)]
        return round(pct(rs, 50), 2) if rs else None

    for q in ("hits", "search", "hits_nocache", "search_nocache"):
        m = R.get("max_" + q)
        if not m:
            continue
        k, c = m["kdns"]["qps_med"], m["coredns"]["qps_med"]
        row("max QPS, %s (1 core)" % q.replace("_", " "), k, c, "", 2.5, False,
            ratio=paired(m, "kdns", "coredns", "qps"))
        row("QPS per busy server core, %s" % q.replace("_", " "), m["kdns"].get("qps_per_core_med"),
            m["coredns"].get("qps_per_core_med"), "", None, False,
            ratio=paired(m, "kdns", "coredns", "qps_per_core"))
        if "echo" in m:
            target = "≥ 0.5" if q == "hits" else ""
            met = ("yes" if (paired(m, "kdns", "echo", "qps") or 0) >= 0.5 else "**no**") if target else ""
            rows.append("| max QPS %s, kdns / echo ceiling | %s | echo %s | %s | %s | %s |" % (
                q, fmt(k), fmt(m["echo"]["qps_med"]), paired(m, "kdns", "echo", "qps"), target, met))
            rows.append("| QPS per busy core %s, kdns / echo | %s | echo %s | %s | | |" % (
                q, fmt(m["kdns"].get("qps_per_core_med")), fmt(m["echo"].get("qps_per_core_med")),
                paired(m, "kdns", "echo", "qps_per_core")))
            # The most any server can show in this rig: dnsperf's one core is the limit.
            rows.append("| rig ceiling %s: echo / CoreDNS max QPS | | | %s | | |" % (
                q, paired(m, "echo", "coredns", "qps")))
    for q in ("hits", "search"):
        C = R.get("churn_" + q)
        if not (C and "kdns" in C and "coredns" in C):
            continue
        row("max QPS, %s, 20 changes/s in another namespace" % q, C["kdns"]["qps_med"],
            C["coredns"]["qps_med"], "", None, False, ratio=paired(C, "kdns", "coredns", "qps"))
        Q = R.get("max_" + q)
        if Q:
            for field, what in (("qps_med", "max QPS"), ("qps_per_core_med", "QPS per busy core")):
                k = [C["kdns"].get(field), Q["kdns"].get(field)]
                c = [C["coredns"].get(field), Q["coredns"].get(field)]
                ok = lambda v: round(v[0] / v[1], 2) if all(v) else None
                met = "" if ok(k) is None else ("yes" if ok(k) >= 0.9 else "**no**")
                rows.append("| %s %s under churn / quiet, same server | %s | %s | | ≥ 0.9 (kdns) | %s |" % (
                    what, q, ok(k), ok(c), met))
            if "echo" in C and "echo" in Q:
                # The rig's own loss under churn (the echo does no DNS work): kdns's share of the
                # echo under churn over its share quiet is what churn costs kdns itself.
                e = [C["echo"].get("qps_med"), Q["echo"].get("qps_med")]
                kq = [paired(C, "kdns", "echo", "qps"), paired(Q, "kdns", "echo", "qps")]
                met = "" if ok(kq) is None else ("yes" if ok(kq) >= 0.9 else "**no**")
                rows.append("| echo %s under churn / quiet (the rig's own loss) | | | %s | | |" % (q, ok(e)))
                rows.append("| kdns/echo %s under churn / kdns/echo quiet | %s | | | ≥ 0.9 | %s |" % (
                    q, ok(kq), met))
    L = R.get("latency")
    if L:
        for p in ("p50", "p99"):
            row("%s latency at %d QPS (ms)" % (p, L["qps"]), L["kdns"]["latency_ms"][p],
                L["coredns"]["latency_ms"][p], "", 0.5 if p == "p99" else None, True)
    M = R.get("memory")
    if M:
        row("RSS steady (MB)", M["kdns"]["steady_rss_mb"], M["coredns"]["steady_rss_mb"], "",
            0.5, True)
        if "relist_hwm_mb" in M["kdns"]:
            row("RSS peak in relist (MB)", M["kdns"]["relist_hwm_mb"],
                M["coredns"].get("relist_hwm_mb"), "", None, True)
            for srv in ("kdns", "coredns"):
                M[srv]["relist_ratio"] = round(M[srv]["relist_hwm_mb"] / M[srv]["steady_rss_mb"], 2)
            rows.append("| relist peak / own steady | %s | %s | — | kdns ≤ 1.3 | %s |" % (
                M["kdns"]["relist_ratio"], M["coredns"]["relist_ratio"],
                "yes" if M["kdns"]["relist_ratio"] <= 1.3 else "**no**"))
    S = R.get("startup")
    if S:
        row("start → correct answer (ms)", S["kdns"]["answer_ms"], S["coredns"]["answer_ms"], "",
            0.5, True)
        if "cpu_ms" in S["kdns"]:
            row("CPU used from start to ready (ms)", S["kdns"]["cpu_ms"], S["coredns"]["cpu_ms"], "",
                None, True)
    C = R.get("create")
    if C:
        row("create → answer p99 (ms)", C["kdns"].get("p99"), C["coredns"].get("p99"), "", None,
            True, " target kdns ≤ 100 ms: %s" % (
                "yes" if (C["kdns"].get("p99") or 1e9) <= 100 else "**no**"))
    P = R.get("program")
    if P:
        for p in ("p50", "p99"):
            row("change → answer %s, %g Service changes/s (ms)" % (p, P["rate"]), P["kdns"].get(p),
                P["coredns"].get(p), "", None, True)
        for p in ("p50", "p99"):
            row("watch delivery → answer %s (the server's own share, ms)" % p,
                P["kdns"].get("from_watch", {}).get(p), P["coredns"].get("from_watch", {}).get(p), "", None, True)
    m = R.get("machine", {})
    if m.get("kdns_build", "release") != "release":
        print("**kdns %s build: a harness check, the ratios mean nothing.**\n" % m["kdns_build"])
    print("| metric | kdns | CoreDNS | kdns/CoreDNS | target | met |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))
    print("\nQPS rows: medians over the rounds; the ratio is the median of the per-round ratios "
          "(kdns and CoreDNS measured back to back in each round, order alternating).")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    g = sub.add_parser("gen")
    g.add_argument("--services", type=int, required=True)
    g.add_argument("--queries", type=int, default=20000)
    g.add_argument("--out", required=True)
    g = sub.add_parser("load")
    g.add_argument("--env", required=True)
    g.add_argument("--objects", required=True)
    g.add_argument("--workers", type=int, default=16)
    g = sub.add_parser("etcd-load")
    g.add_argument("--env", required=True)
    g.add_argument("--objects", help="objects.jsonl of `gen`")
    g.add_argument("--services", type=int, default=0, help="the data set's size, for --pods")
    g.add_argument("--pods", type=int, default=0)
    g.add_argument("--start", type=int, default=0, help="the first pod index")
    g.add_argument("--batch", type=int, default=100)
    g.add_argument("--workers", type=int, default=4)
    g = sub.add_parser("pods")
    g.add_argument("--env", required=True)
    g.add_argument("--services", type=int, required=True)
    g.add_argument("--pods", type=int, required=True)
    g.add_argument("--start", type=int, default=0)
    g.add_argument("--workers", type=int, default=16)
    g = sub.add_parser("wait-answer")
    g.add_argument("--server", required=True)
    g.add_argument("--name", required=True)
    g.add_argument("--expect", required=True)
    t = g.add_mutually_exclusive_group(required=True)
    t.add_argument("--t0-ns", type=int, help="the server's start (ns since the epoch)")
    t.add_argument("--t0-file", help="arm, create this file, then read the start from FILE.t0")
    g.add_argument("--timeout", type=float, default=120)
    g.add_argument("--interval", type=float, default=0.005)
    g.add_argument("--ready-url")
    g = sub.add_parser("create-latency")
    g.add_argument("--env", required=True)
    g.add_argument("--servers", required=True, help="name=host:port,...")
    g.add_argument("--namespace", required=True)
    g.add_argument("--count", type=int, default=200)
    g.add_argument("--timeout", type=float, default=10)
    g.add_argument("--gap", type=float, default=0.02)
    g.add_argument("--max-seconds", type=float, default=300)
    g.add_argument("--cleanup", action="store_true")
    g = sub.add_parser("program-latency")
    g.add_argument("--env", required=True)
    g.add_argument("--servers", required=True, help="name=host:port,...")
    g.add_argument("--services", type=int, required=True, help="the data set's size (gen --services)")
    g.add_argument("--rate", type=float, default=100, help="Service changes per second")
    g.add_argument("--seconds", type=float, default=20)
    g.add_argument("--writers", type=int, default=8)
    g.add_argument("--timeout", type=float, default=10)
    g.add_argument("--interval", type=float, default=0.002)
    g = sub.add_parser("churn")
    g.add_argument("--env", required=True)
    g.add_argument("--namespace", default="bench-churn")
    g.add_argument("--seconds", type=float, required=True)
    g.add_argument("--interval", type=float, default=0.05)
    g = sub.add_parser("dnsperf")
    g.add_argument("file")
    g = sub.add_parser("table")
    g.add_argument("results")
    a = ap.parse_args()
    {"gen": cmd_gen, "load": cmd_load, "etcd-load": cmd_etcd_load, "pods": cmd_pods, "wait-answer": cmd_wait_answer,
     "create-latency": cmd_create_latency,
     "program-latency": cmd_program_latency, "churn": cmd_churn, "dnsperf": cmd_dnsperf,
     "table": cmd_table}[a.cmd](a)


if __name__ == "__main__":
    main()
