//! MemoryStore controller: connects to the store's PostgreSQL with the URI in its Secret, applies
//! the memory migrations in its schema, counts its memories, and reports all that as `Ready` and
//! `memoryCount` (DESIGN.md §2, §3).
//!
//! The decision part is pure ([`Probe`] → [`desired_status`], [`ready_event`], [`requeue_after`])
//! and unit-tested in [`status`](crate::memory_store::status); [`reconcile`] only
//! gathers the probe and writes the result. The pools and failure counts kept between reconciles
//! live in `state`.
//! A database that cannot be used is not a reconcile error: the status says why and the store is
//! looked at again after a growing delay. Only Kubernetes API failures are [`ReconcileError`]s.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use agentry_crds::MemoryStore;
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{PredicateConfig, WatchStreamExt, predicates, watcher};
use kube::{Api, Resource, ResourceExt};
use tracing::Instrument;

use crate::memory_store::schema::{self, ConnectionTarget, StoreError};
use crate::memory_store::state::{ControllerState, StoreKey, fingerprint};
pub use crate::memory_store::status::{
    FIRST_RETRY, MAX_RETRY, Probe, REFRESH_INTERVAL, desired_status, ready_event, requeue_after,
};
use crate::reconciler::apply::apply_status;
use crate::reconciler::error::ReconcileError;
use crate::runtime::context::OperatorContext;

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

/// Reconciles one MemoryStore: reads its Secret, connects, migrates, counts, writes the status
/// and, when `Ready` changed, an Event.
pub async fn reconcile(store: Arc<MemoryStore>, ctx: Arc<OperatorContext>) -> Result<Action, ReconcileError> {
    let namespace = store.namespace().ok_or(ReconcileError::MissingMetadata("namespace"))?;
    let name = store.meta().name.clone().ok_or(ReconcileError::MissingMetadata("name"))?;
    let span =
        tracing::info_span!("reconcile", controller = CONTROLLER, namespace = %namespace, name = %name);
    reconcile_store(store, ctx, StoreKey { namespace, name }).instrument(span).await
}

async fn reconcile_store(
    store: Arc<MemoryStore>,
    ctx: Arc<OperatorContext>,
    key: StoreKey,
) -> Result<Action, ReconcileError> {
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), &key.namespace);
    let probe = probe(&store, &secrets, &key, &ctx.memory_stores).await?;
    match &probe {
        Probe::Ready { version, memory_count, .. } => {
            tracing::debug!(version, memory_count, "memory store ready");
        }
        Probe::Failed(error) => {
            tracing::warn!(reason = error.reason(), error = %error, "memory store not ready")
        }
        Probe::SecretNotFound | Probe::KeyMissing => {
            tracing::info!(?probe, "memory store connection Secret not usable")
        }
    }

    let status = desired_status(&store, &probe);
    if store.status.as_ref() != Some(&status) {
        let api: Api<MemoryStore> = Api::namespaced(ctx.client.clone(), &key.namespace);
        apply_status(&api, &key.name, &status).await?;
    }
    if let Some(event) = ready_event(store.status.as_ref(), &status)
        && let Err(error) = ctx.recorder.publish(&event, &store.object_ref(&())).await
    {
        // The status already says it; a lost Event is not worth a retry storm.
        tracing::warn!(error = %error, "event not published");
    }

    let failures = ctx.memory_stores.record(&key, store.meta().generation, probe.is_ready());
    Ok(Action::requeue(requeue_after(probe.is_ready(), failures)))
}

