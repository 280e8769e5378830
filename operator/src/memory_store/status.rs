//! What the MemoryStore controller decides from one look at a store's database: the status to
//! write, the Event to publish and when to look again. Pure functions of a [`Probe`], so they are
//! unit-tested here without Kubernetes or PostgreSQL.

use std::time::Duration;

use agentry_crds::{
    Condition, ConditionStatus, MemoryStore, MemoryStoreStatus, SecretKeyRef, reasons, set_condition,
};
use kube::runtime::events::{Event, EventType};
use kube::{Resource, ResourceExt};

use crate::memory_store::consolidation::CONSOLIDATED;
use crate::memory_store::schema::StoreError;

/// The condition this controller owns.
const READY: &str = "Ready";
/// How often a Ready store is looked at again, to refresh `memoryCount` and notice outages: its
/// Agents' `MemoryBound` follows this probe, so an outage shows there within about this long.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(30);
/// The first retry delay after a failure; it doubles with every further failure.
pub const FIRST_RETRY: Duration = Duration::from_secs(5);
/// The longest retry delay: a store that returns is seen bound again within about this long.
pub const MAX_RETRY: Duration = Duration::from_secs(60);
/// Events carry at most 1 kB of note.
const EVENT_NOTE_LIMIT: usize = 1024;

/// What one look at a MemoryStore's database found.
#[derive(Clone, Debug, PartialEq)]
pub enum Probe {
    /// The Secret named by `spec.postgres.connectionSecretRef` does not exist.
    SecretNotFound,
    /// The Secret exists but lacks the key.
    KeyMissing,
    /// The Secret is in a namespace the operator does not read Secrets in: why, naming the
    /// namespace and the setting.
    SecretNamespaceNotAllowed(String),
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
            Self::SecretNamespaceNotAllowed(why) => {
                (ConditionStatus::False, reasons::SECRET_NAMESPACE_NOT_ALLOWED.to_string(), why.clone())
            }
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
    // Only `Ready` and `Consolidated` are ours; listing other types would make this manager
    // their co-owner.
    conditions.retain(|c| c.type_ == READY || c.type_ == CONSOLIDATED);
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
pub(crate) mod tests {
    use agentry_crds::{EmbeddingProvider, EmbeddingSpec, MemoryStoreSpec, PostgresStore};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    use super::*;

    const PASSWORD: &str = "hunter2-very-secret";

    /// MemoryStore `team-a/fleet` at generation 3, its URI in Secret `fleet-db` key `uri` (also
    /// used by the controller's tests).
    pub(crate) fn store(status: Option<MemoryStoreStatus>) -> MemoryStore {
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

        let why = "Secret \"fleet-db\" is in namespace \"team-a\", where the operator does not read Secrets";
        let status = desired_status(&store(None), &Probe::SecretNamespaceNotAllowed(why.into()));
        let ready = ready_of(&status);
        assert_eq!(
            (ready.status, ready.reason.as_str()),
            (ConditionStatus::False, "SecretNamespaceNotAllowed")
        );
        assert_eq!(ready.message, why);
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
    fn backoff_doubles_from_five_seconds_to_a_minute() {
        assert_eq!(requeue_after(true, 0), REFRESH_INTERVAL);
        let delays: Vec<u64> = (1..=9).map(|n| requeue_after(false, n).as_secs()).collect();
        assert_eq!(delays, vec![5, 10, 20, 40, 60, 60, 60, 60, 60]);
        assert_eq!(requeue_after(false, u32::MAX), MAX_RETRY);
        assert_eq!(requeue_after(false, 0), FIRST_RETRY);
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
