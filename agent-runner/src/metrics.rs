//! The runner's Prometheus metrics (DESIGN.md §6), every series labelled with the agent and
//! its namespace.

use std::collections::HashMap;

use agentry_process::{MetricCatalog, MetricRegistry, MetricsSource};
use prometheus::{
    CounterVec, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts,
};

/// Latency buckets from 1 ms to 2 min: agent requests range from instant replies to long tool chains.
const LATENCY_BUCKETS: &[f64] =
    &[0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0];

/// Every metric the runner exports.
pub struct RunnerMetrics {
    registry: MetricRegistry,
    /// Requests answered, by outcome (`ok` or an error code).
    pub requests: IntCounterVec,
    /// Request duration in seconds, by outcome.
    pub request_duration: HistogramVec,
    /// Requests being worked on.
    pub in_flight: IntGauge,
    /// Model calls (after retries), by provider, model and outcome.
    pub model_calls: IntCounterVec,
    /// Model call duration in seconds, retries included, by provider and model.
    pub model_call_duration: HistogramVec,
    /// Tokens, by model and direction (`input` or `output`).
    pub tokens: IntCounterVec,
    /// Model spend in USD, by model.
    pub cost_usd: CounterVec,
    /// Tool calls, by tool and outcome (`ok`, `invalid_arguments`, `unknown_tool`, `error`, `timeout`,
    /// `rate_limited`, `address_refused`).
    pub tool_calls: IntCounterVec,
    /// Tool call duration in seconds, by tool.
    pub tool_call_duration: HistogramVec,
    /// Result-cache lookups of tools with `cacheTtlSeconds`, by tool and result (`hit`, `miss`).
    pub tool_cache_lookups: IntCounterVec,
    /// Circuit-breaker state by model: 0 closed, 1 half-open, 2 open.
    pub circuit_state: IntGaugeVec,
    /// Long-term memory query duration in seconds.
    pub memory_query_duration: Histogram,
    /// Long-term memory operations skipped or failed because the store was unreachable, by
    /// operation (`recall`, `search`, `store`, `episodic`).
    pub memory_unavailable: IntCounterVec,
    /// Messages exchanged with other agents, by peer and direction (`sent` or `received`).
    pub agent_messages: IntCounterVec,
    /// Events accepted by JetStream.
    pub events_published: IntCounter,
    /// Events dropped because the buffer was full.
    pub events_dropped: IntCounter,
    /// Events JetStream refused or did not acknowledge (retried until dropped).
    pub events_failed: IntCounter,
    /// Today's model spend in USD of the agent as a whole (all replicas), as this replica knows it.
    pub budget_spent_usd: Gauge,
    /// The daily budget in USD; registered only when the agent has one ([`Self::show_budget_limit`]).
    budget_limit_usd: Gauge,
    /// Task deliveries handled, by outcome (`succeeded`, `failed`, `cancelled`, `retried`,
    /// `released`, `skipped`).
    pub tasks: IntCounterVec,
    /// Task deliveries that were not the task's first (a retry, or a run cut off elsewhere).
    pub task_redeliveries: IntCounter,
    /// Task runs being worked on.
    pub tasks_in_flight: IntGauge,
    /// The agent's tasks waiting to be delivered (its shared consumer's pending count).
    pub tasks_pending: IntGauge,
    /// The agent's tasks delivered to a replica and not yet settled.
    pub tasks_unacknowledged: IntGauge,
    /// Attempts to reach the daily usage bucket that failed (what was counted is kept and retried).
    pub budget_sync_failures: IntCounter,
}

