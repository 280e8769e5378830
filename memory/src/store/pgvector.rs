//! The pgvector engine: PostgreSQL's HNSW index on the generated `embedding_vector` column
//! ranks by cosine distance; the rows come back with their f32 vectors for the same exact
//! ranking the in-process engine ends with.
//!
//! Not run on this project's machines (PostgreSQL 15 without pgvector); see docs/memory.md.
//! A per-agent filter is applied after the HNSW scan; pgvector ≥ 0.8 keeps scanning until
//! enough rows pass (`hnsw.iterative_scan`), older versions can return fewer than asked.

use crate::error::MemoryError;
use crate::model::MemoryScope;

use super::MemoryStore;
use super::in_process::scope_filter;
use super::rows::{MEMORY_COLUMNS, MemoryRow};

impl MemoryStore {
    /// The `wanted` nearest live rows of `scope` by pgvector's cosine distance.
    pub(super) async fn pgvector_candidates(
        &self,
        scope: &MemoryScope,
        query: &[f32],
        wanted: usize,
    ) -> Result<Vec<MemoryRow>, MemoryError> {
        let agent = (!scope.shared).then_some(scope.agent.as_str());
        let sql = format!(
            "SELECT {MEMORY_COLUMNS} FROM memories WHERE namespace = $1 AND {} \
             AND (expires_at IS NULL OR expires_at > now()) \
             ORDER BY embedding_vector <=> $3::real[]::vector LIMIT $4",
            scope_filter(scope, 2)
        );
        let limit = i64::try_from(wanted).unwrap_or(i64::MAX);
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(&scope.namespace)
            .bind(agent)
            .bind(query)
            .bind(limit)
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.failed(e))
    }
}
