//! Traces across agent hops: real runners for agent A (which delegates) and agent B, with a
//! scripted model each, export their spans over OTLP/HTTP to a local receiver; a caller's
//! `traceparent` sent over NATS makes one trace of caller → A's request → A's model calls and
//! tool call → A's delegation → B's request → B's model call. A real operator exports a span per
//! reconcile; a runner whose collector is down still answers, counting the spans it drops.

use std::time::Duration;

use agentry_protocol::{AgentRequest, headers};
use agentry_tests::binaries::{self, Binaries};
use agentry_tests::metrics_text;
use agentry_tests::operator_world::World;
use agentry_tests::otlp_receiver::{OtlpReceiver, ReceivedSpan};
use agentry_tests::runner_fixture::{self, MODEL_KEY, MODEL_KEY_ENV, ask, config, model};
use agentry_tests::runner_process::RunnerProcess;
use agentry_tests::scripted_model::{Flavor, ScriptedModel, Step};
use agentry_tests::{nats_fixture, polling::poll_until};

/// How long spans may take to arrive (the runners send every 100 ms).
const DEADLINE: Duration = Duration::from_secs(30);
/// Sent to the receiver with every export; it must never appear in a log.
const COLLECTOR_TOKEN: &str = "collector-token-7d1e5a0c";

async fn binaries() -> &'static Binaries {
    tokio::task::spawn_blocking(binaries::built)
        .await
        .expect("the build task")
        .unwrap_or_else(|err| panic!("{err}"))
}

/// The environment that points a binary at `receiver`.
fn otel_env(receiver: &OtlpReceiver, namespace: &str) -> Vec<(String, String)> {
    vec![
        ("OTEL_EXPORTER_OTLP_ENDPOINT".into(), receiver.endpoint().into()),
        ("OTEL_BSP_SCHEDULE_DELAY".into(), "100".into()),
        ("OTEL_EXPORTER_OTLP_HEADERS".into(), format!("x-collector-token={COLLECTOR_TOKEN}")),
        ("OTEL_RESOURCE_ATTRIBUTES".into(), format!("k8s.namespace.name={namespace}")),
    ]
}

async fn start_runner(
    binary: &std::path::Path,
    config: &agentry_protocol::RunnerConfig,
    env: &[(String, String)],
) -> RunnerProcess {
    let mut all: Vec<(&str, &str)> = vec![(MODEL_KEY_ENV, MODEL_KEY)];
    all.extend(env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    RunnerProcess::start(binary, config, &all)
        .await
        .unwrap_or_else(|err| panic!("runner {} did not start: {err}", config.agent))
}

fn one<'a>(spans: &'a [ReceivedSpan], name: &str, agent: &str) -> &'a ReceivedSpan {
    let found: Vec<_> =
        spans.iter().filter(|s| s.name == name && s.attribute("agentry.agent") == Some(agent)).collect();
    assert_eq!(found.len(), 1, "one {name} of {agent}: {spans:#?}");
    found[0]
}

fn children<'a>(spans: &'a [ReceivedSpan], parent: &ReceivedSpan, name: &str) -> Vec<&'a ReceivedSpan> {
    spans.iter().filter(|s| s.parent_span_id == parent.span_id && s.name == name).collect()
}

