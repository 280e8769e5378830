//! An Agent's spend today, read from the `AGENTRY_DAILY_USAGE` bucket its runners keep. Reading
//! never holds up a reconcile: without NATS the status keeps what it last showed.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use agentry_crds::{AgentUsage, Usage};
use agentry_protocol::SubjectToken;
use agentry_protocol::daily_usage::{DailyUsage, daily_usage_key};
use k8s_openapi::jiff::Timestamp;

use crate::runtime::nats_link::NatsLink;

/// Longest a read may take; past it the status keeps its last usage.
const READ_TIMEOUT: Duration = Duration::from_secs(2);

/// The UTC day of `now`, `YYYY-MM-DD`, as runners key their records.
pub fn utc_day(now: Timestamp) -> String {
    now.strftime("%Y-%m-%d").to_string()
}

/// The status field for `day` from the day's record (none yet: nothing spent).
pub fn usage_of(day: String, record: Option<DailyUsage>) -> AgentUsage {
    let record = record.unwrap_or_default();
    let count = |n: u64| i64::try_from(n).unwrap_or(i64::MAX);
    let usage = Usage {
        input_tokens: count(record.input_tokens),
        output_tokens: count(record.output_tokens),
        // A negative or non-finite cost is no cost a person should see.
        cost_usd: if record.cost_usd.is_finite() { record.cost_usd.max(0.0) } else { 0.0 },
    };
    AgentUsage { day, usage, requests: count(record.requests) }
}

/// Reads Agents' usage, saying once (not once per Agent and minute) when it cannot.
#[derive(Default)]
pub struct UsageReader {
    unavailable_reported: AtomicBool,
}

impl UsageReader {
    /// Today's usage of Agent `name` in `namespace`; `None` when it cannot be read now.
    pub async fn today(&self, link: &NatsLink, namespace: &str, name: &str) -> Option<AgentUsage> {
        let (ns, agent) = (SubjectToken::new(namespace).ok()?, SubjectToken::new(name).ok()?);
        let Some(nats) = link.get().filter(|n| n.connected()) else {
            return self.unavailable("NATS is not connected");
        };
        let day = utc_day(Timestamp::now());
        let key = daily_usage_key(&ns, &agent, &day);
        let read = match tokio::time::timeout(READ_TIMEOUT, nats.daily_usage.get(key.as_str())).await {
            Ok(Ok(value)) => value,
            Ok(Err(err)) => return self.unavailable(&err.to_string()),
            Err(_) => return self.unavailable("the read timed out"),
        };
        self.available();
        let record = read.and_then(|bytes| match serde_json::from_slice::<DailyUsage>(&bytes) {
            Ok(record) => Some(record),
            Err(err) => {
                tracing::warn!(key, error = %err, "daily usage record is not valid JSON; shown as nothing spent");
                None
            }
        });
        Some(usage_of(day, record))
    }

    fn unavailable<T>(&self, why: &str) -> Option<T> {
        if !self.unavailable_reported.swap(true, Ordering::Relaxed) {
            tracing::warn!(why, "Agents' usage cannot be read; their status keeps the last usage shown");
        }
        None
    }

    fn available(&self) {
        if self.unavailable_reported.swap(false, Ordering::Relaxed) {
            tracing::info!("Agents' usage can be read again");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_day_is_utc() {
        let late = Timestamp::from_second(1_795_046_399).expect("time"); // 2026-11-18 23:59:59 UTC
        assert_eq!(utc_day(late), "2026-11-18");
        assert_eq!(utc_day(late + k8s_openapi::jiff::SignedDuration::from_secs(1)), "2026-11-19");
    }

    #[test]
    fn a_missing_record_is_nothing_spent_and_odd_costs_are_clamped() {
        let none = usage_of("2026-11-20".into(), None);
        assert_eq!((none.usage.input_tokens, none.usage.cost_usd, none.requests), (0, 0.0, 0));
        let record = DailyUsage { input_tokens: 10, output_tokens: 5, cost_usd: 0.25, requests: 2 };
        let some = usage_of("2026-11-20".into(), Some(record));
        assert_eq!(
            (some.usage.input_tokens, some.usage.output_tokens, some.usage.cost_usd, some.requests),
            (10, 5, 0.25, 2)
        );
        let odd = DailyUsage { cost_usd: f64::NAN, ..record };
        assert_eq!(usage_of("d".into(), Some(odd)).usage.cost_usd, 0.0);
    }

    #[tokio::test]
    async fn without_nats_nothing_is_read() {
        let reader = UsageReader::default();
        assert_eq!(reader.today(&NatsLink::disconnected(), "ns", "a").await, None);
        assert!(reader.unavailable_reported.load(Ordering::Relaxed));
    }
}
