//! [`TaskQueue`]: submit, read, watch, cancel, and the worker's claim and finish.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use agentry_protocol::subjects::{self, SubjectToken};
use agentry_protocol::tasks::{self, InvalidTaskId, TaskId};
use agentry_protocol::{AgentRequest, TaskRecord, TaskState};
use async_nats::jetstream::{self, consumer::PullConsumer, kv};
use futures::StreamExt;

use crate::queue_setup::{state_bucket, tasks_stream_config, worker_consumer_config};
use crate::task_records::{self, RecordError, VersionedRecord};

/// The task queue and its records, over one JetStream context.
#[derive(Clone, Debug)]
pub struct TaskQueue {
    js: jetstream::Context,
    records: kv::Store,
}

/// Why the queue could not be opened or a consumer made.
#[derive(Debug, thiserror::Error)]
pub enum TaskQueueError {
    /// The `AGENTRY_TASKS` stream could not be found or created.
    #[error("creating the AGENTRY_TASKS stream: {0}")]
    Stream(String),
    /// The task state bucket could not be found or created.
    #[error("opening the AGENTRY_TASK_STATE bucket: {0}")]
    Bucket(String),
    /// The agent's durable consumer could not be found or created.
    #[error("creating the task consumer {name}: {message}")]
    Consumer {
        /// The consumer's name.
        name: String,
        /// Why.
        message: String,
    },
}

