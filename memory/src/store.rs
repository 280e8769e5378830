//! A MemoryStore as the runner uses it: remember, recall and forget the memories of a scope.
//!
//! Search runs on the in-process [`crate::vector_index::VectorIndex`] of the scope, loaded from
//! the table on first use and kept in sync with the `memory_changes` log before every search;
//! its candidates are re-ranked exactly, in f32, with the vectors read back from PostgreSQL,
//! which also drops expired and deleted memories. Where pgvector was set up
//! ([`crate::schema::enable_pgvector`]), PostgreSQL's HNSW index serves instead.

mod in_process;
mod listing;
mod pgvector;
mod rows;

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use uuid::Uuid;

use crate::embedding::{Embedder, normalise};
use crate::error::MemoryError;
use crate::model::{Memory, MemoryScope, NewMemory, ScoredMemory};
use crate::vector_index::SearchTuning;

use in_process::ScopeIndex;
pub use listing::{MAX_BLOCK_BYTES, MAX_BLOCK_LABEL_BYTES, MemoryPage, StoredBlock};
use rows::{MEMORY_COLUMNS, MemoryRow};

/// How long a query waits for a connection.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(5);
/// Most memories one search returns.
pub const MAX_TOP_K: usize = 100;

/// How a store is opened.
#[derive(Clone, Debug)]
pub struct StoreOptions {
    /// The MemoryStore's `embedding.dimensions`.
    pub dimensions: usize,
    /// Searches see every agent's memories of the namespace.
    pub shared: bool,
    /// Candidates kept by the in-process index's stages.
    pub tuning: SearchTuning,
    /// Use pgvector where the server offers it.
    pub allow_pgvector: bool,
}

impl StoreOptions {
    /// Per-agent memories of `dimensions`, default tuning, pgvector where offered.
    pub fn new(dimensions: usize) -> Self {
        Self { dimensions, shared: false, tuning: SearchTuning::default(), allow_pgvector: true }
    }
}

/// Which engine answers searches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SearchEngine {
    /// The runner's quantised index with an exact re-rank.
    InProcess,
    /// pgvector's HNSW index in PostgreSQL.
    PgVector,
}

/// The loaded indexes by scope key; each loads on its scope's first search.
type ScopeIndexes = HashMap<(String, Option<String>), Arc<tokio::sync::Mutex<Option<ScopeIndex>>>>;

/// An opened store.
#[derive(Debug)]
pub struct MemoryStore {
    pool: PgPool,
    embedder: Embedder,
    options: StoreOptions,
    engine: SearchEngine,
    indexes: Mutex<ScopeIndexes>,
}

/// A pool on `url` whose connections use `schema`; lazy, so it can be made while PostgreSQL is
/// down. Errors leave the password out.
pub fn pool(url: &str, schema: &str, max_connections: u32) -> Result<PgPool, MemoryError> {
    let options = PgConnectOptions::from_str(url).map_err(|error| {
        let text = error.to_string();
        let text = match password_of(url) {
            Some(password) if !password.is_empty() => text.replace(password, "***"),
            _ => text,
        };
        MemoryError::Invalid(format!("the memory store URL is not a valid postgres:// URL: {text}"))
    })?;
    let options = options.options([("search_path", schema)]).application_name("agentry-memory");
    Ok(PgPoolOptions::new()
        .max_connections(max_connections.max(1))
        .min_connections(0)
        .acquire_timeout(ACQUIRE_TIMEOUT)
        // No ping before each query: a search is three round trips, not five; a broken
        // connection fails its query and the pool replaces it.
        .test_before_acquire(false)
        .connect_lazy_with(options))
}

fn password_of(url: &str) -> Option<&str> {
    let rest = url.split_once("://")?.1;
    rest.rsplit_once('@')?.0.split_once(':').map(|(_, password)| password)
}

/// `host:port/database` of a pool, fit for errors and logs.
pub(crate) fn target_of(pool: &PgPool) -> String {
    let options = pool.connect_options();
    format!("{}:{}/{}", options.get_host(), options.get_port(), options.get_database().unwrap_or("(default)"))
}

impl MemoryStore {
    /// Opens a migrated store: checks the embedder and the store agree on dimensions (and
    /// records them on first open: a store keeps them for life), and picks the search engine.
    pub async fn open(pool: PgPool, embedder: Embedder, options: StoreOptions) -> Result<Self, MemoryError> {
        if embedder.dimensions() != options.dimensions {
            return Err(MemoryError::DimensionMismatch {
                expected: options.dimensions,
                actual: embedder.dimensions(),
                source_name: "the embedder".into(),
            });
        }
        check_recorded_dimensions(&pool, options.dimensions).await?;
        let pgvector =
            options.allow_pgvector && crate::schema::enable_pgvector(&pool, options.dimensions).await?;
        let engine = if pgvector { SearchEngine::PgVector } else { SearchEngine::InProcess };
        tracing::info!(?engine, dimensions = options.dimensions, "memory store opened");
        Ok(Self { pool, embedder, options, engine, indexes: Mutex::new(HashMap::new()) })
    }

    /// The engine answering searches.
    pub fn engine(&self) -> SearchEngine {
        self.engine
    }

    /// The embedder.
    pub fn embedder(&self) -> &Embedder {
        &self.embedder
    }

    /// Stores `memory` for `scope`'s agent.
    pub async fn remember(&self, scope: &MemoryScope, memory: &NewMemory) -> Result<Memory, MemoryError> {
        memory.validate()?;
        let vector = self.embedder.embed_one(&memory.content).await?;
        self.remember_with_vector(scope, memory, vector).await
    }

