//! The Agent's limits reached for real: the daily budget spent, and `timeoutSeconds` or the
//! caller's deadline passing while a model is still working.

use std::time::{Duration, Instant};

use agentry_protocol::{AgentRequest, ErrorCode};
use agentry_tests::nats_fixture;
use agentry_tests::scripted_model::{Flavor, ScriptedModel, Step};

use crate::harness;

#[tokio::test]
async fn a_spent_daily_budget_refuses_the_next_turn_and_the_next_request() {
    let model = ScriptedModel::start(Flavor::OpenAi).await;
    // One million input tokens at 1 USD per million: every model call costs exactly 1 USD.
    model.set_usage(1_000_000, 0);
    model.push(Step::tool_call("calculator", serde_json::json!({"expression": "6*7"})));
    model.push(Step::tool_call("calculator", serde_json::json!({"expression": "42*2"})));
    model.set_default(Step::text("never sent: the budget is spent"));
    let ns = nats_fixture::unique_namespace("budget");
    let mut config = harness::config(
        &ns,
        "worker",
        vec![harness::model("primary", &model.base_url())],
        vec![harness::calculator()],
    );
    config.limits.daily_budget_usd = Some(1.5);
    let runner = harness::start(&config).await;
    let nats = nats_fixture::connect().await.expect("nats");

    // Turn 1 starts with 0 USD spent, turn 2 with 1 USD (under 1.5), turn 3 with 2 USD: refused.
    let reply = harness::ask_agent(&nats, &ns, "worker", "Work it out").await;
    let error = reply.error.as_ref().expect("an error reply");
    assert_eq!(error.code, ErrorCode::BudgetExceeded, "{reply:?}");
    assert_eq!(
        error.message,
        "the agent's daily budget of 1.5 USD is spent (2.0000 USD today, all replicas); requests resume at \
         00:00 UTC"
    );
    assert_eq!(reply.message_count, 5, "input, two model turns, two tool results");
    assert_eq!(reply.usage.cost_usd, 2.0, "what the refused request spent is still reported");
    let calls: Vec<_> = reply.tool_calls.iter().map(|c| (c.name.as_str(), c.ok)).collect();
    assert_eq!(calls, [("calculator", true), ("calculator", true)]);
    assert_eq!(model.request_count(), 2, "the third turn never reached the model");

    // The next request is refused before any model call.
    let reply = harness::ask_agent(&nats, &ns, "worker", "Anything else?").await;
    assert_eq!(reply.error.as_ref().map(|e| e.code), Some(ErrorCode::BudgetExceeded), "{reply:?}");
    assert_eq!(reply.usage.cost_usd, 0.0);
    assert_eq!(reply.message_count, 1, "the input only");
    assert_eq!(model.request_count(), 2, "a refused request never reaches the model");

    let metrics = runner.metrics().await.expect("metrics");
    assert_eq!(
        harness::metric_value(&metrics, "agentry_agent_requests_total", &[("outcome", "budget_exceeded")]),
        Some(2.0),
        "{metrics}"
    );
    assert_eq!(
        harness::metric_value(&metrics, "agentry_model_cost_usd_total", &[("model", "primary")]),
        Some(2.0),
        "{metrics}"
    );
    assert_eq!(harness::metric_value(&metrics, "agentry_budget_spent_usd", &[]), Some(2.0), "{metrics}");
    assert_eq!(harness::metric_value(&metrics, "agentry_budget_limit_usd", &[]), Some(1.5), "{metrics}");
}

#[tokio::test]
async fn a_model_slower_than_timeout_seconds_is_cut_off_with_a_timeout_reply() {
    let model = ScriptedModel::start(Flavor::OpenAi).await;
    let model_delay = Duration::from_secs(10);
    model.push(Step::slow(model_delay, Step::text("too late")));
    model.set_default(Step::text("in time"));
    let ns = nats_fixture::unique_namespace("timeout");
    let mut config =
        harness::config(&ns, "worker", vec![harness::model("primary", &model.base_url())], vec![]);
    config.limits.timeout_seconds = 1;
    // One slot: the next request is answered only if the timed-out one gave its slot back.
    config.limits.max_concurrent_requests = 1;
    let runner = harness::start(&config).await;
    let nats = nats_fixture::connect().await.expect("nats");

    let started = Instant::now();
    let reply = harness::ask_agent(&nats, &ns, "worker", "Take your time").await;
    let waited = started.elapsed();

    let error = reply.error.as_ref().expect("an error reply");
    assert_eq!(error.code, ErrorCode::Timeout, "{reply:?}");
    assert!(error.message.contains("deadline"), "{}", error.message);
    assert_eq!(reply.output, None);
    assert_eq!(model.request_count(), 1, "the request had reached the model when it timed out");
    assert!(waited >= Duration::from_secs(1), "answered before timeoutSeconds: {waited:?}");
    assert!(waited < Duration::from_secs(5), "not cut off at timeoutSeconds: {waited:?}");

    let reply = harness::ask_agent(&nats, &ns, "worker", "And now?").await;
    assert_eq!(reply.output.as_deref(), Some("in time"), "{reply:?}");

    let metrics = runner.metrics().await.expect("metrics");
    assert_eq!(
        harness::metric_value(&metrics, "agentry_agent_requests_total", &[("outcome", "timeout")]),
        Some(1.0),
        "{metrics}"
    );
}

#[tokio::test]
async fn the_callers_deadline_cuts_a_request_off_before_timeout_seconds() {
    let model = ScriptedModel::start(Flavor::OpenAi).await;
    model.push(Step::slow(Duration::from_secs(10), Step::text("too late")));
    let ns = nats_fixture::unique_namespace("deadline");
    // timeoutSeconds is 20 (the harness default); the caller allows one second.
    let _runner = harness::start(&harness::config(
        &ns,
        "worker",
        vec![harness::model("primary", &model.base_url())],
        vec![],
    ))
    .await;
    let nats = nats_fixture::connect().await.expect("nats");

    let since_epoch =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock after 1970");
    let now_ms = u64::try_from(since_epoch.as_millis()).expect("milliseconds fit in u64");
    let request = AgentRequest {
        deadline_ms: Some(now_ms + 1_000),
        ..AgentRequest::new("r-deadline", "Quickly, please")
    };
    let started = Instant::now();
    let reply = harness::send(&nats, &ns, "worker", &request).await;
    let waited = started.elapsed();

    assert_eq!(reply.error.as_ref().map(|e| e.code), Some(ErrorCode::Timeout), "{reply:?}");
    assert_eq!(model.request_count(), 1, "the request had reached the model when it timed out");
    assert!(waited < Duration::from_secs(5), "the caller's deadline was not honoured: {waited:?}");
}
