//! `Tool`: a capability an Agent may call.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use kube::{CustomResource, KubeSchema};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::condition::{Condition, conditions_schema};
use crate::names::DNS_LABEL_PATTERN;
use crate::secret_ref::SecretKeyRef;

/// Which kind of tool this is; exactly the block of the same name must be set.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ToolType {
    /// An HTTP endpoint called with the arguments.
    Http,
    /// Another Agent, asked over NATS.
    Agent,
    /// A function built into the runner.
    Builtin,
    /// A Model Context Protocol server.
    Mcp,
    /// A sandboxed WebAssembly function.
    Wasm,
}

/// HTTP method of an http tool.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum HttpMethod {
    /// GET: arguments become query parameters.
    Get,
    /// POST: arguments are the JSON body.
    Post,
    /// PUT: arguments are the JSON body.
    Put,
    /// PATCH: arguments are the JSON body.
    Patch,
    /// DELETE: arguments become query parameters.
    Delete,
}

fn default_http_method() -> HttpMethod {
    HttpMethod::Post
}

fn default_http_timeout() -> i32 {
    30
}

/// A request header whose value comes from a Secret.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct SecretHeader {
    /// Header name, e.g. `Authorization`.
    #[schemars(length(min = 1, max = 256), pattern(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"))]
    pub name: String,
    /// The Secret key holding the header's value.
    pub secret_key_ref: SecretKeyRef,
}

/// An HTTP endpoint.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct HttpTool {
    /// URL template; `{name}` is replaced by the URL-encoded argument `name`.
    #[schemars(length(min = 1, max = 2048), pattern(r"^https?://[^\s]+$"))]
    pub url: String,
    /// HTTP method.
    #[serde(default = "default_http_method")]
    pub method: HttpMethod,
    /// Literal request headers (no secrets here: use `headersFrom`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub headers: BTreeMap<String, String>,
    /// Request headers whose values come from Secrets.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub headers_from: Vec<SecretHeader>,
    /// How long one call may take.
    #[serde(default = "default_http_timeout")]
    #[schemars(range(min = 1, max = 600))]
    pub timeout_seconds: i32,
    /// Non-public networks the tool may reach, as CIDRs (e.g. `10.20.0.0/16`). Without them the
    /// runner refuses loopback, private, link-local, cloud metadata and other internal addresses,
    /// whatever the URL, DNS answer or redirect, so the model cannot reach internal services.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(min = 1, max = 43)))]
    pub allow_private_networks: Vec<String>,
    /// Host names the tool may reach whatever addresses they resolve to (e.g. an in-cluster
    /// `inventory.shop.svc.cluster.local`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32), inner(length(min = 1, max = 253)))]
    pub allowed_hosts: Vec<String>,
}

/// Delegation to another Agent in the same namespace.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct AgentTool {
    /// Name of the Agent asked.
    #[schemars(length(min = 1, max = 63), pattern(DNS_LABEL_PATTERN))]
    pub agent_ref: String,
}

/// The functions built into the runner.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum BuiltinToolName {
    /// Arithmetic on numbers, evaluated without `eval`.
    Calculator,
    /// The current date and time, optionally in a named time zone.
    CurrentTime,
    /// Search the agent's long-term memory.
    MemorySearch,
    /// Store a memory.
    MemoryStore,
}

/// A function built into the runner.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct BuiltinTool {
    /// Which function.
    pub name: BuiltinToolName,
}

/// A Model Context Protocol server.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
pub struct McpTool {
    /// The server's streamable-HTTP endpoint.
    #[schemars(length(min = 1, max = 2048), pattern(r"^https?://[^\s]+$"))]
    pub url: String,
}

/// A sandboxed WebAssembly function.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WasmTool {
    /// Where the module is: an `oci://` or `https://` reference, or a ConfigMap `configmap://name/key`.
    #[schemars(length(min = 1, max = 2048))]
    pub module: String,
    /// Instruction budget per call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1))]
    pub fuel: Option<i64>,
    /// Linear-memory ceiling per call, in MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 4096))]
    pub memory_limit_mib: Option<i32>,
}

