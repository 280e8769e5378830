//! The Agentry Kubernetes API, group `agentry.dev`, version `v1alpha1`.
//!
//! Five namespaced kinds: [`Model`], [`Tool`], [`Agent`], [`MemoryStore`] and [`Session`].
//! Their schemas carry the validation a person meets at `kubectl apply`: closed enums, numeric
//! bounds, name patterns, and CEL `x-kubernetes-validations` for rules that span fields.

// kube's `printcolumn(name = .., type_ = ..)` repeats the same keys once per column by design.
#![allow(clippy::duplicated_attributes)]

mod agent;
mod condition;
pub mod condition_names;
mod crd_set;
mod memory_store;
mod model;
mod names;
mod secret_ref;
mod session;
mod tool;

pub use agent::{
    Agent, AgentLimits, AgentMemory, AgentPhase, AgentRole, AgentSpec, AgentStatus, AgentUsage,
    CircuitBreakerPolicy, MemoryBlock, PodOverrides, Resilience,
};
pub use condition::{Condition, ConditionStatus, set_condition};
pub use condition_names::{reasons, types as condition_types};
pub use crd_set::{all_crds, crds_yaml};
pub use memory_store::{
    Consolidation, EmbeddingProvider, EmbeddingSpec, MemoryStore, MemoryStoreSpec, MemoryStoreStatus,
    PostgresStore, Retention,
};
pub use model::{Model, ModelProvider, ModelSpec, ModelStatus, Pricing};
pub use names::{DNS_LABEL_PATTERN, DNS_SUBDOMAIN_PATTERN, SECRET_KEY_PATTERN};
pub use secret_ref::SecretKeyRef;
pub use session::{Session, SessionLimits, SessionPhase, SessionSpec, SessionStatus, SessionType, Usage};
pub use tool::{
    AgentTool, BuiltinTool, BuiltinToolName, HttpMethod, HttpTool, McpTool, RateLimit, SecretHeader, Tool,
    ToolSpec, ToolStatus, ToolType, WasmTool,
};

/// The API group of every Agentry kind.
pub const GROUP: &str = "agentry.dev";
/// The served and stored version.
pub const VERSION: &str = "v1alpha1";
/// The `kubectl get <category>` name that lists every Agentry kind.
pub const CATEGORY: &str = "agentry";
