//! MemoryStore controller: connects to the store's PostgreSQL with the URI in its Secret, applies
//! the memory migrations in its schema, counts its memories, and reports all that as `Ready` and
//! `memoryCount` (DESIGN.md §2, §3).
//!
//! The decision part is pure ([`Probe`] → [`desired_status`], [`ready_event`], [`requeue_after`])
//! and unit-tested here; [`reconcile`] only gathers the probe and writes the result.
//! A database that cannot be used is not a reconcile error: the status says why and the store is
//! looked at again after a growing delay. Only Kubernetes API failures are [`ReconcileError`]s.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use agentry_crds::{Condition, ConditionStatus, MemoryStore, MemoryStoreStatus, SecretKeyRef, set_condition};
use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Secret;
use kube::core::PartialObjectMeta;
use kube::runtime::controller::{Action, Controller};
use kube::runtime::events::{Event, EventType};
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{PredicateConfig, WatchStreamExt, predicates, watcher};
use kube::{Api, Resource, ResourceExt};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use tracing::Instrument;

use crate::context::OperatorContext;
use crate::error::ReconcileError;
use crate::memory_schema::{self, ConnectionTarget, StoreError};
use crate::status_patch::apply_status;

/// The controller's name in metrics and logs.
const CONTROLLER: &str = "memorystore";
/// The condition this controller owns.
const READY: &str = "Ready";
/// How long connecting may take before the store counts as unreachable.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often a Ready store is looked at again, to refresh `memoryCount` and notice outages.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(5 * 60);
/// The first retry delay after a failure; it doubles with every further failure.
pub const FIRST_RETRY: Duration = Duration::from_secs(5);
/// The longest retry delay.
pub const MAX_RETRY: Duration = Duration::from_secs(5 * 60);
/// Events carry at most 1 kB of note.
const EVENT_NOTE_LIMIT: usize = 1024;

/// What one look at a MemoryStore's database found.
#[derive(Clone, Debug, PartialEq)]
pub enum Probe {
    /// The Secret named by `spec.postgres.connectionSecretRef` does not exist.
    SecretNotFound,
    /// The Secret exists but lacks the key.
    KeyMissing,
    /// The database could not be used.
    Failed(StoreError),
    /// Connected, migrated and counted.
    Ready {
        /// Where the connection went, without credentials (`user@host:port/database`).
        target: String,
        /// The newest migration applied in the schema.
        version: i64,
        /// Memories held, across agents.
        memory_count: i64,
    },
}

impl Probe {
    /// Whether the store can be used.
    pub fn is_ready(&self) -> bool {
        matches!(self, Self::Ready { .. })
    }

    /// The `Ready` condition saying what was found, with a message a person can act on. It never
    /// holds the connection URI or the password: store errors are built without them.
    pub fn ready_condition(&self, store: &MemoryStore) -> Condition {
        let postgres = &store.spec.postgres;
        let secret = &postgres.connection_secret_ref;
        let generation = store.meta().generation;
        let (status, reason, message) = match self {
            Self::Ready { target, version, memory_count } => (
                ConditionStatus::True,
                "Migrated".to_string(),
                format!(
                    "connected to {target}; schema {} at migration {version}; {memory_count} memories",
                    postgres.schema
                ),
            ),
            Self::SecretNotFound => (
                ConditionStatus::False,
                "SecretNotFound".to_string(),
                format!(
                    "Secret \"{}\" not found in namespace \"{}\"; create it with key \"{}\" holding the \
                     postgres:// connection URI",
                    secret.name,
                    store.namespace().unwrap_or_default(),
                    secret.key
                ),
            ),
            Self::KeyMissing => (
                ConditionStatus::False,
                "KeyMissing".to_string(),
                format!(
                    "Secret \"{}\" has no key \"{}\"; add the postgres:// connection URI under that key \
                     or change spec.postgres.connectionSecretRef.key",
                    secret.name, secret.key
                ),
            ),
            Self::Failed(error) => {
                (ConditionStatus::False, error.reason().to_string(), failure_message(error, secret))
            }
        };
        Condition::new(READY, status, reason, message, generation)
    }
}

