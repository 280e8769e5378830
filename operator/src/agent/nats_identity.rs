//! The Agent's own NATS identity (docs/security.md, "Identity on the bus"): when the operator
//! holds the account signing key, each Agent gets a Secret `<agent>-nats` with its `.creds`,
//! whose user JWT allows exactly what the bus contract gives that Agent (its peers, its events,
//! its tasks, its inbox). The runner pod mounts it; the runner config names the file.
//!
//! Minting makes a fresh user key each time, so it happens only when the permissions'
//! fingerprint (stored on the Secret) differs from what the Agent's spec asks for now; the
//! fingerprint is also part of the config hash, so runners reconnect with the new permissions.

use std::collections::BTreeMap;
use std::time::Duration;

use agentry_bus_identity::{Permissions, UserIssuer, permissions};
use agentry_crds::Agent;
use agentry_protocol::subjects::{InvalidToken, SubjectToken};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::core::PartialObjectMeta;

use crate::agent::children;
use crate::agent::runner_config::Rendered;
use crate::reconciler::error::ReconcileError;

/// Key of the `.creds` file in the Secret.
pub const CREDS_KEY: &str = "user.creds";
/// Where the runner container mounts the Secret.
pub const CREDS_MOUNT_DIR: &str = "/var/run/secrets/agentry.dev/nats";
/// Annotation on the Secret: the fingerprint of the permissions its credentials grant.
pub const FINGERPRINT_ANNOTATION: &str = "agentry.dev/nats-permissions";

/// The Secret's name.
pub fn secret_name(agent: &Agent) -> String {
    format!("{}-nats", agent.name_any())
}

/// The `.creds` path the runner config names.
pub fn creds_path() -> String {
    format!("{CREDS_MOUNT_DIR}/{CREDS_KEY}")
}

/// What the Agent's identity must grant, and its fingerprint.
#[derive(Clone, Debug)]
pub struct IdentityPlan {
    /// The user's name in its JWT: `<namespace>/<agent>`.
    pub name: String,
    /// The permissions.
    pub permissions: Permissions,
    /// Their digest (with the issuer's keys).
    pub fingerprint: String,
}

/// The identity `agent` (rendered as `rendered`) needs: its peers, and replies open as long as
/// its runner may take to answer (the drain covers the request timeout).
pub fn plan(agent: &Agent, rendered: &Rendered, issuer: &UserIssuer) -> Result<IdentityPlan, InvalidToken> {
    let namespace = SubjectToken::new(rendered.config.namespace.clone())?;
    let name = SubjectToken::new(agent.name_any())?;
    let peers =
        rendered.config.peers.iter().map(|p| SubjectToken::new(p.clone())).collect::<Result<Vec<_>, _>>()?;
    let reply_ttl = Duration::from_secs(rendered.config.shutdown_grace_seconds);
    let permissions = permissions::agent(&namespace, &name, &peers, reply_ttl);
    let user = format!("{namespace}/{name}");
    let fingerprint = issuer.fingerprint(&user, &permissions);
    Ok(IdentityPlan { name: user, permissions, fingerprint })
}

/// Whether the Secret last seen already grants what `plan` asks.
pub fn is_current(secret: Option<&PartialObjectMeta<Secret>>, plan: &IdentityPlan) -> bool {
    secret.and_then(|s| s.annotations().get(FINGERPRINT_ANNOTATION)).is_some_and(|f| *f == plan.fingerprint)
}

/// The Agent's Secret with fresh credentials for `plan`.
pub fn minted_secret(
    agent: &Agent,
    plan: &IdentityPlan,
    issuer: &UserIssuer,
) -> Result<Secret, ReconcileError> {
    let failed = |e: &dyn std::fmt::Display| {
        ReconcileError::InvalidName(format!("minting the NATS identity of {}: {e}", plan.name))
    };
    let creds = issuer.mint(&plan.name, &plan.permissions).map_err(|e| failed(&e))?;
    let text = creds.render().map_err(|e| failed(&e))?;
    let data = BTreeMap::from([(CREDS_KEY.to_string(), ByteString(text.into_bytes()))]);
    let annotations = BTreeMap::from([(FINGERPRINT_ANNOTATION.to_string(), plan.fingerprint.clone())]);
    Ok(children::nats_secret(agent, data, annotations))
}
