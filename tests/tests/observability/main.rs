//! Observability as shipped: the alert rules pass `promtool check rules` and their
//! `promtool test rules` cases (config/prometheus), and the alert rules and the Grafana dashboard
//! (config/grafana) use only metrics and labels the binaries export (docs/metrics.md).

mod catalog;
mod dashboard;
mod promql;
mod rules;
