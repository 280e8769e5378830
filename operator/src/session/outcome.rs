//! Where a Session stands, read from its tasks' records: which step is next or in flight, or how
//! it ended, and what its finished steps spent. Pure: the records are the one truth, so an
//! operator that restarts reads the same answer from them.

use agentry_crds::{SessionSpec, reasons};
use agentry_protocol::{ErrorCode, TaskRecord, TaskState};

use crate::session::plan::{self, Exhausted, Step, Totals};

/// Slack for a runner that stops a task at its deadline a moment before the operator would.
const DEADLINE_SLACK_MS: u64 = 1_000;

/// How a Session ended without an answer.
#[derive(Clone, Debug, PartialEq)]
pub struct Failure {
    /// The condition reason (`BudgetExceeded`, `DeadlineExceeded`, …).
    pub reason: &'static str,
    /// What happened, for a person.
    pub message: String,
    /// When it ended, if a record says.
    pub finished_ms: Option<u64>,
    /// Whether it ran past `maxDurationSeconds` (phase `Expired`, not `Failed`).
    pub expired: bool,
}

/// Where a Session stands.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// Step `step` has not been submitted; the steps before it succeeded.
    Unsubmitted {
        /// The step's index.
        step: usize,
    },
    /// Step `step` is queued or running.
    InFlight {
        /// The step's index.
        step: usize,
        /// Its record (boxed: it holds the whole request's reply when there is one).
        record: Box<TaskRecord>,
    },
    /// The last step answered.
    Succeeded {
        /// The answer.
        output: String,
        /// When it ended.
        finished_ms: Option<u64>,
    },
    /// A step ended without an answer, or the limits ran out between steps.
    Failed(Failure),
}

/// What the records say.
#[derive(Clone, Debug, PartialEq)]
pub struct Observed {
    /// Where the Session stands.
    pub outcome: Outcome,
    /// What the ended steps spent.
    pub totals: Totals,
    /// When the first step was submitted.
    pub first_submitted_ms: Option<u64>,
}

/// The condition reason for an agent's error code.
pub fn reason_of(code: ErrorCode) -> &'static str {
    match code {
        ErrorCode::BadRequest => reasons::BAD_REQUEST,
        ErrorCode::Busy => reasons::BUSY,
        ErrorCode::Timeout => reasons::TIMEOUT,
        ErrorCode::MaxTurns => reasons::MAX_TURNS,
        ErrorCode::MaxMessages => reasons::MAX_MESSAGES,
        ErrorCode::BudgetExceeded => reasons::BUDGET_EXCEEDED,
        ErrorCode::ModelUnavailable => reasons::MODEL_UNAVAILABLE,
        ErrorCode::ModelRejected => reasons::MODEL_REJECTED,
        ErrorCode::DelegationCycle => reasons::DELEGATION_CYCLE,
        ErrorCode::DelegationDepth => reasons::DELEGATION_DEPTH,
        ErrorCode::ShuttingDown => reasons::SHUTTING_DOWN,
        ErrorCode::TooLarge => reasons::TOO_LARGE,
        ErrorCode::Forbidden => reasons::FORBIDDEN,
        ErrorCode::Internal => reasons::INTERNAL_ERROR,
    }
}

/// The Session's standing from `records` (aligned with `steps`; a missing or absent one has
/// not been submitted), given its deadline.
pub fn observe(
    spec: &SessionSpec,
    steps: &[Step],
    records: &[Option<TaskRecord>],
    deadline_ms: Option<u64>,
) -> Observed {
    let mut totals = Totals::default();
    let first_submitted_ms = records.first().and_then(|r| r.as_ref()).and_then(|r| r.submitted_ms);
    let observed = |outcome, totals| Observed { outcome, totals, first_submitted_ms };
    for (index, step) in steps.iter().enumerate() {
        let Some(record) = records.get(index).and_then(Option::as_ref) else {
            let outcome = match plan::remaining(spec, totals) {
                Err(exhausted) => {
                    Outcome::Failed(exhausted_failure(spec, exhausted, totals, index, steps.len()))
                }
                Ok(_) => Outcome::Unsubmitted { step: index },
            };
            return observed(outcome, totals);
        };
        let last = index + 1 == steps.len();
        match record.state {
            TaskState::Queued | TaskState::Running => {
                return observed(Outcome::InFlight { step: index, record: Box::new(record.clone()) }, totals);
            }
            TaskState::Succeeded => {
                totals.add(record);
                if last {
                    let output = record.reply.as_ref().and_then(|r| r.output.clone()).unwrap_or_default();
                    return observed(Outcome::Succeeded { output, finished_ms: record.finished_ms }, totals);
                }
            }
            TaskState::Failed | TaskState::Cancelled => {
                totals.add(record);
                return observed(Outcome::Failed(ended_failure(step, record, deadline_ms)), totals);
            }
        }
    }
    // No steps at all cannot happen (there is always the lead's); report it as a failure rather
    // than loop.
    let failure = Failure {
        reason: reasons::TASK_FAILED,
        message: "the Session has no steps".into(),
        finished_ms: None,
        expired: false,
    };
    observed(Outcome::Failed(failure), totals)
}

