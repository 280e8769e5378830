//! Merging near-duplicate memories: two memories of one agent and type whose vectors are at
//! least the threshold similar become one. The more important one is kept (the newer among
//! equals) and takes the combined importance `1 − (1 − a)(1 − b)` (a fact stated twice matters
//! more than once, and never more than 1), the union of the tags (at most 32), the newer
//! creation time and the later expiry (none if either had none); the other is deleted.
//!
//! Each run compares the memories stored since the previous run (a cursor in
//! `memory_store_settings`) with all memories of their agent and type, through a quantised index
//! of that group built for the run (sign codes, then int8 codes; see [`VectorIndex`]); candidates
//! are confirmed with the exact f32 cosine. Cost: one read of each group with new memories, and
//! the index's codes for it while it is compared (1,728 bytes per memory at 1,536 dimensions).

use std::collections::HashSet;

use futures::TryStreamExt as _;
use sqlx::PgPool;
use uuid::Uuid;

use crate::embedding::normalise;
use crate::error::MemoryError;
use crate::quantised::dot_f32;
use crate::store::target_of;
use crate::vector_index::{SearchTuning, VectorIndex, centre_of};

/// The settings key of the creation time (epoch seconds) from which memories are still new.
const CURSOR_KEY: &str = "duplicates_checked_through";
/// Most new memories of one group compared per run; the rest wait for the next run.
const BATCH: usize = 5_000;
/// A memory written in a transaction that began before a run and committed after it has a
/// creation time behind the cursor: the cursor stays this far behind the run's start.
const CURSOR_MARGIN_SECONDS: f64 = 60.0;
/// How far below the threshold an int8 estimate may be and still be checked exactly.
const ESTIMATE_SLACK: f32 = 0.03;
/// Candidates of the quantised stages per new memory.
const TUNING: SearchTuning = SearchTuning { sign_candidates: 256, int8_candidates: 8 };

/// namespace, agent, type.
type Group = (String, String, String);

/// A memory as merging sees it.
struct Row {
    id: Uuid,
    vector: Vec<f32>,
    importance: f32,
    created_at: f64,
}

type RowTuple = (Uuid, Vec<f32>, f32, f64);

const ROW_COLUMNS: &str = "id, embedding, importance, extract(epoch FROM created_at)::float8";

/// Merges the near-duplicates among the memories stored since the previous run; returns how many
/// memories were merged away.
pub(super) async fn merge(pool: &PgPool, similarity: f32) -> Result<u64, MemoryError> {
    let failed = |source| MemoryError::Database { target: target_of(pool), source };
    let (since, started): (f64, f64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT coalesce((SELECT value::float8 FROM memory_store_settings WHERE key = '{CURSOR_KEY}'), 0), \
         extract(epoch FROM now())::float8"
    )))
    .fetch_one(pool)
    .await
    .map_err(failed)?;
    let groups: Vec<Group> = sqlx::query_as(
        "SELECT DISTINCT namespace, agent, type FROM memories \
         WHERE created_at >= to_timestamp($1) AND embedding IS NOT NULL",
    )
    .bind(since)
    .fetch_all(pool)
    .await
    .map_err(failed)?;
    let mut merged = 0;
    let mut cursor = started - CURSOR_MARGIN_SECONDS;
    for group in &groups {
        let (count, resume_at) = merge_group(pool, group, since, similarity).await?;
        merged += count;
        cursor = resume_at.map_or(cursor, |at| cursor.min(at));
    }
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "INSERT INTO memory_store_settings (key, value) VALUES ('{CURSOR_KEY}', $1::text) \
         ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value"
    )))
    .bind(cursor.max(since))
    .execute(pool)
    .await
    .map_err(failed)?;
    Ok(merged)
}

/// Merges within one group; returns the memories merged away and, when the batch was full, the
/// creation time to resume from.
async fn merge_group(
    pool: &PgPool,
    group: &Group,
    since: f64,
    similarity: f32,
) -> Result<(u64, Option<f64>), MemoryError> {
    let new = new_rows(pool, group, since).await?;
    let resume_at = (new.len() >= BATCH).then(|| new.last().map_or(since, |row| row.created_at));
    let mut index = group_index(pool, group, &new).await?;
    let mut gone = HashSet::new();
    let mut merged = 0;
    for row in &new {
        if gone.contains(&row.id) {
            continue;
        }
        let Some(other) = nearest_duplicate(pool, &index, row, &gone, similarity).await? else {
            continue;
        };
        let (keep, lose) = if prefer(&other, row) { (&other, row) } else { (row, &other) };
        if merge_pair(pool, keep.id, lose.id).await? {
            tracing::debug!(kept = %keep.id, merged = %lose.id, "near-duplicate memories merged");
            gone.insert(lose.id);
            index.remove(lose.id);
            merged += 1;
        }
    }
    Ok((merged, resume_at))
}

