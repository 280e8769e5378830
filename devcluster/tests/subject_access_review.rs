//! SubjectAccessReview over the Roles, ClusterRoles and bindings stored in devcluster, checked
//! against what kube-apiserver's authorizers answer
//! (https://kubernetes.io/docs/reference/access-authn-authz/rbac/).

use agentry_devcluster::DevCluster;
use k8s_openapi::api::authorization::v1::SubjectAccessReview;
use kube::api::{Api, ApiResource, DynamicObject, PostParams};
use kube::core::response::Status;
use serde_json::{Value, json};

fn refused<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> Status {
    match result {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// The `status` of a SubjectAccessReview with `spec`.
async fn access(cluster: &DevCluster, spec: Value) -> Value {
    let api: Api<SubjectAccessReview> = Api::all(cluster.client());
    let review: SubjectAccessReview = serde_json::from_value(json!({"spec": spec})).expect("review");
    let answer = api.create(&PostParams::default(), &review).await.expect("review answered");
    serde_json::to_value(answer.status).expect("json")
}

/// Create the RBAC object `object` (its kind says which).
async fn rbac(cluster: &DevCluster, object: Value) {
    let kind = object["kind"].as_str().unwrap_or_default().to_owned();
    let resource = ApiResource {
        group: "rbac.authorization.k8s.io".into(),
        version: "v1".into(),
        api_version: "rbac.authorization.k8s.io/v1".into(),
        plural: format!("{}s", kind.to_lowercase()),
        kind,
    };
    let api: Api<DynamicObject> = match object["metadata"]["namespace"].as_str() {
        Some(ns) => Api::namespaced_with(cluster.client(), ns, &resource),
        None => Api::all_with(cluster.client(), &resource),
    };
    let object: DynamicObject = serde_json::from_value(object).expect("rbac object");
    api.create(&PostParams::default(), &object).await.expect("rbac object created");
}

fn subject(kind: &str, name: &str) -> Value {
    match kind {
        "ServiceAccount" => json!({"kind": kind, "name": name, "namespace": "default"}),
        _ => json!({"kind": kind, "name": name, "apiGroup": "rbac.authorization.k8s.io"}),
    }
}

fn binding(kind: &str, name: &str, namespace: Option<&str>, role: (&str, &str), subjects: Value) -> Value {
    let mut metadata = json!({"name": name});
    if let Some(ns) = namespace {
        metadata["namespace"] = json!(ns);
    }
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": metadata,
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role.0, "name": role.1}, "subjects": subjects})
}

fn role(kind: &str, name: &str, namespace: Option<&str>, rules: Value) -> Value {
    let mut metadata = json!({"name": name});
    if let Some(ns) = namespace {
        metadata["namespace"] = json!(ns);
    }
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": metadata, "rules": rules})
}

/// Roles, cluster roles and bindings of every kind.
async fn rbac_objects(cluster: &DevCluster) {
    let objects = [
        role(
            "Role",
            "agent-reader",
            Some("default"),
            json!([
                {"apiGroups": ["agentry.dev"], "resources": ["agents"], "verbs": ["get", "list"]},
                {"apiGroups": ["agentry.dev"], "resources": ["agents/status"], "verbs": ["update"]},
                {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["settings"], "verbs": ["get"]},
            ]),
        ),
        binding(
            "RoleBinding",
            "readers",
            Some("default"),
            ("Role", "agent-reader"),
            json!([subject("User", "alice")]),
        ),
        role(
            "ClusterRole",
            "session-writer",
            None,
            json!([{"apiGroups": ["agentry.dev"], "resources": ["sessions"], "verbs": ["create"]}]),
        ),
        binding(
            "RoleBinding",
            "writers",
            Some("default"),
            ("ClusterRole", "session-writer"),
            json!([subject("Group", "devs")]),
        ),
        role(
            "ClusterRole",
            "api-proxy",
            None,
            json!([{"apiGroups": [""], "resources": ["services/proxy"], "verbs": ["get", "create"]}]),
        ),
        binding(
            "ClusterRoleBinding",
            "cli-users",
            None,
            ("ClusterRole", "api-proxy"),
            json!([subject("ServiceAccount", "cli")]),
        ),
        role(
            "ClusterRole",
            "discovery",
            None,
            json!([{"nonResourceURLs": ["/healthz", "/api/*"], "verbs": ["get"]}]),
        ),
        binding(
            "ClusterRoleBinding",
            "discoverers",
            None,
            ("ClusterRole", "discovery"),
            json!([subject("Group", "system:authenticated")]),
        ),
        binding(
            "RoleBinding",
            "dangling",
            Some("default"),
            ("Role", "missing"),
            json!([subject("User", "carol")]),
        ),
    ];
    for object in objects {
        rbac(cluster, object).await;
    }
}

/// A resource review's spec: `user` (in `groups`) to `verb` `resource` (maybe
/// `resource/subresource`) of API group `group` in `namespace`, named `name`.
fn asks(
    user: &str,
    groups: &[&str],
    verb: &str,
    group: &str,
    resource: &str,
    namespace: &str,
    name: &str,
) -> Value {
    let (resource, subresource) = resource.split_once('/').unwrap_or((resource, ""));
    json!({"user": user, "groups": groups, "resourceAttributes": {"verb": verb, "group": group,
        "resource": resource, "subresource": subresource, "namespace": namespace, "name": name}})
}

