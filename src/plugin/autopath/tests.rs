//! `autopath`: the parse table (errors at `FILE:LINE`) and the serve table (CoreDNS's walk and
//! `cnamer`) over a zone with one client pod and an upstream stand-in.
use std::net::{IpAddr, SocketAddr};

use hickory_server::proto::rr::rdata::A;
use hickory_server::proto::rr::RecordType;

use super::config::{search_list, SearchFrom};
use super::*;
use crate::config::testing::first_directive;
use crate::config::Plugin;
use crate::dns::{Block, Router};
use crate::plugin::kubernetes::Kubernetes;
use crate::zone::model::{Namespace, Pod, Port, Service, ServiceKind};
use crate::zone::{Change, KubeOptions, PodMode, Store, ZoneHandle};

fn load(corefile: &str) -> Result<AutopathConfig, String> {
    first_directive(corefile, |p| match p {
        Plugin::Autopath(c) => Some((**c).clone()),
        _ => None,
    })
    .map_err(|e| e.to_string())
}

#[test]
fn parse_table() {
    let c = load("cluster.local:53 {\n autopath @kubernetes\n}\n").unwrap();
    assert_eq!(
        (c.zones, c.from),
        (vec!["cluster.local.".to_string()], SearchFrom::Kubernetes)
    );
    let c = load(".:53 {\n autopath Cluster.Local 10.0.0.0/8 @kubernetes\n}\n").unwrap();
    assert_eq!(c.zones, vec!["cluster.local.", "10.in-addr.arpa."]);
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("resolv.conf");
    std::fs::write(
        &f,
        "nameserver 10.0.0.10\nsearch a.test B.test.\noptions ndots:5\n",
    )
    .unwrap();
    let c = load(&format!(".:53 {{\n autopath {}\n}}\n", f.display())).unwrap();
    assert_eq!(
        c.from,
        SearchFrom::Fixed(vec!["a.test.".into(), "b.test.".into(), "".into()])
    );
    for (line, want) in [
        ("autopath", "Corefile:2: autopath: no resolv-conf specified"),
        (
            "autopath @erratic",
            "Corefile:2: autopath: \"erratic\" does not implement the AutoPather",
        ),
        (
            "autopath /nonexistent/resolv.conf",
            "Corefile:2: autopath: failed to parse \"/nonexistent/resolv.conf\"",
        ),
        (
            "autopath @kubernetes {\n }",
            "Corefile:2: autopath: autopath takes no block",
        ),
        (
            "autopath @kubernetes\n autopath @kubernetes",
            "Corefile:3: autopath: this directive can only be used once",
        ),
    ] {
        let e = load(&format!(".:53 {{\n {line}\n}}\n")).unwrap_err();
        assert!(e.starts_with(want), "{line}: {e}");
    }
}

#[test]
fn resolv_conf_search_lists() {
    assert_eq!(search_list("search a b\nsearch c\n"), vec!["c."]);
    assert_eq!(search_list("search a b\ndomain d.test\n"), vec!["d.test."]);
    assert_eq!(
        search_list("nameserver 1.1.1.1\n# search x\n"),
        Vec::<String>::new()
    );
}

/// Answers `example.com.` (A 192.0.2.1), NXDOMAIN for anything else: the upstream.
struct Upstream;

impl Directive for Upstream {
    fn name(&self) -> &'static str {
        "forward"
    }
    fn serve<'a>(&'a self, q: &'a Query, _next: Next<'a>) -> Served<'a> {
        if q.lower != "example.com." {
            return Served::ready(Answer::code(ResponseCode::NXDomain).by("forward"));
        }
        let mut a = Answer::code(ResponseCode::NoError).by("forward");
        a.answers.push(Record::from_rdata(
            q.name.clone(),
            60,
            RData::A(A::new(192, 0, 2, 1)),
        ));
        Served::ready(a)
    }
}

fn service(ns: &str, name: &str, kind: ServiceKind) -> Change {
    Change::UpsertService(Service {
        namespace: ns.into(),
        name: name.into(),
        kind,
        external: Vec::new(),
        ports: vec![Port {
            name: "http".into(),
            port: 80,
            protocol: "TCP".into(),
        }],
    })
}

