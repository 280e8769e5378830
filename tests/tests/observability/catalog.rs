//! Every metric family the binaries export, with its labels, from their metrics types (families
//! without series yet included, which `/metrics` text would not show).

use std::collections::BTreeSet;

use agentry_operator::runtime::metrics::OperatorMetrics;
use agentry_process::{BuildInfo, MetricCatalog, ProcessMetrics};
use agentry_recorder::RecorderMetrics;
use agentry_runner::metrics::RunnerMetrics;

/// Labels Prometheus adds to every scraped series (target labels of a Kubernetes scrape) or
/// that histograms carry.
pub(crate) const SCRAPE_LABELS: &[&str] = &["job", "instance", "pod", "namespace", "le"];

/// The families of the runner, operator, recorder and the process figures they all add.
pub(crate) fn exported() -> MetricCatalog {
    let mut catalog = RunnerMetrics::new("ns", "agent").expect("runner metrics").catalog();
    catalog.extend(OperatorMetrics::new().expect("operator metrics").catalog());
    catalog.extend(RecorderMetrics::new().expect("recorder metrics").catalog());
    let build = BuildInfo { binary: "agentry-test", version: "0" };
    catalog.extend(ProcessMetrics::new(build).expect("process metrics").catalog());
    catalog
}

/// The family a series name belongs to: itself, or a histogram's without `_bucket`, `_sum` or
/// `_count`.
pub(crate) fn family<'a>(
    catalog: &'a MetricCatalog,
    series: &str,
) -> Option<(&'a String, &'a BTreeSet<String>)> {
    catalog.get_key_value(series).or_else(|| {
        ["_bucket", "_sum", "_count"]
            .iter()
            .find_map(|suffix| catalog.get_key_value(series.strip_suffix(suffix)?))
    })
}

#[test]
fn the_catalog_holds_every_binary_and_the_process_figures() {
    let catalog = exported();
    for name in [
        "agentry_agent_requests_total",
        "agentry_budget_limit_usd",
        "agentry_operator_managed_objects",
        "agentry_recorder_lag_messages",
        "agentry_build_info",
        "process_resident_memory_bytes",
    ] {
        assert!(catalog.contains_key(name), "{name} missing from {catalog:?}");
    }
    let labels: Vec<&str> = catalog["agentry_model_calls_total"].iter().map(String::as_str).collect();
    assert_eq!(labels, ["agent", "model", "namespace", "outcome", "provider"]);
    assert!(family(&catalog, "agentry_agent_request_duration_seconds_bucket").is_some());
    assert!(family(&catalog, "agentry_unknown_seconds_bucket").is_none());
}
