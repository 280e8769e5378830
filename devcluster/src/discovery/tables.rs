//! `meta.k8s.io/v1` Tables (`Accept: application/json;as=Table;g=meta.k8s.io;v=v1`), what
//! `kubectl get` prints: a Name column, then the CRD's `additionalPrinterColumns` (a JSONPath
//! subset) or a built-in kind's default columns; `date` columns become ages as the server does.

use serde_json::{Value, json};

use super::json_path::json_path;
use crate::request::Query;
use crate::resources::ResourceDesc;

/// The table of `items`.
pub(crate) fn table(
    desc: &ResourceDesc,
    items: &[Value],
    list_metadata: Option<&Value>,
    query: &Query,
) -> Value {
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
        "#endpoints" => json!(endpoints(item)),
        _ => json_path(item, path),
    };
    match (type_, &value) {
        ("date", Value::String(s)) => {
            crate::time::age_seconds(s).map_or(value.clone(), |age| json!(crate::time::human_duration(age)))
        }
        _ => value,
    }
}

/// An Endpoints object's addresses as the server's table printer writes them (`formatEndpoints`):
/// `ip:port` per port then per ready address, at most three, then ` + N more...`; `<none>` when
/// there are no subsets.
fn endpoints(item: &Value) -> String {
    let list = |v: &Value| v.as_array().cloned().unwrap_or_default();
    let subsets = list(&item["subsets"]);
    if subsets.is_empty() {
        return "<none>".into();
    }
    let mut all: Vec<String> = Vec::new();
    for subset in &subsets {
        let ips: Vec<String> = list(&subset["addresses"])
            .iter()
            .map(|a| a["ip"].as_str().unwrap_or_default().to_owned())
            .collect();
        let ports = list(&subset["ports"]);
        if ports.is_empty() {
            // Headless services may have no ports.
            all.extend(ips);
            continue;
        }
        for port in &ports {
            let number = port["port"].as_i64().unwrap_or(0);
            all.extend(ips.iter().map(|ip| format!("{ip}:{number}")));
        }
    }
    match all.len() {
        0..=3 => all.join(","),
        n => format!("{} + {} more...", all[..3].join(","), n - 3),
    }
}

fn count(value: &Value) -> usize {
    value.as_object().map_or(0, serde_json::Map::len)
}
