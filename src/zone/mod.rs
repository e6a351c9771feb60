//! The cluster zone: an immutable, indexed snapshot of the objects DNS answers from, swapped
//! atomically per change, and the rules that answer a question from it.
//!
//! Nothing here imports the rest of the crate or a wire type. The files, leaves first:
//!
//! | file | holds |
//! |---|---|
//! | `model.rs` | the zone's compact view of Kubernetes objects |
//! | `record.rs` | the records and replies the zone answers with |
//! | `names.rs` | dashed IPs, endpoint labels, reverse names, zone suffixes |
//! | `layered.rs` | the snapshot-friendly map behind every index |
//! | `index.rs` | the reverse indices' value (`IpSet`) and edits |
//! | `snapshot.rs` | [`Zone`], the immutable snapshot, and [`Versions`] |
//! | `store.rs` | [`Store`], the writer: [`Change`]s, relists |
//! | `mc_store.rs` | the store's ServiceImports and multicluster EndpointSlices |
//! | `handle.rs` | [`ZoneHandle`], the published zone and its generation |
//! | `options.rs` | [`KubeOptions`]: the directive's options that shape answers |
//! | `qname.rs` | the question name split into its parts |
//! | `ctx.rs` | one question being answered, and the items a name stands for |
//! | `items.rs` | what a name stands for (services, endpoints, pods, `ns.dns`) |
//! | `multicluster.rs` | what a name stands for in a `multicluster` zone (ServiceImports) |
//! | `reverse.rs` | reverse names and PTR answers |
//! | `scope.rs` | what of the cluster an answer was decided by (one namespace, or nothing) |
//! | `search.rs` | `autopath`: the client's namespace, its search path |
//! | `lookup.rs` | [`lookup::serve`]: one question, one [`Outcome`] |
//! | `transfer.rs` | [`transfer::transfer`]: the whole zone for AXFR/IXFR, CoreDNS's order |
//! | `external.rs` | [`external::serve`]: the `k8s_external` zone (Services' outside addresses) |
//!
//! Children import from the file that defines an item, never through this file's
//! re-exports, so no two files import each other.
#![warn(missing_docs)]

mod ctx;
pub mod external;
mod handle;
mod index;
mod items;
mod layered;
pub mod lookup;
mod mc_store;
pub mod model;
mod multicluster;
pub(crate) mod names;
mod options;
mod qname;
pub mod record;
pub(crate) mod reverse;
mod scope;
pub mod search;
mod snapshot;
mod store;
pub mod transfer;

pub use handle::ZoneHandle;
pub use options::{Fallthrough, KubeOptions, PodMode};
pub use record::{Depends, Outcome, Owner, Rcode, Record, Reply};
pub use snapshot::{Versions, Zone};
pub use store::{Change, Kind, Relist, Revision, Store};
