//! The daily model budget of one replica.

use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds in a UTC day (UTC has no daylight saving; leap seconds are not counted in Unix time).
const SECONDS_PER_DAY: u64 = 86_400;

/// Where the budget reads the time from: the system clock, or a test's.
type Clock = Box<dyn Fn() -> SystemTime + Send + Sync>;

/// Spend per UTC day, against an optional limit.
pub struct DailyBudget {
    limit_usd: Option<f64>,
    clock: Clock,
    /// The UTC day (days since the Unix epoch) and what was spent on it.
    spent: Mutex<(u64, f64)>,
}

impl DailyBudget {
    /// A budget of `limit_usd` per UTC day; `None` is unlimited.
    pub fn new(limit_usd: Option<f64>) -> Self {
        Self::with_clock(limit_usd, Box::new(SystemTime::now))
    }

    /// A budget reading the time from `clock`, so a test can move it across midnight.
    fn with_clock(limit_usd: Option<f64>, clock: Clock) -> Self {
        let today = utc_day(clock());
        Self { limit_usd, clock, spent: Mutex::new((today, 0.0)) }
    }

    /// Adds spend to today's total.
    pub fn spend(&self, usd: f64) {
        let mut spent = self.spent.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let day = self.today();
        if spent.0 != day {
            *spent = (day, 0.0);
        }
        spent.1 += usd;
    }

    /// Today's spend, when it has reached the limit.
    pub fn exhausted(&self) -> Option<f64> {
        let limit = self.limit_usd?;
        let spent = self.spent.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        (spent.0 == self.today() && spent.1 >= limit).then_some(spent.1)
    }

    fn today(&self) -> u64 {
        utc_day((self.clock)())
    }
}

/// Days since the Unix epoch, UTC; a clock set before 1970 counts as day 0.
fn utc_day(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH).map(|d| d.as_secs() / SECONDS_PER_DAY).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::Duration;

    use super::*;

    /// A clock a test sets, in seconds since the Unix epoch.
    fn settable_clock(secs: u64) -> (Arc<AtomicU64>, Clock) {
        let now = Arc::new(AtomicU64::new(secs));
        let read = now.clone();
        (now, Box::new(move || UNIX_EPOCH + Duration::from_secs(read.load(Ordering::SeqCst))))
    }

    /// 2026-11-30T23:59:59Z.
    const LAST_SECOND_OF_A_DAY: u64 = 1_796_083_199;

    #[test]
    fn spending_up_to_the_limit_exhausts_it() {
        let budget = DailyBudget::new(Some(1.0));
        assert_eq!(budget.exhausted(), None);
        budget.spend(0.6);
        assert_eq!(budget.exhausted(), None);
        budget.spend(0.4);
        assert_eq!(budget.exhausted(), Some(1.0));
        let unlimited = DailyBudget::new(None);
        unlimited.spend(1e9);
        assert_eq!(unlimited.exhausted(), None);
    }

    #[test]
    fn the_day_turns_at_midnight_utc() {
        assert_eq!(LAST_SECOND_OF_A_DAY % SECONDS_PER_DAY, SECONDS_PER_DAY - 1, "the constant is 23:59:59");
        let day = |secs| utc_day(UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(day(LAST_SECOND_OF_A_DAY) + 1, day(LAST_SECOND_OF_A_DAY + 1));
        assert_eq!(day(LAST_SECOND_OF_A_DAY - 86_398), day(LAST_SECOND_OF_A_DAY), "00:00:01 is the same day");
        assert_eq!(utc_day(UNIX_EPOCH - Duration::from_secs(1)), 0, "a clock before 1970 is day 0");
    }

    #[test]
    fn a_spent_budget_resets_at_the_next_utc_day() {
        let (now, clock) = settable_clock(LAST_SECOND_OF_A_DAY - 60);
        let budget = DailyBudget::with_clock(Some(1.0), clock);
        budget.spend(1.25);
        assert_eq!(budget.exhausted(), Some(1.25));

        // Still spent in the last second of the day.
        now.store(LAST_SECOND_OF_A_DAY, Ordering::SeqCst);
        assert_eq!(budget.exhausted(), Some(1.25));

        // At 00:00:00 UTC the new day starts with nothing spent.
        now.store(LAST_SECOND_OF_A_DAY + 1, Ordering::SeqCst);
        assert_eq!(budget.exhausted(), None);

        // Spending on the new day counts from zero, not on top of yesterday's total.
        budget.spend(0.5);
        assert_eq!(budget.exhausted(), None);
        budget.spend(0.5);
        assert_eq!(budget.exhausted(), Some(1.0));
    }

    #[test]
    fn spend_from_an_earlier_day_is_not_carried_into_a_later_one() {
        // A replica idle over midnight: its first spend of the new day starts a new total.
        let (now, clock) = settable_clock(LAST_SECOND_OF_A_DAY);
        let budget = DailyBudget::with_clock(Some(1.0), clock);
        budget.spend(0.75);
        now.store(LAST_SECOND_OF_A_DAY + 3 * SECONDS_PER_DAY, Ordering::SeqCst);
        budget.spend(0.5);
        assert_eq!(budget.exhausted(), None, "0.5 today, not 1.25");
        budget.spend(0.5);
        assert_eq!(budget.exhausted(), Some(1.0));
    }
}
