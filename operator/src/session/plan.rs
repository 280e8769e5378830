//! What a Session asks of its agents, worked out from its spec alone: the tasks it runs (one, or
//! one per participant and a last one for the lead of a collaboration), their ids, and the
//! request of each step. Pure, so that every reconcile, before or after an operator restart,
//! asks exactly the same thing under the same task id.

use agentry_crds::{Session, SessionSpec, SessionType};
use agentry_protocol::tasks::TaskId;
use agentry_protocol::{AgentRequest, PROTOCOL_VERSION, RequestLimits, TaskRecord, Usage};

use crate::session::bounded_text::bounded;

/// Longest contribution of one participant quoted to the next steps.
const CONTRIBUTION_BYTES: usize = 16 * 1024;

/// One task of a Session: which agent works on it, under which id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Step {
    /// The Agent that answers it.
    pub agent: String,
    /// Its task id.
    pub task: TaskId,
}

/// The prefix of every task id of the Session with `uid`: `ses-<uid>`.
pub fn task_prefix(uid: &str) -> String {
    format!("ses-{uid}")
}

/// The Session's steps, in order. A collaboration is a pipeline: each participant in turn, then
/// the lead (`agentRef`), who writes the result. Any other type is one task for `agentRef`.
pub fn steps(spec: &SessionSpec, uid: &str) -> Result<Vec<Step>, agentry_protocol::tasks::InvalidTaskId> {
    let prefix = task_prefix(uid);
    if spec.type_ != SessionType::Collaboration {
        return Ok(vec![Step { agent: spec.agent_ref.clone(), task: TaskId::new(prefix)? }]);
    }
    let agents = spec.participants.iter().chain(std::iter::once(&spec.agent_ref));
    agents
        .enumerate()
        .map(|(i, agent)| Ok(Step { agent: agent.clone(), task: TaskId::new(format!("{prefix}-{i}"))? }))
        .collect()
}

/// Every Agent a Session needs: the lead first, then the participants.
pub fn agents(spec: &SessionSpec) -> impl Iterator<Item = &String> {
    std::iter::once(&spec.agent_ref).chain(spec.participants.iter())
}

/// Spend and messages of the steps that have ended.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Totals {
    /// Tokens and cost.
    pub usage: Usage,
    /// Messages.
    pub messages: u64,
}

impl Totals {
    /// Adds an ended step's reply.
    pub fn add(&mut self, record: &TaskRecord) {
        if let Some(reply) = &record.reply {
            self.usage.add(reply.usage);
            self.messages += u64::from(reply.message_count);
        }
    }
}

/// Which limit a Session used up between steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exhausted {
    /// `limits.budgetUsd`.
    Budget,
    /// `limits.maxMessages`.
    Messages,
}

/// What is left of the Session's limits for its next step, after `spent`.
pub fn remaining(spec: &SessionSpec, spent: Totals) -> Result<Option<RequestLimits>, Exhausted> {
    let Some(limits) = &spec.limits else { return Ok(None) };
    let budget_usd = match limits.budget_usd {
        Some(budget) if spent.usage.cost_usd >= budget && spent.usage.cost_usd > 0.0 => {
            return Err(Exhausted::Budget);
        }
        Some(budget) => Some(budget - spent.usage.cost_usd),
        None => None,
    };
    let max_messages = match limits.max_messages {
        Some(max) => {
            let max = u64::try_from(max).unwrap_or(0);
            if spent.messages >= max && spent.messages > 0 {
                return Err(Exhausted::Messages);
            }
            Some(u32::try_from(max - spent.messages).unwrap_or(u32::MAX))
        }
        None => None,
    };
    if budget_usd.is_none() && max_messages.is_none() {
        return Ok(None);
    }
    Ok(Some(RequestLimits { budget_usd, max_messages }))
}

/// The request of step `index`, given the records of the steps before it (all succeeded).
pub fn request(
    session: &Session,
    steps: &[Step],
    index: usize,
    before: &[TaskRecord],
    limits: Option<RequestLimits>,
    deadline_ms: Option<u64>,
) -> AgentRequest {
    let spec = &session.spec;
    AgentRequest {
        version: PROTOCOL_VERSION,
        request_id: steps[index].task.to_string(),
        session_id: session.metadata.uid.clone(),
        from: Some(format!("session/{}", session.metadata.name.clone().unwrap_or_default())),
        input: step_input(spec, steps, index, before),
        context: spec.context.clone(),
        deadline_ms,
        delegation_path: Vec::new(),
        limits,
        history: Vec::new(),
        stream: false,
    }
}

