//! What can go wrong with memories. Errors never hold a connection password or an API key.

/// A memory operation's failure.
#[derive(Debug, thiserror::Error)]
pub enum MemoryError {
    /// The input is wrong; the message names what.
    #[error("invalid memory input: {0}")]
    Invalid(String),
    /// A vector's length differs from the store's.
    #[error("{source_name} gives vectors of {actual} dimensions, but the store holds {expected}")]
    DimensionMismatch {
        /// The store's dimensions.
        expected: usize,
        /// What came.
        actual: usize,
        /// Where it came from.
        source_name: String,
    },
    /// The embeddings endpoint failed.
    #[error("embedding failed: {0}")]
    Embedding(String),
    /// PostgreSQL failed.
    #[error("memory store {target}: {source}")]
    Database {
        /// `host:port/database`, no credentials.
        target: String,
        /// What failed.
        #[source]
        source: sqlx::Error,
    },
}
