//! What the operator is told at start: images, addresses, identity.

use std::sync::Arc;

use agentry_bus_identity::{BusCredentials, UserIssuer};

use crate::runtime::secret_caches::SecretScope;

/// Field manager for every server-side apply the operator makes.
pub const FIELD_MANAGER: &str = "agentry-operator";

/// Operator-wide settings.
#[derive(Clone, Debug)]
pub struct OperatorSettings {
    /// The agent-runner image used when an Agent names none.
    pub runner_image: String,
    /// The NATS URL: the operator's own, and (without any credentials in it) every runner's.
    pub nats_url: String,
    /// The operator's own NATS credentials (identity `_operator`).
    pub nats_credentials: BusCredentials,
    /// TCP port of NATS, allowed in runner NetworkPolicies.
    pub nats_port: u16,
    /// The port the runner's HTTP endpoint listens on inside its pod.
    pub runner_http_port: u16,
    /// Who the operator is, for Events (`reportingInstance`).
    pub instance: String,
    /// Where the operator reads Secrets (`--secret-namespaces`).
    pub secret_scope: SecretScope,
    /// `OTEL_*` variables every runner pod gets, so runners export traces where the operator
    /// does (see [`agentry_telemetry::INHERITED_VARIABLES`]); empty when it exports none.
    pub runner_trace_env: Vec<(String, String)>,
    /// The account signing key Agents' NATS credentials are minted with
    /// (`--nats-account-signing-key-file`); none: runners connect without credentials.
    pub nats_identity: Option<Arc<UserIssuer>>,
}

impl OperatorSettings {
    /// Settings for tests and `agentry dev`: the given image and NATS URL, defaults elsewhere.
    pub fn new(runner_image: impl Into<String>, nats_url: impl Into<String>) -> Self {
        let nats_url = nats_url.into();
        let nats_port =
            nats_url.rsplit(':').next().and_then(|p| p.trim_end_matches('/').parse().ok()).unwrap_or(4222);
        Self {
            runner_image: runner_image.into(),
            nats_url,
            nats_credentials: BusCredentials::None,
            nats_port,
            runner_http_port: 8080,
            instance: std::env::var("POD_NAME").unwrap_or_else(|_| "agentry-operator".into()),
            secret_scope: SecretScope::Cluster,
            runner_trace_env: Vec::new(),
            nats_identity: None,
        }
    }
}
