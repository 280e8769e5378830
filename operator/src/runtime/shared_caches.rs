//! One watch per kind, shared by every controller that needs it (kube-runtime's shared
//! streams): the reflector stores answer look-ups without API calls, and subscribers feed
//! each controller's triggers.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use agentry_crds::{Agent, MemoryStore, Model, Tool};
use futures::{Stream, StreamExt};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{self, ObjectRef, ReflectHandle, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, Resource};
use serde::de::DeserializeOwned;
use tokio::sync::broadcast;

use crate::runtime::secret_caches::{SecretCaches, SecretScope};

/// Objects buffered per subscriber before the shared watch waits for a slow controller.
const SUBSCRIBER_BUFFER: usize = 1024;
/// Label on every child the operator writes, so the Deployment watch sees only ours.
pub const MANAGED_BY_SELECTOR: &str = "app.kubernetes.io/managed-by=agentry-operator";

/// Deleted objects buffered per subscriber; a slow one misses the oldest (and is told so).
const DELETION_BUFFER: usize = 1024;

/// A kind's store and the means to subscribe to its changes.
pub struct SharedKind<K: Resource<DynamicType = ()> + Clone + 'static> {
    /// Every object of the kind, as last seen.
    pub store: Store<K>,
    /// The template subscriptions are cloned from. Dropped by [`SharedCaches::seal`]: an idle
    /// subscription would fill up and stall the shared watch for every other subscriber.
    handle: Mutex<Option<ReflectHandle<K>>>,
    deleted: broadcast::Sender<Arc<K>>,
}

