//! The agent loop: prompt → model → tool calls → … → answer, within the request's bounds.

use std::sync::Arc;

use agentry_protocol::events::{EventBody, InteractionEvent, MessageEvent, MessageRole, ToolCallEvent};
use agentry_protocol::runner_config::{MemoryBlock, RunnerConfig};
use agentry_protocol::{
    AgentReply, AgentRequest, ChatRole, ErrorCode, PROTOCOL_VERSION, StreamEventBody, ToolCallSummary, Usage,
};
use tokio::time::Instant;
use tracing::Instrument;
use tracing::field::Empty;

use crate::event_publisher::EventPublisher;
use crate::memory_recall::LongTermMemory;
use crate::metrics::RunnerMetrics;
use crate::model::TokenSink;
use crate::model::chat::{ChatMessage, ChatRequest, ToolCall};
use crate::model::model_chain::{ChainAnswer, ChainError, ModelCallRecord, ModelChain};
use crate::request_stream::RequestStream;
use crate::tools::{CallContext, ToolBox, ToolOutcome};
use crate::usage_ledger::UsageLedger;

/// Everything one agent needs to answer requests; shared by all in-flight requests.
pub struct AgentLoop {
    config: Arc<RunnerConfig>,
    system_prompt: String,
    models: ModelChain,
    tools: ToolBox,
    ledger: UsageLedger,
    events: EventPublisher,
    metrics: Arc<RunnerMetrics>,
    /// Where streamed requests' events are published.
    nats: async_nats::Client,
    /// Long-term memory, when the agent has a MemoryStore.
    memory: Option<Arc<LongTermMemory>>,
}

/// A request being answered, with the bounds worked out on receipt.
#[derive(Debug)]
pub struct Inbound {
    /// The request.
    pub request: AgentRequest,
    /// When the reply is due.
    pub deadline: Instant,
    /// When the request arrived.
    pub received: Instant,
    /// The caller's W3C trace context, if it sent one.
    pub traceparent: Option<String>,
    /// Where the request's progress goes (its reply subject), when it asked for it (`stream`).
    pub stream_to: Option<async_nats::Subject>,
}

impl AgentLoop {
    /// Assembles the loop from its parts; `ledger` counts the agent's daily usage, `nats`
    /// carries the events of requests that ask for them (`stream`).
    pub fn new(
        config: Arc<RunnerConfig>,
        models: ModelChain,
        tools: ToolBox,
        ledger: UsageLedger,
        events: EventPublisher,
        metrics: Arc<RunnerMetrics>,
        nats: async_nats::Client,
    ) -> Self {
        let system_prompt = render_system_prompt(&config.system_prompt, &config.memory_blocks);
        Self { config, system_prompt, models, tools, ledger, events, metrics, nats, memory: None }
    }

    /// Recalls long-term memories into each prompt and writes episodic memories from `memory`.
    pub fn with_memory(mut self, memory: Option<Arc<LongTermMemory>>) -> Self {
        self.memory = memory;
        self
    }

    /// Answers one request; every failure becomes an error reply, never a panic or a hang. It
    /// runs in an `agentry.request` span continuing the caller's trace (its `traceparent`).
    pub async fn answer(&self, inbound: Inbound) -> AgentReply {
        let request = &inbound.request;
        let span = tracing::info_span!(
            "agentry.request",
            otel.kind = "server",
            traceparent = inbound.traceparent.as_deref(),
            agentry.namespace = %self.config.namespace,
            agentry.agent = %self.config.agent,
            agentry.request_id = %request.request_id,
            agentry.from = request.from.as_deref(),
            agentry.delegation_depth = request.delegation_path.len(),
            agentry.outcome = Empty,
            otel.status_code = Empty,
            otel.status_message = Empty,
        );
        let reply = self.answer_in_span(inbound).instrument(span.clone()).await;
        match &reply.error {
            None => span.record("agentry.outcome", "ok"),
            Some(error) => span
                .record("agentry.outcome", error.code.as_str())
                .record("otel.status_code", "ERROR")
                .record("otel.status_message", error.message.as_str()),
        };
        reply
    }

