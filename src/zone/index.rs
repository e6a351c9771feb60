//! The reverse indices of a [`Zone`](super::snapshot::Zone) (address → the keys behind it):
//! their value type [`IpSet`] and the two edits a store makes to them.
use std::net::IpAddr;
use std::sync::Arc;

use super::layered::Layered as PMap;

/// The few keys behind one address of a reverse index, sorted: almost always one, so a
/// shared slice (one small allocation) instead of a tree (a node per address).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct IpSet<K>(Arc<[K]>);

impl<K> IpSet<K> {
    /// The keys, sorted.
    pub(crate) fn iter(&self) -> std::slice::Iter<'_, K> {
        self.0.iter()
    }
}

impl<'a, K> IntoIterator for &'a IpSet<K> {
    type Item = &'a K;
    type IntoIter = std::slice::Iter<'a, K>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// Adds `k` to the keys behind `ip` (no-op when present).
pub(super) fn index_add<K: Clone + Ord>(m: &mut PMap<IpAddr, IpSet<K>>, ip: IpAddr, k: K) {
    let mut v: Vec<K> = m.get(&ip).map(|s| s.0.to_vec()).unwrap_or_default();
    if let Err(i) = v.binary_search(&k) {
        v.insert(i, k);
        m.insert(ip, IpSet(v.into()));
    }
}

/// Removes `k` from the keys behind `ip`, and the address once no key is left.
pub(super) fn index_remove<K: Clone + Ord>(m: &mut PMap<IpAddr, IpSet<K>>, ip: &IpAddr, k: &K) {
    let Some(set) = m.get(ip) else { return };
    if !set.0.contains(k) {
        return;
    }
    let v: Vec<K> = set.0.iter().filter(|x| *x != k).cloned().collect();
    if v.is_empty() {
        m.remove(ip);
    } else {
        m.insert(*ip, IpSet(v.into()));
    }
}
