//! Sources of cluster state: YAML/JSON manifests on disk and the live Kubernetes API.
//! Kubernetes types stop here: everything leaves as [`crate::zone::Change`]s (or, for
//! `kdns env`, as [`crate::envvars`] inputs).
pub mod api;
pub mod convert;
pub mod env_input;
pub mod kube;
mod list_watch;
pub mod manifests;
pub mod objects;
pub mod proto;
pub mod ratelimit;
pub mod selector;
