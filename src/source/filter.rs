//! Which objects the `kubernetes` directive looks at: its `labels`, `namespace_labels` and
//! `noendpoints` options, applied the same way to manifests ([`super::manifests`]) and to the
//! API watch ([`super::kube`], where the selectors go to the API server).
use super::selector::Selector;

/// Which objects the `kubernetes` directive looks at (its `labels`, `namespace_labels` and
/// `noendpoints` options), the same for files as for the API watch.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    /// Services, EndpointSlices (and Endpoints) and Pods must match.
    pub labels: Selector,
    /// Only namespaces with matching labels exist.
    pub namespace_labels: Option<Selector>,
    /// Ignore endpoints altogether.
    pub noendpoints: bool,
}
