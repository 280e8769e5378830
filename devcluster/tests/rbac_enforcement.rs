//! RBAC enforced on requests with a bearer token, as kube-apiserver's RBAC authorizer enforces it
//! (https://kubernetes.io/docs/reference/access-authn-authz/rbac/): Roles, ClusterRoles and their
//! bindings to ServiceAccounts, Users and Groups; subresources, resource names, `*` verbs and
//! non-resource URLs; lists, watches and server-side apply; the 401 and 403 `Status` bodies; and
//! SubjectAccessReview answering from the same rules.

use agentry_devcluster::{DevCluster, ReviewPolicy, UserInfo};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::authentication::v1::TokenRequest;
use k8s_openapi::api::authorization::v1::{SelfSubjectAccessReview, SubjectAccessReview};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod, Secret, ServiceAccount};
use kube::api::{
    Api, ApiResource, DynamicObject, ListParams, LogParams, Patch, PatchParams, PostParams, WatchParams,
};
use kube::core::response::Status;
use serde_json::{Value, json};

const SA_USER: &str = "system:serviceaccount:default:bot";

fn refused<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> Status {
    match result {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

/// A client presenting `token`, as a pod's kubeconfig does.
fn client_with_token(cluster: &DevCluster, token: &str) -> kube::Client {
    let mut config = kube::Config::new(cluster.url().parse().expect("url"));
    config.default_namespace = "default".into();
    config.auth_info.token = Some(token.to_owned().into());
    kube::Client::try_from(config).expect("client")
}

/// ServiceAccount `default/bot` and a token for it.
async fn bot_token(cluster: &DevCluster) -> String {
    let accounts: Api<ServiceAccount> = Api::namespaced(cluster.client(), "default");
    let account: ServiceAccount = serde_json::from_value(json!({"metadata": {"name": "bot"}})).expect("sa");
    accounts.create(&PostParams::default(), &account).await.expect("service account created");
    let request: TokenRequest = serde_json::from_value(json!({"spec": {}})).expect("token request");
    let issued = accounts.create_token_request("bot", &PostParams::default(), &request).await.expect("token");
    issued.status.map(|s| s.token).expect("a token")
}

/// Create the RBAC object `object` (its kind says which) as the admin.
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

fn metadata(name: &str, namespace: Option<&str>) -> Value {
    match namespace {
        Some(ns) => json!({"name": name, "namespace": ns}),
        None => json!({"name": name}),
    }
}

fn role(kind: &str, name: &str, namespace: Option<&str>, rules: Value) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind,
           "metadata": metadata(name, namespace), "rules": rules})
}

fn binding(kind: &str, name: &str, namespace: Option<&str>, role: (&str, &str), subject: Value) -> Value {
    json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": kind, "metadata": metadata(name, namespace),
           "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": role.0, "name": role.1},
           "subjects": [subject]})
}

fn bot() -> Value {
    json!({"kind": "ServiceAccount", "name": "bot", "namespace": "default"})
}

fn config_map(name: &str) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name}, "data": {"k": "v"}})).expect("config map")
}

/// GET `path` with `client`: the status code and the body.
async fn get_path(client: &kube::Client, path: &str) -> Result<String, kube::Error> {
    let request = axum::http::Request::get(path).body(Vec::new()).expect("request");
    client.request_text(request).await
}

