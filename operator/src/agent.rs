//! The Agent controller and its pure parts: reference resolution, the rendered runner config,
//! the child objects (ConfigMap, Deployment, Service, NetworkPolicy) and the status they add up to.

pub mod children;
pub mod controller;
pub mod reconcile;
pub mod resolution;
pub mod runner_config;
pub mod status;
pub mod watch_mappers;
