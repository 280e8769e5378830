//! Per-object exponential backoff for failed reconciles: each failure of the same object doubles
//! its wait up to a cap, a success starts it afresh, and one failing object never slows another.

use std::collections::HashMap;
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

/// The delays a controller's failures follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackoffPolicy {
    /// Wait after the first failure.
    pub initial: Duration,
    /// Longest wait, however many failures.
    pub max: Duration,
}

impl BackoffPolicy {
    /// What the controllers use: 1 s doubling to 5 min. Short enough that a transient API error
    /// heals quickly, capped so a broken object is still looked at every few minutes.
    pub const DEFAULT: Self = Self { initial: Duration::from_secs(1), max: Duration::from_secs(300) };

    /// The wait after `failures` consecutive failures (1 for the first), without jitter.
    pub fn delay(&self, failures: u32) -> Duration {
        let doublings = failures.saturating_sub(1).min(31);
        self.initial.saturating_mul(1 << doublings).min(self.max)
    }
}

struct Failures {
    count: u32,
    last: Instant,
}

/// Consecutive failures per object key (`namespace/name`).
pub struct RetryBackoff {
    policy: BackoffPolicy,
    failures: Mutex<HashMap<String, Failures>>,
}

impl RetryBackoff {
    /// No failures yet.
    pub fn new(policy: BackoffPolicy) -> Self {
        Self { policy, failures: Mutex::new(HashMap::new()) }
    }

    /// Records a failure of `key` and returns how long to wait before the next attempt.
    ///
    /// The wait carries up to 10% jitter, so objects that failed together (an API server
    /// restart) do not all come back in the same instant.
    pub fn failed(&self, key: &str) -> Duration {
        let now = Instant::now();
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        // An object that has not failed for twice the longest wait has recovered or is gone
        // (deleted objects are never reconciled again, so nothing else would remove them).
        let stale = self.policy.max.saturating_mul(2);
        failures.retain(|_, f| now.duration_since(f.last) < stale);
        let entry = failures.entry(key.to_string()).or_insert(Failures { count: 0, last: now });
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
        let delay = self.policy.delay(entry.count);
        delay + delay.mul_f64(rand::random::<f64>() * 0.1)
    }

    /// Forgets the failures of `key`: its next failure waits the initial delay again.
    pub fn succeeded(&self, key: &str) {
        let mut failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        failures.remove(key);
    }

    /// Consecutive failures of `key` so far.
    pub fn failures(&self, key: &str) -> u32 {
        let failures = self.failures.lock().unwrap_or_else(PoisonError::into_inner);
        failures.get(key).map_or(0, |f| f.count)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap() {
        let policy = BackoffPolicy { initial: Duration::from_millis(100), max: Duration::from_secs(1) };
        let delays: Vec<u128> = (1..=6).map(|n| policy.delay(n).as_millis()).collect();
        assert_eq!(delays, [100, 200, 400, 800, 1000, 1000]);
        assert_eq!(policy.delay(u32::MAX), Duration::from_secs(1));
    }

    #[test]
    fn each_object_backs_off_on_its_own_and_success_resets() {
        let backoff = RetryBackoff::new(BackoffPolicy::DEFAULT);
        let first = backoff.failed("ns/a");
        let second = backoff.failed("ns/a");
        assert!(first >= Duration::from_secs(1) && first < Duration::from_millis(1100), "{first:?}");
        assert!(second >= Duration::from_secs(2) && second < Duration::from_millis(2200), "{second:?}");
        // Another object starts from the beginning.
        assert!(backoff.failed("ns/b") < Duration::from_millis(1100));
        backoff.succeeded("ns/a");
        assert_eq!(backoff.failures("ns/a"), 0);
        assert!(backoff.failed("ns/a") < Duration::from_millis(1100));
    }
}
