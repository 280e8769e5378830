//! Waiting for a condition with a deadline, instead of sleeping a fixed time.

use std::future::Future;
use std::time::Duration;

/// How often a condition is checked.
const INTERVAL: Duration = Duration::from_millis(20);

/// The deadline passed before the condition held.
#[derive(Debug, thiserror::Error)]
#[error("condition not met within {0:?}")]
pub struct TimedOut(pub Duration);

/// Calls `check` until it returns `Some`, or fails after `timeout`.
pub async fn poll_until<T, F, Fut>(timeout: Duration, mut check: F) -> Result<T, TimedOut>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(value) = check().await {
            return Ok(value);
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(TimedOut(timeout));
        }
        tokio::time::sleep(INTERVAL).await;
    }
}
