//! Durable tasks (docs/protocol.md "Tasks"): an [`AgentRequest`](crate::AgentRequest) published to
//! the JetStream work queue `AGENTRY_TASKS`, whose `requestId` is the task id; its state and result
//! live in the key-value bucket [`TASK_STATE_BUCKET`] under [`state_key`].

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::messages::AgentReply;
use crate::subjects::SubjectToken;

/// JetStream key-value bucket holding every task's [`TaskRecord`].
pub const TASK_STATE_BUCKET: &str = "AGENTRY_TASK_STATE";
/// Runs a task gets before it ends `failed`; a delivery past them only records that.
pub const MAX_TASK_ATTEMPTS: u32 = 5;
/// Time without an acknowledgement or a progress signal after which JetStream hands a task to
/// another runner: how quickly a killed pod's work moves on.
pub const TASK_ACK_WAIT_SECONDS: u64 = 10;
/// How often a runner tells JetStream it is still working on a task (well inside the ack wait).
pub const TASK_PROGRESS_SECONDS: u64 = 3;
/// Pause before run `n + 1` after run `n` failed with a retryable error (the last entry repeats).
pub const TASK_RETRY_BACKOFF_SECONDS: [u64; 4] = [1, 5, 15, 30];
/// How long a resubmitted task id is recognised by the stream itself (`Nats-Msg-Id`); after that
/// the task's record still keeps a finished task from running again.
pub const TASK_DEDUP_WINDOW_SECONDS: u64 = 600;
/// How long task records (and with them results) are kept.
pub const TASK_STATE_TTL_SECONDS: u64 = 7 * 24 * 3600;
/// Longest task id.
pub const MAX_TASK_ID_LEN: usize = 128;
/// Longest answer a task record keeps, in bytes: the record must fit in one NATS message (1 MiB
/// by default) with room to spare. A longer answer is cut at a character boundary and the
/// record's `message` says so.
pub const MAX_TASK_OUTPUT_BYTES: usize = 512 * 1024;

impl TaskRecord {
    /// Cuts the reply's answer to [`MAX_TASK_OUTPUT_BYTES`], saying so in `message`, so that the
    /// record can always be written: an answer too long to store must not make the task run
    /// again and again.
    pub fn bound_output(&mut self) {
        let Some(output) = self.reply.as_mut().and_then(|r| r.output.as_mut()) else { return };
        if output.len() <= MAX_TASK_OUTPUT_BYTES {
            return;
        }
        let full = output.len();
        let mut cut = MAX_TASK_OUTPUT_BYTES;
        while !output.is_char_boundary(cut) {
            cut -= 1;
        }
        output.truncate(cut);
        self.message = Some(format!(
            "the answer was cut from {full} to {cut} bytes: a task record keeps at most {MAX_TASK_OUTPUT_BYTES}"
        ));
    }
}

/// A task id: 1 to 128 of `A-Z a-z 0-9 - _ =`, so that it is one token of a key and a subject.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct TaskId(String);

/// Why a string cannot be a task id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidTaskId {
    /// Empty or longer than [`MAX_TASK_ID_LEN`].
    #[error("a task id must be 1 to {MAX_TASK_ID_LEN} characters long, not {0}")]
    Length(usize),
    /// Holds a character other than letters, digits, `-`, `_` and `=`.
    #[error("task id {id:?} contains {found:?}; only letters, digits, '-', '_' and '=' are allowed")]
    Character {
        /// The refused id.
        id: String,
        /// The first character not allowed.
        found: char,
    },
}

impl TaskId {
    /// Checks `id` is fit to be a task id.
    pub fn new(id: impl Into<String>) -> Result<Self, InvalidTaskId> {
        let id = id.into();
        if id.is_empty() || id.len() > MAX_TASK_ID_LEN {
            return Err(InvalidTaskId::Length(id.len()));
        }
        if let Some(found) = id.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '=')))
        {
            return Err(InvalidTaskId::Character { id, found });
        }
        Ok(Self(id))
    }

    /// The id as a string.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TaskId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Key of a task's record in [`TASK_STATE_BUCKET`]: `<namespace>.<agent>.<taskId>`.
pub fn state_key(namespace: &SubjectToken, agent: &SubjectToken, task: &TaskId) -> String {
    format!("{namespace}.{agent}.{task}")
}

/// `Nats-Msg-Id` of a task's message, so the stream stores a resubmission once.
pub fn message_id(namespace: &SubjectToken, agent: &SubjectToken, task: &TaskId) -> String {
    state_key(namespace, agent, task)
}

/// Name of the durable consumer an agent's replicas share. `_` cannot occur in a Kubernetes
/// name, so the name is unambiguous.
pub fn consumer_name(namespace: &SubjectToken, agent: &SubjectToken) -> String {
    format!("tasks_{namespace}_{agent}")
}

/// Pause before the run after run `attempt` (1-based) failed with a retryable error.
pub fn retry_backoff_seconds(attempt: u32) -> u64 {
    let i = usize::try_from(attempt.saturating_sub(1)).unwrap_or(usize::MAX);
    TASK_RETRY_BACKOFF_SECONDS[i.min(TASK_RETRY_BACKOFF_SECONDS.len() - 1)]
}

