//! Rendering an Agent and what it refers to into the runner's configuration: the versioned
//! [`RunnerConfig`] (no secrets in it) plus the Secret keys the pod must receive as environment
//! variables. A pure step, tested on its own.

use std::collections::BTreeSet;

use agentry_crds::{Agent, BuiltinToolName, HttpMethod, Model, ModelProvider, Tool, ToolType};
use agentry_protocol::RUNNER_CONFIG_VERSION;
use agentry_protocol::runner_config::{
    HttpConfig, Limits, MemoryBlock, ModelEndpoint, NatsConfig, Pricing, Provider, Resilience, RunnerConfig,
    SecretHeader, ToolDefinition, ToolImplementation,
};
use kube::ResourceExt;
use sha2::{Digest, Sha256};

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

/// Renders `agent` with its resolved model chain and tools.
pub fn render(agent: &Agent, models: &[Model], tools: &[Tool], settings: &OperatorSettings) -> Rendered {
    let spec = &agent.spec;
    let mut secret_env = Vec::new();
    let mut egress_ports = BTreeSet::new();

    let models: Vec<ModelEndpoint> = models
        .iter()
        .enumerate()
        .map(|(i, model)| {
            let api_key_env = model.spec.api_key_secret_ref.as_ref().map(|r| {
                let env = format!("AGENTRY_MODEL_KEY_{i}");
                secret_env.push(SecretEnv { env: env.clone(), secret: r.name.clone(), key: r.key.clone() });
                env
            });
            let provider = match model.spec.provider {
                ModelProvider::Openai => Provider::Openai,
                ModelProvider::Anthropic => Provider::Anthropic,
                ModelProvider::OpenaiCompatible => Provider::OpenaiCompatible,
            };
            let default_url = match provider {
                Provider::Anthropic => "https://api.anthropic.com",
                _ => "https://api.openai.com/v1",
            };
            egress_ports.extend(url_port(model.spec.base_url.as_deref().unwrap_or(default_url)));
            ModelEndpoint {
                name: model.name_any(),
                provider,
                model: model.spec.model.clone(),
                base_url: model.spec.base_url.clone(),
                api_key_env,
                temperature: model.spec.temperature,
                top_p: model.spec.top_p,
                max_tokens: model.spec.max_tokens.and_then(|t| u32::try_from(t).ok()),
                presence_penalty: model.spec.presence_penalty,
                frequency_penalty: model.spec.frequency_penalty,
                pricing: model.spec.pricing.as_ref().map_or_else(Pricing::default, |p| Pricing {
                    input_per_million_tokens: p.input_per_million_tokens,
                    output_per_million_tokens: p.output_per_million_tokens,
                }),
                timeout_seconds: u64::try_from(model.spec.timeout_seconds).unwrap_or(60),
            }
        })
        .collect();

    let tools: Vec<ToolDefinition> = tools
        .iter()
        .enumerate()
        .filter_map(|(i, tool)| {
            let (implementation, timeout) = tool_implementation(i, tool, &mut secret_env, &mut egress_ports)?;
            Some(ToolDefinition {
                name: tool.name_any(),
                description: tool.spec.description.clone(),
                input_schema: tool
                    .spec
                    .input_schema
                    .clone()
                    .unwrap_or_else(|| serde_json::json!({"type": "object"})),
                implementation,
                rate_limit_per_minute: tool
                    .spec
                    .rate_limit
                    .as_ref()
                    .and_then(|r| u32::try_from(r.requests_per_minute).ok()),
                timeout_seconds: timeout
                    .unwrap_or_else(|| u64::try_from(spec.limits.timeout_seconds).unwrap_or(120)),
            })
        })
        .collect();

    let memory_blocks = spec
        .memory
        .as_ref()
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
        .unwrap_or_default();
    let grace = 25;
    let config = RunnerConfig {
        version: RUNNER_CONFIG_VERSION,
        namespace: agent.namespace().unwrap_or_default(),
        agent: agent.name_any(),
        role: serde_json::to_value(spec.role)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .unwrap_or_default(),
        description: spec.description.clone(),
        system_prompt: spec.system_prompt.clone(),
        memory_blocks,
        models,
        tools,
        peers: spec.peers.clone(),
        limits: Limits {
            timeout_seconds: u64::try_from(spec.limits.timeout_seconds).unwrap_or(120),
            max_turns: u32::try_from(spec.limits.max_turns).unwrap_or(10),
            max_delegation_depth: u32::try_from(spec.limits.max_delegation_depth).unwrap_or(3),
            max_concurrent_requests: u32::try_from(spec.limits.max_concurrent_requests).unwrap_or(16),
            daily_budget_usd: spec.limits.daily_budget_usd,
        },
        resilience: Resilience {
            max_retries: u32::try_from(spec.resilience.max_retries).unwrap_or(3),
            initial_backoff_ms: u64::try_from(spec.resilience.initial_backoff_ms).unwrap_or(200),
            failure_threshold: u32::try_from(spec.resilience.circuit_breaker.failure_threshold).unwrap_or(5),
            reset_seconds: u64::try_from(spec.resilience.circuit_breaker.reset_seconds).unwrap_or(30),
        },
        nats: NatsConfig { url: settings.nats_url.clone() },
        http: HttpConfig { listen: format!("0.0.0.0:{}", settings.runner_http_port) },
        shutdown_grace_seconds: grace,
        event_buffer: 10_000,
    };
    // Struct fields serialize in declaration order and maps are BTreeMaps, so equal configs
    // give equal JSON and equal hashes.
    let json = serde_json::to_string_pretty(&config).unwrap_or_default();
    secret_env.sort();
    secret_env.dedup();
    Rendered { config, json, secret_env, egress_ports }
}

