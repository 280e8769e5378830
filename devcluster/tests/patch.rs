//! PATCH in its four forms, checked against kube-apiserver's behaviour
//! (https://kubernetes.io/docs/tasks/manage-kubernetes-objects/update-api-object-kubectl-patch/,
//! https://kubernetes.io/docs/reference/using-api/server-side-apply/).

mod common;

use agentry_devcluster::DevCluster;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use kube::core::response::Status;
use serde_json::{Value, json};

fn refused<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> Status {
    match result {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

async fn cm(api: &Api<ConfigMap>, name: &str, data: Value) -> ConfigMap {
    let cm: ConfigMap =
        serde_json::from_value(json!({"metadata": {"name": name}, "data": data})).expect("cm");
    api.create(&PostParams::default(), &cm).await.expect("created")
}

#[tokio::test]
async fn merge_and_json_patches() {
    let cluster = DevCluster::start().await.expect("devcluster starts");
    let api: Api<ConfigMap> = Api::namespaced(cluster.client(), "default");
    cm(&api, "cm", json!({"a": "1", "b": "2"})).await;

    // JSON merge patch (RFC 7386): null removes a key, other keys merge.
    let patched = api
        .patch("cm", &PatchParams::default(), &Patch::Merge(json!({"data": {"a": null, "c": "3"}})))
        .await
        .expect("merge patch");
    assert_eq!(serde_json::to_value(patched.data).expect("json"), json!({"b": "2", "c": "3"}));

    // JSON patch (RFC 6902) with a passing `test` op applies; a failing `test` refuses the whole
    // patch with 422 (kube's finalizer helper relies on this to avoid lost updates).
    let ops: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/data/b", "value": "2"},
        {"op": "replace", "path": "/data/b", "value": "20"},
    ]))
    .expect("patch");
    let patched =
        api.patch("cm", &PatchParams::default(), &Patch::<()>::Json(ops)).await.expect("json patch");
    assert_eq!(patched.data.unwrap_or_default()["b"], "20");
    let failing: json_patch::Patch = serde_json::from_value(json!([
        {"op": "test", "path": "/data/b", "value": "2"},
        {"op": "remove", "path": "/data/b"},
    ]))
    .expect("patch");
    let status = refused(api.patch("cm", &PatchParams::default(), &Patch::<()>::Json(failing)).await);
    assert_eq!(status.code, 422);
    assert_eq!(api.get("cm").await.expect("get").data.unwrap_or_default()["b"], "20");

    // A merge patch carrying a stale resourceVersion is a precondition: 409 Conflict.
    let stale = json!({"metadata": {"resourceVersion": "1"}, "data": {"x": "y"}});
    assert_eq!(refused(api.patch("cm", &PatchParams::default(), &Patch::Merge(stale)).await).code, 409);
}

#[tokio::test]
async fn strategic_merge_patch_merges_lists_by_key() {
    let cluster = DevCluster::start().await.expect("devcluster starts");
    let api: Api<Deployment> = Api::namespaced(cluster.client(), "default");
    let deployment: Deployment = serde_json::from_value(json!({
        "metadata": {"name": "web"},
        "spec": {
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {
                    "containers": [
                        {"name": "app", "image": "app:1", "env": [{"name": "A", "value": "1"}],
                         "ports": [{"containerPort": 8080}], "volumeMounts": [{"name": "cfg", "mountPath": "/etc/cfg"}]},
                        {"name": "sidecar", "image": "sidecar:1"},
                    ],
                    "volumes": [{"name": "cfg", "configMap": {"name": "cfg"}}],
                },
            },
        },
    }))
    .expect("deployment");
    let created = api.create(&PostParams::default(), &deployment).await.expect("created");
    // Defaults of the apps/v1 Deployment: one replica, generation 1.
    assert_eq!(created.spec.as_ref().and_then(|s| s.replicas), Some(1));
    assert_eq!(created.metadata.generation, Some(1));

    // containers merge by name, env by name, ports by containerPort, volumes by name; `$patch:
    // delete` removes an item; the other container is untouched.
    let patch = json!({"spec": {"template": {"spec": {
        "containers": [{"name": "app", "image": "app:2",
                        "env": [{"name": "B", "value": "2"}],
                        "ports": [{"containerPort": 9090}]},
                       {"name": "sidecar", "$patch": "delete"}],
        "volumes": [{"name": "extra", "emptyDir": {}}],
    }}}});
    let patched =
        api.patch("web", &PatchParams::default(), &Patch::Strategic(patch)).await.expect("strategic patch");
    let spec = serde_json::to_value(patched.spec.expect("spec")).expect("json");
    let containers = &spec["template"]["spec"]["containers"];
    assert_eq!(containers.as_array().map(Vec::len), Some(1), "{containers}");
    assert_eq!(containers[0]["image"], "app:2");
    // Without `$setElementOrder`, apimachinery's strategicpatch puts the patch's items in the
    // patch's order and interleaves the live ones by their live order: a new item, unknown to the
    // live list, goes before the live items the patch does not name.
    assert_eq!(containers[0]["env"], json!([{"name": "B", "value": "2"}, {"name": "A", "value": "1"}]));
    let ports: Vec<i64> = containers[0]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["containerPort"].as_i64())
        .collect();
    assert_eq!(ports, [9090, 8080]);
    assert_eq!(containers[0]["volumeMounts"][0]["mountPath"], "/etc/cfg");
    let volumes: Vec<&str> = spec["template"]["spec"]["volumes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v["name"].as_str())
        .collect();
    assert_eq!(volumes, ["extra", "cfg"]);
    // A spec change bumps metadata.generation.
    assert_eq!(patched.metadata.generation, Some(2));
}

