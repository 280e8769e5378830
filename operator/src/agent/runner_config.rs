//! Rendering an Agent and what it refers to into the runner's configuration: the versioned
//! [`RunnerConfig`] (no secrets in it) plus the Secret keys the pod must receive as environment
//! variables. A pure step, tested on its own.

use std::collections::BTreeSet;

use agentry_bus_identity::BusUrl;
use agentry_crds::{
    Agent, AgentLimits, AgentMemory, AgentRole, BuiltinToolName, HttpMethod, HttpTool, Model, ModelProvider,
    Tool, ToolType,
};
use agentry_protocol::RUNNER_CONFIG_VERSION;
use agentry_protocol::runner_config::{
    self, BuiltinTool, DEFAULT_EVENT_BUFFER, DEFAULT_MAX_RESPONSE_BYTES, HttpConfig, Limits, MemoryBlock,
    ModelEndpoint, NatsConfig, Pricing, Provider, Resilience, RunnerConfig, SecretHeader, ToolDefinition,
    ToolImplementation,
};
use kube::ResourceExt;
use sha2::{Digest, Sha256};

use crate::agent::nats_identity;
use crate::runtime::settings::OperatorSettings;

/// Key of the runner config in its ConfigMap.
pub const CONFIG_KEY: &str = "runner.json";
/// Where the ConfigMap is mounted in the runner container.
pub const CONFIG_MOUNT_DIR: &str = "/etc/agentry";

/// One Secret key the runner receives as an environment variable.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct SecretEnv {
    /// The environment variable.
    pub env: String,
    /// The Secret's name.
    pub secret: String,
    /// The key within it.
    pub key: String,
}

/// The rendered configuration and what the pod needs besides it.
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The runner's configuration.
    pub config: RunnerConfig,
    /// It as the JSON stored in the ConfigMap.
    pub json: String,
    /// Secret keys to expose as environment variables.
    pub secret_env: Vec<SecretEnv>,
    /// TCP ports of model and tool endpoints, for the NetworkPolicy's egress.
    pub egress_ports: BTreeSet<u16>,
}

/// Seconds the runner's drain waits beyond `limits.timeoutSeconds`. A request the NATS server
/// had already sent when the drain began is admitted a moment after SIGTERM and may then run its
/// whole timeout; its reply still has to go out. Without the margin a drain could cut exactly the
/// requests it admitted last.
pub const DRAIN_MARGIN_SECONDS: u64 = 5;

/// A model's timeout when the Model's number does not fit the config's type (the Model's own
/// default); the API's range refuses such numbers, so it is never reached in practice.
const MODEL_TIMEOUT_FALLBACK_SECONDS: u64 = 60;

/// How long the runner's drain waits for in-flight requests: an Agent's `limits.timeoutSeconds`
/// plus [`DRAIN_MARGIN_SECONDS`], so a rollout never cuts a request it admitted.
pub fn drain_seconds(timeout_seconds: u64) -> u64 {
    timeout_seconds.saturating_add(DRAIN_MARGIN_SECONDS)
}

/// What the pod needs besides the config, gathered while rendering the models and tools.
#[derive(Debug, Default)]
struct PodNeeds {
    secret_env: Vec<SecretEnv>,
    egress_ports: BTreeSet<u16>,
}

impl PodNeeds {
    /// Exposes Secret key `secret`/`key` as environment variable `env`, which it returns.
    fn secret(&mut self, env: String, secret: &str, key: &str) -> String {
        self.secret_env.push(SecretEnv { env: env.clone(), secret: secret.into(), key: key.into() });
        env
    }

    /// Opens egress to the port `url` connects to.
    fn endpoint(&mut self, url: &str) {
        self.egress_ports.extend(url_port(url));
    }
}

