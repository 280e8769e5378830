//! The operator end to end: devcluster, the real runner binary in simulated pods, real NATS and
//! real PostgreSQL.

mod agent_usage;
mod chart_install;
mod harness_failures;
mod lease_outage;
mod least_privilege;
mod lifecycle;
mod memory;
mod memory_consolidation;
mod memory_outage;
mod memory_reasons;
mod nats_identity;
mod readiness;
mod samples;
mod scale;
mod session_controller;
mod session_fixtures;
mod sessions_on_runners;
mod status_reasons;
mod takeover;
