//! A Prometheus registry that remembers what was registered with it: each family's name and
//! labels, even before it has a series. Dashboards and alert rules are checked against these
//! (a family without series is absent from `/metrics`, so the text alone cannot tell).

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Mutex, PoisonError};

use prometheus::Registry;
use prometheus::core::Collector;

use crate::MetricsSource;

/// Family names and, for each, its label names (registry-wide labels included).
pub type MetricCatalog = BTreeMap<String, BTreeSet<String>>;

/// A [`Registry`] plus the catalog of what was registered.
pub struct MetricRegistry {
    registry: Registry,
    prefix: Option<String>,
    labels: Vec<String>,
    catalog: Mutex<MetricCatalog>,
}

impl MetricRegistry {
    /// A registry whose families are named `<prefix>_<name>` and carry `labels` (as
    /// [`Registry::new_custom`]).
    pub fn new_custom(
        prefix: Option<String>,
        labels: Option<HashMap<String, String>>,
    ) -> Result<Self, prometheus::Error> {
        let names = labels.as_ref().map(|l| l.keys().cloned().collect()).unwrap_or_default();
        Ok(Self {
            registry: Registry::new_custom(prefix.clone(), labels)?,
            prefix,
            labels: names,
            catalog: Mutex::new(MetricCatalog::new()),
        })
    }

    /// A registry without prefix or registry-wide labels.
    pub fn new() -> Self {
        Self { registry: Registry::new(), prefix: None, labels: Vec::new(), catalog: Mutex::default() }
    }

    /// Registers `collector` and notes its families.
    pub fn register(&self, collector: Box<dyn Collector>) -> Result<(), prometheus::Error> {
        let families: Vec<(String, BTreeSet<String>)> = collector
            .desc()
            .iter()
            .map(|desc| {
                let name = match &self.prefix {
                    Some(prefix) => format!("{prefix}_{}", desc.fq_name),
                    None => desc.fq_name.clone(),
                };
                let labels = desc
                    .variable_labels
                    .iter()
                    .cloned()
                    .chain(desc.const_label_pairs.iter().map(|pair| pair.name().to_string()))
                    .chain(self.labels.iter().cloned())
                    .collect();
                (name, labels)
            })
            .collect();
        self.registry.register(collector)?;
        self.catalog.lock().unwrap_or_else(PoisonError::into_inner).extend(families);
        Ok(())
    }

    /// Every family registered, with its label names.
    pub fn catalog(&self) -> MetricCatalog {
        self.catalog.lock().unwrap_or_else(PoisonError::into_inner).clone()
    }
}

impl Default for MetricRegistry {
    fn default() -> Self {
        Self::new()
    }
}

/// `/metrics` serves what is registered.
impl MetricsSource for MetricRegistry {
    fn metrics_text(&self) -> Result<String, prometheus::Error> {
        self.registry.metrics_text()
    }
}

#[cfg(test)]
mod tests {
    use prometheus::{IntCounterVec, Opts};

    use super::*;

    #[test]
    fn families_are_cataloged_with_prefix_and_every_label_before_any_series() {
        let labels = HashMap::from([("agent".to_string(), "planner".to_string())]);
        let registry = MetricRegistry::new_custom(Some("agentry".into()), Some(labels)).expect("registry");
        let calls = IntCounterVec::new(Opts::new("calls_total", "Calls."), &["outcome"]).expect("counter");
        registry.register(Box::new(calls.clone())).expect("registered");
        let catalog = registry.catalog();
        let labels: Vec<&str> = catalog["agentry_calls_total"].iter().map(String::as_str).collect();
        assert_eq!(labels, ["agent", "outcome"]);
        assert!(!registry.metrics_text().expect("encodes").contains("calls_total"), "no series yet");
        assert!(registry.register(Box::new(calls)).is_err(), "registered twice");
        assert_eq!(registry.catalog().len(), 1);
    }
}
