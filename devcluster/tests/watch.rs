//! Watches, checked against kube-apiserver's behaviour
//! (https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes).

mod common;

use std::future::Future;
use std::time::Duration;

use agentry_devcluster::{DevCluster, DevClusterOptions};
use futures::StreamExt;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DeleteParams, Patch, PatchParams, PostParams, WatchEvent, WatchParams};
use kube::runtime::watcher;
use serde_json::json;

/// How long one event may take to arrive.
const EVENT_DEADLINE: Duration = Duration::from_secs(10);
/// How long a loop waiting for some event may take overall, however many others come first.
const LOOP_DEADLINE: Duration = Duration::from_secs(30);

/// `waiting` to finish within `LOOP_DEADLINE`, else fail naming `what`.
async fn within_loop_deadline<T>(what: &str, waiting: impl Future<Output = T>) -> T {
    tokio::time::timeout(LOOP_DEADLINE, waiting)
        .await
        .unwrap_or_else(|_| panic!("{what} not seen within {LOOP_DEADLINE:?}"))
}

fn cm(name: &str, labels: serde_json::Value) -> ConfigMap {
    serde_json::from_value(json!({"metadata": {"name": name, "labels": labels}})).expect("cm")
}

async fn next<S: futures::Stream<Item = Result<WatchEvent<ConfigMap>, kube::Error>> + Unpin>(
    stream: &mut S,
) -> WatchEvent<ConfigMap> {
    tokio::time::timeout(EVENT_DEADLINE, stream.next())
        .await
        .expect("an event within the deadline")
        .expect("stream open")
        .expect("event decodes")
}

fn describe(event: &WatchEvent<ConfigMap>) -> String {
    match event {
        WatchEvent::Added(o) => format!("ADDED {}", o.metadata.name.clone().unwrap_or_default()),
        WatchEvent::Modified(o) => format!("MODIFIED {}", o.metadata.name.clone().unwrap_or_default()),
        WatchEvent::Deleted(o) => format!("DELETED {}", o.metadata.name.clone().unwrap_or_default()),
        WatchEvent::Bookmark(_) => "BOOKMARK".into(),
        WatchEvent::Error(e) => format!("ERROR {}", e.code),
    }
}

#[tokio::test]
async fn watch_streams_changes_from_a_resource_version() {
    let options = DevClusterOptions { bookmark_interval: Duration::from_millis(100), ..Default::default() };
    let cluster = DevCluster::start_with(options).await.expect("devcluster starts");
    let api: Api<ConfigMap> = Api::namespaced(cluster.client(), "default");
    let first = api.create(&PostParams::default(), &cm("a", json!({"app": "x"}))).await.expect("created");
    let rv = first.metadata.resource_version.clone().unwrap_or_default();

    // From a resourceVersion: exactly the changes after it, in order.
    let mut stream =
        api.watch(&WatchParams::default().disable_bookmarks(), &rv).await.expect("watch").boxed();
    // Selected by label: an object leaving the selection is reported DELETED.
    let mut selected = api
        .watch(&WatchParams::default().labels("app=x").disable_bookmarks(), &rv)
        .await
        .expect("watch")
        .boxed();
    api.patch("a", &PatchParams::default(), &Patch::Merge(json!({"data": {"k": "v"}})))
        .await
        .expect("patched");
    api.create(&PostParams::default(), &cm("b", json!({"app": "y"}))).await.expect("created");
    api.patch("a", &PatchParams::default(), &Patch::Merge(json!({"metadata": {"labels": {"app": "z"}}})))
        .await
        .expect("relabelled");
    api.delete("a", &DeleteParams::default()).await.expect("deleted");
    let mut seen = Vec::new();
    for _ in 0..4 {
        seen.push(describe(&next(&mut stream).await));
    }
    assert_eq!(seen, ["MODIFIED a", "ADDED b", "MODIFIED a", "DELETED a"]);
    assert_eq!(describe(&next(&mut selected).await), "MODIFIED a");
    assert_eq!(describe(&next(&mut selected).await), "DELETED a");

    // allowWatchBookmarks: BOOKMARK events carry a resourceVersion to resume from.
    let mut bookmarked = api.watch(&WatchParams::default(), &rv).await.expect("watch").boxed();
    let bookmark = within_loop_deadline("a BOOKMARK", async {
        loop {
            if let WatchEvent::Bookmark(b) = next(&mut bookmarked).await {
                break b;
            }
        }
    })
    .await;
    let mark: u64 = bookmark.metadata.resource_version.parse().expect("numeric rv");
    assert!(mark >= cluster.resource_version() - 1, "bookmark {mark} behind");
}

