//! Retention and consolidation on `consolidation.schedule` (issue 14): when a run is due, what it
//! applies (`retention`), and what the status says about it (`lastPrunedAt`, `memoryCount`, the
//! `Consolidated` condition, a Warning Event on failure). The work itself is
//! `agentry_memory::consolidation`.
//!
//! No loop and no timer: a run is due when the schedule's first time after the previous run
//! (`lastPrunedAt`, or the store's creation) has passed, and the reconcile is requeued for the
//! next time. A failed run is retried after [`FAILED_RETRY`], earlier than its next time.

use std::time::Duration;

use agentry_crds::{Condition, ConditionStatus, MemoryStore, MemoryStoreStatus, set_condition};
use agentry_memory::consolidation::{ConsolidationReport, RetentionPolicy, consolidate};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;
use kube::Resource;
use kube::runtime::events::{Event, EventType};
use sqlx::PgPool;

use crate::memory_store::schedule::Schedule;

/// The condition saying how the last consolidation went.
pub const CONSOLIDATED: &str = "Consolidated";
/// How soon a failed run is tried again.
pub const FAILED_RETRY: Duration = Duration::from_secs(60);
/// Requeue a moment after the scheduled minute, so the run is not a moment early.
const SLACK: Duration = Duration::from_secs(1);

/// What consolidation did in one reconcile.
#[derive(Clone, Debug, PartialEq)]
pub enum Outcome {
    /// No `consolidation.schedule`: nothing runs.
    Unscheduled,
    /// The schedule cannot be parsed or never runs; the message says why.
    InvalidSchedule(String),
    /// Scheduled, not due yet.
    Waiting {
        /// The next run.
        next: Timestamp,
    },
    /// A run happened.
    Ran {
        /// When.
        at: Timestamp,
        /// What it did.
        report: ConsolidationReport,
        /// The next run.
        next: Option<Timestamp>,
    },
    /// A run failed; the message says why (no credentials: store errors carry none).
    Failed(String),
}

/// Whether a run is due at `now`: `Ok(None)` when it is, `Ok(Some(next))` when the next run is
/// later, and `Err` with what to report when nothing runs (no schedule, or an invalid one).
pub fn plan(store: &MemoryStore, now: Timestamp) -> Result<Option<Timestamp>, Outcome> {
    let Some(consolidation) = &store.spec.consolidation else { return Err(Outcome::Unscheduled) };
    let schedule =
        Schedule::parse(&consolidation.schedule).map_err(|e| Outcome::InvalidSchedule(e.to_string()))?;
    let previous = store
        .status
        .as_ref()
        .and_then(|s| s.last_pruned_at.as_ref())
        .or(store.meta().creation_timestamp.as_ref())
        .map_or(now, |time| time.0);
    match schedule.next_after(previous) {
        Some(next) if next > now => Ok(Some(next)),
        _ => Ok(None),
    }
}

/// The retention rules of `store`.
pub fn policy_of(store: &MemoryStore) -> RetentionPolicy {
    let retention = store.spec.retention.clone().unwrap_or(agentry_crds::Retention {
        max_age_days: None,
        min_importance: None,
        max_per_agent: None,
    });
    RetentionPolicy {
        max_age_days: retention.max_age_days.and_then(|d| u32::try_from(d).ok()),
        #[allow(clippy::cast_possible_truncation)] // 0..=1 by the CRD's schema.
        min_importance: retention.min_importance.map(|m| m as f32),
        max_per_agent: retention.max_per_agent,
        ..RetentionPolicy::default()
    }
}

/// Runs consolidation on `pool` when `store`'s schedule says it is due.
#[tracing::instrument(skip_all)]
pub async fn run_if_due(store: &MemoryStore, pool: &PgPool) -> Outcome {
    let now = Timestamp::now();
    match plan(store, now) {
        Err(outcome) => outcome,
        Ok(Some(next)) => Outcome::Waiting { next },
        Ok(None) => match consolidate(pool, &policy_of(store)).await {
            Ok(report) => {
                let at = Timestamp::now();
                let next = store
                    .spec
                    .consolidation
                    .as_ref()
                    .and_then(|c| Schedule::parse(&c.schedule).ok())
                    .and_then(|s| s.next_after(at));
                Outcome::Ran { at, report, next }
            }
            Err(error) => {
                tracing::warn!(error = %error, "memory consolidation failed");
                Outcome::Failed(error.to_string())
            }
        },
    }
}

