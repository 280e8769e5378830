//! Building an agent's tools from their definitions in the runner config, and the
//! [`ToolConfigError`] that refuses a definition the runner cannot use.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::Duration;

use agentry_protocol::runner_config::{BuiltinTool, ToolDefinition, ToolImplementation};
use serde_json::{Value, json};

use super::address_policy::{AddressPolicy, GuardedResolver};
use super::arguments::ArgumentSchema;
use super::http_tool::{HttpTool, HttpToolConfig};
use super::rate_limit::RateLimiter;
use super::{agent_tool, calculator, current_time, memory_tools};

/// A tool definition the runner cannot use. The runner refuses to start with one: a tool that
/// would fail every call is better reported once, at start, naming the tool.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ToolConfigError {
    /// The input schema is not a usable JSON Schema.
    #[error("tool {tool:?}: invalid input schema: {reason}")]
    InvalidSchema {
        /// The tool.
        tool: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A secret header's environment variable is absent or empty.
    #[error("tool {tool:?}: header {header:?} needs environment variable {env}, which is not set or empty")]
    MissingSecret {
        /// The tool.
        tool: String,
        /// The header.
        header: String,
        /// The environment variable.
        env: String,
    },
    /// A header name or value cannot be sent.
    #[error("tool {tool:?}: header {header:?}: {reason}")]
    InvalidHeader {
        /// The tool.
        tool: String,
        /// The header.
        header: String,
        /// What is wrong (never the value itself).
        reason: String,
    },
    /// The URL template is malformed or not http(s).
    #[error("tool {tool:?}: invalid URL: {reason}")]
    InvalidUrl {
        /// The tool.
        tool: String,
        /// What is wrong.
        reason: String,
    },
    /// The builtin exists in Agentry but this runner does not provide it yet.
    #[error("tool {tool:?}: builtin {:?} is not available in this runner yet", name.as_str())]
    BuiltinUnavailable {
        /// The tool.
        tool: String,
        /// The builtin.
        name: BuiltinTool,
    },
    /// Two tools have the same name, so the model could not tell them apart.
    #[error("tool {tool:?} is defined twice")]
    Duplicate {
        /// The name.
        tool: String,
    },
    /// Some other field has an unusable value.
    #[error("tool {tool:?}: {reason}")]
    Invalid {
        /// The tool.
        tool: String,
        /// What is wrong.
        reason: String,
    },
    /// The shared HTTP client could not be built.
    #[error("cannot build the HTTP client for tools: {0}")]
    HttpClient(String),
}

/// One tool, checked and ready to run.
#[derive(Debug)]
pub(super) struct Tool {
    pub(super) name: String,
    pub(super) description: String,
    /// The schema offered to the model (and compiled in `schema`).
    pub(super) parameters: Value,
    pub(super) schema: ArgumentSchema,
    pub(super) kind: ToolKind,
    pub(super) limiter: Option<RateLimiter>,
    pub(super) timeout: Duration,
    /// How long a successful result is reused for the same arguments; `None`: never.
    pub(super) cache_ttl: Option<Duration>,
}

/// What a tool runs.
#[derive(Debug)]
pub(super) enum ToolKind {
    /// Boxed: an HTTP tool carries its headers and template, ten times the other variants.
    Http(Box<HttpTool>),
    Agent {
        agent: String,
    },
    Calculator,
    CurrentTime,
    MemorySearch,
    MemoryStore,
}

impl Tool {
    /// Checks `def` and builds the tool, resolving secret header values through `env`.
    pub(super) fn new(
        def: &ToolDefinition,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, ToolConfigError> {
        let name = def.name.as_str();
        // What model APIs accept as a function name (OpenAI: ^[a-zA-Z0-9_-]{1,64}$); checked here so
        // a bad name is one clear start-up error rather than a 400 from the provider on every request.
        if name.is_empty()
            || name.len() > 64
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || "_-".contains(c))
        {
            return Err(ToolConfigError::Invalid {
                tool: name.into(),
                reason: "the name must be 1 to 64 letters, digits, '_' or '-' (what model APIs accept)"
                    .into(),
            });
        }
        if def.timeout_seconds == 0 {
            return Err(ToolConfigError::Invalid {
                tool: name.into(),
                reason: "timeoutSeconds must be at least 1".into(),
            });
        }
        let limiter = match def.rate_limit_per_minute {
            None => None,
            Some(0) => {
                return Err(ToolConfigError::Invalid {
                    tool: name.into(),
                    reason: "rateLimitPerMinute must be at least 1".into(),
                });
            }
            Some(n) => Some(RateLimiter::new(n)),
        };
        let (kind, own_schema) = match &def.implementation {
            ToolImplementation::Http {
                url,
                method,
                headers,
                secret_headers,
                max_response_bytes,
                allow_private_networks,
                allowed_hosts,
            } => {
                let config = HttpToolConfig {
                    tool: name,
                    url,
                    method: *method,
                    headers,
                    secret_headers,
                    max_response_bytes: *max_response_bytes,
                    allow_private_networks,
                    allowed_hosts,
                };
                (ToolKind::Http(Box::new(HttpTool::new(config, env)?)), None)
            }
            ToolImplementation::Agent { agent } => {
                (ToolKind::Agent { agent: agent.clone() }, Some(agent_tool::schema(agent)))
            }
            ToolImplementation::Builtin { name: builtin } => match builtin {
                BuiltinTool::Calculator => (ToolKind::Calculator, Some(calculator::schema())),
                BuiltinTool::CurrentTime => (ToolKind::CurrentTime, Some(current_time::schema())),
                BuiltinTool::MemorySearch => (ToolKind::MemorySearch, Some(memory_tools::search_schema())),
                BuiltinTool::MemoryStore => (ToolKind::MemoryStore, Some(memory_tools::store_schema())),
            },
        };
        // A Tool object that declares no schema (the default `{"type": "object"}`) gets the one its
        // implementation knows, so the model learns the arguments it takes.
        let parameters = match own_schema {
            Some(schema) if def.input_schema == json!({"type": "object"}) => schema,
            _ => def.input_schema.clone(),
        };
        let schema = ArgumentSchema::compile(&parameters)
            .map_err(|reason| ToolConfigError::InvalidSchema { tool: name.into(), reason })?;
        Ok(Self {
            name: name.into(),
            description: def.description.clone(),
            parameters,
            schema,
            kind,
            limiter,
            timeout: Duration::from_secs(def.timeout_seconds),
            cache_ttl: def.cache_ttl_seconds.filter(|s| *s > 0).map(|s| Duration::from_secs(u64::from(s))),
        })
    }
}