impl<K: Resource<DynamicType = ()> + Clone + Send + Sync + 'static> SharedKind<K> {
    /// A new subscription to the kind's changes (creations and updates). Every subscription is
    /// taken while the controllers are built, before [`SharedCaches::seal`].
    pub fn subscribe(&self) -> ReflectHandle<K> {
        self.handle
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
            .expect("subscriptions are taken before the caches are sealed")
    }

    pub(crate) fn seal(&self) {
        self.handle.lock().unwrap_or_else(|poisoned| poisoned.into_inner()).take();
    }

    /// Every object deleted from now on. Shared subscriptions carry only objects still in the
    /// store, so deletions need this separate stream; a subscriber too slow to keep up misses the
    /// oldest (and the periodic resync of every object catches up).
    pub fn deleted(&self) -> impl Stream<Item = Arc<K>> + Send + 'static {
        futures::stream::unfold(self.deleted.subscribe(), |mut rx| async move {
            loop {
                match rx.recv().await {
                    Ok(object) => return Some((object, rx)),
                    Err(broadcast::error::RecvError::Lagged(missed)) => {
                        tracing::warn!(
                            missed,
                            "deletions missed by a slow controller; the periodic resync of every object catches up"
                        );
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
    }

    /// The references `mapper` gives for each deleted object: a trigger for the controllers
    /// that depend on objects of this kind.
    pub fn on_delete<T, I>(
        &self,
        mapper: impl Fn(Arc<K>) -> I + Send + 'static,
    ) -> impl Stream<Item = ObjectRef<T>> + Send + 'static
    where
        T: Resource<DynamicType = ()> + 'static,
        I: IntoIterator<Item = ObjectRef<T>>,
        I::IntoIter: Send + 'static,
    {
        self.deleted().flat_map(move |object| futures::stream::iter(mapper(object)))
    }
}

/// Only the changes of an object's spec (a new `metadata.generation`, or a new object under a
/// known name), dropping status-only updates.
pub fn generation_changes<K>(changes: impl Stream<Item = Arc<K>> + Send) -> impl Stream<Item = Arc<K>> + Send
where
    K: Resource + Send + Sync + 'static,
{
    let mut seen: HashMap<(String, String), (Option<String>, Option<i64>)> = HashMap::new();
    changes.filter(move |object| {
        let meta = object.meta();
        let key = (meta.namespace.clone().unwrap_or_default(), meta.name.clone().unwrap_or_default());
        let now = (meta.uid.clone(), meta.generation);
        std::future::ready(seen.insert(key, now.clone()).as_ref() != Some(&now))
    })
}

/// The shared caches of every kind the controllers read.
pub struct SharedCaches {
    /// Agents.
    pub agents: SharedKind<Agent>,
    /// Models.
    pub models: SharedKind<Model>,
    /// Tools.
    pub tools: SharedKind<Tool>,
    /// MemoryStores.
    pub memory_stores: SharedKind<MemoryStore>,
    /// Secrets, metadata only (the operator never keeps Secret values in memory), in the
    /// namespaces the operator may read Secrets in.
    pub secrets: SecretCaches,
    /// Runner Deployments written by the operator.
    pub deployments: SharedKind<Deployment>,
    /// The other children (metadata only): deleting one makes its Agent write it again.
    pub config_maps: SharedKind<PartialObjectMeta<ConfigMap>>,
    /// Runner Services (metadata only).
    pub services: SharedKind<PartialObjectMeta<Service>>,
    /// Runner NetworkPolicies (metadata only).
    pub network_policies: SharedKind<PartialObjectMeta<NetworkPolicy>>,
}

/// A future driving one shared watch; it must be polled for the caches to fill.
pub type WatchDriver = Pin<Box<dyn Future<Output = ()> + Send>>;

/// What the caches keep of every object: not `managedFields`, which nothing here reads and
/// which is often the largest part of an object.
fn slim<K: Resource>(object: &mut K) {
    object.meta_mut().managed_fields = None;
}

/// What the caches keep of a runner Deployment: its replicas, template annotations (the config
/// hash), owner references and status; not the pod spec, which the operator writes but never
/// reads back.
fn slim_deployment(deployment: &mut Deployment) {
    slim(deployment);
    if let Some(spec) = deployment.spec.as_mut() {
        spec.template.spec = None;
    }
}

pub(crate) fn shared<K>(api: Api<K>, config: watcher::Config) -> (SharedKind<K>, WatchDriver)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    shared_with(api, config, slim::<K>)
}

fn shared_with<K>(
    api: Api<K>,
    config: watcher::Config,
    trim: impl FnMut(&mut K) + Send + 'static,
) -> (SharedKind<K>, WatchDriver)
where
    K: Resource<DynamicType = ()> + Clone + DeserializeOwned + std::fmt::Debug + Send + Sync + 'static,
{
    let (store, writer) = reflector::store_shared(SUBSCRIBER_BUFFER);
    let handle = writer.subscribe().expect("a shared store always hands out subscribers");
    let (deleted, _) = broadcast::channel(DELETION_BUFFER);
    let deleted_tx = deleted.clone();
    let kind = K::kind(&()).to_string();
    let driver =
        watcher(api, config).default_backoff().modify(trim).reflect_shared(writer).for_each(move |event| {
            match event {
                Ok(watcher::Event::Delete(object)) => {
                    // No receiver yet is fine: nothing depends on the object then.
                    let _ = deleted_tx.send(Arc::new(object));
                }
                Ok(_) => {}
                Err(err) => tracing::warn!(kind = %kind, error = %err, "watch error; retrying with backoff"),
            }
            std::future::ready(())
        });
    (SharedKind { store, handle: Mutex::new(Some(handle)), deleted }, Box::pin(driver))
}

impl SharedCaches {
    /// Drops the template subscriptions once every controller has taken its own, so only
    /// subscribers that are consumed remain.
    pub fn seal(&self) {
        self.agents.seal();
        self.models.seal();
        self.tools.seal();
        self.memory_stores.seal();
        self.secrets.seal();
        self.deployments.seal();
        self.config_maps.seal();
        self.services.seal();
        self.network_policies.seal();
    }

    /// Completes once every store has been filled by its first list.
    pub async fn wait_until_ready(&self) {
        let _ = futures::join!(
            self.agents.store.wait_until_ready(),
            self.models.store.wait_until_ready(),
            self.tools.store.wait_until_ready(),
            self.memory_stores.store.wait_until_ready(),
            self.secrets.store.wait_until_ready(),
            self.deployments.store.wait_until_ready(),
            self.config_maps.store.wait_until_ready(),
            self.services.store.wait_until_ready(),
            self.network_policies.store.wait_until_ready(),
        );
    }

    /// Sets up every shared watch, Secrets' within `secrets`; the returned drivers must be
    /// polled (spawned) to run them.
    pub fn new(client: &Client, secrets: &SecretScope) -> (Self, Vec<WatchDriver>) {
        let (agents, a) = shared(Api::<Agent>::all(client.clone()), watcher::Config::default());
        let (models, m) = shared(Api::<Model>::all(client.clone()), watcher::Config::default());
        let (tools, t) = shared(Api::<Tool>::all(client.clone()), watcher::Config::default());
        let (memory_stores, s) = shared(Api::<MemoryStore>::all(client.clone()), watcher::Config::default());
        let (deployments, d) = shared_with(
            Api::<Deployment>::all(client.clone()),
            watcher::Config::default().labels(MANAGED_BY_SELECTOR),
            slim_deployment,
        );
        let (secrets, secret_drivers) = SecretCaches::new(client, secrets);
        let managed = || watcher::Config::default().labels(MANAGED_BY_SELECTOR);
        let (config_maps, c) = shared(Api::<PartialObjectMeta<ConfigMap>>::all(client.clone()), managed());
        let (services, v) = shared(Api::<PartialObjectMeta<Service>>::all(client.clone()), managed());
        let (network_policies, n) =
            shared(Api::<PartialObjectMeta<NetworkPolicy>>::all(client.clone()), managed());
        let caches = Self {
            agents,
            models,
            tools,
            memory_stores,
            secrets,
            deployments,
            config_maps,
            services,
            network_policies,
        };
        let mut drivers = vec![a, m, t, s, d, c, v, n];
        drivers.extend(secret_drivers);
        (caches, drivers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentry_crds::MemoryStore;

    fn store(uid: &str, generation: i64, count: Option<i64>) -> Arc<MemoryStore> {
        Arc::new(
            serde_json::from_value(serde_json::json!({
                "apiVersion": "agentry.dev/v1alpha1", "kind": "MemoryStore",
                "metadata": {"name": "s", "namespace": "ns", "uid": uid, "generation": generation},
                "spec": {"postgres": {"connectionSecretRef": {"name": "db", "key": "uri"}}, "embedding": {"provider": "hashing", "dimensions": 256}},
                "status": {"memoryCount": count, "conditions": []}
            }))
            .expect("store"),
        )
    }

    #[tokio::test]
    async fn status_only_updates_are_dropped_but_new_specs_and_new_objects_pass() {
        let changes = futures::stream::iter(vec![
            store("u1", 1, None),
            store("u1", 1, Some(3)),
            store("u1", 2, Some(3)),
            store("u2", 1, None),
        ]);
        let passed: Vec<(String, i64)> = generation_changes(changes)
            .map(|s| (s.metadata.uid.clone().unwrap_or_default(), s.metadata.generation.unwrap_or_default()))
            .collect()
            .await;
        assert_eq!(passed, [("u1".to_string(), 1), ("u1".to_string(), 2), ("u2".to_string(), 1)]);
    }
}