/// Writes `outcome` into `status`: the `Consolidated` condition, and after a run `lastPrunedAt`
/// and the `memoryCount` left.
pub fn apply(status: &mut MemoryStoreStatus, store: &MemoryStore, outcome: &Outcome) {
    let generation = store.meta().generation;
    let condition = |status, reason: &str, message: String| {
        Condition::new(CONSOLIDATED, status, reason, message, generation)
    };
    let new = match outcome {
        Outcome::Unscheduled => {
            status.conditions.retain(|c| c.type_ != CONSOLIDATED);
            return;
        }
        Outcome::InvalidSchedule(why) => condition(
            ConditionStatus::False,
            "InvalidSchedule",
            format!("{why}; nothing is pruned until it is fixed"),
        ),
        Outcome::Waiting { next } => match status.conditions.iter().find(|c| c.type_ == CONSOLIDATED) {
            // Keep what the last run said; only a store that never ran says when it will.
            Some(previous) if previous.reason != "InvalidSchedule" => return,
            _ => condition(ConditionStatus::Unknown, "Scheduled", format!("the first run is at {next}")),
        },
        Outcome::Ran { at, report, next } => {
            status.last_pruned_at = Some(Time(*at));
            status.memory_count = Some(report.memory_count);
            condition(ConditionStatus::True, "Consolidated", ran_message(report, *next))
        }
        Outcome::Failed(why) => condition(
            ConditionStatus::False,
            "ConsolidationFailed",
            format!("{why}; retried within {} s", FAILED_RETRY.as_secs()),
        ),
    };
    set_condition(&mut status.conditions, new);
}

fn ran_message(report: &ConsolidationReport, next: Option<Timestamp>) -> String {
    let next = next.map_or_else(|| "no further run is scheduled".to_string(), |t| format!("next run at {t}"));
    format!(
        "deleted {} expired, {} older than maxAgeDays, {} below minImportance, {} beyond maxPerAgent; \
         merged {} near-duplicates; cut {} change-log rows; {} memories left; {next}",
        report.expired,
        report.too_old,
        report.unimportant,
        report.over_limit,
        report.merged,
        report.changes_pruned,
        report.memory_count
    )
}

/// How long until consolidation wants another look, if it does.
pub fn requeue_after(outcome: &Outcome, now: Timestamp) -> Option<Duration> {
    let until = |next: &Timestamp| {
        let wait = next.duration_since(now).max(k8s_openapi::jiff::SignedDuration::ZERO);
        Duration::try_from(wait).ok().map(|d| d + SLACK)
    };
    match outcome {
        Outcome::Waiting { next } | Outcome::Ran { next: Some(next), .. } => until(next),
        Outcome::Failed(_) => Some(FAILED_RETRY),
        Outcome::Unscheduled | Outcome::InvalidSchedule(_) | Outcome::Ran { next: None, .. } => None,
    }
}

