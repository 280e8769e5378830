//! Logging set-up: one JSON object per line on stdout, filtered by `RUST_LOG`; and, when the
//! standard `OTEL_*` variables name a collector, Agentry's spans exported to it as OpenTelemetry
//! traces (the `agentry-telemetry` crate).

use agentry_telemetry::{ExportSettings, SpanExport, is_exported};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer, filter};

/// The filter used when `RUST_LOG` is unset or does not parse.
pub const DEFAULT_FILTER: &str = "info";

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
#[error("setting up logging: {0}")]
pub struct LoggingError(#[source] Box<dyn std::error::Error + Send + Sync + 'static>);

/// Logging as set up; keep it until the process ends: dropping it sends the spans still queued.
#[must_use = "dropping it stops the span export"]
pub struct Logging {
    traces: Option<SpanExport>,
}

impl Logging {
    /// Whether spans are exported.
    pub fn exports_traces(&self) -> bool {
        self.traces.is_some()
    }
}

/// Installs the process-wide subscriber: JSON lines carrying the current span, filtered by
/// `RUST_LOG` (or [`DEFAULT_FILTER`]), plus the span exporter when `OTEL_EXPORTER_OTLP_ENDPOINT`
/// (or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set; `service` is the default `service.name`.
/// Fails when a subscriber is already installed; bad `OTEL_*` settings are logged, not fatal.
pub fn init(service: &str) -> Result<Logging, LoggingError> {
    let filter = || EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let settings = ExportSettings::from_env(service, |name| std::env::var(name).ok());
    let started = match &settings {
        Ok(Some(settings)) => Some(SpanExport::start(settings.clone())),
        _ => None,
    };
    let traces = match started {
        Some(Ok((layer, export))) => {
            let json = tracing_subscriber::fmt::layer().json().with_current_span(true).with_filter(filter());
            tracing_subscriber::registry()
                .with(json)
                .with(layer.with_filter(filter::filter_fn(is_exported)))
                .try_init()
                .map_err(|err| LoggingError(Box::new(err)))?;
            Some(export)
        }
        // Without export the subscriber is exactly the plain one: traces off cost nothing.
        other => {
            tracing_subscriber::fmt()
                .json()
                .with_current_span(true)
                .with_env_filter(filter())
                .try_init()
                .map_err(LoggingError)?;
            if let Some(Err(err)) = other {
                tracing::error!(error = %err, "spans are not exported");
            }
            None
        }
    };
    match settings {
        Err(err) => tracing::error!(error = %err, "spans are not exported: the OTEL_* settings are wrong"),
        Ok(Some(settings)) if traces.is_some() => {
            if let Some(note) = &settings.note {
                tracing::warn!("{note}");
            }
            // Host and path only: a URL may hold a password.
            let endpoint =
                settings.endpoint.host_str().unwrap_or_default().to_string() + settings.endpoint.path();
            tracing::info!(endpoint, "exporting spans over OTLP/HTTP");
        }
        Ok(_) => {}
    }
    Ok(Logging { traces })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_subscriber_is_refused_not_a_panic() {
        // Whichever call comes first installs the subscriber; the other must fail cleanly.
        let first = init("test").map(|logging| logging.exports_traces());
        let second = init("test").map(|logging| logging.exports_traces());
        assert!(first.is_ok() || second.is_ok(), "one of the two installs: {first:?} {second:?}");
        assert!(second.is_err(), "a second install is refused");
    }
}
