//! One delivery of a task, as docs/protocol.md "How runners work on tasks" lays it out: skip
//! it if it has ended, give up after the last run, otherwise claim it and answer it as a query
//! is answered (same admission, same agent loop) while telling JetStream it is in progress and
//! watching for a cancellation, then record the end and settle the message.

use std::sync::Arc;
use std::time::Duration;

use agentry_protocol::subjects::SubjectToken;
use agentry_protocol::tasks::{MAX_TASK_ATTEMPTS, TASK_PROGRESS_SECONDS, TaskId, retry_backoff_seconds};
use agentry_protocol::{
    AgentReply, AgentRequest, ErrorCode, TaskRecord, TaskState, echoable_request_id, headers,
};
use agentry_task_queue::{Claim, TaskQueue, VersionedRecord};
use async_nats::jetstream::{AckKind, Message};
use tokio::time::Instant;
use tracing::Instrument;

use crate::agent_loop::AgentLoop;
use crate::drain::{DrainSignal, Phase};
use crate::metrics::RunnerMetrics;
use crate::service::{admit, request_id_of};
use crate::task_outcome::{self, Outcome, Settle};

/// How often a run tells JetStream it is still in progress and checks for a cancellation.
const PROGRESS_INTERVAL: Duration = Duration::from_secs(TASK_PROGRESS_SECONDS);

/// What every task run of one agent shares.
pub(crate) struct TaskRunner {
    /// The agent's namespace.
    pub(crate) namespace: SubjectToken,
    /// The agent's name.
    pub(crate) agent: SubjectToken,
    /// Answers the tasks.
    pub(crate) agent_loop: Arc<AgentLoop>,
    /// Metrics.
    pub(crate) metrics: Arc<RunnerMetrics>,
    /// End-to-end time for one run.
    pub(crate) request_timeout: Duration,
    /// Longest delegation path accepted.
    pub(crate) max_delegation_depth: u32,
    /// This runner's name in task records (the pod's name).
    pub(crate) runner_name: String,
    /// Largest task payload run (`limits.maxRequestBytes`); a larger one ends `too_large`.
    pub(crate) max_request_bytes: usize,
}

/// How a run ended.
enum RunEnd {
    /// The agent replied.
    Replied(AgentReply),
    /// The task ended while it ran (cancelled, or finished by another runner).
    EndedElsewhere(TaskRecord),
    /// The drain's grace period ran out first.
    Released,
}

/// Handles one delivered task message, start to settlement; never panics on what it receives.
pub(crate) async fn work(runner: &TaskRunner, queue: &TaskQueue, message: Message, drain: DrainSignal) {
    let attempt = attempt_of(&message);
    if attempt > 1 {
        runner.metrics.task_redeliveries.inc();
    }
    let task = match task_id_of(&message.payload) {
        Ok(task) => task,
        Err(why) => {
            tracing::warn!(
                subject = %message.subject,
                reason = %why,
                "task message without a usable task id dropped (it cannot be recorded)"
            );
            settle(&message, Settle::Term).await;
            runner.metrics.tasks.with_label_values(&[Outcome::Skipped.as_str()]).inc();
            return;
        }
    };
    let span = tracing::info_span!(
        "task",
        namespace = %runner.namespace,
        agent = %runner.agent,
        task_id = %task,
        request_id = %task,
        attempt,
    );
    async {
        let (settlement, outcome) = handle(runner, queue, &message, &task, attempt, drain).await;
        settle(&message, settlement).await;
        runner.metrics.tasks.with_label_values(&[outcome.as_str()]).inc();
    }
    .instrument(span)
    .await;
}

