//! An Agent's `Ready` condition: whether it can answer now. It holds when the runner's objects
//! were accepted, every reference resolved, and enough runners are available: at least one (when
//! any are asked for) and no fewer than the Deployment's `spec.replicas` minus its
//! `maxUnavailable`, so a healthy rolling update keeps it `True`. Pure, tested on its own.

use agentry_crds::{ConditionStatus, reasons};

use crate::agent::child_refusal::Refusal;
use crate::agent::resolution::{Resolution, Unresolved};
use crate::agent::status::Rollout;

/// The `Ready` condition: status, reason, message.
pub fn ready(
    paused: bool,
    refused: Option<&Refusal>,
    resolution: &Resolution,
    rollout: Option<Rollout>,
) -> (ConditionStatus, &'static str, String) {
    let not_ready = |reason, message: String| (ConditionStatus::False, reason, message);
    if let Some(refusal) = refused {
        return not_ready(refusal.reason, format!("the runner's objects were refused: {}", refusal.message));
    }
    if paused {
        return not_ready(reasons::PAUSED, "spec.paused is true; no runner answers".into());
    }
    if let Some(u) = first_unresolved(resolution) {
        return not_ready(u.reason, u.message.clone());
    }
    match rollout {
        None => not_ready(reasons::NO_DEPLOYMENT, "the runner Deployment does not exist yet".into()),
        Some(r) => replicas_ready(r),
    }
}

fn first_unresolved(resolution: &Resolution) -> Option<&Unresolved> {
    let models = resolution.models.as_ref().err();
    let tools = resolution.tools.as_ref().err();
    // Long-term memory is not among them: an Agent answers without it (MemoryBound says why).
    models.or(tools)
}

/// Available runners needed: `desired - maxUnavailable`, and at least one when any are asked for.
pub fn needed(rollout: Rollout) -> i32 {
    (rollout.desired - rollout.max_unavailable).max(rollout.desired.min(1))
}

fn replicas_ready(r: Rollout) -> (ConditionStatus, &'static str, String) {
    let needed = needed(r);
    let counts = format!("{}/{} runners available (at least {needed} needed)", r.available, r.desired);
    if r.available < needed {
        let reason =
            if r.available == 0 { reasons::NO_REPLICAS_READY } else { reasons::REPLICAS_UNAVAILABLE };
        return (ConditionStatus::False, reason, counts);
    }
    if r.rolled_out {
        (ConditionStatus::True, reasons::RUNNERS_AVAILABLE, counts)
    } else {
        let message = format!("{counts}; the runners are moving to the current config");
        (ConditionStatus::True, reasons::ROLLOUT_IN_PROGRESS, message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved() -> Resolution {
        Resolution { models: Ok(vec![]), tools: Ok(vec![]), memory: Ok(None) }
    }

    fn rollout(desired: i32, available: i32, max_unavailable: i32, rolled_out: bool) -> Option<Rollout> {
        let replicas = desired.max(available);
        Some(Rollout { replicas, ready: available, available, desired, max_unavailable, rolled_out })
    }

    #[test]
    fn ready_with_every_runner_available() {
        let (status, reason, message) = ready(false, None, &resolved(), rollout(2, 2, 0, true));
        assert_eq!((status, reason), (ConditionStatus::True, "RunnersAvailable"));
        assert_eq!(message, "2/2 runners available (at least 2 needed)");
    }

    #[test]
    fn a_rolling_update_within_max_unavailable_stays_ready() {
        let (status, reason, _) = ready(false, None, &resolved(), rollout(2, 2, 0, false));
        assert_eq!((status, reason), (ConditionStatus::True, "RolloutInProgress"));
        let (status, _, _) = ready(false, None, &resolved(), rollout(4, 3, 1, false));
        assert_eq!(status, ConditionStatus::True);
        let (status, reason, _) = ready(false, None, &resolved(), rollout(4, 2, 1, false));
        assert_eq!((status, reason), (ConditionStatus::False, "ReplicasUnavailable"));
    }

    #[test]
    fn one_runner_is_needed_whatever_max_unavailable_allows() {
        assert_eq!(needed(rollout(1, 0, 1, true).unwrap_or_default()), 1);
        let (status, reason, _) = ready(false, None, &resolved(), rollout(1, 0, 1, true));
        assert_eq!((status, reason), (ConditionStatus::False, "NoReplicasReady"));
        assert_eq!(needed(rollout(0, 0, 0, true).unwrap_or_default()), 0, "none asked for, none needed");
    }

    #[test]
    fn references_refusals_and_pauses_come_first() {
        let mut unresolved = resolved();
        unresolved.tools =
            Err(Unresolved { reason: "ToolNotFound", message: "Tool t does not exist".into() });
        let (status, reason, message) = ready(false, None, &unresolved, rollout(1, 1, 0, true));
        assert_eq!(
            (status, reason, message.as_str()),
            (ConditionStatus::False, "ToolNotFound", "Tool t does not exist")
        );
        assert_eq!(ready(true, None, &resolved(), rollout(1, 1, 0, true)).1, "Paused");
        let refusal = Refusal { reason: reasons::APPLY_REFUSED, message: "bad".into() };
        assert_eq!(ready(false, Some(&refusal), &resolved(), rollout(1, 1, 0, true)).1, "ApplyRefused");
        assert_eq!(ready(false, None, &resolved(), None).1, "NoDeployment");
    }
}
