//! Agents' long-term memory (DESIGN.md §2, §5; docs/memory.md): the memory model, the
//! PostgreSQL store and its migrations, the embedders, and the search.
//!
//! Search on plain PostgreSQL runs in the process that asks: a per-scope index of quantised
//! vectors (sign codes, then int8 codes) kept in sync with the table through a change log,
//! whose best candidates are re-ranked exactly in f32. Where pgvector exists, PostgreSQL
//! searches instead.

mod change_feed;
pub mod consolidation;
pub mod embedding;
mod error;
pub mod model;
mod quantised;
pub mod schema;
pub mod scoring;
pub mod store;
pub mod vector_index;

pub use embedding::{Embedder, EmbeddingEndpoint, HashingEmbedder, OpenAiEmbedder};
pub use error::MemoryError;
pub use model::{Memory, MemoryScope, MemoryType, NewMemory, ScoredMemory};
pub use store::{MemoryStore, SearchEngine, StoreOptions};
pub use vector_index::{SearchTuning, VectorIndex};
