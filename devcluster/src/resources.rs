//! What the server serves: the description of each resource (built-in kinds and CRD versions),
//! and the registry that maps URL paths to them.

pub mod builtin_kinds;
pub mod crd_resources;
mod description;
pub mod event_conversion;
mod registry;

pub use description::{PrinterColumn, ResourceDesc, StorageKey};
pub use registry::Registry;
