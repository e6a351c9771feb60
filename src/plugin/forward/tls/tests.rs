//! `tls://` upstreams: the Corefile forms and errors, and exchanges with a small DNS-over-TLS
//! responder on 127.0.0.1 (rustls's server with the test CA's certificate).
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hickory_server::proto::rr::{Name, RecordType};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::super::config::{ForwardConfig, Target};
use super::super::conn::Transport;
use super::super::error::ExchangeError;
use super::super::health::Probe;
use super::super::upstream::{query_wire, Upstream};
use super::{build, Dialer, TlsClient};
use crate::config::{load_str, Plugin};
use crate::dns::Proto;

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/tls")
        .join(name)
}

fn fwd(text: &str) -> Result<ForwardConfig, String> {
    let text = text.replace("{FX}", &fixture("").display().to_string());
    let c = load_str(&text, Path::new("/etc/kdns/Corefile"), 53).map_err(|e| e.to_string())?;
    c.blocks[0]
        .plugins
        .iter()
        .find_map(|p| match p {
            Plugin::Forward(f) => Some((**f).clone()),
            _ => None,
        })
        .ok_or_else(|| "no forward".into())
}

fn target(addr: &str, tls: Option<&str>) -> Target {
    Target {
        addr: addr.parse().unwrap(),
        tls: tls.map(|n| ServerName::try_from(n.to_string()).unwrap()),
    }
}

#[test]
fn upstream_forms() {
    for (to, want) in [
        (
            "tls://127.0.0.1",
            vec![target("127.0.0.1:853", Some("127.0.0.1"))],
        ),
        (
            "tls://127.0.0.1:10853",
            vec![target("127.0.0.1:10853", Some("127.0.0.1"))],
        ),
        ("tls://[::1]", vec![target("[::1]:853", Some("::1"))]),
        (
            "tls://[::1]:10853",
            vec![target("[::1]:10853", Some("::1"))],
        ),
        (
            "tls://9.9.9.9%dns.quad9.net",
            vec![target("9.9.9.9:853", Some("dns.quad9.net"))],
        ),
        (
            "tls://9.9.9.9%dns.quad9.net:10853",
            vec![target("9.9.9.9:10853", Some("dns.quad9.net"))],
        ),
        (
            "tls://[2620:fe::fe%dns.quad9.net]:853",
            vec![target("[2620:fe::fe]:853", Some("dns.quad9.net"))],
        ),
        (
            "tls://[2620:fe::fe%dns.quad9.net]",
            vec![target("[2620:fe::fe]:853", Some("dns.quad9.net"))],
        ),
        // Mixed in one line, as CoreDNS allows; the address decides duplicates, the first wins.
        (
            "10.0.0.1 tls://10.0.0.2 dns://10.0.0.3",
            vec![
                target("10.0.0.1:53", None),
                target("10.0.0.2:853", Some("10.0.0.2")),
                target("10.0.0.3:53", None),
            ],
        ),
        (
            "10.0.0.1:853 tls://10.0.0.1",
            vec![target("10.0.0.1:853", None)],
        ),
        (
            "tls://10.0.0.1 10.0.0.1:853",
            vec![target("10.0.0.1:853", Some("10.0.0.1"))],
        ),
    ] {
        let f = fwd(&format!(".:53 {{\n forward . {to}\n}}\n")).unwrap();
        assert_eq!(f.to, want, "{to}");
        assert_eq!(
            f.tls.is_some(),
            want.iter().any(|t| t.tls.is_some()),
            "{to}"
        );
    }
}

#[test]
fn tls_servername_names_every_tls_upstream() {
    let f = fwd(".:53 {\n forward . tls://1.1.1.1 tls://1.0.0.1 10.0.0.1 {\n  tls_servername cloudflare-dns.com\n  policy sequential\n }\n}\n").unwrap();
    assert_eq!(
        f.to,
        vec![
            target("1.1.1.1:853", Some("cloudflare-dns.com")),
            target("1.0.0.1:853", Some("cloudflare-dns.com")),
            target("10.0.0.1:53", None),
        ]
    );
    let f = fwd(
        ".:53 {\n forward . 10.0.0.1 {\n  tls {FX}/ca.pem\n  tls_servername x.example\n }\n}\n",
    )
    .unwrap();
    assert!(f.tls.is_none(), "no tls:// upstream, no TLS client");
}

