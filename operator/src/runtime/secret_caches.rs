//! Secret metadata, watched only where the operator may read Secrets: one watch per namespace
//! of `--secret-namespaces`, so the operator needs no cluster-wide Secret permission (RBAC cannot
//! narrow a cluster-wide `list`/`watch` by label or name), or one across the cluster when no
//! namespaces are given.

use std::sync::Arc;

use futures::{Stream, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::core::PartialObjectMeta;
use kube::runtime::reflector::{ObjectRef, Store};
use kube::runtime::watcher;
use kube::{Api, Client, Resource};

use crate::runtime::shared_caches::{SharedKind, WatchDriver, shared};

/// A Secret's metadata, as the caches keep it.
pub type SecretMeta = PartialObjectMeta<Secret>;

/// Where the operator reads Secrets.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum SecretScope {
    /// Every namespace: needs `get`, `list` and `watch` on Secrets cluster-wide.
    #[default]
    Cluster,
    /// Only these namespaces: needs those verbs there alone (a RoleBinding in each).
    Namespaces(Vec<String>),
}

impl SecretScope {
    /// The scope of a comma-separated list of namespaces; an empty list is the whole cluster.
    pub fn parse(list: &str) -> Self {
        let mut namespaces: Vec<String> =
            list.split(',').map(str::trim).filter(|n| !n.is_empty()).map(String::from).collect();
        namespaces.sort();
        namespaces.dedup();
        if namespaces.is_empty() { Self::Cluster } else { Self::Namespaces(namespaces) }
    }

    /// Whether Secrets in `namespace` may be read.
    pub fn allows(&self, namespace: &str) -> bool {
        match self {
            Self::Cluster => true,
            Self::Namespaces(namespaces) => namespaces.iter().any(|n| n == namespace),
        }
    }
}

impl SecretScope {
    /// Why Secret `secret` of `namespace` cannot be read, naming the namespace and the setting
    /// to change; `None` when the scope allows the namespace.
    pub fn refusal(&self, namespace: &str, secret: &str) -> Option<String> {
        let Self::Namespaces(namespaces) = self else { return None };
        if self.allows(namespace) {
            return None;
        }
        Some(format!(
            "Secret {secret:?} is in namespace {namespace:?}, where the operator does not read Secrets: \
             its --secret-namespaces is {:?}; add {namespace:?} to it (Helm value \
             operator.secretNamespaces) or move the Secret",
            namespaces.join(",")
        ))
    }
}

/// The Secret watches of a [`SecretScope`].
pub struct SecretCaches {
    kinds: Vec<SharedKind<SecretMeta>>,
    /// Look-ups across every watched namespace.
    pub store: SecretStores,
}

/// The stores of the Secret watches, for look-ups.
#[derive(Clone)]
pub struct SecretStores {
    stores: Vec<(Option<String>, Store<SecretMeta>)>,
}

impl SecretStores {
    /// The Secret `key` names, as last seen; `None` when absent or not watched.
    pub fn get(&self, key: &ObjectRef<SecretMeta>) -> Option<Arc<SecretMeta>> {
        self.stores
            .iter()
            .filter(|(namespace, _)| namespace.is_none() || *namespace == key.namespace)
            .find_map(|(_, store)| store.get(key))
    }

    /// Completes once every watch has been listed once.
    pub async fn wait_until_ready(&self) -> Result<(), kube::runtime::reflector::store::WriterDropped> {
        for (_, store) in &self.stores {
            store.wait_until_ready().await?;
        }
        Ok(())
    }
}

impl SecretCaches {
    /// Sets up the watches of `scope`; the drivers must be polled for them to run.
    pub fn new(client: &Client, scope: &SecretScope) -> (Self, Vec<WatchDriver>) {
        let apis: Vec<(Option<String>, Api<SecretMeta>)> = match scope {
            SecretScope::Cluster => vec![(None, Api::all(client.clone()))],
            SecretScope::Namespaces(namespaces) => {
                namespaces.iter().map(|n| (Some(n.clone()), Api::namespaced(client.clone(), n))).collect()
            }
        };
        let mut kinds = Vec::new();
        let mut stores = Vec::new();
        let mut drivers = Vec::new();
        for (namespace, api) in apis {
            let (kind, driver) = shared(api, watcher::Config::default());
            stores.push((namespace, kind.store.clone()));
            kinds.push(kind);
            drivers.push(driver);
        }
        (Self { kinds, store: SecretStores { stores } }, drivers)
    }

    /// Creations and updates of watched Secrets. Taken before the caches are sealed.
    pub fn subscribe(&self) -> impl Stream<Item = Arc<SecretMeta>> + Send + 'static {
        futures::stream::select_all(self.kinds.iter().map(|k| k.subscribe().boxed()))
    }

    /// The references `mapper` gives for each deleted Secret.
    pub fn on_delete<T, I>(
        &self,
        mapper: impl Fn(Arc<SecretMeta>) -> I + Send + 'static,
    ) -> impl Stream<Item = ObjectRef<T>> + Send + 'static
    where
        T: Resource<DynamicType = ()> + 'static,
        I: IntoIterator<Item = ObjectRef<T>>,
        I::IntoIter: Send + 'static,
    {
        let deleted = futures::stream::select_all(self.kinds.iter().map(|k| k.deleted().boxed()));
        deleted.flat_map(move |object| futures::stream::iter(mapper(object)))
    }

    /// Drops the template subscriptions (see [`SharedKind::subscribe`]).
    pub fn seal(&self) {
        self.kinds.iter().for_each(SharedKind::seal);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_list_of_namespaces_narrows_the_scope_and_none_is_the_cluster() {
        assert_eq!(SecretScope::parse(""), SecretScope::Cluster);
        assert_eq!(SecretScope::parse(" , "), SecretScope::Cluster);
        let scope = SecretScope::parse("fleet, team-b,fleet");
        assert_eq!(scope, SecretScope::Namespaces(vec!["fleet".into(), "team-b".into()]));
        assert!(scope.allows("team-b"));
        assert!(!scope.allows("kube-system"));
        assert!(SecretScope::Cluster.allows("kube-system"));
        assert_eq!(scope.refusal("fleet", "key"), None);
        assert_eq!(SecretScope::Cluster.refusal("kube-system", "key"), None);
        let refusal = scope.refusal("team-c", "openai").expect("team-c is not read");
        assert_eq!(
            refusal,
            "Secret \"openai\" is in namespace \"team-c\", where the operator does not read Secrets: its \
             --secret-namespaces is \"fleet,team-b\"; add \"team-c\" to it (Helm value \
             operator.secretNamespaces) or move the Secret"
        );
    }
}
