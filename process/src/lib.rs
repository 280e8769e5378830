//! The plumbing every Agentry binary shares (the operator and the runner today): JSON logging,
//! the shutdown signal, a readiness handle and the admin endpoint serving `/healthz`, `/readyz`
//! and `/metrics` (DESIGN.md §1, §6).
//!
//! A `main.rs` calls [`logging::init`], runs its work with [`runtime::block_on`], starts an
//! [`AdminEndpoint`] with the process's [`Readiness`] and [`MetricsSource`], and runs until
//! [`shutdown::signal`] completes.

pub mod admin_endpoint;
pub mod logging;
pub mod readiness;
pub mod runtime;
pub mod shutdown;

pub use admin_endpoint::{AdminEndpoint, AdminError, MetricsSource};
pub use readiness::{Readiness, ReadinessGate};