/// How often a tool may be called, across all replicas of one agent.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct RateLimit {
    /// Calls allowed per minute.
    #[schemars(range(min = 1, max = 1000000))]
    pub requests_per_minute: i32,
}

/// A capability an agent may call: what it does, the arguments it takes, and how it runs.
#[derive(CustomResource, Serialize, Deserialize, Clone, Debug, PartialEq, KubeSchema)]
#[kube(
    group = "agentry.dev",
    version = "v1alpha1",
    kind = "Tool",
    namespaced,
    status = "ToolStatus",
    shortname = "tl",
    category = "agentry",
    doc = "A capability an Agent may call: an HTTP endpoint, another Agent, or a builtin function, with the JSON Schema its arguments must meet.",
    printcolumn(name = "Type", type_ = "string", json_path = ".spec.type"),
    printcolumn(
        name = "Ready",
        type_ = "string",
        json_path = ".status.conditions[?(@.type==\"Ready\")].status"
    ),
    printcolumn(name = "Used By", type_ = "string", json_path = ".status.usedBy", priority = 1),
    printcolumn(name = "Age", type_ = "date", json_path = ".metadata.creationTimestamp")
)]
#[serde(rename_all = "camelCase")]
#[x_kube(
    validation = Rule::new("self.type == 'http' ? has(self.http) : !has(self.http)").message("http must be set when type is http, and only then").field_path(".http"),
    validation = Rule::new("self.type == 'agent' ? has(self.agent) : !has(self.agent)").message("agent must be set when type is agent, and only then").field_path(".agent"),
    validation = Rule::new("self.type == 'builtin' ? has(self.builtin) : !has(self.builtin)").message("builtin must be set when type is builtin, and only then").field_path(".builtin"),
    validation = Rule::new("self.type == 'mcp' ? has(self.mcp) : !has(self.mcp)").message("mcp must be set when type is mcp, and only then").field_path(".mcp"),
    validation = Rule::new("self.type == 'wasm' ? has(self.wasm) : !has(self.wasm)").message("wasm must be set when type is wasm, and only then").field_path(".wasm"),
    validation = Rule::new("!has(self.http) || !has(self.http.headersFrom) || size(self.http.headersFrom) == 0 || !self.http.url.matches('^https?://[^/?#]*[{]')").message("a tool with headersFrom cannot take its host from the model: no {placeholder} in the URL's host or port").field_path(".http.url")
)]
pub struct ToolSpec {
    /// What the tool does, as the model will read it when choosing tools.
    #[schemars(length(min = 1, max = 4096))]
    pub description: String,
    /// JSON Schema every call's arguments must meet; an object schema.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(schema_with = "free_form_object")]
    pub input_schema: Option<serde_json::Value>,
    /// Which block below defines the tool.
    #[serde(rename = "type")]
    pub type_: ToolType,
    /// Set when type is http.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpTool>,
    /// Set when type is agent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub agent: Option<AgentTool>,
    /// Set when type is builtin.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builtin: Option<BuiltinTool>,
    /// Set when type is mcp.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mcp: Option<McpTool>,
    /// Set when type is wasm.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wasm: Option<WasmTool>,
    /// Calls allowed per minute.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// How long a result may be reused for identical arguments; 0 or absent: never.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0, max = 86400))]
    pub cache_ttl_seconds: Option<i32>,
    /// Which Agents may use the tool, by label; absent: every Agent in the namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_agents: Option<LabelSelector>,
}

/// A JSON object whose contents the schema does not describe.
pub(crate) fn free_form_object(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
    schemars::json_schema!({
        "type": "object",
        "x-kubernetes-preserve-unknown-fields": true,
    })
}

/// What the operator last observed of a Tool.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ToolStatus {
    /// The `metadata.generation` this status describes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub observed_generation: Option<i64>,
    /// `Ready`: the input schema compiles and the type's block is complete.
    #[serde(default)]
    #[schemars(schema_with = "conditions_schema")]
    pub conditions: Vec<Condition>,
    /// The Agents that list this tool.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub used_by: Vec<String>,
}
