//! End-to-end tests across crates (DESIGN.md §7), and the fixtures the crates' own tests share.

pub mod binaries;
pub mod nats_fixture;
pub mod polling;
pub mod runner_process;
pub mod scripted_model;
