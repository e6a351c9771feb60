//! Unit tests of the layered map: a plain-map model and held snapshots.
use super::*;
use std::collections::BTreeMap;

/// Random inserts, updates and removes with snapshots held at random points: every snapshot keeps
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
        // `update`: a new key gets `step`, an even value becomes odd, an odd one stays.
        let f = |cur: Option<&u64>| match cur {
            None => Some(step),
            Some(v) if v % 2 == 0 => Some(v + 1),
            Some(_) => None,
        };
        match x % 6 {
            0 | 3 => assert_eq!(m.remove(&k), model.remove(&k)),
            1 => {
                m.update(k, f);
                if let Some(v) = f(model.get(&k)) {
                    model.insert(k, v);
                }
            }
            _ => assert_eq!(m.insert(k, step), model.insert(k, step)),
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
