//! The cluster zone: an immutable, indexed snapshot of the objects DNS answers from, swapped
//! atomically per change, and the rules that answer a question from it.
mod ctx;
mod items;
pub mod layered;
pub mod lookup;
pub mod model;
pub(crate) mod names;
mod options;
mod qname;
pub mod record;
pub(crate) mod reverse;
mod scope;
pub mod store;

pub use options::{Fallthrough, KubeOptions, PodMode};
pub use record::{Outcome, Owner, Rcode, Record, Reply};
pub use store::{Change, Kind, Relist, Store, Zone, ZoneHandle};
