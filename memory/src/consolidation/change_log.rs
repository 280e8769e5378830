//! Cutting the `memory_changes` log to what the runners' indexes still need.
//!
//! An index needs the rows past its cursor and the rows of transactions that were open at its
//! previous look (see `change_feed`). The operator does not know the runners' cursors, so it keeps
//! the rows of the last [`CHANGE_LOG_KEEP`] (and every row of a transaction still open) and
//! records how far it cut: the highest seq and transaction id deleted, in
//! `memory_store_settings`, in the same statement. An index whose cursor is below that seq, or
//! whose window of open transactions reaches that id, may have missed a change and reloads from
//! the table instead (one full read of its scope, as on its first search).

use std::time::Duration;

use sqlx::PgPool;

use crate::error::MemoryError;
use crate::store::target_of;

/// How long change-log rows are kept: a runner that searched within this time follows the log;
/// one idle for longer reloads its index.
pub const CHANGE_LOG_KEEP: Duration = Duration::from_secs(60 * 60);

/// The settings key of the highest seq deleted from the log.
pub(crate) const PRUNED_SEQ_KEY: &str = "changes_pruned_seq";
/// The settings key of the highest transaction id whose rows were deleted from the log.
pub(crate) const PRUNED_XID_KEY: &str = "changes_pruned_xid";

/// How far the change log has been cut.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ChangeLogFloor {
    /// The highest seq deleted; 0 when nothing was.
    pub seq: i64,
    /// The highest transaction id whose rows were deleted; 0 when nothing was.
    pub xid: i64,
}

impl ChangeLogFloor {
    /// Whether a reader at `cursor` whose previous look had snapshot `xmin` may have lost rows
    /// it needs to the cut, and must reload instead of following the log.
    pub fn needs_reload(&self, cursor: i64, xmin: i64) -> bool {
        cursor < self.seq || (self.xid > 0 && xmin <= self.xid)
    }
}

/// Deletes the log rows older than `keep` whose transactions have ended and records the cut;
/// returns how many rows went.
pub(super) async fn prune(pool: &PgPool, keep: Duration) -> Result<u64, MemoryError> {
    // One statement: the delete and the record of it commit together.
    let sql = format!(
        "WITH gone AS ( \
           DELETE FROM memory_changes \
           WHERE changed_at < now() - make_interval(secs => $1) \
             AND xid < pg_snapshot_xmin(pg_current_snapshot()) \
           RETURNING seq, xid::text::bigint AS xid), \
         cut AS (SELECT count(*) AS rows, max(seq) AS seq, max(xid) AS xid FROM gone), \
         recorded AS ( \
           INSERT INTO memory_store_settings (key, value) \
           SELECT key, value::text FROM cut, \
             LATERAL (VALUES ('{PRUNED_SEQ_KEY}', cut.seq), ('{PRUNED_XID_KEY}', cut.xid)) AS kv(key, value) \
           WHERE cut.rows > 0 \
           ON CONFLICT (key) DO UPDATE \
             SET value = greatest(memory_store_settings.value::bigint, EXCLUDED.value::bigint)::text) \
         SELECT rows FROM cut"
    );
    let rows: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(keep.as_secs_f64())
        .fetch_one(pool)
        .await
        .map_err(|source| MemoryError::Database { target: target_of(pool), source })?;
    Ok(u64::try_from(rows).unwrap_or(0))
}

/// The SQL expression reading the recorded cut's seq (0 when none), for other statements.
pub(crate) fn floor_seq_sql() -> String {
    format!("coalesce((SELECT value::bigint FROM memory_store_settings WHERE key = '{PRUNED_SEQ_KEY}'), 0)")
}

/// The SQL expression reading the recorded cut's transaction id (0 when none).
pub(crate) fn floor_xid_sql() -> String {
    format!("coalesce((SELECT value::bigint FROM memory_store_settings WHERE key = '{PRUNED_XID_KEY}'), 0)")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readers_behind_the_cut_reload() {
        let none = ChangeLogFloor::default();
        assert!(!none.needs_reload(0, 0));
        let floor = ChangeLogFloor { seq: 100, xid: 500 };
        assert!(floor.needs_reload(99, 900), "rows past the cursor were cut");
        assert!(floor.needs_reload(100, 500), "a transaction in the reader's window was cut");
        assert!(!floor.needs_reload(100, 501));
    }
}
