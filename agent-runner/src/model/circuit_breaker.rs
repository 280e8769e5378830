//! A circuit breaker per model endpoint: after `threshold` consecutive failures the endpoint is
//! left alone for `reset` time, then one trial request decides whether it is back.
//!
//! Time is tokio's [`Instant`], so tests drive it with `tokio::time::pause()`/`advance()`; the
//! `*_at` methods take the time explicitly so the state machine is also testable with no clock.

use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

/// What the breaker lets through.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CircuitState {
    /// Every request goes through.
    Closed,
    /// One trial request at a time goes through; its outcome closes or re-opens the breaker.
    HalfOpen,
    /// Nothing goes through until the reset time has passed.
    Open,
}

impl CircuitState {
    /// The value of the `circuit_breaker_state` gauge: 0 closed, 1 half-open, 2 open.
    pub fn gauge_value(self) -> i64 {
        match self {
            Self::Closed => 0,
            Self::HalfOpen => 1,
            Self::Open => 2,
        }
    }
}

#[derive(Debug)]
enum State {
    Closed { consecutive_failures: u32 },
    Open { until: Instant },
    HalfOpen { trial_in_flight: bool },
}

/// One endpoint's breaker. Cheap to share: all methods take `&self`.
#[derive(Debug)]
pub struct CircuitBreaker {
    threshold: u32,
    reset: Duration,
    state: Mutex<State>,
}

impl CircuitBreaker {
    /// A closed breaker that opens after `threshold` consecutive failures (at least 1) and stays
    /// open for `reset`.
    pub fn new(threshold: u32, reset: Duration) -> Self {
        Self {
            threshold: threshold.max(1),
            reset,
            state: Mutex::new(State::Closed { consecutive_failures: 0 }),
        }
    }

    /// The state now.
    pub fn state(&self) -> CircuitState {
        self.state_at(Instant::now())
    }

    /// The state at `now` (an open breaker whose reset time has passed reads as half-open).
    pub fn state_at(&self, now: Instant) -> CircuitState {
        let mut state = self.lock();
        Self::expire(&mut state, now);
        match *state {
            State::Closed { .. } => CircuitState::Closed,
            State::Open { .. } => CircuitState::Open,
            State::HalfOpen { .. } => CircuitState::HalfOpen,
        }
    }

    /// Asks to send one request now: a permit when the breaker allows it, `None` when it is open
    /// or half-open with its trial already in flight.
    pub fn try_acquire(&self) -> Option<Permit<'_>> {
        self.try_acquire_at(Instant::now())
    }

    /// [`try_acquire`](Self::try_acquire) at `now`.
    pub fn try_acquire_at(&self, now: Instant) -> Option<Permit<'_>> {
        let mut state = self.lock();
        Self::expire(&mut state, now);
        match &mut *state {
            State::Closed { .. } => Some(Permit { breaker: self, trial: false, settled: false }),
            State::Open { .. } | State::HalfOpen { trial_in_flight: true } => None,
            State::HalfOpen { trial_in_flight } => {
                *trial_in_flight = true;
                Some(Permit { breaker: self, trial: true, settled: false })
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is a few plain values, consistent after every statement: a panic elsewhere
        // while holding the lock cannot leave it half-updated, so poisoning is safe to ignore.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn expire(state: &mut State, now: Instant) {
        if let State::Open { until } = *state
            && now >= until
        {
            *state = State::HalfOpen { trial_in_flight: false };
        }
    }

    fn on_success(&self) {
        *self.lock() = State::Closed { consecutive_failures: 0 };
    }

    fn on_failure(&self, trial: bool, now: Instant) {
        let mut state = self.lock();
        let open = State::Open { until: now + self.reset };
        match &mut *state {
            State::Closed { consecutive_failures } => {
                *consecutive_failures += 1;
                if *consecutive_failures >= self.threshold {
                    *state = open;
                }
            }
            // Only the trial's failure re-opens; a late failure of a request sent while closed
            // must not cut the trial short.
            State::HalfOpen { .. } if trial => *state = open,
            State::HalfOpen { .. } | State::Open { .. } => {}
        }
    }

    fn on_abandon(&self, trial: bool) {
        if trial && let State::HalfOpen { trial_in_flight } = &mut *self.lock() {
            *trial_in_flight = false;
        }
    }
}

/// Leave to send one request. Report how it went with [`success`](Self::success),
/// [`failure`](Self::failure) or [`neutral`](Self::neutral); a permit dropped unreported (the
/// caller was cancelled) counts as neutral, so a half-open breaker is never stuck waiting for a
/// trial that will not report.
#[derive(Debug)]
#[must_use = "report the request's outcome on the permit"]
pub struct Permit<'a> {
    breaker: &'a CircuitBreaker,
    trial: bool,
    settled: bool,
}

