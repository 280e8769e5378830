//! Retries of one endpoint: exponential backoff with full jitter, `Retry-After` honoured, and
//! never a sleep past the request's deadline.

use std::future::Future;
use std::time::{Duration, SystemTime};

use agentry_protocol::runner_config::Resilience;
use rand::Rng;
use tokio::time::Instant;

use super::error::ModelError;

/// The longest backoff between two attempts, whatever the doubling reaches: beyond this a caller
/// is better served by the fallback model than by waiting.
pub const MAX_BACKOFF: Duration = Duration::from_secs(30);

/// How many times, and how patiently, one endpoint is retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Retries after the first attempt.
    pub max_retries: u32,
    /// Ceiling of the first backoff; it doubles per retry.
    pub initial_backoff: Duration,
    /// Cap on the backoff ceiling.
    pub max_backoff: Duration,
}

impl RetryPolicy {
    /// The policy the agent's `resilience` settings describe.
    pub fn from_resilience(resilience: &Resilience) -> Self {
        Self {
            max_retries: resilience.max_retries,
            initial_backoff: Duration::from_millis(resilience.initial_backoff_ms),
            max_backoff: MAX_BACKOFF,
        }
    }

    /// The upper bound of the backoff after failed attempt number `attempt` (1-based):
    /// `initial_backoff × 2^(attempt-1)`, capped at `max_backoff`.
    pub fn backoff_ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u32.checked_shl(attempt.saturating_sub(1)).unwrap_or(u32::MAX);
        self.initial_backoff.saturating_mul(factor).min(self.max_backoff)
    }

    /// A backoff drawn uniformly from `[0, backoff_ceiling(attempt)]` ("full jitter"): replicas
    /// that failed together do not retry together.
    pub fn jittered_backoff(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        let ceiling = u64::try_from(self.backoff_ceiling(attempt).as_micros()).unwrap_or(u64::MAX);
        Duration::from_micros(rng.random_range(0..=ceiling))
    }

    /// How long to wait after failed attempt number `attempt`: what the provider asked for in
    /// `Retry-After` when it did (it knows its own limits better than our guess), else the jittered
    /// backoff.
    pub fn delay_after(&self, attempt: u32, error: &ModelError, rng: &mut impl Rng) -> Duration {
        error.retry_after().unwrap_or_else(|| self.jittered_backoff(attempt, rng))
    }
}

/// Parses a `Retry-After` header value: delay-seconds, or an HTTP date (a date in the past means
/// "now"). `None` when it is neither.
pub fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    parse_unclamped(value.trim(), now).map(|d| d.min(MAX_RETRY_AFTER))
}

/// The longest `Retry-After` taken literally; a larger one (even `u64::MAX` seconds, which would
/// overflow an `Instant`) means "not before the request's deadline" all the same.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(24 * 3600);

