//! The model chain against scripted OpenAI-compatible and Anthropic servers: real HTTP, real JSON,
//! real failures (429, 5xx, 401, timeouts, malformed bodies).
//!
//! Timing assertions are lower bounds (a wait was honoured) or bounds far below what a missing
//! behaviour would cost, never tight upper bounds that a loaded machine could break.

use std::sync::Arc;
use std::time::{Duration, Instant as StdInstant};

use agentry_process::MetricsSource;
use agentry_protocol::runner_config::{ModelEndpoint, Resilience};
use agentry_runner::metrics::RunnerMetrics;
use agentry_runner::model::chat::{ChatMessage, ChatRequest, TokenUsage, ToolCall, ToolSpec};
use agentry_runner::model::{ChainError, CircuitState, ConfigError, ModelChain};
use agentry_tests::scripted_model::{Flavor, ScriptedModel, Step};
use serde_json::{Value, json};
use tokio::time::Instant;

const KEY_ENV: &str = "TEST_MODEL_KEY";
const KEY: &str = "sk-test-0123456789";

fn endpoint(name: &str, server: &ScriptedModel, extra: Value) -> ModelEndpoint {
    let provider = match server.flavor() {
        Flavor::OpenAi => "openai-compatible",
        Flavor::Anthropic => "anthropic",
    };
    let mut config = json!({
        "name": name,
        "provider": provider,
        "model": format!("{name}-model"),
        "baseUrl": server.base_url(),
        "apiKeyEnv": KEY_ENV,
        "timeoutSeconds": 10,
    });
    if let (Some(config), Value::Object(extra)) = (config.as_object_mut(), extra) {
        config.extend(extra);
    }
    serde_json::from_value(config).expect("endpoint config")
}

fn resilience(max_retries: u32, initial_backoff_ms: u64, failure_threshold: u32) -> Resilience {
    Resilience { max_retries, initial_backoff_ms, failure_threshold, reset_seconds: 300 }
}

fn metrics() -> Arc<RunnerMetrics> {
    Arc::new(RunnerMetrics::new("test", "agent").expect("metrics"))
}

fn chain(models: &[ModelEndpoint], resilience: &Resilience, metrics: &Arc<RunnerMetrics>) -> ModelChain {
    ModelChain::new(models, resilience, |name| (name == KEY_ENV).then(|| KEY.to_string()), metrics.clone())
        .expect("chain")
}

fn ask(text: &str) -> ChatRequest {
    ChatRequest {
        messages: vec![ChatMessage::System("You are terse.".into()), ChatMessage::User(text.into())],
        tools: vec![],
    }
}

fn in_secs(seconds: u64) -> Instant {
    Instant::now() + Duration::from_secs(seconds)
}

#[tokio::test]
async fn openai_plain_text() {
    let server = ScriptedModel::start(Flavor::OpenAi).await;
    server.push(Step::text("Paris."));
    let metrics = metrics();
    let models = [endpoint("primary", &server, json!({"temperature": 0.3, "maxTokens": 64}))];
    let chain = chain(&models, &Resilience::default(), &metrics);

    let answer = chain.complete(&ask("Capital of France?"), in_secs(30)).await.expect("answer");
    assert_eq!(answer.turn.text.as_deref(), Some("Paris."));
    assert!(answer.turn.tool_calls.is_empty());
    assert_eq!(answer.turn.usage, TokenUsage { input_tokens: 10, output_tokens: 5 });
    assert_eq!(answer.model, "primary");
    assert_eq!(answer.calls.len(), 1);
    assert_eq!((answer.calls[0].ok, answer.calls[0].attempts, answer.calls[0].outcome), (true, 1, "ok"));

    let sent = &server.recorded()[0];
    assert_eq!(sent.path, "/v1/chat/completions");
    assert_eq!(sent.header("authorization"), Some(format!("Bearer {KEY}").as_str()));
    assert_eq!(sent.body["model"], "primary-model");
    assert_eq!(sent.body["temperature"], 0.3);
    assert_eq!(sent.body["max_tokens"], 64);
    assert_eq!(sent.body["messages"][0], json!({"role": "system", "content": "You are terse."}));
    assert_eq!(sent.body["messages"][1], json!({"role": "user", "content": "Capital of France?"}));
    assert!(sent.body.get("tools").is_none());
    assert_eq!(metrics.model_calls.with_label_values(&["openai-compatible", "primary", "ok"]).get(), 1);
}

