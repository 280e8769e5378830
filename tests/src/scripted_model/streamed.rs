//! Streamed answers (requests with `"stream": true`): SSE frames written one by one over a
//! chunked body, optionally held back at a [`StreamGate`] or cut off mid-way.

use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use tokio::sync::{Notify, mpsc};

/// Holds a streamed answer after its first piece of content (its first text or tool-call
/// fragment) until the test calls [`release`](Self::release): the test can see that piece reach
/// the caller while the rest of the answer has not been sent. Clones share one gate.
#[derive(Clone, Debug, Default)]
pub struct StreamGate(Arc<Notify>);

impl StreamGate {
    /// A closed gate.
    pub fn new() -> Self {
        Self::default()
    }

    /// Lets the held answer go on (also when it has not reached the gate yet).
    pub fn release(&self) {
        self.0.notify_one();
    }

    pub(super) async fn wait(&self) {
        self.0.notified().await;
    }
}

impl PartialEq for StreamGate {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// What part of an answer a frame is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    /// Before the content, or between content blocks.
    Start,
    /// A piece of text or of a tool call.
    Content,
    /// What completes the answer: finish reason, usage, end marker.
    End,
}

/// One SSE event, as written.
#[derive(Clone, Debug)]
pub(super) struct Frame {
    text: String,
    part: Part,
}

impl Frame {
    pub(super) fn start(text: String) -> Self {
        Self { text, part: Part::Start }
    }

    pub(super) fn content(text: String) -> Self {
        Self { text, part: Part::Content }
    }

    pub(super) fn end(text: String) -> Self {
        Self { text, part: Part::End }
    }
}

/// `text` in two pieces (split at a character boundary), as tool arguments stream.
pub(super) fn halves(text: &str) -> [String; 2] {
    let middle = text.char_indices().nth(text.chars().count() / 2).map_or(text.len(), |(i, _)| i);
    [text[..middle].to_string(), text[middle..].to_string()]
}

/// Text in the pieces a model streams it in: words, each but the first with its leading space.
pub(super) fn pieces(text: &str) -> Vec<String> {
    let mut pieces = Vec::new();
    for (i, word) in text.split(' ').enumerate() {
        pieces.push(if i == 0 { word.to_string() } else { format!(" {word}") });
    }
    pieces.retain(|piece| !piece.is_empty());
    pieces
}

/// How a stream ends.
pub(super) enum Ending {
    /// All frames, then the body ends properly.
    Complete,
    /// The frames before the answer's end, then the connection breaks.
    Cut,
}

/// A `text/event-stream` response writing `frames` one by one. With a `gate`, a complete stream
/// waits at it after its first content frame; a cut one sends its frames, then waits at it
/// before breaking the connection (so the test can see the frames arrive first: a connection
/// broken at once may lose data still buffered).
pub(super) fn respond(frames: Vec<Frame>, gate: Option<StreamGate>, ending: Ending) -> Response {
    let (sender, receiver) = mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    let cut = matches!(ending, Ending::Cut);
    tokio::spawn(async move {
        let mut gate = gate;
        for frame in frames {
            if cut && frame.part == Part::End {
                break;
            }
            let content = frame.part == Part::Content;
            if sender.send(Ok(Bytes::from(frame.text))).await.is_err() {
                return;
            }
            if let Some(gate) = gate.take_if(|_| content && !cut) {
                gate.wait().await;
            }
        }
        if cut {
            if let Some(gate) = gate {
                gate.wait().await;
            }
            // An error in the body makes the server drop the connection mid-response.
            let _ = sender.send(Err(std::io::Error::other("scripted cut"))).await;
        }
    });
    let body = futures::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|item| (item, receiver))
    });
    let content_type = HeaderValue::from_static("text/event-stream");
    (StatusCode::OK, [(header::CONTENT_TYPE, content_type)], Body::from_stream(body)).into_response()
}

/// A stream whose first event is not JSON.
pub(super) fn malformed() -> Response {
    respond(vec![Frame::end("data: {\"choices\": [{\"delta\": \n\n".into())], None, Ending::Complete)
}

#[cfg(test)]
mod tests {
    use serde_json::{Value, json};

    use crate::scripted_model::{Flavor, ScriptedModel, Step, StreamGate};

    async fn stream(model: &ScriptedModel) -> reqwest::Response {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let url = match model.flavor() {
            Flavor::OpenAi => format!("{}/chat/completions", model.base_url()),
            Flavor::Anthropic => format!("{}/v1/messages", model.base_url()),
        };
        let body = json!({"model": "m", "stream": true, "messages": [{"role": "user", "content": "hi"}]});
        reqwest::Client::new().post(url).json(&body).send().await.expect("request")
    }

    /// The `data:` payloads of an SSE body.
    fn data(body: &str) -> Vec<String> {
        body.lines().filter_map(|line| line.strip_prefix("data: ")).map(str::to_string).collect()
    }

    #[tokio::test]
    async fn a_held_openai_stream_sends_its_first_piece_then_waits_for_the_gate() {
        let model = ScriptedModel::start(Flavor::OpenAi).await;
        let gate = StreamGate::new();
        model.push(Step::held(Step::text("one two"), &gate));
        let mut response = stream(&model).await;
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        let mut head = String::new();
        while !head.contains("\"one\"") {
            let chunk = response.chunk().await.expect("a chunk").expect("not the end yet");
            head.push_str(&String::from_utf8_lossy(&chunk));
        }
        assert!(!head.contains("two"), "{head}");
        gate.release();
        let rest = response.text().await.expect("the rest");
        let events = data(&(head + &rest));
        assert_eq!(events.last().map(String::as_str), Some("[DONE]"));
        let usage: Value = serde_json::from_str(&events[events.len() - 2]).expect("usage chunk");
        assert_eq!(usage["usage"]["prompt_tokens"], 10);
    }

    #[tokio::test]
    async fn an_anthropic_stream_ends_with_message_stop_and_a_cut_one_breaks() {
        let model = ScriptedModel::start(Flavor::Anthropic).await;
        model.push(Step::tool_call("calc", json!({"e": "1+1"})));
        model.push(Step::CutStream(vec!["par".into()]));
        let events = data(&stream(&model).await.text().await.expect("body"));
        let types: Vec<String> = events
            .iter()
            .map(|e| {
                serde_json::from_str::<Value>(e).expect("json")["type"].as_str().unwrap_or("").to_string()
            })
            .collect();
        assert_eq!(types.first().map(String::as_str), Some("message_start"));
        assert_eq!(types.last().map(String::as_str), Some("message_stop"));
        let json: String = events
            .iter()
            .filter_map(|e| serde_json::from_str::<Value>(e).ok())
            .filter_map(|e| e["delta"]["partial_json"].as_str().map(str::to_string))
            .collect();
        assert_eq!(json, r#"{"e":"1+1"}"#);
        assert!(stream(&model).await.text().await.is_err(), "a cut stream is a broken body");
    }
}
