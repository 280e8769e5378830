//! The recorder's Prometheus metrics, served on `/metrics`.

use agentry_process::{MetricCatalog, MetricRegistry, MetricsSource};
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus::{Gauge, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts};

use crate::event_subject::Forged;

/// Batch durations, seconds: from a few milliseconds (a healthy write) to a minute (a batch
/// held through a database outage).
const BATCH_BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0];

/// Every metric the recorder exports, in its own registry.
pub struct RecorderMetrics {
    registry: MetricRegistry,
    /// Events in the stream not yet recorded: the consumer's pending plus unacknowledged messages.
    pub(crate) lag: IntGauge,
    /// Rows inserted, by event type (`interaction`, `message`, `toolCall`, `modelCall`).
    pub(crate) written: IntCounterVec,
    /// Events received that were already stored (redeliveries, re-publications).
    pub(crate) duplicates: IntCounter,
    /// Time to record one batch: decode, write, commit, acknowledge.
    pub(crate) batch_duration: Histogram,
    /// Failed attempts to write a batch (each is retried).
    pub(crate) write_errors: IntCounter,
    /// Messages that are not events, or events the database refuses; dropped from the stream.
    pub(crate) malformed: IntCounter,
    /// Forged events (payload and subject disagree), by reason; acknowledged, not stored.
    pub(crate) rejected: IntCounterVec,
    /// Rows removed by retention, by table.
    pub(crate) retention_deleted: IntCounterVec,
    /// When a batch was last recorded, in seconds since the Unix epoch (0 before the first).
    last_write: Gauge,
}

impl RecorderMetrics {
    /// Creates and registers every metric.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = MetricRegistry::new();
        let lag = IntGauge::new(
            "agentry_recorder_lag_messages",
            "Events in the stream not yet recorded (consumer pending plus unacknowledged)",
        )?;
        let written = IntCounterVec::new(
            Opts::new("agentry_recorder_events_written_total", "Events written to PostgreSQL, by type"),
            &["type"],
        )?;
        let duplicates = IntCounter::new(
            "agentry_recorder_duplicate_events_total",
            "Events received that were already stored",
        )?;
        let batch_duration = Histogram::with_opts(
            HistogramOpts::new(
                "agentry_recorder_batch_duration_seconds",
                "Time to record one batch: decode, write, commit and acknowledge",
            )
            .buckets(BATCH_BUCKETS.to_vec()),
        )?;
        let write_errors =
            IntCounter::new("agentry_recorder_write_errors_total", "Failed attempts to write a batch")?;
        let malformed = IntCounter::new(
            "agentry_recorder_malformed_events_total",
            "Messages dropped because they are not events or the database refuses them",
        )?;
        let rejected = IntCounterVec::new(
            Opts::new(
                "agentry_recorder_events_rejected_total",
                "Events refused because their payload names another agent, namespace or kind than their subject",
            ),
            &["reason"],
        )?;
        for forged in Forged::ALL {
            rejected.with_label_values(&[forged.reason()]);
        }
        let retention_deleted = IntCounterVec::new(
            Opts::new("agentry_recorder_retention_deleted_total", "Rows removed by retention, by table"),
            &["table"],
        )?;
        let last_write = Gauge::new(
            "agentry_recorder_last_write_timestamp_seconds",
            "When a batch was last recorded, in seconds since the Unix epoch",
        )?;
        registry.register(Box::new(last_write.clone()))?;
        registry.register(Box::new(lag.clone()))?;
        registry.register(Box::new(written.clone()))?;
        registry.register(Box::new(duplicates.clone()))?;
        registry.register(Box::new(batch_duration.clone()))?;
        registry.register(Box::new(write_errors.clone()))?;
        registry.register(Box::new(malformed.clone()))?;
        registry.register(Box::new(rejected.clone()))?;
        registry.register(Box::new(retention_deleted.clone()))?;
        Ok(Self {
            registry,
            lag,
            written,
            duplicates,
            batch_duration,
            write_errors,
            malformed,
            rejected,
            retention_deleted,
            last_write,
        })
    }

    /// Notes that a batch was recorded just now.
    pub(crate) fn batch_recorded_now(&self) {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64());
        self.last_write.set(now);
    }

    /// Every family the recorder exports, with its labels.
    pub fn catalog(&self) -> MetricCatalog {
        self.registry.catalog()
    }

    /// Events written so far, every type together.
    pub fn events_written(&self) -> u64 {
        ["interaction", "message", "toolCall", "modelCall", "session"]
            .iter()
            .map(|kind| self.written.with_label_values(&[*kind]).get())
            .sum()
    }

    /// Messages dropped as malformed so far.
    pub fn malformed_events(&self) -> u64 {
        self.malformed.get()
    }

    /// Events refused as forged so far, for `reason` (`agent_mismatch`, `namespace_mismatch`,
    /// `kind_mismatch`, `unexpected_subject`).
    pub fn events_rejected(&self, reason: &str) -> u64 {
        self.rejected.with_label_values(&[reason]).get()
    }

    /// The lag last measured.
    pub fn lag(&self) -> i64 {
        self.lag.get()
    }
}

impl MetricsSource for RecorderMetrics {
    fn metrics_text(&self) -> Result<String, prometheus::Error> {
        self.registry.metrics_text()
    }
}

#[cfg(test)]
mod tests {
    use agentry_tests::metrics_text::metric_value;

    use super::*;

    #[test]
    fn the_last_write_time_is_zero_until_a_batch_is_recorded_then_now() {
        let metrics = RecorderMetrics::new().expect("metrics");
        let name = "agentry_recorder_last_write_timestamp_seconds";
        let text = metrics.metrics_text().expect("encodes");
        assert_eq!(metric_value(&text, name, &[]), Some(0.0), "{text}");
        let before = SystemTime::now().duration_since(UNIX_EPOCH).expect("after the epoch").as_secs_f64();
        metrics.batch_recorded_now();
        let text = metrics.metrics_text().expect("encodes");
        let at = metric_value(&text, name, &[]).expect("a value");
        assert!(at >= before && at < before + 60.0, "{at} vs {before}");
    }
}
