//! The condition types and reasons Agentry writes: one vocabulary for the operator, its tests and
//! the people who match on them (`kubectl wait --for=condition=…`, alerts, GitOps health checks).

/// Condition types.
pub mod types {
    /// The object can be used (a Model's key is present, a Tool can run, a store is migrated,
    /// an Agent answers: its references resolved and enough runners available).
    pub const READY: &str = "Ready";
    /// An Agent's runners answer with its current config.
    pub const AVAILABLE: &str = "Available";
    /// An Agent's `modelRef` and fallbacks are all Ready.
    pub const MODEL_RESOLVED: &str = "ModelResolved";
    /// An Agent's Tools all exist, allow it and are Ready.
    pub const TOOLS_RESOLVED: &str = "ToolsResolved";
    /// An Agent's MemoryStore, if any, is Ready.
    pub const MEMORY_BOUND: &str = "MemoryBound";
    /// A Session has succeeded (`kubectl wait --for=condition=Complete`).
    pub const COMPLETE: &str = "Complete";
    /// A Session has failed or expired (`kubectl wait --for=condition=Failed`).
    pub const FAILED: &str = "Failed";
    /// A Session's agents are working on it (`kubectl wait --for=condition=Active`).
    pub const ACTIVE: &str = "Active";
    /// A Session has ended, however it ended (`kubectl wait --for=condition=Ended`).
    pub const ENDED: &str = "Ended";
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
    /// `Ready`: enough runners are available and every reference resolved.
    pub const RUNNERS_AVAILABLE: &str = "RunnersAvailable";
    /// `Available`: the API server refused the runner's objects; the spec must change.
    pub const APPLY_REFUSED: &str = "ApplyRefused";
    /// `Available`: the API server forbade writing one of the runner's objects (a missing
    /// permission, or an admission plugin); the operator's permissions must change.
    pub const CHILD_WRITE_REFUSED: &str = "ChildWriteRefused";

    /// A Model or MemoryStore's Secret does not exist.
    pub const SECRET_NOT_FOUND: &str = "SecretNotFound";
    /// A Model, Tool or MemoryStore's Secret is in a namespace outside the operator's
    /// `--secret-namespaces`, where it may not read Secrets.
    pub const SECRET_NAMESPACE_NOT_ALLOWED: &str = "SecretNamespaceNotAllowed";
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

    /// A Session's Agent (its `agentRef` or a participant) does not exist yet.
    pub const AGENT_NOT_FOUND: &str = "AgentNotFound";
    /// A Session cannot be submitted: the operator is not connected to NATS.
    pub const TASK_QUEUE_UNAVAILABLE: &str = "TaskQueueUnavailable";
    /// A Session's task waits in the queue for a runner.
    pub const TASK_QUEUED: &str = "TaskQueued";
    /// A runner is working on a Session's task.
    pub const TASK_RUNNING: &str = "TaskRunning";
    /// A Session ended with an answer.
    pub const SUCCEEDED: &str = "Succeeded";
    /// A Session's task was cancelled by someone else than the operator.
    pub const CANCELLED: &str = "Cancelled";
    /// A Session ran past `limits.maxDurationSeconds`.
    pub const DEADLINE_EXCEEDED: &str = "DeadlineExceeded";
    /// A Session's task ended failed without an error code (every run was cut off).
    pub const TASK_FAILED: &str = "TaskFailed";
    /// A started Session's task record is gone (records are kept 7 days): it is not run again.
    pub const TASK_LOST: &str = "TaskLost";
    /// A Session's spend reached `limits.budgetUsd`.
    pub const BUDGET_EXCEEDED: &str = "BudgetExceeded";
    /// A Session's conversation reached `limits.maxMessages`.
    pub const MAX_MESSAGES: &str = "MaxMessages";
    /// A Session's agent took `maxTurns` model turns without an answer.
    pub const MAX_TURNS: &str = "MaxTurns";
    /// A Session's agent timed out (`limits.timeoutSeconds`).
    pub const TIMEOUT: &str = "Timeout";
    /// Every model of a Session's agent failed.
    pub const MODEL_UNAVAILABLE: &str = "ModelUnavailable";
    /// A model refused a Session's request.
    pub const MODEL_REJECTED: &str = "ModelRejected";
    /// A Session's request was malformed.
    pub const BAD_REQUEST: &str = "BadRequest";
    /// A Session's agent was at capacity.
    pub const BUSY: &str = "Busy";
    /// A Session's delegation would revisit an agent.
    pub const DELEGATION_CYCLE: &str = "DelegationCycle";
    /// A Session's delegation went deeper than allowed.
    pub const DELEGATION_DEPTH: &str = "DelegationDepth";
    /// A Session's agent was shutting down.
    pub const SHUTTING_DOWN: &str = "ShuttingDown";
    /// A Session's request, or its answer, was larger than the agent or NATS carries.
    pub const TOO_LARGE: &str = "TooLarge";
    /// A Session's request was refused by an agent it may not reach.
    pub const FORBIDDEN: &str = "Forbidden";
    /// A Session's agent failed for another reason; the message says which.
    pub const INTERNAL_ERROR: &str = "InternalError";
}
