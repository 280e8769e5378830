//! The exact permissions the operator needs, as objects: the single source for `config/rbac/`
//! and the Helm chart (written by `cargo run -p agentry-operator --bin rbacgen`).

use k8s_openapi::api::core::v1::ServiceAccount;
use k8s_openapi::api::rbac::v1::{
    ClusterRole, ClusterRoleBinding, PolicyRule, Role, RoleBinding, RoleRef, Subject,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// Name of the ServiceAccount, ClusterRole, Role and bindings.
pub const NAME: &str = "agentry-operator";
/// Name of the ClusterRole reading Secrets, bound only in the namespaces listed (or, when none
/// are, cluster-wide).
pub const SECRETS_NAME: &str = "agentry-operator-secrets";
/// The namespaces `config/rbac/role.yaml` lets the operator read Secrets in: the samples'.
pub const SAMPLE_SECRET_NAMESPACES: &[&str] = &["fleet"];

fn rule(group: &str, resources: &[&str], verbs: &[&str]) -> PolicyRule {
    PolicyRule {
        api_groups: Some(vec![group.to_string()]),
        resources: Some(resources.iter().map(|r| r.to_string()).collect()),
        verbs: verbs.iter().map(|v| v.to_string()).collect(),
        ..PolicyRule::default()
    }
}

fn meta(name: &str, namespace: Option<&str>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_string()),
        namespace: namespace.map(str::to_string),
        labels: Some([("app.kubernetes.io/name".to_string(), "agentry-operator".to_string())].into()),
        ..ObjectMeta::default()
    }
}

/// Cluster-wide rules: the operator watches every namespace. No Secrets: see
/// [`secret_reader_role`].
pub fn cluster_role() -> ClusterRole {
    ClusterRole {
        metadata: meta(NAME, None),
        rules: Some(vec![
            // Read the Agentry kinds; write only their status.
            rule("agentry.dev", &["models", "tools", "agents", "memorystores"], &["get", "list", "watch"]),
            rule(
                "agentry.dev",
                &["models/status", "tools/status", "agents/status", "memorystores/status", "sessions/status"],
                &["patch"],
            ),
            // Sessions: run, held by a finalizer while their tasks run (patch), and deleted once
            // `ttlSecondsAfterFinished` has passed.
            rule("agentry.dev", &["sessions"], &["get", "list", "watch", "patch", "delete"]),
            // Children, written with server-side apply (which creates when absent) and watched
            // (metadata only, but for Deployments) so a deleted one is written again.
            rule("", &["configmaps", "services"], &["get", "list", "watch", "create", "patch"]),
            rule("apps", &["deployments"], &["get", "list", "watch", "create", "patch"]),
            rule("networking.k8s.io", &["networkpolicies"], &["get", "list", "watch", "create", "patch"]),
            // OwnerReferencesPermissionEnforcement (on by default in OpenShift): setting an
            // owner reference with `blockOwnerDeletion` needs `update` on the owner's finalizers.
            rule("agentry.dev", &["agents/finalizers"], &["update"]),
            rule("events.k8s.io", &["events"], &["create", "patch"]),
            // The HTTP API: who a bearer token is, and whether that caller may do what it asks.
            rule("authentication.k8s.io", &["tokenreviews"], &["create"]),
            rule("authorization.k8s.io", &["subjectaccessreviews"], &["create"]),
        ]),
        ..ClusterRole::default()
    }
}

/// Secrets: metadata watched (to roll pods on change), values read only for the Secrets a
/// Model, Tool or MemoryStore names; written only for the Agents' NATS credentials
/// (`<agent>-nats`, when the operator holds the account signing key). Bound by a RoleBinding in
/// each namespace of the operator's `--secret-namespaces`, so it touches no Secret elsewhere.
pub fn secret_reader_role() -> ClusterRole {
    ClusterRole {
        metadata: meta(SECRETS_NAME, None),
        rules: Some(vec![
            rule("", &["secrets"], &["get", "list", "watch"]),
            // Server-side apply of `<agent>-nats`: `patch`, and `create` for a new Agent's.
            rule("", &["secrets"], &["create", "patch"]),
        ]),
        ..ClusterRole::default()
    }
}

/// Namespaced rules in the operator's own namespace: its leader Lease.
pub fn role(namespace: &str) -> Role {
    Role {
        metadata: meta(NAME, Some(namespace)),
        rules: Some(vec![rule("coordination.k8s.io", &["leases"], &["get", "create", "update"])]),
    }
}

fn subject(namespace: &str) -> Vec<Subject> {
    vec![Subject {
        kind: "ServiceAccount".into(),
        name: NAME.into(),
        namespace: Some(namespace.to_string()),
        ..Subject::default()
    }]
}