#[test]
fn tls_argument_counts_load() {
    for opt in [
        "tls",
        "tls {FX}/ca.pem",
        "tls {FX}/server.pem {FX}/server.key",
        "tls {FX}/server.pem {FX}/server.key {FX}/ca.pem",
        "tls {FX}/ca.pem\n  tls",
    ] {
        let text = format!(".:53 {{\n forward . tls://127.0.0.1 {{\n  {opt}\n }}\n}}\n");
        let f = fwd(&text).unwrap_or_else(|e| panic!("{opt}: {e}"));
        assert!(f.tls.is_some(), "{opt}");
    }
    // Relative paths are taken from the Corefile's directory.
    let text = ".:53 {\n forward . tls://127.0.0.1 {\n  tls server.pem server.key ca.pem\n }\n}\n";
    load_str(text, &fixture("Corefile"), 53).unwrap();
}

#[test]
fn bad_tls_options_fail_at_their_line() {
    let fx = fixture("").display().to_string();
    for (opt, want) in [
        (
            "tls /nonexistent/ca.pem",
            "Corefile:3: forward: /nonexistent/ca.pem: No such file".to_string(),
        ),
        (
            "tls /nonexistent/c.pem {FX}/server.key",
            "Corefile:3: forward: /nonexistent/c.pem: No such file".into(),
        ),
        (
            "tls {FX}/server.pem /nonexistent/k.pem",
            "Corefile:3: forward: /nonexistent/k.pem: No such file".into(),
        ),
        (
            "tls {FX}/README.md",
            format!("Corefile:3: forward: {fx}/README.md: no CERTIFICATE in the file"),
        ),
        (
            "tls {FX}/server.pem {FX}/ca.pem",
            format!("Corefile:3: forward: {fx}/ca.pem: no private key"),
        ),
        (
            "tls {FX}/server.pem {FX}/other.key",
            "Corefile:3: forward: could not load TLS cert".into(),
        ),
        (
            "tls a b c d",
            "Corefile:3: forward: tls takes at most three arguments (CERT KEY CA), found 4".into(),
        ),
        (
            "tls_servername",
            "Corefile:3: forward: tls_servername expects a name".into(),
        ),
        (
            "tls_servername a..b",
            "Corefile:3: forward: \"a..b\" is not a valid TLS server name".into(),
        ),
        (
            "tls {\n  }",
            "Corefile:3: forward: tls takes no block".into(),
        ),
    ] {
        let text = format!(".:53 {{\n forward . tls://127.0.0.1 {{\n  {opt}\n }}\n}}\n");
        let e = fwd(&text).unwrap_err();
        let want = format!("/etc/kdns/{want}");
        assert!(
            e.starts_with(&want),
            "{opt}: {e}\n  does not start with {want}"
        );
    }
    let e = fwd(
        ".:53 {\n forward . tls://9.9.9.9%dns.quad9.net {\n  tls_servername other.example\n }\n}\n",
    )
    .unwrap_err();
    assert_eq!(e, "/etc/kdns/Corefile:2: forward: both forward ('other.example') and proxy level ('dns.quad9.net') TLS servernames are set for upstream proxy 'tls://9.9.9.9:853'");
    let e = fwd(".:53 {\n forward . tls://1.2.3.4%a..b\n}\n").unwrap_err();
    assert!(e.contains("\"a..b\" is not a valid TLS server name"), "{e}");
    let e = fwd(".:53 {\n forward . quic://1.2.3.4\n}\n").unwrap_err();
    assert!(
        e.contains("quic:// upstreams are not supported by kdns"),
        "{e}"
    );
}

/// A DNS-over-TLS responder: answers every framed query with the query itself, QR set (the
/// question is kept, so it answers it); counts the connections it accepted. With `one_each`
/// it closes each connection after one answer.
async fn responder(one_each: bool) -> (SocketAddr, Arc<AtomicUsize>) {
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(fixture("server.pem"))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(fixture("server.key")).unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let accepted = Arc::new(AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((s, _)) = l.accept().await {
            count.fetch_add(1, Ordering::SeqCst);
            let acceptor = acceptor.clone();
            tokio::spawn(async move {
                let Ok(mut s) = acceptor.accept(s).await else {
                    return;
                };
                while let Ok(n) = s.read_u16().await {
                    let mut q = vec![0u8; usize::from(n)];
                    if s.read_exact(&mut q).await.is_err() {
                        return;
                    }
                    q[2] |= 0x80;
                    let mut out = n.to_be_bytes().to_vec();
                    out.extend_from_slice(&q);
                    if s.write_all(&out).await.is_err() || s.flush().await.is_err() || one_each {
                        let _ = s.shutdown().await;
                        return;
                    }
                }
            });
        }
    });
    (addr, accepted)
}