#[tokio::test]
async fn too_old_resource_version_is_gone() {
    let options = DevClusterOptions { watch_history: 3, ..Default::default() };
    let cluster = DevCluster::start_with(options).await.expect("devcluster starts");
    let api: Api<ConfigMap> = Api::namespaced(cluster.client(), "default");
    let first = api.create(&PostParams::default(), &cm("c0", json!({}))).await.expect("created");
    for i in 1..6 {
        api.create(&PostParams::default(), &cm(&format!("c{i}"), json!({}))).await.expect("created");
    }
    // The watch starts (200) and its first event is an ERROR carrying 410 Gone (Expired).
    let rv = first.metadata.resource_version.unwrap_or_default();
    let mut stream = api.watch(&WatchParams::default(), &rv).await.expect("watch").boxed();
    match next(&mut stream).await {
        WatchEvent::Error(e) => {
            assert_eq!((e.code, e.reason.as_str()), (410, "Expired"));
            assert!(e.message.starts_with("too old resource version"), "{}", e.message);
        }
        other => panic!("expected 410, got {}", describe(&other)),
    }
}

#[tokio::test]
async fn streaming_list_ends_with_the_initial_events_bookmark() {
    let cluster = DevCluster::start().await.expect("devcluster starts");
    let api: Api<ConfigMap> = Api::namespaced(cluster.client(), "default");
    api.create(&PostParams::default(), &cm("one", json!({}))).await.expect("created");
    api.create(&PostParams::default(), &cm("two", json!({}))).await.expect("created");
    // sendInitialEvents=true: the current objects as ADDED, then a BOOKMARK annotated
    // `k8s.io/initial-events-end: "true"`, then changes.
    let mut stream = api.watch(&WatchParams::streaming_lists(), "0").await.expect("watch").boxed();
    assert_eq!(describe(&next(&mut stream).await), "ADDED one");
    assert_eq!(describe(&next(&mut stream).await), "ADDED two");
    match next(&mut stream).await {
        WatchEvent::Bookmark(b) => assert_eq!(
            b.metadata.annotations.get("k8s.io/initial-events-end").map(String::as_str),
            Some("true")
        ),
        other => panic!("expected the initial-events-end bookmark, got {}", describe(&other)),
    }
    api.create(&PostParams::default(), &cm("three", json!({}))).await.expect("created");
    assert_eq!(describe(&next(&mut stream).await), "ADDED three");
}

#[tokio::test]
async fn watcher_relists_after_410_gone() {
    let cluster = DevCluster::start().await.expect("devcluster starts");
    let api: Api<ConfigMap> = Api::namespaced(cluster.client(), "default");
    api.create(&PostParams::default(), &cm("before", json!({}))).await.expect("created");
    let mut events = watcher(api.clone(), watcher::Config::default()).boxed();
    let mut next_event = async || {
        tokio::time::timeout(EVENT_DEADLINE, events.next())
            .await
            .expect("event in time")
            .expect("stream open")
    };
    // The first list: Init, the object, InitDone.
    assert!(matches!(next_event().await, Ok(watcher::Event::Init)));
    assert!(
        matches!(next_event().await, Ok(watcher::Event::InitApply(o)) if o.metadata.name.as_deref() == Some("before"))
    );
    assert!(matches!(next_event().await, Ok(watcher::Event::InitDone)));

    // Once the watch is open (it has delivered a change)…
    api.create(&PostParams::default(), &cm("during", json!({}))).await.expect("created");
    assert!(
        matches!(next_event().await, Ok(watcher::Event::Apply(o)) if o.metadata.name.as_deref() == Some("during"))
    );

    // …the apiserver ends it with 410 Gone (history compacted): the watcher reports the
    // error and relists, seeing what changed meanwhile.
    cluster.expire_watches();
    api.create(&PostParams::default(), &cm("after", json!({}))).await.expect("created");
    let (saw_gone, relisted) = within_loop_deadline("the relist after 410 Gone", async {
        let mut saw_gone = false;
        let mut relisted = Vec::new();
        loop {
            match next_event().await {
                Err(watcher::Error::WatchError(e)) if e.code == 410 => saw_gone = true,
                Ok(watcher::Event::InitApply(o)) => relisted.extend(o.metadata.name),
                Ok(watcher::Event::InitDone) => break (saw_gone, relisted),
                Ok(watcher::Event::Apply(o)) => panic!("{:?} before relisting", o.metadata.name),
                _ => {}
            }
        }
    })
    .await;
    assert!(saw_gone, "the 410 was not reported");
    assert_eq!(relisted, ["after", "before", "during"]);
    // And it keeps watching.
    api.create(&PostParams::default(), &cm("later", json!({}))).await.expect("created");
    within_loop_deadline("the change after the relist", async {
        loop {
            if let Ok(watcher::Event::Apply(o)) = next_event().await {
                assert_eq!(o.metadata.name.as_deref(), Some("later"));
                break;
            }
        }
    })
    .await;
}
