//! The Agentry operator: controllers that turn Agentry manifests into running agents, and the
//! metrics and health endpoints they serve (DESIGN.md §3).

pub mod agent_children;
pub mod agent_controller;
pub mod agent_resolution;
pub mod agent_status;
pub mod context;
pub mod error;
pub mod http_endpoint;
pub mod memory_schema;
pub mod memory_store_controller;
mod memory_store_state;
pub mod memory_store_status;
pub mod metrics;
pub mod model_controller;
pub mod object_gauges;
pub mod operator_runtime;
pub mod rbac;
pub mod reconcile_plumbing;
pub mod runner_config_render;
pub mod settings;
pub mod shared_caches;
pub mod status_patch;
pub mod tool_controller;
