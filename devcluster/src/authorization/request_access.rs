//! Who a request is and whether it may do what it asks, before any handler runs, as
//! kube-apiserver's authentication and authorization filters decide: a bearer token the
//! authenticators refuse gets 401; a user the authorizers do not allow gets the 403 `Status`
//! `responsewriters.Forbidden` writes. A request without a token is the admin (kubectl sends no
//! token over plain HTTP, and devcluster has always served it in full).

use axum::http::{HeaderMap, Method, header};
use serde_json::{Value, json};

use super::Attributes;
use super::request_attributes::request_attributes;
use crate::api_error::{ApiError, ApiResult};
use crate::authentication::{ADMIN_USER, AUTHENTICATED_GROUP, MASTERS_GROUP, authenticate_request};
use crate::request::Query;
use crate::storage::cluster_state::ClusterState;

/// The user a request authenticated as.
#[derive(Clone, Debug)]
pub(crate) struct Caller {
    /// The user's name.
    pub(crate) user: String,
    /// The user's groups.
    pub(crate) groups: Vec<String>,
}

impl Caller {
    /// The admin, as a request without a token is served.
    pub(crate) fn admin() -> Self {
        Self { user: ADMIN_USER.into(), groups: vec![MASTERS_GROUP.into(), AUTHENTICATED_GROUP.into()] }
    }
}

/// Authenticate the request and authorize what it asks: the caller, or the refusal to answer.
pub(crate) fn request_access(
    state: &ClusterState,
    method: &Method,
    path: &str,
    query: &Query,
    headers: &HeaderMap,
) -> ApiResult<Caller> {
    let caller = match bearer_token(headers) {
        None => return Ok(Caller::admin()),
        Some(token) => authenticate_request(state, token)
            .map(|user| Caller { user: user.username, groups: user.groups })
            .map_err(|cause| {
                tracing::debug!(%cause, "bearer token refused");
                ApiError::custom(401, "Unauthorized", "Unauthorized".into(), None)
            })?,
    };
    let mut attrs = request_attributes(method, path, query);
    attrs.user = caller.user.clone();
    attrs.groups = caller.groups.clone();
    let (allowed, reason) = super::subject_access_review::decide(state, &attrs);
    if allowed {
        Ok(caller)
    } else {
        tracing::debug!(user = %attrs.user, verb = %attrs.verb, resource = %attrs.resource, "forbidden");
        Err(forbidden(&attrs, &reason))
    }
}

/// An update or server-side apply that creates `name` needs `create` too (the apiserver's
/// `withAuthorization` on create-on-update): refused as `NewForbidden` with the authorizer's
/// reason alone, which RBAC leaves empty.
pub(crate) fn authorize_create_on_update(
    state: &ClusterState,
    caller: &Caller,
    (group, resource): (&str, &str),
    namespace: &str,
    name: &str,
) -> ApiResult<()> {
    let attrs = Attributes {
        user: caller.user.clone(),
        groups: caller.groups.clone(),
        verb: "create".into(),
        resource_request: true,
        namespace: namespace.into(),
        group: group.into(),
        resource: resource.into(),
        name: name.into(),
        ..Attributes::default()
    };
    match super::subject_access_review::decide(state, &attrs) {
        (true, _) => Ok(()),
        (false, reason) => Err(new_forbidden(&attrs, &reason)),
    }
}

/// The bearer token of the `Authorization` header, if it carries a non-empty one.
fn bearer_token(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?.trim();
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// `responsewriters.Forbidden`: what the user cannot do, then the authorizers' reason if any.
fn forbidden(attrs: &Attributes, reason: &str) -> ApiError {
    let quoted = |s: &str| Value::String(s.to_owned()).to_string();
    let user = quoted(&attrs.user);
    let what = if !attrs.resource_request {
        format!("User {user} cannot {} path {}", attrs.verb, quoted(&attrs.path))
    } else {
        let resource = if attrs.subresource.is_empty() {
            attrs.resource.clone()
        } else {
            format!("{}/{}", attrs.resource, attrs.subresource)
        };
        let scope = if attrs.namespace.is_empty() {
            "at the cluster scope".to_owned()
        } else {
            format!("in the namespace {}", quoted(&attrs.namespace))
        };
        format!(
            "User {user} cannot {} resource {} in API group {} {scope}",
            attrs.verb,
            quoted(&resource),
            quoted(&attrs.group)
        )
    };
    let why = if reason.is_empty() { what } else { format!("{what}: {reason}") };
    new_forbidden(attrs, &why)
}

/// `errors.NewForbidden(groupResource, name, err)`, its details naming what they can.
fn new_forbidden(attrs: &Attributes, why: &str) -> ApiError {
    let (group, resource, name) = if attrs.resource_request {
        (attrs.group.as_str(), attrs.resource.as_str(), attrs.name.as_str())
    } else {
        ("", "", "")
    };
    let group_resource = if group.is_empty() { resource.to_owned() } else { format!("{resource}.{group}") };
    let message = match (group_resource.is_empty(), name.is_empty()) {
        (true, _) => format!("forbidden: {why}"),
        (false, true) => format!("{group_resource} is forbidden: {why}"),
        (false, false) => format!("{group_resource} {} is forbidden: {why}", Value::String(name.into())),
    };
    let mut details = json!({});
    for (field, value) in [("name", name), ("group", group), ("kind", resource)] {
        if !value.is_empty() {
            details[field] = json!(value);
        }
    }
    ApiError::custom(403, "Forbidden", message, Some(details))
}
