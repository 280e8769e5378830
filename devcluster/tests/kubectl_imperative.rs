//! kubectl's imperative commands (v1.32) against devcluster. Its generators and typed clients send
//! built-in objects as protobuf (`application/vnd.kubernetes.protobuf`), which devcluster decodes;
//! the scale subresource, `rollout`, `create token` and `auth can-i` work as on a real cluster.

mod common;

use std::time::Duration;

use agentry_devcluster::{DevCluster, DevClusterOptions};
use common::{Kubectl, eventually};
use k8s_openapi::api::authentication::v1::TokenReview;
use k8s_openapi::api::authorization::v1::SelfSubjectAccessReview;
use kube::Api;
use kube::api::PostParams;
use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generators_create_builtin_objects_sent_as_protobuf() {
    let cluster = DevCluster::start().await.expect("devcluster starts");
    let kubectl = Kubectl::new(cluster.kubeconfig_path());

    let out = kubectl.ok(&["create", "namespace", "quick"]).await;
    assert_eq!(out.trim(), "namespace/quick created");
    let ns = get_json(&kubectl, &["namespace", "quick"]).await;
    assert_eq!(ns["status"]["phase"], "Active", "{ns}");
    assert_eq!(ns["spec"]["finalizers"], json!(["kubernetes"]), "{ns}");

    let out =
        kubectl.ok(&["create", "secret", "generic", "creds", "-n", "quick", "--from-literal=k=v"]).await;
    assert_eq!(out.trim(), "secret/creds created");
    let secret = get_json(&kubectl, &["secret", "creds", "-n", "quick"]).await;
    assert_eq!((&secret["data"], &secret["type"]), (&json!({"k": "dg=="}), &json!("Opaque")), "{secret}");

    let out =
        kubectl.ok(&["create", "configmap", "settings", "-n", "quick", "--from-literal=mode=fast"]).await;
    assert_eq!(out.trim(), "configmap/settings created");
    let cm = get_json(&kubectl, &["configmap", "settings", "-n", "quick"]).await;
    assert_eq!(cm["data"], json!({"mode": "fast"}), "{cm}");

    let out = kubectl.ok(&["create", "serviceaccount", "bot", "-n", "quick"]).await;
    assert_eq!(out.trim(), "serviceaccount/bot created");

    let out = kubectl
        .ok(&[
            "create",
            "deployment",
            "web",
            "-n",
            "quick",
            "--image=nginx:1.27",
            "--replicas=2",
            "--port=80",
            "--",
            "sleep",
            "10",
        ])
        .await;
    assert_eq!(out.trim(), "deployment.apps/web created");
    let deployment = get_json(&kubectl, &["deployment", "web", "-n", "quick"]).await;
    let spec = &deployment["spec"];
    assert_eq!(spec["replicas"], 2, "{deployment}");
    assert_eq!(spec["selector"], json!({"matchLabels": {"app": "web"}}), "{deployment}");
    let container = &spec["template"]["spec"]["containers"][0];
    assert_eq!(container["image"], "nginx:1.27", "{deployment}");
    assert_eq!(container["command"], json!(["sleep", "10"]), "{deployment}");
    assert_eq!(container["ports"][0]["containerPort"], 80, "{deployment}");
    assert_eq!(deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "1");

    let out = kubectl.ok(&["create", "service", "clusterip", "web", "-n", "quick", "--tcp=80:8080"]).await;
    assert_eq!(out.trim(), "service/web created");
    let service = get_json(&kubectl, &["service", "web", "-n", "quick"]).await;
    assert_eq!(service["spec"]["ports"][0]["targetPort"], 8080, "{service}");
    assert_eq!(service["spec"]["selector"], json!({"app": "web"}), "{service}");

    token_and_can_i(&cluster, &kubectl).await;
    cluster.shutdown().await;
}

