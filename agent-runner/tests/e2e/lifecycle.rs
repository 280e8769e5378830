//! Concurrency limits, graceful shutdown and load sharing between replicas.

use std::time::Duration;

use agentry_protocol::{AgentRequest, ErrorCode};
use agentry_tests::nats_fixture;
use agentry_tests::runner_fixture::{AGENT, OneAgent};
use agentry_tests::scripted_model::{Flavor, ScriptedModel, Step};

use crate::harness;

#[tokio::test]
async fn a_request_over_the_concurrency_limit_is_answered_busy_at_once() {
    let model = ScriptedModel::start(Flavor::OpenAi).await;
    model.set_default(Step::Slow(Duration::from_secs(2), Box::new(Step::Text("slow answer".into()))));
    let ns = nats_fixture::unique_namespace("busy");
    let mut config =
        harness::config(&ns, "worker", vec![harness::model("primary", &model.base_url())], vec![]);
    config.limits.max_concurrent_requests = 1;
    let _runner = harness::start(&config).await;
    let nats = nats_fixture::connect().await.expect("nats");

    let first = tokio::spawn({
        let (nats, ns) = (nats.clone(), ns.clone());
        async move { harness::ask_agent(&nats, &ns, "worker", "first").await }
    });
    model.wait_for_requests(1, Duration::from_secs(10)).await.expect("the first request reached the model");
    let second = harness::ask_agent(&nats, &ns, "worker", "second").await;

    assert_eq!(second.error.map(|e| e.code), Some(ErrorCode::Busy));
    let first = first.await.expect("first request task");
    assert_eq!(first.output.as_deref(), Some("slow answer"), "{first:?}");
    assert_eq!(model.request_count(), 1, "the busy request never reached the model");
}

#[tokio::test]
async fn sigterm_with_a_request_in_flight_still_answers_it() {
    let model = ScriptedModel::start(Flavor::OpenAi).await;
    model.set_default(Step::Slow(Duration::from_millis(1500), Box::new(Step::Text("finished".into()))));
    let ns = nats_fixture::unique_namespace("drain");
    let mut runner = harness::start(&harness::config(
        &ns,
        "worker",
        vec![harness::model("primary", &model.base_url())],
        vec![],
    ))
    .await;
    let nats = nats_fixture::connect().await.expect("nats");

    let in_flight = tokio::spawn({
        let (nats, ns) = (nats.clone(), ns.clone());
        async move { harness::ask_agent(&nats, &ns, "worker", "finish me").await }
    });
    model.wait_for_requests(1, Duration::from_secs(10)).await.expect("the request reached the model");
    runner.terminate().expect("SIGTERM sent");

    let reply = in_flight.await.expect("request task");
    assert_eq!(reply.output.as_deref(), Some("finished"), "{reply:?}");
    let status = runner.wait_exit(Duration::from_secs(15)).await.expect("runner exits after draining");
    assert!(status.success(), "clean exit: {status:?}\n{}", runner.output());
}

#[tokio::test]
async fn two_replicas_share_one_hundred_requests_each_answered_once() {
    let model = ScriptedModel::start(Flavor::OpenAi).await;
    model.set_default(Step::Text("ok".into()));
    let ns = nats_fixture::unique_namespace("replicas");
    let mut config =
        harness::config(&ns, "worker", vec![harness::model("primary", &model.base_url())], vec![]);
    config.limits.max_concurrent_requests = 100;
    let one = harness::start(&config).await;
    let two = harness::start(&config).await;
    let nats = nats_fixture::connect().await.expect("nats");

    let mut tasks = Vec::new();
    for i in 0..100 {
        let (nats, ns) = (nats.clone(), ns.clone());
        tasks.push(tokio::spawn(async move {
            let request = AgentRequest::new(format!("req-{i}"), format!("question {i}"));
            harness::send(&nats, &ns, "worker", &request).await
        }));
    }
    for (i, task) in tasks.into_iter().enumerate() {
        let reply = task.await.expect("request task");
        assert_eq!(reply.request_id, format!("req-{i}"), "each caller gets the reply to its own request");
        assert_eq!(reply.output.as_deref(), Some("ok"), "{reply:?}");
    }
    // What the model was asked, not what the test sent: every question exactly once.
    let mut asked: Vec<String> = model
        .requests()
        .iter()
        .map(|r| r["messages"][1]["content"].as_str().unwrap_or_default().to_string())
        .collect();
    asked.sort();
    let mut sent: Vec<String> = (0..100).map(|i| format!("question {i}")).collect();
    sent.sort();
    assert_eq!(asked, sent, "each request reached the model exactly once");
    let served = |text: String| {
        harness::metric_value(&text, "agentry_agent_requests_total", &[("outcome", "ok")]).unwrap_or(0.0)
    };
    let (by_one, by_two) =
        (served(one.metrics().await.expect("metrics")), served(two.metrics().await.expect("metrics")));
    assert_eq!(by_one + by_two, 100.0);
    assert!(by_one > 0.0 && by_two > 0.0, "both replicas served: {by_one} and {by_two}");
}

