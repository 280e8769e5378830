//! The [`ToolBox`]: an agent's tools, built once from the runner config and called by the agent
//! loop.

use std::collections::HashMap;
use std::sync::Arc;

use agentry_protocol::runner_config::ToolDefinition;
use futures::future::join_all;
use serde_json::Value;
use tokio::time::Instant;
use tracing::Instrument as _;

use super::result_cache::{Lookup, ResultCache};
use super::tool_config::{Tool, ToolConfigError, ToolKind};
use super::{CallContext, Delegate, DelegationError, ToolError, ToolFailure, ToolOutcome};
use super::{agent_tool, arguments, calculator, current_time, memory_tools};
use crate::memory_recall::LongTermMemory;
use crate::metrics::RunnerMetrics;
use crate::model::chat::{ToolCall, ToolSpec};

/// The `tool` label of calls to names the agent does not have: one series however many names a
/// model invents (a Tool object's name cannot start with `_`, so it cannot collide).
pub const UNKNOWN_TOOL_LABEL: &str = "_unknown";

/// An agent's tools, ready to be offered to a model and called.
pub struct ToolBox {
    tools: Vec<Tool>,
    by_name: HashMap<String, usize>,
    delegate: Arc<dyn Delegate>,
    metrics: Arc<RunnerMetrics>,
    /// Results of tools with `cacheTtlSeconds`.
    cache: ResultCache,
    /// What `memory_search` and `memory_store` reach; `None` without a MemoryStore.
    memory: Option<Arc<LongTermMemory>>,
}

impl std::fmt::Debug for ToolBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ToolBox").field("tools", &self.tools).finish_non_exhaustive()
    }
}

impl ToolBox {
    /// Builds the tools of `defs`: compiles every input schema (an invalid schema is an error
    /// naming the tool), resolves secret header values through `env` (a missing variable is an
    /// error naming it, never a value) and builds each `http` tool's client with its address policy.
    pub fn new(
        defs: &[ToolDefinition],
        env: &dyn Fn(&str) -> Option<String>,
        delegate: Arc<dyn Delegate>,
        metrics: Arc<RunnerMetrics>,
    ) -> Result<Self, ToolConfigError> {
        let mut tools = Vec::with_capacity(defs.len());
        let mut by_name = HashMap::with_capacity(defs.len());
        for def in defs {
            if by_name.insert(def.name.clone(), tools.len()).is_some() {
                return Err(ToolConfigError::Duplicate { tool: def.name.clone() });
            }
            tools.push(Tool::new(def, env)?);
        }
        Ok(Self { tools, by_name, delegate, metrics, cache: ResultCache::default(), memory: None })
    }

    /// Gives the memory builtins the agent's long-term memory.
    pub fn with_memory(mut self, memory: Option<Arc<LongTermMemory>>) -> Self {
        self.memory = memory;
        self
    }

    /// The tools as offered to the model, in definition order.
    pub fn specs(&self) -> Vec<ToolSpec> {
        self.tools
            .iter()
            .map(|tool| ToolSpec {
                name: tool.name.clone(),
                description: tool.description.clone(),
                parameters: tool.parameters.clone(),
            })
            .collect()
    }

    /// Runs the calls concurrently (a model asking for several in one turn does not wait for
    /// each in turn); the outcomes are in the calls' order.
    pub async fn call_all(&self, calls: &[ToolCall], ctx: &CallContext) -> Vec<ToolOutcome> {
        join_all(calls.iter().map(|call| self.call(call, ctx))).await
    }

