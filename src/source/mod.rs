//! Sources of cluster state: YAML/JSON manifests on disk (and, later, the Kubernetes API).
//! Kubernetes types stop here: everything leaves as [`crate::zone::Change`]s.
pub mod convert;
pub mod env_input;
pub mod manifests;
pub mod selector;