#[tokio::test]
async fn a_nats_outage_makes_the_runner_unready_and_it_recovers() {
    let model = ScriptedModel::start(Flavor::OpenAi).await;
    model.set_default(Step::Text("back".into()));
    let mut server = agentry_tests::nats_fixture::PrivateNats::start().await.expect("private NATS");
    let ns = nats_fixture::unique_namespace("outage");
    let mut config =
        harness::config(&ns, "worker", vec![harness::model("primary", &model.base_url())], vec![]);
    config.nats.url = server.url();
    let runner = harness::start(&config).await;
    let readyz = format!("http://{}/readyz", runner.http);
    let client = reqwest::Client::new();
    let status = |client: reqwest::Client, url: String| async move {
        client.get(&url).send().await.map(|r| r.status().as_u16()).unwrap_or(0)
    };

    server.kill();
    agentry_tests::polling::poll_until(Duration::from_secs(10), || {
        let (client, url) = (client.clone(), readyz.clone());
        async move { (status(client, url).await == 503).then_some(()) }
    })
    .await
    .expect("unready while NATS is down");

    server.revive().await.expect("NATS back");
    agentry_tests::polling::poll_until(Duration::from_secs(30), || {
        let (client, url) = (client.clone(), readyz.clone());
        async move { (status(client, url).await == 200).then_some(()) }
    })
    .await
    .expect("ready again once NATS is back");
    let nats = async_nats::connect(server.url()).await.expect("connect to the private NATS");
    let reply = harness::ask_agent(&nats, &ns, "worker", "still there?").await;
    assert_eq!(reply.output.as_deref(), Some("back"), "{reply:?}");
}

#[tokio::test]
async fn a_runner_answers_while_the_events_stream_cannot_be_created_and_sends_its_events_later() {
    use agentry_protocol::subjects::{EVENTS_STREAM, EVENTS_STREAM_SUBJECTS};
    use agentry_tests::polling::poll_until;
    use async_nats::jetstream::stream;

    let server = nats_fixture::PrivateNats::start().await.expect("private NATS");
    let nats = async_nats::connect(server.url()).await.expect("connect");
    let js = async_nats::jetstream::new(nats.clone());
    // A stream already holding the event subjects keeps AGENTRY_EVENTS from being created.
    let blocker = stream::Config {
        name: "BLOCKER".into(),
        subjects: vec![EVENTS_STREAM_SUBJECTS.into()],
        ..Default::default()
    };
    js.create_stream(blocker).await.expect("blocking stream");
    let url = server.url();
    let agent = OneAgent::start(harness::runner_binary(), "no-events", |config| config.nats.url = url).await;
    agent.model.set_default(Step::Text("answered anyway".into()));
    let (ns, runner) = (&agent.ns, &agent.runner);

    let reply = harness::ask_agent(&nats, ns, AGENT, "are you there?").await;
    assert_eq!(reply.output.as_deref(), Some("answered anyway"), "{reply:?}");
    poll_until(Duration::from_secs(30), || async {
        runner.output().contains("AGENTRY_EVENTS stream is unavailable").then_some(())
    })
    .await
    .expect("the runner says the events stream is unavailable");

    js.delete_stream("BLOCKER").await.expect("unblocked");
    let stored = poll_until(Duration::from_secs(60), || async {
        let mut events = js.get_stream(EVENTS_STREAM).await.ok()?;
        let info = events.info().await.ok()?;
        (info.state.messages >= 3).then_some(info.state.messages)
    })
    .await
    .expect("the request's buffered events reach the stream once it can be created");
    assert!(stored >= 3, "user message, assistant message, interaction: {stored}");
    let output = runner.output();
    assert_eq!(output.matches("AGENTRY_EVENTS stream is unavailable").count(), 1, "logged once:\n{output}");
}