/// `kubectl create token` issues a token TokenReview accepts; `kubectl auth can-i` answers; a
/// SelfSubjectAccessReview with that token answers for the ServiceAccount, before and after
/// `kubectl create role|rolebinding`.
async fn token_and_can_i(cluster: &DevCluster, kubectl: &Kubectl) {
    let token = kubectl.ok(&["create", "token", "bot", "-n", "quick", "--duration=20m"]).await;
    let token = token.trim();
    assert_eq!(token.split('.').count(), 3, "not a JWT: {token}");
    let review: TokenReview =
        serde_json::from_value(json!({"spec": {"token": token}})).expect("token review");
    let reviewed = Api::<TokenReview>::all(cluster.client())
        .create(&PostParams::default(), &review)
        .await
        .expect("token review answered");
    let user = reviewed.status.and_then(|s| s.user).and_then(|u| u.username).unwrap_or_default();
    assert_eq!(user, "system:serviceaccount:quick:bot");

    // kubectl sends no credentials over plain HTTP: devcluster serves it as the admin.
    assert_eq!(kubectl.ok(&["auth", "can-i", "delete", "pods", "-n", "quick"]).await.trim(), "yes");
    assert!(!can_i(cluster, token, "quick").await, "the ServiceAccount may not read pods yet");

    kubectl.ok(&["create", "role", "pod-reader", "-n", "quick", "--verb=get,list", "--resource=pods"]).await;
    let out = kubectl
        .ok(&[
            "create",
            "rolebinding",
            "bot-reads",
            "-n",
            "quick",
            "--role=pod-reader",
            "--serviceaccount=quick:bot",
        ])
        .await;
    assert_eq!(out.trim(), "rolebinding.rbac.authorization.k8s.io/bot-reads created");
    assert!(can_i(cluster, token, "quick").await, "the RoleBinding lets the ServiceAccount read pods");
    assert!(!can_i(cluster, token, "default").await, "only in its namespace");
}

