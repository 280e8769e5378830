//! `Session`: a declared unit of agent work, run to completion like a Job.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::condition::{Condition, conditions_schema};
use crate::names::DNS_LABEL_PATTERN;
use crate::tool::free_form_object;

/// What kind of work the session is.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum SessionType {
    /// A conversation with one agent.
    Chat,
    /// One task, answered once.
    Task,
    /// A task run by a pipeline, without a person waiting.
    Automation,
    /// Several agents working on one task.
    Collaboration,
    /// An analysis producing a report.
    Analysis,
}

/// Bounds on a session.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionLimits {
    /// Messages (all agents, all roles) after which the session fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 100000))]
    pub max_messages: Option<i32>,
    /// Wall-clock time after which the session expires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 604800))]
    pub max_duration_seconds: Option<i32>,
    /// Model spend after which the session fails.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0.0, max = 1000000.0))]
    pub budget_usd: Option<f64>,
}

/// A unit of agent work: the task, who works on it, and its bounds.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "agentry.dev",
    version = "v1alpha1",
    kind = "Session",
    namespaced,
    status = "SessionStatus",
    shortname = "ses",
    category = "agentry",
    doc = "A declared unit of agent work, run once like a Job; its full history is kept in PostgreSQL under status.sessionId.",
    printcolumn(name = "Type", type_ = "string", json_path = ".spec.type"),
    printcolumn(name = "Agent", type_ = "string", json_path = ".spec.agentRef"),
    printcolumn(name = "Phase", type_ = "string", json_path = ".status.phase"),
    printcolumn(name = "Messages", type_ = "integer", json_path = ".status.messageCount"),
    printcolumn(name = "Cost", type_ = "number", json_path = ".status.usage.costUsd"),
    printcolumn(name = "Session ID", type_ = "string", json_path = ".status.sessionId", priority = 1),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self == oldSelf").message("spec is immutable: a Session runs once; create a new Session for new work"),
    validation = Rule::new("self.type == 'collaboration' || size(self.participants) == 0").message("participants may be given only when type is collaboration").field_path(".participants"),
    validation = Rule::new("self.type != 'collaboration' || size(self.participants) > 0").message("a collaboration session needs at least one participant").field_path(".participants"),
    validation = Rule::new("!(self.agentRef in self.participants)").message("participants must not repeat agentRef, which leads the session").field_path(".participants")
)]
pub struct SessionSpec {
    /// What kind of work this is.
    #[serde(rename = "type")]
    pub type_: SessionType,
    /// The Agent that leads the session.
    #[schemars(length(min = 1, max = 63), pattern(DNS_LABEL_PATTERN))]
    pub agent_ref: String,
    /// Other Agents taking part (collaboration only).
    #[serde(default)]
    #[schemars(length(max = 32), inner(length(min = 1, max = 63), pattern(DNS_LABEL_PATTERN)), extend("x-kubernetes-list-type" = "set"))]
    pub participants: Vec<String>,
    /// The task, as the lead agent will read it.
    #[schemars(length(min = 1, max = 65536))]
    pub input: String,
    /// Free-form data passed to the agents with the task.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub context: Option<serde_json::Value>,
    /// Bounds on messages, time and spend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limits: Option<SessionLimits>,
    /// How long a finished Session object is kept before it is deleted (its history stays).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 31536000))]
    pub ttl_seconds_after_finished: Option<i32>,
}

/// Where a Session stands.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum SessionPhase {
    /// Not yet picked up.
    Pending,
    /// Agents are working on it.
    Running,
    /// Answered.
    Succeeded,
    /// Ended with an error, or over its message or budget limit.
    Failed,
    /// Ran past `maxDurationSeconds`.
    Expired,
}

/// Tokens and spend.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Usage {
    /// Prompt tokens.
    #[schemars(range(min = 0))]
    pub input_tokens: i64,
    /// Completion tokens.
    #[schemars(range(min = 0))]
    pub output_tokens: i64,
    /// Cost in USD from the Models' pricing.
    #[schemars(range(min = 0.0))]
    pub cost_usd: f64,
}

/// What the operator last observed of a Session.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// Where the Session stands.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<SessionPhase>,
    /// `Active` (agents work on it), `Ended` (finished, however), `Complete` (answered) and
    /// `Failed` (failed or expired), all with the same reason.
    #[serde(default)]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// When work started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Time>,
    /// When it finished.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<Time>,
    /// Messages exchanged so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message_count: Option<i64>,
    /// Tokens and spend so far.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub usage: Option<Usage>,
    /// The answer, cut to 32 KiB; the whole of it is in PostgreSQL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 32768))]
    pub result: Option<String>,
    /// The row in PostgreSQL's `sessions` table holding the full history.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
}
