//! Unit tests of the published zone: its generation, its version source, waiting for sync.
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::ZoneHandle;
use crate::zone::model::Namespace;
use crate::zone::snapshot::Zone;
use crate::zone::store::{Change, Store};

fn namespace(name: &str) -> Change {
    Change::UpsertNamespace(Namespace {
        name: Arc::from(name),
        labels: Vec::new(),
    })
}

#[test]
fn the_generation_moves_on_every_publish_and_only_then() {
    let mut st = Store::new();
    let zone = ZoneHandle::new(st.snapshot());
    let g0 = zone.generation();
    assert_eq!(zone.generation(), g0, "reading moves nothing");
    let (g, z) = zone.load_with_generation();
    assert_eq!(g, g0);
    assert!(z.namespace("a").is_none());

    st.apply(namespace("a"));
    assert_eq!(zone.generation(), g0, "a store change is not a publish");
    zone.publish(st.snapshot());
    assert_eq!(zone.generation(), g0 + 1);
    let (g, z) = zone.load_with_generation();
    assert_eq!(g, g0 + 1);
    assert!(z.namespace("a").is_some(), "the published snapshot");
    assert_eq!(zone.ns_version("a"), z.ns_version("a"));

    // Publishing the same snapshot again is still a publish.
    zone.publish(st.snapshot());
    assert_eq!(zone.generation(), g0 + 2);

    // Clones share the zone and its counter; separate handles do not.
    let clone = zone.clone();
    let other = ZoneHandle::new(Store::new().snapshot());
    let other_g = other.generation();
    clone.publish(st.snapshot());
    assert_eq!(zone.generation(), g0 + 3);
    assert_eq!(other.generation(), other_g);
}

#[test]
fn a_handle_continues_the_version_source_of_its_first_zone() {
    let mut st = Store::new();
    st.apply(namespace("a"));
    let first = st.snapshot();
    let zone = ZoneHandle::new(first.clone());
    assert!(zone.versions().same(&first.versions()));
    // A store rebuilt from scratch for this handle never repeats a's version.
    let mut rebuilt = Store::with_versions(zone.versions());
    rebuilt.apply(namespace("a"));
    zone.publish(rebuilt.snapshot());
    assert_ne!(zone.ns_version("a"), first.ns_version("a"));
    let fresh = ZoneHandle::default();
    assert!(fresh.versions().same(&fresh.load().versions()));
    assert!(!fresh.versions().same(&zone.versions()));
}

#[cfg(debug_assertions)]
#[test]
#[should_panic(expected = "version")]
fn publishing_a_zone_of_a_foreign_version_source_is_a_bug() {
    let zone = ZoneHandle::new(Arc::new(Zone::default()));
    zone.publish(Store::new().snapshot());
}

#[tokio::test]
async fn waiting_for_sync_returns_at_the_publish_or_the_deadline() {
    let mut st = Store::new();
    let zone = ZoneHandle::new(st.snapshot());
    let t0 = Instant::now();
    let (g, z) = zone.wait_synced(t0 + Duration::from_millis(30)).await;
    assert!(!z.synced);
    assert!(
        t0.elapsed() >= Duration::from_millis(30),
        "waited to the deadline"
    );
    assert_eq!(g, zone.generation());

    let publisher = zone.clone();
    st.set_synced(true);
    let synced = st.snapshot();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        publisher.publish(synced);
    });
    let t0 = Instant::now();
    let (g, z) = zone.wait_synced(t0 + Duration::from_secs(30)).await;
    assert!(z.synced);
    assert!(
        t0.elapsed() < Duration::from_secs(20),
        "woken by the publish"
    );
    assert_eq!(g, zone.generation());

    // Already synced: at once.
    let (_, z) = zone.wait_synced(Instant::now()).await;
    assert!(z.synced);
}