fn failure_message(error: &StoreError, secret: &SecretKeyRef) -> String {
    if error.is_connection_failure() {
        format!("{error}; {} (the URI is in Secret \"{}\" key \"{}\")", error.hint(), secret.name, secret.key)
    } else {
        format!("{error}; {}", error.hint())
    }
}

/// The status to write for `store` after `probe`: `Ready` (keeping its transition time when it
/// did not flip), `observedGeneration`, `memoryCount` when known. `lastPrunedAt` is carried over
/// because a server-side apply by the same field manager would otherwise remove it.
pub fn desired_status(store: &MemoryStore, probe: &Probe) -> MemoryStoreStatus {
    let previous = store.status.clone().unwrap_or_default();
    let mut conditions = previous.conditions.clone();
    set_condition(&mut conditions, probe.ready_condition(store));
    // Only `Ready` is ours; listing other types would make this manager their co-owner.
    conditions.retain(|c| c.type_ == READY);
    let memory_count = match probe {
        Probe::Ready { memory_count, .. } => Some(*memory_count),
        // An old count would suggest a store that works; none is the honest answer.
        _ => None,
    };
    MemoryStoreStatus {
        observed_generation: store.meta().generation,
        conditions,
        memory_count,
        last_pruned_at: previous.last_pruned_at,
    }
}

/// The Event to publish when `Ready` changed between `previous` and `next`: Normal `Ready` when it
/// became true, a Warning with the reason when it became false or failed for a new reason.
/// Nothing when it merely stayed the same, so a store that is down does not flood the namespace.
pub fn ready_event(previous: Option<&MemoryStoreStatus>, next: &MemoryStoreStatus) -> Option<Event> {
    let ready = |status: &MemoryStoreStatus| status.conditions.iter().find(|c| c.type_ == READY).cloned();
    let now = ready(next)?;
    let before = previous.and_then(ready);
    let changed = match &before {
        None => true,
        Some(before) => {
            before.status != now.status
                || (now.status != ConditionStatus::True && before.reason != now.reason)
        }
    };
    if !changed {
        return None;
    }
    let (type_, reason) = if now.is_true() {
        (EventType::Normal, READY.to_string())
    } else {
        (EventType::Warning, now.reason.clone())
    };
    Some(Event {
        type_,
        reason,
        note: Some(truncate(&now.message, EVENT_NOTE_LIMIT)),
        action: "Migrate".to_string(),
        secondary: None,
    })
}

/// When to look at the store again: after [`REFRESH_INTERVAL`] when it is ready, otherwise after
/// [`FIRST_RETRY`] doubled for every consecutive failure before this one, at most [`MAX_RETRY`].
pub fn requeue_after(ready: bool, consecutive_failures: u32) -> Duration {
    if ready {
        return REFRESH_INTERVAL;
    }
    let doublings = consecutive_failures.saturating_sub(1).min(16);
    FIRST_RETRY.saturating_mul(1 << doublings).min(MAX_RETRY)
}

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
    let probe = probe(&store, &secrets, &key).await?;
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

    let failures = STATE.record(&key, store.meta().generation, probe.is_ready());
    Ok(Action::requeue(requeue_after(probe.is_ready(), failures)))
}

/// Reads the Secret and, when it holds a URI, looks at the database. Kubernetes API failures are
/// errors; everything about the Secret's contents or the database is a [`Probe`].
async fn probe(store: &MemoryStore, secrets: &Api<Secret>, key: &StoreKey) -> Result<Probe, ReconcileError> {
    let reference = &store.spec.postgres.connection_secret_ref;
    let Some(secret) = secrets.get_opt(&reference.name).await? else {
        STATE.forget_pool(key);
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
        STATE.forget_pool(key);
        return Ok(Probe::KeyMissing);
    };
    let Ok(uri) = String::from_utf8(value) else {
        STATE.forget_pool(key);
        return Ok(Probe::Failed(StoreError::InvalidConnectionUri {
            detail: "the Secret's value is not UTF-8 text".to_string(),
        }));
    };
    // Secrets made with `echo uri | kubectl create secret --from-file` end in a newline.
    Ok(probe_database(key, uri.trim(), &store.spec.postgres.schema).await)
}

