//! The Session reconcile: observe (its Agents, its tasks' records) → desired (the next step to
//! submit, a deadline to enforce) → apply (submit or cancel through the task queue) → status;
//! and, once finished, delete it when its TTL has passed.

use std::sync::Arc;
use std::time::Duration;

use agentry_crds::{Session, SessionStatus};
use agentry_protocol::tasks::TASK_DEDUP_WINDOW_SECONDS;
use agentry_protocol::{SubjectToken, TaskRecord, TaskState};
use agentry_task_queue::TaskQueue;
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
use crate::session::outcome::{self, Observed, Outcome};
use crate::session::plan::{self, Step};
use crate::session::status::{self, deadline_ms, delete_at, is_finished, millis};

/// A running Session is looked at this often even if no record change wakes it.
const RUNNING_RESYNC: Duration = Duration::from_secs(30);
/// A pending Session is looked at this often (an Agent's creation wakes it sooner).
const PENDING_RESYNC: Duration = Duration::from_secs(300);
/// How soon a reconcile that found the Agent cache not yet listed comes back.
const CACHES_NOT_LISTED_RETRY: Duration = Duration::from_millis(200);
/// A queued, never-run task is published again (harmlessly: the stream drops the duplicate)
/// only this long after its submission, well inside the stream's duplicate window.
const REPUBLISH_WITHIN_MS: u64 = (TASK_DEDUP_WINDOW_SECONDS - 60) * 1_000;

