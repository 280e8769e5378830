//! The Session reconcile: observe (its Agents) → the pipeline of its tasks (read their records,
//! submit the next step, cancel an overdue one) → status and Events; and, once finished, delete
//! it when its TTL has passed.

use std::sync::Arc;
use std::time::Duration;

use agentry_crds::{Session, SessionStatus, reasons};
use agentry_protocol::SubjectToken;
use futures::FutureExt;
use k8s_openapi::jiff::Timestamp;
use kube::api::{DeleteParams, Preconditions};
use kube::runtime::controller::Action;
use kube::runtime::reflector::ObjectRef;
use kube::{Api, Resource, ResourceExt};

use crate::reconciler::apply::apply_status_if_changed;
use crate::reconciler::error::ReconcileError;
use crate::reconciler::events::publish;
use crate::session::controller::SessionContext;
use crate::session::lifecycle_event;
use crate::session::pipeline::Pipeline;
use crate::session::plan;
use crate::session::status::{self, deadline_ms, delete_at, is_finished, millis};
use crate::session::task_finalizer;

/// A running Session is looked at this often even if no record change wakes it.
const RUNNING_RESYNC: Duration = Duration::from_secs(30);
/// A pending Session is looked at this often (an Agent's creation wakes it sooner).
const PENDING_RESYNC: Duration = Duration::from_secs(300);
/// How soon a reconcile that found the Agent cache not yet listed comes back.
const CACHES_NOT_LISTED_RETRY: Duration = Duration::from_millis(200);

/// Reconciles one Session.
pub async fn reconcile(session: Arc<Session>, ctx: Arc<SessionContext>) -> Result<Action, ReconcileError> {
    let ns = session.namespace().ok_or(ReconcileError::MissingMetadata("namespace"))?;
    let api = Api::<Session>::namespaced(ctx.operator.client.clone(), &ns);
    if session.meta().deletion_timestamp.is_some() {
        return finalize(&session, &ctx, &api).await;
    }
    let old = session.status.clone().unwrap_or_default();
    if is_finished(old.phase) {
        // Again on the first look after finishing (the finalizer still held), in case the
        // publication on finishing failed; stored once either way.
        if task_finalizer::held(&session)
            && let Some(nats) = ctx.operator.nats.get().filter(|n| n.connected())
        {
            lifecycle_event::publish(&session, &old, &nats).await;
        }
        // Its tasks have ended: nothing outside the cluster is left to clean up.
        task_finalizer::remove(&session, &api).await?;
        return delete_when_due(&session, &old, &api).await;
    }
    if ctx.agents.wait_until_ready().now_or_never().is_none() {
        return Ok(Action::requeue(CACHES_NOT_LISTED_RETRY));
    }
    // Only a Session that has not started waits for its Agents: the tasks of a started one
    // wait in the queue for whichever runner comes.
    if old.started_at.is_none()
        && let Some(missing) =
            plan::agents(&session.spec).find(|a| ctx.agents.get(&ObjectRef::new(a).within(&ns)).is_none())
    {
        let new = status::waiting_for_agent(&session, missing);
        write_status(&session, &api, &new, &ctx).await?;
        return Ok(Action::requeue(PENDING_RESYNC));
    }
    let Some(nats) = ctx.operator.nats.get().filter(|n| n.connected()) else {
        let why = format!(
            "not connected to NATS at {}; the Session waits for it",
            agentry_bus_identity::connection::redact(&ctx.operator.settings.nats_url)
        );
        if old.started_at.is_none() {
            let new = status::pending(&session, reasons::TASK_QUEUE_UNAVAILABLE, &why);
            write_status(&session, &api, &new, &ctx).await?;
        }
        // Retried with backoff; a started Session's task goes on without the operator.
        return Err(ReconcileError::Nats(why));
    };
    // Before any task exists, so that none can outlive the Session's deletion.
    task_finalizer::add(&session, &api).await?;
    let uid = session.meta().uid.clone().ok_or(ReconcileError::MissingMetadata("uid"))?;
    let steps = plan::steps(&session.spec, &uid).map_err(|e| ReconcileError::InvalidName(e.to_string()))?;
    let namespace = SubjectToken::new(ns.clone()).map_err(|e| ReconcileError::InvalidName(e.to_string()))?;
    let observed = Pipeline::load(&session, &steps, &nats.tasks, &namespace).await?.advance().await?;
    let new = status::desired(&session, &steps, &observed, Timestamp::now());
    write_status(&session, &api, &new, &ctx).await?;
    if new.phase != old.phase {
        lifecycle_event::publish(&session, &new, &nats).await;
    }
    if is_finished(new.phase) {
        return Ok(requeue_for_deletion(&session, &new));
    }
    let started_ms = observed
        .first_submitted_ms
        .or_else(|| new.started_at.as_ref().map(|t| millis(t.0)))
        .unwrap_or_else(|| millis(Timestamp::now()));
    let until_deadline = deadline_ms(&session, started_ms)
        .map(|deadline| Duration::from_millis(deadline.saturating_sub(millis(Timestamp::now()))));
    Ok(Action::requeue(until_deadline.map_or(RUNNING_RESYNC, |d| d.min(RUNNING_RESYNC))))
}

