//! Logging set-up: one JSON object per line on stdout, filtered by `RUST_LOG`.

use tracing_subscriber::EnvFilter;

/// The filter used when `RUST_LOG` is unset or does not parse.
pub const DEFAULT_FILTER: &str = "info";

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("setting up logging: {0}")]
pub struct LoggingError(#[source] Box<dyn std::error::Error + Send + Sync + 'static>);

/// Installs the process-wide subscriber: JSON lines carrying the current span, filtered by
/// `RUST_LOG` (or [`DEFAULT_FILTER`]). Fails when a subscriber is already installed.
pub fn init() -> Result<(), LoggingError> {
    tracing_subscriber::fmt()
        .json()
        .with_current_span(true)
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER)))
        .try_init()
        .map_err(LoggingError)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_subscriber_is_refused_not_a_panic() {
        // Whichever call comes first installs the subscriber; the other must fail cleanly.
        let first = init();
        let second = init();
        assert!(first.is_ok() || second.is_ok(), "one of the two installs: {first:?} {second:?}");
        assert!(second.is_err(), "a second install is refused");
    }
}
