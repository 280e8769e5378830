//! The plumbing every Agentry binary shares (the operator and the runner today): JSON logging,
//! the shutdown signal, a readiness handle and the admin endpoint serving `/healthz`, `/readyz`
//! and `/metrics` (DESIGN.md §1, §6).
//!
//! A `main.rs` calls [`logging::init`] (keeping the [`logging::Logging`] it returns), runs its work with [`runtime::block_on`], starts an
//! [`AdminEndpoint`] with the process's [`Readiness`], [`MetricsSource`] and [`ProcessMetrics`], and runs until
//! [`shutdown::signal`] completes.

pub mod admin_endpoint;
pub mod logging;
pub mod metric_registry;
mod proc_self;
pub mod process_metrics;
pub mod readiness;
pub mod runtime;
pub mod shutdown;

pub use admin_endpoint::{AdminEndpoint, AdminError, MetricsSource};
pub use metric_registry::{MetricCatalog, MetricRegistry};
pub use process_metrics::{BuildInfo, ProcessMetrics};
pub use readiness::{Readiness, ReadinessGate};
