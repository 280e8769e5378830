//! Sessions and task records for the unit tests.

use agentry_crds::Session;
use agentry_protocol::{AgentReply, ErrorCode, TaskRecord, TaskState, Usage};

/// The uid of [`session`]'s Session.
pub(crate) const UID: &str = "0b5d1f3e-1c2a-4b7e-9f00-5a6b7c8d9e0f";

/// A `task` Session led by `lead`, with `spec` fields replaced by those given.
pub(crate) fn session(spec: serde_json::Value) -> Session {
    let mut doc = serde_json::json!({
        "apiVersion": "agentry.dev/v1alpha1", "kind": "Session",
        "metadata": {"name": "plan", "namespace": "fleet", "uid": UID, "generation": 1},
        "spec": {"type": "task", "agentRef": "lead", "input": "Plan the week."}
    });
    if let Some(fields) = spec.as_object() {
        for (k, v) in fields {
            doc["spec"][k] = v.clone();
        }
    }
    serde_json::from_value(doc).expect("session")
}

/// A record of `task` in `state`, submitted at 1000 ms and finished at 5000 ms when ended.
pub(crate) fn record(task: &str, state: TaskState) -> TaskRecord {
    TaskRecord {
        task_id: task.into(),
        namespace: "fleet".into(),
        agent: "lead".into(),
        state,
        attempts: u32::from(state != TaskState::Queued),
        submitted_ms: Some(1_000),
        started_ms: Some(2_000),
        finished_ms: state.is_terminal().then_some(5_000),
        runner: Some("lead-7d9f-x2".into()),
        message: None,
        reply: None,
    }
}

/// A succeeded record of `task` answering `output` for `cost` USD in `messages` messages.
pub(crate) fn succeeded(task: &str, output: &str, cost: f64, messages: u32) -> TaskRecord {
    let mut reply = AgentReply::failure(task, ErrorCode::Internal, "");
    reply.error = None;
    reply.output = Some(output.into());
    reply.usage = Usage { input_tokens: 10, output_tokens: 5, cost_usd: cost };
    reply.message_count = messages;
    TaskRecord { reply: Some(reply), ..record(task, TaskState::Succeeded) }
}

/// A failed record of `task` with error `code`.
pub(crate) fn failed(task: &str, code: ErrorCode, message: &str) -> TaskRecord {
    let mut reply = AgentReply::failure(task, code, message);
    reply.usage = Usage { input_tokens: 3, output_tokens: 1, cost_usd: 0.5 };
    reply.message_count = 2;
    TaskRecord { reply: Some(reply), ..record(task, TaskState::Failed) }
}