/// Why a task that ended without an answer ended.
fn ended_failure(step: &Step, record: &TaskRecord, deadline_ms: Option<u64>) -> Failure {
    let finished_ms = record.finished_ms;
    let past = |slack: u64| match (deadline_ms, finished_ms) {
        (Some(deadline), Some(finished)) => finished + slack >= deadline,
        _ => false,
    };
    let error = record.reply.as_ref().and_then(|r| r.error.as_ref());
    if record.state == TaskState::Cancelled || error.is_some_and(|e| e.code == ErrorCode::Timeout) {
        let slack = if record.state == TaskState::Cancelled { 0 } else { DEADLINE_SLACK_MS };
        if past(slack) {
            return expired(step, finished_ms);
        }
    }
    let (reason, message) = match (record.state, error) {
        (TaskState::Cancelled, _) => (
            reasons::CANCELLED,
            format!(
                "task {} was cancelled: {}",
                step.task,
                record.message.as_deref().unwrap_or("no reason given")
            ),
        ),
        (_, Some(error)) => (reason_of(error.code), format!("Agent {}: {}", step.agent, error.message)),
        (_, None) => (
            reasons::TASK_FAILED,
            format!(
                "task {} failed: {}",
                step.task,
                record.message.as_deref().unwrap_or("no reason recorded")
            ),
        ),
    };
    Failure { reason, message, finished_ms, expired: false }
}

/// The failure of a Session that ran past its deadline while `step` was pending.
pub fn expired(step: &Step, finished_ms: Option<u64>) -> Failure {
    Failure {
        reason: reasons::DEADLINE_EXCEEDED,
        message: format!(
            "the Session ran past limits.maxDurationSeconds; task {} (Agent {}) was stopped",
            step.task, step.agent
        ),
        finished_ms,
        expired: true,
    }
}

/// The failure of a started Session whose first task's record is gone: running it again could
/// do its work twice.
pub fn lost(step: &Step) -> Failure {
    Failure {
        reason: reasons::TASK_LOST,
        message: format!(
            "the record of task {} is gone (task records are kept 7 days, or it was removed); the \
             Session is not run again",
            step.task
        ),
        finished_ms: None,
        expired: false,
    }
}

