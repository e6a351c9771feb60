//! The published zone: [`ZoneHandle`] holds the current [`Zone`] snapshot for readers, the
//! publish counter answers derived from a snapshot are checked against, and the version source
//! of the stores that publish into it.
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use arc_swap::ArcSwap;
use tokio::sync::Notify;

use super::snapshot::{Versions, Zone};

#[cfg(test)]
mod tests;

/// The published zone: writers swap in a new snapshot, readers load it without locks.
///
/// Clones share one zone. Its generation moves on every [`publish`](Self::publish): an answer
/// computed from a snapshot loaded at generation `g` (see [`load_with_generation`](
/// Self::load_with_generation)) is still right while [`generation`](Self::generation) is `g`.
#[derive(Clone)]
pub struct ZoneHandle(Arc<Shared>);

struct Shared {
    zone: ArcSwap<Zone>,
    /// Publishes so far (plus one); bumped after the new snapshot is in place.
    generation: AtomicU64,
    /// The namespace-version source of every store publishing here.
    versions: Versions,
    /// Woken on every publish (queries waiting for the first sync).
    published: Notify,
}

impl Default for ZoneHandle {
    fn default() -> Self {
        Self::new(Arc::new(Zone::default()))
    }
}

impl ZoneHandle {
    /// A handle publishing `zone`. It adopts the zone's version source: stores that publish
    /// here later must draw from it too ([`Store::with_versions`](super::store::Store::with_versions)
    /// with [`versions`](Self::versions)).
    pub fn new(zone: Arc<Zone>) -> Self {
        Self(Arc::new(Shared {
            versions: zone.versions(),
            zone: ArcSwap::new(zone),
            generation: AtomicU64::new(1),
            published: Notify::new(),
        }))
    }

    /// The current snapshot.
    pub fn load(&self) -> Arc<Zone> {
        self.0.zone.load_full()
    }

    /// The current snapshot with the generation read just before it was loaded: the snapshot is
    /// at least that new, so what is derived from it stays right while
    /// [`generation`](Self::generation) still returns that number (reading the generation after
    /// the load could pair an old snapshot with a new generation).
    pub fn load_with_generation(&self) -> (u64, Arc<Zone>) {
        let generation = self.generation();
        (generation, self.load())
    }

    /// How many times a zone was published here (plus one): one atomic load.
    pub fn generation(&self) -> u64 {
        self.0.generation.load(Ordering::Acquire)
    }

    /// The namespace-version source stores publishing here draw from.
    pub fn versions(&self) -> Versions {
        self.0.versions.clone()
    }

    /// The published zone's version of a namespace (no reference count taken).
    pub fn ns_version(&self, ns: &str) -> Option<u64> {
        self.0.zone.load().ns_version(ns)
    }

    /// `f` of the published zone, read without taking a reference count (for a few reads
    /// that must come from one snapshot).
    pub fn peek<R>(&self, f: impl FnOnce(&Zone) -> R) -> R {
        f(&self.0.zone.load())
    }

    /// Makes `zone` the current snapshot, then moves the generation and wakes waiters.
    pub fn publish(&self, zone: Arc<Zone>) {
        debug_assert!(
            zone.versions.same(&self.0.versions),
            "a zone published into a handle must draw namespace versions from the handle's source"
        );
        self.0.zone.store(zone);
        self.0.generation.fetch_add(1, Ordering::Release);
        self.0.published.notify_waiters();
    }

    /// Waits until a synced zone is published or `deadline` passes; returns the newest zone
    /// with its generation (as [`load_with_generation`](Self::load_with_generation)).
    pub async fn wait_synced(&self, deadline: Instant) -> (u64, Arc<Zone>) {
        loop {
            let notified = self.0.published.notified();
            let (generation, z) = self.load_with_generation();
            if z.synced {
                return (generation, z);
            }
            let now = Instant::now();
            if now >= deadline {
                return (generation, z);
            }
            let _ = tokio::time::timeout(deadline - now, notified).await;
        }
    }
}
