//! MemoryStore controller: connects to the store's PostgreSQL with the URI in its Secret, applies
//! the memory migrations in its schema, counts its memories, and reports all that as `Ready` and
//! `memoryCount` (DESIGN.md §2, §3).
//!
//! The decision part is pure ([`Probe`] → [`desired_status`], [`ready_event`], [`requeue_after`])
//! and unit-tested in [`status`](crate::memory_store::status); [`reconcile`] only
//! gathers the probe and writes the result. The pools and failure counts kept between reconciles
//! live in [`ControllerState`], owned by this controller's context.
//! A database that cannot be used is not a reconcile error: the status says why and the store is
//! looked at again after a growing delay. Only Kubernetes API failures are [`ReconcileError`]s.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use agentry_crds::MemoryStore;
use futures::{FutureExt, StreamExt};
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::jiff::Timestamp;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{ObjectRef, Store};
use kube::{Api, Resource, ResourceExt};

use crate::memory_store::consolidation;
use crate::memory_store::schema::{self, ConnectionTarget, StoreError};
use crate::memory_store::state::{ControllerState, StoreKey, fingerprint};
pub use crate::memory_store::status::{
    FIRST_RETRY, MAX_RETRY, Probe, REFRESH_INTERVAL, desired_status, ready_event, requeue_after,
};
use crate::reconciler::apply::apply_status_if_changed;
use crate::reconciler::controller_kit::{ControllerKit, StopSignal, WithKit, drive};
use crate::reconciler::error::ReconcileError;
use crate::runtime::context::OperatorContext;
use crate::runtime::secret_caches::SecretScope;
use crate::runtime::shared_caches::{SharedCaches, generation_changes};
use crate::secret_keys;

/// The controller's name in metrics and logs.
const CONTROLLER: &str = "memorystore";
/// How long connecting may take before the store counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The MemoryStores among `stores` whose connection Secret is `namespace`/`secret`.
pub fn stores_using_secret(
    stores: &[Arc<MemoryStore>],
    namespace: &str,
    secret: &str,
) -> Vec<ObjectRef<MemoryStore>> {
    stores
        .iter()
        .filter(|store| {
            store.namespace().as_deref() == Some(namespace)
                && store.spec.postgres.connection_secret_ref.name == secret
        })
        .map(|store| ObjectRef::from_obj(&**store))
        .collect()
}

/// Everything the MemoryStore controller uses.
pub struct MemoryStoreContext {
    /// Shared context.
    pub operator: Arc<OperatorContext>,
    /// Metrics, span and backoff.
    pub kit: ControllerKit,
    /// The stores, as last seen.
    pub stores: Store<MemoryStore>,
    /// Pools and failure counts kept between reconciles; they go with the operator (and its
    /// database connections) that opened them.
    state: ControllerState,
}

impl WithKit for MemoryStoreContext {
    fn kit(&self) -> &ControllerKit {
        &self.kit
    }
}