/// Decides, records and runs; returns how to settle the message and what to count.
async fn handle(
    runner: &TaskRunner,
    queue: &TaskQueue,
    message: &Message,
    task: &TaskId,
    attempt: u32,
    drain: DrainSignal,
) -> (Settle, Outcome) {
    if attempt > MAX_TASK_ATTEMPTS {
        return give_up(runner, queue, task, attempt).await;
    }
    let claimed = match queue
        .claim(&runner.namespace, &runner.agent, task, attempt, &runner.runner_name)
        .await
    {
        Ok(Claim::Run(claimed)) => claimed,
        Ok(Claim::Ended(record)) => {
            tracing::info!(state = record.state.as_str(), "task already ended; acknowledged without running");
            return (Settle::Ack, Outcome::Skipped);
        }
        Err(err) => {
            tracing::warn!(error = %err, "task record unreachable; the task is delivered again later");
            return (
                Settle::Nak(Some(Duration::from_secs(retry_backoff_seconds(attempt)))),
                Outcome::Skipped,
            );
        }
    };
    tracing::debug!("task running");
    runner.metrics.tasks_in_flight.inc();
    let ended = run(runner, queue, message, &claimed, drain).await;
    runner.metrics.tasks_in_flight.dec();
    match ended {
        RunEnd::Replied(reply) => conclude(queue, &claimed, reply, attempt).await,
        RunEnd::EndedElsewhere(record) => {
            tracing::info!(state = record.state.as_str(), message = ?record.message, "task ended elsewhere; run stopped");
            (Settle::Ack, ended_elsewhere(&record))
        }
        RunEnd::Released => {
            let stood = queue.finish(&claimed, task_outcome::released(&claimed.record)).await;
            tracing::info!("grace period over: task released to run again elsewhere");
            match stood {
                Ok(record) if record.state.is_terminal() => (Settle::Ack, ended_elsewhere(&record)),
                // Unrecorded, the release still stands: the next run claims over `running`.
                _ => (Settle::Nak(None), Outcome::Released),
            }
        }
    }
}

/// Answers the claimed task, sending progress and checking for its end meanwhile.
async fn run(
    runner: &TaskRunner,
    queue: &TaskQueue,
    message: &Message,
    claimed: &VersionedRecord,
    mut drain: DrainSignal,
) -> RunEnd {
    let received = Instant::now();
    let size = message.payload.len();
    let admitted = if size > runner.max_request_bytes {
        let text = format!(
            "the task is {size} bytes, more than the limit of {} (limits.maxRequestBytes)",
            runner.max_request_bytes
        );
        let id = echoable_request_id(&request_id_of(&message.payload)).to_string();
        Err(Box::new(AgentReply::failure(id, ErrorCode::TooLarge, text)))
    } else {
        admit(
            &message.payload,
            &runner.agent,
            None,
            received,
            runner.request_timeout,
            runner.max_delegation_depth,
        )
    };
    let mut inbound = match admitted {
        Ok(inbound) => inbound,
        Err(reply) => {
            let code = reply.error.as_ref().map_or(ErrorCode::Internal, |e| e.code);
            runner.metrics.requests.with_label_values(&[code.as_str()]).inc();
            return RunEnd::Replied(*reply);
        }
    };
    inbound.traceparent =
        message.headers.as_ref().and_then(|h| h.get(headers::TRACEPARENT)).map(|v| v.as_str().to_string());
    let answer = runner.agent_loop.answer(inbound);
    tokio::pin!(answer);
    let mut progress = tokio::time::interval_at(received + PROGRESS_INTERVAL, PROGRESS_INTERVAL);
    loop {
        tokio::select! {
            reply = &mut answer => return RunEnd::Replied(reply),
            () = drain.reached(Phase::Released) => return RunEnd::Released,
            _ = progress.tick() => {
                if let Err(err) = message.ack_with(AckKind::Progress).await {
                    tracing::debug!(error = %err, "progress signal not sent");
                }
                match queue.ended_elsewhere(claimed).await {
                    Ok(Some(record)) => return RunEnd::EndedElsewhere(record),
                    Ok(None) => {}
                    Err(err) => tracing::debug!(error = %err, "task record not read; checked again at the next tick"),
                }
            }
        }
    }
}

