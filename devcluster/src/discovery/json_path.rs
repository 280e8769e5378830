//! The JSONPath subset printer columns use.

use serde_json::{Value, json};

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
pub(crate) fn json_path(item: &Value, path: &str) -> Value {
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