#[tokio::test]
async fn one_trace_runs_from_the_caller_through_a_and_b_to_the_model() {
    let binaries = binaries().await;
    let receiver = OtlpReceiver::start().await;
    let model_a = ScriptedModel::start(Flavor::OpenAi).await;
    model_a
        .push(Step::ToolCalls(vec![("ask-b-agent".into(), serde_json::json!({"question": "Budget left?"}))]));
    model_a.push(Step::Echo);
    let model_b = ScriptedModel::start(Flavor::OpenAi).await;
    model_b.push(Step::Text("412,300 USD remains.".into()));
    let ns = nats_fixture::unique_namespace("traces");
    let env = otel_env(&receiver, &ns);
    let b = start_runner(
        &binaries.runner,
        &config(&ns, "b-agent", vec![model("b", &model_b.base_url())], vec![]),
        &env,
    )
    .await;
    let a_config = config(&ns, "a-agent", vec![model("a", &model_a.base_url())], vec![ask("b-agent")]);
    let a = start_runner(&binaries.runner, &a_config, &env).await;

    // The caller: its own trace id and span id, sent as a W3C traceparent over NATS.
    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let caller_span = &uuid::Uuid::new_v4().simple().to_string()[..16];
    let nats = nats_fixture::connect().await.expect("nats");
    let request = AgentRequest::new("r-traced", "Can we repair TRK-0042?");
    let mut header_map = async_nats::HeaderMap::new();
    header_map.insert(headers::REQUEST_ID, "r-traced");
    header_map.insert(headers::TRACEPARENT, format!("00-{trace_id}-{caller_span}-01").as_str());
    let subject = runner_fixture::query_subject(&ns, "a-agent", &runner_fixture::TEST_CALLER);
    let raw = nats
        .send_request(
            subject,
            async_nats::Request::new()
                .payload(serde_json::to_vec(&request).expect("json").into())
                .headers(header_map)
                .timeout(Some(DEADLINE)),
        )
        .await
        .expect("A answers");
    let reply: agentry_protocol::AgentReply = serde_json::from_slice(&raw.payload).expect("AgentReply");
    assert_eq!(reply.error, None, "{reply:?}");
    assert!(reply.output.as_deref().unwrap_or_default().contains("412,300 USD remains."), "{reply:?}");

    // Each runner ends its request span last and sends it in its last batch; the two runners
    // send independently.
    let spans = receiver
        .wait_for(DEADLINE, "request spans of both agents", |spans| {
            ["a-agent", "b-agent"].iter().all(|agent| {
                spans
                    .iter()
                    .any(|s| s.name == "agentry.request" && s.attribute("agentry.agent") == Some(*agent))
            })
        })
        .await
        .unwrap_or_else(|err| panic!("{err}\nA's output:\n{}", a.output()));
    assert_eq!(receiver.refused(), Vec::<String>::new(), "every export is valid OTLP JSON");
    assert!(spans.iter().all(|s| s.trace_id == trace_id), "one trace, the caller's: {spans:#?}");
    assert!(spans.iter().all(|s| s.service == "agentry-runner"), "{spans:#?}");

    let a_request = one(&spans, "agentry.request", "a-agent");
    assert_eq!(a_request.parent_span_id, caller_span, "A's request is the caller's child");
    assert_eq!(a_request.kind, 2, "server");
    assert_eq!(a_request.attribute("agentry.namespace"), Some(ns.as_str()));
    assert_eq!(a_request.attribute("agentry.request_id"), Some("r-traced"));
    assert_eq!(a_request.attribute("agentry.outcome"), Some("ok"));
    assert_eq!(a_request.status_code, 0, "not an error");

    let a_models = children(&spans, a_request, "agentry.model_call");
    assert_eq!(a_models.len(), 2, "A asked its model twice: {spans:#?}");
    for call in &a_models {
        assert_eq!(call.attribute("gen_ai.request.model"), Some("a"));
        assert_eq!(call.attribute("agentry.outcome"), Some("ok"));
        assert_eq!(call.kind, 3, "client");
    }
    let tools = children(&spans, a_request, "agentry.tool_call");
    assert_eq!(tools.len(), 1, "{spans:#?}");
    assert_eq!(tools[0].attribute("gen_ai.tool.name"), Some("ask-b-agent"));
    let delegations = children(&spans, tools[0], "agentry.delegation");
    assert_eq!(delegations.len(), 1, "{spans:#?}");
    assert_eq!(delegations[0].attribute("agentry.peer"), Some("b-agent"));
    assert_eq!(delegations[0].attribute("agentry.outcome"), Some("ok"));

    let b_request = one(&spans, "agentry.request", "b-agent");
    assert_eq!(b_request.parent_span_id, delegations[0].span_id, "B's request is A's delegation's child");
    assert_eq!(b_request.attribute("agentry.from"), Some("a-agent"));
    assert!(b_request.attribute("agentry.request_id").is_some_and(|id| id.starts_with("r-traced.")));
    let b_models = children(&spans, b_request, "agentry.model_call");
    assert_eq!(b_models.len(), 1, "{spans:#?}");
    assert_eq!(b_models[0].attribute("gen_ai.request.model"), Some("b"));
    assert!(b_models[0].attribute("gen_ai.usage.output_tokens").is_some(), "{:#?}", b_models[0]);

    let tokens: Vec<_> =
        receiver.headers().iter().filter_map(|h| h.get("x-collector-token").cloned()).collect();
    assert!(
        !tokens.is_empty() && tokens.iter().all(|t| t == COLLECTOR_TOKEN),
        "OTEL_EXPORTER_OTLP_HEADERS sent"
    );
    for (name, output) in [("A", a.output()), ("B", b.output())] {
        assert!(!output.contains(COLLECTOR_TOKEN), "{name} logged the collector header:\n{output}");
    }
}

