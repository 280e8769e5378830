//! Answer a SubjectAccessReview: validate it as kube-apiserver does, then ask the authorizers in
//! the apiserver's order; the first to allow decides with its own reason, and a denial carries
//! the reasons of those that had one (often none: an empty reason).

use serde_json::{Value, json};

use super::Attributes;
use super::rbac::{self, Decision};
use crate::api_error::{ApiError, ApiResult};
use crate::authentication::MASTERS_GROUP;
use crate::storage::cluster_state::ClusterState;

/// The reason given when a test's `ReviewPolicy` allows the request.
const POLICY_REASON: &str = "allowed by devcluster review policy";

/// Answer `review`: the object with `status.allowed` (and `status.reason`) filled in.
pub(crate) fn subject_access_review(state: &ClusterState, mut review: Value) -> ApiResult<Value> {
    let attrs = attributes(&review["spec"])?;
    let (allowed, reason) = decide(state, &attrs);
    let mut status = json!({"allowed": allowed});
    if !reason.is_empty() {
        status["reason"] = json!(reason);
    }
    review["status"] = status;
    Ok(review)
}

/// Whether the authorizers allow `attrs`, and the reason: the allowing authorizer's, or RBAC's
/// (usually empty) when none does.
pub(crate) fn decide(state: &ClusterState, attrs: &Attributes) -> (bool, String) {
    // The privileged-group authorizer comes first and gives no reason.
    if attrs.groups.iter().any(|g| g == MASTERS_GROUP) {
        return (true, String::new());
    }
    let rbac_reason = match rbac::authorize(&state.store, attrs) {
        Decision::Allowed(reason) => return (true, reason),
        Decision::NoOpinion(reason) => reason,
    };
    let policy_allows = state.reviews.allows(
        &attrs.user,
        &attrs.groups,
        &attrs.verb,
        &attrs.group,
        &attrs.resource,
        &attrs.namespace,
    );
    if policy_allows { (true, POLICY_REASON.to_owned()) } else { (false, rbac_reason) }
}

/// The attributes a SubjectAccessReview's `spec` asks about, or its refusal as `Invalid`
/// (`ValidateSubjectAccessReviewSpec`).
fn attributes(spec: &Value) -> ApiResult<Attributes> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    let groups: Vec<String> = spec["groups"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    let resource = &spec["resourceAttributes"];
    let non_resource = &spec["nonResourceAttributes"];
    let mut causes = Vec::new();
    if resource.is_null() && non_resource.is_null() {
        causes.push((
            "spec",
            "null".to_owned(),
            "exactly one of nonResourceAttributes or resourceAttributes must be specified",
        ));
    }
    let user = text(&spec["user"]);
    if user.is_empty() && groups.is_empty() {
        causes.push(("spec.user", "\"\"".to_owned(), "at least one of user or group must be specified"));
    }
    if !causes.is_empty() {
        return Err(invalid(&causes));
    }
    let mut attrs = Attributes { user, groups, ..Attributes::default() };
    if resource.is_null() {
        attrs.verb = text(&non_resource["verb"]);
        attrs.path = text(&non_resource["path"]);
    } else {
        attrs.resource_request = true;
        attrs.verb = text(&resource["verb"]);
        attrs.namespace = text(&resource["namespace"]);
        attrs.group = text(&resource["group"]);
        attrs.resource = text(&resource["resource"]);
        attrs.subresource = text(&resource["subresource"]);
        attrs.name = text(&resource["name"]);
    }
    Ok(attrs)
}

/// `SubjectAccessReview.authorization.k8s.io "" is invalid: …` with one cause per field.
fn invalid(causes: &[(&str, String, &str)]) -> ApiError {
    let messages: Vec<String> =
        causes.iter().map(|(field, value, why)| format!("{field}: Invalid value: {value}: {why}")).collect();
    let listed = if messages.len() == 1 { messages.join("") } else { format!("[{}]", messages.join(", ")) };
    let details = json!({
        "name": "",
        "group": "authorization.k8s.io",
        "kind": "SubjectAccessReview",
        "causes": causes.iter().map(|(field, value, why)| json!({
            "reason": "FieldValueInvalid",
            "message": format!("Invalid value: {value}: {why}"),
            "field": field,
        })).collect::<Vec<_>>(),
    });
    ApiError::custom(
        422,
        "Invalid",
        format!("SubjectAccessReview.authorization.k8s.io \"\" is invalid: {listed}"),
        Some(details),
    )
}
