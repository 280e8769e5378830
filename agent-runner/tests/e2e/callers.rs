//! The caller on the wire: runners take it from the last token of the query subject, refuse an
//! agent outside the target's `allowedAgents` and a request whose `from` names someone else, and
//! never delegate to an agent outside their `peers`.

use agentry_protocol::subjects::{Caller, PlatformIdentity};
use agentry_protocol::{AgentRequest, ErrorCode};
use agentry_tests::nats_fixture;
use agentry_tests::scripted_model::{Flavor, ScriptedModel, Step};

use crate::harness;

fn request(input: &str) -> AgentRequest {
    AgentRequest::new(uuid::Uuid::new_v4().to_string(), input)
}

fn agent(name: &str) -> Caller {
    Caller::agent(name).expect("an agent name")
}

/// The results of the tool calls the model was sent, across all its requests.
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
async fn an_agent_outside_allowed_agents_is_refused_by_name() {
    let target_model = ScriptedModel::start(Flavor::OpenAi).await;
    target_model.set_default(Step::Text("412,300 USD remains.".into()));
    let asker_model = ScriptedModel::start(Flavor::OpenAi).await;
    asker_model.push(Step::tool_call("ask-finance-officer", serde_json::json!({"question": "Budget?"})));
    asker_model.push(Step::Echo);
    let ns = nats_fixture::unique_namespace("allowed");
    let mut target =
        harness::config(&ns, "finance-officer", vec![harness::model("t", &target_model.base_url())], vec![]);
    target.allowed_agents = Some(vec!["sales-agent".into()]);
    let target_runner = harness::start(&target).await;
    // fleet-manager may call finance-officer (its peer), but finance-officer does not allow it.
    let _asker = harness::start(&harness::config(
        &ns,
        "fleet-manager",
        vec![harness::model("a", &asker_model.base_url())],
        vec![harness::ask("finance-officer")],
    ))
    .await;
    let nats = nats_fixture::connect().await.expect("nats");

    let reply = harness::ask_agent(&nats, &ns, "fleet-manager", "Can we repair TRK-0042?").await;
    assert_eq!(reply.error, None, "the asking agent answers with what it learnt: {reply:?}");
    let results = tool_results(&asker_model);
    assert_eq!(results.len(), 1, "{results:?}");
    assert!(results[0].contains("(forbidden)"), "{results:?}");
    assert!(
        results[0]
            .contains("agent fleet-manager may not call finance-officer: it is not among its allowedAgents"),
        "{results:?}"
    );

    // Straight on the wire: an agent not allowed is refused, one allowed and the platform answered.
    let refused = harness::send_as(&nats, &ns, "finance-officer", &agent("intruder"), &request("hi")).await;
    let error = refused.error.expect("refused");
    assert_eq!(error.code, ErrorCode::Forbidden);
    assert!(error.message.contains("agent intruder may not call finance-officer"), "{}", error.message);
    assert_eq!(target_model.request_count(), 0, "refused callers reach no model");
    let allowed =
        harness::send_as(&nats, &ns, "finance-officer", &agent("sales-agent"), &request("hi")).await;
    assert_eq!(allowed.output.as_deref(), Some("412,300 USD remains."), "{allowed:?}");
    let platform = Caller::Platform(PlatformIdentity::Operator);
    let answered = harness::send_as(&nats, &ns, "finance-officer", &platform, &request("hi")).await;
    assert_eq!(answered.error, None, "platform identities are always allowed: {answered:?}");
    let metrics = target_runner.metrics().await.expect("metrics");
    assert_eq!(
        harness::metric_value(&metrics, "agentry_agent_requests_total", &[("outcome", "forbidden")]),
        Some(2.0),
        "{metrics}"
    );
}

