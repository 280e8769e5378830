//! The operator's Prometheus metrics (DESIGN.md §6).

use std::time::Duration;

use agentry_process::{MetricCatalog, MetricRegistry, MetricsSource};
use prometheus::{HistogramOpts, HistogramVec, IntCounterVec, IntGaugeVec, Opts};

/// Every metric the operator exports.
pub struct OperatorMetrics {
    registry: MetricRegistry,
    /// Reconciles run, by controller.
    pub reconciles: IntCounterVec,
    /// Reconciles that failed, by controller and reason.
    pub reconcile_errors: IntCounterVec,
    /// Reconcile duration in seconds, by controller.
    pub reconcile_duration: HistogramVec,
    /// Objects managed, by namespace, kind and phase (or Ready status for kinds without a phase).
    pub objects: IntGaugeVec,
    /// 1 for each Agent's current phase, by namespace, agent and phase.
    pub agent_phase: IntGaugeVec,
    /// Runner pods ready to answer, by namespace and agent.
    pub agent_ready_replicas: IntGaugeVec,
}

impl OperatorMetrics {
    /// Registers every metric.
    pub fn new() -> Result<Self, prometheus::Error> {
        let registry = MetricRegistry::new_custom(Some("agentry".into()), None)?;
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
            Opts::new("operator_managed_objects", "Objects managed, by namespace, kind and phase."),
            &["namespace", "kind", "phase"],
        )?;
        let agent_phase = IntGaugeVec::new(
            Opts::new("operator_agent_phase", "1 for each Agent's current phase."),
            &["namespace", "agent", "phase"],
        )?;
        let agent_ready_replicas = IntGaugeVec::new(
            Opts::new("operator_agent_ready_replicas", "Runner pods of each Agent ready to answer."),
            &["namespace", "agent"],
        )?;
        registry.register(Box::new(reconciles.clone()))?;
        registry.register(Box::new(reconcile_errors.clone()))?;
        registry.register(Box::new(reconcile_duration.clone()))?;
        registry.register(Box::new(objects.clone()))?;
        registry.register(Box::new(agent_phase.clone()))?;
        registry.register(Box::new(agent_ready_replicas.clone()))?;
        Ok(Self {
            registry,
            reconciles,
            reconcile_errors,
            reconcile_duration,
            objects,
            agent_phase,
            agent_ready_replicas,
        })
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
        self.registry.metrics_text()
    }

    /// Every family the operator exports, with its labels.
    pub fn catalog(&self) -> MetricCatalog {
        self.registry.catalog()
    }
}

/// `/metrics` serves every operator series.
impl MetricsSource for OperatorMetrics {
    fn metrics_text(&self) -> Result<String, prometheus::Error> {
        self.encode()
    }
}
