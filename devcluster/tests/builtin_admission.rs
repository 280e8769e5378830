//! Built-in kinds are validated and defaulted as kube-apiserver does it, and namespaces are
//! deleted through `Terminating` by a namespace controller, checked with the real kubectl (v1.32).
//! The refusals are worded as kube-apiserver's validation words them.

mod common;

use std::time::Duration;

use agentry_devcluster::DevCluster;
use common::{Kubectl, eventually};
use serde_json::{Value, json};

const DEADLINE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn builtin_kinds_are_validated_defaulted_and_namespaces_terminate() {
    let cluster = DevCluster::start().await.expect("devcluster starts");
    let kubectl = Kubectl::new(cluster.kubeconfig_path());
    deployments_are_defaulted_and_keep_their_selector(&kubectl).await;
    invalid_objects_are_refused(&kubectl).await;
    immutable_config_maps_keep_their_data(&kubectl).await;
    namespaces_go_through_terminating(&kubectl).await;
    cluster.shutdown().await;
}

/// The defaults a Deployment gets from the apiserver; its selector cannot change.
async fn deployments_are_defaulted_and_keep_their_selector(kubectl: &Kubectl) {
    let (out, _) = apply(kubectl, &deployment("web", "web", "nginx")).await;
    assert!(out.success, "{}", out.stderr);
    let got: Value =
        serde_json::from_str(&kubectl.ok(&["get", "deployment", "web", "-o", "json"]).await).expect("json");
    let spec = &got["spec"];
    assert_eq!(
        spec["strategy"],
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"}})
    );
    assert_eq!((&spec["revisionHistoryLimit"], &spec["progressDeadlineSeconds"]), (&json!(10), &json!(600)));
    let pod = &spec["template"]["spec"];
    for (field, want) in [
        ("dnsPolicy", json!("ClusterFirst")),
        ("restartPolicy", json!("Always")),
        ("schedulerName", json!("default-scheduler")),
        ("securityContext", json!({})),
        ("terminationGracePeriodSeconds", json!(30)),
    ] {
        assert_eq!(pod[field], want, "{field}: {pod}");
    }
    let container = &pod["containers"][0];
    assert_eq!(container["imagePullPolicy"], "Always", "{container}");
    assert_eq!(container["terminationMessagePath"], "/dev/termination-log");
    assert_eq!(container["terminationMessagePolicy"], "File");
    let probe = &container["readinessProbe"];
    assert_eq!(
        (
            &probe["httpGet"]["scheme"],
            &probe["timeoutSeconds"],
            &probe["periodSeconds"],
            &probe["successThreshold"],
            &probe["failureThreshold"]
        ),
        (&json!("HTTP"), &json!(1), &json!(10), &json!(1), &json!(3)),
        "{probe}"
    );
    assert_eq!(container["env"][0]["valueFrom"]["fieldRef"]["apiVersion"], "v1");
    assert_eq!(pod["volumes"][0]["configMap"]["defaultMode"], 420);
    assert_eq!(got["metadata"]["annotations"]["deployment.kubernetes.io/revision"], "1");

    let (out, _) = apply(kubectl, &deployment("web", "other", "nginx")).await;
    assert!(!out.success, "selector change accepted");
    assert_eq!(
        out.stderr.trim_end(),
        "The Deployment \"web\" is invalid: spec.selector: Invalid value: \
         v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"other\"}, \
         MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable"
    );
}

/// A container without an image, an invalid label value, an invalid data key, bad base64.
async fn invalid_objects_are_refused(kubectl: &Kubectl) {
    let (out, _) = apply(kubectl, &deployment("imageless", "imageless", "")).await;
    assert_eq!(
        out.stderr.trim_end(),
        "The Deployment \"imageless\" is invalid: spec.template.spec.containers[0].image: Required value"
    );
    let labelled = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "labelled", "labels": {"tier": "bad value!"}}});
    let (out, _) = apply(kubectl, &labelled).await;
    assert_eq!(
        out.stderr.trim_end(),
        "The ConfigMap \"labelled\" is invalid: metadata.labels: Invalid value: \"bad value!\": a valid label \
         must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end \
         with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation \
         is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
    );
    let keyed = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "keyed"}, "data": {"bad key": "v"}});
    let (out, _) = apply(kubectl, &keyed).await;
    assert_eq!(
        out.stderr.trim_end(),
        "The ConfigMap \"keyed\" is invalid: data[bad key]: Invalid value: \"bad key\": a valid config key must \
         consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', \
         regex used for validation is '[-._a-zA-Z0-9]+')"
    );
    let secret = json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s"}, "data": {"k": "not base64!"}});
    let (out, file) = apply(kubectl, &secret).await;
    assert_eq!(
        out.stderr.trim_end(),
        format!(
            "Error from server (BadRequest): error when creating \"{file}\": Secret in version \"v1\" cannot be \
             handled as a Secret: illegal base64 data at input byte 3"
        )
    );
}

