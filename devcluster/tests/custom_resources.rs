//! CustomResourceDefinitions and their objects, checked against apiextensions-apiserver
//! (https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/).

mod common;

use std::time::Duration;

use agentry_devcluster::DevCluster;
use common::eventually;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::response::Status;
use serde_json::{Value, json};

fn refused<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> Status {
    match result {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

fn widget_crd() -> CustomResourceDefinition {
    serde_json::from_value(json!({
        "metadata": {"name": "widgets.example.dev"},
        "spec": {
            "group": "example.dev",
            "scope": "Namespaced",
            "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wg"]},
            "versions": [{
                "name": "v1", "served": true, "storage": true,
                "subresources": {"status": {}},
                "schema": {"openAPIV3Schema": {"type": "object", "properties": {
                    "spec": {"type": "object", "required": ["size"], "properties": {
                        "size": {"type": "integer", "minimum": 1},
                        "colour": {"type": "string", "default": "blue"},
                    }},
                    "status": {"type": "object", "properties": {"phase": {"type": "string"}}},
                }}},
            }],
        },
    }))
    .expect("crd")
}

/// Install the Widget CRD and wait until it is Established.
pub async fn widgets(cluster: &DevCluster) -> Api<DynamicObject> {
    let crds: Api<CustomResourceDefinition> = Api::all(cluster.client());
    crds.create(&PostParams::default(), &widget_crd()).await.expect("crd created");
    // The apiextensions controllers set NamesAccepted and Established once the names are free.
    eventually("the CRD to be established", Duration::from_secs(10), || async {
        let crd = crds.get("widgets.example.dev").await.ok()?;
        let conditions = crd.status?.conditions?;
        let holds = |t: &str| conditions.iter().any(|c| c.type_ == t && c.status == "True");
        (holds("Established") && holds("NamesAccepted")).then_some(())
    })
    .await;
    let resource = ApiResource {
        group: "example.dev".into(),
        version: "v1".into(),
        api_version: "example.dev/v1".into(),
        kind: "Widget".into(),
        plural: "widgets".into(),
    };
    Api::namespaced_with(cluster.client(), "default", &resource)
}

fn widget(name: &str, spec: Value) -> DynamicObject {
    serde_json::from_value(
        json!({"apiVersion": "example.dev/v1", "kind": "Widget", "metadata": {"name": name}, "spec": spec}),
    )
    .expect("widget")
}

#[tokio::test]
async fn objects_are_validated_pruned_and_defaulted() {
    let cluster = DevCluster::start().await.expect("devcluster starts");
    let api = widgets(&cluster).await;

    // Unknown fields are pruned, defaults applied (structural schema pruning and defaulting).
    let created = api
        .create(&PostParams::default(), &widget("w", json!({"size": 2, "extra": true})))
        .await
        .expect("created");
    assert_eq!(created.data["spec"], json!({"size": 2, "colour": "blue"}));

    // A refusal is 422 Invalid: message `<Kind>.<group> "<name>" is invalid: <field>: ...`,
    // `details.causes` naming each field.
    let status = refused(api.create(&PostParams::default(), &widget("bad", json!({"size": 0}))).await);
    assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
    assert_eq!(
        status.message,
        "Widget.example.dev \"bad\" is invalid: spec.size: Invalid value: 0: spec.size in body should be greater than or equal to 1"
    );
    let causes = status.details.expect("details").causes;
    assert_eq!(causes[0].field, "spec.size");
    assert_eq!(causes[0].reason, "FieldValueInvalid");
    let status = refused(api.create(&PostParams::default(), &widget("bad", json!({}))).await);
    assert!(status.message.contains("spec.size: Required value"), "{}", status.message);
}

#[tokio::test]
async fn status_subresource_and_generation() {
    let cluster = DevCluster::start().await.expect("devcluster starts");
    let api = widgets(&cluster).await;
    let mut object = widget("w", json!({"size": 1}));
    object.data["status"] = json!({"phase": "Ignored"});
    // With the status subresource, create ignores status; generation starts at 1.
    let created = api.create(&PostParams::default(), &object).await.expect("created");
    assert!(created.data.get("status").is_none(), "{:?}", created.data);
    assert_eq!(created.metadata.generation, Some(1));

    // Main-resource writes ignore status; a spec change bumps generation.
    let patched = api
        .patch(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 3}, "status": {"phase": "Nope"}})),
        )
        .await
        .expect("spec patch");
    assert_eq!(patched.metadata.generation, Some(2));
    assert!(patched.data.get("status").is_none());

    // Metadata changes do not bump generation.
    let labelled = api
        .patch("w", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"labels": {"x": "y"}}})))
        .await
        .expect("label patch");
    assert_eq!(labelled.metadata.generation, Some(2));

    // /status writes change only status, and do not bump generation.
    let status = api
        .patch_status(
            "w",
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"size": 9}, "status": {"phase": "Ready"}})),
        )
        .await
        .expect("status patch");
    assert_eq!(status.data["status"]["phase"], "Ready");
    assert_eq!(status.data["spec"]["size"], 3);
    assert_eq!(status.metadata.generation, Some(2));

    // Server-side apply works on /status too, with its own manager entry (subresource "status").
    // The merge patch above made its manager the owner of status.phase, so a different value
    // conflicts unless forced, as controllers do.
    let apply = |force: bool| {
        let params = PatchParams::apply("status-writer");
        if force { params.force() } else { params }
    };
    let body = json!({"apiVersion": "example.dev/v1", "kind": "Widget", "metadata": {"name": "w"}, "status": {"phase": "Done"}});
    let status = refused(api.patch_status("w", &apply(false), &Patch::Apply(body.clone())).await);
    assert_eq!(status.code, 409);
    let applied = api.patch_status("w", &apply(true), &Patch::Apply(body)).await.expect("status apply");
    assert_eq!(applied.data["status"]["phase"], "Done");
    let entry = applied
        .metadata
        .managed_fields
        .iter()
        .flatten()
        .find(|m| m.manager.as_deref() == Some("status-writer"));
    assert_eq!(entry.and_then(|e| e.subresource.clone()).as_deref(), Some("status"));
}

#[tokio::test]
async fn deleting_the_crd_stops_serving_it() {
    let cluster = DevCluster::start().await.expect("devcluster starts");
    let api = widgets(&cluster).await;
    api.create(&PostParams::default(), &widget("w", json!({"size": 1}))).await.expect("created");
    let crds: Api<CustomResourceDefinition> = Api::all(cluster.client());
    crds.delete("widgets.example.dev", &Default::default()).await.expect("crd deleted");
    // Once the CRD is gone its resource path is no longer served: 404.
    assert_eq!(refused(api.list(&Default::default()).await).code, 404);
}
