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
use std::collections::hash_map::Entry;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Arc;

use imbl::shared_ptr::DefaultSharedPtr;

#[cfg(test)]
mod tests;

/// The hasher of the zone's maps and of the writer's own (foldhash, seeded per process):
/// their keys are names and addresses from the cluster, hashed on every change and lookup.
pub(super) type Hasher = foldhash::fast::RandomState;
/// The small sets a lookup drops repeated records with, hashed the same way.
pub(super) type Set<T> = std::collections::HashSet<T, Hasher>;
type Delta<K, V> = imbl::GenericHashMap<K, Option<V>, Hasher, DefaultSharedPtr>;

/// Smallest delta that triggers a fold (small maps fold rarely, not on every change).
const MIN_DELTA: usize = 128;

/// A map with O(1) snapshots and O(1) amortized changes at any size.
#[derive(Clone)]
pub(crate) struct Layered<K, V> {
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
    pub(crate) fn get<Q>(&self, k: &Q) -> Option<&V>
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

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Inserts; returns the previous value.
    pub(crate) fn insert(&mut self, k: K, v: V) -> Option<V> {
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

    /// Replaces the value at `k` with what `f` makes of the present one (`None` from `f`:
    /// nothing changes). When no snapshot shares the base, one hash lookup finds the slot
    /// for both (the start builds the reverse indices this way, one new address at a time).
    pub(crate) fn update(&mut self, k: K, f: impl FnOnce(Option<&V>) -> Option<V>) {
        let Some(base) = self.base_mut() else {
            if let Some(v) = f(self.get(&k)) {
                self.insert(k, v);
            }
            return;
        };
        let added = match base.entry(k) {
            Entry::Occupied(mut o) => {
                if let Some(v) = f(Some(o.get())) {
                    o.insert(v);
                }
                false
            }
            Entry::Vacant(slot) => match f(None) {
                Some(v) => {
                    slot.insert(v);
                    true
                }
                None => false,
            },
        };
        self.len += usize::from(added);
    }

    /// Removes; returns the previous value.
    pub(crate) fn remove(&mut self, k: &K) -> Option<V> {
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
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> + '_ {
        let shadowed = |k: &K| !self.delta.is_empty() && self.delta.contains_key(k);
        self.base.iter().filter(move |(k, _)| !shadowed(k)).chain(
            self.delta
                .iter()
                .filter_map(|(k, v)| v.as_ref().map(|v| (k, v))),
        )
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &K> + '_ {
        self.iter().map(|(k, _)| k)
    }

    pub(crate) fn values(&self) -> impl Iterator<Item = &V> + '_ {
        self.iter().map(|(_, v)| v)
    }

    /// How many changes the delta holds (tests: has a fold happened?).
    #[cfg(test)]
    pub(crate) fn delta_len(&self) -> usize {
        self.delta.len()
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
