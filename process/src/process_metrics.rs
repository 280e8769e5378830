//! The series every Agentry binary exports besides its own (DESIGN.md §6): the standard
//! `process_*` figures, read from `/proc/self` at each scrape, and
//! `agentry_build_info{binary,version} 1`. The admin endpoint's `/metrics` appends them to the
//! binary's [`MetricsSource`](crate::MetricsSource), so each binary registers nothing itself.

use agentry_telemetry::COUNTERS;
use prometheus::{Counter, Gauge, IntCounter, IntGaugeVec, Opts};

use crate::MetricsSource;
use crate::metric_registry::{MetricCatalog, MetricRegistry};
use crate::proc_self;

/// Which binary this is and which version of it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BuildInfo {
    /// The binary's name (`agentry-runner`, `agentry-operator`, `agentry-recorder`).
    pub binary: &'static str,
    /// Its version (the crate version it was built from).
    pub version: &'static str,
}

/// The process and build-info series, refreshed when scraped.
pub struct ProcessMetrics {
    registry: MetricRegistry,
    cpu_seconds: Counter,
    resident_bytes: Gauge,
    virtual_bytes: Gauge,
    threads: Gauge,
    start_time: Gauge,
    open_fds: Gauge,
    max_fds: Gauge,
    spans_exported: IntCounter,
    spans_dropped: IntCounter,
    span_export_failures: IntCounter,
}

impl ProcessMetrics {
    /// Registers the series; `build` labels `agentry_build_info`.
    pub fn new(build: BuildInfo) -> Result<Self, prometheus::Error> {
        let registry = MetricRegistry::new();
        let gauge = |name: &str, help: &str| {
            let g = Gauge::new(name, help)?;
            registry.register(Box::new(g.clone()))?;
            Ok::<_, prometheus::Error>(g)
        };
        let counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help)?;
            registry.register(Box::new(c.clone()))?;
            Ok::<_, prometheus::Error>(c)
        };
        let cpu_seconds = Counter::new("process_cpu_seconds_total", "User and system CPU time, in seconds.")?;
        registry.register(Box::new(cpu_seconds.clone()))?;
        let metrics = Self {
            cpu_seconds,
            resident_bytes: gauge("process_resident_memory_bytes", "Resident memory size in bytes.")?,
            virtual_bytes: gauge("process_virtual_memory_bytes", "Virtual memory size in bytes.")?,
            threads: gauge("process_threads", "Operating system threads.")?,
            start_time: gauge(
                "process_start_time_seconds",
                "When the process started, in seconds since the Unix epoch.",
            )?,
            open_fds: gauge("process_open_fds", "Open file descriptors.")?,
            max_fds: gauge("process_max_fds", "The limit on open file descriptors.")?,
            spans_exported: counter(
                "agentry_trace_spans_exported_total",
                "Spans the OTLP collector accepted (0 while traces are not exported).",
            )?,
            spans_dropped: counter(
                "agentry_trace_spans_dropped_total",
                "Spans lost: the export queue was full, or the collector refused or missed their batch.",
            )?,
            span_export_failures: counter(
                "agentry_trace_export_failures_total",
                "Span export requests that failed.",
            )?,
            registry,
        };
        let build_info = IntGaugeVec::new(
            Opts::new("agentry_build_info", "Always 1: the binary and its version."),
            &["binary", "version"],
        )?;
        metrics.registry.register(Box::new(build_info.clone()))?;
        build_info.with_label_values(&[build.binary, build.version]).set(1);
        Ok(metrics)
    }

    /// Every family exported, with its labels.
    pub fn catalog(&self) -> MetricCatalog {
        self.registry.catalog()
    }

    /// Reads `/proc/self` into the gauges (left as they were when it cannot be read), and the
    /// span exporter's counts into theirs.
    fn refresh(&self) {
        catch_up(&self.spans_exported, COUNTERS.exported());
        catch_up(&self.spans_dropped, COUNTERS.dropped());
        catch_up(&self.span_export_failures, COUNTERS.failed_requests());
        let Some(now) = proc_self::read() else { return };
        // A counter only goes up: add what was used since the last scrape.
        let used = now.cpu_seconds - self.cpu_seconds.get();
        if used > 0.0 {
            self.cpu_seconds.inc_by(used);
        }
        self.resident_bytes.set(now.resident_bytes);
        self.virtual_bytes.set(now.virtual_bytes);
        self.threads.set(now.threads);
        self.start_time.set(now.start_time_seconds);
        self.open_fds.set(now.open_fds);
        // Unlimited is exported as +Inf, which Prometheus understands.
        self.max_fds.set(now.max_fds.unwrap_or(f64::INFINITY));
    }
}

/// Moves `counter` up to `total`, a count kept elsewhere.
fn catch_up(counter: &IntCounter, total: u64) {
    let behind = total.saturating_sub(counter.get());
    if behind > 0 {
        counter.inc_by(behind);
    }
}

/// The series as scraped: refreshed first.
impl MetricsSource for ProcessMetrics {
    fn metrics_text(&self) -> Result<String, prometheus::Error> {
        self.refresh();
        self.registry.metrics_text()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value(text: &str, name: &str) -> f64 {
        text.lines()
            .find_map(|line| line.strip_prefix(name)?.strip_prefix(' '))
            .unwrap_or_else(|| panic!("no {name} in {text}"))
            .parse()
            .expect("a number")
    }

    #[test]
    fn process_figures_and_build_info_are_exported() {
        let metrics =
            ProcessMetrics::new(BuildInfo { binary: "agentry-test", version: "9.8.7" }).expect("registered");
        let text = metrics.metrics_text().expect("encodes");
        assert!(
            text.lines().any(|l| l == r#"agentry_build_info{binary="agentry-test",version="9.8.7"} 1"#),
            "{text}"
        );
        assert!(value(&text, "process_resident_memory_bytes") > 1e6, "{text}");
        assert!(value(&text, "process_open_fds") >= 3.0, "{text}");
        assert!(value(&text, "process_max_fds") >= value(&text, "process_open_fds"), "{text}");
        assert!(value(&text, "process_start_time_seconds") > 1.7e9, "{text}");
        assert!(text.contains("# TYPE process_cpu_seconds_total counter"), "{text}");
        assert_eq!(value(&text, "agentry_trace_spans_dropped_total"), 0.0, "no exporter, nothing dropped");
        // Burn CPU until the counter moves (ticks are 10 ms): it goes forward, never back.
        let before = value(&text, "process_cpu_seconds_total");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut x = 0u64;
        let mut after = before;
        while after <= before && std::time::Instant::now() < deadline {
            for _ in 0..1_000_000 {
                x = std::hint::black_box(x.wrapping_add(1));
            }
            after = value(&metrics.metrics_text().expect("encodes"), "process_cpu_seconds_total");
        }
        assert!(after > before, "{before} then {after}");
    }
}