/// Renders `agent` with its resolved model chain and tools.
pub fn render(agent: &Agent, models: &[Model], tools: &[Tool], settings: &OperatorSettings) -> Rendered {
    let spec = &agent.spec;
    let mut needs = PodNeeds::default();
    let limits = limits(&spec.limits);
    let models = models.iter().enumerate().map(|(i, model)| model_endpoint(i, model, &mut needs)).collect();
    let tools = tools
        .iter()
        .enumerate()
        .filter_map(|(i, tool)| tool_definition(i, tool, limits.timeout_seconds, &mut needs))
        .collect();
    let config = RunnerConfig {
        version: RUNNER_CONFIG_VERSION,
        namespace: agent.namespace().unwrap_or_default(),
        agent: agent.name_any(),
        role: agent_role(spec.role),
        description: spec.description.clone(),
        system_prompt: spec.system_prompt.clone(),
        memory_blocks: memory_blocks(spec.memory.as_ref()),
        // Added by memory_binding::attach when the Agent's MemoryStore can be handed to runners.
        memory: None,
        models,
        tools,
        peers: spec.peers.clone(),
        allowed_agents: None,
        shutdown_grace_seconds: drain_seconds(limits.timeout_seconds),
        limits,
        resilience: resilience(&spec.resilience),
        nats: NatsConfig {
            // Credentials never go into the ConfigMap: the runner's are in its own Secret.
            url: BusUrl::parse(&settings.nats_url).servers().join(","),
            credentials_file: settings.nats_identity.as_ref().map(|_| nats_identity::creds_path()),
        },
        http: HttpConfig { listen: format!("0.0.0.0:{}", settings.runner_http_port) },
        event_buffer: DEFAULT_EVENT_BUFFER,
    };
    // Struct fields serialize in declaration order and maps are BTreeMaps, so equal configs
    // give equal JSON and equal hashes.
    let json = serde_json::to_string_pretty(&config).unwrap_or_default();
    let PodNeeds { mut secret_env, egress_ports } = needs;
    secret_env.sort();
    secret_env.dedup();
    Rendered { config, json, secret_env, egress_ports }
}

/// The agent's role in the config: the API's roles, one for one.
fn agent_role(role: AgentRole) -> runner_config::AgentRole {
    match role {
        AgentRole::Domain => runner_config::AgentRole::Domain,
        AgentRole::Orchestrator => runner_config::AgentRole::Orchestrator,
        AgentRole::Supervisor => runner_config::AgentRole::Supervisor,
        AgentRole::Worker => runner_config::AgentRole::Worker,
        AgentRole::Analyzer => runner_config::AgentRole::Analyzer,
        AgentRole::DecisionSupport => runner_config::AgentRole::DecisionSupport,
        AgentRole::CodeReview => runner_config::AgentRole::CodeReview,
    }
}

/// An http tool's method in the config: the API's methods, one for one.
fn http_method(method: HttpMethod) -> runner_config::HttpMethod {
    match method {
        HttpMethod::Get => runner_config::HttpMethod::Get,
        HttpMethod::Post => runner_config::HttpMethod::Post,
        HttpMethod::Put => runner_config::HttpMethod::Put,
        HttpMethod::Patch => runner_config::HttpMethod::Patch,
        HttpMethod::Delete => runner_config::HttpMethod::Delete,
    }
}

/// A builtin in the config: the API's builtins, one for one.
fn builtin_tool(name: BuiltinToolName) -> BuiltinTool {
    match name {
        BuiltinToolName::Calculator => BuiltinTool::Calculator,
        BuiltinToolName::CurrentTime => BuiltinTool::CurrentTime,
        BuiltinToolName::MemorySearch => BuiltinTool::MemorySearch,
        BuiltinToolName::MemoryStore => BuiltinTool::MemoryStore,
    }
}

/// A model's provider in the config.
fn provider(provider: ModelProvider) -> Provider {
    match provider {
        ModelProvider::Openai => Provider::Openai,
        ModelProvider::Anthropic => Provider::Anthropic,
        ModelProvider::OpenaiCompatible => Provider::OpenaiCompatible,
    }
}

/// The URL a provider is reached at when its Model names no `baseUrl`.
fn default_base_url(provider: Provider) -> &'static str {
    match provider {
        Provider::Anthropic => "https://api.anthropic.com",
        Provider::Openai | Provider::OpenaiCompatible => "https://api.openai.com/v1",
    }
}