    /// Runs one call: looks the tool up, validates the arguments, applies the rate limit and
    /// runs it within its timeout and the request's deadline. Never fails: a failure is an
    /// outcome with `ok: false` and a message for the model.
    pub async fn call(&self, call: &ToolCall, ctx: &CallContext) -> ToolOutcome {
        let tool = self.by_name.get(&call.name).and_then(|&i| self.tools.get(i));
        let label = tool.map_or(UNKNOWN_TOOL_LABEL, |t| t.name.as_str());
        let span = tracing::info_span!(
            "agentry.tool_call",
            gen_ai.tool.name = %call.name,
            gen_ai.tool.call.id = %call.id,
            agentry.agent = ctx.delegation_path.last().map(String::as_str),
            agentry.request_id = %ctx.request_id,
            agentry.session_id = ctx.session_id.as_deref(),
            agentry.outcome = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
            otel.status_message = tracing::field::Empty,
        );
        async {
            let started = Instant::now();
            let result = match tool {
                Some(tool) => self.run(tool, call, ctx).await,
                None => Err(self.unknown(&call.name)),
            };
            let duration = started.elapsed();
            let outcome = match result {
                Ok(content) => ToolOutcome {
                    call_id: call.id.clone(),
                    name: call.name.clone(),
                    ok: true,
                    content,
                    failure: None,
                    duration,
                },
                Err(error) => ToolOutcome {
                    call_id: call.id.clone(),
                    name: call.name.clone(),
                    ok: false,
                    content: error.message,
                    failure: Some(error.failure),
                    duration,
                },
            };
            self.metrics.tool_calls.with_label_values(&[label, outcome.outcome()]).inc();
            self.metrics.tool_call_duration.with_label_values(&[label]).observe(duration.as_secs_f64());
            let span = tracing::Span::current();
            span.record("agentry.outcome", outcome.outcome());
            if !outcome.ok {
                span.record("otel.status_code", "ERROR")
                    .record("otel.status_message", outcome.content.as_str());
            }
            let duration_ms = duration.as_secs_f64() * 1000.0;
            match outcome.failure {
                None => tracing::debug!(outcome = "ok", duration_ms, "tool call succeeded"),
                Some(failure) => tracing::info!(
                    outcome = failure.as_str(),
                    duration_ms,
                    error = %outcome.content,
                    "tool call failed"
                ),
            }
            outcome
        }
        .instrument(span)
        .await
    }

    fn unknown(&self, name: &str) -> ToolError {
        let mut message = format!("there is no tool named {name:?}; ");
        if self.tools.is_empty() {
            message.push_str("this agent has no tools");
        } else {
            message.push_str("available tools: ");
            let names: Vec<&str> = self.tools.iter().map(|t| t.name.as_str()).collect();
            message.push_str(&names.join(", "));
        }
        ToolError { failure: ToolFailure::UnknownTool, message }
    }

    async fn run(&self, tool: &Tool, call: &ToolCall, ctx: &CallContext) -> Result<String, ToolError> {
        let invalid = |problem: String| {
            ToolError::invalid_arguments(format!(
                "invalid arguments for tool {:?}: {problem}. Correct the arguments and call it again.",
                tool.name
            ))
        };
        let arguments = arguments::normalize(&call.arguments).map_err(invalid)?;
        tool.schema.check(&arguments).map_err(invalid)?;
        let cache_key = match self.cache.lookup(&tool.name, tool.cache_ttl, &arguments) {
            Lookup::Uncached => None,
            Lookup::Hit(content) => {
                self.metrics.tool_cache_lookups.with_label_values(&[tool.name.as_str(), "hit"]).inc();
                return Ok(content);
            }
            Lookup::Miss(key) => {
                self.metrics.tool_cache_lookups.with_label_values(&[tool.name.as_str(), "miss"]).inc();
                Some(key)
            }
        };
        if let Some(limiter) = &tool.limiter
            && let Err(wait) = limiter.try_acquire()
        {
            return Err(ToolError {
                failure: ToolFailure::RateLimited,
                message: format!(
                    "tool {:?} is rate limited to {} calls per minute; retry in about {} s",
                    tool.name,
                    limiter.per_minute(),
                    wait.as_secs_f64().ceil().max(1.0)
                ),
            });
        }

        let now = Instant::now();
        let tool_deadline = now.checked_add(tool.timeout);
        let (deadline, by_tool_timeout) = match tool_deadline {
            Some(at) if at < ctx.deadline => (at, true),
            _ => (ctx.deadline, false),
        };
        let timed_out = || {
            let message = if by_tool_timeout {
                format!(
                    "tool {:?} did not finish within its timeout of {} s",
                    tool.name,
                    tool.timeout.as_secs()
                )
            } else {
                format!("tool {:?} was stopped: the request's deadline was reached", tool.name)
            };
            ToolError { failure: ToolFailure::Timeout, message }
        };
        if deadline <= now {
            return Err(timed_out());
        }
        // The agent asked inherits the tighter deadline, so it does not work on past our patience.
        let bounded = CallContext { deadline, ..ctx.clone() };
        let result = match tokio::time::timeout_at(deadline, self.execute(tool, &arguments, &bounded)).await {
            Ok(result) => result,
            Err(_) => Err(timed_out()),
        };
        if let (Some(key), Ok(content)) = (cache_key, &result) {
            self.cache.store(key, content);
        }
        result
    }

