//! Deletes as the generic registry performs them (finalizers, propagation policies, namespaces
//! terminating) and the garbage collector that finishes them: dependents of deleted owners,
//! foreground and orphan finalizers, emptied namespaces.

pub(crate) mod collector;
pub(crate) mod deletion;
