//! Retention and consolidation of a store (MemoryStore `retention`, `consolidation.schedule`;
//! docs/memory.md): what the operator runs on schedule.
//!
//! One run, in this order: memories past their expiry and older than `maxAgeDays` are deleted;
//! near-duplicates (same agent, same type, cosine similarity at least
//! [`RetentionPolicy::duplicate_similarity`]) are merged, so a fact stated twice is reinforced
//! before the importance threshold looks at it; memories less important than `minImportance` are
//! deleted; each agent's least important memories beyond `maxPerAgent` are deleted; and the
//! change log is cut to what the runners' indexes still need. Every delete goes through the
//! `memories` table, so the change-log trigger tells every runner's index.

pub(crate) mod change_log;
mod duplicates;

use std::time::Duration;

use sqlx::PgPool;

use crate::error::MemoryError;
use crate::store::target_of;

pub use change_log::{CHANGE_LOG_KEEP, ChangeLogFloor};

/// Cosine similarity from which two memories of one agent and type count as one.
pub const DEFAULT_DUPLICATE_SIMILARITY: f32 = 0.95;

/// What a run prunes and merges.
#[derive(Clone, Debug, PartialEq)]
pub struct RetentionPolicy {
    /// Memories created longer ago than this many days are deleted.
    pub max_age_days: Option<u32>,
    /// Memories less important than this are deleted.
    pub min_importance: Option<f32>,
    /// Per agent, the least important memories beyond this count are deleted (the newest kept
    /// among equally important ones).
    pub max_per_agent: Option<i64>,
    /// Memories of one agent and type at least this similar are merged; `None` merges nothing.
    pub duplicate_similarity: Option<f32>,
    /// Change-log rows older than this are deleted (runners whose index is further behind reload
    /// it; see [`ChangeLogFloor`]).
    pub change_log_keep: Duration,
}

impl Default for RetentionPolicy {
    fn default() -> Self {
        Self {
            max_age_days: None,
            min_importance: None,
            max_per_agent: None,
            duplicate_similarity: Some(DEFAULT_DUPLICATE_SIMILARITY),
            change_log_keep: CHANGE_LOG_KEEP,
        }
    }
}

impl RetentionPolicy {
    /// Checks the numbers, naming the field that is wrong.
    pub fn validate(&self) -> Result<(), MemoryError> {
        let invalid = |why: String| Err(MemoryError::Invalid(why));
        if self.max_age_days == Some(0) {
            return invalid("maxAgeDays must be at least 1".into());
        }
        if let Some(min) = self.min_importance.filter(|m| !(0.0..=1.0).contains(m)) {
            return invalid(format!("minImportance {min} is not within 0..1"));
        }
        if let Some(max) = self.max_per_agent.filter(|m| *m < 1) {
            return invalid(format!("maxPerAgent {max} must be at least 1"));
        }
        if let Some(similarity) = self.duplicate_similarity.filter(|s| !(0.0..=1.0).contains(s)) {
            return invalid(format!("duplicate similarity {similarity} is not within 0..1"));
        }
        Ok(())
    }
}

/// What a run did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ConsolidationReport {
    /// Memories deleted because they had expired.
    pub expired: u64,
    /// Memories deleted for being older than `maxAgeDays`.
    pub too_old: u64,
    /// Memories merged into a near-duplicate (and so deleted).
    pub merged: u64,
    /// Memories deleted for being less important than `minImportance`.
    pub unimportant: u64,
    /// Memories deleted beyond `maxPerAgent`.
    pub over_limit: u64,
    /// Change-log rows deleted.
    pub changes_pruned: u64,
    /// Memories left in the store.
    pub memory_count: i64,
}

/// Runs retention and consolidation once on the store `pool` points at (its `search_path` is the
/// store's schema, as [`crate::store::pool`] and the operator's pools set it).
#[tracing::instrument(skip_all, fields(target = %target_of(pool)))]
pub async fn consolidate(
    pool: &PgPool,
    policy: &RetentionPolicy,
) -> Result<ConsolidationReport, MemoryError> {
    policy.validate()?;
    let failed = |source| MemoryError::Database { target: target_of(pool), source };
    let mut report = ConsolidationReport {
        expired: delete(pool, "expires_at <= now()", None).await?,
        ..ConsolidationReport::default()
    };
    if let Some(days) = policy.max_age_days {
        report.too_old =
            delete(pool, "created_at < now() - make_interval(days => $1::int)", Some(f64::from(days)))
                .await?;
    }
    if let Some(similarity) = policy.duplicate_similarity {
        report.merged = duplicates::merge(pool, similarity).await?;
    }
    if let Some(min) = policy.min_importance {
        report.unimportant = delete(pool, "importance < $1::real", Some(f64::from(min))).await?;
    }
    if let Some(max) = policy.max_per_agent {
        report.over_limit = prune_over_limit(pool, max).await?;
    }
    report.changes_pruned = change_log::prune(pool, policy.change_log_keep).await?;
    report.memory_count =
        sqlx::query_scalar("SELECT count(*) FROM memories").fetch_one(pool).await.map_err(failed)?;
    tracing::info!(?report, "memory store consolidated");
    Ok(report)
}

/// Deletes the memories matching `condition` (on the one parameter `$1`, when given).
async fn delete(pool: &PgPool, condition: &str, parameter: Option<f64>) -> Result<u64, MemoryError> {
    let sql = format!("DELETE FROM memories WHERE {condition}");
    let query = sqlx::query(sqlx::AssertSqlSafe(sql));
    let query = match parameter {
        Some(value) => query.bind(value),
        None => query,
    };
    let done = query
        .execute(pool)
        .await
        .map_err(|source| MemoryError::Database { target: target_of(pool), source })?;
    Ok(done.rows_affected())
}

/// Deletes each agent's memories beyond the `max` most important (newest first among equals).
async fn prune_over_limit(pool: &PgPool, max: i64) -> Result<u64, MemoryError> {
    let done = sqlx::query(
        "DELETE FROM memories WHERE id IN ( \
           SELECT id FROM ( \
             SELECT id, row_number() OVER ( \
               PARTITION BY namespace, agent ORDER BY importance DESC, created_at DESC, id) AS rank \
             FROM memories) ranked \
           WHERE rank > $1)",
    )
    .bind(max)
    .execute(pool)
    .await
    .map_err(|source| MemoryError::Database { target: target_of(pool), source })?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_policies_name_the_field() {
        assert!(RetentionPolicy::default().validate().is_ok());
        let cases = [
            (RetentionPolicy { max_age_days: Some(0), ..Default::default() }, "maxAgeDays"),
            (RetentionPolicy { min_importance: Some(1.5), ..Default::default() }, "minImportance"),
            (RetentionPolicy { max_per_agent: Some(0), ..Default::default() }, "maxPerAgent"),
            (RetentionPolicy { duplicate_similarity: Some(-0.1), ..Default::default() }, "similarity"),
        ];
        for (policy, field) in cases {
            let error = policy.validate().expect_err(field);
            assert!(error.to_string().contains(field), "{error}");
        }
    }
}