#[tokio::test]
async fn a_runner_never_delegates_to_an_agent_outside_its_peers() {
    let target_model = ScriptedModel::start(Flavor::OpenAi).await;
    target_model.set_default(Step::Text("never asked".into()));
    let asker_model = ScriptedModel::start(Flavor::OpenAi).await;
    asker_model.push(Step::tool_call("ask-finance-officer", serde_json::json!({"question": "Budget?"})));
    asker_model.push(Step::Echo);
    let ns = nats_fixture::unique_namespace("peers");
    let _target = harness::start(&harness::config(
        &ns,
        "finance-officer",
        vec![harness::model("t", &target_model.base_url())],
        vec![],
    ))
    .await;
    let mut asker = harness::config(
        &ns,
        "fleet-manager",
        vec![harness::model("a", &asker_model.base_url())],
        vec![harness::ask("finance-officer")],
    );
    asker.peers = vec!["sales-agent".into()];
    let asker_runner = harness::start(&asker).await;
    let nats = nats_fixture::connect().await.expect("nats");

    let reply = harness::ask_agent(&nats, &ns, "fleet-manager", "Can we repair TRK-0042?").await;

    assert_eq!(reply.error, None, "{reply:?}");
    let results = tool_results(&asker_model);
    assert_eq!(results.len(), 1, "{results:?}");
    assert!(results[0].contains("finance-officer is not among this agent's peers"), "{results:?}");
    assert_eq!(reply.tool_calls.iter().map(|c| c.ok).collect::<Vec<_>>(), [false]);
    let metrics = asker_runner.metrics().await.expect("metrics");
    assert_eq!(
        harness::metric_value(
            &metrics,
            "agentry_agent_messages_total",
            &[("peer", "finance-officer"), ("direction", "sent")]
        ),
        None,
        "nothing was sent: {metrics}"
    );
    assert_eq!(target_model.request_count(), 0, "finance-officer was never asked");
}

#[tokio::test]
async fn a_request_whose_from_lies_about_its_caller_is_refused() {
    let model = ScriptedModel::start(Flavor::OpenAi).await;
    model.set_default(Step::Echo);
    let ns = nats_fixture::unique_namespace("from");
    let _runner = harness::start(&harness::config(
        &ns,
        "finance-officer",
        vec![harness::model("m", &model.base_url())],
        vec![],
    ))
    .await;
    let nats = nats_fixture::connect().await.expect("nats");

    let lying = AgentRequest { from: Some("fleet-manager".into()), ..request("Approve 6,800 USD") };
    let reply = harness::send_as(&nats, &ns, "finance-officer", &agent("sales-agent"), &lying).await;
    let error = reply.error.expect("refused");
    assert_eq!(error.code, ErrorCode::Forbidden);
    assert_eq!(
        error.message,
        "the request says it is from \"fleet-manager\" but was sent by agent sales-agent (its subject's caller token)"
    );
    assert_eq!(reply.request_id, lying.request_id);
    assert_eq!(model.request_count(), 0, "a refused request reaches no model");

    // The truth, or no `from` at all, is answered; a platform caller's `from` names its user.
    let honest = AgentRequest { from: Some("sales-agent".into()), ..request("hi") };
    let reply = harness::send_as(&nats, &ns, "finance-officer", &agent("sales-agent"), &honest).await;
    assert_eq!(reply.error, None, "{reply:?}");
    let reply = harness::send_as(&nats, &ns, "finance-officer", &agent("sales-agent"), &request("hi")).await;
    assert_eq!(reply.error, None, "{reply:?}");
    let user = AgentRequest { from: Some("alice@example.com".into()), ..request("hi") };
    assert_eq!(harness::send(&nats, &ns, "finance-officer", &user).await.error, None);
}

#[tokio::test]
async fn a_caller_token_that_names_no_identity_is_refused() {
    let agent =
        agentry_tests::runner_fixture::OneAgent::start(harness::runner_binary(), "caller-token", |_| {})
            .await;
    let subject = format!("agentry.{}.agent.{}.query._admin", agent.ns, agent.config.agent);
    let payload = serde_json::to_vec(&request("hi")).expect("json");
    let raw = agent
        .nats
        .send_request(
            subject,
            async_nats::Request::new()
                .payload(payload.into())
                .timeout(Some(std::time::Duration::from_secs(30))),
        )
        .await
        .expect("a reply");
    let reply: agentry_protocol::AgentReply = serde_json::from_slice(&raw.payload).expect("an AgentReply");
    let error = reply.error.expect("refused");
    assert_eq!(error.code, ErrorCode::Forbidden);
    assert!(error.message.contains("\"_admin\" is no platform identity"), "{}", error.message);
    assert_eq!(agent.model.request_count(), 0);
}
