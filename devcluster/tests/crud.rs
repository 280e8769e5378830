//! Create, read, list, update and delete through kube-rs, checked against what kube-apiserver
//! does (https://kubernetes.io/docs/reference/using-api/api-concepts/).

mod common;

use std::collections::BTreeMap;
use std::time::Duration;

use agentry_devcluster::{DevCluster, Permission, ReviewPolicy, UserInfo};
use common::eventually;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams, PostParams};
use kube::core::response::Status;
use serde_json::json;

fn config_map(name: &str, labels: &[(&str, &str)]) -> ConfigMap {
    serde_json::from_value(json!({
        "metadata": {"name": name, "labels": labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect::<BTreeMap<_, _>>()},
        "data": {"k": "v"},
    }))
    .expect("config map")
}

/// The `Status` of a refused request.
pub fn refused<T: std::fmt::Debug>(result: Result<T, kube::Error>) -> Status {
    match result {
        Err(kube::Error::Api(status)) => *status,
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn create_fills_server_fields_and_generates_names() {
    let cluster = DevCluster::start().await.expect("devcluster starts");
    let api: Api<ConfigMap> = Api::namespaced(cluster.client(), "default");

    // The server sets uid, creationTimestamp and resourceVersion; generateName gets a random
    // 5-character suffix (metadata.generateName, API conventions "Idempotency").
    let mut cm = config_map("", &[]);
    cm.metadata.generate_name = Some("settings-".into());
    let created = api.create(&PostParams::default(), &cm).await.expect("created");
    let name = created.metadata.name.clone().unwrap_or_default();
    assert!(name.starts_with("settings-") && name.len() == "settings-".len() + 5, "{name}");
    assert!(created.metadata.uid.is_some() && created.metadata.creation_timestamp.is_some());
    assert!(created.metadata.resource_version.is_some());

    // Creating an existing name is 409 AlreadyExists; reading a missing one 404 NotFound.
    let status = refused(api.create(&PostParams::default(), &created).await);
    assert_eq!((status.code, status.reason.as_str()), (409, "AlreadyExists"));
    assert_eq!(status.message, format!("configmaps \"{name}\" already exists"));
    let status = refused(api.get("missing").await);
    assert_eq!((status.code, status.reason.as_str()), (404, "NotFound"));
    assert_eq!(status.message, "configmaps \"missing\" not found");

    // A name must be a DNS subdomain: 422 Invalid naming metadata.name.
    let status = refused(api.create(&PostParams::default(), &config_map("Bad_Name", &[])).await);
    assert_eq!((status.code, status.reason.as_str()), (422, "Invalid"));
    assert!(
        status.message.starts_with("ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value"),
        "{}",
        status.message
    );

    // Objects can only be created in a namespace that exists (NamespaceLifecycle admission).
    let elsewhere: Api<ConfigMap> = Api::namespaced(cluster.client(), "nowhere");
    let status = refused(elsewhere.create(&PostParams::default(), &config_map("x", &[])).await);
    assert_eq!((status.code, status.message.as_str()), (404, "namespaces \"nowhere\" not found"));
}

#[tokio::test]
async fn list_selects_by_labels_and_fields_and_pages() {
    let cluster = DevCluster::start().await.expect("devcluster starts");
    let api: Api<ConfigMap> = Api::namespaced(cluster.client(), "default");
    for (name, labels) in [
        ("a1", vec![("app", "a"), ("tier", "web")]),
        ("a2", vec![("app", "a")]),
        ("b1", vec![("app", "b"), ("tier", "db")]),
        ("c1", vec![("app", "c")]),
        ("none", vec![]),
    ] {
        api.create(&PostParams::default(), &config_map(name, &labels)).await.expect("created");
    }
    let names = |lp: ListParams| {
        let api = api.clone();
        async move {
            let list = api.list(&lp).await.expect("listed");
            list.items.into_iter().filter_map(|c| c.metadata.name).collect::<Vec<_>>()
        }
    };
    // Equality- and set-based requirements; `!=` and `notin` also select objects without the label.
    assert_eq!(names(ListParams::default().labels("app=a")).await, ["a1", "a2"]);
    assert_eq!(names(ListParams::default().labels("app!=a")).await, ["b1", "c1", "none"]);
    assert_eq!(names(ListParams::default().labels("app in (a,b)")).await, ["a1", "a2", "b1"]);
    assert_eq!(names(ListParams::default().labels("app notin (a),tier")).await, ["b1"]);
    assert_eq!(names(ListParams::default().labels("!tier")).await, ["a2", "c1", "none"]);
    assert_eq!(names(ListParams::default().fields("metadata.name=b1")).await, ["b1"]);
    assert_eq!(
        names(ListParams::default().fields("metadata.namespace!=default")).await,
        Vec::<String>::new()
    );
    // A field not indexed for the kind is refused: "field label not supported".
    let status = refused(api.list(&ListParams::default().fields("data.k=v")).await);
    assert_eq!((status.code, status.message.as_str()), (400, "field label not supported: data.k"));

    // limit/continue: pages in key order, `continue` and `remainingItemCount` until the last page.
    let first = api.list(&ListParams::default().limit(2)).await.expect("page 1");
    assert_eq!(first.items.len(), 2);
    assert_eq!(first.metadata.remaining_item_count, Some(4 - 1));
    let mut all: Vec<String> = first.items.iter().filter_map(|c| c.metadata.name.clone()).collect();
    let mut token = first.metadata.continue_.clone();
    let mut pages = 1;
    while let Some(t) = token.filter(|t| !t.is_empty()) {
        // Five objects two to a page: three pages, so continue tokens that never end fail here.
        pages += 1;
        assert!(pages <= 3, "a page beyond the third after {all:?}");
        let page = api.list(&ListParams::default().limit(2).continue_token(&t)).await.expect("page");
        all.extend(page.items.iter().filter_map(|c| c.metadata.name.clone()));
        token = page.metadata.continue_;
    }
    assert_eq!(all, ["a1", "a2", "b1", "c1", "none"]);
}

#[tokio::test]
async fn updates_are_optimistically_concurrent() {
    let cluster = DevCluster::start().await.expect("devcluster starts");
    let api: Api<ConfigMap> = Api::namespaced(cluster.client(), "default");
    let created = api.create(&PostParams::default(), &config_map("cm", &[])).await.expect("created");

    // An update carrying the current resourceVersion succeeds and gets a new one.
    let mut first = created.clone();
    first.data = Some(BTreeMap::from([("k".into(), "first".into())]));
    let updated = api.replace("cm", &PostParams::default(), &first).await.expect("updated");
    assert_ne!(updated.metadata.resource_version, created.metadata.resource_version);

    // One carrying a stale resourceVersion is 409 Conflict with the apiserver's wording.
    let mut stale = created.clone();
    stale.data = Some(BTreeMap::from([("k".into(), "stale".into())]));
    let status = refused(api.replace("cm", &PostParams::default(), &stale).await);
    assert_eq!((status.code, status.reason.as_str()), (409, "Conflict"));
    assert_eq!(
        status.message,
        "Operation cannot be fulfilled on configmaps \"cm\": the object has been modified; please apply your changes to the latest version and try again"
    );

    // Without a resourceVersion the update is unconditional.
    stale.metadata.resource_version = None;
    let forced = api.replace("cm", &PostParams::default(), &stale).await.expect("unconditional update");
    assert_eq!(forced.data.unwrap_or_default()["k"], "stale");
    // The uid and creationTimestamp cannot be changed by an update.
    assert_eq!(forced.metadata.uid, created.metadata.uid);

    // An update that changes nothing is a no-op: the resourceVersion stays.
    let again =
        api.replace("cm", &PostParams::default(), &api.get("cm").await.expect("get")).await.expect("no-op");
    assert_eq!(again.metadata.resource_version, forced.metadata.resource_version);

    // Delete answers with a success Status; the object is gone.
    api.delete("cm", &DeleteParams::default()).await.expect("deleted");
    assert_eq!(refused(api.get("cm").await).code, 404);
}

#[tokio::test]
async fn namespaces_delete_their_contents() {
    let cluster = DevCluster::start().await.expect("devcluster starts");
    let namespaces: Api<Namespace> = Api::all(cluster.client());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "team"}})).expect("ns");
    let created = namespaces.create(&PostParams::default(), &ns).await.expect("namespace created");
    // The namespace controller's defaults: phase Active, the kubernetes finalizer, the name label.
    assert_eq!(created.status.and_then(|s| s.phase).as_deref(), Some("Active"));
    assert_eq!(created.metadata.labels.unwrap_or_default()["kubernetes.io/metadata.name"], "team");
    let api: Api<ConfigMap> = Api::namespaced(cluster.client(), "team");
    api.create(&PostParams::default(), &config_map("cm", &[])).await.expect("created");

    // Deleting a namespace marks it Terminating (the answer is the namespace); the namespace
    // controller deletes everything in it, takes out the `kubernetes` finalizer, then it goes.
    let deleting = namespaces.delete("team", &DeleteParams::default()).await.expect("deleting");
    let marked = deleting.left().expect("a terminating namespace is answered with itself");
    assert_eq!(marked.status.and_then(|s| s.phase).as_deref(), Some("Terminating"));
    assert_eq!(marked.spec.and_then(|s| s.finalizers), Some(vec!["kubernetes".to_owned()]));
    let refused_create = api.create(&PostParams::default(), &config_map("late", &[])).await;
    assert_eq!(refused(refused_create).code, 403, "no new content in a terminating namespace");
    eventually("the namespace to go", Duration::from_secs(10), || async {
        (api.get_opt("cm").await.ok()?.is_none() && namespaces.get_opt("team").await.ok()?.is_none())
            .then_some(())
    })
    .await;
}

