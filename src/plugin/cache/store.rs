//! A bounded map of cached answers: 256 shards, each with its own lock and a fixed share of
//! the capacity; a full shard evicts an arbitrary entry (CoreDNS's `plugin/pkg/cache`). A hit
//! takes one shard's read lock, never a global one.
use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::{Arc, RwLock};

use super::item::Item;
use crate::metrics::Gauge;

const SHARDS: usize = 256;

/// Keys are already hashes: use them as they are.
#[derive(Default)]
struct Identity(u64);

impl Hasher for Identity {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(*b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

type Shard = HashMap<u64, Arc<Item>, BuildHasherDefault<Identity>>;

/// One of a `cache`'s two bounded maps (success or denial), from hash key to cached item.
pub struct Store {
    shards: Box<[RwLock<Shard>]>,
    per_shard: usize,
    /// `coredns_cache_entries` for this store.
    entries: Arc<Gauge>,
}

impl Store {
    /// `capacity` items in all (at least 4 per shard, as CoreDNS).
    pub fn new(capacity: usize, entries: Arc<Gauge>) -> Self {
        entries.set(0);
        Self {
            shards: (0..SHARDS).map(|_| RwLock::new(Shard::default())).collect(),
            per_shard: (capacity / SHARDS).max(4),
            entries,
        }
    }

    fn shard(&self, key: u64) -> &RwLock<Shard> {
        // The low bits pick the shard; the map hashes the whole key.
        &self.shards[(key as usize) % SHARDS]
    }

    /// The item stored under `key`, if any (the caller checks it is for its question).
    pub fn get(&self, key: u64) -> Option<Arc<Item>> {
        self.shard(key)
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .cloned()
    }

    /// Stores `item`; true when another entry was evicted to make room.
    pub fn add(&self, key: u64, item: Arc<Item>) -> bool {
        let mut s = self.shard(key).write().unwrap_or_else(|e| e.into_inner());
        if let Some(slot) = s.get_mut(&key) {
            *slot = item;
            return false;
        }
        let mut evicted = false;
        if s.len() >= self.per_shard {
            if let Some(victim) = s.keys().next().copied() {
                s.remove(&victim);
                evicted = true;
            }
        }
        s.insert(key, item);
        if !evicted {
            self.entries.add(1);
        }
        evicted
    }

    /// Drops the entry under `key`, if any.
    pub fn remove(&self, key: u64) {
        let mut s = self.shard(key).write().unwrap_or_else(|e| e.into_inner());
        if s.remove(&key).is_some() {
            self.entries.add(-1);
        }
    }

    /// Number of entries over all shards.
    pub fn len(&self) -> usize {
        self.shards
            .iter()
            .map(|s| s.read().unwrap_or_else(|e| e.into_inner()).len())
            .sum()
    }

    /// True when no entry is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::Answer;
    use hickory_server::proto::op::ResponseCode;
    use hickory_server::proto::rr::RecordType;

    fn item(n: u64) -> Arc<Item> {
        Arc::new(Item::new(
            &format!("n{n}."),
            RecordType::A,
            &Answer::code(ResponseCode::NoError),
            30,
        ))
    }

    #[test]
    fn bounded_with_eviction_and_counted() {
        let g = Arc::new(Gauge::default());
        let s = Store::new(1024, g.clone());
        assert_eq!(s.per_shard, 4);
        let mut evictions = 0;
        for k in 0..10_000u64 {
            if s.add(k.wrapping_mul(0x9E37_79B9_7F4A_7C15), item(k)) {
                evictions += 1;
            }
        }
        assert_eq!(s.len(), 1024, "never more than the capacity");
        assert_eq!(evictions, 10_000 - 1024);
        assert_eq!(g.get(), 1024, "the gauge follows");
        let k = 42u64.wrapping_mul(0x9E37_79B9_7F4A_7C15);
        s.add(k, item(42));
        assert!(s.get(k).is_some());
        s.remove(k);
        assert!(s.get(k).is_none());
        assert_eq!(g.get() as usize, s.len());
    }
}