fn parse_unclamped(value: &str, now: SystemTime) -> Option<Duration> {
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    // Not in RFC 9110, but some gateways send fractional seconds; reading them costs nothing.
    if let Ok(seconds) = value.parse::<f64>() {
        return Duration::try_from_secs_f64(seconds).ok().or(Some(MAX_RETRY_AFTER).filter(|_| seconds > 0.0));
    }
    static PARSER: jiff::fmt::rfc2822::DateTimeParser = jiff::fmt::rfc2822::DateTimeParser::new();
    let at = SystemTime::from(PARSER.parse_timestamp(value).ok()?);
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// The verdict of [`run`].
#[derive(Debug)]
pub struct Retried<T> {
    /// The answer, or the error that ended the retries.
    pub result: Result<T, ModelError>,
    /// Requests actually sent (attempts refused by the circuit breaker are not counted).
    pub attempts: u32,
}

/// Runs `attempt` until it succeeds, fails with an error not worth retrying, the policy's retries
/// are spent, or the next wait would end past `deadline`.
///
/// `attempt` receives the 1-based attempt number and the time left before the deadline. If it
/// answers [`ModelError::CircuitOpen`] (the breaker opened under us), the retries stop and the
/// previous real failure is reported, since that is the informative one.
pub async fn run<T, F, Fut>(policy: &RetryPolicy, deadline: Instant, mut attempt: F) -> Retried<T>
where
    F: FnMut(u32, Duration) -> Fut,
    Fut: Future<Output = Result<T, ModelError>>,
{
    let mut sent = 0u32;
    let mut last_error: Option<ModelError> = None;
    loop {
        let remaining = deadline.saturating_duration_since(Instant::now());
        if remaining.is_zero() {
            let last_error = last_error.map(|e| e.to_string());
            return Retried { result: Err(ModelError::DeadlineExceeded { last_error }), attempts: sent };
        }
        let error = match attempt(sent + 1, remaining).await {
            Ok(answer) => return Retried { result: Ok(answer), attempts: sent + 1 },
            Err(ModelError::CircuitOpen) => {
                return Retried {
                    result: Err(last_error.unwrap_or(ModelError::CircuitOpen)),
                    attempts: sent,
                };
            }
            // The attempt was cut short by the deadline: say what failed before, if anything did.
            Err(ModelError::DeadlineExceeded { last_error: None }) if last_error.is_some() => {
                let last_error = last_error.map(|e| e.to_string());
                return Retried {
                    result: Err(ModelError::DeadlineExceeded { last_error }),
                    attempts: sent + 1,
                };
            }
            Err(error) => error,
        };
        sent += 1;
        if !error.is_retryable() || sent > policy.max_retries {
            return Retried { result: Err(error), attempts: sent };
        }
        let delay = policy.delay_after(sent, &error, &mut rand::rng());
        if Instant::now() + delay >= deadline {
            // Sleeping would end past the deadline: the caller is better off hearing now.
            let last_error = Some(error.to_string());
            return Retried { result: Err(ModelError::DeadlineExceeded { last_error }), attempts: sent };
        }
        tracing::debug!(attempt = sent, ?delay, error = %error, "model call failed; retrying");
        tokio::time::sleep(delay).await;
        last_error = Some(error);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn a_huge_retry_after_is_clamped_not_an_overflow() {
        let now = SystemTime::now();
        let huge = parse_retry_after("18446744073709551615", now).expect("parsed");
        assert_eq!(huge, MAX_RETRY_AFTER);
        assert_eq!(parse_retry_after("1e19", now), Some(MAX_RETRY_AFTER));
        // Adding it to an Instant must not panic.
        let _ = tokio::time::Instant::now() + huge;
    }

    fn policy(max_retries: u32, initial_ms: u64) -> RetryPolicy {
        RetryPolicy {
            max_retries,
            initial_backoff: Duration::from_millis(initial_ms),
            max_backoff: MAX_BACKOFF,
        }
    }

    fn server_error() -> ModelError {
        ModelError::Unavailable { status: 500, retry_after: None, body: String::new() }
    }

    #[test]
    fn ceiling_doubles_and_is_capped() {
        let p = policy(10, 200);
        assert_eq!(p.backoff_ceiling(1), Duration::from_millis(200));
        assert_eq!(p.backoff_ceiling(2), Duration::from_millis(400));
        assert_eq!(p.backoff_ceiling(3), Duration::from_millis(800));
        assert_eq!(p.backoff_ceiling(10), MAX_BACKOFF);
        assert_eq!(p.backoff_ceiling(200), MAX_BACKOFF, "no overflow on huge attempt numbers");
    }

    #[test]
    fn jitter_stays_within_bounds_and_varies() {
        let p = policy(10, 100);
        let mut rng = StdRng::seed_from_u64(7);
        for attempt in 1..=12 {
            let ceiling = p.backoff_ceiling(attempt);
            let draws: Vec<_> = (0..200).map(|_| p.jittered_backoff(attempt, &mut rng)).collect();
            assert!(draws.iter().all(|d| *d <= ceiling), "attempt {attempt}: {draws:?}");
            let distinct: std::collections::HashSet<_> = draws.iter().collect();
            assert!(distinct.len() > 100, "full jitter spreads the waits");
            // Full jitter, not "equal jitter": waits well below half the ceiling happen.
            assert!(draws.iter().any(|d| *d < ceiling / 4));
        }
    }

    #[test]
    fn retry_after_takes_precedence_over_backoff() {
        let p = policy(3, 100);
        let limited =
            ModelError::RateLimited { retry_after: Some(Duration::from_secs(7)), body: String::new() };
        assert_eq!(p.delay_after(1, &limited, &mut rand::rng()), Duration::from_secs(7));
        assert!(p.delay_after(1, &server_error(), &mut rand::rng()) <= Duration::from_millis(100));
    }

    #[test]
    fn retry_after_reads_seconds_and_http_dates() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(parse_retry_after("120", now), Some(Duration::from_secs(120)));
        assert_eq!(parse_retry_after(" 0 ", now), Some(Duration::ZERO));
        assert_eq!(parse_retry_after("1.5", now), Some(Duration::from_millis(1500)));
        assert_eq!(parse_retry_after("Sun, 06 Nov 1994 08:50:07 GMT", now), Some(Duration::from_secs(30)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO),
            "past date"
        );
        assert_eq!(parse_retry_after("soon", now), None);
        assert_eq!(parse_retry_after("-3", now), None);
    }

    #[tokio::test(start_paused = true)]
    async fn succeeds_after_transient_failures() {
        let calls = AtomicU32::new(0);
        let started = Instant::now();
        let out = run(&policy(3, 100), started + Duration::from_secs(60), |n, _| {
            calls.fetch_add(1, Ordering::SeqCst);
            async move { if n < 3 { Err(server_error()) } else { Ok("answer") } }
        })
        .await;
        assert_eq!(out.result, Ok("answer"));
        assert_eq!(out.attempts, 3);
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        // Two jittered waits, at most 100 ms + 200 ms.
        assert!(started.elapsed() <= Duration::from_millis(300));
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_max_retries() {
        let out = run(&policy(2, 10), Instant::now() + Duration::from_secs(60), |_, _| async {
            Err::<(), _>(server_error())
        })
        .await;
        assert_eq!(out.attempts, 3);
        assert_eq!(out.result, Err(server_error()));
    }

    #[tokio::test(start_paused = true)]
    async fn never_retries_a_rejection() {
        let rejected = ModelError::Rejected { status: 401, body: "no".into() };
        let out = run(&policy(5, 10), Instant::now() + Duration::from_secs(60), |_, _| {
            let rejected = rejected.clone();
            async move { Err::<(), _>(rejected) }
        })
        .await;
        assert_eq!(out.attempts, 1);
        assert_eq!(out.result, Err(rejected));
    }

    #[tokio::test(start_paused = true)]
    async fn honours_retry_after_exactly() {
        let started = Instant::now();
        let out = run(&policy(3, 10), started + Duration::from_secs(60), |n, _| async move {
            if n == 1 {
                Err(ModelError::RateLimited {
                    retry_after: Some(Duration::from_secs(2)),
                    body: String::new(),
                })
            } else {
                Ok(())
            }
        })
        .await;
        assert_eq!(out.attempts, 2);
        assert!(out.result.is_ok());
        assert_eq!(started.elapsed(), Duration::from_secs(2));
    }

    #[tokio::test(start_paused = true)]
    async fn never_sleeps_past_the_deadline() {
        let started = Instant::now();
        let deadline = started + Duration::from_secs(1);
        let out = run(&policy(100, 100), deadline, |_, remaining| {
            assert!(remaining <= Duration::from_secs(1));
            async { Err::<(), _>(server_error()) }
        })
        .await;
        assert!(matches!(out.result, Err(ModelError::DeadlineExceeded { last_error: Some(_) })), "{out:?}");
        assert!(Instant::now() <= deadline, "returned at {:?}", started.elapsed());
        assert!(out.attempts < 101);
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_after_beyond_the_deadline_ends_at_once() {
        let started = Instant::now();
        let out = run(&policy(3, 10), started + Duration::from_secs(5), |_, _| async {
            Err::<(), _>(ModelError::RateLimited {
                retry_after: Some(Duration::from_secs(60)),
                body: String::new(),
            })
        })
        .await;
        assert_eq!(out.attempts, 1);
        assert!(matches!(out.result, Err(ModelError::DeadlineExceeded { .. })));
        assert_eq!(started.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn an_open_breaker_ends_retries_with_the_real_failure() {
        let out = run(&policy(3, 10), Instant::now() + Duration::from_secs(60), |n, _| async move {
            if n == 1 { Err::<(), _>(server_error()) } else { Err(ModelError::CircuitOpen) }
        })
        .await;
        assert_eq!(out.attempts, 1);
        assert_eq!(out.result, Err(server_error()));
    }

    #[tokio::test(start_paused = true)]
    async fn a_passed_deadline_sends_nothing() {
        let out = run(&policy(3, 10), Instant::now(), |_, _| async { Ok::<_, ModelError>(()) }).await;
        assert_eq!(out.attempts, 0);
        assert_eq!(out.result, Err(ModelError::DeadlineExceeded { last_error: None }));
    }
}
