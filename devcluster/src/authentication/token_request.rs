//! `POST /api/v1/namespaces/<ns>/serviceaccounts/<name>/token`: a TokenRequest
//! (`authentication.k8s.io/v1`) answered with a new token for the ServiceAccount, as
//! kube-apiserver's `TokenREST` does: validated, then the account looked up, a bound Pod or
//! Secret resolved, audiences defaulted to the apiserver's, `expirationSeconds` defaulted to an
//! hour.

use serde_json::{Value, json};

use super::API_AUDIENCE;
use super::tokens::{BoundObject, TokenGrant};
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
    let account = state.get(sa_desc, Some(namespace), name)?;
    let uid = account["metadata"]["uid"].as_str().unwrap_or_default().to_owned();
    let bound = match &spec["boundObjectRef"] {
        Value::Null => None,
        reference => Some(bound_object(state, namespace, name, reference)?),
    };
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
    let grant = TokenGrant {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        uid,
        audiences: audiences.clone(),
        bound,
    };
    let (token, expires) = state.tokens.issue(grant, expiration);
    Ok(json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": null},
        "spec": {"audiences": audiences, "expirationSeconds": expiration, "boundObjectRef": spec["boundObjectRef"]},
        "status": {"token": token, "expirationTimestamp": timestamp(expires)},
    }))
}

/// The Pod or Secret `reference` (a `boundObjectRef`) names, as `TokenREST` resolves it: a Pod
/// must run as the account, and a uid given must be the object's.
fn bound_object(
    state: &ClusterState,
    namespace: &str,
    account: &str,
    reference: &Value,
) -> ApiResult<BoundObject> {
    let text = |field: &str| reference[field].as_str().unwrap_or_default().to_owned();
    let (api_version, kind, name) = (text("apiVersion"), text("kind"), text("name"));
    let plural = match (api_version.as_str(), kind.as_str()) {
        ("v1", "Pod") => "pods",
        ("v1", "Secret") => "secrets",
        _ => {
            let (group, version) = api_version.split_once('/').unwrap_or(("", &api_version));
            let gvk = if group.is_empty() { format!("/{version}") } else { format!("{group}/{version}") };
            return Err(ApiError::bad_request(format!(
                "cannot bind token to object of type {gvk}, Kind={kind}"
            )));
        }
    };
    let desc = state.resource("", "v1", plural).ok_or_else(ApiError::no_route)?;
    let object = state.get(&desc, Some(namespace), &name)?;
    let running_as = object["spec"]["serviceAccountName"].as_str().unwrap_or_default();
    if kind == "Pod" && running_as != account {
        return Err(ApiError::bad_request(format!(
            "cannot bind token for serviceaccount {} to pod running with serviceaccount {}",
            Value::String(account.to_owned()),
            Value::String(running_as.to_owned())
        )));
    }
    let uid = object["metadata"]["uid"].as_str().unwrap_or_default().to_owned();
    let claimed = text("uid");
    if !claimed.is_empty() && claimed != uid {
        return Err(ApiError::custom(
            409,
            "Conflict",
            format!(
                "Operation cannot be fulfilled on {kind} {}: the UID in the bound object reference ({claimed}) does not match the UID in record ({uid}). The object might have been deleted and then recreated",
                Value::String(name.clone())
            ),
            None,
        ));
    }
    Ok(BoundObject { kind, name, uid })
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
