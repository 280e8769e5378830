//! TokenReview (`POST /apis/authentication.k8s.io/v1/tokenreviews`), answered as kube-apiserver's
//! authenticator chain answers it: the audiences asked for (the apiserver's own when none are
//! named) must meet the token's; ServiceAccount tokens must be unexpired and their account still
//! there with the same uid; every authenticated user is in `system:authenticated`.

use serde_json::{Map, Value, json};

use super::tokens::{BoundObject, IssuedToken};
use super::{ADMIN_USER, API_AUDIENCE, AUTHENTICATED_GROUP, MASTERS_GROUP};
use crate::api_error::{ApiError, ApiResult};
use crate::auth_reviews::UserInfo;
use crate::resources::StorageKey;
use crate::storage::cluster_state::ClusterState;

/// How far past `exp` a ServiceAccount token is still accepted (go-jose's `DefaultLeeway`, which
/// kube-apiserver's validator uses for clock skew).
const EXPIRY_LEEWAY_SECONDS: i64 = 60;

/// Who a token authenticated as, and for which of the audiences asked.
struct Authenticated {
    user: UserInfo,
    extra: Map<String, Value>,
    audiences: Vec<String>,
}

/// Answer a TokenReview: the object with `status` filled in.
pub(crate) fn token_review(state: &ClusterState, mut review: Value) -> ApiResult<Value> {
    let token = review["spec"]["token"].as_str().unwrap_or_default().to_owned();
    if token.is_empty() {
        return Err(ApiError::bad_request("token is required for TokenReview in authentication"));
    }
    let mut targets = strings(&review["spec"]["audiences"]);
    if targets.is_empty() {
        targets.push(API_AUDIENCE.to_owned());
    }
    review["status"] = match authenticate(state, &token, &targets) {
        Ok(found) => {
            let mut user = json!({"username": found.user.username, "groups": found.user.groups});
            if !found.user.uid.is_empty() {
                user["uid"] = json!(found.user.uid);
            }
            if !found.extra.is_empty() {
                user["extra"] = Value::Object(found.extra);
            }
            json!({"authenticated": true, "user": user, "audiences": found.audiences})
        }
        // `authenticated: false` is written out (kube-apiserver omits it) as devcluster always has.
        Err(error) => json!({"authenticated": false, "user": {}, "error": error}),
    };
    Ok(review)
}

/// Who a request presenting `token` is, for the apiserver's own audience; the reason when the
/// token is refused.
pub(crate) fn authenticate_request(state: &ClusterState, token: &str) -> Result<UserInfo, String> {
    authenticate(state, token, &[API_AUDIENCE.to_owned()]).map(|found| found.user)
}

fn authenticate(state: &ClusterState, token: &str, targets: &[String]) -> Result<Authenticated, String> {
    if let Some(issued) = state.tokens.issued(token) {
        // The request-level union reports the bearer authenticator's refusal with the cause.
        return service_account(state, issued, targets)
            .map_err(|cause| format!("[invalid bearer token, {cause}]"));
    }
    let admin = (token == state.tokens.admin()).then(|| UserInfo {
        username: ADMIN_USER.into(),
        uid: String::new(),
        groups: vec![MASTERS_GROUP.into()],
    });
    let user = admin.or_else(|| state.reviews.user(token).cloned()).ok_or("invalid bearer token")?;
    // Static tokens are audience-agnostic: valid for the apiserver's audience only.
    if !targets.iter().any(|t| t == API_AUDIENCE) {
        return Err("invalid bearer token".into());
    }
    Ok(Authenticated {
        user: with_authenticated_group(user),
        extra: Map::new(),
        audiences: vec![API_AUDIENCE.to_owned()],
    })
}

