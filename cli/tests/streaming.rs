//! `agentry ask --stream` against a scripted API on 127.0.0.1 (`--api-url`): Server-Sent Events
//! read as they arrive, tokens printed before the stream goes on, calls on stderr, and how a
//! stream ends (reply, error item, or cut short).

mod fixture;

use std::time::Duration;

use agentry_api_contract::invoke::{InvokeResponse, StreamItem};
use axum::body::Bytes;
use fixture::{FakeApi, Home, Reply, agentry, agentry_run};
use serde_json::json;
use tokio::io::AsyncReadExt;

fn token_user() -> String {
    "    token: tok-1".into()
}

fn invoke_response(output: &str) -> serde_json::Value {
    json!({"requestId": "r-1", "output": output, "model": "gpt-4o",
           "usage": {"inputTokens": 10, "outputTokens": 5, "costUsd": 0.001}, "toolCalls": [], "messageCount": 2})
}

/// `item` as one Server-Sent Event, the way the API writes it.
fn event(item: &StreamItem) -> Bytes {
    Bytes::from(format!("event: {}\ndata: {}\n\n", item.event_name(), serde_json::to_string(item).unwrap()))
}

#[tokio::test]
async fn ask_stream_prints_each_token_as_it_arrives_and_calls_on_stderr() {
    let api = FakeApi::start().await;
    let home = Home::new("https://unused.invalid", "fleet", &token_user());
    let (chunks, stream) = tokio::sync::mpsc::unbounded_channel();
    api.on("POST", "/api/v1/namespaces/fleet/agents/analyst/invoke/stream", Reply::Stream(stream));

    let mut child =
        agentry(&home, &["--api-url", &api.url, "ask", "analyst", "Hi", "--stream"]).spawn().unwrap();
    let mut stdout = child.stdout.take().unwrap();
    // The first token, its event split across two writes, with a comment before it.
    chunks.send(Bytes::from(": keep-alive\n\nevent: token\ndata: {\"type\":\"token\",")).unwrap();
    chunks.send(Bytes::from("\"text\":\"Hel\"}\n\n")).unwrap();
    let mut printed = Vec::new();
    let mut buffer = [0u8; 64];
    while !printed.ends_with(b"Hel") {
        let read = tokio::time::timeout(Duration::from_secs(20), stdout.read(&mut buffer))
            .await
            .expect("the first token is printed before the stream goes on")
            .unwrap();
        assert!(read > 0, "stdout closed early: {}", String::from_utf8_lossy(&printed));
        printed.extend_from_slice(&buffer[..read]);
    }
    // The rest as the server's own type writes it, CRLF line ends for the tool call.
    let tool_call = StreamItem::ToolCall { name: "sql".into(), ok: true, duration_ms: 12 };
    let tool_call = serde_json::to_string(&tool_call).unwrap();
    chunks.send(Bytes::from(format!("event: toolCall\r\ndata: {tool_call}\r\n\r\n"))).unwrap();
    chunks.send(event(&StreamItem::Token { text: "lo!".into() })).unwrap();
    chunks.send(event(&StreamItem::ModelCall { model: "gpt-4o".into(), ok: true })).unwrap();
    let reply: InvokeResponse = serde_json::from_value(invoke_response("Hello!")).unwrap();
    chunks.send(event(&StreamItem::Reply(reply))).unwrap();
    drop(chunks);
    let mut rest = String::new();
    stdout.read_to_string(&mut rest).await.unwrap();
    let output =
        tokio::time::timeout(Duration::from_secs(20), child.wait_with_output()).await.unwrap().unwrap();

    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(
        format!("{}{rest}", String::from_utf8_lossy(&printed)),
        "Hello!\n",
        "tokens once, then a newline"
    );
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(stderr, "[tool sql ok in 12ms]\n[model gpt-4o answered]\n");
    let seen = &api.seen()[0];
    assert_eq!(seen.header("accept"), Some("text/event-stream"));
    assert_eq!(seen.json()["input"], "Hi");
}

#[tokio::test]
async fn an_error_item_ends_the_stream_with_exit_code_1() {
    let api = FakeApi::start().await;
    let home = Home::new("https://unused.invalid", "fleet", &token_user());
    let (chunks, stream) = tokio::sync::mpsc::unbounded_channel();
    api.on("POST", "/api/v1/namespaces/fleet/agents/analyst/invoke/stream", Reply::Stream(stream));
    chunks.send(event(&StreamItem::Token { text: "Partial".into() })).unwrap();
    chunks
        .send(Bytes::from(
            "event: error\ndata: {\"type\":\"error\",\"code\":\"agent_error\",\"message\":\"budget_exceeded: spent $0.51 of $0.50\"}\n\n",
        ))
        .unwrap();

    let run = agentry_run(&home, &["--api-url", &api.url, "ask", "analyst", "Hi", "--stream"]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(run.stdout, "Partial\n");
    assert_eq!(run.stderr, "error: budget_exceeded: spent $0.51 of $0.50\n");
    drop(chunks);
}

#[tokio::test]
async fn a_stream_that_ends_without_a_reply_is_an_error() {
    let api = FakeApi::start().await;
    let home = Home::new("https://unused.invalid", "fleet", &token_user());
    let (chunks, stream) = tokio::sync::mpsc::unbounded_channel();
    api.on("POST", "/api/v1/namespaces/fleet/agents/analyst/invoke/stream", Reply::Stream(stream));
    chunks.send(event(&StreamItem::Token { text: "Hal".into() })).unwrap();
    drop(chunks);

    let run = agentry_run(&home, &["--api-url", &api.url, "ask", "analyst", "Hi", "--stream"]).await;
    assert_eq!(run.code, Some(1), "{run:?}");
    assert_eq!(run.stdout, "Hal\n");
    assert_eq!(run.stderr, "error: the stream ended before the agent's reply\n");
}