/// The input of step `index`: the Session's input, and in a collaboration who this step is and
/// what the steps before it contributed.
pub fn step_input(spec: &SessionSpec, steps: &[Step], index: usize, before: &[TaskRecord]) -> String {
    if spec.type_ != SessionType::Collaboration {
        return spec.input.clone();
    }
    let last = steps.len().saturating_sub(1);
    let mut input = spec.input.clone();
    input.push_str("\n\n---\n");
    if index == last {
        input.push_str(&format!(
            "This is a collaboration that you ({}) lead. The participants have each contributed \
             below; write the final result.\n",
            spec.agent_ref
        ));
    } else {
        input.push_str(&format!(
            "This is a collaboration led by {}. You ({}) are participant {} of {}; add your \
             contribution to the task. The lead writes the final result.\n",
            spec.agent_ref,
            steps[index].agent,
            index + 1,
            last
        ));
    }
    for (step, record) in steps.iter().zip(before) {
        let output = record.reply.as_ref().and_then(|r| r.output.as_deref()).unwrap_or_default();
        input.push_str(&format!(
            "\n## Contribution of {}\n{}\n",
            step.agent,
            bounded(output, CONTRIBUTION_BYTES)
        ));
    }
    input
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::session::fixtures::{UID, session, succeeded};
    use agentry_crds::SessionLimits;

    #[test]
    fn a_task_session_is_one_task_named_after_its_uid() {
        let s = session(serde_json::json!({}));
        let steps = steps(&s.spec, UID).expect("steps");
        assert_eq!(steps.len(), 1);
        assert_eq!(steps[0].task.as_str(), format!("ses-{UID}"));
        assert_eq!(steps[0].agent, "lead");
        let request = request(&s, &steps, 0, &[], None, Some(99));
        assert_eq!(request.request_id, steps[0].task.as_str());
        assert_eq!(request.session_id.as_deref(), Some(UID));
        assert_eq!(request.from.as_deref(), Some("session/plan"));
        assert_eq!((request.input.as_str(), request.deadline_ms), ("Plan the week.", Some(99)));
    }

    #[test]
    fn a_collaboration_is_a_pipeline_ending_with_the_lead() {
        let s = session(serde_json::json!({"type": "collaboration", "participants": ["finance", "sales"]}));
        let steps = steps(&s.spec, "u").expect("steps");
        let plan: Vec<(&str, &str)> = steps.iter().map(|s| (s.agent.as_str(), s.task.as_str())).collect();
        assert_eq!(plan, [("finance", "ses-u-0"), ("sales", "ses-u-1"), ("lead", "ses-u-2")]);
        let first = step_input(&s.spec, &steps, 0, &[]);
        assert!(first.starts_with("Plan the week.") && first.contains("participant 1 of 2"), "{first}");
        let done = [
            succeeded("ses-u-0", "Budget: 1.2M.", 0.1, 3),
            succeeded("ses-u-1", "Two deliveries at risk.", 0.1, 3),
        ];
        let second = step_input(&s.spec, &steps, 1, &done[..1]);
        assert!(second.contains("## Contribution of finance\nBudget: 1.2M."), "{second}");
        assert!(!second.contains("Two deliveries"));
        let last = step_input(&s.spec, &steps, 2, &done);
        assert!(last.contains("you (lead) lead") && last.contains("Two deliveries at risk."), "{last}");
        let agents: Vec<&String> = agents(&s.spec).collect();
        assert_eq!(agents, ["lead", "finance", "sales"]);
        // Every step's id is a valid task id even with the longest uid and 32 participants.
        assert!(TaskId::new(format!("ses-{UID}-32")).is_ok());
    }

    #[test]
    fn later_steps_get_what_is_left_of_the_limits() {
        let mut s = session(serde_json::json!({}));
        assert_eq!(remaining(&s.spec, Totals::default()), Ok(None));
        let limits = |max_messages, budget_usd| {
            Some(SessionLimits { max_messages, max_duration_seconds: Some(60), budget_usd })
        };
        s.spec.limits = limits(Some(10), Some(1.0));
        let fresh = remaining(&s.spec, Totals::default()).expect("left").expect("limits");
        assert_eq!((fresh.budget_usd, fresh.max_messages), (Some(1.0), Some(10)));
        let mut spent = Totals::default();
        spent.add(&succeeded("t", "x", 0.25, 4));
        let left = remaining(&s.spec, spent).expect("left").expect("limits");
        assert_eq!((left.budget_usd, left.max_messages), (Some(0.75), Some(6)));
        spent.add(&succeeded("t", "x", 0.75, 1));
        assert_eq!(remaining(&s.spec, spent), Err(Exhausted::Budget));
        s.spec.limits = limits(Some(5), None);
        assert_eq!(remaining(&s.spec, spent), Err(Exhausted::Messages));
        // A zero budget is passed on, not taken as spent before anything ran.
        s.spec.limits = limits(None, Some(0.0));
        assert_eq!(
            remaining(&s.spec, Totals::default()).expect("left").and_then(|l| l.budget_usd),
            Some(0.0)
        );
    }
}
