//! Differential test: CoreDNS 1.14.7 and kdns watch the same real kube-apiserver and are asked
//! the same questions; every answer must match (rcode, flags AA/TC, and each section as a set;
//! the SOA serial is left out: each server stamps its own change time).
mod common;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::cluster::{Cluster, SERIAL};
use common::{wait_until, Kdns};
use hickory_server::proto::op::{Message, Query};
use hickory_server::proto::rr::{Name, RecordType};

struct CoreDns(Child);

impl Drop for CoreDns {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
    s.local_addr().unwrap().port()
}

fn start_coredns(kubeconfig: &Path, dir: &Path) -> (CoreDns, std::net::SocketAddr) {
    let bin =
        std::env::var("KDNS_TOOLS_BIN").unwrap_or_else(|_| "/var/cache/kdns-tools/bin".into());
    let port = free_port();
    let conf = dir.join("Corefile.coredns");
    std::fs::write(
        &conf,
        format!(
            "cluster.local:{port} in-addr.arpa:{port} ip6.arpa:{port} {{\n bind 127.0.0.1\n kubernetes cluster.local in-addr.arpa ip6.arpa {{\n  kubeconfig {}\n  pods insecure\n }}\n}}\n",
            kubeconfig.display()
        ),
    )
    .unwrap();
    let child = Command::new(Path::new(&bin).join("coredns"))
        .arg("-conf")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("coredns from scripts/build-tools.sh");
    (CoreDns(child), format!("127.0.0.1:{port}").parse().unwrap())
}

/// The comparable form of an answer.
fn ask(addr: std::net::SocketAddr, name: &str, qtype: RecordType, tcp: bool) -> Option<String> {
    let mut m = Message::query();
    m.metadata.id = rand::random();
    m.metadata.recursion_desired = true;
    m.add_query(Query::query(Name::from_ascii(name).unwrap(), qtype));
    let bytes = m.to_vec().unwrap();
    let resp = if tcp {
        use std::io::{Read, Write};
        let mut s = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        let mut framed = (bytes.len() as u16).to_be_bytes().to_vec();
        framed.extend_from_slice(&bytes);
        s.write_all(&framed).ok()?;
        let mut len = [0u8; 2];
        s.read_exact(&mut len).ok()?;
        let mut buf = vec![0u8; u16::from_be_bytes(len) as usize];
        s.read_exact(&mut buf).ok()?;
        buf
    } else {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").ok()?;
        s.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
        s.send_to(&bytes, addr).ok()?;
        let mut buf = vec![0u8; 65535];
        let (n, _) = s.recv_from(&mut buf).ok()?;
        buf.truncate(n);
        buf
    };
    let r = Message::from_vec(&resp).ok()?;
    let section = |rs: &[hickory_server::proto::rr::Record]| -> BTreeSet<String> {
        rs.iter()
            .map(|r| {
                let s = r.to_string();
                if r.record_type() == RecordType::SOA {
                    // owner ttl class SOA mname rname serial refresh retry expire minimum
                    let f: Vec<&str> = s.split_whitespace().collect();
                    let mut f: Vec<String> = f.iter().map(|x| x.to_string()).collect();
                    if f.len() > 6 {
                        f[6] = "<serial>".into();
                    }
                    f.join(" ")
                } else {
                    s
                }
            })
            .collect()
    };
    Some(format!(
        "{:?} aa={} tc={}\n answer {:?}\n authority {:?}\n additional {:?}",
        r.metadata.response_code,
        r.metadata.authoritative,
        r.metadata.truncation,
        section(&r.answers),
        section(&r.authorities),
        section(&r.additionals),
    ))
}