#[tokio::test]
async fn reviews_are_answered_from_the_policy() {
    let cluster = DevCluster::start().await.expect("devcluster starts");
    let mut policy = ReviewPolicy::default();
    policy.add_token(
        "s3cret",
        UserInfo { username: "alice".into(), uid: "1".into(), groups: vec!["devs".into()] },
    );
    policy.allow(
        "devs",
        Permission {
            verbs: vec!["get".into(), "list".into()],
            group: "agentry.dev".into(),
            resource: "agents".into(),
            namespace: None,
        },
    );
    cluster.set_review_policy(policy);
    let client = cluster.client();
    let post = |group: &'static str, kind: &'static str, plural: &'static str, body: serde_json::Value| {
        let resource = ApiResource {
            group: group.into(),
            version: "v1".into(),
            api_version: format!("{group}/v1"),
            kind: kind.into(),
            plural: plural.into(),
        };
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
        async move {
            let object: DynamicObject = serde_json::from_value(body).expect("review");
            let answer = api.create(&PostParams::default(), &object).await.expect("review answered");
            serde_json::to_value(answer).expect("json")
        }
    };
    let review = |token: &str| json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "spec": {"token": token}});
    let answer = post("authentication.k8s.io", "TokenReview", "tokenreviews", review("s3cret")).await;
    assert_eq!(answer["status"]["authenticated"], true);
    assert_eq!(answer["status"]["user"]["username"], "alice");
    let answer = post("authentication.k8s.io", "TokenReview", "tokenreviews", review("wrong")).await;
    assert_eq!(answer["status"]["authenticated"], false);

    let access = |verb: &str| {
        json!({"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": {
        "user": "alice", "groups": ["devs"],
        "resourceAttributes": {"namespace": "fleet", "verb": verb, "group": "agentry.dev", "resource": "agents"}}})
    };
    let answer =
        post("authorization.k8s.io", "SubjectAccessReview", "subjectaccessreviews", access("list")).await;
    assert_eq!(answer["status"]["allowed"], true);
    let answer =
        post("authorization.k8s.io", "SubjectAccessReview", "subjectaccessreviews", access("delete")).await;
    assert_eq!(answer["status"]["allowed"], false);
}

