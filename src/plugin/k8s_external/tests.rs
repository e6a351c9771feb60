//! `k8s_external`: the parse table (options, CoreDNS's errors at `FILE:LINE`) and the directive
//! in a chain (hostname targets asked of the whole server, fallthrough, not-ours passed on).
use std::net::IpAddr;
use std::path::Path;
use std::sync::Arc;

use super::*;
use crate::config::testing::first_directive;
use crate::config::{load_str, Plugin};
use crate::dns::{Block, Router};
use crate::plugin::kubernetes::Kubernetes;
use crate::zone::model::{External, Namespace, Port, Service, ServiceKind};
use crate::zone::{Change, Fallthrough, Store};

fn load(corefile: &str) -> Result<K8sExternalConfig, String> {
    first_directive(corefile, |p| match p {
        Plugin::K8sExternal(c) => Some((**c).clone()),
        _ => None,
    })
    .map_err(|e| e.to_string())
}

#[test]
fn parse_table() {
    let c = load("example.org {\n kubernetes cluster.local\n k8s_external\n}\n").unwrap();
    let o = &c.options;
    assert_eq!(o.zones, ["example.org."]);
    assert_eq!((o.apex.as_str(), o.ttl, o.headless), ("dns", 5, false));
    assert_eq!(o.fallthrough, Fallthrough::Off);
    assert_eq!(c.at, "Corefile:3");

    let text = ".:53 {\n kubernetes cluster.local\n k8s_external Example.ORG 10.0.0.0/8 {\n  apex ext\n  ttl 0\n  headless\n  fallthrough other.org\n }\n}\n";
    let o = load(text).unwrap().options;
    assert_eq!(o.zones, ["example.org.", "10.in-addr.arpa."]);
    assert_eq!((o.apex.as_str(), o.ttl, o.headless), ("ext", 0, true));
    assert_eq!(o.fallthrough, Fallthrough::Zones(vec!["other.org.".into()]));
    let o = load(
        ".:53 {\n kubernetes\n k8s_external example.org {\n  fallthrough\n  ttl 3600\n }\n}\n",
    )
    .unwrap()
    .options;
    assert_eq!((o.fallthrough, o.ttl), (Fallthrough::All, 3600));
    // Corefile order does not matter: plugin.cfg puts k8s_external right before kubernetes.
    let c = load_str(
        ".:53 {\n forward . 192.0.2.1\n kubernetes\n hosts\n k8s_external example.org\n}\n",
        Path::new("Corefile"),
        53,
    )
    .unwrap();
    let names: Vec<&str> = c.blocks[0].plugins.iter().map(Plugin::name).collect();
    assert_eq!(names, ["hosts", "k8s_external", "kubernetes", "forward"]);
}

#[test]
fn parse_errors_name_the_line() {
    let cases = [
        (
            ".:53 {\n k8s_external example.org\n}\n",
            "Corefile:2: k8s_external: kubernetes plugin not loaded",
        ),
        (
            ".:53 {\n kubernetes\n k8s_external {\n  ttl 3601\n }\n}\n",
            "Corefile:4: k8s_external: ttl must be in range [0, 3600]: 3601",
        ),
        (
            ".:53 {\n kubernetes\n k8s_external {\n  ttl -1\n }\n}\n",
            "Corefile:4: k8s_external: ttl must be in range [0, 3600]: -1",
        ),
        (
            ".:53 {\n kubernetes\n k8s_external {\n  ttl five\n }\n}\n",
            "Corefile:4: k8s_external: ttl: \"five\" is not a number",
        ),
        (
            ".:53 {\n kubernetes\n k8s_external {\n  ttl\n }\n}\n",
            "Corefile:4: k8s_external: ttl needs a number of seconds",
        ),
        (
            ".:53 {\n kubernetes\n k8s_external {\n  apex\n }\n}\n",
            "Corefile:4: k8s_external: apex needs a name",
        ),
        (
            ".:53 {\n kubernetes\n k8s_external {\n  apex a b\n }\n}\n",
            "Corefile:4: k8s_external: apex takes one argument",
        ),
        (
            ".:53 {\n kubernetes\n k8s_external {\n  headless yes\n }\n}\n",
            "Corefile:4: k8s_external: headless takes no arguments",
        ),
        (
            ".:53 {\n kubernetes\n k8s_external {\n  upstream\n }\n}\n",
            "Corefile:4: k8s_external: unknown property \"upstream\"",
        ),
        (
            ".:53 {\n kubernetes\n k8s_external\n k8s_external\n}\n",
            "Corefile:4: k8s_external: this directive can only be used once per server block",
        ),
    ];
    for (text, want) in cases {
        let got = load_str(text, Path::new("Corefile"), 53)
            .unwrap_err()
            .to_string();
        assert!(got.starts_with(want), "{text}: {got}");
    }
}

fn port(name: &str, p: i32) -> Port {
    Port {
        name: Arc::from(name),
        port: p,
        protocol: Arc::from("TCP"),
    }
}

