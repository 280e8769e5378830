//! The alert rules (config/prometheus/agentry-rules.yaml): promtool accepts them and passes every
//! unit test in config/prometheus/tests; each alert has a severity, a summary, a description and a
//! runbook that exists, fires in some test case and stays silent in another; and every
//! expression uses only exported metrics and labels.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_yaml::Value;

use crate::promql;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("the workspace").to_path_buf()
}

fn read_yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// The PrometheusRule's `spec`: a plain Prometheus rule file.
fn rule_file() -> Value {
    let rule = read_yaml(&repo().join("config/prometheus/agentry-rules.yaml"));
    assert_eq!(rule["apiVersion"].as_str(), Some("monitoring.coreos.com/v1"));
    assert_eq!(rule["kind"].as_str(), Some("PrometheusRule"));
    rule["spec"].clone()
}

fn alerting_rules(spec: &Value) -> Vec<Value> {
    let groups = spec["groups"].as_sequence().expect("groups");
    groups.iter().flat_map(|g| g["rules"].as_sequence().cloned().unwrap_or_default()).collect()
}

/// The promtool unit-test files, sorted.
fn test_files() -> Vec<PathBuf> {
    let dir = repo().join("config/prometheus/tests");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(|entry| Some(entry.ok()?.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "yaml"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no promtool tests in {}", dir.display());
    files
}

/// A scratch directory removed when dropped.
struct Scratch(PathBuf);

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Runs promtool with `args` in `dir`; panics with its output unless it succeeds. promtool must be
/// installed: scripts/dev-services installs it (Debian's `prometheus` package).
fn promtool(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("promtool").args(args).current_dir(dir).output().unwrap_or_else(|e| {
        panic!(
            "cannot run promtool ({e}): run scripts/dev-services, which installs Debian's prometheus package"
        )
    });
    let text =
        format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "promtool {} failed ({}):\n{text}", args.join(" "), output.status);
    text
}

#[test]
fn promtool_checks_the_rules_and_passes_every_unit_test() {
    let scratch =
        Scratch(std::env::temp_dir().join(format!("agentry-rules-{}", uuid::Uuid::new_v4().simple())));
    std::fs::create_dir_all(&scratch.0).expect("scratch directory");
    let rules = serde_yaml::to_string(&rule_file()).expect("yaml");
    std::fs::write(scratch.0.join("agentry-rules.yaml"), rules).expect("rule file written");
    let checked = promtool(&scratch.0, &["check", "rules", "agentry-rules.yaml"]);
    let count = alerting_rules(&rule_file()).len();
    assert!(checked.contains(&format!("SUCCESS: {count} rules found")), "{checked}");
    let mut args = vec!["test".to_string(), "rules".to_string()];
    for file in test_files() {
        let name = file.file_name().expect("a file name").to_string_lossy().into_owned();
        std::fs::copy(&file, scratch.0.join(&name)).expect("test copied");
        args.push(name);
    }
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let tested = promtool(&scratch.0, &args);
    assert!(!tested.contains("FAILED"), "{tested}");
}

/// Alert names with a case expecting them to fire, and with a case expecting silence.
fn tested_alerts() -> (BTreeSet<String>, BTreeSet<String>) {
    let (mut firing, mut silent) = (BTreeSet::new(), BTreeSet::new());
    for file in test_files() {
        let tests = read_yaml(&file);
        for case in tests["tests"].as_sequence().into_iter().flatten() {
            for check in case["alert_rule_test"].as_sequence().into_iter().flatten() {
                let name = check["alertname"].as_str().expect("alertname").to_string();
                let expected = check["exp_alerts"].as_sequence().map_or(0, Vec::len);
                if expected > 0 {
                    firing.insert(name)
                } else {
                    silent.insert(name)
                };
            }
        }
    }
    (firing, silent)
}

#[test]
fn every_alert_is_annotated_has_a_runbook_and_is_tested_both_ways() {
    let runbooks = std::fs::read_to_string(repo().join("docs/runbooks.md")).expect("docs/runbooks.md");
    let (firing, silent) = tested_alerts();
    let alerts = alerting_rules(&rule_file());
    let names: BTreeSet<&str> = alerts.iter().filter_map(|r| r["alert"].as_str()).collect();
    let expected = [
        "AgentUnavailable",
        "AgentErrorRateHigh",
        "AgentLatencyP95High",
        "ModelCircuitOpen",
        "AgentBudgetBurn",
        "TasksDeadLettered",
        "RecorderLagging",
        "OperatorReconcileErrors",
    ];
    assert_eq!(names, expected.into_iter().collect(), "the alerts DESIGN.md §6 and issue 12 ask for");
    for rule in &alerts {
        let name = rule["alert"].as_str().expect("only alerting rules");
        let severity = rule["labels"]["severity"].as_str();
        assert!(matches!(severity, Some("critical" | "warning")), "{name}: severity {severity:?}");
        for annotation in ["summary", "description"] {
            let text = rule["annotations"][annotation].as_str().unwrap_or_default();
            assert!(!text.is_empty(), "{name}: no {annotation}");
        }
        let runbook = rule["annotations"]["runbook_url"].as_str().unwrap_or_default();
        let anchor = format!("docs/runbooks.md#{}", name.to_lowercase());
        assert!(runbook.ends_with(&anchor), "{name}: runbook_url {runbook} is not …{anchor}");
        assert!(
            runbooks.lines().any(|l| l == format!("## {name}")),
            "{name}: no section in docs/runbooks.md"
        );
        assert!(firing.contains(name), "{name}: no promtool case where it fires");
        assert!(silent.contains(name), "{name}: no promtool case where it stays silent");
    }
}

#[test]
fn rule_expressions_use_only_exported_metrics_and_labels() {
    let catalog = crate::catalog::exported();
    for rule in alerting_rules(&rule_file()) {
        let expr = rule["expr"].as_str().expect("expr");
        let problems = promql::problems(expr, &catalog);
        assert!(problems.is_empty(), "{}: {problems:?} in {expr}", rule["alert"].as_str().unwrap_or("?"));
    }
}