/// The `index`th model of the chain; its API key (when it has one) becomes
/// `AGENTRY_MODEL_KEY_<index>`.
fn model_endpoint(index: usize, model: &Model, needs: &mut PodNeeds) -> ModelEndpoint {
    let spec = &model.spec;
    let provider = provider(spec.provider);
    needs.endpoint(spec.base_url.as_deref().unwrap_or(default_base_url(provider)));
    let api_key_env = spec
        .api_key_secret_ref
        .as_ref()
        .map(|r| needs.secret(format!("AGENTRY_MODEL_KEY_{index}"), &r.name, &r.key));
    ModelEndpoint {
        name: model.name_any(),
        provider,
        model: spec.model.clone(),
        base_url: spec.base_url.clone(),
        api_key_env,
        temperature: spec.temperature,
        top_p: spec.top_p,
        max_tokens: spec.max_tokens.and_then(|t| u32::try_from(t).ok()),
        presence_penalty: spec.presence_penalty,
        frequency_penalty: spec.frequency_penalty,
        pricing: spec.pricing.as_ref().map_or_else(Pricing::default, |p| Pricing {
            input_per_million_tokens: p.input_per_million_tokens,
            output_per_million_tokens: p.output_per_million_tokens,
        }),
        timeout_seconds: u64::try_from(spec.timeout_seconds).unwrap_or(MODEL_TIMEOUT_FALLBACK_SECONDS),
    }
}

/// The `index`th tool, or `None` for one the runner cannot run. A tool without a timeout of its
/// own gets the agent's request timeout.
fn tool_definition(
    index: usize,
    tool: &Tool,
    agent_timeout_seconds: u64,
    needs: &mut PodNeeds,
) -> Option<ToolDefinition> {
    let (implementation, timeout) = tool_implementation(index, tool, needs)?;
    Some(ToolDefinition {
        name: tool.name_any(),
        description: tool.spec.description.clone(),
        input_schema: tool.spec.input_schema.clone().unwrap_or_else(|| serde_json::json!({"type": "object"})),
        implementation,
        rate_limit_per_minute: tool
            .spec
            .rate_limit
            .as_ref()
            .and_then(|r| u32::try_from(r.requests_per_minute).ok()),
        timeout_seconds: timeout.unwrap_or(agent_timeout_seconds),
        // 0 means "never", as absent does.
        cache_ttl_seconds: tool.spec.cache_ttl_seconds.and_then(|s| u32::try_from(s).ok()).filter(|s| *s > 0),
    })
}

/// How one tool runs, and its timeout when the Tool sets one. `None` for kinds the runner
/// cannot run yet (the Tool controller reports those as not Ready, so they never get here).
fn tool_implementation(
    index: usize,
    tool: &Tool,
    needs: &mut PodNeeds,
) -> Option<(ToolImplementation, Option<u64>)> {
    match tool.spec.type_ {
        ToolType::Http => {
            let http = tool.spec.http.as_ref()?;
            Some((http_implementation(index, http, needs), u64::try_from(http.timeout_seconds).ok()))
        }
        ToolType::Agent => {
            Some((ToolImplementation::Agent { agent: tool.spec.agent.as_ref()?.agent_ref.clone() }, None))
        }
        ToolType::Builtin => {
            Some((ToolImplementation::Builtin { name: builtin_tool(tool.spec.builtin.as_ref()?.name) }, None))
        }
        ToolType::Mcp | ToolType::Wasm => None,
    }
}

/// The `index`th tool's HTTP request; its `j`th secret header becomes
/// `AGENTRY_TOOL_<index>_HEADER_<j>`.
fn http_implementation(index: usize, http: &HttpTool, needs: &mut PodNeeds) -> ToolImplementation {
    needs.endpoint(&http.url);
    let secret_headers = http
        .headers_from
        .iter()
        .enumerate()
        .map(|(j, h)| SecretHeader {
            name: h.name.clone(),
            env: needs.secret(
                format!("AGENTRY_TOOL_{index}_HEADER_{j}"),
                &h.secret_key_ref.name,
                &h.secret_key_ref.key,
            ),
        })
        .collect();
    ToolImplementation::Http {
        url: http.url.clone(),
        method: http_method(http.method),
        headers: http.headers.clone(),
        secret_headers,
        max_response_bytes: DEFAULT_MAX_RESPONSE_BYTES,
        allow_private_networks: http.allow_private_networks.clone(),
        allowed_hosts: http.allowed_hosts.clone(),
    }
}

