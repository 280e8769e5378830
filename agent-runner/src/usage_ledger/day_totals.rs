//! An agent's usage per UTC day as one replica sees it: what the bucket holds (as last read or
//! written), what this replica is writing at the moment, and what it has yet to write. Plain
//! bookkeeping, no I/O: the ledger's lock guards it.

use std::collections::BTreeMap;

use agentry_protocol::daily_usage::DailyUsage;

/// A day's record as stored in the bucket, with the revision it was read or written at.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Stored {
    /// The record.
    pub(crate) usage: DailyUsage,
    /// Its revision; 0 while the key does not exist.
    pub(crate) revision: u64,
}

/// One amount on its way into the bucket: the day's key, the amount, and the record it is
/// expected to land on (a guess that saves a read; compare-and-set corrects a stale one).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Write {
    /// Sent as `Nats-Msg-Id` with every attempt, so that an attempt that was stored but whose
    /// acknowledgement was lost is not added a second time.
    pub(crate) id: String,
    /// The UTC day, `YYYY-MM-DD`.
    pub(crate) day: String,
    /// What to add.
    pub(crate) amount: DailyUsage,
    /// The record as last seen, if it was.
    pub(crate) guess: Option<Stored>,
}

/// Usage per UTC day (`YYYY-MM-DD`, which sorts as days do).
#[derive(Debug, Default)]
pub(crate) struct DayTotals {
    stored: BTreeMap<String, Stored>,
    /// The write in progress: retried as it is (same id) until it lands.
    writing: Option<Write>,
    pending: BTreeMap<String, DailyUsage>,
}

impl DayTotals {
    /// Counts `amount` on `day`, to be written.
    pub(crate) fn add(&mut self, day: &str, amount: DailyUsage) {
        let pending = self.pending.entry(day.to_string()).or_default();
        *pending = sum(*pending, amount);
    }

    /// What the agent as a whole has used on `day`, as far as this replica knows: the stored
    /// record plus what this replica has not written yet.
    pub(crate) fn total(&self, day: &str) -> DailyUsage {
        let mut total = self.stored.get(day).map(|s| s.usage).unwrap_or_default();
        if let Some(write) = &self.writing
            && write.day == day
        {
            total = sum(total, write.amount);
        }
        sum(total, self.pending.get(day).copied().unwrap_or_default())
    }

    /// Takes in a record read from the bucket (or just written) unless a newer one is known.
    pub(crate) fn observe(&mut self, day: &str, stored: Stored) {
        let known = self.stored.entry(day.to_string()).or_default();
        if stored.revision > known.revision {
            *known = stored;
        }
    }

    /// The next write: the one in progress again if it has not landed yet, else the oldest
    /// day's pending amount, which stays "writing" until [`Self::written`].
    pub(crate) fn next_write(&mut self) -> Option<Write> {
        if self.writing.is_none() {
            let (day, amount) = self.pending.pop_first()?;
            let id = uuid::Uuid::new_v4().to_string();
            self.writing = Some(Write { id, day, amount, guess: None });
        }
        let write = self.writing.as_mut()?;
        write.guess = self.stored.get(&write.day).copied();
        Some(write.clone())
    }

    /// The write in progress is in the bucket now, as `stored`.
    pub(crate) fn written(&mut self, stored: Stored) {
        if let Some(write) = self.writing.take() {
            self.observe(&write.day, stored);
        }
    }

    /// What waits to be written, over all days.
    pub(crate) fn unwritten(&self) -> DailyUsage {
        let writing = self.writing.iter().map(|write| write.amount);
        self.pending.values().copied().chain(writing).fold(DailyUsage::default(), sum)
    }

    /// Forgets the records of days before `today`: nobody reads them here any more.
    pub(crate) fn forget_before(&mut self, today: &str) {
        self.stored.retain(|day, _| day.as_str() >= today);
    }
}