    async fn answer_in_span(&self, inbound: Inbound) -> AgentReply {
        let Inbound { request, deadline, received, traceparent, stream_to } = inbound;
        self.ledger.record_request();
        let mut progress = Progress {
            stream: stream_to
                .map(|subject| RequestStream::open(self.nats.clone(), subject, request.request_id.clone())),
            ..Progress::default()
        };
        let outcome =
            tokio::time::timeout_at(deadline, self.run(&request, deadline, traceparent, &mut progress)).await;
        let reply = match outcome {
            Ok(Ok((output, model))) => AgentReply {
                version: PROTOCOL_VERSION,
                request_id: request.request_id.clone(),
                output: Some(output),
                model: Some(model),
                usage: progress.usage,
                tool_calls: std::mem::take(&mut progress.tool_calls),
                message_count: progress.messages,
                error: None,
            },
            Ok(Err((code, message))) => self.failure(&request, &mut progress, code, message),
            Err(_) => {
                let message = format!(
                    "no answer within the deadline ({} s limit or the caller's deadline)",
                    self.config.limits.timeout_seconds
                );
                self.failure(&request, &mut progress, ErrorCode::Timeout, message)
            }
        };
        let reply = self.fit_for_nats(reply);
        self.remember_episode(&request, &reply);
        self.emit_interaction(&request, &reply, received);
        if let Some(stream) = progress.stream.take() {
            stream.finish().await;
        }
        reply
    }

    /// The reply, or a `too_large` error in its place when NATS could not carry it: the caller
    /// gets an answer it can act on, and metrics and events count a failure, not an `ok`.
    fn fit_for_nats(&self, reply: AgentReply) -> AgentReply {
        let size = serde_json::to_vec(&reply).map_or(0, |bytes| bytes.len());
        let limit = crate::service::reply_limit(&self.nats);
        if size <= limit {
            return reply;
        }
        tracing::warn!(request_id = %reply.request_id, bytes = size, limit, "answer too large for NATS");
        let mut error = crate::service::too_large_reply(&reply.request_id, size, limit);
        error.usage = reply.usage;
        error.tool_calls = reply.tool_calls;
        error.message_count = reply.message_count;
        error
    }

    fn failure(
        &self,
        request: &AgentRequest,
        progress: &mut Progress,
        code: ErrorCode,
        message: String,
    ) -> AgentReply {
        let mut reply = AgentReply::failure(&request.request_id, code, message);
        reply.usage = progress.usage;
        reply.tool_calls = std::mem::take(&mut progress.tool_calls);
        reply.message_count = progress.messages;
        reply
    }

    async fn run(
        &self,
        request: &AgentRequest,
        deadline: Instant,
        traceparent: Option<String>,
        progress: &mut Progress,
    ) -> Result<(String, String), (ErrorCode, String)> {
        let mut messages = vec![ChatMessage::System(self.prompt_with_memories(request).await)];
        // Earlier turns of the conversation were recorded when they happened: they are read,
        // not counted or emitted again.
        messages.extend(request.history.iter().map(|turn| match turn.role {
            ChatRole::User => ChatMessage::User(turn.content.clone()),
            ChatRole::Assistant => {
                ChatMessage::Assistant { text: Some(turn.content.clone()), tool_calls: vec![] }
            }
        }));
        messages.push(ChatMessage::User(user_message(request)));
        progress.messages = 1;
        self.emit_message(request, MessageRole::User, request.input.clone(), None);
        let delegation_path =
            request.delegation_path.iter().cloned().chain([self.config.agent.clone()]).collect();
        let ctx = CallContext {
            request_id: request.request_id.clone(),
            session_id: request.session_id.clone(),
            delegation_path,
            deadline,
            traceparent,
        };
        let tools = self.tools.specs();
        for _turn in 0..self.config.limits.max_turns {
            self.check_spend(request, progress)?;
            check_room(request, progress, 1)?;
            let chat = ChatRequest { messages: messages.clone(), tools: tools.clone() };
            let answer = self.model_turn(request, &chat, deadline, progress).await?;
            let turn = answer.turn;
            if turn.tool_calls.is_empty() {
                return Ok((turn.text.unwrap_or_default(), answer.model));
            }
            // The tools' results and the turn that reads them must fit, or the tools are not called.
            let needed = u32::try_from(turn.tool_calls.len()).unwrap_or(u32::MAX).saturating_add(1);
            check_room(request, progress, needed)?;
            let outcomes = self.tools.call_all(&turn.tool_calls, &ctx).await;
            messages.push(ChatMessage::Assistant { text: turn.text, tool_calls: turn.tool_calls.clone() });
            for (call, outcome) in turn.tool_calls.iter().zip(outcomes) {
                messages.push(self.record_tool_call(request, call, outcome, progress));
            }
        }
        let message =
            format!("no answer after {} model turns (limits.maxTurns)", self.config.limits.max_turns);
        Err((ErrorCode::MaxTurns, message))
    }

