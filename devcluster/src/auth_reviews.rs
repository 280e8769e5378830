//! TokenReview and SubjectAccessReview, answered from a small policy a test sets (there is no
//! real authentication or authorization in devcluster: every request is served).

use std::collections::BTreeMap;

use serde_json::{Value, json};

/// A user a token authenticates as.
#[derive(Clone, Debug, Default)]
pub struct UserInfo {
    /// `username`.
    pub username: String,
    /// `uid`.
    pub uid: String,
    /// `groups`.
    pub groups: Vec<String>,
}

/// One permission: verbs on resources of a group (`*` matches any), optionally in one namespace.
#[derive(Clone, Debug)]
pub struct Permission {
    /// Verbs, e.g. `get`, `create`; `*` for all.
    pub verbs: Vec<String>,
    /// API group (empty for core); `*` for all.
    pub group: String,
    /// Resource (plural); `*` for all.
    pub resource: String,
    /// Namespace; `None` for every namespace.
    pub namespace: Option<String>,
}

/// Tokens and what their users may do.
#[derive(Clone, Debug, Default)]
pub struct ReviewPolicy {
    tokens: BTreeMap<String, UserInfo>,
    permissions: BTreeMap<String, Vec<Permission>>,
}

impl ReviewPolicy {
    /// `token` authenticates as `user`.
    pub fn add_token(&mut self, token: &str, user: UserInfo) -> &mut Self {
        self.tokens.insert(token.to_owned(), user);
        self
    }

    /// `username` (or a group of the user) may do `permission`.
    pub fn allow(&mut self, username: &str, permission: Permission) -> &mut Self {
        self.permissions.entry(username.to_owned()).or_default().push(permission);
        self
    }

    /// Answer a TokenReview: the object with `status` filled in.
    pub(crate) fn token_review(&self, mut review: Value) -> Value {
        let token = review["spec"]["token"].as_str().unwrap_or_default();
        review["status"] = match self.tokens.get(token) {
            Some(user) => json!({
                "authenticated": true,
                "user": {"username": user.username, "uid": user.uid, "groups": user.groups},
                "audiences": review["spec"]["audiences"].clone(),
            }),
            None => json!({"authenticated": false, "user": {}, "error": "invalid bearer token"}),
        };
        review
    }

    /// Answer a SubjectAccessReview: the object with `status.allowed` (and a reason) filled in.
    pub(crate) fn subject_access_review(&self, mut review: Value) -> Value {
        let spec = &review["spec"];
        let user = spec["user"].as_str().unwrap_or_default();
        let groups: Vec<&str> =
            spec["groups"].as_array().into_iter().flatten().filter_map(Value::as_str).collect();
        let attrs = &spec["resourceAttributes"];
        let verb = attrs["verb"].as_str().unwrap_or_default();
        let group = attrs["group"].as_str().unwrap_or_default();
        let resource = attrs["resource"].as_str().unwrap_or_default();
        let namespace = attrs["namespace"].as_str().unwrap_or_default();
        let matches = |want: &str, have: &str| want == "*" || want == have;
        let allowed = std::iter::once(user)
            .chain(groups)
            .filter_map(|subject| self.permissions.get(subject))
            .flatten()
            .any(|p| {
                p.verbs.iter().any(|v| matches(v, verb))
                    && matches(&p.group, group)
                    && matches(&p.resource, resource)
                    && p.namespace.as_deref().is_none_or(|ns| ns == namespace)
            });
        review["status"] = if allowed {
            json!({"allowed": true, "reason": "allowed by devcluster review policy"})
        } else {
            json!({"allowed": false})
        };
        review
    }
}
