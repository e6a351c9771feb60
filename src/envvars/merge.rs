//! A container's own environment on top of the service variables: the kubelet's
//! `makeEnvironmentVariables`.
use std::collections::HashMap;

use super::expand::expand;
use super::model::EnvVar;

/// How a container `env` entry gets its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnvValue {
    /// `value:` (empty when neither `value` nor `valueFrom` is given). `$(VAR)` references in it
    /// are expanded.
    Literal(String),
    /// A `valueFrom` the caller resolved (downward API, ConfigMap or Secret key). Not expanded.
    Resolved(String),
    /// A `valueFrom` the caller could not resolve. The kubelet would set it, so it still hides a
    /// service variable of the same name, but it is left out of the result, and references to it
    /// stay as written. (A missing *optional* key makes the kubelet skip the entry altogether:
    /// leave such an entry out of [`ContainerEnv::env`] instead.)
    Unresolved,
}

/// One `env` entry of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerEnvVar {
    /// The entry's `name`: the variable it sets.
    pub name: String,
    /// Where its value comes from (`value` or `valueFrom`).
    pub value: EnvValue,
}

/// A container's own environment.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ContainerEnv {
    /// The keys of its `envFrom` sources, prefix applied, in source order (a later source
    /// overwrites an earlier one). These are not expanded.
    pub env_from: Vec<EnvVar>,
    /// Its `env` entries, in declaration order.
    pub env: Vec<ContainerEnvVar>,
}

/// Applies `container`'s environment on top of `service_vars`, as the kubelet does.
///
/// `envFrom` keys are set first; then each `env` entry in order, a `value` being expanded against
/// the variables set so far (envFrom keys and earlier `env` entries) and then the service
/// variables. A later entry can therefore not be referenced (the reference stays literal). Every
/// container variable, even an empty one, hides the service variable of the same name.
///
/// Order of the result: the container's variables in the order they were first set, then the
/// service variables they do not hide, in the order of `service_vars`.
pub fn merge_container_env(service_vars: &[EnvVar], container: &ContainerEnv) -> Vec<EnvVar> {
    let services: HashMap<&str, &str> = service_vars
        .iter()
        .map(|v| (v.name.as_str(), v.value.as_str()))
        .collect();
    let mut own = Slots::default();
    for v in &container.env_from {
        own.set(&v.name, Some(v.value.clone()));
    }
    for e in &container.env {
        let value = match &e.value {
            EnvValue::Literal(text) => Some(expand(text, |name| match own.get(name) {
                // set in the container: its value, or unknown (then it stays literal)
                Some(v) => v,
                None => services.get(name).copied(),
            })),
            EnvValue::Resolved(v) => Some(v.clone()),
            EnvValue::Unresolved => None,
        };
        own.set(&e.name, value);
    }
    let rest = service_vars
        .iter()
        .filter(|v| !own.index.contains_key(&v.name))
        .cloned();
    let mut out: Vec<EnvVar> = own
        .items
        .iter()
        .filter_map(|(name, value)| value.as_ref().map(|v| EnvVar::new(name, v)))
        .collect();
    out.extend(rest);
    out
}

/// An insertion-ordered map of the container's own variables; `None` = set but unknown.
#[derive(Default)]
struct Slots {
    items: Vec<(String, Option<String>)>,
    index: HashMap<String, usize>,
}

impl Slots {
    fn set(&mut self, name: &str, value: Option<String>) {
        match self.index.get(name) {
            Some(&i) => self.items[i].1 = value,
            None => {
                self.index.insert(name.to_string(), self.items.len());
                self.items.push((name.to_string(), value));
            }
        }
    }

    /// `None`: not set; `Some(None)`: set, value unknown.
    fn get(&self, name: &str) -> Option<Option<&str>> {
        self.index.get(name).map(|&i| self.items[i].1.as_deref())
    }
}