#[tokio::test]
async fn a_service_account_gets_only_what_its_roles_grant_with_kube_apiservers_refusals() {
    let cluster = DevCluster::start().await.expect("devcluster starts");
    let token = bot_token(&cluster).await;
    let bot_client = client_with_token(&cluster, &token);
    let maps: Api<ConfigMap> = Api::namespaced(bot_client.clone(), "default");
    let admin_maps: Api<ConfigMap> = Api::namespaced(cluster.client(), "default");
    for name in ["settings", "other"] {
        admin_maps.create(&PostParams::default(), &config_map(name)).await.expect("config map created");
    }

    // Nothing bound: a list is refused with the apiserver's Status, word for word.
    let status = refused(maps.list(&ListParams::default()).await);
    assert_eq!((status.code, status.reason.as_str()), (403, "Forbidden"));
    assert_eq!(
        status.message,
        format!(
            r#"configmaps is forbidden: User "{SA_USER}" cannot list resource "configmaps" in API group "" in the namespace "default""#
        )
    );
    let details = status.details.expect("details");
    assert_eq!(
        (details.kind.as_str(), details.group.as_str(), details.name.as_str()),
        ("configmaps", "", "")
    );
    let status = refused(maps.get("settings").await);
    assert_eq!(
        status.message,
        format!(
            r#"configmaps "settings" is forbidden: User "{SA_USER}" cannot get resource "configmaps" in API group "" in the namespace "default""#
        )
    );
    // Cluster-scoped and grouped resources are worded with their group and scope.
    let namespaces: Api<Namespace> = Api::all(bot_client.clone());
    assert_eq!(
        refused(namespaces.list(&ListParams::default()).await).message,
        format!(
            r#"namespaces is forbidden: User "{SA_USER}" cannot list resource "namespaces" in API group "" at the cluster scope"#
        )
    );
    let deployments: Api<Deployment> = Api::namespaced(bot_client.clone(), "default");
    assert_eq!(
        refused(deployments.get_scale("web").await).message,
        format!(
            r#"deployments.apps "web" is forbidden: User "{SA_USER}" cannot get resource "deployments/scale" in API group "apps" in the namespace "default""#
        )
    );
    // Discovery and the version are every authenticated user's (system:discovery); other paths are not.
    get_path(&bot_client, "/version").await.expect("the version is public");
    get_path(&bot_client, "/apis/apps/v1").await.expect("discovery is allowed");
    let status = refused(get_path(&bot_client, "/metrics").await);
    assert_eq!(status.message, format!(r#"forbidden: User "{SA_USER}" cannot get path "/metrics""#));

    // A Role bound to the account: resource names narrow `get`; list and watch are checked too.
    rbac(
        &cluster,
        role(
            "Role",
            "settings-reader",
            Some("default"),
            json!([
                {"apiGroups": [""], "resources": ["configmaps"], "resourceNames": ["settings"], "verbs": ["get"]},
                {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]},
            ]),
        ),
    )
    .await;
    rbac(
        &cluster,
        binding("RoleBinding", "bot-settings", Some("default"), ("Role", "settings-reader"), bot()),
    )
    .await;
    maps.get("settings").await.expect("a named config map is readable");
    assert_eq!(refused(maps.get("other").await).code, 403);
    assert_eq!(maps.list(&ListParams::default()).await.expect("listed").items.len(), 2);
    let status = refused(maps.watch(&WatchParams::default(), "0").await.map(|_| ()));
    assert!(status.message.contains(r#"cannot watch resource "configmaps""#), "{}", status.message);
    // The same in another namespace is not granted.
    let elsewhere: Api<ConfigMap> = Api::namespaced(bot_client.clone(), "kube-system");
    assert!(
        refused(elsewhere.list(&ListParams::default()).await).message.contains(r#"namespace "kube-system""#)
    );

    // An aggregated ClusterRole grants what the roles its selector matches grant, including
    // roles labelled after it was bound.
    let mut aggregated = role("ClusterRole", "view-all", None, json!([]));
    aggregated["aggregationRule"] =
        json!({"clusterRoleSelectors": [{"matchLabels": {"example.com/aggregate-to-view": "true"}}]});
    rbac(&cluster, aggregated).await;
    rbac(&cluster, binding("ClusterRoleBinding", "bot-views", None, ("ClusterRole", "view-all"), bot()))
        .await;
    assert_eq!(refused(elsewhere.list(&ListParams::default()).await).code, 403);
    let mut part = role(
        "ClusterRole",
        "view-config",
        None,
        json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["list"]}]),
    );
    part["metadata"]["labels"] = json!({"example.com/aggregate-to-view": "true"});
    rbac(&cluster, part).await;
    elsewhere.list(&ListParams::default()).await.expect("granted through the aggregated role");
    cluster.shutdown().await;
}

#[tokio::test]
async fn subresources_wildcards_groups_and_server_side_apply_follow_the_rules() {
    let cluster = DevCluster::start().await.expect("devcluster starts");
    let token = bot_token(&cluster).await;
    let bot_client = client_with_token(&cluster, &token);

    // `*` verbs on Secrets through a ClusterRole bound in one namespace, to the account's group.
    rbac(
        &cluster,
        role(
            "ClusterRole",
            "secret-admin",
            None,
            json!([{"apiGroups": [""], "resources": ["secrets"], "verbs": ["*"]}]),
        ),
    )
    .await;
    let group = json!({"kind": "Group", "name": "system:serviceaccounts:default", "apiGroup": "rbac.authorization.k8s.io"});
    rbac(
        &cluster,
        binding("RoleBinding", "secrets", Some("default"), ("ClusterRole", "secret-admin"), group),
    )
    .await;
    let secrets: Api<Secret> = Api::namespaced(bot_client.clone(), "default");
    let secret: Secret =
        serde_json::from_value(json!({"metadata": {"name": "s"}, "stringData": {"k": "v"}})).expect("secret");
    secrets.create(&PostParams::default(), &secret).await.expect("secret created");
    secrets.delete("s", &Default::default()).await.expect("secret deleted");
    let kube_system: Api<Secret> = Api::namespaced(bot_client.clone(), "kube-system");
    assert_eq!(refused(kube_system.create(&PostParams::default(), &secret).await).code, 403);

    // `pods/log` is its own resource: reading pods does not grant their logs.
    rbac(
        &cluster,
        role(
            "Role",
            "pods",
            Some("default"),
            json!([{"apiGroups": [""], "resources": ["pods"], "verbs": ["get"]}]),
        ),
    )
    .await;
    rbac(&cluster, binding("RoleBinding", "pods", Some("default"), ("Role", "pods"), bot())).await;
    let pods: Api<Pod> = Api::namespaced(bot_client.clone(), "default");
    assert_eq!(refused(pods.get("p").await).code, 404, "authorized, then not found");
    let status = refused(pods.logs("p", &LogParams::default()).await);
    assert!(status.message.contains(r#"cannot get resource "pods/log""#), "{}", status.message);

    // Server-side apply that would create needs `create` as well as `patch`; `*/scale` matches
    // the scale of every resource.
    rbac(
        &cluster,
        role(
            "ClusterRole",
            "patcher",
            None,
            json!([
                {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["patch"]},
                {"apiGroups": ["apps"], "resources": ["*/scale"], "verbs": ["get"]},
            ]),
        ),
    )
    .await;
    rbac(&cluster, binding("ClusterRoleBinding", "patcher", None, ("ClusterRole", "patcher"), bot())).await;
    let maps: Api<ConfigMap> = Api::namespaced(bot_client.clone(), "default");
    let apply = PatchParams::apply("bot").force();
    let applied =
        json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "new"}, "data": {"k": "v"}});
    let status = refused(maps.patch("new", &apply, &Patch::Apply(&applied)).await);
    assert_eq!((status.code, status.message.as_str()), (403, r#"configmaps "new" is forbidden: "#));
    let admin_maps: Api<ConfigMap> = Api::namespaced(cluster.client(), "default");
    admin_maps.create(&PostParams::default(), &config_map("new")).await.expect("created by the admin");
    maps.patch("new", &apply, &Patch::Apply(&applied)).await.expect("an existing object is patched");
    let deployments: Api<Deployment> = Api::namespaced(bot_client.clone(), "default");
    assert_eq!(refused(deployments.get_scale("web").await).code, 404, "authorized, then not found");

    // An unknown token is not a user: 401.
    let stranger = client_with_token(&cluster, "not-a-token");
    let status =
        refused(Api::<ConfigMap>::namespaced(stranger, "default").list(&ListParams::default()).await);
    assert_eq!(
        (status.code, status.reason.as_str(), status.message.as_str()),
        (401, "Unauthorized", "Unauthorized")
    );
    cluster.shutdown().await;
}

#[tokio::test]
async fn users_groups_and_non_resource_urls_and_the_reviews_answer_from_the_same_rules() {
    let cluster = DevCluster::start().await.expect("devcluster starts");
    let mut policy = ReviewPolicy::default();
    let alice = UserInfo { username: "alice".into(), uid: "a-1".into(), groups: vec!["team".into()] };
    policy.add_token("alice-token", alice);
    cluster.set_review_policy(policy);
    let alice_client = client_with_token(&cluster, "alice-token");

    // A ClusterRole of non-resource URLs for every authenticated user; a User binding and a
    // Group binding.
    rbac(
        &cluster,
        role(
            "ClusterRole",
            "metrics",
            None,
            json!([{"nonResourceURLs": ["/metrics", "/debug/*"], "verbs": ["get"]}]),
        ),
    )
    .await;
    let everyone =
        json!({"kind": "Group", "name": "system:authenticated", "apiGroup": "rbac.authorization.k8s.io"});
    rbac(&cluster, binding("ClusterRoleBinding", "metrics", None, ("ClusterRole", "metrics"), everyone))
        .await;
    rbac(
        &cluster,
        role(
            "ClusterRole",
            "deploy-reader",
            None,
            json!([{"apiGroups": ["apps"], "resources": ["deployments"], "verbs": ["get", "list", "watch"]}]),
        ),
    )
    .await;
    let user = json!({"kind": "User", "name": "alice", "apiGroup": "rbac.authorization.k8s.io"});
    rbac(
        &cluster,
        binding("RoleBinding", "alice-deploys", Some("default"), ("ClusterRole", "deploy-reader"), user),
    )
    .await;
    let team = json!({"kind": "Group", "name": "team", "apiGroup": "rbac.authorization.k8s.io"});
    rbac(
        &cluster,
        role(
            "Role",
            "maps",
            Some("default"),
            json!([{"apiGroups": [""], "resources": ["configmaps"], "verbs": ["create"]}]),
        ),
    )
    .await;
    rbac(&cluster, binding("RoleBinding", "team-maps", Some("default"), ("Role", "maps"), team)).await;

    // /metrics is not served, but alice may ask for it: not found rather than forbidden.
    assert_eq!(refused(get_path(&alice_client, "/metrics").await).code, 404);
    assert_eq!(refused(get_path(&alice_client, "/debug/pprof").await).code, 404);
    let deployments: Api<Deployment> = Api::namespaced(alice_client.clone(), "default");
    deployments.list(&ListParams::default()).await.expect("alice lists deployments");
    let watch = deployments.watch(&WatchParams::default().timeout(1), "0").await.expect("alice watches");
    let mut watch = std::pin::pin!(watch);
    while let Some(event) = watch.next().await {
        event.expect("a watch event");
    }
    let maps: Api<ConfigMap> = Api::namespaced(alice_client.clone(), "default");
    maps.create(&PostParams::default(), &config_map("by-alice")).await.expect("the team creates");
    assert_eq!(refused(maps.get("by-alice").await).code, 403);

    // SelfSubjectAccessReview (system:basic-user) and SubjectAccessReview give the same answers.
    let self_reviews: Api<SelfSubjectAccessReview> = Api::all(alice_client.clone());
    let can_i = |verb: &str, resource: &str| -> SelfSubjectAccessReview {
        serde_json::from_value(json!({"spec": {"resourceAttributes":
            {"verb": verb, "group": "apps", "resource": resource, "namespace": "default"}}}))
        .expect("review")
    };
    let answer =
        self_reviews.create(&PostParams::default(), &can_i("list", "deployments")).await.expect("answered");
    let status = answer.status.expect("status");
    assert!(status.allowed);
    assert_eq!(
        status.reason.as_deref(),
        Some(
            r#"RBAC: allowed by RoleBinding "alice-deploys/default" of ClusterRole "deploy-reader" to User "alice""#
        )
    );
    let answer =
        self_reviews.create(&PostParams::default(), &can_i("delete", "deployments")).await.expect("answered");
    assert!(!answer.status.expect("status").allowed);
    let reviews: Api<SubjectAccessReview> = Api::all(cluster.client());
    let review: SubjectAccessReview = serde_json::from_value(json!({"spec": {
        "user": "alice", "groups": ["team", "system:authenticated"],
        "nonResourceAttributes": {"verb": "get", "path": "/debug/x"}}}))
    .expect("review");
    let answer = reviews.create(&PostParams::default(), &review).await.expect("answered");
    assert_eq!(
        answer.status.and_then(|s| s.reason),
        Some(r#"RBAC: allowed by ClusterRoleBinding "metrics" of ClusterRole "metrics" to Group "system:authenticated""#.into())
    );
    // Alice cannot review others: that needs `create` on subjectaccessreviews.
    let alice_reviews: Api<SubjectAccessReview> = Api::all(alice_client);
    assert_eq!(refused(alice_reviews.create(&PostParams::default(), &review).await).code, 403);
    cluster.shutdown().await;
}
