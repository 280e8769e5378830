//! Checks kube-apiserver makes beside the OpenAPI validation: `x-kubernetes-list-type` uniqueness
//! (apiextensions `listtype.ValidateListSetsAndMaps`), the TypeMeta of embedded resources
//! (`objectmeta.Validate`) and kube-openapi's `int32` range check.

use serde_json::{Map, Value, json};

use super::invalid::{FieldCause, FieldPath};
use super::structural::{Additional, ListType, Segment, Structural};

/// Duplicate items of `set` lists and duplicate keys of `map` lists.
pub(crate) fn list_type_causes(x: &Value, s: &Structural, path: &FieldPath, out: &mut Vec<FieldCause>) {
    match x {
        Value::Object(map) => {
            for (k, v) in map {
                match (s.properties.get(k), &s.additional) {
                    (Some(p), _) => list_type_causes(v, p, &path.child(k), out),
                    (None, Additional::Schema(a)) => list_type_causes(v, a, &path.key(k), out),
                    _ => {}
                }
            }
        }
        Value::Array(items) => {
            match &s.list_type {
                ListType::Atomic => {}
                ListType::Set => {
                    for i in duplicates(items) {
                        out.push(FieldCause::duplicate(&path.index(i), &items[i]));
                    }
                }
                ListType::Map(keys) => map_list_causes(items, keys, path, out),
            }
            if let Some(item_schema) = s.items.as_deref() {
                for (i, v) in items.iter().enumerate() {
                    list_type_causes(v, item_schema, &path.index(i), out);
                }
            }
        }
        _ => {}
    }
}

fn map_list_causes(items: &[Value], keys: &[String], path: &FieldPath, out: &mut Vec<FieldCause>) {
    if let Some(i) = items.iter().position(|x| !x.is_object() && !x.is_null()) {
        out.push(FieldCause::invalid(
            &path.index(i),
            &items[i],
            "must be an object for an array of list-type map",
        ));
        return;
    }
    // An item's key: the key fields it has (a missing key is a value of its own).
    let item_keys: Vec<Value> = items
        .iter()
        .map(|x| {
            let present: Map<String, Value> =
                keys.iter().filter_map(|k| x.get(k).map(|v| (k.clone(), v.clone()))).collect();
            Value::Object(present)
        })
        .collect();
    for i in duplicates(&item_keys) {
        out.push(FieldCause::duplicate(&path.index(i), &item_keys[i]));
    }
}

/// The index of the second occurrence of each repeated value (once per value), as the apiserver reports.
fn duplicates(values: &[Value]) -> Vec<usize> {
    let mut found = Vec::new();
    for (i, v) in values.iter().enumerate() {
        let earlier = values[..i].iter().filter(|e| *e == v).count();
        if earlier == 1 {
            found.push(i);
        }
    }
    found
}

/// `apiVersion` and `kind` of objects marked `x-kubernetes-embedded-resource`.
pub(crate) fn embedded_causes(x: &Value, s: &Structural, path: &FieldPath, out: &mut Vec<FieldCause>) {
    match x {
        Value::Object(map) => {
            if s.embedded_resource {
                type_meta_causes(map, path, out);
            }
            for (k, v) in map {
                match (s.properties.get(k), &s.additional) {
                    (Some(p), _) => embedded_causes(v, p, &path.child(k), out),
                    (None, Additional::Schema(a)) => embedded_causes(v, a, &path.key(k), out),
                    _ => {}
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = s.items.as_deref() {
                for (i, v) in items.iter().enumerate() {
                    embedded_causes(v, item_schema, &path.index(i), out);
                }
            }
        }
        _ => {}
    }
}

fn type_meta_causes(map: &Map<String, Value>, path: &FieldPath, out: &mut Vec<FieldCause>) {
    for field in ["apiVersion", "kind"] {
        let at = path.child(field);
        match map.get(field) {
            None => out.push(FieldCause::required(&at, "")),
            Some(Value::String(s)) if s.is_empty() => out.push(FieldCause::required(&at, "")),
            Some(Value::String(s)) if field == "apiVersion" && s.matches('/').count() > 1 => {
                let detail = format!("unexpected GroupVersion string: {s}");
                out.push(FieldCause::invalid(&at, &json!(s), &detail));
            }
            Some(Value::String(s)) if field == "kind" => {
                if let Some(problem) = dns1035_label_problem(&s.to_lowercase()) {
                    let detail = format!("may have mixed case, but should otherwise match: {problem}");
                    out.push(FieldCause::invalid(&at, &json!(s), &detail));
                }
            }
            Some(Value::String(_)) => {}
            Some(other) => out.push(FieldCause::invalid(&at, other, "must be a string")),
        }
    }
}

/// apimachinery `IsDNS1035Label`, worded as it words failures.
fn dns1035_label_problem(s: &str) -> Option<String> {
    if s.len() > 63 {
        return Some("must be no more than 63 characters".to_owned());
    }
    let bytes = s.as_bytes();
    let valid = bytes.first().is_some_and(u8::is_ascii_lowercase)
        && bytes.last().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && bytes.iter().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-');
    (!valid).then(|| {
        "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an \
         alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', \
         regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')"
            .to_owned()
    })
}

/// Integers outside `int32` where the schema says `format: int32`. kube-openapi reports these as a
/// plain error, which the apiserver turns into a cause with no field (`<nil>`).
pub(crate) fn int32_causes(
    x: &Value,
    s: &Structural,
    at: &mut Vec<Segment>,
    out: &mut Vec<(Vec<Segment>, FieldCause)>,
) {
    match x {
        Value::Number(n) if s.int32 && n.as_i64().is_none_or(|i| i32::try_from(i).is_err()) => {
            let name = openapi_name(at);
            let detail = format!("Checked value must be of type integer with format int32 in {name}");
            out.push((at.clone(), FieldCause::invalid(&FieldPath::root(), &json!(""), &detail)));
        }
        Value::Object(map) => {
            for (k, v) in map {
                if let Some(child) = s.field(k) {
                    at.push(Segment::Field(k.clone()));
                    int32_causes(v, child, at, out);
                    at.pop();
                }
            }
        }
        Value::Array(items) => {
            if let Some(item_schema) = s.items.as_deref() {
                for (i, v) in items.iter().enumerate() {
                    at.push(Segment::Index(i));
                    int32_causes(v, item_schema, at, out);
                    at.pop();
                }
            }
        }
        _ => {}
    }
}

/// A path as kube-openapi spells it: `.` before every field or map key, `[i]` for list items.
pub(crate) fn openapi_path(at: &[Segment]) -> FieldPath {
    at.iter().fold(FieldPath::root(), |p, s| match s {
        Segment::Field(name) => p.child(name),
        Segment::Index(i) => p.index(*i),
    })
}

fn openapi_name(at: &[Segment]) -> String {
    openapi_path(at).name().to_owned()
}