fn exhausted_failure(
    spec: &SessionSpec,
    exhausted: Exhausted,
    totals: Totals,
    done: usize,
    steps: usize,
) -> Failure {
    let limits = spec.limits.clone().unwrap_or(agentry_crds::SessionLimits {
        max_messages: None,
        max_duration_seconds: None,
        budget_usd: None,
    });
    let (reason, message) = match exhausted {
        Exhausted::Budget => (
            reasons::BUDGET_EXCEEDED,
            format!(
                "{:.6} USD spent, limits.budgetUsd is {} USD; stopped after {done} of {steps} steps",
                totals.usage.cost_usd,
                limits.budget_usd.unwrap_or_default()
            ),
        ),
        Exhausted::Messages => (
            reasons::MAX_MESSAGES,
            format!(
                "{} messages, limits.maxMessages is {}; stopped after {done} of {steps} steps",
                totals.messages,
                limits.max_messages.unwrap_or_default()
            ),
        ),
    };
    Failure { reason, message, finished_ms: None, expired: false }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::fixtures::{UID, failed, record, session, succeeded};
    use crate::session::plan::steps;

    fn task() -> String {
        format!("ses-{UID}")
    }

    fn single(records: &[Option<TaskRecord>], deadline_ms: Option<u64>) -> Observed {
        let s = session(serde_json::json!({}));
        observe(&s.spec, &steps(&s.spec, UID).expect("steps"), records, deadline_ms)
    }

    #[test]
    fn a_task_goes_from_unsubmitted_to_in_flight_to_succeeded() {
        assert_eq!(single(&[], None).outcome, Outcome::Unsubmitted { step: 0 });
        assert_eq!(single(&[None], None).outcome, Outcome::Unsubmitted { step: 0 });
        let queued = record(&task(), TaskState::Queued);
        let observed = single(&[Some(queued.clone())], None);
        assert_eq!(observed.outcome, Outcome::InFlight { step: 0, record: Box::new(queued) });
        assert_eq!(observed.first_submitted_ms, Some(1_000));
        let done = single(&[Some(succeeded(&task(), "Repair it.", 0.02, 7))], None);
        assert_eq!(
            done.outcome,
            Outcome::Succeeded { output: "Repair it.".into(), finished_ms: Some(5_000) }
        );
        assert_eq!((done.totals.messages, done.totals.usage.cost_usd), (7, 0.02));
    }

    #[test]
    fn failures_carry_the_agents_reason_and_message() {
        let budget =
            single(&[Some(failed(&task(), ErrorCode::BudgetExceeded, "spent 0.5 of 0.1 USD"))], None);
        let Outcome::Failed(f) = budget.outcome else { panic!("failed: {budget:?}") };
        assert_eq!(
            (f.reason, f.message.as_str(), f.expired),
            ("BudgetExceeded", "Agent lead: spent 0.5 of 0.1 USD", false)
        );
        assert_eq!(budget.totals.usage.cost_usd, 0.5, "a failed step's spend counts");
        for (code, reason) in
            [(ErrorCode::MaxMessages, "MaxMessages"), (ErrorCode::ModelUnavailable, "ModelUnavailable")]
        {
            let Outcome::Failed(f) = single(&[Some(failed(&task(), code, "x"))], None).outcome else {
                panic!()
            };
            assert_eq!(f.reason, reason);
        }
        let mut cut_off = record(&task(), TaskState::Failed);
        cut_off.message = Some("gave up after 5 runs".into());
        let Outcome::Failed(f) = single(&[Some(cut_off)], None).outcome else { panic!() };
        assert_eq!(f.reason, "TaskFailed");
        assert!(f.message.ends_with("gave up after 5 runs"), "{}", f.message);
    }

    #[test]
    fn a_cancellation_is_a_failure_unless_the_deadline_caused_it() {
        let mut cancelled = record(&task(), TaskState::Cancelled);
        cancelled.message = Some("no longer needed".into());
        let Outcome::Failed(f) = single(&[Some(cancelled.clone())], Some(10_000)).outcome else { panic!() };
        assert_eq!((f.reason, f.expired), ("Cancelled", false));
        assert!(f.message.contains("no longer needed"));
        // Finished (at 5 s) at or after the deadline: the operator stopped it for running late.
        let Outcome::Failed(f) = single(&[Some(cancelled)], Some(5_000)).outcome else { panic!() };
        assert_eq!((f.reason, f.expired, f.finished_ms), ("DeadlineExceeded", true, Some(5_000)));
        // A runner that hit the task's deadline itself reports a timeout: expired as well.
        let timeout = failed(&task(), ErrorCode::Timeout, "deadline passed");
        let Outcome::Failed(f) = single(&[Some(timeout.clone())], Some(5_500)).outcome else { panic!() };
        assert!(f.expired);
        // …but an agent's own timeout well before the deadline is just a failure.
        let Outcome::Failed(f) = single(&[Some(timeout)], Some(60_000)).outcome else { panic!() };
        assert_eq!((f.reason, f.expired), ("Timeout", false));
    }

    #[test]
    fn a_collaboration_moves_step_by_step_and_sums_its_spend() {
        let s = session(serde_json::json!({"type": "collaboration", "participants": ["finance", "sales"],
            "limits": {"budgetUsd": 0.3, "maxMessages": 100}}));
        let steps = steps(&s.spec, "u").expect("steps");
        let first = Some(succeeded("ses-u-0", "a", 0.1, 3));
        let observed = observe(&s.spec, &steps, std::slice::from_ref(&first), None);
        assert_eq!(observed.outcome, Outcome::Unsubmitted { step: 1 });
        assert_eq!(observed.totals.messages, 3);
        let second = Some(succeeded("ses-u-1", "b", 0.1, 4));
        let lead = Some(succeeded("ses-u-2", "final", 0.05, 5));
        let done = observe(&s.spec, &steps, &[first.clone(), second, lead], None);
        assert!(matches!(done.outcome, Outcome::Succeeded { ref output, .. } if output == "final"));
        assert_eq!(done.totals.messages, 12);
        assert!((done.totals.usage.cost_usd - 0.25).abs() < 1e-9);
        // The budget ran out after the second step: the lead's step is never submitted.
        let costly = Some(succeeded("ses-u-1", "b", 0.2, 4));
        let Outcome::Failed(f) = observe(&s.spec, &steps, &[first, costly], None).outcome else { panic!() };
        assert_eq!(f.reason, "BudgetExceeded");
        assert!(f.message.contains("after 2 of 3 steps"), "{}", f.message);
    }
}
