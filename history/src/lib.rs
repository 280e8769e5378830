//! The read side of Agentry's history (docs/history.md): what the recorder wrote to PostgreSQL
//! (`recorder/migrations/`), read back as the API contract's types (`agentry-api-contract`).
//!
//! Every function takes a pool whose connections use the recorder's schema (`search_path`, as
//! `agentry_recorder::database::pool` makes them), a namespace, and parameters the caller has
//! parsed and bounded already; the only input checked here is a page's opaque `cursor`.
//!
//! Statistics read the rollups the recorder maintains (`interaction_rollups`): their windows
//! start and end on whole minutes, and their latency percentiles are within
//! [`histogram::RELATIVE_ERROR`] of the exact ones.

pub mod agents;
pub mod costs;
mod cursor;
mod error;
pub mod histogram;
pub mod interactions;
mod rollup_window;
pub mod sessions;
mod sql_filter;
pub mod stats;
mod time;

pub use agents::{AgentRanking, agent_performance, rank_agents};
pub use costs::costs;
pub use error::HistoryError;
pub use stats::stats;
