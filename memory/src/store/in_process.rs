//! The in-process engine: per scope, a [`VectorIndex`] loaded from the table on first use and
//! brought up to date from `memory_changes` before each search; its candidates are read back
//! (live, unexpired rows only) for the exact re-rank.

use std::sync::Arc;
use std::time::Instant;

use futures::TryStreamExt as _;
use sqlx::{Acquire as _, PgPool};
use uuid::Uuid;

use crate::change_feed::{ChangeFeed, ChangeRow};
use crate::consolidation::ChangeLogFloor;
use crate::consolidation::change_log::{floor_seq_sql, floor_xid_sql};
use crate::error::MemoryError;
use crate::model::MemoryScope;
use crate::scoring;
use crate::vector_index::{SearchTuning, VectorIndex, centre_of};

use super::MemoryStore;
use super::rows::{MEMORY_COLUMNS, MemoryRow, real_array};

/// Rows read back with their vectors for the exact re-rank, per result asked for…
const EXACT_PER_RESULT: usize = 2;
/// …and at least this many.
const EXACT_AT_LEAST: usize = 20;
/// How far below `minScore` an int8 estimate may be and its row still be read back: the
/// estimate's error is about 1 % (quantised.rs).
const ESTIMATE_SLACK: f32 = 0.05;

/// Vectors read before the index's centre is fixed: enough for a stable mean, few enough to
/// buffer in f32.
const CENTRE_SAMPLE: usize = 4_096;

/// One scope's index and its place in the change log.
#[derive(Debug)]
pub(super) struct ScopeIndex {
    pub(super) index: VectorIndex,
    feed: ChangeFeed,
}

impl MemoryStore {
    /// Up to `wanted` candidate rows for `query` from `scope`'s index, loading or syncing it
    /// first.
    pub(super) async fn in_process_candidates(
        &self,
        scope: &MemoryScope,
        query: &[f32],
        wanted: usize,
        top_k: usize,
        min_similarity: f32,
    ) -> Result<Vec<MemoryRow>, MemoryError> {
        let tuning = self.options.tuning;
        let int8_candidates = tuning.int8_candidates.max(wanted);
        let tuning =
            SearchTuning { int8_candidates, sign_candidates: tuning.sign_candidates.max(int8_candidates) };
        let slot = {
            let mut indexes = self.lock_indexes();
            Arc::clone(indexes.entry(scope.index_key()).or_default())
        };
        let mut guard = slot.lock().await;
        let state = match guard.as_mut() {
            Some(state) => {
                self.sync(scope, state).await?;
                state
            }
            None => guard.insert(self.load(scope).await?),
        };
        let candidates = state.index.candidates(query, tuning);
        drop(guard);
        let reread = (top_k * EXACT_PER_RESULT).max(EXACT_AT_LEAST).min(candidates.len());
        self.rows_of(scope, &candidates, reread, min_similarity - ESTIMATE_SLACK).await
    }

