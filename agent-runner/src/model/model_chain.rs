//! The fallback chain: the agent's models in order, each with its retries and circuit breaker.
//! The first model that answers wins; the reply says which one it was.

use std::sync::Arc;
use std::time::Duration;

use agentry_protocol::runner_config::{ModelEndpoint, Pricing, Provider, Resilience};
use agentry_protocol::{ModelCallEvent, Usage};
use tokio::time::Instant;
use tracing::Instrument;

use super::anthropic::AnthropicClient;
use super::chat::{ChatRequest, ModelTurn};
use super::circuit_breaker::{CircuitBreaker, CircuitState};
use super::error::{ApiKey, ConfigError, ModelError};
use super::openai::OpenAiClient;
use super::retry::{self, RetryPolicy};
use super::token_sink::{TokenSink, WatchedTokens};
use crate::metrics::RunnerMetrics;

/// What one endpoint of the chain did for one [`ModelChain::complete`] call.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelCallRecord {
    /// The endpoint's (Model object's) name.
    pub model: String,
    /// Its provider, as in metric labels.
    pub provider: String,
    /// Whether it answered.
    pub ok: bool,
    /// `ok`, or the kind of the final failure ([`ModelError::kind`]); `circuit_open` when the
    /// endpoint was skipped because its breaker was open.
    pub outcome: &'static str,
    /// Why it did not answer.
    pub error: Option<String>,
    /// Time spent on it, retries and backoff included.
    pub latency: Duration,
    /// Requests sent (0 when skipped by its breaker).
    pub attempts: u32,
    /// Tokens and cost of the answer (zero when it did not answer).
    pub usage: Usage,
}

impl ModelCallRecord {
    /// The JetStream event body describing this call.
    pub fn to_event(&self) -> ModelCallEvent {
        ModelCallEvent {
            model: self.model.clone(),
            provider: self.provider.clone(),
            ok: self.ok,
            error: self.error.clone(),
            latency_ms: u64::try_from(self.latency.as_millis()).unwrap_or(u64::MAX),
            attempts: self.attempts,
            usage: self.usage,
        }
    }
}

/// A model's answer and how it was obtained.
#[derive(Clone, Debug, PartialEq)]
pub struct ChainAnswer {
    /// What the model answered.
    pub turn: ModelTurn,
    /// The endpoint that answered (replies report it as `model`).
    pub model: String,
    /// Tokens, and their cost from that endpoint's pricing.
    pub usage: Usage,
    /// Every endpoint tried, in order, the answering one last.
    pub calls: Vec<ModelCallRecord>,
}

/// No model of the chain answered.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum ChainError {
    /// Every model failed, was rejected or had its breaker open.
    #[error("every model failed: {}", summary(.calls))]
    AllFailed {
        /// Every endpoint tried, in order.
        calls: Vec<ModelCallRecord>,
        /// Why each endpoint failed, in chain order (so the last failure comes last), as
        /// `name (provider): error; …`: fit for the error reply.
        last_error: String,
    },
    /// The request's deadline passed (or cut a model's retries short) before any model answered.
    #[error("deadline reached before any model answered{}", DeadlineNote(.calls))]
    DeadlineExceeded {
        /// The endpoints tried before the deadline, in order.
        calls: Vec<ModelCallRecord>,
    },
}

impl ChainError {
    /// The endpoints tried, in order.
    pub fn calls(&self) -> &[ModelCallRecord] {
        match self {
            Self::AllFailed { calls, .. } | Self::DeadlineExceeded { calls } => calls,
        }
    }

    /// Whether every endpoint tried refused the request itself (HTTP 4xx: bad key, bad model
    /// name, prompt too long), as opposed to being unavailable.
    pub fn all_rejected(&self) -> bool {
        let calls = self.calls();
        !calls.is_empty() && calls.iter().all(|c| c.outcome == "rejected")
    }
}

fn summary(calls: &[ModelCallRecord]) -> String {
    if calls.is_empty() {
        return "no model was tried".into();
    }
    calls
        .iter()
        .map(|c| format!("{} ({}): {}", c.model, c.provider, c.error.as_deref().unwrap_or("ok")))
        .collect::<Vec<_>>()
        .join("; ")
}

