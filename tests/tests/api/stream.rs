//! `POST …/agents/{name}/invoke/stream`: model tokens reach the caller as Server-Sent Events
//! while the model is still answering, and the stream ends with the reply.

use agentry_api_contract::paths;
use agentry_tests::api_world::{ADMIN_TOKEN, ApiWorld};
use agentry_tests::scripted_model::{Step, StreamGate};
use serde_json::{Value, json};

use crate::binaries;

/// The SSE events complete in `buffer` (`event:` name and parsed `data:`), removed from it.
fn take_events(buffer: &mut String) -> Vec<(String, Value)> {
    let mut events = Vec::new();
    while let Some(end) = buffer.find("\n\n") {
        let block: String = buffer.drain(..end + 2).collect();
        let field =
            |name: &str| block.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().to_owned());
        if let (Some(event), Some(data)) = (field("event:"), field("data:")) {
            events.push((event, serde_json::from_str(&data).unwrap_or(Value::Null)));
        }
    }
    events
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_arrive_before_the_reply() {
    let world = ApiWorld::start(binaries().await, "api-stream", |_| {}).await;
    let gate = StreamGate::new();
    world.agent.model.push(Step::held(Step::text("Streams arrive piece by piece"), &gate));
    let url = world.url(&paths::fill(paths::AGENT_INVOKE_STREAM, &[world.ns(), "worker"]));
    let mut response = world
        .http
        .post(url)
        .bearer_auth(ADMIN_TOKEN)
        .json(&json!({"input": "stream please"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap_or_default().starts_with("text/event-stream"));

    // The model holds the rest of its answer: the first token must arrive without it.
    let mut buffer = String::new();
    let mut seen = Vec::new();
    while !seen.iter().any(|(event, _): &(String, Value)| event == "token") {
        let chunk = response.chunk().await.expect("reading").expect("the stream ended before a token");
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        seen.extend(take_events(&mut buffer));
    }
    assert!(
        !seen.iter().any(|(event, _)| event == "reply"),
        "the reply came before the model finished: {seen:?}"
    );
    gate.release();
    while let Some(chunk) = response.chunk().await.expect("reading") {
        buffer.push_str(&String::from_utf8_lossy(&chunk));
        seen.extend(take_events(&mut buffer));
    }
    let (last, reply) = seen.last().cloned().expect("events");
    assert_eq!(last, "reply", "{seen:?}");
    assert_eq!(reply["output"], "Streams arrive piece by piece");
    let tokens: String =
        seen.iter().filter(|(e, _)| e == "token").filter_map(|(_, d)| d["text"].as_str()).collect();
    assert_eq!(tokens, "Streams arrive piece by piece", "{seen:?}");
    assert!(seen.iter().any(|(e, d)| e == "modelCall" && d["ok"] == true), "{seen:?}");
    world.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bad_stream_request_is_refused_before_any_event() {
    let world = ApiWorld::start(binaries().await, "api-stream-bad", |_| {}).await;
    let path = paths::fill(paths::AGENT_INVOKE_STREAM, &[world.ns(), "worker"]);
    let (status, error) = world.post(&path, &json!({"input": "x", "timeoutSeconds": 9999})).await;
    assert_eq!((status, error["field"].as_str()), (400, Some("timeoutSeconds")), "{error}");
    // An agent with no replica: the stream carries the error as its one event; 404 when there
    // is no such Agent at all.
    world.add_agent("idle", &[], 0).await;
    for (agent, code) in [("idle", "unavailable"), ("absent", "not_found")] {
        let url = world.url(&paths::fill(paths::AGENT_INVOKE_STREAM, &[world.ns(), agent]));
        let body = world
            .http
            .post(url)
            .bearer_auth(ADMIN_TOKEN)
            .json(&json!({"input": "hi", "timeoutSeconds": 5}))
            .send()
            .await
            .expect("sent");
        let mut text = body.text().await.expect("body");
        let events = take_events(&mut text);
        assert_eq!(events.len(), 1, "{agent}: {events:?}");
        assert_eq!((events[0].0.as_str(), events[0].1["code"].as_str()), ("error", Some(code)), "{events:?}");
    }
    world.stop().await;
}
