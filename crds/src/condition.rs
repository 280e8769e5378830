//! Status conditions, following the Kubernetes API conventions (`metav1.Condition`).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Whether a condition holds.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, JsonSchema)]
pub enum ConditionStatus {
    /// The condition holds.
    True,
    /// The condition does not hold.
    False,
    /// The controller cannot tell yet.
    Unknown,
}

/// One observation of an aspect of an object's state.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    /// The aspect observed, in CamelCase (`Ready`, `ModelResolved`, …).
    #[serde(rename = "type")]
    #[schemars(length(min = 1, max = 316))]
    pub type_: String,
    /// Whether it holds.
    pub status: ConditionStatus,
    /// Why, as one CamelCase word a program can match on.
    #[schemars(length(min = 1, max = 1024), pattern(r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"))]
    pub reason: String,
    /// Why, for a person: what happened and what to do about it.
    #[schemars(length(max = 32768))]
    pub message: String,
    /// When `status` last changed.
    pub last_transition_time: Time,
    /// The `metadata.generation` the condition was computed from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 0))]
    pub observed_generation: Option<i64>,
}

impl Condition {
    /// A condition observed now for the given generation.
    pub fn new(
        type_: impl Into<String>,
        status: ConditionStatus,
        reason: impl Into<String>,
        message: impl Into<String>,
        observed_generation: Option<i64>,
    ) -> Self {
        Self {
            type_: type_.into(),
            status,
            reason: reason.into(),
            message: message.into(),
            last_transition_time: Time(k8s_openapi::jiff::Timestamp::now()),
            observed_generation,
        }
    }

    /// Whether this condition is `True`.
    pub fn is_true(&self) -> bool {
        self.status == ConditionStatus::True
    }
}

/// Put `new` into `conditions`, replacing the one of the same type.
///
/// `lastTransitionTime` moves only when the status flips, as the conventions require: a
/// reconcile that merely re-observes the same state must not rewrite the time.
pub fn set_condition(conditions: &mut Vec<Condition>, mut new: Condition) {
    match conditions.iter_mut().find(|c| c.type_ == new.type_) {
        Some(existing) => {
            if existing.status == new.status {
                new.last_transition_time = existing.last_transition_time.clone();
            }
            *existing = new;
        }
        None => conditions.push(new),
    }
}

/// The schema of a `conditions` list: a map keyed by `type`, so server-side apply merges by
/// condition type rather than replacing the list.
pub(crate) fn conditions_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    let mut schema = generator.subschema_for::<Vec<Condition>>();
    schema.insert("x-kubernetes-list-type".into(), "map".into());
    schema.insert("x-kubernetes-list-map-keys".into(), serde_json::json!(["type"]));
    schema
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transition_time_kept_when_status_unchanged() {
        let mut conditions = vec![Condition::new("Ready", ConditionStatus::True, "Ok", "", Some(1))];
        let first = conditions[0].last_transition_time.clone();
        let mut again = Condition::new("Ready", ConditionStatus::True, "StillOk", "", Some(2));
        again.last_transition_time = Time("2000-01-01T00:00:00Z".parse().expect("timestamp"));
        set_condition(&mut conditions, again);
        assert_eq!(conditions.len(), 1);
        assert_eq!(conditions[0].last_transition_time, first);
        assert_eq!(conditions[0].reason, "StillOk");
        assert_eq!(conditions[0].observed_generation, Some(2));
    }

    #[test]
    fn transition_time_moves_when_status_flips() {
        let old = Time("2000-01-01T00:00:00Z".parse().expect("timestamp"));
        let mut start = Condition::new("Ready", ConditionStatus::True, "Ok", "", Some(1));
        start.last_transition_time = old.clone();
        let mut conditions = vec![start];
        set_condition(
            &mut conditions,
            Condition::new("Ready", ConditionStatus::False, "SecretNotFound", "m", Some(1)),
        );
        assert_ne!(conditions[0].last_transition_time, old);
        assert_eq!(conditions[0].status, ConditionStatus::False);
    }

    #[test]
    fn new_type_is_appended() {
        let mut conditions = vec![Condition::new("Ready", ConditionStatus::True, "Ok", "", None)];
        set_condition(
            &mut conditions,
            Condition::new("Available", ConditionStatus::Unknown, "Waiting", "", None),
        );
        assert_eq!(conditions.len(), 2);
    }
}
