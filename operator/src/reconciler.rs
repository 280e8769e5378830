//! What every controller shares around its reconcile: the error type, the instrumented wrapper,
//! and writing children and status with server-side apply.

pub mod apply;
pub mod error;
pub mod instrumented;
