//! Where each endpoint lives, below the API root. `{ns}` is the namespace; every endpoint is
//! namespaced, because every permission is.

/// Prefix of every endpoint.
pub const API_ROOT: &str = "/api/v1";
/// The OpenAPI document.
pub const OPENAPI: &str = "/api/v1/openapi.json";

/// `GET`: the namespace's Agents with status.
pub const AGENTS: &str = "/api/v1/namespaces/{ns}/agents";
/// `GET`: one Agent.
pub const AGENT: &str = "/api/v1/namespaces/{ns}/agents/{name}";
/// `GET`: one Agent's performance over a window.
pub const AGENT_PERFORMANCE: &str = "/api/v1/namespaces/{ns}/agents/{name}/performance";
/// `POST`: ask an Agent and wait for its answer.
pub const AGENT_INVOKE: &str = "/api/v1/namespaces/{ns}/agents/{name}/invoke";
/// `POST`: ask an Agent and receive its run as Server-Sent Events, ending with the reply.
pub const AGENT_INVOKE_STREAM: &str = "/api/v1/namespaces/{ns}/agents/{name}/invoke/stream";
/// `POST`: the best Agent for the required capabilities.
pub const AGENT_SELECTION: &str = "/api/v1/namespaces/{ns}/agent-selection";
/// `POST`: submit a durable task to an Agent.
pub const AGENT_TASKS: &str = "/api/v1/namespaces/{ns}/agents/{name}/tasks";
/// `GET`: a task's state and result; `DELETE`: cancel it.
pub const AGENT_TASK: &str = "/api/v1/namespaces/{ns}/agents/{name}/tasks/{task_id}";
/// `GET`: an Agent's memories, newest first; `POST`: store one.
pub const AGENT_MEMORIES: &str = "/api/v1/namespaces/{ns}/agents/{name}/memories";
/// `POST`: search an Agent's memories by text.
pub const AGENT_MEMORY_QUERY: &str = "/api/v1/namespaces/{ns}/agents/{name}/memories/query";
/// `GET`: an Agent's memory blocks.
pub const AGENT_MEMORY_BLOCKS: &str = "/api/v1/namespaces/{ns}/agents/{name}/memory-blocks";
/// `PUT`: write one memory block.
pub const AGENT_MEMORY_BLOCK: &str = "/api/v1/namespaces/{ns}/agents/{name}/memory-blocks/{label}";
/// `GET`: list sessions; `POST`: start an ad-hoc chat session.
pub const SESSIONS: &str = "/api/v1/namespaces/{ns}/sessions";
/// `GET`: one session.
pub const SESSION: &str = "/api/v1/namespaces/{ns}/sessions/{session_id}";
/// `GET`: a session's messages; `POST`: send one (runs the agent with the history).
pub const SESSION_MESSAGES: &str = "/api/v1/namespaces/{ns}/sessions/{session_id}/messages";
/// `POST`: end an ad-hoc session.
pub const SESSION_END: &str = "/api/v1/namespaces/{ns}/sessions/{session_id}/end";
/// `GET`: recorded interactions, filtered, newest first.
pub const INTERACTIONS: &str = "/api/v1/namespaces/{ns}/interactions";
/// `GET`: statistics over a window.
pub const INTERACTION_STATS: &str = "/api/v1/namespaces/{ns}/interaction-stats";
/// `GET`: one interaction by request id.
pub const INTERACTION: &str = "/api/v1/namespaces/{ns}/interactions/{request_id}";
/// `GET`: cost by agent, model and day.
pub const COSTS: &str = "/api/v1/namespaces/{ns}/costs";

/// `template` with `{ns}` and the other placeholders, in order, filled in (each value
/// percent-encoded as one path segment).
pub fn fill(template: &str, values: &[&str]) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut values = values.iter();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let Some(close) = rest[open..].find('}') else { break };
        match values.next() {
            Some(value) => push_segment(&mut out, value),
            None => out.push_str(&rest[open..open + close + 1]),
        }
        rest = &rest[open + close + 1..];
    }
    out.push_str(rest);
    out
}

fn push_segment(out: &mut String, value: &str) {
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fill_encodes_each_value_as_one_segment() {
        assert_eq!(
            fill(AGENT_TASK, &["fleet", "sales", "t/1 x"]),
            "/api/v1/namespaces/fleet/agents/sales/tasks/t%2F1%20x"
        );
        assert_eq!(fill(AGENTS, &["fleet"]), "/api/v1/namespaces/fleet/agents");
    }
}
