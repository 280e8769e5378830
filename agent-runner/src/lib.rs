//! The agent runner: the process in every agent pod that answers its NATS subject by running the
//! agent loop (DESIGN.md §4).

pub mod agent_loop;
pub mod budget;
pub mod delegation;
pub mod event_publisher;
pub mod http_endpoint;
pub mod metrics;
pub mod model;
pub mod service;
pub mod tools;