    /// The system prompt and memory blocks, then the long-term memories recalled for the
    /// request's input (none while the store is unreachable).
    async fn prompt_with_memories(&self, request: &AgentRequest) -> String {
        let Some(memory) = &self.memory else { return self.system_prompt.clone() };
        let (recalled, stored) =
            tokio::join!(memory.recall_for_prompt(&request.input), memory.stored_blocks());
        // Blocks written through the API replace the Agent's own of the same label.
        let prompt = if stored.is_empty() {
            self.system_prompt.clone()
        } else {
            render_system_prompt(
                &self.config.system_prompt,
                &merged_blocks(&self.config.memory_blocks, stored),
            )
        };
        if recalled.ids.is_empty() {
            return prompt;
        }
        tracing::info!(request_id = %request.request_id, memories = ?recalled.ids, "memories recalled");
        if prompt.is_empty() { recalled.section } else { format!("{prompt}\n\n{}", recalled.section) }
    }

    /// Stores the episodic memory of an answered request in the background, so the reply does
    /// not wait for it.
    fn remember_episode(&self, request: &AgentRequest, reply: &AgentReply) {
        let (Some(memory), Some(output)) = (&self.memory, &reply.output) else { return };
        if reply.error.is_some() || !memory.episodic() {
            return;
        }
        let (memory, input, output) = (memory.clone(), request.input.clone(), output.clone());
        let session = request.session_id.clone();
        tokio::spawn(
            async move { memory.remember_episode(&input, &output, session.as_deref()).await }
                .in_current_span(),
        );
    }

    /// Refuses the next model call once the agent's daily budget or the request's own is spent.
    fn check_spend(&self, request: &AgentRequest, progress: &Progress) -> Result<(), (ErrorCode, String)> {
        if let Some(spent) = self.ledger.exhausted() {
            let limit = self.ledger.limit_usd().unwrap_or_default();
            let message = format!(
                "the agent's daily budget of {limit} USD is spent ({spent:.4} USD today, all replicas); \
                 requests resume at 00:00 UTC"
            );
            return Err((ErrorCode::BudgetExceeded, message));
        }
        let spent = progress.usage.cost_usd;
        match request.limits.and_then(|limits| limits.budget_usd) {
            Some(budget) if spent >= budget => Err((
                ErrorCode::BudgetExceeded,
                format!("the request's budget of {budget} USD (limits.budgetUsd) is spent ({spent:.4} USD)"),
            )),
            _ => Ok(()),
        }
    }

    /// One model call through the fallback chain: its calls and usage recorded, its text emitted.
    async fn model_turn(
        &self,
        request: &AgentRequest,
        chat: &ChatRequest,
        deadline: Instant,
        progress: &mut Progress,
    ) -> Result<ChainAnswer, (ErrorCode, String)> {
        let tokens = progress.stream.as_ref().map(|stream| stream as &dyn TokenSink);
        let answer = match self.models.complete_streamed(chat, deadline, tokens).await {
            Ok(answer) => answer,
            Err(failed) => {
                self.emit_model_calls(request, failed.calls(), progress.stream.as_ref());
                return Err(chain_failure(failed));
            }
        };
        self.emit_model_calls(request, &answer.calls, progress.stream.as_ref());
        self.ledger.record_usage(answer.usage);
        progress.usage.add(answer.usage);
        progress.messages += 1;
        let text = answer.turn.text.clone().unwrap_or_default();
        self.emit_message(request, MessageRole::Assistant, text, Some(answer.usage));
        Ok(answer)
    }

