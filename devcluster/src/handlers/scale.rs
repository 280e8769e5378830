//! The `scale` subresource (`…/deployments/<name>/scale`, and custom resources whose CRD declares
//! `subresources.scale`): an `autoscaling/v1` Scale read from the object, and `update`/`patch`
//! of it writing the desired replicas back, as `kubectl scale` and the HPA use it.

use axum::http::{Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use super::resource_request::ResourceRequest;
use super::response::json_response;
use crate::api_error::{ApiError, ApiResult};
use crate::crd_schema::{CauseReason, FieldCause, Invalid};
use crate::field_management::patch::{self, PatchType};
use crate::resources::{ResourceDesc, ScalePaths};

/// Serve `GET`, `PUT` or `PATCH` on an object's `/scale`.
pub(crate) fn serve(request: &ResourceRequest<'_>, method: &Method, name: &str) -> ApiResult<Response> {
    let (desc, ns) = (request.desc, request.namespace);
    let Some(paths) = &desc.scale else { return Err(ApiError::no_route()) };
    let mut state = request.server.lock();
    let current = state.get(desc, ns, name)?;
    let current_scale = scale_of(paths, &current);
    let wanted = match *method {
        Method::GET => return Ok(json_response(StatusCode::OK, current_scale)),
        Method::PUT => request.parse_body()?,
        Method::PATCH => {
            // A Scale has no lists: a strategic merge patch merges as a JSON merge patch.
            let patch_type = match PatchType::from_content_type(request.content_type())? {
                PatchType::Strategic => PatchType::Merge,
                PatchType::Apply => return Err(ApiError::unsupported_media_type(request.content_type())),
                other => other,
            };
            patch::apply(desc, &current_scale, patch_type, request.body)?
        }
        _ => return Err(ApiError::method_not_supported(desc, &method.as_str().to_lowercase())),
    };
    let replicas = check_scale(desc, name, &current, &wanted)?;
    let mut updated = current.clone();
    set_path(&mut updated, &paths.spec_replicas, json!(replicas));
    let stored = state.update(desc, ns, name, updated, &request.write_options())?;
    Ok(json_response(StatusCode::OK, scale_of(paths, &stored)))
}

/// The Scale of `object`.
fn scale_of(paths: &ScalePaths, object: &Value) -> Value {
    let meta = &object["metadata"];
    let mut metadata = json!({});
    for field in ["name", "namespace", "uid", "resourceVersion", "creationTimestamp"] {
        if !meta[field].is_null() {
            metadata[field] = meta[field].clone();
        }
    }
    let mut status = json!({"replicas": path(object, &paths.status_replicas).as_i64().unwrap_or(0)});
    let selector = paths.label_selector.as_deref().map(|p| path(object, p)).unwrap_or(&Value::Null);
    match selector {
        Value::String(text) if !text.is_empty() => status["selector"] = json!(text),
        Value::Object(_) => status["selector"] = json!(format_selector(selector)),
        _ => {}
    }
    json!({
        "kind": "Scale",
        "apiVersion": "autoscaling/v1",
        "metadata": metadata,
        "spec": {"replicas": path(object, &paths.spec_replicas).as_i64().unwrap_or(0)},
        "status": status,
    })
}

/// The wanted Scale's replicas, if the Scale is valid and not stale.
fn check_scale(desc: &ResourceDesc, name: &str, current: &Value, wanted: &Value) -> ApiResult<i64> {
    if let Some(rv) = wanted["metadata"]["resourceVersion"].as_str()
        && !rv.is_empty()
        && Some(rv) != current["metadata"]["resourceVersion"].as_str()
    {
        return Err(ApiError::stale(desc, name));
    }
    let replicas = wanted["spec"]["replicas"].as_i64().unwrap_or(0);
    if replicas < 0 {
        let cause = FieldCause {
            field: "spec.replicas".into(),
            reason: CauseReason::FieldValueInvalid,
            message: format!("Invalid value: {replicas}: must be greater than or equal to 0"),
        };
        let scale = ResourceDesc { group: "autoscaling".into(), kind: "Scale".into(), ..desc.clone() };
        return Err(ApiError::invalid(&scale, name, &Invalid { causes: vec![cause] }));
    }
    Ok(replicas)
}

/// `metav1.FormatLabelSelector`: `k=v` for matchLabels, then `k in (a,b)`, `k notin (a)`, `k`, `!k`.
fn format_selector(selector: &Value) -> String {
    let mut terms: Vec<(String, String)> = selector["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| (k.clone(), format!("{k}={}", v.as_str().unwrap_or_default())))
        .collect();
    for expr in selector["matchExpressions"].as_array().into_iter().flatten() {
        let key = expr["key"].as_str().unwrap_or_default();
        let values: Vec<&str> =
            expr["values"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        let term = match expr["operator"].as_str().unwrap_or_default() {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_owned(),
            _ => format!("!{key}"),
        };
        terms.push((key.to_owned(), term));
    }
    // The parsed selector's requirements are sorted by key.
    terms.sort_by(|a, b| a.0.cmp(&b.0));
    terms.into_iter().map(|(_, term)| term).collect::<Vec<_>>().join(",")
}

/// The value at a `.a.b` path (null when absent).
fn path<'v>(object: &'v Value, json_path: &str) -> &'v Value {
    json_path.split('.').filter(|s| !s.is_empty()).fold(object, |v, key| &v[key])
}

/// Set the value at a `.a.b` path, creating objects on the way (a non-object on the way is
/// replaced, as the CRD's schema makes it an object anyway).
fn set_path(object: &mut Value, json_path: &str, value: Value) {
    let mut target = object;
    for key in json_path.split('.').filter(|s| !s.is_empty()) {
        if !target.is_object() {
            *target = json!({});
        }
        target = &mut target[key];
    }
    *target = value;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_are_formatted_as_the_apiserver_does() {
        let selector = json!({"matchLabels": {"app": "d"}, "matchExpressions": [
            {"key": "tier", "operator": "In", "values": ["a", "b"]},
            {"key": "gone", "operator": "DoesNotExist"}]});
        assert_eq!(format_selector(&selector), "app=d,!gone,tier in (a,b)");
    }
}
