//! Delegation between runners over NATS: answered, cycles refused, depth limited.

use agentry_tests::nats_fixture;
use agentry_tests::scripted_model::{Flavor, ScriptedModel, Step};

use crate::harness;

/// The text of every tool result the model was sent, across all its requests.
fn tool_results(model: &ScriptedModel) -> Vec<String> {
    model
        .requests()
        .iter()
        .flat_map(|r| r["messages"].as_array().cloned().unwrap_or_default())
        .filter(|m| m["role"] == "tool")
        .map(|m| m["content"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn a_delegation_from_a_to_b_is_answered() {
    let model_a = ScriptedModel::start(Flavor::OpenAi).await;
    model_a.push(Step::ToolCalls(vec![(
        "ask-finance-officer".into(),
        serde_json::json!({"question": "Budget left?"}),
    )]));
    model_a.push(Step::Echo);
    let model_b = ScriptedModel::start(Flavor::OpenAi).await;
    model_b.push(Step::Text("412,300 USD remains.".into()));
    let ns = nats_fixture::unique_namespace("delegate");
    let _b = harness::start(&harness::config(
        &ns,
        "finance-officer",
        vec![harness::model("b", &model_b.base_url())],
        vec![],
    ))
    .await;
    let _a = harness::start(&harness::config(
        &ns,
        "fleet-manager",
        vec![harness::model("a", &model_a.base_url())],
        vec![harness::ask("finance-officer")],
    ))
    .await;
    let nats = nats_fixture::connect().await.expect("nats");
    // A plain subscriber outside the queue group sees a copy of every request B gets; A asks on
    // B's subject for caller fleet-manager.
    let mut spy =
        nats.subscribe(format!("agentry.{ns}.agent.finance-officer.query.fleet-manager")).await.expect("spy");
    nats.flush().await.expect("flush");
    let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
    let mut headers = async_nats::HeaderMap::new();
    headers.insert("request-id", "r-trace");
    headers.insert("traceparent", traceparent);
    let request =
        serde_json::to_vec(&agentry_protocol::AgentRequest::new("r-trace", "Can we repair TRK-0042?"))
            .expect("json");
    let raw = nats
        .send_request(
            harness::query_subject(&ns, "fleet-manager", &harness::TEST_CALLER),
            async_nats::Request::new()
                .payload(request.into())
                .headers(headers)
                .timeout(Some(std::time::Duration::from_secs(30))),
        )
        .await
        .expect("reply");
    let reply: agentry_protocol::AgentReply = serde_json::from_slice(&raw.payload).expect("AgentReply");

    assert_eq!(reply.error, None, "{reply:?}");
    assert!(reply.output.as_deref().unwrap_or_default().contains("412,300 USD remains."), "{reply:?}");
    let delegated =
        tokio::time::timeout(std::time::Duration::from_secs(5), futures::StreamExt::next(&mut spy))
            .await
            .expect("B received a request")
            .expect("message");
    let delegated_headers = delegated.headers.expect("headers");
    assert_eq!(
        delegated_headers.get("traceparent").map(|v| v.as_str()),
        Some(traceparent),
        "trace context passed on"
    );
    assert_eq!(delegated_headers.get("delegation-depth").map(|v| v.as_str()), Some("1"));
    assert!(delegated_headers.get("request-id").is_some_and(|v| v.as_str().starts_with("r-trace.")));
    let body: agentry_protocol::AgentRequest =
        serde_json::from_slice(&delegated.payload).expect("AgentRequest");
    assert_eq!(body.delegation_path, ["fleet-manager"]);
    assert_eq!(body.from.as_deref(), Some("fleet-manager"));
    assert_eq!(reply.tool_calls.len(), 1);
    assert!(reply.tool_calls[0].ok);
    assert_eq!(model_b.requests()[0]["messages"][1]["content"], "Budget left?");
}

#[tokio::test]
async fn a_cycle_a_b_a_is_refused() {
    let model_a = ScriptedModel::start(Flavor::OpenAi).await;
    model_a.push(Step::ToolCalls(vec![(
        "ask-sales-agent".into(),
        serde_json::json!({"question": "Commitments?"}),
    )]));
    model_a.push(Step::Echo);
    let model_b = ScriptedModel::start(Flavor::OpenAi).await;
    model_b.push(Step::ToolCalls(vec![(
        "ask-fleet-manager".into(),
        serde_json::json!({"question": "Back to you"}),
    )]));
    model_b.push(Step::Echo);
    let ns = nats_fixture::unique_namespace("cycle");
    let _b = harness::start(&harness::config(
        &ns,
        "sales-agent",
        vec![harness::model("b", &model_b.base_url())],
        vec![harness::ask("fleet-manager")],
    ))
    .await;
    let _a = harness::start(&harness::config(
        &ns,
        "fleet-manager",
        vec![harness::model("a", &model_a.base_url())],
        vec![harness::ask("sales-agent")],
    ))
    .await;
    let nats = nats_fixture::connect().await.expect("nats");

    let reply = harness::ask_agent(&nats, &ns, "fleet-manager", "Plan the week").await;

    assert_eq!(reply.error, None, "A still answers: {reply:?}");
    let refused = tool_results(&model_b);
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert!(refused[0].contains("cycle"), "B's call back to A is refused as a cycle: {refused:?}");
    assert!(refused[0].contains("fleet-manager → sales-agent → fleet-manager"), "{refused:?}");
    assert_eq!(model_a.request_count(), 2, "A was asked once, by the test, never by B");
}

#[tokio::test]
async fn the_depth_limit_is_refused() {
    let model_a = ScriptedModel::start(Flavor::OpenAi).await;
    model_a.push(Step::ToolCalls(vec![("ask-b".into(), serde_json::json!({"question": "q"}))]));
    model_a.push(Step::Echo);
    let model_b = ScriptedModel::start(Flavor::OpenAi).await;
    model_b.push(Step::ToolCalls(vec![("ask-c".into(), serde_json::json!({"question": "q"}))]));
    model_b.push(Step::Echo);
    let model_c = ScriptedModel::start(Flavor::OpenAi).await;
    model_c.set_default(Step::Text("c answered".into()));
    let ns = nats_fixture::unique_namespace("depth");
    let shallow = |agent: &str, model: &ScriptedModel, tools| {
        let mut config = harness::config(&ns, agent, vec![harness::model(agent, &model.base_url())], tools);
        config.limits.max_delegation_depth = 1;
        config
    };
    let _c = harness::start(&shallow("c", &model_c, vec![])).await;
    let _b = harness::start(&shallow("b", &model_b, vec![harness::ask("c")])).await;
    let _a = harness::start(&shallow("a", &model_a, vec![harness::ask("b")])).await;
    let nats = nats_fixture::connect().await.expect("nats");

    let reply = harness::ask_agent(&nats, &ns, "a", "go deep").await;

    assert_eq!(reply.error, None, "{reply:?}");
    let refused = tool_results(&model_b);
    assert!(
        refused.iter().any(|r| r.contains("2 agents deep") && r.contains("at most 1")),
        "B's call to C is over the depth limit: {refused:?}"
    );
    assert_eq!(model_c.request_count(), 0, "C is never asked");
}

#[tokio::test]
async fn an_unreadable_reply_from_a_peer_is_an_internal_error_the_model_reads() {
    // `internal` is the one error code the runner produces for something no caller did wrong:
    // a peer that answered with something that is not an AgentReply.
    let model = ScriptedModel::start(Flavor::OpenAi).await;
    model.push(Step::tool_call("ask-finance-officer", serde_json::json!({"question": "Budget left?"})));
    model.push(Step::Echo);
    let ns = nats_fixture::unique_namespace("garbled");
    let nats = nats_fixture::connect().await.expect("nats");
    // The "peer" is the test: it answers every query with bytes that are not JSON.
    let mut peer =
        nats.subscribe(format!("agentry.{ns}.agent.finance-officer.query.*")).await.expect("subscribe");
    nats.flush().await.expect("flush");
    let answering = tokio::spawn({
        let nats = nats.clone();
        async move {
            let mut answered = 0;
            while let Some(message) = futures::StreamExt::next(&mut peer).await {
                if let Some(reply_to) = message.reply {
                    nats.publish(reply_to, "<html>502 Bad Gateway</html>".into()).await.expect("answer");
                    nats.flush().await.expect("flush");
                    answered += 1;
                    break;
                }
            }
            answered
        }
    });
    let runner = harness::start(&harness::config(
        &ns,
        "fleet-manager",
        vec![harness::model("a", &model.base_url())],
        vec![harness::ask("finance-officer")],
    ))
    .await;

    let reply = harness::ask_agent(&nats, &ns, "fleet-manager", "Can we repair TRK-0042?").await;

    assert_eq!(reply.error, None, "the asking agent still answers: {reply:?}");
    let answered = tokio::time::timeout(std::time::Duration::from_secs(5), answering)
        .await
        .expect("the peer was asked")
        .expect("peer task");
    assert_eq!(answered, 1);
    let results = tool_results(&model);
    assert_eq!(results.len(), 1, "{results:?}");
    assert!(
        results[0].starts_with(
            "Error: asking agent \"finance-officer\" failed: \
             the agent answered with an error (internal): unreadable reply: "
        ),
        "{results:?}"
    );
    let calls: Vec<_> = reply.tool_calls.iter().map(|c| (c.name.as_str(), c.ok)).collect();
    assert_eq!(calls, [("ask-finance-officer", false)]);
    assert_eq!(reply.output.as_deref(), Some(format!("echo: {}", results[0]).as_str()));
    let metrics = runner.metrics().await.expect("metrics");
    assert_eq!(
        harness::metric_value(
            &metrics,
            "agentry_agent_messages_total",
            &[("peer", "finance-officer"), ("direction", "sent")]
        ),
        Some(1.0),
        "{metrics}"
    );
}
