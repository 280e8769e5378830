//! The stream, bucket and consumer every party creates alike when it finds them missing.

use std::time::Duration;

use agentry_protocol::subjects::{self, SubjectToken, TASKS_STREAM, TASKS_STREAM_SUBJECTS};
use agentry_protocol::tasks::{
    self, MAX_TASK_ATTEMPTS, TASK_ACK_WAIT_SECONDS, TASK_DEDUP_WINDOW_SECONDS, TASK_STATE_BUCKET,
    TASK_STATE_TTL_SECONDS,
};
use async_nats::jetstream::{self, consumer::pull, kv, stream};

/// A consumer no runner has pulled from for this long is removed by the server; its tasks stay
/// in the stream for the next consumer of that agent.
const CONSUMER_INACTIVE_THRESHOLD: Duration = Duration::from_secs(24 * 3600);
/// Tasks handed out and not yet acknowledged, across an agent's replicas.
const MAX_ACK_PENDING: i64 = 10_000;

/// The work queue: a task leaves it once acknowledged.
pub(crate) fn tasks_stream_config() -> stream::Config {
    stream::Config {
        name: TASKS_STREAM.to_string(),
        subjects: vec![TASKS_STREAM_SUBJECTS.to_string()],
        retention: stream::RetentionPolicy::WorkQueue,
        duplicate_window: Duration::from_secs(TASK_DEDUP_WINDOW_SECONDS),
        max_age: Duration::from_secs(TASK_STATE_TTL_SECONDS),
        ..Default::default()
    }
}

/// Opens the bucket of task records (the latest record per task, kept for a week), creating it
/// when missing.
pub(crate) async fn state_bucket(js: &jetstream::Context) -> Result<kv::Store, String> {
    if let Ok(store) = js.get_key_value(TASK_STATE_BUCKET).await {
        return Ok(store);
    }
    // async-nats's `create_key_value` first reads the account's limits, whose reply from
    // nats-server 2.9 it cannot parse; the bucket is a stream of a known shape, made here.
    js.get_or_create_stream(key_value_stream_config(
        TASK_STATE_BUCKET,
        "Agentry task states and results",
        Duration::from_secs(TASK_STATE_TTL_SECONDS),
    ))
    .await
    .map_err(|e| e.to_string())?;
    js.get_key_value(TASK_STATE_BUCKET).await.map_err(|e| e.to_string())
}

/// The stream behind a key-value bucket holding one value per key, each kept for `max_age`, as
/// the NATS key-value specification lays it out (for buckets opened where
/// `create_key_value` cannot be used: see [`state_bucket`]).
pub fn key_value_stream_config(bucket: &str, description: &str, max_age: Duration) -> stream::Config {
    stream::Config {
        name: format!("KV_{bucket}"),
        description: Some(description.to_string()),
        subjects: vec![format!("$KV.{bucket}.>")],
        max_messages_per_subject: 1,
        max_age,
        allow_rollup: true,
        deny_delete: true,
        allow_direct: true,
        discard: stream::DiscardPolicy::New,
        ..Default::default()
    }
}

/// The durable consumer an agent's replicas share. One delivery beyond
/// [`MAX_TASK_ATTEMPTS`] is allowed so that a task whose every run died with its runner is still
/// seen once more and recorded `failed`, instead of vanishing with the server's advisory.
pub fn worker_consumer_config(namespace: &SubjectToken, agent: &SubjectToken) -> pull::Config {
    pull::Config {
        durable_name: Some(tasks::consumer_name(namespace, agent)),
        description: Some(format!("Agentry tasks of agent {namespace}/{agent}")),
        filter_subject: subjects::tasks(namespace, agent),
        ack_policy: jetstream::consumer::AckPolicy::Explicit,
        ack_wait: Duration::from_secs(TASK_ACK_WAIT_SECONDS),
        max_deliver: i64::from(MAX_TASK_ATTEMPTS) + 1,
        max_ack_pending: MAX_ACK_PENDING,
        inactive_threshold: CONSUMER_INACTIVE_THRESHOLD,
        ..Default::default()
    }
}
