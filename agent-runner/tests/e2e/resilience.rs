//! Model failures: retries, the circuit breaker, the fallback chain, and failing cleanly.

use std::time::Duration;

use agentry_protocol::ErrorCode;
use agentry_tests::nats_fixture;
use agentry_tests::scripted_model::{Flavor, ScriptedModel, Step};

use crate::harness;

#[tokio::test]
async fn a_429_then_success_is_retried_after_retry_after() {
    let model = ScriptedModel::start(Flavor::OpenAi).await;
    model.push(Step::Status { code: 429, retry_after: Some(1), body: "slow down".into() });
    model.push(Step::Text("done".into()));
    let ns = nats_fixture::unique_namespace("retry");
    let _runner = harness::start(&harness::config(
        &ns,
        "worker",
        vec![harness::model("primary", &model.base_url())],
        vec![],
    ))
    .await;
    let nats = nats_fixture::connect().await.expect("nats");

    let started = std::time::Instant::now();
    let reply = harness::ask_agent(&nats, &ns, "worker", "hi").await;

    assert_eq!(reply.output.as_deref(), Some("done"), "{reply:?}");
    assert_eq!(model.request_count(), 2);
    assert!(started.elapsed() >= Duration::from_secs(1), "Retry-After: 1 was honoured");
}

#[tokio::test]
async fn a_primary_failing_five_times_opens_its_breaker_and_the_fallback_answers() {
    let primary = ScriptedModel::start(Flavor::OpenAi).await;
    primary.set_default(Step::Status { code: 500, retry_after: None, body: "boom".into() });
    let fallback = ScriptedModel::start(Flavor::OpenAi).await;
    fallback.set_default(Step::Text("fallback here".into()));
    let ns = nats_fixture::unique_namespace("breaker");
    let mut config = harness::config(
        &ns,
        "worker",
        vec![
            harness::model("primary", &primary.base_url()),
            harness::model("fallback", &fallback.base_url()),
        ],
        vec![],
    );
    config.resilience.max_retries = 0;
    config.resilience.failure_threshold = 5;
    let runner = harness::start(&config).await;
    let nats = nats_fixture::connect().await.expect("nats");

    for i in 0..8 {
        let reply = harness::ask_agent(&nats, &ns, "worker", &format!("question {i}")).await;
        assert_eq!(reply.model.as_deref(), Some("fallback"), "request {i}: {reply:?}");
        assert_eq!(reply.output.as_deref(), Some("fallback here"));
    }
    assert_eq!(primary.request_count(), 5, "once open, the breaker keeps requests off the primary");
    let metrics = runner.metrics().await.expect("metrics");
    assert_eq!(
        harness::metric_value(&metrics, "agentry_circuit_breaker_state", &[("model", "primary")]),
        Some(2.0),
        "{metrics}"
    );
}

#[tokio::test]
async fn all_models_failing_gives_an_error_reply_not_a_hang() {
    let primary = ScriptedModel::start(Flavor::OpenAi).await;
    primary.set_default(Step::Status { code: 503, retry_after: None, body: "down".into() });
    let fallback = ScriptedModel::start(Flavor::OpenAi).await;
    fallback.set_default(Step::Malformed);
    let ns = nats_fixture::unique_namespace("allfail");
    let mut config = harness::config(
        &ns,
        "worker",
        vec![
            harness::model("primary", &primary.base_url()),
            harness::model("fallback", &fallback.base_url()),
        ],
        vec![],
    );
    config.resilience.max_retries = 1;
    let _runner = harness::start(&config).await;
    let nats = nats_fixture::connect().await.expect("nats");

    let reply = harness::ask_agent(&nats, &ns, "worker", "anyone?").await;

    let error = reply.error.expect("an error reply");
    assert_eq!(error.code, ErrorCode::ModelUnavailable);
    assert!(error.message.contains("primary") && error.message.contains("fallback"), "{}", error.message);
    assert_eq!(primary.request_count(), 2);
    assert_eq!(fallback.request_count(), 2);
}

#[tokio::test]
async fn models_refusing_the_request_give_model_rejected_which_callers_must_not_retry() {
    let primary = ScriptedModel::start(Flavor::OpenAi).await;
    primary.set_default(Step::Status { code: 401, retry_after: None, body: "invalid api key".into() });
    let fallback = ScriptedModel::start(Flavor::OpenAi).await;
    fallback.set_default(Step::Status { code: 400, retry_after: None, body: "unknown model".into() });
    let ns = nats_fixture::unique_namespace("rejected");
    let config = harness::config(
        &ns,
        "worker",
        vec![
            harness::model("primary", &primary.base_url()),
            harness::model("fallback", &fallback.base_url()),
        ],
        vec![],
    );
    let _runner = harness::start(&config).await;
    let nats = nats_fixture::connect().await.expect("nats");

    let reply = harness::ask_agent(&nats, &ns, "worker", "anyone?").await;

    let error = reply.error.expect("an error reply");
    assert_eq!(error.code, ErrorCode::ModelRejected, "{}", error.message);
    assert!(!error.code.is_retryable());
    assert!(error.message.contains("HTTP 401") && error.message.contains("HTTP 400"), "{}", error.message);
    // A refusal is not retried: one request to each model.
    assert_eq!((primary.request_count(), fallback.request_count()), (1, 1));
}
