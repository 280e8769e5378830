//! `agent` tools: a question to another agent, asked through a [`Delegate`] (the runner's NATS
//! client), with failures turned into text the asking model can read.

use std::future::Future;
use std::pin::Pin;

use serde_json::{Value, json};

use super::CallContext;

/// Asks another agent a question on behalf of the current request.
///
/// The runner implements it over NATS (carrying the delegation path and deadline of `ctx`); the
/// [`ToolBox`](super::ToolBox) calls it for `agent` tools, with `ctx.deadline` already bounded by
/// the tool's own timeout.
pub trait Delegate: Send + Sync {
    /// Sends `input` to `agent` and returns its answer.
    fn ask<'a>(
        &'a self,
        agent: &'a str,
        input: String,
        ctx: &'a CallContext,
    ) -> Pin<Box<dyn Future<Output = Result<String, DelegationError>> + Send + 'a>>;
}

/// Why a delegation failed. The messages are read by the asking model, so they say what
/// happened and, where it helps, what to do instead.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DelegationError {
    /// The agent asked is already on the delegation path: asking it would loop.
    #[error(
        "delegation refused: it would form a cycle ({}); answer without asking this agent again",
        .path.join(" → ")
    )]
    Cycle {
        /// The path including the agent that would be revisited, first asker first.
        path: Vec<String>,
    },
    /// The delegation chain is already as deep as allowed.
    #[error(
        "delegation refused: the chain would be {depth} agents deep and at most {max} is allowed; \
         answer with what you have"
    )]
    DepthExceeded {
        /// Depth the request would reach.
        depth: u32,
        /// The limit.
        max: u32,
    },
    /// The agent asked is not among this agent's `peers`.
    #[error("delegation refused: {peer} is not among this agent's peers; answer without asking it")]
    NotAPeer {
        /// The agent asked.
        peer: String,
    },
    /// The agent answered with an error.
    #[error("the agent answered with an error ({code}): {message}")]
    PeerError {
        /// The error code of its reply (`timeout`, `busy`, `max_turns`, …).
        code: String,
        /// Its message.
        message: String,
    },
    /// No answer could be obtained: nobody serves the agent's subject, or the connection failed.
    #[error("the agent could not be reached: {0}")]
    Unreachable(String),
    /// The agent did not answer before the deadline.
    #[error("the agent did not answer in time")]
    Timeout,
}

/// A [`Delegate`] for runners (and tests) without delegation: every question is refused.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoDelegation;

impl Delegate for NoDelegation {
    fn ask<'a>(
        &'a self,
        agent: &'a str,
        _input: String,
        _ctx: &'a CallContext,
    ) -> Pin<Box<dyn Future<Output = Result<String, DelegationError>> + Send + 'a>> {
        Box::pin(async move {
            Err(DelegationError::Unreachable(format!("this runner cannot delegate (asked {agent:?})")))
        })
    }
}

/// The schema offered for an `agent` tool whose Tool object declares none of its own.
pub(crate) fn schema(agent: &str) -> Value {
    json!({
        "type": "object",
        "properties": {
            "question": {
                "type": "string",
                "description": format!("The question or task for the agent {agent:?}, self-contained.")
            }
        },
        "required": ["question"]
    })
}

/// What is sent to the agent: the `question` (or `input`) argument when it is a string, otherwise
/// the whole arguments document as JSON text so nothing the model wrote is lost.
pub(crate) fn input_of(arguments: &Value) -> String {
    for key in ["question", "input"] {
        if let Some(Value::String(text)) = arguments.get(key) {
            return text.clone();
        }
    }
    arguments.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_question_argument_is_sent_as_is() {
        assert_eq!(input_of(&json!({"question": "What is our Q3 budget?"})), "What is our Q3 budget?");
        assert_eq!(input_of(&json!({"input": "summarise"})), "summarise");
        assert_eq!(input_of(&json!({"question": "q", "input": "i"})), "q");
    }

    #[test]
    fn other_arguments_are_sent_as_json() {
        assert_eq!(input_of(&json!({"ticker": "ACME", "days": 3})), r#"{"days":3,"ticker":"ACME"}"#);
        assert_eq!(input_of(&json!({"question": 42})), r#"{"question":42}"#);
    }

    #[test]
    fn messages_are_readable() {
        let cycle = DelegationError::Cycle { path: vec!["a".into(), "b".into(), "a".into()] };
        assert_eq!(
            cycle.to_string(),
            "delegation refused: it would form a cycle (a → b → a); answer without asking this agent again"
        );
        let depth = DelegationError::DepthExceeded { depth: 4, max: 3 };
        assert!(depth.to_string().contains("4 agents deep and at most 3"), "{depth}");
        let stranger = DelegationError::NotAPeer { peer: "sales-agent".into() };
        assert!(stranger.to_string().contains("sales-agent is not among this agent's peers"), "{stranger}");
        let peer = DelegationError::PeerError { code: "busy".into(), message: "too many requests".into() };
        assert_eq!(peer.to_string(), "the agent answered with an error (busy): too many requests");
    }
}
