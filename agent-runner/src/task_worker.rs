//! The agent's task worker: pulls the agent's tasks from the durable consumer its replicas share
//! and runs each on a task of its own, within the replica's concurrency limit, which it shares
//! with queries (one semaphore).
//!
//! A task is fetched only when a slot is free for it: the worker waits until one is, fetches at
//! most as many messages as are free without waiting, and when none was waiting waits for the
//! next one. It holds no slot while it fetches or waits, so a query is never refused `busy` for
//! a task that may not come; in the rare case a query takes the last slot between the fetch and
//! the start, the message waits for the next slot telling JetStream it is in progress, so its
//! ack timer does not run out.
//!
//! When JetStream or the task queue cannot be reached the runner still answers queries: the
//! worker keeps trying in the background, logging each change of state once.

use std::sync::Arc;
use std::time::Duration;

use agentry_task_queue::TaskQueue;
use async_nats::jetstream::{self, AckKind, Message, consumer::PullConsumer};
use futures::StreamExt;
use tokio::task::JoinSet;

use crate::drain::{DrainSignal, Phase};
use crate::slots::{Slot, Slots};
use crate::task_backlog::BacklogWatch;
use crate::task_run::{self, TaskRunner};

/// How long one wait for the next task lasts before it is asked for again; short, so that a
/// pull lost with a NATS connection is renewed soon.
const LONG_POLL: Duration = Duration::from_secs(5);
/// First and longest pause between attempts to reach the task queue.
const RETRY_MIN: Duration = Duration::from_secs(1);
const RETRY_MAX: Duration = Duration::from_secs(15);
/// Most messages asked for at once.
const MAX_BATCH: usize = 256;
/// How often a message waiting for a slot is reported in progress.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(agentry_protocol::tasks::TASK_PROGRESS_SECONDS);

/// The worker of one replica.
pub(crate) struct TaskWorker {
    js: jetstream::Context,
    runner: Arc<TaskRunner>,
    slots: Arc<Slots>,
}

/// Why pulling stopped; the worker reconnects to the queue after a pause.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct PullError(String);

impl TaskWorker {
    /// A worker running tasks with `runner`, in `slots`.
    pub(crate) fn new(js: jetstream::Context, runner: TaskRunner, slots: Arc<Slots>) -> Self {
        Self { js, runner: Arc::new(runner), slots }
    }

    /// Works on tasks until the drain begins, then waits for the runs in progress: they end, or
    /// release their task once the drain is released.
    pub(crate) async fn run(self, mut drain: DrainSignal) {
        let mut runs = JoinSet::new();
        let mut retry = RETRY_MIN;
        let mut available: Option<bool> = None;
        while drain.phase() == Phase::Serving {
            let pulled = tokio::select! {
                () = drain.reached(Phase::Draining) => break,
                opened = self.open() => match opened {
                    Ok((queue, consumer)) => {
                        if available != Some(true) {
                            tracing::info!(consumer = %consumer.cached_info().name, "working on tasks");
                            available = Some(true);
                        }
                        retry = RETRY_MIN;
                        let _backlog = BacklogWatch::start(consumer.clone(), self.runner.metrics.clone());
                        self.pull(&queue, &consumer, &mut runs, &mut drain).await
                    }
                    Err(err) => Err(err),
                },
            };
            match pulled {
                Ok(()) => break,
                Err(err) if available != Some(false) => {
                    tracing::warn!(error = %err, "task queue unavailable; tasks wait until it is back (queries are still answered)");
                    available = Some(false);
                }
                Err(err) => tracing::debug!(error = %err, "task queue still unavailable"),
            }
            tokio::select! {
                () = drain.reached(Phase::Draining) => break,
                () = tokio::time::sleep(retry) => retry = (retry * 2).min(RETRY_MAX),
            }
        }
        if !runs.is_empty() {
            tracing::info!(runs = runs.len(), "draining: no new tasks; letting the runs in progress end");
        }
        while runs.join_next().await.is_some() {}
    }

    async fn open(&self) -> Result<(TaskQueue, PullConsumer), PullError> {
        let queue = TaskQueue::open(self.js.clone()).await.map_err(|e| PullError(e.to_string()))?;
        let consumer = queue
            .worker_consumer(&self.runner.namespace, &self.runner.agent)
            .await
            .map_err(|e| PullError(e.to_string()))?;
        Ok((queue, consumer))
    }