    async fn execute(&self, tool: &Tool, arguments: &Value, ctx: &CallContext) -> Result<String, ToolError> {
        match &tool.kind {
            ToolKind::Http(http) => http.call(arguments).await,
            ToolKind::Agent { agent } => {
                let input = agent_tool::input_of(arguments);
                self.delegate.ask(agent, input, ctx).await.map_err(|e| {
                    let failure =
                        if e == DelegationError::Timeout { ToolFailure::Timeout } else { ToolFailure::Error };
                    ToolError { failure, message: format!("asking agent {agent:?} failed: {e}") }
                })
            }
            ToolKind::Calculator => {
                let Some(expression) = arguments.get("expression").and_then(Value::as_str) else {
                    return Err(ToolError::invalid_arguments("argument `expression` (a string) is required"));
                };
                calculator::evaluate(expression).map_err(|e| {
                    let message = format!("cannot evaluate {expression:?}: {e}");
                    match e {
                        calculator::CalcError::Math(_) => ToolError::error(message),
                        _ => ToolError::invalid_arguments(message),
                    }
                })
            }
            ToolKind::CurrentTime => {
                let timezone = match arguments.get("timezone") {
                    None | Some(Value::Null) => None,
                    Some(Value::String(zone)) => Some(zone.as_str()),
                    Some(_) => {
                        return Err(ToolError::invalid_arguments(
                            "argument `timezone` must be a string such as \"Europe/Paris\"",
                        ));
                    }
                };
                current_time::format_now(jiff::Timestamp::now(), timezone)
                    .map_err(ToolError::invalid_arguments)
            }
            ToolKind::MemorySearch => memory_tools::search(self.memory.as_deref(), arguments).await,
            ToolKind::MemoryStore => memory_tools::store(self.memory.as_deref(), arguments).await,
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use std::future::Future;
    use std::pin::Pin;
    use std::sync::Mutex;
    use std::time::Duration;

    use serde_json::json;

    use super::*;

    /// Answers after `delay` (tokio time), recording what it was asked.
    struct SlowDelegate {
        delay: Duration,
        asked: Mutex<Vec<Asked>>,
    }

    /// Agent, input, delegation path and deadline of one question.
    type Asked = (String, String, Vec<String>, Instant);

    impl Delegate for SlowDelegate {
        fn ask<'a>(
            &'a self,
            agent: &'a str,
            input: String,
            ctx: &'a CallContext,
        ) -> Pin<Box<dyn Future<Output = Result<String, DelegationError>> + Send + 'a>> {
            Box::pin(async move {
                self.asked.lock().expect("lock").push((
                    agent.to_string(),
                    input.clone(),
                    ctx.delegation_path.clone(),
                    ctx.deadline,
                ));
                tokio::time::sleep(self.delay).await;
                Ok(format!("{agent} says: {input}"))
            })
        }
    }

    fn delegate(delay: Duration) -> Arc<SlowDelegate> {
        Arc::new(SlowDelegate { delay, asked: Mutex::new(Vec::new()) })
    }

    /// Tool fixtures, also used by the tests of `tool_config`.
    pub(crate) fn def(value: Value) -> ToolDefinition {
        serde_json::from_value(value).expect("tool definition")
    }

