//! The memory tables' migrations (`memory/migrations/`, applied by the operator when it binds a
//! MemoryStore, and by [`migrate`] here), and the pgvector set-up where the extension exists.
//!
//! Connections select the store's schema through `search_path`, so the migrations name tables
//! unqualified; the `_sqlx_migrations` table lives in the schema too.

use std::borrow::Cow;

use sqlx::migrate::{Migration, MigrationType, Migrator};
use sqlx::{AssertSqlSafe, PgPool, SqlSafeStr};

use crate::error::MemoryError;
use crate::store::target_of;

/// The migrations, in order. A released version never changes: sqlx refuses a schema whose
/// applied migration differs from the one of the same version here.
const MIGRATIONS: &[(i64, &str, &str)] = &[
    (1, "memories", include_str!("../migrations/0001_memories.sql")),
    (2, "memory blocks", include_str!("../migrations/0002_memory_blocks.sql")),
    (3, "memory changes", include_str!("../migrations/0003_memory_changes.sql")),
];

/// pgvector's HNSW index takes vectors of at most this many dimensions.
pub const PGVECTOR_HNSW_MAX_DIMENSIONS: usize = 2000;

/// The memory migrations, for a sqlx [`Migrator`].
pub fn migrations() -> Vec<Migration> {
    MIGRATIONS
        .iter()
        .map(|(version, description, sql)| {
            Migration::new(
                *version,
                Cow::Borrowed(*description),
                MigrationType::Simple,
                sql.into_sql_str(),
                false,
            )
        })
        .collect()
}

/// The newest migration version this build knows.
pub fn latest_migration() -> i64 {
    MIGRATIONS.iter().map(|(version, _, _)| *version).max().unwrap_or(0)
}

/// Creates `schema` if missing and applies the migrations there. `pool`'s connections must have
/// `search_path` set to `schema` (as [`crate::store::pool`] makes them); `schema` must be a
/// plain lower-case identifier.
pub async fn migrate(pool: &PgPool, schema: &str) -> Result<(), MemoryError> {
    if !is_plain_identifier(schema) {
        return Err(MemoryError::Invalid(format!(
            "schema {schema:?} is not a lower-case PostgreSQL identifier"
        )));
    }
    let failed = |source| MemoryError::Database { target: target_of(pool), source };
    let mut conn = pool.acquire().await.map_err(failed)?;
    let create = format!("CREATE SCHEMA IF NOT EXISTS \"{schema}\"");
    match sqlx::query(AssertSqlSafe(create)).execute(&mut *conn).await {
        Ok(_) => {}
        // Two processes creating it at once: the loser trips over the catalogue's unique index.
        Err(sqlx::Error::Database(db)) if matches!(db.code().as_deref(), Some("23505" | "42P06")) => {}
        Err(error) => return Err(failed(error)),
    }
    let mut migrator = Migrator::with_migrations(migrations());
    migrator.dangerous_set_table_name(format!("\"{schema}\"._sqlx_migrations"));
    let outcome = migrator.run_direct(None, &mut *conn, false).await;
    if outcome.is_err() {
        // sqlx keeps its session-level migration lock when a migration fails.
        conn.close_on_drop();
    }
    outcome.map_err(|error| failed(sqlx::Error::Migrate(Box::new(error))))
}

/// Whether the server offers pgvector (`pg_available_extensions` lists `vector`).
pub async fn pgvector_available(pool: &PgPool) -> Result<bool, MemoryError> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector')")
        .fetch_one(pool)
        .await
        .map_err(|source| MemoryError::Database { target: target_of(pool), source })
}

/// Where pgvector is available: creates the extension, a `vector(dimensions)` column generated
/// from `embedding` and an HNSW cosine index on it, so search runs in PostgreSQL. Returns whether
/// it did; `false` (the in-process index serves) when the extension is not offered, the
/// dimensions exceed what HNSW indexes, or this role may not create the extension.
///
/// Not exercised on this project's machines, whose PostgreSQL 15 has no pgvector (docs/memory.md).
pub async fn enable_pgvector(pool: &PgPool, dimensions: usize) -> Result<bool, MemoryError> {
    if dimensions > PGVECTOR_HNSW_MAX_DIMENSIONS || !pgvector_available(pool).await? {
        return Ok(false);
    }
    let failed = |source| MemoryError::Database { target: target_of(pool), source };
    if let Err(error) = sqlx::query("CREATE EXTENSION IF NOT EXISTS vector").execute(pool).await {
        tracing::warn!(%error, "pgvector is available but could not be created; searching in process");
        return Ok(false);
    }
    // `array_to_vector` (the real[] → vector cast) is immutable, so the column can be generated:
    // every writer keeps it right without knowing it exists.
    let statements = [
        format!(
            "ALTER TABLE memories ADD COLUMN IF NOT EXISTS embedding_vector vector({dimensions}) \
             GENERATED ALWAYS AS (embedding::vector({dimensions})) STORED"
        ),
        "CREATE INDEX IF NOT EXISTS memories_embedding_vector_hnsw_idx ON memories \
         USING hnsw (embedding_vector vector_cosine_ops)"
            .to_string(),
    ];
    for statement in statements {
        sqlx::query(AssertSqlSafe(statement)).execute(pool).await.map_err(failed)?;
    }
    Ok(true)
}

fn is_plain_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 63
        && chars.next().is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !name.starts_with("pg_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn migrations_are_ordered() {
        let versions: Vec<i64> = migrations().iter().map(|m| m.version).collect();
        assert_eq!(versions, [1, 2, 3]);
        assert_eq!(latest_migration(), 3);
    }

    #[test]
    fn schema_names_are_plain_identifiers() {
        assert!(is_plain_identifier("agentry_mem_1"));
        for bad in ["", "A", "1a", "a-b", "a\"b", "pg_x"] {
            assert!(!is_plain_identifier(bad), "{bad}");
        }
    }
}
