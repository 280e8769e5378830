//! Just enough PromQL reading to check an expression's metric and label names against the
//! catalog: metric names are the identifiers starting with `agentry_` or `process_`; labels are
//! those inside a selector's braces and in `by`, `without`, `on`, `ignoring` and `group_*` lists.

use std::collections::BTreeSet;

use agentry_process::MetricCatalog;

use crate::catalog::{SCRAPE_LABELS, family};

fn is_ident(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == ':'
}

/// The identifiers of `expr` outside quoted strings, each with the text after it.
fn identifiers(expr: &str) -> Vec<(&str, &str)> {
    let mut found = Vec::new();
    let mut rest = expr;
    while let Some(start) = rest.find(|c: char| is_ident(c) || c == '"') {
        rest = &rest[start..];
        if let Some(quoted) = rest.strip_prefix('"') {
            rest = quoted.find('"').map_or("", |end| &quoted[end + 1..]);
            continue;
        }
        let end = rest.find(|c: char| !is_ident(c)).unwrap_or(rest.len());
        found.push((&rest[..end], &rest[end..]));
        rest = &rest[end..];
    }
    found
}

/// The label names a selector's braces (starting at `{`) match on.
fn matcher_labels(braces: &str) -> Vec<&str> {
    let inner = &braces[1..braces.find('}').unwrap_or(braces.len())];
    identifiers(inner).into_iter().map(|(name, _)| name).collect()
}

/// The label names in a `( … )` list.
fn listed_labels(after: &str) -> Vec<&str> {
    let after = after.trim_start();
    let Some(list) = after.strip_prefix('(') else { return Vec::new() };
    identifiers(&list[..list.find(')').unwrap_or(list.len())]).into_iter().map(|(n, _)| n).collect()
}

/// What is wrong with `expr`'s names: unknown metrics, and labels none of its metrics (nor the
/// scrape) has.
pub(crate) fn problems(expr: &str, catalog: &MetricCatalog) -> Vec<String> {
    let mut problems = Vec::new();
    let mut known: BTreeSet<&str> = SCRAPE_LABELS.iter().copied().collect();
    let mut listed = Vec::new();
    for (name, after) in identifiers(expr) {
        if name.starts_with("agentry_") || name.starts_with("process_") {
            let Some((family, labels)) = family(catalog, name) else {
                problems.push(format!("unknown metric {name}"));
                continue;
            };
            let own: BTreeSet<&str> =
                labels.iter().map(String::as_str).chain(SCRAPE_LABELS.iter().copied()).collect();
            if after.starts_with('{') {
                for label in matcher_labels(after) {
                    if !own.contains(label) {
                        problems.push(format!("{family} has no label {label}"));
                    }
                }
            }
            known.extend(labels.iter().map(String::as_str));
        } else if ["by", "without", "on", "ignoring", "group_left", "group_right"].contains(&name) {
            listed.extend(listed_labels(after));
        }
    }
    problems.extend(
        listed.into_iter().filter(|l| !known.contains(l)).map(|l| format!("no metric has label {l}")),
    );
    problems
}

#[test]
fn names_are_checked_against_the_catalog() {
    let catalog = crate::catalog::exported();
    let good = r#"sum by (namespace, agent, le) (rate(agentry_agent_request_duration_seconds_bucket{agent=~"$agent", outcome!="ok"}[5m]))"#;
    assert_eq!(problems(good, &catalog), Vec::<String>::new());
    let bad = r#"sum by (tenant) (rate(agentry_requests_total{agent="a"}[5m])) / agentry_tool_calls_total{model="x"}"#;
    assert_eq!(
        problems(bad, &catalog),
        [
            "unknown metric agentry_requests_total",
            "agentry_tool_calls_total has no label model",
            "no metric has label tenant"
        ]
    );
}