impl RunnerMetrics {
    /// Registers every metric with `namespace` and `agent` as constant labels.
    pub fn new(namespace: &str, agent: &str) -> Result<Self, prometheus::Error> {
        let labels = HashMap::from([
            ("namespace".to_string(), namespace.to_string()),
            ("agent".to_string(), agent.to_string()),
        ]);
        let registry = MetricRegistry::new_custom(Some("agentry".into()), Some(labels))?;
        let counter_vec = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels)?;
            registry.register(Box::new(c.clone()))?;
            Ok::<_, prometheus::Error>(c)
        };
        let histogram_vec = |name: &str, help: &str, labels: &[&str]| {
            let h =
                HistogramVec::new(HistogramOpts::new(name, help).buckets(LATENCY_BUCKETS.to_vec()), labels)?;
            registry.register(Box::new(h.clone()))?;
            Ok::<_, prometheus::Error>(h)
        };
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help)?;
            registry.register(Box::new(c.clone()))?;
            Ok::<_, prometheus::Error>(c)
        };
        let requests = counter_vec("agent_requests_total", "Requests answered, by outcome.", &["outcome"])?;
        let request_duration =
            histogram_vec("agent_request_duration_seconds", "Request duration, by outcome.", &["outcome"])?;
        let in_flight = IntGauge::new("agent_requests_in_flight", "Requests being worked on.")?;
        registry.register(Box::new(in_flight.clone()))?;
        let model_calls = counter_vec(
            "model_calls_total",
            "Model calls after retries, by provider, model and outcome.",
            &["provider", "model", "outcome"],
        )?;
        let model_call_duration = histogram_vec(
            "model_call_duration_seconds",
            "Model call duration including retries.",
            &["provider", "model"],
        )?;
        let tokens =
            counter_vec("model_tokens_total", "Tokens, by model and direction.", &["model", "direction"])?;
        let cost_usd = CounterVec::new(Opts::new("model_cost_usd_total", "Model spend in USD."), &["model"])?;
        registry.register(Box::new(cost_usd.clone()))?;
        let tool_calls =
            counter_vec("tool_calls_total", "Tool calls, by tool and outcome.", &["tool", "outcome"])?;
        let tool_call_duration =
            histogram_vec("tool_call_duration_seconds", "Tool call duration.", &["tool"])?;
        let tool_cache_lookups = counter_vec(
            "tool_cache_lookups_total",
            "Result-cache lookups of tools with cacheTtlSeconds, by tool and result.",
            &["tool", "result"],
        )?;
        let circuit_state = IntGaugeVec::new(
            Opts::new("circuit_breaker_state", "Circuit breaker per model: 0 closed, 1 half-open, 2 open."),
            &["model"],
        )?;
        registry.register(Box::new(circuit_state.clone()))?;
        let memory_query_duration = Histogram::with_opts(
            HistogramOpts::new("memory_query_duration_seconds", "Long-term memory query duration.")
                .buckets(LATENCY_BUCKETS.to_vec()),
        )?;
        registry.register(Box::new(memory_query_duration.clone()))?;
        let memory_unavailable = IntCounterVec::new(
            Opts::new(
                "memory_unavailable_total",
                "Long-term memory operations skipped or failed because the store was unreachable.",
            ),
            &["operation"],
        )?;
        registry.register(Box::new(memory_unavailable.clone()))?;
        let agent_messages = counter_vec(
            "agent_messages_total",
            "Messages exchanged with other agents, by peer and direction.",
            &["peer", "direction"],
        )?;
        let events_published = counter("events_published_total", "Events accepted by JetStream.")?;
        let events_dropped = counter("events_dropped_total", "Events dropped because the buffer was full.")?;
        let events_failed =
            counter("events_failed_total", "Event publishes JetStream refused or did not acknowledge.")?;
        let budget_spent_usd =
            Gauge::new("budget_spent_usd", "Model spend today (UTC) of the agent as a whole, in USD.")?;
        registry.register(Box::new(budget_spent_usd.clone()))?;
        let budget_limit_usd = Gauge::new("budget_limit_usd", "The agent's daily budget in USD.")?;
        let tasks = counter_vec("tasks_total", "Task deliveries handled, by outcome.", &["outcome"])?;
        let task_redeliveries =
            counter("task_redeliveries_total", "Task deliveries that were not the task's first.")?;
        let tasks_in_flight = IntGauge::new("tasks_in_flight", "Task runs being worked on.")?;
        registry.register(Box::new(tasks_in_flight.clone()))?;
        let tasks_pending =
            IntGauge::new("tasks_pending", "The agent's tasks waiting to be delivered (all replicas).")?;
        registry.register(Box::new(tasks_pending.clone()))?;
        let tasks_unacknowledged = IntGauge::new(
            "tasks_unacknowledged",
            "The agent's tasks delivered and not yet settled (all replicas).",
        )?;
        registry.register(Box::new(tasks_unacknowledged.clone()))?;
        let budget_sync_failures = counter(
            "budget_sync_failures_total",
            "Failed attempts to read or write the agent's daily usage record (retried).",
        )?;
        Ok(Self {
            registry,
            requests,
            request_duration,
            in_flight,
            model_calls,
            model_call_duration,
            tokens,
            cost_usd,
            tool_calls,
            tool_call_duration,
            tool_cache_lookups,
            circuit_state,
            memory_query_duration,
            memory_unavailable,
            agent_messages,
            events_published,
            events_dropped,
            events_failed,
            budget_spent_usd,
            budget_limit_usd,
            tasks,
            task_redeliveries,
            tasks_in_flight,
            tasks_pending,
            tasks_unacknowledged,
            budget_sync_failures,
        })
    }

    /// Every family the runner can export, with its labels (whether or not it has series yet).
    pub fn catalog(&self) -> MetricCatalog {
        let mut catalog = self.registry.catalog();
        // Registered only once shown, but part of what the runner exports.
        catalog.insert(
            "agentry_budget_limit_usd".to_string(),
            ["agent", "namespace"].into_iter().map(String::from).collect(),
        );
        catalog
    }

    /// Exports the agent's daily budget (an agent without one has no such series).
    pub fn show_budget_limit(&self, usd: f64) {
        match self.registry.register(Box::new(self.budget_limit_usd.clone())) {
            Ok(()) | Err(prometheus::Error::AlreadyReg) => {}
            Err(err) => tracing::warn!(error = %err, "the budget limit gauge could not be registered"),
        }
        self.budget_limit_usd.set(usd);
    }
}

