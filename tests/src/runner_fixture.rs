//! Runners started directly from a config (no operator, no cluster) against real NATS and a
//! scripted model, and asked questions: the runner's end-to-end tests build on this.
//!
//! [`OneAgent`] is the common case in one call: a scripted model, a namespace of its own, one
//! runner configured with that model, and a NATS connection to ask it through.
//!
//! ```ignore
//! let agent = OneAgent::start(runner_binary(), "plain", |_| {}).await;
//! agent.model.push(Step::text("hello"));
//! assert_eq!(agent.ask("hi").await.output.as_deref(), Some("hello"));
//! ```

use std::path::Path;
use std::time::Duration;

use agentry_protocol::runner_config::{
    AgentRole, BuiltinTool, HttpConfig, Limits, ModelEndpoint, NatsConfig, Pricing, Provider, Resilience,
    RunnerConfig, ToolDefinition, ToolImplementation,
};
use agentry_protocol::subjects::{self, Caller, PlatformIdentity, SubjectToken};
use agentry_protocol::{AgentReply, AgentRequest, RUNNER_CONFIG_VERSION, headers};

use crate::nats_fixture;
use crate::runner_process::RunnerProcess;
use crate::scripted_model::{Flavor, ScriptedModel};

/// The API key every scripted model endpoint is configured with; it must never be logged.
pub const MODEL_KEY: &str = "sk-test-4f1b2c3d9e8a7b6c";
/// The environment variable carrying it.
pub const MODEL_KEY_ENV: &str = "AGENTRY_MODEL_KEY";
/// The agent name [`OneAgent`] runs.
pub const AGENT: &str = "worker";

/// An OpenAI-compatible endpoint at `base_url`, priced at 1 USD / 2 USD per million tokens.
pub fn model(name: &str, base_url: &str) -> ModelEndpoint {
    ModelEndpoint {
        name: name.to_string(),
        provider: Provider::OpenaiCompatible,
        model: format!("{name}-model"),
        base_url: Some(base_url.to_string()),
        api_key_env: Some(MODEL_KEY_ENV.to_string()),
        temperature: Some(0.1),
        top_p: None,
        max_tokens: Some(256),
        presence_penalty: None,
        frequency_penalty: None,
        pricing: Pricing { input_per_million_tokens: 1.0, output_per_million_tokens: 2.0 },
        timeout_seconds: 5,
    }
}

/// The builtin calculator tool.
pub fn calculator() -> ToolDefinition {
    ToolDefinition {
        name: "calculator".into(),
        description: "Evaluate arithmetic.".into(),
        input_schema: serde_json::json!({
            "type": "object",
            "properties": {"expression": {"type": "string"}},
            "required": ["expression"],
            "additionalProperties": false
        }),
        implementation: ToolImplementation::Builtin { name: BuiltinTool::Calculator },
        rate_limit_per_minute: None,
        cache_ttl_seconds: None,
        timeout_seconds: 5,
    }
}

/// A tool asking agent `peer`.
pub fn ask(peer: &str) -> ToolDefinition {
    ToolDefinition {
        name: format!("ask-{peer}"),
        description: format!("Ask {peer} a question."),
        input_schema: serde_json::json!({
            "type": "object",
            "properties": {"question": {"type": "string"}},
            "required": ["question"]
        }),
        implementation: ToolImplementation::Agent { agent: peer.to_string() },
        rate_limit_per_minute: None,
        cache_ttl_seconds: None,
        timeout_seconds: 10,
    }
}

/// The caller tests ask as unless they say otherwise: the API's identity.
pub const TEST_CALLER: Caller = Caller::Platform(PlatformIdentity::Api);

/// A runner config for `agent` in `namespace` with the given model chain and tools; the agents
/// its `agent` tools ask are its peers.
pub fn config(
    namespace: &str,
    agent: &str,
    models: Vec<ModelEndpoint>,
    tools: Vec<ToolDefinition>,
) -> RunnerConfig {
    let peers = tools
        .iter()
        .filter_map(|tool| match &tool.implementation {
            ToolImplementation::Agent { agent } => Some(agent.clone()),
            _ => None,
        })
        .collect();
    RunnerConfig {
        version: RUNNER_CONFIG_VERSION,
        namespace: namespace.to_string(),
        agent: agent.to_string(),
        role: AgentRole::Domain,
        description: Some(format!("{agent} for tests")),
        system_prompt: Some(format!("You are {agent}.")),
        memory_blocks: Vec::new(),
        memory: None,
        models,
        tools,
        peers,
        allowed_agents: None,
        limits: Limits { timeout_seconds: 20, ..Limits::default() },
        resilience: Resilience {
            max_retries: 2,
            initial_backoff_ms: 10,
            failure_threshold: 5,
            reset_seconds: 60,
        },
        nats: NatsConfig { url: nats_fixture::nats_url(), credentials_file: None },
        http: HttpConfig::default(),
        shutdown_grace_seconds: 10,
        event_buffer: 1000,
    }
}

/// Starts the runner `binary` with `config` and [`MODEL_KEY`] in [`MODEL_KEY_ENV`], waiting
/// until it is ready.
///
/// # Panics
/// When it does not become ready: the test cannot go on.
pub async fn start(binary: &Path, config: &RunnerConfig) -> RunnerProcess {
    RunnerProcess::start(binary, config, &[(MODEL_KEY_ENV, MODEL_KEY)])
        .await
        .unwrap_or_else(|err| panic!("runner {} did not start: {err}", config.agent))
}

