//! The operator end to end: devcluster, the real runner binary in simulated pods, real NATS and
//! real PostgreSQL.

mod harness_failures;
mod lifecycle;
mod memory;
mod memory_reasons;
mod samples;
mod scale;
mod status_reasons;
mod takeover;
