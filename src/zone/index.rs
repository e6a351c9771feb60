//! The reverse indices of a [`Zone`](super::snapshot::Zone) (address → the keys behind it):
//! their value type [`IpSet`] and the two edits a store makes to them.
use std::net::IpAddr;
use std::sync::Arc;

use super::layered::Layered as PMap;

/// The few keys behind one address of a reverse index, sorted: almost always one, held inline
/// (no allocation for the ~100k endpoint addresses of a large cluster's start), else a shared
/// slice of two or more.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum IpSet<K> {
    /// The one key.
    One(K),
    /// Two or more keys, sorted.
    Many(Arc<[K]>),
}

impl<K> IpSet<K> {
    /// The keys, sorted.
    pub(crate) fn iter(&self) -> std::slice::Iter<'_, K> {
        self.keys().iter()
    }

    fn keys(&self) -> &[K] {
        match self {
            IpSet::One(k) => std::slice::from_ref(k),
            IpSet::Many(ks) => ks,
        }
    }

    /// The set of `keys` (sorted, at least one).
    fn of(mut keys: Vec<K>) -> Self {
        match keys.len() {
            1 => IpSet::One(keys.remove(0)),
            _ => IpSet::Many(keys.into()),
        }
    }
}

impl<'a, K> IntoIterator for &'a IpSet<K> {
    type Item = &'a K;
    type IntoIter = std::slice::Iter<'a, K>;
    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// Adds `k` to the keys behind `ip` (no-op when present). Nothing is copied for a key that
/// is already there, and a new address gets its one key without an allocation.
pub(super) fn index_add<K: Clone + Ord>(m: &mut PMap<IpAddr, IpSet<K>>, ip: IpAddr, k: K) {
    m.update(ip, |keys| match keys {
        None => Some(IpSet::One(k)),
        Some(set) => {
            let set = set.keys();
            let i = set.binary_search(&k).err()?;
            let mut v = Vec::with_capacity(set.len() + 1);
            v.extend_from_slice(&set[..i]);
            v.push(k);
            v.extend_from_slice(&set[i..]);
            Some(IpSet::of(v))
        }
    });
}

/// Removes `k` from the keys behind `ip`, and the address once no key is left.
pub(super) fn index_remove<K: Clone + Ord>(m: &mut PMap<IpAddr, IpSet<K>>, ip: &IpAddr, k: &K) {
    let Some(set) = m.get(ip) else { return };
    if !set.keys().contains(k) {
        return;
    }
    let v: Vec<K> = set.iter().filter(|x| *x != k).cloned().collect();
    if v.is_empty() {
        m.remove(ip);
    } else {
        m.insert(*ip, IpSet::of(v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(m: &PMap<IpAddr, IpSet<u32>>, ip: IpAddr) -> Vec<u32> {
        m.get(&ip)
            .map(|s| s.iter().copied().collect())
            .unwrap_or_default()
    }

    #[test]
    fn keys_stay_sorted_and_unique_and_addresses_go_with_their_last_key() {
        let (a, b): (IpAddr, IpAddr) = ("10.0.0.1".parse().unwrap(), "fd00::1".parse().unwrap());
        let mut m = PMap::default();
        // (edit, address, key, the keys behind the address after it)
        let table: &[(bool, IpAddr, u32, &[u32])] = &[
            (true, a, 5, &[5]),
            (true, a, 5, &[5]),
            (true, a, 2, &[2, 5]),
            (true, a, 9, &[2, 5, 9]),
            (true, a, 7, &[2, 5, 7, 9]),
            (true, b, 1, &[1]),
            (false, a, 5, &[2, 7, 9]),
            (false, a, 4, &[2, 7, 9]),
            (false, a, 2, &[7, 9]),
            (false, a, 9, &[7]),
            (false, a, 7, &[]),
            (false, a, 7, &[]),
        ];
        for (i, &(add, ip, k, want)) in table.iter().enumerate() {
            if add {
                index_add(&mut m, ip, k);
            } else {
                index_remove(&mut m, &ip, &k);
            }
            assert_eq!(keys(&m, ip), want, "step {i}");
            // One key inline, more in a shared slice: never a one-key slice.
            let inline = matches!(m.get(&ip), Some(IpSet::One(_)));
            assert_eq!(inline, want.len() == 1, "step {i}");
        }
        assert!(m.get(&a).is_none(), "an address without keys is removed");
        assert_eq!(keys(&m, b), [1]);
        assert_eq!(m.len(), 1);
    }
}
