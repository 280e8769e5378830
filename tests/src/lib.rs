//! End-to-end tests across crates (DESIGN.md §7), and the fixtures the crates' own tests and
//! benchmarks share.

pub mod api_world;
pub mod binaries;
pub mod metrics_text;
pub mod namespace_recorder;
pub mod nats_fixture;
pub mod operator_process;
pub mod operator_world;
pub mod otlp_receiver;
pub mod polling;
pub mod private_postgres;
pub mod process_tree;
pub mod recorder_fixture;
pub mod recorder_process;
pub mod runner_fixture;
pub mod runner_process;
pub mod scripted_model;
pub mod secured_nats;
pub mod service_process;
