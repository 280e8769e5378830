//! Following the `memory_changes` log: which memories changed since an index last looked.
//!
//! Sequence numbers are drawn when a row is written, not when its transaction commits, so a
//! change can become visible behind the cursor. Each poll therefore asks for the rows past the
//! cursor *and* the rows written in the last [`LATE_COMMIT_GRACE`]; the seqs already applied in
//! that window are remembered and skipped. A writer transaction open longer than the grace could
//! still be missed until the index reloads; the store's writes are single statements.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use uuid::Uuid;

/// How long after it is written a change is still looked for behind the cursor.
pub(crate) const LATE_COMMIT_GRACE: Duration = Duration::from_secs(30);

/// One reader's position in the log.
#[derive(Debug, Default)]
pub(crate) struct ChangeFeed {
    cursor: i64,
    applied: HashMap<i64, Instant>,
}

impl ChangeFeed {
    /// A feed that has seen everything up to `cursor`.
    pub(crate) fn starting_at(cursor: i64) -> Self {
        Self { cursor, applied: HashMap::new() }
    }

    /// The highest seq seen.
    pub(crate) fn cursor(&self) -> i64 {
        self.cursor
    }

    /// The memories touched by `rows` (seq, memory id) that were not applied before; advances
    /// the cursor and forgets applied seqs once they are past the grace.
    pub(crate) fn fresh(&mut self, rows: &[(i64, Uuid)], now: Instant) -> Vec<Uuid> {
        let mut touched = Vec::new();
        for (seq, id) in rows {
            if *seq <= self.cursor && self.applied.contains_key(seq) {
                continue;
            }
            self.applied.insert(*seq, now);
            self.cursor = self.cursor.max(*seq);
            if !touched.contains(id) {
                touched.push(*id);
            }
        }
        let keep = LATE_COMMIT_GRACE * 2;
        self.applied.retain(|_, seen| now.duration_since(*seen) < keep);
        touched
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn late_commits_behind_the_cursor_are_applied_once() {
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let now = Instant::now();
        let mut feed = ChangeFeed::starting_at(10);
        assert_eq!(feed.fresh(&[(12, a)], now), [a]);
        assert_eq!(feed.cursor(), 12);
        // seq 11 committed after 12 was read: it comes back in the grace window.
        assert_eq!(feed.fresh(&[(11, b), (12, a)], now), [b]);
        assert_eq!(feed.fresh(&[(11, b), (12, a), (13, c), (14, c)], now), [c]);
        assert_eq!(feed.cursor(), 14);
        assert!(feed.fresh(&[(13, c)], now).is_empty());
    }
}
