//! What a finished task run means for the task (docs/protocol.md "How runners work on tasks"):
//! the state its record takes, how its message is settled and the metric outcome. Pure, so the
//! rules are tested without a server.

use std::time::Duration;

use agentry_protocol::tasks::{MAX_TASK_ATTEMPTS, retry_backoff_seconds};
use agentry_protocol::{AgentReply, ErrorCode, TaskRecord, TaskState};

/// How a delivered task message is settled with JetStream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Settle {
    /// Done with: the record holds the end, or the task ended elsewhere.
    Ack,
    /// Deliver it again, after the pause if one is given.
    Nak(Option<Duration>),
    /// Never deliver it again: it cannot be recorded (no usable task id).
    Term,
}

/// The `outcome` label of `agentry_tasks_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// Answered.
    Succeeded,
    /// Ended without an answer.
    Failed,
    /// Cancelled while it ran.
    Cancelled,
    /// Put back for another run after a retryable failure.
    Retried,
    /// Handed back by a draining runner whose grace period ran out.
    Released,
    /// Not run: it had already ended, or it could not be read.
    Skipped,
}

impl Outcome {
    /// The metric label.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
            Self::Cancelled => "cancelled",
            Self::Retried => "retried",
            Self::Released => "released",
            Self::Skipped => "skipped",
        }
    }
}

/// The record a run's reply leads to, and how to settle the message once it is written.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Verdict {
    /// The record to write over the claimed one.
    pub(crate) record: TaskRecord,
    /// How to settle the message after the record is written.
    pub(crate) settle: Settle,
    /// What to count.
    pub(crate) outcome: Outcome,
}

/// What run `attempt` replying `reply` makes of the task `claimed`.
pub(crate) fn judge(claimed: &TaskRecord, reply: AgentReply, attempt: u32) -> Verdict {
    let mut record = claimed.clone();
    let Some(error) = reply.error.clone() else {
        record.state = TaskState::Succeeded;
        record.message = None;
        record.reply = Some(reply);
        return Verdict { record, settle: Settle::Ack, outcome: Outcome::Succeeded };
    };
    let code = error.code.as_str();
    if error.code.is_retryable() && attempt < MAX_TASK_ATTEMPTS {
        let pause = retry_backoff_seconds(attempt);
        record.state = TaskState::Queued;
        record.message = Some(format!(
            "run {attempt} of {MAX_TASK_ATTEMPTS} failed ({code}): {}; next run in {pause} s",
            error.message
        ));
        record.reply = None;
        let settle = Settle::Nak(Some(Duration::from_secs(pause)));
        return Verdict { record, settle, outcome: Outcome::Retried };
    }
    record.state = TaskState::Failed;
    record.message = Some(if error.code.is_retryable() {
        format!("gave up after {MAX_TASK_ATTEMPTS} runs; the last failed ({code}): {}", error.message)
    } else {
        error.message
    });
    record.reply = Some(reply);
    Verdict { record, settle: Settle::Ack, outcome: Outcome::Failed }
}

/// The record of a task delivered once more after all its runs were used up without one of them
/// ending it (each cut off: its runner stopped or lost contact).
pub(crate) fn given_up(current: &TaskRecord) -> TaskRecord {
    let mut record = current.clone();
    let last = current.message.as_deref().map(|m| format!("; last: {m}")).unwrap_or_default();
    let message = format!(
        "gave up after {MAX_TASK_ATTEMPTS} runs: none of them finished (each was cut off before it \
         ended){last}"
    );
    record.state = TaskState::Failed;
    record.attempts = record.attempts.max(MAX_TASK_ATTEMPTS);
    record.reply = Some(AgentReply::failure(&current.task_id, ErrorCode::Internal, &message));
    record.message = Some(message);
    record
}

/// The record of a run handed back by a draining runner.
pub(crate) fn released(claimed: &TaskRecord) -> TaskRecord {
    let mut record = claimed.clone();
    record.state = TaskState::Queued;
    record.message = Some("released by a draining runner".to_string());
    record
}

#[cfg(test)]
mod tests {
    use agentry_protocol::tasks::TaskId;
    use agentry_protocol::{PROTOCOL_VERSION, SubjectToken, Usage};

    use super::*;

    fn running() -> TaskRecord {
        let token = |s: &str| SubjectToken::new(s).expect("token");
        let mut record =
            TaskRecord::queued(&token("fleet"), &token("planner"), &TaskId::new("t-1").expect("id"), 1);
        record.state = TaskState::Running;
        record
    }

    fn answer(text: &str) -> AgentReply {
        AgentReply {
            version: PROTOCOL_VERSION,
            request_id: "t-1".into(),
            output: Some(text.into()),
            model: Some("m".into()),
            usage: Usage::default(),
            tool_calls: Vec::new(),
            message_count: 2,
            error: None,
        }
    }

    #[test]
    fn an_answer_succeeds_and_is_kept() {
        let verdict = judge(&running(), answer("done"), 1);
        assert_eq!(
            (verdict.record.state, verdict.settle, verdict.outcome),
            (TaskState::Succeeded, Settle::Ack, Outcome::Succeeded)
        );
        assert_eq!(verdict.record.reply.and_then(|r| r.output).as_deref(), Some("done"));
    }

    #[test]
    fn a_final_error_fails_at_once() {
        let reply = AgentReply::failure("t-1", ErrorCode::MaxTurns, "no answer after 1 model turns");
        let verdict = judge(&running(), reply, 1);
        assert_eq!((verdict.record.state, verdict.settle), (TaskState::Failed, Settle::Ack));
        assert_eq!(verdict.record.message.as_deref(), Some("no answer after 1 model turns"));
        assert_eq!(verdict.record.reply.and_then(|r| r.error).map(|e| e.code), Some(ErrorCode::MaxTurns));
    }

    #[test]
    fn a_retryable_error_queues_the_task_with_the_backoff_until_the_last_run() {
        let reply = AgentReply::failure("t-1", ErrorCode::ModelUnavailable, "HTTP 500");
        let second = judge(&running(), reply.clone(), 2);
        assert_eq!(second.record.state, TaskState::Queued);
        assert_eq!(second.settle, Settle::Nak(Some(Duration::from_secs(5))));
        assert_eq!(second.outcome, Outcome::Retried);
        assert_eq!(
            second.record.message.as_deref(),
            Some("run 2 of 5 failed (model_unavailable): HTTP 500; next run in 5 s")
        );
        assert!(second.record.reply.is_none(), "a queued task has no reply");
        let last = judge(&running(), reply, MAX_TASK_ATTEMPTS);
        assert_eq!((last.record.state, last.settle), (TaskState::Failed, Settle::Ack));
        assert_eq!(
            last.record.message.as_deref(),
            Some("gave up after 5 runs; the last failed (model_unavailable): HTTP 500")
        );
    }

    #[test]
    fn a_task_whose_runs_were_all_cut_off_fails_naming_why() {
        let mut current = running();
        current.message = Some("released by a draining runner".into());
        let record = given_up(&current);
        assert_eq!(record.state, TaskState::Failed);
        let message = record.message.clone().unwrap_or_default();
        assert!(message.starts_with("gave up after 5 runs: none of them finished"), "{message}");
        assert!(message.ends_with("; last: released by a draining runner"), "{message}");
        assert_eq!(record.reply.and_then(|r| r.error).map(|e| e.code), Some(ErrorCode::Internal));
        assert_eq!(released(&running()).state, TaskState::Queued);
    }
}
