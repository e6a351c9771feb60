//! How to reach the API server: the `kubernetes` directive's `endpoint`, `tls`, `kubeconfig`,
//! `apiserver_qps` and `apiserver_burst`, as the source needs them.
use std::path::PathBuf;

/// How to reach the API server (empty: the in-cluster service account).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ApiConfig {
    /// `endpoint URL`.
    pub endpoint: Option<String>,
    /// `tls CERT KEY CACERT`.
    pub tls: Option<(PathBuf, PathBuf, PathBuf)>,
    /// `kubeconfig FILE [CONTEXT]`.
    pub kubeconfig: Option<(PathBuf, Option<String>)>,
    /// `apiserver_qps`: requests per second to the API server (no limit when unset).
    pub qps: Option<f32>,
    /// `apiserver_burst`.
    pub burst: Option<u32>,
}