#[tokio::test]
async fn events_are_one_resource_in_two_versions() {
    let cluster = DevCluster::start().await.expect("devcluster starts");
    let resource = ApiResource {
        group: "events.k8s.io".into(),
        version: "v1".into(),
        api_version: "events.k8s.io/v1".into(),
        kind: "Event".into(),
        plural: "events".into(),
    };
    let new_events: Api<DynamicObject> = Api::namespaced_with(cluster.client(), "default", &resource);
    let event: DynamicObject = serde_json::from_value(json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "agent.1"},
        "eventTime": "2025-01-01T00:00:00.000000Z",
        "reportingController": "agentry.dev/operator", "reportingInstance": "op-1",
        "action": "Reconcile", "reason": "Ready", "type": "Normal", "note": "all replicas ready",
        "regarding": {"apiVersion": "agentry.dev/v1alpha1", "kind": "Agent", "name": "fleet-manager", "namespace": "default"},
    }))
    .expect("event");
    new_events.create(&PostParams::default(), &event).await.expect("created");

    // events.k8s.io/v1 and core/v1 Events share one storage, converted field by field
    // (regarding ↔ involvedObject, note ↔ message, reportingController ↔ reportingComponent),
    // which is how `kubectl describe` (core/v1, by involvedObject fields) shows recorded events.
    let core: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(cluster.client(), "default");
    let listed = core
        .list(&ListParams::default().fields("involvedObject.name=fleet-manager,involvedObject.kind=Agent"))
        .await
        .expect("listed");
    assert_eq!(listed.items.len(), 1);
    let seen = &listed.items[0];
    assert_eq!(seen.message.as_deref(), Some("all replicas ready"));
    assert_eq!(seen.reporting_component.as_deref(), Some("agentry.dev/operator"));
    let back = new_events.get("agent.1").await.expect("read back");
    assert_eq!(back.data["note"], "all replicas ready");
    assert_eq!(back.data["regarding"]["name"], "fleet-manager");
}

#[tokio::test]
async fn kube_discovery_sees_builtin_groups() {
    let cluster = DevCluster::start().await.expect("devcluster starts");
    // kube-rs discovery reads /api, /apis and each group version's APIResourceList.
    let discovery = kube::Discovery::new(cluster.client()).run().await.expect("discovery");
    let apps = discovery.get("apps").expect("apps group");
    let (deployments, caps) = apps
        .recommended_resources()
        .into_iter()
        .find(|(r, _)| r.plural == "deployments")
        .expect("deployments served");
    assert_eq!(deployments.kind, "Deployment");
    assert!(caps.subresources.iter().any(|(s, _)| s.plural == "status"), "{:?}", caps.subresources);
    assert!(
        discovery.get("coordination.k8s.io").is_some() && discovery.get("apiextensions.k8s.io").is_some()
    );
}
