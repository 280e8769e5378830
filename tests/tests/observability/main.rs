//! Observability as shipped: the alert rules pass `promtool check rules` and their
//! `promtool test rules` cases (config/prometheus), and the alert rules and the Grafana dashboard
//! (config/grafana) use only metrics and labels the binaries export (docs/metrics.md); and a real
//! Prometheus scraping a runner, its peer and a recorder finds a series for every dashboard
//! expression over them and fires and resolves ModelCircuitOpen.

mod catalog;
mod chart;
mod dashboard;
mod prometheus_e2e;
mod prometheus_server;
mod promql;
mod rules;
mod task_backlog;
mod traces;
