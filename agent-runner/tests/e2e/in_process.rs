//! The runner as a library: [`Runner::start`] in the test's own process, stopped by its handle.

use std::time::Duration;

use agentry_runner::Runner;
use agentry_tests::nats_fixture;
use agentry_tests::polling::poll_until;
use agentry_tests::scripted_model::{Flavor, ScriptedModel, Step};

use crate::harness::{self, MODEL_KEY, MODEL_KEY_ENV};

/// The model key from a lookup the test controls, not the process environment.
fn secrets(name: &str) -> Option<String> {
    (name == MODEL_KEY_ENV).then(|| MODEL_KEY.to_string())
}

#[tokio::test]
async fn a_runner_started_in_process_answers_until_stopped() {
    let model = ScriptedModel::start(Flavor::OpenAi).await;
    model.set_default(Step::Text("from the library".into()));
    let ns = nats_fixture::unique_namespace("library");
    let config = harness::config(&ns, "worker", vec![harness::model("primary", &model.base_url())], vec![]);
    let runner = Runner::start(config, "127.0.0.1:0", &secrets).await.expect("runner starts");
    let readiness = runner.readiness().clone();
    let readyz = format!("http://{}/readyz", runner.admin_addr());
    let http = reqwest::Client::new();
    poll_until(Duration::from_secs(10), || async {
        let answered = http.get(&readyz).send().await.ok()?;
        answered.status().is_success().then_some(())
    })
    .await
    .expect("ready once subscribed");
    assert!(readiness.is_ready());

    let nats = nats_fixture::connect().await.expect("nats");
    let reply = harness::ask_agent(&nats, &ns, "worker", "hello").await;
    assert_eq!(reply.output.as_deref(), Some("from the library"), "{reply:?}");

    runner.stop().await.expect("a clean stop");
    assert!(!readiness.is_ready(), "not ready once stopped");
    // A fresh client, so no connection pooled before the stop is reused.
    let down = reqwest::Client::new().get(&readyz).send().await;
    assert!(down.is_err(), "the admin endpoint is down: {down:?}");
}

#[tokio::test]
async fn run_until_stops_when_the_shutdown_future_completes() {
    let model = ScriptedModel::start(Flavor::OpenAi).await;
    let ns = nats_fixture::unique_namespace("library-shutdown");
    let config = harness::config(&ns, "worker", vec![harness::model("primary", &model.base_url())], vec![]);
    let runner = Runner::start(config, "127.0.0.1:0", &secrets).await.expect("runner starts");
    let readiness = runner.readiness().clone();
    let (shutdown, shutdown_signal) = tokio::sync::oneshot::channel::<()>();
    let running = tokio::spawn(runner.run_until(async {
        let _ = shutdown_signal.await;
    }));
    poll_until(Duration::from_secs(10), || async { readiness.is_ready().then_some(()) })
        .await
        .expect("ready once subscribed");
    assert!(!running.is_finished(), "serves until told to stop");

    shutdown.send(()).expect("runner still listening");
    let stopped =
        tokio::time::timeout(Duration::from_secs(15), running).await.expect("stops within the grace");
    stopped.expect("task").expect("a clean stop");
    assert!(!readiness.is_ready());
}

#[tokio::test]
async fn a_missing_model_key_fails_the_start_naming_the_variable() {
    let ns = nats_fixture::unique_namespace("library-nokey");
    let config =
        harness::config(&ns, "worker", vec![harness::model("primary", "http://127.0.0.1:9")], vec![]);
    let err = Runner::start(config, "127.0.0.1:0", &|_: &str| None).await.expect_err("no key, no start");
    let chain = format!("{:#}", anyhow::Error::from(err));
    assert!(chain.starts_with("configuring the model chain: "), "{chain}");
    assert!(chain.contains(MODEL_KEY_ENV), "{chain}");
}
