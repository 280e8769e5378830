//! The operator's Prometheus metrics (DESIGN.md §6).

use std::time::Duration;

use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Every metric the operator exports.
pub struct OperatorMetrics {
    registry: Registry,
    /// Reconciles run, by controller.
    pub reconciles: IntCounterVec,
    /// Reconciles that failed, by controller and reason.
    pub reconcile_errors: IntCounterVec,
    /// Reconcile duration in seconds, by controller.
    pub reconcile_duration: HistogramVec,
    /// Objects managed, by kind and phase (or Ready status for kinds without a phase).
    pub objects: IntGaugeVec,
}

impl OperatorMetrics {
    /// Registers every metric.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = Registry::new_custom(Some("agentry".into()), None)?;
        let reconciles = IntCounterVec::new(
            Opts::new("operator_reconciles_total", "Reconciles run, by controller."),
            &["controller"],
        )?;
        let reconcile_errors = IntCounterVec::new(
            Opts::new("operator_reconcile_errors_total", "Reconciles that failed, by controller and reason."),
            &["controller", "reason"],
        )?;
        let reconcile_duration = HistogramVec::new(
            HistogramOpts::new("operator_reconcile_duration_seconds", "Reconcile duration, by controller.")
                .buckets(vec![0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]),
            &["controller"],
        )?;
        let objects = IntGaugeVec::new(
            Opts::new("operator_managed_objects", "Objects managed, by kind and phase."),
            &["kind", "phase"],
        )?;
        registry.register(Box::new(reconciles.clone()))?;
        registry.register(Box::new(reconcile_errors.clone()))?;
        registry.register(Box::new(reconcile_duration.clone()))?;
        registry.register(Box::new(objects.clone()))?;
        Ok(Self { registry, reconciles, reconcile_errors, reconcile_duration, objects })
    }

    /// Counts one finished reconcile, failed or not.
    pub fn observe(&self, controller: &str, took: Duration) {
        self.reconciles.with_label_values(&[controller]).inc();
        self.reconcile_duration.with_label_values(&[controller]).observe(took.as_secs_f64());
    }

    /// Counts one failed reconcile by its reason (the error policy calls it).
    pub fn failed(&self, controller: &str, reason: &str) {
        self.reconcile_errors.with_label_values(&[controller, reason]).inc();
    }

    /// The metrics in Prometheus text format.
    pub fn encode(&self) -> Result<String, prometheus::Error> {
        let mut out = Vec::new();
        TextEncoder::new().encode(&self.registry.gather(), &mut out)?;
        Ok(String::from_utf8_lossy(&out).into_owned())
    }
}

/// `/metrics` serves every operator series.
impl agentry_process::MetricsSource for OperatorMetrics {
    fn metrics_text(&self) -> Result<String, prometheus::Error> {
        self.encode()
    }
}