/// Example ClusterRoles for people and programs using the HTTP API (docs/api.md has the table of
/// what each endpoint needs). Bind one with a RoleBinding to grant it in one namespace; they
/// also aggregate into the cluster's `view`, `edit` and `admin` roles.
pub fn api_user_roles() -> Vec<ClusterRole> {
    let viewer = vec![
        rule("agentry.dev", &["agents", "sessions", "interactions"], &["get", "list"]),
        rule("agentry.dev", &["tasks"], &["get"]),
        rule("agentry.dev", &["costs"], &["list"]),
        rule("agentry.dev", &["memories"], &["list"]),
        rule("agentry.dev", &["memoryblocks"], &["get"]),
    ];
    let mut user = viewer.clone();
    user.extend([
        rule("agentry.dev", &["agents/invoke", "sessions/messages"], &["create"]),
        rule("agentry.dev", &["sessions"], &["create", "update"]),
        rule("agentry.dev", &["tasks"], &["create", "delete"]),
        rule("agentry.dev", &["memories"], &["create"]),
        rule("agentry.dev", &["memoryblocks"], &["update"]),
    ]);
    let admin = vec![rule(
        "agentry.dev",
        &[
            "agents",
            "agents/invoke",
            "sessions",
            "sessions/messages",
            "tasks",
            "interactions",
            "costs",
            "memories",
            "memoryblocks",
        ],
        &["*"],
    )];
    [("viewer", "view", viewer), ("user", "edit", user), ("admin", "admin", admin)]
        .into_iter()
        .map(|(level, aggregate, rules)| {
            let mut metadata = meta(&format!("agentry-api-{level}"), None);
            metadata
                .labels
                .get_or_insert_with(Default::default)
                .insert(format!("rbac.authorization.k8s.io/aggregate-to-{aggregate}"), "true".to_string());
            ClusterRole { metadata, rules: Some(rules), ..ClusterRole::default() }
        })
        .collect()
}

/// The bindings of [`secret_reader_role`]: a RoleBinding in each of `secret_namespaces`, or one
/// ClusterRoleBinding when there are none (an operator run without `--secret-namespaces`).
fn secret_bindings(
    namespace: &str,
    secret_namespaces: &[&str],
) -> Vec<serde_json::Result<serde_json::Value>> {
    let role_ref = RoleRef {
        api_group: "rbac.authorization.k8s.io".into(),
        kind: "ClusterRole".into(),
        name: SECRETS_NAME.into(),
    };
    if secret_namespaces.is_empty() {
        let binding = ClusterRoleBinding {
            metadata: meta(SECRETS_NAME, None),
            role_ref,
            subjects: Some(subject(namespace)),
        };
        return vec![serde_json::to_value(binding)];
    }
    secret_namespaces
        .iter()
        .map(|ns| {
            let metadata = meta(SECRETS_NAME, Some(ns));
            serde_json::to_value(RoleBinding {
                metadata,
                role_ref: role_ref.clone(),
                subjects: Some(subject(namespace)),
            })
        })
        .collect()
}

/// Every RBAC object, in apply order, for an operator running in `namespace` that reads Secrets
/// in `secret_namespaces` (every namespace when empty).
pub fn manifests(namespace: &str, secret_namespaces: &[&str]) -> Vec<serde_json::Value> {
    let account = ServiceAccount { metadata: meta(NAME, Some(namespace)), ..ServiceAccount::default() };
    let cluster_binding = ClusterRoleBinding {
        metadata: meta(NAME, None),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "ClusterRole".into(),
            name: NAME.into(),
        },
        subjects: Some(subject(namespace)),
    };
    let binding = RoleBinding {
        metadata: meta(NAME, Some(namespace)),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: NAME.into(),
        },
        subjects: Some(subject(namespace)),
    };
    [
        serde_json::to_value(account),
        serde_json::to_value(cluster_role()),
        serde_json::to_value(cluster_binding),
        serde_json::to_value(role(namespace)),
        serde_json::to_value(binding),
        serde_json::to_value(secret_reader_role()),
    ]
    .into_iter()
    .chain(secret_bindings(namespace, secret_namespaces))
    .chain(api_user_roles().into_iter().map(serde_json::to_value))
    .filter_map(Result::ok)
    .collect()
}

/// The manifests as one YAML stream.
pub fn manifests_yaml(namespace: &str, secret_namespaces: &[&str]) -> Result<String, serde_yaml::Error> {
    let mut out = String::from(
        "# Generated by `cargo run -p agentry-operator --bin rbacgen -- --secret-namespaces <list>`; do not edit.\n",
    );
    for manifest in manifests(namespace, secret_namespaces) {
        out.push_str("---\n");
        out.push_str(&serde_yaml::to_string(&manifest)?);
    }
    Ok(out)
}