#[tokio::test]
async fn openai_tool_calls_are_parsed_and_results_sent_back() {
    let server = ScriptedModel::start(Flavor::OpenAi).await;
    server.push(Step::ToolCalls(vec![
        ("calculator".into(), json!({"expression": "2+2"})),
        ("weather".into(), json!({"city": "Oslo"})),
    ]));
    server.push(Step::Echo);
    let chain = chain(&[endpoint("primary", &server, json!({}))], &Resilience::default(), &metrics());
    let mut request = ask("2+2, and the weather in Oslo?");
    request.tools = vec![ToolSpec {
        name: "calculator".into(),
        description: "Evaluates arithmetic.".into(),
        parameters: json!({"type": "object", "properties": {"expression": {"type": "string"}}}),
    }];

    let answer = chain.complete(&request, in_secs(30)).await.expect("answer");
    let calls = &answer.turn.tool_calls;
    assert_eq!(calls.len(), 2);
    assert_eq!((calls[0].name.as_str(), &calls[0].arguments), ("calculator", &json!({"expression": "2+2"})));
    assert_eq!((calls[1].name.as_str(), &calls[1].arguments), ("weather", &json!({"city": "Oslo"})));
    assert_ne!(calls[0].id, calls[1].id);
    assert_eq!(server.requests()[0]["tools"][0]["function"]["name"], "calculator");

    request.messages.push(ChatMessage::Assistant { text: None, tool_calls: calls.clone() });
    request.messages.push(ChatMessage::ToolResult {
        call_id: calls[0].id.clone(),
        name: "calculator".into(),
        content: "4".into(),
        is_error: false,
    });
    request.messages.push(ChatMessage::ToolResult {
        call_id: calls[1].id.clone(),
        name: "weather".into(),
        content: "sunny".into(),
        is_error: false,
    });
    let answer = chain.complete(&request, in_secs(30)).await.expect("answer");
    assert_eq!(answer.turn.text.as_deref(), Some("echo: sunny"));
    let sent = &server.requests()[1]["messages"];
    assert_eq!(sent[2]["tool_calls"][0]["id"], calls[0].id.as_str());
    assert_eq!(sent[3], json!({"role": "tool", "tool_call_id": calls[0].id, "content": "4"}));
}

