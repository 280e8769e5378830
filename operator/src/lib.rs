//! The Agentry operator: controllers that turn Agentry manifests into running agents, and the
//! metrics and health endpoints they serve (DESIGN.md §3).

pub mod agent_children;
pub mod agent_resolution;
pub mod context;
pub mod error;
pub mod metrics;
pub mod runner_config_render;
pub mod settings;