/// The agent's always-present context blocks.
fn memory_blocks(memory: Option<&AgentMemory>) -> Vec<MemoryBlock> {
    memory
        .map(|m| {
            m.blocks
                .iter()
                .map(|b| MemoryBlock {
                    label: b.label.clone(),
                    content: b.content.clone(),
                    priority: b.priority,
                })
                .collect()
        })
        .unwrap_or_default()
}

/// The agent's limits; a number that does not fit the config's type (the API's ranges refuse
/// those) falls back to the config's default.
fn limits(limits: &AgentLimits) -> Limits {
    let default = Limits::default();
    Limits {
        timeout_seconds: u64::try_from(limits.timeout_seconds).unwrap_or(default.timeout_seconds),
        max_turns: u32::try_from(limits.max_turns).unwrap_or(default.max_turns),
        max_delegation_depth: u32::try_from(limits.max_delegation_depth)
            .unwrap_or(default.max_delegation_depth),
        max_concurrent_requests: u32::try_from(limits.max_concurrent_requests)
            .unwrap_or(default.max_concurrent_requests),
        daily_budget_usd: limits.daily_budget_usd,
        ..default
    }
}

/// The agent's retry and circuit-breaker policy, with the same fallback as [`limits`].
fn resilience(resilience: &agentry_crds::Resilience) -> Resilience {
    let default = Resilience::default();
    let breaker = &resilience.circuit_breaker;
    Resilience {
        max_retries: u32::try_from(resilience.max_retries).unwrap_or(default.max_retries),
        initial_backoff_ms: u64::try_from(resilience.initial_backoff_ms)
            .unwrap_or(default.initial_backoff_ms),
        failure_threshold: u32::try_from(breaker.failure_threshold).unwrap_or(default.failure_threshold),
        reset_seconds: u64::try_from(breaker.reset_seconds).unwrap_or(default.reset_seconds),
    }
}

/// The TCP port a URL connects to.
pub(crate) fn url_port(url: &str) -> Option<u16> {
    let (scheme, rest) = url.split_once("://")?;
    let authority = rest.split(['/', '?', '#']).next()?;
    let host_port = authority.rsplit('@').next()?;
    let explicit = host_port.rsplit_once(':').and_then(|(host, port)| {
        // An IPv6 literal without a port ends in `]`.
        (!port.contains(']') && !host.is_empty()).then(|| port.parse().ok()).flatten()
    });
    explicit.or(match scheme {
        "https" => Some(443),
        "http" => Some(80),
        _ => None,
    })
}

