//! Tools: what an agent's model may call, with arguments validated against each tool's JSON
//! Schema before anything runs (DESIGN.md §2 Tool, §4).
//!
//! The agent loop builds one [`ToolBox`] from the runner config, offers [`ToolBox::specs`] to the
//! model and runs the calls of each model turn with [`ToolBox::call_all`]. Every failure (bad
//! arguments, unknown tool, rate limit, timeout, HTTP error, refused delegation) comes back as a
//! [`ToolOutcome`] with `ok: false` and a message the model can act on; none aborts the request.

mod address_policy;
mod agent_tool;
mod arguments;
mod calculator;
mod current_time;
mod http_tool;
mod memory_tools;
mod rate_limit;
mod result_cache;
mod tool_config;
mod toolbox;
mod url_template;

use std::time::Duration;

pub use agent_tool::{Delegate, DelegationError, NoDelegation};
pub use tool_config::ToolConfigError;
pub use toolbox::{ToolBox, UNKNOWN_TOOL_LABEL};

/// Context of the request a tool call belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallContext {
    /// The request's id (logged with every call, carried by delegations).
    pub request_id: String,
    /// The session the request belongs to, if any.
    pub session_id: Option<String>,
    /// Agents the request has passed through, first asker first, ending with this agent.
    pub delegation_path: Vec<String>,
    /// When the request must be answered; no tool runs past it.
    pub deadline: tokio::time::Instant,
    /// The caller's W3C trace context, passed on to delegated requests.
    pub traceparent: Option<String>,
}

/// Why a tool call failed; each maps to the `outcome` label of the `tool_calls` metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ToolFailure {
    /// The arguments do not satisfy the tool's schema (or the tool refused them).
    InvalidArguments,
    /// The agent has no tool by that name.
    UnknownTool,
    /// The tool's per-minute limit is used up.
    RateLimited,
    /// The tool did not finish within its timeout or the request's deadline.
    Timeout,
    /// The tool ran and failed (HTTP error status, connection failure, refused delegation, …).
    Error,
    /// An `http` tool's URL, DNS answer or redirect led to an address it may not reach
    /// (loopback, private, link-local, cloud metadata, …).
    AddressRefused,
}

impl ToolFailure {
    /// The metric label: `invalid_arguments`, `unknown_tool`, `rate_limited`, `timeout`, `error`
    /// or `address_refused`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidArguments => "invalid_arguments",
            Self::UnknownTool => "unknown_tool",
            Self::RateLimited => "rate_limited",
            Self::Timeout => "timeout",
            Self::Error => "error",
            Self::AddressRefused => "address_refused",
        }
    }
}

/// The result of one tool call, as given back to the model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ToolOutcome {
    /// The id of the call answered.
    pub call_id: String,
    /// The tool's name as the model called it.
    pub name: String,
    /// Whether the tool succeeded.
    pub ok: bool,
    /// The result, or an error text the model can act on (e.g. which argument is wrong and why).
    pub content: String,
    /// Why it failed, when it did.
    pub failure: Option<ToolFailure>,
    /// How long the call took, validation included.
    pub duration: Duration,
}

impl ToolOutcome {
    /// The metric label of this outcome: `ok` or [`ToolFailure::as_str`].
    pub fn outcome(&self) -> &'static str {
        self.failure.map_or("ok", ToolFailure::as_str)
    }
}

/// A failed call inside the toolbox, before it becomes a [`ToolOutcome`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ToolError {
    pub(crate) failure: ToolFailure,
    pub(crate) message: String,
}

impl ToolError {
    pub(crate) fn invalid_arguments(message: impl Into<String>) -> Self {
        Self { failure: ToolFailure::InvalidArguments, message: message.into() }
    }

    pub(crate) fn error(message: impl Into<String>) -> Self {
        Self { failure: ToolFailure::Error, message: message.into() }
    }
}