async fn probe_database(key: &StoreKey, uri: &str, schema: &str) -> Probe {
    let fingerprint = fingerprint(uri, schema);
    let pool = match STATE.pool(key, &fingerprint) {
        Some(pool) => pool,
        None => match memory_schema::connect(uri, schema, CONNECT_TIMEOUT).await {
            Ok(pool) => {
                STATE.keep_pool(key, fingerprint, pool.clone());
                pool
            }
            Err(error) => {
                STATE.forget_pool(key);
                return Probe::Failed(error);
            }
        },
    };
    let outcome = async {
        let report = memory_schema::migrate(&pool, schema).await?;
        if !report.applied.is_empty() {
            tracing::info!(schema, applied = ?report.applied, version = report.version, "memory migrations applied");
        }
        let memory_count = memory_schema::memory_count(&pool).await?;
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
                STATE.forget_pool(key);
            }
            Probe::Failed(error)
        }
    }
}

/// Requeues after an API failure with the same growing delay as a store failure.
fn error_policy(store: Arc<MemoryStore>, error: &ReconcileError, _: Arc<OperatorContext>) -> Action {
    let failures = match (store.namespace(), store.meta().name.clone()) {
        (Some(namespace), Some(name)) => {
            STATE.record(&StoreKey { namespace, name }, store.meta().generation, false)
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
        .inspect_ok(move |event| forget_deleted(event, &known))
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
                async move {
                    let started = Instant::now();
                    let object = ObjectRef::from_obj(&*store);
                    let result = reconcile(store, ctx.clone()).await;
                    ctx.metrics.observe(
                        CONTROLLER,
                        started.elapsed(),
                        result.as_ref().err().map(ReconcileError::metric_label),
                    );
                    // Deleted while this reconcile ran: its delete event may have come before
                    // the pool was cached again.
                    if alive.get(&object).is_none()
                        && let Some(namespace) = object.namespace.clone()
                    {
                        STATE.forget(&StoreKey { namespace, name: object.name.clone() });
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
fn forget_deleted(event: &watcher::Event<MemoryStore>, known: &Store<MemoryStore>) {
    match event {
        watcher::Event::Delete(store) => {
            if let (Some(namespace), Some(name)) = (store.namespace(), store.meta().name.clone()) {
                STATE.forget(&StoreKey { namespace, name });
            }
        }
        watcher::Event::InitDone => {
            STATE.retain(|key| known.get(&ObjectRef::new(&key.name).within(&key.namespace)).is_some())
        }
        watcher::Event::Apply(_) | watcher::Event::Init | watcher::Event::InitApply(_) => {}
    }
}

/// Identifies a MemoryStore across reconciles.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct StoreKey {
    namespace: String,
    name: String,
}

/// A pool and what it was opened for.
struct CachedPool {
    /// Hash of the URI and schema: when either changes, the pool is replaced.
    fingerprint: [u8; 32],
    pool: PgPool,
}

/// Failures since the last success, for the generation they happened at: a new spec starts the
/// backoff afresh.
struct Failures {
    generation: Option<i64>,
    count: u32,
}

/// What the controller keeps between reconciles: one pool per store, so a reconcile does not
/// open a connection every time, and failure counts for the backoff.
///
/// It lives in a static because `reconcile` receives only the shared [`OperatorContext`];
/// reconciles of one store never overlap (the Controller serialises them), and the lock is never
/// held across an await.
#[derive(Default)]
struct ControllerState {
    inner: Mutex<StateMaps>,
}

#[derive(Default)]
struct StateMaps {
    pools: HashMap<StoreKey, CachedPool>,
    failures: HashMap<StoreKey, Failures>,
}

static STATE: LazyLock<ControllerState> = LazyLock::new(ControllerState::default);

impl ControllerState {
    fn maps(&self) -> MutexGuard<'_, StateMaps> {
        // A panic elsewhere cannot leave these maps inconsistent in a way that matters.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached pool of `key` if it was opened for the same URI and schema.
    fn pool(&self, key: &StoreKey, fingerprint: &[u8; 32]) -> Option<PgPool> {
        let mut maps = self.maps();
        match maps.pools.get(key) {
            Some(cached) if &cached.fingerprint == fingerprint => Some(cached.pool.clone()),
            Some(_) => {
                // The URI or schema changed: the old pool points at the wrong place.
                if let Some(stale) = maps.pools.remove(key) {
                    close_in_background(stale.pool);
                }
                None
            }
            None => None,
        }
    }

    fn keep_pool(&self, key: &StoreKey, fingerprint: [u8; 32], pool: PgPool) {
        if let Some(old) = self.maps().pools.insert(key.clone(), CachedPool { fingerprint, pool }) {
            close_in_background(old.pool);
        }
    }

    fn forget_pool(&self, key: &StoreKey) {
        if let Some(old) = self.maps().pools.remove(key) {
            close_in_background(old.pool);
        }
    }

    fn forget(&self, key: &StoreKey) {
        let mut maps = self.maps();
        maps.failures.remove(key);
        if let Some(old) = maps.pools.remove(key) {
            close_in_background(old.pool);
        }
    }

    fn retain(&self, keep: impl Fn(&StoreKey) -> bool) {
        let mut maps = self.maps();
        maps.failures.retain(|key, _| keep(key));
        let gone: Vec<StoreKey> = maps.pools.keys().filter(|key| !keep(key)).cloned().collect();
        for key in gone {
            if let Some(old) = maps.pools.remove(&key) {
                close_in_background(old.pool);
            }
        }
    }

    /// Records the outcome of a reconcile; returns the consecutive failures so far (0 after a
    /// success).
    fn record(&self, key: &StoreKey, generation: Option<i64>, success: bool) -> u32 {
        let mut maps = self.maps();
        if success {
            maps.failures.remove(key);
            return 0;
        }
        let entry = maps.failures.entry(key.clone()).or_insert(Failures { generation, count: 0 });
        if entry.generation != generation {
            *entry = Failures { generation, count: 0 };
        }
        entry.count = entry.count.saturating_add(1);
        entry.count
    }
}

/// Closes a pool without making the caller wait: its connections end gracefully once idle.
fn close_in_background(pool: PgPool) {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn(async move { pool.close().await });
        }
        // Outside a runtime, dropping the pool closes its sockets.
        Err(_) => drop(pool),
    }
}

fn fingerprint(uri: &str, schema: &str) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(uri.as_bytes());
    hash.update([0]);
    hash.update(schema.as_bytes());
    hash.finalize().into()
}

/// At most `limit` bytes of `text`, cut at a character boundary.
fn truncate(text: &str, limit: usize) -> String {
    if text.len() <= limit {
        return text.to_string();
    }
    let mut end = limit.saturating_sub(3);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}...", &text[..end])
}