fn questions() -> Vec<(String, RecordType)> {
    use RecordType::*;
    let mut q = Vec::new();
    let names = [
        "web.shop.svc.cluster.local.",
        "Web.Shop.svc.Cluster.Local.",
        "db.shop.svc.cluster.local.",
        "db-0.db.shop.svc.cluster.local.",
        "10-1-0-11.db.shop.svc.cluster.local.",
        "2001-db8--1.db.shop.svc.cluster.local.",
        "db-2.db.shop.svc.cluster.local.",
        "10-1-0-5.web.shop.svc.cluster.local.",
        "_http._tcp.web.shop.svc.cluster.local.",
        "_dns._udp.web.shop.svc.cluster.local.",
        "_pg._tcp.db.shop.svc.cluster.local.",
        "_nope._tcp.db.shop.svc.cluster.local.",
        "http.tcp.web.shop.svc.cluster.local.",
        "empty-headless.shop.svc.cluster.local.",
        "search.shop.svc.cluster.local.",
        "nope.shop.svc.cluster.local.",
        "shop.svc.cluster.local.",
        "nons.svc.cluster.local.",
        "svc.cluster.local.",
        "pod.cluster.local.",
        "cluster.local.",
        "dns-version.cluster.local.",
        "10-1-0-5.shop.pod.cluster.local.",
        "10-1-0-5.nons.pod.cluster.local.",
        "a.b.c.web.shop.svc.cluster.local.",
        "web.shop.nosuch.cluster.local.",
        "kubernetes.default.svc.cluster.local.",
        "ns.dns.cluster.local.",
    ];
    for n in names {
        for t in [A, AAAA, SRV, TXT, CNAME, MX, NS, SOA, PTR] {
            q.push((n.to_string(), t));
        }
    }
    for ip in [
        "20.0.96.10",
        "5.0.1.10",
        "10.0.1.10",
        "11.0.1.10",
        "12.0.1.10",
        "9.9.9.10",
        "1.0.96.10",
    ] {
        q.push((format!("{ip}.in-addr.arpa."), PTR));
    }
    q.push((
        "0.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa.".into(),
        PTR,
    ));
    q.push((
        "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa.".into(),
        PTR,
    ));
    q.push(("0.10.in-addr.arpa.".into(), PTR));
    q
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs kube-apiserver, etcd and CoreDNS: scripts/build-tools.sh"]
async fn kdns_answers_as_coredns_does() {
    let _g = SERIAL.lock().await;
    let cluster = Cluster::start();
    let fixture = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/cluster");
    let (ok, out) = cluster.kubectl(&["apply", "-f", fixture]);
    assert!(ok, "{out}");
    let (_coredns, cd) = start_coredns(&cluster.kubeconfig(), cluster.dir.path());
    let corefile = format!(
        "cluster.local:0 in-addr.arpa:0 ip6.arpa:0 {{\n bind 127.0.0.1\n kubernetes cluster.local in-addr.arpa ip6.arpa {{\n  kubeconfig {}\n  pods insecure\n }}\n}}\n",
        cluster.kubeconfig().display()
    );
    let k = Kdns::start(&corefile, None);
    // Both synced: the last object of the fixture answers on both.
    for addr in [cd, k.addr] {
        let synced = wait_until(Duration::from_secs(20), || {
            ask(
                addr,
                "db-0.db.shop.svc.cluster.local.",
                RecordType::A,
                false,
            )
            .is_some_and(|a| a.contains("10.1.0.10"))
        });
        assert!(synced.is_some(), "{addr} never synced");
    }
    let qs = questions();
    let mut diffs = Vec::new();
    let mut compared = 0;
    for (name, t) in &qs {
        for tcp in [false, true] {
            let a = ask(cd, name, *t, tcp).unwrap_or_else(|| "no answer".into());
            let b = ask(k.addr, name, *t, tcp).unwrap_or_else(|| "no answer".into());
            compared += 1;
            if a != b {
                diffs.push(format!(
                    "{name} {t} tcp={tcp}\n CoreDNS: {a}\n kdns:    {b}"
                ));
            }
        }
    }
    println!(
        "compared {compared} answers with CoreDNS 1.14.7: {} differ",
        diffs.len()
    );
    for d in &diffs {
        println!("{d}");
    }
    assert!(
        diffs.is_empty(),
        "{} of {compared} answers differ from CoreDNS",
        diffs.len()
    );
}
