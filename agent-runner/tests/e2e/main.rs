//! End to end through real NATS with the real runner binary (and the runner library in-process)
//! and scripted model servers.

mod answers;
mod callers;
mod delegation;
mod draining;
mod harness;
mod in_process;
mod lifecycle;
mod limits;
mod memory;
mod notifications;
mod request_limits;
mod resilience;
mod shared_budget;
mod stream_failures;
mod stream_probe;
mod streaming;
mod task_world;
mod tasks;
mod wire_limits;
