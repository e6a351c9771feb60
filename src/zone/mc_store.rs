//! The multicluster half of the store (`kubernetes … { multicluster ZONES }`): ServiceImports
//! and the EndpointSlices labelled `multicluster.kubernetes.io/service-name`, kept apart from
//! the cluster's own Services and slices (a ServiceImport never answers in `cluster.local`, a
//! Service never in `clusterset.local`).
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use super::layered::Hasher;
use super::model::{service_key, Import, McsSlice};
use super::snapshot::Zone;

/// (namespace, slice name) → slice, and service key → slice name → slice: what is needed to
/// find a slice's old version and to re-derive one import's slice list.
#[derive(Default)]
pub(super) struct McStore {
    slices: HashMap<(Arc<str>, Arc<str>), Arc<McsSlice>, Hasher>,
    by_svc: HashMap<Arc<str>, BTreeMap<Arc<str>, Arc<McsSlice>>, Hasher>,
}

impl McStore {
    /// Adds or replaces a ServiceImport; returns whether the zone changed.
    pub(super) fn upsert_import(zone: &mut Zone, i: Import) -> bool {
        let key = service_key(&i.name, &i.namespace);
        if zone.imports.get(&key).is_some_and(|old| **old == i) {
            return false;
        }
        zone.imports.insert(key, Arc::new(i));
        true
    }

    /// Removes a ServiceImport; returns whether it was there.
    pub(super) fn delete_import(zone: &mut Zone, namespace: &str, name: &str) -> bool {
        zone.imports.remove(&service_key(name, namespace)).is_some()
    }

    /// Adds or replaces a multicluster slice; returns whether the zone changed.
    pub(super) fn upsert_slice(&mut self, zone: &mut Zone, s: McsSlice) -> bool {
        let id = (s.slice.namespace.clone(), s.slice.name.clone());
        if self.slices.get(&id).is_some_and(|old| **old == s) {
            return false;
        }
        let new = Arc::new(s);
        if let Some(old) = self.slices.insert(id, new.clone()) {
            if old.slice.service != new.slice.service {
                let old_key = service_key(&old.slice.service, &old.slice.namespace);
                self.rebuild(zone, &old_key, |m| {
                    m.remove(&old.slice.name);
                });
            }
        }
        let key = service_key(&new.slice.service, &new.slice.namespace);
        let name = new.slice.name.clone();
        self.rebuild(zone, &key, |m| {
            m.insert(name, new);
        });
        true
    }

    /// Removes a multicluster slice; returns whether it was there.
    pub(super) fn delete_slice(&mut self, zone: &mut Zone, namespace: &str, name: &str) -> bool {
        let id: (Arc<str>, Arc<str>) = (Arc::from(namespace), Arc::from(name));
        let Some(old) = self.slices.remove(&id) else {
            return false;
        };
        let key = service_key(&old.slice.service, &old.slice.namespace);
        self.rebuild(zone, &key, |m| {
            m.remove(&old.slice.name);
        });
        true
    }

    /// (namespace, name) of every multicluster slice held (for relists).
    pub(super) fn slice_ids(&self) -> impl Iterator<Item = &(Arc<str>, Arc<str>)> {
        self.slices.keys()
    }

    /// Edits one import's slice set and republishes its list. Cost: that import's slices.
    fn rebuild(
        &mut self,
        zone: &mut Zone,
        key: &Arc<str>,
        edit: impl FnOnce(&mut BTreeMap<Arc<str>, Arc<McsSlice>>),
    ) {
        let map = self.by_svc.entry(key.clone()).or_default();
        edit(map);
        if map.is_empty() {
            self.by_svc.remove(key);
            zone.mc_endpoints.remove(key);
        } else {
            let list: Arc<[Arc<McsSlice>]> = map.values().cloned().collect();
            zone.mc_endpoints.insert(key.clone(), list);
        }
    }
}