    pub(crate) fn calculator_def() -> ToolDefinition {
        def(
            json!({"name": "calc", "description": "Arithmetic", "implementation": {"type": "builtin", "name": "calculator"}}),
        )
    }

    pub(crate) fn metrics() -> Arc<RunnerMetrics> {
        Arc::new(RunnerMetrics::new("ns", "agent").expect("metrics"))
    }

    pub(crate) fn toolbox(defs: &[ToolDefinition]) -> ToolBox {
        toolbox_with(defs, delegate(Duration::from_secs(1)), metrics())
    }

    fn toolbox_with(
        defs: &[ToolDefinition],
        delegate: Arc<dyn Delegate>,
        metrics: Arc<RunnerMetrics>,
    ) -> ToolBox {
        ToolBox::new(defs, &|_| None, delegate, metrics).expect("toolbox")
    }

    fn ctx() -> CallContext {
        CallContext {
            traceparent: None,
            request_id: "req-1".into(),
            session_id: None,
            delegation_path: vec!["me".into()],
            deadline: Instant::now() + Duration::from_secs(120),
        }
    }

    fn call(name: &str, arguments: Value) -> ToolCall {
        ToolCall { id: format!("call-{name}"), name: name.into(), arguments }
    }

    #[tokio::test]
    async fn a_valid_call_runs_the_tool() {
        let tools = toolbox(&[calculator_def()]);
        let out = tools.call(&call("calc", json!({"expression": "2 + 3 * 4"})), &ctx()).await;
        assert!(out.ok, "{out:?}");
        assert_eq!((out.content.as_str(), out.call_id.as_str(), out.outcome()), ("14", "call-calc", "ok"));
    }

    #[tokio::test]
    async fn invalid_arguments_are_refused_before_running_with_the_path_named() {
        let metrics = metrics();
        let tools = toolbox_with(&[calculator_def()], delegate(Duration::ZERO), metrics.clone());
        let out = tools.call(&call("calc", json!({"expression": 42})), &ctx()).await;
        assert!(!out.ok);
        assert_eq!(out.failure, Some(ToolFailure::InvalidArguments));
        assert!(
            out.content.contains("argument `/expression`: 42 is not of type \"string\""),
            "{}",
            out.content
        );
        assert!(out.content.contains("Correct the arguments"), "{}", out.content);
        let out = tools.call(&call("calc", json!({})), &ctx()).await;
        assert!(out.content.contains("\"expression\" is a required property"), "{}", out.content);
        let out = tools.call(&call("calc", json!("not json")), &ctx()).await;
        assert!(out.content.contains("not valid JSON"), "{}", out.content);
        assert_eq!(metrics.tool_calls.with_label_values(&["calc", "invalid_arguments"]).get(), 3);
        assert_eq!(metrics.tool_calls.with_label_values(&["calc", "ok"]).get(), 0);
        assert_eq!(metrics.tool_call_duration.with_label_values(&["calc"]).get_sample_count(), 3);
    }

    #[tokio::test]
    async fn calculator_refusals_distinguish_syntax_from_math() {
        let tools = toolbox(&[calculator_def()]);
        let out = tools.call(&call("calc", json!({"expression": "2 +* 3"})), &ctx()).await;
        assert_eq!(out.failure, Some(ToolFailure::InvalidArguments));
        assert!(out.content.starts_with("cannot evaluate \"2 +* 3\": at position 4"), "{}", out.content);
        let out = tools.call(&call("calc", json!({"expression": "1/0"})), &ctx()).await;
        assert_eq!(out.failure, Some(ToolFailure::Error));
        assert!(out.content.contains("division by zero"), "{}", out.content);
    }

