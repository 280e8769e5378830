//! The agent's usage per UTC day across all its replicas, so that `limits.dailyBudgetUsd` holds
//! for the agent as a whole (docs/protocol.md "Daily usage").
//!
//! Every request and every model call's usage is counted here at once, in memory; a background
//! task adds it to the day's record in the `AGENTRY_DAILY_USAGE` bucket by compare-and-set and
//! watches the agent's records for what the other replicas add. Checking the budget reads the
//! local view only: it never waits on NATS, and while JetStream is unavailable the replica keeps
//! counting and writes what it counted when JetStream returns.

mod day_totals;
mod kv_sync;
#[cfg(test)]
mod ledger_tests;

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use agentry_protocol::Usage;
use agentry_protocol::daily_usage::DailyUsage;
use agentry_protocol::subjects::SubjectToken;
use async_nats::jetstream;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::Instrument;

use self::day_totals::DayTotals;
use self::kv_sync::DayKeys;
use crate::metrics::RunnerMetrics;

/// Where the ledger reads the time from: the system clock, or a test's.
pub(crate) type Clock = Arc<dyn Fn() -> SystemTime + Send + Sync>;

/// The handle requests count through; dropping it lets the background task write what is
/// left and end.
pub struct UsageLedger {
    state: Arc<LedgerState>,
    wake: mpsc::Sender<()>,
}

/// What the handle and the background task share.
pub(crate) struct LedgerState {
    limit_usd: Option<f64>,
    clock: Clock,
    totals: Mutex<DayTotals>,
    spent_gauge: prometheus::Gauge,
    sync_failures: prometheus::IntCounter,
    /// Set once today's record has been read and the watch is in place.
    loaded: watch::Sender<bool>,
}

impl UsageLedger {
    /// Starts counting for `agent` of `namespace` against `limit_usd` per UTC day (`None`:
    /// unlimited, usage still counted), with a background task keeping the bucket in step; the
    /// task ends once the handle is dropped and what it counted is written (or given up on).
    pub fn start(
        js: jetstream::Context,
        namespace: &SubjectToken,
        agent: &SubjectToken,
        limit_usd: Option<f64>,
        metrics: &RunnerMetrics,
    ) -> (Self, JoinHandle<()>) {
        let keys = DayKeys::new(namespace, agent);
        Self::start_with_clock(js, keys, limit_usd, metrics, Arc::new(SystemTime::now))
    }

    /// [`Self::start`] reading the time from `clock`, so a test can move it across midnight.
    pub(crate) fn start_with_clock(
        js: jetstream::Context,
        keys: DayKeys,
        limit_usd: Option<f64>,
        metrics: &RunnerMetrics,
        clock: Clock,
    ) -> (Self, JoinHandle<()>) {
        if let Some(limit) = limit_usd {
            metrics.show_budget_limit(limit);
        }
        let state = Arc::new(LedgerState {
            limit_usd,
            clock,
            totals: Mutex::new(DayTotals::default()),
            spent_gauge: metrics.budget_spent_usd.clone(),
            sync_failures: metrics.budget_sync_failures.clone(),
            loaded: watch::Sender::new(false),
        });
        // One slot: a wake-up already queued covers every count made before it is taken.
        let (wake, woken) = mpsc::channel(1);
        let task = tokio::spawn(kv_sync::run(state.clone(), js, keys, woken).in_current_span());
        (Self { state, wake }, task)
    }

    /// Counts one request on today's record.
    pub fn record_request(&self) {
        self.add(DailyUsage { requests: 1, ..DailyUsage::default() });
    }

    /// Counts one model call's tokens and cost on today's record.
    pub fn record_usage(&self, usage: Usage) {
        self.add(DailyUsage {
            input_tokens: usage.input_tokens,
            output_tokens: usage.output_tokens,
            cost_usd: usage.cost_usd,
            requests: 0,
        });
    }

    /// Today's spend of the agent as a whole, when it has reached the daily limit.
    pub fn exhausted(&self) -> Option<f64> {
        let limit = self.state.limit_usd?;
        let spent = self.today().cost_usd;
        (spent >= limit).then_some(spent)
    }

    /// The daily limit, if there is one.
    pub fn limit_usd(&self) -> Option<f64> {
        self.state.limit_usd
    }

    /// What the agent as a whole has used today, as far as this replica knows.
    pub fn today(&self) -> DailyUsage {
        let today = self.state.today();
        self.state.update(|totals| totals.total(&today))
    }

    /// Waits up to `timeout` until today's record has been read; whether it has.
    pub async fn wait_loaded(&self, timeout: Duration) -> bool {
        let mut loaded = self.state.loaded.subscribe();
        matches!(tokio::time::timeout(timeout, loaded.wait_for(|l| *l)).await, Ok(Ok(_)))
    }

    fn add(&self, amount: DailyUsage) {
        let today = self.state.today();
        self.state.update(|totals| totals.add(&today, amount));
        // Full means a wake-up is already queued; closed means the task has ended (only at exit).
        let _ = self.wake.try_send(());
    }
}

impl LedgerState {
    /// Today's UTC date, `YYYY-MM-DD`.
    pub(crate) fn today(&self) -> String {
        utc_day((self.clock)())
    }

    /// Runs `change` on the totals, then shows today's spend on the gauge.
    pub(crate) fn update<R>(&self, change: impl FnOnce(&mut DayTotals) -> R) -> R {
        let today = self.today();
        let mut totals = self.totals.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let result = change(&mut totals);
        self.spent_gauge.set(totals.total(&today).cost_usd);
        result
    }

    /// Counts a failed attempt to reach the bucket.
    pub(crate) fn sync_failed(&self) {
        self.sync_failures.inc();
    }

    /// Marks today's record as read.
    pub(crate) fn set_loaded(&self) {
        self.loaded.send_replace(true);
    }
}

/// The UTC date of `at`, `YYYY-MM-DD`: the day turns at 00:00 UTC.
pub(crate) fn utc_day(at: SystemTime) -> String {
    // Out of range only beyond the year 9999; such a clock counts as the epoch's day.
    let at = jiff::Timestamp::try_from(at).unwrap_or(jiff::Timestamp::UNIX_EPOCH);
    at.to_zoned(jiff::tz::TimeZone::UTC).date().to_string()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, UNIX_EPOCH};

    use super::*;

    /// 2026-11-30T23:59:59Z.
    const LAST_SECOND_OF_A_DAY: u64 = 1_796_083_199;

    #[test]
    fn the_day_turns_at_midnight_utc() {
        let day = |secs| utc_day(UNIX_EPOCH + Duration::from_secs(secs));
        assert_eq!(day(LAST_SECOND_OF_A_DAY), "2026-11-30");
        assert_eq!(day(LAST_SECOND_OF_A_DAY + 1), "2026-12-01");
        assert_eq!(day(LAST_SECOND_OF_A_DAY - 86_399), "2026-11-30", "00:00:00 is the same day");
        assert_eq!(day(LAST_SECOND_OF_A_DAY - 86_400), "2026-11-29");
        assert_eq!(utc_day(UNIX_EPOCH - Duration::from_secs(1)), "1969-12-31");
    }
}