impl Permit<'_> {
    /// Whether this is the half-open breaker's trial request.
    pub fn is_trial(&self) -> bool {
        self.trial
    }

    /// The endpoint answered: close the breaker and forget past failures.
    pub fn success(mut self) {
        self.settled = true;
        self.breaker.on_success();
    }

    /// The endpoint failed: count towards opening (or re-open after a failed trial).
    pub fn failure(self) {
        self.failure_at(Instant::now());
    }

    /// [`failure`](Self::failure) at `now`.
    pub fn failure_at(mut self, now: Instant) {
        self.settled = true;
        self.breaker.on_failure(self.trial, now);
    }

    /// The request says nothing about the endpoint's health (our own deadline cut it short):
    /// change nothing, but free the trial slot.
    pub fn neutral(self) {}
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if !self.settled {
            self.breaker.on_abandon(self.trial);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RESET: Duration = Duration::from_secs(30);

    fn fail_times(breaker: &CircuitBreaker, n: u32, now: Instant) {
        for _ in 0..n {
            breaker.try_acquire_at(now).expect("allowed").failure_at(now);
        }
    }

    #[test]
    fn opens_after_threshold_consecutive_failures() {
        let t0 = Instant::now();
        let breaker = CircuitBreaker::new(3, RESET);
        fail_times(&breaker, 2, t0);
        assert_eq!(breaker.state_at(t0), CircuitState::Closed);
        fail_times(&breaker, 1, t0);
        assert_eq!(breaker.state_at(t0), CircuitState::Open);
        assert!(breaker.try_acquire_at(t0 + Duration::from_secs(29)).is_none());
    }

    #[test]
    fn a_success_resets_the_count() {
        let t0 = Instant::now();
        let breaker = CircuitBreaker::new(3, RESET);
        fail_times(&breaker, 2, t0);
        breaker.try_acquire_at(t0).expect("allowed").success();
        fail_times(&breaker, 2, t0);
        assert_eq!(breaker.state_at(t0), CircuitState::Closed);
    }

    #[test]
    fn half_open_allows_one_trial_and_success_closes() {
        let t0 = Instant::now();
        let breaker = CircuitBreaker::new(1, RESET);
        fail_times(&breaker, 1, t0);
        let later = t0 + RESET;
        assert_eq!(breaker.state_at(later), CircuitState::HalfOpen);
        let trial = breaker.try_acquire_at(later).expect("trial allowed");
        assert!(trial.is_trial());
        assert!(breaker.try_acquire_at(later).is_none(), "one trial at a time");
        trial.success();
        assert_eq!(breaker.state_at(later), CircuitState::Closed);
        assert!(breaker.try_acquire_at(later).is_some());
    }

    #[test]
    fn a_failed_trial_reopens_for_a_full_reset_period() {
        let t0 = Instant::now();
        let breaker = CircuitBreaker::new(1, RESET);
        fail_times(&breaker, 1, t0);
        let t1 = t0 + RESET + Duration::from_secs(5);
        breaker.try_acquire_at(t1).expect("trial").failure_at(t1);
        assert_eq!(breaker.state_at(t1), CircuitState::Open);
        assert_eq!(breaker.state_at(t1 + RESET - Duration::from_millis(1)), CircuitState::Open);
        assert_eq!(breaker.state_at(t1 + RESET), CircuitState::HalfOpen);
    }

    #[test]
    fn an_abandoned_or_neutral_trial_frees_the_slot() {
        let t0 = Instant::now();
        let breaker = CircuitBreaker::new(1, RESET);
        fail_times(&breaker, 1, t0);
        let later = t0 + RESET;
        drop(breaker.try_acquire_at(later).expect("trial"));
        assert_eq!(breaker.state_at(later), CircuitState::HalfOpen);
        breaker.try_acquire_at(later).expect("trial again").neutral();
        assert!(breaker.try_acquire_at(later).is_some());
    }

    #[test]
    fn a_late_failure_does_not_end_the_trial() {
        let t0 = Instant::now();
        let breaker = CircuitBreaker::new(1, RESET);
        let slow = breaker.try_acquire_at(t0).expect("closed");
        fail_times(&breaker, 1, t0);
        let later = t0 + RESET;
        let trial = breaker.try_acquire_at(later).expect("trial");
        slow.failure_at(later);
        assert_eq!(breaker.state_at(later), CircuitState::HalfOpen);
        trial.success();
        assert_eq!(breaker.state_at(later), CircuitState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn follows_tokio_time() {
        let breaker = CircuitBreaker::new(2, RESET);
        breaker.try_acquire().expect("closed").failure();
        breaker.try_acquire().expect("closed").failure();
        assert_eq!(breaker.state(), CircuitState::Open);
        tokio::time::advance(RESET - Duration::from_millis(1)).await;
        assert_eq!(breaker.state(), CircuitState::Open);
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(breaker.state(), CircuitState::HalfOpen);
        breaker.try_acquire().expect("trial").success();
        assert_eq!(breaker.state(), CircuitState::Closed);
        assert_eq!(CircuitState::Open.gauge_value(), 2);
    }
}
