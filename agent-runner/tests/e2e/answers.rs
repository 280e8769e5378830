//! Answers: plain, with tools, with corrected arguments, and the events and metrics they leave.

use std::time::Duration;

use agentry_protocol::ErrorCode;
use agentry_protocol::runner_config::{HttpMethod, ToolDefinition, ToolImplementation};
use agentry_tests::nats_fixture;
use agentry_tests::runner_fixture::{AGENT, OneAgent};
use agentry_tests::scripted_model::{Flavor, ScriptedModel, Step};
use axum::routing::get;
use futures::StreamExt;

use crate::harness::{self, MODEL_KEY};

#[tokio::test]
async fn a_plain_answer_reports_model_usage_and_cost_and_never_logs_the_key() {
    let model = ScriptedModel::start(Flavor::OpenAi).await;
    model.push(Step::Text("All 120 trucks are on the road.".into()));
    let ns = nats_fixture::unique_namespace("plain");
    let runner = harness::start(&harness::config(
        &ns,
        "fleet-manager",
        vec![harness::model("primary", &model.base_url())],
        vec![],
    ))
    .await;
    let nats = nats_fixture::connect().await.expect("nats");

    let reply = harness::ask_agent(&nats, &ns, "fleet-manager", "How is the fleet?").await;

    assert_eq!(reply.error, None);
    assert_eq!(reply.output.as_deref(), Some("All 120 trucks are on the road."));
    assert_eq!(reply.model.as_deref(), Some("primary"));
    assert!(reply.usage.input_tokens > 0 && reply.usage.output_tokens > 0, "{:?}", reply.usage);
    let expected_cost =
        (reply.usage.input_tokens as f64 * 1.0 + reply.usage.output_tokens as f64 * 2.0) / 1e6;
    assert!((reply.usage.cost_usd - expected_cost).abs() < 1e-12, "{:?}", reply.usage);
    let sent = &model.requests()[0];
    assert_eq!(sent["messages"][0]["role"], "system");
    assert_eq!(sent["messages"][0]["content"], "You are fleet-manager.");
    assert_eq!(sent["messages"][1]["content"], "How is the fleet?");
    assert!(!runner.output().contains(MODEL_KEY), "the API key leaked into the runner's output");
}

