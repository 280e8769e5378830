//! The operator end to end: devcluster, the real runner binary in simulated pods, real NATS and
//! real PostgreSQL.

mod harness;
mod lifecycle;
mod memory;
mod samples;
mod scale;
mod takeover;
