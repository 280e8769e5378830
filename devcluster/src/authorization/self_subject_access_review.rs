//! SelfSubjectAccessReview (`kubectl auth can-i`): the SubjectAccessReview of the user the
//! request's bearer token authenticates as, answered by the same authorizers. A request without
//! a token (kubectl sends none over plain HTTP) is asked about as the admin: devcluster serves
//! such requests in full, so that is the true answer to "can I".

use serde_json::{Value, json};

use crate::api_error::{ApiError, ApiResult};
use crate::storage::cluster_state::ClusterState;

/// Answer `review` for the caller presenting `token`: the object with `status` filled in.
pub(crate) fn self_subject_access_review(
    state: &ClusterState,
    token: Option<&str>,
    mut review: Value,
) -> ApiResult<Value> {
    let spec = &review["spec"];
    let (resource, non_resource) = (&spec["resourceAttributes"], &spec["nonResourceAttributes"]);
    let why = match (resource.is_null(), non_resource.is_null()) {
        (true, true) => Some("exactly one of nonResourceAttributes or resourceAttributes must be specified"),
        (false, false) => Some("cannot be specified in combination with resourceAttributes"),
        _ => None,
    };
    if let Some(why) = why {
        return Err(invalid(non_resource, why));
    }
    let mut subject = caller(state, token);
    subject["resourceAttributes"] = resource.clone();
    subject["nonResourceAttributes"] = non_resource.clone();
    let answered = super::subject_access_review(state, json!({"spec": subject}))?;
    review["status"] = answered["status"].clone();
    Ok(review)
}

/// The caller as a SubjectAccessReview spec names users (`user`, `groups`, `uid`, `extra`).
fn caller(state: &ClusterState, token: Option<&str>) -> Value {
    let token = token.filter(|t| !t.is_empty()).unwrap_or(state.tokens.admin());
    let authenticated = crate::authentication::token_review(state, json!({"spec": {"token": token}}))
        .ok()
        .filter(|r| r["status"]["authenticated"] == json!(true));
    match authenticated {
        Some(review) => {
            let user = &review["status"]["user"];
            let mut subject = json!({"user": user["username"], "groups": user["groups"]});
            for field in ["uid", "extra"] {
                if !user[field].is_null() {
                    subject[field] = user[field].clone();
                }
            }
            subject
        }
        // An unknown token: kube-apiserver would refuse the request (401); none is allowed anything.
        None => json!({"user": "system:anonymous", "groups": ["system:unauthenticated"]}),
    }
}

/// `SelfSubjectAccessReview.authorization.k8s.io "" is invalid: spec.resourceAttributes: …`.
fn invalid(non_resource: &Value, why: &str) -> ApiError {
    let value = if non_resource.is_null() { "\"null\"".to_owned() } else { non_resource.to_string() };
    let message = format!("Invalid value: {value}: {why}");
    let details = json!({
        "name": "",
        "group": "authorization.k8s.io",
        "kind": "SelfSubjectAccessReview",
        "causes": [{"reason": "FieldValueInvalid", "message": message, "field": "spec.resourceAttributes"}],
    });
    ApiError::custom(
        422,
        "Invalid",
        format!(
            "SelfSubjectAccessReview.authorization.k8s.io \"\" is invalid: spec.resourceAttributes: {message}"
        ),
        Some(details),
    )
}
