//! The model chain streaming against scripted OpenAI-compatible and Anthropic servers: what a
//! failure does before the first text (retry, fallback) and after it (the call ends).

use std::sync::{Arc, Mutex};

use agentry_protocol::runner_config::{ModelEndpoint, Resilience};
use agentry_runner::metrics::RunnerMetrics;
use agentry_runner::model::chat::{ChatMessage, ChatRequest};
use agentry_runner::model::{ChainError, ModelChain, TokenSink};
use agentry_tests::scripted_model::{Flavor, ScriptedModel, Step, StreamGate};
use serde_json::{Value, json};
use tokio::time::{Duration, Instant};

const KEY_ENV: &str = "TEST_MODEL_KEY";

#[derive(Default)]
struct Tokens(Mutex<Vec<String>>);

impl TokenSink for Tokens {
    fn token(&self, text: &str) {
        self.0.lock().expect("tokens").push(text.to_string());
    }
}

impl Tokens {
    fn seen(&self) -> Vec<String> {
        self.0.lock().expect("tokens").clone()
    }
}

fn endpoint(name: &str, server: &ScriptedModel, timeout_seconds: u64) -> ModelEndpoint {
    let provider = match server.flavor() {
        Flavor::OpenAi => "openai-compatible",
        Flavor::Anthropic => "anthropic",
    };
    serde_json::from_value(json!({
        "name": name, "provider": provider, "model": format!("{name}-model"), "baseUrl": server.base_url(),
        "apiKeyEnv": KEY_ENV, "timeoutSeconds": timeout_seconds,
        "pricing": {"inputPerMillionTokens": 1.0, "outputPerMillionTokens": 2.0},
    }))
    .expect("endpoint config")
}

fn chain(models: &[ModelEndpoint], max_retries: u32) -> ModelChain {
    let resilience =
        Resilience { max_retries, initial_backoff_ms: 10, failure_threshold: 5, reset_seconds: 300 };
    let metrics = Arc::new(RunnerMetrics::new("test", "agent").expect("metrics"));
    ModelChain::new(models, &resilience, |name| (name == KEY_ENV).then(|| "k".to_string()), metrics)
        .expect("chain")
}

fn ask(text: &str) -> ChatRequest {
    ChatRequest { messages: vec![ChatMessage::User(text.into())], tools: vec![] }
}

#[tokio::test]
async fn a_stream_failing_before_its_text_falls_back_and_the_fallback_streams() {
    let primary = ScriptedModel::start(Flavor::OpenAi).await;
    primary.set_default(Step::status(503));
    let fallback = ScriptedModel::start(Flavor::Anthropic).await;
    fallback.push(Step::text("From the fallback."));
    let chain = chain(&[endpoint("primary", &primary, 10), endpoint("fallback", &fallback, 10)], 1);
    let tokens = Tokens::default();

    let deadline = Instant::now() + Duration::from_secs(30);
    let answer = chain.complete_streamed(&ask("hi"), deadline, Some(&tokens)).await.expect("an answer");

    assert_eq!(answer.model, "fallback");
    assert_eq!(answer.turn.text.as_deref(), Some("From the fallback."));
    assert_eq!(tokens.seen(), ["From", " the", " fallback."]);
    let outcomes: Vec<_> = answer.calls.iter().map(|c| (c.model.as_str(), c.outcome, c.attempts)).collect();
    assert_eq!(outcomes, [("primary", "unavailable", 2), ("fallback", "ok", 1)]);
    assert!((answer.usage.cost_usd - (10.0 + 5.0 * 2.0) / 1e6).abs() < 1e-12, "{:?}", answer.usage);
    assert_eq!(primary.requests()[0]["stream"], true);
    assert_eq!(fallback.requests()[0]["stream"], true);
}

#[tokio::test]
async fn a_timeout_after_the_first_text_ends_the_call_without_retry_or_fallback() {
    let primary = ScriptedModel::start(Flavor::OpenAi).await;
    let never = StreamGate::new();
    primary.push(Step::held(Step::text("Half an answer"), &never));
    let fallback = ScriptedModel::start(Flavor::OpenAi).await;
    let chain = chain(&[endpoint("primary", &primary, 1), endpoint("fallback", &fallback, 10)], 2);
    let tokens = Tokens::default();

    let deadline = Instant::now() + Duration::from_secs(30);
    let failed = chain.complete_streamed(&ask("hi"), deadline, Some(&tokens)).await.expect_err("no answer");

    assert_eq!(tokens.seen(), ["Half"]);
    let ChainError::AllFailed { calls, last_error } = failed else { panic!("{failed:?}") };
    let outcomes: Vec<_> = calls.iter().map(|c| (c.model.as_str(), c.outcome, c.attempts)).collect();
    assert_eq!(outcomes, [("primary", "stream_interrupted", 1)]);
    assert!(
        last_error.contains("stream broke after its first tokens")
            && last_error.contains("no answer within 1s"),
        "{last_error}"
    );
    assert_eq!((primary.request_count(), fallback.request_count()), (1, 0));
}

#[tokio::test]
async fn without_a_sink_nothing_is_streamed() {
    let server = ScriptedModel::start(Flavor::Anthropic).await;
    server.push(Step::text("Plain."));
    let chain = chain(&[endpoint("primary", &server, 10)], 0);
    let answer = chain.complete(&ask("hi"), Instant::now() + Duration::from_secs(30)).await.expect("answer");
    assert_eq!(answer.turn.text.as_deref(), Some("Plain."));
    assert_eq!(server.requests()[0].get("stream"), None::<&Value>);
}