    /// Of `candidates` (ids with their int8 similarity estimates), reads back the `reread` live,
    /// unexpired rows of `scope` with the best estimated score (at least `min_estimate`
    /// similar), vectors included, for the exact re-rank.
    ///
    /// The estimated score ranks all candidates in PostgreSQL from importance and creation time
    /// alone; only the rows kept are sent with their vectors. Sending a `real[]` costs PostgreSQL
    /// a call per element, which at 1,536 dimensions made the read-back of every candidate the
    /// largest part of a search (docs/memory.md).
    async fn rows_of(
        &self,
        scope: &MemoryScope,
        candidates: &[(Uuid, f32)],
        reread: usize,
        min_estimate: f32,
    ) -> Result<Vec<MemoryRow>, MemoryError> {
        if candidates.is_empty() {
            return Ok(Vec::new());
        }
        let (ids, estimates): (Vec<Uuid>, Vec<f32>) = candidates.iter().copied().unzip();
        let agent = (!scope.shared).then_some(scope.agent.as_str());
        // The scope is checked again here: the index is per scope, the table is not.
        let sql = format!(
            "SELECT {MEMORY_COLUMNS} FROM memories WHERE id = ANY(ARRAY( \
               SELECT m.id FROM memories m JOIN unnest($1::uuid[], $2::real[]) AS c(id, estimate) ON m.id = c.id \
               WHERE namespace = $3 AND {} AND (expires_at IS NULL OR expires_at > now()) AND c.estimate >= $5 \
               ORDER BY {} DESC LIMIT $6))",
            scope_filter(scope, 4),
            scoring::score_sql("c.estimate", "m.importance", "m.created_at"),
        );
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(&ids)
            .bind(&estimates)
            .bind(&scope.namespace)
            .bind(agent)
            .bind(min_estimate)
            .bind(i64::try_from(reread).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(|e| self.failed(e))
    }

    /// Builds `scope`'s index from the table, in one snapshot with the change log's position.
    async fn load(&self, scope: &MemoryScope) -> Result<ScopeIndex, MemoryError> {
        let started = Instant::now();
        let failed = |e| self.failed(e);
        let mut conn = self.pool.acquire().await.map_err(failed)?;
        let mut tx = conn.begin().await.map_err(failed)?;
        sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .execute(&mut *tx)
            .await
            .map_err(failed)?;
        // Past the log's cut too: with every row cut, max(seq) alone would be behind it and
        // the index would reload on every search.
        let (cursor, xmin): (i64, i64) = sqlx::query_as(sqlx::AssertSqlSafe(format!(
            "SELECT greatest(coalesce(max(seq), 0), {}), pg_snapshot_xmin(pg_current_snapshot())::text::bigint \
             FROM memory_changes",
            floor_seq_sql()
        )))
            .fetch_one(&mut *tx)
            .await
            .map_err(failed)?;
        let agent = (!scope.shared).then_some(scope.agent.as_str());
        let sql = format!(
            "SELECT id, array_send(embedding) FROM memories WHERE namespace = $1 AND {} \
             AND embedding IS NOT NULL",
            scope_filter(scope, 2)
        );
        let mut rows = sqlx::query_as::<_, (Uuid, Vec<u8>)>(sqlx::AssertSqlSafe(sql))
            .bind(&scope.namespace)
            .bind(agent)
            .fetch(&mut *tx);
        let mut sample = Vec::with_capacity(CENTRE_SAMPLE);
        let mut index = None;
        while let Some((id, bytes)) = rows.try_next().await.map_err(failed)? {
            let Some(vector) = real_array(&bytes) else { continue };
            match index.as_mut() {
                Some(index) => VectorIndex::upsert(index, id, &vector),
                None if sample.len() < CENTRE_SAMPLE => sample.push((id, vector)),
                None => {
                    let mut built = self.index_from(&sample);
                    built.upsert(id, &vector);
                    sample.clear();
                    index = Some(built);
                }
            }
        }
        drop(rows);
        tx.commit().await.map_err(failed)?;
        let mut index = index.unwrap_or_else(|| self.index_from(&sample));
        index.shrink_to_fit();
        tracing::info!(memories = index.len(), heap_bytes = index.heap_bytes(), elapsed = ?started.elapsed(), "memory index loaded");
        Ok(ScopeIndex { index, feed: ChangeFeed::starting_at(cursor, xmin) })
    }

    fn index_from(&self, sample: &[(Uuid, Vec<f32>)]) -> VectorIndex {
        let dimensions = self.options.dimensions;
        let centre = centre_of(dimensions, sample.iter().map(|(_, v)| v.as_slice()));
        let mut index = VectorIndex::new(dimensions, centre);
        sample.iter().for_each(|(id, vector)| index.upsert(*id, vector));
        index
    }

    /// Applies the changes of `scope` since the index last looked: each touched memory is read
    /// again, and is in the index exactly when it still exists.
    async fn sync(&self, scope: &MemoryScope, state: &mut ScopeIndex) -> Result<(), MemoryError> {
        let (xmin, changes, floor) =
            changes_since(&self.pool, scope, &state.feed).await.map_err(|e| self.failed(e))?;
        if floor.needs_reload(state.feed.cursor(), state.feed.xmin()) {
            // Consolidation cut log rows this index had not seen: the table is the truth.
            tracing::info!(
                cursor = state.feed.cursor(),
                cut = floor.seq,
                "memory change log cut past the index; reloading"
            );
            *state = self.load(scope).await?;
            return Ok(());
        }
        let touched = state.feed.fresh(&changes, xmin);
        if touched.is_empty() {
            return Ok(());
        }
        let current: Vec<(Uuid, Option<Vec<f32>>)> =
            sqlx::query_as("SELECT id, embedding FROM memories WHERE id = ANY($1)")
                .bind(&touched)
                .fetch_all(&self.pool)
                .await
                .map_err(|e| self.failed(e))?;
        for id in &touched {
            match current.iter().find(|(found, _)| found == id) {
                Some((_, Some(vector))) => state.index.upsert(*id, vector),
                _ => state.index.remove(*id),
            }
        }
        Ok(())
    }
}

/// The snapshot's xmin, `scope`'s changes past the feed's cursor or written by transactions
/// that were open at its previous look, and how far the log was cut; one statement, so one
/// snapshot.
async fn changes_since(
    pool: &PgPool,
    scope: &MemoryScope,
    feed: &ChangeFeed,
) -> Result<(i64, Vec<ChangeRow>, ChangeLogFloor), sqlx::Error> {
    let agent = (!scope.shared).then_some(scope.agent.as_str());
    let filter = scope_filter(scope, 2);
    let sql = format!(
        "WITH changes AS ( \
           SELECT seq, xid, memory_id FROM memory_changes WHERE namespace = $1 AND {filter} AND seq > $3 \
           UNION \
           SELECT seq, xid, memory_id FROM memory_changes WHERE namespace = $1 AND {filter} \
           AND xid >= $4::text::xid8) \
         SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint, \
           coalesce(array_agg(seq ORDER BY seq), '{{}}'), \
           coalesce(array_agg(xid::text::bigint ORDER BY seq), '{{}}'), \
           coalesce(array_agg(memory_id ORDER BY seq), '{{}}'), {}, {} \
         FROM changes",
        floor_seq_sql(),
        floor_xid_sql()
    );
    let (xmin, seqs, xids, ids, floor_seq, floor_xid): (i64, Vec<i64>, Vec<i64>, Vec<Uuid>, i64, i64) =
        sqlx::query_as(sqlx::AssertSqlSafe(sql))
            .bind(&scope.namespace)
            .bind(agent)
            .bind(feed.cursor())
            .bind(feed.xmin().to_string())
            .fetch_one(pool)
            .await?;
    let rows = seqs.into_iter().zip(xids).zip(ids).map(|((seq, xid), id)| (seq, xid, id)).collect();
    Ok((xmin, rows, ChangeLogFloor { seq: floor_seq, xid: floor_xid }))
}

/// The condition selecting `scope`'s rows, on the agent bound as parameter `$n` (bound as NULL
/// for a shared scope). Two statements rather than `$n IS NULL OR agent = $n`, so a per-agent
/// query's plan uses the (namespace, agent, …) indexes.
pub(super) fn scope_filter(scope: &MemoryScope, n: usize) -> String {
    if scope.shared { format!("${n}::text IS NULL") } else { format!("agent = ${n}") }
}
