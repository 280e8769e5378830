//! A Session's tasks on the queue: their records read in step order, the next step submitted,
//! an overdue one cancelled. Submission is idempotent on the task id and decided by the records
//! alone, so a restarted operator carries on where its predecessor stood.

use agentry_crds::Session;
use agentry_protocol::tasks::TASK_DEDUP_WINDOW_SECONDS;
use agentry_protocol::{AgentRequest, SubjectToken, TaskRecord, TaskState};
use agentry_task_queue::TaskQueue;
use k8s_openapi::jiff::Timestamp;

use crate::reconciler::error::ReconcileError;
use crate::session::outcome::{self, Observed, Outcome};
use crate::session::plan::{self, Step};
use crate::session::status::{deadline_ms, millis};

/// A queued, never-run task is published again (harmlessly: the stream drops the duplicate)
/// only this long after its submission, well inside the stream's duplicate window.
const REPUBLISH_WITHIN_MS: u64 = (TASK_DEDUP_WINDOW_SECONDS - 60) * 1_000;
/// What a cancelled overdue task's record says.
const DEADLINE_CANCEL_REASON: &str = "the Session ran past limits.maxDurationSeconds";

/// One Session's steps and what their records say.
pub struct Pipeline<'a> {
    session: &'a Session,
    steps: &'a [Step],
    queue: &'a TaskQueue,
    namespace: &'a SubjectToken,
    /// Records in step order, up to the first step that has not succeeded.
    records: Vec<Option<TaskRecord>>,
}

impl<'a> Pipeline<'a> {
    /// Reads the records of the steps, in order, up to the first that has not succeeded.
    pub async fn load(
        session: &'a Session,
        steps: &'a [Step],
        queue: &'a TaskQueue,
        namespace: &'a SubjectToken,
    ) -> Result<Self, ReconcileError> {
        let mut pipeline = Self { session, steps, queue, namespace, records: Vec::new() };
        for step in steps {
            let agent = token(&step.agent)?;
            let record = queue.record(namespace, &agent, &step.task).await.map_err(nats_error)?;
            let record = record.map(|v| v.record);
            let succeeded = record.as_ref().is_some_and(|r| r.state == TaskState::Succeeded);
            pipeline.records.push(record);
            if !succeeded {
                break;
            }
        }
        Ok(pipeline)
    }

    /// Submits the next step or cancels an overdue one; returns where the Session then stands.
    pub async fn advance(mut self) -> Result<Observed, ReconcileError> {
        if record_lost(self.session, &self.records) {
            let outcome = Outcome::Failed(outcome::lost(&self.steps[0]));
            return Ok(Observed { outcome, totals: Default::default(), first_submitted_ms: None });
        }
        // Each pass submits or cancels at most one step; a submission that finds its step
        // already ended moves on to the next.
        for _ in 0..=self.steps.len() {
            let deadline = self.deadline_ms();
            let now = millis(Timestamp::now());
            let overdue = deadline.is_some_and(|d| now >= d);
            let observed = outcome::observe(&self.session.spec, self.steps, &self.records, deadline);
            match &observed.outcome {
                Outcome::Unsubmitted { step } if overdue => {
                    let failure = outcome::expired(&self.steps[*step], None);
                    return Ok(Observed { outcome: Outcome::Failed(failure), ..observed });
                }
                Outcome::Unsubmitted { step } => {
                    let record = self.submit(*step, &observed, deadline).await?;
                    tracing::info!(task = %self.steps[*step].task, agent = %self.steps[*step].agent, "task submitted");
                    self.records.truncate(*step);
                    self.records.push(Some(record));
                }
                Outcome::InFlight { step, .. } if overdue => {
                    let s = &self.steps[*step];
                    let agent = token(&s.agent)?;
                    let cancel = self.queue.cancel(self.namespace, &agent, &s.task, DEADLINE_CANCEL_REASON);
                    self.records[*step] = cancel.await.map_err(nats_error)?;
                }
                Outcome::InFlight { step, record } => {
                    if republish_due(record, now) {
                        // An operator stopped between writing the record and publishing the
                        // task would otherwise leave it queued forever; within the duplicate
                        // window the stream drops the second publication if the first got
                        // through.
                        self.submit(*step, &observed, deadline).await?;
                    }
                    return Ok(observed);
                }
                Outcome::Succeeded { .. } | Outcome::Failed(_) => return Ok(observed),
            }
        }
        Ok(outcome::observe(&self.session.spec, self.steps, &self.records, self.deadline_ms()))
    }