/// Reads the Secret and, when it holds a URI, looks at the database. Kubernetes API failures are
/// errors; everything about the Secret's contents or the database is a [`Probe`].
async fn probe(
    store: &MemoryStore,
    secrets: &Api<Secret>,
    key: &StoreKey,
    state: &ControllerState,
) -> Result<Probe, ReconcileError> {
    let reference = &store.spec.postgres.connection_secret_ref;
    let Some(secret) = secrets.get_opt(&reference.name).await? else {
        state.forget_pool(key);
        return Ok(Probe::SecretNotFound);
    };
    // `stringData` is write-only on a real API server; reading it too keeps simpler servers working.
    let value = secret
        .data
        .as_ref()
        .and_then(|data| data.get(&reference.key))
        .map(|bytes| bytes.0.clone())
        .or_else(|| {
            secret.string_data.as_ref().and_then(|d| d.get(&reference.key)).map(|s| s.clone().into_bytes())
        });
    let Some(value) = value else {
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

/// Requeues after an API failure with the same growing delay as a store failure.
fn error_policy(store: Arc<MemoryStore>, error: &ReconcileError, ctx: Arc<OperatorContext>) -> Action {
    let failures = match (store.namespace(), store.meta().name.clone()) {
        (Some(namespace), Some(name)) => {
            ctx.memory_stores.record(&StoreKey { namespace, name }, store.meta().generation, false)
        }
        _ => 1,
    };
    let delay = requeue_after(false, failures);
    tracing::warn!(
        controller = CONTROLLER,
        namespace = store.namespace().unwrap_or_default(),
        name = %store.name_any(),
        error = %error,
        retry_in_s = delay.as_secs(),
        "memory store reconcile failed; retrying"
    );
    Action::requeue(delay)
}

/// The MemoryStore controller over all namespaces. It reconciles a store when its spec changes
/// (status-only updates are ignored, or each status write would trigger another reconcile), when
/// the Secret it names changes (watched as metadata only: Secret values never sit in the
/// operator's caches), and on the requeue schedule; it stops when `shutdown` completes.
pub fn controller(
    ctx: Arc<OperatorContext>,
    shutdown: impl Future<Output = ()> + Send + Sync + 'static,
) -> impl Future<Output = ()> {
    let client = ctx.client.clone();
    let (reader, writer) = reflector::store();
    let known = reader.clone();
    let stores = watcher(Api::<MemoryStore>::all(client.clone()), watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .inspect_ok({
            let ctx = ctx.clone();
            move |event| forget_deleted(event, &known, &ctx.memory_stores)
        })
        .touched_objects()
        .predicate_filter(predicates::generation, PredicateConfig::default());
    // An `Api` of `PartialObjectMeta` lists and watches metadata only (kube's successor to
    // `metadata_watcher`).
    let secrets = watcher(Api::<PartialObjectMeta<Secret>>::all(client), watcher::Config::default())
        .default_backoff()
        .touched_objects();
    let by_secret = reader.clone();
    let alive = reader.clone();

    Controller::for_stream(stores, reader)
        .watches_stream(secrets, move |secret| {
            let namespace = secret.namespace().unwrap_or_default();
            stores_using_secret(&by_secret.state(), &namespace, &secret.name_any())
        })
        .graceful_shutdown_on(shutdown)
        .run(
            move |store, ctx: Arc<OperatorContext>| {
                let alive = alive.clone();
                let state_ctx = ctx.clone();
                let object = ObjectRef::from_obj(&*store);
                let reconciled = crate::reconciler::instrumented::instrumented(
                    CONTROLLER,
                    &*store,
                    ctx.metrics.clone(),
                    reconcile(store.clone(), ctx),
                );
                async move {
                    // Bounded like every reconcile: a database that stops answering (a lock on
                    // `memories`, a failover without reset) must not freeze this store's status.
                    let result = reconciled.await;
                    // Deleted while this reconcile ran: its delete event may have come before
                    // the pool was cached again.
                    if alive.get(&object).is_none()
                        && let Some(namespace) = object.namespace.clone()
                    {
                        state_ctx.memory_stores.forget(&StoreKey { namespace, name: object.name.clone() });
                    }
                    result
                }
            },
            error_policy,
            ctx,
        )
        .for_each(|_| std::future::ready(()))
}

/// Drops what is kept for stores that are gone: on a delete, and after every re-list (deletes
/// that happened while the watch was down produce no delete event).
fn forget_deleted(event: &watcher::Event<MemoryStore>, known: &Store<MemoryStore>, state: &ControllerState) {
    match event {
        watcher::Event::Delete(store) => {
            if let (Some(namespace), Some(name)) = (store.namespace(), store.meta().name.clone()) {
                state.forget(&StoreKey { namespace, name });
            }
        }
        watcher::Event::InitDone => {
            state.retain(|key| known.get(&ObjectRef::new(&key.name).within(&key.namespace)).is_some())
        }
        watcher::Event::Apply(_) | watcher::Event::Init | watcher::Event::InitApply(_) => {}
    }
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
    fn controller_future_is_send(ctx: Arc<OperatorContext>) -> impl Future<Output = ()> + Send + 'static {
        controller(ctx, std::future::pending())
    }
}