struct DeadlineNote<'a>(&'a [ModelCallRecord]);

impl std::fmt::Display for DeadlineNote<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.0 {
            [] => Ok(()),
            calls => write!(f, " ({})", summary(calls)),
        }
    }
}

/// The provider-specific client of one endpoint.
#[derive(Debug)]
enum ProviderClient {
    OpenAi(OpenAiClient),
    Anthropic(AnthropicClient),
}

impl ProviderClient {
    /// Streamed when there is somewhere for the text to go; otherwise the plain request.
    async fn complete(
        &self,
        request: &ChatRequest,
        tokens: Option<&dyn TokenSink>,
    ) -> Result<ModelTurn, ModelError> {
        match (self, tokens) {
            (Self::OpenAi(client), None) => client.complete(request).await,
            (Self::OpenAi(client), Some(tokens)) => client.complete_streamed(request, tokens).await,
            (Self::Anthropic(client), None) => client.complete(request).await,
            (Self::Anthropic(client), Some(tokens)) => client.complete_streamed(request, tokens).await,
        }
    }
}

/// One model of the chain with its breaker.
#[derive(Debug)]
struct Endpoint {
    name: String,
    provider: Provider,
    pricing: Pricing,
    /// Per-attempt timeout; `None` (configured as 0) leaves only the request deadline.
    timeout: Option<Duration>,
    client: ProviderClient,
    breaker: CircuitBreaker,
}

/// The agent's models in fallback order, sharing one HTTP client.
pub struct ModelChain {
    endpoints: Vec<Endpoint>,
    policy: RetryPolicy,
    metrics: Arc<RunnerMetrics>,
}

impl std::fmt::Debug for ModelChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The metrics registry has no Debug; the endpoints and policy are what matters.
        f.debug_struct("ModelChain")
            .field("endpoints", &self.endpoints)
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

