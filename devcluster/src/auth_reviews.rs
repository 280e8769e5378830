//! A small policy a test sets: tokens and the users they authenticate as, and what users may do.
//! TokenReview and SubjectAccessReview consult it besides the ServiceAccount tokens and the RBAC
//! objects (devcluster itself serves every request whatever its credentials).

use std::collections::BTreeMap;

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

    /// The user `token` authenticates as, if the policy names it.
    pub(crate) fn user(&self, token: &str) -> Option<&UserInfo> {
        self.tokens.get(token)
    }

    /// Whether `user` (or one of `groups`) is allowed `verb` on `resource` of `group` in
    /// `namespace` by a permission of the policy.
    pub(crate) fn allows(
        &self,
        user: &str,
        groups: &[String],
        verb: &str,
        group: &str,
        resource: &str,
        namespace: &str,
    ) -> bool {
        let matches = |want: &str, have: &str| want == "*" || want == have;
        std::iter::once(user)
            .chain(groups.iter().map(String::as_str))
            .filter_map(|subject| self.permissions.get(subject))
            .flatten()
            .any(|p| {
                p.verbs.iter().any(|v| matches(v, verb))
                    && matches(&p.group, group)
                    && matches(&p.resource, resource)
                    && p.namespace.as_deref().is_none_or(|ns| ns == namespace)
            })
    }
}
