//! Durable tasks: submitted, run once by one of the agent's replicas, fetched later.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::invoke::InvokeResponse;

/// A task for an agent.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskSubmission {
    /// The task, 1 byte to 64 KiB.
    pub input: String,
    /// Free-form JSON given with the input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context: Option<serde_json::Value>,
    /// The caller's id for it (1 to 128 of `A-Za-z0-9-_.`); submitting the same id again within
    /// 10 minutes returns the first task. Generated when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_id: Option<String>,
    /// Model spend after which the run stops with `budget_exceeded`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub budget_usd: Option<f64>,
}

/// Where a task stands.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub enum TaskPhase {
    /// Waiting for a runner.
    Queued,
    /// A runner is working on it.
    Running,
    /// Answered.
    Succeeded,
    /// Ended without an answer.
    Failed,
    /// Cancelled before it finished.
    Cancelled,
}

/// A task's state and, once it ended, its result.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskStatus {
    /// The task's id.
    pub task_id: String,
    /// The agent.
    pub agent: String,
    /// Where it stands.
    pub phase: TaskPhase,
    /// Runs started so far.
    pub attempts: u32,
    /// Submitted, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submitted_at: Option<String>,
    /// Ended, RFC 3339.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<String>,
    /// Why it was cancelled or failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// The answer, when it succeeded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<InvokeResponse>,
    /// The agent's error code, when it failed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
}