/// `a` and `b` added up.
pub(crate) fn sum(a: DailyUsage, b: DailyUsage) -> DailyUsage {
    DailyUsage {
        input_tokens: a.input_tokens.saturating_add(b.input_tokens),
        output_tokens: a.output_tokens.saturating_add(b.output_tokens),
        cost_usd: a.cost_usd + b.cost_usd,
        requests: a.requests.saturating_add(b.requests),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cost(usd: f64) -> DailyUsage {
        DailyUsage { cost_usd: usd, ..DailyUsage::default() }
    }

    const DAY: &str = "2026-11-30";
    const NEXT: &str = "2026-12-01";

    #[test]
    fn the_total_is_stored_plus_writing_plus_pending() {
        let mut totals = DayTotals::default();
        totals.observe(DAY, Stored { usage: cost(1.0), revision: 4 });
        totals.add(DAY, cost(0.5));
        let write = totals.next_write().expect("a write");
        assert_eq!(
            (write.day.as_str(), write.amount, write.guess),
            (DAY, cost(0.5), Some(totals.stored[DAY]))
        );
        totals.add(DAY, cost(0.25));
        assert_eq!(totals.next_write(), Some(write), "the same write until it lands");
        assert_eq!(totals.total(DAY).cost_usd, 1.75);
        assert_eq!(totals.unwritten().cost_usd, 0.75);

        // Written on top of another replica's 2 USD: the bucket now holds 3.5.
        totals.written(Stored { usage: cost(3.5), revision: 6 });
        assert_eq!(totals.total(DAY).cost_usd, 3.75);
        // A watch entry older than what was written changes nothing.
        totals.observe(DAY, Stored { usage: cost(3.0), revision: 5 });
        assert_eq!(totals.total(DAY).cost_usd, 3.75);
        assert_eq!(totals.unwritten(), cost(0.25));
    }

    #[test]
    fn a_failed_write_is_tried_again_as_it_was_and_nothing_is_lost() {
        let mut totals = DayTotals::default();
        totals.add(DAY, DailyUsage { input_tokens: 10, output_tokens: 2, cost_usd: 0.5, requests: 1 });
        let failed = totals.next_write().expect("a write");
        assert_eq!(failed.guess, None, "never read: the write reads first");
        totals.add(DAY, DailyUsage { requests: 1, ..DailyUsage::default() });
        assert_eq!(
            totals.total(DAY),
            DailyUsage { input_tokens: 10, output_tokens: 2, cost_usd: 0.5, requests: 2 }
        );
        let again = totals.next_write().expect("written again");
        assert_eq!(again, failed, "same id and amount, so a lost acknowledgement is not counted twice");
        totals.written(Stored { usage: again.amount, revision: 1 });
        let rest = totals.next_write().expect("what came meanwhile");
        assert_ne!(rest.id, failed.id);
        assert_eq!((rest.amount.requests, rest.guess.map(|g| g.revision)), (1, Some(1)));
        totals.written(Stored { usage: sum(again.amount, rest.amount), revision: 2 });
        assert_eq!(totals.unwritten(), DailyUsage::default());
        assert_eq!(totals.total(DAY).requests, 2);
    }

    #[test]
    fn days_are_kept_apart_and_the_oldest_is_written_first() {
        let mut totals = DayTotals::default();
        totals.add(NEXT, cost(0.25));
        totals.add(DAY, cost(2.0));
        totals.observe(DAY, Stored { usage: cost(1.0), revision: 3 });
        assert_eq!(totals.total(NEXT).cost_usd, 0.25, "yesterday's spend is not today's");
        assert_eq!(totals.next_write().map(|w| w.day), Some(DAY.to_string()));
        totals.written(Stored { usage: cost(3.0), revision: 7 });
        assert_eq!(totals.next_write().map(|w| w.day), Some(NEXT.to_string()));
        totals.forget_before(NEXT);
        assert_eq!(totals.total(DAY).cost_usd, 0.0, "forgotten");
    }
}