/// Reconciles one Session.
pub async fn reconcile(session: Arc<Session>, ctx: Arc<SessionContext>) -> Result<Action, ReconcileError> {
    if session.meta().deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let ns = session.namespace().ok_or(ReconcileError::MissingMetadata("namespace"))?;
    let api = Api::<Session>::namespaced(ctx.operator.client.clone(), &ns);
    let old = session.status.clone().unwrap_or_default();
    if is_finished(old.phase) {
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
        let new = status::pending(&session, missing);
        write_status(&session, &api, &new, &ctx).await?;
        return Ok(Action::requeue(PENDING_RESYNC));
    }
    let nats = ctx
        .operator
        .nats
        .get()
        .filter(|n| n.connected())
        .ok_or_else(|| ReconcileError::Nats("not connected; the Session waits for NATS".into()))?;
    let uid = session.meta().uid.clone().ok_or(ReconcileError::MissingMetadata("uid"))?;
    let steps = plan::steps(&session.spec, &uid).map_err(|e| ReconcileError::InvalidName(e.to_string()))?;
    let namespace = SubjectToken::new(ns.clone()).map_err(|e| ReconcileError::InvalidName(e.to_string()))?;
    let observed = advance(&session, &steps, &nats.tasks, &namespace).await?;
    let new = status::desired(&session, &steps, &observed, Timestamp::now());
    write_status(&session, &api, &new, &ctx).await?;
    if is_finished(new.phase) {
        return Ok(requeue_for_deletion(&session, &new));
    }
    let started_ms = new.started_at.as_ref().map_or_else(|| millis(Timestamp::now()), |t| millis(t.0));
    let until_deadline = deadline_ms(&session, started_ms)
        .map(|deadline| Duration::from_millis(deadline.saturating_sub(millis(Timestamp::now()))));
    Ok(Action::requeue(until_deadline.map_or(RUNNING_RESYNC, |d| d.min(RUNNING_RESYNC))))
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

/// Reads the steps' records, submits the next step or cancels an overdue one, and returns where
/// the Session then stands.
async fn advance(
    session: &Session,
    steps: &[Step],
    queue: &TaskQueue,
    namespace: &SubjectToken,
) -> Result<Observed, ReconcileError> {
    let mut records = Vec::new();
    for step in steps {
        let record = load(queue, namespace, step).await?;
        let succeeded = record.as_ref().is_some_and(|r| r.state == TaskState::Succeeded);
        records.push(record);
        if !succeeded {
            break;
        }
    }
    // Each pass submits or cancels at most one step; a submission that finds its step already
    // ended moves on to the next.
    for _ in 0..=steps.len() {
        let started_ms = started_ms(session, &records);
        let deadline = deadline_ms(session, started_ms);
        let now = millis(Timestamp::now());
        let overdue = deadline.is_some_and(|d| now >= d);
        let observed = outcome::observe(&session.spec, steps, &records, deadline);
        match &observed.outcome {
            Outcome::Unsubmitted { step } if overdue => {
                let failure = outcome::expired(&steps[*step], None);
                return Ok(Observed { outcome: Outcome::Failed(failure), ..observed });
            }
            Outcome::Unsubmitted { step } => {
                let step = *step;
                let record =
                    submit(session, steps, step, &records, &observed, deadline, queue, namespace).await?;
                records.truncate(step);
                records.push(Some(record));
            }
            Outcome::InFlight { step, .. } if overdue => {
                let s = &steps[*step];
                let agent = token(&s.agent)?;
                let reason = "the Session ran past limits.maxDurationSeconds";
                let ended = queue.cancel(namespace, &agent, &s.task, reason).await.map_err(nats_error)?;
                records[*step] = ended;
            }
            Outcome::InFlight { step, record } => {
                if republish_due(record, now) {
                    // An operator stopped between writing the record and publishing the task
                    // would otherwise leave it queued forever; within the duplicate window a
                    // second publication is dropped by the stream if the first got through.
                    let before = succeeded_before(&records, *step);
                    let request = step_request(session, steps, *step, &before, &observed, deadline);
                    queue
                        .submit(namespace, &token(&steps[*step].agent)?, &request)
                        .await
                        .map_err(nats_error)?;
                }
                return Ok(observed);
            }
            Outcome::Succeeded { .. } | Outcome::Failed(_) => return Ok(observed),
        }
    }
    let started_ms = started_ms(session, &records);
    Ok(outcome::observe(&session.spec, steps, &records, deadline_ms(session, started_ms)))
}

#[allow(clippy::too_many_arguments)]
async fn submit(
    session: &Session,
    steps: &[Step],
    step: usize,
    records: &[Option<TaskRecord>],
    observed: &Observed,
    deadline: Option<u64>,
    queue: &TaskQueue,
    namespace: &SubjectToken,
) -> Result<TaskRecord, ReconcileError> {
    let before = succeeded_before(records, step);
    let request = step_request(session, steps, step, &before, observed, deadline);
    let agent = token(&steps[step].agent)?;
    let record = queue.submit(namespace, &agent, &request).await.map_err(nats_error)?;
    tracing::info!(task = %steps[step].task, agent = %steps[step].agent, state = record.state.as_str(), "task submitted");
    Ok(record)
}

fn step_request(
    session: &Session,
    steps: &[Step],
    step: usize,
    before: &[TaskRecord],
    observed: &Observed,
    deadline: Option<u64>,
) -> agentry_protocol::AgentRequest {
    // Exhausted limits end the Session in `observe`, before any submission.
    let limits = plan::remaining(&session.spec, observed.totals).unwrap_or(None);
    plan::request(session, steps, step, before, limits, deadline)
}

fn succeeded_before(records: &[Option<TaskRecord>], step: usize) -> Vec<TaskRecord> {
    records.iter().take(step).flatten().cloned().collect()
}

fn republish_due(record: &TaskRecord, now_ms: u64) -> bool {
    record.state == TaskState::Queued
        && record.attempts == 0
        && record.submitted_ms.is_some_and(|s| now_ms < s + REPUBLISH_WITHIN_MS)
}

/// When the Session started: as its status says, else when its first task was submitted, else now.
fn started_ms(session: &Session, records: &[Option<TaskRecord>]) -> u64 {
    let from_status = session.status.as_ref().and_then(|s| s.started_at.as_ref()).map(|t| millis(t.0));
    let from_record = records.first().and_then(Option::as_ref).and_then(|r| r.submitted_ms);
    from_status.or(from_record).unwrap_or_else(|| millis(Timestamp::now()))
}

async fn load(
    queue: &TaskQueue,
    namespace: &SubjectToken,
    step: &Step,
) -> Result<Option<TaskRecord>, ReconcileError> {
    let agent = token(&step.agent)?;
    let record = queue.record(namespace, &agent, &step.task).await.map_err(nats_error)?;
    Ok(record.map(|v| v.record))
}

fn token(name: &str) -> Result<SubjectToken, ReconcileError> {
    SubjectToken::new(name).map_err(|e| ReconcileError::InvalidName(e.to_string()))
}

fn nats_error(err: impl std::fmt::Display) -> ReconcileError {
    ReconcileError::Nats(err.to_string())
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