    /// Records one finished tool call (summary, audit event, tool message) and returns its result
    /// for the model.
    fn record_tool_call(
        &self,
        request: &AgentRequest,
        call: &ToolCall,
        outcome: ToolOutcome,
        progress: &mut Progress,
    ) -> ChatMessage {
        let duration_ms = u64::try_from(outcome.duration.as_millis()).unwrap_or(u64::MAX);
        progress.tool_calls.push(ToolCallSummary { name: outcome.name.clone(), ok: outcome.ok, duration_ms });
        if let Some(stream) = &progress.stream {
            stream.send(StreamEventBody::ToolCall {
                name: outcome.name.clone(),
                ok: outcome.ok,
                duration_ms,
            });
        }
        progress.messages += 1;
        self.events.emit(
            &request.request_id,
            request.session_id.as_deref(),
            EventBody::ToolCall(ToolCallEvent {
                tool: outcome.name.clone(),
                arguments: call.arguments.clone(),
                ok: outcome.ok,
                error: (!outcome.ok).then(|| outcome.content.clone()),
                duration_ms,
            }),
        );
        // The result is part of the conversation the model reads next, so its history keeps it.
        let body = EventBody::Message(MessageEvent {
            role: MessageRole::Tool,
            content: outcome.content.clone(),
            tool_name: Some(outcome.name.clone()),
            usage: None,
        });
        self.events.emit(&request.request_id, request.session_id.as_deref(), body);
        ChatMessage::ToolResult {
            call_id: outcome.call_id,
            name: outcome.name,
            content: outcome.content,
            is_error: !outcome.ok,
        }
    }

    fn emit_message(&self, request: &AgentRequest, role: MessageRole, content: String, usage: Option<Usage>) {
        let body = EventBody::Message(MessageEvent { role, content, tool_name: None, usage });
        self.events.emit(&request.request_id, request.session_id.as_deref(), body);
    }

    fn emit_model_calls(
        &self,
        request: &AgentRequest,
        calls: &[ModelCallRecord],
        stream: Option<&RequestStream>,
    ) {
        for call in calls {
            if let Some(stream) = stream {
                stream.send(StreamEventBody::ModelCall { model: call.model.clone(), ok: call.ok });
            }
            self.events.emit(
                &request.request_id,
                request.session_id.as_deref(),
                EventBody::ModelCall(call.to_event()),
            );
        }
    }

    fn emit_interaction(&self, request: &AgentRequest, reply: &AgentReply, received: Instant) {
        let latency = received.elapsed();
        let outcome = reply.error.as_ref().map_or("ok", |e| e.code.as_str());
        self.metrics.requests.with_label_values(&[outcome]).inc();
        self.metrics.request_duration.with_label_values(&[outcome]).observe(latency.as_secs_f64());
        self.events.emit(
            &request.request_id,
            request.session_id.as_deref(),
            EventBody::Interaction(InteractionEvent {
                from_agent: request.from.clone(),
                to_agent: self.config.agent.clone(),
                query: request.input.clone(),
                response: reply.output.clone(),
                error: reply.error.as_ref().map(|e| e.code),
                latency_ms: u64::try_from(latency.as_millis()).unwrap_or(u64::MAX),
                model: reply.model.clone(),
                usage: reply.usage,
                delegation_depth: u32::try_from(request.delegation_path.len()).unwrap_or(u32::MAX),
            }),
        );
    }
}

/// What a request has used so far, kept even when it fails.
#[derive(Default)]
struct Progress {
    usage: Usage,
    tool_calls: Vec<ToolCallSummary>,
    /// Messages of the conversation: the input, each model turn, each tool result.
    messages: u32,
    /// Where its progress goes, when it asked for it (`stream`).
    stream: Option<RequestStream>,
}

/// Refuses a step that would take the conversation past the request's `limits.maxMessages`.
fn check_room(request: &AgentRequest, progress: &Progress, more: u32) -> Result<(), (ErrorCode, String)> {
    match request.limits.and_then(|limits| limits.max_messages) {
        Some(max) if progress.messages.saturating_add(more) > max => Err((
            ErrorCode::MaxMessages,
            format!(
                "no answer within the request's limit of {max} messages (limits.maxMessages): the \
                 conversation holds {} and its next step needs {more} more",
                progress.messages
            ),
        )),
        _ => Ok(()),
    }
}

/// The error reply for a model chain that gave no answer. Every provider refusing the request
/// itself (bad key, bad model, prompt too long) is not an outage: `model_rejected` tells callers,
/// and the task queue, not to retry.
fn chain_failure(failed: ChainError) -> (ErrorCode, String) {
    let rejected = failed.all_rejected();
    match failed {
        ChainError::AllFailed { last_error, .. } if rejected => (ErrorCode::ModelRejected, last_error),
        ChainError::AllFailed { last_error, .. } => (ErrorCode::ModelUnavailable, last_error),
        ChainError::DeadlineExceeded { .. } => {
            (ErrorCode::Timeout, "the deadline passed while waiting for a model".into())
        }
    }
}

