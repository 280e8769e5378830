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
use crate::runtime::nats_link::NatsLink;

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

/// How long binding the Agent's tasks consumer may take before the next resync tries again.
const CONSUMER_TIMEOUT: Duration = Duration::from_secs(5);

/// Makes sure the Agent's durable tasks consumer exists: with its own identity a runner may only
/// bind it, not create it. Quietly left to the next resync when NATS is away.
pub async fn ensure_tasks_consumer(link: &NatsLink, namespace: &str, agent: &str) {
    let (Ok(ns), Ok(name)) = (SubjectToken::new(namespace), SubjectToken::new(agent)) else { return };
    let Some(nats) = link.get().filter(|n| n.connected()) else { return };
    match tokio::time::timeout(CONSUMER_TIMEOUT, nats.tasks.worker_consumer(&ns, &name)).await {
        Ok(Ok(_)) => {}
        Ok(Err(error)) => {
            tracing::warn!(%error, "the Agent's tasks consumer could not be made; retried at the next resync")
        }
        Err(_) => tracing::debug!("making the Agent's tasks consumer timed out; retried at the next resync"),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use agentry_bus_identity::{KeyRole, NKey};
    use serde_json::json;

    use super::*;
    use crate::agent::children;
    use crate::agent::runner_config::render;
    use crate::runtime::settings::OperatorSettings;

    fn agent(peers: &[&str]) -> Agent {
        serde_json::from_value(json!({
            "apiVersion": "agentry.dev/v1alpha1", "kind": "Agent",
            "metadata": {"name": "a", "namespace": "fleet", "uid": "u-1"},
            "spec": {"role": "worker", "modelRef": "gpt", "peers": peers},
        }))
        .expect("agent")
    }

    fn settings() -> OperatorSettings {
        let account = NKey::generate(KeyRole::Account);
        let issuer =
            UserIssuer::from_key(&account.public_key(), NKey::generate(KeyRole::Account)).expect("issuer");
        let mut settings = OperatorSettings::new("runner:dev", "nats://user:pw-secret@nats:4222");
        settings.nats_identity = Some(Arc::new(issuer));
        settings
    }

    #[test]
    fn the_config_names_the_mounted_file_and_carries_no_credentials() {
        let settings = settings();
        let rendered = render(&agent(&["b"]), &[], &[], &settings);
        assert_eq!(rendered.config.nats.url, "nats://nats:4222");
        assert_eq!(
            rendered.config.nats.credentials_file.as_deref(),
            Some("/var/run/secrets/agentry.dev/nats/user.creds")
        );
        assert!(!rendered.json.contains("pw-secret"));
        let deployment = children::deployment(&agent(&["b"]), &rendered, "h", &settings);
        let pod = deployment.spec.and_then(|s| s.template.spec).expect("pod");
        let volume =
            pod.volumes.unwrap_or_default().into_iter().find(|v| v.secret.is_some()).expect("volume");
        assert_eq!(volume.secret.and_then(|s| s.secret_name).as_deref(), Some("a-nats"));
        let mounts = pod.containers[0].volume_mounts.clone().unwrap_or_default();
        assert!(mounts.iter().any(|m| m.mount_path == CREDS_MOUNT_DIR && m.read_only == Some(true)));
    }

    #[test]
    fn the_fingerprint_follows_the_peers_and_the_secret_holds_the_minted_creds() {
        let settings = settings();
        let issuer = settings.nats_identity.as_deref().expect("issuer");
        let plan_of = |peers: &[&str]| {
            let agent = agent(peers);
            plan(&agent, &render(&agent, &[], &[], &settings), issuer).expect("plan")
        };
        assert_eq!(plan_of(&["b"]).fingerprint, plan_of(&["b"]).fingerprint);
        assert_ne!(plan_of(&["b"]).fingerprint, plan_of(&["b", "c"]).fingerprint);
        let plan = plan_of(&["b"]);
        let secret = minted_secret(&agent(&["b"]), &plan, issuer).expect("secret");
        assert_eq!(secret.metadata.name.as_deref(), Some("a-nats"));
        assert_eq!(secret.metadata.owner_references.as_ref().map(Vec::len), Some(1));
        let creds = secret.data.as_ref().and_then(|d| d.get(CREDS_KEY)).expect("creds");
        let text = String::from_utf8(creds.0.clone()).expect("utf-8");
        agentry_bus_identity::UserCreds::parse(&text, "the Secret").expect("a .creds file");
        let meta: PartialObjectMeta<Secret> =
            PartialObjectMeta { metadata: secret.metadata.clone(), ..Default::default() };
        assert!(is_current(Some(&meta), &plan));
        assert!(!is_current(Some(&meta), &plan_of(&["b", "c"])));
        assert!(!is_current(None, &plan));
    }
}
