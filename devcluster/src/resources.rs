//! What the server serves: the description of each resource (built-in kinds and CRD versions),
//! and the registry that maps URL paths to them.

pub(crate) mod builtin_kinds;
pub(crate) mod crd_resources;
mod description;
pub(crate) mod event_conversion;
mod registry;

pub(crate) use description::{ResourceDesc, ScalePaths, StorageKey};
pub(crate) use registry::Registry;