/// The Agent's own blocks, each replaced by the stored block of the same label, then the stored
/// blocks it does not have.
fn merged_blocks(own: &[MemoryBlock], stored: Vec<MemoryBlock>) -> Vec<MemoryBlock> {
    let mut merged: Vec<MemoryBlock> =
        own.iter().filter(|b| !stored.iter().any(|s| s.label == b.label)).cloned().collect();
    merged.extend(stored);
    merged
}

/// The system prompt, then the memory blocks, highest priority first.
fn render_system_prompt(system_prompt: &Option<String>, memory_blocks: &[MemoryBlock]) -> String {
    let mut prompt = system_prompt.clone().unwrap_or_default();
    let mut blocks: Vec<_> = memory_blocks.iter().collect();
    blocks.sort_by(|a, b| b.priority.cmp(&a.priority).then_with(|| a.label.cmp(&b.label)));
    for block in blocks {
        if !prompt.is_empty() {
            prompt.push_str("\n\n");
        }
        prompt.push_str(&format!(
            "<{label}>\n{content}\n</{label}>",
            label = block.label,
            content = block.content
        ));
    }
    prompt
}

/// The caller's input, with its context appended when there is one.
fn user_message(request: &AgentRequest) -> String {
    match &request.context {
        Some(context) if !context.is_null() => format!("{}\n\nContext:\n{context}", request.input),
        _ => request.input.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use agentry_protocol::RequestLimits;

    #[test]
    fn memory_blocks_follow_the_prompt_by_priority() {
        let mut config: RunnerConfig = serde_json::from_value(serde_json::json!({
            "version": 1, "namespace": "ns", "agent": "a", "role": "worker", "models": [],
            "nats": {"url": "nats://127.0.0.1:4222"}, "systemPrompt": "You help."
        }))
        .expect("config");
        config.memory_blocks = vec![
            MemoryBlock { label: "low".into(), content: "L".into(), priority: 1 },
            MemoryBlock { label: "high".into(), content: "H".into(), priority: 9 },
        ];
        assert_eq!(
            render_system_prompt(&config.system_prompt, &config.memory_blocks),
            "You help.\n\n<high>\nH\n</high>\n\n<low>\nL\n</low>"
        );
    }

    #[test]
    fn stored_blocks_replace_the_agents_own_of_the_same_label() {
        let block = |label: &str, content: &str, priority| MemoryBlock {
            label: label.into(),
            content: content.into(),
            priority,
        };
        let own = [block("persona", "Terse.", 5), block("policy", "Old rule.", 9)];
        let merged = merged_blocks(&own, vec![block("policy", "New rule.", 9), block("notes", "N", 1)]);
        assert_eq!(
            render_system_prompt(&Some("You help.".into()), &merged),
            "You help.\n\n<policy>\nNew rule.\n</policy>\n\n<persona>\nTerse.\n</persona>\n\n<notes>\nN\n</notes>"
        );
    }

    #[test]
    fn a_step_that_would_pass_max_messages_is_refused_naming_the_limit() {
        let mut request = AgentRequest::new("r", "x");
        let progress = Progress { messages: 3, ..Progress::default() };
        assert!(check_room(&request, &progress, 100).is_ok(), "no limit, no refusal");
        request.limits = Some(RequestLimits { budget_usd: None, max_messages: Some(4) });
        assert!(check_room(&request, &progress, 1).is_ok(), "4 messages fit a limit of 4");
        let (code, message) = check_room(&request, &progress, 2).expect_err("5 do not");
        assert_eq!(code, ErrorCode::MaxMessages);
        assert_eq!(
            message,
            "no answer within the request's limit of 4 messages (limits.maxMessages): the conversation \
             holds 3 and its next step needs 2 more"
        );
    }

    #[test]
    fn context_is_appended_to_the_input() {
        let mut request = AgentRequest::new("r", "Plan it.");
        assert_eq!(user_message(&request), "Plan it.");
        request.context = Some(serde_json::json!({"priority": "high"}));
        assert_eq!(user_message(&request), "Plan it.\n\nContext:\n{\"priority\":\"high\"}");
    }
}
