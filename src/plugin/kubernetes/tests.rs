//! The `kubernetes` directive in a chain: fallthrough, "no next plugin", block routing.
use hickory_server::proto::op::ResponseCode;

use super::*;
use crate::dns::{Block, Router};
use crate::zone::Fallthrough;

fn kube(fallthrough: Fallthrough) -> Arc<dyn Directive> {
    let zone = Zone {
        synced: true,
        ..Zone::default()
    };
    Arc::new(Kubernetes::new(
        KubeOptions {
            zones: vec!["cluster.local.".into()],
            fallthrough,
            ..KubeOptions::default()
        },
        ZoneHandle::new(Arc::new(zone)),
        None,
    ))
}

type Chain = Vec<Arc<dyn Directive>>;

fn router(blocks: Vec<(Vec<&str>, Chain)>) -> Arc<Router> {
    let mut r = Router::default();
    for (zones, chain) in blocks {
        r.ports.entry(53).or_default().push(Arc::new(Block::new(
            zones.into_iter().map(String::from).collect(),
            chain,
        )));
    }
    Arc::new(r)
}

#[tokio::test]
async fn passing_on_with_nothing_left_is_servfail_from_the_last_directive() {
    let r = router(vec![(vec!["."], vec![kube(Fallthrough::All)])]);
    let name = Name::from_ascii("nope.cluster.local.").unwrap();
    let a = r.resolve(53, &name, RecordType::A).await;
    assert_eq!(a.rcode, ResponseCode::ServFail);
    assert_eq!(
        a.error.as_deref(),
        Some("plugin/kubernetes: no next plugin found")
    );
    // Without fallthrough the zone answers itself.
    let r = router(vec![(vec!["."], vec![kube(Fallthrough::Off)])]);
    let a = r.resolve(53, &name, RecordType::A).await;
    assert_eq!((a.rcode, a.plugin), (ResponseCode::NXDomain, "kubernetes"));
    assert!(a.authoritative && a.error.is_none());
}

#[tokio::test]
async fn longest_zone_picks_the_block_and_no_block_refuses() {
    let r = router(vec![
        (vec!["."], vec![kube(Fallthrough::All)]),
        (vec!["cluster.local."], vec![kube(Fallthrough::Off)]),
        (vec!["empty.test."], vec![]),
    ]);
    let a = r
        .resolve(
            53,
            &Name::from_ascii("x.cluster.local.").unwrap(),
            RecordType::A,
        )
        .await;
    assert_eq!(
        a.rcode,
        ResponseCode::NXDomain,
        "the cluster.local block answers"
    );
    let a = r
        .resolve(
            53,
            &Name::from_ascii("a.empty.test.").unwrap(),
            RecordType::A,
        )
        .await;
    assert_eq!(a.rcode, ResponseCode::Refused, "a block with no directives");
    let a = r
        .answer(54, &Query::internal(Name::root(), RecordType::NS))
        .await;
    assert_eq!(a.rcode, ResponseCode::Refused, "no block on that port");
}