/// The client of one `http` tool: it connects only to addresses `policy` allows (its resolver
/// drops the others; literal addresses are checked on every redirect, and before the first
/// request by the tool), and follows only same-origin redirects.
pub(super) fn http_client(policy: Arc<AddressPolicy>) -> Result<reqwest::Client, ToolConfigError> {
    // reqwest is built without a bundled crypto provider; install ring (the workspace's choice)
    // unless the process already chose one. Losing a race with another installer is fine.
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
    reqwest::Client::builder()
        .user_agent(concat!("agentry-runner/", env!("CARGO_PKG_VERSION")))
        .connect_timeout(Duration::from_secs(10))
        // A proxy would resolve and connect on our behalf, past the address checks.
        .no_proxy()
        .dns_resolver(GuardedResolver::new(policy.clone()))
        .redirect(reqwest::redirect::Policy::custom(move |attempt| {
            if let Err(refused) = policy.check_url(attempt.url()) {
                return attempt.error(refused);
            }
            // Secret headers would follow a redirect to another host: only same-origin
            // redirects are followed; others come back to the model as the 3xx they are.
            let same_origin =
                attempt.previous().first().is_some_and(|first| first.origin() == attempt.url().origin());
            if attempt.previous().len() > 5 || !same_origin { attempt.stop() } else { attempt.follow() }
        }))
        .build()
        .map_err(|e| {
            let mut text = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(cause) = source {
                let _ = write!(text, ": {cause}");
                source = cause.source();
            }
            ToolConfigError::HttpClient(text)
        })
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;

    use super::*;
    use crate::tools::ToolBox;
    use crate::tools::toolbox::tests::{calculator_def, def, metrics, toolbox};

    fn build_err(defs: &[ToolDefinition]) -> String {
        ToolBox::new(defs, &|_| None, Arc::new(super::super::NoDelegation), metrics())
            .expect_err("refused")
            .to_string()
    }

    #[test]
    fn specs_offer_the_implementation_schema_when_the_tool_declares_none() {
        let custom = json!({"type": "object", "properties": {"topic": {"type": "string"}}});
        let tools = toolbox(&[
            calculator_def(),
            def(json!({"name": "ask", "description": "Ask b", "inputSchema": custom,
                       "implementation": {"type": "agent", "agent": "b"}})),
        ]);
        let specs = tools.specs();
        assert_eq!(specs[0].name, "calc");
        assert_eq!(specs[0].description, "Arithmetic");
        assert_eq!(specs[0].parameters["required"], json!(["expression"]));
        assert_eq!(specs[1].parameters, custom);
    }

    #[test]
    fn bad_definitions_are_refused_naming_the_tool() {
        let mut bad_schema = calculator_def();
        bad_schema.input_schema = json!({"type": "objekt"});
        let err = build_err(&[bad_schema]);
        assert!(err.starts_with("tool \"calc\": invalid input schema"), "{err}");

        assert_eq!(build_err(&[calculator_def(), calculator_def()]), "tool \"calc\" is defined twice");
        let mut dotted = calculator_def();
        dotted.name = "calc.v2".into();
        assert!(build_err(&[dotted]).contains("the name must be"));
        let mut zero = calculator_def();
        zero.rate_limit_per_minute = Some(0);
        assert!(build_err(&[zero]).contains("rateLimitPerMinute must be at least 1"));

        let err = build_err(&[def(json!({"name": "w", "description": "d", "implementation": {
            "type": "http", "url": "http://127.0.0.1/", "method": "GET",
            "secretHeaders": [{"name": "X-Key", "env": "WEATHER_KEY"}]
        }}))]);
        assert_eq!(
            err,
            "tool \"w\": header \"X-Key\" needs environment variable WEATHER_KEY, which is not set or empty"
        );
    }
}
