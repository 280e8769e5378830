//! The Agentry operator: controllers that turn Agentry manifests into running agents, and the
//! metrics and health endpoints they serve (DESIGN.md §3).
//!
//! One folder per controller (`agent`, `model`, `tool`, `memory_store`, `session`), the reconciler kit they
//! all use (`reconciler`), and the process around them (`runtime`).

pub mod agent;
pub mod http_endpoint;
pub mod memory_store;
pub mod model;
pub mod rbac;
pub mod reconciler;
pub mod runtime;
pub mod secret_keys;
pub mod session;
pub mod tool;

pub use memory_store::schema as memory_schema;
pub use runtime::leader_election as operator_runtime;
pub use runtime::settings;