    #[tokio::test]
    async fn current_time_answers_and_refuses_unknown_zones() {
        let tools = toolbox(&[def(json!({
            "name": "now", "description": "Time", "implementation": {"type": "builtin", "name": "current_time"}
        }))]);
        let out = tools.call(&call("now", json!({"timezone": "Europe/Paris"})), &ctx()).await;
        assert!(out.ok, "{out:?}");
        assert!(out.content.parse::<jiff::Timestamp>().is_ok(), "{}", out.content);
        let out = tools.call(&call("now", json!({"timezone": "Nowhere/Land"})), &ctx()).await;
        assert_eq!(out.failure, Some(ToolFailure::InvalidArguments));
        assert!(out.content.contains("unknown time zone \"Nowhere/Land\""), "{}", out.content);
    }

    #[tokio::test]
    async fn memory_tools_without_a_memory_store_say_so() {
        let tools = toolbox(&[def(json!({
            "name": "recall", "description": "d", "implementation": {"type": "builtin", "name": "memory_search"}
        }))]);
        let out = tools.call(&call("recall", json!({"query": "invoices"})), &ctx()).await;
        assert_eq!(out.failure, Some(ToolFailure::Error));
        assert!(out.content.contains("spec.memory.storeRef"), "{}", out.content);
        let out = tools.call(&call("recall", json!({})), &ctx()).await;
        assert_eq!(out.failure, Some(ToolFailure::InvalidArguments), "the schema is the builtin's");
    }

    #[tokio::test]
    async fn an_unknown_tool_lists_the_available_ones() {
        let metrics = metrics();
        let tools = toolbox_with(
            &[
                calculator_def(),
                def(
                    json!({"name": "now", "description": "d", "implementation": {"type": "builtin", "name": "current_time"}}),
                ),
            ],
            delegate(Duration::ZERO),
            metrics.clone(),
        );
        let out = tools.call(&call("weather", json!({})), &ctx()).await;
        assert_eq!(out.failure, Some(ToolFailure::UnknownTool));
        assert_eq!(out.content, "there is no tool named \"weather\"; available tools: calc, now");
        assert_eq!(metrics.tool_calls.with_label_values(&[UNKNOWN_TOOL_LABEL, "unknown_tool"]).get(), 1);
        let empty = toolbox(&[]);
        let out = empty.call(&call("x", json!({})), &ctx()).await;
        assert!(out.content.ends_with("this agent has no tools"), "{}", out.content);
    }

    #[tokio::test(start_paused = true)]
    async fn the_rate_limit_refuses_with_a_retry_time() {
        let mut limited = calculator_def();
        limited.rate_limit_per_minute = Some(2);
        let tools = toolbox(&[limited]);
        let sum = call("calc", json!({"expression": "1+1"}));
        assert!(tools.call(&sum, &ctx()).await.ok);
        assert!(tools.call(&sum, &ctx()).await.ok);
        let out = tools.call(&sum, &ctx()).await;
        assert_eq!(out.failure, Some(ToolFailure::RateLimited));
        assert_eq!(out.content, "tool \"calc\" is rate limited to 2 calls per minute; retry in about 30 s");
        // Invalid calls are refused before the limiter and do not use it up.
        let invalid = tools.call(&call("calc", json!({})), &ctx()).await;
        assert_eq!(invalid.failure, Some(ToolFailure::InvalidArguments));
        tokio::time::advance(Duration::from_secs(30)).await;
        assert!(tools.call(&sum, &ctx()).await.ok);
    }