/// A deleted Session: cancels its tasks unless they have ended, then lets it go. Without NATS the
/// deletion waits (retried with backoff) rather than leave its work running unseen.
async fn finalize(
    session: &Session,
    ctx: &SessionContext,
    api: &Api<Session>,
) -> Result<Action, ReconcileError> {
    if !task_finalizer::held(session) {
        return Ok(Action::await_change());
    }
    if !is_finished(session.status.as_ref().and_then(|s| s.phase)) {
        let Some(nats) = ctx.operator.nats.get().filter(|n| n.connected()) else {
            let why = format!(
                "not connected to NATS at {}; the deleted Session's tasks are cancelled once it is",
                agentry_bus_identity::connection::redact(&ctx.operator.settings.nats_url)
            );
            return Err(ReconcileError::Nats(why));
        };
        task_finalizer::cancel_tasks(session, &nats).await?;
        tracing::info!("deleted while running: its tasks are cancelled");
    }
    task_finalizer::remove(session, api).await?;
    Ok(Action::await_change())
}

/// Writes `new` when it differs, and raises the Event its change deserves.
async fn write_status(
    session: &Session,
    api: &Api<Session>,
    new: &SessionStatus,
    ctx: &SessionContext,
) -> Result<(), ReconcileError> {
    let name = session.name_any();
    if apply_status_if_changed(api, &name, session.status.as_ref(), new).await?
        && let Some((type_, reason, note)) = status::event(session.status.as_ref(), new)
    {
        publish(&ctx.operator.recorder, session, type_, &reason, note, "Run").await;
    }
    Ok(())
}

/// Once finished: nothing to do but delete it when its TTL has passed.
fn requeue_for_deletion(session: &Session, status: &SessionStatus) -> Action {
    match delete_at(session, status) {
        Some(at) => {
            let wait = at.duration_since(Timestamp::now()).max(k8s_openapi::jiff::SignedDuration::ZERO);
            Action::requeue(Duration::try_from(wait).unwrap_or_default())
        }
        None => Action::await_change(),
    }
}

async fn delete_when_due(
    session: &Session,
    status: &SessionStatus,
    api: &Api<Session>,
) -> Result<Action, ReconcileError> {
    let Some(at) = delete_at(session, status) else { return Ok(Action::await_change()) };
    if at > Timestamp::now() {
        return Ok(requeue_for_deletion(session, status));
    }
    // Only this Session, not one created since under the same name.
    let params = DeleteParams {
        preconditions: Some(Preconditions { uid: session.meta().uid.clone(), resource_version: None }),
        ..DeleteParams::default()
    };
    match api.delete(&session.name_any(), &params).await {
        Ok(_) => tracing::info!("deleted: ttlSecondsAfterFinished passed"),
        Err(kube::Error::Api(e)) if e.code == 404 || e.code == 409 => {}
        Err(err) => return Err(err.into()),
    }
    Ok(Action::await_change())
}
