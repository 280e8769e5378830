//! The agent runner: the process in every agent pod that answers its NATS subject by running the
//! agent loop (DESIGN.md §4). [`Runner::start`] runs one agent; the binary only reads its
//! environment and waits for SIGTERM.

pub mod agent_loop;
pub mod config_file;
mod drain;
pub mod event_publisher;
pub mod memory_recall;
pub mod metrics;
pub mod model;
pub mod nats_delegate;
mod request_stream;
pub mod runner;
pub mod service;
pub mod slots;
mod task_backlog;
mod task_outcome;
mod task_run;
mod task_worker;
pub mod tools;
pub mod usage_ledger;

pub use runner::{RunError, Runner, SecretLookup, StartError};
