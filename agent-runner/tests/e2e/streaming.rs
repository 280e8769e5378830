//! Streamed answers (`stream: true`) from OpenAI-compatible and Anthropic models through the runner
//! binary: text reaches the stream before the reply, and the reply is the unstreamed one.

use agentry_protocol::{AgentRequest, ChatTurn, ErrorCode, StreamEventBody};
use agentry_tests::runner_fixture::OneAgent;
use agentry_tests::scripted_model::{Flavor, Step, StreamGate};
use serde_json::{Value, json};

use crate::harness::{calculator, runner_binary};
use crate::stream_probe::{assert_numbered, events_until, model_calls, next_event, send_streamed, tokens};

const ANSWER: &str = "All 120 trucks are on the road.";

fn request(input: &str) -> AgentRequest {
    AgentRequest::new(uuid::Uuid::new_v4().to_string(), input)
}

async fn text_arrives_before_the_reply_and_the_reply_is_the_unstreamed_one(flavor: Flavor) {
    let agent = OneAgent::start_speaking(runner_binary(), "stream-text", flavor, |_| {}).await;
    agent.model.set_usage(31, 9);
    agent.model.push(Step::text(ANSWER));
    let unstreamed = agent.ask("How is the fleet?").await;
    assert_eq!(unstreamed.output.as_deref(), Some(ANSWER), "{unstreamed:?}");

    let gate = StreamGate::new();
    agent.model.push(Step::held(Step::text(ANSWER), &gate));
    let asked = request("How is the fleet?");
    let mut streamed = send_streamed(&agent, asked.clone()).await;
    let first = next_event(&mut streamed.events).await;
    assert_eq!(first.body, StreamEventBody::Token { text: "All".into() });
    // The model holds back the rest of its answer until released: no reply can have come.
    assert!(!streamed.reply.is_finished(), "the reply came before the answer was complete");
    gate.release();
    let reply = streamed.reply.await.expect("the request task");
    let events = events_until(&mut streamed.events, vec![first], |e| model_calls(e) == 1).await;

    assert_eq!(tokens(&events).concat(), ANSWER);
    assert_eq!(tokens(&events).len(), ANSWER.split(' ').count(), "one event per piece: {events:?}");
    assert_eq!(
        events.last().map(|e| &e.body),
        Some(&StreamEventBody::ModelCall { model: "primary".into(), ok: true })
    );
    assert_numbered(&events, &asked.request_id);
    assert_eq!(reply.error, None, "{reply:?}");
    assert_eq!((&reply.output, &reply.model), (&unstreamed.output, &unstreamed.model));
    assert_eq!(reply.usage, unstreamed.usage, "same tokens and cost");
    assert_eq!(reply.usage.input_tokens, 31);
    assert_eq!((reply.message_count, &reply.tool_calls), (unstreamed.message_count, &unstreamed.tool_calls));
    let sent = agent.model.requests();
    assert_eq!(sent[0].get("stream"), None, "no streaming without stream: true");
    assert_eq!(sent[1]["stream"], true);
    if flavor == Flavor::OpenAi {
        assert_eq!(sent[1]["stream_options"], json!({"include_usage": true}));
    }
}

#[tokio::test]
async fn openai_text_arrives_before_the_reply_and_the_reply_is_the_unstreamed_one() {
    text_arrives_before_the_reply_and_the_reply_is_the_unstreamed_one(Flavor::OpenAi).await;
}

#[tokio::test]
async fn anthropic_text_arrives_before_the_reply_and_the_reply_is_the_unstreamed_one() {
    text_arrives_before_the_reply_and_the_reply_is_the_unstreamed_one(Flavor::Anthropic).await;
}

/// The call ids and arguments the model's second request carries back, per provider.
fn call_echoed(flavor: Flavor, second: &Value) -> (Value, Value, Value) {
    let messages = &second["messages"];
    match flavor {
        Flavor::OpenAi => (
            messages[2]["tool_calls"][0]["id"].clone(),
            messages[3]["tool_call_id"].clone(),
            serde_json::from_str(
                messages[2]["tool_calls"][0]["function"]["arguments"].as_str().unwrap_or("null"),
            )
            .unwrap_or(Value::Null),
        ),
        Flavor::Anthropic => (
            messages[1]["content"][0]["id"].clone(),
            messages[2]["content"][0]["tool_use_id"].clone(),
            messages[1]["content"][0]["input"].clone(),
        ),
    }
}