    async fn submit(
        &self,
        step: usize,
        observed: &Observed,
        deadline: Option<u64>,
    ) -> Result<TaskRecord, ReconcileError> {
        let request = self.request(step, observed, deadline);
        let agent = token(&self.steps[step].agent)?;
        self.queue.submit(self.namespace, &agent, &request).await.map_err(nats_error)
    }

    fn request(&self, step: usize, observed: &Observed, deadline: Option<u64>) -> AgentRequest {
        let before: Vec<TaskRecord> = self.records.iter().take(step).flatten().cloned().collect();
        // Exhausted limits end the Session in `observe`, before any submission.
        let limits = plan::remaining(&self.session.spec, observed.totals).unwrap_or(None);
        plan::request(self.session, self.steps, step, &before, limits, deadline)
    }

    /// The Session's deadline, from when its first task was submitted (to the millisecond, as
    /// that task's own deadline was computed), else its status, else now.
    fn deadline_ms(&self) -> Option<u64> {
        let from_record = self.records.first().and_then(Option::as_ref).and_then(|r| r.submitted_ms);
        let status = self.session.status.as_ref();
        let from_status = status.and_then(|s| s.started_at.as_ref()).map(|t| millis(t.0));
        let started = from_record.or(from_status).unwrap_or_else(|| millis(Timestamp::now()));
        deadline_ms(self.session, started)
    }
}

/// Whether a Session that has started lacks its first task's record. Its status says it started
/// only once that record was written, so the record has expired or been removed since.
fn record_lost(session: &Session, records: &[Option<TaskRecord>]) -> bool {
    let started = session.status.as_ref().is_some_and(|s| s.started_at.is_some());
    started && records.first().is_none_or(Option::is_none)
}

fn republish_due(record: &TaskRecord, now_ms: u64) -> bool {
    record.state == TaskState::Queued
        && record.attempts == 0
        && record.submitted_ms.is_some_and(|s| now_ms < s + REPUBLISH_WITHIN_MS)
}

fn token(name: &str) -> Result<SubjectToken, ReconcileError> {
    SubjectToken::new(name).map_err(|e| ReconcileError::InvalidName(e.to_string()))
}

fn nats_error(err: impl std::fmt::Display) -> ReconcileError {
    ReconcileError::Nats(err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::fixtures::{record, session};

    #[test]
    fn only_a_never_run_task_inside_the_duplicate_window_is_published_again() {
        let queued = record("t", TaskState::Queued);
        assert!(republish_due(&queued, 1_000 + REPUBLISH_WITHIN_MS - 1));
        assert!(
            !republish_due(&queued, 1_000 + REPUBLISH_WITHIN_MS),
            "past the window a copy would run twice"
        );
        let retried = TaskRecord { attempts: 1, ..queued };
        assert!(
            !republish_due(&retried, 1_001),
            "a task back in the queue for a retry is still in the stream"
        );
        assert!(!republish_due(&record("t", TaskState::Running), 1_001));
    }

    #[test]
    fn a_started_session_without_its_first_record_has_lost_it() {
        let mut s = session(serde_json::json!({}));
        assert!(!record_lost(&s, &[None]), "not started: the task is simply not submitted yet");
        s.status = Some(agentry_crds::SessionStatus {
            started_at: Some(k8s_openapi::apimachinery::pkg::apis::meta::v1::Time(Timestamp::now())),
            ..Default::default()
        });
        assert!(record_lost(&s, &[None]));
        assert!(!record_lost(&s, &[Some(record("t", TaskState::Running))]));
    }
}
