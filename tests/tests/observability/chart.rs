//! The chart ships the same alert rules and dashboard as `config/` (Helm reads only files inside
//! the chart, so it holds copies; this keeps them equal).

use std::path::Path;

fn read(relative: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn the_chart_ships_the_rules_and_the_dashboard_of_config() {
    for (copy, source) in [
        ("charts/agentry/files/agentry-rules.yaml", "config/prometheus/agentry-rules.yaml"),
        ("charts/agentry/files/agentry-fleet.json", "config/grafana/agentry-fleet.json"),
    ] {
        assert!(read(copy) == read(source), "{copy} differs from {source}: copy it again");
    }
    let rule = read("charts/agentry/templates/prometheusrule.yaml");
    assert!(rule.contains(r#".Files.Get "files/agentry-rules.yaml""#), "{rule}");
    let dashboard = read("charts/agentry/templates/grafana-dashboard.yaml");
    assert!(dashboard.contains(r#".Files.Get "files/agentry-fleet.json""#), "{dashboard}");
    assert!(read("charts/agentry/values.yaml").contains("grafana_dashboard: \"1\""));
}