fn client(ca: bool) -> TlsClient {
    let roots = ca.then(|| {
        let mut r = rustls::RootCertStore::empty();
        for c in CertificateDer::pem_file_iter(fixture("ca.pem")).unwrap() {
            r.add(c.unwrap()).unwrap();
        }
        r
    });
    build(roots, None).unwrap()
}

fn tls_upstream(addr: SocketAddr, c: &TlsClient, name: &str, expire: Duration) -> Arc<Upstream> {
    let t = Transport {
        expire,
        max_idle: 0,
        read_timeout: Duration::from_secs(2),
        source: None,
    };
    let name = ServerName::try_from(name.to_string()).unwrap();
    Upstream::with_tls(addr, t, Some(Dialer::new(c, name)))
}

async fn ask(u: &Upstream, id: u16) -> Result<(), ExchangeError> {
    let name = Name::from_ascii("www.example.test.").unwrap();
    let q = hickory_server::proto::op::Query::query(name.clone(), RecordType::A);
    let w = query_wire(
        id,
        q,
        true,
        false,
        false,
        false,
        crate::dns::query::MAX_UDP_PAYLOAD,
        &[],
    )
    .unwrap();
    // The client's UDP does not matter: a tls:// upstream is always asked over TLS.
    let m = u.exchange(&w, id, &name, RecordType::A, Proto::Udp).await?;
    assert_eq!(m.metadata.id, id);
    Ok(())
}

#[tokio::test]
async fn queries_reuse_one_connection_until_it_expires() {
    let (addr, accepted) = responder(false).await;
    let u = tls_upstream(
        addr,
        &client(true),
        "dot.example.test",
        Duration::from_millis(300),
    );
    for id in 1..=20 {
        ask(&u, id).await.unwrap();
    }
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "one connection for 20 queries"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    ask(&u, 21).await.unwrap();
    assert_eq!(accepted.load(Ordering::SeqCst), 2, "the idle one expired");
}

#[tokio::test]
async fn the_ip_is_verified_when_no_name_is_given() {
    let (addr, _) = responder(false).await;
    let u = tls_upstream(addr, &client(true), "127.0.0.1", Duration::from_secs(10));
    ask(&u, 7).await.unwrap();
}

#[tokio::test]
async fn a_connection_the_upstream_closed_is_redialled_once() {
    let (addr, accepted) = responder(true).await;
    let u = tls_upstream(
        addr,
        &client(true),
        "dot.example.test",
        Duration::from_secs(10),
    );
    for id in 1..=3 {
        ask(&u, id).await.unwrap();
    }
    assert_eq!(accepted.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn handshake_failures_are_upstream_errors() {
    let (addr, _) = responder(false).await;
    for (c, name, want) in [
        (client(true), "wrong.example.test", "not valid for name"),
        (client(false), "dot.example.test", "UnknownIssuer"),
    ] {
        let u = tls_upstream(addr, &c, name, Duration::from_secs(10));
        match ask(&u, 1).await {
            Err(e @ ExchangeError::Tls { .. }) => {
                assert!(e.to_string().contains(want), "{e}");
                assert!(e.to_string().starts_with(&format!("tls {addr}: ")), "{e}");
            }
            other => panic!("{name}: {other:?}"),
        }
    }
    let none = TlsClient(Err("no trusted CA certificates".into()));
    let u = tls_upstream(addr, &none, "dot.example.test", Duration::from_secs(10));
    let e = ask(&u, 1).await.unwrap_err().to_string();
    assert_eq!(e, format!("tls {addr}: no trusted CA certificates"));
}

#[tokio::test]
async fn health_checks_go_over_tls() {
    let (addr, accepted) = responder(false).await;
    let u = tls_upstream(
        addr,
        &client(true),
        "dot.example.test",
        Duration::from_secs(10),
    );
    for _ in 0..3 {
        u.probe_failed();
    }
    assert!(u.down(2));
    let probe = Probe {
        interval: Duration::from_millis(10),
        domain: Name::root(),
        recursion_desired: true,
        tcp: false,
    };
    u.healthcheck(&probe);
    for _ in 0..300 {
        if u.fails() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(u.fails(), 0, "the TLS probe passed");
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        1,
        "over TLS, to the TLS port"
    );

    let bad = tls_upstream(
        addr,
        &client(true),
        "wrong.example.test",
        Duration::from_secs(10),
    );
    bad.healthcheck(&probe);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        bad.fails() > 2,
        "a failing handshake fails the probe: {}",
        bad.fails()
    );
}
