//! The zone's maps: a snapshot-friendly map whose change cost does not grow with its size.
//!
//! A [`Layered`] map is a plain hash table (`base`, shared by every snapshot through an `Arc`)
//! plus a small persistent map of the changes since the base was built (`delta`, `imbl`;
//! `None` marks a removal). Taking a snapshot clones two pointers. A change touches only the
//! delta — the changes since the last fold, usually few and hot in cache — and when the delta
//! outgrows a quarter of the base it is folded into a fresh base: O(n) work every Θ(n)
//! changes, so O(1) amortized, where a single persistent map pays O(log n) node copies on
//! every change (2.9–3.9× the cost at 100k services than at 1k, BENCHMARKS.md). When no snapshot holds the base (before
//! the first publish, or once readers moved on) changes go straight into it.
//!
//! Lookups check the delta (skipped when empty) and then the base; both hash with foldhash.
use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use imbl::shared_ptr::DefaultSharedPtr;

type Hasher = foldhash::fast::RandomState;
type Delta<K, V> = imbl::GenericHashMap<K, Option<V>, Hasher, DefaultSharedPtr>;

/// Smallest delta that triggers a fold (small maps fold rarely, not on every change).
const MIN_DELTA: usize = 128;

/// A map with O(1) snapshots and O(1) amortized changes at any size.
#[derive(Clone)]
pub struct Layered<K, V> {
    base: Arc<HashMap<K, V, Hasher>>,
    delta: Delta<K, V>,
    len: usize,
}

impl<K, V> Default for Layered<K, V> {
    fn default() -> Self {
        Self {
            base: Arc::new(HashMap::default()),
            delta: Delta::default(),
            len: 0,
        }
    }
}

impl<K: Hash + Eq + Clone, V: Clone> Layered<K, V> {
    pub fn get<Q>(&self, k: &Q) -> Option<&V>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        if !self.delta.is_empty() {
            if let Some(d) = self.delta.get(k) {
                return d.as_ref();
            }
        }
        self.base.get(k)
    }

    pub fn contains_key<Q>(&self, k: &Q) -> bool
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.get(k).is_some()
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Inserts; returns the previous value.
    pub fn insert(&mut self, k: K, v: V) -> Option<V> {
        if let Some(base) = self.base_mut() {
            let old = base.insert(k, v);
            self.len += usize::from(old.is_none());
            return old;
        }
        let old = self.get(&k).cloned();
        self.len += usize::from(old.is_none());
        self.delta.insert(k, Some(v));
        self.fold_if_big();
        old
    }

    /// Removes; returns the previous value.
    pub fn remove(&mut self, k: &K) -> Option<V> {
        if let Some(base) = self.base_mut() {
            let old = base.remove(k);
            self.len -= usize::from(old.is_some());
            return old;
        }
        let old = self.get(k).cloned()?;
        self.len -= 1;
        if self.base.contains_key(k) {
            self.delta.insert(k.clone(), None);
        } else {
            self.delta.remove(k);
        }
        self.fold_if_big();
        Some(old)
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&K, &V)> + '_ {
        let shadowed = |k: &K| !self.delta.is_empty() && self.delta.contains_key(k);
        self.base.iter().filter(move |(k, _)| !shadowed(k)).chain(
            self.delta
                .iter()
                .filter_map(|(k, v)| v.as_ref().map(|v| (k, v))),
        )
    }

    pub fn keys(&self) -> impl Iterator<Item = &K> + '_ {
        self.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &V> + '_ {
        self.iter().map(|(_, v)| v)
    }

    /// The base for writing in place, when no snapshot shares it (the delta folded in first).
    fn base_mut(&mut self) -> Option<&mut HashMap<K, V, Hasher>> {
        let base = Arc::get_mut(&mut self.base)?;
        if !self.delta.is_empty() {
            fold(base, std::mem::take(&mut self.delta));
        }
        Some(base)
    }

    fn fold_if_big(&mut self) {
        if self.delta.len() > (self.base.len() / 4).max(MIN_DELTA) {
            let mut base = (*self.base).clone();
            fold(&mut base, std::mem::take(&mut self.delta));
            self.base = Arc::new(base);
        }
    }
}

fn fold<K: Hash + Eq + Clone, V: Clone>(base: &mut HashMap<K, V, Hasher>, delta: Delta<K, V>) {
    for (k, v) in delta {
        match v {
            Some(v) => {
                base.insert(k, v);
            }
            None => {
                base.remove(&k);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// Random inserts and removes with snapshots held at random points: every snapshot keeps
    /// exactly the contents it had, and the live map always matches a plain model.
    #[test]
    fn matches_a_plain_map_and_snapshots_never_change() {
        let mut m: Layered<u32, u64> = Layered::default();
        let mut model: BTreeMap<u32, u64> = BTreeMap::new();
        let mut snaps: Vec<(Layered<u32, u64>, BTreeMap<u32, u64>)> = Vec::new();
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        for step in 0..40_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let k = (x % 3000) as u32;
            if x.is_multiple_of(3) {
                assert_eq!(m.remove(&k), model.remove(&k));
            } else {
                assert_eq!(m.insert(k, step), model.insert(k, step));
            }
            assert_eq!(m.len(), model.len());
            if x.is_multiple_of(97) {
                snaps.push((m.clone(), model.clone()));
            }
            if x.is_multiple_of(389) && !snaps.is_empty() {
                snaps.remove((x as usize) % snaps.len()); // readers move on
            }
        }
        let check = |l: &Layered<u32, u64>, want: &BTreeMap<u32, u64>| {
            let got: BTreeMap<u32, u64> = l.iter().map(|(k, v)| (*k, *v)).collect();
            assert_eq!(&got, want);
            assert_eq!(l.len(), want.len());
            for k in 0..3000 {
                assert_eq!(l.get(&k), want.get(&k));
            }
        };
        check(&m, &model);
        for (l, want) in &snaps {
            check(l, want);
        }
    }

    #[test]
    fn writes_in_place_when_unshared_and_folds_when_shared() {
        let mut m: Layered<u32, u32> = Layered::default();
        for i in 0..1000 {
            m.insert(i, i);
        }
        assert!(m.delta.is_empty(), "no snapshot: straight into the base");
        let snap = m.clone();
        m.insert(5, 50);
        assert_eq!(m.delta.len(), 1);
        assert_eq!(snap.get(&5), Some(&5));
        for i in 0..300 {
            m.insert(2000 + i, i);
        }
        assert!(m.delta.len() <= MIN_DELTA, "folded: {}", m.delta.len());
        assert_eq!(m.get(&5), Some(&50));
        assert_eq!(snap.len(), 1000);
        drop(snap);
        m.remove(&5);
        assert!(
            m.delta.is_empty(),
            "unshared again: the delta was folded in"
        );
        assert_eq!(m.len(), 1299);
    }
}
