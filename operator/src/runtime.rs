//! Running the operator as a process: settings, metrics, the shared caches, leader election and
//! the context every controller receives.

pub mod context;
pub mod leader_election;
pub mod metrics;
pub mod object_gauges;
pub mod settings;
pub mod shared_caches;