#[tokio::test]
async fn an_answer_needing_an_http_tool_and_the_calculator() {
    let telemetry = axum::Router::new().route(
        "/vehicles/{id}",
        get(|axum::extract::Path(id): axum::extract::Path<String>| async move {
            format!("{{\"vehicle\":\"{id}\",\"odometerKm\":412000}}")
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let telemetry_url = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move { axum::serve(listener, telemetry).await });

    let model = ScriptedModel::start(Flavor::OpenAi).await;
    model.push(Step::ToolCalls(vec![
        ("vehicle-telemetry".into(), serde_json::json!({"vehicleId": "TRK-0042"})),
        ("calculator".into(), serde_json::json!({"expression": "412000 - 400000"})),
    ]));
    model.push(Step::Echo);
    let http_tool = ToolDefinition {
        name: "vehicle-telemetry".into(),
        description: "Telemetry of one vehicle.".into(),
        input_schema: serde_json::json!({
            "type": "object", "properties": {"vehicleId": {"type": "string"}}, "required": ["vehicleId"]
        }),
        implementation: ToolImplementation::Http {
            url: format!("{telemetry_url}/vehicles/{{vehicleId}}"),
            method: HttpMethod::Get,
            headers: Default::default(),
            secret_headers: Vec::new(),
            max_response_bytes: 4096,
            // The telemetry server is on loopback, which http tools may reach only when allowed.
            allow_private_networks: vec!["127.0.0.0/8".into()],
            allowed_hosts: Vec::new(),
        },
        rate_limit_per_minute: None,
        cache_ttl_seconds: None,
        timeout_seconds: 5,
    };
    let ns = nats_fixture::unique_namespace("tools");
    let _runner = harness::start(&harness::config(
        &ns,
        "fleet-manager",
        vec![harness::model("primary", &model.base_url())],
        vec![http_tool, harness::calculator()],
    ))
    .await;
    let nats = nats_fixture::connect().await.expect("nats");

    let reply = harness::ask_agent(&nats, &ns, "fleet-manager", "Retire TRK-0042?").await;

    assert_eq!(reply.error, None, "{reply:?}");
    let names: Vec<_> = reply.tool_calls.iter().map(|c| (c.name.as_str(), c.ok)).collect();
    assert_eq!(names, [("vehicle-telemetry", true), ("calculator", true)]);
    let second = &model.requests()[1];
    let tool_results: Vec<String> = second["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap_or_default().to_string())
        .collect();
    // Exact values: the telemetry body as the server sent it for the vehicle in the path, and
    // the calculator's result (a substring match would take "412000" for "12000").
    assert_eq!(tool_results, [r#"{"vehicle":"TRK-0042","odometerKm":412000}"#, "12000"], "{second}");
    assert_eq!(reply.output.as_deref(), Some("echo: 12000"), "{reply:?}");
}

#[tokio::test]
async fn invalid_tool_arguments_are_corrected_by_the_model() {
    let model = ScriptedModel::start(Flavor::OpenAi).await;
    model.push(Step::ToolCalls(vec![("calculator".into(), serde_json::json!({"expr": "6*7"}))]));
    model.push(Step::ToolCalls(vec![("calculator".into(), serde_json::json!({"expression": "6*7"}))]));
    model.push(Step::Text("42".into()));
    let ns = nats_fixture::unique_namespace("correct");
    let runner = harness::start(&harness::config(
        &ns,
        "finance-officer",
        vec![harness::model("primary", &model.base_url())],
        vec![harness::calculator()],
    ))
    .await;
    let nats = nats_fixture::connect().await.expect("nats");

    let reply = harness::ask_agent(&nats, &ns, "finance-officer", "6 times 7?").await;

    assert_eq!(reply.output.as_deref(), Some("42"), "{reply:?}");
    let oks: Vec<bool> = reply.tool_calls.iter().map(|c| c.ok).collect();
    assert_eq!(oks, [false, true]);
    let refusal = model.requests()[1]["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .find(|m| m["role"] == "tool")
        .map(|m| m["content"].to_string())
        .expect("the refusal went back to the model");
    assert!(refusal.contains("expression"), "the refusal should name the missing argument: {refusal}");
    let metrics = runner.metrics().await.expect("metrics");
    assert_eq!(
        harness::metric_value(
            &metrics,
            "agentry_tool_calls_total",
            &[("tool", "calculator"), ("outcome", "invalid_arguments")]
        ),
        Some(1.0),
        "{metrics}"
    );
}

#[tokio::test]
async fn max_turns_reached_is_an_error_reply() {
    let model = ScriptedModel::start(Flavor::OpenAi).await;
    model.set_default(Step::ToolCalls(vec![("calculator".into(), serde_json::json!({"expression": "1+1"}))]));
    let ns = nats_fixture::unique_namespace("turns");
    let mut config = harness::config(
        &ns,
        "worker",
        vec![harness::model("primary", &model.base_url())],
        vec![harness::calculator()],
    );
    config.limits.max_turns = 3;
    let _runner = harness::start(&config).await;
    let nats = nats_fixture::connect().await.expect("nats");

    let reply = harness::ask_agent(&nats, &ns, "worker", "Loop forever").await;

    let error = reply.error.expect("an error reply");
    assert_eq!(error.code, ErrorCode::MaxTurns);
    assert!(error.message.contains("maxTurns"), "{}", error.message);
    assert_eq!(model.request_count(), 3);
}

#[tokio::test]
async fn malformed_request_json_gets_an_error_reply() {
    let model = ScriptedModel::start(Flavor::OpenAi).await;
    let ns = nats_fixture::unique_namespace("malformed");
    let _runner = harness::start(&harness::config(
        &ns,
        "worker",
        vec![harness::model("primary", &model.base_url())],
        vec![],
    ))
    .await;
    let nats = nats_fixture::connect().await.expect("nats");

    let raw =
        harness::send_raw(&nats, &ns, "worker", b"{\"requestId\": \"r-bad\", \"input\": ".to_vec(), "r-bad")
            .await;
    let reply: agentry_protocol::AgentReply = serde_json::from_slice(&raw).expect("an AgentReply");
    assert_eq!(reply.error.as_ref().map(|e| e.code), Some(ErrorCode::BadRequest));
    let raw =
        harness::send_raw(&nats, &ns, "worker", br#"{"requestId": "r-2", "input": 7}"#.to_vec(), "r-2").await;
    let reply: agentry_protocol::AgentReply = serde_json::from_slice(&raw).expect("an AgentReply");
    assert_eq!(reply.request_id, "r-2");
    assert_eq!(reply.error.as_ref().map(|e| e.code), Some(ErrorCode::BadRequest));
    assert_eq!(model.request_count(), 0, "a refused request never reaches the model");
}

#[tokio::test]
async fn request_ids_no_header_can_hold_are_refused_with_a_reply_not_a_panic() {
    let agent = OneAgent::start(harness::runner_binary(), "badid", |_| {}).await;
    agent.model.set_default(Step::Text("fine".into()));

    for id in ["line\nbreak", "carriage\rreturn", &"x".repeat(300)] {
        let body = serde_json::to_vec(&serde_json::json!({"requestId": id, "input": "hello"})).expect("json");
        let raw = harness::send_raw(&agent.nats, &agent.ns, AGENT, body, "header-id").await;
        let reply: agentry_protocol::AgentReply = serde_json::from_slice(&raw).expect("an AgentReply");
        let error = reply.error.expect("refused");
        assert_eq!(error.code, ErrorCode::BadRequest, "{}", error.message);
        assert!(error.message.starts_with("requestId must"), "{}", error.message);
    }
    assert_eq!(agent.model.request_count(), 0, "a refused request never reaches the model");
    // Nothing leaked and the runner still answers.
    let metrics = agent.runner.metrics().await.expect("metrics");
    assert_eq!(
        harness::metric_value(&metrics, "agentry_agent_requests_in_flight", &[]),
        Some(0.0),
        "{metrics}"
    );
    assert_eq!(agent.ask("still there?").await.output.as_deref(), Some("fine"));
}

#[tokio::test]
async fn events_reach_jetstream_with_the_request_id_and_metrics_move() {
    let model = ScriptedModel::start(Flavor::OpenAi).await;
    model.set_default(Step::Text("Budget left: 412,300 USD.".into()));
    let ns = nats_fixture::unique_namespace("events");
    let runner = harness::start(&harness::config(
        &ns,
        "finance-officer",
        vec![harness::model("primary", &model.base_url())],
        vec![],
    ))
    .await;
    let nats = nats_fixture::connect().await.expect("nats");

    let reply = harness::ask_agent(&nats, &ns, "finance-officer", "Budget?").await;
    assert_eq!(reply.error, None);

    let js = async_nats::jetstream::new(nats.clone());
    let stream = js.get_stream("AGENTRY_EVENTS").await.expect("the runner created AGENTRY_EVENTS");
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            filter_subject: format!("agentry.{ns}.events.>"),
            deliver_policy: async_nats::jetstream::consumer::DeliverPolicy::All,
            ..Default::default()
        })
        .await
        .expect("consumer");
    let mut kinds = std::collections::BTreeSet::new();
    let mut messages = consumer.messages().await.expect("messages");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let complete = |k: &std::collections::BTreeSet<&str>| {
        ["interaction", "modelCall", "message"].iter().all(|x| k.contains(x))
    };
    while !complete(&kinds) {
        let Ok(Some(Ok(message))) = tokio::time::timeout_at(deadline, messages.next()).await else {
            panic!("events seen before the deadline: {kinds:?}");
        };
        let event: agentry_protocol::Event = serde_json::from_slice(&message.payload).expect("an Event");
        assert_eq!(event.request_id, reply.request_id);
        assert_eq!(event.namespace, ns);
        assert_eq!(message.subject.split('.').nth(1), Some(ns.as_str()));
        kinds.insert(event.body.kind());
    }

    let metrics = runner.metrics().await.expect("metrics");
    assert_eq!(
        harness::metric_value(&metrics, "agentry_agent_requests_total", &[("outcome", "ok")]),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        harness::metric_value(
            &metrics,
            "agentry_model_calls_total",
            &[("model", "primary"), ("outcome", "ok")]
        ),
        Some(1.0),
        "{metrics}"
    );
    assert!(
        harness::metric_value(&metrics, "agentry_events_published_total", &[]).unwrap_or(0.0) >= 3.0,
        "{metrics}"
    );
}

#[tokio::test]
async fn an_anthropic_model_answers_with_tool_use() {
    let model = ScriptedModel::start(Flavor::Anthropic).await;
    model.push(Step::ToolCalls(vec![("calculator".into(), serde_json::json!({"expression": "2^10"}))]));
    model.push(Step::Echo);
    let ns = nats_fixture::unique_namespace("anthropic");
    let mut endpoint = harness::model("claude", &model.base_url());
    endpoint.provider = agentry_protocol::runner_config::Provider::Anthropic;
    let _runner =
        harness::start(&harness::config(&ns, "analyst", vec![endpoint], vec![harness::calculator()])).await;
    let nats = nats_fixture::connect().await.expect("nats");

    let reply = harness::ask_agent(&nats, &ns, "analyst", "2 to the 10th?").await;

    assert_eq!(reply.error, None, "{reply:?}");
    assert!(reply.output.as_deref().unwrap_or_default().contains("1024"), "{reply:?}");
    assert_eq!(reply.model.as_deref(), Some("claude"));
}

#[tokio::test]
async fn tool_results_are_published_as_tool_messages_of_the_conversation() {
    let model = ScriptedModel::start(Flavor::OpenAi).await;
    model.push(Step::tool_call("calculator", serde_json::json!({"expression": "6*7"})));
    model.push(Step::Text("It is 42.".into()));
    let ns = nats_fixture::unique_namespace("tool-messages");
    let config = harness::config(
        &ns,
        "analyst",
        vec![harness::model("primary", &model.base_url())],
        vec![harness::calculator()],
    );
    let _runner = harness::start(&config).await;
    let nats = nats_fixture::connect().await.expect("nats");

    let reply = harness::ask_agent(&nats, &ns, "analyst", "6 times 7?").await;
    assert_eq!(reply.output.as_deref(), Some("It is 42."), "{reply:?}");

    let js = async_nats::jetstream::new(nats.clone());
    let stream = js.get_stream("AGENTRY_EVENTS").await.expect("the runner created AGENTRY_EVENTS");
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            filter_subject: format!("agentry.{ns}.events.analyst.message"),
            deliver_policy: async_nats::jetstream::consumer::DeliverPolicy::All,
            inactive_threshold: Duration::from_secs(30),
            ..Default::default()
        })
        .await
        .expect("consumer");
    let mut messages = consumer.messages().await.expect("messages");
    let mut conversation = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while conversation.len() < 4 {
        let Ok(Some(Ok(message))) = tokio::time::timeout_at(deadline, messages.next()).await else {
            panic!("messages seen before the deadline: {conversation:?}");
        };
        let event: agentry_protocol::Event = serde_json::from_slice(&message.payload).expect("an Event");
        let agentry_protocol::events::EventBody::Message(body) = event.body else { panic!("a message") };
        conversation.push((body.role, body.content, body.tool_name));
    }

    use agentry_protocol::events::MessageRole::{Assistant, Tool, User};
    assert_eq!(
        conversation,
        [
            (User, "6 times 7?".to_string(), None),
            (Assistant, String::new(), None),
            (Tool, "42".to_string(), Some("calculator".to_string())),
            (Assistant, "It is 42.".to_string(), None),
        ],
        "the tool's result is a message between the turns, named for its tool"
    );
}