#[cfg(test)]
mod tests {
    use agentry_crds::{EmbeddingProvider, EmbeddingSpec, MemoryStoreSpec, PostgresStore};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    use super::*;

    const PASSWORD: &str = "hunter2-very-secret";

    fn store(status: Option<MemoryStoreStatus>) -> MemoryStore {
        let mut store = MemoryStore::new(
            "fleet",
            MemoryStoreSpec {
                postgres: PostgresStore {
                    connection_secret_ref: SecretKeyRef { name: "fleet-db".into(), key: "uri".into() },
                    schema: "agentry_fleet".into(),
                },
                embedding: EmbeddingSpec {
                    provider: EmbeddingProvider::Hashing,
                    model_ref: None,
                    model: None,
                    dimensions: 256,
                },
                retention: None,
                consolidation: None,
            },
        );
        store.metadata.namespace = Some("team-a".into());
        store.metadata.generation = Some(3);
        store.status = status;
        store
    }

    fn ready_probe(count: i64) -> Probe {
        Probe::Ready { target: "agentry@db:5432/fleet".into(), version: 2, memory_count: count }
    }

    fn auth_failed() -> Probe {
        Probe::Failed(StoreError::AuthenticationFailed {
            target: "agentry@db:5432/fleet".into(),
            detail: "password authentication failed for user \"agentry\"".into(),
        })
    }

