//! Retention by age: rows older than the retention period are deleted, in bounded chunks so no
//! statement holds locks or builds WAL for long, by one replica at a time.

use std::time::Duration;

use sqlx::PgPool;
use sqlx::{AssertSqlSafe, PgConnection};
use tokio::sync::watch;

use crate::metrics::RecorderMetrics;

/// Rows deleted per statement.
const CHUNK: i64 = 5_000;

/// Each table, its key and the time its rows age by.
const TABLES: &[(&str, &str, &str)] = &[
    ("interactions", "event_id", "created_at"),
    ("messages", "event_id", "created_at"),
    ("tool_calls", "event_id", "created_at"),
    ("model_calls", "event_id", "created_at"),
    ("sessions", "session_id", "last_event_at"),
    ("session_events", "event_id", "created_at"),
    // No single-column key: rows are picked by their physical address, within the statement.
    ("interaction_rollups", "ctid", "bucket_start"),
];

/// Rows deleted from each table by one [`purge`], in [`TABLES`] order; `None` when another
/// replica was purging already.
pub type PurgeReport = Option<Vec<(&'static str, u64)>>;

/// Deletes every row older than `days` days from the tables of `schema` (the pool's, see
/// [`crate::database::pool`]). Only one process purges a schema at a time: the others skip.
pub async fn purge(pool: &PgPool, schema: &str, days: u32) -> Result<PurgeReport, sqlx::Error> {
    let mut conn = pool.acquire().await?;
    let lock_key = format!("agentry-recorder retention {schema}");
    let locked: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock(hashtextextended($1, 0))")
        .bind(&lock_key)
        .fetch_one(&mut *conn)
        .await?;
    if !locked {
        return Ok(None);
    }
    let outcome = purge_tables(&mut conn, days).await;
    let unlocked = sqlx::query("SELECT pg_advisory_unlock(hashtextextended($1, 0))")
        .bind(&lock_key)
        .execute(&mut *conn)
        .await;
    if outcome.is_err() || unlocked.is_err() {
        // A session-level lock lives as long as the session: end it rather than pool it.
        conn.close_on_drop();
    }
    outcome.map(Some)
}

async fn purge_tables(conn: &mut PgConnection, days: u32) -> Result<Vec<(&'static str, u64)>, sqlx::Error> {
    let days = i32::try_from(days).unwrap_or(i32::MAX);
    let mut report = Vec::with_capacity(TABLES.len());
    for (table, key, time) in TABLES {
        let delete = format!(
            "DELETE FROM {table} WHERE {key} IN \
             (SELECT {key} FROM {table} WHERE {time} < now() - make_interval(days => $1) LIMIT $2)"
        );
        let mut deleted = 0;
        loop {
            let done =
                sqlx::query(AssertSqlSafe(delete.clone())).bind(days).bind(CHUNK).execute(&mut *conn).await?;
            deleted += done.rows_affected();
            if done.rows_affected() < u64::try_from(CHUNK).unwrap_or(u64::MAX) {
                break;
            }
        }
        report.push((*table, deleted));
    }
    Ok(report)
}

/// Purges every `interval` (the first time at once) until `stop` turns true. Does nothing when
/// `days` is 0 (keep forever).
pub(crate) async fn run(
    pool: PgPool,
    schema: String,
    days: u32,
    interval: Duration,
    metrics: std::sync::Arc<RecorderMetrics>,
    mut stop: watch::Receiver<bool>,
) {
    if days == 0 {
        return;
    }
    loop {
        match purge(&pool, &schema, days).await {
            Ok(Some(report)) => {
                for (table, deleted) in &report {
                    metrics.retention_deleted.with_label_values(&[*table]).inc_by(*deleted);
                }
                let total: u64 = report.iter().map(|(_, n)| n).sum();
                tracing::info!(deleted = total, days, "retention: old rows deleted");
            }
            Ok(None) => tracing::debug!("retention: another recorder is purging"),
            Err(error) => tracing::warn!(error = %error, "retention failed; trying again next interval"),
        }
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            _ = stop.changed() => return,
        }
    }
}
