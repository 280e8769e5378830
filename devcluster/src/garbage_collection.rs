//! Deletes as the generic registry performs them (finalizers, propagation policies, namespaces
//! terminating) and the garbage collector that finishes them: dependents of deleted owners,
//! foreground and orphan finalizers; the namespace controller that empties terminating namespaces.

pub(crate) mod collector;
pub(crate) mod deletion;
pub(crate) mod namespace_controller;