/// A short hash of the config and the versions of the Secrets it reads, written into the pod
/// template so a change to either rolls the pods.
pub fn config_hash(json: &str, secret_versions: &[(String, String)]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(json.as_bytes());
    for (name, version) in secret_versions {
        hasher.update(b"\0secret\0");
        hasher.update(name.as_bytes());
        hasher.update(b"\0");
        hasher.update(version.as_bytes());
    }
    let digest = hasher.finalize();
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use kube::CustomResourceExt;
    use serde::Serialize;
    use serde::de::DeserializeOwned;
    use serde_json::{Value, json};

    use super::*;

    /// The names an enum of the API's schema allows, at `pointer` in the CRD's v1alpha1 spec schema.
    fn api_names(
        crd: &k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition,
        pointer: &str,
    ) -> Vec<String> {
        let crd = serde_json::to_value(crd).expect("CRD serializes");
        let schema = &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
        let names = schema
            .pointer(pointer)
            .and_then(Value::as_array)
            .unwrap_or_else(|| panic!("no enum at {pointer}"));
        names.iter().map(|n| n.as_str().expect("enum names are strings").to_string()).collect()
    }

    /// Every name the API allows converts to the config's value of the same name, and the config
    /// has no value the API lacks: fails when either side gains a variant the other has not.
    fn one_to_one<A, C>(
        api: Vec<String>,
        convert: fn(A) -> C,
        config: &[C],
        config_name: fn(C) -> &'static str,
    ) where
        A: DeserializeOwned,
        C: Serialize + Copy,
    {
        assert!(!api.is_empty());
        for name in &api {
            let value: A = serde_json::from_value(json!(name)).expect("the API's own name reads");
            let converted = convert(value);
            assert_eq!(serde_json::to_value(converted).expect("serializes"), json!(name));
            assert_eq!(config_name(converted), name);
        }
        let mut config_names: Vec<&str> = config.iter().map(|c| config_name(*c)).collect();
        let mut api_names: Vec<&str> = api.iter().map(String::as_str).collect();
        config_names.sort_unstable();
        api_names.sort_unstable();
        assert_eq!(config_names, api_names);
    }

    #[test]
    fn the_config_enums_match_the_api_enums_one_to_one() {
        let (agent, tool) = (Agent::crd(), Tool::crd());
        one_to_one(
            api_names(&agent, "/properties/role/enum"),
            agent_role,
            &runner_config::AgentRole::ALL,
            runner_config::AgentRole::as_str,
        );
        one_to_one(
            api_names(&tool, "/properties/http/properties/method/enum"),
            http_method,
            &runner_config::HttpMethod::ALL,
            runner_config::HttpMethod::as_str,
        );
        one_to_one(
            api_names(&tool, "/properties/builtin/properties/name/enum"),
            builtin_tool,
            &BuiltinTool::ALL,
            BuiltinTool::as_str,
        );
    }

    fn agent(spec: Value) -> Agent {
        serde_json::from_value(json!({
            "apiVersion": "agentry.dev/v1alpha1", "kind": "Agent",
            "metadata": {"name": "finance-officer", "namespace": "fleet"},
            "spec": spec,
        }))
        .expect("agent")
    }

    fn tool(name: &str, spec: Value) -> Tool {
        serde_json::from_value(json!({
            "apiVersion": "agentry.dev/v1alpha1", "kind": "Tool",
            "metadata": {"name": name, "namespace": "fleet"}, "spec": spec,
        }))
        .expect("tool")
    }

    fn model(spec: Value) -> Model {
        serde_json::from_value(json!({
            "apiVersion": "agentry.dev/v1alpha1", "kind": "Model",
            "metadata": {"name": "gpt", "namespace": "fleet"}, "spec": spec,
        }))
        .expect("model")
    }

    fn settings() -> OperatorSettings {
        OperatorSettings::new("runner:dev", "nats://nats.agentry:4222")
    }

    #[test]
    fn the_drain_outlasts_the_request_timeout() {
        assert_eq!(drain_seconds(120), 120 + DRAIN_MARGIN_SECONDS);
        assert!(drain_seconds(1) > 1);
        assert_eq!(drain_seconds(u64::MAX), u64::MAX);
        let rendered = render(
            &agent(json!({"role": "worker", "modelRef": "gpt", "limits": {"timeoutSeconds": 600}})),
            &[],
            &[],
            &settings(),
        );
        assert!(rendered.config.shutdown_grace_seconds > 600, "{}", rendered.config.shutdown_grace_seconds);
        assert_eq!(rendered.config.event_buffer, DEFAULT_EVENT_BUFFER);
    }

    #[test]
    fn models_and_http_tools_name_their_secrets_and_open_their_ports() {
        let models = [
            model(json!({"provider": "anthropic", "model": "claude",
                         "apiKeySecretRef": {"name": "keys", "key": "anthropic"}})),
            model(
                json!({"provider": "openai-compatible", "model": "llama", "baseUrl": "http://vllm:8000/v1"}),
            ),
        ];
        let tools = [tool(
            "weather",
            json!({"description": "d", "type": "http", "cacheTtlSeconds": 120, "http": {
                "url": "https://weather.example:8443/{city}", "method": "GET",
                "headersFrom": [{"name": "X-Key", "secretKeyRef": {"name": "weather", "key": "token"}}]
            }}),
        )];
        let rendered =
            render(&agent(json!({"role": "domain", "modelRef": "gpt"})), &models, &tools, &settings());
        assert_eq!(rendered.config.models[0].api_key_env.as_deref(), Some("AGENTRY_MODEL_KEY_0"));
        assert_eq!(rendered.config.models[1].api_key_env, None);
        let envs: Vec<(&str, &str, &str)> =
            rendered.secret_env.iter().map(|s| (s.env.as_str(), s.secret.as_str(), s.key.as_str())).collect();
        assert_eq!(
            envs,
            [("AGENTRY_MODEL_KEY_0", "keys", "anthropic"), ("AGENTRY_TOOL_0_HEADER_0", "weather", "token")]
        );
        assert_eq!(rendered.egress_ports, BTreeSet::from([443, 8000, 8443]));
        let ToolImplementation::Http { method, secret_headers, max_response_bytes, .. } =
            &rendered.config.tools[0].implementation
        else {
            panic!("an http tool: {:?}", rendered.config.tools[0]);
        };
        assert_eq!(*method, runner_config::HttpMethod::Get);
        assert_eq!(
            secret_headers,
            &[SecretHeader { name: "X-Key".into(), env: "AGENTRY_TOOL_0_HEADER_0".into() }]
        );
        assert_eq!(*max_response_bytes, DEFAULT_MAX_RESPONSE_BYTES);
        assert_eq!(rendered.config.tools[0].timeout_seconds, 30, "the Tool's own timeout");
        assert_eq!(rendered.config.tools[0].cache_ttl_seconds, Some(120));
    }

    #[test]
    fn every_builtin_is_rendered_and_takes_the_agent_timeout() {
        let builtin = |name: &str| {
            tool(name, json!({"description": "d", "type": "builtin", "builtin": {"name": name}}))
        };
        let tools = [builtin("calculator"), builtin("memory_search"), builtin("current_time")];
        let rendered = render(
            &agent(json!({"role": "code-review", "modelRef": "gpt", "limits": {"timeoutSeconds": 45}})),
            &[],
            &tools,
            &settings(),
        );
        assert_eq!(rendered.config.role, runner_config::AgentRole::CodeReview);
        let names: Vec<(&str, &ToolImplementation, u64)> = rendered
            .config
            .tools
            .iter()
            .map(|t| (t.name.as_str(), &t.implementation, t.timeout_seconds))
            .collect();
        assert_eq!(
            names,
            [
                ("calculator", &ToolImplementation::Builtin { name: BuiltinTool::Calculator }, 45),
                ("memory_search", &ToolImplementation::Builtin { name: BuiltinTool::MemorySearch }, 45),
                ("current_time", &ToolImplementation::Builtin { name: BuiltinTool::CurrentTime }, 45),
            ]
        );
        assert_eq!(rendered.config.tools[0].input_schema, json!({"type": "object"}));
        assert_eq!(rendered.config.tools[0].cache_ttl_seconds, None, "no cacheTtlSeconds: never cached");
    }

    #[test]
    fn numbers_the_config_cannot_hold_fall_back_to_its_defaults() {
        let negative = AgentLimits {
            timeout_seconds: -1,
            max_turns: -1,
            max_delegation_depth: -1,
            max_concurrent_requests: -1,
            daily_budget_usd: Some(2.5),
        };
        assert_eq!(limits(&negative), Limits { daily_budget_usd: Some(2.5), ..Limits::default() });
        let given = AgentLimits { timeout_seconds: 7, max_turns: 3, ..AgentLimits::default() };
        assert_eq!((limits(&given).timeout_seconds, limits(&given).max_turns), (7, 3));
        let odd = agentry_crds::Resilience {
            max_retries: -1,
            circuit_breaker: agentry_crds::CircuitBreakerPolicy { reset_seconds: 9, ..Default::default() },
            ..Default::default()
        };
        assert_eq!(resilience(&odd), Resilience { reset_seconds: 9, ..Resilience::default() });
    }

    #[test]
    fn url_ports() {
        assert_eq!(url_port("https://api.openai.com/v1"), Some(443));
        assert_eq!(url_port("http://vllm.inference.svc:8000/v1"), Some(8000));
        assert_eq!(url_port("http://user:pw@host:9000/x"), Some(9000));
        assert_eq!(url_port("http://[::1]/x"), Some(80));
        assert_eq!(url_port("http://[::1]:8443/x"), Some(8443));
        assert_eq!(url_port("not a url"), None);
    }

    #[test]
    fn the_hash_moves_with_the_config_and_the_secrets() {
        let a = config_hash("{}", &[]);
        assert_eq!(a, config_hash("{}", &[]));
        assert_eq!(a.len(), 16);
        assert_ne!(a, config_hash("{\"x\":1}", &[]));
        let s1 = config_hash("{}", &[("key".into(), "1".into())]);
        assert_ne!(a, s1);
        assert_ne!(s1, config_hash("{}", &[("key".into(), "2".into())]));
    }

    fn http_spec() -> impl proptest::strategy::Strategy<Value = Value> {
        use proptest::prelude::*;
        (
            "https?://[a-z{}.:0-9-]{1,20}(/[a-z{}%?=&]{0,10}){0,3}",
            prop_oneof![Just("GET"), Just("POST"), Just("PUT"), Just("PATCH"), Just("DELETE")],
            proptest::collection::btree_map("[A-Za-z-]{1,8}", any::<String>(), 0..3),
            proptest::collection::vec(("[A-Za-z-]{1,8}", "[a-z]{1,8}", "[a-z]{1,8}"), 0..3),
            proptest::collection::vec(any::<String>(), 0..3),
            proptest::collection::vec("[a-z.]{1,12}", 0..3),
            any::<i32>(),
        )
            .prop_map(|(url, method, headers, from, networks, hosts, timeout)| {
                let from: Vec<Value> = from
                    .into_iter()
                    .map(|(name, secret, key)| json!({"name": name, "secretKeyRef": {"name": secret, "key": key}}))
                    .collect();
                json!({"url": url, "method": method, "headers": headers, "headersFrom": from,
                       "allowPrivateNetworks": networks, "allowedHosts": hosts, "timeoutSeconds": timeout})
            })
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig { cases: 128, ..Default::default() })]

        /// Whatever the (admitted or not) specs hold, rendering gives a config that reads back
        /// as itself, carries every http tool's allowances, and names no secret value.
        #[test]
        fn rendering_never_panics_and_the_config_round_trips(
            limits in proptest::prelude::any::<(i32, i32, i32, i32)>(),
            peers in proptest::collection::vec("[a-z]{1,8}", 0..3),
            http in proptest::collection::vec(http_spec(), 0..4),
        ) {
            let (timeout, turns, depth, concurrent) = limits;
            let spec = json!({"role": "worker", "modelRef": "gpt", "peers": peers, "limits": {
                "timeoutSeconds": timeout, "maxTurns": turns, "maxDelegationDepth": depth,
                "maxConcurrentRequests": concurrent}});
            let tools: Vec<Tool> = http
                .iter()
                .enumerate()
                .map(|(i, h)| tool(&format!("t{i}"), json!({"description": "d", "type": "http", "http": h})))
                .collect();
            let rendered = render(&agent(spec), &[], &tools, &settings());
            let text = serde_json::to_string(&rendered.config).expect("serializes");
            let back: RunnerConfig = serde_json::from_str(&text).expect("reads back");
            proptest::prop_assert_eq!(&back, &rendered.config);
            for (tool, spec) in back.tools.iter().zip(&http) {
                let ToolImplementation::Http { allow_private_networks, allowed_hosts, secret_headers, .. } =
                    &tool.implementation
                else {
                    return Err(proptest::test_runner::TestCaseError::fail("an http tool"));
                };
                proptest::prop_assert_eq!(json!(allow_private_networks), spec["allowPrivateNetworks"].clone());
                proptest::prop_assert_eq!(json!(allowed_hosts), spec["allowedHosts"].clone());
                proptest::prop_assert!(secret_headers.iter().all(|h| h.env.starts_with("AGENTRY_TOOL_")));
            }
        }
    }
}
