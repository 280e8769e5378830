//! A scripted model server for tests: real HTTP and real JSON on 127.0.0.1, speaking OpenAI Chat
//! Completions or Anthropic Messages, answering each request with the next [`Step`] of its script.
//!
//! A request with `"stream": true` gets its answer streamed (SSE) as the provider would stream
//! it: text in pieces, tool calls in fragments, usage at the end. [`Step::Held`] holds such an
//! answer after its first piece until the test releases it; [`Step::CutStream`] and
//! [`Step::MalformedStream`] break a stream.
//!
//! It runs on its own thread and runtime, so it keeps answering whatever the test's runtime does
//! (paused time included), and it records every request (path, headers, JSON body) so tests can
//! assert what a model was sent. Clones share one server; it stops when the last one is dropped.
//!
//! ```ignore
//! let model = ScriptedModel::start(Flavor::OpenAi).await;
//! model.push(Step::rate_limited(1));
//! model.push(Step::text("hello"));
//! // point a runner at model.base_url() …
//! model.wait_for_requests(2, Duration::from_secs(10)).await?;
//! assert_eq!(model.requests()[1]["messages"][0]["role"], "system");
//! ```

mod anthropic;
mod handler;
mod openai;
mod server;
mod streamed;

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

pub use server::ScriptedModel;
pub use streamed::StreamGate;

/// The API the server speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flavor {
    /// OpenAI Chat Completions: `POST /v1/chat/completions`, base URL `http://127.0.0.1:PORT/v1`.
    OpenAi,
    /// Anthropic Messages: `POST /v1/messages`, base URL `http://127.0.0.1:PORT`.
    Anthropic,
}

impl Flavor {
    /// The path the API is served on.
    pub fn path(self) -> &'static str {
        match self {
            Self::OpenAi => "/v1/chat/completions",
            Self::Anthropic => "/v1/messages",
        }
    }
}

/// How the server answers one request.
#[derive(Clone, Debug, PartialEq)]
pub enum Step {
    /// A final text answer.
    Text(String),
    /// Tool calls: `(tool name, arguments)`; ids are generated, unique per server.
    ToolCalls(Vec<(String, Value)>),
    /// An HTTP error: status `code`, an optional `Retry-After` in seconds, and `body` (a
    /// provider-style JSON error when empty).
    Status {
        /// The HTTP status.
        code: u16,
        /// `Retry-After` seconds, if any.
        retry_after: Option<u64>,
        /// The response body; empty means a provider-style JSON error.
        body: String,
    },
    /// Waits, then answers with the inner step.
    Slow(Duration, Box<Step>),
    /// HTTP 200 with a body that is not JSON.
    Malformed,
    /// A text answer quoting the last user or tool message received: `echo: <content>`.
    Echo,
    /// The inner answer; streamed, it stops after its first piece of content until the gate is
    /// released (unstreamed, it waits for the gate, then answers).
    Held(Box<Step>, StreamGate),
    /// A streamed answer that sends these text pieces, then breaks the connection. Held
    /// ([`Step::held`]), it breaks it only once the gate is released: a connection broken at
    /// once may lose the pieces still in its buffers.
    CutStream(Vec<String>),
    /// A streamed answer whose first event is not JSON.
    MalformedStream,
}

impl Step {
    /// [`Step::Text`].
    pub fn text(text: impl Into<String>) -> Self {
        Self::Text(text.into())
    }

    /// [`Step::ToolCalls`] with one call.
    pub fn tool_call(name: impl Into<String>, arguments: Value) -> Self {
        Self::ToolCalls(vec![(name.into(), arguments)])
    }

    /// [`Step::Status`] with a provider-style JSON error body and no `Retry-After`.
    pub fn status(code: u16) -> Self {
        Self::Status { code, retry_after: None, body: String::new() }
    }

    /// HTTP 429 with `Retry-After: seconds`.
    pub fn rate_limited(seconds: u64) -> Self {
        Self::Status { code: 429, retry_after: Some(seconds), body: String::new() }
    }

    /// [`Step::Held`].
    pub fn held(step: Step, gate: &StreamGate) -> Self {
        Self::Held(Box::new(step), gate.clone())
    }

    /// [`Step::Slow`].
    pub fn slow(delay: Duration, then: Step) -> Self {
        Self::Slow(delay, Box::new(then))
    }
}

/// One request the server received.
#[derive(Clone, Debug, PartialEq)]
pub struct RecordedRequest {
    /// HTTP method.
    pub method: String,
    /// Path (and query).
    pub path: String,
    /// Headers, names lower-case; repeated headers joined with `, `.
    pub headers: BTreeMap<String, String>,
    /// The JSON body; a body that is not JSON is kept as a JSON string.
    pub body: Value,
}

impl RecordedRequest {
    /// A header's value, by case-insensitive name.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
}

/// [`ScriptedModel::wait_for_requests`] gave up.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the scripted model received {received} of {wanted} requests within {waited:?}")]
pub struct TooFewRequests {
    /// Requests waited for.
    pub wanted: usize,
    /// Requests received when the wait ended.
    pub received: usize,
    /// How long it waited.
    pub waited: Duration,
}