#[tokio::test]
async fn anthropic_text_and_tool_use() {
    let server = ScriptedModel::start(Flavor::Anthropic).await;
    server.push(Step::ToolCalls(vec![("weather".into(), json!({"city": "Oslo"}))]));
    server.push(Step::Echo);
    let chain = chain(&[endpoint("claude", &server, json!({}))], &Resilience::default(), &metrics());
    let mut request = ask("Weather in Oslo?");
    request.messages.insert(1, ChatMessage::System("Memory: the user likes Celsius.".into()));
    request.tools = vec![ToolSpec {
        name: "weather".into(),
        description: "Current weather.".into(),
        parameters: json!({"type": "object"}),
    }];

    let answer = chain.complete(&request, in_secs(30)).await.expect("answer");
    assert_eq!(answer.model, "claude");
    assert_eq!(answer.turn.tool_calls.len(), 1);
    let call: ToolCall = answer.turn.tool_calls[0].clone();
    assert_eq!((call.name.as_str(), &call.arguments), ("weather", &json!({"city": "Oslo"})));
    assert_eq!(answer.usage.input_tokens, 10);

    let sent = &server.recorded()[0];
    assert_eq!(sent.path, "/v1/messages");
    assert_eq!(sent.header("x-api-key"), Some(KEY));
    assert_eq!(sent.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(sent.header("authorization"), None);
    assert_eq!(sent.body["system"], "You are terse.\n\nMemory: the user likes Celsius.");
    assert_eq!(sent.body["max_tokens"], 4096);
    assert_eq!(sent.body["tools"][0]["input_schema"], json!({"type": "object"}));

    request.messages.push(ChatMessage::Assistant { text: None, tool_calls: vec![call.clone()] });
    request.messages.push(ChatMessage::ToolResult {
        call_id: call.id.clone(),
        name: call.name.clone(),
        content: "12°C, clear".into(),
        is_error: false,
    });
    let answer = chain.complete(&request, in_secs(30)).await.expect("answer");
    assert_eq!(answer.turn.text.as_deref(), Some("echo: 12°C, clear"));
    let messages = &server.requests()[1]["messages"];
    assert_eq!(messages[1]["content"][0]["type"], "tool_use");
    assert_eq!(
        messages[2],
        json!({"role": "user", "content": [
            {"type": "tool_result", "tool_use_id": call.id, "content": "12°C, clear"},
        ]})
    );
}

#[tokio::test]
async fn rate_limit_with_retry_after_then_success() {
    let server = ScriptedModel::start(Flavor::OpenAi).await;
    server.push(Step::rate_limited(1));
    server.push(Step::text("finally"));
    // A 1 ms backoff: only honouring Retry-After can make the wait last a second.
    let chain = chain(&[endpoint("primary", &server, json!({}))], &resilience(3, 1, 5), &metrics());

    let started = StdInstant::now();
    let answer = chain.complete(&ask("hi"), in_secs(30)).await.expect("answer");
    let waited = started.elapsed();
    assert_eq!(answer.turn.text.as_deref(), Some("finally"));
    assert_eq!(answer.calls[0].attempts, 2);
    assert_eq!(server.request_count(), 2);
    assert!(waited >= Duration::from_secs(1), "Retry-After: 1 honoured, waited {waited:?}");
}

#[tokio::test]
async fn server_errors_fall_back_to_the_next_model() {
    let primary = ScriptedModel::start(Flavor::OpenAi).await;
    primary.set_default(Step::status(500));
    let fallback = ScriptedModel::start(Flavor::Anthropic).await;
    fallback.push(Step::text("from the fallback"));
    let metrics = metrics();
    let models = [endpoint("primary", &primary, json!({})), endpoint("fallback", &fallback, json!({}))];
    let chain = chain(&models, &resilience(2, 1, 100), &metrics);

    let answer = chain.complete(&ask("hi"), in_secs(30)).await.expect("answer");
    assert_eq!(answer.model, "fallback");
    assert_eq!(answer.turn.text.as_deref(), Some("from the fallback"));
    assert_eq!(answer.calls.len(), 2);
    let failed = &answer.calls[0];
    assert_eq!(
        (failed.model.as_str(), failed.ok, failed.attempts, failed.outcome),
        ("primary", false, 3, "unavailable")
    );
    assert!(failed.error.as_deref().is_some_and(|e| e.contains("HTTP 500")), "{failed:?}");
    assert_eq!(failed.to_event().attempts, 3);
    assert_eq!(primary.request_count(), 3);
    assert_eq!(fallback.request_count(), 1);
    assert_eq!(
        metrics.model_calls.with_label_values(&["openai-compatible", "primary", "unavailable"]).get(),
        1
    );
    assert_eq!(metrics.model_calls.with_label_values(&["anthropic", "fallback", "ok"]).get(), 1);
}

#[tokio::test]
async fn five_failures_open_the_breaker_and_calls_go_straight_to_the_fallback() {
    let primary = ScriptedModel::start(Flavor::OpenAi).await;
    primary.set_default(Step::status(503));
    let fallback = ScriptedModel::start(Flavor::OpenAi).await;
    fallback.set_default(Step::text("fallback answer"));
    let metrics = metrics();
    let models = [endpoint("primary", &primary, json!({})), endpoint("fallback", &fallback, json!({}))];
    let chain = chain(&models, &resilience(0, 1, 5), &metrics);

    for _ in 0..5 {
        let answer = chain.complete(&ask("hi"), in_secs(30)).await.expect("answer");
        assert_eq!(answer.model, "fallback");
    }
    assert_eq!(primary.request_count(), 5);
    assert_eq!(
        chain.circuit_states(),
        vec![("primary", CircuitState::Open), ("fallback", CircuitState::Closed)]
    );
    assert_eq!(metrics.circuit_state.with_label_values(&["primary"]).get(), 2);

    for _ in 0..3 {
        let answer = chain.complete(&ask("hi"), in_secs(30)).await.expect("answer");
        assert_eq!(answer.model, "fallback");
        let skipped = &answer.calls[0];
        assert_eq!(
            (skipped.model.as_str(), skipped.attempts, skipped.outcome),
            ("primary", 0, "circuit_open")
        );
    }
    assert_eq!(primary.request_count(), 5, "no request reaches a model whose breaker is open");
    assert_eq!(fallback.request_count(), 8);
    assert_eq!(
        metrics.model_calls.with_label_values(&["openai-compatible", "primary", "circuit_open"]).get(),
        3
    );
}

#[tokio::test]
async fn unauthorized_is_not_retried_and_falls_back() {
    let primary = ScriptedModel::start(Flavor::OpenAi).await;
    // Providers sometimes quote the key they refused; it must not reach our errors.
    primary.set_default(Step::Status {
        code: 401,
        retry_after: None,
        body: format!(r#"{{"error": {{"message": "Incorrect API key provided: {KEY}"}}}}"#),
    });
    let fallback = ScriptedModel::start(Flavor::OpenAi).await;
    fallback.push(Step::text("ok"));
    let models = [endpoint("primary", &primary, json!({})), endpoint("fallback", &fallback, json!({}))];
    let chain = chain(&models, &resilience(3, 1, 5), &metrics());

    let answer = chain.complete(&ask("hi"), in_secs(30)).await.expect("answer");
    assert_eq!(answer.model, "fallback");
    assert_eq!(primary.request_count(), 1, "401 is never retried");
    let rejected = &answer.calls[0];
    assert_eq!((rejected.outcome, rejected.attempts), ("rejected", 1));
    let error = rejected.error.as_deref().unwrap_or_default();
    assert!(error.contains("HTTP 401") && !error.contains(KEY), "{error}");

    // With every model refusing, the chain reports the rejections.
    fallback.set_default(Step::status(403));
    let err = chain.complete(&ask("hi"), in_secs(30)).await.expect_err("all rejected");
    assert!(matches!(err, ChainError::AllFailed { .. }), "{err:?}");
    assert!(err.all_rejected());
    let message = err.to_string();
    assert!(
        message.contains("primary") && message.contains("fallback") && message.contains("rejected"),
        "{message}"
    );
    assert!(!message.contains(KEY), "{message}");
}

#[tokio::test]
async fn all_models_failing_is_an_error_not_a_hang() {
    let primary = ScriptedModel::start(Flavor::OpenAi).await;
    primary.set_default(Step::status(500));
    let fallback = ScriptedModel::start(Flavor::Anthropic).await;
    fallback.set_default(Step::status(529));
    let models = [endpoint("primary", &primary, json!({})), endpoint("fallback", &fallback, json!({}))];
    let chain = chain(&models, &resilience(2, 1, 100), &metrics());

    // A long deadline: returning AllFailed (not DeadlineExceeded) proves the chain gave up on its
    // own rather than waiting the deadline out; the outer timeout only guards against a hang.
    let result = tokio::time::timeout(Duration::from_secs(60), chain.complete(&ask("hi"), in_secs(120)))
        .await
        .expect("no hang");
    let Err(ChainError::AllFailed { calls, last_error }) = result else {
        panic!("expected AllFailed: {result:?}")
    };
    assert_eq!(calls.len(), 2);
    assert!(calls.iter().all(|c| !c.ok && c.attempts == 3));
    // The message names each model and why, in order: fit for the error reply.
    assert!(
        last_error.starts_with("primary (openai-compatible): provider unavailable (HTTP 500)"),
        "{last_error}"
    );
    assert!(last_error.contains("; fallback (anthropic): provider unavailable (HTTP 529)"), "{last_error}");
    assert_eq!((primary.request_count(), fallback.request_count()), (3, 3));
}

#[tokio::test]
async fn malformed_bodies_are_retried_then_reported() {
    let server = ScriptedModel::start(Flavor::OpenAi).await;
    server.set_default(Step::Malformed);
    let chain = chain(&[endpoint("primary", &server, json!({}))], &resilience(2, 1, 100), &metrics());

    let err = chain.complete(&ask("hi"), in_secs(30)).await.expect_err("malformed");
    let calls = err.calls();
    assert_eq!((calls[0].attempts, calls[0].outcome), (3, "malformed"));
    assert_eq!(server.request_count(), 3);
    assert!(err.to_string().contains("malformed response"), "{err}");

    // A malformed body followed by a good one is just a retry.
    server.push(Step::Malformed);
    server.push(Step::text("fine"));
    let answer = chain.complete(&ask("hi"), in_secs(30)).await.expect("answer");
    assert_eq!((answer.turn.text.as_deref(), answer.calls[0].attempts), (Some("fine"), 2));
}

#[tokio::test]
async fn a_slow_model_times_out_and_counts_as_a_failure() {
    let slow = ScriptedModel::start(Flavor::OpenAi).await;
    slow.set_default(Step::slow(Duration::from_secs(30), Step::text("too late")));
    let fallback = ScriptedModel::start(Flavor::OpenAi).await;
    fallback.set_default(Step::text("in time"));
    let models =
        [endpoint("slow", &slow, json!({"timeoutSeconds": 1})), endpoint("fallback", &fallback, json!({}))];
    // Threshold 1: a timeout is a failure, so the breaker opens on it.
    let chain = chain(&models, &resilience(0, 1, 1), &metrics());

    let started = StdInstant::now();
    let answer = chain.complete(&ask("hi"), in_secs(60)).await.expect("answer");
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert!(started.elapsed() < Duration::from_secs(25), "the 30 s answer was not waited for");
    assert_eq!(answer.model, "fallback");
    assert_eq!(answer.calls[0].outcome, "timeout");
    assert_eq!(chain.circuit_states()[0], ("slow", CircuitState::Open));
}

#[tokio::test]
async fn usage_and_cost_come_from_the_answer_and_the_pricing() {
    let server = ScriptedModel::start(Flavor::Anthropic).await;
    server.set_usage(1_000, 500);
    server.push(Step::text("priced"));
    let metrics = metrics();
    let pricing = json!({"pricing": {"inputPerMillionTokens": 3.0, "outputPerMillionTokens": 15.0}});
    let chain = chain(&[endpoint("claude", &server, pricing)], &Resilience::default(), &metrics);

    let answer = chain.complete(&ask("hi"), in_secs(30)).await.expect("answer");
    assert_eq!((answer.usage.input_tokens, answer.usage.output_tokens), (1_000, 500));
    let expected = 1_000.0 * 3.0 / 1e6 + 500.0 * 15.0 / 1e6;
    assert!((answer.usage.cost_usd - expected).abs() < 1e-12, "{}", answer.usage.cost_usd);
    assert_eq!(answer.calls[0].usage, answer.usage);
    assert_eq!(metrics.tokens.with_label_values(&["claude", "input"]).get(), 1_000);
    assert_eq!(metrics.tokens.with_label_values(&["claude", "output"]).get(), 500);
    assert!((metrics.cost_usd.with_label_values(&["claude"]).get() - expected).abs() < 1e-12);
    let text = metrics.metrics_text().expect("encode");
    assert!(
        text.lines().any(|line| line.starts_with("agentry_model_tokens_total{")
            && line.contains(r#"direction="input""#)
            && line.contains(r#"model="claude""#)
            && line.ends_with(" 1000")),
        "{text}"
    );
}

#[tokio::test]
async fn the_deadline_stops_retries() {
    let server = ScriptedModel::start(Flavor::OpenAi).await;
    server.set_default(Step::status(500));
    // Fifty retries with a 100 ms first backoff would take minutes; the deadline is one second.
    let chain = chain(&[endpoint("primary", &server, json!({}))], &resilience(50, 100, 1_000), &metrics());

    let deadline = in_secs(1);
    let err = chain.complete(&ask("hi"), deadline).await.expect_err("deadline");
    let ChainError::DeadlineExceeded { calls } = &err else { panic!("expected DeadlineExceeded: {err:?}") };
    assert_eq!(calls[0].outcome, "deadline");
    assert!(calls[0].attempts < 51, "{calls:?}");
    assert!(calls[0].error.as_deref().is_some_and(|e| e.contains("HTTP 500")), "{calls:?}");
    assert!(err.to_string().contains("deadline"), "{err}");
}

#[tokio::test]
async fn the_deadline_cuts_a_slow_attempt_without_blaming_the_model() {
    let server = ScriptedModel::start(Flavor::OpenAi).await;
    server.set_default(Step::slow(Duration::from_secs(30), Step::text("late")));
    let chain = chain(
        &[endpoint("primary", &server, json!({"timeoutSeconds": 60}))],
        &resilience(3, 1, 1),
        &metrics(),
    );

    let started = StdInstant::now();
    let err = chain.complete(&ask("hi"), in_secs(1)).await.expect_err("deadline");
    assert!(started.elapsed() < Duration::from_secs(25), "the 30 s answer was not waited for");
    assert!(matches!(err, ChainError::DeadlineExceeded { .. }), "{err:?}");
    assert_eq!(err.calls()[0].attempts, 1);
    // Our deadline, not the model, ended the call: a breaker with threshold 1 stays closed.
    assert_eq!(chain.circuit_states()[0].1, CircuitState::Closed);
}

#[tokio::test]
async fn a_missing_key_is_a_construction_error() {
    let server = ScriptedModel::start(Flavor::OpenAi).await;
    let models = [endpoint("primary", &server, json!({"apiKeyEnv": "NOT_SET_ANYWHERE"}))];
    let err = ModelChain::new(&models, &Resilience::default(), |_| None, metrics()).expect_err("missing key");
    assert_eq!(err, ConfigError::MissingKey { model: "primary".into(), env: "NOT_SET_ANYWHERE".into() });
    assert!(err.to_string().contains("NOT_SET_ANYWHERE"));
    let chain = chain(&[endpoint("primary", &server, json!({}))], &Resilience::default(), &metrics());
    assert!(!format!("{chain:?}").contains(KEY), "{chain:?}");
    let err = ModelChain::new(&[], &Resilience::default(), |_| None, metrics()).expect_err("no models");
    assert_eq!(err, ConfigError::NoModels);
}

#[tokio::test]
async fn the_chain_future_can_be_spawned() {
    let server = ScriptedModel::start(Flavor::OpenAi).await;
    server.push(Step::text("spawned"));
    let chain =
        Arc::new(chain(&[endpoint("primary", &server, json!({}))], &Resilience::default(), &metrics()));
    let task = tokio::spawn({
        let chain = chain.clone();
        async move { chain.complete(&ask("hi"), in_secs(30)).await }
    });
    let answer = task.await.expect("joined").expect("answer");
    assert_eq!(answer.turn.text.as_deref(), Some("spawned"));
}
