//! The Grafana dashboard (config/grafana/agentry-fleet.json): templated on the data source,
//! namespace and agent; every panel queries the templated data source with expressions that use
//! only exported metrics and labels; and it covers what issue 12 lists for the fleet overview.

use std::path::Path;

use serde_json::Value;

use crate::promql;

/// The dashboard as shipped.
pub(crate) fn dashboard() -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/grafana/agentry-fleet.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every query panel (rows hold none).
fn query_panels(dashboard: &Value) -> Vec<&Value> {
    let panels = dashboard["panels"].as_array().expect("panels");
    panels.iter().filter(|p| p["type"] != "row").collect()
}

/// Every panel expression, with its panel's title.
pub(crate) fn expressions(dashboard: &Value) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for panel in query_panels(dashboard) {
        let title = panel["title"].as_str().unwrap_or_default().to_string();
        for target in panel["targets"].as_array().into_iter().flatten() {
            let expr = target["expr"].as_str().unwrap_or_else(|| panic!("{title}: a target without expr"));
            found.push((title.clone(), expr.to_string()));
        }
    }
    found
}

#[test]
fn the_dashboard_is_templated_on_data_source_namespace_and_agent_and_uses_them() {
    let dashboard = dashboard();
    assert!(dashboard["schemaVersion"].as_u64().is_some_and(|v| v >= 36), "schemaVersion");
    let variables = dashboard["templating"]["list"].as_array().expect("templating");
    let names: Vec<&str> = variables.iter().filter_map(|v| v["name"].as_str()).collect();
    assert_eq!(names, ["datasource", "namespace", "agent"]);
    assert_eq!(variables[0]["type"], "datasource");
    assert_eq!(variables[0]["query"], "prometheus");
    let catalog = crate::catalog::exported();
    for variable in &variables[1..] {
        assert_eq!(variable["datasource"]["uid"], "${datasource}", "{variable}");
        let query = variable["query"]["query"].as_str().expect("a variable query");
        assert!(query.starts_with("label_values("), "{query}");
        assert_eq!(promql::problems(query, &catalog), Vec::<String>::new(), "{query}");
    }
    let expressions = expressions(&dashboard);
    for variable in ["$namespace", "$agent"] {
        let users = expressions.iter().filter(|(_, e)| e.contains(&format!("=~\"{variable}\""))).count();
        assert!(users >= 10, "only {users} expressions filter on {variable}");
    }
    for panel in query_panels(&dashboard) {
        assert_eq!(panel["datasource"]["uid"], "${datasource}", "{}", panel["title"]);
        for target in panel["targets"].as_array().into_iter().flatten() {
            assert_eq!(target["datasource"]["uid"], "${datasource}", "{}", panel["title"]);
        }
    }
}

#[test]
fn every_panel_uses_only_exported_metrics_and_labels() {
    let catalog = crate::catalog::exported();
    let expressions = expressions(&dashboard());
    assert!(expressions.len() >= 20, "{} expressions", expressions.len());
    for (title, expr) in expressions {
        let problems = promql::problems(&expr, &catalog);
        assert!(problems.is_empty(), "panel {title}: {problems:?} in {expr}");
    }
}

#[test]
fn the_fleet_overview_has_every_panel_issue_12_lists() {
    let dashboard = dashboard();
    let titles: Vec<&str> = query_panels(&dashboard).iter().filter_map(|p| p["title"].as_str()).collect();
    for title in [
        "Agents by phase",
        "Requests per second",
        "Error rate",
        "p95 latency",
        "Tokens per second",
        "Cost per hour",
        "Circuit breakers",
        "Tool calls",
        "Delegations between agents",
        "Task queue",
        "Recorder lag",
        "Operator reconciles",
    ] {
        assert!(titles.contains(&title), "no panel {title:?} in {titles:?}");
    }
    let mut ids: Vec<u64> =
        dashboard["panels"].as_array().expect("panels").iter().filter_map(|p| p["id"].as_u64()).collect();
    let count = ids.len();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(ids.len(), count, "panel ids are unique");
}
