//! Following the `memory_changes` log: which memories changed since an index last looked.
//!
//! Sequence numbers are drawn when a row is written, not when its transaction commits, so a
//! change can become visible behind the cursor. Such a change belongs to a transaction that was
//! still open when the reader last looked, that is one whose id is at least that look's
//! snapshot `xmin`. Each poll therefore asks for the rows past the cursor *and* the rows of
//! transactions from the previous `xmin` on; seqs already applied are remembered (until their
//! transaction falls below `xmin`, after which no poll returns them again) and skipped. No
//! clock and no grace period: a long transaction only widens the window until it ends.

use std::collections::HashMap;

use uuid::Uuid;

/// One change as a poll returns it: seq, the writing transaction's id, the memory.
pub(crate) type ChangeRow = (i64, i64, Uuid);

/// One reader's position in the log.
#[derive(Debug, Default)]
pub(crate) struct ChangeFeed {
    cursor: i64,
    xmin: i64,
    /// Applied seqs of rows behind or at the cursor whose transaction may come back, by seq.
    applied: HashMap<i64, i64>,
}

impl ChangeFeed {
    /// A feed that has seen everything up to `cursor` in a snapshot whose xmin was `xmin`.
    pub(crate) fn starting_at(cursor: i64, xmin: i64) -> Self {
        Self { cursor, xmin, applied: HashMap::new() }
    }

    /// The highest seq seen.
    pub(crate) fn cursor(&self) -> i64 {
        self.cursor
    }

    /// The xmin of the previous look: rows of transactions from this one on are read again.
    pub(crate) fn xmin(&self) -> i64 {
        self.xmin
    }

    /// The memories touched by `rows` that were not applied before, from a poll whose snapshot
    /// had `xmin`; advances the cursor.
    pub(crate) fn fresh(&mut self, rows: &[ChangeRow], xmin: i64) -> Vec<Uuid> {
        let mut touched = Vec::new();
        for (seq, xid, id) in rows {
            if self.applied.contains_key(seq) {
                continue;
            }
            self.applied.insert(*seq, *xid);
            self.cursor = self.cursor.max(*seq);
            if !touched.contains(id) {
                touched.push(*id);
            }
        }
        self.xmin = self.xmin.max(xmin);
        let floor = self.xmin;
        self.applied.retain(|_, xid| *xid >= floor);
        touched
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn late_commits_behind_the_cursor_are_applied_once() {
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let mut feed = ChangeFeed::starting_at(10, 100);
        // Transaction 101 wrote seq 11 but has not committed; 102 wrote 12 and committed.
        assert_eq!(feed.fresh(&[(12, 102, a)], 101), [a]);
        assert_eq!((feed.cursor(), feed.xmin()), (12, 101));
        // 101 committed: its seq 11 comes back through the xid window, once.
        assert_eq!(feed.fresh(&[(11, 101, b), (12, 102, a)], 101), [b]);
        assert_eq!(feed.fresh(&[(11, 101, b), (13, 103, c), (14, 103, c)], 104), [c]);
        assert_eq!(feed.cursor(), 14);
        // Everything is below xmin now: nothing is remembered, nothing comes back.
        assert!(feed.applied.is_empty());
        assert!(feed.fresh(&[], 104).is_empty());
    }
}
