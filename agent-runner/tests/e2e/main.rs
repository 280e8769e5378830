//! End to end through real NATS with the real runner binary and scripted model servers.

mod answers;
mod delegation;
mod harness;
mod lifecycle;
mod limits;
mod notifications;
mod resilience;
