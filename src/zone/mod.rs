//! The cluster zone: an immutable, indexed snapshot of the objects DNS answers from, swapped
//! atomically per change, and the rules that answer a question from it.
pub mod layered;
pub mod lookup;
pub mod model;
pub mod names;
pub mod record;
pub mod store;

pub use lookup::{Fallthrough, KubeOptions, PodMode};
pub use record::{Outcome, Owner, Rcode, Record, Reply};
pub use store::{Change, Kind, Relist, Store, Zone, ZoneHandle};
