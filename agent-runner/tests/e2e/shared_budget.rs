//! `limits.dailyBudgetUsd` holds for the agent as a whole: two replicas of one agent count into
//! one record of the `AGENTRY_DAILY_USAGE` bucket and both refuse once it is spent.

use std::time::Duration;

use agentry_protocol::daily_usage::{DAILY_USAGE_BUCKET, DailyUsage, daily_usage_key};
use agentry_protocol::{AgentReply, ErrorCode, SubjectToken};
use agentry_tests::nats_fixture;
use agentry_tests::polling::poll_until;
use agentry_tests::runner_process::RunnerProcess;
use agentry_tests::scripted_model::{Flavor, ScriptedModel, Step};

use crate::harness;

/// Generous for a loaded two-core machine; the replicas usually agree within milliseconds.
const SETTLE: Duration = Duration::from_secs(20);
const BUDGET_USD: f64 = 3.0;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_share_one_daily_budget_and_record_it_once() {
    let model = ScriptedModel::start(Flavor::OpenAi).await;
    // One million input tokens at 1 USD per million: every request costs exactly 1 USD.
    model.set_usage(1_000_000, 0);
    model.set_default(Step::text("ok"));
    let ns = nats_fixture::unique_namespace("shared-budget");
    let mut config =
        harness::config(&ns, "worker", vec![harness::model("primary", &model.base_url())], vec![]);
    config.limits.daily_budget_usd = Some(BUDGET_USD);
    let replicas = [harness::start(&config).await, harness::start(&config).await];
    let nats = nats_fixture::connect().await.expect("nats");

    // Through the queue group, one request at a time, until the agent refuses. Before the next
    // request both replicas have seen the spend so far (their gauges), as they would between
    // model calls that take longer than a write takes to reach the other replica.
    let mut replies = Vec::new();
    let mut spent = 0.0;
    while replies.last().is_none_or(|r: &AgentReply| r.error.is_none()) {
        assert!(replies.len() < 10, "never refused: {replies:?}");
        let reply = harness::ask_agent(&nats, &ns, "worker", "Spend").await;
        spent += reply.usage.cost_usd;
        replies.push(reply);
        for replica in &replicas {
            let seen = poll_until(SETTLE, || async {
                let spent_here = gauge(replica, "agentry_budget_spent_usd").await?;
                (spent_here >= spent - 1e-9).then_some(())
            })
            .await;
            assert!(seen.is_ok(), "a replica never saw the agent's spend: {:?}", replica.metrics().await);
        }
    }
    let last = replies.last().and_then(|r| r.error.as_ref()).map(|e| e.code);
    assert_eq!(last, Some(ErrorCode::BudgetExceeded), "{replies:?}");
    let answered = replies.iter().filter(|r| r.output.is_some()).count();
    assert_eq!(answered, 3, "the budget covers three requests");
    assert_eq!(spent, BUDGET_USD);
    for replica in &replicas {
        assert_eq!(gauge(replica, "agentry_budget_limit_usd").await, Some(BUDGET_USD));
    }
    // At most one replica spent the budget itself; the other refuses on what the first spent.
    let own_spend = [model_spend(&replicas[0]).await, model_spend(&replicas[1]).await];
    assert!(own_spend.iter().any(|s| *s < BUDGET_USD), "{own_spend:?}");

    // Both refuse: asked until each has refused at least once more.
    let refused_before = [refusals(&replicas[0]).await, refusals(&replicas[1]).await];
    for _ in 0..200 {
        let reply = harness::ask_agent(&nats, &ns, "worker", "Spend more").await;
        assert_eq!(reply.error.as_ref().map(|e| e.code), Some(ErrorCode::BudgetExceeded), "{reply:?}");
        replies.push(reply);
        let refused_now = [refusals(&replicas[0]).await, refusals(&replicas[1]).await];
        if refused_now.iter().zip(refused_before).all(|(now, before)| *now > before) {
            break;
        }
    }
    let refused_now = [refusals(&replicas[0]).await, refusals(&replicas[1]).await];
    assert!(
        refused_now.iter().zip(refused_before).all(|(now, before)| *now > before),
        "200 requests never reached both replicas: {refused_before:?} → {refused_now:?}"
    );

    // One record holds every request and exactly what the replies cost.
    let record = settled_record(&nats, &ns, replies.len() as u64).await;
    assert!((record.cost_usd - spent).abs() < 1e-9, "{record:?} vs {spent}");
    assert_eq!(record.input_tokens, 1_000_000 * answered as u64, "{record:?}");
}

/// The agent's record of today once it counts `requests` requests.
async fn settled_record(nats: &async_nats::Client, ns: &str, requests: u64) -> DailyUsage {
    let store =
        async_nats::jetstream::new(nats.clone()).get_key_value(DAILY_USAGE_BUCKET).await.expect("bucket");
    let today = jiff::Timestamp::now().to_zoned(jiff::tz::TimeZone::UTC).date().to_string();
    let token = |value: &str| SubjectToken::new(value).expect("token");
    let key = daily_usage_key(&token(ns), &token("worker"), &today);
    let read = || async {
        let value = store.get(&key).await.ok()??;
        serde_json::from_slice::<DailyUsage>(&value).ok()
    };
    let settled = poll_until(SETTLE, || async { read().await.filter(|r| r.requests == requests) }).await;
    let Ok(record) = settled else {
        panic!("{key} never counted {requests} requests: {:?}", read().await);
    };
    let _ = store.purge(&key).await;
    record
}

async fn gauge(replica: &RunnerProcess, name: &str) -> Option<f64> {
    harness::metric_value(&replica.metrics().await.ok()?, name, &[])
}

async fn model_spend(replica: &RunnerProcess) -> f64 {
    let metrics = replica.metrics().await.expect("metrics");
    harness::metric_value(&metrics, "agentry_model_cost_usd_total", &[("model", "primary")]).unwrap_or(0.0)
}

async fn refusals(replica: &RunnerProcess) -> f64 {
    let metrics = replica.metrics().await.expect("metrics");
    harness::metric_value(&metrics, "agentry_agent_requests_total", &[("outcome", "budget_exceeded")])
        .unwrap_or(0.0)
}