/// An immutable ConfigMap refuses changes to its data and to `immutable`.
async fn immutable_config_maps_keep_their_data(kubectl: &Kubectl) {
    let frozen = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "frozen"},
        "immutable": true, "data": {"a": "1"}});
    let (out, _) = apply(kubectl, &frozen).await;
    assert!(out.success, "{}", out.stderr);
    let out =
        kubectl.run(&["patch", "configmap", "frozen", "--type=merge", "-p", r#"{"data":{"a":"2"}}"#]).await;
    assert_eq!(
        out.stderr.trim_end(),
        "The ConfigMap \"frozen\" is invalid: data: Forbidden: field is immutable when `immutable` is set"
    );
}

/// Deleting a namespace leaves it `Terminating` while content with a finalizer remains, with the
/// namespace controller's conditions; once the finalizer goes, the content and namespace go.
async fn namespaces_go_through_terminating(kubectl: &Kubectl) {
    kubectl.ok(&["create", "namespace", "doomed"]).await;
    let held = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "held", "namespace": "doomed", "finalizers": ["example.com/hold"]}});
    let (out, _) = apply(kubectl, &held).await;
    assert!(out.success, "{}", out.stderr);
    kubectl.ok(&["create", "configmap", "plain", "-n", "doomed"]).await;
    kubectl.ok(&["delete", "namespace", "doomed", "--wait=false"]).await;

    let ns = eventually("the namespace to report its remaining content", DEADLINE, || async {
        let out = kubectl.run(&["get", "namespace", "doomed", "-o", "json"]).await;
        let ns: Value = serde_json::from_str(&out.stdout).ok()?;
        let plain_gone = !kubectl.run(&["get", "configmap", "plain", "-n", "doomed"]).await.success;
        (plain_gone && ns["status"]["conditions"].is_array()).then_some(ns)
    })
    .await;
    assert_eq!(ns["status"]["phase"], "Terminating", "{ns}");
    assert_eq!(ns["spec"]["finalizers"], json!(["kubernetes"]), "{ns}");
    let conditions = ns["status"]["conditions"].as_array().cloned().unwrap_or_default();
    let remaining =
        conditions.iter().find(|c| c["type"] == "NamespaceFinalizersRemaining").cloned().unwrap_or_default();
    assert_eq!(remaining["status"], "True", "{ns}");
    assert_eq!(
        remaining["message"],
        "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"
    );

    kubectl
        .ok(&[
            "patch",
            "configmap",
            "held",
            "-n",
            "doomed",
            "--type=merge",
            "-p",
            r#"{"metadata":{"finalizers":null}}"#,
        ])
        .await;
    eventually("the namespace to go", DEADLINE, || async {
        let out = kubectl.run(&["get", "namespace", "doomed"]).await;
        (!out.success && out.stderr.contains("NotFound")).then_some(())
    })
    .await;
}

/// A Deployment `name` selecting `app: <app>`, with a probe, a fieldRef and a ConfigMap volume.
fn deployment(name: &str, app: &str, image: &str) -> Value {
    let mut container = json!({"name": "main",
        "readinessProbe": {"httpGet": {"path": "/readyz", "port": 8080}},
        "env": [{"name": "POD", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
        "volumeMounts": [{"name": "config", "mountPath": "/etc/config"}]});
    if !image.is_empty() {
        container["image"] = json!(image);
    }
    json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
        "spec": {"selector": {"matchLabels": {"app": app}},
            "template": {"metadata": {"labels": {"app": app}},
                "spec": {"containers": [container], "volumes": [{"name": "config", "configMap": {"name": "settings"}}]}}}})
}

/// `kubectl apply -f` of `object` from a temporary file; the output and the file's path.
async fn apply(kubectl: &Kubectl, object: &Value) -> (common::Output, String) {
    let file = std::env::temp_dir().join(format!("devcluster-admission-{}.json", uuid::Uuid::new_v4()));
    std::fs::write(&file, object.to_string()).expect("temp manifest");
    let path = file.to_str().unwrap_or_default().to_owned();
    let out = kubectl.run(&["apply", "-f", &path]).await;
    let _ = std::fs::remove_file(&file);
    (out, path)
}