/// kube-apiserver's ServiceAccount token validation, in its order: audiences, expiry, the
/// account (name and uid) still existing, then the object the token is bound to.
fn service_account(
    state: &ClusterState,
    issued: &IssuedToken,
    targets: &[String],
) -> Result<Authenticated, String> {
    let grant = &issued.grant;
    let audiences: Vec<String> = grant.audiences.iter().filter(|a| targets.contains(a)).cloned().collect();
    if audiences.is_empty() {
        return Err(format!(
            "token audiences {} is invalid for the target audiences {}",
            go_quoted(&grant.audiences),
            go_quoted(targets)
        ));
    }
    if state.tokens.now() > issued.expires + EXPIRY_LEEWAY_SECONDS {
        return Err("service account token has expired".into());
    }
    let account = object(state, "serviceaccounts", &grant.namespace, &grant.name)
        .ok_or_else(|| format!("serviceaccounts \"{}\" not found", grant.name))?;
    let uid = account["metadata"]["uid"].as_str().unwrap_or_default();
    if uid != grant.uid {
        return Err(format!("service account UID ({uid}) does not match claim ({})", grant.uid));
    }
    let mut extra = Map::new();
    if let Some(bound) = &grant.bound {
        check_bound(state, &grant.namespace, bound)?;
        if bound.kind == "Pod" {
            extra.insert("authentication.kubernetes.io/pod-name".into(), json!([bound.name]));
            extra.insert("authentication.kubernetes.io/pod-uid".into(), json!([bound.uid]));
        }
    }
    extra.insert("authentication.kubernetes.io/credential-id".into(), json!([format!("JTI={}", issued.id)]));
    let ns = &grant.namespace;
    let user = UserInfo {
        username: format!("system:serviceaccount:{ns}:{}", grant.name),
        uid: grant.uid.clone(),
        groups: vec!["system:serviceaccounts".into(), format!("system:serviceaccounts:{ns}")],
    };
    Ok(Authenticated { user: with_authenticated_group(user), extra, audiences })
}

/// A bound token lives as long as its Pod or Secret: gone, replaced (another uid) or deleted
/// more than the leeway ago, and the token is refused.
fn check_bound(state: &ClusterState, namespace: &str, bound: &BoundObject) -> Result<(), String> {
    let plural = if bound.kind == "Pod" { "pods" } else { "secrets" };
    let invalidated = || "service account token has been invalidated".to_owned();
    let found = object(state, plural, namespace, &bound.name).ok_or_else(invalidated)?;
    let uid = found["metadata"]["uid"].as_str().unwrap_or_default();
    if uid != bound.uid {
        let kind = bound.kind.to_lowercase();
        return Err(format!(
            "{kind} UID ({uid}) does not match service account {kind} ref claim ({})",
            bound.uid
        ));
    }
    let deleted_long_ago = found["metadata"]["deletionTimestamp"]
        .as_str()
        .and_then(crate::time::age_seconds)
        .is_some_and(|age| age > EXPIRY_LEEWAY_SECONDS);
    if deleted_long_ago { Err(invalidated()) } else { Ok(()) }
}

fn object<'a>(state: &'a ClusterState, plural: &str, namespace: &str, name: &str) -> Option<&'a Value> {
    state.store.get(&StorageKey { group: String::new(), plural: plural.into() }, namespace, name)
}

/// `user` with `system:authenticated` added, as the apiserver's group adder does.
fn with_authenticated_group(mut user: UserInfo) -> UserInfo {
    if !user.groups.iter().any(|g| g == AUTHENTICATED_GROUP) {
        user.groups.push(AUTHENTICATED_GROUP.into());
    }
    user
}

/// A string list as Go's `%q` prints a `[]string`: `["a" "b"]`.
fn go_quoted(values: &[String]) -> String {
    let quoted: Vec<String> = values.iter().map(|v| Value::String(v.clone()).to_string()).collect();
    format!("[{}]", quoted.join(" "))
}

fn strings(value: &Value) -> Vec<String> {
    value.as_array().into_iter().flatten().filter_map(Value::as_str).map(str::to_owned).collect()
}
