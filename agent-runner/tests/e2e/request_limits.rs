//! A request's own `limits` (a Session's): its budget and its number of messages, and the
//! `messageCount` every reply carries.

use agentry_protocol::{AgentRequest, ErrorCode, RequestLimits};
use agentry_tests::runner_fixture::OneAgent;
use agentry_tests::scripted_model::Step;

use crate::harness;

fn calculation(expression: &str) -> Step {
    Step::tool_call("calculator", serde_json::json!({ "expression": expression }))
}

fn limited(input: &str, limits: RequestLimits) -> AgentRequest {
    AgentRequest { limits: Some(limits), ..AgentRequest::new(uuid::Uuid::new_v4().to_string(), input) }
}

#[tokio::test]
async fn a_request_budget_ends_that_request_once_its_own_spend_reaches_it() {
    let agent = OneAgent::start(harness::runner_binary(), "request-budget", |config| {
        config.tools.push(harness::calculator());
    })
    .await;
    // One million input tokens at 1 USD per million: every model call costs exactly 1 USD.
    agent.model.set_usage(1_000_000, 0);
    agent.model.extend([calculation("6*7"), calculation("42*2")]);
    agent.model.set_default(Step::text("done"));

    // Turn 1 starts at 0 USD, turn 2 at 1 USD (under 1.5), turn 3 at 2 USD: refused.
    let budget = RequestLimits { budget_usd: Some(1.5), max_messages: None };
    let reply = agent.send(&limited("Work it out", budget)).await;
    let error = reply.error.as_ref().expect("an error reply");
    assert_eq!(error.code, ErrorCode::BudgetExceeded, "{reply:?}");
    assert_eq!(error.message, "the request's budget of 1.5 USD (limits.budgetUsd) is spent (2.0000 USD)");
    assert_eq!(reply.usage.cost_usd, 2.0);
    assert_eq!(reply.message_count, 5, "input, two model turns, two tool results");
    assert_eq!(agent.model.request_count(), 2, "the third turn never reached the model");

    // The request's budget is its own: the next request, without one, is answered.
    let reply = agent.ask("Anything else?").await;
    assert_eq!(reply.output.as_deref(), Some("done"), "{reply:?}");
    assert_eq!(reply.message_count, 2, "input and answer");
}

#[tokio::test]
async fn max_messages_ends_a_request_whose_next_step_would_not_fit() {
    let agent = OneAgent::start(harness::runner_binary(), "max-messages", |config| {
        config.tools.push(harness::calculator());
    })
    .await;
    let four = RequestLimits { budget_usd: None, max_messages: Some(4) };

    // Input, a turn asking for a tool, its result, the answer: exactly four messages.
    agent.model.extend([calculation("6*7"), Step::text("42")]);
    let reply = agent.send(&limited("What is six times seven?", four)).await;
    assert_eq!(reply.output.as_deref(), Some("42"), "{reply:?}");
    assert_eq!(reply.message_count, 4);

    // A second tool turn would need its result and one more turn: six messages, over four.
    agent.model.extend([calculation("6*7"), calculation("42*2"), Step::text("never asked for")]);
    let reply = agent.send(&limited("And twice that?", four)).await;
    let error = reply.error.as_ref().expect("an error reply");
    assert_eq!(error.code, ErrorCode::MaxMessages, "{reply:?}");
    assert_eq!(
        error.message,
        "no answer within the request's limit of 4 messages (limits.maxMessages): the conversation holds \
         4 and its next step needs 2 more"
    );
    assert_eq!(reply.message_count, 4);
    let calls: Vec<_> = reply.tool_calls.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(calls, ["calculator"], "the tool of the turn that did not fit was not called");
    assert_eq!(agent.model.request_count(), 4);

    // A limit of one message leaves no room for a model turn at all.
    let one = RequestLimits { budget_usd: None, max_messages: Some(1) };
    let reply = agent.send(&limited("Hello?", one)).await;
    assert_eq!(reply.error.as_ref().map(|e| e.code), Some(ErrorCode::MaxMessages), "{reply:?}");
    assert_eq!(reply.message_count, 1);
    assert_eq!(agent.model.request_count(), 4, "no model call was made");

    let metrics = agent.runner.metrics().await.expect("metrics");
    assert_eq!(
        harness::metric_value(&metrics, "agentry_agent_requests_total", &[("outcome", "max_messages")]),
        Some(2.0),
        "{metrics}"
    );
}