/// A Warning Event when `Consolidated` turned False or failed for a new reason.
pub fn failure_event(previous: Option<&MemoryStoreStatus>, next: &MemoryStoreStatus) -> Option<Event> {
    let find =
        |status: &MemoryStoreStatus| status.conditions.iter().find(|c| c.type_ == CONSOLIDATED).cloned();
    let now = find(next).filter(|c| c.status == ConditionStatus::False)?;
    let before = previous.and_then(find);
    if before.is_some_and(|b| b.status == ConditionStatus::False && b.reason == now.reason) {
        return None;
    }
    let mut note = now.message.clone();
    note.truncate(note.floor_char_boundary(1024));
    Some(Event {
        type_: EventType::Warning,
        reason: now.reason,
        note: Some(note),
        action: "Consolidate".to_string(),
        secondary: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory_store::status::tests::store;
    use agentry_crds::Consolidation;

    fn scheduled(schedule: &str, last_pruned: Option<&str>) -> MemoryStore {
        let mut store = store(None);
        store.spec.consolidation = Some(Consolidation { schedule: schedule.into() });
        store.metadata.creation_timestamp = Some(Time("2026-11-30T18:00:30Z".parse().expect("time")));
        store.status = Some(MemoryStoreStatus {
            last_pruned_at: last_pruned.map(|t| Time(t.parse().expect("time"))),
            ..MemoryStoreStatus::default()
        });
        store
    }

    fn at(text: &str) -> Timestamp {
        text.parse().expect("time")
    }

    #[test]
    fn a_run_is_due_once_the_schedule_passed_since_the_previous_one() {
        let store = scheduled("*/5 * * * *", None);
        assert_eq!(plan(&store, at("2026-11-30T18:04:59Z")), Ok(Some(at("2026-11-30T18:05:00Z"))));
        assert_eq!(plan(&store, at("2026-11-30T18:05:00Z")), Ok(None));
        let store = scheduled("*/5 * * * *", Some("2026-11-30T18:05:02Z"));
        assert_eq!(plan(&store, at("2026-11-30T18:07:00Z")), Ok(Some(at("2026-11-30T18:10:00Z"))));
        // Down for a day: one catch-up run, not one per missed time.
        assert_eq!(plan(&store, at("2026-12-01T18:07:00Z")), Ok(None));
        let waiting = Outcome::Waiting { next: at("2026-11-30T18:10:00Z") };
        assert_eq!(requeue_after(&waiting, at("2026-11-30T18:07:00Z")), Some(Duration::from_secs(181)));
    }

    #[test]
    fn an_invalid_schedule_is_a_false_condition_and_a_warning() {
        let store = scheduled("*/5 * * *", None);
        let outcome = plan(&store, at("2026-11-30T18:07:00Z")).expect_err("invalid");
        let mut status = MemoryStoreStatus::default();
        apply(&mut status, &store, &outcome);
        let condition = &status.conditions[0];
        assert_eq!(
            (condition.status, condition.reason.as_str()),
            (ConditionStatus::False, "InvalidSchedule")
        );
        assert!(
            condition.message.contains("\"*/5 * * *\"") && condition.message.contains("five"),
            "{}",
            condition.message
        );
        let event = failure_event(None, &status).expect("event");
        assert_eq!((event.type_, event.reason.as_str()), (EventType::Warning, "InvalidSchedule"));
        assert!(failure_event(Some(&status.clone()), &status).is_none(), "no repeat while it stays invalid");
        assert_eq!(requeue_after(&outcome, at("2026-11-30T18:07:00Z")), None);
    }

    #[test]
    fn a_run_sets_last_pruned_at_and_the_count() {
        let store = scheduled("@hourly", None);
        let report = ConsolidationReport { expired: 2, memory_count: 7, ..ConsolidationReport::default() };
        let ran =
            Outcome::Ran { at: at("2026-11-30T19:00:01Z"), report, next: Some(at("2026-11-30T20:00:00Z")) };
        let mut status = MemoryStoreStatus { memory_count: Some(9), ..MemoryStoreStatus::default() };
        apply(&mut status, &store, &ran);
        assert_eq!(status.last_pruned_at, Some(Time(at("2026-11-30T19:00:01Z"))));
        assert_eq!(status.memory_count, Some(7));
        assert!(status.conditions[0].message.contains("deleted 2 expired"), "{:?}", status.conditions);
        assert!(failure_event(None, &status).is_none());
        let failed = Outcome::Failed("memory store db:5432/x: connection refused".into());
        let mut after = status.clone();
        apply(&mut after, &store, &failed);
        assert_eq!(after.last_pruned_at, status.last_pruned_at, "a failed run does not count");
        assert_eq!(
            failure_event(Some(&status), &after).map(|e| e.reason),
            Some("ConsolidationFailed".into())
        );
        assert_eq!(requeue_after(&failed, at("2026-11-30T19:00:01Z")), Some(FAILED_RETRY));
        // While waiting, the last run's condition stays.
        apply(&mut status, &store, &Outcome::Waiting { next: at("2026-11-30T20:00:00Z") });
        assert_eq!(status.conditions[0].reason, "Consolidated");
    }
}