#[tokio::test]
async fn a_failed_request_is_an_error_span() {
    let binaries = binaries().await;
    let receiver = OtlpReceiver::start().await;
    let model_a = ScriptedModel::start(Flavor::OpenAi).await;
    for _ in 0..3 {
        model_a.push(Step::Status { code: 500, retry_after: None, body: String::new() });
    }
    let ns = nats_fixture::unique_namespace("traces-err");
    let a = start_runner(
        &binaries.runner,
        &config(&ns, "a-agent", vec![model("a", &model_a.base_url())], vec![]),
        &otel_env(&receiver, &ns),
    )
    .await;
    let nats = nats_fixture::connect().await.expect("nats");
    let reply = runner_fixture::ask_agent(&nats, &ns, "a-agent", "Anything?").await;
    let code = reply.error.as_ref().map(|e| e.code.as_str()).expect("an error reply");

    let spans = receiver
        .wait_for(DEADLINE, "request span", |spans| spans.iter().any(|s| s.name == "agentry.request"))
        .await
        .unwrap_or_else(|err| panic!("{err}\noutput:\n{}", a.output()));
    let request = one(&spans, "agentry.request", "a-agent");
    assert_eq!(request.parent_span_id, "", "no traceparent: the request starts the trace");
    assert_eq!(request.status_code, 2, "error");
    assert_eq!(request.attribute("agentry.outcome"), Some(code));
    assert!(!request.status_message.is_empty());
    let calls = children(&spans, request, "agentry.model_call");
    assert_eq!(calls.len(), 1, "{spans:#?}");
    assert_eq!(calls[0].status_code, 2);
    assert_eq!(calls[0].attribute("agentry.attempts"), Some("3"), "{:#?}", calls[0]);
}

#[tokio::test]
async fn a_runner_whose_collector_is_down_answers_and_counts_the_spans_it_drops() {
    let binaries = binaries().await;
    let model_a = ScriptedModel::start(Flavor::OpenAi).await;
    model_a.push(Step::Text("fine".into()));
    let ns = nats_fixture::unique_namespace("traces-down");
    // A port nobody listens on: every export fails.
    let closed = agentry_tests::runner_process::free_port().expect("a free port");
    let env = vec![
        ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT".to_string(), format!("http://127.0.0.1:{closed}/v1/traces")),
        ("OTEL_BSP_SCHEDULE_DELAY".into(), "50".into()),
    ];
    let a = start_runner(
        &binaries.runner,
        &config(&ns, "a-agent", vec![model("a", &model_a.base_url())], vec![]),
        &env,
    )
    .await;
    let nats = nats_fixture::connect().await.expect("nats");
    let reply = runner_fixture::ask_agent(&nats, &ns, "a-agent", "Anything?").await;
    assert_eq!(reply.output.as_deref(), Some("fine"), "{reply:?}");
    let dropped = poll_until(DEADLINE, || async {
        let text = a.metrics().await.ok()?;
        metrics_text::metric_value(&text, "agentry_trace_spans_dropped_total", &[]).filter(|n| *n >= 2.0)
    })
    .await
    .unwrap_or_else(|err| {
        panic!("agentry_trace_spans_dropped_total did not reach 2: {err}; output:\n{}", a.output())
    });
    assert!(dropped >= 2.0, "the request and its model call");
}

#[tokio::test]
async fn the_operator_exports_a_span_per_reconcile() {
    let receiver = OtlpReceiver::start().await;
    let world = World::start("traces-op").await;
    let mut options = world.operator_options();
    options.env = otel_env(&receiver, &world.ns);
    options.env.push(("OTEL_SERVICE_NAME".into(), "operator-under-test".into()));
    let _operator = world.start_operator_with(&options).await;
    world.apply_samples().await;
    let spans = receiver
        .wait_for(DEADLINE, "reconcile span of the test namespace", |spans| {
            spans
                .iter()
                .any(|s| s.name == "agentry.reconcile" && s.attribute("namespace") == Some(world.ns.as_str()))
        })
        .await
        .unwrap_or_else(|err| panic!("{err}"));
    let reconcile = spans
        .iter()
        .find(|s| s.name == "agentry.reconcile" && s.attribute("namespace") == Some(world.ns.as_str()))
        .expect("found above");
    assert_eq!(reconcile.service, "operator-under-test", "OTEL_SERVICE_NAME names the service");
    assert_eq!(reconcile.parent_span_id, "", "a reconcile starts its own trace");
    assert_eq!(reconcile.kind, 1, "internal");
    assert!(reconcile.attribute("controller").is_some_and(|c| !c.is_empty()), "{reconcile:#?}");
    assert!(reconcile.attribute("name").is_some_and(|n| !n.is_empty()), "{reconcile:#?}");
    assert!(reconcile.attribute("agentry.outcome").is_some(), "{reconcile:#?}");
    world.shutdown().await;
}
