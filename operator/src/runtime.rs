//! Running the operator as a process: settings, metrics, the shared caches, the NATS link, leader
//! election and the context every controller receives.

pub mod apiserver_probe;
pub mod context;
pub mod election;
pub mod handles;
pub mod leader_election;
pub mod lease_lock;
pub mod metrics;
pub mod nats_link;
pub mod object_gauges;
pub mod secret_caches;
pub mod settings;
pub mod shared_caches;