/// Sends `request` to `agent`'s query subject for [`TEST_CALLER`] and reads the reply.
///
/// # Panics
/// When no reply comes or it is not an [`AgentReply`].
pub async fn send(
    nats: &async_nats::Client,
    namespace: &str,
    agent: &str,
    request: &AgentRequest,
) -> AgentReply {
    send_as(nats, namespace, agent, &TEST_CALLER, request).await
}

/// Sends `request` to `agent`'s query subject for `caller` and reads the reply.
///
/// # Panics
/// When no reply comes or it is not an [`AgentReply`].
pub async fn send_as(
    nats: &async_nats::Client,
    namespace: &str,
    agent: &str,
    caller: &Caller,
    request: &AgentRequest,
) -> AgentReply {
    let subject = query_subject(namespace, agent, caller);
    let payload = serde_json::to_vec(request).expect("request serializes");
    let raw = request_on(nats, subject, payload, &request.request_id).await;
    serde_json::from_slice(&raw).unwrap_or_else(|err| panic!("reply is not an AgentReply: {err}"))
}

/// `agent`'s query subject in `namespace` for `caller`.
///
/// # Panics
/// When `namespace` or `agent` cannot be a subject token.
pub fn query_subject(namespace: &str, agent: &str, caller: &Caller) -> String {
    subjects::query(
        &SubjectToken::new(namespace).expect("namespace token"),
        &SubjectToken::new(agent).expect("agent token"),
        caller,
    )
}

/// Sends raw bytes to `agent`'s query subject for [`TEST_CALLER`]; returns the raw reply.
///
/// # Panics
/// When no reply comes within 30 s.
pub async fn send_raw(
    nats: &async_nats::Client,
    namespace: &str,
    agent: &str,
    payload: Vec<u8>,
    request_id: &str,
) -> Vec<u8> {
    request_on(nats, query_subject(namespace, agent, &TEST_CALLER), payload, request_id).await
}

async fn request_on(
    nats: &async_nats::Client,
    subject: String,
    payload: Vec<u8>,
    request_id: &str,
) -> Vec<u8> {
    let mut header_map = async_nats::HeaderMap::new();
    header_map.insert(headers::REQUEST_ID, request_id);
    let message = nats
        .send_request(
            subject.clone(),
            async_nats::Request::new()
                .payload(payload.into())
                .headers(header_map)
                .timeout(Some(Duration::from_secs(30))),
        )
        .await
        .unwrap_or_else(|err| panic!("no reply on {subject}: {err}"));
    message.payload.to_vec()
}

/// Asks `agent` `input` with a fresh request id.
pub async fn ask_agent(nats: &async_nats::Client, namespace: &str, agent: &str, input: &str) -> AgentReply {
    let request = AgentRequest::new(uuid::Uuid::new_v4().to_string(), input);
    send(nats, namespace, agent, &request).await
}

/// One runner, agent [`AGENT`], in a namespace of its own, answering from a scripted model.
pub struct OneAgent {
    /// The model its only endpoint (`primary`) points at.
    pub model: ScriptedModel,
    /// Its namespace.
    pub ns: String,
    /// The config it was started with.
    pub config: RunnerConfig,
    /// The process.
    pub runner: RunnerProcess,
    /// A connection to ask it through.
    pub nats: async_nats::Client,
}

impl OneAgent {
    /// Starts a scripted model and the runner `binary` with one endpoint (`primary`) on it and no
    /// tools, after `adjust` has changed the config as the test needs; the namespace is
    /// `<prefix>-<random>`.
    ///
    /// # Panics
    /// When NATS cannot be reached or the runner does not become ready.
    pub async fn start(binary: &Path, prefix: &str, adjust: impl FnOnce(&mut RunnerConfig)) -> Self {
        Self::start_speaking(binary, prefix, Flavor::OpenAi, adjust).await
    }

    /// As [`start`](Self::start), with the model speaking `flavor` (the endpoint's provider is
    /// `anthropic` for [`Flavor::Anthropic`]).
    ///
    /// # Panics
    /// When NATS cannot be reached or the runner does not become ready.
    pub async fn start_speaking(
        binary: &Path,
        prefix: &str,
        flavor: Flavor,
        adjust: impl FnOnce(&mut RunnerConfig),
    ) -> Self {
        let model = ScriptedModel::start(flavor).await;
        let ns = nats_fixture::unique_namespace(prefix);
        let mut endpoint = self::model("primary", &model.base_url());
        if flavor == Flavor::Anthropic {
            endpoint.provider = Provider::Anthropic;
        }
        let mut config = config(&ns, AGENT, vec![endpoint], vec![]);
        adjust(&mut config);
        let runner = start(binary, &config).await;
        let nats = nats_fixture::connect().await.unwrap_or_else(|err| panic!("{err}"));
        Self { model, ns, config, runner, nats }
    }

    /// Asks it `input` with a fresh request id.
    pub async fn ask(&self, input: &str) -> AgentReply {
        ask_agent(&self.nats, &self.ns, &self.config.agent, input).await
    }

    /// Sends it `request`.
    pub async fn send(&self, request: &AgentRequest) -> AgentReply {
        send(&self.nats, &self.ns, &self.config.agent, request).await
    }
}