    #[tokio::test(start_paused = true)]
    async fn agent_tools_delegate_with_a_bounded_deadline() {
        let slow = delegate(Duration::from_secs(5));
        let tools = toolbox_with(
            &[def(json!({"name": "ask-finance", "description": "Finance", "timeoutSeconds": 10,
                          "implementation": {"type": "agent", "agent": "finance"}}))],
            slow.clone(),
            metrics(),
        );
        let started = Instant::now();
        let out = tools.call(&call("ask-finance", json!({"question": "Q3 budget?"})), &ctx()).await;
        assert!(out.ok, "{out:?}");
        assert_eq!(out.content, "finance says: Q3 budget?");
        assert_eq!(out.duration, Duration::from_secs(5));
        let asked = slow.asked.lock().expect("lock");
        let (agent, input, path, deadline) = &asked[0];
        assert_eq!(
            (agent.as_str(), input.as_str(), path.clone()),
            ("finance", "Q3 budget?", vec!["me".to_string()])
        );
        assert_eq!(
            *deadline,
            started + Duration::from_secs(10),
            "the tool's timeout is tighter than the request's"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_slow_tool_times_out_at_its_timeout_or_the_request_deadline() {
        let slow = delegate(Duration::from_secs(60));
        let tools = toolbox_with(
            &[def(json!({"name": "ask", "description": "d", "timeoutSeconds": 10,
                          "implementation": {"type": "agent", "agent": "b"}}))],
            slow,
            metrics(),
        );
        let question = call("ask", json!({"question": "?"}));
        let out = tools.call(&question, &ctx()).await;
        assert_eq!(out.failure, Some(ToolFailure::Timeout));
        assert_eq!(out.content, "tool \"ask\" did not finish within its timeout of 10 s");
        assert_eq!(out.duration, Duration::from_secs(10));

        let short = CallContext { deadline: Instant::now() + Duration::from_secs(3), ..ctx() };
        let out = tools.call(&question, &short).await;
        assert_eq!(out.content, "tool \"ask\" was stopped: the request's deadline was reached");
        assert_eq!(out.duration, Duration::from_secs(3));

        let past = CallContext { deadline: Instant::now(), ..ctx() };
        let out = tools.call(&question, &past).await;
        assert_eq!(out.failure, Some(ToolFailure::Timeout));
        assert_eq!(out.duration, Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn call_all_runs_calls_concurrently_in_order() {
        let slow = delegate(Duration::from_secs(5));
        let tools = toolbox_with(
            &[
                def(
                    json!({"name": "ask-a", "description": "d", "implementation": {"type": "agent", "agent": "a"}}),
                ),
                def(
                    json!({"name": "ask-b", "description": "d", "implementation": {"type": "agent", "agent": "b"}}),
                ),
                calculator_def(),
            ],
            slow,
            metrics(),
        );
        let calls = [
            call("ask-a", json!({"question": "1"})),
            call("calc", json!({"expression": "6*7"})),
            call("ask-b", json!({"question": "2"})),
        ];
        let started = Instant::now();
        let outcomes = tools.call_all(&calls, &ctx()).await;
        assert_eq!(started.elapsed(), Duration::from_secs(5), "two 5 s calls took one call's time");
        let contents: Vec<&str> = outcomes.iter().map(|o| o.content.as_str()).collect();
        assert_eq!(contents, ["a says: 1", "42", "b says: 2"]);
    }

    #[tokio::test]
    async fn delegation_errors_reach_the_model_as_text() {
        struct Refusing;
        impl Delegate for Refusing {
            fn ask<'a>(
                &'a self,
                _agent: &'a str,
                _input: String,
                ctx: &'a CallContext,
            ) -> Pin<Box<dyn Future<Output = Result<String, DelegationError>> + Send + 'a>> {
                let path = ctx.delegation_path.clone();
                Box::pin(async move {
                    if path.len() > 1 {
                        Err(DelegationError::Timeout)
                    } else {
                        Err(DelegationError::Cycle { path: vec!["me".into(), "b".into(), "me".into()] })
                    }
                })
            }
        }
        let tools = toolbox_with(
            &[def(
                json!({"name": "ask-b", "description": "d", "implementation": {"type": "agent", "agent": "b"}}),
            )],
            Arc::new(Refusing),
            metrics(),
        );
        let out = tools.call(&call("ask-b", json!({"question": "?"})), &ctx()).await;
        assert_eq!(out.failure, Some(ToolFailure::Error));
        assert!(
            out.content.starts_with(
                "asking agent \"b\" failed: delegation refused: it would form a cycle (me → b → me)"
            ),
            "{}",
            out.content
        );
        let deeper = CallContext { delegation_path: vec!["x".into(), "me".into()], ..ctx() };
        let out = tools.call(&call("ask-b", json!({"question": "?"})), &deeper).await;
        assert_eq!(out.failure, Some(ToolFailure::Timeout));
    }
}