/// `prod/lb`: an address and a hostname inside the cluster zone (`web.prod.svc.cluster.local`,
/// a ClusterIP Service), so the server answers the CNAME's target itself.
fn zone() -> ZoneHandle {
    let mut st = Store::new();
    st.apply(Change::UpsertNamespace(Namespace {
        name: Arc::from("prod"),
        labels: Vec::new(),
    }));
    let svc = |name: &str, ip: &str, external: Vec<External>| {
        Change::UpsertService(Service {
            namespace: Arc::from("prod"),
            name: Arc::from(name),
            kind: ServiceKind::ClusterIp(vec![ip.parse().unwrap()]),
            ports: vec![port("http", 80)],
            external,
        })
    };
    st.apply(svc("web", "10.0.0.5", vec![]));
    let lb_ext = vec![
        External::Ip("192.0.2.1".parse().unwrap()),
        External::Name(Arc::from("web.prod.svc.cluster.local")),
    ];
    st.apply(svc("lb", "10.0.0.1", lb_ext));
    st.set_synced(true);
    ZoneHandle::new(st.snapshot())
}

fn router(fallthrough: Fallthrough) -> Arc<Router> {
    let handle = zone();
    let kube = KubeOptions {
        zones: vec!["cluster.local.".into()],
        ..KubeOptions::default()
    };
    let c = K8sExternalConfig {
        options: ExternalOptions {
            zones: vec!["example.org.".into()],
            fallthrough,
            ..ExternalOptions::default()
        },
        at: "Corefile:3".into(),
    };
    let ext = K8sExternal::new(&c, kube.clone(), handle.clone(), None);
    let k = Kubernetes::new(kube, handle, None);
    let chain: Vec<Arc<dyn Directive>> = vec![Arc::new(ext), Arc::new(k)];
    let mut r = Router::default();
    r.ports
        .entry(53)
        .or_default()
        .push(Arc::new(Block::new(vec![".".into()], chain)));
    Arc::new(r)
}

async fn ask(r: &Arc<Router>, name: &str, t: RecordType) -> Answer {
    let name = Name::from_ascii(name).unwrap();
    r.resolve(53, &name, t).await
}

fn texts(rs: &[Record]) -> Vec<String> {
    rs.iter().map(|r| r.to_string()).collect()
}

#[tokio::test]
async fn hostnames_are_answered_by_the_whole_server() {
    let r = router(Fallthrough::Off);
    let a = ask(&r, "LB.prod.example.org.", RecordType::A).await;
    assert_eq!(
        (a.rcode, a.plugin, a.authoritative),
        (ResponseCode::NoError, NAME, true)
    );
    assert_eq!(
        texts(&a.answers),
        [
            "LB.prod.example.org. 5 IN A 192.0.2.1",
            "LB.prod.example.org. 5 IN CNAME web.prod.svc.cluster.local.",
            "web.prod.svc.cluster.local. 5 IN A 10.0.0.5",
        ]
    );
    assert!(
        !a.cacheable,
        "an answer with another directive's records is not replayed"
    );
    let a = ask(&r, "lb.prod.example.org.", RecordType::SRV).await;
    assert_eq!(a.answers.len(), 2);
    assert_eq!(
        texts(&a.additional),
        [
            "lb.prod.example.org. 5 IN A 192.0.2.1",
            "web.prod.svc.cluster.local. 5 IN A 10.0.0.5",
        ]
    );
    // Pure answers of the synced zone may be replayed until the zone changes.
    let a = ask(&r, "lb.prod.example.org.", RecordType::AAAA).await;
    assert_eq!(
        texts(&a.answers),
        ["lb.prod.example.org. 5 IN CNAME web.prod.svc.cluster.local."]
    );
    let a = ask(&r, "nope.prod.example.org.", RecordType::A).await;
    assert_eq!((a.rcode, a.authority.len()), (ResponseCode::NXDomain, 1));
    assert!(a.cacheable && a.scope.is_some());
    // Not its zone: the next directive's.
    let a = ask(&r, "lb.prod.svc.cluster.local.", RecordType::A).await;
    assert_eq!(
        (a.plugin, texts(&a.answers)),
        (
            "kubernetes",
            vec!["lb.prod.svc.cluster.local. 5 IN A 10.0.0.1".to_string()]
        )
    );
}

#[tokio::test]
async fn fallthrough_hands_name_errors_on() {
    let r = router(Fallthrough::All);
    let a = ask(&r, "nope.prod.example.org.", RecordType::A).await;
    // `kubernetes` does not serve example.org either: "no next plugin".
    assert_eq!(a.rcode, ResponseCode::ServFail);
    assert_eq!(
        a.error.as_deref(),
        Some("plugin/kubernetes: no next plugin found")
    );
    let a = ask(&r, "prod.example.org.", RecordType::A).await;
    assert_eq!(
        (a.rcode, a.plugin),
        (ResponseCode::NoError, NAME),
        "NODATA stays"
    );
    let ip: IpAddr = "192.0.2.1".parse().unwrap();
    let a = ask(&r, "lb.prod.example.org.", RecordType::A).await;
    assert!(a.answers.iter().any(|r| r.data.ip_addr() == Some(ip)));
}
