//! The condition types and reasons Agentry writes: one vocabulary for the operator, its tests and
//! the people who match on them (`kubectl wait --for=condition=…`, alerts, GitOps health checks).

/// Condition types.
pub mod types {
    /// The object can be used (a Model's key is present, a Tool can run, a store is migrated).
    pub const READY: &str = "Ready";
    /// An Agent's runners answer with its current config.
    pub const AVAILABLE: &str = "Available";
    /// An Agent's `modelRef` and fallbacks are all Ready.
    pub const MODEL_RESOLVED: &str = "ModelResolved";
    /// An Agent's Tools all exist, allow it and are Ready.
    pub const TOOLS_RESOLVED: &str = "ToolsResolved";
    /// An Agent's MemoryStore, if any, is Ready.
    pub const MEMORY_BOUND: &str = "MemoryBound";
}

/// Reasons, grouped by the condition that carries them.
pub mod reasons {
    /// Every reference resolved (`ModelResolved`, `ToolsResolved`, `MemoryBound`).
    pub const RESOLVED: &str = "Resolved";
    /// A referenced Model does not exist.
    pub const MODEL_NOT_FOUND: &str = "ModelNotFound";
    /// A referenced Model exists but is not Ready.
    pub const MODEL_NOT_READY: &str = "ModelNotReady";
    /// A referenced Model has not been checked yet.
    pub const MODEL_PENDING: &str = "ModelPending";
    /// A referenced Tool does not exist.
    pub const TOOL_NOT_FOUND: &str = "ToolNotFound";
    /// A referenced Tool's `allowedAgents` excludes the Agent.
    pub const TOOL_NOT_ALLOWED: &str = "ToolNotAllowed";
    /// A referenced Tool exists but is not Ready.
    pub const TOOL_NOT_READY: &str = "ToolNotReady";
    /// A referenced Tool has not been checked yet.
    pub const TOOL_PENDING: &str = "ToolPending";
    /// The referenced MemoryStore does not exist.
    pub const MEMORY_STORE_NOT_FOUND: &str = "MemoryStoreNotFound";
    /// The referenced MemoryStore exists but is not Ready.
    pub const MEMORY_STORE_NOT_READY: &str = "MemoryStoreNotReady";
    /// The referenced MemoryStore has not been checked yet.
    pub const MEMORY_STORE_PENDING: &str = "MemoryStorePending";

    /// `Available`: every runner is ready with the current config.
    pub const MINIMUM_REPLICAS_AVAILABLE: &str = "MinimumReplicasAvailable";
    /// `Available`: enough runners are ready but some run the previous config.
    pub const ROLLOUT_IN_PROGRESS: &str = "RolloutInProgress";
    /// `Available`: no runner is ready.
    pub const NO_REPLICAS_READY: &str = "NoReplicasReady";
    /// `Available`: fewer runners are ready than asked for.
    pub const REPLICAS_UNAVAILABLE: &str = "ReplicasUnavailable";
    /// `Available`: the runner Deployment does not exist yet.
    pub const NO_DEPLOYMENT: &str = "NoDeployment";
    /// `Available`: `spec.paused` scaled the runners to zero.
    pub const PAUSED: &str = "Paused";
    /// `Available`: the API server refused the runner's objects; the spec must change.
    pub const APPLY_REFUSED: &str = "ApplyRefused";

    /// A Model or MemoryStore's Secret does not exist.
    pub const SECRET_NOT_FOUND: &str = "SecretNotFound";
    /// A Model or MemoryStore's Secret lacks the key.
    pub const KEY_MISSING: &str = "KeyMissing";
    /// A Model's API key is present.
    pub const KEY_FOUND: &str = "KeyFound";
    /// A Model needs no API key.
    pub const NO_KEY_REQUIRED: &str = "NoKeyRequired";

    /// A Tool can run.
    pub const VALID: &str = "Valid";
    /// A Tool's name cannot be a model function name.
    pub const INVALID_NAME: &str = "InvalidName";
    /// A Tool's input schema does not compile.
    pub const INVALID_SCHEMA: &str = "InvalidSchema";
    /// A Tool's type or builtin is one the runner cannot run.
    pub const UNSUPPORTED: &str = "Unsupported";
    /// A Tool's type block is missing.
    pub const INVALID: &str = "Invalid";
    /// A Tool's URL template is malformed.
    pub const INVALID_URL: &str = "InvalidUrl";
    /// A Tool's header name or value is malformed.
    pub const INVALID_HEADER: &str = "InvalidHeader";

    /// A MemoryStore's schema is migrated and counted.
    pub const MIGRATED: &str = "Migrated";
}
