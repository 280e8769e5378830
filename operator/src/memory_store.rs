//! The MemoryStore controller: connects to the store's PostgreSQL, migrates its schema and
//! reports what it found; the schema and connection handling live beside it.

pub mod consolidation;
pub mod controller;
pub mod schedule;
pub mod schema;
pub(crate) mod state;
pub mod status;