async fn a_streamed_tool_call_is_put_together_and_run(flavor: Flavor) {
    let agent =
        OneAgent::start_speaking(runner_binary(), "stream-tool", flavor, |c| c.tools = vec![calculator()])
            .await;
    agent.model.push(Step::tool_call("calculator", json!({"expression": "6*7"})));
    agent.model.push(Step::Echo);
    let asked = request("What is six times seven?");
    let mut streamed = send_streamed(&agent, asked.clone()).await;
    let reply = streamed.reply.await.expect("the request task");
    let events = events_until(&mut streamed.events, vec![], |e| model_calls(e) == 2).await;

    assert_eq!(reply.error, None, "{reply:?}");
    assert_eq!(reply.output.as_deref(), Some("echo: 42"));
    let calls: Vec<_> = reply.tool_calls.iter().map(|c| (c.name.as_str(), c.ok)).collect();
    assert_eq!(calls, [("calculator", true)]);
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| match &e.body {
            StreamEventBody::Token { .. } => "token",
            StreamEventBody::ToolCall { name, ok: true, .. } if name == "calculator" => "calculator",
            StreamEventBody::ToolCall { .. } => "other tool call",
            StreamEventBody::ModelCall { ok: true, .. } => "model",
            StreamEventBody::ModelCall { .. } => "failed model",
        })
        .collect();
    assert_eq!(kinds, ["model", "calculator", "token", "token", "model"], "{events:?}");
    assert_eq!(tokens(&events).concat(), "echo: 42");
    assert_numbered(&events, &asked.request_id);
    let (call_id, result_id, arguments) = call_echoed(flavor, &agent.model.requests()[1]);
    assert!(call_id.as_str().is_some_and(|id| !id.is_empty()), "{call_id}");
    assert_eq!(call_id, result_id, "the result answers the call the stream announced");
    assert_eq!(arguments, json!({"expression": "6*7"}), "arguments put together from their fragments");
}

#[tokio::test]
async fn openai_a_streamed_tool_call_is_put_together_and_run() {
    a_streamed_tool_call_is_put_together_and_run(Flavor::OpenAi).await;
}

#[tokio::test]
async fn anthropic_a_streamed_tool_call_is_put_together_and_run() {
    a_streamed_tool_call_is_put_together_and_run(Flavor::Anthropic).await;
}

async fn history_reaches_the_model_in_order(flavor: Flavor) {
    let agent = OneAgent::start_speaking(runner_binary(), "history", flavor, |_| {}).await;
    let asked = AgentRequest {
        history: vec![ChatTurn::user("Which trucks are due?"), ChatTurn::assistant("TRK-0042 and TRK-0107.")],
        ..request("Which first?")
    };
    let reply = agent.send(&asked).await;

    assert_eq!(reply.output.as_deref(), Some("echo: Which first?"), "{reply:?}");
    assert_eq!(reply.message_count, 2, "history is read, not counted");
    let sent = &agent.model.requests()[0];
    let turns: Vec<(String, String)> = sent["messages"]
        .as_array()
        .expect("messages")
        .iter()
        .map(|m| {
            let content = match &m["content"] {
                Value::String(text) => text.clone(),
                blocks => blocks[0]["text"].as_str().unwrap_or_default().to_string(),
            };
            (m["role"].as_str().unwrap_or_default().to_string(), content)
        })
        .collect();
    let mut expected = vec![
        ("user", "Which trucks are due?"),
        ("assistant", "TRK-0042 and TRK-0107."),
        ("user", "Which first?"),
    ];
    match flavor {
        Flavor::OpenAi => expected.insert(0, ("system", "You are worker.")),
        Flavor::Anthropic => assert_eq!(sent["system"], "You are worker."),
    }
    let expected: Vec<(String, String)> = expected.into_iter().map(|(r, c)| (r.into(), c.into())).collect();
    assert_eq!(turns, expected, "{sent}");
}

#[tokio::test]
async fn openai_history_reaches_the_model_in_order() {
    history_reaches_the_model_in_order(Flavor::OpenAi).await;
}

#[tokio::test]
async fn anthropic_history_reaches_the_model_in_order() {
    history_reaches_the_model_in_order(Flavor::Anthropic).await;
}

#[tokio::test]
async fn a_history_too_long_is_refused() {
    let agent = OneAgent::start(runner_binary(), "stream-refused", |_| {}).await;
    let history = vec![ChatTurn::user("again"); agentry_protocol::MAX_HISTORY_TURNS + 1];
    let reply = agent.send(&AgentRequest { history, ..request("hi") }).await;
    let error = reply.error.expect("refused");
    assert_eq!(error.code, ErrorCode::BadRequest);
    assert!(error.message.starts_with("history holds 201 turns"), "{}", error.message);
    assert_eq!(agent.model.request_count(), 0, "refused requests reach no model");
}