/// How one tool runs, and its timeout when the Tool sets one. `None` for kinds the runner
/// cannot run yet (the Tool controller reports those as not Ready, so they never get here).
fn tool_implementation(
    index: usize,
    tool: &Tool,
    secret_env: &mut Vec<SecretEnv>,
    egress_ports: &mut BTreeSet<u16>,
) -> Option<(ToolImplementation, Option<u64>)> {
    match tool.spec.type_ {
        ToolType::Http => {
            let http = tool.spec.http.as_ref()?;
            egress_ports.extend(url_port(&http.url));
            let secret_headers = http
                .headers_from
                .iter()
                .enumerate()
                .map(|(j, h)| {
                    let env = format!("AGENTRY_TOOL_{index}_HEADER_{j}");
                    secret_env.push(SecretEnv {
                        env: env.clone(),
                        secret: h.secret_key_ref.name.clone(),
                        key: h.secret_key_ref.key.clone(),
                    });
                    SecretHeader { name: h.name.clone(), env }
                })
                .collect();
            let method = match http.method {
                HttpMethod::Get => "GET",
                HttpMethod::Post => "POST",
                HttpMethod::Put => "PUT",
                HttpMethod::Patch => "PATCH",
                HttpMethod::Delete => "DELETE",
            };
            Some((
                ToolImplementation::Http {
                    url: http.url.clone(),
                    method: method.into(),
                    headers: http.headers.clone(),
                    secret_headers,
                    max_response_bytes: 64 * 1024,
                },
                u64::try_from(http.timeout_seconds).ok(),
            ))
        }
        ToolType::Agent => {
            Some((ToolImplementation::Agent { agent: tool.spec.agent.as_ref()?.agent_ref.clone() }, None))
        }
        ToolType::Builtin => {
            let name = match tool.spec.builtin.as_ref()?.name {
                BuiltinToolName::Calculator => "calculator",
                BuiltinToolName::CurrentTime => "current_time",
                BuiltinToolName::MemorySearch | BuiltinToolName::MemoryStore => return None,
            };
            Some((ToolImplementation::Builtin { name: name.into() }, None))
        }
        ToolType::Mcp | ToolType::Wasm => None,
    }
}

/// The TCP port a URL connects to.
fn url_port(url: &str) -> Option<u16> {
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
    use super::*;

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
}