/// A SelfSubjectAccessReview presented with `token` (kube-rs sends it over HTTP): may its user
/// get pods in `namespace`?
async fn can_i(cluster: &DevCluster, token: &str, namespace: &str) -> bool {
    let mut config = kube::Config::new(cluster.url().parse().expect("url"));
    config.auth_info.token = Some(token.to_owned().into());
    let client = kube::Client::try_from(config).expect("client");
    let review: SelfSubjectAccessReview = serde_json::from_value(json!({"spec": {"resourceAttributes":
        {"namespace": namespace, "verb": "get", "resource": "pods"}}}))
    .expect("review");
    let answer = Api::<SelfSubjectAccessReview>::all(client)
        .create(&PostParams::default(), &review)
        .await
        .expect("review answered");
    answer.status.is_some_and(|s| s.allowed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_and_rollout_work_on_deployments_and_custom_resources() {
    let options = DevClusterOptions {
        runner_binary: Some(env!("CARGO_BIN_EXE_fake-runner").into()),
        ..Default::default()
    };
    let cluster = DevCluster::start_with(options).await.expect("devcluster starts");
    let kubectl = Kubectl::new(cluster.kubeconfig_path());
    kubectl.ok(&["create", "deployment", "runner", "--image=example.com/agentry-runner:dev"]).await;
    let out = kubectl.ok(&["rollout", "status", "deployment/runner", "--timeout=60s"]).await;
    assert!(out.contains("deployment \"runner\" successfully rolled out"), "{out}");

    let out = kubectl.ok(&["scale", "deployment", "runner", "--replicas=2"]).await;
    assert_eq!(out.trim(), "deployment.apps/runner scaled");
    let scale = get_raw(&kubectl, "/apis/apps/v1/namespaces/default/deployments/runner/scale").await;
    assert_eq!((&scale["kind"], &scale["spec"]["replicas"]), (&json!("Scale"), &json!(2)), "{scale}");
    assert_eq!(scale["status"]["selector"], "app=runner", "{scale}");
    kubectl.ok(&["rollout", "status", "deployment/runner", "--timeout=60s"]).await;
    eventually("two ready runner pods", DEADLINE, || async {
        let scale = get_raw(&kubectl, "/apis/apps/v1/namespaces/default/deployments/runner/scale").await;
        (scale["status"]["replicas"] == 2).then_some(())
    })
    .await;
    // A precondition on the current replicas that does not hold is refused.
    let stale = kubectl.run(&["scale", "deployment", "runner", "--current-replicas=5", "--replicas=1"]).await;
    assert!(!stale.success && stale.stderr.contains("Expected replicas to be 5, was 2"), "{}", stale.stderr);

    let out = kubectl.ok(&["rollout", "restart", "deployment/runner"]).await;
    assert_eq!(out.trim(), "deployment.apps/runner restarted");
    let deployment = get_json(&kubectl, &["deployment", "runner"]).await;
    assert_eq!(deployment["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "2");
    let restarted =
        &deployment["spec"]["template"]["metadata"]["annotations"]["kubectl.kubernetes.io/restartedAt"];
    assert!(restarted.is_string(), "{deployment}");
    let out = kubectl.ok(&["rollout", "status", "deployment/runner", "--timeout=60s"]).await;
    assert!(out.contains("successfully rolled out"), "{out}");

    custom_resource_scales(&kubectl).await;
    cluster.shutdown().await;
}

/// A CRD with `subresources.scale`: `kubectl scale` writes `specReplicasPath`; the Scale reads
/// `statusReplicasPath` and `labelSelectorPath`.
async fn custom_resource_scales(kubectl: &Kubectl) {
    let manifest = std::env::temp_dir().join(format!("devcluster-scale-{}.yaml", uuid::Uuid::new_v4()));
    std::fs::write(&manifest, WIDGET_CRD).expect("temp manifest");
    kubectl.ok(&["apply", "-f", manifest.to_str().unwrap_or_default()]).await;
    let _ = std::fs::remove_file(&manifest);
    kubectl.ok(&["wait", "--for", "condition=Established", "--timeout=30s", "crd/widgets.example.dev"]).await;
    let widget = std::env::temp_dir().join(format!("devcluster-widget-{}.yaml", uuid::Uuid::new_v4()));
    std::fs::write(&widget, WIDGET).expect("temp manifest");
    eventually("the widget to be created", DEADLINE, || async {
        kubectl.run(&["apply", "-f", widget.to_str().unwrap_or_default()]).await.success.then_some(())
    })
    .await;
    let _ = std::fs::remove_file(&widget);
    let status = r#"{"status": {"size": 1, "selector": "app=w"}}"#;
    kubectl.ok(&["patch", "widget", "w", "--subresource=status", "--type=merge", "-p", status]).await;
    let out = kubectl.ok(&["scale", "widget", "w", "--replicas=3"]).await;
    assert_eq!(out.trim(), "widget.example.dev/w scaled");
    let replicas = kubectl.ok(&["get", "widget", "w", "-o", "jsonpath={.spec.size}"]).await;
    assert_eq!(replicas, "3");
    let scale = get_raw(kubectl, "/apis/example.dev/v1/namespaces/default/widgets/w/scale").await;
    assert_eq!(scale["status"], json!({"replicas": 1, "selector": "app=w"}), "{scale}");
    assert_eq!(scale["spec"]["replicas"], 3, "{scale}");
}

const WIDGET_CRD: &str = r#"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: widgets.example.dev}
spec:
  group: example.dev
  scope: Namespaced
  names: {plural: widgets, singular: widget, kind: Widget}
  versions:
  - name: v1
    served: true
    storage: true
    subresources:
      status: {}
      scale: {specReplicasPath: .spec.size, statusReplicasPath: .status.size, labelSelectorPath: .status.selector}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, properties: {size: {type: integer}}}
          status: {type: object, properties: {size: {type: integer}, selector: {type: string}}}
"#;

const WIDGET: &str = r#"
apiVersion: example.dev/v1
kind: Widget
metadata: {name: w, namespace: default}
spec: {size: 1}
"#;

async fn get_json(kubectl: &Kubectl, args: &[&str]) -> Value {
    let mut full = vec!["get"];
    full.extend_from_slice(args);
    full.extend_from_slice(&["-o", "json"]);
    serde_json::from_str(&kubectl.ok(&full).await).expect("kubectl prints JSON")
}

async fn get_raw(kubectl: &Kubectl, path: &str) -> Value {
    serde_json::from_str(&kubectl.ok(&["get", "--raw", path]).await).expect("kubectl prints JSON")
}