    /// Pulls and starts tasks until the drain begins (`Ok`) or pulling fails.
    async fn pull(
        &self,
        queue: &TaskQueue,
        consumer: &PullConsumer,
        runs: &mut JoinSet<()>,
        drain: &mut DrainSignal,
    ) -> Result<(), PullError> {
        loop {
            while runs.try_join_next().is_some() {}
            tokio::select! {
                biased;
                () = drain.reached(Phase::Draining) => return Ok(()),
                () = self.slots.wait_free() => {}
            }
            let mut batch = consumer
                .fetch()
                .max_messages(self.slots.free().clamp(1, MAX_BATCH))
                .messages()
                .await
                .map_err(|e| PullError(format!("fetching tasks: {e}")))?;
            let mut fetched = 0;
            while let Some(message) = batch.next().await {
                let message = message.map_err(|e| PullError(format!("fetching tasks: {e}")))?;
                self.start(queue, message, drain, runs);
                fetched += 1;
            }
            if fetched == 0 {
                self.wait_for_next(queue, consumer, runs, drain).await?;
            }
        }
    }

    /// Waits for the next task (holding no slot), then starts it.
    async fn wait_for_next(
        &self,
        queue: &TaskQueue,
        consumer: &PullConsumer,
        runs: &mut JoinSet<()>,
        drain: &mut DrainSignal,
    ) -> Result<(), PullError> {
        let mut next = consumer
            .batch()
            .max_messages(1)
            .expires(LONG_POLL)
            .messages()
            .await
            .map_err(|e| PullError(format!("waiting for tasks: {e}")))?;
        let message = tokio::select! {
            biased;
            () = drain.reached(Phase::Draining) => return Ok(()),
            message = next.next() => match message {
                None => return Ok(()),
                Some(message) => message.map_err(|e| PullError(format!("waiting for tasks: {e}")))?,
            },
        };
        self.start(queue, message, drain, runs);
        Ok(())
    }

    /// Starts the task on a task of its own, in a free slot; should a query have taken the last
    /// one since the fetch, the task waits there for the next, reported in progress meanwhile.
    fn start(&self, queue: &TaskQueue, message: Message, drain: &DrainSignal, runs: &mut JoinSet<()>) {
        let (runner, queue, slots, mut drain) =
            (self.runner.clone(), queue.clone(), self.slots.clone(), drain.clone());
        let slot = slots.try_take();
        runs.spawn(async move {
            if drain.phase() != Phase::Serving {
                // Fetched just as the drain began: another replica runs it.
                return release(&message).await;
            }
            let slot = match slot {
                Some(slot) => slot,
                None => match wait_for_slot(&slots, &message, &mut drain).await {
                    Some(slot) => slot,
                    None => return release(&message).await,
                },
            };
            task_run::work(&runner, &queue, message, drain).await;
            drop(slot);
        });
    }
}

/// The next slot for `message`, which is reported in progress meanwhile; `None` once the drain
/// begins.
async fn wait_for_slot(slots: &Arc<Slots>, message: &Message, drain: &mut DrainSignal) -> Option<Slot> {
    let mut progress =
        tokio::time::interval_at(tokio::time::Instant::now() + PROGRESS_INTERVAL, PROGRESS_INTERVAL);
    // One wait, kept across progress ticks, so the task keeps its place in line.
    let take = slots.take();
    tokio::pin!(take);
    loop {
        tokio::select! {
            biased;
            () = drain.reached(Phase::Draining) => return None,
            slot = &mut take => return slot.ok(),
            _ = progress.tick() => {
                if let Err(err) = message.ack_with(AckKind::Progress).await {
                    tracing::debug!(error = %err, "progress signal not sent");
                }
            }
        }
    }
}

/// Hands a message back at once, for another replica.
async fn release(message: &Message) {
    if let Err(err) = message.ack_with(AckKind::Nak(None)).await {
        tracing::debug!(error = %err, "task not handed back; it returns after the ack wait");
    }
}

/// This runner's name in task records: the pod's name.
pub(crate) fn runner_name() -> String {
    ["POD_NAME", "HOSTNAME"]
        .into_iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.is_empty()))
        .unwrap_or_else(|| "agentry-runner".to_string())
}