    fn ready_of(status: &MemoryStoreStatus) -> &Condition {
        status.conditions.iter().find(|c| c.type_ == READY).expect("Ready condition")
    }

    #[test]
    fn ready_probe_gives_migrated_and_count() {
        let status = desired_status(&store(None), &ready_probe(1234));
        let ready = ready_of(&status);
        assert_eq!(ready.status, ConditionStatus::True);
        assert_eq!(ready.reason, "Migrated");
        assert_eq!(
            ready.message,
            "connected to agentry@db:5432/fleet; schema agentry_fleet at migration 2; 1234 memories"
        );
        assert_eq!(ready.observed_generation, Some(3));
        assert_eq!(status.observed_generation, Some(3));
        assert_eq!(status.memory_count, Some(1234));
    }

    #[test]
    fn missing_secret_and_key_name_what_to_create() {
        let status = desired_status(&store(None), &Probe::SecretNotFound);
        let ready = ready_of(&status);
        assert_eq!((ready.status, ready.reason.as_str()), (ConditionStatus::False, "SecretNotFound"));
        assert!(
            ready.message.contains("\"fleet-db\"") && ready.message.contains("\"team-a\""),
            "{}",
            ready.message
        );
        assert!(ready.message.contains("\"uri\""));
        assert_eq!(status.memory_count, None);

        let status = desired_status(&store(None), &Probe::KeyMissing);
        let ready = ready_of(&status);
        assert_eq!(ready.reason, "KeyMissing");
        assert!(ready.message.contains("no key \"uri\""), "{}", ready.message);
    }

    #[test]
    fn store_errors_carry_their_reason_and_a_hint_without_password() {
        let status = desired_status(&store(None), &auth_failed());
        let ready = ready_of(&status);
        assert_eq!((ready.status, ready.reason.as_str()), (ConditionStatus::False, "AuthenticationFailed"));
        assert!(ready.message.contains("refused the login"), "{}", ready.message);
        assert!(ready.message.contains("Secret \"fleet-db\" key \"uri\""), "{}", ready.message);
        assert!(!ready.message.contains(PASSWORD));
        let json = serde_json::to_string(&status).expect("serializable");
        assert!(!json.contains(PASSWORD));
    }

    #[test]
    fn failure_drops_the_count_and_keeps_last_pruned_at() {
        let pruned = Time("2026-01-02T03:04:05Z".parse().expect("timestamp"));
        let previous = desired_status(&store(None), &ready_probe(7));
        let previous = MemoryStoreStatus { last_pruned_at: Some(pruned.clone()), ..previous };
        let status = desired_status(&store(Some(previous)), &auth_failed());
        assert_eq!(status.memory_count, None);
        assert_eq!(status.last_pruned_at, Some(pruned));
    }

    #[test]
    fn transition_time_is_kept_while_ready_stays_true_and_other_conditions_are_not_applied() {
        let old_time = Time("2020-01-01T00:00:00Z".parse().expect("timestamp"));
        let mut previous = desired_status(&store(None), &ready_probe(1));
        previous.conditions[0].last_transition_time = old_time.clone();
        previous.conditions.push(Condition::new("Other", ConditionStatus::True, "X", "", None));
        let status = desired_status(&store(Some(previous.clone())), &ready_probe(2));
        assert_eq!(status.conditions.len(), 1);
        assert_eq!(ready_of(&status).last_transition_time, old_time);

        let failed = desired_status(&store(Some(previous)), &auth_failed());
        assert_ne!(ready_of(&failed).last_transition_time, old_time);
    }