    /// Stores `memory` with a vector made elsewhere (normalised here, length checked).
    pub async fn remember_with_vector(
        &self,
        scope: &MemoryScope,
        memory: &NewMemory,
        mut vector: Vec<f32>,
    ) -> Result<Memory, MemoryError> {
        memory.validate()?;
        self.check_vector(&vector, "the vector given")?;
        normalise(&mut vector);
        let expires_in = memory.expires_in_seconds.map(|s| s as f64);
        let sql = format!(
            "INSERT INTO memories (agent, namespace, type, content, embedding, importance, tags, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, now() + make_interval(secs => $8)) RETURNING {MEMORY_COLUMNS}"
        );
        let row: MemoryRow = sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(&scope.agent)
            .bind(&scope.namespace)
            .bind(memory.kind.as_str())
            .bind(&memory.content)
            .bind(&vector)
            .bind(memory.importance)
            .bind(&memory.tags)
            .bind(expires_in)
            .fetch_one(&self.pool)
            .await
            .map_err(|e| self.failed(e))?;
        rows::memory_of(row).map(|(memory, _)| memory)
    }

    /// Deletes memory `id` of `scope`; whether there was one.
    pub async fn forget(&self, scope: &MemoryScope, id: Uuid) -> Result<bool, MemoryError> {
        let agent = (!scope.shared).then_some(scope.agent.as_str());
        let sql = format!(
            "DELETE FROM memories WHERE id = $1 AND namespace = $2 AND {}",
            in_process::scope_filter(scope, 3)
        );
        let done = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .bind(&scope.namespace)
            .bind(agent)
            .execute(&self.pool)
            .await
            .map_err(|e| self.failed(e))?;
        Ok(done.rows_affected() > 0)
    }

    /// The `top_k` memories of `scope` best for `query`, at least `min_similarity` similar,
    /// best score first (see [`crate::scoring`]).
    pub async fn recall(
        &self,
        scope: &MemoryScope,
        query: &str,
        top_k: usize,
        min_similarity: f32,
    ) -> Result<Vec<ScoredMemory>, MemoryError> {
        let vector = self.embedder.embed_one(query).await?;
        self.recall_by_vector(scope, vector, top_k, min_similarity).await
    }

    /// As [`Self::recall`], for a vector made elsewhere.
    pub async fn recall_by_vector(
        &self,
        scope: &MemoryScope,
        mut query: Vec<f32>,
        top_k: usize,
        min_similarity: f32,
    ) -> Result<Vec<ScoredMemory>, MemoryError> {
        if !(1..=MAX_TOP_K).contains(&top_k) {
            return Err(MemoryError::Invalid(format!("topK {top_k} is not within 1..{MAX_TOP_K}")));
        }
        self.check_vector(&query, "the query vector")?;
        normalise(&mut query);
        // Enough candidates that importance and recency can reorder them (see scoring).
        let wanted = (top_k * 4).max(self.options.tuning.int8_candidates);
        let found = match self.engine {
            SearchEngine::PgVector => self.pgvector_candidates(scope, &query, wanted).await?,
            SearchEngine::InProcess => {
                self.in_process_candidates(scope, &query, wanted, top_k, min_similarity).await?
            }
        };
        Ok(rows::rank(found, &query, top_k, min_similarity))
    }

    /// Memories and heap bytes of `scope`'s in-process index, once it is loaded.
    pub async fn index_size(&self, scope: &MemoryScope) -> Option<(usize, usize)> {
        let index = self.lock_indexes().get(&scope.index_key()).cloned()?;
        let state = index.lock().await;
        state.as_ref().map(|state| (state.index.len(), state.index.heap_bytes()))
    }

    fn check_vector(&self, vector: &[f32], what: &str) -> Result<(), MemoryError> {
        if vector.len() != self.options.dimensions {
            return Err(MemoryError::DimensionMismatch {
                expected: self.options.dimensions,
                actual: vector.len(),
                source_name: what.into(),
            });
        }
        if vector.iter().any(|x| !x.is_finite()) {
            return Err(MemoryError::Invalid(format!("{what} holds a non-finite number")));
        }
        Ok(())
    }

    fn lock_indexes(&self) -> std::sync::MutexGuard<'_, ScopeIndexes> {
        // A panic while holding this lock leaves the map itself intact.
        self.indexes.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn failed(&self, source: sqlx::Error) -> MemoryError {
        MemoryError::Database { target: target_of(&self.pool), source }
    }
}

/// Records `dimensions` on a store's first open; refuses another length later.
async fn check_recorded_dimensions(pool: &PgPool, dimensions: usize) -> Result<(), MemoryError> {
    let failed = |source| MemoryError::Database { target: target_of(pool), source };
    sqlx::query("INSERT INTO memory_store_settings (key, value) VALUES ('dimensions', $1) ON CONFLICT (key) DO NOTHING")
        .bind(dimensions.to_string())
        .execute(pool)
        .await
        .map_err(failed)?;
    let recorded: String =
        sqlx::query_scalar("SELECT value FROM memory_store_settings WHERE key = 'dimensions'")
            .fetch_one(pool)
            .await
            .map_err(failed)?;
    match recorded.parse::<usize>() {
        Ok(recorded) if recorded == dimensions => Ok(()),
        Ok(recorded) => Err(MemoryError::DimensionMismatch {
            expected: recorded,
            actual: dimensions,
            source_name: "the MemoryStore's embedding.dimensions (a store keeps its first dimensions; use a new schema)"
                .into(),
        }),
        Err(_) => Err(MemoryError::Invalid(format!("the store records dimensions {recorded:?}, not a number"))),
    }
}