/// Reconciles one MemoryStore: reads its Secret, connects, migrates, counts, writes the status
/// and, when `Ready` changed, an Event.
pub async fn reconcile(
    store: Arc<MemoryStore>,
    ctx: Arc<MemoryStoreContext>,
) -> Result<Action, ReconcileError> {
    let namespace = store.namespace().ok_or(ReconcileError::MissingMetadata("namespace"))?;
    let name = store.meta().name.clone().ok_or(ReconcileError::MissingMetadata("name"))?;
    let key = StoreKey { namespace, name };
    let secrets: Api<Secret> = Api::namespaced(ctx.operator.client.clone(), &key.namespace);
    let scope = &ctx.operator.settings.secret_scope;
    let probe = probe(&store, &secrets, &key, (&ctx.state, scope)).await?;
    match &probe {
        Probe::Ready { version, memory_count, .. } => {
            tracing::debug!(version, memory_count, "memory store ready")
        }
        Probe::Failed(error) => {
            tracing::warn!(reason = error.reason(), error = %error, "memory store not ready")
        }
        Probe::SecretNotFound | Probe::KeyMissing | Probe::SecretNamespaceNotAllowed(_) => {
            tracing::info!(?probe, "memory store connection Secret not usable")
        }
    }
    let mut status = desired_status(&store, &probe);
    let outcome = consolidate_if_due(&store, &probe, &key, &ctx.state).await;
    if let Some(outcome) = &outcome {
        consolidation::apply(&mut status, &store, outcome);
    }
    let api: Api<MemoryStore> = Api::namespaced(ctx.operator.client.clone(), &key.namespace);
    apply_status_if_changed(&api, &key.name, store.status.as_ref(), &status).await?;
    let events = [
        ready_event(store.status.as_ref(), &status),
        consolidation::failure_event(store.status.as_ref(), &status),
    ];
    for event in events.into_iter().flatten() {
        if let Err(error) = ctx.operator.recorder.publish(&event, &store.object_ref(&())).await {
            // The status already says it; a lost Event is not worth a retry storm.
            tracing::warn!(error = %error, "event not published");
        }
    }
    let failures = ctx.state.record(&key, store.meta().generation, probe.is_ready());
    // Deleted while this reconcile ran, or during a watch outage (a re-list sends no delete
    // event): drop what is kept for stores that are gone.
    ctx.state.retain(|key| ctx.stores.get(&ObjectRef::new(&key.name).within(&key.namespace)).is_some());
    let mut requeue = requeue_after(probe.is_ready(), failures);
    if let Some(scheduled) = outcome.as_ref().and_then(|o| consolidation::requeue_after(o, Timestamp::now()))
    {
        requeue = requeue.min(scheduled);
    }
    Ok(Action::requeue(requeue))
}

/// Runs retention and consolidation when the store is ready and its schedule says so. A store
/// that is not ready only has its schedule checked, so a bad one is reported all the same.
async fn consolidate_if_due(
    store: &MemoryStore,
    probe: &Probe,
    key: &StoreKey,
    state: &ControllerState,
) -> Option<consolidation::Outcome> {
    match (probe.is_ready(), state.current_pool(key)) {
        (true, Some(pool)) => Some(consolidation::run_if_due(store, &pool).await),
        _ => consolidation::plan(store, Timestamp::now()).err(),
    }
}

/// Reads the Secret and, when it holds a URI, looks at the database. Kubernetes API failures are
/// errors; everything about the Secret's contents or the database is a [`Probe`].
async fn probe(
    store: &MemoryStore,
    secrets: &Api<Secret>,
    key: &StoreKey,
    (state, scope): (&ControllerState, &SecretScope),
) -> Result<Probe, ReconcileError> {
    let reference = &store.spec.postgres.connection_secret_ref;
    if let Some(why) = scope.refusal(&key.namespace, &reference.name) {
        state.forget_pool(key);
        return Ok(Probe::SecretNamespaceNotAllowed(why));
    }
    let Some(secret) = secrets.get_opt(&reference.name).await? else {
        state.forget_pool(key);
        return Ok(Probe::SecretNotFound);
    };
    let Some(value) = secret_keys::value(&secret, &reference.key) else {
        state.forget_pool(key);
        return Ok(Probe::KeyMissing);
    };
    let Ok(uri) = String::from_utf8(value) else {
        state.forget_pool(key);
        return Ok(Probe::Failed(StoreError::InvalidConnectionUri {
            detail: "the Secret's value is not UTF-8 text".to_string(),
        }));
    };
    // Secrets made with `echo uri | kubectl create secret --from-file` end in a newline.
    Ok(probe_database(key, uri.trim(), &store.spec.postgres.schema, state).await)
}

