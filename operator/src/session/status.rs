//! A Session's status from where it stands: phase, the `Active`, `Ended`, `Complete` and
//! `Failed` conditions `kubectl wait` reads, times, usage and the bounded result; and the times that follow from it
//! (the deadline, when a finished Session is deleted). Pure, tested on its own.

use agentry_crds::{
    Condition, ConditionStatus, Session, SessionPhase, SessionStatus, Usage, condition_types, reasons,
    set_condition,
};
use agentry_protocol::TaskState;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::{SignedDuration, Timestamp};
use kube::runtime::events::EventType;

use crate::session::bounded_text::bounded;
use crate::session::outcome::{Observed, Outcome};
use crate::session::plan::{Step, Totals};

/// Longest `status.result`, as the schema allows.
pub const RESULT_BYTES: usize = 32 * 1024;
/// Longest condition message written.
const MESSAGE_BYTES: usize = 4 * 1024;

/// Whether a phase is final.
pub fn is_finished(phase: Option<SessionPhase>) -> bool {
    matches!(phase, Some(SessionPhase::Succeeded | SessionPhase::Failed | SessionPhase::Expired))
}

/// Milliseconds since the Unix epoch of `time`.
pub fn millis(time: Timestamp) -> u64 {
    u64::try_from(time.as_millisecond()).unwrap_or_default()
}

fn time_of(ms: u64) -> Option<Time> {
    Timestamp::from_millisecond(i64::try_from(ms).ok()?).ok().map(Time)
}

/// The moment the Session must have ended: `startedAt + maxDurationSeconds`.
pub fn deadline_ms(session: &Session, started_ms: u64) -> Option<u64> {
    let seconds = session.spec.limits.as_ref()?.max_duration_seconds?;
    Some(started_ms + u64::try_from(seconds).ok()? * 1_000)
}

/// When a Session with `status` is to be deleted: `completedAt + ttlSecondsAfterFinished`.
pub fn delete_at(session: &Session, status: &SessionStatus) -> Option<Timestamp> {
    let ttl = session.spec.ttl_seconds_after_finished?;
    if !is_finished(status.phase) {
        return None;
    }
    let completed = status.completed_at.as_ref()?.0;
    Some(completed + SignedDuration::from_secs(i64::from(ttl)))
}

/// The status of a Session waiting for Agent `missing`.
pub fn waiting_for_agent(session: &Session, missing: &str) -> SessionStatus {
    let ns = session.metadata.namespace.clone().unwrap_or_default();
    let message =
        format!("Agent {missing} does not exist in namespace {ns}; the Session starts once it does");
    pending(session, reasons::AGENT_NOT_FOUND, &message)
}

/// The status of a Session not yet started, for `reason`.
pub fn pending(session: &Session, reason: &str, message: &str) -> SessionStatus {
    let old = session.status.clone().unwrap_or_default();
    let mut status = SessionStatus {
        observed_generation: session.metadata.generation,
        phase: Some(SessionPhase::Pending),
        session_id: session.metadata.uid.clone(),
        ..old
    };
    set_both(&mut status, session, (ConditionStatus::False, ConditionStatus::False), reason, message);
    status
}