/// Where a task stands.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub enum TaskState {
    /// Submitted; no runner has started it (or it waits to be retried).
    Queued,
    /// A runner is working on it.
    Running,
    /// Answered: `reply.output` holds the answer.
    Succeeded,
    /// Ended without an answer: `reply.error` says why.
    Failed,
    /// Cancelled by a caller before it finished.
    Cancelled,
}

impl TaskState {
    /// Whether the task has ended; an ended task never runs again.
    pub fn is_terminal(self) -> bool {
        matches!(self, Self::Succeeded | Self::Failed | Self::Cancelled)
    }

    /// The state as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Queued => "queued",
            Self::Running => "running",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
        }
    }
}

/// A task's state and, once it has ended, its result: the value under [`state_key`].
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TaskRecord {
    /// The task id (the request's `requestId`).
    pub task_id: String,
    /// The agent's namespace.
    pub namespace: String,
    /// The agent working on it.
    pub agent: String,
    /// Where it stands.
    pub state: TaskState,
    /// Runs started so far.
    #[serde(default)]
    pub attempts: u32,
    /// When it was submitted, milliseconds since the Unix epoch.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_ms: Option<u64>,
    /// When the current or last run started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_ms: Option<u64>,
    /// When it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_ms: Option<u64>,
    /// The runner (pod) of the current or last run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner: Option<String>,
    /// For a person: why it was cancelled, or what the last failed run said.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The agent's reply, once the task has succeeded or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<AgentReply>,
}

impl TaskRecord {
    /// A task just submitted.
    pub fn queued(namespace: &SubjectToken, agent: &SubjectToken, task: &TaskId, now_ms: u64) -> Self {
        Self {
            task_id: task.to_string(),
            namespace: namespace.to_string(),
            agent: agent.to_string(),
            state: TaskState::Queued,
            attempts: 0,
            submitted_ms: Some(now_ms),
            started_ms: None,
            finished_ms: None,
            runner: None,
            message: None,
            reply: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(s: &str) -> SubjectToken {
        SubjectToken::new(s).expect("token")
    }

    #[test]
    fn names_follow_the_protocol() {
        let task = TaskId::new("t-1").expect("id");
        assert_eq!(state_key(&token("fleet"), &token("planner"), &task), "fleet.planner.t-1");
        assert_eq!(consumer_name(&token("fleet"), &token("planner")), "tasks_fleet_planner");
    }

    #[test]
    fn task_ids_are_single_tokens() {
        for good in ["a", "8c1e0c7e-5d0e-4c1f-9a55-3f5b2b1f0d11", "ses_x=1"] {
            assert!(TaskId::new(good).is_ok(), "{good}");
        }
        assert_eq!(TaskId::new(""), Err(InvalidTaskId::Length(0)));
        assert!(TaskId::new("x".repeat(129)).is_err());
        let err = TaskId::new("a.b").expect_err("dot");
        assert_eq!(
            err.to_string(),
            "task id \"a.b\" contains '.'; only letters, digits, '-', '_' and '=' are allowed"
        );
    }

    #[test]
    fn backoff_grows_then_holds() {
        let waits: Vec<u64> = (1..=6).map(retry_backoff_seconds).collect();
        assert_eq!(waits, [1, 5, 15, 30, 30, 30]);
        assert_eq!(retry_backoff_seconds(0), 1);
    }

    #[test]
    fn a_long_answer_is_cut_at_a_character_boundary_and_said_so() {
        let mut record =
            TaskRecord::queued(&token("fleet"), &token("planner"), &TaskId::new("t").expect("id"), 5);
        let mut reply = crate::AgentReply::failure("t", crate::ErrorCode::Internal, "");
        (reply.error, reply.output) = (None, Some("é".repeat(MAX_TASK_OUTPUT_BYTES)));
        record.reply = Some(reply);
        record.bound_output();
        let output = record.reply.as_ref().and_then(|r| r.output.as_ref()).expect("output");
        assert_eq!(output.len(), MAX_TASK_OUTPUT_BYTES, "two-byte characters fit exactly");
        let message = record.message.clone().expect("said so");
        assert!(message.starts_with("the answer was cut from 1048576 to 524288 bytes"), "{message}");
        record.message = None;
        record.bound_output();
        assert_eq!(record.message, None, "an answer within the bound is kept whole");
    }

    #[test]
    fn record_wire_shape() {
        let record =
            TaskRecord::queued(&token("fleet"), &token("planner"), &TaskId::new("t").expect("id"), 5);
        let json = serde_json::to_value(&record).expect("serializes");
        assert_eq!(
            json,
            serde_json::json!({"taskId": "t", "namespace": "fleet", "agent": "planner", "state": "queued",
                "attempts": 0, "submittedMs": 5})
        );
        assert!(TaskState::Cancelled.is_terminal() && !TaskState::Running.is_terminal());
    }
}