/// `/metrics` serves every series of the runner's registry.
impl MetricsSource for RunnerMetrics {
    fn metrics_text(&self) -> Result<String, prometheus::Error> {
        self.registry.metrics_text()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn series_carry_agent_and_namespace() {
        let metrics = RunnerMetrics::new("fleet", "finance-officer").expect("metrics");
        metrics.requests.with_label_values(&["ok"]).inc();
        let text = metrics.metrics_text().expect("encodes");
        let line = text
            .lines()
            .find(|l| l.starts_with("agentry_agent_requests_total{"))
            .unwrap_or_else(|| panic!("no request series in {text}"));
        for label in [r#"agent="finance-officer""#, r#"namespace="fleet""#, r#"outcome="ok""#] {
            assert!(line.contains(label), "{line} lacks {label}");
        }
        assert!(line.ends_with(" 1"), "{line}");
    }

    #[test]
    fn the_budget_limit_is_exported_only_once_shown() {
        use agentry_tests::metrics_text::metric_value;
        let metrics = RunnerMetrics::new("fleet", "planner").expect("metrics");
        metrics.budget_spent_usd.set(0.25);
        let labels = [("agent", "planner"), ("namespace", "fleet")];
        let text = metrics.metrics_text().expect("encodes");
        assert_eq!(metric_value(&text, "agentry_budget_spent_usd", &labels), Some(0.25), "{text}");
        assert!(!text.contains("agentry_budget_limit_usd"), "{text}");
        metrics.show_budget_limit(3.0);
        metrics.show_budget_limit(3.5);
        let text = metrics.metrics_text().expect("encodes");
        assert_eq!(metric_value(&text, "agentry_budget_limit_usd", &labels), Some(3.5), "{text}");
    }
}
