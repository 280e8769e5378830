//! `POST /api/v1/namespaces/<ns>/serviceaccounts/<name>/token`: a TokenRequest
//! (`authentication.k8s.io/v1`) answered with a new token for the ServiceAccount, as
//! kube-apiserver's `TokenREST` does: validated, then the account looked up, audiences defaulted
//! to the apiserver's, `expirationSeconds` defaulted to an hour.

use serde_json::{Value, json};

use super::API_AUDIENCE;
use crate::api_error::{ApiError, ApiResult};
use crate::resources::ResourceDesc;
use crate::storage::cluster_state::ClusterState;

/// `expirationSeconds` when the request gives none (the API's default).
const DEFAULT_EXPIRATION_SECONDS: i64 = 3600;
/// The shortest validity kube-apiserver issues (`ValidateTokenRequest`).
const MIN_EXPIRATION_SECONDS: i64 = 600;
/// The longest validity kube-apiserver issues.
const MAX_EXPIRATION_SECONDS: i64 = 1 << 32;

/// Answer a TokenRequest for ServiceAccount `namespace/name` (`sa_desc` is the ServiceAccount
/// resource): the request with `spec` defaulted and `status.token` and
/// `status.expirationTimestamp` filled in.
pub(crate) fn token_request(
    state: &mut ClusterState,
    sa_desc: &ResourceDesc,
    namespace: &str,
    name: &str,
    request: &Value,
) -> ApiResult<Value> {
    let spec = &request["spec"];
    let expiration = spec["expirationSeconds"].as_i64().unwrap_or(DEFAULT_EXPIRATION_SECONDS);
    // The refusal names the request object (usually unnamed), not the account.
    validate_expiration(request["metadata"]["name"].as_str().unwrap_or_default(), expiration)?;
    if !spec["boundObjectRef"].is_null() {
        // Deliberate difference: binding tokens to Pods or Secrets is not simulated.
        return Err(ApiError::bad_request(
            "devcluster does not bind tokens to objects (spec.boundObjectRef)",
        ));
    }
    let account = state.get(sa_desc, Some(namespace), name)?;
    let uid = account["metadata"]["uid"].as_str().unwrap_or_default();
    let mut audiences: Vec<String> = spec["audiences"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .map(str::to_owned)
        .collect();
    if audiences.is_empty() {
        audiences.push(API_AUDIENCE.to_owned());
    }
    let (token, expires) = state.tokens.issue(namespace, name, uid, audiences.clone(), expiration);
    Ok(json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": null},
        "spec": {"audiences": audiences, "expirationSeconds": expiration, "boundObjectRef": null},
        "status": {"token": token, "expirationTimestamp": timestamp(expires)},
    }))
}

/// `ValidateTokenRequest`'s bounds on `spec.expirationSeconds`, refused as `Invalid`.
fn validate_expiration(name: &str, seconds: i64) -> ApiResult<()> {
    let why = if seconds < MIN_EXPIRATION_SECONDS {
        "may not specify a duration less than 10 minutes"
    } else if seconds > MAX_EXPIRATION_SECONDS {
        "may not specify a duration larger than 2^32 seconds"
    } else {
        return Ok(());
    };
    let cause = format!("Invalid value: {seconds}: {why}");
    Err(ApiError::custom(
        422,
        "Invalid",
        format!("TokenRequest.authentication.k8s.io \"{name}\" is invalid: spec.expirationSeconds: {cause}"),
        Some(json!({
            "name": name,
            "group": "authentication.k8s.io",
            "kind": "TokenRequest",
            "causes": [{"reason": "FieldValueInvalid", "message": cause, "field": "spec.expirationSeconds"}],
        })),
    ))
}

/// Seconds since the epoch as Kubernetes writes times.
fn timestamp(seconds: i64) -> String {
    jiff::Timestamp::from_second(seconds)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%SZ").to_string())
        .unwrap_or_default()
}