/// Whether `a` is kept over `b`: more important, or as important and newer.
fn prefer(a: &Row, b: &Row) -> bool {
    a.importance > b.importance || (a.importance == b.importance && a.created_at > b.created_at)
}

async fn new_rows(pool: &PgPool, group: &Group, since: f64) -> Result<Vec<Row>, MemoryError> {
    let sql = format!(
        "SELECT {ROW_COLUMNS} FROM memories WHERE namespace = $1 AND agent = $2 AND type = $3 \
         AND created_at >= to_timestamp($4) AND embedding IS NOT NULL ORDER BY created_at, id LIMIT $5"
    );
    let rows: Vec<RowTuple> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(&group.0)
        .bind(&group.1)
        .bind(&group.2)
        .bind(since)
        .bind(i64::try_from(BATCH).unwrap_or(i64::MAX))
        .fetch_all(pool)
        .await
        .map_err(|source| MemoryError::Database { target: target_of(pool), source })?;
    Ok(rows.into_iter().map(row_of).collect())
}

/// The row with its vector at unit length: the store writes unit vectors, but other writers of
/// the table need not, and dot products must be cosines.
fn row_of((id, mut vector, importance, created_at): RowTuple) -> Row {
    normalise(&mut vector);
    Row { id, vector, importance, created_at }
}

/// The quantised index of every memory of `group`, centred on the new memories' mean.
async fn group_index(pool: &PgPool, group: &Group, new: &[Row]) -> Result<VectorIndex, MemoryError> {
    let dimensions = new.first().map_or(0, |row| row.vector.len());
    let mut index =
        VectorIndex::new(dimensions, centre_of(dimensions, new.iter().map(|r| r.vector.as_slice())));
    let mut rows = sqlx::query_as::<_, (Uuid, Vec<f32>)>(
        "SELECT id, embedding FROM memories WHERE namespace = $1 AND agent = $2 AND type = $3 \
         AND embedding IS NOT NULL",
    )
    .bind(&group.0)
    .bind(&group.1)
    .bind(&group.2)
    .fetch(pool);
    while let Some((id, mut vector)) =
        rows.try_next().await.map_err(|source| MemoryError::Database { target: target_of(pool), source })?
    {
        normalise(&mut vector);
        index.upsert(id, &vector);
    }
    drop(rows);
    index.shrink_to_fit();
    Ok(index)
}

/// The memory of `row`'s group most similar to it, if at least `similarity` similar (exactly).
async fn nearest_duplicate(
    pool: &PgPool,
    index: &VectorIndex,
    row: &Row,
    gone: &HashSet<Uuid>,
    similarity: f32,
) -> Result<Option<Row>, MemoryError> {
    let ids: Vec<Uuid> = index
        .candidates(&row.vector, TUNING)
        .into_iter()
        .filter(|(id, estimate)| {
            *id != row.id && !gone.contains(id) && *estimate >= similarity - ESTIMATE_SLACK
        })
        .map(|(id, _)| id)
        .collect();
    if ids.is_empty() {
        return Ok(None);
    }
    let sql = format!("SELECT {ROW_COLUMNS} FROM memories WHERE id = ANY($1) AND embedding IS NOT NULL");
    let rows: Vec<RowTuple> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(&ids)
        .fetch_all(pool)
        .await
        .map_err(|source| MemoryError::Database { target: target_of(pool), source })?;
    Ok(rows
        .into_iter()
        .map(row_of)
        .map(|other| (dot_f32(&row.vector, &other.vector), other))
        .filter(|(cosine, _)| *cosine >= similarity)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(_, other)| other))
}

/// Folds memory `lose` into `keep` in one statement; whether both still existed.
async fn merge_pair(pool: &PgPool, keep: Uuid, lose: Uuid) -> Result<bool, MemoryError> {
    let merged: Option<Uuid> = sqlx::query_scalar(
        "WITH gone AS (DELETE FROM memories WHERE id = $2 \
           AND EXISTS (SELECT 1 FROM memories WHERE id = $1) \
           RETURNING importance, tags, created_at, expires_at) \
         UPDATE memories k SET \
           importance = 1 - (1 - k.importance) * (1 - gone.importance), \
           tags = coalesce((SELECT (array_agg(DISTINCT t ORDER BY t))[1:32] \
                            FROM unnest(k.tags || gone.tags) AS t), '{}'), \
           created_at = greatest(k.created_at, gone.created_at), \
           expires_at = CASE WHEN k.expires_at IS NULL OR gone.expires_at IS NULL THEN NULL \
                             ELSE greatest(k.expires_at, gone.expires_at) END \
         FROM gone WHERE k.id = $1 RETURNING k.id",
    )
    .bind(keep)
    .bind(lose)
    .fetch_optional(pool)
    .await
    .map_err(|source| MemoryError::Database { target: target_of(pool), source })?;
    Ok(merged.is_some())
}