impl ModelChain {
    /// Builds the chain for `models` (first answers, the rest are fallbacks in order).
    ///
    /// `key_lookup` resolves the names of the environment variables holding API keys (usually
    /// `|name| std::env::var(name).ok()`); a model naming a variable that is unset or empty is an
    /// error now rather than a 401 at the first request.
    pub fn new(
        models: &[ModelEndpoint],
        resilience: &Resilience,
        key_lookup: impl Fn(&str) -> Option<String>,
        metrics: Arc<RunnerMetrics>,
    ) -> Result<Self, ConfigError> {
        if models.is_empty() {
            return Err(ConfigError::NoModels);
        }
        super::install_crypto_provider();
        let http = reqwest::Client::builder()
            .user_agent(concat!("agentry-runner/", env!("CARGO_PKG_VERSION")))
            // A redirect would carry `x-api-key` (which reqwest does not strip) to another host;
            // model APIs do not redirect, so none is followed.
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ConfigError::HttpClient(e.to_string()))?;
        let reset = Duration::from_secs(resilience.reset_seconds);
        let endpoints = models
            .iter()
            .map(|model| {
                let key = match &model.api_key_env {
                    None => None,
                    Some(env) => match key_lookup(env) {
                        Some(key) if !key.trim().is_empty() => Some(ApiKey::new(&key)),
                        _ => {
                            return Err(ConfigError::MissingKey {
                                model: model.name.clone(),
                                env: env.clone(),
                            });
                        }
                    },
                };
                let client = match model.provider {
                    Provider::Openai | Provider::OpenaiCompatible => {
                        ProviderClient::OpenAi(OpenAiClient::new(http.clone(), model, key)?)
                    }
                    Provider::Anthropic => {
                        ProviderClient::Anthropic(AnthropicClient::new(http.clone(), model, key)?)
                    }
                };
                Ok(Endpoint {
                    name: model.name.clone(),
                    provider: model.provider,
                    pricing: model.pricing,
                    timeout: (model.timeout_seconds > 0).then(|| Duration::from_secs(model.timeout_seconds)),
                    client,
                    breaker: CircuitBreaker::new(resilience.failure_threshold, reset),
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let chain = Self { endpoints, policy: RetryPolicy::from_resilience(resilience), metrics };
        chain.refresh_circuit_metrics();
        Ok(chain)
    }

    /// Asks the chain's models, in order, until one answers or `deadline` passes.
    ///
    /// A model whose breaker is open is skipped; one that fails after its retries, or rejects the
    /// request (HTTP 4xx), hands over to the next.
    pub async fn complete(
        &self,
        request: &ChatRequest,
        deadline: Instant,
    ) -> Result<ChainAnswer, ChainError> {
        self.complete_streamed(request, deadline, None).await
    }

    /// As [`complete`](Self::complete); with `tokens`, each model is asked to stream its answer
    /// and the text goes to `tokens` as it arrives. A stream that fails before its first text is
    /// retried like any failed call; one that fails after it ends the chain with
    /// [`ModelError::StreamInterrupted`]: neither a retry nor a fallback may follow text the
    /// caller has already seen.
    pub async fn complete_streamed(
        &self,
        request: &ChatRequest,
        deadline: Instant,
        tokens: Option<&dyn TokenSink>,
    ) -> Result<ChainAnswer, ChainError> {
        let mut calls = Vec::with_capacity(self.endpoints.len());
        let mut deadline_hit = false;
        for endpoint in &self.endpoints {
            if Instant::now() >= deadline {
                deadline_hit = true;
                break;
            }
            let provider = endpoint.provider.as_str();
            let span = tracing::info_span!(
                "agentry.model_call",
                otel.kind = "client",
                gen_ai.request.model = %endpoint.name,
                gen_ai.system = provider,
                agentry.outcome = tracing::field::Empty,
                agentry.attempts = tracing::field::Empty,
                gen_ai.usage.input_tokens = tracing::field::Empty,
                gen_ai.usage.output_tokens = tracing::field::Empty,
                otel.status_code = tracing::field::Empty,
                otel.status_message = tracing::field::Empty,
            );
            let (record, result) = self.call(endpoint, request, deadline, tokens).instrument(span).await;
            calls.push(record);
            match result {
                Ok(turn) => {
                    let usage = calls.last().map(|c| c.usage).unwrap_or_default();
                    return Ok(ChainAnswer { turn, model: endpoint.name.clone(), usage, calls });
                }
                Err(ModelError::StreamInterrupted(_)) => break,
                Err(error) => deadline_hit |= matches!(error, ModelError::DeadlineExceeded { .. }),
            }
        }
        if deadline_hit {
            Err(ChainError::DeadlineExceeded { calls })
        } else {
            Err(ChainError::AllFailed { last_error: summary(&calls), calls })
        }
    }

    /// Each model's name and breaker state, in chain order.
    pub fn circuit_states(&self) -> Vec<(&str, CircuitState)> {
        self.endpoints.iter().map(|e| (e.name.as_str(), e.breaker.state())).collect()
    }

    /// Sets the `circuit_breaker_state` gauges from the breakers. An open breaker turns half-open
    /// by the passing of time alone; calling this before a scrape shows it without waiting for
    /// the next request.
    pub fn refresh_circuit_metrics(&self) {
        for endpoint in &self.endpoints {
            self.publish_circuit_state(endpoint);
        }
    }

    fn publish_circuit_state(&self, endpoint: &Endpoint) {
        self.metrics
            .circuit_state
            .with_label_values(&[&endpoint.name])
            .set(endpoint.breaker.state().gauge_value());
    }

    /// One endpoint, retries included; records its metrics.
    async fn call(
        &self,
        endpoint: &Endpoint,
        request: &ChatRequest,
        deadline: Instant,
        tokens: Option<&dyn TokenSink>,
    ) -> (ModelCallRecord, Result<ModelTurn, ModelError>) {
        let started = Instant::now();
        let retried = retry::run(&self.policy, deadline, |attempt, remaining| {
            self.attempt(endpoint, request, tokens, attempt, remaining)
        })
        .await;
        let latency = started.elapsed();
        let provider = endpoint.provider.as_str();
        let outcome = match &retried.result {
            Ok(_) => "ok",
            Err(error) => error.kind(),
        };
        self.metrics.model_calls.with_label_values(&[provider, &endpoint.name, outcome]).inc();
        if retried.attempts > 0 {
            self.metrics
                .model_call_duration
                .with_label_values(&[provider, &endpoint.name])
                .observe(latency.as_secs_f64());
        }
        let usage = match &retried.result {
            Ok(turn) => {
                let tokens = turn.usage;
                let usage = Usage {
                    input_tokens: tokens.input_tokens,
                    output_tokens: tokens.output_tokens,
                    cost_usd: endpoint.pricing.cost(tokens.input_tokens, tokens.output_tokens),
                };
                self.metrics.tokens.with_label_values(&[&endpoint.name, "input"]).inc_by(usage.input_tokens);
                self.metrics
                    .tokens
                    .with_label_values(&[&endpoint.name, "output"])
                    .inc_by(usage.output_tokens);
                // A counter only goes up; a misconfigured negative price must not panic the runner.
                if usage.cost_usd.is_finite() && usage.cost_usd > 0.0 {
                    self.metrics.cost_usd.with_label_values(&[&endpoint.name]).inc_by(usage.cost_usd);
                }
                usage
            }
            Err(error) => {
                tracing::warn!(attempts = retried.attempts, %error, "model call failed");
                Usage::default()
            }
        };
        let span = tracing::Span::current();
        span.record("agentry.outcome", outcome).record("agentry.attempts", retried.attempts);
        match &retried.result {
            Ok(_) => span
                .record("gen_ai.usage.input_tokens", usage.input_tokens)
                .record("gen_ai.usage.output_tokens", usage.output_tokens),
            Err(error) => span
                .record("otel.status_code", "ERROR")
                .record("otel.status_message", error.to_string().as_str()),
        };
        let record = ModelCallRecord {
            model: endpoint.name.clone(),
            provider: provider.to_string(),
            ok: retried.result.is_ok(),
            outcome,
            error: retried.result.as_ref().err().map(ToString::to_string),
            latency,
            attempts: retried.attempts,
            usage,
        };
        (record, retried.result)
    }

    /// One request to one endpoint, through its breaker, within its timeout and the deadline.
    async fn attempt(
        &self,
        endpoint: &Endpoint,
        request: &ChatRequest,
        tokens: Option<&dyn TokenSink>,
        attempt: u32,
        remaining: Duration,
    ) -> Result<ModelTurn, ModelError> {
        let Some(permit) = endpoint.breaker.try_acquire() else {
            self.publish_circuit_state(endpoint);
            tracing::debug!(attempt, "circuit breaker open; not calling");
            return Err(ModelError::CircuitOpen);
        };
        self.publish_circuit_state(endpoint);
        // Whichever ends first: the endpoint's own timeout, or the request's deadline. A timeout
        // forced by the deadline says nothing about the endpoint, so it does not count against it.
        let (limit, cut_by_deadline) = match endpoint.timeout {
            Some(timeout) if timeout <= remaining => (timeout, false),
            _ => (remaining, true),
        };
        let watched = tokens.map(WatchedTokens::new);
        let sink = watched.as_ref().map(|w| w as &dyn TokenSink);
        let result = match tokio::time::timeout(limit, endpoint.client.complete(request, sink)).await {
            Ok(result) => result,
            Err(_) if cut_by_deadline => Err(ModelError::DeadlineExceeded { last_error: None }),
            Err(_) => Err(ModelError::Timeout(limit)),
        };
        // A failure after text went out (a cut, a timeout mid-answer) cannot be retried.
        let result = match result {
            Err(error)
                if watched.as_ref().is_some_and(WatchedTokens::passed_on)
                    && !matches!(error, ModelError::DeadlineExceeded { .. }) =>
            {
                Err(ModelError::StreamInterrupted(error.to_string()))
            }
            other => other,
        };
        match &result {
            // A rejection proves the provider is up and answering: the breaker measures availability.
            Ok(_) | Err(ModelError::Rejected { .. }) => permit.success(),
            Err(ModelError::DeadlineExceeded { .. }) => permit.neutral(),
            Err(_) => permit.failure(),
        }
        self.publish_circuit_state(endpoint);
        if let Err(error) = &result {
            tracing::debug!(attempt, %error, "model attempt failed");
        }
        result
    }
}