async fn probe_database(key: &StoreKey, uri: &str, schema: &str, state: &ControllerState) -> Probe {
    let fingerprint = fingerprint(uri, schema);
    let pool = match state.pool(key, &fingerprint) {
        Some(pool) => pool,
        None => match schema::connect(uri, schema, CONNECT_TIMEOUT).await {
            Ok(pool) => {
                state.keep_pool(key, fingerprint, pool.clone());
                pool
            }
            Err(error) => {
                state.forget_pool(key);
                return Probe::Failed(error);
            }
        },
    };
    let outcome = async {
        let report = schema::migrate(&pool, schema).await?;
        if !report.applied.is_empty() {
            tracing::info!(schema, applied = ?report.applied, version = report.version, "memory migrations applied");
        }
        let memory_count = schema::memory_count(&pool).await?;
        Ok::<_, StoreError>((report.version, memory_count))
    }
    .await;
    match outcome {
        Ok((version, memory_count)) => Probe::Ready {
            target: ConnectionTarget::of(&pool.connect_options()).to_string(),
            version,
            memory_count,
        },
        Err(error) => {
            if error.is_connection_failure() {
                // The next attempt reconnects from scratch, which tells refused from timed out
                // from a rejected login better than a pool that merely times out.
                state.forget_pool(key);
            }
            Probe::Failed(error)
        }
    }
}

/// The MemoryStore controller. It reconciles a store when its spec changes (status-only updates
/// are ignored, or each status write would trigger another reconcile and defeat the backoff),
/// when the Secret it names changes, and on the requeue schedule; it stops when `shutdown`
/// completes.
pub fn controller<S: StopSignal>(
    operator: Arc<OperatorContext>,
    caches: &SharedCaches,
    shutdown: S,
) -> impl Future<Output = ()> + use<S> {
    let stores = caches.memory_stores.store.clone();
    let by_secret = move |secret: Arc<PartialObjectMeta<Secret>>| {
        stores_using_secret(&stores.state(), &secret.namespace().unwrap_or_default(), &secret.name_any())
    };
    let kit = ControllerKit::new(CONTROLLER, operator.metrics.clone());
    let stores = caches.memory_stores.store.clone();
    let ctx = Arc::new(MemoryStoreContext { operator, kit, stores, state: ControllerState::default() });
    let forget_ctx = ctx.clone();
    // A deleted store's pool closes at once, not at the next reconcile of another store.
    let forget_deleted = caches.memory_stores.deleted().for_each(move |store| {
        if let (Some(namespace), Some(name)) = (store.namespace(), store.meta().name.clone()) {
            forget_ctx.state.forget(&StoreKey { namespace, name });
        }
        std::future::ready(())
    });
    let triggers = generation_changes(caches.memory_stores.subscribe());
    let controller = Controller::for_shared_stream(triggers, caches.memory_stores.store.clone())
        .watches_shared_stream(caches.secrets.subscribe(), by_secret.clone())
        .reconcile_on(caches.secrets.on_delete(by_secret))
        .graceful_shutdown_on(shutdown);
    let run = drive(controller, reconcile, ctx);
    // The deletion stream only ends with the caches: the controller's end is the end.
    futures::future::select(run.boxed(), forget_deleted.boxed()).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory_store::status::tests::store;

    #[test]
    fn secrets_map_to_the_stores_that_name_them() {
        let mut other_ns = store(None);
        other_ns.metadata.namespace = Some("team-b".into());
        let mut other_secret = store(None);
        other_secret.metadata.name = Some("other".into());
        other_secret.spec.postgres.connection_secret_ref.name = "elsewhere".into();
        let stores = vec![Arc::new(store(None)), Arc::new(other_ns), Arc::new(other_secret)];
        let refs = stores_using_secret(&stores, "team-a", "fleet-db");
        assert_eq!(refs, vec![ObjectRef::new("fleet").within("team-a")]);
        assert!(stores_using_secret(&stores, "team-c", "fleet-db").is_empty());
    }

    /// The operator spawns the controller on a multi-threaded runtime; this only compiles if its
    /// future is `Send + 'static`.
    #[allow(dead_code)]
    fn controller_future_is_send(
        ctx: Arc<OperatorContext>,
        caches: &SharedCaches,
    ) -> impl Future<Output = ()> + Send + 'static {
        controller(ctx, caches, std::future::pending())
    }
}
