//! Per-tool rate limiting: a token bucket per tool and replica.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// A token bucket holding up to `per_minute` calls, refilled at `per_minute` calls per minute.
///
/// A full bucket lets a burst of `per_minute` calls through at once, which matches what a model
/// does (several calls in one turn, then a pause while it thinks) better than an even spacing.
/// Time is tokio's so tests can drive it with paused time.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    per_minute: u32,
    capacity: f64,
    /// Tokens added per second.
    refill_per_second: f64,
    state: Mutex<Bucket>,
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    updated: Instant,
}

impl RateLimiter {
    /// A full bucket for `per_minute` calls per minute; `per_minute` must be at least 1.
    pub(crate) fn new(per_minute: u32) -> Self {
        let capacity = f64::from(per_minute.max(1));
        Self {
            per_minute,
            capacity,
            refill_per_second: capacity / 60.0,
            state: Mutex::new(Bucket { tokens: capacity, updated: Instant::now() }),
        }
    }

    /// The configured calls per minute.
    pub(crate) fn per_minute(&self) -> u32 {
        self.per_minute
    }

    /// Takes a token for one call, or says how long until one is available.
    pub(crate) fn try_acquire(&self) -> Result<(), Duration> {
        // A panic while holding this lock cannot leave the bucket inconsistent (two plain
        // fields), so a poisoned lock is still safe to use.
        let mut bucket = self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let now = Instant::now();
        let elapsed = now.saturating_duration_since(bucket.updated).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * self.refill_per_second).min(self.capacity);
        bucket.updated = now;
        if bucket.tokens >= 1.0 {
            bucket.tokens -= 1.0;
            Ok(())
        } else {
            let missing = 1.0 - bucket.tokens;
            Err(Duration::from_secs_f64(missing / self.refill_per_second))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_full_bucket_allows_a_burst_then_refuses() {
        let limiter = RateLimiter::new(3);
        for _ in 0..3 {
            assert!(limiter.try_acquire().is_ok());
        }
        let wait = limiter.try_acquire().expect_err("fourth call refused");
        // Three per minute: one token every 20 s.
        assert_eq!(wait.as_secs(), 20);
    }

    #[tokio::test(start_paused = true)]
    async fn tokens_come_back_over_time() {
        let limiter = RateLimiter::new(60);
        for _ in 0..60 {
            assert!(limiter.try_acquire().is_ok());
        }
        assert!(limiter.try_acquire().is_err());
        tokio::time::advance(Duration::from_millis(500)).await;
        let wait = limiter.try_acquire().expect_err("half a token is not enough");
        assert!(wait <= Duration::from_millis(501) && wait >= Duration::from_millis(499), "{wait:?}");
        tokio::time::advance(Duration::from_millis(500)).await;
        assert!(limiter.try_acquire().is_ok(), "one token after a second");
        assert!(limiter.try_acquire().is_err());
    }

    #[tokio::test(start_paused = true)]
    async fn an_idle_bucket_never_holds_more_than_its_capacity() {
        let limiter = RateLimiter::new(2);
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert!(limiter.try_acquire().is_ok());
        assert!(limiter.try_acquire().is_ok());
        assert!(limiter.try_acquire().is_err());
    }
}
