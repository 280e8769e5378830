//! The Session controller and its pure parts: the tasks a Session runs (one, or a pipeline for a
//! collaboration), where it stands from their records, and the status and Events that follow.
//! See docs/sessions.md.

pub mod bounded_text;
pub mod controller;
#[cfg(test)]
mod fixtures;
pub mod lifecycle_event;
pub mod outcome;
pub mod pipeline;
pub mod plan;
pub mod reconcile;
pub mod status;
pub mod task_finalizer;
pub mod watch_mappers;
