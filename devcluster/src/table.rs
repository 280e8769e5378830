//! `meta.k8s.io/v1` Tables (`Accept: application/json;as=Table;g=meta.k8s.io;v=v1`), what
//! `kubectl get` prints: a Name column, then the CRD's `additionalPrinterColumns` (a JSONPath
//! subset) or a built-in kind's default columns; `date` columns become ages as the server does.

use serde_json::{Value, json};

use crate::request::Query;
use crate::resources::ResourceDesc;

/// The table of `items`.
pub fn table(desc: &ResourceDesc, items: &[Value], list_metadata: Option<&Value>, query: &Query) -> Value {
    let mut columns = vec![json!({
        "name": "Name", "type": "string", "format": "name", "priority": 0,
        "description": "Name must be unique within a namespace. It is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically.",
    })];
    columns.extend(desc.printer_columns.iter().map(|c| {
        json!({"name": c.name, "type": if c.type_ == "date" { "string" } else { &c.type_ }, "format": c.format, "description": c.description, "priority": c.priority})
    }));
    let include = query.get("includeObject").map(String::as_str).unwrap_or("Metadata");
    let rows: Vec<Value> = items
        .iter()
        .map(|item| {
            let mut cells = vec![item["metadata"]["name"].clone()];
            cells.extend(desc.printer_columns.iter().map(|c| cell(item, &c.json_path, &c.type_)));
            let object = match include {
                "Object" => item.clone(),
                "None" => Value::Null,
                _ => json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": item["metadata"]}),
            };
            json!({"cells": cells, "object": object})
        })
        .collect();
    let metadata = list_metadata.cloned().unwrap_or_else(
        || json!({"resourceVersion": items.first().map(|i| i["metadata"]["resourceVersion"].clone())}),
    );
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata, "columnDefinitions": columns, "rows": rows})
}

fn cell(item: &Value, path: &str, type_: &str) -> Value {
    let value = match path {
        "#data" => json!(count(&item["data"]) + count(&item["binaryData"])),
        "#ready" => json!(format!(
            "{}/{}",
            item["status"]["readyReplicas"].as_i64().unwrap_or(0),
            item["spec"]["replicas"].as_i64().unwrap_or(0)
        )),
        "#podready" => {
            let statuses = item["status"]["containerStatuses"].as_array().cloned().unwrap_or_default();
            let ready = statuses.iter().filter(|s| s["ready"].as_bool() == Some(true)).count();
            let total = item["spec"]["containers"].as_array().map_or(0, Vec::len);
            json!(format!("{ready}/{total}"))
        }
        "#restarts" => json!(
            item["status"]["containerStatuses"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|s| s["restartCount"].as_i64())
                .sum::<i64>()
        ),
        "#involved" => {
            let object = &item["involvedObject"];
            json!(format!(
                "{}/{}",
                object["kind"].as_str().unwrap_or_default().to_lowercase(),
                object["name"].as_str().unwrap_or_default()
            ))
        }
        _ => json_path(item, path),
    };
    match (type_, &value) {
        ("date", Value::String(s)) => {
            crate::time::age_seconds(s).map_or(value.clone(), |age| json!(crate::time::human_duration(age)))
        }
        _ => value,
    }
}

fn count(value: &Value) -> usize {
    value.as_object().map_or(0, serde_json::Map::len)
}

/// One step of a JSONPath.
enum Step<'a> {
    Field(&'a str),
    Index(usize),
    All,
    /// `[?(@.a.b=="v")]`: the array elements whose `a.b` equals `v`.
    Filter(Vec<&'a str>, &'a str),
}

/// Splits a JSONPath into steps; `None` when it is outside the supported subset.
fn steps(path: &str) -> Option<Vec<Step<'_>>> {
    let mut out = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix('.') {
            let end = after.find(['.', '[']).unwrap_or(after.len());
            if end > 0 {
                out.push(Step::Field(&after[..end]));
            }
            rest = &after[end..];
        } else if let Some(after) = rest.strip_prefix('[') {
            let close = if after.starts_with("?(") { after.find(")]")? + 1 } else { after.find(']')? };
            let inner = &after[..close];
            rest = &after[close + 1..];
            if inner == "*" {
                out.push(Step::All);
            } else if let Some(expr) = inner.strip_prefix("?(").and_then(|e| e.strip_suffix(')')) {
                let (lhs, rhs) = expr.split_once("==")?;
                let field = lhs.trim().strip_prefix("@.")?;
                let value = rhs.trim().trim_matches(|c| c == '"' || c == '\'');
                out.push(Step::Filter(field.split('.').collect(), value));
            } else {
                out.push(Step::Index(inner.trim().parse().ok()?));
            }
        } else {
            let end = rest.find(['.', '[']).unwrap_or(rest.len());
            out.push(Step::Field(&rest[..end]));
            rest = &rest[end..];
        }
    }
    Some(out)
}

/// Evaluate a JSONPath subset: `.a.b`, `.a[0].b`, `.a[*].b`, `.a[?(@.type=="Ready")].b` (several
/// results joined by `,`), with or without the `{}` braces kubectl accepts.
pub fn json_path(item: &Value, path: &str) -> Value {
    let path = path.trim().trim_start_matches('{').trim_end_matches('}').trim_start_matches('$');
    let Some(steps) = steps(path) else { return Value::Null };
    let mut nodes: Vec<&Value> = vec![item];
    for step in &steps {
        let mut next = Vec::new();
        for node in nodes {
            match step {
                Step::Field(field) => next.extend(node.get(*field)),
                Step::Index(i) => next.extend(node.get(*i)),
                Step::All => next.extend(node.as_array().into_iter().flatten()),
                Step::Filter(field, value) => {
                    next.extend(node.as_array().into_iter().flatten().filter(|element| {
                        let found = field.iter().try_fold(*element, |v, f| v.get(*f));
                        found.is_some_and(|v| {
                            v.as_str().map_or_else(|| v.to_string(), str::to_owned) == *value
                        })
                    }))
                }
            }
        }
        nodes = next;
    }
    match nodes.as_slice() {
        [] => Value::Null,
        [one] => (*one).clone(),
        many => json!(
            many.iter()
                .map(|v| v.as_str().map_or_else(|| v.to_string(), str::to_owned))
                .collect::<Vec<_>>()
                .join(",")
        ),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn json_path_subset() {
        let item = json!({"spec": {"modelRef": "m", "tools": [{"name": "a"}, {"name": "b"}]}});
        assert_eq!(json_path(&item, ".spec.modelRef"), json!("m"));
        assert_eq!(json_path(&item, "{.spec.tools[1].name}"), json!("b"));
        assert_eq!(json_path(&item, ".spec.tools[*].name"), json!("a,b"));
        assert_eq!(json_path(&item, ".status.phase"), serde_json::Value::Null);
    }

    #[test]
    fn json_path_filters_as_kubectl_printer_columns_use_them() {
        // CRD printer columns commonly read a condition by type, as kubectl's JSONPath allows.
        let item = json!({"status": {"conditions": [
            {"type": "Available", "status": "False"},
            {"type": "Ready", "status": "True", "reason": "KeyFound"}
        ]}});
        assert_eq!(json_path(&item, ".status.conditions[?(@.type==\"Ready\")].status"), json!("True"));
        assert_eq!(json_path(&item, ".status.conditions[?(@.type=='Ready')].reason"), json!("KeyFound"));
        assert_eq!(json_path(&item, ".status.conditions[?(@.type==\"Missing\")].status"), Value::Null);
        assert_eq!(json_path(&item, ".status.conditions[1].type"), json!("Ready"));
    }
}