/// Why a task was not submitted.
#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    /// The request's id cannot be a task id.
    #[error("requestId: {0}")]
    TaskId(#[from] InvalidTaskId),
    /// The request does not serialize (a non-finite number in its context).
    #[error("the task does not serialize: {0}")]
    Encode(#[source] serde_json::Error),
    /// The task's record could not be written or read.
    #[error(transparent)]
    Record(#[from] RecordError),
    /// JetStream did not store the task.
    #[error("publishing the task to AGENTRY_TASKS: {0}")]
    Publish(String),
}

/// Why waiting for a task's end stopped.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    /// The task had not ended when the wait ran out.
    #[error("task {task} had not ended after {waited:?} (last state: {state})")]
    TimedOut {
        /// The task id.
        task: String,
        /// How long was waited.
        waited: Duration,
        /// The state last seen.
        state: &'static str,
    },
    /// The record could not be watched.
    #[error("watching task {task}: {message}")]
    Watch {
        /// The task id.
        task: String,
        /// Why.
        message: String,
    },
    /// A record could not be read.
    #[error(transparent)]
    Record(#[from] RecordError),
}

/// What a worker may do with a delivered task.
#[derive(Debug)]
pub enum Claim {
    /// Run it; finish with this revision.
    Run(VersionedRecord),
    /// It has already ended (a redelivery, a duplicate or a cancellation): acknowledge it
    /// without running it.
    Ended(TaskRecord),
}

impl TaskQueue {
    /// Opens the queue, creating the stream and the bucket when they do not exist yet.
    pub async fn open(js: jetstream::Context) -> Result<Self, TaskQueueError> {
        js.get_or_create_stream(tasks_stream_config())
            .await
            .map_err(|e| TaskQueueError::Stream(e.to_string()))?;
        let records = state_bucket(&js).await.map_err(TaskQueueError::Bucket)?;
        Ok(Self { js, records })
    }

    /// Submits `request` as task `request.requestId` of `agent`. Submitting a task id again is
    /// safe: an ended task is returned as it is; one not yet ended is published again, which the
    /// stream drops as a duplicate within its window and a worker skips after.
    pub async fn submit(
        &self,
        namespace: &SubjectToken,
        agent: &SubjectToken,
        request: &AgentRequest,
    ) -> Result<TaskRecord, SubmitError> {
        let task = TaskId::new(request.request_id.clone())?;
        let key = tasks::state_key(namespace, agent, &task);
        let queued = TaskRecord::queued(namespace, agent, &task, now_ms());
        let record = match task_records::create(&self.records, &key, &queued).await? {
            Some(_) => queued,
            None => match task_records::load(&self.records, &key).await? {
                Some(existing) if existing.record.state.is_terminal() => return Ok(existing.record),
                Some(existing) => existing.record,
                None => queued,
            },
        };
        let payload = serde_json::to_vec(request).map_err(SubmitError::Encode)?;
        let message = jetstream::message::PublishMessage::build()
            .payload(payload.into())
            .message_id(tasks::message_id(namespace, agent, &task));
        let ack = self
            .js
            .send_publish(subjects::tasks(namespace, agent), message)
            .await
            .map_err(|e| SubmitError::Publish(e.to_string()))?;
        ack.await.map_err(|e| SubmitError::Publish(e.to_string()))?;
        Ok(record)
    }

    /// The task's record, if the task is known.
    pub async fn record(
        &self,
        namespace: &SubjectToken,
        agent: &SubjectToken,
        task: &TaskId,
    ) -> Result<Option<VersionedRecord>, RecordError> {
        task_records::load(&self.records, &tasks::state_key(namespace, agent, task)).await
    }

    /// Cancels the task unless it has already ended; returns its record afterwards (`None`: no
    /// such task). A runner working on it stops at its next check, within a few seconds.
    pub async fn cancel(
        &self,
        namespace: &SubjectToken,
        agent: &SubjectToken,
        task: &TaskId,
        reason: &str,
    ) -> Result<Option<TaskRecord>, RecordError> {
        let key = tasks::state_key(namespace, agent, task);
        loop {
            let Some(current) = task_records::load(&self.records, &key).await? else { return Ok(None) };
            if current.record.state.is_terminal() {
                return Ok(Some(current.record));
            }
            let mut cancelled = current.record;
            cancelled.state = TaskState::Cancelled;
            cancelled.finished_ms = Some(now_ms());
            cancelled.message = Some(reason.to_string());
            if task_records::replace(&self.records, &key, &cancelled, current.revision).await?.is_some() {
                return Ok(Some(cancelled));
            }
        }
    }

    /// Waits until the task has ended and returns its final record.
    pub async fn wait(
        &self,
        namespace: &SubjectToken,
        agent: &SubjectToken,
        task: &TaskId,
        timeout: Duration,
    ) -> Result<TaskRecord, WaitError> {
        let key = tasks::state_key(namespace, agent, task);
        let watch_error =
            |e: &dyn std::fmt::Display| WaitError::Watch { task: task.to_string(), message: e.to_string() };
        // Every write of the record is published on its subject: a plain subscription hears it
        // without the consumer a key-value watch creates (a millisecond or more per wait).
        // Subscribed before the read on the same connection, it hears every write the read
        // does not see.
        let prefix = self.records.put_prefix.as_deref().unwrap_or(&self.records.prefix);
        let mut changes =
            self.js.client().subscribe(format!("{prefix}{key}")).await.map_err(|e| watch_error(&e))?;
        let mut state = match task_records::load(&self.records, &key).await? {
            Some(current) if current.record.state.is_terminal() => return Ok(current.record),
            Some(current) => current.record.state,
            None => TaskState::Queued,
        };
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let change = tokio::time::timeout_at(deadline, changes.next()).await.map_err(|_| {
                WaitError::TimedOut { task: task.to_string(), waited: timeout, state: state.as_str() }
            })?;
            let Some(message) = change else { return Err(watch_error(&"the subscription ended")) };
            // Deletions and purges carry a `KV-Operation` header and no record.
            if message.headers.as_ref().is_some_and(|h| h.get("KV-Operation").is_some()) {
                continue;
            }
            let record = task_records::parse(&key, &message.payload)?;
            if record.state.is_terminal() {
                return Ok(record);
            }
            state = record.state;
        }
    }

    /// The durable consumer `agent`'s replicas pull its tasks from.
    pub async fn worker_consumer(
        &self,
        namespace: &SubjectToken,
        agent: &SubjectToken,
    ) -> Result<PullConsumer, TaskQueueError> {
        let config = worker_consumer_config(namespace, agent);
        let name = config.durable_name.clone().unwrap_or_default();
        let consumer_error = |e: &dyn std::fmt::Display| TaskQueueError::Consumer {
            name: name.clone(),
            message: e.to_string(),
        };
        let stream = self.js.get_stream(subjects::TASKS_STREAM).await.map_err(|e| consumer_error(&e))?;
        stream.get_or_create_consumer(&name, config).await.map_err(|e| consumer_error(&e))
    }

    /// Marks the task running as run `attempt` on `runner`, unless it has ended.
    pub async fn claim(
        &self,
        namespace: &SubjectToken,
        agent: &SubjectToken,
        task: &TaskId,
        attempt: u32,
        runner: &str,
    ) -> Result<Claim, RecordError> {
        let key = tasks::state_key(namespace, agent, task);
        loop {
            let current = task_records::load(&self.records, &key).await?;
            let (mut record, revision) = match current {
                Some(v) if v.record.state.is_terminal() => return Ok(Claim::Ended(v.record)),
                Some(v) => (v.record, Some(v.revision)),
                // Published by a client that wrote no record: the worker starts one.
                None => (TaskRecord::queued(namespace, agent, task, now_ms()), None),
            };
            record.state = TaskState::Running;
            record.attempts = attempt;
            record.started_ms = Some(now_ms());
            record.runner = Some(runner.to_string());
            let written = match revision {
                Some(revision) => task_records::replace(&self.records, &key, &record, revision).await?,
                None => task_records::create(&self.records, &key, &record).await?,
            };
            if let Some(revision) = written {
                return Ok(Claim::Run(VersionedRecord { record, revision }));
            }
        }
    }

    /// Records the end of a run (or, for a retryable failure, the task back in the queue).
    /// Returns the record that stands: `record` itself, or the cancellation that came first.
    pub async fn finish(
        &self,
        claimed: &VersionedRecord,
        mut record: TaskRecord,
    ) -> Result<TaskRecord, RecordError> {
        let key = key_of(&claimed.record);
        let mut revision = claimed.revision;
        if record.state.is_terminal() {
            record.finished_ms = Some(now_ms());
        }
        record.bound_output();
        loop {
            if task_records::replace(&self.records, &key, &record, revision).await?.is_some() {
                return Ok(record);
            }
            match task_records::load(&self.records, &key).await? {
                Some(current) if current.record.state.is_terminal() => return Ok(current.record),
                Some(current) => revision = current.revision,
                None => {
                    // Expired or purged meanwhile: write it afresh.
                    if task_records::create(&self.records, &key, &record).await?.is_some() {
                        return Ok(record);
                    }
                }
            }
        }
    }

    /// Whether the task has been cancelled (or otherwise ended) since it was claimed.
    pub async fn ended_elsewhere(
        &self,
        claimed: &VersionedRecord,
    ) -> Result<Option<TaskRecord>, RecordError> {
        let key = key_of(&claimed.record);
        Ok(task_records::load(&self.records, &key).await?.map(|v| v.record).filter(|r| r.state.is_terminal()))
    }
}

fn key_of(record: &TaskRecord) -> String {
    format!("{}.{}.{}", record.namespace, record.agent, record.task_id)
}

/// Milliseconds since the Unix epoch.
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default()
}
