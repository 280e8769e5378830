//! The ClusterRoles and ClusterRoleBindings every kube-apiserver starts with that let any
//! authenticated user discover the API and ask what it may do (`bootstrappolicy`):
//! `system:discovery`, `system:basic-user` and `system:public-info-viewer`. devcluster does not
//! store them (a test listing ClusterRoles sees only its own); the RBAC authorizer consults
//! them after the stored objects of the same name, which win.

use std::sync::LazyLock;

use serde_json::{Value, json};

/// The ClusterRoles.
static ROLES: LazyLock<Vec<Value>> = LazyLock::new(|| {
    let health = ["/healthz", "/livez", "/readyz", "/version", "/version/"];
    let discovery: Vec<&str> = health
        .iter()
        .copied()
        .chain(["/api", "/api/*", "/apis", "/apis/*", "/openapi", "/openapi/*"])
        .collect();
    vec![
        cluster_role_object("system:discovery", json!([{"nonResourceURLs": discovery, "verbs": ["get"]}])),
        cluster_role_object(
            "system:basic-user",
            json!([
                {"apiGroups": ["authorization.k8s.io"],
                 "resources": ["selfsubjectaccessreviews", "selfsubjectrulesreviews"], "verbs": ["create"]},
                {"apiGroups": ["authentication.k8s.io"], "resources": ["selfsubjectreviews"], "verbs": ["create"]},
            ]),
        ),
        cluster_role_object(
            "system:public-info-viewer",
            json!([{"nonResourceURLs": health, "verbs": ["get"]}]),
        ),
    ]
});

/// The ClusterRoleBindings, each of the ClusterRole of its name.
static BINDINGS: LazyLock<Vec<Value>> = LazyLock::new(|| {
    vec![
        binding("system:basic-user", &["system:authenticated"]),
        binding("system:discovery", &["system:authenticated"]),
        binding("system:public-info-viewer", &["system:authenticated", "system:unauthenticated"]),
    ]
});

/// The bootstrap ClusterRoleBindings.
pub(crate) fn cluster_role_bindings() -> &'static [Value] {
    &BINDINGS
}

/// The bootstrap ClusterRole `name`, if there is one.
pub(crate) fn cluster_role(name: &str) -> Option<&'static Value> {
    ROLES.iter().find(|role| role["metadata"]["name"] == name)
}

fn cluster_role_object(name: &str, rules: Value) -> Value {
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
        "rules": rules,
    })
}

fn binding(name: &str, groups: &[&str]) -> Value {
    let subjects: Vec<Value> = groups
        .iter()
        .map(|g| json!({"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": g}))
        .collect();
    json!({
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRoleBinding",
        "metadata": {"name": name, "labels": {"kubernetes.io/bootstrapping": "rbac-defaults"}},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
        "subjects": subjects,
    })
}