    #[test]
    fn unchanged_probe_gives_an_identical_status() {
        let first = desired_status(&store(None), &ready_probe(5));
        let second = desired_status(&store(Some(first.clone())), &ready_probe(5));
        assert_eq!(first, second, "an unchanged store must not be rewritten");
    }

    #[test]
    fn events_only_when_ready_flips_or_the_failure_changes() {
        let ready = desired_status(&store(None), &ready_probe(1));
        let event = ready_event(None, &ready).expect("first Ready");
        assert_eq!((event.type_, event.reason.as_str()), (EventType::Normal, "Ready"));

        let still_ready = desired_status(&store(Some(ready.clone())), &ready_probe(2));
        assert!(ready_event(Some(&ready), &still_ready).is_none());

        let failed = desired_status(&store(Some(ready.clone())), &auth_failed());
        let event = ready_event(Some(&ready), &failed).expect("flip to False");
        assert_eq!((event.type_, event.reason.as_str()), (EventType::Warning, "AuthenticationFailed"));
        assert!(!event.note.as_deref().unwrap_or_default().contains(PASSWORD));

        let still_failed = desired_status(&store(Some(failed.clone())), &auth_failed());
        assert!(ready_event(Some(&failed), &still_failed).is_none());

        let other_failure = desired_status(&store(Some(failed.clone())), &Probe::SecretNotFound);
        let event = ready_event(Some(&failed), &other_failure).expect("new reason");
        assert_eq!(event.reason, "SecretNotFound");
    }

    #[test]
    fn backoff_doubles_from_five_seconds_to_five_minutes() {
        assert_eq!(requeue_after(true, 0), REFRESH_INTERVAL);
        let delays: Vec<u64> = (1..=9).map(|n| requeue_after(false, n).as_secs()).collect();
        assert_eq!(delays, vec![5, 10, 20, 40, 80, 160, 300, 300, 300]);
        assert_eq!(requeue_after(false, u32::MAX), MAX_RETRY);
        assert_eq!(requeue_after(false, 0), FIRST_RETRY);
    }

    #[test]
    fn failure_counts_reset_on_success_and_on_a_new_generation() {
        let state = ControllerState::default();
        let key = StoreKey { namespace: "ns".into(), name: "a".into() };
        assert_eq!(state.record(&key, Some(1), false), 1);
        assert_eq!(state.record(&key, Some(1), false), 2);
        assert_eq!(state.record(&key, Some(2), false), 1);
        assert_eq!(state.record(&key, Some(2), true), 0);
        assert_eq!(state.record(&key, Some(2), false), 1);
        state.retain(|_| false);
        assert_eq!(state.record(&key, Some(2), false), 1);
    }

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

    #[test]
    fn fingerprint_changes_with_uri_or_schema() {
        let base = fingerprint("postgres://a@h/db", "s");
        assert_eq!(base, fingerprint("postgres://a@h/db", "s"));
        assert_ne!(base, fingerprint("postgres://a:x@h/db", "s"));
        assert_ne!(base, fingerprint("postgres://a@h/db", "t"));
        // The separator keeps "ab"+"c" apart from "a"+"bc".
        assert_ne!(fingerprint("ab", "c"), fingerprint("a", "bc"));
    }

    /// The operator spawns the controller on a multi-threaded runtime; this only compiles if its
    /// future is `Send + 'static`.
    #[allow(dead_code)]
    fn controller_future_is_send(ctx: Arc<OperatorContext>) -> impl Future<Output = ()> + Send + 'static {
        controller(ctx, std::future::pending())
    }

    #[test]
    fn long_event_notes_are_cut_on_a_character_boundary() {
        let text = "é".repeat(600);
        let cut = truncate(&text, EVENT_NOTE_LIMIT);
        assert!(cut.len() <= EVENT_NOTE_LIMIT);
        assert!(cut.ends_with("..."));
        assert_eq!(truncate("short", EVENT_NOTE_LIMIT), "short");
    }
}