#[tokio::test]
async fn server_side_apply_tracks_field_managers() {
    let cluster = DevCluster::start().await.expect("devcluster starts");
    let api: Api<ConfigMap> = Api::namespaced(cluster.client(), "default");
    let config = |data: Value| json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": data});
    let managers = |cm: &ConfigMap| -> Vec<(String, String)> {
        cm.metadata
            .managed_fields
            .iter()
            .flatten()
            .map(|m| (m.manager.clone().unwrap_or_default(), m.operation.clone().unwrap_or_default()))
            .collect()
    };

    // Apply creates the object when absent, recording the manager's Apply entry.
    let created = api
        .patch("cfg", &PatchParams::apply("alpha"), &Patch::Apply(config(json!({"a": "1", "b": "2"}))))
        .await
        .expect("apply creates");
    assert_eq!(managers(&created), [("alpha".to_owned(), "Apply".to_owned())]);

    // A field the manager stops applying is removed (it owned it alone).
    let applied = api
        .patch("cfg", &PatchParams::apply("alpha"), &Patch::Apply(config(json!({"a": "1"}))))
        .await
        .expect("apply again");
    assert_eq!(serde_json::to_value(applied.data).expect("json"), json!({"a": "1"}));

    // Another manager changing an owned field conflicts: 409 naming the owner and the field.
    let status = refused(
        api.patch("cfg", &PatchParams::apply("beta"), &Patch::Apply(config(json!({"a": "9"})))).await,
    );
    assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
    assert_eq!(status.message, "Apply failed with 1 conflict: conflict with \"alpha\" using v1: .data.a");

    // Applying the same value is no conflict: the field becomes shared.
    api.patch("cfg", &PatchParams::apply("beta"), &Patch::Apply(config(json!({"a": "1"}))))
        .await
        .expect("shared");
    // Now alpha stops applying `a`: beta still owns it, so it stays.
    let kept = api
        .patch("cfg", &PatchParams::apply("alpha"), &Patch::Apply(config(json!({"z": "26"}))))
        .await
        .expect("alpha drops a");
    assert_eq!(serde_json::to_value(kept.data).expect("json"), json!({"a": "1", "z": "26"}));

    // force=true takes ownership from the other manager.
    let forced = api
        .patch("cfg", &PatchParams::apply("gamma").force(), &Patch::Apply(config(json!({"z": "0"}))))
        .await
        .expect("forced apply");
    assert_eq!(forced.data.unwrap_or_default()["z"], "0");
    let alpha_fields =
        forced.metadata.managed_fields.iter().flatten().find(|m| m.manager.as_deref() == Some("alpha"));
    assert!(alpha_fields.is_none(), "alpha owned only z, now gamma's: {:?}", forced.metadata.managed_fields);

    // A non-apply update takes ownership of what it changes ("Update" entry for its manager).
    let updated = api
        .patch(
            "cfg",
            &PatchParams { field_manager: Some("editor".into()), ..Default::default() },
            &Patch::Merge(json!({"data": {"a": "2"}})),
        )
        .await
        .expect("merge");
    assert!(managers(&updated).contains(&("editor".to_owned(), "Update".to_owned())));

    // Apply requires a field manager.
    let status = refused(api.patch("cfg", &PatchParams::default(), &Patch::Apply(config(json!({})))).await);
    assert_eq!(status.code, 400);
}

/// Bodies and patches that would leave something other than an object (or an object whose
/// `metadata` is not one) are refused with 400, as the apiserver's decoder refuses them, and the
/// server keeps serving.
#[tokio::test]
async fn bodies_and_patches_that_are_not_objects_are_refused() {
    let cluster = DevCluster::start().await.expect("devcluster starts");
    let api: Api<ConfigMap> = Api::namespaced(cluster.client(), "default");
    cm(&api, "shape", json!({"a": "1"})).await;
    let merge = PatchParams::default();
    let status = refused(api.patch("shape", &merge, &Patch::Merge(json!({"metadata": [1]}))).await);
    assert_eq!(status.code, 400);
    assert_eq!(
        status.message,
        r#"ConfigMap in version "v1" cannot be handled as a ConfigMap: json: cannot unmarshal array into Go struct field ConfigMap.metadata of type v1.ObjectMeta"#
    );
    let status = refused(api.patch("shape", &merge, &Patch::Merge(json!(5))).await);
    assert_eq!(status.code, 400, "{}", status.message);
    let replace_all = json!([{"op": "replace", "path": "", "value": "text"}]);
    let patch: json_patch::Patch = serde_json::from_value(replace_all).expect("a JSON patch");
    assert_eq!(refused(api.patch("shape", &merge, &Patch::<()>::Json(patch)).await).code, 400);
    let applied = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": "shape"});
    let apply = PatchParams::apply("test");
    assert_eq!(refused(api.patch("shape", &apply, &Patch::Apply(&applied)).await).code, 400);
    let request = axum::http::Request::post("/api/v1/namespaces/default/configmaps")
        .header("content-type", "application/json")
        .body(b"[1, 2]".to_vec())
        .expect("request");
    let status = refused(cluster.client().request_text(request).await);
    assert_eq!(status.code, 400);
    assert!(
        status
            .message
            .starts_with("couldn't get version/kind; json parse error: json: cannot unmarshal array")
    );
    // Still serving, the object unchanged.
    assert_eq!(
        api.get("shape").await.expect("still there").data.and_then(|d| d.get("a").cloned()),
        Some("1".into())
    );
    cluster.shutdown().await;
}
