//! The Agent controller and its pure parts: reference resolution, the rendered runner config,
//! the child objects (ConfigMap, Deployment, Service, NetworkPolicy), the status they add up to
//! and the usage today shown in it.

pub mod callers;
pub mod child_refusal;
pub mod children;
pub mod controller;
pub mod memory_binding;
pub mod nats_identity;
pub mod readiness;
pub mod reconcile;
pub mod resolution;
pub mod runner_config;
pub mod status;
pub mod usage;
pub mod watch_mappers;