/// The status of a Session whose tasks `observed` describes, with `steps`, seen at `now`.
pub fn desired(session: &Session, steps: &[Step], observed: &Observed, now: Timestamp) -> SessionStatus {
    let old = session.status.clone().unwrap_or_default();
    let started_at =
        old.started_at.clone().or_else(|| observed.first_submitted_ms.and_then(time_of)).unwrap_or(Time(now));
    let completed = |finished_ms: Option<u64>| {
        old.completed_at.clone().or_else(|| finished_ms.and_then(time_of)).or(Some(Time(now)))
    };
    let (phase, completed_at, result) = match &observed.outcome {
        Outcome::Unsubmitted { .. } | Outcome::InFlight { .. } => (SessionPhase::Running, None, None),
        Outcome::Succeeded { output, finished_ms } => {
            (SessionPhase::Succeeded, completed(*finished_ms), Some(bounded(output, RESULT_BYTES)))
        }
        Outcome::Failed(f) if f.expired => (SessionPhase::Expired, completed(f.finished_ms), None),
        Outcome::Failed(f) => (SessionPhase::Failed, completed(f.finished_ms), None),
    };
    let mut status = SessionStatus {
        observed_generation: session.metadata.generation,
        phase: Some(phase),
        conditions: old.conditions.clone(),
        started_at: Some(started_at),
        completed_at,
        message_count: Some(i64::try_from(observed.totals.messages).unwrap_or(i64::MAX)),
        usage: Some(usage_of(observed.totals)),
        result,
        session_id: session.metadata.uid.clone(),
    };
    let (statuses, reason, message) = conditions(steps, observed);
    set_both(&mut status, session, statuses, reason, &message);
    status
}

fn usage_of(totals: Totals) -> Usage {
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    Usage {
        input_tokens: count(totals.usage.input_tokens),
        output_tokens: count(totals.usage.output_tokens),
        cost_usd: totals.usage.cost_usd,
    }
}

/// `(Complete, Failed)`, the reason both carry, and the message.
fn conditions(
    steps: &[Step],
    observed: &Observed,
) -> ((ConditionStatus, ConditionStatus), &'static str, String) {
    use ConditionStatus::{False, True};
    let of = |step: usize| {
        if steps.len() > 1 { format!(" (step {} of {})", step + 1, steps.len()) } else { String::new() }
    };
    match &observed.outcome {
        Outcome::Unsubmitted { step } => {
            let s = &steps[*step];
            (
                (False, False),
                reasons::TASK_QUEUED,
                format!("submitting task {} to Agent {}{}", s.task, s.agent, of(*step)),
            )
        }
        Outcome::InFlight { step, record } if record.state == TaskState::Running => {
            let s = &steps[*step];
            let runner = record.runner.as_deref().unwrap_or("a runner");
            let message = format!(
                "{runner} of Agent {} is working on task {}{}, run {}",
                s.agent,
                s.task,
                of(*step),
                record.attempts
            );
            ((False, False), reasons::TASK_RUNNING, message)
        }
        Outcome::InFlight { step, .. } => {
            let s = &steps[*step];
            let message = format!("task {}{} waits for a runner of Agent {}", s.task, of(*step), s.agent);
            ((False, False), reasons::TASK_QUEUED, message)
        }
        Outcome::Succeeded { .. } => {
            let lead = steps.last().map(|s| s.agent.as_str()).unwrap_or_default();
            let message = format!(
                "answered by Agent {lead} in {} messages for {:.6} USD",
                observed.totals.messages, observed.totals.usage.cost_usd
            );
            ((True, False), reasons::SUCCEEDED, message)
        }
        Outcome::Failed(f) => ((False, True), f.reason, f.message.clone()),
    }
}

/// Sets `Complete` and `Failed` as given, and `Active` and `Ended` from `status.phase`, all with
/// `reason` and `message`, so `kubectl wait` can wait for a start, an end or either outcome.
fn set_both(
    status: &mut SessionStatus,
    session: &Session,
    (complete, failed): (ConditionStatus, ConditionStatus),
    reason: &str,
    message: &str,
) {
    let generation = session.metadata.generation;
    let message = bounded(message, MESSAGE_BYTES);
    let holds = |yes: bool| if yes { ConditionStatus::True } else { ConditionStatus::False };
    let active = holds(status.phase == Some(SessionPhase::Running));
    let ended = holds(is_finished(status.phase));
    let conditions = [
        (condition_types::ACTIVE, active),
        (condition_types::ENDED, ended),
        (condition_types::COMPLETE, complete),
        (condition_types::FAILED, failed),
    ];
    for (type_, holds) in conditions {
        set_condition(&mut status.conditions, Condition::new(type_, holds, reason, &message, generation));
    }
}

