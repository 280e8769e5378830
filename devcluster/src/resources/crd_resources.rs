//! The resources a CustomResourceDefinition serves: one description per served version, with its
//! compiled schema (for admission), printer columns and selectable fields.

use std::sync::Arc;

use serde_json::Value;

use super::description::{PrinterColumn, ResourceDesc, ScalePaths};
use crate::crd_schema::CrdSchema;

/// The resource a served version of `crd` describes; `None` when the CRD lacks a name it needs.
pub(crate) fn describe(crd: &Value, version: &Value) -> Option<ResourceDesc> {
    let spec = &crd["spec"];
    let names = &spec["names"];
    let kind = names["kind"].as_str()?.to_owned();
    let openapi_schema = version["schema"]["openAPIV3Schema"].clone();
    let schema = compiled_schema(&openapi_schema);
    Some(ResourceDesc {
        group: spec["group"].as_str()?.to_owned(),
        version: version["name"].as_str()?.to_owned(),
        plural: names["plural"].as_str()?.to_owned(),
        singular: names["singular"].as_str().map_or_else(|| kind.to_lowercase(), str::to_owned),
        kind,
        namespaced: spec["scope"].as_str() != Some("Cluster"),
        short_names: strings(&names["shortNames"]),
        categories: strings(&names["categories"]),
        status_subresource: version["subresources"]["status"].is_object(),
        scale: scale_paths(&version["subresources"]["scale"]),
        create_only: false,
        generation: true,
        field_selectors: field_selectors(version),
        schema,
        openapi_schema: openapi_schema.is_object().then_some(openapi_schema),
        printer_columns: printer_columns(version),
        custom: true,
    })
}

/// `subresources.scale`: the replica paths are required, the selector path optional.
fn scale_paths(scale: &Value) -> Option<ScalePaths> {
    Some(ScalePaths {
        spec_replicas: scale["specReplicasPath"].as_str()?.to_owned(),
        status_replicas: scale["statusReplicasPath"].as_str()?.to_owned(),
        label_selector: scale["labelSelectorPath"].as_str().map(str::to_owned),
    })
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect()
}

/// The version's schema compiled for admission; a schema that does not compile is served
/// without validation (CRD validation refused it, unless it was stored before).
fn compiled_schema(openapi_schema: &Value) -> Option<Arc<CrdSchema>> {
    if !openapi_schema.is_object() {
        return None;
    }
    match CrdSchema::compile(openapi_schema) {
        Ok(s) => Some(Arc::new(s)),
        Err(err) => {
            tracing::warn!(%err, "CRD schema does not compile; serving without validation");
            None
        }
    }
}

/// `selectableFields`, as plain names or `jsonPath`s.
fn field_selectors(version: &Value) -> Vec<String> {
    strings(&version["selectableFields"])
        .into_iter()
        .chain(
            version["selectableFields"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|f| f["jsonPath"].as_str().map(|p| p.trim_start_matches('.').to_owned())),
        )
        .collect()
}

/// `additionalPrinterColumns`, or an `Age` column when there are none.
fn printer_columns(version: &Value) -> Vec<PrinterColumn> {
    let mut printer_columns: Vec<PrinterColumn> = version["additionalPrinterColumns"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| PrinterColumn {
            name: c["name"].as_str().unwrap_or_default().to_owned(),
            type_: c["type"].as_str().unwrap_or("string").to_owned(),
            format: c["format"].as_str().unwrap_or_default().to_owned(),
            description: c["description"].as_str().unwrap_or_default().to_owned(),
            priority: c["priority"].as_i64().unwrap_or(0),
            json_path: c["jsonPath"].as_str().unwrap_or_default().to_owned(),
        })
        .collect();
    if printer_columns.is_empty() {
        printer_columns.push(PrinterColumn {
            name: "Age".into(),
            type_: "date".into(),
            format: String::new(),
            description: String::new(),
            priority: 0,
            json_path: ".metadata.creationTimestamp".into(),
        });
    }
    printer_columns
}
