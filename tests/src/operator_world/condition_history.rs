//! Every state a condition of one object passed through, recorded from a watch: for states an
//! operator writes and leaves again within milliseconds, which polling would miss.

use std::fmt::Debug;
use std::sync::{Arc, Mutex};

use agentry_crds::Condition;
use futures::StreamExt;
use k8s_openapi::NamespaceResourceScope;
use kube::runtime::watcher;
use kube::{Api, Client, Resource};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::oneshot;

use super::condition_of;

/// The successive versions of condition `type_` of one object, recorded until dropped.
pub struct ConditionHistory {
    seen: Arc<Mutex<Vec<Condition>>>,
    task: tokio::task::JoinHandle<()>,
}

impl ConditionHistory {
    /// Starts watching the `K` called `name` in `ns`; returns once the watch is established, so
    /// every change made after this call is recorded.
    ///
    /// # Panics
    /// When the watch does not start.
    pub async fn record<K>(client: &Client, ns: &str, name: &str, type_: &str) -> Self
    where
        K: Resource<Scope = NamespaceResourceScope, DynamicType = ()>
            + Clone
            + Debug
            + DeserializeOwned
            + Serialize
            + Send
            + 'static,
    {
        let api: Api<K> = Api::namespaced(client.clone(), ns);
        let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let (listed, on_listed) = oneshot::channel::<()>();
        let type_ = type_.to_string();
        let task = tokio::spawn({
            let seen = seen.clone();
            async move {
                let mut listed = Some(listed);
                let mut events = std::pin::pin!(watcher(api, config));
                while let Some(event) = events.next().await {
                    let object = match event {
                        Ok(watcher::Event::InitDone) => {
                            if let Some(listed) = listed.take() {
                                let _ = listed.send(());
                            }
                            continue;
                        }
                        Ok(watcher::Event::Apply(object) | watcher::Event::InitApply(object)) => object,
                        // Deletions and watch errors (the watcher retries) record nothing.
                        _ => continue,
                    };
                    if let Some(condition) = condition_of(&object, &type_)
                        && let Ok(mut seen) = seen.lock()
                        && !seen.last().is_some_and(|last: &Condition| same_state(last, &condition))
                    {
                        seen.push(condition);
                    }
                }
            }
        });
        on_listed.await.expect("the watch never listed the object");
        Self { seen, task }
    }

    /// The versions recorded so far, oldest first; a re-write of the same status, reason and
    /// message is not a new version.
    pub fn seen(&self) -> Vec<Condition> {
        self.seen.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// The reasons recorded so far, oldest first.
    pub fn reasons(&self) -> Vec<String> {
        self.seen().into_iter().map(|c| c.reason).collect()
    }
}

impl Drop for ConditionHistory {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn same_state(a: &Condition, b: &Condition) -> bool {
    a.status == b.status && a.reason == b.reason && a.message == b.message
}
