//! The finalizer that keeps a deleted Session's work from running on: while a Session runs, its
//! tasks live outside the cluster (in JetStream), so deleting the Session first cancels them.

use agentry_crds::Session;
use agentry_protocol::SubjectToken;
use kube::api::{Patch, PatchParams};
use kube::{Api, Resource, ResourceExt};

use crate::reconciler::error::ReconcileError;
use crate::runtime::nats_link::NatsHandles;
use crate::session::plan;

/// Held by a running Session; removed once its tasks are finished or cancelled.
pub const TASK_FINALIZER: &str = "agentry.dev/cancel-tasks";

/// What a deleted Session's running tasks are told.
const CANCEL_REASON: &str = "the Session was deleted";

/// Whether the Session holds the finalizer.
pub fn held(session: &Session) -> bool {
    session.finalizers().iter().any(|f| f == TASK_FINALIZER)
}

/// Adds the finalizer (before the first task is submitted, so no task can outlive a deletion).
pub async fn add(session: &Session, api: &Api<Session>) -> Result<(), ReconcileError> {
    if held(session) {
        return Ok(());
    }
    let mut finalizers = session.finalizers().to_vec();
    finalizers.push(TASK_FINALIZER.to_string());
    write(session, api, finalizers).await
}

/// Removes the finalizer, leaving any other.
pub async fn remove(session: &Session, api: &Api<Session>) -> Result<(), ReconcileError> {
    if !held(session) {
        return Ok(());
    }
    let finalizers = session.finalizers().iter().filter(|f| *f != TASK_FINALIZER).cloned().collect();
    write(session, api, finalizers).await
}

/// Cancels every task of the Session that has not ended (a task never submitted stays so).
pub async fn cancel_tasks(session: &Session, nats: &NatsHandles) -> Result<(), ReconcileError> {
    let (ns, uid) = match (session.namespace(), session.meta().uid.clone()) {
        (Some(ns), Some(uid)) => (ns, uid),
        _ => return Err(ReconcileError::MissingMetadata("namespace or uid")),
    };
    let namespace = SubjectToken::new(ns).map_err(|e| ReconcileError::InvalidName(e.to_string()))?;
    let steps = plan::steps(&session.spec, &uid).map_err(|e| ReconcileError::InvalidName(e.to_string()))?;
    for step in steps {
        let agent = SubjectToken::new(step.agent).map_err(|e| ReconcileError::InvalidName(e.to_string()))?;
        let cancelled = nats.tasks.cancel(&namespace, &agent, &step.task, CANCEL_REASON).await;
        cancelled.map_err(|e| ReconcileError::Nats(e.to_string()))?;
    }
    Ok(())
}

/// Writes the finalizer list, on the condition that the object has not changed since it was
/// read (a conflict is retried with the next reconcile).
async fn write(session: &Session, api: &Api<Session>, finalizers: Vec<String>) -> Result<(), ReconcileError> {
    let patch = serde_json::json!({
        "metadata": {"finalizers": finalizers, "resourceVersion": session.resource_version()}
    });
    api.patch(&session.name_any(), &PatchParams::default(), &Patch::Merge(&patch)).await?;
    Ok(())
}
