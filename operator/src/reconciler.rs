//! The reconciler kit every controller uses: the error type, the instrumented wrapper with one
//! error policy and per-object backoff, Events, and writing children and status with
//! server-side apply.

pub mod apply;
pub mod controller_kit;
pub mod error;
pub mod events;
pub mod retry_backoff;
