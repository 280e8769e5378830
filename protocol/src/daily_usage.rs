//! An agent's spend per UTC day, shared by its replicas (so `limits.dailyBudgetUsd` holds for
//! the agent as a whole) and read by the operator for the Agent's status: one record per agent
//! and day in the JetStream key-value bucket [`DAILY_USAGE_BUCKET`], updated by compare-and-set.

use serde::{Deserialize, Serialize};

use crate::subjects::SubjectToken;

/// JetStream key-value bucket of [`DailyUsage`] records.
pub const DAILY_USAGE_BUCKET: &str = "AGENTRY_DAILY_USAGE";
/// How long a day's record is kept: today's and yesterday's are what anyone reads.
pub const DAILY_USAGE_TTL_SECONDS: u64 = 3 * 24 * 3600;

/// Key of an agent's record for `day` (`YYYY-MM-DD`, UTC): `<namespace>.<agent>.<day>`.
pub fn daily_usage_key(namespace: &SubjectToken, agent: &SubjectToken, day: &str) -> String {
    format!("{namespace}.{agent}.{day}")
}

/// What an agent's replicas together spent on one UTC day.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DailyUsage {
    /// Prompt tokens.
    pub input_tokens: u64,
    /// Completion tokens.
    pub output_tokens: u64,
    /// USD, from the Models' pricing.
    pub cost_usd: f64,
    /// Requests answered (or failed) that day.
    #[serde(default)]
    pub requests: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_and_wire_shape() {
        let (ns, agent) =
            (SubjectToken::new("fleet").expect("ns"), SubjectToken::new("planner").expect("agent"));
        assert_eq!(daily_usage_key(&ns, &agent, "2026-11-30"), "fleet.planner.2026-11-30");
        let usage = DailyUsage { input_tokens: 1, output_tokens: 2, cost_usd: 0.5, requests: 1 };
        let json = serde_json::to_value(usage).expect("serializes");
        assert_eq!(
            json,
            serde_json::json!({"inputTokens": 1, "outputTokens": 2, "costUsd": 0.5, "requests": 1})
        );
    }
}