/// The Event a change from `before` to `after` deserves, `(type, reason, note)`: what a person
/// acts on.
pub fn event(before: Option<&SessionStatus>, after: &SessionStatus) -> Option<(EventType, String, String)> {
    let was = before.and_then(|s| s.phase);
    let failed =
        |s: &SessionStatus| s.conditions.iter().find(|c| c.type_ == condition_types::FAILED).cloned();
    let condition = failed(after)?;
    let reason_before = before.and_then(failed).map(|c| c.reason);
    let (type_, reason) = match after.phase? {
        SessionPhase::Pending if reason_before.as_deref() != Some(condition.reason.as_str()) => {
            (EventType::Warning, condition.reason)
        }
        SessionPhase::Running if was != Some(SessionPhase::Running) => (EventType::Normal, "Started".into()),
        SessionPhase::Succeeded if was != Some(SessionPhase::Succeeded) => {
            (EventType::Normal, reasons::SUCCEEDED.into())
        }
        SessionPhase::Failed if was != Some(SessionPhase::Failed) => (EventType::Warning, condition.reason),
        SessionPhase::Expired if was != Some(SessionPhase::Expired) => (EventType::Warning, "Expired".into()),
        _ => return None,
    };
    Some((type_, reason, condition.message))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::fixtures::{UID, failed, record, session, succeeded};
    use crate::session::outcome::observe;
    use crate::session::plan::steps;
    use agentry_protocol::{ErrorCode, TaskRecord};

    fn status_after(s: &Session, records: &[Option<TaskRecord>], deadline: Option<u64>) -> SessionStatus {
        let steps = steps(&s.spec, UID).expect("steps");
        desired(s, &steps, &observe(&s.spec, &steps, records, deadline), Timestamp::now())
    }

    fn condition<'a>(status: &'a SessionStatus, type_: &str) -> (ConditionStatus, &'a str) {
        let c = status.conditions.iter().find(|c| c.type_ == type_).expect("condition");
        (c.status, c.reason.as_str())
    }

    #[test]
    fn pending_names_the_missing_agent_once() {
        let s = session(serde_json::json!({}));
        let status = waiting_for_agent(&s, "lead");
        assert_eq!(status.phase, Some(SessionPhase::Pending));
        assert_eq!(condition(&status, "Complete"), (ConditionStatus::False, "AgentNotFound"));
        assert_eq!(condition(&status, "Failed"), (ConditionStatus::False, "AgentNotFound"));
        assert_eq!(condition(&status, "Active"), (ConditionStatus::False, "AgentNotFound"));
        assert_eq!(condition(&status, "Ended"), (ConditionStatus::False, "AgentNotFound"));
        assert!(status.conditions[0].message.contains("Agent lead does not exist in namespace fleet"));
        let (type_, reason, _) = event(None, &status).expect("an event");
        assert_eq!((type_, reason.as_str()), (EventType::Warning, "AgentNotFound"));
        assert_eq!(event(Some(&status), &status), None, "said once");
    }

    #[test]
    fn running_starts_at_the_submission_and_says_what_it_waits_for() {
        let s = session(serde_json::json!({}));
        let status = status_after(&s, &[Some(record(&format!("ses-{UID}"), TaskState::Queued))], None);
        assert_eq!(status.phase, Some(SessionPhase::Running));
        assert_eq!(status.started_at.as_ref().map(|t| t.0.as_millisecond()), Some(1_000));
        assert_eq!(status.session_id.as_deref(), Some(UID));
        assert_eq!(condition(&status, "Complete"), (ConditionStatus::False, "TaskQueued"));
        assert_eq!(condition(&status, "Active"), (ConditionStatus::True, "TaskQueued"));
        assert_eq!(condition(&status, "Ended"), (ConditionStatus::False, "TaskQueued"));
        assert_eq!(event(s.status.as_ref(), &status).map(|e| e.1), Some("Started".to_string()));
        let running = status_after(&s, &[Some(record(&format!("ses-{UID}"), TaskState::Running))], None);
        assert_eq!(condition(&running, "Failed"), (ConditionStatus::False, "TaskRunning"));
        assert!(running.conditions[0].message.contains("lead-7d9f-x2"), "{:?}", running.conditions);
        assert_eq!(event(Some(&status), &running), None, "still running: no second Started");
    }

    #[test]
    fn success_is_complete_with_a_bounded_result_usage_and_messages() {
        let s = session(serde_json::json!({}));
        let long = "x".repeat(RESULT_BYTES * 2);
        let status = status_after(&s, &[Some(succeeded(&format!("ses-{UID}"), &long, 0.02, 7))], None);
        assert_eq!(status.phase, Some(SessionPhase::Succeeded));
        assert_eq!(condition(&status, "Complete"), (ConditionStatus::True, "Succeeded"));
        assert_eq!(condition(&status, "Failed"), (ConditionStatus::False, "Succeeded"));
        assert_eq!(condition(&status, "Active"), (ConditionStatus::False, "Succeeded"));
        assert_eq!(condition(&status, "Ended"), (ConditionStatus::True, "Succeeded"));
        assert!(status.conditions.iter().all(|c| c.observed_generation == s.metadata.generation));
        let result = status.result.as_deref().expect("result");
        assert!(result.len() <= RESULT_BYTES && result.ends_with(crate::session::bounded_text::CUT_MARKER));
        assert_eq!(status.message_count, Some(7));
        let usage = status.usage.clone().expect("usage");
        assert_eq!((usage.input_tokens, usage.output_tokens, usage.cost_usd), (10, 5, 0.02));
        assert_eq!(status.completed_at.as_ref().map(|t| t.0.as_millisecond()), Some(5_000));
        assert_eq!(event(None, &status).map(|e| (e.0, e.1)), Some((EventType::Normal, "Succeeded".into())));
    }

    #[test]
    fn failure_and_expiry_set_failed_with_the_reason() {
        let s = session(serde_json::json!({}));
        let task = format!("ses-{UID}");
        let status = status_after(&s, &[Some(failed(&task, ErrorCode::BudgetExceeded, "over budget"))], None);
        assert_eq!(status.phase, Some(SessionPhase::Failed));
        assert_eq!(condition(&status, "Failed"), (ConditionStatus::True, "BudgetExceeded"));
        assert_eq!(condition(&status, "Complete"), (ConditionStatus::False, "BudgetExceeded"));
        assert_eq!(
            event(None, &status).map(|e| (e.0, e.1)),
            Some((EventType::Warning, "BudgetExceeded".into()))
        );
        assert_eq!(status.result, None);
        let expired = status_after(&s, &[Some(record(&task, TaskState::Cancelled))], Some(4_000));
        assert_eq!(expired.phase, Some(SessionPhase::Expired));
        assert_eq!(condition(&expired, "Failed"), (ConditionStatus::True, "DeadlineExceeded"));
        assert_eq!(condition(&expired, "Ended"), (ConditionStatus::True, "DeadlineExceeded"));
        assert_eq!(event(None, &expired).map(|e| e.1), Some("Expired".into()));
    }

    #[test]
    fn deadline_and_deletion_times() {
        let mut s = session(
            serde_json::json!({"limits": {"maxDurationSeconds": 600}, "ttlSecondsAfterFinished": 30}),
        );
        assert_eq!(deadline_ms(&s, 1_000), Some(601_000));
        let running = status_after(&s, &[Some(record(&format!("ses-{UID}"), TaskState::Running))], None);
        assert_eq!(delete_at(&s, &running), None, "a running Session is never deleted");
        let done = status_after(&s, &[Some(succeeded(&format!("ses-{UID}"), "ok", 0.0, 1))], None);
        assert_eq!(delete_at(&s, &done).map(|t| t.as_millisecond()), Some(35_000));
        s.spec.ttl_seconds_after_finished = None;
        s.spec.limits = None;
        assert_eq!((delete_at(&s, &done), deadline_ms(&s, 1_000)), (None, None));
    }
}
