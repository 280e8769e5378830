//! The contract between the agent runner, the operator and any NATS client (DESIGN.md §4–5):
//! subjects, wire messages, events and the runner's configuration.
//!
//! Every subject is built by the functions of [`subjects`]; nothing else formats one by hand.
//! The JSON shapes are documented for other languages in `docs/protocol.md`.

pub mod conversation;
pub mod daily_usage;
pub mod events;
pub mod headers;
pub mod messages;
pub mod runner_config;
pub mod stream_events;
pub mod subjects;
pub mod tasks;

pub use conversation::{ChatRole, ChatTurn, MAX_HISTORY_BYTES, MAX_HISTORY_TURNS, history_problem};
pub use events::{Event, EventBody, InteractionEvent, MessageEvent, ModelCallEvent, ToolCallEvent};
pub use messages::{
    AgentReply, AgentRequest, ErrorCode, MAX_REQUEST_ID_LEN, Notification, PROTOCOL_VERSION, ReplyError,
    RequestLimits, ToolCallSummary, Usage, echoable_request_id, request_id_problem,
};
pub use runner_config::{RUNNER_CONFIG_VERSION, RunnerConfig};
pub use stream_events::{MAX_STREAM_EVENTS, StreamEvent, StreamEventBody};
pub use subjects::{Caller, CallerError, InvalidToken, PlatformIdentity, SubjectToken};
pub use tasks::{TaskId, TaskRecord, TaskState};