fn router(pods: PodMode) -> Arc<Router> {
    let mut st = Store::new();
    for ns in ["shop", "blog"] {
        st.apply(Change::UpsertNamespace(Namespace {
            name: ns.into(),
            labels: Vec::new(),
        }));
    }
    st.apply(service(
        "shop",
        "web",
        ServiceKind::ClusterIp(vec!["10.96.0.1".parse().unwrap()]),
    ));
    st.apply(service(
        "blog",
        "web",
        ServiceKind::ClusterIp(vec!["10.96.0.2".parse().unwrap()]),
    ));
    st.apply(service(
        "shop",
        "ext",
        ServiceKind::ExternalName("example.com".into()),
    ));
    st.apply(Change::UpsertPod(Pod {
        namespace: "shop".into(),
        name: "client".into(),
        ips: vec!["10.0.0.1".parse().unwrap()],
    }));
    st.set_synced(true);
    let opts = KubeOptions {
        pods,
        ..KubeOptions::default()
    };
    let k = Arc::new(Kubernetes::new(opts, ZoneHandle::new(st.snapshot()), None));
    let c = AutopathConfig {
        zones: vec!["cluster.local.".into()],
        from: SearchFrom::Kubernetes,
        at: "Corefile:2".into(),
    };
    let host = vec!["corp.test.".to_string()];
    let ap = Autopath::new(&c, Searcher::Kubernetes(k.clone(), host), "dns://:53");
    let chain: Vec<Arc<dyn Directive>> = vec![Arc::new(ap), k, Arc::new(Upstream)];
    let mut r = Router::default();
    r.ports
        .entry(53)
        .or_default()
        .push(Arc::new(Block::new(vec![".".into()], chain)));
    Arc::new(r)
}

/// (rcode, answer records as text, cacheable) for `name` A asked from `src`.
async fn ask(r: &Arc<Router>, src: &str, name: &str) -> (ResponseCode, Vec<String>, bool) {
    let mut q = Query::internal(Name::from_ascii(name).unwrap(), RecordType::A);
    q.src = SocketAddr::new(src.parse::<IpAddr>().unwrap(), 5353);
    let a = r.answer(53, &q).await;
    let recs = a.answers.iter().map(|r| {
        let v = r.data.to_string();
        format!("{} {} {} {v}", r.name, r.ttl, r.record_type())
    });
    (a.rcode, recs.collect(), a.cacheable)
}

#[tokio::test]
async fn walk_table() {
    let r = router(PodMode::Verified);
    let nx = ResponseCode::NXDomain;
    let ok = ResponseCode::NoError;
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
    // The first element answers: the name's own answer, no CNAME, replayable.
    assert_eq!(
        ask(&r, "10.0.0.1", "web.shop.svc.cluster.local.").await,
        (ok, s(&["web.shop.svc.cluster.local. 5 A 10.96.0.1"]), true)
    );
    // `web.blog` typed in a pod of shop: found under svc.cluster.local.
    assert_eq!(
        ask(&r, "10.0.0.1", "web.blog.shop.svc.cluster.local.").await,
        (
            ok,
            s(&[
                "web.blog.shop.svc.cluster.local. 5 CNAME web.blog.svc.cluster.local.",
                "web.blog.svc.cluster.local. 5 A 10.96.0.2"
            ]),
            false
        )
    );
    // An outside name, past the host's search list, from the upstream.
    assert_eq!(
        ask(&r, "10.0.0.1", "Example.com.shop.svc.cluster.local.").await,
        (
            ok,
            s(&[
                "Example.com.shop.svc.cluster.local. 60 CNAME Example.com.",
                "Example.com. 60 A 192.0.2.1"
            ]),
            false
        )
    );
    // Nothing anywhere: the first answer (the zone's NXDOMAIN), not replayable.
    let (rc, recs, cacheable) = ask(&r, "10.0.0.1", "nope.shop.svc.cluster.local.").await;
    assert_eq!((rc, recs.len(), cacheable), (nx, 0, false));
    // An ExternalName: CoreDNS's cnamer puts a CNAME to the first other owner in front.
    assert_eq!(
        ask(&r, "10.0.0.1", "ext.shop.svc.cluster.local.").await.1,
        s(&[
            "ext.shop.svc.cluster.local. 60 CNAME example.com.",
            "ext.shop.svc.cluster.local. 5 CNAME example.com.",
            "example.com. 60 A 192.0.2.1"
        ])
    );
    // The pod on an IPv4-mapped address (a dual-stack socket) is the same pod.
    assert_eq!(
        ask(&r, "::ffff:10.0.0.1", "web.blog.shop.svc.cluster.local.")
            .await
            .1
            .len(),
        2
    );
    // A client nobody knows, a name in another namespace: plain answers.
    assert_eq!(
        ask(&r, "10.9.9.9", "example.com.shop.svc.cluster.local.").await,
        (nx, vec![], false)
    );
    assert_eq!(
        ask(&r, "10.0.0.1", "example.com.blog.svc.cluster.local.").await,
        (nx, vec![], false)
    );
    // The first element itself: CoreDNS's TrimZone overshoots (SERVFAIL).
    assert_eq!(
        ask(&r, "10.0.0.1", "shop.svc.cluster.local.").await.0,
        ResponseCode::ServFail
    );
    // Outside the autopath zones: untouched.
    assert_eq!(ask(&r, "10.0.0.1", "example.com.").await.0, ok);
}

#[tokio::test]
async fn without_a_pod_watch_no_endpoints_no_path() {
    // `pods insecure` holds no pod index: the client is placed by endpoints only, and this
    // zone has none.
    let r = router(PodMode::Insecure);
    assert_eq!(
        ask(&r, "10.0.0.1", "example.com.shop.svc.cluster.local.")
            .await
            .0,
        ResponseCode::NXDomain
    );
}