#[tokio::test]
async fn subject_access_reviews_are_decided_by_the_stored_rbac_objects() {
    let cluster = DevCluster::start().await.expect("devcluster starts");
    rbac_objects(&cluster).await;
    let denied = json!({"allowed": false});
    let allowed_by = |reason: &str| json!({"allowed": true, "reason": reason});

    // RoleBinding -> Role: in the binding's namespace only, for the verbs of the rule.
    let alice = |verb: &str, resource: &str, namespace: &str, name: &str| {
        asks("alice", &["system:authenticated"], verb, "agentry.dev", resource, namespace, name)
    };
    assert_eq!(
        access(&cluster, alice("list", "agents", "default", "")).await,
        allowed_by(
            r#"RBAC: allowed by RoleBinding "readers/default" of Role "agent-reader" to User "alice""#
        )
    );
    assert_eq!(access(&cluster, alice("list", "agents", "other", "")).await, denied);
    assert_eq!(access(&cluster, alice("delete", "agents", "default", "x")).await, denied);
    // A subresource is its own resource: `agents/status` does not grant `agents`, nor the reverse.
    assert_eq!(access(&cluster, alice("update", "agents/status", "default", "x")).await["allowed"], true);
    assert_eq!(access(&cluster, alice("update", "agents", "default", "x")).await, denied);
    assert_eq!(access(&cluster, alice("get", "agents/status", "default", "x")).await, denied);
    // resourceNames: only the object named, and not a request naming none.
    let config_map = |name: &str| asks("alice", &[], "get", "", "configmaps", "default", name);
    assert_eq!(access(&cluster, config_map("settings")).await["allowed"], true);
    assert_eq!(access(&cluster, config_map("secrets")).await, denied);
    assert_eq!(access(&cluster, config_map("")).await, denied);

    // RoleBinding -> ClusterRole, to a group: the cluster role's rules in the binding's namespace.
    let bob = |namespace: &str| asks("bob", &["devs"], "create", "agentry.dev", "sessions", namespace, "");
    assert_eq!(
        access(&cluster, bob("default")).await,
        allowed_by(
            r#"RBAC: allowed by RoleBinding "writers/default" of ClusterRole "session-writer" to Group "devs""#
        )
    );
    assert_eq!(access(&cluster, bob("other")).await, denied);

    // ClusterRoleBinding -> ClusterRole, to a ServiceAccount: everywhere, by its username.
    let cli = |user: &str, namespace: &str| {
        asks(user, &["system:serviceaccounts"], "get", "", "services/proxy", namespace, "api")
    };
    for namespace in ["default", "fleet"] {
        assert_eq!(
            access(&cluster, cli("system:serviceaccount:default:cli", namespace)).await,
            allowed_by(
                r#"RBAC: allowed by ClusterRoleBinding "cli-users" of ClusterRole "api-proxy" to ServiceAccount "cli/default""#
            )
        );
    }
    assert_eq!(access(&cluster, cli("system:serviceaccount:fleet:cli", "fleet")).await, denied);

    // Non-resource URLs, exact or by a `*` suffix.
    let url = |path: &str| json!({"user": "dave", "groups": ["system:authenticated"], "nonResourceAttributes": {"verb": "get", "path": path}});
    assert_eq!(access(&cluster, url("/api/v1")).await["allowed"], true);
    assert_eq!(access(&cluster, url("/healthz")).await["allowed"], true);
    assert_eq!(access(&cluster, url("/metrics")).await, denied);

    // A binding to a role that does not exist: denied, the reason saying why.
    assert_eq!(
        access(&cluster, asks("carol", &[], "get", "", "pods", "default", "")).await,
        json!({"allowed": false, "reason": r#"RBAC: role.rbac.authorization.k8s.io "missing" not found"#})
    );
}

#[tokio::test]
async fn system_masters_are_allowed_everything_and_reviews_need_a_subject() {
    let cluster = DevCluster::start().await.expect("devcluster starts");
    // The privileged-group authorizer allows `system:masters` before RBAC, giving no reason.
    let status = access(
        &cluster,
        json!({"user": "devcluster-admin", "groups": ["system:masters"],
            "resourceAttributes": {"verb": "delete", "resource": "nodes"}}),
    )
    .await;
    assert_eq!(status, json!({"allowed": true}));

    let api: Api<SubjectAccessReview> = Api::all(cluster.client());
    let nobody: SubjectAccessReview =
        serde_json::from_value(json!({"spec": {"resourceAttributes": {"verb": "get", "resource": "pods"}}}))
            .expect("review");
    let status = refused(api.create(&PostParams::default(), &nobody).await);
    assert_eq!(
        (status.code, status.message.as_str()),
        (
            422,
            r#"SubjectAccessReview.authorization.k8s.io "" is invalid: spec.user: Invalid value: "": at least one of user or group must be specified"#
        )
    );
}