/// Records what the reply makes of the task.
async fn conclude(
    queue: &TaskQueue,
    claimed: &VersionedRecord,
    reply: AgentReply,
    attempt: u32,
) -> (Settle, Outcome) {
    let verdict = task_outcome::judge(&claimed.record, reply, attempt);
    let wanted = verdict.record.state;
    match queue.finish(claimed, verdict.record).await {
        Ok(stood) if stood.state != wanted => {
            tracing::info!(
                state = stood.state.as_str(),
                "task ended elsewhere first; this run's result discarded"
            );
            (Settle::Ack, ended_elsewhere(&stood))
        }
        Ok(stood) => {
            tracing::info!(state = stood.state.as_str(), message = ?stood.message, "task run ended");
            (verdict.settle, verdict.outcome)
        }
        Err(err) => {
            tracing::error!(error = %err, "the run's result could not be recorded; the task runs again");
            (Settle::Nak(Some(Duration::from_secs(retry_backoff_seconds(attempt)))), Outcome::Retried)
        }
    }
}

/// A delivery past the last run: the task ends `failed`, unless it has already ended.
async fn give_up(runner: &TaskRunner, queue: &TaskQueue, task: &TaskId, attempt: u32) -> (Settle, Outcome) {
    let current = match queue.record(&runner.namespace, &runner.agent, task).await {
        Ok(Some(current)) if current.record.state.is_terminal() => return (Settle::Ack, Outcome::Skipped),
        Ok(Some(current)) => current,
        Ok(None) => match queue
            .claim(&runner.namespace, &runner.agent, task, MAX_TASK_ATTEMPTS, &runner.runner_name)
            .await
        {
            Ok(Claim::Run(claimed)) => claimed,
            Ok(Claim::Ended(_)) => return (Settle::Ack, Outcome::Skipped),
            Err(err) => return unreachable_record(&err, attempt),
        },
        Err(err) => return unreachable_record(&err, attempt),
    };
    match queue.finish(&current, task_outcome::given_up(&current.record)).await {
        Ok(stood) => {
            tracing::warn!(message = ?stood.message, "task delivered after its last run: recorded failed");
            (
                Settle::Ack,
                if stood.state == TaskState::Failed { Outcome::Failed } else { ended_elsewhere(&stood) },
            )
        }
        Err(err) => unreachable_record(&err, attempt),
    }
}

fn unreachable_record(err: &dyn std::fmt::Display, attempt: u32) -> (Settle, Outcome) {
    tracing::warn!(error = %err, "task record unreachable; the task is delivered again later");
    (Settle::Nak(Some(Duration::from_secs(retry_backoff_seconds(attempt)))), Outcome::Skipped)
}

fn ended_elsewhere(record: &TaskRecord) -> Outcome {
    if record.state == TaskState::Cancelled { Outcome::Cancelled } else { Outcome::Skipped }
}

async fn settle(message: &Message, settle: Settle) {
    let kind = match settle {
        Settle::Ack => AckKind::Ack,
        Settle::Nak(delay) => AckKind::Nak(delay),
        Settle::Term => AckKind::Term,
    };
    if let Err(err) = message.ack_with(kind).await {
        // Unsettled, the message comes back after the ack wait and its record decides again.
        tracing::warn!(error = %err, "task message not settled");
    }
}

/// Which delivery of its message this is: the run number.
fn attempt_of(message: &Message) -> u32 {
    match message.info() {
        Ok(info) => u32::try_from(info.delivered.max(1)).unwrap_or(u32::MAX),
        Err(err) => {
            tracing::warn!(error = %err, "task message without delivery information; counted as a first run");
            1
        }
    }
}

/// The task id of a payload: its `requestId`, read even from a payload that is not a valid request.
fn task_id_of(payload: &[u8]) -> Result<TaskId, String> {
    let id = match serde_json::from_slice::<AgentRequest>(payload) {
        Ok(request) => request.request_id,
        Err(_) => request_id_of(payload),
    };
    if id.is_empty() {
        return Err("no requestId could be read".to_string());
    }
    TaskId::new(id).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_task_id_is_read_even_from_a_request_that_does_not_parse() {
        assert_eq!(
            task_id_of(br#"{"requestId":"t-1","input":"x"}"#).map(|t| t.to_string()),
            Ok("t-1".into())
        );
        assert_eq!(task_id_of(br#"{"requestId":"t-2"}"#).map(|t| t.to_string()), Ok("t-2".into()));
        assert_eq!(task_id_of(b"not json"), Err("no requestId could be read".into()));
        assert!(task_id_of(br#"{"requestId":"a.b","input":"x"}"#).is_err());
    }
}
